//! Exact derivatives of the MLP objective (models.md §3): value against a naive loop, claims 33 and 35
//! (finite-difference orders, symmetry of ∇³L), f64 vs 256-bit MPFR, fast vs generic kernels,
//! determinism and input validation.

use rug::Float;
use selfstab::data::Dataset;
use selfstab::models::mlp::{Activation, LossKind, Mlp, param_count};
use selfstab::objective::{Objective, dense_hessian};
use selfstab::scalar::Scalar;

const BITS: u32 = 256;

// ------------------------------------------------------------------------------------------------
// Fixtures: small deterministic data, parameters and directions from fixed formulas.

/// n points in d dimensions with values in [−1.2, 1.4] and labels cycling over the classes.
fn dataset(n: usize, d: usize, classes: usize) -> Dataset {
    let x = (0..n * d)
        .map(|e| {
            let (i, j) = (e / d, e % d);
            (((i * 7 + j * 3 + 1) % 11) as f64) / 5.0 - 1.0 + 0.13 * j as f64 - 0.05 * i as f64
        })
        .collect();
    let y = (0..n).map(|i| ((i * 2 + 1) % classes) as i64).collect();
    Dataset { x, y, n, d }
}

/// θ with each layer's entries of size ≈ 1.5/√fan_in (large enough that the activations are far
/// from linear), from a fixed trigonometric formula.
fn theta(layers: &[usize]) -> Vec<f64> {
    let mut th = Vec::with_capacity(param_count(layers));
    for w in layers.windows(2) {
        let scale = 1.5 / (w[0] as f64).sqrt();
        for _ in 0..w[0] * w[1] + w[1] {
            let k = th.len() as f64;
            th.push(scale * libm::sin(0.37 * k + 0.2) + 0.1 * scale * libm::cos(1.7 * k));
        }
    }
    th
}

/// A unit-ish direction (normalised in f64; lifted exactly afterwards).
fn direction(p: usize, seed: f64) -> Vec<f64> {
    let v: Vec<f64> = (0..p)
        .map(|k| libm::cos(0.91 * k as f64 + seed) + 0.3 * libm::sin(2.3 * k as f64 * seed))
        .collect();
    let nrm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
    v.into_iter().map(|a| a / nrm).collect()
}

/// Every activation × loss, each on two architectures (one and two hidden layers).
fn cases() -> Vec<(Vec<usize>, Activation, LossKind)> {
    let mut out = Vec::new();
    for act in [Activation::Tanh, Activation::Silu, Activation::Gelu] {
        for loss in [LossKind::Mse, LossKind::Ce] {
            out.push((vec![4, 5, 3], act, loss));
            out.push((vec![3, 4, 4, 2], act, loss));
        }
    }
    out
}

struct Fixture<S: Scalar> {
    mlp: Mlp<S>,
    th: Vec<S>,
    v: Vec<S>,
    w: Vec<S>,
    u: Vec<S>,
    label: String,
}

fn fixture<S: Scalar>(layers: &[usize], act: Activation, loss: LossKind, c: S::Ctx) -> Fixture<S> {
    let data = dataset(7, layers[0], *layers.last().unwrap());
    let mlp = Mlp::<S>::new(layers, act, loss, &data, c).expect("valid model");
    let p = param_count(layers);
    let lift = |x: Vec<f64>| x.into_iter().map(|a| S::from_f64(a, c)).collect::<Vec<S>>();
    Fixture {
        th: lift(theta(layers)),
        v: lift(direction(p, 0.3)),
        w: lift(direction(p, 1.1)),
        u: lift(direction(p, 2.9)),
        label: format!(
            "{:?} {} {} @{}",
            layers,
            act.name(),
            loss.name(),
            S::precision_name(c)
        ),
        mlp,
    }
}

// ------------------------------------------------------------------------------------------------
// Small vector helpers over any scalar.

fn dot<S: Scalar>(a: &[S], b: &[S]) -> f64 {
    selfstab::linalg::dot(a, b).to_f64()
}
fn norm<S: Scalar>(a: &[S]) -> f64 {
    selfstab::linalg::norm(a).to_f64()
}
/// ‖a − b‖ computed in S (so MPFR differences keep all their digits), returned as f64.
fn dist<S: Scalar>(a: &[S], b: &[S]) -> f64 {
    norm(&selfstab::linalg::sub(a, b))
}
fn shifted<S: Scalar>(th: &[S], h: &S, v: &[S]) -> Vec<S> {
    th.iter()
        .zip(v)
        .map(|(a, b)| a.clone() + &(h.clone() * b))
        .collect()
}
fn zeros<S: Scalar>(p: usize, c: S::Ctx) -> Vec<S> {
    selfstab::linalg::zeros(p, c)
}

/// Least-squares slope of ln e against ln h.
fn loglog_slope(hs: &[f64], es: &[f64]) -> f64 {
    let xs: Vec<f64> = hs.iter().map(|h| h.ln()).collect();
    let ys: Vec<f64> = es.iter().map(|e| e.ln()).collect();
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    sxy / sxx
}

// ------------------------------------------------------------------------------------------------
// A naive reference: the loss by plain scalar loops and the textbook activation formulas.

