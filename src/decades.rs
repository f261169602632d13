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
    /// Appends the number's f64 words as bit patterns (f64: itself; [`Dd`]: hi, lo), so that a
    /// saved iteration resumes bit for bit ([`PointState`]).
    fn push_words(self, out: &mut Vec<u64>);
    /// Reads back what [`Num::push_words`] wrote (None when the words run out).
    fn take_words(w: &mut std::slice::Iter<'_, u64>) -> Option<Self>;
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
    fn push_words(self, out: &mut Vec<u64>) {
        out.push(self.to_bits());
    }
    fn take_words(w: &mut std::slice::Iter<'_, u64>) -> Option<Self> {
        w.next().map(|b| f64::from_bits(*b))
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
    fn push_words(self, out: &mut Vec<u64>) {
        out.extend([self.hi.to_bits(), self.lo.to_bits()]);
    }
    fn take_words(w: &mut std::slice::Iter<'_, u64>) -> Option<Self> {
        Some(Dd { hi: f64::from_bits(*w.next()?), lo: f64::from_bits(*w.next()?) })
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
    fn push_words(self, out: &mut Vec<u64>) {
        self.x.push_words(out);
        self.y.push_words(out);
    }
    fn take_words(w: &mut std::slice::Iter<'_, u64>) -> Option<Self> {
        Some(P { x: T::take_words(w)?, y: T::take_words(w)? })
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

/// Most points a `--full` study takes (`selfstab order --full --points`).
pub const MAX_POINTS: usize = 10_000;

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
    uninterrupted(&mut Plain::<T>::new(claim, h)?)
}

/// Claims 17, 18 in mixed precision: θ† and its centre in f64 (θ† stays O(x₀²) ≪ δ and its
/// coefficients u, ∇S⊥, δ² are O(1) numbers rounded once per step), GD θ and the standard v in
/// double-double, so r = θ − θ† − v is not the difference of two O(δ) f64 trajectories (whose
/// rounding, O(√N…N)·ε·δ, reaches r ≈ 0.08hδ of claim 17 below h ≈ 1e-6). Returns (E, N).
pub fn error_mixed(claim: u32, h: f64) -> Option<(f64, u64)> {
    uninterrupted(&mut Mixed::new(claim, h)?)
}

/// Centre coefficients converted exactly from f64 to double-double.
fn cen_dd(c: &Cen<f64>) -> Cen<Dd> {
    let p = |q: P<f64>| P { x: Dd::of(q.x), y: Dd::of(q.y) };
    Cen { th: p(c.th), ex: Dd::of(c.ex), s: Dd::of(c.s), u: p(c.u), gl: p(c.gl), gsp: p(c.gsp), beta: Dd::of(c.beta), dsq: Dd::of(c.dsq) }
}

fn uninterrupted(it: &mut impl Lockstep) -> Option<(f64, u64)> {
    match drive(it, None, CHUNK, &mut |_| false) {
        Ok(Outcome::Done(e, n)) => Some((e, n)),
        _ => None,
    }
}

/// N = round(20/h) steps of a point (τ = 20, η = 1).
fn steps(h: f64) -> u64 {
    (20.0 / h).round() as u64
}

/// Steps between a point's looks at its observer (a save, a signal, progress) in f64 and mixed
/// precision: 0.14 s and 0.47 s of the reduced iteration (Zen 4); the double-double check looks
/// every [`CHUNK_DD`] steps.
pub const CHUNK: u64 = 1 << 20;

/// [`CHUNK`] of the double-double check (2^20 of its steps take ≈ 4.5 s): ≈ 0.6 s.
pub const CHUNK_DD: u64 = 1 << 17;

/// A point's iteration stopped at step `t` (GD, θ† and v advanced t times; `worst` the maximum of
/// the error over steps 0 … t−1): its numbers as bit patterns, so that it resumes bit for bit.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PointState {
    /// Steps done.
    pub t: u64,
    /// The iteration's numbers ([`Lockstep::words`]), as f64 bit patterns.
    pub words: Vec<u64>,
    /// Bits of the running maximum of the error.
    pub worst: u64,
}

/// How a point's iteration ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Finished: (E, N).
    Done(f64, u64),
    /// Its observer asked it to stop, here.
    Stopped(PointState),
}

/// One point's lockstep iteration of GD, θ† and v (the error E(h) is the maximum of `measure` over
/// steps 0 … N).
trait Lockstep {
    /// N.
    fn steps(&self) -> u64;
    /// The error at the current step.
    fn measure(&self) -> f64;
    /// One step of GD, v and θ†.
    fn advance(&mut self);
    /// The numbers the iteration resumes from.
    fn words(&self) -> Vec<u64>;
    /// Set them, at step `t` (false if they do not fit this iteration).
    fn set_words(&mut self, t: u64, w: &[u64]) -> bool;
}

/// Claims 15–18 with every number in `T` ([`error`]).
struct Plain<T> {
    claim: u32,
    m: Reduced<T>,
    r: Run<T>,
    n: u64,
    delta: f64,
}

impl<T: Num> Plain<T> {
    fn new(claim: u32, h: f64) -> Option<Self> {
        let (c4, how) = claim_setting(claim)?;
        let m = Reduced::<T>::new(1.0, h * h, c4);
        let r = m.start(0.1, how);
        Some(Plain { claim, m, r, n: steps(h), delta: (2.0 * h * h).sqrt() })
    }
}

impl<T: Num> Lockstep for Plain<T> {
    fn steps(&self) -> u64 {
        self.n
    }
    #[inline(always)]
    fn measure(&self) -> f64 {
        let (m, r) = (&self.m, &self.r);
        match self.claim {
            15 => m.loss_pred_error(r).f().abs(),
            16 => m.sharpness_error(r).f().abs(),
            _ => m.residual(r, false).norm().f() / self.delta,
        }
    }
    #[inline(always)]
    fn advance(&mut self) {
        self.m.advance(&mut self.r, false);
    }
    fn words(&self) -> Vec<u64> {
        let mut w = vec![];
        for q in [self.r.theta, self.r.dag.th, self.r.v, self.r.v_gen] {
            q.push_words(&mut w);
        }
        w
    }
    fn set_words(&mut self, t: u64, w: &[u64]) -> bool {
        let mut it = w.iter();
        let mut next = || P::<T>::take_words(&mut it);
        let (Some(theta), Some(th), Some(v), Some(v_gen)) = (next(), next(), next(), next()) else {
            return false;
        };
        if it.next().is_some() {
            return false;
        }
        // The centre is a function of its point (every `Cen` comes from `Reduced::center`).
        self.r = Run { t, theta, dag: self.m.center(th), v, v_gen };
        true
    }
}

/// Claims 17, 18 with GD and v in double-double, θ† in f64 ([`error_mixed`]).
struct Mixed {
    mf: Reduced<f64>,
    md: Reduced<Dd>,
    theta: P<Dd>,
    v: P<Dd>,
    dag: Cen<f64>,
    n: u64,
    delta: Dd,
}

impl Mixed {
    fn new(claim: u32, h: f64) -> Option<Self> {
        if !matches!(claim, 17 | 18) {
            return None;
        }
        let (c4, how) = claim_setting(claim)?;
        let mf = Reduced::<f64>::new(1.0, h * h, c4);
        let md = Reduced::<Dd>::new(1.0, h * h, c4);
        let delta = (Dd::of(2.0) * md.alpha).sqrt();
        let x0 = Dd::of(0.1) * delta;
        let theta = P { x: x0, y: Dd::of(0.0) };
        let dag = match how {
            Start::Ideal => mf.center(P { x: 0.0, y: 0.0 }),
            Start::Authors => mf.project(mf.center(P { x: x0.f(), y: 0.0 }), 3),
        };
        let v = theta.sub(cen_dd(&dag).th);
        Some(Mixed { mf, md, theta, v, dag, n: steps(h), delta })
    }
}

impl Lockstep for Mixed {
    fn steps(&self) -> u64 {
        self.n
    }
    #[inline(always)]
    fn measure(&self) -> f64 {
        (self.theta.sub(cen_dd(&self.dag).th).sub(self.v).norm() / self.delta).f()
    }
    #[inline(always)]
    fn advance(&mut self) {
        let cd = cen_dd(&self.dag);
        self.theta = self.md.gd(self.theta);
        self.v = self.md.predicted(&cd, self.v);
        self.dag = self.mf.constrained(&self.dag, 3);
    }
    fn words(&self) -> Vec<u64> {
        let mut w = vec![];
        self.theta.push_words(&mut w);
        self.v.push_words(&mut w);
        self.dag.th.push_words(&mut w);
        w
    }
    fn set_words(&mut self, _t: u64, w: &[u64]) -> bool {
        let mut it = w.iter();
        let (Some(theta), Some(v), Some(th)) = (P::<Dd>::take_words(&mut it), P::<Dd>::take_words(&mut it), P::<f64>::take_words(&mut it)) else {
            return false;
        };
        if it.next().is_some() {
            return false;
        }
        (self.theta, self.v, self.dag) = (theta, v, self.mf.center(th));
        true
    }
}

/// Runs `it` to its end, from `from` if given, showing `watch` the state every `chunk` steps; a
/// `true` from `watch` stops it there. Err if `from` does not fit the iteration.
fn drive(it: &mut impl Lockstep, from: Option<&PointState>, chunk: u64, watch: &mut dyn FnMut(&PointState) -> bool) -> Result<Outcome, String> {
    let n = it.steps();
    let (mut t, mut worst) = (0, 0.0f64);
    if let Some(s) = from {
        if s.t > n || !it.set_words(s.t, &s.words) {
            return Err(format!("its point in progress (step {} of {n}, {} numbers) does not fit this point's iteration", s.t, s.words.len()));
        }
        (t, worst) = (s.t, f64::from_bits(s.worst));
    }
    let chunk = chunk.max(1);
    loop {
        // Up to the next multiple of `chunk` (or N) without a look outside the iteration.
        let end = (t / chunk + 1).saturating_mul(chunk).min(n);
        while t < end {
            worst = worst.max(it.measure());
            it.advance();
            t += 1;
        }
        if t == n {
            return Ok(Outcome::Done(worst.max(it.measure()), n));
        }
        let s = PointState { t, words: it.words(), worst: worst.to_bits() };
        if watch(&s) {
            return Ok(Outcome::Stopped(s));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The ≥ 6-decade order study (`selfstab order NN --full`).

use crate::error::{Error, EvalError, InputError};
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

impl FullOpts {
    /// The options' ranges for `claim` (a `--full` claim): 0.5 ≤ decades ≤ 9, 3 ≤ points ≤
    /// [`MAX_POINTS`], `mixed` only for claims 17 and 18.
    pub fn check(&self, claim: u32) -> Result<(), Error> {
        parse_claim(&claim.to_string())?;
        // Below half a decade of h the fitted slope is the points' noise, not the order (1e-14 decades
        // gave a slope 2.83 ± 0.41 and a "finding" from three equal-looking h).
        if !(self.decades >= 0.5 && self.decades <= 9.0) {
            return Err(InputError::Value { key: "decades".into(), msg: format!("need 0.5 ≤ decades ≤ 9, got {}", self.decades) }.into());
        }
        if !(3..=MAX_POINTS).contains(&self.points) {
            return Err(InputError::Value {
                key: "points".into(),
                msg: format!("need 3 ≤ points ≤ {MAX_POINTS} (each point is a run of up to millions of steps; a slope's fit gains nothing from more), got {}", self.points),
            }
            .into());
        }
        if self.mixed && !matches!(claim, 17 | 18) {
            return Err(InputError::Value { key: "mixed".into(), msg: format!("applies to claims 17 and 18 (GD and v in double-double), not {claim}") }.into());
        }
        Ok(())
    }
}

/// A saved options key (`FullOpts`'s Debug text) as the command-line flags that give it:
/// `FullOpts { decades: 4.0, points: 3, dd_max_steps: 0, mixed: true }` → `--decades 4 --points 3
/// --dd-max-steps 0 --mixed`; a key of another form is returned as it is.
fn as_flags(key: &str) -> String {
    let Some(body) = key.strip_prefix("FullOpts { ").and_then(|k| k.strip_suffix(" }")) else { return key.to_string() };
    let mut flags = vec![];
    for field in body.split(", ") {
        let Some((name, value)) = field.split_once(": ") else { return key.to_string() };
        let flag = format!("--{}", name.replace('_', "-"));
        match value {
            "true" => flags.push(flag),
            "false" => {}
            v => flags.push(format!("{flag} {}", v.strip_suffix(".0").unwrap_or(v))),
        }
    }
    flags.join(" ")
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
/// with the options they were computed with, and the point in progress when it was saved.
#[derive(serde::Serialize, serde::Deserialize)]
struct Partial {
    claim: u32,
    opts: String,
    points: Vec<FullPoint>,
    /// The next point's run in progress (absent in files of earlier builds).
    #[serde(default)]
    current: Option<InProgress>,
    /// The file's CRC-32 member as read (checked by `npy::read_saved`; written by
    /// `npy::write_json_atomic`, not from here): builds that save a point in progress always write
    /// one, so a file with `current` and none was edited.
    #[serde(default, skip_serializing)]
    crc32: Option<String>,
}

/// A point's run saved in progress: its h, where the run stopped and its wall seconds so far; with
/// `main`, the run is the double-double check and `main` the point's finished f64 (or mixed) run.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct InProgress {
    h: f64,
    main: Option<FullPoint>,
    state: PointState,
    seconds: f64,
}

/// Which iteration a point runs: [`error`] in f64, [`error_mixed`], or [`error`] in double-double
/// (the check).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    F64,
    Mixed,
    Dd,
}

impl Kind {
    /// Steps between the run's looks at its observer.
    fn chunk(self) -> u64 {
        if self == Kind::Dd { CHUNK_DD } else { CHUNK }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::F64 => "f64 run",
            Kind::Mixed => "mixed-precision run",
            Kind::Dd => "double-double check",
        }
    }

    /// [`drive`] for this kind's iteration of `claim` at `h` (Err for a claim without one, or a
    /// `from` that does not fit it).
    fn drive(self, claim: u32, h: f64, from: Option<&PointState>, chunk: u64, watch: &mut dyn FnMut(&PointState) -> bool) -> Result<Outcome, String> {
        let none = || format!("claim {claim} has no {}", self.name());
        match self {
            Kind::F64 => drive(&mut Plain::<f64>::new(claim, h).ok_or_else(none)?, from, chunk, watch),
            Kind::Mixed => drive(&mut Mixed::new(claim, h).ok_or_else(none)?, from, chunk, watch),
            Kind::Dd => drive(&mut Plain::<Dd>::new(claim, h).ok_or_else(none)?, from, chunk, watch),
        }
    }

    /// Whether `s` is a state of this kind's iteration of `claim` at `h` (its step within N, its
    /// numbers the iteration's).
    fn fits(self, claim: u32, h: f64, s: &PointState) -> bool {
        let ok = |it: &mut dyn Lockstep| s.t <= it.steps() && it.set_words(s.t, &s.words);
        match self {
            Kind::F64 => Plain::<f64>::new(claim, h).is_some_and(|mut it| ok(&mut it)),
            Kind::Mixed => Mixed::new(claim, h).is_some_and(|mut it| ok(&mut it)),
            Kind::Dd => Plain::<Dd>::new(claim, h).is_some_and(|mut it| ok(&mut it)),
        }
    }
}

/// Whether a saved point in progress is the run a study with these h's resumes: the next point's
/// (after `done` finished ones), of the study's kind (or its double-double check after a finished
/// main run), its state that iteration's.
fn in_progress_fits(claim: u32, hs: &[f64], done: usize, c: &InProgress, main_kind: Kind) -> Result<(), String> {
    let Some(&h) = hs.get(done).filter(|h| h.to_bits() == c.h.to_bits()) else {
        return Err(format!("its point in progress (h = {:e}) is not the sweep's point {} ({:?})", c.h, done + 1, hs.get(done)));
    };
    let kind = if c.main.is_some() { Kind::Dd } else { main_kind };
    if c.main.as_ref().is_some_and(|m| m.h.to_bits() != h.to_bits()) || !kind.fits(claim, h, &c.state) {
        return Err(format!("its point in progress (h = {h:e}, step {}) does not fit the point's {}", c.state.t, kind.name()));
    }
    Ok(())
}

/// Which run of a study [`run_point`] runs (for its messages).
struct Where {
    claim: u32,
    h: f64,
    index: usize,
    points: usize,
    kind: Kind,
}

/// One run of a point (its f64 or mixed run, or its double-double check after `main`), from a
/// saved state if given. With `save` = (file, options key, finished points) the run's state is
/// saved there after its first [`CHUNK`] (double-double: [`CHUNK_DD`]) steps, then at most every
/// `progress::CHECKPOINT_SECONDS`, and at once when a signal asks the job to stop, after which it
/// stops with [`Error::Interrupted`]. Shows its progress on stderr. Returns (E, N, wall seconds
/// including those of the saved run).
fn run_point(at: &Where, from: Option<&InProgress>, main: Option<&FullPoint>, save: Option<(&std::path::Path, &String, &[FullPoint])>) -> Result<(f64, u64, f64), Error> {
    let Where { claim, h, kind, .. } = *at;
    let n = steps(h);
    let before = from.map_or(0.0, |c| c.seconds);
    if let Some(c) = from {
        eprintln!("claim {claim}: h = {h:.4e}, N = {n}: resuming the {} at step {} (saved by an earlier run)", kind.name(), c.state.t);
    }
    let clock = std::time::Instant::now();
    let mut ticker = crate::progress::Ticker::new(1);
    let mut cadence = crate::progress::Cadence::new(1);
    let mut failed: Option<Error> = None;
    let mut watch = |s: &PointState| -> bool {
        ticker.show(s.t, || format!("claim {claim}: h = {h:.4e}, {}: step {} of {n} ({:.0} %), {:.0} s", kind.name(), s.t, 100.0 * s.t as f64 / n as f64, before + clock.elapsed().as_secs_f64()));
        let Some((path, key, points)) = save else { return false };
        let stop = crate::progress::interrupt::requested();
        if stop || cadence.due(s.t) {
            let current = InProgress { h, main: main.cloned(), state: s.clone(), seconds: before + clock.elapsed().as_secs_f64() };
            let part = Partial { claim, opts: key.clone(), points: points.to_vec(), current: Some(current), crc32: None };
            if let Err(e) = crate::npy::write_json_atomic(path, &part) {
                failed = Some(e);
                return true;
            }
        }
        stop
    };
    let outcome = kind.drive(claim, h, from.map(|c| &c.state), kind.chunk(), &mut watch).map_err(EvalError::Other)?;
    drop(ticker);
    match outcome {
        Outcome::Done(e, n) => Ok((e, n, before + clock.elapsed().as_secs_f64())),
        Outcome::Stopped(s) => Err(failed.unwrap_or_else(|| {
            let file = save.map(|(p, ..)| p.display().to_string()).unwrap_or_default();
            Error::Interrupted(format!(
                "interrupted at step {} of {n} of the {} of claim {claim}'s point {} of {} (h = {h:.4e}): the finished points and the point in progress are saved in {file}; the same command resumes it",
                s.t,
                kind.name(),
                at.index + 1,
                at.points
            ))
        })),
    }
}

/// Where [`study_in`] keeps its finished points while it runs.
pub fn partial_path(claim: u32, out: &std::path::Path) -> std::path::PathBuf {
    out.join(format!("order_{claim:02}_partial.json"))
}

/// [`study`] that, given an output directory, saves every finished point there ([`partial_path`],
/// atomically) and, run again with the same claim and options, reuses the points already saved
/// (the study's slowest points take minutes each; a point is deterministic, so a reused one is the
/// point the run would compute, its `seconds` those of the run that computed it). The point in
/// progress is saved there too, as it runs and at a signal ([`run_point`]), and resumed at its step
/// with the same bits. The caller removes the file once the outputs are written.
pub fn study_in(claim: u32, o: FullOpts, out: Option<&std::path::Path>, fresh: bool) -> Result<(Study, Vec<FullPoint>), Error> {
    o.check(claim)?;
    let hm = h_max(claim);
    let hs = geometric(hm, hm * libm::pow(10.0, -o.decades), o.points);
    let key = format!("{o:?}");
    let path = out.map(|d| partial_path(claim, d));
    let main_kind = if o.mixed { Kind::Mixed } else { Kind::F64 };
    let (saved, mut current) = match path.as_deref() {
        Some(p) => crate::npy::read_saved(p, "file of finished points", fresh, |part: &Partial| {
            if part.claim != claim || part.opts != key {
                return Err(format!("its points belong to other options ({}; now: {})", as_flags(&part.opts), as_flags(&key)));
            }
            match &part.current {
                Some(_) if part.crc32.is_none() => Err("it holds a point in progress but no \"crc32\" member, which every build that saves one writes: it was edited".into()),
                Some(c) => in_progress_fits(claim, &hs, part.points.len(), c, main_kind),
                None => Ok(()),
            }
        })?,
        None => None,
    }
    .map(|part| (part.points, part.current))
    .unwrap_or_default();
    if let Some(d) = out {
        // Stray temporaries of a killed write go (the caller holds the directory's lock).
        crate::npy::remove_stray_temporaries(d);
    }
    if let (Some(d), true) = (out, saved.is_empty() && current.is_none()) {
        // A fresh sweep: an earlier study's outputs for this claim go first (they may be of other
        // options and would otherwise sit beside this sweep's partial file).
        crate::npy::remove_outputs(d, [".csv", ".md", ".svg", ".png", "_points.csv"].map(|ext| format!("order_{claim:02}{ext}")));
    }
    // From here a signal (SIGINT, SIGTERM) asks the study to save its point in progress and stop
    // (`progress::interrupt`); without an output directory there is nowhere to save it.
    let _armed = path.is_some().then(crate::progress::interrupt::arm);
    let mut pts: Vec<FullPoint> = Vec::with_capacity(hs.len());
    for (i, &h) in hs.iter().enumerate() {
        if let Some(p) = saved.get(i).filter(|p| p.h.to_bits() == h.to_bits()) {
            eprintln!("claim {claim}: h = {h:.4e}, N = {}, E = {:.6e} (saved by an earlier run)", p.n, p.e);
            pts.push(p.clone());
            continue;
        }
        let resume = current.take().filter(|c| i == saved.len() && c.h.to_bits() == h.to_bits());
        let point = |kind: Kind, from: Option<&InProgress>, main: Option<&FullPoint>| {
            let at = Where { claim, h, index: i, points: hs.len(), kind };
            run_point(&at, from, main, path.as_deref().map(|p| (p, &key, pts.as_slice())))
        };
        let (e, n, seconds) = match resume.as_ref().and_then(|c| c.main.as_ref()) {
            Some(m) => (m.e, m.n, m.seconds),
            None => point(main_kind, resume.as_ref(), None)?,
        };
        let e_dd = if n <= o.dd_max_steps {
            let main = FullPoint { h, n, e, seconds, e_dd: None };
            let from = resume.as_ref().filter(|c| c.main.is_some());
            Some(point(Kind::Dd, from, Some(&main))?.0)
        } else {
            None
        };
        eprintln!("claim {claim}: h = {h:.4e}, N = {n}, E = {e:.6e} ({seconds:.1} s){}", e_dd.map(|d| format!(", double-double E = {d:.6e} (rel. diff {:.2e})", (e - d).abs() / d)).unwrap_or_default());
        pts.push(FullPoint { h, n, e, seconds, e_dd });
        if let Some(p) = &path {
            let part = Partial { claim, opts: key.clone(), points: pts.clone(), current: None, crc32: None };
            crate::npy::write_json_atomic(p, &part)?;
            // A signal that came after the point's last look stops the study here.
            if crate::progress::interrupt::requested() {
                return Err(Error::Interrupted(format!(
                    "interrupted after claim {claim}'s point {} of {} (h = {h:.4e}): the finished points are saved in {}; the same command resumes the study",
                    i + 1,
                    hs.len(),
                    p.display()
                )));
            }
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

    /// Double-double division against MPFR at 400 bits on 20,000 fixed pseudo-random pairs (both
    /// with a low word, exponents 2^-20 … 2^20): relative error ≤ 2^-105 (measured worst 2^-105.36;
    /// without its third Newton correction 2^-104.35, which a bound of 2^-104 on 1/3 alone did not
    /// see; mutation audit round 3). Every operation is IEEE +, −, ×, ÷ or a correctly rounded fma,
    /// so the sample's worst case is the same on any machine.
    #[test]
    fn double_double_division_is_accurate_to_105_bits() {
        use rug::Float;
        let mut st: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rnd = || {
            st ^= st << 13;
            st ^= st >> 7;
            st ^= st << 17;
            (st >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut worst = 0.0f64;
        for _ in 0..20_000 {
            let mut dd = || {
                let (u, v) = (rnd(), rnd());
                let hi = (u + 0.5) * libm::pow(2.0, libm::floor(v * 40.0 - 20.0));
                let (h, l) = quick_two_sum(hi, hi * (v - 0.5) * 1e-16);
                Dd { hi: h, lo: l }
            };
            let (a, b) = (dd(), dd());
            let q = a / b;
            let exact = (Float::with_val(400, a.hi) + a.lo) / (Float::with_val(400, b.hi) + b.lo);
            let got = Float::with_val(400, q.hi) + q.lo;
            worst = worst.max(((got - &exact) / exact).abs().to_f64());
        }
        assert!(worst <= 2f64.powi(-105), "worst relative error {worst:e} = 2^{}", libm::log2(worst));
    }

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
        let planted = Partial { claim: 15, opts: format!("{o:?}"), points: vec![FullPoint { e: marker, ..fresh[0].clone() }], current: None, crc32: None };
        std::fs::write(partial_path(15, &dir), serde_json::to_vec(&planted).unwrap()).unwrap();
        let (_, again) = study_in(15, o, Some(&dir), false).unwrap();
        assert_eq!(again[0].e, marker, "the saved first point was not reused");
        assert_eq!((again[1].e.to_bits(), again[2].e.to_bits()), (fresh[1].e.to_bits(), fresh[2].e.to_bits()));
        let other = FullOpts { points: 4, ..o };
        let planted = Partial { claim: 15, opts: format!("{other:?}"), ..planted };
        let bytes = serde_json::to_vec(&planted).unwrap();
        std::fs::write(partial_path(15, &dir), &bytes).unwrap();
        let e = study_in(15, o, Some(&dir), false).unwrap_err().to_string();
        assert!(e.contains("belong to other options") && e.contains("--points 4") && e.contains("--fresh"), "{e}");
        assert!(e.contains(&format!("now: --decades {} --points {} --dd-max-steps {}", o.decades, o.points, o.dd_max_steps)) && !e.contains("FullOpts"), "{e}");
        assert_eq!(std::fs::read(partial_path(15, &dir)).unwrap(), bytes, "the other options' points were not kept");
        let (_, third) = study_in(15, o, Some(&dir), true).unwrap();
        assert_eq!(third[0].e.to_bits(), fresh[0].e.to_bits(), "another option set's point was reused");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every iteration of a point (f64, mixed, double-double), stopped at each look of its
    /// observer and resumed from the state saved there (through its JSON text), ends with the
    /// bits of the uninterrupted run; a state does not fit another kind's iteration.
    #[test]
    fn a_point_stopped_and_resumed_ends_with_the_uninterrupted_bits() {
        let h = 3e-3; // N = 6,667
        for (kind, claim) in [(Kind::F64, 15), (Kind::F64, 16), (Kind::F64, 18), (Kind::Mixed, 17), (Kind::Dd, 16), (Kind::Dd, 17)] {
            let whole = kind.drive(claim, h, None, 1000, &mut |_| false).unwrap();
            let Outcome::Done(e, n) = whole else { panic!("{kind:?} {claim}: stopped without being asked") };
            assert_eq!(n, 6667);
            let mut from: Option<PointState> = None;
            let mut stops = vec![];
            let end = loop {
                match kind.drive(claim, h, from.as_ref(), 1000, &mut |_| true).unwrap() {
                    Outcome::Stopped(s) => {
                        assert!(kind.fits(claim, h, &s), "{kind:?} {claim}: its own state does not fit");
                        stops.push(s.t);
                        from = Some(serde_json::from_slice(&serde_json::to_vec(&s).unwrap()).unwrap());
                    }
                    Outcome::Done(e, _) => break e,
                }
            };
            assert_eq!(stops, (1..=6).map(|k| 1000 * k).collect::<Vec<u64>>(), "{kind:?} {claim}");
            assert_eq!(end.to_bits(), e.to_bits(), "{kind:?} {claim}: resumed {end:e}, uninterrupted {e:e}");
            if let Some(other) = [Kind::F64, Kind::Mixed, Kind::Dd].into_iter().find(|k| *k != kind && (*k != Kind::Mixed || claim == 17)) {
                assert!(!other.fits(claim, h, from.as_ref().unwrap()), "{kind:?}'s state fits {other:?}");
            }
        }
    }

    /// The run of a point saved in progress (planted here with a running maximum the iteration
    /// cannot give) is resumed by the study, for the main run and for the double-double check; a
    /// point in progress that is not the sweep's next point, or does not fit its iteration, is
    /// refused with an error, the file kept.
    #[test]
    fn full_study_resumes_the_point_in_progress() {
        let dir = std::env::temp_dir().join(format!("selfstab-decades-current-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let o = FullOpts { decades: 1.0, points: 3, dd_max_steps: 20_000, mixed: false };
        let (_, fresh) = study_in(16, o, Some(&dir), false).unwrap();
        let h = fresh[2].h; // N = 16,000: the double-double check runs too
        let stopped = |kind: Kind| match kind.drive(16, h, None, 500, &mut |_| true).unwrap() {
            Outcome::Stopped(s) => s,
            Outcome::Done(..) => panic!("not stopped"),
        };
        let marker = 12345.0f64;
        let plant = |current: InProgress| {
            let part = Partial { claim: 16, opts: format!("{o:?}"), points: fresh[..2].to_vec(), current: Some(current), crc32: None };
            crate::npy::write_json_atomic(&partial_path(16, &dir), &part).unwrap();
        };
        plant(InProgress { h, main: None, state: PointState { worst: marker.to_bits(), ..stopped(Kind::F64) }, seconds: 0.0 });
        let (_, main) = study_in(16, o, Some(&dir), false).unwrap();
        assert_eq!(main[2].e, marker, "the main run in progress was not resumed");
        assert_eq!(main[2].e_dd.map(f64::to_bits), fresh[2].e_dd.map(f64::to_bits));
        let done = FullPoint { e_dd: None, ..fresh[2].clone() };
        plant(InProgress { h, main: Some(done.clone()), state: PointState { worst: marker.to_bits(), ..stopped(Kind::Dd) }, seconds: 0.0 });
        let (_, check) = study_in(16, o, Some(&dir), false).unwrap();
        assert_eq!((check[2].e.to_bits(), check[2].e_dd), (fresh[2].e.to_bits(), Some(marker)), "the check in progress was not resumed");
        // The file as written, its CRC-32 member taken off (only earlier builds, which save no point
        // in progress, write none).
        plant(InProgress { h, main: None, state: stopped(Kind::F64), seconds: 0.0 });
        let text = std::fs::read_to_string(partial_path(16, &dir)).unwrap();
        let cut = text.rfind(",\"crc32\"").expect("the file has its CRC-32 member");
        std::fs::write(partial_path(16, &dir), format!("{}}}", &text[..cut])).unwrap();
        let e = study_in(16, o, Some(&dir), false).unwrap_err().to_string();
        assert!(e.contains("no \"crc32\" member") && e.contains("--fresh"), "{e}");
        for (bad, why) in [
            (InProgress { h: fresh[1].h, main: None, state: stopped(Kind::F64), seconds: 0.0 }, "is not the sweep's point 3"),
            (InProgress { h, main: None, state: stopped(Kind::Dd), seconds: 0.0 }, "does not fit the point's f64 run"),
            (InProgress { h, main: Some(done.clone()), state: stopped(Kind::F64), seconds: 0.0 }, "does not fit the point's double-double check"),
            (InProgress { h, main: None, state: PointState { t: 16_001, ..stopped(Kind::F64) }, seconds: 0.0 }, "does not fit"),
        ] {
            plant(bad);
            let bytes = std::fs::read(partial_path(16, &dir)).unwrap();
            let e = study_in(16, o, Some(&dir), false).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains("--fresh"), "{why}: {e}");
            assert_eq!(std::fs::read(partial_path(16, &dir)).unwrap(), bytes, "{why}: the file was not kept");
        }
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
        for n in [0, 2, MAX_POINTS + 1, 99_999_999] {
            let bad = study(15, FullOpts { decades: 6.0, points: n, dd_max_steps: 0, mixed: false }).unwrap_err().to_string();
            assert!(bad.contains("`points`: need 3 ≤ points ≤ 10000") && bad.contains(&format!("got {n}")), "{bad}");
        }
    }
}
