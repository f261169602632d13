//! Truncated Taylor algebras ("jets") for forward-over-reverse derivatives (models.md §3,
//! decisions.md §5).
//!
//! A [`JetKind`] is a finite set of monomials $e_0 = 1, e_1, \dots, e_{m-1}$ in nilpotent
//! infinitesimals together with their multiplication table $e_i e_j = e_k$ (or 0). Running the
//! forward *and* backward pass of a model at $\theta + \varepsilon v$ in such an algebra gives
//! $\nabla L(\theta + \varepsilon v)$ as a jet, whose coefficients are the higher derivatives:
//!
//! - [`JetKind::taylor`]`(K)`, monomials $\{1, \varepsilon, \dots, \varepsilon^K\}$:
//!   $\nabla L(\theta+\varepsilon v) = \sum_{k\le K} \frac{\varepsilon^k}{k!}\nabla^{k+1}L[v^{k}]$
//!   ($K = 0$: the gradient, $K = 1$: $\nabla^2 L v$, $K = 2$: $\tfrac12\nabla^3L[v,v]$,
//!   $K = 3$: $\tfrac16\nabla^4 L[v,v,v]$);
//! - [`JetKind::hyper_dual`], monomials $\{1, \varepsilon_1, \varepsilon_2, \varepsilon_1\varepsilon_2\}$
//!   with $\varepsilon_1^2 = \varepsilon_2^2 = 0$: at $\theta + \varepsilon_1 v + \varepsilon_2 w$ the
//!   $\varepsilon_1\varepsilon_2$-coefficient of the gradient is $\nabla^3 L[v, w]$.
//!
//! A jet-valued matrix ([`JetMat`]) is stored as one plain row-major matrix per monomial (structure of
//! arrays); a block known to be zero is `None` and skipped, so a jet matrix product is a handful of
//! [`Scalar::gemm`] calls over the surviving coefficient pairs.

use crate::error::EvalError;
use crate::linalg::zeros;
use crate::scalar::Scalar;

/// A model whose gradient can be evaluated in a jet algebra (forward over reverse): ∇L at
/// θ + Σ_k ε_k v_k for the directions `th[1..]`, writing the coefficient of monomial `target` to
/// `out` and returning L(θ). The derivative orders of the `Objective` trait follow from it
/// ([`hvp`], [`d3`], [`d3_sym`], [`d4`]).
pub trait GradJet<S: Scalar> {
    /// The jet gradient (see the trait).
    fn grad_jet(&self, kind: &JetKind, th: &[Option<&[S]>], target: usize, out: &mut [S]) -> Result<S, EvalError>;
}

/// ∇²L·v = ε-block of ∇L(θ + εv).
pub fn hvp<S: Scalar>(m: &impl GradJet<S>, th: &[S], v: &[S], out: &mut [S]) -> Result<(), EvalError> {
    m.grad_jet(&JetKind::taylor(1), &[Some(th), Some(v)], 1, out).map(drop)
}

/// ∇³L[v,w] = ε₁ε₂-block of ∇L(θ + ε₁v + ε₂w) (hyper-dual).
pub fn d3<S: Scalar>(m: &impl GradJet<S>, th: &[S], v: &[S], w: &[S], out: &mut [S]) -> Result<(), EvalError> {
    m.grad_jet(&JetKind::hyper_dual(), &[Some(th), Some(v), Some(w), None], 3, out).map(drop)
}

/// ∇³L[v,v] = 2 × (ε²-block of ∇L(θ + εv)).
pub fn d3_sym<S: Scalar>(m: &impl GradJet<S>, th: &[S], v: &[S], out: &mut [S], c: S::Ctx) -> Result<(), EvalError> {
    m.grad_jet(&JetKind::taylor(2), &[Some(th), Some(v), None], 2, out)?;
    let two = S::from_i64(2, c);
    out.iter_mut().for_each(|o| *o *= &two);
    Ok(())
}

/// ∇⁴L[v,v,v] = 6 × (ε³-block of ∇L(θ + εv)).
pub fn d4<S: Scalar>(m: &impl GradJet<S>, th: &[S], v: &[S], out: &mut [S], c: S::Ctx) -> Result<(), EvalError> {
    m.grad_jet(&JetKind::taylor(3), &[Some(th), Some(v), None, None], 3, out)?;
    let six = S::from_i64(6, c);
    out.iter_mut().for_each(|o| *o *= &six);
    Ok(())
}