fn naive_loss<S: Scalar>(
    layers: &[usize],
    act: Activation,
    loss: LossKind,
    data: &Dataset,
    th: &[S],
    c: S::Ctx,
) -> S {
    let one = S::one(c);
    let half = S::from_f64(0.5, c);
    let inv_sqrt2 = one.clone() / &S::from_i64(2, c).sqrt();
    let mut total = S::zero(c);
    for i in 0..data.n {
        let mut a: Vec<S> = (0..data.d)
            .map(|j| S::from_f64(data.x[i * data.d + j], c))
            .collect();
        let mut off = 0;
        for (l, w) in layers.windows(2).enumerate() {
            let (din, dout) = (w[0], w[1]);
            let mut z = Vec::with_capacity(dout);
            for r in 0..dout {
                let mut s = th[off + din * dout + r].clone();
                for k in 0..din {
                    s += &(th[off + r * din + k].clone() * &a[k]);
                }
                z.push(s);
            }
            off += din * dout + dout;
            a = if l + 2 < layers.len() {
                z.into_iter()
                    .map(|zv| match act {
                        Activation::Tanh => zv.tanh(),
                        Activation::Silu => zv.clone() / &(one.clone() + &(-zv).exp()),
                        Activation::Gelu => {
                            zv.clone() * &half * &(one.clone() + &(zv * &inv_sqrt2).erf())
                        }
                    })
                    .collect()
            } else {
                z
            };
        }
        let yi = data.y[i] as usize;
        match loss {
            LossKind::Mse => {
                for (j, f) in a.iter().enumerate() {
                    let r = if j == yi { f.clone() - &one } else { f.clone() };
                    total += &(r.clone() * &r);
                }
            }
            LossKind::Ce => {
                let m = a
                    .iter()
                    .fold(a[0].clone(), |m, f| if *f > m { f.clone() } else { m });
                let mut s = S::zero(c);
                for f in &a {
                    s += &(f.clone() - &m).exp();
                }
                total += &(m + &s.ln() - &a[yi]);
            }
        }
    }
    total / &S::from_i64(data.n as i64, c)
}

/// value() agrees with the naive loop to rounding. Budget: both evaluate the same ≈ 100 roundings
/// per sample in different orders and with different (but ≤ 1-ulp-class) activation formulas; losses
/// are O(1) sums of positive terms, so the relative difference is a few ε (measured ≤ 1.4ε in both
/// precisions); 32ε is the bound.
fn value_matches_naive_loop<S: Scalar>(c: S::Ctx) {
    for (layers, act, loss) in cases() {
        let f = fixture::<S>(&layers, act, loss, c);
        let data = dataset(7, layers[0], *layers.last().unwrap());
        let got = f.mlp.value(&f.th).unwrap();
        let want = naive_loss(&layers, act, loss, &data, &f.th, c);
        let rel = ((got.clone() - &want).abs() / &want).to_f64();
        eprintln!(
            "{}: value {:.6e}, rel diff vs naive {rel:.2e} ({:.1} eps)",
            f.label,
            want.to_f64(),
            rel / S::eps(c)
        );
        assert!(
            rel <= 32.0 * S::eps(c),
            "{}: value {} vs naive {}",
            f.label,
            got.to_f64(),
            want.to_f64()
        );
        // grad() returns the same L from its own forward pass.
        let mut g = zeros::<S>(f.mlp.dim(), c);
        let lg = f.mlp.grad(&f.th, &mut g).unwrap();
        assert_eq!(lg, got, "{}: grad's L differs from value()", f.label);
    }
}

#[test]
fn value_matches_naive_loop_f64() {
    value_matches_naive_loop::<f64>(());
}

#[test]
fn value_matches_naive_loop_mpfr256() {
    value_matches_naive_loop::<Float>(BITS);
}

/// Cross-entropy at logits of hundreds and more (θ scaled by 300), where e^f overflows f64:
/// the loss is finite and matches the naive loop, which shifts each row by its largest logit,
/// to the same 32ε (measured as for θ itself). (Mutation audit round 2: a shift by the row's
/// smallest logit overflowed here and was caught only by a CLI error message.)
#[test]
fn cross_entropy_of_large_logits_matches_naive_loop_f64() {
    for (layers, act, loss) in cases().into_iter().filter(|c| c.2 == LossKind::Ce) {
        let f = fixture::<f64>(&layers, act, loss, ());
        let th: Vec<f64> = f.th.iter().map(|x| 300.0 * x).collect();
        let data = dataset(7, layers[0], *layers.last().unwrap());
        let got = f.mlp.value(&th).unwrap_or_else(|e| panic!("{}: {e}", f.label));
        let want = naive_loss(&layers, act, loss, &data, &th, ());
        assert!(want > 10.0 && ((got - want) / want).abs() <= 32.0 * f64::EPSILON, "{}: value {got} vs naive {want}", f.label);
    }
}

// ------------------------------------------------------------------------------------------------
// Claim 33: ∇L and ∇²L v against central differences, error of order 2 in the step.

