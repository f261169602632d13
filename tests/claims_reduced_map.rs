//! Claims 4–11 (claims.md group B): the reduced map
//! $X_{t+1}=-(1+hY_t)X_t,\ Y_{t+1}=Y_t+h(1-X_t^2)\,[-kY_t]$ (reference.md §2–§3).
//!
//! Every tolerance is derived in a comment (rounding analysis of the documented operation order of
//! `ReducedMap::step`, or a measured and explained error budget); measured values are recorded
//! next to the assertion. Property tests use a pinned ChaCha seed so a failure reproduces.
#![allow(clippy::disallowed_methods)] // test code may use std's libm (clippy.toml: library code may not)

mod common;

use std::ops::ControlFlow;

use proptest::prelude::*;
use rug::Float;
use selfstab::reduced_map::*;
use selfstab::scalar::Scalar;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Pinned property-test configuration (decisions.md §9 ranges are in each strategy).
fn pinned(cases: u32) -> ProptestConfig {
    common::pinned(cases, 0x5e1f_57ab)
}

/// Exact lift of a working-precision value to an MPFR value of `p ≥` its precision bits.
trait Lift: Scalar {
    fn lift(&self, p: u32) -> Float;
}
impl Lift for f64 {
    fn lift(&self, p: u32) -> Float {
        Float::with_val(p, *self)
    }
}
impl Lift for Float {
    fn lift(&self, p: u32) -> Float {
        Float::with_val(p, self)
    }
}

/// Unit roundoff u = 2^-bits (round to nearest: |fl(x) − x| ≤ u|x|).
fn unit_roundoff<S: Scalar>(c: S::Ctx) -> f64 {
    S::eps(c) / 2.0
}

/// Geometric grid of `n` points from `hi` down to `lo`.
fn geometric(hi: f64, lo: f64, n: usize) -> Vec<f64> {
    (0..n).map(|k| hi * (lo / hi).powf(k as f64 / (n - 1) as f64)).collect()
}

/// Shortest decimal text of an f64 (so MPFR parses the same decimal the f64 run rounds).
fn dec(x: f64) -> String {
    format!("{x:e}")
}

// ---------------------------------------------------------------------------------------------
// Claim 4: stages — exact sign facts of one step, and the cyclic order of the stages
// ---------------------------------------------------------------------------------------------

/// One step from (x, y) and the sign facts of claim 4, which hold for the rounded map too because
/// every operation is monotone under round-to-nearest:
/// - hY > −2 and Y > 0 ⇒ |X'| ≥ |X|; Y < 0 ⇒ |X'| ≤ |X|; strict once |hY| ≥ 4u·2 (then
///   fl(1 + hY) differs from 1 by ≥ 3 ulps and the product moves by ≥ 1 ulp of |X|, X normal);
/// - X² > 1 ⇒ Y' ≤ Y; X² < 1 ⇒ Y' ≥ Y; strict once |X² − 1| ≥ 8u and h|X² − 1| ≥ 8u|Y| (the
///   increment then exceeds 2 ulps of Y);
/// - Y' − Y = h(1 − X²) up to 4u(|Y| + h(1 + X²)) (three roundings of the increment, one of the sum).
fn check_one_step<S: Lift>(h: &S, x: &S, y: &S) -> Result<(), TestCaseError> {
    let c = h.ctx();
    let u = unit_roundoff::<S>(c);
    let map = ReducedMap::new(h.clone()).unwrap();
    let mut s = map.state(x.clone(), y.clone()).unwrap();
    let st = stage(&s);
    let mut ws = Workspace::new(c);
    map.step(&mut s, &mut ws);
    let (xf, yf, hf) = (x.to_f64(), y.to_f64(), h.to_f64());
    let (ax, ax1) = (x.abs(), s.x.abs());
    let x2 = x.clone() * x;
    let one = S::one(c);
    prop_assume!(hf * yf > -2.0);
    if yf > 0.0 {
        prop_assert!(ax1 >= ax, "Y>0 but |X| fell: {xf} -> {}", s.x.to_f64());
        if hf * yf >= 8.0 * u {
            prop_assert!(ax1 > ax, "Y>0 (hY = {}) but |X| did not grow", hf * yf);
        }
    } else if yf < 0.0 {
        prop_assert!(ax1 <= ax, "Y<0 but |X| grew: {xf} -> {}", s.x.to_f64());
        if hf * yf <= -8.0 * u {
            prop_assert!(ax1 < ax, "Y<0 (hY = {}) but |X| did not shrink", hf * yf);
        }
    }
    let dq = (x2.clone() - &one).to_f64();
    let strict = dq.abs() >= 8.0 * u && hf * dq.abs() >= 8.0 * u * yf.abs();
    if x2 > one {
        prop_assert!(s.y <= *y, "X²>1 but Y rose");
        if strict {
            prop_assert!(s.y < *y, "X²>1 but Y did not fall");
        }
    } else if x2 < one {
        prop_assert!(s.y >= *y, "X²<1 but Y fell");
        if strict {
            prop_assert!(s.y > *y, "X²<1 but Y did not rise");
        }
    }
    let p = 1024;
    let dy = Float::with_val(p, s.y.lift(p) - y.lift(p));
    let xl = x.lift(p);
    let want = Float::with_val(p, 1 - Float::with_val(p, &xl * &xl)) * h.lift(p);
    let err = Float::with_val(p, &dy - &want).to_f64().abs();
    let tol = 4.0 * u * (yf.abs() + hf * (1.0 + xf * xf)) * 1.01;
    prop_assert!(err <= tol, "ΔY = {:e}, h(1−X²) = {:e}, tol {tol:e}", dy.to_f64(), want.to_f64());
    // The stage's defining sign facts (see `Stage`): each stage moves as its table row says.
    match st {
        Stage::ProgressiveSharpening => prop_assert!(s.y >= *y && ax1 <= ax),
        Stage::Blowup => prop_assert!(s.y >= *y && ax1 >= ax),
        Stage::SelfStabilization => prop_assert!(s.y <= *y && ax1 >= ax),
        Stage::ReturnToStability => prop_assert!(s.y <= *y && ax1 <= ax),
    }
    Ok(())
}

fn arb_step_input() -> impl Strategy<Value = (f64, f64, f64)> {
    // h ∈ [1e-3, 0.05] (decisions.md §9); |X| log-uniform in [1e-8, 4] with either sign; hY in
    // (−2, 2) so the condition hY > −2 is exercised up to its edge.
    (
        (-3.0f64..(0.05f64).log10()).prop_map(|e| 10f64.powf(e)),
        (-8.0f64..(4.0f64).log10(), any::<bool>()).prop_map(|(e, neg)| if neg { -10f64.powf(e) } else { 10f64.powf(e) }),
        -1.999f64..2.0,
    )
        .prop_map(|(h, x, hy)| (h, x, hy / h))
}

proptest! {
    #![proptest_config(pinned(512))]
    #[test]
    fn claim_04_one_step_sign_facts_f64((h, x, y) in arb_step_input()) {
        check_one_step::<f64>(&h, &x, &y)?;
    }
}

proptest! {
    #![proptest_config(pinned(128))]
    #[test]
    fn claim_04_one_step_sign_facts_mpfr256((h, x, y) in arb_step_input()) {
        let c = 256;
        let hm = Float::parse(dec(h)).map(|p| Float::with_val(c, p)).unwrap();
        check_one_step::<Float>(&hm, &Float::with_val(c, x), &Float::with_val(c, y))?;
    }
}

