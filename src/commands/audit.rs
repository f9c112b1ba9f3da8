//! The training audits (`lbounds audit exposure | dpsgd | mia`, `lbounds.audit.exposure |
//! dpsgd | mia`): the configuration their flags describe and the one JSON object their
//! `--json` prints (one line, no newline), so the CLI and Python return the same record.

use super::Spelling;
use crate::experiment::exposure::{ExposureOutcome, ExposurePoint};
use crate::experiment::mia::{MiaConfig, MiaReport};
use crate::learning::model::{Activation, ModelSpec};
use crate::privacy::audit::dpsgd::{AuditConfig, AuditOutcome, AuditTraining, Method};
use crate::privacy::audit::mia::population::LongTail;
use crate::privacy::audit::mia::shadow::{DpShadow, ShadowConfig};
use crate::privacy::sgd::PlantedBug;
use crate::{Error, Result};
use serde::Serialize;
use serde_json::Value;

fn json_error(e: serde_json::Error) -> Error {
    Error::Unsupported(format!("JSON: {e}"))
}

/// One JSON object on one line (no newline), keys in the struct's order.
fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(json_error)
}

/// The `audit exposure` record: the settings, the run's outcome flattened, and the wall time
/// `seconds` (the one field that differs between two identical runs).
///
/// # Errors
/// Serialisation failure (none is expected).
pub fn exposure_json(
    p: &ExposurePoint,
    seed: u64,
    outcome: &ExposureOutcome,
    seconds: f64,
) -> Result<String> {
    #[derive(Serialize)]
    struct Out<'a> {
        insertions: usize,
        digits: usize,
        context: usize,
        hidden: usize,
        tokens: usize,
        epochs: usize,
        batch: usize,
        lr: f64,
        seed: u64,
        /// The target ε (`null`: not private).
        epsilon_target: Option<f64>,
        delta: f64,
        #[serde(flatten)]
        outcome: &'a ExposureOutcome,
        seconds: f64,
    }
    to_json(&Out {
        insertions: p.insertions,
        digits: p.digits,
        context: p.context,
        hidden: p.hidden,
        tokens: p.tokens,
        epochs: p.epochs,
        batch: p.batch,
        lr: p.lr,
        seed,
        epsilon_target: p.epsilon,
        delta: p.delta,
        outcome,
        seconds,
    })
}

/// The `audit dpsgd` flags.
#[derive(Clone, Debug)]
pub struct DpsgdFlags {
    /// The claimed ε.
    pub epsilon: f64,
    /// Multi-run: trainings per world (`None`: 1000; refused with `one_run`).
    pub runs: Option<u32>,
    /// Audit in one training run.
    pub one_run: bool,
    /// One run: canaries M (`None`: 10 000; needs `one_run`).
    pub canaries: Option<u32>,
    /// One run: guesses R (`None`: M/10; needs `one_run`).
    pub guesses: Option<u32>,
    /// The planted bug's name (`none`, `no-clipping`, ...).
    pub planted_bug: String,
    /// δ.
    pub delta: f64,
    /// Failure probability of the bound.
    pub alpha: f64,
    /// Poisson sampling rate q.
    pub sample_rate: f64,
    /// Epochs of the audited training.
    pub epochs: usize,
}

/// The audit `flags` describe (checked: [`AuditConfig::validate`]).
///
/// # Errors
/// `runs` with `one_run`, `canaries`/`guesses` without it (named as the caller spells
/// them), an unknown planted bug, or a field out of its domain.
pub fn dpsgd_config(
    flags: &DpsgdFlags,
    backend: crate::learning::model::Backend,
    spelling: Spelling,
) -> Result<AuditConfig> {
    let conflict = |key: &str, why: &str| Err(Error::invalid(&spelling.name(key), "set", why));
    let method = if flags.one_run {
        if flags.runs.is_some() {
            return conflict("runs", "multi-run only: cannot be used with one_run");
        }
        let canaries = flags.canaries.unwrap_or(10_000);
        Method::OneRun {
            canaries,
            guesses: flags
                .guesses
                .unwrap_or_else(|| Method::default_guesses(canaries)),
        }
    } else {
        if flags.canaries.is_some() {
            return conflict("canaries", "one run only: needs one_run");
        }
        if flags.guesses.is_some() {
            return conflict("guesses", "one run only: needs one_run");
        }
        Method::MultiRun {
            runs: flags.runs.unwrap_or(1000),
        }
    };
    let cfg = AuditConfig {
        epsilon: flags.epsilon,
        delta: flags.delta,
        alpha: flags.alpha,
        planted_bug: PlantedBug::parse(&flags.planted_bug)?,
        method,
        training: AuditTraining {
            sample_rate: flags.sample_rate,
            epochs: flags.epochs,
            ..AuditTraining::default()
        },
        backend,
    };
    cfg.validate()?;
    Ok(cfg)
}

