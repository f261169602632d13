//! Wall-clock timing of the diagnostics' kernels.
#![allow(dead_code)] // each diagnostic uses one of the two
use std::time::Instant;

/// Wall clock per call of `f` in µs: the median of 7 batches of `calls` calls.
pub fn median_us(calls: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..7)
        .map(|_| {
            let t0 = Instant::now();
            for _ in 0..calls {
                f();
            }
            t0.elapsed().as_secs_f64() / calls as f64 * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[3]
}

/// Wall clock per call of `a` and of `b` in µs, each the median of 15 batches of `calls` calls,
/// the batches of the two alternating (so that a drift of the machine's load hits both alike).
pub fn paired_median_us(calls: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    let batch = |f: &mut dyn FnMut()| {
        let t0 = Instant::now();
        for _ in 0..calls {
            f();
        }
        t0.elapsed().as_secs_f64() / calls as f64 * 1e6
    };
    let (mut ta, mut tb) = (vec![], vec![]);
    for _ in 0..15 {
        ta.push(batch(&mut a));
        tb.push(batch(&mut b));
    }
    ta.sort_by(f64::total_cmp);
    tb.sort_by(f64::total_cmp);
    (ta[7], tb[7])
}
