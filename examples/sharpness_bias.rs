//! How far the f64 sharpness lies from the exact one, and why (theory/README.md "Eigen solver": until
//! session 29 the solver reported G's eigenvalue θ, 3e-15…1.5e-14 relative above the exact value,
//! since θ = ‖Vs‖²·(y·Hy) on a basis orthonormal only to rounding; it now reports y·Hy, and the
//! solver's part below is rounding). At the seeded θ₀ of a digits MLP
//! (tanh, MSE) it solves the top pair in f64 (fast path and generic path) and at 256 bits, then
//! splits S₆₄ − S₂₅₆ into
//! - the solver's part, S₆₄ − RQ₆₄(u₆₄): the reported value against the f64 Rayleigh quotient of
//!   the reported vector, recomputed with one fresh f64 HVP;
//! - the HVP's part, RQ₆₄(u₆₄) − RQ₂₅₆(u₆₄): the same quotient with the HVP at 256 bits (u₆₄ and
//!   θ exact in both, so only the HVP's rounding differs);
//! - the vector's part, RQ₂₅₆(u₆₄) − S₂₅₆ ≤ 0 (u₆₄ is not the exact top vector; second order in
//!   its error).
//!
//! All relative to S₂₅₆. `cargo run --release --example sharpness_bias -- [layers] [n] [seed]`
//! (default 64,8,10 200 0).
use rug::Float;
use selfstab::data::{digits, init_params};
use selfstab::linalg::{dot, from_f64};
use selfstab::models::mlp::{Activation, LossKind, Mlp};
use selfstab::objective::Objective;
use selfstab::sharpness::{EigenOpts, top_eigen};

const BITS: u32 = 256;

/// u·Hu/u·u at 256 bits, for an f64 vector u (exact in 256 bits).
fn rq256(m: &Mlp<Float>, th: &[Float], u: &[f64]) -> Float {
    let u: Vec<Float> = from_f64(u, BITS);
    let mut hu: Vec<Float> = from_f64(&vec![0.0; u.len()], BITS);
    m.hvp(th, &u, &mut hu).unwrap();
    dot(&u, &hu) / dot(&u, &u)
}

/// u·Hu/u·u in f64.
fn rq64(m: &Mlp<f64>, th: &[f64], u: &[f64]) -> f64 {
    let mut hu = vec![0.0; u.len()];
    m.hvp(th, u, &mut hu).unwrap();
    dot(u, &hu) / dot(u, u)
}

fn main() {
    let arg = |i: usize| std::env::args().nth(i);
    let layers: Vec<usize> = arg(1).unwrap_or_else(|| "64,8,10".into()).split(',').map(|w| w.parse().unwrap()).collect();
    let n: usize = arg(2).and_then(|a| a.parse().ok()).unwrap_or(200);
    let seed: u64 = arg(3).and_then(|a| a.parse().ok()).unwrap_or(0);
    let data = digits(n).unwrap();
    let th = init_params(&layers, seed).unwrap();
    let m256 = Mlp::<Float>::new(&layers, Activation::Tanh, LossKind::Mse, &data, BITS).unwrap();
    let th256: Vec<Float> = from_f64(&th, BITS);
    let e256 = top_eigen(&m256, &th256, None, &EigenOpts::top::<Float>(1, BITS)).unwrap();
    let s256 = e256.values[0].clone();
    let rel = |x: Float| (x / &s256).to_f64();
    println!("{layers:?}, n = {n}, seed {seed}: p = {}, S₂₅₆ = {}", th.len(), s256.to_string_radix(10, Some(20)));
    for fast in [true, false] {
        let mut m64 = Mlp::<f64>::new(&layers, Activation::Tanh, LossKind::Mse, &data, ()).unwrap();
        m64.set_fast(fast);
        let e = top_eigen(&m64, &th, None, &EigenOpts::top::<f64>(1, ())).unwrap();
        let (s64, u) = (e.values[0], &e.vectors[0]);
        let (r64, r256) = (rq64(&m64, &th, u), rq256(&m256, &th256, u));
        let f = |x: f64| Float::with_val(BITS, x);
        println!(
            "  f64 {} path: S₆₄ − S₂₅₆ = {:+.2e}; solver S₆₄ − RQ₆₄(u) = {:+.2e}, HVP RQ₆₄(u) − RQ₂₅₆(u) = {:+.2e}, vector RQ₂₅₆(u) − S₂₅₆ = {:+.2e} (residual {:.1e}, {} HVPs)",
            if fast { "fast" } else { "generic" },
            rel(f(s64) - &s256),
            rel(f(s64) - f(r64)),
            rel(f(r64) - &r256),
            rel(r256.clone() - &s256),
            e.residuals[0],
            e.hvps
        );
    }
}
