//! `selfstab flow`: find the instability point like `run`, then run GD and the central flow
//! (reference.md §9.1) from it side by side and compare GD's Gaussian-smoothed quantities with the
//! flow's predictions (claims 29–31; theory/README.md "Central flow"). Outputs (atomic writes):
//! `flow_series.csv` / `.npz` (columns [`COLUMNS`] plus the smoothed GD columns), `flow_summary.json`,
//! `figures/flow.{svg,png}`. A run writes `flow_checkpoint.json` every `--checkpoint-every` steps, at
//! most once every 10 s after the first (atomically); re-run with the same command it resumes there
//! and ends with the same bits.

use std::path::{Path, PathBuf};

use rug::Float;

use crate::central_flow::{self, COLUMNS, CompareRow, CompareState, FlowOpts, Form, MaxResiduals, rel_l1, smooth};
use crate::config::Resolved;
use crate::error::{Error, EvalError, InputError};
use crate::figures::{Axes, Series, doc, panel, write_both};
use crate::mag::Mag;
use crate::npy::{self, NpyArray, write_atomic, write_json_atomic};
use crate::scalar::{Precision, Scalar};

/// Options of `flow` beyond the run configuration.
#[derive(Clone, Debug)]
pub struct FlowArgs {
    /// Euler sub-steps per GD step.
    pub substeps: u32,
    /// Gaussian smoothing width (standard deviation, GD steps).
    pub smooth: f64,
    /// `k` (SDCP) or `one`.
    pub form: Form,
    /// Most eigenpairs tracked by the flow.
    pub top_k: usize,
    /// SDCP tolerance (default of the precision when None).
    pub sdcp_tol: Option<f64>,
    /// Output directory of a `run` of the same job (`--multi K` continues θ† past the eigengap):
    /// its θ† loss and sharpness are added to the series, summary and figure.
    pub dagger: Option<PathBuf>,
    /// `--fresh`: any checkpoint in `out` is removed and the flow starts afresh (one this job cannot
    /// resume is otherwise an error).
    pub fresh: bool,
}

/// What `flow` saves to resume (`flow_checkpoint.json`): the job, the instability point, the loop
/// state and everything recorded so far.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
struct FlowCheckpoint<S: Scalar> {
    config: Resolved,
    /// [`Resolved::input_digest`] of the job that wrote it.
    #[serde(default)]
    inputs: String,
    /// The flow's own settings that change its numbers ([`flow_key`]).
    flow: String,
    instability_step: u64,
    theta_unstable: Vec<S>,
    state: CompareState<S>,
    /// [`CompareRow::values`] of the rows so far (a non-finite value is written as null and read
    /// back as NaN).
    #[serde(deserialize_with = "npy::null_as_nan::rows")]
    rows: Vec<Vec<f64>>,
    maxres: MaxResiduals,
    /// Wall seconds spent before this checkpoint.
    wall_seconds: f64,
}

/// The job's configuration as `flow` writes it (the `run` configuration of its model, data and η;
/// `selfstab flow out/flow_config.toml` reruns it): not `config.toml`, which is `run`'s, so that a
/// `run` and a `flow` sharing `--out` keep each its own.
pub const FLOW_CONFIG: &str = "flow_config.toml";

/// The outputs `flow` writes besides [`FLOW_CONFIG`] and its checkpoint, removed when a flow starts
/// afresh in a directory that holds them.
pub const STALE_OUTPUTS: &[&str] = &["flow_series.csv", "flow_series.npz", "flow_summary.json", "figures/flow.svg", "figures/flow.png"];

/// The flow settings a checkpoint must share with the run that resumes it (smoothing and `--dagger`
/// only change the reports, which are rebuilt from the rows).
fn flow_key(args: &FlowArgs) -> String {
    format!("substeps {} form {:?} top_k {} sdcp_tol {:?}", args.substeps, args.form, args.top_k, args.sdcp_tol)
}

/// A [`flow_key`] as a message shows it: `--sdcp-tol`'s `None` / `Some(t)` (the key's stored form,
/// kept so that earlier checkpoints still match) as `default` / `t`.
fn shown_key(key: &str) -> String {
    match key.split_once("sdcp_tol ") {
        Some((head, tol)) => {
            let tol = tol.strip_prefix("Some(").and_then(|t| t.strip_suffix(')')).unwrap_or(if tol == "None" { "default" } else { tol });
            format!("{head}sdcp_tol {tol}")
        }
        None => key.to_string(),
    }
}

