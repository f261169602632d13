//! The tracking run (reference.md §5.3–§5.4, `track_dynamics`): GD θ_t, the constrained trajectory
//! θ†_t and the predictions θ†_t + v_t (standard and generalized) advanced in lockstep from θ₀.
//!
//! Per step, in the authors' order: record the statistics; GD step; predicted steps using the *old*
//! θ†_t; constrained step. The recorded series and what each column means are documented in the
//! README (schema of `series.csv`). The state is serialisable so a run can be checkpointed and
//! resumed bit-identically.

use crate::constrained;
use crate::error::EvalError;
use crate::linalg::{all_finite, axpy, dot, norm, sub, zeros};
use crate::mag::Mag;
use crate::objective::Objective;
use crate::predicted::{self, Kind};
use crate::scalar::Scalar;
use crate::sharpness::{Center, Eigen, EigenOpts, Trail, center, top_eigen, top_eigen_subspace};
use crate::stable_set::Projected;

/// Settings of a tracking run.
#[derive(Clone, Debug)]
pub struct TrackOpts {
    /// Linearised projection steps per projection (`selfstab run` uses 3).
    pub projection_steps: usize,
    /// Solve for λ₂(θ†) every this many steps ([`gap_check`]; 0: never; `selfstab run`'s
    /// `--gap-every`, default 50).
    pub gap_every: u64,
    /// Stop when λ₂(θ†) ≥ C/η (None: record only).
    pub gap_threshold: Option<f64>,
    /// Eigen tolerance.
    pub eig_tol: Mag,
    /// Tolerance of the θ† chain's early solves: the centre at θ†_t − η∇L(θ†_t) and every
    /// projection step that two more follow (`stable_set::early_solve`; with 3 steps the centre and
    /// step 1). None: `eig_tol` (every solve at full tolerance, the default). theory/README.md
    /// "Early solves of the θ† chain".
    pub chain_tol: Option<Mag>,
}

impl TrackOpts {
    /// The settings a run can use: at least one projection step, and every tolerance and the gap
    /// threshold finite and > 0 (a NaN threshold would never stop a run; an infinite tolerance
    /// would stop every solve at its start). [`start`], [`start_split`] and [`step`] check them.
    pub fn check(&self) -> Result<(), EvalError> {
        let bad = |what: &str, v: Mag| EvalError::Other(format!("tracking options: {what} must be a finite number > 0, got {v}"));
        if self.projection_steps == 0 {
            return Err(EvalError::Other("tracking options: projection_steps = 0 (θ† needs at least one projection step)".into()));
        }
        if !(self.eig_tol > 0.0 && self.eig_tol.is_finite()) {
            return Err(bad("eig_tol", self.eig_tol));
        }
        if let Some(t) = self.chain_tol
            && !(t > 0.0 && t.is_finite())
        {
            return Err(bad("chain_tol", t));
        }
        if let Some(c) = self.gap_threshold
            && !(c > 0.0 && c.is_finite())
        {
            return Err(bad("gap_threshold", Mag::new(c)));
        }
        Ok(())
    }
}

/// The state of a tracking run after t steps (everything needed to continue).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct TrackState<S: Scalar> {
    /// Steps done.
    pub t: u64,
    /// GD iterate θ_t.
    pub theta: Vec<S>,
    /// Top eigenvector at θ_t from the last solve and the next Ritz vectors (warm subspace).
    pub warm_gd: Vec<Vec<S>>,
    /// Centre at θ†_t.
    pub dagger: Center<S>,
    /// Projection residuals of θ†_t.
    pub residual_s: S,
    /// u·∇L at θ†_t.
    pub residual_u: S,
    /// Standard prediction v_t.
    pub v: Vec<S>,
    /// Generalized prediction v_t.
    pub v_gen: Vec<S>,
    /// λ₂(θ†) at the last gap check (above f64 from a solve at 2^-60, [`gap_check`]).
    pub lambda2: Option<S>,
    /// Step at which the standard prediction left the finite range (its columns are empty from
    /// then on; GD and θ† go on).
    #[serde(default)]
    pub pred_diverged: Option<u64>,
    /// Same for the generalized prediction.
    #[serde(default)]
    pub pred_gen_diverged: Option<u64>,
    /// Warm-start trail of the GD solves (extrapolated starts, sharpness.rs [`Trail`]).
    #[serde(default)]
    pub trail_gd: Trail<S>,
    /// Warm-start trail of the θ† chain (centre at θ† − η∇L and the projection steps).
    #[serde(default)]
    pub trail_dagger: Trail<S>,
}

