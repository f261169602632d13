//! Claim 28: how fast GD trajectories computed in different precisions separate
//! (`theory/README.md` "Measured values of the holding claims", claim 28; claims.md group E "Rounding sensitivity").
//!
//! All lanes start from the same θ₀ (f64 values lifted exactly into each precision) and run
//! θ_{t+1} = θ_t − η∇L(θ_t), η parsed from its decimal string in each precision. After every step the
//! relative distance d_a(t) = ‖θ_a(t) − θ_ref(t)‖ / ‖θ_ref(t)‖ to the finest lane is formed exactly in
//! the reference precision, and −log10 d_a(t) counts the agreeing digits.
//!
//! The growth law of d is read off a window where d is far above the coarser lane's rounding and far
//! below the O(1) saturation (so that lane differences propagate linearly):
//! * exponential: log10 d = a + b·t, finite-time Lyapunov exponent λ = b·ln 10 per step,
//!   b·100 = digits lost per 100 steps;
//! * polynomial: log10 d = a + k·log10 t.
//!
//! [`fit_steps`] fits a given step window instead: at the edge of stability the growth has phases
//! (claims.md 28: fast loss through GD's first spike, then none), so a window is chosen per phase.
//! Both fits report their RMS residual (in decades); the smaller one is the better law. The OLS
//! standard errors assume independent residuals, which a trajectory does not give, so the slopes of the
//! window's two halves are reported too: their spread is the honest error bar.

use rug::Float;

use crate::error::{Error, EvalError, InputError};
use crate::gd::gd_step;
use crate::linalg::zeros;
use crate::objective::Objective;
use crate::scalar::{Precision, Scalar};

/// Exact lift of a scalar into an MPFR float of `bits` (exact when `bits` ≥ the scalar's precision).
pub trait Lift: Scalar {
    /// The same value as an MPFR float with `bits` significand bits.
    fn lift(&self, bits: u32) -> Float;
}

impl Lift for f64 {
    fn lift(&self, bits: u32) -> Float {
        Float::with_val(bits, *self)
    }
}

impl Lift for Float {
    fn lift(&self, bits: u32) -> Float {
        Float::with_val(bits, self)
    }
}

/// A GD run at one precision, stepped in lockstep with the others.
pub trait Lane {
    /// `f64` or the number of bits.
    fn name(&self) -> String;
    /// Significand bits of the lane's arithmetic.
    fn bits(&self) -> u32;
    /// One GD step; returns L(θ_t) before the step.
    fn step(&mut self) -> Result<f64, EvalError>;
    /// θ_t lifted exactly to `bits`.
    fn theta_lifted(&self, bits: u32) -> Vec<Float>;
}

/// A [`Lane`] over any [`Lift`] scalar.
pub struct GdLane<'a, S: Scalar> {
    obj: Box<dyn Objective<S> + 'a>,
    eta: S,
    theta: Vec<S>,
    grad: Vec<S>,
}

impl<'a, S: Lift> GdLane<'a, S> {
    /// GD on `obj` with step `eta` (a decimal, parsed in the lane's precision) from `theta0` (lifted
    /// exactly). Errors on a length mismatch, a non-finite θ₀ or a bad η.
    pub fn new(obj: Box<dyn Objective<S> + 'a>, eta: &str, theta0: &[f64]) -> Result<Self, InputError> {
        let c = obj.ctx();
        if theta0.len() != obj.dim() {
            return Err(InputError::Dimension(format!(
                "θ₀ has {} entries, the objective has {} parameters",
                theta0.len(),
                obj.dim()
            )));
        }
        crate::data::check_finite("θ₀", theta0)?;
        let eta_s = S::parse(eta, c).map_err(|e| InputError::LearningRate(format!("{eta}: {e}")))?;
        if !(eta_s.to_f64() > 0.0 && eta_s.is_finite()) {
            return Err(InputError::LearningRate(format!("{eta}: must be finite and > 0")));
        }
        let p = obj.dim();
        Ok(GdLane { eta: eta_s, theta: crate::linalg::from_f64(theta0, c), grad: zeros(p, c), obj })
    }
}

impl<S: Lift> Lane for GdLane<'_, S> {
    fn name(&self) -> String {
        S::precision_name(self.obj.ctx())
    }
    fn bits(&self) -> u32 {
        S::bits(self.obj.ctx())
    }
    fn step(&mut self) -> Result<f64, EvalError> {
        gd_step(&*self.obj, &self.eta, &mut self.theta, &mut self.grad).map(|l| l.to_f64())
    }
    fn theta_lifted(&self, bits: u32) -> Vec<Float> {
        self.theta.iter().map(|x| x.lift(bits)).collect()
    }
}

