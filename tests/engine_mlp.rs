//! Engine claims on small MLPs: claim 34 (Lanczos vs dense Jacobi, warm starts), claim 2 (u → −u)
//! and claim 1 (∇S is the derivative of λ_max), in f64 and at 256 bits; the instability search
//! (decisions §3): resumable bit for bit, and θ₀ the first iterate with S ≥ 2/η in every check regime.
#![allow(clippy::disallowed_methods)] // test code may use std's libm (clippy.toml: library code may not)

mod common;
use common::{bits_eq, eigvec_davis_kahan};
use proptest::prelude::*;
use rug::Float;
use selfstab::data::{Dataset, init_params};
use selfstab::error::EvalError;
use selfstab::linalg::{dot, from_f64, jacobi_eigen};
use selfstab::mag::Mag;
use selfstab::models::mlp::{Activation, LossKind, Mlp};
use selfstab::objective::{Objective, dense_hessian};
use selfstab::scalar::Scalar;
use selfstab::sharpness::{EigenOpts, Trail, center, top_eigen, top_eigen_subspace};

/// A fixed little data set: n = 12 points in ℝ³, 3 classes.
fn toy_data() -> Dataset {
    let n = 12;
    let x: Vec<f64> = (0..n * 3).map(|i| ((i * 7 % 11) as f64 - 5.0) / 4.0 + 0.1 * (i as f64).sin()).collect();
    let y: Vec<i64> = (0..n).map(|i| (i % 3) as i64).collect();
    Dataset { x, y, n, d: 3 }
}

fn mlp<S: Scalar>(act: Activation, loss: LossKind, c: S::Ctx) -> (Mlp<S>, Vec<S>) {
    let layers = [3, 5, 4, 3];
    let m = Mlp::<S>::new(&layers, act, loss, &toy_data(), c).unwrap();
    let th = from_f64::<S>(&init_params(&layers, 3).unwrap(), c);
    (m, th)
}

#[allow(clippy::needless_range_loop)] // λ_r, the r-th eigenvector and residual side by side
fn claim_34_generic<S: Scalar>(c: S::Ctx) {
    for act in [Activation::Tanh, Activation::Silu, Activation::Gelu] {
        for loss in [LossKind::Mse, LossKind::Ce] {
            let (m, th) = mlp::<S>(act, loss, c);
            let p = m.dim();
            let h = dense_hessian(&m, &th).unwrap();
            let (vals, vecs) = jacobi_eigen(&h, p);
            let opts = EigenOpts::top::<S>(3, c);
            let eig = top_eigen(&m, &th, None, &opts).unwrap();
            let scale = vals[0].abs().to_f64().max(vals[p - 1].abs().to_f64());
            for r in 0..3 {
                // |θ − λ| ≤ ‖r‖ (Bauer–Fike for symmetric H), and the solver accepts pair r at
                // ‖r‖ ≤ tol·max(|θ_r|, |θ₁|, its estimate of ‖H‖) ≤ tol·‖H‖ (`Eigen::residuals`); allow
                // that plus rounding of the dense solve (p·eps·‖H‖).
                let diff = (eig.values[r].clone() - &vals[r]).abs().to_f64();
                let bound = opts.tol.to_f64() * scale + 64.0 * p as f64 * S::eps(c) * scale;
                assert!(diff <= bound, "claim 34 ({act:?}, {loss:?}): λ{r} off by {diff:e} > {bound:e}");
                assert!(eig.residuals[r] <= opts.tol, "claim 34: residual {:e} above tol", eig.residuals[r]);
            }
            // Top eigenvector within the Davis–Kahan angle of the dense one: sin∠ ≤ ‖r‖/gap with
            // ‖r‖ ≤ tol·|θ| (plus the dense solve's rounding), so ‖u − ±u_dense‖ ≤ √2·sin∠, measured
            // in the working precision (1 − |cos| in f64 rounds to 0 above f64 and tested nothing).
            let gap = (vals[0].clone() - &vals[1]).to_f64();
            let rounding = 64.0 * p as f64 * S::eps(c) * scale;
            let (dist, bound) = eigvec_davis_kahan(&eig.vectors[0], &vecs[0..p], opts.tol.to_f64(), scale, gap, rounding, S::eps(c));
            assert!(dist <= bound, "claim 34 ({act:?}, {loss:?}): ‖u − u_dense‖ = {dist:e} > {bound:e}");
        }
    }
}

#[test]
fn claim_34_mlp_lanczos_matches_dense_jacobi_f64() {
    claim_34_generic::<f64>(());
}

#[test]
fn claim_34_mlp_lanczos_matches_dense_jacobi_mpfr256() {
    claim_34_generic::<Float>(256);
}

