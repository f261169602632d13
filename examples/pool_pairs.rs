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
#[path = "support/pairs.rs"]
mod pairs;
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
    let (shared, empty, ratio) = pairs::alternate(reps, || full(true), || full(false));
    println!(
        "{cfg} (tol 1e-9), first tracking step, {threads} thread(s), {reps} rounds: shared pools {shared:.1} ms, empty pools {empty:.1} ms (median), empty ÷ shared per round {ratio:.3}"
    );
}
