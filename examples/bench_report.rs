//! Issue 7's report from a `cargo bench --bench engine` run: reads criterion's estimates
//! (`<criterion dir>/**/new/{benchmark,estimates}.json`) and the facts the bench records beside them
//! (`bench_facts.json`: each configuration's analytic FLOPs, each solver row's HVPs, faer 1024³'s
//! best-of-5 GFLOP/s) and prints, as markdown:
//!
//! - every f64 row of tiny / medium / large / xl: criterion's median time, the achieved GFLOP/s
//!   (analytic FLOPs, `Flops` in benches/engine.rs; benches/RESULTS.md "What bounds the tracking step"), the fraction of the same run's faer products
//!   of the forward shapes, for loss+grad, HVP and ∇S also the fraction of faer's time for the
//!   primitive's own products (the bench's `faer_{row}_products`: the same shapes, layouts and
//!   shards), and where `theory/reference/perf-reference.md` has a JAX figure: JAX scaled by decisions.md §7
//!   (÷ faer 1024³ GFLOP/s ÷ 43.7 one thread, ÷ 86.7 two threads), the ratio JAX ÷ ours, the
//!   target (2× JAX, or §7's cap of 85 % of faer's throughput on the forward shapes where 2× asks
//!   more; 3× for the tracking step) and whether this run meets it, and for the primitives the
//!   target with §7's cap read on their own products instead (85 % of faer's speed on them);
//!   the tracking-step rows the same from the step's objective work at their HVP count
//!   ([`STEP_EVALS`]): its GFLOP/s, faer's time for its products, and 3× JAX with the cap read on
//!   those products as the second target (the first, 3× JAX, is not capped);
//! - issue 7's other targets: loss+grad and HVP of large and xl ≥ 50 % of faer, HVP ≤ 2× and
//!   ∇S ≤ 3× loss+grad (at an unchanged θ and at a new θ), ≤ 12 HVPs per warm solve on average
//!   along a GD trajectory (the `eigen_trail_gd` facts: 30 GD iterates from the bench point),
//!   two threads ≥ 1.7× one on xl, and at 256 bits each primitive's fraction of the bare in-place
//!   multiply-add loop (≥ 1/3), a new θ's n·Σhidden tanh counted at their measured multiply-add
//!   equivalents (decisions.md §7) and the products alone shown beside; the solver rows (warm
//!   solve, projection step, tracking step) by their counted multiply-adds and tanh
//!   (`selfstab::scalar::count_mpfr_ops`, the facts' `mpfr_ops`);
//! - the two-thread rows against issue 7's own JAX table (two threads on the Xeon kind), unscaled:
//!   a direct comparison on that machine kind, beside (not instead of) the §7 verdicts.
//!
//! A row or target whose bench did not run is left out (or marked "not run"). The §7 scale needs
//! the `faer1024` group; without it JAX's times are shown unscaled, and the report says so.
//! criterion keeps each row's latest result, so a directory can hold rows of several runs. The
//! report splits the results into runs at every pause of more than five minutes between the
//! estimates' file times, lists the runs, states each group's, and warns where a group's rows and
//! the `faer1024` rows that set the §7 factor come from different runs.
//!
//! ```text
//! SELFSTAB_BENCH_CONFIGS=tiny,medium,large,faer1024,reftol cargo bench --bench engine
//! cargo run --release --example bench_report [-- CRITERION_DIR]
//! ```
//!
//! The criterion directory is the argument, else `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`,
//! else the package's `target/criterion` (where criterion itself writes; `support/criterion_dir.rs`,
//! shared with the bench).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

#[path = "support/criterion_dir.rs"]
mod criterion_dir;

