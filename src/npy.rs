//! NumPy `.npy` / `.npz` exchange for float64 and int64 arrays (theory/reference/models.md §3, decisions.md §2).
//!
//! Format (NumPy NEP 1, `numpy/lib/format.py`): the magic `\x93NUMPY`, a major and a minor version
//! byte, the header length (u16 little-endian for version 1.0, u32 for 2.0 and 3.0), then an ASCII
//! (1.0, 2.0) or UTF-8 (3.0) Python dict literal
//! `{'descr': '<f8', 'fortran_order': False, 'shape': (n, d), }` padded with spaces and ended by `\n`,
//! then the raw elements in C order.
//!
//! Reading accepts versions 1.0, 2.0 and 3.0, the dtypes `<f8` (float64) and `<i8` (int64), C order,
//! 1-D and 2-D shapes. Writing produces version 1.0 with the header padded to a multiple of 64 bytes,
//! byte-identical to `numpy.save` for the same array. An `.npz` is a zip of `<name>.npy` members:
//! reading accepts stored and deflated members (`np.savez`, `np.savez_compressed`), writing stores
//! them uncompressed like `np.savez`, with a fixed 1980-01-01 timestamp so equal arrays give equal
//! bytes.
//!
//! Every read error is an [`InputError`] naming the file and the problem; no byte sequence panics.
//! Every write is atomic: a temporary file in the target's directory, fsync, rename.

use std::fs;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, InputError};

/// The magic string that opens every `.npy` file.
const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Deepest nesting accepted in a header literal (real headers nest two levels).
const MAX_DEPTH: usize = 8;
/// Largest header accepted on read (NumPy itself refuses headers above 10 000 bytes by default).
const MAX_HEADER: usize = 1 << 20;

/// The elements of an array: the two dtypes of the exchange format.
#[derive(Clone, Debug, PartialEq)]
pub enum NpyData {
    /// `<f8`: little-endian IEEE binary64.
    F64(Vec<f64>),
    /// `<i8`: little-endian two's-complement 64-bit integers.
    I64(Vec<i64>),
}

/// An array: C-order elements and their shape (1-D or 2-D).
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    /// The elements in C (row-major) order.
    pub data: NpyData,
    /// The shape; the product of its entries is the number of elements.
    pub shape: Vec<usize>,
}

impl NpyArray {
    /// A float64 array; `data.len()` must equal the product of `shape` (checked on write).
    pub fn f64(data: Vec<f64>, shape: Vec<usize>) -> Self {
        NpyArray {
            data: NpyData::F64(data),
            shape,
        }
    }

    /// An int64 array; `data.len()` must equal the product of `shape` (checked on write).
    pub fn i64(data: Vec<i64>, shape: Vec<usize>) -> Self {
        NpyArray {
            data: NpyData::I64(data),
            shape,
        }
    }

    /// The NumPy dtype string: `<f8` or `<i8`.
    pub fn descr(&self) -> &'static str {
        match self.data {
            NpyData::F64(_) => "<f8",
            NpyData::I64(_) => "<i8",
        }
    }

    /// Number of elements stored.
    pub fn len(&self) -> usize {
        match &self.data {
            NpyData::F64(v) => v.len(),
            NpyData::I64(v) => v.len(),
        }
    }

    /// True when the array holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The float64 elements and shape, or an error naming the dtype found (`path`, `what` for it).
    pub fn into_f64(self, path: &Path, what: &str) -> Result<(Vec<f64>, Vec<usize>), InputError> {
        match self.data {
            NpyData::F64(v) => Ok((v, self.shape)),
            NpyData::I64(_) => Err(file_err(
                path,
                format!("{what}has dtype `<i8` (int64), expected `<f8` (float64, little-endian)"),
            )),
        }
    }

    /// The int64 elements and shape, or an error naming the dtype found (`path`, `what` for it).
    pub fn into_i64(self, path: &Path, what: &str) -> Result<(Vec<i64>, Vec<usize>), InputError> {
        match self.data {
            NpyData::I64(v) => Ok((v, self.shape)),
            NpyData::F64(_) => Err(file_err(
                path,
                format!("{what}has dtype `<f8` (float64), expected `<i8` (int64, little-endian)"),
            )),
        }
    }
}

