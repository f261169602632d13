//! Models beyond MLPs (theory/README.md "Models beyond MLPs"): the small CNN on the 8×8 digits and
//! the width-1 model. Claims 33–35 on both (f64 and 256 bits), and the CNN at the edge of stability.

mod common;
use common::{eigvec_davis_kahan, loglog_slope};
use rug::Float;
use selfstab::data::{Dataset, digits};
use selfstab::linalg::{dot, from_f64, jacobi_eigen, zeros};
use selfstab::mag::Mag;
use selfstab::models::cnn::{Cnn, CnnSpec};
use selfstab::models::mlp::{Activation, LossKind};
use selfstab::models::width1::{Width1, width1_data};
use selfstab::objective::{Objective, dense_hessian};
use selfstab::scalar::Scalar;
use selfstab::sharpness::{EigenOpts, top_eigen};

const BITS: u32 = 256;

// ------------------------------------------------------------------------------------------------
// Fixtures.

/// The first rows of digits with label 0 or 1 (labels kept: a 2-class problem), n of them.
fn digits_two_classes(n: usize) -> Dataset {
    let all = digits(200).unwrap();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..all.n {
        if all.y[i] < 2 && y.len() < n {
            x.extend_from_slice(&all.x[i * 64..(i + 1) * 64]);
            y.push(all.y[i]);
        }
    }
    Dataset { x, y, n, d: 64 }
}

/// A unit-ish direction from a fixed formula.
fn direction(p: usize, seed: f64) -> Vec<f64> {
    let v: Vec<f64> = (0..p).map(|k| libm::cos(0.91 * k as f64 + seed) + 0.3 * libm::sin(2.3 * k as f64 * seed)).collect();
    let nrm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
    v.into_iter().map(|a| a / nrm).collect()
}

/// A labelled objective at a point with two directions.
struct Case<S: Scalar> {
    label: String,
    obj: Box<dyn Objective<S>>,
    th: Vec<S>,
    v: Vec<S>,
    w: Vec<S>,
}

fn cnn_case<S: Scalar>(channels: &[usize], act: Activation, loss: LossKind, ds: &Dataset, classes: usize, c: S::Ctx) -> Case<S> {
    let spec = CnnSpec::new(channels, classes).unwrap();
    let obj = Cnn::<S>::new(&spec, act, loss, ds, c).unwrap();
    let p = spec.param_count();
    Case {
        label: format!("cnn {channels:?} {act:?} {loss:?} (p = {p})"),
        th: from_f64(&spec.init(11), c),
        v: from_f64(&direction(p, 0.4), c),
        w: from_f64(&direction(p, 1.3), c),
        obj: Box::new(obj),
    }
}

fn width1_case<S: Scalar>(act: Activation, c: S::Ctx) -> Case<S> {
    let d = width1_data(32, 5).unwrap();
    Case {
        label: format!("width1 {act:?}"),
        obj: Box::new(Width1::<S>::new(act, &d, c).unwrap()),
        th: from_f64(&[0.9, -0.4, 1.6], c),
        v: from_f64(&direction(3, 0.4), c),
        w: from_f64(&direction(3, 1.3), c),
    }
}

/// The f64 cases: CNNs with one and two conv stages on 16 digits (10 classes) and the width-1
/// model, covering the three activations and both losses.
fn cases<S: Scalar>(c: S::Ctx) -> Vec<Case<S>> {
    let ds = digits(16).unwrap();
    vec![
        cnn_case(&[2], Activation::Tanh, LossKind::Mse, &ds, 10, c),
        cnn_case(&[2, 2], Activation::Silu, LossKind::Ce, &ds, 10, c),
        cnn_case(&[3], Activation::Gelu, LossKind::Mse, &ds, 10, c),
        width1_case(Activation::Tanh, c),
        width1_case(Activation::Silu, c),
    ]
}

