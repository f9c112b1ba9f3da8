//! Sweep configurations: a TOML file naming an experiment and a grid of parameter lists.
//!
//! ```toml
//! name = "breakdown"          # names the records (figures find their data by it)
//! experiment = "robust"       # the experiment kind: robust, dp_mean, dp_robust, train, exposure,
//!                             # mia, audit, block, unlearn, memorize, onion
//! seed = 1                    # every random stream is keyed by (seed, point, replicate)
//! replicates = 10             # runs per grid point
//! description = "optional free text"
//! # zip = [["byzantine_fraction", "n"]]  # optional: walk these lists together
//!
//! [grid]                      # every key is a list; a single value means a list of one
//! rule = ["median", "trmean", "geometric_median"]
//! attack = ["sign_flipping", "a_little_is_enough"]
//! byzantine_fraction = [0.0, 0.1, 0.2, 0.3, 0.4]
//! n = 50
//! d = 20
//! ```
//!
//! # The grid
//!
//! The grid is the **Cartesian product** of the lists, taken in the fixed key order of the
//! experiment's schema ([`ROBUST_KEYS`], [`DP_MEAN_KEYS`], [`DP_ROBUST_KEYS`],
//! [`TRAIN_KEYS`], [`EXPOSURE_KEYS`], [`AUDIT_KEYS`]; not the order
//! of the file), the last key varying
//! fastest; point `p` is the `p`-th element of that product, counting from 0. Keys listed
//! together in one `zip` group are walked **together** instead (their lists must have the
//! same length; element i of each goes into the same point) and the group takes the place of
//! its first key in the product. Several groups are allowed; a key may be in one group only.
//!
//! # Keys of the `robust` experiment (robust aggregation, as `lbounds simulate`)
//!
//! | key | type | meaning | default |
//! |---|---|---|---|
//! | `rule` | string `NAME[:K=V,...]` | aggregation rule (`lbounds list`) | required |
//! | `pre` | string `NAME[:K=V]+NAME...` | pre-aggregators, `+`-separated, `""` for none | `""` |
//! | `attack` | string `NAME[:K=V,...]` | the Byzantine users' attack | required |
//! | `n` | integer ≥ 1 | users, honest and Byzantine | 50 |
//! | `d` | integer ≥ 1 | dimension | 20 |
//! | `byzantine_fraction` | float in [0, 0.5) | f = ⌊fraction·n⌋ | 0 |
//! | `heterogeneity` | float ≥ 0 | target G² of the honest users' means | 0 |
//! | `exact_heterogeneity` | bool | rescale means so the measured G² is exact | false |
//! | `mean` | float | every coordinate of the true mean μ | 1 |
//! | `noise` | string `KIND[:K=V,...]` | gaussian, student_t, log_normal, pareto | `gaussian:sigma=1` |
//! | `records` | integer ≥ 1 | records per user | 10 |
//! | `compat` | string | `native` or `byzfl` name semantics | `native` |
//!
//! Every step that takes `f` (trmean, krum, nnm, …) gets the point's f unless the string sets
//! it. A rule whose requirement on n and f fails at a point (Krum needs n > 2f + 2) is not an
//! error: the point's records say `not_applicable`.
//!
//! # Keys of the `dp_mean` experiment (DP mean estimation, as `lbounds privacy mean`)
//!
//! Every run draws one population (honest users only) and runs every estimator of
//! [`super::privacy::DpMean`] on it (the non-private mean, known range and CoinPress at record
//! level, both again at user level on the users' means), so the estimator is not a grid key:
//! each record carries all of them, compared on the same sample.
//!
//! | key | type | meaning | default |
//! |---|---|---|---|
//! | `epsilon` | float > 0 | ε of every estimator | required |
//! | `delta` | float in (0, 1) | δ | 1e-6 |
//! | `n` | integer ≥ 1 | users | 200 |
//! | `d` | integer ≥ 1 | dimension | 10 |
//! | `records` | integer ≥ 1 | records per user m | 10 |
//! | `mean` | float | every coordinate of μ | 1 |
//! | `noise` | string | `gaussian:sigma=S` only | `gaussian:sigma=1` |
//! | `heterogeneity` | float ≥ 0 | G² of the users' means | 0 |
//! | `range` | float > 0 | public bound R ≥ ‖μ·**1**‖ (checked per point) | 10 |
//! | `coinpress_steps` | integer ≥ 1 | CoinPress iterations | 4 |
//!
//! # Keys of the `dp_robust` experiment (robust and user-level private mean)
//!
//! [`super::dp_robust::DpRobust`]: every record carries the errors of the clipped DP average
//! and the clipped DP trimmed mean (and the non-private trimmed mean) on the same sample.
//!
//! | key | type | meaning | default |
//! |---|---|---|---|
//! | `attack` | string `NAME[:K=V,...]` | the Byzantine users' attack | required |
//! | `epsilon` | float > 0 | user-level ε | required |
//! | `delta` | float in (0, 1) | user-level δ | 1e-5 |
//! | `byzantine_fraction` | float in [0, 0.5) | f = ⌊fraction·n⌋ | 0 |
//! | `n` | integer ≥ 1 | users, honest and Byzantine | 100 |
//! | `d` | integer ≥ 1 | dimension | 1 |
//! | `records` | integer ≥ 1 | records per user m | 10 |
//! | `mean` | float | every coordinate of μ | 1 |
//! | `noise` | string | `gaussian:sigma=S` only | `gaussian:sigma=1` |
//! | `range` | float > 0 | public bound R ≥ ‖μ·**1**‖ (checked per point) | 10 |
//! | `compat` | string | `native` or `byzfl` attack names | `native` |
//!
//! # Keys of the `train` experiment (distributed training, as `lbounds train`)
//!
//! [`super::train::Training`]: one D-SGD run per record (data, split, partition and initial
//! vector shared by every arm of a replicate). Every step that takes `f` gets the point's f.
//!
//! | key | type | meaning | default |
//! |---|---|---|---|
//! | `data` | string | `digits` (shipped, 1797 × 64) or `synthetic:K=V,...` | `digits` |
//! | `test_fraction` | float in [0, 1) | held-out test examples | 0.2 |
//! | `partition` | string | `iid`, `dirichlet:alpha=A`, `gamma:G`, `extreme`, `feature_shift:scale=S`, `zipf:s=S` | `iid` |
//! | `model` | string `NAME[:HIDDEN[:ACT]]` | `linear`, `logistic`, `softmax`, `mlp:100,50:tanh` | `softmax` |
//! | `clients` | integer ≥ 1 | users n, honest and Byzantine | 20 |
//! | `rule` | string `NAME[:K=V,...]` | aggregation rule | required |
//! | `pre` | string `NAME[:K=V]+NAME...` | pre-aggregators, `""` for none | `""` |
//! | `attack` | string `NAME[:K=V,...]` | an attack of `lbounds list` or `label_flipping` | required |
//! | `byzantine_fraction` | float in [0, 0.5) | f = ⌊fraction·n⌋ | 0 |
//! | `rounds` | integer ≥ 1 | D-SGD rounds | 50 |
//! | `batch` | integer ≥ 1 or `"full"` | examples per user and step | `"full"` |
//! | `lr` | float > 0 | learning rate | 0.5 |
//! | `momentum` | float in [0, 1) | client momentum β | 0.9 |
//! | `weight_decay` | float ≥ 0 | λ, on the server | 0 |
//! | `eval_every` | integer ≥ 1 | rounds between evaluations (and the last) | 10 |
//! | `dp_level` | string | `example` (local DP-SGD) or `user` (central) | `example` |
//! | `dp_epsilon` | float > 0 or `"none"` | target ε, σ calibrated per run | `"none"` |
//! | `dp_sigma` | float ≥ 0 or `"none"` | fixed noise multiplier | `"none"` |
//! | `clip` | float > 0 | clip norm C of a private run | 1 |
//! | `dp_delta` | float in (0, 1) | δ | 1e-5 |
//! | `compat` | string | `native` or `byzfl` | `native` |
//!
//! At most one of `dp_epsilon` and `dp_sigma` may be set at a point; with neither the run is
//! not private. A rule that cannot run at a point's n and f is recorded as `not_applicable`.
//!
//! # Keys of the `exposure` experiment (canary exposure, as `lbounds audit exposure`)
//!
//! [`super::exposure::CanaryExposure`]: one training run and the canary's exposure (exact,
//! interpolated, extrapolated) per record; text, secret and initial weights shared by every
//! point of a replicate.
//!
//! | key | type | meaning | default |
//! |---|---|---|---|
//! | `insertions` | integer ≥ 0 | copies of the canary in the text | 4 |
//! | `epsilon` | float > 0 or `"none"` | target ε of DP-SGD (σ calibrated per point) | `"none"` |
//! | `delta` | float in (0, 1) | δ of the target | 1e-5 |
//! | `clip` | float > 0 | DP-SGD clip norm | 1 |
//! | `tokens` | integer ≥ 1 | tokens of user text | 4000 |
//! | `fanout` | integer in 1..=17 | successors per token of the Markov chain | 4 |
//! | `digits` | integer in 1..=7 | digits of the secret (10^digits enumerated) | 6 |
//! | `context` | integer in 1..=10 | model's context window | 3 |
//! | `hidden` | integer ≥ 0 | tanh hidden units (0: softmax regression) | 32 |
//! | `epochs` | integer ≥ 1 | passes over the text | 30 |
//! | `batch` | integer ≥ 1 | batch size | 64 |
//! | `lr` | float > 0 | learning rate | 0.5 |
//! | `references` | integer ≥ 3 | random secrets of the sampled estimates | 2000 |
//!
//! # Keys of the `mia` experiment (membership inference, as `lbounds audit mia`)
//!
//! [`super::mia::MiaExperiment`]: one whole audit per record (M models trained, every attack
//! against `targets` of them); every point of a replicate audits the same population with
//! the same keep matrix.
//!
//! | key | type | meaning | default |
//! |---|---|---|---|
//! | `model` | string | `softmax` or `mlp[:HIDDEN]` (resets epochs and lr to the model's defaults) | `mlp` |
//! | `dp_epsilon` | float > 0 or `"none"` | DP-SGD ε of every model | `"none"` |
//! | `models` | integer ≥ 4, even | models M | 64 |
//! | `targets` | integer in 1..=M | models playing the target | 4 |
//! | `records` | integer | audited records | 2500 |
//! | `population` | integer ≥ 1 | population records (RMIA) | 500 |
//! | `features` | integer ≥ 1 | features p | 32 |
//! | `epochs` | integer ≥ 1 | passes (DP: steps) | 60 |
//! | `lr` | float > 0 | learning rate | model's |
//! | `dp_delta` | float in (0, 1) | δ of a private point | 1e-5 |
//! | `clip` | float > 0 | clip norm of a private point | 1 |
//!
//! # Keys of the `audit` experiment (DP-SGD audit, as `lbounds audit dpsgd`)
//!
//! [`super::audit::DpsgdAudit`]: one audit of the crate's DP-SGD (σ calibrated to the claimed
//! ε) per record, its ε_LB next to the accountant's ε; data and noise streams shared by
//! every point of a replicate. `runs` matters to `multi_run` points only, `canaries` and
//! `guesses` to `one_run` points only.
//!
//! | key | type | meaning | default |
//! |---|---|---|---|
//! | `epsilon` | float > 0 | claimed ε (σ calibrated by the RDP accountant) | required |
//! | `planted_bug` | string | `none`, `no-clipping`, `noise-on-mean`, `wrong-sampling-rate`, `reused-noise` | `none` |
//! | `method` | string | `multi_run` (K runs per world) or `one_run` (M canaries, one run) | `multi_run` |
//! | `runs` | integer in 1..=10⁶ | multi-run: trainings per world K | 1000 |
//! | `canaries` | integer in 2..=10⁵ | one-run: canaries M | 10000 |
//! | `guesses` | even integer in 2..=M or `"default"` | one-run: guesses R | `"default"` (M/10) |
//! | `delta` | float in (0, 1) | δ of the claim and of the audit | 1e-5 |
//! | `alpha` | float in (0, 1) | failure probability of ε_LB | 0.05 |
//! | `sample_rate` | float in (0, 1] | Poisson sampling rate q | 0.1 |
//! | `epochs` | integer ≥ 1 | epochs, each ⌈1/q⌉ steps | 10 |
//! | `examples` | integer ≥ 1 | data examples N | 100 |
//! | `lr` | float > 0 | learning rate | 0.5 |
//! | `clip` | float > 0 | clip norm C | 1 |
//! | `backend` | string | where the audited model trains ([`crate::learning::model::Backend::parse`]) | `native` |
//!
//! # Keys of the `block` experiment (task blocking, as `lbounds block`)
//!
//! [`super::block::BlockExperiment`]: one run per record (pretraining, MLAC, the λ = 0
//! control, and the random-search adversary against four models at every n); every point of a
//! replicate shares its draws. Keys: [`super::block::BLOCK_KEYS`].
//!
//! | key | type | meaning | default |
//! |---|---|---|---|
//! | `rho` | float in [−1, 1] | cos(w_good, w_bad) | 0.5 |
//! | `lambda` | float ≥ 0 | MLAC's weight of the adversary's loss | 1 |
//! | `inner_steps` | integer in 1..=1000 | MLAC's inner steps K | 10 |
//! | `inner_lr` | float > 0 | MLAC's inner step size η | 1 |
//! | `inner_examples` | integer ≥ 1 | support (and query) batch m | 64 |
//! | `mlac_steps` | integer | outer Adam steps (also the λ = 0 control's) | 300 |
//! | `mlac_lr` | float > 0 | outer Adam step size | 0.01 |
//! | `pretrain_steps` | integer | pretraining's Adam steps | 600 |
//! | `reconstruction` | float ≥ 0 | pretraining's reconstruction weight μ | 1 |
//! | `features` | integer ≥ 2 | input dimension p | 20 |
//! | `hidden` | integer ≥ 1 | trunk width h | 32 |
//! | `examples` | string `N1,N2,...` | the adversary's budgets n, increasing | `"20,50,100,200,1000"` |
//! | `configs` | integer ≥ 1 | random-search configurations | 30 |
//! | `defender_examples` | integer ≥ 2 | bad examples MLAC's defender holds | 1000 |
//! | `backend` | string | where the adversary fine-tunes and models are scored (MLAC: native) | `native` |
//!
//! # Keys of the `unlearn` experiment (unlearning against retraining, as `lbounds unlearn`)
//!
//! [`super::unlearn::UnlearnExperiment`]: one whole run per record (3N models trained, every
//! method applied to the N originals and scored against the N reference retrains); every point
//! of a replicate shares its population.
//!
//! | key | type | meaning | default |
//! |---|---|---|---|
//! | `model` | string | `softmax` or `mlp[:HIDDEN]` (resets lr to the model's) | `softmax` |
//! | `forget` | string | `random`, `tail` or `mislabelled` | `random` |
//! | `models` | integer in 4..=4096 | models N per arm | 32 |
//! | `records` | integer | training records D | 2500 |
//! | `features` | integer ≥ 1 | features p | 32 |
//! | `forget_fraction` | float in (0, 0.5] | share of D the `random` set forgets | 0.02 |
//! | `steps` | integer ≥ 0 | steps of every gradient method | 10 |
//! | `lr` | float > 0 | step size of the methods and of relearning | model's |
//! | `epochs` | integer ≥ 1 | training passes of every model | 60 |
//! | `relearn_fraction` | float in (0, 1] | share of F relearned | 0.1 |
//! | `backend` | string | [`crate::learning::model::Backend::parse`] (after `model`) | `native` |
//!
//! # Keys of the `memorize` experiment (memorization and the long tail, as `lbounds memorize`)
//!
//! [`super::memorize::MemorizeExperiment`]: one run per record (M models on the same data and
//! keep matrix for every point of a replicate). Keys, in product order:
//! [`super::memorize::MEMORIZE_KEYS`] — `data` (`gaussian` or `digits`, default `gaussian`),
//! then `model`, `backend` (default `native`; [`crate::learning::model::Backend::parse`]),
//! `dp_epsilon`, `models` (default 32), `targets` (16), `epochs`, `lr`, `dp_delta`, `clip` as
//! for `mia`; `records` and `features` (gaussian only), `tail_test`
//! and `head_test` (test records per tail component or rare digit, and from the head).
//!
//! # Validation
//!
//! Everything is checked before any work: unknown keys, wrong types, empty lists, values out
//! of range, unknown names, zip groups of unequal length, the sizes (at most [`MAX_POINTS`]
//! grid points and [`MAX_RECORDS`] records, checked before the grid is expanded), and then
//! every grid point in turn (iteration counts at most [`MAX_ITERATIONS`]; for `dp_mean`, an ε
//! whose noise variance overflows f64 is refused).
//! Errors name the file, the line and the key ([`Error::Parse`], exit status 2 in the CLI).
//!
//! # Config hash
//!
//! [`SweepConfig::hash`] is the FNV-1a 64-bit hash of a canonical JSON form of the config
//! (name, experiment, seed, replicates, the lists in schema order, zip groups), so comments,
//! key order and `description` do not change it. Every record carries it; `sweep merge`
//! refuses to join records of different configs.