/// Points kept by the θ† chain's trail: four tracking steps of the chain (centre + 3 projection
/// steps each), so that each role keeps its last [`crate::sharpness::TRAIL_ROLE_POINTS`].
pub const TRAIL_DAGGER_POINTS: usize = 16;

/// Trails are used when p exceeds this. On smaller (toy) models a solve spans the whole space in
/// ≤ p HVPs and returns the eigenpairs to rounding, which the toy claims' closed-form comparisons
/// rely on (tests/decades.rs: engine vs reduced iteration to 1e-9·δ over 400 steps); a trail would
/// stop at the tolerance instead.
pub const TRAIL_MIN_DIM: usize = 64;

fn trails<S: Scalar>() -> (Trail<S>, Trail<S>) {
    let dagger = Trail { cap: TRAIL_DAGGER_POINTS, role_points: crate::sharpness::TRAIL_ROLE_POINTS, ..Trail::default() };
    (Trail::default(), dagger)
}

impl<S: Scalar> TrackState<S> {
    /// Whether every vector of the state (θ, the predictions, θ†'s centre, the warm starts and the
    /// trails) has length p: a state read back from a checkpoint is resumed only then.
    pub fn dims_ok(&self, p: usize) -> bool {
        let d = &self.dagger;
        let trail_ok = |t: &Trail<S>| t.points.iter().all(|(a, b)| a.len() == p && b.len() == p) && t.ritz.iter().all(|v| v.len() == p);
        [&self.theta, &self.v, &self.v_gen, &d.theta, &d.grad, &d.u, &d.grad_s, &d.grad_s_perp].iter().all(|v| v.len() == p)
            && self.warm_gd.iter().all(|v| v.len() == p)
            && trail_ok(&self.trail_gd)
            && trail_ok(&self.trail_dagger)
    }
}

/// One recorded row (f64 for the reports; `None` or NaN where not computed at this step): the
/// columns of `series.csv` (README, `selfstab run`'s outputs). [`Row::default`] is a row with
/// nothing computed (every value NaN or `None`, t = 0), so a value a step does not reach stays an
/// empty cell, never a made-up zero.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Row {
    /// Tracking step t (t = 0 at θ₀; every quantity at step t, before the step).
    pub t: u64,
    /// L(θ_t).
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub loss_gd: f64,
    /// L(θ†_t).
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub loss_dagger: f64,
    /// L(θ†_t + v_t).
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub loss_pred: f64,
    /// L(θ†_t) + x_t²/η.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub loss_taylor: f64,
    /// S(θ_t) (Lanczos, relative residual ≤ eig_tol).
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub sharpness_gd: f64,
    /// S(θ†_t).
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub sharpness_dagger: f64,
    /// S(θ†) + ∇S·v.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub sharpness_pred: f64,
    /// S(θ†) + ∇S⊥·v.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub sharpness_pred_avg: f64,
    /// x_t = u·v_t (the prediction; u and ∇S⊥ at θ†_t).
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub x: f64,
    /// y_t = ∇S⊥·v_t.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub y: f64,
    /// u·(θ_t − θ†_t).
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub x_gd: f64,
    /// ∇S⊥·(θ_t − θ†_t).
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub y_gd: f64,
    /// ‖θ_t − θ†_t‖.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub dist: f64,
    /// ‖v_t‖.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub pred_norm: f64,
    /// ‖θ_t − θ†_t − v_t‖.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub tracking_error: f64,
    /// α = −∇L·∇S⊥ at θ†.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub alpha: f64,
    /// β = ‖∇S⊥‖² at θ†.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub beta: f64,
    /// δ = √(2α/β) (0 if α ≤ 0).
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub delta: f64,
    /// γ = α/(‖∇L‖√β) at θ†.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub gamma: f64,
    /// u·∇L/S at θ†.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub newton_x: f64,
    /// S(θ†) − 2/η after the projection.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub proj_residual_s: f64,
    /// u·∇L(θ†) after the projection.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub proj_residual_u: f64,
    /// Relative residual of the eigen solve at θ_t.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub eigen_residual_gd: f64,
    /// λ₂(θ†) every `gap_every` steps (None otherwise).
    pub lambda2_dagger: Option<f64>,
    /// `loss_pred` of the generalized prediction.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub loss_pred_gen: f64,
    /// `loss_taylor` of the generalized prediction.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub loss_taylor_gen: f64,
    /// `sharpness_pred` of the generalized prediction.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub sharpness_pred_gen: f64,
    /// `sharpness_pred_avg` of the generalized prediction.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub sharpness_pred_avg_gen: f64,
    /// `x` of the generalized prediction.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub x_gen: f64,
    /// `y` of the generalized prediction.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub y_gen: f64,
    /// `pred_norm` of the generalized prediction.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub pred_norm_gen: f64,
    /// `tracking_error` of the generalized prediction.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub tracking_error_gen: f64,
    /// Hessian-vector products spent in the step.
    pub hvps: u64,
    /// Wall time of the step (the only non-reproducible field).
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub step_seconds: f64,
    /// GD's evaluation at θ_t failed (its loss is non-finite): the row holds no value. Set by the
    /// step, never saved (a recorded row is one whose evaluation succeeded).
    #[serde(skip)]
    pub(crate) gd_failed: bool,
}

