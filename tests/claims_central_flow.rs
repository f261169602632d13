//! Claims 29–31: the central flow (reference.md §9.1) and its SDCP (theory/README.md "Central flow").
//!
//! Settings: Toy-C = the exact cubic model of claims.md (η = 1, a = e₁, g = (0.01, 0.3, 0), δ² = 0.02);
//! the micro MLP = tanh/MSE 5-10-3 on 50 seeded synthetic points (p = 93), η = 0.44 (2/η = 4.545;
//! S(θ_init) = 3.75, unstable after a few dozen GD steps).
#![allow(clippy::disallowed_methods)] // test code may use std's libm (clippy.toml: library code may not)

mod common;

use rug::Float;
use selfstab::central_flow::{self, FlowOpts, FlowState, Form, substep};
use selfstab::data;
use selfstab::flow_cmd::{Smoothed, agreement, window};
use selfstab::gd::find_instability;
use selfstab::linalg::{from_f64, zeros};
use selfstab::mag::Mag;
use selfstab::models::cubic::{Cubic, CubicSpec};
use selfstab::models::mlp::{Activation, LossKind, Mlp};
use selfstab::scalar::Scalar;
use selfstab::sdcp;

/// Deterministic uniform numbers in (−1, 1) (splitmix64).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

// ---------------------------------------------------------------- claim 29, Toy-C

/// Toy-C from θ = 0 (x = 0, a·w = 0: S = 2/η exactly): σ² must be δ² = 2α/β and
/// w(t) = (0, tη g⊥) with g⊥ = (0, 0.3, 0). Returns (max |σ²/δ² − 1|, max ‖θ − exact‖_∞/‖exact‖_∞, sub-steps).
fn toy_c<S: Scalar>(c: S::Ctx, form: Form) -> (f64, f64, u64) {
    let m = Cubic::<S>::new(&CubicSpec::reference("0.01", "0.3"), c).unwrap();
    let eta = S::one(c);
    let mut opts = FlowOpts::new::<S>(c);
    opts.form = form;
    let mut st = FlowState::new(&zeros::<S>(4, c));
    let delta2 = 0.02;
    let (mut e_sig, mut e_w) = (0.0f64, 0.0f64);
    let steps = 40u64;
    for k in 0..steps * 4 {
        let rec = substep(&m, &eta, &mut st, &opts).unwrap();
        assert_eq!(rec.n_crit, 1, "Toy-C has exactly one critical eigenvalue (S = 2/η, the others 0)");
        e_sig = e_sig.max((rec.sigma[0] / delta2 - 1.0).abs());
        // After k+1 sub-steps of dt = 1/4: w₂ = (k+1)/4 · η · 0.3.
        let w2 = S::from_i64((k + 1) as i64, c) * &S::parse("0.25", c).unwrap() * &S::parse("0.3", c).unwrap();
        let exact = [S::zero(c), S::zero(c), w2.clone(), S::zero(c)];
        let err = st.w.iter().zip(&exact).map(|(a, b)| (a.clone() - b).abs().to_f64()).fold(0.0, f64::max);
        e_w = e_w.max(err / w2.to_f64());
    }
    (e_sig, e_w, steps * 4)
}

fn claim_29_toy_c<S: Scalar>(c: S::Ctx) {
    let eps = S::eps(c);
    for form in [Form::One, Form::K] {
        let (e_sig, e_w, n) = toy_c::<S>(c, form);
        println!("{form:?}: max|σ²/δ²−1| = {e_sig:.3e}, max rel error of w(t) = {e_w:.3e} ({n} sub-steps, eps {eps:.1e})");
        // σ² = 2α_S/‖∇S‖² + 2(λ − 2/η)/(η dt ‖∇S‖²): the first term is 2α/β to a few roundings; the
        // restoring term turns the rounding of λ = S(w) (≤ 8 eps·λ, λ = 2) into
        // |Δσ²|/δ² ≤ 2·16 eps/(η dt β δ²) = 6400 eps (η = β = 1, dt = 1/4, δ² = 0.02).
        assert!(e_sig <= 6400.0 * eps, "{form:?}: σ²/δ² − 1 = {e_sig:e}");
        // w accumulates one rounding of dt·η·g⊥ per sub-step, plus the a-component from the rounding
        // of σ²: ≤ n·(few) eps relative; bound 4n eps.
        assert!(e_w <= 4.0 * n as f64 * eps, "{form:?}: w(t) off by {e_w:e}");
    }
}

