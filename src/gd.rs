//! Gradient descent θ_{t+1} = θ_t − η∇L(θ_t) (reference.md §1) and the search for the instability
//! point θ₀, the first iterate with S(θ_t) ≥ 2/η (decisions.md §3).
//!
//! The solver only steps; recording, progress and checkpointing are [`Observer`]s.
//! The sharpness is checked every ⌈1/η⌉ steps while S < 1/η, every ⌈0.1/η⌉ steps while S < 1.5/η,
//! then every step; when a check finds S ≥ 2/η after skipped steps, the search backtracks to the last
//! check below the threshold and re-runs (bit-identically) checking every step, so the reported
//! step is the *first* crossing.

use crate::error::EvalError;
use crate::linalg::{all_finite, axpy, zeros};
use crate::mag::Mag;
use crate::objective::Objective;
use crate::scalar::Scalar;
use crate::sharpness::{EigenOpts, record_tol, top_eigen_subspace};

/// One GD step in place; returns L(θ) before the step (from the same forward pass as ∇L).
pub fn gd_step<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    theta: &mut [S],
    grad: &mut [S],
) -> Result<S, EvalError> {
    check_learning_rate(eta)?;
    crate::objective::check_point(obj, "θ", theta)?;
    if grad.len() != theta.len() {
        return Err(EvalError::Other(format!("the gradient buffer has length {}, θ {}", grad.len(), theta.len())));
    }
    let loss = obj.grad(theta, grad)?;
    if !loss.is_finite() || !all_finite(grad) {
        return Err(EvalError::NonFinite { what: "loss", at: String::new() });
    }
    axpy(&(-eta.clone()), grad, theta);
    Ok(loss)
}

/// What an observer sees at each GD iterate t (before stepping from it).
#[derive(Debug)]
pub struct GdRow<'a, S: Scalar> {
    /// Step index t.
    pub t: u64,
    /// θ_t.
    pub theta: &'a [S],
    /// L(θ_t).
    pub loss: &'a S,
    /// S(θ_t), when it was checked at this step.
    pub sharpness: Option<&'a S>,
}

/// Watches a run (argmin's observer pattern). Rows may be revisited after a backtrack: a row with
/// step t replaces any earlier row with step ≥ t.
pub trait Observer<S: Scalar> {
    /// Called at every iterate.
    fn on_row(&mut self, _row: &GdRow<'_, S>) {}
    /// Called when the search backtracks to step t (rows after t will be re-sent).
    fn on_backtrack(&mut self, _t: u64) {}
    /// Called after every GD step of the search with its state, from which
    /// [`find_instability_from`] goes on bit-identically (a checkpoint saves it).
    fn on_state(&mut self, _state: &SearchState<S>) {}
    /// Whether the search should stop after the current iterate ([`SearchError::Stopped`]): an
    /// interrupt (`progress::interrupt`), as argmin's executor stops on Ctrl-C.
    fn stop(&self) -> bool {
        false
    }
}

/// One row of the pre-instability trace: (t, L(θ_t), S(θ_t) if checked), as f64.
pub type TraceRow = (u64, f64, Option<f64>);

/// Records the pre-instability trace (step, loss, sharpness) as f64 for reports.
#[derive(Debug, Default, Clone)]
pub struct TraceRecorder {
    /// (t, L, S if checked).
    pub rows: Vec<TraceRow>,
}

impl<S: Scalar> Observer<S> for TraceRecorder {
    fn on_row(&mut self, row: &GdRow<'_, S>) {
        while self.rows.last().is_some_and(|r| r.0 >= row.t) {
            self.rows.pop();
        }
        self.rows.push((row.t, row.loss.to_f64(), row.sharpness.map(S::to_f64)));
    }
    fn on_backtrack(&mut self, t: u64) {
        while self.rows.last().is_some_and(|r| r.0 > t) {
            self.rows.pop();
        }
    }
}

/// Progress of GD on stderr ([`crate::progress::Ticker`]): in place every `every` steps on a
/// terminal, else a line every [`crate::progress::LOG_SECONDS`].
pub struct Progress(crate::progress::Ticker);

impl Progress {
    /// A progress printer.
    pub fn new(every: u64) -> Self {
        Progress(crate::progress::Ticker::new(every))
    }

