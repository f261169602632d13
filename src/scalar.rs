//! The scalar abstraction: every numeric routine of the crate is written once over [`Scalar`] and
//! runs in IEEE `f64` and in MPFR (`rug::Float`) at a precision chosen at run time.
//!
//! Design (see `theory/README.md` §Numerics and the style notes it cites):
//! - no `Copy`: arithmetic goes through by-reference operators (`a + &b`, `a += &b`);
//! - the precision is a *context* ([`Scalar::Ctx`]: `()` for f64, the number of bits for MPFR) that
//!   every constructor takes explicitly, so 256- and 512-bit runs can coexist;
//! - decimal constants (η, model constants) are parsed from their text at the working precision
//!   ([`Scalar::parse`]), never lifted from the nearest f64;
//! - f64 elementary functions come from the pure-Rust `libm` crate, so the generic f64 path gives the
//!   same bits on every x86-64 machine; MPFR is correctly rounded, so its results are the same on any
//!   machine;
//! - [`count_mpfr_ops`] counts the MPFR multiply-adds and tanh of a computation (the cost measure of
//!   the 256-bit bench rows, `benches/RESULTS.md` "Session 38").

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use rug::Float;

use crate::mag::Mag;

/// Smallest and largest MPFR precision (bits) a run accepts.
pub const MIN_BITS: u32 = 53;
/// Largest MPFR precision (bits) a run accepts. The engine holds its tolerances (2^(16 − bits) by
/// default) and the eigen solver's thresholds (eps = 2^(1 − bits)) as [`Mag`]s, which keep their
/// exponent at any precision (as f64s they would round to 0 above ≈ 1,070 bits, the cap before);
/// the bound only keeps a typo from asking for hours per operation (a 65,536-bit multiply-add
/// costs ≈ 1,000 times a 256-bit one). (`enclose` has its own range.)
pub const MAX_BITS: u32 = 65_536;

