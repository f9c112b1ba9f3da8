//! Random labels: relabel every forget record with a class drawn uniformly among the K − 1
//! wrong ones, then descend on the relabelled forget set and the retain set together,
//! θ ← θ − η·(∇L_{F′}(θ) + ∇L_R(θ) + λθ), T full-batch steps (Graves, Nagisetty & Ganesh,
//! "Amnesiac Machine Learning", AAAI 2021, arXiv 2010.10981; the "RL" baseline of Fan et al.,
//! "SalUn", ICLR 2024, arXiv 2310.12508, which also trains on the retain data). The two means
//! are added, so F′ weighs as much as R however small F is.
//!
//! The labels come from the stream `rng` (the experiment names it per model), one
//! [`uniform_index`] in 0..K−1 per forget record in order: label′ = (y + 1 + u) mod K.

use super::{retain_descent, UnlearnSet};
use crate::learning::examples::{Examples, Task};
use crate::learning::model::Model;
use crate::rng::{uniform_index, SimRng};
use crate::{Error, Result};

/// The forget set with every label replaced by a uniformly random wrong one.
///
/// # Errors
/// A regression task.
pub fn relabel(forget: &Examples, rng: &mut SimRng) -> Result<Examples> {
    let Task::Classification { classes } = forget.task() else {
        return Err(Error::Unsupported(
            "random labels need a classification task".into(),
        ));
    };
    let y: Vec<f64> = forget
        .y()
        .iter()
        .map(|&y| ((y as usize + 1 + uniform_index(rng, classes - 1)) % classes) as f64)
        .collect();
    Examples::new(forget.x().clone(), y, forget.task())
}

/// T steps of random-label descent from `theta`.
///
/// # Errors
/// As [`super::Method::apply`].
pub fn unlearn(
    model: &dyn Model,
    theta: &[f64],
    set: &UnlearnSet,
    steps: usize,
    lr: f64,
    rng: &mut SimRng,
) -> Result<Vec<f64>> {
    let relabelled = relabel(&set.forget, rng)?;
    retain_descent(
        model,
        theta,
        set,
        Some((&relabelled, 1.0)),
        steps,
        lr,
        "random_labels",
    )
}

#[cfg(test)]
mod tests {
    use super::super::tests::fixture;
    use super::*;
    use crate::rng::rng_from_seed;

    /// Every new label is a wrong one, and the forget loss on the true labels rises.
    /// Mutation seen failing: `(y + u) mod K` (keeps some true labels).
    #[test]
    fn labels_are_wrong_and_forget_loss_rises() {
        let (model, theta, set) = fixture();
        let r = relabel(&set.forget, &mut rng_from_seed(1)).unwrap();
        assert!(r.y().iter().zip(set.forget.y()).all(|(a, b)| a != b));
        let after = unlearn(&model, &theta, &set, 20, 0.5, &mut rng_from_seed(1)).unwrap();
        let loss = |t: &[f64]| model.loss(t, set.forget.batch()).unwrap();
        assert!(loss(&after) > loss(&theta));
    }
}