/// The 256-bit cases (cheaper CNNs: 8 digits).
fn cases_mpfr(c: u32) -> Vec<Case<Float>> {
    let ds = digits(8).unwrap();
    vec![
        cnn_case(&[2], Activation::Tanh, LossKind::Mse, &ds, 10, c),
        cnn_case(&[1, 1], Activation::Silu, LossKind::Ce, &ds, 10, c),
        width1_case(Activation::Tanh, c),
        width1_case(Activation::Gelu, c),
    ]
}

fn shifted<S: Scalar>(th: &[S], h: &S, v: &[S]) -> Vec<S> {
    th.iter().zip(v).map(|(a, b)| a.clone() + &(h.clone() * b)).collect()
}

fn dist<S: Scalar>(a: &[S], b: &[S]) -> f64 {
    let mut s = a[0].clone() - &a[0];
    for (x, y) in a.iter().zip(b) {
        let d = x.clone() - y;
        s.mul_acc(&d, &d);
    }
    s.sqrt().to_f64()
}

fn steps_f64() -> Vec<f64> {
    (0..8).map(|k| 0.1 * libm::ldexp(1.0, -k)).collect()
}

fn steps_mpfr(c: u32, from: i32, to: i32) -> Vec<Float> {
    (from..=to).map(|k| Float::with_val(c, Float::parse(format!("1e-{k}")).unwrap())).collect()
}

/// Central differences of a vector-valued map F along `dir` at each step, against `exact`.
fn fd_vec<S: Scalar>(th: &[S], dir: &[S], steps: &[S], exact: &[S], f: &dyn Fn(&[S]) -> Vec<S>) -> Vec<f64> {
    let c = th[0].ctx();
    steps
        .iter()
        .map(|h| {
            let fp = f(&shifted(th, h, dir));
            let fm = f(&shifted(th, &-h.clone(), dir));
            let two_h = h.clone() * &S::from_i64(2, c);
            let fd: Vec<S> = fp.iter().zip(&fm).map(|(a, b)| (a.clone() - b) / &two_h).collect();
            dist(&fd, exact)
        })
        .collect()
}

// ------------------------------------------------------------------------------------------------
// Claim 33: ∇L and ∇²L v against central differences, order 2.

/// Errors of FD(L)·v vs ∇L·v and FD(∇L) vs ∇²L v.
fn claim_33_errors<S: Scalar>(k: &Case<S>, steps: &[S]) -> (Vec<f64>, Vec<f64>) {
    let c = k.obj.ctx();
    let p = k.obj.dim();
    let mut g = zeros::<S>(p, c);
    k.obj.grad(&k.th, &mut g).unwrap();
    let gv = vec![dot(&g, &k.v)];
    let mut hv = zeros::<S>(p, c);
    k.obj.hvp(&k.th, &k.v, &mut hv).unwrap();
    let eg = fd_vec(&k.th, &k.v, steps, &gv, &|t| vec![k.obj.value(t).unwrap()]);
    let eh = fd_vec(&k.th, &k.v, steps, &hv, &|t| {
        let mut o = zeros::<S>(p, c);
        k.obj.grad(t, &mut o).unwrap();
        o
    });
    (eg, eh)
}

/// f64, h = 0.1·2^-k, k = 0..7: truncation ≈ h²/6·|∇³L[v,v,v]| dominates rounding ε|L|/h ≤ 1e-13 on
/// this range, so the log-log slope must be 2; the O(h⁴) term moves it by ≈ (c₄/c₂)h²/4 at most
/// (measured |slope − 2| ≤ 0.0010 over the five cases; tolerance 0.02).
#[test]
fn claim_33_cnn_and_width1_grad_hvp_match_central_differences_order_2_f64() {
    let steps = steps_f64();
    for k in cases::<f64>(()) {
        let (eg, eh) = claim_33_errors(&k, &steps);
        let (sg, sh) = (loglog_slope(&steps, &eg).0, loglog_slope(&steps, &eh).0);
        eprintln!("claim 33 {}: ∇L FD {:.2e}..{:.2e} slope {sg:.4}; HVP FD {:.2e}..{:.2e} slope {sh:.4}", k.label, eg[0], eg[7], eh[0], eh[7]);
        assert!((sg - 2.0).abs() < 0.02 && (sh - 2.0).abs() < 0.02, "{}: slopes {sg}, {sh} ({eg:?}, {eh:?})", k.label);
    }
}

