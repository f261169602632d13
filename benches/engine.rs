//! Criterion benches of the engine primitives on digits MLPs (tanh, MSE) at a point at the edge of
//! stability: loss+gradient, HVP, ∇S = ∇³L[u,u] (`d3_sym`), a warm-started top-1 eigen solve (warm
//! start = u at the previous GD iterate), one linearised projection step (`lin_proj`) and one full
//! tracking step (`tracking::step`), in f64 on the tiny and medium configurations, and (without the
//! tracking step) at 256-bit MPFR and f64 on a micro MLP for the cost ratio. In-run references of
//! the machine's throughput: faer products of the forward-pass shapes (n×in×out per layer), faer
//! products of each f64 primitive as the MLP issues them (`faer_{loss_grad,hvp,grad_s_d3_sym}_products`:
//! the same shapes, layouts and shards, without the elementwise passes) and bare loops of in-place
//! 256-bit rug multiply-adds and tanh. At 256 bits the throughput is in multiply-adds: the
//! primitives' analytic product counts, the solver rows' operations counted as they run
//! (`selfstab::scalar::count_mpfr_ops`, its tanh in the row's fact). Results and their reading:
//! `benches/RESULTS.md`.
//!
//! Solves along a trajectory: `eigen_trail` (a `sharpness::Trail` that solved at the six GD iterates
//! before the bench point; the fact `eigen_trail_gd` is that trail's mean HVPs per solve over the 30
//! GD iterates from the bench point on, issue 7's ≤ 12 target) and `tracking_step_steady` (the step after 20 tracking steps, with the
//! trails' history) next to the single warm-started `eigen_warm` and the first `tracking_step`.
//!
//! HVP and ∇S are timed twice: at an unchanged θ (`hvp`, `grad_s_d3_sym`: the MLP reuses the θ-only
//! blocks of the previous call, as every HVP of an eigen solve does) and at a new θ for every call
//! (`hvp_new_theta`, `grad_s_d3_sym_new_theta`: the cost of the first HVP at a point).
//!
//! Setup (instability search, centres, tracking start) runs once per configuration, outside timing;
//! what it found (step, S, 2/η, HVPs of the warm solve) is printed to stderr.
//!
//! Opt-in groups (named in `SELFSTAB_BENCH_CONFIGS`, comma-separated; the default run, no variable,
//! is tiny, medium, micro, nano): `large`, `xl`, `precision`, and the groups of issue 7's items 1–2
//! listed above [`Flops`]: `reduced` (the reduced map), `faer1024` (the decisions.md §7 scaling
//! reference), `tiny256` (tiny at 256 bits), `tiny2t` / `medium2t` (1- vs 2-thread rows), `large2t`
//! (large's 2-thread solve, projection and tracking-step row), `scaling`
//! (cost vs n and vs width, with analytic FLOP counts) and `track256` (micro's first tracking step in
//! f64 and at 256 bits); `reftol` adds, to every f64 group that runs,
//! the solver rows (`eigen_warm`, `eigen_trail`, `lin_proj`, `tracking_step`,
//! `tracking_step_steady`) again with every solve at the JAX reference's tolerance 1e-9, named
//! `…_reftol` (the default rows solve to the crate's 1e-10); `chaintol` adds the two tracking rows at
//! 1e-9 with the θ† chain's early solves at 1e-6 (`TrackOpts::chain_tol`), named `…_reftol_chain`.
//! `SELFSTAB_BENCH_PRIMITIVES_ONLY=1` (any value) leaves large's solver rows out of the `large` group.
//! Note: the groups set their own warm-up and measurement times, which take precedence over
//! criterion's `--warm-up-time/--measurement-time`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Bencher, BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use criterion::measurement::WallTime;
use rug::Float;
use rug::Assign;
use selfstab::data::{digits, init_params};
use selfstab::gd::{SearchError, find_instability, gd_step};
use selfstab::linalg::{from_f64, gemm_faer, zeros};
use selfstab::mag::Mag;
use selfstab::models::mlp::{Activation, LossKind, Mlp, param_count};
use selfstab::objective::Objective;
use selfstab::reduced_map::{DevState, ReducedMap, Workspace};
use selfstab::scalar::{MpfrOps, Scalar, count_mpfr_ops};
use selfstab::sharpness::{EigenOpts, Trail, center, top_eigen};
use selfstab::stable_set::lin_proj;
use selfstab::tracking::{self, TrackOpts};

/// The faer forward-shape reference, shared with the measurement examples.
#[path = "../examples/support/cpu.rs"]
mod cpu;
#[path = "../examples/support/criterion_dir.rs"]
mod criterion_dir;
use criterion_dir::criterion_dir;

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
    /// The GD iterates θ_{t−6}, …, θ_{t−1} (fewer when t < 6), oldest first: the trajectory a
    /// [`Trail`] has seen before the bench point.
    history: Vec<Vec<f64>>,
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
    let (step, found) = match find_instability(&obj, &eta, &init, cfg.cap, Mag::new(1e-10), &mut []) {
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
    let mut history: Vec<Vec<f64>> = Vec::new();
    for i in 0..step {
        prev.clone_from(&theta);
        if i + 6 >= step {
            history.push(theta.clone());
        }
        gd_step(&obj, &eta, &mut theta, &mut grad).expect("gd step");
    }
    eprintln!(
        "[{}] p = {}, bench point = GD step {step} ({}), search + replay {:.1} s",
        cfg.name,
        param_count(cfg.layers),
        if found { "first iterate with S ≥ 2/η" } else { "cap reached" },
        clock.elapsed().as_secs_f64()
    );
    Point { history, prev, theta, step, found }
}

/// Bench the primitives of one objective at θ (lifted exactly from f64), warm start from θ_prev.
/// `tp`: the primitives' throughputs (loss+grad, HVP, ∇S, HVP and ∇S at a new θ), the MPFR rows'
/// analytic multiply-adds; the solver rows' operations are counted at MPFR ([`counted_throughput`]).
#[allow(clippy::too_many_arguments)]
fn bench_primitives<S: Scalar>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    label: &str,
    obj: &Mlp<S>,
    pt: &Point,
    eta_str: &str,
    with_tracking: bool,
    solvers_only: bool,
    tp: Option<[u64; 5]>,
) {
    let c = obj.ctx();
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
    eprintln!(
        "[{label}] step {} S = {s:.6}, 2/η = {:.6}, warm eigen: {} HVPs (tol {tol:.1e}, residual {:.1e}); setup {:.1} s",
        pt.step,
        2.0 / eta.to_f64(),
        warm.hvps,
        warm.residuals[0],
        clock.elapsed().as_secs_f64()
    );

    if !solvers_only {
        bench_cheap(g, label, obj, &theta, &u, tp);
    }
    bench_solves(g, label, obj, pt, &eta, &u_prev, tol.to_f64(), "", with_tracking);
    if S::bits(c) <= 53 && opted_in("reftol") {
        // The JAX reference's stopping rule (`theory/reference/perf-reference.md`: ‖Hu − Su‖ ≤ 1e-9·|S|), for
        // a like-for-like comparison of the solve, projection and tracking rows.
        bench_solves(g, label, obj, pt, &eta, &u_prev, REF_TOL, "_reftol", with_tracking);
    }
    if S::bits(c) <= 53 && with_tracking && opted_in("chaintol") {
        // The same tolerance with the θ† chain's early solves (centre, projection step 1) at
        // CHAIN_TOL: the opt-in `selfstab run --eig-tol 1e-9 --chain-tol 1e-6`.
        bench_tracking(g, label, obj, &theta, &eta, &u_prev, REF_TOL, Some(CHAIN_TOL), "_reftol_chain", true);
    }
}

