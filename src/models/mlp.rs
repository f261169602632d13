//! Multilayer perceptrons with smooth activations and exact derivatives up to fourth order
//! (models.md §3, decisions.md §2 and §5).
//!
//! $$f(x) = W_L\,\sigma(\cdots\sigma(W_1x + b_1)\cdots) + b_L,$$
//! the activation following every hidden layer and never the output. The flat parameter vector θ
//! holds, for each layer in order, $W_l$ ([out, in], row-major) and then $b_l$ (\[out\]).
//!
//! Losses over the data $(x_i, y_i)_{i<n}$ (the authors' conventions):
//! - `mse`: $L = \frac1n\sum_i \|f(x_i) - e_{y_i}\|^2$ (no factor ½, one-hot targets);
//! - `ce`: $L = \frac1n\sum_i [\operatorname{logsumexp} f(x_i) - f(x_i)_{y_i}]$.
//!
//! Derivatives are forward-over-reverse: one backward pass, written once, runs in a truncated Taylor
//! algebra ([`super::jet`]) at θ + εv (or θ + ε₁v + ε₂w); the coefficients of the resulting gradient
//! jet are ∇L, ∇²L v, ½∇³L\[v,v\], ⅙∇⁴L\[v,v,v\] or ∇³L\[v,w\]. The cost is a small multiple of one
//! gradient (≈ the number of coefficient pairs of the algebra), never p gradients.
//!
//! Evaluation cost (issue 7; every item leaves the results' bits unchanged): the coefficient blocks
//! come from a buffer pool kept in the model ([`jet::Pool`]: no allocation or page fault per call);
//! W, b and X enter the products as borrowed slices; the gradient and the jet evaluations at one of
//! the last two θ's evaluated reuse that θ's constant blocks (`Base`: the forward σ^(k)(Z₀), the
//! backward G₀ and (∂L/∂A)₀; the gradient builds them, a jet of a higher degree only adds σ^(k) orders,
//! for tanh in the f64 fast path from the stored σ: the gradient stores neither Z₀ nor σ'(Z₀)), so
//! grad → HVPs → ∇S at one θ run one forward and backward pass, and the HVPs of one Lanczos solve
//! issue 2f₁ + 6Σ_{l>1}f_l flops of products instead of 3f₁ + 8Σ_{l>1}f_l
//! (f_l = 2·n·in_l·out_l); with `linalg::set_threads(2)` the elementwise passes are split at a fixed
//! index over two threads ([`jet::par_parts`]), so one and two threads give the same bits. In f64
//! with n ≥ [`SHARD_MIN_ROWS`] the model evaluates the two halves of its data as two shards and adds
//! their results (two threads run one each; the split depends on n only, see [`Mlp::new`]).

use super::jet::{self, JetKind, JetMat, taylor_apply};
use crate::data::Dataset;
use crate::error::{EvalError, InputError};
use crate::objective::Objective;
use crate::scalar::Scalar;

/// Smooth activation functions (models.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// tanh z.
    Tanh,
    /// SiLU / swish: z·s(z), s the logistic function.
    Silu,
    /// Exact GELU: z·Φ(z), Φ(z) = (1 + erf(z/√2))/2.
    Gelu,
}

impl Activation {
    /// Parse `tanh`, `silu` (alias `swish`) or `gelu`.
    pub fn parse(s: &str) -> Result<Self, InputError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tanh" => Ok(Activation::Tanh),
            "silu" | "swish" => Ok(Activation::Silu),
            "gelu" => Ok(Activation::Gelu),
            _ => Err(InputError::Unknown {
                what: "activation",
                got: s.to_string(),
                expected: "tanh, silu (swish), gelu",
            }),
        }
    }

    /// Canonical name.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Tanh => "tanh",
            Activation::Silu => "silu",
            Activation::Gelu => "gelu",
        }
    }
}

/// Loss functions (models.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossKind {
    /// Mean squared error to one-hot targets, without the factor ½.
    Mse,
    /// Mean softmax cross-entropy.
    Ce,
}

impl LossKind {
    /// Parse `mse`, `ce` or `cross-entropy`.
    pub fn parse(s: &str) -> Result<Self, InputError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mse" => Ok(LossKind::Mse),
            "ce" | "cross-entropy" => Ok(LossKind::Ce),
            _ => Err(InputError::Unknown {
                what: "loss",
                got: s.to_string(),
                expected: "mse, ce (cross-entropy)",
            }),
        }
    }

    /// Canonical name.
    pub fn name(&self) -> &'static str {
        match self {
            LossKind::Mse => "mse",
            LossKind::Ce => "ce",
        }
    }
}

/// Number of parameters of an MLP with these widths: Σ_l (in_l·out_l + out_l).
pub fn param_count(layers: &[usize]) -> usize {
    layers.windows(2).map(|w| w[0] * w[1] + w[1]).sum()
}

/// p = Σ (w_i + 1)·w_{i+1} in checked arithmetic: `None` when it does not fit a `usize` (a
/// wrapped count would allocate nonsense). [`Mlp::new`] and `--layers` refuse such widths.
pub fn checked_param_count(layers: &[usize]) -> Option<usize> {
    layers.windows(2).try_fold(0usize, |p, w| w[0].checked_add(1)?.checked_mul(w[1])?.checked_add(p))
}

// ---------------------------------------------------------------------------------------------
// Activation derivatives in closed form.

/// Integer polynomial (ascending coefficients) derivative.
fn poly_deriv(p: &[i64]) -> Vec<i64> {
    p.iter()
        .enumerate()
        .skip(1)
        .map(|(k, c)| k as i64 * c)
        .collect()
}

/// Integer polynomial product.
fn poly_mul(p: &[i64], q: &[i64]) -> Vec<i64> {
    if p.is_empty() || q.is_empty() {
        return Vec::new();
    }
    let mut r = vec![0; p.len() + q.len() - 1];
    for (i, a) in p.iter().enumerate() {
        for (j, b) in q.iter().enumerate() {
            r[i + j] += a * b;
        }
    }
    r
}

/// P₀ = start, P_{k+1} = P_k'·g: the k-th derivative of a function u with u' = g(u) is P_k(u).
fn poly_chain(start: &[i64], g: &[i64], kmax: usize) -> Vec<Vec<i64>> {
    let mut out = vec![start.to_vec()];
    for k in 0..kmax {
        let next = poly_mul(&poly_deriv(&out[k]), g);
        out.push(next);
    }
    out
}

/// Probabilists' Hermite polynomials He₀ … He_kmax (He_{k+1} = z He_k − k He_{k−1}); the k-th
/// derivative of the normal density is (−1)^k He_k(z) φ(z).
fn hermite(kmax: usize) -> Vec<Vec<i64>> {
    let mut h: Vec<Vec<i64>> = vec![vec![1], vec![0, 1]];
    for k in 1..kmax {
        let mut next = vec![0; k + 2];
        for (i, c) in h[k].iter().enumerate() {
            next[i + 1] += c;
        }
        for (i, c) in h[k - 1].iter().enumerate() {
            next[i] -= k as i64 * c;
        }
        h.push(next);
    }
    h.truncate(kmax + 1);
    h
}

/// p(x) by Horner's rule (ascending coefficients).
fn horner<S: Scalar>(p: &[S], x: &S, c: S::Ctx) -> S {
    let Some((last, rest)) = p.split_last() else {
        return S::zero(c);
    };
    let mut acc = last.clone();
    for a in rest.iter().rev() {
        acc *= x;
        acc += a;
    }
    acc
}

/// Evaluates σ, σ', …, σ^(kmax) at a point in closed form:
/// - tanh: σ^(k) = P_k(t), t = tanh z, P₀ = t, P_{k+1} = P_k'·(1 − t²);
/// - SiLU: s = (1 + tanh(z/2))/2, s^(k) = Q_k(s) with Q_{k+1} = Q_k'·(s − s²), and
///   σ^(k) = z s^(k) + k s^(k−1);
/// - GELU: Φ^(k) = (−1)^(k−1) He_{k−1}(z) φ(z) (k ≥ 1), σ^(k) = z Φ^(k) + k Φ^(k−1).
pub struct ActivationDerivs<S: Scalar> {
    act: Activation,
    kmax: usize,
    polys: Vec<Vec<S>>,
    half: S,
    inv_sqrt2: S,
    inv_sqrt2pi: S,
    /// k as a scalar, k = 0..=kmax.
    ks: Vec<S>,
    ctx: S::Ctx,
}

impl<S: Scalar> ActivationDerivs<S> {
    /// Prepare the closed forms of σ … σ^(kmax) at the precision `c`.
    pub fn new(act: Activation, kmax: usize, c: S::Ctx) -> Self {
        let ints = match act {
            Activation::Tanh => poly_chain(&[0, 1], &[1, 0, -1], kmax),
            Activation::Silu => poly_chain(&[0, 1], &[0, 1, -1], kmax),
            Activation::Gelu => hermite(kmax),
        };
        let polys = ints
            .iter()
            .map(|p| p.iter().map(|&a| S::from_i64(a, c)).collect())
            .collect();
        let two = S::from_i64(2, c);
        let inv_sqrt2 = S::one(c) / &two.sqrt();
        let inv_sqrt2pi = S::one(c) / &(S::pi(c) * &two).sqrt();
        ActivationDerivs {
            act,
            kmax,
            polys,
            half: S::from_f64(0.5, c),
            inv_sqrt2,
            inv_sqrt2pi,
            ks: (0..=kmax as i64).map(|k| S::from_i64(k, c)).collect(),
            ctx: c,
        }
    }

    /// Largest derivative order evaluated.
    pub fn kmax(&self) -> usize {
        self.kmax
    }

