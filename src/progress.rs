//! Progress lines on stderr for long jobs (`run`'s instability search and tracking steps, `flow`'s
//! steps). On a terminal one line is rewritten in place at every `every`-th update. Elsewhere (a log
//! file, a batch job) a full line is written for the first update and then at most one per
//! [`LOG_SECONDS`], so that a redirected run shows it is alive without filling its log. (No
//! equation; the README's `selfstab run` section describes the lines.)

use std::time::{Duration, Instant};

/// Seconds between progress lines when stderr is not a terminal.
pub const LOG_SECONDS: u64 = 30;

/// Decides which updates are shown and writes them (see the module).
#[derive(Debug)]
pub struct Ticker {
    tty: bool,
    every: u64,
    period: Duration,
    last: Option<Instant>,
    /// An in-place line is on the terminal, not yet ended.
    open: bool,
}

impl Ticker {
    /// For stderr as it is: in place on a terminal every `every` updates, else a line every
    /// [`LOG_SECONDS`].
    pub fn new(every: u64) -> Self {
        use std::io::IsTerminal;
        Self::with(std::io::stderr().is_terminal(), every, Duration::from_secs(LOG_SECONDS))
    }

    /// With the terminal decision and the log period given.
    pub fn with(tty: bool, every: u64, period: Duration) -> Self {
        Ticker { tty, every: every.max(1), period, last: None, open: false }
    }

    /// Whether update number `n` is shown: on a terminal when `every` divides it, elsewhere when it
    /// is the first or a period has passed since the last line shown.
    pub fn due(&mut self, n: u64) -> bool {
        if self.tty {
            return n.is_multiple_of(self.every);
        }
        let now = Instant::now();
        match self.last {
            Some(t) if now.duration_since(t) < self.period => false,
            _ => {
                self.last = Some(now);
                true
            }
        }
    }

    /// Shows update number `n` when [`Ticker::due`] (`line` is built only then).
    pub fn show(&mut self, n: u64, line: impl FnOnce() -> String) {
        if !self.due(n) {
            return;
        }
        if self.tty {
            eprint!("\r{}   ", line());
            self.open = true;
        } else {
            eprintln!("{}", line());
        }
    }