#[test]
fn claim_34_warm_started_solves_along_gd_converge_in_few_hvps() {
    // Along a GD trajectory the previous u is an excellent start: after the cold first solve,
    // each warm solve at tol 1e-9 needs few HVPs. Measured on this model: see the eprintln.
    let layers = [64, 16, 16, 10];
    let ds = selfstab::data::digits(100).unwrap();
    let m = Mlp::<f64>::new(&layers, Activation::Tanh, LossKind::Mse, &ds, ()).unwrap();
    let mut th = init_params(&layers, 0).unwrap();
    let opts = EigenOpts { tol: Mag::new(1e-9), ..EigenOpts::top::<f64>(1, ()) };
    let mut warm: Vec<Vec<f64>> = vec![];
    let mut trail: Trail<f64> = Trail::default();
    let mut g = vec![0.0; m.dim()];
    let mut counts = vec![];
    let mut single = vec![];
    let mut trailed = vec![];
    for _ in 0..30 {
        let e = top_eigen_subspace(&m, &th, &warm, &opts).unwrap();
        counts.push(e.hvps);
        // The single-vector warm start, for comparison.
        single.push(top_eigen(&m, &th, warm.first().map(|v| &v[..]), &opts).unwrap().hvps);
        // The trail (extrapolated start + preconditioner from the previous Ritz pairs): the same
        // pair to within the tolerance — both eigenvalues are within tol·S of λ_max (the gap
        // λ₁ − λ₂ ≈ 0.3 ≫ tol·S), so they differ by ≤ 2·tol·S.
        let et = trail.solve(&m, &th, None, opts.tol).unwrap();
        assert!(et.residuals[0] <= opts.tol, "claim 34: trail residual {:e}", et.residuals[0]);
        let ds = (et.values[0] - e.values[0]).abs();
        assert!(ds <= 2.0 * opts.tol * e.values[0], "claim 34: trail S differs by {ds:e}");
        trailed.push(et.hvps);
        warm = std::iter::once(e.vectors[0].clone()).chain(e.next_ritz.iter().cloned()).collect();
        m.grad(&th, &mut g).unwrap();
        for (t, gi) in th.iter_mut().zip(&g) {
            *t -= 0.1 * gi;
        }
    }
    let mean = |v: &[u64]| v[1..].iter().sum::<u64>() as f64 / (v.len() - 1) as f64;
    let (warm_mean, warm_single, trail_mean) = (mean(&counts), mean(&single), mean(&trailed));
    eprintln!(
        "claim 34: cold solve {} HVPs, subspace-warm mean {warm_mean:.1} ({counts:?}), u-only warm mean {warm_single:.1}, trail mean {trail_mean:.2} ({trailed:?})",
        counts[0]
    );
    // Measured (64-16-16-10, n = 100, first 30 GD steps from seed 0, tol 1e-9): cold 31 HVPs,
    // subspace-warm mean 21.8, u-only warm mean 26.0, trail mean 15.5 (its first warm solves, with
    // one to three stored points, cost 19–23; from step 10 on 12–16). "Few" is asserted as: the
    // subspace warm start saves ≥ 20% of the cold solve and beats the u-only warm start, and the
    // trail saves ≥ 20% of the subspace warm start. (Issue 7's ≤ 12 is met at the edge of
    // stability, see the next test, not in this early phase of training where the top of the
    // spectrum is a cluster: λ₁ = 4.91, λ₂ = 4.61, λ₃ = 4.59 at step 30.)
    assert!(warm_mean <= 0.8 * counts[0] as f64, "claim 34: warm solves average {warm_mean} HVPs vs cold {}", counts[0]);
    assert!(warm_mean <= warm_single, "claim 34: subspace warm start ({warm_mean}) worse than u-only ({warm_single})");
    assert!(trail_mean <= 0.8 * warm_mean, "claim 34: trail solves average {trail_mean} HVPs vs subspace warm {warm_mean}");
}

#[test]
fn claim_34_trail_solves_at_the_edge_of_stability_average_at_most_12_hvps() {
    // Issue 7's target on its tiny bench configuration (64,32,32,32,10; n = 200; η = 0.2297; seed
    // 0): the 50 GD steps after the first unstable iterate, where GD oscillates with period 2
    // about θ†. The trail's extrapolated start follows the oscillation (the fit picks
    // u* ≈ 2u_{t−2} − u_{t−4}-type combinations), so each solve starts near its tolerance.
    let layers = [64, 32, 32, 32, 10];
    let ds = selfstab::data::digits(200).unwrap();
    let m = Mlp::<f64>::new(&layers, Activation::Tanh, LossKind::Mse, &ds, ()).unwrap();
    let eta = 0.2297;
    let ins = selfstab::gd::find_instability(&m, &eta, &init_params(&layers, 0).unwrap(), 1000, Mag::new(1e-10), &mut []).unwrap();
    let opts = EigenOpts { tol: Mag::new(1e-9), ..EigenOpts::top::<f64>(1, ()) };
    let mut th = ins.theta.clone();
    let mut g = vec![0.0; m.dim()];
    let mut trail: Trail<f64> = Trail::default();
    let mut warm: Vec<Vec<f64>> = vec![ins.u.clone()];
    let (mut tr, mut sub) = (vec![], vec![]);
    for _ in 0..50 {
        let et = trail.solve(&m, &th, Some(&ins.u), opts.tol).unwrap();
        let e = top_eigen_subspace(&m, &th, &warm, &opts).unwrap();
        assert!(et.residuals[0] <= opts.tol, "claim 34: trail residual {:e}", et.residuals[0]);
        // Both within tol·S of λ_max (gap λ₁ − λ₂ ≈ 1.6 here): they differ by ≤ 2·tol·S.
        let dv = (et.values[0] - e.values[0]).abs();
        assert!(dv <= 2.0 * opts.tol * e.values[0], "claim 34: trail S differs by {dv:e}");
        tr.push(et.hvps);
        sub.push(e.hvps);
        warm = std::iter::once(e.vectors[0].clone()).chain(e.next_ritz.iter().cloned()).collect();
        selfstab::gd::gd_step(&m, &eta, &mut th, &mut g).unwrap();
    }
    let mean = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len() as f64;
    let (mt, ms) = (mean(&tr), mean(&sub));
    eprintln!("claim 34 at EoS (step {}): trail mean {mt:.2} HVPs ({tr:?}), subspace-warm mean {ms:.2}", ins.step);
    // Measured: trail mean 4.4 HVPs (the first solve 1 — the search's u is exact there — then 15, 9,
    // 8 while the trail fills, from the fifth on 3–5), subspace-warm (previous u + 3 Ritz vectors)
    // 13.3. Issue 7's target: ≤ 12 on average at tol 1e-9.
    assert!(mt <= 12.0, "claim 34: trail solves average {mt} HVPs > 12");
    assert!(mt <= 0.5 * ms, "claim 34: trail ({mt}) not ≤ half the subspace warm start ({ms})");
}

