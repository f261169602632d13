//! Building the models beyond MLPs (`--model cnn`, `--model width1`) for `run`, `export` and `eval`
//! (theory/README.md "Models beyond MLPs").

use std::path::Path;

use super::cnn::{Cnn, CnnSpec};
use super::mlp::{Activation, LossKind};
use super::width1::{self, Width1};
use crate::error::{Error, InputError};
use crate::npy::{self, NpyArray};
use crate::objective::Objective;
use crate::scalar::Scalar;

/// Default conv channels of `--model cnn`.
pub const DEFAULT_CHANNELS: [usize; 1] = [4];
/// Classes of the CNN (the digits).
pub const CNN_CLASSES: usize = 10;

/// True for the models built here.
pub fn is_extra(model: &str) -> bool {
    matches!(model, "cnn" | "width1")
}

/// What a model beyond MLPs needs from the configuration.
#[derive(Clone, Debug)]
pub struct ModelArgs<'a> {
    /// `cnn` or `width1`.
    pub model: &'a str,
    /// Conv channels (cnn; empty: [`DEFAULT_CHANNELS`]).
    pub channels: &'a [usize],
    /// Activation name.
    pub activation: &'a str,
    /// Loss name (cnn; the width-1 model is MSE only).
    pub loss: &'a str,
    /// Data (cnn: `digits`, `synthetic` or an `.npz` with 64 features; width1: its own seeded data).
    pub data: &'a str,
    /// Samples.
    pub n: usize,
    /// Seed of the initialisation (and of synthetic / width-1 data).
    pub seed: u64,
    /// Starting parameters `.npy`, or "" for the seeded initialisation.
    pub theta0: &'a str,
}

/// Checks done at configuration time (no data loaded): model name, channels, activation, loss,
/// and that the width-1 model is not given another data set.
pub fn validate(a: &ModelArgs) -> Result<(), InputError> {
    Activation::parse(a.activation)?;
    match a.model {
        "cnn" => {
            LossKind::parse(a.loss)?;
            CnnSpec::new(channels_or_default(a.channels), CNN_CLASSES)?;
            Ok(())
        }
        "width1" => {
            if LossKind::parse(a.loss)? != LossKind::Mse {
                return Err(InputError::Value { key: "loss".into(), msg: "the width-1 model is a regression: only `mse`".into() });
            }
            if a.data != "width1" {
                return Err(InputError::Value {
                    key: "data".into(),
                    msg: format!(
                        "the width-1 model generates its own data from --n and --seed (`--data width1`, its default), got `{}`",
                        a.data
                    ),
                });
            }
            if !a.channels.is_empty() {
                return Err(InputError::Value { key: "channels".into(), msg: "only the cnn model has channels".into() });
            }
            Ok(())
        }
        other => Err(InputError::Unknown { what: "model", got: other.into(), expected: "cnn, width1" }),
    }
}

fn channels_or_default(ch: &[usize]) -> &[usize] {
    if ch.is_empty() { &DEFAULT_CHANNELS } else { ch }
}

/// A built model and GD's starting point (f64, lifted by the caller).
pub type Built<S> = (Box<dyn Objective<S>>, Vec<f64>);

/// The objective at precision `c` and GD's starting point (seeded init or `theta0`).
pub fn build<S: Scalar>(a: &ModelArgs, c: S::Ctx) -> Result<Built<S>, InputError> {
    validate(a)?;
    let act = Activation::parse(a.activation)?;
    let (obj, init): Built<S> = match a.model {
        "cnn" => {
            let spec = CnnSpec::new(channels_or_default(a.channels), CNN_CLASSES)?;
            let ds = crate::commands::load_data(a.data, a.n, 64, CNN_CLASSES, a.seed)?;
            (Box::new(Cnn::<S>::new(&spec, act, LossKind::parse(a.loss)?, &ds, c)?), spec.init(a.seed))
        }
        _ => {
            let d = width1::width1_data(a.n, a.seed)?;
            (Box::new(Width1::<S>::new(act, &d, c)?), width1::init(a.seed))
        }
    };
    let theta = if a.theta0.is_empty() { init } else { crate::commands::load_theta(a.theta0, obj.dim())? };
    Ok((obj, theta))
}

/// `selfstab export --model cnn|width1`: `theta0.npy` (the seeded initialisation) and `data.npz`
/// (cnn: the standardised X [n, 64] and labels, as for MLPs; width1: X [n, 2] and the real targets y
/// as float64 \[n\]).
pub fn export(a: &ModelArgs, out: &Path) -> Result<(), Error> {
    validate(a)?;
    npy::create_out_dir(out)?;
    let theta = match a.model {
        "cnn" => {
            let spec = CnnSpec::new(channels_or_default(a.channels), CNN_CLASSES)?;
            let ds = crate::commands::load_data(a.data, a.n, 64, CNN_CLASSES, a.seed)?;
            if ds.d != 64 {
                return Err(InputError::Dimension(format!("the CNN reads 8×8 images: the data must have 64 features, it has {}", ds.d)).into());
            }
            crate::data::save_npz_dataset(out.join("data.npz"), &ds)?;
            spec.init(a.seed)
        }
        _ => {
            let d = width1::width1_data(a.n, a.seed)?;
            let x = NpyArray::f64(d.x.clone(), vec![d.n, 2]);
            let y = NpyArray::f64(d.y.clone(), vec![d.n]);
            npy::write_npz(out.join("data.npz"), &[("X", &x), ("y", &y)])?;
            width1::init(a.seed)
        }
    };
    npy::write_npy_f64(out.join("theta0.npy"), &theta, &[theta.len()])?;
    Ok(())
}
