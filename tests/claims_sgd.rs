//! Claim 32 (stochastic sharpness gap, reference.md §9.3): under mini-batch GD the full-batch
//! sharpness sits below 2/η by a gap; compare with ΔS = ηβσ_u²/(4α). Setting: the digits MLP of
//! claims 23–27 (64-16-16-10, tanh, MSE, n = 256, θ_init of tests/data, η = 0.2667, 2/η = 7.4991),
//! sampling and definitions in theory/README.md ("Several unstable eigenvalues", SGD).
#![allow(clippy::disallowed_methods)] // test code may use std's libm (clippy.toml: library code may not)

mod common;
use common::recorded;

use selfstab::data::{self, Dataset};
use selfstab::linalg::zeros;
use selfstab::mag::Mag;
use selfstab::models::mlp::{Activation, LossKind, Mlp};
use selfstab::objective::Objective;
use selfstab::sgd::{self, Sampler, SgdOpts, SgdResult};

fn setting() -> (Dataset, Vec<f64>) {
    let ds = data::digits(256).unwrap();
    let th = selfstab::commands::load_theta("builtin:mlp_64-16-16-10", 1482).unwrap();
    (ds, th)
}

fn opts(batch: usize, steps: u64, every: u64) -> SgdOpts {
    SgdOpts {
        layers: vec![64, 16, 16, 10],
        activation: Activation::Tanh,
        loss: LossKind::Mse,
        lr: 0.2667,
        batch,
        steps,
        every,
        sample_seed: 0,
        eos_eps: 0.25,
        window: 0.5,
        eig_tol: Mag::new(1e-10),
    }
}

#[test]
fn claim_32_sampler_is_without_replacement_and_seeded() {
    // Each epoch: ⌊n/b⌋ disjoint batches of b (the n mod b left-over samples dropped); the same seed
    // gives the same stream, another seed another one.
    let (n, b) = (50, 8);
    let mut s = Sampler::new(n, b, 7).unwrap();
    let mut s2 = Sampler::new(n, b, 7).unwrap();
    let mut s3 = Sampler::new(n, b, 8).unwrap();
    for _ in 0..3 {
        let e = s.epoch();
        assert_eq!(e.len(), n / b);
        let mut all: Vec<usize> = e.iter().flatten().cloned().collect();
        assert!(e.iter().all(|x| x.len() == b));
        all.sort();
        all.dedup();
        assert_eq!(all.len(), (n / b) * b, "an index repeats within an epoch");
        assert!(all.iter().all(|&i| i < n));
        assert_eq!(e, s2.epoch(), "same seed, same epoch");
        assert_ne!(e, s3.epoch(), "another seed gives another permutation");
    }
    assert!(Sampler::new(10, 11, 0).is_err() && Sampler::new(10, 0, 0).is_err());

    // Each epoch is a uniform random permutation: with n = b = 4 the 24 orders of 2,400 epochs
    // (100 expected each) give χ² ≤ 49.7, the 0.1 % tail of χ² with 23 degrees of freedom.
    // (Mutation audit round 2: Sattolo's variant, j = r mod i, which draws only the 6 cyclic
    // orders, passed every other test.)
    let mut s = Sampler::new(4, 4, 11).unwrap();
    let mut counts = std::collections::BTreeMap::<Vec<usize>, u32>::new();
    for _ in 0..2400 {
        *counts.entry(s.epoch().concat()).or_default() += 1;
    }
    let chi2: f64 = counts.values().map(|&c| (f64::from(c) - 100.0).powi(2) / 100.0).sum::<f64>() + 100.0 * (24 - counts.len()) as f64;
    assert!(counts.len() == 24 && chi2 <= 49.7, "{} of 24 orders drawn, χ² = {chi2:.1}", counts.len());
}

