//! A user's own objective through the library (the session-30 library audit): the entry points
//! check the vectors before the objective sees them, a non-finite ∇S is an error naming it, and a
//! Hessian whose top eigenvalue is 0 or tiny (a saddle) gets its top pair.

// `Diag` indexes θ as a user's code would: a θ shorter than p must never reach it.
#![allow(clippy::needless_range_loop)]

// The README's library example, compiled into this test so that its numbers are checked.
#[allow(dead_code)]
#[path = "../examples/custom_objective.rs"]
mod custom_objective;

use rug::Float;
use selfstab::error::EvalError;
use selfstab::mag::Mag;
use selfstab::sharpness::{EigenOpts, all_eigenpairs, center, top_eigen};
use selfstab::tracking::{self, TrackOpts};
use selfstab::{Objective, Scalar};

/// L(θ) = ½ Σ d_i θ_i² written as a user would, indexing θ directly (a θ shorter than p would
/// panic inside it), at any precision; `nan_d3` makes its third derivative NaN.
struct Diag<S: Scalar> {
    d: Vec<S>,
    nan_d3: bool,
    asym_hvp: bool,
}

impl<S: Scalar> Diag<S> {
    fn new(d: &[f64], c: S::Ctx) -> Self {
        Diag { d: d.iter().map(|&x| S::from_f64(x, c)).collect(), nan_d3: false, asym_hvp: false }
    }
}

impl<S: Scalar> Objective<S> for Diag<S> {
    fn dim(&self) -> usize {
        self.d.len()
    }
    fn ctx(&self) -> S::Ctx {
        self.d[0].ctx()
    }
    fn describe(&self) -> String {
        "diagonal quadratic".into()
    }
    fn value(&self, th: &[S]) -> Result<S, EvalError> {
        let c = self.ctx();
        let mut l = S::zero(c);
        for i in 0..self.d.len() {
            l += &(self.d[i].clone() * &th[i] * &th[i] / &S::from_i64(2, c));
        }
        Ok(l)
    }
    fn grad(&self, th: &[S], g: &mut [S]) -> Result<S, EvalError> {
        for i in 0..self.d.len() {
            g[i] = self.d[i].clone() * &th[i];
        }
        self.value(th)
    }
    fn hvp(&self, _th: &[S], v: &[S], out: &mut [S]) -> Result<(), EvalError> {
        for i in 0..self.d.len() {
            out[i] = self.d[i].clone() * &v[i];
        }
        if self.asym_hvp {
            out[0] += &v[1];
        }
        Ok(())
    }
    fn d3(&self, _th: &[S], _v: &[S], _w: &[S], out: &mut [S]) -> Result<(), EvalError> {
        let c = self.ctx();
        let x = if self.nan_d3 { S::from_f64(f64::NAN, c) } else { S::zero(c) };
        out.iter_mut().for_each(|o| *o = x.clone());
        Ok(())
    }
    fn d4(&self, _th: &[S], _v: &[S], out: &mut [S]) -> Result<(), EvalError> {
        out.iter_mut().for_each(|o| o.set_zero());
        Ok(())
    }
}

fn opts() -> TrackOpts {
    TrackOpts { projection_steps: 3, gap_every: 0, gap_threshold: None, eig_tol: Mag::new(1e-10), chain_tol: None }
}

/// The top eigenvalue 0 (diag(0, −1, …, −9)), 1e-6 and 0 below two negative ones: the residual is
/// judged against the spectrum's size, so each solve converges (before: relative residuals 2.7,
/// 5.6e-10 and 1.36 against 1e-10 — the residual was divided by |λ₁| itself), and λ₁ is exact to
/// the tolerance times that size. With λ₁ the largest in magnitude nothing changes (the tests of
/// the MLP's and the cubic models' solves keep their bits).
#[test]
fn a_top_eigenvalue_at_or_near_zero_is_found() {
    let cases: [(&[f64], f64); 4] = [
        (&[0.0, -1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0, -9.0], 0.0),
        (&[1e-6, -1.0, -2.0], 1e-6),
        (&[-1.0, -2.0, 0.0], 0.0),
        (&[-1.0, -2.0, -3.0], -1.0),
    ];
    for (d, top) in cases {
        let m = Diag::<f64>::new(d, ());
        let th = vec![0.3; d.len()];
        let o = EigenOpts { tol: Mag::new(1e-10), ..EigenOpts::top::<f64>(1, ()) };
        let e = top_eigen(&m, &th, None, &o).unwrap_or_else(|e| panic!("{d:?}: {e}"));
        assert!(e.residuals[0] <= 1e-10, "{d:?}: residual {:e}", e.residuals[0]);
        let size = d.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((e.values[0] - top).abs() <= 1e-10 * size, "{d:?}: λ₁ = {:e}", e.values[0]);
    }
}

