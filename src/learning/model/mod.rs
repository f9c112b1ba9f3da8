//! Models: what a client differentiates.
//!
//! The [`Model`] trait is backend-neutral: parameters and gradients are flat `f64` slices in
//! the layout torch's `parameters_to_vector` gives the equivalent `nn.Linear` stack, so a
//! vector written by lbounds loads into torch and back. The pure-Rust implementation,
//! [`DenseNet`], uses batched matrix products; a candle backend implements the same trait.
//!
//! # Parameter layout
//! For layers k = 1..L with fan-in `in_k` and fan-out `out_k`, θ is
//!
//! ```text
//! [ W₁ (out₁ × in₁, row-major) | b₁ (out₁) | W₂ (out₂ × in₂, row-major) | b₂ | … ]
//! ```
//!
//! i.e. θ[off_k + o·in_k + j] is the weight from input j to output o of layer k, followed by
//! the out_k biases: exactly `torch.nn.utils.parameters_to_vector(net.parameters())` for
//! `nn.Sequential(nn.Linear(in₁, out₁), act, nn.Linear(in₂, out₂), …)`, whose `weight`
//! tensors are `[out, in]` and flattened row-major. Softmax regression 784→10 has
//! d = 7 850; the MLP 784-100-10 has d = 79 510 (ByzFL's `fc_mnist`).
//!
//! # Models
//! [`ModelSpec`] names what the CLI can build (`linear`, `logistic`, `softmax`, `mlp`, and
//! on candle `cnn`) and [`Backend::build`] builds it for the data's task on the chosen
//! backend (native [`DenseNet`], or candle with the `candle` feature). Losses are the batch **mean**
//! (torch's default); linear regression's is ½(θᵀx + b − y)² (see [`Head`]).

use super::examples::{Batch, Task};
use crate::rng::SimRng;
use crate::Result;
use nalgebra::DMatrix;

mod backend;
#[cfg(feature = "candle")]
pub mod candle;
mod dense;
mod exp;
mod gemm;
mod spec;
#[cfg(test)]
pub(crate) mod tests;
mod thin_gemm;
mod wide_gemm;

pub use backend::{Backend, Device, Dtype};
pub use dense::{Activation, DenseNet, Head, CHUNK, MAX_PARAMS};
pub(crate) use gemm::Mat;
pub use spec::{ModelSpec, CNN_KERNEL, DEFAULT_CHANNELS, DEFAULT_HIDDEN};

/// A model's mean loss on a set of examples and, for classification, its accuracy.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Evaluation {
    /// Mean loss over the examples.
    pub loss: f64,
    /// Fraction of examples whose label the model predicts (classification only): the
    /// largest logit (the first of ties) for K outputs, the logit's sign (z > 0: class 1)
    /// for one output. An example with a NaN output counts as wrong.
    pub accuracy: Option<f64>,
}

/// A differentiable model with its loss.
///
/// Every loss is the **mean** over the batch (torch's default `reduction="mean"`), except
/// [`Model::clipped_grad_sum`], which is a sum (DP-SGD adds noise to the sum).
pub trait Model: Send + Sync {
    /// A short description (`softmax 64→10`, `mlp 64-100-10 relu`).
    fn describe(&self) -> String;

    /// Number of parameters d.
    fn n_params(&self) -> usize;

    /// Number of input features p.
    fn n_features(&self) -> usize;

    /// The task the model's loss fits.
    fn task(&self) -> Task;