/// The JAX reference's eigen tolerance (opt-in `reftol` rows).
const REF_TOL: f64 = 1e-9;

/// GD iterates from the bench point over which the trail's HVPs per solve are averaged (fact
/// `{label}/eigen_trail_gd`: issue 7's warm-solve target is an average along a GD trajectory).
const GD_MEAN_STEPS: usize = 30;

/// The θ† chain's early-solve tolerance of the opt-in `chaintol` rows (theory/README.md "Early solves
/// of the θ† chain"; the value with the fewest HVPs per medium and large step in `examples/tracking_hvps`).
const CHAIN_TOL: f64 = 1e-6;

/// The solver rows of [`bench_primitives`] with every eigen solve at `tol`, named
/// `{label}/{row}{suffix}`: the warm eigen solve, the trail solve (f64), one projection step and
/// (`with_tracking`) the first and the steady tracking step.
#[allow(clippy::too_many_arguments)]
fn bench_solves<S: Scalar>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    label: &str,
    obj: &Mlp<S>,
    pt: &Point,
    eta: &S,
    u_prev: &[S],
    tol: f64,
    suffix: &str,
    with_tracking: bool,
) {
    let c = obj.ctx();
    let theta: Vec<S> = from_f64(&pt.theta, c);
    let opts = EigenOpts { tol: Mag::new(tol), ..EigenOpts::top::<S>(1, c) };
    // The centre's eigen solve is the `eigen_warm` row's operation (θ, u_prev, tol): its HVPs.
    let cen = center(obj, &theta, Some(u_prev), Mag::new(tol)).expect("centre");
    if tol != EigenOpts::default_tol::<S>(c) {
        eprintln!("[{label}] warm eigen at tol {tol:.1e}: {} HVPs (residual {:.1e})", cen.hvps, cen.eigen_residual);
    }
    let ops = counted_throughput::<S, _>(g, || top_eigen(obj, &theta, Some(u_prev), &opts).expect("eigen"));
    fact(&format!("{label}/eigen_warm{suffix}"), serde_json::json!({ "hvps": cen.hvps, "tol": tol, "mpfr_ops": ops }));
    g.bench_function(format!("{label}/eigen_warm{suffix}"), |b| {
        iter_on_pool(b, || top_eigen(obj, black_box(&theta), Some(u_prev), &opts).expect("eigen"))
    });
    if S::bits(c) <= 53 && !pt.history.is_empty() {
        // The solve as a trajectory makes it (`tracking` uses a `Trail` for GD's and θ†'s solves):
        // a trail that has solved at the last GD iterates θ_{t−6}, …, θ_{t−1} (setup) starts from
        // its extrapolated u* and is preconditioned by the last solve's Ritz pairs.
        let mut trail = Trail::<S>::default();
        for h in &pt.history {
            trail.solve(obj, &from_f64(h, c), None, Mag::new(tol)).expect("trail solve (setup)");
        }
        let probe = trail.clone().solve(obj, &theta, None, Mag::new(tol)).expect("trail solve");
        eprintln!("[{label}{suffix}] trail eigen solve: {} HVPs (tol {tol:.1e}, residual {:.1e})", probe.hvps, probe.residuals[0]);
        fact(&format!("{label}/eigen_trail{suffix}"), serde_json::json!({ "hvps": probe.hvps, "tol": tol }));
        // Issue 7's "≤ 12 HVPs on average along a GD trajectory": the same trail going on along GD
        // from the bench point, one solve per iterate (setup, not timed; HVP counts are
        // deterministic on a machine).
        let (mut tr, mut th, mut grad) = (trail.clone(), theta.clone(), zeros::<S>(theta.len(), c));
        let mut counts = Vec::with_capacity(GD_MEAN_STEPS);
        for _ in 0..GD_MEAN_STEPS {
            counts.push(tr.solve(obj, &th, None, Mag::new(tol)).expect("trail solve along GD").hvps);
            gd_step(obj, eta, &mut th, &mut grad).expect("gd step");
        }
        let mean = counts.iter().sum::<u64>() as f64 / counts.len() as f64;
        let max = counts.iter().copied().max().unwrap_or(0);
        eprintln!("[{label}{suffix}] trail solves along GD, {GD_MEAN_STEPS} iterates from the bench point: mean {mean:.2} HVPs, max {max}");
        fact(&format!("{label}/eigen_trail_gd{suffix}"), serde_json::json!({ "hvps_mean": mean, "hvps_max": max, "steps": GD_MEAN_STEPS, "tol": tol }));
        g.bench_function(format!("{label}/eigen_trail{suffix}"), |b| {
            b.iter_batched(
                || trail.clone(),
                |mut tr| black_box(tr.solve(obj, black_box(&theta), None, Mag::new(tol)).expect("trail solve")),
                BatchSize::LargeInput,
            )
        });
    }
    if let Some(ops) = counted_throughput::<S, _>(g, || lin_proj(obj, eta, &cen, Mag::new(tol)).expect("lin_proj")) {
        fact(&format!("{label}/lin_proj{suffix}"), serde_json::json!({ "tol": tol, "mpfr_ops": ops }));
    }
    g.bench_function(format!("{label}/lin_proj{suffix}"), |b| {
        iter_on_pool(b, || lin_proj(obj, eta, black_box(&cen), Mag::new(tol)).expect("lin_proj"))
    });
    if with_tracking {
        bench_tracking(g, label, obj, &theta, eta, u_prev, tol, None, suffix, true);
    }
}

