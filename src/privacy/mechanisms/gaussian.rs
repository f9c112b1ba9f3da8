//! The classical Gaussian mechanism: x + N(0, σ²I) with σ = Δ₂·√(2 ln(1.25/δ))/ε is
//! (ε, δ)-DP **for ε < 1** (the proof needs it; for ε ≥ 1 use
//! [`super::AnalyticGaussian`], which is exact for every ε).
//!
//! # References
//! - Dwork & Roth, "The Algorithmic Foundations of Differential Privacy", Foundations and
//!   Trends in TCS 9(3–4), 2014, Thm A.1 (σ ≥ c·Δ₂/ε with c² > 2 ln(1.25/δ), ε ∈ (0, 1)).

use super::{Mechanism, Sensitivity, SensitivityNorm};
use crate::error::check_positive;
use crate::privacy::{check_delta, check_epsilon, PrivacyCost};
use crate::rng::SimRng;
use crate::{Error, Result};
use rand::RngExt;
use rand_distr::StandardNormal;

/// Gaussian noise with the classical calibration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gaussian {
    sensitivity: f64,
    epsilon: f64,
    delta: f64,
    sigma: f64,
}

/// The classical σ = Δ₂·√(2 ln(1.25/δ))/ε (Dwork & Roth 2014, Thm A.1).
///
/// # Errors
/// [`Error::InvalidParameter`] for ε ∉ (0, 1) (the theorem's hypothesis), δ ∉ (0, 1) or a
/// sensitivity that is not finite and positive.
pub fn classical_sigma(sensitivity: f64, epsilon: f64, delta: f64) -> Result<f64> {
    check_positive("sensitivity", sensitivity)?;
    check_epsilon(epsilon)?;
    check_delta(delta)?;
    if epsilon >= 1.0 {
        return Err(Error::invalid(
            "epsilon",
            epsilon,
            "the classical Gaussian calibration needs epsilon < 1 (Dwork & Roth Thm A.1); \
             use the analytic Gaussian mechanism",
        ));
    }
    Ok(sensitivity * (2.0 * (1.25 / delta).ln()).sqrt() / epsilon)
}

impl Gaussian {
    /// The (ε, δ)-DP Gaussian mechanism for ℓ2 sensitivity Δ₂, classical calibration.
    ///
    /// # Errors
    /// As [`classical_sigma`].
    pub fn new(sensitivity: f64, epsilon: f64, delta: f64) -> Result<Self> {
        let sigma = classical_sigma(sensitivity, epsilon, delta)?;
        Ok(Gaussian {
            sensitivity,
            epsilon,
            delta,
            sigma,
        })
    }

    /// The noise standard deviation σ.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }

    /// The zCDP parameter of the same noise, ρ = Δ₂²/(2σ²) (Bun & Steinke, TCC 2016,
    /// Prop 1.6).
    pub fn rho(&self) -> f64 {
        self.sensitivity * self.sensitivity / (2.0 * self.sigma * self.sigma)
    }
}

impl Mechanism for Gaussian {
    fn name(&self) -> &'static str {
        "gaussian"
    }
    fn sensitivity(&self) -> Sensitivity {
        Sensitivity {
            norm: SensitivityNorm::L2,
            value: self.sensitivity,
        }
    }
    fn guarantee(&self) -> PrivacyCost {
        PrivacyCost::Approx {
            epsilon: self.epsilon,
            delta: self.delta,
        }
    }
    fn privatize(&self, x: &mut [f64], rng: &mut SimRng) -> Result<()> {
        for v in x.iter_mut() {
            *v += self.sigma * rng.sample::<f64, _>(StandardNormal);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::mechanisms::testutil::{ks_critical_001, ks_statistic};
    use crate::privacy::normal;
    use crate::rng::rng_from_seed;

    #[test]
    fn classical_known_answer() {
        // Δ = 1, ε = 0.5, δ = 1e-5: √(2 ln 125000) / 0.5 = √23.47212… / 0.5 = 9.689611 (numpy: 9.689610525210778)
        let s = classical_sigma(1.0, 0.5, 1e-5).unwrap();
        let want = (2.0 * 125_000f64.ln()).sqrt() / 0.5;
        assert_eq!(s, want);
        assert!((s - 9.689_611).abs() < 1e-5, "{s}");
        // ρ = 1/(2σ²).
        let g = Gaussian::new(1.0, 0.5, 1e-5).unwrap();
        assert_eq!(g.rho(), 1.0 / (2.0 * s * s));
    }

    #[test]
    fn refuses_epsilon_at_least_one() {
        let e = classical_sigma(1.0, 1.0, 1e-5).unwrap_err().to_string();
        assert!(e.contains("`epsilon`") && e.contains("epsilon < 1"), "{e}");
        assert!(classical_sigma(1.0, 0.5, 0.0).is_err());
        assert!(classical_sigma(0.0, 0.5, 0.1).is_err());
    }

    #[test]
    fn noise_is_gaussian_with_sigma() {
        // KS at significance 0.001 against N(0, σ²).
        let g = Gaussian::new(2.0, 0.8, 1e-3).unwrap();
        let mut x = vec![0.0; 20_000];
        g.privatize(&mut x, &mut rng_from_seed(3)).unwrap();
        let s = g.sigma();
        let n = x.len();
        let d = ks_statistic(&mut x, |t| normal::cdf(t / s));
        assert!(d < ks_critical_001(n), "KS {d}");
    }
}