    /// Ends the in-place line, if one is open (before other output on stderr and at the end).
    pub fn finish(&mut self) {
        if self.open {
            eprintln!();
            self.open = false;
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_ticker_shows_every_kth_update() {
        let mut t = Ticker::with(true, 10, Duration::from_secs(3600));
        let shown: Vec<u64> = (0..35).filter(|&n| t.due(n)).collect();
        assert_eq!(shown, vec![0, 10, 20, 30]);
    }

    #[test]
    fn log_ticker_shows_the_first_update_then_one_per_period() {
        let mut t = Ticker::with(false, 10, Duration::from_secs(3600));
        let shown: Vec<u64> = (0..1000).filter(|&n| t.due(n)).collect();
        assert_eq!(shown, vec![0], "within one period only the first update is shown");
        let mut t = Ticker::with(false, 10, Duration::ZERO);
        assert!((0..5).all(|n| t.due(n)), "a zero period shows every update");
    }
}

/// Seconds a checkpoint writer waits after one checkpoint before the next (`run`, `flow`): a
/// checkpoint holds every row so far, so writing one every few steps would make a run's cost grow
/// with the square of its length (`run` on the cubic at 128 bits, 4,000 steps: 20.4 s against 0.9 s).
pub const CHECKPOINT_SECONDS: f64 = 10.0;

/// When a long job checkpoints: at steps that are multiples of `every`, the first such step at
/// once and later ones only when [`CHECKPOINT_SECONDS`] have passed since the last write. A killed
/// job loses at most that time plus `every` steps; which steps are saved does not change any result.
#[derive(Debug)]
pub struct Cadence {
    every: u64,
    last: Option<Instant>,
}

impl Cadence {
    /// Checkpoints at multiples of `every` (≥ 1).
    pub fn new(every: u64) -> Self {
        Cadence { every: every.max(1), last: None }
    }

    /// Whether to checkpoint at step `t` (and, if so, the write is taken to happen now).
    pub fn due(&mut self, t: u64) -> bool {
        let recent = self.last.is_some_and(|w| w.elapsed().as_secs_f64() < CHECKPOINT_SECONDS);
        if !t.is_multiple_of(self.every) || recent {
            return false;
        }
        self.last = Some(Instant::now());
        true
    }
}

/// Interruption of a long job (SIGINT, as from Ctrl-C, or SIGTERM, as from a batch scheduler).
///
/// While a job's checkpointing loop runs (`run`'s tracking steps, `flow`'s steps, `sgd`'s batch
/// sizes, whose run in progress saves itself like the search, `order --full`'s points, whose point
/// in progress saves itself the same way), and the instability search before it, the job holds an [`Armed`](interrupt::Armed) guard: a signal then
/// only sets a flag; the search saves itself after its GD step in progress and stops (the
/// commands' search observer's `gd::Observer::stop`), and the loop, at the end of the
/// step in progress, writes its checkpoint and partial outputs and stops with
/// [`crate::Error::Interrupted`]; the command-line tool then ends by that signal's default action
/// ([`received`](interrupt::received)), so that a shell loop or script calling it stops as it would without a handler.
/// The same command resumes the job. A signal outside such a loop, or a second one from
/// [`REPEAT_WINDOW`](interrupt::REPEAT_WINDOW) after the first on, runs the signal's default action at
/// once (the process ends by the signal, as without a handler), and the job loses only what it has
/// not saved. A repeat within the window is the same request: GNU `timeout` signals the job and then
/// its process group, so the job receives its signal twice, microseconds apart. The first signal is
/// acknowledged on stderr at once (a step can take minutes above f64). [`install`](interrupt::install) sets this up (the command-line tool calls
/// it); without it, [`requested`](interrupt::requested) is false.
pub mod interrupt {
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    use std::sync::{Arc, LazyLock};
    use std::time::Duration;

    /// How long after the first signal a repeat still counts as the same request (see the module).
    pub const REPEAT_WINDOW: Duration = Duration::from_secs(1);

    /// A signal arrived while armed.
    static STOP: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));
    /// [`REPEAT_WINDOW`] has passed since the armed job's first signal: the next one ends the process.
    static FORCE: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));
    /// Counts [`arm`] calls, so that a window still open from an earlier job does not end a later one.
    static EPOCH: AtomicU64 = AtomicU64::new(0);
    /// No checkpointing loop runs: a signal ends the process.
    static UNARMED: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(true)));
    /// The number of the last signal received (0: none).
    static SIGNAL: LazyLock<Arc<AtomicUsize>> = LazyLock::new(|| Arc::new(AtomicUsize::new(0)));

    /// Installs the handlers of SIGINT and SIGTERM (once per process; safe to call again).
    pub fn install() -> std::io::Result<()> {
        static DONE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
        if DONE.get().is_some() {
            return Ok(());
        }
        use signal_hook::consts::{SIGINT, SIGTERM};
        use signal_hook::flag;
        for sig in [SIGINT, SIGTERM] {
            // The actions run in this order: unarmed, or stopping for longer than the window (a
            // second signal), runs the signal's default action (the process ends by the signal);
            // otherwise the signal is recorded and the flag set for the loop to see.
            flag::register_conditional_default(sig, Arc::clone(&UNARMED))?;
            flag::register_conditional_default(sig, Arc::clone(&FORCE))?;
            flag::register_usize(sig, Arc::clone(&SIGNAL), sig as usize)?;
            flag::register(sig, Arc::clone(&STOP))?;
        }
        // Outside the handlers: acknowledge the first signal and open FORCE once the window has
        // passed (a repeat within it, such as `timeout`'s second delivery, only sets STOP again).
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
        std::thread::Builder::new().name("selfstab-signals".into()).spawn(move || {
            for sig in signals.forever() {
                let epoch = EPOCH.load(Ordering::SeqCst);
                if !STOP.load(Ordering::SeqCst) || FORCE.load(Ordering::SeqCst) {
                    continue;
                }
                use std::io::IsTerminal;
                let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
                eprintln!(
                    "{}{name} received: the job saves its state and stops at the end of the step in progress (a second signal, {} s or more after this one, ends it at once without saving)",
                    if std::io::stderr().is_terminal() { "\n" } else { "" },
                    REPEAT_WINDOW.as_secs_f64()
                );
                std::thread::sleep(REPEAT_WINDOW);
                if EPOCH.load(Ordering::SeqCst) == epoch {
                    FORCE.store(true, Ordering::SeqCst);
                }
            }
        })?;
        let _ = DONE.set(());
        Ok(())
    }

    /// While alive, a signal asks the job to save and stop (see the module).
    #[derive(Debug)]
    pub struct Armed(());

    /// Arms the handlers for a checkpointing loop, clearing an earlier request.
    pub fn arm() -> Armed {
        EPOCH.fetch_add(1, Ordering::SeqCst);
        FORCE.store(false, Ordering::SeqCst);
        STOP.store(false, Ordering::SeqCst);
        UNARMED.store(false, Ordering::SeqCst);
        Armed(())
    }

    impl Drop for Armed {
        fn drop(&mut self) {
            UNARMED.store(true, Ordering::SeqCst);
        }
    }

    /// Whether a signal asked the armed job to save and stop.
    pub fn requested() -> bool {
        STOP.load(Ordering::SeqCst)
    }

    /// After a job has written its outputs with the handlers still armed: if a signal arrived
    /// meanwhile (it could not stop the writing, which is short, and only a second signal would end
    /// the process at once), the job is complete and says so, and the tool then ends by the signal,
    /// as it does for an interruption. Before, a signal while the outputs were being written ended
    /// the process silently, with part of them written.
    pub fn after_outputs(what: &str, out: &std::path::Path) -> Result<(), crate::Error> {
        if requested() {
            return Err(crate::Error::Interrupted(format!(
                "interrupted while writing the outputs; the {what} is complete and all its outputs are in {}",
                out.display()
            )));
        }
        Ok(())
    }

    /// The signal that asked the job to stop, if one did: after saving, the command-line tool ends
    /// by its default action (`signal_hook::low_level::emulate_default_handler`).
    pub fn received() -> Option<i32> {
        match SIGNAL.load(Ordering::SeqCst) {
            0 => None,
            s => i32::try_from(s).ok(),
        }
    }
}