/// The first and (with `steady`) the steady tracking step (`{label}/tracking_step{suffix}`,
/// `{label}/tracking_step_steady{suffix}`) with every eigen solve at `tol` and the θ† chain's early
/// solves at `chain_tol` (`TrackOpts::chain_tol`; `None`: at `tol`).
#[allow(clippy::too_many_arguments)]
fn bench_tracking<S: Scalar>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    label: &str,
    obj: &Mlp<S>,
    theta: &[S],
    eta: &S,
    u_prev: &[S],
    tol: f64,
    chain_tol: Option<f64>,
    suffix: &str,
    steady: bool,
) {
    // gap_every = 0: no λ₂ solve (the periodic eigengap check is not part of a step's cost).
    let topts = TrackOpts { projection_steps: 3, gap_every: 0, gap_threshold: None, eig_tol: Mag::new(tol), chain_tol: chain_tol.map(Mag::new) };
    let clock = Instant::now();
    let st0 = tracking::start(obj, eta, theta, Some(u_prev), &topts).expect("tracking start");
    let mut probe = st0.clone();
    let (row, stop) = tracking::step(obj, eta, &mut probe, &topts).expect("tracking step");
    eprintln!(
        "[{label}{suffix}] tracking start {:.2} s; one step: {} HVPs, stop = {:?}",
        clock.elapsed().as_secs_f64(),
        row.hvps,
        stop.map(|r| r.tag())
    );
    let ops = counted_throughput::<S, _>(g, || tracking::step(obj, eta, &mut st0.clone(), &topts).expect("step"));
    fact(&format!("{label}/tracking_step{suffix}"), serde_json::json!({ "hvps": row.hvps, "tol": tol, "chain_tol": chain_tol, "mpfr_ops": ops }));
    g.bench_function(format!("{label}/tracking_step{suffix}"), |b| {
        b.iter_batched(
            || st0.clone(),
            |mut st| black_box(tracking::step(obj, eta, &mut st, &topts).expect("step")),
            BatchSize::LargeInput,
        )
    });
    if !steady {
        return;
    }
    // Steady state: the step after 20 tracking steps (the trails of GD's and θ†'s solves
    // have their history; `tracking_step` above is the first step after `start`).
    let clock = Instant::now();
    let mut st20 = st0.clone();
    for _ in 0..20 {
        tracking::step(obj, eta, &mut st20, &topts).expect("tracking step (setup)");
    }
    let mut probe = st20.clone();
    let (row, _) = tracking::step(obj, eta, &mut probe, &topts).expect("tracking step");
    eprintln!("[{label}{suffix}] 20 tracking steps {:.2} s; step 21: {} HVPs", clock.elapsed().as_secs_f64(), row.hvps);
    let ops = counted_throughput::<S, _>(g, || tracking::step(obj, eta, &mut st20.clone(), &topts).expect("step"));
    fact(&format!("{label}/tracking_step_steady{suffix}"), serde_json::json!({ "hvps": row.hvps, "tol": tol, "chain_tol": chain_tol, "mpfr_ops": ops }));
    g.bench_function(format!("{label}/tracking_step_steady{suffix}"), |b| {
        b.iter_batched(
            || st20.clone(),
            |mut st| black_box(tracking::step(obj, eta, &mut st, &topts).expect("step")),
            BatchSize::LargeInput,
        )
    });
}

/// At MPFR (f64 rows have analytic FLOP counts or none): the operations of one call of `f` as the
/// timed loop makes it, counted ([`count_mpfr_ops`]) on its second call, the first having left the
/// model's cache of θ-only blocks as every timed call finds it; set as the group's throughput in
/// multiply-adds (criterion's elem/s then compares with the bare loop's) for the row that follows,
/// and returned for the row's fact (`examples/bench_report` counts its tanh from it).
fn counted_throughput<S: Scalar, O>(g: &mut BenchmarkGroup<'_, WallTime>, mut f: impl FnMut() -> O) -> Option<MpfrOps> {
    if selfstab::linalg::is_f64::<S>() {
        return None;
    }
    black_box(f());
    let (out, ops) = count_mpfr_ops(&mut f);
    black_box(out);
    g.throughput(Throughput::Elements(ops.muladds));
    Some(ops)
}

/// Times `f` as the engine issues its primitives: the timed loop runs on a worker of rayon's pool
/// ([`selfstab::linalg::on_pool`]; with one thread it runs on the caller as before), as an eigen
/// solve's HVPs and a tracking step's evaluations do. Each call from outside the pool starts the
/// pool's workers afresh, and with two threads about half of them found the other worker asleep
/// (benches/RESULTS.md "Session 20": medium's two-thread HVP 0.68–0.69 ms in the pool, 0.99–1.03 ms
/// median from outside).
fn iter_on_pool<O>(b: &mut Bencher<'_, WallTime>, mut f: impl FnMut() -> O + Send) {
    b.iter_custom(|iters| {
        let f = &mut f;
        selfstab::linalg::on_pool(move || {
            let t0 = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            t0.elapsed()
        })
    })
}

/// faer products of the forward-pass shapes: for each layer, [n, in]·[in, out] (at the thread count
/// currently set: one, the crate's default in the bench, or two in the `-2t` groups). FLOPs = 2·n·Σ in·out, the same count as the forward pass.
fn bench_faer(g: &mut BenchmarkGroup<'_, WallTime>, cfg: &Config) {
    bench_faer_shapes(g, format!("{}-f64/faer_forward_shapes", cfg.name), cfg.layers, cfg.n);
    bench_faer_products(g, &format!("{}-f64", cfg.name), cfg.layers, cfg.n);
}

/// faer's products of each primitive as the MLP issues them (`cpu::FaerProducts`: the same shapes,
/// layouts and shards, concurrent shards with two threads), ids `{label}/faer_{row}_products` for
/// the rows `loss_grad`, `hvp`, `grad_s_d3_sym`: the in-run reference for the primitive's own
/// products, without its elementwise passes and bookkeeping.
fn bench_faer_products(g: &mut BenchmarkGroup<'_, WallTime>, label: &str, layers: &[usize], n: usize) {
    use cpu::Primitive;
    let fl = Flops::new(layers, n);
    for (row, what, flops) in [("loss_grad", Primitive::LossGrad, fl.loss_grad), ("hvp", Primitive::Hvp, fl.hvp), ("grad_s_d3_sym", Primitive::GradS, fl.d3_sym)] {
        assert_eq!(what.flops(layers, n), flops as f64, "{row}: the reference's products must be the primitive's");
        let mut faer = cpu::FaerProducts::new(layers, n, what, false);
        g.bench_function(format!("{label}/faer_{row}_products"), |b| iter_on_pool(b, || faer.run()));
    }
}

