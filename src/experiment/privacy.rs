//! Privacy experiments behind `lbounds privacy mean` and `lbounds privacy sgd`.
//!
//! - [`DpMean`]: one run samples a population (honest users only; Byzantine users are
//!   ignored here) and estimates the population mean μ·**1** from the records with the three
//!   DP estimators of [`crate::privacy::estimators`] plus the non-private mean of all
//!   records, reporting squared errors next to the Cai–Wang–Zhang rate (P1).
//! - [`DpSgd`]: one run samples a population, labels its records with a random linear model
//!   and trains linear or logistic regression with DP-SGD, reporting loss and ε per epoch.

use super::Experiment;
use crate::data::noise::Noise;
use crate::data::population::{Population, PopulationConfig, RecordsPerUser};
use crate::privacy::estimators::{
    cai_wang_zhang_rate, check_estimate, coinpress_mean, gaussian_radius, known_range_mean,
    sq_error, user_level_mean, user_means,
};
use crate::privacy::sgd::{dp_sgd, Dataset, EpochReport, Model, SgdConfig};
use crate::privacy::{check_delta, check_epsilon};
use crate::rng::SimRng;
use crate::{Error, Result};
use rand::RngExt;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// Failure probability of the clipping radii (each record inside its ball w.p. ≥ 1 − β).
pub const CLIP_BETA: f64 = 0.01;

/// A DP-mean grid point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeanPoint {
    /// The population (Gaussian noise, fixed records per user m).
    pub population: PopulationConfig,
    /// Target ε > 0 of every estimator.
    pub epsilon: f64,
    /// Target δ ∈ (0, 1).
    pub delta: f64,
    /// Public bound R ≥ ‖μ·1‖ on the mean's norm: the known range is B(0, R) (and CoinPress'
    /// starting ball).
    pub range: f64,
    /// CoinPress iterations t ≥ 1.
    pub coinpress_steps: usize,
}

impl MeanPoint {
    /// Per-coordinate std σ_u = √(σ²/m + G²/d) of one user's mean around μ: the mean of m
    /// records N(μ_i, σ²) plus the user's own offset μ_i − μ with E‖μ_i − μ‖² = G² (the
    /// config's `heterogeneity`). The user-level estimators and the user-level P1 order use it.
    pub fn user_sigma(&self, sigma: f64, m: usize) -> f64 {
        (sigma * sigma / m as f64 + self.population.heterogeneity / self.population.d as f64).sqrt()
    }

    /// Record noise σ and records per user m, checking the point's hypotheses.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a non-Gaussian population, Zipf sizes, ε ≤ 0, δ ∉
    /// (0, 1), R ≤ 0, R < ‖μ·1‖, zero CoinPress steps or more than
    /// [`crate::params::MAX_ITERATIONS`].
    pub fn check(&self) -> Result<(f64, usize)> {
        self.population.validate()?;
        check_epsilon(self.epsilon)?;
        check_delta(self.delta)?;
        crate::error::check_positive("range", self.range)?;
        if self.coinpress_steps == 0 {
            return Err(Error::invalid("coinpress_steps", 0, "must be >= 1"));
        }
        if self.coinpress_steps > crate::params::MAX_ITERATIONS {
            // The first T − 1 steps share a quarter of ρ, so beyond a few dozen the estimate
            // only degrades; 10¹² steps aborted allocating their budgets.
            return Err(Error::invalid(
                "coinpress_steps",
                self.coinpress_steps,
                format!(
                    "iteration counts are capped at {} (CoinPress splits the budget between its steps; a few suffice)",
                    crate::params::MAX_ITERATIONS
                ),
            ));
        }
        let sigma = match self.population.noise {
            Noise::Gaussian { sigma } if sigma > 0.0 => sigma,
            other => {
                return Err(Error::invalid(
                    "noise",
                    format!("{other:?}"),
                    "DP mean estimation here assumes Gaussian records with sigma > 0",
                ))
            }
        };
        let m = match self.population.records {
            RecordsPerUser::Fixed { m } => m,
            RecordsPerUser::Zipf { .. } => {
                return Err(Error::invalid(
                    "records",
                    "zipf",
                    "user-level DP here assumes m records per user",
                ))
            }
        };
        let norm = self.population.mean.abs() * (self.population.d as f64).sqrt();
        if norm > self.range {
            return Err(Error::invalid(
                "range",
                self.range,
                format!("the known range must contain the mean: ||mu|| = {norm}"),
            ));
        }
        Ok((sigma, m))
    }
}