/// The `audit dpsgd` record: the outcome flattened, then the settings.
///
/// # Errors
/// Serialisation failure (none is expected).
pub fn dpsgd_json(out: &AuditOutcome, cfg: &AuditConfig, seed: u64) -> Result<String> {
    #[derive(Serialize)]
    struct Out<'a> {
        #[serde(flatten)]
        audit: &'a AuditOutcome,
        epsilon_target: f64,
        planted_bug: PlantedBug,
        method: &'static str,
        runs: Option<u32>,
        canaries: Option<u32>,
        guesses: Option<u32>,
        canary: &'static str,
        delta: f64,
        alpha: f64,
        sample_rate: f64,
        seed: u64,
    }
    let (runs, canaries, guesses) = match cfg.method {
        Method::MultiRun { runs } => (Some(runs), None, None),
        Method::OneRun { canaries, guesses } => (None, Some(canaries), Some(guesses)),
    };
    to_json(&Out {
        audit: out,
        epsilon_target: cfg.epsilon,
        planted_bug: cfg.planted_bug,
        method: cfg.method.name(),
        runs,
        canaries,
        guesses,
        canary: "dirac-gradient",
        delta: cfg.delta,
        alpha: cfg.alpha,
        sample_rate: cfg.training.sample_rate,
        seed,
    })
}

/// The `audit mia` flags (the backend apart).
#[derive(Clone, Debug)]
pub struct MiaFlags {
    /// Models M.
    pub models: usize,
    /// `softmax` or `mlp`.
    pub model: String,
    /// Hidden width of the mlp.
    pub hidden: usize,
    /// Audited records.
    pub records: usize,
    /// Population records (`None`: records/5).
    pub population: Option<usize>,
    /// Features.
    pub features: usize,
    /// Models playing the target in turn.
    pub targets: usize,
    /// Training passes (`None`: the model's default).
    pub epochs: Option<usize>,
    /// Learning rate (`None`: the model's default).
    pub lr: Option<f64>,
    /// DP-SGD at this ε (`None`: not private).
    pub epsilon: Option<f64>,
    /// δ of DP-SGD.
    pub delta: f64,
    /// Clip norm of DP-SGD.
    pub clip: f64,
    /// Seed of the keep matrix and the trainings.
    pub seed: u64,
    /// Seed of the population draw.
    pub data_seed: u64,
}

/// The audit `flags` describe, on `backend` (not yet validated: [`MiaConfig::validate`]).
///
/// # Errors
/// An unknown model family; an mlp with no hidden unit.
pub fn mia_config(
    flags: &MiaFlags,
    backend: crate::learning::model::Backend,
    spelling: Spelling,
) -> Result<MiaConfig> {
    let mut shadow = match flags.model.as_str() {
        "mlp" => {
            if flags.hidden == 0 {
                return Err(Error::invalid(&spelling.name("hidden"), 0, "must be ≥ 1"));
            }
            ShadowConfig {
                model: ModelSpec::Mlp {
                    hidden: vec![flags.hidden],
                    activation: Activation::Relu,
                },
                ..ShadowConfig::mlp()
            }
        }
        "softmax" => ShadowConfig::softmax(),
        other => return Err(Error::unknown("model", other, ["softmax", "mlp"])),
    };
    if let Some(e) = flags.epochs {
        shadow.epochs = e;
    }
    if let Some(lr) = flags.lr {
        shadow.lr = lr;
    }
    if let Some(epsilon) = flags.epsilon {
        shadow.dp = Some(DpShadow {
            epsilon,
            delta: flags.delta,
            clip: flags.clip,
        });
        shadow.batch = 0;
    }
    shadow.backend = backend;
    Ok(MiaConfig {
        data: LongTail {
            records: flags.records,
            population: flags.population.unwrap_or(flags.records / 5),
            features: flags.features,
            ..LongTail::default()
        },
        data_seed: flags.data_seed,
        seed: flags.seed,
        models: flags.models,
        targets: flags.targets,
        shadow,
    })
}

/// The `audit mia` record: the report with `model` added and each attack's overall metrics
/// at its top level; the ROC curves only with `roc`.
///
/// # Errors
/// Serialisation failure (none is expected).
pub fn mia_json(r: &MiaReport, model: &str, roc: bool) -> Result<String> {
    let mut v = serde_json::to_value(r).map_err(json_error)?;
    v["model"] = model.into();
    if let Some(list) = v["attacks"].as_array_mut() {
        for at in list {
            if let Some(o) = at.as_object_mut() {
                // The overall metrics at the top level of each attack.
                if let Some(Value::Object(m)) = o.remove("overall") {
                    o.extend(m);
                }
                if !roc {
                    o.remove("roc");
                    o.remove("roc_canaries");
                }
            }
        }
    }
    to_json(&v)
}
