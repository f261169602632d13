//! Pre-flight memory check: a job whose memory floor exceeds what this process may allocate is
//! refused at its start with an error naming both, instead of aborting in the allocator when a
//! solve first grows its basis, possibly hours in (README, "Memory" under `selfstab run`).
//!
//! The engine's memory is tens to hundreds of vectors of length p: the eigen solver's basis V and
//! images W (up to 2·40, and 2·9 more during a thick restart), each trail's stored points and Ritz
//! vectors and its buffer pool (which keeps a solve's working set for the next), the state. Peaks
//! measured with `/usr/bin/time -f %M` (f64, n = 50, the faer workspace of 64 MiB per thread taken
//! off), in vectors of length p: run 138 (p = 85,002) and 245 (p = 301,066); flow 187 (301,066);
//! sgd 56 (301,066) and 98 (4,349,962); eval 50 (301,066). The floors [`Job::floor_vectors`] lie
//! below every one of them, and a job is refused only when even its floor does not fit: a refused
//! job would not have fitted at any of the measured peaks. Between the floor and the peak a job may
//! still run out of memory: such a job is warned on stderr ([`Job::peak_vectors`], the largest
//! peak measured). `SELFSTAB_MEMORY_CHECK=off` skips the check and the warning.
//!
//! On a large data set the model's evaluations dominate instead: per data row the input and, for
//! every hidden unit, its activations, derivatives and tangents, held for the whole data set (two
//! θ's of them with two threads). Measured (f64, synthetic data, the growth of the peak from n to
//! 2n rows, entries per row = d + c·Σ hidden widths): on 64-16-16-10 and 64-128-128-10 with two
//! threads, c = 36.5 and 31.8 for run, 12.7 and 12.7 for flow, 20.6 and 16.1 for sgd, 18.4 and 15.9
//! for eval; with one thread and on deeper, narrower nets (8-16×6-3, 8-16×12-3; the peak over n,
//! so c is overstated) run 18.9, sgd 13.6, eval 12.7–13.4. A first set of floors (28, 11, 14, 14)
//! refused two such jobs that fit. [`Job::row_copies`]: floors below each, peaks the largest. An `eval` of 64-16-16-10 on 10⁷
//! rows (≈ 51 GB) was killed by the kernel after 2 min 44 s at 24 GB; it is now refused at once.

use crate::error::InputError;

/// The data set a job's model evaluates (rows, input width, the sum of its hidden widths; a CNN
/// counts as the MLP it is evaluated as).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rows {
    /// Rows n.
    pub n: u64,
    /// Input width d.
    pub input: u64,
    /// Σ of the hidden widths.
    pub hidden: u64,
}

impl Rows {
    /// The rows of an MLP with these widths (input, hidden…, output) on n rows.
    pub fn mlp(n: usize, layers: &[usize]) -> Self {
        let hidden = layers.get(1..layers.len().saturating_sub(1)).unwrap_or(&[]).iter().sum::<usize>();
        Rows { n: n as u64, input: layers.first().copied().unwrap_or(0) as u64, hidden: hidden as u64 }
    }

    /// Entries held for one row with `copies` of every hidden unit.
    fn per_row(&self, copies: u64) -> u64 {
        self.input.saturating_add(copies.saturating_mul(self.hidden))
    }
}

/// A command whose memory floor is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job {
    /// `selfstab run` (GD, θ†, predictions: two trails, their pools and the tracking state).
    Run,
    /// `selfstab flow` (GD and the central flow's k eigenpairs).
    Flow,
    /// `selfstab sgd` (mini-batch GD with a full-batch check of S).
    Sgd,
    /// `selfstab eval` (one eigen solve and ∇S).
    Eval,
    /// `selfstab export` (the data set once, as it is written, and θ₀).
    Export,
}

impl Job {
    /// Vectors of length p the job holds at its peak, at least (below each measured peak).
    pub fn floor_vectors(self) -> u64 {
        match self {
            Job::Run => 130,
            Job::Flow => 110,
            Job::Sgd => 50,
            Job::Eval => 40,
            Job::Export => 1,
        }
    }

