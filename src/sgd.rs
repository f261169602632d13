//! Mini-batch GD and the stochastic sharpness gap (claim 32; theory/README.md "Several unstable
//! eigenvalues", SGD; reference.md §9.3).
//!
//! θ ← θ − η∇L_B(θ), L_B the mean loss over a batch B of b samples (the same per-sample loss as the
//! full-batch objective, so E∇L_B = ∇L). Sampling: a ChaCha8 stream seeded with `sample_seed`; each
//! epoch is a Fisher–Yates permutation of 0..n cut into ⌊n/b⌋ batches of b (the last partial batch is
//! dropped). Every `every` steps the full-batch S, u, α = −∇L·∇S⊥, β = ‖∇S⊥‖² and
//! σ_u² = mean over the ⌊n/b⌋ batches of a fresh permutation of (u·∇L_B − u·∇L)² are measured at θ_t.
//! The gap 2/η − ⟨S⟩ over the window after EoS is compared with ΔS = η⟨β⟩⟨σ_u²⟩/(4⟨α⟩) (means over
//! the window checks with α > 0). f64 only (a study, not a precision claim).

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::data::Dataset;
use crate::error::{Error, EvalError, InputError};
use crate::linalg::{axpy, dot, zeros};
use crate::models::mlp::{Activation, LossKind, Mlp};
use crate::objective::Objective;
use crate::sharpness::center;

/// Seeded epoch sampler: without replacement within an epoch, last partial batch dropped.
#[derive(Clone, Debug)]
pub struct Sampler {
    rng: ChaCha8Rng,
    n: usize,
    b: usize,
    queue: std::collections::VecDeque<Vec<usize>>,
    /// Words drawn from `rng` so far (a saved sampler is restored by drawing them again).
    draws: u64,
}

/// A [`Sampler`]'s position, as saved: the words drawn from its stream and the batches left in
/// its epoch.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SamplerState {
    /// Words drawn so far.
    pub draws: u64,
    /// The current epoch's batches not yet used.
    pub queue: Vec<Vec<usize>>,
}

impl Sampler {
    /// A sampler over 0..n with batch size b (1 ≤ b ≤ n).
    pub fn new(n: usize, b: usize, seed: u64) -> Result<Self, InputError> {
        if b == 0 || b > n {
            return Err(InputError::Value { key: "batch".into(), msg: format!("must be in 1..={n} (the number of samples), got {b}") });
        }
        Ok(Sampler { rng: ChaCha8Rng::seed_from_u64(seed), n, b, queue: Default::default(), draws: 0 })
    }

    /// Its position ([`Sampler::restore`] goes on from it).
    pub fn state(&self) -> SamplerState {
        SamplerState { draws: self.draws, queue: self.queue.iter().cloned().collect() }
    }

    /// Why `st` is not a position a sampler over 0..n with batch size b reaches, if it is not:
    /// words come a whole epoch (n − 1 of them) at a time, an epoch's batch is queued only after
    /// one was taken from it, and queued batches are batches of b of 0..n.
    pub fn position_problem(n: usize, b: usize, st: &SamplerState) -> Option<String> {
        let per_epoch = n.saturating_sub(1) as u64;
        let queue_ok = st.queue.len() < n / b.max(1) && (st.draws > 0 || st.queue.is_empty());
        if (per_epoch == 0 && st.draws > 0) || (per_epoch > 0 && !st.draws.is_multiple_of(per_epoch)) || !queue_ok {
            return Some(format!("a sampler position of {} draws and {} queued batches does not fit n = {n}, b = {b}", st.draws, st.queue.len()));
        }
        if st.queue.iter().any(|q| q.len() != b || q.iter().any(|&i| i >= n)) {
            return Some(format!("its queued batches are not batches of {b} of 0..{n}"));
        }
        None
    }

    /// The sampler of `seed` at a saved position: the same batches from there on as the sampler
    /// that was saved. A position no such sampler reaches ([`Sampler::position_problem`]) is refused.
    pub fn restore(n: usize, b: usize, seed: u64, st: &SamplerState) -> Result<Self, String> {
        let mut s = Sampler::new(n, b, seed).map_err(|e| e.to_string())?;
        if let Some(why) = Self::position_problem(n, b, st) {
            return Err(why);
        }
        for _ in 0..st.draws {
            s.rng.next_u64();
        }
        s.draws = st.draws;
        s.queue = st.queue.iter().cloned().collect();
        Ok(s)
    }

    /// The ⌊n/b⌋ batches of one fresh epoch (Fisher–Yates with `next_u64() % (i + 1)`).
    pub fn epoch(&mut self) -> Vec<Vec<usize>> {
        let mut perm: Vec<usize> = (0..self.n).collect();
        for i in (1..self.n).rev() {
            let j = (self.rng.next_u64() % (i as u64 + 1)) as usize;
            perm.swap(i, j);
        }
        self.draws += self.n.saturating_sub(1) as u64;
        perm.chunks_exact(self.b).map(<[usize]>::to_vec).collect()
    }

