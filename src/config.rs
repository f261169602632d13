//! Run configuration: a TOML file, overridden by command-line flags, resolved and validated into a
//! [`Resolved`] configuration that is written back as `config.toml` (enough to rerun the same job).
//! Defaults and parsing rules follow decisions §2–§5 (η parsed from its decimal text, the eigen
//! tolerance per precision, the eigengap threshold).

use serde::{Deserialize, Serialize};

use crate::error::InputError;
use crate::mag::Mag;
use crate::models::cubic::CubicSpec;
use crate::scalar::Precision;

/// A number given as a TOML float, integer or string; kept as decimal text so MPFR runs parse it
/// exactly (a TOML float becomes its shortest round-trip decimal form, decisions.md §2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Num {
    /// A TOML integer (tried first: an untagged f64 would also take an integer, and `precision =
    /// 128` must not become the text `128.0`).
    Int(i64),
    /// A TOML float.
    Float(f64),
    /// Decimal text.
    Text(String),
}

impl Num {
    /// The decimal text.
    pub fn text(&self) -> String {
        match self {
            Num::Float(f) => format!("{f:?}"),
            Num::Int(i) => i.to_string(),
            Num::Text(s) => s.trim().to_string(),
        }
    }
}

/// Gap threshold: a number C (stop when λ₂(θ†) ≥ C/η) or `"none"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GapThreshold {
    /// C.
    Value(f64),
    /// "none".
    Text(String),
}

/// The configuration file (every key optional; unknown keys are errors).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// `mlp`, `cubic`, `cnn` or `width1`, in any case.
    pub model: Option<String>,
    /// Widths from input to output.
    pub layers: Option<Vec<usize>>,
    /// `tanh`, `silu`, `gelu`.
    pub activation: Option<String>,
    /// `mse` or `ce`.
    pub loss: Option<String>,
    /// `digits`, `synthetic` or a path to an `.npz`.
    pub data: Option<String>,
    /// Number of samples (digits, synthetic).
    pub n: Option<usize>,
    /// Seed of the initialisation and the synthetic data.
    pub seed: Option<u64>,
    /// GD's starting parameters (`.npy`), instead of the seeded initialisation.
    pub theta0: Option<String>,
    /// Learning rate η.
    pub lr: Option<Num>,
    /// Tracking steps after θ₀.
    pub steps: Option<u64>,
    /// Cap on the GD steps of the instability search.
    pub search_steps: Option<u64>,
    /// `f64` or bits.
    pub precision: Option<Num>,
    /// Linearised projection steps.
    pub projection_steps: Option<usize>,
    /// λ₂(θ†) every this many steps.
    pub gap_every: Option<u64>,
    /// Stop at λ₂(θ†) ≥ C/η, or "none".
    pub gap_threshold: Option<GapThreshold>,
    /// Eigen tolerance (relative residual; a number, or its decimal string below f64's range, [`Mag`]).
    pub eig_tol: Option<Mag>,
    /// Tolerance of the θ† chain's early solves (`tracking::TrackOpts::chain_tol`; unset: eig_tol).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_tol: Option<Mag>,
    /// Threads for the f64 matrix products.
    pub threads: Option<usize>,
    /// Checkpoint every this many tracking steps.
    pub checkpoint_every: Option<u64>,
    /// Output directory.
    pub out: Option<String>,
    /// Constants of the cubic model (model = "cubic").
    pub cubic: Option<CubicSection>,
    /// Conv channels per stage (model = "cnn"; default \[4\]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<usize>>,
    /// Past the eigengap, continue θ† with the projection for this many eigenpairs (0/1: stop).
    pub multi: Option<usize>,
    /// Also track gradient flow from θ₀ (`gf.csv`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gf: Option<bool>,
}

/// `[cubic]`: the model constants (η comes from `lr`) plus GD's start x₀ = (x0_over_delta)·δ, w₀ = 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CubicSection {
    /// a.
    pub a: Vec<Num>,
    /// g.
    pub g: Vec<Num>,
    /// e.
    #[serde(default)]
    pub e: Vec<Num>,
    /// κ.
    pub kappa: Option<Num>,
    /// c₄.
    pub c4: Option<Num>,
    /// b.
    pub b: Option<Num>,
    /// c.
    pub c: Option<Num>,
    /// c₃.
    pub c3: Option<Num>,
    /// x₀ as a multiple of δ (default 0.1).
    pub x0_over_delta: Option<Num>,
}

