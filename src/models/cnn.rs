//! A small convolutional network on the 8×8 digits with exact derivatives of every order
//! (theory/README.md "Models beyond MLPs", theory/reference/models.md §3 scaled to a CPU).
//!
//! Stage s: 3×3 convolution ('same' zero padding, stride 1, C_s channels, one bias per channel),
//! the activation σ, 2×2 average pooling; then a dense layer to the classes. Every convolution and
//! every pooling is linear in the parameters, so the network is the MLP
//! $[64, 64C_1, 16C_2, \dots, q]$ at MLP parameters $\varphi = A\theta$ with a fixed linear map A
//! (each entry of φ is 0 or $c\,\theta_j$, $c\in\{1,\tfrac14\}$: weight sharing, and the pooling
//! folded into the next layer's weight). Hence, exactly,
//! $$\nabla L = A^\top\nabla L_{\rm mlp}(A\theta),\quad \nabla^2L\,v = A^\top\nabla^2L_{\rm mlp}\[Av\],\quad
//! \nabla^3L\[v,w\] = A^\top\nabla^3L_{\rm mlp}\[Av,Aw\],\quad \nabla^4L\[v,v,v\] = A^\top\nabla^4L_{\rm mlp}\[Av,Av,Av\].$$

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use super::mlp::{Activation, LossKind, Mlp, param_count};
use crate::data::Dataset;
use crate::error::{EvalError, InputError};
use crate::objective::Objective;
use crate::scalar::Scalar;

/// Side of the input image (8×8 digits).
pub const SIDE: usize = 8;

/// The architecture: conv channels per stage and the number of classes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CnnSpec {
    /// C₁, …, C_S (1 ≤ S ≤ 3, each ≥ 1).
    pub channels: Vec<usize>,
    /// Output width q.
    pub classes: usize,
}

impl CnnSpec {
    /// Validate: 1 to 3 stages (8 → 4 → 2 → 1 after pooling), every channel count in 1..=64,
    /// classes ≥ 1.
    pub fn new(channels: &[usize], classes: usize) -> Result<Self, InputError> {
        if channels.is_empty() || channels.len() > 3 {
            return Err(InputError::Value {
                key: "channels".into(),
                msg: format!("needs 1 to 3 conv stages (8×8 pooled 2×2 per stage), got {channels:?}"),
            });
        }
        if channels.iter().any(|&c| c == 0 || c > 64) {
            return Err(InputError::Value {
                key: "channels".into(),
                msg: format!("every channel count must be in 1..=64, got {channels:?}"),
            });
        }
        if classes == 0 {
            return Err(InputError::Value { key: "classes".into(), msg: "must be ≥ 1".into() });
        }
        Ok(CnnSpec { channels: channels.to_vec(), classes })
    }

    /// Side of the feature map entering stage s (0-based): 8 / 2^s.
    fn side(s: usize) -> usize {
        SIDE >> s
    }

    /// Features after the last pooling: C_S·(8/2^S)².
    pub fn dense_in(&self) -> usize {
        let s = self.channels.len();
        self.channels[s - 1] * Self::side(s) * Self::side(s)
    }

    /// Widths of the equivalent MLP: [64, 64·C₁, 16·C₂, …, q] (unpooled conv outputs).
    pub fn mlp_layers(&self) -> Vec<usize> {
        let mut l = vec![SIDE * SIDE];
        for (s, &c) in self.channels.iter().enumerate() {
            l.push(c * Self::side(s) * Self::side(s));
        }
        l.push(self.classes);
        l
    }

    /// (fan_in, count) of each parameter block in layout order: kernel, bias per stage, then dense
    /// weight and bias.
    fn blocks(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut cin = 1;
        for &c in &self.channels {
            out.push((9 * cin, c * cin * 9));
            out.push((9 * cin, c));
            cin = c;
        }
        out.push((self.dense_in(), self.classes * self.dense_in()));
        out.push((self.dense_in(), self.classes));
        out
    }

    /// Number of CNN parameters p.
    pub fn param_count(&self) -> usize {
        self.blocks().iter().map(|b| b.1).sum()
    }

    /// Short shape text, e.g. `conv4-dense10`.
    pub fn shape(&self) -> String {
        let mut s: Vec<String> = self.channels.iter().map(|c| format!("conv{c}")).collect();
        s.push(format!("dense{}", self.classes));
        s.join("-")
    }