/// A truncated Taylor algebra: monomials with their total degrees and multiplication table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JetKind {
    name: &'static str,
    degree: Vec<usize>,
    /// Every non-vanishing product `(i, j, k)`: e_i·e_j = e_k, in a fixed order (by k, then i).
    products: Vec<(usize, usize, usize)>,
}

impl JetKind {
    /// The trivial algebra {1}: plain numbers (value and gradient).
    pub fn constant() -> Self {
        Self::taylor(0)
    }

    /// One-direction Taylor jets {1, ε, …, ε^order} with ε^(order+1) = 0.
    pub fn taylor(order: usize) -> Self {
        let degree = (0..=order).collect();
        let mut products = Vec::new();
        for k in 0..=order {
            for i in 0..=k {
                products.push((i, k - i, k));
            }
        }
        let name = match order {
            0 => "constant",
            1 => "dual",
            2 => "taylor-2",
            3 => "taylor-3",
            _ => "taylor",
        };
        JetKind {
            name,
            degree,
            products,
        }
    }

    /// Hyper-dual numbers {1, ε₁, ε₂, ε₁ε₂} with ε₁² = ε₂² = 0.
    pub fn hyper_dual() -> Self {
        let products = vec![
            (0, 0, 0),
            (0, 1, 1),
            (1, 0, 1),
            (0, 2, 2),
            (2, 0, 2),
            (0, 3, 3),
            (1, 2, 3),
            (2, 1, 3),
            (3, 0, 3),
        ];
        JetKind {
            name: "hyper-dual",
            degree: vec![0, 1, 1, 2],
            products,
        }
    }

    /// Short name of the algebra.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Number of monomials m.
    pub fn len(&self) -> usize {
        self.degree.len()
    }

    /// Always false: every algebra contains the constant monomial.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Largest total degree D: every nilpotent part N satisfies N^(D+1) = 0.
    pub fn max_degree(&self) -> usize {
        self.degree.iter().copied().max().unwrap_or(0)
    }

    /// Total degree of monomial k.
    pub fn degree(&self, k: usize) -> usize {
        self.degree[k]
    }

    /// The non-vanishing products (i, j, k): e_i·e_j = e_k.
    pub fn products(&self) -> &[(usize, usize, usize)] {
        &self.products
    }
}

/// A jet-valued row-major matrix: `parts[k]` is the coefficient matrix of monomial e_k (`None` when
/// known to be zero).
#[derive(Clone, Debug, PartialEq)]
pub struct JetMat<S> {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// One coefficient matrix per monomial of the algebra.
    pub parts: Vec<Option<Vec<S>>>,
}

impl<S: Scalar> JetMat<S> {
    /// The zero jet matrix (all blocks known zero).
    pub fn zero(kind: &JetKind, rows: usize, cols: usize) -> Self {
        JetMat {
            rows,
            cols,
            parts: vec![None; kind.len()],
        }
    }

    /// A jet matrix with only a constant part.
    pub fn constant(kind: &JetKind, rows: usize, cols: usize, data: Vec<S>) -> Self {
        assert_eq!(
            data.len(),
            rows * cols,
            "JetMat::constant: wrong data length"
        );
        let mut m = Self::zero(kind, rows, cols);
        m.parts[0] = Some(data);
        m
    }

    /// Coefficient block of monomial k, if not known to be zero.
    pub fn part(&self, k: usize) -> Option<&[S]> {
        self.parts.get(k).and_then(|p| p.as_deref())
    }

    /// The nilpotent part N = self − (constant part).
    pub fn nilpotent(&self) -> Self {
        let mut n = self.clone();
        n.parts[0] = None;
        n
    }

    /// True when every stored coefficient is finite.
    pub fn is_finite(&self) -> bool {
        self.parts
            .iter()
            .flatten()
            .all(|p| p.iter().all(S::is_finite))
    }

