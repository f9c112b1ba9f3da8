//! Training across honest and Byzantine users as a sweep experiment (`experiment = "train"`):
//! one grid point is one D-SGD run of [`crate::learning::train`] on a data set partitioned
//! among users, and its record is the trained model's test accuracy, the measured
//! heterogeneity, κ̂, ε and the floors that apply, never the parameters.
//!
//! # One run
//!
//! 1. The examples: the shipped UCI digits, or a synthetic population drawn from the stream
//!    `data`.
//! 2. A train/test split ([`crate::learning::sources::train_test_split`], stream `split`).
//! 3. The training part partitioned among the h = n − f honest users ([`Partition`], stream
//!    `partition`); the f = ⌊fraction·n⌋ Byzantine users hold no data.
//! 4. The initial parameters ([`crate::learning::Model::init`], stream `init`).
//! 5. `rounds` rounds of [`crate::learning::train::train`], whose own streams are named by
//!    role (`batches/client/<i>`, `dp-noise/client/<i>`, `attack`, `rule`,
//!    `dp-noise/server`).
//!
//! # Common random numbers
//!
//! In a sweep every stream is keyed by (seed, replicate, name) ([`Job::named`]), never by the
//! grid point: within a replicate, every rule, attack, learning rate and privacy level trains
//! from the same split, the same partition (for the same h), the same initial vector and the
//! same batches, so a difference between two arms is the arms' difference, not the luck of
//! the draw. (`run_once` keys the same names by one draw of a point-keyed stream instead.)
//!
//! # Privacy by a target ε
//!
//! `dp_epsilon = E` calibrates the noise multiplier per run: the smallest σ whose RDP
//! accounting reaches (E, δ) after the run's steps at its sampling rate
//! ([`noise_multiplier`]; at example level q is the largest min(1, B/Nᵢ) among the honest
//! users, one step per D-SGD round; at user level q = 1), so every run of a point spends the
//! same budget whatever its partition. The record carries the σ used and the ε the loop's
//! accountant reports.
//!
//! # Outcomes
//!
//! `ok` (every round ran), `diverged` (θ or the aggregate stopped being finite: the plain
//! average under a far attack), `failed` (a step refused its input, or the data could not be
//! partitioned), `not_applicable` (the rule cannot run at this n and f, e.g. Krum needs
//! n > 2f + 2). A diverged or failed run still reports the test accuracy of the parameters
//! it ended with (those before the bad round), which is what the server holds.

use super::robust::Streams;
use super::{Experiment, Job};
use crate::aggregators::PipelineSpec;
use crate::bounds::allouah2023fixing::kappa_lower_bound;
use crate::data::population::byzantine_count;
use crate::learning::model::{Backend, ModelSpec};
use crate::learning::sources::{digits, Synthetic};
use crate::learning::train::{self, DpConfig, DpLevel, Evaluation, RunStatus, TrainConfig};
use crate::learning::{Examples, Partition, Task};
use crate::privacy::accounting::calibrate::noise_multiplier;
use crate::privacy::accounting::AccountantKind;
use crate::rng::SimRng;
use crate::{Error, Result};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// Where a point's examples come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum DataSource {
    /// The shipped UCI optical digits (1797 × 64, ten classes).
    Digits,
    /// A synthetic population ([`Synthetic`]), drawn per replicate.
    Synthetic(Synthetic),
}

impl DataSource {
    /// Parses `digits` or `synthetic:KEY=VALUE,...` (the CLI's `--data` forms that need no
    /// file).
    ///
    /// # Errors
    /// [`Error::Unknown`] for another source; the synthetic spec's errors.
    pub fn parse(spec: &str) -> Result<DataSource> {
        let (name, args) = spec.split_once(':').unwrap_or((spec, ""));
        match name.trim() {
            "digits" if args.trim().is_empty() => Ok(DataSource::Digits),
            "digits" => Err(Error::invalid("data", spec, "digits takes no parameters")),
            "synthetic" => Ok(DataSource::Synthetic(Synthetic::parse(args)?)),
            other => Err(Error::unknown(
                "data source (known: digits, synthetic:...; a CSV file is for `lbounds train`)",
                other,
                ["digits", "synthetic"],
            )),
        }
    }