/// The fully resolved configuration of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resolved {
    /// `mlp`, `cubic`, `cnn` or `width1`.
    pub model: String,
    /// Widths (mlp).
    pub layers: Vec<usize>,
    /// Activation (mlp, cnn, width1).
    pub activation: String,
    /// Loss (mlp, cnn; width1 takes only mse).
    pub loss: String,
    /// Data source (`digits`, `synthetic`, `width1` or an `.npz` file; not read by cubic).
    pub data: String,
    /// Samples (of a built-in data set).
    pub n: usize,
    /// Seed.
    pub seed: u64,
    /// GD's starting parameters file, or "" for the seeded initialisation.
    pub theta0: String,
    /// η as decimal text.
    pub lr: String,
    /// Tracking steps.
    pub steps: u64,
    /// Instability search cap.
    pub search_steps: u64,
    /// `f64` or bits.
    pub precision: String,
    /// Projection steps.
    pub projection_steps: usize,
    /// Gap check interval.
    pub gap_every: u64,
    /// Gap threshold C or "none".
    pub gap_threshold: String,
    /// Eigen tolerance.
    pub eig_tol: Mag,
    /// Early-solve tolerance of the θ† chain (None: eig_tol).
    #[serde(default)]
    pub chain_tol: Option<Mag>,
    /// Threads.
    pub threads: usize,
    /// Checkpoint interval.
    pub checkpoint_every: u64,
    /// Output directory.
    pub out: String,
    /// Cubic model constants (model = "cubic").
    pub cubic: Option<CubicSpec>,
    /// x₀/δ for the cubic model.
    pub x0_over_delta: String,
    /// Conv channels (model = "cnn"; empty otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<usize>,
    /// Eigenpairs of the k-eigenvalue continuation past the eigengap (0: off; theory/README.md).
    #[serde(default)]
    pub multi: usize,
    /// Track gradient flow from θ₀ alongside (`gf.csv`; [`crate::gd::GradientFlow`]).
    #[serde(default)]
    pub gf: bool,
}

/// The reference initial parameters of the default net (claims 23–27), built in.
pub const REFERENCE_THETA0: &str = "builtin:mlp_64-16-16-10";

/// GD's start when no θ₀ is named (`run`, `flow`, `sgd`): the reference θ₀ of the default net, or
/// the seeded initialisation ("") once the network or the seed of its initialisation is named (a
/// `--seed` sweep used to give one run, from the reference θ₀, for every seed).
pub fn unnamed_theta0(names_net_or_seed: bool) -> String {
    if names_net_or_seed { String::new() } else { REFERENCE_THETA0.into() }
}

/// The built-in default job: the digits MLP of claims 23–27 (64-16-16-10, tanh, MSE, n = 256) from
/// the reference initial parameters (built in as `builtin:mlp_64-16-16-10`), η = 0.2667: GD becomes
/// unstable at step 95, then 500 tracking steps show the first spike and GD hovering at 2/η.
pub fn default_config() -> RunConfig {
    RunConfig {
        model: Some("mlp".into()),
        layers: Some(vec![64, 16, 16, 10]),
        activation: Some("tanh".into()),
        loss: Some("mse".into()),
        data: Some("digits".into()),
        n: Some(256),
        seed: Some(0),
        theta0: Some(REFERENCE_THETA0.into()),
        lr: Some(Num::Text("0.2667".into())),
        steps: Some(500),
        ..RunConfig::default()
    }
}

/// Merge the default job, a config file and the flags. The default's built-in θ belongs to the
/// default job: when the file or the flags name the model, the widths or the seed without naming
/// θ₀, GD starts from the seeded initialisation instead.
pub fn merge(file: Option<RunConfig>, flags: RunConfig) -> RunConfig {
    let file = file.unwrap_or_default();
    // The reference θ₀ is the default job's start only ([`unnamed_theta0`]).
    let other_net = [&file, &flags].iter().any(|c| c.layers.is_some() || c.model.is_some() || c.seed.is_some());
    let names_theta = file.theta0.is_some() || flags.theta0.is_some();
    let mut base = default_config();
    if !names_theta {
        base.theta0 = Some(unnamed_theta0(other_net));
    }
    let names_data = file.data.is_some() || flags.data.is_some();
    let mut merged = overlay(overlay(base, file), flags);
    merged.model = merged.model.as_deref().map(model_name);
    // The width-1 model generates its own data set (from n and seed): that is its default data.
    if merged.model.as_deref() == Some("width1") && !names_data {
        merged.data = Some("width1".into());
    }
    merged
}