    /// The next batch (a new epoch when the current one is used up).
    pub fn next_batch(&mut self) -> Vec<usize> {
        if self.queue.is_empty() {
            self.queue = self.epoch().into();
        }
        self.queue.pop_front().expect("an epoch has ≥ 1 batch")
    }
}

/// The rows `idx` of a data set.
pub fn subset(ds: &Dataset, idx: &[usize]) -> Dataset {
    let mut x = Vec::with_capacity(idx.len() * ds.d);
    let mut y = Vec::with_capacity(idx.len());
    for &i in idx {
        x.extend_from_slice(&ds.x[i * ds.d..(i + 1) * ds.d]);
        y.push(ds.y[i]);
    }
    Dataset { x, y, n: idx.len(), d: ds.d }
}

/// Settings of an SGD run.
#[derive(Clone, Debug)]
pub struct SgdOpts {
    /// Widths.
    pub layers: Vec<usize>,
    /// Activation.
    pub activation: Activation,
    /// Loss.
    pub loss: LossKind,
    /// η.
    pub lr: f64,
    /// Batch size b (b = n: full-batch GD).
    pub batch: usize,
    /// SGD steps.
    pub steps: u64,
    /// Full-batch measurements every this many steps.
    pub every: u64,
    /// Seed of the sampling stream (the σ_u² epochs use `sample_seed ^ 0x5eed`).
    pub sample_seed: u64,
    /// EoS is reached at the first check with S ≥ (1 − eos_eps)·2/η.
    pub eos_eps: f64,
    /// The window is the last `window` fraction of the run (and after EoS).
    pub window: f64,
    /// Eigen tolerance.
    pub eig_tol: f64,
}

/// One full-batch check along the SGD run.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Check {
    /// SGD step.
    pub t: u64,
    /// L(θ_t).
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub loss: f64,
    /// S(θ_t).
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub sharpness: f64,
    /// α.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub alpha: f64,
    /// β.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub beta: f64,
    /// σ_u².
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub sigma_u2: f64,
}

/// Result of an SGD run.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct SgdResult {
    /// Batch size.
    pub batch: usize,
    /// η.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub lr: f64,
    /// 2/η.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub threshold: f64,
    /// First check step with S ≥ (1 − eos_eps)·2/η (None: never).
    pub eos_step: Option<u64>,
    /// Checks in the window.
    pub window_checks: usize,
    /// ⟨S⟩ over the window.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub mean_sharpness: f64,
    /// 2/η − ⟨S⟩.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub gap: f64,
    /// Fraction of window checks with α > 0.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub alpha_pos_fraction: f64,
    /// ⟨α⟩, ⟨β⟩, ⟨σ_u²⟩ over the window checks with α > 0.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub mean_alpha: f64,
    /// ⟨β⟩.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub mean_beta: f64,
    /// ⟨σ_u²⟩.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub mean_sigma_u2: f64,
    /// ΔS = η⟨β⟩⟨σ_u²⟩/(4⟨α⟩) (NaN when no window check has α > 0).
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub predicted_gap: f64,
    /// gap/ΔS.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub ratio: f64,
    /// b ≥ n: every batch is the whole data set, so σ_u² is rounding (exactly 0 in exact arithmetic)
    /// and ΔS and gap/ΔS carry no information: they are NaN (null in `sgd.json`, "—" in the
    /// markdown table).
    #[serde(default)]
    pub full_batch: bool,
    /// The step at which the mini-batch loss or gradient became non-finite (the run stopped there;
    /// its statistics cover the checks before it). None: all steps ran.
    #[serde(default)]
    pub diverged_at: Option<u64>,
    /// All checks.
    pub checks: Vec<Check>,
}

/// One batch size's SGD run between two steps: all it needs to go on bit-identically
/// ([`run_from`]). `selfstab sgd` saves it at a signal and every 10 s at most.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SgdState {
    /// The batch size.
    pub batch: usize,
    /// The next step t (its check, if t is one, not yet made).
    pub t: u64,
    /// θ_t.
    pub theta: Vec<f64>,
    /// u at the last check (the next check's warm start).
    pub u_prev: Option<Vec<f64>>,
    /// The checks so far.
    pub checks: Vec<Check>,
    /// The mini-batch sampler's position.
    pub sampler: SamplerState,
    /// The σ_u² epochs' sampler's position.
    pub noise: SamplerState,
}

impl SgdState {
    /// Why this state cannot be a position of the run `o` on n samples with p parameters, if it
    /// cannot (a saved state read back).
    pub fn problem(&self, o: &SgdOpts, n: usize, p: usize) -> Option<String> {
        let checks_ok = self.checks.len() as u64 == self.t.div_ceil(o.every) && self.checks.iter().enumerate().all(|(i, c)| c.t == i as u64 * o.every);
        if self.batch != o.batch || self.t > o.steps || !checks_ok {
            return Some(format!("its b = {} run in progress is at step {} with {} checks, not a position of this job's run", self.batch, self.t, self.checks.len()));
        }
        if self.theta.len() != p || self.u_prev.as_ref().is_some_and(|u| u.len() != p) || self.u_prev.is_some() == self.checks.is_empty() {
            return Some(format!("its b = {} run in progress does not fit the network (p = {p})", self.batch));
        }
        Sampler::position_problem(n, o.batch, &self.sampler).or_else(|| Sampler::position_problem(n, o.batch, &self.noise))
    }
}

