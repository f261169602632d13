//! Certified enclosure of the reduced map (issue 6 item 4; `src/enclosure.rs`).
//!
//! - every point orbit from the box stays in the enclosure (property test, pinned ChaCha seed),
//!   with the point orbits computed in MPFR at 64 bits more than the enclosure and in f64;
//! - the widths follow the documented first-order law w_{t+1} = |J(c_t)| w_t, whose rate at the
//!   period-2 orbit is ρ(|J|) = 1 + √2·h per step while true orbits separate at (1 + 2h²) per two steps;
//! - bad input is a one-line error naming the key;
//! - every interval operation contains the exact result of its points (outward rounding).
#![allow(clippy::disallowed_methods)] // test code may use std's libm (clippy.toml: library code may not)

mod common;

use std::sync::OnceLock;

use proptest::prelude::*;
use rug::Float;
use rug::float::Round;
use selfstab::enclosure::{EncloseSpec, Enclosure, Interval, enclose};
use selfstab::reduced_map::{ReducedMap, State, Workspace};
use selfstab::Scalar;

struct Case {
    spec: EncloseSpec,
    enc: Enclosure,
}

/// Three fixed enclosures: a generic orbit (H = 0.64) with a small box, a large box split 8×8
/// close to where the enclosure is lost, and a damped map (claim 11) off the period-2 orbit.
fn cases() -> &'static [Case] {
    static C: OnceLock<Vec<Case>> = OnceLock::new();
    C.get_or_init(|| {
        let mut a = EncloseSpec::new("0.05", "0.5", "0", "1e-6", 200);
        a.split = 2;
        a.bits = 128;
        let mut b = EncloseSpec::new("0.01", "0.5", "0", "1e-3", 600);
        b.split = 8;
        b.bits = 128;
        let mut c = EncloseSpec::new("0.02", "1.2", "0.3", "1e-4", 400);
        c.k = "0.01".into();
        c.split = 4;
        c.bits = 192;
        [a, b, c]
            .into_iter()
            .map(|spec| {
                let enc = enclose(&spec).unwrap();
                assert_eq!(enc.certified_steps, spec.steps, "setup: {spec:?} must be certified: {:?}", enc.lost);
                Case { spec, enc }
            })
            .collect()
    })
}


proptest! {
    #![proptest_config(common::pinned(64, 0x0e4c_105e))]

    /// A point (X₀ + u·r, Y₀ + v·r), |u|, |v| ≤ 0.999, iterated in MPFR at bits + 64 (its rounding,
    /// ≤ 2^−(bits+64) times the orbit's growth ≤ 1e6, is far below the margin 0.001·r kept from the
    /// box edge) and in f64 (rounding ≤ 1e-16·N·growth ≈ 1e-8·r for these cases, below the same
    /// margin), lies in the enclosure's hull at every step t ≤ N.
    #[test]
    fn enclosure_contains_every_point_orbit_mpfr_and_f64(which in 0usize..3, u in -0.999f64..0.999, v in -0.999f64..0.999) {
        let case = &cases()[which];
        let s = &case.spec;
        let p = s.bits + 64;
        let r = Float::parse_scalar(&s.radius, p);
        let x0 = Float::parse_scalar(&s.x0, p) + Float::with_val(p, u) * &r;
        let y0 = Float::parse_scalar(&s.y0, p) + Float::with_val(p, v) * &r;
        let map = ReducedMap::<Float>::parse(&s.h, &s.k, p).unwrap();
        let mut st = State::new(x0.clone(), y0.clone());
        let mut ws = Workspace::new(p);
        let map64 = ReducedMap::<f64>::parse(&s.h, &s.k, ()).unwrap();
        let mut st64 = State::new(x0.to_f64(), y0.to_f64());
        let mut ws64 = Workspace::new(());
        for t in 0..=s.steps as usize {
            if t > 0 {
                map.step(&mut st, &mut ws);
                map64.step(&mut st64, &mut ws64);
            }
            let hull = &case.enc.hulls[t];
            prop_assert!(hull.contains(&st.x, &st.y), "case {which}, t = {t}: MPFR point ({}, {}) outside [{:?}]", st.x.to_f64(), st.y.to_f64(), case.enc.rows[t]);
            let (xf, yf) = (Float::with_val(53, st64.x), Float::with_val(53, st64.y));
            prop_assert!(hull.contains(&xf, &yf), "case {which}, t = {t}: f64 point ({}, {}) outside [{:?}]", st64.x, st64.y, case.enc.rows[t]);
        }
    }
}