    /// out\[k\] = σ^(k)(z) for k = 0..=kmax.
    pub fn eval(&self, z: &S, out: &mut [S]) {
        let c = self.ctx;
        let kmax = self.kmax;
        debug_assert!(out.len() > kmax);
        match self.act {
            Activation::Tanh => {
                let t = z.tanh();
                for (o, p) in out.iter_mut().zip(&self.polys) {
                    *o = horner(p, &t, c);
                }
            }
            Activation::Silu => {
                // out[k] = s^(k) = Q_k(s) first, then the product rule in place.
                let s = (S::one(c) + &(z.clone() * &self.half).tanh()) * &self.half;
                for (o, p) in out.iter_mut().zip(&self.polys) {
                    *o = horner(p, &s, c);
                }
                self.times_z(z, out);
            }
            Activation::Gelu => {
                // out[k] = Φ^(k) first, then the product rule in place.
                let arg = z.clone() * &self.inv_sqrt2;
                out[0] = (S::one(c) + &arg.erf()) * &self.half;
                let phi = (-(z.clone() * z) * &self.half).exp() * &self.inv_sqrt2pi;
                // Φ^(j) = (−1)^(j−1) He_{j−1}(z) φ(z), j = 1..=kmax.
                for (j, (o, he)) in out[1..=kmax].iter_mut().zip(&self.polys).enumerate() {
                    let t = horner(he, z, c) * &phi;
                    *o = if j % 2 == 0 { t } else { -t };
                }
                self.times_z(z, out);
            }
        }
    }

    /// Product rule for z·g(z): given out[k] = g^(k), overwrite with (z g)^(k) = z g^(k) + k g^(k−1)
    /// (top-down, so g^(k−1) is still unmodified when it is read).
    fn times_z(&self, z: &S, out: &mut [S]) {
        for k in (1..=self.kmax).rev() {
            let (lo, hi) = out.split_at_mut(k);
            hi[0] *= z;
            hi[0].mul_acc(&self.ks[k], &lo[k - 1]);
        }
        out[0] *= z;
    }
}

/// What [`fast_derivs`] evaluates σ^(k) from.
enum DerivSrc<'a, S> {
    /// Z before its bias b [out] (added to every row; `None`: no bias) in the same pass, then
    /// σ^(k)(Z + b) for k = 0..=kmax; with `keep` (the third field) Z ← Z + b is written back.
    Z(&'a mut Vec<S>, Option<&'a [S]>, bool),
    /// σ(Z) = tanh Z as this path stores it (tanh only), for the orders k = `from`..=kmax: P_k(σ)
    /// has the bits of P_k(tanh Z) (σ is the stored P₀(t) = 1·t + 0, which differs from t only at
    /// t = −0, and P_k's Horner steps give the same bits at ±0), so no tanh is evaluated again.
    Tanh(&'a Vec<S>, usize),
}

/// Entries per chunk of [`fast_derivs`]'s pass.
const FAST_CHUNK: usize = 512;

/// out[i] = p(x[i]) by Horner's rule, each entry with [`horner`]'s operations (acc = last;
/// acc = acc·x + a; the first step writes last·x + a directly). Inlined into the callers' SIMD
/// dispatch.
#[inline(always)]
fn horner_slice(p: &[f64], x: &[f64], out: &mut [f64]) {
    match p.split_last() {
        None => out.fill(0.0),
        Some((last, [])) => out.fill(*last),
        Some((last, [lower @ .., first])) => {
            out.iter_mut().zip(x).for_each(|(v, x)| *v = last * x + first);
            for a in lower.iter().rev() {
                out.iter_mut().zip(x).for_each(|(v, x)| *v = *v * x + a);
            }
        }
    }
}

/// f64 fast path of the gradient's backward product for tanh: `Some(G)` with G = 0 + GA·σ'(Z),
/// σ'(Z) = P₁(σ) formed chunk by chunk from the stored σ (`sigma`), when S is f64 (`None`
/// otherwise): the bits of [`jet::hadamard_in`] with the stored σ' (see [`DerivSrc::Tanh`]) without
/// storing σ'. Split over two threads by [`jet::par_parts`]; G comes from `pool`.
#[allow(clippy::ptr_arg)] // `&Vec`: the sized type is what is downcast to f64
fn dtanh_product<S: Scalar>(ad: &ActivationDerivs<S>, ga: &Vec<S>, sigma: &Vec<S>, pool: &jet::Pool<S>) -> Option<Vec<S>> {
    use std::any::Any;
    let pool = (pool as &dyn Any).downcast_ref::<jet::Pool<f64>>()?;
    let ga = (ga as &dyn Any).downcast_ref::<Vec<f64>>()?;
    let sigma = (sigma as &dyn Any).downcast_ref::<Vec<f64>>()?;
    let p1: Vec<f64> = ad.polys[1].iter().map(Scalar::to_f64).collect();
    let mut g = pool.take(ga.len(), ());
    jet::par_parts(g.len(), 1, vec![&mut g[..]], #[inline(always)] |lo, mut o| {
        let mut d = [0.0f64; FAST_CHUNK];
        for (i, gc) in o[0].chunks_mut(FAST_CHUNK).enumerate() {
            let r = lo + i * FAST_CHUNK..lo + i * FAST_CHUNK + gc.len();
            let dc = &mut d[..gc.len()];
            horner_slice(&p1, &sigma[r.clone()], dc);
            gc.iter_mut().zip(&ga[r]).zip(&*dc).for_each(|((g, a), dv)| *g = 0.0 + a * dv);
        }
    });
    let boxed: Box<dyn Any> = Box::new(g);
    boxed.downcast::<Vec<S>>().ok().map(|b| *b)
}

/// f64 fast path of the activation derivatives: `Some(out)` with out[k − from][i] = σ^(k)(z[i]) for
/// the orders k = from..=kmax of `src` when S is f64 and the activation is tanh or SiLU (GELU, MPFR,
/// SiLU from σ: `None` and z unchanged; use [`ActivationDerivs::eval`]). The same closed forms,
/// Horner order and product rule as the generic path; only tanh differs, computed by
/// [`crate::scalar::tanh_fast`] (≤ 2 ulp) instead of libm. One pass over z in cache-sized chunks
/// (bias, tanh, then every derivative order of the chunk), split over two threads by
/// [`jet::par_parts`]; the output blocks come from `pool`.
fn fast_derivs<S: Scalar>(ad: &ActivationDerivs<S>, src: DerivSrc<'_, S>, pool: &jet::Pool<S>) -> Option<Vec<Vec<S>>> {
    use std::any::Any;
    let pool = (pool as &dyn Any).downcast_ref::<jet::Pool<f64>>()?;
    let silu = match ad.act {
        Activation::Tanh => false,
        Activation::Silu => true,
        Activation::Gelu => return None,
    };
    // The source: z (mutable for the bias) with the bias tiled, so that the chunk at global index
    // g adds tile[g % width..], or the stored tanh and the lowest order wanted.
    let (mut z, tanh, from, tile, width, keep) = match src {
        DerivSrc::Z(z, bias, keep) => {
            let z = (z as &mut dyn Any).downcast_mut::<Vec<f64>>()?;
            let width = bias.map_or(1, <[S]>::len);
            let tile: Vec<f64> = bias.map_or_else(Vec::new, |b| b.iter().map(Scalar::to_f64).cycle().take(FAST_CHUNK + width).collect());
            (Some(z), None, 0, tile, width, keep)
        }
        DerivSrc::Tanh(t, from) if !silu => (None, Some((t as &dyn Any).downcast_ref::<Vec<f64>>()?), from, Vec::new(), 1, false),
        DerivSrc::Tanh(..) => return None,
    };
    let kmax = ad.kmax;
    let polys: Vec<Vec<f64>> = ad
        .polys
        .iter()
        .take(kmax + 1)
        .map(|p| p.iter().map(Scalar::to_f64).collect())
        .collect();
    let polys = &polys[from..];
    let len = z.as_ref().map_or_else(|| tanh.map_or(0, |t| t.len()), |z| z.len());
    let mut out: Vec<Vec<f64>> = polys.iter().map(|_| pool.take(len, ())).collect();
    // The outputs, then z (when it is the source).
    let mut outs: Vec<&mut [f64]> = out.iter_mut().map(|v| &mut v[..]).collect();
    outs.extend(z.as_mut().map(|z| z.as_mut_slice()));
    jet::par_parts(len, 1, outs, #[inline(always)] |lo, mut o| {
        let mut base = [0.0f64; FAST_CHUNK];
        let mut half = [0.0f64; FAST_CHUNK];
        let mut biased = [0.0f64; FAST_CHUNK];
        let mut zs = if tanh.is_some() { None } else { o.pop() };
        let n = o[0].len();
        let mut s = 0;
        while s < n {
            let e = (s + FAST_CHUNK).min(n);
            let bc = &mut base[..e - s];
            let zc: &[f64] = match (zs.as_deref_mut(), tanh) {
                (Some(zs), _) => {
                    let zc = &mut zs[s..e];
                    let tc = tile.get((lo + s) % width..).unwrap_or_default();
                    if tile.is_empty() {
                        zc
                    } else if keep {
                        zc.iter_mut().zip(tc).for_each(|(v, b)| *v += b);
                        zc
                    } else {
                        let zb = &mut biased[..e - s];
                        zb.iter_mut().zip(zc.iter().zip(tc)).for_each(|(o, (v, b))| *o = v + b);
                        zb
                    }
                }
                (None, Some(t)) => {
                    bc.copy_from_slice(&t[lo + s..lo + e]);
                    &[]
                }
                (None, None) => unreachable!("a source is given"),
            };
            if tanh.is_some() {
                // bc holds the stored σ (see `DerivSrc::Tanh`).
            } else if silu {
                // s = (1 + tanh(z/2))/2, in the generic path's order of operations.
                let hc = &mut half[..e - s];
                hc.iter_mut().zip(zc).for_each(|(h, v)| *h = v * 0.5);
                crate::scalar::tanh_fast_slice(hc, bc);
                bc.iter_mut().for_each(|t| *t = (1.0 + *t) * 0.5);
            } else {
                crate::scalar::tanh_fast_slice(zc, bc);
            }
            for (ok, p) in o.iter_mut().zip(polys) {
                horner_slice(p, bc, &mut ok[s..e]);
            }
            if silu {
                // Product rule (z g)^(k) = z g^(k) + k g^(k−1), top-down as `times_z`.
                for k in (1..=kmax).rev() {
                    let kf = k as f64;
                    let (lo_k, hi_k) = o.split_at_mut(k);
                    hi_k[0][s..e]
                        .iter_mut()
                        .zip(&lo_k[k - 1][s..e])
                        .zip(zc)
                        .for_each(|((o, g), zv)| *o = *o * zv + kf * g);
                }
                o[0][s..e].iter_mut().zip(zc).for_each(|(o, zv)| *o *= zv);
            }
            s = e;
        }
    });
    let boxed: Box<dyn Any> = Box::new(out);
    boxed.downcast::<Vec<Vec<S>>>().ok().map(|b| *b)
}

