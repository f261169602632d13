//! Sharpness (reference.md §1): S(θ) = λ_max(∇²L(θ)), its unit eigenvector u, the gradient of
//! sharpness ∇S = ∇³L\[u,u\], ∇S⊥ = P_u^⊥∇S, progressive sharpening α = −∇L·∇S⊥, self-stabilization
//! strength β = ‖∇S⊥‖², δ = √(2α/β) — from Hessian-vector products only.
//!
//! The eigen solver is Lanczos with full reorthogonalisation in its Rayleigh–Ritz form: the basis V
//! and W = HV are kept, the projected matrix G = VᵀHV is diagonalised (cyclic Jacobi over the generic
//! scalar), and the next basis vector is the residual Hy − θy of the first unconverged Ritz pair —
//! without restarts this spans exactly the Krylov space of Lanczos; on a restart the top Ritz pairs are
//! kept (thick restart). Started from one vector without a preconditioner, the basis is that Krylov
//! space and every residual is parallel to the next Lanczos vector, which is then taken directly
//! (Krylov mode: the residual norms follow from G, the true residuals are formed once at the end).
//! Stored Ritz pairs of a previous solve may precondition the expansion (Davidson); a solve whose
//! residual stops falling drops them ([`STALL_WINDOW`]).
//! It stops when every requested pair has relative residual
//! ‖Hy − θy‖ ≤ tol·max(|θ|, |θ₁|, the spectrum's size), θ₁ the top value and the size the RMS of
//! the projected matrix's eigenvalues, ≤ ‖H‖ ([`spectral_scale`]; decisions.md §5; for the top pair of a Hessian whose top eigenvalue is its
//! largest in magnitude this is tol·|S|), and reports an error naming the residual reached otherwise.
//! A solve started from a given vector uses no randomness, so starting from −v₀ returns exactly −u
//! (negation is exact in IEEE and MPFR; claim 2).

use crate::error::EvalError;
use crate::linalg::{axpy, axpy_in, combine_in, dot, dots, dots_acc, jacobi_eigen, join2, lin_combs, norm, pass_mid, scale, simd, zeros, PASS_BLOCK};
use crate::mag::Mag;
use crate::models::jet::Pool;
use crate::objective::Objective;
use crate::scalar::{Precision, Scalar};

/// Options of the eigen solve.
#[derive(Clone, Debug)]
pub struct EigenOpts {
    /// Number of top (largest algebraic) eigenpairs, ≥ 1 (0 is an error); a solve returns
    /// min(k, p) pairs, p the objective's dimension.
    pub k: usize,
    /// Relative residual tolerance ‖Hy − θy‖ ≤ tol·max(|θ|, |θ₁|, the spectrum's size) ([`Eigen::residuals`]);
    /// a [`Mag`], so the default 2^(16 − bits) has range at any MPFR precision.
    pub tol: Mag,
    /// Largest basis before a thick restart.
    pub max_basis: usize,
    /// HVP budget; beyond it the solve fails with [`EvalError::EigenStalled`].
    pub max_hvps: u64,
    /// Number of Ritz vectors below the k-th returned in [`Eigen::next_ritz`] (warm subspace).
    pub warm_ritz: usize,
}

impl EigenOpts {
    /// Default tolerance of a context: 1e-10 in f64, 2^(16 − bits) in MPFR (decisions.md §5).
    pub fn default_tol<S: Scalar>(c: S::Ctx) -> Mag {
        let prec = if S::precision_name(c) == "f64" { Precision::F64 } else { Precision::Bits(S::bits(c)) };
        Self::default_tol_of(prec)
    }
    /// The same default for a configured precision.
    pub fn default_tol_of(prec: Precision) -> Mag {
        match prec {
            Precision::F64 => Mag::new(1e-10),
            Precision::Bits(b) => Mag::pow2(16 - b as i64),
        }
    }
    /// Top-k with the default tolerance of the context.
    pub fn top<S: Scalar>(k: usize, c: S::Ctx) -> Self {
        EigenOpts { k, tol: Self::default_tol::<S>(c), max_basis: 40, max_hvps: 5000, warm_ritz: 3 }
    }
}

/// Relative residual, above f64, of the solves whose results a run records only in f64 (the
/// instability search's checks, GD's S(θ_t) in a tracking step, the gradient flow's S of
/// `run --gf`; their vectors only start the next such solve), when the run's tolerance is tighter:
/// 2^-60. The Ritz value θ of a pair with relative residual r is a Rayleigh quotient, so θ ≤ λ₁,
/// and λ₁ − θ ≤ (r‖H‖)²/gap (Kato–Temple): at 2^-60 ≈ 2^-120·‖H‖²/gap, far below f64's rounding of
/// S, while MPFR's default tolerance 2^(16 − bits) costs HVPs in proportion to the bits. Measured
/// in benches/RESULTS.md ("Session 47").
pub const RECORD_TOL: f64 = 8.673617379884035e-19;

/// The tolerance of a solve recorded only in f64 ([`RECORD_TOL`]) for a run at `tol` in context
/// `c`: the looser of `tol` and [`RECORD_TOL`] above f64; `tol` itself in f64.
pub fn record_tol<S: Scalar>(c: S::Ctx, tol: Mag) -> Mag {
    if S::bits(c) > 53 { tol.max(Mag::new(RECORD_TOL)) } else { tol }
}

/// Result of an eigen solve.
#[derive(Clone, Debug)]
pub struct Eigen<S: Scalar> {
    /// Eigenvalues, descending (each the Rayleigh quotient of its vector, so a repeated eigenvalue
    /// may be out of order by rounding).
    pub values: Vec<S>,
    /// Unit eigenvectors (the first is oriented so that u·v₀ ≥ 0).
    pub vectors: Vec<Vec<S>>,
    /// Relative residuals ‖Hy − θy‖/max(|θ|, |θ₁|, the spectrum's size) of each pair (the top pair:
    /// ‖Hu − Su‖/|S| when S is the largest eigenvalue in magnitude; [`all_eigenpairs`]: /‖H‖₂).
    pub residuals: Vec<Mag>,
    /// Hessian-vector products spent.
    pub hvps: u64,
    /// The tolerance used.
    pub tol: Mag,
    /// The next Ritz vectors below the k-th (up to `EigenOpts::warm_ritz`, default 3; not converged): a warm subspace for the
    /// next solve along a trajectory.
    pub next_ritz: Vec<Vec<S>>,
    /// Their Ritz values (for [`top_eigen_warm`]).
    pub next_ritz_values: Vec<S>,
}

impl<S: Scalar> Eigen<S> {
    /// The warm subspace of the next top-1 solve along a trajectory: the top vector, then
    /// [`Eigen::next_ritz`].
    pub fn warm(&self) -> Vec<Vec<S>> {
        self.vectors.iter().take(1).chain(&self.next_ritz).cloned().collect()
    }

    /// The warm subspace of the next solve for all k pairs: the k vectors, then
    /// [`Eigen::next_ritz`].
    pub fn warm_all(&self) -> Vec<Vec<S>> {
        self.vectors.iter().chain(&self.next_ritz).cloned().collect()
    }
}

/// Deterministic start vector when no warm start is given: v_i = 1 + ((i·0.618…) mod 1), normalised
/// (positive entries, so it is not orthogonal to a dominant direction with a mean component).
pub fn default_start<S: Scalar>(p: usize, c: S::Ctx) -> Vec<S> {
    let golden = 0.618_033_988_749_894_8_f64;
    (0..p)
        .map(|i| S::from_f64(1.0 + ((i as f64 + 1.0) * golden).fract(), c))
        .collect()
}

/// H restricted to the complement of orthonormal vectors U: v ↦ (I − UUᵀ)H(I − UUᵀ)v (only the
/// HVP is used, by [`complete_repeated`]'s check solve; the rest is the objective's own).
struct Deflated<'a, S: Scalar> {
    inner: &'a dyn Objective<S>,
    u: Vec<Vec<S>>,
}

impl<S: Scalar> Deflated<'_, S> {
    fn project(&self, v: &mut [S]) {
        for u in &self.u {
            let c = -dot(u, v);
            axpy(&c, u, v);
        }
    }
}

impl<S: Scalar> Objective<S> for Deflated<'_, S> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn ctx(&self) -> S::Ctx {
        self.inner.ctx()
    }
    fn describe(&self) -> String {
        format!("{} deflated by {} vectors", self.inner.describe(), self.u.len())
    }
    fn value(&self, th: &[S]) -> Result<S, EvalError> {
        self.inner.value(th)
    }
    fn grad(&self, th: &[S], g: &mut [S]) -> Result<S, EvalError> {
        self.inner.grad(th, g)
    }
    fn hvp(&self, th: &[S], v: &[S], out: &mut [S]) -> Result<(), EvalError> {
        let mut w = v.to_vec();
        self.project(&mut w);
        self.inner.hvp(th, &w, out)?;
        self.project(out);
        Ok(())
    }
    fn d3(&self, th: &[S], v: &[S], w: &[S], out: &mut [S]) -> Result<(), EvalError> {
        self.inner.d3(th, v, w, out)
    }
    fn d4(&self, th: &[S], v: &[S], out: &mut [S]) -> Result<(), EvalError> {
        self.inner.d4(th, v, out)
    }
}

/// Completes the top k pairs `eig` of a solve from one start vector with the copies of repeated
/// eigenvalues it missed. The Krylov space of one vector holds one vector of each eigenspace, so an
/// eigenvalue repeated m > 1 times is found once, and the solve can stop on an invariant subspace
/// that misses the rest (an MLP at θ = 0, where λ = 2 has multiplicity 10: the top 3 came out as
/// 2, 0.63, 0, each with a residual ≤ 1e-15). A check solve for the top pair of the deflated
/// operator (I − UUᵀ)H(I − UUᵀ), U the pairs found, from a start orthogonal to them: while its value
/// exceeds the k-th found one by more than the tolerance (relative to the top value), that pair is
/// one the first solve missed; it is inserted in order and the k-th dropped. The check costs one
/// more solve (k = 2 on 64-64-64-64-10 at θ₀: 39 + 42 HVPs; k = 32: 580 + 67).
pub fn complete_repeated<S: Scalar>(obj: &dyn Objective<S>, th: &[S], mut eig: Eigen<S>, opts: &EigenOpts) -> Result<Eigen<S>, EvalError> {
    let k = eig.values.len();
    let p = obj.dim();
    if k < 2 || k >= p {
        return Ok(eig);
    }
    let c = obj.ctx();
    for round in 0..k as u64 {
        let d = Deflated { inner: obj, u: eig.vectors.clone() };
        // A start orthogonal to the pairs found (SplitMix64 entries: independent of the default start).
        let mut v: Vec<S> = (0..p as u64).map(|i| S::from_f64(splitmix_entry(round, i), c)).collect();
        d.project(&mut v);
        d.project(&mut v);
        let check = top_eigen(&d, th, Some(&v), &EigenOpts { k: 1, ..*opts })?;
        eig.hvps += check.hvps;
        let (lam, w) = (check.values[0].clone(), check.vectors[0].clone());
        let top = eig.values[0].to_mag().abs().max(Mag::new(f64::MIN_POSITIVE));
        if !((lam.clone() - &eig.values[k - 1]).to_mag() / top > opts.tol) {
            break;
        }
        // A missed copy: insert it in order (its residual against H itself) and drop the k-th.
        let mut hw = zeros::<S>(p, c);
        obj.hvp(th, &w, &mut hw)?;
        eig.hvps += 1;
        axpy(&(-lam.clone()), &w, &mut hw);
        let res = norm(&hw).to_mag() / lam.to_mag().abs().max(top);
        let at = eig.values.iter().position(|x| *x < lam).unwrap_or(k);
        eig.values.insert(at, lam);
        eig.vectors.insert(at, w);
        eig.residuals.insert(at, res);
        eig.values.truncate(k);
        eig.vectors.truncate(k);
        eig.residuals.truncate(k);
    }
    Ok(eig)
}

/// Entry i of the deterministic vector number j: SplitMix64 of (j, i), in [−½, ½).
pub(crate) fn splitmix_entry(j: u64, i: u64) -> f64 {
    let mut z = (j << 32 ^ i).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((z >> 11) as f64) * libm::ldexp(1.0, -53) - 0.5
}

/// Top-k eigenpairs of ∇²L(θ) from HVPs, warm-started at `v0` (or [`default_start`]).
pub fn top_eigen<S: Scalar>(
    obj: &dyn Objective<S>,
    th: &[S],
    v0: Option<&[S]>,
    opts: &EigenOpts,
) -> Result<Eigen<S>, EvalError> {
    match v0 {
        Some(v) => top_eigen_subspace(obj, th, &[v.to_vec()], opts),
        None => top_eigen_subspace(obj, th, &[], opts),
    }
}

/// Largest p for which [`all_eigenpairs`] runs above f64: its cyclic Jacobi in the working
/// precision costs ≈ 4p³ MPFR operations per sweep (p = 300: 1e8, minutes at 256 bits).
pub const ALL_PAIRS_MPFR_MAX: usize = 300;

/// Largest p for which [`all_eigenpairs`] runs in f64: it holds about six p×p matrices (p = 12,000:
/// 6.9 GB) and the decomposition takes minutes (p = 4,650: 30 s with the Hessian's p HVPs).
pub const ALL_PAIRS_F64_MAX: usize = 12_000;

