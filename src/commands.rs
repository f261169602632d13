//! The command-line jobs (`run`, `export`, `eval`) as library functions, so tests call them directly.
//! `run` is the tracking run of theory/README.md "Objects and their equations" (reference.md §5.3,
//! decisions §3–4: the instability point, θ†₀ = proj_M(θ₀), the recorded series).
//! Every output file is written atomically (temp file, fsync, rename).

use std::path::{Path, PathBuf};

use rug::Float;

use crate::config::Resolved;
use crate::data::{self, Dataset};
use crate::error::{Error, InputError};
use crate::gd;
use crate::linalg::{from_f64, to_f64, zeros};
use crate::models::cubic::Cubic;
use crate::models::mlp::{Activation, LossKind, Mlp, param_count};
use crate::npy::{self, NpyArray, write_atomic, write_json_atomic};
use crate::objective::Objective;
use crate::scalar::{Precision, Scalar};
use crate::sharpness::EigenOpts;
use crate::tracking::{self, COLUMNS, Row, StopReason, TrackOpts, TrackState};

/// Load a data set by name: `digits` (first n rows, standardised), `synthetic` (seeded) or an `.npz`.
pub fn load_data(name: &str, n: usize, d: usize, classes: usize, seed: u64) -> Result<Dataset, InputError> {
    match name {
        "digits" => data::digits(n),
        "synthetic" => data::synthetic(n, d, classes, seed),
        path if !Path::new(path).exists() => Err(InputError::File {
            path: path.into(),
            msg: "no such file; --data takes digits, synthetic (width1 with --model width1) or an .npz file".into(),
        }),
        path => data::load_npz_dataset(path),
    }
}

/// The memory check of `job` before its model is built, where the data's rows are known without
/// loading them (an MLP on digits or synthetic data): a large data set is refused before it is
/// generated and lifted into the model (`eval` of 64-16-16-10 on 10⁷ synthetic rows held 17.8 GB
/// when the check after the build refused it). Returns whether it checked; if not, the caller checks
/// once the model is built ([`crate::objective::Objective::data_rows`]).
pub(crate) fn precheck<S: Scalar>(job: crate::memory::Job, cfg: &Resolved, c: S::Ctx) -> Result<bool, Error> {
    let Some(rows) = known_rows(&cfg.data, cfg.n) else { return Ok(false) };
    if cfg.model != "mlp" || cfg.cubic.is_some() || cfg.layers.len() < 2 {
        return Ok(false);
    }
    let Some(p) = crate::models::mlp::checked_param_count(&cfg.layers) else { return Ok(false) };
    crate::memory::check_scalar::<S>(job, p, Some(&crate::memory::Rows::mlp(rows, &cfg.layers)), c)?;
    Ok(true)
}

/// The rows of the data `name` with `n` asked for, where they are known before the data are made
/// (digits: at most its 1,797; synthetic: n). None for a file, and for an n out of range, which is
/// the data's own error, reported when they are made.
pub(crate) fn known_rows(name: &str, n: usize) -> Option<usize> {
    match name {
        "digits" => Some(n.min(data::DIGITS_ROWS)),
        "synthetic" if (1..=data::MAX_SAMPLES).contains(&n) => Some(n),
        _ => None,
    }
}

/// Read GD's starting parameters from a `.npy` and check length and finiteness.
pub fn load_theta(path: &str, p: usize) -> Result<Vec<f64>, InputError> {
    let (v, shape) = match path.strip_prefix("builtin:") {
        Some(name) => {
            let bytes = crate::config::builtin_theta(name).ok_or_else(|| InputError::Unknown {
                what: "built-in θ",
                got: name.into(),
                expected: "mlp_64-16-16-10, mlp_64-32-10, mlp_64-12-10",
            })?;
            npy::parse_npy(bytes, std::path::Path::new(path))?.into_f64(std::path::Path::new(path), "parameters")?
        }
        None => npy::read_npy_f64(path)?,
    };
    if shape.len() != 1 || v.len() != p {
        return Err(InputError::Shape {
            path: path.into(),
            msg: format!("expected a float64 vector of {p} parameters (the model's layout: --layers, --channels or the cubic's dimension), found shape {shape:?}"),
        });
    }
    data::check_finite(&format!("parameters {path}"), &v)?;
    Ok(v)
}

/// Whether `eval --theta` names a decimal text file (`.txt`, one number per line: `theta_unstable.txt`
/// or one column of `final_state.txt`), read at the working precision with all its digits.
fn is_decimal_theta(path: &str) -> bool {
    path.ends_with(".txt")
}

/// θ from a decimal text file: one number per line (blank lines and `#` comments skipped), each
/// parsed at the working precision of `c` (not through f64), p of them, all finite.
pub fn read_decimal_theta<S: Scalar>(path: &str, p: usize, c: S::Ctx) -> Result<Vec<S>, InputError> {
    let text = std::fs::read_to_string(path).map_err(|e| InputError::File { path: path.into(), msg: e.to_string() })?;
    let mut out = Vec::with_capacity(p);
    for (i, line) in text.lines().enumerate() {
        // A `#` starts a comment, on its own line or after the number.
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = |msg: String| InputError::Shape { path: path.into(), msg: format!("line {}: {msg}", i + 1) };
        let numbers: usize = line.split_whitespace().count();
        if numbers != 1usize {
            return Err(bad(format!("{numbers} numbers; a θ file has one per line (final_state.txt's first column is θ_T: `awk '!/^#/ {{print $1}}'`)")));
        }
        let x = S::parse(line, c).map_err(|e| bad(format!("`{line}` is not a decimal number ({e})")))?;
        if !x.is_finite() {
            return Err(bad(format!("`{line}` is not finite")));
        }
        out.push(x);
    }
    if out.len() != p {
        return Err(InputError::Shape {
            path: path.into(),
            msg: format!("expected {p} parameters (the model's layout: --layers, --channels), found {}", out.len()),
        });
    }
    Ok(out)
}

/// The data of an MLP with these widths: checks the widths and that the data's input width matches.
fn data_for(layers: &[usize], name: &str, n: usize, seed: u64) -> Result<Dataset, InputError> {
    crate::config::check_layers(layers)?;
    let ds = load_data(name, n, layers[0], layers[layers.len() - 1], seed)?;
    if ds.d != layers[0] {
        return Err(InputError::Dimension(format!(
            "the data has {} input features but --layers starts with {}",
            ds.d, layers[0]
        )));
    }
    // Checked here too, not only when the model is built, so that `export` does not write data
    // that `run` and `eval` then refuse.
    let classes = layers[layers.len() - 1];
    if let Some((i, label)) = ds.y.iter().enumerate().find(|&(_, &l)| l < 0 || l as u64 >= classes as u64) {
        return Err(InputError::Value {
            key: "labels".into(),
            msg: format!("label {label} of sample {i} of the data `{name}` is outside 0..{classes} (the output width, the last of --layers)"),
        });
    }
    Ok(ds)
}

/// Build the MLP of a resolved configuration at precision `c`, with its data and starting point.
pub(crate) fn build_mlp<S: Scalar>(cfg: &Resolved, c: S::Ctx) -> Result<(Mlp<S>, Vec<f64>), InputError> {
    let act = Activation::parse(&cfg.activation)?;
    let loss = LossKind::parse(&cfg.loss)?;
    let ds = data_for(&cfg.layers, &cfg.data, cfg.n, cfg.seed)?;
    let model = Mlp::<S>::new(&cfg.layers, act, loss, &ds, c)?;
    let p = param_count(&cfg.layers);
    let theta = if cfg.theta0.is_empty() { data::init_params(&cfg.layers, cfg.seed)? } else { load_theta(&cfg.theta0, p)? };
    Ok((model, theta))
}