// ---------------------------------------------------------------------------------------------
// The model.

/// A multilayer perceptron objective over a fixed data set (models.md §3).
pub struct Mlp<S: Scalar> {
    layers: Vec<usize>,
    act: Activation,
    loss: LossKind,
    /// X as a constant jet matrix [n, d] (one block; it has no ε-part in any algebra).
    x: JetMat<S>,
    y: Vec<usize>,
    n: usize,
    /// The n of the losses' 1/n: this model's n, or the whole data set's for a shard.
    norm: usize,
    /// In the f64 fast path with n ≥ [`SHARD_MIN_ROWS`]: the models of the two halves of the data
    /// (see [`Mlp::new`]); empty otherwise.
    shards: Vec<Mlp<S>>,
    /// Offset of each layer's W in θ (its b follows at offset + out·in).
    offsets: Vec<usize>,
    ctx: S::Ctx,
    fast: bool,
    /// Coefficient buffers reused from one evaluation to the next (see [`jet::Pool`]).
    pool: jet::Pool<S>,
    /// The constant blocks of the last θ's evaluated, most recently used first (see [`Base`]): of
    /// one θ with one thread, of [`BASES`] with two, so that two evaluation chains at different θ's
    /// running concurrently (a tracking step's GD/prediction work and its θ† chain) each find theirs.
    base: std::sync::Mutex<Vec<std::sync::Arc<Base<S>>>>,
    /// Whether evaluations use `base` (always, except in the test that checks that they give the
    /// same bits as the full evaluation).
    reuse_base: bool,
    /// The highest derivative order σ^(k) any jet evaluation has needed so far: jet evaluations
    /// extend `base` to at least it, so that the HVPs and ∇S at one θ share one forward pass with
    /// the gradient (which builds `base` with the order its own pass needs, [`Mlp::grad_kmax`]).
    base_kmax: std::sync::atomic::AtomicUsize,
}

/// Samples from which the f64 model evaluates its data in two halves (see [`Mlp::new`]). Two
/// threads then run one half each: a single join per evaluation instead of a wake-up of faer's
/// second thread per product, which on the 2-core KVM Xeon costs about as much as a 500×64×64
/// product (examples/diag_gemm: 1 thread 50 µs, split in two 79 µs). Measured (examples/perf_threads,
/// wall ms, 2 threads, before → after): medium loss+grad 0.93 → 0.44, HVP 1.42 → 0.67, ∇S 2.26 →
/// 1.18; large 2.62 → 1.35, 4.02 → 2.22, 6.87 → 4.05; xl 20.8 → 16.1, 34.9 → 28.8, 63.3 → 54.0;
/// tiny (n = 200) 0.124 → 0.109, 0.166 → 0.129, 0.302 → 0.186, with one thread within ±5 %.
pub const SHARD_MIN_ROWS: usize = 128;

/// Number of θ's whose constant blocks [`Mlp`] keeps with two threads (least recently used
/// replaced first; one thread keeps one: a sequential evaluation order returns to no other θ, and
/// the blocks it replaces are the most recently used, still in cache, for the new ones).
const BASES: usize = 2;

/// The constant (θ-only) blocks of a jet evaluation: every jet evaluation at the same θ computes
/// them identically (block 0 of a product depends only on blocks 0 of its factors), so the gradient
/// and a sequence of HVPs or ∇³L evaluations at one θ (a Lanczos solve, a projection step) compute
/// them once: the forward pass σ^(k)(Z_l,0), the backward pass ∂L/∂A_l,0 and ∂L/∂Z_l,0, the output
/// and the loss. Reusing them changes no bit of any result (the same values enter the same
/// operations).
struct Base<S> {
    /// θ (compared value and sign, so ±0 are told apart) and the kernel mode it was computed with.
    theta: Vec<S>,
    fast: bool,
    /// Highest derivative order stored (0: σ only, the gradient's with [`Mlp::derivs_from_sigma`]).
    kmax: usize,
    /// Z_l,0 for each hidden layer l (higher orders σ^(k) are formed from it without a new forward
    /// pass, see [`Mlp::base_at`]); empty when they are formed from σ ([`Mlp::derivs_from_sigma`]).
    z0: Vec<Vec<S>>,
    /// σ^(k)(Z_l,0), k = 0..=kmax, for each hidden layer l.
    derivs: Vec<Vec<Vec<S>>>,
    /// σ^(k)(Z_l,0)/k! and σ^(k+1)(Z_l,0)/k! for k = 2..kmax (index k − 2), for each hidden layer l:
    /// the scaled derivatives of the Taylor series of σ(Z) and σ'(Z). Formed from `derivs` by the
    /// first evaluation of degree ≥ 2 that uses them (see [`Base::scaled`]).
    scaled: std::sync::OnceLock<Scaled<S>>,
    /// (∂L/∂A_{l−1})₀ = G_l,0 W_l,0 for each layer l ≥ 1 (index l; `None` at l = 0).
    ga0: Vec<Option<Vec<S>>>,
    /// G_l,0 = (∂L/∂Z_l)₀ for each layer l.
    g0: Vec<Vec<S>>,
    /// The network output f(θ) [n, out].
    f0: Vec<S>,
    /// L(θ).
    value: S,
}

/// σ^(k)(Z_l,0)/k! and σ^(k+1)(Z_l,0)/k!, k = 2..kmax, for each hidden layer l (see [`Base`]).
type Scaled<S> = Vec<Vec<(Vec<S>, Vec<S>)>>;

impl<S: Scalar> Base<S> {
    fn matches(&self, theta: &[S], fast: bool, kmax: usize) -> bool {
        self.fast == fast
            && self.kmax >= kmax
            && self.theta.len() == theta.len()
            && all_chunked(&self.theta, theta, |a, b| {
                a == b && a.to_f64().is_sign_negative() == b.to_f64().is_sign_negative()
            })
    }

    /// `scaled`, formed from `derivs` on first use (blocks from `pool`).
    fn scaled(&self, pool: &jet::Pool<S>, c: S::Ctx) -> &Scaled<S> {
        self.scaled.get_or_init(|| {
            self.derivs
                .iter()
                .map(|d| {
                    (2..self.kmax)
                        .map(|k| {
                            let fact = jet::factorial::<S>(k, c);
                            (jet::divided(pool, &d[k], &fact, c), jet::divided(pool, &d[k + 1], &fact, c))
                        })
                        .collect()
                })
                .collect()
        })
    }

    fn recycle(self, pool: &jet::Pool<S>) {
        self.z0.into_iter().for_each(|v| pool.give(v));
        self.derivs.into_iter().flatten().for_each(|v| pool.give(v));
        self.scaled.into_inner().into_iter().flatten().flatten().for_each(|(a, b)| {
            pool.give(a);
            pool.give(b);
        });
        self.ga0.into_iter().flatten().for_each(|v| pool.give(v));
        self.g0.into_iter().for_each(|v| pool.give(v));
        pool.give(self.f0);
    }
}

/// Whether `pred(a[i], b[i])` holds for every i (`a`, `b` of one length): chunk by chunk, each
/// chunk without short-circuiting (so that the f64 loop is vectorised, in the CPU's SIMD width),
/// stopping after the first chunk where it fails.
fn all_chunked<S>(a: &[S], b: &[S], pred: impl Fn(&S, &S) -> bool) -> bool {
    const CHUNK: usize = 256;
    crate::linalg::simd(
        #[inline(always)]
        || a.chunks(CHUNK).zip(b.chunks(CHUNK)).all(|(a, b)| a.iter().zip(b).fold(true, |ok, (a, b)| ok & pred(a, b))),
    )
}

/// The input blocks of layer l: X for l = 0, else σ(Z_{l−1}) with its constant block taken from
/// `base` when the evaluation reuses the θ-only blocks (the jet pass then leaves that block out).
fn layer_input<'a, S: Scalar>(x: &jet::Blocks<'a, S>, hidden: &'a [JetMat<S>], base: Option<&'a Base<S>>, l: usize) -> jet::Blocks<'a, S> {
    if l == 0 {
        return x.clone();
    }
    let mut v = hidden[l - 1].views();
    if let Some(bs) = base {
        v[0] = Some(&bs.derivs[l - 1][0]);
    }
    v
}

/// The constant input block of layer l: X for l = 0, else σ(Z_{l−1,0}) from `derivs` (as in [`Base`]).
fn base_input<'a, S: Scalar>(x: &jet::Blocks<'a, S>, derivs: &'a [Vec<Vec<S>>], l: usize) -> jet::Blocks<'a, S> {
    if l == 0 { x.clone() } else { vec![Some(derivs[l - 1][0].as_slice())] }
}

/// z ← z + b, b [width] added to every row of z (split over two threads by [`jet::par_parts`]).
fn add_bias<S: Scalar>(z: &mut [S], b: &[S]) {
    let width = b.len();
    jet::par_parts(z.len(), width, vec![z], #[inline(always)] |_, mut o| {
        for row in o[0].chunks_mut(width) {
            row.iter_mut().zip(b).for_each(|(a, bj)| *a += bj);
        }
    });
}