use super::audit::{AuditMethod, AuditPoint};
use super::dp_robust::DpRobustPoint;
use super::exposure::ExposurePoint;
use super::privacy::MeanPoint;
use super::robust::RobustPoint;
use super::train::{declare_f as declare_f_in, DataSource, NoiseSetting, PrivacySpec, TrainPoint};
use crate::aggregators::{PipelineSpec, StepSpec, PRE_AGGREGATORS, RULES};
use crate::data::noise::Noise;
use crate::data::population::{byzantine_count, PopulationConfig, RecordsPerUser};
use crate::learning::model::{Backend, ModelSpec};
use crate::learning::train::{DpLevel, TrainConfig, LABEL_FLIPPING};
use crate::learning::Partition;
use crate::params::{lookup, Compat};
use crate::privacy::sgd::PlantedBug;
use crate::privacy::{check_delta, check_epsilon};
use crate::{Error, Result};
use serde::Deserialize;
use serde::Serialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// Most grid points a config may have. Every point is validated before any work (a few
/// microseconds each: the point's rules and attack are built), so a config at the limit is
/// checked in seconds, not the tens of minutes a 10⁹-point grid took.
pub const MAX_POINTS: u64 = 1_000_000;

/// Most records (points × replicates) a config may ask for: 10⁸ records are about 150 GB of
/// JSON, and a run keeps one bit per record of its shard.
pub const MAX_RECORDS: u64 = 100_000_000;