    /// The largest peak measured for the job, in vectors of length p (see the module): a job
    /// between its floor and this may run out of memory, and is warned.
    pub fn peak_vectors(self) -> u64 {
        match self {
            Job::Run => 245,
            Job::Flow => 187,
            Job::Sgd => 98,
            Job::Eval => 50,
            Job::Export => 1,
        }
    }

    /// The floor's vectors of length p, or the peak's.
    fn vectors(self, peak: bool) -> u64 {
        if peak { self.peak_vectors() } else { self.floor_vectors() }
    }

    /// Copies of every hidden unit held per data row (see the module): below every measurement
    /// (`false`), or the largest measured (`true`, the warning's peak).
    pub fn row_copies(self, peak: bool) -> u64 {
        match (self, peak) {
            (Job::Run, false) => 16,
            (Job::Run, true) => 37,
            (Job::Flow, false) => 9,
            (Job::Flow, true) => 13,
            (Job::Sgd, false) => 11,
            (Job::Sgd, true) => 21,
            (Job::Eval, false) => 11,
            (Job::Eval, true) => 19,
            (Job::Export, _) => 0,
        }
    }

    /// Entries held per data row of `rows`: the input, `row_copies` of every hidden unit and, for
    /// `export`, the int64 label written next to the inputs (measured: its peak is the data set,
    /// 1.046e9 bytes for 2·10⁶ rows of 64 inputs, against 2·10⁶·65·8 = 1.040e9).
    fn per_row(self, rows: &Rows, peak: bool) -> u64 {
        let label = if self == Job::Export { 1 } else { 0 };
        rows.per_row(self.row_copies(peak)).saturating_add(label)
    }

    fn name(self) -> &'static str {
        match self {
            Job::Run => "run",
            Job::Flow => "flow",
            Job::Sgd => "sgd",
            Job::Eval => "eval",
            Job::Export => "export",
        }
    }
}

/// Bytes one scalar takes in a vector: 8 in f64; in MPFR the `rug::Float` (32 bytes) and its
/// separately allocated limbs (⌈bits/64⌉ words, with the allocator's 16-byte header).
pub fn scalar_bytes(bits: u32, is_f64: bool) -> u64 {
    if is_f64 {
        8
    } else {
        32 + u64::from(bits).div_ceil(64) * 8 + 16
    }
}

/// The memory floor of `job` on p parameters and its data `rows`, at `bytes` per scalar.
pub fn floor_bytes(job: Job, p: usize, rows: Option<&Rows>, bytes: u64) -> u64 {
    need(job, p, rows, false).saturating_mul(bytes)
}

/// Entries `job` holds at least (or at its largest measured peak).
fn need(job: Job, p: usize, rows: Option<&Rows>, peak: bool) -> u64 {
    job.vectors(peak).saturating_mul(p as u64).saturating_add(rows.map_or(0, |r| r.n.saturating_mul(job.per_row(r, peak))))
}

/// What the entries are, for the messages.
fn what(job: Job, rows: Option<&Rows>, peak: bool, bytes: u64) -> String {
    let vectors = job.vectors(peak);
    match rows {
        Some(r) if r.n > 0 => {
            let per_row = job.per_row(r, peak);
            format!("{vectors} vectors of length p and {per_row} numbers for each of the n = {} data rows, at {bytes} bytes per entry", r.n)
        }
        _ => format!("{vectors} vectors of length p at {bytes} bytes per entry"),
    }
}

/// What this process may still allocate, and what bounds it: the least of the cgroup's memory
/// limit less its anonymous and shared memory (v2 or v1), `MemAvailable + SwapFree` (/proc/meminfo),
/// and the address-space and data-size limits (`ulimit -v`, `ulimit -d`) less what is mapped. None
/// where none is known (not Linux, /proc unreadable).
pub fn available() -> Option<(u64, String)> {
    available_less(None)
}

