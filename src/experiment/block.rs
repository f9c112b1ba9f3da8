//! Task blocking (experiment E6; MLAC of Henderson, Mitchell, Manning, Jurafsky & Finn,
//! "Self-Destructing Models: Increasing the Costs of Harmful Dual Uses of Foundation
//! Models", AIES 2023, arXiv 2211.14946): is a model blocked by MLAC as hard to fine-tune for
//! the bad task as a random initialisation, and does it keep the good task?
//!
//! # One run (one ρ, one replicate)
//! 1. Tasks: w_g, w_b at cosine ρ in R^p ([`TwoTasks`]).
//! 2. Pretraining: a tanh trunk R^p → R^h with a good head, from a LeCun-normal
//!    initialisation, on `pretrain_examples` good examples with the reconstruction loss
//!    ([`pretrain`]): the released model, whose features carry the bad task.
//! 3. Two continuations of it for the same number of outer steps on the same good data:
//!    MLAC at λ, whose simulated adversary sees `defender_examples` bad examples
//!    ([`mlac`]), and the λ = 0 control (plain fine-tuning on the good task, the same steps:
//!    it separates what the adversarial term does from what dropping the reconstruction
//!    loss does).
//! 4. Evaluation of four models — `pretrained`, `random_init` (the initialisation pretraining
//!    started from), `fine_tuned` (λ = 0) and `mlac` — by the random-search adversary
//!    ([`crate::learning::blocking::adversary`]): the same `configs` configurations for every
//!    model and every n, on the first n of one pool of bad examples (nested samples), chosen
//!    on a validation set and scored on a test set.
//!
//! Per model and n the record keeps the adversary's test accuracy with the best
//! configuration overall (`best`), among frozen-trunk configurations only (`best_frozen`: a
//! linear probe, the adversary MLAC is meta-trained against), and among configurations of at
//! most s steps for each s of [`STEPS`] (`by_budget`: the break test, budgets from 1× to 100×
//! MLAC's K = 10 inner steps; at 10× and with full-trunk fine-tuning blocking is expected to
//! degrade).
//!
//! # Backends
//! The adversary's fine-tuning and every accuracy go through the [`Model`] trait on
//! `backend` (`--backend`; the released networks are handed over as θ of the same tanh
//! network p → h → 1, [`Net::dense`]). Pretraining, MLAC and the λ = 0 control always run on
//! the native [`Net`]: MLAC's meta-gradient differentiates through the K unrolled inner
//! steps of its simulated adversary, a second-order computation the trait does not offer,
//! so it is derived by hand there. On `candle` in f64 the records equal the native ones up to
//! rounding in the fine-tuning (`tests/candle_cli.rs` checks it).
//!
//! # Determinism
//! Every draw comes from a stream keyed by (seed, replicate, name) ([`streams`]), never by
//! ρ or the grid point: every ρ of a replicate shares its inputs, initialisation, batches and
//! adversary configurations (common random numbers), and the record does not depend on the
//! thread count.

use super::{Experiment, Job};
use crate::experiment::summary::{mean_ci, MeanCi};
use crate::learning::blocking::adversary::{self, best, draw_configs, STEPS};
use crate::learning::blocking::mlac::mlac;
use crate::learning::blocking::pretrain::{fine_tune_good, pretrain};
use crate::learning::blocking::{Mlac, MlacTrace, Net, Pretraining, TwoTasks};
use crate::learning::examples::Examples;
use crate::learning::model::{accuracy, Backend, Model};
use crate::rng::{rng_named, SimRng};
use crate::{Error, Result};
use rand::Rng as _;
use serde::{Deserialize, Serialize};

/// Stream names (module docs).
pub mod streams {
    /// The task directions.
    pub const TASKS: &str = "block/tasks";
    /// The good examples of pretraining, MLAC and the control.
    pub const GOOD: &str = "block/good";
    /// The good task's test examples.
    pub const GOOD_TEST: &str = "block/good_test";
    /// The initialisation (pretraining's start and the random-init model).
    pub const INIT: &str = "block/init";
    /// The defender's bad examples (MLAC's simulated adversary).
    pub const DEFENDER: &str = "block/defender";
    /// MLAC's support and query batches.
    pub const MLAC_BATCHES: &str = "block/mlac_batches";
    /// The adversary's configurations.
    pub const CONFIGS: &str = "block/adversary/configs";
    /// The adversary's training pool (its n examples are the first n).
    pub const ADVERSARY: &str = "block/adversary/train";
    /// The adversary's validation set.
    pub const VALIDATION: &str = "block/adversary/validation";
    /// The bad task's test set.
    pub const TEST: &str = "block/adversary/test";
}

