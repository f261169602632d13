//! # Certified enclosure of the reduced map (issue 6, beyond the paper; reference.md §2–§3)
//!
//! Interval arithmetic on MPFR's directed rounding: an [`Interval`] $[\ell, u]$ holds two
//! `rug::Float` endpoints at a fixed precision, every operation rounds $\ell$ down and $u$ up, so the
//! exact real result of the operation on any reals of the operands lies in the result.
//! The dimensionless reduced map ([`crate::reduced_map::ReducedMap`])
//! $$X_{t+1}=-(1+hY_t)X_t,\qquad Y_{t+1}=(1-k)Y_t+h(1-X_t^2)$$
//! is evaluated on boxes $\mathbf X\times\mathbf Y$ ([`IntervalMap::step`]); $h$ and $k$ are
//! themselves enclosed from their decimal text, so a result is a statement about the exact decimal
//! $h$. Each coordinate of the image is a single-use expression in $X$ and in $Y$ (with a sharp
//! square), so per coordinate the enclosure is the exact range up to rounding; the only
//! overestimation is the *wrapping effect* of taking the box hull after each step.
//!
//! **Width growth law (first order in the width).** For a box of half-widths $w_t=(w^X_t,w^Y_t)$
//! around $c_t$, the next box has half-widths $w_{t+1}=\lvert J(c_t)\rvert\,w_t+O(\lVert w\rVert^2)$
//! with the entrywise absolute Jacobian
//! $$\lvert J\rvert=\begin{pmatrix}\lvert1+hY\rvert&h\lvert X\rvert\\2h\lvert X\rvert&\lvert1-k\rvert\end{pmatrix},
//! \qquad \rho(\lvert J\rvert)=1+\tfrac{hY-k}{2}+\sqrt{\big(\tfrac{hY+k}{2}\big)^2+2h^2X^2}
//! \approx 1+\sqrt2\,h\lvert X\rvert .$$
//! So in natural time $\tau=ht$ the width grows like $\exp\!\big(\sqrt2\int\lvert X\rvert\,d\tau\big)$,
//! i.e. $e^{\sqrt2\tau}$ near the period-2 orbit $\lvert X\rvert=1$ (where $\rho=1+\sqrt2h$ exactly),
//! whereas the point orbits themselves separate slowly: at the period-2 orbit, a repelling focus
//! whose two-step multipliers have modulus $1+2h^2$, at rate $\approx h$ per unit $\tau$; elsewhere
//! by the twist shear of the near-integrable map, about linearly in $t$ ($\lVert\prod J\rVert$,
//! [`Enclosure::point_spread`]). The gap between the two is the wrapping effect. Splitting the box into $m\times m$
//! sub-boxes divides the initial width by $m$ and leaves the rate unchanged: it buys
//! $\ln m/\sqrt2$ of natural time. [`enclose`] records the measured widths, their first-order
//! prediction and the fitted rate.
//!
//! Output of [`enclose`]: per step the hull of all sub-box enclosures, and the proof statement
//! "for this $h$, every orbit from the box satisfies $\lvert X_t\rvert\le A$ and
//! $Y_t\in\[B_1,B_2\]$ for $t\le N$" (a computer-assisted proof for that finite case; all bounds printed
//! in f64 are rounded outward).

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::path::Path;

use rug::float::Round;
use rug::ops::AssignRound;
use rug::Float;
use serde::Serialize;

use crate::error::{Error, InputError};
use crate::npy::write_atomic;

/// Smallest and largest working precision of an enclosure (bits).
pub const BITS_RANGE: (u32, u32) = (53, 65536);

/// Largest sub-box split per axis (the cost is `split²` orbits).
pub const MAX_SPLIT: u32 = 256;

/// Largest memory an enclosure may hold (bytes): every certified step keeps its row and its
/// interval hull (four MPFR bounds), so `steps` is refused when their estimate exceeds this.
pub const MAX_MEMORY: u64 = 2 << 30;

/// Estimated bytes held per certified step at `bits`: a row of nine f64 plus four `Float`s
/// (a 32-byte header and ⌈bits/64⌉ limbs each).
pub fn bytes_per_step(bits: u32) -> u64 {
    9 * 8 + 4 * (32 + 8 * bits.div_ceil(64) as u64)
}

fn down<T>(prec: u32, v: T) -> Float
where
    Float: AssignRound<T, Round = Round, Ordering = Ordering>,
{
    Float::with_val_round(prec, v, Round::Down).0
}

fn up<T>(prec: u32, v: T) -> Float
where
    Float: AssignRound<T, Round = Round, Ordering = Ordering>,
{
    Float::with_val_round(prec, v, Round::Up).0
}