/// [`available`], with `reserve` (bytes and what they are) taken off the address-space and
/// data-size limits only: address space a job will map but not touch, which counts against
/// `ulimit -v` and `ulimit -d` and not against memory ([`kernel_reserve`]).
fn available_less(reserve: Option<&(u64, String)>) -> Option<(u64, String)> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let mut best: Option<(u64, String)> = None;
    let mut offer = |bytes: u64, what: String| {
        if best.as_ref().is_none_or(|(b, _)| bytes < *b) {
            best = Some((bytes, what));
        }
    };
    if let Some(mi) = read("/proc/meminfo")
        && let Some(avail) = kib_field(&mi, "MemAvailable:")
    {
        let swap = kib_field(&mi, "SwapFree:").unwrap_or(0);
        offer(avail + swap, "MemAvailable + SwapFree in /proc/meminfo".into());
    }
    if let (Some(limits), Some(status)) = (read("/proc/self/limits"), read("/proc/self/status")) {
        for (limit, used, what) in [("Max address space", "VmSize:", "ulimit -v"), ("Max data size", "VmData:", "ulimit -d")] {
            if let (Some(lim), Some(used)) = (limit_bytes(&limits, limit), kib_field(&status, used)) {
                let (r, rwhat) = reserve.map_or((0, String::new()), |(b, w)| (*b, format!(" and the {} {w}", gib(*b))));
                offer(lim.saturating_sub(used).saturating_sub(r), format!("the {what} limit of {} less the {} mapped{rwhat}", gib(lim), gib(used)));
            }
        }
    }
    if let Some(cg) = read("/proc/self/cgroup") {
        // cgroup v2 ("0::/path": memory.max, memory.stat `anon` and `shmem`) and v1 (the line naming
        // the memory controller: memory.limit_in_bytes, memory.stat `total_rss` and `total_shmem`).
        // Only the group's anonymous and shared memory is counted as used: its page cache and
        // reclaimable kernel memory are given back on demand (a group at its limit after a build is
        // mostly cache), and the check is a floor (it must not refuse a job that would fit); without
        // those lines, memory.current / memory.usage_in_bytes less the page cache. Inside a
        // container the path may not exist under the mount, whose root is then the container's
        // group. Limits of parent groups are not read.
        let v2 = cg.lines().find_map(|l| l.strip_prefix("0::")).map(|p| ("/sys/fs/cgroup", p, ["memory.max", "memory.current"], ["anon", "shmem", "file"]));
        let v1 = cg.lines().find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctl, path) = (f.next()?, f.next()?, f.next()?);
            ctl.split(',').any(|c| c == "memory").then_some((
                "/sys/fs/cgroup/memory",
                path,
                ["memory.limit_in_bytes", "memory.usage_in_bytes"],
                ["total_rss", "total_shmem", "total_cache"],
            ))
        });
        for (root, path, [max, cur], [anon, shmem, cache]) in v2.into_iter().chain(v1) {
            for dir in [format!("{root}{}", path.trim()), root.to_string()] {
                let num = |f: &str| read(&format!("{dir}/{f}")).and_then(|s| s.trim().parse::<u64>().ok());
                if let (Some(max), Some(cur)) = (num(max), num(cur)) {
                    let stat = read(&format!("{dir}/memory.stat")).unwrap_or_default();
                    let field = |k: &str| stat.lines().find_map(|l| l.strip_prefix(k)?.strip_prefix(' ')?.trim().parse::<u64>().ok());
                    let used = match (field(anon), field(cache)) {
                        (Some(a), _) => a.saturating_add(field(shmem).unwrap_or(0)),
                        (None, c) => cur.saturating_sub(c.unwrap_or(0)),
                    };
                    offer(max.saturating_sub(used), format!("the cgroup's memory limit of {} less the {} of anonymous and shared memory in it", gib(max), gib(used)));
                    break;
                }
            }
        }
    }
    best
}