/// The models compared, in record order.
pub const MODELS: [&str; 4] = ["pretrained", "random_init", "fine_tuned", "mlac"];

/// Largest sizes a point may ask for (a guard against absurd inputs: every size here is a
/// dense matrix of that many rows).
pub const MAX_EXAMPLES: usize = 100_000;

/// The most pretraining or MLAC steps a point asks for.
pub const MAX_STEPS: usize = 100_000;

/// One grid point of the blocking experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockPoint {
    /// cos(w_g, w_b).
    pub rho: f64,
    /// Input dimension p.
    pub features: usize,
    /// Trunk width h.
    pub hidden: usize,
    /// Good examples for pretraining, MLAC and the control.
    pub pretrain_examples: usize,
    /// Pretraining.
    pub pretraining: Pretraining,
    /// MLAC (its `steps` and `lr` also drive the λ = 0 control).
    pub mlac: Mlac,
    /// Bad examples the defender holds for MLAC's simulated adversary.
    pub defender_examples: usize,
    /// The adversary's budgets n (bad examples), increasing.
    pub examples: Vec<usize>,
    /// Random-search configurations per model and n.
    pub configs: usize,
    /// The adversary's validation examples.
    pub validation: usize,
    /// Test examples of each task.
    pub test: usize,
    /// The backend the adversary fine-tunes and every model is scored on (pretraining and
    /// MLAC are native: see the [module docs](self)); left out of records when native.
    #[serde(default, skip_serializing_if = "Backend::is_native")]
    pub backend: Backend,
}

impl Default for BlockPoint {
    /// The reference's setting: p = 20, h = 32, ρ = 0.5, n ∈ {20, 50, 100, 200, 1000},
    /// 30 configurations.
    fn default() -> Self {
        BlockPoint {
            rho: 0.5,
            features: 20,
            hidden: 32,
            pretrain_examples: 2000,
            pretraining: Pretraining::default(),
            mlac: Mlac::default(),
            defender_examples: 1000,
            examples: vec![20, 50, 100, 200, 1000],
            configs: 30,
            validation: 1000,
            test: 2000,
            backend: Backend::Native,
        }
    }
}

impl BlockPoint {
    /// A size that runs in about a second (tests): p = 10, h = 16, short training, 6
    /// configurations, n ∈ {20, 200}.
    pub fn quick() -> Self {
        BlockPoint {
            features: 10,
            hidden: 16,
            pretrain_examples: 500,
            pretraining: Pretraining {
                steps: 200,
                ..Pretraining::default()
            },
            mlac: Mlac {
                steps: 60,
                inner_examples: 32,
                ..Mlac::default()
            },
            defender_examples: 200,
            examples: vec![20, 200],
            configs: 6,
            validation: 300,
            test: 500,
            ..BlockPoint::default()
        }
    }

