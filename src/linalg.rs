//! Vector and matrix kernels over any [`Scalar`]: the generic fixed-order loops (bit-identical on any
//! x86-64 machine for f64, correctly rounded per operation for MPFR) and the faer fast path for f64
//! (theory/README.md "Numerics"); the cyclic Jacobi eigensolver over the generic scalar that claim
//! 34 checks Lanczos against (decisions §5).

use crate::scalar::Scalar;

/// Row-major element (i, j) of a matrix stored with `cols` columns.
#[inline(always)]
fn at(i: usize, j: usize, cols: usize) -> usize {
    i * cols + j
}

/// Whether `T` is f64 (the fast path's type; everything else is the generic / MPFR path).
pub fn is_f64<T: 'static>() -> bool {
    std::any::TypeId::of::<T>() == std::any::TypeId::of::<f64>()
}

/// Generic `C (+)= op(A)·op(B)` with a fixed summation order (l = 0..k for every entry). With a
/// free thread ([`free_threads`]) and at least [`PAR_GENERIC_MIN`] multiply-adds (MPFR) or
/// [`PAR_GEMM_MIN`] (f64), the two halves of C's rows run concurrently: every entry is the same
/// chain of operations either way, so the bits do not depend on it.
pub fn gemm_generic<S: Scalar>(
    c: &mut [S],
    a: &[S],
    ta: bool,
    b: &[S],
    tb: bool,
    (m, k, n): (usize, usize, usize),
    accumulate: bool,
) {
    assert_eq!(c.len(), m * n, "gemm: C has the wrong size");
    assert_eq!(a.len(), m * k, "gemm: A has the wrong size");
    assert_eq!(b.len(), k * n, "gemm: B has the wrong size");
    if !accumulate {
        c.iter_mut().for_each(S::set_zero);
    }
    // Rows i0, i0 + 1, … of C in `cs`.
    let rows = |i0: usize, cs: &mut [S]| {
        for (r, crow) in cs.chunks_mut(n.max(1)).enumerate() {
            let i = i0 + r;
            for l in 0..k {
                let ail = if ta { &a[at(l, i, m)] } else { &a[at(i, l, k)] };
                if tb {
                    for (j, cj) in crow.iter_mut().enumerate() {
                        cj.mul_acc(ail, &b[at(j, l, k)]);
                    }
                } else {
                    let brow = &b[l * n..(l + 1) * n];
                    for (cj, blj) in crow.iter_mut().zip(brow) {
                        cj.mul_acc(ail, blj);
                    }
                }
            }
        }
    };
    let min = if is_f64::<S>() { PAR_GEMM_MIN } else { PAR_GENERIC_MIN };
    if m >= 2 && n > 0 && m * k * n >= min && free_threads() >= 2 {
        let (c0, c1) = c.split_at_mut(m / 2 * n);
        join2(|| rows(0, c0), || rows(m / 2, c1));
    } else {
        rows(0, c);
    }
}

/// Multiply-adds from which an MPFR product ([`gemm_generic`]) splits its rows over two threads
/// (2¹² ≈ 4,000: about 0.2 ms at 256 bits, far above a thread's wake-up).
const PAR_GENERIC_MIN: usize = 1 << 12;

/// Number of threads the faer kernels may use (1 = sequential, the default).
static FAER_THREADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

/// Let the f64 fast path use `n` threads (faer's rayon parallelism); 1 means sequential.
pub fn set_threads(n: usize) {
    FAER_THREADS.store(n.max(1), std::sync::atomic::Ordering::Relaxed);
}

/// The default thread count of the commands: 2 where the machine has at least two cores, else 1
/// (the engine's parallelism is two-way: a tracking step's two branches, the MLP's two data shards;
/// the results do not depend on the count).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
}

/// The thread count set by [`set_threads`] (also used to split the MLP's elementwise passes).
pub fn threads() -> usize {
    FAER_THREADS.load(std::sync::atomic::Ordering::Relaxed).max(1)
}

/// Branches of concurrent work ([`branch`]) running now, each occupying one thread.
static BRANCHES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Runs `f` as one of several concurrent branches (`tracking::overlap`): while it runs, it counts
/// as occupying a thread in [`free_threads`].
pub fn branch<R>(f: impl FnOnce() -> R) -> R {
    /// Ends the branch also when `f` panics.
    struct Running;
    impl Drop for Running {
        fn drop(&mut self) {
            BRANCHES.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    BRANCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let _running = Running;
    f()
}

/// Multiply-adds (entries × vectors) from which an f64 pass over a set of long vectors — the eigen
/// solver's dots, Gram–Schmidt updates, Ritz vectors and residuals ([`dots`], [`lin_combs`],
/// `sharpness`) — splits over two threads ([`split_pass`]). 2¹⁶ multiply-adds take ≈ 15–30 µs,
/// far above a hand-off between the pool's two workers.
pub const PASS_PAR_MIN: usize = 1 << 16;

/// [`PASS_PAR_MIN`] for MPFR (a 256-bit multiply-add costs ≈ 0.1 µs).
pub const PASS_PAR_MIN_MPFR: usize = 1 << 10;

/// Whether a pass of `work` multiply-adds over vectors of `S` splits over two threads: a free
/// thread ([`free_threads`]) and at least [`PASS_PAR_MIN`] (f64) or [`PASS_PAR_MIN_MPFR`].
pub fn split_pass<S: 'static>(work: usize) -> bool {
    let min = if is_f64::<S>() { PASS_PAR_MIN } else { PASS_PAR_MIN_MPFR };
    work >= min && free_threads() >= 2
}

/// The index at which a pass over vectors of length `p` doing `work` multiply-adds cuts them for two
/// threads: half of p rounded down to a multiple of [`PASS_BLOCK`], when that is not 0 and
/// [`split_pass`] holds; `None` runs the pass on the calling thread.
pub fn pass_mid<S: 'static>(p: usize, work: usize) -> Option<usize> {
    let mid = p / 2 / PASS_BLOCK * PASS_BLOCK;
    (mid > 0 && split_pass::<S>(work)).then_some(mid)
}

