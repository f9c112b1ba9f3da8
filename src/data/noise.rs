//! Within-user noise: the distribution of one record's coordinates around its user's mean.
//!
//! A record of user i is `μ_i + ξ` where the d coordinates of ξ are i.i.d. draws from one of
//! the families below, each centred so that E ξ_j = 0 (the user's mean μ_i really is the mean
//! of its records). Every family has a scale parameter; a scale of 0 makes every record equal
//! to its user's mean.
//!
//! | family | draw | variance per coordinate | tails |
//! |---|---|---|---|
//! | [`Noise::Gaussian`] | σ·Z | σ² | light |
//! | [`Noise::StudentT`] | scale·T_ν, ν > 1 | scale²·ν/(ν−2) for ν > 2, **infinite** for 1 < ν ≤ 2 | P(\|X\| > x) ∝ x^{−ν} |
//! | [`Noise::LogNormal`] | e^{σZ} − e^{σ²/2} | (e^{σ²} − 1)·e^{σ²} | right-skewed, all moments finite |
//! | [`Noise::Pareto`] | ±P, P ~ Pareto(scale, α), α > 1 | α·scale²/(α−2) for α > 2, **infinite** for 1 < α ≤ 2 | P(\|X\| > x) = (scale/x)^α, x ≥ scale |
//!
//! Heavy tails matter for robust aggregation: under an η-fraction of contamination, the best
//! error for a distribution whose k-th central moment is bounded by σ_k^k is of order
//! σ_k·η^{1−1/k} (σ·√η with a variance, k = 2), and the sample mean of m records of a
//! distribution with only k ∈ (1, 2) moments concentrates at rate m^{−(1−1/k)} instead of
//! m^{−1/2}. ν and α are both restricted to values > 1 so that the mean exists and μ_i stays
//! the estimation target.
//!
//! **Pareto noise is symmetric**: the magnitude is a classical Pareto draw with minimum
//! `scale` and the sign is a fair coin, so the mean is 0 by symmetry (no centring constant)
//! and μ_i is also every coordinate's median. Skewness is the job of [`Noise::LogNormal`]; a
//! symmetric power law isolates the effect of the tail index from that of the asymmetry.
//! The magnitudes are at least `scale` (an empty band (−scale, scale)).
//!
//! Draw order (part of the reproducibility contract): one draw per coordinate, coordinates in
//! order. Gaussian and log-normal use one `rand_distr::StandardNormal` draw, Student-t one
//! `rand_distr::StudentT` draw (a normal then a chi-square), Pareto one `rand_distr::Pareto`
//! draw for the magnitude followed by one `bool` for the sign. Draws are made even when the
//! scale is 0, so the stream position never depends on the scale.
//!
//! # References
//! - Lugosi & Mendelson, "Mean estimation and regression under heavy-tailed distributions: A
//!   survey", Foundations of Computational Mathematics 2019, arXiv 1906.04280.
//! - El-Mhamdi, Farhadkhani, Guerraoui, Gupta, Hoang, Pinot, Rouault & Stephan, "On the
//!   Impossible Safety of Large AI Models", 2022, arXiv 2209.15259 (heavy-tailed user data as a
//!   source of the impossibility).

use crate::data::population::MAX_SCALE;
use crate::error::check_non_negative;
use crate::rng::SimRng;
use crate::{Error, Result};
use rand::RngExt;
use rand_distr::{Pareto, StandardNormal, StudentT};
use serde::{Deserialize, Serialize};

/// Largest log-normal σ accepted: the variance (e^{σ²} − 1)·e^{σ²} overflows f64 from
/// σ ≈ 18.84 on (e^{2σ²} > 1.8·10³⁰⁸).
pub const MAX_LOGNORMAL_SIGMA: f64 = 18.0;

