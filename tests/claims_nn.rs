//! Claims 23–27 (group E of claims.md) on the digits MLPs: first n = 256 rows of digits, tanh, MSE,
//! f64 fast path, initial parameters vendored from `../shared/data/*_theta_init.npy` (decisions.md §2).
//!
//! Time axis: `t` counts tracking steps from the unstable iterate θ₀ (GD step = 95 + t), as in
//! claims.md (GD's first peak "at step 123" is t = 123: GD step 218).
//!
//! The default tests share one instability search, one 80-step tracking run and one 700-step GD run
//! (S every step); together ≈ 40 s of CPU. The full horizons are `#[ignore]`d:
//! `cargo test --test claims_nn -- --ignored full_horizon --nocapture` (≈ 2–4 min on 2 shared cores).
//!
//! Bands: before GD's first spike (t ≲ 115) a 1-ulp perturbation of θ₀ keeps ≥ 6 digits, so the claim's
//! numbers are tested at the precision they are stated with; after it numbers differ between f64
//! implementations by 0.1–5% (claims.md, group E), so bands there are at least 5% (or the claim's own
//! range under 1-ulp perturbations).
#![allow(clippy::disallowed_methods)] // test code may use std's libm (clippy.toml: library code may not)

mod common;

use std::sync::OnceLock;
use std::ops::ControlFlow;

use selfstab::data;
use selfstab::gd::{find_instability, gd_step};
use selfstab::mag::Mag;
use selfstab::models::mlp::{Activation, LossKind, Mlp};
use selfstab::npy::read_npy_f64;
use selfstab::objective::Objective;
use selfstab::reduced_map::{ReducedMap, iterate};
use selfstab::sharpness::{EigenOpts, center, top_eigen_subspace};
use selfstab::tracking::{self, Row, TrackOpts};

/// η of claims 24–27 (2/η = 7.49906).
const ETA: f64 = 0.2667;
/// Eigen tolerance (relative residual, decisions.md §5 default).
const TOL: f64 = 1e-10;
/// Tracking steps of the shared default run (covers the prediction's spike at t ≈ 63–72).
const T_TRACK: u64 = 80;
/// GD steps of the shared default GD run (covers claim 25's window 200–700).
const T_GD: u64 = 700;

/// The digits MLP with the given widths and its vendored initial parameters.
fn net(layers: &[usize]) -> (Mlp<f64>, Vec<f64>) {
    let ds = data::digits(256).unwrap();
    let m = Mlp::<f64>::new(layers, Activation::Tanh, LossKind::Mse, &ds, ()).unwrap();
    let name = layers.iter().map(|w| w.to_string()).collect::<Vec<_>>().join("-");
    let path = format!("{}/tests/data/mlp_{name}_theta_init.npy", env!("CARGO_MANIFEST_DIR"));
    let (th, shape) = read_npy_f64(&path).unwrap();
    assert_eq!(shape, vec![m.dim()], "{path}: shape {shape:?}, expected [{}]", m.dim());
    (m, th)
}

fn opts(k: usize) -> TrackOpts {
    TrackOpts { projection_steps: k, gap_every: 50, gap_threshold: None, eig_tol: Mag::new(TOL), chain_tol: None }
}

/// θ₀ of the 64-16-16-10 net at η = 0.2667 and what was run from it.
struct Eos {
    m: Mlp<f64>,
    step: u64,
    s0: f64,
    l0: f64,
    theta0: Vec<f64>,
    u0: Vec<f64>,
}

fn eos() -> &'static Eos {
    static EOS: OnceLock<Eos> = OnceLock::new();
    EOS.get_or_init(|| {
        let (m, th) = net(&[64, 16, 16, 10]);
        let ins = find_instability(&m, &ETA, &th, 10_000, Mag::new(TOL), &mut []).unwrap();
        Eos { step: ins.step, s0: ins.sharpness, l0: ins.loss, theta0: ins.theta, u0: ins.u, m }
    })
}

/// Tracking rows t = 0..=n from θ₀ with k projection steps (`--gap-threshold none`, decisions §9).
fn track(n: u64, k: usize) -> Vec<Row> {
    let e = eos();
    let o = opts(k);
    let mut st = tracking::start(&e.m, &ETA, &e.theta0, Some(&e.u0), &o).unwrap();
    let mut rows = Vec::with_capacity(n as usize + 1);
    for _ in 0..=n {
        let (row, stop) = tracking::step(&e.m, &ETA, &mut st, &o).unwrap();
        assert!(stop.is_none(), "tracking stopped at t = {}: {stop:?}", row.t);
        rows.push(row);
    }
    rows
}

/// The 700-step run of the ignored full-horizon tests (shared when they run together).
fn track_long() -> &'static [Row] {
    static ROWS: OnceLock<Vec<Row>> = OnceLock::new();
    ROWS.get_or_init(|| track(700, 3))
}

fn track_short() -> &'static [Row] {
    static ROWS: OnceLock<Vec<Row>> = OnceLock::new();
    ROWS.get_or_init(|| track(T_TRACK, 3))
}

/// GD from θ₀: (L(θ_t), S(θ_t)) for t = 0..=n (S every step, warm-started).
fn gd_run(m: &Mlp<f64>, theta: &[f64], eta: f64, n: u64, every: u64) -> Vec<(u64, f64, f64)> {
    let eo = EigenOpts { tol: Mag::new(TOL), ..EigenOpts::top::<f64>(1, ()) };
    let mut th = theta.to_vec();
    let mut g = vec![0.0; m.dim()];
    let mut warm: Vec<Vec<f64>> = vec![];
    let mut out = vec![];
    for t in 0..=n {
        if t % every == 0 {
            let e = top_eigen_subspace(m, &th, &warm, &eo).unwrap();
            warm = std::iter::once(e.vectors[0].clone()).chain(e.next_ritz.iter().cloned()).collect();
            out.push((t, m.value(&th).unwrap(), e.values[0]));
        }
        gd_step(m, &eta, &mut th, &mut g).unwrap();
    }
    out
}