trait ParseScalar {
    fn parse_scalar(s: &str, p: u32) -> Float;
}
impl ParseScalar for Float {
    fn parse_scalar(s: &str, p: u32) -> Float {
        <Float as Scalar>::parse(s, p).unwrap()
    }
}

fn rel(a: f64, b: f64) -> f64 {
    (a / b - 1.0).abs()
}

/// At the period-2 orbit (X, Y) = (±1, 0) the absolute Jacobian is the constant M = [[1, h], [2h, 1]]
/// (ρ = 1 + √2h), so the interval widths are exactly M^t w₀ to first order, and the width growth per
/// unit τ is ln(1 + √2h)/h = √2 − h + O(h²); the true orbits separate by ‖∏J‖ ∈ [(1+2h²)^{t/2},
/// √2·(1+2h²)^{t/2}] (a focus whose eigenvector matrix has condition number √2).
#[test]
fn enclosure_width_grows_like_abs_jacobian_at_period_two_orbit() {
    for (h, hf) in [("0.02", 0.02f64), ("0.01", 0.01), ("0.005", 0.005)] {
        let n = (20.0 / hf).round() as u64;
        let mut spec = EncloseSpec::new(h, "1", "0", "1e-30", n);
        spec.bits = 256;
        let e = enclose(&spec).unwrap();
        assert_eq!(e.certified_steps, n);
        // First-order law, step by step. Error budget: second-order terms are relative O(w) ≤ 1e-17
        // (w ≤ 2e-30·e^{√2·20} ≈ 4e-18), rounding 2^-256/w negligible, and the f64 prediction's own
        // rounding ≤ N·1e-16 ≤ 4e-13 relative: 1e-12 (measured ≤ 3.7e-15).
        let worst = e.rows.iter().map(|r| rel(r.width_x, r.linear_width_x).max(rel(r.width_y, r.linear_width_y))).fold(0.0f64, f64::max);
        assert!(worst <= 1e-12, "h = {h}: widths differ from |J|-products by {worst:e}");
        // Rate: (1/τ) ln ρ(M)^N = ln(1+√2h)/h exactly for the law; the fitted slope of ln width
        // also carries the alignment transient of w₀ = (2r, 2r) with M's Perron vector (1, √2),
        // an O(1) offset in ln width (at most ln √2 = 0.35) fitted over τ = 20, at most 0.35/20 = 0.017
        // in the slope: measured 0.0009–0.0010 (1.3955 vs 1.3946, 1.4052 vs 1.4043, 1.4102 vs 1.4092
        // at h = 0.02, 0.01, 0.005); bound 0.005.
        let law = (1.0 + std::f64::consts::SQRT_2 * hf).ln() / hf;
        assert!(rel(e.rate_law, law) <= 1e-12, "h = {h}: rate_law {} vs {law}", e.rate_law);
        assert!((e.rate_measured - law).abs() <= 0.005, "h = {h}: fitted rate {} vs law {law}", e.rate_measured);
        // Wrapping versus true spreading.
        let focus = (n as f64 / 2.0) * (1.0 + 2.0 * hf * hf).ln();
        let lp = e.point_spread.ln();
        assert!(lp >= focus - 1e-9 && lp <= focus + 0.5 * 2f64.ln() + 1e-9, "h = {h}: ln‖∏J‖ = {lp}, focus {focus}");
        let li = e.interval_spread.ln();
        let ln_rho = n as f64 * (1.0 + std::f64::consts::SQRT_2 * hf).ln();
        assert!(li >= ln_rho - 1e-9 && li <= ln_rho + 0.5 * 2f64.ln() + 1e-9, "h = {h}: ln‖∏|J|‖ = {li}, {ln_rho}");
        eprintln!(
            "h = {h}: N = {n}, width {:e} -> {:e}, rate fit {:.4}, law {law:.4}, point spread {:.4}, interval spread {:e}, max rel dev from law {worst:e}",
            e.rows[0].width_x, e.rows[n as usize].width_y, e.rate_measured, e.point_spread, e.interval_spread
        );
    }
}