    /// Checks the point.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad field.
    pub fn check(&self) -> Result<()> {
        if !(-1.0..=1.0).contains(&self.rho) {
            return Err(Error::invalid(
                "rho",
                self.rho,
                "must be a cosine, in [-1, 1]",
            ));
        }
        let size = |name: &str, v: usize, min: usize| -> Result<()> {
            if v < min || v > MAX_EXAMPLES {
                return Err(Error::invalid(
                    name,
                    v,
                    format!("must be in {min}..={MAX_EXAMPLES}"),
                ));
            }
            Ok(())
        };
        size("features", self.features, 2)?;
        size("hidden", self.hidden, 1)?;
        size("pretrain_examples", self.pretrain_examples, 1)?;
        size("defender_examples", self.defender_examples, 2)?;
        size("validation", self.validation, 1)?;
        size("test", self.test, 1)?;
        size("configs", self.configs, 1)?;
        if self.examples.is_empty() || self.examples.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::invalid(
                "examples",
                format!("{:?}", self.examples),
                "must be a non-empty increasing list",
            ));
        }
        for &n in &self.examples {
            size("examples", n, 1)?;
        }
        for (name, steps) in [
            ("pretrain_steps", self.pretraining.steps),
            ("mlac_steps", self.mlac.steps),
        ] {
            if steps > MAX_STEPS {
                return Err(Error::invalid(
                    name,
                    steps,
                    format!("at most {MAX_STEPS} training steps"),
                ));
            }
        }
        crate::error::check_positive("pretrain_lr", self.pretraining.lr)?;
        if !(self.pretraining.reconstruction.is_finite() && self.pretraining.reconstruction >= 0.0)
        {
            return Err(Error::invalid(
                "reconstruction",
                self.pretraining.reconstruction,
                "must be finite and >= 0",
            ));
        }
        self.mlac.validate(self.defender_examples)
    }
}

/// The adversary against one model at one n.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AtBudget {
    /// Bad examples n.
    pub examples: usize,
    /// Test accuracy of the configuration with the best validation accuracy.
    pub best: f64,
    /// The same among frozen-trunk configurations (a linear probe); `null` if none was drawn.
    pub best_frozen: Option<f64>,
    /// The same among configurations of at most `STEPS[i]` steps (`null` where none).
    pub by_budget: Vec<Option<f64>>,
}

/// One model's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelResult {
    /// One of [`MODELS`].
    pub model: String,
    /// The model's good-task test accuracy (its own head).
    pub good_accuracy: f64,
    /// The model's own head's accuracy on the bad task (no fine-tuning).
    pub bad_accuracy_as_released: f64,
    /// The adversary at every n.
    pub adversary: Vec<AtBudget>,
}

/// What one run reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockReport {
    /// The floor 1 − arccos(ρ)/π: the bad-task accuracy of predicting by the good label.
    pub good_label_floor: f64,
    /// The step counts of `by_budget`.
    pub budget_steps: Vec<usize>,
    /// What MLAC's meta-training did.
    pub mlac: MlacTrace,
    /// The four models' results, in [`MODELS`] order.
    pub models: Vec<ModelResult>,
}

impl BlockReport {
    /// The result of model `name`.
    pub fn model(&self, name: &str) -> Option<&ModelResult> {
        self.models.iter().find(|m| m.model == name)
    }
}

/// Runs one replicate at `p` with every stream keyed by (seed, replicate, name); `on_model`
/// is called after each model's evaluation (progress).
///
/// # Errors
/// What [`BlockPoint::check`] rejects.
pub fn run_block(
    p: &BlockPoint,
    seed: u64,
    replicate: u32,
    on_model: &dyn Fn(),
) -> Result<BlockReport> {
    p.check()?;
    let named = |name: &str| rng_named(seed, replicate, name);
    let tasks = TwoTasks::draw(p.features, p.rho, &mut named(streams::TASKS))?;
    let (good, _) = tasks.sample(p.pretrain_examples, &mut named(streams::GOOD));
    let (good_test, _) = tasks.sample(p.test, &mut named(streams::GOOD_TEST));
    let (_, defender) = tasks.sample(p.defender_examples, &mut named(streams::DEFENDER));
    let last = p.examples[p.examples.len() - 1];
    let (_, pool) = tasks.sample(last, &mut named(streams::ADVERSARY));
    let (_, validation) = tasks.sample(p.validation, &mut named(streams::VALIDATION));
    let (_, test) = tasks.sample(p.test, &mut named(streams::TEST));
    let init = Net::init(p.features, p.hidden, &mut named(streams::INIT));
    let pretrained = pretrain(&init, &good, &p.pretraining);
    let plain = fine_tune_good(&pretrained, &good, p.mlac.steps, p.mlac.lr);
    let (blocked, trace) = mlac(
        &pretrained,
        &good,
        &defender,
        &p.mlac,
        &mut named(streams::MLAC_BATCHES),
    )?;
    let configs = draw_configs(p.configs, &mut named(streams::CONFIGS));
    // The one backend choice: the adversary and every score go through this model.
    let model = p.backend.build_net(&init.dense()?)?;
    let model = model.as_ref();
    let (pool, validation, test) = (pool.examples()?, validation.examples()?, test.examples()?);
    let good_test = good_test.examples()?;
    let models = [&pretrained, &init, &plain, &blocked];
    let mut out = Vec::with_capacity(models.len());
    for (name, net) in MODELS.iter().zip(models) {
        let theta = net.theta();
        let adversary = p
            .examples
            .iter()
            .map(|&n| {
                let train = pool.select(&(0..n.min(pool.len())).collect::<Vec<_>>());
                evaluate(model, &theta, &configs, &train, &validation, &test)
            })
            .collect::<Result<_>>()?;
        out.push(ModelResult {
            model: (*name).to_string(),
            good_accuracy: accuracy(model, &theta, good_test.batch())?,
            bad_accuracy_as_released: accuracy(model, &theta, test.batch())?,
            adversary,
        });
        on_model();
    }
    Ok(BlockReport {
        good_label_floor: tasks.good_label_floor(),
        budget_steps: STEPS.to_vec(),
        mlac: trace,
        models: out,
    })
}

