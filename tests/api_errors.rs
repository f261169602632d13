//! The library's public entry points answer inputs of the wrong shape with an error naming the
//! problem, not a panic (the CLI validates its own input; a library caller passes vectors directly).

use selfstab::mag::Mag;
use selfstab::models::cubic::{Cubic, CubicSpec};
use selfstab::objective::Objective;
use selfstab::sharpness::{EigenOpts, center, top_eigen};
use selfstab::tracking::{self, TrackOpts};

fn cubic() -> Cubic<f64> {
    Cubic::<f64>::new(&CubicSpec::reference("0.01", "0.3"), ()).unwrap()
}

fn opts() -> TrackOpts {
    TrackOpts { projection_steps: 3, gap_every: 0, gap_threshold: None, eig_tol: Mag::new(1e-10), chain_tol: None }
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
    let o = EigenOpts { tol: Mag::new(1e-10), ..EigenOpts::top::<f64>(1, ()) };
    assert!(top_eigen(&m, &th, Some(&[1.0, 0.0]), &o).unwrap_err().to_string().contains("start vector has length 2"));
    assert!(center(&m, &th, Some(&[1.0; 6]), Mag::new(1e-10)).unwrap_err().to_string().contains("length 6"));
    let nan = EigenOpts { tol: Mag::new(f64::NAN), ..o };
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
    let e = selfstab::gd::find_instability(&m, &-1.0, &th, 10, Mag::new(1e-10), &mut []).unwrap_err();
    assert!(e.to_string().contains("learning rate"), "{e}");
    // SDCP: g-vectors of unequal length, and the empty problem.
    let gs = vec![vec![1.0, 0.0], vec![0.0], vec![1.0, 1.0]];
    assert!(selfstab::sdcp::solve_gram(&[1.0, 0.0, 0.0, 1.0], &gs, 2, Mag::new(1e-10), None).unwrap_err().to_string().contains("share one length"));
    assert!(selfstab::sdcp::solve_gram::<f64>(&[], &[], 0, Mag::new(1e-10), None).is_ok());
}

/// A parameter or direction vector holding inf or NaN is refused by the MLP, at f64 and at MPFR
/// precision: tanh saturates, so an infinite first-layer weight would otherwise give a finite loss.
#[test]
fn nonfinite_parameters_are_errors_not_finite_losses() {
    use selfstab::data;
    use selfstab::models::mlp::{Activation, LossKind, Mlp};
    let layers = [5usize, 10, 3];
    let ds = data::synthetic(50, 5, 3, 0).unwrap();
    let th = data::init_params(&layers, 0).unwrap();
    let m = Mlp::<f64>::new(&layers, Activation::Tanh, LossKind::Mse, &ds, ()).unwrap();
    let p = th.len();
    let mut g = vec![0.0; p];
    for bad in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
        let mut t = th.clone();
        t[0] = bad;
        let e = m.grad(&t, &mut g).unwrap_err().to_string();
        assert!(e.contains("parameter"), "{e}");
        assert!(m.value(&t).is_err());
        let mut v = vec![1.0; p];
        v[p - 1] = bad;
        let e = m.hvp(&th, &v, &mut g).unwrap_err().to_string();
        assert!(e.contains("direction"), "{e}");
    }
    let mq = Mlp::<rug::Float>::new(&layers, Activation::Tanh, LossKind::Mse, &ds, 128).unwrap();
    let mut tq: Vec<rug::Float> = th.iter().map(|&x| rug::Float::with_val(128, x)).collect();
    tq[0] = rug::Float::with_val(128, rug::float::Special::Infinity);
    let mut gq: Vec<rug::Float> = (0..p).map(|_| rug::Float::new(128)).collect();
    assert!(mq.grad(&tq, &mut gq).unwrap_err().to_string().contains("parameter"));
}