/// Built-in GD starting points: the reference initial parameters of claims 23–27 (numpy's
/// `default_rng(0)`, see `tests/data/README.md`).
pub fn builtin_theta(name: &str) -> Option<&'static [u8]> {
    match name {
        "mlp_64-16-16-10" => Some(include_bytes!("../tests/data/mlp_64-16-16-10_theta_init.npy")),
        "mlp_64-32-10" => Some(include_bytes!("../tests/data/mlp_64-32-10_theta_init.npy")),
        "mlp_64-12-10" => Some(include_bytes!("../tests/data/mlp_64-12-10_theta_init.npy")),
        _ => None,
    }
}

/// `--layers` lists at least two widths, all positive.
pub fn check_layers(layers: &[usize]) -> Result<(), InputError> {
    if layers.len() < 2 || layers.contains(&0) {
        return Err(bad("layers", format!("needs at least two widths, all > 0, got {layers:?}")));
    }
    let p = crate::models::mlp::checked_param_count(layers);
    match p {
        Some(p) if p <= MAX_PARAMS => Ok(()),
        _ => Err(bad(
            "layers",
            format!(
                "{layers:?} has {} parameters, more than the {MAX_PARAMS} the engine takes (it keeps tens of vectors of length p)",
                p.map_or_else(|| "over 2^64".to_string(), |p| p.to_string())
            ),
        )),
    }
}

/// Largest parameter count of an MLP (`--layers`): 1e8 parameters are 0.8 GB per vector, and a
/// run keeps tens of them.
pub const MAX_PARAMS: usize = 100_000_000;

/// The fields on which two JSON objects (a saved job's settings and this job's) differ, as
/// `key = saved (now: value)` joined by commas, leaving out the keys `ignored`; `otherwise` when
/// none is found or either is not an object. The refusal messages of saved work (run's and flow's
/// checkpoints, sgd's finished batch sizes) name what changed with it.
pub fn json_differences(saved: &serde_json::Value, now: &serde_json::Value, ignored: &[&str], otherwise: &str) -> String {
    let (serde_json::Value::Object(saved), serde_json::Value::Object(now)) = (saved, now) else {
        return otherwise.into();
    };
    let null = serde_json::Value::Null;
    let mut keys: Vec<&String> = saved.keys().chain(now.keys()).collect();
    keys.sort();
    keys.dedup();
    let diffs: Vec<String> = keys
        .into_iter()
        .filter(|k| !ignored.contains(&k.as_str()))
        .filter_map(|k| {
            let (a, b) = (saved.get(k).unwrap_or(&null), now.get(k).unwrap_or(&null));
            (a != b).then(|| format!("{k} = {a} (now: {b})"))
        })
        .collect();
    if diffs.is_empty() { otherwise.into() } else { diffs.join(", ") }
}

/// 64-bit FNV-1a of `bytes` (the digest of input files checkpoints compare).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// [`fnv1a`] of the file a `--data` or `--theta0` value names, or None for the built-in names
/// (`digits`, `synthetic`, `width1`, `builtin:…`, empty) and anything that is not a file.
pub fn file_digest(name: &str) -> Result<Option<u64>, InputError> {
    let builtin = matches!(name, "" | "digits" | "synthetic" | "width1") || name.starts_with("builtin:");
    if builtin || !std::path::Path::new(name).is_file() {
        return Ok(None);
    }
    let bytes = crate::npy::read_input(std::path::Path::new(name))?;
    Ok(Some(fnv1a(&bytes)))
}

/// The eigen tolerance given (a relative residual in (0, 1)), or `default` when none is.
pub fn eig_tol_or(given: Option<Mag>, prec: Precision) -> Result<Mag, InputError> {
    // A solve's relative residual stops near the rounding level: f64 at 1e-16 ran 5000 HVPs and
    // failed, 128 bits at 1e-50 ran 291 s and failed. 32ε (7.1e-15 in f64) is refused below.
    let floor = match prec {
        Precision::F64 => Mag::new(32.0 * f64::EPSILON),
        Precision::Bits(b) => Mag::pow2(6 - b as i64),
    };
    match given {
        Some(t) if t.is_finite() && t >= floor && t < 1.0 => Ok(t),
        Some(t) if t.is_finite() && t > 0.0 && t < floor => {
            let at = match prec {
                Precision::F64 => "f64".to_string(),
                Precision::Bits(b) => format!("{b} bits"),
            };
            Err(bad("eig_tol", format!("{t:e} is below what a solve at {at} can reach: it must be ≥ 32ε = {floor:.2e} (default {:e})", crate::sharpness::EigenOpts::default_tol_of(prec))))
        }
        Some(t) => Err(bad("eig_tol", format!("must be in [32ε, 1) = [{floor:.2e}, 1), got {t}"))),
        None => Ok(crate::sharpness::EigenOpts::default_tol_of(prec)),
    }
}

