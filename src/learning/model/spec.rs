//! What model to train, as the CLI and sweep files name it, and its construction for a data
//! set's shape and task.

use super::dense::{Activation, DenseNet, Head};
use super::Model;
use crate::learning::examples::Task;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Width of the MLP's hidden layer when none is given (ByzFL's `fc_mnist`: 784-100-10).
pub const DEFAULT_HIDDEN: usize = 100;

/// A model family and its shape, independent of the data's width.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelSpec {
    /// Linear regression: one output, loss ½(θᵀx + b − y)². Needs a regression task.
    Linear,
    /// Binary logistic regression: one logit, binary cross-entropy. Needs two classes.
    Logistic,
    /// Softmax (multinomial logistic) regression: K logits, cross-entropy. Needs
    /// classification.
    Softmax,
    /// A multi-layer perceptron: `hidden` widths with `activation` between layers, then a
    /// softmax head (classification, K outputs) or a squared head (regression, 1 output).
    Mlp {
        /// Hidden-layer widths, input side first (at least one).
        hidden: Vec<usize>,
        /// The non-linearity after each hidden layer.
        activation: Activation,
    },
    /// A small convolutional network on square images (LeNet-style, as Opacus's MNIST
    /// example): conv k×k → activation → 2×2 max-pool → conv k×k → activation → 2×2
    /// max-pool → dense to the head, k = [`CNN_KERNEL`], no padding, stride 1. The image is
    /// one channel of side √p, or three channels of side √(p/3) when p is not a square
    /// (features in torch's C×H×W order). The candle backend only.
    Cnn {
        /// Output channels of the two convolutions (exactly two).
        channels: Vec<usize>,
        /// The non-linearity after each convolution.
        activation: Activation,
    },
}

/// Side of the CNN's square convolution kernels.
pub const CNN_KERNEL: usize = 5;

/// The CNN's channels when none are given (16 then 32).
pub const DEFAULT_CHANNELS: [usize; 2] = [16, 32];

impl ModelSpec {
    /// Every model name, as the CLI spells it.
    pub const NAMES: [&'static str; 5] = ["linear", "logistic", "softmax", "mlp", "cnn"];

    /// The spec from the CLI's strings: `model` one of [`ModelSpec::NAMES`]; for `mlp`,
    /// `hidden` is a comma-separated list of widths (default `100`) and `activation` one of
    /// [`Activation::NAMES`] (default `relu`); for `cnn`, `hidden` is the two convolutions'
    /// channels (default `16,32`).
    ///
    /// # Errors
    /// An unknown model or activation, a malformed or zero width, or `hidden`/`activation`
    /// given for a model other than `mlp`.
    pub fn parse(model: &str, hidden: Option<&str>, activation: Option<&str>) -> Result<ModelSpec> {
        let name = model.trim().to_ascii_lowercase();
        let spec = match name.as_str() {
            "linear" => ModelSpec::Linear,
            "logistic" => ModelSpec::Logistic,
            "softmax" => ModelSpec::Softmax,
            "mlp" => {
                let hidden = match hidden {
                    None => vec![DEFAULT_HIDDEN],
                    Some(text) => parse_widths(text)?,
                };
                let activation = activation.map_or(Ok(Activation::Relu), Activation::parse)?;
                return Ok(ModelSpec::Mlp { hidden, activation });
            }
            "cnn" => {
                let channels = match hidden {
                    None => DEFAULT_CHANNELS.to_vec(),
                    Some(text) => parse_widths(text)?,
                };
                if channels.len() != 2 {
                    return Err(Error::invalid(
                        "hidden",
                        hidden.unwrap_or_default(),
                        "a cnn takes exactly two channel counts, e.g. 16,32",
                    ));
                }
                let activation = activation.map_or(Ok(Activation::Relu), Activation::parse)?;
                return Ok(ModelSpec::Cnn {
                    channels,
                    activation,
                });
            }
            _ => return Err(Error::unknown("model", model, ModelSpec::NAMES)),
        };
        for (flag, given) in [("hidden", hidden), ("activation", activation)] {
            if let Some(v) = given {
                return Err(Error::invalid(
                    flag,
                    v,
                    format!("only the mlp and cnn models have hidden layers, not `{name}`"),
                ));
            }
        }
        Ok(spec)
    }

    /// The model's name (`linear`, `logistic`, `softmax`, `mlp`).
    pub fn name(&self) -> &'static str {
        match self {
            ModelSpec::Linear => "linear",
            ModelSpec::Logistic => "logistic",
            ModelSpec::Softmax => "softmax",
            ModelSpec::Mlp { .. } => "mlp",
            ModelSpec::Cnn { .. } => "cnn",
        }
    }