#[test]
fn claim_32_batch_gradients_average_to_the_full_gradient() {
    // E∇L_B = ∇L: over one epoch with b | n the mean of the batch gradients is the full gradient
    // (mean-normalised losses), so σ_u² measures the spread around ∇L·u. Tolerance: each entry is a
    // sum of 256 per-sample terms in a different order: 1e-13 relative to ‖∇L‖∞ (measured below).
    let (ds, th) = setting();
    let layers = [64, 16, 16, 10];
    let full = Mlp::<f64>::new(&layers, Activation::Tanh, LossKind::Mse, &ds, ()).unwrap();
    let mut g = zeros::<f64>(full.dim(), ());
    full.grad(&th, &mut g).unwrap();
    let mut acc = zeros::<f64>(full.dim(), ());
    let mut gb = zeros::<f64>(full.dim(), ());
    let batches = Sampler::new(256, 32, 3).unwrap().epoch();
    for b in &batches {
        let m = Mlp::<f64>::new(&layers, Activation::Tanh, LossKind::Mse, &sgd::subset(&ds, b), ()).unwrap();
        m.grad(&th, &mut gb).unwrap();
        acc.iter_mut().zip(&gb).for_each(|(a, x)| *a += x / batches.len() as f64);
    }
    let scale = g.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let err = acc.iter().zip(&g).fold(0.0f64, |m, (a, x)| m.max((a - x).abs())) / scale;
    eprintln!("claim 32: ‖mean batch gradient − ∇L‖∞/‖∇L‖∞ = {err:e}");
    assert!(err <= 1e-13, "{err:e}");
}

fn report(rs: &[SgdResult]) {
    eprintln!("{}", sgd::markdown(rs));
}

// The finding's numbers are pinned to their recorded digits. Mini-batch GD here is not chaotic:
// a change of rounding moves its window statistics by ≤ 2e-13 relative (measured 2026-12-07 at
// 800, 3000, 6000 and 12000 steps, b = 128…16: θ_init's entries moved by an ulp, and at 800 and
// 3000 steps every product computed by the fixed-order generic kernel instead of faer's;
// `claim_32_sgd_statistics_do_not_amplify_rounding` checks the first), so half a unit of the last
// recorded digit (≥ 2.5e-5 relative) leaves a margin ≥ 1e8. Full-batch GD at the edge of
// stability is chaotic: its 800-step gap moved from −0.0395 to −0.0161 with the kernel, so it is
// bounded (≤ 2 % of 2/η), not pinned.

#[test]
fn claim_32_sgd_gap_positive_full_batch_none_f64() {
    // CI size: 800 steps, checks every 40, window = last 400 steps. Full batch (b = n = 256) is GD:
    // σ_u² is rounding (measured 1e-34; at every check of this run within its summation-order bound,
    // asserted in `claim_32_full_batch_sigma_u_is_within_the_summation_order_bound`) and the window
    // mean of S sits at 2/η: asserted
    // within 2% of 2/η (measured gap −0.039, 0.52%; claim 25's 0.6% is for a 500-step window of
    // every GD step, here 10 checks 40 steps apart sample the oscillation of S, so the bound is
    // wider); b = 32 sits clearly below: measured gap 1.589 (21% of
    // 2/η), and ΔS = ηβσ_u²/(4α) = 0.1099 underestimates it 14.45×. b = 32's numbers are pinned to
    // their recorded digits (see above).
    let (ds, th) = setting();
    let full = sgd::run(&ds, &th, &opts(256, 800, 40)).unwrap();
    let b32 = sgd::run(&ds, &th, &opts(32, 800, 40)).unwrap();
    report(&[full.clone(), b32.clone()]);
    assert!(full.eos_step.is_some() && b32.eos_step.is_some());
    assert!(full.full_batch && !b32.full_batch, "b = n is flagged as full batch, b < n is not");
    // With σ_u² at rounding, ΔS and gap/ΔS are undefined for the full batch (null in sgd.json).
    assert!(full.predicted_gap.is_nan() && full.ratio.is_nan(), "full batch: ΔS {}, ratio {}", full.predicted_gap, full.ratio);
    assert!(full.gap.abs() <= 0.02 * full.threshold, "full-batch window mean off 2/η by {}", full.gap);
    recorded("b = 32: gap", b32.gap, 1.589, 3);
    recorded("b = 32: ΔS", b32.predicted_gap, 0.1099, 4);
    recorded("b = 32: gap/ΔS", b32.ratio, 14.45, 2);
}

