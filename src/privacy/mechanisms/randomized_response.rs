//! k-ary randomized response: report the true category with probability
//! e^ε/(e^ε + k − 1) and each other category with probability 1/(e^ε + k − 1); ε-DP for a
//! change of the value (local DP, replace-one). k = 2 is Warner's coin-flip survey.
//!
//! # References
//! - Warner, "Randomized Response: A Survey Technique for Eliminating Evasive Answer Bias",
//!   JASA 60(309), 1965.
//! - Kairouz, Oh & Viswanath, "Extremal Mechanisms for Local Differential Privacy", NeurIPS
//!   2014, arXiv 1407.1338 (k-ary randomized response).

use super::{Mechanism, Sensitivity, SensitivityNorm};
use crate::privacy::{check_epsilon, PrivacyCost};
use crate::rng::{uniform_index, SimRng};
use crate::{Error, Result};
use rand::RngExt;

/// Randomized response over the categories 0..k.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomizedResponse {
    k: usize,
    epsilon: f64,
}

impl RandomizedResponse {
    /// ε-DP randomized response on k ≥ 2 categories.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for k < 2 or ε not finite and positive.
    pub fn new(k: usize, epsilon: f64) -> Result<Self> {
        if k < 2 {
            return Err(Error::invalid("k", k, "needs at least 2 categories"));
        }
        Ok(RandomizedResponse {
            k,
            epsilon: check_epsilon(epsilon)?,
        })
    }

    /// Probability of reporting the true category, e^ε/(e^ε + k − 1).
    pub fn p_true(&self) -> f64 {
        // 1/(1 + (k − 1)e^{−ε}): no overflow for large ε.
        1.0 / (1.0 + (self.k as f64 - 1.0) * (-self.epsilon).exp())
    }

    /// Probability of reporting another category than the true one (all k − 1 together),
    /// (k − 1)/(e^ε + k − 1), computed as such: 1 − [`Self::p_true`] is 0 in f64 once
    /// e^ε passes 2⁵³(k − 1), where this is still e.g. 8.8·10⁻²⁷ at k = 2, ε = 60.
    pub fn p_other(&self) -> f64 {
        let r = (self.k as f64 - 1.0) * (-self.epsilon).exp();
        r / (1.0 + r)
    }

    /// One response for the true category `value`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when `value ≥ k`.
    pub fn respond(&self, value: usize, rng: &mut SimRng) -> Result<usize> {
        if value >= self.k {
            return Err(Error::invalid(
                "value",
                value,
                format!("categories are 0..{}", self.k),
            ));
        }
        if rng.random::<f64>() < self.p_true() {
            Ok(value)
        } else {
            // A uniform other category.
            let j = uniform_index(rng, self.k - 1);
            Ok(if j >= value { j + 1 } else { j })
        }
    }
}

impl Mechanism for RandomizedResponse {
    fn name(&self) -> &'static str {
        "randomized_response"
    }
    fn sensitivity(&self) -> Sensitivity {
        Sensitivity {
            norm: SensitivityNorm::Categorical,
            value: 1.0,
        }
    }
    fn guarantee(&self) -> PrivacyCost {
        PrivacyCost::Pure {
            epsilon: self.epsilon,
        }
    }
    /// Each entry must be a category index 0..k written as an f64.
    fn privatize(&self, x: &mut [f64], rng: &mut SimRng) -> Result<()> {
        for v in x.iter_mut() {
            if !(v.fract() == 0.0 && *v >= 0.0 && *v < self.k as f64) {
                return Err(Error::invalid(
                    "value",
                    *v,
                    format!("categories are the integers 0..{}", self.k),
                ));
            }
            *v = self.respond(*v as usize, rng)? as f64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;

    #[test]
    fn probabilities_known_answer() {
        // k = 2, ε = ln 3: p = 3/(3 + 1) = 0.75.
        let rr = RandomizedResponse::new(2, 3f64.ln()).unwrap();
        assert!((rr.p_true() - 0.75).abs() < 1e-15);
        // The likelihood ratio p / ((1 − p)/(k − 1)) is exactly e^ε.
        let rr = RandomizedResponse::new(5, 1.3).unwrap();
        let p = rr.p_true();
        assert!((p / ((1.0 - p) / 4.0) - 1.3f64.exp()).abs() < 1e-12);
        assert!((rr.p_other() - (1.0 - p)).abs() < 1e-15);
        // ε = 60, k = 2: e^−60/(1 + e^−60) = 8.7565e-27 (e^−60 = 8.75651076269652e-27, and
        // the 1 + e^−60 is 1 in f64), where 1 − p_true is 0.
        let rr = RandomizedResponse::new(2, 60.0).unwrap();
        assert_eq!(1.0 - rr.p_true(), 0.0);
        assert!((rr.p_other() / 8.75651076269652e-27 - 1.0).abs() < 1e-13);
        assert!(RandomizedResponse::new(1, 1.0).is_err());
        assert!(rr.respond(5, &mut rng_from_seed(0)).is_err());
        assert!(rr.privatize(&mut [0.5], &mut rng_from_seed(0)).is_err());
    }

    #[test]
    fn response_frequencies_pass_chi_square() {
        // χ² goodness of fit, k − 1 = 4 degrees of freedom, significance 0.001: critical
        // value 18.467 (χ²₄ quantile 0.999).
        let rr = RandomizedResponse::new(5, 1.0).unwrap();
        let mut rng = rng_from_seed(21);
        let n = 50_000;
        let mut counts = [0usize; 5];
        for _ in 0..n {
            counts[rr.respond(2, &mut rng).unwrap()] += 1;
        }
        let p = rr.p_true();
        let chi2: f64 = counts
            .iter()
            .enumerate()
            .map(|(j, &c)| {
                let e = n as f64 * if j == 2 { p } else { (1.0 - p) / 4.0 };
                (c as f64 - e).powi(2) / e
            })
            .sum();
        assert!(chi2 < 18.467, "chi2 {chi2}, counts {counts:?}");
    }
}