/// The distribution of each record coordinate around its user's mean (always mean 0).
///
/// Serialised with a `kind` tag, e.g. `{"kind": "student_t", "nu": 3, "scale": 1}`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Noise {
    /// N(0, σ²) per coordinate.
    Gaussian {
        /// Standard deviation σ ≥ 0.
        sigma: f64,
    },
    /// `scale`·T_ν per coordinate (Student's t with ν degrees of freedom).
    StudentT {
        /// Degrees of freedom ν > 1 (finite mean); the variance is infinite for ν ≤ 2.
        nu: f64,
        /// Multiplier ≥ 0 (not the standard deviation: sd = scale·√(ν/(ν−2)) for ν > 2).
        scale: f64,
    },
    /// e^{σZ} − e^{σ²/2} per coordinate, Z ~ N(0, 1): a log-normal shifted to mean 0.
    LogNormal {
        /// Log-space standard deviation, 0 ≤ σ ≤ [`MAX_LOGNORMAL_SIGMA`].
        sigma: f64,
    },
    /// A symmetric Pareto draw: a fair random sign times Pareto(`scale`, α).
    Pareto {
        /// Tail index α > 1 (finite mean); the variance is infinite for α ≤ 2.
        alpha: f64,
        /// Smallest magnitude x_m ≥ 0 (0 gives no noise).
        scale: f64,
    },
}

impl Default for Noise {
    /// Standard Gaussian noise, σ = 1.
    fn default() -> Self {
        Noise::Gaussian { sigma: 1.0 }
    }
}

impl Noise {
    /// Checks the parameters; error names are prefixed with `prefix` (e.g. `noise.sigma`).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a NaN/±∞ or negative scale, a scale above
    /// [`MAX_SCALE`] (the cap on a population's mean, for the same reason: the simulator
    /// squares and sums coordinates), ν ≤ 1, α ≤ 1, or a log-normal σ above
    /// [`MAX_LOGNORMAL_SIGMA`].
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let name = |k: &str| format!("{prefix}.{k}");
        // `--noise gaussian:sigma=1e300` ran and reported every error as inf, G² as 0 and κ̂
        // as NaN: its draws' squares overflow.
        let check_scale = |k: &str, x: f64| -> Result<()> {
            check_non_negative(&name(k), x)?;
            if x > MAX_SCALE {
                return Err(Error::invalid(
                    &name(k),
                    x,
                    format!(
                        "must be at most {MAX_SCALE:e}: the simulator squares and sums the \
                         draws, which overflows f64 beyond"
                    ),
                ));
            }
            Ok(())
        };
        match *self {
            Noise::Gaussian { sigma } => check_scale("sigma", sigma)?,
            Noise::StudentT { nu, scale } => {
                if !(nu.is_finite() && nu > 1.0) {
                    return Err(Error::invalid(
                        &name("nu"),
                        nu,
                        "must be finite and > 1 (the mean of Student's t exists only for nu > 1)",
                    ));
                }
                check_scale("scale", scale)?;
            }
            Noise::LogNormal { sigma } => {
                check_non_negative(&name("sigma"), sigma)?;
                if sigma > MAX_LOGNORMAL_SIGMA {
                    return Err(Error::invalid(
                        &name("sigma"),
                        sigma,
                        format!("must be <= {MAX_LOGNORMAL_SIGMA} (exp(sigma^2) overflows f64)"),
                    ));
                }
            }
            Noise::Pareto { alpha, scale } => {
                if !(alpha.is_finite() && alpha > 1.0) {
                    return Err(Error::invalid(
                        &name("alpha"),
                        alpha,
                        "must be finite and > 1 (the Pareto mean exists only for alpha > 1; \
                         the variance is infinite for alpha <= 2)",
                    ));
                }
                check_scale("scale", scale)?;
            }
        }
        Ok(())
    }

    /// Per-coordinate variance, `None` when it is infinite (Student-t ν ≤ 2, Pareto α ≤ 2).
    pub fn variance(&self) -> Option<f64> {
        match *self {
            Noise::Gaussian { sigma } => Some(sigma * sigma),
            Noise::StudentT { nu, scale } => (nu > 2.0).then(|| scale * scale * nu / (nu - 2.0)),
            Noise::LogNormal { sigma } => {
                let e = (sigma * sigma).exp();
                Some((e - 1.0) * e)
            }
            Noise::Pareto { alpha, scale } => {
                // E[P²] = α x_m²/(α−2) and the symmetric sign makes the mean 0.
                (alpha > 2.0).then(|| alpha * scale * scale / (alpha - 2.0))
            }
        }
    }

    /// Whether this is the Gaussian family (for closed forms such as the Gaussian lower bound).
    pub fn is_gaussian(&self) -> bool {
        matches!(self, Noise::Gaussian { .. })
    }

    /// A sampler with the distribution objects built once.
    ///
    /// # Errors
    /// As [`Noise::validate`] (prefix `noise`).
    pub fn sampler(&self) -> Result<NoiseSampler> {
        self.validate("noise")?;
        let kind = match *self {
            Noise::Gaussian { sigma } => Kind::Gaussian { sigma },
            Noise::StudentT { nu, scale } => Kind::StudentT {
                // invariant: nu > 1 was validated, and ChiSquared accepts every k > 0.
                dist: StudentT::new(nu).expect("invariant: nu > 1 validated"),
                scale,
            },
            Noise::LogNormal { sigma } => Kind::LogNormal {
                sigma,
                shift: (0.5 * sigma * sigma).exp(),
            },
            Noise::Pareto { alpha, scale } => Kind::Pareto {
                // invariant: scale 1 and alpha > 1 are both > 0 as Pareto::new requires.
                dist: Pareto::new(1.0, alpha).expect("invariant: alpha > 1 validated"),
                scale,
            },
        };
        Ok(NoiseSampler { kind })
    }
}