impl Default for Row {
    /// Nothing computed: every value NaN (`None` for λ₂), t = 0, no HVPs.
    fn default() -> Self {
        let nan = f64::NAN;
        Row {
            t: 0,
            loss_gd: nan, loss_dagger: nan, loss_pred: nan, loss_taylor: nan, sharpness_gd: nan,
            sharpness_dagger: nan, sharpness_pred: nan, sharpness_pred_avg: nan, x: nan, y: nan,
            x_gd: nan, y_gd: nan, dist: nan, pred_norm: nan, tracking_error: nan, alpha: nan,
            beta: nan, delta: nan, gamma: nan, newton_x: nan, proj_residual_s: nan,
            proj_residual_u: nan, eigen_residual_gd: nan, lambda2_dagger: None, loss_pred_gen: nan,
            loss_taylor_gen: nan, sharpness_pred_gen: nan, sharpness_pred_avg_gen: nan, x_gen: nan,
            y_gen: nan, pred_norm_gen: nan, tracking_error_gen: nan, hvps: 0, step_seconds: nan,
            gd_failed: false,
        }
    }
}

/// Column names of [`Row`] in CSV order.
pub const COLUMNS: &[&str] = &[
    "t", "loss_gd", "loss_dagger", "loss_pred", "loss_taylor", "sharpness_gd", "sharpness_dagger",
    "sharpness_pred", "sharpness_pred_avg", "x", "y", "x_gd", "y_gd", "dist", "pred_norm",
    "tracking_error", "alpha", "beta", "delta", "gamma", "newton_x", "proj_residual_s",
    "proj_residual_u", "eigen_residual_gd", "lambda2_dagger", "loss_pred_gen", "loss_taylor_gen",
    "sharpness_pred_gen", "sharpness_pred_avg_gen", "x_gen", "y_gen", "pred_norm_gen",
    "tracking_error_gen", "hvps", "step_seconds",
];

impl Row {
    /// Whether GD's evaluation at θ_t reached this row. It did not only where GD's loss at θ_t was
    /// non-finite (the step stops with [`StopReason::Diverged`]): such a row holds no value, and
    /// `selfstab run` does not record it. (Not read from the values: above f64 a finite loss can
    /// lie beyond f64's range and be reported as NaN.)
    pub fn measured(&self) -> bool {
        !self.gd_failed
    }

    /// Every non-finite value set to NaN (an empty cell), so that a checkpoint, which stores NaN as
    /// `null`, reads back the same row: an overflowed value is as undefined as one not computed.
    pub fn nonfinite_to_nan(&mut self) {
        for x in [
            &mut self.loss_gd, &mut self.loss_dagger, &mut self.loss_pred, &mut self.loss_taylor,
            &mut self.sharpness_gd, &mut self.sharpness_dagger, &mut self.sharpness_pred,
            &mut self.sharpness_pred_avg, &mut self.x, &mut self.y, &mut self.x_gd, &mut self.y_gd,
            &mut self.dist, &mut self.pred_norm, &mut self.tracking_error, &mut self.alpha,
            &mut self.beta, &mut self.delta, &mut self.gamma, &mut self.newton_x,
            &mut self.proj_residual_s, &mut self.proj_residual_u, &mut self.eigen_residual_gd,
            &mut self.loss_pred_gen, &mut self.loss_taylor_gen, &mut self.sharpness_pred_gen,
            &mut self.sharpness_pred_avg_gen, &mut self.x_gen, &mut self.y_gen,
            &mut self.pred_norm_gen, &mut self.tracking_error_gen, &mut self.step_seconds,
        ] {
            *x = crate::npy::finite_or_nan(*x);
        }
        self.lambda2_dagger = self.lambda2_dagger.filter(|l| l.is_finite());
    }