#[test]
fn claim_29_toy_c_sigma2_is_delta2_and_flow_is_linear_f64() {
    claim_29_toy_c::<f64>(());
}

#[test]
fn claim_29_toy_c_sigma2_is_delta2_and_flow_is_linear_mpfr256() {
    claim_29_toy_c::<Float>(256);
}

// ---------------------------------------------------------------- micro MLP

const ETA_MICRO: f64 = 0.44;

fn micro() -> (Mlp<f64>, Vec<f64>) {
    let layers = [5usize, 10, 3];
    let ds = data::synthetic(50, 5, 3, 0).unwrap();
    let m = Mlp::<f64>::new(&layers, Activation::Tanh, LossKind::Mse, &ds, ()).unwrap();
    let th = data::init_params(&layers, 0).unwrap();
    (m, th)
}

fn micro_unstable() -> (Mlp<f64>, Vec<f64>, u64) {
    let (m, th) = micro();
    let inst = find_instability(&m, &ETA_MICRO, &th, 5000, Mag::new(1e-10), &mut []).unwrap();
    (m, inst.theta, inst.step)
}

/// Along the flow from θ₀ (S(θ₀) ≥ 2/η): S(w) stays at 2/η and L(w) does not increase.
#[test]
fn claim_29_micro_mlp_sharpness_held_and_loss_monotone_f64() {
    let (m, th0, step) = micro_unstable();
    let thr = 2.0 / ETA_MICRO;
    for form in [Form::One, Form::K] {
        let mut opts = FlowOpts::new::<f64>(());
        opts.form = form;
        let mut st = FlowState::new(&th0);
        let mut recs = vec![];
        for _ in 0..300 * 4 {
            recs.push(substep(&m, &ETA_MICRO, &mut st, &opts).unwrap());
        }
        // From the second GD step on (the restoring term brings S from S(θ₀) to 2/η in one sub-step).
        // The one-eigenvalue form controls only the top eigenvector: check it while one eigenvalue is
        // critical (a second one reaches 2/η at t ≈ 71 on this net).
        let end = match form {
            Form::One => recs.iter().position(|r| r.n_crit >= 2).unwrap_or(recs.len()),
            Form::K => recs.len(),
        };
        let s_dev = recs[4..end].iter().map(|r| (r.eigs[0] - thr).abs() / thr).fold(0.0, f64::max);
        let l_up = recs.windows(2).map(|w| (w[1].loss - w[0].loss) / w[0].loss).fold(f64::NEG_INFINITY, f64::max);
        let crit = recs.iter().filter(|r| r.n_crit >= 1).count();
        let two = recs.iter().filter(|r| r.n_crit >= 2).count();
        println!(
            "{form:?}: instability at GD step {step}; max|S(w)−2/η|/(2/η) over t ∈ [1, {}) = {s_dev:.3e}; max relative loss change per sub-step = {l_up:.3e}; L {:.6e} → {:.6e}; sub-steps with ≥1 / ≥2 critical eigenvalues {crit} / {two} of {}",
            end as f64 / 4.0,
            recs[0].loss,
            recs.last().unwrap().loss,
            recs.len()
        );
        assert!(crit > recs.len() / 2, "the flow should be at the edge of stability most of the time");
        // Sharpness held: each Euler sub-step is exact to first order and the restoring term removes
        // the accumulated error, so |S − 2/η| is the one-sub-step second-order remainder
        // ½ dt²η²‖ẇ‖²·|∇²λ| (measured 3.2e-6 in both forms, the one form before λ₂ arrives; without the K form
        // the one form drifts to 1.2e-3 once two are critical; bound 1e-4: 30× the held remainder
        // and 12× below that drift, so it separates a held constraint from a lost one).
        assert!(s_dev <= 1e-4, "{form:?}: S(w) left 2/η by {s_dev:e}");
        // dL/dt = −η‖P∇L‖² ≤ 0 along the flow (the projection of −η∇L onto the stable cone); an Euler
        // sub-step can raise L only at second order in dt, which this step size does not reach.
        assert!(l_up < 0.0, "{form:?}: L(w) increased by {l_up:e} in one sub-step");
    }
}

