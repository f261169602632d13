//! Two threads (`linalg::set_threads(2)`) give the same bits as one (issue 7; theory/reference/decisions.md §7:
//! the fast path must stay deterministic). The MLP splits its elementwise passes at a fixed index and
//! faer splits products by rows/columns, never a sum, so every entry is computed by the same
//! operations whichever thread computes it. Its own test binary: `set_threads` is process-global.

use selfstab::central_flow::{self, FlowOpts};
use selfstab::data::{digits, init_params};
use selfstab::gd::find_instability;
use selfstab::linalg::set_threads;
use selfstab::mag::Mag;
use selfstab::models::mlp::{Activation, LossKind, Mlp};
use selfstab::objective::Objective;
use selfstab::multi::{self, MultiOpts, MultiState};
use selfstab::tracking::{self, TrackOpts};

/// `set_threads` is process-global: the tests of this binary take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Every primitive of the fast path (loss+gradient, HVP at a new and at an unchanged θ, ∇³L[v,w],
/// ∇³L[v,v], ∇⁴L[v,v,v]) with 1 and with 2 threads, compared bit for bit, on two networks:
/// 64-64-64-10 on n = 300 (two data shards of 150 rows, one per thread) and 64-160-10 on n = 127
/// (one shard, below `SHARD_MIN_ROWS`, whose elementwise passes over n·width = 20,320 ≥ `jet::PAR_MIN`
/// = 16,384 entries split in two at entry 10,160, inside row 63: each half must add the bias of its
/// entries' columns, counted from its own offset). faer's split products are checked by
/// [`products_give_the_same_bits_with_two_threads`].
#[test]
fn two_threads_give_the_same_bits_as_one() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const { assert!(127 * 160 >= selfstab::models::jet::PAR_MIN && 127 < selfstab::models::mlp::SHARD_MIN_ROWS && (127 * 160 / 2) % 160 != 0) };
    for (layers, n) in [(&[64usize, 64, 64, 10][..], 300), (&[64, 160, 10][..], 127)] {
        let ds = digits(n).unwrap();
        for act in [Activation::Tanh, Activation::Silu] {
            let obj = Mlp::<f64>::new(layers, act, LossKind::Mse, &ds, ()).unwrap();
            let p = obj.dim();
            let th = init_params(layers, 3).unwrap();
            let th2 = init_params(layers, 4).unwrap();
            let th3 = init_params(layers, 5).unwrap();
            let v: Vec<f64> = (0..p).map(|i| ((i * 7919 % 1009) as f64 / 1009.0 - 0.5) * 0.1).collect();
            let w: Vec<f64> = (0..p).map(|i| ((i * 104_729 % 997) as f64 / 997.0 - 0.5) * 0.1).collect();
            let run = |threads: usize| -> Vec<Vec<u64>> {
                set_threads(threads);
                // A fresh model per thread count: one model would answer the second count's first
                // evaluations at θ from the blocks it stored at θ under the first.
                let obj = Mlp::<f64>::new(layers, act, LossKind::Mse, &ds, ()).unwrap();
                let mut outs = Vec::new();
                let mut o = vec![0.0; p];
                let bits = |o: &[f64]| o.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
                let l = obj.grad(&th, &mut o).unwrap();
                outs.push(bits(&o));
                outs.push(vec![l.to_bits()]);
                obj.hvp(&th2, &v, &mut o).unwrap(); // the stored constant blocks: θ₂ and θ
                obj.hvp(&th3, &v, &mut o).unwrap(); // θ₃ and θ₂
                obj.hvp(&th, &v, &mut o).unwrap(); // new θ
                outs.push(bits(&o));
                obj.hvp(&th, &v, &mut o).unwrap(); // unchanged θ
                outs.push(bits(&o));
                obj.d3(&th, &v, &w, &mut o).unwrap();
                outs.push(bits(&o));
                obj.d3_sym(&th, &v, &mut o).unwrap();
                outs.push(bits(&o));
                obj.d4(&th, &v, &mut o).unwrap();
                outs.push(bits(&o));
                set_threads(1);
                outs
            };
            let one = run(1);
            let two = run(2);
            for (k, (a, b)) in one.iter().zip(&two).enumerate() {
                let differ = a.iter().zip(b).filter(|(x, y)| x != y).count();
                assert_eq!(differ, 0, "{layers:?}, n = {n}, {}: output {k} differs in {differ} entries between 1 and 2 threads", act.name());
            }
            // The outputs are not trivially zero (the comparison would then prove nothing).
            assert!(one.iter().all(|o| o.iter().any(|&x| f64::from_bits(x) != 0.0)));
        }
    }
}