    /// Ends the in-place line (also done when dropped).
    pub fn finish(&mut self) {
        self.0.finish();
    }
}

impl<S: Scalar> Observer<S> for Progress {
    fn on_row(&mut self, row: &GdRow<'_, S>) {
        self.0.show(row.t, || {
            let s = row.sharpness.map(|s| format!("{:.6}", s.to_f64())).unwrap_or_default();
            format!("  GD step {:>7}  loss {:.6e}  S {}", row.t, row.loss.to_f64(), s)
        });
    }
}

/// η must be finite and > 0 (2/η is the stable set's threshold): the library's entry points that
/// take η ([`find_instability`], `tracking::start`, `tracking::start_split`) check it here.
pub fn check_learning_rate<S: Scalar>(eta: &S) -> Result<(), EvalError> {
    let e = eta.to_f64();
    if e > 0.0 && e.is_finite() { Ok(()) } else { Err(EvalError::Other(format!("the learning rate must be finite and > 0, got {e}"))) }
}

/// [`find_instability_from`] as the commands run it: GD's progress on stderr ([`Progress`], every
/// 10 steps on a terminal) beside the command's own `observer` (which records the trace, saves the
/// search and stops it at a signal).
pub fn find_instability_shown<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    from: SearchState<S>,
    cap: u64,
    eig_tol: Mag,
    observer: &mut dyn Observer<S>,
) -> Result<Instability<S>, SearchError> {
    let mut prog = Progress::new(10);
    let inst = {
        let mut obs: Vec<&mut dyn Observer<S>> = vec![observer, &mut prog];
        find_instability_from(obj, eta, from, cap, eig_tol, &mut obs)
    };
    prog.finish();
    inst
}

/// Relative distance |S − 2/η|/(2/η) within which a search check at
/// [`crate::sharpness::RECORD_TOL`] is not trusted to decide which side of 2/η S lies: 2^-20 (the
/// check's S is off by ≈ 2^-120 relative, so the band is wide enough for a relative residual
/// measured against a spectrum up to 2^40 times S).
pub const SEARCH_BAND: f64 = 9.5367431640625e-7;

/// Result of the instability search.
#[derive(Clone, Debug)]
pub struct Instability<S: Scalar> {
    /// First step t with S(θ_t) ≥ 2/η.
    pub step: u64,
    /// θ_t (the theory's θ₀, `theta_unstable`).
    pub theta: Vec<S>,
    /// S(θ_t).
    pub sharpness: S,
    /// L(θ_t).
    pub loss: S,
    /// u(θ_t).
    pub u: Vec<S>,
    /// Eigen solves and HVPs spent.
    pub hvps: u64,
}

/// Why the search ended without an unstable iterate.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// Numerical failure (divergence, eigen solve).
    #[error("{0} (GD step {1})")]
    Eval(EvalError, u64),
    /// No crossing within the cap.
    #[error("no iterate with S ≥ 2/η = {} within {cap} GD steps (last checked S = {} at step {last_t}); raise the step cap (--search-steps, `search_steps` in a config file) or the learning rate", crate::error::num6(*threshold), crate::error::num6(*last_s))]
    NotReached {
        /// 2/η.
        threshold: f64,
        /// The cap.
        cap: u64,
        /// Last checked sharpness.
        last_s: f64,
        /// Its step.
        last_t: u64,
    },
    /// An observer asked the search to stop ([`Observer::stop`]).
    #[error("the instability search was stopped at GD step {0}")]
    Stopped(u64),
}

