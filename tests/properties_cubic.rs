//! Property tests of claims 12–16 on Toy-C (claims.md C; reference.md §2, §5) over
//! η ∈ [0.1, 2], α ∈ [1e-4, 1e-2] capped so h = η√α ≤ 0.1, β ∈ [0.25, 4] (a = √β e₁),
//! x₀/δ ∈ [1e-3, 0.5], g = (α/√β, 0.3, 0), ideal split θ†₀ = 0, v₀ = (x₀, 0), N = min(300, 20/h)
//! steps, f64.
//! Pinned ChaCha seed, 48 cases each. Each case runs GD, θ† (3 projection steps) and both
//! predictions in lockstep; every tolerance is a rounding budget stated next to its assertion.
#![allow(clippy::disallowed_methods)] // test code may use std's libm (clippy.toml: library code may not)

mod common;
use proptest::prelude::*;
use selfstab::constrained;
use selfstab::gd::gd_step;
use selfstab::linalg::{dot, norm, sub, zeros};
use selfstab::models::cubic::{Cubic, CubicSpec};
use selfstab::objective::Objective;
use selfstab::predicted::{self, Kind};
use selfstab::sharpness::{EigenOpts, center};

const N: usize = 300;
const EPS: f64 = f64::EPSILON;

fn pinned(cases: u32) -> ProptestConfig {
    common::pinned(cases, 0x70c_0b1c)
}

/// (η, α, β, x₀/δ) within the ranges of the module doc.
fn arb_case() -> impl Strategy<Value = (f64, f64, f64, f64)> {
    (0.1f64..2.0, -4.0f64..-2.0, (0.25f64).ln()..(4.0f64).ln(), -3.0f64..(0.5f64).log10()).prop_map(|(eta, la, lb, lx)| {
        let alpha = 10f64.powf(la).min(0.01 / (eta * eta));
        (eta, alpha, lb.exp(), 10f64.powf(lx))
    })
}

fn model(eta: f64, alpha: f64, beta: f64) -> Cubic<f64> {
    let sb = beta.sqrt();
    // Shortest round-trip decimal text of each f64 (the model parses it back exactly).
    let spec = CubicSpec {
        eta: format!("{eta}"),
        a: vec![format!("{sb}"), "0".into(), "0".into()],
        g: vec![format!("{}", alpha / sb), "0.3".into(), "0".into()],
        e: vec!["0".into(), "0".into(), "1".into()],
        ..CubicSpec::reference("1", "0.3")
    };
    Cubic::new(&spec, ()).unwrap()
}

/// Worst normalised deviation of each claim over one run (see the assertions for the units).
#[derive(Debug, Default)]
struct Worst {
    c12: f64,
    c13_std: f64,
    c13_gen: f64,
    c14: f64,
    c15: f64,
    c16: f64,
}

