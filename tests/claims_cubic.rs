//! Claims 3 and 12–17 on the exact cubic model (Toy-C of claims.md): η = 1, a = e₁ (β = 1),
//! g = (α, 0.3, 0), d = 3, x₀ = 0.1δ, horizon τ = 20 (N = 20/h steps), h = √α.
#![allow(clippy::disallowed_methods)] // test code may use std's libm (clippy.toml: library code may not)

mod common;
use common::{bits_eq, reproduces};
use rug::Float;
use selfstab::linalg::{dot, norm, sub};
use selfstab::mag::Mag;
use selfstab::models::cubic::{Cubic, CubicSpec};
use selfstab::objective::Objective;
use selfstab::scalar::Scalar;
use selfstab::sharpness::{EigenOpts, center};
use selfstab::tracking::{self, TrackOpts, TrackState};

fn model<S: Scalar>(alpha: &str, g2: &str, c: S::Ctx) -> Cubic<S> {
    Cubic::new(&CubicSpec::reference(alpha, g2), c).unwrap()
}

fn opts<S: Scalar>(c: S::Ctx) -> TrackOpts {
    TrackOpts { projection_steps: 3, gap_every: 0, gap_threshold: None, eig_tol: EigenOpts::default_tol::<S>(c), chain_tol: None }
}

/// Ideal split: θ†₀ = (0, 0), v₀ = (x₀, 0) with x₀ = 0.1δ.
fn ideal_start<S: Scalar>(m: &Cubic<S>, c: S::Ctx) -> TrackState<S> {
    let x0 = m.delta() * &S::parse("0.1", c).unwrap();
    let z = S::zero(c);
    let dag0 = vec![z.clone(), z.clone(), z.clone(), z.clone()];
    let v0 = vec![x0, z.clone(), z.clone(), z];
    let e = S::one(c);
    let u0 = vec![e, S::zero(c), S::zero(c), S::zero(c)];
    tracking::start_split(m, m.eta(), &dag0, &v0, Some(&u0), &opts::<S>(c)).unwrap()
}

/// max_t ‖θ_t − θ†_t − v_t‖/δ over N steps, plus per-step checks by a callback.
fn run_max_err<S: Scalar>(m: &Cubic<S>, st: TrackState<S>, n: u64, each: impl FnMut(&TrackState<S>)) -> f64 {
    run_max_err_mag(m, st, n, each).to_f64()
}

/// [`run_max_err`] as a [`Mag`]: it keeps errors near 2^-bits beyond f64's range (above ≈ 1,070
/// bits), and equals the f64 value bit for bit where that is a normal f64.
fn run_max_err_mag<S: Scalar>(m: &Cubic<S>, mut st: TrackState<S>, n: u64, mut each: impl FnMut(&TrackState<S>)) -> Mag {
    let o = opts::<S>(m.ctx());
    let delta = m.delta().to_mag();
    let mut worst = Mag::ZERO;
    for _ in 0..n {
        each(&st);
        let r = sub(&sub(&st.theta, &st.dagger.theta), &st.v);
        worst = worst.max(norm(&r).to_mag() / delta);
        let (_, stop) = tracking::step(m, m.eta(), &mut st, &o).unwrap();
        assert!(stop.is_none(), "{stop:?}");
    }
    worst
}

// ---------- claim 13: exactness of the predicted dynamics on Toy-C ----------

/// (N, max_t ‖r‖/δ) for h = 0.1 (N = 200) and h = 0.05 (N = 400), the larger of the standard
/// (r = θ − θ† − v) and the generalized (r = θ − θ† − v_gen) dynamics' errors.
fn claim_13_generic<S: Scalar>(c: S::Ctx) -> Vec<(u64, f64)> {
    let mut out = vec![];
    for (alpha, n) in [("0.01", 200u64), ("0.0025", 400)] {
        let m = model::<S>(alpha, "0.3", c);
        let delta = m.delta().to_f64();
        let st = ideal_start(&m, c);
        let mut err_gen = 0.0f64;
        let err = run_max_err(&m, st, n, |s| {
            let r = sub(&sub(&s.theta, &s.dagger.theta), &s.v_gen);
            err_gen = err_gen.max(norm(&r).to_f64() / delta);
        });
        eprintln!("claim 13: N = {n}: standard {err:e}, generalized {err_gen:e}");
        out.push((n, err.max(err_gen)));
    }
    out
}

#[test]
fn claim_13_toy_c_prediction_exact_f64() {
    let errs = claim_13_generic::<f64>(());
    eprintln!("claim 13 f64: max ‖r‖/δ = {errs:?}");
    // Rounding only (claims.toml: ≤ 10·N·eps for each run; measured 1.27e-13 at N = 200 and
    // 3.19e-13 at N = 400; the reference scripts measured ≤ 3.2e-13 over up to 1600 steps).
    for (n, e) in errs {
        assert!(e <= 10.0 * n as f64 * f64::EPSILON, "claim 13: N = {n}, max ‖r‖/δ = {e:e}");
    }
}

#[test]
fn claim_13_toy_c_prediction_exact_mpfr256() {
    let errs = claim_13_generic::<Float>(256);
    eprintln!("claim 13 mpfr256: max ‖r‖/δ = {errs:?}");
    let eps = Float::eps(256);
    // ≤ 10·N·eps for each run (measured 4.42e-75 at N = 200, 4.68e-75 at N = 400).
    for (n, e) in errs {
        assert!(e <= 10.0 * n as f64 * eps, "claim 13 (256 bits): N = {n}, max ‖r‖/δ = {e:e}");
    }
}

// ---------- claims 12, 14, 15, 16 along the same run ----------

