//! # The reduced self-stabilization map (theory: reference.md §2–§3, claims 4–11)
//!
//! Dimensional form (DNL's simplified dynamics, reference.md §2), with an optional damping `k` of the
//! sharpness channel (reference.md §3.4, claim 11):
//! $$x_{t+1}=-(1+\eta y_t)\,x_t,\qquad y_{t+1}=y_t+\eta\big(\alpha-\tfrac\beta2x_t^2\big)-k\,y_t .$$
//! Dimensionless form, with $h=\eta\sqrt\alpha$, $\delta=\sqrt{2\alpha/\beta}$, $X=x/\delta$,
//! $Y=y/\sqrt\alpha$ and natural time $\tau=ht$:
//! $$X_{t+1}=-(1+hY_t)\,X_t,\qquad Y_{t+1}=Y_t+h(1-X_t^2)-k\,Y_t .$$
//! Conserved quantity of the continuous limit (reference.md §3.1):
//! $$\mathcal H(X,Y)=Y^2+X^2-\log X^2-1\ \ge 0 .$$
//!
//! Everything is generic over [`Scalar`] (f64 and MPFR). The operation order of one step is fixed
//! and documented at [`ReducedMap::step`], so a trajectory is bit-identical for the same inputs, and
//! the rounding-level bounds of claim 5 can be derived from it.
//!
//! Contents:
//! - [`ReducedMap`] (dimensionless) and [`DimensionalMap`] with [`Scales`] to convert between them;
//!   [`DevState`] is the same map in deviation coordinates $X=\pm(1+p)$, cancellation-free near the
//!   period-2 orbit (claims 7, 9);
//! - [`energy`], [`energy_dev`] and [`q_minus_log1p`]: $\mathcal H$ without cancellation near $(X^2,Y)=(1,0)$;
//! - [`Stage`]: the four stages of reference.md §2 as a partition of the $(X^2,Y)$ plane;
//! - [`Trajectory`], [`iterate`], upward crossings of $X^2=1$, $X^2$ minima, window averages with their
//!   anchoring (claim 10), [`first_spike`] (claim 8), [`energy_drift`] (claim 6);
//! - [`flow_period`]: the period $T_\tau(\mathcal H)$ of the Hamiltonian flow (claim 9);
//! - [`loglog_fit`]: least-squares order fits with the slope's standard error.

use std::ops::ControlFlow;

use crate::error::InputError;
use crate::scalar::Scalar;

// ---------------------------------------------------------------------------------------------
// Validation helpers
// ---------------------------------------------------------------------------------------------

fn check_positive<S: Scalar>(key: &str, v: &S) -> Result<(), InputError> {
    if !v.is_finite() || v.to_f64() <= 0.0 || *v <= S::zero(v.ctx()) {
        return Err(InputError::Value {
            key: key.into(),
            msg: format!("must be finite and > 0, got {}", v.to_decimal()),
        });
    }
    Ok(())
}

fn check_damping<S: Scalar>(k: &S) -> Result<(), InputError> {
    let c = k.ctx();
    if !k.is_finite() || *k < S::zero(c) || *k >= S::from_i64(2, c) {
        return Err(InputError::Value {
            key: "k".into(),
            msg: format!("damping must be finite and in [0, 2), got {}", k.to_decimal()),
        });
    }
    Ok(())
}

