//! The canary experiment (Secret Sharer; reference experiment E1): synthetic user text with a
//! canary `my pin is ` + D random digits inserted k times, a next-token model trained on it
//! by the crate's training loop, and the canary's exposure (exact, interpolated,
//! extrapolated; [`crate::privacy::audit::exposure`]).
//!
//! # One run
//! 1. A random sparse Markov chain writes `tokens` tokens of text; the canary, whose secret
//!    is drawn uniformly from R = {0, …, 10^D − 1}, is inserted `insertions` times
//!    ([`crate::learning::text`]).
//! 2. Every position t ≥ w becomes an example (one-hot window of w tokens → token t); the
//!    model is softmax regression (`hidden = 0`) or one tanh hidden layer, initialised as
//!    torch's `nn.Linear`.
//! 3. One client trains it with [`crate::learning::train::train`] (rule `average` over one
//!    client: plain SGD, no momentum), ⌈epochs·N/B⌉ steps of batch B. Non-private: shuffled
//!    epochs. Private (a target ε): the loop's example-level DP-SGD — Poisson sampling at
//!    q = B/N, per-example clipping to C, Gaussian noise σC — with σ calibrated by the RDP
//!    accountant to reach ε at δ after all steps, exactly as the `train` experiment does
//!    ([`crate::privacy::accounting::calibrate::noise_multiplier`]).
//! 4. The exact exposure by enumeration of all of R, and the interpolated and extrapolated
//!    estimates from `references` secrets drawn uniformly from R without the canary.
//!
//! # Determinism
//! Every draw comes from a stream named by its role and keyed by (seed, replicate) only:
//! `exposure/chain`, `exposure/text`, `exposure/positions`, `exposure/secret`,
//! `exposure/references`, `init`, and the loop's `batches/client/0` and
//! `dp-noise/client/0`. Every grid point of a replicate therefore trains on the same text,
//! with the same secret, inserted at the same positions up to the number of insertions
//! (common random numbers): the curves of the figure differ by k and ε, not by luck.

use super::robust::Streams;
use super::{Experiment, Job};
use crate::aggregators::{PipelineSpec, StepSpec};
use crate::learning::model::{Backend, ModelSpec};
use crate::learning::text::{self, MarkovText};
use crate::learning::train::{self, DpConfig, DpLevel, RunStatus, TrainConfig, Trainer};
use crate::learning::Model;
use crate::privacy::accounting::calibrate::noise_multiplier;
use crate::privacy::accounting::AccountantKind;
use crate::privacy::audit::exposure::{self, Exposures, SecretSpace};
use crate::privacy::{check_delta, check_epsilon};
use crate::rng::SimRng;
use crate::{Error, Result};
use rand::{Rng as _, RngExt};
use serde::{Deserialize, Serialize};

/// Most training steps a run may take (a guard against absurd epochs × tokens).
pub const MAX_STEPS: u64 = 10_000_000;

/// Stream names (module docs).
pub mod streams {
    /// The Markov chain's transition matrix.
    pub const CHAIN: &str = "exposure/chain";
    /// The chain's text.
    pub const TEXT: &str = "exposure/text";
    /// Where the canary copies go.
    pub const POSITIONS: &str = "exposure/positions";
    /// The secret.
    pub const SECRET: &str = "exposure/secret";
    /// The reference secrets.
    pub const REFERENCES: &str = "exposure/references";
}

/// One configuration of the canary experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExposurePoint {
    /// Tokens of user text (before the canaries).
    pub tokens: usize,
    /// Successors per token of the Markov chain, 1..=17.
    pub fanout: usize,
    /// Copies k of the canary in the corpus.
    pub insertions: usize,
    /// Digits D of the secret (|R| = 10^D), 1..=7.
    pub digits: usize,
    /// Context width w, 1..=10.
    pub context: usize,
    /// Hidden tanh units; 0: softmax regression.
    pub hidden: usize,
    /// Passes over the corpus.
    pub epochs: usize,
    /// Batch size B (expected batch size under DP).
    pub batch: usize,
    /// Learning rate.
    pub lr: f64,
    /// Reference secrets for the sampled and extrapolated estimates (≥ 3).
    pub references: usize,
    /// Target ε of DP-SGD; `None`: not private.
    pub epsilon: Option<f64>,
    /// δ of the target.
    pub delta: f64,
    /// Clip norm C of DP-SGD.
    pub clip: f64,
    /// Where the model computes (left out of records when native).
    #[serde(default, skip_serializing_if = "Backend::is_native")]
    pub backend: Backend,
}

