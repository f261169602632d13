//! The semidefinite complementarity problem of the central flow (reference.md §9.1, "SDCP as
//! implemented"; theory/README.md "Central flow"):
//! $$X\succeq0,\quad Z:=\hat A+\hat{\mathcal B}\[X\]\succeq0,\quad\langle X,Z\rangle=0,$$
//! with $\hat{\mathcal B}\[X\]_{ij}=\sum_{kl}X_{kl}\,\langle g_{ij},g_{kl}\rangle$ a Gram operator (PSD on symmetric
//! matrices), i.e. the KKT conditions of the convex QP $\min_{X\succeq0}\tfrac12\langle X,\hat{\mathcal B}\[X\]\rangle+\langle\hat A,X\rangle$.
//!
//! Symmetric m×m matrices are handled as svec vectors (off-diagonal entries scaled by √2, so
//! ⟨X,Y⟩_F = svec X · svec Y); the operator is then the n×n matrix G (n = m(m+1)/2).
//! Solver (our own, documented in theory/README.md): semismooth Newton on the natural map
//! F(x) = x − Π(x − τ(Gx + â)), τ = 1/λ_max(G), Π the PSD projection (eigendecomposition by
//! [`jacobi_eigen`]), with the generalized Jacobian of Π (Ω_ij = 1 for two positive eigenvalues,
//! 0 for two non-positive ones, λ⁺/(λ⁺ − λ⁻) across); a Newton step is taken when it reduces ‖F‖ by
//! a fraction (backtracking: full step, then halvings, Armijo test on ‖F‖), otherwise a projected-gradient step x ← Π(x − τ(Gx + â)) (a descent step of the QP).
//! The returned X = Π(·) is PSD by construction; every solve reports its residuals and a solve that
//! misses the tolerance is an error.

use crate::error::EvalError;
use crate::linalg::jacobi_eigen;
use crate::mag::Mag;
use crate::scalar::Scalar;

/// A solved SDCP.
#[derive(Clone, Debug)]
pub struct Solution<S: Scalar> {
    /// X (m×m, row-major, symmetric PSD).
    pub x: Vec<S>,
    /// Z = Â + B̂\[X\] (m×m).
    pub z: Vec<S>,
    /// Eigenvalues of X, descending (the predicted variances along its eigenvectors).
    pub x_eigs: Vec<f64>,
    /// Residuals of the optimality conditions.
    pub res: Residuals,
    /// Newton + gradient iterations used.
    pub iters: usize,
}

/// Residuals of a solve, made dimensionless with a = ‖Â‖_F and b = λ_max(G):
/// `psd_x` = b·max(0, −λ_min X)/a, `psd_z` = max(0, −λ_min Z)/a, `compl` = b·|⟨X,Z⟩|/a².
/// [`Mag`]s, so they compare with the default 2^(40 − bits) at any precision.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct Residuals {
    /// Relative PSD violation of X.
    pub psd_x: Mag,
    /// Relative PSD violation of Z = Â + B̂\[X\].
    pub psd_z: Mag,
    /// Relative complementarity |⟨X, Z⟩|.
    pub compl: Mag,
}

impl Default for Residuals {
    fn default() -> Self {
        Residuals { psd_x: Mag::ZERO, psd_z: Mag::ZERO, compl: Mag::ZERO }
    }
}

impl Residuals {
    /// The largest of the three.
    pub fn max(&self) -> Mag {
        self.psd_x.max(self.psd_z).max(self.compl)
    }
}

/// Default tolerance of a precision: 1e-10 in f64, 2^(40 − bits) in MPFR.
pub fn default_tol<S: Scalar>(c: S::Ctx) -> Mag {
    if S::precision_name(c) == "f64" { Mag::new(1e-10) } else { Mag::pow2(40 - S::bits(c) as i64) }
}

/// svec index of (i, j), i ≤ j, in an m×m matrix (row-major upper triangle).
/// Panics if i or j is not below m (an index into an m×m matrix).
pub fn svec_index(m: usize, i: usize, j: usize) -> usize {
    assert!(i < m && j < m, "svec_index: ({i}, {j}) is outside a {m}×{m} matrix");
    let (i, j) = if i <= j { (i, j) } else { (j, i) };
    i * m - i * (i + 1) / 2 + j
}

fn svec<S: Scalar>(a: &[S], m: usize, r2: &S) -> Vec<S> {
    let mut v = Vec::with_capacity(m * (m + 1) / 2);
    for i in 0..m {
        for j in i..m {
            v.push(if i == j { a[i * m + j].clone() } else { a[i * m + j].clone() * r2 });
        }
    }
    v
}