    /// The number of features and the task, without generating anything.
    pub fn shape(&self) -> (usize, Task) {
        match self {
            DataSource::Digits => (
                crate::learning::sources::digits::DIGITS_FEATURES,
                Task::Classification { classes: 10 },
            ),
            DataSource::Synthetic(s) => (s.features, s.task()),
        }
    }

    /// The examples (the digits are parsed once per process).
    ///
    /// # Errors
    /// The synthetic generator's.
    pub fn examples(&self, rng: &mut SimRng) -> Result<Examples> {
        static DIGITS: OnceLock<Examples> = OnceLock::new();
        match self {
            DataSource::Digits => Ok(DIGITS.get_or_init(digits).clone()),
            DataSource::Synthetic(s) => s.generate(rng),
        }
    }
}

/// How the noise multiplier of a private run is set.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseSetting {
    /// A fixed noise multiplier σ ≥ 0.
    Sigma(f64),
    /// A target ε at the point's δ, σ calibrated per run (module docs).
    Epsilon(f64),
}

/// Differential privacy of a point: private when `noise` is set.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacySpec {
    /// Example level (local DP-SGD) or user level (central).
    pub level: DpLevel,
    /// Clip norm C > 0.
    pub clip: f64,
    /// δ.
    pub delta: f64,
    /// σ, or the target ε; `None`: not private.
    pub noise: Option<NoiseSetting>,
}

impl Default for PrivacySpec {
    /// Not private; example level, C = 1, δ = 10⁻⁵ once a noise setting is given.
    fn default() -> Self {
        PrivacySpec {
            level: DpLevel::Example,
            clip: 1.0,
            delta: 1e-5,
            noise: None,
        }
    }
}

/// A grid point: data, partition, users, model, defence, attack, optimiser and privacy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainPoint {
    /// The examples.
    pub data: DataSource,
    /// Fraction of the examples held out for testing, in [0, 1).
    pub test_fraction: f64,
    /// How the training examples are split among the honest users.
    pub partition: Partition,
    /// The model.
    pub model: ModelSpec,
    /// Users n, honest and Byzantine.
    pub clients: usize,
    /// f = ⌊fraction·n⌋ of them are Byzantine.
    pub byzantine_fraction: f64,
    /// Differential privacy (none unless a noise setting is given).
    pub privacy: PrivacySpec,
    /// The loop's settings: `byzantine` is f, every f-aware step of `defence` carries f;
    /// `privacy` is set per run from [`TrainPoint::privacy`].
    pub train: TrainConfig,
    /// Where the model computes (left out of records when native).
    #[serde(default, skip_serializing_if = "Backend::is_native")]
    pub backend: Backend,
}

impl TrainPoint {
    /// f = ⌊fraction·n⌋.
    pub fn f(&self) -> usize {
        byzantine_count(self.byzantine_fraction, self.clients)
    }