/// Central-difference errors of ∇L·v (from L) and of ∇²L v (from ∇L) at each step.
fn fd_errors<S: Scalar>(f: &Fixture<S>, steps: &[S], c: S::Ctx) -> (Vec<f64>, Vec<f64>) {
    let p = f.mlp.dim();
    let mut g = zeros::<S>(p, c);
    f.mlp.grad(&f.th, &mut g).unwrap();
    let gv = selfstab::linalg::dot(&g, &f.v);
    let mut hv = zeros::<S>(p, c);
    f.mlp.hvp(&f.th, &f.v, &mut hv).unwrap();
    let (mut eg, mut eh) = (Vec::new(), Vec::new());
    let (mut gp, mut gm) = (zeros::<S>(p, c), zeros::<S>(p, c));
    for h in steps {
        let tp = shifted(&f.th, h, &f.v);
        let tm = shifted(&f.th, &-h.clone(), &f.v);
        let two_h = h.clone() * &S::from_i64(2, c);
        let lp = f.mlp.grad(&tp, &mut gp).unwrap();
        let lm = f.mlp.grad(&tm, &mut gm).unwrap();
        let fd = (lp - &lm) / &two_h;
        eg.push((fd - &gv).abs().to_f64());
        let fdv: Vec<S> = gp
            .iter()
            .zip(&gm)
            .map(|(a, b)| (a.clone() - b) / &two_h)
            .collect();
        eh.push(dist(&fdv, &hv));
    }
    (eg, eh)
}

/// f64: steps h = 0.1·2^-k, k = 0..7. Truncation ≈ h²/6·|∇³L[v,v,v]| ≥ 1e-8 on this range while
/// rounding is ≈ ε·|L|/h ≤ 3e-13, so every point is truncation-dominated. The slope of ln e vs ln h
/// must be 2 within 0.02: the O(h⁴) term shifts it by ≲ (c₄/c₂)h²/4 ≈ 1e-3 at the largest step
/// (measured: |slope − 2| ≤ 3e-4 on all twelve cases).
#[test]
fn claim_33_grad_and_hvp_match_central_differences_order_2_f64() {
    let steps: Vec<f64> = (0..8).map(|k| 0.1 * libm::ldexp(1.0, -k)).collect();
    for (layers, act, loss) in cases() {
        let f = fixture::<f64>(&layers, act, loss, ());
        let (eg, eh) = fd_errors(&f, &steps, ());
        let (sg, sh) = (loglog_slope(&steps, &eg), loglog_slope(&steps, &eh));
        eprintln!(
            "{}: grad FD errors {:.2e}..{:.2e} slope {sg:.4}; hvp FD {:.2e}..{:.2e} slope {sh:.4}",
            f.label, eg[0], eg[7], eh[0], eh[7]
        );
        assert!(
            (sg - 2.0).abs() < 0.02,
            "{}: ∇L FD order {sg} ({eg:?})",
            f.label
        );
        assert!(
            (sh - 2.0).abs() < 0.02,
            "{}: ∇²L v FD order {sh} ({eh:?})",
            f.label
        );
        // Asymptotic constant: (FD − ∇L·v)/h² → |∇³L[v,v,v]|/6 (the Taylor remainder), to O(h²).
        let mut t3 = vec![0.0; f.mlp.dim()];
        f.mlp.d3_sym(&f.th, &f.v, &mut t3).unwrap();
        let c3 = dot(&t3, &f.v).abs() / 6.0;
        let h = steps[7];
        assert!(
            (eg[7] / (h * h) - c3).abs() <= 1e-3 * c3 + 1e-12 / (h * h),
            "{}: constant {} vs {c3}",
            f.label,
            eg[7] / (h * h)
        );
    }
}

/// Each ratio e(h)/e(h/10) at 256 bits is 100 up to the O(h²) correction, ≈ (c₄/c₂)·h² at the
/// largest h = 1e-2: measured ≤ 2.8e-5 over the twelve fixtures and the four error series (claims 33
/// and 35; c₄/c₂ up to ≈ 0.3), asserted ≤ 10 times that (until session 42: 1 %).
const RATIO_TOL_256: f64 = 3e-4;