#[test]
fn claim_32_full_batch_sigma_u_is_within_the_summation_order_bound() {
    // With b = n every "batch" is the whole data set in another order, so u·∇L_B − u·∇L is rounding
    // only. The bound below assumes the per-sample terms are the same in both orders (a sample's row
    // of a product does not depend on its place; 1/n = 2^-8 scales exactly) and only the order of
    // their sums differs; measured, the difference stays ≤ 3e-4 of it. Each entry j of both
    // gradients is a sum of the n per-sample terms ∂ℓ_i/∂θ_j / n, within γ_n·c_j of the exact sum
    // in any order (Higham, Thm 4.4/§3.1; c_j = Σ_i |∂ℓ_i/∂θ_j| / n, γ_m = m·2^-53/(1 − m·2^-53));
    // the two dot products with u add γ_p·Σ_j |u_j|(|g_j| + |g_B,j|), the difference one rounding:
    //   |u·∇L_B − u·∇L| ≤ B = (1 + 2^-53)·[2γ_n Σ_j |u_j| c_j + γ_p Σ_j |u_j|(|g_j| + |g_B,j|)].
    // Asserted at every check of the 800-step full-batch run, at its own θ_t and batch order (the
    // observer's states): σ_u² (one batch, so (u·∇L_B − u·∇L)² itself) ≤ B². u is solved again
    // here (tolerance 1e-10, as the run's check); B moves with u only by that much.
    struct Points(Vec<(Vec<f64>, sgd::SamplerState)>);
    impl sgd::SgdObserver for Points {
        fn due(&mut self, t: u64) -> bool {
            t.is_multiple_of(40)
        }
        fn save(&mut self, st: &sgd::SgdState) -> Result<bool, selfstab::error::Error> {
            self.0.push((st.theta.clone(), st.noise.clone()));
            Ok(false)
        }
    }
    let (ds, th) = setting();
    let o = opts(256, 800, 40);
    let (n, gamma) = (ds.n, |m: usize| m as f64 * 2f64.powi(-53) / (1.0 - m as f64 * 2f64.powi(-53)));
    let noise0 = Sampler::new(n, n, o.sample_seed ^ 0x5eed).unwrap().state();
    let mut pts = Points(vec![(th.clone(), noise0)]);
    let r = sgd::run_from(&ds, &th, &o, None, &mut pts).unwrap();
    assert_eq!(r.checks.len(), pts.0.len(), "one observed point per check");
    let full = Mlp::<f64>::new(&o.layers, o.activation, o.loss, &ds, ()).unwrap();
    let p = full.dim();
    let singles: Vec<Mlp<f64>> = (0..n).map(|i| Mlp::new(&o.layers, o.activation, o.loss, &sgd::subset(&ds, &[i]), ()).unwrap()).collect();
    let (mut worst, mut largest_bound) = (0.0f64, 0.0f64);
    let (mut gi, mut gb) = (zeros::<f64>(p, ()), zeros::<f64>(p, ()));
    for ((theta, noise), c) in pts.0.iter().zip(&r.checks) {
        let cen = selfstab::sharpness::center(&full, theta, None, o.eig_tol).unwrap();
        let order = Sampler::restore(n, n, o.sample_seed ^ 0x5eed, noise).unwrap().epoch();
        assert_eq!(order.len(), 1, "b = n: one batch per epoch");
        Mlp::<f64>::new(&o.layers, o.activation, o.loss, &sgd::subset(&ds, &order[0]), ()).unwrap().grad(theta, &mut gb).unwrap();
        let mut cj = vec![0.0f64; p];
        for m in &singles {
            m.grad(theta, &mut gi).unwrap();
            cj.iter_mut().zip(&gi).for_each(|(c, g)| *c += g.abs());
        }
        let sum_u_c: f64 = cen.u.iter().zip(&cj).map(|(u, c)| u.abs() * c / n as f64).sum();
        let sum_u_g: f64 = cen.u.iter().zip(cen.grad.iter().zip(&gb)).map(|(u, (g, h))| u.abs() * (g.abs() + h.abs())).sum();
        // (c_j and the sums above are themselves rounded: relative ≤ γ_{n+p}, covered by 1e-10.)
        let bound = (1.0 + 2f64.powi(-53)) * (2.0 * gamma(n) * sum_u_c + gamma(p) * sum_u_g) * (1.0 + 1e-10);
        let sigma_u = c.sigma_u2.sqrt();
        assert!(sigma_u <= bound, "check t = {}: |u·∇L_B − u·∇L| = {sigma_u:e} above the summation-order bound {bound:e}", c.t);
        worst = worst.max(sigma_u / bound);
        largest_bound = largest_bound.max(bound);
    }
    eprintln!("claim 32: full batch |u·∇L_B − u·∇L| ≤ {worst:.3e}·B at every check; B ≤ {largest_bound:e} (B² ≤ {:e}); ⟨σ_u²⟩ = {:e}", largest_bound * largest_bound, r.mean_sigma_u2);
}

