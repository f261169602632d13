//! Claim 28 (group E of claims.md): how the distance between GD trajectories run in f64, 128, 256
//! and 512 bits grows at the edge of stability, and the 512-vs-256-bit agreement of `selfstab eval`.
//!
//! The claim is `open` (decisions.md §1): the theory predicts no definite law, so the tests assert the
//! measured law within its recorded error bars. The CI run is the micro MLP 64-8-8-10 (tanh, MSE,
//! digits n = 50, seed-0 `init_params`, η = 0.3; unstable at GD step 98 in f64) from the f64 instability
//! point θ₀, lifted exactly. The larger study (64-16-16-10, n = 256, vendored θ, η = 0.2667) is
//! `#[ignore]`d: `cargo test --test claims_precision -- --ignored --nocapture` (≈ 7 min, 600 steps × 4 precisions).
#![allow(clippy::disallowed_methods)] // test code may use std's libm (clippy.toml: library code may not)

use std::path::PathBuf;
use std::sync::OnceLock;

use rug::Float;
use selfstab::commands::{EvalArgs, eval, export};
use selfstab::data;
use selfstab::gd::find_instability;
use selfstab::mag::Mag;
use selfstab::models::mlp::{Activation, LossKind, Mlp};
use selfstab::objective::Objective;
use selfstab::precision_study::{GrowthFit, Study, fit_growth, fit_steps, lanes, run};
use selfstab::scalar::Precision;

const PRECISIONS: [Precision; 4] = [Precision::F64, Precision::Bits(128), Precision::Bits(256), Precision::Bits(512)];

/// Unit roundoff 2^-bits of lane `i` (f64: 2^-53).
fn unit(bits: u32) -> f64 {
    libm::ldexp(1.0, -(bits as i32))
}

/// Instability search in f64, then the lockstep run of all precisions from θ₀.
fn study(layers: &[usize], ds: &data::Dataset, theta_init: &[f64], eta: &str, steps: u64) -> (u64, Study) {
    let mf = Mlp::<f64>::new(layers, Activation::Tanh, LossKind::Mse, ds, ()).unwrap();
    let ef: f64 = eta.parse().unwrap();
    let ins = find_instability(&mf, &ef, theta_init, 10_000, Mag::new(1e-10), &mut []).unwrap();
    let mk64 = || -> Result<Box<dyn Objective<f64>>, selfstab::Error> {
        Ok(Box::new(Mlp::<f64>::new(layers, Activation::Tanh, LossKind::Mse, ds, ())?))
    };
    let mkf = |b: u32| -> Result<Box<dyn Objective<Float>>, selfstab::Error> {
        Ok(Box::new(Mlp::<Float>::new(layers, Activation::Tanh, LossKind::Mse, ds, b)?))
    };
    let mut ls = lanes(&PRECISIONS, eta, &ins.theta, &mk64, &mkf).unwrap();
    let st = run(&mut ls, steps).unwrap();
    (ins.step, st)
}

/// The fit window of lane `i` against the 512-bit reference: d from 10³ above the lane's unit
/// roundoff (the initial, rounding-dominated steps) to 10⁻⁶, three decades below the saturation level
/// ~10⁻³ of claims.md's 1-ulp proxy (so differences still propagate linearly).
fn fit(st: &Study, i: usize) -> Option<GrowthFit> {
    fit_growth(&st.rel[i], 1e3 * unit(st.bits[i]), 1e-6)
}

fn report(label: &str, step: u64, st: &Study) {
    eprintln!("{label}: unstable at GD step {step}; digits −log10 d vs the 512-bit run:");
    for t in (0..st.rel[0].len()).step_by(25) {
        let ds: Vec<String> = (0..3).map(|i| format!("{:>7.2}", -st.rel[i][t].log10())).collect();
        eprintln!("  t = {t:>4}  f64 {}  128 {}  256 {}  loss(512) {:.6e}", ds[0], ds[1], ds[2], st.loss[3].get(t).copied().unwrap_or(f64::NAN));
    }
    for i in 0..3 {
        eprintln!("  {} vs 512: {:?}", st.names[i], fit(st, i));
    }
}

/// CI study: micro MLP, 300 steps from θ₀ in f64, 128, 256, 512 bits (≈ 10–20 s).
const T_CI: u64 = 300;

