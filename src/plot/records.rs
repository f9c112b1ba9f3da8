//! Reading sweep records (JSON Lines written by [`crate::experiment::sweep`]).

use crate::experiment::audit::{AuditBounds, AuditPoint};
use crate::experiment::dp_robust::{DpRobustBounds, DpRobustMetrics, DpRobustPoint};
use crate::experiment::exposure::{ExposureBounds, ExposurePoint};
use crate::experiment::privacy::MeanPoint;
use crate::experiment::robust::RobustPoint;
use crate::experiment::sweep::{DpMeanBounds, RobustBounds};
use crate::experiment::train::{TrainBounds, TrainPoint};
use crate::privacy::audit::dpsgd::AuditOutcome;
use crate::privacy::audit::exposure::Exposures;
use crate::{Error, Result};
use serde::Deserialize;
use std::io::BufRead;
use std::path::Path;

/// A run's outcome as stored in a record.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Metrics of a run with a finite aggregate.
    Ok {
        /// ‖F − μ‖.
        error: f64,
        /// ‖F − x̄_H‖.
        error_to_honest_mean: f64,
        /// κ̂ (`"inf"` when the honest updates coincide and F misses them).
        #[serde(deserialize_with = "crate::experiment::robust::extended_real::deserialize")]
        kappa_hat: f64,
        /// Spread of the honest updates.
        honest_variance: f64,
    },
    /// No finite aggregate.
    Failed {
        /// Why.
        reason: String,
    },
    /// The rule cannot run at this n and f.
    NotApplicable {
        /// Why.
        reason: String,
    },
}

/// The fields of a record the figures use.
#[derive(Clone, Debug, Deserialize)]
pub struct PlotRecord {
    /// The sweep's name.
    pub sweep: String,
    /// Grid point index.
    pub point: u64,
    /// Replicate index.
    pub replicate: u32,
    /// Every parameter of the run.
    pub params: RobustPoint,
    /// The bounds at the point.
    pub bounds: RobustBounds,
    /// What the run measured.
    pub output: Outcome,
}

/// Squared errors of a `dp_mean` run, as stored.
#[derive(Clone, Debug, Deserialize)]
pub struct MeanOutput {
    /// Non-private mean of all records.
    pub nonprivate: f64,
    /// Known-range clipped Gaussian mean (record-level DP).
    pub known_range: f64,
    /// CoinPress (record-level DP).
    pub coinpress: f64,
    /// CoinPress on the users' means (user-level DP).
    pub user_level: f64,
    /// Known-range clipped Gaussian mean of the users' means (user-level DP).
    pub user_level_known_range: f64,
    /// Records N.
    pub records: usize,
    /// Users n.
    pub users: usize,
}

/// A record of a `dp_mean` sweep.
#[derive(Clone, Debug, Deserialize)]
pub struct DpMeanRecord {
    /// The sweep's name.
    pub sweep: String,
    /// Grid point index.
    pub point: u64,
    /// Replicate index.
    pub replicate: u32,
    /// Every parameter of the run.
    pub params: MeanPoint,
    /// The bounds at the point.
    pub bounds: DpMeanBounds,
    /// What the run measured.
    pub output: MeanOutput,
}

/// A record of a `dp_robust` sweep.
#[derive(Clone, Debug, Deserialize)]
pub struct DpRobustRecord {
    /// The sweep's name.
    pub sweep: String,
    /// Grid point index.
    pub point: u64,
    /// Replicate index.
    pub replicate: u32,
    /// Every parameter of the run.
    pub params: DpRobustPoint,
    /// The bounds at the point.
    pub bounds: DpRobustBounds,
    /// What the run measured.
    pub output: DpRobustMetrics,
}

/// What a `train` run's last evaluation measured, as stored (the fields the figures use).
#[derive(Clone, Debug, Deserialize)]
pub struct TrainEvalOutput {
    /// ‖∇F_H(θ)‖² at the evaluated model (`"inf"` where it overflowed).
    #[serde(deserialize_with = "crate::experiment::robust::extended_real::deserialize")]
    pub grad_norm_sq: f64,
    /// G²(θ), the honest users' measured heterogeneity there (`"inf"` where it overflowed).
    #[serde(deserialize_with = "crate::experiment::robust::extended_real::deserialize")]
    pub g2: f64,
    /// B2's floor f·G²/(n − 2f) at that G² (where its hypotheses hold).
    #[serde(
        default,
        deserialize_with = "crate::experiment::robust::extended_real::option::deserialize"
    )]
    pub floor_b2: Option<f64>,
}

