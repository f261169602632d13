//! Several unstable eigenvalues in the discrete picture (theory/README.md "Several unstable
//! eigenvalues"; reference.md §8):
//!
//! - [`BetaTracker`]: β_{s→t} = ∇S⊥,tᵀ[∏_{k=s+1}^{t−1}(I − ηH_k)P⊥_{u_k}]∇S⊥,s of reference.md §8 (the
//!   weight of step s's forcing in y_t), recorded as the authors' `update_betas` does — every `every`
//!   steps a record opens at s with r ← ∇S⊥,s and lag 0 = β_s; at each later step t it appends
//!   ∇S⊥,t·r, then r ← (I − ηH_t)P⊥_{u_t} r (all at θ†_t);
//! - [`step`]: the tracking run continued past the eigengap failure — once λ₂(θ†) ≥ c/η the
//!   constrained trajectory is θ†_{t+1} = proj_{M_k}(θ†_t − η∇L(θ†_t)) with
//!   [`crate::stable_set::project_k`], GD goes on, and every step records the number of critical
//!   eigenvalues at θ† ([`MultiRow`]).

use crate::error::EvalError;
use crate::linalg::{axpy, dot, zeros};
use crate::npy::finite_or_nan;
use crate::objective::Objective;
use crate::scalar::Scalar;
use crate::sharpness::Center;
use crate::stable_set::{CenterK, center_k, project_k};
use crate::tracking::{self, Row, StopReason, TrackOpts, TrackState};

/// One open or closed β_{s→·} record.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct BetaRecord<S: Scalar> {
    /// Opening step s.
    pub s: u64,
    /// β_s = ‖∇S⊥,s‖².
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub beta_s: f64,
    /// The propagated vector r (empty once closed).
    pub r: Vec<S>,
    /// Entries at lags 0, 1, … (lag j recorded at step s + j).
    #[serde(deserialize_with = "crate::npy::null_as_nan::vec")]
    pub values: Vec<f64>,
}

/// β_{s→t} bookkeeping along θ† (theory/README.md: the entry at lag j = t − s is
/// ∇S⊥,tᵀ[Π_{k=s}^{t−1}(I − ηH_k)P⊥_{u_k}]∇S⊥,s; lag 0 is β_s).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct BetaTracker<S: Scalar> {
    /// Open a record every this many steps (0: never).
    pub every: u64,
    /// Close a record after this many lags.
    pub window: u64,
    /// All records.
    pub records: Vec<BetaRecord<S>>,
}

impl<S: Scalar> Default for BetaTracker<S> {
    fn default() -> Self {
        BetaTracker { every: 50, window: 250, records: vec![] }
    }
}

impl<S: Scalar> BetaTracker<S> {
    /// A tracker opening a record every `every` steps, each kept for `window` lags.
    pub fn new(every: u64, window: u64) -> Self {
        BetaTracker { every, window, records: vec![] }
    }

    /// Record step t at the centre θ†_t: advance every open record (append ∇S⊥,t·r, then
    /// r ← (I − ηH_t)P⊥_{u_t} r), then open one if t % every == 0 (r ← ∇S⊥,t, lag 0 = β_t; its first
    /// transport is at t + 1, so lag j ≥ 1 carries the product over k = s+1..t−1). Returns the HVPs spent.
    pub fn observe(&mut self, obj: &dyn Objective<S>, eta: &S, dag: &Center<S>, t: u64) -> Result<u64, EvalError> {
        let c = obj.ctx();
        let mut hvps = 0;
        let mut hr = zeros::<S>(obj.dim(), c);
        for rec in self.records.iter_mut().filter(|r| !r.r.is_empty()) {
            rec.values.push(finite_or_nan(dot(&dag.grad_s_perp, &rec.r).to_f64()));
            if rec.values.len() as u64 > self.window {
                rec.r = vec![];
                continue;
            }
            let ur = dot(&dag.u, &rec.r);
            axpy(&(-ur), &dag.u, &mut rec.r);
            obj.hvp(&dag.theta, &rec.r, &mut hr)?;
            hvps += 1;
            axpy(&(-eta.clone()), &hr, &mut rec.r);
        }
        if self.every > 0 && t.is_multiple_of(self.every) {
            let beta = finite_or_nan(dag.beta.to_f64());
            self.records.push(BetaRecord { s: t, beta_s: beta, r: dag.grad_s_perp.clone(), values: vec![beta] });
        }
        Ok(hvps)
    }

