//! Cost of splitting one product over two threads (issue 7): faer's row-major f64 product of the
//! MLP shapes on one thread, split by faer itself (`Par::rayon(2)`), and split by hand into two
//! row halves run by `rayon::join` (the bits are the same all three ways: each output entry is one
//! sum over k). Median of 7 batches of ≈ 50 ms, wall clock µs per product; meaningful only on a
//! quiet machine. On the 2-core KVM Xeon a split costs about one 500×64×64 product of wake-up, which
//! is why the MLP splits its data instead (`models::mlp::SHARD_MIN_ROWS`).
//!
//! `cargo run --release --example diag_gemm`
#![allow(clippy::disallowed_methods)] // test code may use std's libm (clippy.toml: library code may not)
use std::time::Instant;
use faer::{Accum, MatMut, MatRef, Par};
fn mm(c: &mut [f64], a: &[f64], b: &[f64], (m, k, n): (usize, usize, usize), par: Par) {
    let lhs = MatRef::from_row_major_slice(a, m, k);
    let rhs = MatRef::from_row_major_slice(b, k, n);
    let dst = MatMut::from_row_major_slice_mut(c, m, n);
    faer::linalg::matmul::matmul(dst, Accum::Replace, lhs, rhs, 1.0, par);
}
fn time(mut f: impl FnMut()) -> f64 {
    let mut best = vec![];
    for _ in 0..7 {
        let t = Instant::now();
        let mut it = 0;
        while t.elapsed().as_secs_f64() < 0.05 { f(); it += 1; }
        best.push(t.elapsed().as_secs_f64() / it as f64 * 1e6);
    }
    best.sort_by(|a, b| a.partial_cmp(b).unwrap());
    best[3]
}
fn main() {
    for &(m, k, n) in &[(200, 64, 32), (500, 64, 64), (1000, 64, 128), (1000, 128, 128), (1797, 256, 256), (64, 500, 64), (128, 1000, 128)] {
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
        let mut c = vec![0.0; m * n];
        let mut c2 = vec![0.0; m * n];
        let seq = time(|| mm(&mut c, &a, &b, (m, k, n), Par::Seq));
        let ref_c = c.clone();
        let fr = time(|| mm(&mut c, &a, &b, (m, k, n), Par::rayon(2)));
        let h = m / 2;
        let join = time(|| {
            let (c0, c1) = c2.split_at_mut(h * n);
            let (a0, a1) = a.split_at(h * k);
            rayon::join(|| mm(c0, a0, &b, (h, k, n), Par::Seq), || mm(c1, a1, &b, (m - h, k, n), Par::Seq));
        });
        let same = c2 == ref_c;
        println!("{m}x{k}x{n}: seq {seq:.1} us  faer2 {fr:.1} ({:.2}x)  join {join:.1} ({:.2}x) bitsame {same}", seq / fr, seq / join);
    }
}
