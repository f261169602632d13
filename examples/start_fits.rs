//! Warm starts for the θ† chain's solves against the point sets a `Trail` could fit (issue 7):
//! for the first tracking steps from the instability, the relative residual of the start each fit
//! gives at the centre θ†_t − η∇L(θ†_t) and at projection steps 1 and 2 — the trail's own choice
//! (`cur`), its role's last k points plus the sequence's last point (`ownk+last`), and its role's
//! last a plus the previous role's last b (`owna+prevb`: the parallelograms centre_t → step1_t) —
//! and at step 1 the HVPs four solvers take from the trail's start: plain Krylov, Krylov with the
//! stored second Ritz vector in the start basis, the trail's preconditioned solve, and a top-2
//! preconditioned solve. Each residual probe costs one HVP (not counted).
//!
//! Measured (benches/RESULTS.md "Session 20"; large at 1e-9): fitting step 1 to its own and the
//! centres' last points gives starts 40–100× better (2.5e-7 against 1e-5 – 2.4e-5), yet the solve
//! from there takes 6–7 HVPs against 7–9: the residual falls only ≈ 1.8× per HVP near the top gap
//! (λ₂/λ₁ ≈ 0.92), whatever the start. Not adopted (tiny: 5.1 → 6.9 HVPs per step-1 solve).
//!
//! `cargo run --release --example start_fits -- [tiny|medium|large] [eig_tol] [steps]` (default
//! large, 1e-9, 8)
use selfstab::objective::Objective;
use selfstab::sharpness::{Trail, center_with};
use selfstab::stable_set::{lin_proj_point, lin_proj_with};

#[path = "support/track.rs"]
mod track;

/// Start from an explicit point set (all fitted).
fn fit(tr: &Trail<f64>, idx: &[usize], th: &[f64]) -> Vec<f64> {
    let t = Trail::<f64> { points: idx.iter().map(|&i| tr.points[i].clone()).collect(), ..Trail::default() };
    t.start(th).unwrap()
}

fn probes(obj: &dyn Objective<f64>, tr: &Trail<f64>, role: usize, th: &[f64]) -> String {
    let n = tr.points.len();
    let own: Vec<usize> = (0..n).filter(|&i| tr.roles[i] == role).collect();
    let last = n - 1;
    let mut out = vec![];
    let cur = track::residual(obj, th, &tr.start(th).unwrap());
    out.push(format!("cur {cur:.1e}"));
    for k in [2usize, 3, 4] {
        if own.len() >= k {
            let mut idx: Vec<usize> = own[own.len() - k..].to_vec();
            if !idx.contains(&last) {
                idx.push(last);
            }
            out.push(format!("own{k}+last {:.1e}", track::residual(obj, th, &fit(tr, &idx, th))));
        }
    }
    // own last 3 and the previous role's last 3 (parallelograms)
    let prev_role = if role == 0 { 3 } else { role - 1 };
    let prv: Vec<usize> = (0..n).filter(|&i| tr.roles[i] == prev_role).collect();
    for (a, b) in [(4usize, 4usize), (2, 3), (3, 2), (4, 3)] {
        if own.len() >= a && prv.len() >= b {
            let mut idx: Vec<usize> = own[own.len() - a..].iter().chain(&prv[prv.len() - b..]).copied().collect();
            idx.sort();
            out.push(format!("own{a}+prev{b} {:.1e}", track::residual(obj, th, &fit(tr, &idx, th))));
        }
    }
    if own.len() >= 3 && prv.len() >= 3 {
        let mut idx: Vec<usize> = own[own.len() - 3..].iter().chain(&prv[prv.len() - 3..]).copied().collect();
        idx.sort();
        out.push(format!("own3+prev3 {:.1e}", track::residual(obj, th, &fit(tr, &idx, th))));
        let mut idx: Vec<usize> = own[own.len() - 2..].iter().chain(&prv[prv.len() - 2..]).copied().collect();
        idx.sort();
        out.push(format!("own2+prev2 {:.1e}", track::residual(obj, th, &fit(tr, &idx, th))));
    }
    out.join(", ")
}

fn main() {
    let cfg = std::env::args().nth(1).unwrap_or_else(|| "large".into());
    let tol: f64 = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(1e-9);
    let steps: usize = std::env::args().nth(3).and_then(|a| a.parse().ok()).unwrap_or(8);
    let (obj, eta, _, topts, mut st) = track::setup_tol(&cfg, tol);
    for t in 0..steps {
        let (mut tr, p) = track::chain_start(&st, eta);
        let dag = &st.dagger;
        let s0 = probes(&obj, &tr, 0, &p);
        let cur = center_with(&obj, &p, Some(&dag.u), Some(&mut tr), tol).expect("centre");
        println!("t={t} centre ({} HVPs): {s0}", cur.hvps);
        tr.role = 1;
        let q = lin_proj_point(&eta, &cur);
        let s1 = probes(&obj, &tr, 1, &q);
        {
            use selfstab::sharpness::{EigenOpts, top_eigen_subspace, top_eigen_warm};
            let us = tr.start(&q).unwrap();
            let opts = EigenOpts { tol, ..EigenOpts::top::<f64>(1, ()) };
            let k1 = top_eigen_subspace(&obj, &q, std::slice::from_ref(&us), &opts).unwrap();
            let k2 = top_eigen_subspace(&obj, &q, &[us.clone(), tr.ritz[0].clone()], &opts).unwrap();
            let mut w = vec![us.clone()];
            w.extend(tr.ritz.iter().cloned());
            let w1 = top_eigen_warm(&obj, &q, &w, &tr.values, &opts).unwrap();
            let mut w2 = vec![us.clone(), tr.ritz[0].clone()];
            w2.extend(tr.ritz[1..].iter().cloned());
            let opts2 = EigenOpts { tol, ..EigenOpts::top::<f64>(2, ()) };
            let w2r = top_eigen_warm(&obj, &q, &w2, &tr.values, &opts2).map(|e| e.hvps).unwrap_or(0);
            println!("     step-1 solvers: krylov {} , +y2 {} , precond {} , top-2 precond {}", k1.hvps, k2.hvps, w1.hvps, w2r);
        }
        let c1 = lin_proj_with(&obj, &eta, &cur, Some(&mut tr), tol).expect("projection step");
        println!("     step 1 ({} HVPs): {s1}", c1.hvps);
        tr.role = 2;
        let q2 = lin_proj_point(&eta, &c1);
        let s2 = probes(&obj, &tr, 2, &q2);
        let c2 = lin_proj_with(&obj, &eta, &c1, Some(&mut tr), tol).expect("projection step 2");
        println!("     step 2 ({} HVPs): {s2}", c2.hvps);
        let _ = topts.projection_steps;
        track::step(&obj, eta, &mut st, &topts);
    }
}