    /// Checks everything that does not need the data: the loop's settings, the partition,
    /// that the model fits the data's task, at least one honest user, the names of the rule
    /// and attack, label flipping only on a classification task. Whether the rule runs at this
    /// n and f is not checked here (a record says `not_applicable`).
    ///
    /// # Errors
    /// The first problem found.
    pub fn check(&self) -> Result<()> {
        let f = self.f();
        if !(0.0..0.5).contains(&self.byzantine_fraction) {
            return Err(Error::invalid(
                "byzantine_fraction",
                self.byzantine_fraction,
                "must be in [0, 0.5)",
            ));
        }
        if self.clients <= f {
            return Err(Error::invalid(
                "clients",
                self.clients,
                format!("{f} of them are Byzantine: no honest user is left"),
            ));
        }
        if !(0.0..1.0).contains(&self.test_fraction) {
            return Err(Error::invalid(
                "test_fraction",
                self.test_fraction,
                "must lie in [0, 1)",
            ));
        }
        self.partition.validate()?;
        let (features, task) = self.data.shape();
        if self.partition.needs_labels() && task == Task::Regression {
            return Err(Error::invalid(
                "partition",
                self.partition.spec(),
                "needs class labels, and the data is a regression task",
            ));
        }
        self.backend.build(&self.model, features, task)?;
        self.train.defence.build(self.train.compat)?;
        if let Some(a) = self.train.active_attack() {
            if train::is_label_flipping(&a.name) {
                if task == Task::Regression {
                    return Err(Error::invalid(
                        "attack",
                        &a.name,
                        "label flipping needs a classification task",
                    ));
                }
            } else {
                crate::attacks::build(&a.name, &a.params, self.train.compat)?;
            }
        }
        let p = &self.privacy;
        crate::error::check_positive("clip", p.clip)?;
        crate::privacy::check_delta(p.delta)?;
        match p.noise {
            None => {}
            Some(NoiseSetting::Sigma(s)) => {
                crate::error::check_non_negative("dp_sigma", s)?;
            }
            Some(NoiseSetting::Epsilon(e)) => {
                crate::privacy::check_epsilon(e)?;
            }
        }
        let mut cfg = self.train.clone();
        cfg.privacy = p.noise.map(|_| dp_config(p, 0.0));
        cfg.validate()
    }
}

fn dp_config(p: &PrivacySpec, sigma: f64) -> DpConfig {
    DpConfig {
        level: p.level,
        noise_multiplier: sigma,
        clip: Some(p.clip),
        delta: p.delta,
        accountant: AccountantKind::Rdp,
    }
}

/// The bounds that apply at a point before any run (the heterogeneity floors need the
/// measured G² and travel in the run's last evaluation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainBounds {
    /// f = ⌊fraction·n⌋.
    pub f: usize,
    /// η = f/n.
    pub eta: f64,
    /// B1: every rule has κ ≥ f/(n − 2f) on some honest inputs (Allouah et al., AISTATS
    /// 2023, arXiv 2302.01772); `None` when f = 0.
    pub kappa_lower: Option<f64>,
}

/// Evaluates [`TrainBounds`] at a point.
///
/// # Errors
/// Those of [`kappa_lower_bound`] (not for validated points: 2f < n always).
pub fn train_bounds(p: &TrainPoint) -> Result<TrainBounds> {
    let f = p.f();
    Ok(TrainBounds {
        f,
        eta: f as f64 / p.clients as f64,
        kappa_lower: if f == 0 {
            None
        } else {
            Some(kappa_lower_bound(p.clients, f)?)
        },
    })
}

/// What one run measured (no parameter vectors).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainMetrics {
    /// Rounds run (the stopping round included).
    pub rounds: usize,
    /// Byzantine users f.
    pub f: usize,
    /// Honest users h = n − f.
    pub honest: usize,
    /// Test accuracy of the final parameters (classification).
    pub test_accuracy: Option<f64>,
    /// Mean test loss of the final parameters (`None` when undefined: a diverged run;
    /// `"inf"` where it overflowed).
    #[serde(with = "crate::experiment::robust::extended_real::option")]
    pub test_loss: Option<f64>,
    /// ε spent at the point's δ (`None` without privacy or with σ = 0; `"inf"` where the
    /// noise is too small for a finite bound).
    #[serde(with = "crate::experiment::robust::extended_real::option")]
    pub epsilon: Option<f64>,
    /// The noise multiplier used (calibrated for a target ε).
    pub noise_multiplier: Option<f64>,
    /// The last evaluation (at the last round for a completed run): the measured G², the
    /// (G, B) fit, ‖∇F_H‖², κ̂ and the B2/B3 floors where their hypotheses hold.
    pub last_eval: Option<Evaluation>,
}

