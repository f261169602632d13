//! The library's public entry points answer inputs of the wrong shape with an error naming the
//! problem, not a panic (the CLI validates its own input; a library caller passes vectors directly).

use selfstab::models::cubic::{Cubic, CubicSpec};
use selfstab::objective::Objective;
use selfstab::sharpness::{EigenOpts, center, top_eigen};
use selfstab::tracking::{self, TrackOpts};

fn cubic() -> Cubic<f64> {
    Cubic::<f64>::new(&CubicSpec::reference("0.01", "0.3"), ()).unwrap()
}

fn opts() -> TrackOpts {
    TrackOpts { projection_steps: 3, gap_every: 0, gap_threshold: None, eig_tol: 1e-10, chain_tol: None }
}

#[test]
fn wrong_lengths_and_tolerances_are_errors_not_panics() {
    let m = cubic();
    let th = [0.0; 4];
    let mut out2 = [0.0; 2];
    let mut out4 = [0.0; 4];
    let msg = |r: Result<(), selfstab::EvalError>| r.unwrap_err().to_string();
    // The cubic checks every vector, not only θ.
    assert!(m.grad(&th, &mut out2).unwrap_err().to_string().contains("length 2"));
    assert!(msg(m.hvp(&th, &[1.0, 1.0], &mut out4)).contains("direction vector has length 2"));
    assert!(msg(m.hvp(&th, &[1.0; 4], &mut out2)).contains("output vector has length 2"));
    assert!(msg(m.d3(&th, &[1.0; 4], &[], &mut out4)).contains("length 0"));
    // The eigen solver checks its start vectors and its tolerance.
    let o = EigenOpts { tol: 1e-10, ..EigenOpts::top::<f64>(1, ()) };
    assert!(top_eigen(&m, &th, Some(&[1.0, 0.0]), &o).unwrap_err().to_string().contains("start vector has length 2"));
    assert!(center(&m, &th, Some(&[1.0; 6]), 1e-10).unwrap_err().to_string().contains("length 6"));
    let nan = EigenOpts { tol: f64::NAN, ..o };
    assert!(top_eigen(&m, &th, None, &nan).unwrap_err().to_string().contains("tolerance"));
    // A tracking start with u₀ or v₀ of the wrong length.
    assert!(tracking::start(&m, &1.0, &th, Some(&[1.0, 0.0]), &opts()).is_err());
    let e = tracking::start_split(&m, &1.0, &th, &[0.1, 0.0], Some(&[1.0, 0.0, 0.0, 0.0]), &opts()).unwrap_err();
    assert!(e.to_string().contains("v₀ has length 2"), "{e}");
    // A state whose vectors were shortened is refused by the step.
    let mut st = tracking::start_split(&m, &1.0, &th, &[0.01, 0.0, 0.0, 0.0], Some(&[1.0, 0.0, 0.0, 0.0]), &opts()).unwrap();
    st.v.truncate(2);
    assert!(tracking::step(&m, &1.0, &mut st, &opts()).unwrap_err().to_string().contains("tracking state"));
    // η ≤ 0 or NaN.
    assert!(tracking::start(&m, &0.0, &th, None, &opts()).unwrap_err().to_string().contains("learning rate"));
    let e = selfstab::gd::find_instability(&m, &-1.0, &th, 10, 1e-10, &mut []).unwrap_err();
    assert!(e.to_string().contains("learning rate"), "{e}");
    // SDCP: g-vectors of unequal length, and the empty problem.
    let gs = vec![vec![1.0, 0.0], vec![0.0], vec![1.0, 1.0]];
    assert!(selfstab::sdcp::solve_gram(&[1.0, 0.0, 0.0, 1.0], &gs, 2, 1e-10, None).unwrap_err().to_string().contains("share one length"));
    assert!(selfstab::sdcp::solve_gram::<f64>(&[], &[], 0, 1e-10, None).is_ok());
}