    /// Values in [`COLUMNS`] order (NaN for `None`).
    pub fn values(&self) -> Vec<f64> {
        vec![
            self.t as f64, self.loss_gd, self.loss_dagger, self.loss_pred, self.loss_taylor,
            self.sharpness_gd, self.sharpness_dagger, self.sharpness_pred, self.sharpness_pred_avg,
            self.x, self.y, self.x_gd, self.y_gd, self.dist, self.pred_norm, self.tracking_error,
            self.alpha, self.beta, self.delta, self.gamma, self.newton_x, self.proj_residual_s,
            self.proj_residual_u, self.eigen_residual_gd, self.lambda2_dagger.unwrap_or(f64::NAN),
            self.loss_pred_gen, self.loss_taylor_gen, self.sharpness_pred_gen,
            self.sharpness_pred_avg_gen, self.x_gen, self.y_gen, self.pred_norm_gen,
            self.tracking_error_gen, self.hvps as f64, self.step_seconds,
        ]
    }
}

/// Why a tracking run stopped early.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum StopReason {
    /// All requested steps done.
    Completed,
    /// GD's loss became non-finite.
    Diverged(String),
    /// λ₂(θ†) reached the eigengap threshold.
    Eigengap(String),
    /// The prediction or θ† failed numerically.
    Numerical(String),
}

impl StopReason {
    /// Short machine-readable tag.
    pub fn tag(&self) -> &'static str {
        match self {
            StopReason::Completed => "completed",
            StopReason::Diverged(_) => "diverged",
            StopReason::Eigengap(_) => "eigengap",
            StopReason::Numerical(_) => "numerical",
        }
    }
    /// Human message.
    pub fn message(&self) -> String {
        match self {
            StopReason::Completed => "completed all requested steps".into(),
            StopReason::Diverged(m) | StopReason::Eigengap(m) | StopReason::Numerical(m) => m.clone(),
        }
    }
}

/// Start a tracking run at θ₀: θ†₀ = proj_M(θ₀), v₀ = θ₀ − θ†₀ (decisions.md §3). The eigen solve
/// at θ₀ starts the GD trail and the projection's solves the θ† chain's.
pub fn start<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    theta0: &[S],
    u0: Option<&[S]>,
    opts: &TrackOpts,
) -> Result<TrackState<S>, EvalError> {
    opts.check()?;
    crate::gd::check_learning_rate(eta)?;
    crate::objective::check_point(obj, "θ₀", theta0)?;
    if let Some(u) = u0 {
        crate::objective::check_point(obj, "u₀", u)?;
    }
    let (mut trail_gd, mut trail_dagger) = trails();
    let proj = if obj.dim() > TRAIL_MIN_DIM {
        constrained::initial_with(obj, eta, theta0, u0, opts.projection_steps, &mut trail_gd, &mut trail_dagger, opts.eig_tol)?
    } else {
        constrained::initial(obj, eta, theta0, u0, opts.projection_steps, opts.eig_tol)?
    };
    let v = sub(theta0, &proj.center.theta);
    Ok(TrackState {
        t: 0,
        theta: theta0.to_vec(),
        warm_gd: vec![proj.center.u.clone()],
        residual_s: proj.residual_s,
        residual_u: proj.residual_u,
        v_gen: v.clone(),
        v,
        dagger: proj.center,
        lambda2: None,
        pred_diverged: None,
        pred_gen_diverged: None,
        trail_gd,
        trail_dagger,
    })
}

/// Start from an explicit split (θ†₀, v₀) (the ideal split of the toy claims).
pub fn start_split<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    dagger0: &[S],
    v0: &[S],
    u0: Option<&[S]>,
    opts: &TrackOpts,
) -> Result<TrackState<S>, EvalError> {
    opts.check()?;
    crate::gd::check_learning_rate(eta)?;
    crate::objective::check_point(obj, "θ†₀", dagger0)?;
    crate::objective::check_point(obj, "v₀", v0)?;
    if let Some(u) = u0 {
        crate::objective::check_point(obj, "u₀", u)?;
    }
    let Projected { center: dag, residual_s, residual_u, .. } = Projected::new(center(obj, dagger0, u0, opts.eig_tol)?, eta, 0);
    let theta: Vec<S> = dagger0.iter().zip(v0).map(|(a, b)| a.clone() + b).collect();
    Ok(TrackState {
        t: 0,
        theta,
        warm_gd: vec![dag.u.clone()],
        residual_s,
        residual_u,
        v: v0.to_vec(),
        v_gen: v0.to_vec(),
        dagger: dag,
        lambda2: None,
        pred_diverged: None,
        pred_gen_diverged: None,
        trail_gd: trails().0,
        trail_dagger: trails().1,
    })
}

