//! Thread CPU time of the tiny tracking step in its steady state (issue 7): 60 tracking steps from
//! the first unstable iterate (tiny: 64,32,32,32,10; n = 200; η = 0.2297; seed 0; tol 1e-10), with
//! the CPU time split into the objective's calls (value, gradient, HVP, third derivatives) and the
//! rest (eigen solver, projections' bookkeeping). The optional third argument sets the θ† chain's
//! early-solve tolerance (`TrackOpts::chain_tol`; default: every solve at 1e-10; `-` for none), the
//! optional fourth the eigen tolerance of every tracking solve (`TrackOpts::eig_tol`, default 1e-10;
//! 1e-9 is the JAX reference's stopping rule, `theory/reference/perf-reference.md`).
//!
//! `cargo run --release --example track_cpu -- [tiny|medium|large] [steps] [chain_tol|-] [eig_tol]` (default tiny, 60)


#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/track.rs"]
mod track;
use cpu::{Timed, cpu_ns};

fn main() {
    let cfg = std::env::args().nth(1).unwrap_or_else(|| "tiny".into());
    let eig_tol: f64 = std::env::args().nth(4).and_then(|a| a.parse().ok()).unwrap_or(1e-10);
    let (obj, eta, start_step, mut topts, mut st) = track::setup_tol(&cfg, eig_tol);
    // Optional third argument: the θ† chain's early-solve tolerance (`TrackOpts::chain_tol`).
    topts.chain_tol = std::env::args().nth(3).and_then(|a| a.parse().ok());
    let tm = Timed::new(&obj);
    let n: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(60).max(21);
    let mut per_step = vec![];
    let t0 = cpu_ns();
    for _ in 0..n {
        let h0 = tm.hvps();
        track::step(&tm, eta, &mut st, &topts);
        per_step.push(tm.hvps() - h0);
    }
    let tot = (cpu_ns() - t0) as f64 / n as f64 / 1e6;
    let ns = *tm.ns.lock().unwrap();
    let part: Vec<f64> = ns.iter().map(|&x| x as f64 / n as f64 / 1e6).collect();
    let h = tm.hvps() as f64 / n as f64;
    let late = per_step[20..].iter().sum::<u64>() as f64 / (n - 20) as f64;
    println!(
        "{cfg} (eig_tol {eig_tol:.0e}), {n} tracking steps from step {}: {tot:.2} ms CPU/step; HVPs/step {h:.1} (all HVPs counted; steps 20–59: {late:.1}); value {:.2}, grad {:.2}, hvp {:.2} ms ({:.3} ms/HVP), d3 {:.2} ms; rest (eigen solver, bookkeeping) {:.2} ms",
        start_step,
        part[0],
        part[1],
        part[2],
        part[2] / h,
        part[3],
        tot - part.iter().sum::<f64>()
    );
}
