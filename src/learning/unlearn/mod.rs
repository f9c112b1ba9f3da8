//! Approximate unlearning: from a model trained on D, a model that should behave as if it had
//! been trained on D ∖ F only, without retraining from scratch. One file per method:
//!
//! | method | update (θ ← θ − η·g, T full-batch steps) | source |
//! |---|---|---|
//! | [`gradient_ascent`] | g = −∇L_F(θ) | NegGrad (Golatkar et al., CVPR 2020, arXiv 1911.04933; Thudi et al., EuroS&P 2022) |
//! | [`grad_diff`] | g = ∇L_R(θ) + λθ − ∇L_F(θ) | NegGrad+ / GradDiff (Kurmanji et al., NeurIPS 2023, arXiv 2302.09880; TOFU, Maini et al. 2024, arXiv 2401.06121) |
//! | [`fine_tune`] | g = ∇L_R(θ) + λθ | fine-tuning on the retain set (Warnecke et al., NDSS 2023; Golatkar et al. 2020's baseline) |
//! | [`random_labels`] | g = ∇L_{F′}(θ) + ∇L_R(θ) + λθ, F′ = F with random wrong labels | Amnesiac ML (Graves, Nagisetty & Ganesh, AAAI 2021, arXiv 2010.10981) |
//! | [`newton`] | one Newton / influence step (softmax regression only) | Koh & Liang, ICML 2017, arXiv 1703.04730; Guo et al., ICML 2020, arXiv 1911.03030 |
//!
//! L_S is the model's mean loss over S ([`Model::loss_grad`]); R = D ∖ F is the retain set;
//! λ the training L2 coefficient (the shadow models' `l2`: training minimises
//! L_D(θ) + (λ/2)‖θ‖²). The retain set matters: without it gradient ascent destroys the
//! model's accuracy everywhere (Unlearn-Saliency issue 14: 99 % → 18 %), which the
//! experiment measures rather than hides.
//!
//! Every method is deterministic given its inputs and, for [`random_labels`], its stream;
//! a step that makes a parameter non-finite is an error naming the method.
//!
//! The methods are scored against exact retraining by per-example ε
//! ([`crate::privacy::audit::unlearning`]); that estimator's derivation, its finite-N ideal
//! and its checks: proofs/triantafillou2024are.md.

pub mod fine_tune;
pub mod grad_diff;
pub mod gradient_ascent;
pub mod newton;
pub mod random_labels;

use crate::learning::examples::Examples;
use crate::learning::model::Model;
use crate::rng::SimRng;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// What to forget and what to keep.
#[derive(Clone, Debug)]
pub struct UnlearnSet {
    /// The forget set F.
    pub forget: Examples,
    /// The retain set R = D ∖ F.
    pub retain: Examples,
    /// The training L2 coefficient λ.
    pub l2: f64,
}

/// An unlearning method with its hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum Method {
    /// Gradient ascent on the forget set ([`gradient_ascent`]).
    GradientAscent {
        /// Steps T.
        steps: usize,
        /// Step size η.
        lr: f64,
    },
    /// Ascent on F plus descent on R ([`grad_diff`]).
    GradDiff {
        /// Steps T.
        steps: usize,
        /// Step size η.
        lr: f64,
    },
    /// Descent on the retain set ([`fine_tune`]).
    FineTune {
        /// Steps T.
        steps: usize,
        /// Step size η.
        lr: f64,
    },
    /// Descent on F with random wrong labels plus R ([`random_labels`]).
    RandomLabels {
        /// Steps T.
        steps: usize,
        /// Step size η.
        lr: f64,
    },
    /// One Newton / influence removal step ([`newton`]; softmax regression only).
    Newton,
}

/// Most steps a method may take (a guard against absurd input).
pub const MAX_STEPS: usize = 1_000_000;

