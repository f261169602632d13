//! Shared helpers of the integration tests.
#![allow(clippy::disallowed_methods)] // test code may use std's libm (clippy.toml: library code may not)
#![allow(dead_code)]

/// Least-squares slope of log(y) against log(x), with its standard error.
pub fn loglog_slope(x: &[f64], y: &[f64]) -> (f64, f64) {
    assert_eq!(x.len(), y.len());
    let n = x.len() as f64;
    let lx: Vec<f64> = x.iter().map(|v| v.ln()).collect();
    let ly: Vec<f64> = y.iter().map(|v| v.ln()).collect();
    let mx = lx.iter().sum::<f64>() / n;
    let my = ly.iter().sum::<f64>() / n;
    let sxx: f64 = lx.iter().map(|a| (a - mx).powi(2)).sum();
    let sxy: f64 = lx.iter().zip(&ly).map(|(a, b)| (a - mx) * (b - my)).sum();
    let slope = sxy / sxx;
    let resid: f64 = lx.iter().zip(&ly).map(|(a, b)| (b - my - slope * (a - mx)).powi(2)).sum();
    let se = if n > 2.0 { (resid / (n - 2.0) / sxx).sqrt() } else { 0.0 };
    (slope, se)
}

/// max_i |a_i − b_i| / max(‖b‖_∞, floor).
pub fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// `value` within half a unit of the last of `digits` decimals of `recorded`: a measured value pinned
/// "to its recorded digits" (theory/claims.toml's header), where the computation does not amplify
/// rounding.
pub fn recorded(name: &str, value: f64, recorded: f64, digits: i32) {
    let half = 0.5 * 10f64.powi(-digits);
    assert!((value - recorded).abs() <= half, "{name}: {value} against the recorded {recorded} (± {half:e})");
}

/// A measured value reproduces a quoted reference number (claims.md quotes 2–3 significant
/// digits): within 1 % or half a unit of the last quoted digit (`half_unit`), whichever is larger.
pub fn reproduces(measured: f64, reference: f64, half_unit: f64) -> bool {
    (measured - reference).abs() <= (0.01 * reference.abs()).max(half_unit)
}

/// `value` within half a unit of the last of `sig` significant digits of `recorded`
/// ([`recorded`] with the decimals counted from the leading digit).
pub fn recorded_significant(name: &str, value: f64, recorded_value: f64, sig: i32) {
    recorded(name, value, recorded_value, sig - 1 - recorded_value.abs().log10().floor() as i32);
}

/// Distance ‖u − ±u_dense‖ (the chord 2 sin(∠/2), in the working precision: no cancellation, unlike
/// 1 − |cos|) of an iterative eigenvector from the dense solve's, and its Davis–Kahan bound:
/// sin∠ ≤ ‖r‖/gap with ‖r‖ ≤ tol·|θ| (θ: the scale the solver's residual is relative to, ‖H‖ for a
/// lower pair) plus the dense solve's rounding `dense_rounding` (64·p·eps·‖H‖),
/// the chord ≤ √2·sin∠, plus 64·p·eps for the rounding of the two unit vectors themselves.
/// `gap` is the distance of the pair's eigenvalue to the rest of the spectrum.
pub fn eigvec_davis_kahan<S: selfstab::Scalar>(u: &[S], u_dense: &[S], tol: f64, theta: f64, gap: f64, dense_rounding: f64, eps: f64) -> (f64, f64) {
    use selfstab::linalg::{dot, norm};
    let p = u.len();
    let flip = dot(u, u_dense).to_f64() < 0.0;
    let diff: Vec<S> = u.iter().zip(u_dense).map(|(a, b)| if flip { a.clone() + b } else { a.clone() - b }).collect();
    let dist = norm(&diff).to_f64();
    let bound = std::f64::consts::SQRT_2 * (tol * theta.abs() + dense_rounding) / gap + 64.0 * p as f64 * eps;
    (dist, bound)
}

/// Bit-for-bit equality of two vectors: equal values and, for zeros, equal signs (`==` alone takes
/// −0 for +0, the very difference a sign flip of u could make).
pub fn bits_eq<S: selfstab::Scalar>(a: &[S], b: &[S]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y && x.to_f64().is_sign_negative() == y.to_f64().is_sign_negative())
}

/// A property test's configuration with its inputs pinned: `cases` cases drawn by ChaCha from
/// `seed`, no failure-persistence files, so every run of the suite draws the same inputs.
pub fn pinned(cases: u32, seed: u64) -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, RngAlgorithm, RngSeed};
    Config { cases, rng_algorithm: RngAlgorithm::ChaCha, rng_seed: RngSeed::Fixed(seed), failure_persistence: None, ..Config::default() }
}