impl Default for ExposurePoint {
    /// The `lbounds audit exposure` defaults: 4000 tokens, fan-out 4, 4 insertions, 6
    /// digits, w = 3, 32 hidden units, 30 epochs of batch 64 at η = 0.5, 2000 references,
    /// not private (δ = 10⁻⁵ and C = 1 once ε is set). Non-private, 4 insertions already
    /// reach the largest exposure in most seeds; DP-SGD at ε = 2 keeps it near 5 bits.
    fn default() -> Self {
        ExposurePoint {
            tokens: 4000,
            fanout: 4,
            insertions: 4,
            digits: 6,
            context: 3,
            hidden: 32,
            epochs: 30,
            batch: 64,
            lr: 0.5,
            references: 2000,
            epsilon: None,
            delta: 1e-5,
            clip: 1.0,
            backend: Backend::Native,
        }
    }
}

impl ExposurePoint {
    /// Number of training examples N (every position after the first w).
    pub fn examples(&self) -> usize {
        let canary = text::CANARY_PREFIX.len() + self.digits;
        (self.tokens + self.insertions * canary).saturating_sub(self.context)
    }

    /// Training steps ⌈epochs·N/B⌉.
    pub fn steps(&self) -> u64 {
        (self.epochs as u64 * self.examples() as u64).div_ceil(self.batch.max(1) as u64)
    }

    /// The model: softmax regression or one tanh hidden layer.
    pub fn model_spec(&self) -> ModelSpec {
        if self.hidden == 0 {
            ModelSpec::Softmax
        } else {
            ModelSpec::Mlp {
                hidden: vec![self.hidden],
                activation: crate::learning::model::Activation::Tanh,
            }
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad field.
    pub fn check(&self) -> Result<()> {
        let at_least = |name: &str, v: usize, min: usize| {
            if v < min {
                Err(Error::invalid(name, v, format!("must be >= {min}")))
            } else {
                Ok(())
            }
        };
        at_least("tokens", self.tokens, 1)?;
        if !(1..=text::VOCAB).contains(&self.fanout) {
            return Err(Error::invalid(
                "fanout",
                self.fanout,
                format!("must be in 1..={}", text::VOCAB),
            ));
        }
        if !(1..=exposure::MAX_DIGITS).contains(&self.digits) {
            return Err(Error::invalid(
                "digits",
                self.digits,
                format!(
                    "must be in 1..={} (all 10^digits secrets are enumerated)",
                    exposure::MAX_DIGITS
                ),
            ));
        }
        text::check_context(self.context)?;
        at_least("epochs", self.epochs, 1)?;
        at_least("batch", self.batch, 1)?;
        at_least("references", self.references, 3)?;
        if self.references as u64 >= 10u64.pow(self.digits as u32) {
            return Err(Error::invalid(
                "references",
                self.references,
                format!(
                    "must be below the {} secrets of the space",
                    10u64.pow(self.digits as u32)
                ),
            ));
        }
        if self.references > 10_000_000 {
            return Err(Error::invalid(
                "references",
                self.references,
                "must be <= 1e7",
            ));
        }
        crate::error::check_positive("lr", self.lr)?;
        crate::error::check_positive("clip", self.clip)?;
        check_delta(self.delta)?;
        if let Some(e) = self.epsilon {
            check_epsilon(e)?;
        }
        let total = (self.tokens as u64).saturating_add(
            (self.insertions as u64)
                .saturating_mul((text::CANARY_PREFIX.len() + self.digits) as u64),
        );
        if total > text::MAX_TOKENS as u64 {
            return Err(Error::invalid(
                "tokens",
                total,
                format!("the corpus may hold at most {} tokens", text::MAX_TOKENS),
            ));
        }
        if self.hidden > 100_000 {
            return Err(Error::invalid("hidden", self.hidden, "must be <= 100000"));
        }
        if self.steps() > MAX_STEPS {
            return Err(Error::invalid(
                "epochs",
                self.epochs,
                format!("{} steps exceed the limit of {MAX_STEPS}", self.steps()),
            ));
        }
        Ok(())
    }
}

/// The ceilings at a point: exact exposure is at most log₂|R|, the interpolated estimate at
/// most log₂(references).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExposureBounds {
    /// log₂ 10^D.
    pub log2_space: f64,
    /// log₂ of the number of references.
    pub log2_references: f64,
}

impl ExposureBounds {
    /// The ceilings of `p`.
    pub fn at(p: &ExposurePoint) -> ExposureBounds {
        ExposureBounds {
            log2_space: p.digits as f64 * 10f64.log2(),
            log2_references: (p.references as f64).log2(),
        }
    }
}

/// What one run reports (no timings: a record's bytes depend only on its point and
/// replicate).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExposureOutcome {
    /// The canary's secret, as its D digits.
    pub secret: String,
    /// Training steps taken.
    pub steps: usize,
    /// Completed, or why training stopped (θ is then the last finite one).
    pub training: String,
    /// Mean loss (nats per token) of the final model on its training corpus.
    pub train_loss: f64,
    /// DP-SGD's noise multiplier σ (`None`: not private).
    pub noise_multiplier: Option<f64>,
    /// ε spent at δ by the accountant (`None`: not private).
    pub epsilon: Option<f64>,
    /// The three exposure estimates.
    #[serde(flatten)]
    pub exposures: Exposures,
}

