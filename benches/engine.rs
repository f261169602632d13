//! Criterion benches of the engine primitives on digits MLPs (tanh, MSE) at a point at the edge of
//! stability: loss+gradient, HVP, ∇S = ∇³L[u,u] (`d3_sym`), a warm-started top-1 eigen solve (warm
//! start = u at the previous GD iterate), one linearised projection step (`lin_proj`) and one full
//! tracking step (`tracking::step`), in f64 on the tiny and medium configurations, and (without the
//! tracking step) at 256-bit MPFR and f64 on a micro MLP for the cost ratio. Two in-run references
//! of the machine's throughput: faer products of the forward-pass shapes (n×in×out per layer) and a
//! bare loop of in-place 256-bit rug multiply-adds. Results and their reading: `benches/RESULTS.md`.
//!
//! Setup (instability search, centres, tracking start) runs once per configuration, outside timing;
//! what it found (step, S, 2/η, HVPs of the warm solve) is printed to stderr.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkGroup, Criterion, criterion_group, criterion_main};
use criterion::measurement::WallTime;
use rug::Float;
use selfstab::data::{digits, init_params};
use selfstab::gd::{SearchError, find_instability, gd_step};
use selfstab::linalg::{from_f64, gemm_faer, zeros};
use selfstab::models::mlp::{Activation, LossKind, Mlp, param_count};
use selfstab::objective::Objective;
use selfstab::scalar::Scalar;
use selfstab::sharpness::{EigenOpts, center, top_eigen};
use selfstab::stable_set::lin_proj;
use selfstab::tracking::{self, TrackOpts};

/// One benchmark configuration.
struct Config {
    name: &'static str,
    layers: &'static [usize],
    n: usize,
    eta: &'static str,
    /// GD step cap of the instability search (beyond it: the point after `cap` GD steps).
    cap: u64,
}

const TINY: Config = Config { name: "tiny", layers: &[64, 32, 32, 32, 10], n: 200, eta: "0.2297", cap: 20_000 };
const MEDIUM: Config = Config { name: "medium", layers: &[64, 64, 64, 64, 10], n: 500, eta: "0.2351", cap: 20_000 };
const MICRO: Config = Config { name: "micro", layers: &[64, 8, 8, 10], n: 50, eta: "0.25", cap: 20_000 };
/// A second, smaller size for the 256-bit primitives.
const NANO: Config = Config { name: "nano", layers: &[64, 4, 10], n: 30, eta: "0.12", cap: 3_000 };

/// Opt-in (listed in `SELFSTAB_BENCH_CONFIGS` only): the large configuration of issue 7.
const LARGE: Config = Config { name: "large", layers: &[64, 128, 128, 10], n: 1000, eta: "0.1773", cap: 20_000 };
/// Opt-in: the xl configuration (p = 150,794). Bench point: θ after `cap` GD steps (an instability
/// search with an eigen solve per check would dominate the run); the primitives' cost does not
/// depend on where θ is.
const XL: Config = Config { name: "xl", layers: &[64, 256, 256, 256, 10], n: 1797, eta: "0.1", cap: 0 };

/// The bench point θ_t (first unstable iterate, or θ_cap) and the previous GD iterate θ_{t−1}, in f64.
struct Point {
    prev: Vec<f64>,
    theta: Vec<f64>,
    step: u64,
    found: bool,
}

fn mlp<S: Scalar>(cfg: &Config, c: S::Ctx) -> Mlp<S> {
    let ds = digits(cfg.n).expect("digits");
    Mlp::<S>::new(cfg.layers, Activation::Tanh, LossKind::Mse, &ds, c).expect("mlp")
}