// ---------------------------------------------------------------- claim 30

/// GD vs the flow on the micro MLP for `steps` steps, Gaussian width w: (x², loss, loss without the
/// trΣ/η term, ‖∇L‖², S) relative L1 errors over the interior window.
fn claim_30_errors(steps: u64, w: f64) -> [f64; 5] {
    let (m, th0, _) = micro_unstable();
    claim_30_errors_of(&m, ETA_MICRO, &th0, steps, w).0
}

/// GD vs the flow from θ₀ for `steps` steps, Gaussian width w: the relative L1 errors of
/// [`claim_30_errors`] and the ratios of the window means (smoothed GD / prediction) of x² and ‖∇L‖².
fn claim_30_errors_of(m: &Mlp<f64>, eta: f64, th0: &[f64], steps: u64, w: f64) -> ([f64; 5], [f64; 2]) {
    let opts = FlowOpts::new::<f64>(());
    let (rows, maxres) = central_flow::compare(m, &eta, th0, steps, &opts, |_: &[central_flow::CompareRow]| {}).unwrap();
    let sm = Smoothed::new(&rows, w);
    let win = window(rows.len(), w);
    let col = |f: fn(&central_flow::CompareRow) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    let x2 = agreement(&sm.x2, &col(|r| r.tr_sigma), win.clone());
    let lo = agreement(&sm.loss, &col(|r| r.pred_loss), win.clone());
    let l0 = agreement(&sm.loss, &col(|r| r.loss_flow), win.clone());
    let gs = agreement(&sm.grad_sq, &col(|r| r.pred_grad_sq), win.clone());
    let sh = agreement(&sm.sharpness, &col(|r| r.sharpness_flow), win.clone());
    println!(
        "{steps} steps, width {w}, window {win:?}: x² {:.3} (means {:.3e} vs {:.3e}), loss {:.4} (L(w) alone {:.4}), ‖∇L‖² {:.3}, S {:.4}; SDCP max residuals {maxres:?}; max critical {}",
        x2.rel_l1, x2.mean_gd, x2.mean_pred, lo.rel_l1, l0.rel_l1, gs.rel_l1, sh.rel_l1, rows.iter().map(|r| r.n_crit).max().unwrap()
    );
    ([x2.rel_l1, lo.rel_l1, l0.rel_l1, gs.rel_l1, sh.rel_l1], [x2.mean_gd / x2.mean_pred, gs.mean_gd / gs.mean_pred])
}


/// Short run: 400 steps, width 25 (window t ∈ [100, 300]: the early EoS cycles of this net, tens of
/// steps each, several inside one kernel). The errors are pinned to the measured ones (see
/// theory/README.md) at their 5 recorded significant digits: a 1-ulp change of θ₀ (entries 0, 7,
/// 50, either direction) moves every error by ≤ 2e-12 relative, so the run is not chaotic at this
/// horizon (until session 42 they were stored to 3 digits and pinned within 1 %). The loss
/// prediction must also beat L(w) alone by 5×, i.e. the tr Σ/η term is what matches GD.
#[test]
fn claim_30_micro_mlp_smoothed_gd_matches_flow() {
    let [x2, lo, l0, gs, sh] = claim_30_errors(400, 25.0);
    pinned_errors([x2, lo, l0, gs, sh], MEASURED_SHORT);
    assert!(lo * 5.0 <= l0, "the tr Σ/η term does not improve the loss prediction: {lo} vs {l0}");
}