fn bad(key: &str, msg: impl Into<String>) -> InputError {
    InputError::Value { key: key.into(), msg: msg.into() }
}

/// Parse a TOML config text; unknown keys and wrong types are one-line errors naming the key.
pub fn parse_toml(text: &str, path: &str) -> Result<RunConfig, InputError> {
    toml::from_str::<RunConfig>(text).map_err(|e| {
        let msg = e.message().replace('\n', " ");
        // The numbers' untagged type names itself in serde's words: say what is expected instead.
        let msg = if msg.contains("untagged enum Num") { "expected a number (integer, float or decimal text)".to_string() } else { msg };
        // Name the line (and so the key) the error is on: serde's type errors do not name the key.
        let at = e
            .span()
            .and_then(|r| {
                let line = text.get(..r.start)?.matches('\n').count();
                Some(format!(" at line {} (`{}`)", line + 1, text.lines().nth(line)?.trim()))
            })
            .unwrap_or_default();
        InputError::File { path: path.into(), msg: format!("invalid configuration{at}: {msg}") }
    })
}

/// Overlay `top` on `base` (keys set in `top` win).
pub fn overlay(base: RunConfig, top: RunConfig) -> RunConfig {
    macro_rules! pick {
        ($($f:ident),*) => { RunConfig { $($f: top.$f.or(base.$f)),* } };
    }
    pick!(model, layers, activation, loss, data, n, seed, theta0, lr, steps, search_steps, precision,
        projection_steps, gap_every, gap_threshold, eig_tol, chain_tol, threads, checkpoint_every, out, cubic,
        channels, multi, gf)
}

/// Whether the decimal `text` is > 0 though it parses to 0 in f64 (below f64's range, `1e-400`):
/// decided exactly, in MPFR.
pub fn positive_below_f64(text: &str) -> bool {
    text.trim().parse::<f64>().is_ok_and(|v| v == 0.0) && rug::Float::parse(text.trim()).is_ok_and(|x| rug::Float::with_val(64, x) > 0)
}

/// A model name as the engine spells it: model names are read in any case (`MLP`, `Cnn`), as
/// activations and losses are.
pub fn model_name(name: &str) -> String {
    name.trim().to_ascii_lowercase()
}

