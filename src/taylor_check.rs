//! Checks of an objective's hand-written derivatives (for users implementing [`Objective`]):
//! each derivative against central differences of the order below it (a Taylor test), and the
//! symmetries the theory relies on (reference.md §1: ∇S = ∇³L\[u,u\] needs ∇³L symmetric).
//!
//! Along unit directions v, w and steps h, the central difference of a smooth f,
//! (f(θ + hv) − f(θ − hv))/(2h) = Df(θ)\[v\] + O(h²), so its error against a correct derivative
//! falls as h² (rate 2), while a wrong one leaves a plateau (rate → 0). The relations checked:
//!
//! | relation | f(θ ± h·d) | derivative claimed |
//! |---|---|---|
//! | `grad` | L(θ ± hv) | ∇L(θ)·v |
//! | `hvp` | ∇L(θ ± hv) | ∇²L(θ)v |
//! | `d3` | ∇²L(θ ± hw)v | ∇³L(θ)\[v,w\] |
//! | `d4` | ∇³L(θ ± hv)\[v,v\] (`d3_sym`) | ∇⁴L(θ)\[v,v,v\] |
//!
//! The steps are powers of two from h₀ = 2^-7 down to no lower than 2^(⌊log₂ε/3⌋ + 7) ≈ 100·ε^(1/3)
//! (ε of the precision), at most 8 of them, evenly spaced in the exponent: 2^-7 … 2^-11 in f64,
//! 2^-7, 2^-18, …, 2^-73 at 256 bits; so the rounding of a difference, ≈ ε·|f|/h, stays below
//! the truncation there by ≈ (2^7)³ when the third derivative is of the size of the first. A
//! relation passes when the rate between its last two steps above the rounding floor
//! `FLOOR·ε·(|f(θ+hd)| + |f(θ−hd)|)/(2h)` is ≥ [`MIN_RATE`] per unit of ln h (or when every
//! error is below that floor: a difference exact to rounding, as for a quadratic loss's HVP). A
//! derivative wrong by less than the error at the last step above the floor (≈ 1e-8 relative in
//! f64 on the suite's MLP, 1e-45 at 256 bits) cannot be told from a right one by this ladder.
//! Direct checks (`d3_sym` = `d3`\[v,v\], ∇³L\[v,w\] = ∇³L\[w,v\], w·∇²L v = v·∇²L w, and the value
//! `grad` returns = `value`) pass when the difference is ≤ FLOOR·ε times the sizes compared.

use crate::error::EvalError;
use crate::linalg::{axpy, dot, norm, sub, zeros};
use crate::objective::Objective;
use crate::scalar::Scalar;

/// Rounding allowance: a difference within FLOOR·ε of the values compared is rounding
/// (2^10: an evaluation's own rounding can exceed ε·|result| by the cancellation inside it).
pub const FLOOR: f64 = 1024.0;
/// Smallest convergence rate accepted (central differences have rate 2; a plateau, 0).
pub const MIN_RATE: f64 = 1.8;
/// Largest number of steps in a ladder.
const MAX_POINTS: i32 = 8;

/// One Taylor test: the errors of the central differences at each step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ladder {
    /// `grad`, `hvp`, `d3` or `d4` (see the module table).
    pub relation: &'static str,
    /// Which function is differenced and which is checked: a wrong `hvp` fails its own row and the
    /// `d3` row (whose differences are of `hvp`), a wrong `d3_sym` the identity and the `d4` row.
    pub compares: &'static str,
    /// The steps h (powers of two).
    pub steps: Vec<f64>,
    /// ‖central difference − claimed derivative‖ at each step.
    pub errors: Vec<f64>,
    /// The rounding floor at each step.
    pub floors: Vec<f64>,
    /// ‖claimed derivative‖.
    pub size: f64,
    /// The rates ln(e_k/e_{k+1})/ln(h_k/h_{k+1}) between consecutive steps above their floors.
    pub rates: Vec<f64>,
    /// Passed: the last rate ≥ [`MIN_RATE`], or every error below its floor.
    pub passed: bool,
}

/// One direct comparison of two quantities that must agree to rounding.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Identity {
    /// What is compared.
    pub relation: &'static str,
    /// |a − b| (or ‖a − b‖).
    pub difference: f64,
    /// FLOOR·ε·(size of a + size of b).
    pub allowed: f64,
    /// difference ≤ allowed.
    pub passed: bool,
}

/// Every check of [`check_derivatives`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct DerivativeReport {
    /// The Taylor tests, in the order of the module table.
    pub ladders: Vec<Ladder>,
    /// The direct comparisons.
    pub identities: Vec<Identity>,
}