fn gd_eos() -> &'static [(u64, f64, f64)] {
    static RUN: OnceLock<Vec<(u64, f64, f64)>> = OnceLock::new();
    RUN.get_or_init(|| gd_run(&eos().m, &eos().theta0, ETA, T_GD, 1))
}

fn argmax(xs: impl Iterator<Item = (u64, f64)>) -> (u64, f64) {
    xs.fold((0, f64::NEG_INFINITY), |b, (t, v)| if v > b.1 { (t, v) } else { b })
}

fn increases(xs: &[f64]) -> usize {
    xs.windows(2).filter(|w| w[1] > w[0]).count()
}

// ---------- the engine against the reference implementation ----------

#[test]
fn instability_of_the_digits_net_matches_the_reference() {
    // claims.md (setting of 23–27): step 95, S(θ₀) = 7.50809, L = 0.107133 (6 digits). Before the
    // first spike GD keeps ≥ 6 digits under 1-ulp perturbations, so 6 digits are testable.
    let e = eos();
    eprintln!("instability: step {}, S = {:.9}, L = {:.9}", e.step, e.s0, e.l0);
    assert_eq!(e.step, 95);
    assert!((e.s0 - 7.50809).abs() <= 5e-6, "S(θ₀) = {}", e.s0);
    assert!((e.l0 - 0.107133).abs() <= 5e-7, "L(θ₀) = {}", e.l0);
    assert!(e.s0 >= 2.0 / ETA);
}

// ---------- claim 23: progressive sharpening at η = 0.05 ----------

/// S every 10 steps to t = 1000 on the three nets (η = 0.05): ≈ 10 s.
fn sharpening(layers: &[usize], n: u64, every: u64) -> Vec<(u64, f64)> {
    let (m, th) = net(layers);
    gd_run(&m, &th, 0.05, n, every).into_iter().map(|(t, _, s)| (t, s)).collect()
}

#[test]
fn claim_23_sharpening_dip_and_rise_to_t1000() {
    let s = sharpening(&[64, 16, 16, 10], 1000, 10);
    let (tmin, smin) = s.iter().filter(|r| r.0 <= 300).fold((0, f64::INFINITY), |b, &(t, v)| if v < b.1 { (t, v) } else { b });
    let s1000 = s.last().unwrap().1;
    eprintln!("claim 23 (64-16-16-10): S(0) = {:.4}, min {:.4} at t = {tmin}, S(1000) = {:.4}", s[0].1, smin, s1000);
    // Stated to 3 digits (4.90 → 4.62 near t ≈ 60); no EoS here, so no rounding band is needed.
    assert!((s[0].1 - 4.90).abs() <= 0.005, "S(0) = {}", s[0].1);
    assert!((smin - 4.62).abs() <= 0.005 && (40..=80).contains(&tmin), "dip {smin} at t = {tmin}");
    // The rise: S increases at every 50-step check from t = 200 to 1000, and reaches > 9 on the way to
    // the peak 9.52 at t ≈ 1700 (full horizon: the ignored test), never near 2/η = 40.
    let checks: Vec<f64> = s.iter().filter(|r| r.0 >= 200 && r.0 % 50 == 0).map(|r| r.1).collect();
    assert_eq!(increases(&checks), checks.len() - 1, "S not increasing on 200..1000: {checks:?}");
    assert!(s1000 > 9.0 && s1000 < 9.52, "S(1000) = {s1000}");
    assert!(s.iter().all(|r| r.1 < 0.25 * 40.0));
}

#[test]
fn claim_23_width_decides_sharpening_to_t1000() {
    // 64-32-10 sharpens (9.33 → 12.9 by t = 5000), 64-12-10 does not. Over 1000 steps: the wide net
    // ends > 1 above its start, the narrow one never returns to its start after the first 100 steps.
    let wide = sharpening(&[64, 32, 10], 1000, 10);
    let narrow = sharpening(&[64, 12, 10], 1000, 10);
    let (w0, w1) = (wide[0].1, wide.last().unwrap().1);
    let (n0, nmax) = (narrow[0].1, narrow.iter().filter(|r| r.0 >= 100).map(|r| r.1).fold(f64::MIN, f64::max));
    eprintln!("claim 23: 64-32-10 S {w0:.4} → {w1:.4}; 64-12-10 S(0) = {n0:.4}, max over 100..1000 = {nmax:.4}");
    assert!((w0 - 9.33).abs() <= 0.005, "64-32-10 S(0) = {w0}");
    assert!(w1 > w0 + 1.0, "64-32-10 does not sharpen: {w0} → {w1}");
    assert!(nmax < n0, "64-12-10 sharpens: S(0) = {n0}, later max {nmax}");
}