/// Run SGD from θ₀ on `ds` and measure the gap (module doc). A run whose mini-batch loss or
/// gradient becomes non-finite stops there and returns its checks so far with
/// [`SgdResult::diverged_at`] set (the caller reports it; `selfstab sgd` keeps the outputs and
/// exits with an error).
pub fn run(ds: &Dataset, theta0: &[f64], o: &SgdOpts) -> Result<SgdResult, Error> {
    run_from(ds, theta0, o, None, &mut ())
}

/// Watches an SGD run between its steps (`selfstab sgd` saves its state and stops it at a signal).
pub trait SgdObserver {
    /// Whether the state after the step that ends at step t is wanted ([`SgdObserver::save`]).
    fn due(&mut self, _t: u64) -> bool {
        false
    }
    /// The state when [`SgdObserver::due`]; true stops the run with [`Error::Interrupted`].
    fn save(&mut self, _state: &SgdState) -> Result<bool, Error> {
        Ok(false)
    }
}

/// No observer.
impl SgdObserver for () {}

/// The options' own ranges: η > 0 finite, eos_eps ∈ [0, 1), every ≥ 1, window ∈ (0, 1].
fn check_opts(o: &SgdOpts) -> Result<(), Error> {
    if !(o.lr > 0.0 && o.lr.is_finite()) {
        return Err(InputError::LearningRate(format!("{}", o.lr)).into());
    }
    // As `run` refuses it (config.rs): the gap is measured against 2/η.
    if !(2.0 / o.lr).is_finite() {
        return Err(InputError::Value { key: "lr".into(), msg: format!("`{:e}` is so small that the threshold 2/η overflows", o.lr) }.into());
    }
    if !(o.eos_eps >= 0.0 && o.eos_eps < 1.0) {
        return Err(InputError::Value { key: "eos_eps".into(), msg: format!("must be in [0, 1), got {}", o.eos_eps) }.into());
    }
    if o.every == 0 {
        return Err(InputError::Value { key: "every".into(), msg: "must be ≥ 1, got 0".into() }.into());
    }
    if !(o.window > 0.0 && o.window <= 1.0) {
        return Err(InputError::Value { key: "window".into(), msg: format!("must be in (0, 1], got {}", o.window) }.into());
    }
    Ok(())
}

/// [`run`] from a saved position `from` (None: from θ₀), with an observer of its state after each
/// step. Resumed from a state the observer saw, the run ends with the result of the run that state
/// came from, bit for bit.
pub fn run_from(ds: &Dataset, theta0: &[f64], o: &SgdOpts, from: Option<SgdState>, observer: &mut dyn SgdObserver) -> Result<SgdResult, Error> {
    let full = Mlp::<f64>::new(&o.layers, o.activation, o.loss, ds, ())?;
    if theta0.len() != full.dim() {
        return Err(InputError::Dimension(format!("θ₀ has {} entries, the network {}", theta0.len(), full.dim())).into());
    }
    check_opts(o)?;
    let p = full.dim();
    let (mut st, mut sampler, mut noise) = match from {
        Some(st) => {
            if let Some(why) = st.problem(o, ds.n, p) {
                return Err(EvalError::Other(format!("the saved SGD run cannot be resumed: {why}")).into());
            }
            let sampler = Sampler::restore(ds.n, o.batch, o.sample_seed, &st.sampler).map_err(EvalError::Other)?;
            let noise = Sampler::restore(ds.n, o.batch, o.sample_seed ^ 0x5eed, &st.noise).map_err(EvalError::Other)?;
            (st, sampler, noise)
        }
        None => {
            let sampler = Sampler::new(ds.n, o.batch, o.sample_seed)?;
            let noise = Sampler::new(ds.n, o.batch, o.sample_seed ^ 0x5eed)?;
            let st = SgdState { batch: o.batch, t: 0, theta: theta0.to_vec(), u_prev: None, checks: vec![], sampler: sampler.state(), noise: noise.state() };
            (st, sampler, noise)
        }
    };
    let mut g = zeros::<f64>(p, ());
    let batch_model = |idx: &[usize]| Mlp::<f64>::new(&o.layers, o.activation, o.loss, &subset(ds, idx), ());
    let mut diverged_at = None;
    // Progress at the checks: in place on a terminal, else a line every progress::LOG_SECONDS.
    let mut prog = crate::progress::Ticker::new(1);
    for t in st.t..=o.steps {
        if t % o.every == 0 {
            let check = (|| -> Result<(Check, Vec<f64>), Error> {
                let cen = center(&full, &st.theta, st.u_prev.as_deref(), o.eig_tol)?;
                let ug = dot(&cen.u, &cen.grad);
                let batches = noise.epoch();
                let mut s2 = 0.0;
                for b in &batches {
                    let m = batch_model(b)?;
                    m.grad(&st.theta, &mut g)?;
                    s2 += (dot(&cen.u, &g) - ug).powi(2);
                }
                let c = Check { t, loss: cen.loss, sharpness: cen.sharpness, alpha: cen.alpha, beta: cen.beta, sigma_u2: s2 / batches.len() as f64 };
                Ok((c, cen.u))
            })();
            match check {
                Ok((c, u)) => {
                    // A loss bounded below that grew DIVERGENCE_GROWTH times over its first check
                    // has diverged, though still finite (as `run` stops GD).
                    let blown = st.checks.first().is_some_and(|c0: &Check| c.loss > crate::commands::DIVERGENCE_GROWTH * c0.loss);
                    prog.show(t, || format!("  b = {}: step {:>7}/{}  loss {:.6e}  S {:.5}", o.batch, t, o.steps, c.loss, c.sharpness));
                    st.checks.push(c);
                    st.u_prev = Some(u);
                    if blown {
                        diverged_at = Some(t);
                        break;
                    }
                }
                // Non-finite values at a check are the run's divergence too (the mini-batch step
                // may still have been finite).
                Err(Error::Eval(EvalError::NonFinite { .. })) if t > 0 || !st.theta.iter().all(|x| x.is_finite()) => {
                    diverged_at = Some(t);
                    break;
                }
                // A check that fails on an iterate whose loss has blown up (an eigen solve that
                // does not converge there: η = 5, b = 16) is the divergence, as in `run`.
                Err(e) => {
                    let l = full.value(&st.theta).unwrap_or(f64::NAN);
                    let blown = st.checks.first().is_some_and(|c0: &Check| !(l <= crate::commands::DIVERGENCE_GROWTH * c0.loss));
                    if blown {
                        diverged_at = Some(t);
                        break;
                    }
                    return Err(EvalError::Other(format!("SGD at step {t} (batch {}): the full-batch check failed: {e}", o.batch)).into());
                }
            }
        }
        if t == o.steps {
            break;
        }
        let m = batch_model(&sampler.next_batch())?;
        let finite = m.grad(&st.theta, &mut g).is_ok_and(|l| l.is_finite()) && crate::linalg::all_finite(&g);
        if !finite {
            diverged_at = Some(t);
            break;
        }
        axpy(&(-o.lr), &g, &mut st.theta);
        st.t = t + 1;
        if observer.due(st.t) {
            // (The samplers' positions are copied only here: a copy per step would cost more than
            // a small batch's gradient.)
            st.sampler = sampler.state();
            st.noise = noise.state();
            if observer.save(&st)? {
                prog.finish();
                return Err(Error::Interrupted(format!("interrupted at SGD step {} of {} (b = {})", st.t, o.steps, o.batch)));
            }
        }
    }
    prog.finish();
    Ok(result(o, st.checks, o.batch >= ds.n, diverged_at))
}