/// The 256-bit central-difference ratios' tolerance here (steps from 1e-3): ten times the worst
/// measured O(h²) correction, 1.9e-6 (claim 35, width-1 tanh).
const RATIO_TOL_256: f64 = 2e-5;

/// 256 bits, h = 1e-3 … 1e-14: truncation C h² ≥ 1e-30·C while rounding ≈ 2^-255/h ≤ 1e-63, so every
/// decade of h divides the error by 100; the O(h²) correction to that ratio is ≈ (c₄/c₂)·1e-6:
/// measured worst 6.9e-7 here and 1.9e-6 for claim 35's series, so each ratio must be 100 within
/// [`RATIO_TOL_256`] = 2e-5, ten times the worst (until session 42: 1 %).
#[test]
fn claim_33_cnn_and_width1_grad_hvp_match_central_differences_order_2_mpfr256() {
    let steps = steps_mpfr(BITS, 3, 14);
    for k in cases_mpfr(BITS) {
        let (eg, eh) = claim_33_errors(&k, &steps);
        let worst = |e: &[f64]| e.windows(2).map(|w| (w[0] / w[1] / 100.0 - 1.0).abs()).fold(0.0, f64::max);
        let (rg, rh) = (worst(&eg), worst(&eh));
        eprintln!("claim 33 {} 256 bits: ∇L FD {:.2e}..{:.2e}, HVP FD {:.2e}..{:.2e}; worst |ratio/100 − 1| {rg:.2e}, {rh:.2e}", k.label, eg[0], eg[11], eh[0], eh[11]);
        assert!(rg < RATIO_TOL_256 && rh < RATIO_TOL_256, "{}: ratios off by {rg}, {rh} ({eg:?}, {eh:?})", k.label);
    }
}

// ------------------------------------------------------------------------------------------------
// Claim 34: Lanczos top-k against a dense Jacobi eigendecomposition.

#[allow(clippy::needless_range_loop)]
fn claim_34_check<S: Scalar>(k: &Case<S>, topk: usize) {
    let c = k.obj.ctx();
    let p = k.obj.dim();
    let h = dense_hessian(k.obj.as_ref(), &k.th).unwrap();
    let (vals, vecs) = jacobi_eigen(&h, p);
    let opts = EigenOpts::top::<S>(topk, c);
    let eig = top_eigen(k.obj.as_ref(), &k.th, None, &opts).unwrap();
    let scale = vals[0].abs().to_f64().max(vals[p - 1].abs().to_f64());
    let mut worst = 0.0f64;
    for r in 0..topk {
        // Bauer–Fike: |θ − λ| ≤ ‖r‖ ≤ tol·‖H‖ (the solver's acceptance, `Eigen::residuals`), plus the
        // dense solve's rounding (64·p·eps·‖H‖).
        let diff = (eig.values[r].clone() - &vals[r]).abs().to_f64();
        let bound = opts.tol.to_f64() * scale + 64.0 * p as f64 * S::eps(c) * scale;
        worst = worst.max(diff / bound);
        assert!(diff <= bound, "{}: λ{r} off by {diff:e} > {bound:e}", k.label);
        assert!(eig.residuals[r] <= opts.tol, "{}: residual {:e} above tol", k.label, eig.residuals[r]);
    }
    // Eigenvector: the chord ‖u − ±u_dense‖ within its Davis–Kahan bound (sin∠ ≤ ‖r‖/gap, ‖r‖ ≤ tol·‖H‖).
    let gap = (vals[0].clone() - &vals[1]).to_f64();
    let rounding = 64.0 * p as f64 * S::eps(c) * scale;
    let (chord, dk) = eigvec_davis_kahan(&eig.vectors[0], &vecs[0..p], opts.tol.to_f64(), scale, gap, rounding, S::eps(c));
    eprintln!(
        "claim 34 {}: S = {:.6}, λ₂ = {:.6}, worst |Δλ|/bound = {worst:.2e}, ‖u − u_dense‖ = {chord:.2e} (bound {dk:.2e}), {} HVPs",
        k.label,
        vals[0].to_f64(),
        vals[1].to_f64(),
        eig.hvps
    );
    assert!(chord <= dk, "{}: ‖u − u_dense‖ = {chord:e} vs Davis–Kahan {dk:e}", k.label);
}