#[test]
fn claim_32_sgd_statistics_do_not_amplify_rounding() {
    // The premise of the recorded-digit pins: every entry of θ_init moved by one ulp (up and down
    // in turn) changes b = 32's 800-step gap, ΔS and gap/ΔS by ≤ 2e-13 relative (measured 1.1e-15,
    // 1.8e-13, 1.8e-13); asserted ≤ 1e-10, 500× that yet 3e5× below the pins' half unit. A chaotic
    // map would have grown the ulps to O(1), as full-batch GD does below.
    let (ds, th) = setting();
    let th2: Vec<f64> = th.iter().enumerate().map(|(i, &x)| if i % 2 == 0 { x.next_up() } else { x.next_down() }).collect();
    let a = sgd::run(&ds, &th, &opts(32, 800, 40)).unwrap();
    let b = sgd::run(&ds, &th2, &opts(32, 800, 40)).unwrap();
    assert_eq!((a.eos_step, a.window_checks, a.alpha_pos_fraction), (b.eos_step, b.window_checks, b.alpha_pos_fraction));
    for (name, x, y) in [("gap", a.gap, b.gap), ("ΔS", a.predicted_gap, b.predicted_gap), ("gap/ΔS", a.ratio, b.ratio)] {
        let d = (x / y - 1.0).abs();
        eprintln!("claim 32: {name} moves by {d:e} relative");
        assert!(d <= 1e-10, "{name}: {x} and {y} after one ulp of θ_init ({d:e} relative)");
    }
    // The control: full-batch GD at the edge of stability is chaotic and does amplify it (gap
    // −0.039513 → −0.040032, 1.3 % relative); asserted ≥ 1e-3.
    let a = sgd::run(&ds, &th, &opts(256, 800, 40)).unwrap();
    let b = sgd::run(&ds, &th2, &opts(256, 800, 40)).unwrap();
    let d = (a.gap / b.gap - 1.0).abs();
    assert!(d >= 1e-3, "full batch: gap {} and {} ({d:e} relative): no longer amplified", a.gap, b.gap);
}

