//! The authors' neglected-term monitors and slow statistics (reference.md §5.3 "What is predicted,
//! and what the code records", §1 for ρ₃ and ρ₄, §6.2 for the assumptions they watch), recorded by
//! `run` every `--gap-every` steps at θ†_t (`monitors.csv`, `slices.csv`; decisions.md §5):
//!
//! - for a displacement w (GD's θ_t − θ†_t and the standard prediction v_t), with
//!   ŵ⊥ = P⊥_u w/‖P⊥_u w‖: `d2L_v_v` = |ŵ⊥ᵀ∇²L ŵ⊥| and `d3L_v` = ‖∇³L[ŵ⊥, ŵ⊥]‖ (assumption A5:
//!   the dynamics keep only the u-part of the cubic term and the linear part across u);
//! - `d3L_dL` = ‖∇³L[ĝ⊥, ĝ⊥]‖ with ĝ⊥ = P⊥_u∇L/‖P⊥_u∇L‖ (A5);
//! - ρ₃ ≈ max_{‖w‖=1} ∇³L\[w,w,w\] and ρ₄ ≈ max_{‖w‖=1} ∇⁴L\[w,w,w,w\] (A3), each by [`POWER_STEPS`]
//!   steps of the nonlinear power iteration w ← T[w,…]/‖T[w,…]‖ from u, then ρ = w·T[w,…] (a local
//!   maximum of the form on the sphere: a lower bound on the tensor's norm). The iteration stops
//!   early, keeping its last ρ, when T\[w,…\] = 0 (on the exact cubic, ∇³L\[u,u\] = (0, a) and
//!   ∇³L\[(0, â), (0, â)\] = 0);
//! - `S_exact_pred` = λ_max(∇²L(θ† + v)), the exact sharpness at the predicted point (the series
//!   carry its Taylor form S(θ†) + ∇S·v every step), by an eigen solve warm-started at u (recorded
//!   in f64 only, so above f64 it stops at [`crate::sharpness::record_tol`], 2^-60);
//! - the slice F(x) = L(θ† + x·u) on [`SLICE_POINTS`] points of [−5δ, 5δ] (none while α ≤ 0: δ = 0;
//!   a point where L is not finite is left out).
//!
//! Every derivative is taken at θ†_t, the centre the statistics are taken with respect to. A
//! displacement without a part across u (or a prediction that has diverged) gives NaN.

use crate::error::EvalError;
use crate::linalg::{axpy, dot, norm, scale, sub, zeros};
use crate::mag::Mag;
use crate::npy::finite_or_nan;
use crate::objective::Objective;
use crate::scalar::Scalar;
use crate::sharpness::{Center, EigenOpts, record_tol, top_eigen};

/// Steps of the nonlinear power iterations for ρ₃ and ρ₄ (the authors' `util.power_iter`).
pub const POWER_STEPS: usize = 20;

/// Points of the slice F(x) = L(θ† + x·u) on [−5δ, 5δ].
pub const SLICE_POINTS: usize = 100;

/// One row of `monitors.csv` (see the module).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MonitorRow {
    /// Tracking step.
    pub t: u64,
    /// |ŵ⊥ᵀ∇²L ŵ⊥| for GD's displacement θ − θ†.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub d2l_v_v_gd: f64,
    /// ‖∇³L[ŵ⊥, ŵ⊥]‖ for GD's displacement.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub d3l_v_gd: f64,
    /// |v̂⊥ᵀ∇²L v̂⊥| for the standard prediction v.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub d2l_v_v_pred: f64,
    /// ‖∇³L[v̂⊥, v̂⊥]‖ for the standard prediction.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub d3l_v_pred: f64,
    /// ‖∇³L[ĝ⊥, ĝ⊥]‖.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub d3l_dl: f64,
    /// ρ₃ by the power iteration.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub rho3: f64,
    /// ρ₄ by the power iteration.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub rho4: f64,
    /// √β = ‖∇S⊥‖, the scale A5 compares the cubic ratios with.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub sqrt_beta: f64,
    /// δ (0 while α ≤ 0): the slice's half-width is 5δ.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub delta: f64,
    /// λ_max(∇²L(θ† + v)) (NaN once the prediction has diverged).
    #[serde(default = "nan", deserialize_with = "crate::npy::null_as_nan::f64")]
    pub s_exact_pred: f64,
}

