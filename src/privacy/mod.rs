//! Differential privacy: mechanisms, accountants, noise calibration, private mean estimation
//! and DP-SGD.
//!
//! Privacy costs are data ([`PrivacyCost`]); composing them is the job of an accountant
//! ([`accounting::Accountant`]). Every ε this module returns is an **upper bound** computed in
//! `f64` and rounded outward where the computation allows (a calibrated σ is always on the
//! safe side of the target, see [`accounting::calibrate`]); these are floating-point analyses,
//! not certified guarantees.
//!
//! # Neighbouring relation
//!
//! Unless a function says otherwise, two datasets are neighbours when one is the other with
//! one record **added or removed** (the relation of DP-SGD with Poisson sampling and of
//! Google's dp-accounting `NeighborRel.ADD_OR_REMOVE_ONE`). The mean estimators use
//! **replace-one** with a public n, where the ℓ2 sensitivity of a mean of points in a ball of
//! radius C is 2C/n. Each function states the relation it assumes.
//!
//! # Layout
//!
//! - [`mechanisms`]: Laplace, Gaussian (classical and analytic), randomized response;
//! - [`accounting`]: RDP, PLD, zCDP and pure/approximate composition, plus calibration;
//! - [`estimators`]: DP mean estimation (known range, CoinPress, user level) next to the
//!   Cai–Wang–Zhang rate;
//! - [`sgd`]: DP-SGD for linear and logistic regression;
//! - [`audit`]: empirical lower bounds on ε from membership tests (Clopper–Pearson, GDP,
//!   one-run auditing).
//!
//! # References
//! - Dwork & Roth, "The Algorithmic Foundations of Differential Privacy", Foundations and
//!   Trends in Theoretical Computer Science 9(3–4), 2014.

pub mod accounting;
pub mod audit;
pub mod estimators;
pub mod mechanisms;
pub(crate) mod normal;
pub mod sgd;

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// The privacy cost of one invocation of a mechanism, as data.
///
/// Serialised with a `kind` tag: `{"kind": "approx", "epsilon": 1, "delta": 1e-5}`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PrivacyCost {
    /// Pure ε-DP.
    Pure {
        /// ε ≥ 0.
        epsilon: f64,
    },
    /// Approximate (ε, δ)-DP.
    Approx {
        /// ε ≥ 0.
        epsilon: f64,
        /// δ ∈ [0, 1).
        delta: f64,
    },
    /// ρ-zero-concentrated DP (Bun & Steinke, TCC 2016).
    Zcdp {
        /// ρ ≥ 0.
        rho: f64,
    },
    /// One step of the Gaussian mechanism with noise multiplier σ (noise standard deviation
    /// over ℓ2 sensitivity) on a Poisson sample of rate q (q = 1: no subsampling).
    SubsampledGaussian {
        /// σ > 0.
        noise_multiplier: f64,
        /// q ∈ (0, 1].
        sample_rate: f64,
    },
}

impl PrivacyCost {
    /// Checks every field's domain.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        match *self {
            PrivacyCost::Pure { epsilon } => check_epsilon_nonneg(epsilon).map(|_| ()),
            PrivacyCost::Approx { epsilon, delta } => {
                check_epsilon_nonneg(epsilon)?;
                if !(0.0..1.0).contains(&delta) {
                    return Err(Error::invalid("delta", delta, "must be in [0, 1)"));
                }
                Ok(())
            }
            PrivacyCost::Zcdp { rho } => crate::error::check_non_negative("rho", rho).map(|_| ()),
            PrivacyCost::SubsampledGaussian {
                noise_multiplier,
                sample_rate,
            } => {
                check_noise_multiplier(noise_multiplier)?;
                check_sampling_rate(sample_rate)?;
                Ok(())
            }
        }
    }
}

/// An ε or δ rounded up by one ulp where it is positive; 0 where it is ≤ 0 or NaN (one ulp
/// above 0 would report a loss where there is none). The accountants' last step.
pub(crate) fn round_up_or_zero(x: f64) -> f64 {
    if x > 0.0 {
        next_up(x)
    } else {
        0.0
    }
}