/// 256 bits: steps h = 10^-2 … 10^-20 (19 points). Truncation ≈ C h² runs from ≈ 1e-5 to ≈ 1e-41
/// while rounding is ≈ 2^-255/h ≤ 1e-57, so the error must fall by 100 per decade of h over 36 decades.
/// Each ratio e(h)/e(h/10) must be 100 within [`RATIO_TOL_256`], and (FD − ∇L·v)/h² must reach
/// ∇³L[v,v,v]/6 at h = 1e-20 (to 1e-12: its O(h²) deviation is 1e-40; the rest is the rounding of the
/// difference quotient, ≈ 2^-255·|L|/(h³·c₃) relative, measured ≤ 1.5e-14 over the twelve fixtures).
#[test]
fn claim_33_grad_and_hvp_match_central_differences_order_2_mpfr256() {
    let c = BITS;
    let steps: Vec<Float> = (2..=20)
        .map(|k| {
            Float::parse(format!("1e-{k}"))
                .map(|p| Float::with_val(c, p))
                .unwrap()
        })
        .collect();
    let hs: Vec<f64> = steps.iter().map(|h| h.to_f64()).collect();
    for (layers, act, loss) in cases() {
        let f = fixture::<Float>(&layers, act, loss, c);
        let (eg, eh) = fd_errors(&f, &steps, c);
        let (sg, sh) = (loglog_slope(&hs, &eg), loglog_slope(&hs, &eh));
        eprintln!(
            "{}: grad FD {:.2e}..{:.2e} slope {sg:.6}; hvp FD {:.2e}..{:.2e} slope {sh:.6}",
            f.label, eg[0], eg[18], eh[0], eh[18]
        );
        for e in [&eg, &eh] {
            assert!(
                e[0] / e[18] > 1e30,
                "{}: fewer than 30 decades of error: {e:?}",
                f.label
            );
            for k in 1..e.len() {
                let r = e[k - 1] / e[k];
                assert!(
                    (r / 100.0 - 1.0).abs() < RATIO_TOL_256,
                    "{}: ratio {r} at h = {:e}",
                    f.label,
                    hs[k]
                );
            }
        }
        let mut t3 = zeros::<Float>(f.mlp.dim(), c);
        f.mlp.d3_sym(&f.th, &f.v, &mut t3).unwrap();
        let c3 = dot(&t3, &f.v).abs() / 6.0;
        let h = hs[18];
        assert!(
            (eg[18] / (h * h) / c3 - 1.0).abs() < 1e-12,
            "{}: constant {} vs {c3}",
            f.label,
            eg[18] / (h * h)
        );
        // Same for the HVP: (FD − ∇²L v)/h² → ∇⁴L[v,v,v]/6, a vector identity tying claim 33 to d4.
        // At h = 1e-15 the O(h²) deviation is ≈ 1e-30 relative and rounding ≈ 2^-255‖∇L‖/(h³‖∇⁴L‖)
        // ≈ 1e-30 (‖∇L‖/‖∇⁴L‖ ≲ 100 here): measured ≤ 2.3e-30, bound 1e-28 (until session 42: 1e-26).
        let hh = steps[13].clone();
        let p = f.mlp.dim();
        let (mut gp, mut gm, mut hv, mut t4) = (
            zeros::<Float>(p, c),
            zeros::<Float>(p, c),
            zeros::<Float>(p, c),
            zeros::<Float>(p, c),
        );
        f.mlp.grad(&shifted(&f.th, &hh, &f.v), &mut gp).unwrap();
        f.mlp
            .grad(&shifted(&f.th, &-hh.clone(), &f.v), &mut gm)
            .unwrap();
        f.mlp.hvp(&f.th, &f.v, &mut hv).unwrap();
        f.mlp.d4(&f.th, &f.v, &mut t4).unwrap();
        let h2 = hh.clone() * &hh;
        let six = Float::with_val(c, 6);
        let rem: Vec<Float> = (0..p)
            .map(|i| ((gp[i].clone() - &gm[i]) / (hh.clone() * 2u32) - &hv[i]) / &h2)
            .collect();
        let want: Vec<Float> = t4.iter().map(|x| x.clone() / &six).collect();
        let rel = dist(&rem, &want) / norm(&want);
        assert!(
            rel < 1e-28,
            "{}: (FD − Hv)/h² vs ∇⁴L[v,v,v]/6: rel {rel:e}",
            f.label
        );
    }
}

// ------------------------------------------------------------------------------------------------
// Claim 35: ∇³L is symmetric; ∇³L[v,v] and ∇⁴L[v,v,v] match central differences of lower orders.

/// ∇³L[v,w] = ∇³L[w,v]; u·∇³L[v,w] is invariant under permutations of (u, v, w); d3_sym(v) = d3(v,v).
/// Budget: the two sides run the same products in a different order (hyper-dual blocks ε₁, ε₂
/// swapped), so they differ by rounding only: a few ε times the condition of the sums (entries
/// ∑|terms|/|sum| ≈ 10 here), so ≤ 16ε relative to ‖∇³L[v,w]‖ (resp. ‖∇³L‖·‖u‖ for the
/// contractions). Measured ≤ 1.3ε in both precisions.
fn claim_35_third_derivative_symmetric<S: Scalar>(c: S::Ctx) {
    let tol = 16.0 * S::eps(c);
    for (layers, act, loss) in cases() {
        let f = fixture::<S>(&layers, act, loss, c);
        let p = f.mlp.dim();
        let (mut vw, mut wv, mut uw, mut uv, mut vv, mut sym) = (
            zeros::<S>(p, c),
            zeros::<S>(p, c),
            zeros::<S>(p, c),
            zeros::<S>(p, c),
            zeros::<S>(p, c),
            zeros::<S>(p, c),
        );
        f.mlp.d3(&f.th, &f.v, &f.w, &mut vw).unwrap();
        f.mlp.d3(&f.th, &f.w, &f.v, &mut wv).unwrap();
        f.mlp.d3(&f.th, &f.u, &f.w, &mut uw).unwrap();
        f.mlp.d3(&f.th, &f.u, &f.v, &mut uv).unwrap();
        f.mlp.d3(&f.th, &f.v, &f.v, &mut vv).unwrap();
        f.mlp.d3_sym(&f.th, &f.v, &mut sym).unwrap();
        let r_swap = dist(&vw, &wv) / norm(&vw);
        let r_sym = dist(&vv, &sym) / norm(&vv);
        // T[u,v,w] three ways (the contraction with the free slot).
        let a = selfstab::linalg::dot(&f.u, &vw);
        let b = selfstab::linalg::dot(&f.v, &uw);
        let d = selfstab::linalg::dot(&f.w, &uv);
        let scale = norm(&vw).max(norm(&uw)).max(norm(&uv));
        let r_perm = ((a.clone() - &b).abs().to_f64()).max((a - &d).abs().to_f64()) / scale;
        eprintln!(
            "{}: swap {:.1}ε, permutation {:.1}ε, d3_sym {:.1}ε",
            f.label,
            r_swap / S::eps(c),
            r_perm / S::eps(c),
            r_sym / S::eps(c)
        );
        assert!(
            r_swap <= tol,
            "{}: ∇³L[v,w] vs ∇³L[w,v]: rel {r_swap:e}",
            f.label
        );
        assert!(
            r_perm <= tol,
            "{}: u·∇³L[v,w] not permutation-invariant: rel {r_perm:e}",
            f.label
        );
        assert!(
            r_sym <= tol,
            "{}: d3_sym(v) vs d3(v,v): rel {r_sym:e}",
            f.label
        );
    }
}