fn file_err(path: &Path, msg: impl Into<String>) -> InputError {
    InputError::File {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

fn shape_err(path: &Path, msg: impl Into<String>) -> InputError {
    InputError::Shape {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

/// Python's repr of a shape tuple: `()`, `(3,)`, `(3, 4)`; a shape of more than
/// [`SHAPE_REPR_MAX`] entries is shown by its first ones and its length (a corrupt header's
/// 30,000-entry shape is not quoted whole in an error).
fn shape_repr(shape: &[usize]) -> String {
    match shape {
        [] => "()".to_string(),
        [a] => format!("({a},)"),
        _ if shape.len() > SHAPE_REPR_MAX => {
            let parts: Vec<String> = shape[..SHAPE_REPR_MAX].iter().map(|s| s.to_string()).collect();
            format!("({}, … {} entries in all)", parts.join(", "), shape.len())
        }
        _ => {
            let parts: Vec<String> = shape.iter().map(|s| s.to_string()).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// Most entries of a shape an error message quotes ([`shape_repr`]).
const SHAPE_REPR_MAX: usize = 6;

// ---------------------------------------------------------------------------------------------
// Header literal parser: a tiny subset of Python literals (str, int, True/False/None, tuple, list,
// dict), enough for every header NumPy writes and strict enough to reject anything else.

#[derive(Debug)]
enum Lit {
    Str(String),
    Int(u64),
    Bool(bool),
    None,
    Seq(Vec<Lit>),
    Dict(Vec<(String, Lit)>),
}

impl Lit {
    fn describe(&self) -> String {
        match self {
            Lit::Str(s) => format!("'{s}'"),
            Lit::Int(i) => i.to_string(),
            Lit::Bool(b) => if *b { "True" } else { "False" }.to_string(),
            Lit::None => "None".to_string(),
            Lit::Seq(_) => "a list/tuple".to_string(),
            Lit::Dict(_) => "a dict".to_string(),
        }
    }
}

struct LitParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl LitParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected `{}` at byte {}", c as char, self.i))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Lit, String> {
        if depth > MAX_DEPTH {
            return Err("header nests too deeply".into());
        }
        self.ws();
        match self.peek() {
            Some(q @ (b'\'' | b'"')) => {
                self.i += 1;
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i] != q {
                    if self.s[self.i] == b'\\' {
                        return Err("escape sequences are not supported in header strings".into());
                    }
                    self.i += 1;
                }
                if self.i >= self.s.len() {
                    return Err("unterminated string in header".into());
                }
                let text = std::str::from_utf8(&self.s[start..self.i])
                    .map_err(|_| "header string is not valid UTF-8".to_string())?
                    .to_string();
                self.i += 1;
                Ok(Lit::Str(text))
            }
            Some(b'0'..=b'9') => {
                let start = self.i;
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.i += 1;
                }
                // Python 2 long suffix, still accepted by NumPy's header reader.
                let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                if matches!(self.peek(), Some(b'L')) {
                    self.i += 1;
                }
                digits
                    .parse::<u64>()
                    .map(Lit::Int)
                    .map_err(|_| format!("integer `{digits}` in header is out of range"))
            }
            Some(open @ (b'(' | b'[')) => {
                let close = if open == b'(' { b')' } else { b']' };
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.ws();
                    if self.peek() == Some(close) {
                        self.i += 1;
                        return Ok(Lit::Seq(items));
                    }
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(c) if c == close => {}
                        _ => {
                            return Err(format!(
                                "expected `,` or `{}` at byte {}",
                                close as char, self.i
                            ));
                        }
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut items: Vec<(String, Lit)> = Vec::new();
                loop {
                    self.ws();
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                        return Ok(Lit::Dict(items));
                    }
                    let key = match self.value(depth + 1)? {
                        Lit::Str(k) => k,
                        other => {
                            return Err(format!("dict key {} is not a string", other.describe()));
                        }
                    };
                    self.expect(b':')?;
                    let v = self.value(depth + 1)?;
                    if items.iter().any(|(k, _)| *k == key) {
                        return Err(format!("duplicate key '{key}'"));
                    }
                    items.push((key, v));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {}
                        _ => return Err(format!("expected `,` or `}}` at byte {}", self.i)),
                    }
                }
            }
            _ => {
                for (word, lit) in [
                    ("True", Lit::Bool(true)),
                    ("False", Lit::Bool(false)),
                    ("None", Lit::None),
                ] {
                    if self.s[self.i..].starts_with(word.as_bytes()) {
                        self.i += word.len();
                        return Ok(lit);
                    }
                }
                Err(format!("unexpected token at byte {}", self.i))
            }
        }
    }
}

/// The dtype names a reader may meet, for error messages.
fn dtype_name(descr: &str) -> &'static str {
    let kind = descr.trim_start_matches(['<', '>', '|', '=']);
    match kind {
        "f2" => "float16",
        "f4" => "float32",
        "f8" => "float64",
        "f16" => "float128",
        "i1" => "int8",
        "i2" => "int16",
        "i4" => "int32",
        "i8" => "int64",
        "u1" => "uint8",
        "u2" => "uint16",
        "u4" => "uint32",
        "u8" => "uint64",
        "b1" => "bool",
        "O" => "Python objects",
        "c8" => "complex64",
        "c16" => "complex128",
        _ => "unsupported dtype",
    }
}

/// The error of a file without the `.npy` magic string.
const NOT_NPY: &str = "not a .npy file (missing the `\\x93NUMPY` magic string)";