fn nan() -> f64 {
    f64::NAN
}

/// `monitors.csv`'s header, in [`MonitorRow`]'s order.
pub const HEADER: &str = "t,d2L_v_v_gd,d3L_v_gd,d2L_v_v_pred,d3L_v_pred,d3L_dL,rho3,rho4,sqrt_beta,delta,S_exact_pred";

impl MonitorRow {
    /// The row as a CSV line (NaN values, i.e. every non-finite one, as empty cells).
    pub fn csv_line(&self) -> String {
        let cell = crate::npy::csv_cell;
        let vals = [self.d2l_v_v_gd, self.d3l_v_gd, self.d2l_v_v_pred, self.d3l_v_pred, self.d3l_dl, self.rho3, self.rho4, self.sqrt_beta, self.delta, self.s_exact_pred];
        std::iter::once(self.t.to_string()).chain(vals.into_iter().map(cell)).collect::<Vec<_>>().join(",")
    }
}

/// The slice F(x) = L(θ† + x·u) at one step: `(t, x, F(x))` for each point.
pub type Slice = Vec<(u64, f64, f64)>;

/// P⊥_u w / ‖P⊥_u w‖, or None when that part is zero or not finite.
fn unit_perp<S: Scalar>(u: &[S], w: &[S]) -> Option<Vec<S>> {
    let mut p = w.to_vec();
    axpy(&(-dot(u, w)), u, &mut p);
    let n = norm(&p);
    if !(n.is_finite() && n > S::zero(n.ctx())) {
        return None;
    }
    scale(&(S::one(n.ctx()) / &n), &mut p);
    Some(p)
}

/// (|ŵ⊥ᵀ∇²L ŵ⊥|, ‖∇³L[ŵ⊥, ŵ⊥]‖) at `theta` for the displacement `w` (NaN, NaN when it has no part across u).
fn perp_ratios<S: Scalar>(obj: &dyn Objective<S>, theta: &[S], u: &[S], w: &[S]) -> Result<(f64, f64), EvalError> {
    let Some(h) = unit_perp(u, w) else { return Ok((f64::NAN, f64::NAN)) };
    let mut out = zeros::<S>(obj.dim(), obj.ctx());
    obj.hvp(theta, &h, &mut out)?;
    let d2 = dot(&h, &out).abs().to_f64();
    obj.d3_sym(theta, &h, &mut out)?;
    Ok((finite_or_nan(d2), finite_or_nan(norm(&out).to_f64())))
}

/// ρ ≈ max_{‖w‖=1} T[w, …, w] by [`POWER_STEPS`] steps of w ← T[w, …]/‖T[w, …]‖ from `start`, with
/// `apply(w, out)` writing T[w, …] (order − 1 arguments).
fn power_form<S: Scalar>(start: &[S], mut apply: impl FnMut(&[S], &mut [S]) -> Result<(), EvalError>) -> Result<f64, EvalError> {
    let c = start[0].ctx();
    let mut w = start.to_vec();
    let mut tw = zeros::<S>(w.len(), c);
    apply(&w, &mut tw)?;
    let mut rho = dot(&w, &tw);
    for _ in 0..POWER_STEPS {
        let n = norm(&tw);
        if !(n > S::zero(c)) {
            break;
        }
        w.iter_mut().zip(&tw).for_each(|(a, b)| *a = b.clone() / &n);
        apply(&w, &mut tw)?;
        rho = dot(&w, &tw);
    }
    Ok(finite_or_nan(rho.to_f64()))
}