/// Every eigenpair of ∇²L(θ), descending (`eval --top-k` ≥ p): the dense Hessian from p HVPs with
/// unit vectors, symmetrised ([`crate::objective::dense_hessian`]), then in f64 faer's self-adjoint
/// eigendecomposition (sequential, so the bits do not depend on the thread count; O(p³) flops,
/// seconds at p ≈ 3,500, where the Lanczos solver with block size p would take hours) and above f64
/// the cyclic Jacobi of [`jacobi_eigen`] in the working precision (p ≤ [`ALL_PAIRS_MPFR_MAX`]).
/// Residuals ‖Hy − θy‖/‖H‖₂ against the dense H (‖H‖₂ = max(|θ₁|, |θ_p|)); each vector is oriented so that its
/// product with [`default_start`] is ≥ 0, as the iterative solver orients its first.
pub fn all_eigenpairs<S: Scalar>(obj: &dyn Objective<S>, th: &[S]) -> Result<Eigen<S>, EvalError> {
    let p = obj.dim();
    let c = obj.ctx();
    if p == 0 {
        return Err(EvalError::Other("all eigenpairs: the objective has no parameters (p = 0)".into()));
    }
    crate::objective::check_point(obj, "θ", th)?;
    if crate::linalg::is_f64::<S>() && p > ALL_PAIRS_F64_MAX {
        return Err(EvalError::Other(format!(
            "all {p} eigenpairs need about six dense {p}×{p} matrices ({:.0} GB); they are computed for p ≤ {ALL_PAIRS_F64_MAX} (use a --top-k below p)",
            6.0 * 8.0 * (p as f64).powi(2) / 1e9
        )));
    }
    if !crate::linalg::is_f64::<S>() && p > ALL_PAIRS_MPFR_MAX {
        return Err(EvalError::Other(format!(
            "all {p} eigenpairs above f64 need a dense Jacobi of ≈ 4p³ = {:.1e} operations per sweep in the working precision; it runs for p ≤ {ALL_PAIRS_MPFR_MAX} (use f64, or a --top-k below p)",
            4.0 * (p as f64).powi(3)
        )));
    }
    if crate::linalg::is_f64::<S>() {
        let need = 6 * 8 * (p as u64).pow(2);
        crate::memory::check_bytes(&format!("all {p} eigenpairs (six dense {p}×{p} matrices)"), need).map_err(|e| EvalError::Other(e.to_string()))?;
    }
    let h = crate::objective::dense_hessian(obj, th)?;
    // Eigenvalues descending, eigenvectors as rows.
    let (values, rows): (Vec<S>, Vec<Vec<S>>) = if crate::linalg::is_f64::<S>() {
        let m = faer::Mat::<f64>::from_fn(p, p, |i, j| h[i * p + j].to_f64());
        faer::set_global_parallelism(faer::Par::Seq);
        let evd = m
            .self_adjoint_eigen(faer::Side::Lower)
            .map_err(|e| EvalError::Other(format!("the dense eigendecomposition of the {p}×{p} Hessian failed: {e:?}")))?;
        let (s, u) = (evd.S(), evd.U());
        (0..p).rev().map(|j| (S::from_f64(s[j], c), (0..p).map(|i| S::from_f64(u[(i, j)], c)).collect())).unzip()
    } else {
        let (vals, vecs) = jacobi_eigen(&h, p);
        let rows = (0..p).map(|r| vecs[r * p..(r + 1) * p].to_vec()).collect();
        (vals, rows)
    };
    let start = default_start::<S>(p, c);
    let vectors: Vec<Vec<S>> = rows
        .into_iter()
        .map(|mut y| {
            if dot(&y, &start).to_f64() < 0.0 {
                y.iter_mut().for_each(|x| *x = -x.clone());
            }
            y
        })
        .collect();
    // Row r of Y·H (H symmetric) is (H y_r)ᵀ: one product for every residual.
    let y: Vec<S> = vectors.iter().flat_map(|v| v.iter().cloned()).collect();
    let mut hy = zeros::<S>(p * p, c);
    S::gemm(&mut hy, &y, false, &h, false, (p, p, p), false, true);
    // ‖H‖₂ = max(|λ₁|, |λ_p|): the spectrum's size, so a top eigenvalue at 0 (a saddle) is not
    // divided by itself (the iterative solver's scale, `spectral_scale`, plays the same part).
    let top = values.first().map_or(Mag::ZERO, |v| v.to_mag().abs()).max(values.last().map_or(Mag::ZERO, |v| v.to_mag().abs()));
    let residuals = (0..p)
        .map(|r| {
            let res: Vec<S> = (0..p).map(|i| hy[r * p + i].clone() - &(values[r].clone() * &vectors[r][i])).collect();
            norm(&res).to_mag() / values[r].to_mag().abs().max(top).max(Mag::new(f64::MIN_POSITIVE))
        })
        .collect();
    Ok(Eigen { values, vectors, residuals, hvps: p as u64, tol: Mag::ZERO, next_ritz: vec![], next_ritz_values: vec![] })
}

/// Top-k eigenpairs warm-started from a subspace: the first vector (the previous u) starts the
/// Krylov space and the others (the previous solve's next Ritz vectors, [`Eigen::next_ritz`]) are
/// added to the basis before Krylov directions, so eigenvalues close to S are resolved from the
/// start rather than rediscovered at every step along a trajectory.
///
/// Cost per HVP beyond the product (p = dimension, m = basis size): one classical Gram–Schmidt pass
/// (m dots + one blocked update; a second pass only when the first removed more than 1 − 1/√2 of the
/// norm, "twice is enough"), one new row of G = VᵀHV (m dots), the small eigenproblem of G
/// ([`small_eig`]: dense Jacobi in f64, refined in the working precision for MPFR) and the Ritz pair
/// y = Vs, Hy = Ws of each requested pair whose true residual ‖Hy − θy‖ is the stopping criterion.
/// With a single start vector (Krylov mode, as [`top_eigen`]) the Gram–Schmidt pass takes its
/// coefficients from the new row of G and the residual norms are β·|s\[last\]| ([`lanczos_next`]):
/// one pass over V beyond the row, a second one only when orthogonality slips, and the Ritz pairs
/// formed once at the end. With two threads these passes split over both
/// ([`crate::linalg::split_pass`]: entries cut at a fixed index, each dot whole on one thread), so
/// the results are the same bits with any thread count.
pub fn top_eigen_subspace<S: Scalar>(
    obj: &dyn Objective<S>,
    th: &[S],
    warm: &[Vec<S>],
    opts: &EigenOpts,
) -> Result<Eigen<S>, EvalError> {
    solve(obj, th, warm, None, opts, &Pool::new())
}

/// Top-k eigenpairs warm-started from the previous solve's pairs: `warm[..k]` start the basis as in
/// [`top_eigen_subspace`], and the previous Ritz pairs (θ_j, y_j) = (`values[j]`, `warm[j]`), j ≥ k,
/// are not added to the basis but precondition its expansion (Davidson): the residual r of the
/// pair being sought (Ritz value θ) is replaced by t = −θ·(Ĥ − θ)⁻¹r with Ĥ = Σ_j θ_j y_j y_jᵀ the
/// previous Hessian's spectral approximation, i.e. t = r − Σ_j y_j (y_j·r) θ_j/(θ_j − θ), with the
/// components along the sought warm vectors removed. The stopping rule is unchanged.
pub fn top_eigen_warm<S: Scalar>(
    obj: &dyn Objective<S>,
    th: &[S],
    warm: &[Vec<S>],
    values: &[S],
    opts: &EigenOpts,
) -> Result<Eigen<S>, EvalError> {
    let k = opts.k.max(1);
    if values.len() != warm.len() || warm.len() <= k {
        return solve(obj, th, warm, None, opts, &Pool::new());
    }
    solve(obj, th, &warm[..k], Some((&warm[k..], &values[k..])), opts, &Pool::new())
}

/// The solve of [`top_eigen_subspace`] / [`top_eigen_warm`] / [`Trail::solve`]. Its basis and
/// image vectors come from `pool` and go back to it when the solve ends: a [`Trail`] keeps one
/// pool for all its solves, so that a solve does not free ≈ 2 × 20 vectors at once for the next
/// one to fault back in page by page (medium: ≈ 3.5 % of a tracking step's CPU in page faults,
/// `perf`).
fn solve<S: Scalar>(
    obj: &dyn Objective<S>,
    th: &[S],
    warm: &[Vec<S>],
    pre: Option<(&[Vec<S>], &[S])>,
    opts: &EigenOpts,
    pool: &Pool<S>,
) -> Result<Eigen<S>, EvalError> {
    // With two threads the whole solve runs on a worker of rayon's pool ([`crate::linalg::on_pool`]),
    // so that each HVP hands its second data shard to the other worker directly. Measured
    // (benches/RESULTS.md, twelfth run, "a solve on rayon's pool"): tiny's two-thread warm solve and
    // projection step 18–25 % faster.
    crate::linalg::on_pool(|| {
        let (mut basis, mut images) = (Vec::new(), Vec::new());
        let out = solve_in(obj, th, warm, pre, opts, pool, &mut basis, &mut images);
        basis.into_iter().chain(images).for_each(|v| pool.give(v));
        out
    })
}

/// θ, the start vectors and the preconditioning pairs have the objective's length p, and the
/// tolerance is a number > 0: anything else is an error naming it (it used to surface as an index
/// panic deep in the solver, or as a solve that could never stop).
fn check_solve_inputs<S: Scalar>(p: usize, th: &[S], warm: &[Vec<S>], pre: Option<(&[Vec<S>], &[S])>, opts: &EigenOpts) -> Result<(), EvalError> {
    if p == 0 {
        return Err(EvalError::Other("eigen solve: the objective has no parameters (p = 0)".into()));
    }
    if th.len() != p {
        return Err(EvalError::Other(format!("eigen solve: θ has length {}, the objective has {p} parameters", th.len())));
    }
    let pre_vecs = pre.map_or(&[][..], |(v, _)| v);
    if let Some(v) = warm.iter().chain(pre_vecs).find(|v| v.len() != p) {
        return Err(EvalError::Other(format!("eigen solve: a start vector has length {}, the objective has {p} parameters", v.len())));
    }
    if !(opts.tol > 0.0 && opts.tol.is_finite()) {
        return Err(EvalError::Other(format!("eigen solve: the tolerance must be a finite number > 0, got {}", opts.tol)));
    }
    if opts.k == 0 {
        return Err(EvalError::Other("eigen solve: k = 0 eigenpairs asked for (k must be ≥ 1)".into()));
    }
    // A start vector at another precision would carry its rounding into every pair.
    if let Some(c) = th.first().map(S::ctx)
        && let Some(v) = warm.iter().chain(pre_vecs).find(|v| v.iter().any(|x| x.ctx() != c))
    {
        let i = v.iter().position(|x| x.ctx() != c).unwrap_or(0);
        return Err(EvalError::Other(format!(
            "eigen solve: a start vector's entry {i} is at precision {}, θ at {}: build vectors with the objective's context",
            S::precision_name(v[i].ctx()),
            S::precision_name(c)
        )));
    }
    Ok(())
}

/// Entry i of the deterministic vector with `seed` (in [−½, ½)) from which a solve continues after
/// an invariant subspace: SplitMix64 of (stream + seed, i), so the vectors of successive seeds are
/// independent of each other and of [`complete_repeated`]'s starts (no randomness, so a solve is
/// repeatable). A multiplicative hash with the seed in its multiplier's low bits, used before, gave
/// vectors of seeds 1 and 2 equal to within 2^-52, and a solve that broke down twice continued from
/// rounding noise (the pairs were still right: a solve checks its true residuals).
fn fresh_entry(i: usize, seed: u64) -> f64 {
    const STREAM: u64 = 0x5EED_0000;
    splitmix_entry(STREAM + seed, i as u64)
}

/// Iterations over which the explicit mode's residual must at least halve ([`STALL_FACTOR`]) while
/// the stored Ritz pairs precondition the expansion; otherwise the preconditioner is dropped for the
/// rest of the solve. The preconditioner approximates θ(θ − H)⁻¹ on the stored Ritz vectors: when
/// they and their values are stale (the top pair has turned or crossed since they were stored) and
/// the current Ritz vector lies near their span, the expansion falls back into the basis (Davidson's
/// stagnation with a near-exact inverse). Measured (medium, a θ† projection step after an eigenvalue
/// crossing, `theory/README.md` "Eigen solver: crossings and a stale preconditioner"): the residual sat at
/// 6.0e-2 for 5000 HVPs; a normal solve halves it every one or two HVPs.
const STALL_WINDOW: usize = 8;
/// See [`STALL_WINDOW`].
const STALL_FACTOR: f64 = 0.5;