/// The next f64 above `x` (`f64::next_up`, which needs Rust 1.86; the crate's MSRV is 1.85).
/// NaN and +∞ are returned unchanged.
pub(crate) fn next_up(x: f64) -> f64 {
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f64::from_bits(1);
    }
    let b = x.to_bits();
    f64::from_bits(if x > 0.0 { b + 1 } else { b - 1 })
}

/// Checks a target ε: finite and > 0.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `epsilon`.
pub fn check_epsilon(eps: f64) -> Result<f64> {
    if eps.is_finite() && eps > 0.0 {
        Ok(eps)
    } else {
        Err(Error::invalid("epsilon", eps, "must be finite and > 0"))
    }
}

pub(crate) fn check_epsilon_nonneg(eps: f64) -> Result<f64> {
    if eps.is_finite() && eps >= 0.0 {
        Ok(eps)
    } else {
        Err(Error::invalid("epsilon", eps, "must be finite and >= 0"))
    }
}

/// Checks a target δ ∈ (0, 1).
///
/// # Errors
/// [`Error::InvalidParameter`] naming `delta`.
pub fn check_delta(delta: f64) -> Result<f64> {
    if delta > 0.0 && delta < 1.0 {
        Ok(delta)
    } else {
        Err(Error::invalid("delta", delta, "must be in (0, 1)"))
    }
}

/// Checks a Poisson sampling rate q ∈ (0, 1].
///
/// # Errors
/// [`Error::InvalidParameter`] naming `sampling_rate`.
pub fn check_sampling_rate(q: f64) -> Result<f64> {
    if q > 0.0 && q <= 1.0 {
        Ok(q)
    } else {
        Err(Error::invalid("sampling_rate", q, "must be in (0, 1]"))
    }
}

/// Checks a noise multiplier σ: finite and > 0 (σ = 0 gives no privacy: ε = ∞).
///
/// # Errors
/// [`Error::InvalidParameter`] naming `noise_multiplier`.
pub fn check_noise_multiplier(sigma: f64) -> Result<f64> {
    if sigma.is_finite() && sigma > 0.0 {
        Ok(sigma)
    } else {
        Err(Error::invalid(
            "noise_multiplier",
            sigma,
            "must be finite and > 0",
        ))
    }
}

/// Checks a number of composed steps ≥ 1.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `steps`.
pub fn check_steps(steps: u64) -> Result<u64> {
    if steps >= 1 {
        Ok(steps)
    } else {
        Err(Error::invalid("steps", steps, "must be >= 1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_up_steps_one_ulp() {
        assert_eq!(next_up(1.0), 1.0 + f64::EPSILON);
        assert_eq!(next_up(-1.0), -1.0 + f64::EPSILON / 2.0);
        assert_eq!(next_up(0.0), f64::from_bits(1));
        assert_eq!(next_up(f64::INFINITY), f64::INFINITY);
    }

    #[test]
    fn validation_names_the_parameter() {
        let e = check_delta(1.0).unwrap_err().to_string();
        assert!(e.contains("`delta`"), "{e}");
        assert!(check_epsilon(0.0).is_err());
        assert!(check_epsilon(f64::NAN).is_err());
        assert!(check_sampling_rate(0.0).is_err());
        assert!(check_sampling_rate(1.0).is_ok());
        assert!(check_noise_multiplier(-1.0).is_err());
        assert!(check_steps(0).is_err());
        assert!(PrivacyCost::Approx {
            epsilon: 1.0,
            delta: 1.0
        }
        .validate()
        .is_err());
    }

    #[test]
    fn cost_serde_round_trip_and_unknown_keys() {
        let c = PrivacyCost::SubsampledGaussian {
            noise_multiplier: 1.1,
            sample_rate: 0.01,
        };
        let s = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<PrivacyCost>(&s).unwrap(), c);
        assert!(serde_json::from_str::<PrivacyCost>(r#"{"kind":"pure","epsiln":1}"#).is_err());
    }
}
