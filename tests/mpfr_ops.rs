//! The MPFR operation count (`scalar::count_mpfr_ops`): the cost measure of the 256-bit bench rows
//! whose work has no closed form (issue 7: each primitive's multiply-adds against a bare loop of
//! in-place multiply-adds). Its own test binary: the counters are process-global and count every
//! thread's operations while a scope is open, so no other MPFR work may run beside a count. The
//! tests take turns through [`SERIAL`] for their whole body (the counting scopes serialise only
//! the counted regions: one test's uncounted setup landed in another's count under load).

use rug::Float;
use selfstab::data::{digits, init_params};
use selfstab::linalg::{self, dot, dots, from_f64, gemm_generic, lin_combs, set_threads, zeros};
use selfstab::models::mlp::{Activation, LossKind, Mlp};
use selfstab::objective::Objective;
use selfstab::scalar::{MpfrOps, Scalar, count_mpfr_ops};
use selfstab::sharpness::{EigenOpts, top_eigen};

/// Every test holds it for its whole body.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn vec256(len: usize, seed: usize) -> Vec<Float> {
    (0..len).map(|i| Float::with_val(256, ((i * 7919 + seed * 104_729) % 1009) as f64 / 1009.0 - 0.5)).collect()
}

/// Every kernel counts one multiply-add per product it accumulates: a matrix product m·k·n (all
/// four transpose cases, accumulating or not), a dot product its length, `dots` its length per
/// vector, `lin_combs` p per vector and combination, an axpy its length; tanh one per call; those
/// with a zero operand apart too.
#[test]
fn every_kernel_counts_one_multiply_add_per_accumulated_product() {
    let _serial = serial();
    let (m, k, n) = (7, 5, 3);
    let (a, b) = (vec256(m * k, 1), vec256(k * n, 2));
    for ta in [false, true] {
        for tb in [false, true] {
            for accumulate in [false, true] {
                let mut c = vec256(m * n, 3);
                let ((), ops) = count_mpfr_ops(|| gemm_generic(&mut c, &a, ta, &b, tb, (m, k, n), accumulate));
                assert_eq!(ops, MpfrOps { muladds: (m * k * n) as u64, zero_operand: 0, tanh: 0 }, "gemm ta = {ta}, tb = {tb}, accumulate = {accumulate}");
            }
        }
    }
    let p = 37;
    let (x, y, z) = (vec256(p, 4), vec256(p, 5), vec256(p, 6));
    assert_eq!(count_mpfr_ops(|| dot(&x, &y)).1.muladds, p as u64);
    assert_eq!(count_mpfr_ops(|| dots(&x, &[&y, &z, &x])).1.muladds, 3 * p as u64);
    let (s1, s2) = (vec256(3, 7), vec256(3, 8));
    let (mut o1, mut o2) = (zeros::<Float>(p, 256), zeros::<Float>(p, 256));
    let ((), ops) = count_mpfr_ops(|| lin_combs(&[&s1, &s2], &[&x, &y, &z], &mut [&mut o1, &mut o2]));
    assert_eq!(ops.muladds, 2 * 3 * p as u64);
    let ((), ops) = count_mpfr_ops(|| linalg::axpy(&s1[0], &x, &mut o1));
    assert_eq!(ops.muladds, p as u64);
    let (_, ops) = count_mpfr_ops(|| x.iter().map(Scalar::tanh).collect::<Vec<_>>());
    assert_eq!(ops, MpfrOps { muladds: 0, zero_operand: 0, tanh: p as u64 });
    // Zero operands are counted apart: x with 5 entries zeroed, dotted with y, and 0·y.
    let mut x0 = x.clone();
    for e in x0.iter_mut().step_by(8) {
        e.set_zero();
    }
    assert_eq!(count_mpfr_ops(|| dot(&x0, &y)).1, MpfrOps { muladds: p as u64, zero_operand: 5, tanh: 0 });
    // … whichever factor is the zero (mutation audit round 3: only the first was counted).
    assert_eq!(count_mpfr_ops(|| dot(&y, &x0)).1, MpfrOps { muladds: p as u64, zero_operand: 5, tanh: 0 });
    let ((), ops) = count_mpfr_ops(|| linalg::axpy(&Float::with_val(256, 0), &y, &mut o2));
    assert_eq!((ops.muladds, ops.zero_operand), (p as u64, p as u64));
}

/// f64 operations are not counted (the f64 rows have analytic FLOP counts; the counter is MPFR's).
#[test]
fn f64_operations_are_not_counted() {
    let _serial = serial();
    let (m, k, n) = (6, 4, 5);
    let a: Vec<f64> = (0..m * k).map(|i| i as f64).collect();
    let b: Vec<f64> = (0..k * n).map(|i| 1.0 / (1.0 + i as f64)).collect();
    let mut c = vec![0.0; m * n];
    let ((), ops) = count_mpfr_ops(|| {
        gemm_generic(&mut c, &a, false, &b, false, (m, k, n), false);
        std::hint::black_box(<f64 as Scalar>::tanh(&c[0]));
    });
    assert_eq!(ops, MpfrOps::default());
}