/// Interval between sharpness checks at sharpness s (decisions.md §3).
pub fn check_interval(s: f64, eta: f64) -> u64 {
    if s < 1.0 / eta {
        (1.0 / eta).ceil().max(1.0) as u64
    } else if s < 1.5 / eta {
        (0.1 / eta).ceil().max(1.0) as u64
    } else {
        1
    }
}

/// The instability search between two GD steps: all it needs to go on bit-identically
/// ([`find_instability_from`]). A search stopped by a signal is saved as this and resumed from it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct SearchState<S: Scalar> {
    /// Step t of the next iterate.
    pub t: u64,
    /// θ_t.
    pub theta: Vec<S>,
    /// Warm start of the next sharpness check: u and the Ritz vectors of the last check.
    pub warm: Vec<Vec<S>>,
    /// HVPs spent so far.
    pub hvps: u64,
    /// Step of the last check below the threshold (where a crossing found later backtracks to).
    pub last_ok_t: u64,
    /// Its iterate.
    pub last_ok_theta: Vec<S>,
    /// Step of the next check.
    pub next_check: u64,
    /// Whether every step is checked (after a backtrack).
    pub every_step: bool,
    /// The last checked S (None before the first check).
    pub last_s: Option<f64>,
}

impl<S: Scalar> SearchState<S> {
    /// The search before its first step, at θ_init.
    pub fn start(theta_init: &[S]) -> Self {
        SearchState {
            t: 0,
            theta: theta_init.to_vec(),
            warm: Vec::new(),
            hvps: 0,
            last_ok_t: 0,
            last_ok_theta: theta_init.to_vec(),
            next_check: 0,
            every_step: false,
            last_s: None,
        }
    }

    /// Whether the state fits a model with p parameters and its check schedule is one the search
    /// reaches (a saved state read back).
    pub fn dims_ok(&self, p: usize) -> bool {
        let schedule_ok = self.last_ok_t <= self.t && (self.every_step || self.next_check >= self.t);
        self.theta.len() == p && self.last_ok_theta.len() == p && self.warm.iter().all(|w| w.len() == p) && schedule_ok
    }
}

/// Run GD from `theta_init` until the first iterate with S ≥ 2/η (at most `cap` steps).
pub fn find_instability<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    theta_init: &[S],
    cap: u64,
    eig_tol: Mag,
    observers: &mut [&mut dyn Observer<S>],
) -> Result<Instability<S>, SearchError> {
    crate::objective::check_point(obj, "θ_init", theta_init).map_err(|e| SearchError::Eval(e, 0))?;
    find_instability_from(obj, eta, SearchState::start(theta_init), cap, eig_tol, observers)
}

/// [`find_instability`] from a state an observer saw ([`Observer::on_state`]): the same iterates,
/// checks and result, bit for bit, as the search that state came from. A check only decides
/// S(θ_t) ≥ 2/η and records S in f64, so it solves to [`record_tol`] (2^-60 above f64); a check
/// within [`SEARCH_BAND`] of 2/η or above it (the unstable iterate's, whose S and u start the
/// tracking) is solved again at the run's tolerance from the check's pair.
pub fn find_instability_from<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    st: SearchState<S>,
    cap: u64,
    eig_tol: Mag,
    observers: &mut [&mut dyn Observer<S>],
) -> Result<Instability<S>, SearchError> {
    let check_tol = record_tol::<S>(obj.ctx(), eig_tol);
    find_instability_checked(obj, eta, st, cap, eig_tol, check_tol, observers)
}

