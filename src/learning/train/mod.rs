//! Distributed training across honest and Byzantine users: D-SGD with client momentum (and a
//! FedAvg variant), Byzantine attacks, robust aggregation, local or central differential
//! privacy with accounting, and the measurements the bounds speak about.
//!
//! # One D-SGD round (ByzFL 0.0.11's order; `--compat byzfl` reproduces it exactly)
//!
//! ```text
//! for each honest client i (in parallel, deterministic):
//!     gᵢ = gradient of its mean loss on its next batch at θ          (client.rs)
//!     [label flipping: g′ᵢ = raw gradient on labels C − 1 − y, same batch]
//!     mᵢ ← β·mᵢ + (1 − β)·gᵢ            (m = 0 at start, no bias correction)
//! b = Attack([m₁..m_h]) (or mean g′ᵢ); the server receives [m₁..m_h, b, …, b] (f copies)
//! a = Rule(Pre_k(…Pre_1(received)))     (centered clipping starts from the last a)
//! θ ← θ − η_t·(a + λθ)                  (weight decay on the server, after aggregation)
//! η_{t+1} = MultiStepLR step            (milestones counted in rounds)
//! ```
//!
//! **FedAvg** ([`Algorithm::FedAvg`]): every honest client starts from θ, takes K local SGD
//! steps θᵢ ← θᵢ − η(gᵢ + λθᵢ) on its own batches and sends θᵢ; the Byzantine users attack
//! those parameter vectors; the server sets θ = a. Natively the clients step with the round's
//! η_t; with `compat: byzfl` with the constant η (ByzFL never steps the clients' schedulers).
//! ByzFL's random client subset is not modelled: every honest client takes part.
//!
//! # Adaptive attacks and the defence's state
//! The optimal attacks search against the server's pipeline every round. Centered clipping is
//! the one stateful rule: the server starts it from its previous aggregate in both modes.
//! The attack's view of that state ([`crate::attacks::AttackContext::defence_state`]):
//! natively the server's previous aggregate, held fixed through the search (the damage the
//! server will really see); with `compat: byzfl` the attack's own copy of the defence, whose
//! state moves with every evaluation of the search and carries into the next round (ByzFL's
//! one aggregator object inside the attack), starting from zeros.
//!
//! # Differential privacy
//! - **Example level** (local DP-SGD, [`DpLevel::Example`]): each honest client clips every
//!   example's gradient to C, adds N(0, σ²C²I) to the sum and divides by the expected batch
//!   size, with Poisson sampling at q = min(1, B/Nᵢ) (Abadi et al., CCS 2016, arXiv
//!   1607.00133; the sampled Gaussian of Mironov, Talwar & Zhang 2019, arXiv 1908.10530).
//!   Everything a client sends (momentum, FedAvg parameters) is post-processing of these
//!   noised sums, so each client's records are protected against the server and the
//!   Byzantine users by the subsampled-Gaussian accountant (RDP or PLD, add/remove-one
//!   record) over the steps taken, at the largest q among the clients.
//! - **User level** (central DP, [`DpLevel::User`]): the server clips each received vector to
//!   norm C, aggregates, projects the aggregate on the ball of radius C and adds
//!   N(0, σ²Δ²I). Replacing one user's vector moves a plain average of n clipped vectors by at
//!   most Δ = 2C/n; for any other pipeline the projected aggregate lies in the ball of radius
//!   C, so one user moves it by at most its diameter Δ = 2C. Each round is then the Gaussian
//!   mechanism with noise multiplier σ on a query of sensitivity Δ (replace-one-user), and the
//!   rounds compose adaptively: the RDP/PLD accountant of the Gaussian (q = 1) over the rounds
//!   (Dwork & Roth 2014, Thm A.1; Mironov 2017, Prop. 7 and Prop. 1). κ̂ is measured on the
//!   aggregate before the noise.
//!
//! # Determinism
//! Every draw comes from a stream named by its role, keyed by (seed, replicate): `batches/
//! client/<i>` and `dp-noise/client/<i>` (client i's batches and DP noise), `attack`, `rule`,
//! `dp-noise/server`. The clients run in parallel through [`crate::experiment::par_map_indexed`]
//! and each touches only its own state, so the records are the same bytes for any thread
//! count.
//!
//! # Robustness
//! A Byzantine vector with ±∞ or 1e300 entries goes to the rule as it is: robust rules handle
//! far points; a rule undefined on ±∞ stops the run with its reason ([`RunStatus::Failed`]);
//! the plain average is poisoned, which is its non-robustness: the first non-finite θ (or an
//! evaluation that overflows at a finite θ sent far) stops the run as [`RunStatus::Diverged`]
//! at that round, never a panic or an error. Memory is flat in the number of rounds: records
//! are streamed to a sink, nothing is kept per round.

mod client;
pub mod config;
pub mod measure;

pub use config::{
    is_label_flipping, Algorithm, DpConfig, DpLevel, Sampling, TrainConfig, LABEL_FLIPPING,
};
pub use measure::{Evaluation, GbFit};