    /// nn.Conv2d / nn.Linear-style initialisation: each entry uniform in [−1/√fan_in, 1/√fan_in]
    /// (fan_in = 9·C_{s−1} for stage s, kernel and bias; the flattened width for the dense layer),
    /// drawn in layout order from `ChaCha8Rng::seed_from_u64(seed)`, one u64 per entry mapped by
    /// `((x >> 11) as f64 · 2⁻⁵³) · 2b − b` (the MLP's map, `data::init_params`).
    pub fn init(&self, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = Vec::with_capacity(self.param_count());
        for (fan_in, count) in self.blocks() {
            let b = 1.0 / (fan_in as f64).sqrt();
            for _ in 0..count {
                out.push(uniform_pm(rng.next_u64(), b));
            }
        }
        out
    }

    /// The linear map A: for each MLP parameter, `Some((j, quarter))` when it equals θ_j (·¼ when
    /// `quarter`), `None` when it is identically 0.
    fn map(&self) -> Vec<Option<(usize, bool)>> {
        let layers = self.mlp_layers();
        let mut a = Vec::with_capacity(param_count(&layers));
        let mut off = 0; // offset of the current block in θ
        let mut cin = 1;
        for (s, &cout) in self.channels.iter().enumerate() {
            let h = Self::side(s); // output side of this stage (same padding)
            // Input grid of this stage's MLP layer: the unpooled previous output (side 2h) for
            // s ≥ 1 (pooling folded in, factor ¼), the 8×8 image for s = 0.
            let (hin, pooled) = if s == 0 { (SIDE, false) } else { (2 * h, true) };
            let kern = off;
            let bias = off + cout * cin * 9;
            for c in 0..cout {
                for i in 0..h {
                    for j in 0..h {
                        for ci in 0..cin {
                            for ii in 0..hin {
                                for jj in 0..hin {
                                    let (pi, pj) = if pooled { (ii / 2, jj / 2) } else { (ii, jj) };
                                    // kernel offset (pi − i + 1, pj − j + 1) ∈ {0,1,2}²
                                    let (di, dj) = (pi + 1, pj + 1);
                                    let e = if di >= i && dj >= j && di - i < 3 && dj - j < 3 {
                                        let k = kern + ((c * cin + ci) * 3 + (di - i)) * 3 + (dj - j);
                                        Some((k, pooled))
                                    } else {
                                        None
                                    };
                                    a.push(e);
                                }
                            }
                        }
                    }
                }
            }
            for c in 0..cout {
                for _ in 0..h * h {
                    a.push(Some((bias + c, false)));
                }
            }
            off = bias + cout;
            cin = cout;
        }
        // Dense layer on the unpooled last output (side 2·hp), pooling folded in.
        let hp = Self::side(self.channels.len());
        let din = self.dense_in();
        for o in 0..self.classes {
            for c in 0..cin {
                for ii in 0..2 * hp {
                    for jj in 0..2 * hp {
                        let k = off + o * din + (c * hp + ii / 2) * hp + jj / 2;
                        a.push(Some((k, true)));
                    }
                }
            }
        }
        let bias = off + self.classes * din;
        for o in 0..self.classes {
            a.push(Some((bias + o, false)));
        }
        debug_assert_eq!(a.len(), param_count(&layers));
        debug_assert_eq!(bias + self.classes, self.param_count());
        a
    }
}

/// u64 → uniform in [−b, b] (`data::init_params`' map).
fn uniform_pm(x: u64, b: f64) -> f64 {
    ((x >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)) * (2.0 * b) - b
}

/// A fixed sparse linear map φ = Aθ with entries in {1, ¼}, at most one per row, and its transpose
/// as lists of rows per column (ascending, so Aᵀg sums in a fixed order).
struct LinearMap<S> {
    rows: Vec<Option<(usize, bool)>>,
    /// For each θ index j: the MLP rows r with A[r, j] ≠ 0, ascending.
    cols: Vec<Vec<(usize, bool)>>,
    quarter: S,
}

impl<S: Scalar> LinearMap<S> {
    fn new(rows: Vec<Option<(usize, bool)>>, p: usize, c: S::Ctx) -> Self {
        let mut cols = vec![Vec::new(); p];
        for (r, e) in rows.iter().enumerate() {
            if let Some((j, q)) = *e {
                cols[j].push((r, q));
            }
        }
        LinearMap { rows, cols, quarter: S::from_f64(0.25, c) }
    }

    /// φ = Aθ.
    fn apply(&self, th: &[S], c: S::Ctx) -> Vec<S> {
        self.rows
            .iter()
            .map(|e| match *e {
                None => S::zero(c),
                Some((j, false)) => th[j].clone(),
                Some((j, true)) => th[j].clone() * &self.quarter,
            })
            .collect()
    }