    /// The dense network for `features` inputs and `task`.
    ///
    /// # Errors
    /// A model that does not fit the task (linear: regression; logistic: two classes;
    /// softmax: classification), zero features or widths, or more than
    /// [`super::MAX_PARAMS`] parameters.
    pub fn build_dense(&self, features: usize, task: Task) -> Result<DenseNet> {
        let unfit = |needs: &str| {
            Err(Error::Unsupported(format!(
                "the {} model needs {needs}; the data is {}",
                self.name(),
                match task {
                    Task::Regression => "a regression task".to_string(),
                    Task::Classification { classes } => format!("{classes}-class classification"),
                }
            )))
        };
        let (widths, activation, head) =
            match (self, task) {
                (ModelSpec::Linear, Task::Regression) => {
                    (vec![features, 1], Activation::Relu, Head::Squared)
                }
                (ModelSpec::Linear, _) => return unfit("real-valued targets (a regression task)"),
                (ModelSpec::Logistic, Task::Classification { classes: 2 }) => {
                    (vec![features, 1], Activation::Relu, Head::Logistic)
                }
                (ModelSpec::Logistic, _) => {
                    return unfit("exactly two classes (use softmax for more than two)")
                }
                (ModelSpec::Softmax, Task::Classification { classes }) => {
                    (vec![features, classes], Activation::Relu, Head::Softmax)
                }
                (ModelSpec::Softmax, _) => return unfit("class labels (a classification task)"),
                (ModelSpec::Mlp { hidden, activation }, _) => {
                    if hidden.is_empty() {
                        return Err(Error::invalid(
                            "hidden",
                            "(none)",
                            "an mlp needs at least one hidden layer",
                        ));
                    }
                    let (outputs, head) = match task {
                        Task::Regression => (1, Head::Squared),
                        Task::Classification { classes } => (classes, Head::Softmax),
                    };
                    let mut widths = Vec::with_capacity(hidden.len() + 2);
                    widths.push(features);
                    widths.extend_from_slice(hidden);
                    widths.push(outputs);
                    (widths, *activation, head)
                }
                (ModelSpec::Cnn { .. }, _) => return Err(Error::Unsupported(
                    "the cnn model runs on the candle backend only (--backend candle, in a build \
                     with --features candle)"
                        .into(),
                )),
            };
        if features == 0 {
            return Err(Error::invalid(
                "features",
                0,
                "the data has no feature columns",
            ));
        }
        DenseNet::new(widths, activation, head, task)
    }

    /// [`ModelSpec::build_dense`], boxed as a [`Model`]: the native backend (to choose a
    /// backend, see [`super::Backend::build`]).
    ///
    /// # Errors
    /// As [`ModelSpec::build_dense`].
    pub fn build(&self, features: usize, task: Task) -> Result<Box<dyn Model>> {
        Ok(Box::new(self.build_dense(features, task)?))
    }
}

/// `100,50` → [100, 50].
fn parse_widths(text: &str) -> Result<Vec<usize>> {
    text.split(',')
        .map(|w| {
            let w = w.trim();
            match w.parse::<usize>() {
                Ok(0) => Err(Error::invalid(
                    "hidden",
                    text,
                    "every hidden width must be ≥ 1",
                )),
                Ok(v) => Ok(v),
                Err(_) => Err(Error::invalid(
                    "hidden",
                    text,
                    "expected comma-separated positive widths, e.g. 100 or 100,50",
                )),
            }
        })
        .collect()
}