/// A `train` run's output, as stored.
#[derive(Clone, Debug, Deserialize)]
pub struct TrainOutput {
    /// `ok`, `diverged`, `failed` or `not_applicable`.
    pub status: String,
    /// Test accuracy of the final parameters (absent when nothing ran).
    #[serde(default)]
    pub test_accuracy: Option<f64>,
    /// ε spent (`"inf"` where the accountant gave no finite bound).
    #[serde(
        default,
        deserialize_with = "crate::experiment::robust::extended_real::option::deserialize"
    )]
    pub epsilon: Option<f64>,
    /// The last evaluation.
    #[serde(default)]
    pub last_eval: Option<TrainEvalOutput>,
}

impl TrainOutput {
    /// Whether the run trained a model the figures may score: completed, or diverged (the
    /// server holds the parameters before the bad round; a diverged run is the rule's
    /// failure, not a missing point).
    pub fn scored(&self) -> bool {
        matches!(self.status.as_str(), "ok" | "diverged")
    }
}

/// A record of a `train` sweep.
#[derive(Clone, Debug, Deserialize)]
pub struct TrainRecord {
    /// The sweep's name.
    pub sweep: String,
    /// Grid point index.
    pub point: u64,
    /// Replicate index.
    pub replicate: u32,
    /// Every parameter of the run.
    pub params: TrainPoint,
    /// The bounds at the point.
    pub bounds: TrainBounds,
    /// What the run measured.
    pub output: TrainOutput,
}

/// A record of an `exposure` sweep (a failed run, with non-finite metrics, is skipped).
#[derive(Clone, Debug, Deserialize)]
pub struct ExposureRecord {
    /// The sweep's name.
    pub sweep: String,
    /// Grid point index.
    pub point: u64,
    /// Replicate index.
    pub replicate: u32,
    /// Every parameter of the run.
    pub params: ExposurePoint,
    /// The ceilings at the point.
    pub bounds: ExposureBounds,
    /// The exposure estimates (other outcome fields are not needed by the figures).
    pub output: Exposures,
}

/// A record of a `mia` sweep.
#[derive(Clone, Debug, Deserialize)]
pub struct MiaRecord {
    /// The sweep's name.
    pub sweep: String,
    /// Grid point index.
    pub point: u64,
    /// Replicate index.
    pub replicate: u32,
    /// Every parameter of the run.
    pub params: crate::experiment::mia::MiaPoint,
    /// The DP line at the point.
    pub bounds: crate::experiment::mia::MiaBounds,
    /// Every attack's metrics and compact ROC curves.
    pub output: crate::experiment::mia::MiaReport,
}

/// A record of a `memorize` sweep.
#[derive(Clone, Debug, Deserialize)]
pub struct MemorizeRecord {
    /// The sweep's name.
    pub sweep: String,
    /// Grid point index.
    pub point: u64,
    /// Replicate index.
    pub replicate: u32,
    /// Every parameter of the run.
    pub params: crate::experiment::memorize::MemorizePoint,
    /// The catalogue's bounds at the point.
    pub bounds: crate::experiment::memorize::MemorizeBounds,
    /// Memorization, accuracies and LiRA on the tail.
    pub output: crate::experiment::memorize::MemorizeReport,
}

/// A record of an `onion` sweep.
#[derive(Clone, Debug, Deserialize)]
pub struct OnionRecord {
    /// The sweep's name.
    pub sweep: String,
    /// Grid point index.
    pub point: u64,
    /// Replicate index.
    pub replicate: u32,
    /// Every parameter of the run.
    pub params: crate::experiment::onion::OnionPoint,
    /// The run's peels, controls and survivors' scores.
    pub output: crate::experiment::onion::OnionReport,
}

/// A record of an `audit` sweep (a failed run, with non-finite metrics, is skipped).
#[derive(Clone, Debug, Deserialize)]
pub struct AuditRecord {
    /// The sweep's name.
    pub sweep: String,
    /// Grid point index.
    pub point: u64,
    /// Replicate index.
    pub replicate: u32,
    /// Every parameter of the run.
    pub params: AuditPoint,
    /// The accountant's ε and the method's ceiling at the point.
    pub bounds: AuditBounds,
    /// The audit's outcome.
    pub output: AuditOutcome,
}