/// σ^(k)(Z + b) for k = 0..=`ad.kmax()` (entry k of the result), b = `bias` added to every row (see
/// [`add_bias`]): each entry by [`fast_derivs`] (the bias in the same pass) when `fast` allows it,
/// else by [`ActivationDerivs::eval`]. Z holds Z + b afterwards if `keep` (else unspecified values).
fn sigma_derivs<S: Scalar>(ad: &ActivationDerivs<S>, z: &mut Vec<S>, bias: Option<&[S]>, keep: bool, pool: &jet::Pool<S>, fast: bool) -> Vec<Vec<S>> {
    if let Some(d) = if fast { fast_derivs(ad, DerivSrc::Z(z, bias, keep), pool) } else { None } {
        return d;
    }
    if let Some(b) = bias {
        add_bias(z, b);
    }
    generic_derivs(ad, z)
}

/// σ^(k)(Z) for k = `from`..=`ad.kmax()` (entry k − from) from the stored σ(Z) (`sigma`) or Z (`z`,
/// bias included; stored unless [`Mlp::derivs_from_sigma`]): from σ by [`fast_derivs`] for tanh when `fast`
/// allows it (no tanh evaluated again), else as [`sigma_derivs`] from Z. The bits of the same orders
/// of [`sigma_derivs`].
fn higher_derivs<S: Scalar>(ad: &ActivationDerivs<S>, z: Option<&mut Vec<S>>, sigma: &Vec<S>, from: usize, pool: &jet::Pool<S>, fast: bool) -> Vec<Vec<S>> {
    if let Some(d) = if fast { fast_derivs(ad, DerivSrc::Tanh(sigma, from), pool) } else { None } {
        return d;
    }
    let z = z.expect("Z is stored when σ^(k) are not formed from σ");
    let mut all = sigma_derivs(ad, z, None, true, pool, fast);
    let higher = all.split_off(from);
    all.into_iter().for_each(|v| pool.give(v));
    higher
}

/// σ^(k)(z) for k = 0..=`ad.kmax()` (entry k), entry by entry by [`ActivationDerivs::eval`] (split
/// over two threads by [`jet::par_parts`]).
fn generic_derivs<S: Scalar>(ad: &ActivationDerivs<S>, z: &[S]) -> Vec<Vec<S>> {
    let mut d: Vec<Vec<S>> = (0..=ad.kmax()).map(|_| crate::linalg::zeros::<S>(z.len(), ad.ctx)).collect();
    jet::par_parts(z.len(), 1, d.iter_mut().map(Vec::as_mut_slice).collect(), |lo, mut o| {
        let mut buf = crate::linalg::zeros::<S>(ad.kmax() + 1, ad.ctx);
        for (i, zv) in z[lo..lo + o[0].len()].iter().enumerate() {
            ad.eval(zv, &mut buf);
            for (dk, v) in o.iter_mut().zip(&buf) {
                dk[i].assign_from(v);
            }
        }
    });
    d
}

/// What the forward pass leaves for the backward pass.
struct Tape<S> {
    /// σ(Z_l) for each hidden layer (the input of layer l + 1).
    hidden: Vec<JetMat<S>>,
    /// σ'(Z_l) for each hidden layer (empty for a forward-only pass).
    dact: Vec<JetMat<S>>,
    /// L (constant part).
    value: S,
    /// ∂L/∂f as a jet [n, out] (empty for a forward-only pass).
    seed: Option<JetMat<S>>,
}

impl<S: Scalar> Mlp<S> {
    /// Build the objective; validates the widths and the data, and lifts X exactly into `ctx`.
    ///
    /// In f64 with n ≥ [`SHARD_MIN_ROWS`] the model also holds the models of the data's two halves
    /// (rows [0, ⌊n/2⌋) and [⌊n/2⌋, n), each with the whole set's 1/n): the fast path evaluates
    /// L and every gradient jet as the sum shard 0 + shard 1, the two concurrently when a thread is
    /// free ([`crate::linalg::free_threads`]). The split depends only on n, so one and two threads
    /// give the same bits; the generic path (`set_fast(false)`) and MPFR evaluate the whole set.
    pub fn new(
        layers: &[usize],
        act: Activation,
        loss: LossKind,
        data: &Dataset,
        ctx: S::Ctx,
    ) -> Result<Self, InputError> {
        crate::scalar::check_model_precision::<S>(ctx)?;
        let mut model = Self::single(layers, act, loss, data, ctx)?;
        if crate::linalg::is_f64::<S>() && data.n >= SHARD_MIN_ROWS {
            let (h, d) = (data.n / 2, data.d);
            for rows in [0..h, h..data.n] {
                let part = Dataset { x: data.x[rows.start * d..rows.end * d].to_vec(), y: data.y[rows.clone()].to_vec(), n: rows.len(), d };
                let mut shard = Self::single(layers, act, loss, &part, ctx)?;
                shard.norm = data.n;
                model.shards.push(shard);
            }
        }
        Ok(model)
    }

    /// The model over the whole of `data`, without shards.
    fn single(
        layers: &[usize],
        act: Activation,
        loss: LossKind,
        data: &Dataset,
        ctx: S::Ctx,
    ) -> Result<Self, InputError> {
        if layers.len() < 2 {
            return Err(InputError::Value {
                key: "layers".into(),
                msg: format!("need at least 2 widths (input and output), got {layers:?}"),
            });
        }
        if layers.contains(&0) {
            return Err(InputError::Value {
                key: "layers".into(),
                msg: format!("every width must be > 0, got {layers:?}"),
            });
        }
        if checked_param_count(layers).is_none() {
            return Err(InputError::Value {
                key: "layers".into(),
                msg: format!("{layers:?} has more than 2^64 parameters"),
            });
        }
        if data.n == 0 {
            return Err(InputError::Value {
                key: "data".into(),
                msg: "the data set has no samples (n = 0)".into(),
            });
        }
        if data.x.len() != data.n * data.d {
            return Err(InputError::Dimension(format!(
                "data X has {} entries, expected n·d = {}·{}",
                data.x.len(),
                data.n,
                data.d
            )));
        }
        if data.y.len() != data.n {
            return Err(InputError::Dimension(format!(
                "data y has {} labels, expected n = {}",
                data.y.len(),
                data.n
            )));
        }
        if data.d != layers[0] {
            return Err(InputError::Dimension(format!(
                "data width {} does not match the input width layers[0] = {}",
                data.d, layers[0]
            )));
        }
        let classes = *layers.last().expect("checked: ≥ 2 widths");
        let mut y = Vec::with_capacity(data.n);
        for (i, &label) in data.y.iter().enumerate() {
            if label < 0 || label as u64 >= classes as u64 {
                return Err(InputError::Value {
                    key: "labels".into(),
                    msg: format!(
                        "label {label} of sample {i} is outside 0..{classes} (the output width)"
                    ),
                });
            }
            y.push(label as usize);
        }
        if let Some(index) = data.x.iter().position(|v| !v.is_finite()) {
            return Err(InputError::NonFinite {
                what: "data X".into(),
                index,
            });
        }
        let kind = JetKind::constant();
        let x = JetMat::constant(&kind, data.n, data.d, crate::linalg::from_f64(&data.x, ctx));
        let mut offsets = Vec::with_capacity(layers.len() - 1);
        let mut off = 0;
        for w in layers.windows(2) {
            offsets.push(off);
            off += w[0] * w[1] + w[1];
        }
        Ok(Mlp {
            layers: layers.to_vec(),
            act,
            loss,
            x,
            y,
            n: data.n,
            norm: data.n,
            shards: Vec::new(),
            offsets,
            ctx,
            fast: true,
            pool: jet::Pool::new(),
            base: std::sync::Mutex::new(Vec::new()),
            reuse_base: true,
            base_kmax: 1.into(),
        })
    }

    /// Select the faer kernel for f64 products (default `true`; ignored for MPFR). `false` gives the
    /// generic fixed-order path, bit-identical on every x86-64 machine (golden snapshots).
    pub fn set_fast(&mut self, fast: bool) {
        self.fast = fast;
    }

    /// Whether the fast kernel is selected.
    pub fn fast(&self) -> bool {
        self.fast
    }

    /// All widths, input to output.
    pub fn layers(&self) -> &[usize] {
        &self.layers
    }

    /// The activation.
    pub fn activation(&self) -> Activation {
        self.act
    }

    /// The loss.
    pub fn loss(&self) -> LossKind {
        self.loss
    }

    /// Number of samples n.
    pub fn n_samples(&self) -> usize {
        self.n
    }

    fn check_len(&self, what: &str, len: usize) -> Result<(), EvalError> {
        let p = param_count(&self.layers);
        if len == p {
            Ok(())
        } else {
            Err(EvalError::Other(format!(
                "{what} has length {len}, but the MLP {} has {p} parameters",
                self.shape()
            )))
        }
    }

    /// `Ok` when every entry of `v` is finite (checked on entry: σ saturates, so an infinite
    /// weight could otherwise give a finite loss).
    fn check_finite(&self, what: &str, v: &[S]) -> Result<(), EvalError> {
        match v.iter().position(|x| !x.is_finite()) {
            None => Ok(()),
            Some(i) => Err(EvalError::Other(format!("{what} holds a non-finite entry at index {i}"))),
        }
    }

    fn shape(&self) -> String {
        self.layers
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
            .join("-")
    }