/// One bench `id`: the faer products [n, in]·[in, out] of every layer of `layers`, with the thread
/// count currently set (`linalg::set_threads`). Deterministic inputs; the output is overwritten.
fn bench_faer_shapes(g: &mut BenchmarkGroup<'_, WallTime>, id: String, layers: &[usize], n: usize) {
    let shapes: Vec<(usize, usize, usize)> = layers.windows(2).map(|w| (n, w[0], w[1])).collect();
    let mut faer = cpu::FaerShapes::new(&shapes);
    g.bench_function(id, |b| iter_on_pool(b, || faer.run()));
}

/// The bare MPFR references at `bits` (throughput 1000 each, so criterion's elem/s is operations
/// per second): `rug{bits}/muladd_x1000`, `acc += x·y` over 1000 preallocated values (an in-place
/// fused multiply-add), and `rug{bits}/tanh_x1000`, tanh in place into a preallocated value. A
/// 256-bit row's fraction of the bare loop (issue 7) is its multiply-adds' time at the loop's rate
/// over its own time, in the same group, so the same run and host phase.
fn bench_rug_refs(g: &mut BenchmarkGroup<'_, WallTime>, bits: u32) {
    const LEN: usize = 1000;
    let a: Vec<Float> = (0..LEN).map(|i| Float::with_val(bits, 1.0 + i as f64 * 1e-3).sqrt()).collect();
    let b: Vec<Float> = (0..LEN).map(|i| Float::with_val(bits, 2.0 - i as f64 * 1e-3).sqrt()).collect();
    g.throughput(Throughput::Elements(LEN as u64));
    g.bench_function(format!("rug{bits}/muladd_x1000"), |bch| {
        let mut acc = Float::with_val(bits, 0);
        bch.iter(|| {
            for (x, y) in a.iter().zip(&b) {
                acc += x * y;
            }
            black_box(&acc);
        })
    });
    g.bench_function(format!("rug{bits}/tanh_x1000"), |bch| {
        // Full-mantissa arguments 3·√(1 + i/1000) − 3.6 ∈ [−0.6, 0.64] (pre-activation scale);
        // tanh in place into a preallocated value.
        let z: Vec<Float> = (0..LEN).map(|i| Float::with_val(bits, 1.0 + i as f64 * 1e-3).sqrt() * 3u32 - 3.6f64).collect();
        let mut t = Float::with_val(bits, 0);
        bch.iter(|| {
            for x in &z {
                t.assign(x);
                t.tanh_mut();
                black_box(&t);
            }
        })
    });
}

/// Configurations to run: `SELFSTAB_BENCH_CONFIGS` = comma-separated subset of `tiny,medium,micro,nano`
/// (default: all of these four; `large`, `xl`, `precision`, `reduced`, `faer1024`, `tiny256`, `tiny256_2t`,
/// `tiny2t`, `medium2t`, `large2t`, `scaling`, `track256`, `reftol` and `chaintol` run only when
/// listed, see [`opted_in`]; `SELFSTAB_BENCH_PRIMITIVES_ONLY` leaves large's solver rows out). Skips the setup (instability search, cold solves) of the others, which a
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

/// Records a fact that criterion's estimates do not hold, for `examples/bench_report`: a
/// configuration's shape and analytic FLOPs (`config/{name}`), the HVPs a solver row's operation
/// takes at the bench point (`{label}/{row}`: `{"hvps": h}`), faer 1024³'s best-of-5 GFLOP/s
/// (`faer1024/gemm_{t}t`). Merged into `bench_facts.json` beside criterion's results (later runs
/// replace a key, keep the others), written atomically.
fn fact(key: &str, value: serde_json::Value) {
    let dir = criterion_dir();
    let path = dir.join("bench_facts.json");
    let mut all: serde_json::Map<String, serde_json::Value> =
        std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    all.insert(key.to_string(), value);
    let tmp = dir.join("bench_facts.json.tmp");
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&tmp, serde_json::to_vec_pretty(&all).expect("facts serialise")))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        eprintln!("[facts] could not write {}: {e}", path.display());
    }
}

/// [`fact`] `config/{name}`: layers, n, p and the analytic FLOPs of [`Flops`].
fn config_fact(cfg: &Config) {
    let f = Flops::new(cfg.layers, cfg.n);
    fact(
        &format!("config/{}", cfg.name),
        serde_json::json!({
            "layers": cfg.layers, "n": cfg.n, "p": param_count(cfg.layers), "eta": cfg.eta,
            "flops": { "forward": f.forward, "loss_grad": f.loss_grad, "hvp": f.hvp, "grad_s_d3_sym": f.d3_sym,
                       "hvp_new_theta": f.hvp_new, "grad_s_d3_sym_new_theta": f.d3_new },
        }),
    );
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
    bench_cheap(g, &label, obj, theta, &v, None);
    bench_faer_shapes(g, format!("{label}/faer_forward_shapes"), cfg.layers, cfg.n);
    bench_faer_products(g, &label, cfg.layers, cfg.n);
    selfstab::linalg::set_threads(1);
}