/// Whether [`join2`]'s halves poll for work when done (see there).
static PARTNER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turns [`join2`]'s polling on (the default) or off, for measurements (`examples/partner_pairs`).
/// Either way the results are the same bits.
pub fn set_partner(on: bool) {
    PARTNER.store(on, std::sync::atomic::Ordering::Relaxed);
}

fn partner() -> bool {
    PARTNER.load(std::sync::atomic::Ordering::Relaxed)
}

/// Runs `a` and `b` concurrently, each as a [`branch`] (rayon's `join`). The half that finishes
/// first does not go idle: until the other is done it takes the pool's pending work
/// (`rayon::yield_now`: the other half's own halves, which it hands over as it goes) or spins. A
/// rayon worker left idle sleeps after ≈ 50 µs, and handing it work then costs the caller a wake-up
/// and the work ≈ 30–100 µs before it starts on a 2-vCPU VM (`examples/join_latency`), several
/// times per HVP of an eigen solve (its split passes, the MLP's shards). Measured
/// (`examples/partner_pairs`, benches/RESULTS.md "Session 18"): the first two-thread tracking step
/// 2–6 % faster on medium, 1–4 % on large, 6–13 % on tiny. A half polls only for its sibling,
/// which runs on the other worker or waits in a deque it polls, so this adds no wait that rayon's
/// own join does not make. While it waits without work it keeps its core, yielding it to the OS
/// between polls ([`poll_until`]): with more running threads than cores (two 2-thread runs on 2
/// cores) pure spinning made each step 2× slower, the yielding poll is as fast as rayon's sleep
/// there. (With one thread no split runs through here, see [`free_threads`].)
pub fn join2<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    if !partner() {
        return rayon::join(|| branch(a), || branch(b));
    }
    use std::sync::atomic::AtomicBool;
    let (da, db) = (AtomicBool::new(false), AtomicBool::new(false));
    rayon::join(|| half(a, &da, &db), || half(b, &db, &da))
}

/// One half of [`join2`]: `f` as a [`branch`], then `done` set (also when `f` panics), then
/// polling until the sibling has set `sibling`.
fn half<R>(f: impl FnOnce() -> R, done: &std::sync::atomic::AtomicBool, sibling: &std::sync::atomic::AtomicBool) -> R {
    let r = {
        let _done = Done(done);
        branch(f)
    };
    poll_until(sibling);
    r
}

/// Sets its flag when dropped (also on unwinding).
struct Done<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }
}

