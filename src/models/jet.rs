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
//!   ($K = 0$: the gradient, $K = 1$: $\nabla^2 L v$, $K = 2$: $\tfrac12\nabla^3L\[v,v\]$,
//!   $K = 3$: $\tfrac16\nabla^4 L\[v,v,v\]$);
//! - [`JetKind::hyper_dual`], monomials $\{1, \varepsilon_1, \varepsilon_2, \varepsilon_1\varepsilon_2\}$
//!   with $\varepsilon_1^2 = \varepsilon_2^2 = 0$: at $\theta + \varepsilon_1 v + \varepsilon_2 w$ the
//!   $\varepsilon_1\varepsilon_2$-coefficient of the gradient is $\nabla^3 L[v, w]$.
//!
//! A jet-valued matrix ([`JetMat`]) is stored as one plain row-major matrix per monomial (structure of
//! arrays); a block known to be zero is `None` and skipped, so a jet matrix product is a handful of
//! [`Scalar::gemm`] calls over the surviving coefficient pairs.
//!
//! The `*_in` / `_into` variants ([`matmul_in`], [`matmul_into`], [`hadamard_in`], [`taylor_apply_in`])
//! do the same operations in the same order on borrowed blocks ([`Blocks`]), draw their results from a
//! [`Pool`] of reused buffers and split elementwise work over two threads ([`par_parts`]); models
//! evaluated many times (the MLP) use them.

use std::sync::{Arc, Mutex};

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

/// ∇³L\[v,w\] = ε₁ε₂-block of ∇L(θ + ε₁v + ε₂w) (hyper-dual).
pub fn d3<S: Scalar>(m: &impl GradJet<S>, th: &[S], v: &[S], w: &[S], out: &mut [S]) -> Result<(), EvalError> {
    m.grad_jet(&JetKind::hyper_dual(), &[Some(th), Some(v), Some(w), None], 3, out).map(drop)
}

/// ∇³L\[v,v\] = 2 × (ε²-block of ∇L(θ + εv)).
pub fn d3_sym<S: Scalar>(m: &impl GradJet<S>, th: &[S], v: &[S], out: &mut [S], c: S::Ctx) -> Result<(), EvalError> {
    m.grad_jet(&JetKind::taylor(2), &[Some(th), Some(v), None], 2, out)?;
    let two = S::from_i64(2, c);
    out.iter_mut().for_each(|o| *o *= &two);
    Ok(())
}

/// ∇⁴L\[v,v,v\] = 6 × (ε³-block of ∇L(θ + εv)).
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

    /// The blocks as borrowed slices (`None` where known zero).
    pub fn views(&self) -> Blocks<'_, S> {
        self.parts.iter().map(|p| p.as_deref()).collect()
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

/// The blocks of a jet matrix as borrowed slices, by monomial (`None` where known zero).
pub type Blocks<'a, S> = Vec<Option<&'a [S]>>;

/// Reusable coefficient buffers, kept from one evaluation to the next.
///
/// Freeing the large temporaries of a jet evaluation returns their pages to the operating system,
/// and the next evaluation pays the page faults again (measured: about half of the f64 time of an
/// HVP on the large configuration). A model keeps a `Pool` and draws its blocks from it. Thread-safe:
/// the free list sits behind a `Mutex` held only to take or return one buffer, so concurrent
/// evaluations through `&self` each get their own buffers. No result depends on which buffer is
/// handed out: [`Pool::take`] gives unspecified contents that the caller overwrites entirely, and
/// [`Pool::zeros`] zeroes.
pub struct Pool<S> {
    free: Arc<Mutex<Vec<Vec<S>>>>,
}

impl<S> Default for Pool<S> {
    fn default() -> Self {
        Pool { free: Arc::new(Mutex::new(Vec::new())) }
    }
}

/// A clone is a handle on the same free list: buffers one returns the other can take. The buffers
/// are scratch, not state, so copies of a solver's state share them, whether they run one after the
/// other or on different threads (each take and give holds the lock for one buffer): a copy then
/// does not fault its buffers in afresh (the two-thread tracking step advances a copy of θ†'s
/// [`crate::sharpness::Trail`] every step; benches/RESULTS.md, Session 19).
impl<S> Clone for Pool<S> {
    fn clone(&self) -> Self {
        Pool { free: Arc::clone(&self.free) }
    }
}