fn micro() -> &'static (u64, Study) {
    static S: OnceLock<(u64, Study)> = OnceLock::new();
    S.get_or_init(|| {
        let layers = [64, 8, 8, 10];
        let ds = data::digits(50).unwrap();
        let th = data::init_params(&layers, 0).unwrap();
        let r = study(&layers, &ds, &th, "0.3", T_CI);
        report("claim 28 micro 64-8-8-10", r.0, &r.1);
        r
    })
}

#[test]
fn claim_28_instability_point_of_the_micro_mlp() {
    let (step, st) = micro();
    // The brief's setting: the f64 search crosses 2/η at GD step 98.
    assert_eq!(*step, 98);
    // All lanes start from the same θ₀, lifted exactly from f64 (decisions §2): the distances at
    // t = 0 vanish exactly. A guard of the study's set-up (a lift through decimal text or a rounded
    // η would leave ≈ 1e-17 here), not a measurement of the claim.
    assert!(st.rel.iter().all(|r| r[0] == 0.0), "{:?}", st.rel.iter().map(|r| r[0]).collect::<Vec<_>>());
}

/// GD's first spike: the step where the 256-vs-512 distance peaks (the growth stops there).
fn spike(st: &Study) -> u64 {
    let d = &st.rel[2];
    (0..d.len()).fold(0, |b, t| if d[t] > d[b] { t } else { b }) as u64
}

/// Phase A (unstable overshoot before the first spike) and phase B (after it) of lane `i`.
fn phases(st: &Study, i: usize) -> (GrowthFit, GrowthFit) {
    let tp = spike(st);
    let a = fit_steps(&st.rel[i], tp.saturating_sub(65), tp.saturating_sub(10)).expect("phase A window");
    let b = fit_steps(&st.rel[i], tp + 25, st.rel[i].len() as u64 - 1).expect("phase B window");
    (a, b)
}

#[test]
fn claim_28_growth_law_256_vs_512_micro_mlp() {
    let (_, st) = micro();
    let tp = spike(st);
    let (a, b) = phases(st, 2);
    eprintln!("first spike (peak of d) at t = {tp}\n  A 256: {a:?}\n  B 256: {b:?}");
    // GD's first spike (peak of d): measured t = 134 from θ₀ (131 on an earlier f64 realisation). θ₀
    // comes from the f64 search, whose faer kernels may differ by ulps across machines; the claims.md
    // group-E experience is a ±10-step band.
    assert!((121..=141).contains(&tp), "spike at t = {tp}");
    // Phase A (t = spike−65 … spike−10): exponential growth, the polynomial law fits 5× worse
    // (measured RMS 0.043 vs 0.243 decades). λ = 0.3730/step (16.20 digits per 100 steps), OLS SE
    // 0.0008; the two halves give 0.360 and 0.384 (0.356 and 0.382 on an earlier θ₀, λ = 0.3703), so
    // the honest error bar is ±0.013: assert ±0.02 around 0.370.
    assert!(a.exp_rms * 3.0 < a.poly_rms, "A: exp RMS {} vs poly RMS {}", a.exp_rms, a.poly_rms);
    assert!((a.lyapunov - 0.370).abs() <= 0.02, "A: λ = {} ± {}", a.lyapunov, a.lyapunov_se);
    // Phase B (t = spike+25 … 300): no further loss. Measured −0.087 digits per 100 steps (OLS SE
    // 0.020; the halves give λ = −0.0124 and −0.0064/step, i.e. −0.54 and −0.28 digits per 100
    // steps, so the honest error bar is ±0.5) and d ends 0.42 decades below its start; assert
    // |loss rate| ≤ 0.5 digits per 100 steps and no net growth beyond 0.2 decades.
    assert!(b.digits_per_100.abs() <= 0.5, "B: {} digits per 100 steps", b.digits_per_100);
    assert!(b.log10_d_range.1 - b.log10_d_range.0 <= 0.2, "B: {:?}", b.log10_d_range);
    // Total: the 256-bit run keeps ≈ 63 of its 77 digits over 300 steps (measured 64.25 at t = 300,
    // minimum 62.53 at the spike; 63.15 on an earlier θ₀): 14–15 digits are lost, all before the
    // spike. The level moves with θ₀, which the f64 search sets and faer's run-time kernel choice
    // perturbs (log10 G128/G256 took 0.347, 0.070, −0.037 on three realisations of θ₀; the minimum
    // 62.53 vs 63.15 here and 62.29 vs 62.97 on the study's net: 0.6–0.7 decade), so assert this
    // realisation's minimum less one decade.
    let dmin = st.digits(2).iter().skip(1).cloned().fold(f64::INFINITY, f64::min);
    eprintln!("256 vs 512: min digits {dmin:.2}");
    assert!(dmin >= 61.5, "256 vs 512: min digits {dmin}");
}

