//! Data sets (theory/reference/models.md §3, decisions.md §2): the vendored UCI digits, user `.npz` files and a
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

use std::io::Read;
use std::path::Path;

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::error::{Error, InputError};
use crate::npy::{self, NpyArray};

/// The UCI optical digits (test part, 1,797 rows of 64 pixels in 0..16, then the label), as shipped in
/// `../shared/data/digits.csv.gz` (see its README for source and licence).
static DIGITS_CSV_GZ: &[u8] = include_bytes!("assets/digits.csv.gz");

/// Rows in the vendored digits file.
pub const DIGITS_ROWS: usize = 1797;
/// Pixels per digits image (8×8).
pub const DIGITS_PIXELS: usize = 64;

impl Dataset {
    /// Number of classes, 1 + the largest label (0 for an empty set).
    pub fn classes(&self) -> usize {
        self.y
            .iter()
            .map(|&c| c.max(0) as usize + 1)
            .max()
            .unwrap_or(0)
    }
}

/// The raw digits file: pixels (row-major [1797, 64], integers 0..16) and labels.
///
/// Errors only if the embedded asset were corrupt (it is checked by the tests).
pub fn digits_raw() -> Result<(Vec<u8>, Vec<i64>), InputError> {
    let bad = |msg: String| InputError::File {
        path: "<embedded digits.csv.gz>".into(),
        msg,
    };
    let mut text = String::new();
    flate2::read::GzDecoder::new(DIGITS_CSV_GZ)
        .read_to_string(&mut text)
        .map_err(|e| bad(format!("cannot decompress: {e}")))?;
    let mut px = Vec::with_capacity(DIGITS_ROWS * DIGITS_PIXELS);
    let mut y = Vec::with_capacity(DIGITS_ROWS);
    for (r, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let fields: Vec<&str> = line.trim().split(',').collect();
        if fields.len() != DIGITS_PIXELS + 1 {
            return Err(bad(format!(
                "row {r} has {} fields, expected 65",
                fields.len()
            )));
        }
        for f in &fields[..DIGITS_PIXELS] {
            match f.trim().parse::<u8>() {
                Ok(v) if v <= 16 => px.push(v),
                _ => {
                    return Err(bad(format!(
                        "row {r}: pixel `{f}` is not an integer in 0..=16"
                    )));
                }
            }
        }
        match fields[DIGITS_PIXELS].trim().parse::<i64>() {
            Ok(c) if (0..10).contains(&c) => y.push(c),
            _ => {
                return Err(bad(format!(
                    "row {r}: label `{}` is not in 0..10",
                    fields[DIGITS_PIXELS]
                )));
            }
        }
    }
    if y.len() != DIGITS_ROWS {
        return Err(bad(format!("{} rows, expected {DIGITS_ROWS}", y.len())));
    }
    Ok((px, y))
}

/// The first `n` digits rows in file order (1 ≤ n ≤ 1797), each pixel standardised over those rows
/// in f64 (decisions.md §2): with sums in row order,
/// $$\mu_j = \tfrac1n\sum_i x_{ij},\qquad \sigma_j = \sqrt{\tfrac1n\sum_i (x_{ij}-\mu_j)^2},\qquad
/// z_{ij} = (x_{ij}-\mu_j)/\sigma_j,$$
/// and $z_{ij} = 0$ for a pixel with $\sigma_j = 0$ exactly. Labels are 0..10.
pub fn digits(n: usize) -> Result<Dataset, InputError> {
    if n == 0 || n > DIGITS_ROWS {
        return Err(InputError::Value {
            key: "n".into(),
            msg: format!("digits has {DIGITS_ROWS} rows: n must be in 1..={DIGITS_ROWS}, got {n}"),
        });
    }
    let (px, labels) = digits_raw()?;
    let d = DIGITS_PIXELS;
    let mut x: Vec<f64> = px[..n * d].iter().map(|&v| f64::from(v)).collect();
    standardise_columns(&mut x, n, d);
    Ok(Dataset {
        x,
        y: labels[..n].to_vec(),
        n,
        d,
    })
}

/// Standardise each column of the row-major [n, d] matrix in place (population statistics, sums in
/// row order; a column with σ = 0 exactly becomes 0), as [`digits`] documents.
pub fn standardise_columns(x: &mut [f64], n: usize, d: usize) {
    let nf = n as f64;
    for j in 0..d {
        let mut sum = 0.0;
        for i in 0..n {
            sum += x[i * d + j];
        }
        let mean = sum / nf;
        let mut ss = 0.0;
        for i in 0..n {
            let c = x[i * d + j] - mean;
            ss += c * c;
        }
        let std = (ss / nf).sqrt();
        for i in 0..n {
            let v = &mut x[i * d + j];
            *v = if std == 0.0 { 0.0 } else { (*v - mean) / std };
        }
    }
}

