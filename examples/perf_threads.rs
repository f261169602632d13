//! Primitive throughput of the f64 fast path with one and two threads (issue 7): loss+gradient,
//! HVP and ∇S = ∇³L[u,u] of the MLP, and faer's products of the forward shapes as the in-run
//! reference, on tiny / large / xl.
//!
//! Each primitive is timed three ways per call (median of 5 batches of ≈ 0.1 s): the calling
//! thread's CPU time (`/proc/thread-self/schedstat`: time on a core, not time waiting for one),
//! the whole process's CPU time (sum over `/proc/self/task/*/schedstat`, i.e. including faer's
//! rayon workers) and wall clock. With one thread, thread CPU time is the figure to compare on a
//! loaded machine; with two threads only wall clock shows the speed-up, and it is meaningful only
//! when the machine is quiet (`uptime` load < 1.5); process CPU ÷ wall tells how busy both cores were.
//!
//! Also prints a hash of each primitive's output bits, so that two binaries (or 1 vs 2 threads) can
//! be compared for determinism.
//!
//! The point: θ = `init_params(layers, 0)`, u a fixed unit vector (the primitives' cost does not
//! depend on θ or u). HVP and ∇S are timed twice: repeated at one θ (as in a Lanczos solve: the
//! constant blocks are reused) and cycling through three points ("new θ": every call recomputes
//! them); the FLOPs counted are those of the products each issues.
//!
//! `pair` as the second argument alternates one- and two-thread batches instead ([`paired_ms`]):
//! the per-pair ratio is the speed-up measurement for a shared host.
//!
//! The calls come from this example's own thread, outside rayon's pool, as they did in the
//! criterion rows up to Session 19: with two threads some batches therefore include the slow calls
//! that find the other worker asleep (`examples/pool_calls`, benches/RESULTS.md "Session 20"); the
//! engine's solves and steps, and the criterion rows since, issue them from inside the pool.
//!
//! `cargo run --release --example perf_threads -- [tiny,large,xl] [1,2|pair] [grad|hvp|d3]`

use std::hint::black_box;
use std::time::Instant;

use selfstab::data::{digits, init_params};
use selfstab::linalg::set_threads;
use selfstab::models::mlp::{Activation, LossKind, Mlp};
use selfstab::objective::Objective;

#[path = "support/cpu.rs"]
mod cpu;
use cpu::cpu_ns as thread_ns;

fn process_ns() -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir("/proc/self/task").expect("tasks").flatten() {
        if let Ok(s) = std::fs::read_to_string(e.path().join("schedstat")) {
            total += s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    total
}

/// Per-call (thread CPU, process CPU, wall) in ms: median of 5 batches of ≈ 0.1 s each.
fn measure(mut f: impl FnMut()) -> (f64, f64, f64) {
    let reps = cpu::wall_reps(&mut f);
    let mut v: Vec<(f64, f64, f64)> = (0..5)
        .map(|_| {
            let (t, p, w) = (thread_ns(), process_ns(), Instant::now());
            for _ in 0..reps {
                f();
            }
            let r = reps as f64 * 1e6;
            ((thread_ns() - t) as f64 / r, (process_ns() - p) as f64 / r, w.elapsed().as_nanos() as f64 / r)
        })
        .collect();
    let med = |k: usize, v: &mut Vec<(f64, f64, f64)>| {
        let mut x: Vec<f64> = v.iter().map(|t| [t.0, t.1, t.2][k]).collect();
        x.sort_by(f64::total_cmp);
        x[2]
    };
    (med(0, &mut v), med(1, &mut v), med(2, &mut v))
}

fn hash(x: &[f64]) -> u64 {
    // FNV-1a over the bits.
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for v in x {
        for b in v.to_bits().to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x100_0000_01b3);
        }
    }
    h
}

