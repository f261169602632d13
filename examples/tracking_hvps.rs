//! HVPs per tracking step (all solves counted) over the first 30 steps after the instability (env
//! `STEPS` sets another count: `STEPS=1` splits the bench's first step by role), with
//! the eigen solvers' trails (`sharpness::Trail`, as `tracking` runs) and with the trails emptied
//! before every step (each solve then starts from the previous u and Ritz vectors only); with the
//! trails, also split per solve role: GD's solve at θ_t and the θ† chain's centre at
//! θ†_t − η∇L(θ†_t) and projection steps 1, 2, 3 (each replayed on a copy of the step's trails, the
//! operations of `tracking::step`; their sum is checked against the step's count). The optional
//! second argument sets the θ† chain's early-solve tolerance (`TrackOpts::chain_tol`; the replays
//! use it for the same solves, `stable_set::early_solve`; `-` for none); the optional third the eigen
//! tolerance of every tracking solve (`TrackOpts::eig_tol`, default 1e-10).
//!
//! `cargo run --release --example tracking_hvps -- tiny|medium|large [chain_tol|-] [eig_tol]`
use selfstab::linalg::axpy;
use selfstab::mag::Mag;
use selfstab::sharpness::{Trail, center_with};
use selfstab::stable_set::{early_solve, lin_proj_with};
use selfstab::tracking::{self, TrackState};

#[path = "support/track.rs"]
mod track;

/// HVPs of each solve of the step from `st` (GD, then the θ† chain's roles 0, 1, …), replayed on
/// copies of the trails.
fn per_role(obj: &dyn selfstab::objective::Objective<f64>, eta: f64, st: &TrackState<f64>, steps: usize, tol: Mag, early_tol: Mag) -> Vec<u64> {
    let tol_of = |i: usize| if early_solve(i, steps) { early_tol } else { tol };
    let mut gd = st.trail_gd.clone();
    let mut out = vec![gd.solve(obj, &st.theta, st.warm_gd.first().map(Vec::as_slice), tol).unwrap().hvps];
    let mut tr = st.trail_dagger.clone();
    let dag = &st.dagger;
    let mut p = dag.theta.clone();
    axpy(&-eta, &dag.grad, &mut p);
    tr.role = 0;
    let mut cur = center_with(obj, &p, Some(&dag.u), Some(&mut tr), tol_of(0)).unwrap();
    out.push(cur.hvps);
    for i in 0..steps {
        tr.role = 1 + i;
        cur = lin_proj_with(obj, &eta, &cur, Some(&mut tr), tol_of(1 + i)).unwrap();
        out.push(cur.hvps);
    }
    out
}

fn main() {
    let cfg = std::env::args().nth(1).unwrap_or_else(|| "medium".into());
    let eig_tol: f64 = std::env::args().nth(3).and_then(|a| a.parse().ok()).unwrap_or(1e-10);
    let (obj, eta, _, mut topts, st0) = track::setup_tol(&cfg, eig_tol);
    // Optional second argument: the θ† chain's early-solve tolerance (`TrackOpts::chain_tol`).
    topts.chain_tol = std::env::args().nth(2).and_then(|a| a.parse().ok());
    let early_tol = topts.chain_tol.unwrap_or(topts.eig_tol);
    let steps: usize = std::env::var("STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(30).max(1);
    for reset in [false, true] {
        let mut st = st0.clone();
        let mut v = vec![];
        let mut roles = vec![0u64; 2 + topts.projection_steps];
        for _ in 0..steps {
            if reset {
                st.trail_gd = Trail::default();
                st.trail_dagger = Trail { cap: tracking::TRAIL_DAGGER_POINTS, ..Trail::default() };
            } else {
                let r = per_role(&obj, eta, &st, topts.projection_steps, topts.eig_tol, early_tol);
                roles.iter_mut().zip(&r).for_each(|(a, b)| *a += b);
                // The step's count: the solves plus the predictions' 2 HVPs.
                let (row, _) = tracking::step(&obj, &eta, &mut st.clone(), &topts).unwrap();
                assert_eq!(row.hvps, r.iter().sum::<u64>() + 2, "replayed solves differ from the step's");
            }
            // A stopped step leaves the state where it was: its count is not a step's.
            v.push(track::step(&obj, eta, &mut st, &topts).hvps);
        }
        println!("{cfg} eig_tol={:.0e} chain_tol={:?} reset={reset}: {v:?} mean {:.1}", topts.eig_tol, topts.chain_tol, v.iter().sum::<u64>() as f64 / v.len() as f64);
        if !reset {
            let names = ["GD", "θ† centre"].into_iter().map(String::from).chain((1..=topts.projection_steps).map(|i| format!("projection {i}")));
            let per: Vec<String> = names.zip(&roles).map(|(n, h)| format!("{n} {:.1}", *h as f64 / steps as f64)).collect();
            println!("{cfg} mean HVPs per solve: {}", per.join(", "));
        }
    }
}