impl DerivativeReport {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.ladders.iter().all(|l| l.passed) && self.identities.iter().all(|i| i.passed)
    }

    /// A short table of the checks, one line each (`relation`, the verdict, the numbers).
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for l in &self.ladders {
            let last = l.errors.last().copied().unwrap_or(f64::NAN);
            s += &format!(
                "{:<5} {}  {}: size {:.3e}, errors {:.3e} … {last:.3e} over h = {:.3e} … {:.3e}, rates {}\n",
                l.relation,
                if l.passed { "ok  " } else { "FAIL" },
                l.compares,
                l.size,
                l.errors[0],
                l.steps[0],
                l.steps[l.steps.len() - 1],
                if l.rates.is_empty() { "— (exact to rounding)".to_string() } else { l.rates.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(" ") },
            );
        }
        for i in &self.identities {
            s += &format!("{:<26} {}  difference {:.3e}, allowed {:.3e}\n", i.relation, if i.passed { "ok  " } else { "FAIL" }, i.difference, i.allowed);
        }
        s
    }
}

/// The step ladder of a precision: powers of two from 2^-7 to about 2^7·ε^(1/3).
fn ladder_steps(eps: f64) -> Vec<f64> {
    let low = (libm::log2(eps) / 3.0).floor() as i32 + 7;
    let span = (-7 - low).max(1);
    let stride = (span + MAX_POINTS - 2) / (MAX_POINTS - 1);
    let mut out = Vec::new();
    let mut k = -7;
    while k >= low {
        out.push(libm::ldexp(1.0, k));
        k -= stride.max(1);
    }
    out
}

/// `x + h·d` ([`axpy`] on a copy).
fn shifted<S: Scalar>(x: &[S], h: &S, d: &[S]) -> Vec<S> {
    let mut y = x.to_vec();
    axpy(h, d, &mut y);
    y
}

/// `d/‖d‖`, or an error naming the direction when it is zero, non-finite, of the wrong length or
/// at another precision than the objective's.
fn unit<S: Scalar>(obj: &dyn Objective<S>, d: &[S], name: &str) -> Result<Vec<S>, EvalError> {
    crate::objective::check_point(obj, &format!("direction {name}"), d)?;
    let n = norm(d);
    if !(n.to_f64() > 0.0) || !n.is_finite() {
        return Err(EvalError::Other(format!("direction {name} must be finite and non-zero (norm {})", n.to_f64())));
    }
    Ok(d.iter().map(|x| x.clone() / &n).collect())
}

/// The Taylor test of one relation: `f(θ')` into its buffer (a scalar is a vector of length 1),
/// `claimed` the derivative along `d`.
fn taylor<S: Scalar>(
    (relation, compares): (&'static str, &'static str),
    th: &[S],
    d: &[S],
    claimed: &[S],
    mut f: impl FnMut(&[S], &mut Vec<S>) -> Result<(), EvalError>,
) -> Result<Ladder, EvalError> {
    let c = th[0].ctx();
    let eps = S::eps(c);
    let steps = ladder_steps(eps);
    let (mut errors, mut floors) = (Vec::new(), Vec::new());
    let (mut fp, mut fm) = (Vec::new(), Vec::new());
    for &h in &steps {
        let hs = S::from_f64(h, c);
        f(&shifted(th, &hs, d), &mut fp)?;
        f(&shifted(th, &-hs.clone(), d), &mut fm)?;
        let two_h = S::from_f64(2.0 * h, c);
        let fd: Vec<S> = fp.iter().zip(&fm).map(|(a, b)| (a.clone() - b) / &two_h).collect();
        let e = norm(&sub(&fd, claimed)).to_f64();
        if !e.is_finite() {
            return Err(EvalError::NonFinite { what: "a central difference", at: format!(" of the {relation} check at h = {h:e}") });
        }
        errors.push(e);
        floors.push(FLOOR * eps * (norm(&fp).to_f64() + norm(&fm).to_f64()) / (2.0 * h));
    }
    let above: Vec<usize> = (0..steps.len()).filter(|&k| errors[k] > floors[k]).collect();
    let rates: Vec<f64> = above
        .windows(2)
        .map(|w| libm::log(errors[w[0]] / errors[w[1]]) / libm::log(steps[w[0]] / steps[w[1]]))
        .collect();
    let passed = match (above.len(), rates.last()) {
        (0, _) => true,
        // One step above the floor: it must be the largest, with the next already below.
        (1, _) => above[0] == 0 && errors.len() > 1,
        (_, Some(&r)) => r >= MIN_RATE,
        _ => false,
    };
    Ok(Ladder { relation, compares, steps, errors, floors, size: norm(claimed).to_f64(), rates, passed })
}

fn identity<S: Scalar>(relation: &'static str, a: &[S], b: &[S], sizes: f64, eps: f64) -> Identity {
    let difference = norm(&sub(a, b)).to_f64();
    let allowed = FLOOR * eps * sizes;
    Identity { relation, difference, allowed, passed: difference <= allowed }
}