/// Find the bench point in f64: `find_instability` from `init_params(layers, 0)`, then replay GD
/// (deterministic, same `gd_step`) to step t − 1 for the warm start.
fn bench_point(cfg: &Config) -> Point {
    let obj = mlp::<f64>(cfg, ());
    let eta = f64::parse(cfg.eta, ()).expect("eta");
    let init = init_params(cfg.layers, 0).expect("init");
    let clock = Instant::now();
    let (step, found) = match find_instability(&obj, &eta, &init, cfg.cap, 1e-10, &mut []) {
        Ok(ins) => (ins.step, true),
        Err(SearchError::NotReached { last_s, .. }) => {
            eprintln!("[{}] no instability within {} steps (last S = {last_s:.4}); using θ_cap", cfg.name, cfg.cap);
            (cfg.cap, false)
        }
        Err(e) => panic!("instability search failed: {e}"),
    };
    let mut theta = init;
    let mut grad = vec![0.0; theta.len()];
    let mut prev = theta.clone();
    for _ in 0..step {
        prev.clone_from(&theta);
        gd_step(&obj, &eta, &mut theta, &mut grad).expect("gd step");
    }
    eprintln!(
        "[{}] p = {}, bench point = GD step {step} ({}), search + replay {:.1} s",
        cfg.name,
        param_count(cfg.layers),
        if found { "first iterate with S ≥ 2/η" } else { "cap reached" },
        clock.elapsed().as_secs_f64()
    );
    Point { prev, theta, step, found }
}

/// Bench the primitives of one objective at θ (lifted exactly from f64), warm start from θ_prev.
fn bench_primitives<S: Scalar>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    label: &str,
    obj: &Mlp<S>,
    pt: &Point,
    eta_str: &str,
    with_tracking: bool,
) {
    let c = obj.ctx();
    let p = obj.dim();
    let eta = S::parse(eta_str, c).expect("eta");
    let theta: Vec<S> = from_f64(&pt.theta, c);
    let prev: Vec<S> = from_f64(&pt.prev, c);
    let tol = EigenOpts::default_tol::<S>(c);
    let opts = EigenOpts::top::<S>(1, c);
    let clock = Instant::now();
    // Warm start: u at the previous GD iterate (cold solve, setup only).
    let u_prev = top_eigen(obj, &prev, None, &opts).expect("eigen at θ_{t−1}").vectors[0].clone();
    let warm = top_eigen(obj, &theta, Some(&u_prev), &opts).expect("warm eigen");
    let u = warm.vectors[0].clone();
    let s = warm.values[0].to_f64();
    let cen = center(obj, &theta, Some(&u_prev), tol).expect("centre");
    eprintln!(
        "[{label}] step {} S = {s:.6}, 2/η = {:.6}, warm eigen: {} HVPs (tol {tol:.1e}, residual {:.1e}); setup {:.1} s",
        pt.step,
        2.0 / eta.to_f64(),
        warm.hvps,
        warm.residuals[0],
        clock.elapsed().as_secs_f64()
    );
    let v: Vec<S> = u.clone();

    g.bench_function(format!("{label}/loss_grad"), |b| {
        let mut out = zeros::<S>(p, c);
        b.iter(|| black_box(obj.grad(black_box(&theta), &mut out).expect("grad")))
    });
    g.bench_function(format!("{label}/hvp"), |b| {
        let mut out = zeros::<S>(p, c);
        b.iter(|| obj.hvp(black_box(&theta), black_box(&v), &mut out).expect("hvp"))
    });
    g.bench_function(format!("{label}/grad_s_d3_sym"), |b| {
        let mut out = zeros::<S>(p, c);
        b.iter(|| obj.d3_sym(black_box(&theta), black_box(&u), &mut out).expect("d3_sym"))
    });
    g.bench_function(format!("{label}/eigen_warm"), |b| {
        b.iter(|| black_box(top_eigen(obj, black_box(&theta), Some(&u_prev), &opts).expect("eigen")))
    });
    g.bench_function(format!("{label}/lin_proj"), |b| {
        b.iter(|| black_box(lin_proj(obj, &eta, black_box(&cen), tol).expect("lin_proj")))
    });
    if with_tracking {
        // gap_every = 0: no λ₂ solve (the periodic eigengap check is not part of a step's cost).
        let topts = TrackOpts { projection_steps: 3, gap_every: 0, gap_threshold: None, eig_tol: tol };
        let clock = Instant::now();
        let st0 = tracking::start(obj, &eta, &theta, Some(&u_prev), &topts).expect("tracking start");
        let mut probe = st0.clone();
        let (row, stop) = tracking::step(obj, &eta, &mut probe, &topts).expect("tracking step");
        eprintln!(
            "[{label}] tracking start {:.2} s; one step: {} HVPs, stop = {:?}",
            clock.elapsed().as_secs_f64(),
            row.hvps,
            stop.map(|r| r.tag())
        );
        g.bench_function(format!("{label}/tracking_step"), |b| {
            b.iter_batched(
                || st0.clone(),
                |mut st| black_box(tracking::step(obj, &eta, &mut st, &topts).expect("step")),
                BatchSize::LargeInput,
            )
        });
    }
}