#[derive(Clone, Debug)]
enum Kind {
    Gaussian { sigma: f64 },
    StudentT { dist: StudentT<f64>, scale: f64 },
    LogNormal { sigma: f64, shift: f64 },
    Pareto { dist: Pareto<f64>, scale: f64 },
}

/// Draws centred noise from a validated [`Noise`] (see the module docs for the draw order).
#[derive(Clone, Debug)]
pub struct NoiseSampler {
    kind: Kind,
}

impl NoiseSampler {
    /// Overwrites `out` with i.i.d. noise draws, coordinate 0 first.
    pub fn fill(&self, rng: &mut SimRng, out: &mut [f64]) {
        match &self.kind {
            Kind::Gaussian { sigma } => {
                for x in out.iter_mut() {
                    let z: f64 = rng.sample(StandardNormal);
                    *x = sigma * z;
                }
            }
            Kind::StudentT { dist, scale } => {
                for x in out.iter_mut() {
                    *x = scale * rng.sample(dist);
                }
            }
            Kind::LogNormal { sigma, shift } => {
                for x in out.iter_mut() {
                    let z: f64 = rng.sample(StandardNormal);
                    *x = (sigma * z).exp() - shift;
                }
            }
            Kind::Pareto { dist, scale } => {
                for x in out.iter_mut() {
                    let p = scale * rng.sample(dist);
                    let negative: bool = rng.random();
                    *x = if negative { -p } else { p };
                }
            }
        }
    }

