//! Reduced iteration of the cubic families for ≥ 6-decade order studies of claims 15–18
//! (decisions.md §6 "Beyond that"; theory/README.md "Reduced iteration of the cubic families").
//!
//! Setting: η, a = e₁ (β = 1), g = (α, g⊥, 0), e = e₃, F = (s₀+y)x²/2 + c₄x⁴/24 with y = a·w,
//! s₀ = 2/η (Toy-C: c₄ = 0; claim 18: c₄ = 1). The coordinate along g⊥ enters L only through
//! −g⊥·w, so GD, θ† and v all move along it by exactly η‖g⊥‖ per step (θ − θ† − v has no
//! component there) and it is carried analytically; e₃·w never moves (c = 0, g·e = a·e = 0). Only
//! the two coordinates (x, y) are iterated, with the engine's algorithms written in closed form:
//!
//! - centre at (x, y): A = s₀ + y + c₄x²/2, S = A/2 + √(A²/4 + x²), u ∝ (S, x),
//!   ∇S = (c₄x u₁² + 2u₁u₂, u₁²), ∇S⊥ = ∇S − (u·∇S)u, ∇L = (s₀x + yx + c₄x³/6, x²/2 − α),
//!   α_c = −∇L·∇S⊥, β_c = ‖∇S⊥‖², δ_c² = 2α_c/β_c. The excess S − 2/η is computed as
//!   (y + c₄x²/2) + x²/(A/2 + √(A²/4 + x²)), never as a difference of O(1/η) numbers, so it keeps
//!   full relative precision when S − 2/η ≈ h² ≪ ε/η.
//! - linearised projection (reference §4, [`crate::stable_set::lin_proj`]):
//!   p ← p − [S > 2/η]·((S − 2/η)/β_c)∇S⊥ − ((u·∇L)/S)u; 3 steps per projection.
//! - θ†_{t+1} = proj(θ†_t − η∇L(θ†_t)); GD θ_{t+1} = θ_t − η∇L(θ_t);
//!   standard v_{t+1} = v − η[Hv + ½(x²−δ²)∇S⊥ + u x y], generalized with Hv⊥ + u(u·∇L(θ†+xu))
//!   ([`crate::predicted`]), all at θ†_t.
//!
//! Generic over [`Num`] (f64 and the double-double [`Dd`], ≈ 32 digits, for rounding checks).

use std::ops::{Add, Div, Mul, Neg, Sub};

/// Minimal arithmetic for the reduced iteration (Copy, so the hot loop has no clones).
pub trait Num:
    Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self> + Neg<Output = Self> + PartialOrd
{
    /// From f64 (exact).
    fn of(x: f64) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Nearest f64.
    fn f(self) -> f64;
}

impl Num for f64 {
    #[inline(always)]
    fn of(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    #[inline(always)]
    fn f(self) -> f64 {
        self
    }
}

/// Double-double number hi + lo (|lo| ≤ ulp(hi)/2), ≈ 106-bit significand (Dekker/Knuth
/// error-free transformations with fused multiply-add). Relative rounding ≲ 4·2⁻¹⁰⁶ per operation.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Dd {
    hi: f64,
    lo: f64,
}

#[inline(always)]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

#[inline(always)]
fn quick_two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    (s, b - (s - a))
}

impl Dd {
    /// From two parts (normalised).
    pub fn new(hi: f64, lo: f64) -> Self {
        let (h, l) = quick_two_sum(hi, lo);
        Dd { hi: h, lo: l }
    }
}

