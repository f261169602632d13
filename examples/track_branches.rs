//! Thread CPU time of a tracking step's two parts (issue 7): part B, θ†'s constrained step
//! (`constrained::step_early`), and part A, the rest (GD's evaluation, the predictions, the
//! statistics), on the track_cpu configurations, with one and with two threads.
//!
//! - One thread: each step's CPU on the calling thread (A + B); B is measured by running the same
//!   constrained step again after the step from a copy of the state before it (same θ† and trail,
//!   so the same solves; its first evaluation is at a new θ either way), and A = step − B. The
//!   critical-path estimate for two threads is max(A, B).
//! - Two threads: the parts run on rayon's two workers; the CPU each thread of the process spent
//!   during the step (from `/proc/self/task/*/schedstat`), the larger and the smaller per step, and
//!   the wall clock (unreliable while other jobs run). The objective's calls are timed on the thread
//!   that makes them, so ms/HVP shows whether the two parts evict each other's stored blocks.
//!
//! `cargo run --release --example track_branches -- [tiny|medium|large] [steps] [threads] [chain_tol|-] [eig_tol]`
//! (default tiny, 40, 1, every solve at 1e-10; `eig_tol` sets every tracking solve's tolerance)

use selfstab::constrained;
use selfstab::linalg::set_threads;

#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/track.rs"]
mod track;
use cpu::{Timed, cpu_ns};

/// CPU time (ns) of every thread of the process, by thread id.
fn threads_ns() -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = std::fs::read_dir("/proc/self/task")
        .expect("task dir")
        .filter_map(|e| {
            let e = e.ok()?;
            let tid = e.file_name().to_str()?.parse().ok()?;
            let s = std::fs::read_to_string(e.path().join("schedstat")).ok()?;
            Some((tid, s.split_whitespace().next()?.parse().ok()?))
        })
        .collect();
    v.sort();
    v
}

/// Per-thread CPU spent between two [`threads_ns`] readings, largest first (ms).
fn spent(before: &[(u64, u64)], after: &[(u64, u64)]) -> Vec<f64> {
    let mut d: Vec<f64> = after
        .iter()
        .map(|(tid, ns)| {
            let b = before.iter().find(|(t, _)| t == tid).map_or(0, |x| x.1);
            (ns - b) as f64 / 1e6
        })
        .collect();
    d.sort_by(|a, b| b.total_cmp(a));
    d
}

fn main() {
    let cfg = std::env::args().nth(1).unwrap_or_else(|| "tiny".into());
    let n: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(40);
    let threads: usize = std::env::args().nth(3).and_then(|a| a.parse().ok()).unwrap_or(1);
    let eig_tol: f64 = std::env::args().nth(5).and_then(|a| a.parse().ok()).unwrap_or(1e-10);
    let (obj, eta, start_step, mut topts, mut st) = track::setup_tol(&cfg, eig_tol);
    // Optional fourth argument: the θ† chain's early-solve tolerance (`TrackOpts::chain_tol`).
    topts.chain_tol = std::env::args().nth(4).and_then(|a| a.parse().ok());
    let tm = Timed::new(&obj);
    set_threads(threads);
    // Sums over the steps (the thread CPU counter advances at scheduler ticks, so only sums over
    // many steps are accurate).
    let (mut step_ns, mut b_ns, mut wall) = (0u64, 0u64, 0.0);
    let all0 = threads_ns();
    for _ in 0..n {
        let before = (threads == 1).then(|| st.clone());
        let (t0, w0) = (cpu_ns(), std::time::Instant::now());
        track::step(&tm, eta, &mut st, &topts);
        step_ns += cpu_ns() - t0;
        wall += w0.elapsed().as_secs_f64() * 1e3 / n as f64;
        if let Some(before) = before {
            let mut trail = before.trail_dagger.clone();
            let b0 = cpu_ns();
            let early = topts.chain_tol.unwrap_or(topts.eig_tol);
            let pj = constrained::step_early(&obj, &eta, &before.dagger, topts.projection_steps, Some(&mut trail), topts.eig_tol, early).unwrap();
            b_ns += cpu_ns() - b0;
            assert_eq!(pj.center.theta, st.dagger.theta, "the replayed constrained step differs");
        }
    }
    // With one thread this includes the replayed B (not reported).
    let per_thread = spent(&all0, &threads_ns());
    let hvp_ms = tm.ns.lock().unwrap()[2] as f64 / 1e6 / tm.hvps() as f64;
    let per = |ns: u64| ns as f64 / 1e6 / n as f64;
    if threads == 1 {
        let (step, b) = (per(step_ns), per(b_ns));
        let a = step - b;
        println!(
            "{cfg}, 1 thread, {n} steps from step {start_step}: step {step:.2} ms CPU = A {a:.2} + B {b:.2}; critical path max(A, B) {:.2} ms = {:.2}× of A + B; {hvp_ms:.3} ms/HVP; wall {wall:.2} ms/step",
            a.max(b),
            a.max(b) / step
        );
    } else {
        let cpu: Vec<String> = per_thread.iter().filter(|&&ms| ms > 0.0).map(|ms| format!("{:.2}", ms / n as f64)).collect();
        println!(
            "{cfg}, {threads} threads, {n} steps from step {start_step}: CPU per step by thread {} ms (sum {:.2}); {hvp_ms:.3} ms/HVP; wall {wall:.2} ms/step",
            cpu.join(" + "),
            per_thread.iter().sum::<f64>() / n as f64
        );
    }
}