/// [`find_instability_from`] with the checks at `check_tol`: a check whose S is within
/// [`SEARCH_BAND`] of 2/η or above it, when `check_tol` > `eig_tol`, is solved again at `eig_tol`
/// from the check's pair, so the returned S and u are at `eig_tol` (`check_tol` = `eig_tol`: every
/// check at the run's tolerance, as before Session 47).
pub fn find_instability_checked<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    mut st: SearchState<S>,
    cap: u64,
    eig_tol: Mag,
    check_tol: Mag,
    observers: &mut [&mut dyn Observer<S>],
) -> Result<Instability<S>, SearchError> {
    let c = obj.ctx();
    let p = obj.dim();
    let eta_f = eta.to_f64();
    check_learning_rate(eta).map_err(|e| SearchError::Eval(e, 0))?;
    crate::objective::check_point(obj, "θ (the search's iterate)", &st.theta).map_err(|e| SearchError::Eval(e, st.t))?;
    if !st.dims_ok(p) {
        return Err(SearchError::Eval(EvalError::Other(format!("the search state does not fit the model (p = {p})")), st.t));
    }
    let threshold = S::from_i64(2, c) / eta;
    let opts = EigenOpts { tol: eig_tol, ..EigenOpts::top::<S>(1, c) };
    let check_opts = EigenOpts { tol: check_tol, ..opts.clone() };
    let band = threshold.clone() * &S::from_f64(SEARCH_BAND, c);
    let mut grad = zeros::<S>(p, c);
    loop {
        let t = st.t;
        let check = st.every_step || t == st.next_check;
        let mut s_here: Option<S> = None;
        if check {
            let mut eig = top_eigen_subspace(obj, &st.theta, &st.warm, &check_opts).map_err(|e| SearchError::Eval(e, t))?;
            st.hvps += eig.hvps;
            if check_tol > eig_tol && (eig.values[0] >= threshold || (eig.values[0].clone() - &threshold).abs() <= band) {
                // Near 2/η, or the unstable iterate: S and u at the run's tolerance, from the check's pair.
                eig = top_eigen_subspace(obj, &st.theta, &eig.warm(), &opts).map_err(|e| SearchError::Eval(e, t))?;
                st.hvps += eig.hvps;
            }
            let s = eig.values[0].clone();
            st.warm = eig.warm();
            st.last_s = Some(s.to_f64());
            if s >= threshold {
                if t > st.last_ok_t + 1 && !st.every_step {
                    // Crossed between checks: backtrack and re-run checking every step.
                    for o in observers.iter_mut() {
                        o.on_backtrack(st.last_ok_t);
                    }
                    st.t = st.last_ok_t + 1;
                    st.theta.clone_from(&st.last_ok_theta);
                    // Redo the step from last_ok (its row was already recorded).
                    gd_step(obj, eta, &mut st.theta, &mut grad).map_err(|e| SearchError::Eval(e, st.t - 1))?;
                    st.every_step = true;
                    continue;
                }
                let loss = obj.value(&st.theta).map_err(|e| SearchError::Eval(e, t))?;
                for o in observers.iter_mut() {
                    o.on_row(&GdRow { t, theta: &st.theta, loss: &loss, sharpness: Some(&s) });
                }
                return Ok(Instability { step: t, theta: st.theta, sharpness: s, loss, u: st.warm.swap_remove(0), hvps: st.hvps });
            }
            st.last_ok_t = t;
            st.last_ok_theta.clone_from(&st.theta);
            st.next_check = t + check_interval(s.to_f64(), eta_f);
            s_here = Some(s);
        }
        if t >= cap {
            // The iterate at the cap ends the trace (with its S when the cap was a check).
            let loss = obj.value(&st.theta).map_err(|e| SearchError::Eval(e, t))?;
            for o in observers.iter_mut() {
                o.on_row(&GdRow { t, theta: &st.theta, loss: &loss, sharpness: s_here.as_ref() });
            }
            let last_s = st.last_s.unwrap_or(f64::NAN);
            return Err(SearchError::NotReached { threshold: threshold.to_f64(), cap, last_s, last_t: st.last_ok_t });
        }
        let theta_t = st.theta.clone();
        let loss = gd_step(obj, eta, &mut st.theta, &mut grad).map_err(|e| SearchError::Eval(e, t))?;
        for o in observers.iter_mut() {
            o.on_row(&GdRow { t, theta: &theta_t, loss: &loss, sharpness: s_here.as_ref() });
        }
        st.t = t + 1;
        for o in observers.iter_mut() {
            o.on_state(&st);
        }
        if observers.iter().any(|o| o.stop()) {
            return Err(SearchError::Stopped(t));
        }
    }
}

