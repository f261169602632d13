//! Paired timing for the examples that compare two variants of one measurement on a shared host
//! (`#[path = "support/pairs.rs"] mod pairs;`).

/// Runs `a` and `b` (each returning a time) `reps` times each, alternating which goes first, and
/// returns the median of `a`, the median of `b` and the median per-round ratio b ÷ a.
pub fn alternate(reps: usize, mut a: impl FnMut() -> f64, mut b: impl FnMut() -> f64) -> (f64, f64, f64) {
    let (mut xs, mut ys, mut ratio) = (vec![], vec![], vec![]);
    for i in 0..reps.max(1) {
        let (x, y) = if i % 2 == 0 {
            let x = a();
            (x, b())
        } else {
            let y = b();
            (a(), y)
        };
        xs.push(x);
        ys.push(y);
        ratio.push(y / x);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (med(&mut xs), med(&mut ys), med(&mut ratio))
}