#[test]
fn claim_28_error_scales_with_unit_roundoff_micro_mlp() {
    let (_, st) = micro();
    // Amplification G_i(t) = d_i(t)/2^-bits_i. The lanes differ from the reference by a perturbation
    // seeded by rounding in the first steps and then propagated by the same linearised map, so
    // G_128/G_256 and G_256/G_f64 are constant in t while the lanes' distances stay small enough to
    // propagate linearly (MPFR: always; f64: up to 10⁻⁶, the end of its `fit` window). Measured for
    // t ≥ 75: log10(G_128/G_256) constant to 2.4e-7 (its level moves with θ₀, which the f64 search
    // sets: 0.347, 0.070, −0.037 on successive f64 fast paths); log10(G_256/G_f64) on t = 75…102:
    // −0.2714 constant to 6.3e-7 (f64's rounding seeds the unstable direction ≈ 1.9× more than MPFR's). The f64
    // level depends on the realisation of f64's rounding: with the Taylor-17, FMA-free fast tanh it
    // was 1.76–1.88 (≈ 60× less), and the f64 lane then stayed linear after the spike.
    let g: Vec<Vec<f64>> = (0..3).map(|i| st.log10_amplification(i)).collect();
    for t in (25..st.rel[0].len()).step_by(25) {
        eprintln!("t = {t}: log10 G f64 {:.3}, 128 {:.3}, 256 {:.3}", g[0][t], g[1][t], g[2][t]);
    }
    let linear_f64 = fit(st, 0).expect("f64 fit window").t_range.1 as usize;
    let o1: Vec<f64> = (75..st.rel[0].len()).map(|t| g[1][t] - g[2][t]).collect();
    let o0: Vec<f64> = (75..=linear_f64).map(|t| g[2][t] - g[0][t]).collect();
    let mm = |v: &[f64]| (v.iter().cloned().fold(f64::INFINITY, f64::min), v.iter().cloned().fold(f64::NEG_INFINITY, f64::max));
    let ((a1, b1), (a0, b0)) = (mm(&o1), mm(&o0));
    eprintln!("offsets t ≥ 75: G128/G256 [{a1}, {b1}]; t = 75…{linear_f64}: G256/Gf64 [{a0}, {b0}]");
    // 128 and 256 bits: the same law scaled by 2^-bits (amplifications within 0.5 decade, the level's
    // spread over θ₀'s realisations). Constancy: measured 2.4e-7 decade here and ≤ 1e-7 on the
    // earlier θ₀'s, asserted 1e-5.
    assert!(a1 >= -0.5 && b1 <= 0.5 && b1 - a1 <= 1e-5, "log10 G128/G256 in [{a1}, {b1}]");
    // What varies is the alignment: each lane's error is the sum of its own rounding seeds, each
    // carried by the same linearised map, and the ratio of two such sums is constant once both lie
    // along its most unstable direction. The rest falls as e^{−(λ₁−λ₂)t}: the range of the offset
    // over t ≥ t₀ measured 4.7e-4, 2.4e-7, 9.1e-11 decade from t₀ = 50, 75, 100 (2000× and 2600×
    // per 25 steps, a rate ≈ 0.31/step against λ₁ = 0.373), then a floor of 8.8e-11 over t ≥ 100.
    // Asserted: ≥ 100× per 25 steps (a rate ≥ 0.18/step), which a variation of another origin
    // (rounding in the distances, a lane leaving the linear regime: both ≤ 1e-20 here) would not show.
    let range = |from: usize| {
        let (a, b) = mm(&(from..st.rel[0].len()).map(|t| g[1][t] - g[2][t]).collect::<Vec<f64>>());
        b - a
    };
    let (r50, r75, r100) = (range(50), range(75), range(100));
    eprintln!("range of log10 G128/G256 over t ≥ 50, 75, 100: {r50:.3e}, {r75:.3e}, {r100:.3e}");
    assert!(r75 <= r50 / 100.0 && r100 <= r75 / 100.0, "the offset's variation does not decay: {r50:e}, {r75:e}, {r100:e}");
    // f64 while linear: constant to 1e-5 decade (measured 6.3e-7, all of it in the window's last
    // three steps, t = 100–102: the window ends where d_f64 = 1e-6, so the nonlinear part is ≤ 1e-6 relative,
    // ≈ 4e-7 decade), level −0.27 ± 0.25 (faer picks SIMD kernels at run
    // time, which changes f64's rounding seed).
    assert!(b0 - a0 <= 1e-5 && (a0 + 0.27).abs() <= 0.25 && (b0 + 0.27).abs() <= 0.25, "log10 G256/Gf64 in [{a0}, {b0}]");
}

