//! Golden snapshots of canonical runs (decisions.md §8), stored in the top-level `snapshots/`.
//!
//! Every f64 run goes through the generic scalar path (fixed summation order, the pure-Rust `libm`,
//! one thread; `Mlp::set_fast(false)`), which is bit-identical on every x86-64 machine, and prints
//! 17 significant digits (`{:.16e}`, enough to round-trip an f64). MPFR runs print state values
//! with all their digits (`to_decimal()`); the tracking `Row`s are f64 by construction and are
//! printed with 17 digits. The text is a plain fixed-format table and is compared exactly.
//!
//! Regenerate: `INSTA_UPDATE=always cargo test --test snapshots` (or `cargo insta test --review`);
//! check: `CI=true cargo test --test snapshots`.

use rug::Float;
use selfstab::data::{digits, init_params};
use selfstab::gd::find_instability;
use selfstab::models::cubic::{Cubic, CubicSpec};
use selfstab::models::mlp::{Activation, LossKind, Mlp};
use selfstab::objective::Objective;
use selfstab::reduced_map::{ReducedMap, energy, iterate};
use selfstab::scalar::Scalar;
use selfstab::sharpness::EigenOpts;
use selfstab::tracking::{self, COLUMNS, Row, TrackOpts, TrackState};
use std::fmt::Write as _;
use std::ops::ControlFlow;

const BITS: u32 = 256;

/// Assert `text` against `snapshots/<name>.snap` (top-level directory, no module prefix).
fn check(name: &str, text: &str) {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    s.bind(|| insta::assert_snapshot!(name, text));
}

/// 17 significant digits: every f64 round-trips.
fn f17(v: f64) -> String {
    format!("{v:.16e}")
}

fn is_f64<S: Scalar>(c: S::Ctx) -> bool {
    S::precision_name(c) == f64::precision_name(())
}

/// "f64" or "<bits> bits".
fn prec_label<S: Scalar>(c: S::Ctx) -> String {
    if is_f64::<S>(c) { "f64".into() } else { format!("{} bits", S::precision_name(c)) }
}

/// A scalar as text: 17 digits for f64, every digit for MPFR.
fn full<S: Scalar>(v: &S) -> String {
    if is_f64::<S>(v.ctx()) { f17(v.to_f64()) } else { v.to_decimal() }
}

/// One table line: fields left-aligned in columns of width `w`, separated by two spaces.
fn line(out: &mut String, fields: &[String], w: usize) {
    let s: Vec<String> = fields.iter().map(|f| format!("{f:<w$}")).collect();
    writeln!(out, "{}", s.join("  ").trim_end()).unwrap();
}

// ---------- 1. reduced map ----------

/// X_{t+1} = −(1 + hY_t)X_t, Y_{t+1} = Y_t + h(1 − X_t²) (reference.md §2), h = 0.05 from
/// (X₀, Y₀) = (0.1, 0), 200 steps; every 10th state with its energy H(X, Y) (reference.md §3.1).
fn reduced_map_text<S: Scalar>(c: S::Ctx) -> String {
    let map = ReducedMap::<S>::parse("0.05", "0", c).unwrap();
    let mut s = map.state(S::parse("0.1", c).unwrap(), S::zero(c)).unwrap();
    let w = if is_f64::<S>(c) { 24 } else { 84 };
    let mut out = String::new();
    writeln!(out, "# reduced map: h = 0.05, k = 0, X0 = 0.1, Y0 = 0, 200 steps, every 10th state").unwrap();
    writeln!(out, "# precision: {}", prec_label::<S>(c)).unwrap();
    line(&mut out, &["t".into(), "X".into(), "Y".into(), "H".into()], w);
    let n = iterate(&map, &mut s, 200, |t, st| {
        if t % 10 == 0 {
            let h = energy(&st.x, &st.y);
            line(&mut out, &[t.to_string(), full(&st.x), full(&st.y), full(&h)], w);
        }
        ControlFlow::Continue(())
    });
    assert_eq!(n, 200);
    out
}

