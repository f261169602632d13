//! The central flow of GD with step η (reference.md §9.1; theory/README.md "Central flow"):
//! $$\frac{dw}{dt}=-\eta\Big[\nabla L(w)+\tfrac12\nabla_w\langle H(w),\Sigma(t)\rangle\Big],\qquad
//!   \nabla\langle H,\Sigma\rangle=\sum_{ij}X_{ij}\,\nabla^3L\[v_i,v_j\],\ \ \Sigma=VXV^\top,$$
//! time t counting GD steps, integrated by Euler sub-steps dt (default ¼). V holds the orthonormal
//! eigenvectors of the *critical* eigenvalues (ηλ > 1.95) and X solves the SDCP of [`crate::sdcp`]
//! with Â = 2(2I − ηΛ)/(η²dt) + 2[∇³L\[v_i,v_j\]·∇L]_ij and the Gram operator of the g_ij = ∇³L\[v_i,v_j\]
//! (the linearised condition η·VᵀH(w+dw)V ⪯ 2I after the sub-step, divided by η²dt/2).
//! The one-eigenvalue form uses the closed form σ² = max(0, 2α_S/‖∇S‖² + 2(λ − 2/η)/(η dt ‖∇S‖²)),
//! α_S = −∇S·∇L, with the top eigenvector always (its k = 1 SDCP).
//! Predictions (§9.1): E\[x²\] ≈ eigenvalues of X, E\[L\] ≈ L(w) + tr Σ/η, E‖∇L‖² ≈ ‖∇L(w)‖² + 4 tr Σ/η².

use crate::error::{Error, EvalError};
use crate::gd::gd_step;
use crate::linalg::{axpy, dot, norm, zeros};
use crate::mag::Mag;
use crate::objective::Objective;
use crate::scalar::Scalar;
use crate::sdcp::{self, Residuals, svec_index};
use crate::sharpness::{EigenOpts, record_tol, top_eigen_subspace};

/// Most eigenpairs the k-eigenvalue form computes (`selfstab flow --top-k`).
pub const TOP_K_MAX: usize = 64;

/// Which central flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Form {
    /// One unstable eigenvalue: closed-form σ² on the top eigenvector.
    One,
    /// k critical eigenvalues: the SDCP.
    K,
}

/// Options of the flow.
#[derive(Clone, Debug)]
pub struct FlowOpts {
    /// The form.
    pub form: Form,
    /// Euler sub-steps per GD step (dt = 1/substeps).
    pub substeps: u32,
    /// Effective eigenvalues ηλ above this enter the SDCP (1.95 in the reference code).
    pub enter: f64,
    /// Most eigenpairs computed; more critical eigenvalues than this is an error.
    pub k_max: usize,
    /// Eigen solver tolerance (relative residual).
    pub eig_tol: Mag,
    /// SDCP tolerance (relative residuals, [`sdcp::Residuals`]).
    pub sdcp_tol: Mag,
}

impl FlowOpts {
    /// Defaults of a precision: K form, 4 sub-steps, 1.95, k_max 8, default tolerances.
    pub fn new<S: Scalar>(c: S::Ctx) -> Self {
        FlowOpts {
            form: Form::K,
            substeps: 4,
            enter: 1.95,
            k_max: 8,
            eig_tol: EigenOpts::default_tol::<S>(c),
            sdcp_tol: sdcp::default_tol::<S>(c),
        }
    }
}

/// State of the flow.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct FlowState<S: Scalar> {
    /// w(t).
    pub w: Vec<S>,
    /// Sub-steps done.
    pub sub: u64,
    warm: Vec<Vec<S>>,
    prev: Option<(Vec<Vec<S>>, Vec<S>)>,
    k_cur: usize,
}

impl<S: Scalar> FlowState<S> {
    /// Start at w(0) = w0.
    pub fn new(w0: &[S]) -> Self {
        FlowState { w: w0.to_vec(), sub: 0, warm: vec![], prev: None, k_cur: 2 }
    }
}