#[test]
fn claim_35_third_derivative_symmetric_f64() {
    claim_35_third_derivative_symmetric::<f64>(());
}

#[test]
fn claim_35_third_derivative_symmetric_mpfr256() {
    claim_35_third_derivative_symmetric::<Float>(BITS);
}

/// Errors of central differences along v: of ∇²L v against ∇³L[v,v], and of ∇³L[v,v] against
/// ∇⁴L[v,v,v].
fn fd_errors_higher<S: Scalar>(f: &Fixture<S>, steps: &[S], c: S::Ctx) -> (Vec<f64>, Vec<f64>) {
    let p = f.mlp.dim();
    let (mut t3, mut t4) = (zeros::<S>(p, c), zeros::<S>(p, c));
    f.mlp.d3_sym(&f.th, &f.v, &mut t3).unwrap();
    f.mlp.d4(&f.th, &f.v, &mut t4).unwrap();
    let (mut e3, mut e4) = (Vec::new(), Vec::new());
    let (mut ap, mut am) = (zeros::<S>(p, c), zeros::<S>(p, c));
    for h in steps {
        let tp = shifted(&f.th, h, &f.v);
        let tm = shifted(&f.th, &-h.clone(), &f.v);
        let two_h = h.clone() * &S::from_i64(2, c);
        let fd = |a: &[S], b: &[S]| -> Vec<S> {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x.clone() - y) / &two_h)
                .collect()
        };
        f.mlp.hvp(&tp, &f.v, &mut ap).unwrap();
        f.mlp.hvp(&tm, &f.v, &mut am).unwrap();
        e3.push(dist(&fd(&ap, &am), &t3));
        f.mlp.d3_sym(&tp, &f.v, &mut ap).unwrap();
        f.mlp.d3_sym(&tm, &f.v, &mut am).unwrap();
        e4.push(dist(&fd(&ap, &am), &t4));
    }
    (e3, e4)
}

/// f64, steps 0.1·2^-k, k = 0..7: truncation ≥ 1e-8·‖∇⁵L‖ and ≥ 1e-8·‖∇⁶L‖ stays far above the
/// rounding ε‖∇²L v‖/h ≲ 1e-12, so the log-log slope must be 2 within 0.02 (the O(h⁴) term).
#[test]
fn claim_35_d3_and_d4_match_central_differences_order_2_f64() {
    let steps: Vec<f64> = (0..8).map(|k| 0.1 * libm::ldexp(1.0, -k)).collect();
    for (layers, act, loss) in cases() {
        let f = fixture::<f64>(&layers, act, loss, ());
        let (e3, e4) = fd_errors_higher(&f, &steps, ());
        let (s3, s4) = (loglog_slope(&steps, &e3), loglog_slope(&steps, &e4));
        eprintln!(
            "{}: d3 FD {:.2e}..{:.2e} slope {s3:.4}; d4 FD {:.2e}..{:.2e} slope {s4:.4}",
            f.label, e3[0], e3[7], e4[0], e4[7]
        );
        assert!(
            (s3 - 2.0).abs() < 0.02,
            "{}: ∇³L[v,v] FD order {s3} ({e3:?})",
            f.label
        );
        assert!(
            (s4 - 2.0).abs() < 0.02,
            "{}: ∇⁴L[v,v,v] FD order {s4} ({e4:?})",
            f.label
        );
    }
}

