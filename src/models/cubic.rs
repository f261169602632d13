//! The exact cubic model and its perturbed family (theory/reference/models.md §1–§2; claims.md Toy-C, Toy-P).
//!
//! θ = (x, w) ∈ ℝ × ℝᵈ, with y := a·w and z := e·w,
//! $$L(x,w) = -g\cdot w + \tfrac\kappa2 y^2 + \tfrac12(s_0+y)x^2 + \tfrac{c_4}{24}x^4 +
//!   \tfrac b4 y^2x^2 + c\,z\,x^3 + \tfrac{c_3}6 y^3,\qquad s_0 = 2/\eta.$$
//! With κ = c₄ = b = c = c₃ = 0 it is the exact cubic model (Toy-C), whose GD in (x, y) *is* the
//! reduced map with α = g·a, β = ‖a‖² (reference.md §2). All derivatives are exact polynomials:
//! L = −g·w + F(x, y, z) and every derivative of order ≥ 2 is a derivative of F pulled back through
//! the linear map θ ↦ (x, a·w, e·w).

use crate::error::{EvalError, InputError};
use crate::linalg::dot;
use crate::objective::Objective;
use crate::scalar::Scalar;

/// Constants of the perturbed cubic family, as decimal text so MPFR runs parse them exactly.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CubicSpec {
    /// Step size η (sets s₀ = 2/η).
    pub eta: String,
    /// Direction a ∈ ℝᵈ (β = ‖a‖²).
    pub a: Vec<String>,
    /// Linear term g ∈ ℝᵈ (α = g·a > 0).
    pub g: Vec<String>,
    /// Coupling direction e ∈ ℝᵈ (unit, ⟂ a), used by the c term.
    #[serde(default)]
    pub e: Vec<String>,
    /// Curvature κ along a (damps the y-channel, claim 19).
    #[serde(default = "zero_text")]
    pub kappa: String,
    /// Quartic along u: c₄x⁴/24 (claim 18).
    #[serde(default = "zero_text")]
    pub c4: String,
    /// Mixed quartic (b/4)(a·w)²x² (claim 18).
    #[serde(default = "zero_text")]
    pub b: String,
    /// Sign-alternating coupling c(e·w)x³ (claim 20).
    #[serde(default = "zero_text")]
    pub c: String,
    /// Perpendicular cubic (c₃/6)(a·w)³ (claim 21).
    #[serde(default = "zero_text")]
    pub c3: String,
}

fn zero_text() -> String {
    "0".into()
}

impl CubicSpec {
    /// The reference setting of claims.md: η = 1, a = e₁ (β = 1), g = (α, g₂, 0), d = 3, e = e₃.
    pub fn reference(alpha: &str, g2: &str) -> Self {
        CubicSpec {
            eta: "1".into(),
            a: vec!["1".into(), "0".into(), "0".into()],
            g: vec![alpha.into(), g2.into(), "0".into()],
            e: vec!["0".into(), "0".into(), "1".into()],
            kappa: "0".into(),
            c4: "0".into(),
            b: "0".into(),
            c: "0".into(),
            c3: "0".into(),
        }
    }
}

/// The perturbed cubic model over a scalar.
#[derive(Clone, Debug)]
pub struct Cubic<S: Scalar> {
    eta: S,
    s0: S,
    a: Vec<S>,
    g: Vec<S>,
    e: Vec<S>,
    kappa: S,
    c4: S,
    b: S,
    c: S,
    c3: S,
    ctx: S::Ctx,
}

fn num<S: Scalar>(key: &str, text: &str, c: S::Ctx) -> Result<S, InputError> {
    let v = S::parse(text, c).map_err(|msg| InputError::Value { key: key.into(), msg })?;
    if !v.is_finite() {
        return Err(InputError::Value { key: key.into(), msg: format!("must be finite, got `{text}`") });
    }
    Ok(v)
}

fn vec_of<S: Scalar>(key: &str, xs: &[String], c: S::Ctx) -> Result<Vec<S>, InputError> {
    xs.iter().map(|t| num::<S>(key, t, c)).collect()
}