/// What a sub-step saw at w (before stepping).
#[derive(Clone, Debug)]
pub struct Record<S: Scalar> {
    /// Time in GD steps.
    pub t: f64,
    /// L(w).
    pub loss: f64,
    /// ‖∇L(w)‖².
    pub grad_sq: f64,
    /// Computed top eigenvalues of ∇²L(w), descending.
    pub eigs: Vec<f64>,
    /// Number of critical eigenvalues (ηλ > enter).
    pub n_crit: usize,
    /// Eigenvalues of X (σ² for the one-eigenvalue form), descending.
    pub sigma: Vec<f64>,
    /// tr Σ = tr X.
    pub tr_sigma: f64,
    /// L(w) + tr Σ/η.
    pub pred_loss: f64,
    /// ‖∇L(w)‖² + 4 tr Σ/η².
    pub pred_grad_sq: f64,
    /// SDCP residuals (zero when no eigenvalue is critical).
    pub res: Residuals,
    /// Eigenvectors spanning the oscillation space: the critical ones, or the top one if none.
    pub basis: Vec<Vec<S>>,
}

/// One Euler sub-step of the flow; returns what it saw at w before the step.
pub fn substep<S: Scalar>(obj: &dyn Objective<S>, eta: &S, st: &mut FlowState<S>, opts: &FlowOpts) -> Result<Record<S>, EvalError> {
    let c = obj.ctx();
    let p = obj.dim();
    let eta_f = eta.to_f64();
    let dt = S::one(c) / &S::from_i64(i64::from(opts.substeps.max(1)), c);
    let mut grad = zeros::<S>(p, c);
    let loss = obj.grad(&st.w, &mut grad)?;
    if !loss.is_finite() {
        return Err(EvalError::NonFinite { what: "central-flow loss", at: format!(" at t = {}", st.sub) });
    }
    let two = S::from_i64(2, c);
    // Eigenpairs: enough to see one non-critical eigenvalue below the critical ones.
    let k_max = opts.k_max.min(p).max(1);
    let mut k = if opts.form == Form::One { 2.min(p) } else { st.k_cur.clamp(1, k_max) };
    let eig = loop {
        let e = top_eigen_subspace(obj, &st.w, &st.warm, &EigenOpts { tol: opts.eig_tol, ..EigenOpts::top::<S>(k, c) })?;
        let nc = e.values.iter().filter(|l| eta_f * l.to_f64() > opts.enter).count();
        if nc < e.values.len() || opts.form == Form::One || k >= k_max {
            break e;
        }
        k = (k + 2).min(k_max);
    };
    st.warm = eig.warm_all();
    let eigs: Vec<f64> = eig.values.iter().map(S::to_f64).collect();
    let crit: Vec<usize> = (0..eigs.len()).filter(|&i| eta_f * eigs[i] > opts.enter).collect();
    let n_crit = crit.len();
    if opts.form == Form::K && n_crit >= k_max && k_max < p {
        let advice = if k_max < TOP_K_MAX {
            format!("raise --top-k (at most {TOP_K_MAX}) or lower η")
        } else {
            format!("at least {k_max} eigenvalues are past the edge: η is far too large for this model (lower --lr)")
        };
        return Err(EvalError::Other(format!(
            "central flow at t = {}: all {k_max} computed eigenvalues are critical (ηλ > {}; λ₁ = {} against 2/η = {}); {advice}",
            st.sub as f64 / f64::from(opts.substeps),
            opts.enter,
            crate::error::num6(eigs[0]),
            crate::error::num6(2.0 / eta_f),
        )));
    }
    st.k_cur = (n_crit + 2).min(k_max);
    let threshold = two.clone() / eta;
    let mut dir = grad.clone();
    let (sigma, tr, res, basis): (Vec<f64>, S, Residuals, Vec<Vec<S>>) = match opts.form {
        Form::One => {
            let u = &eig.vectors[0];
            let gs = crate::sharpness::grad_sharpness(obj, &st.w, u)?;
            let ns = dot(&gs, &gs);
            let alpha_s = -dot(&gs, &grad);
            let s2 = if ns.to_f64() > 0.0 {
                let a = two.clone() * &alpha_s / &ns;
                let b = two.clone() * &(eig.values[0].clone() - &threshold) / &(eta.clone() * &dt * &ns);
                let v = a + &b;
                if v.to_f64() > 0.0 { v } else { S::zero(c) }
            } else {
                S::zero(c)
            };
            axpy(&(s2.clone() / &two), &gs, &mut dir);
            (vec![s2.to_f64()], s2, Residuals::default(), vec![u.clone()])
        }
        Form::K => {
            let m = n_crit;
            let vs: Vec<Vec<S>> = crit.iter().map(|&i| eig.vectors[i].clone()).collect();
            if m == 0 {
                st.prev = None;
                (vec![], S::zero(c), Residuals::default(), vec![eig.vectors[0].clone()])
            } else {
                let mut gs: Vec<Vec<S>> = vec![vec![]; m * (m + 1) / 2];
                for i in 0..m {
                    for j in i..m {
                        let mut out = zeros::<S>(p, c);
                        if i == j {
                            obj.d3_sym(&st.w, &vs[i], &mut out)?;
                        } else {
                            obj.d3(&st.w, &vs[i], &vs[j], &mut out)?;
                        }
                        gs[svec_index(m, i, j)] = out;
                    }
                }
                // Â = 2(2I − ηΛ)/(η² dt) + 2[g_ij·∇L].
                let scale = two.clone() / &(eta.clone() * eta * &dt);
                let mut a_hat = zeros::<S>(m * m, c);
                for i in 0..m {
                    for j in i..m {
                        let mut v = two.clone() * &dot(&gs[svec_index(m, i, j)], &grad);
                        if i == j {
                            v += &(scale.clone() * &(two.clone() - &(eta.clone() * &eig.values[crit[i]])));
                        }
                        a_hat[j * m + i].assign_from(&v);
                        a_hat[i * m + j] = v;
                    }
                }
                // Warm start: the previous X rotated into the new basis, R = V_newᵀ V_old.
                let warm = st.prev.as_ref().map(|(vold, xold)| {
                    let mo = vold.len();
                    let r: Vec<S> = (0..m).flat_map(|i| (0..mo).map(move |j| (i, j))).map(|(i, j)| dot(&vs[i], &vold[j])).collect();
                    let mut xw = zeros::<S>(m * m, c);
                    for i in 0..m {
                        for j in 0..m {
                            for a in 0..mo {
                                for b in 0..mo {
                                    let t = r[i * mo + a].clone() * &xold[a * mo + b];
                                    xw[i * m + j].mul_acc(&t, &r[j * mo + b]);
                                }
                            }
                        }
                    }
                    xw
                });
                let sol = sdcp::solve_gram(&a_hat, &gs, m, opts.sdcp_tol, warm.as_deref()).map_err(|e| {
                    EvalError::Other(format!("central flow at t = {}: {e}", st.sub as f64 / f64::from(opts.substeps)))
                })?;
                let half = S::one(c) / &two;
                let mut tr = S::zero(c);
                for i in 0..m {
                    tr += &sol.x[i * m + i];
                    for j in i..m {
                        let coef = if i == j { sol.x[i * m + i].clone() * &half } else { sol.x[i * m + j].clone() };
                        axpy(&coef, &gs[svec_index(m, i, j)], &mut dir);
                    }
                }
                st.prev = Some((vs.clone(), sol.x.clone()));
                (sol.x_eigs.clone(), tr, sol.res, vs)
            }
        }
    };
    let grad_sq = dot(&grad, &grad).to_f64();
    let tr_f = tr.to_f64();
    let rec = Record {
        t: st.sub as f64 / f64::from(opts.substeps.max(1)),
        loss: loss.to_f64(),
        grad_sq,
        eigs,
        n_crit,
        sigma,
        tr_sigma: tr_f,
        pred_loss: (loss.clone() + &(tr.clone() / eta)).to_f64(),
        pred_grad_sq: grad_sq + 4.0 * tr_f / (eta_f * eta_f),
        res,
        basis,
    };
    if !crate::linalg::all_finite(&dir) {
        return Err(EvalError::NonFinite { what: "central-flow direction", at: format!(" at t = {}", rec.t) });
    }
    axpy(&(-(dt * eta)), &dir, &mut st.w);
    st.sub += 1;
    Ok(rec)
}