/// The checkpoint in `path` if it is one of this job (same configuration, thread count aside, and
/// flow settings, vectors of length p); None if there is none; an error naming the file and why
/// if it is another job's (unless `args.fresh`, which removes it: [`npy::read_saved`]).
fn read_flow_checkpoint<S: Scalar>(path: &Path, cfg: &Resolved, args: &FlowArgs, p: usize, inputs: &str) -> Result<Option<FlowCheckpoint<S>>, Error> {
    npy::read_saved_at(path, "checkpoint", args.fresh, Some(&cfg.precision), |ck: &FlowCheckpoint<S>| {
        if !cfg.same_job(&ck.config) {
            return Err(format!("it is the checkpoint of another configuration ({})", ck.config.differences(cfg, &[])));
        }
        if ck.flow != flow_key(args) {
            return Err(format!("it is the checkpoint of other flow settings ({}; now: {})", shown_key(&ck.flow), shown_key(&flow_key(args))));
        }
        if ck.inputs != inputs {
            return Err("the contents of its data or θ₀ file have changed since it was written".into());
        }
        let rows_ok = ck.rows.len() as u64 == ck.state.t && ck.rows.iter().all(|r| r.len() == COLUMNS.len());
        if ck.theta_unstable.len() != p || !ck.state.dims_ok(p) || !rows_ok {
            return Err(format!("its vectors or rows do not fit the model (p = {p})"));
        }
        Ok(())
    })
}

/// Errors of one smoothed GD quantity against its flow prediction over the interior window.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Agreement {
    /// Σ|smoothed GD − prediction| / Σ|prediction| over the window.
    pub rel_l1: f64,
    /// max |smoothed GD − prediction| / max |prediction| over the window.
    pub rel_max: f64,
    /// Mean of the smoothed GD quantity over the window.
    pub mean_gd: f64,
    /// Mean of the prediction over the window.
    pub mean_pred: f64,
}

/// `flow_summary.json`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FlowSummary {
    /// First GD step with S ≥ 2/η (the flow and GD start there, t = 0).
    pub instability_step: u64,
    /// η.
    pub eta: String,
    /// 2/η.
    pub threshold: f64,
    /// GD steps after θ₀.
    pub steps: u64,
    /// Sub-steps per GD step.
    pub substeps: u32,
    /// Form of the flow.
    pub form: Form,
    /// Most eigenpairs the flow tracks (`--top-k`).
    pub top_k: usize,
    /// Gaussian smoothing width (GD steps).
    pub smooth_width: f64,
    /// The comparison window [from, to] (t ≥ 4w from both ends).
    pub window: [u64; 2],
    /// x_t² (on the flow's oscillation basis) vs tr Σ.
    pub x2_vs_tr_sigma: Agreement,
    /// L(θ_t) vs L(w) + tr Σ/η.
    pub loss_vs_pred: Agreement,
    /// L(θ_t) vs L(w) (no oscillation term: the prediction's gain).
    pub loss_vs_flow_loss: Agreement,
    /// ‖∇L(θ_t)‖² vs ‖∇L(w)‖² + 4 tr Σ/η².
    pub grad_sq_vs_pred: Agreement,
    /// S(θ_t) vs S(w).
    pub sharpness_vs_flow: Agreement,
    /// max_t (S(w(t)) − 2/η)⁺/(2/η) over the steps after the first one with n_crit ≥ 1 (w(0) = θ₀ may
    /// exceed 2/η; the restoring term removes the excess in the first sub-step).
    pub flow_sharpness_max_rel_excess: f64,
    /// min_t S(w(t)) over the same steps (below 2/η where Σ = 0: gradient flow).
    pub flow_sharpness_min: f64,
    /// max over the window of ‖w*_t − w(t)‖ / ‖θ_t − w(t)‖.
    pub mid_over_dist_max: f64,
    /// Median of ‖w*_t − w(t)‖ over the window.
    pub mid_dist_median: f64,
    /// L(θ_t) smoothed vs L(θ†_t) of the `--dagger` run, over the window's steps where θ† has a row
    /// (absent without `--dagger`; null values when no such step).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss_vs_dagger: Option<Agreement>,
    /// S(θ_t) smoothed vs S(θ†_t), same steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sharpness_vs_dagger: Option<Agreement>,
    /// Steps of the window where θ† has a row (the `--dagger` run may stop earlier than the flow).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dagger_window_steps: Option<u64>,
    /// The `--dagger` run's directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dagger_dir: Option<String>,
    /// Most critical eigenvalues seen.
    pub max_critical: usize,
    /// Steps with 0, 1, 2, … critical eigenvalues.
    pub critical_histogram: Vec<u64>,
    /// First step with ≥ 2 critical eigenvalues.
    pub first_two_critical: Option<u64>,
    /// Largest SDCP residuals over all sub-steps.
    pub sdcp_max_residuals: MaxResiduals,
    /// SDCP tolerance.
    pub sdcp_tol: Mag,
    /// Wall time of GD + flow (s).
    pub wall_seconds: f64,
    /// Model description.
    pub model: String,
    /// Precision.
    pub precision: String,
    /// Why the run stopped before `steps` (GD's or the flow's failure), null when it completed.
    #[serde(default)]
    pub stop_message: Option<String>,
}