impl<S: Scalar> Cubic<S> {
    /// Build from a spec at precision `c`; validates dimensions, η > 0 and α = g·a > 0.
    pub fn new(spec: &CubicSpec, c: S::Ctx) -> Result<Self, InputError> {
        crate::scalar::check_model_precision::<S>(c)?;
        let eta = num::<S>("eta", &spec.eta, c)?;
        if !(eta > S::zero(c)) {
            return Err(InputError::LearningRate(spec.eta.clone()));
        }
        let a = vec_of::<S>("a", &spec.a, c)?;
        let g = vec_of::<S>("g", &spec.g, c)?;
        let d = a.len();
        if d == 0 {
            return Err(InputError::Value { key: "a".into(), msg: "must have at least one entry".into() });
        }
        if g.len() != d {
            return Err(InputError::Dimension(format!("`g` has {} entries but `a` has {d}", g.len())));
        }
        let e = if spec.e.is_empty() { crate::linalg::zeros(d, c) } else { vec_of::<S>("e", &spec.e, c)? };
        if e.len() != d {
            return Err(InputError::Dimension(format!("`e` has {} entries but `a` has {d}", e.len())));
        }
        if !(dot(&a, &a) > S::zero(c)) {
            // A non-zero a whose squared norm β = ‖a‖² underflows (|a| ≲ 1e-154 in f64) is not
            // "zero" (fuzz review).
            let msg = if a.iter().any(|x| *x != S::zero(c)) {
                "is non-zero, but β = ‖a‖² underflows to 0 at this precision: scale the model up".into()
            } else {
                "must be non-zero".into()
            };
            return Err(InputError::Value { key: "a".into(), msg });
        }
        if !(dot(&g, &a) > S::zero(c)) {
            return Err(InputError::Value { key: "g".into(), msg: "needs g·a > 0 (progressive sharpening α = g·a)".into() });
        }
        let s0 = S::from_i64(2, c) / &eta;
        Ok(Cubic {
            s0,
            eta,
            a,
            g,
            e,
            kappa: num("kappa", &spec.kappa, c)?,
            c4: num("c4", &spec.c4, c)?,
            b: num("b", &spec.b, c)?,
            c: num("c", &spec.c, c)?,
            c3: num("c3", &spec.c3, c)?,
            ctx: c,
        })
    }

    /// η.
    pub fn eta(&self) -> &S {
        &self.eta
    }
    /// d (so p = 1 + d).
    pub fn d(&self) -> usize {
        self.a.len()
    }
    /// α = g·a (closed form, exact model).
    pub fn alpha(&self) -> S {
        dot(&self.g, &self.a)
    }
    /// β = ‖a‖².
    pub fn beta(&self) -> S {
        dot(&self.a, &self.a)
    }
    /// δ = √(2α/β).
    pub fn delta(&self) -> S {
        (S::from_i64(2, self.ctx) * &self.alpha() / &self.beta()).sqrt()
    }
    /// h = η√α.
    pub fn h(&self) -> S {
        self.eta.clone() * &self.alpha().sqrt()
    }
    /// g⊥ = g − (g·a)a/‖a‖².
    pub fn g_perp(&self) -> Vec<S> {
        let r = self.alpha() / &self.beta();
        self.g.iter().zip(&self.a).map(|(gi, ai)| gi.clone() - &(r.clone() * ai)).collect()
    }
    /// The direction a.
    pub fn a(&self) -> &[S] {
        &self.a
    }
    /// y = a·w of a point θ = (x, w).
    pub fn y_of(&self, th: &[S]) -> S {
        dot(&self.a, &th[1..])
    }

    /// (x, y, z) of a vector θ = (x, w).
    fn coords(&self, th: &[S]) -> [S; 3] {
        [th[0].clone(), dot(&self.a, &th[1..]), dot(&self.e, &th[1..])]
    }