impl Add for Dd {
    type Output = Dd;
    #[inline(always)]
    fn add(self, o: Dd) -> Dd {
        let (s, e) = two_sum(self.hi, o.hi);
        let (t, f) = two_sum(self.lo, o.lo);
        let (s, e) = quick_two_sum(s, e + t);
        let (hi, lo) = quick_two_sum(s, e + f);
        Dd { hi, lo }
    }
}
impl Neg for Dd {
    type Output = Dd;
    #[inline(always)]
    fn neg(self) -> Dd {
        Dd { hi: -self.hi, lo: -self.lo }
    }
}
impl Sub for Dd {
    type Output = Dd;
    #[inline(always)]
    fn sub(self, o: Dd) -> Dd {
        self + (-o)
    }
}
impl Mul for Dd {
    type Output = Dd;
    #[inline(always)]
    fn mul(self, o: Dd) -> Dd {
        let p = self.hi * o.hi;
        let e = self.hi.mul_add(o.hi, -p);
        let e = e + (self.hi * o.lo + self.lo * o.hi);
        let (hi, lo) = quick_two_sum(p, e);
        Dd { hi, lo }
    }
}
impl Div for Dd {
    type Output = Dd;
    #[inline(always)]
    fn div(self, o: Dd) -> Dd {
        // Two Newton corrections of q₁ = hi/hi.
        let q1 = self.hi / o.hi;
        let r = self - o * Dd::of(q1);
        let q2 = r.hi / o.hi;
        let r = r - o * Dd::of(q2);
        let q3 = r.hi / o.hi;
        let (h, l) = quick_two_sum(q1, q2);
        Dd { hi: h, lo: l } + Dd::of(q3)
    }
}
impl Num for Dd {
    #[inline(always)]
    fn of(x: f64) -> Self {
        Dd { hi: x, lo: 0.0 }
    }
    fn sqrt(self) -> Self {
        if self.hi <= 0.0 {
            return Dd::of(0.0);
        }
        // One Newton step from the f64 root: s + (a − s²)/(2s).
        let s = self.hi.sqrt();
        let sd = Dd::of(s);
        let r = self - sd * sd;
        sd + Dd::of(r.hi / (2.0 * s))
    }
    fn f(self) -> f64 {
        self.hi + self.lo
    }
}

/// A point (x, y) = (x, a·w) of the reduced coordinates (the g⊥ and e₃ coordinates are carried
/// analytically, see the module doc).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct P<T> {
    /// x (along u₀ = e₁ of θ).
    pub x: T,
    /// y = a·w.
    pub y: T,
}

impl<T: Num> P<T> {
    fn dot(self, o: P<T>) -> T {
        self.x * o.x + self.y * o.y
    }
    fn axpy(self, a: T, o: P<T>) -> P<T> {
        P { x: self.x + a * o.x, y: self.y + a * o.y }
    }
    fn sub(self, o: P<T>) -> P<T> {
        P { x: self.x - o.x, y: self.y - o.y }
    }
    /// Euclidean norm.
    pub fn norm(self) -> T {
        self.dot(self).sqrt()
    }
}

/// The cubic family in reduced coordinates: η, α = g·a (β = 1), c₄.
#[derive(Clone, Copy, Debug)]
pub struct Reduced<T> {
    /// Step size η.
    pub eta: T,
    /// α = g·a.
    pub alpha: T,
    /// Quartic coefficient c₄ (0 for Toy-C).
    pub c4: T,
    s0: T,
}

/// The centre at a point in reduced coordinates (same fields as [`crate::sharpness::Center`]).
#[derive(Clone, Copy, Debug)]
pub struct Cen<T> {
    /// The point.
    pub th: P<T>,
    /// S − 2/η (full relative precision).
    pub ex: T,
    /// S.
    pub s: T,
    /// Top eigenvector (u₁ > 0).
    pub u: P<T>,
    /// ∇L (the (x, a·w) part; −α included).
    pub gl: P<T>,
    /// ∇S⊥.
    pub gsp: P<T>,
    /// β_c = ‖∇S⊥‖².
    pub beta: T,
    /// δ_c² = 2α_c/β_c.
    pub dsq: T,
}

impl<T: Num> Reduced<T> {
    /// Model with s₀ = 2/η.
    pub fn new(eta: f64, alpha: f64, c4: f64) -> Self {
        let eta = T::of(eta);
        Reduced { eta, alpha: T::of(alpha), c4: T::of(c4), s0: T::of(2.0) / eta }
    }

    /// F_x and F_y − α at (x, y).
    #[inline(always)]
    pub fn grad(&self, p: P<T>) -> P<T> {
        let x2 = p.x * p.x;
        P { x: self.s0 * p.x + (p.y * p.x + self.c4 * x2 * p.x / T::of(6.0)), y: x2 / T::of(2.0) - self.alpha }
    }

