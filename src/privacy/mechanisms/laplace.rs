//! The Laplace mechanism: x + Lap(b) per coordinate with b = Δ₁/ε gives ε-DP.
//!
//! # References
//! - Dwork, McSherry, Nissim & Smith, "Calibrating Noise to Sensitivity in Private Data
//!   Analysis", TCC 2006 (Thm 1).
//! - Dwork & Roth, "The Algorithmic Foundations of Differential Privacy", 2014, Thm 3.6.

use super::{Mechanism, Sensitivity, SensitivityNorm};
use crate::error::check_positive;
use crate::privacy::{check_epsilon, PrivacyCost};
use crate::rng::SimRng;
use crate::Result;
use rand::RngExt;

/// Laplace noise of scale b = Δ₁/ε on every coordinate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Laplace {
    sensitivity: f64,
    epsilon: f64,
}

impl Laplace {
    /// The ε-DP Laplace mechanism for ℓ1 sensitivity Δ₁.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for ε or Δ₁ not finite and positive, or a scale Δ₁/ε
    /// beyond f64.
    pub fn new(sensitivity: f64, epsilon: f64) -> Result<Self> {
        let m = Laplace {
            sensitivity: check_positive("sensitivity", sensitivity)?,
            epsilon: check_epsilon(epsilon)?,
        };
        if !m.scale().is_finite() {
            return Err(crate::Error::invalid(
                "epsilon",
                epsilon,
                format!(
                    "the scale sensitivity/epsilon = {sensitivity:e}/{epsilon:e} overflows f64"
                ),
            ));
        }
        Ok(m)
    }

    /// The noise scale b = Δ₁/ε.
    pub fn scale(&self) -> f64 {
        self.sensitivity / self.epsilon
    }

    /// One Lap(b) draw by inversion: with u uniform on (−½, ½), −b·sgn(u)·ln(1 − 2|u|).
    pub fn sample(&self, rng: &mut SimRng) -> f64 {
        // random::<f64>() is in [0, 1); 1 − 2|u| ∈ (0, 1], so the logarithm is finite.
        let u: f64 = rng.random::<f64>() - 0.5;
        -self.scale() * u.signum() * (1.0 - 2.0 * u.abs()).ln()
    }
}

impl Mechanism for Laplace {
    fn name(&self) -> &'static str {
        "laplace"
    }
    fn sensitivity(&self) -> Sensitivity {
        Sensitivity {
            norm: SensitivityNorm::L1,
            value: self.sensitivity,
        }
    }
    fn guarantee(&self) -> PrivacyCost {
        PrivacyCost::Pure {
            epsilon: self.epsilon,
        }
    }
    fn privatize(&self, x: &mut [f64], rng: &mut SimRng) -> Result<()> {
        for v in x.iter_mut() {
            *v += self.sample(rng);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::mechanisms::testutil::assert_noise_follows;

    #[test]
    fn scale_and_guarantee() {
        // b = Δ/ε = 2/0.5 = 4.
        let m = Laplace::new(2.0, 0.5).unwrap();
        assert_eq!(m.scale(), 4.0);
        assert_eq!(m.guarantee(), PrivacyCost::Pure { epsilon: 0.5 });
        assert!(Laplace::new(1.0, 0.0).is_err());
        assert!(Laplace::new(-1.0, 1.0).is_err());
        // A scale beyond f64 is refused, naming ε (it printed `scale b = inf`).
        let e = Laplace::new(1e10, 1e-300).unwrap_err().to_string();
        assert!(e.contains("`epsilon`") && e.contains("overflows"), "{e}");
    }

    #[test]
    fn samples_follow_the_laplace_law() {
        // KS test at significance 0.001 against F(x) = ½e^{x/b} (x<0), 1 − ½e^{−x/b}.
        let m = Laplace::new(1.0, 2.0).unwrap();
        let b = m.scale();
        let cdf = |t: f64| {
            if t < 0.0 {
                0.5 * (t / b).exp()
            } else {
                1.0 - 0.5 * (-t / b).exp()
            }
        };
        assert_noise_follows(&m, 11, cdf);
    }
}