/// A closed interval $[\ell,u]$ of reals with MPFR endpoints at one precision (outward rounding).
#[derive(Clone, Debug, PartialEq)]
pub struct Interval {
    /// Lower endpoint ℓ.
    pub lo: Float,
    /// Upper endpoint u.
    pub hi: Float,
}

impl Interval {
    /// The degenerate interval [v, v] (exact: `v` must be representable at `prec`, as integers are).
    pub fn point(v: &Float, prec: u32) -> Self {
        Self { lo: down(prec, v), hi: up(prec, v) }
    }

    /// The smallest interval at `prec` containing the decimal number `text` (e.g. `"0.01"`).
    pub fn from_decimal(key: &str, text: &str, prec: u32) -> Result<Self, InputError> {
        let bad = |msg: String| InputError::Value { key: key.into(), msg };
        let parse = || Float::parse(text.trim()).map_err(|e| bad(format!("`{text}` is not a number ({e})")));
        let lo = down(prec, parse()?);
        let hi = up(prec, parse()?);
        if !lo.is_finite() || !hi.is_finite() {
            return Err(bad(format!("must be finite, got `{text}`")));
        }
        Ok(Self { lo, hi })
    }

    /// $[c-r,c+r]$ for intervals `c` and `r ≥ 0` (outward).
    pub fn ball(c: &Interval, r: &Interval, prec: u32) -> Self {
        Self { lo: down(prec, &c.lo - &r.hi), hi: up(prec, &c.hi + &r.hi) }
    }

    /// Sum.
    pub fn add(&self, o: &Interval, prec: u32) -> Self {
        Self { lo: down(prec, &self.lo + &o.lo), hi: up(prec, &self.hi + &o.hi) }
    }

    /// Difference.
    pub fn sub(&self, o: &Interval, prec: u32) -> Self {
        Self { lo: down(prec, &self.lo - &o.hi), hi: up(prec, &self.hi - &o.lo) }
    }

    /// Negation (exact).
    pub fn neg(&self) -> Self {
        Self { lo: -self.hi.clone(), hi: -self.lo.clone() }
    }

    /// Product: the hull of the four endpoint products, each rounded outward.
    pub fn mul(&self, o: &Interval, prec: u32) -> Self {
        let pairs = [(&self.lo, &o.lo), (&self.lo, &o.hi), (&self.hi, &o.lo), (&self.hi, &o.hi)];
        let mut lo = down(prec, pairs[0].0 * pairs[0].1);
        let mut hi = up(prec, pairs[0].0 * pairs[0].1);
        for (a, b) in &pairs[1..] {
            let l = down(prec, *a * *b);
            let u = up(prec, *a * *b);
            if l < lo {
                lo = l;
            }
            if u > hi {
                hi = u;
            }
        }
        Self { lo, hi }
    }

    /// Square $\{x^2 : x\in[\ell,u]\}$ (sharp: $[0,\max(\ell^2,u^2)]$ when the interval contains 0).
    pub fn sqr(&self, prec: u32) -> Self {
        let zero = Float::with_val(prec, 0);
        if self.lo >= zero {
            Self { lo: down(prec, self.lo.square_ref()), hi: up(prec, self.hi.square_ref()) }
        } else if self.hi <= zero {
            Self { lo: down(prec, self.hi.square_ref()), hi: up(prec, self.lo.square_ref()) }
        } else {
            let a = up(prec, self.lo.square_ref());
            let b = up(prec, self.hi.square_ref());
            Self { lo: zero, hi: if a > b { a } else { b } }
        }
    }

    /// Width $u-\ell$ rounded up.
    pub fn width(&self, prec: u32) -> Float {
        up(prec, &self.hi - &self.lo)
    }

    /// Midpoint, to nearest (for reports and the first-order law only).
    pub fn mid_f64(&self) -> f64 {
        let p = self.lo.prec().max(self.hi.prec()) + 1;
        Float::with_val(p, &self.lo + &self.hi).to_f64() * 0.5
    }

    /// Whether both endpoints are finite.
    pub fn is_finite(&self) -> bool {
        self.lo.is_finite() && self.hi.is_finite()
    }

    /// $\ell\le x\le u$.
    pub fn contains(&self, x: &Float) -> bool {
        self.lo <= *x && *x <= self.hi
    }

    /// Smallest interval containing both.
    pub fn hull(&self, o: &Interval) -> Self {
        Self {
            lo: if o.lo < self.lo { o.lo.clone() } else { self.lo.clone() },
            hi: if o.hi > self.hi { o.hi.clone() } else { self.hi.clone() },
        }
    }