/// f64: a one-stage CNN (p = 350) on 16 digits and the width-1 model, top 3.
#[test]
fn claim_34_cnn_and_width1_lanczos_matches_dense_jacobi_f64() {
    let ds = digits(16).unwrap();
    claim_34_check(&cnn_case::<f64>(&[2], Activation::Tanh, LossKind::Mse, &ds, 10, ()), 3);
    claim_34_check(&width1_case::<f64>(Activation::Silu, ()), 2);
}

/// 256 bits: a three-stage CNN with one channel per stage on a 2-class digits subset (p = 34) and
/// the width-1 model.
#[test]
fn claim_34_cnn_and_width1_lanczos_matches_dense_jacobi_mpfr256() {
    let ds = digits_two_classes(12);
    claim_34_check(&cnn_case::<Float>(&[1, 1, 1], Activation::Tanh, LossKind::Ce, &ds, 2, BITS), 3);
    claim_34_check(&width1_case::<Float>(Activation::Tanh, BITS), 2);
}

// ------------------------------------------------------------------------------------------------
// Claim 35: ∇³L symmetric; ∇³L[v,v] and ∇⁴L[v,v,v] match FD of the HVP and of ∇³L[v,v].

/// Returns (asymmetry ‖d3(v,w) − d3(w,v)‖/‖d3(v,w)‖, ‖d3(v,v) − d3_sym(v)‖/‖d3_sym(v)‖, FD errors of
/// the HVP along v vs d3_sym, FD errors of the HVP(·, v) along w vs d3(v,w), FD of d3_sym vs d4).
#[allow(clippy::type_complexity)]
fn claim_35_measure<S: Scalar>(k: &Case<S>, steps: &[S]) -> (f64, f64, Vec<f64>, Vec<f64>, Vec<f64>) {
    let c = k.obj.ctx();
    let p = k.obj.dim();
    let (mut a, mut b, mut vv, mut sym, mut d4) = (zeros::<S>(p, c), zeros::<S>(p, c), zeros::<S>(p, c), zeros::<S>(p, c), zeros::<S>(p, c));
    k.obj.d3(&k.th, &k.v, &k.w, &mut a).unwrap();
    k.obj.d3(&k.th, &k.w, &k.v, &mut b).unwrap();
    k.obj.d3(&k.th, &k.v, &k.v, &mut vv).unwrap();
    k.obj.d3_sym(&k.th, &k.v, &mut sym).unwrap();
    k.obj.d4(&k.th, &k.v, &mut d4).unwrap();
    let nrm = |x: &[S]| dist(x, &zeros::<S>(p, c));
    let asym = dist(&a, &b) / nrm(&a);
    let same = dist(&vv, &sym) / nrm(&sym);
    let hvp_along = |dir: Vec<S>| {
        move |t: &[S]| {
            let mut o = zeros::<S>(p, c);
            k.obj.hvp(t, &dir, &mut o).unwrap();
            o
        }
    };
    let e_vv = fd_vec(&k.th, &k.v, steps, &sym, &hvp_along(k.v.clone()));
    let e_vw = fd_vec(&k.th, &k.w, steps, &a, &hvp_along(k.v.clone()));
    let e_d4 = fd_vec(&k.th, &k.v, steps, &d4, &|t| {
        let mut o = zeros::<S>(p, c);
        k.obj.d3_sym(t, &k.v, &mut o).unwrap();
        o
    });
    (asym, same, e_vv, e_vw, e_d4)
}

