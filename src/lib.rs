//! # selfstab
//!
//! A proof-checked numerical verification suite for the theory of *self-stabilization* of gradient
//! descent at the edge of stability (A. Damian, E. Nichani, J. D. Lee, ICLR 2023).
//!
//! One module per object of the theory (`theory/README.md` maps each to its equation):
//!
//! | module | object | theory |
//! |---|---|---|
//! | [`scalar`] | f64 and MPFR scalars with a precision context | `theory/README.md` §Numerics |
//! | [`mag`] | tolerances and relative residuals with a wide exponent (2^(16 − bits) at any precision) | `theory/README.md` §Numerics |
//! | [`objective`] | the loss L with ∇L, ∇²L·v, ∇³L\[v,w\], ∇⁴L\[v,v,v\] | reference §1 |
//! | [`taylor_check`] | a user objective's derivatives against central differences (rate 2) and their symmetries | reference §1 |
//! | [`models`] | exact/perturbed cubic models, MLPs, the small CNN (= MLP∘A), the width-1 model | models §1–§3, reference §9.4 |
//! | [`sharpness`] | S = λ_max(∇²L), u, ∇S = ∇³L\[u,u\], α, β, δ | reference §1 |
//! | [`gd`] | gradient descent, observers, the instability point θ₀ | reference §7, decisions §3 |
//! | [`reduced_map`] | the two-dimensional self-stabilization map | reference §2–§3 |
//! | [`stable_set`] | M = {S ≤ 2/η, ∇L·u = 0} and the linearised projection | reference §4 |
//! | [`constrained`] | the constrained trajectory θ† (projected GD) | reference §4 |
//! | [`predicted`] | the predicted dynamics v (standard, generalized) | reference §5.1–§5.2 |
//! | [`tracking`] | GD, θ† and θ† + v in lockstep, with the recorded series | reference §5.3–§5.4 |
//! | [`monitors`] | neglected-term ratios, ρ₃, ρ₄, S(θ† + v) and the slice F(x) = L(θ† + xu), every `--gap-every` steps (gradient flow: [`gd::GradientFlow`]) | reference §5.3, §1; decisions §5 |
//! | [`enclosure`] | certified interval enclosure of the reduced map | reference §2–§3, issue 6 |
//! | [`order`] | convergence-order studies (claims 6, 18, 20, 21) | decisions §6 |
//! | [`decades`] | reduced (x, a·w) iteration of the cubic families; ≥ 6-decade orders of claims 15–18 | decisions §6 |
//! | [`precision_study`] | f64 vs MPFR trajectories, growth law (claim 28) | claims 28 |
//! | [`verify`] | claims registry × test outcomes | theory/claims.toml |
//! | [`central_flow`] | the central flow (one and k eigenvalues), GD comparison (claims 29–30) | reference §9.1 |
//! | [`sdcp`] | the SDCP of the central flow and its solver (claim 31) | reference §9.1 |
//! | [`multi`] | θ† past the eigengap with the k-eigenvalue projection; β_{s→t} records | reference §8 |
//! | [`sgd`] | mini-batch GD and the stochastic sharpness gap (claim 32) | reference §9.3 |
//! | [`flow_cmd`] | `selfstab flow`: outputs, smoothing, summary | theory/README.md Central flow |
//! | [`commands`], [`config`], [`figures`] | the CLI's jobs and outputs (`commands::write_series`, `figures::write_all` serve library runs too), TOML configuration, SVG/PNG figures | README |
//! | [`data`], [`npy`], [`linalg`], [`error`] | the digits and synthetic data, `.npy`/`.npz` files, vector kernels and the thread pool, the error types | README "What is where" |
//!
//! Every numeric routine is generic over [`scalar::Scalar`] (`f64` and `rug::Float`).
//!
//! ## Example: GD, θ† and the predicted dynamics on the exact cubic model
//!
//! Toy-C of `claims.md` (η = 1, α = 0.01, so h = η√α = 0.1), started at the ideal split θ†₀ = 0,
//! v₀ = (x₀, 0, 0, 0) with x₀ = 0.1δ: on this model θ_t = θ†_t + v_t holds exactly (claim 13), so
//! the tracking error stays at rounding level while GD oscillates across the edge of stability.
//! The same code runs at 256 bits with `rug::Float` and context `256`.
//!
//! ```
//! use selfstab::models::cubic::{Cubic, CubicSpec};
//! use selfstab::sharpness::EigenOpts;
//! use selfstab::tracking::{self, TrackOpts};
//!
//! let m = Cubic::<f64>::new(&CubicSpec::reference("0.01", "0.3"), ()).unwrap();
//! let opts = TrackOpts {
//!     projection_steps: 3,
//!     gap_every: 0,
//!     gap_threshold: None,
//!     eig_tol: EigenOpts::default_tol::<f64>(()),
//!     chain_tol: None,
//! };
//! let (dagger0, v0) = (vec![0.0; 4], vec![0.1 * m.delta(), 0.0, 0.0, 0.0]);
//! let mut st = tracking::start_split(&m, m.eta(), &dagger0, &v0, Some(&[1.0, 0.0, 0.0, 0.0]), &opts).unwrap();
//! for _ in 0..200 {
//!     let (row, stop) = tracking::step(&m, m.eta(), &mut st, &opts).unwrap();
//!     assert!(stop.is_none());
//!     // ‖θ − θ† − v‖/δ: rounding only (claim 13's bound is 10·N·eps).
//!     assert!(row.tracking_error / m.delta() <= 10.0 * 200.0 * f64::EPSILON);
//! }
//! ```

#![forbid(unsafe_code)]
// The docs name private items (constants, helpers) where they explain a public function's cost or order.
#![allow(rustdoc::private_intra_doc_links)]
// `!(x > 0.0)`, `!(r <= tol)`: negated comparisons are how the crate routes NaN to the failure branch.
#![allow(clippy::neg_cmp_op_on_partial_ord)]
// clippy.toml keeps std's platform libm (ln, exp, powf, …) out of library code; unit tests may use it.
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod central_flow;
pub mod commands;
pub mod config;
pub mod constrained;
pub mod data;
pub mod decades;
pub mod enclosure;
pub mod error;
pub mod figures;
pub mod flow_cmd;
pub mod gd;
pub mod linalg;
pub mod mag;
pub mod memory;
pub mod models;
pub mod monitors;
pub mod multi;
pub mod npy;
pub mod objective;
pub mod order;
pub mod precision_study;
pub mod predicted;
pub mod progress;
pub mod reduced_map;
pub mod scalar;
pub mod sgd;
pub mod sdcp;
pub mod sharpness;
pub mod stable_set;
pub mod taylor_check;
pub mod tracking;
pub mod verify;

pub use error::{Error, EvalError, InputError};
pub use objective::Objective;
pub use scalar::{Precision, Scalar};