/// Growth of GD's loss over its value at θ₀ beyond which GD has diverged: a loss bounded below
/// ([`Objective::nonnegative`]) that grows past it stops the run as diverged, and a numerical failure
/// after such growth is reported as GD's divergence (a loss a million times its starting value has
/// left the regime of the theory).
pub const DIVERGENCE_GROWTH: f64 = 1e6;

/// Outcome of a `run`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// First GD step with S ≥ 2/η.
    pub instability_step: u64,
    /// η (decimal text as configured).
    pub eta: String,
    /// 2/η.
    pub threshold: f64,
    /// Tracking steps recorded.
    pub steps_tracked: u64,
    /// Why tracking stopped (`completed`, `eigengap`, `diverged`, `numerical`).
    pub stop_reason: String,
    /// The message.
    pub stop_message: String,
    /// Largest t such that tracking_error ≤ 0.1·dist at every step ≤ t (relative tolerance 0.1).
    pub tracking_horizon: u64,
    /// The tolerance of `tracking_horizon`.
    pub tracking_tolerance: f64,
    /// Same horizon for the generalized prediction.
    pub tracking_horizon_gen: u64,
    /// [min, max] of α along θ† (null, read back as NaN, where undefined: no tracking step).
    #[serde(deserialize_with = "crate::npy::null_as_nan::pair")]
    pub alpha_range: [f64; 2],
    /// [min, max] of β (null, read back as NaN, where undefined: no tracking step).
    #[serde(deserialize_with = "crate::npy::null_as_nan::pair")]
    pub beta_range: [f64; 2],
    /// [min, max] of δ (null, read back as NaN, where undefined: no tracking step).
    #[serde(deserialize_with = "crate::npy::null_as_nan::pair")]
    pub delta_range: [f64; 2],
    /// GD's first sharpness spike (claim 8): step and height.
    pub first_spike_gd: Option<(u64, f64)>,
    /// The prediction's first spike (S(θ†) + ∇S·v).
    pub first_spike_pred: Option<(u64, f64)>,
    /// Reduced-map first-spike height 2/η + √(α₀ H₀), H₀ = Y₀² + X₀² − log X₀² − 1, X₀ = x₀/δ₀, Y₀ = y₀/√α₀.
    pub first_spike_reduced_map: Option<f64>,
    /// Tracking step at which the standard prediction diverged, if it did.
    pub prediction_diverged_at: Option<u64>,
    /// Same for the generalized prediction.
    pub prediction_gen_diverged_at: Option<u64>,
    /// S(θ₀).
    pub sharpness_unstable: f64,
    /// L(θ₀).
    pub loss_unstable: f64,
    /// Parameters p.
    pub params: usize,
    /// Precision.
    pub precision: String,
    /// Model description.
    pub model: String,
    /// Tracking step at which θ† switched to the k-eigenvalue projection (`--multi K`).
    #[serde(default)]
    pub multi_switched_at: Option<u64>,
    /// Largest number of critical eigenvalues at θ† after the switch.
    #[serde(default)]
    pub multi_max_critical: Option<usize>,
}

/// The outputs `run` writes besides `config.toml` and its checkpoint (README "Outputs of run"),
/// removed when a run starts afresh in a directory that holds them.
pub const STALE_OUTPUTS: &[&str] = &[
    "pre_instability.csv", "theta_unstable.npy", "theta_unstable.txt", "series.csv", "series.npz",
    "final_state.npz", "final_state.txt", "summary.json", "betas.csv", "multi.csv", "monitors.csv", "slices.csv", "gf.csv", "figures/tracking.png",
    "figures/tracking.svg", "figures/phase.png", "figures/phase.svg", "figures/multi.png", "figures/multi.svg",
];

/// The outputs of [`STALE_OUTPUTS`] a run keeps up to date while it runs (its search trace, θ₀, the
/// series at each checkpoint); the others only a finished run writes, and a resumed run removes
/// them, so that until it ends again no `summary.json` (the mark of a complete set) stands beside
/// its longer series.
const PROGRESS_OUTPUTS: &[&str] = &["pre_instability.csv", "theta_unstable.npy", "theta_unstable.txt", "series.csv", "series.npz"];

/// Everything a resumed run needs, written every `checkpoint_every` steps.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
struct Checkpoint<S: Scalar> {
    config: Resolved,
    /// [`Resolved::input_digest`] of the job that wrote it.
    #[serde(default)]
    inputs: String,
    instability_step: u64,
    theta_unstable: Vec<S>,
    sharpness_unstable: f64,
    loss_unstable: f64,
    pre: Vec<gd::TraceRow>,
    state: TrackState<S>,
    rows: Vec<Row>,
    stop: Option<StopReason>,
    #[serde(default)]
    multi: crate::multi::MultiState<S>,
    #[serde(default)]
    betas: crate::multi::BetaTracker<S>,
    /// `monitors.csv` rows so far.
    #[serde(default)]
    monitors: Vec<crate::monitors::MonitorRow>,
    /// `slices.csv` points so far.
    #[serde(default)]
    slices: crate::monitors::Slice,
    /// Gradient flow from θ₀ (`--gf`).
    #[serde(default)]
    gf: Option<gd::GradientFlow<S>>,
}

/// Write `ck` to `path` (atomically).
fn save<S: Scalar>(path: &Path, ck: &Checkpoint<S>) -> Result<(), Error> {
    write_json_atomic(path, ck)
}

/// The file in which `run` keeps its instability search while it runs, so that an interrupted
/// search resumes where it stopped; removed once the run's checkpoint holds the instability point.
pub const SEARCH_CHECKPOINT: &str = "search_checkpoint.json";

/// `flow`'s own saved search (a `run` and a `flow` may share an output directory).
pub const FLOW_SEARCH_CHECKPOINT: &str = "flow_search_checkpoint.json";

/// A saved instability search, as written ([`SearchSaver`]).
#[derive(serde::Serialize)]
#[serde(bound = "")]
struct SearchSaved<'a, S: Scalar> {
    config: &'a Resolved,
    inputs: &'a str,
    state: &'a gd::SearchState<S>,
    trace: &'a [gd::TraceRow],
}

/// A saved instability search, as read back.
#[derive(serde::Deserialize)]
#[serde(bound = "")]
pub(crate) struct SearchResumed<S: Scalar> {
    config: Resolved,
    inputs: String,
    state: gd::SearchState<S>,
    trace: Vec<gd::TraceRow>,
}

/// The saved search in `path` if it is one of this job (the same configuration, `steps` and
/// `search_steps` aside, the same input files, vectors of the model's length p, and not past
/// `search_steps`); None if there is none. A saved search of another job is kept and is an error
/// (unless `fresh` discards it: [`npy::read_saved`]). Read before the job writes anything.
pub(crate) fn read_saved_search<S: Scalar>(path: &Path, cfg: &Resolved, inputs: &str, p: usize, fresh: bool) -> Result<Option<SearchResumed<S>>, Error> {
    npy::read_saved_at(path, "saved instability search", fresh, Some(&cfg.precision), |r: &SearchResumed<S>| {
        let now = Resolved { steps: r.config.steps, search_steps: r.config.search_steps, ..cfg.clone() };
        if !now.same_job(&r.config) {
            return Err(format!("it is the search of another configuration ({})", r.config.differences(cfg, &["steps", "search_steps"])));
        }
        if r.inputs != inputs {
            return Err("the contents of its data or θ₀ file have changed since it was written".into());
        }
        if !r.state.dims_ok(p) {
            return Err(format!("its vectors do not have the model's length p = {p}"));
        }
        if r.trace.last().map(|row| row.0 + 1) != Some(r.state.t) {
            return Err(format!("its trace does not end at GD step {}", r.state.t.saturating_sub(1)));
        }
        if r.state.t > cfg.search_steps {
            return Err(format!("it is {} GD steps in, past --search-steps {}", r.state.t, cfg.search_steps));
        }
        Ok(())
    })
}

