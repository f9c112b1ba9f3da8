//! Robust aggregation against Byzantine users: the experiment behind `lbounds simulate`.
//!
//! One run samples a population, lets the attack see the honest updates (and the defence),
//! appends the f Byzantine updates after the honest ones (ByzFL's order), runs the defence and
//! measures how far its output lands from the truth and from the honest mean.
//!
//! # Common random numbers
//!
//! A run draws from three streams, each keyed by a name and never by a position in a list
//! ([`Streams`]): the honest population from `population`, the attack's own randomness from
//! `attack/LABEL` and the defence's from `rule/LABEL` (labels from [`step_label`] and
//! [`defence_label`]). Through the runner ([`Experiment::run_job`]) these are keyed by (seed,
//! replicate, name), so within a replicate every rule and attack faces the same honest users,
//! and a rule's results do not change with the other rules or attacks listed beside it: the
//! comparison between rules is paired. Through [`Experiment::run_once`] (a sweep, whose
//! grid points differ in more than the arm) the three streams are keyed by one number drawn
//! from the given stream.

use super::{Experiment, Job};
use crate::aggregators::{AggContext, PipelineSpec, StepSpec};
use crate::attacks::{self, AttackContext};
use crate::data::population::{Population, PopulationConfig};
use crate::data::{sq_dist, sq_norm};
use crate::params::{compact, Compat};
use crate::rng::{rng_named, SimRng};
use crate::Result;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// A step's label: its name, then its parameters as `:k=v,k=v` in key order (`alie:z=2`,
/// `alie:tau=1e300`: values by [`compact`]).
/// Two steps with different parameters get different labels (and different random streams).
pub fn step_label(s: &StepSpec) -> String {
    if s.params.0.is_empty() {
        return s.name.clone();
    }
    let kv: Vec<String> = s
        .params
        .0
        .iter()
        .map(|(k, v)| format!("{k}={}", compact(*v)))
        .collect();
    format!("{}:{}", s.name, kv.join(","))
}

/// A defence's label: the pre-aggregators' and the rule's [`step_label`]s joined by `+`.
pub fn defence_label(p: &PipelineSpec) -> String {
    p.pre
        .iter()
        .chain(std::iter::once(&p.rule))
        .map(step_label)
        .collect::<Vec<_>>()
        .join("+")
}

/// The named random streams of one run (see the [module docs](self)).
#[derive(Clone, Copy, Debug)]
pub struct Streams {
    seed: u64,
    replicate: u32,
}

impl Streams {
    /// The streams of replicate `replicate` of a run seeded with `seed`.
    pub fn new(seed: u64, replicate: u32) -> Streams {
        Streams { seed, replicate }
    }

    /// The stream called `name`.
    pub fn get(&self, name: &str) -> SimRng {
        rng_named(self.seed, self.replicate, name)
    }
}

/// `serde` form of κ̂ and of other measurements that can overflow to +∞ (a training
/// run's losses, G², ‖∇F_H‖²): a number, or the string `"inf"` for +∞ (JSON has no
/// infinity; a `null` would read as "missing").
pub mod extended_real {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes a finite value as a number and +∞ as `"inf"`.
    ///
    /// # Errors
    /// Those of the serializer.
    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        if *x == f64::INFINITY {
            s.serialize_str("inf")
        } else {
            s.serialize_f64(*x)
        }
    }

    /// Reads a number or `"inf"`.
    ///
    /// # Errors
    /// Any other string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Num {
            N(f64),
            S(String),
        }
        match Num::deserialize(d)? {
            Num::N(x) => Ok(x),
            Num::S(s) if s == "inf" => Ok(f64::INFINITY),
            Num::S(s) => Err(serde::de::Error::custom(format!(
                "expected a number or \"inf\", got {s:?}"
            ))),
        }
    }

    /// The same for an optional value: `null` (also what a NaN is written as) reads as
    /// absent.
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        /// Writes `None` as `null`, a value as [`super::serialize`] does.
        ///
        /// # Errors
        /// Those of the serializer.
        pub fn serialize<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
            match x {
                Some(x) => super::serialize(x, s),
                None => s.serialize_none(),
            }
        }

        /// Reads `null`, a number or `"inf"`.
        ///
        /// # Errors
        /// Any other string.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
            #[derive(Deserialize)]
            struct Wrapped(#[serde(deserialize_with = "super::deserialize")] f64);
            Ok(Option::<Wrapped>::deserialize(d)?.map(|w| w.0))
        }
    }
}

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
    /// When the honest updates coincide (variance 0), κ̂ is 0 if F(x) = x̄_H and +∞ otherwise
    /// (no finite κ makes the definition hold then); JSON writes +∞ as `"inf"`.
    #[serde(with = "extended_real")]
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
    /// The defence or attack cannot run at this setting (e.g. Krum needs n > 2f + 2, a rule
    /// ByzFL lacks under `compat: byzfl`, an exact algorithm past its size limit).
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

    /// Keys the three streams by one number drawn from `rng` (a sweep's point-keyed stream).
    fn run_once(&self, p: &RobustPoint, rng: &mut SimRng) -> Result<RobustOutcome> {
        run_with(p, Streams::new(rng.next_u64(), 0))
    }

    /// Keys the three streams by (seed, replicate, name): common random numbers across the
    /// grid points of a run.
    fn run_job(&self, p: &RobustPoint, job: Job) -> Result<RobustOutcome> {
        run_with(p, Streams::new(job.seed, job.replicate))
    }
}