impl Method {
    /// The method's stable name (records, figures, the CLI's `--methods`).
    pub fn name(&self) -> &'static str {
        match self {
            Method::GradientAscent { .. } => "gradient_ascent",
            Method::GradDiff { .. } => "grad_diff",
            Method::FineTune { .. } => "fine_tune",
            Method::RandomLabels { .. } => "random_labels",
            Method::Newton => "newton",
        }
    }

    /// Every method name, in the order reports list them.
    pub const NAMES: [&'static str; 5] = [
        "gradient_ascent",
        "grad_diff",
        "fine_tune",
        "random_labels",
        "newton",
    ];

    /// The method called `name` with `steps` and `lr` (ignored by `newton`).
    ///
    /// # Errors
    /// [`Error::Unknown`] for an unknown name; what [`Method::validate`] rejects.
    pub fn named(name: &str, steps: usize, lr: f64) -> Result<Method> {
        let m = match name {
            "gradient_ascent" => Method::GradientAscent { steps, lr },
            "grad_diff" => Method::GradDiff { steps, lr },
            "fine_tune" => Method::FineTune { steps, lr },
            "random_labels" => Method::RandomLabels { steps, lr },
            "newton" => Method::Newton,
            other => {
                return Err(Error::unknown(
                    "unlearning method",
                    other,
                    Method::NAMES.iter().copied(),
                ))
            }
        };
        m.validate()?;
        Ok(m)
    }

    /// Checks the hyperparameters: steps ≤ [`MAX_STEPS`], a positive finite step size.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the bad one.
    pub fn validate(&self) -> Result<()> {
        if let Some((steps, lr)) = self.steps_lr() {
            if steps > MAX_STEPS {
                return Err(Error::invalid(
                    "steps",
                    steps,
                    format!("must be at most {MAX_STEPS}"),
                ));
            }
            if !(lr.is_finite() && lr > 0.0) {
                return Err(Error::invalid(
                    "unlearning lr",
                    lr,
                    "must be positive and finite",
                ));
            }
        }
        Ok(())
    }

    /// (steps, lr) of a gradient method.
    pub fn steps_lr(&self) -> Option<(usize, f64)> {
        match *self {
            Method::GradientAscent { steps, lr }
            | Method::GradDiff { steps, lr }
            | Method::FineTune { steps, lr }
            | Method::RandomLabels { steps, lr } => Some((steps, lr)),
            Method::Newton => None,
        }
    }

    /// Applies the method to `theta`, a model trained on R ∪ F. `rng` feeds the methods that
    /// draw (only [`random_labels`]).
    ///
    /// # Errors
    /// What [`Method::validate`] rejects; an empty forget or retain set; the model's errors;
    /// [`newton`] on a model other than softmax regression; a step that makes a parameter
    /// non-finite.
    pub fn apply(
        &self,
        model: &dyn Model,
        theta: &[f64],
        set: &UnlearnSet,
        rng: &mut SimRng,
    ) -> Result<Vec<f64>> {
        self.validate()?;
        if set.forget.is_empty() || set.retain.is_empty() {
            return Err(Error::invalid(
                "forget/retain sets",
                format!("{}/{}", set.forget.len(), set.retain.len()),
                "unlearning needs both non-empty",
            ));
        }
        match *self {
            Method::GradientAscent { steps, lr } => {
                Ok(gradient_ascent::trajectory(model, theta, &set.forget, lr, &[steps])?.remove(0))
            }
            Method::GradDiff { steps, lr } => grad_diff::unlearn(model, theta, set, steps, lr),
            Method::FineTune { steps, lr } => fine_tune::unlearn(model, theta, set, steps, lr),
            Method::RandomLabels { steps, lr } => {
                random_labels::unlearn(model, theta, set, steps, lr, rng)
            }
            Method::Newton => newton::unlearn(model, theta, set),
        }
    }
}

/// T steps θ ← θ − η·g(θ), `direction` writing g; the parameters after every step in
/// `checkpoints` (ascending step counts; 0 is θ itself, bit for bit).
///
/// # Errors
/// Unsorted checkpoints; `direction`'s errors; a non-finite parameter (named by `method`).
pub(crate) fn descend(
    theta: &[f64],
    lr: f64,
    checkpoints: &[usize],
    method: &str,
    mut direction: impl FnMut(&[f64], &mut [f64]) -> Result<()>,
) -> Result<Vec<Vec<f64>>> {
    if checkpoints.windows(2).any(|w| w[0] > w[1]) {
        return Err(Error::invalid(
            "step checkpoints",
            format!("{checkpoints:?}"),
            "must be ascending",
        ));
    }
    let mut theta = theta.to_vec();
    let mut g = vec![0.0; theta.len()];
    let mut out = Vec::with_capacity(checkpoints.len());
    let mut done = 0;
    for &c in checkpoints {
        while done < c {
            direction(&theta, &mut g)?;
            for (t, gi) in theta.iter_mut().zip(&g) {
                *t -= lr * gi;
            }
            if theta.iter().any(|v| !v.is_finite()) {
                return Err(Error::invalid(
                    "unlearning lr",
                    lr,
                    format!(
                        "{method} diverged after {} steps (lower the step size)",
                        done + 1
                    ),
                ));
            }
            done += 1;
        }
        out.push(theta.clone());
    }
    Ok(out)
}

