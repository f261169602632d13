//! The problem side (reference.md §1): a loss L: ℝᵖ → ℝ over a flat parameter vector with exact
//! derivatives. Algorithms (sharpness, GD, projection, predicted dynamics) take any [`Objective`].

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::EvalError;
use crate::scalar::Scalar;

/// A loss with exact derivatives up to fourth order in the directions the theory needs.
///
/// - `grad`: ∇L(θ) (returns L(θ) too, from the same forward pass);
/// - `hvp`: ∇²L(θ)v;
/// - `d3`: ∇³L(θ)\[v,w\] (symmetric in v, w; ∇S = ∇³L\[u,u\], reference.md §1);
/// - `d4`: ∇⁴L(θ)\[v,v,v\] (for ρ₄, reference.md §5.3).
pub trait Objective<S: Scalar>: Send + Sync {
    /// Number of parameters p.
    fn dim(&self) -> usize;
    /// Precision context of the objective's constants.
    fn ctx(&self) -> S::Ctx;
    /// Short description (model, sizes).
    fn describe(&self) -> String;
    /// Whether L ≥ 0 everywhere (a data-fitting loss: MSE, cross-entropy). Then GD's loss growing
    /// far above its starting value is divergence ([`crate::commands::DIVERGENCE_GROWTH`]); a
    /// loss unbounded below (the cubic families) falls without bound along −g and is not judged so.
    fn nonnegative(&self) -> bool {
        false
    }
    /// The data set the model evaluates, for the memory check ([`crate::memory::Rows`]; None: no
    /// data, as the cubic families).
    fn data_rows(&self) -> Option<crate::memory::Rows> {
        None
    }
    /// L(θ).
    fn value(&self, th: &[S]) -> Result<S, EvalError>;
    /// ∇L(θ) into `g`; returns L(θ).
    fn grad(&self, th: &[S], g: &mut [S]) -> Result<S, EvalError>;
    /// ∇²L(θ)v into `out`.
    fn hvp(&self, th: &[S], v: &[S], out: &mut [S]) -> Result<(), EvalError>;
    /// ∇³L(θ)\[v,w\] into `out`.
    fn d3(&self, th: &[S], v: &[S], w: &[S], out: &mut [S]) -> Result<(), EvalError>;
    /// ∇³L(θ)\[v,v\] into `out` (models may override with a cheaper one-direction jet).
    fn d3_sym(&self, th: &[S], v: &[S], out: &mut [S]) -> Result<(), EvalError> {
        self.d3(th, v, v, out)
    }
    /// ∇⁴L(θ)\[v,v,v\] into `out`.
    fn d4(&self, th: &[S], v: &[S], out: &mut [S]) -> Result<(), EvalError>;
}

/// Evaluation counters (argmin's `Problem` idea): how many of each call an algorithm made.
#[derive(Debug, Default)]
pub struct Counts {
    /// L evaluations.
    pub value: AtomicU64,
    /// ∇L evaluations.
    pub grad: AtomicU64,
    /// Hessian-vector products.
    pub hvp: AtomicU64,
    /// ∇³L contractions.
    pub d3: AtomicU64,
    /// ∇⁴L contractions.
    pub d4: AtomicU64,
}

impl Counts {
    /// Current HVP count.
    pub fn hvps(&self) -> u64 {
        self.hvp.load(Ordering::Relaxed)
    }
}

/// Wraps any objective and counts every call; optionally shows the HVP count as progress.
pub struct Counted<'a, S: Scalar> {
    /// The objective.
    pub inner: &'a dyn Objective<S>,
    /// The counters.
    pub counts: Counts,
    /// Progress of the HVPs ([`Counted::shown`]): the label, the start, the ticker.
    shown: Option<(String, std::time::Instant, std::sync::Mutex<crate::progress::Ticker>)>,
}

/// Seconds a job counted with [`Counted::shown`] runs before its first progress line.
const SHOWN_AFTER_SECONDS: f64 = 2.0;

impl<'a, S: Scalar> Counted<'a, S> {
    /// Start counting from zero.
    pub fn new(inner: &'a dyn Objective<S>) -> Self {
        Counted { inner, counts: Counts::default(), shown: None }
    }