/// Widths whose parameter count overflows are refused by the initialisation and the MLP, as is an
/// initialisation larger than memory (an error, not an abort).
#[test]
fn overflowing_widths_are_errors_not_wrapped_counts() {
    use selfstab::data;
    use selfstab::models::mlp::{Activation, LossKind, Mlp, checked_param_count};
    let huge = [5usize, usize::MAX / 2, 3];
    assert_eq!(checked_param_count(&huge), None);
    assert_eq!(checked_param_count(&[64, 12, 10]), Some(64 * 12 + 12 + 12 * 10 + 10));
    assert!(data::init_params(&huge, 0).unwrap_err().to_string().contains("2^64"));
    let e = data::init_params(&[1usize << 31, 1 << 31], 0).unwrap_err().to_string();
    assert!(e.contains("more than memory"), "{e}");
    let ds = data::synthetic(10, 5, 3, 0).unwrap();
    let e = Mlp::<f64>::new(&huge, Activation::Tanh, LossKind::Mse, &ds, ()).err().unwrap().to_string();
    assert!(e.contains("2^64"), "{e}");
}

/// An MPFR precision of 0 bits (outside MPFR's range) is an input error from every model constructor and the
/// reduced map, not a panic inside rug.
#[test]
fn invalid_mpfr_precisions_are_errors_not_panics() {
    use rug::Float;
    use selfstab::data;
    use selfstab::models::mlp::{Activation, LossKind, Mlp};
    let ds = data::synthetic(10, 5, 3, 0).unwrap();
    let e = Mlp::<Float>::new(&[5, 4, 3], Activation::Tanh, LossKind::Mse, &ds, 0).err().unwrap().to_string();
    assert!(e.contains("MPFR precision must be 1"), "{e}");
    assert!(Cubic::<Float>::new(&CubicSpec::reference("0.01", "0.3"), 0).is_err());
    assert!(selfstab::reduced_map::ReducedMap::<Float>::parse("0.1", "0", 0).is_err());
    assert!(Cubic::<Float>::new(&CubicSpec::reference("0.01", "0.3"), 2).is_ok());
}

