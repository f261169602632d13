//! What a feature-major layout of the MLP's activations and adjoints would save (issue 7): faer's
//! products of one loss+gradient, HVP and ∇S ([`cpu::FaerProducts`]: as the MLP issues them,
//! sample-major, X, Z, A, D stored [n, width] row-major, per data shard) against the same products
//! with every [n, width] block stored transposed ([width, n] row-major, the sample index
//! contiguous), one thread. Only the products differ between the layouts (the elementwise passes
//! touch the same entries), so their time bounds what the layout change can gain. Then each product
//! kind layer by layer on one shard's rows. Wall clock, paired medians (`support/median.rs`): the
//! two layouts' batches alternate.
//!
//! Products per layer (in → out):
//! - sample-major: forward Z = A·Wᵀ, weight gradient G = Dᵀ·A (the reduction index n strided in
//!   both operands), backprop ∂A = D·W;
//! - feature-major: forward Zᵀ = W·Aᵀ, weight gradient G = Dᵀ·A from Dᵀ and Aᵀ (n contiguous in
//!   both), backprop ∂Aᵀ = Wᵀ·Dᵀ.
//!
//! Measured 2026-12-04 (benches/RESULTS.md, "a feature-major layout measured"): −3 % to +3.5 % on
//! the whole products; the weight gradients gain 20–28 %, the backprop products lose 15–20 %.
//!
//! `cargo run --release --example diag_layout -- [tiny|medium|large|xl]`
#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/median.rs"]
mod median;

use cpu::{FaerProducts, LayerBufs, Primitive, Product};

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "large".into());
    let (widths, n): (&[usize], usize) = match which.as_str() {
        "tiny" => (&[64, 32, 32, 32, 10], 200),
        "medium" => (&[64, 64, 64, 64, 10], 500),
        "large" => (&[64, 128, 128, 10], 1000),
        "xl" => (&[64, 256, 256, 256, 10], 1797),
        other => {
            eprintln!("error: unknown configuration {other:?} (tiny, medium, large, xl)");
            std::process::exit(2);
        }
    };
    selfstab::linalg::set_threads(1);
    let half = n >= selfstab::models::mlp::SHARD_MIN_ROWS;
    println!("{which}: layers {widths:?}, n = {n}{}, one thread, products only (µs, paired medians)", if half { " as two shards" } else { "" });
    println!("| evaluation | MFLOP | sample-major | feature-major | ratio | GFLOP/s (sample / feature) |");
    println!("|---|---|---|---|---|---|");
    for (name, what) in [("loss+gradient", Primitive::LossGrad), ("HVP", Primitive::Hvp), ("∇S", Primitive::GradS)] {
        let flops = what.flops(widths, n);
        let (mut sm, mut fm) = (FaerProducts::new(widths, n, what, false), FaerProducts::new(widths, n, what, true));
        let calls = (2e8 / flops).ceil().max(1.0) as usize;
        let (a, b) = median::paired_median_us(calls, || sm.run(), || fm.run());
        println!("| {name} | {:.1} | {a:.0} | {b:.0} | {:.3} | {:.1} / {:.1} |", flops * 1e-6, b / a, flops / a * 1e-3, flops / b * 1e-3);
    }
    // Per product kind, layer by layer, on one shard's rows.
    let m = if half { n / 2 } else { n };
    println!("\nper product on {m} rows: µs sample-major / feature-major");
    for (l, w) in widths.windows(2).enumerate() {
        let (i, o) = (w[0], w[1]);
        let (mut sm, mut fm) = (LayerBufs::new((i, o, m), l), LayerBufs::new((i, o, m), l));
        let calls = (2e7 / (2.0 * (m * i * o) as f64)).ceil() as usize;
        let [fwd, wg, bp] = [Product::Forward, Product::WeightGrad, Product::Backprop]
            .map(|p| median::paired_median_us(calls, || sm.issue(p, false, false), || fm.issue(p, true, false)));
        println!(
            "  layer {} ({i} → {o}): forward {:.1} / {:.1}, weight gradient {:.1} / {:.1}, backprop {:.1} / {:.1}",
            l + 1,
            fwd.0,
            fwd.1,
            wg.0,
            wg.1,
            bp.0,
            bp.1
        );
    }
}