    /// W_l [out, in] and b_l [out] as borrowed jet blocks, from the jet parameter blocks `th[k]`.
    fn layer_views<'a>(&self, th: &[Option<&'a [S]>], l: usize) -> (jet::Blocks<'a, S>, jet::Blocks<'a, S>) {
        let (din, dout) = (self.layers[l], self.layers[l + 1]);
        let wo = self.offsets[l];
        let bo = wo + din * dout;
        let w = th.iter().map(|p| p.map(|p| &p[wo..bo])).collect();
        let b = th.iter().map(|p| p.map(|p| &p[bo..bo + dout])).collect();
        (w, b)
    }

    /// Forward pass in the algebra `kind` at the jet parameters `th` (θ, then the direction blocks).
    /// With `backward`, also keeps σ'(Z_l) and the seed ∂L/∂f for the backward pass of
    /// [`Mlp::grad_jet`]. Blocks come from (and the caller returns them to) `self.pool`.
    ///
    /// With `base` (the constant blocks at θ = `th[0]`, see [`Base`]) the constant blocks are taken
    /// from it and only the ε-blocks are computed; the tape's blocks 0 are then absent (`None`),
    /// the seed's too for MSE (whose ε-blocks do not depend on it), and the loss is the stored one.
    fn forward(
        &self,
        kind: &JetKind,
        th: &[Option<&[S]>],
        backward: bool,
        base: Option<&Base<S>>,
    ) -> Result<Tape<S>, EvalError> {
        let c = self.ctx;
        let pool = &self.pool;
        let nl = self.layers.len() - 1;
        let dmax = kind.max_degree();
        // The closed forms of σ^(k), prepared on first use (not at all when `base` gives σ^(k)(Z₀)).
        let ad = std::cell::OnceCell::new();
        let mut hidden: Vec<JetMat<S>> = Vec::with_capacity(nl.saturating_sub(1));
        let mut dact = Vec::with_capacity(nl - 1);
        let mut out = None;
        let x = self.x.views();
        for l in 0..nl {
            let (din, dout) = (self.layers[l], self.layers[l + 1]);
            let (w, b) = self.layer_views(th, l);
            let input = layer_input(&x, &hidden, base, l);
            let mut z = jet::matmul_in(kind, pool, &input, (self.n, din), false, &w, (dout, din), true, None, base.is_some(), self.fast, c);
            for (k, (zk, bk)) in z.parts.iter_mut().zip(&b).enumerate() {
                let Some(bk) = bk else { continue };
                // The constant block: from the base, or a hidden layer's in the σ^(k) pass below.
                if k == 0 && (base.is_some() || l + 1 < nl) {
                    continue;
                }
                add_bias(zk.get_or_insert_with(|| pool.zeros(self.n * dout, c)), bk);
            }
            if l + 1 == nl {
                if let Some(bs) = base.filter(|_| self.loss == LossKind::Ce) {
                    // Cross-entropy's ε-blocks depend on the constant block (MSE's do not).
                    let mut f0 = pool.take(bs.f0.len(), c);
                    f0.iter_mut().zip(&bs.f0).for_each(|(a, b)| a.assign_from(b));
                    z.parts[0] = Some(f0);
                }
                out = Some(z);
                break;
            }
            if let Some(bs) = base {
                // Only the ε-blocks: σ^(k)(Z₀) come from the base.
                let d = &bs.derivs[l];
                let sc = if dmax > 1 { &bs.scaled(pool, c)[l][..dmax - 1] } else { &[] };
                let hd: Vec<&[S]> = std::iter::once(&d[1]).chain(sc.iter().map(|s| &s.0)).map(Vec::as_slice).collect();
                // σ(Z) and, for the backward pass, σ'(Z) in one pass over Z.
                let ad: Vec<&[S]> = std::iter::once(&d[2]).chain(sc.iter().map(|s| &s.1)).map(Vec::as_slice).collect();
                let fs = if backward { vec![(None, &hd[..]), (None, &ad[..])] } else { vec![(None, &hd[..])] };
                let mut both = jet::taylor_apply_many_in(kind, pool, &z, fs, true, c).into_iter();
                hidden.extend(both.next());
                dact.extend(both.next());
                pool.recycle(z);
                continue;
            }
            // σ^(k)(Z₀) for k = 0..=kmax, one closed-form evaluation per entry (f64 fast path:
            // vectorised loops, see `fast_derivs`).
            let z0 = z.parts[0]
                .as_mut()
                .expect("the constant block of θ and X is always present");
            let ad = ad.get_or_init(|| ActivationDerivs::<S>::new(self.act, dmax + usize::from(backward), c));
            let derivs = sigma_derivs(ad, z0, b[0], true, pool, self.fast);
            // σ(Z) = Σ_k σ^(k)(Z₀)/k! N^k and, for the backward pass, σ'(Z) likewise from σ', σ'', …
            let mut derivs = derivs.into_iter();
            let d0 = derivs.next().expect("σ");
            let rest: Vec<Vec<S>> = derivs.collect();
            let views: Vec<&[S]> = rest.iter().map(Vec::as_slice).collect();
            hidden.push(jet::taylor_apply_in(kind, pool, &z, Some(d0), &views[..dmax], false, c));
            let mut rest = rest.into_iter();
            if backward {
                let d1 = rest.next().expect("σ'");
                let higher: Vec<Vec<S>> = rest.collect();
                let views: Vec<&[S]> = higher.iter().map(Vec::as_slice).collect();
                dact.push(jet::taylor_apply_in(kind, pool, &z, Some(d1), &views[..dmax], false, c));
                higher.into_iter().for_each(|v| pool.give(v));
            } else {
                rest.for_each(|v| pool.give(v));
            }
            pool.recycle(z);
        }
        let f = out.expect("at least one layer");
        if let (Some(bs), LossKind::Mse) = (base, self.loss) {
            // The loss and the seed's constant block are the stored ones (G_L,0 = bs.g0); only the
            // ε-blocks of the seed are formed.
            let seed = self.mse_seed(kind, &f, None);
            pool.recycle(f);
            return Ok(Tape { hidden, dact, value: bs.value.clone(), seed: backward.then_some(seed) });
        }
        if !f.part(0).expect("constant block").iter().all(S::is_finite) {
            pool.recycle(f);
            self.recycle_tape(hidden, dact, None);
            return Err(EvalError::NonFinite {
                what: "network output",
                at: String::new(),
            });
        }
        let (value, seed) = match self.loss {
            LossKind::Mse => self.mse(kind, &f),
            LossKind::Ce => self.ce(kind, &f),
        };
        pool.recycle(f);
        if !value.is_finite() {
            self.recycle_tape(hidden, dact, Some(seed));
            return Err(EvalError::NonFinite {
                what: "loss",
                at: String::new(),
            });
        }
        Ok(Tape {
            hidden,
            dact,
            value,
            seed: backward.then_some(seed),
        })
    }

    /// Return a forward pass's blocks to the pool.
    fn recycle_tape(&self, hidden: Vec<JetMat<S>>, dact: Vec<JetMat<S>>, seed: Option<JetMat<S>>) {
        hidden.into_iter().chain(dact).chain(seed).for_each(|m| self.pool.recycle(m));
    }

    /// MSE: L = (1/n) Σ ‖f − e_y‖² and ∂L/∂f = (2/n)(f − e_y) as a jet.
    fn mse(&self, kind: &JetKind, f: &JetMat<S>) -> (S, JetMat<S>) {
        let c = self.ctx;
        let q = f.cols;
        let inv_n = S::one(c) / &S::from_i64(self.norm as i64, c);
        let mut r = self.pool.take(f.rows * q, c);
        r.iter_mut()
            .zip(f.part(0).expect("constant block"))
            .for_each(|(r, v)| r.assign_from(v));
        for (i, &yi) in self.y.iter().enumerate() {
            r[i * q + yi] -= &S::one(c);
        }
        let mut sum = S::zero(c);
        for v in &r {
            sum.mul_acc(v, v);
        }
        let value = sum * &inv_n;
        let g = self.mse_seed(kind, f, Some(&r));
        self.pool.give(r);
        (value, g)
    }

    /// The MSE seed ∂L/∂f = (2/n)·(blocks of f), with the residual f₀ − e_y as block 0 (`r`; `None`
    /// leaves block 0 out).
    fn mse_seed(&self, kind: &JetKind, f: &JetMat<S>, r: Option<&Vec<S>>) -> JetMat<S> {
        let c = self.ctx;
        let inv_n = S::one(c) / &S::from_i64(self.norm as i64, c);
        let two_n = inv_n * &S::from_i64(2, c);
        let mut g = JetMat::zero(kind, f.rows, f.cols);
        for (k, part) in f.parts.iter().enumerate() {
            let src = if k == 0 { r } else { part.as_ref() };
            g.parts[k] = src.map(|p| {
                let mut o = self.pool.take(p.len(), c);
                o.iter_mut().zip(p).for_each(|(o, v)| {
                    o.assign_from(v);
                    *o *= &two_n;
                });
                o
            });
        }
        g
    }

    /// Cross-entropy: lse_i = m_i + ln Σ_j exp(f_ij − m_i) (m_i the row maximum of the constant part),
    /// L = (1/n) Σ_i (lse_i − f_{i,y_i}) and ∂L/∂f = (1/n)(exp(f − lse) − e_y), all as jets.
    fn ce(&self, kind: &JetKind, f: &JetMat<S>) -> (S, JetMat<S>) {
        let c = self.ctx;
        let (n, q) = (f.rows, f.cols);
        let dmax = kind.max_degree();
        let f0 = f.part(0).expect("constant block");
        // Shifted logits f − m (the shift is a constant: it changes no ε-block).
        let mut shifted = f.clone();
        let mut m = Vec::with_capacity(n);
        {
            let s0 = shifted.parts[0].as_mut().expect("constant block");
            for row in s0.chunks_mut(q) {
                let mut mi = row[0].clone();
                for v in row.iter().skip(1) {
                    if *v > mi {
                        mi = v.clone();
                    }
                }
                row.iter_mut().for_each(|v| *v -= &mi);
                m.push(mi);
            }
        }
        let e0: Vec<S> = shifted
            .part(0)
            .expect("constant block")
            .iter()
            .map(S::exp)
            .collect();
        let e = taylor_apply(kind, &shifted, &vec![e0; dmax + 1], c);
        // Row sums s_i as an n×1 jet.
        let mut s = JetMat::zero(kind, n, 1);
        for (k, part) in e.parts.iter().enumerate() {
            s.parts[k] = part.as_ref().map(|p| {
                p.chunks(q)
                    .map(|row| {
                        let mut acc = S::zero(c);
                        row.iter().for_each(|v| acc += v);
                        acc
                    })
                    .collect()
            });
        }
        // ln s: derivatives ln s₀, then (−1)^(k−1) (k−1)! / s₀^k.
        let s0 = s.part(0).expect("constant block").to_vec();
        let mut ln_d: Vec<Vec<S>> = vec![s0.iter().map(S::ln).collect()];
        let mut fact = S::one(c);
        for k in 1..=dmax {
            if k > 1 {
                fact *= &S::from_i64(k as i64 - 1, c);
            }
            ln_d.push(
                s0.iter()
                    .map(|sv| {
                        let mut pw = sv.clone();
                        for _ in 1..k {
                            pw *= sv;
                        }
                        let t = fact.clone() / &pw;
                        if k % 2 == 1 { t } else { -t }
                    })
                    .collect(),
            );
        }
        let mut lse = taylor_apply(kind, &s, &ln_d, c);
        lse.parts[0]
            .as_mut()
            .expect("constant block")
            .iter_mut()
            .zip(&m)
            .for_each(|(a, mi)| *a += mi);
        let lse0 = lse.part(0).expect("constant block");
        let inv_n = S::one(c) / &S::from_i64(self.norm as i64, c);
        let mut sum = S::zero(c);
        for (i, &yi) in self.y.iter().enumerate() {
            sum += &(lse0[i].clone() - &f0[i * q + yi]);
        }
        let value = sum * &inv_n;
        // f − lse (broadcast over each row), then softmax = exp(f − lse).
        let mut centred = JetMat::zero(kind, n, q);
        for k in 0..kind.len() {
            let (fk, lk) = (f.part(k), lse.part(k));
            if fk.is_none() && lk.is_none() {
                continue;
            }
            let mut blk = match fk {
                Some(p) => p.to_vec(),
                None => crate::linalg::zeros(n * q, c),
            };
            if let Some(lk) = lk {
                for (row, li) in blk.chunks_mut(q).zip(lk) {
                    row.iter_mut().for_each(|v| *v -= li);
                }
            }
            centred.parts[k] = Some(blk);
        }
        let p0: Vec<S> = centred
            .part(0)
            .expect("constant block")
            .iter()
            .map(S::exp)
            .collect();
        let mut g = taylor_apply(kind, &centred, &vec![p0; dmax + 1], c);
        {
            let g0 = g.parts[0].as_mut().expect("constant block");
            for (i, &yi) in self.y.iter().enumerate() {
                g0[i * q + yi] -= &S::one(c);
            }
        }
        for p in g.parts.iter_mut().flatten() {
            p.iter_mut().for_each(|v| *v *= &inv_n);
        }
        (value, g)
    }

    /// Forward-over-reverse in the algebra `kind`: runs the forward and backward pass at the jet
    /// parameters `th` (block k multiplies monomial e_k; `th[0]` = θ) and writes the coefficient of
    /// monomial `target` of ∇L into `out`. Returns L(θ).
    ///
    /// With `JetKind::taylor(K)` and `th = [θ, v, None, …]` the block of ε^k is ∇^{k+1}L[v^k]/k!; with
    /// `JetKind::hyper_dual()` and `th = [θ, v, w, None]` the block of ε₁ε₂ is ∇³L\[v,w\].
    pub fn grad_jet(
        &self,
        kind: &JetKind,
        th: &[Option<&[S]>],
        target: usize,
        out: &mut [S],
    ) -> Result<S, EvalError> {
        if th.len() != kind.len() || th[0].is_none() || target >= kind.len() {
            return Err(EvalError::Other(format!(
                "grad_jet: {} parameter blocks (θ first) and a target below {} are required for the {} algebra",
                kind.len(),
                kind.len(),
                kind.name()
            )));
        }
        for (k, p) in th.iter().enumerate() {
            let Some(p) = p else { continue };
            self.check_len("parameter/direction vector", p.len())?;
            self.check_finite(if k == 0 { "parameter vector" } else { "direction vector" }, p)?;
        }
        self.check_len("output vector", out.len())?;
        if self.sharded() {
            let value = self.over_shards(out, |m, o| m.grad_jet_checked(kind, th, target, o))?;
            // Each shard checked its own gradient; the sum of two finite ones can still overflow.
            if kind.len() == 1 {
                self.finite_grad(out)?;
            }
            return Ok(value);
        }
        let widest = self.layers.iter().skip(1).copied().max().unwrap_or(1);
        if self.n * widest >= jet::PAR_MIN {
            // Blocks large enough to split: with two threads the whole evaluation runs on a worker
            // of rayon's pool ([`crate::linalg::on_pool`]).
            return crate::linalg::on_pool(|| self.grad_jet_checked(kind, th, target, out));
        }
        self.grad_jet_checked(kind, th, target, out)
    }

    /// Whether evaluations run over the shards (see [`Mlp::new`]).
    fn sharded(&self) -> bool {
        self.fast && !self.shards.is_empty()
    }

    /// Σ over the shards of `f` (a value, and an output vector: shard 0 writes `out`, shard 1 a
    /// pooled buffer added to it entry by entry), the shards concurrently when a thread is free.
    fn over_shards(&self, out: &mut [S], f: impl Fn(&Mlp<S>, &mut [S]) -> Result<S, EvalError> + Sync) -> Result<S, EvalError> {
        let mut rest = self.pool.take(out.len(), self.ctx);
        let (a, b) = (&self.shards[0], &self.shards[1]);
        let (ra, rb) = if crate::linalg::free_threads() >= 2 {
            crate::linalg::join2(|| f(a, out), || f(b, &mut rest))
        } else {
            (f(a, out), f(b, &mut rest))
        };
        let value = ra.and_then(|va| rb.map(|vb| va + &vb));
        out.iter_mut().zip(&rest).for_each(|(o, r)| *o += r);
        self.pool.give(rest);
        value
    }

    /// The constant blocks at θ for derivative orders up to `kmax`: the stored ones when θ, the
    /// kernel mode and the order match; the stored ones with σ^(k)(Z₀) extended to `kmax` when only
    /// the order is too low (no new forward or backward pass); else computed and stored (replacing
    /// the least recently used θ's when as many as kept are stored, see `base`). With `grad`, also
    /// writes ∇L(θ) into it: the weight-gradient products of the blocks, interleaved with the
    /// backward pass when the blocks are computed.
    fn base_at(&self, theta: &[S], kmax: usize, mut grad: Option<&mut [S]>) -> Result<std::sync::Arc<Base<S>>, EvalError> {
        let lock = || self.base.lock().unwrap_or_else(|e| e.into_inner());
        let kept = if crate::linalg::threads() >= 2 { BASES } else { 1 };
        // The stored blocks at θ if their order suffices (moved to the front), else the ones to
        // extend or replace (taken out).
        let (hit, old) = {
            let mut bases = lock();
            match bases.iter().position(|b| b.matches(theta, self.fast, 0)) {
                Some(i) if bases[i].kmax >= kmax => {
                    let b = bases.remove(i);
                    bases.insert(0, b.clone());
                    (Some(b), None)
                }
                Some(i) => (None, Some(bases.remove(i))),
                None => (None, if bases.len() >= kept { bases.pop() } else { None }),
            }
        };
        let b = match hit {
            Some(b) => b,
            None => {
                let b = match old.map(std::sync::Arc::try_unwrap) {
                    Some(Ok(b)) if b.matches(theta, self.fast, 0) => self.extend_base(b, kmax),
                    old => {
                        if let Some(Ok(b)) = old {
                            b.recycle(&self.pool);
                        }
                        // The build writes the gradient (`grad` is then done).
                        self.build_base(theta, kmax, grad.take())?
                    }
                };
                let b = std::sync::Arc::new(b);
                let evicted = {
                    let mut bases = lock();
                    bases.insert(0, b.clone());
                    let n = kept.min(bases.len());
                    bases.split_off(n)
                };
                evicted.into_iter().filter_map(|e| std::sync::Arc::try_unwrap(e).ok()).for_each(|e| e.recycle(&self.pool));
                b
            }
        };
        if let Some(out) = grad {
            let x = self.x.views();
            for l in 0..self.layers.len() - 1 {
                self.weight_grad(&JetKind::constant(), &[Some(b.g0[l].as_slice())], &base_input(&x, &b.derivs, l), l, 0, out);
            }
        }
        Ok(b)
    }

    /// `b` with σ^(k)(Z_l,0) for the orders above `b.kmax` up to `kmax`, evaluated on the stored
    /// σ(Z_l,0) or Z_l,0 by the same closed forms as a full build ([`higher_derivs`]; σ^(k) does not
    /// depend on the highest order).
    fn extend_base(&self, mut b: Base<S>, kmax: usize) -> Base<S> {
        let pool = &self.pool;
        let ad = ActivationDerivs::<S>::new(self.act, kmax, self.ctx);
        for (l, d) in b.derivs.iter_mut().enumerate() {
            let higher = higher_derivs(&ad, b.z0.get_mut(l), &d[0], d.len(), pool, self.fast);
            d.extend(higher);
        }
        b.scaled.take().into_iter().flatten().flatten().for_each(|(a, c)| {
            pool.give(a);
            pool.give(c);
        });
        b.kmax = kmax;
        b
    }

    /// The stored constant blocks at θ (any order), if any.
    fn stored_base(&self, theta: &[S]) -> Option<std::sync::Arc<Base<S>>> {
        self.base.lock().unwrap_or_else(|e| e.into_inner()).iter().find(|b| b.matches(theta, self.fast, 0)).cloned()
    }

    /// One constant-algebra forward and backward pass at θ keeping what [`Base`] holds: the same
    /// operations, in the same order, as the constant blocks of any jet evaluation.
    /// With `grad`, also writes ∇L(θ) into it (each layer's weight-gradient products as soon as its
    /// G_l is formed, while the blocks are in cache).
    fn build_base(&self, theta: &[S], kmax: usize, mut grad: Option<&mut [S]>) -> Result<Base<S>, EvalError> {
        let c = self.ctx;
        let pool = &self.pool;
        let kind = JetKind::constant();
        let th = [Some(theta)];
        let nl = self.layers.len() - 1;
        let ad = ActivationDerivs::<S>::new(self.act, kmax, c);
        let mut derivs: Vec<Vec<Vec<S>>> = Vec::with_capacity(nl.saturating_sub(1));
        let mut z0s = Vec::with_capacity(nl.saturating_sub(1));
        let mut f0 = None;
        let x = self.x.views();
        for l in 0..nl {
            let (din, dout) = (self.layers[l], self.layers[l + 1]);
            let (w, b) = self.layer_views(&th, l);
            let input = base_input(&x, &derivs, l);
            let z = jet::matmul_in(&kind, pool, &input, (self.n, din), false, &w, (dout, din), true, None, false, self.fast, c);
            let mut z0 = z.parts.into_iter().next().flatten().expect("constant block");
            if l + 1 == nl {
                if let Some(bk) = b[0] {
                    add_bias(&mut z0, bk);
                }
                f0 = Some(z0);
                break;
            }
            let keep = !self.derivs_from_sigma();
            derivs.push(sigma_derivs(&ad, &mut z0, b[0], keep, pool, self.fast));
            if keep {
                z0s.push(z0);
            } else {
                pool.give(z0);
            }
        }
        let f0 = f0.expect("at least one layer");
        let q = self.layers[nl];
        let f = JetMat::constant(&kind, self.n, q, f0);
        let fail = |what| EvalError::NonFinite { what, at: String::new() };
        if !f.part(0).expect("constant block").iter().all(S::is_finite) {
            return Err(fail("network output"));
        }
        let (value, seed) = match self.loss {
            LossKind::Mse => self.mse(&kind, &f),
            LossKind::Ce => self.ce(&kind, &f),
        };
        if !value.is_finite() {
            return Err(fail("loss"));
        }
        let mut g0: Vec<Option<Vec<S>>> = (0..nl).map(|_| None).collect();
        let mut ga0: Vec<Option<Vec<S>>> = (0..nl).map(|_| None).collect();
        g0[nl - 1] = seed.parts.into_iter().next().flatten();
        let ad1 = ActivationDerivs::<S>::new(self.act, 1, c);
        for l in (0..nl).rev() {
            let gl = [g0[l].as_deref()];
            if let Some(out) = grad.as_deref_mut() {
                self.weight_grad(&kind, &gl, &base_input(&x, &derivs, l), l, 0, out);
            }
            if l == 0 {
                break;
            }
            let (din, dout) = (self.layers[l], self.layers[l + 1]);
            let (w, _) = self.layer_views(&th, l);
            let ga = jet::matmul_in(&kind, pool, &gl, (self.n, dout), false, &w, (dout, din), false, None, false, self.fast, c);
            let ga = ga.parts.into_iter().next().flatten().expect("constant block");
            g0[l - 1] = match derivs[l - 1].get(1) {
                Some(d1) => jet::hadamard_in(&kind, pool, &[Some(&ga)], &[Some(d1)], (self.n, din), false, c).parts.into_iter().next().flatten(),
                // σ' not stored (order 0, see `grad_kmax`): formed from σ in the product.
                None => dtanh_product(&ad1, &ga, &derivs[l - 1][0], pool),
            };
            ga0[l] = Some(ga);
        }
        let f0 = f.parts.into_iter().next().flatten().expect("constant block");
        Ok(Base {
            theta: theta.to_vec(),
            fast: self.fast,
            kmax,
            z0: z0s,
            derivs,
            scaled: std::sync::OnceLock::new(),
            ga0,
            g0: g0.into_iter().map(|g| g.expect("every layer has a gradient block")).collect(),
            f0,
            value,
        })
    }

    /// Whether σ^(k) are formed from the stored σ (f64 fast path, tanh: see [`DerivSrc::Tanh`]); Z is
    /// then not stored in [`Base`].
    fn derivs_from_sigma(&self) -> bool {
        self.fast && self.act == Activation::Tanh && crate::linalg::is_f64::<S>()
    }

    /// The derivative order the gradient's constant blocks need: 1 (σ, σ'), or 0 (σ only) when σ'
    /// is formed from σ in the backward product ([`dtanh_product`]).
    fn grad_kmax(&self) -> usize {
        usize::from(!self.derivs_from_sigma())
    }

    /// [`Mlp::grad_jet`] after the argument checks.
    fn grad_jet_checked(
        &self,
        kind: &JetKind,
        th: &[Option<&[S]>],
        target: usize,
        out: &mut [S],
    ) -> Result<S, EvalError> {
        let c = self.ctx;
        let pool = &self.pool;
        if self.reuse_base && kind.len() == 1 {
            // The gradient: the weight-gradient products of the constant blocks at θ, which the
            // HVPs and ∇³L evaluations at θ that usually follow then reuse.
            let bs = self.base_at(th[0].expect("checked"), self.grad_kmax(), Some(&mut *out))?;
            return self.finite_grad(out).map(|()| bs.value.clone());
        }
        // A jet evaluation of a higher-order block reuses the constant blocks at θ (see `Base`).
        let base = if self.reuse_base && kind.len() > 1 && target != 0 {
            // With the highest order any evaluation has needed so far, so that the next jet of a
            // higher degree at θ (∇S after the HVPs) finds it.
            let need = kind.max_degree() + 1;
            let kmax = need.max(self.base_kmax.fetch_max(need, std::sync::atomic::Ordering::Relaxed));
            Some(self.base_at(th[0].expect("checked"), kmax, None)?)
        } else {
            None
        };
        let base = base.as_deref();
        let Tape { hidden, dact, value, seed } = self.forward(kind, th, true, base)?;
        let mut g = seed.expect("backward pass requested");
        let nl = self.layers.len() - 1;
        let x = self.x.views();
        for l in (0..nl).rev() {
            let (din, dout) = (self.layers[l], self.layers[l + 1]);
            let input = layer_input(&x, &hidden, base, l);
            let mut gv = g.views();
            if let Some(bs) = base {
                gv[0] = gv[0].or(Some(&bs.g0[l]));
            }
            self.weight_grad(kind, &gv, &input, l, target, out);
            if l > 0 {
                // ∂L/∂A_{l−1} = G_l W_l, then ∂L/∂Z_{l−1} = (∂L/∂A_{l−1}) ⊙ σ'(Z_{l−1}).
                let (w, _) = self.layer_views(th, l);
                let ga = jet::matmul_in(kind, pool, &gv, (self.n, dout), false, &w, (dout, din), false, None, base.is_some(), self.fast, c);
                let (mut gav, mut dv) = (ga.views(), dact[l - 1].views());
                if let Some(bs) = base {
                    gav[0] = bs.ga0[l].as_deref();
                    dv[0] = Some(&bs.derivs[l - 1][1]);
                }
                let next = jet::hadamard_in(kind, pool, &gav, &dv, (self.n, din), base.is_some(), c);
                pool.recycle(ga);
                pool.recycle(std::mem::replace(&mut g, next));
            }
        }
        pool.recycle(g);
        self.recycle_tape(hidden, dact, None);
        self.finite_grad(out).map(|()| value)
    }

    /// Layer l's block `target` of ∇L from G_l (blocks `g`) and the layer input A_{l−1} (blocks
    /// `input`): ∂L/∂W_l = G_lᵀ A_{l−1} (written in place), ∂L/∂b_l = column sums of G_l.
    fn weight_grad(&self, kind: &JetKind, g: &[Option<&[S]>], input: &[Option<&[S]>], l: usize, target: usize, out: &mut [S]) {
        let (din, dout) = (self.layers[l], self.layers[l + 1]);
        let wo = self.offsets[l];
        let bo = wo + din * dout;
        jet::matmul_into(kind, g, (self.n, dout), true, input, (self.n, din), false, target, &mut out[wo..bo], self.fast);
        let ob = &mut out[bo..bo + dout];
        ob.iter_mut().for_each(S::set_zero);
        if let Some(gt) = g[target] {
            // Through pulp's dispatch: the row additions are compiled for the CPU's SIMD width.
            crate::linalg::simd(
                #[inline(always)]
                || {
                    for row in gt.chunks(dout) {
                        ob.iter_mut().zip(row).for_each(|(o, v)| *o += v);
                    }
                },
            );
        }
    }

    /// `Ok` when every entry of the derivative `out` is finite.
    fn finite_grad(&self, out: &[S]) -> Result<(), EvalError> {
        if all_chunked(out, out, |v, _| v.is_finite()) {
            Ok(())
        } else {
            Err(EvalError::NonFinite {
                what: "loss derivative",
                at: String::new(),
            })
        }
    }
}