/// Wall clock per call in ms of `f` with one and with two threads, the batches alternating
/// (1, 2, 1, 2, …; `PAIRS` pairs of ≈ 0.1 s batches): the medians of each and the median, minimum and
/// maximum of the per-pair ratios t₁/t₂. A pair's two batches run within a fraction of a second
/// of each other, so a drift of the shared host's load hits both alike and the ratio keeps its
/// meaning where the absolute times move by ±30 % (RESULTS.md, Tenth run).
fn paired_ms(mut f: impl FnMut()) -> [f64; 5] {
    const PAIRS: usize = 15;
    let reps = cpu::wall_reps(&mut f);
    let mut batch = |t: usize| {
        set_threads(t);
        f();
        let w = Instant::now();
        for _ in 0..reps {
            f();
        }
        w.elapsed().as_secs_f64() * 1e3 / reps as f64
    };
    let (mut t1, mut t2, mut r) = (vec![], vec![], vec![]);
    for _ in 0..PAIRS {
        let (a, b) = (batch(1), batch(2));
        t1.push(a);
        t2.push(b);
        r.push(a / b);
    }
    for v in [&mut t1, &mut t2, &mut r] {
        v.sort_by(f64::total_cmp);
    }
    [t1[PAIRS / 2], t2[PAIRS / 2], r[PAIRS / 2], r[0], r[PAIRS - 1]]
}

/// `pair` mode: one against two threads per primitive by [`paired_ms`].
fn paired(name: &str, obj: &Mlp<f64>, theta: &[f64], cycle: &[Vec<f64>], u: &[f64], shapes: &[(usize, usize, usize)]) {
    let p = obj.dim();
    let mut out = vec![0.0; p];
    let mut at = 0;
    let mut next = || {
        at = (at + 1) % cycle.len();
        &cycle[at]
    };
    let mut faer = cpu::FaerShapes::new(shapes);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("[{name} p={p} paired 1T/2T] load {}", load.split_whitespace().next().unwrap_or("?"));
    println!("  {:<11} {:>9} {:>9} {:>8} {:>14}", "", "1T ms", "2T ms", "2T/1T", "pair range");
    let rows: Vec<(&str, [f64; 5])> = vec![
        (
            "faer fwd",
            paired_ms(|| faer.run()),
        ),
        ("loss+grad", paired_ms(|| {
            black_box(obj.grad(next(), &mut out).unwrap());
        })),
        ("HVP", paired_ms(|| obj.hvp(theta, u, &mut out).unwrap())),
        ("∇S", paired_ms(|| obj.d3_sym(theta, u, &mut out).unwrap())),
        ("HVP new θ", paired_ms(|| obj.hvp(next(), u, &mut out).unwrap())),
        ("∇S new θ", paired_ms(|| obj.d3_sym(next(), u, &mut out).unwrap())),
    ];
    for (what, m) in rows {
        println!("  {what:<11} {:>9.3} {:>9.3} {:>8.2} {:>6.2}–{:.2}", m[0], m[1], m[2], m[3], m[4]);
    }
}

