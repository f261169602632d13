//! Error types, one enum per boundary. Every message names the problem and what was expected
//! (bad input is a clear error, never a panic or a silent NaN stream).

use std::path::PathBuf;

/// Bad input: configuration values, files, shapes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// η must be finite and positive.
    #[error("learning rate must be finite and > 0, got `{0}`")]
    LearningRate(String),
    /// `--precision` out of range.
    #[error("precision must be `f64` or a number of bits in 53..=65536, got `{0}`")]
    Precision(String),
    /// A configuration value is out of its range or malformed.
    #[error("bad value for `{key}`: {msg}")]
    Value {
        /// The key.
        key: String,
        /// What is wrong and what is expected.
        msg: String,
    },
    /// Unknown model, activation, loss or data name.
    #[error("unknown {what} `{got}` (expected one of: {expected})")]
    Unknown {
        /// What kind of name.
        what: &'static str,
        /// The name given.
        got: String,
        /// The names accepted.
        expected: &'static str,
    },
    /// A file or array has the wrong shape.
    #[error("{path}: {msg}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// What was expected and found.
        msg: String,
    },
    /// A file is missing, truncated, corrupt or of the wrong dtype.
    #[error("{path}: {msg}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// Non-finite numbers in data or parameters.
    #[error("{what} contains a non-finite value (NaN or infinity) at index {index}")]
    NonFinite {
        /// Which input.
        what: String,
        /// First offending index.
        index: usize,
    },
    /// The model does not fit in the memory this process may allocate ([`crate::memory`]).
    #[error("not enough memory: {0}")]
    Memory(String),
    /// Inconsistent dimensions between parts of the input.
    #[error("dimension mismatch: {0}")]
    Dimension(String),
    /// Saved work in the output directory (a checkpoint, a file of finished points or batch sizes)
    /// that this job cannot resume: it is kept unless the job is run with `--fresh`.
    #[error(
        "{path} is a {what} this job cannot resume: {why}. It is kept: re-run the job that wrote it to resume it, pass --fresh to discard it, or choose another --out"
    )]
    Saved {
        /// The file.
        path: PathBuf,
        /// What kind of file.
        what: String,
        /// Why it cannot be resumed.
        why: String,
    },
}

/// Failures during numerical evaluation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// A computed quantity is NaN or infinite (divergence).
    #[error("{what} became non-finite{at}")]
    NonFinite {
        /// The quantity.
        what: &'static str,
        /// Where (e.g. " at step 12").
        at: String,
    },
    /// An eigen solve stalled above its tolerance.
    #[error(
        "eigen solve did not converge: relative residual {residual:e} > tolerance {tol:e} after {hvps} Hessian-vector products{}",
        if residual.is_finite() { "" } else { " (the residual overflowed: the Hessian's entries are too large for the precision's range, e.g. a sharpness near 1e154 in f64, whose square is beyond it)" }
    )]
    EigenStalled {
        /// Relative residual reached.
        residual: crate::mag::Mag,
        /// Tolerance requested.
        tol: crate::mag::Mag,
        /// HVPs spent.
        hvps: u64,
    },
    /// Other numerical failure.
    #[error("{0}")]
    Other(String),
}

/// Any error of a command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad input.
    #[error(transparent)]
    Input(#[from] InputError),
    /// Numerical failure.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// I/O.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The job was interrupted (SIGINT or SIGTERM) and saved its work to resume from.
    #[error("{0}")]
    Interrupted(String),
}

/// Crate result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A value for a message: six decimals (as `{:.6}`) in [1e-3, 1e7) or at zero, else scientific
/// notation with six decimals (`{:.6e}`), so that a threshold like 2/η = 2e-9 does not print as
/// 0.000000.
pub fn num6(x: f64) -> String {
    if x == 0.0 || !x.is_finite() || (1e-3..1e7).contains(&x.abs()) { format!("{x:.6}") } else { format!("{x:.6e}") }
}

/// A value given by the user (η) in a message: its shortest round-trip text in range, scientific
/// outside it (η = 1e308 printed as 309 digits).
pub fn given(x: f64) -> String {
    if x == 0.0 || !x.is_finite() || (1e-4..1e7).contains(&x.abs()) { format!("{x}") } else { format!("{x:e}") }
}

#[cfg(test)]
mod tests {
    use super::{given, num6};

    #[test]
    fn given_values_keep_their_digits_in_range_and_go_scientific_outside() {
        assert_eq!(given(0.2667), "0.2667");
        assert_eq!(given(1e308), "1e308");
        assert_eq!(given(2.5e-7), "2.5e-7");
    }

    #[test]
    fn message_values_keep_six_decimals_in_range_and_go_scientific_outside() {
        assert_eq!(num6(7.4990626), "7.499063");
        assert_eq!(num6(0.0), "0.000000");
        assert_eq!(num6(2e-9), "2.000000e-9");
        assert_eq!(num6(-3.5e8), "-3.500000e8");
    }
}
