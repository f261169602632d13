//! Wall-clock cost of the 256-bit primitives on tiny (64,32,32,32,10; n = 200) with one and with two
//! threads (issue 7): with a free thread the MPFR products split C's rows over two threads
//! (`linalg::gemm_generic`, same values). Alternates 1, 2, 1, 2 threads; meaningful only on a quiet
//! machine. The loss+gradient row cycles through three θ's (the model keeps the θ-only blocks of the
//! last two with two threads), so every call is a full evaluation. The last row is a top-1 eigen
//! solve at 256 bits to 1e-20 from the f64 eigenvector (its passes over the basis split over two
//! threads too, `sharpness`).
//!
//! `cargo run --release --example mpfr_threads`
use rug::Float;
use selfstab::data::{digits, init_params};
use selfstab::linalg::set_threads;
use selfstab::mag::Mag;
use selfstab::models::mlp::{Activation, LossKind, Mlp};
use selfstab::objective::Objective;
use selfstab::sharpness::{top_eigen, EigenOpts};
use std::time::Instant;

fn main() {
    let layers = [64usize, 32, 32, 32, 10];
    let obj = Mlp::<Float>::new(&layers, Activation::Tanh, LossKind::Mse, &digits(200).expect("digits"), 256).expect("mlp");
    let p = obj.dim();
    let lift = |seed: u64| -> Vec<Float> { init_params(&layers, seed).expect("θ").iter().map(|x| Float::with_val(256, *x)).collect() };
    let (th, cycle) = (lift(0), [lift(1), lift(2), lift(3)]);
    let v: Vec<Float> = (0..p).map(|i| Float::with_val(256, ((i * 7919) % 1009) as f64 / 1009.0 - 0.5)).collect();
    let ms = |reps: usize, f: &mut dyn FnMut(usize)| {
        let t0 = Instant::now();
        (0..reps).for_each(&mut *f);
        t0.elapsed().as_secs_f64() / reps as f64 * 1e3
    };
    // The f64 top eigenvector at θ, lifted: the 256-bit solve's start.
    let obj64 = Mlp::<f64>::new(&layers, Activation::Tanh, LossKind::Mse, &digits(200).expect("digits"), ()).expect("mlp");
    let u64 = top_eigen(&obj64, &init_params(&layers, 0).expect("θ"), None, &EigenOpts::top::<f64>(1, ())).expect("f64 eigen");
    let start: Vec<Float> = u64.vectors[0].iter().map(|x| Float::with_val(256, *x)).collect();
    let opts = EigenOpts { tol: Mag::new(1e-20), ..EigenOpts::top::<Float>(1, 256) };
    for t in [1, 2, 1, 2] {
        set_threads(t);
        let mut out: Vec<Float> = (0..p).map(|_| Float::new(256)).collect();
        let g = ms(3, &mut |i| drop(obj.grad(&cycle[i % 3], &mut out).expect("grad")));
        let h = ms(3, &mut |_| obj.hvp(&th, &v, &mut out).expect("hvp"));
        let d = ms(2, &mut |_| obj.d3_sym(&th, &v, &mut out).expect("d3_sym"));
        let mut hvps = 0;
        let e = ms(1, &mut |_| hvps = top_eigen(&obj, &th, Some(&start), &opts).expect("256-bit eigen").hvps);
        println!("threads {t}: loss+grad {g:.1} ms, HVP {h:.1} ms, ∇S {d:.1} ms, eigen solve {e:.0} ms ({hvps} HVPs) (wall)");
    }
    set_threads(1);
}
