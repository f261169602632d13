//! Each eigen solve of the θ† chain (the centre θ†_t − η∇L(θ†_t) and the linearised projection
//! steps 1, 2, 3; `stable_set::lin_proj_with`) for the first tracking steps from the instability:
//! the distance the chain moved to the solve's point, the relative residual ‖Hs − (sᵀHs)s‖/(sᵀHs)
//! of the warm start s the trail gives there (`Trail::start`) and of the previous chain point's u,
//! the HVPs the solve took, S − 2/η and u·∇L after the step, and the trail's stored Ritz values.
//! It shows why a solve costs what it costs (start quality against the residual reduction per HVP)
//! and whether the projection converges quadratically (each step's move against the last). The two
//! residual probes cost one HVP each and are not counted; the solves replay `tracking::step`'s on a
//! copy of θ†'s trail, then the step itself advances the state.
//!
//! `cargo run --release --example chain_solves -- [tiny|medium|large] [eig_tol] [steps]` (default
//! medium, 1e-9, 3)
use selfstab::linalg::dot;
use selfstab::mag::Mag;
use selfstab::sharpness::{Trail, center_with};
use selfstab::stable_set::{lin_proj_point, lin_proj_with};

#[path = "support/track.rs"]
mod track;

fn dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt()
}

fn values(tr: &Trail<f64>) -> String {
    tr.values.iter().take(3).map(|v| format!("{v:.5}")).collect::<Vec<_>>().join(" ")
}

fn main() {
    let cfg = std::env::args().nth(1).unwrap_or_else(|| "medium".into());
    let tol: f64 = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(1e-9);
    let steps: usize = std::env::args().nth(3).and_then(|a| a.parse().ok()).unwrap_or(3);
    let (obj, eta, _, topts, mut st) = track::setup_tol(&cfg, tol);
    println!("{cfg}: eig_tol {tol:.0e}, 2/η = {:.6}", 2.0 / eta);
    for t in 0..steps {
        let (mut tr, p) = track::chain_start(&st, eta);
        let dag = &st.dagger;
        let r_start = track::residual(&obj, &p, &tr.start(&p).expect("trail start"));
        let r_prev = track::residual(&obj, &p, &dag.u);
        let mut cur = center_with(&obj, &p, Some(&dag.u), Some(&mut tr), Mag::new(tol)).expect("centre");
        println!(
            "t={t} centre: move {:.2e}, start residual {r_start:.1e} (previous u {r_prev:.1e}), {} HVPs; S − 2/η {:.2e}; top values {}",
            dist(&p, &dag.theta),
            cur.hvps,
            cur.sharpness - 2.0 / eta,
            values(&tr)
        );
        for i in 0..topts.projection_steps {
            tr.role = 1 + i;
            let q = lin_proj_point(&eta, &cur);
            let r_start = track::residual(&obj, &q, &tr.start(&q).expect("trail start"));
            let r_prev = track::residual(&obj, &q, &cur.u);
            let prev = cur.theta.clone();
            cur = lin_proj_with(&obj, &eta, &cur, Some(&mut tr), Mag::new(tol)).expect("projection step");
            println!(
                "  step {}: move {:.2e}, start residual {r_start:.1e} (previous u {r_prev:.1e}), {} HVPs; S − 2/η {:.2e}, u·∇L {:.1e}; top values {}",
                i + 1,
                dist(&prev, &cur.theta),
                cur.hvps,
                cur.sharpness - 2.0 / eta,
                dot(&cur.u, &cur.grad),
                values(&tr)
            );
        }
        track::step(&obj, eta, &mut st, &topts);
    }
}
