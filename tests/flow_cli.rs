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
    FlowArgs { substeps: 4, smooth: 2.0, form: Form::K, top_k: 4, sdcp_tol: None }
}

/// Toy-C from x₀ = 0.1δ (S(θ₀) = 2.0001, η = 1): writes every output. From t = 1 the flow holds
/// S(w) at 2/η: measured |S − 2|/2 ≤ 1.9e-7 (the off-diagonal a·x of the Hessian makes S nonlinear in
/// w while x decays, a second-order remainder per sub-step; bound 1e-6), SDCP residuals within tolerance.
#[test]
fn flow_writes_series_summary_and_figure_on_toy_c() {
    let dir = std::env::temp_dir().join(format!("selfstab_flow_cli_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let s = flow(&cfg(&dir, 30), &args()).unwrap();
    for f in ["flow_series.csv", "flow_series.npz", "flow_summary.json", "figures/flow.svg", "figures/flow.png", "config.toml"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let csv = std::fs::read_to_string(dir.join("flow_series.csv")).unwrap();
    assert_eq!(csv.lines().count(), 32, "header + 31 rows (t = 0..30)");
    assert!(csv.lines().next().unwrap().starts_with("t,loss_gd,grad_sq_gd,sharpness_gd,x2_gd"));
    println!("excess {:.3e}, residuals {:?}, critical {:?}", s.flow_sharpness_max_rel_excess, s.sdcp_max_residuals, s.critical_histogram);
    assert!(s.flow_sharpness_max_rel_excess <= 1e-6);
    assert!(s.sdcp_max_residuals.compl <= s.sdcp_tol && s.sdcp_max_residuals.psd_z <= s.sdcp_tol);
    assert_eq!(s.max_critical, 1);
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