/// Run `flow` for a resolved configuration.
pub fn flow(cfg: &Resolved, args: &FlowArgs) -> Result<FlowSummary, Error> {
    crate::linalg::set_threads(cfg.threads);
    if cfg.steps == 0 {
        return Err(InputError::Value { key: "steps".into(), msg: "must be ≥ 1 (the flow compares GD steps with the flow)".into() }.into());
    }
    if args.substeps == 0 || args.substeps > 1000 {
        return Err(InputError::Value { key: "substeps".into(), msg: format!("must be in 1..=1000, got {}", args.substeps) }.into());
    }
    if !(args.smooth >= 0.0 && args.smooth.is_finite()) {
        return Err(InputError::Value { key: "smooth".into(), msg: format!("must be a finite width ≥ 0, got {}", args.smooth) }.into());
    }
    if args.top_k == 0 || args.top_k > crate::central_flow::TOP_K_MAX {
        return Err(InputError::Value { key: "top_k".into(), msg: format!("must be in 1..={}, got {}", crate::central_flow::TOP_K_MAX, args.top_k) }.into());
    }
    if let Some(t) = args.sdcp_tol
        && !(t > 0.0 && t < 1.0)
    {
        return Err(InputError::Value { key: "sdcp_tol".into(), msg: format!("must be in (0, 1), got {t}") }.into());
    }
    match Precision::parse(&cfg.precision)? {
        Precision::F64 => flow_generic::<f64>(cfg, args, ()),
        Precision::Bits(b) => flow_generic::<Float>(cfg, args, b),
    }
}