#[allow(clippy::too_many_arguments)]
fn solve_in<S: Scalar>(
    obj: &dyn Objective<S>,
    th: &[S],
    warm: &[Vec<S>],
    pre: Option<(&[Vec<S>], &[S])>,
    opts: &EigenOpts,
    pool: &Pool<S>,
    basis: &mut Vec<Vec<S>>,
    images: &mut Vec<Vec<S>>,
) -> Result<Eigen<S>, EvalError> {
    let p = obj.dim();
    let c = obj.ctx();
    check_solve_inputs(p, th, warm, pre, opts)?;
    let k = opts.k.max(1).min(p);
    let start: Vec<S> = match warm.first() {
        Some(v) if norm(v).to_f64() > 0.0 => v.clone(),
        _ => default_start(p, c),
    };
    let mut pending: std::collections::VecDeque<Vec<S>> = warm.iter().skip(1).cloned().collect();
    // Projected matrix G = VᵀHV (row-major, m×m, symmetric by construction).
    let mut g: Vec<Vec<S>> = Vec::new();
    let mut q = start.clone();
    let mut hvps: u64 = 0;
    let mut fresh_seed: u64 = 1;
    let mut best_res = Mag::new(f64::INFINITY);
    // Block buffer of the fused Ritz residual pass (reused across iterations).
    // (Two blocks: one per thread when the pass splits.)
    let mut y_block: Vec<S> = zeros((2 * PASS_BLOCK).min(p), c);
    // Krylov mode: while the basis is the Krylov space of the start vector (one start vector, no
    // preconditioner, no fresh vector after a breakdown), HV = VG + β·q·eᵀ_last with q the next
    // Lanczos vector, so every Ritz residual is β·s[last]·q: the next direction is q itself
    // ([`lanczos_next`]; `q_ready`: already orthonormal) and ‖Hy − θy‖ = β·|s[last]| needs no pass
    // over V and W. The true residuals are formed once, by `finish`; if they fail the tolerance
    // (lost orthogonality), the solve goes on in the explicit mode.
    let mut krylov = pre.is_none() && pending.is_empty();
    // The explicit mode's residuals with the preconditioner on (for the stall guard).
    let mut history: Vec<Mag> = Vec::new();
    let mut pre = pre;
    let mut q_ready = false;
    loop {
        if !q_ready {
            let (q_norm0, mut qn) = orthogonalise(basis, &mut q, None);
            let breakdown = basis.len() >= p
                || !(qn.to_mag() > 1e-3 * q_norm0.to_mag().max(Mag::new(f64::MIN_POSITIVE)))
                || !qn.is_finite();
            if breakdown {
                if basis.len() >= p {
                    // The whole space is spanned: the Ritz pairs are exact eigenpairs.
                    let (vals, vecs) = small_eig(&g, k.min(basis.len()), opts.warm_ritz);
                    return finish(basis, images, (&vals, &vecs), k, p, hvps, opts, &start, true, spectral_scale(&g), pool);
                }
                // Invariant subspace reached before k pairs: continue from a fresh deterministic vector.
                q = (0..p).map(|i| S::from_f64(fresh_entry(i, fresh_seed), c)).collect();
                fresh_seed += 1;
                krylov = false;
                let (n0, _) = orthogonalise(basis, &mut q, None);
                qn = orthogonalise(basis, &mut q, Some(n0.to_mag())).1;
            }
            let inv = S::one(c) / &qn;
            scale(&inv, &mut q);
        }
        q_ready = false;
        let mut w = pool.zeros(p, c);
        obj.hvp(th, &q, &mut w)?;
        hvps += 1;
        if !crate::linalg::all_finite(&w) {
            return Err(EvalError::NonFinite { what: "Hessian-vector product", at: String::new() });
        }
        // Extend G by one row/column: G[m][i] = v_i·(Hq), G[m][m] = q·Hq (one multi-chain pass).
        let row = dots(&w, &basis.iter().chain(std::iter::once(&q)).map(Vec::as_slice).collect::<Vec<_>>());
        for (i, gi) in g.iter_mut().enumerate() {
            gi.push(row[i].clone());
        }
        g.push(row);
        basis.push(std::mem::take(&mut q));
        images.push(w);

        let m = basis.len();
        let kk = k.min(m);
        let scale_g = spectral_scale(&g);
        // The top pairs and the warm-subspace pairs `finish` returns (the same top pairs as
        // small_eig(&g, kk, 0)), formed where they are needed: Krylov mode skips them while
        // [`krylov_unconverged`] shows the residual above the tolerance.
        let mut eig_g: Option<(Vec<S>, Vec<Vec<S>>)> = None;
        let rel = |vals: &[S], r: usize, res: &S| res.to_mag() / vals[r].to_mag().abs().max(vals[0].to_mag().abs()).max(Mag::new(scale_g)).max(Mag::new(f64::MIN_POSITIVE));
        let mut next: Option<Vec<S>> = None;
        let mut all_ok = m >= k;
        let mut worst = Mag::ZERO;
        let mut explicit = !(krylov && m < p);
        if !explicit {
            let (qk, qa, qn) = lanczos_next(basis, &images[m - 1], &g[m - 1], reorth_slack(S::eps_mag(c), opts.tol), &mut y_block, pool);
            if qn.is_finite() && qn.to_mag() > 1e-3 * qa.to_mag().max(Mag::new(f64::MIN_POSITIVE)) {
                match early_decisions().then(|| krylov_unconverged(&g, kk, opts.tol, scale_g, qn.to_mag())).flatten() {
                    Some(shown) => {
                        worst = shown;
                        all_ok = false;
                    }
                    None => {
                        let (vals, vecs) = eig_g.insert(small_eig(&g, kk, opts.warm_ritz));
                        for (r, s) in vecs.iter().enumerate().take(kk) {
                            worst = worst.max(rel(vals, r, &(qn.clone() * &s[m - 1].abs())));
                        }
                        all_ok &= worst <= opts.tol;
                    }
                }
                q = qk;
                scale(&(S::one(c) / &qn), &mut q);
                q_ready = true;
                if all_ok {
                    let (vals, vecs) = eig_g.as_ref().expect("formed when all_ok");
                    let out = finish(basis, images, (vals, vecs), k, p, hvps, opts, &start, false, scale_g, pool)?;
                    worst = out.residuals.iter().cloned().fold(Mag::ZERO, Mag::max);
                    if worst <= opts.tol {
                        return Ok(out);
                    }
                    krylov = false;
                }
            } else {
                // Breakdown (an invariant subspace to rounding): the explicit mode takes over.
                krylov = false;
                explicit = true;
            }
        }
        if explicit {
            let (vals, vecs) = &*eig_g.get_or_insert_with(|| small_eig(&g, kk, opts.warm_ritz));
            for r in 0..kk {
                // The preconditioner's dots with the residual are taken in the residual's pass; they
                // are used only if this pair is the first unconverged one.
                let ys: Vec<&[S]> = match pre {
                    Some((ys, _)) if next.is_none() => ys.iter().map(Vec::as_slice).collect(),
                    _ => vec![],
                };
                let (mut res, res_norm, cf) = ritz_residual(basis, images, &vecs[r], &vals[r], &ys, &mut y_block, pool);
                let rel = rel(vals, r, &res_norm);
                worst = worst.max(rel);
                if !(rel <= opts.tol) {
                    all_ok = false;
                    if next.is_none() {
                        if let Some((ys, ls)) = pre {
                            precondition(&mut res, cf, &vals[r], warm, ys, ls);
                        }
                        next = Some(res);
                    }
                }
            }
            if all_ok {
                return finish(basis, images, (vals, vecs), k, p, hvps, opts, &start, false, scale_g, pool);
            }
        }
        best_res = best_res.min(worst);
        if worst == f64::INFINITY {
            // The residual overflowed (Hessian entries near the range's end): no later iteration
            // brings it back (a sharpness near 1e156 ran all 5000 HVPs before failing).
            return Err(EvalError::EigenStalled { residual: worst, tol: opts.tol, hvps });
        }
        if explicit && pre.is_some() {
            // A stale preconditioner stalls the expansion (see [`STALL_WINDOW`]): from here on
            // the solve expands by the plain residual.
            if history.len() >= STALL_WINDOW && worst > STALL_FACTOR * history[history.len() - STALL_WINDOW] {
                pre = None;
            }
            history.push(worst);
        }
        if hvps >= opts.max_hvps {
            return Err(EvalError::EigenStalled { residual: best_res, tol: opts.tol, hvps });
        }
        if !q_ready {
            q = match (pending.pop_front(), next) {
                (Some(w), _) => w,
                (None, Some(r)) => r,
                // Fewer than k pairs yet (or a Krylov breakdown): extend from the last image.
                (None, None) => images.last().unwrap().clone(),
            };
        }
        if m >= opts.max_basis.max(k + 2) {
            // Thick restart: keep the top `keep` Ritz pairs (V ← VS, W ← WS, G ← SᵀGS), S from
            // [`small_eig`] (rare: once per max_basis HVPs).
            let keep = (k + 8).min(m - 1);
            let (rv, mut rvecs) = small_eig(&g, keep, 0);
            g = restart_projection(&g, rv, &mut rvecs);
            let ss: Vec<&[S]> = rvecs.iter().map(Vec::as_slice).collect();
            let (nb, ni) = ritz(basis, images, &ss, keep, p, c, pool);
            std::mem::replace(basis, nb).into_iter().chain(std::mem::replace(images, ni)).for_each(|v| pool.give(v));
        }
    }
}

/// t = r − Σ_j y_j (y_j·r)·θ_j/(θ_j − θ) over the preconditioning pairs (θ_j, y_j), given
/// `cf` = (y_j·r)_j, then the components along the sought warm vectors removed (see
/// [`top_eigen_warm`]); the denominator is kept ≥ 1e-3·|θ| in size.
fn precondition<S: Scalar>(r: &mut [S], cf: Vec<S>, theta: &S, sought: &[Vec<S>], ys: &[Vec<S>], ls: &[S]) {
    let c = theta.ctx();
    let floor = theta.to_f64().abs() * 1e-3;
    let t: Vec<S> = cf
        .into_iter()
        .zip(ls)
        .map(|(x, lj)| {
            let mut den = lj.clone() - theta;
            if den.to_f64().abs() < floor {
                den = S::from_f64(if den.to_f64() < 0.0 { -floor } else { floor }, c);
            }
            -(x * lj / &den)
        })
        .collect();
    add_combination(&t, ys, r);
    let cf: Vec<S> = dots(r, &sought.iter().map(Vec::as_slice).collect::<Vec<_>>()).into_iter().map(|x| -x).collect();
    add_combination(&cf, sought, r);
}

/// One classical Gram–Schmidt pass q ← q − V(Vᵀq) (coefficients and ‖q₀‖ in one [`dots`]
/// pass, the update blocked; ‖q‖ after it through [`dots`] too), repeated once when the pass shrank ‖q‖ below `before`/√2 (Kahan–Parlett:
/// twice is enough; `before` is ‖q₀‖ unless given). Returns (‖q₀‖, ‖q‖).
fn orthogonalise<S: Scalar>(basis: &[Vec<S>], q: &mut [S], before: Option<Mag>) -> (S, S) {
    let q_ref: &[S] = q;
    let ys: Vec<&[S]> = std::iter::once(q_ref).chain(basis.iter().map(Vec::as_slice)).collect();
    let mut acc = dots(q_ref, &ys);
    let q_norm0 = acc[0].sqrt();
    if basis.is_empty() {
        return (q_norm0.clone(), q_norm0);
    }
    let mut before = before.unwrap_or_else(|| q_norm0.to_mag());
    let mut cf: Vec<S> = acc.drain(1..).map(|x| -x).collect();
    for pass in 0..2 {
        if pass == 1 {
            cf = dots(q, &basis.iter().map(Vec::as_slice).collect::<Vec<_>>()).into_iter().map(|x| -x).collect();
        }
        add_combination(&cf, basis, q);
        let after = norm_of(q);
        if after.to_mag() >= before * std::f64::consts::FRAC_1_SQRT_2 {
            return (q_norm0, after);
        }
        before = after.to_mag();
    }
    (q_norm0, norm_of(q))
}

/// ‖q‖ as √(q·q) through [`dots`] (for a long f64 vector its lane-split sum).
fn norm_of<S: Scalar>(q: &[S]) -> S {
    dots(q, &[q])[0].sqrt()
}

/// q ← q + Σ_j cf_j v_j, block by block of [`PASS_BLOCK`] entries (per entry the operations of
/// successive [`axpy`]s). With a free thread and enough work ([`pass_mid`]) the two halves of q run
/// concurrently: the same operations per entry.
fn add_combination<S: Scalar>(cf: &[S], basis: &[Vec<S>], q: &mut [S]) {
    let p = q.len();
    let n = cf.len().min(basis.len());
    if let Some(mid) = pass_mid::<S>(p, p * n) {
        let (a, b) = q.split_at_mut(mid);
        join2(|| add_combination_at(&cf[..n], basis, 0, a), || add_combination_at(&cf[..n], basis, mid, b));
        return;
    }
    add_combination_at(&cf[..n], basis, 0, q)
}

/// q ← q + Σ_j cf_j v_j\[off..off + len(q)\], block by block.
fn add_combination_at<S: Scalar>(cf: &[S], basis: &[Vec<S>], off: usize, q: &mut [S]) {
    simd(
        #[inline(always)]
        || {
            for lo in (0..q.len()).step_by(PASS_BLOCK) {
                let hi = (lo + PASS_BLOCK).min(q.len());
                combine_in(cf, &basis[..cf.len()], off + lo, &mut q[lo..hi]);
            }
        },
    );
}

/// A blocked pass that fills `out` and takes its dots on the way: `fill(lo, block, scratch)` writes
/// the entries lo.. of `out` (a block of at most [`PASS_BLOCK`]; `scratch` has its length), and
/// acc\[0\] += out·out, acc\[1 + j\] += others\[j\]·out, each one chain in index order (as
/// [`dots_acc`]). `scratch` holds two blocks (or p entries).
///
/// With a free thread and at least [`crate::linalg::PASS_PAR_MIN`] multiply-adds (`per_entry` per
/// entry, [`pass_mid`]), the two halves of `out` (cut at a multiple of the block) are filled
/// concurrently, the first half taking its dots on the way; then the chains continue over the second
/// half, split between the two threads. Every entry is the same operations and every sum the same
/// chain in index order, so the bits do not depend on it.
fn fill_and_dots<S: Scalar>(
    out: &mut [S],
    others: &[&[S]],
    acc: &mut [S],
    scratch: &mut [S],
    per_entry: usize,
    fill: impl Fn(usize, &mut [S], &mut [S]) + Sync,
) {
    let p = out.len();
    let pass = |off: usize, out: &mut [S], scratch: &mut [S], acc: Option<&mut [S]>| {
        let mut acc = acc;
        for lo in (0..out.len()).step_by(PASS_BLOCK) {
            let hi = (lo + PASS_BLOCK).min(out.len());
            let ob = &mut out[lo..hi];
            fill(off + lo, ob, &mut scratch[..hi - lo]);
            if let Some(acc) = acc.as_deref_mut() {
                let ob: &[S] = ob;
                let chains: Vec<&[S]> = std::iter::once(ob).chain(others.iter().map(|y| &y[off + lo..off + hi])).collect();
                dots_acc(acc, ob, &chains);
            }
        }
    };
    let mid = match pass_mid::<S>(p, p * per_entry) {
        Some(mid) if scratch.len() >= 2 * PASS_BLOCK => mid,
        _ => return pass(0, out, scratch, Some(acc)),
    };
    let (oa, ob) = out.split_at_mut(mid);
    let (sa, sb) = scratch.split_at_mut(PASS_BLOCK);
    join2(|| pass(0, oa, sa, Some(&mut *acc)), || pass(mid, ob, sb, None));
    let x: &[S] = &out[mid..];
    let chains: Vec<&[S]> = std::iter::once(x).chain(others.iter().map(|y| &y[mid..])).collect();
    if chains.len() >= 2 {
        let h = chains.len() / 2;
        let (a0, a1) = acc.split_at_mut(h);
        join2(|| dots_acc(a0, x, &chains[..h]), || dots_acc(a1, x, &chains[h..]));
    } else {
        dots_acc(acc, x, &chains);
    }
}

