//! Robust aggregation against Byzantine users: the experiment behind `lbounds simulate`.
//!
//! One run samples a population, lets the attack see the honest updates (and the defence),
//! appends the f Byzantine updates after the honest ones (ByzFL's order), runs the defence and
//! measures how far its output lands from the truth and from the honest mean.

use super::Experiment;
use crate::aggregators::{AggContext, PipelineSpec, StepSpec};
use crate::attacks::{self, AttackContext};
use crate::data::population::{Population, PopulationConfig};
use crate::data::{sq_dist, sq_norm};
use crate::params::Compat;
use crate::rng::SimRng;
use crate::Result;
use serde::{Deserialize, Serialize};

/// A grid point: which defence faces which attack on which population.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobustPoint {
    /// How honest users and the Byzantine count are drawn.
    pub population: PopulationConfig,
    /// Pre-aggregators and rule run by the server.
    pub defence: PipelineSpec,
    /// What the Byzantine users send (ignored when the population has f = 0).
    pub attack: StepSpec,
    /// Native or ByzFL semantics for every name.
    #[serde(default)]
    pub compat: Compat,
}

impl RobustPoint {
    /// Checks that every name builds and every step accepts the population's n and f, so a
    /// sweep fails (or skips the point) before any work.
    ///
    /// # Errors
    /// The first build or requirement error.
    pub fn check(&self) -> Result<()> {
        self.population.validate()?;
        let pipeline = self.defence.build(self.compat)?;
        attacks::build(&self.attack.name, &self.attack.params, self.compat)?;
        pipeline.check_n(self.population.n)
    }
}

/// What one run measured. Norms are Euclidean.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RobustMetrics {
    /// ‖F(x) − μ‖: distance to the population mean the honest users are drawn around.
    pub error: f64,
    /// ‖F(x) − x̄_H‖: distance to the mean of the honest updates of this run.
    pub error_to_honest_mean: f64,
    /// Empirical κ̂ = ‖F(x) − x̄_H‖² / ((1/|H|) Σ_{i∈H} ‖xᵢ − x̄_H‖²) (Allouah et al. 2023).
    pub kappa_hat: f64,
    /// (1/|H|) Σ_{i∈H} ‖xᵢ − x̄_H‖²: the spread of the honest updates.
    pub honest_variance: f64,
    /// Measured heterogeneity G² = (1/|H|) Σ_{i∈H} ‖μᵢ − μ̄_H‖² over the honest users' means.
    pub g2: f64,
    /// Number of Byzantine users in this run.
    pub f: usize,
}

/// A run's outcome: metrics, or why there are none (e.g. a rule undefined on the `inf`
/// attack's infinite vectors, or an aggregate that is not finite).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RobustOutcome {
    /// The run produced a finite aggregate.
    Ok(RobustMetrics),
    /// The run produced no finite aggregate.
    Failed {
        /// What went wrong.
        reason: String,
    },
    /// The defence cannot run at this n and f (e.g. Krum needs n > 2f + 2); nothing ran.
    /// Sweeps record such points instead of failing, so a grid over the Byzantine fraction
    /// shows where each rule stops being defined.
    NotApplicable {
        /// The unmet requirement.
        reason: String,
    },
}

/// The robust-aggregation experiment (stateless; all parameters are in the point).
#[derive(Clone, Copy, Debug, Default)]
pub struct RobustAggregation;

impl Experiment for RobustAggregation {
    type Point = RobustPoint;
    type Output = RobustOutcome;