/// The commands' observer of the instability search: records its trace (`pre_instability.csv`)
/// and saves the search to [`SEARCH_CHECKPOINT`] after its first step, then at most every
/// `progress::CHECKPOINT_SECONDS`, and at once when a signal asks an armed job to stop
/// (`progress::interrupt`), after which it stops the search. A save that fails stops it too.
struct SearchSaver<'a> {
    path: PathBuf,
    config: &'a Resolved,
    inputs: &'a str,
    trace: gd::TraceRecorder,
    cadence: crate::progress::Cadence,
    interrupted: bool,
    failed: Option<Error>,
}

impl<S: Scalar> gd::Observer<S> for SearchSaver<'_> {
    fn on_row(&mut self, row: &gd::GdRow<'_, S>) {
        gd::Observer::<S>::on_row(&mut self.trace, row);
    }
    fn on_backtrack(&mut self, t: u64) {
        gd::Observer::<S>::on_backtrack(&mut self.trace, t);
    }
    fn on_state(&mut self, state: &gd::SearchState<S>) {
        let interrupted = crate::progress::interrupt::requested();
        // The iterate at the cap is saved too: a search that ends there resumes from it when the
        // cap is raised (it resumed from the last periodic save, up to 10 s of steps back).
        let at_cap = state.t == self.config.search_steps;
        if self.failed.is_some() || !(interrupted || at_cap || self.cadence.due(state.t)) {
            return;
        }
        let saved = SearchSaved { config: self.config, inputs: self.inputs, state, trace: &self.trace.rows };
        match write_json_atomic(&self.path, &saved) {
            Ok(()) => self.interrupted = interrupted,
            Err(e) => self.failed = Some(e),
        }
    }
    fn stop(&self) -> bool {
        self.interrupted || self.failed.is_some()
    }
}

/// The instability search of `run` and `flow` (decisions §3), resumable: it goes on from `saved`
/// (this job's saved search, [`read_saved_search`]) if given, and saves itself in `path` as it
/// runs ([`SearchSaver`]). Returns the instability point (or why there is none, a signal included)
/// with the search's trace.
#[allow(clippy::too_many_arguments)]
pub(crate) fn search_resumable<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    theta_init: &[S],
    cfg: &Resolved,
    inputs: &str,
    path: &Path,
    saved: Option<SearchResumed<S>>,
) -> (Result<gd::Instability<S>, Error>, Vec<gd::TraceRow>) {
    let (from, trace) = match saved {
        Some(r) => {
            eprintln!("resuming the instability search from {} at GD step {}", path.display(), r.state.t);
            (r.state, r.trace)
        }
        None => (gd::SearchState::start(theta_init), vec![]),
    };
    let mut saver = SearchSaver {
        path: path.to_path_buf(),
        config: cfg,
        inputs,
        trace: gd::TraceRecorder { rows: trace },
        cadence: crate::progress::Cadence::new(1),
        interrupted: false,
        failed: None,
    };
    let inst = gd::find_instability_shown(obj, eta, from, cfg.search_steps, cfg.eig_tol, &mut saver);
    let inst = match (inst, saver.failed.take()) {
        (_, Some(e)) => Err(e),
        (Ok(i), None) => Ok(i),
        // Stopped after step t: θ_{t+1} is saved and the same command resumes at step t + 1.
        (Err(gd::SearchError::Stopped(t)), None) => Err(Error::Interrupted(format!(
            "interrupted at GD step {} of the instability search: the search so far is saved in {}; the same command resumes it",
            t + 1,
            path.display()
        ))),
        (Err(e), None) => Err(crate::error::EvalError::Other(e.to_string()).into()),
    };
    (inst, saver.trace.rows)
}

/// Run the job of a resolved configuration (dispatching on the precision), resuming its
/// checkpoint in `out` if there is one; a checkpoint of another job there is an error
/// ([`run_with`] with `fresh` discards it).
pub fn run(cfg: &Resolved) -> Result<Summary, Error> {
    run_with(cfg, false)
}

/// [`run`], with `fresh` (`run --fresh`): any checkpoint in `out` is removed and the run starts
/// afresh (one this job cannot resume is otherwise an error).
pub fn run_with(cfg: &Resolved, fresh: bool) -> Result<Summary, Error> {
    crate::linalg::set_threads(cfg.threads);
    match Precision::parse(&cfg.precision)? {
        Precision::F64 => run_generic::<f64>(cfg, fresh, ()),
        Precision::Bits(b) => run_generic::<Float>(cfg, fresh, b),
    }
}

/// A job's objective and GD's starting parameters.
pub type Built<S> = (Box<dyn Objective<S>>, Vec<S>);

/// The objective of a resolved job (any model: MLP, cubic, CNN, width-1) and GD's starting
/// parameters (`theta0`, or the model's own start: x₀ = (x0_over_delta)·δ for the cubic, the seeded
/// initialisation otherwise).
pub fn build_objective<S: Scalar>(cfg: &Resolved, c: S::Ctx) -> Result<Built<S>, Error> {
    Ok(if cfg.model == "cubic" {
        let spec = cfg.cubic.clone().expect("resolved cubic spec");
        let m = Cubic::<S>::new(&spec, c)?;
        let x0 = S::parse(&cfg.x0_over_delta, c).map_err(|msg| InputError::Value { key: "x0_over_delta".into(), msg })?
            * &m.delta();
        if !x0.is_finite() {
            return Err(InputError::Value { key: "x0_over_delta".into(), msg: format!("x₀ = ({})·δ is not finite", cfg.x0_over_delta) }.into());
        }
        let mut th = zeros::<S>(m.dim(), c);
        if !cfg.theta0.is_empty() {
            th = from_f64(&load_theta(&cfg.theta0, m.dim())?, c);
        } else {
            th[0] = x0;
        }
        (Box::new(m), th)
    } else if crate::models::build::is_extra(&cfg.model) {
        let (m, th) = crate::models::build::build::<S>(&cfg.model_args(), c)?;
        (m, from_f64(&th, c))
    } else {
        let (m, th) = build_mlp::<S>(cfg, c)?;
        (Box::new(m), from_f64(&th, c))
    })
}