fn run_case(eta_f: f64, alpha_f: f64, beta_f: f64, xi: f64) -> Worst {
    let m = model(eta_f, alpha_f, beta_f);
    let eta = *m.eta();
    let (alpha, beta, delta) = (m.alpha(), m.beta(), m.delta());
    let gp = m.g_perp();
    let gp2 = dot(&gp, &gp);
    let tol = EigenOpts::default_tol::<f64>(());
    let mut v = vec![xi * delta, 0.0, 0.0, 0.0];
    let mut vg = v.clone();
    let mut theta = v.clone();
    let mut dag = center(&m, &[0.0; 4], Some(&[1.0, 0.0, 0.0, 0.0]), tol).unwrap();
    let l0 = dag.loss;
    let mut grad = zeros::<f64>(4, ());
    let mut w = Worst::default();
    let dsq = delta * delta;
    // N = 300 steps, capped at natural time τ = hN ≤ 20 (decisions.md §9's range for the map).
    let n = N.min((20.0 / m.h()).floor() as usize);
    for t in 0..=n {
        // claim 13: r = θ − θ† − v.
        let dev = sub(&theta, &dag.theta);
        w.c13_std = w.c13_std.max(norm(&sub(&dev, &v)) / delta);
        w.c13_gen = w.c13_gen.max(norm(&sub(&dev, &vg)) / delta);
        // claim 14: L(θ†_t) − (L(θ†₀) − tη‖g⊥‖²), relative to the size of the terms.
        let pred = l0 - t as f64 * eta * gp2;
        w.c14 = w.c14.max((dag.loss - pred).abs() / (t as f64 * eta * gp2).max(EPS));
        // claim 15: L(θ) − L(θ†) − x²/η − ½y(x² − δ²) in units δ²/η, divided by the rounding scale
        // eps·(|L(θ)| + |L(θ†)|)/(δ²/η) of the cancelling loss difference (plus 1 for the rest).
        let lt = m.value(&theta).unwrap_or_else(|e| panic!("t = {t}, ({eta_f}, {alpha_f}, {beta_f}, {xi}): {e}"));
        let (xd, yd) = predicted::xy(&dag, &dev);
        let lhs = lt - dag.loss - xd * xd / eta;
        let rhs = 0.5 * yd * (xd * xd - dsq);
        let unit = dsq / eta;
        let scale = EPS * (lt.abs() + dag.loss.abs()) / unit + EPS;
        w.c15 = w.c15.max((lhs - rhs).abs() / unit / scale);
        // claim 16: S(θ) = s/2 + √(s²/4 + βx²), s = 2/η + y (relative).
        let x = theta[0];
        let y = m.y_of(&theta);
        let sh = center(&m, &theta, Some(&dag.u), tol).unwrap().sharpness;
        let s = 2.0 / eta + y;
        let exact = s / 2.0 + (s * s / 4.0 + beta * x * x).sqrt();
        w.c16 = w.c16.max(((sh - exact) / exact).abs());
        if t == n {
            break;
        }
        // claim 12: GD in (x, a·w) is the reduced map x' = −(1 + ηy)x, y' = y + η(α − βx²/2).
        let xr = -(1.0 + eta * y) * x;
        let yr = y + eta * (alpha - beta * x * x / 2.0);
        gd_step(&m, m.eta(), &mut theta, &mut grad).unwrap();
        let ex = (theta[0] - xr).abs() / (x.abs() * (1.0 + (eta * y).abs()));
        let ey = (m.y_of(&theta) - yr).abs() / (y.abs() + eta * (alpha + beta * x * x)).max(EPS * dsq);
        w.c12 = w.c12.max(ex.max(ey));
        v = predicted::step(&m, &eta, &dag, &v, Kind::Standard).unwrap();
        vg = predicted::step(&m, &eta, &dag, &vg, Kind::Generalized).unwrap();
        dag = constrained::step(&m, &eta, &dag, 3, tol).unwrap().center;
    }
    w
}

proptest! {
    #![proptest_config(pinned(48))]

    #[test]
    fn claim_12_gd_is_the_reduced_map_property((eta, alpha, beta, xi) in arb_case()) {
        let w = run_case(eta, alpha, beta, xi);
        // One step of each side is a handful of roundings of terms of the stated size: 16 eps.
        prop_assert!(w.c12 <= 16.0 * EPS, "claim 12: {:e} ({eta}, {alpha}, {beta}, {xi})", w.c12);
    }

    #[test]
    fn claim_13_prediction_exact_property((eta, alpha, beta, xi) in arb_case()) {
        let w = run_case(eta, alpha, beta, xi);
        // Rounding growing along the repelling focus (decisions.md §6: max err ≤ C·eps, C measured):
        // worst over the 48 pinned cases 4.6e-13 (h = 0.062, x₀/δ = 1.2e-3); worst input found by
        // proptest's search 5.8e-12 ≈ 2.6e4·eps (h = 0.1, x₀/δ = 2.9e-3: small x₀/δ means a large
        // first spike, which amplifies earlier roundings). Bound C = 1e5, a factor 4 above it.
        let b = 1e5 * EPS;
        prop_assert!(w.c13_std <= b && w.c13_gen <= b, "claim 13: {:e}, {:e} ({eta}, {alpha}, {beta}, {xi})", w.c13_std, w.c13_gen);
    }

    #[test]
    fn claim_14_constrained_loss_linear_in_t_property((eta, alpha, beta, xi) in arb_case()) {
        let w = run_case(eta, alpha, beta, xi);
        // θ†'s w₂ accumulates one rounding per step: relative error ≤ N·eps (measured ≤ 8.0e-15).
        prop_assert!(w.c14 <= N as f64 * EPS, "claim 14: {:e} ({eta}, {alpha}, {beta}, {xi})", w.c14);
    }

    #[test]
    fn claim_15_loss_identity_property((eta, alpha, beta, xi) in arb_case()) {
        let w = run_case(eta, alpha, beta, xi);
        // In units of the rounding scale of the loss difference: ≤ 64 such roundings (measured ≤ 0.48).
        prop_assert!(w.c15 <= 64.0, "claim 15: {:e} ({eta}, {alpha}, {beta}, {xi})", w.c15);
    }

    #[test]
    fn claim_16_sharpness_formula_property((eta, alpha, beta, xi) in arb_case()) {
        let w = run_case(eta, alpha, beta, xi);
        // Lanczos to relative residual 1e-10 on a 4×4 Hessian with gap ≈ 2/η: eigenvalue error
        // ≤ residual²·S/gap ≈ 1e-20 relative, so rounding dominates: the fixed run's bound 64·p·eps
        // (the Rayleigh quotient of a p = 4 Hessian and the closed form's square root; measured
        // ≤ 8.8e-16 ≈ 4·eps over the 48 pinned cases).
        prop_assert!(w.c16 <= 64.0 * 4.0 * EPS, "claim 16: {:e} ({eta}, {alpha}, {beta}, {xi})", w.c16);
    }
}

