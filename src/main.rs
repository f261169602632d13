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

/// `--layers 64,32,10`: every width from input to output.
#[derive(Clone, Debug)]
struct Widths(Vec<usize>);

fn parse_layers(s: &str) -> Result<Widths, String> {
    s.split(',')
        .map(|w| w.trim().parse::<usize>().map_err(|_| format!("`{s}` is not a comma-separated list of widths")))
        .collect::<Result<Vec<_>, _>>()
        .map(Widths)
}

#[derive(Subcommand)]
enum Cmd {
    /// Find the instability point, then track GD, θ† and the predictions (default: a digits MLP).
    Run {
        /// Configuration file (TOML); flags override its keys.
        config: Option<PathBuf>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long, value_parser = parse_layers)]
        layers: Option<Widths>,
        #[arg(long)]
        activation: Option<String>,
        #[arg(long)]
        loss: Option<String>,
        #[arg(long)]
        data: Option<String>,
        #[arg(long)]
        n: Option<usize>,
        #[arg(long)]
        seed: Option<u64>,
        /// GD's starting parameters (.npy, float64 [p]).
        #[arg(long)]
        theta0: Option<String>,
        /// Learning rate η (decimal text; parsed at the working precision).
        #[arg(long, allow_hyphen_values = true)]
        lr: Option<String>,
        /// Tracking steps after θ₀.
        #[arg(long)]
        steps: Option<u64>,
        /// Cap on the GD steps of the instability search.
        #[arg(long)]
        search_steps: Option<u64>,
        /// `f64` or a number of MPFR bits (53..=65536).
        #[arg(long)]
        precision: Option<String>,
        #[arg(long)]
        projection_steps: Option<usize>,
        #[arg(long)]
        gap_every: Option<u64>,
        /// Stop when λ₂(θ†) ≥ C/η; `none` records only.
        #[arg(long, allow_hyphen_values = true)]
        gap_threshold: Option<String>,
        #[arg(long)]
        eig_tol: Option<f64>,
        #[arg(long)]
        threads: Option<usize>,
        #[arg(long)]
        checkpoint_every: Option<u64>,
        #[arg(long)]
        out: Option<String>,
    },
    /// GD and the central flow (k critical eigenvalues, SDCP) from the instability point, side by side:
    /// flow_series.{csv,npz}, flow_summary.json, figures/flow.{svg,png}.
    Flow {
        /// Configuration file (TOML); flags override its keys.
        config: Option<PathBuf>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long, value_parser = parse_layers)]
        layers: Option<Widths>,
        #[arg(long)]
        activation: Option<String>,
        #[arg(long)]
        loss: Option<String>,
        #[arg(long)]
        data: Option<String>,
        #[arg(long)]
        n: Option<usize>,
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long)]
        theta0: Option<String>,
        #[arg(long, allow_hyphen_values = true)]
        lr: Option<String>,
        /// GD steps after the instability point.
        #[arg(long)]
        steps: Option<u64>,
        #[arg(long)]
        search_steps: Option<u64>,
        #[arg(long)]
        precision: Option<String>,
        #[arg(long)]
        eig_tol: Option<f64>,
        #[arg(long)]
        threads: Option<usize>,
        #[arg(long)]
        out: Option<String>,
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
    },
    /// Write the seeded initial parameters (theta0.npy) and the data (data.npz).
    Export {
        #[arg(long, value_parser = parse_layers)]
        layers: Widths,
        #[arg(long, default_value = "digits")]
        data: String,
        #[arg(long, default_value_t = 200)]
        n: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Run every claim's tests and report per claim: verdict, status (pass/fail/not-built), bound.
    Verify {
        /// The CI subset (the default test set); without it the long studies run too.
        #[arg(long)]
        quick: bool,
        /// Where to write verify.md and verify.json.
        #[arg(long, default_value = "verify")]
        out: PathBuf,
        /// The selfstab source tree (default: the one this binary was built from).
        #[arg(long)]
        src: Option<PathBuf>,
        /// Build the report from a saved `cargo test` log instead of running the tests.
        #[arg(long)]
        from_log: Option<PathBuf>,
    },
    /// Convergence-order study of a claim (6, 18, 20, 21): sweep h, fit the log-log slope ± SE,
    /// compare with the predicted order; writes order_NN.{csv,md,svg,png}.
    Order {
        /// Claim number.
        claim: String,
        /// Output directory.
        #[arg(long, default_value = "order")]
        out: PathBuf,
        /// A shorter sweep (still 8 points) for smoke tests.
        #[arg(long)]
        quick: bool,
    },
    /// Loss, gradient, top eigenpairs and ∇S at given parameters (eval.json, grad.npy, u.npy, grad_sharpness.npy).
    Eval {
        #[arg(long)]
        theta: String,
        #[arg(long)]
        data: String,
        #[arg(long, default_value_t = 200)]
        n: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, value_parser = parse_layers)]
        layers: Widths,
        #[arg(long, default_value = "tanh")]
        activation: String,
        #[arg(long, default_value = "mse")]
        loss: String,
        #[arg(long, default_value = "f64")]
        precision: String,
        #[arg(long, default_value_t = 1)]
        top_k: usize,
        #[arg(long)]
        eig_tol: Option<f64>,
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cmd: Cmd) -> Result<(), selfstab::Error> {
    match cmd {
        Cmd::Run {
            config: file, model, layers, activation, loss, data, n, seed, theta0, lr, steps, search_steps,
            precision, projection_steps, gap_every, gap_threshold, eig_tol, threads, checkpoint_every, out,
        } => {
            let from_file = match &file {
                Some(p) => {
                    let text = std::fs::read_to_string(p).map_err(|e| InputError::File { path: p.clone(), msg: e.to_string() })?;
                    Some(config::parse_toml(&text, &p.display().to_string())?)
                }
                None => None,
            };
            let flags = RunConfig {
                model, layers: layers.map(|w| w.0), activation, loss, data, n, seed, theta0,
                lr: lr.map(Num::Text),
                steps, search_steps,
                precision: precision.map(Num::Text),
                projection_steps, gap_every,
                gap_threshold: gap_threshold.map(|g| match g.trim().parse::<f64>() {
                    Ok(v) => GapThreshold::Value(v),
                    Err(_) => GapThreshold::Text(g),
                }),
                eig_tol, threads, checkpoint_every, out,
                cubic: None,
            };
            let cfg = config::resolve(&config::merge(from_file, flags))?;
            let s = commands::run(&cfg)?;
            println!("{}", serde_json::to_string_pretty(&s).unwrap());
            Ok(())
        }
        Cmd::Flow {
            config: file, model, layers, activation, loss, data, n, seed, theta0, lr, steps, search_steps,
            precision, eig_tol, threads, out, substeps, smooth, form, top_k, sdcp_tol,
        } => {
            let from_file = match &file {
                Some(p) => {
                    let text = std::fs::read_to_string(p).map_err(|e| InputError::File { path: p.clone(), msg: e.to_string() })?;
                    Some(config::parse_toml(&text, &p.display().to_string())?)
                }
                None => None,
            };
            let flags = RunConfig {
                model, layers: layers.map(|w| w.0), activation, loss, data, n, seed, theta0,
                lr: lr.map(Num::Text), steps, search_steps, precision: precision.map(Num::Text),
                eig_tol, threads, out, ..RunConfig::default()
            };
            let cfg = config::resolve(&config::merge(from_file, flags))?;
            let form = match form.as_str() {
                "k" => selfstab::central_flow::Form::K,
                "one" => selfstab::central_flow::Form::One,
                other => return Err(InputError::Unknown { what: "flow form", got: other.into(), expected: "k, one" }.into()),
            };
            let args = selfstab::flow_cmd::FlowArgs { substeps, smooth, form, top_k, sdcp_tol };
            let s = selfstab::flow_cmd::flow(&cfg, &args)?;
            println!("{}", serde_json::to_string_pretty(&s).unwrap());
            Ok(())
        }
        Cmd::Verify { quick, out, src, from_log } => {
            let src = src.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
            let recs = selfstab::verify::verify_with(&src, quick, from_log.as_deref(), &out)?;
            println!("{}", selfstab::verify::markdown(&recs));
            let failed: Vec<String> = recs.iter().filter(|r| r.status == "fail").map(|r| r.id.to_string()).collect();
            if failed.is_empty() {
                eprintln!("verify: no claim fails; report in {}/verify.md and verify.json", out.display());
                Ok(())
            } else {
                Err(selfstab::EvalError::Other(format!("claims failing: {} (see {}/verify.md)", failed.join(", "), out.display())).into())
            }
        }
        Cmd::Order { claim, out, quick } => {
            let claim = selfstab::order::parse_claim(&claim)?;
            let s = selfstab::order::study(claim, quick)?;
            selfstab::order::write(&s, &out)?;
            println!("{}", selfstab::order::markdown(&s));
            Ok(())
        }
        Cmd::Export { layers, data, n, seed, out } => {
            commands::export(&layers.0, &data, n, seed, &out)?;
            println!("wrote {}/theta0.npy and {}/data.npz", out.display(), out.display());
            Ok(())
        }
        Cmd::Eval { theta, data, n, seed, layers, activation, loss, precision, top_k, eig_tol, out } => {
            let precision = Precision::parse(&precision)?;
            let v = commands::eval(&EvalArgs { theta, data, n, seed, layers: layers.0, activation, loss, precision, top_k, eig_tol, out })?;
            println!("{}", serde_json::to_string_pretty(&v).unwrap());
            Ok(())
        }
    }
}