fn flow_generic<S: Scalar>(cfg: &Resolved, args: &FlowArgs, c: S::Ctx) -> Result<FlowSummary, Error> {
    let out = PathBuf::from(&cfg.out);
    let eta = S::parse(&cfg.lr, c).map_err(|m| InputError::Value { key: "lr".into(), msg: m })?;
    let checked = crate::commands::precheck::<S>(crate::memory::Job::Flow, cfg, c)?;
    let (obj, theta_init) = crate::commands::build_objective::<S>(cfg, c)?;
    if !checked {
        crate::memory::check_scalar::<S>(crate::memory::Job::Flow, obj.dim(), obj.data_rows().as_ref(), c)?;
    }
    let obj = obj.as_ref();
    // The --dagger run is read and checked first: a refused job leaves no output directory.
    let dag = match &args.dagger {
        Some(d) => Some(read_dagger(d)?),
        None => None,
    };
    if let Some(d) = &dag {
        d.check_job(&cfg.lr, &cfg.precision, &obj.describe(), None)?;
    }
    // The output directory is made and locked once the job is known to fit.
    npy::create_out_dir(&out)?;
    let _lock = npy::lock_out_dir(&out)?;
    let start = std::time::Instant::now();
    let ckpt_path = out.join("flow_checkpoint.json");
    let inputs = cfg.input_digest()?;
    let resumed = read_flow_checkpoint::<S>(&ckpt_path, cfg, args, obj.dim(), &inputs)?;
    // Without a checkpoint, a saved search of this job is resumed; another job's is refused here,
    // before anything is written.
    let search_path = out.join(crate::commands::FLOW_SEARCH_CHECKPOINT);
    let saved_search = if resumed.is_none() { crate::commands::read_saved_search::<S>(&search_path, cfg, &inputs, obj.dim(), args.fresh)? } else { None };
    // Its own name: a `run` and a `flow` may share `--out`, and each one's config must stay the one
    // that reproduces its outputs (a shared config.toml was the last job's; resume audit).
    write_atomic(&out.join(FLOW_CONFIG), toml::to_string(&cfg.to_run_config()).expect("config serialises").as_bytes())?;
    // From here a signal (SIGINT, SIGTERM) asks the job to stop: the instability search after its
    // GD step in progress, the flow at the end of the step in progress, each after saving itself
    // (`progress::interrupt`).
    let armed = crate::progress::interrupt::arm();
    let (inst_step, theta_unstable, state, mut rows, mut maxres, wall_before) = match resumed {
        Some(ck) => {
            eprintln!("resuming from {} at GD step {} of the flow", ckpt_path.display(), ck.state.t);
            let rows: Vec<CompareRow> = ck.rows.iter().map(|r| CompareRow::from_values(r).expect("checked length")).collect();
            (ck.instability_step, ck.theta_unstable, ck.state, rows, ck.maxres, ck.wall_seconds)
        }
        None => {
            // A fresh flow: an earlier job's outputs in this directory go first.
            npy::remove_outputs(&out, STALE_OUTPUTS);
            let inst = crate::commands::search_resumable(obj, &eta, &theta_init, cfg, &inputs, &search_path, saved_search).0?;
            eprintln!("instability at GD step {}: S = {} ≥ 2/η = {}", inst.step, crate::error::num6(inst.sharpness.to_f64()), crate::error::num6(2.0 / eta.to_f64()));
            let state = CompareState::new(&inst.theta, c);
            (inst.step, inst.theta, state, vec![], MaxResiduals::default(), 0.0)
        }
    };
    if let Some(d) = &dag {
        d.check_job(&cfg.lr, &cfg.precision, &obj.describe(), Some(inst_step))?;
    }
    let mut opts = FlowOpts::new::<S>(c);
    opts.form = args.form;
    opts.substeps = args.substeps;
    opts.k_max = args.top_k;
    opts.eig_tol = cfg.eig_tol;
    if let Some(t) = args.sdcp_tol {
        opts.sdcp_tol = Mag::new(t);
    }
    let mut ticker = crate::progress::Ticker::new(10);
    // A checkpoint holds every row so far, so its cost grows with the run: after the first, one is
    // written at most every `progress::CHECKPOINT_SECONDS` (a 300-step flow took 1.3 % longer with
    // one every 10 steps and no such limit).
    let mut cadence = crate::progress::Cadence::new(cfg.checkpoint_every);
    let checkpoint = |st: &CompareState<S>, rows: &[CompareRow], maxres: &MaxResiduals| -> Result<(), Error> {
        let stop = crate::progress::interrupt::requested() && st.t <= cfg.steps;
        // Also once every row is recorded (t = steps + 1): the outputs are written from that state,
        // and a job stopped while writing them resumes there instead of recomputing the steps since
        // the last checkpoint.
        let last = st.t == cfg.steps + 1;
        if !stop && !last && (st.t > cfg.steps || !cadence.due(st.t)) {
            return Ok(());
        }
        let ck = FlowCheckpoint {
            config: cfg.clone(),
            inputs: inputs.clone(),
            flow: flow_key(args),
            instability_step: inst_step,
            theta_unstable: theta_unstable.clone(),
            state: st.clone(),
            rows: rows.iter().map(CompareRow::values).collect(),
            maxres: *maxres,
            wall_seconds: wall_before + start.elapsed().as_secs_f64(),
        };
        write_json_atomic(&ckpt_path, &ck)?;
        // The instability point is in the flow's checkpoint now: the saved search is done with.
        npy::remove_outputs(&out, [crate::commands::FLOW_SEARCH_CHECKPOINT]);
        if stop {
            return Err(Error::Interrupted(format!(
                "interrupted at GD step {} of {}: checkpoint and series so far written to {}; run the same command again to resume",
                st.t,
                cfg.steps,
                out.display()
            )));
        }
        Ok(())
    };
    let status = central_flow::compare_from(obj, &eta, &theta_unstable, state, cfg.steps, &opts, |done| {
        let r = done.last().expect("progress is called with at least one row");
        ticker.show(r.t, || {
            format!("  step {:>6}/{}  L_gd {:.5e}  L(w) {:.5e}  S(w) {:.5}  critical {}", r.t, cfg.steps, r.loss_gd, r.loss_flow, r.sharpness_flow, r.n_crit)
        });
        // Partial series every 250 steps, so a long run that stops keeps what it computed.
        if r.t % 250 == 0 && r.t > 0 {
            let _ = write_series(&out, done, &Smoothed::new(done, args.smooth), dag.as_ref());
        }
    }, checkpoint, &mut rows, &mut maxres);
    // Still armed while the outputs are written (see `interrupt::after_outputs`).
    ticker.finish();
    if let Err(e @ Error::Interrupted(_)) = status {
        write_series(&out, &rows, &Smoothed::new(&rows, args.smooth), dag.as_ref())?;
        return Err(e);
    }
    if rows.is_empty() {
        status?;
        return Err(EvalError::Other("flow: no step recorded".into()).into());
    }
    let wall = wall_before + start.elapsed().as_secs_f64();
    let thr = 2.0 / eta.to_f64();
    let sm = Smoothed::new(&rows, args.smooth);
    write_series(&out, &rows, &sm, dag.as_ref())?;
    let steps_done = rows.len() as u64 - 1;
    let mut summary = summarise(cfg, args, &opts, inst_step, steps_done, &rows, &sm, maxres, thr, wall, obj.describe());
    let status = status.map_err(|e| -> Error { EvalError::Other(format!("flow stopped at GD step {} of {}: {e}", rows.len(), cfg.steps)).into() });
    summary.stop_message = status.as_ref().err().map(|e| e.to_string());
    let dag_cols = dag.as_ref().map(|d| d.aligned(&rows));
    if let (Some(d), Some((dl, ds))) = (&dag, &dag_cols) {
        let win = window(rows.len(), args.smooth);
        let (la, n) = agreement_where(&sm.loss, dl, win.clone());
        // A θ† run that stopped earlier (or records fewer steps) narrows the comparison: say so.
        if n < win.len() as u64 {
            eprintln!(
                "note: the θ† run in {} covers {n} of the {} steps of the comparison window; loss_vs_dagger and sharpness_vs_dagger are over those (dagger_window_steps)",
                d.dir.display(),
                win.len()
            );
        }
        let (sa, _) = agreement_where(&sm.sharpness, ds, win);
        summary.loss_vs_dagger = Some(la);
        summary.sharpness_vs_dagger = Some(sa);
        summary.dagger_window_steps = Some(n);
        summary.dagger_dir = Some(d.dir.display().to_string());
    }
    write_atomic(&out.join("flow_summary.json"), serde_json::to_string_pretty(&summary).expect("summary serialises").as_bytes())?;
    write_figure(&out, &rows, &sm, thr, &summary, dag_cols.as_ref())?;
    let _ = std::fs::remove_file(&ckpt_path);
    if let Err(e) = status {
        eprintln!("outputs of the {} recorded steps written to {}", rows.len(), out.display());
        // A signal while these outputs were written still ends the job by the signal (review).
        if crate::progress::interrupt::requested() {
            eprintln!("error: {e}");
            crate::progress::interrupt::after_outputs("flow", &out)?;
        }
        return Err(e);
    }
    eprintln!("flow: {} steps in {wall:.1} s; outputs in {}", cfg.steps, out.display());
    crate::progress::interrupt::after_outputs("flow", &out)?;
    drop(armed);
    Ok(summary)
}

