//! The two-layer width-1 model on a 2-D input (reference.md §9.4; theory/README.md "Models beyond
//! MLPs"). The exact model of Liu, Zhang, Du & Zhao (arXiv:2503.02809) was not recovered; this is
//! our instance of its description (one relevant and one irrelevant feature):
//! $$f(x) = a\,\sigma(w_1x_1 + w_2x_2),\qquad \theta = (w_1, w_2, a),\qquad
//! L(\theta) = \frac1n\sum_i \big(f(x_i) - y_i\big)^2,$$
//! on seeded data $x_i \sim U[-1,1]^2$, $y_i = x_{i1}$ ([`width1_data`]).
//!
//! Derivatives are forward-over-reverse in the truncated Taylor algebras of [`super::jet`] (as for
//! the MLP): $\partial L/\partial a = \tfrac2n s^\top r$, $\partial L/\partial w = \tfrac2n a X^\top(r\odot\sigma'(z))$
//! with $z = Xw$, $s = \sigma(z)$, $r = as - y$, evaluated at θ + εv (+ ε₂w).

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use super::jet::{self, JetKind, JetMat, hadamard, matmul, taylor_apply};
use super::mlp::{Activation, ActivationDerivs};
use crate::error::{EvalError, InputError};
use crate::objective::Objective;
use crate::scalar::Scalar;

/// Number of parameters: w₁, w₂, a.
pub const PARAMS: usize = 3;

/// Regression data of the width-1 model: X [n, 2] row-major and real targets y \[n\].
#[derive(Clone, Debug, PartialEq)]
pub struct Width1Data {
    /// Inputs, row-major [n, 2].
    pub x: Vec<f64>,
    /// Targets.
    pub y: Vec<f64>,
    /// Samples.
    pub n: usize,
}

fn uniform_pm(x: u64, b: f64) -> f64 {
    ((x >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)) * (2.0 * b) - b
}

