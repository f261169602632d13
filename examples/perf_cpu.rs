//! Thread-CPU-time measurement of the f64 engine primitives (issue 7), for a machine whose wall
//! clock is unusable (shared, oversubscribed): each primitive is timed by the calling thread's
//! on-CPU time from `/proc/thread-self/schedstat` (nanoseconds; time spent runnable but waiting for
//! a core is not counted), median of 5 batches, together with the faer products of the forward
//! shapes measured the same way as the in-run reference. One thread (`set_threads(1)`).
//!
//! `cargo run --release --example perf_cpu -- tiny|medium|large|xl|nano256`

use std::hint::black_box;

use selfstab::data::{digits, init_params};
use selfstab::gd::{SearchError, find_instability, gd_step};
use selfstab::mag::Mag;
use selfstab::models::mlp::{Activation, LossKind, Mlp, param_count};
use selfstab::objective::Objective;
use selfstab::scalar::Scalar;
use selfstab::sharpness::{EigenOpts, center, top_eigen};
use selfstab::stable_set::lin_proj;
use selfstab::tracking::{self, TrackOpts};

#[path = "support/cpu.rs"]
mod cpu;
use cpu::measure;

/// `nano256`: the 256-bit HVP, warm eigen solve and projection step on nano (64-4-10, n = 30,
/// η = 0.12, θ after 3000 GD steps as in `benches/engine.rs`).
fn nano256() {
    use rug::Float;
    let layers: &[usize] = &[64, 4, 10];
    let ds = digits(30).expect("digits");
    let o64 = Mlp::<f64>::new(layers, Activation::Tanh, LossKind::Mse, &ds, ()).expect("mlp");
    let mut th = init_params(layers, 0).unwrap();
    let mut g = vec![0.0; th.len()];
    let mut prev = th.clone();
    for _ in 0..3000 {
        prev.clone_from(&th);
        gd_step(&o64, &0.12, &mut th, &mut g).unwrap();
    }
    let obj = Mlp::<Float>::new(layers, Activation::Tanh, LossKind::Mse, &ds, 256).expect("mlp");
    let theta: Vec<Float> = selfstab::linalg::from_f64(&th, 256);
    let prev: Vec<Float> = selfstab::linalg::from_f64(&prev, 256);
    let opts = EigenOpts::top::<Float>(1, 256);
    let u_prev = top_eigen(&obj, &prev, None, &opts).unwrap().vectors[0].clone();
    let warm = top_eigen(&obj, &theta, Some(&u_prev), &opts).unwrap();
    let u = warm.vectors[0].clone();
    let mut out: Vec<Float> = selfstab::linalg::zeros(obj.dim(), 256);
    let hv = measure(|| obj.hvp(&theta, &u, &mut out).unwrap());
    let eig = measure(|| {
        black_box(top_eigen(&obj, &theta, Some(&u_prev), &opts).unwrap());
    });
    println!(
        "[nano256] warm eigen {} HVPs (residual {:.1e}): HVP {hv:.3} ms, eigen {eig:.1} ms = {:.0} HVP-equivalents, overhead beyond HVPs {:.1} ms",
        warm.hvps,
        warm.residuals[0],
        eig / hv,
        eig - warm.hvps as f64 * hv
    );
}