/// One row of the GD vs central-flow comparison at GD step t (all f64).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CompareRow {
    /// GD step t (= flow time).
    pub t: u64,
    /// L(θ_t).
    pub loss_gd: f64,
    /// ‖∇L(θ_t)‖².
    pub grad_sq_gd: f64,
    /// S(θ_t).
    pub sharpness_gd: f64,
    /// x_t² = ‖Vᵀ(θ_t − w(t))‖² on the flow's oscillation basis V.
    pub x2_gd: f64,
    /// ‖θ_t − w(t)‖.
    pub dist_gd: f64,
    /// ‖w*_t − w(t)‖, w*_t = ¼(θ_{t−1} + 2θ_t + θ_{t+1}) (NaN at the ends).
    pub dist_mid: f64,
    /// ‖w(t) − w(0)‖.
    pub travel: f64,
    /// L(w).
    pub loss_flow: f64,
    /// ‖∇L(w)‖².
    pub grad_sq_flow: f64,
    /// S(w).
    pub sharpness_flow: f64,
    /// λ₂(w), λ₃(w) (NaN when not computed).
    pub lambda2_flow: f64,
    /// λ₃(w).
    pub lambda3_flow: f64,
    /// Critical eigenvalues at w(t).
    pub n_crit: usize,
    /// tr Σ.
    pub tr_sigma: f64,
    /// Largest eigenvalue of Σ (σ² in the one-eigenvalue form).
    pub sigma1: f64,
    /// Second eigenvalue of Σ (0 if none).
    pub sigma2: f64,
    /// L(w) + tr Σ/η.
    pub pred_loss: f64,
    /// ‖∇L(w)‖² + 4 tr Σ/η².
    pub pred_grad_sq: f64,
    /// Largest SDCP residual over this step's sub-steps.
    pub sdcp_res: f64,
}