    /// out = Aᵀg.
    fn apply_t(&self, g: &[S], out: &mut [S]) {
        for (o, col) in out.iter_mut().zip(&self.cols) {
            o.set_zero();
            let (mut one, mut quarter) = (false, false);
            // Σ over rows with coefficient 1, then ¼·Σ over rows with coefficient ¼ (each column
            // has a single coefficient: kernels under pooling, biases without).
            for &(r, q) in col {
                *o += &g[r];
                one |= !q;
                quarter |= q;
            }
            debug_assert!(!(one && quarter));
            if quarter {
                *o *= &self.quarter;
            }
        }
    }
}

/// The small CNN objective: L(θ) = L_mlp(Aθ) over a data set with 64 features (8×8 images).
pub struct Cnn<S: Scalar> {
    spec: CnnSpec,
    mlp: Mlp<S>,
    map: LinearMap<S>,
    ctx: S::Ctx,
}

impl<S: Scalar> Cnn<S> {
    /// Build the CNN over `data` (64 features read as an 8×8 image, labels < `spec.classes`).
    pub fn new(spec: &CnnSpec, act: Activation, loss: LossKind, data: &Dataset, ctx: S::Ctx) -> Result<Self, InputError> {
        crate::scalar::check_model_precision::<S>(ctx)?;
        if data.d != SIDE * SIDE {
            return Err(InputError::Dimension(format!(
                "the CNN reads 8×8 images: the data must have 64 features, it has {}",
                data.d
            )));
        }
        let spec = CnnSpec::new(&spec.channels, spec.classes)?;
        let mlp = Mlp::<S>::new(&spec.mlp_layers(), act, loss, data, ctx)?;
        let map = LinearMap::new(spec.map(), spec.param_count(), ctx);
        Ok(Cnn { spec, mlp, map, ctx })
    }

    /// The architecture.
    pub fn spec(&self) -> &CnnSpec {
        &self.spec
    }

    /// The equivalent MLP (at parameters Aθ).
    pub fn mlp(&self) -> &Mlp<S> {
        &self.mlp
    }

    /// The MLP parameters φ = Aθ.
    pub fn mlp_params(&self, th: &[S]) -> Result<Vec<S>, EvalError> {
        self.check_len("parameter vector", th.len())?;
        Ok(self.map.apply(th, self.ctx))
    }

    /// Select the f64 faer kernel of the inner MLP (see [`Mlp::set_fast`]).
    pub fn set_fast(&mut self, fast: bool) {
        self.mlp.set_fast(fast);
    }

    fn check_len(&self, what: &str, len: usize) -> Result<(), EvalError> {
        let p = self.spec.param_count();
        if len == p {
            Ok(())
        } else {
            Err(EvalError::Other(format!("{what} has length {len}, the CNN {} has p = {p}", self.spec.shape())))
        }
    }

    /// Runs `f` on the mapped vectors and writes Aᵀ(result) into `out`.
    fn pulled(&self, vs: &[&[S]], out: &mut [S], f: impl FnOnce(&[Vec<S>], &mut [S]) -> Result<(), EvalError>) -> Result<(), EvalError> {
        for v in vs {
            self.check_len("parameter/direction vector", v.len())?;
        }
        self.check_len("output vector", out.len())?;
        let mapped: Vec<Vec<S>> = vs.iter().map(|v| self.map.apply(v, self.ctx)).collect();
        let mut g = crate::linalg::zeros::<S>(self.mlp.dim(), self.ctx);
        f(&mapped, &mut g)?;
        self.map.apply_t(&g, out);
        Ok(())
    }
}

impl<S: Scalar> Objective<S> for Cnn<S> {
    fn dim(&self) -> usize {
        self.spec.param_count()
    }

    fn data_rows(&self) -> Option<crate::memory::Rows> {
        self.mlp.data_rows()
    }

    fn ctx(&self) -> S::Ctx {
        self.ctx
    }

    fn nonnegative(&self) -> bool {
        true
    }
    fn describe(&self) -> String {
        format!(
            "cnn {} {} {} (n = {}, p = {}, precision {})",
            self.spec.shape(),
            self.mlp.activation().name(),
            self.mlp.loss().name(),
            self.mlp.n_samples(),
            self.dim(),
            S::precision_name(self.ctx)
        )
    }

    fn value(&self, th: &[S]) -> Result<S, EvalError> {
        self.mlp.value(&self.mlp_params(th)?)
    }

    fn grad(&self, th: &[S], g: &mut [S]) -> Result<S, EvalError> {
        let mut value = None;
        self.pulled(&[th], g, |m, gm| {
            value = Some(self.mlp.grad(&m[0], gm)?);
            Ok(())
        })?;
        Ok(value.expect("set by the closure"))
    }

    fn hvp(&self, th: &[S], v: &[S], out: &mut [S]) -> Result<(), EvalError> {
        self.pulled(&[th, v], out, |m, o| self.mlp.hvp(&m[0], &m[1], o))
    }

