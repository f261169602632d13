//! Thread CPU time of the bench's tracking step (issue 7): the first tracking step from the first
//! unstable iterate (tiny / medium / large, tol 1e-9, one thread), repeated `reps` times on a copy
//! of the state, split into the objective's calls (value, gradient, HVP, third derivatives) and the
//! rest (eigen solver bookkeeping, projections, predictions), with the user and system time of the
//! timed region (`/proc/thread-self/stat`, clock ticks): system time is the kernel's page faults
//! when large buffers go back to the OS between uses. `track_cpu` measures later steps.
//!
//! With `CHAIN=1` it times consecutive steps of one run from a single copy instead (the pools
//! then stay warm from step to step).
//!
//! With `ATTACH=1` the example prints its pid and waits 3 s before the timed loop, for
//! `perf record -p PID` to profile the steps without the instability search.
//!
//! `cargo run --release --example first_step -- [tiny|medium|large] [reps]` (default medium, 10)

#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/track.rs"]
mod track;
use cpu::{Timed, cpu_ns};

/// (user, system) clock ticks of the calling thread.
fn ticks() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/thread-self/stat").expect("/proc/thread-self/stat");
    let rest = &s[s.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[11].parse().expect("utime"), f[12].parse().expect("stime"))
}

fn main() {
    let cfg = std::env::args().nth(1).unwrap_or_else(|| "medium".into());
    let reps: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(10).max(1);
    let (obj, eta, _, topts, st0) = track::setup_tol(&cfg, 1e-9);
    let tm = Timed::new(&obj);
    if std::env::var_os("ATTACH").is_some() {
        eprintln!("pid {}", std::process::id());
        std::thread::sleep(std::time::Duration::from_secs(3));
    }
    let ns0 = *tm.ns.lock().unwrap();
    let (mut cpu, mut user, mut sys) = (0u64, 0u64, 0u64);
    let chain = std::env::var_os("CHAIN").is_some();
    let mut run = st0.clone();
    for _ in 0..reps {
        let mut fresh = if chain { None } else { Some(st0.clone()) };
        let st = fresh.as_mut().unwrap_or(&mut run);
        let (u0, s0) = ticks();
        let t0 = cpu_ns();
        track::step(&tm, eta, st, &topts);
        cpu += cpu_ns() - t0;
        let (u1, s1) = ticks();
        user += u1 - u0;
        sys += s1 - s0;
    }
    let per = |ns: u64| ns as f64 / reps as f64 / 1e6;
    let ns = *tm.ns.lock().unwrap();
    let part: Vec<f64> = ns.iter().zip(&ns0).map(|(a, b)| per(a - b)).collect();
    let total = per(cpu);
    let rest = total - part.iter().sum::<f64>();
    println!(
        "{cfg}, first tracking step at 1e-9 ({reps} reps): {total:.2} ms CPU, {} HVPs; value {:.2}, grad {:.2}, hvp {:.2}, d3 {:.2} ms; rest {rest:.2} ms ({:.1} %); system time {:.1} % of the ticks",
        tm.hvps() / reps as u64,
        part[0],
        part[1],
        part[2],
        part[3],
        100.0 * rest / total,
        100.0 * sys as f64 / (user + sys).max(1) as f64
    );
}