fn claim_02_generic<S: Scalar>(c: S::Ctx) {
    let (m, th) = mlp::<S>(Activation::Tanh, LossKind::Mse, c);
    let tol = EigenOpts::default_tol::<S>(c);
    let v0 = selfstab::sharpness::default_start::<S>(m.dim(), c);
    let nv0: Vec<S> = v0.iter().map(|x| -x.clone()).collect();
    let a = center(&m, &th, Some(&v0), tol).unwrap();
    let b = center(&m, &th, Some(&nv0), tol).unwrap();
    let neg_bu: Vec<S> = b.u.iter().map(|y| -y.clone()).collect();
    assert!(bits_eq(&a.u, &neg_bu), "claim 2: u not exactly negated");
    // The solve orients u along its start (`Eigen::vectors`: u·v₀ ≥ 0), so the sign is the start's
    // (mutation audit round 2: the reversed orientation was caught only by HVP-count budgets).
    assert!(dot(&a.u, &v0).to_f64() > 0.0 && dot(&b.u, &nv0).to_f64() > 0.0, "u is not oriented along its start");
    // Bit for bit: `bits_eq` also tells −0 from +0, which `==` takes as equal.
    assert!(bits_eq(&[a.sharpness.clone(), a.alpha.clone(), a.beta.clone()], &[b.sharpness.clone(), b.alpha.clone(), b.beta.clone()]), "claim 2: S, α, β changed under u → −u");
    assert!(bits_eq(&a.grad_s, &b.grad_s) && bits_eq(&a.grad_s_perp, &b.grad_s_perp), "claim 2: ∇S changed under u → −u");
}

#[test]
fn claim_02_mlp_quantities_bitwise_invariant_under_u_sign_f64() {
    claim_02_generic::<f64>(());
}

#[test]
fn claim_02_mlp_quantities_bitwise_invariant_under_u_sign_mpfr256() {
    claim_02_generic::<Float>(256);
}

fn claim_01_generic<S: Scalar>(c: S::Ctx, ks: std::ops::RangeInclusive<i32>) -> (f64, f64) {
    let (m, th) = mlp::<S>(Activation::Silu, LossKind::Ce, c);
    let p = m.dim();
    let d: Vec<S> = (0..p).map(|i| S::from_f64(((i * 13 % 7) as f64 - 3.0) / 5.0, c)).collect();
    let tol = EigenOpts::default_tol::<S>(c);
    let cen = center(&m, &th, None, tol).unwrap();
    let exact = dot(&cen.grad_s, &d).to_f64();
    let (mut hs, mut errs) = (vec![], vec![]);
    for k in ks {
        let h = S::parse(&format!("1e-{k}"), c).unwrap();
        let sh = |sgn: &S| {
            let x: Vec<S> = th.iter().zip(&d).map(|(a, b)| a.clone() + &(sgn.clone() * &h * b)).collect();
            center(&m, &x, Some(&cen.u), tol).unwrap().sharpness
        };
        let one = S::one(c);
        let fd = (sh(&one) - &sh(&(-one.clone()))) / &(S::from_i64(2, c) * &h);
        // Compare in the working precision, then report.
        let err = (fd - &dot(&cen.grad_s, &d)).abs().to_f64() / exact.abs();
        hs.push(h.to_f64());
        errs.push(err);
    }
    common::loglog_slope(&hs, &errs)
}

#[test]
fn claim_01_mlp_grad_sharpness_is_derivative_of_top_eigenvalue_f64() {
    let (slope, se) = claim_01_generic::<f64>((), 1..=4);
    eprintln!("claim 1 (MLP, f64): order {slope:.3} ± {se:.3}");
    assert!((slope - 2.0).abs() <= 0.1, "claim 1: order {slope}");
}

#[test]
fn claim_01_mlp_grad_sharpness_is_derivative_of_top_eigenvalue_mpfr256() {
    // 256 bits: truncation error h² from 1e-1 to 1e-16 (15 decades); the eigenvalue error
    // (≈ residual²/gap with residual ≤ 2^-240·S) and rounding (~1e-77/h) stay far below.
    let (slope, se) = claim_01_generic::<Float>(256, 1..=16);
    eprintln!("claim 1 (MLP, 256 bits): order {slope:.4} ± {se:.4}");
    assert!((slope - 2.0).abs() <= 0.1, "claim 1: order {slope}");
}

/// A [`Trail`]'s eigen solves take their basis and image vectors from the trail's pool, which
/// holds the entries of its earlier solves: they must be zeroed like fresh ones. From one trail
/// state, the solve at θ₁ on a clone (whose pool starts empty: fresh vectors) and on the trail
/// itself (vectors of its solve at θ₂) give the same bits (f64, p = 2,410 ≥ `DOT_LANES_MIN`, so
/// the eight-lane dots run too; after a recorded solve the trail's preconditioned explicit mode
/// runs, whose Ritz residuals accumulate into their vectors).
#[test]
fn trail_solves_with_reused_vectors_give_the_same_bits_as_fresh_ones() {
    let layers = [64usize, 32, 10];
    let m = Mlp::<f64>::new(&layers, Activation::Tanh, LossKind::Mse, &selfstab::data::digits(60).unwrap(), ()).unwrap();
    assert!(m.dim() >= selfstab::linalg::DOT_LANES_MIN);
    let th1 = init_params(&layers, 1).unwrap();
    let th2 = init_params(&layers, 2).unwrap();
    let bits = |e: &selfstab::sharpness::Eigen<f64>| -> Vec<u64> {
        e.values.iter().chain(e.vectors.iter().flatten()).chain(e.next_ritz.iter().flatten()).map(|x| x.to_bits()).collect()
    };
    let mut trail: Trail<f64> = Trail::default();
    let first = trail.solve(&m, &th2, None, Mag::new(1e-10)).unwrap();
    assert!(first.hvps > 2 && !trail.ritz.is_empty());
    let mut fresh_trail = trail.clone();
    let fresh = fresh_trail.solve(&m, &th1, None, Mag::new(1e-10)).unwrap();
    let reused = trail.solve(&m, &th1, None, Mag::new(1e-10)).unwrap();
    assert!(bits(&first) != bits(&fresh));
    assert_eq!(fresh.hvps, reused.hvps);
    assert!(bits(&fresh) == bits(&reused), "a solve on reused vectors differs from the fresh one");
}

