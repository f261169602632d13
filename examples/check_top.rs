//! Do the tracking's warm-started eigen solves return the *top* eigenvalue? Runs `tracking::step`
//! from the first unstable iterate (tiny / medium / large of `support/track.rs`) and after every
//! step compares GD's S(θ_t) and θ†'s S(θ†_{t+1}) with a cold top-2 solve (default start, tol
//! 1e-10) at the same point. A warm start can converge to λ₂ with a residual below the tolerance
//! when the top pair crosses (theory/README.md "Eigen solver: crossings and a stale
//! preconditioner"); a residual cannot show it, only a solve that does not depend on the trail.
//! `reset` empties both trails before every step (each solve then starts from the previous u and
//! its stored Ritz pairs only: the mode that found the crossing and the stall). Prints every tenth
//! step and every step whose relative difference exceeds 1e-8, then the count of such steps; exits
//! with status 1 when there is one, or when a step stops.
//!
//! `cargo run --release --example check_top -- [tiny|medium|large] [eig_tol] [steps] [reset]`
//! (default medium, 1e-10, 100)

use selfstab::mag::Mag;
use selfstab::sharpness::{EigenOpts, Trail, top_eigen};
use selfstab::tracking;

#[path = "support/track.rs"]
mod track;

fn main() {
    let arg = |i: usize| std::env::args().nth(i);
    let cfg = arg(1).unwrap_or_else(|| "medium".into());
    let tol: f64 = arg(2).and_then(|a| a.parse().ok()).unwrap_or(1e-10);
    let n: usize = arg(3).and_then(|a| a.parse().ok()).unwrap_or(100);
    let reset = arg(4).is_some_and(|a| a == "reset");
    let (obj, eta, _, topts, mut st) = track::setup_tol(&cfg, tol);
    let cold = EigenOpts { tol: Mag::new(1e-10), ..EigenOpts::top::<f64>(2, ()) };
    let mut bad = 0;
    for t in 0..n {
        if reset {
            st.trail_gd = Trail::default();
            st.trail_dagger = Trail { cap: tracking::TRAIL_DAGGER_POINTS, ..Trail::default() };
        }
        let theta = st.theta.clone();
        let (row, stop) = tracking::step(&obj, &eta, &mut st, &topts).unwrap();
        if let Some(s) = stop {
            println!("{cfg}: tracking step {t} stopped: {}", s.message());
            std::process::exit(1);
        }
        let g = top_eigen(&obj, &theta, None, &cold).unwrap();
        let d = top_eigen(&obj, &st.dagger.theta, None, &cold).unwrap();
        let err_gd = (row.sharpness_gd - g.values[0]).abs() / g.values[0];
        let err_dag = (st.dagger.sharpness - d.values[0]).abs() / d.values[0];
        let wrong = err_gd > 1e-8 || err_dag > 1e-8;
        bad += wrong as usize;
        if wrong || t % 10 == 0 {
            println!(
                "step {t}: {} HVPs; GD S {:.9}, cold λ₁ λ₂ {:.9} {:.9} (rel. diff {err_gd:.1e}); θ† S {:.9}, cold {:.9} {:.9} (rel. diff {err_dag:.1e})",
                row.hvps, row.sharpness_gd, g.values[0], g.values[1], st.dagger.sharpness, d.values[0], d.values[1]
            );
        }
    }
    println!("{cfg} (tol {tol:.0e}, reset {reset}): {bad} of {n} steps with a wrong top eigenvalue");
    if bad > 0 {
        std::process::exit(1);
    }
}