#[test]
fn snapshot_reduced_map_f64() {
    check("reduced_map_f64", &reduced_map_text::<f64>(()));
}

#[test]
fn snapshot_reduced_map_mpfr256() {
    check("reduced_map_mpfr256", &reduced_map_text::<Float>(BITS));
}

// ---------- 2., 3. cubic models ----------

/// Columns of the cubic tables (a selection of [`COLUMNS`]).
const CUBIC_COLS: &[&str] = &[
    "t", "loss_gd", "loss_dagger", "sharpness_gd", "sharpness_dagger", "x", "y", "x_gd", "y_gd",
    "dist", "tracking_error", "tracking_error_gen", "proj_residual_s", "hvps",
];

/// A Row's field by column name, as text (`t`, `hvps` as integers; `-` for an absent λ₂).
fn field(r: &Row, name: &str) -> String {
    match name {
        "t" => r.t.to_string(),
        "hvps" => r.hvps.to_string(),
        "lambda2_dagger" => r.lambda2_dagger.map(f17).unwrap_or_else(|| "-".into()),
        _ => {
            let i = COLUMNS.iter().position(|c| *c == name).expect("known column");
            f17(r.values()[i])
        }
    }
}

fn track_opts<S: Scalar>(c: S::Ctx, gap_every: u64) -> TrackOpts {
    TrackOpts { projection_steps: 3, gap_every, gap_threshold: None, eig_tol: EigenOpts::default_tol::<S>(c), chain_tol: None }
}

/// Run `n` tracking steps; return the rows and the final state.
fn run<S: Scalar>(obj: &dyn Objective<S>, eta: &S, mut st: TrackState<S>, n: u64, o: &TrackOpts) -> (Vec<Row>, TrackState<S>) {
    let mut rows = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let (row, stop) = tracking::step(obj, eta, &mut st, o).unwrap();
        assert!(stop.is_none(), "canonical run stopped early: {stop:?}");
        rows.push(row);
    }
    (rows, st)
}

fn cubic_table(out: &mut String, rows: &[Row]) {
    line(out, &CUBIC_COLS.iter().map(|s| s.to_string()).collect::<Vec<_>>(), 24);
    for r in rows.iter().filter(|r| r.t % 10 == 0) {
        line(out, &CUBIC_COLS.iter().map(|c| field(r, c)).collect::<Vec<_>>(), 24);
    }
}

fn vector(out: &mut String, name: &str, v: &[impl Scalar]) {
    writeln!(out, "{name}").unwrap();
    for (i, x) in v.iter().enumerate() {
        writeln!(out, "  [{i}] {}", full(x)).unwrap();
    }
}

/// Toy-C (claims.md reference setting): η = 1, a = e₁, g = (0.01, 0.3, 0), ideal split θ†₀ = 0,
/// v₀ = (0.1δ, 0, 0, 0), 100 tracking steps; every 10th row, then θ, θ†, v after step 100.
fn cubic_exact_text<S: Scalar>(c: S::Ctx) -> String {
    let m = Cubic::<S>::new(&CubicSpec::reference("0.01", "0.3"), c).unwrap();
    let o = track_opts::<S>(c, 0);
    let z = S::zero(c);
    let x0 = m.delta() * &S::parse("0.1", c).unwrap();
    let dag0 = vec![z.clone(); 4];
    let v0 = vec![x0, z.clone(), z.clone(), z.clone()];
    let u0 = vec![S::one(c), z.clone(), z.clone(), z];
    let st = tracking::start_split(&m, m.eta(), &dag0, &v0, Some(&u0), &o).unwrap();
    let (rows, st) = run(&m, m.eta(), st, 100, &o);
    let mut out = String::new();
    writeln!(out, "# exact cubic (Toy-C): eta = 1, a = e1, g = (0.01, 0.3, 0), e = e3, ideal split, x0 = 0.1 delta").unwrap();
    writeln!(out, "# 100 tracking steps, every 10th row; precision: {}", prec_label::<S>(c)).unwrap();
    cubic_table(&mut out, &rows);
    writeln!(out, "# state after {} steps", st.t).unwrap();
    vector(&mut out, "theta", &st.theta);
    vector(&mut out, "theta_dagger", &st.dagger.theta);
    vector(&mut out, "v", &st.v);
    out
}