/// Name of the stream the honest population is drawn from.
pub const POPULATION_STREAM: &str = "population";

/// One run of `p` drawing from `streams`.
///
/// # Errors
/// Those of sampling the population (a mean or noise scale that overflows f64).
pub fn run_with(p: &RobustPoint, streams: Streams) -> Result<RobustOutcome> {
    // A rule or attack that refuses this setting (too few inputs, not in ByzFL, a size limit
    // of its exact algorithm) is recorded as not applicable with its reason, so that one
    // refusal never stops a table or a sweep.
    let not_run = |e: crate::Error| {
        Ok(RobustOutcome::NotApplicable {
            reason: e.to_string(),
        })
    };
    let pipeline = match p.defence.build(p.compat) {
        Ok(pl) => pl,
        Err(e) => return not_run(e),
    };
    let attack = match attacks::build(&p.attack.name, &p.attack.params, p.compat) {
        Ok(a) => a,
        Err(e) => return not_run(e),
    };
    if let Err(e) = pipeline.check_n(p.population.n) {
        return not_run(e);
    }
    let pop = Population::sample(&p.population, &mut streams.get(POPULATION_STREAM))?;
    let honest = pop.honest_updates();
    let f = pop.f();
    let x = if f > 0 {
        let mut attack_rng = streams.get(&format!("attack/{}", step_label(&p.attack)));
        let mut acx = AttackContext {
            rng: &mut attack_rng,
            defence: Some(&pipeline),
            defence_state: None,
        };
        let byz = match attack.corrupt(honest.view(), f, &mut acx) {
            Ok(b) => b,
            Err(e) => return not_run(e),
        };
        honest.concat(&byz)?
    } else {
        honest.clone()
    };
    let mut rule_rng = streams.get(&format!("rule/{}", defence_label(&p.defence)));
    let out = match pipeline.run(x.view(), &mut AggContext::new(&mut rule_rng)) {
        Ok(out) => out,
        // Rules undefined on infinite input say so; that is a finding, not a crash.
        Err(crate::Error::NonFinite { what, detail }) => {
            return Ok(RobustOutcome::Failed {
                reason: format!("{what}: {detail}"),
            })
        }
        Err(e) => return not_run(e),
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
        kappa_hat: kappa_hat(to_honest, honest_variance),
        honest_variance,
        g2: pop.measured_g2(),
        f,
    }))
}

