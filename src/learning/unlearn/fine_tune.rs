//! Fine-tuning on the retain set: θ ← θ − η·(∇L_R(θ) + λθ), T full-batch steps — the
//! forget set is never touched and fades only as training on R moves the parameters
//! ("catastrophic forgetting"; Golatkar, Achille & Soatto, CVPR 2020, arXiv 1911.04933,
//! baseline "Fine-tune"; Warnecke et al., NDSS 2023). On a convex model trained to its optimum
//! this converges to the retrained optimum, at the cost of retraining's steps.

use super::{retain_descent, UnlearnSet};
use crate::learning::model::Model;
use crate::Result;

/// T steps of descent on the retain set from `theta`.
///
/// # Errors
/// As [`super::Method::apply`].
pub fn unlearn(
    model: &dyn Model,
    theta: &[f64],
    set: &UnlearnSet,
    steps: usize,
    lr: f64,
) -> Result<Vec<f64>> {
    retain_descent(model, theta, set, None, steps, lr, "fine_tune")
}

#[cfg(test)]
mod tests {
    use super::super::tests::fixture;
    use super::*;

    /// Fine-tuning lowers the regularised retain objective (it is gradient descent on it at a
    /// step size below 2/L). Mutation seen failing: a step along +∇ (objective rises).
    #[test]
    fn lowers_the_retain_objective() {
        let (model, theta, set) = fixture();
        let obj = |t: &[f64]| {
            model.loss(t, set.retain.batch()).unwrap()
                + 0.5 * set.l2 * t.iter().map(|v| v * v).sum::<f64>()
        };
        let after = unlearn(&model, &theta, &set, 10, 0.5).unwrap();
        assert!(obj(&after) < obj(&theta));
    }
}
