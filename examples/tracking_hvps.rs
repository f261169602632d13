//! HVPs per tracking step (all solves counted) over the first 30 steps after the instability, with
//! the eigen solvers' trails (`sharpness::Trail`, as `tracking` runs) and with the trails emptied
//! before every step (each solve then starts from the previous u and Ritz vectors only).
//!
//! `cargo run --release --example tracking_hvps -- medium|tiny`
use selfstab::data::{digits, init_params};
use selfstab::gd::find_instability;
use selfstab::models::mlp::{Activation, LossKind, Mlp};
use selfstab::sharpness::Trail;
use selfstab::tracking::{self, TrackOpts};

fn main() {
    let cfg = std::env::args().nth(1).unwrap_or_else(|| "medium".into());
    let (layers, n, eta): (&[usize], usize, f64) = match cfg.as_str() {
        "tiny" => (&[64, 32, 32, 32, 10], 200, 0.2297),
        _ => (&[64, 64, 64, 64, 10], 500, 0.2351),
    };
    let obj = Mlp::<f64>::new(layers, Activation::Tanh, LossKind::Mse, &digits(n).unwrap(), ()).unwrap();
    let ins = find_instability(&obj, &eta, &init_params(layers, 0).unwrap(), 20_000, 1e-10, &mut []).unwrap();
    let topts = TrackOpts { projection_steps: 3, gap_every: 0, gap_threshold: None, eig_tol: 1e-10 };
    for reset in [false, true] {
        let mut st = tracking::start(&obj, &eta, &ins.theta, Some(&ins.u), &topts).unwrap();
        let mut v = vec![];
        for _ in 0..30 {
            if reset {
                st.trail_gd = Trail::default();
                st.trail_dagger = Trail { cap: tracking::TRAIL_DAGGER_POINTS, ..Trail::default() };
            }
            let (row, _) = tracking::step(&obj, &eta, &mut st, &topts).unwrap();
            v.push(row.hvps);
        }
        println!("{cfg} reset={reset}: {v:?} mean {:.1}", v.iter().sum::<u64>() as f64 / v.len() as f64);
    }
}
