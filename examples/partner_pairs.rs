//! Paired wall clock of two-thread tracking steps with and without the polling hand-off
//! (`linalg::set_partner`): from the first unstable iterate of a track configuration, each of
//! `reps` rounds times the first tracking step (on a copy of the state) with two threads, polling
//! on and off in alternating order, then prints the medians and the median per-round ratio.
//!
//! `cargo run --release --example partner_pairs -- [tiny|medium|large] [reps] [eig_tol] [chain_tol]`
//! (default medium, 20, 1e-9, no chain tolerance; `TrackOpts::chain_tol`)
use selfstab::linalg::{set_partner, set_threads};
use std::time::Instant;
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
    let (mut on, mut off, mut ratio) = (vec![], vec![], vec![]);
    for i in 0..reps {
        let (a, b) = if i % 2 == 0 {
            let a = full(true);
            (a, full(false))
        } else {
            let b = full(false);
            (full(true), b)
        };
        on.push(a);
        off.push(b);
        ratio.push(b / a);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "{cfg} (tol {eig_tol:e}, chain {:?}), first tracking step, two threads, {reps} rounds: polling {:.1} ms, rayon's sleep {:.1} ms (median), off ÷ on per round {:.2}",
        topts.chain_tol,
        med(&mut on),
        med(&mut off),
        med(&mut ratio)
    );
}
