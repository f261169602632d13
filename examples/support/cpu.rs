//! Thread-CPU-time helpers shared by the measurement examples (`#[path = "support/cpu.rs"] mod
//! cpu;`): the calling thread's on-CPU time from `/proc/thread-self/schedstat` (time spent runnable
//! but waiting for a core is not counted), a batch-median timer, and an objective wrapper that adds
//! each call's CPU time to per-kind totals; also faer's forward-shape products ([`FaerShapes`], the
//! in-run throughput reference, which `benches/engine.rs` includes too) and faer's products of one
//! MLP primitive as the MLP issues them ([`FaerProducts`]). Apart from `FaerProducts` (which needs
//! `models::mlp::SHARD_MIN_ROWS` and `linalg::branch`) only the `Objective` trait is used, so an
//! example built on these also builds against older trees (back-to-back comparisons).
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

/// Which primitive's products [`FaerProducts`] issues: per layer the number of forward (Z = A·Wᵀ),
/// weight-gradient (G = Dᵀ·A) and backprop (∂A = D·W) products, for layer 1 (input X, no ε-blocks,
/// no backprop) and for the layers after it, as `models/mlp.rs` issues them with the constant
/// blocks reused (the counts behind the bench's FLOPs: loss+grad 3Σf_l − f₁, HVP 2f₁ + 6Σ_{l>1}f_l,
/// ∇S 2f₁ + 11Σ_{l>1}f_l).
#[derive(Clone, Copy, Debug)]
pub enum Primitive {
    LossGrad,
    Hvp,
    GradS,
}

impl Primitive {
    /// ([forward, weight gradient, backprop] of layer 1, of each later layer).
    fn counts(self) -> ([usize; 3], [usize; 3]) {
        match self {
            Primitive::LossGrad => ([1, 1, 0], [1, 1, 1]),
            // ε-blocks: Z₁ = A₁Wᵀ + A₀Vᵀ, G₁ = D₁ᵀA₀ + D₀ᵀA₁, ∂A₁ = D₁W + D₀V.
            Primitive::Hvp => ([1, 1, 0], [2, 2, 2]),
            // ε and ε²-blocks: forward 2 + 2, weight gradient (ε² only) 3, backprop 2 + 2.
            Primitive::GradS => ([1, 1, 0], [4, 3, 4]),
        }
    }

    /// Analytic FLOPs of the products for `layers` and n samples.
    pub fn flops(self, layers: &[usize], n: usize) -> f64 {
        let (first, rest) = self.counts();
        layers
            .windows(2)
            .enumerate()
            .map(|(l, w)| {
                let c = if l == 0 { first } else { rest };
                2.0 * n as f64 * (w[0] * w[1]) as f64 * c.iter().sum::<usize>() as f64
            })
            .sum()
    }
}

/// The three kinds of product a layer issues.
#[derive(Clone, Copy, Debug)]
pub enum Product {
    /// Z = A·Wᵀ (feature-major: Zᵀ = W·Aᵀ).
    Forward,
    /// G = Dᵀ·A (feature-major: from Dᵀ and Aᵀ, n contiguous in both).
    WeightGrad,
    /// ∂A = D·W (feature-major: ∂Aᵀ = Wᵀ·Dᵀ).
    Backprop,
}

/// One layer's operands (in → out, m rows) for [`FaerProducts`] and `examples/diag_layout`:
/// deterministic W, A, D and the results Z, G, ∂A, each [rows, cols] block stored sample-major or,
/// with the same length, feature-major.
pub struct LayerBufs {
    w: Vec<f64>,
    a: Vec<f64>,
    z: Vec<f64>,
    d: Vec<f64>,
    ga: Vec<f64>,
    g: Vec<f64>,
    dims: (usize, usize, usize),
}

