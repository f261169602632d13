//! `selfstab flow` as a library call: outputs and input errors (theory/README.md "Central flow").

use selfstab::central_flow::Form;
use selfstab::config::{self, Num, RunConfig};
use selfstab::flow_cmd::{FlowArgs, flow};

fn cfg(out: &std::path::Path, steps: u64) -> config::Resolved {
    let rc = RunConfig {
        model: Some("cubic".into()),
        lr: Some(Num::Text("1".into())),
        steps: Some(steps),
        out: Some(out.display().to_string()),
        ..RunConfig::default()
    };
    config::resolve(&config::merge(None, rc)).unwrap()
}

fn args() -> FlowArgs {
    FlowArgs { substeps: 4, smooth: 2.0, form: Form::K, top_k: 4, sdcp_tol: None, dagger: None, fresh: false }
}

/// Toy-C from x₀ = 0.1δ (S(θ₀) = 2.0001, η = 1): writes every output. From t = 1 the flow holds
/// S(w) at 2/η: measured |S − 2|/2 ≤ 1.9e-7 (the off-diagonal a·x of the Hessian makes S nonlinear in
/// w while x decays, a second-order remainder per sub-step; bound 1e-6), SDCP residuals within tolerance.
#[test]
fn flow_writes_series_summary_and_figure_on_toy_c() {
    let dir = std::env::temp_dir().join(format!("selfstab_flow_cli_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let s = flow(&cfg(&dir, 30), &args()).unwrap();
    for f in ["flow_series.csv", "flow_series.npz", "flow_summary.json", "figures/flow.svg", "figures/flow.png", "flow_config.toml"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    // Not run's config.toml: a run sharing the directory keeps its own.
    assert!(!dir.join("config.toml").exists(), "flow wrote config.toml");
    let csv = std::fs::read_to_string(dir.join("flow_series.csv")).unwrap();
    assert_eq!(csv.lines().count(), 32, "header + 31 rows (t = 0..30)");
    assert!(csv.lines().next().unwrap().starts_with("t,loss_gd,grad_sq_gd,sharpness_gd,x2_gd"));
    println!("excess {:.3e}, residuals {:?}, critical {:?}", s.flow_sharpness_max_rel_excess, s.sdcp_max_residuals, s.critical_histogram);
    assert!(s.flow_sharpness_max_rel_excess <= 1e-6);
    assert!(s.sdcp_max_residuals.compl <= s.sdcp_tol && s.sdcp_max_residuals.psd_z <= s.sdcp_tol);
    assert_eq!(s.max_critical, 1);
    // Each smoothed column is the Gaussian smoothing (width --smooth) of its own raw column, bit
    // for bit (mutation audit round 3: two swapped columns passed every test).
    let mut npz = selfstab::npy::read_npz(dir.join("flow_series.npz")).unwrap();
    let mut col = |name: &str| npz.take(name).unwrap().into_f64(std::path::Path::new("flow_series.npz"), name).unwrap().0;
    for raw in ["loss_gd", "x2_gd", "grad_sq_gd", "sharpness_gd"] {
        let (r, smoothed) = (col(raw), col(&format!("{raw}_smooth")));
        let want = selfstab::central_flow::smooth(&r, args().smooth);
        assert_eq!(smoothed.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), want.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), "{raw}_smooth");
        assert!(r.iter().any(|x| *x != r[0]), "{raw} is constant: the check could not tell columns apart");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bad options are one-line errors naming the option.
#[test]
fn flow_rejects_bad_options() {
    let dir = std::env::temp_dir().join("selfstab_flow_cli_bad");
    let c = cfg(&dir, 3);
    for (a, key) in [
        (FlowArgs { substeps: 0, ..args() }, "substeps"),
        (FlowArgs { smooth: f64::NAN, ..args() }, "smooth"),
        (FlowArgs { top_k: 0, ..args() }, "top_k"),
        (FlowArgs { sdcp_tol: Some(2.0), ..args() }, "sdcp_tol"),
    ] {
        let e = flow(&c, &a).unwrap_err().to_string();
        assert!(e.contains(key) && !e.contains('\n'), "{e}");
    }
}

/// A smoothing width far beyond the run (1e300 steps) is the series' mean at every step, with the
/// kernel sized by the series, not by the width (it used to allocate 4w entries and abort).
#[test]
fn smoothing_wider_than_the_run_is_the_mean() {
    let y = [1.0, 2.0, 4.0, 8.0, 16.0];
    // Weights exp(−d²/(2w²)) ≥ 1 − 8/w² for d ≤ 4: the mean to ≤ 1e-12 from w = 1e9 on.
    for w in [1e9, 1e19, 1e300] {
        for v in selfstab::central_flow::smooth(&y, w) {
            assert!((v - 6.2).abs() <= 1e-12, "w = {w:e}: {v}");
        }
    }
    let dir = std::env::temp_dir().join(format!("selfstab_flow_cli_wide_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let s = flow(&cfg(&dir, 5), &FlowArgs { smooth: 1e19, ..args() }).unwrap();
    assert_eq!(s.window, [0, 5], "a window wider than the run is the whole run");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A width below one step leaves the series as it is, down to the smallest positive width: where
/// 2w² underflows (w ≲ 1.6e-162) the kernel's 0/0 at d = 0 made every smoothed value NaN, written
/// silently as empty columns (fuzz review).
#[test]
fn smoothing_narrower_than_a_step_is_the_series_itself() {
    let y = [1.0, 2.0, 4.0, 8.0, 16.0];
    for w in [0.1, 1e-160, 1e-162, 1e-300, f64::from_bits(1), 0.0] {
        assert_eq!(selfstab::central_flow::smooth(&y, w), y.to_vec(), "w = {w:e}");
    }
}

/// The smoothing kernel is K(r) = exp(−r²/(2w²)) cut at |r| ≤ 4w: an impulse at t = 50 smoothed
/// with w = 5 gives ȳ_{50+r}/ȳ_50 = K(r) (the normalisers agree away from the ends), e^(−1/2) at
/// r = w, and 0 beyond 4w = 20. (Mutation audit round 2: exp(−r²/w²) was caught only through a
/// pinned claim-30 error.)
#[test]
fn smoothing_an_impulse_gives_the_gaussian_kernel() {
    let mut y = vec![0.0; 101];
    y[50] = 1.0;
    let s = selfstab::central_flow::smooth(&y, 5.0);
    for r in 0..=20usize {
        let want = libm::exp(-((r * r) as f64) / 50.0);
        for at in [50 + r, 50 - r] {
            assert!((s[at] / s[50] - want).abs() <= 4.0 * f64::EPSILON, "r = {r}: {} vs {want}", s[at] / s[50]);
        }
    }
    assert!((s[55] / s[50] - libm::exp(-0.5)).abs() <= 4.0 * f64::EPSILON);
    assert!(s[29] == 0.0 && s[71] == 0.0 && s[30] > 0.0 && s[70] > 0.0);
}

/// Parse a CSV into (header, rows of fields).
fn read_csv(p: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(p).unwrap();
    let mut l = text.lines();
    let h = l.next().unwrap().split(',').map(String::from).collect();
    (h, l.map(|r| r.split(',').map(String::from).collect()).collect())
}

/// A run with no tracking step writes its α, β and δ ranges as null (undefined); its summary still
/// reads back as a `run`'s, and `flow --dagger` names what is missing, the series' rows (it called
/// the summary "not a `run` summary.json"; fuzz review).
#[test]
fn flow_dagger_reads_a_run_summary_with_undefined_ranges() {
    let base = std::env::temp_dir().join(format!("selfstab_flow_dagger_empty_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (rdir, fdir) = (base.join("run"), base.join("flow"));
    let rs = selfstab::commands::run(&cfg(&rdir, 0)).unwrap();
    assert!(rs.steps_tracked == 0 && rs.alpha_range[0].is_nan(), "{rs:?}");
    let json = std::fs::read_to_string(rdir.join("summary.json")).unwrap();
    assert!(json.contains("\"alpha_range\": [\n    null"), "{json}");
    let e = flow(&cfg(&fdir, 5), &FlowArgs { dagger: Some(rdir.clone()), ..args() }).unwrap_err().to_string();
    assert!(e.contains("series.csv: no rows") && !e.contains("not a `run` summary"), "{e}");
    let _ = std::fs::remove_dir_all(&base);
}

/// `run` (30 tracking steps of Toy-C) then `flow --dagger` (40 steps) on the same job: flow_series.csv
/// gains `loss_dagger`/`sharpness_dagger`, equal as text to the run's series.csv at every t it records (0..=29) (the
/// same f64 printed the same way) and empty for t ≥ 30; the summary's θ† agreements are recomputed
/// here from the CSV to 1e-12 relative (they are sums of the same f64, summed in the same order,
/// only re-parsed from shortest round-trip text: exact up to the division, bound 1e-12 leaves room).
/// Both runs start GD from the same instability point and take the same gd steps, so GD's loss
/// agrees too, as text (bit for bit; until session 42 asserted only to 1e-12 relative).
#[test]
fn flow_dagger_adds_theta_dagger_from_the_same_run() {
    let base = std::env::temp_dir().join(format!("selfstab_flow_dagger_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (rdir, fdir) = (base.join("run"), base.join("flow"));
    let rs = selfstab::commands::run(&cfg(&rdir, 30)).unwrap();
    assert_eq!(rs.steps_tracked, 30, "{}", rs.stop_message);
    let s = flow(&cfg(&fdir, 40), &FlowArgs { dagger: Some(rdir.clone()), ..args() }).unwrap();
    let (rh, rrows) = read_csv(&rdir.join("series.csv"));
    let (fh, frows) = read_csv(&fdir.join("flow_series.csv"));
    let ri = |n: &str| rh.iter().position(|h| h == n).unwrap();
    let fi = |n: &str| fh.iter().position(|h| h == n).unwrap();
    assert_eq!(&fh[fh.len() - 2..], ["loss_dagger", "sharpness_dagger"]);
    assert_eq!(frows.len(), 41);
    let run_t: Vec<&str> = rrows.iter().map(|r| r[0].as_str()).collect();
    println!("run rows: t = {} .. {}", run_t[0], run_t[run_t.len() - 1]);
    let mut matched = 0;
    for r in &frows {
        let t = r[0].as_str();
        let run_row = rrows.iter().find(|x| x[0] == t);
        for col in ["loss_dagger", "sharpness_dagger"] {
            let want = run_row.map(|x| x[ri(col)].as_str()).unwrap_or("");
            assert_eq!(r[fi(col)], want, "{col} at t = {t}");
        }
        if let Some(x) = run_row {
            matched += 1;
            assert_eq!(r[fi("loss_gd")], x[ri("loss_gd")], "loss_gd at t = {t}");
        }
    }
    assert_eq!(matched, rrows.len(), "every run row has a flow row");
    // The summary: window [8, 32] (4w = 8), θ† rows for t ≤ 29 (`run` records t = 0..steps−1) → 22 steps.
    assert_eq!(run_t.last(), Some(&"29"));
    assert_eq!(s.window, [8, 32]);
    assert_eq!(s.dagger_window_steps, Some(22));
    let la = s.loss_vs_dagger.as_ref().unwrap();
    let (mut num, mut den) = (0.0, 0.0);
    for r in &frows[8..=29] {
        let (g, p): (f64, f64) = (r[fi("loss_gd_smooth")].parse().unwrap(), r[fi("loss_dagger")].parse().unwrap());
        num += (g - p).abs();
        den += p.abs();
    }
    println!("loss vs θ†: rel L1 {:.3e} (recomputed {:.3e}); sharpness vs θ†: {:?}", la.rel_l1, num / den, s.sharpness_vs_dagger);
    assert!((la.rel_l1 - num / den).abs() <= 1e-12 * la.rel_l1.abs().max(1e-300));
    assert!(s.sharpness_vs_dagger.as_ref().unwrap().rel_l1.is_finite());
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fdir.join("flow_summary.json")).unwrap()).unwrap();
    for k in ["loss_vs_dagger", "sharpness_vs_dagger", "dagger_window_steps", "dagger_dir"] {
        assert!(json.get(k).is_some(), "{k} missing from flow_summary.json");
    }
    let svg = std::fs::read_to_string(fdir.join("figures/flow.svg")).unwrap();
    assert!(svg.contains("θ† S(θ†)") && svg.contains(&format!("θ† {:.1}%", 100.0 * la.rel_l1)));
    let _ = std::fs::remove_dir_all(&base);
}

/// `flow --dagger` on another job, or on a missing/corrupt run directory, is a one-line error naming
/// the mismatch or the file (checked before any GD step for η, model and files).
#[test]
fn flow_dagger_rejects_another_job_and_bad_files() {
    let base = std::env::temp_dir().join(format!("selfstab_flow_dagger_bad_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let rdir = base.join("run");
    selfstab::commands::run(&cfg(&rdir, 3)).unwrap();
    let with = |d: &std::path::Path, c: config::Resolved| flow(&c, &FlowArgs { dagger: Some(d.to_path_buf()), ..args() }).unwrap_err().to_string();
    let one_line = |e: &str, want: &str| assert!(e.contains(want) && !e.contains('\n'), "{e}");
    // Another η.
    let mut c = cfg(&base.join("f1"), 3);
    c.lr = "0.9".into();
    one_line(&with(&rdir, c), "η = 1 in the run, 0.9 here");
    // Another instability step (the run's summary edited: same η and model).
    let edited = base.join("edited");
    std::fs::create_dir_all(&edited).unwrap();
    std::fs::copy(rdir.join("series.csv"), edited.join("series.csv")).unwrap();
    let mut js: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(rdir.join("summary.json")).unwrap()).unwrap();
    let step = js["instability_step"].as_u64().unwrap();
    js["instability_step"] = (step + 7).into();
    std::fs::write(edited.join("summary.json"), js.to_string()).unwrap();
    one_line(&with(&edited, cfg(&base.join("f2"), 3)), &format!("instability at GD step {} in the run, {step} here", step + 7));
    // Missing directory, corrupt series.
    one_line(&with(&base.join("nope"), cfg(&base.join("f3"), 3)), "summary.json");
    std::fs::write(edited.join("series.csv"), "t,loss_dagger,sharpness_dagger\n0,abc,1\n").unwrap();
    js["instability_step"] = step.into();
    std::fs::write(edited.join("summary.json"), js.to_string()).unwrap();
    one_line(&with(&edited, cfg(&base.join("f4"), 3)), "line 2: `abc` is not a number");
    std::fs::write(edited.join("series.csv"), "t,loss_gd\n0,1\n").unwrap();
    one_line(&with(&edited, cfg(&base.join("f5"), 3)), "no `loss_dagger` column");
    let _ = std::fs::remove_dir_all(&base);
}

/// `flow` takes every model `run` takes: the CNN and the width-1 model used to fall through to the
/// MLP (cnn: the flow of a 64-16-16-10 MLP under a cnn config; width1: "file not found").
#[test]
fn flow_runs_the_cnn_and_width1_models() {
    for (model, lr, needle) in [("cnn", "0.25", "cnn conv4"), ("width1", "2", "width1")] {
        let dir = std::env::temp_dir().join(format!("selfstab_flow_{model}_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let rc = RunConfig {
            model: Some(model.into()),
            lr: Some(Num::Text(lr.into())),
            n: Some(64),
            steps: Some(3),
            out: Some(dir.display().to_string()),
            ..RunConfig::default()
        };
        let c = config::resolve(&config::merge(None, rc)).unwrap();
        let s = flow(&c, &args()).unwrap_or_else(|e| panic!("{model}: {e}"));
        assert!(s.model.starts_with(needle), "{model}: the flow ran `{}`", s.model);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