/// A record of a `block` sweep.
#[derive(Clone, Debug, Deserialize)]
pub struct BlockRecord {
    /// The sweep's name.
    pub sweep: String,
    /// Grid point index.
    pub point: u64,
    /// Replicate index.
    pub replicate: u32,
    /// Every parameter of the run.
    pub params: crate::experiment::block::BlockPoint,
    /// The good-label floor at the point.
    pub bounds: crate::experiment::block::BlockBounds,
    /// Four models against the adversary at every n.
    pub output: crate::experiment::block::BlockReport,
}

/// A record of an `unlearn` sweep.
#[derive(Clone, Debug, Deserialize)]
pub struct UnlearnRecord {
    /// The sweep's name.
    pub sweep: String,
    /// Grid point index.
    pub point: u64,
    /// Replicate index.
    pub replicate: u32,
    /// Every parameter of the run.
    pub params: crate::experiment::unlearn::UnlearnPoint,
    /// Every arm's scores against the reference retrains.
    pub output: crate::experiment::unlearn::UnlearnReport,
}

/// A record of any experiment kind (chosen by the record's `experiment` key; records without
/// one are `robust`).
#[derive(Clone, Debug)]
pub enum AnyRecord {
    /// `robust`.
    Robust(PlotRecord),
    /// `dp_mean`.
    DpMean(DpMeanRecord),
    /// `dp_robust`.
    DpRobust(DpRobustRecord),
    /// `train` (boxed: its parameters make it the largest record by far).
    Train(Box<TrainRecord>),
    /// `exposure`.
    Exposure(Box<ExposureRecord>),
    /// `mia` (boxed: its ROC curves make it large).
    Mia(Box<MiaRecord>),
    /// `audit`.
    Audit(Box<AuditRecord>),
    /// `block`.
    Block(Box<BlockRecord>),
    /// `unlearn` (boxed: per-example ε of every arm).
    Unlearn(Box<UnlearnRecord>),
    /// `memorize`.
    Memorize(Box<MemorizeRecord>),
    /// `onion` (boxed: it carries every survivor's paired scores).
    Onion(Box<OnionRecord>),
}

impl AnyRecord {
    /// The sweep's name.
    pub fn sweep(&self) -> &str {
        match self {
            AnyRecord::Robust(r) => &r.sweep,
            AnyRecord::DpMean(r) => &r.sweep,
            AnyRecord::DpRobust(r) => &r.sweep,
            AnyRecord::Train(r) => &r.sweep,
            AnyRecord::Exposure(r) => &r.sweep,
            AnyRecord::Mia(r) => &r.sweep,
            AnyRecord::Audit(r) => &r.sweep,
            AnyRecord::Block(r) => &r.sweep,
            AnyRecord::Unlearn(r) => &r.sweep,
            AnyRecord::Memorize(r) => &r.sweep,
            AnyRecord::Onion(r) => &r.sweep,
        }
    }
}

fn parse_line(buf: &[u8]) -> serde_json::Result<Option<AnyRecord>> {
    #[derive(Deserialize)]
    struct Status {
        #[serde(default)]
        status: Option<String>,
    }
    #[derive(Deserialize)]
    struct Kind {
        #[serde(default)]
        experiment: Option<String>,
        #[serde(default)]
        output: Option<Status>,
    }
    let kind: Kind = serde_json::from_slice(buf)?;
    // A failed dp run (non-finite metrics, reason recorded) has no metrics to plot.
    let failed = kind
        .output
        .and_then(|o| o.status)
        .is_some_and(|s| s == "failed");
    Ok(match kind.experiment.as_deref() {
        Some("dp_mean" | "dp_robust" | "exposure" | "audit") if failed => None,
        Some("audit") => Some(AnyRecord::Audit(Box::new(serde_json::from_slice(buf)?))),
        Some("exposure") => Some(AnyRecord::Exposure(Box::new(serde_json::from_slice(buf)?))),
        Some("dp_mean") => Some(AnyRecord::DpMean(serde_json::from_slice(buf)?)),
        Some("dp_robust") => Some(AnyRecord::DpRobust(serde_json::from_slice(buf)?)),
        Some("train") => Some(AnyRecord::Train(Box::new(serde_json::from_slice(buf)?))),
        Some("block") => Some(AnyRecord::Block(Box::new(serde_json::from_slice(buf)?))),
        Some("mia") => Some(AnyRecord::Mia(Box::new(serde_json::from_slice(buf)?))),
        Some("unlearn") => Some(AnyRecord::Unlearn(Box::new(serde_json::from_slice(buf)?))),
        Some("memorize") => Some(AnyRecord::Memorize(Box::new(serde_json::from_slice(buf)?))),
        Some("onion") => Some(AnyRecord::Onion(Box::new(serde_json::from_slice(buf)?))),
        _ => Some(AnyRecord::Robust(serde_json::from_slice(buf)?)),
    })
}

