//! The stable set M = {θ : S(θ) ≤ 2/η, ∇L(θ)·u(θ) = 0} and the authors' linearised projection onto
//! it (reference.md §4, `taylor.py`):
//! $$p \leftarrow p - \max(0, S(p) - 2/\eta)\,\frac{\nabla S_\perp(p)}{\|\nabla S_\perp(p)\|^2} -
//!   u(p)\,\frac{u(p)\cdot\nabla L(p)}{S(p)},$$
//! applied k times (default 3), every quantity re-evaluated at the new point. The first term is a
//! Gauss–Newton step onto {S = 2/η} along ∇S⊥, the second a Newton step on u·∇L. The result reports
//! its residuals S − 2/η and u·∇L so that a poor projection is visible (claims 3, 24).

use crate::error::EvalError;
use crate::linalg::{axpy, dot, zeros};
use crate::mag::Mag;
use crate::objective::Objective;
use crate::scalar::Scalar;
use crate::sharpness::{Center, EigenOpts, Trail, center, center_with, top_eigen_subspace};

/// A projected point with its residuals.
#[derive(Clone, Debug)]
pub struct Projected<S: Scalar> {
    /// The centre at the projected point.
    pub center: Center<S>,
    /// S(p) − 2/η after the last step.
    pub residual_s: S,
    /// u(p)·∇L(p) after the last step.
    pub residual_u: S,
    /// HVPs spent by the eigen solves.
    pub hvps: u64,
}

impl<S: Scalar> Projected<S> {
    /// The centre at a point with its residuals S − 2/η and u·∇L.
    pub fn new(center: Center<S>, eta: &S, hvps: u64) -> Self {
        let residual_s = center.sharpness.clone() - &(S::from_i64(2, center.sharpness.ctx()) / eta);
        let residual_u = dot(&center.u, &center.grad);
        Projected { center, residual_s, residual_u, hvps }
    }
}

/// One linearised projection step from the centre `t` (returns the centre at the new point).
pub fn lin_proj<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    t: &Center<S>,
    tol: Mag,
) -> Result<Center<S>, EvalError> {
    lin_proj_with(obj, eta, t, None, tol)
}

/// [`lin_proj`] with the new centre's eigen solve taken from a warm-start [`Trail`].
pub fn lin_proj_with<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    t: &Center<S>,
    trail: Option<&mut Trail<S>>,
    tol: Mag,
) -> Result<Center<S>, EvalError> {
    center_with(obj, &lin_proj_point(eta, t), Some(&t.u), trail, tol)
}

/// The point one linearised projection step from the centre `t` goes to (where [`lin_proj_with`]
/// evaluates the new centre): θ − ((S − 2/η)₊/β)·∇S⊥ − ((u·∇L)/S)·u.
pub fn lin_proj_point<S: Scalar>(eta: &S, t: &Center<S>) -> Vec<S> {
    let c = t.loss.ctx();
    let two_over_eta = S::from_i64(2, c) / eta;
    let mut p = t.theta.clone();
    let excess = t.sharpness.clone() - &two_over_eta;
    if excess > S::zero(c) && t.beta > S::zero(c) {
        let coef = -(excess / &t.beta);
        axpy(&coef, &t.grad_s_perp, &mut p);
    }
    let newton = -(dot(&t.u, &t.grad) / &t.sharpness);
    axpy(&newton, &t.u, &mut p);
    p
}

/// proj_M by `steps` linearised steps from an evaluated centre.
pub fn project<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    start: Center<S>,
    steps: usize,
    tol: Mag,
) -> Result<Projected<S>, EvalError> {
    crate::gd::check_learning_rate(eta)?;
    project_with(obj, eta, start, steps, None, tol)
}

/// [`project`] with every eigen solve taken from one warm-start [`Trail`] (its extrapolation sees
/// the previous projection steps of this and earlier projections); step i is the trail's role
/// 1 + i.
pub fn project_with<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    start: Center<S>,
    steps: usize,
    trail: Option<&mut Trail<S>>,
    tol: Mag,
) -> Result<Projected<S>, EvalError> {
    project_early(obj, eta, start, steps, trail, tol, tol)
}