/// The experiments a sweep can run.
///
/// Extension point: a new kind brings its own key schema like [`ROBUST_KEYS`], a variant of
/// [`SweepParams`], and its arm in `apply`, `check_point` and the sweep's record writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExperimentKind {
    /// Robust aggregation against Byzantine users ([`super::robust::RobustAggregation`]).
    Robust,
    /// DP mean estimation on the simulated population ([`super::privacy::DpMean`]).
    DpMean,
    /// Robust and user-level private mean estimation ([`super::dp_robust::DpRobust`]).
    DpRobust,
    /// Distributed training across honest and Byzantine users ([`super::train::Training`]).
    Train,
    /// Canary exposure of a trained character model ([`super::exposure::CanaryExposure`]).
    Exposure,
    /// Membership inference against shadow-trained models ([`super::mia::MiaExperiment`]).
    Mia,
    /// An audit of the crate's DP-SGD ([`super::audit::DpsgdAudit`]).
    Audit,
    /// Task blocking by MLAC against a fine-tuning adversary ([`super::block::BlockExperiment`]).
    Block,
    /// Unlearning against exact retraining ([`super::unlearn::UnlearnExperiment`]).
    Unlearn,
    /// Memorization and the long tail ([`super::memorize::MemorizeExperiment`]).
    Memorize,
    /// The privacy onion effect ([`super::onion::OnionExperiment`]).
    Onion,
}

/// Every kind, in the order messages list them.
pub const KINDS: &[ExperimentKind] = &[
    ExperimentKind::Robust,
    ExperimentKind::DpMean,
    ExperimentKind::DpRobust,
    ExperimentKind::Train,
    ExperimentKind::Exposure,
    ExperimentKind::Mia,
    ExperimentKind::Audit,
    ExperimentKind::Block,
    ExperimentKind::Unlearn,
    ExperimentKind::Memorize,
    ExperimentKind::Onion,
];

impl ExperimentKind {
    /// The name used in configs and records.
    pub fn name(self) -> &'static str {
        match self {
            ExperimentKind::Robust => "robust",
            ExperimentKind::DpMean => "dp_mean",
            ExperimentKind::DpRobust => "dp_robust",
            ExperimentKind::Train => "train",
            ExperimentKind::Exposure => "exposure",
            ExperimentKind::Mia => "mia",
            ExperimentKind::Audit => "audit",
            ExperimentKind::Block => "block",
            ExperimentKind::Unlearn => "unlearn",
            ExperimentKind::Memorize => "memorize",
            ExperimentKind::Onion => "onion",
        }
    }

    /// The grid keys of this kind, in product order (the last varies fastest).
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            ExperimentKind::Robust => ROBUST_KEYS,
            ExperimentKind::DpMean => DP_MEAN_KEYS,
            ExperimentKind::DpRobust => DP_ROBUST_KEYS,
            ExperimentKind::Train => TRAIN_KEYS,
            ExperimentKind::Exposure => EXPOSURE_KEYS,
            ExperimentKind::Mia => MIA_KEYS,
            ExperimentKind::Audit => AUDIT_KEYS,
            ExperimentKind::Block => super::block::BLOCK_KEYS,
            ExperimentKind::Unlearn => UNLEARN_KEYS,
            ExperimentKind::Memorize => super::memorize::MEMORIZE_KEYS,
            ExperimentKind::Onion => super::onion::KEYS,
        }
    }

    /// Grid keys without a default.
    pub fn required(self) -> &'static [&'static str] {
        match self {
            ExperimentKind::Robust => &["rule", "attack"],
            ExperimentKind::DpMean => &["epsilon"],
            ExperimentKind::DpRobust => &["attack", "epsilon"],
            ExperimentKind::Train => &["rule", "attack"],
            ExperimentKind::Exposure => &[],
            ExperimentKind::Mia => &[],
            ExperimentKind::Audit => &["epsilon"],
            ExperimentKind::Block => &[],
            ExperimentKind::Unlearn => &[],
            ExperimentKind::Memorize => &[],
            ExperimentKind::Onion => &[],
        }
    }
}

/// The parameters of one grid point, by experiment kind (serialised as the inner point).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SweepParams {
    /// A `robust` point.
    Robust(RobustPoint),
    /// A `dp_mean` point.
    DpMean(MeanPoint),
    /// A `dp_robust` point.
    DpRobust(DpRobustPoint),
    /// A `train` point.
    Train(TrainPoint),
    /// An `exposure` point.
    Exposure(ExposurePoint),
    /// A `mia` point.
    Mia(super::mia::MiaPoint),
    /// An `audit` point.
    Audit(AuditPoint),
    /// A `block` point.
    Block(super::block::BlockPoint),
    /// An `unlearn` point.
    Unlearn(super::unlearn::UnlearnPoint),
    /// A `memorize` point.
    Memorize(super::memorize::MemorizePoint),
    /// An `onion` point.
    Onion(super::onion::OnionPoint),
}

impl SweepParams {
    /// The robust-aggregation point, if this is one.
    pub fn as_robust(&self) -> Option<&RobustPoint> {
        match self {
            SweepParams::Robust(p) => Some(p),
            _ => None,
        }
    }
}

/// Grid keys of the `robust` experiment, in product order (the last varies fastest).
pub const ROBUST_KEYS: &[&str] = &[
    "rule",
    "pre",
    "attack",
    "n",
    "d",
    "byzantine_fraction",
    "heterogeneity",
    "exact_heterogeneity",
    "mean",
    "noise",
    "records",
    "compat",
];

/// Grid keys of the `train` experiment, in product order (the last varies fastest).
/// Grid keys of the `mia` experiment, in product order (`model` first: it resets the
/// training defaults that `epochs` and `lr` then override).
pub const MIA_KEYS: &[&str] = &[
    "model",
    "dp_epsilon",
    "models",
    "targets",
    "records",
    "population",
    "features",
    "epochs",
    "lr",
    "dp_delta",
    "clip",
    "backend",
];

/// Grid keys of the `unlearn` experiment, in product order.
pub const UNLEARN_KEYS: &[&str] = &[
    "model",
    "forget",
    "models",
    "records",
    "features",
    "forget_fraction",
    "steps",
    "lr",
    "epochs",
    "relearn_fraction",
    "backend",
];

/// Grid keys of the `train` experiment, in product order.
pub const TRAIN_KEYS: &[&str] = &[
    "data",
    "test_fraction",
    "partition",
    "model",
    "clients",
    "rule",
    "pre",
    "attack",
    "byzantine_fraction",
    "rounds",
    "batch",
    "lr",
    "momentum",
    "weight_decay",
    "eval_every",
    "dp_level",
    "dp_epsilon",
    "dp_sigma",
    "clip",
    "dp_delta",
    "compat",
    "backend",
];

/// Grid keys of the `exposure` experiment, in product order (the last varies fastest).
pub const EXPOSURE_KEYS: &[&str] = &[
    "tokens",
    "fanout",
    "digits",
    "context",
    "hidden",
    "epochs",
    "batch",
    "lr",
    "references",
    "clip",
    "delta",
    "epsilon",
    "insertions",
    "backend",
];

/// Grid keys of the `audit` experiment, in product order (the last varies fastest).
pub const AUDIT_KEYS: &[&str] = &[
    "examples",
    "sample_rate",
    "epochs",
    "lr",
    "clip",
    "delta",
    "alpha",
    "runs",
    "canaries",
    "guesses",
    "epsilon",
    "method",
    "planted_bug",
    "backend",
];

/// Grid keys of the `dp_mean` experiment, in product order.
pub const DP_MEAN_KEYS: &[&str] = &[
    "n",
    "d",
    "records",
    "mean",
    "noise",
    "heterogeneity",
    "range",
    "coinpress_steps",
    "delta",
    "epsilon",
];