/// Validate and fill defaults.
pub fn resolve(cfg: &RunConfig) -> Result<Resolved, InputError> {
    let model = model_name(cfg.model.as_deref().unwrap_or("mlp"));
    if model != "mlp" && model != "cubic" && !crate::models::build::is_extra(&model) {
        return Err(InputError::Unknown { what: "model", got: model, expected: "mlp, cubic, cnn, width1" });
    }
    let lr = cfg.lr.as_ref().map(Num::text).unwrap_or_else(|| "0.2297".into());
    match lr.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && (2.0 / v).is_finite() => {}
        // Positive but too small for the f64 threshold 2/η: a tiny f64, or a decimal below f64's
        // range (1e-400), which parses to 0.
        Ok(v) if (v.is_finite() && v > 0.0) || (v == 0.0 && positive_below_f64(&lr)) => {
            return Err(bad("lr", format!("`{lr}` is so small that the threshold 2/η overflows")));
        }
        Ok(_) => return Err(InputError::LearningRate(lr)),
        Err(_) => return Err(bad("lr", format!("`{lr}` is not a decimal number (the learning rate η, e.g. 0.25 or 2.5e-1)"))),
    }
    let precision = cfg.precision.as_ref().map(Num::text).unwrap_or_else(|| "f64".into());
    let prec = Precision::parse(&precision)?;
    let layers = cfg.layers.clone().unwrap_or_else(|| vec![64, 32, 32, 32, 10]);
    if model == "mlp" {
        check_layers(&layers)?;
        crate::models::mlp::Activation::parse(cfg.activation.as_deref().unwrap_or("tanh"))?;
        crate::models::mlp::LossKind::parse(cfg.loss.as_deref().unwrap_or("mse"))?;
    }
    let n = cfg.n.unwrap_or(200);
    if n == 0 {
        return Err(bad("n", "must be ≥ 1"));
    }
    let mut data = cfg.data.clone().unwrap_or_else(|| "digits".into());
    let mut channels = cfg.channels.clone().unwrap_or_default();
    if crate::models::build::is_extra(&model) {
        crate::models::build::validate(&crate::models::build::ModelArgs {
            model: &model,
            channels: &channels,
            activation: cfg.activation.as_deref().unwrap_or("tanh"),
            loss: cfg.loss.as_deref().unwrap_or("mse"),
            data: &data,
            n,
            seed: 0,
            theta0: "",
        })?;
        if model == "cnn" && channels.is_empty() {
            channels = crate::models::build::DEFAULT_CHANNELS.to_vec();
        }
        if model == "width1" {
            data = "width1".into();
        }
    } else if !channels.is_empty() {
        return Err(bad("channels", format!("only the cnn model has channels (model is `{model}`)")));
    }
    if model == "cubic" && cfg.data.as_deref().is_some_and(|d| d != "digits") {
        return Err(bad("data", "the cubic model has no data (its loss is the closed-form polynomial of the [cubic] table); leave --data out"));
    }
    let gap_threshold = match &cfg.gap_threshold {
        None => "1.9".to_string(),
        Some(GapThreshold::Value(v)) if v.is_finite() && *v > 0.0 => format!("{v:?}"),
        Some(GapThreshold::Text(t)) if t.trim().eq_ignore_ascii_case("none") => "none".into(),
        Some(GapThreshold::Text(t)) if t.trim().parse::<f64>().is_ok_and(|v| v.is_finite() && v > 0.0) => t.trim().into(),
        Some(GapThreshold::Value(v)) => return Err(bad("gap_threshold", format!("must be a number > 0 or `none`, got {v}"))),
        Some(GapThreshold::Text(t)) => return Err(bad("gap_threshold", format!("must be a number > 0 or `none`, got `{t}`"))),
    };
    let eig_tol = eig_tol_or(cfg.eig_tol, prec)?;
    let chain_tol = match cfg.chain_tol {
        None => None,
        Some(t) if t.is_finite() && t >= eig_tol && t <= 1e-3 => Some(t),
        Some(t) => return Err(bad("chain_tol", format!("must be in [eig_tol, 1e-3] = [{eig_tol:e}, 1e-3], got {t:e}"))),
    };
    let projection_steps = cfg.projection_steps.unwrap_or(3);
    if projection_steps == 0 || projection_steps > 100 {
        return Err(bad("projection_steps", format!("must be in 1..=100, got {projection_steps}")));
    }
    let threads = cfg.threads.unwrap_or_else(crate::linalg::default_threads);
    if threads == 0 || threads > 256 {
        return Err(bad("threads", format!("must be in 1..=256, got {threads}")));
    }
    let (cubic, x0_over_delta) = match (&model[..], &cfg.cubic) {
        ("cubic", Some(sec)) => {
            let t = |v: &Option<Num>| v.as_ref().map(Num::text).unwrap_or_else(|| "0".into());
            let spec = CubicSpec {
                eta: lr.clone(),
                a: sec.a.iter().map(Num::text).collect(),
                g: sec.g.iter().map(Num::text).collect(),
                e: sec.e.iter().map(Num::text).collect(),
                kappa: t(&sec.kappa),
                c4: t(&sec.c4),
                b: t(&sec.b),
                c: t(&sec.c),
                c3: t(&sec.c3),
            };
            crate::models::cubic::Cubic::<f64>::new(&spec, ())?;
            let x0 = sec.x0_over_delta.as_ref().map(Num::text).unwrap_or_else(|| "0.1".into());
            (Some(spec), x0)
        }
        ("cubic", None) => {
            let mut spec = CubicSpec::reference("0.01", "0.3");
            spec.eta = lr.clone();
            crate::models::cubic::Cubic::<f64>::new(&spec, ())?;
            (Some(spec), "0.1".into())
        }
        (_, Some(_)) => return Err(bad("cubic", format!("only the cubic model takes a [cubic] table (model is `{model}`)"))),
        _ => (None, "0.1".into()),
    };
    let multi = cfg.multi.unwrap_or(0);
    if multi > 16 {
        return Err(bad("multi", format!("must be in 0..=16 eigenpairs, got {multi}")));
    }
    if multi >= 2 && gap_threshold == "none" {
        return Err(bad("multi", "switches to the k-eigenvalue projection at the eigengap stop, which `gap_threshold = none` disables: give a numeric gap threshold"));
    }
    let gap_every = cfg.gap_every.unwrap_or(50);
    if gap_every == 0 {
        return Err(bad("gap_every", "must be ≥ 1 (λ₂(θ†) is what the eigengap stop and --multi watch)"));
    }
    if cfg.checkpoint_every == Some(0) {
        return Err(bad("checkpoint_every", "must be ≥ 1"));
    }
    if cfg.out.as_deref().is_some_and(|o| o.trim().is_empty()) {
        return Err(bad("out", "must name a directory (an empty name would write into the current directory); use `.` for that"));
    }
    if multi > 0 && chain_tol.is_some() {
        return Err(bad("chain_tol", "applies to the single-eigenvalue θ† chain; the multi tracking solves every projection step at eig_tol"));
    }
    Ok(Resolved {
        multi,
        gf: cfg.gf.unwrap_or(false),
        model,
        layers,
        activation: cfg.activation.clone().unwrap_or_else(|| "tanh".into()),
        loss: cfg.loss.clone().unwrap_or_else(|| "mse".into()),
        data,
        n,
        seed: cfg.seed.unwrap_or(0),
        theta0: cfg.theta0.clone().unwrap_or_default(),
        lr,
        steps: cfg.steps.unwrap_or(500),
        search_steps: cfg.search_steps.unwrap_or(20_000),
        precision: prec.to_string(),
        projection_steps,
        gap_every,
        gap_threshold,
        eig_tol,
        chain_tol,
        threads,
        checkpoint_every: cfg.checkpoint_every.unwrap_or(10),
        out: cfg.out.clone().unwrap_or_else(|| "out".into()),
        cubic,
        x0_over_delta,
        channels,
    })
}