/// The five errors (x², loss, L(w) alone, ‖∇L‖², S) at their recorded 5 significant digits.
fn pinned_errors(errors: [f64; 5], measured: [f64; 5]) {
    let names = ["x² vs tr Σ", "loss vs L(w) + tr Σ/η", "L(w) alone", "‖∇L‖² vs prediction", "S vs S(w)"];
    for ((name, e), m) in names.iter().zip(errors).zip(measured) {
        common::recorded_significant(name, e, m, 5);
    }
}

/// Measured relative L1 errors of the short run (x², loss, L(w) alone, ‖∇L‖², S).
const MEASURED_SHORT: [f64; 5] = [0.12802, 0.050127, 0.55689, 0.13130, 0.054367];

/// Measured relative L1 errors of the long run (x², loss, L(w) alone, ‖∇L‖², S).
const MEASURED_LONG: [f64; 5] = [0.15633, 0.025841, 0.96740, 0.088934, 0.010005];

/// Long run: 1500 steps, width 100 (≈ 1 min in release): the same pins at 5 significant digits (a
/// 1-ulp change of θ₀ at entries 0 or 7 moves them by ≤ 1e-11 relative), and the tr Σ/η term must
/// improve the loss error ≥ 10×.
#[test]
#[ignore = "long study (1,500 steps, ≈ 26 s in release): cargo test --test claims_central_flow -- --ignored claim_30"]
fn claim_30_micro_mlp_smoothed_gd_matches_flow_long() {
    let [x2, lo, l0, gs, sh] = claim_30_errors(1500, 100.0);
    pinned_errors([x2, lo, l0, gs, sh], MEASURED_LONG);
    assert!(lo * 10.0 <= l0, "the tr Σ/η term does not improve the loss prediction: {lo} vs {l0}");
}

/// claim 30's finding on the default digits net (64-16-16-10, n = 256, θ_init vendored, η = 0.2667;
/// the `selfstab flow --steps 4750 --smooth 150` job): 4750 steps from the instability point (GD step
/// 95), width 150, window t ∈ [600, 4150]. The loss and the sharpness match; x² and ‖∇L‖² match only
/// on average, not pointwise (GD's oscillation regrows a few hundred steps after the flow's tr Σ
/// switches back on, t ≈ 1800–2500; theory/README.md Findings). Past GD's first spike its bits depend
/// on the rounding realisation (the micro net's runs are not chaotic and are pinned to 5 digits), so
/// each error must lie in the range of nine realisations ([`DIGITS_REALISATIONS`]) widened by twice
/// its width on each side, which keeps the pointwise errors ≥ 0.41: the finding fails if they match
/// pointwise.
#[test]
#[ignore = "long study (4,750 steps, ≈ 6 min in release): cargo test --release --test claims_central_flow -- --ignored claim_30"]
fn claim_30_digits_net_x2_and_gradient_match_only_on_average() {
    let layers = [64usize, 16, 16, 10];
    let ds = data::digits(256).unwrap();
    let m = Mlp::<f64>::new(&layers, Activation::Tanh, LossKind::Mse, &ds, ()).unwrap();
    let path = format!("{}/tests/data/mlp_64-16-16-10_theta_init.npy", env!("CARGO_MANIFEST_DIR"));
    let (th, _) = selfstab::npy::read_npy_f64(&path).unwrap();
    let eta = 0.2667;
    let inst = find_instability(&m, &eta, &th, 5000, Mag::new(1e-10), &mut []).unwrap();
    assert_eq!(inst.step, 95);
    let ([x2, lo, l0, gs, sh], [mx2, mgs]) = claim_30_errors_of(&m, eta, &inst.theta, 4750, 150.0);
    println!("window means, smoothed GD / prediction: x² {mx2:.4}, ‖∇L‖² {mgs:.4}");
    let names = ["x² vs tr Σ (pointwise)", "loss vs L(w) + tr Σ/η", "L(w) alone", "‖∇L‖² vs prediction (pointwise)", "S vs S(w)"];
    for ((name, e), (min, max)) in names.iter().zip([x2, lo, l0, gs, sh]).zip(DIGITS_REALISATIONS) {
        let w = max - min;
        assert!(e >= min - 2.0 * w && e <= max + 2.0 * w, "{name}: {e} outside [{min}, {max}] (nine rounding realisations) widened by 2 × {w:e} on each side");
    }
    for (what, r) in [("x²", mx2), ("‖∇L‖²", mgs)] {
        assert!((r - 1.0).abs() <= MEANS_DIGITS, "{what}: window means differ by {r} (recorded within {MEANS_DIGITS})");
    }
}