/// Parse a complete `.npy` image. `path` only labels errors.
pub fn parse_npy(bytes: &[u8], path: &Path) -> Result<NpyArray, InputError> {
    if bytes.len() < 8 || &bytes[..6] != MAGIC {
        return Err(file_err(path, NOT_NPY));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (hlen, start) = match major {
        1 => {
            if bytes.len() < 10 {
                return Err(file_err(path, "truncated .npy header (no header length)"));
            }
            (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
        }
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(file_err(path, "truncated .npy header (no header length)"));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        _ => {
            return Err(file_err(
                path,
                format!(
                    "unsupported .npy format version {major}.{minor} (expected 1.0, 2.0 or 3.0)"
                ),
            ));
        }
    };
    if minor != 0 {
        return Err(file_err(
            path,
            format!("unsupported .npy format version {major}.{minor} (expected 1.0, 2.0 or 3.0)"),
        ));
    }
    if hlen > MAX_HEADER {
        return Err(file_err(
            path,
            format!("bad .npy header: declared length {hlen} bytes is implausible"),
        ));
    }
    let end = start + hlen;
    if bytes.len() < end {
        return Err(file_err(
            path,
            format!(
                "truncated .npy header: declares {hlen} bytes, only {} present",
                bytes.len() - start
            ),
        ));
    }
    let header = &bytes[start..end];
    if major < 3 && !header.is_ascii() {
        // Versions 1.0 and 2.0 are latin-1; every valid header is plain ASCII.
        return Err(file_err(
            path,
            "bad .npy header: non-ASCII bytes in a version 1.0/2.0 header",
        ));
    }
    let mut p = LitParser { s: header, i: 0 };
    let lit = p
        .value(0)
        .map_err(|e| file_err(path, format!("bad .npy header: {e}")))?;
    p.ws();
    if p.i != header.len() {
        return Err(file_err(
            path,
            format!("bad .npy header: trailing text at byte {}", p.i),
        ));
    }
    let Lit::Dict(items) = lit else {
        return Err(file_err(path, "bad .npy header: not a dict"));
    };
    let get = |k: &str| items.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    if items.len() != 3 {
        let keys: Vec<&str> = items.iter().map(|(k, _)| k.as_str()).collect();
        return Err(file_err(
            path,
            format!(
                "bad .npy header: keys {keys:?}, expected exactly 'descr', 'fortran_order', 'shape'"
            ),
        ));
    }
    let descr = match get("descr") {
        Some(Lit::Str(s)) => s.clone(),
        Some(Lit::Seq(_)) => {
            return Err(file_err(
                path,
                "dtype is a structured (record) dtype, expected `<f8` (float64) or `<i8` (int64)",
            ));
        }
        Some(other) => {
            return Err(file_err(
                path,
                format!("bad .npy header: 'descr' is {}", other.describe()),
            ));
        }
        None => return Err(file_err(path, "bad .npy header: no 'descr' key")),
    };
    let fortran = match get("fortran_order") {
        Some(Lit::Bool(b)) => *b,
        Some(other) => {
            return Err(file_err(
                path,
                format!("bad .npy header: 'fortran_order' is {}", other.describe()),
            ));
        }
        None => return Err(file_err(path, "bad .npy header: no 'fortran_order' key")),
    };
    let shape: Vec<usize> = match get("shape") {
        Some(Lit::Seq(dims)) => {
            let mut out = Vec::with_capacity(dims.len().min(MAX_DEPTH));
            for d in dims {
                match d {
                    Lit::Int(v) => out.push(usize::try_from(*v).map_err(|_| {
                        file_err(
                            path,
                            format!("bad .npy header: dimension {v} does not fit in memory"),
                        )
                    })?),
                    other => {
                        return Err(file_err(
                            path,
                            format!("bad .npy header: dimension {}", other.describe()),
                        ));
                    }
                }
            }
            out
        }
        Some(other) => {
            return Err(file_err(
                path,
                format!("bad .npy header: 'shape' is {}", other.describe()),
            ));
        }
        None => return Err(file_err(path, "bad .npy header: no 'shape' key")),
    };
    let is_f64 = match descr.as_str() {
        "<f8" => true,
        "<i8" => false,
        _ => {
            return Err(file_err(
                path,
                format!(
                    "dtype `{descr}` ({}{}) is not supported, expected `<f8` (float64, little-endian) or `<i8` (int64, little-endian)",
                    dtype_name(&descr),
                    if descr.starts_with('>') {
                        ", big-endian"
                    } else {
                        ""
                    }
                ),
            ));
        }
    };
    if fortran {
        return Err(file_err(
            path,
            "array is stored in Fortran (column-major) order (fortran_order: True), expected C order",
        ));
    }
    if shape.is_empty() || shape.len() > 2 {
        return Err(shape_err(
            path,
            format!(
                "array has shape {}, expected a 1-D or 2-D array",
                shape_repr(&shape)
            ),
        ));
    }
    let count = shape.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
    let nbytes = count.and_then(|c| c.checked_mul(8));
    let avail = bytes.len() - end;
    let (count, nbytes) = match (count, nbytes) {
        (Some(c), Some(b)) if b <= avail => (c, b),
        _ => {
            return Err(file_err(
                path,
                format!(
                    "truncated data: shape {} needs {} bytes of {}, only {avail} present",
                    shape_repr(&shape),
                    nbytes.map_or("more than addressable".to_string(), |b| b.to_string()),
                    dtype_name(&descr),
                ),
            ));
        }
    };
    if avail > nbytes {
        return Err(file_err(
            path,
            format!(
                "{} unexpected bytes after the data of shape {} (corrupt file?)",
                avail - nbytes,
                shape_repr(&shape)
            ),
        ));
    }
    let raw = &bytes[end..end + nbytes];
    let words = raw.chunks_exact(8).map(|c| {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        w
    });
    let data = if is_f64 {
        NpyData::F64(words.map(f64::from_le_bytes).collect())
    } else {
        NpyData::I64(words.map(i64::from_le_bytes).collect())
    };
    debug_assert_eq!(
        match &data {
            NpyData::F64(v) => v.len(),
            NpyData::I64(v) => v.len(),
        },
        count
    );
    Ok(NpyArray { data, shape })
}

/// Serialise to a version-1.0 `.npy` image (byte-identical to `numpy.save`).
///
/// Errors if the shape is not 1-D/2-D or its product differs from the number of elements.
pub fn npy_bytes(a: &NpyArray, path: &Path) -> Result<Vec<u8>, InputError> {
    let mut out = npy_header(a, path)?;
    out.reserve_exact(8 * a.len());
    write_npy_data(a, &mut out).expect("writing to memory");
    Ok(out)
}

/// The `.npy` (version 1.0) magic, version, length and header of `a`, after checking its shape.
fn npy_header(a: &NpyArray, path: &Path) -> Result<Vec<u8>, InputError> {
    if a.shape.is_empty() || a.shape.len() > 2 {
        return Err(shape_err(
            path,
            format!(
                "cannot write shape {}: expected 1-D or 2-D",
                shape_repr(&a.shape)
            ),
        ));
    }
    let count = a.shape.iter().try_fold(1usize, |x, &y| x.checked_mul(y));
    if count != Some(a.len()) {
        return Err(shape_err(
            path,
            format!(
                "cannot write {} elements with shape {}",
                a.len(),
                shape_repr(&a.shape)
            ),
        ));
    }
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
        a.descr(),
        shape_repr(&a.shape)
    );
    // NumPy pads with spaces so that magic + version + length + header (incl. '\n') is a multiple of 64.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let hlen = u16::try_from(header.len())
        .map_err(|_| shape_err(path, "header too long for .npy version 1.0"))?;
    let mut out = Vec::with_capacity(10 + header.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&hlen.to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    Ok(out)
}

/// The elements of `a` as little-endian bytes, written in blocks (no copy of the whole array).
fn write_npy_data(a: &NpyArray, w: &mut dyn Write) -> std::io::Result<()> {
    const BLOCK: usize = 8192;
    let mut buf = Vec::with_capacity(8 * BLOCK);
    let mut put = |bytes: &mut dyn Iterator<Item = [u8; 8]>| -> std::io::Result<()> {
        loop {
            buf.clear();
            buf.extend(bytes.take(BLOCK).flatten());
            if buf.is_empty() {
                return Ok(());
            }
            w.write_all(&buf)?;
        }
    };
    match &a.data {
        NpyData::F64(v) => put(&mut v.iter().map(|x| x.to_le_bytes())),
        NpyData::I64(v) => put(&mut v.iter().map(|x| x.to_le_bytes())),
    }
}

/// Read an input file whole. Only a regular file is read: a device or pipe (`/dev/zero`) could be
/// endless, and is refused by name.
pub fn read_input(path: &Path) -> Result<Vec<u8>, InputError> {
    read_input_after(path, None)
}

/// [`read_input`], with the file's first bytes checked against `magic` before the rest is read (a
/// large file of another kind is refused by its format, not read whole first): `msg` otherwise.
fn read_input_after(path: &Path, magic: Option<(&[u8], &str)>) -> Result<Vec<u8>, InputError> {
    use std::io::Read;
    let not_read = |e: std::io::Error| {
        let what = match e.kind() {
            std::io::ErrorKind::NotFound => "file not found".to_string(),
            _ => format!("cannot read file: {e}"),
        };
        file_err(path, what)
    };
    let meta = fs::metadata(path).map_err(not_read)?;
    if !meta.is_file() {
        let kind = if meta.is_dir() { "a directory" } else { "a device, pipe or socket" };
        return Err(file_err(path, format!("is {kind}, not a regular file")));
    }
    let mut f = fs::File::open(path).map_err(not_read)?;
    let mut bytes = Vec::new();
    if let Some((m, msg)) = magic {
        Read::take(&mut f, m.len() as u64).read_to_end(&mut bytes).map_err(not_read)?;
        if bytes != m {
            return Err(file_err(path, msg));
        }
    }
    bytes.try_reserve_exact(usize::try_from(meta.len()).unwrap_or(usize::MAX).saturating_sub(bytes.len())).map_err(|_| {
        file_err(path, format!("cannot read file: its {} bytes do not fit in memory", meta.len()))
    })?;
    f.read_to_end(&mut bytes).map_err(not_read)?;
    Ok(bytes)
}

/// Read a `.npy` file of dtype `<f8` or `<i8`.
pub fn read_npy(path: impl AsRef<Path>) -> Result<NpyArray, InputError> {
    let path = path.as_ref();
    parse_npy(&read_input_after(path, Some((MAGIC, NOT_NPY)))?, path)
}

/// Read a float64 `.npy` file: its elements (C order) and shape.
pub fn read_npy_f64(path: impl AsRef<Path>) -> Result<(Vec<f64>, Vec<usize>), InputError> {
    let path = path.as_ref();
    read_npy(path)?.into_f64(path, "array ")
}

/// Read an int64 `.npy` file: its elements (C order) and shape.
pub fn read_npy_i64(path: impl AsRef<Path>) -> Result<(Vec<i64>, Vec<usize>), InputError> {
    let path = path.as_ref();
    read_npy(path)?.into_i64(path, "array ")
}

/// Serde readers for the f64 fields of saved state. serde_json writes a non-finite f64 as `null`;
/// these read `null` back as NaN, so a checkpoint holding an empty cell (a column that is undefined
/// at that step) can be resumed. The runs store every non-finite record value as NaN
/// ([`finite_or_nan`]), so the round trip is exact.
pub mod null_as_nan {
    use serde::{Deserialize, Deserializer};

    /// An f64, `null` read as NaN.
    pub fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }

    /// A pair of f64 (a [min, max] range), each `null` read as NaN.
    pub fn pair<'de, D: Deserializer<'de>>(d: D) -> Result<[f64; 2], D::Error> {
        let [a, b] = <[Option<f64>; 2]>::deserialize(d)?;
        Ok([a.unwrap_or(f64::NAN), b.unwrap_or(f64::NAN)])
    }

    /// A list of f64, each `null` read as NaN.
    pub fn vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(nan_for_null(Vec::<Option<f64>>::deserialize(d)?))
    }

    /// Rows of f64 (a table), each `null` read as NaN.
    pub fn rows<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
        Ok(Vec::<Vec<Option<f64>>>::deserialize(d)?.into_iter().map(nan_for_null).collect())
    }

    fn nan_for_null(v: Vec<Option<f64>>) -> Vec<f64> {
        v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect()
    }
}