/// faer products of the forward-pass shapes: for each layer, [n, in]·[in, out] (one thread, the
/// crate's default). FLOPs = 2·n·Σ in·out, the same count as the forward pass.
fn bench_faer(g: &mut BenchmarkGroup<'_, WallTime>, cfg: &Config) {
    let shapes: Vec<(usize, usize, usize)> = cfg.layers.windows(2).map(|w| (cfg.n, w[0], w[1])).collect();
    let bufs: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)> = shapes
        .iter()
        .map(|&(m, k, n)| {
            let a = (0..m * k).map(|i| ((i * 7919) % 1000) as f64 * 1e-3 - 0.5).collect();
            let b = (0..k * n).map(|i| ((i * 104_729) % 1000) as f64 * 1e-3 - 0.5).collect();
            (a, b, vec![0.0; m * n])
        })
        .collect();
    g.bench_function(format!("{}-f64/faer_forward_shapes", cfg.name), |b| {
        b.iter_batched_ref(
            || bufs.clone(),
            |bufs| {
                for ((a, bm, cm), &s) in bufs.iter_mut().zip(&shapes) {
                    gemm_faer(cm, a, false, bm, false, s, false);
                }
            },
            BatchSize::LargeInput,
        )
    });
}

/// Bare 256-bit MPFR reference: `acc += &a * &b` over 1000 preallocated Floats (a fused multiply-add).
fn bench_rug(g: &mut BenchmarkGroup<'_, WallTime>) {
    const LEN: usize = 1000;
    let a: Vec<Float> = (0..LEN).map(|i| Float::with_val(256, 1.0 + i as f64 * 1e-3).sqrt()).collect();
    let b: Vec<Float> = (0..LEN).map(|i| Float::with_val(256, 2.0 - i as f64 * 1e-3).sqrt()).collect();
    g.bench_function("rug256/muladd_x1000", |bch| {
        let mut acc = Float::with_val(256, 0);
        bch.iter(|| {
            for (x, y) in a.iter().zip(&b) {
                acc += x * y;
            }
            black_box(&acc);
        })
    });
}

/// Configurations to run: `SELFSTAB_BENCH_CONFIGS` = comma-separated subset of `tiny,medium,micro,nano`
/// (default: all of these four; `large` and `xl` run only when listed, see [`opted_in`]). Skips the setup (instability search, cold solves) of the others, which a
/// criterion name filter alone does not.
fn wanted(name: &str) -> bool {
    match std::env::var("SELFSTAB_BENCH_CONFIGS") {
        Ok(list) => list.split(',').any(|s| s.trim() == name),
        Err(_) => true,
    }
}

/// Opt-in configurations run only when named in `SELFSTAB_BENCH_CONFIGS`.
fn opted_in(name: &str) -> bool {
    std::env::var("SELFSTAB_BENCH_CONFIGS").map(|l| l.split(',').any(|s| s.trim() == name)).unwrap_or(false)
}

