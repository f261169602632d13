//! Single-call wall times of the MLP's HVP and ∇S = ∇³L[u,u] with two threads (issue 7), called
//! the two ways a primitive can be issued: from outside rayon's pool, one call after another (as a
//! caller's own loop does, and as the criterion rows did up to Session 19), and from inside one
//! `linalg::on_pool` (as an eigen solve issues its HVPs and a tracking step its evaluations). Each
//! way alternates with the other `rounds` times; 400 calls per block at θ = `init_params(layers,
//! 0)` along a fixed direction. Prints the quantiles of each block.
//!
//! Measured (benches/RESULTS.md "Session 20"): from outside, about half the calls find the other
//! worker asleep and take ≈ 1.45× (medium: HVP 0.71 or 1.0 ms, ∇S 1.2 or 2.0 ms); inside the pool
//! every call is fast.
//!
//! `cargo run --release --example pool_calls -- [tiny|medium|large] [rounds]` (default medium, 3)
use std::time::Instant;

use selfstab::data::{digits, init_params};
use selfstab::linalg::{on_pool, set_threads};
use selfstab::models::mlp::{Activation, LossKind, Mlp};
use selfstab::objective::Objective;

fn quantiles(mut ts: Vec<f64>) -> String {
    ts.sort_by(|a, b| a.total_cmp(b));
    let q = |f: f64| ts[((ts.len() - 1) as f64 * f).round() as usize];
    format!("min {:.3} q10 {:.3} q50 {:.3} q90 {:.3} ms", q(0.0), q(0.1), q(0.5), q(0.9))
}

fn main() {
    let cfg = std::env::args().nth(1).unwrap_or_else(|| "medium".into());
    let rounds: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    let (layers, n): (&[usize], usize) = match cfg.as_str() {
        "tiny" => (&[64, 32, 32, 32, 10], 200),
        "medium" => (&[64, 64, 64, 64, 10], 500),
        "large" => (&[64, 128, 128, 10], 1000),
        other => panic!("unknown configuration {other} (tiny, medium or large)"),
    };
    let ds = digits(n).expect("digits");
    let obj = Mlp::<f64>::new(layers, Activation::Tanh, LossKind::Mse, &ds, ()).expect("mlp");
    let p = obj.dim();
    let theta = init_params(layers, 0).expect("θ₀");
    let u: Vec<f64> = (0..p).map(|i| ((i * 7919 + 13) % 1009) as f64 / 1009.0 - 0.5).collect();
    set_threads(2);
    let mut out = vec![0.0; p];
    // Warm-up: the constant blocks at θ and the pools' buffers.
    obj.hvp(&theta, &u, &mut out).expect("hvp");
    obj.d3_sym(&theta, &u, &mut out).expect("d3_sym");
    println!("{cfg} (p = {p}), two threads, 400 calls per block");
    for r in 0..rounds {
        for inside in [false, true] {
            for what in ["HVP", "∇S"] {
                let mut block = || {
                    (0..400)
                        .map(|_| {
                            let t0 = Instant::now();
                            match what {
                                "HVP" => obj.hvp(&theta, &u, &mut out).expect("hvp"),
                                _ => obj.d3_sym(&theta, &u, &mut out).expect("d3_sym"),
                            }
                            t0.elapsed().as_secs_f64() * 1e3
                        })
                        .collect::<Vec<f64>>()
                };
                let ts = if inside { on_pool(block) } else { block() };
                let way = if inside { "inside one on_pool" } else { "from outside the pool" };
                println!("round {r} {what:<3} {way:<22} {}", quantiles(ts));
            }
        }
    }
}