/// GD's Gaussian-smoothed columns.
pub struct Smoothed {
    /// L(θ_t) smoothed.
    pub loss: Vec<f64>,
    /// x_t² smoothed.
    pub x2: Vec<f64>,
    /// ‖∇L(θ_t)‖² smoothed.
    pub grad_sq: Vec<f64>,
    /// S(θ_t) smoothed.
    pub sharpness: Vec<f64>,
}

impl Smoothed {
    /// Smooth GD's columns with width w.
    pub fn new(rows: &[CompareRow], w: f64) -> Self {
        let col = |f: fn(&CompareRow) -> f64| smooth(&rows.iter().map(f).collect::<Vec<_>>(), w);
        Smoothed { loss: col(|r| r.loss_gd), x2: col(|r| r.x2_gd), grad_sq: col(|r| r.grad_sq_gd), sharpness: col(|r| r.sharpness_gd) }
    }
}

/// Extra columns written after [`COLUMNS`].
pub const SMOOTH_COLUMNS: [&str; 4] = ["loss_gd_smooth", "x2_gd_smooth", "grad_sq_gd_smooth", "sharpness_gd_smooth"];

fn write_series(out: &Path, rows: &[CompareRow], sm: &Smoothed, dag: Option<&DaggerRun>) -> Result<(), Error> {
    let mut names: Vec<&str> = COLUMNS.iter().chain(SMOOTH_COLUMNS.iter()).cloned().collect();
    let dag_cols = dag.map(|d| d.aligned(rows));
    if dag_cols.is_some() {
        names.extend(DAGGER_COLUMNS);
    }
    let cols: Vec<Vec<f64>> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut v = r.values();
            v.extend([sm.loss[i], sm.x2[i], sm.grad_sq[i], sm.sharpness[i]]);
            if let Some((l, s)) = &dag_cols {
                v.extend([l[i], s[i]]);
            }
            // A value that is not finite is NaN in the npz and an empty cell in the CSV, as in run's
            // series.
            v.into_iter().map(npy::finite_or_nan).collect::<Vec<f64>>()
        })
        .collect();
    let mut s = names.join(",");
    s.push('\n');
    for r in &cols {
        let line: Vec<String> =
            r.iter().zip(&names).map(|(v, n)| if matches!(*n, "t" | "n_crit") { format!("{}", *v as u64) } else { npy::csv_cell(*v) }).collect();
        s.push_str(&line.join(","));
        s.push('\n');
    }
    write_atomic(&out.join("flow_series.csv"), s.as_bytes())?;
    let arrays: Vec<NpyArray> = (0..names.len()).map(|j| NpyArray::f64(cols.iter().map(|r| r[j]).collect(), vec![rows.len()])).collect();
    let members: Vec<(&str, &NpyArray)> = names.iter().cloned().zip(arrays.iter()).collect();
    npy::write_npz(out.join("flow_series.npz"), &members)
}

/// Columns added after [`SMOOTH_COLUMNS`] by `--dagger` (empty where the run has no row at t).
pub const DAGGER_COLUMNS: [&str; 2] = ["loss_dagger", "sharpness_dagger"];

/// θ† of a `run` (reference.md §4 constrained trajectory; `--multi K` continues it with the
/// k-eigenvalue projection past the eigengap): `loss_dagger` and `sharpness_dagger` of its
/// `series.csv` by tracking step t (t = 0 at the instability point, as in `flow`), and the job
/// identity from its `summary.json`.
#[derive(Clone, Debug)]
pub struct DaggerRun {
    /// The run's output directory.
    pub dir: PathBuf,
    /// The run's instability step.
    pub instability_step: u64,
    /// The run's η (decimal text).
    pub eta: String,
    /// The run's model description.
    pub model: String,
    /// Tracking steps (strictly increasing).
    pub t: Vec<u64>,
    /// L(θ†_t) (NaN where empty).
    pub loss: Vec<f64>,
    /// S(θ†_t) (NaN where empty).
    pub sharpness: Vec<f64>,
}