/// A real scalar with an explicit precision context.
pub trait Scalar:
    Clone
    + PartialOrd
    + PartialEq
    + Debug
    + Send
    + Sync
    + 'static
    + serde::Serialize
    + serde::de::DeserializeOwned
    + Neg<Output = Self>
    + for<'a> Add<&'a Self, Output = Self>
    + for<'a> Sub<&'a Self, Output = Self>
    + for<'a> Mul<&'a Self, Output = Self>
    + for<'a> Div<&'a Self, Output = Self>
    + for<'a> AddAssign<&'a Self>
    + for<'a> SubAssign<&'a Self>
    + for<'a> MulAssign<&'a Self>
    + for<'a> DivAssign<&'a Self>
{
    /// Precision context: `()` for f64, bits for MPFR.
    type Ctx: Copy + Debug + PartialEq + Send + Sync + 'static;
    /// The context of this value.
    fn ctx(&self) -> Self::Ctx;
    /// Exact conversion of an f64 (never use it for decimal literals: see [`Scalar::parse`]).
    fn from_f64(x: f64, c: Self::Ctx) -> Self;
    /// Exact conversion of a small integer.
    fn from_i64(n: i64, c: Self::Ctx) -> Self;
    /// Parse a decimal literal, correctly rounded to the working precision.
    fn parse(dec: &str, c: Self::Ctx) -> Result<Self, String>;
    /// Machine epsilon 2^(1-bits) of the context.
    fn eps(c: Self::Ctx) -> f64;
    /// Significand bits of the context.
    fn bits(c: Self::Ctx) -> u32;
    /// Human-readable precision: `"f64"` or the number of bits.
    fn precision_name(c: Self::Ctx) -> String;
    /// The context of this kind with `bits` significant bits (MPFR; f64 has one context and
    /// returns it). The eigen solver's small eigenproblem refines at increasing precision with it.
    fn ctx_with_bits(c: Self::Ctx, _bits: u32) -> Self::Ctx {
        c
    }
    /// This value correctly rounded to the context `c` (exact when `c` has at least this value's
    /// precision).
    fn round_to(&self, c: Self::Ctx) -> Self;
    /// `Err` naming the problem when `c` is not a valid context (MPFR: bits outside
    /// `rug::float::prec_min()..=prec_max()`, where rug would panic). Models check it on construction.
    fn check_ctx(_c: Self::Ctx) -> Result<(), String> {
        Ok(())
    }
    /// Nearest f64 (for reports only).
    fn to_f64(&self) -> f64;
    /// The value rounded to 53 significant bits with its exponent kept whole (the engine's
    /// tolerance comparisons: [`Mag`] equals the f64 ratio where that is a normal f64).
    fn to_mag(&self) -> Mag;
    /// Exact conversion of a [`Mag`] (f64: the nearest f64).
    fn from_mag(x: Mag, c: Self::Ctx) -> Self;
    /// [`Scalar::eps`] with its exponent kept whole: 2^(1 − bits) at any MPFR precision.
    fn eps_mag(c: Self::Ctx) -> Mag {
        Mag::pow2(1 - Self::bits(c) as i64)
    }
    /// All significant digits as a decimal string (round-trips).
    fn to_decimal(&self) -> String;
    /// `self += a·b` in place (one rounding for MPFR; two for the generic f64 path, which stays
    /// bit-identical across machines).
    fn mul_acc(&mut self, a: &Self, b: &Self);
    /// Overwrite with `other`'s value, keeping this value's precision.
    fn assign_from(&mut self, other: &Self);
    /// Overwrite with zero.
    fn set_zero(&mut self);
    /// Overwrite with 0 + a·b: [`Scalar::set_zero`] then [`Scalar::mul_acc`] (the zero-then-accumulate
    /// of a first product; f64 forms the value before its one store).
    #[inline(always)]
    fn set_mul(&mut self, a: &Self, b: &Self) {
        self.set_zero();
        self.mul_acc(a, b);
    }
    /// √x.
    fn sqrt(&self) -> Self;
    /// eˣ.
    fn exp(&self) -> Self;
    /// ln x.
    fn ln(&self) -> Self;
    /// tanh x.
    fn tanh(&self) -> Self;
    /// erf x.
    fn erf(&self) -> Self;
    /// |x|.
    fn abs(&self) -> Self;
    /// Finite (not NaN, not ±∞).
    fn is_finite(&self) -> bool;
    /// Zero of the context.
    fn zero(c: Self::Ctx) -> Self {
        Self::from_i64(0, c)
    }
    /// One of the context.
    fn one(c: Self::Ctx) -> Self {
        Self::from_i64(1, c)
    }
    /// π at the working precision.
    fn pi(c: Self::Ctx) -> Self;
    /// Matrix product `C (+)= op(A)·op(B)` on row-major buffers; A is m×k after `op`, B is k×n.
    /// The default is the generic fixed-order loop; f64 may override with a faster kernel when
    /// `fast` is set (the fast kernel's summation order depends on the CPU's SIMD width).
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        c: &mut [Self],
        a: &[Self],
        ta: bool,
        b: &[Self],
        tb: bool,
        (m, k, n): (usize, usize, usize),
        accumulate: bool,
        _fast: bool,
    ) {
        crate::linalg::gemm_generic(c, a, ta, b, tb, (m, k, n), accumulate);
    }
    /// The dot products x·y_j of whole vectors in the lane-split order of
    /// [`crate::linalg::dots`] (f64), or None for one chain per sum in index order (the default).
    fn dots_lanes(_x: &[Self], _ys: &[&[Self]]) -> Option<Vec<Self>> {
        None
    }
}

/// [`Scalar::check_ctx`] as an input error (key `precision`): what model constructors call first.
pub fn check_precision<S: Scalar>(c: S::Ctx) -> Result<(), crate::error::InputError> {
    S::check_ctx(c).map_err(|msg| crate::error::InputError::Value { key: "precision".into(), msg })
}

/// [`check_precision`] for an objective the engine runs on (the models' constructors): at most
/// [`MAX_BITS`]. The reduced map, which has no tolerances, takes any precision MPFR does.
pub fn check_model_precision<S: Scalar>(c: S::Ctx) -> Result<(), crate::error::InputError> {
    check_precision::<S>(c)?;
    if S::bits(c) > MAX_BITS {
        return Err(crate::error::InputError::Value {
            key: "precision".into(),
            msg: format!("an objective's MPFR precision must be at most {MAX_BITS} bits, got {}", S::bits(c)),
        });
    }
    Ok(())
}

