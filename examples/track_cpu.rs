//! Thread CPU time of the tiny tracking step in its steady state (issue 7): 60 tracking steps from
//! the first unstable iterate (tiny: 64,32,32,32,10; n = 200; η = 0.2297; seed 0; tol 1e-10), with
//! the CPU time split into the objective's calls (value, gradient, HVP, third derivatives) and the
//! rest (eigen solver, projections' bookkeeping). Uses only APIs that predate the warm-start
//! trails, so the same file builds against older trees for back-to-back comparisons.
//!
//! `cargo run --release --example track_cpu`

use selfstab::data::{digits, init_params};
use selfstab::error::EvalError;
use selfstab::gd::find_instability;
use selfstab::models::mlp::{Activation, LossKind, Mlp};
use selfstab::objective::Objective;
use selfstab::tracking::{self, TrackOpts};

fn cpu_ns() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    s.split_whitespace().next().unwrap().parse().unwrap()
}

/// Adds each call's thread CPU time to per-kind totals (ns): value, grad, hvp, d3/d4.
struct Timed<'a> {
    inner: &'a dyn Objective<f64>,
    ns: std::sync::Mutex<[u64; 4]>,
    hvps: std::sync::atomic::AtomicU64,
}

impl Timed<'_> {
    fn time<R>(&self, k: usize, f: impl FnOnce() -> R) -> R {
        let t0 = cpu_ns();
        let r = f();
        self.ns.lock().unwrap()[k] += cpu_ns() - t0;
        r
    }
}

impl Objective<f64> for Timed<'_> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn ctx(&self) {}
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn value(&self, t: &[f64]) -> Result<f64, EvalError> {
        self.time(0, || self.inner.value(t))
    }
    fn grad(&self, t: &[f64], g: &mut [f64]) -> Result<f64, EvalError> {
        self.time(1, || self.inner.grad(t, g))
    }
    fn hvp(&self, t: &[f64], v: &[f64], o: &mut [f64]) -> Result<(), EvalError> {
        self.hvps.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.time(2, || self.inner.hvp(t, v, o))
    }
    fn d3(&self, t: &[f64], v: &[f64], w: &[f64], o: &mut [f64]) -> Result<(), EvalError> {
        self.time(3, || self.inner.d3(t, v, w, o))
    }
    fn d3_sym(&self, t: &[f64], v: &[f64], o: &mut [f64]) -> Result<(), EvalError> {
        self.time(3, || self.inner.d3_sym(t, v, o))
    }
    fn d4(&self, t: &[f64], v: &[f64], o: &mut [f64]) -> Result<(), EvalError> {
        self.time(3, || self.inner.d4(t, v, o))
    }
}

fn main() {
    let layers: &[usize] = &[64, 32, 32, 32, 10];
    let obj = Mlp::<f64>::new(layers, Activation::Tanh, LossKind::Mse, &digits(200).unwrap(), ()).unwrap();
    let eta = 0.2297;
    let ins = find_instability(&obj, &eta, &init_params(layers, 0).unwrap(), 20_000, 1e-10, &mut []).unwrap();
    let topts = TrackOpts { projection_steps: 3, gap_every: 0, gap_threshold: None, eig_tol: 1e-10 };
    let mut st = tracking::start(&obj, &eta, &ins.theta, Some(&ins.u), &topts).unwrap();
    let tm = Timed { inner: &obj, ns: std::sync::Mutex::new([0; 4]), hvps: 0.into() };
    let n = 60;
    let mut per_step = vec![];
    let t0 = cpu_ns();
    for _ in 0..n {
        let h0 = tm.hvps.load(std::sync::atomic::Ordering::Relaxed);
        tracking::step(&tm, &eta, &mut st, &topts).unwrap();
        per_step.push(tm.hvps.load(std::sync::atomic::Ordering::Relaxed) - h0);
    }
    let tot = (cpu_ns() - t0) as f64 / n as f64 / 1e6;
    let ns = *tm.ns.lock().unwrap();
    let part: Vec<f64> = ns.iter().map(|&x| x as f64 / n as f64 / 1e6).collect();
    let h = tm.hvps.load(std::sync::atomic::Ordering::Relaxed) as f64 / n as f64;
    let late = per_step[20..].iter().sum::<u64>() as f64 / (n - 20) as f64;
    println!(
        "tiny, {n} tracking steps from step {}: {tot:.2} ms CPU/step; HVPs/step {h:.1} (all HVPs counted; steps 20–59: {late:.1}); value {:.2}, grad {:.2}, hvp {:.2} ms ({:.3} ms/HVP), d3 {:.2} ms; rest (eigen solver, bookkeeping) {:.2} ms",
        ins.step,
        part[0],
        part[1],
        part[2],
        part[2] / h,
        part[3],
        tot - part.iter().sum::<f64>()
    );
}