/// Read `dir/summary.json` and `dir/series.csv` of a `run`; missing or corrupt files are one-line
/// errors naming the file.
pub fn read_dagger(dir: &Path) -> Result<DaggerRun, Error> {
    let bad = |path: PathBuf, msg: String| -> Error { InputError::File { path, msg }.into() };
    let sp = dir.join("summary.json");
    let text = std::fs::read_to_string(&sp).map_err(|e| bad(sp.clone(), format!("cannot read the --dagger run's summary ({e})")))?;
    let summary: crate::commands::Summary = serde_json::from_str(&text)
        .map_err(|e| bad(sp.clone(), format!("not a `run` summary.json ({})", e.to_string().replace('\n', " "))))?;
    let cp = dir.join("series.csv");
    let text = std::fs::read_to_string(&cp).map_err(|e| bad(cp.clone(), format!("cannot read the --dagger run's series ({e})")))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).ok_or_else(|| bad(cp.clone(), format!("no `{name}` column in the header")));
    let (it, il, is) = (col("t")?, col("loss_dagger")?, col("sharpness_dagger")?);
    let (mut t, mut loss, mut sharpness) = (vec![], vec![], vec![]);
    for (k, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != header.len() {
            return Err(bad(cp.clone(), format!("line {}: {} fields, the header has {}", k + 2, f.len(), header.len())));
        }
        let num = |j: usize| -> Result<f64, Error> {
            if f[j].is_empty() { Ok(f64::NAN) } else { f[j].parse::<f64>().map_err(|_| bad(cp.clone(), format!("line {}: `{}` is not a number", k + 2, f[j]))) }
        };
        let tv: u64 = f[it].parse().map_err(|_| bad(cp.clone(), format!("line {}: step `{}` is not an integer", k + 2, f[it])))?;
        if t.last().is_some_and(|&p| tv <= p) {
            return Err(bad(cp.clone(), format!("line {}: step {tv} does not increase", k + 2)));
        }
        t.push(tv);
        loss.push(num(il)?);
        sharpness.push(num(is)?);
    }
    if t.is_empty() {
        return Err(bad(cp, "no rows".into()));
    }
    Ok(DaggerRun { dir: dir.to_path_buf(), instability_step: summary.instability_step, eta: summary.eta, model: summary.model, t, loss, sharpness })
}

impl DaggerRun {
    /// Check that the run is the job of `flow`: same η (the same text, or the same value at the
    /// job's `precision`, "f64" or the bits: "0.3" and "0.30" always, "0.20000000000000001" and
    /// "0.2" in f64 but not at 128 bits, where an MPFR job's η is its decimal text), same model and,
    /// once known, same instability step. The error names the mismatch.
    pub fn check_job(&self, eta: &str, precision: &str, model: &str, instability_step: Option<u64>) -> Result<(), Error> {
        let bits = if precision == "f64" { 53 } else { precision.parse::<u32>().unwrap_or(4096) };
        let value = |t: &str| rug::Float::parse(t.trim()).ok().map(|v| rug::Float::with_val(bits, v));
        let same_eta = self.eta.trim() == eta.trim() || matches!((value(&self.eta), value(eta)), (Some(a), Some(b)) if a == b);
        let msg = if !same_eta {
            format!("η = {} in the run, {} here", self.eta, eta)
        } else if self.model != model {
            format!("model `{}` in the run, `{model}` here", self.model)
        } else if instability_step.is_some_and(|s| s != self.instability_step) {
            format!("instability at GD step {} in the run, {} here", self.instability_step, instability_step.unwrap_or(0))
        } else {
            return Ok(());
        };
        Err(InputError::Value { key: "dagger".into(), msg: format!("{} is not the same job: {msg}", self.dir.display()) }.into())
    }

    /// (L(θ†_t), S(θ†_t)) at the steps t of `rows`, NaN where the run has no row.
    pub fn aligned(&self, rows: &[CompareRow]) -> (Vec<f64>, Vec<f64>) {
        rows.iter()
            .map(|r| match self.t.binary_search(&r.t) {
                Ok(i) => (self.loss[i], self.sharpness[i]),
                Err(_) => (f64::NAN, f64::NAN),
            })
            .unzip()
    }
}

/// [`agreement`] over the steps of `range` where `pred` is finite, and their number (NaN fields
/// when there is none).
pub fn agreement_where(gd: &[f64], pred: &[f64], range: std::ops::Range<usize>) -> (Agreement, u64) {
    let idx: Vec<usize> = range.filter(|&i| pred[i].is_finite()).collect();
    if idx.is_empty() {
        return (Agreement { rel_l1: f64::NAN, rel_max: f64::NAN, mean_gd: f64::NAN, mean_pred: f64::NAN }, 0);
    }
    let g: Vec<f64> = idx.iter().map(|&i| gd[i]).collect();
    let p: Vec<f64> = idx.iter().map(|&i| pred[i]).collect();
    (agreement(&g, &p, 0..idx.len()), idx.len() as u64)
}

/// Agreement of a smoothed GD column with a prediction over `range`.
pub fn agreement(gd: &[f64], pred: &[f64], range: std::ops::Range<usize>) -> Agreement {
    let n = range.len().max(1) as f64;
    let mut dmax: f64 = 0.0;
    let mut pmax: f64 = 0.0;
    for i in range.clone() {
        dmax = dmax.max((gd[i] - pred[i]).abs());
        pmax = pmax.max(pred[i].abs());
    }
    Agreement {
        rel_l1: rel_l1(gd, pred, range.clone()),
        rel_max: dmax / pmax,
        mean_gd: gd[range.clone()].iter().sum::<f64>() / n,
        mean_pred: pred[range].iter().sum::<f64>() / n,
    }
}