/// The next Lanczos vector (Krylov mode of [`solve`]): q = w − V·row from the last image w and
/// `row` = Vᵀw (the last row of G), in one blocked pass that also accumulates ‖q‖² and the dots
/// Vᵀq ([`fill_and_dots`]). When ‖Vᵀq‖ exceeds `slack`·‖q‖, one more pass q ← q − V(Vᵀq) restores
/// orthogonality to rounding (twice is enough); otherwise the basis stays orthonormal to that
/// level, and Vᵀq grows only by about the factor ‖w‖/‖q‖ per step until the next such pass.
/// Returns (q, ‖q‖ after the first pass, ‖q‖).
/// q is drawn from `pool` (as every basis vector: the pool then holds the solve's working set).
fn lanczos_next<S: Scalar>(basis: &[Vec<S>], w: &[S], row: &[S], slack: Mag, scratch: &mut [S], pool: &Pool<S>) -> (Vec<S>, S, S) {
    let c = row[0].ctx();
    let mut q = pool.take(w.len(), c);
    q.clone_from_slice(w);
    let mut acc: Vec<S> = zeros(basis.len() + 1, c);
    let cf: Vec<S> = row.iter().map(|x| -x.clone()).collect();
    let n = cf.len().min(basis.len());
    let others: Vec<&[S]> = basis.iter().map(Vec::as_slice).collect();
    fill_and_dots(&mut q, &others, &mut acc, scratch, n + basis.len() + 1, |lo, qb, _| {
        simd(
            #[inline(always)]
            || combine_in(&cf[..n], &basis[..n], lo, qb),
        )
    });
    let first = acc[0].sqrt();
    let mut off = S::zero(c);
    for d in &acc[1..] {
        off.mul_acc(d, d);
    }
    if off.sqrt() <= first.clone() * &S::from_mag(slack, c) {
        return (q, first.clone(), first);
    }
    let cf: Vec<S> = acc.drain(1..).map(|x| -x).collect();
    add_combination(&cf, basis, &mut q);
    let qn = norm_of(&q);
    (q, first, qn)
}

/// Loss of orthogonality ‖Vᵀq‖/‖q‖ that [`lanczos_next`] lets a new basis vector keep: 256ε of the
/// working precision, and at most tol/64 (it perturbs the Ritz pairs by about that much relative).
fn reorth_slack(eps: Mag, tol: Mag) -> Mag {
    (256.0 * eps).min(tol / 64.0)
}

/// The projected matrix after a thick restart to V·S, S = (s_r) the kept pairs (θ_r, s_r) of G:
/// diag(θ) in f64, where S comes from the dense Jacobi and is orthonormal to rounding. In MPFR the
/// separately refined s_r are orthogonal only to about ε‖G‖/gap, so they are orthonormalised in
/// place (modified Gram–Schmidt, in order) and SᵀGS is formed: O(keep·m²) working-precision
/// operations instead of a dense Jacobi of G in the working precision.
fn restart_projection<S: Scalar>(g: &[Vec<S>], rv: Vec<S>, ss: &mut [Vec<S>]) -> Vec<Vec<S>> {
    let c = rv[0].ctx();
    let keep = rv.len();
    if S::bits(c) <= 53 {
        return (0..keep).map(|i| (0..keep).map(|j| if i == j { rv[i].clone() } else { S::zero(c) }).collect()).collect();
    }
    for i in 0..keep {
        let (done, rest) = ss.split_at_mut(i);
        let si = &mut rest[0];
        for sj in done.iter() {
            let d = dot(sj, si);
            axpy(&(-d), sj, si);
        }
        let inv = S::one(c) / &norm(si);
        scale(&inv, si);
    }
    let gs: Vec<Vec<S>> = ss.iter().map(|s| g.iter().map(|row| dot(row, s)).collect()).collect();
    let mut out: Vec<Vec<S>> = vec![vec![S::zero(c); keep]; keep];
    for i in 0..keep {
        for j in i..keep {
            let v = dot(&ss[j], &gs[i]);
            out[j][i] = v.clone();
            out[i][j] = v;
        }
    }
    out
}

/// Full dense eigendecomposition of G in the working precision (restarts, fallback).
fn eig_projected<S: Scalar>(g: &[Vec<S>]) -> (Vec<S>, Vec<S>) {
    let m = g.len();
    let flat: Vec<S> = g.iter().flat_map(|r| r.iter().cloned()).collect();
    jacobi_eigen(&flat, m)
}

/// Top `need` eigenpairs (θ_r, s_r) of the small symmetric G, descending, accurate to the working
/// precision, followed by `extra` more pairs (f64 accuracy; warm subspaces only).
///
/// f64: dense Jacobi of G. MPFR: dense Jacobi of G rounded to f64 (Q, Λ), then each top pair is
/// refined by Newton-type corrections with the f64 spectral decomposition as the approximate
/// inverse ([`SmallEig::refine`]); where f64 does not resolve a pair (a cluster), the dense Jacobi
/// in the working precision is used. This replaces an O(m³)-per-sweep MPFR Jacobi at every Lanczos
/// step by O(m²) MPFR work per correction.
fn small_eig<S: Scalar>(g: &[Vec<S>], need: usize, extra: usize) -> (Vec<S>, Vec<Vec<S>>) {
    let m = g.len();
    let c = g[0][0].ctx();
    let upto = (need + extra).min(m);
    let exact = |g: &[Vec<S>]| {
        let (vals, vecs) = eig_projected(g);
        (vals[..upto].to_vec(), (0..upto).map(|r| vecs[r * m..(r + 1) * m].to_vec()).collect())
    };
    if S::bits(c) <= 53 {
        return exact(g);
    }
    let mut se = SmallEig::new(g);
    let mut vals = Vec::with_capacity(need);
    let mut vecs: Vec<Vec<S>> = Vec::with_capacity(upto);
    for r in 0..need {
        match se.refine(r, |_, _| false) {
            Refined::Pair(t, s) => {
                vals.push(t);
                vecs.push(s);
            }
            Refined::Stopped | Refined::Unresolved => return exact(g),
        }
    }
    for r in need..upto {
        vals.push(S::from_f64(se.l64[r], c));
        vecs.push(se.q64[r * m..(r + 1) * m].iter().map(|&x| S::from_f64(x, c)).collect());
    }
    (vals, vecs)
}

/// Precision steps of [`SmallEig::refine`] above [`LADDER_FROM`] bits: the corrections run at 256,
/// 512, … bits below the working precision, each only to the digits it needs.
const LADDER_STEP: u32 = 256;
/// Working precisions up to this many bits refine in the working precision alone.
const LADDER_FROM: u32 = 512;
/// A correction that gains less than this factor ends the refinement ([`SmallEig::refine`]).
const MIN_GAIN: f64 = 1.0 / 16.0;

/// What [`SmallEig::refine`] returns.
enum Refined<S> {
    /// (θ, s) with ‖Gs − θs‖ at the rounding level of Gs.
    Pair(S, Vec<S>),
    /// The caller's `stop` was true.
    Stopped,
    /// The corrections stalled (a pair f64 does not resolve).
    Unresolved,
}

/// G's f64 spectral decomposition (Λ descending, Q row by row) and G rounded to the precisions of
/// the refinement ladder, built as they are first needed.
struct SmallEig<'a, S: Scalar> {
    g: &'a [Vec<S>],
    l64: Vec<f64>,
    q64: Vec<f64>,
    /// ‖G‖_F.
    gnorm: f64,
    /// (context, G rounded to it), ascending; the last is the working precision (G itself).
    levels: Vec<Level<S>>,
}

/// A precision of the refinement ladder and G rounded to it (built when first needed).
type Level<S> = (<S as Scalar>::Ctx, Option<Vec<Vec<S>>>);

impl<'a, S: Scalar> SmallEig<'a, S> {
    fn new(g: &'a [Vec<S>]) -> Self {
        let m = g.len();
        let c = g[0][0].ctx();
        let g64: Vec<f64> = g.iter().flat_map(|r| r.iter().map(S::to_f64)).collect();
        let (l64, q64) = jacobi_eigen::<f64>(&g64, m);
        let gnorm = g64.iter().map(|x| x * x).sum::<f64>().sqrt();
        let bits = S::bits(c);
        let mut levels: Vec<Level<S>> = Vec::new();
        if bits > LADDER_FROM {
            levels.extend((1..).map(|i| i * LADDER_STEP).take_while(|&b| b < bits).map(|b| (S::ctx_with_bits(c, b), None)));
        }
        levels.push((c, None));
        SmallEig { g, l64, q64, gnorm, levels }
    }

    /// f64's distance from λ_r to the rest of G's spectrum, less f64's error in the eigenvalues
    /// (≤ 0: not resolved).
    fn gap(&self, r: usize) -> f64 {
        let m = self.g.len();
        let t = self.l64[r];
        let d = (0..m).filter(|&j| j != r).map(|j| (self.l64[j] - t).abs()).fold(f64::INFINITY, f64::min);
        d - 64.0 * m as f64 * f64::EPSILON * self.gnorm
    }

    /// Refines the pair r from its f64 approximation: e = Gs − θs with θ = sᵀGs,
    /// s ← s − Σ_{j≠r} q_j (q_j·e)/(λ_j − θ), normalised; each correction gains a factor
    /// ≈ ε₆₄‖G‖/gap (≈ 47 bits where f64 resolves the pair). Above [`LADDER_FROM`] bits the
    /// corrections start at 256 bits and move up by [`LADDER_STEP`] when ‖e‖ comes within 2^40 of
    /// the level's rounding (8m·ε_level·‖G‖_F), or right after a correction that the last one's gain
    /// predicts will get there; the last level is the working precision, where
    /// the refinement ends at ‖e‖ ≤ 8m·ε·‖G‖_F (the rounding level of Gs itself): the early
    /// corrections cost what their digits need (an MPFR multiply-add at 2,048 bits costs ≈ 10×
    /// one at 256). A correction gaining less than [`MIN_GAIN`] (or more than bits/4 + 16 of
    /// them) ends in [`Refined::Unresolved`]. `stop(s, ‖e‖)` is asked after every residual, s
    /// normalised in the current level's precision.
    fn refine(&mut self, r: usize, mut stop: impl FnMut(&[S], &S) -> bool) -> Refined<S> {
        let g = self.g;
        let m = g.len();
        let top = self.levels.len() - 1;
        let bits = S::bits(self.levels[top].0);
        let cap = (bits / 4 + 16) as usize;
        let mut lv = 0;
        let mut c = self.levels[0].0;
        let mut s: Vec<S> = self.q64[r * m..(r + 1) * m].iter().map(|&x| S::from_f64(x, c)).collect();
        let mut gs: Vec<S> = zeros(m, c);
        let mut prev: Option<Mag> = None;
        let mut steps = 0;
        let mut up = false;
        loop {
            if up {
                lv += 1;
                c = self.levels[lv].0;
                s = s.iter().map(|x| x.round_to(c)).collect();
                gs = zeros(m, c);
                prev = None;
            }
            if lv < top && self.levels[lv].1.is_none() {
                self.levels[lv].1 = Some(g.iter().map(|row| row.iter().map(|x| x.round_to(c)).collect()).collect());
            }
            let gl: &[Vec<S>] = self.levels[lv].1.as_deref().unwrap_or(g);
            // 8m·ε·‖G‖_F in the level's precision (ε a [`Mag`]: it has range at any precision),
            // 2^40 times that below the working precision.
            let room = if lv < top { Mag::pow2(40) } else { Mag::ONE };
            let target = S::from_f64(8.0 * m as f64 * self.gnorm, c) * &S::from_mag(S::eps_mag(c) * room, c);
            let ns = norm(&s);
            let inv = S::one(c) / &ns;
            scale(&inv, &mut s);
            for (gi, row) in gs.iter_mut().zip(gl) {
                gi.set_zero();
                for (a, b) in row.iter().zip(&s) {
                    gi.mul_acc(a, b);
                }
            }
            let theta = dot(&s, &gs);
            // e = Gs − θs (in place in gs); its norm compared in the working precision (an f64
            // norm would underflow below 1e-154 at high precision), its direction rounded to f64.
            axpy(&(-theta.clone()), &s, &mut gs);
            let en = norm(&gs);
            if stop(&s, &en) {
                return Refined::Stopped;
            }
            if en <= target {
                if lv == top {
                    return Refined::Pair(theta, s);
                }
                up = true;
                continue;
            }
            let en_mag = en.to_mag();
            if prev.is_some_and(|p| !(en_mag <= p * MIN_GAIN)) || steps >= cap {
                return Refined::Unresolved;
            }
            // Below the working precision, a correction expected (at the last one's gain) to reach
            // the level's target moves up right after it, without a residual at this level.
            up = lv < top && prev.is_some_and(|p| en_mag * (en_mag / p) <= target.to_mag());
            prev = Some(en_mag);
            steps += 1;
            let inv_en = S::one(c) / &en;
            let e64: Vec<f64> = gs.iter().map(|x| (x.clone() * &inv_en).to_f64()).collect();
            let t64 = theta.to_f64();
            let mut d = vec![0.0_f64; m];
            for j in 0..m {
                let den = self.l64[j] - t64;
                if j == r || den.abs() <= 1e-13 * self.gnorm {
                    continue;
                }
                let qj = &self.q64[j * m..(j + 1) * m];
                let cj = qj.iter().zip(&e64).map(|(a, b)| a * b).sum::<f64>() / den;
                for (di, qi) in d.iter_mut().zip(qj) {
                    *di -= cj * qi;
                }
            }
            for (si, di) in s.iter_mut().zip(&d) {
                si.mul_acc(&S::from_f64(*di, c), &en);
            }
        }
    }
}

/// Whether Krylov mode may decide an iteration unconverged by [`krylov_unconverged`] (always; the
/// unit tests switch it off to compare the solves bit for bit and count the decisions).
#[cfg(not(test))]
fn early_decisions() -> bool {
    true
}
#[cfg(test)]
thread_local! {
    /// The test's switch and count, per thread (the test runs `solve_in` on its own thread).
    static NO_EARLY_DECISIONS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static EARLY_DECIDED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}
#[cfg(test)]
fn early_decisions() -> bool {
    !NO_EARLY_DECISIONS.get()
}