/// `theory/reference/perf-reference.md`, JAX 0.10.2 float64 on the 2-core AMD EPYC (ms): loss+grad, HVP, ∇S,
/// warm eigen solve (tol 1e-9), projection step, full tracking step; one and two threads.
const JAX: [(&str, usize, [f64; 6]); 6] = [
    ("tiny", 1, [0.327, 0.523, 0.81, 9.16, 11.8, 35.7]),
    ("tiny", 2, [0.303, 0.498, 0.80, 11.3, 12.9, 47.0]),
    ("medium", 1, [1.41, 3.21, 4.70, 67.7, 62.0, 216.0]),
    ("medium", 2, [2.52, 4.46, 7.89, 68.0, 55.4, 168.0]),
    ("large", 1, [4.90, 10.9, 17.4, 279.0, 274.0, 989.0]),
    ("large", 2, [3.73, 7.17, 15.8, 135.0, 139.0, 545.0]),
];
/// Issue 7's own JAX table: two threads on a 2-core AVX-512 Xeon (decisions.md §7), ms: loss+grad,
/// HVP, ∇S, warm eigen solve (tol 1e-9), full tracking step. Reported unscaled beside the §7 verdicts.
const ISSUE_JAX: [(&str, [f64; 5]); 3] = [
    ("tiny", [0.34, 0.43, 0.58, 13.0, 51.0]),
    ("medium", [1.29, 2.36, 4.03, 45.0, 175.0]),
    ("large", [3.68, 5.58, 8.42, 125.0, 483.0]),
];
/// decisions.md §7: faer 1024³ GFLOP/s of the machine the JAX figures were taken on.
const JAX_FAER: [f64; 2] = [43.7, 86.7];

/// One criterion result: median time in ms, the throughput it was given (elements), if any, and
/// when it was written (Unix seconds, the estimates file's modification time).
struct Est {
    ms: f64,
    elements: Option<f64>,
    at: u64,
}

/// A pause longer than this (seconds) between consecutive results separates two runs (within a
/// run the longest pause is a bench point's search, under a minute).
const RUN_GAP: u64 = 300;

/// `secs` (Unix time) as `YYYY-MM-DD HH:MM` UTC (the civil-from-days algorithm of H. Hinnant).
fn utc(secs: u64) -> String {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", rem / 3600, rem % 3600 / 60)
}

/// The runs in `est`: first and last write time of each, in time order, split at pauses longer
/// than [`RUN_GAP`].
fn runs(est: &BTreeMap<String, Est>) -> Vec<(u64, u64)> {
    let mut times: Vec<u64> = est.values().map(|e| e.at).collect();
    times.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for t in times {
        match out.last_mut() {
            Some(last) if t - last.1 <= RUN_GAP => last.1 = t,
            _ => out.push((t, t)),
        }
    }
    out
}

/// The runs (1-based indices into `runs`) of the results whose id starts with `prefix`.
fn runs_of(est: &BTreeMap<String, Est>, runs: &[(u64, u64)], prefix: &str) -> Vec<usize> {
    let mut ix: Vec<usize> = est
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .filter_map(|(_, e)| runs.iter().position(|r| r.0 <= e.at && e.at <= r.1).map(|i| i + 1))
        .collect();
    ix.sort_unstable();
    ix.dedup();
    ix
}

fn fmt_runs(ix: &[usize]) -> String {
    ix.iter().map(|i| format!("run {i}")).collect::<Vec<_>>().join(", ")
}

fn fmt_span((a, b): (u64, u64)) -> String {
    let (sa, sb) = (utc(a), utc(b));
    if sa[..10] == sb[..10] { format!("{sa}–{} UTC", &sb[11..]) } else { format!("{sa} – {sb} UTC") }
}

/// The directory to read: the argument, else where the bench writes ([`criterion_dir::criterion_dir`]).
fn results_dir() -> PathBuf {
    std::env::args().nth(1).map_or_else(criterion_dir::criterion_dir, PathBuf::from)
}

fn read_json(path: &Path) -> Result<Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{} is not valid JSON: {e}", path.display()))
}

/// Every `new/benchmark.json` under `dir` with its `new/estimates.json`, keyed by criterion's full id.
fn load(dir: &Path, out: &mut BTreeMap<String, Est>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for e in entries.flatten() {
        let path = e.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            let (bench, est) = (path.join("benchmark.json"), path.join("estimates.json"));
            if !bench.exists() || !est.exists() {
                continue;
            }
            let b = read_json(&bench)?;
            let s = read_json(&est)?;
            let id = b["full_id"].as_str().ok_or_else(|| format!("{}: no full_id", bench.display()))?;
            let ns = s["median"]["point_estimate"].as_f64().ok_or_else(|| format!("{}: no median", est.display()))?;
            let elements = b["throughput"]["Elements"].as_f64();
            let at = std::fs::metadata(&est)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            out.insert(id.to_string(), Est { ms: ns * 1e-6, elements, at });
        } else {
            load(&path, out)?;
        }
    }
    Ok(())
}

