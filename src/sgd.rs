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
//!
//! One run is one draw of the sampler. Over several sampler seeds ([`command_seeds`], `selfstab
//! sgd --sample-seeds`) each batch size gets the seed mean ± standard error of the gap and of ΔS
//! ([`seed_stats`]: SE = sample SD/√k over the k runs with a gap), and the law gap = c/b is
//! described by c̄, the mean of b·⟨gap⟩ weighted by 1/(b·SE)², and the largest
//! |b·⟨gap⟩ − c̄|/(b·SE) ([`one_over_b`]; theory/README.md, claim 32 over sampler seeds).

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::data::Dataset;
use crate::error::{Error, EvalError, InputError};
use crate::linalg::{axpy, dot, zeros};
use crate::mag::Mag;
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
    pub eig_tol: Mag,
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
    let job = prepare(a)?;
    crate::npy::create_out_dir(&a.out)?;
    let _lock = crate::npy::lock_out_dir(&a.out)?;
    // From here a signal (SIGINT, SIGTERM) stops the run in progress after its step, saving it
    // with the finished batch sizes (`progress::interrupt`).
    let armed = crate::progress::interrupt::arm();
    let out = run_job(a, &job, Within::Alone)?;
    crate::progress::interrupt::after_outputs("sgd job", &a.out)?;
    drop(armed);
    diverged_error(a, &out.iter().map(|r| (None, r)).collect::<Vec<_>>())?;
    Ok(out)
}

/// What a job's runs share, checked before any output directory is made (a refused job leaves
/// none): the data, θ₀ and the options of each batch size.
struct Prepared {
    ds: Dataset,
    theta0: Vec<f64>,
    p: usize,
}

/// The arguments checked and the data and θ₀ loaded ([`Prepared`]).
fn prepare(a: &SgdArgs) -> Result<Prepared, Error> {
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
    // The options are checked before the output directory is made (a refused job leaves none).
    check_opts(&job_opts(a, a.batches[0])?)?;
    Ok(Prepared { ds, theta0, p })
}

/// The options of the job's run of batch size b.
fn job_opts(a: &SgdArgs, b: usize) -> Result<SgdOpts, Error> {
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
        eig_tol: Mag::new(1e-10),
    })
}

/// Whether a job runs by itself or as one sampler seed of `--sample-seeds` ([`command_seeds`]),
/// which arms the signal handlers once for all seeds and keeps each seed's file of finished batch
/// sizes until every seed has finished (a re-run then reuses the finished seeds).
#[derive(Clone, Copy, PartialEq)]
enum Within {
    Alone,
    Seeds,
}