/// Whether [`overlap`] runs its two branches concurrently ([`crate::linalg::threads`] ≥ 2).
pub(crate) fn concurrent() -> bool {
    crate::linalg::threads() >= 2
}

/// Runs `a` and `b` concurrently on rayon's pool when [`concurrent`], each as a
/// [`crate::linalg::branch`] (while both run, their kernels do not split their work further). With
/// one thread only `a` runs and `b` comes back unrun ([`Deferred::Pending`]): the caller runs it
/// after `a`, and only if it still needs it, as sequential code would; `b` then must not change
/// what the caller keeps when it does not need `b` (e.g. let `b` work on a copy, see [`step`]).
pub(crate) fn overlap<RA: Send, RB: Send, B: FnOnce() -> RB + Send>(a: impl FnOnce() -> RA + Send, b: B) -> (RA, Deferred<RB, B>) {
    if concurrent() {
        let (ra, rb) = crate::linalg::join2(a, b);
        (ra, Deferred::Done(rb))
    } else {
        (a(), Deferred::Pending(b))
    }
}

/// The second result of [`overlap`]: computed already (two threads) or still to compute (one).
pub(crate) enum Deferred<R, F> {
    Done(R),
    Pending(F),
}

impl<R, F: FnOnce() -> R> Deferred<R, F> {
    /// The result, computed now if still pending.
    pub(crate) fn get(self) -> R {
        match self {
            Deferred::Done(r) => r,
            Deferred::Pending(f) => f(),
        }
    }
}

/// Record the statistics of the current state and advance it by one step. Returns the row of step
/// t (before advancing) and, if the run must stop, why; where GD's loss at θ_t is non-finite the
/// row holds nothing ([`Row::measured`] is false) and the stop is [`StopReason::Diverged`].
///
/// The step has two independent parts: (A) the work at θ_t and θ†_t ([`at_points`]: GD's
/// evaluation, the predictions' steps and statistics, λ₂(θ†_t) when due) and (B) θ†'s constrained
/// step. With two threads ([`crate::linalg::set_threads`]) they run concurrently, each on its own
/// trail and at its own θ's (the MLP keeps the constant blocks of two θ's); B then advances a copy
/// of θ†'s trail, which the state takes over only where one thread would have run B (A did not stop
/// the run), so the rows and the state after the step (a stopped one too) are the same bits with one
/// and two threads. With one thread B runs after A and only when the run goes on. (An objective that
/// counts its calls, [`crate::objective::Counted`], also counts a discarded B's with two threads.)
pub fn step<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    st: &mut TrackState<S>,
    opts: &TrackOpts,
) -> Result<(Row, Option<StopReason>), EvalError> {
    if !st.dims_ok(obj.dim()) {
        return Err(EvalError::Other(format!("tracking state: a vector does not have the objective's length {}", obj.dim())));
    }
    opts.check()?;
    crate::gd::check_learning_rate(eta)?;
    // The trails leave the state for the step, so that each part holds its own while both read the
    // rest of the state. With two threads the whole step runs on rayon's pool (its solves and
    // evaluations then hand work over from inside it; [`crate::linalg::on_pool`]).
    crate::linalg::on_pool(|| {
        let mut trail_gd = std::mem::take(&mut st.trail_gd);
        let mut trail_dagger = std::mem::take(&mut st.trail_dagger);
        let out = step_parts(obj, eta, st, &mut trail_gd, &mut trail_dagger, opts);
        (st.trail_gd, st.trail_dagger) = (trail_gd, trail_dagger);
        out.map(|(mut row, stop)| {
            row.nonfinite_to_nan();
            (row, stop)
        })
    })
}