/// Off the period-2 orbit the same first-order law holds step by step along each sub-box's
/// midpoints, and splitting into m × m sub-boxes divides every width by m (the rate is unchanged).
#[test]
fn enclosure_width_law_on_generic_orbit_and_split_divides_width() {
    let mut one = EncloseSpec::new("0.01", "0.5", "0", "1e-30", 2000);
    one.bits = 256;
    let mut four = one.clone();
    four.split = 4;
    let (e1, e4) = (enclose(&one).unwrap(), enclose(&four).unwrap());
    assert_eq!((e1.certified_steps, e4.certified_steps), (2000, 2000));
    // Same error budget as at the period-2 orbit (widths ≤ 1e-18 here; the f64 prediction's
    // rounding ≤ N·1e-16 = 2e-13 for N = 2000): 1e-12.
    for e in [&e1, &e4] {
        let worst = e.rows.iter().map(|r| rel(r.width_x, r.linear_width_x).max(rel(r.width_y, r.linear_width_y))).fold(0.0f64, f64::max);
        eprintln!("split {}: max relative deviation from the |J|-product law {worst:e}", e.spec.split);
        assert!(worst <= 1e-12, "split {}: widths differ from |J|-products by {worst:e}", e.spec.split);
    }
    // Split: sub-box widths are w/4 (edges rounded outward by ≤ 2^-256 relative), and the
    // sub-box midpoints differ by ≤ 1e-30, so the |J| products agree to ≤ 1e-12 relative.
    let worst = e1.rows.iter().zip(&e4.rows).map(|(a, b)| rel(a.width_x, 4.0 * b.width_x).max(rel(a.width_y, 4.0 * b.width_y))).fold(0.0f64, f64::max);
    eprintln!("split 1 vs 4: widths differ from the factor 4 by {worst:e}");
    assert!(worst <= 1e-12, "split 4 does not divide the widths by 4: {worst:e}");
    // The law's rate is √2·mean|X| up to the Y/2 and O(h) terms of ρ(|J|): within 10 %.
    assert!(rel(e1.rate_law, e1.rate_leading) <= 0.1, "law {} vs √2·mean|X| {}", e1.rate_law, e1.rate_leading);
    eprintln!("generic orbit (0.5, 0), h = 0.01, N = 2000: rate fit {:.4}, law {:.4}, √2·mean|X| {:.4}, point spread {:.3}, interval spread {:e}",
        e1.rate_measured, e1.rate_law, e1.rate_leading, e1.point_spread, e1.interval_spread);
}