/// The relative L1 errors of the digits run (x², loss, L(w) alone, ‖∇L‖², S), smallest and largest
/// over nine rounding realisations: θ_init as vendored (0.51616, 0.057280, 0.11537, 0.51631,
/// 0.0063548: `selfstab flow --steps 4750 --smooth 150`'s flow_summary.json) and with one entry
/// moved by an ulp (entries 20 up and down, 84, 150, 600, 1100 up and down, 1300; W₁'s entries 0 and
/// 7 weigh pixels that are 0 in every image and change no bit). Standard deviations of ln(error):
/// 0.025, 0.019, 0.0026, 0.025, 0.024 (measured 2026-12-07 on the Zen 3 host; a machine whose faer
/// kernels round otherwise is one more realisation).
const DIGITS_REALISATIONS: [(f64, f64); 5] = [(0.50038, 0.54338), (0.055938, 0.059528), (0.11462, 0.11555), (0.50048, 0.54350), (0.0061407, 0.0066498)];

/// The window means of x² and ‖∇L‖² (smoothed GD over prediction) agree to this: the claim's match
/// on average (measured 1.056 and 1.059; 1.049–1.058 and 1.052–1.061 over the nine realisations of
/// [`DIGITS_REALISATIONS`]).
const MEANS_DIGITS: f64 = 0.1;

// ---------------------------------------------------------------- claim 31

/// k = 1: X = max(0, −â/‖g‖²), the closed form of claim 29.
fn claim_31_k1<S: Scalar>(c: S::Ctx) {
    let tol = sdcp::default_tol::<S>(c);
    let mut rng = Rng(7);
    let mut worst = 0.0f64;
    for _ in 0..40 {
        let g: Vec<S> = (0..5).map(|_| S::from_f64(rng.next(), c)).collect();
        let a = S::from_f64(rng.next() * 3.0, c);
        let sol = sdcp::solve_gram(std::slice::from_ref(&a), std::slice::from_ref(&g), 1, tol, None).unwrap();
        let gg = selfstab::linalg::dot(&g, &g);
        let closed = -(a / &gg);
        let closed = if closed.to_f64() > 0.0 { closed } else { S::zero(c) };
        let err = (sol.x[0].clone() - &closed).abs().to_f64() / closed.to_f64().abs().max(1.0);
        worst = worst.max(err);
    }
    println!("k = 1: max |X − closed form| = {worst:.3e} (eps {:.1e})", S::eps(c));
    // One Newton step on a 1×1 problem: the claim's bound, 1 ulp relative (measured 0.88 ulp in
    // f64, 0.97 at 256 bits).
    assert!(worst <= S::eps(c), "k = 1 SDCP differs from the closed form by {worst:e}");
}

#[test]
fn claim_31_sdcp_k1_reduces_to_closed_form_f64() {
    claim_31_k1::<f64>(());
}

#[test]
fn claim_31_sdcp_k1_reduces_to_closed_form_mpfr256() {
    claim_31_k1::<Float>(256);
}

