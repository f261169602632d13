#!/usr/bin/env python3
"""Independent numpy cross-check of the default job of the `selfstab` CLI.

The default job: a 64-16-16-10 tanh MLP, MSE loss (1/n)·Σ‖f(x_i) − e_{y_i}‖² (no ½), on the first
256 digits rows, standardised; GD at η = 0.2667 from the built-in θ_init up to θ₀, the first
iterate with S ≥ 2/η, then N tracking steps of GD, the constrained trajectory θ† and the predicted
dynamics v, v_gen. Parameter layout, loss and data follow the selfstab README's "Conventions
(shared with other implementations)"; the equations are those of theory/README.md ("Objects and
their equations", "Numerics"):

  S = λ_max(∇²L), u its unit eigenvector (sign: u·u_prev ≥ 0), ∇S = ∇³L[u,u],
  ∇S⊥ = ∇S − u(u·∇S), α = −∇L·∇S⊥, β = ‖∇S⊥‖², δ = √(2α/β) (0 if α ≤ 0), γ = α/(‖∇L‖√β);
  projection onto M = {S ≤ 2/η, u·∇L = 0}, k = 3 times, each step at the new point's u, S, ∇S:
      p ← p − max(0, S − 2/η)·∇S⊥/β − u(u·∇L)/S;
  θ_{t+1} = θ_t − η∇L(θ_t);  θ†₀ = proj_M(θ₀);  θ†_{t+1} = proj_M(θ†_t − η∇L(θ†_t));
  v₀ = θ₀ − θ†₀,  v_{t+1} = v_t − η[H v_t + ½(x² − δ²)∇S⊥ + u x y],  x = u·v, y = ∇S⊥·v;
  v_gen: the same with H v⊥ + u (u·∇L(θ† + x u)) in place of H v  (v⊥ = v − x u);
  all of H, u, S, ∇S⊥, α, β, δ taken at θ†_t.

Own implementation: hand-written backpropagation (also run on complex and hyper-dual numbers),
exact Hessian-vector products by the complex step ∇L(θ + i·h·w).imag/h (h = 1e-30), the dense
1482×1482 Hessian from them and numpy's `eigh`, and ∇³L[u,u] exactly from one hyper-dual
gradient ∇L(θ + ε₁u + ε₂u) (its ε₁ε₂ part).

Checked against the tool (each with an explicit tolerance; see `TOL`):
  L(θ₀), ∇L(θ₀) (eval's grad.npy), S(θ₀), u(θ₀), ∇S(θ₀) (eval's u.npy, grad_sharpness.npy),
  θ†₀ (final_state.npz of `run --steps 0`) and α, β, δ there, θ_N, θ†_N, v_N, v_gen,N
  (final_state.npz of `run --steps N`), the series columns over t < N, and the exact identities
  between series columns (loss_taylor = loss_dagger + x²/η, …).
The sign of u is arbitrary (README, "Sign of u"): the chain's u is oriented by eval's u at θ₀.

Usage: python3 numpy_crosscheck.py --bin PATH/selfstab [--steps 20] [--workdir DIR]
Exit status 0 if every check passes, 1 otherwise.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # before numpy: threaded eigh of a 1482-matrix
os.environ.setdefault("OMP_NUM_THREADS", "1")        # is 2-10x slower on a shared 2-core machine

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LAYERS = (64, 16, 16, 10)
N_SAMPLES = 256
PROJECTION_STEPS = 3
START_TOL = 1e-6          # theory/README.md: θ†₀ gets extra steps only above START_TOL·2/η
CS_STEP = 1e-30           # complex step: no subtraction, exact to rounding
HESSIAN_BATCH = 128       # directions per batched complex-step gradient

# (tolerance, reason) per check. Measured values: this script on 2026-12-07 (selfstab commit
# c088aa9, the AVX-512 Xeon); each tolerance is 18-110x above them.
TOL = {
    "rounding": (1e-13, "no u involved: f64 rounding only (measured <= 5.5e-15)"),
    "rayleigh": (1e-13, "S is a Rayleigh quotient: eig_tol enters squared, rounding is left (measured <= 3.4e-15)"),
    "rounding_traj": (1e-11, "theta-dagger: rounding, plus u's ~1e-10 error times small projection steps (measured <= 1.6e-13)"),
    "dist": (1e-10, "||theta - theta-dagger||: theta-dagger's error over a 5e-4..0.1 distance (measured 1.2e-12)"),
    "eigvec": (2e-9, "u, grad S inherit eig_tol 1e-10 times S/gap ~ 8 (measured <= 5.9e-11)"),
    "eig_scalar": (1e-9, "alpha, delta, gamma, y, ||v|| through u: eig_tol-sized (measured <= 3.9e-11)"),
    "beta": (5e-9, "beta = ||grad S_perp||^2 through u: eig_tol-sized (measured <= 9.4e-11)"),
    "x_over_v": (1e-9, "x = u.v is ~1e-4 |v| and cancels: |dx|/|v| ~ u's error (measured <= 2.9e-11)"),
    "v": (1e-8, "v, v_gen accumulate u's error over N steps (measured 1.8e-10)"),
    "v_scalar": (1e-10, "loss, sharpness at theta-dagger + v: v's error, damped (measured <= 1.7e-12)"),
    "tracking": (1e-7, "||theta - theta-dagger - v||: difference of close vectors (measured 4.5e-9)"),
    "identity": (1e-14, "same formula on the stored f64 columns: a few roundings (measured <= 1.0e-16)"),
}


# ---------------------------------------------------------------- the tool
def run_tool(binary, workdir, steps):
    """Run the four commands of the default job; return their output directories."""
    jobs = {
        "out": ["run", "--steps", str(steps), "--out", "out", "--fresh"],
        "out0": ["run", "--steps", "0", "--out", "out0", "--fresh"],
        "exp": ["export", "--layers", ",".join(map(str, LAYERS)), "--n", str(N_SAMPLES),
                "--out", "exp"],
    }
    for args in jobs.values():
        subprocess.run([binary, *args], cwd=workdir, check=True, capture_output=True)
    subprocess.run([binary, "eval", "--theta", "out/theta_unstable.npy", "--layers",
                    ",".join(map(str, LAYERS)), "--n", str(N_SAMPLES), "--out", "ev"],
                   cwd=workdir, check=True, capture_output=True)
    return {name: Path(workdir) / name for name in [*jobs, "ev"]}


def load_tool(dirs):
    """Everything the checks compare with, as numpy arrays and dicts."""
    return {
        "theta0": np.load(dirs["out"] / "theta_unstable.npy"),
        "summary": json.loads((dirs["out"] / "summary.json").read_text()),
        "series": dict(np.load(dirs["out"] / "series.npz")),
        "final": dict(np.load(dirs["out"] / "final_state.npz")),
        "final0": dict(np.load(dirs["out0"] / "final_state.npz")),
        "eval": json.loads((dirs["ev"] / "eval.json").read_text()),
        "grad": np.load(dirs["ev"] / "grad.npy"),
        "u": np.load(dirs["ev"] / "u.npy"),
        "grad_s": np.load(dirs["ev"] / "grad_sharpness.npy"),
        "data": dict(np.load(dirs["exp"] / "data.npz")),
    }


# ---------------------------------------------------------------- hyper-dual numbers
class HyperDual:
    """a + b·ε₁ + c·ε₂ + d·ε₁ε₂ with ε₁² = ε₂² = 0, each part an array (batched like numpy)."""
    __array_ufunc__ = None    # make numpy defer `ndarray @ HyperDual` to __rmatmul__

    def __init__(self, a, b, c, d):
        self.a, self.b, self.c, self.d = a, b, c, d

    def _parts(self):
        return self.a, self.b, self.c, self.d

    def _map(self, f):
        return HyperDual(*(f(x) for x in self._parts()))

    @staticmethod
    def _lift(x):
        if isinstance(x, HyperDual):
            return x
        zero = np.zeros_like(x)
        return HyperDual(x, zero, zero, zero)

    def _product(self, other, op):
        p, q = self._lift(self), self._lift(other)
        return HyperDual(op(p.a, q.a), op(p.a, q.b) + op(p.b, q.a), op(p.a, q.c) + op(p.c, q.a),
                         op(p.a, q.d) + op(p.d, q.a) + op(p.b, q.c) + op(p.c, q.b))

    def __add__(self, other):
        o = self._lift(other)
        return HyperDual(self.a + o.a, self.b + o.b, self.c + o.c, self.d + o.d)

    def __neg__(self):
        return self._map(np.negative)

    def __sub__(self, other):
        return self + (-self._lift(other))

    def __rsub__(self, other):
        return self._lift(other) - self

    def __mul__(self, other):
        return self._product(other, np.multiply)

    def __matmul__(self, other):
        return self._product(other, np.matmul)

    def __rmatmul__(self, other):
        return self._lift(other)._product(self, np.matmul)

    __radd__, __rmul__ = __add__, __mul__

    def __getitem__(self, key):
        return self._map(lambda x: x[key])

    def reshape(self, *shape):
        return self._map(lambda x: x.reshape(*shape))

    def sum(self, axis):
        return self._map(lambda x: x.sum(axis))

    @property
    def mT(self):
        return self._map(lambda x: x.mT)

    @property
    def shape(self):
        return self.a.shape

    def tanh(self):
        t = np.tanh(self.a)
        d1 = 1 - t * t
        d2 = -2 * t * d1
        return HyperDual(t, d1 * self.b, d1 * self.c, d1 * self.d + d2 * self.b * self.c)


def tanh(z):
    return z.tanh() if isinstance(z, HyperDual) else np.tanh(z)


def matmul(a, b):
    """a @ b for arrays; a batch of matrices against one shared 2-D array is a single GEMM."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if a.ndim == 2 and b.ndim == 3:
            return np.tensordot(a, b, axes=(1, 1)).transpose(1, 0, 2)
        if a.ndim == 3 and b.ndim == 2:
            return np.tensordot(a, b, axes=(2, 0))
        return np.einsum("...ij,...jk->...ik", a, b)    # stacked small complex products: far faster than @
    return a @ b