#[test]
#[ignore = "full horizon, ≈ 2 s in release: cargo test --release --test claims_nn -- --ignored full_horizon"]
fn claim_23_full_horizon_t5000() {
    // Peak 9.52 at t ≈ 1700, 9.11 at t = 5000; α > 0 on ~96% of checks up to the peak; 64-32-10 ends
    // at 12.9, 64-12-10 never sharpens. No EoS at η = 0.05: the claim's 3 digits, timing ±200 steps
    // (the peak is flat: S changes by < 0.01 over ±200 steps).
    let (m, mut th) = net(&[64, 16, 16, 10]);
    let eta = 0.05;
    let mut g = vec![0.0; m.dim()];
    let mut u: Option<Vec<f64>> = None;
    let (mut s, mut pos) = (vec![], vec![]);
    for t in 0..=5000u64 {
        if t % 50 == 0 {
            let c = center(&m, &th, u.as_deref(), Mag::new(TOL)).unwrap();
            s.push((t, c.sharpness));
            pos.push(c.alpha > 0.0);
            u = Some(c.u);
        }
        gd_step(&m, &eta, &mut th, &mut g).unwrap();
    }
    let (tp, sp) = argmax(s.iter().copied());
    let k = s.iter().position(|r| r.0 == tp).unwrap();
    let frac = pos[..=k].iter().filter(|&&b| b).count() as f64 / (k + 1) as f64;
    let s5000 = s.last().unwrap().1;
    let wide = sharpening(&[64, 32, 10], 5000, 50);
    let narrow = sharpening(&[64, 12, 10], 5000, 50);
    let nmax = narrow.iter().filter(|r| r.0 >= 100).map(|r| r.1).fold(f64::MIN, f64::max);
    eprintln!(
        "claim 23 full: peak {sp:.4} at t = {tp}, S(5000) = {s5000:.4}, α > 0 on {:.1}% of checks to the peak; \
         64-32-10 S(5000) = {:.4}; 64-12-10 S(0) = {:.4}, max over 100..5000 = {nmax:.4}",
        100.0 * frac, wide.last().unwrap().1, narrow[0].1
    );
    assert!((sp - 9.52).abs() <= 0.005 && (1500..=1900).contains(&tp), "peak {sp} at {tp}");
    assert!((s5000 - 9.11).abs() <= 0.005, "S(5000) = {s5000}");
    assert!((0.93..=0.99).contains(&frac), "α > 0 on {frac} of checks");
    assert!((wide.last().unwrap().1 - 12.9).abs() <= 0.05);
    assert!(nmax < narrow[0].1);
}

// ---------- claim 24: the projection and the monotone loss along θ† ----------

#[test]
fn claim_24_projection_lands_at_threshold_and_loss_dagger_monotone() {
    let rows = track_short();
    let thr = 2.0 / ETA;
    let gaps: Vec<f64> = rows.iter().map(|r| thr - r.sharpness_dagger).collect();
    let (gmin, gmax) = gaps.iter().fold((f64::MAX, f64::MIN), |(a, b), &g| (a.min(g), b.max(g)));
    let ld: Vec<f64> = rows.iter().map(|r| r.loss_dagger).collect();
    eprintln!("claim 24 (t ≤ {T_TRACK}, α > 0 throughout): 2/η − S(θ†) in [{gmin:e}, {gmax:e}]; L(θ†) increases {}", increases(&ld));
    assert!(rows.iter().all(|r| r.alpha > 0.0));
    // Below the threshold by at most the first linearised step's overshoot (claim: ≤ 1.4e-7,
    // measured there 1.389e-7; here 1.3895e-7 over 700 steps), above it by at most the k = 3
    // residual excess that the claim lists (3.0e-10; here 2.961e-10 at t = 1).
    assert!(gmax <= 1.4e-7, "2/η − S(θ†) = {gmax:e}");
    assert!(gmin >= -3.05e-10, "S(θ†) − 2/η = {:e}", -gmin);
    assert_eq!(increases(&ld), 0, "L(θ†) increased");
}

#[test]
fn claim_24_excess_shrinks_geometrically_in_projection_steps() {
    // Claim: the excess max_t (S(θ†_t) − 2/η) is 5.3e-8, 3.0e-10, 9.0e-13 for k = 2, 3, 4 (the
    // linear convergence of claim 3: each step removes a factor ≳ 100). Measured over t ≤ 5:
    // 5.280e-8, 2.961e-10, 9.122e-13 (at t = 1; 9.459e-13 before the f64 MLP's data shards). The k = 4 value is ~1e-13 relative to S, near the
    // rounding of S itself, so it is tested to 10%; k = 2, 3 to the claim's 2 digits.
    let ex: Vec<f64> = (2..=4)
        .map(|k| track(5, k).iter().map(|r| r.sharpness_dagger - 2.0 / ETA).fold(f64::MIN, f64::max))
        .collect();
    eprintln!("claim 24: max excess over t ≤ 5 for k = 2, 3, 4: {ex:?}");
    assert!((ex[0] - 5.3e-8).abs() <= 0.05e-8, "k = 2: {:e}", ex[0]);
    assert!((ex[1] - 3.0e-10).abs() <= 0.05e-10, "k = 3: {:e}", ex[1]);
    assert!((ex[2] - 9.0e-13).abs() <= 0.9e-13, "k = 4: {:e}", ex[2]);
    assert!(ex[0] / ex[1] >= 100.0 && ex[1] / ex[2] >= 100.0, "not geometric: {ex:?}");
}

#[test]
fn claim_24_gd_loss_not_monotone() {
    // L(θ_t) increases 36 times in 700 steps (34–37 under 1-ulp perturbations: the count lives past
    // the first spike, so it is tested as that range).
    let l: Vec<f64> = gd_eos().iter().map(|r| r.1).collect();
    let inc = increases(&l);
    eprintln!("claim 24: L(θ_t) increases {inc} times in {T_GD} steps");
    assert!((34..=37).contains(&inc), "{inc} increases");
}