fn evaluate(
    model: &dyn Model,
    theta: &[f64],
    configs: &[adversary::AdversaryConfig],
    train: &Examples,
    validation: &Examples,
    test: &Examples,
) -> Result<AtBudget> {
    let attempts = adversary::attack(model, theta, configs, train, validation, test)?;
    Ok(AtBudget {
        examples: train.len(),
        // invariant: `configs` is non-empty (checked), so some attempt is admitted.
        best: best(&attempts, |_| true).unwrap_or(f64::NAN),
        best_frozen: best(&attempts, |c| c.freeze_trunk),
        by_budget: STEPS
            .iter()
            .map(|&s| best(&attempts, |c| c.steps <= s))
            .collect(),
    })
}

/// The line a `block` figure can draw: the bad-task accuracy of predicting the bad label by
/// the good one, 1 − arccos(ρ)/π ([`TwoTasks::good_label_floor`]). Any model that solves the
/// good task lets an adversary who keeps the good head reach it, so no blocking can push the
/// best adversary below it; it is a property of the tasks, not a bound from the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockBounds {
    /// 1 − arccos(ρ)/π.
    pub good_label_floor: f64,
}

impl BlockBounds {
    /// The floor at the point's ρ.
    pub fn at(p: &BlockPoint) -> BlockBounds {
        BlockBounds {
            good_label_floor: 1.0 - p.rho.clamp(-1.0, 1.0).acos() / std::f64::consts::PI,
        }
    }
}

/// Grid keys of the `block` experiment, in product order (the last varies fastest); the
/// table of [`super::config`] documents them.
pub const BLOCK_KEYS: &[&str] = &[
    "features",
    "hidden",
    "pretrain_steps",
    "reconstruction",
    "defender_examples",
    "mlac_steps",
    "mlac_lr",
    "inner_steps",
    "inner_lr",
    "inner_examples",
    "lambda",
    "examples",
    "configs",
    "rho",
    "backend",
];

/// Sets one key of a `block` point (ranges are checked with the whole point).
pub(crate) fn apply(key: &str, v: &toml::Value, p: &mut BlockPoint) -> Result<()> {
    use super::config::{want_float, want_int, want_str};
    match key {
        "rho" => p.rho = want_float(key, v)?,
        "lambda" => p.mlac.lambda = want_float(key, v)?,
        "inner_steps" => p.mlac.inner_steps = want_int(key, v, 1)?,
        "inner_lr" => p.mlac.inner_lr = want_float(key, v)?,
        "inner_examples" => p.mlac.inner_examples = want_int(key, v, 1)?,
        "mlac_steps" => p.mlac.steps = want_int(key, v, 0)?,
        "mlac_lr" => p.mlac.lr = want_float(key, v)?,
        "pretrain_steps" => p.pretraining.steps = want_int(key, v, 0)?,
        "reconstruction" => p.pretraining.reconstruction = want_float(key, v)?,
        "features" => p.features = want_int(key, v, 2)?,
        "hidden" => p.hidden = want_int(key, v, 1)?,
        "configs" => p.configs = want_int(key, v, 1)?,
        "defender_examples" => p.defender_examples = want_int(key, v, 2)?,
        "examples" => p.examples = parse_examples(want_str(key, v)?)?,
        "backend" => p.backend = Backend::parse(want_str(key, v)?)?,
        _ => return Err(Error::unknown("grid key", key, BLOCK_KEYS.iter().copied())),
    }
    Ok(())
}