/// Records every state the instability search passes (gd::Observer::on_state), read back through
/// JSON as a saved search is.
struct States<S: Scalar>(Vec<selfstab::gd::SearchState<S>>);

impl<S: Scalar> selfstab::gd::Observer<S> for States<S> {
    fn on_state(&mut self, st: &selfstab::gd::SearchState<S>) {
        self.0.push(serde_json::from_slice(&serde_json::to_vec(st).unwrap()).unwrap());
    }
}

/// Run the instability search from `init`, then again from every `every`-th state it passed, and
/// check that each resumed search ends at the same point, bit for bit. Returns whether the search
/// backtracked (a crossing found after skipped steps).
fn search_resumes_bit_identically<S: Scalar>(obj: &dyn Objective<S>, eta: &S, init: &[S], every: usize) -> bool {
    let mut states = States(vec![]);
    let full = selfstab::gd::find_instability(obj, eta, init, 5000, Mag::new(1e-10), &mut [&mut states]).unwrap();
    assert!(states.0.len() as u64 >= full.step, "{} states for {} steps", states.0.len(), full.step);
    let backtracked = states.0.windows(2).any(|w| w[1].t <= w[0].t);
    for st in states.0.into_iter().step_by(every) {
        let t = st.t;
        let r = selfstab::gd::find_instability_from(obj, eta, st, 5000, Mag::new(1e-10), &mut []).unwrap();
        assert_eq!(r.step, full.step, "resumed at GD step {t}");
        assert!(r.theta == full.theta && r.u == full.u && r.sharpness == full.sharpness && r.loss == full.loss, "resumed at GD step {t}: another point");
        assert_eq!(r.hvps, full.hvps, "resumed at GD step {t}: another HVP count");
    }
    backtracked
}

fn cubic_search_resumes<S: Scalar>(c: S::Ctx) {
    // The exact cubic with η = 0.1 and α = 20: y = a·w grows by ηα = 2 a step from −11, so S = 2/η + y
    // goes from 9 < 1/η to ≥ 2/η within one check interval (⌈1/η⌉ = 10 steps): the search
    // backtracks to t = 0 and re-runs checking every step. Resumed from any state, before the
    // backtrack or after it, it ends at the same point.
    use selfstab::models::cubic::{Cubic, CubicSpec};
    let spec = CubicSpec { eta: "0.1".into(), g: vec!["20".into(), "0".into(), "0".into()], ..CubicSpec::reference("1", "0") };
    let m = Cubic::<S>::new(&spec, c).unwrap();
    let eta = S::parse("0.1", c).unwrap();
    let init = from_f64::<S>(&[0.01, -11.0, 0.5, 0.0], c);
    assert!(search_resumes_bit_identically(&m, &eta, &init, 1), "the search did not backtrack: the test misses that path");
}

#[test]
fn instability_search_resumes_bit_identically_from_any_saved_state() {
    cubic_search_resumes::<f64>(());
    cubic_search_resumes::<Float>(128);
    // An MLP (digits, 64-16-16-10, n = 100, η = 0.25): its warm starts carry Ritz vectors.
    let layers = [64, 16, 16, 10];
    let m = Mlp::<f64>::new(&layers, Activation::Tanh, LossKind::Mse, &selfstab::data::digits(100).unwrap(), ()).unwrap();
    search_resumes_bit_identically(&m, &0.25, &init_params(&layers, 0).unwrap(), 25);
}

/// Digits net 64-4-10 (n = 20) at 256 bits with η = 0.112 and its seeded θ_init.
fn net_64_4_10_256() -> (Mlp<Float>, Float, Vec<Float>) {
    let (bits, layers) = (256, [64, 4, 10]);
    let m = Mlp::<Float>::new(&layers, Activation::Tanh, LossKind::Mse, &selfstab::data::digits(20).unwrap(), bits).unwrap();
    let eta = <Float as Scalar>::parse("0.112", bits).unwrap();
    (m, eta, from_f64::<Float>(&init_params(&layers, 0).unwrap(), bits))
}

/// The net above from its θ₀ (found at the run's tolerance, 2^-240), tracked with 3 projection steps
/// and no eigengap check: (model, η, tolerance, options, the state at tracking step 0).
fn tracked_64_4_10_256() -> (Mlp<Float>, Float, Mag, selfstab::tracking::TrackOpts, selfstab::tracking::TrackState<Float>) {
    use selfstab::tracking::{self, TrackOpts};
    let (m, eta, init) = net_64_4_10_256();
    let tol = EigenOpts::default_tol::<Float>(256);
    let ins = selfstab::gd::find_instability(&m, &eta, &init, 100, tol, &mut []).unwrap();
    let opts = TrackOpts { projection_steps: 3, gap_every: 0, gap_threshold: None, eig_tol: tol, chain_tol: None };
    let st = tracking::start(&m, &eta, &ins.theta, Some(&ins.u), &opts).unwrap();
    (m, eta, tol, opts, st)
}