impl<S> std::fmt::Debug for Pool<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pool")
    }
}

impl<S: Scalar> Pool<S> {
    /// At most this many free buffers are kept (a bound on the memory held between evaluations).
    const MAX_FREE: usize = 256;

    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<S>>> {
        // A panic while holding the lock cannot leave the list inconsistent (push/remove only).
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A buffer of length `len` whose contents are unspecified (each entry a valid value at the
    /// precision `c`): the smallest free buffer that holds `len` entries, else a new one.
    pub fn take(&self, len: usize, c: S::Ctx) -> Vec<S> {
        let picked = {
            let mut free = self.lock();
            let best = free
                .iter()
                .enumerate()
                .filter(|(_, v)| v.capacity() >= len)
                .min_by_key(|(_, v)| v.capacity())
                .map(|(i, _)| i);
            best.map(|i| free.swap_remove(i))
        };
        let mut v = picked.unwrap_or_default();
        if v.len() > len {
            v.truncate(len);
        } else if v.len() < len {
            v.resize(len, S::zero(c));
        }
        v
    }

    /// A zero buffer of length `len`.
    pub fn zeros(&self, len: usize, c: S::Ctx) -> Vec<S> {
        let mut v = self.take(len, c);
        v.iter_mut().for_each(S::set_zero);
        v
    }

    /// Return a buffer for reuse.
    pub fn give(&self, v: Vec<S>) {
        if v.capacity() == 0 {
            return;
        }
        let mut free = self.lock();
        if free.len() < Self::MAX_FREE {
            free.push(v);
        } else if let Some((i, _)) = free
            .iter()
            .enumerate()
            .min_by_key(|(_, f)| f.capacity())
            .filter(|(_, f)| f.capacity() < v.capacity())
        {
            // Full: the smallest buffer makes room (a stream of small buffers allocated elsewhere
            // must not push the large ones out).
            free[i] = v;
        }
    }

    /// Buffers held free (the memory the pool keeps between uses).
    pub fn free_count(&self) -> usize {
        self.lock().len()
    }

    /// Return every block of a jet matrix for reuse.
    pub fn recycle(&self, m: JetMat<S>) {
        m.parts.into_iter().flatten().for_each(|p| self.give(p));
    }
}

/// Block i of a borrowed jet (`None` beyond the stored blocks, e.g. X with its constant block only).
fn blk<'a, S>(a: &[Option<&'a [S]>], i: usize) -> Option<&'a [S]> {
    a.get(i).copied().flatten()
}

/// Elementwise work at or above this many entries is split over two threads when
/// [`crate::linalg::free_threads`] ≥ 2 (below it the hand-off costs more than it saves).
pub const PAR_MIN: usize = 1 << 14;

/// [`PAR_MIN`] for entries other than f64 (MPFR: a 256-bit tanh costs ≈ 2.6 µs, so 2⁸ entries
/// already outweigh a thread's wake-up).
pub const PAR_MIN_MPFR: usize = 1 << 8;

/// Runs `f(lo, parts)` over a fixed partition of the index range `0..len` into at most two
/// contiguous halves, each output slice of `outs` (all of length `len`) cut at the same index `mid`
/// (a multiple of `unit`, e.g. a row length). Two halves run concurrently
/// ([`crate::linalg::join2`]) when [`crate::linalg::free_threads`] ≥ 2 (no other branch holds the
/// second thread) and `len ≥ PAR_MIN`. For elementwise maps the results are bit-identical to one
/// thread: every entry is computed by the same operations whichever half it falls in (the f64
/// tanh's lane loop and its remainder compute the same operations, `scalar::tanh_fast_slice`).
pub fn par_parts<T: Send + 'static>(len: usize, unit: usize, outs: Vec<&mut [T]>, f: impl Fn(usize, Vec<&mut [T]>) + Sync) {
    debug_assert!(outs.iter().all(|o| o.len() == len));
    let mid = (len / 2) / unit.max(1) * unit.max(1);
    // Each half runs through `pulp`'s dispatch; a closure `f` marked `#[inline(always)]` is inlined
    // into it, so its loops are compiled for the CPU's SIMD width (AVX2 / AVX-512; otherwise they
    // stay baseline SSE2). Rust never contracts a·b + c into an FMA, so the bits do not depend on it.
    let run = |lo: usize, o: Vec<&mut [T]>| crate::linalg::simd(#[inline(always)] || f(lo, o));
    let min = if crate::linalg::is_f64::<T>() { PAR_MIN } else { PAR_MIN_MPFR };
    if len < min || mid == 0 || crate::linalg::free_threads() < 2 {
        return run(0, outs);
    }
    let mut lo = Vec::with_capacity(outs.len());
    let mut hi = Vec::with_capacity(outs.len());
    for o in outs {
        let (a, b) = o.split_at_mut(mid);
        lo.push(a);
        hi.push(b);
    }
    crate::linalg::join2(|| run(0, lo), || run(mid, hi));
}

