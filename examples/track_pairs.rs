//! One against two threads on the tracking step, paired per state (issue 7): from the first
//! unstable iterate of a track configuration (support/track.rs) the run takes 20 steps, then for
//! each of the next `states` steps' states it times θ†'s constrained step alone
//! (`constrained::step_early`, part B of `tracking::step`, on a copy of the state's trail) and the
//! whole step (on a copy of the state), each with one and then with two threads, back to back. Wall
//! clock: with the two runs of a pair a fraction of a second apart, the ratio keeps its meaning on a
//! shared host where back-to-back runs of separate binaries move by ±30 % (`track_branches` runs
//! all one-thread steps, then all two-thread steps).
//!
//! `cargo run --release --example track_pairs -- [tiny|medium|large] [states] [skip] [eig_tol] [reps]`
//! (default medium, 8 states after 20 steps, tolerance 1e-10, one pair per state; `skip` 0 pairs
//! the first tracking step, the bench's `tracking_step` row, and `reps` repeats each state's pair)
use selfstab::constrained;
use selfstab::linalg::set_threads;
use selfstab::tracking::TrackState;
use std::time::Instant;
#[path = "support/track.rs"]
mod track;

fn main() {
    let cfg = std::env::args().nth(1).unwrap_or_else(|| "medium".into());
    let states: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(8);
    let skip: usize = std::env::args().nth(3).and_then(|a| a.parse().ok()).unwrap_or(20);
    let eig_tol: f64 = std::env::args().nth(4).and_then(|a| a.parse().ok()).unwrap_or(1e-10);
    let reps: usize = std::env::args().nth(5).and_then(|a| a.parse().ok()).unwrap_or(1).max(1);
    let (obj, eta, start_step, topts, mut st) = track::setup_tol(&cfg, eig_tol);
    set_threads(1);
    for _ in 0..skip {
        track::step(&obj, eta, &mut st, &topts);
    }
    let chain = |threads: usize, st: &TrackState<f64>| {
        set_threads(threads);
        let mut trail = st.trail_dagger.clone();
        let t = Instant::now();
        let pj = constrained::step_early(&obj, &eta, &st.dagger, topts.projection_steps, Some(&mut trail), topts.eig_tol, topts.eig_tol).unwrap();
        (t.elapsed().as_secs_f64() * 1e3, pj.hvps)
    };
    let full = |threads: usize, st: &TrackState<f64>| {
        set_threads(threads);
        let mut s = st.clone();
        let t = Instant::now();
        track::step(&obj, eta, &mut s, &topts);
        t.elapsed().as_secs_f64() * 1e3
    };
    let (mut rc, mut rf) = (vec![], vec![]);
    println!("{cfg}: states of tracking steps {}–{} from GD step {start_step}, tolerance {eig_tol:e}; wall ms", skip + 1, skip + states);
    for i in 0..states {
        for _ in 0..reps {
            let (c1, h) = chain(1, &st);
            let (c2, _) = chain(2, &st);
            let (f1, f2) = (full(1, &st), full(2, &st));
            println!("  step {}: θ† chain ({h} HVPs) 1T {c1:.1}, 2T {c2:.1} ({:.2}×); whole step 1T {f1:.1}, 2T {f2:.1} ({:.2}×)", skip + 1 + i, c1 / c2, f1 / f2);
            rc.push(c1 / c2);
            rf.push(f1 / f2);
        }
        set_threads(1);
        track::step(&obj, eta, &mut st, &topts);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("median 2T speed-up: θ† chain {:.2}×, whole step {:.2}×", med(&mut rc), med(&mut rf));
}