/// `xl`: 64-256-256-256-10, n = 1797 (the criterion xl shapes). The instability search is too slow
/// here, so θ is a cheap point: init_params + 300 GD steps at η = 0.05 (prev: the point one step
/// before), u the top Hessian eigenvector at θ. Loss+grad, HVP and ∇S at θ and at a new θ.
fn xl() {
    let layers: &[usize] = &[64, 256, 256, 256, 10];
    let ds = digits(1797).expect("digits");
    let obj = Mlp::<f64>::new(layers, Activation::Tanh, LossKind::Mse, &ds, ()).expect("mlp");
    let p = obj.dim();
    const STEPS: usize = 300;
    let mut theta = init_params(layers, 0).unwrap();
    let mut out = vec![0.0; p];
    let mut prev = theta.clone();
    for _ in 0..STEPS {
        prev.clone_from(&theta);
        gd_step(&obj, &0.05, &mut theta, &mut out).unwrap();
    }
    let u = top_eigen(&obj, &theta, None, &EigenOpts::top::<f64>(1, ())).unwrap().vectors[0].clone();
    println!("[xl] p = {p}, θ = init + {STEPS} GD steps at η = 0.05 (not at the instability), u = top eigenvector at θ");
    let lg = measure(|| {
        black_box(obj.grad(&theta, &mut out).unwrap());
        black_box(obj.grad(&prev, &mut out).unwrap());
    }) / 2.0;
    let hv = measure(|| obj.hvp(&theta, &u, &mut out).unwrap());
    let ds3 = measure(|| obj.d3_sym(&theta, &u, &mut out).unwrap());
    let points = [&theta, &prev];
    let hv_new = measure(|| points.iter().for_each(|at| obj.hvp(at, &u, &mut out).unwrap())) / 2.0;
    let ds3_new = measure(|| points.iter().for_each(|at| obj.d3_sym(at, &u, &mut out).unwrap())) / 2.0;
    println!("loss+grad {lg:.3} ms; HVP {hv:.3} ms ({:.2}×); ∇S {ds3:.3} ms ({:.2}×)", hv / lg, ds3 / lg);
    println!("HVP new θ {hv_new:.3} ms ({:.2}×); ∇S new θ {ds3_new:.3} ms ({:.2}×)", hv_new / lg, ds3_new / lg);
}