use crate::aggregators::{AggContext, FillLast, Pipeline};
use crate::attacks::{self, Attack, AttackContext};
use crate::data::population::MAX_VALUES;
use crate::data::{all_finite, map_blocks_mut_in_order, with_scratch, Updates, UpdatesView};
use crate::experiment::par_map_indexed;
use crate::experiment::robust::Streams;
use crate::learning::model::{DenseNet, Mat};
use crate::learning::{momentum, Examples, Model};
use crate::params::Compat;
use crate::privacy::accounting::{Accountant, AccountantKind, PldAccountant, RdpAccountant};
use crate::privacy::sgd::clip_in_place;
use crate::privacy::PrivacyCost;
use crate::rng::SimRng;
use crate::{Error, Result};
use client::{classes, Client, Drawn, StepSettings};
use measure::FitSums;
use nalgebra::{DMatrix, DVector};
use rand::RngExt;
use rand_distr::StandardNormal;
use serde::Serialize;
use std::time::Instant;

/// Coordinates per parallel block of the server's step (64 KiB of θ).
const SERVER_BLOCK: usize = 8192;

/// A core's L2 on the smallest of today's x86 server cores (AMD Zen 4 and 5: 1 MiB; Intel
/// Sapphire and Emerald Rapids: 2 MiB), which the round's client phase is sized for.
const L2_BYTES: usize = 1 << 20;

/// Clients whose batches share one first-layer product ([`stacked_net`]): 2 batches of 32
/// MNIST-sized examples are 400 kB, so with the momentum lines asked for meanwhile each
/// client's batch is still in a 1 MiB L2 ([`L2_BYTES`]) for its weight gradient. Groups of 4
/// (800 kB, sized for a 2 MiB L2) made the round 1.14–1.19× as long for softmax regression
/// and 1.03× for the MLP on Zen 4, its batch read back from L3 (docs/performance.md, "zen13").
const STACKED_CLIENTS: usize = 2;

thread_local! {
    /// Each thread's buffer for one client's gradient (d entries), kept from round to round.
    static GRAD_SCRATCH: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Each thread's buffers for a group's batches and their first-layer products.
    static STACK_SCRATCH: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
    static PRODUCT_SCRATCH: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[cfg(test)]
thread_local! {
    /// Whether the rounds this thread starts gather the stacked groups' batches even where
    /// the products read them in place: the tests' way to run the gather branch on an
    /// AVX-512 CPU (`tests::trajectory`).
    static GATHERS_BATCHES: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a round's stacked groups list their batches where they lie in the clients' data
/// (on a CPU where the products read them in place) instead of gathering them into one block.
fn lists_batches(net: &DenseNet) -> bool {
    #[cfg(test)]
    if GATHERS_BATCHES.get() {
        return false;
    }
    net.reads_examples_in_place()
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RunStatus {
    /// Every round ran.
    Completed,
    /// θ, a client's gradient or the aggregate stopped being finite at `round` (the plain
    /// average under a far or infinite attack, or too large a learning rate); the parameters
    /// are those before that round.
    Diverged {
        /// The round (1-based) whose update was not finite.
        round: usize,
        /// What was not finite.
        reason: String,
    },
    /// A step refused its input at `round` (an attack or rule that cannot run on what it was
    /// given).
    Failed {
        /// The round (1-based).
        round: usize,
        /// The step's error.
        reason: String,
    },
}

/// One round's record, as the sink receives it (and `lbounds train --json` prints it).
#[derive(Clone, Debug, Serialize)]
pub struct RoundRecord<'a> {
    /// The round, from 1.
    pub round: usize,
    /// Wall time of the round's computation (clients, attack, aggregation, update), seconds;
    /// evaluation excluded.
    pub seconds: f64,
    /// The learning rate the round used.
    pub lr: f64,
    /// Mean over the honest clients of their batch losses at θ before the update (ByzFL's
    /// `train_loss`); `None` when every batch was empty. `"inf"` in JSON where it overflowed.
    #[serde(with = "crate::experiment::robust::extended_real::option")]
    pub train_loss: Option<f64>,
    /// ε spent so far at the configured δ (`None` without DP, with σ = 0, or with the PLD
    /// accountant outside evaluation rounds; `"inf"` in JSON where the noise is too small
    /// for a finite bound).
    #[serde(with = "crate::experiment::robust::extended_real::option")]
    pub epsilon: Option<f64>,
    /// Completed, or why the run stopped at this round.
    #[serde(flatten)]
    pub status: &'a RunStatus,
    /// The evaluation after this round's update, on evaluation rounds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval: Option<&'a Evaluation>,
    /// θ after the round (before it, for a run that stopped here), in the model's layout.
    pub params: &'a [f64],
}

/// What a finished run reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainSummary {
    /// Rounds run (the stopping round included).
    pub rounds: usize,
    /// Completed, diverged or failed.
    #[serde(flatten)]
    pub status: RunStatus,
    /// The last evaluation.
    pub last_eval: Option<Evaluation>,
    /// ε spent at the configured δ (`None` without DP or with σ = 0; `"inf"` in JSON where
    /// the noise is too small for a finite bound).
    #[serde(with = "crate::experiment::robust::extended_real::option")]
    pub epsilon: Option<f64>,
    /// Total wall time of the rounds (evaluations excluded), seconds.
    pub seconds: f64,
    /// The final parameters.
    #[serde(skip)]
    pub params: Vec<f64>,
}

/// The Byzantine users' strategy.
enum Byzantine {
    /// An attack of [`crate::attacks`].
    Attack(Box<dyn Attack>),
    /// The mean of the honest raw gradients on flipped labels.
    LabelFlipping,
}

/// The privacy accountant of a run and the cost it adds per round.
struct Privacy {
    acc: Box<dyn Accountant + Send>,
    kind: AccountantKind,
    cost: PrivacyCost,
    per_round: u64,
    delta: f64,
}

/// A training run in progress: the state between rounds. [`train`] drives it; benches and
/// custom drivers call [`Trainer::round`] themselves.
pub struct Trainer<'a> {
    model: &'a dyn Model,
    cfg: &'a TrainConfig,
    clients: Vec<Client<'a>>,
    test: Option<&'a Examples>,
    settings: StepSettings,
    theta: Vec<f64>,
    /// The server step's output buffer, swapped with `theta` after a finite step.
    next_theta: Vec<f64>,
    /// d × n: the honest clients' vectors (momentum, or FedAvg parameters), then the f
    /// Byzantine ones; reused every round, the honest part persisting as the momentum.
    received: Updates,
    /// d × h raw flipped-label gradients (label flipping only).
    flipped: Option<Updates>,
    pipeline: Pipeline,
    byzantine: Option<Byzantine>,
    attack_rng: SimRng,
    rule_rng: SimRng,
    server_noise: SimRng,
    /// The attack's view of the defence's state (module docs).
    attack_state: Option<DVector<f64>>,
    /// The server's previous aggregate (centered clipping starts from it).
    previous: Option<DVector<f64>>,
    lr: f64,
    done: usize,
    privacy: Option<Privacy>,
    fit: FitSums,
    eval_grads: Option<Updates>,
    status: RunStatus,
    last_eval: Option<Evaluation>,
    seconds: f64,
}