    fn d3(&self, th: &[S], v: &[S], w: &[S], out: &mut [S]) -> Result<(), EvalError> {
        self.pulled(&[th, v, w], out, |m, o| self.mlp.d3(&m[0], &m[1], &m[2], o))
    }

    fn d3_sym(&self, th: &[S], v: &[S], out: &mut [S]) -> Result<(), EvalError> {
        self.pulled(&[th, v], out, |m, o| self.mlp.d3_sym(&m[0], &m[1], o))
    }

    fn d4(&self, th: &[S], v: &[S], out: &mut [S]) -> Result<(), EvalError> {
        self.pulled(&[th, v], out, |m, o| self.mlp.d4(&m[0], &m[1], o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The map reproduces a direct convolution + pooling + dense forward pass (naive loops, f64):
    /// the same roundings in a different order (and std's tanh in the loops), a sum of positive
    /// terms, so a few ε relative, bounded by 32ε as for the MLP's naive loop (measured 2.4e-16 ≈ 1.1ε;
    /// until session 42 asserted to 1e-12).
    #[test]
    fn cnn_value_matches_direct_convolution() {
        let spec = CnnSpec::new(&[3, 2], 10).unwrap();
        let n = 5;
        let x: Vec<f64> = (0..n * 64).map(|e| libm::sin(0.7 * e as f64 + 0.3)).collect();
        let y: Vec<i64> = (0..n as i64).map(|i| (3 * i + 1) % 10).collect();
        let ds = Dataset { x: x.clone(), y: y.clone(), n, d: 64 };
        let cnn = Cnn::<f64>::new(&spec, Activation::Tanh, LossKind::Mse, &ds, ()).unwrap();
        let th: Vec<f64> = spec.init(7);
        let got = cnn.value(&th).unwrap();
        // Direct forward pass.
        let mut loss = 0.0;
        for i in 0..n {
            let mut fm: Vec<f64> = x[i * 64..(i + 1) * 64].to_vec(); // [cin, h, h]
            let (mut cin, mut h, mut off) = (1, 8usize, 0);
            for &cout in &spec.channels {
                let mut conv = vec![0.0; cout * h * h];
                for c in 0..cout {
                    for r in 0..h {
                        for s in 0..h {
                            let mut acc = th[off + cout * cin * 9 + c];
                            for ci in 0..cin {
                                for di in 0..3 {
                                    for dj in 0..3 {
                                        let (rr, ss) = (r as i64 + di as i64 - 1, s as i64 + dj as i64 - 1);
                                        if rr >= 0 && ss >= 0 && (rr as usize) < h && (ss as usize) < h {
                                            acc += th[off + ((c * cin + ci) * 3 + di) * 3 + dj]
                                                * fm[(ci * h + rr as usize) * h + ss as usize];
                                        }
                                    }
                                }
                            }
                            conv[(c * h + r) * h + s] = acc.tanh();
                        }
                    }
                }
                let hp = h / 2;
                let mut pooled = vec![0.0; cout * hp * hp];
                for c in 0..cout {
                    for r in 0..hp {
                        for s in 0..hp {
                            let q = |a: usize, b: usize| conv[(c * h + 2 * r + a) * h + 2 * s + b];
                            pooled[(c * hp + r) * hp + s] = 0.25 * (q(0, 0) + q(0, 1) + q(1, 0) + q(1, 1));
                        }
                    }
                }
                off += cout * cin * 9 + cout;
                fm = pooled;
                cin = cout;
                h = hp;
            }
            let din = fm.len();
            for o in 0..10 {
                let mut f = th[off + 10 * din + o];
                for k in 0..din {
                    f += th[off + o * din + k] * fm[k];
                }
                let t = if o as i64 == y[i] { 1.0 } else { 0.0 };
                loss += (f - t) * (f - t);
            }
        }
        loss /= n as f64;
        assert!((got - loss).abs() <= 32.0 * f64::EPSILON * loss, "{got} vs {loss}");
    }

    #[test]
    fn spec_validation_and_counts() {
        assert!(CnnSpec::new(&[], 10).is_err());
        assert!(CnnSpec::new(&[4, 4, 4, 4], 10).is_err());
        assert!(CnnSpec::new(&[0], 10).is_err());
        let s = CnnSpec::new(&[4], 10).unwrap();
        assert_eq!(s.param_count(), 4 * 9 + 4 + 10 * 64 + 10);
        assert_eq!(s.mlp_layers(), vec![64, 256, 10]);
        let s2 = CnnSpec::new(&[4, 8], 10).unwrap();
        assert_eq!(s2.param_count(), 40 + 8 * 4 * 9 + 8 + 10 * 32 + 10);
        assert_eq!(s2.init(1).len(), s2.param_count());
    }
}
