//! Models (theory/models.md): the exact and perturbed cubic family (§1–§2) and multilayer
//! perceptrons (§3).

pub mod cubic;
pub mod jet;
pub mod mlp;