/// What [`Trainer::round`] reports (the record's owned parts).
#[derive(Clone, Debug)]
pub struct RoundOutcome {
    /// The round, from 1.
    pub round: usize,
    /// Wall time of the round, seconds (evaluation excluded).
    pub seconds: f64,
    /// The learning rate used.
    pub lr: f64,
    /// Mean honest batch loss before the update.
    pub train_loss: Option<f64>,
    /// ε so far.
    pub epsilon: Option<f64>,
    /// Whether this round evaluated (see [`Trainer::last_eval`]).
    pub evaluated: bool,
}

impl<'a> Trainer<'a> {
    /// Checks everything and prepares a run: `honest[i]` is honest client i's local data,
    /// `init` the initial θ, `streams` the run's (seed, replicate).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the problem: the config's, no honest client, a
    /// client with no examples, data that does not fit the model (features, task), an initial
    /// vector of the wrong length or not finite, an unknown rule or attack, a defence that
    /// cannot run with n = h + f inputs (e.g. f ≥ n/2 for a rule needing n > 2f), a run past
    /// the size limit.
    pub fn new(
        model: &'a dyn Model,
        honest: &'a [Examples],
        test: Option<&'a Examples>,
        init: Vec<f64>,
        cfg: &'a TrainConfig,
        streams: Streams,
    ) -> Result<Trainer<'a>> {
        cfg.validate()?;
        let h = honest.len();
        if h == 0 {
            return Err(Error::invalid(
                "clients",
                0,
                "need at least one honest client",
            ));
        }
        let d = model.n_params();
        if init.len() != d {
            return Err(Error::invalid(
                "init",
                format!("{} values", init.len()),
                format!("{} has {d} parameters", model.describe()),
            ));
        }
        if let Some(v) = init.iter().find(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "init",
                v,
                "initial parameters must be finite",
            ));
        }
        for (i, c) in honest.iter().chain(test).enumerate() {
            let who = if i < h {
                format!("client {i}")
            } else {
                "the test set".to_string()
            };
            if c.is_empty() {
                return Err(Error::invalid(
                    "clients",
                    format!("{who} has no examples"),
                    "every honest client needs at least one example",
                ));
            }
            if c.features() != model.n_features() {
                return Err(Error::invalid(
                    "features",
                    c.features(),
                    format!(
                        "{who} has {} features, {} expects {}",
                        c.features(),
                        model.describe(),
                        model.n_features()
                    ),
                ));
            }
            if c.task() != model.task() {
                return Err(Error::invalid(
                    "task",
                    format!("{:?}", c.task()),
                    format!(
                        "{who}'s targets do not fit {} ({:?})",
                        model.describe(),
                        model.task()
                    ),
                ));
            }
        }
        let f = cfg.byzantine;
        let n = h + f;
        if (n as u64).saturating_mul(d as u64) > MAX_VALUES {
            return Err(Error::invalid(
                "clients",
                n,
                format!("n·d = {n}·{d} values exceed the limit of {MAX_VALUES} (8 GiB of f64)"),
            ));
        }
        // Rules (and `min_max`) that hold n × n matrices refuse n past
        // `aggregators::MAX_PAIRWISE_N` here, before any round (70 000 clients under Krum
        // were killed for memory in round 1).
        let pipeline = cfg.defence.build(cfg.compat)?;
        pipeline.check_n(n)?;
        let byzantine = match cfg.active_attack() {
            None => None,
            Some(a) if is_label_flipping(&a.name) => {
                if classes(model.task()).is_none() {
                    return Err(Error::invalid(
                        "attack",
                        LABEL_FLIPPING,
                        "label flipping needs a classification task",
                    ));
                }
                Some(Byzantine::LabelFlipping)
            }
            Some(a) => Some(Byzantine::Attack(attacks::build(
                &a.name, &a.params, cfg.compat,
            )?)),
        };
        let flipping = matches!(byzantine, Some(Byzantine::LabelFlipping));
        let dp_example = cfg
            .privacy
            .filter(|p| p.level == DpLevel::Example)
            .map(|p| (p.clip, p.noise_multiplier));
        let settings = StepSettings {
            batch: cfg.batch_size,
            sampling: cfg.effective_sampling(),
            dp: dp_example,
            flip_classes: if flipping {
                classes(model.task())
            } else {
                None
            },
        };
        let clients: Vec<Client<'a>> = honest
            .iter()
            .enumerate()
            .map(|(i, data)| {
                Client::new(
                    data,
                    streams.get(&format!("batches/client/{i}")),
                    streams.get(&format!("dp-noise/client/{i}")),
                )
            })
            .collect();
        let privacy = match cfg.privacy {
            Some(dp) if dp.noise_multiplier > 0.0 => {
                let (q, per_round) = match dp.level {
                    DpLevel::Example => (
                        clients
                            .iter()
                            .map(|c| c.sample_rate(&settings))
                            .fold(0.0, f64::max),
                        match cfg.algorithm {
                            Algorithm::Dsgd => 1,
                            Algorithm::FedAvg { local_steps } => local_steps as u64,
                        },
                    ),
                    DpLevel::User => (1.0, 1),
                };
                let acc: Box<dyn Accountant + Send> = match dp.accountant {
                    AccountantKind::Rdp => Box::new(RdpAccountant::default()),
                    AccountantKind::Pld => Box::new(PldAccountant::default()),
                };
                Some(Privacy {
                    acc,
                    kind: dp.accountant,
                    cost: PrivacyCost::SubsampledGaussian {
                        noise_multiplier: dp.noise_multiplier,
                        sample_rate: q,
                    },
                    per_round,
                    delta: dp.delta,
                })
            }
            _ => None,
        };
        Ok(Trainer {
            model,
            cfg,
            clients,
            test,
            settings,
            next_theta: vec![0.0; d],
            theta: init,
            received: Updates::new(DMatrix::zeros(d, n))?,
            flipped: if flipping {
                Some(Updates::new(DMatrix::zeros(d, h))?)
            } else {
                None
            },
            pipeline,
            byzantine,
            attack_rng: streams.get("attack"),
            rule_rng: streams.get("rule"),
            server_noise: streams.get("dp-noise/server"),
            attack_state: None,
            previous: None,
            lr: cfg.lr,
            done: 0,
            privacy,
            fit: FitSums::default(),
            eval_grads: None,
            status: RunStatus::Completed,
            last_eval: None,
            seconds: 0.0,
        })
    }

    /// The current parameters.
    pub fn params(&self) -> &[f64] {
        &self.theta
    }

    /// Rounds run so far.
    pub fn rounds_done(&self) -> usize {
        self.done
    }

    /// Whether the run is over (all rounds run, or stopped).
    pub fn finished(&self) -> bool {
        self.done >= self.cfg.rounds || self.status != RunStatus::Completed
    }

    /// Completed so far, or why the run stopped.
    pub fn status(&self) -> &RunStatus {
        &self.status
    }

    /// The most recent evaluation.
    pub fn last_eval(&self) -> Option<&Evaluation> {
        self.last_eval.as_ref()
    }

    /// Runs one round (module docs), and the evaluation when the round is an evaluation round.
    /// A round that stops the run sets [`Trainer::status`] and keeps θ as it was; an evaluation
    /// that overflows at the new θ stops the run at that round as diverged, with that θ.
    ///
    /// # Errors
    /// Only errors that are not findings about the run (a sink or model bug); a diverging or
    /// refused round is a status, not an error.
    pub fn round(&mut self) -> Result<RoundOutcome> {
        let t = self.done; // 0-based round index
        let round = t + 1;
        let lr = self.lr;
        let start = Instant::now();
        let stop = match self.compute_round(lr) {
            Ok(step) => step,
            Err(e) => Step::Stop(RunStatus::Failed {
                round,
                reason: e.to_string(),
            }),
        };
        let train_loss = match stop {
            Step::Stop(status) => {
                self.status = status;
                None
            }
            Step::Done { train_loss } => train_loss,
        };
        let seconds = start.elapsed().as_secs_f64();
        self.seconds += seconds;
        self.done = round;
        self.lr = self.cfg.next_lr(lr, round);
        let evaluate = self.status == RunStatus::Completed
            && (round.is_multiple_of(self.cfg.eval_every) || round == self.cfg.rounds);
        if let Some(p) = &mut self.privacy {
            p.acc.compose(p.cost, p.per_round)?;
        }
        let epsilon = match &self.privacy {
            Some(p) if p.kind == AccountantKind::Rdp || evaluate || self.finished() => {
                Some(p.acc.epsilon(p.delta)?)
            }
            _ => None,
        };
        let evaluated = evaluate
            && match self.evaluate() {
                Ok(e) => {
                    self.last_eval = Some(e);
                    true
                }
                // θ is finite but the evaluation at it overflows (the honest clients' full
                // gradients at a θ that a poisoned average has sent to 1e297): a finding about
                // the run, as when the next round's gradients would overflow, not an error.
                Err(e @ Error::NonFinite { .. }) => {
                    self.status = RunStatus::Diverged {
                        round,
                        reason: e.to_string(),
                    };
                    false
                }
                Err(e) => return Err(e),
            };
        Ok(RoundOutcome {
            round,
            seconds,
            lr,
            train_loss,
            epsilon,
            evaluated,
        })
    }

    /// The client phase, the attack, the aggregation and the update.
    fn compute_round(&mut self, lr: f64) -> Result<Step> {
        let h = self.clients.len();
        let f = self.cfg.byzantine;
        let d = self.theta.len();
        let beta = self.cfg.momentum;
        // (1 − β) in f64, as ByzFL's Python float (0.09999999999999998 for β = 0.9).
        let alpha = 1.0 - beta;
        let lambda = self.cfg.weight_decay;
        let local_lr = match self.cfg.compat {
            Compat::Byzfl => self.cfg.lr,
            Compat::Native => lr,
        };
        let (model, settings, algorithm) = (self.model, self.settings, self.cfg.algorithm);
        let theta: &[f64] = &self.theta;
        // Honest phase: each client owns its state, its column of `received` and of `flipped`.
        let columns = self.received.as_mut_slice()[..h * d].chunks_mut(d);
        let mut flips: Vec<Option<&mut [f64]>> = match &mut self.flipped {
            Some(u) => u.as_mut_slice().chunks_mut(d).map(Some).collect(),
            None => (0..h).map(|_| None).collect(),
        };
        let mut items: Vec<_> = self
            .clients
            .iter_mut()
            .zip(columns)
            .zip(flips.iter_mut())
            .map(|((c, col), fl)| (c, col, fl.take()))
            .collect();
        // A client's gradient goes into its thread's scratch buffer, reused by every client
        // the thread runs: it stays in cache for the momentum update that reads it, instead
        // of h buffers of d entries each (25 MB for the MLP at h = 40) cycling through memory.
        let losses: Vec<Result<Option<f64>>> = match stacked_net(model, algorithm, &settings) {
            Some(net) => {
                // Clients in groups of `STACKED_CLIENTS`: the group's batches side by side in
                // one first-layer product (W₁ packed once per round, not once per client),
                // then each client's step on its own columns, the same bits as alone, while
                // its batch is still in cache. Groups are fixed, whatever the thread count.
                let (p, width) = (net.widths()[0], net.widths()[1]);
                // Where the products read the examples in place (on AVX-512), the group's
                // batches are listed where they lie in the clients' data; elsewhere they are
                // gathered side by side into one block, once.
                let in_place = lists_batches(net);
                // W₁ packed once for every group's product.
                let first = net.first_layer(theta);
                // The clients' momenta, read and written once each per round: from beyond
                // L2 where together they exceed it (the MLP's 25 MB at h = 40, softmax
                // regression's 2.5 MB), so the products that step them ask for their lines
                // ahead (softmax regression's round 0.89–0.90 as long with the asks on Zen 4,
                // docs/performance.md, "zen13"; on a 2 MiB L2 they had cost it 1–3 %).
                let momenta_from_memory = h * d * std::mem::size_of::<f64>() > L2_BYTES;
                let first = &first;
                let mut groups: Vec<_> = items.chunks_mut(STACKED_CLIENTS).collect();
                par_map_indexed(&mut groups, |_, group| {
                    let mut sizes = Vec::with_capacity(group.len());
                    for (client, _, _) in group.iter_mut() {
                        client.draw(&settings);
                        sizes.push(client.idx.len());
                    }
                    let total: usize = sizes.iter().sum();
                    let steps = |group: &mut [Member<'_, '_>], x: Mat<'_>, xs: Vec<Mat<'_>>| {
                        with_scratch(&PRODUCT_SCRATCH, width * total, |z| {
                            net.first_layer_product(first, x, z);
                            let zs = split(z, sizes.iter().map(|&b| b * width));
                            group
                                .iter_mut()
                                .zip(xs.into_iter().zip(zs))
                                .map(|((client, col, flip), (x, product))| {
                                    with_scratch(&GRAD_SCRATCH, d, |grad| {
                                        let drawn = Drawn::Stacked { net, x, product };
                                        let flip = flip.as_deref_mut();
                                        if beta == 0.0 {
                                            let loss = client.estimate(
                                                model, theta, &settings, drawn, grad, flip,
                                            )?;
                                            momentum_step(col, grad, beta, alpha)?;
                                            return Ok(loss);
                                        }
                                        // The gradient stepped into m while the products
                                        // run (docs/performance.md, "fold13").
                                        let mut m = momentum::Momentum::new(col, beta, alpha)
                                            .streaming(momenta_from_memory);
                                        client.stacked_step(
                                            drawn, theta, &settings, grad, &mut m, flip,
                                        )
                                    })
                                })
                                .collect::<Vec<_>>()
                        })
                    };
                    if in_place {
                        let mut columns = Vec::with_capacity(total);
                        for (client, _, _) in group.iter_mut() {
                            client.list_batch(&mut columns);
                        }
                        let xs = split(&columns, sizes.iter().copied())
                            .into_iter()
                            .map(|c| Mat::listed(c, p))
                            .collect();
                        steps(group, Mat::listed(&columns, p), xs)
                    } else {
                        with_scratch(&STACK_SCRATCH, p * total, |x| {
                            let pieces = split_mut(x, sizes.iter().map(|&b| b * p));
                            for ((client, _, _), piece) in group.iter_mut().zip(pieces) {
                                client.gather_into(piece);
                            }
                            let xs = split(x, sizes.iter().map(|&b| b * p))
                                .into_iter()
                                .zip(&sizes)
                                .map(|(x, &b)| Mat::col_major(x, p, b))
                                .collect();
                            steps(group, Mat::col_major(x, p, total), xs)
                        })
                    }
                })
                .into_iter()
                .flatten()
                .collect()
            }
            None => par_map_indexed(&mut items, |_, (client, col, flip)| {
                with_scratch(&GRAD_SCRATCH, d, |grad| match algorithm {
                    Algorithm::Dsgd => {
                        let loss =
                            client.gradient(model, theta, &settings, grad, flip.as_deref_mut())?;
                        momentum_step(col, grad, beta, alpha)?;
                        Ok(loss)
                    }
                    Algorithm::FedAvg { local_steps } => {
                        col.copy_from_slice(theta);
                        let mut first = None;
                        for k in 0..local_steps {
                            let loss = client.gradient(model, col, &settings, grad, None)?;
                            client::check_finite(grad)?;
                            if k == 0 {
                                first = loss;
                            }
                            for (w, g) in col.iter_mut().zip(grad.iter()) {
                                let step = if lambda != 0.0 { g + lambda * *w } else { *g };
                                *w -= local_lr * step;
                            }
                        }
                        if col.iter().all(|w| w.is_finite()) {
                            Ok(first)
                        } else {
                            Err(Error::NonFinite {
                                what: "a client's local parameters".into(),
                                detail: "they overflow f64 (lower the learning rate)".into(),
                            })
                        }
                    }
                })
            }),
        };
        drop(items);
        let mut sum = 0.0;
        let mut counted = 0usize;
        for r in losses {
            match r {
                Ok(Some(l)) => {
                    sum += l;
                    counted += 1;
                }
                Ok(None) => {}
                Err(e @ Error::NonFinite { .. }) => {
                    return Ok(Step::Stop(RunStatus::Diverged {
                        round: self.done + 1,
                        reason: e.to_string(),
                    }))
                }
                Err(e) => return Err(e),
            }
        }
        let train_loss = (counted > 0).then(|| sum / counted as f64);

        // The Byzantine vectors, f of them after the honest ones, written in place. When they
        // are f copies of one vector and the rule can take multiplicities, only the first is
        // written and the rule gets it counted f times (the same result, to the bit for the
        // average and Krum: `Aggregator::aggregate_counted`).
        let central = self.cfg.privacy.filter(|p| p.level == DpLevel::User);
        let copies = match self.byzantine.as_ref() {
            Some(Byzantine::Attack(attack)) => attack.sends_copies(),
            Some(Byzantine::LabelFlipping) => true,
            None => false,
        };
        let counted = f > 1
            && copies
            && self.pipeline.takes_counts()
            && central.and_then(|p| p.clip).is_none();
        let written = if counted { 1 } else { f };
        // A counted vector computed coordinate by coordinate (ALIE) is written by the rule's
        // first pass over the honest vectors, block by block: one read of them instead of
        // two (`aggregators::FillLast`), the same bits.
        let coordinatewise = match self.byzantine.as_ref() {
            Some(Byzantine::Attack(attack)) if counted => attack.coordinatewise(),
            _ => None,
        };
        if let Some(cw) = coordinatewise {
            cw.check_honest(UpdatesView::from_slice(
                &self.received.view().as_slice()[..h * d],
                d,
            ))?;
        } else if f > 0 {
            let (honest, byz) =
                self.received.as_mut_slice()[..(h + written) * d].split_at_mut(h * d);
            let honest = UpdatesView::from_slice(honest, d);
            match self.byzantine.as_ref() {
                Some(Byzantine::Attack(attack)) => {
                    if self.cfg.compat == Compat::Native {
                        self.attack_state.clone_from(&self.previous);
                    }
                    let mut cx = AttackContext {
                        rng: &mut self.attack_rng,
                        defence: Some(&self.pipeline),
                        defence_state: Some(&mut self.attack_state),
                    };
                    attack.corrupt_into(honest, byz, &mut cx)?;
                }
                Some(Byzantine::LabelFlipping) => {
                    // invariant: label flipping allocates `flipped`.
                    let flipped = self.flipped.as_ref().expect("invariant: flipped buffer");
                    let mean = crate::attacks::a_little_is_enough::byzfl_mean(flipped.view());
                    for c in byz.chunks_mut(d) {
                        c.copy_from_slice(mean.as_slice());
                    }
                }
                // invariant: validation requires an attack when f > 0.
                None => return Err(Error::invalid("attack", "none", "f > 0 needs an attack")),
            }
        }

        // Aggregation.
        let mut cx = AggContext {
            rng: &mut self.rule_rng,
            previous: self.previous.as_ref(),
        };
        let out = match central.and_then(|p| p.clip) {
            Some(c) => {
                let mut clipped = self.received.clone();
                for col in clipped.as_mut_slice().chunks_mut(d) {
                    clip_in_place(col, c);
                }
                self.pipeline.run_owned(clipped, &mut cx)
            }
            None if counted => {
                let distinct = &mut self.received.as_mut_slice()[..(h + 1) * d];
                let counts: Vec<usize> = (0..=h).map(|i| if i < h { 1 } else { f }).collect();
                match coordinatewise {
                    Some(cw) => {
                        let fill = |honest: UpdatesView<'_>,
                                    lo: usize,
                                    out: &mut [f64],
                                    sum: Option<&mut [f64]>| {
                            cw.fill_block(honest, lo, out, sum)
                        };
                        let x = FillLast::new(distinct, d, &fill)?;
                        let out = self.pipeline.run_counted_filling(x, &counts, &mut cx);
                        // The attack's own refusal comes first, as when it is written apart.
                        cw.check_vector(&self.received.view().as_slice()[h * d..(h + 1) * d])?;
                        out
                    }
                    None => self.pipeline.run_counted(
                        UpdatesView::from_slice(distinct, d),
                        &counts,
                        &mut cx,
                    ),
                }
            }
            None => self.pipeline.run(self.received.view(), &mut cx),
        };
        let mut aggregate = match out {
            Ok(a) => a,
            // A rule with no finite output on this input (the average of ±∞): poisoned.
            Err(e @ Error::NonFinite { .. }) => {
                return Ok(Step::Stop(RunStatus::Diverged {
                    round: self.done + 1,
                    reason: e.to_string(),
                }))
            }
            Err(e) => {
                return Ok(Step::Stop(RunStatus::Failed {
                    round: self.done + 1,
                    reason: e.to_string(),
                }))
            }
        };
        if !all_finite(aggregate.as_slice()) {
            return Ok(Step::Stop(RunStatus::Diverged {
                round: self.done + 1,
                reason: format!("the aggregate of {} is not finite", self.pipeline.label()),
            }));
        }
        // The server's centered clipping starts the next round from the rule's own output
        // (before any DP noise), which is also what κ̂ measures.
        let robust_output = central.map(|_| aggregate.clone());
        if let Some(p) = central {
            if let Some(c) = p.clip {
                clip_in_place(aggregate.as_mut_slice(), c);
            }
            if p.noise_multiplier > 0.0 {
                // invariant: validation requires a clip norm when σ > 0.
                let c = p.clip.unwrap_or(0.0);
                let plain_average = self.pipeline.pre.is_empty()
                    && self.pipeline.agg.name() == crate::aggregators::average::SPEC.name;
                let sensitivity = if plain_average {
                    2.0 * c / (h + f) as f64
                } else {
                    2.0 * c
                };
                let sd = p.noise_multiplier * sensitivity;
                for v in aggregate.iter_mut() {
                    *v += sd * self.server_noise.sample::<f64, _>(StandardNormal);
                }
            }
        }

        // The server's step, into the spare buffer (θ stays as it was if the step diverges),
        // coordinate blocks in parallel.
        let next = &mut self.next_theta;
        let finite = match algorithm {
            Algorithm::Dsgd => {
                let (theta, a) = (&self.theta, aggregate.as_slice());
                map_blocks_mut_in_order(next, SERVER_BLOCK, |b, next| {
                    let lo = b * SERVER_BLOCK;
                    let (theta, a) = (&theta[lo..lo + next.len()], &a[lo..lo + next.len()]);
                    for ((n, w), a) in next.iter_mut().zip(theta).zip(a) {
                        // torch.optim.SGD: d_p = a + λ·w; w ← w − η·d_p.
                        let dp = if lambda != 0.0 { a + lambda * w } else { *a };
                        *n = w - lr * dp;
                    }
                    all_finite(next)
                })
                .into_iter()
                .all(|ok| ok)
            }
            Algorithm::FedAvg { .. } => {
                next.copy_from_slice(aggregate.as_slice());
                all_finite(next)
            }
        };
        if !finite {
            return Ok(Step::Stop(RunStatus::Diverged {
                round: self.done + 1,
                reason: "the parameters are not finite after the update".into(),
            }));
        }
        std::mem::swap(&mut self.theta, &mut self.next_theta);
        self.previous = Some(robust_output.unwrap_or(aggregate));
        Ok(Step::Done { train_loss })
    }

    /// The evaluation at the current θ, with κ̂ of this round's rule output.
    fn evaluate(&mut self) -> Result<Evaluation> {
        let h = self.clients.len();
        let n = h + self.cfg.byzantine;
        let d = self.theta.len();
        let kappa_hat = match &self.previous {
            Some(a) => measure::kappa_hat(self.received.view().first(h), a.as_slice()),
            None => 0.0,
        };
        let (test_accuracy, test_loss) = match self.test {
            Some(test) => {
                let e = self.model.evaluate(&self.theta, test.batch())?;
                (e.accuracy, Some(e.loss))
            }
            None => (None, None),
        };
        let grads = match &mut self.eval_grads {
            Some(g) => g,
            None => self.eval_grads.insert(Updates::new(DMatrix::zeros(d, h))?),
        };
        let (model, theta) = (self.model, &self.theta);
        let mut items: Vec<_> = self
            .clients
            .iter()
            .zip(grads.as_mut_slice().chunks_mut(d))
            .collect();
        let losses = par_map_indexed(&mut items, |_, (client, out)| {
            client.full_gradient(model, theta, out)
        });
        drop(items);
        let mut honest_loss = 0.0;
        for l in losses {
            honest_loss += l?;
        }
        honest_loss /= h as f64;
        if !grads.view().all_finite() {
            return Err(Error::NonFinite {
                what: "the honest clients' full gradients".into(),
                detail: "they overflow f64".into(),
            });
        }
        let (grad_norm_sq, g2) = measure::heterogeneity(grads.view());
        self.fit.add(grad_norm_sq, g2);
        let fit = self.fit.fit();
        let (floor_b2, floor_b3) = measure::floors(n, self.cfg.byzantine, g2, fit);
        Ok(Evaluation {
            test_accuracy,
            test_loss,
            honest_loss,
            grad_norm_sq,
            g2,
            fit,
            kappa_hat,
            floor_b2,
            floor_b3,
        })
    }

    /// Builds the record of the round `o` reported.
    pub fn record<'s>(&'s self, o: &RoundOutcome) -> RoundRecord<'s> {
        RoundRecord {
            round: o.round,
            seconds: o.seconds,
            lr: o.lr,
            train_loss: o.train_loss,
            epsilon: o.epsilon,
            status: &self.status,
            eval: if o.evaluated {
                self.last_eval.as_ref()
            } else {
                None
            },
            params: &self.theta,
        }
    }

    /// The summary so far.
    pub fn summary(&self) -> Result<TrainSummary> {
        let epsilon = match &self.privacy {
            Some(p) => Some(p.acc.epsilon(p.delta)?),
            None => None,
        };
        Ok(TrainSummary {
            rounds: self.done,
            status: self.status.clone(),
            last_eval: self.last_eval.clone(),
            epsilon,
            seconds: self.seconds,
            params: self.theta.clone(),
        })
    }
}