/// ½θᵀAθ with A = Q·diag(d)·Qᵀ, Q a Householder reflection: a Hessian with the spectrum d whose
/// eigenvectors are not the axes, so its products carry rounding.
struct Rotated {
    a: Vec<f64>,
}

impl Rotated {
    fn new(d: &[f64]) -> Self {
        let p = d.len();
        let w: Vec<f64> = (0..p).map(|i| 1.0 + i as f64).collect();
        let ww: f64 = w.iter().map(|x| x * x).sum();
        let q = |i: usize, j: usize| f64::from(u8::from(i == j)) - 2.0 * w[i] * w[j] / ww;
        let a = (0..p * p).map(|e| (0..p).map(|k| q(e / p, k) * d[k] * q(e % p, k)).sum()).collect();
        Rotated { a }
    }
    fn apply(&self, x: &[f64], out: &mut [f64]) {
        let p = x.len();
        for i in 0..p {
            out[i] = (0..p).map(|j| self.a[i * p + j] * x[j]).sum();
        }
    }
}

impl Objective<f64> for Rotated {
    fn dim(&self) -> usize {
        (self.a.len() as f64).sqrt() as usize
    }
    fn ctx(&self) {}
    fn describe(&self) -> String {
        "rotated quadratic".into()
    }
    fn value(&self, th: &[f64]) -> Result<f64, EvalError> {
        let mut g = vec![0.0; th.len()];
        self.apply(th, &mut g);
        Ok(0.5 * th.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>())
    }
    fn grad(&self, th: &[f64], g: &mut [f64]) -> Result<f64, EvalError> {
        self.apply(th, g);
        self.value(th)
    }
    fn hvp(&self, _th: &[f64], v: &[f64], out: &mut [f64]) -> Result<(), EvalError> {
        self.apply(v, out);
        Ok(())
    }
    fn d3(&self, _th: &[f64], _v: &[f64], _w: &[f64], out: &mut [f64]) -> Result<(), EvalError> {
        out.iter_mut().for_each(|o| *o = 0.0);
        Ok(())
    }
    fn d4(&self, _th: &[f64], _v: &[f64], out: &mut [f64]) -> Result<(), EvalError> {
        out.iter_mut().for_each(|o| *o = 0.0);
        Ok(())
    }
}

/// The same spectra with eigenvectors off the axes: the iterative solve converges, and the dense
/// path (`eval --top-k` ≥ p) reports residuals over ‖H‖₂ (it divided the top pair's rounding-level
/// residual by |λ₁| ≈ 1e-16: 1.01 for diag(0, −1, …, −9) rotated).
#[test]
fn a_saddle_off_the_axes_gets_its_top_pair_and_small_dense_residuals() {
    for d in [&[0.0, -1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0, -9.0][..], &[1e-6, -1.0, -2.0], &[-1.0, -2.0, 0.0]] {
        let m = Rotated::new(d);
        let th = vec![0.3; d.len()];
        let top = d.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let size = d.iter().map(|x| x * x).sum::<f64>().sqrt();
        let o = EigenOpts { tol: Mag::new(1e-10), ..EigenOpts::top::<f64>(1, ()) };
        let e = top_eigen(&m, &th, None, &o).unwrap_or_else(|e| panic!("{d:?}: {e}"));
        assert!(e.residuals[0] <= 1e-10 && (e.values[0] - top).abs() <= 1e-10 * size, "{d:?}: {:e}, {:e}", e.values[0], e.residuals[0]);
        let all = all_eigenpairs(&m, &th).unwrap();
        let p = d.len() as f64;
        assert!(all.residuals.iter().all(|&r| r <= 16.0 * p * f64::EPSILON), "{d:?}: {:?}", all.residuals);
        assert!((all.values[0] - top).abs() <= 16.0 * p * f64::EPSILON * size, "{d:?}: {:e}", all.values[0]);
    }
}

/// A NaN from the objective's ∇³L stops the centre with an error naming ∇S (α, β and δ came out
/// NaN and 0 and θ† left the stable set silently).
#[test]
fn a_non_finite_third_derivative_is_an_error_naming_grad_s() {
    let mut m = Diag::<f64>::new(&[3.0, 1.0, 0.5], ());
    m.nan_d3 = true;
    let e = center(&m, &[0.1, 0.2, 0.3], None, Mag::new(1e-10)).unwrap_err();
    assert!(e.to_string().contains("∇S = ∇³L[u,u] (the objective's d3_sym) became non-finite"), "{e}");
    let e = tracking::start(&m, &0.5, &[0.1, 0.2, 0.3], None, &opts()).unwrap_err();
    assert!(e.to_string().contains("∇S"), "{e}");
}