    /// self += other, block by block.
    pub fn add_assign(&mut self, other: &Self) {
        assert_eq!(
            (self.rows, self.cols),
            (other.rows, other.cols),
            "JetMat::add_assign: shapes"
        );
        for (a, b) in self.parts.iter_mut().zip(&other.parts) {
            match (a.as_mut(), b) {
                (_, None) => {}
                (Some(a), Some(b)) => a.iter_mut().zip(b).for_each(|(x, y)| *x += y),
                (None, Some(b)) => *a = Some(b.clone()),
            }
        }
    }
}

/// Jet matrix product op(A)·op(B): $C_k = \sum_{e_ie_j = e_k} \mathrm{op}(A_i)\,\mathrm{op}(B_j)$.
///
/// `only = Some(k)` computes the block of monomial k alone (the others stay `None`). Blocks known to
/// be zero are skipped; `fast` selects the f64 faer kernel (see [`Scalar::gemm`]).
#[allow(clippy::too_many_arguments)]
pub fn matmul<S: Scalar>(
    kind: &JetKind,
    a: &JetMat<S>,
    ta: bool,
    b: &JetMat<S>,
    tb: bool,
    only: Option<usize>,
    fast: bool,
    c: S::Ctx,
) -> JetMat<S> {
    let (m, ka) = if ta {
        (a.cols, a.rows)
    } else {
        (a.rows, a.cols)
    };
    let (kb, n) = if tb {
        (b.cols, b.rows)
    } else {
        (b.rows, b.cols)
    };
    assert_eq!(ka, kb, "jet matmul: inner dimensions differ");
    let mut out: JetMat<S> = JetMat::zero(kind, m, n);
    for &(i, j, k) in kind.products() {
        if only.is_some_and(|o| o != k) {
            continue;
        }
        let (Some(ai), Some(bj)) = (a.part(i), b.part(j)) else {
            continue;
        };
        let ck = out.parts[k].get_or_insert_with(|| zeros(m * n, c));
        S::gemm(ck, ai, ta, bj, tb, (m, ka, n), true, fast);
    }
    out
}

/// Elementwise jet product: $(A\odot B)_k = \sum_{e_ie_j=e_k} A_i \odot B_j$.
pub fn hadamard<S: Scalar>(kind: &JetKind, a: &JetMat<S>, b: &JetMat<S>, c: S::Ctx) -> JetMat<S> {
    assert_eq!(
        (a.rows, a.cols),
        (b.rows, b.cols),
        "jet hadamard: shapes differ"
    );
    let len = a.rows * a.cols;
    let mut out: JetMat<S> = JetMat::zero(kind, a.rows, a.cols);
    for &(i, j, k) in kind.products() {
        let (Some(ai), Some(bj)) = (a.part(i), b.part(j)) else {
            continue;
        };
        let ck = out.parts[k].get_or_insert_with(|| zeros(len, c));
        for ((x, y), z) in ai.iter().zip(bj).zip(ck.iter_mut()) {
            z.mul_acc(x, y);
        }
    }
    out
}

