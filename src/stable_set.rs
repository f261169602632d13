//! The stable set M = {θ : S(θ) ≤ 2/η, ∇L(θ)·u(θ) = 0} and the authors' linearised projection onto
//! it (reference.md §4, `taylor.py`):
//! $$p \leftarrow p - \max(0, S(p) - 2/\eta)\,\frac{\nabla S_\perp(p)}{\|\nabla S_\perp(p)\|^2}
//!   - u(p)\,\frac{u(p)\cdot\nabla L(p)}{S(p)},$$
//! applied k times (default 3), every quantity re-evaluated at the new point. The first term is a
//! Gauss–Newton step onto {S = 2/η} along ∇S⊥, the second a Newton step on u·∇L. The result reports
//! its residuals S − 2/η and u·∇L so that a poor projection is visible (claims 3, 24).

use crate::error::EvalError;
use crate::linalg::{axpy, dot};
use crate::objective::Objective;
use crate::scalar::Scalar;
use crate::sharpness::{Center, center};

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

/// One linearised projection step from the centre `t` (returns the centre at the new point).
pub fn lin_proj<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    t: &Center<S>,
    tol: f64,
) -> Result<Center<S>, EvalError> {
    let c = obj.ctx();
    let two_over_eta = S::from_i64(2, c) / eta;
    let mut p = t.theta.clone();
    let excess = t.sharpness.clone() - &two_over_eta;
    if excess > S::zero(c) && t.beta > S::zero(c) {
        let coef = -(excess / &t.beta);
        axpy(&coef, &t.grad_s_perp, &mut p);
    }
    let newton = -(dot(&t.u, &t.grad) / &t.sharpness);
    axpy(&newton, &t.u, &mut p);
    center(obj, &p, Some(&t.u), tol)
}

/// proj_M by `steps` linearised steps from an evaluated centre.
pub fn project<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    start: Center<S>,
    steps: usize,
    tol: f64,
) -> Result<Projected<S>, EvalError> {
    let c = obj.ctx();
    let mut cur = start;
    let mut hvps = 0;
    for _ in 0..steps {
        cur = lin_proj(obj, eta, &cur, tol)?;
        hvps += cur.hvps;
    }
    let residual_s = cur.sharpness.clone() - &(S::from_i64(2, c) / eta);
    let residual_u = dot(&cur.u, &cur.grad);
    Ok(Projected { center: cur, residual_s, residual_u, hvps })
}
