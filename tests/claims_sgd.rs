//! Claim 32 (stochastic sharpness gap, reference.md §9.3): under mini-batch GD the full-batch
//! sharpness sits below 2/η by a gap; compare with ΔS = ηβσ_u²/(4α). Setting: the digits MLP of
//! claims 23–27 (64-16-16-10, tanh, MSE, n = 256, θ_init of tests/data, η = 0.2667, 2/η = 7.4991),
//! sampling and definitions in theory/README.md ("Several unstable eigenvalues", SGD).
#![allow(clippy::disallowed_methods)] // test code may use std's libm (clippy.toml: library code may not)

mod common;
use common::pinned_within;

use selfstab::data::{self, Dataset};
use selfstab::linalg::zeros;
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
        eig_tol: 1e-10,
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

// The finding's numbers are pinned from both sides (`common::pinned_within`). SGD's window means
// are averages of a chaotic trajectory: a change of rounding anywhere moves them by a few per cent,
// not by 1.5×.

#[test]
fn claim_32_sgd_gap_positive_full_batch_none_f64() {
    // CI size: 800 steps, checks every 40, window = last 400 steps. Full batch (b = n = 256) is GD:
    // σ_u² is rounding (≤ 1e-25; measured 1.1e-34) and the window mean sits at 2/η: asserted
    // within 2% of 2/η (measured gap −0.039, 0.52%; claim 25's 0.6% is for a 500-step window of
    // every GD step, here 10 checks 40 steps apart sample the oscillation of S, so the bound is
    // wider); b = 32 sits clearly below: measured gap 1.589 (21% of
    // 2/η), and ΔS = ηβσ_u²/(4α) = 0.110 underestimates it 14.5×. The finding's numbers are pinned
    // within a factor 1.5 either way.
    let (ds, th) = setting();
    let full = sgd::run(&ds, &th, &opts(256, 800, 40)).unwrap();
    let b32 = sgd::run(&ds, &th, &opts(32, 800, 40)).unwrap();
    report(&[full.clone(), b32.clone()]);
    assert!(full.eos_step.is_some() && b32.eos_step.is_some());
    assert!(full.full_batch && !b32.full_batch, "b = n is flagged as full batch, b < n is not");
    // With σ_u² at rounding, ΔS and gap/ΔS are undefined for the full batch (null in sgd.json).
    assert!(full.predicted_gap.is_nan() && full.ratio.is_nan(), "full batch: ΔS {}, ratio {}", full.predicted_gap, full.ratio);
    assert!(full.mean_sigma_u2 <= 1e-25, "full batch σ_u² = {:e}", full.mean_sigma_u2);
    assert!(full.gap.abs() <= 0.02 * full.threshold, "full-batch window mean off 2/η by {}", full.gap);
    pinned_within("b = 32: gap", b32.gap, 1.589, 1.5);
    pinned_within("b = 32: ΔS", b32.predicted_gap, 0.110, 1.5);
    pinned_within("b = 32: gap/ΔS", b32.ratio, 14.5, 1.5);
}

#[test]
#[ignore = "study: 5 batch sizes × 3000 steps (≈ 7 s in release); numbers in theory/claims.toml"]
fn claim_32_sgd_gap_against_batch_and_formula_study() {
    let (ds, th) = setting();
    let rs: Vec<SgdResult> = [256, 128, 64, 32, 16].iter().map(|&b| sgd::run(&ds, &th, &opts(b, 3000, 20)).unwrap()).collect();
    report(&rs);
    // Measured (theory/claims.toml claim 32): gaps −0.053, 0.387, 0.374, 1.056, 1.510; the
    // formula ΔS is 20–80× smaller than the gap (ratios 77.4, 19.8, 33.2, 24.4), α > 0 on 47–63% of
    // the window checks; b·gap = 50, 24, 34, 24 is not constant. The finding: the full batch sits at
    // 2/η, every b < n below it by the measured gap, ΔS too small by the measured ratio (each within
    // a factor 1.5 either way), α > 0 on only about half the checks, and b·gap varying ≥ 1.5×.
    assert!(rs[0].full_batch && rs[0].gap.abs() < 0.02 * rs[0].threshold, "full batch: gap {}", rs[0].gap);
    let gaps = [0.387, 0.374, 1.056, 1.510];
    let ratios = [77.4, 19.8, 33.2, 24.4];
    for ((r, g), q) in rs[1..].iter().zip(gaps).zip(ratios) {
        pinned_within(&format!("b = {}: gap", r.batch), r.gap, g, 1.5);
        pinned_within(&format!("b = {}: gap/ΔS", r.batch), r.ratio, q, 1.5);
        assert!((0.4..=0.7).contains(&r.alpha_pos_fraction), "b = {}: α > 0 on {:.0}% of the window checks", r.batch, 100.0 * r.alpha_pos_fraction);
    }
    assert!(rs[2].gap < rs[3].gap && rs[3].gap < rs[4].gap);
    let bgap: Vec<f64> = rs[1..].iter().map(|r| r.batch as f64 * r.gap).collect();
    let (lo, hi) = bgap.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(hi >= 1.5 * lo, "b·gap = {bgap:?} is nearly constant (the finding: it is not)");
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