    /// CSV text `s,lag,t,beta_st,beta_s,ratio` (ratio = β_{s→t}/β_s), records in opening order.
    pub fn csv(&self) -> String {
        let mut s = String::from("s,lag,t,beta_st,beta_s,ratio\n");
        for r in &self.records {
            for (j, v) in r.values.iter().enumerate() {
                s.push_str(&format!("{},{j},{},{v:?},{:?},{:?}\n", r.s, r.s + j as u64, r.beta_s, v / r.beta_s));
            }
        }
        s
    }
}

/// Options of the continuation past the eigengap.
#[derive(Clone, Debug)]
pub struct MultiOpts {
    /// Eigenpairs solved at θ† after the switch (K ≥ 2; K ≤ 1 disables the continuation).
    pub k: usize,
    /// Critical threshold c: pairs with λ_i ≥ c/η are critical (and λ₂ ≥ c/η triggers the switch).
    pub crit: f64,
}

/// Per-step record of the k-eigenvalue phase.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct MultiRow {
    /// Tracking step.
    pub t: u64,
    /// Number of critical eigenvalues at θ†_t (λ_i ≥ c/η; the top one always counts).
    pub critical: usize,
    /// Number of eigenvalues above 2/η at the start of the last projection step into θ†_t.
    pub active: usize,
    /// λ₁..λ_K at θ†_t.
    #[serde(deserialize_with = "crate::npy::null_as_nan::vec")]
    pub lambdas: Vec<f64>,
    /// λ_i − 2/η at θ†_t for the critical pairs (NaN for the others).
    #[serde(deserialize_with = "crate::npy::null_as_nan::vec")]
    pub residual_s: Vec<f64>,
    /// u_i·∇L at θ†_t for the critical pairs (NaN for the others).
    #[serde(deserialize_with = "crate::npy::null_as_nan::vec")]
    pub residual_u: Vec<f64>,
    /// ‖θ_t − θ†_t‖.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub dist: f64,
    /// Σ_{i critical} (u_i·(θ_t − θ†_t))²: GD's oscillation energy in the critical eigenspace.
    #[serde(deserialize_with = "crate::npy::null_as_nan::f64")]
    pub osc_critical: f64,
}

/// State of the continuation.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct MultiState<S: Scalar> {
    /// Tracking step at which θ† switched to the k-eigenvalue projection.
    pub switched_at: Option<u64>,
    /// The k-centre at θ†_t after the switch.
    pub centre: Option<CenterK<S>>,
    /// Active count of the last projection.
    pub active: usize,
    /// Rows of the k-eigenvalue phase.
    pub rows: Vec<MultiRow>,
}

impl<S: Scalar> Default for MultiState<S> {
    fn default() -> Self {
        MultiState { switched_at: None, centre: None, active: 0, rows: vec![] }
    }
}

/// CSV header of `multi.csv` for K eigenpairs.
pub fn multi_csv(rows: &[MultiRow], k: usize) -> String {
    let mut s = String::from("t,critical,active,dist,osc_critical");
    for i in 1..=k {
        s.push_str(&format!(",lambda{i}"));
    }
    for i in 1..=k {
        s.push_str(&format!(",residual_s{i}"));
    }
    for i in 1..=k {
        s.push_str(&format!(",residual_u{i}"));
    }
    s.push('\n');
    let f = crate::npy::csv_cell;
    for r in rows {
        s.push_str(&format!("{},{},{},{},{}", r.t, r.critical, r.active, f(r.dist), f(r.osc_critical)));
        for col in [&r.lambdas, &r.residual_s, &r.residual_u] {
            for i in 0..k {
                s.push(',');
                s.push_str(&f(col.get(i).cloned().unwrap_or(f64::NAN)));
            }
        }
        s.push('\n');
    }
    s
}

/// One step of the run: the single-eigenvalue [`tracking::step`] until λ₂(θ†) reaches c/η, then (if
/// `mo.k ≥ 2`) the k-eigenvalue continuation instead of stopping.
pub fn step<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    st: &mut TrackState<S>,
    ms: &mut MultiState<S>,
    opts: &TrackOpts,
    mo: &MultiOpts,
) -> Result<(Row, Option<StopReason>), EvalError> {
    opts.check()?;
    if ms.switched_at.is_none() {
        let (row, stop) = tracking::step(obj, eta, st, opts)?;
        match stop {
            Some(StopReason::Eigengap(msg)) if mo.k >= 2 => {
                eprintln!("\n{msg}: θ† switches to the {}-eigenvalue projection", mo.k);
                ms.switched_at = Some(st.t);
                let warm = vec![st.dagger.u.clone()];
                ms.centre = Some(center_k(obj, &st.dagger.theta, &warm, mo.k, opts.eig_tol)?);
            }
            other => return Ok((row, other)),
        }
    }
    step_k(obj, eta, st, ms, opts, mo).map(|(mut row, stop)| {
        row.nonfinite_to_nan();
        (row, stop)
    })
}

