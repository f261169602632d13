//! `selfstab order CLAIM`: the convergence-order study CLI (decisions.md §6).

use std::path::PathBuf;
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("selfstab-order-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The number after `label` in a line of the report, e.g. "- fitted slope: 1.0161 ± 0.0093".
fn number_after(md: &str, label: &str) -> f64 {
    let line = md.lines().find(|l| l.contains(label)).unwrap_or_else(|| panic!("no `{label}` in:\n{md}"));
    let rest = &line[line.find(label).unwrap() + label.len()..];
    rest.split_whitespace().next().unwrap().parse().unwrap_or_else(|_| panic!("bad number in `{line}`"))
}

#[test]
fn order_6_quick_writes_table_fit_and_figures_with_first_order_slope() {
    let out = tmp("six");
    let o = Command::new(env!("CARGO_BIN_EXE_selfstab")).args(["order", "6", "--quick", "--out"]).arg(&out).output().unwrap();
    assert!(o.status.success(), "order 6 failed: {}", String::from_utf8_lossy(&o.stderr));
    for ext in ["csv", "md", "svg", "png"] {
        let p = out.join(format!("order_06.{ext}"));
        assert!(std::fs::metadata(&p).map(|m| m.len() > 0).unwrap_or(false), "missing or empty {}", p.display());
    }
    // CSV: header and ≥ 8 (h, error) rows, h decreasing geometrically (1e-2 … 1e-6), errors > 0.
    let csv = std::fs::read_to_string(out.join("order_06.csv")).unwrap();
    let rows: Vec<(f64, f64)> = csv.lines().skip(1).map(|l| {
        let (a, b) = l.split_once(',').unwrap();
        (a.parse().unwrap(), b.parse().unwrap())
    }).collect();
    assert_eq!(csv.lines().next(), Some("h,error"));
    assert!(rows.len() >= 8, "{} rows", rows.len());
    assert!(rows.windows(2).all(|w| w[1].0 < w[0].0 && w[1].1 > 0.0), "{rows:?}");
    // Claim 6 predicts order 1; over h = 1e-2 … 1e-6 the drift/h goes 29.15 → 24.19 (claim 6's
    // measurements), a pre-asymptotic bend of ln(29.15/24.19)/ln(1e4) ≈ 0.02 in the slope: the
    // fitted slope must be within 0.1 of 1 (the pass band of decisions.md §6).
    let md = std::fs::read_to_string(out.join("order_06.md")).unwrap();
    let slope = number_after(&md, "fitted slope:");
    let se = number_after(&md, "±");
    eprintln!("order 6 --quick: slope {slope} ± {se}");
    assert!((slope - 1.0).abs() <= 0.1, "slope {slope}");
    // The SE is the fit's own scatter around the line (the bend above): measured 0.0057 (slope
    // 1.0144); bound 0.02, so a noisy or non-monotone drift would show.
    assert!(se > 0.0 && se <= 0.02, "SE {se}");
    assert!(md.contains("- verdict: pass") && md.contains("- precision: f64"), "{md}");
    // The CSV and the table in the report are the same run: the fit recomputed from the CSV agrees.
    let (hs, es): (Vec<f64>, Vec<f64>) = rows.into_iter().unzip();
    let fit = selfstab::reduced_map::loglog_fit(&hs, &es).unwrap();
    assert!((fit.slope - slope).abs() <= 5e-5, "{} vs {slope} (4 decimals printed)", fit.slope);
    let svg = std::fs::read_to_string(out.join("order_06.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("reference slope 1"), "svg");
    assert_eq!(svg.matches("<circle").count(), hs.len() + 1, "one marker per point plus the legend's");
}

#[test]
fn order_99_fails_naming_the_supported_claims() {
    let out = tmp("bad");
    for bad in ["99", "six"] {
        let o = Command::new(env!("CARGO_BIN_EXE_selfstab")).args(["order", bad, "--out"]).arg(&out).output().unwrap();
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(&format!("`{bad}`")) && err.contains("6, 18, 20, 21"), "{err}");
        assert!(!out.exists(), "nothing is written for a bad claim");
    }
}