impl Resolved {
    /// The configuration file that reruns this job (`config.toml`): every key explicit.
    pub fn to_run_config(&self) -> RunConfig {
        let t = |s: &String| Some(Num::Text(s.clone()));
        RunConfig {
            model: Some(self.model.clone()),
            layers: Some(self.layers.clone()),
            activation: Some(self.activation.clone()),
            loss: Some(self.loss.clone()),
            data: Some(self.data.clone()),
            n: Some(self.n),
            seed: Some(self.seed),
            theta0: if self.theta0.is_empty() { None } else { Some(self.theta0.clone()) },
            lr: t(&self.lr),
            steps: Some(self.steps),
            search_steps: Some(self.search_steps),
            precision: t(&self.precision),
            projection_steps: Some(self.projection_steps),
            gap_every: Some(self.gap_every),
            gap_threshold: Some(GapThreshold::Text(self.gap_threshold.clone())),
            eig_tol: Some(self.eig_tol),
            chain_tol: self.chain_tol,
            threads: Some(self.threads),
            checkpoint_every: Some(self.checkpoint_every),
            out: Some(self.out.clone()),
            multi: if self.multi == 0 { None } else { Some(self.multi) },
            gf: self.gf.then_some(true),
            cubic: self.cubic.as_ref().map(|s| {
                let v = |xs: &Vec<String>| xs.iter().map(|x| Num::Text(x.clone())).collect();
                CubicSection {
                    a: v(&s.a),
                    g: v(&s.g),
                    e: v(&s.e),
                    kappa: t(&s.kappa),
                    c4: t(&s.c4),
                    b: t(&s.b),
                    c: t(&s.c),
                    c3: t(&s.c3),
                    x0_over_delta: t(&self.x0_over_delta),
                }
            }),
            channels: if self.channels.is_empty() { None } else { Some(self.channels.clone()) },
        }
    }
}

impl Resolved {
    /// Whether `other` is the same job: equal in everything but the thread count (one and two
    /// threads give the same bits, so a checkpoint resumes with either), the output directory's
    /// spelling (`out`, `./out/`: the checkpoint is found in it) and the checkpoint cadence.
    pub fn same_job(&self, other: &Resolved) -> bool {
        Resolved { threads: self.threads, out: self.out.clone(), checkpoint_every: self.checkpoint_every, ..other.clone() } == *self
    }

    /// [`Resolved::same_job`] up to the number of tracking steps (a run resumes with more steps,
    /// or fewer while the checkpoint has not passed them: the steps only end the loop).
    pub fn same_job_but_steps(&self, other: &Resolved) -> bool {
        self.same_job(&Resolved { steps: self.steps, ..other.clone() })
    }

    /// The keys on which `self` (a saved job) and `now` differ as jobs, `key = saved (now: value)`,
    /// for a message: the keys [`Resolved::same_job`] ignores are left out, and so are `also_ignored`
    /// (`run` ignores `steps`).
    pub fn differences(&self, now: &Resolved, also_ignored: &[&str]) -> String {
        let ignored: Vec<&str> = ["threads", "out", "checkpoint_every"].into_iter().chain(also_ignored.iter().copied()).collect();
        match (serde_json::to_value(self), serde_json::to_value(now)) {
            (Ok(saved), Ok(now)) => json_differences(&saved, &now, &ignored, "its configuration differs"),
            _ => "its configuration differs".into(),
        }
    }