#[test]
fn snapshot_cubic_exact_f64() {
    check("cubic_exact_f64", &cubic_exact_text::<f64>(()));
}

#[test]
fn snapshot_cubic_exact_mpfr256() {
    check("cubic_exact_mpfr256", &cubic_exact_text::<Float>(BITS));
}

/// Toy-P: the reference setting with κ = 0.3, c₄ = 1, b = 0.5, c = 0.2, c₃ = 0.1, started with the
/// authors' initialisation θ₀ = (0.1δ, 0, 0, 0) (θ†₀ = proj_M θ₀), 100 tracking steps.
fn cubic_perturbed_text() -> String {
    let spec = CubicSpec {
        kappa: "0.3".into(),
        c4: "1".into(),
        b: "0.5".into(),
        c: "0.2".into(),
        c3: "0.1".into(),
        ..CubicSpec::reference("0.01", "0.3")
    };
    let m = Cubic::<f64>::new(&spec, ()).unwrap();
    let o = track_opts::<f64>((), 10);
    let theta0 = vec![0.1 * m.delta(), 0.0, 0.0, 0.0];
    let st = tracking::start(&m, m.eta(), &theta0, Some(&[1.0, 0.0, 0.0, 0.0]), &o).unwrap();
    let (rows, st) = run(&m, m.eta(), st, 100, &o);
    let mut out = String::new();
    writeln!(out, "# perturbed cubic (Toy-P): reference setting (alpha = 0.01, g2 = 0.3)").unwrap();
    writeln!(out, "# kappa = 0.3, c4 = 1, b = 0.5, c = 0.2, c3 = 0.1; theta0 = (0.1 delta, 0, 0, 0), theta_dagger0 = proj(theta0)").unwrap();
    writeln!(out, "# 100 tracking steps (gap every 10), every 10th row; precision: f64").unwrap();
    let mut cols = CUBIC_COLS.to_vec();
    cols.insert(cols.len() - 1, "lambda2_dagger");
    line(&mut out, &cols.iter().map(|s| s.to_string()).collect::<Vec<_>>(), 24);
    for r in rows.iter().filter(|r| r.t % 10 == 0) {
        line(&mut out, &cols.iter().map(|c| field(r, c)).collect::<Vec<_>>(), 24);
    }
    writeln!(out, "# state after {} steps", st.t).unwrap();
    vector(&mut out, "theta", &st.theta);
    vector(&mut out, "theta_dagger", &st.dagger.theta);
    vector(&mut out, "v", &st.v);
    out
}

#[test]
fn snapshot_cubic_perturbed_f64() {
    check("cubic_perturbed_f64", &cubic_perturbed_text());
}

// ---------- 4. digits MLP ----------

/// η for the MLP run: the seed-0 initialisation reaches S ≥ 2/η at GD step 98 (S(θ_init) ≈ 5.04).
const MLP_ETA: &str = "0.3";