/// How a run ended (`status` in the record).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TrainStatus {
    /// Every round ran.
    Ok,
    /// θ or the aggregate stopped being finite at `round`.
    Diverged {
        /// The round (1-based).
        round: usize,
        /// What was not finite.
        reason: String,
    },
    /// A step refused its input at `round` (0: before training, e.g. a partition that left a
    /// user without data).
    Failed {
        /// The round (1-based; 0 before the first).
        round: usize,
        /// The error.
        reason: String,
    },
    /// The rule cannot run at this n and f.
    NotApplicable {
        /// The unmet requirement.
        reason: String,
    },
}

/// A run's record output: its status and, unless nothing ran, its metrics.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainOutcome {
    /// How the run ended.
    #[serde(flatten)]
    pub status: TrainStatus,
    /// What it measured.
    #[serde(flatten)]
    pub metrics: Option<TrainMetrics>,
}

impl TrainOutcome {
    fn without_metrics(status: TrainStatus) -> TrainOutcome {
        TrainOutcome {
            status,
            metrics: None,
        }
    }
}

/// Names of the streams of the data set, its split, its partition and the initial vector
/// (shared with `lbounds train`).
pub use crate::learning::streams::{
    DATA as DATA_STREAM, INIT as INIT_STREAM, PARTITION as PARTITION_STREAM, SPLIT as SPLIT_STREAM,
};

/// The training experiment (stateless; all parameters are in the point).
#[derive(Clone, Copy, Debug, Default)]
pub struct Training;

impl Experiment for Training {
    type Point = TrainPoint;
    type Output = TrainOutcome;

    /// Keys every stream by one number drawn from `rng`.
    fn run_once(&self, p: &TrainPoint, rng: &mut SimRng) -> Result<TrainOutcome> {
        run_with(p, Streams::new(rng.next_u64(), 0))
    }

    /// Keys every stream by (seed, replicate, name): common random numbers across the grid.
    fn run_job(&self, p: &TrainPoint, job: Job) -> Result<TrainOutcome> {
        run_with(p, Streams::new(job.seed, job.replicate))
    }
}

/// One run of `p` drawing from `streams` (see the [module docs](self)).
///
/// # Errors
/// Only errors that are not findings about the run (a model bug); refusals, divergence and
/// inapplicable rules are outcomes.
pub fn run_with(p: &TrainPoint, streams: Streams) -> Result<TrainOutcome> {
    let f = p.f();
    let h = p.clients - f;
    let mut cfg = p.train.clone();
    cfg.byzantine = f;
    let pipeline = match cfg.defence.build(cfg.compat) {
        Ok(pl) => pl,
        Err(e) => {
            return Ok(TrainOutcome::without_metrics(TrainStatus::NotApplicable {
                reason: e.to_string(),
            }))
        }
    };
    if let Err(e) = pipeline.check_n(p.clients) {
        return Ok(TrainOutcome::without_metrics(TrainStatus::NotApplicable {
            reason: e.to_string(),
        }));
    }
    let before = |e: Error| {
        Ok(TrainOutcome::without_metrics(TrainStatus::Failed {
            round: 0,
            reason: e.to_string(),
        }))
    };
    let examples = match p.data.examples(&mut streams.get(DATA_STREAM)) {
        Ok(x) => x,
        Err(e) => return before(e),
    };
    let (clients, test) = match p.partition.federate(
        &examples,
        p.test_fraction,
        h,
        &mut streams.get(SPLIT_STREAM),
        &mut streams.get(PARTITION_STREAM),
    ) {
        Ok(fed) => fed,
        Err(e) => return before(e),
    };
    let model = p
        .backend
        .build(&p.model, examples.features(), examples.task())?;
    let init = model.init(&mut streams.get(INIT_STREAM));
    let dp = &p.privacy;
    let sigma = match dp.noise {
        None => None,
        Some(noise) => {
            let sigma = match noise {
                NoiseSetting::Sigma(s) => s,
                NoiseSetting::Epsilon(eps) => {
                    let (q, steps) = match dp.level {
                        DpLevel::Example => (
                            clients
                                .iter()
                                .map(|c| match cfg.batch_size {
                                    None => 1.0,
                                    Some(b) => (b as f64 / c.len() as f64).min(1.0),
                                })
                                .fold(0.0, f64::max),
                            cfg.rounds as u64
                                * match cfg.algorithm {
                                    train::Algorithm::Dsgd => 1,
                                    train::Algorithm::FedAvg { local_steps } => local_steps as u64,
                                },
                        ),
                        DpLevel::User => (1.0, cfg.rounds as u64),
                    };
                    match noise_multiplier(AccountantKind::Rdp, q, steps, eps, dp.delta) {
                        Ok(s) => s,
                        Err(e) => return before(e),
                    }
                }
            };
            cfg.privacy = Some(dp_config(dp, sigma));
            Some(sigma)
        }
    };
    let summary = match train::train(
        model.as_ref(),
        &clients,
        test.as_ref(),
        init,
        &cfg,
        streams,
        &mut |_| Ok(()),
    ) {
        Ok(s) => s,
        Err(e) => return before(e),
    };
    let (test_accuracy, test_loss) = match &test {
        Some(t) => {
            let ev = model.evaluate(&summary.params, t.batch())?;
            (ev.accuracy, Some(ev.loss).filter(|l| !l.is_nan()))
        }
        None => (None, None),
    };
    let status = match summary.status {
        RunStatus::Completed => TrainStatus::Ok,
        RunStatus::Diverged { round, reason } => TrainStatus::Diverged { round, reason },
        RunStatus::Failed { round, reason } => TrainStatus::Failed { round, reason },
    };
    Ok(TrainOutcome {
        status,
        metrics: Some(TrainMetrics {
            rounds: summary.rounds,
            f,
            honest: h,
            test_accuracy,
            test_loss,
            epsilon: summary.epsilon,
            noise_multiplier: sigma,
            last_eval: summary.last_eval,
        }),
    })
}