/// Per-step record of a lockstep run.
#[derive(Clone, Debug)]
pub struct Study {
    /// Lane names (index 0 … k−1); the reference is the last.
    pub names: Vec<String>,
    /// Significand bits of each lane.
    pub bits: Vec<u32>,
    /// `loss[i][t]` = L(θ_i(t)), t = 0..steps−1.
    pub loss: Vec<Vec<f64>>,
    /// `rel[i][t]` = ‖θ_i(t) − θ_ref(t)‖/‖θ_ref(t)‖ for t = 0..=steps (the reference's own row is 0).
    pub rel: Vec<Vec<f64>>,
}

impl Study {
    /// Agreeing digits −log10 d of lane `i` at each step (∞ where d = 0).
    pub fn digits(&self, i: usize) -> Vec<f64> {
        self.rel[i].iter().map(|&d| -libm::log10(d)).collect()
    }

    /// log10 of the amplification d_i(t)/2^−bits_i: how many decades the lane's unit roundoff has
    /// been amplified by (precision-independent while the lanes differ by a linearised perturbation).
    pub fn log10_amplification(&self, i: usize) -> Vec<f64> {
        let u = libm::ldexp(1.0, -(self.bits[i] as i32));
        self.rel[i].iter().map(|&d| libm::log10(d / u)).collect()
    }
}

/// Relative distance ‖a − b‖/‖b‖, formed in `bits`.
fn rel_dist(a: &[Float], b: &[Float], bits: u32) -> f64 {
    let mut num = Float::new(bits);
    let mut den = Float::new(bits);
    let mut diff = Float::new(bits);
    for (x, y) in a.iter().zip(b) {
        diff.assign_from(x);
        diff -= y;
        num.mul_acc(&diff, &diff);
        den.mul_acc(y, y);
    }
    (num / den).sqrt().to_f64()
}

/// Run all lanes in lockstep for `steps` GD steps and record the distances to the last lane (the
/// reference; give it the most bits). Errors if fewer than two lanes or if a lane fails.
pub fn run(lanes: &mut [Box<dyn Lane + '_>], steps: u64) -> Result<Study, Error> {
    if lanes.len() < 2 {
        return Err(InputError::Value { key: "lanes".into(), msg: format!("need ≥ 2 precisions, got {}", lanes.len()) }.into());
    }
    let r = lanes.len() - 1;
    let rb = lanes[r].bits();
    if let Some(l) = lanes[..r].iter().find(|l| l.bits() > rb) {
        return Err(InputError::Value {
            key: "lanes".into(),
            msg: format!("the reference (last lane, {rb} bits) must be the finest; {} has {} bits", l.name(), l.bits()),
        }
        .into());
    }
    let k = lanes.len();
    let mut loss = vec![Vec::with_capacity(steps as usize); k];
    let mut rel = vec![Vec::with_capacity(steps as usize + 1); k];
    let record = |lanes: &[Box<dyn Lane + '_>], rel: &mut [Vec<f64>]| {
        let refv = lanes[r].theta_lifted(rb);
        for (i, l) in lanes.iter().enumerate() {
            rel[i].push(if i == r { 0.0 } else { rel_dist(&l.theta_lifted(rb), &refv, rb) });
        }
    };
    record(lanes, &mut rel);
    for _ in 0..steps {
        for (i, l) in lanes.iter_mut().enumerate() {
            loss[i].push(l.step()?);
        }
        record(lanes, &mut rel);
    }
    Ok(Study { names: lanes.iter().map(|l| l.name()).collect(), bits: lanes.iter().map(|l| l.bits()).collect(), loss, rel })
}

/// Lanes of one objective family at several precisions: `make(p)` builds the objective at `p`.
/// The reference should be listed last.
pub fn lanes<'a>(
    precisions: &[Precision],
    eta: &str,
    theta0: &[f64],
    make_f64: &dyn Fn() -> Result<Box<dyn Objective<f64> + 'a>, Error>,
    make_mpfr: &dyn Fn(u32) -> Result<Box<dyn Objective<Float> + 'a>, Error>,
) -> Result<Vec<Box<dyn Lane + 'a>>, Error> {
    precisions
        .iter()
        .map(|p| -> Result<Box<dyn Lane + 'a>, Error> {
            Ok(match *p {
                Precision::F64 => Box::new(GdLane::new(make_f64()?, eta, theta0)?),
                Precision::Bits(b) => Box::new(GdLane::new(make_mpfr(b)?, eta, theta0)?),
            })
        })
        .collect()
}

/// Least-squares line y = a + b·x: (b, SE(b), RMS residual).
pub fn line_fit(x: &[f64], y: &[f64]) -> (f64, f64, f64) {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let b = sxy / sxx;
    let rss: f64 = x.iter().zip(y).map(|(a, c)| (c - my - b * (a - mx)).powi(2)).sum();
    let se = if n > 2.0 { (rss / (n - 2.0) / sxx).sqrt() } else { f64::NAN };
    (b, se, (rss / n).sqrt())
}

