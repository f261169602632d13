//! Latency of handing work to rayon's other worker (issue 7): `rayon::join` of two short spins
//! (each `work_us` µs of arithmetic), issued from inside the pool after `gap_us` µs of work on the
//! caller alone, as the eigen solver does between its split passes and HVPs. Prints the median and
//! the 90th percentile of the join's wall time over its ideal (`work_us`), and how often the
//! second half ran on the other worker.
//!
//! `cargo run --release --example join_latency`
use std::time::{Duration, Instant};

fn spin(us: u64) -> u64 {
    let t = Instant::now();
    let mut x = 1u64;
    while t.elapsed() < Duration::from_micros(us) {
        for _ in 0..64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        }
    }
    x
}

fn main() {
    rayon::scope(|_| {
        for &gap in &[0u64, 20, 50, 100, 200, 500, 1000, 3000] {
            for &work in &[20u64, 100] {
                let mut over: Vec<f64> = Vec::new();
                let mut stolen = 0;
                let reps = 400;
                for _ in 0..reps {
                    spin(gap);
                    let me = rayon::current_thread_index();
                    let t = Instant::now();
                    let (_, other) = rayon::join(|| spin(work), || {
                        spin(work);
                        rayon::current_thread_index()
                    });
                    over.push(t.elapsed().as_secs_f64() * 1e6 - work as f64);
                    if other != me {
                        stolen += 1;
                    }
                }
                over.sort_by(|a, b| a.partial_cmp(b).unwrap());
                println!(
                    "gap {gap:5} µs, halves {work:4} µs: join over ideal median {:7.1} µs, p90 {:7.1} µs; other worker ran it {:3.0} %",
                    over[reps / 2],
                    over[reps * 9 / 10],
                    100.0 * stolen as f64 / reps as f64
                );
            }
        }
    });
}