/// The other public steps check their vectors and η before the objective sees them (a user's
/// objective need not check its own lengths), and MPFR contexts outside the engine's range, start
/// vectors at another precision and derivative checks with fewer than two usable steps are errors.
#[test]
fn every_public_step_checks_its_inputs() {
    use rug::Float;
    use selfstab::predicted::{self, Kind};
    let m = cubic();
    let th = [0.0; 4];
    let st = tracking::start_split(&m, &1.0, &th, &[0.01, 0.0, 0.0, 0.0], Some(&[1.0, 0.0, 0.0, 0.0]), &opts()).unwrap();
    let err = |e: selfstab::EvalError| e.to_string();
    assert!(err(predicted::step(&m, &1.0, &st.dagger, &[0.1], Kind::Standard).unwrap_err()).contains("v has length 1"));
    assert!(err(predicted::step(&m, &f64::NAN, &st.dagger, &[0.0; 4], Kind::Standard).unwrap_err()).contains("learning rate"));
    let (mut t, mut g) = (vec![0.0; 4], vec![0.0; 4]);
    assert!(err(selfstab::gd::gd_step(&m, &f64::NAN, &mut t, &mut g).unwrap_err()).contains("learning rate"));
    assert!(err(selfstab::gd::gd_step(&m, &1.0, &mut t, &mut [0.0; 2]).unwrap_err()).contains("gradient buffer has length 2"));
    assert!(err(selfstab::sharpness::grad_sharpness(&m, &th, &[1.0]).unwrap_err()).contains("u has length 1"));
    assert!(err(selfstab::objective::dense_hessian(&m, &[0.0]).unwrap_err()).contains("θ has length 1"));
    assert!(err(selfstab::stable_set::center_k(&m, &[0.0, 1.0], &[], 2, Mag::new(1e-10)).err().unwrap()).contains("θ has length 2"));
    assert!(err(selfstab::sharpness::all_eigenpairs(&m, &[0.0, f64::NAN, 1.0, 0.0]).unwrap_err()).contains("non-finite entry at index 1"));
    assert!(err(selfstab::constrained::step(&m, &0.0, &st.dagger, 3, Mag::new(1e-10)).err().unwrap()).contains("learning rate"));
    let mut bad = st.clone();
    assert!(err(tracking::step(&m, &-1.0, &mut bad, &opts()).unwrap_err()).contains("learning rate"));
    let inf = EigenOpts { tol: Mag::new(f64::INFINITY), ..EigenOpts::top::<f64>(1, ()) };
    assert!(err(top_eigen(&m, &th, None, &inf).unwrap_err()).contains("finite number > 0"));
    // MPFR: a start vector at 53 bits for a 128-bit solve; precisions 0 and 65537, and 1100 for the checks; 30 bits for the
    // derivative checks (no step of the ladder lies above the rounding).
    let m128 = Cubic::<Float>::new(&CubicSpec::reference("0.01", "0.3"), 128).unwrap();
    let th128: Vec<Float> = (0..4).map(|_| Float::with_val(128, 0)).collect();
    let v53: Vec<Float> = (0..4).map(|i| Float::with_val(53, u8::from(i == 0))).collect();
    let o = EigenOpts { tol: Mag::new(1e-30), ..EigenOpts::top::<Float>(1, 128) };
    assert!(err(top_eigen(&m128, &th128, Some(&v53), &o).unwrap_err()).contains("at precision 53, θ at 128"));
    assert!(<Float as selfstab::Scalar>::parse("0.5", 0).is_err());
    let e = Cubic::<Float>::new(&CubicSpec::reference("0.01", "0.3"), 65537).err().unwrap().to_string();
    assert!(e.contains("at most 65536 bits"), "{e}");
    // 1100 bits is a model's precision, but not the derivative checks' (their ladder is f64).
    let m1100 = Cubic::<Float>::new(&CubicSpec::reference("0.01", "0.3"), 1100).unwrap();
    let z1100: Vec<Float> = (0..4).map(|i| Float::with_val(1100, u8::from(i == 0))).collect();
    let e = selfstab::taylor_check::check_derivatives(&m1100, &z1100, &z1100, &z1100).unwrap_err().to_string();
    assert!(e.contains("at most at 1024 bits"), "{e}");
    let m30 = Cubic::<Float>::new(&CubicSpec::reference("0.01", "0.3"), 30).unwrap();
    let z30: Vec<Float> = (0..4).map(|i| Float::with_val(30, u8::from(i == 0))).collect();
    let e = selfstab::taylor_check::check_derivatives(&m30, &z30, &z30, &z30).unwrap_err().to_string();
    assert!(e.contains("at least 44 bits"), "{e}");
    let m44 = Cubic::<Float>::new(&CubicSpec::reference("0.01", "0.3"), 44).unwrap();
    let z44: Vec<Float> = (0..4).map(|i| Float::with_val(44, u8::from(i == 0))).collect();
    assert!(selfstab::taylor_check::check_derivatives(&m44, &z44, &z44, &z44).is_ok());
}

/// The reduced map's long-run helpers refuse spans that could never end (they hung at τ = ∞ and at
/// dτ = 1e-300, and gave a silent zero drift at τ = NaN).
#[test]
fn endless_reduced_map_runs_are_errors_not_hangs() {
    use selfstab::reduced_map::{ReducedMap, State, energy_drift, flow_period};
    let map = ReducedMap::new(0.01).unwrap();
    let s0 = State::new(0.5, 0.0);
    for tau in [f64::INFINITY, f64::NAN, -5.0, 0.0, 1e300] {
        assert!(energy_drift(&map, &s0, tau, 1).unwrap_err().to_string().contains("tau"), "τ = {tau}");
    }
    assert_eq!(energy_drift(&map, &s0, 1.0, 1).unwrap().steps, 100);
    assert!(flow_period(&0.5, &1e-300).unwrap_err().to_string().contains("dtau"));
    assert!(selfstab::order::energy_drift_error::<f64>(1e-300, ()).is_err());
    // A stored trajectory of 2^42 steps is refused before anything is allocated (it aborted in
    // the allocator); a short run stores n + 1 states.
    use selfstab::reduced_map::Trajectory;
    let e = Trajectory::run(&map, &s0, 1 << 42).err().unwrap().to_string();
    assert!(e.contains("4398046511104 steps, more than 1e10"), "{e}");
    assert_eq!(Trajectory::run(&map, &s0, 10).unwrap().len(), 11);
}