/// The report's inputs.
struct Run {
    est: BTreeMap<String, Est>,
    facts: serde_json::Map<String, Value>,
    /// §7 factors (one, two threads) and how each was obtained.
    scale: [(f64, String); 2],
    /// The runs the results come from ([`runs`]).
    runs: Vec<(u64, u64)>,
}

impl Run {
    fn ms(&self, id: &str) -> Option<f64> {
        self.est.get(id).map(|e| e.ms)
    }
    /// Analytic FLOPs of a row kind of configuration `cfg` (from `bench_facts.json`).
    fn flops(&self, cfg: &str, kind: &str) -> Option<f64> {
        self.facts.get(&format!("config/{cfg}"))?["flops"][kind].as_f64()
    }
    fn hvps(&self, function_id: &str) -> Option<u64> {
        self.facts.get(function_id)?["hvps"].as_u64()
    }
    /// Time of a faer reference row (`faer_forward_shapes`, `faer_{row}_products`) measured with
    /// `label`'s thread count: the label's own row, else for one thread (the default group of large
    /// and xl has none) the `-1t` group's.
    fn reference_ms(&self, cfg: &str, label: &str, row: &str) -> Option<f64> {
        let own = self.ms(&format!("{cfg}/{label}/{row}"));
        own.or_else(|| if threads_of(label) == 1 { self.ms(&format!("{cfg}/{cfg}-f64-1t/{row}")) } else { None })
    }
    /// GFLOP/s of the faer forward-shape products ([`Run::reference_ms`]).
    fn faer_gflops(&self, cfg: &str, label: &str) -> Option<f64> {
        Some(self.flops(cfg, "forward")? / self.reference_ms(cfg, label, "faer_forward_shapes")? * 1e-6)
    }
    /// Time of faer's products of `row` as the MLP issues them ([`Run::reference_ms`]).
    fn own_products_ms(&self, cfg: &str, label: &str, row: &str) -> Option<f64> {
        self.reference_ms(cfg, label, &format!("faer_{row}_products"))
    }
    /// A tracking step's objective work as [`STEP_EVALS`] counts it, with `h` HVPs: each part's
    /// FLOPs (or, with `own`, its faer products' time from `label`'s `faer_{row}_products`
    /// rows; the surplus of a first HVP at a new θ at the HVP products' rate), summed.
    fn step_cost(&self, cfg: &str, label: &str, h: u64, own: bool) -> Option<f64> {
        let part = |kind: &str| {
            let fl = self.flops(cfg, kind)?;
            if !own {
                return Some(fl);
            }
            let of = if kind == "hvp_new_theta" { "hvp" } else { kind };
            Some(fl * self.own_products_ms(cfg, label, of)? / self.flops(cfg, of)?)
        };
        let (hvp, hvp_new, d3, lg) = (part("hvp")?, part("hvp_new_theta")?, part("grad_s_d3_sym")?, part("loss_grad")?);
        let [points, chain] = STEP_EVALS;
        Some(h as f64 * hvp + points * (hvp_new - hvp) + chain * d3 + points * lg)
    }
}

/// What a tracking step evaluates besides its h HVPs (`selfstab::tracking::step`, decisions.md §7):
/// loss and gradient, and a first HVP at a new θ, at its five points (θ_t and the θ† chain's
/// centre and three projection steps), and ∇S at the chain's four. benches/RESULTS.md "What
/// bounds the tracking step" (eleventh run) derives the step's FLOPs from it.
const STEP_EVALS: [f64; 2] = [5.0, 4.0];

fn threads_of(label: &str) -> usize {
    if label.ends_with("-2t") { 2 } else { 1 }
}

/// The JAX column of a row (index into [`JAX`]'s arrays), by the row's name without its suffix.
fn jax_index(row: &str) -> Option<usize> {
    let base = row.trim_end_matches("_reftol_chain").trim_end_matches("_reftol");
    match base {
        "loss_grad" => Some(0),
        // At an unchanged θ (as inside a solve) and at a new θ (recomputing the θ-only blocks, as
        // JAX's standalone HVP does): both readings get a verdict (README "How the targets are read").
        "hvp" | "hvp_new_theta" => Some(1),
        "grad_s_d3_sym" | "grad_s_d3_sym_new_theta" => Some(2),
        "eigen_warm" => Some(3),
        "lin_proj" => Some(4),
        "tracking_step" => Some(5),
        _ => None,
    }
}