/// Apply a smooth function elementwise to a jet matrix, given its derivatives at the constant part:
/// $f(z_0 + N) = \sum_{k=0}^{D} \frac{f^{(k)}(z_0)}{k!} N^k$ (D = the algebra's maximal degree, so
/// $N^{D+1} = 0$).
///
/// `derivs[k]` holds $f^{(k)}(z_0)$ for every entry (row-major, same shape as `z`); at least D + 1
/// blocks are required (the D + 1 first are used).
pub fn taylor_apply<S: Scalar>(
    kind: &JetKind,
    z: &JetMat<S>,
    derivs: &[Vec<S>],
    c: S::Ctx,
) -> JetMat<S> {
    let dmax = kind.max_degree();
    assert!(
        derivs.len() > dmax,
        "taylor_apply: need derivatives up to order {dmax}"
    );
    let len = z.rows * z.cols;
    let mut out = JetMat::constant(kind, z.rows, z.cols, derivs[0].clone());
    let nil = z.nilpotent();
    if nil.parts.iter().all(Option::is_none) {
        return out;
    }
    let mut pow = nil.clone(); // N^k
    let mut fact = S::one(c); // k!
    for (k, dk) in derivs.iter().enumerate().take(dmax + 1).skip(1) {
        if k > 1 {
            pow = hadamard(kind, &pow, &nil, c);
            fact *= &S::from_i64(k as i64, c);
        }
        // f^(k)(z₀)/k! once per entry, then accumulated into every block of N^k.
        let scaled: Vec<S> = if k == 1 {
            dk.clone()
        } else {
            dk.iter().map(|d| d.clone() / &fact).collect()
        };
        for (p, acc) in pow.parts.iter().zip(out.parts.iter_mut()) {
            let Some(p) = p else { continue };
            let acc = acc.get_or_insert_with(|| zeros(len, c));
            for ((a, x), d) in acc.iter_mut().zip(p).zip(&scaled) {
                a.mul_acc(x, d);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jet_scalar(kind: &JetKind, coefs: &[Option<f64>]) -> JetMat<f64> {
        let mut m = JetMat::zero(kind, 1, 1);
        for (k, v) in coefs.iter().enumerate() {
            m.parts[k] = v.map(|x| vec![x]);
        }
        m
    }

    /// exp(a + bε) = eᵃ (1 + bε + b²ε²/2 + b³ε³/6) in the order-3 Taylor algebra.
    #[test]
    #[allow(clippy::needless_range_loop)]
    fn taylor3_exp_series() {
        let kind = JetKind::taylor(3);
        let (a, b) = (0.3_f64, -1.7_f64);
        let z = jet_scalar(&kind, &[Some(a), Some(b), None, None]);
        let ea = a.exp();
        let derivs = vec![vec![ea]; 4];
        let r = taylor_apply(&kind, &z, &derivs, ());
        let want = [ea, ea * b, ea * b * b / 2.0, ea * b * b * b / 6.0];
        for k in 0..4 {
            let got = r.part(k).unwrap()[0];
            // four roundings of values ≤ 5: a few ε relative.
            assert!(
                (got - want[k]).abs() <= 8.0 * f64::EPSILON * want[k].abs(),
                "k={k}: {got} vs {}",
                want[k]
            );
        }
    }

    /// (a₀ + a₁ε₁ + a₂ε₂)(b₀ + b₁ε₁ + b₂ε₂) has ε₁ε₂-coefficient a₁b₂ + a₂b₁ (ε₁² = ε₂² = 0).
    #[test]
    fn hyper_dual_product_table() {
        let kind = JetKind::hyper_dual();
        let a = jet_scalar(&kind, &[Some(2.0), Some(3.0), Some(5.0), None]);
        let b = jet_scalar(&kind, &[Some(7.0), Some(11.0), Some(13.0), None]);
        let p = hadamard(&kind, &a, &b, ());
        let got: Vec<f64> = (0..4).map(|k| p.part(k).unwrap()[0]).collect();
        // small integers: exact.
        assert_eq!(
            got,
            vec![
                14.0,
                2.0 * 11.0 + 3.0 * 7.0,
                2.0 * 13.0 + 5.0 * 7.0,
                3.0 * 13.0 + 5.0 * 11.0
            ]
        );
    }

    /// A jet matrix product equals the sum over entries of elementwise jet products (integers: exact).
    #[test]
    #[allow(clippy::needless_range_loop)]
    fn matmul_matches_entrywise_jet_products() {
        let kind = JetKind::taylor(2);
        let mk = |rows: usize, cols: usize, seed: i64| -> JetMat<f64> {
            let mut m = JetMat::zero(&kind, rows, cols);
            for k in 0..3 {
                m.parts[k] = Some(
                    (0..rows * cols)
                        .map(|e| (((e as i64 + 3 * k as i64 + seed) * 7919) % 13 - 6) as f64)
                        .collect(),
                );
            }
            m
        };
        let (m, k, n) = (3, 4, 2);
        let a = mk(m, k, 1);
        let b = mk(n, k, 5); // used transposed
        let c = matmul(&kind, &a, false, &b, true, None, false, ());
        for i in 0..m {
            for j in 0..n {
                let mut acc = [0.0; 3];
                for l in 0..k {
                    for &(p, q, r) in kind.products() {
                        acc[r] += a.part(p).unwrap()[i * k + l] * b.part(q).unwrap()[j * k + l];
                    }
                }
                for r in 0..3 {
                    assert_eq!(c.part(r).unwrap()[i * n + j], acc[r]);
                }
            }
        }
        let only = matmul(&kind, &a, false, &b, true, Some(1), false, ());
        assert!(only.part(0).is_none() && only.part(2).is_none());
        assert_eq!(only.part(1), c.part(1));
    }
}