/// x if finite, else NaN: a recorded value that overflowed is undefined (an empty cell), like one
/// that was not computed.
pub fn finite_or_nan(x: f64) -> f64 {
    if x.is_finite() { x } else { f64::NAN }
}

/// State saved by an earlier run, read back from `path` (a checkpoint, a file of finished points
/// or batch sizes) when the file is there and `keep` accepts it (None when there is none). A file
/// that does not parse as a `what`, or that `keep` refuses (returning why), is an error naming the
/// file and the reason: it may hold hours of another job's work, so it is kept, and only `fresh`
/// (the commands' `--fresh`) removes it, with a notice, for the caller to start afresh.
pub fn read_saved<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
    fresh: bool,
    keep: impl FnOnce(&T) -> Result<(), String>,
) -> Result<Option<T>, Error> {
    read_saved_at(path, what, fresh, None, keep)
}

/// [`read_saved`] of a job at `precision` (its configured text, "f64" or the bits): a file whose
/// `config.precision` is another is refused as another configuration naming both, before it is
/// parsed (an f64 state does not parse as an MPFR one, and the parse error read as damage).
pub fn read_saved_at<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
    fresh: bool,
    precision: Option<&str>,
    keep: impl FnOnce(&T) -> Result<(), String>,
) -> Result<Option<T>, Error> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Error::Io { path: path.to_path_buf(), source }),
    };
    if fresh {
        eprintln!("--fresh: discarding {} (a {what} of an earlier run)", path.display());
        fs::remove_file(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        return Ok(None);
    }
    // Only `config.precision` is read here (serde skips the rest without building it).
    #[derive(serde::Deserialize)]
    struct Head {
        config: Option<HeadConfig>,
    }
    #[derive(serde::Deserialize)]
    struct HeadConfig {
        precision: Option<String>,
    }
    let other_precision = |()| -> Result<(), String> {
        let Some(now) = precision else { return Ok(()) };
        let saved = serde_json::from_slice::<Head>(&bytes).ok().and_then(|h| h.config?.precision);
        match saved {
            Some(saved) if saved != now => Err(format!("it is the {what} of another configuration (precision = \"{saved}\" (now: \"{now}\"))")),
            _ => Ok(()),
        }
    };
    let parsed = check_digest(&bytes).and_then(other_precision).and_then(|()| serde_json::from_slice::<T>(&bytes).map_err(|e| format!("it does not parse as one ({e})")));
    let why = match parsed {
        Ok(t) => match keep(&t) {
            Ok(()) => return Ok(Some(t)),
            Err(why) => why,
        },
        Err(why) => why,
    };
    Err(InputError::Saved { path: path.to_path_buf(), what: what.into(), why }.into())
}