/// The worst deviation of each identity over 200 steps, each in units of its own rounding scale at
/// the context's ε (the scales of tests/properties_cubic.rs): claim 12 relative to the terms of
/// one map step; claim 14 relative to tη‖g⊥‖²; claim 15 in units of the cancelling loss
/// difference's rounding ε·(|L(θ)| + |L(θ†)|) (plus ε·δ²/η for the rest); claim 16 relative.
fn claims_12_14_15_16<S: Scalar>(c: S::Ctx) -> [f64; 4] {
    let m = model::<S>("0.01", "0.3", c);
    let (eta, alpha, beta) = (m.eta().clone(), m.alpha(), m.beta());
    let dsq = m.delta() * &m.delta();
    let gp = m.g_perp();
    let gp2 = dot(&gp, &gp);
    let st = ideal_start(&m, c);
    let l0 = st.dagger.loss.clone();
    let eps = S::eps(c);
    let mut prev: Option<(S, S)> = None;
    let mut worst = [0.0f64; 4];
    let half = S::from_f64(0.5, c);
    let unit = dsq.to_f64() / eta.to_f64();
    run_max_err(&m, st, 200, |s| {
        let x = s.theta[0].clone();
        let yv = m.y_of(&s.theta);
        // claim 12: GD in (x, a·w) is the reduced map.
        if let Some((xp, yp)) = &prev {
            let xr = -(S::one(c) + &(eta.clone() * yp)) * xp;
            let yr = yp.clone() + &(eta.clone() * &(alpha.clone() - &(beta.clone() * &half * xp * xp)));
            let (xpf, ypf) = (xp.to_f64(), yp.to_f64());
            let ex = (x.clone() - &xr).abs().to_f64() / (xpf.abs() * (1.0 + (eta.to_f64() * ypf).abs()));
            let ey = (yv.clone() - &yr).abs().to_f64() / (ypf.abs() + eta.to_f64() * (alpha.to_f64() + beta.to_f64() * xpf * xpf)).max(eps * dsq.to_f64());
            worst[0] = worst[0].max(ex.max(ey) / eps);
        }
        prev = Some((x.clone(), yv.clone()));
        // claim 14: L(θ†_t) = L(θ†₀) − tη‖g⊥‖².
        let t = S::from_i64(s.t as i64, c);
        let drop = t * &eta * &gp2;
        let pred = l0.clone() - &drop;
        worst[1] = worst[1].max((s.dagger.loss.clone() - &pred).abs().to_f64() / drop.to_f64().max(eps) / eps);
        // claim 15: L(θ) − L(θ†) − x²/η = ½ y (x² − δ²), with x, y the GD coordinates.
        let lt = m.value(&s.theta).unwrap();
        let dev = sub(&s.theta, &s.dagger.theta);
        let xd = dot(&s.dagger.u, &dev);
        let yd = dot(&s.dagger.grad_s_perp, &dev);
        let scale = eps * (lt.to_f64().abs() + s.dagger.loss.to_f64().abs()) + eps * unit;
        let lhs = lt - &s.dagger.loss - &(xd.clone() * &xd / &eta);
        let rhs = half.clone() * &yd * &(xd.clone() * &xd - &dsq);
        worst[2] = worst[2].max((lhs - &rhs).abs().to_f64() / scale);
        // claim 16: S(θ) = s/2 + √(s²/4 + βx²), s = 2/η + y.
        let sh = center(&m, &s.theta, None, EigenOpts::default_tol::<S>(c)).unwrap().sharpness;
        let sv = S::from_i64(2, c) / &eta + &yv;
        let exact = sv.clone() * &half + &(sv.clone() * &sv * &half * &half + &(beta.clone() * &x * &x)).sqrt();
        worst[3] = worst[3].max(((sh - &exact) / &exact).abs().to_f64() / eps);
    });
    worst
}

/// The same bounds at every precision, in units of its ε (the identities are evaluated with the
/// same operations; the sharpness's eigen solve, at 1e-10 in f64 and 2^(16 − bits) in MPFR, leaves
/// an eigenvalue error ≤ tol²·S/gap, far below the rounding): claim 12 ≤ 16 (a handful of roundings
/// per map step), claim 14 ≤ N = 200 (one rounding of w₂ per step), claim 15 ≤ 64 (the rounding of
/// the cancelling loss difference and a few more), claim 16 ≤ 64·p = 256 (the Rayleigh quotient of
/// a p = 4 Hessian and the closed form's square root).
fn assert_identities(what: &str, w: [f64; 4]) {
    eprintln!("claims 12/14/15/16 {what}, worst in units of the rounding scale: {w:?}");
    assert!(w[0] <= 16.0, "claim 12 ({what}): reduced map off by {} ε (relative)", w[0]);
    assert!(w[1] <= 200.0, "claim 14 ({what}): L(θ†) off by {} ε relative to tη‖g⊥‖²", w[1]);
    assert!(w[2] <= 64.0, "claim 15 ({what}): loss identity off by {} rounding scales", w[2]);
    assert!(w[3] <= 256.0, "claim 16 ({what}): sharpness formula off by {} ε relative", w[3]);
}

#[test]
fn claims_12_14_15_16_toy_c_identities_f64() {
    assert_identities("f64", claims_12_14_15_16::<f64>(()));
}

#[test]
fn claims_12_14_15_16_toy_c_identities_mpfr256() {
    assert_identities("256 bits", claims_12_14_15_16::<Float>(256));
}

// ---------- claim 17: the authors' initialisation costs O(h) ----------

fn claim_17_err(alpha: &str, n: u64) -> f64 {
    let m = model::<f64>(alpha, "0.3", ());
    let x0 = 0.1 * m.delta();
    let theta0 = vec![x0, 0.0, 0.0, 0.0];
    let st = tracking::start(&m, m.eta(), &theta0, Some(&[1.0, 0.0, 0.0, 0.0]), &opts::<f64>(())).unwrap();
    run_max_err(&m, st, n, |_| {})
}

#[test]
fn claim_17_authors_initialisation_error_f64() {
    // Reference numbers (claims.md 17): 0.039, 0.013, 0.0033, 0.0013 at h = 0.1, 0.05, 0.025, 0.0125.
    // Measured 0.0394, 0.0130, 0.00334, 0.00126. Bound: `reproduces` (the quoted digits: within
    // max(1 %, half a unit of the last quoted digit)).
    let cases = [("0.01", 200u64, 0.039, 5e-4), ("0.0025", 400, 0.013, 5e-4), ("0.000625", 800, 0.0033, 5e-5), ("0.00015625", 1600, 0.0013, 5e-5)];
    for (alpha, n, reference, half_unit) in cases {
        let e = claim_17_err(alpha, n);
        eprintln!("claim 17: α = {alpha}: max ‖r‖/δ = {e:.4e} (reference {reference})");
        assert!(reproduces(e, reference, half_unit), "claim 17: {e} vs {reference}");
    }
}