/// Exponential and polynomial fits of a distance series over a window.
#[derive(Clone, Debug, PartialEq)]
pub struct GrowthFit {
    /// First and last step of the window.
    pub t_range: (u64, u64),
    /// Points in the window.
    pub points: usize,
    /// log10 d at the window's ends (from the data).
    pub log10_d_range: (f64, f64),
    /// Exponential law: slope of log10 d per step.
    pub decades_per_step: f64,
    /// Its OLS standard error.
    pub decades_per_step_se: f64,
    /// Finite-time Lyapunov exponent λ = ln 10 · slope (per step).
    pub lyapunov: f64,
    /// Its OLS standard error.
    pub lyapunov_se: f64,
    /// λ fitted on the first and on the second half of the window.
    pub lyapunov_halves: (f64, f64),
    /// Digits lost per 100 steps (100 · slope).
    pub digits_per_100: f64,
    /// RMS residual of the exponential fit, in decades.
    pub exp_rms: f64,
    /// Polynomial law: exponent k of d ∝ t^k (t counted from the start of the run, t ≥ 1).
    pub poly_exponent: f64,
    /// Its OLS standard error.
    pub poly_exponent_se: f64,
    /// RMS residual of the polynomial fit, in decades.
    pub poly_rms: f64,
}

/// Fit both laws to `d[t]` (t = index) over the steps t ≥ 1 with `lo ≤ d ≤ hi`, from the first such
/// step to the last one before d first exceeds `hi` (saturation). `None` with fewer than 6 points.
pub fn fit_growth(d: &[f64], lo: f64, hi: f64) -> Option<GrowthFit> {
    let end = d.iter().position(|&v| v > hi).unwrap_or(d.len());
    let start = (1..end).find(|&t| d[t] >= lo)?;
    fit_steps(d, start as u64, end as u64 - 1)
}

/// Fit both laws to `d[t]` over the steps `t0..=t1` (t0 ≥ 1; steps with d = 0 are skipped).
/// `None` with fewer than 6 points.
pub fn fit_steps(d: &[f64], t0: u64, t1: u64) -> Option<GrowthFit> {
    let t0 = t0.max(1) as usize;
    let t1 = (t1 as usize).min(d.len().checked_sub(1)?);
    let pts: Vec<(f64, f64)> = (t0..=t1).filter(|&t| d[t] > 0.0).map(|t| (t as f64, libm::log10(d[t]))).collect();
    if pts.len() < 6 {
        return None;
    }
    let t: Vec<f64> = pts.iter().map(|p| p.0).collect();
    let y: Vec<f64> = pts.iter().map(|p| p.1).collect();
    let (b, se, exp_rms) = line_fit(&t, &y);
    let lt: Vec<f64> = t.iter().map(|&v| libm::log10(v)).collect();
    let (k, kse, poly_rms) = line_fit(&lt, &y);
    let h = pts.len() / 2;
    let (b1, _, _) = line_fit(&t[..h], &y[..h]);
    let (b2, _, _) = line_fit(&t[h..], &y[h..]);
    let ln10 = std::f64::consts::LN_10;
    Some(GrowthFit {
        t_range: (t[0] as u64, *t.last().unwrap() as u64),
        points: pts.len(),
        log10_d_range: (y[0], *y.last().unwrap()),
        decades_per_step: b,
        decades_per_step_se: se,
        lyapunov: b * ln10,
        lyapunov_se: se * ln10,
        lyapunov_halves: (b1 * ln10, b2 * ln10),
        digits_per_100: 100.0 * b,
        exp_rms,
        poly_exponent: k,
        poly_exponent_se: kse,
        poly_rms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The halves of a fit split its points without overlap: on a distance whose log10 is exactly
    /// piecewise linear (slope 0.1 per step up to t = 19, 0.2 from t = 20; the kink between the
    /// halves of t = 1…39), each half's λ is its own slope × ln 10 up to rounding (mutation audit
    /// round 3: a second half that began one point early passed every test).
    #[test]
    fn lyapunov_halves_fit_their_own_points() {
        let d: Vec<f64> = (0..40)
            .map(|t| {
                let y = if t < 20 { -20.0 + 0.1 * t as f64 } else { -18.0 + 0.2 * (t - 20) as f64 };
                libm::pow(10.0, y)
            })
            .collect();
        let f = fit_steps(&d, 1, 39).unwrap();
        assert_eq!((f.t_range, f.points), ((1, 39), 39));
        let ln10 = std::f64::consts::LN_10;
        let (a, b) = f.lyapunov_halves;
        assert!((a - 0.1 * ln10).abs() <= 1e-12 && (b - 0.2 * ln10).abs() <= 1e-12, "halves {a}, {b}");
        // A straight line is fitted exactly: slope, zero standard error and residual.
        let x: Vec<f64> = (0..10).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|t| 3.0 - 0.25 * t).collect();
        let (slope, se, rms) = line_fit(&x, &y);
        assert!((slope + 0.25).abs() <= 1e-15 && se <= 1e-15 && rms <= 1e-15, "{slope}, {se}, {rms}");
    }
}