fn run_generic<S: Scalar>(cfg: &Resolved, fresh: bool, c: S::Ctx) -> Result<Summary, Error> {
    let out = PathBuf::from(&cfg.out);
    let eta = S::parse(&cfg.lr, c).map_err(|m| InputError::Value { key: "lr".into(), msg: m })?;
    let checked = precheck::<S>(crate::memory::Job::Run, cfg, c)?;
    let (obj, theta_init) = build_objective::<S>(cfg, c)?;
    if !checked {
        crate::memory::check_scalar::<S>(crate::memory::Job::Run, obj.dim(), obj.data_rows().as_ref(), c)?;
    }
    // The output directory is made and locked once the job is known to fit.
    npy::create_out_dir(&out)?;
    let _lock = npy::lock_out_dir(&out)?;
    let obj = obj.as_ref();
    let topts = TrackOpts {
        projection_steps: cfg.projection_steps,
        gap_every: cfg.gap_every,
        gap_threshold: if cfg.gap_threshold == "none" { None } else { cfg.gap_threshold.parse().ok() },
        eig_tol: cfg.eig_tol,
        chain_tol: cfg.chain_tol,
    };
    let mopts = crate::multi::MultiOpts {
        k: cfg.multi,
        crit: topts.gap_threshold.unwrap_or(1.9),
    };
    let ckpt_path = out.join("checkpoint.json");
    let inputs = cfg.input_digest()?;

    // Resume if a checkpoint of the same configuration exists. One that cannot be read, or that
    // belongs to another job, is kept and is an error (before anything is written), unless --fresh.
    let resumed: Option<Checkpoint<S>> = npy::read_saved_at(&ckpt_path, "checkpoint", fresh, Some(&cfg.precision), |ck: &Checkpoint<S>| {
        if !cfg.same_job_but_steps(&ck.config) {
            return Err(format!("it is the checkpoint of another configuration ({})", ck.config.differences(cfg, &["steps"])));
        }
        if ck.inputs != inputs {
            return Err("the contents of its data or θ₀ file have changed since it was written".into());
        }
        if ck.state.t > cfg.steps {
            return Err(format!("it is {} tracking steps in, past --steps {}", ck.state.t, cfg.steps));
        }
        // A checkpoint whose vectors do not have the model's length, or whose rows are not one per
        // step taken (edited or from another build), is not resumed.
        if ck.theta_unstable.len() != obj.dim() || !ck.state.dims_ok(obj.dim()) {
            return Err(format!("its vectors do not have the model's length p = {}", obj.dim()));
        }
        // (A step that stops the run records its row without advancing t.)
        let rows = ck.rows.len() as u64;
        let rows_ok = rows == ck.state.t || (ck.stop.is_some() && rows == ck.state.t + 1);
        if !rows_ok || ck.rows.iter().enumerate().any(|(i, r)| r.t != i as u64) {
            return Err(format!("it holds {} rows for {} tracking steps", ck.rows.len(), ck.state.t));
        }
        Ok(())
    })?;
    // Without a checkpoint, a saved search of this job is resumed; another job's is refused here,
    // before anything is written. With one, a saved search left beside it (a run killed between
    // writing its first checkpoint and removing the search) is this job's and is removed below.
    let search_path = out.join(SEARCH_CHECKPOINT);
    let saved_search = if resumed.is_none() { read_saved_search::<S>(&search_path, cfg, &inputs, obj.dim(), fresh)? } else { None };
    write_atomic(&out.join("config.toml"), toml::to_string(&cfg.to_run_config()).expect("config serialises").as_bytes())?;
    // From here a signal (SIGINT, SIGTERM) asks the job to stop: the instability search after its
    // GD step in progress, the tracking loop at the end of the step in progress, each after saving
    // itself (`progress::interrupt`).
    let armed = crate::progress::interrupt::arm();
    let mut ck = match resumed {
        Some(mut ck) => {
            eprintln!("resuming from {} at tracking step {}", ckpt_path.display(), ck.state.t);
            // A complete set written before (a run killed between writing its outputs and removing
            // its checkpoint, or whose output writing failed) is superseded: the run writes it again
            // when it ends.
            npy::remove_outputs(&out, STALE_OUTPUTS.iter().filter(|f| !PROGRESS_OUTPUTS.contains(f)));
            // The checkpoint records the job as now configured (its steps, cadence, directory).
            ck.config = cfg.clone();
            ck
        }
        None => {
            // A fresh run: the outputs of an earlier run in this directory go first, so that a run
            // killed before its end never leaves its partial series beside another run's summary.
            npy::remove_outputs(&out, STALE_OUTPUTS);
            // Instability search.
            let (inst, trace) = search_resumable(obj, &eta, &theta_init, cfg, &inputs, &search_path, saved_search);
            let inst = match inst {
                Ok(i) => i,
                Err(e) => {
                    // The trace so far is kept; a failure to write it must not hide why the search
                    // ended (a full disk fails both).
                    if let Err(w) = write_pre(&out, &trace) {
                        eprintln!("the search trace could not be written: {w}");
                    }
                    return Err(e);
                }
            };
            eprintln!(
                "instability at GD step {}: S = {} ≥ 2/η = {}, L = {:.6e}",
                inst.step,
                crate::error::num6(inst.sharpness.to_f64()),
                crate::error::num6(2.0 / eta.to_f64()),
                inst.loss.to_f64()
            );
            let state = match tracking::start(obj, &eta, &inst.theta, Some(&inst.u), &topts) {
                Ok(s) => s,
                Err(e) => {
                    // As a failed search: the trace is kept; a non-finite value says which step met it.
                    let kept = match write_pre(&out, &trace) {
                        Ok(()) => format!("; the search trace is kept in {}", out.display()),
                        Err(w) => {
                            eprintln!("the search trace could not be written: {w}");
                            String::new()
                        }
                    };
                    return Err(match e {
                        crate::error::EvalError::NonFinite { .. } => crate::error::EvalError::Other(format!(
                            "θ†₀, the projection of θ₀ (GD step {}) onto the stable set, failed: {e}{kept}",
                            inst.step
                        )),
                        e => e,
                    }
                    .into());
                }
            };
            if !crate::constrained::within_start_tol(&eta, &state.residual_s, topts.eig_tol) {
                let why = if state.dagger.beta.to_f64() > 0.0 {
                    "θ₀ is too far past the edge of stability (is η far too large?)"
                } else {
                    "∇S⊥ = 0 at θ†₀, so no projection step lowers S (is the stable set empty for this η?)"
                };
                eprintln!(
                    "warning: the projection of θ₀ onto the stable set stopped off it: S(θ†₀) − 2/η = {} \
                     (2/η = {}, allowed {}): {why}; θ†'s columns are not the constrained trajectory's \
                     until proj_residual_s falls below that",
                    crate::error::num6(state.residual_s.to_f64()),
                    crate::error::num6(2.0 / eta.to_f64()),
                    crate::error::num6(crate::constrained::start_bound(&eta, topts.eig_tol))
                );
            }
            let gf = cfg.gf.then(|| gd::GradientFlow::new(&inst.theta, &inst.u));
            let ck = Checkpoint {
                config: cfg.clone(),
                inputs: inputs.clone(),
                instability_step: inst.step,
                sharpness_unstable: inst.sharpness.to_f64(),
                loss_unstable: inst.loss.to_f64(),
                theta_unstable: inst.theta,
                pre: trace,
                state,
                rows: vec![],
                stop: None,
                multi: Default::default(),
                betas: Default::default(),
                monitors: vec![],
                slices: vec![],
                gf,
            };
            // The instability point and θ†₀ are saved at once (the saved search is then removed).
            save(&ckpt_path, &ck)?;
            ck
        }
    };
    npy::remove_outputs(&out, [SEARCH_CHECKPOINT]);
    write_pre(&out, &ck.pre)?;
    write_vec(&out.join("theta_unstable.npy"), &ck.theta_unstable)?;

    // Tracking.
    let mut prog = crate::progress::Ticker::new(1);
    let mut cadence = crate::progress::Cadence::new(cfg.checkpoint_every);
    while ck.stop.is_none() && ck.state.t < cfg.steps {
        if crate::progress::interrupt::requested() {
            // Save everything so far and stop; the same command resumes here.
            save(&ckpt_path, &ck)?;
            write_series(&out, &ck.rows)?;
            prog.finish();
            return Err(Error::Interrupted(format!(
                "interrupted at tracking step {} of {}: checkpoint and series so far written to {}; run the same command again to resume",
                ck.state.t,
                cfg.steps,
                out.display()
            )));
        }
        let before = (ck.state.pred_diverged, ck.state.pred_gen_diverged);
        let betas = ck.betas.observe(obj, &eta, &ck.state.dagger, ck.state.t);
        // The observers of step t: the neglected-term monitors and the slice every --gap-every steps
        // (decisions §5) while the single-eigenvalue picture holds (the prediction is not defined
        // after a --multi switch), and the gradient flow (--gf).
        let observed = betas.and_then(|_| {
            if ck.state.t.is_multiple_of(cfg.gap_every) && ck.multi.switched_at.is_none() {
                let v = ck.state.pred_diverged.is_none().then_some(ck.state.v.as_slice());
                let (m, s) = crate::monitors::observe(obj, &ck.state.dagger, &ck.state.theta, v, ck.state.t, cfg.eig_tol)?;
                ck.monitors.push(m);
                ck.slices.extend(s);
            }
            if let Some(g) = ck.gf.as_mut() {
                // The flow's S is recorded in f64 (and sets ⌈ηS⌉ from its f64), its u only starts
                // the next solve: above f64 the solve stops at 2^-60 (sharpness::RECORD_TOL).
                g.advance(obj, &eta, &ck.state.dagger.theta, ck.state.t, crate::sharpness::record_tol::<S>(obj.ctx(), cfg.eig_tol))?;
            }
            Ok(0)
        });
        let (row, stop) = match observed.and_then(|_| crate::multi::step(obj, &eta, &mut ck.state, &mut ck.multi, &topts, &mopts)) {
            Ok(x) => x,
            Err(e) => {
                // Keep everything recorded so far; say where and why the run stopped.
                ck.stop = Some(StopReason::Numerical(format!("stopped at tracking step {}: {e}", ck.state.t)));
                save(&ckpt_path, &ck)?;
                break;
            }
        };
        for (was, now, which) in [(before.0, ck.state.pred_diverged, "standard"), (before.1, ck.state.pred_gen_diverged, "generalized")] {
            if let (None, Some(at)) = (was, now) {
                prog.finish();
                eprintln!("the {which} prediction diverged (non-finite v) at tracking step {at}; its columns are empty from there, GD and θ† continue");
            }
        }
        // A step whose GD evaluation failed (GD diverged at θ_t) measured nothing: no row.
        if row.measured() {
            prog.show(row.t, || {
                format!(
                    "  tracking step {:>5}/{}  loss {:.6e}  S {:.5}  ‖θ−θ†−v‖/‖θ−θ†‖ {:.3}",
                    row.t,
                    cfg.steps,
                    row.loss_gd,
                    row.sharpness_gd,
                    row.tracking_error / row.dist.max(f64::MIN_POSITIVE)
                )
            });
            ck.rows.push(row);
        }
        if let Some(s) = stop {
            ck.stop = Some(s);
        }
        // A loss bounded below that has grown DIVERGENCE_GROWTH times over its value at θ₀ has
        // left the theory's regime for good: GD diverged, though every value is still finite.
        if let (None, true, Some(first), Some(last)) = (&ck.stop, obj.nonnegative(), ck.rows.first(), ck.rows.last())
            && last.loss_gd > DIVERGENCE_GROWTH * first.loss_gd
        {
            ck.stop = Some(StopReason::Diverged(format!(
                "GD diverged: its loss grew from {:.6e} at θ₀ to {:.6e} at tracking step {}, over {DIVERGENCE_GROWTH:e} times its start",
                first.loss_gd, last.loss_gd, last.t
            )));
        }
        if cadence.due(ck.state.t) || ck.stop.is_some() || ck.state.t == cfg.steps {
            save(&ckpt_path, &ck)?;
            write_series(&out, &ck.rows)?;
        }
    }
    // Still armed while the outputs are written: a signal then lets them finish (see
    // `interrupt::after_outputs`).
    prog.finish();
    // A numerical failure on an exploding GD iterate is GD's divergence, reported as such.
    if let (Some(StopReason::Numerical(msg)), Some(first), Some(last)) = (&ck.stop, ck.rows.first(), ck.rows.last())
        && last.loss_gd > DIVERGENCE_GROWTH * first.loss_gd.abs().max(f64::MIN_POSITIVE)
    {
        ck.stop = Some(StopReason::Diverged(format!(
            "GD diverged: its loss grew from {:.6e} at θ₀ to {:.6e} at tracking step {}, where {msg}",
            first.loss_gd, last.loss_gd, last.t
        )));
    }
    let stop = ck.stop.clone().unwrap_or(StopReason::Completed);
    write_series(&out, &ck.rows)?;
    write_atomic(&out.join("betas.csv"), ck.betas.csv().as_bytes())?;
    write_atomic(&out.join("monitors.csv"), crate::monitors::monitors_csv(&ck.monitors).as_bytes())?;
    write_atomic(&out.join("slices.csv"), crate::monitors::slices_csv(&ck.slices).as_bytes())?;
    if let Some(g) = &ck.gf {
        write_atomic(&out.join("gf.csv"), gd::flow_csv(&g.rows).as_bytes())?;
    }
    if ck.multi.switched_at.is_some() {
        write_atomic(&out.join("multi.csv"), crate::multi::multi_csv(&ck.multi.rows, cfg.multi).as_bytes())?;
    }
    write_final(&out, &ck.state)?;
    let summary = summarise(cfg, &ck, &stop, obj, &eta);
    write_atomic(&out.join("summary.json"), serde_json::to_string_pretty(&summary).unwrap().as_bytes())?;
    // The run's events on the figures' step axis: θ†'s switch (the prediction's columns end there)
    // and the standard prediction's divergence.
    let marks: Vec<(f64, &str)> = [(ck.multi.switched_at, "switch to k eigenvalues"), (ck.state.pred_diverged, "prediction diverged")]
        .into_iter()
        .filter_map(|(at, name)| Some((at? as f64, name)))
        .collect();
    crate::figures::write_all(&out, &ck.rows, ck.gf.as_ref().map(|g| g.rows.as_slice()), 2.0 / eta.to_f64(), &marks)?;
    if let Some(switched_at) = ck.multi.switched_at {
        let m = crate::figures::MultiFigure { rows: &ck.multi.rows, k: cfg.multi, switched_at, critical_level: mopts.crit / eta.to_f64() };
        crate::figures::write_multi(&out, &ck.rows, &m, 2.0 / eta.to_f64())?;
    }
    let _ = std::fs::remove_file(&ckpt_path);
    match stop {
        StopReason::Completed => eprintln!("completed all {} requested tracking steps; outputs in {}", ck.rows.len(), out.display()),
        _ => eprintln!("{}: {} ({} tracking steps); outputs in {}", stop.tag(), stop.message(), ck.rows.len(), out.display()),
    }
    if matches!(stop, StopReason::Eigengap(_)) && cfg.multi < 2 {
        eprintln!("to go on past the eigengap: `--multi K` continues θ† with the projection for K eigenvalues, `--gap-threshold none` keeps the single-eigenvalue θ† (theory/README.md \"Several unstable eigenvalues\")");
    }
    crate::progress::interrupt::after_outputs("run", &out)?;
    drop(armed);
    Ok(summary)
}