/// Parses a budget list `N1,N2,...` (increasing positive integers).
///
/// # Errors
/// [`Error::InvalidParameter`] for a token that is not a positive integer.
pub fn parse_examples(s: &str) -> Result<Vec<usize>> {
    s.split(',')
        .map(|t| {
            t.trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| {
                    Error::invalid("examples", t, "expected positive integers N1,N2,...")
                })
        })
        .collect()
}

/// The whole experiment as a runner job: one run per (ρ point, replicate).
pub struct BlockExperiment;

impl Experiment for BlockExperiment {
    type Point = BlockPoint;
    type Output = BlockReport;

    /// Keys every stream by one number drawn from `rng`.
    fn run_once(&self, p: &BlockPoint, rng: &mut SimRng) -> Result<BlockReport> {
        run_block(p, rng.next_u64(), 0, &|| {})
    }

    /// Keys every stream by (seed, replicate, name): common random numbers across the grid.
    fn run_job(&self, p: &BlockPoint, job: Job) -> Result<BlockReport> {
        run_block(p, job.seed, job.replicate, &|| {})
    }
}

/// Mean and 95 % Student-t interval over replicates of one model's adversary accuracy at
/// one n, read by `pick` (one of the fields of [`AtBudget`]); reports whose value is `None`
/// are skipped.
pub fn summarize<'a>(
    reports: impl IntoIterator<Item = &'a BlockReport>,
    model: &str,
    examples: usize,
    pick: impl Fn(&AtBudget) -> Option<f64>,
) -> Option<MeanCi> {
    let xs: Vec<f64> = reports
        .into_iter()
        .filter_map(|r| r.model(model))
        .filter_map(|m| m.adversary.iter().find(|a| a.examples == examples))
        .filter_map(&pick)
        .collect();
    mean_ci(&xs, 0.95)
}

/// Mean and 95 % interval over replicates of the paired blocking gap
/// `model` − `random_init` (the same replicate's draws on both sides).
pub fn summarize_gap<'a>(
    reports: impl IntoIterator<Item = &'a BlockReport>,
    model: &str,
    examples: usize,
    pick: impl Fn(&AtBudget) -> Option<f64>,
) -> Option<MeanCi> {
    let at = |r: &BlockReport, name: &str| {
        r.model(name)
            .and_then(|m| m.adversary.iter().find(|a| a.examples == examples))
            .and_then(&pick)
    };
    let xs: Vec<f64> = reports
        .into_iter()
        .filter_map(|r| Some(at(r, model)? - at(r, "random_init")?))
        .collect();
    mean_ci(&xs, 0.95)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quick size is deterministic (the same record twice) and every accuracy is a
    /// probability; the pretrained model learns the good task (> 0.85 at this size).
    #[test]
    fn quick_run_is_deterministic_and_sane() {
        let p = BlockPoint::quick();
        let a = run_block(&p, 7, 1, &|| {}).unwrap();
        let b = run_block(&p, 7, 1, &|| {}).unwrap();
        assert_eq!(a, b);
        let pre = a.model("pretrained").unwrap();
        assert!(pre.good_accuracy > 0.85, "{pre:?}");
        for m in &a.models {
            for at in &m.adversary {
                assert!((0.0..=1.0).contains(&at.best), "{at:?}");
            }
        }
        assert!(run_block(
            &BlockPoint {
                rho: 2.0,
                ..p.clone()
            },
            7,
            1,
            &|| {}
        )
        .is_err());
        assert!(run_block(
            &BlockPoint {
                examples: vec![50, 20],
                ..p
            },
            7,
            1,
            &|| {}
        )
        .is_err());
    }
}