// ---------- claim 3: one-sided projection and the h²/4 Newton ratio ----------

#[test]
fn claim_03_projection_overshoot_and_newton_ratio_f64() {
    let mut dev = vec![];
    for (alpha, h) in [("0.01", 0.1f64), ("0.0025", 0.05)] {
        let m = model::<f64>(alpha, "0.3", ());
        let x0 = 0.1 * m.delta();
        let theta0 = vec![x0, 0.0, 0.0, 0.0];
        let c0 = center(&m, &theta0, Some(&[1.0, 0.0, 0.0, 0.0]), Mag::new(1e-13)).unwrap();
        let eps0 = c0.sharpness - 2.0;
        let mut cur = c0;
        let mut newton = vec![cur.u[0].signum() * dot(&cur.u, &cur.grad)];
        for _ in 0..3 {
            cur = selfstab::stable_set::lin_proj(&m, m.eta(), &cur, Mag::new(1e-13)).unwrap();
            newton.push(dot(&cur.u, &cur.grad).abs());
        }
        let below = (2.0 - cur.sharpness) / eps0;
        eprintln!("claim 3: h = {h}: ε = {eps0:e}, (2/η − S)/ε = {below:.4}, |u·∇L| = {newton:?}");
        // Final sharpness ≈ 2/η − 2ε: the ratio is 2 up to O(x₀²) = O(h²) corrections (measured
        // 1.9976 / 1.9994: deviations 2.4e-3 / 6e-4, 4× per halving of h). Bound 0.01 (4× the
        // largest deviation, and far below the 0.5 that separates Toy-C's 2 from c₄ = 1's 1.5), plus
        // the 4× drop (ratio 0.2–0.3), as for c₄ below.
        assert!((below - 2.0).abs() <= 0.01, "claim 3: (2/η − S)/ε = {below}");
        dev.push((below - 2.0).abs());
        // Newton residual ratio per step = h²/4 to leading order, with an O(h²) relative correction
        // whose coefficient is 0.0200 at both h (measured 0.019978–0.020000, i.e. ratio ≈
        // (h²/4)(1 + h²/50); not derived): the coefficient to its 3 recorded digits, which checks
        // the order of the correction as well (until session 42: within h² relative).
        for k in 1..3 {
            let ratio = newton[k + 1] / newton[k];
            let coef = (ratio / (h * h / 4.0) - 1.0) / (h * h);
            common::recorded_significant(&format!("claim 3: h = {h}, step {}: (ratio/(h²/4) − 1)/h²", k + 1), coef, 0.0200, 3);
        }
        // The first step's ratio is not h²/4 (finding, theory/README.md): it carries a relative
        // excess ≈ 5(x₀/δ)², independent of h (measured 0.04974 / 0.04994 at x₀ = 0.1δ; 0.0124 at
        // 0.05δ, 0.199 at 0.2δ), so three steps give 1.050·(h²/4)³, not (h²/4)³. Asserted: the
        // excess of the first ratio and of the three-step product within 5 % of 5(x₀/δ)² = 0.05
        // (the finding's coefficient), and each to its 4 recorded significant digits (deterministic
        // f64: 0.04974, 0.05016 at h = 0.1; 0.04994, 0.05004 at h = 0.05).
        let q = h * h / 4.0;
        let first = newton[1] / newton[0].abs() / q - 1.0;
        let three = newton[3] / newton[0].abs() / (q * q * q) - 1.0;
        eprintln!("claim 3: h = {h}: first ratio/(h²/4) − 1 = {first:.5}, three steps/(h²/4)³ − 1 = {three:.5}");
        let recorded = if h == 0.1 { [0.04974, 0.05016] } else { [0.04994, 0.05004] };
        for (e, want) in [first, three].into_iter().zip(recorded) {
            assert!((e / 0.05 - 1.0).abs() <= 0.05, "claim 3: the first step's excess over h²/4 is {e} (measured 0.0497–0.0502)");
            common::recorded_significant(&format!("claim 3: h = {h}: excess over (h²/4)^k"), e, want, 4);
        }
    }
    let q = dev[1] / dev[0];
    assert!((0.2..=0.3).contains(&q), "claim 3: deviation ratio {q} between h = 0.1 and 0.05 (O(h²): 0.25)");
}

// ---------- claim 2: the projection and the predicted steps are invariant under u → −u ----------