/// T steps of descent on the regularised retain objective L_R(θ) + (λ/2)‖θ‖², plus
/// `sign`·L_S(θ) of one more set S when `extra` is `Some((S, sign))`: the one loop of
/// [`fine_tune`] (no extra set), [`grad_diff`] (the forget set, sign −1) and
/// [`random_labels`] (the relabelled forget set, sign +1). `method` names a divergence.
///
/// # Errors
/// As [`descend`]; the model's errors.
pub(crate) fn retain_descent(
    model: &dyn Model,
    theta: &[f64],
    set: &UnlearnSet,
    extra: Option<(&Examples, f64)>,
    steps: usize,
    lr: f64,
    method: &str,
) -> Result<Vec<f64>> {
    let mut gs = vec![0.0; if extra.is_some() { theta.len() } else { 0 }];
    let mut out = descend(theta, lr, &[steps], method, |t, g| {
        regularised_grad(model, t, &set.retain, set.l2, g)?;
        if let Some((s, sign)) = extra {
            model.loss_grad(t, s.batch(), &mut gs)?;
            // sign = ±1, so a + sign·b is a ± b exactly.
            g.iter_mut().zip(&gs).for_each(|(a, b)| *a += sign * b);
        }
        Ok(())
    })?;
    Ok(out.remove(0))
}

/// ∇[L_S(θ) + (λ/2)‖θ‖²] into `g`.
pub(crate) fn regularised_grad(
    model: &dyn Model,
    theta: &[f64],
    set: &Examples,
    l2: f64,
    g: &mut [f64],
) -> Result<()> {
    model.loss_grad(theta, set.batch(), g)?;
    for (gi, t) in g.iter_mut().zip(theta) {
        *gi += l2 * t;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::learning::examples::Task;
    use crate::learning::model::{DenseNet, ModelSpec};
    use crate::rng::rng_from_seed;
    use nalgebra::DMatrix;
    use rand_distr::{Distribution, StandardNormal};

    /// λ of the fixture.
    pub(crate) const FIXTURE_L2: f64 = 1e-2;

    /// A small softmax problem: 3 classes in 4 features, 400 records around class means
    /// 2 apart, a softmax model after 100 full-batch steps (lr 0.5, λ = 10⁻²); F = the first
    /// 10 records (2.5 %, as the experiment's 2 % random forget set), R the rest.
    pub(crate) fn fixture() -> (DenseNet, Vec<f64>, UnlearnSet) {
        let mut rng = rng_from_seed(42);
        let (p, k, n) = (4, 3, 400);
        let y: Vec<f64> = (0..n).map(|i| (i % k) as f64).collect();
        let x = DMatrix::from_fn(p, n, |r, c| {
            let mean = if r == c % k { 2.0 } else { 0.0 };
            let z: f64 = StandardNormal.sample(&mut rng);
            mean + z
        });
        let all = Examples::new(x, y, Task::Classification { classes: k }).unwrap();
        let model = ModelSpec::Softmax.build_dense(p, all.task()).unwrap();
        let mut theta = vec![0.0; model.n_params()];
        let mut g = vec![0.0; theta.len()];
        for _ in 0..100 {
            regularised_grad(&model, &theta, &all, FIXTURE_L2, &mut g).unwrap();
            theta.iter_mut().zip(&g).for_each(|(t, gi)| *t -= 0.5 * gi);
        }
        let forget = all.select(&(0..10).collect::<Vec<_>>());
        let retain = all.select(&(10..n).collect::<Vec<_>>());
        (
            model,
            theta,
            UnlearnSet {
                forget,
                retain,
                l2: FIXTURE_L2,
            },
        )
    }
}
