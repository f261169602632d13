//! Claims 18–22 on the perturbed cubic family (Toy-P of claims.md; models.md §2, reference.md §5–§6.3).
//!
//! Setting (claims.md, decisions.md §6): η = 1, a = e₁ (β = 1), g = (α, 0.3, 0), d = 3, e = e₃,
//! ideal split θ†₀ = (0, 0), v₀ = (x₀, 0) with x₀ = 0.1δ, horizon τ = 20 (N = 20/h steps),
//! h = η√α with α varied. Orders are fitted only on the asymptotic range (h ≤ 0.0125; h ≤ 0.003 for
//! claim 21) over ≥ 8 points and ≥ 2 decades of h, unless a test says otherwise.
//!
//! The runs use a lockstep loop of the library's own pieces (`gd::gd_step`, `predicted::step` for
//! both kinds, `constrained::step` with 3 projection steps) instead of `tracking::step`, which would
//! add an eigen solve at θ per step that these errors do not need.
#![allow(clippy::disallowed_methods)] // test code may use std's libm (clippy.toml: library code may not)

mod common;
use common::{loglog_slope, reproduces};
use rug::Float;
use selfstab::constrained;
use selfstab::gd::gd_step;
use selfstab::linalg::{dot, norm, sub, zeros};
use selfstab::mag::Mag;
use selfstab::models::cubic::{Cubic, CubicSpec};
use selfstab::objective::Objective;
use selfstab::predicted::{self, Kind};
use selfstab::scalar::Scalar;
use selfstab::sharpness::{EigenOpts, center};

