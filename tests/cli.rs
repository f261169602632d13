//! The command line as a user meets it: bad input gives one-line errors and a non-zero exit (never a
//! panic), export → eval round-trips, a killed run resumes bit-identically, divergence stops cleanly.

use selfstab::mag::Mag;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_selfstab"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("selfstab-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A saved state edited as JSON, to be written back as a build before the CRC-32 member wrote it
/// (that member, checked to be there, left out): the job's own validation then judges the edit, as
/// a rewritten file with the member is refused whatever it holds
/// (`a_saved_state_edited_or_damaged_after_it_was_written_is_refused`).
fn without_digest(v: &serde_json::Value) -> serde_json::Value {
    let mut v = v.clone();
    assert!(v.as_object_mut().unwrap().remove("crc32").is_some(), "the saved state has no CRC-32 member");
    v
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("binary runs")
}

/// `DIR/summary.json` of a run, parsed.
fn summary_json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

/// Runs `selfstab args…` and requires it to succeed (its stderr is the failure message).
#[track_caller]
fn expect_success<I: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = I>) -> Output {
    let o = bin().args(args).output().expect("binary runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

#[track_caller]
fn expect_failure(args: &[&str], needle: &str) {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{args:?} succeeded; stderr: {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    let last = err.trim_end().lines().last().unwrap_or("");
    assert!(last.starts_with("error: ") || last.starts_with("error:"), "{args:?}: last line is not an error: {err}");
    assert!(err.contains(needle), "{args:?}: expected `{needle}` in: {err}");
}

#[test]
fn bad_run_inputs_give_one_line_errors() {
    let d = tmp("bad");
    let out = d.join("o");
    let o = out.to_str().unwrap();
    expect_failure(&["run", "--activation", "relu", "--out", o], "unknown activation `relu`");
    expect_failure(&["run", "--loss", "hinge", "--out", o], "unknown loss `hinge`");
    expect_failure(&["run", "--model", "resnet", "--out", o], "unknown model `resnet`");
    expect_failure(&["run", "--lr", "-0.1", "--out", o], "learning rate must be finite and > 0");
    expect_failure(&["run", "--lr", "0", "--out", o], "learning rate");
    expect_failure(&["run", "--lr", "nan", "--out", o], "learning rate");
    expect_failure(&["run", "--lr", "0.2667x", "--out", o], "`0.2667x` is not a decimal number");
    expect_failure(&["run", "--lr", "1e-320", "--out", o], "2/η overflows");
    expect_failure(&["run", "--out", ""], "must name a directory");
    expect_failure(&["run", "--precision", "12", "--out", o], "precision must be `f64` or a number of bits");
    expect_failure(&["run", "--precision", "70000", "--out", o], "precision");
    expect_failure(&["run", "--layers", "32,10", "--steps", "1", "--out", o], "64 input features but --layers starts with 32");
    expect_failure(&["run", "--data", "/nonexistent/data.npz", "--out", o], "/nonexistent/data.npz");
    expect_failure(&["run", "--data", "DIGITS", "--out", o], "DIGITS: no such file; --data takes digits, synthetic");
    expect_failure(&["run", "--model", "cubic", "--data", "synthetic", "--out", o], "the cubic model has no data");
    // A device is not read (/dev/zero never ends): as θ₀, as data, as a configuration file.
    expect_failure(&["run", "--layers", "64,8,10", "--theta0", "/dev/zero", "--out", o], "/dev/zero: is a device, pipe or socket, not a regular file");
    expect_failure(&["run", "--data", "/dev/zero", "--out", o], "not a regular file");
    expect_failure(&["run", "/dev/zero", "--out", o], "not a regular file");
    expect_failure(&["run", "--gap-threshold", "-3", "--out", o], "gap_threshold");
    expect_failure(&["run", "--gap-threshold", "abc", "--out", o], "got `abc`");
    // --multi switches at the eigengap stop, which `none` disables (it used to be silently inert).
    expect_failure(&["run", "--multi", "3", "--gap-threshold", "none", "--out", o], "give a numeric gap threshold");
    expect_failure(&["run", "--gap-every", "0", "--out", o], "gap_every");
    expect_failure(&["run", "--checkpoint-every", "0", "--out", o], "checkpoint_every");
    // Sizes the machine cannot hold are input errors, not allocation aborts or wrapped counts.
    expect_failure(&["run", "--layers", "64,4294967296,4294967296,10", "--out", o], "parameters");
    expect_failure(&["run", "--data", "synthetic", "--n", "10000000000", "--out", o], "must be ≤ 10000000");
    // Config file: unknown key and wrong type.
    let cfg = d.join("bad.toml");
    std::fs::write(&cfg, "lr = 0.1\nlearning_rate = 0.2\n").unwrap();
    expect_failure(&["run", cfg.to_str().unwrap(), "--out", o], "unknown field `learning_rate`");
    std::fs::write(&cfg, "steps = \"many\"\n").unwrap();
    expect_failure(&["run", cfg.to_str().unwrap(), "--out", o], "invalid configuration at line 1 (`steps = \"many\"`)");
    std::fs::write(&cfg, "[cubic]\na = [1, 0, 0]\ng = [0.01, 0.3, 0]\n").unwrap();
    expect_failure(&["run", cfg.to_str().unwrap(), "--out", o], "only the cubic model takes a [cubic] table");
    // Parameters: wrong length, NaN, truncated, wrong dtype.
    let p = d.join("theta.npy");
    selfstab::npy::write_npy_f64(&p, &[0.1; 10], &[10]).unwrap();
    expect_failure(&["run", "--theta0", p.to_str().unwrap(), "--out", o], "expected a float64 vector of 1482 parameters");
    let mut v = vec![0.01; 1482];
    v[7] = f64::NAN;
    selfstab::npy::write_npy_f64(&p, &v, &[1482]).unwrap();
    expect_failure(&["run", "--theta0", p.to_str().unwrap(), "--out", o], "non-finite value (NaN or infinity) at index 7");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    expect_failure(&["run", "--theta0", p.to_str().unwrap(), "--out", o], "theta.npy");
    selfstab::npy::write_npy_i64(&p, &[1; 1482], &[1482]).unwrap();
    expect_failure(&["run", "--theta0", p.to_str().unwrap(), "--out", o], "<i8");
    expect_failure(&["run", "--theta0", "/nonexistent/t.npy", "--out", o], "/nonexistent/t.npy");
}

#[test]
fn export_then_eval_reproduces_builtin_digits_bit_for_bit() {
    let d = tmp("export");
    let ex = d.join("ex");
    let o = run(&["export", "--layers", "64,8,10", "--data", "digits", "--n", "50", "--seed", "0", "--out", ex.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let theta = ex.join("theta0.npy");
    let (t, shape) = selfstab::npy::read_npy_f64(&theta).unwrap();
    assert_eq!(shape, vec![64 * 8 + 8 + 8 * 10 + 10]);
    assert_eq!(t, selfstab::data::init_params(&[64, 8, 10], 0).unwrap());
    let e1 = d.join("e1");
    let e2 = d.join("e2");
    let base = ["eval", "--theta", theta.to_str().unwrap(), "--layers", "64,8,10", "--activation", "tanh", "--loss", "mse", "--top-k", "2"];
    let o = bin().args(base).args(["--data", ex.join("data.npz").to_str().unwrap(), "--out", e1.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = bin().args(base).args(["--data", "digits", "--n", "50", "--out", e2.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j1: serde_json::Value = serde_json::from_slice(&std::fs::read(e1.join("eval.json")).unwrap()).unwrap();
    let j2: serde_json::Value = serde_json::from_slice(&std::fs::read(e2.join("eval.json")).unwrap()).unwrap();
    for k in ["loss", "sharpness", "top_eigenvalues", "eigen_residual", "hvp_count", "precision", "eigen_residuals", "eigen_tol"] {
        assert!(j1.get(k).is_some(), "eval.json lacks `{k}`");
    }
    assert_eq!(j1["loss"], j2["loss"], "export's data.npz does not reproduce --data digits");
    assert_eq!(j1["top_eigenvalues"], j2["top_eigenvalues"]);
    for f in ["grad.npy", "u.npy", "grad_sharpness.npy"] {
        let (a, _) = selfstab::npy::read_npy_f64(e1.join(f)).unwrap();
        let (b, _) = selfstab::npy::read_npy_f64(e2.join(f)).unwrap();
        assert_eq!(a, b, "{f} differs");
    }
    // The eigenpair in the files is one: ‖u‖ = 1, and ‖Hu − Su‖/S recomputed here, with an HVP of
    // the library's MLP at the exported θ, is within eval's tolerance and is the residual eval
    // reports, up to the HVP's rounding (p·eps·‖H‖/S with ‖H‖ ≈ S at this θ: 610 × 2.2e-16 ≈ 1.4e-13).
    use selfstab::models::mlp::{Activation, LossKind, Mlp};
    use selfstab::objective::Objective;
    let (u, _) = selfstab::npy::read_npy_f64(e1.join("u.npy")).unwrap();
    let nu: f64 = u.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((nu - 1.0).abs() < 1e-12);
    let m = Mlp::<f64>::new(&[64, 8, 10], Activation::Tanh, LossKind::Mse, &selfstab::data::digits(50).unwrap(), ()).unwrap();
    let mut hu = vec![0.0; u.len()];
    m.hvp(&t, &u, &mut hu).unwrap();
    let s = j1["sharpness"].as_f64().unwrap();
    let res = hu.iter().zip(&u).map(|(h, x)| (h - s * x).powi(2)).sum::<f64>().sqrt() / s;
    let (reported, tol) = (j1["eigen_residual"].as_f64().unwrap(), j1["eigen_tol"].as_f64().unwrap());
    assert!(res <= tol && (res - reported).abs() <= 610.0 * f64::EPSILON, "‖Hu − Su‖/S = {res:e}; eval reports {reported:e} (tol {tol:e})");
}

/// Above f64 a run writes its final state with all its digits (`final_state.txt`: the checkpoint
/// that held them is removed at the end): a header with T, then p rows of θ, θ†, v, v_gen, each a
/// decimal with ≥ 38 significant digits (128 bits hold 38.5) that rounds to final_state.npz's f64;
/// and `eval --theta X.txt` evaluates such a column with all its digits.
#[test]
fn an_mpfr_run_writes_its_final_state_with_all_digits_and_eval_reads_them() {
    let d = tmp("final128");
    expect_success(["run", "--layers", "64,4,10", "--n", "20", "--precision", "128", "--steps", "2", "--gap-threshold", "none", "--out", d.to_str().unwrap()]);
    let txt = std::fs::read_to_string(d.join("final_state.txt")).unwrap();
    let npz = selfstab::npy::read_npz(d.join("final_state.npz")).unwrap();
    let col = |name: &str| match &npz.get(name).unwrap().data {
        selfstab::npy::NpyData::F64(v) => v.clone(),
        other => panic!("{name}: {other:?}"),
    };
    let cols = [col("theta"), col("theta_dagger"), col("v"), col("v_gen")];
    let mut lines = txt.lines();
    assert!(lines.next().unwrap().starts_with("# t = 2; columns: theta theta_dagger v v_gen"), "{txt:.200}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 64 * 4 + 4 + 4 * 10 + 10);
    for (i, row) in rows.iter().enumerate() {
        let vals: Vec<&str> = row.split(' ').collect();
        assert_eq!(vals.len(), 4, "row {i}: {row}");
        for (j, dec) in vals.iter().enumerate() {
            let x = rug::Float::with_val(128, rug::Float::parse(dec).unwrap());
            assert_eq!(x.to_f64(), cols[j][i], "row {i}, column {j}: {dec}");
            let mantissa = dec.trim_start_matches('-').split(['e', 'E']).next().unwrap();
            let sig = mantissa.chars().filter(char::is_ascii_digit).collect::<String>().trim_start_matches('0').len();
            assert!(x == 0 || sig >= 38, "row {i}, column {j}: {dec} has {sig} digits");
        }
    }
    // `eval --theta` reads such a decimal column at the working precision: θ_T's digits change the
    // 128-bit loss against the f64-rounded θ_T (by ~1e-17 relative), while at f64 the column rounds
    // to final_state.npz's θ exactly and gives its loss bit for bit. A file of four columns is refused.
    let col1: String = rows.iter().map(|r| format!("{}\n", r.split(' ').next().unwrap())).collect();
    // A header comment, a trailing comment and CRLF line ends are read as well.
    std::fs::write(d.join("theta_T.txt"), format!("# θ_T\n{}", col1.replacen('\n', " # first\r\n", 1))).unwrap();
    selfstab::npy::write_npy_f64(d.join("theta_T.npy"), &cols[0], &[cols[0].len()]).unwrap();
    let eval = |theta: &str, prec: &str, out: &str| -> serde_json::Value {
        expect_success(["eval", "--theta", d.join(theta).to_str().unwrap(), "--layers", "64,4,10", "--n", "20", "--precision", prec, "--out", d.join(out).to_str().unwrap()]);
        serde_json::from_slice(&std::fs::read(d.join(out).join("eval.json")).unwrap()).unwrap()
    };
    let (t128, n128) = (eval("theta_T.txt", "128", "et128"), eval("theta_T.npy", "128", "en128"));
    let (lt, ln) = (t128["loss_decimal"].as_str().unwrap(), n128["loss_decimal"].as_str().unwrap());
    let rel = ((rug::Float::with_val(128, rug::Float::parse(lt).unwrap()) - rug::Float::with_val(128, rug::Float::parse(ln).unwrap())).to_f64() / t128["loss"].as_f64().unwrap()).abs();
    assert!(lt != ln && rel <= 1e-15, "128-bit loss from the decimal θ {lt} vs from the f64 θ {ln} ({rel:e})");
    let (t64, n64) = (eval("theta_T.txt", "f64", "et64"), eval("theta_T.npy", "f64", "en64"));
    assert_eq!((t64["loss"].as_f64(), t64["sharpness"].as_f64()), (n64["loss"].as_f64(), n64["sharpness"].as_f64()));
    let o = bin().args(["eval", "--theta", d.join("final_state.txt").to_str().unwrap(), "--layers", "64,4,10", "--n", "20", "--out", d.join("ex").to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("line 2: 4 numbers; a θ file has one per line"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn eval_of_every_eigenpair_agrees_with_the_iterative_top_pairs() {
    // `eval --top-k` ≥ p takes every pair from the dense Hessian (p HVPs) and a dense
    // eigendecomposition (before, the iterative solver with a block of p took hours at p in the
    // thousands). H is symmetric, so an eigenvalue lies within ‖Hy − θy‖ of a Ritz value θ with
    // unit y: the dense and iterative top values agree to the sum of their residual bounds. The dense
    // residuals are at rounding level (relative to S, ≤ 16·p·ε ≈ 2.2e-12 for a backward-stable
    // eigensolver at p = 610; measured 1e-14).
    let d = tmp("evalall");
    let ex = d.join("ex");
    expect_success(["export", "--layers", "64,8,10", "--n", "50", "--out", ex.to_str().unwrap()]);
    let theta = ex.join("theta0.npy");
    let eval = |k: &str, prec: &str, out: &Path| {
        bin().args(["eval", "--theta", theta.to_str().unwrap(), "--layers", "64,8,10", "--n", "50", "--top-k", k, "--precision", prec, "--out", out.to_str().unwrap()]).output().unwrap()
    };
    let read = |dir: &Path| -> serde_json::Value { serde_json::from_slice(&std::fs::read(dir.join("eval.json")).unwrap()).unwrap() };
    let f64s = |v: &serde_json::Value| -> Vec<f64> { v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect() };
    let (it, all) = (d.join("it"), d.join("all"));
    assert!(eval("3", "f64", &it).status.success());
    let o = eval("1000", "f64", &all);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.contains("computing all 610 eigenpairs"), "{err}");
    let (ji, ja) = (read(&it), read(&all));
    let (vi, va) = (f64s(&ji["top_eigenvalues"]), f64s(&ja["top_eigenvalues"]));
    let (ri, ra) = (f64s(&ji["eigen_residuals"]), f64s(&ja["eigen_residuals"]));
    assert_eq!((va.len(), ja["hvp_count"].as_u64()), (610, Some(610)));
    assert!(va.windows(2).all(|w| w[0] >= w[1]), "not descending");
    assert!(ra.iter().all(|&r| r <= 16.0 * 610.0 * f64::EPSILON), "dense residual {:e}", ra.iter().cloned().fold(0.0, f64::max));
    let s = va[0];
    for i in 0..3 {
        assert!((va[i] - vi[i]).abs() <= (ri[i] + ra[i]) * s, "λ_{i}: dense {} iterative {} (residuals {:e}, {:e})", va[i], vi[i], ri[i], ra[i]);
    }
    let (u, _) = selfstab::npy::read_npy_f64(all.join("u.npy")).unwrap();
    let (ui, _) = selfstab::npy::read_npy_f64(it.join("u.npy")).unwrap();
    // Both u's are oriented alike, and each lies within ≈ residual·S/gap of the true u
    // (Davis–Kahan sin θ ≤ ‖r‖/gap; ‖u − u*‖ = 2 sin(θ/2) ≤ √2 sin θ), plus the rounding of two
    // unit vectors' 610 entries (≈ ε each, √p·ε in norm, twice).
    let dist: f64 = u.iter().zip(&ui).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
    let bound = std::f64::consts::SQRT_2 * (ri[0] + ra[0]) * s / (va[0] - va[1]) + 2.0 * 610f64.sqrt() * f64::EPSILON;
    assert!(dist <= bound, "u differs by {dist:e} > {bound:e}");
    // A quarter of the pairs or more (here 200 of 610) also comes from the dense Hessian (the block
    // solver with a block of 200 took over 2 minutes): the same top pairs as all of them.
    let part = d.join("part");
    let o = eval("200", "f64", &part);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let jp = read(&part);
    assert_eq!((jp["eigen_method"].as_str(), jp["hvp_count"].as_u64()), (Some("dense"), Some(610)));
    assert_eq!(f64s(&jp["top_eigenvalues"])[..], va[..200]);
    // So do k ≥ √p of them (25² ≥ 610: the block solver's cost grows about as k^3.5, and k = 152
    // had run for minutes or failed; fuzz review); k = 24 takes the block solver, to its tolerance.
    for (k, method) in [("25", "dense"), ("24", "iterative")] {
        let dir = d.join(format!("k{k}"));
        let o = eval(k, "f64", &dir);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let jk = read(&dir);
        assert_eq!(jk["eigen_method"].as_str(), Some(method), "k = {k}");
        let vk = f64s(&jk["top_eigenvalues"]);
        let rk = f64s(&jk["eigen_residuals"]);
        for i in 0..vk.len() {
            assert!((vk[i] - va[i]).abs() <= (rk[i] + ra[i]) * s, "k = {k}, λ_{i}: {} against the dense {}", vk[i], va[i]);
        }
    }
    // Above f64 the dense path is a Jacobi in the working precision: refused past its size limit.
    let o = eval("1000", "128", &d.join("m"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("p ≤ 300") && !err.contains("panicked"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn eval_top_k_finds_every_copy_of_a_repeated_eigenvalue() {
    // At θ = 0 of a tanh MLP the hidden units are off: under MSE only the output biases curve the
    // loss (λ = 2 ten times, the classes); under cross-entropy 64-8-10 has λ = 0.77396 eight times.
    // The Krylov space of one start vector holds one vector of that eigenspace: `--top-k 3` stopped
    // on an invariant subspace with 2, 0.63, 0. The deflated check solve completes the copies: the
    // top k values are the dense Hessian's, each within the sum of the two residual bounds (H
    // symmetric: an eigenvalue lies within ‖Hy − θy‖ of a Ritz value), plus rounding.
    let d = tmp("evalrep");
    let f64s = |v: &serde_json::Value| -> Vec<f64> { v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect() };
    for (layers, loss, ks, copies) in [("64,16,16,10", "mse", [3, 12], 10), ("64,8,10", "ce", [5, 8], 8)] {
        let w: Vec<usize> = layers.split(',').map(|x| x.parse().unwrap()).collect();
        let p: usize = w.windows(2).map(|l| l[0] * l[1] + l[1]).sum();
        let theta = d.join(format!("zeros{p}.npy"));
        selfstab::npy::write_npy_f64(&theta, &vec![0.0; p], &[p]).unwrap();
        let eval = |k: &str, out: &Path| -> serde_json::Value {
            let o = bin().args(["eval", "--theta", theta.to_str().unwrap(), "--layers", layers, "--loss", loss, "--top-k", k, "--out", out.to_str().unwrap()]).output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            serde_json::from_slice(&std::fs::read(out.join("eval.json")).unwrap()).unwrap()
        };
        let all = eval("5000", &d.join(format!("all{p}")));
        let (va, ra) = (f64s(&all["top_eigenvalues"]), f64s(&all["eigen_residuals"]));
        // The premise (not the claim): the dense spectrum has exactly `copies` equal top values (to
        // 1e-9, far above the dense solve's rounding of ≈ 1e-15 and far below) and then a gap (the
        // next value is ≥ 1e-3 lower: 1.5479 against 2 and 0.77396 against the next).
        assert!((va[copies - 1] - va[0]).abs() < 1e-9 && va[copies] < va[0] - 1e-3, "{layers} {loss}: not the spectrum described: {:?}", &va[..copies + 1]);
        for k in ks {
            let it = eval(&k.to_string(), &d.join(format!("k{k}_{p}")));
            let (vi, ri) = (f64s(&it["top_eigenvalues"]), f64s(&it["eigen_residuals"]));
            for i in 0..k {
                // Plus the Ritz value's own rounding (the bound is exact arithmetic's; here the dense
                // residuals are 0 and a Ritz value of 2 came out 5e-15 off): 64ε·S.
                let bound = (ri[i] + ra[i] + 64.0 * f64::EPSILON) * va[0];
                assert!((va[i] - vi[i]).abs() <= bound, "{layers} {loss} k = {k}, λ_{i}: dense {} iterative {} (residuals {:e}, {:e})", va[i], vi[i], ri[i], ra[i]);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn an_eigen_solve_whose_residual_overflows_stops_at_once_and_says_so() {
    // The last layer of θ₀ scaled by 1e78: finite parameters, a sharpness near 1e156, whose square
    // overflows f64 in the residual's norm. The solve used to run all 5000 HVPs and report a
    // residual "inf"; it now stops at the first overflowed residual and names the cause.
    let d = tmp("evalovf");
    let ex = d.join("ex");
    expect_success(["export", "--layers", "64,16,16,10", "--out", ex.to_str().unwrap()]);
    let (mut theta, _) = selfstab::npy::read_npy_f64(ex.join("theta0.npy")).unwrap();
    let last = 64 * 16 + 16 + 16 * 16 + 16;
    theta[last..].iter_mut().for_each(|w| *w *= 1e78);
    let big = d.join("big.npy");
    selfstab::npy::write_npy_f64(&big, &theta, &[theta.len()]).unwrap();
    let o = bin().args(["eval", "--theta", big.to_str().unwrap(), "--layers", "64,16,16,10", "--out", d.join("o").to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("overflowed") && !err.contains("after 5000"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn eval_at_256_bits_agrees_with_f64_and_writes_all_digits() {
    let d = tmp("eval256");
    let ex = d.join("ex");
    assert!(run(&["export", "--layers", "64,6,10", "--n", "30", "--out", ex.to_str().unwrap()]).status.success());
    let mk = |prec: &str, out: &Path| {
        let o = bin()
            .args(["eval", "--theta", ex.join("theta0.npy").to_str().unwrap(), "--data", ex.join("data.npz").to_str().unwrap()])
            .args(["--layers", "64,6,10", "--precision", prec, "--out", out.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(out.join("eval.json")).unwrap()).unwrap()
    };
    let a = mk("f64", &d.join("a"));
    let b = mk("256", &d.join("b"));
    assert_eq!((&a["precision"], &b["precision"]), (&serde_json::json!("f64"), &serde_json::json!("256")), "precision is text, as in summary.json");
    for k in ["loss", "sharpness"] {
        let (x, y) = (a[k].as_f64().unwrap(), b[k].as_f64().unwrap());
        // f64's own accuracy on this small model: the loss is one forward pass (64ε), the
        // sharpness the Rayleigh quotient of a vector with residual ≤ 1e-10·S, so its error is
        // ≈ residual²/gap plus the HVP's rounding (16ε, as in claims_precision's eval test).
        let tol = if k == "loss" { 64.0 * f64::EPSILON } else { 16.0 * f64::EPSILON };
        eprintln!("{k}: f64 vs 256 bits relative {:e}", ((x - y) / y).abs());
        assert!(((x - y) / y).abs() <= tol, "{k}: f64 {x} vs 256 bits {y}");
        // All digits: 256 bits hold 256·log₁₀2 = 77.06 decimal digits, and the decimal read back at
        // 256 bits is the value itself (it round-trips).
        let dec = b[format!("{k}_decimal")].as_str().unwrap();
        let mantissa = dec.trim_start_matches('-').split(['e', 'E', '@']).next().unwrap();
        let sig = mantissa.chars().filter(char::is_ascii_digit).collect::<String>().trim_start_matches('0').len();
        assert!(sig >= 78, "{k}_decimal has {sig} significant digits: {dec}");
        let back = rug::Float::with_val(256, rug::Float::parse(dec).unwrap());
        let again = rug::Float::with_val(256, rug::Float::parse(back.to_string_radix(10, None)).unwrap());
        assert!(back == again && back.to_f64() == y, "{k}_decimal does not round-trip: {dec}");
    }
    let txt = std::fs::read_to_string(d.join("b").join("grad.txt")).unwrap();
    assert_eq!(txt.lines().count(), 64 * 6 + 6 + 6 * 10 + 10);
}

/// Column `name` of a series.csv, with step_seconds dropped (timings differ between runs).
fn series_without_timing(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let skip = header.iter().position(|h| *h == "step_seconds").unwrap();
    std::iter::once(header.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, h)| *h).collect::<Vec<_>>().join(","))
        .chain(lines.map(|l| l.split(',').enumerate().filter(|(i, _)| *i != skip).map(|(_, v)| v).collect::<Vec<_>>().join(",")))
        .collect()
}

/// `run` of a 40-step digits job checkpointing every step, with `extra` flags, writing to `out`.
fn checkpointed_run_args(extra: &[&str], out: &Path) -> Vec<String> {
    ["run", "--layers", "64,16,16,10", "--n", "100", "--lr", "0.25", "--steps", "40", "--checkpoint-every", "1"]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .chain(["--out".to_string(), out.to_str().unwrap().to_string()])
        .collect()
}

/// [`checkpointed_run_args`] with `--steps steps`.
fn checkpointed_run_args_with_steps(out: &Path, steps: &str) -> Vec<String> {
    let mut v = checkpointed_run_args(&[], out);
    let i = v.iter().position(|a| a == "--steps").unwrap();
    v[i + 1] = steps.into();
    v
}

/// Start `selfstab args…` writing to `out`, kill it (SIGKILL) once its checkpoint exists and return
/// the checkpoint's path; fails if the run finished before it could be killed.
fn run_and_kill_after_checkpoint(args: &[String], out: &Path) -> std::path::PathBuf {
    kill_once_written(args, &out.join("checkpoint.json"))
}

/// Poll `done` every `every_ms` milliseconds until it holds, for at most 120 s (a job that never
/// gets there fails its test's next assertion).
fn wait_for(mut done: impl FnMut() -> bool, every_ms: u64) {
    let t0 = std::time::Instant::now();
    while !done() && t0.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(every_ms));
    }
}

/// Start `selfstab args…`, kill it (SIGKILL) once the file `ck` exists and return `ck`; fails if the
/// command finished before it could be killed.
fn kill_once_written(args: &[String], ck: &Path) -> std::path::PathBuf {
    let mut child = bin().args(args).stderr(std::process::Stdio::null()).spawn().unwrap();
    let ck = ck.to_path_buf();
    wait_for(|| ck.exists(), 5);
    std::thread::sleep(std::time::Duration::from_millis(30));
    let killed_early = child.try_wait().unwrap().is_none();
    child.kill().ok();
    child.wait().unwrap();
    assert!(killed_early, "the run finished before it could be killed; make it longer");
    ck
}

#[test]
fn killed_run_resumes_bit_identically() {
    let d = tmp("resume");
    let args = |out: &Path| checkpointed_run_args(&["--gap-every", "10"], out);
    let full = d.join("full");
    expect_success(args(&full));
    // Start the same run with two threads, kill it (SIGKILL) once a checkpoint exists, then re-run
    // the command with one thread: the thread count does not change the bits, so it resumes.
    let part = d.join("part");
    let with_threads = |t: &str| [args(&part), vec!["--threads".into(), t.into()]].concat();
    let ck = run_and_kill_after_checkpoint(&with_threads("2"), &part);
    assert!(ck.exists(), "no checkpoint after the kill");
    let o = bin().args(with_threads("1")).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("resuming from"), "the re-run did not resume: {err}");
    assert_eq!(series_without_timing(&full.join("series.csv")), series_without_timing(&part.join("series.csv")));
    for f in ["final_state.npz", "theta_unstable.npy", "pre_instability.csv", "monitors.csv", "slices.csv", "betas.csv"] {
        assert_eq!(std::fs::read(full.join(f)).unwrap(), std::fs::read(part.join(f)).unwrap(), "{f} differs after resume");
    }
    // --gap-every 10 over 40 steps: monitors at t = 0, 10, 20, 30.
    let mon = std::fs::read_to_string(full.join("monitors.csv")).unwrap();
    assert_eq!(mon.lines().skip(1).map(|l| l.split(',').next().unwrap().to_string()).collect::<Vec<_>>(), ["0", "10", "20", "30"]);
    assert!(!ck.exists(), "checkpoint left behind after completion");
}

#[test]
fn killed_flow_resumes_bit_identically() {
    // `flow` checkpoints too (flow_checkpoint.json, every --checkpoint-every steps): killed once
    // the file exists and re-run with the same command (with another thread count), it resumes and
    // writes the series and summary of an uninterrupted run, wall time aside.
    let d = tmp("flowresume");
    let args = |out: &Path, threads: &str| -> Vec<String> {
        ["flow", "--layers", "64,16,16,10", "--n", "100", "--lr", "0.25", "--steps", "60", "--checkpoint-every", "2", "--threads", threads, "--out"]
            .iter()
            .map(|s| s.to_string())
            .chain([out.to_str().unwrap().to_string()])
            .collect()
    };
    let full = d.join("full");
    expect_success(args(&full, "2"));
    let part = d.join("part");
    let ck = kill_once_written(&args(&part, "2"), &part.join("flow_checkpoint.json"));
    assert!(ck.exists(), "no checkpoint after the kill");
    // Other flow settings are refused, named as given (not as Rust's `None` / `Some(1e-8)`).
    let mut other = args(&part, "1");
    other.extend(["--sdcp-tol".into(), "1e-8".into()]);
    let o = bin().args(&other).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("sdcp_tol default; now:") && err.contains("sdcp_tol 1e-8)") && !err.contains("Some("), "{err}");
    let o = bin().args(args(&part, "1")).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("resuming from"), "the re-run did not resume: {err}");
    for f in ["flow_series.csv", "flow_series.npz"] {
        assert_eq!(std::fs::read(full.join(f)).unwrap(), std::fs::read(part.join(f)).unwrap(), "{f} differs after resume");
    }
    let summary = |dir: &Path| {
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("flow_summary.json")).unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("wall_seconds");
        v
    };
    assert_eq!(summary(&full), summary(&part));
    assert!(!ck.exists(), "checkpoint left behind after completion");
}

/// Start `selfstab args…`, send it signal `sig` (`INT`, `TERM`) once the file `ck` has been
/// written (created, or changed from what it held at the start) and `settle` has passed, wait for
/// it, and return its exit status and stderr; fails if the command finished before the signal.
fn interrupt_once_written(args: &[String], ck: &Path, sig: &str, settle: std::time::Duration) -> (std::process::ExitStatus, String) {
    let before = std::fs::read(ck).ok();
    let (status, err, _) = interrupt_when(args, || std::fs::read(ck).ok() != before, sig, settle);
    (status, err)
}

/// Start `selfstab args…`, send it signal `sig` once `ready` holds and `settle` has passed, wait for
/// it, and return its exit status, its stderr and the time from the signal to its end; fails if the
/// command finished before the signal.
fn interrupt_when<A: AsRef<std::ffi::OsStr>>(args: &[A], ready: impl FnMut() -> bool, sig: &str, settle: std::time::Duration) -> (std::process::ExitStatus, String, std::time::Duration) {
    let mut child = bin().args(args).stderr(std::process::Stdio::piped()).spawn().unwrap();
    wait_for(ready, 5);
    std::thread::sleep(settle);
    assert!(child.try_wait().unwrap().is_none(), "the job finished before the signal; make it longer");
    let sent_at = std::time::Instant::now();
    let sent = Command::new("kill").args(["-s", sig, &child.id().to_string()]).status().unwrap();
    assert!(sent.success(), "kill -s {sig} failed");
    let o = child.wait_with_output().unwrap();
    (o.status, String::from_utf8_lossy(&o.stderr).into_owned(), sent_at.elapsed())
}

/// The step an interrupted job's message names (`interrupted at <what> step K of N`).
fn interrupted_step(err: &str, what: &str) -> u64 {
    let tail = err.split(&format!("interrupted at {what} step ")).nth(1).unwrap_or_else(|| panic!("no interruption message: {err}"));
    tail.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn interrupted_run_saves_its_state_at_the_step_and_resumes_bit_identically() {
    // SIGINT (Ctrl-C) or SIGTERM (a batch scheduler) during the tracking loop: the run ends the
    // step in progress, writes its checkpoint and the series so far, names the step, and ends by the
    // signal; re-run, it resumes there. Here it is interrupted twice, by each signal, after the
    // first checkpoint (t = 1; the next would come only 10 s later), so the checkpoint read back
    // is the one written at the signal; the resumed run ends as an uninterrupted one.
    let d = tmp("sigint");
    let args = |out: &Path| checkpointed_run_args_with_steps(out, "1000");
    let full = d.join("full");
    expect_success(args(&full));
    let part = d.join("part");
    let ck = part.join("checkpoint.json");
    let mut last = 0;
    for sig in ["INT", "TERM"] {
        let (status, err) = interrupt_once_written(&args(&part), &ck, sig, std::time::Duration::from_millis(150));
        // After saving, the process ends by the signal itself (as without a handler), so that a
        // calling shell loop or script stops too.
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(if sig == "INT" { 2 } else { 15 }), "SIG{sig}: {status:?} {err}");
        assert!(!err.contains("panicked") && err.contains("run the same command again to resume"), "{err}");
        let k = interrupted_step(&err, "tracking");
        let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&ck).unwrap()).unwrap();
        assert_eq!(saved["state"]["t"].as_u64(), Some(k), "the checkpoint is not that of the step named");
        assert!(k > last + 1, "SIG{sig}: the checkpoint ({k}) is not the one written at the signal (after {last})");
        let rows = std::fs::read_to_string(part.join("series.csv")).unwrap().lines().count() - 1;
        assert_eq!(rows as u64, k, "series.csv does not hold the steps so far");
        assert!(!part.join("summary.json").exists(), "an interrupted run wrote a summary");
        last = k;
    }
    let o = expect_success(args(&part));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("resuming from {} at tracking step {last}", ck.display())), "{err}");
    assert_eq!(series_without_timing(&full.join("series.csv")), series_without_timing(&part.join("series.csv")));
    for f in ["final_state.npz", "betas.csv", "monitors.csv"] {
        assert_eq!(std::fs::read(full.join(f)).unwrap(), std::fs::read(part.join(f)).unwrap(), "{f} differs after resume");
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_resumed_run_removes_the_complete_set_it_supersedes() {
    // A run killed after writing its outputs but before removing its checkpoint (or whose output
    // writing failed) leaves a complete set beside a checkpoint. Resumed with more steps, the run
    // removes that set's end-of-run files at once: killed again, its directory holds the longer
    // series and no summary.json (the mark of a complete set) of the shorter run (review).
    let d = tmp("resumeset");
    let (done, part) = (d.join("done"), d.join("part"));
    expect_success(checkpointed_run_args_with_steps(&done, "40"));
    assert!(done.join("summary.json").exists() && !done.join("checkpoint.json").exists());
    // The same job's checkpoint at an early step, put beside the complete set.
    let ck = run_and_kill_after_checkpoint(&checkpointed_run_args_with_steps(&part, "1000"), &part);
    std::fs::copy(&ck, done.join("checkpoint.json")).unwrap();
    let mut child = bin().args(checkpointed_run_args_with_steps(&done, "1000")).stderr(std::process::Stdio::null()).spawn().unwrap();
    let series = done.join("series.csv");
    let rows = || std::fs::read_to_string(&series).map(|t| t.lines().count().saturating_sub(1)).unwrap_or(0);
    wait_for(|| rows() != 40, 5);
    child.kill().ok();
    child.wait().unwrap();
    for f in ["summary.json", "final_state.npz", "betas.csv", "monitors.csv", "figures/tracking.png"] {
        assert!(!done.join(f).exists(), "{f} of the finished 40-step run is left beside the resumed run's series ({} rows)", rows());
    }
    assert!(done.join("checkpoint.json").exists() && done.join("theta_unstable.npy").exists() && done.join("pre_instability.csv").exists());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn an_order_study_that_fails_while_writing_leaves_no_file_of_the_earlier_set() {
    // As for `enclose`: a study failing (or killed) while writing its four files leaves none of an
    // earlier study's beside its own (review: a SIGKILL left a new order_21.csv beside an older
    // order_21.png). order_06.md made a directory makes the second study's write fail.
    let d = tmp("ordermixed");
    let args = ["order", "6", "--quick", "--out", d.to_str().unwrap()];
    expect_success(args);
    assert!(d.join("order_06.png").exists());
    std::fs::remove_file(d.join("order_06.md")).unwrap();
    std::fs::create_dir(d.join("order_06.md")).unwrap();
    assert!(!bin().args(args).output().unwrap().status.success(), "the write into a directory did not fail");
    for f in ["order_06.svg", "order_06.png"] {
        assert!(!d.join(f).exists(), "{f} of the earlier study is left beside the new order_06.csv");
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_signal_delivered_twice_at_once_still_saves_the_run() {
    // GNU `timeout -s INT` signals the job and then its process group, so the job receives the
    // signal twice, microseconds apart. That is one request: the run still ends the step in
    // progress, saves and names the step (before, the repeat counted as a second signal and ended
    // the process at once, unsaved, in 25–50 % of `timeout` runs). The test sends the same pair:
    // to the job, then to its process group.
    use std::os::unix::process::ExitStatusExt;
    let d = tmp("sigtwice");
    let part = d.join("part");
    let ck = part.join("checkpoint.json");
    let args = checkpointed_run_args_with_steps(&part, "1000");
    for sig in ["INT", "TERM"] {
        let _ = std::fs::remove_dir_all(&part);
        use std::os::unix::process::CommandExt;
        let mut child = bin().args(&args).stderr(std::process::Stdio::piped()).process_group(0).spawn().unwrap();
        wait_for(|| ck.exists(), 5);
        std::thread::sleep(std::time::Duration::from_millis(150));
        assert!(child.try_wait().unwrap().is_none(), "the run finished before the signal; make it longer");
        let (pid, group) = (child.id().to_string(), format!("-{}", child.id()));
        for target in [&pid, &group] {
            assert!(Command::new("kill").args(["-s", sig, "--", target]).status().unwrap().success());
        }
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.signal(), Some(if sig == "INT" { 2 } else { 15 }), "SIG{sig}: {:?} {err}", o.status);
        assert!(err.contains(&format!("SIG{sig} received: the job saves its state")), "SIG{sig}: no acknowledgement: {err}");
        let k = interrupted_step(&err, "tracking");
        let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&ck).unwrap()).unwrap();
        assert_eq!(saved["state"]["t"].as_u64(), Some(k), "SIG{sig}: the checkpoint is not that of the step named");
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_second_signal_a_window_after_the_first_ends_the_job_at_once() {
    // A signal from `interrupt::REPEAT_WINDOW` (1 s) after the first is a second request: the job
    // ends at once by the signal, without waiting for the step in progress (here a 256-bit
    // tracking step of the micro MLP, ≈ 6 s on a 2-core Xeon, unstable from step 0 at η = 0.45),
    // and keeps the checkpoint it had (θ†₀'s, t = 0).
    use std::os::unix::process::ExitStatusExt;
    let d = tmp("sigsecond");
    let out = d.join("o");
    let ck = out.join("checkpoint.json");
    let args = ["run", "--layers", "64,8,8,10", "--n", "50", "--lr", "0.45", "--precision", "256", "--steps", "3", "--gap-threshold", "none", "--out", out.to_str().unwrap()];
    let mut child = bin().args(args).stderr(std::process::Stdio::piped()).spawn().unwrap();
    wait_for(|| ck.exists(), 5);
    std::thread::sleep(std::time::Duration::from_millis(100));
    let pid = child.id().to_string();
    let kill = || assert!(Command::new("kill").args(["-s", "INT", &pid]).status().unwrap().success());
    kill();
    std::thread::sleep(selfstab::progress::interrupt::REPEAT_WINDOW + std::time::Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "the step ended before the second signal; make it longer");
    let sent = std::time::Instant::now();
    kill();
    let o = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.signal(), Some(2), "{:?} {err}", o.status);
    assert!(took < std::time::Duration::from_millis(800), "the job took {took:?} to end after the second signal: {err}");
    assert!(err.contains("SIGINT received") && !err.contains("interrupted at"), "{err}");
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&ck).unwrap()).unwrap();
    assert_eq!(saved["state"]["t"].as_u64(), Some(0), "the checkpoint is not θ†₀'s");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn interrupted_instability_search_is_saved_and_resumes_bit_identically() {
    // A signal during the instability search (here η = 0.05, where S never reaches 2/η = 40 within
    // the 20,000-step cap: several seconds of search) stops it after its GD step in progress: the
    // job saves the search (search_checkpoint.json), says where, and ends by the signal. Re-run,
    // it resumes there; with a lower cap (the cap may change) the search ends as an uninterrupted
    // one with that cap, trace for trace. A saved search of another configuration is kept and
    // refused, and --fresh discards it.
    use std::os::unix::process::ExitStatusExt;
    let d = tmp("searchint");
    let args = |cmd: &str, out: &Path, more: &[&str]| -> Vec<String> {
        [cmd, "--layers", "64,16,16,10", "--lr", "0.05", "--steps", "10"]
            .iter()
            .chain(more)
            .map(|s| s.to_string())
            .chain(["--out".into(), out.to_str().unwrap().into()])
            .collect()
    };
    for cmd in ["run", "flow"] {
        let out = d.join(cmd);
        let saved = out.join(if cmd == "run" { "search_checkpoint.json" } else { "flow_search_checkpoint.json" });
        let (status, err) = interrupt_once_written(&args(cmd, &out, &[]), &saved, "INT", std::time::Duration::from_millis(400));
        assert_eq!(status.signal(), Some(2), "{cmd}: {status:?} {err}");
        assert!(err.contains("of the instability search: the search so far is saved in") && !err.contains("panicked"), "{cmd}: {err}");
        let k = interrupted_step(&err, "GD");
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
        // The step named is the saved one, where the same command resumes (as for tracking steps).
        assert_eq!(v["state"]["t"].as_u64(), Some(k), "{cmd}: the saved search is not at the step named");
        assert!(k > 2, "{cmd}: the saved search ({k}) is not the one written at the signal");
        // A cap below the saved step is refused (the search is kept).
        let low = (k / 2).to_string();
        let o = bin().args(args(cmd, &out, &["--search-steps", &low])).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(&format!("past --search-steps {low}")) && saved.exists(), "{cmd}: {err}");
        let cap = (k + 40).to_string();
        let o = bin().args(args(cmd, &out, &["--search-steps", &cap])).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(&format!("resuming the instability search from {} at GD step {k}", saved.display())), "{cmd}: {err}");
        assert!(!o.status.success() && err.contains(&format!("within {cap} GD steps")), "{cmd}: {err}");
        // The search is saved at the cap, so that a higher cap goes on from there (review: it went
        // on from the last periodic save, up to 10 s of steps back).
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
        assert_eq!(v["state"]["t"].as_u64(), Some(k + 40), "{cmd}: the search is not saved at the cap");
        if cmd == "run" {
            let fresh = d.join("uninterrupted");
            let o = bin().args(args(cmd, &fresh, &["--search-steps", &cap])).output().unwrap();
            assert!(!o.status.success());
            let trace = std::fs::read_to_string(out.join("pre_instability.csv")).unwrap();
            assert_eq!(trace, std::fs::read_to_string(fresh.join("pre_instability.csv")).unwrap(), "the resumed search's trace differs");
            assert!(trace.lines().last().unwrap().starts_with(&format!("{cap},")), "the trace does not end at the cap");
        }
    }
    // Another configuration's saved search is kept and refused before anything is written (the
    // directory's config.toml and search trace stay the saved job's); --fresh discards it.
    let out = d.join("run");
    let saved = out.join("search_checkpoint.json");
    let before = std::fs::read(&saved).unwrap();
    let kept = |f: &str| std::fs::read(out.join(f)).unwrap();
    let (config_before, trace_before) = (kept("config.toml"), kept("pre_instability.csv"));
    let mut other = args("run", &out, &["--search-steps", "5"]);
    other[4] = "0.06".into();
    let o = bin().args(&other).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("search_checkpoint.json") && err.contains(r#"lr = "0.05" (now: "0.06")"#) && err.contains("--fresh"), "{err}");
    assert_eq!(std::fs::read(&saved).unwrap(), before, "the refused search was changed");
    assert!(kept("config.toml") == config_before && kept("pre_instability.csv") == trace_before, "a refused job wrote into the directory");
    // At another precision the saved f64 state does not parse as an MPFR one: refused as another
    // configuration naming the precisions, not as a file that "does not parse" (resume audit).
    let mpfr = args("run", &out, &["--search-steps", "5", "--precision", "64"]);
    let o = bin().args(&mpfr).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains(r#"another configuration (precision = "f64" (now: "64"))"#) && !err.contains("does not parse"), "{err}");
    assert_eq!(std::fs::read(&saved).unwrap(), before, "the refused search was changed");
    other.push("--fresh".into());
    let o = bin().args(&other).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--fresh: discarding") && err.contains("within 5 GD steps"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_second_job_into_a_busy_output_directory_stops_at_once() {
    // Two jobs writing into one directory would mix their outputs and checkpoints: while a run
    // holds the directory (here in its long instability search at η = 0.05), a run, a flow, an sgd
    // job or a full order study into it stops with an error naming it; once the first has ended,
    // the directory is free.
    let d = tmp("busy");
    let out = d.join("o");
    let o = out.to_str().unwrap();
    let mut first = bin().args(["run", "--layers", "64,16,16,10", "--lr", "0.05", "--steps", "10", "--out", o]).stderr(std::process::Stdio::null()).spawn().unwrap();
    wait_for(|| out.join("search_checkpoint.json").exists(), 5);
    // The lock is on the directory itself: removing the old lock file (a dotfile clean-up) does
    // not let a second job in (it did while the lock was that file's; resume audit).
    let _ = std::fs::remove_file(out.join(".selfstab.lock"));
    for args in [vec!["run", "--steps", "3"], vec!["flow", "--steps", "3"], vec!["sgd", "--batch", "64", "--steps", "20"], vec!["order", "15", "--full", "--decades", "1"]] {
        let mut a = args.clone();
        a.extend(["--out", o]);
        expect_failure(&a, "another selfstab job is writing to this output directory");
    }
    assert!(first.try_wait().unwrap().is_none(), "the first job ended early");
    first.kill().unwrap();
    first.wait().unwrap();
    let o2 = bin().args(["run", "--layers", "64,16,16,10", "--lr", "0.05", "--steps", "10", "--search-steps", "5", "--fresh", "--out", o]).output().unwrap();
    let err = String::from_utf8_lossy(&o2.stderr);
    assert!(!err.contains("another selfstab job") && err.contains("within 5 GD steps"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn interrupted_flow_saves_its_state_at_the_step_and_resumes_bit_identically() {
    // As for run: a flow interrupted (SIGINT) after its first checkpoint writes the checkpoint of
    // the step in progress and its series so far, ends by the signal, and resumes there.
    let d = tmp("flowsigint");
    let args = |out: &Path| -> Vec<String> {
        ["flow", "--layers", "64,16,16,10", "--n", "100", "--lr", "0.25", "--steps", "80", "--checkpoint-every", "1", "--out"]
            .iter()
            .map(|s| s.to_string())
            .chain([out.to_str().unwrap().to_string()])
            .collect()
    };
    let full = d.join("full");
    expect_success(args(&full));
    let part = d.join("part");
    let ck = part.join("flow_checkpoint.json");
    let (status, err) = interrupt_once_written(&args(&part), &ck, "INT", std::time::Duration::from_millis(150));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(2), "{status:?} {err}");
    let k = interrupted_step(&err, "GD");
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&ck).unwrap()).unwrap();
    assert_eq!(saved["state"]["t"].as_u64(), Some(k), "the checkpoint is not that of the step named");
    assert!(k > 1, "the checkpoint ({k}) is not the one written at the signal");
    assert!(part.join("flow_series.csv").exists() && !part.join("flow_summary.json").exists());
    let o = expect_success(args(&part));
    assert!(String::from_utf8_lossy(&o.stderr).contains(&format!("at GD step {k} of the flow")), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(full.join("flow_series.csv")).unwrap(), std::fs::read(part.join("flow_series.csv")).unwrap());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn interrupted_full_order_study_saves_the_point_in_progress_and_resumes_bit_identically() {
    // A full order study's slowest point runs for minutes (claim 16, 6 decades: 1.6e9 steps). At
    // a signal the point in progress is saved with the finished points (`order_16_partial.json`)
    // and the job ends by the signal; re-run, it resumes that point at the step it reached and
    // ends with an uninterrupted study's points. Here the last point has N = 1.6e7 (≈ 2 s); the
    // signal comes after its first save (at step 2^20), so the file read back is the one written
    // at the signal.
    let d = tmp("order_sig");
    let args = |out: &Path| -> Vec<String> {
        ["order", "16", "--full", "--decades", "4", "--points", "3", "--out", out.to_str().unwrap()].map(String::from).to_vec()
    };
    let full = d.join("full");
    expect_success(args(&full));
    let part = d.join("part");
    let file = part.join("order_16_partial.json");
    let in_progress = || std::fs::read_to_string(&file).is_ok_and(|t| t.contains("\"current\":{"));
    let (status, err, _) = interrupt_when(&args(&part), in_progress, "TERM", std::time::Duration::from_millis(300));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(15), "{status:?} {err}");
    assert!(!err.contains("panicked") && err.contains("of 16000000 of the f64 run of claim 16's point 3 of 3") && err.contains("the same command resumes it"), "{err}");
    let k: u64 = err.split("interrupted at step ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(saved["current"]["state"]["t"].as_u64(), Some(k), "the saved state is not that of the step named");
    assert!(k > 1 << 20 && saved["points"].as_array().unwrap().len() == 2, "not the state written at the signal: {k}");
    assert!(!part.join("order_16.md").exists(), "an interrupted study wrote its outputs");
    let o = expect_success(args(&part));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("resuming the f64 run at step {k}")), "{err}");
    let columns = |dir: &Path| -> Vec<String> {
        let text = std::fs::read_to_string(dir.join("order_16_points.csv")).unwrap();
        text.lines().map(|l| l.split(',').take(3).collect::<Vec<_>>().join(",")).collect()
    };
    assert_eq!(columns(&full), columns(&part), "h, steps, error");
    assert_eq!(std::fs::read(full.join("order_16.csv")).unwrap(), std::fs::read(part.join("order_16.csv")).unwrap());
    assert!(!file.exists(), "the partial file is left after the end");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_full_order_study_of_short_points_stops_at_a_signal_after_the_point_in_progress() {
    // Points of fewer than 2^20 steps (double-double check: 2^17) finish before their first look for
    // a signal: the study checks after every point instead, so a signal still ends it there (it used
    // to run on to the end and exit 0), with the finished points saved.
    let d = tmp("order_short");
    let out = d.join("o");
    let file = out.join("order_16_partial.json");
    let args = ["order", "16", "--full", "--decades", "1.9", "--points", "400", "--dd-max-steps", "10000000", "--out", out.to_str().unwrap()];
    let (status, err, took) = interrupt_when(&args, || file.exists(), "INT", std::time::Duration::from_millis(200));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(2), "{status:?} {err}");
    assert!(took.as_secs_f64() < 5.0, "the study took {took:?} to stop");
    let k: usize = err.split("interrupted after claim 16's point ").nth(1).unwrap_or_else(|| panic!("{err}")).split(' ').next().unwrap().parse().unwrap();
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(saved["points"].as_array().unwrap().len(), k, "the saved points are not those finished");
    assert!(k < 400 && !out.join("order_16.md").exists(), "the study ran to its end");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn foreign_saved_work_of_flow_sgd_and_order_is_kept_unless_fresh() {
    // Like run's checkpoint, flow's checkpoint, sgd's finished batch sizes and a full order
    // study's finished points of another job are kept and refused with an error naming the file
    // and --fresh; with --fresh the job discards the file and runs.
    let d = tmp("foreign");
    let cases: [(&str, &str, Vec<&str>); 3] = [
        ("flow", "flow_checkpoint.json", vec!["flow", "--layers", "64,16,16,10", "--n", "100", "--lr", "0.25", "--steps", "3"]),
        ("sgd", "sgd_partial.json", vec!["sgd", "--batch", "100", "--n", "100", "--steps", "4", "--every", "2"]),
        ("order", "order_15_partial.json", vec!["order", "15", "--full", "--decades", "1", "--points", "3"]),
    ];
    for (name, file, args) in cases {
        let out = d.join(name);
        std::fs::create_dir_all(&out).unwrap();
        let planted = br#"{"key": "another job's", "results": []}"#;
        std::fs::write(out.join(file), planted).unwrap();
        let with_out = |extra: &[&str]| -> Vec<String> { args.iter().chain(["--out", out.to_str().unwrap()].iter()).chain(extra).map(|s| s.to_string()).collect() };
        let o = bin().args(with_out(&[])).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(file) && err.contains("cannot resume") && err.contains("--fresh"), "{name}: {err}");
        assert_eq!(std::fs::read(out.join(file)).unwrap(), planted, "{name}: the file was not kept");
        let o = expect_success(with_out(&["--fresh"]));
        assert!(String::from_utf8_lossy(&o.stderr).contains("--fresh: discarding"), "{name}");
        assert!(!out.join(file).exists(), "{name}: the saved file is left after the end");
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn checkpoint_with_a_diverged_prediction_resumes() {
    // A prediction that became non-finite is marked diverged in the checkpoint (v keeps its last
    // finite value) and its cells are empty (JSON null) from then on, beside the empty cells rows
    // always hold (λ₂ between --gap-every steps). Such a checkpoint used to be refused on the re-run
    // ("invalid type: null, expected f64"), which then started afresh. No digits job reaches that
    // state any more before GD's own divergence stops it (at η = 1.5 the loss passes 10⁶·L(θ₀) at
    // step 6, the prediction went non-finite at 17), so it is made by hand: a killed run's
    // checkpoint with the prediction marked diverged at its step. The re-run resumes it; GD's and
    // θ†'s columns are those of an uninterrupted run, and the standard prediction's are empty from
    // that step on.
    let d = tmp("resume_nan");
    let args = |out: &Path| checkpointed_run_args(&[], out);
    let full = d.join("full");
    expect_success(args(&full));
    let part = d.join("part");
    let ck = run_and_kill_after_checkpoint(&args(&part), &part);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&ck).unwrap()).unwrap();
    let t = v["state"]["t"].as_u64().unwrap();
    assert!(v["state"]["pred_diverged"].is_null(), "the checkpoint's layout changed");
    v["state"]["pred_diverged"] = serde_json::json!(t);
    std::fs::write(&ck, serde_json::to_vec(&without_digest(&v)).unwrap()).unwrap();
    let o = expect_success(args(&part));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("resuming from"), "the re-run did not resume: {err}");
    let table = |dir: &Path| -> Vec<std::collections::HashMap<String, String>> {
        let text = std::fs::read_to_string(dir.join("series.csv")).unwrap();
        let mut lines = text.lines();
        let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
        lines.map(|l| header.iter().cloned().zip(l.split(',').map(String::from)).collect()).collect()
    };
    let (a, b) = (table(&full), table(&part));
    assert_eq!(a.len(), b.len());
    for (i, (ra, rb)) in a.iter().zip(&b).enumerate() {
        for c in ["loss_gd", "loss_dagger", "sharpness_gd", "sharpness_dagger", "dist"] {
            assert_eq!(ra[c], rb[c], "{c} at row {i}");
        }
        if i as u64 >= t {
            assert!(rb["loss_pred"].is_empty() && rb["x"].is_empty(), "row {i}: the prediction's cells are not empty");
        } else {
            assert_eq!(ra["loss_pred"], rb["loss_pred"], "row {i}");
        }
    }
    // The tracking figure marks the step where the prediction ended.
    let fig = |dir: &Path| std::fs::read_to_string(dir.join("figures/tracking.svg")).unwrap();
    assert!(fig(&part).contains("prediction diverged") && !fig(&full).contains("prediction diverged"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_fresh_run_removes_an_earlier_runs_outputs_first() {
    // A run that starts afresh in a directory holding another run's outputs removes them first, so
    // a run that stops early (here: no instability within one step) never leaves its partial
    // outputs beside another run's summary and final state.
    let d = tmp("stale");
    let out = d.join("o");
    std::fs::create_dir_all(out.join("figures")).unwrap();
    for f in ["summary.json", "final_state.npz", "series.csv", "figures/tracking.svg"] {
        std::fs::write(out.join(f), "from an earlier run").unwrap();
    }
    std::fs::write(out.join("notes.txt"), "the user's own file").unwrap();
    let o = run(&["run", "--search-steps", "1", "--out", out.to_str().unwrap()]);
    assert!(!o.status.success());
    for f in ["summary.json", "final_state.npz", "series.csv", "figures/tracking.svg"] {
        assert!(!out.join(f).exists(), "{f} of the earlier run is still there");
    }
    assert!(out.join("notes.txt").exists() && out.join("pre_instability.csv").exists());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn blown_up_run_stops_early_with_a_message_and_keeps_outputs() {
    let d = tmp("diverge");
    let out = d.join("o");
    // Exact cubic model started far outside the basin: x₀ = 10⁴ δ makes the oscillation explode.
    let cfg = d.join("div.toml");
    std::fs::write(&cfg, "model = \"cubic\"\nlr = 1\nsteps = 200\n[cubic]\na = [1, 0, 0]\ng = [0.01, 0.3, 0]\nx0_over_delta = 10000\n").unwrap();
    let o = run(&["run", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    // Started 10⁴δ out, the projection and the predictions leave the finite range within a few
    // steps (GD's own loss is still finite then): the run must say so and stop.
    assert!(err.contains("became non-finite"), "no message naming the non-finite quantity: {err}");
    let summary = summary_json(&out);
    assert!(["diverged", "numerical"].contains(&summary["stop_reason"].as_str().unwrap()), "{summary}");
    let rows = std::fs::read_to_string(out.join("series.csv")).unwrap().lines().count() - 1;
    let tracked = summary["steps_tracked"].as_u64().unwrap() as usize;
    assert_eq!(rows, tracked);
    assert!(tracked < 200, "did not stop early");
    // Every recorded GD loss is finite: a step whose GD loss is not records no row.
    let text = std::fs::read_to_string(out.join("series.csv")).unwrap();
    let finite = text.lines().skip(1).filter(|l| l.split(',').nth(1).is_some_and(|v| v.parse::<f64>().is_ok_and(f64::is_finite))).count();
    assert_eq!(finite, tracked, "a row without a finite GD loss was recorded");
}

#[test]
fn default_outputs_are_all_written() {
    // The cubic default (instability at step 0) exercises every output file quickly.
    let d = tmp("outputs");
    let out = d.join("o");
    let o = run(&["run", "--model", "cubic", "--lr", "1", "--steps", "30", "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    // stderr is not a terminal here: the search and the tracking each log their first update as a
    // line, and nothing more within the 30 s between lines (`progress::LOG_SECONDS`).
    assert_eq!(err.matches("  GD step").count(), 1, "{err}");
    assert_eq!(err.matches("tracking step     0/30").count(), 1, "{err}");
    assert_eq!(err.matches("  tracking step").count(), 1, "{err}");
    assert!(!err.contains('\r'), "in-place progress written to a non-terminal: {err}");
    for f in ["config.toml", "series.csv", "series.npz", "pre_instability.csv", "summary.json", "theta_unstable.npy", "final_state.npz", "figures/tracking.svg", "figures/phase.svg", "betas.csv", "monitors.csv", "slices.csv"] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let header = std::fs::read_to_string(out.join("series.csv")).unwrap().lines().next().unwrap().to_string();
    for c in ["t", "loss_gd", "loss_dagger", "loss_pred", "loss_taylor", "sharpness_gd", "sharpness_dagger", "sharpness_pred", "x", "y", "dist", "pred_norm", "tracking_error", "alpha", "beta", "delta", "proj_residual_s", "proj_residual_u", "step_seconds", "loss_pred_gen", "sharpness_pred_gen"] {
        assert!(header.split(',').any(|h| h == c), "series.csv lacks column {c}");
    }
    // summary.json's first_spike_reduced_map is claim 8's leading term 2/η + √(α₀H₀) at θ₀, with
    // H₀ = Y₀² + X₀² − log X₀² − 1 at (X₀, Y₀) = (x/δ, y/√α) from the series' first row.
    let text = std::fs::read_to_string(out.join("series.csv")).unwrap();
    let row0: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    let col = |name: &str| -> f64 { row0[header.split(',').position(|h| h == name).unwrap()].parse().unwrap() };
    let (x0, y0) = (col("x") / col("delta"), col("y") / col("alpha").sqrt());
    let big_h = y0 * y0 + x0 * x0 - libm::log(x0 * x0) - 1.0;
    let summary = summary_json(&out);
    let height = summary["first_spike_reduced_map"].as_f64().expect("α₀ > 0 on the cubic");
    let want = 2.0 / 1.0 + (col("alpha") * big_h).sqrt();
    assert!(y0 != 0.0 && (height - want).abs() <= 1e-12 * want, "first_spike_reduced_map {height}, 2/η + √(α₀H₀) = {want} (Y₀ = {y0:e})");
    // final_state.npz names its step: a completed run's state after its last step, T = steps_tracked.
    let mut fin = selfstab::npy::read_npz(out.join("final_state.npz")).unwrap();
    let (t, shape) = fin.take("t").unwrap().into_i64(Path::new("final_state.npz"), "t").unwrap();
    assert_eq!((t, shape), (vec![30], vec![1]), "final_state.npz: t");
    assert_eq!(summary["steps_tracked"].as_u64(), Some(30));
    // Re-running the saved config reproduces the series (timings aside).
    let out2 = d.join("o2");
    let o = run(&["run", out.join("config.toml").to_str().unwrap(), "--out", out2.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(series_without_timing(&out.join("series.csv")), series_without_timing(&out2.join("series.csv")));
}

/// summary.json's first spikes of GD's and the prediction's sharpness are the peaks of the first
/// excursions above 2/η of series.csv's `sharpness_gd` and `sharpness_pred` columns (the excursion
/// ends where two steps in a row are at or below 2/η), bit for bit; the averaged prediction's
/// column would give another one (mutation audit round 3: no test read these fields).
#[test]
fn first_spikes_in_the_summary_are_those_of_the_series() {
    let d = tmp("spikes");
    let out = d.join("o");
    expect_success(["run", "--model", "cubic", "--lr", "1", "--steps", "60", "--out", out.to_str().unwrap()]);
    let text = std::fs::read_to_string(out.join("series.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = text.lines().skip(1).map(|l| l.split(',').collect()).collect();
    let column = |name: &str| -> Vec<f64> {
        let k = header.iter().position(|h| *h == name).unwrap();
        rows.iter().map(|r| r[k].parse().unwrap()).collect()
    };
    let t: Vec<u64> = column("t").iter().map(|&x| x as u64).collect();
    let level = 2.0 / 1.0;
    let spike = |v: &[f64]| -> Option<(u64, f64)> {
        let start = v.iter().position(|&x| x > level)?;
        let end = (start..v.len()).find(|&j| v[j].is_nan() || (v[j] <= level && j + 1 < v.len() && v[j + 1] <= level))?;
        let mut best = start;
        for j in start..end {
            if v[j] > v[best] {
                best = j;
            }
        }
        Some((t[best], v[best]))
    };
    let summary = summary_json(&out);
    for (col, key) in [("sharpness_gd", "first_spike_gd"), ("sharpness_pred", "first_spike_pred")] {
        let (ts, vs) = spike(&column(col)).unwrap_or_else(|| panic!("{col}: no complete first excursion in 60 steps"));
        let got = &summary[key];
        assert_eq!((got[0].as_u64(), got[1].as_f64().map(f64::to_bits)), (Some(ts), Some(vs.to_bits())), "{key} = {got} against {col}'s ({ts}, {vs})");
    }
    let avg = spike(&column("sharpness_pred_avg")).unwrap();
    assert_ne!(summary["first_spike_pred"][1].as_f64(), Some(avg.1), "the averaged prediction's spike is the prediction's: the test cannot tell them apart");
}

#[test]
fn far_too_large_learning_rate_stops_as_divergence_and_keeps_outputs() {
    // η = 5 on a 64-8-10 digits net (2/η = 0.4 ≪ S(θ_init) ≈ 10): GD's loss grows ~30-100× per step.
    let d = tmp("eta");
    let out = d.join("o");
    let o = run(&["run", "--layers", "64,8,10", "--n", "50", "--lr", "5", "--steps", "100", "--gap-threshold", "none", "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("GD diverged"), "no divergence message: {err}");
    // θ₀ (S ≈ 10 against 2/η = 0.4) is too far past the edge for the projection: said, not fatal.
    assert!(err.contains("warning: the projection of θ₀ onto the stable set stopped off it") && err.contains("too far past the edge"), "{err}");
    // The job fails (a batch script sees it), with its outputs kept.
    assert!(!o.status.success() && err.contains("error: the run stopped early (diverged: GD diverged"), "{err}");
    let summary = summary_json(&out);
    assert_eq!(summary["stop_reason"], "diverged", "{summary}");
    let tracked = summary["steps_tracked"].as_u64().unwrap() as usize;
    assert!(tracked < 100, "did not stop early");
    let text = std::fs::read_to_string(out.join("series.csv")).unwrap();
    assert_eq!(text.lines().count() - 1, tracked, "series.csv does not hold every recorded step");
    for f in ["final_state.npz", "theta_unstable.npy", "series.npz", "figures/tracking.png"] {
        assert!(out.join(f).exists(), "{f} missing after divergence");
    }
}

#[test]
fn a_step_whose_gd_loss_is_non_finite_records_no_row() {
    // The cubic model at η = 10 (2/η = 0.2 against S = 1): GD's loss overflows at tracking step 13.
    // That step measured nothing, so series.csv ends at step 12 and the summary's ranges hold the
    // model's constants (α ≈ 0.01, β ≈ 1: measured minima 0.0099999708 and 0.99999, the cubic's
    // higher-order terms along the run), not a made-up row of zeros (which gave minima 0; any
    // tolerance well below 0.01 tells them apart).
    let d = tmp("cubic_div");
    let out = d.join("o");
    let o = run(&["run", "--model", "cubic", "--lr", "10", "--steps", "200", "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("GD diverged: the loss became non-finite at tracking step 13"), "{err}");
    let text = std::fs::read_to_string(out.join("series.csv")).unwrap();
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("12,"), "last row: {last}");
    for row in text.lines().skip(1) {
        assert!(!row.split(',').skip(1).take(3).all(|c| c == "0" || c == "0.0"), "a row of zeros: {row}");
    }
    let summary = summary_json(&out);
    assert_eq!(summary["steps_tracked"].as_u64(), Some(13), "{summary}");
    let (a, b) = (&summary["alpha_range"], &summary["beta_range"]);
    assert!((a[0].as_f64().unwrap() - 0.01).abs() < 1e-6 && (b[0].as_f64().unwrap() - 1.0).abs() < 1e-4, "{a} {b}");
    // At 128 bits GD's loss at step 13 is finite (beyond f64's range, an empty cell): the row is
    // recorded, and the run stops at step 14 (θ†'s eigen solve), its state after the last row.
    let out = d.join("m");
    let o = run(&["run", "--model", "cubic", "--lr", "10", "--steps", "20", "--precision", "128", "--out", out.to_str().unwrap()]);
    assert!(!o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(out.join("series.csv")).unwrap();
    assert!(text.lines().last().unwrap().starts_with("13,,"), "{}", text.lines().last().unwrap());
    let summary = summary_json(&out);
    assert_eq!(summary["steps_tracked"].as_u64(), Some(14), "{summary}");
    assert!(std::fs::read_to_string(out.join("final_state.txt")).unwrap().starts_with("# t = 14;"));
}

/// Precisions beyond f64's exponent range run end to end (the tolerances 2^(16 − bits) are `Mag`s):
/// a 4096-bit run of the default cubic model tracks its steps and writes its final state with all
/// 1,233 digits 4096 bits hold; above 65,536 bits `--precision` is refused naming the range.
#[test]
fn a_4096_bit_run_tracks_and_writes_all_its_digits() {
    let d = tmp("prec4096");
    expect_success(["run", "--model", "cubic", "--precision", "4096", "--steps", "20", "--out", d.to_str().unwrap()]);
    let summary = summary_json(&d);
    assert_eq!(summary["precision"].as_str(), Some("4096"), "{summary}");
    assert_eq!(summary["steps_tracked"].as_u64(), Some(20), "{summary}");
    let txt = std::fs::read_to_string(d.join("final_state.txt")).unwrap();
    let first = txt.lines().nth(1).unwrap().split(' ').next().unwrap();
    let mantissa = first.trim_start_matches('-').split(['e', 'E']).next().unwrap();
    let sig = mantissa.chars().filter(char::is_ascii_digit).collect::<String>().trim_start_matches('0').len();
    assert!(sig >= 1233, "θ's first entry has {sig} digits: {first:.80}");
    expect_failure(&["run", "--model", "cubic", "--precision", "65537", "--out", d.to_str().unwrap()], "53..=65536");
    let _ = std::fs::remove_dir_all(&d);
}

/// Runs `selfstab args…` under `ulimit -v kib` (a POSIX shell's).
fn run_limited(kib: u64, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_selfstab"))
        .args(args)
        .output()
        .expect("sh runs")
}

#[test]
fn an_address_space_limit_is_refused_with_a_message_not_an_abort() {
    // faer's f64 kernels map twice the last-level cache per thread on a thread's first product
    // (960 MiB where a KVM guest reports a 480 MiB L3): under `ulimit -v` 1–2 GB jobs of a few MiB
    // aborted in the allocator. At every limit a job now runs or stops with a one-line error.
    let d = tmp("ulimit");
    for kib in [20_000u64, 500_000, 1_000_000, 2_000_000, 3_000_000] {
        let out = d.join(format!("o{kib}"));
        for args in [
            vec!["eval", "--theta", "", "--layers", "64,16,10", "--n", "50", "--out", out.to_str().unwrap()],
            vec!["run", "--layers", "64,8,10", "--n", "50", "--steps", "2", "--threads", "2", "--out", out.to_str().unwrap()],
        ] {
            let o = run_limited(kib, &args);
            let err = String::from_utf8_lossy(&o.stderr);
            let clear = err.contains("error: not enough memory") || err.contains("error: cannot start the worker threads");
            assert!(o.status.code().is_some() && (o.status.success() || clear), "ulimit -v {kib}, {}: {:?}\n{err}", args[0], o.status);
            assert!(!err.contains("panicked") && !err.contains("memory allocation of"), "ulimit -v {kib}: {err}");
        }
    }
    // The reserve is no larger than the kernels' address space: where it and 1 GiB fit under the
    // limit, a two-thread run goes ahead (on this project's 2-core hosts: 4,000,000 KiB).
    let kib = 4_000_000u64;
    let reserve = selfstab::memory::kernel_reserve(2).map_or(0, |r| r.0);
    if reserve + (1 << 30) <= kib << 10 {
        let out = d.join("fits");
        let o = run_limited(kib, &["run", "--layers", "64,8,10", "--n", "50", "--steps", "2", "--threads", "2", "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "ulimit -v {kib} with a reserve of {reserve} B: {}", String::from_utf8_lossy(&o.stderr));
    }
    // eval's all-eigenpairs path holds six dense p×p matrices (p = 11,560: 6.0 GiB): refused at once.
    let o = run_limited(4_000_000, &["eval", "--theta", "", "--layers", "64,154,10", "--top-k", "11000", "--out", d.join("dense").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("not enough memory: all 11560 eigenpairs (six dense 11560×11560 matrices) need about 6.0 GiB"), "{err}");
}

#[test]
fn a_flow_far_past_the_edge_names_eta() {
    // η = 2 on the default net (2/η = 1 against S(θ₀) = 4.9): every eigenvalue the k-form computes
    // is critical; the message says how far past the edge θ₀ is and to lower η, not only --top-k.
    let d = tmp("flow_eta");
    let o = run(&["flow", "--lr", "2", "--steps", "30", "--out", d.join("o").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && !err.contains("panicked"), "{err}");
    assert!(err.contains("all 8 computed eigenvalues are critical") && err.contains("against 2/η = 1.000000") && err.contains("raise --top-k (at most 64) or lower η"), "{err}");
}

#[test]
fn non_finite_losses_outside_the_tracking_loop_name_where() {
    let d = tmp("nonfinite_where");
    // eval at parameters whose loss overflows (every entry 1e160) names the --theta file.
    let th = d.join("big.npy");
    selfstab::npy::write_npy_f64(&th, &[1e160; 1210], &[1210]).unwrap();
    let t = th.to_str().unwrap();
    expect_failure(&["eval", "--theta", t, "--layers", "64,16,10", "--out", d.join("e").to_str().unwrap()], &format!("loss became non-finite at the parameters of --theta `{t}`"));
    // A cubic model whose θ† projection overflows (a = 1e200) says it was θ†₀ and keeps the trace.
    let cfg = d.join("c.toml");
    std::fs::write(&cfg, "model = \"cubic\"\n[cubic]\na = [1e200, 0.0, 0.0]\ng = [0.01, 0.3, 0.0]\n").unwrap();
    let out = d.join("c");
    expect_failure(&["run", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()], "θ†₀, the projection of θ₀ (GD step 0) onto the stable set, failed: loss became non-finite");
    assert!(out.join("pre_instability.csv").is_file(), "the search trace was not kept");
    // θ†'s step overflowing far past the edge (CE, η = 1e300) says η·S(θ_t) and asks about η.
    let o = run(&["run", "--loss", "ce", "--lr", "1e300", "--gap-threshold", "none", "--steps", "3", "--out", d.join("ce").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("θ† failed after tracking step 0") && err.contains("against 2 at the edge of stability: is η far too large?"), "{err}");
}

#[test]
fn an_eigengap_stop_names_the_ways_to_go_on() {
    // The default job with the threshold lowered to 1.7 (λ₂(θ†₀) = 6.60 ≥ 1.7/η = 6.37): the run
    // stops at tracking step 0 (a stop the theory defines: exit status 0) and says how to go past it.
    let d = tmp("gapstop");
    let out = d.join("o");
    let o = run(&["run", "--gap-threshold", "1.7", "--steps", "3", "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    // λ₂ to three digits (its last printed digits could move with another CPU's kernels); 1.7/η is
    // machine-independent.
    assert!(err.contains("eigengap assumption failed at tracking step 0: λ₂(θ†) = 6.60") && err.contains("≥ 1.7/η = 6.374203"), "{err}");
    assert!(err.contains("to go on past the eigengap: `--multi K`") && err.contains("`--gap-threshold none`"), "{err}");
    let summary = summary_json(&out);
    assert_eq!(summary["stop_reason"], "eigengap", "{summary}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn gd_whose_loss_blows_up_while_finite_stops_as_diverged() {
    // η = 3 on the default net (2/η = 0.67 ≪ S = 4.9 at θ_init): GD's loss grows ~40× per step and
    // would stay finite for tens of steps (1.4e128 after 50); a loss bounded below that passes 10⁶
    // times its value at θ₀ stops the run as diverged (here at tracking step 4), not "completed".
    let d = tmp("blowup");
    let out = d.join("o");
    let o = run(&["run", "--lr", "3", "--gap-threshold", "none", "--steps", "50", "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("over 1e6 times its start"), "{err}");
    let summary = summary_json(&out);
    assert_eq!(summary["stop_reason"], "diverged", "{summary}");
    let text = std::fs::read_to_string(out.join("series.csv")).unwrap();
    let losses: Vec<f64> = text.lines().skip(1).map(|l| l.split(',').nth(1).unwrap().parse().unwrap()).collect();
    let (first, last) = (losses[0], *losses.last().unwrap());
    assert!(last > 1e6 * first && losses[..losses.len() - 1].iter().all(|&l| l <= 1e6 * first), "{losses:?}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_closed_stdout_is_not_a_failure() {
    // `selfstab … | head` closes the pipe: the job (its files written) must not panic on printing.
    let d = tmp("pipe");
    let ex = d.join("ex");
    let cmd = format!("set -o pipefail; '{}' export --layers 64,8,10 --n 20 --out '{}' | true", env!("CARGO_BIN_EXE_selfstab"), ex.display());
    let o = Command::new("bash").args(["-c", &cmd]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && !err.contains("panicked"), "{err}");
    assert!(ex.join("theta0.npy").exists());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn checkpoint_with_wrong_vector_lengths_is_refused_not_resumed() {
    // A checkpoint whose saved vectors do not have the model's length (here: one trail vector cut
    // short) must not be resumed (it would index out of range): the re-run says so; with --fresh
    // it starts afresh and gives the same series as an uninterrupted run.
    let d = tmp("badckpt");
    let args = |out: &Path| checkpointed_run_args(&[], out);
    let full = d.join("full");
    expect_success(args(&full));
    let part = d.join("part");
    let ck = run_and_kill_after_checkpoint(&args(&part), &part);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&ck).unwrap()).unwrap();
    let pts = v["state"]["trail_gd"]["points"].as_array_mut().expect("checkpoint has the GD trail");
    assert!(!pts.is_empty(), "the GD trail is empty in the checkpoint");
    pts[0][0].as_array_mut().unwrap().pop();
    std::fs::write(&ck, serde_json::to_vec(&without_digest(&v)).unwrap()).unwrap();
    rerun_starts_afresh(&args(&part), "do not have the model's length", &full, &part);
}

/// Re-runs `args` (writing to `part`) over a checkpoint it must refuse: the run fails with an
/// error naming the file, `why` and `--fresh`, and leaves the checkpoint as it was; re-run with
/// `--fresh` it discards the checkpoint, says so, does not resume, and writes the series of the
/// uninterrupted run in `full`.
#[track_caller]
fn rerun_starts_afresh(args: &[String], why: &str, full: &Path, part: &Path) {
    let ck = part.join("checkpoint.json");
    let before = std::fs::read(&ck).unwrap();
    let o = bin().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && !err.contains("panicked"), "{err}");
    let named = err.contains("error:") && err.contains(&*ck.to_string_lossy()) && err.contains(why) && err.contains("--fresh");
    assert!(named && !err.contains("resuming from"), "the checkpoint was not refused with `{why}`: {err}");
    assert_eq!(std::fs::read(&ck).unwrap(), before, "the refused checkpoint was not kept as it was");
    let o = bin().args(args).arg("--fresh").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && !err.contains("panicked"), "{err}");
    assert!(err.contains("--fresh: discarding") && !err.contains("resuming from"), "{err}");
    assert_eq!(series_without_timing(&full.join("series.csv")), series_without_timing(&part.join("series.csv")));
}

#[test]
fn unreadable_or_foreign_checkpoint_is_kept_and_refused_unless_fresh() {
    // A checkpoint file that does not parse (a truncated write from another tool, an edit) or that
    // belongs to another configuration is not resumed, nor overwritten (it may hold hours of
    // another job's work): the run stops with an error saying which and how to go on; with
    // --fresh it starts afresh and gives the series of an uninterrupted run.
    let d = tmp("foreignckpt");
    let args = |out: &Path| checkpointed_run_args(&[], out);
    let full = d.join("full");
    expect_success(args(&full));
    // Unreadable.
    let bad = d.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("checkpoint.json"), b"{\"config\": {\"model\": \"ml").unwrap();
    rerun_starts_afresh(&args(&bad), "does not parse", &full, &bad);
    // Another configuration's (its learning rate edited).
    let part = d.join("part");
    let ck = run_and_kill_after_checkpoint(&args(&part), &part);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&ck).unwrap()).unwrap();
    assert_eq!(v["config"]["lr"], serde_json::json!("0.25"), "the checkpoint's config layout changed");
    v["config"]["lr"] = serde_json::json!("0.3");
    std::fs::write(&ck, serde_json::to_vec(&without_digest(&v)).unwrap()).unwrap();
    rerun_starts_afresh(&args(&part), "checkpoint of another configuration (lr = \"0.3\" (now: \"0.25\"))", &full, &part);
}

#[test]
fn diverging_sgd_keeps_its_checks_and_fails() {
    // At η = 5 SGD diverges (step 87 here): the run exits with an error naming the batch size and
    // step, and keeps its checks so far (sgd_b32.csv) and the summary (sgd.json: diverged_at).
    let d = tmp("sgd_div");
    let out = d.join("o");
    let o = run(&["sgd", "--batch", "32", "--n", "64", "--lr", "5", "--steps", "300", "--every", "10", "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("SGD diverged") && err.contains("b = 32 at step"), "{err}");
    let csv = std::fs::read_to_string(out.join("sgd_b32.csv")).unwrap();
    assert!(csv.lines().count() > 2, "no checks kept: {csv}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("sgd.json")).unwrap()).unwrap();
    assert!(json[0]["diverged_at"].as_u64().is_some(), "{json}");
    assert!(!std::fs::read_to_string(out.join("sgd.md")).unwrap().contains("NaN"));
    // A divergence the full-batch check meets first (η = 1e10: the check after the first steps is
    // non-finite) and a finite blow-up (η = 30: the loss passes 10⁶ times its first check) stop
    // only their batch size; every batch size runs and keeps its checks.
    // η = 5 on the default net with b = 16: the full-batch eigen solve fails on the blown-up
    // iterate before its loss is compared (it was reported as a failed check, not a divergence).
    let out5 = d.join("lr5");
    let o = run(&["sgd", "--batch", "16", "--lr", "5", "--steps", "40", "--out", out5.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("b = 16 at step 20") && !err.contains("check failed"), "{err}");
    for lr in ["1e10", "30"] {
        let out = d.join(format!("lr{lr}"));
        let o = run(&["sgd", "--batch", "16,8,50", "--layers", "64,8,10", "--n", "50", "--lr", lr, "--steps", "20", "--every", "5", "--out", out.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains("SGD diverged") && !err.contains("panicked"), "η = {lr}: {err}");
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("sgd.json")).unwrap()).unwrap();
        for (i, b) in [16, 8, 50].iter().enumerate() {
            assert!(out.join(format!("sgd_b{b}.csv")).exists(), "η = {lr}: sgd_b{b}.csv missing");
            assert!(json[i]["diverged_at"].as_u64().is_some(), "η = {lr}, b = {b}: {}", json[i]);
        }
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn flags_a_model_does_not_read_are_named_in_a_warning() {
    // `run --model cubic --activation relu` ran and wrote `relu` into config.toml unremarked (fuzz
    // review): flags the model does not read are named; the config.toml a run writes (every key)
    // runs again without the warning.
    let d = tmp("unread");
    let out = d.join("c");
    let o = expect_success(["run", "--model", "cubic", "--activation", "relu", "--seed", "3", "--steps", "2", "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("warning: the cubic model does not read --activation, --seed: they change nothing here"), "{err}");
    let written = out.join("config.toml");
    let o = expect_success(["run", written.to_str().unwrap()]);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("does not read"));
    // (At the default η the width-1 model's search does not reach 2/η; the warning comes first.)
    let o = bin().args(["run", "--model", "width1", "--layers", "1,2", "--search-steps", "5", "--out", d.join("w").to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("the width1 model does not read --layers: it changes nothing here"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn sgd_rejects_repeated_batch_sizes_and_too_few_steps() {
    let d = tmp("sgd_bad");
    let o = d.join("o");
    let o = o.to_str().unwrap();
    expect_failure(&["sgd", "--batch", "16,16", "--out", o], "batch size 16 is given twice");
    expect_failure(&["sgd", "--batch", "16", "--steps", "0", "--out", o], "need steps ≥ 1");
    expect_failure(&["sgd", "--batch", "16", "--steps", "20", "--every", "100", "--out", o], "every ≤ steps");
    // As `run`: a positive η so small that 2/η overflows (sgd.json's threshold was null; fuzz review).
    expect_failure(&["sgd", "--batch", "16", "--lr", "1e-320", "--out", o], "2/η overflows");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn sgd_defaults_are_the_claim_32_setting() {
    // The README's synopsis and the claim-32 numbers of theory/README.md use checks every 20 steps
    // and EoS at S ≥ 0.75·2/η (`--every 20 --eos-eps 0.25`, the setting of tests/claims_sgd.rs): the
    // command's defaults give that run, bit for bit. (With the former defaults, 10 and 0.05, b = 32
    // and 16 never counted as at EoS and their rows were NaN.)
    let d = tmp("sgd");
    let o = run(&["sgd", "--batch", "32", "--steps", "400", "--out", d.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("sgd.json")).unwrap()).unwrap();
    let opts = selfstab::sgd::SgdOpts {
        layers: vec![64, 16, 16, 10],
        activation: selfstab::models::mlp::Activation::Tanh,
        loss: selfstab::models::mlp::LossKind::Mse,
        lr: 0.2667,
        batch: 32,
        steps: 400,
        every: 20,
        sample_seed: 0,
        eos_eps: 0.25,
        window: 0.5,
        eig_tol: Mag::new(1e-10),
    };
    let th = selfstab::commands::load_theta("builtin:mlp_64-16-16-10", 1482).unwrap();
    let lib = selfstab::sgd::run(&selfstab::data::digits(256).unwrap(), &th, &opts).unwrap();
    assert!(lib.eos_step.is_some(), "b = 32 never reached EoS in the claim-32 setting");
    assert_eq!(j[0]["eos_step"], serde_json::json!(lib.eos_step));
    assert_eq!(j[0]["window_checks"], serde_json::json!(lib.window_checks));
    assert_eq!(j[0]["gap"].as_f64(), Some(lib.gap), "the command's defaults are not the claim-32 setting");
    // Out-of-range settings are refused with a one-line error, not run into NaN rows.
    for (flag, bad, key) in [("--eos-eps", "2", "eos_eps"), ("--eos-eps", "nan", "eos_eps"), ("--window", "0", "`window`: must be in (0, 1], got 0"), ("--every", "0", "`every`: must be ≥ 1")] {
        expect_failure(&["sgd", "--batch", "32", flag, bad, "--steps", "40", "--out", d.to_str().unwrap()], key);
    }
    // An η that rounds to 0 is quoted as typed (clap's error for the flag).
    let o = run(&["sgd", "--batch", "32", "--lr", "1e-400", "--steps", "40", "--out", d.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.starts_with("error: invalid value '1e-400' for '--lr <LR>': `1e-400` rounds to 0 in f64"), "{err}");
    expect_failure(&["sgd", "--batch", "300", "--steps", "40", "--out", d.to_str().unwrap()], "batch");
}

#[test]
fn checkpoint_resumes_across_harmless_changes_only() {
    // A checkpoint resumes when only the directory's spelling, the checkpoint cadence or the number
    // of steps changed (a run can be extended), and gives the series of an uninterrupted run of the
    // new length; stray temporaries of a killed write are removed. It is refused when its rows do
    // not match its step counter, or when the contents of a data or θ₀ file changed.
    let d = tmp("harmless");
    let args = |out: &Path| checkpointed_run_args(&[], out);
    let full60 = d.join("full60");
    let set = |v: &mut Vec<String>, after: &str, to: &str| {
        let i = v.iter().position(|a| a == after).unwrap() + 1;
        v[i] = to.into();
    };
    let mut long = args(&full60);
    set(&mut long, "--steps", "60");
    expect_success(&long);
    let part = d.join("part");
    let ck = run_and_kill_after_checkpoint(&args(&part), &part);
    let stray = part.join(".checkpoint.json.tmp4999999-7");
    std::fs::write(&stray, "half a checkpoint").unwrap();
    let mut more = args(&part);
    set(&mut more, "--steps", "60");
    set(&mut more, "--checkpoint-every", "5");
    *more.last_mut().unwrap() = format!("{}/", part.display());
    let o = expect_success(&more);
    assert!(String::from_utf8_lossy(&o.stderr).contains("resuming from"), "not resumed: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(series_without_timing(&full60.join("series.csv")), series_without_timing(&part.join("series.csv")));
    assert!(!stray.exists() && !ck.exists(), "a stray temporary or the checkpoint is left");

    // Rows that do not match the step counter (an edit dropped one).
    let full = d.join("full");
    expect_success(args(&full));
    let rows = d.join("rows");
    let ck = run_and_kill_after_checkpoint(&args(&rows), &rows);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&ck).unwrap()).unwrap();
    v["state"]["t"] = serde_json::json!(v["state"]["t"].as_u64().unwrap() + 3);
    std::fs::write(&ck, serde_json::to_vec(&without_digest(&v)).unwrap()).unwrap();
    rerun_starts_afresh(&args(&rows), "rows for", &full, &rows);

    // The same paths with other contents.
    let files = d.join("files");
    expect_success(["export", "--layers", "64,16,16,10", "--n", "100", "--out", files.to_str().unwrap()]);
    let (data, th) = (files.join("data.npz"), files.join("theta0.npy"));
    let fargs = |out: &Path| checkpointed_run_args(&["--data", data.to_str().unwrap(), "--theta0", th.to_str().unwrap()], out);
    let ffull = d.join("ffull");
    expect_success(fargs(&ffull));
    let fpart = d.join("fpart");
    run_and_kill_after_checkpoint(&fargs(&fpart), &fpart);
    let other = d.join("other");
    expect_success(["export", "--layers", "64,16,16,10", "--n", "100", "--seed", "1", "--out", other.to_str().unwrap()]);
    std::fs::copy(other.join("theta0.npy"), &th).unwrap();
    let ofull = d.join("ofull");
    expect_success(fargs(&ofull));
    rerun_starts_afresh(&fargs(&fpart), "data or θ₀ file have changed", &ofull, &fpart);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn fresh_flow_and_sgd_remove_an_earlier_jobs_outputs_first() {
    // Like run, flow and sgd starting afresh remove an earlier job's outputs (and stray
    // temporaries) in their directory, so that none sits beside the new job's.
    let d = tmp("stale2");
    let flow = d.join("flow");
    std::fs::create_dir_all(flow.join("figures")).unwrap();
    for f in ["flow_series.csv", "flow_summary.json", "figures/flow.svg", ".flow_checkpoint.json.tmp4999999-0"] {
        std::fs::write(flow.join(f), "from an earlier job").unwrap();
    }
    let o = run(&["flow", "--search-steps", "1", "--steps", "5", "--out", flow.to_str().unwrap()]);
    assert!(!o.status.success());
    for f in ["flow_series.csv", "flow_summary.json", "figures/flow.svg", ".flow_checkpoint.json.tmp4999999-0"] {
        assert!(!flow.join(f).exists(), "{f} of the earlier job is still there");
    }
    let sgd = d.join("sgd");
    std::fs::create_dir_all(&sgd).unwrap();
    for f in ["sgd_b64.csv", "sgd.json", "sgd.md", "sgd_notes.csv"] {
        std::fs::write(sgd.join(f), "from an earlier job").unwrap();
    }
    expect_success(["sgd", "--batch", "100", "--n", "100", "--steps", "4", "--every", "2", "--out", sgd.to_str().unwrap()]);
    assert!(!sgd.join("sgd_b64.csv").exists() && sgd.join("sgd_b100.csv").exists() && sgd.join("sgd_notes.csv").exists());
    assert!(!std::fs::read_to_string(sgd.join("sgd.json")).unwrap().contains("earlier"));
    // Its figure: the full-batch sharpness and loss of each batch size, and the gap against b (here
    // the full batch only, ticked at b = 100, and 4 steps never reach the edge: no gap, so no
    // legend row for any gap series).
    let svg = std::fs::read_to_string(sgd.join("figures/sgd.svg")).unwrap();
    assert!(sgd.join("figures/sgd.png").is_file() && svg.contains("b = 100") && svg.contains("2/η"), "{svg:.300}");
    assert!(svg.contains("Sharpness gap vs batch size b") && svg.contains(r#"text-anchor="middle">100<"#));
    assert!(!svg.contains(">gap, full batch<") && !svg.contains(">ΔS = ηβσ²/(4α)<"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn killed_sgd_reuses_its_finished_batch_sizes() {
    // sgd saves each finished batch size (sgd_partial.json, removed at the end): killed after the
    // first and re-run, it reuses that one and writes the outputs of an uninterrupted job; re-run
    // with a --batch that leaves the finished one out, it removes that one's CSV.
    let d = tmp("sgdresume");
    let args = |out: &Path| -> Vec<String> {
        ["sgd", "--batch", "100,50", "--n", "100", "--steps", "400", "--every", "4", "--out", out.to_str().unwrap()].iter().map(|s| s.to_string()).collect()
    };
    let full = d.join("full");
    expect_success(args(&full));
    assert!(!full.join("sgd_partial.json").exists(), "the partial file is left after the end");
    let part = d.join("part");
    // Killed once b = 100 has finished (the file is written during each run too).
    let saved = part.join("sgd_partial.json");
    let mut child = bin().args(args(&part)).stderr(std::process::Stdio::null()).spawn().unwrap();
    let finished = || -> bool {
        std::fs::read(&saved).ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()).is_some_and(|v| v["results"].as_array().is_some_and(|r| !r.is_empty()))
    };
    wait_for(finished, 2);
    assert!(child.try_wait().unwrap().is_none(), "the job ended before it could be killed");
    child.kill().unwrap();
    child.wait().unwrap();
    // A file whose checks were cut is refused (and kept); edited statistics are not read (they
    // are recomputed from the checks, below).
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
    let mut cut = v.clone();
    cut["results"][0]["checks"].as_array_mut().unwrap().truncate(3);
    cut["in_progress"] = serde_json::Value::Null;
    let bytes = serde_json::to_vec(&without_digest(&cut)).unwrap();
    std::fs::write(&saved, &bytes).unwrap();
    let o = bin().args(args(&part)).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("holds 3 checks, not one every 4 steps up to step 400") && err.contains("--fresh"), "{err}");
    assert_eq!(std::fs::read(&saved).unwrap(), bytes, "the refused file was changed");
    let mut edited = v.clone();
    edited["results"][0]["gap"] = serde_json::json!(12345.0);
    std::fs::write(&saved, serde_json::to_vec(&without_digest(&edited)).unwrap()).unwrap();
    // A copy resumed with a --batch that leaves b = 100 out: its finished run's sgd_b100.csv goes
    // (the summary no longer lists it), and the directory holds what a job of b = 50 alone writes.
    let (short, alone) = (d.join("short"), d.join("alone"));
    std::fs::create_dir_all(&short).unwrap();
    for f in ["sgd_b100.csv", "sgd_partial.json"] {
        std::fs::copy(part.join(f), short.join(f)).unwrap();
    }
    let only_50 = |out: &Path| -> Vec<String> { args(out).into_iter().map(|a| if a == "100,50" { "50".into() } else { a }).collect() };
    expect_success(only_50(&short));
    expect_success(only_50(&alone));
    let listing = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| !n.starts_with('.')).collect();
        v.sort();
        v
    };
    assert_eq!(listing(&short), listing(&alone), "the resumed job's directory holds other files than a job of its batch sizes");
    for f in ["sgd_b50.csv", "sgd.json", "sgd.md", "figures/sgd.svg"] {
        assert_eq!(std::fs::read(alone.join(f)).unwrap(), std::fs::read(short.join(f)).unwrap(), "{f} differs after the shorter resume");
    }
    let o = expect_success(args(&part));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("b = 100: saved by an earlier run") && !err.contains("12345"), "{err}");
    for f in ["sgd_b100.csv", "sgd_b50.csv", "sgd.json", "sgd.md", "figures/sgd.svg"] {
        assert_eq!(std::fs::read(full.join(f)).unwrap(), std::fs::read(part.join(f)).unwrap(), "{f} differs after the re-run");
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn interrupted_sgd_saves_the_batch_size_in_progress_and_resumes_bit_identically() {
    // SIGINT during a batch size's run: sgd ends the step in progress, saves that run (iterate,
    // samplers' positions, checks) with the finished batch sizes, says where, and ends by the
    // signal; re-run, it resumes there and writes the outputs of an uninterrupted job. A saved run
    // edited out of the job's positions is refused.
    use std::os::unix::process::ExitStatusExt;
    let d = tmp("sgdint");
    let args = |out: &Path| -> Vec<String> {
        ["sgd", "--batch", "16,8", "--layers", "64,8,10", "--n", "64", "--steps", "40000", "--every", "400", "--out", out.to_str().unwrap()].iter().map(|s| s.to_string()).collect()
    };
    let full = d.join("full");
    expect_success(args(&full));
    let part = d.join("part");
    let saved = part.join("sgd_partial.json");
    let (status, err) = interrupt_once_written(&args(&part), &saved, "INT", std::time::Duration::from_millis(150));
    assert_eq!(status.signal(), Some(2), "{status:?} {err}");
    assert!(err.contains("interrupted at SGD step") && err.contains("the same command resumes there") && !err.contains("panicked"), "{err}");
    let k = interrupted_step(&err, "SGD");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
    assert_eq!(v["in_progress"]["t"].as_u64(), Some(k), "the saved run is not at the step named");
    assert!(k > 1, "the saved run ({k}) is not the one written at the signal");
    // An edited position is refused before anything runs.
    let original = std::fs::read(&saved).unwrap();
    let mut bad = v.clone();
    bad["in_progress"]["sampler"]["draws"] = serde_json::json!(v["in_progress"]["sampler"]["draws"].as_u64().unwrap() + 1);
    std::fs::write(&saved, serde_json::to_vec(&without_digest(&bad)).unwrap()).unwrap();
    let o = bin().args(args(&part)).output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && e.contains("does not fit n = 64, b = "), "{e}");
    std::fs::write(&saved, &original).unwrap();
    let o = expect_success(args(&part));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains(&format!("resuming its run from {} at step {k}", saved.display())), "{e}");
    for f in ["sgd_b16.csv", "sgd_b8.csv", "sgd.json", "sgd.md"] {
        assert_eq!(std::fs::read(full.join(f)).unwrap(), std::fs::read(part.join(f)).unwrap(), "{f} differs after the resume");
    }
    assert!(!saved.exists());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn sgd_over_sample_seeds_runs_each_seeds_job_summarises_them_and_resumes_after_a_signal() {
    // `sgd --sample-seeds 0-2`: each seed's job in seed{S}/, byte for byte the job `--sample-seed S`
    // writes; sgd_seeds.json holds each batch size's seed mean and standard error of the gap
    // (recomputed here from the seeds' sgd.json) and the 1/b test; a SIGINT during seed 1 saves,
    // and the re-run reuses seed 0, resumes seed 1 and writes the same files.
    use std::os::unix::process::ExitStatusExt;
    let d = tmp("sgdseeds");
    let job = ["sgd", "--batch", "64,32,16", "--n", "64", "--layers", "64,8,10", "--steps", "16000", "--every", "400"];
    let args = |extra: &[&str], out: &Path| -> Vec<String> { job.iter().chain(extra).map(|s| s.to_string()).chain(["--out".into(), out.display().to_string()]).collect() };
    let full = d.join("full");
    let o = expect_success(args(&["--sample-seeds", "0-2"], &full));
    let md = std::fs::read_to_string(full.join("sgd_seeds.md")).unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), format!("{md}\n"), "stdout is not sgd_seeds.md");
    let single = d.join("single");
    expect_success(args(&["--sample-seed", "1"], &single));
    let files = ["sgd_b64.csv", "sgd_b32.csv", "sgd_b16.csv", "sgd.json", "sgd.md", "figures/sgd.svg"];
    for f in files {
        assert_eq!(std::fs::read(single.join(f)).unwrap(), std::fs::read(full.join("seed1").join(f)).unwrap(), "seed1/{f} is not the single-seed job's");
    }
    let json = |p: &Path| -> serde_json::Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let summary = json(&full.join("sgd_seeds.json"));
    assert_eq!(summary["seeds"], serde_json::json!([0, 1, 2]));
    let per_seed: Vec<serde_json::Value> = (0..3).map(|s| json(&full.join(format!("seed{s}/sgd.json")))).collect();
    let (mut c_num, mut c_den, mut rows) = (0.0, 0.0, vec![]);
    for (k, row) in summary["batches"].as_array().unwrap().iter().enumerate() {
        let b = row["batch"].as_f64().unwrap();
        let gaps: Vec<f64> = per_seed.iter().map(|v| v[k]["gap"].as_f64().unwrap()).collect();
        assert_eq!(row["gaps"].as_array().unwrap().iter().map(|g| g.as_f64().unwrap()).collect::<Vec<_>>(), gaps, "b = {b}");
        let m = gaps.iter().sum::<f64>() / 3.0;
        let se = (gaps.iter().map(|g| (g - m).powi(2)).sum::<f64>() / 2.0 / 3.0).sqrt();
        let close = |x: &serde_json::Value, want: f64| (x.as_f64().unwrap() - want).abs() <= 1e-14 * want.abs();
        assert!(close(&row["mean_gap"], m) && close(&row["se_gap"], se) && close(&row["b_mean_gap"], b * m), "b = {b}: {row}");
        if b < 64.0 {
            assert_eq!(row["full_batch"], false);
            assert!(gaps.iter().all(|&g| g > 0.0), "b = {b}: gaps {gaps:?}");
            c_num += b * m / (b * se).powi(2);
            c_den += 1.0 / (b * se).powi(2);
            rows.push((b, m, se));
        } else {
            assert!(row["full_batch"] == true && row["mean_predicted_gap"].is_null());
        }
    }
    let c = c_num / c_den;
    let worst = rows.iter().map(|&(b, m, se)| ((b * m - c) / (b * se)).abs()).fold(0.0, f64::max);
    let t = &summary["one_over_b"];
    assert!((t["c"].as_f64().unwrap() - c).abs() <= 1e-13 * c && (t["worst_se"].as_f64().unwrap() - worst).abs() <= 1e-12 * worst, "{t}");
    assert!(md.contains(&format!("c̄ = {c:.3}")) && md.contains(&format!("is {worst:.2} SE from c̄/b")), "{md}");
    assert!(full.join("figures/sgd_seeds.svg").exists() && full.join("figures/sgd_seeds.png").exists());
    assert!((0..3).all(|s| !full.join(format!("seed{s}/sgd_partial.json")).exists()), "a seed's partial file is left after the end");
    // Interrupted during seed 1, then re-run.
    let part = d.join("part");
    let saved = part.join("seed1/sgd_partial.json");
    let (status, err) = interrupt_once_written(&args(&["--sample-seeds", "0-2"], &part), &saved, "INT", std::time::Duration::from_millis(150));
    assert_eq!(status.signal(), Some(2), "{status:?} {err}");
    assert!(err.contains("interrupted at SGD step") && err.contains(&saved.display().to_string()) && !err.contains("panicked"), "{err}");
    assert!(part.join("seed0/sgd_partial.json").exists() && !part.join("sgd_seeds.json").exists());
    // Every listed seed's saved file is checked before the first run: another job's arguments are
    // refused at once, before seed 5 (first in the list, new) runs or seed 0's files are rewritten.
    let seed0 = std::fs::read(part.join("seed0/sgd.json")).unwrap();
    let o = bin().args(args(&["--sample-seeds", "5,1,0", "--lr", "0.25"], &part)).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("belong to another job") && err.contains("lr = 0.2667 (now: 0.25)") && !err.contains("sample seed 5 (1 of 3)"), "{err}");
    assert!(!part.join("seed5").exists() && std::fs::read(part.join("seed0/sgd.json")).unwrap() == seed0);
    let o = expect_success(args(&["--sample-seeds", "0-2"], &part));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("b = 16: saved by an earlier run of this job") && err.contains("resuming its run from"), "{err}");
    for f in ["sgd_seeds.json", "sgd_seeds.md", "figures/sgd_seeds.svg"].into_iter().map(String::from).chain((0..3).flat_map(|s| files.map(|f| format!("seed{s}/{f}")))) {
        assert_eq!(std::fs::read(full.join(&f)).unwrap(), std::fs::read(part.join(&f)).unwrap(), "{f} differs after the resume");
    }
    // One sampler seed or several, not both; a bad list is named.
    let o = run(&["sgd", "--batch", "16", "--sample-seed", "1", "--sample-seeds", "0-2"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("cannot be used with"));
    let o = run(&["sgd", "--batch", "16", "--sample-seeds", "3-1", "--out", d.join("bad").to_str().unwrap()]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("the range `3-1` in `3-1` runs backwards"));
    assert!(!d.join("bad").exists());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn gradient_flow_track_never_raises_the_loss_and_resumes_bit_identically() {
    // `run --gf` tracks gradient flow from θ₀ with ⌈ηS⌉ Euler sub-steps of size η/⌈ηS⌉ ≤ 1/S per GD
    // step: each sub-step is a descent step for the local quadratic, so L(θ_gf) never rises over
    // the run (GD's does, at the edge of stability), and a killed run resumes with the same gf.csv.
    let d = tmp("gf");
    let args = |out: &Path| checkpointed_run_args(&["--gf"], out);
    let full = d.join("full");
    expect_success(args(&full));
    let text = std::fs::read_to_string(full.join("gf.csv")).unwrap();
    let rows: Vec<Vec<f64>> = text.lines().skip(1).map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 40);
    let eta = 0.25;
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], i as f64);
        assert_eq!(r[4], (eta * r[2]).ceil().max(1.0), "row {i}: sub-steps ≠ ⌈ηS⌉");
        if i > 0 {
            assert!(r[1] <= rows[i - 1][1], "row {i}: L(θ_gf) rose from {} to {}", rows[i - 1][1], r[1]);
        }
    }
    // The figure shows gradient flow in the loss, sharpness and deviation panels.
    let svg = std::fs::read_to_string(full.join("figures/tracking.svg")).unwrap();
    assert!(svg.contains("GF L(θ_gf)") && svg.contains("GF S(θ_gf)") && svg.contains("GF ‖θ_gf−θ†‖"), "{svg:.300}");
    let part = d.join("part");
    run_and_kill_after_checkpoint(&args(&part), &part);
    let o = expect_success(args(&part));
    assert!(String::from_utf8_lossy(&o.stderr).contains("resuming from"));
    assert_eq!(std::fs::read(full.join("gf.csv")).unwrap(), std::fs::read(part.join("gf.csv")).unwrap());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_model_too_large_for_the_memory_limit_is_refused_at_the_start() {
    // 64-4000-4000-10 (p = 16,304,010: 130 MB per vector) under a 3 GB address-space limit: every
    // job's floor (tens of vectors of length p) exceeds it, so each stops at once with an error
    // naming the floor and the limit instead of aborting in the allocator later (src/memory.rs),
    // before it makes its output directory.
    let d = tmp("memory");
    let exe = env!("CARGO_BIN_EXE_selfstab");
    let o = |n: &str| d.join(n).display().to_string();
    for (job, args) in [
        ("run", format!("run --layers 64,4000,4000,10 --n 20 --out '{}'", o("run"))),
        ("flow", format!("flow --layers 64,4000,4000,10 --n 20 --out '{}'", o("flow"))),
        ("sgd", format!("sgd --layers 64,4000,4000,10 --n 20 --batch 10 --out '{}'", o("sgd"))),
        ("eval", format!("eval --theta '' --layers 64,4000,4000,10 --n 20 --out '{}'", o("eval"))),
    ] {
        let cmd = format!("ulimit -v 3000000; exec '{exe}' {args}");
        let out = Command::new("bash").args(["-c", &cmd]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{job}: {err}");
        let last = err.trim_end().lines().last().unwrap_or("");
        assert!(
            last.starts_with("error: not enough memory: `") && last.contains(&format!("`{job}` on p = 16304010")) && last.contains("ulimit -v"),
            "{job}: {err}"
        );
        assert!(!d.join(job).exists(), "{job}: the refused job made its output directory");
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_saved_state_edited_or_damaged_after_it_was_written_is_refused() {
    // The checkpoint ends with its CRC-32 member. One digit of θ changed in place (the file still
    // parses, and every other check passes) is refused, and so is the file parsed and written again
    // with the member kept (serde_json sorts the keys; pretty-printed, as Python writes it); the
    // file as written, with a final newline, resumes, bit-identically.
    let d = tmp("digest");
    let args = |out: &Path| checkpointed_run_args(&[], out);
    let full = d.join("full");
    expect_success(args(&full));
    let part = d.join("part");
    let ck = run_and_kill_after_checkpoint(&args(&part), &part);
    let original = std::fs::read(&ck).unwrap();
    let text = String::from_utf8(original.clone()).unwrap();
    assert!(text.rfind(",\"crc32\":\"").is_some_and(|i| i + 20 == text.len()) && text.ends_with("\"}"), "no CRC-32 member at the end");
    // The first digit after `"theta_unstable":[` and its sign, if any: 0.1… → 0.2…, say.
    let at = text.find("\"theta_unstable\":[").unwrap() + 18;
    let digit = at + text[at..].find(|c: char| c.is_ascii_digit() && c != '0').unwrap();
    let mut flipped = original.clone();
    flipped[digit] = if flipped[digit] == b'9' { b'8' } else { flipped[digit] + 1 };
    let v: serde_json::Value = serde_json::from_slice(&flipped).expect("the edited checkpoint still parses");
    let rewritten = serde_json::to_vec(&v).unwrap();
    // As Python's json.dump writes it (a space after each colon; here also indented).
    let pretty = serde_json::to_vec_pretty(&v).unwrap();
    for (bytes, why) in [(flipped, "do not match the CRC-32 written with it"), (rewritten, "is not at its end"), (pretty, "is not at its end")] {
        std::fs::write(&ck, &bytes).unwrap();
        let o = bin().args(args(&part)).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(why) && err.contains("--fresh") && !err.contains("resuming from"), "{why}: {err}");
        assert_eq!(std::fs::read(&ck).unwrap(), bytes, "the refused checkpoint was changed");
    }
    // An editor's final newline changes nothing.
    std::fs::write(&ck, [&original[..], b"\n"].concat()).unwrap();
    let o = expect_success(args(&part));
    assert!(String::from_utf8_lossy(&o.stderr).contains("resuming from"));
    assert_eq!(series_without_timing(&full.join("series.csv")), series_without_timing(&part.join("series.csv")));
    let _ = std::fs::remove_dir_all(&d);
}

/// A job refused for its options makes no output directory (walk-through review: `order --full`,
/// `sgd` and `flow --dagger` left an empty one); `order` with an `--out` that cannot be a directory
/// is refused; `--n` beside a data file, which is used whole, is named as changing nothing.
#[test]
fn refused_options_leave_no_output_directory_and_an_unused_n_is_named() {
    let d = tmp("refused-no-out");
    let cases: [&[&str]; 6] = [
        &["order", "15", "--full", "--decades", "20"],
        &["order", "15", "--full", "--points", "2"],
        &["sgd", "--batch", "32", "--every", "0"],
        &["sgd", "--batch", "32", "--window", "2"],
        &["sgd", "--batch", "32", "--eos-eps", "nan"],
        &["flow", "--dagger", "/nonexistent-selfstab-run", "--steps", "5"],
    ];
    for (i, args) in cases.iter().enumerate() {
        let out = d.join(format!("out{i}"));
        let o = bin().args(*args).arg("--out").arg(&out).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.starts_with("error:") && !err.contains("panicked"), "{args:?}: {err}");
        assert!(!out.exists(), "{args:?}: the refused job made its output directory");
    }
    let file = d.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let o = bin().args(["order", "20", "--out"]).arg(&file).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("not a directory") && o.stdout.is_empty(), "{err}");
    let exp = d.join("exp");
    assert!(run(&["export", "--layers", "64,8,10", "--n", "40", "--out", exp.to_str().unwrap()]).status.success());
    let npz = exp.join("data.npz");
    let o = run(&["eval", "--theta", exp.join("theta0.npy").to_str().unwrap(), "--data", npz.to_str().unwrap(), "--layers", "64,8,10", "--n", "10", "--out", d.join("ev").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.contains(&format!("warning: --n 10 changes nothing here: the data file {} is used whole", npz.display())), "{err}");
    // The same evaluation as without --n: the file's 40 rows, bit for bit.
    let o = run(&["eval", "--theta", exp.join("theta0.npy").to_str().unwrap(), "--data", npz.to_str().unwrap(), "--layers", "64,8,10", "--out", d.join("ev2").to_str().unwrap()]);
    assert!(o.status.success() && !String::from_utf8_lossy(&o.stderr).contains("warning"));
    let loss = |dir: &str| serde_json::from_slice::<serde_json::Value>(&std::fs::read(d.join(dir).join("eval.json")).unwrap()).unwrap()["loss"].clone();
    assert_eq!(loss("ev"), loss("ev2"));
    let _ = std::fs::remove_dir_all(&d);
}
