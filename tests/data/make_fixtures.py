"""Regenerate the NumPy fixtures of tests/data_io.rs.

Run from this directory:  python3 make_fixtures.py   (made with numpy 2.4.6, Python 3)
Every file is a few hundred bytes except digits_std_256.npz (deflated, a few tens of kB).
"""
import gzip
import io
import numpy as np

# float64 2-D with the awkward values: subnormals, signed zeros, extremes, a non-dyadic decimal.
f = np.array([[0.1, -0.0, 0.0, 5e-324],
              [-2.2250738585072014e-308, 1.7976931348623157e308, -1e300, 1.0 / 3.0],
              [np.pi, -np.e, 2.0**-1060, 123456789.0]], dtype="<f8")
np.save("f64_3x4.npy", f)
np.save("i64_5.npy", np.array([0, -1, 2**63 - 1, -2**63, 42], dtype="<i8"))
with open("f64_v2.npy", "wb") as fh:
    np.lib.format.write_array(fh, np.arange(6, dtype="<f8").reshape(2, 3) / 7.0, version=(2, 0))
with open("f64_v3.npy", "wb") as fh:
    np.lib.format.write_array(fh, np.arange(4, dtype="<f8") - 1.5, version=(3, 0))
np.save("f32.npy", np.arange(4, dtype="<f4"))
np.save("f64_be.npy", np.arange(4, dtype=">f8"))
np.save("bool.npy", np.array([True, False]))
np.save("object.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
np.save("fortran.npy", np.asfortranarray(np.arange(6, dtype="<f8").reshape(2, 3)))
np.save("f64_3d.npy", np.zeros((2, 2, 2)))

X = np.array([[1.5, -2.0], [0.25, 1e-310], [-0.0, 3.0]], dtype="<f8")
y = np.array([2, 0, 1], dtype="<i8")
np.savez("data_stored.npz", X=X, y=y)
np.savez_compressed("data_deflated.npz", X=X, y=y)
np.savez("data_no_y.npz", X=X)

# Independent standardisation of the first 256 digits rows (decisions.md §2), two ways:
#  * "Z_np": numpy's own mean/std (pairwise summation), the usual researcher's computation;
#  * "Z_seq": the same formula with sums in row order via np.cumsum (sequential, as the crate does).
with gzip.open("../../src/assets/digits.csv.gz", "rt") as fh:
    raw = np.loadtxt(fh, delimiter=",", dtype=np.int64)
x = raw[:256, :64].astype(np.float64)
lab = raw[:256, 64].astype(np.int64)
n = x.shape[0]
mean = x.mean(axis=0)
std = x.std(axis=0)
z_np = np.where(std == 0, 0.0, (x - mean) / np.where(std == 0, 1.0, std))
mean_s = np.cumsum(x, axis=0)[-1] / n
c = x - mean_s
std_s = np.sqrt(np.cumsum(c * c, axis=0)[-1] / n)
z_seq = np.where(std_s == 0, 0.0, c / np.where(std_s == 0, 1.0, std_s))
np.savez_compressed("digits_std_256.npz", Z_np=z_np, Z_seq=z_seq, y=lab)

# Bytes numpy.save writes for the arrays the crate must reproduce byte for byte.
np.save("write_ref_f64.npy", np.array([[1.0, -0.5], [2.5, 1e-310]], dtype="<f8"))
np.save("write_ref_i64.npy", np.array([3, -7, 0], dtype="<i8"))