#[test]
#[ignore = "700 tracking steps, ≈ 4 s in release: cargo test --release --test claims_nn -- --ignored full_horizon"]
fn claim_24_full_horizon_t700() {
    let rows = track_long();
    let thr = 2.0 / ETA;
    let first_neg = rows.iter().position(|r| r.alpha < 0.0).unwrap_or(rows.len());
    let pos: Vec<f64> = rows.iter().filter(|r| r.alpha > 0.0).map(|r| thr - r.sharpness_dagger).collect();
    let (gmin, gmax) = pos.iter().fold((f64::MAX, f64::MIN), |(a, b), &g| (a.min(g), b.max(g)));
    let ld: Vec<f64> = rows.iter().map(|r| r.loss_dagger).collect();
    let l2max = rows.iter().filter_map(|r| r.lambda2_dagger).fold(f64::MIN, f64::max);
    eprintln!(
        "claim 24 full: α < 0 from t = {first_neg}; while α > 0, 2/η − S(θ†) in [{gmin:e}, {gmax:e}]; \
         L(θ†) increases {} of 700; max λ₂(θ†) = {l2max:.4} vs 1.9/η = {:.4}",
        increases(&ld), 1.9 / ETA
    );
    // α changes sign after the first spike (633 in claims.md): the quoted number by the rule
    // max(1 %, ½ unit), 627–639 (measured 633 here, on the Zen host, and under one ulp on θ_init's
    // entry 0, 7 or 50 either way; until session 42 a 5 % band).
    assert!((627..=639).contains(&first_neg), "α < 0 from {first_neg}");
    assert!(gmax <= 1.4e-7 && gmin >= -3.05e-10);
    // The finding: with 3 projection steps S(θ†) ends *above* 2/η (by ≤ the 3-step residual) on
    // most steps with α > 0: 434 of 633 on an AVX-512 Xeon, here and in `run --steps 1000`'s series.csv (432 on a Zen host). The sign at
    // the residual's 1e-10 level is set by the projection's last Newton step, so the count moves
    // with the rounding: one ulp on θ_init's entry 0, 7 or 50, either way, gives 433–435 (measured
    // in session 42). Asserted: the observed 432–435 widened by twice its width on each side,
    // 426–441 (until session 42 within 10 %).
    let above_pos = pos.iter().filter(|&&g| g < 0.0).count();
    eprintln!("claim 24 full: S(θ†) > 2/η on {above_pos} of the {} steps with α > 0", pos.len());
    assert!((426..=441).contains(&above_pos), "claim 24: S(θ†) > 2/η on {above_pos} steps while α > 0 (measured 432–435)");
    // S(θ†) < 2/η once α < 0. At the sign change itself α ≈ 0 (−1.7e-5), so the step −η∇L leaves
    // S(θ†) on the threshold: measured −8.9e-15 there on an AVX-512 Xeon (−6.2e-15 on the Zen host it was first recorded on: the fast path's bits follow faer's SIMD kernels; +8.0e-15, 9 ulps of S, before the f64 MLP's
    // data shards), strictly below afterwards. The
    // crossing step is allowed 64 ulps of S (rounding of the eigenvalue), the later ones none.
    let at = rows[first_neg].sharpness_dagger - thr;
    eprintln!("claim 24 full: S(θ†) − 2/η = {at:e} at t = {first_neg}");
    assert!(at <= 64.0 * f64::EPSILON * thr, "S(θ†) − 2/η = {at:e} at the sign change");
    let above = rows[first_neg + 1..].iter().filter(|r| r.alpha < 0.0 && r.sharpness_dagger >= thr).count();
    assert_eq!(above, 0, "S(θ†) ≥ 2/η on {above} steps with α < 0");
    assert_eq!(increases(&ld), 0);
}

// ---------- claim 25: the EoS band ----------

#[test]
fn claim_25_gd_sharpness_band_around_two_over_eta() {
    // Over steps 200–700 (t from θ₀): mean 7.531 (7.531–7.537 under 1-ulp perturbations), range
    // [7.32, 7.74]; the test is |mean − 2/η| ≤ 0.6% of 2/η and a band on both sides of 2/η whose
    // excursions below and above it are the claim's (2/η − 7.32 = 0.179, 7.74 − 2/η = 0.241) within
    // 20%: after the first spike GD's bits depend on the rounding realisation. Measured in session
    // 42 under one ulp on θ_init's entry 0, 7 or 50, either way: excursions 0.1703–0.1860 below and
    // 0.2172–0.2446 above (−5 … +4 % and −10 … +1.5 % of the claim's), mean 7.5303–7.5373; the
    // 20 % band is that spread widened by about its width on each side (earlier, two realisations
    // before and after the data shards, b497ae9, gave 0.1755 / 0.1703 and 0.2388 / 0.2323). A
    // collapsed band, or one twice as wide, fails. Run with gap_threshold None (decisions §9):
    // the gap is never below 1.9/η here anyway (max λ₂(θ†) = 6.92 < 7.12 over 700 steps).
    let w: Vec<f64> = gd_eos().iter().filter(|r| (200..=700).contains(&r.0)).map(|r| r.2).collect();
    let mean = w.iter().sum::<f64>() / w.len() as f64;
    let (lo, hi) = w.iter().fold((f64::MAX, f64::MIN), |(a, b), &s| (a.min(s), b.max(s)));
    let thr = 2.0 / ETA;
    eprintln!("claim 25: steps 200–700: mean S = {mean:.4} ({:+.3}% of 2/η = {thr:.4}), range [{lo:.4}, {hi:.4}]", 100.0 * (mean - thr) / thr);
    assert!((mean - thr).abs() <= 0.006 * thr, "mean {mean}");
    let (below, above) = (thr - lo, hi - thr);
    let within = |m: f64, c: f64| (m - c).abs() <= 0.2 * c;
    assert!(within(below, thr - 7.32) && within(above, 7.74 - thr), "range [{lo}, {hi}]: excursions {below:.4} below, {above:.4} above 2/η");
}