/// The runs of a prepared job in `a.out` (made and locked by the caller), resumed from its file
/// of finished batch sizes; writes its outputs. Diverged runs are among the results
/// ([`diverged_error`] reports them).
fn run_job(a: &SgdArgs, job: &Prepared, within: Within) -> Result<Vec<SgdResult>, Error> {
    let Prepared { ds, theta0, .. } = job;
    let (ds, theta0) = (ds, theta0.as_slice());
    let opts = |b: usize| job_opts(a, b);
    // Finished batch sizes of an interrupted run of the same job (`sgd_partial.json`) are reused.
    let partial_path = a.out.join(PARTIAL);
    let key = job_key(a)?;
    let (saved, mut in_progress) = load_saved(a, job)?;
    // A fresh job: an earlier job's outputs in this directory go first (its batch sizes or η may
    // differ, and the files would otherwise sit beside this job's). A resumed job whose --batch
    // leaves out batch sizes of the run it resumes removes their `sgd_b{B}.csv` (its summary will
    // not list them).
    let fresh = saved.is_empty();
    if let Ok(entries) = std::fs::read_dir(&a.out) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let batch_csv = name.strip_prefix("sgd_b").and_then(|r| r.strip_suffix(".csv")).filter(|b| crate::npy::all_digits(b));
            let stale = match batch_csv {
                Some(b) => fresh || !b.parse().is_ok_and(|b: usize| a.batches.contains(&b)),
                None => fresh && (name == "sgd.json" || name == "sgd.md"),
            };
            if stale {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    if fresh {
        crate::npy::remove_outputs(&a.out, ["figures/sgd.svg", "figures/sgd.png"]);
    }
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
                run_from(ds, theta0, &o, from, &mut saver).map_err(|e| match e {
                    Error::Interrupted(m) => Error::Interrupted(format!(
                        "{m}: the finished batch sizes and this one's run so far are saved in {}; {}",
                        partial_path.display(),
                        resume_hint(a)
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
            // ΔS is undefined when no window check has α > 0.
            let cell = |x: f64, d: usize| if x.is_finite() { format!("{x:.d$}") } else { "—".into() };
            eprintln!("b = {b}: gap {:.5} (ΔS {}, ratio {})", r.gap, cell(r.predicted_gap, 5), cell(r.ratio, 3));
        }
        out.push(r);
        let part = SgdPartialRef { key: &key, results: &out, in_progress: None };
        crate::npy::write_json_atomic(&partial_path, &part)?;
    }
    write_summary(&a.out, &out)?;
    if within == Within::Alone {
        let _ = std::fs::remove_file(&partial_path);
    }
    Ok(out)
}

/// How an interrupted job resumes: the same command, without `--fresh` (which would discard what
/// the interrupted run saved).
fn resume_hint(a: &SgdArgs) -> &'static str {
    if a.fresh { "the same command without --fresh resumes there" } else { "the same command resumes there" }
}

/// The file of finished batch sizes in `a.out` (`sgd_partial.json`; `--fresh` discards it), read
/// and checked against the job before anything runs: its key (the arguments and input files),
/// every saved result's checks and the run in progress. Returns the saved results and the run in
/// progress (none without a file).
fn load_saved(a: &SgdArgs, job: &Prepared) -> Result<(Vec<SgdResult>, Option<SgdState>), Error> {
    let partial_path = a.out.join(PARTIAL);
    let key = job_key(a)?;
    let (saved, in_progress) = match crate::npy::read_saved(&partial_path, "file of finished batch sizes", a.fresh, |p: &SgdPartial| {
        if p.key == key { Ok(()) } else { Err(format!("its batch sizes belong to another job ({})", key_differences(&p.key, &key))) }
    })? {
        Some(p) => (p.results, p.in_progress),
        None => (vec![], None),
    };
    let refuse = |why: String| -> Error { InputError::Saved { path: partial_path.clone(), what: "file of finished batch sizes".into(), why }.into() };
    for r in &saved {
        if let Some(why) = saved_result_problem(r, &job_opts(a, r.batch)?) {
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
        if let Some(why) = ip.problem(&job_opts(a, ip.batch)?, job.ds.n, job.p) {
            return Err(refuse(why));
        }
    }
    Ok((saved, in_progress))
}

/// The error naming every diverged run (sample seed, batch size, step), if any diverged.
fn diverged_error(a: &SgdArgs, runs: &[(Option<u64>, &SgdResult)]) -> Result<(), Error> {
    let diverged: Vec<String> = runs
        .iter()
        .filter_map(|(s, r)| r.diverged_at.map(|t| format!("{}b = {} at step {t}", s.map_or(String::new(), |s| format!("sample seed {s}: ")), r.batch)))
        .collect();
    if !diverged.is_empty() {
        return Err(EvalError::Other(format!(
            "SGD diverged (η = {}): {}; the outputs up to the divergence are in {}",
            crate::error::given(a.lr),
            diverged.join(", "),
            a.out.display()
        ))
        .into());
    }
    Ok(())
}

/// The sampler seeds of `--sample-seeds`: comma-separated seeds and inclusive ranges (`0-9`,
/// `0,3,7-9`), each seed once, at most [`MAX_SEEDS`] of them.
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    let mut seeds: Vec<u64> = vec![];
    let num = |w: &str| match w.trim() {
        "" => Err(format!("`{text}` has an empty item: give seeds (non-negative integers) and ranges A-B, comma-separated")),
        w => w.parse::<u64>().map_err(|_| format!("`{w}` in `{text}` is not a seed (a non-negative integer below 2^64)")),
    };
    for part in text.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(part)?, num(part)?),
        };
        if lo > hi {
            return Err(format!("the range `{}` in `{text}` runs backwards", part.trim()));
        }
        if hi - lo >= MAX_SEEDS as u64 || seeds.len() + (hi - lo) as usize >= MAX_SEEDS {
            return Err(format!("`{text}` names more than {MAX_SEEDS} seeds"));
        }
        for s in lo..=hi {
            if seeds.contains(&s) {
                return Err(format!("sample seed {s} is given twice in `{text}`"));
            }
            seeds.push(s);
        }
    }
    Ok(seeds)
}

/// The most sampler seeds one `--sample-seeds` job runs.
pub const MAX_SEEDS: usize = 1000;