/// Measured worst cases over the same 48 pinned inputs (printed; the properties assert the bounds).
#[test]
fn toy_c_property_worst_cases_over_pinned_inputs() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::new(pinned(48));
    let mut worst = Worst::default();
    for _ in 0..48 {
        let (eta, alpha, beta, xi) = arb_case().new_tree(&mut runner).unwrap().current();
        let w = run_case(eta, alpha, beta, xi);
        worst.c12 = worst.c12.max(w.c12);
        worst.c13_std = worst.c13_std.max(w.c13_std);
        worst.c13_gen = worst.c13_gen.max(w.c13_gen);
        worst.c14 = worst.c14.max(w.c14);
        worst.c15 = worst.c15.max(w.c15);
        worst.c16 = worst.c16.max(w.c16);
    }
    eprintln!("claims 12–16 worst over 48 cases: {worst:?}");
    // The same bounds as the properties (this test only records the worst values).
    assert!(worst.c12 <= 16.0 * EPS && worst.c13_std.max(worst.c13_gen) <= 1e5 * EPS);
    assert!(worst.c14 <= N as f64 * EPS && worst.c15 <= 64.0 && worst.c16 <= 64.0 * 4.0 * EPS);
}

/// Claim 13 at the corner of the property range where rounding grows most (the largest h = 0.1,
/// the smallest x₀/δ: a small x₀ makes the largest first spike, which amplifies the earlier
/// roundings): a grid over η and β there. The finding: 10·N·eps (the fixed runs' bound) does not
/// hold on the whole range; the worst case is pinned from both sides (decisions §1) and stays
/// within the property's C = 1e5 (decisions §6: C measured and recorded).
#[test]
fn claim_13_rounding_at_the_corner_of_the_range_pinned() {
    let mut worst = (0.0f64, 0.0, 0.0, 0.0);
    for eta in [0.1, 0.3, 1.0, 2.0] {
        for beta in [0.25, 1.0, 4.0] {
            for xi in [1e-3, 2.9e-3, 1e-2] {
                let alpha = 0.01 / (eta * eta); // h = η√α = 0.1
                let w = run_case(eta, alpha, beta, xi);
                let e = w.c13_std.max(w.c13_gen) / EPS;
                eprintln!("claim 13 corner: η = {eta}, β = {beta}, x₀/δ = {xi}: max‖r‖/δ = {e:.0} eps");
                if e > worst.0 {
                    worst = (e, eta, beta, xi);
                }
            }
        }
    }
    eprintln!("claim 13 corner: worst {:.0} eps at η = {}, β = {}, x₀/δ = {}", worst.0, worst.1, worst.2, worst.3);
    // Measured 4355 eps at η = 1, x₀/δ = 2.9e-3 (β drops out: 62–4355 eps over the grid, the same
    // for every β), above the fixed runs' 10·N·eps = 2000 eps (N = 200) and below C = 1e5;
    // proptest's search found 2.6e4 eps nearby (the error moves irregularly with η and x₀/δ).
    assert!(worst.0 <= 1e5, "claim 13: {} eps above C = 1e5", worst.0);
    assert!(worst.0 > 10.0 * 200.0, "claim 13: the corner's worst {} eps is back under 10·N·eps", worst.0);
    // The generic f64 path on p = 4 is deterministic: the value to its recorded digits (any change in
    // the order of operations moves a rounding constant like this one, and shows here; until session
    // 42 pinned within a factor 1.5).
    common::recorded("claim 13 corner, worst eps", worst.0, 4355.0, 0);
}