/// Takes the pool's pending work (`rayon::yield_now`), or spins, until `flag` is set; after
/// [`POLL_SPINS`] polls without work in a row it also yields its core to the OS between polls, so
/// that on a machine with more running threads than cores the sibling (or another process) gets it.
fn poll_until(flag: &std::sync::atomic::AtomicBool) {
    let mut idle = 0_u32;
    while !flag.load(std::sync::atomic::Ordering::Acquire) {
        if rayon::yield_now() == Some(rayon::Yield::Executed) {
            idle = 0;
        } else if idle < POLL_SPINS {
            idle += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// Polls without work after which [`poll_until`] yields its core between polls.
const POLL_SPINS: u32 = 64;

/// Runs `f` on a worker of rayon's pool when two threads are set and the caller is outside the
/// pool, else on the caller: work that hands halves to the other worker many times (an MLP
/// evaluation's products and elementwise passes, an eigen solve's HVPs) then hands them over from
/// inside the pool, directly, instead of waking the pool from outside each time. Where `f` runs does
/// not change its results. A caller's own loop of two-thread evaluations belongs inside one call:
/// entered from outside call by call, about half the calls found the other worker asleep (medium's
/// HVP 1.0 ms against 0.68 ms, `examples/pool_calls`, benches/RESULTS.md "Session 20").
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if threads() >= 2 && rayon::current_thread_index().is_none() {
        return rayon::scope(|_| f());
    }
    f()
}

/// Threads a kernel may split its work over now: [`threads`] less one for every running [`branch`]
/// besides the caller's own (at least 1). While both branches of a 2-thread step run, each runs its
/// kernels on one thread; once one is done, the other's kernels split again. Where work is split
/// does not change the results (see [`faer_par`] and `jet::par_parts`).
pub fn free_threads() -> usize {
    let others = BRANCHES.load(std::sync::atomic::Ordering::Relaxed).saturating_sub(1);
    threads().saturating_sub(others).max(1)
}

/// Products of fewer multiply-adds than this (2²⁰ ≈ 10⁶) run on one thread even after
/// `set_threads(2)`: on an idle 2-core machine faer 0.24 gains from about 10⁶ on
/// (theory/reference/perf-reference.md: 200×64×64 0.74×, 500×64×64 1.31×, 1000×128×10 1.48× wall clock).
/// Inside a 2-thread tracking step (examples/track_branches, idle Xeon, 2 threads, wall ms/step;
/// one thread: medium 160–164, large 345) this threshold with the free-thread rule gave medium
/// 152–154, large 235–240; no splits at all while a branch runs: 141–154, 274; products only from
/// 2²⁵ on: 171–178, 281. Splitting costs thread CPU (faer's team spins while it waits: summed CPU
/// medium 239 vs 164 ms, large 422 vs 337 ms without splits): on a loaded machine one thread is
/// the better choice. (Measured before the f64 MLP split its data into shards: with n ≥
/// `models::mlp::SHARD_MIN_ROWS` its two threads run one shard each, and its products, each on a
/// branch, no longer split.)
const PAR_GEMM_MIN: usize = 1 << 20;

/// faer's parallelism for an m×k by k×n product: [`free_threads`] threads from [`PAR_GEMM_MIN`]
/// multiply-adds on, else sequential. The result does not depend on it: faer's f64 kernel splits
/// the output into row/column tiles, each summing over k in the same blocks (of at most 512) as one
/// thread, and its rank-1 update splits columns. Matrix–vector products (m or n = 1) stay
/// sequential: faer would split their sum over k and add the partial sums, changing the bits.
fn faer_par((m, k, n): (usize, usize, usize)) -> faer::Par {
    match free_threads() {
        1 => faer::Par::Seq,
        _ if m == 1 || n == 1 => faer::Par::Seq,
        _ if m * k * n < PAR_GEMM_MIN => faer::Par::Seq,
        t => faer::Par::rayon(t),
    }
}

/// faer's `C (+)= op(A)·op(B)` on row-major f64 buffers.
pub fn gemm_faer(
    c: &mut [f64],
    a: &[f64],
    ta: bool,
    b: &[f64],
    tb: bool,
    (m, k, n): (usize, usize, usize),
    accumulate: bool,
) {
    use faer::{Accum, MatMut, MatRef};
    let lhs = if ta {
        MatRef::from_row_major_slice(a, k, m).transpose()
    } else {
        MatRef::from_row_major_slice(a, m, k)
    };
    let rhs = if tb {
        MatRef::from_row_major_slice(b, n, k).transpose()
    } else {
        MatRef::from_row_major_slice(b, k, n)
    };
    let dst = MatMut::from_row_major_slice_mut(c, m, n);
    let beta = if accumulate { Accum::Add } else { Accum::Replace };
    faer::linalg::matmul::matmul(dst, beta, lhs, rhs, 1.0, faer_par((m, k, n)));
}

/// x·y in index order.
///
/// # Panics
/// If the lengths differ or both are empty (an empty MPFR sum has no precision to take).
pub fn dot<S: Scalar>(x: &[S], y: &[S]) -> S {
    assert_eq!(x.len(), y.len(), "linalg::dot: vectors of lengths {} and {}", x.len(), y.len());
    let ctx = x.first().map(|v| v.ctx()).expect("linalg::dot: empty vectors (no precision for the zero sum)");
    let mut acc = S::zero(ctx);
    for (a, b) in x.iter().zip(y) {
        acc.mul_acc(a, b);
    }
    acc
}

/// out\[i\] = ys\[i\]·x. Each sum is accumulated exactly as [`dot`]`(ys[i], x)` (same order, same
/// roundings: bit-identical; see [`dots_acc`]), except in f64 from [`DOT_LANES_MIN`] entries on:
/// there each sum runs as [`DOT_LANES`] interleaved chains, chain l over the entries i ≡ l
/// (mod [`DOT_LANES`]) in index order, added chain 0 first, then the entries past the last whole
/// group of [`DOT_LANES`] in index order ([`dots_lanes_f64`]). Every operation is one IEEE
/// multiplication or addition, so the bits are the same on every x86-64 machine and SIMD width.
///
/// With a free thread and at least [`PASS_PAR_MIN`] multiply-adds ([`split_pass`]) the two halves
/// of the list ys run concurrently: each sum is computed whole, on one thread, so the bits do not
/// depend on it.
///
/// # Panics
/// If a ys\[i\] and x differ in length.
pub fn dots<S: Scalar>(x: &[S], ys: &[&[S]]) -> Vec<S> {
    if let Some((i, y)) = ys.iter().enumerate().find(|(_, y)| y.len() != x.len()) {
        panic!("linalg::dots: ys[{i}] has length {}, x has {}", y.len(), x.len());
    }
    if ys.len() >= 2 && split_pass::<S>(x.len() * ys.len()) {
        let h = ys.len() / 2;
        let (mut a, b) = join2(|| dots_one(x, &ys[..h]), || dots_one(x, &ys[h..]));
        a.extend(b);
        return a;
    }
    dots_one(x, ys)
}

/// [`dots`] on the calling thread.
fn dots_one<S: Scalar>(x: &[S], ys: &[&[S]]) -> Vec<S> {
    if x.len() >= DOT_LANES_MIN
        && let Some(out) = S::dots_lanes(x, ys)
    {
        return out;
    }
    let Some(z) = x.first().or_else(|| ys.first().and_then(|y| y.first())) else {
        return Vec::new();
    };
    let mut out = zeros(ys.len(), z.ctx());
    dots_acc(&mut out, x, ys);
    out
}

/// Length from which f64 [`dots`] splits each sum into [`DOT_LANES`] chains. A single chain waits
/// on the latency of every addition and the multi-chain pass of [`dots_acc`] runs scalar code; the
/// lanes are SIMD-wide and bound by memory (`examples/diag_dots`: 15 dots of length 13,130, as in
/// the medium configuration's eigen solves, take 81–109 µs as one chain each and 39–40 µs in
/// lanes on the 2-core AMD EPYC Zen 3). Below it (the golden snapshots' models and the default
/// job's MLP) the sums stay single chains.
pub const DOT_LANES_MIN: usize = 2048;

/// Number of interleaved partial sums of a long f64 dot product (see [`dots`]).
pub const DOT_LANES: usize = 8;

/// [`dots`] in the lane-split order, for f64 (any length).
pub fn dots_lanes_f64(x: &[f64], ys: &[&[f64]]) -> Vec<f64> {
    let mut out = vec![0.0; ys.len()];
    simd(
        #[inline(always)]
        || {
            for (o, y) in out.iter_mut().zip(ys) {
                *o = dot_lanes_in(x, &y[..x.len()]);
            }
        },
    );
    out
}

/// One lane-split sum (see [`dots`]); inlined into [`simd`]'s dispatch.
#[inline(always)]
fn dot_lanes_in(x: &[f64], y: &[f64]) -> f64 {
    let mut a = [0.0f64; DOT_LANES];
    let (xc, yc) = (x.chunks_exact(DOT_LANES), y.chunks_exact(DOT_LANES));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (xs, ys) in xc.zip(yc) {
        for l in 0..DOT_LANES {
            a[l] += xs[l] * ys[l];
        }
    }
    let mut s = a[0];
    for v in &a[1..] {
        s += v;
    }
    for (p, q) in xr.iter().zip(yr) {
        s += p * q;
    }
    s
}

/// Most accumulation chains [`dots_acc`] runs in one pass over x.
const DOTS_CHAINS: usize = 16;

/// acc\[j\] += Σ_i ys\[j\]\[i\]·x\[i\], each sum one `mul_acc` chain in order of i (so chaining calls over
/// consecutive slices of x continues the chain exactly as one [`dot`]). The chains run up to
/// [`DOTS_CHAINS`] per pass over x in one loop: a single chain waits on the latency of each addition,
/// independent chains overlap (and pair up in SIMD registers).
///
/// # Panics
/// If acc and ys differ in length or a ys\[j\] is shorter than x.
pub fn dots_acc<S: Scalar>(acc: &mut [S], x: &[S], ys: &[&[S]]) {
    assert_eq!(acc.len(), ys.len(), "linalg::dots_acc: {} sums for {} vectors", acc.len(), ys.len());
    let n = ys.len();
    if n == 0 {
        return;
    }
    let passes = n.div_ceil(DOTS_CHAINS);
    let per = n.div_ceil(passes);
    simd(
        #[inline(always)]
        || {
            for (a, y) in acc.chunks_mut(per).zip(ys.chunks(per)) {
                macro_rules! by_width {
                    ($($w:literal)*) => {
                        match a.len() {
                            $($w => dots_chains::<S, $w>(a, x, y),)*
                            _ => unreachable!(),
                        }
                    };
                }
                by_width!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);
            }
        },
    );
}

/// Runs `f` through `pulp`'s dispatch, so that its loops (when `f` is a closure marked
/// `#[inline(always)]` calling only inlined code) are compiled for the CPU's SIMD width (AVX2 /
/// AVX-512; baseline SSE2 otherwise). Rust never contracts a·b + c into an FMA: the bits are those
/// of the baseline build.
#[inline(always)]
pub fn simd<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}