/// The seeded data: for i = 0..n, x_{i1} then x_{i2} uniform on [−1, 1] from
/// `ChaCha8Rng::seed_from_u64(seed)` (one u64 each, `data::init_params`' map with b = 1);
/// y_i = x_{i1}. Errors on n = 0.
pub fn width1_data(n: usize, seed: u64) -> Result<Width1Data, InputError> {
    if n == 0 || n > crate::data::MAX_SAMPLES {
        return Err(InputError::Value { key: "n".into(), msg: format!("must be in 1..={}, got {n}", crate::data::MAX_SAMPLES) });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<f64> = (0..2 * n).map(|_| uniform_pm(rng.next_u64(), 1.0)).collect();
    let y = x.chunks_exact(2).map(|r| r[0]).collect();
    Ok(Width1Data { x, y, n })
}

/// Initial θ = (w₁, w₂, a): w uniform in [±1/√2], a uniform in [±1] (nn.Linear fan-in bounds, no
/// biases), from `ChaCha8Rng::seed_from_u64(seed)` in layout order.
pub fn init(seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let b = 1.0 / 2f64.sqrt();
    let w1 = uniform_pm(rng.next_u64(), b);
    let w2 = uniform_pm(rng.next_u64(), b);
    let a = uniform_pm(rng.next_u64(), 1.0);
    vec![w1, w2, a]
}

/// The width-1 objective.
pub struct Width1<S: Scalar> {
    act: Activation,
    x: JetMat<S>,
    y: Vec<S>,
    n: usize,
    ctx: S::Ctx,
}

impl<S: Scalar> Width1<S> {
    /// Build over `data` (X lifted exactly into `ctx`); checks shapes and finiteness.
    pub fn new(act: Activation, data: &Width1Data, ctx: S::Ctx) -> Result<Self, InputError> {
        crate::scalar::check_model_precision::<S>(ctx)?;
        if data.n == 0 {
            return Err(InputError::Value { key: "data".into(), msg: "the data set has no samples (n = 0)".into() });
        }
        if data.x.len() != 2 * data.n || data.y.len() != data.n {
            return Err(InputError::Dimension(format!(
                "width-1 data: X has {} entries and y {}, expected 2·n = {} and n = {}",
                data.x.len(),
                data.y.len(),
                2 * data.n,
                data.n
            )));
        }
        if let Some(index) = data.x.iter().chain(&data.y).position(|v| !v.is_finite()) {
            return Err(InputError::NonFinite { what: "width-1 data".into(), index });
        }
        let kind = JetKind::constant();
        Ok(Width1 {
            act,
            x: JetMat::constant(&kind, data.n, 2, crate::linalg::from_f64(&data.x, ctx)),
            y: crate::linalg::from_f64(&data.y, ctx),
            n: data.n,
            ctx,
        })
    }

    fn check_len(&self, what: &str, len: usize) -> Result<(), EvalError> {
        if len == PARAMS {
            Ok(())
        } else {
            Err(EvalError::Other(format!("{what} has length {len}, the width-1 model has p = 3")))
        }
    }

    /// Forward-over-reverse in `kind` at the jet parameters `th` (block k multiplies e_k); writes the
    /// coefficient of monomial `target` of ∇L into `out` and returns L(θ) (see `Mlp::grad_jet`).
    fn grad_jet(&self, kind: &JetKind, th: &[Option<&[S]>], target: usize, out: &mut [S]) -> Result<S, EvalError> {
        let c = self.ctx;
        for p in th.iter().flatten() {
            self.check_len("parameter/direction vector", p.len())?;
        }
        self.check_len("output vector", out.len())?;
        let mut w = JetMat::zero(kind, 2, 1);
        let mut a = JetMat::zero(kind, 1, 1);
        for (k, t) in th.iter().enumerate() {
            if let Some(t) = t {
                w.parts[k] = Some(t[0..2].to_vec());
                a.parts[k] = Some(vec![t[2].clone()]);
            }
        }
        let dmax = kind.max_degree();
        let z = matmul(kind, &self.x, false, &w, false, None, false, c);
        let ad = ActivationDerivs::<S>::new(self.act, dmax + 1, c);
        let mut derivs: Vec<Vec<S>> = vec![Vec::with_capacity(self.n); dmax + 2];
        let mut buf = crate::linalg::zeros::<S>(dmax + 2, c);
        for zv in z.part(0).expect("constant block") {
            ad.eval(zv, &mut buf);
            for (d, v) in derivs.iter_mut().zip(&buf) {
                d.push(v.clone());
            }
        }
        let s = taylor_apply(kind, &z, &derivs[..=dmax], c);
        let ds = taylor_apply(kind, &z, &derivs[1..], c);
        let mut r = matmul(kind, &s, false, &a, false, None, false, c);
        let r0 = r.parts[0].as_mut().expect("constant block");
        r0.iter_mut().zip(&self.y).for_each(|(v, y)| *v -= y);
        let inv_n = S::one(c) / &S::from_i64(self.n as i64, c);
        let mut sum = S::zero(c);
        for v in r0.iter() {
            sum.mul_acc(v, v);
        }
        let value = sum * &inv_n;
        if !value.is_finite() {
            return Err(EvalError::NonFinite { what: "loss", at: String::new() });
        }
        // g = ∂L/∂f = (2/n) r (every block).
        let two_n = inv_n * &S::from_i64(2, c);
        for p in r.parts.iter_mut().flatten() {
            p.iter_mut().for_each(|v| *v *= &two_n);
        }
        let g = r;
        let ga = matmul(kind, &s, true, &g, false, Some(target), false, c);
        let gz = matmul(kind, &hadamard(kind, &g, &ds, c), false, &a, false, None, false, c);
        let gw = matmul(kind, &self.x, true, &gz, false, Some(target), false, c);
        match gw.part(target) {
            Some(p) => out[..2].iter_mut().zip(p).for_each(|(o, v)| o.assign_from(v)),
            None => out[..2].iter_mut().for_each(S::set_zero),
        }
        match ga.part(target) {
            Some(p) => out[2].assign_from(&p[0]),
            None => out[2].set_zero(),
        }
        if !out.iter().all(S::is_finite) {
            return Err(EvalError::NonFinite { what: "loss derivative", at: String::new() });
        }
        Ok(value)
    }
}

impl<S: Scalar> Objective<S> for Width1<S> {
    fn dim(&self) -> usize {
        PARAMS
    }

    fn ctx(&self) -> S::Ctx {
        self.ctx
    }

    fn nonnegative(&self) -> bool {
        true
    }
    fn describe(&self) -> String {
        format!("width1 a·{}(w·x) mse (n = {}, p = 3, precision {})", self.act.name(), self.n, S::precision_name(self.ctx))
    }

    fn value(&self, th: &[S]) -> Result<S, EvalError> {
        let mut g = crate::linalg::zeros::<S>(PARAMS, self.ctx);
        self.grad(th, &mut g)
    }

    fn grad(&self, th: &[S], g: &mut [S]) -> Result<S, EvalError> {
        self.grad_jet(&JetKind::constant(), &[Some(th)], 0, g)
    }

    fn hvp(&self, th: &[S], v: &[S], out: &mut [S]) -> Result<(), EvalError> {
        jet::hvp(self, th, v, out)
    }

    fn d3(&self, th: &[S], v: &[S], w: &[S], out: &mut [S]) -> Result<(), EvalError> {
        jet::d3(self, th, v, w, out)
    }

    fn d3_sym(&self, th: &[S], v: &[S], out: &mut [S]) -> Result<(), EvalError> {
        jet::d3_sym(self, th, v, out, self.ctx)
    }

    fn d4(&self, th: &[S], v: &[S], out: &mut [S]) -> Result<(), EvalError> {
        jet::d4(self, th, v, out, self.ctx)
    }
}

impl<S: Scalar> jet::GradJet<S> for Width1<S> {
    fn grad_jet(&self, kind: &JetKind, th: &[Option<&[S]>], target: usize, out: &mut [S]) -> Result<S, EvalError> {
        Width1::grad_jet(self, kind, th, target, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Closed forms for tanh: ∂L/∂a = (2/n)Σ r s, ∂L/∂w = (2/n)Σ r a (1 − s²) x; the jet gradient
    /// agrees to a few ε (same sums, different association).
    #[test]
    fn width1_gradient_matches_closed_form_f64() {
        let d = width1_data(17, 3).unwrap();
        let m = Width1::<f64>::new(Activation::Tanh, &d, ()).unwrap();
        let th = [0.8, -0.3, 1.7];
        let mut g = [0.0; 3];
        let l = m.grad(&th, &mut g).unwrap();
        let (mut lw, mut gw) = (0.0, [0.0; 3]);
        for i in 0..d.n {
            let (x1, x2) = (d.x[2 * i], d.x[2 * i + 1]);
            let s = (th[0] * x1 + th[1] * x2).tanh();
            let r = th[2] * s - d.y[i];
            lw += r * r;
            let dz = 2.0 * r * th[2] * (1.0 - s * s);
            gw[0] += dz * x1;
            gw[1] += dz * x2;
            gw[2] += 2.0 * r * s;
        }
        let nf = d.n as f64;
        assert!((l - lw / nf).abs() <= 1e-14 * l.abs().max(1e-3));
        for k in 0..3 {
            assert!((g[k] - gw[k] / nf).abs() <= 1e-14, "∂_{k}: {} vs {}", g[k], gw[k] / nf);
        }
        assert!(m.grad(&th[..2], &mut g).is_err());
        assert!(width1_data(0, 1).is_err());
    }
}