/// Column names of [`CompareRow::values`].
pub const COLUMNS: [&str; 20] = [
    "t", "loss_gd", "grad_sq_gd", "sharpness_gd", "x2_gd", "dist_gd", "dist_mid", "travel", "loss_flow", "grad_sq_flow",
    "sharpness_flow", "lambda2_flow", "lambda3_flow", "n_crit", "tr_sigma", "sigma1", "sigma2", "pred_loss",
    "pred_grad_sq", "sdcp_res",
];

impl CompareRow {
    /// The row of [`CompareRow::values`] (`t` and `n_crit` are integers below 2⁵³, exact in f64).
    pub fn from_values(v: &[f64]) -> Option<CompareRow> {
        let &[t, loss_gd, grad_sq_gd, sharpness_gd, x2_gd, dist_gd, dist_mid, travel, loss_flow, grad_sq_flow, sharpness_flow, lambda2_flow, lambda3_flow, n_crit, tr_sigma, sigma1, sigma2, pred_loss, pred_grad_sq, sdcp_res] =
            v
        else {
            return None;
        };
        Some(CompareRow {
            t: t as u64, loss_gd, grad_sq_gd, sharpness_gd, x2_gd, dist_gd, dist_mid, travel, loss_flow, grad_sq_flow,
            sharpness_flow, lambda2_flow, lambda3_flow, n_crit: n_crit as usize, tr_sigma, sigma1, sigma2, pred_loss,
            pred_grad_sq, sdcp_res,
        })
    }

    /// The values in [`COLUMNS`] order.
    pub fn values(&self) -> Vec<f64> {
        vec![
            self.t as f64, self.loss_gd, self.grad_sq_gd, self.sharpness_gd, self.x2_gd, self.dist_gd, self.dist_mid,
            self.travel, self.loss_flow, self.grad_sq_flow, self.sharpness_flow, self.lambda2_flow, self.lambda3_flow,
            self.n_crit as f64, self.tr_sigma, self.sigma1, self.sigma2, self.pred_loss, self.pred_grad_sq, self.sdcp_res,
        ]
    }
}

/// Maximum SDCP residuals over a run, each the largest of its kind over the solves.
pub type MaxResiduals = Residuals;

/// Run GD and the central flow from the same θ₀ for `steps` GD steps (`steps + 1` rows).
/// The flow's solves stop at `opts.eig_tol`; GD's solve at θ_t, whose S is recorded in f64 only,
/// at [`record_tol`] (2^-60 above f64). `progress` is called with the rows finished so far (a row
/// is finished once θ_{t+1} gives w*_t).
pub fn compare<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    theta0: &[S],
    steps: u64,
    opts: &FlowOpts,
    progress: impl FnMut(&[CompareRow]),
) -> Result<(Vec<CompareRow>, MaxResiduals), Error> {
    let mut rows = vec![];
    let mut maxres = MaxResiduals::default();
    compare_into(obj, eta, theta0, steps, opts, progress, &mut rows, &mut maxres)?;
    Ok((rows, maxres))
}

/// [`compare`] into caller-owned buffers, so the rows recorded before a failure (e.g. an SDCP solve
/// that misses its tolerance) survive it.
#[allow(clippy::too_many_arguments)]
pub fn compare_into<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    theta0: &[S],
    steps: u64,
    opts: &FlowOpts,
    progress: impl FnMut(&[CompareRow]),
    rows: &mut Vec<CompareRow>,
    maxres: &mut MaxResiduals,
) -> Result<(), Error> {
    let start = CompareState::new(theta0, obj.ctx());
    compare_from(obj, eta, theta0, start, steps, opts, progress, |_, _, _| Ok(()), rows, maxres)
}

