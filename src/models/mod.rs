//! Models (theory/reference/models.md): the exact and perturbed cubic family (§1–§2), multilayer
//! perceptrons (§3), and (theory/README.md "Models beyond MLPs") a small CNN and the width-1 model.

pub mod build;
pub mod cnn;
pub mod cubic;
pub mod jet;
pub mod mlp;
pub mod width1;
