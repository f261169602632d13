//! The neglected-term monitors and slow statistics (`monitors`, reference.md §5.3) on the cubic
//! families, where each has a closed form: L = −g·w + ½(2/η + a·w)x² + c₄x⁴/24 at a point θ† = (0, w†)
//! of the constrained trajectory, u = e_x.
//! - Across u the loss is linear in w: ∇²L and ∇³L vanish on pairs of directions across u, so every
//!   `d2L_v_v` and `d3L_v` ratio and `d3L_dL` is 0 (up to u's rounding off e_x).
//! - ρ₄: ∇⁴L[w,w,w] = c₄w_x³e_x, so the power iteration from e_x stays there and ρ₄ = c₄ exactly.
//! - ρ₃: ∇³L[e_x, e_x] = (0, a) and ∇³L[(0, â), (0, â)] = 0: the iteration stops with ρ₃ = 0.
//! - The slice: F(x) = L(θ†) + ½S x² + c₄x⁴/24 on [−5δ, 5δ].
//! - S_exact_pred: the top eigenvalue of the 2×2 block [[s′, x], [x, 0]] at θ† + v.
//!
//! And the gradient-flow track (`gd::GradientFlow`, `run --gf`) against GD on the same model.

use rug::Float;
use selfstab::constrained;
use selfstab::linalg::zeros;
use selfstab::mag::Mag;
use selfstab::models::cubic::{Cubic, CubicSpec};
use selfstab::monitors::{self, SLICE_POINTS};
use selfstab::objective::Objective;
use selfstab::scalar::Scalar;
use selfstab::sharpness::EigenOpts;

/// The monitors at θ†₀ of Toy-P (c₄ given; GD's point and the prediction 0.1δ along x plus a part
/// across u), with the largest slice error relative to L's variation over the slice.
fn closed_forms<S: Scalar>(c: S::Ctx, c4: &str) -> (monitors::MonitorRow, f64, usize) {
    let mut spec = CubicSpec::reference("0.01", "0.3");
    spec.c4 = c4.into();
    let m = Cubic::<S>::new(&spec, c).unwrap();
    let eta = m.eta().clone();
    let tol = EigenOpts::default_tol::<S>(c);
    let mut u0 = zeros::<S>(m.dim(), c);
    u0[0] = S::one(c);
    let dag = constrained::initial(&m, &eta, &zeros::<S>(m.dim(), c), Some(&u0), 3, tol).unwrap().center;
    let mut theta = dag.theta.clone();
    theta[0] += &(m.delta() * &S::parse("0.1", c).unwrap());
    theta[2] += &S::parse("0.003", c).unwrap();
    let mut v = zeros::<S>(m.dim(), c);
    v[0] = m.delta() * &S::parse("0.1", c).unwrap();
    v[1] = S::parse("-0.002", c).unwrap();
    let (row, slice) = monitors::observe(&m, &dag, &theta, Some(&v), 7, tol).unwrap();
    // The grid: SLICE_POINTS values x_i = −5δ + i·10δ/(N − 1) (every L is finite here), spaced
    // evenly to the f64 rounding of the stored x (4 ulps of 5δ), symmetric bit for bit (mutation
    // audit: a spacing of 10δ/N, which leaves a hole of 0.2δ at x = 0, passed every test).
    let n = monitors::SLICE_POINTS;
    let d5 = 5.0 * dag.delta().to_f64();
    assert_eq!(slice.len(), n, "slice points");
    let (first, last) = (slice[0].1, slice[n - 1].1);
    assert!((first + d5).abs() <= 4.0 * f64::EPSILON * d5 && (last - d5).abs() <= 4.0 * f64::EPSILON * d5, "ends {first}, {last} against ∓5δ = ∓{d5}");
    for i in 0..n - 1 {
        let dx = slice[i + 1].1 - slice[i].1;
        assert!((dx - 2.0 * d5 / (n - 1) as f64).abs() <= 4.0 * f64::EPSILON * d5, "x_{} − x_{i} = {dx}, against 10δ/(N − 1) = {}", i + 1, 2.0 * d5 / (n - 1) as f64);
        assert_eq!(slice[i].1.to_bits(), (-slice[n - 1 - i].1).to_bits(), "x_{i} is not −x_{}", n - 1 - i);
    }
    let s = dag.sharpness.clone();
    let c4v = S::parse(c4, c).unwrap();
    let mut worst = 0.0f64;
    let mut range = 0.0f64;
    for &(t, x, f) in &slice {
        assert_eq!(t, 7);
        let xs = S::from_f64(x, c);
        let x2 = xs.clone() * &xs;
        let want = dag.loss.clone() + &(s.clone() * &x2 * &S::from_f64(0.5, c)) + &(c4v.clone() * &x2 * &x2 / &S::from_i64(24, c));
        worst = worst.max((want.clone() - &S::from_f64(f, c)).abs().to_f64());
        range = range.max((want - &dag.loss).abs().to_f64());
    }
    // At θ† + v = (x, w† + (−0.002, 0, 0)): ∇²L = [[s′, x·aᵀ], [x·a, 0]] with s′ = S(θ†) − 0.002 + c₄x²/2
    // (a = e₁), whose top eigenvalue is s′/2 + √(s′²/4 + x²).
    let x = v[0].clone();
    let s1 = s.clone() - &S::parse("0.002", c).unwrap() + &(c4v.clone() * &x * &x / &S::from_i64(2, c));
    let half = s1.clone() / &S::from_i64(2, c);
    let want = half.clone() + &(half.clone() * &half + &(x.clone() * &x)).sqrt();
    let err = (S::from_f64(row.s_exact_pred, c) - &want).abs().to_f64() / want.to_f64();
    // The solve stops at relative residual tol, so |Δλ|/λ ≤ tol (claim 34's bound), plus the f64 storage.
    assert!(err <= tol.to_f64() + 2.0 * f64::EPSILON, "S_exact_pred = {} against {}: relative error {err:e}", row.s_exact_pred, want.to_f64());
    (row, worst / range, slice.len())
}