    /// `k` draws in a new vector.
    pub fn draw(&self, rng: &mut SimRng, k: usize) -> Vec<f64> {
        let mut v = vec![0.0; k];
        self.fill(rng, &mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;
    use statrs::distribution::{ContinuousCDF, Normal as SNormal, StudentsT};

    const N: usize = 200_000;

    /// Fraction of `xs` at most `t`.
    fn frac_le(xs: &[f64], t: f64) -> f64 {
        xs.iter().filter(|&&x| x <= t).count() as f64 / xs.len() as f64
    }

    /// Asserts an empirical frequency is within 5 binomial standard deviations of `p`
    /// (two-sided false-alarm rate ≈ 6e-7 per check for a fresh seed).
    fn assert_freq(emp: f64, p: f64, n: usize, what: &str) {
        let sd = (p * (1.0 - p) / n as f64).sqrt();
        assert!(
            (emp - p).abs() <= 5.0 * sd,
            "{what}: empirical {emp} vs {p} (5 sd = {})",
            5.0 * sd
        );
    }

    fn mean(xs: &[f64]) -> f64 {
        xs.iter().sum::<f64>() / xs.len() as f64
    }

    #[test]
    fn validation_rejects_bad_parameters() {
        let bad = [
            Noise::Gaussian { sigma: f64::NAN },
            Noise::Gaussian { sigma: -1.0 },
            Noise::Gaussian {
                sigma: f64::INFINITY,
            },
            Noise::StudentT {
                nu: 1.0,
                scale: 1.0,
            },
            Noise::StudentT {
                nu: 0.5,
                scale: 1.0,
            },
            Noise::StudentT {
                nu: f64::INFINITY,
                scale: 1.0,
            },
            Noise::StudentT {
                nu: 3.0,
                scale: -1.0,
            },
            Noise::LogNormal { sigma: -0.1 },
            Noise::LogNormal { sigma: 18.5 },
            Noise::Pareto {
                alpha: 1.0,
                scale: 1.0,
            },
            Noise::Pareto {
                alpha: 0.5,
                scale: 1.0,
            },
            Noise::Pareto {
                alpha: f64::NAN,
                scale: 1.0,
            },
            Noise::Pareto {
                alpha: 3.0,
                scale: f64::NAN,
            },
        ];
        for b in bad {
            assert!(b.validate("noise").is_err(), "{b:?} accepted");
            assert!(b.sampler().is_err());
        }
        let e = Noise::Pareto {
            alpha: 1.0,
            scale: 1.0,
        }
        .validate("noise")
        .unwrap_err()
        .to_string();
        assert!(e.contains("`noise.alpha` = 1"), "{e}");
        assert!(Noise::Gaussian { sigma: 0.0 }.validate("noise").is_ok());
        // Scales past MAX_SCALE, whose squares overflow in the simulator's sums (fails
        // without the cap: `gaussian:sigma=1e300` was accepted); MAX_SCALE itself passes.
        for (b, key) in [
            (Noise::Gaussian { sigma: 1e300 }, "sigma"),
            (
                Noise::StudentT {
                    nu: 3.0,
                    scale: 1.5e100,
                },
                "scale",
            ),
            (
                Noise::Pareto {
                    alpha: 3.0,
                    scale: f64::MAX,
                },
                "scale",
            ),
        ] {
            let e = b.validate("noise").unwrap_err().to_string();
            assert!(
                e.contains(&format!("`noise.{key}`")) && e.contains("at most 1e100"),
                "{e}"
            );
        }
        assert!(Noise::Gaussian { sigma: MAX_SCALE }
            .validate("noise")
            .is_ok());
    }

    #[test]
    fn variances_known_answers() {
        // σ² = 4.
        assert_eq!(Noise::Gaussian { sigma: 2.0 }.variance(), Some(4.0));
        // scale² ν/(ν−2) = 4·5/3.
        assert_eq!(
            Noise::StudentT {
                nu: 5.0,
                scale: 2.0
            }
            .variance(),
            Some(4.0 * 5.0 / 3.0)
        );
        assert_eq!(
            Noise::StudentT {
                nu: 2.0,
                scale: 1.0
            }
            .variance(),
            None
        );
        // α x_m²/(α−2) = 3·1/1 = 3.
        assert_eq!(
            Noise::Pareto {
                alpha: 3.0,
                scale: 1.0
            }
            .variance(),
            Some(3.0)
        );
        assert_eq!(
            Noise::Pareto {
                alpha: 1.5,
                scale: 1.0
            }
            .variance(),
            None
        );
        // (e^{0.25} − 1) e^{0.25} = 0.2840254·1.2840254 = 0.3646958.
        let v = Noise::LogNormal { sigma: 0.5 }.variance().unwrap();
        assert!((v - 0.364_695_8).abs() < 1e-6, "{v}");
    }

    #[test]
    fn gaussian_moments() {
        let s = Noise::Gaussian { sigma: 2.0 }.sampler().unwrap();
        let x = s.draw(&mut rng_from_seed(1), N);
        // Mean: sd 2/√N = 0.0045, tolerance 5 sd. Variance: sd of s² is σ²√(2/N) = 0.0126.
        assert!(mean(&x).abs() < 5.0 * 2.0 / (N as f64).sqrt());
        let var = x.iter().map(|v| v * v).sum::<f64>() / N as f64;
        assert!(
            (var - 4.0).abs() < 5.0 * 4.0 * (2.0 / N as f64).sqrt(),
            "{var}"
        );
    }

    #[test]
    fn student_t_quantiles_and_mean() {
        let (nu, scale) = (3.0, 2.0);
        let s = Noise::StudentT { nu, scale }.sampler().unwrap();
        let x = s.draw(&mut rng_from_seed(2), N);
        // CDF of scale·T_ν at t is F_ν(t/scale), from statrs.
        let t = StudentsT::new(0.0, 1.0, nu).unwrap();
        for q in [-10.0, -3.0, -1.0, 0.0, 0.5, 2.0, 6.0, 20.0] {
            assert_freq(
                frac_le(&x, q),
                t.cdf(q / scale),
                N,
                &format!("t cdf at {q}"),
            );
        }
        // Mean 0, variance scale²·3 = 12 (finite for ν = 3), but the fourth moment is
        // infinite, so only a loose mean check: Chebyshev at 1e-3 gives |mean| ≤
        // √(12/(N·1e-3)) = 0.245.
        assert!(mean(&x).abs() < 0.245, "{}", mean(&x));
    }

    #[test]
    fn pareto_tails_symmetry_and_mean() {
        let (alpha, scale) = (3.0, 0.5);
        let s = Noise::Pareto { alpha, scale }.sampler().unwrap();
        let x = s.draw(&mut rng_from_seed(3), N);
        assert!(x.iter().all(|v| v.abs() >= scale));
        // P(|X| > t) = (scale/t)^α for t ≥ scale.
        let abs: Vec<f64> = x.iter().map(|v| v.abs()).collect();
        for t in [0.6, 1.0, 2.0, 5.0] {
            let emp = 1.0 - frac_le(&abs, t);
            assert_freq(
                emp,
                (scale / t).powf(alpha),
                N,
                &format!("pareto tail at {t}"),
            );
        }
        // Fair sign.
        assert_freq(1.0 - frac_le(&x, 0.0), 0.5, N, "pareto sign");
        // Mean 0 with variance α scale²/(α−2) = 0.75; Chebyshev at 1e-3: |mean| ≤
        // √(0.75/(N·1e-3)) = 0.061.
        assert!(mean(&x).abs() < 0.061, "{}", mean(&x));
    }

    #[test]
    fn lognormal_is_centred() {
        let sigma = 0.5;
        let s = Noise::LogNormal { sigma }.sampler().unwrap();
        let x = s.draw(&mut rng_from_seed(4), N);
        let shift = (0.125f64).exp(); // e^{σ²/2} = 1.1331485
                                      // P(X ≤ t) = Φ(ln(t + shift)/σ).
        let phi = SNormal::new(0.0, 1.0).unwrap();
        for t in [-0.5, -0.1331485, 0.0, 1.0] {
            let p = phi.cdf((t + shift).ln() / sigma);
            assert_freq(frac_le(&x, t), p, N, &format!("lognormal cdf at {t}"));
        }
        // Variance 0.3647 (see variances_known_answers): mean sd = 0.00135, 5 sd = 0.0068.
        assert!(mean(&x).abs() < 0.0068, "{}", mean(&x));
    }

    #[test]
    fn zero_scale_gives_zeros_and_draws_anyway() {
        let s = Noise::Pareto {
            alpha: 2.0,
            scale: 0.0,
        }
        .sampler()
        .unwrap();
        let mut rng = rng_from_seed(5);
        assert!(s.draw(&mut rng, 10).iter().all(|&v| v == 0.0));
        let mut fresh = rng_from_seed(5);
        let _ = Noise::Pareto {
            alpha: 2.0,
            scale: 1.0,
        }
        .sampler()
        .unwrap()
        .draw(&mut fresh, 10);
        // Same stream position after 10 draws whatever the scale.
        use rand::Rng;
        assert_eq!(rng.next_u64(), fresh.next_u64());
    }
}