    /// Pull a gradient in (x, y, z) back to θ: (F_x, F_y a + F_z e).
    fn pull_back(&self, f: &[S; 3], out: &mut [S]) {
        out[0].assign_from(&f[0]);
        for i in 0..self.d() {
            let mut v = f[1].clone() * &self.a[i];
            v.mul_acc(&f[2], &self.e[i]);
            out[i + 1] = v;
        }
    }

    fn f_value(&self, [x, y, z]: &[S; 3]) -> S {
        let c = self.ctx;
        let x2 = x.clone() * x;
        let y2 = y.clone() * y;
        let mut v = self.kappa.clone() * &y2 / &S::from_i64(2, c);
        v += &((self.s0.clone() + y) * &x2 / &S::from_i64(2, c));
        v += &(self.c4.clone() * &x2 * &x2 / &S::from_i64(24, c));
        v += &(self.b.clone() * &y2 * &x2 / &S::from_i64(4, c));
        v += &(self.c.clone() * z * &x2 * x);
        v += &(self.c3.clone() * &y2 * y / &S::from_i64(6, c));
        v
    }

    fn f_grad(&self, [x, y, z]: &[S; 3]) -> [S; 3] {
        let c = self.ctx;
        let half = S::from_f64(0.5, c);
        let x2 = x.clone() * x;
        let y2 = y.clone() * y;
        // F_x = (s0 + y)x + c4 x³/6 + (b/2) y² x + 3c z x²
        let mut fx = (self.s0.clone() + y) * x;
        fx += &(self.c4.clone() * &x2 * x / &S::from_i64(6, c));
        fx += &(self.b.clone() * &half * &y2 * x);
        fx += &(S::from_i64(3, c) * &self.c * z * &x2);
        // F_y = κ y + x²/2 + (b/2) y x² + (c3/2) y²
        let mut fy = self.kappa.clone() * y;
        fy += &(x2.clone() * &half);
        fy += &(self.b.clone() * &half * y * &x2);
        fy += &(self.c3.clone() * &half * &y2);
        // F_z = c x³
        let fz = self.c.clone() * &x2 * x;
        [fx, fy, fz]
    }

    /// Second derivatives F_ij (symmetric 3×3).
    fn f_hess(&self, [x, y, z]: &[S; 3]) -> [[S; 3]; 3] {
        let c = self.ctx;
        let zero = S::zero(c);
        let half = S::from_f64(0.5, c);
        let x2 = x.clone() * x;
        let fxx = self.s0.clone() + y + &(self.c4.clone() * &x2 * &half) + &(self.b.clone() * &half * y * y)
            + &(S::from_i64(6, c) * &self.c * z * x);
        let fxy = x.clone() + &(self.b.clone() * y * x);
        let fxz = S::from_i64(3, c) * &self.c * &x2;
        let fyy = self.kappa.clone() + &(self.b.clone() * &half * &x2) + &(self.c3.clone() * y);
        [[fxx, fxy.clone(), fxz.clone()], [fxy, fyy, zero.clone()], [fxz, zero.clone(), zero]]
    }

    /// Third derivative F_ijk for sorted indices (0 = x, 1 = y, 2 = z).
    fn f3(&self, [x, y, z]: &[S; 3], idx: [usize; 3]) -> S {
        let c = self.ctx;
        let mut s = idx;
        s.sort_unstable();
        match s {
            [0, 0, 0] => self.c4.clone() * x + &(S::from_i64(6, c) * &self.c * z),
            [0, 0, 1] => S::one(c) + &(self.b.clone() * y),
            [0, 0, 2] => S::from_i64(6, c) * &self.c * x,
            [0, 1, 1] => self.b.clone() * x,
            [1, 1, 1] => self.c3.clone(),
            _ => S::zero(c),
        }
    }

    /// Fourth derivative F_ijkl for sorted indices.
    fn f4(&self, idx: [usize; 4]) -> S {
        let c = self.ctx;
        let mut s = idx;
        s.sort_unstable();
        match s {
            [0, 0, 0, 0] => self.c4.clone(),
            [0, 0, 0, 2] => S::from_i64(6, c) * &self.c,
            [0, 0, 1, 1] => self.b.clone(),
            _ => S::zero(c),
        }
    }