fn range(rows: &[Row], f: impl Fn(&Row) -> f64) -> [f64; 2] {
    let vals: Vec<f64> = rows.iter().map(f).filter(|v| v.is_finite()).collect();
    if vals.is_empty() {
        return [f64::NAN, f64::NAN];
    }
    [vals.iter().cloned().fold(f64::INFINITY, f64::min), vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max)]
}

/// The first spike of a sharpness series above `level` (= 2/η): the maximum over its first excursion
/// above the level, reported only once the excursion has ended so that the peak is complete. GD's
/// sharpness alternates step to step at the edge of stability, so a plain "first local maximum"
/// would pick one of those jags instead of the peak (claim 8's Y_max is the maximum of the first
/// cycle), and the alternation can dip below the level for single steps while the cycle is still
/// rising: the excursion ends where the two-step envelope max(S_t, S_{t+1}) falls to ≤ level (two
/// steps in a row at or below it), or at a NaN (+∞ stays in the excursion and is its peak).
fn first_spike(rows: &[Row], level: f64, f: impl Fn(&Row) -> f64) -> Option<(u64, f64)> {
    let v: Vec<f64> = rows.iter().map(&f).collect();
    let start = v.iter().position(|&x| x > level)?;
    let len = (start..v.len()).position(|j| v[j].is_nan() || (v[j] <= level && v.get(j + 1).is_some_and(|&y| !(y > level))))?;
    let (i, m) = v[start..start + len].iter().enumerate().fold((0, f64::NEG_INFINITY), |(bi, bm), (i, &x)| if x > bm { (i, x) } else { (bi, bm) });
    Some((rows[start + i].t, m))
}

