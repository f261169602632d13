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

/// `value` within a factor `f` of `measured` either way: a finding's numbers are pinned from both
/// sides, so the test fails if the behaviour changes in either direction (decisions §1).
pub fn pinned_within(name: &str, value: f64, measured: f64, f: f64) {
    assert!(value <= measured * f && value >= measured / f, "{name}: {value} against the measured {measured} (factor {f} either way)");
}
