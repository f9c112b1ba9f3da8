//! Gradient ascent on the forget set (NegGrad): θ ← θ + η·∇L_F(θ), T full-batch steps, the
//! retain set unused (Golatkar, Achille & Soatto, "Eternal Sunshine of the Spotless Net",
//! CVPR 2020, arXiv 1911.04933, its "fine-tune with negative gradient" baseline; Thudi et al.,
//! "Unrolling SGD", EuroS&P 2022, arXiv 2109.13398).
//!
//! No retain term and no stopping rule: the forget loss grows without bound, and past the
//! retrained model's forget accuracy the method **over-unlearns** (forget-set membership
//! AUC below 0.5) while test accuracy falls with it. T = 0 returns θ unchanged, bit for bit.

use super::descend;
use crate::learning::examples::Examples;
use crate::learning::model::Model;
use crate::Result;

/// The parameters after each step count in `checkpoints` (ascending) of one ascent
/// trajectory from `theta` — the same numbers as separate runs of that many steps.
///
/// # Errors
/// As [`super::Method::apply`].
pub fn trajectory(
    model: &dyn Model,
    theta: &[f64],
    forget: &Examples,
    lr: f64,
    checkpoints: &[usize],
) -> Result<Vec<Vec<f64>>> {
    descend(theta, lr, checkpoints, "gradient_ascent", |t, g| {
        model.loss_grad(t, forget.batch(), g)?;
        g.iter_mut().for_each(|v| *v = -*v);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::fixture;
    use super::*;

    /// Mandatory (issue 15): gradient ascent with 0 steps is the original model, bit for bit;
    /// one step raises the forget loss. Mutation seen failing: taking one step before the
    /// first checkpoint (`while done <= c`).
    #[test]
    fn zero_steps_is_the_original_bit_for_bit() {
        let (model, theta, set) = fixture();
        let out = trajectory(&model, &theta, &set.forget, 0.5, &[0, 1, 3]).unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
        assert_eq!(bits(&out[0]), bits(&theta));
        let m = crate::learning::unlearn::Method::GradientAscent { steps: 0, lr: 0.5 };
        let mut rng = crate::rng::rng_from_seed(0);
        assert_eq!(
            bits(&m.apply(&model, &theta, &set, &mut rng).unwrap()),
            bits(&theta)
        );
        let loss = |t: &[f64]| model.loss(t, set.forget.batch()).unwrap();
        assert!(loss(&out[1]) > loss(&theta));
        assert!(loss(&out[2]) > loss(&out[1]));
        // A trajectory's checkpoint equals a separate run of that many steps.
        let three = trajectory(&model, &theta, &set.forget, 0.5, &[3]).unwrap();
        assert_eq!(bits(&three[0]), bits(&out[2]));
    }
}