/// [`matmul`] over borrowed blocks, drawing the result blocks from `pool` (`skip_const`: leave the
/// constant block out, e.g. when it is known from an earlier evaluation at the same θ): A has blocks `a` and shape
/// `a_shape` (rows, cols as stored), B likewise. The first product into a block overwrites it
/// (`accumulate = false`, which the generic kernel implements as zero-then-accumulate: the same
/// operations as before), the others accumulate.
#[allow(clippy::too_many_arguments)]
pub fn matmul_in<S: Scalar>(
    kind: &JetKind,
    pool: &Pool<S>,
    a: &[Option<&[S]>],
    a_shape: (usize, usize),
    ta: bool,
    b: &[Option<&[S]>],
    b_shape: (usize, usize),
    tb: bool,
    only: Option<usize>,
    skip_const: bool,
    fast: bool,
    c: S::Ctx,
) -> JetMat<S> {
    let (m, ka) = if ta { (a_shape.1, a_shape.0) } else { a_shape };
    let (kb, n) = if tb { (b_shape.1, b_shape.0) } else { b_shape };
    assert_eq!(ka, kb, "jet matmul: inner dimensions differ");
    let mut out: JetMat<S> = JetMat::zero(kind, m, n);
    for &(i, j, k) in kind.products() {
        if only.is_some_and(|o| o != k) || (skip_const && k == 0) {
            continue;
        }
        let (Some(ai), Some(bj)) = (blk(a, i), blk(b, j)) else {
            continue;
        };
        match out.parts[k].as_mut() {
            Some(ck) => S::gemm(ck, ai, ta, bj, tb, (m, ka, n), true, fast),
            None => {
                let mut ck = pool.take(m * n, c);
                S::gemm(&mut ck, ai, ta, bj, tb, (m, ka, n), false, fast);
                out.parts[k] = Some(ck);
            }
        }
    }
    out
}

/// The block `target` of op(A)·op(B) written into `out` (length m·n): the same products in the same
/// order as [`matmul_in`] with `only = Some(target)`, no temporary; zero when no product reaches it.
#[allow(clippy::too_many_arguments)]
pub fn matmul_into<S: Scalar>(
    kind: &JetKind,
    a: &[Option<&[S]>],
    a_shape: (usize, usize),
    ta: bool,
    b: &[Option<&[S]>],
    b_shape: (usize, usize),
    tb: bool,
    target: usize,
    out: &mut [S],
    fast: bool,
) {
    let (m, ka) = if ta { (a_shape.1, a_shape.0) } else { a_shape };
    let (kb, n) = if tb { (b_shape.1, b_shape.0) } else { b_shape };
    assert_eq!(ka, kb, "jet matmul: inner dimensions differ");
    let mut first = true;
    for &(i, j, k) in kind.products() {
        if k != target {
            continue;
        }
        let (Some(ai), Some(bj)) = (blk(a, i), blk(b, j)) else {
            continue;
        };
        S::gemm(out, ai, ta, bj, tb, (m, ka, n), !first, fast);
        first = false;
    }
    if first {
        out.iter_mut().for_each(S::set_zero);
    }
}

