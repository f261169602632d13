//! Thread-CPU-time helpers shared by the measurement examples (`#[path = "support/cpu.rs"] mod
//! cpu;`): the calling thread's on-CPU time from `/proc/thread-self/schedstat` (time spent runnable
//! but waiting for a core is not counted), a batch-median timer, and an objective wrapper that adds
//! each call's CPU time to per-kind totals; also faer's forward-shape products ([`FaerShapes`], the
//! in-run throughput reference, which `benches/engine.rs` includes too). Only the `Objective` trait is used, so an example built
//! on these also builds against older trees (back-to-back comparisons).
#![allow(dead_code)]

use selfstab::error::EvalError;
use selfstab::objective::Objective;

/// The calling thread's CPU time so far (ns).
pub fn cpu_ns() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    s.split_whitespace().next().unwrap().parse().unwrap()
}

/// Median over 5 batches of the per-call thread CPU time (ms); each batch runs ≈ 0.1 s of CPU
/// (calibrated by calling until ≥ 30 ms of CPU have been counted: the counter advances at scheduler
/// ticks, so one short call can read as zero).
pub fn measure(mut f: impl FnMut()) -> f64 {
    f();
    let t0 = cpu_ns();
    let mut calls = 0u64;
    while cpu_ns() - t0 < 30_000_000 {
        f();
        calls += 1;
    }
    let per = (cpu_ns() - t0) / calls.max(1);
    let reps = (100_000_000 / per.max(1)).clamp(1, 100_000);
    let mut v: Vec<f64> = (0..5)
        .map(|_| {
            let t = cpu_ns();
            for _ in 0..reps {
                f();
            }
            (cpu_ns() - t) as f64 / reps as f64 / 1e6
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[2]
}

/// An objective that adds each call's thread CPU time to per-kind totals `ns` (value, grad, hvp,
/// d3/d3_sym/d4) and counts the HVPs.
pub struct Timed<'a> {
    pub inner: &'a dyn Objective<f64>,
    pub ns: std::sync::Mutex<[u64; 4]>,
    pub hvps: std::sync::atomic::AtomicU64,
}

impl<'a> Timed<'a> {
    pub fn new(inner: &'a dyn Objective<f64>) -> Self {
        Timed { inner, ns: std::sync::Mutex::new([0; 4]), hvps: 0.into() }
    }
    /// HVPs counted so far.
    pub fn hvps(&self) -> u64 {
        self.hvps.load(std::sync::atomic::Ordering::Relaxed)
    }
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

/// Calls of `f` per ≈ 0.1 s batch of wall clock (calibrated over ≥ 30 ms after one warm-up call).
pub fn wall_reps(f: &mut impl FnMut()) -> u64 {
    f();
    let t0 = std::time::Instant::now();
    let mut calls = 0u64;
    while t0.elapsed().as_millis() < 30 {
        f();
        calls += 1;
    }
    let per = t0.elapsed().as_nanos() as u64 / calls.max(1);
    (100_000_000 / per.max(1)).clamp(1, 100_000)
}

/// faer's products of the forward shapes [m, k]·[k, n] on deterministic operands: the in-run
/// throughput reference of the measurement examples.
pub struct FaerShapes {
    shapes: Vec<(usize, usize, usize)>,
    bufs: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)>,
}

impl FaerShapes {
    pub fn new(shapes: &[(usize, usize, usize)]) -> Self {
        let bufs = shapes
            .iter()
            .map(|&(m, k, nn)| {
                let a = (0..m * k).map(|i| ((i * 7919) % 1000) as f64 * 1e-3 - 0.5).collect();
                let b = (0..k * nn).map(|i| ((i * 104_729) % 1000) as f64 * 1e-3 - 0.5).collect();
                (a, b, vec![0.0; m * nn])
            })
            .collect();
        FaerShapes { shapes: shapes.to_vec(), bufs }
    }

    /// One product of every shape (with the thread count currently set).
    pub fn run(&mut self) {
        for ((a, b, c), &s) in self.bufs.iter_mut().zip(&self.shapes) {
            selfstab::linalg::gemm_faer(c, a, false, b, false, s, false);
        }
    }
}