    /// Mean loss over the batch, with its gradient written into `grad` (length d, overwritten).
    ///
    /// # Errors
    /// A batch whose shape or targets do not fit the model.
    fn loss_grad(&self, theta: &[f64], batch: Batch<'_>, grad: &mut [f64]) -> Result<f64>;

    /// Mean loss over the batch.
    ///
    /// # Errors
    /// As [`Model::loss_grad`].
    fn loss(&self, theta: &[f64], batch: Batch<'_>) -> Result<f64>;

    /// The ℓ2 norm of each example's loss gradient, into `out` (length B), without
    /// materialising per-example gradients.
    ///
    /// # Errors
    /// As [`Model::loss_grad`].
    fn per_example_grad_norms(
        &self,
        theta: &[f64],
        batch: Batch<'_>,
        out: &mut [f64],
    ) -> Result<()>;

    /// Σᵢ clip_C(∇ℓᵢ) into `out` (length d, overwritten), each example's gradient scaled by
    /// min(1, C/‖∇ℓᵢ‖); returns the mean loss. `c = ∞` gives B times [`Model::loss_grad`]'s
    /// gradient (up to rounding; [`DenseNet`] states the exact relation).
    ///
    /// The factor is exactly min(1, C/‖∇ℓᵢ‖), a zero gradient getting 1. Opacus 1.6.0 uses
    /// min(1, C/(‖∇ℓᵢ‖ + 10⁻⁶)), which shrinks a gradient of norm exactly C by C/(C + 10⁻⁶);
    /// lbounds does not add the 10⁻⁶.
    ///
    /// # Errors
    /// As [`Model::loss_grad`]; `c` not positive.
    fn clipped_grad_sum(
        &self,
        theta: &[f64],
        batch: Batch<'_>,
        c: f64,
        out: &mut [f64],
    ) -> Result<f64>;

    /// The model's outputs for features p × B: one column per example (logits for
    /// classification, the prediction for regression).
    ///
    /// # Errors
    /// Wrong feature count or parameter length.
    fn predict(&self, theta: &[f64], x: nalgebra::DMatrixView<'_, f64>) -> Result<DMatrix<f64>>;

    /// The native [`DenseNet`] that computes the same function in the same parameter layout,
    /// when there is one: every dense model on every backend, `None` for the cnn. Code that
    /// needs more than this trait reads the architecture from it (the Newton removal step of
    /// [`crate::learning::unlearn::newton`] checks for softmax regression; `lbounds block`
    /// meta-learns on it) and computes through the trait.
    fn dense_twin(&self) -> Option<&DenseNet> {
        None
    }

    /// This model itself when it is the native [`DenseNet`] (not a twin on another backend):
    /// the training loop then shares the clients' first-layer products
    /// ([`DenseNet::first_layer_product`]), which must compute what the model computes.
    fn as_native_dense(&self) -> Option<&DenseNet> {
        None
    }

    /// Initial parameters drawn as torch's `nn.Linear` default does (weight and bias
    /// U(−1/√in, 1/√in) per layer), from `rng`.
    fn init(&self, rng: &mut SimRng) -> Vec<f64>;

    /// Mean loss and (classification) accuracy over the batch; see [`Evaluation`].
    ///
    /// The default computes [`Model::loss`] and [`Model::predict`]; implementations may do
    /// both in one forward pass.
    ///
    /// # Errors
    /// As [`Model::loss_grad`].
    fn evaluate(&self, theta: &[f64], batch: Batch<'_>) -> Result<Evaluation> {
        let loss = self.loss(theta, batch)?;
        let accuracy = match self.task() {
            Task::Regression => None,
            Task::Classification { .. } => {
                let z = self.predict(theta, batch.x)?;
                let correct = z
                    .column_iter()
                    .zip(batch.y)
                    .filter(|(col, &y)| dense::predicts(col.as_slice(), y))
                    .count();
                Some(correct as f64 / batch.len() as f64)
            }
        };
        Ok(Evaluation { loss, accuracy })
    }
}

/// Classification accuracy of `model` at `theta` on `batch` (see [`Evaluation::accuracy`]).
///
/// # Errors
/// A regression model, or as [`Model::loss_grad`].
pub fn accuracy(model: &dyn Model, theta: &[f64], batch: Batch<'_>) -> Result<f64> {
    model.evaluate(theta, batch)?.accuracy.ok_or_else(|| {
        crate::Error::Unsupported(format!(
            "accuracy of a regression model ({})",
            model.describe()
        ))
    })
}

/// Mean loss of `model` at `theta` over a whole data set.
///
/// # Errors
/// As [`Model::loss`] (an empty set has no mean loss).
pub fn mean_loss(model: &dyn Model, theta: &[f64], data: &super::Examples) -> Result<f64> {
    model.loss(theta, data.batch())
}