/// The defence with every f-aware step given f (unless it sets its own).
///
/// # Errors
/// An unknown rule or pre-aggregator.
pub fn declare_f(defence: &mut PipelineSpec, f: usize) -> Result<()> {
    use crate::aggregators::{PRE_AGGREGATORS, RULES};
    use crate::params::lookup;
    let f = f as f64;
    let rule = &mut defence.rule;
    if lookup(RULES, "aggregator", &rule.name)?.keys.contains(&"f")
        && !rule.params.0.contains_key("f")
    {
        rule.params.set("f", f);
    }
    for step in &mut defence.pre {
        if lookup(PRE_AGGREGATORS, "pre-aggregator", &step.name)?
            .keys
            .contains(&"f")
            && !step.params.0.contains_key("f")
        {
            step.params.set("f", f);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregators::StepSpec;

    /// A small run: digits, softmax, n = 10 users, 8 full-batch rounds.
    fn point(rule: &str, attack: &str, fraction: f64) -> TrainPoint {
        let f = byzantine_count(fraction, 10);
        let mut defence = PipelineSpec {
            rule: StepSpec::named(rule),
            pre: vec![],
        };
        declare_f(&mut defence, f).unwrap();
        let mut train = TrainConfig::new(8, 0.5, defence);
        train.momentum = 0.9;
        train.byzantine = f;
        train.attack = Some(StepSpec::named(attack));
        TrainPoint {
            data: DataSource::Digits,
            test_fraction: 0.2,
            partition: Partition::Dirichlet { alpha: 1.0 },
            model: ModelSpec::Softmax,
            clients: 10,
            byzantine_fraction: fraction,
            privacy: PrivacySpec::default(),
            train,
            backend: Backend::Native,
        }
    }

    fn job(replicate: u32) -> Job {
        Job {
            seed: 3,
            point: 0,
            replicate,
        }
    }

    fn metrics(o: &TrainOutcome) -> &TrainMetrics {
        o.metrics.as_ref().expect("a run that trained")
    }

    /// Common random numbers: without Byzantine users the attack is never used, so the arms
    /// that differ only by their attack must give the same bytes, since they train on the same
    /// split, partition, initial vector and batches (here with batches of 16, so the batch
    /// streams matter too). Another replicate draws other data. Mutation that fails it: naming
    /// the split's stream after the arm
    /// (`streams.get(&format!("split/{}", step_label(attack)))`).
    #[test]
    fn every_arm_of_a_replicate_trains_on_the_same_draws() {
        let runs: Vec<TrainOutcome> = [
            ("average", "sign_flipping"),
            ("average", "a_little_is_enough"),
            ("average", "label_flipping"),
            ("average", "inf"),
        ]
        .iter()
        .map(|(r, a)| {
            let mut p = point(r, a, 0.0);
            p.train.batch_size = Some(16);
            Training.run_job(&p, job(1)).unwrap()
        })
        .collect();
        assert_eq!(runs[0].status, TrainStatus::Ok);
        for r in &runs[1..] {
            assert_eq!(r, &runs[0]);
        }
        let mut p = point("average", "sign_flipping", 0.0);
        p.train.batch_size = Some(16);
        let other = Training.run_job(&p, job(2)).unwrap();
        assert_ne!(metrics(&other).last_eval, metrics(&runs[0]).last_eval);
        // Learning happened: ten classes, chance is 0.1 (0.47 after these 8 rounds).
        assert!(metrics(&runs[0]).test_accuracy.unwrap() > 0.3);
    }

    /// A target ε is met, not exceeded: the loop's accountant, composing the calibrated σ at
    /// the largest sampling rate among the users, reports ε ≤ target and within 0.1% of it
    /// (the calibration's bracket is 1e-6 relative; the RDP conversion is monotone in σ).
    /// Mutation that fails it: calibrating at the smallest sampling rate among the users
    /// (`fold(1.0, f64::min)`): the accountant then reports ε above the target.
    #[test]
    fn a_target_epsilon_is_reached_and_not_exceeded() {
        let mut p = point("average", "sign_flipping", 0.0);
        p.partition = Partition::Zipf { s: 1.0 };
        p.train.batch_size = Some(16);
        p.privacy.noise = Some(NoiseSetting::Epsilon(2.0));
        p.check().unwrap();
        let o = Training.run_job(&p, job(0)).unwrap();
        let m = metrics(&o);
        let eps = m.epsilon.unwrap();
        assert!(eps <= 2.0 && eps > 2.0 * 0.999, "epsilon {eps}");
        assert!(m.noise_multiplier.unwrap() > 0.0);
    }

    /// Outcomes: a rule that cannot run at n and f is `not_applicable` without metrics (Krum
    /// needs n > 2f + 2: n = 10, f = 4); the average under +∞ diverges at round 1 and still
    /// reports the accuracy of the initial parameters it kept; a bad data source is named.
    #[test]
    fn outcomes_say_why() {
        let o = Training
            .run_job(&point("krum", "sign_flipping", 0.4), job(0))
            .unwrap();
        assert!(
            matches!(o.status, TrainStatus::NotApplicable { .. }),
            "{o:?}"
        );
        assert!(o.metrics.is_none());
        let o = Training
            .run_job(&point("average", "inf", 0.2), job(0))
            .unwrap();
        assert!(
            matches!(o.status, TrainStatus::Diverged { round: 1, .. }),
            "{o:?}"
        );
        assert!(metrics(&o).test_accuracy.unwrap() < 0.5);
        let j = serde_json::to_value(&o).unwrap();
        assert_eq!(j["status"], "diverged");
        assert!(j["test_accuracy"].is_number() && j.get("params").is_none());
        assert!(DataSource::parse("digitz").is_err());
        assert!(DataSource::parse("digits:x=1").is_err());
        assert!(matches!(
            DataSource::parse("synthetic:classes=3,features=5").unwrap(),
            DataSource::Synthetic(Synthetic { classes: 3, .. })
        ));
        let mut p = point("average", "label_flipping", 0.2);
        p.data = DataSource::parse("synthetic:kind=regression").unwrap();
        p.model = ModelSpec::Linear;
        p.partition = Partition::Iid;
        assert!(p
            .check()
            .unwrap_err()
            .to_string()
            .contains("label flipping"));
    }
}
