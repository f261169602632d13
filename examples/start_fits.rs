//! Warm starts for the θ† chain's solves against the point sets a `Trail` could fit (issue 7):
//! for the first tracking steps from the instability, the relative residual of the start each fit
//! gives at the centre θ†_t − η∇L(θ†_t) and at projection steps 1 and 2 — the trail's own choice
//! (`cur`), its role's last k points plus the sequence's last point (`ownk+last`), and its role's
//! last a plus the previous role's last b (`owna+prevb`: the parallelograms centre_t → step1_t) —
//! and at step 1 the HVPs four solvers take from the trail's start and from the `own4+prev4` start:
//! plain Krylov, Krylov with the stored second Ritz vector in the start basis, the trail's
//! preconditioned solve, and a top-2 preconditioned solve. Each residual probe costs one HVP (not
//! counted).
//!
//! Measured (benches/RESULTS.md "Session 20"; large at 1e-9): fitting step 1 to its own and the
//! centres' last points gives starts 40–100× better (2.5e-7 against 1e-5 – 2.4e-5), yet the
//! preconditioned solve from there takes 6–7 HVPs against 7–9 (Krylov 9–10 against 13): the residual falls only ≈ 1.8× per HVP near the top gap
//! (λ₂/λ₁ ≈ 0.92), whatever the start. Not adopted (tiny: 5.1 → 6.9 HVPs per step-1 solve).
//!
//! `cargo run --release --example start_fits -- [tiny|medium|large] [eig_tol] [steps]` (default
//! large, 1e-9, 8)
use selfstab::mag::Mag;
use selfstab::objective::Objective;
use selfstab::error::EvalError;
use selfstab::sharpness::{Eigen, EigenOpts, Trail, center_with, top_eigen_subspace, top_eigen_warm};
use selfstab::stable_set::{lin_proj_point, lin_proj_with};

#[path = "support/track.rs"]
mod track;

/// Start from an explicit point set (all fitted).
fn fit(tr: &Trail<f64>, idx: &[usize], th: &[f64]) -> Vec<f64> {
    let t = Trail::<f64> { points: idx.iter().map(|&i| tr.points[i].clone()).collect(), ..Trail::default() };
    t.start(th).unwrap()
}

/// Start residuals at θ for the trail's own start and the alternative point sets; `prev_role` is the
/// role solved just before this one (the centre's is the chain's last projection step).
fn probes(obj: &dyn Objective<f64>, tr: &Trail<f64>, role: usize, prev_role: usize, th: &[f64]) -> String {
    let n = tr.points.len();
    let of_role = |r: usize| -> Vec<usize> { (0..n).filter(|&i| tr.roles[i] == r).collect() };
    let (own, prv) = (of_role(role), of_role(prev_role));
    let last = n - 1;
    let mut out = vec![format!("cur {:.1e}", track::residual(obj, th, &tr.start(th).unwrap()))];
    for k in [2usize, 3, 4] {
        if own.len() >= k {
            let mut idx: Vec<usize> = own[own.len() - k..].to_vec();
            if !idx.contains(&last) {
                idx.push(last);
            }
            out.push(format!("own{k}+last {:.1e}", track::residual(obj, th, &fit(tr, &idx, th))));
        }
    }
    // The role's last a points and the previous role's last b (the parallelograms).
    for (a, b) in [(4usize, 4usize), (2, 3), (3, 2), (4, 3), (3, 3), (2, 2)] {
        if own.len() >= a && prv.len() >= b {
            let mut idx: Vec<usize> = own[own.len() - a..].iter().chain(&prv[prv.len() - b..]).copied().collect();
            idx.sort();
            out.push(format!("own{a}+prev{b} {:.1e}", track::residual(obj, th, &fit(tr, &idx, th))));
        }
    }
    out.join(", ")
}

/// HVPs of four solves at θ from the start `us`: plain Krylov, Krylov with the trail's stored second
/// Ritz vector in the start basis, the trail's preconditioned solve (as `Trail::solve`) and a top-2
/// preconditioned solve.
fn solvers(obj: &dyn Objective<f64>, tr: &Trail<f64>, th: &[f64], us: Vec<f64>, tol: f64) -> String {
    let hvps = |r: Result<Eigen<f64>, EvalError>| r.map_or_else(|e| format!("failed ({e})"), |e| e.hvps.to_string());
    let opts = |k: usize| EigenOpts { tol: Mag::new(tol), ..EigenOpts::top::<f64>(k, ()) };
    let krylov = hvps(top_eigen_subspace(obj, th, std::slice::from_ref(&us), &opts(1)));
    // Start basis, then the preconditioning Ritz vectors (`top_eigen_warm`: the first k start).
    let warm = |starts: Vec<Vec<f64>>, skip: usize| -> Vec<Vec<f64>> { starts.into_iter().chain(tr.ritz[skip..].iter().cloned()).collect() };
    let with_y2 = vec![us.clone(), tr.ritz[0].clone()];
    let plus_y2 = hvps(top_eigen_subspace(obj, th, &with_y2, &opts(1)));
    let precond = hvps(top_eigen_warm(obj, th, &warm(vec![us], 0), &tr.values, &opts(1)));
    let top2 = hvps(top_eigen_warm(obj, th, &warm(with_y2, 1), &tr.values, &opts(2)));
    format!("krylov {krylov}, +y2 {plus_y2}, precond {precond}, top-2 precond {top2}")
}

fn main() {
    let cfg = std::env::args().nth(1).unwrap_or_else(|| "large".into());
    let tol: f64 = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(1e-9);
    let steps: usize = std::env::args().nth(3).and_then(|a| a.parse().ok()).unwrap_or(8);
    let (obj, eta, _, topts, mut st) = track::setup_tol(&cfg, tol);
    for t in 0..steps {
        let (mut tr, p) = track::chain_start(&st, eta);
        let dag = &st.dagger;
        let s0 = probes(&obj, &tr, 0, topts.projection_steps, &p);
        let cur = center_with(&obj, &p, Some(&dag.u), Some(&mut tr), Mag::new(tol)).expect("centre");
        println!("t={t} centre ({} HVPs): {s0}", cur.hvps);
        tr.role = 1;
        let q = lin_proj_point(&eta, &cur);
        let s1 = probes(&obj, &tr, 1, 0, &q);
        // The solvers from the trail's start and from the fit tried in `Trail::fit_points` (the
        // role's last four points and the centres' last four).
        let last4 = |r: usize| -> Vec<usize> {
            let all: Vec<usize> = (0..tr.points.len()).filter(|&i| tr.roles[i] == r).collect();
            all[all.len().saturating_sub(4)..].to_vec()
        };
        let mut idx = last4(1);
        idx.extend(last4(0));
        idx.sort();
        for (name, us) in [("trail's start", tr.start(&q).unwrap()), ("own4+prev4 start", fit(&tr, &idx, &q))] {
            println!("     step-1 solvers from the {name}: {}", solvers(&obj, &tr, &q, us, tol));
        }
        let c1 = lin_proj_with(&obj, &eta, &cur, Some(&mut tr), Mag::new(tol)).expect("projection step");
        println!("     step 1 ({} HVPs): {s1}", c1.hvps);
        tr.role = 2;
        let q2 = lin_proj_point(&eta, &c1);
        let s2 = probes(&obj, &tr, 2, 1, &q2);
        let c2 = lin_proj_with(&obj, &eta, &c1, Some(&mut tr), Mag::new(tol)).expect("projection step 2");
        println!("     step 2 ({} HVPs): {s2}", c2.hvps);
        track::step(&obj, eta, &mut st, &topts);
    }
}