/// Krylov mode's convergence test without the refined pairs, where it can fail: for the top `kk`
/// pairs of G (m×m) it refines each only until |s_r\[m−1\]| > 4·max(T_r, ‖e‖/gap_r), T_r = `tol`·
/// max(|λ_r|, |λ₁|, `scale_g`)/`beta` (f64 eigenvalues). By Davis–Kahan the refined vector's
/// entry then exceeds 2·T_r, so the relative Krylov residual β·|s_r\[m−1\]| fails `tol`, as the
/// fully refined pair would find: the solve goes on as it would have, with β·|s_r\[m−1\]|/… from
/// the partly refined vector as the residual it reports. None where no pair is shown unconverged
/// (the caller then refines in full, [`small_eig`]). MPFR only; the early corrections at low
/// precision ([`SmallEig::refine`]) make this a fraction of a full refinement.
fn krylov_unconverged<S: Scalar>(g: &[Vec<S>], kk: usize, tol: Mag, scale_g: f64, beta: Mag) -> Option<Mag> {
    let m = g.len();
    if S::bits(g[0][0].ctx()) <= 53 || kk == 0 {
        return None;
    }
    let mut se = SmallEig::new(g);
    let top = se.l64[0].abs();
    for r in (0..kk).rev() {
        let gap = se.gap(r);
        if !(gap > 0.0) {
            continue;
        }
        let denom = Mag::new(se.l64[r].abs().max(top).max(scale_g).max(f64::MIN_POSITIVE));
        let t = tol * denom / beta;
        let mut shown = None;
        se.refine(r, |s, en| {
            let last = s[m - 1].to_mag().abs();
            if last > 4.0 * t.max(en.to_mag() / gap) {
                shown = Some(beta * last / denom);
                return true;
            }
            false
        });
        if shown.is_some() {
            #[cfg(test)]
            EARLY_DECIDED.set(EARLY_DECIDED.get() + 1);
            return shown;
        }
    }
    None
}

/// The Ritz vectors y_r = V s_r and their images Hy_r = W s_r of the coefficient vectors `ss`, in
/// one blocked pass over V and one over W ([`lin_combs`]; the first `images_of` pairs get images).
/// The outputs are drawn from `pool`, which a restart's old V and W return to: without that, every
/// thick restart left 2·keep more buffers in the pool than it took, and a long solve held up to
/// the pool's bound (256 vectors of length p) instead of its working set.
#[allow(clippy::too_many_arguments)]
fn ritz<S: Scalar>(basis: &[Vec<S>], images: &[Vec<S>], ss: &[&[S]], images_of: usize, p: usize, c: S::Ctx, pool: &Pool<S>) -> (Vec<Vec<S>>, Vec<Vec<S>>) {
    let m = ss.first().map_or(0, |s| s.len());
    let mut ys: Vec<Vec<S>> = ss.iter().map(|_| pool.zeros(p, c)).collect();
    let mut hys: Vec<Vec<S>> = (0..images_of).map(|_| pool.zeros(p, c)).collect();
    for (xs, ss, out) in [(basis, ss, &mut ys), (images, &ss[..images_of], &mut hys)] {
        let xs: Vec<&[S]> = xs[..m].iter().map(Vec::as_slice).collect();
        lin_combs(ss, &xs, &mut out.iter_mut().map(Vec::as_mut_slice).collect::<Vec<_>>());
    }
    (ys, hys)
}

/// The residual r = Ws − θ·Vs of the Ritz pair (θ, y = Vs) in one blocked pass — per entry the
/// operations of y = Vs, Hy = Ws ([`ritz`]) and r = Hy − θy, without storing y or Hy — with
/// ‖r‖ and the dots (ys_j·r)_j accumulated on the way (each in index order, as [`norm`] and
/// [`dots`]; [`fill_and_dots`]). `y_block` is scratch of two [`PASS_BLOCK`]s (or p entries).
fn ritz_residual<S: Scalar>(
    basis: &[Vec<S>],
    images: &[Vec<S>],
    s: &[S],
    theta: &S,
    ys: &[&[S]],
    y_block: &mut [S],
    pool: &Pool<S>,
) -> (Vec<S>, S, Vec<S>) {
    let p = basis[0].len();
    let c = theta.ctx();
    let m = s.len();
    let neg_theta = -theta.clone();
    let mut r = pool.zeros(p, c);
    let mut acc = zeros::<S>(ys.len() + 1, c);
    fill_and_dots(&mut r, ys, &mut acc, y_block, 2 * m + ys.len() + 2, |lo, rb, yb| {
        simd(
            #[inline(always)]
            || {
                yb.iter_mut().for_each(S::set_zero);
                combine_in(s, &basis[..m], lo, yb);
                combine_in(s, &images[..m], lo, rb);
                axpy_in(&neg_theta, yb, rb);
            },
        )
    });
    let res_norm = acc[0].sqrt();
    acc.remove(0);
    (r, res_norm, acc)
}

/// ‖G‖_F/√m, the root mean square of G's eigenvalues: the size of the spectrum the basis has seen.
/// A Ritz residual is relative to max(|θ_r|, |θ₁|, this), so a top eigenvalue at or near 0 (a saddle,
/// a negative semidefinite Hessian) is judged against the Hessian's size instead of against itself,
/// which no residual can reach (diag(0, −1, …, −9) stalled at a relative residual 2.7). Where θ₁ is
/// the largest in magnitude, as at the edge of stability, the RMS is ≤ |θ₁| and nothing changes.
/// Scaled by the largest entry, so it does not overflow; NaN (an overflowed G) leaves the old scale.
fn spectral_scale<S: Scalar>(g: &[Vec<S>]) -> f64 {
    let big = g.iter().flatten().map(|x| x.to_f64().abs()).fold(0.0, f64::max);
    if !(big > 0.0) || !big.is_finite() {
        return if big.is_finite() { 0.0 } else { f64::NAN };
    }
    let ss: f64 = g
        .iter()
        .flatten()
        .map(|x| {
            let r = x.to_f64() / big;
            r * r
        })
        .sum();
    big * libm::sqrt(ss / g.len().max(1) as f64)
}

#[allow(clippy::too_many_arguments)]
fn finish<S: Scalar>(
    basis: &[Vec<S>],
    images: &[Vec<S>],
    (vals, vecs): (&[S], &[Vec<S>]),
    k: usize,
    p: usize,
    hvps: u64,
    opts: &EigenOpts,
    start: &[S],
    exhausted: bool,
    scale_g: f64,
    pool: &Pool<S>,
) -> Result<Eigen<S>, EvalError> {
    let c = start[0].ctx();
    let m = basis.len();
    let kk = k.min(m);
    let mut out = Eigen { values: vec![], vectors: vec![], residuals: vec![], hvps, tol: opts.tol, next_ritz: vec![], next_ritz_values: vec![] };
    let (mut ys, hys) = ritz(basis, images, &vecs.iter().map(Vec::as_slice).collect::<Vec<_>>(), kk, p, c, pool);
    out.next_ritz = ys.split_off(kk);
    out.next_ritz_values = vals[kk..].to_vec();
    for (mut y, hy) in ys.into_iter().zip(hys) {
        // Normalise (Ritz vectors are unit up to rounding) and orient: u·v₀ ≥ 0.
        let ny = norm(&y);
        let inv = S::one(c) / &ny;
        scale(&inv, &mut y);
        let mut res = hy;
        scale(&inv, &mut res);
        // The reported value is the Rayleigh quotient y·Hy of the returned unit vector (Hy from the
        // stored images), not G's eigenvalue θ: the basis is orthonormal only to rounding, so
        // θ = sᵀVᵀHVs exceeds y·Hy by θ(‖Vs‖² − 1), which was 28–30 ulps high at every point the
        // independent checks measured (examples/sharpness_bias: 64-8-10 at the seeded θ₀,
        // ‖Vs‖² − 1 = 6.2e-15, S − S₂₅₆ = +6.6e-15 before, −6e-16 after).
        let value = dot(&y, &res);
        axpy(&(-value.clone()), &y, &mut res);
        let rel = norm(&res).to_mag() / value.to_mag().abs().max(vals[0].to_mag().abs()).max(Mag::new(scale_g)).max(Mag::new(f64::MIN_POSITIVE));
        if dot(&y, start).to_f64() < 0.0 {
            y.iter_mut().for_each(|v| *v = -v.clone());
        }
        out.values.push(value);
        out.vectors.push(y);
        out.residuals.push(rel);
    }
    if exhausted {
        let worst = out.residuals.iter().cloned().fold(Mag::ZERO, Mag::max);
        if worst.is_finite() && !(worst <= opts.tol) {
            // The basis spans all p directions, so the Ritz pairs are H's eigenpairs to rounding —
            // unless the products are not those of one symmetric matrix.
            return Err(EvalError::Other(format!(
                "eigen solve did not converge: relative residual {worst:e} > tolerance {:e} although the basis spans all p = {p} directions ({hvps} Hessian-vector products), where the Ritz pairs are exact to rounding: the HVP is not a symmetric linear map of v (a wrong or asymmetric ∇²L v; `taylor_check::check_derivatives` tests it), or the tolerance is below the products' rounding",
                opts.tol
            )));
        }
        if !(worst <= opts.tol) {
            return Err(EvalError::EigenStalled { residual: worst, tol: opts.tol, hvps });
        }
    }
    Ok(out)
}

/// Past points a [`Trail`] keeps for its extrapolated start.
pub const TRAIL_POINTS: usize = 4;
/// Ritz pairs below the top that a [`Trail`] keeps from its last solve (the preconditioner).
pub const TRAIL_RITZ: usize = 8;
/// Points of its own role a role-aware [`Trail`] fits (its `role_points` when built by the tracking).
pub const TRAIL_ROLE_POINTS: usize = 4;
/// Last points of the whole sequence a role-aware [`Trail`] fits when it does not fit its role's.
pub const TRAIL_CHAIN_POINTS: usize = 6;
/// A role-aware [`Trail`] fits the last points of the sequence instead of the role's when θ is
/// nearer than this fraction of its distance to the role's last point to the sequence's last point.
const TRAIL_NEAR: f64 = 0.1;
/// Relative gap (λ₁ − λ₂)/|λ₁| of the last solve below which a [`Trail`] treats the top pair as part
/// of a cluster.
const TRAIL_CLUSTER_GAP: f64 = 0.05;

/// Warm-start memory of the top-eigenvector solves along a trajectory θ₁, θ₂, … (issue 7):
/// the last [`TRAIL_POINTS`] pairs (θ_i, u_i) and the last solve's Ritz pairs below the top.
///
/// The next solve at θ starts from the extrapolated vector u* = Σ c_i u_i, Σ c_i = 1, with c the
/// affine combination of the stored points closest to θ (least squares on the differences
/// θ_i − θ_last, ridge 1e-12·trace): to first order u is a smooth function of θ, so u* errs by
/// O(‖θ − Σ c_i θ_i‖ + ‖Δθ‖²) instead of O(‖θ − θ_last‖) — along GD it follows the drift, and at the
/// edge of stability the period-2 oscillation, at no HVP cost. The stored Ritz pairs precondition
/// the expansion ([`top_eigen_warm`]). The stopping rule is the solver's (true residual ≤ tol·|S|).
///
/// When the last solve's top pair lay in a cluster (relative gap below 5%), the last solve's second
/// Ritz vector joins the start basis, so that the first Rayleigh–Ritz step resolves a turn or a
/// crossing of the pair. Without it a crossing is missed: u* follows the old top branch, now the
/// second, and the preconditioned expansion converges to λ₂ with a residual below the tolerance
/// while λ₁ is never seen (test `trail_solve_after_a_crossing_returns_the_top_eigenvalue`;
/// theory/README.md "Eigen solver: crossings and a stale preconditioner").
///
/// A role-aware trail (`role_points` > 0: the θ† chain, whose solves cycle through the roles
/// centre, projection step 1, 2, …) tags each point with the role of its solve ([`Trail::role`],
/// set by the caller) and fits the last `role_points` points of the same role — each role follows
/// a smooth path in t, while a fit over the mixed sequence sees near-duplicate points (the
/// converging projection steps) and extrapolates poorly (tiny: start residuals 2.8e-7 and 9.7e-8
/// for the centre and the first projection step with the mixed fit, 1.5e-8 with the role's). It
/// fits the last [`TRAIL_CHAIN_POINTS`] of the sequence instead when θ is much nearer to the
/// sequence's last point than to the role's (the later projection steps, which barely move), and
/// when the last solve's top pair lay in a cluster (relative gap below 5%: u then turns within the
/// cluster, not along the role's path).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct Trail<S: Scalar> {
    /// Past points and their unit top eigenvectors, oldest first.
    pub points: Vec<(Vec<S>, Vec<S>)>,
    /// The last solve's next Ritz vectors below the top.
    pub ritz: Vec<Vec<S>>,
    /// The last solve's top Ritz value followed by the values of `ritz`.
    pub values: Vec<S>,
    /// Points kept (0: [`TRAIL_POINTS`]).
    #[serde(default)]
    pub cap: usize,
    /// Points of the same role fitted (0: roles are ignored and every point is fitted).
    #[serde(default)]
    pub role_points: usize,
    /// Role of each point (parallel to `points`; used by role-aware trails).
    #[serde(default)]
    pub roles: Vec<usize>,
    /// Role of the next solve.
    #[serde(default)]
    pub role: usize,
    /// The solves' basis and image vectors, reused from one solve to the next (scratch, not
    /// state: not saved; a clone shares it, see [`Pool`]'s `Clone`: a copy with an empty pool
    /// faulted its ≈ 2 × 20 basis and image vectors in afresh).
    #[serde(skip)]
    pub pool: Pool<S>,
}

impl<S: Scalar> Default for Trail<S> {
    fn default() -> Self {
        Trail { points: vec![], ritz: vec![], values: vec![], cap: 0, role_points: 0, roles: vec![], role: 0, pool: Pool::new() }
    }
}

impl<S: Scalar> Trail<S> {
    /// True before the first recorded solve.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Whether the last solve's top pair lay in a cluster.
    fn in_cluster(&self) -> bool {
        self.values.len() >= 2
            && self.values[0].to_f64() - self.values[1].to_f64() < TRAIL_CLUSTER_GAP * self.values[0].to_f64().abs()
    }