    /// L(θ) − L(θ₀*) restricted to (x, y): F(x, y) − αy (the g⊥ part is the same for θ, θ†).
    pub fn loss(&self, p: P<T>) -> T {
        let x2 = p.x * p.x;
        (self.s0 + p.y) * x2 / T::of(2.0) + self.c4 * x2 * x2 / T::of(24.0) - self.alpha * p.y
    }

    /// One GD step, x' = (x − ηs₀x) − η(yx + c₄x³/6) (the first bracket is −x exactly when η s₀ = 2
    /// is exact, e.g. η = 1), y' = y − η(x²/2 − α).
    #[inline(always)]
    pub fn gd(&self, p: P<T>) -> P<T> {
        let x2 = p.x * p.x;
        P {
            x: (p.x - self.eta * self.s0 * p.x) - self.eta * (p.y * p.x + self.c4 * x2 * p.x / T::of(6.0)),
            y: p.y - self.eta * (x2 / T::of(2.0) - self.alpha),
        }
    }

    /// The centre at `th` (closed form of [`crate::sharpness::center`] for this model).
    #[inline(always)]
    pub fn center(&self, th: P<T>) -> Cen<T> {
        let (x, y) = (th.x, th.y);
        let two = T::of(2.0);
        let ap = y + self.c4 * x * x / two;
        let a = self.s0 + ap;
        let q = a / two + (a * a / T::of(4.0) + x * x).sqrt();
        let ex = ap + x * x / q;
        let s = self.s0 + ex;
        let n = (s * s + x * x).sqrt();
        let u = P { x: s / n, y: x / n };
        let gl = self.grad(th);
        let gs = P { x: self.c4 * x * u.x * u.x + two * u.x * u.y, y: u.x * u.x };
        let us = u.dot(gs);
        let gsp = gs.axpy(-us, u);
        let alpha_c = -gl.dot(gsp);
        let beta = gsp.dot(gsp);
        Cen { th, ex, s, u, gl, gsp, beta, dsq: two * alpha_c / beta }
    }

    /// One linearised projection step ([`crate::stable_set::lin_proj`]).
    #[inline(always)]
    pub fn lin_proj(&self, c: &Cen<T>) -> Cen<T> {
        let zero = T::of(0.0);
        let mut p = c.th;
        if c.ex > zero && c.beta > zero {
            p = p.axpy(-(c.ex / c.beta), c.gsp);
        }
        let newton = -(c.u.dot(c.gl) / c.s);
        self.center(p.axpy(newton, c.u))
    }

    /// proj_M by `steps` linearised steps.
    pub fn project(&self, mut c: Cen<T>, steps: usize) -> Cen<T> {
        for _ in 0..steps {
            c = self.lin_proj(&c);
        }
        c
    }

    /// θ†_{t+1} = proj(θ†_t − η∇L(θ†_t)) with `steps` projection steps ([`crate::constrained::step`]).
    #[inline(always)]
    pub fn constrained(&self, c: &Cen<T>, steps: usize) -> Cen<T> {
        self.project(self.center(c.th.axpy(-self.eta, c.gl)), steps)
    }

    /// Hessian·v at the centre: [[s₀ + y + c₄x²/2, x], [x, 0]] v.
    #[inline(always)]
    fn hess(&self, c: &Cen<T>, v: P<T>) -> P<T> {
        let a = self.s0 + c.th.y + self.c4 * c.th.x * c.th.x / T::of(2.0);
        P { x: a * v.x + c.th.x * v.y, y: c.th.x * v.x }
    }

    /// One standard predicted step ([`crate::predicted::step`], `Kind::Standard`).
    #[inline(always)]
    pub fn predicted(&self, c: &Cen<T>, v: P<T>) -> P<T> {
        let (xv, yv) = (c.u.dot(v), c.gsp.dot(v));
        let f = self.hess(c, v).axpy((xv * xv - c.dsq) / T::of(2.0), c.gsp).axpy(xv * yv, c.u);
        v.axpy(-self.eta, f)
    }