/// The monitors at step `t` (θ_t = `theta`, θ†_t = `dag`, prediction `v`, `None` once it has
/// diverged) and the slice F(x) = L(θ† + x·u); `eig_tol` is the run's eigen tolerance (the solve for
/// `S_exact_pred`, recorded in f64 only, stops at [`record_tol`]).
pub fn observe<S: Scalar>(obj: &dyn Objective<S>, dag: &Center<S>, theta: &[S], v: Option<&[S]>, t: u64, eig_tol: Mag) -> Result<(MonitorRow, Slice), EvalError> {
    let c = obj.ctx();
    let at = &dag.theta;
    let (d2l_v_v_gd, d3l_v_gd) = perp_ratios(obj, at, &dag.u, &sub(theta, at))?;
    let (d2l_v_v_pred, d3l_v_pred) = match v {
        Some(v) => perp_ratios(obj, at, &dag.u, v)?,
        None => (f64::NAN, f64::NAN),
    };
    let s_exact_pred = match v {
        Some(v) => {
            let p: Vec<S> = at.iter().zip(v).map(|(a, b)| a.clone() + b).collect();
            let opts = EigenOpts { tol: record_tol::<S>(c, eig_tol), ..EigenOpts::top::<S>(1, c) };
            finite_or_nan(top_eigen(obj, &p, Some(&dag.u), &opts)?.values[0].to_f64())
        }
        None => f64::NAN,
    };
    let d3l_dl = match unit_perp(&dag.u, &dag.grad) {
        Some(g) => {
            let mut out = zeros::<S>(obj.dim(), c);
            obj.d3_sym(at, &g, &mut out)?;
            finite_or_nan(norm(&out).to_f64())
        }
        None => f64::NAN,
    };
    let rho3 = power_form(&dag.u, |w, out| obj.d3_sym(at, w, out))?;
    let rho4 = power_form(&dag.u, |w, out| obj.d4(at, w, out))?;
    let delta = dag.delta();
    let mut slice = Vec::new();
    if delta > S::zero(c) {
        let half = S::from_i64(5, c) * &delta;
        let steps = S::from_i64(SLICE_POINTS as i64 - 1, c);
        for i in 0..SLICE_POINTS {
            // x_i = −5δ + i·10δ/(N − 1), formed for the first half and negated for the second, so the
            // grid is symmetric bit for bit and the slice along −u is this one mirrored (claim 2).
            let j = i.min(SLICE_POINTS - 1 - i);
            let xj = -half.clone() + &(S::from_i64(2 * j as i64, c) * &half / &steps);
            let x = if j == i { xj } else { -xj };
            let mut p = at.clone();
            axpy(&x, &dag.u, &mut p);
            // A point where L is not finite (far out on a steep slice) is left out.
            if let Ok(f) = obj.value(&p).map(|l| l.to_f64())
                && f.is_finite()
            {
                slice.push((t, x.to_f64(), f));
            }
        }
    }
    let row = MonitorRow {
        t,
        d2l_v_v_gd,
        d3l_v_gd,
        d2l_v_v_pred,
        d3l_v_pred,
        d3l_dl,
        rho3,
        rho4,
        sqrt_beta: finite_or_nan(dag.beta.clone().sqrt().to_f64()),
        delta: finite_or_nan(delta.to_f64()),
        s_exact_pred,
    };
    Ok((row, slice))
}

/// `monitors.csv` text.
pub fn monitors_csv(rows: &[MonitorRow]) -> String {
    let mut s = String::from(HEADER);
    s.push('\n');
    for r in rows {
        s.push_str(&r.csv_line());
        s.push('\n');
    }
    s
}

/// `slices.csv` text (`t,x,F`).
pub fn slices_csv(slices: &[(u64, f64, f64)]) -> String {
    let mut s = String::from("t,x,F\n");
    for (t, x, f) in slices {
        s.push_str(&format!("{t},{x:?},{f:?}\n"));
    }
    s
}
