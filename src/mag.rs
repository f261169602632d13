//! [`Mag`]: a real number with f64's 53-bit significand and a wide binary exponent, for the
//! engine's tolerances and the ratios it compares with them (relative residuals and the norms they are formed from).
//!
//! At an MPFR precision of `bits`, the default eigen tolerance is 2^(16 − bits) and the working
//! epsilon 2^(1 − bits) (`theory/README.md` §Numerics): above ≈ 1,070 bits both fall below f64's
//! range (2^-1074) and would round to 0. `Mag` carries them at any precision MPFR takes.
//!
//! Exactness: where the f64 result of an operation is a normal number, `Mag` gives the same value
//! bit for bit (each operation rounds its significands once, as f64 does, and scales by powers of
//! two exactly), so the f64 engine's control flow is unchanged by it; only results that f64 would
//! flush to subnormals or 0, or overflow, differ.

use std::cmp::Ordering;
use std::fmt;
use std::ops::{Div, Mul};

/// m·2^e with m = 0, ±[0.5, 1) or non-finite (then e = 0).
#[derive(Clone, Copy, Debug)]
pub struct Mag {
    m: f64,
    e: i64,
}

impl Mag {
    /// Zero.
    pub const ZERO: Mag = Mag { m: 0.0, e: 0 };
    /// One.
    pub const ONE: Mag = Mag { m: 0.5, e: 1 };

    fn norm(m: f64, e: i64) -> Mag {
        if m == 0.0 || !m.is_finite() {
            return Mag { m, e: 0 };
        }
        let (f, k) = libm::frexp(m);
        Mag { m: f, e: e + k as i64 }
    }
    /// The exact value of an f64.
    pub fn new(x: f64) -> Mag {
        Mag::norm(x, 0)
    }
    /// 2^k exactly.
    pub fn pow2(k: i64) -> Mag {
        Mag { m: 0.5, e: k + 1 }
    }
    /// x·2^k exactly (x an f64).
    pub fn ldexp(x: f64, k: i64) -> Mag {
        let mut r = Mag::new(x);
        if r.m != 0.0 && r.m.is_finite() {
            r.e += k;
        }
        r
    }
    /// An MPFR value rounded to 53 significant bits, its exponent kept whole.
    pub fn of_float(x: &rug::Float) -> Mag {
        if !x.is_finite() || x.is_zero() {
            return Mag::new(x.to_f64());
        }
        // m in [0.5, 1) rounded to 53 bits (m = 1 after rounding up: `ldexp` normalises it).
        let (m, e) = x.to_f64_exp();
        Mag::ldexp(m, e as i64)
    }
    /// The exact value as an MPFR float of `bits` bits (≥ 53; MPFR's exponent range, ±2^30 and
    /// more, holds every tolerance the engine forms).
    pub fn to_float(self, bits: u32) -> rug::Float {
        let mut f = rug::Float::with_val(bits, self.m);
        if f.is_finite() && !f.is_zero() {
            f <<= self.e.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
        }
        f
    }
    /// The nearest f64 (0 or a subnormal below f64's range, ±∞ above it).
    pub fn to_f64(self) -> f64 {
        if self.m == 0.0 || !self.m.is_finite() {
            return self.m;
        }
        let e = self.e.clamp(-2200, 2200) as i32;
        // Two steps so that a normal result is exact and a subnormal one rounds once.
        if e < -1000 {
            libm::ldexp(libm::ldexp(self.m, -1000), e + 1000)
        } else {
            libm::ldexp(self.m, e)
        }
    }
    /// |x|.
    pub fn abs(self) -> Mag {
        Mag { m: self.m.abs(), e: self.e }
    }
    /// Not NaN, not ±∞.
    pub fn is_finite(self) -> bool {
        self.m.is_finite()
    }
    /// NaN.
    pub fn is_nan(self) -> bool {
        self.m.is_nan()
    }
    /// √x (NaN below 0), correctly rounded as f64's.
    pub fn sqrt(self) -> Mag {
        if self.m == 0.0 || !self.m.is_finite() || self.m < 0.0 {
            return Mag { m: libm::sqrt(self.m), e: 0 };
        }
        if self.e % 2 == 0 {
            Mag::norm(libm::sqrt(self.m), self.e / 2)
        } else {
            // m·2^e = (2m)·2^(e−1), e − 1 even.
            Mag::norm(libm::sqrt(2.0 * self.m), (self.e - 1) / 2)
        }
    }
    /// The larger value; a NaN loses (as `f64::max`).
    pub fn max(self, o: Mag) -> Mag {
        if self.is_nan() {
            return o;
        }
        if o.is_nan() {
            return self;
        }
        if o > self { o } else { self }
    }
    /// The smaller value; a NaN loses (as `f64::min`).
    pub fn min(self, o: Mag) -> Mag {
        if self.is_nan() {
            return o;
        }
        if o.is_nan() {
            return self;
        }
        if o < self { o } else { self }
    }
}