/// From (ξ, 0) over hN ≤ 20: the stages follow each other in the cyclic order 1→2→3→4→1 without
/// skipping (a consequence of the sign facts: e.g. in stage 2, Y' ≥ Y > 0, so the next state is in
/// stage 2 or 3), the orbit starts in stage 1, and while X² ≤ 10⁻² the sharpness rises by
/// h(1 − X²) ∈ [h(1 − 10⁻²), h] per step up to rounding.
fn check_orbit_stages(h: f64, xi: f64) -> Result<(), TestCaseError> {
    let map = ReducedMap::new(h).unwrap();
    let n = (20.0 / h).floor() as usize;
    let tr = Trajectory::run(&map, &State::new(xi, 0.0), n).expect("trajectory");
    let stages = tr.stages();
    prop_assert_eq!(stages[0], Stage::ProgressiveSharpening);
    let mut visited = 1;
    for w in stages.windows(2) {
        prop_assert!(w[1] == w[0] || w[1] == w[0].next(), "stage jump {:?} -> {:?}", w[0], w[1]);
        if w[1] != w[0] {
            visited += 1;
        }
    }
    // τ = 20 spans several cycles (T_τ ≥ π√2): every stage is visited.
    prop_assert!(visited >= 4, "only {visited} stage entries");
    let u = f64::EPSILON / 2.0;
    for t in 0..n {
        let x2 = tr.x[t] * tr.x[t];
        if x2 <= 1e-2 {
            let dy = tr.y[t + 1] - tr.y[t];
            let tol = 4.0 * u * (tr.y[t].abs() + h) * 1.01 + u * tr.y[t + 1].abs();
            prop_assert!(dy <= h + tol && dy >= h * (1.0 - 1e-2) - tol, "ΔY/h = {} at X² = {x2:e}", dy / h);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(pinned(48))]
    #[test]
    fn claim_04_stages_cycle_in_order_f64(
        h in (-3.0f64..(0.05f64).log10()).prop_map(|e| 10f64.powf(e)),
        xi in (-8.0f64..(0.5f64).log10()).prop_map(|e| 10f64.powf(e)),
    ) {
        check_orbit_stages(h, xi)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Claim 5: the two telescoping identities at rounding level
// ---------------------------------------------------------------------------------------------

/// Residuals of the identities of claim 5 on the computed orbit, evaluated exactly (at
/// P = 2·bits + 128 bits, where the N-term sums and logs add ≤ N·2^-P), and their rigorous
/// a-posteriori bounds from the operation order of `ReducedMap::step` (u = unit roundoff):
/// - Y' = fl(Y − fl(h·fl(fl(X²) − 1))) gives |Y_{t+1} − Y_t + h(X_t² − 1)| ≤
///   (1+4u)·u·(|Y_{t+1}| + hX_t² + 2h|X_t² − 1|), so
///   |Σ(X_t² − 1) + (Y_N − Y_0)/h| ≤ B₁ = 1.01·(u/h)·Σ_t(|Y_{t+1}| + hX_t² + 2h|X_t² − 1|);
/// - X' = −fl(fl(1 + fl(hY))·X) gives log|X_{t+1}/X_t| = log|1 + hY_t| + ε_t with
///   |ε_t| ≤ (1+4u)·u·(2 + |hY_t/(1 + hY_t)|), so the second residual is ≤ B₂ = 1.01·u·Σ_t(2 + |hY_t/(1+hY_t)|).
///
/// B = c·N·u with c = O(max|Y|) for B₁ and c ≈ 2 for B₂.
struct Telescoping {
    r1: f64,
    b1: f64,
    r2: f64,
    b2: f64,
}

fn telescoping<S: Lift>(map: &ReducedMap<S>, s0: &State<S>, n: usize) -> Telescoping {
    let c = map.ctx();
    let bits = S::bits(c);
    let p = 2 * bits + 128;
    let u = unit_roundoff::<S>(c);
    let tr = Trajectory::run(map, s0, n).expect("trajectory");
    let h = map.h().lift(p);
    let hf = map.h().to_f64();
    let one = Float::with_val(p, 1);
    let mut sum_q = Float::with_val(p, 0);
    let mut sum_log = Float::with_val(p, 0);
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for t in 0..n {
        let x = tr.x[t].lift(p);
        let y = tr.y[t].lift(p);
        let x2 = Float::with_val(p, &x * &x);
        sum_q += Float::with_val(p, &x2 - &one);
        let hy = Float::with_val(p, &h * &y);
        let arg = Float::with_val(p, &hy + &one);
        sum_log += Float::with_val(p, arg.abs_ref()).ln();
        let (x2f, hyf) = (x2.to_f64(), hy.to_f64());
        s1 += tr.y[t + 1].to_f64().abs() + hf * x2f + 2.0 * hf * (x2f - 1.0).abs();
        s2 += 2.0 + (hyf / (1.0 + hyf)).abs();
    }
    let dy = Float::with_val(p, tr.y[n].lift(p) - tr.y[0].lift(p));
    let r1 = Float::with_val(p, &sum_q + Float::with_val(p, &dy / &h)).to_f64().abs();
    let ratio = Float::with_val(p, tr.x[n].lift(p) / tr.x[0].lift(p));
    let r2 = Float::with_val(p, &sum_log - Float::with_val(p, ratio.abs_ref()).ln()).to_f64().abs();
    Telescoping { r1, b1: 1.01 * u / hf * s1, r2, b2: 1.01 * u * s2 }
}

fn claim_05_case<S: Lift>(c: S::Ctx) -> (f64, f64) {
    // h = 0.01, from (ξ, 0) = (0.1, 0), N = 2000 steps (τ = 20, four cycles, H₀ = 3.6).
    let map = ReducedMap::<S>::parse("0.01", "0", c).unwrap();
    let s0 = map.state(S::parse("0.1", c).unwrap(), S::zero(c)).unwrap();
    let n = 2000;
    let t = telescoping(&map, &s0, n);
    assert!(t.r1 <= t.b1, "claim 5 (Σ(X²−1) = −ΔY/h) at {}: residual {:e} > bound {:e}", S::precision_name(c), t.r1, t.b1);
    assert!(t.r2 <= t.b2, "claim 5 (Σlog|1+hY| = log|X_N/X_0|) at {}: residual {:e} > bound {:e}", S::precision_name(c), t.r2, t.b2);
    // The residuals in units of N·u: the constant C of decisions.md §6.
    let u = unit_roundoff::<S>(c);
    (t.r1 / (n as f64 * u), t.r2 / (n as f64 * u))
}

#[test]
fn claim_05_telescoping_identities_f64_mpfr256_mpfr1024() {
    // Measured C = residual/(N·u) for the two identities: f64 (0.352, 0.0046), 256 bits
    // (0.223, 0.0039), 1024 bits (0.761, 0.0038). Rounding errors partly cancel (random signs), so
    // C is below the worst-case constants (B₁/(N·u) ≈ 2.2, B₂/(N·u) ≈ 2.0) at every precision, and
    // C agrees within a factor 4 across f64, 256 and 1024 bits (decisions.md §6; measured 3.4 and 1.2).
    let f = claim_05_case::<f64>(());
    let m256 = claim_05_case::<Float>(256);
    let m1024 = claim_05_case::<Float>(1024);
    eprintln!("claim 5: C(f64) = {f:?}, C(256) = {m256:?}, C(1024) = {m1024:?}");
    for (name, cc) in [("f64", f), ("256", m256), ("1024", m1024)] {
        assert!(cc.0 <= 2.5 && cc.1 <= 2.5, "{name}: C = {cc:?} above the worst-case constant");
    }
    for pick in [|c: (f64, f64)| c.0, |c: (f64, f64)| c.1] {
        let v = [pick(f), pick(m256), pick(m1024)];
        let (lo, hi) = (v.iter().cloned().fold(f64::MAX, f64::min), v.iter().cloned().fold(0.0, f64::max));
        assert!(hi <= 4.0 * lo, "claim 5: C differs by more than a factor 4 across precisions: {v:?}");
    }
}

proptest! {
    #![proptest_config(pinned(32))]
    /// Over the decisions.md §9 ranges, in f64 while X stays normal.
    #[test]
    fn claim_05_telescoping_identities_property_f64(
        h in (-3.0f64..(0.05f64).log10()).prop_map(|e| 10f64.powf(e)),
        xi in (-8.0f64..(0.5f64).log10()).prop_map(|e| 10f64.powf(e)),
        frac in 0.05f64..1.0,
    ) {
        let map = ReducedMap::new(h).unwrap();
        let n = ((20.0 / h) * frac).floor().max(1.0) as usize;
        let tr = Trajectory::run(&map, &State::new(xi, 0.0), n).expect("trajectory");
        prop_assume!(tr.x.iter().all(|x| x.abs() >= f64::MIN_POSITIVE));
        let t = telescoping(&map, &State::new(xi, 0.0), n);
        prop_assert!(t.r1 <= t.b1, "first identity: {:e} > {:e}", t.r1, t.b1);
        prop_assert!(t.r2 <= t.b2, "second identity: {:e} > {:e}", t.r2, t.b2);
    }
}

// ---------------------------------------------------------------------------------------------
// Claim 6: max|H_t − H_0| over τ = 20 is O(h), growth secular
// ---------------------------------------------------------------------------------------------

/// Sampling step for H: every m = max(1, ⌊10⁻³/h⌋) steps (and at the end). H changes by O(h²)
/// per step, so the sampled max differs from the true one by O(10⁻³h) (relative 10⁻³/24 at most;
/// in fact the max is the end value, which is always sampled: the drift is monotone).
fn sample_every(h: f64) -> u64 {
    ((1e-3 / h).floor() as u64).max(1)
}

#[test]
fn claim_06_energy_drift_is_first_order_over_six_decades_f64() {
    // 8 points, h = 10⁻²…10⁻⁸ (6 decades), (X₀, Y₀) = (0.5, 0) (H₀ = 0.636), τ = 20.
    // f64 suffices: claim_06_f64_rounding_is_far_below_the_drift bounds the rounding share.
    // Measured D/h: 29.150, 24.812, 24.276, 24.203, 24.1929, 24.1915, 24.1914, 24.2001 (→ 24.1914);
    // fitted order 1.0087 ± 0.0042.
    let hs = geometric(1e-2, 1e-8, 8);
    let s0 = State::new(0.5, 0.0);
    let mut ds = Vec::new();
    for &h in &hs {
        let map = ReducedMap::new(h).unwrap();
        ds.push(energy_drift(&map, &s0, 20.0, sample_every(h)).unwrap().max_abs);
    }
    let fit = loglog_fit(&hs, &ds).unwrap();
    eprintln!("claim 6: D/h = {:?}, fit {fit:?}", ds.iter().zip(&hs).map(|(d, h)| d / h).collect::<Vec<_>>());
    assert!((fit.slope - 1.0).abs() <= 0.1, "claim 6: order {} ± {} (expected 1)", fit.slope, fit.slope_se);
    // The asymptotic constant: D/h at h = 10⁻⁵…10⁻⁷ agree to 1e-4 relative (measured 24.19294,
    // 24.19153, 24.19140: 5.8e-5 and 5.4e-6 apart, the O(h) correction shrinking ≈ 10× per
    // decade). At h = 10⁻⁸ (N = 2·10⁹) f64
    // rounding shows: 24.2001, i.e. +3.6e-4 relative — still far below the error itself (it
    // moves the fitted slope by < 2e-4); asserted ≤ 1e-3 so a change of that share is seen.
    let c: Vec<f64> = ds.iter().zip(&hs).map(|(d, h)| d / h).collect();
    for w in c[4..7].windows(2) {
        assert!((w[0] / w[1] - 1.0).abs() <= 1e-4, "D/h not converged: {c:?}");
    }
    assert!((c[7] / c[6] - 1.0).abs() <= 1e-3, "rounding share at h = 1e-8 grew: {c:?}");
}

#[test]
fn claim_06_drift_is_secular_in_tau() {
    // ΔH(τ=20)/ΔH(τ=10) at h = 10⁻⁴ from (0.5, 0): measured 2.0171 (→ 2.0153 as h → 0: the
    // drift rate grows slightly with H). Secular = linear in τ: the ratio is 2 up to that
    // H-dependence, < 1% of the rate between H₀ and H₀ + 0.0024, so |ratio − 2| ≤ 0.02; the
    // deterministic value itself pinned to its recorded digits.
    let map = ReducedMap::new(1e-4).unwrap();
    let s0 = State::new(0.5, 0.0);
    let d20 = energy_drift(&map, &s0, 20.0, 10).unwrap().end;
    let d10 = energy_drift(&map, &s0, 10.0, 10).unwrap().end;
    let r = d20 / d10;
    assert!(d10 > 0.0 && (r - 2.0).abs() <= 0.02, "claim 6: drift ratio τ=20/τ=10 is {r}");
    common::recorded("claim 6: drift ratio τ=20/τ=10", r, 2.0171, 4);
}

#[test]
fn claim_06_f64_rounding_is_far_below_the_drift() {
    // f64 vs MPFR-128 at h = 10⁻⁵ (N = 2·10⁶): measured relative difference of D 1.1e-9
    // (1.3e-8 at h = 10⁻⁶). Worst-case rounding grows like N·u while D shrinks like h, a factor
    // 10⁶ from h = 10⁻⁵ to 10⁻⁸: requiring ≤ 1e-8 here keeps the smallest point of the order
    // study within 1% even in that worst case.
    let h = 1e-5;
    let every = 1000;
    let df = energy_drift(&ReducedMap::new(h).unwrap(), &State::new(0.5, 0.0), 20.0, every).unwrap().max_abs;
    let m = ReducedMap::<Float>::parse(&dec(h), "0", 128).unwrap();
    let s0 = m.state(Float::with_val(128, 0.5), Float::with_val(128, 0)).unwrap();
    let dm = energy_drift(&m, &s0, 20.0, every).unwrap().max_abs.to_f64();
    let rel = ((df - dm) / dm).abs();
    assert!(rel <= 1e-8, "claim 6: f64 rounding share {rel:e} of the drift at h = 1e-5");
}

// ---------------------------------------------------------------------------------------------
// Claim 7: log-growth of H near the period-2 orbit is log(1+2h²) per step
// ---------------------------------------------------------------------------------------------

/// Mean log-growth of H per step over `n` steps from deviation p₀ (Y₀ = 0), relative to
/// log(1 + 2h²). The linearization multiplies the quadratic part q²/2 + Y² of H by exactly
/// 1 + 2h² each step (reference.md §3.4), so the relative error is the nonlinear O(|p|) part
/// averaged over the run.
fn growth_ratio<S: Scalar>(h: &str, p0: &str, n: usize, c: S::Ctx) -> f64 {
    let map = ReducedMap::<S>::parse(h, "0", c).unwrap();
    let mut s = DevState { sign_negative: false, p: S::parse(p0, c).unwrap(), y: S::zero(c) };
    let e0 = energy_dev(&s);
    let mut ws = Workspace::new(c);
    for _ in 0..n {
        map.step_dev(&mut s, &mut ws);
    }
    let rate = (energy_dev(&s) / &e0).ln() / &S::from_i64(n as i64, c);
    let two_h2 = map.h().clone() * map.h() * &S::from_i64(2, c);
    let pred = (S::one(c) + &two_h2).ln();
    (rate / &pred - &S::one(c)).to_f64()
}

#[test]
fn claim_07_growth_is_log_1_plus_2h2_f64() {
    // p₀ = 10⁻⁶ (H₀ = 2·10⁻¹²), 20000 steps; H stays ≤ 2·10⁻⁵ ≪ 10⁻³.
    // Measured relative error 2.7e-9 (h = 0.01), 2.5e-7 (h = 0.02); claimed: 4 digits.
    for h in ["0.01", "0.02"] {
        let r = growth_ratio::<f64>(h, "1e-6", 20_000, ());
        eprintln!("claim 7 (f64): h = {h}: relative error {r:e}");
        assert!(r.abs() <= 1e-4, "claim 7 at h = {h}: relative error {r:e}");
    }
}

#[test]
fn claim_07_growth_is_log_1_plus_2h2_mpfr256() {
    // p₀ = 10⁻³⁰ (H₀ ≈ 4·10⁻⁶⁰): the nonlinear part is O(p₀) = O(10⁻³⁰), so the growth equals
    // log(1+2h²) to ≥ 29 digits; asserted ≤ 10·p₀. Measured relative errors −1.8e-34 (h = 0.01),
    // 9.3e-35 (h = 0.02).
    for h in ["0.01", "0.02"] {
        let r = growth_ratio::<Float>(h, "1e-30", 2000, 256);
        eprintln!("claim 7 (256 bits): h = {h}: relative error {r:e}");
        assert!(r.abs() <= 1e-29, "claim 7 (256 bits) at h = {h}: relative error {r:e}");
    }
}

#[test]
fn claim_07_growth_in_standard_coordinates_with_cancellation_free_h() {
    // Same measurement with the standard map and `energy` (q = (|X|−1)(|X|+1), φ(q) by series):
    // X₀ = 1 + 10⁻⁵ (H₀ ≈ 2·10⁻¹⁰). X carries one ulp of absolute error (2.2e-16 vs X − 1 ~ 1e-5),
    // i.e. 2e-11 relative in q and in H: negligible against 1e-4. Measured 2.7e-9, 2.5e-7.
    for h in [0.01f64, 0.02] {
        let map = ReducedMap::new(h).unwrap();
        let mut s = State::new(1.0 + 1e-5, 0.0);
        let e0 = energy(&s.x, &s.y);
        let n = 20_000;
        iterate(&map, &mut s, n, |_, _| ControlFlow::Continue(()));
        let rate = (energy(&s.x, &s.y) / e0).ln() / n as f64;
        let r = rate / (2.0 * h * h).ln_1p() - 1.0;
        assert!(r.abs() <= 1e-4, "claim 7 (standard coordinates) at h = {h}: relative error {r:e}");
    }
}

#[test]
fn claim_07_growth_is_slower_at_order_one_energy() {
    // Mean growth per step over one cycle (upward crossing to upward crossing of X² = 1, starting
    // at (X, Y) = (1, √H)), relative to log(1+2h²), h = 0.01. Measured 0.9293 at H = 1.6 and
    // 0.8248 at H = 5.8 (claim: 0.92 and 0.82; the claim does not define its averaging, and the
    // ratio falls with H, so these agree within that ambiguity: H = 1.6 → 1.76 over the cycle).
    // Tolerance 0.002: half the change of the ratio over one cycle (0.93 → 0.92 between cycles).
    // claims.md's 0.92 and 0.82 are checked against that ambiguity: the mean over the cycle that
    // ends at H (started at H²/H_end), over the cycle that starts at H, and over the first 2, 3, 4
    // cycles from H (H grows, so the mean falls: at H = 1.6 measured 0.9347, 0.9293, 0.9264,
    // 0.9233, 0.9201); the quoted value must lie in the range these span, ± half a unit of its
    // last digit.
    let h = 0.01f64;
    let map = ReducedMap::new(h).unwrap();
    let cycles = |e: f64, k: usize| {
        let s0 = State::new(1.0, e.sqrt());
        let cs = up_crossings(&map, &s0, k, 100_000);
        let n = cs[k - 1].step as usize;
        let tr = Trajectory::run(&map, &s0, n).expect("trajectory");
        let e_end = energy(&tr.x[n], &tr.y[n]);
        ((e_end / e).ln() / n as f64 / (2.0 * h * h).ln_1p(), e_end)
    };
    for (e, want, quoted) in [(1.6f64, 0.9293, 0.92), (5.8, 0.8248, 0.82)] {
        let (r, e_end) = cycles(e, 1);
        // A deterministic f64 orbit (+, −, × only; the ratio's two logarithms move it by ulps):
        // the measured value to its recorded digits.
        common::recorded(&format!("claim 7 at H = {e}: growth ratio"), r, want, 4);
        let mut means = vec![cycles(e * e / e_end, 1).0, r];
        means.extend((2..=4).map(|k| cycles(e, k).0));
        let (lo, hi) = means.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &m| (a.min(m), b.max(m)));
        eprintln!("claim 7 at H = {e}: mean growth ratio over the cycle to H, from H, and 2–4 cycles from H: {means:.4?}; claims.md {quoted}");
        assert!(quoted >= lo - 0.005 && quoted <= hi + 0.005, "claim 7 at H = {e}: {quoted} outside [{lo}, {hi}] ± 0.005");
    }
}

// ---------------------------------------------------------------------------------------------
// Claim 8: the first spike
// ---------------------------------------------------------------------------------------------

#[test]
fn claim_08_first_spike_coefficients_f64() {
    // c = (Y_max/√H₀ − 1)/h. Measured (h = 0.02, 0.01, 0.005, 0.0025):
    //   ξ = 0.5:  0.9304 0.9245 0.9249 0.9236   (claim 0.92)
    //   ξ = 1e-2: 0.8148 0.8153 0.8151 0.8153   (claim 0.82)
    //   ξ = 1e-4: 0.9283 0.9286 0.9309 0.9312   (claim 0.93)
    //   ξ = 1e-8: 1.1530 1.1593 1.1612 1.1621   (claim 1.16)
    // Band 0.015 = 0.005 (the claim's two decimals) + 0.01 (c's O(h) change over h ∈
    // [0.0025, 0.02], measured ≤ 0.009, plus the discrete-peak jitter, ≤ 0.003).
    // Y_max occurs at the first X_t² ≥ 1, and X_t² < (1 + hY_max)² exactly since X_{t-1}² < 1.
    for (xi, c_ref) in [(0.5, 0.92), (1e-2, 0.82), (1e-4, 0.93), (1e-8, 1.16)] {
        for h in [0.02, 0.01, 0.005, 0.0025] {
            let map = ReducedMap::new(h).unwrap();
            let s = first_spike(&map, &xi, (20.0 / h) as u64).expect("spike within τ = 20");
            assert!((s.coefficient - c_ref).abs() <= 0.015, "claim 8: ξ = {xi}, h = {h}: c = {} vs {c_ref}", s.coefficient);
            let cap = (1.0 + h * s.y_max).powi(2);
            assert!(s.x2_at_max >= 1.0 && s.x2_at_max < cap, "claim 8: X² at the peak {} not in [1, {cap})", s.x2_at_max);
        }
    }
}

#[test]
fn claim_08_first_spike_mpfr256_agrees_with_f64() {
    // The coefficient is a property of the map, not of rounding: 256 bits vs f64 at h = 0.01,
    // ξ = 1e-8 (614 steps; f64 rounding shifts Y_max by ≲ N·u·max|Y| ≈ 1e-12, i.e. c by ≲ 1e-10).
    let map = ReducedMap::<Float>::parse("0.01", "0", 256).unwrap();
    let xi = Float::with_val(256, Float::parse("1e-8").unwrap());
    let sm = first_spike(&map, &xi, 2000).unwrap();
    let sf = first_spike(&ReducedMap::new(0.01).unwrap(), &1e-8, 2000).unwrap();
    assert_eq!(sm.step, sf.step);
    let d = (sm.coefficient.to_f64() - sf.coefficient).abs();
    assert!(d <= 1e-9, "claim 8: f64 and 256-bit coefficients differ by {d:e}");
}

proptest! {
    #![proptest_config(pinned(48))]
    /// Over ξ ∈ [1e-8, 0.5], h ∈ [1e-3, 0.05]: the spike comes within τ = 20 and its relative error
    /// Y_max/√H₀ − 1 lies in [0.75h, 1.2h] (measured range of c over a 17×11 grid: [0.794, 1.163]).
    #[test]
    fn claim_08_first_spike_relative_error_is_about_h(
        h in (-3.0f64..(0.05f64).log10()).prop_map(|e| 10f64.powf(e)),
        xi in (-8.0f64..(0.5f64).log10()).prop_map(|e| 10f64.powf(e)),
    ) {
        let map = ReducedMap::new(h).unwrap();
        let s = first_spike(&map, &xi, (20.0 / h) as u64);
        prop_assert!(s.is_some(), "no spike within τ = 20");
        let c = s.unwrap().coefficient;
        prop_assert!((0.75..=1.2).contains(&c), "c = {c}");
    }
}

// ---------------------------------------------------------------------------------------------
// Claim 9: the period tends to T_τ(H)
// ---------------------------------------------------------------------------------------------

#[test]
fn claim_09_flow_period_reproduces_the_table() {
    // reference.md §3.2 table (4 decimals). RK4, dτ = 10⁻³, Richardson: the extrapolated and the
    // plain values differ by ≤ 3.2e-12 (H = 16), so the table's rounding (5e-5) is the tolerance.
    let table = [(1e-4, 4.4429), (0.1, 4.4800), (0.5, 4.6297), (1.0, 4.8188), (2.0, 5.1985), (4.0, 5.9340), (8.0, 7.2284), (16.0, 9.2747)];
    for (e, t) in table {
        let got = flow_period_extrapolated(&e, &1e-3).unwrap();
        assert!((got - t).abs() <= 5e-5 + 1e-10, "T_τ({e}) = {got} vs table {t}");
    }
    // 256 bits agree with f64 (same scheme) to the f64 rounding of 5000 RK4 steps (≤ 1e-12).
    let e = Float::with_val(256, 1);
    let dt = Float::with_val(256, Float::parse("1e-3").unwrap());
    let tm = flow_period_extrapolated(&e, &dt).unwrap().to_f64();
    let tf = flow_period_extrapolated(&1.0f64, &1e-3).unwrap();
    assert!((tm - tf).abs() <= 1e-12, "T_τ(1): 256 bits {tm} vs f64 {tf}");
}

#[test]
fn claim_09_period_converges_at_first_order_f64() {
    // Start on the upward crossing (X, Y) = (1, 1) (H₀ = 1, T_τ = 4.818837512093); one period to
    // the next upward crossing of X² = 1 (interpolated). 8 points h = 10⁻²…10⁻⁸ (6 decades).
    // Measured (P − T_τ(1))/h = 3.9167, 3.7809, 3.7623, 3.7598, 3.75941, 3.75936, 3.75935,
    // 3.75932; fitted order 1.0019 ± 0.0009.
    // f64 rounding: the period's position error is a random walk ~√N·u·max|Y| ≤ 1e-12 at N = 5e8,
    // vs P − T ≥ 7e-8: negligible. T_τ(1) is exact to ≤ 1e-12 (RK4 + Richardson, see table test).
    let t_ref = flow_period_extrapolated(&1.0f64, &1e-3).unwrap();
    let hs = geometric(1e-2, 1e-8, 8);
    let mut errs = Vec::new();
    for &h in &hs {
        let map = ReducedMap::new(h).unwrap();
        let cs = up_crossings(&map, &State::new(1.0, 1.0), 1, (20.0 / h) as u64);
        errs.push((cs[0].time * h - t_ref).abs());
    }
    let fit = loglog_fit(&hs, &errs).unwrap();
    eprintln!("claim 9 (H = 1): err/h = {:?}, fit {fit:?}", errs.iter().zip(&hs).map(|(e, h)| e / h).collect::<Vec<_>>());
    assert!((fit.slope - 1.0).abs() <= 0.1, "claim 9: order {} ± {}", fit.slope, fit.slope_se);
}

/// Period P − π√2 in natural time from the upward crossing (p, Y) = (0, y₀) in deviation
/// coordinates: f64 for h ≥ 10⁻⁴, MPFR-128 below (precision per point, see the callers).
fn small_h_period_error(h: f64, y0: &str) -> f64 {
    let pi_sqrt2 = std::f64::consts::PI * std::f64::consts::SQRT_2;
    if h >= 1e-4 {
        let map = ReducedMap::new(h).unwrap();
        let s0 = DevState { sign_negative: false, p: 0.0, y: y0.parse().unwrap() };
        let cs = up_crossings_dev(&map, &s0, 1, (20.0 / h) as u64);
        cs[0].time * h - pi_sqrt2
    } else {
        let c = 128;
        let map = ReducedMap::<Float>::parse(&dec(h), "0", c).unwrap();
        let s0 = DevState { sign_negative: false, p: Float::with_val(c, 0), y: Float::parse(y0).map(|v| Float::with_val(c, v)).unwrap() };
        let cs = up_crossings_dev(&map, &s0, 1, (20.0 / h) as u64);
        let pi2 = Float::with_val(c, rug::float::Constant::Pi) * Float::with_val(c, 2).sqrt();
        (cs[0].time.clone() * map.h() - &pi2).to_f64()
    }
}

#[test]
fn claim_09_period_converges_at_second_order_for_small_h() {
    // Small H: start at (p, Y) = (0, 10⁻²⁰) (H₀ = 10⁻⁴⁰, so T_τ(H₀) = π√2 to ~1e-40, and the
    // first-order term 1.49·√H·h of claim_09_small_h_first_order_term is ≤ 1e-13 of the error).
    // The linearized map rotates by arctan(√2h) per step (reference.md §3.4), so
    // P = 2πh/arctan(√2h) = π√2(1 + 2h²/3 + O(h⁴)): order 2 with constant (2/3)π√2 = 2.961922.
    // 8 points h = 10⁻¹…10⁻⁷ (6 decades). Precision per point: f64 for h ≥ 10⁻⁴ (phase noise
    // ~√N·u ≈ 2e-14 relative to P, < 1e-5 of the error there), MPFR-128 below (f64 noise would
    // reach 0.15% of the error at h = 10⁻⁶). Measured (P − π√2)/h² = 2.92348, 2.95886, 2.961685,
    // 2.9618786, 2.96192, 2.96192, 2.96192, 2.96192; fitted order 1.9994 ± 0.0003.
    let pi_sqrt2 = std::f64::consts::PI * std::f64::consts::SQRT_2;
    let hs = geometric(1e-1, 1e-7, 8);
    let mut errs = Vec::new();
    for &h in &hs {
        let err = small_h_period_error(h, "1e-20");
        // Interpolating the crossing linearly is exact to O(h³) in τ (the sampled q is a slowly
        // growing sine near its zero, whose curvature vanishes there): P matches 2πh/arctan(√2h)
        // to 3h³ (+ the f64 rounding of π√2, 1e-15).
        let lin = linear_period(h) - pi_sqrt2;
        assert!((err - lin).abs() <= 3.0 * h.powi(3) + 1e-15, "h = {h}: P − π√2 = {err:e}, linearized {lin:e}");
        errs.push(err);
    }
    let fit = loglog_fit(&hs, &errs).unwrap();
    let consts: Vec<f64> = errs.iter().zip(&hs).map(|(e, h)| e / (h * h)).collect();
    eprintln!("claim 9 (small H): err/h² = {consts:?}, fit {fit:?}");
    assert!((fit.slope - 2.0).abs() <= 0.1, "claim 9 (small H): order {} ± {}", fit.slope, fit.slope_se);
    let c_pred = 2.0 / 3.0 * pi_sqrt2;
    for c in &consts[4..] {
        assert!((c / c_pred - 1.0).abs() <= 1e-5, "constant {c} vs (2/3)π√2 = {c_pred}: {consts:?}");
    }
}

#[test]
fn claim_09_small_h_first_order_term() {
    // FINDING (refines "order 2 for small H"): at small but finite H the period error has a
    // first-order term proportional to the amplitude, ≈ 1.49·√H·h (coefficient measured, not
    // derived), so the order is 2 only while √H ≪ h. Measured with Y₀ = 10⁻⁶ (√H₀ = 10⁻⁶) minus
    // Y₀ = 10⁻²⁰: Δ/(√H₀·h) = 1.4849 (h = 10⁻⁴, f64), 1.5180 (h = 10⁻⁵, 128 bits; recorded until session
    // 42 as 1.4848 and 1.5178, which the pins found stale); the O(H) part of T_τ(H)
    // (≈ 3e-13) accounts for the spread. The finding: the coefficient is in [1.45, 1.55] at both h;
    // each value pinned to its recorded digits (the reduced map's +, −, × only: deterministic).
    for (h, want) in [(1e-4, 1.4849), (1e-5, 1.5180)] {
        let d = small_h_period_error(h, "1e-6") - small_h_period_error(h, "1e-20");
        let r = d / (1e-6 * h);
        assert!((1.45..=1.55).contains(&r), "h = {h}: first-order coefficient {r}");
        common::recorded(&format!("claim 9 at h = {h}: first-order coefficient"), r, want, 4);
    }
}

// ---------------------------------------------------------------------------------------------
// Claim 10: averages and their anchoring
// ---------------------------------------------------------------------------------------------

#[test]
fn claim_10_mean_x2_is_one_up_to_the_boundary_term() {
    // ⟨X²⟩ − 1 = −(Y_b − Y_a)/(hN) exactly; in f64 the two sides differ by rounding only:
    // N summands of size ≤ max X² each rounded (≤ N·u·max X²/N = u·max X² per average) plus
    // the Y recursion's error (claim 5: ≤ B₁/N). Tolerance 4u·(max X² + max|Y|/h): measured
    // differences 1e-15 … 4e-15 relative to max X² on 15-cycle windows at h = 0.0025.
    let h = 0.0025;
    let map = ReducedMap::new(h).unwrap();
    let tr = Trajectory::run(&map, &State::new(0.1, 0.0), 50_000).expect("trajectory");
    let u = f64::EPSILON / 2.0;
    let mx2 = tr.x.iter().map(|x| x * x).fold(0.0, f64::max);
    let my = tr.y.iter().map(|y| y.abs()).fold(0.0, f64::max);
    for anchor in [Anchor::UpCrossing, Anchor::X2Minimum] {
        let w = tr.anchored_window(anchor, 0, 15).unwrap();
        let d = (w.mean_x2_minus_1 - w.boundary_x2).abs();
        assert!(d <= 4.0 * u * (mx2 + my / h), "{anchor:?}: ⟨X²⟩−1 = {:e} vs boundary {:e}", w.mean_x2_minus_1, w.boundary_x2);
        let d2 = (w.mean_log - w.boundary_y).abs();
        assert!(d2 <= 4.0 * u * (2.0 + h * my) / h, "{anchor:?}: ⟨log|1+hY|⟩/h = {:e} vs boundary {:e}", w.mean_log, w.boundary_y);
    }
}

/// ⟨Y⟩ − (h/2)⟨Y²⟩ on 15-cycle windows from X₀ = 0.1, Y₀ = 0, first window (0-based anchor 0),
/// the window's averages and max|Y_t| over it, both ends included.
/// Also returns X_{t−1}, X_t, X_{t+1} at both ends (t = a, b), to check the anchoring itself.
fn window_gap(h: f64, anchor: Anchor, first: usize) -> (f64, WindowAverages<f64>, f64, [[f64; 3]; 2]) {
    let map = ReducedMap::new(h).unwrap();
    let tr = Trajectory::run(&map, &State::new(0.1, 0.0), (250.0 / h) as usize).expect("trajectory");
    let w = tr.anchored_window(anchor, first, 15).unwrap();
    let ymax = tr.y[w.start..=w.end.min(tr.len() - 1)].iter().fold(0.0f64, |m, y| m.max(y.abs()));
    let around = |t: usize| [tr.x[t - 1], tr.x[t], tr.x[t + 1]];
    let ends = [around(w.start), around(w.end)];
    (w.mean_y - h / 2.0 * w.mean_y2, w, ymax, ends)
}

#[test]
fn claim_10_up_crossing_windows_mean_sharpness_above_threshold() {
    // Exact decomposition: ⟨Y⟩ − (h/2)⟨Y²⟩ = −(h²/3)⟨Y³⟩ + (h³/4)⟨Y⁴⟩ − … + log|X_b/X_a|/(hN).
    // With both ends at upward crossings, X_a², X_b² ∈ [1, (1 + hY_max)²), so the boundary term is
    // at most log(1 + hY_max)/(hN) ≤ Y_max/N: O(1/N), not O(h²). It dominates the gap.
    // Measured gaps (X₀ = 0.1, 15 cycles, anchors 0 and 1):
    //   h = 0.0025: −2.52e-5, +6.2e-6   (claim: ≤ 3e-5 — holds)
    //   h = 0.005:  +9.9e-6, +1.59e-5   (holds)
    //   h = 0.01:   −6.31e-5, +4.69e-5  (FINDING: exceeds 3e-5; the boundary term −6.61e-5,
    //                                    +4.35e-5 is the cause, and is within its bound Y_max/N)
    // The qualitative claim holds: ⟨Y⟩ ≈ (h/2)⟨Y²⟩ > 0 to within 1.1% of (h/2)⟨Y²⟩.
    for (h, want) in [(0.0025, [-2.524e-5, 6.209e-6]), (0.005, [9.902e-6, 1.585e-5]), (0.01, [-6.314e-5, 4.689e-5])] {
        for (first, &measured) in want.iter().enumerate() {
            let (gap, w, ymax, ends) = window_gap(h, Anchor::UpCrossing, first);
            // The anchoring the boundary bound rests on: each end is the first step at or past an
            // upward crossing of X² = 1, and X² there is below (1 + h·max|Y|)².
            for [xp, x, _] in ends {
                assert!(xp * xp < 1.0 && 1.0 <= x * x && x * x < (1.0 + h * ymax).powi(2), "h = {h}, anchor {first}: X² = {:e} → {:e} is not an upward crossing", xp * xp, x * x);
            }
            // The measured value to its four recorded significant digits (a deterministic f64
            // orbit: +, −, × only).
            common::recorded_significant(&format!("claim 10 at h = {h}, anchor {first}: gap"), gap, measured, 4);
            let n = (w.end - w.start) as f64;
            assert!(h * ymax < 1.0, "h·max|Y| = {} (the series needs < 1)", h * ymax);
            assert!(w.boundary_y.abs() <= (h * ymax).ln_1p() / (h * n), "boundary {:e} above its bound", w.boundary_y);
            let rest = gap - w.boundary_y + h * h / 3.0 * w.mean_y3;
            // Remainder of the log series: Σ_{j≥4} h^{j−1}|Y|^j/j ≤ h³⟨Y⁴⟩/(4(1−h|Y|)) ≲ h³·Y_max⁴/3.
            assert!(rest.abs() <= h.powi(3) * ymax.powi(4) / 3.0, "series remainder {rest:e}");
            // Relative to (h/2)⟨Y²⟩ the gap is ~(Y_max/N)/((h/2)⟨Y²⟩) = 2Y_max/(hN⟨Y²⟩), with
            // hN ≈ 15·T_τ ≈ 75: a few percent at most; measured ≤ 1.04% (h = 0.0025, anchor 0).
            assert!(w.mean_y > 0.0 && (gap / (h / 2.0 * w.mean_y2)).abs() <= 0.02, "⟨Y⟩ = {:e}", w.mean_y);
            if h <= 0.005 {
                assert!(gap.abs() <= 3e-5, "claim 10 bound fails at h = {h}: {gap:e}");
            } else {
                assert!(gap.abs() > 3e-5, "finding changed: claim 10 bound now holds at h = {h}: {gap:e}");
            }
        }
    }
}

#[test]
fn claim_10_x2_minimum_windows_give_negative_mean() {
    // Anchored at X² minima, X_a and X_b sit on cycles of different H (H drifts up by O(h) per
    // cycle), so log|X_b/X_a|/(hN) is O(h) and negative: ⟨Y⟩ < 0.
    // Measured at h = 0.0025, X₀ = 0.1, 15 cycles from the first minimum: ⟨Y⟩ = −7.424e-3,
    // (h/2)⟨Y²⟩ = +2.461e-3 (claim: −7.4e-3 vs +2.5e-3). Tolerance: the claim's 2 digits.
    let h = 0.0025;
    let (_, w, _, ends) = window_gap(h, Anchor::X2Minimum, 0);
    // Both ends are local minima of X² (the anchoring the sign of ⟨Y⟩ rests on).
    for [xp, x, xn] in ends {
        assert!(x * x < xp * xp && x * x <= xn * xn, "X² = {:e}, {:e}, {:e}: not a local minimum", xp * xp, x * x, xn * xn);
    }
    assert!((w.mean_y - -7.4e-3).abs() <= 0.05e-3, "⟨Y⟩ = {:e}", w.mean_y);
    assert!((h / 2.0 * w.mean_y2 - 2.5e-3).abs() <= 0.05e-3, "(h/2)⟨Y²⟩ = {:e}", h / 2.0 * w.mean_y2);
}

// ---------------------------------------------------------------------------------------------
// Claim 11: damped sharpness channel
// ---------------------------------------------------------------------------------------------

#[test]
fn claim_11_reference_runs_h_0_05() {
    // reference.md §3.4 [M]: h = 0.05 (2h² = 0.005), start (1.1, 0), 2·10⁴ steps.
    // Measured: k = 0 and 0.0025 diverge (|X| > 1e6); k = 0.005 (= 2h², neutral) ends at distance
    // 0.139 from the orbit (reference: 0.15; see below); k = 0.01, 0.05, 0.5 reach 2.2e-15, 2.5e-16, 5.2e-15
    // (claim: 1e-14; the floor is f64 rounding of X near 1).
    let h = 0.05;
    for (k, expect) in [(0.0, "diverges"), (0.0025, "diverges"), (0.005, "neutral"), (0.01, "converges"), (0.05, "converges"), (0.5, "converges")] {
        let map = ReducedMap::damped(h, k).unwrap();
        let mut s = State::new(1.1, 0.0);
        let mut ws = Workspace::new(());
        let mut diverged = false;
        let (mut dmin, mut dmax, mut dsum) = (f64::INFINITY, 0.0f64, 0.0);
        for i in 0..20_000 {
            map.step(&mut s, &mut ws);
            if !s.x.is_finite() || s.x.abs() > 1e6 {
                diverged = true;
                break;
            }
            if i >= 10_000 {
                let d = ((s.x.abs() - 1.0).powi(2) + s.y * s.y).sqrt();
                (dmin, dmax, dsum) = (dmin.min(d), dmax.max(d), dsum + d);
            }
        }
        let dist = ((s.x.abs() - 1.0).powi(2) + s.y * s.y).sqrt();
        match expect {
            "diverges" => assert!(diverged, "k = {k}: did not diverge (distance {dist})"),
            "neutral" => {
                // Finding: the neutral run's distance oscillates in [0.096723, 0.139856] over steps
                // 10⁴–2·10⁴ (mean 0.1196; 0.139 at the end): it stays, but at most at 0.14, 7 %
                // below the reference's "distance 0.15". Both ends pinned to their recorded 6
                // decimals (± 5e-7): the orbit does not amplify rounding (an ulp on X₀ or Y₀ moves
                // them ≤ 3e-14 relative, X₀·(1 + 1e-12) ≤ 1.1e-11; measured 2026-12-07), and the map
                // uses only +, −, × (no libm), so its f64 bits are the same on every IEEE machine.
                eprintln!("claim 11: k = {k}: distance over steps 10⁴–2·10⁴ in [{dmin:.8}, {dmax:.8}], mean {:.4}, {dist:.4} at the end", dsum / 1e4);
                assert!(!diverged, "k = {k}: diverged");
                common::recorded("claim 11 neutral, min distance", dmin, 0.096723, 6);
                common::recorded("claim 11 neutral, max distance", dmax, 0.139856, 6);
            }
            _ => assert!(!diverged && dist <= 1e-14, "k = {k}: distance {dist:e}"),
        }
    }
}

/// Per-step contraction factor measured as (H_N/H_0)^{1/(2N)} in the linear regime (p₀ = 10⁻⁶).
/// H is a fixed quadratic form of the linearized state, so along ρ^t·(rotation) it oscillates
/// within a fixed ratio band; the endpoint phase biases log ρ by at most log(band)/(2N).
fn contraction(h: f64, k: f64, n: usize) -> f64 {
    let map = ReducedMap::damped(h, k).unwrap();
    let mut s = DevState { sign_negative: false, p: 1e-6, y: 0.0 };
    let e0 = energy_dev(&s);
    let mut ws = Workspace::new(());
    for _ in 0..n {
        map.step_dev(&mut s, &mut ws);
    }
    ((energy_dev(&s) / e0).ln() / (2.0 * n as f64)).exp()
}

#[test]
fn claim_11_contraction_factor_is_sqrt_1_minus_k_plus_2h2() {
    // For k < 2√2h the linearization [[1, 2h], [−h, 1−k]] has complex eigenvalues of modulus
    // √det = √(1 − k + 2h²). Measured over 5000 steps: relative errors 3.4e-7 (h = 0.05,
    // k = 0.0025), 4.5e-6 (0.05, 0.01), 3.7e-5 (0.05, 0.1 ≈ 0.71·2√2h), 1.4e-8 (0.01, 1e-4),
    // 1.7e-7 (0.01, 1e-3), 4.5e-5 (0.01, 0.02 ≈ 0.71·2√2h). The bias log(band)/(2N) grows with
    // k/h (the form H is further from the damped map's invariant ellipse); ≤ 1e-4 at N = 5000.
    for (h, k) in [(0.05, 0.0025), (0.05, 0.01), (0.05, 0.1), (0.01, 1e-4), (0.01, 1e-3), (0.01, 0.02)] {
        assert!(k < 2.0 * 2f64.sqrt() * h);
        let got = contraction(h, k, 5000);
        let pred = (1.0 - k + 2.0 * h * h).sqrt();
        assert!((got / pred - 1.0).abs() <= 1e-4, "claim 11: h = {h}, k = {k}: factor {got} vs √(1−k+2h²) = {pred}");
    }
    // Beyond k = 2√2h the eigenvalues are real and the factor is the larger one, not √det:
    // h = 0.05, k = 0.5: λ = (2 − k)/2 + √((2−k)²/4 − det) = 0.9898, vs √det = 0.7106.
    let (h, k) = (0.05f64, 0.5f64);
    let det = 1.0 - k + 2.0 * h * h;
    let lam = (2.0 - k) / 2.0 + ((2.0 - k).powi(2) / 4.0 - det).sqrt();
    let got = contraction(h, k, 500);
    assert!((got / lam - 1.0).abs() <= 1e-3 && (got / det.sqrt() - 1.0).abs() > 0.3, "k > 2√2h: factor {got}, λ = {lam}");
}

proptest! {
    #![proptest_config(pinned(32))]
    /// Stable iff k > 2h²: with k = m·2h², m ∈ [0, 0.8] ∪ [1.25, 4], over N = 20/h² steps the
    /// linearized log H changes by N·log(1 − k + 2h²) ≈ 40(1 − m), at least 8 in magnitude, far
    /// above the O(k/h) oscillation of the form H. Measured sign matches in every case.
    #[test]
    fn claim_11_stable_iff_k_above_2h2(
        h in (-3.0f64..(0.05f64).log10()).prop_map(|e| 10f64.powf(e)),
        m in prop_oneof![0.0f64..0.8, 1.25f64..4.0],
    ) {
        let k = m * 2.0 * h * h;
        let n = (20.0 / (h * h)) as usize;
        let map = ReducedMap::damped(h, k).unwrap();
        let mut s = DevState { sign_negative: false, p: 1e-12, y: 0.0 };
        let e0 = energy_dev(&s);
        let mut ws = Workspace::new(());
        for _ in 0..n {
            map.step_dev(&mut s, &mut ws);
        }
        let growth = (energy_dev(&s) / e0).ln();
        let pred = n as f64 * (1.0 - k + 2.0 * h * h).ln();
        prop_assert!(growth.signum() == pred.signum() && (growth - pred).abs() <= 0.1 * pred.abs(),
            "h = {h}, k = {k}: log(H_N/H_0) = {growth}, linear prediction {pred}");
    }
}

// ---------------------------------------------------------------------------------------------
// The change of variables (reference.md §2): not a numbered claim, but the map's definition.
// ---------------------------------------------------------------------------------------------

fn dimensional_matches<S: Scalar>(c: S::Ctx) -> f64 {
    // η = 0.5, α = 0.0004, β = 3, k = 0.001: h = 0.01, δ = √(8/3)·0.02. 2000 steps from
    // x₀ = 0.1δ. The two orbits are the same map in different units; rounding differs per step
    // by O(u) relative, amplified along the orbit by the repelling focus (claim 7) and the shear
    // of the cycle: measured max absolute deviation (X, Y = O(1)) in units of eps: see the test below.
    let p = |s: &str| S::parse(s, c).unwrap();
    let dm = DimensionalMap::new(p("0.5"), p("0.0004"), p("3"), p("0.001")).unwrap();
    let sc = dm.scales();
    let map = dm.dimensionless().unwrap();
    let mut ds = State::new(sc.delta.clone() * &p("0.1"), S::zero(c));
    let mut ns = sc.to_dimensionless(&ds);
    let (mut w1, mut w2) = (Workspace::new(c), Workspace::new(c));
    let mut worst = 0.0f64;
    for _ in 0..2000 {
        dm.step(&mut ds, &mut w1);
        map.step(&mut ns, &mut w2);
        let back = sc.to_dimensionless(&ds);
        let ex = (back.x.clone() - &ns.x).abs().to_f64();
        let ey = (back.y.clone() - &ns.y).abs().to_f64();
        worst = worst.max(ex).max(ey);
    }
    worst / S::eps(c)
}

#[test]
fn dimensional_and_dimensionless_maps_agree_f64_and_mpfr256() {
    // In units of eps: measured 76.875 (f64), 61.5 (256 bits): the same constant, so the
    // difference is rounding amplified by the dynamics, not a modelling difference. Bound 1e4·eps
    // (≈ N·u times the growth e^{2h²N}·(cycle shear) of a perturbation, both O(10²)); both maps use
    // +, −, × only, so the values themselves are deterministic and pinned to their recorded digits
    // (until session 42 only the bound was asserted).
    let f = dimensional_matches::<f64>(());
    let m = dimensional_matches::<Float>(256);
    eprintln!("dimensional vs dimensionless: {f} eps (f64), {m} eps (256)");
    assert!(f <= 1e4 && m <= 1e4, "deviation {f}, {m} eps");
    common::recorded("dimensional vs dimensionless, f64 (eps)", f, 76.875, 3);
    common::recorded("dimensional vs dimensionless, 256 bits (eps)", m, 61.5, 1);
}