/// Grid keys of the `dp_robust` experiment, in product order.
pub const DP_ROBUST_KEYS: &[&str] = &[
    "attack",
    "n",
    "d",
    "records",
    "mean",
    "noise",
    "range",
    "delta",
    "byzantine_fraction",
    "epsilon",
    "compat",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: Spanned<String>,
    experiment: Spanned<String>,
    seed: Spanned<i64>,
    replicates: Spanned<i64>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    zip: Option<Spanned<Vec<Vec<String>>>>,
    grid: Spanned<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
}

/// One grid key and its list of values.
#[derive(Clone, Debug)]
struct Axis {
    key: &'static str,
    values: Vec<toml::Value>,
    json: Vec<serde_json::Value>,
}

/// A validated sweep configuration (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct SweepConfig {
    /// The file it came from, as given (for messages).
    pub path: String,
    /// The sweep's name (records carry it; figures select their data by it).
    pub name: String,
    /// Which experiment runs at every point.
    pub experiment: ExperimentKind,
    /// Seed of every random stream.
    pub seed: u64,
    /// Runs per grid point.
    pub replicates: u32,
    /// Free text from the file.
    pub description: Option<String>,
    axes: Vec<Axis>,
    /// Product factors: each is a set of axes walked together, in product order.
    groups: Vec<Vec<usize>>,
    group_len: Vec<u64>,
    points: u64,
    hash: String,
    canonical: String,
}

/// 1-based line of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

fn err_at(path: &str, text: &str, at: usize, key: &str, reason: impl Into<String>) -> Error {
    Error::Parse {
        what: format!("{path} line {}, key `{key}`", line_of(text, at)),
        reason: reason.into(),
    }
}

/// FNV-1a, 64 bits: a stable, dependency-free hash for config identity (not security).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl SweepConfig {
    /// Reads and validates a config file.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when the file cannot be read; see [`SweepConfig::parse`].
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid("config", path.display(), e.to_string()))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates config text; `path` names it in messages.
    ///
    /// # Errors
    /// [`Error::Parse`] naming the file, line and key for TOML syntax errors, unknown keys,
    /// wrong types, empty lists, out-of-range values and unknown names; for a grid point whose
    /// combination is invalid (say 2f ≥ n), the point and its values.
    pub fn parse(text: &str, path: &str) -> Result<Self> {
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            Error::Parse {
                what: format!("{path} line {}", line_of(text, at)),
                reason: e.message().trim().to_string(),
            }
        })?;
        let experiment = match KINDS
            .iter()
            .find(|k| k.name() == raw.experiment.get_ref().as_str())
        {
            Some(k) => *k,
            None => {
                let known: Vec<&str> = KINDS.iter().map(|k| k.name()).collect();
                return Err(err_at(
                    path,
                    text,
                    raw.experiment.span().start,
                    "experiment",
                    format!(
                        "unknown experiment `{}` (known: {}; dp_sgd is not a sweep kind yet)",
                        raw.experiment.get_ref(),
                        known.join(", ")
                    ),
                ));
            }
        };
        let name = raw.name.get_ref().trim().to_string();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(err_at(
                path,
                text,
                raw.name.span().start,
                "name",
                "must be a non-empty identifier (letters, digits, `_`, `-`)",
            ));
        }
        let seed = *raw.seed.get_ref();
        if seed < 0 {
            return Err(err_at(
                path,
                text,
                raw.seed.span().start,
                "seed",
                "must be >= 0",
            ));
        }
        let reps = *raw.replicates.get_ref();
        if !(1..=i64::from(u32::MAX)).contains(&reps) {
            return Err(err_at(
                path,
                text,
                raw.replicates.span().start,
                "replicates",
                format!("{reps} is out of range: need 1 <= replicates < 2^32"),
            ));
        }

        // Grid keys: known, non-empty lists, every value valid on its own.
        let keys = experiment.keys();
        let mut axes: Vec<Axis> = Vec::new();
        let mut spans: BTreeMap<&'static str, usize> = BTreeMap::new();
        for (k, v) in raw.grid.get_ref() {
            let at = k.span().start;
            let key = keys
                .iter()
                .copied()
                .find(|known| *known == k.get_ref().as_str())
                .ok_or_else(|| {
                    let e = Error::unknown("grid key", k.get_ref(), keys.iter().copied());
                    err_at(
                        path,
                        text,
                        at,
                        &format!("grid.{}", k.get_ref()),
                        format!("{e} (known: {})", keys.join(", ")),
                    )
                })?;
            let full = format!("grid.{key}");
            let values: Vec<toml::Value> = match v.get_ref() {
                toml::Value::Array(a) => a.clone(),
                other => vec![other.clone()],
            };
            if values.is_empty() {
                return Err(err_at(
                    path,
                    text,
                    at,
                    &full,
                    "empty list: give at least one value",
                ));
            }
            let mut json = Vec::with_capacity(values.len());
            for (i, val) in values.iter().enumerate() {
                let mut probe = base_point(experiment);
                apply(key, val, &mut probe).map_err(|e| {
                    err_at(
                        path,
                        text,
                        v.span().start,
                        &full,
                        format!("value {} ({val}): {e}", i + 1),
                    )
                })?;
                json.push(
                    serde_json::to_value(val)
                        .map_err(|e| err_at(path, text, v.span().start, &full, e.to_string()))?,
                );
            }
            spans.insert(key, at);
            axes.push(Axis { key, values, json });
        }
        for required in experiment.required() {
            if !axes.iter().any(|a| a.key == *required) {
                return Err(err_at(
                    path,
                    text,
                    raw.grid.span().start,
                    &format!("grid.{required}"),
                    format!(
                        "missing: the {} experiment needs the lists {}",
                        experiment.name(),
                        experiment.required().join(", ")
                    ),
                ));
            }
        }
        axes.sort_by_key(|a| keys.iter().position(|k| *k == a.key));

        // Zip groups, then the product factors in schema order.
        let mut group_of: Vec<Option<usize>> = vec![None; axes.len()];
        let mut zipped: Vec<Vec<String>> = Vec::new();
        if let Some(z) = &raw.zip {
            let at = z.span().start;
            for (gi, group) in z.get_ref().iter().enumerate() {
                if group.len() < 2 {
                    return Err(err_at(
                        path,
                        text,
                        at,
                        "zip",
                        format!("group {} needs at least two keys", gi + 1),
                    ));
                }
                let mut len = None;
                for k in group {
                    let ai = axes
                        .iter()
                        .position(|a| a.key == k.as_str())
                        .ok_or_else(|| {
                            err_at(
                                path,
                                text,
                                at,
                                "zip",
                                format!("`{k}` is not a key of [grid]"),
                            )
                        })?;
                    if group_of[ai].is_some() {
                        return Err(err_at(
                            path,
                            text,
                            at,
                            "zip",
                            format!("`{k}` is in two zip groups"),
                        ));
                    }
                    group_of[ai] = Some(gi);
                    let l = axes[ai].values.len();
                    match len {
                        None => len = Some(l),
                        Some(l0) if l0 != l => {
                            return Err(err_at(
                                path,
                                text,
                                at,
                                "zip",
                                format!(
                                    "zipped lists must have the same length: `{}` has {l0} values, `{k}` has {l}",
                                    group[0]
                                ),
                            ))
                        }
                        _ => {}
                    }
                }
                zipped.push(group.clone());
            }
        }
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut seen_group: BTreeMap<usize, usize> = BTreeMap::new();
        for (ai, g) in group_of.iter().enumerate() {
            match g {
                None => groups.push(vec![ai]),
                Some(g) => match seen_group.get(g) {
                    Some(&slot) => groups[slot].push(ai),
                    None => {
                        seen_group.insert(*g, groups.len());
                        groups.push(vec![ai]);
                    }
                },
            }
        }
        let group_len: Vec<u64> = groups
            .iter()
            .map(|g| axes[g[0]].values.len() as u64)
            .collect();
        // Sizes before anything is expanded: every point is validated below, and a run keeps
        // one bit per record.
        let points = group_len
            .iter()
            .try_fold(1u64, |acc, &l| acc.checked_mul(l))
            .filter(|&p| p <= MAX_POINTS)
            .ok_or_else(|| {
                let product: f64 = group_len.iter().map(|&l| l as f64).product();
                err_at(
                    path,
                    text,
                    raw.grid.span().start,
                    "grid",
                    format!(
                        "{product:.3e} grid points; at most {MAX_POINTS} per config (split the grid into several configs)"
                    ),
                )
            })?;
        if points as f64 * reps as f64 > MAX_RECORDS as f64 {
            return Err(err_at(
                path,
                text,
                raw.replicates.span().start,
                "replicates",
                format!(
                    "{points} points x {reps} replicates = {:.3e} records; at most {MAX_RECORDS} per config (about 1.5 kB each on disk)",
                    points as f64 * reps as f64
                ),
            ));
        }

        // Canonical form and hash.
        let canonical = serde_json::to_string(&serde_json::json!({
            "name": name,
            "experiment": experiment.name(),
            "seed": seed,
            "replicates": reps,
            "grid": axes.iter().map(|a| serde_json::json!([a.key, a.json])).collect::<Vec<_>>(),
            "zip": zipped,
        }))
        .map_err(|e| Error::invalid("config", path, e.to_string()))?;
        let hash = format!("{:016x}", fnv1a64(canonical.as_bytes()));

        let cfg = SweepConfig {
            path: path.to_string(),
            name,
            experiment,
            seed: seed as u64,
            replicates: reps as u32,
            description: raw.description,
            axes,
            groups,
            group_len,
            points,
            hash,
            canonical,
        };
        // Every point, before any work.
        for p in 0..cfg.points {
            if let Err(e) = cfg.point(p).and_then(|(pt, _)| check_point(&pt)) {
                let (_, grid) = cfg.point_values(p);
                let first = cfg.axes.first().map_or("grid", |a| a.key);
                return Err(err_at(
                    path,
                    text,
                    spans.get(first).copied().unwrap_or(0),
                    "grid",
                    format!("grid point {p} {}: {e}", serde_json::Value::Object(grid)),
                ));
            }
        }
        Ok(cfg)
    }

    /// Number of grid points.
    pub fn points(&self) -> u64 {
        self.points
    }

    /// Number of records of the whole grid (points × replicates).
    pub fn total_records(&self) -> u64 {
        self.points * u64::from(self.replicates)
    }

    /// The config hash (16 hex digits; see the [module docs](self)).
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The canonical JSON form the hash is taken of.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// Index of each axis' value at point `p`, and the grid values as a JSON object
    /// (key → value as written in the file).
    fn point_values(&self, p: u64) -> (Vec<usize>, serde_json::Map<String, serde_json::Value>) {
        let mut idx = vec![0usize; self.axes.len()];
        let mut rest = p;
        for (g, &len) in self.groups.iter().zip(&self.group_len).rev() {
            let i = (rest % len) as usize;
            rest /= len;
            for &ai in g {
                idx[ai] = i;
            }
        }
        let grid = self
            .axes
            .iter()
            .zip(&idx)
            .map(|(a, &i)| (a.key.to_string(), a.json[i].clone()))
            .collect();
        (idx, grid)
    }

    /// The parameters of point `p` (`p < points()`) and its grid values.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for `p` out of range; errors of a value (not after
    /// [`SweepConfig::parse`], which has checked every point).
    pub fn point(
        &self,
        p: u64,
    ) -> Result<(SweepParams, serde_json::Map<String, serde_json::Value>)> {
        if p >= self.points {
            return Err(Error::invalid(
                "point",
                p,
                format!("the grid has {} points", self.points),
            ));
        }
        let (idx, grid) = self.point_values(p);
        let mut pt = base_point(self.experiment);
        for (a, &i) in self.axes.iter().zip(&idx) {
            apply(a.key, &a.values[i], &mut pt)?;
        }
        match &mut pt {
            SweepParams::Robust(r) => declare_f(r)?,
            SweepParams::Train(t) => {
                let f = t.f();
                t.train.byzantine = f;
                declare_f_in(&mut t.train.defence, f)?;
            }
            _ => {}
        }
        Ok((pt, grid))
    }
}