fn check<S: Scalar>(c: S::Ctx) {
    for c4 in ["0", "1", "3"] {
        let (row, slice_err, n) = closed_forms::<S>(c, c4);
        eprintln!("c₄ = {c4}: {row:?}; slice error / range {slice_err:e} over {n} points");
        // u is e_x up to the eigen solve's rounding, so the parts across u see ∇²L and ∇³L only
        // through u's error: ≤ 64 eps (a = e₁: β = 1 and every derivative is O(1) here).
        let eps = S::eps(c);
        for (name, r) in [("d2L_v_v_gd", row.d2l_v_v_gd), ("d3L_v_gd", row.d3l_v_gd), ("d2L_v_v_pred", row.d2l_v_v_pred), ("d3L_v_pred", row.d3l_v_pred), ("d3L_dL", row.d3l_dl)] {
            assert!(r.abs() <= 64.0 * eps, "c₄ = {c4}: {name} = {r:e}, expected 0");
        }
        assert!(row.rho3.abs() <= 64.0 * eps, "ρ₃ = {:e}, expected 0", row.rho3);
        let c4f: f64 = c4.parse().unwrap();
        assert!((row.rho4 - c4f).abs() <= 64.0 * eps, "ρ₄ = {:e}, expected c₄ = {c4}", row.rho4);
        assert_eq!(n, SLICE_POINTS);
        // Each point is one loss evaluation at x (|x| ≤ 5δ): a few roundings of L's terms. The slice
        // is stored as f64 (slices.csv) at every precision, so its bound is f64's ε here too.
        assert!(slice_err <= 64.0 * f64::EPSILON, "slice off by {slice_err:e} of its range");
        assert!((row.sqrt_beta - 1.0).abs() <= 64.0 * eps && row.delta > 0.0);
    }
}

#[test]
fn monitors_match_the_cubic_closed_forms_f64() {
    check::<f64>(());
}

#[test]
fn monitors_match_the_cubic_closed_forms_mpfr256() {
    check::<Float>(256);
}

#[test]
fn monitors_of_a_diverged_prediction_are_nan_and_alpha_below_zero_has_no_slice() {
    // A prediction that has diverged gives NaN for its ratios; with α < 0 (δ = 0) there is no slice.
    let mut spec = CubicSpec::reference("0.0001", "0.3");
    spec.c3 = "0.02".into();
    let m = Cubic::<f64>::new(&spec, ()).unwrap();
    let mut th = vec![0.0; 4];
    th[1] = -0.2;
    let dag = selfstab::sharpness::center(&m, &th, Some(&[1.0, 0.0, 0.0, 0.0]), Mag::new(1e-12)).unwrap();
    assert!(dag.alpha < 0.0);
    let (row, slice) = monitors::observe(&m, &dag, &th, None, 0, Mag::new(1e-12)).unwrap();
    assert!(row.s_exact_pred.is_nan());
    assert!(row.d2l_v_v_pred.is_nan() && row.d3l_v_pred.is_nan() && row.d2l_v_v_gd.is_nan(), "{row:?}");
    assert!(slice.is_empty() && row.delta == 0.0);
    let line = row.csv_line();
    assert!(line.starts_with("0,,,,,"), "{line}");
    assert_eq!(line.split(',').count(), monitors::HEADER.split(',').count());
}

#[test]
fn gradient_flow_does_not_oscillate_where_gd_does_on_the_cubic() {
    // Toy-C from θ₀ = (x₀, 0), S = 2/η + a·w ≥ 2/η as w drifts along g: GD's x flips sign every step
    // (x ← −(1 + η a·w)x), while the flow's sub-steps of size η/⌈ηS⌉ ≤ 1/S keep x's sign, and L(θ_gf)
    // never rises (each sub-step descends the local quadratic, whose curvature is ≤ S).
    let m = Cubic::<f64>::new(&CubicSpec::reference("0.01", "0.3"), ()).unwrap();
    let eta = 1.0;
    let th0 = [0.01, 0.0, 0.0, 0.0];
    let mut gf = selfstab::gd::GradientFlow::new(&th0, &[1.0, 0.0, 0.0, 0.0]);
    let mut theta = th0.to_vec();
    let mut grad = vec![0.0; 4];
    for t in 0..200u64 {
        let x_gd = theta[0];
        selfstab::gd::gd_step(&m, &eta, &mut theta, &mut grad).unwrap();
        assert!(theta[0] * x_gd < 0.0, "step {t}: GD's x did not flip");
        gf.advance(&m, &eta, &[0.0; 4], t, Mag::new(1e-12)).unwrap();
        // (x reaches 0 exactly when ηS is an integer: a sub-step of size 1/S removes it.)
        assert!(gf.theta[0] >= 0.0 && gf.theta[0] <= th0[0], "step {t}: the flow's x = {}", gf.theta[0]);
        let r = gf.rows.last().unwrap();
        assert_eq!(r.substeps as f64, (eta * r.sharpness).ceil());
        if t > 0 {
            assert!(r.loss <= gf.rows[t as usize - 1].loss, "step {t}: L(θ_gf) rose");
        }
    }
}