fn engine(cr: &mut Criterion) {
    for cfg in [&LARGE, &XL] {
        // `large2t`: only large's 2-thread row `large/large-f64-2t/{eigen_warm,lin_proj,tracking_step}`.
        let base = opted_in(cfg.name);
        let two = cfg.name == LARGE.name && opted_in("large2t");
        if !(base || two) {
            continue;
        }
        let pt = bench_point(cfg);
        config_fact(cfg);
        let obj = mlp::<f64>(cfg, ());
        let mut g = cr.benchmark_group(cfg.name);
        g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
        if base {
            bench_threads(&mut g, cfg, &obj, &pt.theta, 1);
            bench_threads(&mut g, cfg, &obj, &pt.theta, 2);
            if cfg.name == LARGE.name && std::env::var("SELFSTAB_BENCH_PRIMITIVES_ONLY").is_err() {
                bench_primitives::<f64>(&mut g, &format!("{}-f64", cfg.name), &obj, &pt, cfg.eta, true, false, None);
            }
        }
        if two {
            selfstab::linalg::set_threads(2);
            bench_primitives::<f64>(&mut g, &format!("{}-f64-2t", cfg.name), &obj, &pt, cfg.eta, true, true, None);
            selfstab::linalg::set_threads(1);
        }
        g.finish();
        if !pt.found {
            eprintln!("[{}] note: bench point is θ after {} GD steps, not an unstable iterate", cfg.name, pt.step);
        }
    }
    for cfg in [&TINY, &MEDIUM] {
        // Default set (`tiny`, `medium`), the opt-in 1-vs-2-thread rows (`tiny2t`, `medium2t`) and
        // the opt-in 256-bit primitives (`tiny256`) share one bench point (one instability search).
        let base = wanted(cfg.name);
        let two = opted_in(&format!("{}2t", cfg.name));
        let mpfr = cfg.name == TINY.name && opted_in("tiny256");
        if !(base || two || mpfr) {
            continue;
        }
        let pt = bench_point(cfg);
        let obj = mlp::<f64>(cfg, ());
        Flops::new(cfg.layers, cfg.n).print(cfg.name, obj.dim());
        config_fact(cfg);
        if base || two {
            let mut g = cr.benchmark_group(cfg.name);
            g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
            if base {
                bench_primitives::<f64>(&mut g, &format!("{}-f64", cfg.name), &obj, &pt, cfg.eta, true, false, None);
                bench_faer(&mut g, cfg);
            }
            if two {
                // `{cfg}-f64-{1,2}t/{loss_grad,hvp,grad_s_d3_sym,faer_*}`, then the rest of
                // the 2-thread row: `{cfg}-f64-2t/{eigen_warm,lin_proj,tracking_step}`.
                bench_threads(&mut g, cfg, &obj, &pt.theta, 1);
                bench_threads(&mut g, cfg, &obj, &pt.theta, 2);
                selfstab::linalg::set_threads(2);
                bench_primitives::<f64>(&mut g, &format!("{}-f64-2t", cfg.name), &obj, &pt, cfg.eta, true, true, None);
                selfstab::linalg::set_threads(1);
            }
            g.finish();
        }
        if mpfr {
            bench_mpfr_primitives(cr, cfg, &obj, &pt, 256);
        }
        if !pt.found {
            eprintln!("[{}] note: bench point is θ after {} GD steps, not an unstable iterate", cfg.name, pt.step);
        }
    }
    for cfg in [&MICRO, &NANO] {
        if !wanted(cfg.name) {
            continue;
        }
        let pt = bench_point(cfg);
        config_fact(cfg);
        let mut g = cr.benchmark_group(cfg.name);
        g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
        let obj64 = mlp::<f64>(cfg, ());
        bench_primitives::<f64>(&mut g, &format!("{}-f64", cfg.name), &obj64, &pt, cfg.eta, false, false, None);
        bench_faer(&mut g, cfg);
        g.finish();
        // The 256-bit rows in a group of the same name of their own: their throughputs (criterion
        // keeps a group's last one for the rows after it) are multiply-adds, with the bare loops
        // beside them: analytic products for the primitives, counted operations for the solvers.
        let mut g = cr.benchmark_group(cfg.name);
        g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
        bench_rug_refs(&mut g, 256);
        let tp = Some(Flops::new(cfg.layers, cfg.n).muladds());
        let obj256 = mlp::<Float>(cfg, 256);
        bench_primitives::<Float>(&mut g, &format!("{}-mpfr256", cfg.name), &obj256, &pt, cfg.eta, false, false, tp);
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
    // At MPFR each row's operations are counted ([`counted_throughput`]), facts keyed by the group
    // (`precision/{label}/{row}`: the `micro` and `nano` groups have rows of the same labels).
    let record = |row: &str, ops: Option<MpfrOps>| {
        if let Some(ops) = ops {
            fact(&format!("precision/{label}/{row}"), serde_json::json!({ "mpfr_ops": ops }));
        }
    };
    if !eigen_only {
        let mut out = zeros::<S>(p, c);
        // loss+grad as its row runs it: each call at a new point of `three_points`.
        let points = three_points(&theta);
        let mut i = 0usize;
        record("loss_grad", counted_throughput::<S, _>(g, || {
            i += 1;
            obj.grad(&points[i % 3], &mut out).expect("grad")
        }));
        bench_loss_grad(g, label, obj, &theta);
        record("hvp", counted_throughput::<S, _>(g, || obj.hvp(&theta, &u, &mut out).expect("hvp")));
        g.bench_function(format!("{label}/hvp"), |b| {
            let mut out = zeros::<S>(p, c);
            iter_on_pool(b, || obj.hvp(black_box(&theta), black_box(&u), &mut out).expect("hvp"))
        });
        record("grad_s_d3_sym", counted_throughput::<S, _>(g, || obj.d3_sym(&theta, &u, &mut out).expect("d3_sym")));
        g.bench_function(format!("{label}/grad_s_d3_sym"), |b| {
            let mut out = zeros::<S>(p, c);
            iter_on_pool(b, || obj.d3_sym(black_box(&theta), black_box(&u), &mut out).expect("d3_sym"))
        });
        return;
    }
    record("eigen_warm", counted_throughput::<S, _>(g, || top_eigen(obj, &theta, Some(&u_prev), &opts).expect("eigen")));
    g.bench_function(format!("{label}/eigen_warm"), |b| {
        iter_on_pool(b, || top_eigen(obj, black_box(&theta), Some(&u_prev), &opts).expect("eigen"))
    });
}

/// The precision ladder: f64, then MPFR at 128, 256 and 512 bits (same θ, same warm start).
/// Loss+gradient, HVP and ∇S on [`MICRO`]; the warm eigen solve on [`NANO`] (on micro one 512-bit
/// solve takes tens of seconds, and criterion needs ≥ 11 of them). At each precision the bare
/// multiply-add and tanh loops (`rug{bits}/…`), and every MPFR row's operations counted, so that
/// `bench_report` gives each row's fraction of the bare loop at its own precision.
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
            if !eigen_only {
                // The bare loops at each precision, once (both configurations share the group).
                bench_rug_refs(&mut g, bits);
            }
            bench_ladder_primitives::<Float>(&mut g, &format!("{}-mpfr{bits}", cfg.name), &mlp::<Float>(cfg, bits), &pt, dirs, eigen_only);
        }
        g.finish();
    }
}

// ---------------------------------------------------------------------------------------------
// Opt-in groups of issue 7 (each named in `SELFSTAB_BENCH_CONFIGS`; the default run is unchanged):
//   reduced   the reduced map, 10,000 steps, f64 and 256 bits       → reduced/{f64,mpfr256}/…
//   faer1024  faer 1024×1024×1024, 1 and 2 threads (§7 JAX scaling)   → faer1024/gemm_{1,2}t
//   tiny256   loss+grad, HVP, ∇S of tiny at 256 bits + rug references → tiny256/…   (in `engine`)
//   tiny256_2t  with `tiny256`: the same primitives with two threads   → tiny256/tiny-mpfr256-2t/…
//   tiny2t, medium2t  1- and 2-thread primitives, 2-thread row        → {tiny,medium}/…-{1,2}t/… (in `engine`)
//   large2t           large's 2-thread row                             → large/large-f64-2t/… (in `engine`)
//   scaling   loss+grad, HVP, ∇S vs n and vs width, f64, 1 thread      → scaling/{n…,w…}/…
//   track256  micro's first tracking step, f64 and 256 bits           → track256/micro-{f64,mpfr256}/tracking_step
// Throughput is set to the analytic FLOP count (f64: criterion's "elem/s" = FLOP/s) or to the
// multiply-add count (MPFR: comparable with the rug loop's elem/s = multiply-adds/s).
// ---------------------------------------------------------------------------------------------