impl Scalar for f64 {
    type Ctx = ();
    fn ctx(&self) {}
    fn from_f64(x: f64, _: ()) -> Self {
        x
    }
    fn from_i64(n: i64, _: ()) -> Self {
        n as f64
    }
    fn parse(dec: &str, _: ()) -> Result<Self, String> {
        dec.trim().parse::<f64>().map_err(|e| format!("`{dec}` is not a number ({e})"))
    }
    fn eps(_: ()) -> f64 {
        f64::EPSILON
    }
    fn bits(_: ()) -> u32 {
        53
    }
    fn precision_name(_: ()) -> String {
        "f64".into()
    }
    fn to_f64(&self) -> f64 {
        *self
    }
    fn to_mag(&self) -> Mag {
        Mag::new(*self)
    }
    fn from_mag(x: Mag, _: ()) -> Self {
        x.to_f64()
    }
    fn eps_mag(_: ()) -> Mag {
        Mag::new(f64::EPSILON)
    }
    fn to_decimal(&self) -> String {
        format!("{self:e}")
    }
    #[inline(always)]
    fn mul_acc(&mut self, a: &Self, b: &Self) {
        *self += a * b;
    }
    #[inline(always)]
    fn assign_from(&mut self, other: &Self) {
        *self = *other;
    }
    fn round_to(&self, _: ()) -> Self {
        *self
    }
    #[inline(always)]
    fn set_zero(&mut self) {
        *self = 0.0;
    }
    #[inline(always)]
    fn set_mul(&mut self, a: &Self, b: &Self) {
        *self = 0.0 + a * b;
    }
    fn sqrt(&self) -> Self {
        libm::sqrt(*self)
    }
    fn exp(&self) -> Self {
        libm::exp(*self)
    }
    fn ln(&self) -> Self {
        libm::log(*self)
    }
    fn tanh(&self) -> Self {
        libm::tanh(*self)
    }
    fn erf(&self) -> Self {
        libm::erf(*self)
    }
    fn abs(&self) -> Self {
        f64::abs(*self)
    }
    fn is_finite(&self) -> bool {
        f64::is_finite(*self)
    }
    fn pi(_: ()) -> Self {
        std::f64::consts::PI
    }
    fn gemm(
        c: &mut [Self],
        a: &[Self],
        ta: bool,
        b: &[Self],
        tb: bool,
        (m, k, n): (usize, usize, usize),
        accumulate: bool,
        fast: bool,
    ) {
        if fast && m * k * n >= 4096 {
            crate::linalg::gemm_faer(c, a, ta, b, tb, (m, k, n), accumulate);
        } else {
            crate::linalg::gemm_generic(c, a, ta, b, tb, (m, k, n), accumulate);
        }
    }
    fn dots_lanes(x: &[Self], ys: &[&[Self]]) -> Option<Vec<Self>> {
        Some(crate::linalg::dots_lanes_f64(x, ys))
    }
}