    /// One generalized predicted step (`Kind::Generalized`).
    pub fn predicted_gen(&self, c: &Cen<T>, v: P<T>) -> P<T> {
        let (xv, yv) = (c.u.dot(v), c.gsp.dot(v));
        let vp = v.axpy(-xv, c.u);
        let along = c.u.dot(self.grad(c.th.axpy(xv, c.u)));
        let f = self.hess(c, vp).axpy(along, c.u).axpy((xv * xv - c.dsq) / T::of(2.0), c.gsp).axpy(xv * yv, c.u);
        v.axpy(-self.eta, f)
    }
}

/// How the run starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// θ†₀ = 0, v₀ = (x₀, 0) (ideal split).
    Ideal,
    /// θ₀ = (x₀, 0), θ†₀ = proj_M(θ₀) (3 steps), v₀ = θ₀ − θ†₀ (authors', claim 17).
    Authors,
}

/// Per-step state of the lockstep run.
#[derive(Clone, Copy, Debug)]
pub struct Run<T> {
    /// Steps done.
    pub t: u64,
    /// GD θ_t.
    pub theta: P<T>,
    /// Centre at θ†_t.
    pub dag: Cen<T>,
    /// Standard v_t.
    pub v: P<T>,
    /// Generalized v_t.
    pub v_gen: P<T>,
}

impl<T: Num> Reduced<T> {
    /// Start with x₀ = `frac`·δ, δ = √(2α).
    pub fn start(&self, frac: f64, how: Start) -> Run<T> {
        let zero = T::of(0.0);
        let x0 = T::of(frac) * (T::of(2.0) * self.alpha).sqrt();
        match how {
            Start::Ideal => {
                let v = P { x: x0, y: zero };
                Run { t: 0, theta: v, dag: self.center(P { x: zero, y: zero }), v, v_gen: v }
            }
            Start::Authors => {
                let theta = P { x: x0, y: zero };
                let dag = self.project(self.center(theta), 3);
                let v = theta.sub(dag.th);
                Run { t: 0, theta, dag, v, v_gen: v }
            }
        }
    }

    /// Advance GD, both predictions (at the old θ†) and θ† by one step (the tracking order).
    #[inline(always)]
    pub fn advance(&self, r: &mut Run<T>, generalized: bool) {
        r.theta = self.gd(r.theta);
        r.v = self.predicted(&r.dag, r.v);
        if generalized {
            r.v_gen = self.predicted_gen(&r.dag, r.v_gen);
        }
        r.dag = self.constrained(&r.dag, 3);
        r.t += 1;
    }

    /// r_t = θ_t − θ†_t − v (standard, or generalized if `gen`).
    pub fn residual(&self, r: &Run<T>, generalized: bool) -> P<T> {
        r.theta.sub(r.dag.th).sub(if generalized { r.v_gen } else { r.v })
    }

    /// Claim 15 at the current step: [L(θ) − L(θ†) − x²/η]/(δ²/η), x = u†·(θ − θ†).
    pub fn loss_pred_error(&self, r: &Run<T>) -> T {
        let d = r.theta.sub(r.dag.th);
        let x = r.dag.u.dot(d);
        let dsq = T::of(2.0) * self.alpha;
        (self.loss(r.theta) - self.loss(r.dag.th) - x * x / self.eta) / (dsq / self.eta)
    }

    /// Claim 16 at the current step: [S(θ) − (2/η + y)]/√α, y = ∇S⊥(θ†)·(θ − θ†).
    pub fn sharpness_error(&self, r: &Run<T>) -> T {
        let y = r.dag.gsp.dot(r.theta.sub(r.dag.th));
        (self.center(r.theta).ex - y) / self.alpha.sqrt()
    }
}

/// Which claim's error.
pub fn claim_setting(claim: u32) -> Option<(f64, Start)> {
    match claim {
        15 | 16 => Some((0.0, Start::Ideal)),
        17 => Some((0.0, Start::Authors)),
        18 => Some((1.0, Start::Ideal)),
        _ => None,
    }
}