/// Whether the chain's solve number `i` (0: the centre a projection starts from, i ≥ 1: projection
/// step i) may stop at the early tolerance: when at least two linearised steps with solves at the
/// full tolerance follow it (i ≤ steps − 2). Each linearised step is a Newton-like step on the two
/// constraints, so an error ε in the u and S it starts from leaves an error O(ε·d) at distance d
/// from M: the later steps shrink its component off M (by ≈ h²/4 each, claim 3), its component
/// along M stays (the shift of θ† that theory/README.md "Early solves of the θ† chain" bounds); the
/// last two solves set the residuals.
pub fn early_solve(i: usize, steps: usize) -> bool {
    i + 2 <= steps
}

/// [`project_with`] with the solves that [`early_solve`] allows at `early_tol` (≥ `tol`; equal:
/// exactly [`project_with`]) and the rest at `tol`. `start` is the chain's solve 0.
pub fn project_early<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    start: Center<S>,
    steps: usize,
    mut trail: Option<&mut Trail<S>>,
    tol: Mag,
    early_tol: Mag,
) -> Result<Projected<S>, EvalError> {
    let mut cur = start;
    let mut hvps = 0;
    for i in 0..steps {
        if let Some(t) = trail.as_deref_mut() {
            t.role = 1 + i;
        }
        let tol_i = if early_solve(1 + i, steps) { early_tol } else { tol };
        cur = lin_proj_with(obj, eta, &cur, trail.as_deref_mut(), tol_i)?;
        hvps += cur.hvps;
    }
    Ok(Projected::new(cur, eta, hvps))
}

// ---------------------------------------------------------------------------------------------
// Several unstable eigenvalues (theory/README.md "Several unstable eigenvalues").

/// The centre for k eigenvalues: the single-eigenvalue centre of the top pair plus the top-K
/// eigenpairs of ∇²L(θ) (descending; `vectors[0]` is `center.u`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct CenterK<S: Scalar> {
    /// L, ∇L, S, u, ∇S, ∇S⊥, α, β, δ² of the top pair.
    pub center: Center<S>,
    /// λ₁ ≥ … ≥ λ_K.
    pub values: Vec<S>,
    /// Unit eigenvectors.
    pub vectors: Vec<Vec<S>>,
    /// Relative residuals of the pairs.
    pub residuals: Vec<Mag>,
    /// Next Ritz vectors (warm subspace for the next solve).
    pub next_ritz: Vec<Vec<S>>,
    /// HVPs of the eigen solve.
    pub hvps: u64,
}