// ---------- claim 26: tracking and the first spike ----------

#[test]
fn claim_26_tracking_ratio_before_the_spike() {
    let rows = track_short();
    let ratio = |r: &Row| r.tracking_error / r.dist;
    let max_to = |n: u64| rows.iter().filter(|r| r.t >= 1 && r.t <= n).map(ratio).fold(0.0, f64::max);
    let (r25, r50, r60) = (max_to(25), max_to(50), ratio(&rows[60]));
    let spike: Vec<f64> = rows[69..=80].iter().map(ratio).collect();
    let (smin, smax) = spike.iter().fold((f64::MAX, f64::MIN), |(a, b), &s| (a.min(s), b.max(s)));
    let (tpk, _) = argmax(rows.iter().map(|r| (r.t, r.pred_norm)));
    eprintln!("claim 26: ratio ≤ {r25:.5} (t ≤ 25), ≤ {r50:.5} (t ≤ 50), {r60:.4} at t = 60, [{smin:.3}, {smax:.3}] on 69–80; ‖v‖ peaks at t = {tpk}");
    // Before GD's first spike ≥ 6 digits are stable: the claim's numbers at their stated precision.
    assert!(r25 <= 0.014 && r50 <= 0.031, "ratios {r25}, {r50}");
    assert!((r60 - 0.15).abs() <= 0.005, "ratio at t = 60: {r60}");
    // The band [1.50, 1.91] from both sides: each end within half a unit of the quoted digit
    // (measured [1.498, 1.908]), so a narrower band fails as a wider one does.
    assert!((smin - 1.50).abs() <= 0.005 && (smax - 1.91).abs() <= 0.005, "ratio on 69–80: [{smin}, {smax}]");
    assert!((63..=72).contains(&tpk), "prediction spike at t = {tpk}");
}

#[test]
fn claim_26_gd_first_spike_is_late() {
    // GD's first peak: 9.2615 at t = 125 (9.2561 at t = 123 before the f64 MLP's data shards),
    // i.e. GD step 95 + 125; the prediction spikes at t ≈ 63–72 (previous test): GD is > 40 steps
    // late. One ulp on θ_init's entry 0, 7 or 50, either way, moves the peak to t = 120–132 and
    // 9.2508–9.2761 (measured in session 42): band t 115–140, and the height reproduces claims.md's
    // 9.256 by the rule for quoted numbers, max(1 %, ½ unit), which holds the 1-ulp spread (0.27 %)
    // with room (until session 42: 5 %).
    let (tp, sp) = argmax(gd_eos().iter().filter(|r| r.0 <= 200).map(|r| (r.0, r.2)));
    eprintln!("claim 26: GD's first sharpness peak {sp:.4} at t = {tp} (GD step {})", eos().step + tp);
    assert!((115..=140).contains(&tp), "peak at t = {tp}");
    assert!((sp - 9.256).abs() <= 0.01 * 9.256, "peak height {sp}");
    // The tracking run's GD is the same iterate sequence: its S agrees with the GD run's to the
    // eigen tolerance (different warm starts), a cross-check of the two code paths. Each solve's
    // residual is ≤ TOL·S, so by Bauer–Fike each value is within TOL·S of λ_max: |ΔS| ≤ 2·TOL·S.
    for r in track_short() {
        let s = gd_eos()[r.t as usize].2;
        assert!((r.sharpness_gd - s).abs() <= 2.0 * TOL * s, "t = {}: {} vs {s}", r.t, r.sharpness_gd);
    }
}

#[test]
fn claim_26_reduced_map_first_spike_height_and_timing() {
    // claims.md 26: at θ₀, h₀ = η√α₀ = 0.099, x₀/δ = 1.7e-6, H₀ ≈ 25.6; the reduced map's first
    // spike is 2/η + √(α₀H₀) = 9.38 high (claim 8's leading term) and comes ≈ 52 steps after the
    // instability. Computed from the tracking run's first row (u, ∇S⊥, α, δ at θ†₀) and the reduced
    // map iterated from (X₀, Y₀) at h₀ until Y's first maximum.
    let r0 = &track_short()[0];
    let (x0, y0) = (r0.x / r0.delta, r0.y / r0.alpha.sqrt());
    let h0 = ETA * r0.alpha.sqrt();
    let big_h = y0 * y0 + x0 * x0 - (x0 * x0).ln() - 1.0;
    let height = 2.0 / ETA + (r0.alpha * big_h).sqrt();
    let map = ReducedMap::new(h0).unwrap();
    let mut st = map.state(x0, y0).unwrap();
    let (mut peak, mut prev) = (None, f64::NEG_INFINITY);
    iterate(&map, &mut st, 10_000, |t, s| {
        if s.y < prev {
            peak = Some(t - 1);
            return ControlFlow::Break(());
        }
        prev = s.y;
        ControlFlow::Continue(())
    });
    let peak = peak.expect("the reduced map's Y peaks");
    eprintln!("claim 26: h₀ = {h0:.4}, X₀ = {x0:.3e}, Y₀ = {y0:.3e}, H₀ = {big_h:.3}, reduced-map spike height {height:.4} at step {peak} (Y = {prev:.3})");
    // The claim's digits: h₀ 0.099, x₀/δ 1.7e-6, H₀ 25.6, height 9.38 (half a unit of the last digit).
    assert!((h0 - 0.099).abs() <= 0.0005, "h₀ = {h0}");
    assert!((x0.abs() - 1.7e-6).abs() <= 0.05e-6, "X₀ = {x0}");
    assert!((big_h - 25.6).abs() <= 0.05, "H₀ = {big_h}");
    assert!((height - 9.38).abs() <= 0.005, "height {height}");
    // Timing. "≈ 52" is the flow limit's estimate: from X₀ ≪ 1, Y ≈ τ (dY/dτ = 1 − X²) and
    // log|X| grows by ∫Y dτ = τ²/2, so |X| reaches 1 at τ = √(−2 log X₀) = √(H₀ + 1), t = τ/h₀ =
    // 51.9. The map itself peaks at step 57 (measured; X² crosses 1 at the same step): at h₀√H₀ =
    // 0.50 the discrete corrections are 10 %. Asserted: the estimate within half a step of 52, the
    // map's peak in 55–59 (X₀ moves with the f64 realisation of θ₀, the peak only as log X₀).
    let estimate = (big_h + 1.0).sqrt() / h0;
    eprintln!("claim 26: flow-limit timing √(H₀ + 1)/h₀ = {estimate:.2}");
    assert!((estimate - 52.0).abs() <= 0.5, "timing estimate {estimate}");
    assert!((55..=59).contains(&peak), "reduced-map spike at step {peak}");
}