    /// The points the start at θ is fitted to, oldest first: every point, or for a role-aware
    /// trail the role's last `role_points` or the sequence's last [`TRAIL_CHAIN_POINTS`] (see
    /// [`Trail`]).
    fn fit_points(&self, theta: &[S]) -> Vec<&(Vec<S>, Vec<S>)> {
        if self.role_points == 0 || self.roles.len() != self.points.len() {
            return self.points.iter().collect();
        }
        let mut own: Vec<&(Vec<S>, Vec<S>)> =
            self.points.iter().zip(&self.roles).filter(|&(_, &r)| r == self.role).map(|(pt, _)| pt).collect();
        let chain = || self.points[self.points.len().saturating_sub(TRAIL_CHAIN_POINTS)..].iter().collect();
        let (Some(role_last), Some(chain_last)) = (own.last(), self.points.last()) else {
            return chain();
        };
        let dist2 = |a: &[S]| theta.iter().zip(a).map(|(x, y)| (x.to_f64() - y.to_f64()).powi(2)).sum::<f64>();
        if self.in_cluster() || dist2(&chain_last.0) < TRAIL_NEAR * TRAIL_NEAR * dist2(&role_last.0) {
            return chain();
        }
        own.drain(..own.len().saturating_sub(self.role_points));
        own
    }

    /// The extrapolated start u* at θ (None when nothing is recorded).
    pub fn start(&self, theta: &[S]) -> Option<Vec<S>> {
        let sel = self.fit_points(theta);
        let (t1, u1) = *sel.last()?;
        let older: Vec<&(Vec<S>, Vec<S>)> = sel.iter().rev().skip(1).copied().collect();
        let m = older.len();
        let mut u = u1.clone();
        if m > 0 && theta.len() == t1.len() {
            // Gram matrix of the differences d_i = θ_i − θ_last and b_i = d_i·(θ − θ_last), block
            // by block (no p-length temporaries: large transient allocations make the allocator
            // return memory to the system and the model's next buffers fault it back in).
            let c = u1[0].ctx();
            const BLOCK: usize = 256;
            // Row i: the Gram entries d_i·d_j (j ≤ i), then d_i·(θ − θ_last); each sum one chain in
            // order of the entries, continued block by block ([`dots_acc`]).
            let mut acc: Vec<Vec<S>> = (0..m).map(|i| zeros(i + 2, c)).collect();
            let mut d: Vec<S> = zeros((m + 1) * BLOCK, c);
            for lo in (0..t1.len()).step_by(BLOCK) {
                let hi = (lo + BLOCK).min(t1.len());
                let n = hi - lo;
                for (i, (t, _)) in older.iter().enumerate() {
                    for k in 0..n {
                        d[i * BLOCK + k].assign_from(&t[lo + k]);
                        d[i * BLOCK + k] -= &t1[lo + k];
                    }
                }
                for k in 0..n {
                    d[m * BLOCK + k].assign_from(&theta[lo + k]);
                    d[m * BLOCK + k] -= &t1[lo + k];
                }
                let row = |r: usize| &d[r * BLOCK..r * BLOCK + n];
                for (i, ai) in acc.iter_mut().enumerate() {
                    let ys: Vec<&[S]> = (0..=i).chain(std::iter::once(m)).map(row).collect();
                    dots_acc(ai, row(i), &ys);
                }
            }
            let mut g = vec![0.0_f64; m * m];
            for (i, ai) in acc.iter().enumerate() {
                for j in 0..=i {
                    g[i * m + j] = ai[j].to_f64();
                    g[j * m + i] = g[i * m + j];
                }
            }
            let b: Vec<f64> = acc.iter().map(|ai| ai[ai.len() - 1].to_f64()).collect();
            let tr: f64 = (0..m).map(|i| g[i * m + i]).sum();
            if tr > 0.0 && tr.is_finite() && b.iter().all(|x| x.is_finite()) {
                for i in 0..m {
                    g[i * m + i] += 1e-12 * tr;
                }
                let cf = solve_spd(&mut g, b, m);
                for (ci, (_, ui)) in cf.iter().zip(&older) {
                    let cs = S::from_f64(*ci, c);
                    axpy(&cs, ui, &mut u);
                    axpy(&(-cs), u1, &mut u);
                }
            }
        }
        let nu = norm(&u);
        if !(nu.to_f64() > 0.0) || !nu.is_finite() {
            return Some(u1.clone());
        }
        let inv = S::one(nu.ctx()) / &nu;
        scale(&inv, &mut u);
        Some(u)
    }

    /// Record a solve at θ (top pair and the next Ritz pairs, at most [`TRAIL_RITZ`]).
    pub fn record(&mut self, theta: &[S], eig: &Eigen<S>) {
        // The stored vectors' buffers are reused (oldest point recycled, Ritz vectors overwritten):
        // no long-lived allocations per solve.
        let cap = if self.cap == 0 { TRAIL_POINTS } else { self.cap };
        self.roles.resize(self.points.len(), 0);
        if self.points.len() >= cap {
            let mut old = self.points.remove(0);
            self.roles.remove(0);
            while self.points.len() >= cap {
                self.points.remove(0);
                self.roles.remove(0);
            }
            old.0.clear();
            old.0.extend_from_slice(theta);
            old.1.clone_from(&eig.vectors[0]);
            self.points.push(old);
        } else {
            self.points.push((theta.to_vec(), eig.vectors[0].clone()));
        }
        self.roles.push(self.role);
        let n = eig.next_ritz.len().min(eig.next_ritz_values.len()).min(TRAIL_RITZ);
        self.ritz.truncate(n);
        for (dst, src) in self.ritz.iter_mut().zip(&eig.next_ritz) {
            dst.clone_from(src);
        }
        let have = self.ritz.len();
        self.ritz.extend(eig.next_ritz[have..n].iter().cloned());
        self.values.clear();
        self.values.push(eig.values[0].clone());
        self.values.extend(eig.next_ritz_values[..n].iter().cloned());
    }

    /// The top eigenpair at θ: started from the extrapolated u* (or `fallback`, or the default
    /// start when the trail is empty; in a cluster also from the stored second Ritz vector, see
    /// [`Trail`]), preconditioned by the stored Ritz pairs; the solve is recorded.
    pub fn solve(&mut self, obj: &dyn Objective<S>, theta: &[S], fallback: Option<&[S]>, tol: Mag) -> Result<Eigen<S>, EvalError> {
        let c = obj.ctx();
        let opts = EigenOpts { tol, warm_ritz: TRAIL_RITZ, ..EigenOpts::top::<S>(1, c) };
        // The trail extrapolates from its stored points before the solve: θ is checked first.
        check_solve_inputs(obj.dim(), theta, &[], None, &opts)?;
        let eig = match self.start(theta) {
            Some(u) if self.values.len() == self.ritz.len() + 1 && !self.ritz.is_empty() => {
                let start = if self.in_cluster() { vec![u, self.ritz[0].clone()] } else { vec![u] };
                solve(obj, theta, &start, Some((&self.ritz, &self.values[1..])), &opts, &self.pool)?
            }
            // As [`top_eigen`] from u (or `fallback`, or the default start).
            Some(u) => solve(obj, theta, &[u], None, &opts, &self.pool)?,
            None => solve(obj, theta, &fallback.map(<[S]>::to_vec).into_iter().collect::<Vec<_>>(), None, &opts, &self.pool)?,
        };
        self.record(theta, &eig);
        Ok(eig)
    }
}

/// Solve the small SPD system G c = b (Gaussian elimination without pivoting; G is a ridged Gram
/// matrix).
fn solve_spd(g: &mut [f64], mut b: Vec<f64>, m: usize) -> Vec<f64> {
    for i in 0..m {
        for j in i + 1..m {
            let f = g[j * m + i] / g[i * m + i];
            for k in i..m {
                g[j * m + k] -= f * g[i * m + k];
            }
            b[j] -= f * b[i];
        }
    }
    let mut c = vec![0.0; m];
    for i in (0..m).rev() {
        let mut s = b[i];
        for k in i + 1..m {
            s -= g[i * m + k] * c[k];
        }
        c[i] = s / g[i * m + i];
    }
    if c.iter().all(|x| x.is_finite()) { c } else { vec![0.0; m] }
}

/// Everything the theory evaluates at one point (the authors' "Taylor centre", reference.md §4):
/// L, ∇L, S, u, ∇S = ∇³L\[u,u\], ∇S⊥, α = −∇L·∇S⊥, β = ‖∇S⊥‖², and 2α/β as the signed value
/// `delta_sq` (δ = √(2α/β) is real only when α > 0: [`Center::delta`] gives 0 otherwise, and the
/// predicted step uses 2·max(α, 0)/β).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct Center<S: Scalar> {
    /// The point.
    pub theta: Vec<S>,
    /// L(θ).
    pub loss: S,
    /// ∇L(θ).
    pub grad: Vec<S>,
    /// S(θ).
    pub sharpness: S,
    /// u(θ) (unit, oriented by the warm start).
    pub u: Vec<S>,
    /// ∇S(θ) = ∇³L\[u,u\].
    pub grad_s: Vec<S>,
    /// ∇S⊥ = ∇S − u(u·∇S).
    pub grad_s_perp: Vec<S>,
    /// α = −∇L·∇S⊥.
    pub alpha: S,
    /// β = ‖∇S⊥‖².
    pub beta: S,
    /// δ² = 2α/β (signed).
    pub delta_sq: S,
    /// Relative residual of the eigenpair.
    pub eigen_residual: Mag,
    /// HVPs spent by the eigen solve.
    pub hvps: u64,
}

impl<S: Scalar> Center<S> {
    /// δ = √(2α/β), or 0 when α ≤ 0.
    pub fn delta(&self) -> S {
        let c = self.loss.ctx();
        if self.delta_sq > S::zero(c) { self.delta_sq.sqrt() } else { S::zero(c) }
    }

    /// The centre at θ from L(θ), ∇L(θ) and the solve's top pair (S, u): ∇S = ∇³L[u,u],
    /// ∇S⊥ = ∇S − (u·∇S)u, α = −∇L·∇S⊥, β = ‖∇S⊥‖², δ² = 2α/β (reference.md §1). [`center_with`]
    /// and `stable_set::center_k` (the top pair of a k-block) share it.
    pub(crate) fn assemble(obj: &dyn Objective<S>, theta: &[S], (loss, grad): (S, Vec<S>), eig: &Eigen<S>) -> Result<Self, EvalError> {
        let c = obj.ctx();
        let u = eig.vectors[0].clone();
        let grad_s = grad_sharpness(obj, theta, &u)?;
        let mut grad_s_perp = grad_s.clone();
        let us = dot(&u, &grad_s);
        axpy(&(-us), &u, &mut grad_s_perp);
        let alpha = -dot(&grad, &grad_s_perp);
        let beta = dot(&grad_s_perp, &grad_s_perp);
        let delta_sq = S::from_i64(2, c) * &alpha / &beta;
        Ok(Center {
            theta: theta.to_vec(),
            loss,
            grad,
            sharpness: eig.values[0].clone(),
            u,
            grad_s,
            grad_s_perp,
            alpha,
            beta,
            delta_sq,
            eigen_residual: eig.residuals[0],
            hvps: eig.hvps,
        })
    }
}

/// ∇S(θ) = ∇³L(θ)\[u,u\] for the unit top eigenvector u (reference.md §1), or an error naming it
/// when the objective's `d3_sym` returns a non-finite entry (α, β and δ would be NaN).
pub fn grad_sharpness<S: Scalar>(obj: &dyn Objective<S>, theta: &[S], u: &[S]) -> Result<Vec<S>, EvalError> {
    crate::objective::check_point(obj, "θ", theta)?;
    crate::objective::check_point(obj, "u", u)?;
    let mut grad_s = zeros::<S>(obj.dim(), obj.ctx());
    obj.d3_sym(theta, u, &mut grad_s)?;
    if !crate::linalg::all_finite(&grad_s) {
        return Err(EvalError::NonFinite { what: "∇S = ∇³L[u,u] (the objective's d3_sym)", at: String::new() });
    }
    Ok(grad_s)
}

/// Evaluate the centre at θ with the eigen solve warm-started at `u_ref`.
pub fn center<S: Scalar>(
    obj: &dyn Objective<S>,
    theta: &[S],
    u_ref: Option<&[S]>,
    tol: Mag,
) -> Result<Center<S>, EvalError> {
    center_with(obj, theta, u_ref, None, tol)
}