/// Mean and standard error of the mean (sample standard deviation over √k; NaN for fewer than
/// two values, and the mean NaN for none).
pub fn mean_se(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = if x.is_empty() { f64::NAN } else { x.iter().sum::<f64>() / n };
    if x.len() < 2 {
        return (m, f64::NAN);
    }
    let var = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

/// One batch size over the sampler seeds of a job (`selfstab sgd --sample-seeds`): the seed mean
/// of the gap and of ΔS with their standard errors, over the runs where each is defined.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SeedStats {
    /// Batch size.
    pub batch: usize,
    /// b ≥ n (GD: ΔS undefined, and left out of the 1/b law).
    pub full_batch: bool,
    /// Runs (one per seed).
    pub runs: usize,
    /// Runs that diverged.
    pub diverged: usize,
    /// Runs with a gap: at the edge of stability (S ≥ (1 − eos_eps)·2/η at a check) and not
    /// diverged. The means below are over these: a seed that never reaches EoS is left out.
    pub with_gap: usize,
    /// ⟨gap⟩ over the seeds.
    pub mean_gap: f64,
    /// Its standard error.
    pub se_gap: f64,
    /// b·⟨gap⟩ (constant in b if gap = c/b).
    pub b_mean_gap: f64,
    /// b·SE.
    pub b_se_gap: f64,
    /// Runs with gap > 0.
    pub positive_gaps: usize,
    /// Runs where ΔS is defined (a check with α > 0 in the window; never the full batch).
    pub with_predicted_gap: usize,
    /// ⟨ΔS⟩ over those.
    pub mean_predicted_gap: f64,
    /// Its standard error.
    pub se_predicted_gap: f64,
    /// The smallest gap/ΔS of a run.
    pub min_ratio: f64,
    /// The largest.
    pub max_ratio: f64,
    /// Each seed's gap, in the order of the seeds (NaN: none).
    pub gaps: Vec<f64>,
    /// Each seed's gap/ΔS (NaN: undefined).
    pub ratios: Vec<f64>,
}

/// The seed statistics of one batch size from its runs, one per seed.
pub fn seed_stats(batch: usize, runs: &[&SgdResult]) -> SeedStats {
    let gap_runs: Vec<&&SgdResult> = runs.iter().filter(|r| r.diverged_at.is_none() && r.gap.is_finite()).collect();
    let gaps: Vec<f64> = gap_runs.iter().map(|r| r.gap).collect();
    let (mean_gap, se_gap) = mean_se(&gaps);
    let preds: Vec<f64> = gap_runs.iter().filter(|r| !r.full_batch && r.predicted_gap.is_finite()).map(|r| r.predicted_gap).collect();
    let (mean_pred, se_pred) = mean_se(&preds);
    let ratios: Vec<f64> = gap_runs.iter().map(|r| r.ratio).filter(|q| q.is_finite()).collect();
    let b = batch as f64;
    SeedStats {
        batch,
        full_batch: runs.iter().any(|r| r.full_batch),
        runs: runs.len(),
        diverged: runs.iter().filter(|r| r.diverged_at.is_some()).count(),
        with_gap: gaps.len(),
        mean_gap,
        se_gap,
        b_mean_gap: b * mean_gap,
        b_se_gap: b * se_gap,
        positive_gaps: gaps.iter().filter(|&&g| g > 0.0).count(),
        with_predicted_gap: preds.len(),
        mean_predicted_gap: mean_pred,
        se_predicted_gap: se_pred,
        min_ratio: ratios.iter().copied().reduce(f64::min).unwrap_or(f64::NAN),
        max_ratio: ratios.iter().copied().reduce(f64::max).unwrap_or(f64::NAN),
        gaps: runs.iter().map(|r| if r.diverged_at.is_none() { r.gap } else { f64::NAN }).collect(),
        ratios: runs.iter().map(|r| if r.diverged_at.is_none() { r.ratio } else { f64::NAN }).collect(),
    }
}

/// The test of gap = c/b over the seed means (claim 32): c̄ is the inverse-variance weighted mean
/// of b·⟨gap⟩ over the batch sizes b < n with a standard error (≥ 2 seeds with a gap, not all
/// equal), and `worst_se` the largest |b·⟨gap⟩ − c̄|/(b·SE), at `worst_batch`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct OneOverB {
    /// c̄.
    pub c: f64,
    /// The largest deviation from c̄/b in standard errors.
    pub worst_se: f64,
    /// Where it is.
    pub worst_batch: usize,
    /// The batch sizes that enter.
    pub batches: Vec<usize>,
}

