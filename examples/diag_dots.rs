//! The eigen solver's dot products (issue 7): 15 dot products of length 13,130 (the medium
//! configuration's p, a typical basis size of its θ† solves) one chain each in index order
//! (`linalg::dots_acc`, the order of `dot` and of MPFR) against the eight-lane sums that f64
//! `linalg::dots` uses from `DOT_LANES_MIN` entries on; wall clock per call, median of 7 batches,
//! with the bytes read per second. Run on a quiet machine.
//!
//! `cargo run --release --example diag_dots -- [p] [count]`
use selfstab::linalg::{dots, dots_acc};
use std::hint::black_box;

#[path = "support/median.rs"]
mod median;
use median::median_us;

fn main() {
    let p: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(13_130);
    let m: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(15);
    let vs: Vec<Vec<f64>> = (0..m).map(|j| (0..p).map(|i| ((i * 7 + j * 13) % 101) as f64 / 101.0 - 0.5).collect()).collect();
    let x: Vec<f64> = (0..p).map(|i| (i % 17) as f64 - 8.0).collect();
    let refs: Vec<&[f64]> = vs.iter().map(Vec::as_slice).collect();
    let gb = |us: f64| (m + 1) as f64 * p as f64 * 8.0 / us / 1e3;
    let chains = median_us(500, || {
        let mut acc = vec![0.0; m];
        dots_acc(&mut acc, black_box(&x), black_box(&refs));
        black_box(acc);
    });
    let lanes = median_us(500, || {
        black_box(dots(black_box(&x), black_box(&refs)));
    });
    println!("{m} dots of length {p}: one chain each {chains:.1} µs ({:.1} GB/s); eight lanes {lanes:.1} µs ({:.1} GB/s)", gb(chains), gb(lanes));
}