/// κ̂ = ‖F − x̄_H‖²/var_H, extended to var_H = 0: 0 when F = x̄_H, +∞ otherwise (any finite κ
/// would claim ‖F − x̄_H‖² ≤ κ·0).
pub(crate) fn kappa_hat(to_honest_sq: f64, honest_variance: f64) -> f64 {
    if honest_variance > 0.0 {
        to_honest_sq / honest_variance
    } else if to_honest_sq == 0.0 {
        0.0
    } else {
        f64::INFINITY
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

    /// κ̂ on coinciding honest updates: +∞ when F misses them, 0 when it hits them, and +∞
    /// travels through JSON as "inf" and back. Mutation checked: returning 0 for a zero honest
    /// variance (the old behaviour) makes it fail.
    #[test]
    fn kappa_is_infinite_when_the_honest_updates_coincide() {
        assert_eq!(kappa_hat(1e-300, 0.0), f64::INFINITY);
        assert_eq!(kappa_hat(0.0, 0.0), 0.0);
        assert_eq!(kappa_hat(2.0, 4.0), 0.5);
        let m = RobustMetrics {
            error: 1.0,
            error_to_honest_mean: 1.0,
            kappa_hat: kappa_hat(1.0, 0.0),
            honest_variance: 0.0,
            g2: 0.0,
            f: 1,
        };
        let j = serde_json::to_value(RobustOutcome::Ok(m)).unwrap();
        assert_eq!(j["kappa_hat"], "inf");
        #[derive(Deserialize)]
        struct K {
            #[serde(with = "extended_real")]
            kappa_hat: f64,
        }
        let k: K = serde_json::from_value(j).unwrap();
        assert_eq!(k.kappa_hat, f64::INFINITY);
        assert!(serde_json::from_str::<K>(r#"{"kappa_hat": "nan"}"#).is_err());
    }

    /// Common random numbers: at one (seed, replicate), every grid point draws the same honest
    /// users whatever its index, rule or attack (the honest variance and G², functions of the
    /// population alone, agree to the bit), and one (rule, attack) gives the same bytes at any
    /// point index. Mutation checked: keying the streams by the point index too
    /// (`Streams::new(job.seed ^ job.point, ..)` in `run_job`) makes it fail.
    #[test]
    fn every_arm_of_a_replicate_faces_the_same_honest_users() {
        let job = |point| Job {
            seed: 5,
            point,
            replicate: 2,
        };
        let a = point();
        let mut b = point();
        b.defence.rule = StepSpec::named("trmean");
        b.defence.rule.params.set("f", 3.0);
        b.attack = StepSpec::named("a_little_is_enough");
        let (RobustOutcome::Ok(ma), RobustOutcome::Ok(mb)) = (
            RobustAggregation.run_job(&a, job(0)).unwrap(),
            RobustAggregation.run_job(&b, job(7)).unwrap(),
        ) else {
            panic!("both run")
        };
        assert_eq!(ma.honest_variance.to_bits(), mb.honest_variance.to_bits());
        assert_eq!(ma.g2.to_bits(), mb.g2.to_bits());
        assert_ne!(ma.error, mb.error);
        assert_eq!(
            RobustAggregation.run_job(&a, job(0)).unwrap(),
            RobustAggregation.run_job(&a, job(3)).unwrap()
        );
        // Another replicate draws other users.
        let other = RobustAggregation
            .run_job(
                &a,
                Job {
                    replicate: 3,
                    ..job(0)
                },
            )
            .unwrap();
        let RobustOutcome::Ok(mo) = other else {
            panic!("runs")
        };
        assert_ne!(mo.honest_variance, ma.honest_variance);
    }

    #[test]
    fn labels_tell_variants_apart() {
        let mut s = StepSpec::named("a_little_is_enough");
        assert_eq!(step_label(&s), "a_little_is_enough");
        s.params.set("z", 2.0);
        assert_eq!(step_label(&s), "a_little_is_enough:z=2");
        // Values too long for `Display` in exponent form, still told apart (the old
        // `{v}` wrote 1e300's 301 digits into tables and stream names).
        for (v, want) in [
            (1e300, "z=1e300"),
            (-1.5e-300, "z=-1.5e-300"),
            (1e300 * (1.0 + f64::EPSILON), "z=1.0000000000000002e300"),
            (0.1, "z=0.1"),
            (123456789.25, "z=123456789.25"),
        ] {
            s.params.set("z", v);
            assert_eq!(step_label(&s), format!("a_little_is_enough:{want}"));
        }
        let p = PipelineSpec {
            rule: StepSpec::named("median"),
            pre: vec![StepSpec::named("nnm")],
        };
        assert_eq!(defence_label(&p), "nnm+median");
    }

    #[test]
    fn inapplicable_rules_are_caught_before_running() {
        let mut p = point();
        p.defence.rule = StepSpec::named("bulyan");
        p.defence.rule.params.set("f", 3.0);
        assert!(matches!(p.check(), Err(crate::Error::TooFewInputs { .. })));
    }
}