impl<S: Scalar> Objective<S> for Mlp<S> {
    fn dim(&self) -> usize {
        param_count(&self.layers)
    }

    fn data_rows(&self) -> Option<crate::memory::Rows> {
        Some(crate::memory::Rows::mlp(self.n, &self.layers))
    }

    fn ctx(&self) -> S::Ctx {
        self.ctx
    }

    fn nonnegative(&self) -> bool {
        true
    }
    fn describe(&self) -> String {
        format!(
            "mlp {} {} {} (n = {}, p = {}, precision {})",
            self.shape(),
            self.act.name(),
            self.loss.name(),
            self.n,
            param_count(&self.layers),
            S::precision_name(self.ctx)
        )
    }

    fn value(&self, th: &[S]) -> Result<S, EvalError> {
        self.check_len("parameter vector", th.len())?;
        self.check_finite("parameter vector", th)?;
        if self.sharded() {
            return self.over_shards(&mut [], |m, _| m.value(th));
        }
        if let Some(bs) = self.stored_base(th).filter(|_| self.reuse_base) {
            return Ok(bs.value.clone());
        }
        let tape = self.forward(&JetKind::constant(), &[Some(th)], false, None)?;
        let value = tape.value;
        self.recycle_tape(tape.hidden, tape.dact, tape.seed);
        Ok(value)
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

impl<S: Scalar> jet::GradJet<S> for Mlp<S> {
    fn grad_jet(&self, kind: &JetKind, th: &[Option<&[S]>], target: usize, out: &mut [S]) -> Result<S, EvalError> {
        Mlp::grad_jet(self, kind, th, target, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rug::Float;

    /// σ^(k) from the closed forms matches a central difference of σ^(k−1) at 256 bits: with step
    /// h = 2^-60 the truncation error is h²/6·σ^(k+2) ≈ 1e-37 and rounding ε/h ≈ 1e-59, so agreement
    /// to 1e-30 (absolute, derivatives are O(10)) checks every closed form to ~30 digits.
    #[test]
    fn activation_derivatives_match_central_differences_mpfr256() {
        let c = 256;
        let h = Float::with_val(c, Float::i_exp(1, -60));
        for act in [Activation::Tanh, Activation::Silu, Activation::Gelu] {
            let ad = ActivationDerivs::<Float>::new(act, 5, c);
            for &z in &[-2.3, -0.4, 0.0, 0.7, 1.9] {
                let z = Float::with_val(c, z);
                let mut d0 = vec![Float::new(c); 6];
                let mut dp = d0.clone();
                let mut dm = d0.clone();
                ad.eval(&z, &mut d0);
                ad.eval(&(z.clone() + &h), &mut dp);
                ad.eval(&(z.clone() - &h), &mut dm);
                for k in 1..=5 {
                    let fd = (dp[k - 1].clone() - &dm[k - 1]) / (h.clone() * 2u32);
                    let err = (fd - &d0[k]).abs().to_f64();
                    assert!(
                        err < 1e-30,
                        "{} σ^({k})({}) off by {err:e}",
                        act.name(),
                        z.to_f64()
                    );
                }
            }
        }
    }

    /// The closed forms agree with the elementary definitions at order 0 (f64, a few ε).
    #[test]
    fn activation_values_match_definitions_f64() {
        for &z in &[-3.0_f64, -0.5, 0.0, 0.25, 2.0] {
            let mut out = [0.0; 2];
            ActivationDerivs::<f64>::new(Activation::Tanh, 1, ()).eval(&z, &mut out);
            assert!((out[0] - z.tanh()).abs() <= 4.0 * f64::EPSILON);
            ActivationDerivs::<f64>::new(Activation::Silu, 1, ()).eval(&z, &mut out);
            let silu = z / (1.0 + (-z).exp());
            assert!((out[0] - silu).abs() <= 8.0 * f64::EPSILON * (1.0 + silu.abs()));
            ActivationDerivs::<f64>::new(Activation::Gelu, 1, ()).eval(&z, &mut out);
            let gelu = z * 0.5 * (1.0 + libm::erf(z / 2f64.sqrt()));
            assert!((out[0] - gelu).abs() <= 8.0 * f64::EPSILON * (1.0 + gelu.abs()));
        }
    }

    /// Reusing the constant blocks of an earlier jet evaluation at the same θ (`Base`) changes no
    /// bit: every derivative order and both algebras, evaluated by a model that has just been used
    /// at other points, other orders and the other kernel mode, equal exactly those of the full jet
    /// evaluation without reuse (f64 generic and fast kernels, MPFR 128 bits; tanh MSE, SiLU and
    /// GELU CE).
    #[test]
    fn reused_constant_blocks_give_bit_identical_jets() {
        fn run<S: Scalar>(c: S::Ctx, act: Activation, loss: LossKind, fast: bool) {
            let (n, layers) = (7, [3usize, 5, 4, 3]);
            let data = Dataset {
                x: (0..n * 3).map(|i| ((i * 37 % 11) as f64 - 5.0) / 4.0).collect(),
                y: (0..n as i64).map(|i| i % 3).collect(),
                n,
                d: 3,
            };
            let p = param_count(&layers);
            let vecf = |seed: usize| -> Vec<S> {
                (0..p).map(|i| S::from_f64((((i * 7919 + seed * 104_729) % 23) as f64 - 11.0) / 16.0, c)).collect()
            };
            let (th, th2, v, w) = (vecf(1), vecf(2), vecf(3), vecf(4));
            let fresh = || {
                let mut m = Mlp::<S>::new(&layers, act, loss, &data, c).unwrap();
                m.set_fast(fast);
                m
            };
            let eval = |m: &Mlp<S>, which: usize, at: &[S]| -> Vec<S> {
                let mut out = vec![S::zero(c); p];
                match which {
                    0 => m.hvp(at, &v, &mut out).unwrap(),
                    1 => m.d3(at, &v, &w, &mut out).unwrap(),
                    2 => m.d3_sym(at, &v, &mut out).unwrap(),
                    _ => m.d4(at, &v, &mut out).unwrap(),
                }
                out
            };
            let same = |a: &[S], b: &[S]| a.iter().zip(b).all(|(a, b)| a == b && a.to_f64().to_bits() == b.to_f64().to_bits());
            let full = || {
                let mut m = fresh();
                m.reuse_base = false;
                m
            };
            let used = fresh();
            for which in [0, 3, 1, 2, 0] {
                // Another point first, so that the stored blocks must be replaced; then the same
                // point twice (the second evaluation reuses them).
                eval(&used, which, &th2);
                let want = eval(&full(), which, &th);
                for _ in 0..2 {
                    let got = eval(&used, which, &th);
                    assert!(same(&want, &got), "order {which}: reused constant blocks changed the result");
                }
            }
            // The loss and the gradient share the constant blocks with the jets (a fresh model: the
            // blocks' derivative order is extended as the evaluations need it): grad → HVP → ∇S →
            // ∇⁴L → grad → value at one θ, at alternating θ's and at the same θ again.
            let grad = |m: &Mlp<S>, at: &[S]| -> Vec<S> {
                let mut g = vec![S::zero(c); p];
                let value = m.grad(at, &mut g).unwrap();
                g.push(value);
                g
            };
            let used = fresh();
            for at in [&th, &th2, &th, &th, &th2] {
                let reference = full();
                for (what, got, want) in [
                    ("gradient", grad(&used, at), grad(&reference, at)),
                    ("HVP", eval(&used, 0, at), eval(&reference, 0, at)),
                    ("∇S", eval(&used, 2, at), eval(&reference, 2, at)),
                    ("∇⁴L", eval(&used, 3, at), eval(&reference, 3, at)),
                    ("gradient after the jets", grad(&used, at), grad(&reference, at)),
                    ("loss", vec![used.value(at).unwrap()], vec![reference.value(at).unwrap()]),
                ] {
                    assert!(same(&want, &got), "{what}: reused constant blocks changed the result");
                }
            }
        }
        for fast in [false, true] {
            run::<f64>((), Activation::Tanh, LossKind::Mse, fast);
            run::<f64>((), Activation::Silu, LossKind::Ce, fast);
        }
        run::<Float>(128, Activation::Tanh, LossKind::Mse, true);
        run::<Float>(128, Activation::Gelu, LossKind::Ce, false);
    }

    /// The f64 model of n ≥ SHARD_MIN_ROWS samples (two shards, each with the whole set's 1/n)
    /// evaluates L, ∇L, ∇²L v, ∇³L[v,v] and ∇⁴L[v,v,v] as the unsharded model does, up to the
    /// order of the sum over samples: a sum of n terms regrouped as two halves differs by at most
    /// about 2nε·Σ|terms| (≈ 4e-14·Σ|terms| for n = 160); measured ≤ 5.3e-15 of the largest entry
    /// (MSE and CE, tanh and GELU), asserted ≤ 1e-13.
    #[test]
    fn shards_sum_to_the_whole_data_set_f64() {
        let (n, layers) = (160, [3usize, 6, 5, 3]);
        let data = Dataset {
            x: (0..n * 3).map(|i| ((i * 37 % 11) as f64 - 5.0) / 4.0).collect(),
            y: (0..n as i64).map(|i| (i * 7) % 3).collect(),
            n,
            d: 3,
        };
        let p = param_count(&layers);
        let vecf = |seed: usize| -> Vec<f64> { (0..p).map(|i| (((i * 7919 + seed * 104_729) % 23) as f64 - 11.0) / 16.0).collect() };
        let (th, v) = (vecf(1), vecf(3));
        for (act, loss) in [(Activation::Tanh, LossKind::Mse), (Activation::Gelu, LossKind::Ce)] {
            let sharded = Mlp::<f64>::new(&layers, act, loss, &data, ()).unwrap();
            let whole = Mlp::<f64>::single(&layers, act, loss, &data, ()).unwrap();
            assert_eq!(sharded.shards.len(), 2);
            assert!(whole.shards.is_empty());
            let rel = |a: &[f64], b: &[f64]| {
                let scale = b.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
                a.iter().zip(b).fold(0.0_f64, |m, (x, y)| m.max((x - y).abs())) / scale
            };
            let (va, vb) = (sharded.value(&th).unwrap(), whole.value(&th).unwrap());
            assert!(rel(&[va], &[vb]) <= 1e-13, "{act:?} {loss:?}: L {va} vs {vb}");
            for which in 0..4 {
                let eval = |m: &Mlp<f64>| {
                    let mut out = vec![f64::NAN; p];
                    match which {
                        0 => drop(m.grad(&th, &mut out).unwrap()),
                        1 => m.hvp(&th, &v, &mut out).unwrap(),
                        2 => m.d3_sym(&th, &v, &mut out).unwrap(),
                        _ => m.d4(&th, &v, &mut out).unwrap(),
                    }
                    out
                };
                let r = rel(&eval(&sharded), &eval(&whole));
                assert!(r <= 1e-13, "{act:?} {loss:?} derivative order {}: relative difference {r:e}", which + 1);
            }
        }
    }

    #[test]
    fn names_parse_and_round_trip() {
        for a in [Activation::Tanh, Activation::Silu, Activation::Gelu] {
            assert_eq!(Activation::parse(a.name()).unwrap(), a);
        }
        assert_eq!(Activation::parse("Swish").unwrap(), Activation::Silu);
        for l in [LossKind::Mse, LossKind::Ce] {
            assert_eq!(LossKind::parse(l.name()).unwrap(), l);
        }
        assert_eq!(LossKind::parse("cross-entropy").unwrap(), LossKind::Ce);
        assert_eq!(param_count(&[64, 32, 10]), 64 * 32 + 32 + 32 * 10 + 10);
    }
}