def concat(blocks):
    if isinstance(blocks[0], HyperDual):
        return HyperDual(*(np.concatenate(part, axis=-1) for part in zip(*(b._parts() for b in blocks))))
    return np.concatenate(blocks, axis=-1)


# ---------------------------------------------------------------- the model
def shapes():
    return [(LAYERS[i + 1], LAYERS[i]) for i in range(len(LAYERS) - 1)]


N_PARAMS = sum(o * i + o for o, i in shapes())


def unpack(theta):
    """Per layer W [.., out, in] row-major, then b [.., out] (README, "Parameter layout")."""
    batch, layers, k = theta.shape[:-1], [], 0
    for o, i in shapes():
        w = theta[..., k:k + o * i].reshape(*batch, o, i)
        k += o * i
        layers.append((w, theta[..., k:k + o]))
        k += o
    return layers


def forward(theta, x):
    """Activations [x, a_1, …, f(x)]; tanh after every hidden layer, never the output."""
    layers, acts = unpack(theta), [x]
    for depth, (w, b) in enumerate(layers):
        z = matmul(acts[-1], w.mT) + b[..., None, :]
        acts.append(tanh(z) if depth < len(layers) - 1 else z)
    return layers, acts


def loss(theta, x, y_onehot):
    r = forward(theta, x)[1][-1] - y_onehot
    return np.sum(r * r) / x.shape[0]


