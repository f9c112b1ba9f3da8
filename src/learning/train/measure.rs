//! What an evaluation round measures: test accuracy and loss, the honest clients' full local
//! gradients (their dissimilarity G² and the honest gradient norm), a (G, B) fit over the run,
//! κ̂ of the aggregate, and the heterogeneity floors B2/B3 beside them.
//!
//! **Heterogeneity at the iterates.** With Fᵢ client i's mean local loss and
//! F_H = (1/h) Σᵢ Fᵢ, an evaluation at θ measures G²(θ) = (1/h) Σᵢ ‖∇Fᵢ(θ) − ∇F_H(θ)‖² and
//! ‖∇F_H(θ)‖². (G, B)-dissimilarity (Karimireddy, He & Jaggi, ICLR 2022, arXiv 2006.09365;
//! Allouah et al., AISTATS 2023, arXiv 2302.01772) asks G²(θ) ≤ G² + B²‖∇F_H(θ)‖² for every
//! θ; the run fits that line by least squares over its evaluations (G², B² ≥ 0: a fit of the
//! trend along the trajectory, not a certified envelope). Running sums keep the fit's memory
//! flat in the number of rounds.
//!
//! **Floors.** B2 (f·G²/(n − 2f), with G² the one measured at this evaluation) and B3
//! (f·G²/(n − (2 + B²)f), with the fitted (G, B)) bound ‖∇F_H(θ̂)‖² from below for the worst
//! instance of that dissimilarity: they stand beside `grad_norm_sq`, are given only where
//! their hypotheses hold (f ≥ 1, 2f < n; for B3 also f/n < 1/(2 + B²)), and a measured value
//! below them only says this instance is not the worst one.

use crate::bounds;
use crate::data::{sq_dist, sq_norm, UpdatesView};
use crate::experiment::robust::extended_real;
use crate::params::Params;
use serde::Serialize;

/// One evaluation of the model and of the honest clients at θ.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    /// Accuracy on the test set ([`crate::learning::model::Evaluation::accuracy`]: argmax
    /// of the logits, the logit's sign for binary logistic); `None` without a test set or for
    /// regression.
    pub test_accuracy: Option<f64>,
    /// Mean loss on the test set. Like every measurement here that can overflow, written as
    /// `"inf"` in JSON where it is +∞ ([`extended_real`]).
    #[serde(with = "extended_real::option")]
    pub test_loss: Option<f64>,
    /// F_H(θ) = (1/h) Σᵢ Fᵢ(θ): the honest clients' full local losses, averaged.
    #[serde(with = "extended_real")]
    pub honest_loss: f64,
    /// ‖∇F_H(θ)‖², the squared norm of the honest clients' mean full gradient.
    #[serde(with = "extended_real")]
    pub grad_norm_sq: f64,
    /// G²(θ) = (1/h) Σᵢ ‖∇Fᵢ(θ) − ∇F_H(θ)‖², the measured heterogeneity at θ.
    #[serde(with = "extended_real")]
    pub g2: f64,
    /// The (G², B²) least-squares fit of G²(θ_t) against ‖∇F_H(θ_t)‖² over the evaluations so
    /// far (absent before two evaluations with distinct gradient norms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fit: Option<GbFit>,
    /// κ̂ = ‖a − m̄_H‖² / ((1/h) Σᵢ ‖mᵢ − m̄_H‖²) of this round's aggregate a against the honest
    /// vectors mᵢ the server received (Allouah et al. 2023); `"inf"` when they coincide and a
    /// misses them.
    #[serde(with = "extended_real")]
    pub kappa_hat: f64,
    /// B2's floor f·G²/(n − 2f) on ‖∇F_H‖² at this G² (where its hypotheses hold).
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "extended_real::option"
    )]
    pub floor_b2: Option<f64>,
    /// B3's floor f·G²/(n − (2 + B²)f) on ‖∇F_H‖² at the fitted (G, B) (where its hypotheses
    /// hold).
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "extended_real::option"
    )]
    pub floor_b3: Option<f64>,
}

/// A fitted (G, B) heterogeneity model: G²(θ) ≈ `g2` + `b2`·‖∇F_H(θ)‖².
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct GbFit {
    /// The additive part G².
    pub g2: f64,
    /// The multiplicative part B².
    pub b2: f64,
}

/// Running sums for the least-squares line y = G² + B²·x (x = ‖∇F_H‖², y = G²(θ)).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct FitSums {
    n: f64,
    sx: f64,
    sy: f64,
    sxx: f64,
    sxy: f64,
}

impl FitSums {
    pub(super) fn add(&mut self, x: f64, y: f64) {
        self.n += 1.0;
        self.sx += x;
        self.sy += y;
        self.sxx += x * x;
        self.sxy += x * y;
    }