/// The comparison window: t ∈ [⌈4w⌉, T − ⌈4w⌉] (full smoothing kernel on both sides), or all rows
/// if that is empty.
pub fn window(len: usize, w: f64) -> std::ops::Range<usize> {
    let r = (4.0 * w).ceil().min(len as f64) as usize;
    if len > 2 * r + 1 { r..len - r } else { 0..len }
}

#[allow(clippy::too_many_arguments)]
fn summarise(
    cfg: &Resolved,
    args: &FlowArgs,
    opts: &FlowOpts,
    step: u64,
    steps_done: u64,
    rows: &[CompareRow],
    sm: &Smoothed,
    maxres: MaxResiduals,
    thr: f64,
    wall: f64,
    model: String,
) -> FlowSummary {
    let win = window(rows.len(), args.smooth);
    // With a width > 0 the window starts at t = ⌈4w⌉ > 0 unless the run is too short for one.
    if win.start == 0 && args.smooth > 0.0 && rows.len() > 1 {
        eprintln!(
            "note: {} rows are too few for an interior window of --smooth {:?} (t ≥ 4w from both ends): the comparison is over all rows, the ends' truncated kernels included",
            rows.len(),
            args.smooth
        );
    }
    let col = |f: fn(&CompareRow) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    let max_crit = rows.iter().map(|r| r.n_crit).max().unwrap_or(0);
    let mut hist = vec![0u64; max_crit + 1];
    for r in rows {
        hist[r.n_crit] += 1;
    }
    let first_crit = rows.iter().position(|r| r.n_crit >= 1).unwrap_or(rows.len());
    let after = &rows[(first_crit + 1).min(rows.len())..];
    let excess = after.iter().map(|r| (r.sharpness_flow - thr) / thr).fold(0.0, f64::max);
    let s_min = after.iter().map(|r| r.sharpness_flow).fold(f64::INFINITY, f64::min);
    let mut mids: Vec<f64> = rows[win.clone()].iter().map(|r| r.dist_mid).filter(|v| v.is_finite()).collect();
    mids.sort_by(f64::total_cmp);
    let mid_ratio = rows[win.clone()].iter().filter(|r| r.dist_mid.is_finite() && r.dist_gd > 0.0).map(|r| r.dist_mid / r.dist_gd).fold(0.0, f64::max);
    FlowSummary {
        instability_step: step,
        eta: cfg.lr.clone(),
        threshold: thr,
        steps: steps_done,
        substeps: opts.substeps,
        form: opts.form,
        top_k: args.top_k,
        smooth_width: args.smooth,
        window: [win.start as u64, win.end.saturating_sub(1) as u64],
        x2_vs_tr_sigma: agreement(&sm.x2, &col(|r| r.tr_sigma), win.clone()),
        loss_vs_pred: agreement(&sm.loss, &col(|r| r.pred_loss), win.clone()),
        loss_vs_flow_loss: agreement(&sm.loss, &col(|r| r.loss_flow), win.clone()),
        grad_sq_vs_pred: agreement(&sm.grad_sq, &col(|r| r.pred_grad_sq), win.clone()),
        sharpness_vs_flow: agreement(&sm.sharpness, &col(|r| r.sharpness_flow), win.clone()),
        flow_sharpness_max_rel_excess: excess,
        flow_sharpness_min: s_min,
        mid_over_dist_max: mid_ratio,
        mid_dist_median: mids.get(mids.len() / 2).cloned().unwrap_or(f64::NAN),
        max_critical: max_crit,
        critical_histogram: hist,
        loss_vs_dagger: None,
        sharpness_vs_dagger: None,
        dagger_window_steps: None,
        dagger_dir: None,
        first_two_critical: rows.iter().find(|r| r.n_crit >= 2).map(|r| r.t),
        sdcp_max_residuals: maxres,
        sdcp_tol: opts.sdcp_tol,
        wall_seconds: wall,
        model,
        precision: cfg.precision.clone(),
        stop_message: None,
    }
}

/// "12.3%" (or "n/a" when not finite).
fn pct(v: f64) -> String {
    if v.is_finite() { format!("{:.1}%", 100.0 * v) } else { "n/a".into() }
}