/// [`OneOverB`] of the seed statistics; None with fewer than two batch sizes that can enter.
pub fn one_over_b(stats: &[SeedStats]) -> Option<OneOverB> {
    let rows: Vec<&SeedStats> = stats.iter().filter(|s| !s.full_batch && s.b_se_gap.is_finite() && s.b_se_gap > 0.0).collect();
    if rows.len() < 2 {
        return None;
    }
    let w: Vec<f64> = rows.iter().map(|s| 1.0 / (s.b_se_gap * s.b_se_gap)).collect();
    let c = rows.iter().zip(&w).map(|(s, w)| w * s.b_mean_gap).sum::<f64>() / w.iter().sum::<f64>();
    let (worst_se, worst_batch) = rows.iter().map(|s| (((s.b_mean_gap - c) / s.b_se_gap).abs(), s.batch)).fold((0.0, rows[0].batch), |a, x| if x.0 > a.0 { x } else { a });
    Some(OneOverB { c, worst_se, worst_batch, batches: rows.iter().map(|s| s.batch).collect() })
}

/// What `selfstab sgd --sample-seeds` writes to `sgd_seeds.json`: the seeds, each batch size's
/// [`SeedStats`] and the 1/b test ([`OneOverB`], null when it cannot be made).
#[derive(Clone, Debug, serde::Serialize)]
pub struct SeedSummary {
    /// The sampler seeds, in order.
    pub seeds: Vec<u64>,
    /// η.
    pub lr: f64,
    /// 2/η.
    pub threshold: f64,
    /// Steps of each run.
    pub steps: u64,
    /// The window: the last `window` fraction of each run, after EoS.
    pub window: f64,
    /// EoS is reached at the first check with S ≥ (1 − eos_eps)·2/η.
    pub eos_eps: f64,
    /// Per batch size, in the order of `--batch`.
    pub batches: Vec<SeedStats>,
    /// The 1/b law over b < n.
    pub one_over_b: Option<OneOverB>,
}

/// The summary of job `a`'s runs, `runs[k]` those of seed `seeds[k]` in the order of `a.batches`.
pub fn seed_summary(a: &SgdArgs, seeds: &[u64], runs: &[Vec<SgdResult>]) -> SeedSummary {
    let stats: Vec<SeedStats> = a
        .batches
        .iter()
        .enumerate()
        .map(|(k, &b)| seed_stats(b, &runs.iter().map(|rs| &rs[k]).collect::<Vec<_>>()))
        .collect();
    SeedSummary {
        seeds: seeds.to_vec(),
        lr: a.lr,
        threshold: 2.0 / a.lr,
        steps: a.steps,
        window: a.window,
        eos_eps: a.eos_eps,
        one_over_b: one_over_b(&stats),
        batches: stats,
    }
}

/// `sgd_seeds.md`: one row per batch size, then the 1/b test.
pub fn seeds_markdown(s: &SeedSummary) -> String {
    let pm = |m: f64, se: f64, d: usize| match (m.is_finite(), se.is_finite()) {
        (true, true) => format!("{m:.d$} ± {se:.d$}"),
        (true, false) => format!("{m:.d$}"),
        _ => "—".into(),
    };
    // A decimal without float noise (1 − 0.7 is 0.30000000000000004).
    let short = |x: f64| format!("{x:.6}").trim_end_matches('0').trim_end_matches('.').to_string();
    let plural = |n: usize, one: &str, many: &str| if n == 1 { format!("1 {one}") } else { format!("{n} {many}") };
    let mut out = format!(
        "Sampler seeds {} ({} per batch size), η = {}, 2/η = {:.5}, {}; each gap over the last {} of its run after S ≥ {}·2/η. Means over the runs with a gap (at the edge of stability, not diverged) ± their standard error.\n\n",
        seed_list_text(&s.seeds),
        plural(s.seeds.len(), "run", "runs"),
        crate::error::given(s.lr),
        s.threshold,
        plural(s.steps as usize, "step", "steps"),
        short(s.window),
        short(1.0 - s.eos_eps)
    );
    out.push_str("| b | runs with a gap | ⟨gap⟩ ± SE | b·⟨gap⟩ ± SE | gap > 0 | runs with ΔS | ⟨ΔS⟩ ± SE | gap/ΔS, min–max |\n|---|---|---|---|---|---|---|---|\n");
    for r in &s.batches {
        let diverged = if r.diverged > 0 { format!(" ({} diverged)", r.diverged) } else { String::new() };
        out.push_str(&format!(
            "| {}{} | {} of {}{} | {} | {} | {} | {} | {} | {} |\n",
            r.batch,
            if r.full_batch { " (full)" } else { "" },
            r.with_gap,
            r.runs,
            diverged,
            pm(r.mean_gap, r.se_gap, 5),
            pm(r.b_mean_gap, r.b_se_gap, 2),
            r.positive_gaps,
            if r.full_batch { "—".to_string() } else { r.with_predicted_gap.to_string() },
            if r.full_batch { "— (full batch)".to_string() } else { pm(r.mean_predicted_gap, r.se_predicted_gap, 5) },
            if r.full_batch || !r.min_ratio.is_finite() { "—".to_string() } else { format!("{:.3} to {:.3}", r.min_ratio, r.max_ratio) },
        ));
    }
    out.push('\n');
    if s.batches.iter().any(|r| r.full_batch) {
        out.push_str("The full batch (b = n) runs the same GD for every seed, the samples only summed in another order: its ± is rounding, amplified at the edge of stability, not sampling noise.\n\n");
    }
    match &s.one_over_b {
        Some(t) => {
            out.push_str(&format!(
                "1/b law over b = {}: c̄ = {:.3} (the inverse-variance weighted mean of b·⟨gap⟩); the farthest seed mean (b = {}) is {:.2} SE from c̄/b. With standard errors from a few seeds each this describes the fit; it is not a significance test.",
                t.batches.iter().map(usize::to_string).collect::<Vec<_>>().join(", "),
                t.c,
                t.worst_batch,
                t.worst_se
            ));
            if t.c <= 0.0 {
                out.push_str(" c̄ ≤ 0: the gaps are not positive, so gap = c/b with c > 0 does not describe them.");
            }
            out.push('\n');
        }
        None => out.push_str("1/b law: not tested (it needs two batch sizes b < n, each with a standard error: two or more runs with a gap, not all equal).\n"),
    }
    out
}

