//! HVPs per tracking step (all solves counted) over the first 30 steps after the instability, with
//! the eigen solvers' trails (`sharpness::Trail`, as `tracking` runs) and with the trails emptied
//! before every step (each solve then starts from the previous u and Ritz vectors only); with the
//! trails, also split per solve role: GD's solve at θ_t and the θ† chain's centre at
//! θ†_t − η∇L(θ†_t) and projection steps 1, 2, 3 (each replayed on a copy of the step's trails, the
//! operations of `tracking::step`; their sum is checked against the step's count).
//!
//! `cargo run --release --example tracking_hvps -- tiny|medium|large`
use selfstab::linalg::axpy;
use selfstab::sharpness::{Trail, center_with};
use selfstab::stable_set::lin_proj_with;
use selfstab::tracking::{self, TrackState};

#[path = "support/track.rs"]
mod track;

/// HVPs of each solve of the step from `st` (GD, then the θ† chain's roles 0, 1, …), replayed on
/// copies of the trails.
fn per_role(obj: &dyn selfstab::objective::Objective<f64>, eta: f64, st: &TrackState<f64>, steps: usize, tol: f64) -> Vec<u64> {
    let mut gd = st.trail_gd.clone();
    let mut out = vec![gd.solve(obj, &st.theta, st.warm_gd.first().map(Vec::as_slice), tol).unwrap().hvps];
    let mut tr = st.trail_dagger.clone();
    let dag = &st.dagger;
    let mut p = dag.theta.clone();
    axpy(&-eta, &dag.grad, &mut p);
    tr.role = 0;
    let mut cur = center_with(obj, &p, Some(&dag.u), Some(&mut tr), tol).unwrap();
    out.push(cur.hvps);
    for i in 0..steps {
        tr.role = 1 + i;
        cur = lin_proj_with(obj, &eta, &cur, Some(&mut tr), tol).unwrap();
        out.push(cur.hvps);
    }
    out
}

fn main() {
    let cfg = std::env::args().nth(1).unwrap_or_else(|| "medium".into());
    let (obj, eta, _, topts, st0) = track::setup(&cfg);
    for reset in [false, true] {
        let mut st = st0.clone();
        let mut v = vec![];
        let mut roles = vec![0u64; 2 + topts.projection_steps];
        for _ in 0..30 {
            if reset {
                st.trail_gd = Trail::default();
                st.trail_dagger = Trail { cap: tracking::TRAIL_DAGGER_POINTS, ..Trail::default() };
            } else {
                let r = per_role(&obj, eta, &st, topts.projection_steps, topts.eig_tol);
                roles.iter_mut().zip(&r).for_each(|(a, b)| *a += b);
                // The step's count: the solves plus the predictions' 2 HVPs.
                let (row, _) = tracking::step(&obj, &eta, &mut st.clone(), &topts).unwrap();
                assert_eq!(row.hvps, r.iter().sum::<u64>() + 2, "replayed solves differ from the step's");
            }
            let (row, _) = tracking::step(&obj, &eta, &mut st, &topts).unwrap();
            v.push(row.hvps);
        }
        println!("{cfg} reset={reset}: {v:?} mean {:.1}", v.iter().sum::<u64>() as f64 / v.len() as f64);
        if !reset {
            let names = ["GD", "θ† centre"].into_iter().map(String::from).chain((1..=topts.projection_steps).map(|i| format!("projection {i}")));
            let per: Vec<String> = names.zip(&roles).map(|(n, h)| format!("{n} {:.1}", *h as f64 / 30.0)).collect();
            println!("{cfg} mean HVPs per solve: {}", per.join(", "));
        }
    }
}