fn horizon(rows: &[Row], tol: f64, err: impl Fn(&Row) -> f64) -> u64 {
    let mut h = 0;
    for r in rows {
        if err(r) <= tol * r.dist || err(r) == 0.0 {
            h = r.t;
        } else {
            break;
        }
    }
    h
}

fn summarise<S: Scalar>(cfg: &Resolved, ck: &Checkpoint<S>, stop: &StopReason, obj: &dyn Objective<S>, eta: &S) -> Summary {
    let rows = &ck.rows;
    let thr = 2.0 / eta.to_f64();
    let reduced = rows.first().and_then(|r0| {
        if r0.alpha > 0.0 && r0.delta > 0.0 {
            // H₀ = H(X₀, Y₀) at (X₀, Y₀) = (x/δ, y/√α), the reduced map's constant of motion
            // (theory/README.md claim 26).
            let h0 = crate::reduced_map::energy(&(r0.x / r0.delta), &(r0.y / r0.alpha.sqrt()));
            Some(thr + (r0.alpha * h0).sqrt())
        } else {
            None
        }
    });
    Summary {
        instability_step: ck.instability_step,
        eta: cfg.lr.clone(),
        threshold: thr,
        steps_tracked: rows.len() as u64,
        stop_reason: stop.tag().into(),
        stop_message: stop.message(),
        tracking_horizon: horizon(rows, 0.1, |r| r.tracking_error),
        tracking_tolerance: 0.1,
        tracking_horizon_gen: horizon(rows, 0.1, |r| r.tracking_error_gen),
        alpha_range: range(rows, |r| r.alpha),
        beta_range: range(rows, |r| r.beta),
        delta_range: range(rows, |r| r.delta),
        first_spike_gd: first_spike(rows, thr, |r| r.sharpness_gd),
        first_spike_pred: first_spike(rows, thr, |r| r.sharpness_pred),
        first_spike_reduced_map: reduced,
        prediction_diverged_at: ck.state.pred_diverged,
        prediction_gen_diverged_at: ck.state.pred_gen_diverged,
        sharpness_unstable: ck.sharpness_unstable,
        loss_unstable: ck.loss_unstable,
        params: obj.dim(),
        precision: cfg.precision.clone(),
        model: obj.describe(),
        multi_switched_at: ck.multi.switched_at,
        multi_max_critical: ck.multi.rows.iter().map(|r| r.critical).max(),
    }
}

fn write_pre(out: &Path, rows: &[gd::TraceRow]) -> Result<(), Error> {
    let mut s = String::from("step,loss,sharpness\n");
    for (t, l, sh) in rows {
        s.push_str(&format!("{t},{},{}\n", npy::csv_cell(*l), sh.map(npy::csv_cell).unwrap_or_default()));
    }
    write_atomic(&out.join("pre_instability.csv"), s.as_bytes())
}

/// Write `series.csv` and `series.npz` (one array per column, float64 \[T\]).
pub fn write_series(out: &Path, rows: &[Row]) -> Result<(), Error> {
    let mut s = COLUMNS.join(",");
    s.push('\n');
    let cols: Vec<Vec<f64>> = rows.iter().map(Row::values).collect();
    for r in &cols {
        let line: Vec<String> = r
            .iter()
            .zip(COLUMNS)
            .map(|(v, name)| if matches!(*name, "t" | "hvps") { format!("{}", *v as u64) } else { npy::csv_cell(*v) })
            .collect();
        s.push_str(&line.join(","));
        s.push('\n');
    }
    write_atomic(&out.join("series.csv"), s.as_bytes())?;
    let arrays: Vec<NpyArray> = (0..COLUMNS.len())
        .map(|j| NpyArray::f64(cols.iter().map(|r| r[j]).collect(), vec![rows.len()]))
        .collect();
    let members: Vec<(&str, &NpyArray)> = COLUMNS.iter().cloned().zip(arrays.iter()).collect();
    npy::write_npz(out.join("series.npz"), &members)
}

fn write_vec<S: Scalar>(path: &Path, v: &[S]) -> Result<(), Error> {
    npy::write_npy_f64(path, &to_f64(v), &[v.len()])?;
    if S::precision_name(v[0].ctx()) != "f64" {
        let txt: String = v.iter().map(|x| x.to_decimal() + "\n").collect();
        write_atomic(&path.with_extension("txt"), txt.as_bytes())?;
    }
    Ok(())
}

fn write_final<S: Scalar>(out: &Path, st: &TrackState<S>) -> Result<(), Error> {
    let p = st.theta.len();
    let a = NpyArray::f64(to_f64(&st.theta), vec![p]);
    let b = NpyArray::f64(to_f64(&st.dagger.theta), vec![p]);
    let v = NpyArray::f64(to_f64(&st.v), vec![p]);
    let vg = NpyArray::f64(to_f64(&st.v_gen), vec![p]);
    // The tracking step T of the saved state (int64 [1]): after the last step taken, or the
    // last row's own step when the run stopped on the eigengap (that row is recorded, no step taken).
    let t = NpyArray::i64(vec![st.t as i64], vec![1]);
    npy::write_npz(out.join("final_state.npz"), &[("theta", &a), ("theta_dagger", &b), ("v", &v), ("v_gen", &vg), ("t", &t)])?;
    // Above f64 the state with all its digits (the checkpoint that held it is removed at the end).
    if S::precision_name(st.theta[0].ctx()) != "f64" {
        let mut txt = format!("# t = {}; columns: theta theta_dagger v v_gen (decimal, all digits of the working precision)\n", st.t);
        for i in 0..p {
            let row = [&st.theta[i], &st.dagger.theta[i], &st.v[i], &st.v_gen[i]].map(|x| x.to_decimal());
            txt.push_str(&row.join(" "));
            txt.push('\n');
        }
        write_atomic(&out.join("final_state.txt"), txt.as_bytes())?;
    }
    Ok(())
}

