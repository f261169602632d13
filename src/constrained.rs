//! The constrained trajectory θ† (reference.md §4): projected gradient descent onto the stable set,
//! $$\theta^\dagger_0 = \mathrm{proj}_M(\theta_0),\qquad
//!   \theta^\dagger_{t+1} = \mathrm{proj}_M\big(\theta^\dagger_t - \eta\nabla L(\theta^\dagger_t)\big).$$

use crate::error::EvalError;
use crate::linalg::axpy;
use crate::objective::Objective;
use crate::scalar::Scalar;
use crate::sharpness::{Center, Trail, center, center_with};
use crate::stable_set::{Projected, early_solve, project, project_early, project_with};

/// θ†₀ = proj_M(θ₀) (the authors' initialisation, decisions.md §3).
pub fn initial<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    theta0: &[S],
    u_ref: Option<&[S]>,
    steps: usize,
    tol: f64,
) -> Result<Projected<S>, EvalError> {
    let c0 = center(obj, theta0, u_ref, tol)?;
    project(obj, eta, c0, steps, tol)
}

/// [`initial`] with warm-start [`Trail`]s: the centre at θ₀ from `trail_theta0` (the GD trail: GD's
/// first solve is at the same θ₀) and the projection steps from `trail` (the θ† chain's).
#[allow(clippy::too_many_arguments)]
pub fn initial_with<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    theta0: &[S],
    u_ref: Option<&[S]>,
    steps: usize,
    trail_theta0: &mut Trail<S>,
    trail: &mut Trail<S>,
    tol: f64,
) -> Result<Projected<S>, EvalError> {
    let c0 = center_with(obj, theta0, u_ref, Some(trail_theta0), tol)?;
    project_with(obj, eta, c0, steps, Some(trail), tol)
}

/// One constrained step from the centre at θ†_t. The returned HVP count includes the centre's
/// solve (as [`step_with`]'s).
pub fn step<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    dag: &Center<S>,
    steps: usize,
    tol: f64,
) -> Result<Projected<S>, EvalError> {
    step_early(obj, eta, dag, steps, None, tol, tol)
}

/// [`step`] with every eigen solve of the chain (the centre at θ†_t − η∇L(θ†_t), role 0, then
/// each projection step, roles 1, 2, …) taken from one warm-start [`Trail`] (sharpness.rs). The
/// returned HVP count includes the centre's solve.
pub fn step_with<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    dag: &Center<S>,
    steps: usize,
    trail: &mut Trail<S>,
    tol: f64,
) -> Result<Projected<S>, EvalError> {
    step_early(obj, eta, dag, steps, Some(trail), tol, tol)
}

/// One constrained step with the chain's early solves (the centre and each projection step that
/// two more follow, [`early_solve`]) at `early_tol` ≥ `tol` and the rest at `tol`; with
/// `early_tol == tol` exactly [`step_with`] (a trail) or [`step`] (none). theory/README.md "Early
/// solves of the θ† chain" states what it changes.
pub fn step_early<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    dag: &Center<S>,
    steps: usize,
    mut trail: Option<&mut Trail<S>>,
    tol: f64,
    early_tol: f64,
) -> Result<Projected<S>, EvalError> {
    let mut p = dag.theta.clone();
    axpy(&(-eta.clone()), &dag.grad, &mut p);
    let tol0 = if early_solve(0, steps) { early_tol } else { tol };
    let c = match trail.as_deref_mut() {
        Some(t) => {
            t.role = 0;
            center_with(obj, &p, Some(&dag.u), Some(t), tol0)?
        }
        None => center(obj, &p, Some(&dag.u), tol0)?,
    };
    let hv = c.hvps;
    let mut pr = project_early(obj, eta, c, steps, trail, tol, early_tol)?;
    pr.hvps += hv;
    Ok(pr)
}