impl LayerBufs {
    /// Layer `l`'s operands, in → out on m rows (the fill depends on `l` only through a salt).
    pub fn new((i, o, m): (usize, usize, usize), l: usize) -> Self {
        let fill = |len: usize, salt: usize| -> Vec<f64> { (0..len).map(|k| ((k * 7919 + salt * 104_729) % 1000) as f64 * 1e-3 - 0.5).collect() };
        LayerBufs { w: fill(o * i, 3 * l), a: fill(m * i, 3 * l + 1), z: vec![0.0; m * o], d: fill(m * o, 3 * l + 2), ga: vec![0.0; m * i], g: vec![0.0; o * i], dims: (i, o, m) }
    }

    /// One product of kind `p` through faer, in the sample-major layout the MLP uses or
    /// `feature_major`; `accumulate` adds it to the result (as an ε-block's second term).
    pub fn issue(&mut self, p: Product, feature_major: bool, accumulate: bool) {
        use selfstab::linalg::gemm_faer;
        let (i, o, m) = self.dims;
        let b = self;
        match (p, feature_major) {
            (Product::Forward, false) => gemm_faer(&mut b.z, &b.a, false, &b.w, true, (m, i, o), accumulate),
            (Product::Forward, true) => gemm_faer(&mut b.z, &b.w, false, &b.a, false, (o, i, m), accumulate),
            (Product::WeightGrad, false) => gemm_faer(&mut b.g, &b.d, true, &b.a, false, (o, m, i), accumulate),
            (Product::WeightGrad, true) => gemm_faer(&mut b.g, &b.d, false, &b.a, true, (o, m, i), accumulate),
            (Product::Backprop, false) => gemm_faer(&mut b.ga, &b.d, false, &b.w, false, (m, o, i), accumulate),
            (Product::Backprop, true) => gemm_faer(&mut b.ga, &b.w, true, &b.d, false, (i, o, m), accumulate),
        }
    }
}

/// faer's products of one MLP primitive on deterministic operands, per data shard as the MLP splits
/// its data (two halves from `models::mlp::SHARD_MIN_ROWS` rows on, concurrently when two threads
/// are set, as `Mlp`'s shards run): the in-run throughput reference for the primitive's own
/// product shapes, without its elementwise passes and bookkeeping. `feature_major` stores every
/// [n, width] block transposed instead (`examples/diag_layout`).
pub struct FaerProducts {
    shards: Vec<Vec<LayerBufs>>,
    counts: ([usize; 3], [usize; 3]),
    feature_major: bool,
}

impl FaerProducts {
    pub fn new(layers: &[usize], n: usize, what: Primitive, feature_major: bool) -> Self {
        let rows = if n >= selfstab::models::mlp::SHARD_MIN_ROWS { vec![n / 2, n - n / 2] } else { vec![n] };
        let shards = rows.into_iter().map(|m| layers.windows(2).enumerate().map(|(l, w)| LayerBufs::new((w[0], w[1], m), l)).collect()).collect();
        FaerProducts { shards, counts: what.counts(), feature_major }
    }

    /// The products of one shard; repeated products accumulate, as an ε-block's terms do.
    fn shard(bufs: &mut [LayerBufs], (first, rest): ([usize; 3], [usize; 3]), fm: bool) {
        for (l, b) in bufs.iter_mut().enumerate() {
            let c = if l == 0 { first } else { rest };
            for (p, reps) in [Product::Forward, Product::WeightGrad, Product::Backprop].into_iter().zip(c) {
                for k in 0..reps {
                    b.issue(p, fm, k > 0);
                }
            }
        }
    }

    /// One evaluation's products (the shards concurrently with two threads set, each on one thread).
    pub fn run(&mut self) {
        let (counts, fm) = (self.counts, self.feature_major);
        match &mut self.shards[..] {
            [a, b] if selfstab::linalg::threads() >= 2 => {
                selfstab::linalg::join2(|| Self::shard(a, counts, fm), || Self::shard(b, counts, fm));
            }
            shards => shards.iter_mut().for_each(|bufs| Self::shard(bufs, counts, fm)),
        }
    }
}