/// The result of a run from its checks ([`summarise`]), with the full batch's undefined ΔS and
/// gap/ΔS as NaN (σ_u² is rounding: null in sgd.json, "—" in sgd.md).
fn result(o: &SgdOpts, checks: Vec<Check>, full_batch: bool, diverged_at: Option<u64>) -> SgdResult {
    let mut r = SgdResult { full_batch, diverged_at, ..summarise(o, checks) };
    if r.full_batch {
        r.predicted_gap = f64::NAN;
        r.ratio = f64::NAN;
    }
    r
}

/// Why a saved result cannot be this job's batch size `o.batch`, if it cannot: its checks must be
/// the run's (one every `every` steps from 0, all of them unless it diverged). Its statistics are
/// not read: they are recomputed from the checks ([`result`]), so an edited file or one of an
/// earlier build gives the statistics of its checks.
fn saved_result_problem(r: &SgdResult, o: &SgdOpts) -> Option<String> {
    let expected = o.steps / o.every + 1;
    let n = r.checks.len() as u64;
    // A divergence comes at or after the last check it kept.
    let diverged_ok = r.diverged_at.is_none_or(|t| t <= o.steps && t >= r.checks.last().map_or(0, |c| c.t));
    if n == 0 || n > expected || (r.diverged_at.is_none() && n != expected) || !diverged_ok || r.checks.iter().enumerate().any(|(i, c)| c.t != i as u64 * o.every) {
        return Some(format!("its b = {} run holds {n} checks, not one every {} steps up to step {}", o.batch, o.every, o.steps));
    }
    None
}