/// u64 → (0, 1]: `((x >> 11) + 1) · 2⁻⁵³` (53 random bits, never 0, so `ln` is finite).
fn unit_open0(x: u64) -> f64 {
    ((x >> 11) + 1) as f64 * (1.0 / 9_007_199_254_740_992.0)
}

/// u64 → [0, 1): `(x >> 11) · 2⁻⁵³`.
fn unit_closed0(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
}

/// A stream of standard normals by Box–Muller from ChaCha8: two words a, b give
/// r = √(−2 ln u₁), u₁ = unit_open0(a) ∈ (0,1], u₂ = unit_closed0(b) ∈ [0,1), and the two normals
/// r·cos(2πu₂), r·sin(2πu₂) in that order; `ln`, `cos`, `sin` from the pure-Rust `libm`, so the
/// stream is bit-identical on every platform.
struct Normals {
    rng: ChaCha8Rng,
    spare: Option<f64>,
}

impl Normals {
    fn new(seed: u64) -> Self {
        Normals {
            rng: ChaCha8Rng::seed_from_u64(seed),
            spare: None,
        }
    }

    fn next(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let u1 = unit_open0(self.rng.next_u64());
        let u2 = unit_closed0(self.rng.next_u64());
        let r = libm::sqrt(-2.0 * libm::log(u1));
        let t = 2.0 * std::f64::consts::PI * u2;
        self.spare = Some(r * libm::sin(t));
        r * libm::cos(t)
    }
}

/// Largest number of generated samples (`--data synthetic`, the width-1 model's data): a seeded
/// data set this large already holds 10⁷ rows; more is an input error, not an allocation failure.
pub const MAX_SAMPLES: usize = 10_000_000;

/// The seeded synthetic set (decisions.md §2): from one Box–Muller normal stream of
/// `ChaCha8Rng::seed_from_u64(seed)` (see `Normals`), first a map W [classes, d] (row-major), then X
/// [n, d] (row-major), all standard normal; yᵢ = argmax_c (W xᵢ)_c (the first maximum on a tie).
/// The same seed with a larger n extends the same rows.
pub fn synthetic(n: usize, d: usize, classes: usize, seed: u64) -> Result<Dataset, InputError> {
    let positive = |key: &str, v: usize| {
        if v == 0 {
            Err(InputError::Value {
                key: key.into(),
                msg: "must be ≥ 1, got 0".into(),
            })
        } else {
            Ok(())
        }
    };
    positive("n", n)?;
    if n > MAX_SAMPLES {
        return Err(InputError::Value { key: "n".into(), msg: format!("must be ≤ {MAX_SAMPLES}, got {n}") });
    }
    positive("d", d)?;
    positive("classes", classes)?;
    let len = n
        .checked_mul(d)
        .filter(|_| classes.checked_mul(d).is_some());
    let Some(len) = len else {
        return Err(InputError::Value {
            key: "n".into(),
            msg: format!("n·d = {n}·{d} is too large"),
        });
    };
    let mut g = Normals::new(seed);
    let w: Vec<f64> = (0..classes * d).map(|_| g.next()).collect();
    let x: Vec<f64> = (0..len).map(|_| g.next()).collect();
    let y = x
        .chunks_exact(d)
        .map(|xi| {
            let mut best = (0usize, f64::NEG_INFINITY);
            for (c, wc) in w.chunks_exact(d).enumerate() {
                let s: f64 = wc.iter().zip(xi).fold(0.0, |a, (p, q)| a + p * q);
                if s > best.1 {
                    best = (c, s);
                }
            }
            best.0 as i64
        })
        .collect();
    Ok(Dataset { x, y, n, d })
}