fn claim_02_pipeline_generic<S: Scalar>(c: S::Ctx) {
    // Perturbed model (every term active) from a point off M, so projection and both predicted
    // dynamics do real work; the runs differ only in the sign of the warm start of u.
    let mut spec = CubicSpec::reference("0.01", "0.3");
    spec.kappa = "0.3".into();
    spec.c4 = "1".into();
    spec.b = "0.5".into();
    spec.c = "0.2".into();
    spec.c3 = "0.1".into();
    let m = Cubic::<S>::new(&spec, c).unwrap();
    let theta0: Vec<S> = ["0.02", "0.01", "-0.03", "0.02"].iter().map(|t| S::parse(t, c).unwrap()).collect();
    let up: Vec<S> = vec![S::one(c), S::zero(c), S::zero(c), S::zero(c)];
    let um: Vec<S> = up.iter().map(|x| -x.clone()).collect();
    let o = opts::<S>(c);
    let mut a = tracking::start(&m, m.eta(), &theta0, Some(&up), &o).unwrap();
    let mut b = tracking::start(&m, m.eta(), &theta0, Some(&um), &o).unwrap();
    for t in 0..30 {
        let neg_bu: Vec<S> = b.dagger.u.iter().map(|y| -y.clone()).collect();
        // u is negated exactly in every non-zero component; an exactly zero one (here u₃: Toy-P does not
        // couple e₃ to u) is +0 in both runs, as round-to-nearest makes every exact cancellation, so u is
        // compared by value. Everything computed from it below is compared bit for bit.
        assert!(a.dagger.u == neg_bu, "claim 2: u not negated at step {t}");
        assert!(bits_eq(&a.dagger.theta, &b.dagger.theta), "claim 2: θ† differs at step {t}");
        assert!(bits_eq(&a.v, &b.v) && bits_eq(&a.v_gen, &b.v_gen), "claim 2: v differs at step {t}");
        assert!(bits_eq(&a.theta, &b.theta), "claim 2: GD differs at step {t}");
        // The monitors are invariant and the slice F(x) = L(θ† + xu) is mirrored: F along −u at x is
        // F along u at −x, bit for bit.
        let (ma, sa) = selfstab::monitors::observe(&m, &a.dagger, &a.theta, Some(&a.v), t, o.eig_tol).unwrap();
        let (mb, sb) = selfstab::monitors::observe(&m, &b.dagger, &b.theta, Some(&b.v), t, o.eig_tol).unwrap();
        // Debug text: the shortest round-trip digits and the sign of a zero, i.e. bit for bit (`==`
        // takes −0 for +0).
        assert_eq!(format!("{ma:?}"), format!("{mb:?}"), "claim 2: a monitor changed under u → −u at step {t}");
        assert!(!sa.is_empty() && sa.len() == sb.len(), "claim 2: slices of {} and {} points at step {t}", sa.len(), sb.len());
        for (pa, pb) in sa.iter().zip(sb.iter().rev()) {
            assert!(format!("{:?}", (-pa.1, &pa.2)) == format!("{:?}", (&pb.1, &pb.2)), "claim 2: slice not mirrored at step {t}: {pa:?} vs {pb:?}");
        }
        let (ra, _) = tracking::step(&m, m.eta(), &mut a, &o).unwrap();
        let (rb, _) = tracking::step(&m, m.eta(), &mut b, &o).unwrap();
        // Reported quantities: equal except the signs of x, x_gd, x_gen and of the Newton
        // coordinate (newton_x = u·∇L/S and proj_residual_u = u·∇L), as claims.md states.
        let flipped = |p: f64, q: f64| p.to_bits() == (-q).to_bits();
        assert!(flipped(ra.x, rb.x) && flipped(ra.x_gd, rb.x_gd) && flipped(ra.x_gen, rb.x_gen));
        assert!(flipped(ra.newton_x, rb.newton_x) && flipped(ra.proj_residual_u, rb.proj_residual_u));
        let strip = |r: &selfstab::tracking::Row| {
            let mut r = r.clone();
            (r.x, r.x_gd, r.x_gen, r.newton_x, r.proj_residual_u, r.step_seconds) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
            r
        };
        assert_eq!(format!("{:?}", strip(&ra)), format!("{:?}", strip(&rb)), "claim 2: a reported quantity changed under u → −u at step {t}");
    }
}

#[test]
fn claim_02_projection_and_predicted_steps_bitwise_invariant_f64() {
    claim_02_pipeline_generic::<f64>(());
}

#[test]
fn claim_02_projection_and_predicted_steps_bitwise_invariant_mpfr256() {
    claim_02_pipeline_generic::<Float>(256);
}

// ---------- claims 12, 13 at two precisions: the error scales with 2^-bits, not with t ----------

/// Worst ‖θ − θ† − v‖/δ and worst |reduced-map residual| (claim 12, relative to δ and √α) over
/// N = 20/h steps of Toy-C at h = 0.02 (decisions §6: h ∈ [0.005, 0.02], N = 20/h).
fn exactness_at(bits: u32, alpha_text: &str, n: u64) -> (f64, f64) {
    let (w12, w13) = exactness_at_mag(bits, alpha_text, n);
    (w12.to_f64(), w13.to_f64())
}

/// [`exactness_at`] as [`Mag`]s (the same values where they are normal f64s; beyond 1,024 bits
/// the errors lie below f64's range).
fn exactness_at_mag(bits: u32, alpha_text: &str, n: u64) -> (Mag, Mag) {
    let c = bits;
    let m = model::<Float>(alpha_text, "0.3", c);
    let (eta, alpha, beta) = (m.eta().clone(), m.alpha(), m.beta());
    let half = Float::from_f64(0.5, c);
    let (delta, sqa) = (m.delta().to_mag(), alpha.clone().sqrt().to_mag());
    let st = ideal_start(&m, c);
    let mut prev: Option<(Float, Float)> = None;
    let mut w12 = Mag::ZERO;
    let w13 = run_max_err_mag(&m, st, n, |s| {
        let x = s.theta[0].clone();
        let y = m.y_of(&s.theta);
        if let Some((xp, yp)) = &prev {
            let xr = -(Float::one(c) + &(eta.clone() * yp)) * xp;
            let yr = yp.clone() + &(eta.clone() * &(alpha.clone() - &(beta.clone() * &half * xp * xp)));
            w12 = w12.max(((x.clone() - &xr).abs().to_mag() / delta).max((y.clone() - &yr).abs().to_mag() / sqa));
        }
        prev = Some((x, y));
    });
    (w12, w13)
}

#[test]
fn claims_12_13_error_scales_with_unit_roundoff_256_and_1024_bits() {
    // MPFR is correctly rounded, so these constants C = err/eps are the same on every machine.
    // Measured (h = 0.02, 0.01, 0.005; N = 20/h):
    //   claim 12: C = 4.419 at 256 and at 1024 bits for every h (ratio 1.00);
    //   claim 13: C = 1878.9 / 398.9, 4810.3 / 286.0, 561.5 / 433.4 (256 / 1024 bits).
    // Claim 12 scales exactly with 2^-bits. Claim 13 stays within 10·N·eps at both precisions (exact
    // to working precision), but its constant varies with h at 256 bits and the 256/1024 ratio
    // (4.71, 16.8, 1.30) exceeds decisions §6's factor 4 at two of three h: a finding, recorded in
    // theory/README.md; the test pins the measured constants to their 6 recorded significant
    // digits (claim 12's to 4.419 at both precisions), so any change shows: they are exactly
    // reproducible, though any change in the order of operations moves them (until session 42
    // pinned within 1 %, and claim 12's ratio only within decisions §6's factor 4).
    let cases = [("0.0004", 1000u64, 1878.900, 398.906), ("0.0001", 2000, 4810.334, 286.047), ("0.000025", 4000, 561.539, 433.358)];
    for (alpha, n, c13_256, c13_1024) in cases {
        let (a12, a13) = exactness_at(256, alpha, n);
        let (b12, b13) = exactness_at(1024, alpha, n);
        let (e256, e1024) = (Float::eps(256), Float::eps(1024));
        let (c12a, c12b, c13a, c13b) = (a12 / e256, b12 / e1024, a13 / e256, b13 / e1024);
        eprintln!("α = {alpha}: claim 12 C = {c12a:.3} / {c12b:.3}; claim 13 C = {c13a:.3} / {c13b:.3}");
        for (cv, what) in [(c12a, "12@256"), (c12b, "12@1024"), (c13a, "13@256"), (c13b, "13@1024")] {
            assert!(cv <= 10.0 * n as f64, "claim {what}: error = {cv:e}·eps exceeds 10·N·eps (α = {alpha})");
        }
        let r12 = c12a / c12b;
        assert!((0.25..=4.0).contains(&r12), "claim 12: C(256)/C(1024) = {r12} (α = {alpha})");
        common::recorded(&format!("claim 12 at 256 bits, α = {alpha}: C"), c12a, 4.419, 3);
        common::recorded(&format!("claim 12 at 1024 bits, α = {alpha}: C"), c12b, 4.419, 3);
        for (got, want, what) in [(c13a, c13_256, "256"), (c13b, c13_1024, "1024")] {
            common::recorded_significant(&format!("claim 13 at {what} bits, α = {alpha}: C"), got, want, 6);
        }
    }
}

