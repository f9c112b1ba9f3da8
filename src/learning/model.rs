//! Models: what a client differentiates.
//!
//! The [`Model`] trait is backend-neutral: parameters and gradients are flat `f64` slices in
//! the layout torch's `parameters_to_vector` gives the equivalent `nn.Linear` stack (each
//! layer's weight [out, in] row-major, then its bias, layer by layer), so a vector written by
//! lbounds loads into torch and back. The pure-Rust implementations use batched matrix
//! products; a candle backend implements the same trait.

use super::examples::{Batch, Task};
use crate::rng::SimRng;
use crate::Result;
use nalgebra::DMatrix;

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
    /// gradient.
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

    /// Initial parameters drawn as torch's `nn.Linear` default does (weight and bias
    /// U(−1/√in, 1/√in) per layer), from `rng`.
    fn init(&self, rng: &mut SimRng) -> Vec<f64>;
}