#[test]
fn claim_32_sgd_gap_over_sampler_seeds_ci() {
    // The CI setting (b = 32, 800 steps, checks every 40) over sampler seeds 0–9: the gap is
    // positive in every run that reaches EoS, ΔS underestimates it in every run where ΔS is
    // defined, but a single run is a noisy estimate. Recorded (the CLI, 2026-12-07):
    //   seed:  0      1      2     3      4      5      6      7      8      9
    //   gap:   1.589  1.870  —     1.669  1.579  2.004  1.486  1.767  1.818  1.743
    //   ratio: 14.45  14.83  —     18.85  —      20.81  9.216  16.71  9.505  10.72
    // Seed 2 never reaches S ≥ 0.75·2/η in 800 steps (its gap, if any, is > 25 % of 2/η: the EoS
    // criterion itself selects runs); seed 4 has α ≤ 0 at all 11 window checks, so ΔS is undefined.
    let (ds, th) = setting();
    let gaps = [Some(1.589), Some(1.870), None, Some(1.669), Some(1.579), Some(2.004), Some(1.486), Some(1.767), Some(1.818), Some(1.743)];
    let ratios = [Some(14.45), Some(14.83), None, Some(18.85), None, Some(20.81), Some(9.216), Some(16.71), Some(9.505), Some(10.72)];
    let mut runs = vec![];
    for (seed, (g, q)) in gaps.iter().zip(ratios).enumerate() {
        let r = sgd::run(&ds, &th, &SgdOpts { sample_seed: seed as u64, ..opts(32, 800, 40) }).unwrap();
        runs.push(r.clone());
        match g {
            Some(g) => {
                assert!(r.eos_step.is_some() && r.gap > 0.0, "seed {seed}: gap {}", r.gap);
                recorded(&format!("seed {seed}: gap"), r.gap, *g, 3);
            }
            None => assert!(r.eos_step.is_none() && r.gap.is_nan(), "seed {seed}: EoS at {:?}", r.eos_step),
        }
        match q {
            Some(q) => {
                assert!(r.ratio > 1.0, "seed {seed}: gap/ΔS = {}", r.ratio);
                let digits = if q < 10.0 { 3 } else { 2 };
                recorded(&format!("seed {seed}: gap/ΔS"), r.ratio, q, digits);
            }
            None => assert!(r.ratio.is_nan() && (g.is_none() || r.alpha_pos_fraction == 0.0), "seed {seed}: ratio {} (α > 0 on {})", r.ratio, r.alpha_pos_fraction),
        }
    }
    // The seed statistics `selfstab sgd --sample-seeds 0-9` reports (sgd::seed_stats): over the nine
    // runs with a gap, the mean of the recorded gaps (each within 5e-4, so the mean too), the
    // sample standard error from them within 5e-4, all nine gaps positive, ΔS defined on eight.
    let s = sgd::seed_stats(32, &runs.iter().collect::<Vec<_>>());
    let g: Vec<f64> = gaps.iter().flatten().copied().collect();
    let m = g.iter().sum::<f64>() / 9.0;
    let se = (g.iter().map(|x| (x - m).powi(2)).sum::<f64>() / 8.0 / 9.0).sqrt();
    assert_eq!((s.runs, s.with_gap, s.positive_gaps, s.with_predicted_gap, s.diverged), (10, 9, 9, 8, 0));
    assert!((s.mean_gap - m).abs() <= 5e-4 && (s.se_gap - se).abs() <= 5e-4, "seed mean {} ± {} against {m} ± {se} from the recorded gaps", s.mean_gap, s.se_gap);
    assert!(s.gaps[2].is_nan() && (s.min_ratio - 9.216).abs() <= 5e-4 && (s.max_ratio - 20.81).abs() <= 5e-3, "{s:?}");
}