impl Scalar for Float {
    type Ctx = u32;
    fn ctx(&self) -> u32 {
        self.prec()
    }
    fn from_f64(x: f64, c: u32) -> Self {
        Float::with_val(c, x)
    }
    fn from_i64(n: i64, c: u32) -> Self {
        Float::with_val(c, n)
    }
    fn parse(dec: &str, c: u32) -> Result<Self, String> {
        <Float as Scalar>::check_ctx(c)?;
        Float::parse(dec.trim())
            .map(|p| Float::with_val(c, p))
            .map_err(|e| format!("`{dec}` is not a number ({e})"))
    }
    fn eps(c: u32) -> f64 {
        libm::ldexp(1.0, 1 - c as i32)
    }
    fn bits(c: u32) -> u32 {
        c
    }
    fn precision_name(c: u32) -> String {
        c.to_string()
    }
    fn ctx_with_bits(_: u32, bits: u32) -> u32 {
        bits
    }
    fn round_to(&self, c: u32) -> Self {
        Float::with_val(c, self)
    }
    fn check_ctx(c: u32) -> Result<(), String> {
        let (lo, hi) = (rug::float::prec_min(), rug::float::prec_max());
        if (lo..=hi).contains(&c) { Ok(()) } else { Err(format!("an MPFR precision must be {lo}..={hi} bits, got {c}")) }
    }
    fn to_f64(&self) -> f64 {
        Float::to_f64(self)
    }
    fn to_mag(&self) -> Mag {
        Mag::of_float(self)
    }
    fn from_mag(x: Mag, c: u32) -> Self {
        x.to_float(c)
    }
    fn to_decimal(&self) -> String {
        self.to_string_radix(10, None)
    }
    #[inline]
    fn mul_acc(&mut self, a: &Self, b: &Self) {
        debug_assert!(a.prec() == self.prec() && b.prec() == self.prec());
        ops::tally_muladd(a, b);
        *self += a * b;
    }
    #[inline]
    fn assign_from(&mut self, other: &Self) {
        use rug::Assign;
        self.assign(other);
    }
    #[inline]
    fn set_zero(&mut self) {
        use rug::Assign;
        self.assign(0);
    }
    fn sqrt(&self) -> Self {
        Float::with_val(self.prec(), self.sqrt_ref())
    }
    fn exp(&self) -> Self {
        Float::with_val(self.prec(), self.exp_ref())
    }
    fn ln(&self) -> Self {
        Float::with_val(self.prec(), self.ln_ref())
    }
    fn tanh(&self) -> Self {
        ops::tally(&ops::TANH);
        Float::with_val(self.prec(), self.tanh_ref())
    }
    fn erf(&self) -> Self {
        Float::with_val(self.prec(), self.erf_ref())
    }
    fn abs(&self) -> Self {
        Float::with_val(self.prec(), self.abs_ref())
    }
    fn is_finite(&self) -> bool {
        Float::is_finite(self)
    }
    fn pi(c: u32) -> Self {
        Float::with_val(c, rug::float::Constant::Pi)
    }
}

/// The MPFR operations of a computation, counted by [`count_mpfr_ops`]: the engine's cost measure at
/// arbitrary precision where its work has no closed form (an eigen solve, a projection, a tracking
/// step), as PETSc's `PetscLogFlops` counts the work of its solvers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MpfrOps {
    /// Multiply-adds `x += a·b` ([`Scalar::mul_acc`], also under [`Scalar::set_mul`]): every matrix
    /// product, dot product, linear combination and axpy of the MPFR path. Elementwise products
    /// and sums written with the arithmetic operators are not counted.
    pub muladds: u64,
    /// Of those, the ones with a zero operand, on which MPFR returns early (≈ 6 ns against ≈ 45 ns
    /// at 256 bits): `muladds − zero_operand` is the work done at full cost.
    pub zero_operand: u64,
    /// tanh evaluations ([`Scalar::tanh`]).
    pub tanh: u64,
}

/// Runs `f` and counts the MPFR multiply-adds and tanh it issues, on every thread (the engine's
/// two-thread passes included). Counting scopes on different threads run one at a time; a scope
/// nested in another on the same thread returns the inner computation's own count and adds it to
/// the outer one's (a scope that `f` opens on another thread waits for `f`'s own scope to end:
/// `f` must not wait for it). Operations of other threads that run MPFR code at the same time,
/// outside any scope, are counted too: count a computation while it is the process's only MPFR
/// work. Outside a scope the cost is one relaxed atomic load per operation (within the noise of a
/// 256-bit multiply-add's ≈ 45 ns).
///
/// Multiply-adds with a zero operand, on which MPFR returns early (≈ 6 ns against ≈ 45 ns at 256
/// bits), are counted apart too ([`MpfrOps::zero_operand`]): on the digits data, whose constant
/// pixels standardise to exactly 0, about 8 % of an eigen solve's multiply-adds are such
/// (benches/RESULTS.md "Session 38").
pub fn count_mpfr_ops<R>(f: impl FnOnce() -> R) -> (R, MpfrOps) {
    ops::scope(f)
}