/// [`hadamard`] over borrowed blocks of shape (rows, cols), drawing the result from `pool`
/// (`skip_const`: leave the constant block out). The first
/// product into a block is written as 0 + x·y (the generic path's zero-then-accumulate); all products
/// run in one pass over the entries ([`fused_products`]), split over two threads by [`par_parts`].
pub fn hadamard_in<S: Scalar>(
    kind: &JetKind,
    pool: &Pool<S>,
    a: &[Option<&[S]>],
    b: &[Option<&[S]>],
    (rows, cols): (usize, usize),
    skip_const: bool,
    c: S::Ctx,
) -> JetMat<S> {
    let mut out: JetMat<S> = JetMat::zero(kind, rows, cols);
    let mut terms = Vec::new();
    for &(i, j, k) in kind.products() {
        if skip_const && k == 0 {
            continue;
        }
        let (Some(ai), Some(bj)) = (blk(a, i), blk(b, j)) else {
            continue;
        };
        terms.push(Term::new(&mut out.parts, k, ai, bj, pool, c));
    }
    fused_products(rows * cols, &mut out.parts, &terms);
    out
}

/// Entries per chunk of a fused elementwise pass: every block of one chunk (8 KiB each in f64) stays
/// in the L1/L2 cache while all the products of the pass run over it.
const CHUNK: usize = 1024;

/// One product of a fused elementwise pass: block `out` += x ⊙ y, written as 0 + x·y when `fresh`
/// (the first product into the block).
struct Term<'a, S> {
    x: &'a [S],
    y: &'a [S],
    out: usize,
    fresh: bool,
}

impl<'a, S: Scalar> Term<'a, S> {
    /// The product `blocks[out]` += x ⊙ y; an absent block is drawn from `pool` and the product
    /// marked fresh.
    fn new(blocks: &mut [Option<Vec<S>>], out: usize, x: &'a [S], y: &'a [S], pool: &Pool<S>, c: S::Ctx) -> Self {
        let fresh = blocks[out].is_none();
        if fresh {
            blocks[out] = Some(pool.take(x.len(), c));
        }
        Term { x, y, out, fresh }
    }
}

/// The present blocks as mutable slices, with each block's index among them (`usize::MAX` where
/// absent): the outputs of a fused pass.
fn present<S>(blocks: &mut [Option<Vec<S>>]) -> (Vec<&mut [S]>, Vec<usize>) {
    let mut slot = Vec::with_capacity(blocks.len());
    let mut outs = Vec::with_capacity(blocks.len());
    for b in blocks.iter_mut() {
        slot.push(if b.is_some() { outs.len() } else { usize::MAX });
        outs.extend(b.as_deref_mut());
    }
    (outs, slot)
}

/// Applies `terms` in their order to `blocks` (each of length `len` where a term writes) in one pass
/// over the entries, chunk by chunk ([`CHUNK`]): per entry the same operations in the same order as
/// one pass per term. Split over two threads by [`par_parts`].
fn fused_products<S: Scalar>(len: usize, blocks: &mut [Option<Vec<S>>], terms: &[Term<'_, S>]) {
    if terms.is_empty() {
        return;
    }
    let (outs, slot) = present(blocks);
    let terms: Vec<(&[S], &[S], usize, bool)> = terms.iter().map(|t| (t.x, t.y, slot[t.out], t.fresh)).collect();
    par_parts(len, 1, outs, #[inline(always)] |lo, mut o| {
        let n = o[0].len();
        for s in (0..n).step_by(CHUNK) {
            let e = (s + CHUNK).min(n);
            for &(x, y, k, fresh) in &terms {
                mul_acc_into(&mut o[k][s..e], &x[lo + s..lo + e], &y[lo + s..lo + e], fresh);
            }
        }
    });
}

/// z ← z + x⊙y entrywise (`fresh`: z ← 0 + x·y, the generic path's zero-then-accumulate). Inlined
/// into the [`par_parts`] closures, so it is compiled for their SIMD width.
#[inline(always)]
fn mul_acc_into<S: Scalar>(z: &mut [S], x: &[S], y: &[S], fresh: bool) {
    if fresh {
        for ((z, x), y) in z.iter_mut().zip(x).zip(y) {
            z.set_mul(x, y);
        }
    } else {
        for ((z, x), y) in z.iter_mut().zip(x).zip(y) {
            z.mul_acc(x, y);
        }
    }
}

/// k! as [`taylor_apply`] forms it (1·2·…·k in the working precision).
pub fn factorial<S: Scalar>(k: usize, c: S::Ctx) -> S {
    let mut fact = S::one(c);
    for j in 2..=k {
        fact *= &S::from_i64(j as i64, c);
    }
    fact
}