/// A value as a CSV cell: its shortest round-trip text, or an empty cell for NaN (every writer
/// turns a non-finite record value into NaN first, see [`finite_or_nan`]).
pub fn csv_cell(v: f64) -> String {
    if v.is_nan() { String::new() } else { format!("{v:?}") }
}

/// A job's hold on its output directory ([`lock_out_dir`]); released when dropped or when the
/// process ends, however it ends.
#[derive(Debug)]
#[must_use = "the directory is locked only while the guard lives"]
pub struct OutLock(#[allow(dead_code)] fs::File);

/// The lock file a long job took in its output directory before it locked the directory itself;
/// still the fallback where a directory cannot be locked.
pub const LOCK_FILE: &str = ".selfstab.lock";

/// Take `dir`'s lock (an advisory lock on the directory itself) for the job's duration: a second job
/// writing into the same directory would mix its outputs and checkpoint with the first's, so it
/// stops at once with an error naming the directory. The lock sits on the directory, not on a file
/// in it, so that removing files there cannot drop it (a deleted `.selfstab.lock` let a second job
/// in; resume audit). Where a directory cannot be locked, the file [`LOCK_FILE`] is.
pub fn lock_out_dir(dir: &Path) -> Result<OutLock, Error> {
    let busy = || -> Error {
        InputError::File {
            path: dir.to_path_buf(),
            msg: "another selfstab job is writing to this output directory (it holds its lock); wait for it to end or choose another --out".into(),
        }
        .into()
    };
    if let Ok(d) = fs::File::open(dir) {
        match d.try_lock() {
            Ok(()) => return Ok(OutLock(d)),
            Err(fs::TryLockError::WouldBlock) => return Err(busy()),
            Err(fs::TryLockError::Error(_)) => {}
        }
    }
    let path = dir.join(LOCK_FILE);
    let f = fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
    match f.try_lock() {
        Ok(()) => Ok(OutLock(f)),
        Err(fs::TryLockError::WouldBlock) => Err(busy()),
        Err(fs::TryLockError::Error(source)) => Err(Error::Io { path, source }),
    }
}

/// Create the output directory `dir` (and its parents) if it is not there; a failure names the
/// directory as the output directory (`--out /proc/x` used to say only "No such file or directory").
/// The stray temporaries of killed jobs in it go ([`remove_stray_temporaries`]).
pub fn create_out_dir(dir: &Path) -> Result<(), Error> {
    if fs::metadata(dir).is_ok_and(|m| !m.is_dir()) {
        return Err(InputError::File { path: dir.to_path_buf(), msg: "cannot be the output directory: it exists and is not a directory".into() }.into());
    }
    fs::create_dir_all(dir).map_err(|e| InputError::File { path: dir.to_path_buf(), msg: format!("cannot create the output directory: {e}") })?;
    remove_stray_temporaries(dir);
    // The figures are written into a subdirectory (a killed write left its temporary there).
    remove_stray_temporaries(&dir.join("figures"));
    Ok(())
}

/// Remove an earlier job's outputs `names` (paths relative to `dir`) before a fresh job writes its
/// own there, so that none sits beside the new job's. Best effort: a missing file is fine.
pub fn remove_outputs<P: AsRef<Path>>(dir: &Path, names: impl IntoIterator<Item = P>) {
    for n in names {
        let _ = fs::remove_file(dir.join(n));
    }
}

/// Whether `t` is a non-empty run of ASCII decimal digits (the number in an output file's or
/// directory's name: `.NAME.tmpPID-SEQ`, `sgd_b{B}.csv`, `seed{S}`).
pub(crate) fn all_digits(t: &str) -> bool {
    !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit())
}