mod ops {
    use std::cell::Cell;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

    use super::MpfrOps;

    static ON: AtomicBool = AtomicBool::new(false);
    static MULADDS: AtomicU64 = AtomicU64::new(0);
    static ZERO_OPERAND: AtomicU64 = AtomicU64::new(0);
    pub(super) static TANH: AtomicU64 = AtomicU64::new(0);
    /// Serialises the outermost scopes of different threads.
    static OUTER: Mutex<()> = Mutex::new(());

    thread_local! {
        /// Whether this thread is inside a scope (a nested scope does not take [`OUTER`] again).
        static INSIDE: Cell<bool> = const { Cell::new(false) };
    }

    #[inline(always)]
    pub(super) fn tally(counter: &AtomicU64) {
        if ON.load(Relaxed) {
            counter.fetch_add(1, Relaxed);
        }
    }

    /// [`tally`] for a multiply-add of `a` and `b`, also counting it apart when an operand is 0.
    #[inline(always)]
    pub(super) fn tally_muladd(a: &rug::Float, b: &rug::Float) {
        if ON.load(Relaxed) {
            MULADDS.fetch_add(1, Relaxed);
            if a.is_zero() || b.is_zero() {
                ZERO_OPERAND.fetch_add(1, Relaxed);
            }
        }
    }

    fn now() -> MpfrOps {
        MpfrOps { muladds: MULADDS.load(Relaxed), zero_operand: ZERO_OPERAND.load(Relaxed), tanh: TANH.load(Relaxed) }
    }

    /// Leaves the scope however `f` ends (a panic included): counting off, the thread outside.
    struct Leave {
        outer: bool,
    }

    impl Drop for Leave {
        fn drop(&mut self) {
            if self.outer {
                ON.store(false, Relaxed);
                INSIDE.with(|c| c.set(false));
            }
        }
    }

    pub(super) fn scope<R>(f: impl FnOnce() -> R) -> (R, MpfrOps) {
        let outer = !INSIDE.with(Cell::get);
        // A panic inside another thread's scope poisons the lock; its counters are still consistent.
        let _lock = outer.then(|| OUTER.lock().unwrap_or_else(|e| e.into_inner()));
        if outer {
            INSIDE.with(|c| c.set(true));
            ON.store(true, Relaxed);
        }
        let leave = Leave { outer };
        let before = now();
        let r = f();
        let after = now();
        drop(leave);
        let ops = MpfrOps {
            muladds: after.muladds - before.muladds,
            zero_operand: after.zero_operand - before.zero_operand,
            tanh: after.tanh - before.tanh,
        };
        (r, ops)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// A scope that panics ends: counting off (outside a scope an operation pays only the flag's
        /// load) and this thread outside (its next scope takes the lock as an outer one). Counts
        /// are differences, so a flag left on would not show in them.
        #[test]
        fn a_panicking_scope_turns_counting_off() {
            let caught = std::panic::catch_unwind(|| scope(|| -> () { panic!("inside a counting scope") }));
            assert!(caught.is_err());
            assert!(!ON.load(Relaxed), "counting left on after a panic");
            assert!(!INSIDE.with(Cell::get), "thread left inside a scope after a panic");
            let ((), _) = scope(|| assert!(ON.load(Relaxed) && INSIDE.with(Cell::get)));
            assert!(!ON.load(Relaxed) && !INSIDE.with(Cell::get));
        }
    }
}

/// Precision of a run, as configured (`--precision f64` or `--precision BITS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Precision {
    /// IEEE binary64.
    F64,
    /// MPFR with this many significand bits.
    Bits(u32),
}