    /// `(ℓ, u)` as f64, rounded outward (still an enclosure).
    pub fn to_f64_outward(&self) -> (f64, f64) {
        (self.lo.to_f64_round(Round::Down), self.hi.to_f64_round(Round::Up))
    }
}

/// A box $\mathbf X\times\mathbf Y$ of states.
#[derive(Clone, Debug, PartialEq)]
pub struct IBox {
    /// Enclosure of X.
    pub x: Interval,
    /// Enclosure of Y.
    pub y: Interval,
}

impl IBox {
    /// Whether the point (x, y) lies in the box.
    pub fn contains(&self, x: &Float, y: &Float) -> bool {
        self.x.contains(x) && self.y.contains(y)
    }

    /// Box hull.
    pub fn hull(&self, o: &IBox) -> Self {
        Self { x: self.x.hull(&o.x), y: self.y.hull(&o.y) }
    }

    /// Split into `m × m` sub-boxes whose union covers this box: the interior edges
    /// $e_i=\ell+i(u-\ell)/m$ are computed twice, rounded down as a left edge and up as a right one.
    pub fn split(&self, m: u32, prec: u32) -> Vec<IBox> {
        let axis = |iv: &Interval| -> Vec<Interval> {
            let wlo = down(prec, &iv.hi - &iv.lo);
            let whi = up(prec, &iv.hi - &iv.lo);
            let mf = Float::with_val(prec, m);
            let edge_down = |i: u32| -> Float {
                if i == 0 {
                    return iv.lo.clone();
                }
                let q = down(prec, down(prec, &wlo * i) / &mf);
                down(prec, &iv.lo + &q)
            };
            let edge_up = |i: u32| -> Float {
                if i == m {
                    return iv.hi.clone();
                }
                let q = up(prec, up(prec, &whi * i) / &mf);
                up(prec, &iv.lo + &q)
            };
            (0..m).map(|i| Interval { lo: edge_down(i), hi: edge_up(i + 1) }).collect()
        };
        let xs = axis(&self.x);
        let ys = axis(&self.y);
        let mut out = Vec::with_capacity((m * m) as usize);
        for x in &xs {
            for y in &ys {
                out.push(IBox { x: x.clone(), y: y.clone() });
            }
        }
        out
    }
}

/// The reduced map in interval arithmetic: $h$ and $1-k$ enclosed at the working precision.
#[derive(Clone, Debug)]
pub struct IntervalMap {
    prec: u32,
    h: Interval,
    one_minus_k: Option<Interval>,
    one: Interval,
}

impl IntervalMap {
    /// The map for decimal `h > 0` and damping `k ∈ [0, 2)` at `prec` bits.
    pub fn new(h: &str, k: &str, prec: u32) -> Result<Self, InputError> {
        check_bits(prec)?;
        let hv = Interval::from_decimal("h", h, prec)?;
        if hv.lo <= 0 {
            return Err(InputError::Value { key: "h".into(), msg: format!("must be > 0, got `{h}`") });
        }
        let kv = Interval::from_decimal("k", k, prec)?;
        if kv.lo < 0 || kv.hi >= 2 {
            return Err(InputError::Value { key: "k".into(), msg: format!("damping must be in [0, 2), got `{k}`") });
        }
        let one = Interval::point(&Float::with_val(prec, 1), prec);
        let one_minus_k = if kv.hi == 0 { None } else { Some(one.sub(&kv, prec)) };
        Ok(Self { prec, h: hv, one_minus_k, one })
    }

    /// Working precision (bits).
    pub fn prec(&self) -> u32 {
        self.prec
    }

    /// Enclosure of $h$.
    pub fn h(&self) -> &Interval {
        &self.h
    }

    /// One step: $\mathbf X'=-((1+h\mathbf Y)\mathbf X)$, $\mathbf Y'=(1-k)\mathbf Y+h(1-\mathbf X^2)$.
    /// Contains the image of every point of `b` under the exact map.
    pub fn step(&self, b: &IBox) -> IBox {
        let p = self.prec;
        let a = self.one.add(&self.h.mul(&b.y, p), p);
        let x = a.mul(&b.x, p).neg();
        let s = self.one.sub(&b.x.sqr(p), p);
        let yk = match &self.one_minus_k {
            Some(q) => q.mul(&b.y, p),
            None => b.y.clone(),
        };
        let y = yk.add(&self.h.mul(&s, p), p);
        IBox { x, y }
    }
}

fn check_bits(prec: u32) -> Result<(), InputError> {
    if !(BITS_RANGE.0..=BITS_RANGE.1).contains(&prec) {
        return Err(InputError::Value {
            key: "bits".into(),
            msg: format!("must be in {}..={}, got {prec}", BITS_RANGE.0, BITS_RANGE.1),
        });
    }
    Ok(())
}