/// [`dots_acc`] for exactly N chains.
#[inline(always)]
fn dots_chains<S: Scalar, const N: usize>(acc: &mut [S], x: &[S], ys: &[&[S]]) {
    let ys: [&[S]; N] = std::array::from_fn(|j| &ys[j][..x.len()]);
    let mut a: [S; N] = std::array::from_fn(|j| acc[j].clone());
    for (i, xi) in x.iter().enumerate() {
        for j in 0..N {
            a[j].mul_acc(&ys[j][i], xi);
        }
    }
    for (dst, v) in acc.iter_mut().zip(a) {
        *dst = v;
    }
}

/// y = Σ_j s_j x_j (starting from zero, j in order): the same operations per entry as a sequence of
/// [`axpy`] calls, done block by block so that each block of y stays in cache.
pub fn lin_comb<S: Scalar>(s: &[S], xs: &[&[S]], y: &mut [S]) {
    lin_combs(&[s], xs, &mut [y]);
}

/// ys\[r\] = Σ_j ss\[r\]\[j\] x_j for every r, each exactly as [`lin_comb`] (the same operations per
/// entry), in one blocked pass: each block of the x_j is read from memory once for all the
/// combinations (and from cache by the later ones), four x_j per pass over the block of y_r
/// ([`combine_in`]).
///
/// With a free thread and at least [`PASS_PAR_MIN`] multiply-adds ([`split_pass`]) the two halves
/// of the entries (cut at a multiple of the block) run concurrently: the same operations per entry.
pub fn lin_combs<S: Scalar>(ss: &[&[S]], xs: &[&[S]], ys: &mut [&mut [S]]) {
    debug_assert!(ss.len() == ys.len() && ss.iter().all(|s| s.len() == xs.len()));
    let p = ys.first().map_or(0, |y| y.len());
    if let Some(mid) = pass_mid::<S>(p, p * xs.len() * ys.len()) {
        let (mut lo, mut hi): (Vec<&mut [S]>, Vec<&mut [S]>) = ys.iter_mut().map(|y| y.split_at_mut(mid)).unzip();
        let xs_hi: Vec<&[S]> = xs.iter().map(|x| &x[mid..]).collect();
        join2(|| lin_combs_one(ss, xs, &mut lo), || lin_combs_one(ss, &xs_hi, &mut hi));
        return;
    }
    lin_combs_one(ss, xs, ys)
}

/// Entries per block of the blocked passes over sets of long vectors ([`lin_combs`], the eigen
/// solver's Gram–Schmidt and residual passes); the two-thread splits cut at a multiple of it.
pub const PASS_BLOCK: usize = 512;

/// [`lin_combs`] on the calling thread (ys may be the tails of longer vectors: `xs` then the same
/// tails).
fn lin_combs_one<S: Scalar>(ss: &[&[S]], xs: &[&[S]], ys: &mut [&mut [S]]) {
    let p = ys.first().map_or(0, |y| y.len());
    simd(
        #[inline(always)]
        || {
            ys.iter_mut().for_each(|y| y.iter_mut().for_each(S::set_zero));
            for lo in (0..p).step_by(PASS_BLOCK) {
                let hi = (lo + PASS_BLOCK).min(p);
                for (s, y) in ss.iter().zip(ys.iter_mut()) {
                    combine_in(s, xs, lo, &mut y[lo..hi]);
                }
            }
        },
    );
}

/// ‖x‖₂.
pub fn norm<S: Scalar>(x: &[S]) -> S {
    dot(x, x).sqrt()
}