/// f64: ∇³L[v,w] and ∇³L[w,v] run different jet blocks (ε₁ ↔ ε₂), so they agree to rounding:
/// ≤ 64ε relative (measured ≤ 3e-16); hyper-dual d3(v,v) vs the Taylor-2 d3_sym likewise. The
/// three FD checks have slope 2 within 0.02 on h = 0.1·2^-k, k = 0..7 (truncation-dominated as in
/// claim 33; measured |slope − 2| ≤ 0.003, the width-1 ∇⁴ check).
#[test]
fn claim_35_cnn_and_width1_third_derivative_symmetric_and_matches_fd_order_2_f64() {
    let steps = steps_f64();
    for k in cases::<f64>(()) {
        let (asym, same, e_vv, e_vw, e_d4) = claim_35_measure(&k, &steps);
        let s: Vec<f64> = [&e_vv, &e_vw, &e_d4].iter().map(|e| loglog_slope(&steps, e).0).collect();
        eprintln!("claim 35 {}: asym {asym:.1e}, d3(v,v) vs d3_sym {same:.1e}; FD slopes (∇³[v,v], ∇³[v,w], ∇⁴[v,v,v]) {:.4} {:.4} {:.4}; errors at h = {:.1e}: {:.1e} {:.1e} {:.1e}", k.label, s[0], s[1], s[2], steps[7], e_vv[7], e_vw[7], e_d4[7]);
        assert!(asym <= 64.0 * f64::EPSILON && same <= 64.0 * f64::EPSILON, "{}: {asym:e}, {same:e}", k.label);
        for (i, sl) in s.iter().enumerate() {
            assert!((sl - 2.0).abs() < 0.02, "{}: FD slope #{i} = {sl}", k.label);
        }
    }
}

/// 256 bits: symmetry to 64·2^-256 relative; the three FD errors fall by 100 per decade within [`RATIO_TOL_256`]
/// on h = 1e-3 … 1e-14 (rounding ≤ 1e-60 against truncation ≥ 1e-30·C; measured worst 1.9e-6,
/// asymmetry ≤ 2.2e-77).
#[test]
fn claim_35_cnn_and_width1_third_derivative_symmetric_and_matches_fd_order_2_mpfr256() {
    let steps = steps_mpfr(BITS, 3, 14);
    let eps = <Float as Scalar>::eps(BITS);
    for k in cases_mpfr(BITS) {
        let (asym, same, e_vv, e_vw, e_d4) = claim_35_measure(&k, &steps);
        let worst = |e: &[f64]| e.windows(2).map(|w| (w[0] / w[1] / 100.0 - 1.0).abs()).fold(0.0, f64::max);
        let r = [worst(&e_vv), worst(&e_vw), worst(&e_d4)];
        eprintln!("claim 35 {} 256 bits: asym {asym:.1e}, d3(v,v) vs d3_sym {same:.1e}; worst |ratio/100 − 1| {:.1e} {:.1e} {:.1e}", k.label, r[0], r[1], r[2]);
        assert!(asym <= 64.0 * eps && same <= 64.0 * eps, "{}: {asym:e}, {same:e}", k.label);
        assert!(r.iter().all(|x| *x < RATIO_TOL_256), "{}: ratios {r:?}", k.label);
    }
}

// ------------------------------------------------------------------------------------------------
// The CNN at the edge of stability (claim 25-like: GD's sharpness reaches 2/η and hovers there).

use selfstab::gd::{find_instability, gd_step};
use selfstab::sharpness::top_eigen_subspace;