/// Remove the temporary files [`write_atomic`] leaves in `dir` when a process is killed while
/// writing (`.NAME.tmpPID-SEQ`); a job calls it when it starts in its output directory. Only those
/// of processes that are gone (no `/proc/PID`, where /proc is mounted): a live job's write in
/// progress in the same directory is left alone. Best effort: a file that cannot be removed is left.
pub fn remove_stray_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    let proc_known = Path::new("/proc/self").exists();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let writer = name.strip_prefix('.').and_then(|n| n.rsplit_once(".tmp")).and_then(|(_, tail)| {
            let (pid, seq) = tail.split_once('-')?;
            (all_digits(pid) && all_digits(seq)).then_some(pid)
        });
        let Some(pid) = writer else { continue };
        let alive = proc_known && Path::new("/proc").join(pid).exists();
        if !alive {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Write `bytes` to `path` atomically: a temporary file in the same directory, fsync, rename, and a
/// best-effort fsync of the directory. A crash leaves either the old file or the new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// [`write_atomic`] of `value` as compact JSON, serialised straight into the temporary file (the
/// checkpoints hold tens of vectors of length p: as text in memory they were the largest buffer a
/// run allocated). An object gets a last member `"crc32"`: the CRC-32 of its text as
/// `serde_json::to_vec` writes it, without that member, as 8 hex digits ([`check_digest`] on
/// reading: a saved state edited or damaged so that it still parses is refused, not resumed).
pub fn write_json_atomic<T: serde::Serialize + ?Sized>(path: &Path, value: &T) -> Result<(), Error> {
    write_atomic_with(path, |w| {
        let mut d = DigestWriter { inner: w, crc: crc32fast::Hasher::new(), held: None, before: None };
        serde_json::to_writer(&mut d, value).map_err(std::io::Error::from)?;
        d.finish()
    })
}

/// The member [`write_json_atomic`] appends to an object: `,"crc32":"` + 8 hex digits + `"}`.
const DIGEST_OPEN: &[u8] = b",\"crc32\":\"";

/// Passes the bytes on, hashing them, and holds back the last one (an object's closing brace, for
/// [`DigestWriter::finish`] to write the digest member before it).
struct DigestWriter<'a> {
    inner: &'a mut dyn Write,
    crc: crc32fast::Hasher,
    held: Option<u8>,
    /// The byte written before the held one.
    before: Option<u8>,
}

impl Write for DigestWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let Some((&last, head)) = buf.split_last() else { return Ok(0) };
        if let Some(b) = self.held.take() {
            self.inner.write_all(&[b])?;
            self.crc.update(&[b]);
            self.before = Some(b);
        }
        self.inner.write_all(head)?;
        self.crc.update(head);
        if let Some(&b) = head.last() {
            self.before = Some(b);
        }
        self.held = Some(last);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl DigestWriter<'_> {
    /// Write the digest member and the held closing brace (a non-object is written as it is).
    fn finish(mut self) -> std::io::Result<()> {
        match self.held {
            Some(b'}') if self.before.is_some_and(|b| b != b'{') => {
                self.crc.update(b"}");
                let crc = self.crc.finalize();
                self.inner.write_all(DIGEST_OPEN)?;
                write!(self.inner, "{crc:08x}\"}}")
            }
            Some(b) => self.inner.write_all(&[b]),
            None => Ok(()),
        }
    }
}

/// Whether the text of a saved state matches the digest [`write_json_atomic`] wrote into it: Err
/// (why) when it does not, or when the member is there but not at the end, where it was written
/// (the file was parsed and written again, e.g. by serde_json, which sorts keys, or by Python's
/// `json.dump`, which writes `"crc32": "`; or it was cut short); Ok for a text without one (written
/// by a build before the digest). Whitespace after the closing brace (an editor's final newline)
/// is ignored. A `"crc32"` followed by a colon can only be that member: no saved state has a key of
/// that name, and quotes inside a string are escaped.
pub fn check_digest(bytes: &[u8]) -> Result<(), String> {
    let bytes = bytes.trim_ascii_end();
    let n = bytes.len();
    let tail = DIGEST_OPEN.len() + 8 + 2;
    if n < tail + 1 || &bytes[n - tail..n - 10] != DIGEST_OPEN || &bytes[n - 2..] != b"\"}" {
        let key = &DIGEST_OPEN[1..8];
        let member = (0..n.saturating_sub(key.len())).any(|i| {
            bytes[i..].starts_with(key) && bytes[i + key.len()..].trim_ascii_start().first() == Some(&b':')
        });
        if member {
            return Err("its CRC-32 member is not at its end as it was written (`\"crc32\":\"…\"}` closing the text): the file was written again by another program (re-serialised JSON moves or respaces it: Python's json.dump writes `\"crc32\": \"`) or cut short".into());
        }
        return Ok(());
    }
    let Some(want) = std::str::from_utf8(&bytes[n - 10..n - 2]).ok().and_then(|h| u32::from_str_radix(h, 16).ok()) else {
        return Err("its CRC-32 member is not 8 hex digits".into());
    };
    let mut crc = crc32fast::Hasher::new();
    crc.update(&bytes[..n - tail]);
    crc.update(b"}");
    let got = crc.finalize();
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "its contents do not match the CRC-32 written with it ({want:08x}; the text now gives {got:08x}): the file was edited or damaged after it was written"
        ))
    }
}