/// Loss+gradient, HVP and ∇S at θ with `threads` faer threads (`linalg::set_threads`), plus the faer
/// forward-shape products with the same thread count: the 1-vs-2-thread comparison of issue 7.
fn bench_threads(g: &mut BenchmarkGroup<'_, WallTime>, cfg: &Config, obj: &Mlp<f64>, theta: &[f64], threads: usize) {
    selfstab::linalg::set_threads(threads);
    let p = obj.dim();
    let label = format!("{}-f64-{threads}t", cfg.name);
    let mut v: Vec<f64> = selfstab::sharpness::default_start::<f64>(p, ());
    let nv = selfstab::linalg::norm(&v);
    v.iter_mut().for_each(|x| *x /= nv);
    g.bench_function(format!("{label}/loss_grad"), |b| {
        let mut out = vec![0.0; p];
        b.iter(|| black_box(obj.grad(black_box(theta), &mut out).expect("grad")))
    });
    g.bench_function(format!("{label}/hvp"), |b| {
        let mut out = vec![0.0; p];
        b.iter(|| obj.hvp(black_box(theta), black_box(&v), &mut out).expect("hvp"))
    });
    g.bench_function(format!("{label}/grad_s_d3_sym"), |b| {
        let mut out = vec![0.0; p];
        b.iter(|| obj.d3_sym(black_box(theta), black_box(&v), &mut out).expect("d3_sym"))
    });
    let shapes: Vec<(usize, usize, usize)> = cfg.layers.windows(2).map(|w| (cfg.n, w[0], w[1])).collect();
    let bufs: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)> = shapes
        .iter()
        .map(|&(m, k, n)| {
            let a = (0..m * k).map(|i| ((i * 7919) % 1000) as f64 * 1e-3 - 0.5).collect();
            let b = (0..k * n).map(|i| ((i * 104_729) % 1000) as f64 * 1e-3 - 0.5).collect();
            (a, b, vec![0.0; m * n])
        })
        .collect();
    g.bench_function(format!("{label}/faer_forward_shapes"), |b| {
        b.iter_batched_ref(
            || bufs.clone(),
            |bufs| {
                for ((a, bm, cm), &s) in bufs.iter_mut().zip(&shapes) {
                    gemm_faer(cm, a, false, bm, false, s, false);
                }
            },
            BatchSize::LargeInput,
        )
    });
    selfstab::linalg::set_threads(1);
}