/// What to enclose (decimal text is parsed at the working precision, never via f64).
#[derive(Clone, Debug, Serialize)]
pub struct EncloseSpec {
    /// $h=\eta\sqrt\alpha$ (> 0).
    pub h: String,
    /// Damping k ∈ [0, 2) ("0": the undamped map).
    pub k: String,
    /// Box centre X₀.
    pub x0: String,
    /// Box centre Y₀.
    pub y0: String,
    /// Half-width r ≥ 0 of the box in both coordinates.
    pub radius: String,
    /// Steps N ≥ 1.
    pub steps: u64,
    /// Sub-boxes per axis m ≥ 1.
    pub split: u32,
    /// Working precision (bits).
    pub bits: u32,
    /// Stop (and certify only the steps before) when a sub-box's width in X or Y exceeds this.
    pub max_width: f64,
}

impl EncloseSpec {
    /// A spec with k = 0, no split, 256 bits and max_width = 1.
    pub fn new(h: &str, x0: &str, y0: &str, radius: &str, steps: u64) -> Self {
        Self {
            h: h.into(),
            k: "0".into(),
            x0: x0.into(),
            y0: y0.into(),
            radius: radius.into(),
            steps,
            split: 1,
            bits: 256,
            max_width: 1.0,
        }
    }
}

/// Bounds at one step (hull over sub-boxes; f64 values rounded outward).
#[derive(Clone, Debug, Serialize)]
pub struct StepRow {
    /// Step t.
    pub t: u64,
    /// Lower bound of X_t.
    pub x_lo: f64,
    /// Upper bound of X_t.
    pub x_hi: f64,
    /// Lower bound of Y_t.
    pub y_lo: f64,
    /// Upper bound of Y_t.
    pub y_hi: f64,
    /// Largest sub-box width in X (rounded up).
    pub width_x: f64,
    /// Largest sub-box width in Y (rounded up).
    pub width_y: f64,
    /// First-order prediction of `width_x`: $\lvert J\rvert$ products along each sub-box's midpoints.
    pub linear_width_x: f64,
    /// First-order prediction of `width_y`.
    pub linear_width_y: f64,
}

/// Result of [`enclose`].
#[derive(Clone, Debug, Serialize)]
pub struct Enclosure {
    /// The input.
    pub spec: EncloseSpec,
    /// One row per step t = 0..=certified_steps.
    pub rows: Vec<StepRow>,
    /// Full-precision hull per step (same indexing as `rows`).
    #[serde(skip)]
    pub hulls: Vec<IBox>,
    /// Steps certified (N, or fewer if the enclosure was lost).
    pub certified_steps: u64,
    /// Why fewer than N steps were certified.
    pub lost: Option<String>,
    /// A = max_t max |X_t| (outward).
    pub abs_x_max: f64,
    /// B₁ = min_t Y_t (outward).
    pub y_min: f64,
    /// B₂ = max_t Y_t (outward).
    pub y_max: f64,
    /// Fitted growth rate of ln(max(width_x, width_y)) per unit natural time τ = h·t.
    pub rate_measured: f64,
    /// The first-order law's rate: (1/τ_N) Σ_t ln ρ(|J(c_t)|) along the centre orbit.
    pub rate_law: f64,
    /// √2 · mean |X_t| along the centre orbit (the law's leading term).
    pub rate_leading: f64,
    /// ‖∏ J(c_t)‖₂ along the centre orbit: how far true orbits from the box spread (per unit width).
    pub point_spread: f64,
    /// ‖∏ |J(c_t)|‖₂: how far the interval widths spread (per unit width), first order.
    pub interval_spread: f64,
}

impl Enclosure {
    /// The proof statement for the certified horizon.
    pub fn statement(&self) -> String {
        let s = &self.spec;
        let k = if s.k.trim() == "0" { String::new() } else { format!(", k = {}", s.k) };
        format!(
            "For h = {}{k}, every orbit of the reduced map X' = -(1+hY)X, Y' = (1-k)Y + h(1-X^2) started in \
             [{} ± {}] × [{} ± {}] satisfies |X_t| ≤ {} and Y_t ∈ [{}, {}] for all t ≤ {} \
             (interval arithmetic at {} bits with outward rounding, {}×{} sub-boxes; computer-assisted proof \
             for this finite case){}",
            s.h,
            s.x0,
            s.radius,
            s.y0,
            s.radius,
            dec_up(self.abs_x_max),
            dec_down(self.y_min),
            dec_up(self.y_max),
            self.certified_steps,
            s.bits,
            s.split,
            s.split,
            match &self.lost {
                Some(why) => format!("; not certified beyond: {why}"),
                None => String::new(),
            }
        )
    }
}