fn smat<S: Scalar>(v: &[S], m: usize, r2: &S) -> Vec<S> {
    let c = v[0].ctx();
    let mut a = crate::linalg::zeros::<S>(m * m, c);
    for i in 0..m {
        for j in i..m {
            let e = &v[svec_index(m, i, j)];
            if i == j {
                a[i * m + i].assign_from(e);
            } else {
                let x = e.clone() / r2;
                a[i * m + j].assign_from(&x);
                a[j * m + i] = x;
            }
        }
    }
    a
}

/// Q diag(f(λ)) Qᵀ from an eigendecomposition (eigenvectors as rows of `q`).
fn recompose<S: Scalar>(vals: &[S], q: &[S], m: usize) -> Vec<S> {
    let c = q[0].ctx();
    let mut a = crate::linalg::zeros::<S>(m * m, c);
    for (k, l) in vals.iter().enumerate() {
        for i in 0..m {
            let qi = q[k * m + i].clone() * l;
            for j in 0..m {
                a[i * m + j].mul_acc(&qi, &q[k * m + j]);
            }
        }
    }
    a
}

fn matvec<S: Scalar>(g: &[S], x: &[S]) -> Vec<S> {
    let n = x.len();
    (0..n).map(|i| crate::linalg::dot(&g[i * n..(i + 1) * n], x)).collect()
}

fn norm2<S: Scalar>(x: &[S]) -> Mag {
    crate::linalg::norm(x).to_mag()
}

/// PSD projection of svec(Y): returns svec(Π(Y)) and the eigendecomposition of Y.
fn project<S: Scalar>(y: &[S], m: usize, r2: &S) -> (Vec<S>, Vec<S>, Vec<S>) {
    let (vals, q) = jacobi_eigen(&smat(y, m, r2), m);
    let c = r2.ctx();
    let plus: Vec<S> = vals.iter().map(|l| if l.to_f64() > 0.0 { l.clone() } else { S::zero(c) }).collect();
    (svec(&recompose(&plus, &q, m), m, r2), vals, q)
}

/// m×m product C = op(A)·op(B) (row-major).
fn mm<S: Scalar>(a: &[S], ta: bool, b: &[S], tb: bool, m: usize) -> Vec<S> {
    let mut out = crate::linalg::zeros::<S>(m * m, a[0].ctx());
    S::gemm(&mut out, a, ta, b, tb, (m, m, m), false, false);
    out
}

/// Generalized Jacobian of Π at Y = Q Λ Qᵀ applied to svec(H).
fn dproj<S: Scalar>(h: &[S], vals: &[S], q: &[S], m: usize, r2: &S) -> Vec<S> {
    let c = r2.ctx();
    let hm = smat(h, m, r2);
    // T = Q H Qᵀ in the eigenbasis (Q holds eigenvectors as rows).
    let mut t = mm(&mm(q, false, &hm, false, m), false, q, true, m);
    for i in 0..m {
        for j in 0..m {
            let (li, lj) = (&vals[i], &vals[j]);
            let w = match (li.to_f64() > 0.0, lj.to_f64() > 0.0) {
                (true, true) => S::one(c),
                (false, false) => S::zero(c),
                (true, false) => li.clone() / &(li.clone() - lj),
                (false, true) => lj.clone() / &(lj.clone() - li),
            };
            t[i * m + j] = t[i * m + j].clone() * &w;
        }
    }
    // Back: Qᵀ (Ω∘T) Q.
    svec(&mm(&mm(q, true, &t, false, m), false, q, false, m), m, r2)
}

/// Solve A x = b by Gaussian elimination with partial pivoting; None if singular.
fn solve_dense<S: Scalar>(a: &[S], b: &[S]) -> Option<Vec<S>> {
    let n = b.len();
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    let scale = a.iter().map(|v| v.to_f64().abs()).fold(0.0, f64::max);
    for k in 0..n {
        let p = (k..n).max_by(|&i, &j| a[i * n + k].to_f64().abs().total_cmp(&a[j * n + k].to_f64().abs()))?;
        if !(a[p * n + k].to_f64().abs() > 1e-13 * scale) {
            return None;
        }
        if p != k {
            for j in 0..n {
                a.swap(k * n + j, p * n + j);
            }
            b.swap(k, p);
        }
        for i in k + 1..n {
            let f = a[i * n + k].clone() / &a[k * n + k];
            for j in k..n {
                let d = f.clone() * &a[k * n + j];
                a[i * n + j] -= &d;
            }
            let d = f * &b[k];
            b[i] -= &d;
        }
    }
    let mut x = b.clone();
    for k in (0..n).rev() {
        let mut s = b[k].clone();
        for j in k + 1..n {
            let d = a[k * n + j].clone() * &x[j];
            s -= &d;
        }
        x[k] = s / &a[k * n + k];
    }
    Some(x)
}