fn fmt_ms(ms: f64) -> String {
    if ms >= 100.0 { format!("{ms:.1}") } else if ms >= 1.0 { format!("{ms:.2}") } else { format!("{ms:.3}") }
}

const ROWS: [&str; 21] = [
    "loss_grad",
    "hvp",
    "grad_s_d3_sym",
    "hvp_new_theta",
    "grad_s_d3_sym_new_theta",
    "eigen_warm",
    "eigen_warm_reftol",
    "eigen_trail",
    "eigen_trail_reftol",
    "lin_proj",
    "lin_proj_reftol",
    "tracking_step",
    "tracking_step_reftol",
    "tracking_step_reftol_chain",
    "tracking_step_steady",
    "tracking_step_steady_reftol",
    "tracking_step_steady_reftol_chain",
    "faer_forward_shapes",
    "faer_loss_grad_products",
    "faer_hvp_products",
    "faer_grad_s_d3_sym_products",
];

/// The table of one configuration and label; returns the (row, met) verdicts of its targets.
fn table(run: &Run, cfg: &str, label: &str, verdicts: &mut Vec<String>) {
    let t = threads_of(label);
    let faer = run.faer_gflops(cfg, label);
    let jax = JAX.iter().find(|(c, th, _)| *c == cfg && *th == t).map(|j| j.2);
    let rows: Vec<&str> = ROWS.iter().copied().filter(|r| run.est.contains_key(&format!("{cfg}/{label}/{r}"))).collect();
    if rows.is_empty() {
        return;
    }
    println!("\n### {label} ({t} thread{})\n", if t == 1 { "" } else { "s" });
    let mine = runs_of(&run.est, &run.runs, &format!("{cfg}/{label}/"));
    print!("Measured in {}.", fmt_runs(&mine));
    let scaled_by = runs_of(&run.est, &run.runs, "faer1024/");
    if jax.is_some() && !scaled_by.is_empty() && mine != scaled_by {
        print!(" **The §7 factor comes from {}**: the JAX column is scaled for that run's host load.", fmt_runs(&scaled_by));
    }
    println!("\n");
    match faer {
        Some(g) => println!("faer forward shapes in this group: {g:.1} GFLOP/s.\n"),
        None => println!("no faer forward-shape row for this group: no throughput fractions.\n"),
    }
    println!("| row | ms | HVPs | GFLOP/s | % of faer | % of own products | JAX ms (§7) | JAX ÷ ours | target ms | met | target, cap on own products | met |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        let id = format!("{cfg}/{label}/{row}");
        let ms = run.ms(&id).expect("row present");
        let kind = match row.strip_prefix("faer_").and_then(|r| r.strip_suffix("_products")) {
            Some(primitive) => primitive,
            None if row == "faer_forward_shapes" => "forward",
            None => row,
        };
        // A tracking step: its FLOPs and faer's time for its products from its HVP count.
        let step_hvps = run.hvps(&format!("{label}/{row}")).filter(|_| row.starts_with("tracking_step"));
        let fl = match step_hvps {
            Some(h) => run.step_cost(cfg, label, h, false),
            None => run.flops(cfg, kind),
        };
        let gf = fl.map(|f| f / ms * 1e-6);
        let pct = gf.zip(faer).map(|(g, f)| format!("{:.0} %", 100.0 * g / f)).unwrap_or_default();
        let hv = run.hvps(&format!("{label}/{row}")).map(|h| h.to_string()).unwrap_or_default();
        // faer's products of this primitive as the MLP issues them (the bench's `faer_{row}_products`).
        let own = match step_hvps {
            Some(h) => run.step_cost(cfg, label, h, true),
            None => run.own_products_ms(cfg, label, row),
        };
        let ocol = own.map(|o| format!("{:.0} %", 100.0 * o / ms)).unwrap_or_default();
        let (mut jcol, mut rcol, mut tcol, mut mcol) = (String::new(), String::new(), String::new(), String::new());
        let (mut ot_col, mut om_col) = (String::new(), String::new());
        let steady = row.starts_with("tracking_step_steady");
        if let (Some(j), Some(k)) = (jax, jax_index(if steady { "tracking_step" } else { row })) {
            let jms = j[k] / run.scale[t - 1].0;
            let ratio = jms / ms;
            jcol = fmt_ms(jms);
            rcol = format!("{ratio:.2}");
            if !steady {
                // §7: 2× JAX, capped at 85 % of faer's throughput for the primitives; 3× for a step.
                let need = if k == 5 { 3.0 } else { 2.0 };
                let mut target = jms / need;
                if k <= 2
                    && let (Some(f), Some(g)) = (fl, faer)
                {
                    target = target.max(f / (0.85 * g) * 1e-6);
                }
                let met = ms <= target;
                tcol = fmt_ms(target);
                mcol = if met { "yes".into() } else { format!("no ({:.0} %)", 100.0 * target / ms) };
                let mut line = format!("{label}/{row}: {} ({} ms against {} ms)", if met { "met" } else { "not met" }, fmt_ms(ms), tcol);
                // The other reading of §7's "the same shapes": the primitive's own products; for
                // the tracking step, the cap read on its products (3× JAX or 85 % of faer's speed
                // on them, whichever asks less).
                if let Some(o) = own.filter(|_| k <= 2 || k == 5) {
                    let t2 = (jms / need).max(o / 0.85);
                    let met2 = ms <= t2;
                    ot_col = fmt_ms(t2);
                    om_col = if met2 { "yes".into() } else { format!("no ({:.0} %)", 100.0 * t2 / ms) };
                    line += &format!("; with the cap on its own products: {} ({} ms)", if met2 { "met" } else { "not met" }, ot_col);
                }
                verdicts.push(line);
            }
        }
        let gcol = gf.map(|g| format!("{g:.1}")).unwrap_or_default();
        println!("| {row} | {} | {hv} | {gcol} | {pct} | {ocol} | {jcol} | {rcol} | {tcol} | {mcol} | {ot_col} | {om_col} |", fmt_ms(ms));
    }
}

