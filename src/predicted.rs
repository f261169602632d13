//! Predicted dynamics (reference.md §5.1–§5.2), everything evaluated at θ†_t (u, ∇S⊥, α, β, δ², H):
//!
//! standard: $$v_{t+1} = v_t - \eta\Big[H_t v_t + \frac{x_t^2-\delta_t^2}{2}\nabla S_{\perp,t} +
//!   u_t x_t y_t\Big],$$
//! generalized (v⊥ = v − xu): $$v_{t+1} = v_t - \eta\Big[H_t v_{\perp,t} +
//!   u_t\big(u_t\cdot\nabla L(\theta^\dagger_t + x_t u_t)\big) +
//!   \frac{x_t^2-\delta_t^2}{2}\nabla S_{\perp,t} + u_t x_t y_t\Big],$$
//! with x = u·v, y = ∇S⊥·v and δ² = 2·max(α, 0)/β: the +δ²/2·∇S⊥ term is the projection's
//! first-order effect (reference.md §5.1), and when α ≤ 0 the projection does not act on S (§4), so
//! the term is 0 (theory/README.md §Decisions; claim 36). Both updates are invariant under u → −u:
//! u enters only through x·u, x² and ∇S⊥ (claim 2).

use crate::error::EvalError;
use crate::linalg::{axpy, dot, zeros};
use crate::objective::Objective;
use crate::scalar::Scalar;
use crate::sharpness::Center;

/// Which predicted dynamics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// reference.md §5.1.
    Standard,
    /// reference.md §5.2.
    Generalized,
}

/// x = u·v and y = ∇S⊥·v at the centre.
pub fn xy<S: Scalar>(dag: &Center<S>, v: &[S]) -> (S, S) {
    (dot(&dag.u, v), dot(&dag.grad_s_perp, v))
}

/// One predicted step v_t → v_{t+1} along the centre θ†_t.
pub fn step<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    dag: &Center<S>,
    v: &[S],
    kind: Kind,
) -> Result<Vec<S>, EvalError> {
    crate::gd::check_learning_rate(eta)?;
    crate::objective::check_point(obj, "v", v)?;
    crate::objective::check_point(obj, "θ† (the centre)", &dag.theta)?;
    let c = obj.ctx();
    let p = obj.dim();
    let (x, y) = xy(dag, v);
    let mut force = zeros::<S>(p, c);
    match kind {
        Kind::Standard => obj.hvp(&dag.theta, v, &mut force)?,
        Kind::Generalized => {
            let mut vperp = v.to_vec();
            axpy(&(-x.clone()), &dag.u, &mut vperp);
            obj.hvp(&dag.theta, &vperp, &mut force)?;
            let mut q = dag.theta.clone();
            axpy(&x, &dag.u, &mut q);
            let mut gq = zeros::<S>(p, c);
            obj.grad(&q, &mut gq)?;
            let along = dot(&dag.u, &gq);
            axpy(&along, &dag.u, &mut force);
        }
    }
    let half = S::from_f64(0.5, c);
    let zero = S::zero(c);
    let delta_sq = if dag.delta_sq > zero { &dag.delta_sq } else { &zero };
    let coef = (x.clone() * &x - delta_sq) * &half;
    axpy(&coef, &dag.grad_s_perp, &mut force);
    let xyv = x * &y;
    axpy(&xyv, &dag.u, &mut force);
    let mut out = v.to_vec();
    axpy(&(-eta.clone()), &force, &mut out);
    if !crate::linalg::all_finite(&out) {
        return Err(EvalError::NonFinite { what: "predicted displacement v", at: String::new() });
    }
    Ok(out)
}