/// Window statistics of the checks (module doc).
pub fn summarise(o: &SgdOpts, checks: Vec<Check>) -> SgdResult {
    let thr = 2.0 / o.lr;
    let eos_step = checks.iter().find(|c| c.sharpness >= (1.0 - o.eos_eps) * thr).map(|c| c.t);
    let start = ((1.0 - o.window) * o.steps as f64).ceil() as u64;
    let win: Vec<&Check> = match eos_step {
        Some(e) => checks.iter().filter(|c| c.t >= e.max(start)).collect(),
        None => vec![],
    };
    let mean = |v: &[f64]| if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 };
    let mean_s = mean(&win.iter().map(|c| c.sharpness).collect::<Vec<_>>());
    let pos: Vec<&&Check> = win.iter().filter(|c| c.alpha > 0.0).collect();
    let ma = mean(&pos.iter().map(|c| c.alpha).collect::<Vec<_>>());
    let mb = mean(&pos.iter().map(|c| c.beta).collect::<Vec<_>>());
    let ms = mean(&pos.iter().map(|c| c.sigma_u2).collect::<Vec<_>>());
    let pred = o.lr * mb * ms / (4.0 * ma);
    let gap = thr - mean_s;
    SgdResult {
        batch: o.batch,
        lr: o.lr,
        threshold: thr,
        eos_step,
        window_checks: win.len(),
        mean_sharpness: mean_s,
        gap,
        alpha_pos_fraction: if win.is_empty() { f64::NAN } else { pos.len() as f64 / win.len() as f64 },
        mean_alpha: ma,
        mean_beta: mb,
        mean_sigma_u2: ms,
        predicted_gap: pred,
        ratio: gap / pred,
        full_batch: false,
        diverged_at: None,
        checks,
    }
}

/// Markdown table of several runs.
pub fn markdown(rs: &[SgdResult]) -> String {
    let mut s = String::from("| b | EoS step | window checks | ⟨S⟩ | gap 2/η−⟨S⟩ | b·gap | α>0 frac | ⟨α⟩ | ⟨β⟩ | ⟨σ_u²⟩ | ΔS = ηβσ²/(4α) | gap/ΔS |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    // An undefined statistic (no window, no check with α > 0) is "—", never `NaN`.
    let cell = |x: f64, f: &dyn Fn(f64) -> String| if x.is_finite() { f(x) } else { "—".to_string() };
    for r in rs {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.batch,
            match (r.diverged_at, r.eos_step) {
                (Some(t), _) => format!("diverged at step {t}"),
                (None, Some(e)) => e.to_string(),
                (None, None) => "never".into(),
            },
            r.window_checks,
            cell(r.mean_sharpness, &|x| format!("{x:.5}")),
            cell(r.gap, &|x| format!("{x:.5}")),
            cell(r.gap * r.batch as f64, &|x| format!("{x:.3}")),
            cell(r.alpha_pos_fraction, &|x| format!("{x:.2}")),
            cell(r.mean_alpha, &|x| format!("{x:.4e}")),
            cell(r.mean_beta, &|x| format!("{x:.4e}")),
            cell(r.mean_sigma_u2, &|x| format!("{x:.4e}")),
            if r.full_batch { "— (full batch)".to_string() } else { cell(r.predicted_gap, &|x| format!("{x:.4e}")) },
            if r.full_batch { "—".to_string() } else { cell(r.ratio, &|x| format!("{x:.3}")) }
        ));
    }
    s
}

/// Options of `selfstab sgd`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SgdArgs {
    /// Batch sizes.
    pub batches: Vec<usize>,
    /// Widths.
    pub layers: Vec<usize>,
    /// Activation name.
    pub activation: String,
    /// Loss name.
    pub loss: String,
    /// Data (`digits`, `synthetic`, `.npz`).
    pub data: String,
    /// Samples.
    pub n: usize,
    /// Initialisation / synthetic-data seed.
    pub seed: u64,
    /// θ₀ (`.npy` or `builtin:NAME`; empty: seeded initialisation).
    pub theta0: String,
    /// η.
    pub lr: f64,
    /// Steps.
    pub steps: u64,
    /// Check interval.
    pub every: u64,
    /// Sampling seed.
    pub sample_seed: u64,
    /// EoS tolerance.
    pub eos_eps: f64,
    /// Window fraction.
    pub window: f64,
    /// Output directory.
    pub out: std::path::PathBuf,
    /// `--fresh`: any file of finished batch sizes in `out` is removed and the job starts afresh
    /// (another job's is otherwise an error).
    pub fresh: bool,
}