/// A scope nested in another returns its own operations and adds them to the outer count; after a
/// panic inside a scope (which poisons the scopes' lock) the next scope counts from its own start.
#[test]
fn nested_scopes_count_their_own_work_and_scopes_work_after_a_panic() {
    let _serial = serial();
    let (x, y) = (vec256(10, 1), vec256(10, 2));
    let ((_, inner), outer) = count_mpfr_ops(|| {
        dot(&x, &y);
        count_mpfr_ops(|| dot(&x, &y))
    });
    assert_eq!((inner.muladds, outer.muladds), (10, 20));
    let caught = std::panic::catch_unwind(|| count_mpfr_ops(|| -> () { panic!("inside a counting scope") }));
    assert!(caught.is_err());
    // Work outside any scope is in no count; the next scope counts only its own.
    dot(&x, &y);
    assert_eq!(count_mpfr_ops(|| dot(&x, &y)).1.muladds, 10);
}

/// The MLP's primitives at 256 bits: every product of the analytic count (benches/engine.rs
/// `Flops`, in multiply-adds: loss+gradient (3Σf_l − f_1)/2 with f_l = 2·n·in_l·out_l, an HVP at
/// an unchanged θ f_1 + 3Σ_{l>1}f_l) is counted, plus the elementwise multiply-adds of the loss
/// and the activation chain, at most 2 per unit (hidden or output) and sample (measured 1.0 for
/// loss+gradient, 1.14 for the HVP); a new θ evaluates n·Σhidden tanh. The counts do
/// not depend on the thread count (the same operations run whichever thread runs them), for the
/// primitives and for a warm eigen solve, whose count also holds its solver work beyond its HVPs,
/// as long as the model's cache of θ-only blocks holds the same θ's (it keeps one θ with one
/// thread, two with two: a solve at θ after one at another point recomputes θ's forward pass with
/// one thread only, 10,500 multiply-adds and 120 tanh here).
#[test]
fn mlp_counts_hold_every_product_and_do_not_depend_on_the_thread_count() {
    let _serial = serial();
    let (layers, n) = ([64usize, 4, 10], 30);
    let ds = digits(n).unwrap();
    let p = selfstab::models::mlp::param_count(&layers);
    let f: Vec<u64> = layers.windows(2).map(|w| (n * w[0] * w[1]) as u64).collect();
    let (sum, first) = (f.iter().sum::<u64>(), f[0]);
    let units = (n * layers[1..].iter().sum::<usize>()) as u64;
    let hidden_tanh = (n * layers[1..layers.len() - 1].iter().sum::<usize>()) as u64;
    let run = |threads: usize| {
        set_threads(threads);
        // A fresh model per run: each run starts with nothing cached.
        let obj = Mlp::<Float>::new(&layers, Activation::Tanh, LossKind::Mse, &ds, 256).unwrap();
        let th: Vec<Float> = from_f64(&init_params(&layers, 12).unwrap(), 256);
        let th_prev: Vec<Float> = from_f64(&init_params(&layers, 11).unwrap(), 256);
        let v = vec256(p, 9);
        let mut g = zeros::<Float>(p, 256);
        let (_, lg) = count_mpfr_ops(|| obj.grad(&th, &mut g).unwrap());
        let (_, hvp) = count_mpfr_ops(|| obj.hvp(&th, &v, &mut g).unwrap());
        let opts = EigenOpts::top::<Float>(1, 256);
        // The warm start from another model: a solve at θ_prev on `obj` would leave θ_prev's
        // blocks in its cache, which keeps one θ with one thread and two with two, so that the
        // solve at θ would recompute θ's blocks with one thread only.
        let other = Mlp::<Float>::new(&layers, Activation::Tanh, LossKind::Mse, &ds, 256).unwrap();
        let warm = top_eigen(&other, &th_prev, None, &opts).unwrap().vectors[0].clone();
        let (eig, solve) = count_mpfr_ops(|| top_eigen(&obj, &th, Some(&warm), &opts).unwrap());
        set_threads(1);
        (lg, hvp, eig.hvps, solve)
    };
    let (lg, hvp, hvps, solve) = run(1);
    assert!(lg.muladds >= 3 * sum - first && lg.muladds <= 3 * sum - first + 2 * units, "loss+gradient: {lg:?}");
    assert_eq!(lg.tanh, hidden_tanh, "a new θ: one tanh per hidden unit and sample");
    let hvp_products = 2 * first + 6 * (sum - first);
    assert!(hvp.muladds >= hvp_products && hvp.muladds <= hvp_products + 2 * units, "HVP at an unchanged θ: {hvp:?}");
    assert!(solve.muladds > hvps * hvp.muladds, "the solve's {solve:?} over {hvps} HVPs of {hvp:?}");
    let two = run(2);
    assert_eq!((lg, hvp, hvps, solve), two, "one thread against two");
}