/// A 64-32-32-10 tanh MLP (MSE, digits n = 200; p > `TRAIL_MIN_DIM`: the trail solves), η = 0.25
/// and its first unstable GD iterate (seed-0 initialisation).
fn unstable_mlp() -> (Mlp<f64>, f64, selfstab::gd::Instability<f64>) {
    let layers = [64usize, 32, 32, 10];
    let obj = Mlp::<f64>::new(&layers, Activation::Tanh, LossKind::Mse, &digits(200).unwrap(), ()).unwrap();
    let eta = 0.25;
    let ins = find_instability(&obj, &eta, &init_params(&layers, 0).unwrap(), 20_000, Mag::new(1e-10), &mut []).unwrap();
    (obj, eta, ins)
}

/// Tracking steps with two threads (the work at θ_t and θ†_t concurrently with θ†'s constrained
/// step: `tracking::step`, and after a switch to the k-eigenvalue projection `multi::step`) give the
/// same rows and states (θ†'s trail included) as with one, also through a step that stops the run
/// (λ₂ above a threshold reached only at the last gap check; two threads have then run θ†'s step
/// too, on a copy of its trail that the state does not take over), on [`unstable_mlp`]. The state
/// is compared as serialised: a checkpoint (`commands::run`) holds it so (and is removed when the run
/// ends, after a stop too).
#[test]
fn tracking_steps_give_the_same_bits_with_two_threads() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (obj, eta, ins) = unstable_mlp();
    // Rows (bits, without the wall clock) and stops of 12 steps, and the final state.
    let run = |threads: usize, gap_threshold: Option<f64>, k: usize| {
        let opts = TrackOpts { projection_steps: 3, gap_every: 4, gap_threshold, eig_tol: Mag::new(1e-10), chain_tol: None };
        let mo = MultiOpts { k, crit: gap_threshold.unwrap_or(1.9) };
        let mut st = tracking::start(&obj, &eta, &ins.theta, Some(&ins.u), &opts).unwrap();
        let mut ms = MultiState::default();
        set_threads(threads);
        let mut rows = vec![];
        for _ in 0..12 {
            let (mut row, stop) = multi::step(&obj, &eta, &mut st, &mut ms, &opts, &mo).unwrap();
            row.step_seconds = 0.0;
            rows.push((row.values().iter().map(|x| x.to_bits()).collect::<Vec<u64>>(), stop.clone()));
            if stop.is_some() {
                break;
            }
        }
        set_threads(1);
        (rows, serde_json::to_string(&(st, ms)).unwrap())
    };
    let (one, state) = run(1, None, 1);
    assert_eq!(one.len(), 12);
    assert_eq!(run(2, None, 1), (one.clone(), state), "rows or state differ between 1 and 2 threads");
    // λ₂(θ†) at the gap check of step 8 lies above the threshold, at steps 0 and 4 below.
    let col = tracking::COLUMNS.iter().position(|c| *c == "lambda2_dagger").unwrap();
    let l2 = |t: usize| f64::from_bits(one[t].0[col]);
    assert!(l2(8) > l2(0).max(l2(4)), "λ₂(θ†) does not grow over the run; the stop case needs another threshold");
    let thr = (l2(8) + l2(0).max(l2(4))) / 2.0 * eta;
    let (stop1, state1) = run(1, Some(thr), 1);
    assert_eq!(stop1.len(), 9);
    assert!(matches!(stop1[8].1, Some(tracking::StopReason::Eigengap(_))));
    assert_eq!(run(2, Some(thr), 1), (stop1, state1), "the stopping step differs between 1 and 2 threads");
    // The same threshold with the 2-eigenvalue continuation: switch at step 8, then 3 steps.
    let (cont1, state1) = run(1, Some(thr), 2);
    assert_eq!(cont1.len(), 12);
    assert_eq!(run(2, Some(thr), 2), (cont1, state1), "the k-eigenvalue steps differ between 1 and 2 threads");
}