fn main() {
    let configs = std::env::args().nth(1).unwrap_or_else(|| "tiny,large,xl".into());
    let threads = std::env::args().nth(2).unwrap_or_else(|| "1,2".into());
    // Optional third argument: only this primitive (`grad`, `hvp` or `d3`), repeated for ≈ 3 s, for
    // profiling with `perf record`.
    let only = std::env::args().nth(3);
    for name in configs.split(',') {
        let (layers, n): (&[usize], usize) = match name {
            "tiny" => (&[64, 32, 32, 32, 10], 200),
            "medium" => (&[64, 64, 64, 64, 10], 500),
            "large" => (&[64, 128, 128, 10], 1000),
            "xl" => (&[64, 256, 256, 256, 10], 1797),
            other => panic!("unknown configuration {other}"),
        };
        let ds = digits(n).expect("digits");
        let obj = Mlp::<f64>::new(layers, Activation::Tanh, LossKind::Mse, &ds, ()).expect("mlp");
        let p = obj.dim();
        let theta = init_params(layers, 0).unwrap();
        // Three points to cycle through where every call must start afresh: the model keeps the
        // constant blocks of the last two θ's with two threads.
        let cycle = [theta.clone(), init_params(layers, 1).unwrap(), init_params(layers, 2).unwrap()];
        let mut u: Vec<f64> = (0..p).map(|i| ((i * 7919 + 13) % 1009) as f64 / 1009.0 - 0.5).collect();
        let nu = u.iter().map(|v| v * v).sum::<f64>().sqrt();
        u.iter_mut().for_each(|v| *v /= nu);
        let shapes: Vec<(usize, usize, usize)> = layers.windows(2).map(|w| (n, w[0], w[1])).collect();
        let f: Vec<f64> = shapes.iter().map(|&(m, k, nn)| 2.0 * (m * k * nn) as f64).collect();
        let fsum: f64 = f.iter().sum();
        // FLOPs of the products issued (RESULTS.md): loss+grad 3Σf − f₁; a full HVP 3f₁ + 8Σ_{l>1}f_l and
        // ∇S 3f₁ + 13Σ_{l>1}f_l; at an unchanged θ (constant blocks reused) 2f₁ + 6Σ_{l>1}f_l and
        // 2f₁ + 11Σ_{l>1}f_l.
        let rest = fsum - f[0];
        let (flg, fhv, fds) = (3.0 * fsum - f[0], 2.0 * f[0] + 6.0 * rest, 2.0 * f[0] + 11.0 * rest);
        let (fhv_new, fds_new) = (3.0 * f[0] + 8.0 * rest, 3.0 * f[0] + 13.0 * rest);
        if threads == "pair" {
            paired(name, &obj, &theta, &cycle, &u, &shapes);
            continue;
        }
        for t in threads.split(',') {
            let t: usize = t.parse().expect("threads");
            set_threads(t);
            let mut out = vec![0.0; p];
            let mut hs = Vec::new();
            obj.grad(&theta, &mut out).unwrap();
            hs.push(hash(&out));
            obj.hvp(&theta, &u, &mut out).unwrap();
            hs.push(hash(&out));
            obj.d3_sym(&theta, &u, &mut out).unwrap();
            hs.push(hash(&out));
            if let Some(which) = only.as_deref() {
                let t0 = Instant::now();
                while t0.elapsed().as_secs() < 3 {
                    match which {
                        "grad" => drop(obj.grad(&theta, &mut out).unwrap()),
                        "hvp" => obj.hvp(&theta, &u, &mut out).unwrap(),
                        "d3" => obj.d3_sym(&theta, &u, &mut out).unwrap(),
                        other => panic!("unknown primitive {other}"),
                    }
                }
                continue;
            }
            let mut at = 0;
            let mut next = || {
                at = (at + 1) % cycle.len();
                &cycle[at]
            };
            let lg = measure(|| {
                black_box(obj.grad(next(), &mut out).unwrap());
            });
            let hv = measure(|| obj.hvp(&theta, &u, &mut out).unwrap());
            let ds3 = measure(|| obj.d3_sym(&theta, &u, &mut out).unwrap());
            // The first jet evaluation at a new θ also computes the constant blocks (cycling through
            // three θ's forces that at every call).
            let hv_new = measure(|| obj.hvp(next(), &u, &mut out).unwrap());
            let ds3_new = measure(|| obj.d3_sym(next(), &u, &mut out).unwrap());
            let mut faer = cpu::FaerShapes::new(&shapes);
            let fa = measure(|| faer.run());
            let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
            println!(
                "[{name} p={p} threads={t}] load {} hashes grad {:016x} hvp {:016x} d3sym {:016x}",
                load.split_whitespace().next().unwrap_or("?"),
                hs[0],
                hs[1],
                hs[2]
            );
            let gf = |flop: f64, ms: f64| flop / ms / 1e6;
            // Throughput from thread CPU time with 1 thread, from wall clock with 2.
            let pick = |m: (f64, f64, f64)| if t == 1 { m.0 } else { m.2 };
            let faer_gf = gf(fsum, pick(fa));
            println!(
                "  {:<11} {:>9} {:>9} {:>9} {:>8} {:>7}",
                "", "thread ms", "proc ms", "wall ms", "GFLOP/s", "% faer"
            );
            for (what, flop, m) in [
                ("faer fwd", fsum, fa),
                ("loss+grad", flg, lg),
                ("HVP", fhv, hv),
                ("∇S", fds, ds3),
                ("HVP new θ", fhv_new, hv_new),
                ("∇S new θ", fds_new, ds3_new),
            ] {
                println!(
                    "  {what:<11} {:>9.4} {:>9.4} {:>9.4} {:>8.1} {:>6.0}%",
                    m.0,
                    m.1,
                    m.2,
                    gf(flop, pick(m)),
                    100.0 * gf(flop, pick(m)) / faer_gf
                );
            }
            println!(
                "  ratios: HVP/loss+grad {:.2}, ∇S/loss+grad {:.2}; at a new θ {:.2}, {:.2} ({})",
                pick(hv) / pick(lg),
                pick(ds3) / pick(lg),
                pick(hv_new) / pick(lg),
                pick(ds3_new) / pick(lg),
                if t == 1 { "thread CPU" } else { "wall" }
            );
        }
    }
}