#[test]
#[ignore = "700 tracking steps, ≈ 4 s in release: cargo test --release --test claims_nn -- --ignored full_horizon"]
fn claim_26_no_recovery_after_the_spike_full_horizon_t700() {
    // Ratio 0.63–1.15 (median 0.71) over 200–700. Past the spike: 5% bands on the ends and median.
    let mut r: Vec<f64> = track_long()[200..=700].iter().map(|r| r.tracking_error / r.dist).collect();
    r.sort_by(f64::total_cmp);
    let (lo, hi, med) = (r[0], r[r.len() - 1], r[r.len() / 2]);
    eprintln!("claim 26 full: ratio over 200–700 in [{lo:.3}, {hi:.3}], median {med:.3}");
    assert!(near(lo, 0.63) && near(hi, 1.15) && near(med, 0.71), "[{lo}, {hi}], median {med}");
}

/// |x − c| ≤ 5% of c: the band after GD's first spike.
fn near(x: f64, c: f64) -> bool {
    (x - c).abs() <= 0.05 * c
}

// ---------- claim 27: generalized vs standard before the spike ----------

#[test]
fn claim_27_generalized_equals_standard_before_the_spike() {
    // ‖θ−θ†−v_gen‖/‖θ−θ†−v‖ ∈ 0.9995–1.0000 before the first spike (t ≤ 60, where the tracking ratio
    // is ≤ 0.15). The claim's 4 decimals: [0.99945, 1.00005). Measured [0.99948, 1 + 7e-9].
    let q: Vec<f64> = track_short()[1..=60].iter().map(|r| r.tracking_error_gen / r.tracking_error).collect();
    let (lo, hi) = q.iter().fold((f64::MAX, f64::MIN), |(a, b), &s| (a.min(s), b.max(s)));
    eprintln!("claim 27: gen/std error ratio on 1 ≤ t ≤ 60 in [{lo:.6}, {hi:.9}]");
    assert!(lo >= 0.99945 && hi < 1.00005, "[{lo}, {hi}]");
    // "The first spike" is the predicted v's (claim 26: t ≈ 63–72), not GD's (t ≈ 125): the ratio
    // leaves the band at t = 61 (0.99868, tracking ratio 0.20) and falls to 0.9007 at t = 72, where
    // the tracking ratio peaks (1.908); the generalized error is then ≈ 9 % smaller. Asserted on
    // t = 61–80: below the band at every step, the minimum 0.90071 to its 5 recorded digits at
    // t = 70–74 (these steps come before GD's spike, where f64 implementations keep ≥ 6 digits;
    // until session 42 within 1 %).
    let rows = &track_short()[61..=T_TRACK as usize];
    let q: Vec<f64> = rows.iter().map(|r| r.tracking_error_gen / r.tracking_error).collect();
    let (t_min, q_min) = q.iter().enumerate().fold((0, f64::MAX), |(ti, m), (i, &v)| if v < m { (61 + i, v) } else { (ti, m) });
    eprintln!("claim 27: gen/std on 61 ≤ t ≤ {T_TRACK}: max {:.5}, min {q_min:.5} at t = {t_min}", q.iter().fold(0.0f64, |a, &b| a.max(b)));
    assert!(q.iter().all(|&v| v < 0.99945), "the ratio stays in the band after t = 60: {q:?}");
    assert!((70..=74).contains(&t_min), "minimum {q_min} at t = {t_min}");
    common::recorded("claim 27: minimum of gen/std on t = 61–80", q_min, 0.90071, 5);
}