/// Seeds as text, consecutive runs as ranges (`0–9`, `0, 3, 7–9`).
fn seed_list_text(seeds: &[u64]) -> String {
    let mut parts: Vec<String> = vec![];
    let mut i = 0;
    while i < seeds.len() {
        let mut j = i;
        while j + 1 < seeds.len() && seeds[j + 1] == seeds[j] + 1 {
            j += 1;
        }
        parts.push(if j > i { format!("{}–{}", seeds[i], seeds[j]) } else { seeds[i].to_string() });
        i = j + 1;
    }
    parts.join(", ")
}

/// `selfstab sgd --sample-seeds`: the job once per sampler seed, each a whole `sgd` job in
/// `out/seed{S}` (its own `sgd_b{B}.csv`, `sgd.json`, `sgd.md` and figure, the same files a job
/// with `--sample-seed S --out out/seed{S}` writes), then the seed statistics of each batch size
/// ([`seed_summary`]) in `sgd_seeds.json`, `sgd_seeds.md` and `figures/sgd_seeds.{svg,png}`. Each
/// seed keeps its file of finished batch sizes (`sgd_partial.json`) until every seed has finished:
/// a re-run of an interrupted job reuses the finished seeds and resumes the one in progress.
pub fn command_seeds(a: &SgdArgs, seeds: &[u64]) -> Result<SeedSummary, Error> {
    if seeds.is_empty() {
        return Err(InputError::Value { key: "sample-seeds".into(), msg: "give at least one sampler seed".into() }.into());
    }
    let job = prepare(a)?;
    crate::npy::create_out_dir(&a.out)?;
    let _lock = crate::npy::lock_out_dir(&a.out)?;
    let seed_args = |s: u64| SgdArgs { sample_seed: s, out: a.out.join(format!("seed{s}")), ..a.clone() };
    // Every listed seed's directory and file of finished batch sizes are checked before the first
    // run (with --fresh, every such file is discarded here): a job refused at a later seed would
    // otherwise have run or rewritten the earlier ones first. Each seed's run reads its file again
    // under that seed's own lock (`run_job`): a job of its own with `--out` at that directory does
    // not hold this job's lock and may have changed the file meanwhile.
    for &s in seeds {
        let sa = seed_args(s);
        if sa.out.exists() {
            crate::npy::create_out_dir(&sa.out)?;
            load_saved(&sa, &job)?;
        }
    }
    // Seed directories of earlier jobs that this one does not list are left alone, and named.
    let listed: Vec<String> = seeds.iter().map(|s| format!("seed{s}")).collect();
    let mut others: Vec<String> = std::fs::read_dir(&a.out)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n.strip_prefix("seed").is_some_and(crate::npy::all_digits) && !listed.contains(n))
        .collect();
    if !others.is_empty() {
        others.sort();
        eprintln!("note: {} in {} belong to earlier jobs and are left as they are; sgd_seeds.* cover this job's seeds only", others.join(", "), a.out.display());
    }
    // The summary of an earlier job goes first: it is rewritten only when every seed has run.
    crate::npy::remove_outputs(&a.out, ["sgd_seeds.json", "sgd_seeds.md", "figures/sgd_seeds.svg", "figures/sgd_seeds.png"]);
    let armed = crate::progress::interrupt::arm();
    let mut runs = Vec::with_capacity(seeds.len());
    for (k, &s) in seeds.iter().enumerate() {
        let sa = seed_args(s);
        if k > 0 && crate::progress::interrupt::requested() {
            return Err(Error::Interrupted(format!(
                "interrupted after sample seed {}: the finished seeds are saved in {}/seed*/; {}",
                seeds[k - 1],
                a.out.display(),
                resume_hint(a)
            )));
        }
        eprintln!("sample seed {s} ({} of {}): {}", k + 1, seeds.len(), sa.out.display());
        crate::npy::create_out_dir(&sa.out)?;
        let _seed_lock = crate::npy::lock_out_dir(&sa.out)?;
        runs.push(run_job(&sa, &job, Within::Seeds)?);
    }
    let summary = seed_summary(a, seeds, &runs);
    for (k, r) in summary.batches.iter().enumerate() {
        // The seeds whose run has no gap without having diverged: never at the edge of stability.
        let never: Vec<String> = seeds.iter().zip(&runs).filter(|(_, rs)| rs[k].diverged_at.is_none() && !rs[k].gap.is_finite()).map(|(s, _)| s.to_string()).collect();
        if !never.is_empty() {
            eprintln!(
                "b = {}: the runs of sample seeds {} never reached S ≥ (1 − eos_eps)·2/η and have no gap: the means cover the other {} runs (a larger --eos-eps or more --steps keeps them)",
                r.batch,
                never.join(", "),
                r.with_gap
            );
        }
    }
    crate::npy::write_atomic(&a.out.join("sgd_seeds.json"), serde_json::to_string_pretty(&summary).expect("serialises").as_bytes())?;
    crate::npy::write_atomic(&a.out.join("sgd_seeds.md"), seeds_markdown(&summary).as_bytes())?;
    write_seeds_figure(&a.out, &summary)?;
    // Every seed has finished: their files of finished batch sizes go.
    for &s in seeds {
        let _ = std::fs::remove_file(seed_args(s).out.join(PARTIAL));
    }
    crate::progress::interrupt::after_outputs("sgd job over its sample seeds", &a.out)?;
    drop(armed);
    let all: Vec<(Option<u64>, &SgdResult)> = seeds.iter().zip(&runs).flat_map(|(&s, rs)| rs.iter().map(move |r| (Some(s), r))).collect();
    diverged_error(a, &all)?;
    Ok(summary)
}

