//! Would HVPs issued in blocks run faster (issue 7)? A block eigen solver could apply the Hessian
//! to b vectors at once, so that each of the MLP's products gains b× rows (the tangents W·ṫ_j
//! stacked) or b× columns (the products Ẇ_j·a and aᵀ·δ̇_j side by side). This times faer's
//! row-major f64 product of the per-shard shapes of the hidden layers' forward and weight-gradient
//! products (tiny 100 rows, medium 250, large 500: two data shards; not the output layer's, the
//! first layer's weight gradient or the backward δ·Wᵀ) at b = 1 and stacked b = 2, 4 either way,
//! one thread, and prints the
//! time per vector: a block pays only where it is clearly below b = 1's. Median of 7 batches of
//! ≈ 50 ms, wall clock; meaningful only on a quiet machine.
//!
//! `cargo run --release --example diag_batch`
#![allow(clippy::disallowed_methods)] // test code may use std's libm (clippy.toml: library code may not)
use faer::{Accum, MatMut, MatRef, Par};
use std::time::Instant;

fn mm(c: &mut [f64], a: &[f64], b: &[f64], (m, k, n): (usize, usize, usize)) {
    let lhs = MatRef::from_row_major_slice(a, m, k);
    let rhs = MatRef::from_row_major_slice(b, k, n);
    let dst = MatMut::from_row_major_slice_mut(c, m, n);
    faer::linalg::matmul::matmul(dst, Accum::Replace, lhs, rhs, 1.0, Par::Seq);
}

/// Median over 7 batches of the wall time of one call, µs.
fn time(mut f: impl FnMut()) -> f64 {
    let mut batches = vec![];
    for _ in 0..7 {
        let t = Instant::now();
        let mut it = 0;
        while t.elapsed().as_secs_f64() < 0.05 {
            f();
            it += 1;
        }
        batches.push(t.elapsed().as_secs_f64() / it as f64 * 1e6);
    }
    batches.sort_by(f64::total_cmp);
    batches[3]
}

fn main() {
    // (m, k, n) per shard: forward/tangent shapes rows × in × out, weight-gradient shapes in × rows × out.
    let shapes = [
        ("tiny", (100, 64, 32)),
        ("tiny", (100, 32, 32)),
        ("tiny", (32, 100, 32)),
        ("medium", (250, 64, 64)),
        ("medium", (64, 250, 64)),
        ("large", (500, 64, 128)),
        ("large", (500, 128, 128)),
        ("large", (128, 500, 128)),
    ];
    println!("| config | shape | b = 1 µs (GFLOP/s) | per vector, rows ×2 | rows ×4 | cols ×2 | cols ×4 |");
    println!("|---|---|---|---|---|---|---|");
    for (cfg, (m, k, n)) in shapes {
        let mut cells = vec![];
        let mut base = 0.0;
        for (bm, bn) in [(1, 1), (2, 1), (4, 1), (1, 2), (1, 4)] {
            let (rows, cols) = (m * bm, n * bn);
            let a: Vec<f64> = (0..rows * k).map(|i| (i as f64 * 0.37).sin()).collect();
            let b: Vec<f64> = (0..k * cols).map(|i| (i as f64 * 0.11).cos()).collect();
            let mut c = vec![0.0; rows * cols];
            let t = time(|| mm(&mut c, &a, &b, (rows, k, cols)));
            let per = t / (bm * bn) as f64;
            if bm * bn == 1 {
                base = per;
                cells.push(format!("{t:.1} ({:.1})", 2.0 * (m * k * n) as f64 / t / 1e3));
            } else {
                cells.push(format!("{per:.1} ({:.2}×)", per / base));
            }
        }
        println!("| {cfg} | {m}×{k}×{n} | {} |", cells.join(" | "));
    }
}