/// A θ₀ shorter than p is refused before the objective is called (it panicked inside the user's
/// `grad`), and a θ₀ at another MPFR precision than the objective's is refused (it ran silently at
/// its own precision, or tripped a debug assertion inside rug).
#[test]
fn vectors_of_the_wrong_length_or_precision_are_refused_before_the_objective_runs() {
    let m = Diag::<f64>::new(&[3.0, 1.0, 0.5], ());
    for (th, what) in [(vec![0.1, 0.2], "θ₀ has length 2, the objective has p = 3"), (vec![0.1, f64::NAN, 0.3], "θ₀ holds a non-finite entry at index 1")] {
        let e = tracking::start(&m, &0.5, &th, None, &opts()).unwrap_err();
        assert!(e.to_string().contains(what), "{e}");
    }
    let e = tracking::start(&m, &0.5, &[0.1, 0.2, 0.3], Some(&[1.0]), &opts()).unwrap_err();
    assert!(e.to_string().contains("u₀ has length 1"), "{e}");
    let e = selfstab::gd::find_instability(&m, &0.5, &[0.1, 0.2], 10, Mag::new(1e-10), &mut []).unwrap_err();
    assert!(e.to_string().contains("θ_init has length 2, the objective has p = 3"), "{e}");

    let m = Diag::<Float>::new(&[3.0, 1.0, 0.5], 128);
    let th64: Vec<Float> = [0.1, 0.2, 0.3].iter().map(|&x| Float::with_val(64, x)).collect();
    let eta = Float::with_val(128, 0.5);
    let e = tracking::start(&m, &eta, &th64, None, &opts()).unwrap_err();
    assert!(e.to_string().contains("θ₀ has entry 0 at precision 64 bits, the objective works at 128 bits"), "{e}");
    let e = selfstab::gd::find_instability(&m, &eta, &th64, 10, Mag::new(1e-30), &mut []).unwrap_err();
    assert!(e.to_string().contains("at precision 64 bits"), "{e}");
    let e = center(&m, &th64, None, Mag::new(1e-30)).unwrap_err();
    assert!(e.to_string().contains("at precision 64 bits"), "{e}");
}

/// An HVP that is not symmetric (a user's slip: ∂²L/∂x∂y added on one side only) fails with an
/// error saying so once the basis spans the whole space (it said only "did not converge after 3
/// Hessian-vector products").
#[test]
fn an_asymmetric_hvp_is_named_as_the_cause_of_a_failed_solve() {
    let mut m = Diag::<f64>::new(&[3.0, 1.0, 0.5], ());
    m.asym_hvp = true;
    let o = EigenOpts { tol: Mag::new(1e-10), ..EigenOpts::top::<f64>(1, ()) };
    let e = top_eigen(&m, &[0.1, 0.2, 0.3], None, &o).unwrap_err().to_string();
    assert!(e.contains("spans all p = 3 directions") && e.contains("not a symmetric linear map"), "{e}");
}