fn engine(cr: &mut Criterion) {
    for cfg in [&LARGE, &XL] {
        if !opted_in(cfg.name) {
            continue;
        }
        let pt = bench_point(cfg);
        let obj = mlp::<f64>(cfg, ());
        let mut g = cr.benchmark_group(cfg.name);
        g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
        bench_threads(&mut g, cfg, &obj, &pt.theta, 1);
        bench_threads(&mut g, cfg, &obj, &pt.theta, 2);
        if cfg.name == LARGE.name && std::env::var("SELFSTAB_BENCH_PRIMITIVES_ONLY").is_err() {
            bench_primitives::<f64>(&mut g, &format!("{}-f64", cfg.name), &obj, &pt, cfg.eta, true);
        }
        g.finish();
        if !pt.found {
            eprintln!("[{}] note: bench point is θ after {} GD steps, not an unstable iterate", cfg.name, pt.step);
        }
    }
    for cfg in [&TINY, &MEDIUM] {
        if !wanted(cfg.name) {
            continue;
        }
        let pt = bench_point(cfg);
        let obj = mlp::<f64>(cfg, ());
        let mut g = cr.benchmark_group(cfg.name);
        g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
        bench_primitives::<f64>(&mut g, &format!("{}-f64", cfg.name), &obj, &pt, cfg.eta, true);
        bench_faer(&mut g, cfg);
        g.finish();
        if !pt.found {
            eprintln!("[{}] note: bench point is θ after {} GD steps, not an unstable iterate", cfg.name, pt.step);
        }
    }
    for cfg in [&MICRO, &NANO] {
        if !wanted(cfg.name) {
            continue;
        }
        let pt = bench_point(cfg);
        let mut g = cr.benchmark_group(cfg.name);
        g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
        let obj64 = mlp::<f64>(cfg, ());
        bench_primitives::<f64>(&mut g, &format!("{}-f64", cfg.name), &obj64, &pt, cfg.eta, false);
        let obj256 = mlp::<Float>(cfg, 256);
        bench_primitives::<Float>(&mut g, &format!("{}-mpfr256", cfg.name), &obj256, &pt, cfg.eta, false);
        bench_faer(&mut g, cfg);
        if cfg.name == MICRO.name {
            bench_rug(&mut g);
        }
        g.finish();
        if !pt.found {
            eprintln!("[{}] note: bench point is θ after {} GD steps, not an unstable iterate", cfg.name, pt.step);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Precision ladder (issue 6): f64, 128, 256 and 512 bits on the same model and point (micro MLP
// for loss+grad, HVP, ∇S; nano MLP for the warm eigen solve).
// Opt-in (several minutes):
//   SELFSTAB_BENCH_CONFIGS=precision cargo bench --bench engine -- precision
// ---------------------------------------------------------------------------------------------

/// Loss+gradient, HVP, ∇S = ∇³L[u,u] and a warm top-1 eigen solve (default tolerance of the
/// precision: 1e-10 in f64, 2^(16−bits) in MPFR) of one objective at θ (lifted exactly from f64).
fn bench_ladder_primitives<S: Scalar>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    label: &str,
    obj: &Mlp<S>,
    pt: &Point,
    (u_prev64, u_f64): (&[f64], &[f64]),
    eigen_only: bool,
) {
    let c = obj.ctx();
    let p = obj.dim();
    let theta: Vec<S> = from_f64(&pt.theta, c);
    let opts = EigenOpts::top::<S>(1, c);
    // Direction and warm start lifted from f64 (u at θ and at θ_{t−1}), the same at every precision.
    let u: Vec<S> = from_f64(u_f64, c);
    let u_prev: Vec<S> = from_f64(u_prev64, c);
    if eigen_only {
        let clock = Instant::now();
        let warm = top_eigen(obj, &theta, Some(&u_prev), &opts).expect("warm eigen");
        eprintln!(
            "[{label}] S = {}, warm eigen: {} HVPs (tol {:.1e}, residual {:.1e}); {:.1} s",
            warm.values[0].to_decimal(),
            warm.hvps,
            opts.tol,
            warm.residuals[0],
            clock.elapsed().as_secs_f64()
        );
    }
    if !eigen_only {
        g.bench_function(format!("{label}/loss_grad"), |b| {
            let mut out = zeros::<S>(p, c);
            b.iter(|| black_box(obj.grad(black_box(&theta), &mut out).expect("grad")))
        });
        g.bench_function(format!("{label}/hvp"), |b| {
            let mut out = zeros::<S>(p, c);
            b.iter(|| obj.hvp(black_box(&theta), black_box(&u), &mut out).expect("hvp"))
        });
        g.bench_function(format!("{label}/grad_s_d3_sym"), |b| {
            let mut out = zeros::<S>(p, c);
            b.iter(|| obj.d3_sym(black_box(&theta), black_box(&u), &mut out).expect("d3_sym"))
        });
        return;
    }
    g.bench_function(format!("{label}/eigen_warm"), |b| {
        b.iter(|| black_box(top_eigen(obj, black_box(&theta), Some(&u_prev), &opts).expect("eigen")))
    });
}

/// The precision ladder: f64, then MPFR at 128, 256 and 512 bits (same θ, same warm start).
/// Loss+gradient, HVP and ∇S on [`MICRO`]; the warm eigen solve on [`NANO`] (on micro one 512-bit
/// solve takes tens of seconds, and criterion needs ≥ 11 of them).
fn precision_ladder(cr: &mut Criterion) {
    let explicit = std::env::var("SELFSTAB_BENCH_CONFIGS").map(|l| l.split(',').any(|s| s.trim() == "precision"));
    if explicit != Ok(true) {
        return;
    }
    for (cfg, eigen_only) in [(&MICRO, false), (&NANO, true)] {
        let pt = bench_point(cfg);
        let mut g = cr.benchmark_group("precision");
        g.sample_size(10).warm_up_time(Duration::from_millis(200)).measurement_time(Duration::from_secs(2));
        if eigen_only {
            g.sampling_mode(criterion::SamplingMode::Flat);
        }
        let obj64 = mlp::<f64>(cfg, ());
        let opts = EigenOpts::top::<f64>(1, ());
        let u_prev = top_eigen(&obj64, &pt.prev, None, &opts).expect("eigen at θ_{t−1}").vectors[0].clone();
        let u = top_eigen(&obj64, &pt.theta, Some(&u_prev), &opts).expect("eigen at θ").vectors[0].clone();
        let dirs = (&u_prev[..], &u[..]);
        bench_ladder_primitives::<f64>(&mut g, &format!("{}-f64", cfg.name), &obj64, &pt, dirs, eigen_only);
        for bits in [128u32, 256, 512] {
            bench_ladder_primitives::<Float>(&mut g, &format!("{}-mpfr{bits}", cfg.name), &mlp::<Float>(cfg, bits), &pt, dirs, eigen_only);
        }
        g.finish();
    }
}

criterion_group!(benches, engine, precision_ladder);
criterion_main!(benches);