def grad(theta, x, y_onehot):
    """∇L by backpropagation; theta may be real, complex or hyper-dual, with batch axes."""
    layers, acts = forward(theta, x)
    delta = (acts[-1] - y_onehot) * (2.0 / x.shape[0])
    blocks = []
    for depth in range(len(layers) - 1, -1, -1):
        gw = matmul(delta.mT, acts[depth])
        blocks = [gw.reshape(*gw.shape[:-2], -1), delta.sum(-2)] + blocks
        if depth > 0:
            a = acts[depth]
            delta = matmul(delta, layers[depth][0]) * (1 - a * a)
    return concat(blocks)


def hessian(theta, x, y_onehot):
    """Dense ∇²L, columns by batched complex-step HVPs, symmetrised."""
    eye = np.eye(theta.size)
    cols = [grad(theta + 1j * CS_STEP * eye[k:k + HESSIAN_BATCH], x, y_onehot).imag / CS_STEP
            for k in range(0, theta.size, HESSIAN_BATCH)]
    h = np.concatenate(cols, axis=0)
    return 0.5 * (h + h.T)


def third_derivative(theta, u, x, y_onehot):
    """∇³L[u,u]: the ε₁ε₂ part of ∇L(θ + ε₁u + ε₂u)."""
    return grad(HyperDual(theta, u, u, np.zeros_like(theta)), x, y_onehot).d