/// Squared errors ‖μ̂ − μ·1‖² of one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MeanErrors {
    /// The plain mean of all records (no privacy).
    pub nonprivate: f64,
    /// Clipped Gaussian mean with known range, record-level DP.
    pub known_range: f64,
    /// CoinPress, unknown range (starting ball B(0, R)), record-level DP.
    pub coinpress: f64,
    /// CoinPress on the user means (noise σ/√m, plus heterogeneity), user-level DP.
    pub user_level: f64,
    /// Clipped Gaussian mean of user means with the known range, user-level DP.
    pub user_level_known_range: f64,
    /// Number of records N = n_users·m.
    pub records: usize,
    /// Number of honest users.
    pub users: usize,
    /// P1 order σ²(d/N + d²ln(1/δ)/(N²ε²)) for record-level DP.
    pub p1_record_level: f64,
    /// The same order for user-level DP: n users whose means have per-coordinate std
    /// σ_u = √(σ²/m + G²/d) ([`MeanPoint::user_sigma`]).
    pub p1_user_level: f64,
}

/// The DP mean estimation experiment (stateless).
#[derive(Clone, Copy, Debug, Default)]
pub struct DpMean;

impl Experiment for DpMean {
    type Point = MeanPoint;
    type Output = MeanErrors;

    fn run_once(&self, p: &MeanPoint, rng: &mut SimRng) -> Result<MeanErrors> {
        let (sigma, m) = p.check()?;
        let pop = Population::sample(&p.population, rng)?;
        let d = pop.d();
        let truth = pop.population_mean();
        let truth = truth.as_slice();
        let users: Vec<Vec<&[f64]>> = pop
            .users()
            .map(|u| u.records().map(|r| r.values).collect())
            .collect();
        let records: Vec<&[f64]> = users.iter().flatten().copied().collect();
        let (n_rec, n_users) = (records.len(), users.len());
        // Heterogeneity spreads user means by about G around μ: add 2G to every radius.
        let spread = 2.0 * p.population.heterogeneity.sqrt();
        let center = vec![0.0; d];
        let mut plain = vec![0.0; d];
        for r in &records {
            for (a, b) in plain.iter_mut().zip(*r) {
                *a += b;
            }
        }
        plain.iter_mut().for_each(|v| *v /= n_rec as f64);
        let c_rec = p.range + spread + sigma * gaussian_radius(d, CLIP_BETA / n_rec as f64);
        let kr = known_range_mean(&records, &center, c_rec, p.epsilon, p.delta, rng)?;
        let cp = coinpress_mean(
            &records,
            &center,
            p.range + spread,
            sigma,
            p.coinpress_steps,
            p.epsilon,
            p.delta,
            rng,
        )?;
        let c_user = p.range
            + spread
            + sigma / (m as f64).sqrt() * gaussian_radius(d, CLIP_BETA / n_users as f64);
        let ul_kr = user_level_mean(&users, &center, c_user, p.epsilon, p.delta, rng)?;
        let means = user_means(&users, d)?;
        let mrefs: Vec<&[f64]> = means.iter().map(Vec::as_slice).collect();
        let sigma_u = p.user_sigma(sigma, m);
        let ul = coinpress_mean(
            &mrefs,
            &center,
            p.range,
            sigma_u,
            p.coinpress_steps,
            p.epsilon,
            p.delta,
            rng,
        )?;
        for est in [&kr, &cp, &ul, &ul_kr] {
            check_estimate(est)?;
        }
        Ok(MeanErrors {
            nonprivate: sq_error(&plain, truth),
            known_range: sq_error(&kr, truth),
            coinpress: sq_error(&cp, truth),
            user_level: sq_error(&ul, truth),
            user_level_known_range: sq_error(&ul_kr, truth),
            records: n_rec,
            users: n_users,
            p1_record_level: cai_wang_zhang_rate(sigma, d, n_rec, p.epsilon, p.delta)?,
            // The same σ_u as the user-level estimators it is compared with.
            p1_user_level: cai_wang_zhang_rate(sigma_u, d, n_users, p.epsilon, p.delta)?,
        })
    }
}

/// A DP-SGD grid point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgdPoint {
    /// The population whose honest records are the examples.
    pub population: PopulationConfig,
    /// Training settings.
    pub sgd: SgdConfig,
    /// Standard deviation of the label noise (linear model only).
    pub label_noise: f64,
}

/// One DP-SGD run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SgdOutput {
    /// Loss and ε after each epoch.
    pub epochs: Vec<EpochReport>,
    /// ‖θ − w*‖ to the labelling model.
    pub param_error: f64,
    /// Mean loss of the labelling model w* itself (the noise floor).
    pub loss_of_truth: f64,
    /// Number of examples.
    pub examples: usize,
}

/// The DP-SGD experiment (stateless).
#[derive(Clone, Copy, Debug, Default)]
pub struct DpSgd;

impl Experiment for DpSgd {
    type Point = SgdPoint;
    type Output = SgdOutput;