/// Constructed k = 3 problem with a known answer: Q a fixed rotation, X* = Q diag(2, 0.5, 0) Qᵀ,
/// Z* = Q diag(0, 0, 1.5) Qᵀ, g_ij random in ℝ⁹ (B̂ positive definite, so the solution is unique),
/// Â := Z* − B̂[X*]. The solver must return X*.
fn claim_31_k3<S: Scalar>(c: S::Ctx) {
    let m = 3;
    let tol = sdcp::default_tol::<S>(c);
    let mut rng = Rng(11);
    // Q from Jacobi of a random symmetric matrix (orthonormal rows).
    let r: Vec<f64> = (0..9).map(|_| rng.next()).collect();
    let sym: Vec<S> = (0..9).map(|k| S::from_f64(r[k] + r[(k % 3) * 3 + k / 3], c)).collect();
    let (_, q) = selfstab::linalg::jacobi_eigen(&sym, 3);
    let comp = |d: [&str; 3]| -> Vec<S> {
        let mut a = zeros::<S>(9, c);
        for k in 0..3 {
            let dk = S::parse(d[k], c).unwrap();
            for i in 0..3 {
                for j in 0..3 {
                    let t = q[k * 3 + i].clone() * &dk;
                    a[i * 3 + j].mul_acc(&t, &q[k * 3 + j]);
                }
            }
        }
        a
    };
    let xs = comp(["2", "0.5", "0"]);
    let zs = comp(["0", "0", "1.5"]);
    let gs: Vec<Vec<S>> = (0..6).map(|_| (0..9).map(|_| S::from_f64(rng.next(), c)).collect()).collect();
    // B̂[X*]_ij = Σ_kl X*_kl ⟨g_ij, g_kl⟩.
    let mut a_hat = zs.clone();
    for i in 0..m {
        for j in 0..m {
            for k in 0..m {
                for l in 0..m {
                    let d = selfstab::linalg::dot(&gs[sdcp::svec_index(m, i, j)], &gs[sdcp::svec_index(m, k, l)]) * &xs[k * m + l];
                    a_hat[i * m + j] -= &d;
                }
            }
        }
    }
    let sol = sdcp::solve_gram(&a_hat, &gs, m, tol, None).unwrap();
    let err = sol.x.iter().zip(&xs).map(|(a, b)| (a.clone() - b).abs().to_f64()).fold(0.0, f64::max);
    println!("k = 3 constructed: max |X − X*| = {err:.3e}, iterations {}, residuals {:?}, eigenvalues {:?}", sol.iters, sol.res, sol.x_eigs);
    // The solution is strictly complementary (X* has eigenvalues 2, 0.5, 0 and Z* 0, 0, 1.5) and B̂
    // positive definite, so near it the error is Lipschitz in the residuals, with a constant set by
    // B̂'s conditioning: the residuals are relative to b = λ_max(G), so the error (relative to ‖X*‖
    // ~ 1) is ≲ κ(G)·res, κ(G) = λ_max/λ_min of the Gram matrix G_ab = ⟨g_a, g_b⟩ (B̂ on svec
    // coordinates is G with the off-diagonal pairs weighted ≥ 1, no worse conditioned for the
    // bound's purpose). Bound 10·κ(G) × the residual reached (floored at one rounding).
    let n = gs.len();
    let gram: Vec<S> = (0..n * n).map(|k| selfstab::linalg::dot(&gs[k / n], &gs[k % n])).collect();
    let (gev, _) = selfstab::linalg::jacobi_eigen(&gram, n);
    let (gmax, gmin) = gev.iter().fold((0.0f64, f64::INFINITY), |(a, b), v| (a.max(v.to_f64()), b.min(v.to_f64())));
    let kappa = gmax / gmin;
    println!("k = 3 constructed: κ(G) = {kappa:.3e} (λ {gmin:.3e} … {gmax:.3e})");
    let bound = 10.0 * kappa * sol.res.max().max(S::eps_mag(c));
    assert!(err <= bound, "X differs from the constructed answer by {err:e} (bound {bound:e})");
    assert!((sol.x_eigs[2]).abs() <= bound && (sol.x_eigs[0] - 2.0).abs() <= bound);
}

#[test]
fn claim_31_sdcp_constructed_k3_known_answer_f64() {
    claim_31_k3::<f64>(());
}