fn main() {
    let dir = results_dir();
    let mut est = BTreeMap::new();
    if let Err(e) = load(&dir, &mut est) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    if est.is_empty() {
        eprintln!("error: no criterion results under {} (run `cargo bench --bench engine` first)", dir.display());
        std::process::exit(1);
    }
    let facts_path = dir.join("bench_facts.json");
    let facts = match read_json(&facts_path) {
        Ok(Value::Object(m)) => m,
        Ok(_) => {
            eprintln!("error: {} is not a JSON object", facts_path.display());
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("warning: {e}; FLOP rates and HVP counts need it (written by the bench since this report exists)");
            Default::default()
        }
    };
    let scale = [1usize, 2].map(|t| {
        let best = facts.get(&format!("faer1024/gemm_{t}t")).and_then(|v| v["best_of_5_gflops"].as_f64());
        let median = est.get(&format!("faer1024/gemm_{t}t")).map(|e| 2.0 * 1024f64.powi(3) / e.ms * 1e-6);
        match (best, median) {
            (Some(b), Some(m)) => (b / JAX_FAER[t - 1], format!("faer 1024³ best of 5 {b:.1} GFLOP/s (criterion median {m:.1}) ÷ {}", JAX_FAER[t - 1])),
            (None, Some(m)) => (m / JAX_FAER[t - 1], format!("faer 1024³ criterion median {m:.1} GFLOP/s ÷ {}", JAX_FAER[t - 1])),
            _ => (1.0, "no faer1024 row: JAX's times unscaled (run with SELFSTAB_BENCH_CONFIGS=…,faer1024)".to_string()),
        }
    });
    let runs = runs(&est);
    let run = Run { est, facts, scale, runs };
    println!("# Issue 7 report: {}", dir.display());
    println!("\nResults by run (criterion keeps each row's latest; runs split at pauses over {} min):\n", RUN_GAP / 60);
    for (i, &r) in run.runs.iter().enumerate() {
        let n = run.est.values().filter(|e| r.0 <= e.at && e.at <= r.1).count();
        println!("- run {}: {}, {n} results", i + 1, fmt_span(r));
    }
    println!("\nJAX = `theory/reference/perf-reference.md` ÷ the decisions.md §7 factor: one thread {:.3} ({}), two threads {:.3} ({}).", run.scale[0].0, run.scale[0].1, run.scale[1].0, run.scale[1].1);
    let mut verdicts = Vec::new();
    let configs = ["tiny", "medium", "large", "xl"];
    for cfg in configs {
        let labels = [format!("{cfg}-f64"), format!("{cfg}-f64-1t"), format!("{cfg}-f64-2t")];
        if labels.iter().all(|l| !run.est.keys().any(|k| k.starts_with(&format!("{cfg}/{l}/")))) {
            continue;
        }
        println!("\n## {cfg}");
        if let Some(c) = run.facts.get(&format!("config/{cfg}")) {
            println!("\nlayers {}, n = {}, p = {}, η = {}", c["layers"], c["n"], c["p"], c["eta"].as_str().unwrap_or("?"));
        }
        for l in &labels {
            table(&run, cfg, l, &mut verdicts);
        }
    }
    println!("\n## Issue 7's targets in this run\n");
    println!("Against JAX (2× for each primitive with §7's cap, 3× for the tracking step):\n");
    for v in &verdicts {
        println!("- {v}");
    }
    other_targets(&run);
    issue_table(&run);
}