/// Above f64 a tracking step's solve at θ_t (GD's S, recorded in f64 only; its u only starts the
/// next step's solve) stops at 2^-60 (`sharpness::RECORD_TOL`, Session 47): over the first three
/// steps from θ₀ of the net above, the recorded `sharpness_gd` is the f64 of the same trail's solve
/// at the run's tolerance (2^-240) bit for bit, and `eigen_residual_gd` ≤ 2^-60. Error budget: the
/// Ritz value at relative residual 2^-60 is within (2^-60‖H‖)²/gap ≈ 2^-120·S·(S/gap) of S, at most
/// 2^-110·S for S/gap ≤ 2^10, 2^-57 of f64's half ulp of S, so the two round to one f64 unless S
/// lies that close to a rounding boundary (probability ≈ 2^-57 per value). Measured: residuals
/// 1.5e-19 and 8.4e-19 at steps 1 and 2 (77–94 HVPs at 2^-240; step 0's solve ends after 1 HVP
/// either way).
#[test]
fn mpfr_gd_sharpness_recorded_at_2_pow_minus_60_is_the_full_tolerance_value_in_f64() {
    use selfstab::tracking;
    let (m, eta, tol, opts, mut st) = tracked_64_4_10_256();
    for t in 0..3 {
        let full = st.trail_gd.clone().solve(&m, &st.theta, st.warm_gd.first().map(Vec::as_slice), tol).unwrap();
        let (row, stop) = tracking::step(&m, &eta, &mut st, &opts).unwrap();
        assert!(stop.is_none(), "step {t}: {stop:?}");
        eprintln!("step {t}: S_gd {} (residual {:e}; at 2^-240: {} HVPs, residual {:e}); step {} HVPs", row.sharpness_gd, row.eigen_residual_gd, full.hvps, full.residuals[0], row.hvps);
        assert_eq!(row.sharpness_gd.to_bits(), full.values[0].to_f64().to_bits(), "step {t}: S_gd {} against {}", row.sharpness_gd, full.values[0].to_f64());
        assert!(row.eigen_residual_gd <= selfstab::sharpness::RECORD_TOL, "step {t}: residual {:e}", row.eigen_residual_gd);
    }
}

/// `run --gf` above f64 advances the gradient flow with its solves at 2^-60 (`sharpness::record_tol`,
/// Session 47): its S is recorded in f64 and sets the sub-step count ⌈ηS⌉ from that f64, its u only
/// starts the next solve. From θ₀ of the net above, five GD steps of the flow give the same rows
/// (loss, S, distance, sub-steps) and the same θ_gf, bit for bit, as solves at 2^-240, with fewer
/// HVPs (the error budget of the test above: S's f64 is the same unless S lies within ≈ 2^-110·S of
/// a rounding boundary).
#[test]
fn mpfr_gradient_flow_with_solves_at_2_pow_minus_60_gives_the_rows_of_full_tolerance_solves() {
    use selfstab::gd::GradientFlow;
    use selfstab::objective::Counted;
    let (m, eta, init) = net_64_4_10_256();
    let tol = EigenOpts::default_tol::<Float>(256);
    let ins = selfstab::gd::find_instability(&m, &eta, &init, 100, tol, &mut []).unwrap();
    let mut runs = vec![];
    for t in [tol, selfstab::sharpness::record_tol::<Float>(256, tol)] {
        let counted = Counted::new(&m);
        let mut g = GradientFlow::new(&ins.theta, &ins.u);
        for step in 0..5 {
            g.advance(&counted, &eta, &ins.theta, step, t).unwrap();
        }
        runs.push((g, counted.counts.hvp.load(std::sync::atomic::Ordering::Relaxed)));
    }
    let ((full, h_full), (rec, h_rec)) = (&runs[0], &runs[1]);
    eprintln!("rows {:?}; HVPs {h_full} at 2^-240, {h_rec} at 2^-60", rec.rows);
    assert_eq!(rec.rows, full.rows, "another flow record");
    assert!(rec.theta == full.theta, "another θ_gf");
    assert!(h_rec < h_full, "{h_rec} HVPs at 2^-60 against {h_full}");
}

/// Above f64 the eigengap check's solve (λ₂(θ†), recorded in f64, deciding λ₂ ≥ C/η) stops at
/// 2^-60 (`tracking::gap_check`, Session 49): at θ†₀ and at the θ† of the first three tracking
/// steps of the net above (no threshold, or one far below λ₂), the recorded λ₂ is the f64 of the full-tolerance (2^-240) solve's bit for bit,
/// with its residual ≤ 2^-60 and fewer HVPs; with a threshold C/η within `gd::SEARCH_BAND` of λ₂
/// (C = η·λ₂ in f64) the check solves again to 2^-240, and its λ₂ is then the full solve's to
/// 2^-230 relative. Error budget of the f64 equality: that of the GD test above (a Ritz value at
/// relative residual 2^-60 is within ≈ 2^-120·‖H‖²/gap of λ₂, far below f64's half ulp unless λ₂
/// lies that close to a rounding boundary); of the re-solve: two solves at 2^-240 from different
/// starts, as in the search test below.
#[test]
fn mpfr_eigengap_check_at_2_pow_minus_60_records_the_full_tolerance_lambda2_in_f64() {
    use selfstab::tracking::{self, TrackOpts, gap_check};
    let (m, eta, tol, opts, mut st) = tracked_64_4_10_256();
    let eta_f = eta.to_f64();
    for t in 0..4 {
        let dag = &st.dagger;
        let full = top_eigen(&m, &dag.theta, Some(&dag.u), &EigenOpts { tol, ..EigenOpts::top::<Float>(2, 256) }).unwrap();
        let l2 = full.values[1].to_f64();
        // No threshold, and one far below λ₂: the 2^-60 solve.
        for cth in [None, Some(0.5 * eta_f * l2)] {
            let check = gap_check(&m, &eta, dag, &TrackOpts { gap_threshold: cth, ..opts.clone() }).unwrap();
            eprintln!("state {t}: λ₂ {l2} ({} HVPs at 2^-240), check {} HVPs, residual {:e}", full.hvps, check.hvps, check.residuals[1]);
            assert_eq!(check.values[1].to_f64().to_bits(), l2.to_bits(), "state {t}: λ₂ {} against {l2}", check.values[1].to_f64());
            assert!(check.residuals[1] <= selfstab::sharpness::RECORD_TOL && check.residuals[1] > tol, "state {t}: residual {:e}", check.residuals[1]);
            assert!(check.hvps < full.hvps, "state {t}: {} HVPs at 2^-60 against {}", check.hvps, full.hvps);
        }
        // A threshold within the band: solved again to the run's tolerance.
        let near = gap_check(&m, &eta, dag, &TrackOpts { gap_threshold: Some(eta_f * l2), ..opts.clone() }).unwrap();
        let d = ((near.values[1].clone() - &full.values[1]) / &full.values[1]).to_f64().abs();
        assert!(near.residuals[1] <= tol, "state {t}: near the threshold the residual is {:e}", near.residuals[1]);
        assert!(d <= libm::ldexp(1.0, -230), "state {t}: λ₂ off by {d:e}");
        if t < 3 {
            let (_, stop) = tracking::step(&m, &eta, &mut st, &opts).unwrap();
            assert!(stop.is_none(), "step {t}: {stop:?}");
        }
    }
}