/// 64-8-8-10 tanh MLP, MSE, digits n = 50, seed-0 `init_params`, η = 0.3, generic f64 path: the
/// instability search (cap 300), then 20 tracking steps (gap every 10), every row in long format
/// (all columns but the wall-clock `step_seconds`).
fn mlp_text() -> String {
    let layers = [64usize, 8, 8, 10];
    let ds = digits(50).unwrap();
    let mut m = Mlp::<f64>::new(&layers, Activation::Tanh, LossKind::Mse, &ds, ()).unwrap();
    m.set_fast(false);
    let eta = f64::parse(MLP_ETA, ()).unwrap();
    let theta_init = init_params(&layers, 0).unwrap();
    let tol = EigenOpts::default_tol::<f64>(());
    let inst = find_instability(&m, &eta, &theta_init, 300, tol, &mut []).unwrap();
    let o = track_opts::<f64>((), 10);
    let st = tracking::start(&m, &eta, &inst.theta, Some(&inst.u), &o).unwrap();
    let (rows, _) = run(&m, &eta, st, 20, &o);
    let mut out = String::new();
    writeln!(out, "# MLP 64-8-8-10, tanh, MSE, digits n = 50, init_params seed 0, eta = {MLP_ETA}, generic f64 path").unwrap();
    writeln!(out, "# instability search (cap 300), then 20 tracking steps (projection 3, gap every 10)").unwrap();
    writeln!(out, "instability_step  {}", inst.step).unwrap();
    writeln!(out, "sharpness_theta0  {}", f17(inst.sharpness)).unwrap();
    writeln!(out, "loss_theta0       {}", f17(inst.loss)).unwrap();
    writeln!(out, "search_hvps       {}", inst.hvps).unwrap();
    // Long format (one value per line) keeps a diff on a single named value readable.
    line(&mut out, &["t".into(), "column".into(), "value".into()], 24);
    for r in &rows {
        for c in COLUMNS.iter().filter(|c| !matches!(**c, "t" | "step_seconds")) {
            line(&mut out, &[r.t.to_string(), c.to_string(), field(r, c)], 24);
        }
    }
    out
}

#[test]
fn snapshot_mlp_digits_f64() {
    check("mlp_digits_f64", &mlp_text());
}

// ---------- determinism ----------

/// Same inputs, same text: each canonical run twice gives identical bytes.
#[test]
fn snapshot_text_is_deterministic() {
    assert_eq!(reduced_map_text::<f64>(()), reduced_map_text::<f64>(()));
    assert_eq!(reduced_map_text::<Float>(BITS), reduced_map_text::<Float>(BITS));
    assert_eq!(cubic_exact_text::<f64>(()), cubic_exact_text::<f64>(()));
    assert_eq!(cubic_exact_text::<Float>(BITS), cubic_exact_text::<Float>(BITS));
    assert_eq!(cubic_perturbed_text(), cubic_perturbed_text());
    assert_eq!(mlp_text(), mlp_text());
}

// ---------- cross-precision sanity of the f64 snapshots ----------

/// The numeric table lines of a snapshot text (those starting with a digit), without the leading
/// step column and the last `drop_last` columns.
fn table(text: &str, drop_last: usize) -> Vec<Vec<f64>> {
    text.lines()
        .filter(|l| l.starts_with(|ch: char| ch.is_ascii_digit()))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f[1..f.len() - drop_last].iter().map(|v| v.parse::<f64>().unwrap()).collect()
        })
        .collect()
}

/// max |a − b| / max(1, |b|) over two tables of the same shape.
fn max_rel(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(r, s)| {
            assert_eq!(r.len(), s.len());
            r.iter().zip(s)
        })
        .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
        .fold(0.0, f64::max)
}

/// The f64 snapshots are accurate, not only reproducible: their tables agree with the 256-bit runs
/// to within accumulated rounding. Budget: N = 200 (resp. 100) steps, each adding a few ulps, with
/// an amplification ≤ 10 over these short horizons (τ = hN = 10): N·10·eps. Measured: 9.6e-15
/// (reduced map) and 1.5e-15 (exact cubic rows, hvps column excluded: the eigen iteration counts
/// differ between precisions).
#[test]
fn snapshot_f64_tables_match_mpfr256() {
    let rm = max_rel(&table(&reduced_map_text::<f64>(()), 0), &table(&reduced_map_text::<Float>(BITS), 0));
    let cu = max_rel(&table(&cubic_exact_text::<f64>(()), 1), &table(&cubic_exact_text::<Float>(BITS), 1));
    eprintln!("f64 vs 256 bits: reduced map max rel diff = {rm:e}, exact cubic rows = {cu:e}");
    assert!(rm <= 200.0 * 10.0 * f64::EPSILON, "reduced map: {rm:e}");
    assert!(cu <= 100.0 * 10.0 * f64::EPSILON, "exact cubic: {cu:e}");
}