/// `selfstab sgd`: one run per batch size; writes `sgd_b{B}.csv` (the checks), `sgd.json`, `sgd.md`.
pub fn command(a: &SgdArgs) -> Result<Vec<SgdResult>, Error> {
    crate::config::check_layers(&a.layers)?;
    let p = crate::models::mlp::param_count(&a.layers);
    // Digits and synthetic data are checked before they are made (their rows are known), a file
    // once it is read.
    let known = crate::commands::known_rows(&a.data, a.n);
    if let Some(rows) = known {
        crate::memory::check_scalar::<f64>(crate::memory::Job::Sgd, p, Some(&crate::memory::Rows::mlp(rows, &a.layers)), ())?;
    }
    let ds = crate::commands::load_data(&a.data, a.n, a.layers[0], a.layers[a.layers.len() - 1], a.seed)?;
    if ds.d != a.layers[0] {
        return Err(InputError::Dimension(format!("the data has {} input features but --layers starts with {}", ds.d, a.layers[0])).into());
    }
    if known.is_none() {
        crate::memory::check_scalar::<f64>(crate::memory::Job::Sgd, p, Some(&crate::memory::Rows::mlp(ds.n, &a.layers)), ())?;
    }
    let theta0 = if a.theta0.is_empty() { crate::data::init_params(&a.layers, a.seed)? } else { crate::commands::load_theta(&a.theta0, p)? };
    if a.batches.is_empty() {
        return Err(InputError::Value { key: "batch".into(), msg: "give at least one batch size".into() }.into());
    }
    if let Some(b) = a.batches.iter().enumerate().find_map(|(i, b)| a.batches[..i].contains(b).then_some(b)) {
        return Err(InputError::Value { key: "batch".into(), msg: format!("batch size {b} is given twice") }.into());
    }
    if a.steps == 0 || a.every > a.steps {
        return Err(InputError::Value {
            key: "steps/every".into(),
            msg: format!("need steps ≥ 1 and every ≤ steps (the gap is a mean over checks after the edge of stability), got steps {} and every {}", a.steps, a.every),
        }
        .into());
    }
    // Every batch size is checked before the first run starts (a bad one used to surface only
    // after the runs before it).
    for &b in &a.batches {
        Sampler::new(ds.n, b, a.sample_seed)?;
    }
    let opts = |b: usize| -> Result<SgdOpts, Error> {
        Ok(SgdOpts {
            layers: a.layers.clone(),
            activation: Activation::parse(&a.activation)?,
            loss: LossKind::parse(&a.loss)?,
            lr: a.lr,
            batch: b,
            steps: a.steps,
            every: a.every,
            sample_seed: a.sample_seed,
            eos_eps: a.eos_eps,
            window: a.window,
            eig_tol: 1e-10,
        })
    };
    // The options are checked before the output directory is made (a refused job leaves none).
    check_opts(&opts(a.batches[0])?)?;
    crate::npy::create_out_dir(&a.out)?;
    let _lock = crate::npy::lock_out_dir(&a.out)?;
    // Finished batch sizes of an interrupted run of the same job (`sgd_partial.json`) are reused.
    let partial_path = a.out.join(PARTIAL);
    let key = job_key(a)?;
    let (saved, mut in_progress) = match crate::npy::read_saved(&partial_path, "file of finished batch sizes", a.fresh, |p: &SgdPartial| {
        if p.key == key { Ok(()) } else { Err(format!("its batch sizes belong to another job ({})", key_differences(&p.key, &key))) }
    })? {
        Some(p) => (p.results, p.in_progress),
        None => (vec![], None),
    };
    // A fresh job: an earlier job's outputs in this directory go first (its batch sizes or η may
    // differ, and the files would otherwise sit beside this job's).
    if let (true, Ok(entries)) = (saved.is_empty(), std::fs::read_dir(&a.out)) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let batch_csv = name.strip_prefix("sgd_b").and_then(|r| r.strip_suffix(".csv")).is_some_and(|b| !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()));
            if batch_csv || name == "sgd.json" || name == "sgd.md" {
                let _ = std::fs::remove_file(e.path());
            }
        }
        crate::npy::remove_outputs(&a.out, ["figures/sgd.svg", "figures/sgd.png"]);
    }
    // Every saved result, and the saved run in progress, is checked before anything runs.
    let refuse = |why: String| -> Error { InputError::Saved { path: partial_path.clone(), what: "file of finished batch sizes".into(), why }.into() };
    for r in &saved {
        if let Some(why) = saved_result_problem(r, &opts(r.batch)?) {
            return Err(refuse(why));
        }
    }
    if let Some(ip) = &in_progress {
        if saved.iter().any(|r| r.batch == ip.batch) {
            return Err(refuse(format!("its run in progress (b = {}) is also among its finished batch sizes", ip.batch)));
        }
        if !a.batches.contains(&ip.batch) {
            return Err(refuse(format!(
                "its run in progress (b = {}, at step {}) is of a batch size --batch leaves out: add b = {} to --batch to finish it with the others",
                ip.batch, ip.t, ip.batch
            )));
        }
        if let Some(why) = ip.problem(&opts(ip.batch)?, ds.n, p) {
            return Err(refuse(why));
        }
    }
    // From here a signal (SIGINT, SIGTERM) stops the run in progress after its step, saving it
    // with the finished batch sizes (`progress::interrupt`).
    let armed = crate::progress::interrupt::arm();
    let mut out = Vec::new();
    for &b in &a.batches {
        let o = opts(b)?;
        let r = match saved.iter().find(|r| r.batch == b) {
            Some(r) => {
                eprintln!("b = {b}: saved by an earlier run of this job ({})", partial_path.display());
                Ok(result(&o, r.checks.clone(), b >= ds.n, r.diverged_at))
            }
            None => {
                let from = in_progress.take_if(|ip| ip.batch == b);
                if let Some(ip) = &from {
                    eprintln!("b = {b}: resuming its run from {} at step {}", partial_path.display(), ip.t);
                }
                let mut saver = SgdSaver { path: &partial_path, key: &key, done: &out, cadence: crate::progress::Cadence::new(1) };
                run_from(&ds, &theta0, &o, from, &mut saver).map_err(|e| match e {
                    Error::Interrupted(m) => Error::Interrupted(format!(
                        "{m}: the finished batch sizes and this one's run so far are saved in {}; the same command resumes there",
                        partial_path.display()
                    )),
                    e => e,
                })
            }
        };
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                // Keep the batch sizes that finished: their summary is written before the error.
                if !out.is_empty() {
                    write_summary(&a.out, &out)?;
                    eprintln!("the finished batch sizes' summary is in {}/sgd.json and sgd.md", a.out.display());
                }
                return Err(e);
            }
        };
        let mut csv = String::from("t,loss,sharpness,alpha,beta,sigma_u2\n");
        for c in &r.checks {
            csv.push_str(&format!("{},{:?},{:?},{:?},{:?},{:?}\n", c.t, c.loss, c.sharpness, c.alpha, c.beta, c.sigma_u2));
        }
        crate::npy::write_atomic(&a.out.join(format!("sgd_b{b}.csv")), csv.as_bytes())?;
        if let Some(t) = r.diverged_at {
            eprintln!(
                "b = {b}: SGD diverged at step {t} (η = {}): non-finite values, or a full-batch loss past {:e} times its first check's; its checks so far are kept",
                crate::error::given(a.lr),
                crate::commands::DIVERGENCE_GROWTH
            );
        } else if r.eos_step.is_none() {
            eprintln!("b = {b}: never at the edge of stability (S < (1 − eos_eps)·2/η at every check): no window, no gap");
        } else if r.full_batch {
            eprintln!("b = {b} (full batch): gap {:.5} (ΔS and the ratio carry no information: σ_u² is rounding)", r.gap);
        } else {
            eprintln!("b = {b}: gap {:.5} (ΔS {:.5}, ratio {:.3})", r.gap, r.predicted_gap, r.ratio);
        }
        out.push(r);
        let part = SgdPartialRef { key: &key, results: &out, in_progress: None };
        crate::npy::write_json_atomic(&partial_path, &part)?;
    }
    write_summary(&a.out, &out)?;
    let _ = std::fs::remove_file(&partial_path);
    crate::progress::interrupt::after_outputs("sgd job", &a.out)?;
    drop(armed);
    let diverged: Vec<String> = out.iter().filter_map(|r| r.diverged_at.map(|t| format!("b = {} at step {t}", r.batch))).collect();
    if !diverged.is_empty() {
        return Err(EvalError::Other(format!(
            "SGD diverged (η = {}): {}; the outputs up to the divergence are in {}",
            crate::error::given(a.lr),
            diverged.join(", "),
            a.out.display()
        ))
        .into());
    }
    Ok(out)
}