/// The canary experiment (stateless; all parameters are in the point).
#[derive(Clone, Copy, Debug, Default)]
pub struct CanaryExposure;

impl Experiment for CanaryExposure {
    type Point = ExposurePoint;
    type Output = ExposureOutcome;

    /// Keys every stream by one number drawn from `rng`.
    fn run_once(&self, p: &ExposurePoint, rng: &mut SimRng) -> Result<ExposureOutcome> {
        run_with(p, Streams::new(rng.next_u64(), 0), &mut |_, _| {})
    }

    /// Keys every stream by (seed, replicate, name): common random numbers across the grid.
    fn run_job(&self, p: &ExposurePoint, job: Job) -> Result<ExposureOutcome> {
        run_with(p, Streams::new(job.seed, job.replicate), &mut |_, _| {})
    }
}

/// The noise multiplier that makes DP-SGD at `p` reach its target ε (`None` when not
/// private): the RDP accountant at q = min(1, B/N) over all steps.
///
/// # Errors
/// Those of the calibration (an ε too small to reach).
pub fn calibrated_sigma(p: &ExposurePoint) -> Result<Option<f64>> {
    p.epsilon
        .map(|eps| {
            let q = (p.batch as f64 / p.examples() as f64).min(1.0);
            noise_multiplier(AccountantKind::Rdp, q, p.steps(), eps, p.delta)
        })
        .transpose()
}

/// A model trained on a corpus with a canary (step 1–3 of the module docs).
pub struct TrainedCanary {
    /// The model.
    pub model: Box<dyn Model>,
    /// Its trained parameters (the last finite ones if training stopped early).
    pub theta: Vec<f64>,
    /// The canary's secret, in {0, …, 10^D − 1}.
    pub secret: u64,
    /// DP-SGD's noise multiplier (`None`: not private).
    pub sigma: Option<f64>,
    /// Mean loss of the trained model on its corpus (nats per token).
    pub train_loss: f64,
    /// What the training loop reported.
    pub summary: train::TrainSummary,
}

