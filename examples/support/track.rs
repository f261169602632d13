//! The tracking-step measurement configurations shared by the examples (`#[path =
//! "support/track.rs"] mod track;`): tiny (64,32,32,32,10; n = 200; η = 0.2297), medium
//! (64,64,64,64,10; n = 500; η = 0.2351) and large (64,128,128,10; n = 1000; η = 0.1773), tanh MSE on
//! digits, seed 0, tol 1e-10, started at the first unstable iterate. Uses only APIs that predate the
//! warm-start trails (back-to-back comparisons against older trees).

use selfstab::data::{digits, init_params};
use selfstab::gd::find_instability;
use selfstab::mag::Mag;
use selfstab::models::mlp::{Activation, LossKind, Mlp};
use selfstab::tracking::{self, TrackOpts, TrackState};

/// The model of configuration `cfg` (tiny unless medium or large), η, the GD step of the first
/// unstable iterate, the tracking options (3 projection steps, no λ₂) and the state started there.
#[allow(dead_code)] // the examples that vary the tolerance call `setup_tol`
pub fn setup(cfg: &str) -> (Mlp<f64>, f64, u64, TrackOpts, TrackState<f64>) {
    setup_tol(cfg, 1e-10)
}

/// [`setup`] with the eigen tolerance of the tracking solves set to `eig_tol` (the instability
/// search stays at 1e-10, so the start point is the same).
pub fn setup_tol(cfg: &str, eig_tol: f64) -> (Mlp<f64>, f64, u64, TrackOpts, TrackState<f64>) {
    let (layers, n_data, eta): (&[usize], usize, f64) = match cfg {
        "medium" => (&[64, 64, 64, 64, 10], 500, 0.2351),
        "large" => (&[64, 128, 128, 10], 1000, 0.1773),
        _ => (&[64, 32, 32, 32, 10], 200, 0.2297),
    };
    let obj = Mlp::<f64>::new(layers, Activation::Tanh, LossKind::Mse, &digits(n_data).unwrap(), ()).unwrap();
    let ins = find_instability(&obj, &eta, &init_params(layers, 0).unwrap(), 20_000, Mag::new(1e-10), &mut []).unwrap();
    let topts = TrackOpts { projection_steps: 3, gap_every: 0, gap_threshold: None, eig_tol: Mag::new(eig_tol), chain_tol: None };
    let st = tracking::start(&obj, &eta, &ins.theta, Some(&ins.u), &topts).unwrap();
    (obj, eta, ins.step, topts, st)
}

/// One `tracking::step` whose stop ends the measurement: a stopped step leaves the state where it
/// was, so its time and HVPs are not a step's.
#[allow(dead_code)] // not every example that includes this file steps through it
pub fn step(obj: &dyn selfstab::objective::Objective<f64>, eta: f64, st: &mut TrackState<f64>, topts: &TrackOpts) -> tracking::Row {
    let (row, stop) = tracking::step(obj, &eta, st, topts).unwrap();
    if let Some(s) = stop {
        panic!("tracking step {} stopped: {}", row.t, s.message());
    }
    row
}

/// Relative residual ‖Hs − (sᵀHs/sᵀs)s‖/(‖s‖·|sᵀHs/sᵀs|) of `s` as an eigenvector of ∇²L(θ) (one HVP).
#[allow(dead_code)] // the examples that probe warm starts call it
pub fn residual(obj: &dyn selfstab::objective::Objective<f64>, th: &[f64], s: &[f64]) -> f64 {
    use selfstab::linalg::{axpy, dot, norm};
    let mut hs = vec![0.0; s.len()];
    obj.hvp(th, s, &mut hs).expect("hvp");
    let ns = norm(s);
    let rq = dot(s, &hs) / (ns * ns);
    axpy(&-rq, s, &mut hs);
    norm(&hs) / ns / rq.abs()
}

/// A copy of θ†'s trail set for the chain's first solve (role 0) and that solve's point, the centre
/// θ†_t − η∇L(θ†_t) of the step from `st`.
#[allow(dead_code)] // the examples that replay the θ† chain call it
pub fn chain_start(st: &TrackState<f64>, eta: f64) -> (selfstab::sharpness::Trail<f64>, Vec<f64>) {
    let mut tr = st.trail_dagger.clone();
    tr.role = 0;
    let mut p = st.dagger.theta.clone();
    selfstab::linalg::axpy(&-eta, &st.dagger.grad, &mut p);
    (tr, p)
}