/// The GD vs central-flow comparison (`central_flow::compare`: the flow's sub-steps concurrently
/// with GD's step) gives the same rows with 1 and 2 threads ([`unstable_mlp`], 6 steps).
#[test]
fn central_flow_gives_the_same_bits_with_two_threads() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (obj, eta, ins) = unstable_mlp();
    let run = |threads: usize| {
        set_threads(threads);
        let (rows, maxres) = central_flow::compare(&obj, &eta, &ins.theta, 6, &FlowOpts::new::<f64>(()), |_| {}).unwrap();
        set_threads(1);
        format!("{rows:?} {maxres:?}")
    };
    assert_eq!(run(1), run(2), "the comparison differs between 1 and 2 threads");
}

/// faer's products (`linalg::gemm_faer`) above the 2-thread product threshold (2²⁰ multiply-adds)
/// give the same bits with 1 and 2 threads: 512×256×256 and products
/// with one output row or column (matrix–vector products, which faer would split over k; they stay
/// sequential), each operand transposed or not.
#[test]
fn products_give_the_same_bits_with_two_threads() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let len = 1 << 21;
    let a: Vec<f64> = (0..len).map(|i| ((i * 7919 % 1009) as f64 / 1009.0 - 0.5) * 0.1).collect();
    let b: Vec<f64> = (0..len).map(|i| ((i * 104_729 % 997) as f64 / 997.0 - 0.5) * 0.1).collect();
    for (m, k, n) in [(512, 256, 256), (2048, 1024, 1), (1, 1024, 2048)] {
        assert!(m * k * n >= 1 << 20 && m * k <= len && k * n <= len);
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let run = |threads: usize| {
                set_threads(threads);
                let mut c = vec![0.0; m * n];
                selfstab::linalg::gemm_faer(&mut c, &a[..m * k], ta, &b[..k * n], tb, (m, k, n), false);
                set_threads(1);
                c.iter().map(|x| x.to_bits()).collect::<Vec<u64>>()
            };
            assert!(run(1) == run(2), "({m}, {k}, {n}), ta = {ta}, tb = {tb}: the bits differ between 1 and 2 threads");
        }
    }
}

/// The generic products (`linalg::gemm_generic`: MPFR, and f64 off the fast path) split C's rows over
/// two threads from 2¹² multiply-adds (MPFR) or 2²⁰ (f64) on and give the same bits as one thread:
/// 256 bits at 33×20×17 (odd row count: unequal halves) and f64 at 129×128×64, each operand
/// transposed or not, accumulating into C or not.
#[test]
fn generic_products_give_the_same_bits_with_two_threads() {
    use rug::Float;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let val = |i: usize, s: usize| ((i * s % 1009) as f64 / 1009.0 - 0.5) * 0.1;
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        for accumulate in [false, true] {
            let (m, k, n) = (33, 20, 17);
            let a: Vec<Float> = (0..m * k).map(|i| Float::with_val(256, val(i, 7919)).exp()).collect();
            let b: Vec<Float> = (0..k * n).map(|i| Float::with_val(256, val(i, 104_729)).exp()).collect();
            let run = |threads: usize| {
                set_threads(threads);
                let mut c: Vec<Float> = (0..m * n).map(|i| Float::with_val(256, val(i, 31)).exp()).collect();
                selfstab::linalg::gemm_generic(&mut c, &a, ta, &b, tb, (m, k, n), accumulate);
                set_threads(1);
                c
            };
            assert!(run(1) == run(2), "256 bits ({m}, {k}, {n}), ta = {ta}, tb = {tb}: the values differ between 1 and 2 threads");
            let (m, k, n) = (129, 128, 64);
            let a: Vec<f64> = (0..m * k).map(|i| val(i, 7919)).collect();
            let b: Vec<f64> = (0..k * n).map(|i| val(i, 104_729)).collect();
            let run = |threads: usize| {
                set_threads(threads);
                let mut c: Vec<f64> = (0..m * n).map(|i| val(i, 31)).collect();
                selfstab::linalg::gemm_generic(&mut c, &a, ta, &b, tb, (m, k, n), accumulate);
                set_threads(1);
                c.iter().map(|x| x.to_bits()).collect::<Vec<u64>>()
            };
            assert!(m * k * n >= 1 << 20 && run(1) == run(2), "f64 ({m}, {k}, {n}), ta = {ta}, tb = {tb}: the bits differ between 1 and 2 threads");
        }
    }
}