    /// Counting, with a progress line `{label}: N HVPs, T s` on stderr ([`crate::progress::Ticker`])
    /// once the job has run [`SHOWN_AFTER_SECONDS`] (a long eigen solve, e.g. `eval` at 256 bits,
    /// shows it is alive).
    pub fn shown(inner: &'a dyn Objective<S>, label: &str) -> Self {
        let ticker = std::sync::Mutex::new(crate::progress::Ticker::new(10));
        Counted { inner, counts: Counts::default(), shown: Some((label.to_string(), std::time::Instant::now(), ticker)) }
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl<S: Scalar> Objective<S> for Counted<'_, S> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn data_rows(&self) -> Option<crate::memory::Rows> {
        self.inner.data_rows()
    }
    fn ctx(&self) -> S::Ctx {
        self.inner.ctx()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn nonnegative(&self) -> bool {
        self.inner.nonnegative()
    }
    fn value(&self, th: &[S]) -> Result<S, EvalError> {
        bump(&self.counts.value);
        self.inner.value(th)
    }
    fn grad(&self, th: &[S], g: &mut [S]) -> Result<S, EvalError> {
        bump(&self.counts.grad);
        self.inner.grad(th, g)
    }
    fn hvp(&self, th: &[S], v: &[S], out: &mut [S]) -> Result<(), EvalError> {
        bump(&self.counts.hvp);
        if let Some((label, start, ticker)) = &self.shown {
            let secs = start.elapsed().as_secs_f64();
            if secs >= SHOWN_AFTER_SECONDS {
                let n = self.counts.hvps();
                ticker.lock().unwrap_or_else(|e| e.into_inner()).show(n, || format!("{label}: {n} HVPs, {secs:.0} s"));
            }
        }
        self.inner.hvp(th, v, out)
    }
    fn d3(&self, th: &[S], v: &[S], w: &[S], out: &mut [S]) -> Result<(), EvalError> {
        bump(&self.counts.d3);
        self.inner.d3(th, v, w, out)
    }
    fn d3_sym(&self, th: &[S], v: &[S], out: &mut [S]) -> Result<(), EvalError> {
        bump(&self.counts.d3);
        self.inner.d3_sym(th, v, out)
    }
    fn d4(&self, th: &[S], v: &[S], out: &mut [S]) -> Result<(), EvalError> {
        bump(&self.counts.d4);
        self.inner.d4(th, v, out)
    }
}

/// `Ok` when `x` can be handed to `obj`: p entries, all finite, all at the objective's precision
/// (an MPFR θ at another precision than the objective's constants would run silently at its own).
/// `what` names the vector in the error ("θ₀", "u₀", …). Library entry points call it first, so a
/// user's objective is never called with a vector of the wrong shape.
pub fn check_point<S: Scalar>(obj: &dyn Objective<S>, what: &str, x: &[S]) -> Result<(), EvalError> {
    let (p, c) = (obj.dim(), obj.ctx());
    if x.len() != p {
        return Err(EvalError::Other(format!("{what} has length {}, the objective has p = {p} parameters", x.len())));
    }
    if let Some(i) = x.iter().position(|e| e.ctx() != c) {
        let name = |c: S::Ctx| match S::precision_name(c) {
            n if n == "f64" => n,
            n => format!("{n} bits"),
        };
        return Err(EvalError::Other(format!(
            "{what} has entry {i} at precision {}, the objective works at {}: build vectors with the objective's context (`obj.ctx()`)",
            name(x[i].ctx()),
            name(c)
        )));
    }
    if let Some(i) = x.iter().position(|e| !e.is_finite()) {
        return Err(EvalError::Other(format!("{what} holds a non-finite entry at index {i}")));
    }
    Ok(())
}

/// Dense Hessian by p HVPs with unit vectors (small p only: claim 34's cross-check), symmetrised.
pub fn dense_hessian<S: Scalar>(obj: &dyn Objective<S>, th: &[S]) -> Result<Vec<S>, EvalError> {
    check_point(obj, "θ", th)?;
    let p = obj.dim();
    let c = obj.ctx();
    let mut h = crate::linalg::zeros::<S>(p * p, c);
    let mut e = crate::linalg::zeros::<S>(p, c);
    let mut col = crate::linalg::zeros::<S>(p, c);
    for j in 0..p {
        e[j] = S::one(c);
        obj.hvp(th, &e, &mut col)?;
        e[j] = S::zero(c);
        for i in 0..p {
            h[i * p + j] = col[i].clone();
        }
    }
    let half = S::from_f64(0.5, c);
    for i in 0..p {
        for j in i + 1..p {
            let s = (h[i * p + j].clone() + &h[j * p + i]) * &half;
            h[i * p + j] = s.clone();
            h[j * p + i] = s;
        }
    }
    Ok(h)
}