/// How a round's computation ended.
enum Step {
    Done { train_loss: Option<f64> },
    Stop(RunStatus),
}

/// The dense model whose clients' first-layer products the round computes together: the
/// native [`DenseNet`] (a candle model's twin would compute on the wrong backend), D-SGD with
/// plain batch means (shuffled batches, no DP) of at most one chunk.
fn stacked_net<'m>(
    model: &'m dyn Model,
    algorithm: Algorithm,
    settings: &StepSettings,
) -> Option<&'m DenseNet> {
    match (algorithm, settings.batch) {
        (Algorithm::Dsgd, Some(b)) if !settings.sums() => {
            model.as_native_dense().filter(|net| net.one_chunk(b))
        }
        _ => None,
    }
}

/// A client of a stacked group with its momentum column and its flipped-label gradient.
type Member<'c, 'd> = (&'c mut Client<'d>, &'c mut [f64], Option<&'c mut [f64]>);

/// Heavy-ball momentum m ← βm + (1 − β)g ([`momentum::step`]), with the client's gradient g
/// checked finite in the same pass ([`Error::NonFinite`] otherwise, m then holding the
/// non-finite update: the run stops there).
fn momentum_step(m: &mut [f64], g: &[f64], beta: f64, alpha: f64) -> Result<()> {
    if momentum::step(m, g, beta, alpha) {
        Ok(())
    } else {
        Err(client::gradient_overflow())
    }
}