/// `selfstab export`: the seeded initial parameters and the data, for other implementations.
pub fn export(layers: &[usize], data_name: &str, n: usize, seed: u64, out: &Path) -> Result<(), Error> {
    // The data are held once, as they are written: checked before they are made.
    if let (Some(rows), Some(p)) = (known_rows(data_name, n), crate::models::mlp::checked_param_count(layers)) {
        crate::memory::check(crate::memory::Job::Export, p, Some(&crate::memory::Rows::mlp(rows, layers)), 8, false)?;
    }
    let ds = data_for(layers, data_name, n, seed)?;
    npy::create_out_dir(out)?;
    let theta = data::init_params(layers, seed)?;
    npy::write_npy_f64(out.join("theta0.npy"), &theta, &[theta.len()])?;
    data::write_npz_dataset(out.join("data.npz"), ds)?;
    Ok(())
}

/// Options of `selfstab eval`.
#[derive(Clone, Debug)]
pub struct EvalArgs {
    /// Parameters `.npy`.
    pub theta: String,
    /// Data (`digits`, `synthetic` or `.npz`).
    pub data: String,
    /// Samples (digits/synthetic).
    pub n: usize,
    /// Seed (synthetic).
    pub seed: u64,
    /// Widths.
    pub layers: Vec<usize>,
    /// Activation.
    pub activation: String,
    /// Loss.
    pub loss: String,
    /// Precision.
    pub precision: Precision,
    /// Top-k eigenpairs.
    pub top_k: usize,
    /// Eigen tolerance override.
    pub eig_tol: Option<f64>,
    /// Output directory.
    pub out: PathBuf,
}

/// `selfstab eval`: loss, gradient, top eigenpairs and ∇S at given parameters.
pub fn eval(a: &EvalArgs) -> Result<serde_json::Value, Error> {
    match a.precision {
        Precision::F64 => eval_generic::<f64>(a, ()),
        Precision::Bits(b) => eval_generic::<Float>(a, b),
    }
}

fn eval_generic<S: Scalar>(a: &EvalArgs, c: S::Ctx) -> Result<serde_json::Value, Error> {
    if a.top_k == 0 {
        return Err(InputError::Value { key: "top-k".into(), msg: "must be ≥ 1".into() }.into());
    }
    let cfg = Resolved {
        model: "mlp".into(),
        layers: a.layers.clone(),
        activation: a.activation.clone(),
        loss: a.loss.clone(),
        data: a.data.clone(),
        n: a.n,
        seed: a.seed,
        // A decimal θ (.txt) is read at the working precision by eval_objective; the model is built
        // without one.
        theta0: if is_decimal_theta(&a.theta) { String::new() } else { a.theta.clone() },
        lr: "1".into(),
        steps: 0,
        search_steps: 0,
        precision: a.precision.to_string(),
        projection_steps: 3,
        gap_every: 0,
        gap_threshold: "none".into(),
        eig_tol: crate::mag::Mag::ZERO,
        chain_tol: None,
        threads: 1,
        checkpoint_every: 1,
        out: String::new(),
        cubic: None,
        x0_over_delta: String::new(),
        channels: vec![],
        multi: 0,
        gf: false,
    };
    let checked = precheck::<S>(crate::memory::Job::Eval, &cfg, c)?;
    let (model, theta) = build_mlp::<S>(&cfg, c)?;
    eval_objective(a, &model, &theta, checked, c)
}

/// `selfstab eval --model cnn|width1` (channels for the cnn): as [`eval`], `a.layers` unused.
pub fn eval_model(a: &EvalArgs, model: &str, channels: &[usize]) -> Result<serde_json::Value, Error> {
    fn go<S: Scalar>(a: &EvalArgs, model: &str, channels: &[usize], c: S::Ctx) -> Result<serde_json::Value, Error> {
        if a.top_k == 0 {
            return Err(InputError::Value { key: "top-k".into(), msg: "must be ≥ 1".into() }.into());
        }
        let args = crate::models::build::ModelArgs {
            model,
            channels,
            activation: &a.activation,
            loss: &a.loss,
            data: &a.data,
            n: a.n,
            seed: a.seed,
            theta0: if is_decimal_theta(&a.theta) { "" } else { &a.theta },
        };
        let (obj, theta) = crate::models::build::build::<S>(&args, c)?;
        eval_objective(a, obj.as_ref(), &theta, false, c)
    }
    match a.precision {
        Precision::F64 => go::<f64>(a, model, channels, ()),
        Precision::Bits(b) => go::<Float>(a, model, channels, b),
    }
}

/// Blocks from this size on, with k² ≥ p, get `eval`'s warning that the iterative solve can take
/// hours (where they do not take the dense path).
const EVAL_SLOW_BLOCK: usize = 32;

/// Whether `eval --top-k k` on p parameters takes its pairs from the dense Hessian: for every pair
/// (k ≥ p), and in f64 where the dense eigendecomposition runs (p ≤
/// `sharpness::ALL_PAIRS_F64_MAX`) for k ≥ √p or a quarter of the pairs or more (4k ≥ p). The
/// dense path's p HVPs and O(p³) work cost about 3e-10·p³ s (p = 4,650: 30 s); the block solver's
/// cost grows about as k^3.5·p, so the two cross near k ≈ √p (measured on a 2-core Xeon, f64:
/// p = 610, k = 16 / 32 / 64 / 152: 0.05 / 0.37 / 6 / 165 s against the dense path's 0.10 s;
/// p = 1,482, k = 32 / 64: 0.49 / 5.5 s against 0.88 s; fuzz review: k = 152 of 610 had taken
/// the block path and run for minutes, or failed after 5,000 HVPs). Above f64 the dense path is a
/// Jacobi in the working precision, whose cost against the block solver's was not measured: only
/// k ≥ p takes it.
fn dense_eval(k: usize, p: usize, f64: bool) -> bool {
    k >= p || (f64 && (4 * k >= p || k.saturating_mul(k) >= p) && p <= crate::sharpness::ALL_PAIRS_F64_MAX)
}

/// `--theta` as a message names it (`""` is the seeded initialisation).
fn theta_name(theta: &str) -> String {
    if theta.is_empty() { "\"\" (the seeded initialisation)".into() } else { format!("`{theta}`") }
}