/// A certified upper bound (an f64 already rounded outward) as decimal text that is ≥ it: the
/// shortest round-trip text `{:e}` can lie below the f64 (and so below the certified bound), so the
/// exact value is rounded up to 17 significant digits.
pub fn dec_up(x: f64) -> String {
    dec_round(x, Round::Up)
}

/// A certified lower bound as decimal text that is ≤ it (see [`dec_up`]).
pub fn dec_down(x: f64) -> String {
    dec_round(x, Round::Down)
}

fn dec_round(x: f64, r: Round) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{:e}", x + 0.0);
    }
    Float::with_val(53, x).to_string_radix_round(10, Some(17), r)
}

fn spectral_norm2(m: [[f64; 2]; 2]) -> f64 {
    // largest singular value of a 2×2 matrix
    let a = m[0][0] * m[0][0] + m[1][0] * m[1][0];
    let d = m[0][1] * m[0][1] + m[1][1] * m[1][1];
    let b = m[0][0] * m[0][1] + m[1][0] * m[1][1];
    let tr = a + d;
    let det = a * d - b * b;
    ((tr + ((tr * tr - 4.0 * det).max(0.0)).sqrt()) * 0.5).sqrt()
}

fn matmul2(a: [[f64; 2]; 2], b: [[f64; 2]; 2]) -> [[f64; 2]; 2] {
    [
        [a[0][0] * b[0][0] + a[0][1] * b[1][0], a[0][0] * b[0][1] + a[0][1] * b[1][1]],
        [a[1][0] * b[0][0] + a[1][1] * b[1][0], a[1][0] * b[0][1] + a[1][1] * b[1][1]],
    ]
}

fn renorm(m: &mut [[f64; 2]; 2], log_scale: &mut f64) {
    let s = m.iter().flatten().fold(0.0f64, |a, v| a.max(v.abs()));
    if s > 1e100 || (s < 1e-100 && s > 0.0) {
        for v in m.iter_mut().flatten() {
            *v /= s;
        }
        *log_scale += libm::log(s);
    }
}