impl Precision {
    /// Parse `f64` or a number of bits in `MIN_BITS..=MAX_BITS`.
    pub fn parse(s: &str) -> Result<Self, crate::error::InputError> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("f64") {
            return Ok(Precision::F64);
        }
        match t.parse::<u32>() {
            Ok(b) if (MIN_BITS..=MAX_BITS).contains(&b) => Ok(Precision::Bits(b)),
            _ => Err(crate::error::InputError::Precision(s.to_string())),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Precision::F64 => write!(f, "f64"),
            Precision::Bits(b) => write!(f, "{b}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// f64 fast path: a vectorisable tanh (used by `Mlp` when `set_fast(true)`, never by the generic path).

#[allow(clippy::excessive_precision)] // fdlibm's constants, digits as published
const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1; // ln 2 with 21 trailing zero bits (k·LN2_HI exact)
#[allow(clippy::excessive_precision)]
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10; // ln 2 − LN2_HI
/// 1.5·2^52: adding it to |v| < 2^51 rounds v to an integer held in the low mantissa bits.
const SHIFT: f64 = 6_755_399_441_055_744.0;
/// q(r) ≈ (expm1(r) − r)/r² on [0, ln 2]: ascending coefficients of a degree-10 near-minimax
/// polynomial (Chebyshev fit at 60 digits, rounded to f64). Max |error| 3.5e-18 with the rounded
/// coefficients, so expm1(r) ≈ r + r²·q(r) within 1.7e-18 relative (0.0075 ε) before roundings.
const EXPM1_Q: [f64; 11] = [
    0.5,
    0.166_666_666_666_666_05,
    0.041_666_666_666_702_684,
    0.008_333_333_332_524_348,
    0.001_388_888_898_197_306,
    0.000_198_412_636_020_396_67,
    2.480_184_749_354_062e-5,
    2.755_037_205_312_894e-6,
    2.767_586_079_609_661_6e-7,
    2.380_887_071_077_899_2e-8,
    2.805_876_037_821_243e-9,
];

/// tanh x for the f64 fast path, branch-free so that loops over it vectorise:
/// tanh|x| = e/(e + 2) with e = expm1(2|x|), sign restored (tanh(±0) = ±0, NaN → NaN, ±∞ → ±1).
///
/// expm1(y), y = 2·min(|x|, 20) (tanh 20 rounds to 1): y = k ln 2 + r with k = ⌊y/ln 2⌉ − ½ rounded,
/// so r ∈ [≈0, ln 2) (Cody–Waite, exact products k·LN2_HI); expm1(r) = r + r²·q(r) with q the
/// degree-10 polynomial [`EXPM1_Q`] by Horner's rule; expm1(y) = 2^k·expm1(r) + (2^k − 1), a sum
/// of non-negative terms, so no cancellation. Only IEEE +, −, ×, ÷ and fused multiply-adds
/// (`f64::mul_add`, correctly rounded: a `vfmadd` inside the SIMD dispatch of
/// [`tanh_fast_slice`], the C library's exact `fma` elsewhere): the same bits on every x86-64
/// machine and at every SIMD width. Error against the correctly rounded tanh: ≤ 2 ulp (measured max
/// 2 ulp; `tanh_fast_matches_correctly_rounded_tanh`).
#[inline(always)]
pub fn tanh_fast(x: f64) -> f64 {
    let (r, kbits) = tanh_reduce(x);
    let mut q = EXPM1_Q[10];
    for c in EXPM1_Q[..10].iter().rev() {
        q = q.mul_add(r, *c);
    }
    tanh_finish(x, r, q, kbits)
}

/// [`tanh_fast`]'s argument reduction: r and the bits of k (0..=58; garbage for NaN) with
/// 2·min(|x|, 20) = k ln 2 + r.
#[inline(always)]
fn tanh_reduce(x: f64) -> (f64, u64) {
    let a = x.abs();
    let y = 2.0 * if a > 20.0 { 20.0 } else { a }; // NaN fails the comparison and passes through
    let shifted = (y * std::f64::consts::LOG2_E - 0.5) + SHIFT;
    let kf = shifted - SHIFT;
    let kbits = shifted.to_bits().wrapping_sub(SHIFT.to_bits());
    ((-kf).mul_add(LN2_LO, (-kf).mul_add(LN2_HI, y)), kbits)
}

/// [`tanh_fast`] from the reduced argument r, q(r) and k.
#[inline(always)]
fn tanh_finish(x: f64, r: f64, q: f64, kbits: u64) -> f64 {
    let em = (r * r).mul_add(q, r); // expm1(r)
    let two_k = f64::from_bits(kbits.wrapping_add(1023) << 52);
    let e = two_k.mul_add(em, two_k - 1.0);
    (e / (e + 2.0)).copysign(x)
}

/// out\[i\] = [`tanh_fast`](x[i]): a branch-free loop run through `pulp::Arch::dispatch` (faer's safe
/// SIMD layer, already in the dependency tree; no `unsafe` here), so it is compiled for AVX2 /
/// AVX-512 (with FMA) when the CPU has them; the bits equal the scalar function's (tested).
///
/// The bulk runs [`TANH_LANES`] entries at a time, each step of [`tanh_fast`] applied across the
/// lanes before the next: the Horner chain is latency-bound, and independent lanes give the core
/// several vectors in flight. Every entry gets exactly [`tanh_fast`]'s operations (same bits); the
/// remainder uses the scalar function.
pub fn tanh_fast_slice(x: &[f64], out: &mut [f64]) {
    assert_eq!(x.len(), out.len(), "tanh_fast_slice: lengths differ");
    pulp::Arch::new().dispatch(TanhSlice { x, out });
}

/// [`tanh_fast_slice`]'s loop as a `pulp::WithSimd` operation: its body is inlined into pulp's
/// target-feature function (a closure this size is not, and then compiles to SSE2 only).
struct TanhSlice<'a> {
    x: &'a [f64],
    out: &'a mut [f64],
}

impl pulp::WithSimd for TanhSlice<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<V: pulp::Simd>(self, _: V) {
        let mut xs = self.x.chunks_exact(TANH_LANES);
        let mut os = self.out.chunks_exact_mut(TANH_LANES);
        for (o, v) in (&mut os).zip(&mut xs) {
            tanh_fast_lanes(v.try_into().expect("lane chunk"), o.try_into().expect("lane chunk"));
        }
        for (o, v) in os.into_remainder().iter_mut().zip(xs.remainder()) {
            *o = tanh_fast(*v);
        }
    }
}

/// Entries per step of [`tanh_fast_slice`]'s lane loop (four AVX-512 vectors).
pub const TANH_LANES: usize = 32;

/// [`tanh_fast`] on [`TANH_LANES`] entries, step by step across the lanes (identical operations).
#[inline(always)]
fn tanh_fast_lanes(x: &[f64; TANH_LANES], out: &mut [f64; TANH_LANES]) {
    const L: usize = TANH_LANES;
    let mut r = [0.0f64; L];
    let mut kbits = [0u64; L];
    for i in 0..L {
        (r[i], kbits[i]) = tanh_reduce(x[i]);
    }
    let mut q = [EXPM1_Q[10]; L];
    for c in EXPM1_Q[..10].iter().rev() {
        for i in 0..L {
            q[i] = q[i].mul_add(r[i], *c);
        }
    }
    for i in 0..L {
        out[i] = tanh_finish(x[i], r[i], q[i], kbits[i]);
    }
}

#[cfg(test)]
mod fast_tests {
    use super::*;

