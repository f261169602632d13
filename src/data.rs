//! Data sets (theory/models.md §3, decisions.md §2): the vendored UCI digits, user `.npz` files and a
//! seeded synthetic set.

/// A classification data set held in f64: X is n×d row-major, labels in 0..classes.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Inputs, row-major [n, d].
    pub x: Vec<f64>,
    /// Labels, length n.
    pub y: Vec<i64>,
    /// Number of samples.
    pub n: usize,
    /// Input width.
    pub d: usize,
}