/// Enclose the orbits of the reduced map from the box $(X_0\pm r)\times(Y_0\pm r)$ for `steps` steps.
///
/// Bad input (non-numeric or non-finite text, h ≤ 0, r < 0, k ∉ [0, 2), steps = 0 or more than
/// [`MAX_MEMORY`] allows, split ∉ 1..=[`MAX_SPLIT`], bits out of [`BITS_RANGE`], max_width ≤ 0, a
/// starting box wider than max_width) is an [`InputError`] naming it.
pub fn enclose(spec: &EncloseSpec) -> Result<Enclosure, Error> {
    let prec = spec.bits;
    let map = IntervalMap::new(&spec.h, &spec.k, prec)?;
    let x0 = Interval::from_decimal("x0", &spec.x0, prec)?;
    let y0 = Interval::from_decimal("y0", &spec.y0, prec)?;
    let r = Interval::from_decimal("radius", &spec.radius, prec)?;
    for (key, iv, text) in [("x0", &x0, &spec.x0), ("y0", &y0, &spec.y0), ("radius", &r, &spec.radius)] {
        // The widths and the centre orbit are tracked in f64 beside the MPFR intervals.
        if !(iv.is_finite() && iv.lo.to_f64().is_finite() && iv.hi.to_f64().is_finite()) {
            return Err(InputError::Value { key: key.into(), msg: format!("`{text}` lies outside the f64 range (|value| ≤ 1.8e308)") }.into());
        }
    }
    if r.lo < 0 {
        return Err(InputError::Value { key: "radius".into(), msg: format!("must be ≥ 0, got `{}`", spec.radius) }.into());
    }
    if spec.steps == 0 {
        return Err(InputError::Value { key: "steps".into(), msg: "must be ≥ 1".into() }.into());
    }
    let max_steps = MAX_MEMORY / bytes_per_step(prec);
    if spec.steps > max_steps {
        return Err(InputError::Value {
            key: "steps".into(),
            msg: format!(
                "must be ≤ {max_steps} at {prec} bits, got {}: every certified step keeps its row and interval hull in \
                 memory ({} bytes each; the limit is {} GiB)",
                spec.steps,
                bytes_per_step(prec),
                MAX_MEMORY >> 30
            ),
        }
        .into());
    }
    if !(1..=MAX_SPLIT).contains(&spec.split) {
        return Err(InputError::Value { key: "split".into(), msg: format!("must be in 1..={MAX_SPLIT}, got {}", spec.split) }.into());
    }
    if !(spec.max_width.is_finite() && spec.max_width > 0.0) {
        return Err(InputError::Value { key: "max_width".into(), msg: format!("must be finite and > 0, got {}", spec.max_width) }.into());
    }
    let b0 = IBox { x: Interval::ball(&x0, &r, prec), y: Interval::ball(&y0, &r, prec) };
    let mut boxes = b0.split(spec.split, prec);
    // First-order width prediction per sub-box (f64): w ← |J(mid)| w.
    let mut lin: Vec<[f64; 2]> = boxes
        .iter()
        .map(|b| [b.x.width(prec).to_f64_round(Round::Up), b.y.width(prec).to_f64_round(Round::Up)])
        .collect();
    let (hf, kf) = (map.h.mid_f64(), map.one_minus_k.as_ref().map_or(0.0, |q| 1.0 - q.mid_f64()));
    let jac = |x: f64, y: f64| [[-(1.0 + hf * y), -hf * x], [-2.0 * hf * x, 1.0 - kf]];

    let mut rows = Vec::new();
    let mut hulls = Vec::new();
    let mut lost = None;
    let (mut law_sum, mut abs_x_sum) = (0.0f64, 0.0f64);
    let (mut pj, mut pa) = ([[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]);
    let (mut pj_log, mut pa_log) = (0.0f64, 0.0f64);
    let centre = (b0.x.mid_f64(), b0.y.mid_f64());
    let mut c = centre;
    let mut abs_x_max = Float::with_val(prec, 0);
    let (mut y_min, mut y_max) = (b0.y.lo.clone(), b0.y.hi.clone());
    let mut saved = (law_sum, abs_x_sum, pj, pa, pj_log, pa_log);
    // A long enclosure shows its step (in place on a terminal every 100 steps, else a line every
    // 30 s): 10⁵ steps of 256 sub-boxes take hours.
    let mut ticker = crate::progress::Ticker::new(100);
    let clock = std::time::Instant::now();
    for t in 0..=spec.steps {
        if t > 0 && clock.elapsed().as_secs_f64() >= 2.0 {
            ticker.show(t, || format!("enclose: step {t} of {}, {} sub-boxes, {:.0} s", spec.steps, boxes.len(), clock.elapsed().as_secs_f64()));
        }
        if t > 0 {
            saved = (law_sum, abs_x_sum, pj, pa, pj_log, pa_log);
            for (b, w) in boxes.iter_mut().zip(lin.iter_mut()) {
                let j = jac(b.x.mid_f64(), b.y.mid_f64());
                *w = [j[0][0].abs() * w[0] + j[0][1].abs() * w[1], j[1][0].abs() * w[0] + j[1][1].abs() * w[1]];
                *b = map.step(b);
            }
            // centre orbit (f64) for the law and the spreads
            let j = jac(c.0, c.1);
            let ja = j.map(|r| r.map(f64::abs));
            let rho = {
                let (a, d, bc) = (ja[0][0], ja[1][1], ja[0][1] * ja[1][0]);
                0.5 * (a + d) + (0.25 * (a - d) * (a - d) + bc).sqrt()
            };
            law_sum += libm::log(rho);
            abs_x_sum += c.0.abs();
            pj = matmul2(j, pj);
            pa = matmul2(ja, pa);
            renorm(&mut pj, &mut pj_log);
            renorm(&mut pa, &mut pa_log);
            c = (-(1.0 + hf * c.1) * c.0, (1.0 - kf) * c.1 + hf * (1.0 - c.0 * c.0));
        }
        let mut hull = boxes[0].clone();
        let (mut wx, mut wy) = (0.0f64, 0.0f64);
        let (mut lx, mut ly) = (0.0f64, 0.0f64);
        let mut finite = true;
        for (b, w) in boxes.iter().zip(&lin) {
            // The reported bounds are f64 values rounded outward: a box must also stay within f64's
            // range, or |X_t| ≤ inf would be "certified" (fuzz review).
            finite &= [&b.x, &b.y].iter().all(|iv| iv.is_finite() && iv.lo.to_f64_round(Round::Down).is_finite() && iv.hi.to_f64_round(Round::Up).is_finite());
            hull = hull.hull(b);
            wx = wx.max(b.x.width(prec).to_f64_round(Round::Up));
            wy = wy.max(b.y.width(prec).to_f64_round(Round::Up));
            lx = lx.max(w[0]);
            ly = ly.max(w[1]);
        }
        if !(finite && wx <= spec.max_width && wy <= spec.max_width) {
            lost = Some(if finite {
                format!("at step {t} a sub-box width (X {wx:e}, Y {wy:e}) exceeds max_width {:e}", spec.max_width)
            } else {
                format!("at step {t} a sub-box bound is not finite or leaves the f64 range (the bounds are reported in f64)")
            });
            // the centre-orbit quantities cover the certified steps only
            (law_sum, abs_x_sum, pj, pa, pj_log, pa_log) = saved;
            break;
        }
        let ax = if -hull.x.lo.clone() > hull.x.hi { -hull.x.lo.clone() } else { hull.x.hi.clone() };
        if ax > abs_x_max {
            abs_x_max = ax;
        }
        if hull.y.lo < y_min {
            y_min = hull.y.lo.clone();
        }
        if hull.y.hi > y_max {
            y_max = hull.y.hi.clone();
        }
        let (x_lo, x_hi) = hull.x.to_f64_outward();
        let (y_lo, y_hi) = hull.y.to_f64_outward();
        rows.push(StepRow { t, x_lo, x_hi, y_lo, y_hi, width_x: wx, width_y: wy, linear_width_x: lx, linear_width_y: ly });
        hulls.push(hull);
    }
    if rows.is_empty() {
        // Not even the starting sub-boxes fit: nothing is certified, not even t = 0.
        return Err(InputError::Value {
            key: "x0/y0/radius".into(),
            msg: format!(
                "the starting box (x0, y0) ± radius is not certified even at t = 0 ({}): use a smaller radius, a finer split, a larger max_width, or a start of moderate size",
                lost.unwrap_or_default()
            ),
        }
        .into());
    }
    let certified_steps = rows.len() as u64 - 1;
    // Fit ln(max width) against τ over the certified steps (least squares).
    let pts: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.width_x.max(r.width_y) > 0.0)
        .map(|r| (hf * r.t as f64, libm::log(r.width_x.max(r.width_y))))
        .collect();
    let rate_measured = if pts.len() >= 2 {
        let n = pts.len() as f64;
        let (mx, my) = (pts.iter().map(|p| p.0).sum::<f64>() / n, pts.iter().map(|p| p.1).sum::<f64>() / n);
        let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        sxy / sxx
    } else {
        f64::NAN
    };
    let tau = hf * certified_steps.max(1) as f64;
    Ok(Enclosure {
        spec: spec.clone(),
        rows,
        hulls,
        certified_steps,
        lost,
        abs_x_max: abs_x_max.to_f64_round(Round::Up),
        y_min: y_min.to_f64_round(Round::Down),
        y_max: y_max.to_f64_round(Round::Up),
        rate_measured,
        // Undefined without a certified step (NaN: "—" in summary.md, null in summary.json).
        rate_law: if certified_steps == 0 { f64::NAN } else { law_sum / tau },
        rate_leading: if certified_steps == 0 { f64::NAN } else { std::f64::consts::SQRT_2 * abs_x_sum / certified_steps as f64 },
        point_spread: spectral_norm2(pj) * libm::exp(pj_log),
        interval_spread: spectral_norm2(pa) * libm::exp(pa_log),
    })
}

