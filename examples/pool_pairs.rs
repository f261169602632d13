//! Paired wall clock of the bench's first tracking step with the state's copy sharing its trails'
//! scratch pools (`Trail::clone`, as the bench copies the state) against a copy whose trails start
//! with empty pools (every solve faults its basis and image vectors in afresh, as before commit
//! 09bd697): from the first unstable iterate of a track configuration, each of `reps` rounds times
//! one step of each kind in alternating order; prints the medians and the median per-round ratio.
//!
//! `cargo run --release --example pool_pairs -- [tiny|medium|large] [reps] [threads]` (default
//! medium, 20, 2; tolerance 1e-9)
use selfstab::linalg::set_threads;
use selfstab::models::jet::Pool;
use std::time::Instant;
#[path = "support/track.rs"]
mod track;

fn main() {
    let cfg = std::env::args().nth(1).unwrap_or_else(|| "medium".into());
    let reps: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(20).max(1);
    let threads: usize = std::env::args().nth(3).and_then(|a| a.parse().ok()).unwrap_or(2);
    let (obj, eta, _, topts, st) = track::setup_tol(&cfg, 1e-9);
    set_threads(threads);
    let full = |shared: bool| {
        let mut s = st.clone();
        if !shared {
            s.trail_gd.pool = Pool::new();
            s.trail_dagger.pool = Pool::new();
        }
        let t = Instant::now();
        track::step(&obj, eta, &mut s, &topts);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        drop(s);
        ms
    };
    full(true);
    let (mut sh, mut fr, mut ratio) = (vec![], vec![], vec![]);
    for i in 0..reps {
        let (a, b) = if i % 2 == 0 {
            let a = full(true);
            (a, full(false))
        } else {
            let b = full(false);
            (full(true), b)
        };
        sh.push(a);
        fr.push(b);
        ratio.push(b / a);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "{cfg} (tol 1e-9), first tracking step, {threads} thread(s), {reps} rounds: shared pools {:.1} ms, empty pools {:.1} ms (median), empty ÷ shared per round {:.3}",
        med(&mut sh),
        med(&mut fr),
        med(&mut ratio)
    );
}