/// [`write_atomic`] of whatever `fill` writes (through a buffer).
pub fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut std::io::BufWriter<fs::File>) -> std::io::Result<()>) -> Result<(), Error> {
    let io = |source: std::io::Error| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "path has no file name",
        ))
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    // Unique per process and call, so concurrent writers never share a temporary file.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tmp_name.push(format!(".tmp{}-{seq}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut w = std::io::BufWriter::with_capacity(1 << 16, fs::File::create(&tmp)?);
        fill(&mut w)?;
        let f = w.into_inner().map_err(std::io::IntoInnerError::into_error)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io(e));
    }
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Write an array as a version-1.0 `.npy` file, atomically.
pub fn write_npy(path: impl AsRef<Path>, a: &NpyArray) -> Result<(), Error> {
    let path = path.as_ref();
    let header = npy_header(a, path)?;
    write_atomic_with(path, |w| {
        w.write_all(&header)?;
        write_npy_data(a, w)
    })
}

/// Write a float64 array of the given shape as `.npy`, atomically.
pub fn write_npy_f64(path: impl AsRef<Path>, data: &[f64], shape: &[usize]) -> Result<(), Error> {
    write_npy(path, &NpyArray::f64(data.to_vec(), shape.to_vec()))
}

/// Write an int64 array of the given shape as `.npy`, atomically.
pub fn write_npy_i64(path: impl AsRef<Path>, data: &[i64], shape: &[usize]) -> Result<(), Error> {
    write_npy(path, &NpyArray::i64(data.to_vec(), shape.to_vec()))
}

/// The members of an `.npz` archive in archive order, keyed by name without the `.npy` suffix.
#[derive(Clone, Debug, PartialEq)]
pub struct Npz {
    /// The file read (labels errors).
    pub path: PathBuf,
    /// `(name, array)` in archive order.
    pub members: Vec<(String, NpyArray)>,
    /// Entries skipped because their names do not end in `.npy` (named in errors).
    pub skipped: Vec<String>,
}

impl Npz {
    /// The member called `name`, or an error listing the members present.
    pub fn get(&self, name: &str) -> Result<&NpyArray, InputError> {
        self.members
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, a)| a)
            .ok_or_else(|| {
                let names: Vec<&str> = self.members.iter().map(|(k, _)| k.as_str()).collect();
                let other = if self.skipped.is_empty() {
                    String::new()
                } else {
                    format!("; entries that are not `.npy` arrays, skipped: {:?}", self.skipped)
                };
                file_err(&self.path, format!("missing array `{name}` (an `{name}.npy` member; members present: {names:?}{other})"))
            })
    }

    /// Remove and return the member called `name`, or an error listing the members present.
    pub fn take(&mut self, name: &str) -> Result<NpyArray, InputError> {
        self.get(name)?;
        let i = self
            .members
            .iter()
            .position(|(k, _)| k == name)
            .unwrap_or(0);
        Ok(self.members.remove(i).1)
    }
}

/// Parse a complete `.npz` image (stored or deflated members). Members whose names do not end in
/// `.npy` are skipped (NumPy returns them as raw bytes; nothing here uses them).
pub fn parse_npz(bytes: &[u8], path: &Path) -> Result<Npz, InputError> {
    let corrupt =
        |e: zip::result::ZipError| file_err(path, format!("not a valid .npz (zip) archive: {e}"));
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(corrupt)?;
    let mut members = Vec::new();
    let mut skipped = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(corrupt)?;
        let Some(name) = f
            .name()
            .ok()
            .and_then(|n| n.strip_suffix(".npy").map(str::to_string))
        else {
            skipped.push(f.name().map(|n| n.to_string()).unwrap_or_else(|_| "(unreadable name)".into()));
            continue;
        };
        if f.is_dir() {
            continue;
        }
        // Read at most the declared size (+1 to notice a lie); the zip reader checks the CRC.
        let declared = f.size();
        let mut buf = Vec::new();
        (&mut f)
            .take(declared.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| file_err(path, format!("corrupt member `{name}.npy`: {e}")))?;
        if buf.len() as u64 != declared {
            return Err(file_err(
                path,
                format!("corrupt member `{name}.npy`: size differs from its zip entry"),
            ));
        }
        let label = PathBuf::from(format!("{}[{name}.npy]", path.display()));
        let arr = parse_npy(&buf, &label)?;
        if members.iter().any(|(k, _): &(String, NpyArray)| *k == name) {
            return Err(file_err(path, format!("duplicate member `{name}.npy`")));
        }
        members.push((name, arr));
    }
    Ok(Npz {
        path: path.to_path_buf(),
        members,
        skipped,
    })
}

/// Read an `.npz` file.
pub fn read_npz(path: impl AsRef<Path>) -> Result<Npz, InputError> {
    let path = path.as_ref();
    parse_npz(&read_input(path)?, path)
}

/// Serialise members to an `.npz` image: stored (uncompressed) `<name>.npy` entries, as `np.savez`.
pub fn npz_bytes(members: &[(&str, &NpyArray)], path: &Path) -> Result<Vec<u8>, Error> {
    let headers = npz_headers(members, path)?;
    let mut w = Cursor::new(Vec::new());
    write_npz_to(members, &headers, &mut w).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    Ok(w.into_inner())
}

/// The members' `.npy` headers, after checking their shapes and that no name repeats.
fn npz_headers(members: &[(&str, &NpyArray)], path: &Path) -> Result<Vec<Vec<u8>>, InputError> {
    let mut headers = Vec::with_capacity(members.len());
    for (i, (name, a)) in members.iter().enumerate() {
        if members[..i].iter().any(|(n, _)| n == name) {
            return Err(shape_err(path, format!("duplicate member name `{name}`")));
        }
        headers.push(npy_header(a, path)?);
    }
    Ok(headers)
}