/// `enclosure.csv`: one row per step.
pub fn csv(e: &Enclosure) -> String {
    let mut s = String::from("t,x_lo,x_hi,y_lo,y_hi,width_x,width_y,linear_width_x,linear_width_y\n");
    for r in &e.rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{:e},{:e}",
            r.t,
            dec_down(r.x_lo),
            dec_up(r.x_hi),
            dec_down(r.y_lo),
            dec_up(r.y_hi),
            dec_up(r.width_x),
            dec_up(r.width_y),
            r.linear_width_x,
            r.linear_width_y
        );
    }
    s
}

/// `summary.md`: the proof statement and the width growth law.
pub fn markdown(e: &Enclosure) -> String {
    let last = e.rows.last().expect("at least the initial row");
    let first = &e.rows[0];
    // A rate is undefined with fewer than two certified steps: "—", not NaN.
    let rate = |x: f64| if x.is_finite() { format!("{x:.4}") } else { "—".into() };
    format!(
        "# Certified enclosure of the reduced map\n\n{}.\n\n\
         | quantity | value |\n|---|---|\n\
         | certified steps | {} of {} |\n| A = max \\|X_t\\| | {} |\n| B₁ = min Y_t | {} |\n| B₂ = max Y_t | {} |\n\
         | width at t = 0 (X, Y) | {}, {} |\n{}\
         | growth rate of ln width per unit τ = ht (fit) | {} |\n\
         | first-order law (1/τ) Σ ln ρ(\\|J\\|) | {} |\n| leading term √2·mean\\|X\\| | {} |\n\
         | ‖∏\\|J\\|‖ (interval spread) | {:e} |\n| ‖∏J‖ (point-orbit spread) | {:e} |\n",
        e.statement(),
        e.certified_steps,
        e.spec.steps,
        dec_up(e.abs_x_max),
        dec_down(e.y_min),
        dec_up(e.y_max),
        dec_up(first.width_x),
        dec_up(first.width_y),
        // The last certified step's widths (none beyond t = 0 when no step is certified).
        if last.t > 0 { format!("| width at t = {} (X, Y) | {}, {} |\n", last.t, dec_up(last.width_x), dec_up(last.width_y)) } else { String::new() },
        rate(e.rate_measured),
        rate(e.rate_law),
        rate(e.rate_leading),
        e.interval_spread,
        e.point_spread,
    )
}

