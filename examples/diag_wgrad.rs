//! The MLP's weight-gradient product G = Dᵀ·X (D = [n, out] the pre-activation adjoints, X = [n, in]
//! the layer's input, both row-major; G = [out, in]) through faer, four ways (issue 7): as the MLP
//! issues it (lhs Dᵀ: its reduction index n strided), as Xᵀ·D, with D stored transposed
//! (Dt = [out, n] row-major: the reduction index contiguous) and with both stored transposed; then
//! the current form against an explicit transpose of D followed by Dt·X. Wall clock, paired medians
//! (`support/median.rs`), GFLOP/s = 2·n·in·out / time. Also checks that the layouts give the same
//! bits.
//!
//! `cargo run --release --example diag_wgrad`
#![allow(clippy::disallowed_methods)] // test code may use std's libm (clippy.toml: library code may not)
use selfstab::linalg::gemm_faer;
#[path = "support/median.rs"]
mod median;
/// dst [c, r] = srcᵀ, src [r, c] row-major, in 16×16 blocks.
fn transpose(src: &[f64], r: usize, c: usize, dst: &mut [f64]) {
    const B: usize = 16;
    for i0 in (0..r).step_by(B) {
        for j0 in (0..c).step_by(B) {
            for i in i0..(i0 + B).min(r) {
                for j in j0..(j0 + B).min(c) {
                    dst[j * r + i] = src[i * c + j];
                }
            }
        }
    }
}
/// [`transpose`] by 4×4 tiles (four rows of four loaded, four columns written), edges entry by entry.
fn transpose4(src: &[f64], r: usize, c: usize, dst: &mut [f64]) {
    let (r4, c4) = (r / 4 * 4, c / 4 * 4);
    for i in (0..r4).step_by(4) {
        for j in (0..c4).step_by(4) {
            let row = |k: usize| -> [f64; 4] { src[(i + k) * c + j..(i + k) * c + j + 4].try_into().unwrap() };
            let (a0, a1, a2, a3) = (row(0), row(1), row(2), row(3));
            for q in 0..4 {
                dst[(j + q) * r + i..(j + q) * r + i + 4].copy_from_slice(&[a0[q], a1[q], a2[q], a3[q]]);
            }
        }
        for j in c4..c {
            for k in 0..4 {
                dst[j * r + i + k] = src[(i + k) * c + j];
            }
        }
    }
    for i in r4..r {
        for j in 0..c {
            dst[j * r + i] = src[i * c + j];
        }
    }
}

fn main() {
    let mk = |len: usize, s: f64| -> Vec<f64> { (0..len).map(|i| ((i as f64) * s).sin()).collect() };
    for &(n, k, w) in &[(500usize, 64usize, 64usize), (250, 64, 64), (1000, 128, 128), (500, 128, 128), (1000, 64, 128), (250, 64, 10), (500, 128, 10)] {
        let x = mk(n * k, 0.37);
        let d = mk(n * w, 0.23);
        let mut dt = vec![0.0; w * n];
        let mut xt = vec![0.0; k * n];
        transpose(&d, n, w, &mut dt);
        transpose(&x, n, k, &mut xt);
        let mut g = vec![0.0; w * k];
        let mut g2 = vec![0.0; w * k];
        let flop = 2.0 * (n * k * w) as f64;
        let (a, b) = median::paired_median_us(20, || gemm_faer(&mut g, &d, true, &x, false, (w, n, k), false), || gemm_faer(&mut g2, &x, true, &d, false, (k, n, w), false));
        let (c, e) = median::paired_median_us(20, || gemm_faer(&mut g, &dt, false, &x, false, (w, n, k), false), || gemm_faer(&mut g2, &dt, false, &xt, true, (w, n, k), false));
        println!("{n}x{k}x{w} GFLOP/s: Dᵀ·X {:.1}, Xᵀ·D {:.1}, Dt·X {:.1}, Dt·Xtᵀ {:.1}", flop / a / 1e3, flop / b / 1e3, flop / c / 1e3, flop / e / 1e3);
        let (a, b) = median::paired_median_us(20, || gemm_faer(&mut g, &d, true, &x, false, (w, n, k), false), || {
            transpose(&d, n, w, &mut dt);
            gemm_faer(&mut g2, &dt, false, &x, false, (w, n, k), false)
        });
        let t = median::median_us(50, || transpose(&d, n, w, &mut dt));
        let mut dt4 = vec![0.0; w * n];
        let t4 = median::median_us(50, || transpose4(&d, n, w, &mut dt4));
        assert_eq!(dt, dt4);
        let (a4, b4) = median::paired_median_us(20, || gemm_faer(&mut g, &d, true, &x, false, (w, n, k), false), || {
            transpose4(&d, n, w, &mut dt);
            gemm_faer(&mut g2, &dt, false, &x, false, (w, n, k), false)
        });
        println!("  4×4 tiles: transpose {t4:.1} us; Dᵀ·X {a4:.1} us against transpose+Dt·X {b4:.1} us");
        println!("{n}x{k}x{w} wgrad: Dᵀ·X {a:.1} us, transpose+Dt·X {b:.1} us (transpose {t:.1}); same bits {}", g == g2);
    }
}