/// `v`'s consecutive pieces of the given lengths (their sum at most `v.len()`).
fn split<T>(mut v: &[T], lens: impl Iterator<Item = usize>) -> Vec<&[T]> {
    lens.map(|n| {
        let (head, tail) = v.split_at(n);
        v = tail;
        head
    })
    .collect()
}

/// [`split`] for mutable pieces.
fn split_mut(mut v: &mut [f64], lens: impl Iterator<Item = usize>) -> Vec<&mut [f64]> {
    lens.map(|n| {
        let (head, tail) = std::mem::take(&mut v).split_at_mut(n);
        v = tail;
        head
    })
    .collect()
}

/// Trains: `cfg.rounds` rounds (fewer if the run diverges or a step refuses its input), each
/// round's record handed to `sink` as soon as it is computed (nothing is kept per round).
///
/// # Errors
/// Those of [`Trainer::new`] (bad input: nothing ran) and of `sink`.
pub fn train(
    model: &dyn Model,
    honest: &[Examples],
    test: Option<&Examples>,
    init: Vec<f64>,
    cfg: &TrainConfig,
    streams: Streams,
    sink: &mut dyn FnMut(&RoundRecord<'_>) -> Result<()>,
) -> Result<TrainSummary> {
    let mut tr = Trainer::new(model, honest, test, init, cfg, streams)?;
    while !tr.finished() {
        let o = tr.round()?;
        sink(&tr.record(&o))?;
    }
    tr.summary()
}

#[cfg(test)]
mod tests;