    /// `--precision` takes `f64` and 53 ..= 65,536 bits, both ends included, and nothing else.
    #[test]
    fn precision_accepts_53_to_65536_bits_inclusive() {
        assert_eq!(Precision::parse("F64").unwrap(), Precision::F64);
        assert_eq!(Precision::parse("53").unwrap(), Precision::Bits(53));
        assert_eq!(Precision::parse(" 1024 ").unwrap(), Precision::Bits(1024));
        assert_eq!(Precision::parse("4096").unwrap(), Precision::Bits(4096));
        assert_eq!(Precision::parse("65536").unwrap(), Precision::Bits(65536));
        for bad in ["52", "65537", "0", "-256", "256.0", "f32", ""] {
            assert!(Precision::parse(bad).is_err(), "`{bad}` accepted");
        }
    }

    /// A decimal constant is rounded once, from its text, at the working precision: "0.1" at 256
    /// bits is not the f64 nearest 0.1 lifted to 256 bits (theory/README.md §Numerics), and it is
    /// the correctly rounded value of the decimal.
    #[test]
    fn decimals_are_parsed_at_the_working_precision_not_through_f64() {
        let x = <Float as Scalar>::parse("0.1", 256).unwrap();
        assert_ne!(x, Float::with_val(256, 0.1f64));
        assert_eq!(x, Float::with_val(256, Float::parse("0.1").unwrap()));
        assert_eq!(x.prec(), 256);
    }