/// Write `enclosure.csv`, `summary.md` and `summary.json` into `out` (created). An earlier set there
/// is removed first, so that a job killed (or failing, a full disk) while writing leaves part of its
/// own set, never its files beside another job's (review).
pub fn write(e: &Enclosure, out: &Path) -> Result<(), Error> {
    crate::npy::create_out_dir(out)?;
    crate::npy::remove_outputs(out, ["enclosure.csv", "summary.md", "summary.json"]);
    write_atomic(&out.join("enclosure.csv"), csv(e).as_bytes())?;
    write_atomic(&out.join("summary.md"), markdown(e).as_bytes())?;
    let mut v = serde_json::to_value(e).expect("serialisable");
    if let Some(o) = v.as_object_mut() {
        o.remove("rows");
        o.insert("statement".into(), e.statement().into());
        // The bounds are f64 values rounded outward from MPFR: read as f64 they are the certified
        // bounds, but their shortest decimals (which JSON holds) may lie up to half an ulp inside.
        // The `_decimal` twins are decimals rounded outward, the statement's digits.
        o.insert("abs_x_max_decimal".into(), dec_up(e.abs_x_max).into());
        o.insert("y_min_decimal".into(), dec_down(e.y_min).into());
        o.insert("y_max_decimal".into(), dec_up(e.y_max).into());
    }
    write_atomic(&out.join("summary.json"), serde_json::to_string_pretty(&v).expect("json").as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_enclosure_brackets_the_decimal_and_is_one_ulp_wide() {
        let iv = Interval::from_decimal("h", "0.1", 64).unwrap();
        assert!(iv.lo < iv.hi, "0.1 is not dyadic, so the enclosure has two endpoints");
        // 10·lo < 1 < 10·hi, computed exactly (64 + 4 bits hold the products)
        let ten = Float::with_val(64, 10);
        assert!(Float::with_val(68, &iv.lo * &ten) < 1 && Float::with_val(68, &iv.hi * &ten) > 1);
        // one ulp at 64 bits around 0.1 is 2^-67
        let w = iv.width(64).to_f64();
        assert!((w - 2f64.powi(-67)).abs() <= 2f64.powi(-70), "{w:e}");
        let two = Interval::from_decimal("h", "2", 64).unwrap();
        assert_eq!(two.lo, two.hi);
    }

    #[test]
    fn square_is_sharp_and_product_contains_all_endpoint_products() {
        let p = 64;
        let a = Interval { lo: Float::with_val(p, -1), hi: Float::with_val(p, 3) };
        let s = a.sqr(p);
        assert_eq!((s.lo.to_f64(), s.hi.to_f64()), (0.0, 9.0));
        let b = Interval { lo: Float::with_val(p, -2), hi: Float::with_val(p, 0.5) };
        let m = a.mul(&b, p);
        assert_eq!((m.lo.to_f64(), m.hi.to_f64()), (-6.0, 2.0));
    }

    #[test]
    fn split_covers_the_box() {
        let p = 80;
        let r = Interval::from_decimal("r", "0.3", p).unwrap();
        let c = Interval::from_decimal("c", "0.7", p).unwrap();
        let b = IBox { x: Interval::ball(&c, &r, p), y: Interval::ball(&c, &r, p) };
        let parts = b.split(7, p);
        assert_eq!(parts.len(), 49);
        // consecutive sub-intervals along each axis overlap or touch, and the ends are the box's
        for i in 0..7 {
            let xi = &parts[i * 7].x;
            if i == 0 {
                assert_eq!(xi.lo, b.x.lo);
            } else {
                assert!(xi.lo <= parts[(i - 1) * 7].x.hi);
            }
            let yi = &parts[i].y;
            if i == 6 {
                assert_eq!(yi.hi, b.y.hi);
            }
        }
        assert_eq!(parts[48].x.hi, b.x.hi);
    }
}