/// y ← y + a·x (through [`simd`]).
pub fn axpy<S: Scalar>(a: &S, x: &[S], y: &mut [S]) {
    simd(
        #[inline(always)]
        || axpy_in(a, x, y),
    );
}

/// [`axpy`]'s loop, for inlining into a [`simd`] closure.
#[inline(always)]
pub fn axpy_in<S: Scalar>(a: &S, x: &[S], y: &mut [S]) {
    debug_assert_eq!(x.len(), y.len());
    for (yi, xi) in y.iter_mut().zip(x) {
        yi.mul_acc(a, xi);
    }
}

/// y ← y + Σ_j s_j·xs_j[lo..lo + len(y)], per entry in order of j: the same operations per entry
/// as one [`axpy_in`] per vector, so the same bits, but four vectors per pass over y (y read and
/// written once per four vectors instead of once per vector). For inlining into a [`simd`]
/// closure.
#[inline(always)]
pub fn combine_in<S: Scalar, X: AsRef<[S]>>(s: &[S], xs: &[X], lo: usize, y: &mut [S]) {
    debug_assert_eq!(s.len(), xs.len());
    let n = y.len();
    let (quads, rest) = (s.len() / 4, s.len() % 4);
    for q in 0..quads {
        let j = 4 * q;
        let (s0, s1, s2, s3) = (&s[j], &s[j + 1], &s[j + 2], &s[j + 3]);
        let x = |i: usize| &xs[j + i].as_ref()[lo..lo + n];
        let (x0, x1, x2, x3) = (x(0), x(1), x(2), x(3));
        for ((((yi, a), b), c), d) in y.iter_mut().zip(x0).zip(x1).zip(x2).zip(x3) {
            yi.mul_acc(s0, a);
            yi.mul_acc(s1, b);
            yi.mul_acc(s2, c);
            yi.mul_acc(s3, d);
        }
    }
    for j in s.len() - rest..s.len() {
        axpy_in(&s[j], &xs[j].as_ref()[lo..lo + n], y);
    }
}

/// x ← a·x (through [`simd`]).
pub fn scale<S: Scalar>(a: &S, x: &mut [S]) {
    simd(
        #[inline(always)]
        || {
            for xi in x.iter_mut() {
                *xi *= a;
            }
        },
    );
}

/// x − y.
pub fn sub<S: Scalar>(x: &[S], y: &[S]) -> Vec<S> {
    x.iter().zip(y).map(|(a, b)| a.clone() - b).collect()
}

/// x + y.
pub fn add<S: Scalar>(x: &[S], y: &[S]) -> Vec<S> {
    x.iter().zip(y).map(|(a, b)| a.clone() + b).collect()
}

/// −x.
pub fn neg<S: Scalar>(x: &[S]) -> Vec<S> {
    x.iter().map(|a| -a.clone()).collect()
}

/// True when every entry is finite.
pub fn all_finite<S: Scalar>(x: &[S]) -> bool {
    x.iter().all(S::is_finite)
}

/// Convert a vector to f64 (reports only).
pub fn to_f64<S: Scalar>(x: &[S]) -> Vec<f64> {
    x.iter().map(S::to_f64).collect()
}

/// Lift an f64 vector exactly into the context `c`.
pub fn from_f64<S: Scalar>(x: &[f64], c: S::Ctx) -> Vec<S> {
    x.iter().map(|&v| S::from_f64(v, c)).collect()
}

/// Zero vector of length n.
pub fn zeros<S: Scalar>(n: usize, c: S::Ctx) -> Vec<S> {
    // `vec!` clones one zero: a single zeroed allocation for f64.
    vec![S::zero(c); n]
}

/// Symmetric eigendecomposition of a dense n×n row-major matrix by the cyclic Jacobi method,
/// written over the generic scalar (the dense cross-check of claim 34 and the small projected
/// problems of the Lanczos solver). Returns eigenvalues in descending order and the matching
/// eigenvectors as rows of a row-major n×n matrix. Converges when every off-diagonal entry is
/// below `eps(ctx)`·‖A‖_F (or after 100 sweeps).
pub fn jacobi_eigen<S: Scalar>(a: &[S], n: usize) -> (Vec<S>, Vec<S>) {
    assert_eq!(a.len(), n * n, "jacobi: matrix is not n×n");
    if n == 0 {
        return (vec![], vec![]);
    }
    let c = a[0].ctx();
    let mut m: Vec<S> = a.to_vec();
    // V holds eigenvectors as columns during the sweeps.
    let mut v: Vec<S> = zeros(n * n, c);
    for i in 0..n {
        v[i * n + i] = S::one(c);
    }
    let fro = norm(&m);
    let thresh = fro * &S::from_mag(S::eps_mag(c), c);
    let zero = S::zero(c);
    let one = S::one(c);
    let two = S::from_i64(2, c);
    let mut scratch = [zero.clone(), zero.clone(), zero.clone()];
    for _sweep in 0..100 {
        let mut off_max = zero.clone();
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[p * n + q].abs();
                if apq > off_max {
                    off_max = apq;
                }
            }
        }
        if off_max <= thresh {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[p * n + q].clone();
                if apq == zero {
                    continue;
                }
                // Rutishauser's stable rotation: θ = (a_qq − a_pp)/(2 a_pq), t = sgn θ/(|θ| + √(θ²+1)).
                let theta = (m[q * n + q].clone() - &m[p * n + p]) / &(two.clone() * &apq);
                let r = (theta.clone() * &theta + &one).sqrt();
                let t = if theta >= zero {
                    one.clone() / &(theta.clone() + &r)
                } else {
                    -(one.clone() / &(r - &theta))
                };
                let cs = one.clone() / &(t.clone() * &t + &one).sqrt();
                let sn = t.clone() * &cs;
                // Rotate rows/columns p and q of m: m ← Jᵀ m J (and V ← V J), in place through
                // scratch values: the same roundings as cs·x − sn·y and sn·x + cs·y, without the
                // temporaries (allocations in MPFR).
                rotate(&mut m, n, p, q, true, &cs, &sn, &mut scratch);
                rotate(&mut m, n, p, q, false, &cs, &sn, &mut scratch);
                rotate(&mut v, n, p, q, true, &cs, &sn, &mut scratch);
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| {
        m[j * n + j]
            .partial_cmp(&m[i * n + i])
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(i.cmp(&j))
    });
    let vals: Vec<S> = order.iter().map(|&i| m[i * n + i].clone()).collect();
    let mut vecs: Vec<S> = Vec::with_capacity(n * n);
    for &i in &order {
        for k in 0..n {
            vecs.push(v[k * n + i].clone());
        }
    }
    (vals, vecs)
}

