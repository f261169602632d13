//! The constrained trajectory θ† (reference.md §4): projected gradient descent onto the stable set,
//! $$\theta^\dagger_0 = \mathrm{proj}_M(\theta_0),\qquad
//!   \theta^\dagger_{t+1} = \mathrm{proj}_M\big(\theta^\dagger_t - \eta\nabla L(\theta^\dagger_t)\big).$$

use crate::error::EvalError;
use crate::linalg::axpy;
use crate::mag::Mag;
use crate::objective::Objective;
use crate::scalar::Scalar;
use crate::sharpness::{Center, Trail, center, center_with};
use crate::stable_set::{Projected, early_solve, lin_proj_with, project, project_early, project_with};

/// θ†₀ = proj_M(θ₀) (the authors' initialisation, decisions.md §3): `steps` linearised projection
/// steps, and up to [`START_EXTRA_STEPS`] more while S(θ†₀) is above 2/η by more than
/// max([`START_TOL`], `tol`)·2/η, then two that set both residuals (see `into_stable_set`: when
/// they do not get there, the point with the smallest S(θ†₀) − 2/η; with `steps` = 0 they are the
/// whole projection).
pub fn initial<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    theta0: &[S],
    u_ref: Option<&[S]>,
    steps: usize,
    tol: Mag,
) -> Result<Projected<S>, EvalError> {
    crate::gd::check_learning_rate(eta)?;
    let c0 = center(obj, theta0, u_ref, tol)?;
    let proj = project(obj, eta, c0, steps, tol)?;
    Ok(into_stable_set(obj, eta, proj, steps, None, tol))
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
    tol: Mag,
) -> Result<Projected<S>, EvalError> {
    crate::gd::check_learning_rate(eta)?;
    let c0 = center_with(obj, theta0, u_ref, Some(trail_theta0), tol)?;
    let proj = project_with(obj, eta, c0, steps, Some(&mut *trail), tol)?;
    Ok(into_stable_set(obj, eta, proj, steps, Some(trail), tol))
}

/// How far above 2/η [`initial`] aims to bring S(θ†₀), relative to 2/η (or the eigen tolerance, if
/// larger): θ†₀ should lie in M = {S ≤ 2/η, …}.
pub const START_TOL: f64 = 1e-6;

/// How many projection steps [`initial`] may add to its `steps` to bring S(θ†₀) within
/// [`START_TOL`] of 2/η.
pub const START_EXTRA_STEPS: usize = 50;

/// The start's bound on S(θ†₀) − 2/η: max([`START_TOL`], `tol`)·2/η.
pub fn start_bound<S: Scalar>(eta: &S, tol: Mag) -> f64 {
    START_TOL.max(tol.to_f64()) * (S::from_i64(2, eta.ctx()) / eta).to_f64()
}

/// Whether a projection's S(θ†) − 2/η ≤ [`start_bound`] (θ† in M as far as S goes).
pub fn within_start_tol<S: Scalar>(eta: &S, residual_s: &S, tol: Mag) -> bool {
    residual_s.to_f64() <= start_bound(eta, tol)
}

/// θ†₀ should be in M. While S(θ†₀) − 2/η > max([`START_TOL`], `tol`)·2/η (a θ₀ far past the edge
/// of stability, where `steps` linearised steps do not reach {S = 2/η}), one more linearised step,
/// at most [`START_EXTRA_STEPS`], stopping early when ∇S⊥ = 0 (no step lowers S), the residual
/// turns non-finite or a step's eigen solve fails. Once a step lands within the bound, two more
/// follow (as the last two of the `steps` set both residuals, u·∇L's too; a failed one ends them)
/// and the last is θ†₀. If no step lands within the bound, θ†₀ is the point with the smallest
/// S − 2/η (the `steps`-step projection included), whose `residual_s` says how far off M it is
/// (`run` warns; GD's own record goes on, e.g. to its divergence at a far too large η). The added
/// solves are the trail's role `steps` (the last projection step's); the trail is kept as it was at
/// the point returned. `hvps` counts every added solve. A projection already within the bound
/// (from GD's first unstable iterate, the CLI's start) is returned unchanged.
fn into_stable_set<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    proj: Projected<S>,
    steps: usize,
    trail: Option<&mut Trail<S>>,
    tol: Mag,
) -> Projected<S> {
    if within_start_tol(eta, &proj.residual_s, tol) {
        return proj;
    }
    let c = obj.ctx();
    // The added steps advance a copy of the trail; the copy at the point returned is kept.
    let mut scratch = trail.as_deref().cloned();
    let mut best: Option<(Projected<S>, Option<Trail<S>>)> = None;
    let mut cur = proj.clone();
    let (mut total, mut added, mut polish) = (0, 0, 0);
    loop {
        if polish == 0 {
            if added == START_EXTRA_STEPS || !(cur.center.beta > S::zero(c)) || !cur.residual_s.is_finite() {
                break;
            }
            added += 1;
        }
        if let Some(t) = scratch.as_mut() {
            t.role = steps;
        }
        // A failed solve ends the added steps (they refine a start that stands without them).
        let Ok(next) = lin_proj_with(obj, eta, &cur.center, scratch.as_mut(), tol) else { break };
        total += next.hvps;
        cur = Projected::new(next, eta, 0);
        let landed = polish > 0 || within_start_tol(eta, &cur.residual_s, tol);
        let best_s = best.as_ref().map_or(&proj.residual_s, |(b, _)| &b.residual_s);
        if landed || cur.residual_s < *best_s {
            best = Some((cur.clone(), scratch.clone()));
        }
        if landed {
            polish += 1;
            if polish == 3 {
                break;
            }
        }
    }
    match best {
        Some((mut b, kept)) => {
            if let (Some(t), Some(k)) = (trail, kept) {
                *t = k;
            }
            b.hvps = proj.hvps + total;
            b
        }
        None => Projected { hvps: proj.hvps + total, ..proj },
    }
}

/// One constrained step from the centre at θ†_t. The returned HVP count includes the centre's
/// solve (as [`step_with`]'s).
pub fn step<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    dag: &Center<S>,
    steps: usize,
    tol: Mag,
) -> Result<Projected<S>, EvalError> {
    crate::gd::check_learning_rate(eta)?;
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
    tol: Mag,
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
    tol: Mag,
    early_tol: Mag,
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