#[test]
fn claims_12_13_error_scales_with_unit_roundoff_at_2048_and_4096_bits() {
    // Beyond f64's range (the engine's tolerances and these errors are `Mag`s): at h = 0.02
    // (N = 1000) the errors must stay within 10·N·eps (exact to working precision), claim 12's
    // constant must be the 4.419 it is at 256 and 1024 bits, and claim 13's is pinned to its
    // measured value (MPFR is correctly rounded: the same on every machine).
    for (bits, c13_want) in [(2048u32, C13_2048), (4096, C13_4096)] {
        let (e12, e13) = exactness_at_mag(bits, "0.0004", 1000);
        let eps = Float::eps_mag(bits);
        let (c12, c13) = ((e12 / eps).to_f64(), (e13 / eps).to_f64());
        eprintln!("{bits} bits: claim 12 err {e12:.3e} = {c12:.3}·eps, claim 13 err {e13:.3e} = {c13:.3}·eps");
        assert!(c12 <= 10.0 * 1000.0 && c13 <= 10.0 * 1000.0, "{bits} bits: C = {c12:e}, {c13:e} exceed 10·N");
        common::recorded(&format!("claim 12 at {bits} bits: C"), c12, 4.419, 3);
        common::recorded_significant(&format!("claim 13 at {bits} bits: C"), c13, c13_want, 6);
    }
}

/// Claim 13's constants C = err/eps at 2048 and 4096 bits (h = 0.02, N = 1000), measured.
const C13_2048: f64 = 336.027;
/// See [`C13_2048`].
const C13_4096: f64 = 266.936;

/// Least-squares slope of `ys` against `xs`, with its standard error and the residual SD.
fn line_fit(xs: &[f64], ys: &[f64]) -> (f64, f64, f64) {
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let slope = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum::<f64>() / sxx;
    let sd = (xs.iter().zip(ys).map(|(x, y)| (y - my - slope * (x - mx)).powi(2)).sum::<f64>() / (n - 2.0)).sqrt();
    (slope, sd / sxx.sqrt(), sd)
}

#[test]
fn claims_12_13_error_slope_in_bits_is_minus_one() {
    // The law behind the two-precision constants above: over 13 precisions 256, 320, …, 1024
    // (h = 0.02, N = 1000) the least-squares slope of log₂(max err) against bits must be −1 within
    // 0.01. Budget: claim 13's constants scatter (C = 86…1879, residual SD 1.41 in log₂ about the
    // fit), so the slope's SE over 768 bits is ≈ SD/√(Σ(b−b̄)²) ≈ 0.0016 and 0.01 is ≈ 6 SE (measured
    // −1.0003 ± 0.0016); claim 12's constant is the same at every precision (4.419), slope −1.00000.
    let bits: Vec<u32> = (256..=1024).step_by(64).collect();
    let xs: Vec<f64> = bits.iter().map(|&b| b as f64).collect();
    let (mut y12, mut y13) = (Vec::new(), Vec::new());
    for &b in &bits {
        let (e12, e13) = exactness_at(b, "0.0004", 1000);
        y12.push(e12.log2());
        y13.push(e13.log2());
    }
    let c13: Vec<f64> = bits.iter().zip(&y13).map(|(&b, y)| 2f64.powf(*y) / Float::eps(b)).collect();
    let (s12, se12, sd12) = line_fit(&xs, &y12);
    let (s13, se13, sd13) = line_fit(&xs, &y13);
    eprintln!("claim 13: C over bits 256..1024 step 64 = {c13:.1?}");
    eprintln!("slope of log₂ err vs bits: claim 12 {s12:.5} ± {se12:.5} (SD {sd12:.3}), claim 13 {s13:.5} ± {se13:.5} (SD {sd13:.3})");
    assert!((s12 + 1.0).abs() <= 0.01, "claim 12: err ∝ 2^({s12}·bits)");
    assert!((s13 + 1.0).abs() <= 0.01, "claim 13: err ∝ 2^({s13}·bits) ± {se13}");
}

// ---------- claim 3: the projection from {x = 0}, with c₄, and from an a·w-dominated excess ----------

/// Toy-C with a general direction a (β = 2.05, not a coordinate axis), α = g·a = 0.376.
fn general_spec() -> CubicSpec {
    let mut s = CubicSpec::reference("0.01", "0.3");
    s.a = vec!["0.6".into(), "1.2".into(), "0.5".into()];
    s.g = vec!["0.01".into(), "0.3".into(), "0.02".into()];
    s
}