const EOS_ETA: f64 = 0.25;
const EOS_N: usize = 64;
const EOS_STEPS: u64 = 330;

/// GD on the one-stage CNN (4 channels, tanh, MSE, 64 digits, seed 0) at η = EOS_ETA: the
/// instability step, then (t, L, S) at every step for EOS_STEPS steps from θ₀ (sampled every 4
/// steps, as before session 24, the one-step peak of S was missed).
fn cnn_eos_run() -> (u64, Vec<(u64, f64, f64)>) {
    let ds = digits(EOS_N).unwrap();
    let spec = CnnSpec::new(&[4], 10).unwrap();
    let m = Cnn::<f64>::new(&spec, Activation::Tanh, LossKind::Mse, &ds, ()).unwrap();
    let th0 = spec.init(0);
    let ins = find_instability(&m, &EOS_ETA, &th0, 20_000, Mag::new(1e-6), &mut []).unwrap();
    let opts = EigenOpts { tol: Mag::new(1e-6), ..EigenOpts::top::<f64>(1, ()) };
    let mut th = ins.theta.clone();
    let mut g = vec![0.0; m.dim()];
    let mut warm = vec![ins.u.clone()];
    let mut rows = Vec::new();
    for t in 0..=EOS_STEPS {
        let eig = top_eigen_subspace(&m, &th, &warm, &opts).unwrap();
        let l = m.value(&th).unwrap();
        rows.push((t, l, eig.values[0]));
        warm = std::iter::once(eig.vectors[0].clone()).chain(eig.next_ritz.iter().cloned()).collect();
        gd_step(&m, &EOS_ETA, &mut th, &mut g).unwrap();
    }
    (ins.step, rows)
}

/// Claim 25-like check on the CNN (η = 0.25, 2/η = 8). The sharpness does not hover in a narrow
/// band: the run shows large self-stabilization cycles. Measured (f64, eigen tol 1e-6, S at every
/// step): GD becomes unstable at step 145 (S = 8.0114; S(θ₁₄₄) ≈ 7.98, far from 8, so the step is
/// robust to rounding and to the eigen tolerance); S keeps rising to 13.106 (1.638·2/η) at t = 105,
/// a one-step peak in GD's loss spike (L = 0.58, ten times its level; the same S as `run` and a
/// dense eigendecomposition give there), collapses within 2 steps to 6.49, rises again by
/// progressive sharpening, and crosses 2/η upward at t = 174 and 311. Over that full cycle: mean
/// S = 8.572 (+7.15 % of 2/η), range [6.713, 10.814]. (Sampled every 4 steps, as this test did
/// before, the peak read 11.84 = 1.48·2/η at t = 104, the step before it.) Reference.md §3.3: over a
/// window between upward crossings the mean sits *above* 2/η; its leading term
/// (η/2)⟨(S − 2/η)²⟩ = 0.255 accounts for under half of the +0.572 measured, as expected when
/// η(S − 2/η) reaches 0.70 (the expansion of log|1 + ηy| is not small here). Bounds: the sign
/// (mean ≥ 2/η) from theory; the rest from the spread over six 1-ulp changes of one entry of θ_init
/// (peak 1.599–1.638·2/η, crossings 167–178 and 299–317, mean +6.97–7.15 %, range ends
/// 0.837–0.840 and 1.346–1.358 ·2/η; spike timing is rounding-sensitive, claims_nn.rs: 120–132
/// under 1-ulp changes): peak in [1.56, 1.68]·2/η, crossings within ±15 steps; the mean and the
/// range ends within their 1-ulp range widened by twice its width on each side: mean +6.61 … +7.51 %,
/// ends 0.831–0.846 and 1.322–1.382 ·2/η (until session 42: ±3 points and ±0.04·2/η).
fn eos_cycle_stats(rows: &[(u64, f64, f64)]) -> (Vec<u64>, f64, f64, f64, f64) {
    let thr = 2.0 / EOS_ETA;
    let ups: Vec<u64> = rows.windows(2).filter(|w| w[0].2 < thr && w[1].2 >= thr).map(|w| w[1].0).collect();
    assert!(ups.len() >= 2, "fewer than two upward crossings of 2/η: {ups:?}");
    let cyc: Vec<f64> = rows.iter().filter(|r| r.0 >= ups[0] && r.0 < ups[1]).map(|r| r.2).collect();
    let m = cyc.len() as f64;
    let mean = cyc.iter().sum::<f64>() / m;
    let pred_excess = EOS_ETA / 2.0 * cyc.iter().map(|s| (s - thr).powi(2)).sum::<f64>() / m;
    let (lo, hi) = cyc.iter().fold((f64::MAX, f64::MIN), |(a, b), &s| (a.min(s), b.max(s)));
    (ups, mean, pred_excess, lo, hi)
}

