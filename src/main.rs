//! `selfstab`: run GD, the constrained trajectory and the predicted dynamics; export and evaluate
//! parameters for other implementations. See the README for every flag and output file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use selfstab::commands::{self, EvalArgs};
use selfstab::config::{self, GapThreshold, Num, RunConfig};
use selfstab::error::InputError;
use selfstab::scalar::Precision;

#[derive(Parser)]
#[command(name = "selfstab", version, about = "Self-stabilization of gradient descent at the edge of stability: GD vs the constrained trajectory vs the predicted dynamics")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// `--layers 64,32,10` (every width from input to output), `--batch`, `--channels`: integers.
#[derive(Clone, Debug)]
struct Widths(Vec<usize>);

/// `sgd --sample-seeds`: seeds and ranges ([`selfstab::sgd::parse_seeds`]).
#[derive(Clone, Debug)]
struct Seeds(Vec<u64>);

fn parse_seeds(s: &str) -> Result<Seeds, String> {
    selfstab::sgd::parse_seeds(s).map(Seeds)
}

/// `--model` of the commands that do not go through [`config::merge`] (eval, export), in
/// any case ([`config::model_name`]).
fn model_name(s: &str) -> Result<String, String> {
    Ok(config::model_name(s))
}

fn parse_layers(s: &str) -> Result<Widths, String> {
    s.split(',')
        .map(|w| {
            let w = w.trim();
            w.parse::<usize>().map_err(|e| match e.kind() {
                std::num::IntErrorKind::PosOverflow => format!("`{w}` in `{s}` is too large (at most {})", usize::MAX),
                _ => format!("`{s}` is not a comma-separated list of non-negative integers"),
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Widths)
}

/// The job flags `run` and `flow` share: a configuration file and the keys that override it.
#[derive(clap::Args)]
struct JobFlags {
    /// Configuration file (TOML); flags override its keys.
    config: Option<PathBuf>,
    /// mlp, cubic, cnn or width1 (default mlp; any case, read by `config::merge`).
    #[arg(long)]
    model: Option<String>,
    /// Every width from input to output, e.g. 64,16,16,10 (default 64,16,16,10).
    #[arg(long, value_parser = parse_layers)]
    layers: Option<Widths>,
    /// tanh, silu or gelu (default tanh).
    #[arg(long)]
    activation: Option<String>,
    /// mse or ce (default mse).
    #[arg(long)]
    loss: Option<String>,
    /// digits, synthetic or a .npz file (X float64 [n, d], y int64 [n]) (default digits).
    #[arg(long)]
    data: Option<String>,
    /// Samples: the first n digits, or n synthetic ones; a .npz file is used whole (default 256).
    #[arg(long)]
    n: Option<usize>,
    /// Seed of the initialisation and of synthetic data (default 0). Naming it, --model or
    /// --layers without --theta0 starts from the seeded initialisation, not the reference θ₀.
    #[arg(long)]
    seed: Option<u64>,
    /// GD's starting parameters: a .npy file (float64 [p]), builtin:NAME (mlp_64-16-16-10,
    /// mlp_64-32-10, mlp_64-12-10) or "" for the seeded initialisation (default: the default job
    /// starts from builtin:mlp_64-16-16-10, any other from the seeded initialisation).
    #[arg(long)]
    theta0: Option<String>,
    /// Learning rate η (decimal text; parsed at the working precision; default 0.2667).
    #[arg(long, allow_hyphen_values = true)]
    lr: Option<String>,
    /// Steps after the instability point θ₀ (run: tracking steps; flow: GD steps; default 500).
    #[arg(long)]
    steps: Option<u64>,
    /// Cap on the GD steps of the instability search (default 20000).
    #[arg(long)]
    search_steps: Option<u64>,
    /// `f64` or a number of MPFR bits (53..=65536) (default f64).
    #[arg(long)]
    precision: Option<String>,
    /// Relative residual of the eigen solves (default 1e-10 in f64, 2^(16−bits) in MPFR).
    #[arg(long)]
    eig_tol: Option<f64>,
    /// Threads (default 2 on a machine with ≥ 2 cores, else 1; every result is the same bits for
    /// any count, and a checkpoint resumes with another count).
    #[arg(long)]
    threads: Option<usize>,
    /// Output directory (default out).
    #[arg(long)]
    out: Option<String>,
}

impl JobFlags {
    /// The configuration file's keys (if a file is given) and the flags' keys (the rest unset).
    fn split(self) -> Result<(Option<RunConfig>, RunConfig), selfstab::Error> {
        let from_file = match &self.config {
            Some(p) => {
                let bytes = selfstab::npy::read_input(p)?;
                let text = String::from_utf8(bytes).map_err(|e| InputError::File {
                    path: p.clone(),
                    msg: format!("is not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()),
                })?;
                Some(config::parse_toml(&text, &p.display().to_string())?)
            }
            None => None,
        };
        let flags = RunConfig {
            model: self.model,
            layers: self.layers.map(|w| w.0),
            activation: self.activation,
            loss: self.loss,
            data: self.data,
            n: self.n,
            seed: self.seed,
            theta0: self.theta0,
            lr: self.lr.map(Num::Text),
            steps: self.steps,
            search_steps: self.search_steps,
            precision: self.precision.map(Num::Text),
            eig_tol: self.eig_tol.map(selfstab::mag::Mag::new),
            threads: self.threads,
            out: self.out,
            ..RunConfig::default()
        };
        Ok((from_file, flags))
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Find the instability point, then track GD, θ† and the predictions (default: a digits MLP).
    #[command(allow_negative_numbers = true)]
    Run {
        #[command(flatten)]
        job: JobFlags,
        /// Linearised projection steps per projection (default 3).
        #[arg(long)]
        projection_steps: Option<usize>,
        /// Relative residual of the θ† chain's early solves (the centre and every projection step
        /// two more follow), in [eig_tol, 1e-3]; default: eig_tol. Medium digits MLP: 82 → 67 HVPs
        /// per step at 1e-6; tiny gains only at 1e-8 (theory/README.md "Early solves of the θ†
        /// chain").
        #[arg(long)]
        chain_tol: Option<f64>,
        /// λ₂(θ†) every this many steps (default 50).
        #[arg(long)]
        gap_every: Option<u64>,
        /// Stop when λ₂(θ†) ≥ C/η; `none` records only (default 1.9).
        #[arg(long, allow_hyphen_values = true)]
        gap_threshold: Option<String>,
        /// Checkpoint every this many steps (default 10); a re-run resumes from it.
        #[arg(long)]
        checkpoint_every: Option<u64>,
        /// Conv channels per stage of `--model cnn` (e.g. 4 or 4,8; default 4).
        #[arg(long, value_parser = parse_layers)]
        channels: Option<Widths>,
        /// Past the eigengap (λ₂(θ†) ≥ gap_threshold/η), continue θ† with the projection for K
        /// eigenpairs instead of stopping; writes multi.csv (0 or 1: stop as before).
        #[arg(long)]
        multi: Option<usize>,
        /// Also track gradient flow from θ₀ (⌈ηS⌉ Euler sub-steps of size η/⌈ηS⌉ per GD step, the
        /// authors' `gf`); writes gf.csv.
        #[arg(long)]
        gf: bool,
        /// Start afresh, discarding any checkpoint in --out. Without it a checkpoint of this job is
        /// resumed, and one it cannot resume (another configuration's, unreadable) is kept and is
        /// an error.
        #[arg(long)]
        fresh: bool,
    },
    /// Mini-batch GD at fixed η for each batch size: the full-batch sharpness gap 2/η − ⟨S⟩ against
    /// b and against ηβσ_u²/(4α) (claim 32); writes sgd_b{B}.csv, sgd.json, sgd.md (with
    /// --sample-seeds: one such job per seed in seed{S}/, and sgd_seeds.json, sgd_seeds.md and the
    /// figure sgd_seeds).
    #[command(allow_negative_numbers = true)]
    Sgd {
        /// Batch sizes, comma-separated.
        #[arg(long, value_parser = parse_layers)]
        batch: Widths,
        /// Every width from input to output (default 64,16,16,10; naming them without --theta0 starts
        /// from the seeded initialisation).
        #[arg(long, value_parser = parse_layers)]
        layers: Option<Widths>,
        /// tanh, silu or gelu.
        #[arg(long, default_value = "tanh")]
        activation: String,
        /// mse or ce.
        #[arg(long, default_value = "mse")]
        loss: String,
        /// digits, synthetic or a .npz file (X float64 [n, d], y int64 [n]).
        #[arg(long, default_value = "digits")]
        data: String,
        /// Number of samples: the first n digits, or n synthetic ones; a .npz file is used whole
        /// (default 256).
        #[arg(long)]
        n: Option<usize>,
        /// Seed of the initialisation and of synthetic data (default 0; naming it without --theta0
        /// starts from the seeded initialisation).
        #[arg(long)]
        seed: Option<u64>,
        /// GD's starting parameters (.npy or builtin:NAME; "" for the seeded initialisation; default
        /// builtin:mlp_64-16-16-10 unless --layers or --seed is named).
        #[arg(long)]
        theta0: Option<String>,
        /// Learning rate η.
        #[arg(long, default_value_t = 0.2667, value_parser = positive_lr)]
        lr: f64,
        /// Mini-batch steps per batch size.
        #[arg(long, default_value_t = 3000)]
        steps: u64,
        /// Full-batch checks (S, α, β, σ_u²) every this many steps.
        #[arg(long, default_value_t = 20)]
        every: u64,
        /// Seed of the batch sampler (ChaCha8 epoch permutations).
        #[arg(long, default_value_t = 0)]
        sample_seed: u64,
        /// Several sampler seeds (`0-9`, `0,3,7-9`; each once, at most 1000): the job once per seed,
        /// each in --out/seed{S}, and the seed mean ± standard error of each batch size's gap and ΔS,
        /// with the test of gap = c/b, in sgd_seeds.json, sgd_seeds.md and figures/sgd_seeds.{svg,png}.
        #[arg(long, value_parser = parse_seeds, conflicts_with = "sample_seed")]
        sample_seeds: Option<Seeds>,
        /// EoS reached when S ≥ (1 − eps)·2/η.
        #[arg(long, default_value_t = 0.25)]
        eos_eps: f64,
        /// Window: the last fraction of the run (after EoS).
        #[arg(long, default_value_t = 0.5)]
        window: f64,
        /// Output directory (sgd_b{B}.csv, sgd.json, sgd.md; with --sample-seeds one such directory
        /// seed{S} per seed in it, beside sgd_seeds.json, sgd_seeds.md and figures/sgd_seeds.*).
        #[arg(long, default_value = "sgd")]
        out: PathBuf,
        /// Start afresh, discarding any file of finished batch sizes in --out (sgd_partial.json; with
        /// --sample-seeds, every listed seed's, before the first run). Without it this job's are
        /// reused, and another job's is kept and is an error.
        #[arg(long)]
        fresh: bool,
    },
    /// GD and the central flow (k critical eigenvalues, SDCP) from the instability point, side by side:
    /// flow_series.{csv,npz}, flow_summary.json, figures/flow.{svg,png}.
    #[command(allow_negative_numbers = true)]
    Flow {
        #[command(flatten)]
        job: JobFlags,
        /// Euler sub-steps per GD step (dt = 1/substeps).
        #[arg(long, default_value_t = 4)]
        substeps: u32,
        /// Gaussian smoothing width of GD's series (standard deviation, GD steps).
        #[arg(long, default_value_t = 150.0)]
        smooth: f64,
        /// `k` (SDCP on every critical eigenvalue) or `one` (closed-form σ² on the top eigenvector).
        #[arg(long, default_value = "k")]
        form: String,
        /// Most eigenpairs the flow tracks (more critical eigenvalues is an error).
        #[arg(long, default_value_t = 8)]
        top_k: usize,
        /// SDCP tolerance (relative residuals; default 1e-10 in f64, 2^(40−bits) in MPFR).
        #[arg(long)]
        sdcp_tol: Option<f64>,
        /// Output directory of a `run` of the same job (e.g. `--multi 4`): adds θ†'s loss and
        /// sharpness to the series, summary (agreement with GD) and figure.
        #[arg(long)]
        dagger: Option<PathBuf>,
        /// Checkpoint (flow_checkpoint.json) every this many steps (default 10); a re-run resumes from it.
        #[arg(long)]
        checkpoint_every: Option<u64>,
        /// Start afresh, discarding any checkpoint in --out. Without it a checkpoint of this job is
        /// resumed, and one it cannot resume (another configuration's, unreadable) is kept and is
        /// an error.
        #[arg(long)]
        fresh: bool,
    },
    /// Write the seeded initial parameters (theta0.npy) and the data (data.npz).
    Export {
        /// Widths of the MLP (required unless --model cnn|width1).
        #[arg(long, value_parser = parse_layers)]
        layers: Option<Widths>,
        /// `mlp` (default), `cnn` or `width1`.
        #[arg(long, default_value = "mlp", value_parser = model_name)]
        model: String,
        /// Conv channels of `--model cnn`.
        #[arg(long, value_parser = parse_layers)]
        channels: Option<Widths>,
        /// digits, synthetic or a .npz file (X float64 [n, d], y int64 [n]); `--model width1`
        /// generates its own (`width1`). Default: digits, width1 for that model.
        #[arg(long)]
        data: Option<String>,
        /// Samples: the first n digits, or n synthetic ones (default 256, as `run`).
        #[arg(long, default_value_t = 256)]
        n: usize,
        /// Seed of the initialisation and of synthetic data.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output directory (theta0.npy, data.npz).
        #[arg(long)]
        out: PathBuf,
    },
    /// Run every claim's tests and report per claim: verdict, status (pass/fail/not-built), bound.
    Verify {
        /// The CI subset (the default test set); without it the long studies run too. Not with
        /// --from-log, where the log decides what ran.
        #[arg(long, conflicts_with = "from_log")]
        quick: bool,
        /// Where to write verify.md and verify.json.
        #[arg(long, default_value = "verify")]
        out: PathBuf,
        /// The selfstab source tree (default: the one this binary was built from). Not with
        /// --from-log, which runs nothing.
        #[arg(long, conflicts_with = "from_log")]
        src: Option<PathBuf>,
        /// Build the report from a saved `cargo test` log instead of running the tests.
        #[arg(long)]
        from_log: Option<PathBuf>,
    },
    /// Convergence-order study of a claim (6, 18, 20, 21): sweep h, fit the log-log slope ± SE,
    /// compare with the predicted order; writes order_NN.{csv,md,svg,png}.
    #[command(allow_negative_numbers = true)]
    Order {
        /// Claim number.
        claim: String,
        /// Output directory.
        #[arg(long, default_value = "order")]
        out: PathBuf,
        /// A shorter sweep (still 8 points) for smoke tests (not with --full).
        #[arg(long, conflicts_with = "full")]
        quick: bool,
        /// Claims 15–18: the ≥ 6-decade study with the reduced (x, a·w) iteration (src/decades.rs).
        #[arg(long)]
        full: bool,
        /// With --full: decades of h below h_max (0.0125; 0.003 for claim 17).
        #[arg(long, default_value_t = 6.0, requires = "full")]
        decades: f64,
        /// With --full: number of points.
        #[arg(long, default_value_t = 8, requires = "full")]
        points: usize,
        /// With --full: rerun in double-double every point with at most this many steps.
        #[arg(long, default_value_t = 0, requires = "full")]
        dd_max_steps: u64,
        /// With --full, claims 17–18: GD and v in double-double, θ† in f64.
        #[arg(long, requires = "full")]
        mixed: bool,
        /// With --full: start afresh, discarding any file of finished points in --out
        /// (order_NN_partial.json). Without it this study's are reused and its point in progress
        /// resumed, and another option set's is kept and is an error.
        #[arg(long, requires = "full")]
        fresh: bool,
    },
    /// Certified interval enclosure of the reduced map from a box (X0 ± R) × (Y0 ± R) for N steps;
    /// writes enclosure.csv, summary.md and summary.json and prints the proof statement.
    #[command(allow_negative_numbers = true)]
    Enclose {
        /// h = η√α (decimal, > 0).
        #[arg(long)]
        h: String,
        /// Box centre X0.
        #[arg(long)]
        x0: String,
        /// Box centre Y0.
        #[arg(long)]
        y0: String,
        /// Box half-width (≥ 0).
        #[arg(long)]
        radius: String,
        /// Steps N.
        #[arg(long)]
        steps: u64,
        /// Sub-boxes per axis.
        #[arg(long, default_value_t = 1)]
        split: u32,
        /// Working precision in bits.
        #[arg(long, default_value_t = 256)]
        bits: u32,
        /// Damping k of the sharpness channel (claim 11).
        #[arg(long, default_value = "0")]
        k: String,
        /// Stop certifying once a sub-box is wider than this.
        #[arg(long, default_value_t = 1.0)]
        max_width: f64,
        /// Output directory.
        #[arg(long, default_value = "enclose")]
        out: PathBuf,
    },
    /// Loss, gradient, top eigenpairs and ∇S at given parameters (eval.json, grad.npy, u.npy, grad_sharpness.npy).
    #[command(allow_negative_numbers = true)]
    Eval {
        /// The parameters θ (.npy, float64 [p], or builtin:NAME; "" for the seeded initialisation of
        /// --seed; or a .txt of decimals, one per line, read at --precision with all their digits,
        /// e.g. an MPFR run's theta_unstable.txt).
        #[arg(long)]
        theta: String,
        /// digits, synthetic or a .npz file (X float64 [n, d], y int64 [n]); `--model width1`
        /// generates its own (`width1`). Default: digits, width1 for that model.
        #[arg(long)]
        data: Option<String>,
        /// Samples: the first n digits, or n synthetic ones; a .npz file is used whole (default 256,
        /// as `run`).
        #[arg(long)]
        n: Option<usize>,
        /// Seed of synthetic data.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Widths of the MLP (required unless --model cnn|width1).
        #[arg(long, value_parser = parse_layers)]
        layers: Option<Widths>,
        /// `mlp` (default), `cnn` or `width1`.
        #[arg(long, default_value = "mlp", value_parser = model_name)]
        model: String,
        /// Conv channels of `--model cnn`.
        #[arg(long, value_parser = parse_layers)]
        channels: Option<Widths>,
        /// tanh, silu or gelu.
        #[arg(long, default_value = "tanh")]
        activation: String,
        /// mse or ce.
        #[arg(long, default_value = "mse")]
        loss: String,
        /// `f64` or a number of MPFR bits (53..=65536) (default f64).
        #[arg(long, default_value = "f64")]
        precision: String,
        /// Top eigenpairs to compute.
        #[arg(long, default_value_t = 1)]
        top_k: usize,
        /// Relative residual of the eigen solve (default 1e-10 in f64, 2^(16−bits) in MPFR).
        #[arg(long)]
        eig_tol: Option<f64>,
        /// Output directory (eval.json, grad.npy, u.npy, grad_sharpness.npy).
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // rayon's pool, started here rather than on first use, so that a process that cannot start its
    // threads (e.g. under a tight `ulimit -v`) says so instead of panicking inside rayon later.
    if let Err(e) = rayon::ThreadPoolBuilder::new().build_global() {
        eprintln!("error: cannot start the worker threads ({e}); is the address space limited (`ulimit -v`)?");
        return ExitCode::FAILURE;
    }
    // SIGINT and SIGTERM: a checkpointing loop saves and stops; elsewhere they end the process.
    if let Err(e) = selfstab::progress::interrupt::install() {
        eprintln!("warning: no SIGINT/SIGTERM handler ({e}); an interrupted run resumes from its last checkpoint");
    }
    match dispatch(cli.cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ selfstab::Error::Interrupted(_)) => {
            eprintln!("{e}");
            // End by the signal itself, as without a handler, so that a calling shell loop or
            // script stops too (the work is saved). Should that fail: the shell's code for SIGINT.
            if let Some(sig) = selfstab::progress::interrupt::received() {
                let _ = signal_hook::low_level::emulate_default_handler(sig);
            }
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `sgd --lr`: a finite f64 > 0, the text quoted when it is not one (`1e-400` rounds to 0).
fn positive_lr(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        Ok(_) if selfstab::config::positive_below_f64(text) => {
            Err(format!("`{text}` rounds to 0 in f64; the learning rate must be > 0"))
        }
        Ok(_) => Err(format!("the learning rate must be finite and > 0, got `{text}`")),
        Err(_) => Err(format!("`{text}` is not a number")),
    }
}

/// Writes `text` and a newline to stdout. A closed pipe (`selfstab … | head`) is not an error: the
/// reader took what it wanted, and every output file is written before anything is printed.
fn print_out(text: &str) -> Result<(), selfstab::Error> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    match writeln!(o, "{text}").and_then(|_| o.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(selfstab::Error::Io { path: "standard output".into(), source: e }),
        _ => Ok(()),
    }
}

/// [`print_out`] of a value as pretty JSON.
fn print_json<T: serde::Serialize>(v: &T) -> Result<(), selfstab::Error> {
    print_out(&serde_json::to_string_pretty(v).expect("the summaries serialise"))
}

fn dispatch(cmd: Cmd) -> Result<(), selfstab::Error> {
    match cmd {
        Cmd::Run { job, projection_steps, chain_tol, gap_every, gap_threshold, checkpoint_every, channels, multi, gf, fresh } => {
            let (from_file, flags) = job.split()?;
            let flags = RunConfig {
                projection_steps,
                chain_tol: chain_tol.map(selfstab::mag::Mag::new),
                gap_every,
                gap_threshold: gap_threshold.map(|g| match g.trim().parse::<f64>() {
                    Ok(v) => GapThreshold::Value(v),
                    Err(_) => GapThreshold::Text(g),
                }),
                checkpoint_every,
                channels: channels.map(|w| w.0),
                multi,
                gf: gf.then_some(true),
                ..flags
            };
            let cfg = resolve_job(from_file, flags)?;
            let s = commands::run_with(&cfg, fresh)?;
            print_json(&s)?;
            // GD's divergence and a numerical failure end the job with an error (its outputs are
            // kept); the eigengap stop is an outcome of the theory, not a failure.
            match s.stop_reason.as_str() {
                "diverged" | "numerical" => Err(selfstab::EvalError::Other(format!(
                    "the run stopped early ({}: {}); its outputs are kept in {}",
                    s.stop_reason, s.stop_message, cfg.out
                ))
                .into()),
                _ => Ok(()),
            }
        }
        Cmd::Sgd { batch, layers, activation, loss, data, n, seed, theta0, lr, steps, every, sample_seed, sample_seeds, eos_eps, window, out, fresh } => {
            // As for run: naming the widths or the seed without --theta0 starts from the seeded
            // initialisation; otherwise from the reference θ₀ of the default net.
            let theta0 = theta0.unwrap_or_else(|| config::unnamed_theta0(layers.is_some() || seed.is_some()));
            let layers = layers.map_or_else(|| config::default_config().layers.expect("the default job names its widths"), |w| w.0);
            warn_if_n_unused(n, &data);
            let n = n.unwrap_or(256);
            let a = selfstab::sgd::SgdArgs {
                batches: batch.0, layers, activation, loss, data, n, seed: seed.unwrap_or(0), theta0, lr, steps, every, sample_seed,
                eos_eps, window, out, fresh,
            };
            match sample_seeds {
                Some(Seeds(seeds)) => {
                    let summary = selfstab::sgd::command_seeds(&a, &seeds)?;
                    print_out(&selfstab::sgd::seeds_markdown(&summary))?;
                }
                None => {
                    let rs = selfstab::sgd::command(&a)?;
                    print_out(&selfstab::sgd::markdown(&rs))?;
                }
            }
            Ok(())
        }
        Cmd::Flow { job, substeps, smooth, form, top_k, sdcp_tol, dagger, checkpoint_every, fresh } => {
            let (from_file, flags) = job.split()?;
            let flags = RunConfig { checkpoint_every, ..flags };
            let cfg = resolve_job(from_file, flags)?;
            // flow_summary.json writes the form as `One` / `K`: either case is accepted.
            let form = match form.to_ascii_lowercase().as_str() {
                "k" => selfstab::central_flow::Form::K,
                "one" => selfstab::central_flow::Form::One,
                other => return Err(InputError::Unknown { what: "flow form", got: other.into(), expected: "k, one" }.into()),
            };
            let args = selfstab::flow_cmd::FlowArgs { substeps, smooth, form, top_k, sdcp_tol, dagger, fresh };
            let s = selfstab::flow_cmd::flow(&cfg, &args)?;
            print_json(&s)?;
            Ok(())
        }
        Cmd::Verify { quick, out, src, from_log } => {
            let src = src.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
            let recs = selfstab::verify::verify_with(&src, quick, from_log.as_deref(), &out)?;
            print_out(&selfstab::verify::markdown(&recs))?;
            let failed: Vec<String> = recs.iter().filter(|r| r.status == "fail").map(|r| r.id.to_string()).collect();
            if failed.is_empty() {
                eprintln!("verify: no claim fails; report in {}/verify.md and verify.json", out.display());
                Ok(())
            } else {
                Err(selfstab::EvalError::Other(format!("claims failing: {} (see {}/verify.md)", failed.join(", "), out.display())).into())
            }
        }
        Cmd::Order { claim, out, full: true, decades, points, dd_max_steps, mixed, fresh, .. } => {
            let claim = selfstab::decades::parse_claim(&claim)?;
            let opts = selfstab::decades::FullOpts { decades, points, dd_max_steps, mixed };
            // Options first: a refused study leaves no output directory.
            opts.check(claim)?;
            selfstab::npy::create_out_dir(&out)?;
            let _lock = selfstab::npy::lock_out_dir(&out)?;
            let (s, pts) = selfstab::decades::study_in(claim, opts, Some(&out), fresh)?;
            selfstab::order::write(&s, &out)?;
            selfstab::decades::write_points(&s, &pts, &out)?;
            let _ = std::fs::remove_file(selfstab::decades::partial_path(claim, &out));
            print_out(&selfstab::order::markdown(&s))?;
            Ok(())
        }
        Cmd::Order { claim, out, quick, .. } => {
            let claim = selfstab::order::parse_claim(&claim)?;
            // The output directory is made before the study runs: one that cannot be made is
            // refused at once, not after the study.
            selfstab::npy::create_out_dir(&out)?;
            let s = selfstab::order::study(claim, quick)?;
            selfstab::order::write(&s, &out)?;
            print_out(&selfstab::order::markdown(&s))?;
            Ok(())
        }
        Cmd::Enclose { h, x0, y0, radius, steps, split, bits, k, max_width, out } => {
            let spec = selfstab::enclosure::EncloseSpec { h, k, x0, y0, radius, steps, split, bits, max_width };
            let e = selfstab::enclosure::enclose(&spec)?;
            selfstab::enclosure::write(&e, &out)?;
            print_out(&selfstab::enclosure::markdown(&e))?;
            Ok(())
        }
        Cmd::Export { layers, model, channels, data, n, seed, out } => {
            let data = data.unwrap_or_else(|| default_data(&model));
            if selfstab::models::build::is_extra(&model) {
                let ch = channels.map(|w| w.0).unwrap_or_default();
                let args = selfstab::models::build::ModelArgs {
                    model: &model, channels: &ch, activation: "tanh", loss: "mse", data: &data, n, seed, theta0: "",
                };
                selfstab::models::build::export(&args, &out)?;
            } else {
                let layers = need_layers(&model, layers, channels.is_some())?;
                commands::export(&layers, &data, n, seed, &out)?;
            }
            print_out(&format!("wrote {}/theta0.npy and {}/data.npz", out.display(), out.display()))?;
            Ok(())
        }
        Cmd::Eval { theta, data, n, seed, layers, model, channels, activation, loss, precision, top_k, eig_tol, out } => {
            let precision = Precision::parse(&precision)?;
            let data = data.unwrap_or_else(|| default_data(&model));
            warn_if_n_unused(n, &data);
            let n = n.unwrap_or(256);
            let extra = selfstab::models::build::is_extra(&model);
            let layers = if extra { vec![] } else { need_layers(&model, layers, channels.is_some())? };
            let a = EvalArgs { theta, data, n, seed, layers, activation, loss, precision, top_k, eig_tol, out };
            let v = if extra {
                let ch = channels.map(|w| w.0).unwrap_or_default();
                commands::eval_model(&a, &model, &ch)?
            } else {
                commands::eval(&a)?
            };
            print_json(&v)?;
            Ok(())
        }
    }
}

/// `--seed` on the command line changes nothing when θ₀ is a file or a built-in (named by a config
/// file, say) and the data are not generated: say so, rather than run the same job for every seed.
fn warn_if_seed_unused(seed: Option<u64>, cfg: &config::Resolved) {
    let generated = matches!(cfg.data.as_str(), "synthetic" | "width1");
    if let (Some(s), false, false) = (seed, cfg.theta0.is_empty(), generated) {
        eprintln!(
            "warning: --seed {s} changes nothing here: GD starts from θ₀ = {} and the {} data are not seeded (--theta0 \"\" starts from the seeded initialisation)",
            cfg.theta0, cfg.data
        );
    }
}

/// The configuration of `run` and `flow`: the file's keys under the command line's flags, resolved,
/// with a warning for each flag that changes nothing there (the model's unread flags, an unused
/// `--seed` or `--n`).
fn resolve_job(from_file: Option<RunConfig>, flags: RunConfig) -> Result<config::Resolved, selfstab::Error> {
    let given = flags.clone();
    let merged = config::merge(from_file, flags);
    warn_unread_by_model(merged.model.as_deref(), &given);
    let cfg = config::resolve(&merged)?;
    warn_if_seed_unused(given.seed, &cfg);
    warn_if_n_unused(given.n, &cfg.data);
    Ok(cfg)
}

/// Flags the chosen model does not read, given on the command line (fuzz review: `run --model cubic
/// --activation relu` ran and wrote `relu` into config.toml unremarked): say so, as for an unused
/// `--seed`. The cubic model has no network, data or initialisation; the CNN and the width-1 model
/// have their own shapes. (A config file's keys are not judged: `run` writes every key into its
/// `config.toml`, which is meant to be run again.)
fn warn_unread_by_model(model: Option<&str>, c: &config::RunConfig) {
    let model = model.unwrap_or("mlp");
    let given: &[(&str, bool)] = match model {
        "cubic" => &[
            ("layers", c.layers.is_some()),
            ("activation", c.activation.is_some()),
            ("loss", c.loss.is_some()),
            ("n", c.n.is_some()),
            ("seed", c.seed.is_some()),
        ],
        "cnn" | "width1" => &[("layers", c.layers.is_some())],
        _ => &[],
    };
    let unread: Vec<String> = given.iter().filter(|(_, g)| *g).map(|(k, _)| format!("--{k}")).collect();
    if !unread.is_empty() {
        eprintln!("warning: the {model} model does not read {}: {} nothing here", unread.join(", "), if unread.len() == 1 { "it changes" } else { "they change" });
    }
}

/// `--n` on the command line changes nothing when the data are a file, which is used whole: say so,
/// as for an unused `--seed`.
fn warn_if_n_unused(n: Option<usize>, data: &str) {
    if let (Some(n), false) = (n, matches!(data, "digits" | "synthetic" | "width1")) {
        eprintln!("warning: --n {n} changes nothing here: the data file {data} is used whole");
    }
}

/// The data set of a model when `--data` is not given: the width-1 model's own, else digits.
fn default_data(model: &str) -> String {
    if model == "width1" { "width1" } else { "digits" }.into()
}

/// `--layers` for `--model mlp` (the only other model names are cnn and width1).
fn need_layers(model: &str, layers: Option<Widths>, channels: bool) -> Result<Vec<usize>, InputError> {
    if model != "mlp" {
        return Err(InputError::Unknown { what: "model", got: model.into(), expected: "mlp, cnn, width1" });
    }
    if channels {
        return Err(InputError::Value { key: "channels".into(), msg: "only the cnn model has channels".into() });
    }
    layers.map(|w| w.0).ok_or_else(|| InputError::Value { key: "layers".into(), msg: "required for --model mlp (e.g. --layers 64,32,10)".into() })
}