# ---------------------------------------------------------------- sharpness, θ†, predictions
def centre(theta, u_prev, x, y_onehot):
    """Loss, gradient, Hessian, S, u (oriented along u_prev), ∇S, ∇S⊥, α, β, δ, γ at θ."""
    h = hessian(theta, x, y_onehot)
    evals, evecs = np.linalg.eigh(h)
    u = evecs[:, -1] if evecs[:, -1] @ u_prev >= 0 else -evecs[:, -1]
    g = grad(theta, x, y_onehot)
    grad_s = third_derivative(theta, u, x, y_onehot)
    grad_s_perp = grad_s - u * (u @ grad_s)
    alpha, beta = -g @ grad_s_perp, grad_s_perp @ grad_s_perp
    return {"theta": theta, "loss": loss(theta, x, y_onehot), "grad": g, "hess": h,
            "S": evals[-1], "u": u, "grad_s": grad_s, "grad_s_perp": grad_s_perp,
            "alpha": alpha, "beta": beta, "delta": np.sqrt(2 * alpha / beta) if alpha > 0 else 0.0,
            "gamma": alpha / (np.linalg.norm(g) * np.sqrt(beta))}


def project(c, threshold, x, y_onehot):
    """k linearised steps onto M = {S ≤ 2/η, u·∇L = 0}, each followed by a new centre."""
    for _ in range(PROJECTION_STEPS):
        step = (max(0.0, c["S"] - threshold) * c["grad_s_perp"] / c["beta"]
                + c["u"] * (c["u"] @ c["grad"]) / c["S"])
        c = centre(c["theta"] - step, c["u"], x, y_onehot)
    return c


def predicted_step(v, c, eta):
    x_, y_ = c["u"] @ v, c["grad_s_perp"] @ v
    return v - eta * (c["hess"] @ v + 0.5 * (x_ * x_ - c["delta"] ** 2) * c["grad_s_perp"]
                      + c["u"] * x_ * y_)


def generalized_step(v, c, eta, x, y_onehot):
    u = c["u"]
    x_, y_ = u @ v, c["grad_s_perp"] @ v
    slope = u @ grad(c["theta"] + x_ * u, x, y_onehot)
    return v - eta * (c["hess"] @ (v - x_ * u) + u * slope
                      + 0.5 * (x_ * x_ - c["delta"] ** 2) * c["grad_s_perp"] + u * x_ * y_)


def series_row(theta, c, v, v_gen, x, y_onehot):
    """The series columns this script recomputes, at step t (before the step)."""
    w = theta - c["theta"]
    return {"loss_gd": loss(theta, x, y_onehot), "loss_dagger": c["loss"],
            "sharpness_dagger": c["S"], "alpha": c["alpha"], "beta": c["beta"],
            "delta": c["delta"], "gamma": c["gamma"], "y": c["grad_s_perp"] @ v,
            "dist": np.linalg.norm(w), "pred_norm": np.linalg.norm(v),
            "tracking_error": np.linalg.norm(w - v), "tracking_error_gen": np.linalg.norm(w - v_gen),
            "loss_pred": loss(c["theta"] + v, x, y_onehot),
            "loss_pred_gen": loss(c["theta"] + v_gen, x, y_onehot),
            "sharpness_pred_avg": c["S"] + c["grad_s_perp"] @ v,
            "x": c["u"] @ v, "x_gd": c["u"] @ w, "x_gen": c["u"] @ v_gen}


def track(theta, dagger, steps, eta, x, y_onehot):
    """N lockstep steps of GD, θ† and both predictions; the rows and the final state."""
    v = theta - dagger["theta"]
    v_gen, rows, c = v.copy(), [], dagger
    for _ in range(steps):
        rows.append(series_row(theta, c, v, v_gen, x, y_onehot))
        theta = theta - eta * grad(theta, x, y_onehot)
        v, v_gen = predicted_step(v, c, eta), generalized_step(v_gen, c, eta, x, y_onehot)
        c = project(centre(c["theta"] - eta * c["grad"], c["u"], x, y_onehot),
                    2 / eta, x, y_onehot)
    return rows, {"theta": theta, "theta_dagger": c["theta"], "v": v, "v_gen": v_gen}