/// Reads a record file (a torn last line, from a running sweep, is skipped).
///
/// # Errors
/// I/O errors and lines that are not records, naming the file and line.
pub fn load(path: &Path) -> Result<Vec<AnyRecord>> {
    let file = std::fs::File::open(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    let mut out = Vec::new();
    let mut r = std::io::BufReader::new(file);
    let mut buf = Vec::new();
    let mut line = 0;
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf).map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        if n == 0 || buf.last() != Some(&b'\n') {
            return Ok(out);
        }
        line += 1;
        out.extend(parse_line(&buf).map_err(|e| Error::Parse {
            what: format!("{} line {line}", path.display()),
            reason: e.to_string(),
        })?);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_last_line_is_skipped_and_bad_lines_named() {
        let dir = std::env::temp_dir().join(format!("lbounds-records-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = r#"{"sweep":"t","point":0,"replicate":0,"params":{"population":{},"defence":{"rule":{"name":"median"}},"attack":{"name":"origin"}},"bounds":{"f":0,"eta":0.0,"kappa_lower":0.0,"error_lower":null,"update_sigma":null,"heterogeneity_floor":0.0},"output":{"status":"not_applicable","reason":"r"}}"#;
        let p = dir.join("r.jsonl");
        std::fs::write(&p, format!("{good}\n{}", &good[..40])).unwrap();
        let recs = load(&p).unwrap();
        assert_eq!(recs.len(), 1);
        let AnyRecord::Robust(r) = &recs[0] else {
            panic!("a record without `experiment` is robust")
        };
        assert!(matches!(r.output, Outcome::NotApplicable { .. }));
        std::fs::write(&p, "{}\n").unwrap();
        let e = load(&p).unwrap_err().to_string();
        assert!(e.contains("r.jsonl line 1"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A training run's measurements that overflowed, and an ε the accountant could not
    /// bound, are stored as `"inf"` (JSON has no infinity) and load as +∞; a number and an
    /// absent value load as themselves (an ε of `null` is a run without privacy). Mutation
    /// checked: plain `f64` fields refuse the string.
    #[test]
    fn overflowed_train_measurements_load_as_infinity() {
        let eval: TrainEvalOutput =
            serde_json::from_str(r#"{"grad_norm_sq":"inf","g2":"inf","floor_b2":"inf"}"#).unwrap();
        assert_eq!(
            (eval.grad_norm_sq, eval.g2, eval.floor_b2),
            (f64::INFINITY, f64::INFINITY, Some(f64::INFINITY))
        );
        let eval: TrainEvalOutput = serde_json::from_str(r#"{"grad_norm_sq":0.5,"g2":2}"#).unwrap();
        assert_eq!(
            (eval.grad_norm_sq, eval.g2, eval.floor_b2),
            (0.5, 2.0, None)
        );
        let eval: TrainEvalOutput =
            serde_json::from_str(r#"{"grad_norm_sq":0.5,"g2":2,"floor_b2":null}"#).unwrap();
        assert_eq!(eval.floor_b2, None);
        let out: TrainOutput = serde_json::from_str(r#"{"status":"ok","epsilon":"inf"}"#).unwrap();
        assert_eq!(out.epsilon, Some(f64::INFINITY));
        let out: TrainOutput = serde_json::from_str(r#"{"status":"ok","epsilon":null}"#).unwrap();
        assert_eq!(out.epsilon, None);
    }
}