    fn check(&self, th: &[S]) -> Result<(), EvalError> {
        self.check_lens(&[("parameter vector", th.len())])
    }

    /// Every named vector (parameters, directions, outputs) has the model's length 1 + d.
    fn check_lens(&self, parts: &[(&str, usize)]) -> Result<(), EvalError> {
        for &(what, len) in parts {
            if len != 1 + self.d() {
                return Err(EvalError::Other(format!("{what} has length {len}, expected {}", 1 + self.d())));
            }
        }
        Ok(())
    }
}

impl<S: Scalar> Objective<S> for Cubic<S> {
    fn dim(&self) -> usize {
        1 + self.d()
    }
    fn ctx(&self) -> S::Ctx {
        self.ctx
    }
    fn describe(&self) -> String {
        format!("perturbed cubic model, d = {}", self.d())
    }
    fn value(&self, th: &[S]) -> Result<S, EvalError> {
        self.check(th)?;
        let v = self.f_value(&self.coords(th)) - &dot(&self.g, &th[1..]);
        if !v.is_finite() {
            return Err(EvalError::NonFinite { what: "loss", at: String::new() });
        }
        Ok(v)
    }
    fn grad(&self, th: &[S], out: &mut [S]) -> Result<S, EvalError> {
        self.check_lens(&[("parameter vector", th.len()), ("gradient output", out.len())])?;
        let v = self.value(th)?;
        let f = self.f_grad(&self.coords(th));
        self.pull_back(&f, out);
        for i in 0..self.d() {
            out[i + 1] -= &self.g[i];
        }
        Ok(v)
    }
    fn hvp(&self, th: &[S], v: &[S], out: &mut [S]) -> Result<(), EvalError> {
        self.check_lens(&[("parameter vector", th.len()), ("direction vector", v.len()), ("output vector", out.len())])?;
        let h = self.f_hess(&self.coords(th));
        let dv = self.coords(v);
        let c = self.ctx;
        let f: [S; 3] = std::array::from_fn(|i| {
            let mut s = S::zero(c);
            for j in 0..3 {
                s.mul_acc(&h[i][j], &dv[j]);
            }
            s
        });
        self.pull_back(&f, out);
        Ok(())
    }
    // The tensor contraction Σ_jk F_ijk v_j w_k reads clearest with its indices.
    #[allow(clippy::needless_range_loop)]
    fn d3(&self, th: &[S], v: &[S], w: &[S], out: &mut [S]) -> Result<(), EvalError> {
        self.check_lens(&[("parameter vector", th.len()), ("direction vector v", v.len()), ("direction vector w", w.len()), ("output vector", out.len())])?;
        let pt = self.coords(th);
        let dv = self.coords(v);
        let dw = self.coords(w);
        let c = self.ctx;
        let f: [S; 3] = std::array::from_fn(|i| {
            let mut s = S::zero(c);
            for j in 0..3 {
                for k in 0..3 {
                    s += &(self.f3(&pt, [i, j, k]) * &dv[j] * &dw[k]);
                }
            }
            s
        });
        self.pull_back(&f, out);
        Ok(())
    }
    fn d4(&self, th: &[S], v: &[S], out: &mut [S]) -> Result<(), EvalError> {
        self.check_lens(&[("parameter vector", th.len()), ("direction vector", v.len()), ("output vector", out.len())])?;
        let dv = self.coords(v);
        let c = self.ctx;
        let f: [S; 3] = std::array::from_fn(|i| {
            let mut s = S::zero(c);
            for j in 0..3 {
                for k in 0..3 {
                    for l in 0..3 {
                        s += &(self.f4([i, j, k, l]) * &dv[j] * &dv[k] * &dv[l]);
                    }
                }
            }
            s
        });
        self.pull_back(&f, out);
        Ok(())
    }
}