/// The defaults of every key: those of `lbounds simulate` for `robust`, of `lbounds privacy
/// mean` for `dp_mean`, documented in the [module docs](self) for `dp_robust`.
fn base_point(kind: ExperimentKind) -> SweepParams {
    match kind {
        ExperimentKind::Robust => SweepParams::Robust(RobustPoint {
            population: PopulationConfig {
                mean: 1.0,
                ..PopulationConfig::default()
            },
            defence: PipelineSpec {
                rule: StepSpec::named("median"),
                pre: vec![],
            },
            attack: StepSpec::named("sign_flipping"),
            compat: Compat::Native,
        }),
        ExperimentKind::DpMean => SweepParams::DpMean(MeanPoint {
            population: PopulationConfig {
                n: 200,
                d: 10,
                mean: 1.0,
                records: RecordsPerUser::Fixed { m: 10 },
                ..PopulationConfig::default()
            },
            epsilon: 1.0,
            delta: 1e-6,
            range: 10.0,
            coinpress_steps: 4,
        }),
        ExperimentKind::DpRobust => SweepParams::DpRobust(DpRobustPoint {
            population: PopulationConfig {
                n: 100,
                d: 1,
                mean: 1.0,
                records: RecordsPerUser::Fixed { m: 10 },
                ..PopulationConfig::default()
            },
            attack: StepSpec::named("sign_flipping"),
            epsilon: 1.0,
            delta: 1e-5,
            range: 10.0,
            compat: Compat::Native,
        }),
        ExperimentKind::Mia => SweepParams::Mia(super::mia::MiaPoint::default()),
        ExperimentKind::Unlearn => SweepParams::Unlearn(super::unlearn::UnlearnPoint::default()),
        ExperimentKind::Onion => SweepParams::Onion(super::onion::OnionPoint::default()),
        ExperimentKind::Train => SweepParams::Train(TrainPoint {
            data: DataSource::Digits,
            test_fraction: 0.2,
            partition: Partition::Iid,
            model: ModelSpec::Softmax,
            clients: 20,
            byzantine_fraction: 0.0,
            privacy: PrivacySpec::default(),
            train: TrainConfig {
                momentum: 0.9,
                attack: Some(StepSpec::named("sign_flipping")),
                ..TrainConfig::new(
                    50,
                    0.5,
                    PipelineSpec {
                        rule: StepSpec::named("average"),
                        pre: vec![],
                    },
                )
            },
            backend: Backend::Native,
        }),
        ExperimentKind::Exposure => SweepParams::Exposure(ExposurePoint::default()),
        ExperimentKind::Audit => SweepParams::Audit(AuditPoint::default()),
        ExperimentKind::Block => SweepParams::Block(super::block::BlockPoint::default()),
        ExperimentKind::Memorize => {
            SweepParams::Memorize(super::memorize::MemorizePoint::default())
        }
    }
}

fn type_name(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "a list",
        toml::Value::Table(_) => "a table",
    }
}

pub(crate) fn want_int(key: &str, v: &toml::Value, min: i64) -> Result<usize> {
    let i = v.as_integer().ok_or_else(|| {
        Error::invalid(key, v, format!("expected an integer, got {}", type_name(v)))
    })?;
    if i < min {
        return Err(Error::invalid(key, i, format!("must be >= {min}")));
    }
    usize::try_from(i).map_err(|_| Error::invalid(key, i, "too large"))
}

pub(crate) fn want_float(key: &str, v: &toml::Value) -> Result<f64> {
    let x = match v {
        toml::Value::Float(x) => *x,
        toml::Value::Integer(i) => *i as f64,
        _ => {
            return Err(Error::invalid(
                key,
                v,
                format!("expected a number, got {}", type_name(v)),
            ))
        }
    };
    if !x.is_finite() {
        return Err(Error::invalid(key, x, "must be finite"));
    }
    Ok(x)
}

pub(crate) fn want_str<'a>(key: &str, v: &'a toml::Value) -> Result<&'a str> {
    v.as_str()
        .ok_or_else(|| Error::invalid(key, v, format!("expected a string, got {}", type_name(v))))
}

/// Sets one key of a point from one value, checking type and range.
fn apply(key: &str, v: &toml::Value, p: &mut SweepParams) -> Result<()> {
    match p {
        SweepParams::Robust(r) => apply_robust(key, v, r),
        SweepParams::DpMean(m) => match key {
            "epsilon" => {
                m.epsilon = want_float(key, v)?;
                check_epsilon(m.epsilon).map(|_| ())
            }
            "delta" => {
                m.delta = want_float(key, v)?;
                check_delta(m.delta).map(|_| ())
            }
            "range" => {
                m.range = want_float(key, v)?;
                crate::error::check_positive(key, m.range).map(|_| ())
            }
            "coinpress_steps" => {
                m.coinpress_steps = want_int(key, v, 1)?;
                Ok(())
            }
            "noise" => {
                m.population.noise = want_gaussian(key, v)?;
                Ok(())
            }
            _ => apply_population(key, v, &mut m.population),
        },
        SweepParams::DpRobust(q) => match key {
            "attack" => {
                let s = StepSpec::parse(want_str(key, v)?)?;
                crate::attacks::build(&s.name, &s.params, q.compat)?;
                q.attack = s;
                Ok(())
            }
            "epsilon" => {
                q.epsilon = want_float(key, v)?;
                check_epsilon(q.epsilon).map(|_| ())
            }
            "delta" => {
                q.delta = want_float(key, v)?;
                check_delta(q.delta).map(|_| ())
            }
            "range" => {
                q.range = want_float(key, v)?;
                crate::error::check_positive(key, q.range).map(|_| ())
            }
            "compat" => {
                q.compat = want_compat(key, v)?;
                Ok(())
            }
            "noise" => {
                q.population.noise = want_gaussian(key, v)?;
                Ok(())
            }
            _ => apply_population(key, v, &mut q.population),
        },
        SweepParams::Train(t) => apply_train(key, v, t),
        SweepParams::Exposure(e) => apply_exposure(key, v, e),
        SweepParams::Mia(q) => apply_mia(key, v, q),
        SweepParams::Audit(a) => apply_audit(key, v, a),
        SweepParams::Block(b) => super::block::apply(key, v, b),
        SweepParams::Unlearn(q) => apply_unlearn(key, v, q),
        SweepParams::Memorize(q) => super::memorize::apply(key, v, q),
        SweepParams::Onion(q) => super::onion::apply(key, v, q),
    }
}