/// Above f64 the monitors' `S_exact_pred` = λ_max(∇²L(θ† + v)), recorded in f64 only, solves to
/// 2^-60 (Session 49): after two and after four tracking steps of the net above it is the f64 of
/// the full-tolerance solve from the same start (u) bit for bit (the GD test's error budget).
#[test]
fn mpfr_monitors_exact_sharpness_at_2_pow_minus_60_is_the_full_tolerance_value_in_f64() {
    use selfstab::tracking;
    let (m, eta, tol, opts, mut st) = tracked_64_4_10_256();
    for t in 0..4 {
        let (_, stop) = tracking::step(&m, &eta, &mut st, &opts).unwrap();
        assert!(stop.is_none(), "step {t}: {stop:?}");
        if t % 2 == 1 {
            let (row, _) = selfstab::monitors::observe(&m, &st.dagger, &st.theta, Some(&st.v), st.t, tol).unwrap();
            let at: Vec<Float> = st.dagger.theta.iter().zip(&st.v).map(|(a, b)| a.clone() + b).collect();
            let full = top_eigen(&m, &at, Some(&st.dagger.u), &EigenOpts { tol, ..EigenOpts::top::<Float>(1, 256) }).unwrap();
            eprintln!("step {}: S_exact_pred {} ({} HVPs at 2^-240)", st.t, row.s_exact_pred, full.hvps);
            assert_eq!(row.s_exact_pred.to_bits(), full.values[0].to_f64().to_bits(), "step {}: {} against {}", st.t, row.s_exact_pred, full.values[0].to_f64());
        }
    }
}

/// Above f64 `flow`'s GD solve at θ_t (S recorded in f64 only, u only starting the next GD solve)
/// stops at 2^-60 (`central_flow::compare`, Session 49): over three GD steps from θ₀ of the net
/// above (one flow sub-step per GD step), `sharpness_gd` is the f64 of a full-tolerance solve at
/// the same θ_t (GD replayed) bit for bit (the GD test's error budget).
#[test]
fn mpfr_flow_gd_sharpness_at_2_pow_minus_60_is_the_full_tolerance_value_in_f64() {
    use selfstab::central_flow::{self, FlowOpts};
    let (m, eta, init) = net_64_4_10_256();
    let tol = EigenOpts::default_tol::<Float>(256);
    let ins = selfstab::gd::find_instability(&m, &eta, &init, 100, tol, &mut []).unwrap();
    let opts = FlowOpts { substeps: 1, ..FlowOpts::new::<Float>(256) };
    let (rows, _) = central_flow::compare(&m, &eta, &ins.theta, 2, &opts, |_: &[central_flow::CompareRow]| {}).unwrap();
    assert_eq!(rows.len(), 3);
    let (mut theta, mut u) = (ins.theta.clone(), ins.u.clone());
    let mut grad = vec![Float::new(256); m.dim()];
    for r in &rows {
        let full = top_eigen(&m, &theta, Some(&u), &EigenOpts { tol, ..EigenOpts::top::<Float>(1, 256) }).unwrap();
        eprintln!("t = {}: S_gd {} ({} HVPs at 2^-240)", r.t, r.sharpness_gd, full.hvps);
        assert_eq!(r.sharpness_gd.to_bits(), full.values[0].to_f64().to_bits(), "t = {}: {} against {}", r.t, r.sharpness_gd, full.values[0].to_f64());
        u = full.vectors[0].clone();
        selfstab::gd::gd_step(&m, &eta, &mut theta, &mut grad).unwrap();
    }
}

