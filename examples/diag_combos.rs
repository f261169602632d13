//! The eigen solver's linear combinations (issue 7): y = Σ_j s_j v_j over m vectors of length p
//! (the medium configuration's p = 13,130 and a typical basis size), block by block, as successive
//! axpy passes over an L1-resident block (`axpy_in` per vector, the current `ritz_residual` /
//! `add_combination` loop) against one pass per block with the sum over j kept in registers, four
//! vectors at a time (`linalg::combine_in`; the same operations per entry in the same order, so the
//! same bits). Wall clock per call, median of 15 batches of each, alternating, and the bytes read
//! per second.
//!
//! `cargo run --release --example diag_combos -- [p] [m]`
use selfstab::linalg::{axpy_in, combine_in, simd};
use std::hint::black_box;

#[path = "support/median.rs"]
mod median;
use median::paired_median_us;

/// Entries per block (as the solver's passes).
const BLOCK: usize = 512;

/// y = Σ_j s_j v_j block by block: each block zeroed, then combined by `combine(lo, block)`, the
/// whole pass through `simd` (an `#[inline(always)]` closure is compiled for the CPU's SIMD width).
#[inline(always)]
fn blocked(y: &mut [f64], combine: impl Fn(usize, &mut [f64])) {
    let p = y.len();
    simd(
        #[inline(always)]
        || {
            for lo in (0..p).step_by(BLOCK) {
                let yb = &mut y[lo..(lo + BLOCK).min(p)];
                yb.iter_mut().for_each(|v| *v = 0.0);
                combine(lo, yb);
            }
        },
    );
}

fn main() {
    let p: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(13_130);
    let m: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(20);
    let vs: Vec<Vec<f64>> = (0..m).map(|j| (0..p).map(|i| ((i * 7 + j * 13) % 101) as f64 / 101.0 - 0.5).collect()).collect();
    let s: Vec<f64> = (0..m).map(|j| 1.0 / (j as f64 + 1.5)).collect();
    let gb = |us: f64| m as f64 * p as f64 * 8.0 / us / 1e3;
    let refs: Vec<&[f64]> = vs.iter().map(Vec::as_slice).collect();
    let (mut y1, mut y2) = (vec![0.0; p], vec![0.0; p]);
    let (passes, fused) = paired_median_us(
        100,
        || {
            blocked(&mut y1, #[inline(always)] |lo, yb| {
                let n = yb.len();
                for (sj, vj) in s.iter().zip(&vs) {
                    axpy_in(sj, &vj[lo..lo + n], yb);
                }
            });
            black_box(&y1);
        },
        || {
            blocked(&mut y2, #[inline(always)] |lo, yb| combine_in(&s, &refs, lo, yb));
            black_box(&y2);
        },
    );
    let same = y1.iter().zip(&y2).all(|(a, b)| a.to_bits() == b.to_bits());
    println!("p {p}, m {m}: axpy passes {passes:.1} µs ({:.1} GB/s), register sums {fused:.1} µs ({:.1} GB/s), same bits: {same}", gb(passes), gb(fused));
}