/// d / fact entry by entry (each a copy then one division, as [`taylor_apply`]), into a pool buffer.
pub fn divided<S: Scalar>(pool: &Pool<S>, d: &[S], fact: &S, c: S::Ctx) -> Vec<S> {
    let mut s = pool.take(d.len(), c);
    s.iter_mut().zip(d).for_each(|(s, d)| {
        s.assign_from(d);
        *s /= fact;
    });
    s
}

/// [`taylor_apply`] with the constant block given by value (`base` = f(z₀); `None` leaves it out, only z's
/// nilpotent blocks are read) and the higher derivatives
/// borrowed (`derivs[k − 1]` = f^(k)(z₀), k = 1..=D; with `prescaled`, f^(k)(z₀)/k! for k ≥ 2, as
/// [`divided`] by [`factorial`] forms it), the result drawn from `pool`: the same
/// operations in the same order per entry, in one pass over the entries, chunk by chunk ([`CHUNK`]):
/// the powers N^k and f^(k)(z₀)/k! of a chunk live in per-thread scratch blocks and are accumulated
/// into the result there. Split over two threads by [`par_parts`].
pub fn taylor_apply_in<S: Scalar>(
    kind: &JetKind,
    pool: &Pool<S>,
    z: &JetMat<S>,
    base: Option<Vec<S>>,
    derivs: &[&[S]],
    prescaled: bool,
    c: S::Ctx,
) -> JetMat<S> {
    taylor_apply_many_in(kind, pool, z, vec![(base, derivs)], prescaled, c).pop().expect("one function")
}

/// A function applied by [`taylor_apply_many_in`]: its constant block f(z₀) (or `None`) and its
/// derivatives, as the `base` and `derivs` of [`taylor_apply_in`].
pub type TaylorFn<'a, S> = (Option<Vec<S>>, &'a [&'a [S]]);

/// [`taylor_apply_in`] for several functions f of the same jet z (`fs`: each f's constant block and
/// derivatives), one result each, in one pass: z's blocks and the powers N^k of a chunk are read and
/// formed once for all of them. Per entry of each result the same operations in the same order as
/// [`taylor_apply_in`] for that f alone.
pub fn taylor_apply_many_in<S: Scalar>(
    kind: &JetKind,
    pool: &Pool<S>,
    z: &JetMat<S>,
    fs: Vec<TaylorFn<'_, S>>,
    prescaled: bool,
    c: S::Ctx,
) -> Vec<JetMat<S>> {
    let dmax = kind.max_degree();
    assert!(fs.iter().all(|f| f.1.len() >= dmax), "taylor_apply: need derivatives up to order {dmax}");
    let len = z.rows * z.cols;
    let mut outs: Vec<JetMat<S>> = fs
        .iter()
        .map(|_| JetMat::zero(kind, z.rows, z.cols))
        .collect();
    let mut derivs = Vec::with_capacity(fs.len());
    for (out, (base, d)) in outs.iter_mut().zip(fs) {
        out.parts[0] = base;
        derivs.push(d);
    }
    let mut nil = z.views();
    nil[0] = None;
    if nil.iter().all(Option::is_none) || outs.is_empty() {
        return outs;
    }
    // The schedule draws the nilpotent result blocks of the first result; the others get the same
    // blocks (which blocks an order writes does not depend on f).
    let (first, rest) = outs.split_first_mut().expect("not empty");
    let plan = TaylorPlan::new(kind, &nil, dmax, &mut first.parts, pool, c);
    for o in rest.iter_mut() {
        for (b, p) in first.parts.iter().enumerate().skip(1) {
            if p.is_some() {
                o.parts[b] = Some(pool.take(len, c));
            }
        }
    }
    // The present blocks of every result in one list; slots[f][b] its index there.
    let mut all = Vec::new();
    let mut slots = Vec::with_capacity(outs.len());
    for o in outs.iter_mut() {
        let (blocks, slot) = present(&mut o.parts);
        let off = all.len();
        slots.push(slot.into_iter().map(|i| i.wrapping_add(off)).collect::<Vec<usize>>());
        all.extend(blocks);
    }
    let m = kind.len();
    par_parts(len, 1, all, #[inline(always)] |lo, mut o| {
        let n = o[0].len();
        let w = n.min(CHUNK);
        // N^(k−1) and N^k of the chunk (block b at b·w; N¹ is read from z), f^(k)(z₀)/k! of the chunk:
        // one scratch buffer from the pool (every entry is written before it is read).
        let pow_len = if dmax > 1 { m * w } else { 0 };
        let sc_len = if dmax > 1 && !prescaled { w } else { 0 };
        let mut buf = pool.take(2 * pow_len + sc_len, c);
        let (mut prev, rest) = buf.split_at_mut(pow_len);
        let (mut next, scaled) = rest.split_at_mut(pow_len);
        for s in (0..n).step_by(CHUNK) {
            let e = (s + CHUNK).min(n);
            let (r, wl) = (lo + s..lo + e, e - s);
            for (k, order) in (1..).zip(&plan.orders) {
                if k > 1 {
                    std::mem::swap(&mut prev, &mut next);
                    for t in &order.powers {
                        let x = t.x.chunk(prev, w, s, e, lo);
                        mul_acc_into(&mut next[t.out * w..t.out * w + wl], x, &t.y[r.clone()], t.fresh);
                    }
                }
                if order.accs.is_empty() {
                    continue;
                }
                for (derivs, slot) in derivs.iter().zip(&slots) {
                    let d = &derivs[k - 1][r.clone()];
                    let sc: &[S] = if k == 1 || prescaled {
                        d
                    } else {
                        let sc = &mut scaled[..wl];
                        sc.iter_mut().zip(d).for_each(|(s, d)| {
                            s.assign_from(d);
                            *s /= &plan.facts[k - 2];
                        });
                        sc
                    };
                    for &(b, ref p, fresh) in &order.accs {
                        mul_acc_into(&mut o[slot[b]][s..e], p.chunk(next, w, s, e, lo), sc, fresh);
                    }
                }
            }
        }
        pool.give(buf);
    });
    outs
}