/// Above f64 the search's checks solve to 2^-60 (`sharpness::RECORD_TOL`) and only the unstable
/// iterate to the run's tolerance (Session 47): against a search whose every check is at the
/// run's tolerance (256 bits: 2^-240), the same unstable step, θ₀ and loss bit for bit, the same f64
/// trace, S(θ₀) and u(θ₀) within the run's tolerance, and fewer HVPs. Digits net 64-4-10, n = 20,
/// η = 0.112 (S₀ = 15.83 < 2/η = 17.86; checks at t = 0, 1, 2, unstable at t = 2).
/// Error budget: both final solves stop at relative residual ≤ 2^-240 from different starts, so
/// their eigenvalues differ by ≈ (2^-240·S)²/gap (far below S's ulp, 2^-256·S) plus the rounding
/// of the Rayleigh quotient (a few ulps; ≤ 2^-240·S asserted, measured 7.7e-77 = 2^-252.5), and
/// their unit vectors by ≤ 2·2^-240·S/gap (Davis–Kahan; ≤ 2^-230 asserted, which allows S/gap up
/// to 2^9; measured 1.7e-73 = 2^-241.6). HVPs measured: 171 against 290.
#[test]
fn mpfr_search_checks_at_2_pow_minus_60_find_the_unstable_iterate_of_full_tolerance_checks() {
    use selfstab::gd::{SearchState, TraceRecorder, find_instability_checked, find_instability_from};
    let (m, eta, init) = net_64_4_10_256();
    let bits = 256;
    let tol = EigenOpts::default_tol::<Float>(bits);
    assert!(selfstab::sharpness::record_tol::<Float>(bits, tol) == Mag::new(selfstab::sharpness::RECORD_TOL));
    let (mut tr_new, mut tr_full) = (TraceRecorder::default(), TraceRecorder::default());
    let new = find_instability_from(&m, &eta, SearchState::start(&init), 100, tol, &mut [&mut tr_new]).unwrap();
    let full = find_instability_checked(&m, &eta, SearchState::start(&init), 100, tol, tol, &mut [&mut tr_full]).unwrap();
    let s = full.sharpness.to_f64();
    let ds = (new.sharpness.clone() - &full.sharpness).to_f64().abs() / s;
    let du = selfstab::linalg::norm(&selfstab::linalg::sub(&new.u, &full.u)).to_f64();
    eprintln!("unstable at step {} (S = {s}); |ΔS|/S = {ds:e}, ‖Δu‖ = {du:e}; HVPs {} (checks at 2^-60) vs {} (every check at 2^-240); trace {:?}", full.step, new.hvps, full.hvps, tr_full.rows);
    assert_eq!((new.step, full.step), (2, 2), "the configuration no longer crosses at step 2");
    assert!(new.theta == full.theta && new.loss == full.loss, "another θ₀");
    assert_eq!(tr_new.rows, tr_full.rows, "another f64 trace");
    assert!(ds <= libm::ldexp(1.0, -240), "S(θ₀) off by {ds:e}");
    assert!(du <= libm::ldexp(1.0, -230), "u(θ₀) off by {du:e}");
    assert!(new.hvps < full.hvps, "checks at 2^-60 took {} HVPs, at 2^-240 {}", new.hvps, full.hvps);
}

/// The reported f64 sharpness is the Rayleigh quotient y·Hy of the returned vector (session 29):
/// against the 256-bit solve at the seeded θ₀ of the digits net 64-8-10 (n = 200), |S₆₄ − S₂₅₆|/S₂₅₆
/// ≤ 16ε on both f64 paths. Error budget: the solves' residuals ≤ 1e-10 leave an eigenvalue error of
/// order r²·S/gap ≈ 1e-20; what remains is the f64 HVP's rounding of one Rayleigh quotient, measured
/// ≤ 2.0e-15 relative on three nets (`examples/sharpness_bias`), and 16ε = 3.6e-15. Measured here:
/// −1.1e-16 (fast path), −3.0e-16 (generic). The solver used to report G's eigenvalue
/// θ = ‖Vs‖²·(y·Hy), +6.6e-15 and +8.0e-15 here (‖Vs‖² − 1 = 6.2e-15 on a basis orthonormal only
/// to rounding), which this bound refuses.
#[test]
fn f64_sharpness_matches_256_bits_to_the_hvp_rounding() {
    let layers = [64, 8, 10];
    let data = selfstab::data::digits(200).unwrap();
    let th = init_params(&layers, 0).unwrap();
    let m256 = Mlp::<Float>::new(&layers, Activation::Tanh, LossKind::Mse, &data, 256).unwrap();
    let s256 = top_eigen(&m256, &from_f64::<Float>(&th, 256), None, &EigenOpts::top::<Float>(1, 256)).unwrap().values[0].clone();
    for fast in [true, false] {
        let mut m = Mlp::<f64>::new(&layers, Activation::Tanh, LossKind::Mse, &data, ()).unwrap();
        m.set_fast(fast);
        let s = top_eigen(&m, &th, None, &EigenOpts::top::<f64>(1, ())).unwrap().values[0];
        let rel = ((Float::with_val(256, s) - &s256) / &s256).to_f64();
        println!("fast {fast}: (S₆₄ − S₂₅₆)/S₂₅₆ = {rel:+.2e}");
        assert!(rel.abs() <= 16.0 * f64::EPSILON, "fast path {fast}: S₆₄ off the 256-bit value by {rel:e}");
    }
}

/// L(a, b) = −c·a + ½·a·b²: from b = 0 GD keeps b = 0 and moves a by ηc a step, and the Hessian
/// there is diag(0, a), so S(θ_t) = a_t rises linearly: a crossing of 2/η can be put at any step,
/// in any of the search's check-interval regimes (decisions §3).
struct Ramp<S: Scalar> {
    c: S,
}

impl<S: Scalar> Objective<S> for Ramp<S> {
    fn dim(&self) -> usize {
        2
    }
    fn ctx(&self) -> S::Ctx {
        self.c.ctx()
    }
    fn describe(&self) -> String {
        "ramp −c·a + ½·a·b²".into()
    }
    fn value(&self, th: &[S]) -> Result<S, EvalError> {
        let half = S::from_f64(0.5, self.ctx());
        Ok(th[0].clone() * &th[1] * &th[1] * &half - &(self.c.clone() * &th[0]))
    }
    fn grad(&self, th: &[S], g: &mut [S]) -> Result<S, EvalError> {
        let half = S::from_f64(0.5, self.ctx());
        g[0] = th[1].clone() * &th[1] * &half - &self.c;
        g[1] = th[0].clone() * &th[1];
        self.value(th)
    }
    fn hvp(&self, th: &[S], v: &[S], out: &mut [S]) -> Result<(), EvalError> {
        out[0] = th[1].clone() * &v[1];
        out[1] = th[1].clone() * &v[0] + &(th[0].clone() * &v[1]);
        Ok(())
    }
    fn d3(&self, _th: &[S], v: &[S], w: &[S], out: &mut [S]) -> Result<(), EvalError> {
        out[0] = v[1].clone() * &w[1];
        out[1] = v[0].clone() * &w[1] + &(v[1].clone() * &w[0]);
        Ok(())
    }
    fn d4(&self, _th: &[S], _v: &[S], out: &mut [S]) -> Result<(), EvalError> {
        out.iter_mut().for_each(|o| o.set_zero());
        Ok(())
    }
}