    /// Deterministic sample: uniform on [−25, 25] and log-uniform magnitudes 1e-20 … 30, both signs.
    fn samples(count: usize) -> Vec<f64> {
        let mut s: u64 = 0x2545_F491_4F6C_DD1D;
        (0..count)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let u = (s >> 11) as f64 * libm::ldexp(1.0, -53);
                if i % 2 == 0 {
                    (u - 0.5) * 50.0
                } else {
                    let mag = libm::pow(10.0, -20.0 + 21.5 * (2.0 * u - 1.0).abs());
                    if u < 0.5 { -mag } else { mag }
                }
            })
            .collect()
    }

    /// `tanh_fast` against the correctly rounded tanh (MPFR at 128 bits, rounded once to f64) on
    /// 200 000 points: ≤ 2 ulp and relative error ≤ 2ε (ε = 2^-52). Budget: expm1(r) within ≈ 1 ulp
    /// (Taylor remainder < 1e-17·r, Horner roundings damped by r < ln 2), then three roundings (the
    /// reconstruction 2^k·em + (2^k − 1) of non-negative terms, e + 2, the division), with e's
    /// relative error damped by 2/(e+2) ≤ 1 in e/(e+2): ≲ 4 half-ulps. Measured: max 2 ulp (1.58ε
    /// relative), 203 of the 200 000 points beyond 1 ulp. Also: the slice version (AVX2/AVX-512
    /// dispatch) gives the same bits as the scalar one, and the special values.
    #[test]
    fn tanh_fast_matches_correctly_rounded_tanh() {
        let xs = samples(200_000);
        let mut worst = 0.0_f64;
        let mut worst_ulp = 0.0_f64;
        let mut over_one_ulp = 0usize;
        for &x in &xs {
            let want = Float::with_val(128, x).tanh().to_f64();
            let got = tanh_fast(x);
            let rel = if want == 0.0 { (got - want).abs() } else { ((got - want) / want).abs() };
            let ulp_err = (got.to_bits() as i64 - want.to_bits() as i64).unsigned_abs() as f64;
            worst = worst.max(rel / f64::EPSILON);
            worst_ulp = worst_ulp.max(ulp_err);
            over_one_ulp += usize::from(ulp_err > 1.0);
        }
        eprintln!(
            "tanh_fast: max rel error {worst:.3} ε, max {worst_ulp} ulp, {over_one_ulp} of {} points > 1 ulp",
            xs.len()
        );
        assert!(worst <= 2.0 && worst_ulp <= 2.0, "tanh_fast error {worst} ε, {worst_ulp} ulp");
        let mut out = vec![0.0; xs.len()];
        tanh_fast_slice(&xs, &mut out);
        assert!(xs.iter().zip(&out).all(|(x, o)| tanh_fast(*x).to_bits() == o.to_bits()));
        // Lane blocks and a remainder, with the special values in both.
        let special = [0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 1e300, 5e-324, -20.5, 19.99];
        let mixed: Vec<f64> = special.iter().cycle().take(3 * TANH_LANES + 5).cloned().collect();
        let mut out = vec![0.0; mixed.len()];
        tanh_fast_slice(&mixed, &mut out);
        assert!(mixed.iter().zip(&out).all(|(x, o)| tanh_fast(*x).to_bits() == o.to_bits()));
        assert_eq!(tanh_fast(0.0).to_bits(), 0.0_f64.to_bits());
        assert_eq!(tanh_fast(-0.0).to_bits(), (-0.0_f64).to_bits());
        assert_eq!(tanh_fast(f64::INFINITY), 1.0);
        assert_eq!(tanh_fast(f64::NEG_INFINITY), -1.0);
        assert_eq!(tanh_fast(1e300), 1.0);
        assert!(tanh_fast(f64::NAN).is_nan());
        assert_eq!(tanh_fast(5e-324), 5e-324);
    }
}