/// The loop state of [`compare_into`] between two GD steps. With the rows and residuals recorded so
/// far it is all a run needs to go on bit for bit (`selfstab flow`'s checkpoint).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct CompareState<S: Scalar> {
    /// The next GD step t.
    pub t: u64,
    st: FlowState<S>,
    theta: Vec<S>,
    grad: Vec<S>,
    warm_gd: Vec<Vec<S>>,
    hist: std::collections::VecDeque<Vec<S>>,
    w_prev: Option<Vec<S>>,
}

impl<S: Scalar> CompareState<S> {
    /// Before step 0: GD and the flow both at θ₀.
    pub fn new(theta0: &[S], c: S::Ctx) -> Self {
        CompareState {
            t: 0,
            st: FlowState::new(theta0),
            theta: theta0.to_vec(),
            grad: zeros::<S>(theta0.len(), c),
            warm_gd: vec![],
            hist: Default::default(),
            w_prev: None,
        }
    }

    /// Whether every stored vector has length p (a checkpoint of another model is not resumed).
    pub fn dims_ok(&self, p: usize) -> bool {
        let ok = |v: &Vec<S>| v.len() == p;
        ok(&self.st.w)
            && ok(&self.theta)
            && ok(&self.grad)
            && self.warm_gd.iter().all(ok)
            && self.hist.iter().all(ok)
            && self.w_prev.iter().all(ok)
            && self.st.warm.iter().all(ok)
            && self.st.prev.iter().all(|(vs, _)| vs.iter().all(ok))
    }
}

/// [`compare_into`] from a given loop state (`state.t` rows already in `rows`, their residuals in
/// `maxres`); after each step `checkpoint` gets the state, the rows and the residuals so far (an
/// error from it ends the run).
#[allow(clippy::too_many_arguments)]
pub fn compare_from<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    theta0: &[S],
    state: CompareState<S>,
    steps: u64,
    opts: &FlowOpts,
    mut progress: impl FnMut(&[CompareRow]),
    mut checkpoint: impl FnMut(&CompareState<S>, &[CompareRow], &MaxResiduals) -> Result<(), Error>,
    rows: &mut Vec<CompareRow>,
    maxres: &mut MaxResiduals,
) -> Result<(), Error> {
    let c = obj.ctx();
    let p = obj.dim();
    let mut cs = state;
    // GD's S(θ_t) is recorded in f64 only and its u only starts the next GD solve: above f64 the
    // solve stops at 2^-60 (sharpness::record_tol); the flow's own solves carry w and stay at eig_tol.
    let eopts = EigenOpts { tol: record_tol::<S>(c, opts.eig_tol), ..EigenOpts::top::<S>(1, c) };
    for t in cs.t..=steps {
        let CompareState { st, theta, grad, warm_gd, hist, w_prev, .. } = &mut cs;
        let w_t = st.w.clone();
        // The flow's step and GD's are independent: concurrent with two threads, GD's after the
        // flow's (and only if it succeeds) with one.
        let flow = || -> Result<(Record<S>, Mag), Error> {
            // Flow: the first sub-step records w(t); the others complete the step.
            let rec = substep(obj, eta, st, opts).map_err(Error::from)?;
            let mut res_step = rec.res.max();
            let mut note = |r: &Residuals| {
                maxres.psd_x = maxres.psd_x.max(r.psd_x);
                maxres.psd_z = maxres.psd_z.max(r.psd_z);
                maxres.compl = maxres.compl.max(r.compl);
            };
            note(&rec.res);
            if t < steps {
                for _ in 1..opts.substeps.max(1) {
                    let r = substep(obj, eta, st, opts)?;
                    note(&r.res);
                    res_step = res_step.max(r.res.max());
                }
            }
            Ok((rec, res_step))
        };
        // GD at θ_t: its eigenpairs, then the step (θ_t is kept).
        let gd = || -> Result<_, Error> {
            let e = top_eigen_subspace(obj, theta, warm_gd, &eopts)?;
            let th_t = theta.clone();
            let loss = gd_step(obj, eta, theta, grad).map_err(|e| EvalError::Other(format!("GD at step {t}: {e}")))?;
            Ok((e, th_t, loss))
        };
        let (flow, gd) = crate::tracking::overlap(flow, gd);
        let (rec, res_step) = flow?;
        let (e, th_t, loss) = gd.get()?;
        *warm_gd = e.warm_all();
        let diff: Vec<S> = th_t.iter().zip(&w_t).map(|(a, b)| a.clone() - b).collect();
        let x2: f64 = rec.basis.iter().map(|v| dot(v, &diff).to_f64().powi(2)).sum();
        let travel: Vec<S> = w_t.iter().zip(theta0).map(|(a, b)| a.clone() - b).collect();
        let sig = |i: usize| rec.sigma.get(i).cloned().unwrap_or(0.0);
        let eig = |i: usize| rec.eigs.get(i).cloned().unwrap_or(f64::NAN);
        rows.push(CompareRow {
            t,
            loss_gd: loss.to_f64(),
            grad_sq_gd: dot(grad, grad).to_f64(),
            sharpness_gd: e.values[0].to_f64(),
            x2_gd: x2,
            dist_gd: norm(&diff).to_f64(),
            dist_mid: f64::NAN,
            travel: norm(&travel).to_f64(),
            loss_flow: rec.loss,
            grad_sq_flow: rec.grad_sq,
            sharpness_flow: eig(0),
            lambda2_flow: eig(1),
            lambda3_flow: eig(2),
            n_crit: rec.n_crit,
            tr_sigma: rec.tr_sigma,
            sigma1: sig(0),
            sigma2: sig(1),
            pred_loss: rec.pred_loss,
            pred_grad_sq: rec.pred_grad_sq,
            sdcp_res: res_step.to_f64(),
        });
        // Comparison iterate for t − 1 once θ_t is known.
        hist.push_back(th_t);
        if hist.len() > 3 {
            hist.pop_front();
        }
        if let (3, Some(wp)) = (hist.len(), &*w_prev) {
            let q = S::from_f64(0.25, c);
            let mid: Vec<S> = (0..p)
                .map(|i| (hist[0][i].clone() + &(hist[1][i].clone() * &S::from_i64(2, c)) + &hist[2][i]) * &q - &wp[i])
                .collect();
            let n = rows.len();
            rows[n - 2].dist_mid = norm(&mid).to_f64();
            progress(&rows[..n - 1]);
        }
        *w_prev = Some(w_t);
        cs.t = t + 1;
        checkpoint(&cs, rows, maxres)?;
    }
    Ok(())
}