/// E(h) of claim 15–18 at h = √α (η = 1, β = 1, x₀ = 0.1δ, N = round(20/h)):
/// 15: max_t |L(θ) − L(θ†) − x²/η|/(δ²/η); 16: max_t |S(θ) − 2/η − y|/√α;
/// 17, 18: max_t ‖θ − θ† − v‖/δ (standard dynamics). Returns (E, N).
pub fn error<T: Num>(claim: u32, h: f64) -> Option<(f64, u64)> {
    let (c4, how) = claim_setting(claim)?;
    let m = Reduced::<T>::new(1.0, h * h, c4);
    let n = (20.0 / h).round() as u64;
    let mut r = m.start(0.1, how);
    let delta = (2.0 * h * h).sqrt();
    let mut worst = 0.0f64;
    let measure = |m: &Reduced<T>, r: &Run<T>| -> f64 {
        match claim {
            15 => m.loss_pred_error(r).f().abs(),
            16 => m.sharpness_error(r).f().abs(),
            _ => m.residual(r, false).norm().f() / delta,
        }
    };
    for _ in 0..n {
        worst = worst.max(measure(&m, &r));
        m.advance(&mut r, false);
    }
    worst = worst.max(measure(&m, &r));
    Some((worst, n))
}

/// Centre coefficients converted exactly from f64 to double-double.
fn cen_dd(c: &Cen<f64>) -> Cen<Dd> {
    let p = |q: P<f64>| P { x: Dd::of(q.x), y: Dd::of(q.y) };
    Cen { th: p(c.th), ex: Dd::of(c.ex), s: Dd::of(c.s), u: p(c.u), gl: p(c.gl), gsp: p(c.gsp), beta: Dd::of(c.beta), dsq: Dd::of(c.dsq) }
}

/// Claims 17, 18 in mixed precision: θ† and its centre in f64 (θ† stays O(x₀²) ≪ δ and its
/// coefficients u, ∇S⊥, δ² are O(1) numbers rounded once per step), GD θ and the standard v in
/// double-double, so r = θ − θ† − v is not the difference of two O(δ) f64 trajectories (whose
/// rounding, O(√N…N)·ε·δ, reaches r ≈ 0.08hδ of claim 17 below h ≈ 1e-6). Returns (E, N).
pub fn error_mixed(claim: u32, h: f64) -> Option<(f64, u64)> {
    if !matches!(claim, 17 | 18) {
        return None;
    }
    let (c4, how) = claim_setting(claim)?;
    let mf = Reduced::<f64>::new(1.0, h * h, c4);
    let md = Reduced::<Dd>::new(1.0, h * h, c4);
    let n = (20.0 / h).round() as u64;
    let x0 = Dd::of(0.1) * (Dd::of(2.0) * md.alpha).sqrt();
    let zero = Dd::of(0.0);
    let theta0 = P { x: x0, y: zero };
    let mut dag = match how {
        Start::Ideal => mf.center(P { x: 0.0, y: 0.0 }),
        Start::Authors => mf.project(mf.center(P { x: x0.f(), y: 0.0 }), 3),
    };
    let mut theta = theta0;
    let mut v = theta0.sub(cen_dd(&dag).th);
    let delta = (Dd::of(2.0) * md.alpha).sqrt();
    let mut worst = 0.0f64;
    for t in 0..=n {
        let cd = cen_dd(&dag);
        worst = worst.max((theta.sub(cd.th).sub(v).norm() / delta).f());
        if t == n {
            break;
        }
        theta = md.gd(theta);
        v = md.predicted(&cd, v);
        dag = mf.constrained(&dag, 3);
    }
    Some((worst, n))
}

// ---------------------------------------------------------------------------------------------
// The ≥ 6-decade order study (`selfstab order NN --full`).

use crate::error::{Error, InputError};
use crate::order::{Prediction, Study, geometric};
use crate::reduced_map::loglog_fit;

/// Claims with a full (reduced-iteration) study.
pub const SUPPORTED: [u32; 4] = [15, 16, 17, 18];

