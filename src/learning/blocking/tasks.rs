//! The synthetic two-task setting of the blocking experiment: x ∈ R^p standard Gaussian, a
//! good task y_g = 1[w_g·x > 0] and a bad task y_b = 1[w_b·x > 0] with cos(w_g, w_b) = ρ.
//!
//! The setting is the one the project's reference proposes as a CPU-sized stand-in for
//! Henderson, Mitchell, Manning, Jurafsky & Finn, "Self-Destructing Models: Increasing the
//! Costs of Harmful Dual Uses of Foundation Models", AIES 2023, arXiv 2211.14946 (their good
//! and bad tasks are profession and gender classification from the same biographies; here
//! the tasks share the input and ρ sets how much of the bad task the good one reveals).
//!
//! With both directions unit vectors and x standard Gaussian, (w_g·x, w_b·x) is a bivariate
//! normal with correlation ρ, so the good task's labels predict the bad task's with accuracy
//! 1 − arccos(ρ)/π (Sheppard 1899; the quadrant probability of a bivariate normal): 0.5,
//! 0.667 and 0.856 at ρ = 0, 0.5, 0.9. No blocking can push a model that solves the good task
//! below that floor against an adversary who may reuse the good head.

use crate::learning::examples::{Examples, Task};
use crate::rng::SimRng;
use crate::{Error, Result};
use nalgebra::{DMatrix, DVector};
use rand::RngExt;
use rand_distr::StandardNormal;

/// The two tasks: unit directions w_g and w_b with w_g·w_b = ρ.
#[derive(Clone, Debug, PartialEq)]
pub struct TwoTasks {
    /// The good task's direction (unit).
    pub good: DVector<f64>,
    /// The bad task's direction (unit).
    pub bad: DVector<f64>,
}

/// Labelled examples of one task: one example per row of `x`, labels 0 or 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Labelled {
    /// Inputs, n × p.
    pub x: DMatrix<f64>,
    /// Labels in {0, 1}.
    pub y: DVector<f64>,
}

impl Labelled {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.x.nrows()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.x.nrows() == 0
    }

    /// The first `n` examples (nested samples: the adversary's n = 20 examples are among its
    /// n = 50, common random numbers across budgets).
    pub fn head(&self, n: usize) -> Labelled {
        let n = n.min(self.len());
        Labelled {
            x: self.x.rows(0, n).into_owned(),
            y: self.y.rows(0, n).into_owned(),
        }
    }

    /// The examples as [`Examples`] of a two-class task (one example per column), what a
    /// [`crate::learning::model::Model`] reads.
    ///
    /// # Errors
    /// A label other than 0 or 1, a non-finite input.
    pub fn examples(&self) -> Result<Examples> {
        Examples::new(
            self.x.transpose(),
            self.y.as_slice().to_vec(),
            Task::Classification { classes: 2 },
        )
    }

    /// The examples at `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Labelled {
        Labelled {
            x: self.x.select_rows(rows),
            y: self.y.select_rows(rows),
        }
    }
}

impl TwoTasks {
    /// Draws w_g uniformly on the sphere and a unit u ⟂ w_g, and sets
    /// w_b = ρ·w_g + √(1 − ρ²)·u. The draws do not depend on ρ, so runs at several ρ with one
    /// stream share w_g and u (common random numbers across the ρ axis).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for ρ outside [−1, 1] or p < 2.
    pub fn draw(features: usize, rho: f64, rng: &mut SimRng) -> Result<TwoTasks> {
        if !(-1.0..=1.0).contains(&rho) {
            return Err(Error::invalid("rho", rho, "must be a cosine, in [-1, 1]"));
        }
        if features < 2 {
            return Err(Error::invalid(
                "features",
                features,
                "two distinct directions need p >= 2",
            ));
        }
        let mut gauss = |n: usize| DVector::from_fn(n, |_, _| rng.sample::<f64, _>(StandardNormal));
        let unit = |v: DVector<f64>| {
            let norm = v.norm();
            v / norm
        };
        let good = unit(gauss(features));
        let raw = gauss(features);
        // Gram–Schmidt: u is the part of a second Gaussian direction orthogonal to w_g (a
        // Gaussian vector is parallel to w_g with probability 0).
        let u = unit(&raw - &good * good.dot(&raw));
        let bad = &good * rho + u * (1.0 - rho * rho).sqrt();
        Ok(TwoTasks { good, bad })
    }

    /// The input dimension p.
    pub fn features(&self) -> usize {
        self.good.len()
    }

    /// `n` standard Gaussian inputs with both tasks' labels (good, bad).
    pub fn sample(&self, n: usize, rng: &mut SimRng) -> (Labelled, Labelled) {
        let p = self.features();
        let x = DMatrix::from_fn(n, p, |_, _| rng.sample::<f64, _>(StandardNormal));
        let label = |w: &DVector<f64>| (&x * w).map(|s| f64::from(u8::from(s > 0.0)));
        let (yg, yb) = (label(&self.good), label(&self.bad));
        (
            Labelled {
                x: x.clone(),
                y: yg,
            },
            Labelled { x, y: yb },
        )
    }

    /// The bad-task accuracy of predicting the bad label by the good one,
    /// 1 − arccos(ρ)/π (see the [module docs](self)).
    pub fn good_label_floor(&self) -> f64 {
        1.0 - self.good.dot(&self.bad).clamp(-1.0, 1.0).acos() / std::f64::consts::PI
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_named;

    /// The drawn directions are unit vectors at cosine ρ, and on 20 000 examples the good
    /// labels agree with the bad ones at 1 − arccos(ρ)/π (0.856 at ρ = 0.9; binomial sd
    /// ≈ 0.0025, tolerance 0.015 ≈ 6 sd). Mutation checked: w_b = ρ·w_g + (1 − ρ)·u (not
    /// √(1 − ρ²)) makes the norm check fail.
    #[test]
    fn directions_have_the_asked_cosine_and_label_agreement() {
        for rho in [0.0, 0.5, 0.9] {
            let t = TwoTasks::draw(20, rho, &mut rng_named(3, 0, "tasks")).unwrap();
            assert!((t.good.norm() - 1.0).abs() < 1e-12);
            assert!((t.bad.norm() - 1.0).abs() < 1e-12, "{}", t.bad.norm());
            assert!((t.good.dot(&t.bad) - rho).abs() < 1e-12);
            let (g, b) = t.sample(20_000, &mut rng_named(3, 0, "x"));
            let agree = g.y.iter().zip(b.y.iter()).filter(|(a, b)| a == b).count();
            let floor = 1.0 - f64::acos(rho) / std::f64::consts::PI;
            assert!((t.good_label_floor() - floor).abs() < 1e-12);
            assert!(
                (agree as f64 / 20_000.0 - floor).abs() < 0.015,
                "{rho}: {agree}"
            );
        }
        assert!(TwoTasks::draw(20, 1.5, &mut rng_named(3, 0, "tasks")).is_err());
        assert!(TwoTasks::draw(1, 0.5, &mut rng_named(3, 0, "tasks")).is_err());
    }
}