/// Address space that faer's f64 matrix products reserve on `threads` threads, and what it is.
/// Its x86 kernels (private-gemm-x86 0.1, faer 0.24) give each thread that runs a product a packing
/// buffer of twice the last-level cache, allocated on the thread's first product and mostly never
/// touched: nothing against memory, but against `ulimit -v` or `-d` it counts whole (on a KVM guest
/// that reports a 480 MiB L3, 960 MiB per thread, so an f64 job under `ulimit -v 2000000` aborted in
/// the allocator). The threads: the main thread, and with two or more threads also every worker of
/// rayon's pool (one per core: the halves of a split go to whichever worker takes them; on 2 cores
/// a two-thread `run` of 64-8-10, whose search runs on the main thread, took all three, while the
/// default job took two and would have fitted under `ulimit -v 2200000`, which the check refuses).
/// The cache is the largest of `/sys/devices/system/cpu/cpu0/cache/index*/size`; None where it is
/// not readable, and off x86-64 (other kernels, not measured).
pub fn kernel_reserve(threads: usize) -> Option<(u64, String)> {
    if !cfg!(target_arch = "x86_64") {
        return None;
    }
    let mut llc = 0u64;
    for i in 0..8 {
        let Ok(size) = std::fs::read_to_string(format!("/sys/devices/system/cpu/cpu0/cache/index{i}/size")) else { continue };
        let size = size.trim();
        let (num, mult) = match size.strip_suffix('K') {
            Some(k) => (k, 1u64 << 10),
            None => match size.strip_suffix('M') {
                Some(m) => (m, 1 << 20),
                None => (size, 1),
            },
        };
        if let Ok(v) = num.parse::<u64>() {
            llc = llc.max(v.saturating_mul(mult));
        }
    }
    (llc > 0).then(|| {
        let n = if threads > 1 { rayon::current_num_threads() as u64 + 1 } else { 1 };
        let per = 2 * llc;
        (per.saturating_mul(n), format!("that faer's product kernels reserve ({} per thread, twice the {} cache, on {n} thread{})", gib(per), gib(llc), if n > 1 { "s" } else { "" }))
    })
}

/// A `Key:   N kB` line of /proc/meminfo or /proc/self/status, in bytes.
fn kib_field(text: &str, key: &str) -> Option<u64> {
    let rest = text.lines().find_map(|l| l.strip_prefix(key))?;
    let kib: u64 = rest.split_whitespace().next()?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// The soft limit of a /proc/self/limits line in bytes (None when unlimited).
fn limit_bytes(limits: &str, name: &str) -> Option<u64> {
    let rest = limits.lines().find_map(|l| l.strip_prefix(name))?;
    rest.split_whitespace().next()?.parse().ok()
}

/// A size in GiB, or in MiB below 1 GiB.
fn gib(bytes: u64) -> String {
    if bytes >= 1 << 30 { format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64) } else { format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64) }
}

/// Refuse `job` on p parameters and `rows` at `bytes` per scalar when its floor exceeds `avail`
/// (bytes and what bounds them), with [`InputError::Memory`] naming both.
pub fn check_against(job: Job, p: usize, rows: Option<&Rows>, bytes: u64, avail: Option<(u64, String)>) -> Result<(), InputError> {
    let need = floor_bytes(job, p, rows, bytes);
    match avail {
        Some((have, bound)) if need > have => Err(InputError::Memory(format!(
            "`{}` on p = {p} parameters needs at least {} ({}), \
             more than the {} this process may still allocate ({bound}); use a smaller model (--layers) or data set (--n), or a machine with more memory \
             (SELFSTAB_MEMORY_CHECK=off skips this check)",
            job.name(),
            gib(need),
            what(job, rows, false, bytes),
            gib(have),
        ))),
        _ => Ok(()),
    }
}

/// The warning for `job` on p parameters at `bytes` per scalar whose floor fits in `avail` but
/// whose largest measured peak ([`Job::peak_vectors`]) does not (None otherwise).
pub fn warning_against(job: Job, p: usize, rows: Option<&Rows>, bytes: u64, avail: Option<&(u64, String)>) -> Option<String> {
    let (have, bound) = avail?;
    let peak = need(job, p, rows, true).saturating_mul(bytes);
    (peak > *have && floor_bytes(job, p, rows, bytes) <= *have).then(|| {
        format!(
            "warning: `{}` on p = {p} parameters may need up to {} (its largest measured peak: {}), \
             more than the {} this process may still allocate ({bound}); it may run out of memory",
            job.name(),
            gib(peak),
            what(job, rows, true, bytes),
            gib(*have),
        )
    })
}