/// Our two-thread rows against issue 7's own JAX table ([`ISSUE_JAX`]), unscaled: that table was
/// taken with two threads on the Xeon kind, so on such a host it is a direct comparison; elsewhere
/// (and for the verdicts) §7's scaled reference above is the one that counts.
fn issue_table(run: &Run) {
    /// Row, column of [`ISSUE_JAX`], the speed-up the issue asks (2× a primitive or the solve, 3× the step).
    const ISSUE_ROWS: [(&str, usize, f64); 8] = [
        ("loss_grad", 0, 2.0),
        ("hvp", 1, 2.0),
        ("grad_s_d3_sym", 2, 2.0),
        ("hvp_new_theta", 1, 2.0),
        ("grad_s_d3_sym_new_theta", 2, 2.0),
        ("eigen_warm_reftol", 3, 2.0),
        ("tracking_step_reftol", 4, 3.0),
        ("tracking_step", 4, 3.0),
    ];
    let id = |cfg: &str, row: &str| format!("{cfg}/{cfg}-f64-2t/{row}");
    if !ISSUE_JAX.iter().any(|(cfg, _)| ISSUE_ROWS.iter().any(|(row, _, _)| run.ms(&id(cfg, row)).is_some())) {
        return;
    }
    println!("\n## Against the issue's own JAX table (two threads, unscaled)\n");
    println!("Issue 7's table was taken with two threads on a 2-core AVX-512 Xeon: on that machine kind it");
    println!("compares directly with the `-2t` rows; on other hosts it is not comparable. Not a verdict (the");
    println!("§7 targets above are). `_reftol` rows solve at the reference's 1e-9, `tracking_step` at the");
    println!("default 1e-10. Each cell: ours in ms (the issue's ms ÷ ours; the issue asks 2× of the primitives");
    println!("and the solve, 3× of the tracking step).\n");
    println!("| row | {} |", ISSUE_JAX.map(|(c, _)| c).join(" | "));
    println!("|---|{}", "---|".repeat(ISSUE_JAX.len()));
    for (row, k, goal) in ISSUE_ROWS {
        let cells: Vec<String> = ISSUE_JAX
            .iter()
            .map(|(cfg, jax)| match run.ms(&id(cfg, row)) {
                Some(ms) => {
                    let r = jax[k] / ms;
                    format!("{} ({r:.2}×, {} {goal}×)", fmt_ms(ms), if r >= goal { "≥" } else { "<" })
                }
                None => "not run".to_string(),
            })
            .collect();
        println!("| {row} | {} |", cells.join(" | "));
    }
}