/// Load a user data set from `.npz`: `X` float64 [n, d] and `y` int64 `[n]`, used exactly as given
/// (no standardisation). Checks: n, d ≥ 1, the shapes agree, X finite, labels ≥ 0.
pub fn load_npz_dataset(path: impl AsRef<Path>) -> Result<Dataset, InputError> {
    let path = path.as_ref();
    let mut z = npy::read_npz(path)?;
    z.get("X")?;
    z.get("y")?;
    let (x, xs) = z.take("X")?.into_f64(path, "member `X` ")?;
    let (y, ys) = z.take("y")?.into_i64(path, "member `y` ")?;
    let shape_err = |msg: String| InputError::Shape {
        path: path.to_path_buf(),
        msg,
    };
    let [n, d] = xs[..] else {
        return Err(shape_err(format!(
            "`X` has shape {xs:?}, expected 2-D [n, d]"
        )));
    };
    if ys.len() != 1 {
        return Err(shape_err(format!("`y` has shape {ys:?}, expected 1-D [n]")));
    }
    if n == 0 || d == 0 {
        return Err(shape_err(format!(
            "`X` has shape [{n}, {d}], expected n ≥ 1 and d ≥ 1"
        )));
    }
    if ys[0] != n {
        return Err(shape_err(format!(
            "`X` has {n} rows but `y` has {} labels",
            ys[0]
        )));
    }
    check_finite(&format!("{}: X", path.display()), &x)?;
    if let Some(i) = y.iter().position(|&c| c < 0) {
        return Err(InputError::File {
            path: path.to_path_buf(),
            msg: format!("label y[{i}] = {} is negative, expected labels ≥ 0", y[i]),
        });
    }
    Ok(Dataset { x, y, n, d })
}

/// Save a data set as `.npz` (`X` float64 [n, d], `y` int64 `[n]`), uncompressed and atomically, so
/// that [`load_npz_dataset`] returns it bit for bit.
pub fn save_npz_dataset(path: impl AsRef<Path>, ds: &Dataset) -> Result<(), Error> {
    write_npz_dataset(path, ds.clone())
}

/// [`save_npz_dataset`] of a data set given up to it: its arrays are written as they are, not
/// copied (`export` of 8.5M synthetic rows held the inputs twice, 8.2 GiB).
pub fn write_npz_dataset(path: impl AsRef<Path>, ds: Dataset) -> Result<(), Error> {
    let path = path.as_ref();
    if ds.x.len() != ds.n * ds.d || ds.y.len() != ds.n {
        return Err(InputError::Dimension(format!(
            "data set claims [{}, {}] but holds {} inputs and {} labels",
            ds.n,
            ds.d,
            ds.x.len(),
            ds.y.len()
        ))
        .into());
    }
    let x = NpyArray::f64(ds.x, vec![ds.n, ds.d]);
    let y = NpyArray::i64(ds.y, vec![ds.n]);
    npy::write_npz(path, &[("X", &x), ("y", &y)])
}

/// Number of parameters of an MLP with widths `layers` in the layout of theory/reference/models.md §3:
/// Σ (out·in + out) over consecutive pairs (in, out).
pub fn layout_len(layers: &[usize]) -> usize {
    crate::models::mlp::param_count(layers)
}

/// u64 → [−b, b]: `((x >> 11) as f64 · 2⁻⁵³) · 2b − b` (53 random bits; the top end b is not reached).
fn uniform_pm(x: u64, b: f64) -> f64 {
    ((x >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)) * (2.0 * b) - b
}

/// PyTorch nn.Linear-style initialisation (decisions.md §2, theory/reference/models.md §3): for each layer
/// (in, out) in order, W [out, in] row-major then b `[out]`, every entry uniform in
/// [−1/√in, 1/√in], drawn in this layout order from `ChaCha8Rng::seed_from_u64(seed)`, one u64 per
/// entry mapped by `((x >> 11) as f64 · 2⁻⁵³) · 2b − b` with b = 1/√in.
///
/// Errors unless there are ≥ 2 widths, all ≥ 1.
pub fn init_params(layers: &[usize], seed: u64) -> Result<Vec<f64>, InputError> {
    if layers.len() < 2 || layers.contains(&0) {
        return Err(InputError::Value {
            key: "layers".into(),
            msg: format!("need at least two widths, all ≥ 1, got {layers:?}"),
        });
    }
    let Some(p) = crate::models::mlp::checked_param_count(layers) else {
        return Err(InputError::Value { key: "layers".into(), msg: format!("{layers:?} has more than 2^64 parameters") });
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    out.try_reserve_exact(p).map_err(|_| InputError::Value { key: "layers".into(), msg: format!("{layers:?} has {p} parameters, more than memory holds") })?;
    for w in layers.windows(2) {
        let (fan_in, fan_out) = (w[0], w[1]);
        let b = 1.0 / (fan_in as f64).sqrt();
        for _ in 0..fan_out * fan_in + fan_out {
            out.push(uniform_pm(rng.next_u64(), b));
        }
    }
    Ok(out)
}

/// Ok if every entry is finite; otherwise the error names `what` and the first non-finite index.
pub fn check_finite(what: &str, xs: &[f64]) -> Result<(), InputError> {
    match xs.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(InputError::NonFinite {
            what: what.to_string(),
            index,
        }),
        None => Ok(()),
    }
}