#[test]
fn cnn_gd_sharpness_reaches_two_over_eta_and_cycles_around_it() {
    let (step, rows) = cnn_eos_run();
    let thr = 2.0 / EOS_ETA;
    let (ups, mean, pred_excess, lo, hi) = eos_cycle_stats(&rows);
    let first_peak = rows.iter().filter(|r| r.0 < ups[0]).map(|r| r.2).fold(f64::MIN, f64::max);
    let loss_at = |t: u64| rows.iter().find(|r| r.0 == t).map(|r| r.1).unwrap();
    eprintln!(
        "CNN EoS: instability at GD step {step}; first peak S = {first_peak:.4} ({:.3}·2/η); upward crossings at t = {ups:?}; cycle [{}, {}): mean S = {mean:.4} ({:+.2}% of 2/η = {thr}), (η/2)⟨(S−2/η)²⟩ = {pred_excess:.4} vs mean − 2/η = {:.4}; range [{lo:.4}, {hi:.4}]; L at the crossings {:.4e} → {:.4e}",
        first_peak / thr, ups[0], ups[1], 100.0 * (mean - thr) / thr, mean - thr, loss_at(ups[0]), loss_at(ups[1])
    );
    assert_eq!(step, 145);
    assert!((1.56..=1.68).contains(&(first_peak / thr)), "first peak {first_peak}");
    assert!(ups[0].abs_diff(174) <= 15 && ups[1].abs_diff(311) <= 15, "crossings {ups:?}");
    assert!(mean >= thr && (1.0661..=1.0751).contains(&(mean / thr)), "cycle mean {mean}");
    assert!((0.831..=0.846).contains(&(lo / thr)) && (1.322..=1.382).contains(&(hi / thr)), "range [{lo}, {hi}]");
    // GD still makes progress across the cycle (loss lower at the second crossing).
    assert!(loss_at(ups[1]) < loss_at(ups[0]));
}

/// GD on the width-1 model (tanh, n = 64, seed 0: data and init) at η: the instability step and
/// (t, L, S) at every step for `steps` steps from θ₀.
fn width1_eos_run(eta: f64, steps: u64) -> (u64, Vec<(u64, f64, f64)>) {
    let d = width1_data(64, 0).unwrap();
    let m = Width1::<f64>::new(Activation::Tanh, &d, ()).unwrap();
    let ins = find_instability(&m, &eta, &selfstab::models::width1::init(0), 20_000, Mag::new(1e-12), &mut []).unwrap();
    let opts = EigenOpts { tol: Mag::new(1e-12), ..EigenOpts::top::<f64>(1, ()) };
    let (mut th, mut g) = (ins.theta.clone(), vec![0.0; 3]);
    let mut rows = Vec::new();
    for t in 0..=steps {
        let eig = top_eigen(&m, &th, None, &opts).unwrap();
        rows.push((t, m.value(&th).unwrap(), eig.values[0]));
        gd_step(&m, &eta, &mut th, &mut g).unwrap();
    }
    (ins.step, rows)
}