/// Steps 1–3 of the module docs; `progress(done, total)` is called after every training step.
///
/// # Errors
/// A bad point (see [`ExposurePoint::check`]), a calibration that fails, a model error.
pub fn train_canary_model(
    p: &ExposurePoint,
    streams: Streams,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<TrainedCanary> {
    p.check()?;
    let size = 10u64.pow(p.digits as u32);
    let secret = streams.get(streams::SECRET).random_range(0..size);
    let mut canary = text::canary_prefix();
    canary.extend(text::secret_tokens(secret, p.digits));
    let chain = MarkovText::random(p.fanout, &mut streams.get(streams::CHAIN))?;
    let corpus = text::corpus(
        &chain,
        p.tokens,
        &canary,
        p.insertions,
        &mut streams.get(streams::TEXT),
        &mut streams.get(streams::POSITIONS),
    )?;
    let data = text::windows(&corpus, p.context)?;
    let model = p
        .backend
        .build(&p.model_spec(), data.features(), data.task())?;
    let init = model.init(&mut streams.get(crate::learning::streams::INIT));
    let sigma = calibrated_sigma(p)?;
    let steps = p.steps();
    let mut cfg = TrainConfig::new(
        steps as usize,
        p.lr,
        PipelineSpec {
            rule: StepSpec::named("average"),
            pre: vec![],
        },
    );
    cfg.batch_size = Some(p.batch);
    cfg.eval_every = steps as usize;
    cfg.privacy = sigma.map(|s| DpConfig {
        level: DpLevel::Example,
        noise_multiplier: s,
        clip: Some(p.clip),
        delta: p.delta,
        accountant: AccountantKind::Rdp,
    });
    let clients = [data];
    let mut trainer = Trainer::new(model.as_ref(), &clients, None, init, &cfg, streams)?;
    while !trainer.finished() {
        trainer.round()?;
        progress(trainer.rounds_done() as u64, steps);
    }
    let summary = trainer.summary()?;
    let train_loss = model.loss(&summary.params, clients[0].batch())?;
    Ok(TrainedCanary {
        theta: summary.params.clone(),
        model,
        secret,
        sigma,
        train_loss,
        summary,
    })
}

/// One run of `p` (module docs); `progress(done, total)` is called after every training step.
///
/// # Errors
/// As [`train_canary_model`] and [`exposure::exposures`].
pub fn run_with(
    p: &ExposurePoint,
    streams: Streams,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ExposureOutcome> {
    let t = train_canary_model(p, streams, progress)?;
    let space = SecretSpace {
        prefix: text::canary_prefix(),
        digits: p.digits,
        context: p.context,
    };
    let references = draw_references(
        &mut streams.get(streams::REFERENCES),
        space.size(),
        t.secret,
        p.references,
    );
    let exposures = exposure::exposures(t.model.as_ref(), &t.theta, &space, t.secret, &references)?;
    Ok(ExposureOutcome {
        secret: text::decode(&text::secret_tokens(t.secret, p.digits)),
        steps: t.summary.rounds,
        training: match &t.summary.status {
            RunStatus::Completed => "completed".into(),
            RunStatus::Diverged { round, reason } => format!("diverged at step {round}: {reason}"),
            RunStatus::Failed { round, reason } => format!("failed at step {round}: {reason}"),
        },
        train_loss: t.train_loss,
        noise_multiplier: t.sigma,
        epsilon: t.summary.epsilon,
        exposures,
    })
}

/// `n` secrets drawn uniformly from {0, …, size − 1} without `secret` (with replacement, as
/// tensorflow_privacy's references are independent draws).
pub fn draw_references(rng: &mut SimRng, size: u64, secret: u64, n: usize) -> Vec<u64> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let r = rng.random_range(0..size);
        if r != secret {
            out.push(r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::config::{SweepConfig, SweepParams};

    /// The built-in sweep parses into its 24 points, the last key (`insertions`) fastest, and
    /// bad values name their key.
    #[test]
    fn sweep_config_parses() {
        let c = SweepConfig::parse(
            include_str!("../../examples/sweeps/exposure.toml"),
            "exposure.toml",
        )
        .unwrap();
        assert_eq!(c.points(), 24);
        let (p, grid) = c.point(1).unwrap();
        let SweepParams::Exposure(e) = p else {
            panic!("an exposure point")
        };
        assert_eq!((e.insertions, e.epsilon), (2, None));
        assert_eq!(grid["epsilon"], "none");
        let (p, _) = c.point(23).unwrap();
        let SweepParams::Exposure(e) = p else {
            panic!("an exposure point")
        };
        assert_eq!((e.insertions, e.epsilon), (32, Some(0.5)));
        let bad = |grid: &str, needle: &str| {
            let text = format!(
                "name = \"x\"\nexperiment = \"exposure\"\nseed = 1\nreplicates = 1\n[grid]\n{grid}\n"
            );
            let e = SweepConfig::parse(&text, "x.toml").unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        };
        bad("digits = 8", "digits");
        bad("epsilon = 0", "epsilon");
        bad("epsilon = \"all\"", "epsilon");
        bad("context = 11", "context");
        bad("references = 2", "references");
        bad("rule = \"median\"", "rule");
    }

    /// The calibrated σ reaches the target: the accountant's ε over the run's steps at q = B/N
    /// is within 1% below it (the calibration bisects σ), and a run reports that ε.
    /// Mutation checked: calibrating at q = 1 instead of q = B/N fails it.
    #[test]
    fn dp_runs_spend_the_target_epsilon() {
        let p = ExposurePoint {
            epsilon: Some(2.0),
            epochs: 2,
            references: 10,
            ..ExposurePoint::default()
        };
        let o = run_with(&p, Streams::new(1, 0), &mut |_, _| {}).unwrap();
        let eps = o.epsilon.unwrap();
        assert!(eps <= 2.0 && eps > 1.98, "{eps}");
        assert_eq!(o.noise_multiplier, calibrated_sigma(&p).unwrap());
        assert_eq!(calibrated_sigma(&ExposurePoint::default()).unwrap(), None);
    }
}