/// [`center`] with the eigen solve taken from a [`Trail`] when one is given (`u_ref` then only
/// starts an empty trail).
pub fn center_with<S: Scalar>(
    obj: &dyn Objective<S>,
    theta: &[S],
    u_ref: Option<&[S]>,
    trail: Option<&mut Trail<S>>,
    tol: Mag,
) -> Result<Center<S>, EvalError> {
    let p = obj.dim();
    let c = obj.ctx();
    crate::objective::check_point(obj, "θ", theta)?;
    let mut grad = zeros::<S>(p, c);
    let loss = obj.grad(theta, &mut grad)?;
    if !loss.is_finite() || !crate::linalg::all_finite(&grad) {
        return Err(EvalError::NonFinite { what: "loss or gradient", at: String::new() });
    }
    let eig = match trail {
        Some(tr) => tr.solve(obj, theta, u_ref, tol)?,
        None => {
            let opts = EigenOpts { tol, ..EigenOpts::top::<S>(1, c) };
            top_eigen(obj, theta, u_ref, &opts)?
        }
    };
    Center::assemble(obj, theta, (loss, grad), &eig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rug::Float;

    /// Symmetric m×m test matrix with eigenvalues `lam` (descending) in a fixed rotated basis:
    /// G = Σ λ_i q_i q_iᵀ with q_i from Householder reflections of deterministic vectors, formed in
    /// the working precision.
    fn test_matrix(lam: &[f64], bits: u32) -> Vec<Vec<Float>> {
        let m = lam.len();
        // Q = I − 2wwᵀ/‖w‖² (orthogonal, exact up to rounding of the working precision).
        let w: Vec<Float> = (0..m).map(|i| Float::with_val(bits, 1.0 + ((i * 7 + 3) % 11) as f64 / 7.0)).collect();
        let ww = dot(&w, &w);
        let q = |i: usize, j: usize| {
            let d = if i == j { Float::with_val(bits, 1) } else { Float::with_val(bits, 0) };
            d - Float::with_val(bits, 2) * &w[i] * &w[j] / &ww
        };
        (0..m)
            .map(|a| {
                (0..m)
                    .map(|b| {
                        let mut s = Float::with_val(bits, 0);
                        for (i, &l) in lam.iter().enumerate() {
                            s += Float::with_val(bits, l) * q(a, i) * q(b, i);
                        }
                        s
                    })
                    .collect()
            })
            .collect()
    }

    /// ‖Gs − θs‖ / ‖G‖_F in f64.
    fn rel_residual(g: &[Vec<Float>], th: &Float, s: &[Float]) -> f64 {
        let bits = th.prec();
        let mut r2 = Float::with_val(bits, 0);
        let mut gf = Float::with_val(bits, 0);
        for (row, si) in g.iter().zip(s) {
            let mut e = dot(row, s);
            e -= th.clone() * si;
            r2 += e.clone() * &e;
            gf += dot(row, row);
        }
        (r2 / gf).sqrt().to_f64()
    }

    /// L(θ) = ½ Σ λ_i θ_i² on p = 120 coordinates: ∇²L = diag(λ), λ_i = 10 − 9·(i/p)^½ (a top
    /// group 10, 9.18, 8.84, … thinning into the bulk).
    struct Diag<S: Scalar> {
        lam: Vec<S>,
        c: S::Ctx,
    }

    impl<S: Scalar> Diag<S> {
        fn new(c: S::Ctx) -> Self {
            let p: i64 = 120;
            Diag { lam: (0..p).map(|i| S::from_i64(10, c) - &(S::from_i64(9, c) * &(S::from_i64(i, c) / &S::from_i64(p, c)).sqrt())).collect(), c }
        }
    }

    impl<S: Scalar> Objective<S> for Diag<S> {
        fn dim(&self) -> usize {
            self.lam.len()
        }
        fn ctx(&self) -> S::Ctx {
            self.c
        }
        fn describe(&self) -> String {
            "diagonal quadratic".into()
        }
        fn value(&self, th: &[S]) -> Result<S, EvalError> {
            let mut out = zeros(th.len(), self.c);
            self.grad(th, &mut out)
        }
        fn grad(&self, th: &[S], g: &mut [S]) -> Result<S, EvalError> {
            self.hvp(th, th, g)?;
            Ok(dot(th, g) / &S::from_i64(2, self.c))
        }
        fn hvp(&self, _th: &[S], v: &[S], out: &mut [S]) -> Result<(), EvalError> {
            for ((o, l), x) in out.iter_mut().zip(&self.lam).zip(v) {
                *o = l.clone() * x;
            }
            Ok(())
        }
        fn d3(&self, _th: &[S], _v: &[S], _w: &[S], out: &mut [S]) -> Result<(), EvalError> {
            out.iter_mut().for_each(S::set_zero);
            Ok(())
        }
        fn d4(&self, _th: &[S], _v: &[S], out: &mut [S]) -> Result<(), EvalError> {
            out.iter_mut().for_each(S::set_zero);
            Ok(())
        }
    }

    /// Deterministic pseudo-random entries in [−½, ½) (the solver's [`fresh_entry`]).
    fn noise(p: usize, seed: u64) -> Vec<f64> {
        (0..p).map(|i| fresh_entry(i, seed)).collect()
    }

    /// A clone of a trail shares its scratch pool (a copy with an empty pool faulted its basis and
    /// image vectors in afresh at every two-thread tracking step; benches/RESULTS.md, Session 19),
    /// while a new `Pool` is empty; a solve on a clone gives the bits of a solve on a copy with a
    /// new pool.
    #[test]
    fn trail_clone_shares_its_scratch_pool_and_solves_the_same_bits() {
        let obj = Diag::<f64>::new(());
        let theta = vec![0.0; obj.lam.len()];
        let mut trail = Trail::<f64>::default();
        trail.solve(&obj, &theta, None, Mag::new(1e-10)).unwrap();
        let mut shared = trail.clone();
        let buf = vec![0.0; 4096];
        let at = buf.as_ptr();
        trail.pool.give(buf);
        let got = shared.pool.take(4096, ());
        assert_eq!(got.as_ptr(), at, "a buffer given to the trail's pool is taken through its clone's");
        shared.pool.give(got);
        let other = Pool::<f64>::new().take(4096, ());
        assert_ne!(other.as_ptr(), at, "a new Pool starts empty");
        let mut fresh = trail.clone();
        fresh.pool = Pool::new();
        let (a, b) = (shared.solve(&obj, &theta, None, Mag::new(1e-10)).unwrap(), fresh.solve(&obj, &theta, None, Mag::new(1e-10)).unwrap());
        assert_eq!(a.values[0].to_bits(), b.values[0].to_bits());
        assert!(a.vectors[0].iter().zip(&b.vectors[0]).all(|(x, y)| x.to_bits() == y.to_bits()));
        assert_eq!(a.hvps, b.hvps);
    }

    /// A trail solve right after the top pair crossed: ∇²L = diag(λ) with λ₁ = 8.5816, λ₂ = 8.5079
    /// (the medium θ† chain's pair of `theory/README.md` "Eigen solver: crossings and a stale
    /// preconditioner"), the trail's last u the old top branch (≈ e₂ + 3e-3·e₁ + 1e-2 bulk), its
    /// stored second Ritz vector the old second branch (≈ e₁) with stale values 8.64 / 8.622. The
    /// solve must return λ₁: by Bauer–Fike |S − λ| ≤ tol·|S| for some eigenvalue λ, and every
    /// tolerance here is far below the gap (λ₁ − λ₂)/λ₁ ≈ 0.9 %. Before the cluster start applied to
    /// every trail, a trail without roles (GD's) returned λ₂ at all three tolerances (14 HVPs at
    /// 1e-10, residual 3.8e-11).
    #[test]
    fn trail_solve_after_a_crossing_returns_the_top_eigenvalue() {
        let p = 200;
        let mut lam = vec![8.5816, 8.5079, 6.99, 6.75, 6.6, 6.5, 5.96, 5.55, 5.09];
        while lam.len() < p {
            let i = lam.len() - 9;
            lam.push(5.0 - 6.0 * (i as f64 / (p - 9) as f64).sqrt());
        }
        let obj = Diag { lam: lam.clone(), c: () };
        let theta = vec![0.0; p];
        // The old top branch: e₂ with a little of e₁ and of the bulk.
        let mut u_old = noise(p, 1);
        (u_old[0], u_old[1]) = (0.0, 0.0);
        scale(&(0.01 / norm(&u_old)), &mut u_old);
        (u_old[0], u_old[1]) = (3e-3, 1.0);
        scale(&(1.0 / norm(&u_old)), &mut u_old);
        // The stored Ritz vectors below the old top: ≈ e₁ (+ 0.05·e₂), then ≈ e₃ … e₉, orthonormal.
        let mut ritz: Vec<Vec<f64>> = vec![];
        for j in 0..TRAIL_RITZ {
            let mut y = noise(p, 10 + j as u64);
            scale(&(0.005 / norm(&y)), &mut y);
            if j == 0 {
                y[0] += 1.0;
                y[1] += 0.05;
            } else {
                y[j + 1] += 1.0;
            }
            for q in &ritz {
                let d = dot(q, &y);
                axpy(&(-d), q, &mut y);
            }
            scale(&(1.0 / norm(&y)), &mut y);
            ritz.push(y);
        }
        let values = vec![8.64, 8.622, 7.02, 6.78, 6.60, 6.51, 5.96, 5.55, 5.09];
        for tol in [1e-7, 1e-9, 1e-10] {
            let mut trail = Trail { points: vec![(theta.clone(), u_old.clone())], ritz: ritz.clone(), values: values.clone(), ..Trail::default() };
            let e = trail.solve(&obj, &theta, None, Mag::new(tol)).unwrap();
            assert!(e.residuals[0] <= tol, "tol {tol}: residual {:e}", e.residuals[0]);
            assert!((e.values[0] - lam[0]).abs() <= tol * e.values[0], "tol {tol}: S = {} after {} HVPs, λ₁ = {}", e.values[0], e.hvps, lam[0]);
        }
    }

    /// The Krylov mode (a single start vector: implicit residuals β|s[last]|, checked once by the
    /// true residual) returns the top k eigenpairs to the tolerance, also across thick restarts
    /// (max_basis 12) and at 256 bits (tol 2^-240): reported residuals ≤ tol, eigenvalues within
    /// the residual bound of λ, and the same pairs as the explicit mode (two start vectors).
    fn krylov_mode_generic<S: Scalar>(c: S::Ctx) {
        let obj = Diag::<S>::new(c);
        let th: Vec<S> = zeros(obj.dim(), c);
        let v0 = default_start::<S>(obj.dim(), c);
        for (k, max_basis) in [(1, 40), (2, 40), (1, 12), (3, 12)] {
            let opts = EigenOpts { max_basis, ..EigenOpts::top::<S>(k, c) };
            let e = top_eigen(&obj, &th, Some(&v0), &opts).unwrap();
            let two = vec![v0.clone(), obj.lam.iter().map(|l| l.clone() * l).collect()];
            let x = top_eigen_subspace(&obj, &th, &two, &opts).unwrap();
            eprintln!("k {k}, max_basis {max_basis}: {} HVPs (explicit mode: {}), residuals {:?}", e.hvps, x.hvps, e.residuals);
            for r in 0..k {
                assert!(e.residuals[r] <= opts.tol, "k {k}, max_basis {max_basis}: residual {:e}", e.residuals[r]);
                let err = (e.values[r].clone() - &obj.lam[r]).abs().to_mag() / 10.0;
                let err_x = (e.values[r].clone() - &x.values[r]).abs().to_mag() / 10.0;
                assert!(err <= opts.tol && err_x <= opts.tol, "k {k}, max_basis {max_basis}: pair {r} off by {err:e} (explicit {err_x:e})");
            }
        }
    }

    /// A solve that reaches an invariant subspace again and again continues each time from a new,
    /// independent deterministic vector. The fresh vectors of seeds 1..=6 are pairwise near
    /// orthogonal (|cos| ≤ 4/√p, four standard deviations of independent entries); before, a
    /// multiplicative hash whose multiplier changed in its low bits gave vectors equal to within
    /// 2^-52, so the second one was rounding noise once orthogonalised. H = diag with λ = 3 eight
    /// times and 1 elsewhere (p = 200): the Krylov space of any start is two dimensional, so the
    /// explicit mode (two start vectors) breaks down twice before it has k = 7 pairs. A solve cannot
    /// see how often an eigenvalue repeats: it returns exact, orthonormal eigenpairs with one copy of
    /// 3 per start (3, 3, 3, 3, 1, 1, 1), and [`complete_repeated`] then finds the other three.
    #[test]
    fn a_solve_that_breaks_down_repeatedly_continues_from_independent_vectors() {
        let p = 200;
        for a in 1..=6u64 {
            for b in a + 1..=6 {
                let (x, y) = (noise(p, a), noise(p, b));
                let cos = dot(&x, &y) / (norm(&x) * norm(&y));
                assert!(cos.abs() <= 4.0 / (p as f64).sqrt(), "fresh vectors {a} and {b}: cos {cos:e}");
            }
        }
        let mut lam = vec![1.0; p];
        for i in [3, 20, 50, 77, 99, 150, 170, 190] {
            lam[i] = 3.0;
        }
        let obj = Diag { lam, c: () };
        let th = vec![0.0; p];
        let opts = EigenOpts::top::<f64>(7, ());
        // Eigenpairs to the tolerance (residual relative to λ₁ = 3), orthonormal to rounding: the
        // basis is orthogonalised twice (Kahan–Parlett), so its loss of orthogonality is a few m·ε
        // (m ≤ 10 vectors here) and the Ritz vectors inherit it; bound 64ε (measured ≤ 5.1e-16).
        let check = |e: &Eigen<f64>, want: &[f64]| {
            for (r, &l) in want.iter().enumerate() {
                let mut hy = vec![0.0; p];
                obj.hvp(&th, &e.vectors[r], &mut hy).unwrap();
                axpy(&-e.values[r], &e.vectors[r], &mut hy);
                let res = norm(&hy) / 3.0;
                assert!((e.values[r] - l).abs() <= 3.0 * opts.tol && res <= opts.tol, "pair {r}: {} (residual {res:e}); values {:?}", e.values[r], e.values);
                for q in 0..=r {
                    let d = dot(&e.vectors[r], &e.vectors[q]) - if q == r { 1.0 } else { 0.0 };
                    assert!(d.abs() <= 64.0 * f64::EPSILON, "pairs {q} and {r} not orthonormal: {d:e}");
                }
            }
        };
        let starts = vec![default_start::<f64>(p, ()), noise(p, 77)];
        let e = top_eigen_subspace(&obj, &th, &starts, &opts).unwrap();
        check(&e, &[3.0, 3.0, 3.0, 3.0, 1.0, 1.0, 1.0]);
        let e = complete_repeated(&obj, &th, e, &opts).unwrap();
        check(&e, &[3.0; 7]);
    }

    /// A solve's buffer pool keeps no more than the solve's working set, however many thick
    /// restarts it makes: 2·max_basis basis and image vectors, the 2·keep Ritz vectors of a restart
    /// and the next direction. Before the restart's Ritz vectors and the Krylov mode's Lanczos
    /// vectors were drawn from the pool, each restart cycle left 2·keep (explicit mode) or
    /// max_basis − keep (Krylov mode) more buffers in it, up to its bound of 256: a long MPFR solve
    /// held 333 vectors of length p at 217 HVPs (88 MB against 256 MB for p = 9,610 at 256 bits).
    #[test]
    fn a_long_solve_keeps_only_its_working_set_in_its_pool() {
        let obj = Diag::<f64>::new(());
        let th = vec![0.0; obj.dim()];
        let v0 = default_start::<f64>(obj.dim(), ());
        let two = vec![v0.clone(), obj.lam.iter().map(|l| l * l).collect()];
        for (warm, mode) in [(vec![v0.clone()], "Krylov"), (two, "explicit")] {
            let (k, max_basis) = (1, 6);
            let opts = EigenOpts { max_basis, tol: Mag::new(1e-12), ..EigenOpts::top::<f64>(k, ()) };
            let pool = Pool::new();
            let mut restarts = 0;
            for _ in 0..5 {
                let e = solve(&obj, &th, &warm, None, &opts, &pool).unwrap();
                restarts += e.hvps as usize / max_basis;
            }
            let keep = (k + 8).min(max_basis - 1);
            let bound = 2 * max_basis + 2 * keep + 1;
            assert!(restarts >= 10, "{mode}: only {restarts} restarts");
            assert!(pool.free_count() <= bound, "{mode}: {} free buffers after {restarts} restarts (bound {bound})", pool.free_count());
        }
    }

    #[test]
    fn krylov_mode_finds_the_top_pairs_across_restarts_f64() {
        krylov_mode_generic::<f64>(());
    }

    #[test]
    fn krylov_mode_finds_the_top_pairs_across_restarts_mpfr256() {
        krylov_mode_generic::<Float>(256);
    }

    #[test]
    fn small_eig_refined_top_pairs_are_accurate_to_working_precision_mpfr256() {
        // Distinct spectrum with a gap of 1e-6 relative between λ₁ and λ₂: the f64 start has
        // error ≈ 1e-10 and the refinement must reach the rounding level 8m·2^-255 ≈ 1.2e-75.
        let lam = [9.0, 9.0 - 9e-6, 4.0, 2.5, 1.0, 0.5, 0.0, -0.5, -1.0, -3.0];
        let g = test_matrix(&lam, 256);
        let (vals, vecs) = small_eig(&g, 2, 2);
        assert_eq!((vals.len(), vecs.len()), (4, 4));
        let tol = 8.0 * lam.len() as f64 * libm::ldexp(1.0, -255);
        for r in 0..2 {
            let res = rel_residual(&g, &vals[r], &vecs[r]);
            let dl = (vals[r].clone() - Float::with_val(256, lam[r])).to_f64().abs() / 9.0;
            eprintln!("pair {r}: ‖Gs−θs‖/‖G‖ = {res:.2e}, |θ−λ|/λ₁ = {dl:.2e}");
            assert!(res <= tol, "pair {r}: residual {res:e} > {tol:e}");
            // Eigenvalue error ≤ residual²/gap-level; bounded here by the same rounding level.
            assert!(dl <= tol, "pair {r}: eigenvalue error {dl:e}");
        }
    }

    #[test]
    fn small_eig_refined_at_increasing_precision_is_accurate_to_working_precision_mpfr1024_mpfr2048() {
        // The top of a projected matrix a 1024-bit cold solve restarted from (gaps to 1.6e-3·‖G‖
        // between the kept pairs; before the ladder and the gain rule, two such restarts fell back
        // to the working-precision Jacobi), padded with a bulk: all nine kept pairs must reach the
        // rounding level 8m·2^(1 − bits) through the 256-bit steps of the ladder.
        let lam = [
            14.677556420694907, 12.984019056150778, 10.30590938586382, 9.957646968076329, 9.839711628963702, 9.195522267107823,
            8.26610304056207, 7.0432662667897326, 6.987124077271167, 6.64339716634389, 6.085880861302109, 5.433686134562394, 3.0, 1.5, 0.7,
            0.2, 0.0, -0.1, -0.4, -1.0,
        ];
        for bits in [1024, 2048] {
            let g = test_matrix(&lam, bits);
            // Refined, not handed to the working-precision Jacobi (which would be as accurate):
            // every kept pair converges under the gain rule (under the former 24 corrections per
            // 1,024 bits in the working precision alone, pair 7 stalled at 2048 bits).
            let mut se = SmallEig::new(&g);
            for r in 0..9 {
                assert!(matches!(se.refine(r, |_, _| false), Refined::Pair(..)), "{bits} bits, pair {r}: the refinement stalled");
            }
            let (vals, vecs) = small_eig(&g, 9, 0);
            let tol = 8.0 * lam.len() as f64 * libm::ldexp(1.0, 1 - bits as i32);
            for r in 0..9 {
                let res = rel_residual(&g, &vals[r], &vecs[r]);
                let dl = (vals[r].clone() - Float::with_val(bits, lam[r])).to_f64().abs() / lam[0];
                assert!(res <= tol, "{bits} bits, pair {r}: residual {res:e} > {tol:e}");
                // The eigenvalue: the test matrix's own rounding (its entries are sums of 20
                // rounded products) is ≈ 20·2^-bits relative, within tol.
                assert!(dl <= tol, "{bits} bits, pair {r}: eigenvalue error {dl:e} > {tol:e}");
            }
        }
    }

    /// A tridiagonal (Lanczos-like) m×m matrix whose top eigenvectors decay along the diagonal:
    /// α_i = 10 − 9·(i/m)^½ + (i mod 3)/10, β_i = 1 + (i mod 5)/4, at `bits`.
    fn lanczos_like(m: usize, bits: u32) -> Vec<Vec<Float>> {
        let mut g = vec![vec![Float::with_val(bits, 0); m]; m];
        for i in 0..m {
            g[i][i] = Float::with_val(bits, 10.0 - 9.0 * (i as f64 / m as f64).sqrt() + (i % 3) as f64 / 10.0);
            if i + 1 < m {
                let b = Float::with_val(bits, 1.0 + (i % 5) as f64 / 4.0);
                g[i][i + 1] = b.clone();
                g[i + 1][i] = b;
            }
        }
        g
    }

    #[test]
    fn krylov_unconverged_shows_an_iteration_unconverged_only_where_the_refined_pairs_fail_the_tolerance() {
        // Krylov mode skips the full refinement when krylov_unconverged shows a pair's relative
        // residual β·|s_r[m−1]|/max(|θ_r|, |θ₁|, scale) above tol: the fully refined pairs must then
        // fail the tolerance too (the solve's decision is the same), and the residual it reports
        // must be within a factor 2 below the refined one. Where the refined residual is 8·tol or
        // more (and |s_r[m−1]| above the rounding level), it must show it (the saving).
        for bits in [256, 1024, 2048] {
            for (m, kk) in [(8, 1), (20, 1), (36, 1), (36, 3)] {
                let g = lanczos_like(m, bits);
                let scale_g = spectral_scale(&g);
                let beta = Mag::new(1.3);
                let (vals, vecs) = small_eig(&g, kk, 0);
                let rel = |r: usize| beta * vecs[r][m - 1].to_mag().abs() / vals[r].to_mag().abs().max(vals[0].to_mag().abs()).max(Mag::new(scale_g));
                let worst = (0..kk).map(rel).fold(Mag::ZERO, Mag::max);
                let floor = Mag::pow2(64 - bits as i64);
                let mut shown_count = 0;
                for j in (0..bits as i64).step_by(7) {
                    let tol = Mag::pow2(-j);
                    let shown = krylov_unconverged(&g, kk, tol, scale_g, beta);
                    if let Some(w) = shown {
                        shown_count += 1;
                        assert!(worst > tol, "{bits} bits, m {m}, kk {kk}, tol 2^-{j}: shown unconverged ({w:e}) but the refined residual {worst:e} passes");
                        assert!(w <= worst * 1.0000001 && w >= worst / 2.0, "{bits} bits, m {m}, kk {kk}: reported {w:e} against {worst:e}");
                    } else {
                        let clear = (0..kk).any(|r| rel(r) >= tol * 8.0 && vecs[r][m - 1].to_mag().abs() > floor);
                        assert!(!clear, "{bits} bits, m {m}, kk {kk}, tol 2^-{j}: refined residual {worst:e} ≥ 8·tol not shown");
                    }
                }
                eprintln!("{bits} bits, m {m}, kk {kk}: worst {worst:e}, shown at {shown_count} tolerances");
                assert!(shown_count > 0);
            }
        }
    }

    /// The early decisions of Krylov mode leave every solve as it was: at 256 bits (k = 1, 2, with
    /// and without thick restarts) and 1,024 bits (the refinement ladder, restarts), the pairs,
    /// residuals, warm vectors and HVP counts are the same bits with [`krylov_unconverged`] on and
    /// off, and it decided at least half the iterations.
    #[test]
    fn krylov_mode_early_decisions_leave_the_solve_bit_for_bit_mpfr() {
        for (bits, k, max_basis) in [(256u32, 1, 40), (256, 2, 12), (1024, 1, 12)] {
            let obj = Diag::<Float>::new(bits);
            let th: Vec<Float> = zeros(obj.dim(), bits);
            {
                let opts = EigenOpts { max_basis, ..EigenOpts::top::<Float>(k, bits) };
                // On this thread (`solve` may move to rayon's pool), where the switch and the count are.
                let solve = |early: bool| {
                    NO_EARLY_DECISIONS.set(!early);
                    let before = EARLY_DECIDED.get();
                    let pool = Pool::new();
                    let (mut basis, mut images) = (Vec::new(), Vec::new());
                    let e = solve_in(&obj, &th, &[], None, &opts, &pool, &mut basis, &mut images).unwrap();
                    NO_EARLY_DECISIONS.set(false);
                    (e, EARLY_DECIDED.get() - before)
                };
                let (on, decided) = solve(true);
                let (off, none) = solve(false);
                eprintln!("{bits} bits, k {k}, max_basis {max_basis}: {} HVPs, {decided} iterations decided early", on.hvps);
                assert_eq!(none, 0);
                assert!(decided * 2 >= on.hvps, "{decided} of {} iterations decided early", on.hvps);
                assert_eq!(on.hvps, off.hvps);
                assert_eq!(on.values, off.values);
                assert_eq!(on.vectors, off.vectors);
                assert_eq!(on.residuals, off.residuals);
                assert_eq!(on.next_ritz, off.next_ritz);
                assert_eq!(on.next_ritz_values, off.next_ritz_values);
            }
        }
    }

    #[test]
    fn small_eig_falls_back_to_working_precision_jacobi_on_an_f64_unresolved_cluster_mpfr256() {
        // λ₁ − λ₂ = 1e-30: equal in f64, distinct at 256 bits; the f64-preconditioned refinement
        // cannot separate them and the dense Jacobi in the working precision must give the pairs
        // (each to the rounding level, eigenvalues in order).
        let bits = 256;
        let lam: Vec<Float> = vec![
            Float::with_val(bits, 7),
            Float::with_val(bits, 7) - Float::with_val(bits, Float::parse("1e-30").unwrap()),
            Float::with_val(bits, 1),
            Float::with_val(bits, -2),
        ];
        let m = lam.len();
        let w: Vec<Float> = (0..m).map(|i| Float::with_val(bits, 1 + i as i32)).collect();
        let ww = dot(&w, &w);
        let q = |i: usize, j: usize| {
            let d = if i == j { Float::with_val(bits, 1) } else { Float::with_val(bits, 0) };
            d - Float::with_val(bits, 2) * &w[i] * &w[j] / &ww
        };
        let g: Vec<Vec<Float>> = (0..m)
            .map(|a| {
                (0..m)
                    .map(|b| {
                        let mut s = Float::with_val(bits, 0);
                        for (i, l) in lam.iter().enumerate() {
                            s += l.clone() * q(a, i) * q(b, i);
                        }
                        s
                    })
                    .collect()
            })
            .collect();
        let (vals, vecs) = small_eig(&g, 2, 0);
        let tol = 8.0 * m as f64 * libm::ldexp(1.0, -255);
        for r in 0..2 {
            let res = rel_residual(&g, &vals[r], &vecs[r]);
            assert!(res <= tol, "pair {r}: residual {res:e} > {tol:e}");
        }
        let split = (vals[0].clone() - &vals[1]).to_f64();
        // Each eigenvalue is exact to ≈ 8m·2^-255·‖G‖ ≈ 1e-74: the split is 1e-30 to far better than 1e-70.
        assert!((split - 1e-30).abs() <= 1e-70, "cluster split {split:e}, expected 1e-30");
    }

    /// Kahan–Parlett's "twice is enough" in [`orthogonalise`]: a vector 10⁻¹⁰ (relative) from the
    /// span of an orthonormal basis comes out orthogonal to it to working precision,
    /// |v_i·q| ≤ 64·p·eps·‖q‖. One classical pass leaves ≈ eps·‖q₀‖ there, 10¹⁰·eps·‖q‖ (mutation
    /// audit round 2: dropping the second pass passed every other test).
    fn orthogonalise_reaches_working_precision<S: Scalar>(c: S::Ctx) {
        let (p, k) = (50usize, 5usize);
        // Columns of the Householder reflection Q = I − 2wwᵀ/‖w‖²: orthonormal to working precision.
        let w: Vec<S> = (0..p).map(|i| S::from_f64(1.0 + ((i * 7 + 3) % 11) as f64 / 7.0, c)).collect();
        let ww = dot(&w, &w);
        let col = |j: usize| -> Vec<S> {
            (0..p)
                .map(|i| {
                    let d = S::from_i64(i64::from(i == j), c);
                    d - &(S::from_i64(2, c) * &w[i] * &w[j] / &ww)
                })
                .collect()
        };
        let basis: Vec<Vec<S>> = (0..k).map(col).collect();
        let mut q = col(10);
        q.iter_mut().for_each(|x| *x = x.clone() * &S::from_f64(1e-10, c));
        for (j, v) in basis.iter().enumerate() {
            axpy(&S::from_f64(0.3 + j as f64, c), v, &mut q);
        }
        let (n0, n) = orthogonalise(&basis, &mut q, None);
        let (n0, n) = (n0.to_f64(), n.to_f64());
        assert!((n / 1e-10 - 1.0).abs() < 1e-4 && n0 > 1.0, "‖q₀‖ = {n0:e}, ‖q‖ = {n:e}");
        let bound = 64.0 * p as f64 * S::eps(c) * n;
        for (j, v) in basis.iter().enumerate() {
            let r = dot(v, &q).to_f64().abs();
            assert!(r <= bound, "|v_{j}·q| = {r:e} > 64·p·eps·‖q‖ = {bound:e}");
        }
    }

    #[test]
    fn orthogonalise_reaches_working_precision_f64_and_mpfr256() {
        orthogonalise_reaches_working_precision::<f64>(());
        orthogonalise_reaches_working_precision::<Float>(256);
    }
}