#[test]
fn claim_31_sdcp_constructed_k3_known_answer_mpfr256() {
    claim_31_k3::<Float>(256);
}

/// 300 random problems, m = 1..6, g_ij in ℝᵖ with p ∈ {n, 2n, 30} (n = m(m+1)/2, so B̂ is positive
/// definite and the SDCP has a unique solution): every solve meets the tolerance, X is PSD and
/// complementary.
/// The optimality conditions of an SDCP solution recomputed from the definitions, not from the
/// solver's own residuals: Z = Â + B̂[X] with B̂[X]_ij = Σ_kl X_kl ⟨g_ij, g_kl⟩ summed over all
/// ordered (k, l), checked against the returned Z (to 1e-12 of ‖Â‖_F: sums of p ≤ 42 products);
/// the eigenvalues of X and Z by the dense Jacobi; b = λ_max of the svec Gram matrix (weights √2 off
/// the diagonal). Returns max(b·max(0, −λ_min X)/a, max(0, −λ_min Z)/a, b·|⟨X, Z⟩|/a²), a = ‖Â‖_F:
/// the residuals the claim bounds, in the solver's normalisation.
fn check_sdcp_independently(a: &[f64], gs: &[Vec<f64>], m: usize, x: &[f64], z: &[f64], case: usize) -> f64 {
    let idx = |i: usize, j: usize| {
        let (i, j) = (i.min(j), i.max(j));
        (0..i).map(|r| m - r).sum::<usize>() + (j - i)
    };
    let ip = |u: &[f64], v: &[f64]| u.iter().zip(v).map(|(p, q)| p * q).sum::<f64>();
    let an = ip(a, a).sqrt();
    let mut zz = a.to_vec();
    for i in 0..m {
        for j in 0..m {
            for k in 0..m {
                for l in 0..m {
                    zz[i * m + j] += x[k * m + l] * ip(&gs[idx(i, j)], &gs[idx(k, l)]);
                }
            }
        }
    }
    let dz = zz.iter().zip(z).map(|(p, q)| (p - q).abs()).fold(0.0, f64::max);
    assert!(dz <= 1e-12 * an, "case {case}: returned Z differs from Â + B̂[X] by {dz:e} (‖Â‖ = {an:e})");
    let n = m * (m + 1) / 2;
    let mut g = vec![0.0; n * n];
    let w = |i: usize, j: usize| if i == j { 1.0 } else { std::f64::consts::SQRT_2 };
    for i in 0..m {
        for j in i..m {
            for k in 0..m {
                for l in k..m {
                    g[idx(i, j) * n + idx(k, l)] = w(i, j) * w(k, l) * ip(&gs[idx(i, j)], &gs[idx(k, l)]);
                }
            }
        }
    }
    let b = selfstab::linalg::jacobi_eigen(&g, n).0[0];
    let min_eig = |s: &[f64]| *selfstab::linalg::jacobi_eigen(s, m).0.last().unwrap();
    let psd_x = b * (-min_eig(x)).max(0.0) / an;
    let psd_z = (-min_eig(&zz)).max(0.0) / an;
    let compl = b * ip(x, &zz).abs() / (an * an);
    psd_x.max(psd_z).max(compl)
}

