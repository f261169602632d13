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
//!   machine.

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use rug::Float;

/// Smallest and largest MPFR precision (bits) a run accepts.
pub const MIN_BITS: u32 = 53;
/// Largest MPFR precision (bits) a run accepts.
pub const MAX_BITS: u32 = 65536;

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
    /// Nearest f64 (for reports only).
    fn to_f64(&self) -> f64;
    /// All significant digits as a decimal string (round-trips).
    fn to_decimal(&self) -> String;
    /// `self += a·b` in place (one rounding for MPFR; two for the generic f64 path, which stays
    /// bit-identical across machines).
    fn mul_acc(&mut self, a: &Self, b: &Self);
    /// Overwrite with `other`'s value, keeping this value's precision.
    fn assign_from(&mut self, other: &Self);
    /// Overwrite with zero.
    fn set_zero(&mut self);
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
    #[inline(always)]
    fn set_zero(&mut self) {
        *self = 0.0;
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
    fn to_f64(&self) -> f64 {
        Float::to_f64(self)
    }
    fn to_decimal(&self) -> String {
        self.to_string_radix(10, None)
    }
    #[inline]
    fn mul_acc(&mut self, a: &Self, b: &Self) {
        debug_assert!(a.prec() == self.prec() && b.prec() == self.prec());
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