/// One Jacobi rotation of columns (`cols`) or rows p, q of the n×n row-major `a`:
/// (x, y) ← (cs·x − sn·y, sn·x + cs·y), each result rounded as the three-operation expression.
#[allow(clippy::too_many_arguments)]
#[inline]
fn rotate<S: Scalar>(a: &mut [S], n: usize, p: usize, q: usize, cols: bool, cs: &S, sn: &S, scratch: &mut [S; 3]) {
    let [x, y, t] = scratch;
    for k in 0..n {
        let (ip, iq) = if cols { (k * n + p, k * n + q) } else { (p * n + k, q * n + k) };
        x.assign_from(&a[ip]);
        y.assign_from(&a[iq]);
        let ap = &mut a[ip];
        ap.assign_from(cs);
        *ap *= &*x;
        t.assign_from(sn);
        *t *= &*y;
        *ap -= &*t;
        let aq = &mut a[iq];
        aq.assign_from(sn);
        *aq *= &*x;
        t.assign_from(cs);
        *t *= &*y;
        *aq += &*t;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join2_returns_both_halves_and_a_panicking_half_releases_its_sibling() {
        // Each case runs on its own thread and must finish within 30 s: a half that kept polling
        // for a sibling that never finishes would hang instead of failing.
        let within = |f: fn() -> bool| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(f());
            });
            rx.recv_timeout(std::time::Duration::from_secs(30))
        };
        let nested = || join2(|| 1 + 1, || join2(|| 3, || join2(|| 4, || 5))) == (2, (3, (4, 5)));
        assert_eq!(within(nested), Ok(true));
        let a_panics = || {
            std::panic::catch_unwind(|| join2(|| -> i32 { panic!("half a fails (expected by the test)") }, || 2)).is_err()
        };
        assert_eq!(within(a_panics), Ok(true));
        let b_panics = || {
            std::panic::catch_unwind(|| join2(|| 1, || -> i32 { panic!("half b fails (expected by the test)") })).is_err()
        };
        assert_eq!(within(b_panics), Ok(true));
    }

    #[test]
    fn gemm_generic_matches_faer_on_all_transposes() {
        let (m, k, n) = (7, 5, 9);
        let a: Vec<f64> = (0..m * k).map(|i| ((i * 37 % 11) as f64 - 5.0) / 3.0).collect();
        let b: Vec<f64> = (0..k * n).map(|i| ((i * 17 % 13) as f64 - 6.0) / 7.0).collect();
        for ta in [false, true] {
            for tb in [false, true] {
                let mut c1 = vec![0.5; m * n];
                let mut c2 = c1.clone();
                gemm_generic(&mut c1, &a, ta, &b, tb, (m, k, n), true);
                gemm_faer(&mut c2, &a, ta, &b, tb, (m, k, n), true);
                for (x, y) in c1.iter().zip(&c2) {
                    assert!((x - y).abs() <= 1e-14 * (1.0 + x.abs()), "{x} vs {y}");
                }
            }
        }
    }

    #[test]
    fn jacobi_reconstructs_symmetric_matrix() {
        let n = 6;
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = 1.0 / (1.0 + i as f64 + j as f64) + if i == j { i as f64 } else { 0.0 };
            }
        }
        let (vals, vecs) = jacobi_eigen(&a, n);
        for (r, lam) in vals.iter().enumerate() {
            let u = &vecs[r * n..(r + 1) * n];
            for i in 0..n {
                let au: f64 = (0..n).map(|j| a[i * n + j] * u[j]).sum();
                assert!((au - lam * u[i]).abs() < 1e-13, "residual too large");
            }
        }
        assert!(vals.windows(2).all(|w| w[0] >= w[1]));
    }

    /// The Jacobi method before the in-place rotation rewrite (commit c6c0be9), kept verbatim as the
    /// reference for `jacobi_in_place_rotation_is_bit_identical`.
    #[allow(clippy::needless_range_loop)]
    fn jacobi_eigen_before<S: Scalar>(a: &[S], n: usize) -> (Vec<S>, Vec<S>) {
        assert_eq!(a.len(), n * n, "jacobi: matrix is not n×n");
        if n == 0 {
            return (vec![], vec![]);
        }
        let c = a[0].ctx();
        let mut m: Vec<S> = a.to_vec();
        // V holds eigenvectors as columns during the sweeps.
        let mut v: Vec<S> = zeros(n * n, c);
        for i in 0..n {
            v[i * n + i] = S::one(c);
        }
        let fro = norm(&m);
        let thresh = fro * &S::from_mag(S::eps_mag(c), c);
        let zero = S::zero(c);
        let one = S::one(c);
        let two = S::from_i64(2, c);
        for _sweep in 0..100 {
            let mut off_max = zero.clone();
            for p in 0..n {
                for q in p + 1..n {
                    let apq = m[p * n + q].abs();
                    if apq > off_max {
                        off_max = apq;
                    }
                }
            }
            if off_max <= thresh {
                break;
            }
            for p in 0..n {
                for q in p + 1..n {
                    let apq = m[p * n + q].clone();
                    if apq == zero {
                        continue;
                    }
                    // Rutishauser's stable rotation: θ = (a_qq − a_pp)/(2 a_pq), t = sgn θ/(|θ| + √(θ²+1)).
                    let theta = (m[q * n + q].clone() - &m[p * n + p]) / &(two.clone() * &apq);
                    let r = (theta.clone() * &theta + &one).sqrt();
                    let t = if theta >= zero {
                        one.clone() / &(theta.clone() + &r)
                    } else {
                        -(one.clone() / &(r - &theta))
                    };
                    let cs = one.clone() / &(t.clone() * &t + &one).sqrt();
                    let sn = t.clone() * &cs;
                    // Rotate rows/columns p and q of m: m ← Jᵀ m J.
                    for k in 0..n {
                        let mkp = m[k * n + p].clone();
                        let mkq = m[k * n + q].clone();
                        m[k * n + p] = cs.clone() * &mkp - &(sn.clone() * &mkq);
                        m[k * n + q] = sn.clone() * &mkp + &(cs.clone() * &mkq);
                    }
                    for k in 0..n {
                        let mpk = m[p * n + k].clone();
                        let mqk = m[q * n + k].clone();
                        m[p * n + k] = cs.clone() * &mpk - &(sn.clone() * &mqk);
                        m[q * n + k] = sn.clone() * &mpk + &(cs.clone() * &mqk);
                    }
                    for k in 0..n {
                        let vkp = v[k * n + p].clone();
                        let vkq = v[k * n + q].clone();
                        v[k * n + p] = cs.clone() * &vkp - &(sn.clone() * &vkq);
                        v[k * n + q] = sn.clone() * &vkp + &(cs.clone() * &vkq);
                    }
                }
            }
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&i, &j| {
            m[j * n + j]
                .partial_cmp(&m[i * n + i])
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(i.cmp(&j))
        });
        let vals: Vec<S> = order.iter().map(|&i| m[i * n + i].clone()).collect();
        let mut vecs: Vec<S> = Vec::with_capacity(n * n);
        for &i in &order {
            for k in 0..n {
                vecs.push(v[k * n + i].clone());
            }
        }
        (vals, vecs)
    }

    /// The in-place rotations perform the same IEEE / MPFR operations as the expression form: the
    /// eigenvalues and eigenvectors are bit-identical (f64 and 256-bit MPFR, sizes 1…24).
    #[test]
    fn jacobi_in_place_rotation_is_bit_identical() {
        for n in [1usize, 2, 5, 13, 24] {
            let mut a = vec![0.0_f64; n * n];
            for i in 0..n {
                for j in 0..=i {
                    let v = ((i * 7919 + j * 104_729) % 1000) as f64 / 997.0 - 0.5 + if i == j { i as f64 * 0.3 } else { 0.0 };
                    a[i * n + j] = v;
                    a[j * n + i] = v;
                }
            }
            let (v1, e1) = jacobi_eigen(&a, n);
            let (v0, e0) = jacobi_eigen_before(&a, n);
            let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&v1), bits(&v0), "f64 eigenvalues, n = {n}");
            assert_eq!(bits(&e1), bits(&e0), "f64 eigenvectors, n = {n}");
            let af: Vec<rug::Float> = from_f64(&a, 256);
            let (w1, f1) = jacobi_eigen(&af, n);
            let (w0, f0) = jacobi_eigen_before(&af, n);
            assert_eq!(w1, w0, "MPFR eigenvalues, n = {n}");
            assert_eq!(f1, f0, "MPFR eigenvectors, n = {n}");
        }
    }

    /// `dots` (and `dots_acc` chained over slices) and `lin_comb` give the bits of the `dot` /
    /// successive-`axpy` loops they replace in the eigen solver (f64 and 256-bit MPFR; lengths
    /// across the 512-entry block boundary, counts not multiples of 4 and beyond one 16-chain pass).
    #[test]
    fn dots_and_lin_comb_are_bit_identical_to_dot_and_axpy() {
        fn check<S: Scalar>(c: S::Ctx) {
            for (len, count) in [(1usize, 1usize), (7, 4), (513, 6), (1100, 9), (300, 17), (40, 35)] {
                let vec_of = |seed: usize| -> Vec<S> {
                    (0..len).map(|i| S::from_f64((((i + 3) * (seed + 11) * 7919) % 1009) as f64 / 1009.0 - 0.37, c)).collect()
                };
                let x = vec_of(0);
                let ys: Vec<Vec<S>> = (1..=count).map(vec_of).collect();
                let refs: Vec<&[S]> = ys.iter().map(Vec::as_slice).collect();
                let got = dots(&x, &refs);
                for (g, y) in got.iter().zip(&ys) {
                    assert!(g == &dot(y, &x) && g.to_decimal() == dot(y, &x).to_decimal());
                }
                // Chained over two slices of x: the same chains.
                let cut = len / 3;
                let mut acc = zeros::<S>(count, c);
                dots_acc(&mut acc, &x[..cut], &refs.iter().map(|y| &y[..cut]).collect::<Vec<_>>());
                dots_acc(&mut acc, &x[cut..], &refs.iter().map(|y| &y[cut..]).collect::<Vec<_>>());
                assert!(acc.iter().zip(&got).all(|(a, b)| a == b && a.to_decimal() == b.to_decimal()));
                let s: Vec<S> = (0..count).map(|j| S::from_f64(0.3 - j as f64 * 0.11, c)).collect();
                let mut want = zeros::<S>(len, c);
                for (sj, y) in s.iter().zip(&ys) {
                    axpy(sj, y, &mut want);
                }
                let mut y = vec_of(99);
                lin_comb(&s, &refs, &mut y);
                assert!(y.iter().zip(&want).all(|(a, b)| a == b && a.to_decimal() == b.to_decimal()));
                // Several combinations in one pass: each as its own lin_comb.
                let s2: Vec<S> = (0..count).map(|j| S::from_f64(0.7 + j as f64 * 0.05, c)).collect();
                let (mut y1, mut y2) = (vec_of(98), vec_of(97));
                lin_combs(&[&s, &s2], &refs, &mut [&mut y1, &mut y2]);
                let mut want2 = vec_of(96);
                lin_comb(&s2, &refs, &mut want2);
                assert!(y1.iter().zip(&want).chain(y2.iter().zip(&want2)).all(|(a, b)| a == b && a.to_decimal() == b.to_decimal()));
            }
        }
        check::<f64>(());
        check::<rug::Float>(256);
    }

    /// [`combine_in`] (four vectors per pass, the sum over j kept in a register) gives the bits of
    /// one [`axpy_in`] per vector in order of j, in f64 and at 256 bits, for every remainder of
    /// the vector count mod 4 and an offset block; as do [`lin_combs`] against successive
    /// [`axpy`]s. Fails if the combination reorders, fuses or skips a term.
    #[test]
    fn register_combinations_give_the_bits_of_successive_axpys() {
        fn check<S: Scalar>(c: S::Ctx) {
            let (p, lo, n) = (1037, 301, 517);
            let val = |i: usize, j: usize| S::from_f64(((((i + 5) * (j + 3) * 7919) % 1013) as f64 / 1013.0 - 0.41) * 1.001f64.powi(j as i32), c);
            for m in 0..=9 {
                let xs: Vec<Vec<S>> = (0..m).map(|j| (0..p).map(|i| val(i, j + 1)).collect()).collect();
                let s: Vec<S> = (0..m).map(|j| val(j, 97) / &S::from_f64(0.3 + j as f64, c)).collect();
                let y0: Vec<S> = (0..n).map(|i| val(i, 0)).collect();
                let mut want = y0.clone();
                for (sj, xj) in s.iter().zip(&xs) {
                    axpy_in(sj, &xj[lo..lo + n], &mut want);
                }
                let mut got = y0.clone();
                combine_in(&s, &xs, lo, &mut got);
                assert!(got.iter().zip(&want).all(|(a, b)| a.to_decimal() == b.to_decimal()), "m = {m}: combine_in differs from successive axpys");
                let ss = [s.clone(), s.iter().map(|v| -v.clone()).collect()];
                let refs: Vec<&[S]> = xs.iter().map(Vec::as_slice).collect();
                let mut outs = vec![zeros::<S>(p, c), zeros::<S>(p, c)];
                lin_combs(&[&ss[0], &ss[1]], &refs, &mut outs.iter_mut().map(Vec::as_mut_slice).collect::<Vec<_>>());
                for (sr, out) in ss.iter().zip(&outs) {
                    let mut want = zeros::<S>(p, c);
                    for (sj, xj) in sr.iter().zip(&xs) {
                        axpy(sj, xj, &mut want);
                    }
                    assert!(out.iter().zip(&want).all(|(a, b)| a.to_decimal() == b.to_decimal()), "m = {m}: lin_combs differs from successive axpys");
                }
            }
        }
        check::<f64>(());
        check::<rug::Float>(256);
    }

    /// From [`DOT_LANES_MIN`] entries on, f64 `dots` are the eight-lane sums its doc states (checked
    /// against the order written out entry by entry, bit for bit), odd under x → −x, and within the
    /// rounding bound of that order, (n/8 + 8)·ε·Σ|x_i y_i| (each lane is a chain of n/8 additions,
    /// then 7 + n mod 8 more), of the exact dot (256-bit MPFR). Below it they stay one chain (MPFR
    /// always).
    #[test]
    fn long_f64_dots_are_eight_lane_sums_within_their_rounding_bound() {
        for len in [DOT_LANES_MIN - 1, DOT_LANES_MIN, DOT_LANES_MIN + 5, 13_130] {
            let vec_of = |seed: usize| -> Vec<f64> {
                (0..len).map(|i| ((((i + 3) * (seed + 11) * 7919) % 1009) as f64 / 1009.0 - 0.37) * (1.0 + (i % 7) as f64 * 1e-3)).collect()
            };
            let x = vec_of(0);
            let ys: Vec<Vec<f64>> = (1..=5).map(vec_of).collect();
            let refs: Vec<&[f64]> = ys.iter().map(Vec::as_slice).collect();
            let got = dots(&x, &refs);
            let neg: Vec<f64> = x.iter().map(|v| -v).collect();
            let got_neg = dots(&neg, &refs);
            for ((g, gn), y) in got.iter().zip(&got_neg).zip(&ys) {
                let want = if len < DOT_LANES_MIN {
                    dot(y, &x)
                } else {
                    let mut lanes = [0.0f64; DOT_LANES];
                    let whole = len / DOT_LANES * DOT_LANES;
                    for i in 0..whole {
                        lanes[i % DOT_LANES] += x[i] * y[i];
                    }
                    let mut s = lanes[0];
                    for lane in &lanes[1..] {
                        s += lane;
                    }
                    for i in whole..len {
                        s += x[i] * y[i];
                    }
                    s
                };
                assert_eq!(g.to_bits(), want.to_bits(), "len {len}: not the documented order");
                assert_eq!(gn.to_bits(), (-want).to_bits(), "len {len}: not odd in x");
                let mut exact = rug::Float::with_val(256, 0);
                let mut abs = 0.0;
                for (a, b) in x.iter().zip(y) {
                    exact += rug::Float::with_val(256, a) * b;
                    abs += (a * b).abs();
                }
                let bound = (len as f64 / 8.0 + 8.0) * f64::EPSILON * abs;
                let err = (rug::Float::with_val(256, g) - &exact).to_f64().abs();
                assert!(err <= bound, "len {len}: error {err:e} above the bound {bound:e}");
            }
        }
    }
}