/// Parse a claim for `order --full`.
pub fn parse_claim(s: &str) -> Result<u32, InputError> {
    match s.trim().parse::<u32>() {
        Ok(n) if SUPPORTED.contains(&n) => Ok(n),
        _ => Err(InputError::Unknown { what: "claim for a full (--full) order study", got: s.to_string(), expected: "15, 16, 17, 18" }),
    }
}

/// Largest h of the asymptotic range (decisions.md §6): 0.003 for claim 17, else 0.0125.
pub fn h_max(claim: u32) -> f64 {
    if claim == 17 { 0.003 } else { 0.0125 }
}

/// Options of the full study.
#[derive(Clone, Copy, Debug)]
pub struct FullOpts {
    /// Decades of h below [`h_max`].
    pub decades: f64,
    /// Number of points (geometric).
    pub points: usize,
    /// Also run every point with N ≤ this many steps in double-double and report the relative
    /// difference of E (0: no check).
    pub dd_max_steps: u64,
    /// Claims 17, 18: GD and v in double-double, θ† in f64 ([`error_mixed`]).
    pub mixed: bool,
}

/// One point of the full study: E in f64, N, seconds, and the double-double E if checked.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct FullPoint {
    /// h = √α.
    pub h: f64,
    /// N = round(20/h).
    pub n: u64,
    /// E(h) in f64.
    pub e: f64,
    /// Wall seconds of the f64 run.
    pub seconds: f64,
    /// E(h) in double-double, if run.
    pub e_dd: Option<f64>,
}

/// What E(h) is for each claim.
pub fn error_name(claim: u32) -> &'static str {
    match claim {
        15 => "max_t |L(θ_t) − L(θ†_t) − x_t²/η| / (δ²/η) (loss prediction, Toy-C, ideal split)",
        16 => "max_t |S(θ_t) − (2/η + y_t)| / √α (sharpness prediction, Toy-C, ideal split)",
        17 => "max_t ‖θ_t − θ†_t − v_t‖/δ (Toy-C, authors' initialisation θ†₀ = proj_M(θ₀), 3 steps)",
        _ => "max_t ‖θ_t − θ†_t − v_t‖/δ (Toy-P c₄ = 1, ideal split, standard dynamics)",
    }
}

/// Run the full study of `claim` with the reduced iteration; returns the [`Study`] (written by
/// [`crate::order::write`]) and the per-point details.
pub fn study(claim: u32, o: FullOpts) -> Result<(Study, Vec<FullPoint>), Error> {
    study_in(claim, o, None, false)
}

/// The points a full study has finished so far (`order_NN_partial.json` in the output directory),
/// with the options they were computed with.
#[derive(serde::Serialize, serde::Deserialize)]
struct Partial {
    claim: u32,
    opts: String,
    points: Vec<FullPoint>,
}

/// Where [`study_in`] keeps its finished points while it runs.
pub fn partial_path(claim: u32, out: &std::path::Path) -> std::path::PathBuf {
    out.join(format!("order_{claim:02}_partial.json"))
}