/// A block of a power N^k in a fused [`taylor_apply_in`]: a block of z (k = 1) or block i of the
/// chunk's scratch power (k ≥ 2).
enum PowBlock<'a, S> {
    Z(&'a [S]),
    Scratch(usize),
}

impl<'a, S> PowBlock<'a, S> {
    /// The entries s..e of the chunk at `lo` (scratch blocks of width w in `scratch`).
    #[inline(always)]
    fn chunk<'b>(&self, scratch: &'b [S], w: usize, s: usize, e: usize, lo: usize) -> &'b [S]
    where
        'a: 'b,
    {
        match *self {
            PowBlock::Z(z) => &z[lo + s..lo + e],
            PowBlock::Scratch(i) => &scratch[i * w..i * w + e - s],
        }
    }
}

/// One product of N^k = N^(k−1) ⊙ N in a fused [`taylor_apply_in`]: scratch block `out` += x ⊙ y
/// (`fresh`: the first product into it).
struct PowProduct<'a, S> {
    x: PowBlock<'a, S>,
    y: &'a [S],
    out: usize,
    fresh: bool,
}

/// The schedule of a fused [`taylor_apply_in`], per order k = 1..=D.
struct TaylorOrder<'a, S> {
    /// The products forming N^k (k ≥ 2) in table order.
    powers: Vec<PowProduct<'a, S>>,
    /// The accumulations out_b += (N^k)_b · f^(k)(z₀)/k!: (b, block b of N^k, first product into out_b).
    accs: Vec<(usize, PowBlock<'a, S>, bool)>,
}

/// The schedule of a fused [`taylor_apply_in`]: which blocks of each power N^k are present, and k!.
struct TaylorPlan<'a, S> {
    orders: Vec<TaylorOrder<'a, S>>,
    /// k! for k = 2..=D (1·2·…·k as [`factorial`]).
    facts: Vec<S>,
}