/// Options no solve could honour are errors: k = 0 eigenpairs, a tracking run with no projection
/// step, a NaN or infinite tolerance, and a NaN eigengap threshold (it never fired: every
/// comparison with NaN is false, so a run past the gap went on as if checked).
#[test]
fn meaningless_solver_options_are_errors() {
    let m = cubic();
    let th = [0.0; 4];
    let k0 = EigenOpts { k: 0, ..EigenOpts::top::<f64>(1, ()) };
    assert!(top_eigen(&m, &th, None, &k0).unwrap_err().to_string().contains("k = 0"));
    // k above the dimension gives the p pairs there are.
    let k9 = EigenOpts { k: 9, ..EigenOpts::top::<f64>(1, ()) };
    assert_eq!(top_eigen(&m, &th, None, &k9).unwrap().values.len(), 4);
    let u0 = Some(&[1.0, 0.0, 0.0, 0.0][..]);
    for (o, what) in [
        (TrackOpts { projection_steps: 0, ..opts() }, "projection_steps = 0"),
        (TrackOpts { eig_tol: Mag::new(f64::NAN), ..opts() }, "eig_tol"),
        (TrackOpts { chain_tol: Some(Mag::new(f64::INFINITY)), ..opts() }, "chain_tol"),
        (TrackOpts { gap_threshold: Some(f64::NAN), ..opts() }, "gap_threshold"),
        (TrackOpts { gap_threshold: Some(-1.9), ..opts() }, "gap_threshold"),
    ] {
        let e = tracking::start_split(&m, &1.0, &th, &[0.01, 0.0, 0.0, 0.0], u0, &o).unwrap_err().to_string();
        assert!(e.contains(what), "{what}: {e}");
        let mut st = tracking::start_split(&m, &1.0, &th, &[0.01, 0.0, 0.0, 0.0], u0, &opts()).unwrap();
        let e = tracking::step(&m, &1.0, &mut st, &o).unwrap_err().to_string();
        assert!(e.contains(what), "{what}: {e}");
    }
}

/// The dense helpers panic with a message naming the mismatch (they used to check lengths in debug
/// builds only, and a release build summed the common prefix: a silent wrong number).
#[test]
fn dot_products_of_unequal_lengths_panic_with_the_lengths() {
    use selfstab::linalg::{dot, dots};
    fn msg(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let e = std::panic::catch_unwind(f).expect_err("expected a panic");
        e.downcast_ref::<String>().cloned().unwrap_or_default()
    }
    assert!(msg(|| {
        dot(&[1.0, 2.0, 3.0], &[1.0, 2.0]);
    })
    .contains("lengths 3 and 2"));
    assert!(msg(|| {
        dots(&[1.0, 2.0], &[&[1.0, 2.0][..], &[1.0][..]]);
    })
    .contains("ys[1] has length 1, x has 2"));
    assert_eq!(dot(&[1.0, 2.0, 3.0], &[1.0, 2.0, 2.0]), 11.0);
}

#[test]
fn a_cubic_direction_whose_norm_underflows_is_not_called_zero() {
    // a = (1e-300, 0, 0) is non-zero, but β = ‖a‖² underflows in f64: the error says so (it said
    // "must be non-zero"; fuzz review). At 256 bits the same a is a valid model (β = 1e-600), and a
    // zero a is still "must be non-zero".
    let mut spec = CubicSpec::reference("0.01", "0.3");
    spec.a = vec!["1e-300".into(), "0".into(), "0".into()];
    spec.g = vec!["1e300".into(), "0.3".into(), "0".into()];
    let e = Cubic::<f64>::new(&spec, ()).unwrap_err().to_string();
    assert!(e.contains("underflows") && !e.contains("must be non-zero"), "{e}");
    assert!(Cubic::<rug::Float>::new(&spec, 256).is_ok());
    spec.a = vec!["0".into(), "-0".into(), "0".into()];
    let e = Cubic::<f64>::new(&spec, ()).unwrap_err().to_string();
    assert!(e.contains("must be non-zero"), "{e}");
}