#[test]
#[ignore = "study: 5 batch sizes × 3000 steps (≈ 7 s in release); numbers in theory/claims.toml"]
fn claim_32_sgd_gap_against_batch_and_formula_study() {
    let (ds, th) = setting();
    let rs: Vec<SgdResult> = [256, 128, 64, 32, 16].iter().map(|&b| sgd::run(&ds, &th, &opts(b, 3000, 20)).unwrap()).collect();
    report(&rs);
    // Sampler seed 0 (theory/claims.toml claim 32): gaps 0.387, 0.374, 1.056, 1.510; the formula ΔS
    // is 20–80× smaller than the gap (ratios 77.4, 19.8, 33.2, 24.4), α > 0 on 47–63% of the window
    // checks; b·gap = 50, 24, 34, 24. One realisation: over ten sampler seeds the same runs give
    // seed means that do follow c/b at this length, and not later
    // (`claim_32_sgd_gap_over_sampler_seeds_and_run_length_study`). Pinned to their recorded digits.
    assert!(rs[0].full_batch && rs[0].gap.abs() < 0.02 * rs[0].threshold, "full batch: gap {}", rs[0].gap);
    let gaps = [0.387, 0.374, 1.056, 1.510];
    let ratios = [77.4, 19.8, 33.2, 24.4];
    // α > 0 at 44, 48, 36 and 41 of the 76 window checks (58, 63, 47, 54 %): counts, pinned exactly
    // (until session 42 the fractions were only asserted in [0.4, 0.7]).
    let alpha_pos = [44, 48, 36, 41];
    for (((r, g), q), k) in rs[1..].iter().zip(gaps).zip(ratios).zip(alpha_pos) {
        recorded(&format!("b = {}: gap", r.batch), r.gap, g, 3);
        recorded(&format!("b = {}: gap/ΔS", r.batch), r.ratio, q, 1);
        assert_eq!((r.window_checks, (r.alpha_pos_fraction * r.window_checks as f64).round() as usize), (76, k), "b = {}: α > 0 on {:.0}% of the window checks", r.batch, 100.0 * r.alpha_pos_fraction);
    }
}

/// Runs `jobs` (batch size, steps, every, sample seed) with eos_eps = 0.5 on two threads (each run
/// is single-threaded and deterministic, so the split does not change a bit), in order.
fn seed_runs(jobs: &[(usize, u64, u64, u64)]) -> Vec<SgdResult> {
    let (ds, th) = setting();
    let one = |&(b, steps, every, seed): &(usize, u64, u64, u64)| sgd::run(&ds, &th, &SgdOpts { sample_seed: seed, eos_eps: 0.5, ..opts(b, steps, every) }).unwrap();
    let half = jobs.len().div_ceil(2);
    std::thread::scope(|sc| {
        let second = sc.spawn(|| jobs[half..].iter().map(one).collect::<Vec<_>>());
        let mut out: Vec<SgdResult> = jobs[..half].iter().map(one).collect();
        out.extend(second.join().unwrap());
        out
    })
}

