//! Paired wall clock of two-thread tracking steps with and without the polling hand-off
//! (`linalg::set_partner`): from the first unstable iterate of a track configuration, each of
//! `reps` rounds times the first tracking step (on a copy of the state) with two threads, polling
//! on and off in alternating order, then prints the medians and the median per-round ratio.
//!
//! `cargo run --release --example partner_pairs -- [tiny|medium|large] [reps] [eig_tol] [chain_tol]`
//! (default medium, 20, 1e-9, no chain tolerance; `TrackOpts::chain_tol`)
use selfstab::linalg::{set_partner, set_threads};
use std::time::Instant;
#[path = "support/pairs.rs"]
mod pairs;
#[path = "support/track.rs"]
mod track;

fn main() {
    let cfg = std::env::args().nth(1).unwrap_or_else(|| "medium".into());
    let reps: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(20);
    let eig_tol: f64 = std::env::args().nth(3).and_then(|a| a.parse().ok()).unwrap_or(1e-9);
    let (obj, eta, _, mut topts, st) = track::setup_tol(&cfg, eig_tol);
    topts.chain_tol = std::env::args().nth(4).and_then(|a| a.parse().ok());
    set_threads(2);
    let full = |on: bool| {
        set_partner(on);
        let mut s = st.clone();
        let t = Instant::now();
        track::step(&obj, eta, &mut s, &topts);
        t.elapsed().as_secs_f64() * 1e3
    };
    full(true);
    let (on, off, ratio) = pairs::alternate(reps, || full(true), || full(false));
    println!(
        "{cfg} (tol {eig_tol:e}, chain {:?}), first tracking step, two threads, {reps} rounds: polling {on:.1} ms, rayon's sleep {off:.1} ms (median), off ÷ on per round {ratio:.2}",
        topts.chain_tol
    );
}