/// Solve the SDCP with Â (m×m symmetric, row-major) and the Gram operator of the vectors
/// `gs[svec_index(m,i,j)] = g_ij` (B̂\[X\]_ij = Σ_kl X_kl ⟨g_ij, g_kl⟩, off-diagonal pairs counted
/// twice), to relative residual `tol`. `warm` is a previous X (m×m) to start from.
pub fn solve_gram<S: Scalar>(a_hat: &[S], gs: &[Vec<S>], m: usize, tol: Mag, warm: Option<&[S]>) -> Result<Solution<S>, EvalError> {
    let n = m * (m + 1) / 2;
    if gs.len() != n || a_hat.len() != m * m {
        return Err(EvalError::Other(format!("SDCP: expected {n} vectors g_ij and a {m}×{m} matrix Â")));
    }
    if m == 0 {
        return solve(a_hat, &[], 0, tol, warm);
    }
    let dim = gs[0].len();
    if dim == 0 || gs.iter().any(|g| g.len() != dim) {
        return Err(EvalError::Other(format!("SDCP: the vectors g_ij must share one length ≥ 1, got {:?}", gs.iter().map(Vec::len).collect::<Vec<_>>())));
    }
    let c = a_hat[0].ctx();
    let r2 = S::from_i64(2, c).sqrt();
    let w = |i: usize| {
        let (mut ii, mut jj) = (0, 0);
        'o: for a in 0..m {
            for b in a..m {
                if svec_index(m, a, b) == i {
                    ii = a;
                    jj = b;
                    break 'o;
                }
            }
        }
        ii != jj
    };
    let mut g = crate::linalg::zeros::<S>(n * n, c);
    for p in 0..n {
        for q in p..n {
            let mut v = crate::linalg::dot(&gs[p], &gs[q]);
            if w(p) {
                v *= &r2;
            }
            if w(q) {
                v *= &r2;
            }
            g[q * n + p].assign_from(&v);
            g[p * n + q] = v;
        }
    }
    solve(a_hat, &g, m, tol, warm)
}