/// ONE linearised projection step from θ = (0, w) with a·w > 0 (S = 2/η + a·w > 2/η): per case
/// (label, ε/(2/η) before, |S₁ − 2/η|/(2/η) and |u₁·∇L₁|/‖∇L₁‖ after, both in eps of the precision).
fn claim_03_from_x_zero<S: Scalar>(c: S::Ctx) -> Vec<(&'static str, f64, f64, f64)> {
    let cases: [(&'static str, CubicSpec, [&str; 3]); 5] = [
        ("a = e₁, h = 0.1, a·w = 0.05", CubicSpec::reference("0.01", "0.3"), ["0.05", "0.7", "0"]),
        ("a = e₁, h = 0.1, a·w = 1e-4", CubicSpec::reference("0.01", "0.3"), ["0.0001", "-2.1", "0.3"]),
        ("a = e₁, h = 0.05, a·w = 0.37", CubicSpec::reference("0.0025", "0.3"), ["0.37", "0", "-1"]),
        ("general a (β = 2.05), a·w = 0.061", general_spec(), ["0.01", "0.02", "0.062"]),
        ("general a (β = 2.05), a·w = 0.7", general_spec(), ["0.5", "-0.1", "1.04"]),
    ];
    let tol = EigenOpts::default_tol::<S>(c);
    let eps = S::eps(c);
    cases
        .into_iter()
        .map(|(what, spec, w)| {
            let m = Cubic::<S>::new(&spec, c).unwrap();
            let two = S::from_i64(2, c) / m.eta();
            let mut theta = vec![S::zero(c)];
            theta.extend(w.iter().map(|t| S::parse(t, c).unwrap()));
            let u0 = [S::one(c), S::zero(c), S::zero(c), S::zero(c)];
            let c0 = center(&m, &theta, Some(&u0), tol).unwrap();
            let excess = c0.sharpness.clone() - &two;
            assert!(excess > S::zero(c), "claim 3: {what}: start not above 2/η");
            let c1 = selfstab::stable_set::lin_proj(&m, m.eta(), &c0, tol).unwrap();
            let rs = ((c1.sharpness.clone() - &two) / &two).abs().to_f64() / eps;
            let ru = (dot(&c1.u, &c1.grad) / &norm(&c1.grad)).abs().to_f64() / eps;
            (what, (excess / &two).to_f64(), rs, ru)
        })
        .collect()
}

fn claim_03_from_x_zero_check(rows: &[(&str, f64, f64, f64)], prec: &str) {
    for (what, e, rs, ru) in rows {
        eprintln!("claim 3 ({prec}): {what}: ε/(2/η) = {e:.3e}; after ONE step |S − 2/η|/(2/η) = {rs:.2} eps, |u·∇L|/‖∇L‖ = {ru:.2} eps");
        // On {x = 0} of Toy-C: H = diag(2/η + a·w, 0, …), u = eₓ, u·∇L = 0 and ∇S = ∇S⊥ = (0, a), so
        // the Gauss–Newton step w ← w − (ε/β)a lands exactly on a·w = 0, S = 2/η, and the Newton part
        // is zero. Left: a few roundings of O(1) numbers (measured ≤ 0.5 eps in f64, 0 at 256 bits);
        // bound 8 eps. (From x ≠ 0 the residuals after one step are O(h²) relative instead, see
        // `claim_03_projection_overshoot_and_newton_ratio_f64`.)
        assert!(*rs <= 8.0 && *ru <= 8.0, "claim 3 ({prec}): {what}: residuals {rs} eps, {ru} eps");
    }
}

#[test]
fn claim_03_one_projection_from_x_zero_is_exact_f64() {
    claim_03_from_x_zero_check(&claim_03_from_x_zero::<f64>(()), "f64");
}

#[test]
fn claim_03_one_projection_from_x_zero_is_exact_mpfr256() {
    claim_03_from_x_zero_check(&claim_03_from_x_zero::<Float>(256), "256 bits");
}

/// (ε, (2/η − S)/ε) after 3 linearised steps from θ₀ (η = 1), ε = S(θ₀) − 2/η.
fn claim_03_overshoot(spec: &CubicSpec, theta0: &[f64]) -> (f64, f64) {
    let m = Cubic::<f64>::new(spec, ()).unwrap();
    let c0 = center(&m, theta0, Some(&[1.0, 0.0, 0.0, 0.0]), Mag::new(1e-13)).unwrap();
    let thr = 2.0 / m.eta();
    let eps0 = c0.sharpness - thr;
    let mut cur = c0;
    for _ in 0..3 {
        cur = selfstab::stable_set::lin_proj(&m, m.eta(), &cur, Mag::new(1e-13)).unwrap();
    }
    (eps0, (thr - cur.sharpness) / eps0)
}

#[test]
fn claim_03_c4_overshoot_is_one_and_a_half_excess_f64() {
    // Toy-P with c₄x⁴/24 from the authors' initialisation θ₀ = (x₀, 0), x₀ = 0.1δ, η = β = 1.
    // Leading order (s₀ = 2/η): ε = (1 + c₄)x₀²/2; the Gauss–Newton part moves a·w by −ε, the
    // Newton part removes x along u ≈ (1, x₀/s₀), which moves a·w by a further −x₀²/2, and after
    // it S = 2/η + a·w. So (2/η − S)/ε = (c₄ + 2)/(c₄ + 1): 2 for Toy-C, 1.5 for c₄ = 1 (claims.md).
    // Measured (h = 0.1 / 0.05): c₄ = 1: 1.49892 / 1.49973; c₄ = 3: 1.24975 / 1.24994 (5/4);
    // c₄ = 0.5: 1.66513 / 1.66628 (5/3). The deviation is O(x₀²) = O(h²): 5.4, 1.25, 7.7 × x₀²
    // at both h, so it drops 4× per halving of h. Bound: 0.01 (≥ 6× the largest deviation, 1.54e-3,
    // and 50× below the distance 0.5 between 1.5 and Toy-C's 2), plus the 4× drop (ratio 0.2–0.3).
    for (c4, leading) in [("1", 1.5f64), ("3", 1.25), ("0.5", 5.0 / 3.0)] {
        let mut dev = vec![];
        for (alpha, h) in [("0.01", 0.1f64), ("0.0025", 0.05)] {
            let mut spec = CubicSpec::reference(alpha, "0.3");
            spec.c4 = c4.into();
            let x0 = 0.1 * (2.0 * h * h).sqrt();
            let (eps0, below) = claim_03_overshoot(&spec, &[x0, 0.0, 0.0, 0.0]);
            eprintln!("claim 3 (c₄ = {c4}): h = {h}: ε = {eps0:.4e}, (2/η − S)/ε = {below:.5} (leading order {leading:.5})");
            assert!((below - leading).abs() <= 0.01, "claim 3 (c₄ = {c4}, h = {h}): (2/η − S)/ε = {below} vs {leading}");
            dev.push((below - leading).abs());
        }
        let q = dev[1] / dev[0];
        assert!((0.2..=0.3).contains(&q), "claim 3 (c₄ = {c4}): deviation ratio {q} between h = 0.1 and 0.05 (O(h²): 0.25)");
    }
    // General η and β (a = √β·e₁, h = 0.05): the Newton part's extra move of a·w scales with ηβ,
    // so to leading order (2/η − S)/ε = (c₄ + 2ηβ)/(c₄ + ηβ), which is claims.md's 1.5 for c₄ = 1
    // only at ηβ = 1 (measured 1.33330 at η = 0.5, 1.66612 at β = 2, 1.33305 at η = 2, β = 0.25).
    for (eta, sb, beta) in [("0.5", "1", 1.0f64), ("1", "1.4142135623730951", 2.0), ("2", "0.5", 0.25)] {
        let mut spec = CubicSpec::reference("0.0025", "0.3");
        (spec.eta, spec.a[0], spec.c4) = (eta.into(), sb.into(), "1".into());
        let m = Cubic::<f64>::new(&spec, ()).unwrap();
        let x0 = 0.1 * m.delta();
        let (eps0, below) = claim_03_overshoot(&spec, &[x0, 0.0, 0.0, 0.0]);
        let eb = m.eta() * beta;
        let leading = (1.0 + 2.0 * eb) / (1.0 + eb);
        eprintln!("claim 3 (c₄ = 1, η = {eta}, β = {beta}): ε = {eps0:.4e}, (2/η − S)/ε = {below:.5} (leading order (c₄ + 2ηβ)/(c₄ + ηβ) = {leading:.5})");
        assert!((below - leading).abs() <= 0.01, "claim 3 (η = {eta}, β = {beta}): {below} vs {leading}");
    }
}

#[test]
fn claim_03_a_w_excess_overshoot_is_twice_the_x_part_f64() {
    // Start θ₀ = (x₀, w₀) with a·w₀ = y₀ > 0 (Toy-C, η = β = 1). ε = y₀ + ε_x, ε_x ≈ x₀²/2 the part
    // of the excess from x. By the same bookkeeping as with c₄: a·w ends at y₀ − ε − x₀²/2 = −x₀²,
    // so the overshoot below 2/η is x₀² = 2ε_x: twice the x-part, whatever y₀ is. Hence it is under
    // 1% of ε iff a·w carries ≥ 99.5% of the excess; with 99% from a·w it is ≈ 2% (measured 1.98%).
    // Measured (2/η − S)/ε (h = 0.1 / 0.05) for (x₀/δ, y₀/α):
    //   (0, 0.01): 2.2e-12 / 0 (rounding of S − 2/η ≈ 1e-4: ≤ 1 ulp of 2/η);
    //   (0.001, 0.01): 1.9974e-4 / 1.9992e-4;  (0.003, 0.01): 1.7962e-3 / 1.7978e-3;
    //   (0.01, 1): 2.0023e-4 / 2.0004e-4;  (0.01, 0.01): 1.9778e-2 / 1.9796e-2 (x-part 0.99%);
    //   (0.1, 1): 1.9827e-2 / 1.9808e-2 (x-part 0.99%).
    // Asserted: overshoot ≥ 0 (one-sided) and = 2ε_x within 2% relative (the corrections are
    // O(y₀/s₀) ≤ 0.5%: measured ≤ 0.63%); x = 0: |2/η − S| ≤ 4 ulps of 2/η; under 1% of ε whenever
    // ε_x ≤ 0.5% of ε (x = 0 or tiny x, the cases claims.md means); above 1% at ε_x ≈ 1%.
    for (alpha, h) in [("0.01", 0.1f64), ("0.0025", 0.05)] {
        let spec = CubicSpec::reference(alpha, "0.3");
        let delta = (2.0 * h * h).sqrt();
        for (xf, yk) in [(0.0, 0.01), (0.001, 0.01), (0.003, 0.01), (0.01, 1.0), (0.01, 0.01), (0.1, 1.0)] {
            let (x0, y0) = (xf * delta, yk * h * h);
            let (eps0, below) = claim_03_overshoot(&spec, &[x0, y0, 0.0, 0.0]);
            let share_x = (eps0 - y0) / eps0;
            eprintln!("claim 3 (a·w excess): h = {h}: x₀ = {xf}δ, a·w = {yk}α: ε = {eps0:.4e}, x-part {share_x:.3e} of ε, (2/η − S)/ε = {below:.4e} (2·x-part {:.4e})", 2.0 * share_x);
            if xf == 0.0 {
                assert!((below * eps0).abs() <= 4.0 * 2.0 * f64::EPSILON, "claim 3: x = 0 overshoot {:e}", below * eps0);
                continue;
            }
            assert!(below > 0.0, "claim 3: the S-correction should be one-sided (overshoot {below:e})");
            assert!((below / (2.0 * share_x) - 1.0).abs() <= 0.02, "claim 3: overshoot {below:e} ε vs 2·x-part {:e}", 2.0 * share_x);
            if share_x <= 0.005 {
                assert!(below < 0.01, "claim 3: a·w carries {:.2}% of ε but overshoot = {:.3}% of ε", 100.0 * (1.0 - share_x), 100.0 * below);
            } else {
                assert!(below > 0.01, "claim 3: x-part {share_x} but overshoot only {below}");
            }
        }
    }
}

// ---------- claim 14: GD's loss is monotone only while η‖g⊥‖² beats the oscillation ----------

/// (number of steps t < N with L(θ_{t+1}) > L(θ_t), smallest |L(θ_{t+1}) − L(θ_t)| in ulps of L)
/// for GD on Toy-C with g = (α, ‖g⊥‖, 0) from θ₀ = (0.1δ, 0) (the ideal split's θ₀).
fn claim_14_increases(alpha: &str, g2: &str, n: u64) -> (u64, f64) {
    let m = model::<f64>(alpha, g2, ());
    let mut th = vec![0.1 * m.delta(), 0.0, 0.0, 0.0];
    let mut g = vec![0.0; 4];
    let mut prev = selfstab::gd::gd_step(&m, m.eta(), &mut th, &mut g).unwrap();
    let mut ups = 0;
    let mut margin = f64::INFINITY;
    for _ in 0..n {
        let l = selfstab::gd::gd_step(&m, m.eta(), &mut th, &mut g).unwrap();
        if l > prev {
            ups += 1;
        }
        margin = margin.min((l - prev).abs() / (f64::EPSILON * l.abs().max(prev.abs())));
        prev = l;
    }
    (ups, margin)
}

#[test]
fn claim_14_gd_loss_increase_counts_f64() {
    // claims.md 14: with g = (α, 0.3, 0) GD's loss is monotone for h ≤ 0.05 (0 increases in 400–1600
    // steps); with ‖g⊥‖ = 0.03 it rises on 43 of 400 steps at h = 0.05 (98 with 0.003). Measured
    // exactly these, and 2 of 200 at h = 0.1 (‖g⊥‖ = 0.3: "h ≤ 0.05" is where monotonicity starts).
    // The counts are integers of the deterministic f64 generic path, and robust ones: the smallest
    // loss change over every run is 2.29e10 ulps of L (per run 2.29e10 … 1.08e13; asserted ≥ 1e6
    // ulps), so no rounding-level change of the implementation can flip a comparison. The counts
    // are asserted exactly.
    let cases = [
        ("0.0025", "0.3", 400u64, 0u64),
        ("0.000625", "0.3", 800, 0),
        ("0.00015625", "0.3", 1600, 0),
        ("0.0025", "0.03", 400, 43),
        ("0.0025", "0.003", 400, 98),
        ("0.01", "0.3", 200, 2),
    ];
    for (alpha, g2, n, want) in cases {
        let (ups, margin) = claim_14_increases(alpha, g2, n);
        eprintln!("claim 14: α = {alpha}, ‖g⊥‖ = {g2}: L(θ) rises on {ups} of {n} steps (expected {want}); min |ΔL| = {margin:.3e} ulps of L");
        assert_eq!(ups, want, "claim 14: α = {alpha}, ‖g⊥‖ = {g2}: {ups} increases in {n} steps");
        assert!(margin >= 1e6, "claim 14: a loss change within {margin:e} ulps: the count is not robust");
    }
}

// ---------- claim 16: the sharpness offset S(θ) − (2/η + y) in units of √α ----------

/// max_t |S(θ_t) − (2/η + y_t)|/√α over N steps of the ideal-split run (x₀ = 0.1δ), with
/// y_t = ∇S⊥(θ†_t)·(θ_t − θ†_t) (= a·w_t on Toy-C) and S(θ_t) from the engine's eigen solve.
fn claim_16_offset(alpha: &str, n: u64) -> f64 {
    let m = model::<f64>(alpha, "0.3", ());
    let sa = m.alpha().sqrt();
    let st = ideal_start(&m, ());
    let mut worst = 0.0f64;
    let mut warm = vec![1.0, 0.0, 0.0, 0.0];
    let _ = run_max_err(&m, st, n, |s| {
        let y = dot(&s.dagger.grad_s_perp, &sub(&s.theta, &s.dagger.theta));
        let c = center(&m, &s.theta, Some(&warm), Mag::new(1e-13)).unwrap();
        worst = worst.max((c.sharpness - (2.0 + y)).abs() / sa);
        warm = c.u;
    });
    worst
}

#[test]
fn claim_16_sharpness_offset_reference_values_f64() {
    // claims.md 16: max_t |S(θ_t) − (2/η + y_t)|/√α = 2.41, 0.97, 0.26, 0.10 for h = 0.1 … 0.0125,
    // in the reference setting (ideal split, x₀ = 0.1δ, τ = 20; the setting of the claim-16 identity
    // and order tests). Measured 2.40991, 0.96530, 0.26057, 0.10135 (the reduced iteration's E/h at
    // h = 0.0125, 8.11, gives the same 0.101). Bound: `reproduces` (the quoted digits).
    let cases = [("0.01", 200u64, 2.41, 0.005), ("0.0025", 400, 0.97, 0.005), ("0.000625", 800, 0.26, 0.005), ("0.00015625", 1600, 0.10, 0.005)];
    for (alpha, n, reference, half) in cases {
        let e = claim_16_offset(alpha, n);
        eprintln!("claim 16: α = {alpha}: max|S − (2/η + y)|/√α = {e:.5} (reference {reference})");
        assert!(reproduces(e, reference, half), "claim 16: α = {alpha}: {e} vs {reference}");
    }
}

// ---------- claim 17 at smaller h ----------

#[test]
fn claim_17_authors_initialisation_error_small_h_f64() {
    // claims.md 17: 5.5e-4, 2.6e-4, 1.26e-4 at h = 0.00625, 0.003125, 0.0015625 (x₀ = 0.1δ, τ = 20;
    // N = 3200, 6400, 12800 tracking steps, ≈ 0.1–0.2 s each). Measured 5.54177e-4, 2.60256e-4,
    // 1.26185e-4: within `reproduces`. First order: each halving of h halves the error up to the
    // pre-asymptotic bend (local orders 1.09, 1.04; asserted within 0.1 of 1), and r/h = 0.0808 at
    // h = 0.0015625 (claims.md "≈ 0.08h"; the 5-decade study's limit 0.0783, theory/README.md;
    // asserted within 5% of 0.08).
    let cases = [("0.0000390625", 3200u64, 5.5e-4, 0.05e-4), ("0.000009765625", 6400, 2.6e-4, 0.05e-4), ("0.00000244140625", 12800, 1.26e-4, 0.005e-4)];
    let mut errs = vec![];
    for (alpha, n, reference, half) in cases {
        let e = claim_17_err(alpha, n);
        eprintln!("claim 17: α = {alpha}: max ‖r‖/δ = {e:.5e} (reference {reference})");
        assert!(reproduces(e, reference, half), "claim 17: α = {alpha}: {e} vs {reference}");
        errs.push(e);
    }
    for k in 0..2 {
        let p = (errs[k] / errs[k + 1]).log2();
        assert!((p - 1.0).abs() <= 0.1, "claim 17: local order {p}");
    }
    let c = errs[2] / 0.0015625;
    assert!((c / 0.08 - 1.0).abs() <= 0.05, "claim 17: r/h = {c}");
}