/// The file holding the finished batch sizes of a job that has not ended.
const PARTIAL: &str = "sgd_partial.json";

/// What `sgd` saves after each batch size (`sgd_partial.json`, removed at the end): the job and
/// its finished results, reused by a re-run of the same job (as read back; written as
/// [`SgdPartialRef`]).
#[derive(serde::Deserialize)]
struct SgdPartial {
    key: String,
    results: Vec<SgdResult>,
    /// The batch size in progress, saved at a signal and every 10 s at most.
    #[serde(default)]
    in_progress: Option<SgdState>,
}

/// `sgd`'s observer of a batch size's run: saves it with the finished batch sizes
/// (`sgd_partial.json`) after its first step, then at most every `progress::CHECKPOINT_SECONDS`,
/// and at a signal, which then stops the run.
struct SgdSaver<'a> {
    path: &'a std::path::Path,
    key: &'a str,
    done: &'a [SgdResult],
    cadence: crate::progress::Cadence,
}

impl SgdObserver for SgdSaver<'_> {
    fn due(&mut self, t: u64) -> bool {
        crate::progress::interrupt::requested() || self.cadence.due(t)
    }
    fn save(&mut self, state: &SgdState) -> Result<bool, Error> {
        let stop = crate::progress::interrupt::requested();
        let part = SgdPartialRef { key: self.key, results: self.done, in_progress: Some(state) };
        crate::npy::write_json_atomic(self.path, &part)?;
        Ok(stop)
    }
}

/// [`SgdPartial`] as written from borrowed parts.
#[derive(serde::Serialize)]
struct SgdPartialRef<'a> {
    key: &'a str,
    results: &'a [SgdResult],
    in_progress: Option<&'a SgdState>,
}

/// The arguments (and input files) on which two job keys ([`job_key`]) differ
/// ([`crate::config::json_differences`]); a key that is not JSON (an earlier build's) names none.
fn key_differences(saved: &str, now: &str) -> String {
    let otherwise = "other arguments or input files";
    match (serde_json::from_str(saved), serde_json::from_str(now)) {
        (Ok(a), Ok(b)) => crate::config::json_differences(&a, &b, &[], otherwise),
        _ => otherwise.into(),
    }
}

/// Everything that sets a batch size's result, as JSON: every argument but the list of batch
/// sizes, the output directory and `fresh` (so an argument added later is part of the key by
/// itself), and the digests of the data and θ₀ files (`inputs`).
fn job_key(a: &SgdArgs) -> Result<String, Error> {
    let mut key = serde_json::to_value(SgdArgs { batches: vec![], out: std::path::PathBuf::new(), fresh: false, ..a.clone() })
        .expect("the arguments serialise");
    let mut inputs = Vec::new();
    for name in [&a.data, &a.theta0] {
        if let Some(h) = crate::config::file_digest(name)? {
            inputs.push(format!("{h:016x}"));
        }
    }
    key["inputs"] = serde_json::json!(inputs.join(" "));
    Ok(key.to_string())
}