/// Analytic FLOP counts of the products the code issues (benches/RESULTS.md "What bounds the
/// tracking step", eleventh run): a multiply-add is 2 FLOPs; with f_l = 2·n·in_l·out_l, forward
/// Σf_l, loss+grad 3Σf_l − f_1 (no adjoint into the input layer), HVP and ∇S as the fields below
/// state, at an unchanged θ (rows `hvp`, `grad_s_d3_sym`) and at a new θ (`…_new_theta`).
/// Elementwise work (activations, Hadamard products, bias adds, column sums, the loss) is not counted.
#[derive(Clone, Copy, Debug)]
struct Flops {
    forward: u64,
    loss_grad: u64,
    /// HVP / ∇S at an unchanged θ (inside an eigen solve or a projection step the MLP reuses the
    /// θ-only forward/backward blocks of the previous call: 2f₁ + 6Σ_{l>1}f_l and 2f₁ + 11Σ_{l>1}f_l).
    hvp: u64,
    d3_sym: u64,
    /// HVP / ∇S at a new θ (the θ-only blocks recomputed: 3f₁ + 8Σ_{l>1}f_l and 3f₁ + 13Σ_{l>1}f_l).
    hvp_new: u64,
    d3_new: u64,
    /// tanh evaluations of one forward pass: n·Σ hidden widths.
    tanh: u64,
}

impl Flops {
    fn new(layers: &[usize], n: usize) -> Self {
        let f: Vec<u64> = layers.windows(2).map(|w| 2 * (n * w[0] * w[1]) as u64).collect();
        let sum: u64 = f.iter().sum();
        let rest = sum - f[0];
        let hidden: usize = layers[1..layers.len() - 1].iter().sum();
        Self {
            forward: sum,
            loss_grad: 3 * sum - f[0],
            hvp: 2 * f[0] + 6 * rest,
            d3_sym: 2 * f[0] + 11 * rest,
            hvp_new: 3 * f[0] + 8 * rest,
            d3_new: 3 * f[0] + 13 * rest,
            tanh: (n * hidden) as u64,
        }
    }

    /// The MPFR rows' throughputs in multiply-adds (FLOP/2): loss+grad, HVP, ∇S, HVP and ∇S at a
    /// new θ, in [`bench_cheap`]'s order.
    fn muladds(&self) -> [u64; 5] {
        [self.loss_grad / 2, self.hvp / 2, self.d3_sym / 2, self.hvp_new / 2, self.d3_new / 2]
    }

    fn print(&self, label: &str, p: usize) {
        let m = |x: u64| x as f64 * 1e-6;
        eprintln!(
            "[{label}] p = {p}; analytic MFLOP: forward {:.3}, loss+grad {:.3}, HVP {:.3} (new θ {:.3}), ∇S {:.3} (new θ {:.3}); tanh per forward pass {}",
            m(self.forward),
            m(self.loss_grad),
            m(self.hvp),
            m(self.hvp_new),
            m(self.d3_sym),
            m(self.d3_new),
            self.tanh
        );
    }
}

/// θ and two copies with one coordinate moved by 1e-12 and 2e-12: calls cycling through them find
/// no θ-only blocks to reuse (the MLP keeps the blocks of the last θ, of the last two with two
/// threads).
fn three_points<S: Scalar>(theta: &[S]) -> [Vec<S>; 3] {
    let moved = |d: f64| {
        let mut other = theta.to_vec();
        other[0] = other[0].clone() + &S::from_f64(d, theta[0].ctx());
        other
    };
    [theta.to_vec(), moved(1e-12), moved(2e-12)]
}

/// Loss + gradient (id `{label}/loss_grad`) at a new θ for every call, as along GD: the calls
/// cycle through [`three_points`] (a gradient at an unchanged θ would reuse the forward and
/// backward blocks of the previous call and cost only the weight-gradient products).
fn bench_loss_grad<S: Scalar>(g: &mut BenchmarkGroup<'_, WallTime>, label: &str, obj: &Mlp<S>, theta: &[S]) {
    let points = three_points(theta);
    // The call counter runs on across criterion's samples (each sample calls the closure afresh): a
    // counter reset per sample started every sample at points[1], which the last sample may have
    // left stored (Session 37: at 256 bits, one call per sample, every `…_new_theta` ∇S call reused it).
    let mut i = 0usize;
    g.bench_function(format!("{label}/loss_grad"), |b| {
        let mut out = zeros::<S>(obj.dim(), obj.ctx());
        iter_on_pool(b, || {
            i += 1;
            obj.grad(black_box(&points[i % 3]), &mut out).expect("grad")
        })
    });
}

/// HVP and ∇S = ∇³L[v,v] at a new θ for every call (ids `{label}/hvp_new_theta`,
/// `{label}/grad_s_d3_sym_new_theta`): the calls cycle through [`three_points`], so the MLP cannot
/// reuse the θ-only blocks of an earlier call (the cost of the
/// first HVP at a point, e.g. JAX's HVP, against the reused-θ cost of the `hvp` id inside a solve).
fn bench_new_theta<S: Scalar>(g: &mut BenchmarkGroup<'_, WallTime>, label: &str, obj: &Mlp<S>, theta: &[S], v: &[S], tp: Option<[u64; 2]>) {
    let (c, p) = (obj.ctx(), obj.dim());
    let points = three_points(theta);
    for (k, what) in ["hvp_new_theta", "grad_s_d3_sym_new_theta"].into_iter().enumerate() {
        if let Some(t) = tp {
            g.throughput(Throughput::Elements(t[k]));
        }
        // Counted across samples, as in `bench_loss_grad`.
        let mut i = 0usize;
        g.bench_function(format!("{label}/{what}"), |b| {
            let mut out = zeros::<S>(p, c);
            iter_on_pool(b, || {
                i += 1;
                let th = black_box(&points[i % 3]);
                if k == 0 { obj.hvp(th, black_box(v), &mut out) } else { obj.d3_sym(th, black_box(v), &mut out) }.expect("jet")
            })
        });
    }
}