    fn run_once(&self, p: &SgdPoint, rng: &mut SimRng) -> Result<SgdOutput> {
        p.sgd.validate()?;
        crate::error::check_non_negative("label_noise", p.label_noise)?;
        let pop = Population::sample(&p.population, rng)?;
        let d = pop.d();
        // w* uniform on the unit sphere.
        let mut w: Vec<f64> = (0..d)
            .map(|_| rng.sample::<f64, _>(StandardNormal))
            .collect();
        let nw = w.iter().map(|v| v * v).sum::<f64>().sqrt();
        w.iter_mut().for_each(|v| *v /= nw);
        let rows: Vec<&[f64]> = pop
            .users()
            .flat_map(|u| u.records().map(|r| r.values))
            .collect();
        let y: Vec<f64> = rows
            .iter()
            .map(|x| {
                let z: f64 = x.iter().zip(&w).map(|(a, b)| a * b).sum();
                match p.sgd.model {
                    Model::Linear => z + p.label_noise * rng.sample::<f64, _>(StandardNormal),
                    Model::Logistic => {
                        let pr = 1.0 / (1.0 + (-z).exp());
                        f64::from(u8::from(rng.random::<f64>() < pr))
                    }
                }
            })
            .collect();
        let data = Dataset::new(&rows, y)?;
        let trained = dp_sgd(&data, &p.sgd, rng)?;
        Ok(SgdOutput {
            param_error: sq_error(&trained.theta, &w).sqrt(),
            loss_of_truth: data.loss(p.sgd.model, &w),
            examples: data.n(),
            epochs: trained.epochs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_for;

    fn mean_point(eps: f64) -> MeanPoint {
        MeanPoint {
            population: PopulationConfig {
                n: 200,
                d: 5,
                mean: 1.0,
                records: RecordsPerUser::Fixed { m: 5 },
                ..PopulationConfig::default()
            },
            epsilon: eps,
            delta: 1e-6,
            range: 10.0,
            coinpress_steps: 3,
        }
    }

    #[test]
    fn dp_mean_errors_shrink_with_epsilon() {
        // Averaged over 10 runs, ε = 10 beats ε = 0.1 for every private estimator.
        let avg = |eps: f64| {
            let mut s = [0.0; 4];
            for r in 0..10 {
                let o = DpMean
                    .run_once(&mean_point(eps), &mut rng_for(3, 0, r).unwrap())
                    .unwrap();
                s[0] += o.known_range;
                s[1] += o.coinpress;
                s[2] += o.user_level;
                s[3] += o.user_level_known_range;
            }
            s
        };
        let (lo, hi) = (avg(0.1), avg(10.0));
        for k in 0..4 {
            assert!(hi[k] < lo[k], "{k}: {hi:?} vs {lo:?}");
        }
    }

    #[test]
    fn p1_user_level_uses_the_user_level_sigma() {
        // sigma = 1 (default noise), m = 5, G^2 = 2.5, d = 5: sigma_u^2 = 1/5 + 2.5/5 = 0.7
        // (by hand). The P1 order at user level is evaluated at sigma_u, like the CoinPress
        // user-level estimator it is plotted against, in the run and in the sweep's bounds.
        let mut p = mean_point(1.0);
        p.population.heterogeneity = 2.5;
        let (sigma, m) = p.check().unwrap();
        assert!((p.user_sigma(sigma, m) - 0.7f64.sqrt()).abs() < 1e-15);
        let want = cai_wang_zhang_rate(0.7f64.sqrt(), 5, 200, 1.0, 1e-6).unwrap();
        let o = DpMean.run_once(&p, &mut rng_for(3, 0, 0).unwrap()).unwrap();
        assert!(
            (o.p1_user_level - want).abs() <= 1e-15 * want,
            "{}",
            o.p1_user_level
        );
        let b = crate::experiment::sweep::dp_mean_bounds(&p).unwrap();
        assert!((b.p1_user_level - want).abs() <= 1e-15 * want);
    }

    #[test]
    fn dp_mean_refuses_bad_points() {
        let mut p = mean_point(1.0);
        p.range = 1.0; // ‖μ‖ = √5 > 1
        assert!(p.check().is_err());
        let mut p = mean_point(1.0);
        p.population.noise = Noise::StudentT {
            nu: 3.0,
            scale: 1.0,
        };
        assert!(p.check().is_err());
        assert!(mean_point(0.0).check().is_err());
    }

    #[test]
    fn dp_sgd_run_reports_every_epoch() {
        let p = SgdPoint {
            population: PopulationConfig {
                n: 20,
                d: 3,
                records: RecordsPerUser::Fixed { m: 5 },
                ..PopulationConfig::default()
            },
            sgd: SgdConfig {
                model: Model::Logistic,
                epochs: 3,
                sample_rate: 0.1,
                learning_rate: 0.5,
                clip: Some(1.0),
                noise_multiplier: 1.0,
                delta: 1e-5,
            },
            label_noise: 0.0,
        };
        let o = DpSgd.run_once(&p, &mut rng_for(1, 0, 0).unwrap()).unwrap();
        assert_eq!(o.epochs.len(), 3);
        assert_eq!(o.examples, 100);
        assert!(o.epochs.iter().all(|e| e.epsilon.unwrap() > 0.0));
    }
}