/// `sgd.json` and `sgd.md` of the runs `out`.
fn write_summary(dir: &std::path::Path, out: &[SgdResult]) -> Result<(), Error> {
    let summary: Vec<serde_json::Value> = out
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).expect("serialises");
            v.as_object_mut().unwrap().remove("checks");
            v
        })
        .collect();
    crate::npy::write_atomic(&dir.join("sgd.json"), serde_json::to_string_pretty(&summary).unwrap().as_bytes())?;
    crate::npy::write_atomic(&dir.join("sgd.md"), markdown(out).as_bytes())?;
    write_figure(dir, out)
}

/// `figures/sgd.{svg,png}`: the full-batch sharpness S(θ_t) under SGD for each batch size with the
/// 2/η line (claim 32's gap is how far each curve sits below it over the window), the full-batch
/// loss (log scale), at the checks, and the measured gap 2/η − ⟨S⟩ against the prediction
/// ΔS = η⟨β⟩⟨σ_u²⟩/(4⟨α⟩) over b (log–log).
fn write_figure(dir: &std::path::Path, out: &[SgdResult]) -> Result<(), Error> {
    use crate::figures::{Axes, Series, doc, panel, write_both};
    let Some(first) = out.first() else { return Ok(()) };
    // The longest run's check steps (a diverged run's series stops early).
    let longest = out.iter().max_by_key(|r| r.checks.len()).unwrap_or(first);
    let t: Vec<f64> = longest.checks.iter().map(|c| c.t as f64).collect();
    const COLORS: [&str; 8] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
    let names: Vec<String> = out.iter().map(|r| if r.full_batch { format!("b = {} (full)", r.batch) } else { format!("b = {}", r.batch) }).collect();
    let series = |f: fn(&Check) -> f64| -> Vec<Series> {
        out.iter()
            .enumerate()
            .map(|(k, r)| Series { name: &names[k], color: COLORS[k % COLORS.len()], dash: false, y: r.checks.iter().map(f).collect() })
            .collect()
    };
    let (w, h) = (900.0, 300.0);
    let mut body = String::new();
    let axes = |title, hline, log| Axes { title, xlabel: "SGD step t", hline, log, ..Axes::default() };
    panel(&mut body, (0.0, 0.0, w, h), &axes("Full-batch sharpness S(θ_t) under SGD", Some((first.threshold, "2/η")), false), &t, &series(|c| c.sharpness));
    panel(&mut body, (0.0, h, w, h), &axes("Full-batch loss L(θ_t) (log scale)", None, true), &t, &series(|c| c.loss));
    // Claim 32 against b: the measured gap and the prediction ΔS, one point per batch size.
    let mut by_b: Vec<&SgdResult> = out.iter().collect();
    by_b.sort_by_key(|r| r.batch);
    let bs: Vec<f64> = by_b.iter().map(|r| r.batch as f64).collect();
    let gap_axes = Axes { title: "Sharpness gap vs batch size b (log-log; gaps ≤ 0 not drawn)", xlabel: "batch size b", log: true, logx: true, xticks: &bs, ..Axes::default() };
    // The full batch (b = n: GD, no sampling noise) is its own point, not joined to the SGD curve.
    let part = |full: bool, f: fn(&SgdResult) -> f64| -> Vec<f64> { by_b.iter().map(|r| if r.full_batch == full { f(r) } else { f64::NAN }).collect() };
    panel(&mut body, (0.0, 2.0 * h, w, h), &gap_axes, &bs, &[
        Series { name: "gap 2/η − mean S", color: "#1f77b4", dash: false, y: part(false, |r| r.gap) },
        Series { name: "ΔS = ηβσ²/(4α)", color: "#d62728", dash: true, y: part(false, |r| r.predicted_gap) },
        Series { name: "gap, full batch", color: "#000000", dash: false, y: part(true, |r| r.gap) },
    ]);
    write_both(&dir.join("figures"), "sgd", &doc(w, 3.0 * h, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_partial_file_names_the_arguments_that_differ() {
        let a = SgdArgs {
            batches: vec![32],
            layers: vec![64, 16, 16, 10],
            activation: "tanh".into(),
            loss: "mse".into(),
            data: "digits".into(),
            n: 256,
            seed: 0,
            theta0: "builtin:mlp_64-16-16-10".into(),
            lr: 0.2667,
            steps: 3000,
            every: 20,
            sample_seed: 0,
            eos_eps: 0.25,
            window: 0.5,
            out: "sgd".into(),
            fresh: false,
        };
        let b = SgdArgs { lr: 0.3, layers: vec![64, 32, 10], batches: vec![16], out: "elsewhere".into(), fresh: true, ..a.clone() };
        let d = key_differences(&job_key(&a).unwrap(), &job_key(&b).unwrap());
        assert_eq!(d, "layers = [64,16,16,10] (now: [64,32,10]), lr = 0.2667 (now: 0.3)");
        assert_eq!(key_differences(&job_key(&a).unwrap(), &job_key(&a).unwrap()), "other arguments or input files");
    }
}