fn write_figure(out: &Path, rows: &[CompareRow], sm: &Smoothed, thr: f64, s: &FlowSummary, dag: Option<&(Vec<f64>, Vec<f64>)>) -> Result<(), Error> {
    let dir = out.join("figures");
    let t: Vec<f64> = rows.iter().map(|r| r.t as f64).collect();
    let col = |f: fn(&CompareRow) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    let (w, h) = (900.0, 300.0);
    let mut body = String::new();
    // Titles carry the measured errors (relative L1 of GD's smoothed curve over the window).
    let [w0, w1] = s.window;
    let dag_err = |a: &Option<Agreement>| a.as_ref().map(|a| format!(", θ† {}", pct(a.rel_l1))).unwrap_or_default();
    // A run too short for an interior window (≈ 8 smoothing widths) has its errors over all rows,
    // the ends' truncated kernels included (figures review), and the title says so.
    let all_rows = w0 == 0 && s.smooth_width > 0.0;
    let loss_title = format!(
        "Loss (log scale); rel. L1 err of GD smoothed, t in [{w0}, {w1}]{}: flow L(w)+trΣ/η {}{}",
        if all_rows { " (all rows)" } else { "" },
        pct(s.loss_vs_pred.rel_l1),
        dag_err(&s.loss_vs_dagger)
    );
    let sharp_title =
        format!("Sharpness; rel. L1 err of GD smoothed: flow λ₁(w) {}{}", pct(s.sharpness_vs_flow.rel_l1), dag_err(&s.sharpness_vs_dagger));
    let mut loss = vec![
        Series { name: "GD L(θ_t)", color: "#aec7e8", dash: false, y: col(|r| r.loss_gd) },
        Series { name: "GD smoothed", color: "#1f77b4", dash: false, y: sm.loss.clone() },
        Series { name: "flow L(w)+trΣ/η", color: "#d62728", dash: true, y: col(|r| r.pred_loss) },
        Series { name: "flow L(w)", color: "#2ca02c", dash: false, y: col(|r| r.loss_flow) },
    ];
    let mut sharp = vec![
        Series { name: "GD S(θ_t)", color: "#aec7e8", dash: false, y: col(|r| r.sharpness_gd) },
        Series { name: "GD smoothed", color: "#1f77b4", dash: false, y: sm.sharpness.clone() },
        Series { name: "flow λ₁(w)", color: "#d62728", dash: true, y: col(|r| r.sharpness_flow) },
        Series { name: "flow λ₂(w)", color: "#ff7f0e", dash: true, y: col(|r| r.lambda2_flow) },
        Series { name: "flow λ₃(w)", color: "#9467bd", dash: true, y: col(|r| r.lambda3_flow) },
    ];
    if let Some((dl, ds)) = dag {
        loss.push(Series { name: "θ† L(θ†)", color: "#8c564b", dash: true, y: dl.clone() });
        sharp.push(Series { name: "θ† S(θ†)", color: "#8c564b", dash: false, y: ds.clone() });
    }
    let axes = |title, hline, log| Axes { title, xlabel: "GD step t after θ₀", hline, log, ..Axes::default() };
    panel(&mut body, (0.0, 0.0, w, h), &axes(&loss_title, None, true), &t, &loss);
    panel(&mut body, (0.0, h, w, h), &axes(&sharp_title, Some((thr, "2/η")), false), &t, &sharp);
    panel(&mut body, (0.0, 2.0 * h, w, h), &axes("Oscillation: smoothed x² vs tr Σ (log scale)", None, true), &t, &[
        Series { name: "GD x² smoothed", color: "#1f77b4", dash: false, y: sm.x2.clone() },
        // From t = 1: at t = 0 tr Σ carries the one-sub-step restoring term of S(θ₀) > 2/η.
        Series { name: "flow tr Σ", color: "#d62728", dash: true, y: rows.iter().map(|r| if r.t == 0 { f64::NAN } else { r.tr_sigma }).collect() },
    ]);
    panel(&mut body, (0.0, 3.0 * h, w, h), &Axes { integer: true, ..axes("Critical eigenvalues (ηλ > 1.95)", None, false) }, &t, &[
        Series { name: "count", color: "#000000", dash: false, y: col(|r| r.n_crit as f64) },
    ]);
    write_both(&dir, "flow", &doc(w, 4.0 * h, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `flow --dagger` takes a run of the same η: the same text or the same value at the job's
    /// precision (an MPFR job's η is its text: 0.30000000000000000001 is another η at 128 bits,
    /// though its nearest f64 is 0.3's; found by the MPFR audit), while in f64 two spellings of one
    /// f64 are one η (review).
    #[test]
    fn a_dagger_run_of_another_eta_is_refused_even_when_their_f64_values_agree() {
        let d = DaggerRun { dir: PathBuf::from("r"), instability_step: 95, eta: "0.3".into(), model: "m".into(), t: vec![0], loss: vec![1.0], sharpness: vec![1.0] };
        for prec in ["f64", "128"] {
            for same in ["0.3", " 0.30", "3e-1", "0.300000000000000000000"] {
                assert!(d.check_job(same, prec, "m", Some(95)).is_ok(), "{same} at {prec}");
            }
            for other in ["0.31", "x"] {
                let e = d.check_job(other, prec, "m", None).unwrap_err().to_string();
                assert!(e.contains("η = 0.3 in the run") && e.contains(other), "{other}: {e}");
            }
        }
        let e = d.check_job("0.30000000000000000001", "128", "m", None).unwrap_err().to_string();
        assert!(e.contains("η = 0.3 in the run"), "{e}");
        assert!(d.check_job("0.30000000000000000001", "f64", "m", None).is_ok());
        assert!(d.check_job("0.3", "f64", "m2", None).unwrap_err().to_string().contains("model"));
        assert!(d.check_job("0.3", "f64", "m", Some(96)).unwrap_err().to_string().contains("instability at GD step 95"));
    }
}