impl PartialEq for Mag {
    fn eq(&self, o: &Mag) -> bool {
        self.partial_cmp(o) == Some(Ordering::Equal)
    }
}

impl PartialOrd for Mag {
    fn partial_cmp(&self, o: &Mag) -> Option<Ordering> {
        if self.m.is_nan() || o.m.is_nan() {
            return None;
        }
        if !self.m.is_finite() || !o.m.is_finite() || self.m == 0.0 || o.m == 0.0 || (self.m < 0.0) != (o.m < 0.0) {
            // Signs differ, or a zero or an infinity is involved: the significands order them.
            return self.m.partial_cmp(&o.m);
        }
        let by_mag = self.e.cmp(&o.e).then(self.m.abs().partial_cmp(&o.m.abs())?);
        Some(if self.m < 0.0 { by_mag.reverse() } else { by_mag })
    }
}

impl PartialEq<f64> for Mag {
    fn eq(&self, o: &f64) -> bool {
        *self == Mag::new(*o)
    }
}

impl PartialOrd<f64> for Mag {
    fn partial_cmp(&self, o: &f64) -> Option<Ordering> {
        self.partial_cmp(&Mag::new(*o))
    }
}

impl PartialEq<Mag> for f64 {
    fn eq(&self, o: &Mag) -> bool {
        Mag::new(*self) == *o
    }
}

impl PartialOrd<Mag> for f64 {
    fn partial_cmp(&self, o: &Mag) -> Option<Ordering> {
        Mag::new(*self).partial_cmp(o)
    }
}

impl Mul for Mag {
    type Output = Mag;
    fn mul(self, o: Mag) -> Mag {
        Mag::norm(self.m * o.m, self.e + o.e)
    }
}

impl Mul<f64> for Mag {
    type Output = Mag;
    fn mul(self, o: f64) -> Mag {
        self * Mag::new(o)
    }
}

impl Mul<Mag> for f64 {
    type Output = Mag;
    fn mul(self, o: Mag) -> Mag {
        Mag::new(self) * o
    }
}

impl Div for Mag {
    type Output = Mag;
    fn div(self, o: Mag) -> Mag {
        if o.m == 0.0 || !o.m.is_finite() || self.m == 0.0 || !self.m.is_finite() {
            // 0, ±∞ or NaN as f64 gives them: the exponents do not matter.
            return Mag::norm(self.m / o.m, 0);
        }
        Mag::norm(self.m / o.m, self.e - o.e)
    }
}

impl Div<f64> for Mag {
    type Output = Mag;
    fn div(self, o: f64) -> Mag {
        self / Mag::new(o)
    }
}

impl fmt::Display for Mag {
    /// As f64's where the value is a normal f64 (or 0, ±∞, NaN), otherwise as `{:e}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.in_f64_range() {
            return fmt::Display::fmt(&self.to_f64(), f);
        }
        fmt::LowerExp::fmt(self, f)
    }
}

impl fmt::LowerExp for Mag {
    /// As f64's `{:e}` where the value is a normal f64; otherwise the decimal MPFR rounds it to
    /// (`{:.Ne}`: N + 1 significant digits; `{:e}`: 17, which read back give the same `Mag`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.in_f64_range() {
            return fmt::LowerExp::fmt(&self.to_f64(), f);
        }
        let digits = f.precision().map_or(17, |n| n + 1);
        f.write_str(&self.to_float(53).to_string_radix(10, Some(digits)))
    }
}

impl Mag {
    /// Zero, ±∞, NaN or a normal f64 value: what f64 holds exactly.
    fn in_f64_range(self) -> bool {
        let x = self.to_f64();
        self.m == 0.0 || !self.m.is_finite() || (x.is_normal() && Mag::new(x) == self)
    }
}

impl std::str::FromStr for Mag {
    type Err = String;
    /// A decimal number, correctly rounded to 53 significant bits at any exponent (`1e-9`,
    /// `2.0279106256126465e-612`).
    fn from_str(t: &str) -> Result<Mag, String> {
        let bad = || format!("`{t}` is not a number");
        let p = rug::Float::parse(t.trim()).map_err(|_| bad())?;
        Ok(Mag::of_float(&rug::Float::with_val(53, p)))
    }
}