#[test]
fn claim_31_sdcp_random_problems_psd_and_complementary_f64() {
    let mut rng = Rng(3);
    let tol = sdcp::default_tol::<f64>(());
    let (mut worst, mut iters, mut indep) = (0.0f64, 0usize, 0.0f64);
    let mut ranks = [0usize; 7];
    for case in 0..300 {
        let m = 1 + case % 6;
        let n = m * (m + 1) / 2;
        let p = [n, 2 * n, 30][case % 3];
        let gs: Vec<Vec<f64>> = (0..n).map(|_| (0..p).map(|_| rng.next()).collect()).collect();
        let mut a = vec![0.0; m * m];
        for i in 0..m {
            for j in i..m {
                let v = rng.next() * 2.0;
                a[i * m + j] = v;
                a[j * m + i] = v;
            }
        }
        let sol = sdcp::solve_gram(&a, &gs, m, tol, None).unwrap_or_else(|e| panic!("case {case} (m {m}, p {p}): {e}"));
        worst = worst.max(sol.res.max().to_f64());
        iters = iters.max(sol.iters);
        ranks[sol.x_eigs.iter().filter(|&&v| v > 1e-8).count()] += 1;
        assert!(sol.x_eigs.iter().all(|&v| v >= -1e-12), "case {case}: X not PSD {:?}", sol.x_eigs);
        indep = indep.max(check_sdcp_independently(&a, &gs, m, &sol.x, &sol.z, case));
    }
    println!("max residual {worst:.3e} (recomputed here: {indep:.3e}), max iterations {iters}, rank histogram {ranks:?}");
    assert!(indep <= tol, "recomputed SDCP residual {indep:e} above the tolerance {tol:e}");
    // Not a bound of the claim: a regression guard at the measured maximum (16 Newton iterations
    // over the 300 problems).
    assert!(iters <= 16, "an SDCP solve took {iters} Newton iterations");
}

/// At the micro MLP's instability point (one critical eigenvalue) one sub-step of the K form equals
/// one of the closed-form one-eigenvalue form.
#[test]
fn claim_31_flow_sdcp_equals_one_eigenvalue_form_on_mlp_f64() {
    let (m, th0, _) = micro_unstable();
    let mut o1 = FlowOpts::new::<f64>(());
    o1.form = Form::One;
    let ok = FlowOpts::new::<f64>(());
    let mut s1 = FlowState::new(&th0);
    let mut sk = FlowState::new(&th0);
    let mut worst_sigma = 0.0f64;
    let mut worst_w = 0.0f64;
    for _ in 0..20 {
        let r1 = substep(&m, &ETA_MICRO, &mut s1, &o1).unwrap();
        let rk = substep(&m, &ETA_MICRO, &mut sk, &ok).unwrap();
        assert_eq!(rk.n_crit, 1);
        worst_sigma = worst_sigma.max((r1.sigma[0] - rk.sigma[0]).abs() / r1.sigma[0].max(1e-300));
        let d = s1.w.iter().zip(&sk.w).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        let nrm = s1.w.iter().fold(0.0f64, |a, b| a.max(b.abs()));
        worst_w = worst_w.max(d / nrm);
    }
    println!("20 sub-steps: max rel |σ²_one − X_K| = {worst_sigma:.3e}, max rel |w_one − w_K| = {worst_w:.3e}");
    // For k = 1 the SDCP is scalar: at X = σ²(1 + e) its complementarity residual (relative, as
    // `sdcp::Residuals` defines it) is |e|, so the K form's σ² is the closed form's within the SDCP
    // tolerance; w moves by a small fraction of itself per sub-step, so 20 sub-steps carry at most
    // that relative difference into w too. Bound: the SDCP tolerance for both (measured 2.3e-12
    // and 5.7e-13 against 1e-10).
    let tol = ok.sdcp_tol;
    assert!(worst_sigma <= tol && worst_w <= tol, "σ² {worst_sigma:e}, w {worst_w:e} above the SDCP tolerance {tol:e}");
    let _ = from_f64::<f64>;
}

/// A singular B̂ with a direction of negative Â it cannot see (g_ij = 0 for the second eigenvector):
/// the QP is unbounded and the SDCP has no solution; the solver must return an error naming the
/// residuals, not a wrong X.
#[test]
fn claim_31_sdcp_without_solution_is_an_error() {
    let gs = vec![vec![1.0, 0.0], vec![0.0, 0.0], vec![0.0, 0.0]];
    let a = vec![-1.0, 0.0, 0.0, -1.0];
    let err = sdcp::solve_gram(&a, &gs, 2, Mag::new(1e-10), None).unwrap_err().to_string();
    println!("{err}");
    assert!(err.contains("missed its tolerance") && err.contains("complementarity"), "{err}");
}