/// The targets that are not ratios to JAX.
fn other_targets(run: &Run) {
    println!("\nThroughput, ratios between primitives, warm solves, threads, MPFR:\n");
    for cfg in ["large", "xl"] {
        for label in [format!("{cfg}-f64-1t"), format!("{cfg}-f64")] {
            let Some(faer) = run.faer_gflops(cfg, &label) else { continue };
            for row in ["loss_grad", "hvp"] {
                if let (Some(ms), Some(fl)) = (run.ms(&format!("{cfg}/{label}/{row}")), run.flops(cfg, row)) {
                    let pct = 100.0 * fl / ms * 1e-6 / faer;
                    println!("- {label}/{row} at {pct:.0} % of faer (target ≥ 50 %): {}", if pct >= 50.0 { "met" } else { "not met" });
                }
            }
        }
    }
    // Each label once (the `precision` group holds micro's labels too; the rows read are the
    // configuration's own group's).
    let labels: std::collections::BTreeSet<String> = run
        .est
        .keys()
        .filter_map(|k| k.strip_suffix("/loss_grad").and_then(|s| s.split_once('/')).map(|(_, l)| l.to_string()))
        .collect();
    for label in &labels {
        let cfg = label.split('-').next().unwrap_or_default();
        let get = |row: &str| run.ms(&format!("{cfg}/{label}/{row}"));
        // The FLOP ratios the targets compare against (∇S ÷ loss+grad exceeds 3 from medium on).
        let flop_ratio = |kind: &str| {
            run.flops(cfg, kind).zip(run.flops(cfg, "loss_grad")).map(|(a, b)| format!("; FLOP ratio {:.2}", a / b)).unwrap_or_default()
        };
        // At an unchanged θ (the rows inside a solve), then at a new θ for every call.
        for (suffix, at) in [("", "unchanged θ"), ("_new_theta", "new θ")] {
            let (hr, dr) = (format!("hvp{suffix}"), format!("grad_s_d3_sym{suffix}"));
            if let (Some(lg), Some(h), Some(d)) = (get("loss_grad"), get(&hr), get(&dr)) {
                let (rh, rd) = (h / lg, d / lg);
                println!(
                    "- {label}, {at}: HVP {rh:.2}× loss+grad (≤ 2: {}{}), ∇S {rd:.2}× (≤ 3: {}{})",
                    if rh <= 2.0 { "met" } else { "not met" },
                    flop_ratio(&hr),
                    if rd <= 3.0 { "met" } else { "not met" },
                    flop_ratio(&dr)
                );
            }
        }
    }
    for (id, f) in &run.facts {
        if id.contains("/eigen_trail_gd")
            && let Some(m) = f["hvps_mean"].as_f64()
        {
            println!(
                "- {id}: {m:.2} HVPs per solve on average (max {}) over the {} GD iterates from the bench point, tol {} (target ≤ 12 on average along a GD trajectory): {}",
                f["hvps_max"],
                f["steps"],
                f["tol"],
                if m <= 12.0 { "met" } else { "not met" }
            );
        } else if id.contains("/eigen_trail")
            && let Some(h) = f["hvps"].as_u64()
        {
            println!("- {id}: {h} HVPs at tol {} for the one solve at the bench point (the average is the `eigen_trail_gd` line)", f["tol"]);
        }
    }
    for cfg in ["tiny", "medium", "large", "xl"] {
        let one = format!("{cfg}/{cfg}-f64-1t");
        let two = format!("{cfg}/{cfg}-f64-2t");
        let Some(f) = run.ms(&format!("{one}/faer_forward_shapes")).zip(run.ms(&format!("{two}/faer_forward_shapes"))).map(|(a, b)| a / b) else {
            continue;
        };
        for row in ["loss_grad", "hvp", "grad_s_d3_sym"] {
            if let (Some(a), Some(b)) = (run.ms(&format!("{one}/{row}")), run.ms(&format!("{two}/{row}"))) {
                let s = a / b;
                // The issue's 1.7× on xl; decisions.md §7's reading (≥ 0.85 of faer's own speed-up) beside it.
                let own = format!("{:.2} of faer's own", s / f);
                let goal = if cfg == "xl" { format!("target ≥ 1.7: {}; {own} (§7: ≥ 0.85)", if s >= 1.7 { "met" } else { "not met" }) } else { own };
                println!("- {cfg} {row}: two threads {s:.2}× one (faer's forward shapes {f:.2}×; {goal})");
            }
        }
    }
    // 256 bits: a primitive's multiply-adds (its throughput) at the bare loop's cost per
    // multiply-add, against its time. The bare loop runs on one thread: a two-thread row is held
    // against two such loops, one per thread.
    for (id, e) in &run.est {
        let mut parts = id.split('/');
        let (Some(group), Some(label)) = (parts.next(), parts.next()) else { continue };
        let Some((_, bits)) = label.split_once("-mpfr") else { continue };
        let (bits, loops) = match bits.strip_suffix("-2t") {
            Some(b) => (b, 2.0),
            None => (bits, 1.0),
        };
        let bare = run.est.get(&format!("{group}/rug{bits}/muladd_x1000"));
        let (Some(all), Some(bare)) = (e.elements, bare) else { continue };
        let of = if loops > 1.0 { "two bare multiply-add loops (one per thread)" } else { "the bare multiply-add loop" };
        let cfg = label.split("-mpfr").next().unwrap_or_default();
        let row = parts.next().unwrap_or_default();
        let tanh_eq = run.est.get(&format!("{group}/rug{bits}/tanh_x1000")).map(|t| t.ms / bare.ms);
        // What the row's throughput counts, and its tanh (decisions.md §7: activations at their
        // measured multiply-add equivalents). A solver row's operations are counted
        // (`selfstab::scalar::count_mpfr_ops`: the throughput, tanh in its fact); a primitive's
        // products are analytic, with n·Σ hidden widths tanh when it runs a forward pass at a new
        // θ (loss+grad, `…_new_theta`) and none at an unchanged θ (its activation derivatives reused).
        // Facts are keyed `{label}/{row}`, or by group where labels repeat across groups (`precision`).
        let fact = run.facts.get(&format!("{group}/{label}/{row}")).or_else(|| run.facts.get(&format!("{label}/{row}")));
        let counted = fact.and_then(|f| Some((f["mpfr_ops"]["tanh"].as_f64()?, f["hvps"].as_u64(), f["mpfr_ops"]["zero_operand"].as_f64())));
        // A counted row is credited with its multiply-adds at full cost: those with a zero operand
        // (MPFR returns early on them) are left out, so the fraction is a lower bound.
        let muladds = all - counted.and_then(|c| c.2).unwrap_or(0.0);
        // The fraction of the bare loop(s) that `work` multiply-adds' time is of the row's time.
        let of_bare = |work: f64| work * bare.ms / 1000.0 / e.ms / loops;
        let frac = of_bare(muladds);
        let (what, k) = match counted {
            Some((k, hvps, zero)) => {
                let zero = zero.map(|z| format!(", {:.2} M more with a zero operand left out", z / 1e6)).unwrap_or_default();
                let hvps = hvps.map(|h| format!("; {h} HVPs")).unwrap_or_default();
                (format!("its {:.2} M multiply-adds (counted{zero}{hvps})", muladds / 1e6), Some(k))
            }
            None if row == "loss_grad" || row.ends_with("_new_theta") => {
                // n·Σ hidden widths tanh per forward pass.
                let tanh = run.facts.get(&format!("config/{cfg}")).and_then(|c| {
                    let layers: Vec<u64> = c["layers"].as_array()?.iter().filter_map(Value::as_u64).collect();
                    let hidden: u64 = layers.get(1..layers.len().checked_sub(1)?)?.iter().sum();
                    Some((c["n"].as_u64()? * hidden) as f64)
                });
                ("its products".to_string(), tanh)
            }
            None => ("its products (no tanh: an unchanged θ reuses its activation derivatives)".to_string(), Some(0.0)),
        };
        let (f, detail) = match (k, tanh_eq) {
            (Some(0.0), _) => (frac, what),
            (Some(k), Some(q)) => (
                of_bare(muladds + k * q),
                format!("{what} and {k:.0} tanh at {q:.0} multiply-adds each (decisions §7; without the tanh {:.0} %)", 100.0 * frac),
            ),
            _ => (frac, format!("{what} alone (no tanh row to count its activations)")),
        };
        let verdict = if f >= 1.0 / 3.0 { "met" } else { "not met" };
        println!("- {id}: {:.0} % of {of}, counting {detail} (target ≥ 33 %): {verdict}", 100.0 * f);
    }
    // `track256`: the same tracking step in f64 and at 256 bits.
    if let (Some(a), Some(b)) = (run.ms("track256/micro-f64/tracking_step"), run.ms("track256/micro-mpfr256/tracking_step")) {
        println!("- micro's first tracking step: f64 {a:.2} ms, 256 bits {:.2} s ({:.0}× f64)", b / 1e3, b / a);
    }
}