impl serde::Serialize for Mag {
    /// As an f64 where the value is one (files written before `Mag` read the same), otherwise as
    /// its 17-digit decimal string (exact: it reads back to the same `Mag`; Python's `float()`
    /// reads it as 0 or ±inf).
    fn serialize<Se: serde::Serializer>(&self, s: Se) -> Result<Se::Ok, Se::Error> {
        if self.in_f64_range() { s.serialize_f64(self.to_f64()) } else { s.serialize_str(&format!("{self:e}")) }
    }
}

impl<'de> serde::Deserialize<'de> for Mag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Mag, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Repr {
            F(f64),
            S(String),
        }
        match Repr::deserialize(d)? {
            Repr::F(x) => Ok(Mag::new(x)),
            Repr::S(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splitmix64 doubles over many binades, both signs.
    fn samples() -> Vec<f64> {
        let mut s = 0x9e37_79b9_7f4a_7c15_u64;
        (0..4000)
            .map(|i| {
                s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = s;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^= z >> 31;
                let u = (z >> 11) as f64 * libm::ldexp(1.0, -53);
                let x = libm::ldexp(0.5 + u / 2.0, (z % 600) as i32 - 300);
                if i % 3 == 0 { -x } else { x }
            })
            .collect()
    }

    #[test]
    fn mag_operations_equal_f64_bit_for_bit_on_normal_results() {
        let xs = samples();
        for w in xs.windows(2) {
            let (a, b) = (w[0], w[1]);
            let (ma, mb) = (Mag::new(a), Mag::new(b));
            assert_eq!((ma * mb).to_f64().to_bits(), (a * b).to_bits(), "{a:e}·{b:e}");
            assert_eq!((ma / mb).to_f64().to_bits(), (a / b).to_bits(), "{a:e}/{b:e}");
            assert_eq!(ma.abs().sqrt().to_f64().to_bits(), libm::sqrt(a.abs()).to_bits(), "√{a:e}");
            assert_eq!(ma.partial_cmp(&mb), a.partial_cmp(&b), "{a:e} vs {b:e}");
            assert_eq!(ma.max(mb).to_f64(), a.max(b));
            assert_eq!(ma.min(mb).to_f64(), a.min(b));
            assert_eq!(format!("{ma:e}"), format!("{a:e}"));
            assert_eq!(format!("{ma:.3e}"), format!("{a:.3e}"));
        }
    }

    #[test]
    fn mag_carries_values_far_below_f64_range() {
        let tol = Mag::pow2(16 - 4096);
        assert_eq!(tol.to_f64(), 0.0);
        assert!(tol > 0.0 && tol < Mag::pow2(-4000) && tol > Mag::pow2(-4081));
        assert_eq!(tol.sqrt(), Mag::pow2(-2040));
        assert_eq!((tol * Mag::pow2(4080)).to_f64(), 1.0);
        assert_eq!(Mag::ONE / tol, Mag::pow2(4080));
        assert_eq!(format!("{:.3e}", Mag::pow2(-4000)), "7.586e-1205");
        assert_eq!(format!("{:.2e}", -3.0 * Mag::pow2(-2000)), "-2.61e-602");
        assert_eq!(format!("{}", Mag::pow2(-4000)), "7.5860787034673786e-1205");
        // Zero, infinities and NaN behave as f64's.
        assert!(Mag::ZERO < tol && (Mag::ONE / Mag::ZERO).to_f64() == f64::INFINITY);
        assert!(Mag::new(f64::NAN).partial_cmp(&tol).is_none());
        assert_eq!(Mag::new(f64::NAN).max(tol), tol);
        assert_eq!(Mag::ldexp(3.0, -5000) / Mag::ldexp(1.5, -5000), 2.0);
    }

    #[test]
    fn mag_serialises_as_f64_in_range_and_exactly_beyond() {
        let x = Mag::new(1e-9);
        assert_eq!(serde_json::to_string(&x).unwrap(), "1e-9");
        let t = Mag::ldexp(3.0, -4100);
        let s = serde_json::to_string(&t).unwrap();
        assert_eq!(s, "\"1.7953082739285348e-1234\"");
        assert_eq!(serde_json::from_str::<Mag>(&s).unwrap(), t);
        assert_eq!(serde_json::from_str::<Mag>("2.5e-3").unwrap(), 2.5e-3);
        assert!(serde_json::from_str::<Mag>("\"fast\"").unwrap_err().to_string().contains("not a number"));
        assert_eq!("1e-9".parse::<Mag>().unwrap(), 1e-9);
        // 17 significant digits read back to the same 53-bit significand, at any exponent.
        for k in [-4100i64, -2000, -1100, 1100, 5000] {
            for m in [0.5, 0.6180339887498949, 0.9999999999999999] {
                let x = Mag::ldexp(m, k);
                assert_eq!(format!("{x}").parse::<Mag>().unwrap(), x, "{x}");
            }
        }
    }
}