fn check_same_ctx<S: Scalar>(what: &str, a: &S, b: &S) -> Result<(), InputError> {
    if a.ctx() != b.ctx() {
        return Err(InputError::Value {
            key: what.into(),
            msg: format!(
                "precision {} differs from the map's precision {}",
                S::precision_name(a.ctx()),
                S::precision_name(b.ctx())
            ),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// States and workspaces
// ---------------------------------------------------------------------------------------------

/// A point $(X, Y)$ of the dimensionless map (or $(x, y)$ of the dimensional one).
#[derive(Clone, Debug, PartialEq)]
pub struct State<S> {
    /// $X$ (displacement along $u$ in units of δ).
    pub x: S,
    /// $Y$ (sharpness excess in units of √α).
    pub y: S,
}

impl<S: Scalar> State<S> {
    /// `(x, y)`.
    pub fn new(x: S, y: S) -> Self {
        Self { x, y }
    }
}

/// The same point in deviation coordinates: $X=\sigma(1+p)$ with $\sigma=\pm1$.
///
/// Near the period-2 orbit $X=\pm1$, $p$ keeps full relative precision where $X$ would only keep an
/// absolute precision of one ulp of 1 (reference.md §3.4; claims 7 and 9 at small $\mathcal H$).
#[derive(Clone, Debug, PartialEq)]
pub struct DevState<S> {
    /// σ = sign of X (flips every step).
    pub sign_negative: bool,
    /// p = |X| − 1.
    pub p: S,
    /// Y.
    pub y: S,
}

/// Scratch values of one step, allocated once per run (no allocation inside the loop in MPFR).
#[derive(Clone, Debug)]
pub struct Workspace<S> {
    a: S,
    b: S,
    c: S,
}

impl<S: Scalar> Workspace<S> {
    /// Scratch at precision `c`.
    pub fn new(c: S::Ctx) -> Self {
        Self { a: S::zero(c), b: S::zero(c), c: S::zero(c) }
    }
}

// ---------------------------------------------------------------------------------------------
// The dimensionless map
// ---------------------------------------------------------------------------------------------

/// The dimensionless reduced map with step parameter $h=\eta\sqrt\alpha$ and damping $k$
/// (reference.md §2, §3.4):
/// $$X_{t+1}=-(1+hY_t)X_t,\qquad Y_{t+1}=Y_t+h(1-X_t^2)-kY_t .$$
#[derive(Clone, Debug)]
pub struct ReducedMap<S> {
    h: S,
    k: S,
    damped: bool,
    one: S,
    minus_one: S,
    two: S,
}

impl<S: Scalar> ReducedMap<S> {
    /// Undamped map; `h` must be finite and > 0.
    pub fn new(h: S) -> Result<Self, InputError> {
        let k = S::zero(h.ctx());
        Self::damped(h, k)
    }

    /// Damped map (claim 11); `h > 0` finite, `k ∈ [0, 2)` finite, both at the same precision.
    pub fn damped(h: S, k: S) -> Result<Self, InputError> {
        check_positive("h", &h)?;
        check_damping(&k)?;
        check_same_ctx("k", &k, &h)?;
        let c = h.ctx();
        let damped = k != S::zero(c);
        Ok(Self { h, k, damped, one: S::one(c), minus_one: S::from_i64(-1, c), two: S::from_i64(2, c) })
    }

    /// Parse `h` (and `k`) from decimal text at precision `c` (never via the nearest f64).
    pub fn parse(h: &str, k: &str, c: S::Ctx) -> Result<Self, InputError> {
        crate::scalar::check_precision::<S>(c)?;
        let hv = S::parse(h, c).map_err(|m| InputError::Value { key: "h".into(), msg: m })?;
        let kv = S::parse(k, c).map_err(|m| InputError::Value { key: "k".into(), msg: m })?;
        Self::damped(hv, kv)
    }

    /// $h$.
    pub fn h(&self) -> &S {
        &self.h
    }

    /// $k$.
    pub fn k(&self) -> &S {
        &self.k
    }

    /// Precision context.
    pub fn ctx(&self) -> S::Ctx {
        self.h.ctx()
    }

    /// A state at the map's precision, checked (finite, same precision).
    pub fn state(&self, x: S, y: S) -> Result<State<S>, InputError> {
        for (key, v) in [("X", &x), ("Y", &y)] {
            check_same_ctx(key, v, &self.h)?;
            if !v.is_finite() {
                return Err(InputError::Value { key: key.into(), msg: "must be finite".into() });
            }
        }
        Ok(State { x, y })
    }

    /// One step, in place. Operation order (each operation rounded once, to the working precision):
    /// `a = h·Y; a = −1 − a; b = X·X; b = 1 − b; b = h·b; X = a·X; Y = Y + b;` and, if damped,
    /// `c = k·Y_old; Y = Y − c`. Both updates read the old state.
    #[inline]
    pub fn step(&self, s: &mut State<S>, ws: &mut Workspace<S>) {
        // Negations are exact and rounding to nearest is sign-symmetric, so computing
        // −(1 + a) and h·(X² − 1) gives the same bits as the documented order, without temporaries.
        ws.a.assign_from(&s.y);
        ws.a *= &self.h;
        ws.a += &self.one;
        ws.a *= &self.minus_one;
        ws.b.assign_from(&s.x);
        ws.b *= &s.x;
        ws.b -= &self.one;
        ws.b *= &self.h;
        if self.damped {
            ws.c.assign_from(&s.y);
            ws.c *= &self.k;
        }
        s.x *= &ws.a;
        s.y -= &ws.b;
        if self.damped {
            s.y -= &ws.c;
        }
    }

    /// One step in deviation coordinates $X=\sigma(1+p)$ (same map, rewritten exactly):
    /// $$p_{t+1}=p_t+hY_t(1+p_t),\qquad Y_{t+1}=Y_t-h\,p_t(2+p_t)-kY_t,\qquad\sigma_{t+1}=-\sigma_t .$$
    #[inline]
    pub fn step_dev(&self, s: &mut DevState<S>, ws: &mut Workspace<S>) {
        // a = h·Y·(1+p)
        ws.a.assign_from(&s.p);
        ws.a += &self.one;
        ws.a *= &s.y;
        ws.a *= &self.h;
        // b = h·p·(2+p)
        ws.b.assign_from(&s.p);
        ws.b += &self.two;
        ws.b *= &s.p;
        ws.b *= &self.h;
        if self.damped {
            ws.c.assign_from(&s.y);
            ws.c *= &self.k;
        }
        s.p += &ws.a;
        s.y -= &ws.b;
        if self.damped {
            s.y -= &ws.c;
        }
        s.sign_negative = !s.sign_negative;
    }
}

/// Iterate `n` steps from `s`, calling `obs(t, state)` on the start (t = 0) and after each step;
/// the observer may stop early with `ControlFlow::Break`. Returns the number of steps taken.
pub fn iterate<S: Scalar, F>(map: &ReducedMap<S>, s: &mut State<S>, n: u64, mut obs: F) -> u64
where
    F: FnMut(u64, &State<S>) -> ControlFlow<()>,
{
    let mut ws = Workspace::new(map.ctx());
    if obs(0, s).is_break() {
        return 0;
    }
    for t in 1..=n {
        map.step(s, &mut ws);
        if obs(t, s).is_break() {
            return t;
        }
    }
    n
}

// ---------------------------------------------------------------------------------------------
// The dimensional map and the change of variables
// ---------------------------------------------------------------------------------------------

/// The scales of reference.md §1–§2: $h=\eta\sqrt\alpha$, $\delta=\sqrt{2\alpha/\beta}$, $\sqrt\alpha$.
#[derive(Clone, Debug)]
pub struct Scales<S> {
    /// $h=\eta\sqrt\alpha$ (dimensionless step).
    pub h: S,
    /// $\delta=\sqrt{2\alpha/\beta}$ (length scale of x).
    pub delta: S,
    /// $\sqrt\alpha$ (scale of y).
    pub sqrt_alpha: S,
}

impl<S: Scalar> Scales<S> {
    /// $(X, Y) = (x/\delta,\ y/\sqrt\alpha)$.
    pub fn to_dimensionless(&self, s: &State<S>) -> State<S> {
        State { x: s.x.clone() / &self.delta, y: s.y.clone() / &self.sqrt_alpha }
    }
    /// $(x, y) = (\delta X,\ \sqrt\alpha\,Y)$.
    pub fn to_dimensional(&self, s: &State<S>) -> State<S> {
        State { x: s.x.clone() * &self.delta, y: s.y.clone() * &self.sqrt_alpha }
    }
}

/// The dimensional reduced map (reference.md §2):
/// $x_{t+1}=-(1+\eta y_t)x_t,\ y_{t+1}=y_t+\eta(\alpha-\beta x_t^2/2)-k\,y_t$.
#[derive(Clone, Debug)]
pub struct DimensionalMap<S> {
    eta: S,
    alpha: S,
    beta: S,
    k: S,
    half_beta: S,
    one: S,
    minus_one: S,
}

impl<S: Scalar> DimensionalMap<S> {
    /// η > 0, α > 0 (progressive sharpening), β > 0, k ∈ [0, 2), all finite and at one precision.
    pub fn new(eta: S, alpha: S, beta: S, k: S) -> Result<Self, InputError> {
        if !eta.is_finite() || eta <= S::zero(eta.ctx()) {
            return Err(InputError::LearningRate(eta.to_decimal()));
        }
        check_positive("alpha", &alpha)?;
        check_positive("beta", &beta)?;
        check_damping(&k)?;
        for (key, v) in [("alpha", &alpha), ("beta", &beta), ("k", &k)] {
            check_same_ctx(key, v, &eta)?;
        }
        let c = eta.ctx();
        let half_beta = beta.clone() / &S::from_i64(2, c);
        Ok(Self { eta, alpha, beta, k, half_beta, one: S::one(c), minus_one: S::from_i64(-1, c) })
    }

    /// $h$, $\delta$, $\sqrt\alpha$.
    pub fn scales(&self) -> Scales<S> {
        let sqrt_alpha = self.alpha.sqrt();
        let two = S::from_i64(2, self.eta.ctx());
        let delta = (two * &self.alpha / &self.beta).sqrt();
        Scales { h: self.eta.clone() * &sqrt_alpha, delta, sqrt_alpha }
    }

    /// The equivalent dimensionless map (same $k$).
    pub fn dimensionless(&self) -> Result<ReducedMap<S>, InputError> {
        ReducedMap::damped(self.scales().h, self.k.clone())
    }

    /// One step in place: `a = η·y; a = −1 − a; b = x·x; b = (β/2)·b; b = α − b; b = η·b;
    /// c = k·y; x = a·x; y = y + b; y = y − c` (the last two lines only if k ≠ 0).
    pub fn step(&self, s: &mut State<S>, ws: &mut Workspace<S>) {
        let damped = self.k != S::zero(self.k.ctx());
        ws.a.assign_from(&s.y);
        ws.a *= &self.eta;
        ws.a += &self.one;
        ws.a *= &self.minus_one;
        ws.b.assign_from(&s.x);
        ws.b *= &s.x;
        ws.b *= &self.half_beta;
        ws.b -= &self.alpha;
        ws.b *= &self.eta;
        if damped {
            ws.c.assign_from(&s.y);
            ws.c *= &self.k;
        }
        s.x *= &ws.a;
        s.y -= &ws.b;
        if damped {
            s.y -= &ws.c;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The conserved quantity without cancellation
// ---------------------------------------------------------------------------------------------

/// $\varphi(q)=q-\log(1+q)\ge0$ for $q>-1$, accurate to a few ulps also for tiny $|q|$.
///
/// For $|q|\le\frac12$ it uses $s=q/(2+q)$, $\log(1+q)=2\,\mathrm{artanh}\,s$ and $q-2s=qs$:
/// $$\varphi(q)=qs-2\sum_{n\ge1}\frac{s^{2n+1}}{2n+1},$$
/// summed until the term falls below ε/8 of the leading term ($|s|\le\frac13$: at most ≈ 80 terms at
/// 256 bits). The only cancellation is the mild $qs$ vs $2s^3/3$ (a factor ≤ 1.4 at $q=-\frac12$).
/// Otherwise $q-\ln(1+q)$ directly (no cancellation there).
pub fn q_minus_log1p<S: Scalar>(q: &S) -> S {
    let c = q.ctx();
    let half = S::from_f64(0.5, c);
    if q.abs() <= half {
        let s = q.clone() / &(S::from_i64(2, c) + q);
        let lead = q.clone() * &s;
        let s2 = s.clone() * &s;
        let tiny = lead.abs().to_f64() * S::eps(c) / 8.0;
        let mut pow = s.clone() * &s2; // s^{2n+1}, n = 1
        let mut series = S::zero(c);
        let mut n = 1i64;
        loop {
            let term = pow.clone() / &S::from_i64(2 * n + 1, c);
            let small = term.abs().to_f64() <= tiny;
            series += &term;
            if small || n > 10_000 {
                break;
            }
            pow *= &s2;
            n += 1;
        }
        lead - &(series.clone() + &series)
    } else {
        q.clone() - &(S::one(c) + q).ln()
    }
}

/// $\mathcal H(X,Y)=Y^2+X^2-\log X^2-1$ (reference.md §3.1) without cancellation near the
/// period-2 orbit: with $a=|X|$ and $q=(a-1)(a+1)=X^2-1$ (exact subtraction for $a\in[\frac12,2]$),
/// $\mathcal H=Y^2+\varphi(q)$ ([`q_minus_log1p`]) for $|q|\le\frac12$, else $Y^2+q-2\ln a$.
pub fn energy<S: Scalar>(x: &S, y: &S) -> S {
    let c = x.ctx();
    let one = S::one(c);
    let a = x.abs();
    let q = (a.clone() - &one) * &(a.clone() + &one);
    let y2 = y.clone() * y;
    if q.abs() <= S::from_f64(0.5, c) {
        y2 + &q_minus_log1p(&q)
    } else {
        let two_ln = {
            let l = a.ln();
            l.clone() + &l
        };
        y2 + &(q - &two_ln)
    }
}

/// $\mathcal H$ in deviation coordinates: $q=p(2+p)$, then as [`energy`].
pub fn energy_dev<S: Scalar>(s: &DevState<S>) -> S {
    let c = s.p.ctx();
    let q = s.p.clone() * &(S::from_i64(2, c) + &s.p);
    let y2 = s.y.clone() * &s.y;
    if q.abs() <= S::from_f64(0.5, c) {
        y2 + &q_minus_log1p(&q)
    } else {
        let l = (S::one(c) + &s.p).abs().ln();
        y2 + &(q - &(l.clone() + &l))
    }
}

/// $\mathcal H_0=\xi^2-\log\xi^2-1$: the energy of the start $(X_0,Y_0)=(\xi,0)$ (reference.md §3.2).
pub fn first_spike_energy<S: Scalar>(xi: &S) -> S {
    energy(xi, &S::zero(xi.ctx()))
}

// ---------------------------------------------------------------------------------------------
// The four stages
// ---------------------------------------------------------------------------------------------

/// The four stages of reference.md §2, as a partition of the $(X^2, Y)$ plane into quadrants
/// around the period-2 orbit $(1, 0)$. An orbit of the flow visits them in this cyclic order, and
/// each quadrant has the sign facts of claim 4 (for one step of the map, given $hY>-2$):
///
/// | stage | region | one step of the map |
/// |---|---|---|
/// | `ProgressiveSharpening` | $X^2<1,\ Y\le0$ | $Y$ rises by $h(1-X^2)$, $\lvert X\rvert$ does not grow |
/// | `Blowup` | $X^2\le1,\ Y>0$ | $\lvert X\rvert$ grows by $1+hY$, $Y$ does not fall |
/// | `SelfStabilization` | $X^2>1,\ Y>0$ | $Y$ falls, $\lvert X\rvert$ still grows |
/// | `ReturnToStability` | $X^2\ge1,\ Y\le0$ | $\lvert X\rvert$ shrinks, $Y$ does not rise |
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Stage 1: sharpness below 2/η and rising.
    ProgressiveSharpening,
    /// Stage 2: sharpness above 2/η, oscillation growing.
    Blowup,
    /// Stage 3: oscillation above δ drives the sharpness down.
    SelfStabilization,
    /// Stage 4: sharpness below 2/η, oscillation shrinking.
    ReturnToStability,
}

impl Stage {
    /// The stage that follows in the cycle.
    pub fn next(self) -> Stage {
        match self {
            Stage::ProgressiveSharpening => Stage::Blowup,
            Stage::Blowup => Stage::SelfStabilization,
            Stage::SelfStabilization => Stage::ReturnToStability,
            Stage::ReturnToStability => Stage::ProgressiveSharpening,
        }
    }
}

/// The stage of a state (see [`Stage`]).
pub fn stage<S: Scalar>(s: &State<S>) -> Stage {
    let c = s.x.ctx();
    let one = S::one(c);
    let zero = S::zero(c);
    let x2 = s.x.clone() * &s.x;
    let up = s.y > zero;
    match (x2.partial_cmp(&one), up) {
        (Some(std::cmp::Ordering::Less), false) => Stage::ProgressiveSharpening,
        (Some(std::cmp::Ordering::Greater), true) => Stage::SelfStabilization,
        (_, true) => Stage::Blowup,
        (_, false) => Stage::ReturnToStability,
    }
}

// ---------------------------------------------------------------------------------------------
// Trajectories, crossings, windows
// ---------------------------------------------------------------------------------------------

/// A stored orbit $(X_t, Y_t)_{t=0..n}$ (for runs short enough to keep in memory).
#[derive(Clone, Debug)]
pub struct Trajectory<S> {
    /// $h$ of the map that produced it.
    pub h: S,
    /// $X_t$.
    pub x: Vec<S>,
    /// $Y_t$.
    pub y: Vec<S>,
}

/// An upward crossing of $X^2=1$ (start of stage 3): `step` is the first $t$ with $X_t^2\ge1$ after
/// $X_{t-1}^2<1$; `time` the crossing by linear interpolation of $q=X^2-1$ between $t-1$ and $t$,
/// in steps: $t-1+q_{t-1}/(q_{t-1}-q_t)$.
#[derive(Clone, Debug)]
pub struct Crossing<S> {
    /// First step at or above the line.
    pub step: u64,
    /// Interpolated crossing time (steps).
    pub time: S,
}

/// Averages over a window $[a, b)$ of $N=b-a$ steps, with its anchoring (claim 10).
#[derive(Clone, Debug)]
pub struct WindowAverages<S> {
    /// What the window's ends are.
    pub anchor: Anchor,
    /// First step $a$.
    pub start: usize,
    /// One past the last step, $b$.
    pub end: usize,
    /// $\langle X^2\rangle-1=\frac1N\sum_{a\le t<b}(X_t^2-1)$.
    pub mean_x2_minus_1: S,
    /// Boundary term of the first identity of claim 5: $-(Y_b-Y_a)/(hN)$; equals `mean_x2_minus_1`
    /// exactly in exact arithmetic (undamped map).
    pub boundary_x2: S,
    /// $\langle Y\rangle$.
    pub mean_y: S,
    /// $\langle Y^2\rangle$.
    pub mean_y2: S,
    /// $\langle Y^3\rangle$.
    pub mean_y3: S,
    /// $\frac1{hN}\sum_{a\le t<b}\log|1+hY_t|$.
    pub mean_log: S,
    /// Boundary term of the second identity: $\log|X_b/X_a|/(hN)$; equals `mean_log` exactly.
    pub boundary_y: S,
}

/// How an averaging window is anchored (claim 10: state the anchoring with every average).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// Both ends at upward crossings of $X^2=1$ ([`Crossing::step`]).
    UpCrossing,
    /// Both ends at local minima of $X_t^2$.
    X2Minimum,
    /// Ends chosen by the caller.
    Explicit,
}

impl<S: Scalar> Trajectory<S> {
    /// Iterate the map `n` steps from `s0` and store every state ($n+1$ of them). An error if n is
    /// above [`MAX_MAP_STEPS`] or the states do not fit in memory (checked before the run).
    pub fn run(map: &ReducedMap<S>, s0: &State<S>, n: usize) -> Result<Self, InputError> {
        if !(n as f64 <= MAX_MAP_STEPS) {
            return Err(InputError::Value { key: "n".into(), msg: format!("{n} steps, more than {MAX_MAP_STEPS:e}") });
        }
        let mut x = Vec::new();
        let mut y = Vec::new();
        if x.try_reserve_exact(n + 1).and_then(|_| y.try_reserve_exact(n + 1)).is_err() {
            let bytes = 2.0 * (n as f64 + 1.0) * std::mem::size_of::<S>() as f64;
            return Err(InputError::Value { key: "n".into(), msg: format!("{n} steps: the trajectory's {bytes:.3e} bytes could not be allocated") });
        }
        let mut s = s0.clone();
        iterate(map, &mut s, n as u64, |_, st| {
            x.push(st.x.clone());
            y.push(st.y.clone());
            ControlFlow::Continue(())
        });
        Ok(Self { h: map.h().clone(), x, y })
    }

    /// Number of stored states.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// No states stored.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// The stage of every stored state.
    pub fn stages(&self) -> Vec<Stage> {
        self.x
            .iter()
            .zip(&self.y)
            .map(|(x, y)| stage(&State { x: x.clone(), y: y.clone() }))
            .collect()
    }

    /// $q_t=X_t^2-1$.
    fn q(&self, t: usize) -> S {
        let c = self.h.ctx();
        let one = S::one(c);
        let a = self.x[t].abs();
        (a.clone() - &one) * &(a + &one)
    }

    /// All upward crossings of $X^2=1$ (see [`Crossing`]).
    pub fn up_crossings(&self) -> Vec<Crossing<S>> {
        let c = self.h.ctx();
        let zero = S::zero(c);
        let mut out = Vec::new();
        let mut prev = if self.is_empty() { zero.clone() } else { self.q(0) };
        for t in 1..self.len() {
            let q = self.q(t);
            if prev < zero && q >= zero {
                let frac = prev.clone() / &(prev.clone() - &q);
                out.push(Crossing { step: t as u64, time: S::from_i64(t as i64 - 1, c) + &frac });
            }
            prev = q;
        }
        out
    }

    /// Steps $t$ with $X_t^2<X_{t-1}^2$ and $X_t^2\le X_{t+1}^2$ (local minima of $X^2$; one per
    /// cycle). The start of an orbit from $Y_0=0$ is not one ($X_1^2=X_0^2$).
    pub fn x2_minima(&self) -> Vec<usize> {
        let mut out = Vec::new();
        for t in 1..self.len().saturating_sub(1) {
            let (a, b, d) = (self.x[t - 1].abs(), self.x[t].abs(), self.x[t + 1].abs());
            if b < a && b <= d {
                out.push(t);
            }
        }
        out
    }

    /// Averages over $[a, b)$ ([`WindowAverages`]); `None` unless $a<b<$ len.
    pub fn window(&self, a: usize, b: usize, anchor: Anchor) -> Option<WindowAverages<S>> {
        if a >= b || b >= self.len() {
            return None;
        }
        let c = self.h.ctx();
        let one = S::one(c);
        let n = S::from_i64((b - a) as i64, c);
        let (mut sx, mut sy, mut sy2, mut sy3, mut sl) =
            (S::zero(c), S::zero(c), S::zero(c), S::zero(c), S::zero(c));
        for t in a..b {
            sx += &self.q(t);
            let y = &self.y[t];
            sy += y;
            let y2 = y.clone() * y;
            sy2 += &y2;
            sy3 += &(y2 * y);
            sl += &(one.clone() + &(self.h.clone() * y)).abs().ln();
        }
        let hn = self.h.clone() * &n;
        let boundary_x2 = -((self.y[b].clone() - &self.y[a]) / &hn);
        let boundary_y = (self.x[b].clone() / &self.x[a]).abs().ln() / &hn;
        Some(WindowAverages {
            anchor,
            start: a,
            end: b,
            mean_x2_minus_1: sx / &n,
            boundary_x2,
            mean_y: sy / &n,
            mean_y2: sy2 / &n,
            mean_y3: sy3 / &n,
            mean_log: sl / &hn,
            boundary_y,
        })
    }

    /// The window spanning `periods` cycles from the `first`-th anchor of the given kind
    /// (0-based), or `None` if the trajectory has too few anchors.
    pub fn anchored_window(&self, anchor: Anchor, first: usize, periods: usize) -> Option<WindowAverages<S>> {
        let marks: Vec<usize> = match anchor {
            Anchor::UpCrossing => self.up_crossings().iter().map(|c| c.step as usize).collect(),
            Anchor::X2Minimum => self.x2_minima(),
            Anchor::Explicit => return None,
        };
        let (a, b) = (*marks.get(first)?, *marks.get(first + periods)?);
        self.window(a, b, anchor)
    }
}

/// Upward crossings of $X^2=1$ of the orbit from `s0` in deviation coordinates, without storing
/// the orbit: stops after `count` crossings or `max_steps` steps. Crossing times as in [`Crossing`],
/// with $q=p(2+p)$.
pub fn up_crossings_dev<S: Scalar>(
    map: &ReducedMap<S>,
    s0: &DevState<S>,
    count: usize,
    max_steps: u64,
) -> Vec<Crossing<S>> {
    let c = map.ctx();
    let zero = S::zero(c);
    let two = S::from_i64(2, c);
    let mut ws = Workspace::new(c);
    let mut s = s0.clone();
    let mut out = Vec::new();
    let mut prev = s.p.clone() * &(two.clone() + &s.p);
    let mut q = zero.clone();
    for t in 1..=max_steps {
        map.step_dev(&mut s, &mut ws);
        q.assign_from(&s.p);
        q += &two;
        q *= &s.p;
        if prev < zero && q >= zero {
            let frac = prev.clone() / &(prev.clone() - &q);
            out.push(Crossing { step: t, time: S::from_i64(t as i64 - 1, c) + &frac });
            if out.len() >= count {
                break;
            }
        }
        prev.assign_from(&q);
    }
    out
}

/// Upward crossings of $X^2=1$ of the orbit from `s0` (standard coordinates), without storing the
/// orbit; stops after `count` crossings or `max_steps` steps.
pub fn up_crossings<S: Scalar>(map: &ReducedMap<S>, s0: &State<S>, count: usize, max_steps: u64) -> Vec<Crossing<S>> {
    let c = map.ctx();
    let zero = S::zero(c);
    let one = S::one(c);
    let mut out = Vec::new();
    let qof = |x: &S| {
        let a = x.abs();
        (a.clone() - &one) * &(a + &one)
    };
    let mut prev = qof(&s0.x);
    let mut s = s0.clone();
    iterate(map, &mut s, max_steps, |t, st| {
        if t == 0 {
            return ControlFlow::Continue(());
        }
        let q = qof(&st.x);
        if prev < zero && q >= zero {
            let frac = prev.clone() / &(prev.clone() - &q);
            out.push(Crossing { step: t, time: S::from_i64(t as i64 - 1, c) + &frac });
            if out.len() >= count {
                return ControlFlow::Break(());
            }
        }
        prev = q;
        ControlFlow::Continue(())
    });
    out
}

/// Periods in natural time, $h\,(t_{i+1}-t_i)$, between successive upward crossings of $X^2=1$
/// (this is the period the suite measures; claim 9).
pub fn periods_from_crossings<S: Scalar>(h: &S, cs: &[Crossing<S>]) -> Vec<S> {
    cs.windows(2).map(|w| (w[1].time.clone() - &w[0].time) * h).collect()
}

// ---------------------------------------------------------------------------------------------
// First spike and energy drift
// ---------------------------------------------------------------------------------------------

/// The first spike from $(X_0,Y_0)=(\xi,0)$ (reference.md §3.2, claim 8).
#[derive(Clone, Debug)]
pub struct Spike<S> {
    /// Step of the first maximum of $Y$: the first $t$ with $X_t^2\ge1$ (then $Y_{t+1}\le Y_t$).
    pub step: u64,
    /// $Y_{\max}=Y_t$.
    pub y_max: S,
    /// $X_t^2$ at that step ($=1+O(h)$).
    pub x2_at_max: S,
    /// $\mathcal H_0=\xi^2-\log\xi^2-1$.
    pub h0: S,
    /// $(Y_{\max}/\sqrt{\mathcal H_0}-1)/h$ (the coefficient $c_\xi$ of claim 8).
    pub coefficient: S,
}

/// Run from $(\xi, 0)$ to the first maximum of $Y$; `None` if it is not reached in `max_steps` or
/// the orbit is not finite.
pub fn first_spike<S: Scalar>(map: &ReducedMap<S>, xi: &S, max_steps: u64) -> Option<Spike<S>> {
    let c = map.ctx();
    let one = S::one(c);
    let mut s = State { x: xi.clone(), y: S::zero(c) };
    let mut found: Option<(u64, S, S)> = None;
    iterate(map, &mut s, max_steps, |t, st| {
        let x2 = st.x.clone() * &st.x;
        if !st.y.is_finite() || !x2.is_finite() {
            return ControlFlow::Break(());
        }
        if x2 >= one {
            found = Some((t, st.y.clone(), x2));
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    let (step, y_max, x2_at_max) = found?;
    let h0 = first_spike_energy(xi);
    let coefficient = (y_max.clone() / &h0.sqrt() - &one) / map.h();
    Some(Spike { step, y_max, x2_at_max, h0, coefficient })
}

/// Energy drift over a natural-time span (claim 6).
#[derive(Clone, Debug)]
pub struct Drift<S> {
    /// Steps taken, $\lceil\tau/h\rceil$.
    pub steps: u64,
    /// $\max_{t\le N}|\mathcal H_t-\mathcal H_0|$ with $\mathcal H$ evaluated every `every` steps.
    pub max_abs: S,
    /// $\mathcal H_N-\mathcal H_0$.
    pub end: S,
}

/// Most steps a run of the map takes for [`energy_drift`] and [`flow_period`] (10¹⁰: hours of
/// f64 steps; an input asking for more is an error, not a hang).
pub const MAX_MAP_STEPS: f64 = 1e10;

/// $\max_{t\le N}|\mathcal H_t-\mathcal H_0|$ over $N=\lceil\tau/h\rceil$ steps from `s0`,
/// evaluating $\mathcal H$ every `every` steps (1 = every step) and at the end. τ must be finite
/// and > 0, and N at most [`MAX_MAP_STEPS`].
pub fn energy_drift<S: Scalar>(map: &ReducedMap<S>, s0: &State<S>, tau: f64, every: u64) -> Result<Drift<S>, InputError> {
    let n = (tau / map.h().to_f64()).ceil();
    if !(tau > 0.0 && tau.is_finite()) {
        return Err(InputError::Value { key: "tau".into(), msg: format!("must be finite and > 0, got {tau}") });
    }
    if !(n <= MAX_MAP_STEPS) {
        return Err(InputError::Value { key: "tau".into(), msg: format!("τ/h = {n:e} steps, more than {MAX_MAP_STEPS:e}") });
    }
    let steps = n as u64;
    let every = every.max(1);
    let e0 = energy(&s0.x, &s0.y);
    let mut max_abs = S::zero(map.ctx());
    let mut end = S::zero(map.ctx());
    let mut s = s0.clone();
    iterate(map, &mut s, steps, |t, st| {
        if t % every == 0 || t == steps {
            let d = energy(&st.x, &st.y) - &e0;
            let a = d.abs();
            if a > max_abs {
                max_abs = a;
            }
            if t == steps {
                end = d;
            }
        }
        ControlFlow::Continue(())
    });
    Ok(Drift { steps, max_abs, end })
}

// ---------------------------------------------------------------------------------------------
// The Hamiltonian flow and its period
// ---------------------------------------------------------------------------------------------

fn flow_rhs<S: Scalar>(q: &S, y: &S, one: &S) -> (S, S) {
    let two_q = q.clone() + q;
    (y.clone(), one.clone() - &two_q.exp())
}

fn rk4_step<S: Scalar>(q: &S, y: &S, dt: &S, one: &S) -> (S, S) {
    let c = q.ctx();
    let half = S::from_f64(0.5, c);
    let hdt = dt.clone() * &half;
    let (k1q, k1y) = flow_rhs(q, y, one);
    let (k2q, k2y) = flow_rhs(&(q.clone() + &(k1q.clone() * &hdt)), &(y.clone() + &(k1y.clone() * &hdt)), one);
    let (k3q, k3y) = flow_rhs(&(q.clone() + &(k2q.clone() * &hdt)), &(y.clone() + &(k2y.clone() * &hdt)), one);
    let (k4q, k4y) = flow_rhs(&(q.clone() + &(k3q.clone() * dt)), &(y.clone() + &(k3y.clone() * dt)), one);
    let two = S::from_i64(2, c);
    let six = S::from_i64(6, c);
    let dq = (k1q + &(k2q * &two) + &(k3q * &two) + &k4q) * dt / &six;
    let dy = (k1y + &(k2y * &two) + &(k3y * &two) + &k4y) * dt / &six;
    (q.clone() + &dq, y.clone() + &dy)
}

/// Period $T_\tau(\mathcal H)$ of the Hamiltonian flow $q'=Y,\ Y'=1-e^{2q}$ ($q=\log|X|$,
/// reference.md §3.1–§3.2) on the level set $Y^2+e^{2q}-2q-1=\mathcal H$.
///
/// Classical RK4 with fixed step `dtau` from the upward crossing $(q,Y)=(0,\sqrt{\mathcal H})$ until
/// $q$ next changes sign upwards; the last partial step $s$ solves $q_{\mathrm{RK4}}(s)=0$ by Newton
/// ($dq/ds\approx Y$). Global error $O(\mathtt{dtau}^4)$; [`flow_period_extrapolated`] removes the
/// leading term.
pub fn flow_period<S: Scalar>(energy_level: &S, dtau: &S) -> Result<S, InputError> {
    check_positive("H", energy_level)?;
    check_positive("dtau", dtau)?;
    let c = dtau.ctx();
    let one = S::one(c);
    let zero = S::zero(c);
    let mut q = zero.clone();
    let mut y = energy_level.sqrt();
    let max_f = (1e4 / dtau.to_f64()).ceil(); // T_τ < 1e4 for H < 1e3 or so
    if !(max_f <= MAX_MAP_STEPS) {
        return Err(InputError::Value { key: "dtau".into(), msg: format!("1e4/dtau = {max_f:e} steps, more than {MAX_MAP_STEPS:e}") });
    }
    let max_steps = max_f as u64;
    let mut left = false; // q has become negative (the orbit is past its far side)
    for n in 0..max_steps {
        let (q1, y1) = rk4_step(&q, &y, dtau, &one);
        if q1 < zero {
            left = true;
        }
        if left && q < zero && q1 >= zero {
            // Newton on s ∈ (0, dtau]: q_rk4(s) = 0.
            let mut s = dtau.clone() * &(q.clone() / &(q.clone() - &q1));
            for _ in 0..100 {
                let (qs, ys) = rk4_step(&q, &y, &s, &one);
                let ds = qs / &ys;
                s -= &ds;
                if ds.abs().to_f64() <= S::eps(c) * dtau.to_f64() {
                    break;
                }
            }
            return Ok(S::from_i64(n as i64, c) * dtau + &s);
        }
        q = q1;
        y = y1;
    }
    Err(InputError::Value {
        key: "H".into(),
        msg: format!("no period found within {max_steps} steps of size {}", dtau.to_decimal()),
    })
}

/// Richardson extrapolation of [`flow_period`]: $(16\,T(\mathtt{dtau}/2)-T(\mathtt{dtau}))/15$,
/// removing the $O(\mathtt{dtau}^4)$ term.
pub fn flow_period_extrapolated<S: Scalar>(energy_level: &S, dtau: &S) -> Result<S, InputError> {
    let c = dtau.ctx();
    let t1 = flow_period(energy_level, dtau)?;
    let t2 = flow_period(energy_level, &(dtau.clone() / &S::from_i64(2, c)))?;
    Ok((t2 * &S::from_i64(16, c) - &t1) / &S::from_i64(15, c))
}

/// Period of the linearized map around the period-2 orbit in natural time:
/// $2\pi h/\arctan(\sqrt2h)=\pi\sqrt2\,(1+\tfrac23h^2+O(h^4))$ (f64; the eigenvalues
/// $1\pm i\sqrt2h$ of reference.md §3.4 rotate by $\arctan(\sqrt2h)$ per step).
pub fn linear_period(h: f64) -> f64 {
    2.0 * std::f64::consts::PI * h / libm::atan(std::f64::consts::SQRT_2 * h)
}

// ---------------------------------------------------------------------------------------------
// Order fits
// ---------------------------------------------------------------------------------------------

/// Least-squares line $\log y=a+p\log x$ with the slope's standard error (claims 6, 9).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogLogFit {
    /// Slope $p$ (the order).
    pub slope: f64,
    /// Intercept $a$ (so the constant is $e^a$).
    pub intercept: f64,
    /// Standard error of the slope, $\sqrt{\mathrm{RSS}/((n-2)\,S_{xx})}$.
    pub slope_se: f64,
}

/// Fit $\log y$ against $\log x$; needs ≥ 3 points, all $x,y>0$ and finite.
pub fn loglog_fit(xs: &[f64], ys: &[f64]) -> Result<LogLogFit, InputError> {
    if xs.len() != ys.len() || xs.len() < 3 {
        return Err(InputError::Dimension(format!(
            "loglog_fit needs ≥ 3 (x, y) pairs of equal length, got {} and {}",
            xs.len(),
            ys.len()
        )));
    }
    if let Some(i) = xs.iter().chain(ys).position(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(InputError::Value { key: "loglog_fit".into(), msg: format!("value #{i} is not finite and > 0") });
    }
    let lx: Vec<f64> = xs.iter().map(|&v| libm::log(v)).collect();
    let ly: Vec<f64> = ys.iter().map(|&v| libm::log(v)).collect();
    let n = lx.len() as f64;
    let mx = lx.iter().sum::<f64>() / n;
    let my = ly.iter().sum::<f64>() / n;
    let sxx: f64 = lx.iter().map(|x| (x - mx) * (x - mx)).sum();
    if !(sxx > 0.0) {
        return Err(InputError::Value { key: "loglog_fit".into(), msg: "every x is the same: the slope is undefined".into() });
    }
    let sxy: f64 = lx.iter().zip(&ly).map(|(x, y)| (x - mx) * (y - my)).sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let rss: f64 = lx.iter().zip(&ly).map(|(x, y)| (y - intercept - slope * x).powi(2)).sum();
    let slope_se = (rss / ((n - 2.0) * sxx)).sqrt();
    Ok(LogLogFit { slope, intercept, slope_se })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_minus_log1p_matches_mpfr_reference() {
        // Reference at 512 bits; f64 must agree to a few ulps relative over 20 decades of q.
        for &q in &[1e-20, -1e-20, 1e-8, -3e-5, 0.01, -0.2, 0.49, -0.49, 0.51, -0.51, 3.0, -0.999] {
            let got = q_minus_log1p(&q);
            let r = rug::Float::with_val(512, q);
            let want = (r.clone() - (r + 1u32).ln()).to_f64();
            assert!(((got - want) / want).abs() <= 8.0 * f64::EPSILON, "q = {q}: {got} vs {want}");
        }
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(ReducedMap::<f64>::new(0.0).is_err());
        assert!(ReducedMap::<f64>::new(f64::NAN).is_err());
        assert!(ReducedMap::<f64>::damped(0.01, 2.0).is_err());
        assert!(ReducedMap::<f64>::damped(0.01, -0.1).is_err());
        let e = ReducedMap::<f64>::damped(0.01, -0.1).unwrap_err().to_string();
        assert_eq!(e, "bad value for `k`: damping must be finite and in [0, 2), got -1e-1");
        assert!(DimensionalMap::<f64>::new(-1.0, 1.0, 1.0, 0.0).is_err());
        assert!(flow_period(&-1.0f64, &1e-3).is_err());
        assert!(loglog_fit(&[1.0, 2.0], &[1.0, 2.0]).is_err());
        assert!(loglog_fit(&[2.0; 3], &[1.0, 2.0, 3.0]).unwrap_err().to_string().contains("every x is the same"));
    }
}