impl<'a, S: Scalar> TaylorPlan<'a, S> {
    /// The schedule for the nilpotent blocks `nil` up to order `dmax`, drawing every result block it
    /// writes (absent from `out`) from `pool`.
    fn new(kind: &JetKind, nil: &[Option<&'a [S]>], dmax: usize, out: &mut [Option<Vec<S>>], pool: &Pool<S>, c: S::Ctx) -> Self {
        let len = nil.iter().flatten().next().map_or(0, |b| b.len());
        let mut has: Vec<bool> = nil.iter().map(Option::is_some).collect();
        // Block b of N^k: N itself is read from z.
        let pow_block = |k: usize, b: usize| match nil[b] {
            Some(z) if k == 1 => PowBlock::Z(z),
            _ => PowBlock::Scratch(b),
        };
        let (mut orders, mut facts) = (Vec::with_capacity(dmax), Vec::new());
        let mut fact = S::one(c);
        for k in 1..=dmax {
            let mut powers = Vec::new();
            if k > 1 {
                let mut next = vec![false; kind.len()];
                for &(i, j, kk) in kind.products() {
                    let (true, Some(y)) = (has[i], nil[j]) else { continue };
                    let x = pow_block(k - 1, i);
                    powers.push(PowProduct { x, y, out: kk, fresh: !next[kk] });
                    next[kk] = true;
                }
                has = next;
                fact *= &S::from_i64(k as i64, c);
                facts.push(fact.clone());
            }
            let accs = (0..kind.len())
                .filter(|&b| has[b])
                .map(|b| {
                    let fresh = out[b].is_none();
                    if fresh {
                        out[b] = Some(pool.take(len, c));
                    }
                    (b, pow_block(k, b), fresh)
                })
                .collect();
            orders.push(TaylorOrder { powers, accs });
        }
        TaylorPlan { orders, facts }
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

    /// The fused passes ([`hadamard_in`], [`taylor_apply_in`], prescaled or not) give the bits of the
    /// one-pass-per-product [`hadamard`] and [`taylor_apply`], over several chunks and with signed zeros.
    #[test]
    fn fused_passes_are_bit_identical_to_the_reference() {
        let (rows, cols) = (7, 2 * CHUNK / 7 + 5);
        let len = rows * cols;
        let val = |e: usize, seed: usize| match (e * 31 + seed * 17) % 23 {
            0 => -0.0,
            1 => 0.0,
            r => ((e * 7919 + seed * 104_729) % 2003) as f64 / 997.0 - 1.0 + r as f64 * 1e-3,
        };
        let bits = |m: &JetMat<f64>| -> Vec<Option<Vec<u64>>> {
            m.parts.iter().map(|p| p.as_ref().map(|p| p.iter().map(|x| x.to_bits()).collect())).collect()
        };
        let pool = Pool::new();
        for kind in [JetKind::taylor(1), JetKind::taylor(2), JetKind::taylor(3), JetKind::hyper_dual()] {
            let mk = |seed: usize, absent: usize| -> JetMat<f64> {
                let mut m = JetMat::zero(&kind, rows, cols);
                for (k, p) in m.parts.iter_mut().enumerate() {
                    if k != absent {
                        *p = Some((0..len).map(|e| val(e, seed + k)).collect());
                    }
                }
                m
            };
            let (a, b) = (mk(1, 2), mk(5, usize::MAX));
            let fused = hadamard_in(&kind, &pool, &a.views(), &b.views(), (rows, cols), false, ());
            assert_eq!(bits(&fused), bits(&hadamard(&kind, &a, &b, ())), "{}", kind.name());
            let derivs: Vec<Vec<f64>> = (0..=kind.max_degree()).map(|k| (0..len).map(|e| val(e, 40 + k)).collect()).collect();
            let want = bits(&taylor_apply(&kind, &a, &derivs, ()));
            let views: Vec<&[f64]> = derivs[1..].iter().map(Vec::as_slice).collect();
            let got = taylor_apply_in(&kind, &pool, &a, Some(derivs[0].clone()), &views, false, ());
            assert_eq!(bits(&got), want, "{}", kind.name());
            let pre: Vec<Vec<f64>> = (1..derivs.len()).map(|k| if k < 2 { derivs[k].clone() } else { divided(&pool, &derivs[k], &factorial(k, ()), ()) }).collect();
            let views: Vec<&[f64]> = pre.iter().map(Vec::as_slice).collect();
            let got = taylor_apply_in(&kind, &pool, &a, Some(derivs[0].clone()), &views, true, ());
            assert_eq!(bits(&got), want, "{} prescaled", kind.name());
        }
    }
}