#[test]
#[ignore = "study, ≈ 2.5 min in release: cargo test --release --test claims_precision -- --ignored --nocapture"]
fn claim_28_study_digits_net_64_16_16_10() {
    let layers = [64, 16, 16, 10];
    let ds = data::digits(256).unwrap();
    let path = format!("{}/tests/data/mlp_64-16-16-10_theta_init.npy", env!("CARGO_MANIFEST_DIR"));
    let (th, _) = selfstab::npy::read_npy_f64(&path).unwrap();
    let (step, st) = study(&layers, &ds, &th, "0.2667", 600);
    report("claim 28 study 64-16-16-10", step, &st);
    let (a, b) = phases(&st, 2);
    eprintln!("first spike at t = {}\n  A 256: {a:?}\n  B 256: {b:?}", spike(&st));
    // claims.md (setting of 23–27): unstable at GD step 95. The measured law (theory/claims.toml,
    // claim 28): exponential before the spike (the polynomial law fits worse), f64 vs 512 bits at
    // λ = 0.343/step (halves 0.325 / 0.359; 0.340 on an earlier θ₀: ±0.02), no sustained loss after
    // the spike, and the 256-bit lane keeping ≥ 61.22 of its 77 digits from t = 125 on (the minimum
    // is at the first spike, t = 138; the earlier θ₀ kept 62.97 on the 25-step rows, 62.29 here:
    // assert this realisation's minimum less one decade, as on the micro MLP).
    assert_eq!(step, 95);
    // The polynomial law fits at least 3× worse, as on the micro MLP (measured 0.052 vs 0.210).
    assert!(a.exp_rms * 3.0 < a.poly_rms, "A: exp RMS {} vs poly RMS {}", a.exp_rms, a.poly_rms);
    assert!(b.digits_per_100 < 0.5 * a.digits_per_100, "B {} vs A {} digits per 100 steps", b.digits_per_100, a.digits_per_100);
    let f = fit(&st, 0).expect("f64 fit window");
    eprintln!("f64 vs 512: {f:?}");
    assert!((f.lyapunov - 0.340).abs() <= 0.02, "f64: λ = {} ± {}", f.lyapunov, f.lyapunov_se);
    let dmin = st.digits(2).iter().skip(125).cloned().fold(f64::INFINITY, f64::min);
    eprintln!("256 vs 512: min digits from t = 125: {dmin:.2}");
    assert!(dmin >= 60.2, "256 vs 512: min digits {dmin}");
}

// ---------- selfstab eval: 512 vs 256 bits ----------

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("selfstab-prec-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The tiny digits MLP of the eval test (p = 310: the 256-bit Lanczos to 2^-240 needs a near-full
/// Krylov space and a Jacobi solve of its projected matrix; 64-8-10 with n = 30 took 30 s at 256 bits
/// and 97 s at 512 on the loaded 2-core machine).
const EVAL_LAYERS: [usize; 3] = [64, 4, 10];
const N_EVAL: usize = 20;

fn eval_at(dir: &std::path::Path, prec: Precision, eig_tol: Option<f64>) -> (serde_json::Value, PathBuf) {
    let out = dir.join(prec.to_string());
    let a = EvalArgs {
        theta: dir.join("theta0.npy").to_string_lossy().into(),
        data: dir.join("data.npz").to_string_lossy().into(),
        n: N_EVAL,
        seed: 0,
        layers: EVAL_LAYERS.to_vec(),
        activation: "tanh".into(),
        loss: "mse".into(),
        precision: prec,
        top_k: 1,
        eig_tol,
        out: out.clone(),
    };
    (eval(&a).unwrap(), out)
}

/// A vector written by `eval` as decimals, parsed at 1024 bits.
fn read_txt(path: &std::path::Path) -> Vec<Float> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| Float::with_val(1024, Float::parse(l.trim()).unwrap()))
        .collect()
}

fn dec(v: &serde_json::Value, k: &str) -> Float {
    Float::with_val(1024, Float::parse(v[k].as_str().unwrap()).unwrap())
}