/// [`step`] with the state's trails held apart.
fn step_parts<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    st: &mut TrackState<S>,
    trail_gd: &mut Trail<S>,
    trail_dagger: &mut Trail<S>,
    opts: &TrackOpts,
) -> Result<(Row, Option<StopReason>), EvalError> {
    let clock = std::time::Instant::now();
    let t = st.t;
    let mut row = Row { t, ..Row::default() };
    let use_trails = obj.dim() > TRAIL_MIN_DIM;
    let dag = &st.dagger;
    // With two threads B runs before A has decided whether the step goes on: on a copy of the trail.
    let mut copy = (use_trails && concurrent()).then(|| trail_dagger.clone());
    let trail_b = match copy.as_mut() {
        Some(c) => c,
        None => trail_dagger,
    };
    let (at, proj) = {
        let (st, row) = (&*st, &mut row);
        overlap(
            move || at_points(obj, eta, st, use_trails.then_some(trail_gd), opts, row),
            move || {
                let early = opts.chain_tol.unwrap_or(opts.eig_tol);
                let trail = use_trails.then_some(trail_b);
                constrained::step_early(obj, eta, dag, opts.projection_steps, trail, opts.eig_tol, early)
            },
        )
    };
    let AtPoints { v_next, vg_next, grad, eig, gap } = match at? {
        Ok(a) => a,
        Err(stop) => return Ok((Row { gd_failed: true, ..row }, Some(stop))),
    };
    let mut hvps = eig.hvps;

    // --- eigengap every gap_every steps.
    let mut stop = None;
    if let Some(e2) = gap {
        hvps += e2.hvps;
        let l2 = e2.values[1].clone();
        row.lambda2_dagger = Some(l2.to_f64());
        if let Some(cth) = opts.gap_threshold {
            let lim = cth / eta.to_f64();
            if l2.to_f64() >= lim {
                stop = Some(StopReason::Eigengap(format!(
                    "eigengap assumption failed at tracking step {t}: λ₂(θ†) = {} ≥ {cth}/η = {}",
                    crate::error::num6(l2.to_f64()),
                    crate::error::num6(lim)
                )));
            }
        }
        st.lambda2 = Some(l2);
    }
    if stop.is_some() {
        row.hvps = hvps;
        row.step_seconds = clock.elapsed().as_secs_f64();
        return Ok((row, stop));
    }

    // --- advance: GD, constrained step (the predictions were advanced in part A).
    let mut theta_next = st.theta.clone();
    axpy(&(-eta.clone()), &grad, &mut theta_next);
    // One thread runs B here (on θ†'s trail itself): from here on the state has B's trail.
    let proj = proj.get();
    if let Some(c) = copy {
        *trail_dagger = c;
    }
    let (v_next, vg_next, proj) = match (v_next, vg_next, proj) {
        (Ok(a), Ok(b), Ok(pj)) => (a, b, pj),
        (a, b, pj) => {
            let e = [a.err(), b.err(), pj.err()].into_iter().flatten().next().unwrap();
            row.hvps = hvps;
            row.step_seconds = clock.elapsed().as_secs_f64();
            // If GD itself has left the finite range, that is the reason to report.
            let gd_finite = all_finite(&theta_next) && obj.value(&theta_next).is_ok_and(|l| l.is_finite());
            let stop = if gd_finite {
                // Far past the edge (η·S ≫ 2) θ†'s step from θ†_t − η∇L(θ†_t) overflows first.
                let eta_s = eta.to_f64() * row.sharpness_gd;
                let hint = if eta_s > 10.0 { format!(" (η·S(θ_t) = {}, against 2 at the edge of stability: is η far too large?)", crate::error::num6(eta_s)) } else { String::new() };
                StopReason::Numerical(format!("θ† failed after tracking step {t}: {e}{hint}"))
            } else {
                StopReason::Diverged(format!("GD diverged: the loss became non-finite at tracking step {}", t + 1))
            };
            return Ok((row, Some(stop)));
        }
    };
    hvps += proj.hvps + 2;
    st.theta = theta_next;
    st.warm_gd = std::iter::once(eig.vectors[0].clone()).chain(eig.next_ritz.iter().take(3).cloned()).collect();
    (st.v, st.pred_diverged) = v_next;
    (st.v_gen, st.pred_gen_diverged) = vg_next;
    st.residual_s = proj.residual_s;
    st.residual_u = proj.residual_u;
    st.dagger = proj.center;
    st.t += 1;
    row.hvps = hvps;
    row.step_seconds = clock.elapsed().as_secs_f64();
    Ok((row, None))
}

/// A prediction's next displacement and the step at which it diverged (if it has).
type Advanced<S> = Result<(Vec<S>, Option<u64>), EvalError>;

/// What part A of [`step`] computes at θ_t and θ†_t besides the row's statistics.
struct AtPoints<S: Scalar> {
    /// The standard and the generalized prediction's next displacements.
    v_next: Advanced<S>,
    vg_next: Advanced<S>,
    /// ∇L(θ_t).
    grad: Vec<S>,
    /// GD's top eigenpair at θ_t.
    eig: Eigen<S>,
    /// The top-2 solve at θ†_t, when due.
    gap: Option<Eigen<S>>,
}