    fn run_once(&self, p: &RobustPoint, rng: &mut SimRng) -> Result<RobustOutcome> {
        let pipeline = p.defence.build(p.compat)?;
        let attack = attacks::build(&p.attack.name, &p.attack.params, p.compat)?;
        match pipeline.check_n(p.population.n) {
            Ok(()) => {}
            Err(e @ crate::Error::TooFewInputs { .. }) => {
                return Ok(RobustOutcome::NotApplicable {
                    reason: e.to_string(),
                })
            }
            Err(e) => return Err(e),
        }
        let pop = Population::sample(&p.population, rng)?;
        let honest = pop.honest_updates();
        let f = pop.f();
        let x = if f > 0 {
            let mut acx = AttackContext {
                rng: &mut *rng,
                defence: Some(&pipeline),
            };
            let byz = attack.corrupt(honest.view(), f, &mut acx)?;
            honest.concat(&byz)?
        } else {
            honest.clone()
        };
        let out = match pipeline.run(x.view(), &mut AggContext::new(rng)) {
            Ok(out) => out,
            // Rules undefined on infinite input say so; that is a finding, not a crash.
            Err(crate::Error::NonFinite { what, detail }) => {
                return Ok(RobustOutcome::Failed {
                    reason: format!("{what}: {detail}"),
                })
            }
            Err(e) => return Err(e),
        };
        if !out.iter().all(|v| v.is_finite()) {
            return Ok(RobustOutcome::Failed {
                reason: "the aggregate is not finite".into(),
            });
        }
        let hv = honest.view();
        let honest_mean = hv.mean();
        let honest_variance = hv
            .cols()
            .map(|c| sq_dist(c, honest_mean.as_slice()))
            .sum::<f64>()
            / hv.n() as f64;
        let to_honest = sq_dist(out.as_slice(), honest_mean.as_slice());
        let mu = pop.population_mean();
        let diff: Vec<f64> = out.iter().zip(mu.iter()).map(|(a, b)| a - b).collect();
        Ok(RobustOutcome::Ok(RobustMetrics {
            error: sq_norm(&diff).sqrt(),
            error_to_honest_mean: to_honest.sqrt(),
            kappa_hat: if honest_variance > 0.0 {
                to_honest / honest_variance
            } else {
                0.0
            },
            honest_variance,
            g2: pop.measured_g2(),
            f,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_for;

    fn point() -> RobustPoint {
        RobustPoint {
            population: PopulationConfig {
                n: 12,
                d: 3,
                byzantine_fraction: 0.25,
                ..PopulationConfig::default()
            },
            defence: PipelineSpec {
                rule: StepSpec::named("median"),
                pre: vec![],
            },
            attack: StepSpec::named("sign_flipping"),
            compat: Compat::Native,
        }
    }

    #[test]
    fn misspelled_keys_are_rejected() {
        let good = serde_json::to_value(point()).unwrap();
        let back: RobustPoint = serde_json::from_value(good.clone()).unwrap();
        assert_eq!(back, point());
        let mut bad = good.clone();
        bad["attak"] = bad["attack"].take();
        assert!(serde_json::from_value::<RobustPoint>(bad).is_err());
        let mut bad = good;
        bad["defence"]["rule"]["parmas"] = serde_json::json!({});
        assert!(serde_json::from_value::<RobustPoint>(bad).is_err());
    }

    #[test]
    fn one_run_measures_what_it_says() {
        let p = point();
        p.check().unwrap();
        let out = RobustAggregation
            .run_once(&p, &mut rng_for(1, 0, 0).unwrap())
            .unwrap();
        let RobustOutcome::Ok(m) = out else {
            panic!("median on finite input must succeed")
        };
        // f = ⌊0.25·12⌋ = 3; κ̂ is the squared distance to the honest mean over the honest
        // variance, so it is consistent with the two reported norms.
        assert_eq!(m.f, 3);
        let kappa = m.error_to_honest_mean.powi(2) / m.honest_variance;
        assert!((m.kappa_hat - kappa).abs() <= 1e-12 * kappa.max(1.0));
        // Same stream, same bytes.
        let again = RobustAggregation
            .run_once(&p, &mut rng_for(1, 0, 0).unwrap())
            .unwrap();
        assert_eq!(RobustOutcome::Ok(m), again);
    }

    #[test]
    fn inapplicable_rules_are_caught_before_running() {
        let mut p = point();
        p.defence.rule = StepSpec::named("bulyan");
        p.defence.rule.params.set("f", 3.0);
        assert!(matches!(p.check(), Err(crate::Error::TooFewInputs { .. })));
    }
}