/// The eigen solves (`sharpness`) give the same bits with 1 and 2 threads: their passes over the
/// basis and its images (the dots of Gram–Schmidt and of G's new row, the Gram–Schmidt update, the
/// Lanczos vector, the Ritz residuals and the Ritz vectors) split over two threads from
/// `linalg::PASS_PAR_MIN` multiply-adds on (f64) or `PASS_PAR_MIN_MPFR` (MPFR), every entry and every
/// sum computed by the same operations either way. f64: the 64-64-64-10 tanh MLP (digits n = 300,
/// p = 8,970) — a cold solve (Krylov mode) of the top 2 pairs with thick restarts (basis of at most
/// 10), a warm solve from a subspace (explicit mode) and a preconditioned warm solve (8 stored Ritz
/// pairs) at a nearby point. MPFR: the same three at 256 bits on a 64-16-10 MLP (n = 20, p = 1,210).
#[test]
fn eigen_solves_give_the_same_bits_with_two_threads() {
    use rug::Float;
    use selfstab::linalg::{PASS_BLOCK, PASS_PAR_MIN, PASS_PAR_MIN_MPFR};
    use selfstab::scalar::Scalar;
    use selfstab::sharpness::{top_eigen, top_eigen_subspace, top_eigen_warm, Eigen, EigenOpts};
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    fn solves<S: Scalar>(obj: &dyn Objective<S>, th: &[S], th2: &[S], tol: f64) -> Vec<Eigen<S>> {
        let c = obj.ctx();
        let cold = EigenOpts { k: 2, tol: Mag::new(tol), max_basis: 10, max_hvps: 2000, warm_ritz: 8 };
        let e0 = top_eigen(obj, th, None, &cold).unwrap();
        let one = EigenOpts { tol: Mag::new(tol), warm_ritz: 8, ..EigenOpts::top::<S>(1, c) };
        let warm: Vec<Vec<S>> = e0.vectors.iter().chain(&e0.next_ritz).cloned().collect();
        let values: Vec<S> = e0.values.iter().chain(&e0.next_ritz_values).cloned().collect();
        let e1 = top_eigen_subspace(obj, th2, &warm[..3], &one).unwrap();
        let e2 = top_eigen_warm(obj, th2, &warm[1..], &values[1..], &one).unwrap();
        assert!(e0.hvps > 10 && warm.len() >= 9, "no restart, or too few stored pairs to precondition");
        vec![e0, e1, e2]
    }
    let key = |es: &[Eigen<f64>]| format!("{:?}", es.iter().map(|e| (e.values.iter().chain(e.vectors.iter().flatten()).map(|x| x.to_bits()).collect::<Vec<_>>(), e.residuals.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>(), e.hvps)).collect::<Vec<_>>());
    let layers = [64usize, 64, 64, 10];
    let obj = Mlp::<f64>::new(&layers, Activation::Tanh, LossKind::Mse, &digits(300).unwrap(), ()).unwrap();
    let p = obj.dim();
    assert!(p >= 2 * PASS_BLOCK && p * 8 >= PASS_PAR_MIN, "the passes would not split");
    let th = init_params(&layers, 3).unwrap();
    let th2: Vec<f64> = th.iter().enumerate().map(|(i, x)| x + 1e-3 * (((i * 7919) % 1009) as f64 / 1009.0 - 0.5)).collect();
    let run = |threads: usize| {
        set_threads(threads);
        let out = key(&solves(&obj, &th, &th2, 1e-9));
        set_threads(1);
        out
    };
    assert_eq!(run(1), run(2), "f64 eigen solves differ between 1 and 2 threads");
    let layers = [64usize, 16, 10];
    let obj = Mlp::<Float>::new(&layers, Activation::Tanh, LossKind::Mse, &digits(20).unwrap(), 256).unwrap();
    // The entry passes cut at a multiple of the block: at least two blocks.
    assert!(obj.dim() >= 2 * PASS_BLOCK && obj.dim() * 4 >= PASS_PAR_MIN_MPFR);
    let th: Vec<Float> = init_params(&layers, 3).unwrap().iter().map(|&x| Float::with_val(256, x)).collect();
    let th2: Vec<Float> = th.iter().enumerate().map(|(i, x)| Float::with_val(256, x + 1e-3 * (((i * 7919) % 1009) as f64 / 1009.0 - 0.5))).collect();
    let run = |threads: usize| {
        set_threads(threads);
        let out: Vec<_> = solves(&obj, &th, &th2, 1e-40).into_iter().map(|e| (e.values, e.vectors, e.residuals, e.hvps)).collect();
        set_threads(1);
        out
    };
    assert!(run(1) == run(2), "256-bit eigen solves differ between 1 and 2 threads");
}