/// [`check_against`] what this process may allocate now ([`available`]; for a job that runs f64
/// products, `kernels`, less their address space under `ulimit -v`/`-d`, [`kernel_reserve`] at
/// [`crate::linalg::threads`]), unless `SELFSTAB_MEMORY_CHECK=off`; a job that passes but may not
/// fit at its peak is warned on stderr ([`warning_against`]).
pub fn check(job: Job, p: usize, rows: Option<&Rows>, bytes: u64, kernels: bool) -> Result<(), InputError> {
    if switched_off() {
        return Ok(());
    }
    let reserve = if kernels { kernel_reserve(crate::linalg::threads()) } else { None };
    let avail = available_less(reserve.as_ref());
    if let Some(w) = warning_against(job, p, rows, bytes, avail.as_ref()) {
        eprintln!("{w}");
    }
    check_against(job, p, rows, bytes, avail)
}

/// Refuse a step that holds `need` bytes at once (`what` names them) when they exceed what this
/// process may allocate now ([`available`]), unless `SELFSTAB_MEMORY_CHECK=off`: for dense steps
/// whose size the job's floor does not cover (`eval`'s all-eigenpairs path). Called once the job's
/// products have run, so their kernels' address space is already among what is mapped.
pub fn check_bytes(what: &str, need: u64) -> Result<(), InputError> {
    if switched_off() {
        return Ok(());
    }
    match available() {
        Some((have, bound)) if need > have => Err(InputError::Memory(format!(
            "{what} need about {}, more than the {} this process may still allocate ({bound}) \
             (SELFSTAB_MEMORY_CHECK=off skips this check)",
            gib(need),
            gib(have),
        ))),
        _ => Ok(()),
    }
}

/// `SELFSTAB_MEMORY_CHECK=off`: the checks and the warning are skipped.
fn switched_off() -> bool {
    std::env::var("SELFSTAB_MEMORY_CHECK").is_ok_and(|v| v == "off")
}