/// Sets one key of an `unlearn` point (ranges are checked with the whole point).
fn apply_unlearn(key: &str, v: &toml::Value, q: &mut super::unlearn::UnlearnPoint) -> Result<()> {
    match key {
        "model" => {
            let epochs = q.shadow.epochs;
            q.shadow = shadow_model(key, v)?;
            q.shadow.epochs = epochs;
            q.lr = q.shadow.lr;
        }
        "forget" => q.forget = super::unlearn::ForgetSet::parse(want_str(key, v)?)?,
        "models" => q.models = want_int(key, v, 4)?,
        "records" => q.data.records = want_int(key, v, 1)?,
        "features" => q.data.features = want_int(key, v, 1)?,
        "forget_fraction" => q.forget_fraction = want_float(key, v)?,
        "steps" => q.steps = want_int(key, v, 0)?,
        "lr" => q.lr = want_float(key, v)?,
        "epochs" => q.shadow.epochs = want_int(key, v, 1)?,
        "relearn_fraction" => q.relearn_fraction = want_float(key, v)?,
        "backend" => q.shadow.backend = Backend::parse(want_str(key, v)?)?,
        _ => {
            return Err(Error::unknown(
                "grid key",
                key,
                UNLEARN_KEYS.iter().copied(),
            ))
        }
    }
    Ok(())
}

/// Sets one key of an `exposure` point (ranges are checked with the whole point).
fn apply_exposure(key: &str, v: &toml::Value, e: &mut ExposurePoint) -> Result<()> {
    match key {
        "tokens" => e.tokens = want_int(key, v, 1)?,
        "fanout" => e.fanout = want_int(key, v, 1)?,
        "digits" => e.digits = want_int(key, v, 1)?,
        "context" => e.context = want_int(key, v, 1)?,
        "hidden" => e.hidden = want_int(key, v, 0)?,
        "backend" => e.backend = Backend::parse(want_str(key, v)?)?,
        "epochs" => e.epochs = want_int(key, v, 1)?,
        "batch" => e.batch = want_int(key, v, 1)?,
        "references" => e.references = want_int(key, v, 3)?,
        "insertions" => e.insertions = want_int(key, v, 0)?,
        "lr" => e.lr = want_float(key, v)?,
        "clip" => e.clip = want_float(key, v)?,
        "delta" => e.delta = want_float(key, v)?,
        "epsilon" => {
            e.epsilon = want_float_or_none(key, v)?;
            if let Some(x) = e.epsilon {
                check_epsilon(x)?;
            }
        }
        _ => {
            return Err(Error::unknown(
                "grid key",
                key,
                EXPOSURE_KEYS.iter().copied(),
            ))
        }
    }
    Ok(())
}

/// A shadow model's training from a `model` value: `softmax` or `mlp[:HIDDEN]`, each with
/// its default epochs and learning rate.
pub(crate) fn shadow_model(
    key: &str,
    v: &toml::Value,
) -> Result<crate::privacy::audit::mia::shadow::ShadowConfig> {
    use crate::privacy::audit::mia::shadow::ShadowConfig;
    let s = want_str(key, v)?;
    let mut parts = s.splitn(2, ':');
    Ok(match parts.next().unwrap_or_default() {
        "softmax" => ShadowConfig::softmax(),
        "mlp" => {
            let mut c = ShadowConfig::mlp();
            if let Some(h) = parts.next() {
                c.model = ModelSpec::parse("mlp", Some(h), None)?;
            }
            c
        }
        other => {
            return Err(Error::unknown(
                "model (known: softmax, mlp[:HIDDEN])",
                other,
                ["softmax", "mlp"],
            ))
        }
    })
}

/// Sets one key of a `mia` point.
fn apply_mia(key: &str, v: &toml::Value, q: &mut super::mia::MiaPoint) -> Result<()> {
    use crate::privacy::audit::mia::shadow::DpShadow;
    match key {
        "model" => q.shadow = shadow_model(key, v)?,
        "backend" => q.shadow.backend = Backend::parse(want_str(key, v)?)?,
        "dp_epsilon" => {
            q.shadow.dp = match want_float_or_none(key, v)? {
                None => None,
                Some(e) => {
                    crate::privacy::check_epsilon(e)?;
                    q.shadow.batch = 0;
                    Some(DpShadow {
                        epsilon: e,
                        delta: 1e-5,
                        clip: 1.0,
                    })
                }
            }
        }
        "models" => q.models = want_int(key, v, 4)?,
        "targets" => q.targets = want_int(key, v, 1)?,
        "records" => q.data.records = want_int(key, v, 1)?,
        "population" => q.data.population = want_int(key, v, 1)?,
        "features" => q.data.features = want_int(key, v, 1)?,
        "epochs" => q.shadow.epochs = want_int(key, v, 1)?,
        "lr" => q.shadow.lr = crate::error::check_positive(key, want_float(key, v)?)?,
        "dp_delta" => {
            let d = crate::privacy::check_delta(want_float(key, v)?)?;
            if let Some(dp) = &mut q.shadow.dp {
                dp.delta = d;
            }
        }
        "clip" => {
            let c = crate::error::check_positive(key, want_float(key, v)?)?;
            if let Some(dp) = &mut q.shadow.dp {
                dp.clip = c;
            }
        }
        _ => {
            return Err(Error::invalid(
                "key",
                key,
                "not a key of the mia experiment",
            ))
        }
    }
    Ok(())
}

/// Sets one key of an `audit` point (ranges are checked with the whole point).
fn apply_audit(key: &str, v: &toml::Value, a: &mut AuditPoint) -> Result<()> {
    let count = |v: &toml::Value| -> Result<u32> {
        let i = want_int(key, v, 0)?;
        u32::try_from(i).map_err(|_| Error::invalid(key, i, "too large"))
    };
    match key {
        "epsilon" => {
            a.epsilon = want_float(key, v)?;
            check_epsilon(a.epsilon)?;
        }
        "planted_bug" => a.planted_bug = PlantedBug::parse(want_str(key, v)?)?,
        "method" => a.method = AuditMethod::parse(want_str(key, v)?)?,
        "runs" => a.runs = count(v)?,
        "canaries" => a.canaries = count(v)?,
        "guesses" => {
            a.guesses = match v {
                toml::Value::String(s) if s == "default" => None,
                toml::Value::String(s) => {
                    return Err(Error::invalid(key, s, "expected an integer or \"default\""))
                }
                _ => Some(count(v)?),
            }
        }
        "delta" => a.delta = want_float(key, v)?,
        "alpha" => a.alpha = want_float(key, v)?,
        "sample_rate" => a.sample_rate = want_float(key, v)?,
        "lr" => a.lr = want_float(key, v)?,
        "clip" => a.clip = want_float(key, v)?,
        "epochs" => a.epochs = want_int(key, v, 1)?,
        "examples" => a.examples = want_int(key, v, 1)?,
        "backend" => a.backend = Backend::parse(want_str(key, v)?)?,
        _ => return Err(Error::unknown("grid key", key, AUDIT_KEYS.iter().copied())),
    }
    Ok(())
}

/// A number, or the string `"none"` (→ `None`).
pub(super) fn want_float_or_none(key: &str, v: &toml::Value) -> Result<Option<f64>> {
    match v {
        toml::Value::String(s) if s == "none" => Ok(None),
        toml::Value::String(s) => Err(Error::invalid(key, s, "expected a number or \"none\"")),
        _ => want_float(key, v).map(Some),
    }
}