/// ‖a − b‖/‖b‖ at 1024 bits, as f64.
fn rel(a: &[Float], b: &[Float]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mut num = Float::new(1024);
    let mut den = Float::new(1024);
    for (x, y) in a.iter().zip(b) {
        let d = Float::with_val(1024, x - y);
        num += Float::with_val(1024, &d * &d);
        den += Float::with_val(1024, y * y);
    }
    (num / den).sqrt().to_f64()
}

#[test]
fn eval_512_and_256_bits_agree_to_70_digits() {
    let dir = tmp("eval");
    export(&EVAL_LAYERS, "digits", N_EVAL, 0, &dir).unwrap();
    let ts = std::time::Instant::now();
    let (j256, o256) = eval_at(&dir, Precision::Bits(256), None);
    let t0 = std::time::Instant::now();
    // The reference only needs to be exact far beyond the 70 compared digits: eigen tolerance 1e-100
    // (the default 2^-496 costs ~3× the 256-bit solve for nothing the comparison can see).
    let (j512, o512) = eval_at(&dir, Precision::Bits(512), Some(1e-100));
    let t1 = std::time::Instant::now();
    let (j64, o64) = eval_at(&dir, Precision::F64, None);
    eprintln!("eval 512 took {:?}, 256 took {:?}", t1 - t0, t0 - ts);
    let rl = rel(&[dec(&j256, "loss_decimal")], &[dec(&j512, "loss_decimal")]);
    let rs = rel(&[dec(&j256, "sharpness_decimal")], &[dec(&j512, "sharpness_decimal")]);
    let mut rv = vec![];
    for f in ["grad.txt", "u.txt", "grad_sharpness.txt"] {
        rv.push((f, rel(&read_txt(&o256.join(f)), &read_txt(&o512.join(f)))));
    }
    let l64 = j64["loss"].as_f64().unwrap();
    let s64 = j64["sharpness"].as_f64().unwrap();
    let rl64 = ((l64 - j256["loss"].as_f64().unwrap()) / l64).abs();
    let rs64 = ((s64 - j256["sharpness"].as_f64().unwrap()) / s64).abs();
    let (g64, _) = selfstab::npy::read_npy_f64(o64.join("grad.npy")).unwrap();
    let g64: Vec<Float> = g64.iter().map(|&x| Float::with_val(1024, x)).collect();
    let rg64 = rel(&g64, &read_txt(&o256.join("grad.txt")));
    eprintln!("256 vs 512: loss {rl:.3e}, sharpness {rs:.3e}, {rv:?}; f64 vs 256: loss {rl64:.3e}, sharpness {rs64:.3e}, grad {rg64:.3e}; S = {s64}, residual(256) {}", j256["eigen_residual"]);
    std::fs::remove_dir_all(&dir).ok();
    // 256 vs 512 (decisions.md §5: ≥ 70 digits): loss and ∇L carry the 256-bit rounding (2^-256 ≈
    // 1e-77 times the conditioning); u and ∇S also the eigen error ≈ tol·S/gap, tol = 2^-240 ≈ 6e-73
    // (measured on 64-4-10, n = 20: loss 1.1e-77, S 2.2e-77 (2.2e-75 before session 29's Rayleigh
    // quotient), ∇L 1.3e-77, u 6.2e-73, ∇S 1.5e-73; on 64-8-10, n = 30, before session 29: 1.6e-77,
    // 2.3e-75, 1.8e-77, 2.2e-73, 9.0e-74).
    assert!(rl <= 1e-70 && rs <= 1e-70, "loss {rl:e}, sharpness {rs:e}");
    for (f, r) in rv {
        assert!(r <= 1e-70, "{f}: {r:e}");
    }
    // f64 vs 256: loss and ∇L are one forward/backward pass (measured 3.0e-16, 2.0e-16: 64ε leaves
    // ×45 for conditioning); S is the Rayleigh quotient of a vector with residual ≤ tol·S, so its
    // error is ≈ residual²/gap ≈ 1e-20 plus the HVP's rounding: 16ε, as
    // `f64_sharpness_matches_256_bits_to_the_hvp_rounding` asserts (measured 6.7e-16; the 5.0e-15
    // recorded before session 29's Rayleigh-quotient change, when this asserted tol = 1e-10).
    let e = f64::EPSILON;
    assert!(rl64 <= 64.0 * e && rs64 <= 16.0 * e && rg64 <= 64.0 * e, "f64 vs 256: loss {rl64:e} sharpness {rs64:e} grad {rg64:e}");
}