/// [`check`] at the precision of `S` in context `c`.
pub fn check_scalar<S: crate::scalar::Scalar>(job: Job, p: usize, rows: Option<&Rows>, c: S::Ctx) -> Result<(), InputError> {
    let f64_path = crate::linalg::is_f64::<S>();
    check(job, p, rows, scalar_bytes(S::bits(c), f64_path), f64_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The floor is refused only above what is available, and the message names both sizes.
    #[test]
    fn a_job_whose_floor_exceeds_the_available_memory_is_refused_naming_both() {
        let p = 81_630_010; // 64-9000-9000-10
        let e = check_against(Job::Run, p, None, 8, Some((4 << 30, "ulimit -v".into()))).unwrap_err().to_string();
        assert!(e.contains("79.1 GiB") && e.contains("4.0 GiB") && e.contains("ulimit -v") && e.contains("p = 81630010"), "{e}");
        let e = check_against(Job::Eval, 100_000, None, 8, Some((1 << 20, String::new()))).unwrap_err().to_string();
        assert!(e.starts_with("not enough memory: ") && e.contains("30.5 MiB") && e.contains("1.0 MiB"), "{e}");
        // 130 vectors of p = 4,522 at 8 bytes (4.7 MB) fit in 5 MB, not in 4.5 MB.
        assert!(check_against(Job::Run, 4_522, None, 8, Some((5_000_000, String::new()))).is_ok());
        assert!(check_against(Job::Run, 4_522, None, 8, Some((4_500_000, String::new()))).is_err());
        assert!(check_against(Job::Run, p, None, 8, None).is_ok());
    }

    /// Between the floor and the largest measured peak a job is warned, not refused; below the
    /// floor refused, not warned; above the peak neither.
    #[test]
    fn a_job_that_fits_its_floor_but_not_its_peak_is_warned() {
        let p = 1_000_000;
        let at = |have: u64| Some((have, "MemAvailable".to_string()));
        let (floor, peak) = (130 * 8 * p as u64, 245 * 8 * p as u64);
        let w = warning_against(Job::Run, p, None, 8, at(floor).as_ref()).expect("warned at the floor");
        assert!(w.starts_with("warning: `run`") && w.contains("1.8 GiB") && w.contains("245 vectors") && w.contains("MemAvailable"), "{w}");
        assert!(check_against(Job::Run, p, None, 8, at(floor)).is_ok());
        assert!(warning_against(Job::Run, p, None, 8, at(floor - 1).as_ref()).is_none() && check_against(Job::Run, p, None, 8, at(floor - 1)).is_err());
        assert!(warning_against(Job::Run, p, None, 8, at(peak).as_ref()).is_none());
        assert!(warning_against(Job::Run, p, None, 8, None).is_none());
    }

    /// A large data set counts per row: `eval` of 64-16-16-10 on 10⁷ rows (peak ≈ 51 GB at the
    /// measured 5.1 KB per row) needs at least 10⁷·(64 + 11·32)·8 bytes = 31.0 GiB, not the 1.1 MiB
    /// of its 1,482-entry vectors, and is refused on 24 GiB; the message names the rows.
    #[test]
    fn a_large_data_set_counts_per_row() {
        let rows = Rows::mlp(10_000_000, &[64, 16, 16, 10]);
        assert_eq!(rows, Rows { n: 10_000_000, input: 64, hidden: 32 });
        assert_eq!(floor_bytes(Job::Eval, 1_482, Some(&rows), 8), 40 * 1_482 * 8 + 10_000_000 * 416 * 8);
        let e = check_against(Job::Eval, 1_482, Some(&rows), 8, Some((24 << 30, "MemAvailable".into()))).unwrap_err().to_string();
        assert!(e.contains("31.0 GiB") && e.contains("416 numbers for each of the n = 10000000 data rows") && e.contains("--n"), "{e}");
        assert!(check_against(Job::Eval, 1_482, Some(&Rows::mlp(1_000_000, &[64, 16, 16, 10])), 8, Some((24 << 30, String::new()))).is_ok());
    }

    /// `export` holds the data set once (inputs and int64 labels) and θ₀: 8·10⁶ rows of 64 inputs
    /// need 8·10⁶·65·8 bytes (3.9 GiB), refused under 3.8 GiB, and 1,210 parameters; it has no
    /// warning band (floor = peak).
    #[test]
    fn export_counts_the_data_set_once_with_its_labels() {
        let rows = Rows::mlp(8_000_000, &[64, 16, 10]);
        assert_eq!(floor_bytes(Job::Export, 1_210, Some(&rows), 8), 1_210 * 8 + 8_000_000 * 65 * 8);
        let e = check_against(Job::Export, 1_210, Some(&rows), 8, Some(((38u64 << 30) / 10, "ulimit -v".into()))).unwrap_err().to_string();
        assert!(e.contains("`export`") && e.contains("3.9 GiB") && e.contains("65 numbers for each of the n = 8000000 data rows"), "{e}");
        assert!(check_against(Job::Export, 1_210, Some(&rows), 8, Some((4 << 30, String::new()))).is_ok());
        assert!(warning_against(Job::Export, 1_210, Some(&rows), 8, Some(&(4 << 30, String::new()))).is_none());
    }

    /// MPFR entries: 80 bytes at 256 bits (struct, four limbs, header); 48 + 8 at 53.
    #[test]
    fn scalar_bytes_count_the_limbs() {
        assert_eq!(scalar_bytes(256, false), 80);
        assert_eq!(scalar_bytes(53, false), 56);
        assert_eq!(scalar_bytes(53, true), 8);
    }

    /// This machine's figures parse (Linux CI): something is available, and it is positive.
    #[test]
    fn the_available_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            let (b, what) = available().expect("/proc/meminfo is readable");
            assert!(b > 0 && !what.is_empty());
        }
    }
}