/// The README's library example (`examples/custom_objective.rs`: L = ½e^y x² − γy + ½z², γ = 0.001,
/// η = 0.5): θ† sits at y = ln(2/η) with S(θ†) = 2/η and δ = √(γη) to rounding (p = 3: the eigen
/// solves span the whole space, so the eigen tolerance never acts; S(θ†) within 64·p·eps·2/η), GD's sharpness averages 2/η within 0.1 % over 300 steps of self-stabilization, and the
/// prediction follows GD to 0.2 of its distance from θ† (measured 0.157, at the step where
/// ‖θ − θ†‖ is smallest; 1.3e-3 against 8.9e-3 at the last step); f64 and 128 bits agree.
#[test]
fn the_library_example_self_stabilizes_as_the_theory_says() {
    let dir = std::env::temp_dir().join(format!("selfstab_custom_{}", std::process::id()));
    for s in [custom_objective::run::<f64>((), &dir).unwrap(), custom_objective::run::<Float>(128, &dir).unwrap()] {
        assert_eq!((s.unstable_step, s.steps), (16, 300));
        assert!((s.y_dagger - libm::log(4.0)).abs() <= 4.0 * f64::EPSILON, "y† = {}", s.y_dagger);
        assert!((s.s_dagger - 4.0).abs() <= 64.0 * 3.0 * f64::EPSILON * 4.0, "S(θ†) = {}", s.s_dagger);
        assert!((s.delta - libm::sqrt(0.0005)).abs() <= 4.0 * f64::EPSILON, "δ = {}", s.delta);
        assert!((s.mean_s - 4.0).abs() <= 4e-3, "mean S = {}", s.mean_s);
        assert!(s.worst_ratio <= 0.2, "‖θ − θ† − v‖/‖θ − θ†‖ up to {}", s.worst_ratio);
    }
    assert!(dir.join("series.csv").is_file() && dir.join("figures/tracking.svg").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A start far past the edge of stability (S(θ₀) = e^y ≈ 20, 148, 2981 against 2/η = 4 in the
/// library example's loss) is projected into the stable set: the added steps reach
/// S(θ†₀) − 2/η ≤ 1e-6·2/η (`constrained::START_TOL`) and the two after them leave both residuals
/// at rounding, |S − 2/η| ≤ 64·p·eps·S and |u·∇L| ≤ 64·p·eps·‖∇L‖ (p = 3: the solves span the
/// whole space; until session 42 the bounds were the eigen tolerance, 1e-10), where the three
/// linearised steps alone left 0.122, 5.76 and 146 (θ†₀ off M, accepted without a word); a start the
/// three steps bring into M keeps its bits.
#[test]
fn a_start_far_past_the_edge_of_stability_is_projected_into_the_stable_set() {
    let obj = custom_objective::ExpSharp::<f64>::new(0.001);
    let eta = 0.5;
    for y in [3.0, 5.0, 8.0] {
        let st = tracking::start(&obj, &eta, &[0.01, y, 0.3], None, &opts()).unwrap();
        // The step into the bound and the two after it leave both residuals at rounding (measured 0
        // or 8.9e-16, and |u·∇L| ≤ 4.1e-24 with ‖∇L‖ = 0.3).
        let (rs, ru) = (st.residual_s, st.residual_u);
        let g = selfstab::linalg::norm(&st.dagger.grad);
        let rounding = 64.0 * 3.0 * f64::EPSILON;
        assert!(rs.abs() <= rounding * 4.0 && rs == st.dagger.sharpness - 4.0, "y = {y}: S(θ†₀) − 2/η = {rs}");
        assert!(ru.abs() <= rounding * g, "y = {y}: u·∇L = {ru}, ‖∇L‖ = {g}");
    }
    // Near the edge the three steps suffice and nothing is added: the same bits as project's.
    let th = [0.01, 1.5, 0.3];
    let st = tracking::start(&obj, &eta, &th, None, &opts()).unwrap();
    assert_eq!(st.dagger.theta, three_step_projection(&obj, eta, &th).center.theta);
}

/// The 3-step projection from θ₀ (the start before the added steps).
fn three_step_projection<O: Objective<f64>>(obj: &O, eta: f64, th: &[f64]) -> selfstab::stable_set::Projected<f64> {
    let c0 = center(obj, th, None, Mag::new(1e-10)).unwrap();
    selfstab::stable_set::project(obj, &eta, c0, 3, Mag::new(1e-10)).unwrap()
}

/// A constant sharpness above 2/η (L = ½ Σ d_i θ_i² with d₁ = 3, η = 1): the stable set is empty
/// and ∇S⊥ = 0, so no added step can lower S; the start keeps the 3-step projection, bit for bit,
/// and its residual S(θ†₀) − 2/η = 1 says how far off M it is (what `run` warns about).
#[test]
fn a_start_no_projection_step_can_bring_into_the_stable_set_keeps_its_residual() {
    let m = Diag::<f64>::new(&[3.0, 1.0, 0.5], ());
    let th = [0.1, 0.2, 0.3];
    let st = tracking::start(&m, &1.0, &th, None, &opts()).unwrap();
    let p3 = three_step_projection(&m, 1.0, &th);
    assert_eq!((&st.dagger.theta, st.residual_s), (&p3.center.theta, p3.residual_s));
    // No solve was added (∇S⊥ = 0 stops them before the first).
    let init = selfstab::constrained::initial(&m, &1.0, &th, None, 3, Mag::new(1e-10)).unwrap();
    assert_eq!(init.hvps, p3.hvps);
    assert!((st.residual_s - 1.0).abs() <= 4.0 * f64::EPSILON, "{}", st.residual_s);
    assert!(!selfstab::constrained::within_start_tol(&1.0, &st.residual_s, Mag::new(1e-10)));
}

/// L = ½(a + y²)x² + ½z²: S = a + y² near x = 0, and with a > 2/η the sharpness never comes down to
/// 2/η, though ∇S⊥ ≠ 0 off y = 0 (the linearised steps are Newton's on y² + a − 2/η = 0, which has
/// no root and wanders).
struct NoRoot {
    a: f64,
}

impl Objective<f64> for NoRoot {
    fn dim(&self) -> usize {
        3
    }
    fn ctx(&self) {}
    fn describe(&self) -> String {
        "½(a + y²)x² + ½z²".into()
    }
    fn value(&self, th: &[f64]) -> Result<f64, EvalError> {
        let (x, y, z) = (th[0], th[1], th[2]);
        Ok(0.5 * (self.a + y * y) * x * x + 0.5 * z * z)
    }
    fn grad(&self, th: &[f64], g: &mut [f64]) -> Result<f64, EvalError> {
        let (x, y, z) = (th[0], th[1], th[2]);
        (g[0], g[1], g[2]) = ((self.a + y * y) * x, y * x * x, z);
        self.value(th)
    }
    fn hvp(&self, th: &[f64], v: &[f64], out: &mut [f64]) -> Result<(), EvalError> {
        let (x, y) = (th[0], th[1]);
        out[0] = (self.a + y * y) * v[0] + 2.0 * y * x * v[1];
        out[1] = 2.0 * y * x * v[0] + x * x * v[1];
        out[2] = v[2];
        Ok(())
    }
    fn d3(&self, th: &[f64], v: &[f64], w: &[f64], out: &mut [f64]) -> Result<(), EvalError> {
        // L_xxy = 2y, L_xyy = 2x.
        let (x, y) = (th[0], th[1]);
        let mixed = v[0] * w[1] + v[1] * w[0];
        out[0] = 2.0 * y * mixed + 2.0 * x * v[1] * w[1];
        out[1] = 2.0 * y * v[0] * w[0] + 2.0 * x * mixed;
        out[2] = 0.0;
        Ok(())
    }
    fn d4(&self, _th: &[f64], v: &[f64], out: &mut [f64]) -> Result<(), EvalError> {
        // L_xxyy = 2.
        out[0] = 6.0 * v[0] * v[1] * v[1];
        out[1] = 6.0 * v[0] * v[0] * v[1];
        out[2] = 0.0;
        Ok(())
    }
}

/// S ≥ a = 4.5 > 2/η = 4 everywhere while ∇S⊥ ≠ 0: the added projection steps run out
/// (`START_EXTRA_STEPS`) and θ†₀ is the point of smallest S − 2/η among the 3-step projection and
/// the added steps (the first such point), its residual above the bound (the derivatives pass the Taylor checker first, so
/// this is the projection's doing).
#[test]
fn a_projection_that_does_not_reach_the_stable_set_keeps_its_best_point() {
    let m = NoRoot { a: 4.5 };
    let th = [0.01, 1.0, 0.3];
    let d = selfstab::taylor_check::direction::<f64>(3, 1, ());
    let w = selfstab::taylor_check::direction::<f64>(3, 2, ());
    let report = selfstab::taylor_check::check_derivatives(&m, &th, &d, &w).unwrap();
    assert!(report.passed(), "{}", report.summary());
    let st = tracking::start(&m, &0.5, &th, None, &opts()).unwrap();
    // Without a trail (p = 3) the added steps are those of a longer projection: θ†₀ is the
    // k-step projection of smallest S − 2/η over k = 3, …, 3 + START_EXTRA_STEPS (measured:
    // k = 12, 0.5000043, against 0.523 at k = 3 and 0.847 at k = 53).
    let c0 = center(&m, &th, None, Mag::new(1e-10)).unwrap();
    let last = 3 + selfstab::constrained::START_EXTRA_STEPS;
    let best = (3..=last)
        .map(|k| selfstab::stable_set::project(&m, &0.5, c0.clone(), k, Mag::new(1e-10)).unwrap())
        .fold(None::<selfstab::stable_set::Projected<f64>>, |b, p| match b {
            Some(b) if b.residual_s <= p.residual_s => Some(b),
            _ => Some(p),
        })
        .unwrap();
    assert_eq!((&st.dagger.theta, st.residual_s), (&best.center.theta, best.residual_s));
    assert!(st.residual_s >= 0.5 && st.residual_s < three_step_projection(&m, 0.5, &th).residual_s);
    assert!(!selfstab::constrained::within_start_tol(&0.5, &st.residual_s, Mag::new(1e-10)));
}