#[test]
#[ignore = "700 tracking steps, ≈ 4 s in release: cargo test --release --test claims_nn -- --ignored full_horizon"]
fn claim_27_generalized_after_the_spike_full_horizon_t700() {
    // After GD's first spike (t ≥ 123): gen/std error ratio 0.56–1.33, median 0.84, smaller on ~84%
    // of steps. 5% bands on the ends and median, ±5 points on the fraction.
    let mut q: Vec<f64> = track_long()[123..=700].iter().map(|r| r.tracking_error_gen / r.tracking_error).collect();
    let frac = q.iter().filter(|&&x| x < 1.0).count() as f64 / q.len() as f64;
    q.sort_by(f64::total_cmp);
    let (lo, hi, med) = (q[0], q[q.len() - 1], q[q.len() / 2]);
    eprintln!("claim 27 full: gen/std after t = 123 in [{lo:.3}, {hi:.3}], median {med:.3}, < 1 on {:.1}%", 100.0 * frac);
    // Between the predicted v's spike and GD's (t = 81–122; the default test covers t ≤ 80): ≈ 9 %
    // smaller, measured 0.911031–0.912145. Under one ulp on θ_init's entry 0, 7 or 50, either way
    // (session 42), the low end does not move in 6 digits, so it is pinned to 5; the high end, at
    // the steps nearest GD's spike, moves to 0.912056–0.918449 (+0.7 %), so it stays within 1 % of
    // 0.9121 (until session 42 the low end was held within 1 % of 0.9109).
    let mid: Vec<f64> = track_long()[81..=122].iter().map(|r| r.tracking_error_gen / r.tracking_error).collect();
    let (mlo, mhi) = mid.iter().fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    eprintln!("claim 27 full: gen/std on 81 ≤ t ≤ 122 in [{mlo:.6}, {mhi:.6}]");
    common::recorded("claim 27: low end of gen/std on t = 81–122", mlo, 0.91103, 5);
    assert!((mhi / 0.9121 - 1.0).abs() <= 0.01, "[{mlo}, {mhi}]");
    assert!(near(lo, 0.56) && near(hi, 1.33) && near(med, 0.84), "[{lo}, {hi}], median {med}");
    assert!((0.79..=0.89).contains(&frac), "smaller on {frac}");
}

// ---------------------------------------------------------------------------------------------
// The θ† chain's early solves at a looser tolerance (`TrackOpts::chain_tol`, a numerical option,
// not a claim of claims.md: theory/README.md "Early solves of the θ† chain").

/// Early-solve tolerance of these tests.
const CHAIN_TOL: f64 = 1e-6;

/// Rows of a tracking run of `n` steps from θ₀ with the given early-solve tolerance.
fn track_chain(n: u64, chain_tol: Option<f64>) -> Vec<Row> {
    let e = eos();
    let o = TrackOpts { chain_tol: chain_tol.map(Mag::new), ..opts(3) };
    let mut st = tracking::start(&e.m, &ETA, &e.theta0, Some(&e.u0), &o).unwrap();
    (0..n).map(|_| tracking::step(&e.m, &ETA, &mut st, &o).unwrap().0).collect()
}

/// With the early tolerance equal to the eigen tolerance the chain is the default one, bit for bit
/// (the same solves in the same order): every recorded number of 30 steps is identical.
#[test]
fn chain_tol_equal_to_eig_tol_gives_the_default_bits() {
    let same = track_chain(30, Some(TOL));
    for (a, b) in same.iter().zip(track_short()) {
        let key = |r: &Row| {
            [r.loss_dagger, r.sharpness_dagger, r.proj_residual_s, r.proj_residual_u, r.loss_pred, r.sharpness_pred, r.x, r.y, r.alpha, r.beta]
                .map(f64::to_bits)
        };
        assert_eq!(key(a), key(b), "t = {}: chain_tol = eig_tol changed the results", a.t);
        assert_eq!(a.hvps, b.hvps, "t = {}: chain_tol = eig_tol changed the HVPs", a.t);
    }
}

/// From each of 30 states of the default run, one constrained step with the centre and projection
/// step 1 solved to 1e-6 (steps 2 and 3 to 1e-10) against the default step: θ† moves by at most
/// (S/(S − λ₂))·tol_e·‖θ†_{t+1} − θ†_t‖ (the early eigenvector's error r/gap times the distance the
/// Newton steps correct), the final residuals S − 2/η and u·∇L stay within 10·tol·S (resp. ‖∇L‖)
/// of the default step's, and the chain spends fewer HVPs.
#[test]
fn early_chain_solves_move_theta_dagger_within_the_eigenvector_bound_f64() {
    let e = eos();
    let o = opts(3);
    let mut st = tracking::start(&e.m, &ETA, &e.theta0, Some(&e.u0), &o).unwrap();
    let (mut worst, mut hv) = (0.0_f64, [0u64; 2]);
    let (mut dres_s, mut dres_u) = (0.0_f64, 0.0_f64);
    for _ in 0..30 {
        let mut pr = vec![];
        for early in [TOL, CHAIN_TOL] {
            let mut tr = st.trail_dagger.clone();
            pr.push(selfstab::constrained::step_early(&e.m, &ETA, &st.dagger, 3, Some(&mut tr), Mag::new(TOL), Mag::new(early)).unwrap());
        }
        let (strict, loose) = (&pr[0], &pr[1]);
        hv[0] += strict.hvps;
        hv[1] += loose.hvps;
        let dist = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt();
        let moved = dist(&loose.center.theta, &strict.center.theta);
        let step = dist(&strict.center.theta, &st.dagger.theta);
        let eig = top_eigen_subspace(&e.m, &strict.center.theta, std::slice::from_ref(&strict.center.u), &EigenOpts { tol: Mag::new(TOL), ..EigenOpts::top::<f64>(2, ()) }).unwrap();
        let s = eig.values[0];
        let bound = s / (s - eig.values[1]) * CHAIN_TOL * step;
        worst = worst.max(moved / bound);
        let gnorm = strict.center.grad.iter().map(|g| g * g).sum::<f64>().sqrt();
        dres_s = dres_s.max((loose.residual_s.abs() - strict.residual_s.abs()) / (TOL * s));
        dres_u = dres_u.max((loose.residual_u.abs() - strict.residual_u.abs()) / (TOL * gnorm));
        tracking::step(&e.m, &ETA, &mut st, &o).unwrap();
    }
    eprintln!("early chain solves: ‖Δθ†‖ / bound ≤ {worst:.3}; residual growth ≤ {dres_s:.3e}·tol·S, {dres_u:.3e}·tol·‖∇L‖; chain HVPs {} → {}", hv[0], hv[1]);
    assert!(worst <= 1.0, "θ† moved by {worst:.3} × (S/gap)·tol_e·‖step‖");
    assert!(dres_s <= 10.0 && dres_u <= 10.0, "final residuals grew: {dres_s:e}·tol·S, {dres_u:e}·tol·‖∇L‖");
    assert!(hv[1] < hv[0], "early solves did not save HVPs: {} vs {}", hv[1], hv[0]);
}