#[test]
#[ignore = "study: 10 sampler seeds × 5 batch sizes × 3000 and 6000 steps, 5 seeds × 12000 steps (≈ 5 min in release on a busy 2-core machine); numbers in theory/claims.toml"]
fn claim_32_sgd_gap_over_sampler_seeds_and_run_length_study() {
    // The window is the last half of each run (eos_eps = 0.5: S(θ_init) is already above half of
    // 2/η; at the default 0.25 two b = 16 runs of 3000 steps never reach EoS, and leaving them out
    // lowers b = 16's mean). Recorded 2026-12-07 (the CLI gave the same numbers).
    let bs = [256usize, 128, 64, 32, 16];
    let jobs = |steps: u64, every: u64, seeds: u64| -> Vec<(usize, u64, u64, u64)> {
        (0..seeds).flat_map(|s| bs.iter().map(move |&b| (b, steps, every, s))).collect()
    };
    let plan = [(3000, 20, 10), (6000, 20, 10), (12000, 40, 5)];
    let all: Vec<Vec<SgdResult>> = plan.iter().map(|&(steps, every, seeds)| seed_runs(&jobs(steps, every, seeds))).collect();
    let by_b = |rs: &[SgdResult], b: usize| -> Vec<SgdResult> { rs.iter().filter(|r| r.batch == b).cloned().collect() };
    // Seed means of the gap, b = 128, 64, 32, 16, per run length (b < n does not amplify rounding,
    // even over 12000 steps: ≤ 1.2e-13 relative after an ulp of every θ_init entry, seed 1).
    // b = n is GD at the edge of stability, chaotic (the same ulps moved its 12000-step gap 2 %):
    // its means, −0.0534, −0.0071 and +0.0034, are bounded, not pinned.
    let recorded_means = [[0.1980, 0.4737, 1.0101, 1.8101], [-0.0072, 0.2053, 0.6956, 1.4910], [-0.0360, 0.1091, 0.4586, 1.1400]];
    // The seed statistics as `selfstab sgd --sample-seeds` computes them (sgd::seed_stats).
    let mut stats = vec![];
    for (((steps, _, seeds), rs), want) in plan.iter().zip(&all).zip(recorded_means) {
        let mut st = vec![];
        for (k, &b) in bs.iter().enumerate() {
            let runs = by_b(rs, b);
            let s = sgd::seed_stats(b, &runs.iter().collect::<Vec<_>>());
            let g = &s.gaps;
            assert_eq!((g.len(), s.with_gap), (*seeds as usize, *seeds as usize));
            eprintln!("{steps} steps, b = {b}: ⟨gap⟩ = {:.4} ± {:.4}, b·⟨gap⟩ = {:.2} ± {:.2}; gaps {g:.3?}", s.mean_gap, s.se_gap, s.b_mean_gap, s.b_se_gap);
            if b == 256 {
                // Full batch: the window mean at 2/η in every seed.
                assert!(s.full_batch && g.iter().all(|x| x.abs() <= 0.02 * 2.0 / 0.2667), "{steps} steps, full batch: gaps {g:?}");
            } else {
                recorded(&format!("{steps} steps, b = {b}: seed mean of the gap"), s.mean_gap, want[k - 1], 4);
            }
            st.push(s);
        }
        stats.push(st);
    }
    // Over steps 1500–3000 the seed means follow gap = c/b: every b within 1 SE of c̄ = 29.5
    // (b·⟨gap⟩ = 25.4 ± 5.3, 30.3 ± 2.9, 32.3 ± 3.1, 29.0 ± 1.6; worst 0.91 SE), although seed 0
    // alone gives b·gap = 50, 24, 34, 24. Later they do not: over steps 3000–6000 b·⟨gap⟩ = −0.9 ±
    // 3.5, 13.1 ± 3.2, 22.3 ± 3.0, 23.9 ± 1.7 (worst 5.6 SE from c̄ = 18.9), over 6000–12000 −4.6 ±
    // 2.9, 7.0 ± 5.2, 14.7 ± 4.1, 18.2 ± 2.1 (5.3 SE from 10.7), b = 128's gap at zero or below it.
    let one_over_b = |st: &[sgd::SeedStats]| -> (f64, f64) {
        let t = sgd::one_over_b(st).expect("four batch sizes b < n with standard errors");
        assert_eq!(t.batches, bs[1..]);
        (t.c, t.worst_se)
    };
    let (c, worst) = one_over_b(&stats[0]);
    eprintln!("1/b law, 3000 steps: c̄ = {c:.2}, worst deviation {worst:.2} SE");
    assert!(worst <= 1.0, "3000 steps: the seed means stray {worst:.2} SE from gap = {c:.2}/b");
    recorded("3000 steps: c̄", c, 29.5, 1);
    for (k, steps) in [(1, 6000), (2, 12000)] {
        let (c, worst) = one_over_b(&stats[k]);
        eprintln!("1/b law, {steps} steps: c̄ = {c:.2}, worst deviation {worst:.2} SE");
        assert!(worst >= 3.0, "{steps} steps: the seed means now fit gap = {c:.2}/b within {worst:.2} SE (the finding: they do not)");
    }
    // The gap is not stationary: from the 3000-step window to the 6000-step one every seed's gap
    // shrinks at every b < n (40 of 40 pairs), as the loss and with it the batch noise fall.
    for b in &bs[1..] {
        for (r3, r6) in by_b(&all[0], *b).iter().zip(by_b(&all[1], *b)) {
            assert!(r6.gap < r3.gap, "b = {b}: gap {} over steps 3000–6000 is not below {} over 1500–3000", r6.gap, r3.gap);
        }
    }
    // Later in training half the data set sits at or above 2/η: b = 128's gap < 0 in 1 of 10 seeds
    // at 3000 steps (seed 5, −0.0569), 8 of 10 at 6000 and 4 of 5 at 12000.
    let neg = |rs: &[SgdResult]| by_b(rs, 128).iter().filter(|r| r.gap < 0.0).count();
    assert_eq!([neg(&all[0]), neg(&all[1]), neg(&all[2])], [1, 8, 4]);
    // ΔS underestimates the positive gaps: over the 3000-step runs gap/ΔS = 7.00 … 77.4 (b = 64
    // seed 5, b = 128 seed 0); over all 85 runs with a positive gap 0.948 … 123.8, below 1 once
    // (6000 steps, b = 64, seed 5: gap 0.0204, ΔS 0.0215: a gap near zero).
    let q: Vec<f64> = all[0].iter().filter(|r| r.batch < 256 && r.gap > 0.0).map(|r| r.ratio).collect();
    assert_eq!(q.len(), 39);
    recorded("3000 steps: min gap/ΔS", q.iter().cloned().fold(f64::MAX, f64::min), 7.00, 2);
    recorded("3000 steps: max gap/ΔS", q.iter().cloned().fold(f64::MIN, f64::max), 77.4, 1);
    let q: Vec<f64> = all.iter().flatten().filter(|r| r.batch < 256 && r.gap > 0.0).map(|r| r.ratio).collect();
    assert_eq!((q.len(), q.iter().filter(|&&x| x <= 1.0).count()), (85, 1));
    recorded("all lengths: min gap/ΔS", q.iter().cloned().fold(f64::MAX, f64::min), 0.948, 3);
    recorded("all lengths: max gap/ΔS", q.iter().cloned().fold(f64::MIN, f64::max), 123.8, 1);
}