/// Loss+gradient, HVP along `v` and ∇S = ∇³L[v,v] at θ, each with its own throughput (`tp`: loss+grad,
/// HVP, ∇S, in FLOPs or multiply-adds) when given. Bench ids `{label}/{loss_grad,hvp,grad_s_d3_sym}`.
fn bench_cheap<S: Scalar>(g: &mut BenchmarkGroup<'_, WallTime>, label: &str, obj: &Mlp<S>, theta: &[S], v: &[S], tp: Option<[u64; 5]>) {
    let (c, p) = (obj.ctx(), obj.dim());
    if let Some(t) = tp {
        g.throughput(Throughput::Elements(t[0]));
    }
    bench_loss_grad(g, label, obj, theta);
    if let Some(t) = tp {
        g.throughput(Throughput::Elements(t[1]));
    }
    g.bench_function(format!("{label}/hvp"), |b| {
        let mut out = zeros::<S>(p, c);
        iter_on_pool(b, || obj.hvp(black_box(theta), black_box(v), &mut out).expect("hvp"))
    });
    if let Some(t) = tp {
        g.throughput(Throughput::Elements(t[2]));
    }
    g.bench_function(format!("{label}/grad_s_d3_sym"), |b| {
        let mut out = zeros::<S>(p, c);
        iter_on_pool(b, || obj.d3_sym(black_box(theta), black_box(v), &mut out).expect("d3_sym"))
    });
    bench_new_theta(g, label, obj, theta, v, tp.map(|t| [t[3], t[4]]));
}

/// `tiny256`: loss+grad, HVP and ∇S of `cfg` at `bits` bits at the bench point lifted exactly from
/// f64, along u(θ) from an f64 warm solve (lifted; no MPFR eigen solve, it takes minutes). Group
/// `{cfg}{bits}`, ids `{cfg}-mpfr{bits}/…`, throughput in multiply-adds (FLOP/2), and in the same run
/// the references `rug{bits}/muladd_x1000` (in-place fused multiply-adds, throughput 1000) and
/// `rug{bits}/tanh_x1000` (in-place tanh, throughput 1000): a primitive's fraction of the bare loop
/// is its elem/s over the muladd elem/s, optionally counting n·Σhidden tanh per primitive at the
/// measured tanh/muladd cost ratio (decisions.md §7).
fn bench_mpfr_primitives(cr: &mut Criterion, cfg: &Config, obj64: &Mlp<f64>, pt: &Point, bits: u32) {
    let clock = Instant::now();
    let opts = EigenOpts::top::<f64>(1, ());
    let u_prev = top_eigen(obj64, &pt.prev, None, &opts).expect("eigen at θ_{t−1}").vectors[0].clone();
    let u = top_eigen(obj64, &pt.theta, Some(&u_prev), &opts).expect("eigen at θ").vectors[0].clone();
    let obj = mlp::<Float>(cfg, bits);
    let theta: Vec<Float> = from_f64(&pt.theta, bits);
    let v: Vec<Float> = from_f64(&u, bits);
    let fl = Flops::new(cfg.layers, cfg.n);
    eprintln!(
        "[{}-mpfr{bits}] multiply-adds: loss+grad {}, HVP {}, ∇S {}; tanh per forward pass {}; setup {:.1} s",
        cfg.name,
        fl.loss_grad / 2,
        fl.hvp / 2,
        fl.d3_sym / 2,
        fl.tanh,
        clock.elapsed().as_secs_f64()
    );
    let mut g = cr.benchmark_group(format!("{}{bits}", cfg.name));
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    bench_rug_refs(&mut g, bits);
    g.sampling_mode(SamplingMode::Flat);
    let tp = Some(fl.muladds());
    bench_cheap::<Float>(&mut g, &format!("{}-mpfr{bits}", cfg.name), &obj, &theta, &v, tp);
    if opted_in(&format!("{}{bits}_2t", cfg.name)) {
        // `tiny256_2t`: the same primitives with two threads (`{cfg}-mpfr{bits}-2t/…`).
        selfstab::linalg::set_threads(2);
        bench_cheap::<Float>(&mut g, &format!("{}-mpfr{bits}-2t", cfg.name), &obj, &theta, &v, tp);
        selfstab::linalg::set_threads(1);
    }
    g.finish();
}

/// `reduced`: N = 10,000 steps of the reduced map (src/reduced_map.rs), throughput N (criterion's
/// elem/s = steps/s; ns per step = time / 10⁴). Three settings of the crate's own tests:
/// - `step_x10000`: h = 0.01, k = 0 from (X, Y) = (0.1, 0) (claims 5–6), `ReducedMap::step`;
/// - `step_dev_x10000`: the same orbit in deviation coordinates (p = −0.9), `step_dev` (claims 7, 9);
/// - `step_damped_x10000`: h = 0.05, k = 0.01 from (1.1, 0) (claim 11's reference run).
fn bench_reduced<S: Scalar>(g: &mut BenchmarkGroup<'_, WallTime>, label: &str, c: S::Ctx) {
    const N: u64 = 10_000;
    g.throughput(Throughput::Elements(N));
    let num = |x: &str| S::parse(x, c).expect("decimal");
    let map = ReducedMap::<S>::parse("0.01", "0", c).expect("map");
    let s0 = map.state(num("0.1"), S::zero(c)).expect("state");
    g.bench_function(format!("{label}/step_x10000"), |b| {
        let mut ws = Workspace::new(c);
        let mut s = s0.clone();
        b.iter(|| {
            let s0 = black_box(&s0);
            s.x.assign_from(&s0.x);
            s.y.assign_from(&s0.y);
            for _ in 0..N {
                map.step(&mut s, &mut ws);
            }
            black_box(&s);
        })
    });
    let d0 = DevState { sign_negative: false, p: num("-0.9"), y: S::zero(c) };
    g.bench_function(format!("{label}/step_dev_x10000"), |b| {
        let mut ws = Workspace::new(c);
        let mut s = d0.clone();
        b.iter(|| {
            let d0 = black_box(&d0);
            s.sign_negative = d0.sign_negative;
            s.p.assign_from(&d0.p);
            s.y.assign_from(&d0.y);
            for _ in 0..N {
                map.step_dev(&mut s, &mut ws);
            }
            black_box(&s);
        })
    });
    let damped = ReducedMap::<S>::parse("0.05", "0.01", c).expect("damped map");
    let e0 = damped.state(num("1.1"), S::zero(c)).expect("state");
    g.bench_function(format!("{label}/step_damped_x10000"), |b| {
        let mut ws = Workspace::new(c);
        let mut s = e0.clone();
        b.iter(|| {
            let e0 = black_box(&e0);
            s.x.assign_from(&e0.x);
            s.y.assign_from(&e0.y);
            for _ in 0..N {
                damped.step(&mut s, &mut ws);
            }
            black_box(&s);
        })
    });
}