/// [`study`] that, given an output directory, saves every finished point there ([`partial_path`],
/// atomically) and, run again with the same claim and options, reuses the points already saved
/// (the study's slowest points take minutes each; a point is deterministic, so a reused one is the
/// point the run would compute, its `seconds` those of the run that computed it). The caller
/// removes the file once the outputs are written.
pub fn study_in(claim: u32, o: FullOpts, out: Option<&std::path::Path>, fresh: bool) -> Result<(Study, Vec<FullPoint>), Error> {
    parse_claim(&claim.to_string())?;
    // Below half a decade of h the fitted slope is the points' noise, not the order (1e-14 decades
    // gave a slope 2.83 ± 0.41 and a "finding" from three equal-looking h).
    if !(o.decades >= 0.5 && o.decades <= 9.0) || o.points < 3 {
        return Err(InputError::Value { key: "decades/points".into(), msg: format!("need 0.5 ≤ decades ≤ 9 and points ≥ 3, got {} and {}", o.decades, o.points) }.into());
    }
    if o.mixed && !matches!(claim, 17 | 18) {
        return Err(InputError::Value { key: "mixed".into(), msg: format!("applies to claims 17 and 18 (GD and v in double-double), not {claim}") }.into());
    }
    let hm = h_max(claim);
    let hs = geometric(hm, hm * libm::pow(10.0, -o.decades), o.points);
    let key = format!("{o:?}");
    let path = out.map(|d| partial_path(claim, d));
    let saved: Vec<FullPoint> = match path.as_deref() {
        Some(p) => crate::npy::read_saved(p, "file of finished points", fresh, |part: &Partial| {
            if part.claim == claim && part.opts == key { Ok(()) } else { Err(format!("its points belong to other options ({}; now: {key})", part.opts)) }
        })?,
        None => None,
    }
    .map(|part| part.points)
    .unwrap_or_default();
    if let (Some(d), true) = (out, saved.is_empty()) {
        // A fresh sweep: an earlier study's outputs for this claim go first (they may be of other
        // options and would otherwise sit beside this sweep's partial file), as do stray
        // temporaries of a killed write.
        crate::npy::remove_stray_temporaries(d);
        crate::npy::remove_outputs(d, [".csv", ".md", ".svg", ".png", "_points.csv"].map(|ext| format!("order_{claim:02}{ext}")));
    }
    let mut pts: Vec<FullPoint> = Vec::with_capacity(hs.len());
    for (i, &h) in hs.iter().enumerate() {
        if let Some(p) = saved.get(i).filter(|p| p.h.to_bits() == h.to_bits()) {
            eprintln!("claim {claim}: h = {h:.4e}, N = {}, E = {:.6e} (saved by an earlier run)", p.n, p.e);
            pts.push(p.clone());
            continue;
        }
        let clock = std::time::Instant::now();
        let (e, n) = if o.mixed && matches!(claim, 17 | 18) { error_mixed(claim, h) } else { error::<f64>(claim, h) }.expect("supported claim");
        let seconds = clock.elapsed().as_secs_f64();
        let e_dd = if n <= o.dd_max_steps { error::<Dd>(claim, h).map(|p| p.0) } else { None };
        eprintln!("claim {claim}: h = {h:.4e}, N = {n}, E = {e:.6e} ({seconds:.1} s){}", e_dd.map(|d| format!(", double-double E = {d:.6e} (rel. diff {:.2e})", (e - d).abs() / d)).unwrap_or_default());
        pts.push(FullPoint { h, n, e, seconds, e_dd });
        if let Some(p) = &path {
            let part = Partial { claim, opts: key.clone(), points: pts.clone() };
            crate::npy::write_json_atomic(p, &part)?;
        }
    }
    let error: Vec<f64> = pts.iter().map(|p| p.e).collect();
    let fit = loglog_fit(&hs, &error)?;
    let prediction = Prediction::Order { p: 1.0, tol: 0.1 };
    let total: f64 = pts.iter().map(|p| p.seconds).sum();
    let checked: Vec<String> = pts
        .iter()
        .filter_map(|p| p.e_dd.map(|d| format!("h = {:.2e}: {:.1e}", p.h, (p.e - d).abs() / d)))
        .collect();
    let precision = format!(
        "{} reduced iteration (src/decades.rs), {total:.0} s wall for the sweep; double-double check (relative difference of E): {}",
        if o.mixed && matches!(claim, 17 | 18) { "mixed (GD, v in double-double; θ† in f64)" } else { "f64" },
        if checked.is_empty() { "none".to_string() } else { checked.join(", ") }
    );
    let setting = format!(
        "η = 1, a = e₁ (β = 1), g = (h², 0.3, 0), x₀ = 0.1δ, τ = 20 (N = round(20/h), up to {} steps), 3 projection steps; reduced (x, a·w) iteration, g⊥ carried analytically",
        pts.last().map(|p| p.n).unwrap_or(0)
    );
    let pass = prediction.passes(&fit);
    Ok((Study { claim, error_name: error_name(claim).into(), setting, precision, h: hs, error, fit, prediction, pass }, pts))
}