fn step_k<S: Scalar>(
    obj: &dyn Objective<S>,
    eta: &S,
    st: &mut TrackState<S>,
    ms: &mut MultiState<S>,
    opts: &TrackOpts,
    mo: &MultiOpts,
) -> Result<(Row, Option<StopReason>), EvalError> {
    let clock = std::time::Instant::now();
    let t = st.t;
    let ck = ms.centre.clone().expect("k-centre after the switch");
    let dag = &ck.center;
    let nan = f64::NAN;
    // The predictions' columns stay NaN: the prediction is not defined after the switch.
    let mut row = Row { t, ..Row::default() };
    let mut hvps = 0u64;
    // GD's evaluation at θ_t and θ†'s k-eigenvalue step (from θ†_t − η∇L(θ†_t)) are independent:
    // concurrent with two threads, the step after GD's (and only if it does not stop) with one.
    let mut q = dag.theta.clone();
    axpy(&(-eta.clone()), &dag.grad, &mut q);
    let (gd, proj) = tracking::overlap(
        || tracking::eval_gd(obj, &st.theta, &st.warm_gd, None, opts.eig_tol, t, &mut row),
        || {
            center_k(obj, &q, &ck.warm(), mo.k, opts.eig_tol)
                .and_then(|c0| project_k(obj, eta, c0, opts.projection_steps, mo.crit, opts.eig_tol))
        },
    );
    let (grad, eig) = match gd? {
        Ok(v) => v,
        Err(stop) => return Ok((Row { gd_failed: true, ..row }, Some(stop))),
    };
    hvps += eig.hvps;
    let dev = tracking::record_dagger(&mut row, dag, st);
    row.lambda2_dagger = ck.values.get(1).map(S::to_f64);

    // The k-eigenvalue record of θ†_t.
    let two_over_eta = 2.0 / eta.to_f64();
    let crit = ck.critical(eta, mo.crit);
    let k = ck.values.len();
    let mut mr = MultiRow {
        t,
        critical: crit.len(),
        active: ms.active,
        lambdas: ck.values.iter().map(S::to_f64).collect(),
        residual_s: vec![nan; k],
        residual_u: vec![nan; k],
        dist: row.dist,
        osc_critical: 0.0,
    };
    for &i in &crit {
        mr.residual_s[i] = ck.values[i].to_f64() - two_over_eta;
        mr.residual_u[i] = dot(&ck.vectors[i], &dag.grad).to_f64();
        mr.osc_critical += dot(&ck.vectors[i], &dev).to_f64().powi(2);
    }
    for x in mr.lambdas.iter_mut().chain(&mut mr.residual_s).chain(&mut mr.residual_u).chain([&mut mr.dist, &mut mr.osc_critical]) {
        *x = finite_or_nan(*x);
    }
    ms.rows.push(mr);

    // Advance: GD, and θ† by the k-eigenvalue projection.
    let mut theta_next = st.theta.clone();
    axpy(&(-eta.clone()), &grad, &mut theta_next);
    let proj = match proj.get() {
        Ok(pj) => pj,
        Err(e) => {
            row.hvps = hvps;
            row.step_seconds = clock.elapsed().as_secs_f64();
            return Ok((row, Some(StopReason::Numerical(format!("θ† (k-eigenvalue projection) failed after tracking step {t}: {e}")))));
        }
    };
    hvps += proj.hvps + 2;
    st.theta = theta_next;
    st.warm_gd = eig.warm();
    st.residual_s = proj.residual_s[0].clone();
    st.residual_u = proj.residual_u[0].clone();
    st.dagger = proj.center.center.clone();
    st.lambda2 = proj.center.values.get(1).cloned();
    ms.active = proj.active;
    ms.centre = Some(proj.center);
    st.t += 1;
    row.hvps = hvps;
    row.step_seconds = clock.elapsed().as_secs_f64();
    Ok((row, None))
}
