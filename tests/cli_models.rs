//! The command line with the models beyond MLPs (`--model cnn`, `--model width1`): a short CNN run
//! end to end, export → eval round trips against the library, and one-line errors on bad input.

use std::path::PathBuf;
use std::process::{Command, Output};

use selfstab::data::digits;
use selfstab::models::cnn::{Cnn, CnnSpec};
use selfstab::models::mlp::{Activation, LossKind};
use selfstab::models::width1::{self, Width1};
use selfstab::objective::Objective;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("selfstab-cli-models-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_selfstab")).args(args).output().expect("binary runs")
}

fn json(path: PathBuf) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `run --model cnn`: at η = 0.4 the seeded CNN (2 channels, 32 digits) is unstable from the start
/// (S(θ_init) > 2/η = 5), so the search stops at step 0 and 8 tracking steps run the whole pipeline
/// (projection, predicted dynamics, figures). The summary must report the CNN (p = 2·9 + 2 + 10·32
/// + 10 = 350), S(θ₀) ≥ 2/η, all 8 steps, and rerunning the saved config.toml reproduces series.csv.
#[test]
fn cnn_run_works_end_to_end() {
    let d = tmp("run");
    let out = d.join("o");
    let o = run(&["run", "--model", "cnn", "--channels", "2", "--n", "32", "--lr", "0.4", "--steps", "8", "--gap-threshold", "none", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = json(out.join("summary.json"));
    eprintln!("cnn run summary: {s}");
    assert_eq!(s["params"], 350);
    assert!(s["model"].as_str().unwrap().starts_with("cnn conv2-dense10 tanh mse"));
    assert!(s["sharpness_unstable"].as_f64().unwrap() >= 5.0);
    assert_eq!(s["steps_tracked"], 8);
    let cfg = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(cfg.contains("model = \"cnn\"") && cfg.contains("channels = [2]"), "{cfg}");
    for f in ["series.csv", "series.npz", "theta_unstable.npy", "final_state.npz", "figures/tracking.svg"] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let out2 = d.join("o2");
    let o = run(&["run", out.join("config.toml").to_str().unwrap(), "--out", out2.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let strip = |p: PathBuf| -> Vec<String> {
        let text = std::fs::read_to_string(p).unwrap();
        let mut lines = text.lines();
        let head: Vec<&str> = lines.next().unwrap().split(',').collect();
        let k = head.iter().position(|h| *h == "step_seconds").unwrap();
        lines.map(|l| l.split(',').enumerate().filter(|(i, _)| *i != k).map(|(_, v)| v).collect::<Vec<_>>().join(",")).collect()
    };
    assert_eq!(strip(out.join("series.csv")), strip(out2.join("series.csv")));
}

/// export → eval for both models: eval's loss equals the library's L(θ_init) bit for bit (same
/// data, same parameters, same code path), and the exported θ is the seeded initialisation.
#[test]
fn export_then_eval_matches_the_library_for_cnn_and_width1() {
    let d = tmp("export");
    let e = d.join("cnn");
    let o = run(&["export", "--model", "cnn", "--channels", "2,3", "--n", "20", "--out", e.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let th = e.join("theta0.npy");
    let ev = d.join("cnn_eval");
    let o = run(&["eval", "--model", "cnn", "--channels", "2,3", "--theta", th.to_str().unwrap(), "--data", e.join("data.npz").to_str().unwrap(), "--out", ev.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let spec = CnnSpec::new(&[2, 3], 10).unwrap();
    let m = Cnn::<f64>::new(&spec, Activation::Tanh, LossKind::Mse, &digits(20).unwrap(), ()).unwrap();
    let l = m.value(&spec.init(0)).unwrap();
    let v = json(ev.join("eval.json"));
    assert_eq!(v["loss"].as_f64().unwrap(), l);
    assert_eq!(v["params"], spec.param_count());

    let e = d.join("w1");
    let o = run(&["export", "--model", "width1", "--n", "40", "--seed", "3", "--out", e.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ev = d.join("w1_eval");
    // Its own generated data is the width-1 model's default (`--data width1`); another is refused.
    let o = run(&["eval", "--model", "width1", "--n", "40", "--seed", "3", "--theta", e.join("theta0.npy").to_str().unwrap(), "--top-k", "2", "--out", ev.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&["eval", "--model", "width1", "--data", "digits", "--theta", e.join("theta0.npy").to_str().unwrap(), "--out", ev.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("generates its own data"), "{err}");
    let w = Width1::<f64>::new(Activation::Tanh, &width1::width1_data(40, 3).unwrap(), ()).unwrap();
    let v = json(ev.join("eval.json"));
    assert_eq!(v["loss"].as_f64().unwrap(), w.value(&width1::init(3)).unwrap());
    assert_eq!(v["params"], 3);
    // At 128 bits its one top pair is an iterative solve over a third of the spectrum: no warning
    // that it "can take hours" (found by the README walk-through).
    let o = run(&["eval", "--model", "width1", "--n", "40", "--seed", "3", "--precision", "128", "--theta", e.join("theta0.npy").to_str().unwrap(), "--out", ev.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && !err.contains("can take hours"), "{err}");
}

/// Bad model input: one-line errors naming the problem, never a panic.
#[test]
fn bad_model_inputs_give_one_line_errors() {
    let d = tmp("bad");
    let out = d.join("o");
    let o = out.to_str().unwrap();
    // A data set of width 3 (an MLP export).
    let narrow = d.join("narrow");
    let r = run(&["export", "--layers", "3,4,2", "--data", "synthetic", "--n", "10", "--out", narrow.to_str().unwrap()]);
    assert!(r.status.success());
    let npz = narrow.join("data.npz");
    for (args, needle) in [
        (vec!["run", "--model", "cnn", "--channels", "0", "--out", o], "channels"),
        (vec!["run", "--model", "cnn", "--channels", "4,4,4,4", "--out", o], "1 to 3 conv stages"),
        (vec!["run", "--model", "width1", "--channels", "4", "--out", o], "only the cnn model has channels"),
        (vec!["run", "--model", "width1", "--loss", "ce", "--out", o], "only `mse`"),
        (vec!["run", "--model", "mlp", "--channels", "4", "--out", o], "channels"),
        (vec!["run", "--model", "cnn", "--data", npz.to_str().unwrap(), "--out", o, "--steps", "1"], "64 features"),
        (vec!["run", "--model", "resnet", "--out", o], "cnn, width1"),
        (vec!["export", "--out", o], "--layers"),
        (vec!["eval", "--model", "cnn", "--theta", "/nonexistent.npy", "--data", "digits", "--out", o], "nonexistent"),
    ] {
        let r = run(&args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success(), "{args:?} succeeded");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        assert!(err.trim_end().lines().last().unwrap_or("").starts_with("error:"), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: expected `{needle}` in {err}");
    }
}