    /// A digest of the contents of the input files the job reads (a `--data` file and a
    /// `--theta0` file; the built-in names read none): a checkpoint resumes only with the same
    /// contents, not merely the same paths. 64-bit FNV-1a per file, as hex; "" when no file is read.
    pub fn input_digest(&self) -> Result<String, InputError> {
        let mut parts = Vec::new();
        for (key, name) in [("data", &self.data), ("theta0", &self.theta0)] {
            if let Some(h) = file_digest(name)? {
                parts.push(format!("{key}:{h:016x}"));
            }
        }
        Ok(parts.join(" "))
    }

    /// The arguments of a model beyond MLPs (`cnn`, `width1`; see [`crate::models::build`]).
    pub fn model_args(&self) -> crate::models::build::ModelArgs<'_> {
        crate::models::build::ModelArgs {
            model: &self.model,
            channels: &self.channels,
            activation: &self.activation,
            loss: &self.loss,
            data: &self.data,
            n: self.n,
            seed: self.seed,
            theta0: &self.theta0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tolerances below 32ε of the precision are refused naming the floor; the floor itself and the
    /// defaults pass.
    #[test]
    fn an_eigen_tolerance_below_the_rounding_level_is_refused() {
        let e = eig_tol_or(Some(Mag::new(1e-16)), Precision::F64).unwrap_err().to_string();
        assert!(e.contains("eig_tol") && e.contains("7.11e-15") && e.contains("f64"), "{e}");
        assert_eq!(eig_tol_or(Some(Mag::new(32.0 * f64::EPSILON)), Precision::F64).unwrap(), 32.0 * f64::EPSILON);
        assert!(eig_tol_or(Some(Mag::new(1e-50)), Precision::Bits(128)).unwrap_err().to_string().contains("1.88e-37"));
        assert_eq!(eig_tol_or(Some(Mag::new(1e-100)), Precision::Bits(512)).unwrap(), 1e-100);
        assert_eq!(eig_tol_or(None, Precision::Bits(256)).unwrap(), libm::ldexp(1.0, -240));
        assert!(eig_tol_or(Some(Mag::ZERO), Precision::F64).unwrap_err().to_string().contains("[7.11e-15, 1)"));
        assert!(eig_tol_or(Some(Mag::new(1e-50)), Precision::Bits(128)).unwrap_err().to_string().contains("at 128 bits"));
    }

    /// η is read as decimal text: one below f64's range (positive, parsing to 0) is refused as too
    /// small for the f64 threshold 2/η, not as "not > 0" (found by the MPFR audit); 0 and negatives
    /// keep their message.
    #[test]
    fn a_learning_rate_below_the_f64_range_is_refused_as_too_small() {
        let with = |lr: &str| resolve(&merge(None, RunConfig { lr: Some(Num::Text(lr.into())), ..RunConfig::default() }));
        for tiny in ["1e-400", "1e-320"] {
            let e = with(tiny).unwrap_err().to_string();
            assert!(e.contains("so small that the threshold 2/η overflows") && e.contains(tiny), "{tiny}: {e}");
        }
        for bad in ["0", "-0.1", "0e0"] {
            let e = with(bad).unwrap_err().to_string();
            assert!(!e.contains("overflows"), "{bad}: {e}");
        }
        assert!(with("0.3").is_ok());
    }

    /// The integer keys' ranges, at both ends: the last value inside passes, the first outside is
    /// refused naming the key (mutation audit round 2: `projection_steps` up to 101 passed every test).
    #[test]
    fn integer_keys_are_refused_just_outside_their_ranges() {
        let with = |c: RunConfig| resolve(&merge(None, c)).map(|_| ()).map_err(|e| e.to_string());
        let d = RunConfig::default;
        for (ok, bad, key) in [
            (RunConfig { projection_steps: Some(100), ..d() }, RunConfig { projection_steps: Some(101), ..d() }, "projection_steps"),
            (RunConfig { projection_steps: Some(1), ..d() }, RunConfig { projection_steps: Some(0), ..d() }, "projection_steps"),
            (RunConfig { threads: Some(256), ..d() }, RunConfig { threads: Some(257), ..d() }, "threads"),
            (RunConfig { threads: Some(1), ..d() }, RunConfig { threads: Some(0), ..d() }, "threads"),
            (RunConfig { multi: Some(16), ..d() }, RunConfig { multi: Some(17), ..d() }, "multi"),
            (RunConfig { gap_every: Some(1), ..d() }, RunConfig { gap_every: Some(0), ..d() }, "gap_every"),
            (RunConfig { checkpoint_every: Some(1), ..d() }, RunConfig { checkpoint_every: Some(0), ..d() }, "checkpoint_every"),
        ] {
            assert_eq!(with(ok), Ok(()), "{key}: the last value inside its range");
            let e = with(bad).unwrap_err();
            assert!(e.contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn only_the_default_job_starts_from_the_reference_theta() {
        // Naming the seed, the widths or the model (by flag or file) without θ₀ starts from the
        // seeded initialisation: a --seed sweep used to run the reference θ₀ for every seed.
        let theta0 = |file: Option<RunConfig>, flags: RunConfig| resolve(&merge(file, flags)).unwrap().theta0;
        assert_eq!(theta0(None, RunConfig::default()), "builtin:mlp_64-16-16-10");
        for named in [
            RunConfig { seed: Some(7), ..RunConfig::default() },
            RunConfig { seed: Some(0), ..RunConfig::default() },
            RunConfig { layers: Some(vec![64, 16, 16, 10]), ..RunConfig::default() },
            RunConfig { model: Some("mlp".into()), ..RunConfig::default() },
        ] {
            assert_eq!(theta0(None, named.clone()), "", "{named:?}");
            assert_eq!(theta0(Some(named.clone()), RunConfig::default()), "", "in a file: {named:?}");
        }
        let th = RunConfig { seed: Some(7), theta0: Some("builtin:mlp_64-16-16-10".into()), ..RunConfig::default() };
        assert_eq!(theta0(None, th), "builtin:mlp_64-16-16-10");
    }

    #[test]
    fn differences_name_the_keys_that_differ() {
        // A refused checkpoint's message lists the keys of the job that differ, except those the
        // job ignores (run: steps; every job: threads, out, checkpoint_every).
        let saved = resolve(&merge(None, RunConfig::default())).unwrap();
        let now = Resolved { lr: "0.3".into(), steps: 900, threads: 7, ..saved.clone() };
        assert_eq!(saved.differences(&now, &["steps"]), r#"lr = "0.2667" (now: "0.3")"#);
        assert_eq!(saved.differences(&now, &[]), r#"lr = "0.2667" (now: "0.3"), steps = 500 (now: 900)"#);
        let only_steps = Resolved { steps: 900, ..saved.clone() };
        assert_eq!(saved.differences(&only_steps, &[]), "steps = 500 (now: 900)");
    }

    #[test]
    fn the_width1_model_defaults_to_its_own_data() {
        let data = |flags: RunConfig| resolve(&merge(None, flags)).map(|r| r.data);
        assert_eq!(data(RunConfig { model: Some("width1".into()), ..RunConfig::default() }).unwrap(), "width1");
        let named = RunConfig { model: Some("width1".into()), data: Some("digits".into()), ..RunConfig::default() };
        let e = data(named).unwrap_err().to_string();
        assert!(e.contains("width-1 model generates its own data") && e.contains("`digits`"), "{e}");
    }

    #[test]
    fn toml_integers_and_floats_keep_their_decimal_text() {
        // An integer is an integer: `precision = 128` used to become the text `128.0` and be refused.
        let c = parse_toml("precision = 128\nlr = 0.25\n", "t.toml").unwrap();
        assert_eq!(c.precision.as_ref().map(Num::text).as_deref(), Some("128"));
        assert_eq!(c.lr.as_ref().map(Num::text).as_deref(), Some("0.25"));
        assert_eq!(resolve(&c).unwrap().precision, "128");
        let c = parse_toml("lr = 1\nprecision = \"f64\"\n", "t.toml").unwrap();
        assert_eq!(c.lr.as_ref().map(Num::text).as_deref(), Some("1"));
        assert_eq!(resolve(&c).unwrap().precision, "f64");
    }

    #[test]
    fn model_names_are_read_in_any_case() {
        let model = |m: &str| resolve(&merge(None, RunConfig { model: Some(m.into()), ..RunConfig::default() })).map(|r| r.model);
        assert_eq!(model("MLP").unwrap(), "mlp");
        assert_eq!(model(" Cubic ").unwrap(), "cubic");
        assert_eq!(model("WIDTH1").unwrap(), "width1");
        assert!(model("mlpx").unwrap_err().to_string().contains("unknown model `mlpx`"));
        // A config file's name too (its data default follows the model).
        assert_eq!(resolve(&RunConfig { model: Some("Cubic".into()), ..RunConfig::default() }).unwrap().model, "cubic");
    }

    #[test]
    fn toml_type_error_names_the_line_and_key() {
        let e = parse_toml("lr = 0.25\nsteps = \"20\"\n", "t.toml").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("steps = \"20\""), "{e}");
    }
}
