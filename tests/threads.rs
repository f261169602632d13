//! Two threads (`linalg::set_threads(2)`) give the same bits as one (issue 7; shared/decisions.md §7:
//! the fast path must stay deterministic). The MLP splits its elementwise passes at a fixed index and
//! faer splits products by rows/columns, never a sum, so every entry is computed by the same
//! operations whichever thread computes it. Its own test binary: `set_threads` is process-global.

use selfstab::data::{digits, init_params};
use selfstab::linalg::set_threads;
use selfstab::models::mlp::{Activation, LossKind, Mlp};
use selfstab::objective::Objective;

/// Every primitive of the fast path (loss+gradient, HVP at a new and at an unchanged θ, ∇³L[v,w],
/// ∇³L[v,v], ∇⁴L[v,v,v]) with 1 and with 2 threads, compared bit for bit. n·width = 300·64 = 19,200
/// is above the size from which the elementwise passes are split (`jet::PAR_MIN` = 16,384), and the
/// 300×64×64 products above the 2-thread product threshold, so both splits are exercised.
#[test]
fn two_threads_give_the_same_bits_as_one() {
    let layers = [64usize, 64, 64, 10];
    let ds = digits(300).unwrap();
    assert!(300 * 64 >= selfstab::models::jet::PAR_MIN);
    for act in [Activation::Tanh, Activation::Silu] {
        let obj = Mlp::<f64>::new(&layers, act, LossKind::Mse, &ds, ()).unwrap();
        let p = obj.dim();
        let th = init_params(&layers, 3).unwrap();
        let th2 = init_params(&layers, 4).unwrap();
        let v: Vec<f64> = (0..p).map(|i| ((i * 7919 % 1009) as f64 / 1009.0 - 0.5) * 0.1).collect();
        let w: Vec<f64> = (0..p).map(|i| ((i * 104_729 % 997) as f64 / 997.0 - 0.5) * 0.1).collect();
        let run = |threads: usize| -> Vec<Vec<u64>> {
            set_threads(threads);
            let mut outs = Vec::new();
            let mut o = vec![0.0; p];
            let bits = |o: &[f64]| o.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
            let l = obj.grad(&th, &mut o).unwrap();
            outs.push(bits(&o));
            outs.push(vec![l.to_bits()]);
            obj.hvp(&th2, &v, &mut o).unwrap(); // moves the stored constant blocks to θ₂
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
            assert_eq!(differ, 0, "{}: output {k} differs in {differ} entries between 1 and 2 threads", act.name());
        }
        // The outputs are not trivially zero (the comparison would then prove nothing).
        assert!(one.iter().all(|o| o.iter().any(|&x| f64::from_bits(x) != 0.0)));
    }
}