/// Keeps every state of an SGD run (through JSON, as `selfstab sgd` saves one).
struct AllStates(Vec<sgd::SgdState>);

impl sgd::SgdObserver for AllStates {
    fn due(&mut self, _t: u64) -> bool {
        true
    }
    fn save(&mut self, st: &sgd::SgdState) -> Result<bool, selfstab::Error> {
        self.0.push(serde_json::from_slice(&serde_json::to_vec(st).unwrap()).unwrap());
        Ok(false)
    }
}

#[test]
fn sgd_run_resumes_bit_identically_from_any_saved_state() {
    // An SGD run goes on from any state it saved (iterate, u, checks, both samplers' positions,
    // mid-epoch included) to the result of the uninterrupted run, bit for bit; a sampler
    // restored at a position is the saved sampler's stream from there.
    let (ds, th) = setting();
    let o = opts(48, 60, 10);
    let mut all = AllStates(vec![]);
    let full = sgd::run_from(&ds, &th, &o, None, &mut all).unwrap();
    assert_eq!(all.0.len(), 60);
    let json = |r: &SgdResult| serde_json::to_string(r).unwrap();
    for st in all.0.into_iter().step_by(3) {
        let t = st.t;
        let r = sgd::run_from(&ds, &th, &o, Some(st), &mut ()).unwrap();
        assert_eq!(json(&r), json(&full), "resumed at step {t}");
    }
    let mut s = Sampler::new(50, 8, 3).unwrap();
    for _ in 0..9 {
        s.next_batch();
    }
    let mut r = Sampler::restore(50, 8, 3, &s.state()).unwrap();
    for _ in 0..20 {
        assert_eq!(r.next_batch(), s.next_batch());
    }
    let off = sgd::SamplerState { draws: s.state().draws + 1, ..s.state() };
    assert!(Sampler::restore(50, 8, 3, &off).is_err(), "a position no sampler reaches is refused");
    // A queue of a whole epoch (6 batches of 8 of 50) is not a position either: an epoch's batches
    // are queued only after its first was taken.
    let mut fresh = Sampler::new(50, 8, 3).unwrap();
    let whole = sgd::SamplerState { draws: 49, queue: fresh.epoch() };
    assert_eq!(whole.queue.len(), 6);
    assert!(Sampler::restore(50, 8, 3, &whole).is_err(), "a whole epoch's queue is refused");
}