/// Check `obj`'s derivatives at θ along the directions v and w (normalised here; they should be
/// generic, e.g. random, and not parallel): the four Taylor tests of the module table and the
/// four identities. Errors: θ or a direction of the wrong length, non-finite or at another precision
/// than the objective's ([`crate::objective::check_point`]), a zero direction; an evaluation's own
/// error; a non-finite derivative or difference.
///
/// ```
/// use selfstab::models::cubic::{Cubic, CubicSpec};
/// use selfstab::taylor_check::check_derivatives;
///
/// let m = Cubic::<f64>::new(&CubicSpec::reference("0.01", "0.3"), ()).unwrap();
/// let th = [0.3, -0.2, 0.1, 0.05];
/// let report = check_derivatives(&m, &th, &[1.0, 2.0, -1.0, 0.5], &[0.5, -1.0, 2.0, 1.0]).unwrap();
/// assert!(report.passed(), "{}", report.summary());
/// ```
pub fn check_derivatives<S: Scalar>(obj: &dyn Objective<S>, th: &[S], v: &[S], w: &[S]) -> Result<DerivativeReport, EvalError> {
    let p = obj.dim();
    if p == 0 {
        return Err(EvalError::Other("derivative checks: the objective has no parameters (p = 0)".into()));
    }
    crate::objective::check_point(obj, "θ", th)?;
    let c = obj.ctx();
    let eps = S::eps(c);
    // The errors and floors are f64s: beyond 1,024 bits (the f64 range's end near 2^-1074) they
    // would round to 0.
    if S::bits(c) > 1024 {
        return Err(EvalError::Other(format!("derivative checks run at most at 1024 bits (their error ladder is held in f64), got {}", S::precision_name(c))));
    }
    // The ladder's steps run from 2^-7 down to ≈ eps^(1/3): none below 41 bits (a check with no step
    // passed anything), one at 41–43 (no rate); two or more from 44 bits.
    if ladder_steps(eps).len() < 2 {
        return Err(EvalError::Other(format!(
            "derivative checks need at least 44 bits of precision (two central-difference steps h ≤ 2^-7 above the rounding), got {}",
            S::precision_name(c)
        )));
    }
    let (v, w) = (unit(obj, v, "v")?, unit(obj, w, "w")?);
    let mut g = zeros::<S>(p, c);
    let l = obj.grad(th, &mut g)?;
    let lv = obj.value(th)?;
    let (mut hv, mut hw) = (zeros::<S>(p, c), zeros::<S>(p, c));
    obj.hvp(th, &v, &mut hv)?;
    obj.hvp(th, &w, &mut hw)?;
    let (mut t_vw, mut t_wv, mut t_vv, mut t_sym, mut t4) = (zeros::<S>(p, c), zeros::<S>(p, c), zeros::<S>(p, c), zeros::<S>(p, c), zeros::<S>(p, c));
    obj.d3(th, &v, &w, &mut t_vw)?;
    obj.d3(th, &w, &v, &mut t_wv)?;
    obj.d3(th, &v, &v, &mut t_vv)?;
    obj.d3_sym(th, &v, &mut t_sym)?;
    obj.d4(th, &v, &mut t4)?;
    let for_all = [("gradient", &g), ("HVP", &hv), ("∇³L[v,w]", &t_vw), ("∇³L[v,v]", &t_sym), ("∇⁴L[v,v,v]", &t4)];
    for (what, x) in for_all {
        if !crate::linalg::all_finite(x) {
            return Err(EvalError::NonFinite { what: "a derivative", at: format!(" ({what} at θ)") });
        }
    }
    let size = |x: &[S]| norm(x).to_f64();
    let ladders = vec![
        taylor(("grad", "differences of value against grad·v"), th, &v, &[dot(&g, &v)], |t, out| {
            *out = vec![obj.value(t)?];
            Ok(())
        })?,
        taylor(("hvp", "differences of grad against hvp(v)"), th, &v, &hv, |t, out| {
            out.resize(p, S::zero(c));
            obj.grad(t, out).map(|_| ())
        })?,
        taylor(("d3", "differences of hvp(v) along w against d3(v, w)"), th, &w, &t_vw, |t, out| {
            out.resize(p, S::zero(c));
            obj.hvp(t, &v, out)
        })?,
        taylor(("d4", "differences of d3_sym(v) against d4(v)"), th, &v, &t4, |t, out| {
            out.resize(p, S::zero(c));
            obj.d3_sym(t, &v, out)
        })?,
    ];
    let (whv, vhw) = (dot(&w, &hv), dot(&v, &hw));
    let identities = vec![
        identity("grad's L = value", std::slice::from_ref(&l), std::slice::from_ref(&lv), l.abs().to_f64() + lv.abs().to_f64(), eps),
        identity("w·∇²L v = v·∇²L w", &[whv], &[vhw], size(&hv) + size(&hw), eps),
        identity("∇³L[v,w] = ∇³L[w,v]", &t_vw, &t_wv, size(&t_vw) + size(&t_wv), eps),
        identity("d3_sym(v) = ∇³L[v,v]", &t_sym, &t_vv, size(&t_sym) + size(&t_vv), eps),
    ];
    Ok(DerivativeReport { ladders, identities })
}

/// A deterministic unit direction for checks (SplitMix64 entries of stream `seed`, normalised).
pub fn direction<S: Scalar>(p: usize, seed: u64, c: S::Ctx) -> Vec<S> {
    let d: Vec<S> = (0..p as u64).map(|i| S::from_f64(crate::sharpness::splitmix_entry(seed.wrapping_add(0x5EED), i), c)).collect();
    let n = norm(&d);
    d.into_iter().map(|x| x / &n).collect()
}