    /// The least-squares line with both coefficients ≥ 0: the unconstrained solution when it
    /// is non-negative, else the better of the two one-coefficient fits on the boundary.
    pub(super) fn fit(&self) -> Option<GbFit> {
        if self.n < 2.0 {
            return None;
        }
        let vx = self.sxx - self.sx * self.sx / self.n;
        if vx.is_nan() || vx <= 0.0 {
            return None;
        }
        let slope = (self.sxy - self.sx * self.sy / self.n) / vx;
        let intercept = (self.sy - slope * self.sx) / self.n;
        let fit = if slope >= 0.0 && intercept >= 0.0 {
            GbFit {
                g2: intercept,
                b2: slope,
            }
        } else if slope < 0.0 {
            // Best constant: the mean.
            GbFit {
                g2: (self.sy / self.n).max(0.0),
                b2: 0.0,
            }
        } else {
            // Through the origin.
            GbFit {
                g2: 0.0,
                b2: (self.sxy / self.sxx).max(0.0),
            }
        };
        (fit.g2.is_finite() && fit.b2.is_finite()).then_some(fit)
    }
}

/// (‖∇F_H‖², G²) from the honest clients' full gradients (the columns of `grads`).
pub(super) fn heterogeneity(grads: UpdatesView<'_>) -> (f64, f64) {
    let mean = grads.mean();
    let g2 = grads
        .cols()
        .map(|c| sq_dist(c, mean.as_slice()))
        .sum::<f64>()
        / grads.n() as f64;
    (sq_norm(mean.as_slice()), g2)
}

/// κ̂ of `aggregate` against the honest vectors (module docs of [`Evaluation::kappa_hat`]).
pub(super) fn kappa_hat(honest: UpdatesView<'_>, aggregate: &[f64]) -> f64 {
    let mean = honest.mean();
    let var = honest
        .cols()
        .map(|c| sq_dist(c, mean.as_slice()))
        .sum::<f64>()
        / honest.n() as f64;
    crate::experiment::robust::kappa_hat(sq_dist(aggregate, mean.as_slice()), var)
}

/// The catalogue's B2 and B3 floors on ‖∇F_H‖² at (n, f, G², fitted B²), each only where its
/// hypotheses hold and its value is finite.
pub(super) fn floors(
    n: usize,
    f: usize,
    g2: f64,
    fit: Option<GbFit>,
) -> (Option<f64>, Option<f64>) {
    if f == 0 || 2 * f >= n {
        return (None, None);
    }
    let finite = |id: &str, p: Params| {
        bounds::eval(id, &p)
            .ok()
            .and_then(|v| v.as_f64())
            .filter(|v| v.is_finite())
    };
    let base = Params::new().with("n", n as f64).with("f", f as f64);
    let b2 = finite("B2", base.clone().with("G", g2.sqrt()));
    let b3 =
        fit.and_then(|fit| finite("B3", base.with("G", fit.g2.sqrt()).with("B", fit.b2.sqrt())));
    (b2, b3)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points on y = 2 + 3x give back (2, 3); a decreasing cloud gives the constant fit; an
    /// increasing one through a negative intercept gives the line through the origin.
    /// Mutation that makes it fail (checked): swapping intercept and slope in the
    /// unconstrained case.
    #[test]
    fn fit_recovers_a_line_and_stays_non_negative() {
        let mut s = FitSums::default();
        for x in [0.0, 1.0, 4.0] {
            s.add(x, 2.0 + 3.0 * x);
        }
        let f = s.fit().unwrap();
        assert!(
            (f.g2 - 2.0).abs() < 1e-12 && (f.b2 - 3.0).abs() < 1e-12,
            "{f:?}"
        );
        let mut s = FitSums::default();
        s.add(1.0, 3.0);
        s.add(2.0, 1.0);
        assert_eq!(s.fit().unwrap(), GbFit { g2: 2.0, b2: 0.0 });
        let mut s = FitSums::default();
        s.add(1.0, 1.0);
        s.add(2.0, 4.0);
        // Unconstrained: y = −2 + 3x; through the origin: b² = Σxy/Σx² = 9/5.
        let f = s.fit().unwrap();
        assert_eq!(f.g2, 0.0);
        assert!((f.b2 - 1.8).abs() < 1e-15);
        let mut one = FitSums::default();
        one.add(1.0, 1.0);
        assert!(one.fit().is_none());
    }

    #[test]
    fn floors_known_answer() {
        // B2: 3·1/(20 − 6) = 3/14 (the catalogue's example); B3 with B² = 1: 3/(20 − 9).
        let (b2, b3) = floors(20, 3, 1.0, Some(GbFit { g2: 1.0, b2: 1.0 }));
        assert!((b2.unwrap() - 3.0 / 14.0).abs() < 1e-15);
        assert!((b3.unwrap() - 3.0 / 11.0).abs() < 1e-15);
        // Past B3's breakdown point f/n ≥ 1/(2 + B²): no B3 floor; no floor without attackers.
        assert!(floors(20, 3, 1.0, Some(GbFit { g2: 1.0, b2: 5.0 }))
            .1
            .is_none());
        assert_eq!(floors(20, 0, 1.0, None), (None, None));
        assert_eq!(floors(6, 3, 1.0, None), (None, None));
    }
}