/// 256 bits, steps 10^-2 … 10^-16: truncation falls from ≈ 1e-4 to ≈ 1e-32 while rounding stays
/// ≤ 2^-255·‖·‖/h ≈ 1e-61; every ratio e(h)/e(h/10) must be 100 within [`RATIO_TOL_256`].
#[test]
fn claim_35_d3_and_d4_match_central_differences_order_2_mpfr256() {
    let c = BITS;
    let steps: Vec<Float> = (2..=16)
        .map(|k| {
            Float::parse(format!("1e-{k}"))
                .map(|p| Float::with_val(c, p))
                .unwrap()
        })
        .collect();
    let hs: Vec<f64> = steps.iter().map(|h| h.to_f64()).collect();
    for (layers, act, loss) in cases() {
        let f = fixture::<Float>(&layers, act, loss, c);
        let (e3, e4) = fd_errors_higher(&f, &steps, c);
        let last = e3.len() - 1;
        eprintln!(
            "{}: d3 FD {:.2e}..{:.2e} slope {:.6}; d4 FD {:.2e}..{:.2e} slope {:.6}",
            f.label,
            e3[0],
            e3[last],
            loglog_slope(&hs, &e3),
            e4[0],
            e4[last],
            loglog_slope(&hs, &e4)
        );
        for e in [&e3, &e4] {
            assert!(
                e[0] / e[last] > 1e24,
                "{}: fewer than 24 decades: {e:?}",
                f.label
            );
            for k in 1..e.len() {
                let r = e[k - 1] / e[k];
                assert!(
                    (r / 100.0 - 1.0).abs() < RATIO_TOL_256,
                    "{}: ratio {r} at h = {:e}",
                    f.label,
                    hs[k]
                );
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------
// f64 against 256-bit MPFR.

/// All outputs of the f64 model agree with the 256-bit ones (rounded) to f64 accuracy.
/// Budget: each output entry is a sum of ≲ 100 products through ≤ 3 layers; forward error ≈ a few ε
/// times the condition of those sums (|terms|/|sum| up to ≈ 100 for entries near cancellation), so
/// ‖x_f64 − x_256‖/‖x_256‖ ≤ 32ε (these fixtures are well conditioned: measured ≤ 2.4ε).
#[test]
fn f64_matches_mpfr256_on_all_derivatives() {
    let c = BITS;
    for (layers, act, loss) in cases() {
        let fd = fixture::<f64>(&layers, act, loss, ());
        let fm = fixture::<Float>(&layers, act, loss, c);
        let p = fd.mlp.dim();
        let lift = |x: &[f64]| x.iter().map(|&a| Float::with_val(c, a)).collect::<Vec<_>>();
        let mut worst: f64 = 0.0;
        let lv = fd.mlp.value(&fd.th).unwrap();
        let lm = fm.mlp.value(&fm.th).unwrap();
        let rel = ((Float::with_val(c, lv) - &lm).abs() / &lm).to_f64();
        worst = worst.max(rel);
        type Op<'a, S> = Box<dyn Fn(&Fixture<S>, &mut [S]) + 'a>;
        let ops_d: Vec<(&str, Op<f64>)> = vec![
            (
                "grad",
                Box::new(|f, o| {
                    f.mlp.grad(&f.th, o).unwrap();
                }),
            ),
            ("hvp", Box::new(|f, o| f.mlp.hvp(&f.th, &f.v, o).unwrap())),
            (
                "d3",
                Box::new(|f, o| f.mlp.d3(&f.th, &f.v, &f.w, o).unwrap()),
            ),
            (
                "d3_sym",
                Box::new(|f, o| f.mlp.d3_sym(&f.th, &f.v, o).unwrap()),
            ),
            ("d4", Box::new(|f, o| f.mlp.d4(&f.th, &f.v, o).unwrap())),
        ];
        let ops_m: Vec<Op<Float>> = vec![
            Box::new(|f, o| {
                f.mlp.grad(&f.th, o).unwrap();
            }),
            Box::new(|f, o| f.mlp.hvp(&f.th, &f.v, o).unwrap()),
            Box::new(|f, o| f.mlp.d3(&f.th, &f.v, &f.w, o).unwrap()),
            Box::new(|f, o| f.mlp.d3_sym(&f.th, &f.v, o).unwrap()),
            Box::new(|f, o| f.mlp.d4(&f.th, &f.v, o).unwrap()),
        ];
        for ((name, od), om) in ops_d.iter().zip(&ops_m) {
            let mut xd = vec![0.0; p];
            let mut xm = zeros::<Float>(p, c);
            od(&fd, &mut xd);
            om(&fm, &mut xm);
            let rel = dist(&lift(&xd), &xm) / norm(&xm);
            worst = worst.max(rel);
            assert!(
                rel <= 32.0 * f64::EPSILON,
                "{}: {name} f64 vs 256 bits: rel {rel:e}",
                fd.label
            );
        }
        eprintln!(
            "{}: worst f64 vs 256-bit relative difference {worst:.2e} ({:.1}ε)",
            fd.label,
            worst / f64::EPSILON
        );
        assert!(
            worst <= 32.0 * f64::EPSILON,
            "{}: value f64 vs 256 bits",
            fd.label
        );
    }
}

// ------------------------------------------------------------------------------------------------
// Fast (faer) vs generic kernels, determinism.

fn wide_fixture(fast: bool) -> Fixture<f64> {
    // n·d·h = 40·16·32 ≥ 4096, so f64's gemm takes the faer kernel when fast is set.
    let layers = [16, 32, 32, 10];
    let data = dataset(40, 16, 10);
    let mut mlp = Mlp::<f64>::new(&layers, Activation::Silu, LossKind::Ce, &data, ()).unwrap();
    mlp.set_fast(fast);
    let p = param_count(&layers);
    Fixture {
        th: theta(&layers),
        v: direction(p, 0.3),
        w: direction(p, 1.1),
        u: direction(p, 2.9),
        label: "16-32-32-10 silu ce".into(),
        mlp,
    }
}

fn all_outputs(f: &Fixture<f64>) -> Vec<Vec<f64>> {
    let p = f.mlp.dim();
    let mut out = vec![vec![f.mlp.value(&f.th).unwrap()]];
    let mut x = vec![0.0; p];
    f.mlp.grad(&f.th, &mut x).unwrap();
    out.push(x.clone());
    f.mlp.hvp(&f.th, &f.v, &mut x).unwrap();
    out.push(x.clone());
    f.mlp.d3(&f.th, &f.v, &f.w, &mut x).unwrap();
    out.push(x.clone());
    f.mlp.d3_sym(&f.th, &f.u, &mut x).unwrap();
    out.push(x.clone());
    f.mlp.d4(&f.th, &f.v, &mut x).unwrap();
    out.push(x);
    out
}

/// faer's SIMD summation order differs from the fixed loop, so the two agree to rounding only:
/// ≤ 32ε ≈ 7e-15 relative per output (sums of ≤ 40·32 products; measured ≤ 3.6e-16).
#[test]
fn fast_and_generic_kernels_agree_f64() {
    let fast = all_outputs(&wide_fixture(true));
    let slow = all_outputs(&wide_fixture(false));
    for (k, (a, b)) in fast.iter().zip(&slow).enumerate() {
        let rel = dist(a, b) / norm(b);
        eprintln!("output {k}: fast vs generic rel {rel:.2e}");
        assert!(
            rel <= 32.0 * f64::EPSILON,
            "output {k}: fast vs generic rel {rel:e}"
        );
    }
}

/// The generic path is a fixed sequence of IEEE operations: two calls, and two model instances, give
/// identical bits.
#[test]
fn generic_path_is_deterministic_f64() {
    let f = wide_fixture(false);
    let a = all_outputs(&f);
    let b = all_outputs(&f);
    let c = all_outputs(&wide_fixture(false));
    let bits = |x: &Vec<Vec<f64>>| {
        x.iter()
            .flatten()
            .map(|v| v.to_bits())
            .collect::<Vec<u64>>()
    };
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(bits(&a), bits(&c));
}

// ------------------------------------------------------------------------------------------------
// Groundwork for claim 34 (not its test): the Hessian assembled from HVPs is symmetric.

/// Columns H e_j from p HVPs form a matrix with |H_ij − H_ji| ≤ 16ε·max|H| (each entry is computed
/// by a different backward pass; they differ by rounding only; measured ≤ 1.5ε). dense_hessian returns the
/// symmetrised average, and H v from that matrix equals hvp(v) to rounding (HVP is linear).
#[allow(clippy::needless_range_loop)]
fn hessian_symmetric<S: Scalar>(c: S::Ctx) {
    for (layers, act, loss) in cases() {
        let f = fixture::<S>(&layers, act, loss, c);
        let p = f.mlp.dim();
        let mut cols = Vec::with_capacity(p);
        for j in 0..p {
            let mut e = zeros::<S>(p, c);
            e[j] = S::one(c);
            let mut col = zeros::<S>(p, c);
            f.mlp.hvp(&f.th, &e, &mut col).unwrap();
            cols.push(col);
        }
        let hmax = cols
            .iter()
            .flatten()
            .map(|x| x.abs().to_f64())
            .fold(0.0, f64::max);
        let mut asym: f64 = 0.0;
        for i in 0..p {
            for j in 0..i {
                asym = asym.max((cols[j][i].clone() - &cols[i][j]).abs().to_f64());
            }
        }
        let dense = dense_hessian(&f.mlp, &f.th).unwrap();
        let hv: Vec<S> = (0..p)
            .map(|i| selfstab::linalg::dot(&dense[i * p..(i + 1) * p], &f.v))
            .collect();
        let mut want = zeros::<S>(p, c);
        f.mlp.hvp(&f.th, &f.v, &mut want).unwrap();
        let lin = dist(&hv, &want) / norm(&want);
        eprintln!(
            "{}: p = {p}, max|H_ij − H_ji| = {:.1}ε·max|H|, ‖H v − hvp(v)‖ rel {:.1}ε",
            f.label,
            asym / hmax / S::eps(c),
            lin / S::eps(c)
        );
        assert!(
            asym <= 16.0 * S::eps(c) * hmax,
            "{}: Hessian asymmetry {asym:e} (max |H| = {hmax:e})",
            f.label
        );
        // H v sums p ≤ 46 products with little cancellation here: ≤ 16ε relative (measured ≤ 1.8ε).
        assert!(
            lin <= 16.0 * S::eps(c),
            "{}: dense H v vs hvp: rel {lin:e}",
            f.label
        );
    }
}

#[test]
fn dense_hessian_from_hvps_is_symmetric_f64() {
    hessian_symmetric::<f64>(());
}

#[test]
fn dense_hessian_from_hvps_is_symmetric_mpfr256() {
    hessian_symmetric::<Float>(BITS);
}

// ------------------------------------------------------------------------------------------------
// Bad input.

fn new_err(layers: &[usize], act: &str, loss: &str, data: &Dataset) -> String {
    let act = match Activation::parse(act) {
        Ok(a) => a,
        Err(e) => return e.to_string(),
    };
    let loss = match LossKind::parse(loss) {
        Ok(l) => l,
        Err(e) => return e.to_string(),
    };
    match Mlp::<f64>::new(layers, act, loss, data, ()) {
        Ok(_) => panic!("accepted bad input {layers:?}"),
        Err(e) => e.to_string(),
    }
}

#[track_caller]
fn expect_failure(msg: String, part: &str) {
    assert!(
        msg.contains(part),
        "error message `{msg}` does not mention `{part}`"
    );
}

#[test]
fn bad_inputs_are_rejected_with_a_message() {
    let data = dataset(7, 4, 3);
    expect_failure(
        new_err(&[3, 5, 3], "tanh", "mse", &data),
        "data width 4 does not match the input width layers[0] = 3",
    );
    let mut bad = data.clone();
    bad.y[2] = 3;
    expect_failure(
        new_err(&[4, 5, 3], "tanh", "mse", &bad),
        "label 3 of sample 2 is outside 0..3",
    );
    bad.y[2] = -1;
    expect_failure(
        new_err(&[4, 5, 3], "tanh", "mse", &bad),
        "label -1 of sample 2",
    );
    let mut bad = data.clone();
    bad.x[9] = f64::NAN;
    expect_failure(
        new_err(&[4, 5, 3], "tanh", "mse", &bad),
        "data X contains a non-finite value (NaN or infinity) at index 9",
    );
    expect_failure(
        new_err(&[4, 5, 3], "relu", "mse", &data),
        "unknown activation `relu`",
    );
    expect_failure(
        new_err(&[4, 5, 3], "tanh", "hinge", &data),
        "unknown loss `hinge`",
    );
    expect_failure(
        new_err(&[4], "tanh", "mse", &data),
        "need at least 2 widths",
    );
    expect_failure(
        new_err(&[4, 0, 3], "tanh", "mse", &data),
        "every width must be > 0",
    );
    let mut bad = data.clone();
    bad.y.pop();
    expect_failure(
        new_err(&[4, 5, 3], "tanh", "mse", &bad),
        "data y has 6 labels, expected n = 7",
    );

    // Evaluation: wrong lengths and non-finite results are errors, not panics.
    let mlp = Mlp::<f64>::new(&[4, 5, 3], Activation::Tanh, LossKind::Ce, &data, ()).unwrap();
    let p = mlp.dim();
    let mut g = vec![0.0; p];
    expect_failure(
        mlp.grad(&vec![0.1; p - 1], &mut g).unwrap_err().to_string(),
        "has length 42, but the MLP 4-5-3 has 43 parameters",
    );
    expect_failure(
        mlp.hvp(&vec![0.1; p], &vec![0.1; p + 1], &mut g)
            .unwrap_err()
            .to_string(),
        "has length 44",
    );
    let mut th = vec![0.1; p];
    th[p - 1] = f64::NAN;
    expect_failure(
        mlp.value(&th).unwrap_err().to_string(),
        "parameter vector holds a non-finite entry at index 42",
    );
    th[p - 1] = 1e308;
    th[p - 2] = -1e308;
    expect_failure(mlp.grad(&th, &mut g).unwrap_err().to_string(), "non-finite");
}

// ------------------------------------------------------------------------------------------------
// Cost: derivatives cost a small multiple of one gradient.

/// A 64-32-10 tanh MSE MLP on 200 points runs grad + hvp well under a second (measured ≈ ms), and an
/// HVP costs a small multiple of a gradient (forward-over-reverse, not p gradients).
#[test]
fn grad_and_hvp_of_64_32_10_on_200_points_are_fast() {
    let layers = [64, 32, 10];
    let data = dataset(200, 64, 10);
    let mlp = Mlp::<f64>::new(&layers, Activation::Tanh, LossKind::Mse, &data, ()).unwrap();
    let p = mlp.dim();
    let th = theta(&layers);
    let v = direction(p, 0.3);
    let (mut g, mut hv) = (vec![0.0; p], vec![0.0; p]);
    let t0 = std::time::Instant::now();
    mlp.grad(&th, &mut g).unwrap();
    let t_grad = t0.elapsed().as_secs_f64();
    let t1 = std::time::Instant::now();
    mlp.hvp(&th, &v, &mut hv).unwrap();
    let t_hvp = t1.elapsed().as_secs_f64();
    eprintln!(
        "64-32-10, n = 200, p = {p}: grad {:.3} ms, hvp {:.3} ms",
        t_grad * 1e3,
        t_hvp * 1e3
    );
    assert!(
        t_grad + t_hvp < 1.0,
        "grad + hvp took {:.3} s",
        t_grad + t_hvp
    );
    assert!(norm(&hv) > 0.0 && hv.iter().all(|x| x.is_finite()));
}