/// The width-1 model shows progressive sharpening and self-stabilization (reference.md §9.4's
/// qualitative picture). Measured at η = 2 (2/η = 1, f64, 1500 steps): unstable from GD step 108
/// (S changes by ~1e-3 per step near the crossing, far above rounding: asserted exactly); then
/// regular cycles, upward crossings of 2/η at t = 205, 411, 616, 826, 1033, 1248, 1457 (periods
/// 205–215); S in [0.699895, 1.380379]·2/η; the loss keeps falling (5.17e-4 → 4.08e-4). Per full
/// cycle the mean S is above 2/η by 3.72–4.27 %, and reference.md §3.3's leading term
/// (η/2)⟨(S − 2/η)²⟩ (0.041–0.045) accounts for 0.907977–0.944807 of that excess (the rest: the
/// next order of log|1 + ηy| ≈ ηy − (ηy)²/2 + (ηy)³/3 with ηy up to 0.38, and the boundary term).
/// The mean ≥ 2/η is the theory's (§3.3: the average sits above 2/η by about the leading term).
/// The run does not amplify rounding: one ulp on any of the three entries of θ_init, either way,
/// leaves the crossings, the instability step and every number above unchanged to the digits
/// shown (measured in session 42), so the crossings are asserted exactly and the rest to those
/// digits (until then: bands widened by about 5 %, "room for another machine's rounding").
#[test]
fn width1_gd_sharpness_reaches_two_over_eta_and_cycles_around_it() {
    let eta = 2.0;
    let thr = 2.0 / eta;
    let (step, rows) = width1_eos_run(eta, 1500);
    let ups: Vec<u64> = rows.windows(2).filter(|w| w[0].2 < thr && w[1].2 >= thr).map(|w| w[1].0).collect();
    let (lo, hi) = rows.iter().fold((f64::MAX, f64::MIN), |(a, b), r| (a.min(r.2), b.max(r.2)));
    eprintln!("width1 EoS: instability at GD step {step}; upward crossings {ups:?}; S range [{lo:.4}, {hi:.4}]; L {:.4e} → {:.4e}", rows[0].1, rows[1500].1);
    assert_eq!(step, 108);
    assert_eq!(ups, [205, 411, 616, 826, 1033, 1248, 1457], "upward crossings of 2/η");
    let (mut means, mut ratios) = (vec![], vec![]);
    for w in ups.windows(2) {
        let cyc: Vec<f64> = rows.iter().filter(|r| r.0 >= w[0] && r.0 < w[1]).map(|r| r.2).collect();
        let m = cyc.len() as f64;
        let mean = cyc.iter().sum::<f64>() / m;
        let lead = eta / 2.0 * cyc.iter().map(|s| (s - thr).powi(2)).sum::<f64>() / m;
        eprintln!("  cycle [{}, {}): mean S = {mean:.6} ({:+.2}% of 2/η), (η/2)⟨(S−2/η)²⟩ = {lead:.5}", w[0], w[1], 100.0 * (mean / thr - 1.0));
        assert!(mean >= thr, "cycle mean {mean} below 2/η");
        means.push(mean / thr);
        ratios.push((mean - thr) / lead);
    }
    let span = |v: &[f64]| v.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    let ((m_lo, m_hi), (r_lo, r_hi)) = (span(&means), span(&ratios));
    for (name, got, want) in [("smallest cycle mean /(2/η)", m_lo, 1.037237), ("largest cycle mean /(2/η)", m_hi, 1.042727), ("smallest excess / leading term", r_lo, 0.907977), ("largest excess / leading term", r_hi, 0.944807), ("min S /(2/η)", lo / thr, 0.699895), ("max S /(2/η)", hi / thr, 1.380379)] {
        common::recorded(&format!("width-1 EoS: {name}"), got, want, 6);
    }
    assert!(rows[1500].1 < rows[0].1, "loss did not decrease");
}