/// Solve the SDCP with Â (m×m) and the operator given as its n×n svec matrix G (symmetric PSD).
pub fn solve<S: Scalar>(a_hat: &[S], g: &[S], m: usize, tol: Mag, warm: Option<&[S]>) -> Result<Solution<S>, EvalError> {
    let n = m * (m + 1) / 2;
    if m == 0 {
        return Ok(Solution { x: vec![], z: vec![], x_eigs: vec![], res: Residuals::default(), iters: 0 });
    }
    if g.len() != n * n || a_hat.len() != m * m {
        return Err(EvalError::Other(format!("SDCP: Â must be {m}×{m} and G {n}×{n}")));
    }
    if !a_hat.iter().chain(g.iter()).all(|v| v.is_finite()) {
        return Err(EvalError::NonFinite { what: "SDCP data", at: String::new() });
    }
    let c = a_hat[0].ctx();
    let r2 = S::from_i64(2, c).sqrt();
    let a = svec(a_hat, m, &r2);
    let a_norm = norm2(&a);
    let (gvals, _) = jacobi_eigen(g, n);
    let b_norm = gvals[0].to_mag().max(Mag::ZERO);
    if a_norm == 0.0 {
        let zero = crate::linalg::zeros::<S>(m * m, c);
        return Ok(Solution { x: zero.clone(), z: zero, x_eigs: vec![0.0; m], res: Residuals::default(), iters: 0 });
    }
    // τ = 1/λ_max(G): the projected-gradient step of the QP (any τ > 0 gives the same fixed points).
    let tau = if b_norm > 0.0 { S::one(c) / &gvals[0] } else { S::one(c) };
    let mut x = match warm {
        Some(w) if w.len() == m * m => svec(w, m, &r2),
        _ => crate::linalg::zeros::<S>(n, c),
    };
    let resid = |x: &[S]| -> (Vec<S>, Vec<S>, Vec<S>, Vec<S>, Mag) {
        let mut z = matvec(g, x);
        for (zi, ai) in z.iter_mut().zip(&a) {
            *zi += ai;
        }
        let y: Vec<S> = x.iter().zip(&z).map(|(xi, zi)| xi.clone() - &(tau.clone() * zi)).collect();
        let (px, vals, q) = project(&y, m, &r2);
        let f: Vec<S> = x.iter().zip(&px).map(|(xi, pi)| xi.clone() - pi).collect();
        let fnorm = norm2(&f);
        (f, px, vals, q, fnorm)
    };
    let max_iter = 1000;
    let mut iters = 0;
    let mut last = None;
    while iters < max_iter {
        iters += 1;
        let (f, px, vals, q, fnorm) = resid(&x);
        // Check the conditions at the PSD point X = Π(·).
        let cand = evaluate(&px, &a, g, m, &r2, a_norm, b_norm);
        if cand.1.max() <= tol {
            last = Some((px, cand));
            break;
        }
        // Newton: (I − D(I − τG)) d = −F.
        let mut jm = crate::linalg::zeros::<S>(n * n, c);
        for col in 0..n {
            let mut e = crate::linalg::zeros::<S>(n, c);
            e[col] = S::one(c);
            let ge = matvec(g, &e);
            let h: Vec<S> = e.iter().zip(&ge).map(|(ei, gi)| ei.clone() - &(tau.clone() * gi)).collect();
            let dh = dproj(&h, &vals, &q, m, &r2);
            for row in 0..n {
                jm[row * n + col] = e[row].clone() - &dh[row];
            }
        }
        let minus_f: Vec<S> = f.iter().map(|v| -v.clone()).collect();
        let mut accepted = false;
        if let Some(d) = solve_dense(&jm, &minus_f) {
            // Backtracking on ‖F‖: full step first, then halvings (Armijo-type decrease).
            let mut step = S::one(c);
            let half = S::from_f64(0.5, c);
            for k in 0..12 {
                let xn: Vec<S> = x.iter().zip(&d).map(|(xi, di)| xi.clone() + &(step.clone() * di)).collect();
                let (_, _, _, _, fn_new) = resid(&xn);
                if fn_new <= (1.0 - 1e-4 * 0.5f64.powi(k)) * fnorm {
                    x = xn;
                    accepted = true;
                    break;
                }
                step *= &half;
            }
        }
        if !accepted {
            x = px;
        }
        last = None;
    }
    let (px, (z, res)) = match last {
        Some(v) => v,
        None => {
            let (_, px, _, _, _) = resid(&x);
            let e = evaluate(&px, &a, g, m, &r2, a_norm, b_norm);
            (px, e)
        }
    };
    if !(res.max() <= tol) {
        return Err(EvalError::Other(format!(
            "SDCP solve missed its tolerance {tol:.1e} after {iters} iterations (m = {m}): PSD(X) residual {:.2e}, PSD(Â+B̂[X]) residual {:.2e}, complementarity {:.2e}",
            res.psd_x, res.psd_z, res.compl
        )));
    }
    let xm = smat(&px, m, &r2);
    let (xe, _) = jacobi_eigen(&xm, m);
    Ok(Solution { x: xm, z: smat(&z, m, &r2), x_eigs: xe.iter().map(S::to_f64).collect(), res, iters })
}

/// Residuals of the SDCP at a candidate svec(X); returns svec(Z) too.
fn evaluate<S: Scalar>(x: &[S], a: &[S], g: &[S], m: usize, r2: &S, a_norm: Mag, b_norm: Mag) -> (Vec<S>, Residuals) {
    let mut z = matvec(g, x);
    for (zi, ai) in z.iter_mut().zip(a) {
        *zi += ai;
    }
    let (xe, _) = jacobi_eigen(&smat(x, m, r2), m);
    let (ze, _) = jacobi_eigen(&smat(&z, m, r2), m);
    let neg = |v: &[S]| v.last().map(|l| (-l.clone()).to_mag().max(Mag::ZERO)).unwrap_or(Mag::ZERO);
    let res = Residuals {
        psd_x: b_norm * neg(&xe) / a_norm,
        psd_z: neg(&ze) / a_norm,
        compl: b_norm * crate::linalg::dot(x, &z).to_mag().abs() / (a_norm * a_norm),
    };
    (z, res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svec_index_enumerates_upper_triangle() {
        let m = 4;
        let mut k = 0;
        for i in 0..m {
            for j in i..m {
                assert_eq!(svec_index(m, i, j), k);
                assert_eq!(svec_index(m, j, i), k);
                k += 1;
            }
        }
    }
}