# ---------------------------------------------------------------- comparisons
def rel(tool, mine):
    """‖mine − tool‖ / max(‖mine‖, ‖tool‖), 0 when both vanish."""
    scale = max(np.linalg.norm(mine), np.linalg.norm(tool))
    return float(np.linalg.norm(np.asarray(mine) - tool) / scale) if scale > 0 else 0.0


def worst_over_rows(tool_col, mine_col, scale=None):
    """Largest per-step difference, relative to each value or to the given per-step scale."""
    if scale is None:
        return max(rel(t, m) for t, m in zip(tool_col, mine_col))
    return max(abs(t - m) / s for t, m, s in zip(tool_col, mine_col, scale))


def summarise(v):
    arr = np.asarray(v, dtype=float)
    return f"{arr.item():.16g}" if arr.size == 1 else f"[{arr.size}] |.|={np.linalg.norm(arr):.6g}"


class Report:
    def __init__(self):
        self.rows, self.reasons = [], {}

    def add(self, name, tool, mine, diff, tol_key):
        tol, reason = TOL[tol_key]
        self.reasons[tol_key] = (tol, reason)
        self.rows.append((name, summarise(tool), summarise(mine), diff, tol, tol_key, diff <= tol))

    def print(self):
        head = f"{'quantity':40} {'tool':>26} {'mine':>26} {'rel diff':>9} {'tol':>7}  {'ok':3} reason"
        print(head + "\n" + "-" * len(head))
        for name, tool, mine, diff, tol, key, ok in self.rows:
            print(f"{name:40} {tool:>26} {mine:>26} {diff:9.1e} {tol:7.0e}  {'ok' if ok else 'FAIL':3} {key}")
        print("\ntolerances:")
        for key, (tol, reason) in self.reasons.items():
            print(f"  {key:14} {tol:.0e}  {reason}")

    def all_ok(self):
        return all(row[-1] for row in self.rows)


def check_theta0(rep, tool, c0):
    ev, summ = tool["eval"], tool["summary"]
    rep.add("L(theta0) vs eval", ev["loss"], c0["loss"], rel(ev["loss"], c0["loss"]), "rounding")
    rep.add("L(theta0) vs summary", summ["loss_unstable"], c0["loss"],
            rel(summ["loss_unstable"], c0["loss"]), "rounding")
    rep.add("grad L(theta0) vs eval grad.npy", tool["grad"], c0["grad"],
            rel(tool["grad"], c0["grad"]), "rounding")
    rep.add("S(theta0) vs eval", ev["sharpness"], c0["S"], rel(ev["sharpness"], c0["S"]), "rayleigh")
    rep.add("S(theta0) vs summary", summ["sharpness_unstable"], c0["S"],
            rel(summ["sharpness_unstable"], c0["S"]), "rayleigh")
    rep.add("u(theta0) vs eval u.npy", tool["u"], c0["u"], rel(tool["u"], c0["u"]), "eigvec")
    rep.add("grad S(theta0) vs eval", tool["grad_s"], c0["grad_s"],
            rel(tool["grad_s"], c0["grad_s"]), "eigvec")


def check_dagger0(rep, tool, d0, threshold):
    s = tool["series"]
    rep.add("theta-dagger_0 (run --steps 0)", tool["final0"]["theta_dagger"], d0["theta"],
            rel(tool["final0"]["theta_dagger"], d0["theta"]), "rounding_traj")
    for key in ("alpha", "beta", "delta"):
        rep.add(f"{key} at theta-dagger_0", s[key][0], d0[key], rel(s[key][0], d0[key]),
                "beta" if key == "beta" else "eig_scalar")
    mine_res = d0["S"] - threshold
    rep.add("S(theta-dagger_0) - 2/eta", s["proj_residual_s"][0], mine_res,
            abs(mine_res - s["proj_residual_s"][0]) / threshold, "rayleigh")


SERIES_TOL = {"loss_gd": "rounding", "loss_dagger": "rounding", "sharpness_dagger": "rayleigh",
              "alpha": "eig_scalar", "beta": "beta", "delta": "eig_scalar", "gamma": "eig_scalar",
              "y": "eig_scalar", "dist": "dist", "pred_norm": "eig_scalar",
              "loss_pred": "v_scalar", "loss_pred_gen": "v_scalar", "sharpness_pred_avg": "v_scalar",
              "tracking_error": "tracking", "tracking_error_gen": "tracking"}