/// One Toy-P perturbation (claims.md D).
#[derive(Clone, Copy, Debug)]
enum Pert {
    /// c₄x⁴/24 (claim 18).
    C4(&'static str),
    /// (b/4)(a·w)²x² (claim 18).
    B(&'static str),
    /// (κ/2)(a·w)² (claim 19).
    Kappa(&'static str),
    /// c(e₃·w)x³ (claim 20).
    CE3(&'static str),
    /// c(e₂·w)x³, e₂ along g⊥ (claim 20).
    CE2(&'static str),
    /// c(e₁·w)x³ = c(a·w)x³, the coupling along a itself (claim 20: "e₁ = a instead").
    CE1(&'static str),
    /// (c₃/6)(a·w)³ (claim 21).
    C3(&'static str),
}

fn spec(alpha: &str, p: Pert) -> CubicSpec {
    let mut s = CubicSpec::reference(alpha, "0.3");
    match p {
        Pert::C4(v) => s.c4 = v.into(),
        Pert::B(v) => s.b = v.into(),
        Pert::Kappa(v) => s.kappa = v.into(),
        Pert::CE3(v) => s.c = v.into(),
        Pert::CE2(v) => {
            s.c = v.into();
            s.e = vec!["0".into(), "1".into(), "0".into()];
        }
        Pert::CE1(v) => {
            s.c = v.into();
            s.e = vec!["1".into(), "0".into(), "0".into()];
        }
        Pert::C3(v) => s.c3 = v.into(),
    }
    s
}

/// α = h² as decimal text (η = 1), exact for the h used here (h = k·2⁻ʲ or short decimals).
fn alpha_text(h: f64) -> String {
    let a = h * h;
    format!("{a:e}")
}

/// Worst errors over a run (all divided by δ, or by the stated unit).
#[derive(Clone, Debug, Default)]
struct Errs {
    /// max_t ‖θ_t − θ†_t − v_t‖/δ, standard dynamics.
    r_std: f64,
    /// Same for the generalized dynamics.
    r_gen: f64,
    /// max_t |L(θ†+v) − L(θ)| / (δ²/η), standard v.
    loss_pred: f64,
    /// max_t |S(θ†+v) − S(θ)| / √α.
    sharp_pred: f64,
    /// max_t |L(θ†) + x²/η − L(θ)| / (δ²/η).
    loss_formula: f64,
    /// max_t |S(θ†) + ∇S⊥·v − S(θ)| / √α.
    sharp_formula: f64,
    /// Steps taken.
    steps: u64,
}

/// Run GD, θ† and both predictions in lockstep for n steps from the ideal split with x₀ = frac·δ.
/// With `ls` the L/S errors of claim 22 are also measured (three extra eigen solves per step).
fn run<S: Scalar>(m: &Cubic<S>, n: u64, frac: &str, ls: bool) -> Result<Errs, String> {
    let c = m.ctx();
    let eta = m.eta().clone();
    let tol = EigenOpts::default_tol::<S>(c);
    let p = m.dim();
    let delta = m.delta();
    let (df, sa) = (delta.to_f64(), m.alpha().sqrt().to_f64());
    let dsq_eta = df * df / eta.to_f64();
    let mut v = zeros::<S>(p, c);
    v[0] = delta.clone() * &S::parse(frac, c).unwrap();
    let mut vg = v.clone();
    let mut u0 = zeros::<S>(p, c);
    u0[0] = S::one(c);
    let mut dag = center(m, &zeros::<S>(p, c), Some(&u0), tol).map_err(|e| e.to_string())?;
    let mut theta = v.clone();
    let mut grad = zeros::<S>(p, c);
    let mut e = Errs::default();
    for t in 0..=n {
        let dev = sub(&theta, &dag.theta);
        e.r_std = e.r_std.max(norm(&sub(&dev, &v)).to_f64() / df);
        e.r_gen = e.r_gen.max(norm(&sub(&dev, &vg)).to_f64() / df);
        if ls {
            let cg = center(m, &theta, Some(&dag.u), tol).map_err(|e| e.to_string())?;
            let mut q = dag.theta.clone();
            for (qi, vi) in q.iter_mut().zip(&v) {
                *qi += vi;
            }
            let cq = center(m, &q, Some(&dag.u), tol).map_err(|e| e.to_string())?;
            let (x, y) = predicted::xy(&dag, &v);
            e.loss_pred = e.loss_pred.max((cq.loss.clone() - &cg.loss).abs().to_f64() / dsq_eta);
            e.sharp_pred = e.sharp_pred.max((cq.sharpness.clone() - &cg.sharpness).abs().to_f64() / sa);
            let lf = dag.loss.clone() + &(x.clone() * &x / &eta);
            e.loss_formula = e.loss_formula.max((lf - &cg.loss).abs().to_f64() / dsq_eta);
            let sf = dag.sharpness.clone() + &y;
            e.sharp_formula = e.sharp_formula.max((sf - &cg.sharpness).abs().to_f64() / sa);
        }
        if t == n {
            break;
        }
        gd_step(m, &eta, &mut theta, &mut grad).map_err(|err| format!("GD failed at step {t}: {err}"))?;
        v = predicted::step(m, &eta, &dag, &v, Kind::Standard).map_err(|e| e.to_string())?;
        vg = predicted::step(m, &eta, &dag, &vg, Kind::Generalized).map_err(|e| e.to_string())?;
        dag = constrained::step(m, &eta, &dag, 3, tol).map_err(|e| format!("θ† failed at step {t}: {e}"))?.center;
        e.steps = t + 1;
    }
    Ok(e)
}

/// f64 run at h (α = h²), N = 20/h.
fn run_h(h: f64, pert: Pert, ls: bool) -> Errs {
    let m = Cubic::<f64>::new(&spec(&alpha_text(h), pert), ()).unwrap();
    let n = (20.0 / h).round() as u64;
    run(&m, n, "0.1", ls).unwrap()
}

/// h_k = h_max·10^(−2k/7), k = 0..7: 8 points over 2 decades (decisions.md §6).
fn two_decades(h_max: f64) -> Vec<f64> {
    (0..8).map(|k| h_max * 10f64.powf(-2.0 * k as f64 / 7.0)).collect()
}

fn check_refs(what: &str, pert: Pert, cases: &[(f64, f64, f64)], generalized: bool) {
    for &(h, reference, half_unit) in cases {
        let e = run_h(h, pert, false);
        let r = if generalized { e.r_gen } else { e.r_std };
        eprintln!("{what}: h = {h}: max ‖r‖/δ = {r:.5e} (reference {reference})");
        assert!(reproduces(r, reference, half_unit), "{what}: h = {h}: {r} vs reference {reference}");
    }
}

fn fmt(xs: &[f64]) -> String {
    xs.iter().map(|x| format!("{x:.4e}")).collect::<Vec<_>>().join(", ")
}

/// Errors along the 8-point, 2-decade grid below `h_max`, with the log-log slope and its SE.
fn order_study(what: &str, pert: Pert, h_max: f64, generalized: bool) -> (Vec<f64>, Vec<f64>, f64, f64) {
    let hs = two_decades(h_max);
    let errs: Vec<f64> = hs.iter().map(|&h| {
        let e = run_h(h, pert, false);
        if generalized { e.r_gen } else { e.r_std }
    }).collect();
    let (slope, se) = loglog_slope(&hs, &errs);
    let (hs_s, errs_s) = (fmt(&hs), fmt(&errs));
    eprintln!("{what}: h = {hs_s}\n  max ‖r‖/δ = {errs_s}\n  slope {slope:.4} ± {se:.4}");
    (hs, errs, slope, se)
}

// ---------------------------------------------------------------------------------------------
// Claim 18: c₄x⁴/24 and (b/4)(a·w)²x²
// ---------------------------------------------------------------------------------------------

/// Generalized dynamics on the c₄ toy: max_t ‖r‖/δ for h = 0.02, 0.01 (N = 1000, 2000).
fn claim_18_gen_generic<S: Scalar>(c: S::Ctx) -> Vec<(u64, f64)> {
    [("0.0004", 1000u64), ("0.0001", 2000)].iter().map(|&(alpha, n)| {
        let m = Cubic::<S>::new(&spec(alpha, Pert::C4("1")), c).unwrap();
        (n, run(&m, n, "0.1", false).unwrap().r_gen)
    }).collect()
}

#[test]
fn claim_18_c4_generalized_dynamics_exact_f64() {
    let errs = claim_18_gen_generic::<f64>(());
    eprintln!("claim 18 gen f64: (N, max ‖r‖/δ) = {errs:?}");
    // Rounding only, growing with t along the repelling focus (decisions.md §6): the bound
    // 10·N·eps is claim 13's; measured 6.3e-14 (N = 1000) and 9.7e-14 (N = 2000).
    for (n, e) in errs {
        assert!(e <= 10.0 * n as f64 * f64::EPSILON, "claim 18: generalized max ‖r‖/δ = {e:e} over {n} steps");
    }
}

#[test]
fn claim_18_c4_generalized_dynamics_exact_mpfr256() {
    let errs = claim_18_gen_generic::<Float>(256);
    eprintln!("claim 18 gen 256 bits: (N, max ‖r‖/δ) = {errs:?}");
    let eps = Float::eps(256);
    for (n, e) in errs {
        assert!(e <= 10.0 * n as f64 * eps, "claim 18 (256 bits): generalized max ‖r‖/δ = {e:e} over {n} steps");
    }
}

#[test]
fn claim_18_c4_standard_reference_values_f64() {
    // claims.md 18: 3.17, 1.08, 0.417, 0.230, 0.140, 0.0742, 0.0377 at h = 0.025·2⁻ᵏ.
    // Measured: 3.1737, 1.0807, 0.41674, 0.23124, 0.14051, 0.074235, 0.037689.
    let refs = [3.17, 1.08, 0.417, 0.230, 0.140, 0.0742, 0.0377];
    let halves = [0.005, 0.005, 0.0005, 0.0005, 0.0005, 0.00005, 0.00005];
    let cases: Vec<(f64, f64, f64)> = (0..7).map(|k| (0.025 / 2f64.powi(k), refs[k as usize], halves[k as usize])).collect();
    check_refs("claim 18 (c₄ = 1, standard)", Pert::C4("1"), &cases, false);
}

#[test]
fn claim_18_c4_standard_first_order_f64() {
    let (hs, errs, slope, se) = order_study("claim 18 (c₄ = 1, standard)", Pert::C4("1"), 0.0125, false);
    // Predicted order 1; the slope over 2 decades must be within 0.1 of 1 (decisions §6's rule for the
    // cubic families). Measured 0.9350 ± 0.0251, 2.6 SE below 1: the h = 0.0125 end is still
    // bending, so a 2-SE rule would fail on the fitted range; the last four points give
    // the asymptote more sharply: their slope must be within 0.05 of 1 (measured 0.986).
    assert!((slope - 1.0).abs() <= 0.1, "claim 18: slope {slope} ± {se}");
    let (tail, _) = loglog_slope(&hs[4..], &errs[4..]);
    eprintln!("claim 18: slope of the last 4 points {tail:.4}");
    assert!((tail - 1.0).abs() <= 0.05, "claim 18: tail slope {tail}");
    // Asymptotic constant ≈ 97 h (claims.md): the last point's ratio reproduces the quoted 97 by
    // the rule for quoted numbers (max(1 %, ½ unit)); measured 97.03.
    let k = errs[7] / hs[7];
    eprintln!("claim 18: max‖r‖/δ ÷ h at h = {:.3e}: {k:.2}", hs[7]);
    assert!(reproduces(k, 97.0, 0.5), "claim 18: constant {k} vs ≈ 97");
}

#[test]
fn claim_18_mixed_quartic_first_order_f64() {
    // claims.md 18: 0.41, 0.226, 0.116 at h = 0.003125, 0.0016 (= 0.0015625), 0.00078 (= 0.00078125).
    // Measured: 0.41126, 0.22594, 0.11611.
    check_refs("claim 18 (b = 1, standard)", Pert::B("1"), &[(0.003125, 0.41, 0.005), (0.0015625, 0.226, 0.0005), (0.00078125, 0.116, 0.0005)], false);
    let (hs, errs, slope, se) = order_study("claim 18 (b = 1, standard)", Pert::B("1"), 0.0125, false);
    // Measured 0.9119 ± 0.0229 over 8 points; order 1 ± 0.1, and the last four points within 0.05.
    assert!((slope - 1.0).abs() <= 0.1, "claim 18 (b): slope {slope} ± {se}");
    let (tail, _) = loglog_slope(&hs[4..], &errs[4..]);
    eprintln!("claim 18 (b): slope of the last 4 points {tail:.4}");
    assert!((tail - 1.0).abs() <= 0.05, "claim 18 (b): tail slope {tail}");
}

// ---------------------------------------------------------------------------------------------
// Claim 19: (κ/2)(a·w)²
// ---------------------------------------------------------------------------------------------

fn claim_19_exact_generic<S: Scalar>(c: S::Ctx) -> Vec<(u64, f64, f64)> {
    [("0.0004", "0.5", 1000u64), ("0.0001", "0.0003", 2000)].iter().map(|&(alpha, kappa, n)| {
        let m = Cubic::<S>::new(&spec(alpha, Pert::Kappa(kappa)), c).unwrap();
        let e = run(&m, n, "0.1", false).unwrap();
        (n, e.r_std, e.r_gen)
    }).collect()
}

#[test]
fn claim_19_kappa_both_dynamics_exact_f64() {
    let errs = claim_19_exact_generic::<f64>(());
    eprintln!("claim 19 f64: (N, std, gen) = {errs:?}");
    // The κ term is quadratic, so both predictions are exact; rounding bound 10·N·eps as in claim 13.
    for (n, a, b) in errs {
        assert!(a.max(b) <= 10.0 * n as f64 * f64::EPSILON, "claim 19: max ‖r‖/δ = {a:e}, {b:e} over {n} steps");
    }
}

#[test]
fn claim_19_kappa_both_dynamics_exact_mpfr256() {
    let errs = claim_19_exact_generic::<Float>(256);
    eprintln!("claim 19 256 bits: (N, std, gen) = {errs:?}");
    let eps = Float::eps(256);
    for (n, a, b) in errs {
        assert!(a.max(b) <= 10.0 * n as f64 * eps, "claim 19 (256 bits): {a:e}, {b:e} over {n} steps");
    }
}

/// GD on the κ toy from x₀ = δ(1 + 10⁻⁶), a·w = 0 (next to the period-2 orbit x = ±δ, y = 0):
/// least-squares log-rate per step of D_t = √(2ξ² + Y²), ξ = |x|/δ − 1, Y = y/h (the reduced map's
/// coordinates, in which the linearised 2-step rotation is nearly circular).
fn claim_19_rate(alpha: &str, kappa: &'static str, n: usize) -> f64 {
    let m = Cubic::<f64>::new(&spec(alpha, Pert::Kappa(kappa)), ()).unwrap();
    let (d, h) = (m.delta(), m.h());
    let mut th = vec![d * (1.0 + 1e-6), 0.0, 0.0, 0.0];
    let mut g = vec![0.0; 4];
    let (mut ts, mut ls) = (vec![], vec![]);
    for t in 0..n {
        let xi = th[0].abs() / d - 1.0;
        let y = m.y_of(&th) / h;
        ts.push(t as f64);
        ls.push((2.0 * xi * xi + y * y).sqrt().ln());
        gd_step(&m, m.eta(), &mut th, &mut g).unwrap();
    }
    let mt = ts.iter().sum::<f64>() / n as f64;
    let ml = ls.iter().sum::<f64>() / n as f64;
    let sxy: f64 = ts.iter().zip(&ls).map(|(t, l)| (t - mt) * (l - ml)).sum();
    let sxx: f64 = ts.iter().map(|t| (t - mt).powi(2)).sum();
    sxy / sxx
}

#[test]
fn claim_19_oscillation_decays_iff_kappa_beta_above_2_eta_alpha_f64() {
    // h = 0.05 (α = 0.0025, η = β = 1): threshold κ = 2ηα/β = 0.005; k = ηκβ = κ.
    let h = 0.05f64;
    for kappa in ["0", "0.0025", "0.0045", "0.0055", "0.0075", "0.01"] {
        let k: f64 = kappa.parse().unwrap();
        let rate = claim_19_rate("0.0025", kappa, 4000);
        let pred = 0.5 * (1.0 - k + 2.0 * h * h).ln();
        eprintln!("claim 19: κ = {kappa}: measured log-rate/step {rate:.4e}, ½log(1 − k + 2h²) = {pred:.4e}");
        // decays iff κβ > 2ηα
        assert_eq!(rate < 0.0, k > 2.0 * h * h, "claim 19: κ = {kappa}: rate {rate:e}");
        // and at the rate of claim 11 (k = ηκβ): measured within 3.6e-4 relative (the fit over 4000
        // steps averages out the O(h) ellipticity of D_t); bound 0.5%.
        assert!((rate / pred - 1.0).abs() <= 0.005, "claim 19: κ = {kappa}: rate {rate:e} vs {pred:e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Claim 20: c(e·w)x³
// ---------------------------------------------------------------------------------------------

#[test]
fn claim_20_e3_coupling_reference_values_f64() {
    // claims.md 20: 1.56, 0.31, 0.011, 0.00099 at h = 0.1 … 0.0125 (c = 0.2).
    // Measured: 1.5549, 0.31239, 0.010621, 0.00099039.
    check_refs("claim 20 (c = 0.2, e₃)", Pert::CE3("0.2"), &[(0.1, 1.56, 0.005), (0.05, 0.31, 0.005), (0.025, 0.011, 0.0005), (0.0125, 0.00099, 0.000005)], false);
}

#[test]
fn claim_20_e3_coupling_faster_than_first_order_f64() {
    let (_, errs, slope, se) = order_study("claim 20 (c = 0.2, e₃, standard)", Pert::CE3("0.2"), 0.0125, false);
    // decisions.md §6: pass if slope − 2·SE > 1.5.
    assert!(slope - 2.0 * se > 1.5, "claim 20: slope {slope} ± {se}");
    // The smallest error (≈ 5e-8) is far above the f64 rounding level of r (≈ 1e-12, claim 13).
    assert!(errs[7] > 1e3 * 1e-12);
}

#[test]
fn claim_20_e2_coupling_error_does_not_vanish_f64() {
    // Along g⊥ (e₂) e₂·w† grows by η‖g⊥‖ = 0.3 per step, so the coupling stops being small.
    let (hs, errs, slope, se) = order_study("claim 20 (c = 0.2, e₂, standard)", Pert::CE2("0.2"), 0.0125, false);
    // ≈ 13δ at h = 0.0125 (measured 12.55: claims.md's 13 reproduced by the rule for quoted
    // numbers, max(1 %, ½ unit)), and ≥ 12δ on all 8 points (12.49 … 13.31).
    assert!(reproduces(errs[0], 13.0, 0.5), "claim 20: {} at h = 0.0125", errs[0]);
    assert!(errs.iter().all(|&e| e >= 12.0), "claim 20: {errs:?}");
    assert!(slope.abs() <= 0.05, "claim 20 (e₂): slope {slope} ± {se} (no decay)");
    // GD diverges at h = 0.1 (GD alone, 200 steps = τ 20).
    let m = Cubic::<f64>::new(&spec("0.01", Pert::CE2("0.2")), ()).unwrap();
    let mut th = vec![0.1 * m.delta(), 0.0, 0.0, 0.0];
    let mut g = vec![0.0; 4];
    let failed = (0..200).find(|_| gd_step(&m, m.eta(), &mut th, &mut g).is_err());
    eprintln!("claim 20 (e₂) at h = 0.1: GD's loss non-finite at step {failed:?}");
    assert!(failed.is_some(), "claim 20: GD at h = 0.1 did not diverge");
    // Deterministic (the generic f64 path): the step recorded in theory/claims.toml.
    assert_eq!(failed, Some(152), "claim 20: GD at h = 0.1 diverged at another step");
    // Finding: the generalized dynamics track along e₂ (the growing coupling enters the u-slice,
    // which they treat exactly); measured 1.7547e-4 at h = 0.0125 down to 1.6078e-9 at h = 1.25e-4
    // (far above f64's rounding level of r, ≈ 1e-13), slope 2.3527 ± 0.1276. Pinned to their
    // recorded digits: the run is deterministic (the generic f64 path, as GD's divergence step
    // above), and a change of rounding could move the smallest error by ≤ 1e-13/1.6e-9 ≈ 1e-4
    // relative, so both ends within 1e-3 relative and the slope within 1e-3; every point ≤ 2e-4.
    let (_, gen_errs, gslope, gse) = order_study("claim 20 (c = 0.2, e₂, generalized)", Pert::CE2("0.2"), 0.0125, true);
    eprintln!("claim 20 (e₂, generalized): errors {:.5e} … {:.5e}, slope {gslope:.5} ± {gse:.5}", gen_errs[0], gen_errs[7]);
    assert!(gen_errs.iter().all(|&e| e <= 2e-4), "claim 20 (e₂, generalized): {gen_errs:?}");
    let within = |e: f64, m: f64| (e / m - 1.0).abs() <= 1e-3;
    assert!(within(gen_errs[0], 1.7547e-4) && within(gen_errs[7], 1.6078e-9), "claim 20 (e₂, generalized): {gen_errs:?}");
    assert!(gslope - 2.0 * gse > 1.5, "claim 20 (e₂, generalized): slope {gslope} ± {gse}");
    assert!((gslope - 2.3527).abs() <= 1e-3, "claim 20 (e₂, generalized): slope {gslope} ± {gse}");
    let _ = hs;
}

// ---------------------------------------------------------------------------------------------
// Claim 21: (c₃/6)(a·w)³
// ---------------------------------------------------------------------------------------------

#[test]
fn claim_21_perpendicular_cubic_reference_values_f64() {
    // claims.md 21: 5.4, 2.7, 1.7, 1.35, 1.20, 1.14 at h = 0.05·2⁻ᵏ (c₃ = 0.1), generalized identical.
    // Measured: 5.3797, 2.7156, 1.7038, 1.3480, 1.2014, 1.1359.
    let refs = [(5.4, 0.05), (2.7, 0.05), (1.7, 0.05), (1.35, 0.005), (1.20, 0.005), (1.14, 0.005)];
    let cases: Vec<(f64, f64, f64)> = (0..6).map(|k| (0.05 / 2f64.powi(k), refs[k as usize].0, refs[k as usize].1)).collect();
    // Both dynamics reproduce the references (one run gives both), and they are identical: the
    // c₃ term lives in a·w, off the u-slice the generalized dynamics treat exactly, so the two
    // differ at most by rounding, ≤ 10·N·eps relative over N steps (measured: equal to the bit).
    for &(h, reference, half_unit) in &cases {
        let e = run_h(h, Pert::C3("0.1"), false);
        let n = (20.0 / h).round();
        let diff = (e.r_std - e.r_gen).abs() / e.r_std;
        eprintln!("claim 21 (c₃ = 0.1): h = {h}: max ‖r‖/δ standard {:.5e}, generalized {:.5e} (reference {reference}); |Δ|/r = {diff:.2e} = {:.1} N·eps", e.r_std, e.r_gen, diff / (n * f64::EPSILON));
        assert!(reproduces(e.r_std, reference, half_unit), "claim 21 (standard): h = {h}: {} vs reference {reference}", e.r_std);
        assert!(reproduces(e.r_gen, reference, half_unit), "claim 21 (generalized): h = {h}: {} vs reference {reference}", e.r_gen);
        assert!(diff <= 10.0 * n * f64::EPSILON, "claim 21: standard {} and generalized {} differ by {diff:e} relative", e.r_std, e.r_gen);
    }
    // The controlling ratio ∇³L[â,â,â]/‖∇S⊥‖ (= d3L_v_ratio/√β, since ‖∇S⊥‖ = √β) at θ†₀ equals
    // c₃β, exactly up to rounding (β = 1 here).
    let m = Cubic::<f64>::new(&spec("0.0025", Pert::C3("0.1")), ()).unwrap();
    let dag = center(&m, &[0.0; 4], Some(&[1.0, 0.0, 0.0, 0.0]), Mag::new(1e-12)).unwrap();
    let ahat = [0.0, 1.0, 0.0, 0.0];
    let mut t3 = [0.0; 4];
    m.d3_sym(&dag.theta, &ahat, &mut t3).unwrap();
    let ratio = dot(&t3, &ahat) / norm(&dag.grad_s_perp);
    eprintln!("claim 21: ∇³L[â,â,â]/‖∇S⊥‖ = {ratio} (β = {})", dag.beta);
    assert!((ratio - 0.1 * dag.beta).abs() <= 1e-15, "claim 21: ratio {ratio} vs c₃β = {}", 0.1 * dag.beta);
}

#[test]
fn claim_21_perpendicular_cubic_error_does_not_vanish_f64() {
    let (_, errs, slope, se) = order_study("claim 21 (c₃ = 0.1, standard)", Pert::C3("0.1"), 0.003, false);
    // Order 0: |slope| ≤ 0.05 over 8 points, 2 decades of h ≤ 0.003; the error stays ≥ δ.
    assert!(slope.abs() <= 0.05, "claim 21: slope {slope} ± {se}");
    assert!(errs.iter().all(|&e| e >= 1.0), "claim 21: {errs:?}");
}

// ---------------------------------------------------------------------------------------------
// Claim 22: L and S errors
// ---------------------------------------------------------------------------------------------

/// h = 0.0125·2⁻ᵏ, k = 0..4, with the L/S errors (in δ²/η and √α units).
fn claim_22_runs(what: &str, pert: Pert) -> (Vec<f64>, Vec<Errs>) {
    let hs: Vec<f64> = (0..5).map(|k| 0.0125 / 2f64.powi(k)).collect();
    let es: Vec<Errs> = hs.iter().map(|&h| run_h(h, pert, true)).collect();
    for (h, e) in hs.iter().zip(&es) {
        eprintln!(
            "claim 22 {what}: h = {h:.4e}: ‖r‖/δ {:.3e}, L(θ†+v) {:.3e}, S(θ†+v) {:.3e}, L(θ†)+x²/η {:.3e}, S(θ†)+∇S⊥·v {:.3e}",
            e.r_std, e.loss_pred, e.sharp_pred, e.loss_formula, e.sharp_formula
        );
    }
    (hs, es)
}

/// max/min of X/r over the runs: X shrinks at the order of r iff this stays O(1).
fn band(es: &[Errs], f: impl Fn(&Errs) -> f64) -> f64 {
    let q: Vec<f64> = es.iter().map(|e| f(e) / e.r_std).collect();
    q.iter().cloned().fold(0.0, f64::max) / q.iter().cloned().fold(f64::INFINITY, f64::min)
}

#[test]
fn claim_22_ls_errors_follow_r_quartic_and_perpendicular_f64() {
    // r is first order (c₄, b, claim 18) or order 0 (c₃, claim 21); the formulas' extra O(h) is
    // below r there, so all four errors must be Θ(r): X/r within a factor 2 over 1.2 decades of h
    // (h ×1/16: an error one order off r would move X/r by 16×, so 2 separates the orders while
    // leaving room for the pre-asymptotic drift).
    // Measured bands (L, S; L and S formulas): c₄ 1.35, 1.75, 1.36, 1.77; b 1.19, 1.68, 1.20, 1.69;
    // c₃ 1.03, 1.00, 1.03, 1.03.
    for (what, pert) in [("c₄ = 1", Pert::C4("1")), ("b = 1", Pert::B("1")), ("c₃ = 0.1", Pert::C3("0.1"))] {
        let (_, es) = claim_22_runs(what, pert);
        let bands = [band(&es, |e| e.loss_pred), band(&es, |e| e.sharp_pred), band(&es, |e| e.loss_formula), band(&es, |e| e.sharp_formula)];
        eprintln!("claim 22 {what}: bands (X/r max/min) {bands:.3?}");
        for b in bands {
            assert!(b <= 2.0, "claim 22 {what}: band {b}");
        }
    }
}

#[test]
fn claim_22_ls_errors_follow_r_kappa_and_coupling_f64() {
    // κ (claim 19): r is at rounding level, so L(θ†+v), S(θ†+v) are exact up to rounding
    // (measured ≤ 5.7e-13 in √α units; bound 1e-11: 4× the rounding of r at the longest run,
    // ≈ 1e-13·N/1000 by claim 13 with N = 20/h ≤ 25,600); the formulas carry only their O(h) (claims 15–16), here
    // measured ≤ 0.0062·h (L) and ≤ 0.036·h (S): bound 0.01h and 0.05h.
    let (hs, es) = claim_22_runs("κ = 0.5", Pert::Kappa("0.5"));
    for (h, e) in hs.iter().zip(&es) {
        assert!(e.loss_pred.max(e.sharp_pred) <= 1e-11, "claim 22 κ: {e:?}");
        assert!(e.loss_formula <= 0.01 * h && e.sharp_formula <= 0.05 * h, "claim 22 κ: h = {h}: {e:?}");
    }
    // c(e₃·w)x³ (claim 20): r is second order; L(θ†+v) and S(θ†+v) shrink at least as fast
    // (X ≤ 3r; measured X/r from 2.5 down to 0.07) and in fact faster: the log-log slope of X in h
    // exceeds r's by ≥ 0.5 (measured 0.70 for L, 0.96 for S; the Θ(r) cases of the test above
    // drift by at most log 1.77 / log 16 = 0.21 over the same h, so 0.5 separates the two); the
    // formulas are first order (the O(h) of claims 15–16 dominates): slope within 0.15 of 1
    // (measured ≈ 1.13 and 1.08).
    let (hs, es) = claim_22_runs("c = 0.2 (e₃)", Pert::CE3("0.2"));
    for e in &es {
        assert!(e.loss_pred <= 3.0 * e.r_std && e.sharp_pred <= 3.0 * e.r_std, "claim 22 e₃: {e:?}");
    }
    let slope_of = |f: fn(&Errs) -> f64| loglog_slope(&hs, &es.iter().map(f).collect::<Vec<f64>>()).0;
    let (sr, sl_pred, ss_pred) = (slope_of(|e| e.r_std), slope_of(|e| e.loss_pred), slope_of(|e| e.sharp_pred));
    eprintln!("claim 22 e₃: slopes r {sr:.4}, L(θ†+v) {sl_pred:.4}, S(θ†+v) {ss_pred:.4}");
    assert!(sl_pred - sr >= 0.5 && ss_pred - sr >= 0.5, "claim 22 e₃: L, S errors not faster than r: slopes {sl_pred}, {ss_pred} vs r {sr}");
    let lf: Vec<f64> = es.iter().map(|e| e.loss_formula).collect();
    let sf: Vec<f64> = es.iter().map(|e| e.sharp_formula).collect();
    let ((sl, _), (ss, _)) = (loglog_slope(&hs, &lf), loglog_slope(&hs, &sf));
    eprintln!("claim 22 e₃: formula slopes L {sl:.4}, S {ss:.4}");
    assert!((sl - 1.0).abs() <= 0.15 && (ss - 1.0).abs() <= 0.15, "claim 22 e₃: slopes {sl}, {ss}");
}

#[test]
fn claim_20_e3_coupling_f64_matches_mpfr256() {
    // The fastest-shrinking error of claims 18–21 (second order): check that f64 rounding does not
    // reach it, at grid points 3 and 5 (h = 3.35e-3, 9.0e-4; N = 5964, 22232). The f64 rounding of
    // r is ≈ 1e-13·δ·(N/1000) (claim 13) against r ≈ 4.1e-5·δ and 2.7e-6·δ, so the two must agree to
    // ~1e-7 relative; the decimal α text is the same, parsed to nearest in f64 and exactly in MPFR
    // (≤ 1e-16 relative model difference). Bound 1e-6 relative.
    for k in [2, 4] {
        let h = two_decades(0.0125)[k];
        let alpha = alpha_text(h);
        let n = (20.0 / h).round() as u64;
        let f = run(&Cubic::<f64>::new(&spec(&alpha, Pert::CE3("0.2")), ()).unwrap(), n, "0.1", false).unwrap();
        let g = run(&Cubic::<Float>::new(&spec(&alpha, Pert::CE3("0.2")), 256).unwrap(), n, "0.1", false).unwrap();
        let rel = (f.r_std / g.r_std - 1.0).abs();
        eprintln!("claim 20 (e₃) h = {h:.4e}: f64 {:.10e}, 256 bits {:.10e}, relative difference {rel:.2e}", f.r_std, g.r_std);
        assert!(rel <= 1e-6, "claim 20: f64 vs 256 bits differ by {rel:e} at h = {h}");
    }
}

/// Claim 18 (c₄ = 1, generalized dynamics) at `bits`: C = max_{t≤N} ‖r_t‖/δ ÷ eps for each (α, N).
fn claim_18_gen_constants(bits: u32, cases: &[(&str, u64)]) -> Vec<f64> {
    cases.iter().map(|&(alpha, n)| {
        let m = Cubic::<Float>::new(&spec(alpha, Pert::C4("1")), bits).unwrap();
        run(&m, n, "0.1", false).unwrap().r_gen / Float::eps(bits)
    }).collect()
}

#[test]
fn claim_18_c4_generalized_error_at_256_and_1024_bits() {
    // decisions §6 "Exactness": h = 0.02, 0.01, 0.005 (α = h², η = 1), N = 20/h, C = max err/eps.
    // MPFR is correctly rounded, so the constants are the same on every machine. Measured:
    //   C(256)  = 1536.17, 5695.12, 827.09;  C(1024) = 174.461, 255.584, 547.068;
    //   ratio C(256)/C(1024) = 8.81, 22.3, 1.51: the factor 4 of decisions §6 fails at two of
    //   three h, as for claim 13 (a finding, theory/README.md). The scale with 2^-bits itself is
    //   asserted by the 13-precision sweep below; here: the exactness bound 10·N·eps (claim 13's)
    //   at both precisions, and the constants pinned to their 5 recorded significant digits so any
    //   change shows (exactly reproducible; until session 42 pinned within 1 %).
    let cases = [("0.0004", 1000u64), ("0.0001", 2000), ("0.000025", 4000)];
    let pinned = [(1536.17, 174.461), (5695.12, 255.584), (827.09, 547.068)];
    let a = claim_18_gen_constants(256, &cases);
    let b = claim_18_gen_constants(1024, &cases);
    eprintln!("claim 18 gen: C(256) = {a:?}, C(1024) = {b:?}");
    for (k, &(alpha, n)) in cases.iter().enumerate() {
        for (c, want, bits) in [(a[k], pinned[k].0, 256), (b[k], pinned[k].1, 1024)] {
            assert!(c <= 10.0 * n as f64, "claim 18 at {bits} bits, α = {alpha}: error {c:e}·eps > 10·N·eps");
            common::recorded_significant(&format!("claim 18 at {bits} bits, α = {alpha}: C"), c, want, 5);
        }
    }
}

#[test]
fn claim_18_c4_generalized_error_slope_in_bits_is_minus_one() {
    // The error ∝ 2^-bits, tested as a law over 13 precisions 256, 320, …, 1024 (h = 0.02, N = 1000):
    // least-squares slope of log₂(max err) against bits. A single C fluctuates (measured 111–1536,
    // residual SD 1.08 in log₂ about the fit, i.e. a factor 2.1), so two precisions alone can differ
    // by more than 4 (above); over 768 bits the slope's SE is ≈ 1.08/√(Σ(b−b̄)²) ≈ 0.0013 (measured
    // slope −1.0029 ± 0.0013), and the slope must be −1 within 0.01 (≈ 8 SE). The eigen tolerance is not the cause of the scatter: 2^(16−bits)
    // and 2^(4−bits) give bit-identical constants.
    let bits: Vec<u32> = (256..=1024).step_by(64).collect();
    let ys: Vec<f64> = bits.iter().map(|&b| {
        let c = claim_18_gen_constants(b, &[("0.0004", 1000)])[0];
        (c * Float::eps(b)).log2()
    }).collect();
    let xs: Vec<f64> = bits.iter().map(|&b| b as f64).collect();
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let slope = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum::<f64>() / sxx;
    let res: Vec<f64> = xs.iter().zip(&ys).map(|(x, y)| y - my - slope * (x - mx)).collect();
    let sd = (res.iter().map(|r| r * r).sum::<f64>() / (n - 2.0)).sqrt();
    let se = sd / sxx.sqrt();
    let c: Vec<f64> = bits.iter().zip(&ys).map(|(&b, y)| 2f64.powf(*y) / Float::eps(b)).collect();
    eprintln!("claim 18 gen: C over bits 256..1024 step 64 = {c:.1?}\n  slope of log₂ err vs bits {slope:.5} ± {se:.5}, residual SD {sd:.3} (log₂)");
    assert!((slope + 1.0).abs() <= 0.01, "claim 18: error ∝ 2^({slope:.4}·bits) ± {se:.4}");
    assert!(c.iter().all(|&v| v <= 10.0 * 1000.0), "claim 18: some C above 10·N: {c:?}");
}

// ---------------------------------------------------------------------------------------------
// Claim 20 with e₁ = a; claim 21 at h = 0.1
// ---------------------------------------------------------------------------------------------

#[test]
fn claim_20_e1_coupling_same_picture_f64() {
    // claims.md 20: "e₁ = a instead [of e₃] gives the same picture": the coupling c(a·w)x³ (e = e₁,
    // the direction a itself; c = 0.2, reference setting) also makes max‖r‖/δ vanish faster than
    // first order. Measured: 2.1349, 0.42612, 0.017074, 0.0016361 at h = 0.1 … 0.0125 (e₃: 1.5549,
    // 0.31239, 0.010621, 0.00099039), i.e. 1.36–1.65× e₃'s, with the same local orders (e₁ 2.3,
    // 4.6, 3.4; e₃ 2.3, 4.9, 3.4); over 8 points h = 0.0125 … 1.25e-4: 1.6361e-3 … 5.3201e-8, slope
    // 2.2137 ± 0.0483 (e₃: 2.1106 ± 0.0343). Asserted: decisions.md §6's rule slope − 2·SE > 1.5;
    // the four values pinned to their 5 recorded significant digits (deterministic f64; the eigen
    // solves move them by ≲ 1e-10 relative); e₁/e₃ within [1, 2] at each h (the "same picture": same orders, a constant ratio
    // O(1)). ≈ 3.5 s.
    let pinned = [(0.1, 2.1349), (0.05, 0.42612), (0.025, 0.017074), (0.0125, 0.0016361)];
    for (h, want) in pinned {
        let a = run_h(h, Pert::CE1("0.2"), false).r_std;
        let b = run_h(h, Pert::CE3("0.2"), false).r_std;
        eprintln!("claim 20 (e₁ = a): h = {h}: max ‖r‖/δ = {a:.8e} (e₃: {b:.8e}, ratio {:.3})", a / b);
        common::recorded_significant(&format!("claim 20 (e₁): h = {h}: max ‖r‖/δ"), a, want, 5);
        assert!((1.0..=2.0).contains(&(a / b)), "claim 20 (e₁): h = {h}: e₁/e₃ = {}", a / b);
    }
    let (_, errs, slope, se) = order_study("claim 20 (c = 0.2, e₁ = a, standard)", Pert::CE1("0.2"), 0.0125, false);
    assert!(slope - 2.0 * se > 1.5, "claim 20 (e₁): slope {slope} ± {se}");
    // The smallest error (≈ 5e-8) is far above the f64 rounding level of r (≈ 1e-12, claim 13).
    assert!(errs[7] > 1e3 * 1e-12, "claim 20 (e₁): {errs:?}");
}

/// GD on Toy-P with (c₃/6)(a·w)³ from θ₀ = (0.1δ, 0), N = 20/h steps, tracking Y = a·w/√α:
/// (step at which Y first falls below −√(2/(c₃β)), step at which the loss or gradient is no longer
/// finite, min Y before the crossing, whether Y decreased at every step after the crossing).
fn claim_21_gd(alpha: &str, h: f64, c3: &'static str) -> (Option<u64>, Option<u64>, f64, bool) {
    let m = Cubic::<f64>::new(&spec(alpha, Pert::C3(c3)), ()).unwrap();
    let beta = m.beta();
    let thr = -(2.0 / (c3.parse::<f64>().unwrap() * beta)).sqrt();
    let mut th = vec![0.1 * m.delta(), 0.0, 0.0, 0.0];
    let mut g = vec![0.0; 4];
    let (mut cross, mut failed, mut ymin, mut mono, mut prev) = (None, None, 0.0f64, true, 0.0f64);
    for t in 0..(20.0 / h).round() as u64 {
        let y = m.y_of(&th) / h;
        if cross.is_none() && y < thr {
            cross = Some(t);
        }
        if cross.is_some() && cross != Some(t) && y >= prev {
            mono = false;
        }
        if cross.is_none() {
            ymin = ymin.min(y);
        }
        prev = y;
        if gd_step(&m, m.eta(), &mut th, &mut g).is_err() {
            failed = Some(t);
            break;
        }
    }
    (cross, failed, ymin, mono)
}

#[test]
fn claim_21_large_c3_leaves_eos_at_h_0_1_f64() {
    use selfstab::reduced_map::{ReducedMap, State, Workspace};
    // claims.md 21: "if c₃β max_t Y_t² ≳ 2 the sharpness runs away and GD leaves EOS (observed:
    // c₃ = 0.1 and c₃ = 1 diverge at h = 0.1, where the map's drift drives |Y| to ≈ 6)".
    // (i) The map's drift: the reduced map (= Toy-C GD, claim 12) at h = 0.1 from X₀ = 0.1, Y₀ = 0
    // reaches min Y = −6.4228 (t = 116) within τ = 20 (max 3.6129); at h = 0.05, −4.5146.
    // Asserted: max|Y| = 6.4228 at h = 0.1 to its 4 decimals (deterministic; "≈ 6").
    let mut ext = vec![];
    for h in [0.1, 0.05] {
        let map = ReducedMap::<f64>::new(h).unwrap();
        let mut s = State::new(0.1, 0.0);
        let mut ws = Workspace::new(());
        let mut ymax = 0.0f64;
        for _ in 0..(20.0 / h).round() as u64 {
            map.step(&mut s, &mut ws);
            ymax = ymax.max(s.y.abs());
        }
        eprintln!("claim 21: reduced map h = {h}, X₀ = 0.1: max_t |Y_t| = {ymax:.4} over τ = 20");
        ext.push(ymax);
    }
    common::recorded("claim 21: the map's max |Y| at h = 0.1", ext[0], 6.4228, 4);
    assert!((ext[1] - 4.5146).abs() <= 5e-5, "claim 21: the map's max |Y| at h = 0.05 is {} (recorded 4.5146)", ext[1]);
    // (ii) The runaway: with the c₃ term the y-equation is Y' = Y + h(1 − X² − c₃βY²/2), so once
    // Y < −√(2/(c₃β)) every later step lowers Y (by at least h(c₃βY²/2 − 1), growing): the
    // x-curvature 2/η + y falls below 2/η for good (GD leaves EOS) and the loss, unbounded below
    // along −a, overflows. Measured (reference setting, x₀ = 0.1δ, τ = 20):
    //   h = 0.1,  c₃ = 0.1: GD's Y crosses −4.472 at step 124, loss non-finite at step 196;
    //   h = 0.1,  c₃ = 1:   crosses −1.414 at step 44, non-finite at step 73;
    //   h = 0.05, c₃ = 1:   crosses at step 93, non-finite at step 152;
    // and no crossing, all finite: h = 0.1 with c₃ = 0.05 (GD's min Y −5.725 > −6.325; the map's
    // c₃β·max Y² = 2.06), 0.03 (1.24); h = 0.05 with c₃ = 0.1 (GD's min Y −3.891; the map's 2.04,
    // the setting of the h = 0.05 reference value 5.38 in claim 21's table). So "≳ 2" with the
    // *map's* Y is a rough threshold (2.04 and 2.06 do not run away; 4.1 does); GD's own crossing of
    // −√(2/(c₃β)) is the exact criterion. Asserted: the crossing and overflow steps exactly (the
    // growth after the crossing is doubly exponential, so rounding cannot move them), Y monotone
    // after the crossing, and no crossing / divergence in the three contrast runs.
    let runaway = [("0.01", 0.1, "0.1", 124u64, 196u64), ("0.01", 0.1, "1", 44, 73), ("0.0025", 0.05, "1", 93, 152)];
    for (alpha, h, c3, want_cross, want_fail) in runaway {
        let (cross, failed, ymin, mono) = claim_21_gd(alpha, h, c3);
        eprintln!("claim 21: h = {h}, c₃ = {c3}: Y < −√(2/(c₃β)) from step {cross:?} (min Y before {ymin:.3}), non-finite at step {failed:?}, Y decreasing after the crossing: {mono}");
        assert_eq!((cross, failed), (Some(want_cross), Some(want_fail)), "claim 21: h = {h}, c₃ = {c3}");
        assert!(mono, "claim 21: h = {h}, c₃ = {c3}: Y rose after the crossing");
    }
    let stays = [("0.01", 0.1, "0.05", -5.725), ("0.01", 0.1, "0.03", -5.974), ("0.0025", 0.05, "0.1", -3.891)];
    for (alpha, h, c3, want_min) in stays {
        let (cross, failed, ymin, _) = claim_21_gd(alpha, h, c3);
        eprintln!("claim 21: h = {h}, c₃ = {c3}: no runaway: crossing {cross:?}, non-finite {failed:?}, min Y = {ymin:.4}");
        assert!(cross.is_none() && failed.is_none(), "claim 21: h = {h}, c₃ = {c3}: crossing {cross:?}, divergence {failed:?}");
        assert!((ymin - want_min).abs() <= 0.001, "claim 21: h = {h}, c₃ = {c3}: min Y = {ymin}");
    }
    // claims.md's ≈ 2 criterion with the map's |Y| at h = 0.1: c₃β·6.42² = 4.1 (c₃ = 0.1), 41 (c₃ = 1)
    // (implied by the pin of ext[0] above).
}

/// Claim 36: with α < 0 the projection does not act on S (reference.md §4), so the predicted
/// dynamics carry no δ² term (δ² = 2·max(α, 0)/β) and track GD. Toy-P with c₃ = 0.02, g·a = 1e-4,
/// θ†₀ = (0, a·w = −0.2): α = g·a − (c₃/2)(a·w)²β = −3e-4 and S(θ†) = 2/η − 0.2 < 2/η; v₀ = x₀e_x.
/// The only term the standard dynamics drop here is ½∇³L[v⊥, v⊥] = (c₃/2)(a·v_w)²·a, so the
/// tracking error is bounded by its sum Σ_s η(c₃/2)y_s² (y = a·v_w, β = 1) transported by the
/// linear dynamics, whose growth over N = 200 steps is ≤ (1 + ηc₃·0.26)^N ≤ 3 (a·w† stays in
/// [−0.26, −0.2]): asserted ‖θ − θ† − v‖ ≤ 3·Σ_s η(c₃/2)y_s² + 2(t + 1)·eps at every step (the
/// rounding of GD and θ† in the x and a·w coordinates, |·| ≤ 0.26, two operations per step; g⊥'s
/// coordinate moves both alike), and |y − y_gd| by the same, at f64 and 256 bits (the same model
/// term, measured 1.5e-11 at step 199 in both: the error is the model's). With the signed δ² the
/// spurious push −η|α|/β·∇S⊥ per step leaves an error of 0.16 at step 200.
fn claim_36_generic<S: Scalar>(c: S::Ctx) -> (f64, f64, f64) {
    use selfstab::tracking::{self, TrackOpts};
    let mut sp = CubicSpec::reference("0.0001", "0.3");
    sp.c3 = "0.02".into();
    let m = Cubic::<S>::new(&sp, c).unwrap();
    let eta = S::one(c);
    let mut dag0 = zeros::<S>(4, c);
    dag0[1] = S::parse("-0.2", c).unwrap();
    let mut v0 = zeros::<S>(4, c);
    v0[0] = S::parse("1e-3", c).unwrap();
    let mut u0 = zeros::<S>(4, c);
    u0[0] = S::one(c);
    let opts = TrackOpts { projection_steps: 3, gap_every: 0, gap_threshold: None, eig_tol: EigenOpts::default_tol::<S>(c), chain_tol: None };
    let mut st = tracking::start_split(&m, &eta, &dag0, &v0, Some(&u0), &opts).unwrap();
    let (mut budget, mut worst_ratio, mut last_err) = (0.0f64, 0.0f64, 0.0);
    for t in 0..200u64 {
        let (row, stop) = tracking::step(&m, &eta, &mut st, &opts).unwrap();
        assert!(stop.is_none(), "stopped at {t}");
        if t == 0 {
            assert!((row.alpha + 3e-4).abs() <= 1e-12 && row.sharpness_dagger < 2.0, "α = {}, S(θ†) = {}", row.alpha, row.sharpness_dagger);
        }
        assert!(row.alpha < 0.0 && row.sharpness_dagger < 2.0, "t = {t}: α = {}, S(θ†) = {}", row.alpha, row.sharpness_dagger);
        let bound = 3.0 * budget + 2.0 * (t + 1) as f64 * S::eps(c);
        worst_ratio = worst_ratio.max(row.tracking_error / bound);
        assert!(row.tracking_error <= bound, "t = {t}: ‖θ − θ† − v‖ = {:e} > {bound:e}", row.tracking_error);
        assert!((row.y - row.y_gd).abs() <= bound, "t = {t}: y = {:e}, y_gd = {:e}", row.y, row.y_gd);
        budget += 0.5 * 0.02 * row.y * row.y;
        last_err = row.tracking_error;
    }
    (last_err, budget, worst_ratio)
}

#[test]
fn claim_36_negative_alpha_predicted_dynamics_track_gd_f64() {
    let (err, budget, ratio) = claim_36_generic::<f64>(());
    eprintln!("claim 36 f64: error at t = 199 {err:.3e}, Σ η(c₃/2)y² {budget:.3e}, worst error / bound {ratio:.3}");
}

#[test]
fn claim_36_negative_alpha_predicted_dynamics_track_gd_mpfr256() {
    let (err, budget, ratio) = claim_36_generic::<Float>(256);
    eprintln!("claim 36 256 bits: error at t = 199 {err:.3e}, Σ η(c₃/2)y² {budget:.3e}, worst error / bound {ratio:.3}");
}