fn main() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "tiny".into());
    if name == "nano256" {
        return nano256();
    }
    if name == "xl" {
        return xl();
    }
    let (layers, n, eta_s): (&[usize], usize, &str) = match name.as_str() {
        "tiny" => (&[64, 32, 32, 32, 10], 200, "0.2297"),
        "medium" => (&[64, 64, 64, 64, 10], 500, "0.2351"),
        "large" => (&[64, 128, 128, 10], 1000, "0.1773"),
        other => panic!("unknown configuration {other}"),
    };
    let ds = digits(n).expect("digits");
    let obj = Mlp::<f64>::new(layers, Activation::Tanh, LossKind::Mse, &ds, ()).expect("mlp");
    let p = obj.dim();
    let eta = f64::parse(eta_s, ()).unwrap();
    let init = init_params(layers, 0).unwrap();
    let step = match find_instability(&obj, &eta, &init, 20_000, Mag::new(1e-10), &mut []) {
        Ok(ins) => ins.step,
        Err(SearchError::NotReached { .. }) => panic!("no instability"),
        Err(e) => panic!("{e}"),
    };
    let mut theta = init;
    let mut g = vec![0.0; p];
    let mut prev = theta.clone();
    for _ in 0..step {
        prev.clone_from(&theta);
        gd_step(&obj, &eta, &mut theta, &mut g).unwrap();
    }
    let tol = 1e-10;
    let opts = EigenOpts::top::<f64>(1, ());
    let u_prev = top_eigen(&obj, &prev, None, &opts).unwrap().vectors[0].clone();
    let warm = top_eigen(&obj, &theta, Some(&u_prev), &opts).unwrap();
    let opts9 = EigenOpts { tol: Mag::new(1e-9), ..opts.clone() };
    let warm9 = top_eigen(&obj, &theta, Some(&u_prev), &opts9).unwrap();
    let u = warm.vectors[0].clone();
    let cen = center(&obj, &theta, Some(&u_prev), Mag::new(tol)).unwrap();
    let topts = TrackOpts { projection_steps: 3, gap_every: 0, gap_threshold: None, eig_tol: Mag::new(tol), chain_tol: None };
    let st0 = tracking::start(&obj, &eta, &theta, Some(&u_prev), &topts).unwrap();
    let mut probe = st0.clone();
    let (row, stop) = tracking::step(&obj, &eta, &mut probe, &topts).unwrap();
    // The timed steps repeat this one from the same state: a stop would make them not a step's.
    assert!(stop.is_none(), "[{name}] the probe tracking step stopped: {}", stop.map(|s| s.message()).unwrap_or_default());
    println!("[{name}] p = {} ({}), step {step}, warm eigen {} HVPs at 1e-10, {} at 1e-9; tracking step {} HVPs", p, param_count(layers), warm.hvps, warm9.hvps, row.hvps);

    let mut out = vec![0.0; p];
    // Alternating θ: every call is at a new point (as in a GD run), so nothing of the previous
    // call's θ can be reused.
    let lg = measure(|| {
        black_box(obj.grad(&theta, &mut out).unwrap());
        black_box(obj.grad(&prev, &mut out).unwrap());
    }) / 2.0;
    const GD_STEPS: usize = 200;
    let gd = measure(|| {
        let mut th = theta.clone();
        for _ in 0..GD_STEPS {
            black_box(gd_step(&obj, &eta, &mut th, &mut out).unwrap());
        }
    }) / GD_STEPS as f64;
    let hv = measure(|| obj.hvp(&theta, &u, &mut out).unwrap());
    let ds3 = measure(|| obj.d3_sym(&theta, &u, &mut out).unwrap());
    // At a new θ: three points in turn (a cache of the last one or two θ's never hits).
    let third: Vec<f64> = theta.iter().zip(&prev).map(|(a, b)| 0.5 * (a + b)).collect();
    let points = [&theta, &prev, &third];
    let hv_new = measure(|| {
        for at in points {
            obj.hvp(at, &u, &mut out).unwrap();
        }
    }) / 3.0;
    let ds3_new = measure(|| {
        for at in points {
            obj.d3_sym(at, &u, &mut out).unwrap();
        }
    }) / 3.0;
    let eig = measure(|| {
        black_box(top_eigen(&obj, &theta, Some(&u_prev), &opts).unwrap());
    });
    let eig9 = measure(|| {
        black_box(top_eigen(&obj, &theta, Some(&u_prev), &opts9).unwrap());
    });
    let lp = measure(|| {
        black_box(lin_proj(&obj, &eta, &cen, Mag::new(tol)).unwrap());
    });
    let ts = measure(|| {
        let mut st = st0.clone();
        black_box(tracking::step(&obj, &eta, &mut st, &topts).unwrap());
    });
    let shapes: Vec<(usize, usize, usize)> = layers.windows(2).map(|w| (n, w[0], w[1])).collect();
    let mut faer = cpu::FaerShapes::new(&shapes);
    let fa = measure(|| faer.run());
    let f: Vec<f64> = shapes.iter().map(|&(m, k, nn)| 2.0 * (m * k * nn) as f64).collect();
    let fsum: f64 = f.iter().sum();
    // FLOPs of the products issued: HVP and ∇S are timed at an unchanged θ, where the MLP reuses the
    // θ-only blocks (2f₁ + 6Σ_{l>1}f_l and 2f₁ + 11Σ_{l>1}f_l; benches/engine.rs `Flops`).
    let (flg, fhv, fds) = (3.0 * fsum - f[0], 2.0 * f[0] + 6.0 * (fsum - f[0]), 2.0 * f[0] + 11.0 * (fsum - f[0]));
    let gf = |flop: f64, ms: f64| flop / ms / 1e6;
    let faer_gf = gf(fsum, fa);
    println!("faer forward shapes {fa:.4} ms = {:.1} GFLOP/s", faer_gf);
    for (what, flop, ms) in [("loss+grad", flg, lg), ("HVP", fhv, hv), ("∇S", fds, ds3)] {
        println!("{what}: {ms:.4} ms, {:.1} GFLOP/s = {:.0}% of faer", gf(flop, ms), 100.0 * gf(flop, ms) / faer_gf);
    }
    println!("HVP new θ: {hv_new:.4} ms; ∇S new θ: {ds3_new:.4} ms");
    println!("gd_step ({GD_STEPS} steps from θ): {gd:.4} ms/step");
    println!("eigen warm 1e-10 ({} HVPs): {eig:.3} ms; overhead beyond HVPs {:.3} ms", warm.hvps, eig - warm.hvps as f64 * hv);
    println!("eigen warm 1e-9 ({} HVPs): {eig9:.3} ms", warm9.hvps);
    println!("lin_proj: {lp:.3} ms; tracking step ({} HVPs): {ts:.3} ms", row.hvps);
}