/// One row of `gf.csv`: gradient flow at GD step t.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FlowRow {
    /// GD step (the flow has run for time t·η).
    pub t: u64,
    /// L(θ_gf).
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub loss: f64,
    /// S(θ_gf).
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub sharpness: f64,
    /// ‖θ_gf − θ†_t‖.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub dist_dagger: f64,
    /// Euler sub-steps of the step from t to t + 1, ⌈ηS(θ_gf)⌉.
    pub substeps: u64,
}

/// Gradient flow dθ/dτ = −∇L(θ) from θ₀ on GD's clock, as the authors' code tracks it (reference
/// §5.3–5.4, `gf`): per GD step, n = ⌈ηS⌉ explicit Euler sub-steps of size η/n (each ≤ 1/S, so no
/// sub-step oscillates along the top eigenvector, unlike GD at the edge of stability), with S and u
/// re-solved at the start of every step (warm-started at the previous u).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct GradientFlow<S: Scalar> {
    /// θ_gf.
    pub theta: Vec<S>,
    /// The top eigenvector at the last solve (the next solve's start).
    pub u: Vec<S>,
    /// The rows so far.
    pub rows: Vec<FlowRow>,
}

impl<S: Scalar> GradientFlow<S> {
    /// The flow from θ₀ with the top eigenvector `u0` there.
    pub fn new(theta0: &[S], u0: &[S]) -> Self {
        GradientFlow { theta: theta0.to_vec(), u: u0.to_vec(), rows: vec![] }
    }

    /// Record the row of GD step `t` (`dagger` = θ†_t), then advance the flow by one GD step.
    pub fn advance(&mut self, obj: &dyn Objective<S>, eta: &S, dagger: &[S], t: u64, tol: Mag) -> Result<(), EvalError> {
        let c = obj.ctx();
        let opts = EigenOpts { tol, ..EigenOpts::top::<S>(1, c) };
        let eig = top_eigen_subspace(obj, &self.theta, std::slice::from_ref(&self.u), &opts)?;
        let s = eig.values[0].clone();
        self.u = eig.vectors[0].clone();
        // n = ⌈ηS⌉ ≥ 1 (the ceiling of a correctly rounded f64, the same on every machine).
        let n = (eta.clone() * &s).to_f64().ceil().max(1.0);
        if !(n.is_finite() && n <= 1e6) {
            return Err(EvalError::Other(format!("gradient flow at step {t}: ηS = {} needs too many sub-steps", (eta.clone() * &s).to_f64())));
        }
        let dist = crate::linalg::norm(&crate::linalg::sub(&self.theta, dagger)).to_f64();
        let h = eta.clone() / &S::from_i64(n as i64, c);
        let mut grad = zeros::<S>(obj.dim(), c);
        let mut loss = None;
        for _ in 0..n as u64 {
            let l = gd_step(obj, &h, &mut self.theta, &mut grad).map_err(|e| EvalError::Other(format!("gradient flow at step {t}: {e}")))?;
            loss.get_or_insert(l);
        }
        let nan = crate::npy::finite_or_nan;
        self.rows.push(FlowRow { t, loss: nan(loss.expect("n ≥ 1").to_f64()), sharpness: nan(s.to_f64()), dist_dagger: nan(dist), substeps: n as u64 });
        Ok(())
    }
}

/// `gf.csv` text: `t,loss_gf,sharpness_gf,dist_gf_dagger,substeps`.
pub fn flow_csv(rows: &[FlowRow]) -> String {
    let mut s = String::from("t,loss_gf,sharpness_gf,dist_gf_dagger,substeps\n");
    let cell = crate::npy::csv_cell;
    for r in rows {
        s.push_str(&format!("{},{},{},{},{}\n", r.t, cell(r.loss), cell(r.sharpness), cell(r.dist_dagger), r.substeps));
    }
    s
}