/// Sets one key of a `train` point. The privacy keys other than `dp_epsilon` and `dp_sigma`
/// (`dp_level`, `clip`, `dp_delta`) matter only at a private point (one of those two set).
fn apply_train(key: &str, v: &toml::Value, t: &mut TrainPoint) -> Result<()> {
    match key {
        "data" => t.data = DataSource::parse(want_str(key, v)?)?,
        "test_fraction" => {
            let x = want_float(key, v)?;
            if !(0.0..1.0).contains(&x) {
                return Err(Error::invalid(key, x, "must lie in [0, 1)"));
            }
            t.test_fraction = x;
        }
        "partition" => t.partition = Partition::parse(want_str(key, v)?)?,
        "model" => {
            let s = want_str(key, v)?;
            let mut parts = s.splitn(3, ':');
            let name = parts.next().unwrap_or_default();
            t.model = ModelSpec::parse(name, parts.next(), parts.next())?;
        }
        "clients" => t.clients = want_int(key, v, 1)?,
        "backend" => t.backend = Backend::parse(want_str(key, v)?)?,
        "rule" | "pre" => {
            // The robust experiment's parsing of a defence, on this point's pipeline.
            let mut probe = RobustPoint {
                population: PopulationConfig::default(),
                defence: t.train.defence.clone(),
                attack: StepSpec::named("sign_flipping"),
                compat: t.train.compat,
            };
            apply_robust(key, v, &mut probe)?;
            t.train.defence = probe.defence;
        }
        "attack" => {
            let s = StepSpec::parse(want_str(key, v)?)?;
            if !crate::learning::train::is_label_flipping(&s.name) {
                crate::attacks::build(&s.name, &s.params, t.train.compat).map_err(|e| {
                    Error::invalid(key, &s.name, format!("{e} (or {LABEL_FLIPPING})"))
                })?;
            }
            t.train.attack = Some(s);
        }
        "byzantine_fraction" => {
            let x = want_float(key, v)?;
            if !(0.0..0.5).contains(&x) {
                return Err(Error::invalid(key, x, "must be in [0, 0.5)"));
            }
            t.byzantine_fraction = x;
        }
        "rounds" => t.train.rounds = want_int(key, v, 1)?,
        "batch" => {
            t.train.batch_size =
                match v {
                    toml::Value::String(s) if s == "full" => None,
                    _ => Some(want_int(key, v, 1).map_err(|_| {
                        Error::invalid(key, v, "expected an integer >= 1 or \"full\"")
                    })?),
                }
        }
        "lr" => t.train.lr = crate::error::check_positive(key, want_float(key, v)?)?,
        "momentum" => {
            let x = want_float(key, v)?;
            if !(0.0..1.0).contains(&x) {
                return Err(Error::invalid(key, x, "must lie in [0, 1)"));
            }
            t.train.momentum = x;
        }
        "weight_decay" => {
            t.train.weight_decay = crate::error::check_non_negative(key, want_float(key, v)?)?
        }
        "eval_every" => t.train.eval_every = want_int(key, v, 1)?,
        "dp_level" => {
            let level = match want_str(key, v)? {
                "example" => DpLevel::Example,
                "user" => DpLevel::User,
                other => return Err(Error::unknown("dp_level", other, ["example", "user"])),
            };
            t.privacy.level = level;
        }
        "clip" => t.privacy.clip = crate::error::check_positive(key, want_float(key, v)?)?,
        "dp_delta" => {
            let d = want_float(key, v)?;
            check_delta(d)?;
            t.privacy.delta = d;
        }
        "dp_epsilon" | "dp_sigma" => {
            let x = want_float_or_none(key, v)?;
            let noise = match (key, x) {
                (_, None) => None,
                ("dp_epsilon", Some(e)) => Some(NoiseSetting::Epsilon(check_epsilon(e)?)),
                (_, Some(s)) => Some(NoiseSetting::Sigma(crate::error::check_non_negative(
                    key, s,
                )?)),
            };
            if let Some(noise) = noise {
                let p = &mut t.privacy;
                if key == "dp_sigma" && matches!(p.noise, Some(NoiseSetting::Epsilon(_))) {
                    return Err(Error::invalid(
                        key,
                        v,
                        "dp_epsilon is set at this point: give one of dp_epsilon and dp_sigma",
                    ));
                }
                p.noise = Some(noise);
            }
        }
        "compat" => t.train.compat = want_compat(key, v)?,
        other => {
            return Err(Error::unknown(
                "grid key",
                other,
                TRAIN_KEYS.iter().copied(),
            ))
        }
    }
    Ok(())
}

fn want_compat(key: &str, v: &toml::Value) -> Result<Compat> {
    match want_str(key, v)? {
        "native" => Ok(Compat::Native),
        "byzfl" => Ok(Compat::Byzfl),
        other => Err(Error::unknown("compat", other, ["native", "byzfl"])),
    }
}

/// A noise spec that must be Gaussian (the DP experiments assume Gaussian records).
fn want_gaussian(key: &str, v: &toml::Value) -> Result<Noise> {
    let noise = parse_noise(want_str(key, v)?)?;
    match noise {
        Noise::Gaussian { sigma } if sigma > 0.0 => Ok(noise),
        _ => Err(Error::invalid(
            key,
            v,
            "the DP experiments assume Gaussian records: gaussian:sigma=S with S > 0",
        )),
    }
}

/// Sets a population key (shared by every kind; each kind's key list decides which apply).
fn apply_population(key: &str, v: &toml::Value, pop: &mut PopulationConfig) -> Result<()> {
    match key {
        "n" => pop.n = want_int(key, v, 1)?,
        "d" => pop.d = want_int(key, v, 1)?,
        "records" => {
            pop.records = RecordsPerUser::Fixed {
                m: want_int(key, v, 1)?,
            }
        }
        "byzantine_fraction" => {
            let x = want_float(key, v)?;
            if !(0.0..0.5).contains(&x) {
                return Err(Error::invalid(key, x, "must be in [0, 0.5)"));
            }
            pop.byzantine_fraction = x;
        }
        "heterogeneity" => {
            let x = want_float(key, v)?;
            if x < 0.0 {
                return Err(Error::invalid(key, x, "must be >= 0"));
            }
            pop.heterogeneity = x;
        }
        "exact_heterogeneity" => {
            pop.exact_heterogeneity = v.as_bool().ok_or_else(|| {
                Error::invalid(key, v, format!("expected a boolean, got {}", type_name(v)))
            })?
        }
        "mean" => pop.mean = want_float(key, v)?,
        "noise" => pop.noise = parse_noise(want_str(key, v)?)?,
        other => {
            return Err(Error::unknown(
                "grid key",
                other,
                ROBUST_KEYS.iter().copied(),
            ))
        }
    }
    Ok(())
}

/// Sets one key of a `robust` point.
fn apply_robust(key: &str, v: &toml::Value, p: &mut RobustPoint) -> Result<()> {
    match key {
        "rule" => {
            let s = StepSpec::parse(want_str(key, v)?)?;
            lookup(RULES, "aggregator", &s.name)?;
            p.defence.rule = s;
        }
        "pre" => {
            let s = want_str(key, v)?;
            p.defence.pre = s
                .split('+')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| {
                    let step = StepSpec::parse(t)?;
                    lookup(PRE_AGGREGATORS, "pre-aggregator", &step.name)?;
                    Ok(step)
                })
                .collect::<Result<_>>()?;
        }
        "attack" => {
            let s = StepSpec::parse(want_str(key, v)?)?;
            crate::attacks::build(&s.name, &s.params, p.compat)?;
            p.attack = s;
        }
        "compat" => p.compat = want_compat(key, v)?,
        _ => return apply_population(key, v, &mut p.population),
    }
    Ok(())
}

/// Gives every step that accepts `f` the point's f = ⌊fraction·n⌋, unless it sets its own.
fn declare_f(p: &mut RobustPoint) -> Result<()> {
    let f = byzantine_count(p.population.byzantine_fraction, p.population.n);
    declare_f_in(&mut p.defence, f)
}

/// Cap on the iteration counts of a point's steps (`L`, `T`, `num_iters`, `evals`). The
/// builders enforce it (see [`crate::params::Params::iterations`]), so a sweep refuses such a
/// point at validation, before any work, exactly as `simulate` and `aggregate` do.
pub use crate::params::MAX_ITERATIONS;

/// What must hold at a point for it to run (applicability of the rule at n and f aside).
fn check_point(p: &SweepParams) -> Result<()> {
    match p {
        SweepParams::Robust(p) => {
            p.population.validate()?;
            p.defence.build(p.compat)?;
            crate::attacks::build(&p.attack.name, &p.attack.params, p.compat)?;
        }
        SweepParams::DpMean(m) => {
            m.check()?;
            // The estimators' noise variance scales like the P1 order: where that overflows,
            // every run's error would be infinite.
            let b = super::sweep::dp_mean_bounds(m)?;
            if !(b.p1_record_level.is_finite() && b.p1_user_level.is_finite()) {
                return Err(Error::invalid(
                    "epsilon",
                    format!("{:e}", m.epsilon),
                    "so small that the noise variance overflows f64 (every run would fail); use a larger epsilon",
                ));
            }
        }
        SweepParams::DpRobust(q) => {
            q.check()?;
        }
        SweepParams::Train(t) => t.check()?,
        SweepParams::Exposure(e) => {
            e.check()?;
            super::exposure::calibrated_sigma(e)?;
        }
        SweepParams::Mia(q) => q.check()?,
        SweepParams::Audit(a) => a.check()?,
        SweepParams::Block(b) => b.check()?,
        SweepParams::Unlearn(q) => q.validate()?,
        SweepParams::Memorize(q) => q.check()?,
        SweepParams::Onion(q) => q.check()?,
    }
    Ok(())
}