/// The body of `eval` for any objective at parameters `theta` (its memory checked here unless
/// `checked` by [`precheck`]).
fn eval_objective<S: Scalar>(a: &EvalArgs, model: &dyn Objective<S>, theta: &[f64], checked: bool, c: S::Ctx) -> Result<serde_json::Value, Error> {
    let p = model.dim();
    if !checked {
        crate::memory::check_scalar::<S>(crate::memory::Job::Eval, p, model.data_rows().as_ref(), c)?;
    }
    let th = if is_decimal_theta(&a.theta) { read_decimal_theta::<S>(&a.theta, p, c)? } else { from_f64::<S>(theta, c) };
    let mut grad = zeros::<S>(p, c);
    let loss = model.grad(&th, &mut grad).map_err(|e| match e {
        crate::error::EvalError::NonFinite { .. } => crate::error::EvalError::Other(format!("{e} at the parameters of --theta {} (the loss or its gradient overflows there)", theta_name(&a.theta))),
        e => e,
    })?;
    let tol = crate::config::eig_tol_or(a.eig_tol.map(crate::mag::Mag::new), a.precision)?;
    let counted = crate::objective::Counted::shown(model, "eval");
    let dense = dense_eval(a.top_k, p, crate::linalg::is_f64::<S>());
    let eig = if dense {
        // Every pair, from the dense Hessian: the iterative solver with a block of k in the hundreds
        // or thousands would take hours (k = 200 of p = 610: over 2 min; k = 609: over 15 min).
        if a.top_k > p {
            eprintln!("--top-k {} exceeds the {p} parameters: computing all {p} eigenpairs", a.top_k);
        }
        eprintln!("top {} of {p} eigenpairs: dense Hessian ({p} HVPs) and a dense eigendecomposition", a.top_k.min(p));
        let mut e = crate::sharpness::all_eigenpairs(&counted, &th)?;
        let k = a.top_k.min(p);
        e.values.truncate(k);
        e.vectors.truncate(k);
        e.residuals.truncate(k);
        e
    } else {
        // A large block is slow (in f64, before such blocks took the dense path, k = 64 / 200 of
        // p = 610 took 6 s / over 2 min; here in MPFR, or in f64 above `ALL_PAIRS_F64_MAX`, every
        // HVP costs more); a few pairs of a small model are not (k = 1 of p = 3 was warned about).
        if a.top_k >= EVAL_SLOW_BLOCK && a.top_k.saturating_mul(a.top_k) >= p {
            eprintln!("top {} of {p} eigenpairs by the block Lanczos solver with a block of {}: this can take hours", a.top_k, a.top_k);
        }
        let opts = EigenOpts { tol, ..EigenOpts::top::<S>(a.top_k, c) };
        let eig = crate::sharpness::top_eigen(&counted, &th, None, &opts)?;
        crate::sharpness::complete_repeated(&counted, &th, eig, &opts)?
    };
    let hvp_count = counted.counts.hvps();
    let u = eig.vectors[0].clone();
    let gs = crate::sharpness::grad_sharpness(model, &th, &u)?;
    npy::create_out_dir(&a.out)?;
    // An earlier eval's files go first (a 256-bit eval's .txt twins beside an f64 eval's .npy
    // disagreed with them); eval.json is written last, so it is there only beside a complete set.
    npy::remove_outputs(&a.out, ["eval.json", "grad.npy", "u.npy", "grad_sharpness.npy", "grad.txt", "u.txt", "grad_sharpness.txt"]);
    write_vec(&a.out.join("grad.npy"), &grad)?;
    write_vec(&a.out.join("u.npy"), &u)?;
    write_vec(&a.out.join("grad_sharpness.npy"), &gs)?;
    let mpfr = a.precision != Precision::F64;
    let mut j = serde_json::Map::new();
    let mut put = |k: &str, v: &S| {
        j.insert(k.into(), serde_json::json!(v.to_f64()));
        if mpfr {
            j.insert(format!("{k}_decimal"), serde_json::json!(v.to_decimal()));
        }
    };
    put("loss", &loss);
    put("sharpness", &eig.values[0]);
    j.insert("top_eigenvalues".into(), serde_json::json!(eig.values.iter().map(S::to_f64).collect::<Vec<_>>()));
    if mpfr {
        j.insert("top_eigenvalues_decimal".into(), serde_json::json!(eig.values.iter().map(S::to_decimal).collect::<Vec<_>>()));
    }
    // The residuals and the tolerance are f64 quantities; above f64 their twins hold the f64's value
    // printed at the working precision's digit count, so that every float key has one (decisions §4).
    let dec = |x: crate::mag::Mag| S::from_mag(x, c).to_decimal();
    // The numbers are the nearest f64s (0 below f64's range, beyond ≈ 1,070 bits); the decimals exact.
    j.insert("eigen_residual".into(), serde_json::json!(eig.residuals[0].to_f64()));
    if mpfr {
        j.insert("eigen_residual_decimal".into(), serde_json::json!(dec(eig.residuals[0])));
    }
    if a.top_k > 1 {
        j.insert("eigen_residuals".into(), serde_json::json!(eig.residuals.iter().map(|x| x.to_f64()).collect::<Vec<_>>()));
        if mpfr {
            j.insert("eigen_residuals_decimal".into(), serde_json::json!(eig.residuals.iter().map(|&x| dec(x)).collect::<Vec<_>>()));
        }
    }
    j.insert("hvp_count".into(), serde_json::json!(hvp_count));
    // `dense` (--top-k ≥ p: every pair from the dense Hessian, eigen_tol unused) or `iterative`.
    j.insert("eigen_method".into(), serde_json::json!(if dense { "dense" } else { "iterative" }));
    j.insert("eigen_tol".into(), serde_json::json!(tol.to_f64()));
    if mpfr {
        j.insert("eigen_tol_decimal".into(), serde_json::json!(dec(tol)));
    }
    // As in summary.json and config.toml: text, "f64" or the bits ("256").
    j.insert("precision".into(), serde_json::json!(a.precision.to_string()));
    j.insert("params".into(), serde_json::json!(p));
    let v = serde_json::Value::Object(j);
    write_atomic(&a.out.join("eval.json"), serde_json::to_string_pretty(&v).unwrap().as_bytes())?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(v: &[f64]) -> Vec<Row> {
        v.iter().enumerate().map(|(t, &s)| Row { t: t as u64, sharpness_gd: s, ..Row::default() }).collect()
    }

    #[test]
    fn first_spike_is_the_peak_of_the_first_excursion_not_a_period_two_jag() {
        // Rising with step-to-step alternation (local maxima at t = 3, 5), peak 9.26 at t = 7, collapse
        // (two steps below the level), a second excursion.
        let r = rows(&[7.4, 7.6, 8.0, 9.21, 9.20, 9.23, 9.21, 9.26, 9.1, 7.0, 7.2, 8.0, 9.9]);
        assert_eq!(first_spike(&r, 7.5, |r| r.sharpness_gd), Some((7, 9.26)));
        // An excursion still under way at the end of the series has no complete peak yet.
        let r = rows(&[7.4, 7.6, 8.0, 9.0]);
        assert_eq!(first_spike(&r, 7.5, |r| r.sharpness_gd), None);
        // A NaN (prediction columns after divergence) ends the excursion; +∞ (an MPFR value past
        // f64's range) is its peak, not an empty excursion with peak −∞ (review).
        let r = rows(&[7.6, 8.0, f64::NAN]);
        assert_eq!(first_spike(&r, 7.5, |r| r.sharpness_gd), Some((1, 8.0)));
        let r = rows(&[7.0, f64::INFINITY, 7.0, 7.0]);
        assert_eq!(first_spike(&r, 7.5, |r| r.sharpness_gd), Some((1, f64::INFINITY)));
        // The alternation dips below the level for single steps while the first cycle still rises
        // (a kicked start: S − 2/η = +0.0049, −0.0033, +0.009, …, peak at t = 16 of the audit's run):
        // the excursion ends only at two steps in a row at or below the level.
        let r = rows(&[7.6, 7.4, 7.7, 7.45, 7.9, 8.3, 8.1, 7.4, 7.3, 9.9]);
        assert_eq!(first_spike(&r, 7.5, |r| r.sharpness_gd), Some((5, 8.3)));
        // One dip at the very end of the series: not known to be over yet.
        let r = rows(&[7.6, 7.4]);
        assert_eq!(first_spike(&r, 7.5, |r| r.sharpness_gd), None);
    }

    /// The tracking horizon is the last step before the error first exceeds tol·dist: a later
    /// return below the tolerance does not extend it (mutation audit round 3).
    #[test]
    fn tracking_horizon_ends_at_the_first_exceedance() {
        let e = [0.0, 0.01, 0.05, 0.2, 0.05, 0.0];
        let r: Vec<Row> = e.iter().enumerate().map(|(t, &x)| Row { t: t as u64, dist: 1.0, tracking_error: x, ..Row::default() }).collect();
        assert_eq!(horizon(&r, 0.1, |r| r.tracking_error), 2);
    }
}