SIGNED_BY_U = ("x", "x_gd", "x_gen")    # tiny and cancelling: compared against ‖v‖ instead


def check_series(rep, tool, rows):
    s, n = tool["series"], len(rows)
    mine = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    for key, tol_key in SERIES_TOL.items():
        rep.add(f"series {key} (t<{n}, worst)", s[key][:n], mine[key],
                worst_over_rows(s[key][:n], mine[key]), tol_key)
    for key in SIGNED_BY_U:
        rep.add(f"series {key} (t<{n}, worst, /|v|)", s[key][:n], mine[key],
                worst_over_rows(s[key][:n], mine[key], np.maximum(mine["pred_norm"], 1e-300)),
                "x_over_v")


def check_final(rep, tool, final, steps):
    keys = {"theta": "rounding", "theta_dagger": "rounding_traj", "v": "v", "v_gen": "v"}
    for key, tol_key in keys.items():
        rep.add(f"{key}_{steps} (final_state)", tool["final"][key], final[key],
                rel(tool["final"][key], final[key]), tol_key)


def check_identities(rep, tool, eta):
    """Exact relations between the tool's own columns (no recomputation of the model)."""
    s, thr = tool["series"], tool["summary"]["threshold"]
    rep.add("threshold == 2/eta", thr, 2 / eta, rel(thr, 2 / eta), "identity")
    pairs = {
        "loss_taylor == loss_dagger + x^2/eta": (s["loss_taylor"], s["loss_dagger"] + s["x"] ** 2 / eta),
        "loss_taylor_gen == .. + x_gen^2/eta": (s["loss_taylor_gen"],
                                                s["loss_dagger"] + s["x_gen"] ** 2 / eta),
        "delta == sqrt(2 alpha/beta)": (s["delta"], np.sqrt(2 * s["alpha"] / s["beta"])),
    }
    for name, (col, formula) in pairs.items():
        rep.add(name, col, formula, worst_over_rows(col, formula), "identity")
    scaled = {
        "S_pred_avg - S_dagger == y (/S)": (s["sharpness_pred_avg"] - s["sharpness_dagger"], s["y"]),
        "proj_residual_s == S_dag - 2/eta (/S)": (s["proj_residual_s"], s["sharpness_dagger"] - thr),
    }
    for name, (col, formula) in scaled.items():
        rep.add(name, col, formula, worst_over_rows(col, formula, s["sharpness_dagger"]), "identity")


# ---------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="the selfstab binary")
    ap.add_argument("--steps", type=int, default=20, help="tracking steps to check (default 20)")
    ap.add_argument("--workdir", help="where the tool writes (default: a fresh temporary dir)")
    args = ap.parse_args()
    start = time.time()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="selfstab_crosscheck_"))
    workdir.mkdir(parents=True, exist_ok=True)
    tool = load_tool(run_tool(str(Path(args.bin).resolve()), workdir, args.steps))
    print(f"tool outputs in {workdir} ({time.time() - start:.1f} s)")

    eta = float(tool["summary"]["eta"])
    threshold = 2 / eta
    x, labels = tool["data"]["X"], tool["data"]["y"]
    y_onehot = np.eye(LAYERS[-1])[labels]
    assert x.shape == (N_SAMPLES, LAYERS[0]) and tool["summary"]["params"] == N_PARAMS

    rep = Report()
    c0 = centre(tool["theta0"], tool["u"], x, y_onehot)
    check_theta0(rep, tool, c0)
    d0 = project(c0, threshold, x, y_onehot)
    if d0["S"] - threshold > START_TOL * threshold:
        sys.exit("θ†₀ is outside the bound where the tool adds projection steps; not re-implemented")
    check_dagger0(rep, tool, d0, threshold)
    rows, final = track(tool["theta0"], d0, args.steps, eta, x, y_onehot)
    check_series(rep, tool, rows)
    check_final(rep, tool, final, args.steps)
    check_identities(rep, tool, eta)

    rep.print()
    print(f"\nwall time {time.time() - start:.1f} s; {'ALL OK' if rep.all_ok() else 'FAILURES'}")
    return 0 if rep.all_ok() else 1


if __name__ == "__main__":
    sys.exit(main())