/// Part A of [`step`]: λ₂(θ†_t) every `gap_every` steps, the predictions' next displacements, GD's
/// evaluation at θ_t ([`eval_gd`]), θ†'s and the predictions' statistics (recorded in `row`).
/// GD's divergence is returned as the stop.
fn at_points<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    st: &TrackState<S>,
    trail_gd: Option<&mut Trail<S>>,
    opts: &TrackOpts,
    row: &mut Row,
) -> Result<Result<AtPoints<S>, StopReason>, EvalError> {
    let c = obj.ctx();
    let p = obj.dim();
    let t = st.t;
    let dag = &st.dagger;

    // --- the work at θ†_t comes first, while the model's θ-only blocks are still those of θ†_t
    // (the last point the previous step evaluated): λ₂(θ†_t) every `gap_every` steps (checked
    // by the caller), then the predictions' next displacements.
    let gap = if opts.gap_every > 0 && t.is_multiple_of(opts.gap_every) && p >= 2 {
        Some(gap_check(obj, eta, dag, opts)?)
    } else {
        None
    };
    // A prediction whose displacement leaves the finite range is marked diverged (and reported by
    // the caller); GD and θ† continue. Any other failure stops the run.
    let advance = |v: &[S], kind: Kind, done: Option<u64>| -> Advanced<S> {
        if done.is_some() {
            return Ok((v.to_vec(), done));
        }
        match predicted::step(obj, eta, dag, v, kind) {
            Ok(next) => Ok((next, None)),
            Err(EvalError::NonFinite { .. }) => Ok((v.to_vec(), Some(t + 1))),
            Err(e) => Err(e),
        }
    };
    let v_next = advance(&st.v, Kind::Standard, st.pred_diverged);
    let vg_next = advance(&st.v_gen, Kind::Generalized, st.pred_gen_diverged);

    // --- GD at θ_t: loss, gradient, sharpness (warm-started).
    let (grad, eig) = match eval_gd(obj, &st.theta, &st.warm_gd, trail_gd, opts.eig_tol, t, row)? {
        Ok(v) => v,
        Err(stop) => return Ok(Err(stop)),
    };

    // --- θ† statistics and GD's deviation from θ†.
    let dev = record_dagger(row, dag, st);

    // --- predictions (standard, generalized).
    let pred_stats = |v: &[S]| -> Result<[f64; 7], EvalError> {
        let (x, y) = predicted::xy(dag, v);
        let mut q = dag.theta.clone();
        axpy(&S::one(c), v, &mut q);
        let lp = obj.value(&q).map(|l| l.to_f64()).unwrap_or(f64::NAN);
        let lt = (dag.loss.clone() + &(x.clone() * &x / eta)).to_f64();
        let sp = (dag.sharpness.clone() + &dot(&dag.grad_s, v)).to_f64();
        let sa = (dag.sharpness.clone() + &y).to_f64();
        let err = norm(&sub(&dev, v)).to_f64();
        Ok([lp, lt, sp, sa, x.to_f64(), y.to_f64(), err])
    };
    // A prediction that has diverged reports empty (NaN) columns from then on.
    let nan = [f64::NAN; 7];
    let [lp, lt, sp, sa, x, y, err] = if st.pred_diverged.is_some() { nan } else { pred_stats(&st.v)? };
    (row.loss_pred, row.loss_taylor, row.sharpness_pred, row.sharpness_pred_avg) = (lp, lt, sp, sa);
    (row.x, row.y, row.tracking_error) = (x, y, err);
    row.pred_norm = if st.pred_diverged.is_some() { f64::NAN } else { norm(&st.v).to_f64() };
    let [lp, lt, sp, sa, x, y, err] = if st.pred_gen_diverged.is_some() { nan } else { pred_stats(&st.v_gen)? };
    (row.loss_pred_gen, row.loss_taylor_gen, row.sharpness_pred_gen, row.sharpness_pred_avg_gen) = (lp, lt, sp, sa);
    (row.x_gen, row.y_gen, row.tracking_error_gen) = (x, y, err);
    row.pred_norm_gen = if st.pred_gen_diverged.is_some() { f64::NAN } else { norm(&st.v_gen).to_f64() };
    Ok(Ok(AtPoints { v_next, vg_next, grad, eig, gap }))
}