/// The proof statement carries the bounds, and the bounds enclose the hulls.
#[test]
fn enclosure_statement_bounds_contain_every_hull() {
    let e = &cases()[1].enc;
    for r in &e.rows {
        assert!(r.x_lo >= -e.abs_x_max && r.x_hi <= e.abs_x_max && r.y_lo >= e.y_min && r.y_hi <= e.y_max);
    }
    let s = e.statement();
    assert!(s.contains("h = 0.01") && s.contains("t ≤ 600") && s.contains(&selfstab::enclosure::dec_up(e.abs_x_max)), "{s}");
    // The printed decimals are outward too: read back exactly (at 256 bits), the upper bounds are ≥
    // every hull's MPFR endpoint and the lower ones ≤. (Printing the shortest round-trip text, `{:e}`,
    // gave bounds inside the certified ones: 0.147074778087181 < 0.14707477808718100172…)
    let read = |t: &str| Float::with_val(256, Float::parse(t).unwrap());
    let (a, lo, hi) = (read(&selfstab::enclosure::dec_up(e.abs_x_max)), read(&selfstab::enclosure::dec_down(e.y_min)), read(&selfstab::enclosure::dec_up(e.y_max)));
    for hb in &e.hulls {
        assert!(hb.x.hi <= a && -hb.x.lo.clone() <= a && hb.y.lo >= lo && hb.y.hi <= hi);
    }
    for (x, up) in [(0.147074778087181_f64, true), (1.2856502444147306, true), (-0.15416405947829295, false)] {
        let t = if up { selfstab::enclosure::dec_up(x) } else { selfstab::enclosure::dec_down(x) };
        let v = read(&t);
        assert!(if up { v >= x } else { v <= x }, "{t} is not outward of {x:e}");
    }
    // A box that cannot be certified for the whole horizon says so and certifies a prefix.
    let mut big = EncloseSpec::new("0.01", "0.5", "0", "1e-3", 2000);
    big.bits = 128;
    let lost = enclose(&big).unwrap();
    assert!(lost.certified_steps < 2000 && lost.lost.is_some() && lost.statement().contains("not certified beyond"));
    assert_eq!(lost.rows.len() as u64, lost.certified_steps + 1);
    // Nothing certified past t = 0 (h = 1e300 throws the box out at once): the rates are undefined
    // and summary.md says "—", not NaN.
    let none = enclose(&EncloseSpec::new("1e300", "0.5", "0", "1e-3", 10)).unwrap();
    let md = selfstab::enclosure::markdown(&none);
    assert!(none.certified_steps == 0 && md.contains("| certified steps | 0 of 10 |") && !md.contains("NaN"), "{md}");
}

#[test]
fn enclosure_bad_input_is_a_one_line_error_naming_the_key() {
    let base = EncloseSpec::new("0.01", "0.5", "0", "1e-6", 10);
    let mut bad: Vec<(EncloseSpec, &str)> = Vec::new();
    let mut s = base.clone();
    s.radius = "-1e-6".into();
    bad.push((s, "radius"));
    for (h, _) in [("0", 0), ("-0.1", 0), ("abc", 0), ("NaN", 0), ("inf", 0)] {
        let mut s = base.clone();
        s.h = h.into();
        bad.push((s, "`h`"));
    }
    let mut s = base.clone();
    s.x0 = "NaN".into();
    bad.push((s, "x0"));
    let mut s = base.clone();
    s.y0 = "".into();
    bad.push((s, "y0"));
    let mut s = base.clone();
    s.steps = 0;
    bad.push((s, "steps"));
    let mut s = base.clone();
    s.split = 0;
    bad.push((s, "split"));
    let mut s = base.clone();
    s.bits = 10;
    bad.push((s, "bits"));
    let mut s = base.clone();
    s.k = "2".into();
    bad.push((s, "`k`"));
    let mut s = base.clone();
    s.max_width = f64::NAN;
    bad.push((s, "max_width"));
    // More steps than MAX_MEMORY holds (every certified step keeps its row and hull).
    let mut s = base.clone();
    s.steps = 1_000_000_000;
    bad.push((s, "steps"));
    // A starting box already wider than max_width: nothing is certified, not even t = 0 (this
    // used to panic; a library caller got a statement "for all t ≤ u64::MAX").
    let mut s = base.clone();
    s.radius = "1".into();
    bad.push((s, "radius"));
    for (s, key) in bad {
        let msg = enclose(&s).unwrap_err().to_string();
        assert!(msg.contains(key) && !msg.contains('\n'), "{s:?}: `{msg}` should name {key}");
    }
}