/// Parses a noise spec `KIND[:KEY=VALUE,...]` (gaussian:sigma=S, student_t:nu=V,scale=S,
/// log_normal:sigma=S, pareto:alpha=A,scale=S); absent keys take unit scale, ν = α = 3.
///
/// # Errors
/// [`Error::Unknown`] for an unknown kind; [`Error::InvalidParameter`] for bad keys or values.
pub fn parse_noise(spec: &str) -> Result<Noise> {
    const KINDS: [&str; 4] = ["gaussian", "student_t", "log_normal", "pareto"];
    let step = StepSpec::parse(spec)?;
    let norm = |s: &str| s.to_ascii_lowercase().replace(['_', '-'], "");
    let kind = KINDS
        .iter()
        .find(|k| norm(k) == norm(&step.name))
        .ok_or_else(|| Error::unknown("noise", &step.name, KINDS))?;
    let mut obj = serde_json::Map::new();
    obj.insert("kind".into(), serde_json::json!(kind));
    for (k, v) in &step.params.0 {
        obj.insert(k.clone(), serde_json::json!(v));
    }
    let defaults: &[(&str, f64)] = match *kind {
        "gaussian" | "log_normal" => &[("sigma", 1.0)],
        "student_t" => &[("nu", 3.0), ("scale", 1.0)],
        _ => &[("alpha", 3.0), ("scale", 1.0)],
    };
    for (k, v) in defaults {
        obj.entry(k.to_string()).or_insert(serde_json::json!(v));
    }
    let noise: Noise = serde_json::from_value(serde_json::Value::Object(obj))
        .map_err(|e| Error::invalid("noise", spec, e.to_string()))?;
    noise.validate("noise")?;
    Ok(noise)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "t"
experiment = "robust"
seed = 3
replicates = 2

[grid]
rule = ["median", "trmean"]
attack = "sign_flipping"
byzantine_fraction = [0.0, 0.1, 0.2]
n = 20
d = 3
"#;

    fn msg(text: &str) -> String {
        SweepConfig::parse(text, "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn product_order_and_hash() {
        let c = SweepConfig::parse(GOOD, "t.toml").unwrap();
        // 2 rules × 1 attack × 3 fractions (schema order rule, attack, …, fraction last).
        assert_eq!(c.points(), 6);
        assert_eq!(c.total_records(), 12);
        let (p4, g4) = c.point(4).unwrap();
        let p4 = p4.as_robust().unwrap();
        assert_eq!(p4.defence.rule.name, "trmean");
        assert_eq!(p4.population.byzantine_fraction, 0.1);
        // f = ⌊0.1·20⌋ = 2 is declared on trmean.
        assert_eq!(p4.defence.rule.params.0.get("f"), Some(&2.0));
        assert_eq!(g4["rule"], "trmean");
        // Comments and key order do not change the hash; a value does.
        let reordered = GOOD.replace("n = 20\nd = 3", "d = 3 # dim\nn = 20");
        assert_eq!(
            SweepConfig::parse(&reordered, "x").unwrap().hash(),
            c.hash()
        );
        let other = GOOD.replace("seed = 3", "seed = 4");
        assert_ne!(SweepConfig::parse(&other, "x").unwrap().hash(), c.hash());
        assert!(c.point(6).is_err());
    }

    #[test]
    fn zip_walks_lists_together() {
        let t = GOOD.replace("n = 20", "n = [20, 30, 40]") + "";
        let t = t.replace(
            "replicates = 2",
            "replicates = 2\nzip = [[\"n\", \"byzantine_fraction\"]]",
        );
        let c = SweepConfig::parse(&t, "t.toml").unwrap();
        assert_eq!(c.points(), 6);
        let (p, _) = c.point(2).unwrap();
        let p = p.as_robust().unwrap();
        assert_eq!((p.population.n, p.population.byzantine_fraction), (40, 0.2));
        let bad = t.replace("n = [20, 30, 40]", "n = [20, 30]");
        assert!(msg(&bad).contains("same length"), "{}", msg(&bad));
    }

    #[test]
    fn bad_configs_name_file_line_and_key() {
        // Unknown top-level key (line 3).
        let m = msg(&GOOD.replace("seed = 3", "sed = 3"));
        assert!(m.contains("t.toml line 4") && m.contains("sed"), "{m}");
        // Unknown grid key with a suggestion.
        let m = msg(&GOOD.replace("\nd = 3", "\ndd = 3"));
        assert!(m.contains("line 12") && m.contains("grid.dd"), "{m}");
        // Empty list.
        let m = msg(&GOOD.replace("[\"median\", \"trmean\"]", "[]"));
        assert!(
            m.contains("line 8") && m.contains("grid.rule") && m.contains("empty"),
            "{m}"
        );
        // Wrong type.
        let m = msg(&GOOD.replace("n = 20", "n = \"twenty\""));
        assert!(
            m.contains("line 11") && m.contains("grid.n") && m.contains("integer"),
            "{m}"
        );
        // Out of range.
        let m = msg(&GOOD.replace("0.2]", "0.7]"));
        assert!(
            m.contains("line 10") && m.contains("byzantine_fraction"),
            "{m}"
        );
        let m = msg(&GOOD.replace("replicates = 2", "replicates = 0"));
        assert!(m.contains("line 5") && m.contains("replicates"), "{m}");
        // Unknown rule name.
        let m = msg(&GOOD.replace("\"trmean\"", "\"trmaen\""));
        assert!(m.contains("grid.rule") && m.contains("trmean"), "{m}");
        // Unknown experiment.
        let m = msg(&GOOD.replace("\"robust\"", "\"dp_sgd\""));
        assert!(
            m.contains("line 3") && m.contains("dp_mean") && m.contains("dp_robust"),
            "{m}"
        );
        // A combination that is invalid while each value is fine: n·d·records > 2^30.
        let m = msg(&GOOD
            .replace("n = 20", "n = [20, 20000]")
            .replace("d = 3", "d = 100000"));
        assert!(
            m.contains("grid point 3 ") && m.contains("\"n\":20000"),
            "{m}"
        );
    }

    /// A `train` grid: schema order, f declared on f-aware steps, `"full"` batches, the
    /// privacy keys, and the refusals that need a whole point (both noise settings).
    #[test]
    fn train_points() {
        let text = r#"
name = "t"
experiment = "train"
seed = 1
replicates = 1

[grid]
rule = ["average", "trmean"]
pre = "nnm"
attack = "label_flipping"
byzantine_fraction = [0.0, 0.25]
dp_epsilon = ["none", 2]
batch = "full"
clients = 12
"#;
        let c = SweepConfig::parse(text, "t.toml").unwrap();
        assert_eq!(c.points(), 8);
        // rule, attack, fraction, dp_epsilon: point 7 = trmean, 0.25, ε = 2.
        let (p, _) = c.point(7).unwrap();
        let SweepParams::Train(t) = p else {
            panic!("a train point")
        };
        assert_eq!(t.f(), 3);
        assert_eq!(t.train.byzantine, 3);
        assert_eq!(t.train.defence.rule.params.0.get("f"), Some(&3.0));
        assert_eq!(t.train.defence.pre[0].params.0.get("f"), Some(&3.0));
        assert_eq!(t.train.batch_size, None);
        assert_eq!(t.privacy.noise, Some(NoiseSetting::Epsilon(2.0)));
        let bad = text.replace("batch = \"full\"", "batch = \"half\"");
        assert!(msg(&bad).contains("grid.batch"), "{}", msg(&bad));
        let both = text.replace("clients = 12", "clients = 12\ndp_sigma = 1.0");
        let m = msg(&both);
        assert!(
            m.contains("grid point 1 ") && m.contains("dp_epsilon"),
            "{m}"
        );
        let m = msg(&text.replace("\"nnm\"", "\"nmm\""));
        assert!(m.contains("grid.pre") && m.contains("nnm"), "{m}");
    }

    #[test]
    fn noise_specs() {
        assert_eq!(
            parse_noise("gaussian").unwrap(),
            Noise::Gaussian { sigma: 1.0 }
        );
        assert!(parse_noise("cauchy").is_err());
        assert!(parse_noise("gaussian:sigma=-1").is_err());
    }
}