/// The `.npz` archive of `members` (with their `headers`) written to `w`, the arrays streamed; an
/// entry of 4 GiB or more is a ZIP64 one (`np.load` reads both).
fn write_npz_to<W: Write + std::io::Seek>(members: &[(&str, &NpyArray)], headers: &[Vec<u8>], w: W) -> std::io::Result<()> {
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::DEFAULT)
        .unix_permissions(0o644);
    let mut z = zip::ZipWriter::new(Quiet::new(w));
    for ((name, a), header) in members.iter().zip(headers) {
        let size = header.len() as u64 + 8 * a.len() as u64;
        z.start_file(format!("{name}.npy"), opts.large_file(size >= u64::from(u32::MAX))).map_err(std::io::Error::other)?;
        z.write_all(header)?;
        write_npy_data(a, &mut z)?;
    }
    z.finish().map_err(std::io::Error::other)?;
    Ok(())
}

/// The writer under a [`zip::ZipWriter`]: after its first failure (a full disk) it stands in for
/// the file, keeping the position and length a file would have and discarding the bytes. The
/// failure is returned to the caller, who removes the file; without this, the `ZipWriter` dropped
/// on that error path retried the archive's end and printed its own `ZipWriter::drop: failed to
/// finalize archive: Io(…)` in front of the caller's message (fuzz review).
struct Quiet<W> {
    inner: W,
    failed: bool,
    /// The position and the length of what was written (the writer starts at 0 of an empty file).
    pos: u64,
    len: u64,
}

impl<W> Quiet<W> {
    fn new(inner: W) -> Self {
        Quiet { inner, failed: false, pos: 0, len: 0 }
    }

    fn advance(&mut self, n: usize) {
        self.pos += n as u64;
        self.len = self.len.max(self.pos);
    }
}

impl<W: Write> Write for Quiet<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = if self.failed { buf.len() } else { self.inner.write(buf).inspect_err(|_| self.failed = true)? };
        self.advance(n);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.failed {
            return Ok(());
        }
        self.inner.flush().inspect_err(|_| self.failed = true)
    }
}

impl<W: std::io::Seek> std::io::Seek for Quiet<W> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        if !self.failed {
            let at = self.inner.seek(to).inspect_err(|_| self.failed = true)?;
            if matches!(to, std::io::SeekFrom::End(0)) {
                self.len = at;
            }
            self.pos = at;
            return Ok(at);
        }
        let at = match to {
            std::io::SeekFrom::Start(n) => Some(n),
            std::io::SeekFrom::End(d) => self.len.checked_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = at.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

/// Write an `.npz` file (uncompressed, like `np.savez`), atomically.
pub fn write_npz(path: impl AsRef<Path>, members: &[(&str, &NpyArray)]) -> Result<(), Error> {
    let path = path.as_ref();
    let headers = npz_headers(members, path)?;
    write_atomic_with(path, |w| write_npz_to(members, &headers, w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom};

    /// A file on a disk that fills up after `room` bytes: writes past it fail with ENOSPC (as do
    /// seeks, which flush a buffered writer, once it has failed).
    struct Full {
        data: Cursor<Vec<u8>>,
        room: u64,
        failed: bool,
        /// Calls after the first failure.
        retries: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.retries += usize::from(self.failed);
            if self.failed || self.data.position() + buf.len() as u64 > self.room {
                self.failed = true;
                return Err(std::io::Error::from(std::io::ErrorKind::StorageFull));
            }
            self.data.write(buf)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Seek for Full {
        fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
            if self.failed {
                self.retries += 1;
                return Err(std::io::Error::from(std::io::ErrorKind::StorageFull));
            }
            self.data.seek(to)
        }
    }

    /// Writing an `.npz` onto a disk that fills at any byte returns the disk's error, and the
    /// archive dropped on that path finishes against `Quiet`'s stand-in file without a panic (a
    /// panic in a drop would abort) and without retrying the disk (which printed the zip crate's
    /// own message before the caller's error; fuzz review). With room for the whole archive the
    /// bytes are `npz_bytes`' own.
    #[test]
    fn an_npz_written_onto_a_full_disk_fails_with_the_disk_error_at_every_byte() {
        let x = NpyArray::f64((0..40).map(f64::from).collect(), vec![8, 5]);
        let y = NpyArray::i64((0..8).collect(), vec![8]);
        let members = [("X", &x), ("y", &y)];
        let headers = npz_headers(&members, Path::new("t.npz")).unwrap();
        let whole = npz_bytes(&members, Path::new("t.npz")).unwrap();
        for room in 0..whole.len() as u64 {
            let mut f = Full { data: Cursor::new(Vec::new()), room, failed: false, retries: 0 };
            let e = write_npz_to(&members, &headers, &mut f).unwrap_err();
            assert_eq!(f.retries, 0, "room {room}: the disk was written again after it failed");
            // (Errors from inside the zip crate come wrapped, with the disk's message.)
            let full = std::io::Error::from(std::io::ErrorKind::StorageFull).to_string();
            assert!(e.kind() == std::io::ErrorKind::StorageFull || e.to_string().contains(&full), "room {room}: {e}");
            assert!(f.data.get_ref().len() as u64 <= room);
        }
        let mut f = Full { data: Cursor::new(Vec::new()), room: whole.len() as u64, failed: false, retries: 0 };
        write_npz_to(&members, &headers, &mut f).unwrap();
        assert_eq!(f.data.into_inner(), whole);
    }
}