/// `order_NN_points.csv`: h, N, E (f64), seconds, E (double-double, empty if not run).
pub fn write_points(s: &Study, pts: &[FullPoint], out: &std::path::Path) -> Result<(), Error> {
    use std::fmt::Write as _;
    let mut t = String::from("h,steps,error,seconds,error_dd\n");
    for p in pts {
        let _ = writeln!(t, "{:e},{},{:e},{:.3},{}", p.h, p.n, p.e, p.seconds, p.e_dd.map(|d| format!("{d:e}")).unwrap_or_default());
    }
    crate::npy::write_atomic(&out.join(format!("order_{:02}_points.csv", s.claim)), t.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Double-double keeps ≈ 2⁻¹⁰⁴ relative: (1/3)·3 − 1, √2² − 2 and (1 + 2⁻⁶⁰) − 1 are resolved
    /// (f64 would give 0, 4.4e-16 and 0).
    #[test]
    fn double_double_resolves_106_bits() {
        let third = Dd::of(1.0) / Dd::of(3.0);
        assert!((third * Dd::of(3.0) - Dd::of(1.0)).f().abs() <= 2f64.powi(-104));
        let r2 = Dd::of(2.0).sqrt();
        assert!((r2 * r2 - Dd::of(2.0)).f().abs() <= 2f64.powi(-102));
        let tiny = 2f64.powi(-60);
        assert_eq!(((Dd::of(1.0) + Dd::of(tiny)) - Dd::of(1.0)).f(), tiny);
    }

    /// A study run again in the same directory reuses the points an earlier run saved (here planted
    /// with a marker E the computation cannot give) and computes the rest; other options' points
    /// are kept and refused with an error, unless `fresh` discards them.
    #[test]
    fn full_study_reuses_the_points_an_earlier_run_saved() {
        let dir = std::env::temp_dir().join(format!("selfstab-decades-partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let o = FullOpts { decades: 1.0, points: 3, dd_max_steps: 0, mixed: false };
        let (_, fresh) = study_in(15, o, Some(&dir), false).unwrap();
        let saved: Partial = serde_json::from_slice(&std::fs::read(partial_path(15, &dir)).unwrap()).unwrap();
        assert_eq!(saved.points.len(), 3, "every finished point is saved");
        let marker = 12345.0;
        let planted = Partial { claim: 15, opts: format!("{o:?}"), points: vec![FullPoint { e: marker, ..fresh[0].clone() }] };
        std::fs::write(partial_path(15, &dir), serde_json::to_vec(&planted).unwrap()).unwrap();
        let (_, again) = study_in(15, o, Some(&dir), false).unwrap();
        assert_eq!(again[0].e, marker, "the saved first point was not reused");
        assert_eq!((again[1].e.to_bits(), again[2].e.to_bits()), (fresh[1].e.to_bits(), fresh[2].e.to_bits()));
        let other = FullOpts { points: 4, ..o };
        let planted = Partial { claim: 15, opts: format!("{other:?}"), ..planted };
        let bytes = serde_json::to_vec(&planted).unwrap();
        std::fs::write(partial_path(15, &dir), &bytes).unwrap();
        let e = study_in(15, o, Some(&dir), false).unwrap_err().to_string();
        assert!(e.contains("belong to other options") && e.contains("points: 4") && e.contains("--fresh"), "{e}");
        assert_eq!(std::fs::read(partial_path(15, &dir)).unwrap(), bytes, "the other options' points were not kept");
        let (_, third) = study_in(15, o, Some(&dir), true).unwrap();
        assert_eq!(third[0].e.to_bits(), fresh[0].e.to_bits(), "another option set's point was reused");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unknown_full_claims_are_one_line_errors() {
        for bad in ["6", "19", "x", ""] {
            let e = parse_claim(bad).unwrap_err().to_string();
            assert!(!e.contains('\n') && e.contains("15, 16, 17, 18"), "{e}");
        }
        for d in [0.0, 1e-14, 0.49] {
            let bad = study(15, FullOpts { decades: d, points: 8, dd_max_steps: 0, mixed: false }).unwrap_err().to_string();
            assert!(bad.contains("need 0.5 ≤ decades ≤ 9"), "{bad}");
        }
    }
}