/// Gaussian smoothing ȳ_t = Σ_s K(t−s) y_s / Σ_s K(t−s), K(r) = exp(−r²/(2w²)), truncated at
/// |r| ≤ 4w and renormalised at the ends (w in steps; w = 0 returns y).
pub fn smooth(y: &[f64], w: f64) -> Vec<f64> {
    // w = 0, and a width so small that 2w² underflows (w ≲ 1.6e-162, where the kernel is 1 at d = 0
    // and 0 elsewhere, but 0/0 at d = 0 in floating point): no smoothing.
    if !(2.0 * w * w > 0.0) {
        return y.to_vec();
    }
    // Beyond the series' length the cut-off no longer matters (and a huge w must not size the kernel).
    let r = (4.0 * w).ceil().min(y.len() as f64) as usize;
    let k: Vec<f64> = (0..=r).map(|d| libm::exp(-(d as f64).powi(2) / (2.0 * w * w))).collect();
    (0..y.len())
        .map(|t| {
            let (lo, hi) = (t.saturating_sub(r), (t + r).min(y.len() - 1));
            let (mut s, mut n) = (0.0, 0.0);
            for (s_i, &v) in y.iter().enumerate().take(hi + 1).skip(lo) {
                let kk = k[s_i.abs_diff(t)];
                s += kk * v;
                n += kk;
            }
            s / n
        })
        .collect()
}

/// Relative L1 error Σ|a − b| / Σ|b| over the index range.
///
/// # Panics
/// If the range reaches past either series.
pub fn rel_l1(a: &[f64], b: &[f64], range: std::ops::Range<usize>) -> f64 {
    assert!(
        range.end <= a.len().min(b.len()),
        "central_flow::rel_l1: range {range:?} past the series' lengths {} and {}",
        a.len(),
        b.len()
    );
    let (mut num, mut den) = (0.0, 0.0);
    for i in range {
        num += (a[i] - b[i]).abs();
        den += b[i].abs();
    }
    num / den
}