/// `chain_tol` outside [eig_tol, 1e-3], non-finite, or with the multi tracking is a one-line error
/// naming the key; a valid value reaches the resolved configuration and its `config.toml`.
#[test]
fn chain_tol_outside_its_range_is_an_error_naming_the_key() {
    use selfstab::config::{self, RunConfig};
    let with = |chain_tol: f64, multi: Option<usize>| config::resolve(&config::merge(None, RunConfig { chain_tol: Some(Mag::new(chain_tol)), multi, ..RunConfig::default() }));
    for (t, multi) in [(1e-12, None), (1e-2, None), (f64::NAN, None), (f64::INFINITY, None), (-1e-6, None), (1e-6, Some(2))] {
        let e = with(t, multi).unwrap_err().to_string();
        assert!(e.contains("chain_tol") && !e.contains('\n'), "chain_tol = {t}, multi {multi:?}: {e}");
    }
    let ok = with(1e-6, None).unwrap();
    assert_eq!(ok.chain_tol, Some(Mag::new(1e-6)));
    let text = toml::to_string(&ok.to_run_config()).unwrap();
    assert_eq!(config::parse_toml(&text, "config.toml").unwrap().chain_tol, Some(Mag::new(1e-6)), "config.toml does not carry chain_tol:\n{text}");
    assert_eq!(config::resolve(&config::merge(None, RunConfig::default())).unwrap().chain_tol, None);
}

#[test]
fn claim_23_width_decides_sharpening_over_seeded_inits_t5000() {
    // claims.md 23's "64-12-10 and 64-16-10 do not sharpen, 64-32-10 does" is stated for the authors'
    // numpy initialisations, of which 64-16-10's is not vendored. With the crate's seeded
    // initialisation (decisions §2; seeds 0–3, η = 0.05, 5000 GD steps, S every 50) the width
    // ordering holds on every seed: measured S(0) → max S over t ≥ 100 (S(5000)):
    //   64-32-10: 7.8187 → 12.7008, 10.0096 → 13.2704, 7.9060 → 12.7403, 9.1110 → 15.1518 (rises ≥ +3.26);
    //   64-12-10: 10.3961 → 9.2824, 7.3900 → 6.4045, 9.8930 → 8.7860, 9.1820 → 8.0969 (never back to
    //   its start);
    //   64-16-10: 13.0092 → 10.0903, 8.3821 → 9.1819, 10.0272 → 9.2146, 8.4173 → 9.2885.
    // Finding: 64-16-10 does sharpen on seeds 1 and 3 (+0.7997 and +0.8712, 10 % above its start);
    // 16 units are at the boundary, and the claim's "64-16-10 does not sharpen" does not hold on
    // these initialisations. Asserted: 64-32-10 ends ≥ S(0) + 2.5, 64-12-10 stays below S(0) after
    // t = 100, and 64-16-10's max S over t ≥ 100 minus S(0) reproduces the measured −2.9189,
    // +0.7997, −0.8126, +0.8712 to their 4 decimals, so the test fails if the finding goes away. No
    // EoS at η = 0.05 (S ≤ 16 ≪ 2/η = 40): GD is not chaotic here; one ulp on θ's entry 0, 7 or 50,
    // or the generic kernel instead of faer's, moves the rises by ≤ 3.3e-14 relative (measured in
    // session 42; until then pinned within max(1 %, ½ unit)).
    let ds = data::digits(256).unwrap();
    let run = |layers: &[usize], seed: u64| -> (f64, f64, f64) {
        let m = Mlp::<f64>::new(layers, Activation::Tanh, LossKind::Mse, &ds, ()).unwrap();
        let th = data::init_params(layers, seed).unwrap();
        let s: Vec<(u64, f64)> = gd_run(&m, &th, 0.05, 5000, 50).into_iter().map(|(t, _, s)| (t, s)).collect();
        let later = s.iter().filter(|r| r.0 >= 100).map(|r| r.1).fold(f64::MIN, f64::max);
        (s[0].1, later, s.last().unwrap().1)
    };
    let rise_16 = [-2.9189, 0.7997, -0.8126, 0.8712];
    for seed in 0..4u64 {
        let (w0, _, w_end) = run(&[64, 32, 10], seed);
        let (n0, n_max, _) = run(&[64, 12, 10], seed);
        let (m0, m_max, _) = run(&[64, 16, 10], seed);
        eprintln!("claim 23, seed {seed}: 64-32-10 {w0:.4} → {w_end:.4}; 64-12-10 {n0:.4}, later max {n_max:.4}; 64-16-10 {m0:.4}, later max {m_max:.4} (rise {:+.4})", m_max - m0);
        assert!(w_end >= w0 + 2.5, "seed {seed}: 64-32-10 does not sharpen: {w0} → {w_end}");
        assert!(n_max < n0, "seed {seed}: 64-12-10 sharpens: S(0) = {n0}, later max {n_max}");
        let (rise, want) = (m_max - m0, rise_16[seed as usize]);
        common::recorded(&format!("seed {seed}: 64-16-10's rise"), rise, want, 4);
    }
}