/// Evaluate the k-centre at θ: top-K eigenpairs warm-started from `warm` (previous vectors and Ritz
/// vectors). With K = 1 this is exactly [`center`] warm-started at `warm[0]` (same operations).
pub fn center_k<S: Scalar>(
    obj: &dyn Objective<S>,
    theta: &[S],
    warm: &[Vec<S>],
    k: usize,
    tol: Mag,
) -> Result<CenterK<S>, EvalError> {
    crate::objective::check_point(obj, "θ", theta)?;
    if k <= 1 {
        let cen = center(obj, theta, warm.first().map(Vec::as_slice), tol)?;
        return Ok(CenterK {
            values: vec![cen.sharpness.clone()],
            vectors: vec![cen.u.clone()],
            residuals: vec![cen.eigen_residual],
            next_ritz: vec![],
            hvps: cen.hvps,
            center: cen,
        });
    }
    let p = obj.dim();
    let c = obj.ctx();
    let mut grad = zeros::<S>(p, c);
    let loss = obj.grad(theta, &mut grad)?;
    if !loss.is_finite() || !crate::linalg::all_finite(&grad) {
        return Err(EvalError::NonFinite { what: "loss or gradient", at: String::new() });
    }
    let opts = EigenOpts { tol, ..EigenOpts::top::<S>(k, c) };
    // A single Krylov sequence sees one vector per distinct eigenvalue, so it cannot resolve a
    // multiple eigenvalue: fill the warm block up to k vectors with deterministic pseudo-random
    // ones (block start), which span a degenerate critical eigenspace generically.
    let mut block: Vec<Vec<S>> = warm.to_vec();
    if block.is_empty() {
        block.push(crate::sharpness::default_start(p, c));
    }
    let mut j = 0u64;
    while block.len() < k {
        j += 1;
        block.push(
            (0..p)
                .map(|i| {
                    let h = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(j.wrapping_mul(0xD1B5_4A32_D192_ED03));
                    let h = (h ^ (h >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                    S::from_f64(((h >> 11) as f64) * libm::ldexp(1.0, -53) - 0.5, c)
                })
                .collect(),
        );
    }
    let eig = top_eigen_subspace(obj, theta, &block, &opts)?;
    // The top pair's centre, with the same formulas as `center`.
    let cen = Center::assemble(obj, theta, (loss, grad), &eig)?;
    Ok(CenterK { center: cen, values: eig.values, vectors: eig.vectors, residuals: eig.residuals, next_ritz: eig.next_ritz, hvps: eig.hvps })
}

impl<S: Scalar> CenterK<S> {
    /// Indices of the critical pairs: the top one and every λ_i ≥ crit/η.
    pub fn critical(&self, eta: &S, crit: f64) -> Vec<usize> {
        let lim = crit / eta.to_f64();
        (0..self.values.len()).filter(|&i| i == 0 || self.values[i].to_f64() >= lim).collect()
    }
    /// Warm subspace for the next solve: the K vectors then the next Ritz vectors.
    pub fn warm(&self) -> Vec<Vec<S>> {
        self.vectors.iter().chain(self.next_ritz.iter()).cloned().collect()
    }
}

/// A point projected onto the k-eigenvalue stable set, with per-eigenvalue residuals.
#[derive(Clone, Debug)]
pub struct ProjectedK<S: Scalar> {
    /// The k-centre at the projected point.
    pub center: CenterK<S>,
    /// λ_i − 2/η for each critical pair at the projected point.
    pub residual_s: Vec<S>,
    /// u_i·∇L for each critical pair.
    pub residual_u: Vec<S>,
    /// Number of critical pairs at the projected point (λ_i ≥ crit/η, or the top one).
    pub critical: usize,
    /// Number of constrained (active, λ_i > 2/η) pairs at the last step's start.
    pub active: usize,
    /// HVPs spent by the eigen solves.
    pub hvps: u64,
}

/// One linearised projection step for k eigenvalues (theory/README.md): a Gauss–Newton step on the
/// equations U_AᵀHU_A = (2/η)I over the active pairs (gradients P⊥_U∇³L\[u_i,u_j\], Gram pseudo-inverse)
/// plus a Newton step on Uᵀ∇L = 0 over the critical pairs. With one critical pair it performs
/// exactly [`lin_proj`]'s operations on `t.center`. Returns the new centre and the active count.
pub fn lin_proj_k<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    t: &CenterK<S>,
    crit: f64,
    tol: Mag,
) -> Result<(CenterK<S>, usize), EvalError> {
    let c = obj.ctx();
    let p = obj.dim();
    let two_over_eta = S::from_i64(2, c) / eta;
    let crit_idx = t.critical(eta, crit);
    let active: Vec<usize> = crit_idx.iter().cloned().filter(|&i| t.values[i] > two_over_eta).collect();
    let mut q = t.center.theta.clone();
    if crit_idx.len() == 1 {
        // §4's step (the operations of `lin_proj`).
        let cen = &t.center;
        let excess = cen.sharpness.clone() - &two_over_eta;
        if excess > S::zero(c) && cen.beta > S::zero(c) {
            let coef = -(excess / &cen.beta);
            axpy(&coef, &cen.grad_s_perp, &mut q);
        }
        let newton = -(dot(&cen.u, &cen.grad) / &cen.sharpness);
        axpy(&newton, &cen.u, &mut q);
    } else {
        // Constraint gradients G_(ij) = P⊥_U ∇³L[u_i, u_j], i ≤ j active; targets b.
        let mut gs: Vec<Vec<S>> = Vec::new();
        let mut b: Vec<S> = Vec::new();
        for (ai, &i) in active.iter().enumerate() {
            for &j in &active[ai..] {
                let mut g = zeros::<S>(p, c);
                if i == j {
                    obj.d3_sym(&t.center.theta, &t.vectors[i], &mut g)?;
                    b.push(t.values[i].clone() - &two_over_eta);
                } else {
                    obj.d3(&t.center.theta, &t.vectors[i], &t.vectors[j], &mut g)?;
                    b.push(S::zero(c));
                }
                for &l in &crit_idx {
                    let cf = dot(&t.vectors[l], &g);
                    axpy(&(-cf), &t.vectors[l], &mut g);
                }
                gs.push(g);
            }
        }
        let m = gs.len();
        if m > 0 {
            let mut gram = zeros::<S>(m * m, c);
            for a in 0..m {
                for bb in a..m {
                    let v = dot(&gs[a], &gs[bb]);
                    gram[a * m + bb] = v.clone();
                    gram[bb * m + a] = v;
                }
            }
            let coef = pinv_solve(&gram, &b, m);
            for (cf, g) in coef.iter().zip(&gs) {
                axpy(&(-cf.clone()), g, &mut q);
            }
        }
        for &i in &crit_idx {
            let newton = -(dot(&t.vectors[i], &t.center.grad) / &t.values[i]);
            axpy(&newton, &t.vectors[i], &mut q);
        }
    }
    let k = t.values.len();
    let next = center_k(obj, &q, &t.warm(), k, tol)?;
    Ok((next, active.len()))
}

/// x = Γ⁺b for a symmetric positive semidefinite Γ (m×m): eigenvalues below 1e-12·max are dropped.
fn pinv_solve<S: Scalar>(gram: &[S], b: &[S], m: usize) -> Vec<S> {
    let c = b[0].ctx();
    if m == 1 {
        return if gram[0] > S::zero(c) { vec![b[0].clone() / &gram[0]] } else { vec![S::zero(c)] };
    }
    let (vals, vecs) = crate::linalg::jacobi_eigen(gram, m);
    let cut = vals[0].to_f64().abs() * 1e-12;
    let mut x = zeros::<S>(m, c);
    for r in 0..m {
        if !(vals[r].to_f64() > cut) {
            continue;
        }
        let vr = &vecs[r * m..(r + 1) * m];
        let w = dot(vr, b) / &vals[r];
        axpy(&w, vr, &mut x);
    }
    x
}

/// proj_{M_k} by `steps` linearised steps from an evaluated k-centre (theory/README.md). With K = 1
/// (one eigenpair solved) it is [`project`] bit for bit.
pub fn project_k<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    start: CenterK<S>,
    steps: usize,
    crit: f64,
    tol: Mag,
) -> Result<ProjectedK<S>, EvalError> {
    let c = obj.ctx();
    let mut cur = start;
    let mut hvps = 0;
    let mut active = 0;
    for _ in 0..steps {
        let (next, a) = lin_proj_k(obj, eta, &cur, crit, tol)?;
        cur = next;
        active = a;
        hvps += cur.hvps;
    }
    let two_over_eta = S::from_i64(2, c) / eta;
    let idx = cur.critical(eta, crit);
    let residual_s = idx.iter().map(|&i| cur.values[i].clone() - &two_over_eta).collect();
    let residual_u = idx.iter().map(|&i| dot(&cur.vectors[i], &cur.center.grad)).collect();
    Ok(ProjectedK { critical: idx.len(), center: cur, residual_s, residual_u, active, hvps })
}
