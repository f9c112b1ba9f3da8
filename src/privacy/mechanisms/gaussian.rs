//! The classical Gaussian mechanism: x + N(0, σ²I) with σ = Δ₂·√(2 ln(1.25/δ))/ε is
//! (ε, δ)-DP **for ε < 1** (the proof needs it; for ε ≥ 1 use
//! [`super::AnalyticGaussian`], which is exact for every ε).
//!
//! # References
//! - Dwork & Roth, "The Algorithmic Foundations of Differential Privacy", Foundations and
//!   Trends in TCS 9(3–4), 2014, Thm A.1 (σ ≥ c·Δ₂/ε with c² > 2 ln(1.25/δ), ε ∈ (0, 1)).

use crate::error::check_positive;
use crate::privacy::{check_delta, check_epsilon};
use crate::{Error, Result};

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

    /// The zCDP parameter of the same noise, ρ = Δ₂²/(2σ²) (Bun & Steinke, TCC 2016,
    /// Prop 1.6).
    pub fn rho(&self) -> f64 {
        self.sensitivity * self.sensitivity / (2.0 * self.sigma * self.sigma)
    }
}

gaussian_noise_mechanism!(Gaussian, "gaussian");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::mechanisms::testutil::assert_noise_follows;
    use crate::privacy::normal;

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
        let s = g.sigma();
        assert_noise_follows(&g, 3, |t| normal::cdf(t / s));
    }
}