#[test]
fn a_box_whose_bounds_leave_the_f64_range_is_not_certified() {
    // The bounds are reported as f64 values rounded outward. At h = 1e150 from (1e100, 1e100) the
    // first step's box is finite at 4096 bits (|X₁| ≈ 1e250, Y₁ ≈ −1e350) but Y₁ is beyond f64's
    // range: that step is not certified, with the reason (before, it was "certified" with
    // |X_t| ≤ inf and Y_t ∈ [−inf, …]; fuzz review). Also with a max_width that would allow it.
    let mut spec = EncloseSpec::new("1e150", "1e100", "1e100", "0", 3);
    spec.bits = 4096;
    spec.max_width = 1e308;
    let e = enclose(&spec).unwrap();
    assert_eq!(e.certified_steps, 0, "lost: {:?}", e.lost);
    assert!(e.lost.as_deref().unwrap_or("").contains("leaves the f64 range"), "{:?}", e.lost);
    assert!(e.abs_x_max.is_finite() && e.y_min.is_finite() && e.y_max.is_finite());
    assert!(e.statement().contains("for all t ≤ 0") && !e.statement().contains("inf"), "{}", e.statement());
}

#[test]
fn an_enclose_that_fails_while_writing_leaves_no_file_of_the_earlier_set() {
    // A job writes its files one after another; killed or failing (a full disk) midway, it must not
    // leave its new enclosure.csv beside an earlier job's summary (review: a SIGKILL left the new
    // csv beside the old h's summary.json). Here the earlier set is written with h = 0.01, then
    // summary.md is made a directory so that the second job (h = 0.02) fails writing it.
    let out = std::env::temp_dir().join(format!("selfstab_enclose_mixed_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let enclose = |h: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_selfstab"))
            .args(["enclose", "--h", h, "--x0", "1", "--y0", "0", "--radius", "1e-20", "--steps", "5", "--bits", "128", "--out"])
            .arg(&out)
            .output()
            .unwrap()
    };
    assert!(enclose("0.01").status.success());
    assert!(out.join("summary.json").exists());
    std::fs::remove_file(out.join("summary.md")).unwrap();
    std::fs::create_dir(out.join("summary.md")).unwrap();
    let o = enclose("0.02");
    assert!(!o.status.success(), "the write into a directory did not fail");
    let csv = std::fs::read_to_string(out.join("enclosure.csv")).unwrap();
    assert!(!out.join("summary.json").exists(), "the earlier job's summary.json is left beside the new enclosure.csv:\n{csv}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn enclose_cli_writes_csv_and_summary() {
    let out = std::env::temp_dir().join(format!("selfstab_enclose_{}", std::process::id()));
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_selfstab"))
        .args(["enclose", "--h", "0.05", "--x0", "1", "--y0", "0", "--radius", "1e-20", "--steps", "40", "--split", "2", "--bits", "128", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let csv = std::fs::read_to_string(out.join("enclosure.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 41);
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(json["certified_steps"], 40);
    // At the period-2 orbit |X_t| ≤ 1 + O(width): A − 1 ≤ 1e-15 for widths ≈ 2e-20·e^{√2·2}.
    let a = json["abs_x_max"].as_f64().unwrap();
    assert!((1.0..=1.0 + 1e-15).contains(&a), "A = {a}");
    // The decimal twins are rounded outward from the f64 bounds (exact comparison at 256 bits; an
    // f64's shortest decimal may lie inside the bound), and they are the statement's digits.
    let exact = |k: &str| rug::Float::with_val(256, rug::Float::parse(json[k].as_str().unwrap()).unwrap());
    let statement = json["statement"].as_str().unwrap();
    for (k, f, up) in [("abs_x_max", "abs_x_max_decimal", true), ("y_min", "y_min_decimal", false), ("y_max", "y_max_decimal", true)] {
        let (bound, dec) = (json[k].as_f64().unwrap(), exact(f));
        assert!(if up { dec >= bound } else { dec <= bound }, "{f} = {dec} is inside {k} = {bound:e}");
        assert!(statement.contains(json[f].as_str().unwrap()), "{f} not in the statement");
    }
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_selfstab"))
        .args(["enclose", "--h", "0.05", "--x0", "1", "--y0", "0", "--radius=-1", "--steps", "4", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && err.contains("radius"), "{err}");
    // Negative numbers are values, also after a space (`--x0 -0.5`), not flags.
    let neg = std::process::Command::new(env!("CARGO_BIN_EXE_selfstab"))
        .args(["enclose", "--h", "0.05", "--x0", "-1", "--y0", "0", "--radius", "-1", "--steps", "4", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&neg.stderr);
    assert!(!neg.status.success() && err.contains("radius") && err.contains("≥ 0"), "{err}");
    let _ = std::fs::remove_dir_all(&out);
}

/// An interval at 24 bits from two f64 (any order), endpoints rounded outward, and points of it:
/// both endpoints, the midpoint and a point at fraction `t`, each representable at 24 bits.
fn interval_and_points(a: f64, b: f64, t: f64) -> (Interval, Vec<Float>) {
    const P: u32 = 24;
    let iv = Interval { lo: Float::with_val_round(P, a.min(b), Round::Down).0, hi: Float::with_val_round(P, a.max(b), Round::Up).0 };
    let at = |f: f64| Float::with_val(P, Float::with_val(400, &iv.hi - &iv.lo) * f + &iv.lo);
    let pts = vec![iv.lo.clone(), iv.hi.clone(), at(0.5), at(t)];
    (iv, pts)
}

fn signed_magnitude() -> impl Strategy<Value = f64> {
    (-20.0f64..3.0, any::<bool>()).prop_map(|(e, neg)| if neg { -(10f64.powf(e)) } else { 10f64.powf(e) })
}

proptest! {
    #![proptest_config(common::pinned(512, 0x5e1f_57ab))]
    /// The enclosure's soundness rests on outward rounding: x ∈ X, y ∈ Y ⇒ x ∘ y ∈ X ∘ Y for the
    /// exact x ∘ y (at 400 bits, exact for 24-bit points of these magnitudes), for sum,
    /// difference, product, square, negation and ball, at 24 bits where most results round.
    /// (Mutation audit round 2: a sum's upper end rounded down, and a straddling square's
    /// upper end taken as u² alone, passed every other test.)
    #[test]
    fn interval_operations_contain_every_exact_result(
        a in signed_magnitude(), b in signed_magnitude(), c in signed_magnitude(), d in signed_magnitude(),
        t in 0.0f64..1.0, s in 0.0f64..1.0,
    ) {
        const P: u32 = 24;
        let (x, xs) = interval_and_points(a, b, t);
        let (y, ys) = interval_and_points(c, d, s);
        let (sum, diff, prod, sq, neg) = (x.add(&y, P), x.sub(&y, P), x.mul(&y, P), x.sqr(P), x.neg());
        let r = Interval { lo: Float::with_val(P, 0), hi: y.hi.clone().abs() };
        let ball = Interval::ball(&x, &r, P);
        for xi in &xs {
            prop_assert!(sq.contains(&Float::with_val(400, xi * xi)), "{xi}² ∉ [{}, {}]", sq.lo, sq.hi);
            prop_assert!(neg.contains(&Float::with_val(400, -xi)));
            for yi in &ys {
                prop_assert!(sum.contains(&Float::with_val(400, xi + yi)), "{xi} + {yi} ∉ [{}, {}]", sum.lo, sum.hi);
                prop_assert!(diff.contains(&Float::with_val(400, xi - yi)), "{xi} − {yi} ∉ [{}, {}]", diff.lo, diff.hi);
                prop_assert!(prod.contains(&Float::with_val(400, xi * yi)), "{xi} · {yi} ∉ [{}, {}]", prod.lo, prod.hi);
                let shift = Float::with_val(400, yi.clone().abs().min(&r.hi));
                prop_assert!(ball.contains(&Float::with_val(400, xi + &shift)) && ball.contains(&Float::with_val(400, xi - &shift)));
            }
        }
    }
}
