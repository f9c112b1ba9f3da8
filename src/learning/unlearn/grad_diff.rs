//! Gradient difference (NegGrad+ / GradDiff): ascent on the forget set and descent on the
//! retain set together, θ ← θ − η·(∇L_R(θ) + λθ − ∇L_F(θ)), T full-batch steps (Kurmanji et
//! al., "Towards Unbounded Machine Unlearning", NeurIPS 2023, arXiv 2302.09880, its NegGrad+
//! baseline; Maini et al., "TOFU", 2024, arXiv 2401.06121, "Grad. Diff."). The retain term
//! holds utility while the forget loss rises; with defaults it still over-unlearns
//! (open-unlearning issue 167: membership AUC ≈ 2·10⁻⁵ after GradDiff).

use super::{retain_descent, UnlearnSet};
use crate::learning::model::Model;
use crate::Result;

/// T steps of gradient difference from `theta`.
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
    retain_descent(
        model,
        theta,
        set,
        Some((&set.forget, -1.0)),
        steps,
        lr,
        "grad_diff",
    )
}

#[cfg(test)]
mod tests {
    use super::super::tests::fixture;
    use super::*;

    /// The forget loss rises and the retain loss stays below plain gradient ascent's after the
    /// same steps. Mutation seen failing: dropping the retain term (retain loss as high as
    /// ascent's).
    #[test]
    fn forgets_while_keeping_the_retain_set() {
        let (model, theta, set) = fixture();
        let ga = super::super::gradient_ascent::trajectory(&model, &theta, &set.forget, 0.5, &[20])
            .unwrap()
            .remove(0);
        let gd = unlearn(&model, &theta, &set, 20, 0.5).unwrap();
        let loss = |t: &[f64], s: &crate::learning::Examples| model.loss(t, s.batch()).unwrap();
        assert!(loss(&gd, &set.forget) > loss(&theta, &set.forget));
        assert!(loss(&gd, &set.retain) < loss(&ga, &set.retain));
    }
}