/// Counts the search's backtracks (gd::Observer::on_backtrack).
struct Backtracks(u32);

impl<S: Scalar> selfstab::gd::Observer<S> for Backtracks {
    fn on_backtrack(&mut self, _t: u64) {
        self.0 += 1;
    }
}

/// GD from `init` with S checked at every step, up to `cap` steps: (the first t with
/// S(θ_t) ≥ 2/η, θ_t, every S(θ_s) for s ≤ t), or None if no step up to `cap` crosses.
fn every_step_scan<S: Scalar>(obj: &dyn Objective<S>, eta: &S, init: &[S], cap: u64) -> Option<(u64, Vec<S>, Vec<f64>)> {
    let c = obj.ctx();
    let threshold = S::from_i64(2, c) / eta;
    let opts = EigenOpts { tol: Mag::new(1e-10), ..EigenOpts::top::<S>(1, c) };
    let (mut th, mut g, mut s_seen) = (init.to_vec(), vec![S::zero(c); init.len()], vec![]);
    for t in 0..=cap {
        let s = top_eigen(obj, &th, None, &opts).unwrap().values[0].clone();
        s_seen.push(s.to_f64());
        if s >= threshold {
            return Some((t, th, s_seen));
        }
        selfstab::gd::gd_step(obj, eta, &mut th, &mut g).unwrap();
    }
    None
}

/// The search's θ₀ is the first GD iterate with S ≥ 2/η, as an every-step scan finds it, and the
/// search stops there: S(θ_{step−1}) < 2/η. Returns the number of backtracks the search made.
fn search_finds_the_first_crossing<S: Scalar>(eta: &S, c_rate: &S, a0: &S) -> Result<u32, TestCaseError> {
    let ctx = a0.ctx();
    let m = Ramp { c: c_rate.clone() };
    let init = vec![a0.clone(), S::zero(ctx)];
    let (step, th, s_seen) = every_step_scan(&m, eta, &init, 5000).expect("the ramp crosses within 5000 steps");
    // S = a up to the solver's tolerance: a crossing within 1e-9 of 2/η may be seen either side of
    // it by two solves with different starts; such cases are not this test's question.
    let thr = 2.0 / eta.to_f64();
    prop_assume!(s_seen.iter().all(|s| (s - thr).abs() > 1e-9 * thr));
    let mut bt = Backtracks(0);
    let ins = selfstab::gd::find_instability(&m, eta, &init, 5000, Mag::new(1e-10), &mut [&mut bt]).unwrap();
    prop_assert_eq!(ins.step, step, "η = {}, c = {}, a₀ = {}: S seen {:?}", eta.to_f64(), c_rate.to_f64(), a0.to_f64(), s_seen);
    prop_assert!(ins.theta == th, "θ₀ is not the scan's θ_{}", step);
    prop_assert!(ins.sharpness.to_f64() >= thr && (step == 0 || s_seen[step as usize - 1] < thr));
    Ok(bt.0)
}

#[test]
fn instability_search_backtracks_to_a_crossing_one_step_after_the_last_check() {
    // Both regimes whose check interval is 2 steps, where a crossing one step after a check is
    // found at the next one, 2 steps after it: η = 0.6 with S₀ = 1 < 1/η (interval ⌈1/η⌉ = 2) and
    // η = 0.06 with S₀ = 20 ∈ [1/η, 1.5/η) (interval ⌈0.1/η⌉ = 2). S rises by ηc past 2/η at
    // step 1; the search must backtrack and return step 1, not the check at step 2.
    fn both<S: Scalar>(c: S::Ctx) {
        for (eta, rate, a0) in [("0.6", 2.5, 1.0), ("0.06", 14.0, 20.0)] {
            let eta = S::parse(eta, c).unwrap();
            let rate = S::from_f64(rate, c) / &eta;
            let bt = search_finds_the_first_crossing(&eta, &rate, &S::from_f64(a0, c)).unwrap();
            assert_eq!(bt, 1, "η = {}: the search did not backtrack, the test misses that path", eta.to_f64());
        }
    }
    both::<f64>(());
    both::<Float>(128);
}

proptest! {
    #![proptest_config(common::pinned(256, 0x5e1f_57ab))]
    /// Over η log-uniform in [0.02, 2] (check intervals 1 to 50 steps), S₀ from 0 to 1.1 × 2/η and
    /// a rise per step log-uniform from 1e-3 to 1 × 2/η, the search returns the every-step scan's
    /// first crossing.
    #[test]
    fn instability_search_returns_the_first_iterate_with_s_above_two_over_eta(
        log_eta in (0.02f64).log10()..(2.0f64).log10(),
        f0 in 0.0f64..1.1,
        log_rise in -3.0f64..0.0,
    ) {
        let eta = 10f64.powf(log_eta);
        let thr = 2.0 / eta;
        let a0 = (f0 * thr).max(1e-3);
        search_finds_the_first_crossing::<f64>(&eta, &(10f64.powf(log_rise) * thr / eta), &a0)?;
    }
}
