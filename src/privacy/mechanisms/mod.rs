//! Noise-adding mechanisms, each carrying its sensitivity and its guarantee as data.
//!
//! A mechanism is built for a sensitivity Δ and a privacy target; [`Mechanism::privatize`]
//! adds noise in place to a value whose sensitivity (under the relation the caller uses) is at
//! most Δ, and [`Mechanism::guarantee`] is the [`PrivacyCost`] of one call. Composition is the
//! accountants' job ([`super::accounting`]).

/// Implements [`Mechanism`] (under the snake_case `$name`) and the `sigma()` accessor for an
/// (ε, δ)-DP Gaussian-noise type with fields `sensitivity` (Δ₂), `epsilon`, `delta` and
/// `sigma`: every call adds N(0, σ²) independently to each coordinate. The types differ only
/// in how σ is calibrated.
macro_rules! gaussian_noise_mechanism {
    ($ty:ty, $name:literal) => {
        impl $ty {
            /// The noise standard deviation σ.
            pub fn sigma(&self) -> f64 {
                self.sigma
            }
        }

        impl $crate::privacy::mechanisms::Mechanism for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn sensitivity(&self) -> $crate::privacy::mechanisms::Sensitivity {
                $crate::privacy::mechanisms::Sensitivity {
                    norm: $crate::privacy::mechanisms::SensitivityNorm::L2,
                    value: self.sensitivity,
                }
            }
            fn guarantee(&self) -> $crate::privacy::PrivacyCost {
                $crate::privacy::PrivacyCost::Approx {
                    epsilon: self.epsilon,
                    delta: self.delta,
                }
            }
            fn privatize(
                &self,
                x: &mut [f64],
                rng: &mut $crate::rng::SimRng,
            ) -> $crate::Result<()> {
                use rand::RngExt as _;
                for v in x.iter_mut() {
                    *v += self.sigma * rng.sample::<f64, _>(rand_distr::StandardNormal);
                }
                Ok(())
            }
        }
    };
}

pub mod analytic_gaussian;
pub mod gaussian;
pub mod laplace;
pub mod randomized_response;

pub use analytic_gaussian::AnalyticGaussian;
pub use gaussian::Gaussian;
pub use laplace::Laplace;
pub use randomized_response::RandomizedResponse;

use super::PrivacyCost;
use crate::rng::SimRng;
use crate::Result;
use serde::{Deserialize, Serialize};

/// The norm in which a sensitivity is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensitivityNorm {
    /// ℓ1 (Laplace).
    L1,
    /// ℓ2 (Gaussian).
    L2,
    /// A categorical value that may change arbitrarily (randomized response).
    Categorical,
}

/// How much one neighbour can move the value a mechanism privatizes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sensitivity {
    /// Which norm.
    pub norm: SensitivityNorm,
    /// Δ > 0 in that norm (1 for categorical values).
    pub value: f64,
}

/// A randomized mechanism with its sensitivity and guarantee as data.
pub trait Mechanism: Send + Sync {
    /// Stable snake_case name.
    fn name(&self) -> &'static str;
    /// The sensitivity the noise is calibrated to.
    fn sensitivity(&self) -> Sensitivity;
    /// The privacy cost of one call of [`Mechanism::privatize`].
    fn guarantee(&self) -> PrivacyCost;
    /// Privatizes `x` in place. The caller guarantees that `x`'s sensitivity is at most
    /// [`Mechanism::sensitivity`].
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `x` is not in the mechanism's domain (e.g. a
    /// category out of range for randomized response).
    fn privatize(&self, x: &mut [f64], rng: &mut SimRng) -> Result<()>;
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::Mechanism;
    use crate::rng::rng_from_seed;

    /// Privatizes 20 000 zeros with `m` (stream `seed`) and asserts that the noise passes a
    /// KS test at significance 0.001 against `cdf`.
    pub fn assert_noise_follows(m: &impl Mechanism, seed: u64, cdf: impl Fn(f64) -> f64) {
        let mut x = vec![0.0; 20_000];
        // invariant: numeric mechanisms accept every finite input.
        m.privatize(&mut x, &mut rng_from_seed(seed)).unwrap();
        let n = x.len();
        let d = ks_statistic(&mut x, cdf);
        assert!(d < ks_critical_001(n), "KS {d}");
    }

    /// Kolmogorov–Smirnov statistic sup |F_n − F| of `xs` against `cdf`.
    pub fn ks_statistic(xs: &mut [f64], cdf: impl Fn(f64) -> f64) -> f64 {
        xs.sort_by(f64::total_cmp);
        let n = xs.len() as f64;
        xs.iter()
            .enumerate()
            .map(|(i, &x)| {
                let f = cdf(x);
                (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
            })
            .fold(0.0, f64::max)
    }

    /// Asymptotic KS critical value at significance 0.001: 1.9495/√n (Smirnov's limit,
    /// K⁻¹(0.999) = 1.94947).
    pub fn ks_critical_001(n: usize) -> f64 {
        1.949_47 / (n as f64).sqrt()
    }
}