/// `figures/sgd_seeds.{svg,png}`: b·⟨gap⟩ ± SE against b with the 1/b law's c̄ (a flat line if
/// gap = c/b), and ⟨gap⟩ beside ⟨ΔS⟩ against b (log–log), over the seeds.
fn write_seeds_figure(dir: &std::path::Path, s: &SeedSummary) -> Result<(), Error> {
    use crate::figures::{Axes, Series, doc, panel, write_both};
    let mut rows: Vec<&SeedStats> = s.batches.iter().filter(|r| !r.full_batch).collect();
    if !rows.iter().any(|r| r.mean_gap.is_finite()) {
        eprintln!("figures/sgd_seeds not written: no batch size b < n has a gap to draw");
        return Ok(());
    }
    rows.sort_by_key(|r| r.batch);
    let bs: Vec<f64> = rows.iter().map(|r| r.batch as f64).collect();
    let col = |f: &dyn Fn(&SeedStats) -> f64| -> Vec<f64> { rows.iter().map(|r| f(r)).collect() };
    let (w, h) = (900.0, 300.0);
    let mut body = String::new();
    // (Plain labels: the figures' font subset has no angle brackets or combining macron.)
    let c_line = s.one_over_b.as_ref().map(|t| (t.c, "c fitted (gap = c/b)"));
    let scaled = Axes { title: "b × seed mean of the gap, ± one standard error (flat if gap = c/b)", xlabel: "batch size b", hline: c_line, logx: true, xticks: &bs, ..Axes::default() };
    panel(&mut body, (0.0, 0.0, w, h), &scaled, &bs, &[
        Series { name: "b × mean gap", color: "#1f77b4", dash: false, y: col(&|r| r.b_mean_gap) },
        Series { name: "b × (mean gap + SE)", color: "#1f77b4", dash: true, y: col(&|r| r.b_mean_gap + r.b_se_gap) },
        Series { name: "b × (mean gap − SE)", color: "#1f77b4", dash: true, y: col(&|r| r.b_mean_gap - r.b_se_gap) },
    ]);
    let gap_axes = Axes { title: "Seed means: gap and ΔS vs batch size b (log-log; values ≤ 0 not drawn)", xlabel: "batch size b", log: true, logx: true, xticks: &bs, ..Axes::default() };
    panel(&mut body, (0.0, h, w, h), &gap_axes, &bs, &[
        Series { name: "mean gap 2/η − mean S", color: "#1f77b4", dash: false, y: col(&|r| r.mean_gap) },
        Series { name: "mean ΔS = ηβσ²/(4α)", color: "#d62728", dash: true, y: col(&|r| r.mean_predicted_gap) },
    ]);
    write_both(&dir.join("figures"), "sgd_seeds", &doc(w, 2.0 * h, &body))
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

    /// The arguments of `selfstab sgd --batch 32`.
    fn default_args() -> SgdArgs {
        SgdArgs {
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
        }
    }

    #[test]
    fn sample_seed_lists_take_ranges_and_refuse_repeats_backward_ranges_and_excess() {
        assert_eq!(parse_seeds("0-3").unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(parse_seeds(" 7, 0-1 ,5").unwrap(), vec![7, 0, 1, 5]);
        assert_eq!(parse_seeds("18446744073709551615").unwrap(), vec![u64::MAX]);
        assert!(parse_seeds("0-3,2").unwrap_err().contains("sample seed 2 is given twice"));
        assert!(parse_seeds("5-2").unwrap_err().contains("the range `5-2` in `5-2` runs backwards"));
        assert!(parse_seeds("0-999").is_ok());
        assert!(parse_seeds("0-1000").unwrap_err().contains("more than 1000 seeds"));
        assert!(parse_seeds("0-998,1000,1001").unwrap_err().contains("more than 1000 seeds"));
        assert!(parse_seeds("0-18446744073709551615").unwrap_err().contains("more than 1000 seeds"));
        for bad in ["a", "1.5", "18446744073709551616", "1-x"] {
            assert!(parse_seeds(bad).unwrap_err().contains("is not a seed"), "{bad:?}");
        }
        for bad in ["", " ", "1,,2", "-1", "1-", ","] {
            assert!(parse_seeds(bad).unwrap_err().contains("has an empty item"), "{bad:?}");
        }
        assert_eq!(seed_list_text(&[0, 1, 2, 5, 7, 8]), "0–2, 5, 7–8");
    }

    /// A run's result with the given gap (NaN: no window), ΔS and divergence.
    fn result_with(batch: usize, gap: f64, predicted_gap: f64, diverged_at: Option<u64>) -> SgdResult {
        SgdResult { batch, gap, predicted_gap, ratio: gap / predicted_gap, diverged_at, full_batch: batch >= 100, ..SgdResult::default() }
    }

    #[test]
    fn seed_statistics_are_means_and_standard_errors_over_the_runs_with_a_gap() {
        // b = 10: gaps 0.1 and 0.3 (mean 0.2, sample sd 0.1·√2, SE 0.1), one run without a window
        // and one diverged run (left out); ΔS 0.01 and 0.02 over the two, and undefined in one.
        let runs =
            [result_with(10, 0.1, 0.01, None), result_with(10, f64::NAN, f64::NAN, None), result_with(10, 0.3, 0.02, None), result_with(10, 0.5, 0.1, Some(40)), result_with(10, 0.2, f64::NAN, None)];
        let s = seed_stats(10, &runs.iter().collect::<Vec<_>>());
        assert_eq!((s.runs, s.diverged, s.with_gap, s.positive_gaps, s.with_predicted_gap), (5, 1, 3, 3, 2));
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-15 * b.abs().max(1.0);
        assert!(close(s.mean_gap, 0.2) && close(s.se_gap, (0.02f64 / 6.0).sqrt()), "{} ± {}", s.mean_gap, s.se_gap);
        assert!(close(s.b_mean_gap, 2.0) && close(s.b_se_gap, 10.0 * (0.02f64 / 6.0).sqrt()));
        assert!(close(s.mean_predicted_gap, 0.015) && close(s.se_predicted_gap, 0.005), "{} ± {}", s.mean_predicted_gap, s.se_predicted_gap);
        assert!(close(s.min_ratio, 10.0) && close(s.max_ratio, 15.0));
        assert!(s.gaps[1].is_nan() && s.gaps[3].is_nan() && s.gaps[4] == 0.2 && !s.full_batch);
        // One run: a mean without a standard error; none: neither.
        let one = seed_stats(10, &[&runs[0]]);
        assert!(one.mean_gap == 0.1 && one.se_gap.is_nan());
        assert!(seed_stats(10, &[&runs[1]]).mean_gap.is_nan());
    }

    #[test]
    fn the_seed_table_shows_an_undefined_statistic_as_a_dash() {
        let a = SgdArgs { theta0: String::new(), lr: 0.25, steps: 200, ..default_args() };
        let none = result_with(32, f64::NAN, f64::NAN, None);
        let md = seeds_markdown(&seed_summary(&a, &[3, 4], &[vec![none.clone()], vec![none]]));
        assert!(md.starts_with("Sampler seeds 3–4 (2 runs per batch size), η = 0.25, 2/η = 8.00000, 200 steps; each gap over the last 0.5 of its run after S ≥ 0.75·2/η."), "{md}");
        assert!(md.contains("| 32 | 0 of 2 | — | — | 0 | 0 | — | — |\n") && md.contains("1/b law: not tested") && !md.contains("NaN"), "{md}");
        // One seed, one step, eos_eps 0.7 (1 − 0.7 = 0.30000000000000004 in f64): the header in words
        // and short decimals.
        let b = SgdArgs { steps: 1, eos_eps: 0.7, ..a };
        let none = result_with(32, f64::NAN, f64::NAN, None);
        let md = seeds_markdown(&seed_summary(&b, &[7], &[vec![none]]));
        assert!(md.starts_with("Sampler seeds 7 (1 run per batch size), η = 0.25, 2/η = 8.00000, 1 step; each gap over the last 0.5 of its run after S ≥ 0.3·2/η."), "{md}");
    }

    #[test]
    fn the_seed_table_says_what_the_full_batch_spread_and_a_negative_c_mean() {
        let a = SgdArgs { batches: vec![100, 20, 10], theta0: String::new(), lr: 0.25, steps: 200, ..default_args() };
        // Two seeds; b = 100 is the full batch (result_with flags b ≥ 100); gaps below 2/η at b < n.
        let runs = |g: [f64; 3]| vec![result_with(100, g[0], f64::NAN, None), result_with(20, g[1], 0.01, None), result_with(10, g[2], 0.01, None)];
        let md = seeds_markdown(&seed_summary(&a, &[0, 1], &[runs([-0.01, -0.2, -0.5]), runs([-0.02, -0.3, -0.4])]));
        assert!(md.contains("| 100 (full) | 2 of 2 |") && md.contains("its ± is rounding, amplified at the edge of stability, not sampling noise"), "{md}");
        // Weights 1/(b·SE)² = 1 and 4: c̄ = (−5 + 4·(−4.5))/5 = −4.6.
        assert!(md.contains("c̄ = -4.600") && md.contains("c̄ ≤ 0: the gaps are not positive"), "{md}");
        assert!(md.contains("| -30.000 to -20.000 |") && md.contains("| -50.000 to -40.000 |"), "{md}");
    }

    #[test]
    fn the_one_over_b_test_weights_by_inverse_variance_and_names_the_farthest_batch() {
        let row = |batch: usize, b_mean_gap: f64, b_se_gap: f64, full_batch: bool| SeedStats {
            batch,
            full_batch,
            runs: 3,
            diverged: 0,
            with_gap: 3,
            mean_gap: b_mean_gap / batch as f64,
            se_gap: b_se_gap / batch as f64,
            b_mean_gap,
            b_se_gap,
            positive_gaps: 3,
            with_predicted_gap: 3,
            mean_predicted_gap: f64::NAN,
            se_predicted_gap: f64::NAN,
            min_ratio: f64::NAN,
            max_ratio: f64::NAN,
            gaps: vec![],
            ratios: vec![],
        };
        // Weights 1/4 and 1: c̄ = (20/4 + 30)/(1/4 + 1) = 28; deviations 8/2 = 4 and 2/1 = 2 SE. The
        // full batch, and a batch size without a standard error, do not enter.
        let stats = [row(100, -5.0, 0.1, true), row(10, 20.0, 2.0, false), row(20, 30.0, 1.0, false), row(40, 99.0, f64::NAN, false), row(80, 50.0, 0.0, false)];
        let t = one_over_b(&stats).unwrap();
        assert!((t.c - 28.0).abs() < 1e-13 && (t.worst_se - 4.0).abs() < 1e-13, "{t:?}");
        assert_eq!((t.worst_batch, t.batches.clone()), (10, vec![10, 20]));
        assert_eq!(one_over_b(&stats[..2]), None);
    }

    #[test]
    fn a_refused_partial_file_names_the_arguments_that_differ() {
        let a = default_args();
        let b = SgdArgs { lr: 0.3, layers: vec![64, 32, 10], batches: vec![16], out: "elsewhere".into(), fresh: true, ..a.clone() };
        let d = key_differences(&job_key(&a).unwrap(), &job_key(&b).unwrap());
        assert_eq!(d, "layers = [64,16,16,10] (now: [64,32,10]), lr = 0.2667 (now: 0.3)");
        assert_eq!(key_differences(&job_key(&a).unwrap(), &job_key(&a).unwrap()), "other arguments or input files");
    }
}