/// θ†'s statistics (loss, sharpness, α, β, δ, γ, Newton ratio, projection residuals) and GD's
/// deviation θ − θ† (x_gd, y_gd, dist) recorded in `row`; returns the deviation.
pub(crate) fn record_dagger<S: Scalar>(row: &mut Row, dag: &Center<S>, st: &TrackState<S>) -> Vec<S> {
    row.loss_dagger = dag.loss.to_f64();
    row.sharpness_dagger = dag.sharpness.to_f64();
    row.alpha = dag.alpha.to_f64();
    row.beta = dag.beta.to_f64();
    row.delta = dag.delta().to_f64();
    let gnorm = norm(&dag.grad).to_f64();
    row.gamma = row.alpha / (gnorm * row.beta.sqrt());
    row.newton_x = (dot(&dag.u, &dag.grad) / &dag.sharpness).to_f64();
    row.proj_residual_s = st.residual_s.to_f64();
    row.proj_residual_u = st.residual_u.to_f64();
    let dev = sub(&st.theta, &dag.theta);
    let (xg, yg) = predicted::xy(dag, &dev);
    row.x_gd = xg.to_f64();
    row.y_gd = yg.to_f64();
    row.dist = norm(&dev).to_f64();
    dev
}

/// The eigengap check's solve: the top two eigenpairs at θ† (`dag`), warm-started at u. λ₂(θ†) is
/// recorded in f64 and only decides λ₂ ≥ C/η (`opts.gap_threshold`), so above f64 the solve stops at
/// [`crate::sharpness::record_tol`] (2^-60: λ₂ is then within ≈ 2^-60·S of the full-tolerance
/// value, and its f64 the same unless it lies that close to a rounding boundary); when λ₂ lies
/// within [`crate::gd::SEARCH_BAND`] of C/η the pairs are solved again at `opts.eig_tol` from the
/// first solve's, so the decision is that of a full-tolerance solve. `hvps` counts both solves.
pub fn gap_check<S: Scalar>(obj: &dyn Objective<S>, eta: &S, dag: &Center<S>, opts: &TrackOpts) -> Result<Eigen<S>, EvalError> {
    let c = obj.ctx();
    let tol = crate::sharpness::record_tol::<S>(c, opts.eig_tol);
    let eo2 = EigenOpts { tol, ..EigenOpts::top::<S>(2, c) };
    let e = top_eigen(obj, &dag.theta, Some(&dag.u), &eo2)?;
    if tol > opts.eig_tol
        && let Some(cth) = opts.gap_threshold
    {
        let lim = cth / eta.to_f64();
        if (e.values[1].to_f64() - lim).abs() <= crate::gd::SEARCH_BAND * lim {
            let mut full = top_eigen_subspace(obj, &dag.theta, &e.warm_all(), &EigenOpts { tol: opts.eig_tol, ..eo2 })?;
            full.hvps += e.hvps;
            return Ok(full);
        }
    }
    Ok(e)
}

/// GD's evaluation at θ_t: L, ∇L and the warm-started top eigenpair, recorded in `row` (`loss_gd`,
/// `sharpness_gd`, `eigen_residual_gd`). A non-finite loss or gradient is GD's divergence: returned
/// as the stop, not as an error. With a trail the solve is the trail's (extrapolated start,
/// `warm[0]` only starting an empty trail); without, it is warm-started from the subspace `warm`.
/// S(θ_t) is recorded in f64 only and u(θ_t) only starts the next step's solve, so above f64 the
/// solve stops at [`crate::sharpness::record_tol`] (2^-60) instead of `eig_tol`.
#[allow(clippy::type_complexity)]
pub(crate) fn eval_gd<S: Scalar>(
    obj: &dyn Objective<S>,
    theta: &[S],
    warm: &[Vec<S>],
    trail: Option<&mut Trail<S>>,
    eig_tol: Mag,
    t: u64,
    row: &mut Row,
) -> Result<Result<(Vec<S>, Eigen<S>), StopReason>, EvalError> {
    let c = obj.ctx();
    let mut grad = zeros::<S>(obj.dim(), c);
    let loss_gd = match obj.grad(theta, &mut grad) {
        Ok(l) if l.is_finite() && all_finite(&grad) => l,
        Ok(_) | Err(EvalError::NonFinite { .. }) => {
            let msg = format!("GD diverged: the loss became non-finite at tracking step {t}");
            return Ok(Err(StopReason::Diverged(msg)));
        }
        Err(e) => return Err(e),
    };
    let tol = crate::sharpness::record_tol::<S>(c, eig_tol);
    let eig = match trail {
        Some(tr) => tr.solve(obj, theta, warm.first().map(Vec::as_slice), tol)?,
        None => top_eigen_subspace(obj, theta, warm, &EigenOpts { tol, ..EigenOpts::top::<S>(1, c) })?,
    };
    row.loss_gd = loss_gd.to_f64();
    row.sharpness_gd = eig.values[0].to_f64();
    row.eigen_residual_gd = eig.residuals[0].to_f64();
    Ok(Ok((grad, eig)))
}