/// `faer1024`: C = A·B with 1024×1024 row-major f64 matrices through `gemm_faer`, one and two
/// threads, throughput 2·1024³ FLOP (criterion's elem/s = FLOP/s). The in-run reference of
/// decisions.md §7: JAX times are scaled by GFLOP/s(1 thread) ÷ 43.7 and GFLOP/s(2 threads) ÷ 86.7.
/// Also prints a best-of-5 wall-clock GFLOP/s per thread count (setup, before criterion).
fn bench_faer1024(cr: &mut Criterion) {
    const N: usize = 1024;
    let flop = 2 * (N * N * N) as u64;
    let a: Vec<f64> = (0..N * N).map(|i| ((i * 7919) % 1000) as f64 * 1e-3 - 0.5).collect();
    let b: Vec<f64> = (0..N * N).map(|i| ((i * 104_729) % 1000) as f64 * 1e-3 - 0.5).collect();
    let mut cm = vec![0.0; N * N];
    let mut g = cr.benchmark_group("faer1024");
    g.sample_size(10).sampling_mode(SamplingMode::Flat).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(flop));
    for (threads, jax_ref) in [(1usize, 43.7), (2, 86.7)] {
        selfstab::linalg::set_threads(threads);
        let best = (0..5)
            .map(|_| {
                let t = Instant::now();
                gemm_faer(&mut cm, &a, false, &b, false, (N, N, N), false);
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        let gf = flop as f64 / best * 1e-9;
        eprintln!("[faer1024] {threads} thread(s): best of 5 {:.2} ms = {gf:.1} GFLOP/s; JAX scale factor {gf:.1}/{jax_ref} = {:.3}", best * 1e3, gf / jax_ref);
        fact(&format!("faer1024/gemm_{threads}t"), serde_json::json!({ "best_of_5_gflops": gf }));
        g.bench_function(format!("gemm_{threads}t"), |bch| {
            bch.iter(|| gemm_faer(&mut cm, black_box(&a), false, black_box(&b), false, (N, N, N), false))
        });
    }
    selfstab::linalg::set_threads(1);
    g.finish();
}

/// `scaling`: how cost grows with n and with p (issue 7 item 2). f64, one thread, at
/// θ = `init_params(layers, 0)` (the primitives' cost does not depend on θ), v = the normalised
/// `default_start`. Sizes: layers 64,32,32,10 at n = 250, 500, 1000, 1797 (`scaling/n{n}/…`), and
/// n = 500 at layers 64,w,w,10 for w = 32, 64, 128, 256 (`scaling/w{w}/…`). Each of loss+grad, HVP,
/// ∇S and the faer forward shapes (`faer_forward_shapes`) with its analytic FLOP count as throughput.
fn bench_scaling(cr: &mut Criterion) {
    let mut sizes: Vec<(String, Vec<usize>, usize)> = Vec::new();
    for n in [250usize, 500, 1000, 1797] {
        sizes.push((format!("n{n}"), vec![64, 32, 32, 10], n));
    }
    for w in [32usize, 64, 128, 256] {
        sizes.push((format!("w{w}"), vec![64, w, w, 10], 500));
    }
    selfstab::linalg::set_threads(1);
    let mut g = cr.benchmark_group("scaling");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    for (label, layers, n) in &sizes {
        let ds = digits(*n).expect("digits");
        let obj = Mlp::<f64>::new(layers, Activation::Tanh, LossKind::Mse, &ds, ()).expect("mlp");
        let theta = init_params(layers, 0).expect("init");
        let p = obj.dim();
        let mut v: Vec<f64> = selfstab::sharpness::default_start::<f64>(p, ());
        let nv = selfstab::linalg::norm(&v);
        v.iter_mut().for_each(|x| *x /= nv);
        let fl = Flops::new(layers, *n);
        fl.print(&format!("scaling/{label}: layers {layers:?}, n = {n}"), p);
        bench_cheap::<f64>(&mut g, label, &obj, &theta, &v, Some([fl.loss_grad, fl.hvp, fl.d3_sym, fl.hvp_new, fl.d3_new]));
        g.throughput(Throughput::Elements(fl.forward));
        bench_faer_shapes(&mut g, format!("{label}/faer_forward_shapes"), layers, *n);
    }
    g.finish();
}

/// The opt-in groups that need no bench point: `reduced`, `faer1024`, `scaling`.
fn extras(cr: &mut Criterion) {
    if opted_in("reduced") {
        let mut g = cr.benchmark_group("reduced");
        g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
        bench_reduced::<f64>(&mut g, "f64", ());
        bench_reduced::<Float>(&mut g, "mpfr256", 256);
        g.finish();
    }
    if opted_in("faer1024") {
        bench_faer1024(cr);
    }
    if opted_in("scaling") {
        bench_scaling(cr);
    }
    if opted_in("track256") {
        bench_track256(cr);
    }
}

/// `track256`: the first tracking step (GD + θ† with 3 projection steps + both predictions, every
/// solve at the precision's default tolerance: 1e-10 in f64, 2^(16−256) at 256 bits) on [`MICRO`]
/// from its bench point, in f64 and at 256 bits (ids `track256/micro-{f64,mpfr256}/tracking_step`).
/// A 256-bit step takes seconds (≈ 4 s on micro) and the steady row 20 such steps of setup, so the
/// steady-state row is left out.
fn bench_track256(cr: &mut Criterion) {
    let cfg = &MICRO;
    let pt = bench_point(cfg);
    config_fact(cfg);
    let mut g = cr.benchmark_group("track256");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    g.sampling_mode(SamplingMode::Flat);
    fn first_step<S: Scalar>(g: &mut BenchmarkGroup<'_, WallTime>, cfg: &Config, pt: &Point, c: S::Ctx) {
        let obj = mlp::<S>(cfg, c);
        let eta = S::parse(cfg.eta, c).expect("eta");
        let theta: Vec<S> = from_f64(&pt.theta, c);
        let opts = EigenOpts::top::<S>(1, c);
        let u_prev = top_eigen(&obj, &from_f64(&pt.prev, c), None, &opts).expect("eigen at θ_{t−1}").vectors[0].clone();
        let label = format!("{}-{}", cfg.name, if S::bits(c) <= 53 { "f64".to_string() } else { format!("mpfr{}", S::bits(c)) });
        bench_tracking(g, &label, &obj, &theta, &eta, &u_prev, EigenOpts::default_tol::<S>(c).to_f64(), None, "", false);
    }
    first_step::<f64>(&mut g, cfg, &pt, ());
    first_step::<Float>(&mut g, cfg, &pt, 256);
    bench_rug_refs(&mut g, 256);
    g.finish();
}

criterion_group!(benches, engine, precision_ladder, extras);
criterion_main!(benches);
