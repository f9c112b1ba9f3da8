//! Sweeps at scale: a config's grid streamed to `DIR/records.jsonl`, resumably, shard by
//! shard; merging shards; progress of a running sweep; Slurm job arrays.
//!
//! # Records
//!
//! One JSON object per line and per (grid point, replicate), keys in a fixed order:
//! `sweep` (the config's name), `experiment` (its kind), `config_hash`, `point`, `replicate`, `seed`, `grid` (the
//! point's values as written in the config, keys sorted), `params` (every parameter of the
//! run, defaults included), `bounds` (the lower bounds that apply at the point:
//! [`RobustBounds`], [`DpMeanBounds`], [`DpRobustBounds`], [`TrainBounds`] or
//! [`ExposureBounds`] or [`AuditBounds`]) and `output` (the metrics: [`RobustOutcome`] tagged by `status`,
//! [`MeanErrors`], [`DpRobustMetrics`], [`TrainOutcome`] tagged by `status`, or
//! [`ExposureOutcome`], or [`AuditOutcome`]). A line's bytes depend
//! only on the config, the point and the replicate, never on threads, shards or timing.
//!
//! # Shards
//!
//! `--shard K/N` runs the points p with p mod N = K (all their replicates). Shards of one
//! sweep go to different directories; [`merge`] joins them.
//!
//! # Resuming, order and the lock
//!
//! Records are appended as whole lines (one `write` per line) as each job finishes, so a
//! `kill -9` loses only the jobs that were running. On start, [`run`] takes the directory's
//! [lock](LOCK) (a second `sweep run` on the same directory is refused, naming the pid of the
//! first), reads the existing file in any order, truncates a last line without its newline
//! (a write cut by `kill -9`), and runs only the remaining jobs. When the shard's last record
//! is written, the file is put back in (point, replicate) order in one streaming pass, so a
//! finished directory holds the same bytes whatever the threads, interruptions and resumes;
//! an unfinished one may be out of order, which `sweep merge` (it sorts) and `lbounds plot`
//! do not mind. A directory belongs to one config and one shard (`sweep.json` records which).
//! [`status`] reports an ETA only while a run holds the lock.

use super::audit::{AuditBounds, DpsgdAudit};
use super::config::{SweepConfig, SweepParams};
use super::dp_robust::{dp_robust_bounds, DpRobust, DpRobustBounds, DpRobustMetrics};
use super::exposure::{CanaryExposure, ExposureBounds, ExposureOutcome};
use super::privacy::{DpMean, MeanErrors, MeanPoint};
use super::robust::{RobustAggregation, RobustOutcome, RobustPoint};
use super::train::{train_bounds, TrainBounds, TrainOutcome, TrainStatus, Training};
use super::{run_as_completed, Experiment, Job};
use crate::bounds::allouah2023fixing::kappa_lower_bound;
use crate::bounds::applicability::{applicable_value, SimulatedModel};
use crate::bounds::dwork2014algorithmic::dp_two_point_min_fail_prob;
use crate::data::population::byzantine_count;
use crate::privacy::audit::dpsgd::AuditOutcome;
use crate::privacy::estimators::cai_wang_zhang_rate;
use crate::rng::SimRng;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// File name of the records in a sweep directory.
pub const RECORDS: &str = "records.jsonl";
/// File name of the manifest in a sweep directory.
pub const MANIFEST: &str = "sweep.json";

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source: e,
    }
}

/// Which part of the grid a process runs: the points p with p mod `count` = `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// K, in `0..count`.
    pub index: u64,
    /// N ≥ 1.
    pub count: u64,
}

impl Shard {
    /// The whole grid (shard 0/1).
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `K/N` with 0 ≤ K < N.
    ///
    /// # Errors
    /// [`Error::Parse`] for anything else.
    pub fn parse(s: &str) -> Result<Shard> {
        let bad = |why: &str| Error::Parse {
            what: format!("--shard `{s}`"),
            reason: why.to_string(),
        };
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| bad("expected K/N, e.g. 0/4"))?;
        let index: u64 = k.trim().parse().map_err(|_| bad("K is not a number"))?;
        let count: u64 = n.trim().parse().map_err(|_| bad("N is not a number"))?;
        if count == 0 || index >= count {
            return Err(bad("need 0 <= K < N"));
        }
        Ok(Shard { index, count })
    }

    /// Whether point `p` belongs to this shard.
    pub fn owns(&self, p: u64) -> bool {
        p % self.count == self.index
    }

    /// Number of points of a `points`-point grid in this shard.
    pub fn points_of(&self, points: u64) -> u64 {
        if points > self.index {
            (points - self.index - 1) / self.count + 1
        } else {
            0
        }
    }
}

/// The lower bounds that apply at a robust-aggregation point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RobustBounds {
    /// f = ⌊fraction·n⌋.
    pub f: usize,
    /// η = f/n.
    pub eta: f64,
    /// B1: κ ≥ f/(n − 2f) (Allouah et al., AISTATS 2023, arXiv 2302.01772).
    pub kappa_lower: f64,
    /// R1 (Huber 1964): worst-case error ≥ σ·Φ⁻¹(1/(2(1−η))) per direction, for Gaussian
    /// updates of known per-coordinate σ; `None` otherwise.
    pub error_lower: Option<f64>,
    /// Per-coordinate standard deviation of an honest update, when known in closed form.
    pub update_sigma: Option<f64>,
    /// B2: squared error ≥ f·G²/(n − 2f) on some population of heterogeneity G² (the config's
    /// target G²); see [`heterogeneity_floor`].
    pub heterogeneity_floor: f64,
}

/// The heterogeneity floor f·G²/(n − 2f) of (G, B)-dissimilar losses with B = 0: for every
/// aggregation rule there are honest inputs of dissimilarity G² on which its squared error
/// to the honest mean is at least this (0 when f = 0): the catalogue's B2 at B = 0
/// ([`kappa_lower_bound`] × G²).
///
/// # References
/// - Allouah, Farhadkhani, Guerraoui, Gupta, Pinot & Stephan, "Fixing by Mixing: A Recipe for
///   Optimal Byzantine ML under Heterogeneity", AISTATS 2023, arXiv 2302.01772.
///
/// # Errors
/// [`Error::InvalidParameter`] when 2f ≥ n or G² is negative or not finite.
pub fn heterogeneity_floor(n: usize, f: usize, g2: f64) -> Result<f64> {
    if !(g2.is_finite() && g2 >= 0.0) {
        return Err(Error::invalid("G^2", g2, "must be finite and >= 0"));
    }
    Ok(kappa_lower_bound(n, f)? * g2)
}

/// Evaluates the bounds of [`RobustBounds`] at a point.
///
/// # Errors
/// Those of the bound functions (not for validated points).
pub fn robust_bounds(p: &RobustPoint) -> Result<RobustBounds> {
    let model = p.population.clone().build()?;
    let (n, f) = (
        p.population.n,
        byzantine_count(p.population.byzantine_fraction, p.population.n),
    );
    let eta = f as f64 / n as f64;
    let update_sigma = model.update_sigma();
    // Only where R1-huber's hypotheses hold for this population (Gaussian updates).
    let error_lower = applicable_value(&SimulatedModel::of(&model), "R1-huber");
    Ok(RobustBounds {
        f,
        eta,
        kappa_lower: kappa_lower_bound(n, f)?,
        error_lower,
        update_sigma,
        heterogeneity_floor: heterogeneity_floor(n, f, p.population.heterogeneity)?,
    })
}

/// The bounds that apply at a `dp_mean` point (squared errors; N = n·m records).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DpMeanBounds {
    /// P1 (Cai, Wang & Zhang 2021; order only, status "to verify"):
    /// σ²(d/N + d² ln(1/δ)/(N²ε²)), record-level DP.
    pub p1_record_level: f64,
    /// The same order for user-level DP: n users whose means have per-coordinate std
    /// σ_u = √(σ²/m + G²/d), as the user-level estimators use.
    pub p1_user_level: f64,
    /// P1-twopoint (Dwork & Roth 2014): every (ε, δ)-DP mechanism errs by half the distance
    /// between two datasets one record apart with at least this probability on one of them.
    /// A worst-case-dataset statement, not a bound on the Gaussian model's squared error.
    pub p1_twopoint_fail_prob: f64,
}

/// Evaluates [`DpMeanBounds`] at a point.
///
/// # Errors
/// Those of [`MeanPoint::check`] (not for validated points).
pub fn dp_mean_bounds(p: &MeanPoint) -> Result<DpMeanBounds> {
    let (sigma, m) = p.check()?;
    let (n, d) = (p.population.n, p.population.d);
    Ok(DpMeanBounds {
        p1_record_level: cai_wang_zhang_rate(sigma, d, n * m, p.epsilon, p.delta)?,
        p1_user_level: cai_wang_zhang_rate(p.user_sigma(sigma, m), d, n, p.epsilon, p.delta)?,
        p1_twopoint_fail_prob: dp_two_point_min_fail_prob(1, p.epsilon, p.delta),
    })
}

/// The bounds of a point, by experiment kind (serialised as the inner struct).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SweepBounds {
    /// At a `robust` point.
    Robust(RobustBounds),
    /// At a `dp_mean` point.
    DpMean(DpMeanBounds),
    /// At a `dp_robust` point.
    DpRobust(DpRobustBounds),
    /// At a `train` point.
    Train(TrainBounds),
    /// At an `exposure` point.
    Exposure(ExposureBounds),
    /// At a `mia` point.
    Mia(super::mia::MiaBounds),
    /// At an `audit` point.
    Audit(AuditBounds),
    /// At a `block` point.
    Block(super::block::BlockBounds),
    /// At an `unlearn` point.
    Unlearn(super::unlearn::UnlearnBounds),
    /// At a `memorize` point.
    Memorize(super::memorize::MemorizeBounds),
    /// At an `onion` point.
    Onion(super::onion::OnionBounds),
}

/// What one run of a sweep produced, by experiment kind (serialised as the inner value).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SweepOutput {
    /// A `robust` run (tagged by `status`).
    Robust(RobustOutcome),
    /// A `dp_mean` run: squared errors of every estimator on the same sample.
    DpMean(MeanErrors),
    /// A `dp_robust` run: errors of every estimator on the same sample.
    DpRobust(DpRobustMetrics),
    /// A `train` run (tagged by `status`).
    Train(TrainOutcome),
    /// An `exposure` run.
    Exposure(ExposureOutcome),
    /// A `mia` run: every attack's metrics and compact ROC curves.
    Mia(super::mia::MiaReport),
    /// An `audit` run.
    Audit(AuditOutcome),
    /// A `block` run: four models against the random-search adversary at every n.
    Block(super::block::BlockReport),
    /// An `unlearn` run: every arm against the reference retrains.
    Unlearn(super::unlearn::UnlearnReport),
    /// A `memorize` run.
    Memorize(Box<super::memorize::MemorizeReport>),
    /// An `onion` run.
    Onion(Box<super::onion::OnionReport>),
    /// A `dp_mean` or `dp_robust` run whose metrics were not all finite.
    Failed(RunFailure),
}

/// A run of a `dp_mean` or `dp_robust` point whose metrics are not all finite: serialised as
/// `{"status":"failed","reason":...}` in place of the metrics, like a failed `robust` run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunFailure {
    /// Always `failed`.
    pub status: &'static str,
    /// Which metrics were not finite.
    pub reason: String,
}

/// How a record's run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordStatus {
    /// Finite metrics.
    Ok,
    /// No finite metrics (the reason is in the record).
    Failed,
    /// The rule cannot run at that n and f.
    NotApplicable,
}

/// The names of the non-finite values among `metrics`.
fn non_finite(metrics: &[(&'static str, f64)]) -> Option<String> {
    let bad: Vec<String> = metrics
        .iter()
        .filter(|(_, v)| !v.is_finite())
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    (!bad.is_empty()).then(|| format!("non-finite metric(s): {}", bad.join(", ")))
}

impl SweepOutput {
    /// The output as recorded: metrics that are not all finite become a failed run with the
    /// reason, so no record says `ok` next to a metric JSON cannot hold (it would be `null`).
    /// κ̂ = +∞ (honest variance 0 and an aggregate off the honest mean) is a value, not a
    /// failure.
    pub fn checked(&self) -> SweepOutput {
        let bad = match self {
            SweepOutput::Robust(RobustOutcome::Ok(m)) => {
                let mut v = vec![
                    ("error", m.error),
                    ("error_to_honest_mean", m.error_to_honest_mean),
                    ("honest_variance", m.honest_variance),
                    ("g2", m.g2),
                ];
                if m.kappa_hat != f64::INFINITY {
                    v.push(("kappa_hat", m.kappa_hat));
                }
                non_finite(&v)
            }
            SweepOutput::DpMean(m) => non_finite(&[
                ("nonprivate", m.nonprivate),
                ("known_range", m.known_range),
                ("coinpress", m.coinpress),
                ("user_level", m.user_level),
                ("user_level_known_range", m.user_level_known_range),
                ("p1_record_level", m.p1_record_level),
                ("p1_user_level", m.p1_user_level),
            ]),
            SweepOutput::DpRobust(m) => non_finite(&[
                ("dp_average", m.dp_average),
                ("dp_trmean", m.dp_trmean),
                ("trmean_nonprivate", m.trmean_nonprivate),
                ("trmean_noise_sigma", m.trmean_noise_sigma),
            ]),
            SweepOutput::Exposure(o) => non_finite(&[
                ("exposure_exact", o.exposures.exposure_exact),
                ("exposure_interpolated", o.exposures.exposure_interpolated),
                ("exposure_extrapolated", o.exposures.exposure_extrapolated),
                ("train_loss", o.train_loss),
            ]),
            SweepOutput::Audit(o) => {
                non_finite(&[("epsilon_lower", o.epsilon_lower), ("epsilon", o.epsilon)])
            }
            _ => None,
        };
        match (bad, self) {
            (None, _) => self.clone(),
            (Some(reason), SweepOutput::Robust(_)) => {
                SweepOutput::Robust(RobustOutcome::Failed { reason })
            }
            (Some(reason), _) => SweepOutput::Failed(RunFailure {
                status: "failed",
                reason,
            }),
        }
    }

    fn failed(e: Error) -> SweepOutput {
        SweepOutput::Failed(RunFailure {
            status: "failed",
            reason: e.to_string(),
        })
    }

    /// How the run ended.
    pub fn status(&self) -> RecordStatus {
        match self {
            SweepOutput::Robust(RobustOutcome::Failed { .. }) | SweepOutput::Failed(_) => {
                RecordStatus::Failed
            }
            SweepOutput::Robust(RobustOutcome::NotApplicable { .. })
            | SweepOutput::Train(TrainOutcome {
                status: TrainStatus::NotApplicable { .. },
                ..
            }) => RecordStatus::NotApplicable,
            SweepOutput::Train(TrainOutcome {
                status: TrainStatus::Failed { .. },
                ..
            }) => RecordStatus::Failed,
            _ => RecordStatus::Ok,
        }
    }
}

/// One record line (see the [module docs](self) for the key order).
#[derive(Serialize)]
struct Line<'a> {
    sweep: &'a str,
    experiment: &'a str,
    config_hash: &'a str,
    point: u64,
    replicate: u32,
    seed: u64,
    grid: &'a serde_json::Map<String, serde_json::Value>,
    params: &'a SweepParams,
    bounds: &'a SweepBounds,
    output: &'a SweepOutput,
}

/// The fields of a record line that identify it.
#[derive(Deserialize)]
struct Key {
    sweep: String,
    config_hash: String,
    point: u64,
    replicate: u32,
}

/// A point of a sweep: its parameters, grid values and bounds.
struct SweepPoint {
    params: SweepParams,
    grid: serde_json::Map<String, serde_json::Value>,
    bounds: SweepBounds,
}

impl Serialize for SweepPoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.params.serialize(s)
    }
}

/// Every sweep kind behind one [`Experiment`]: dispatches on the point's kind.
struct SweepAny;
impl Experiment for SweepAny {
    type Point = SweepPoint;
    type Output = SweepOutput;
    fn run_once(&self, p: &SweepPoint, rng: &mut SimRng) -> Result<SweepOutput> {
        Ok(match &p.params {
            SweepParams::Robust(q) => SweepOutput::Robust(RobustAggregation.run_once(q, rng)?),
            // A validated point whose run still fails numerically is recorded as failed with
            // the reason, like a robust run: a resumed sweep would only fail the same way.
            SweepParams::DpMean(q) => DpMean
                .run_once(q, rng)
                .map_or_else(SweepOutput::failed, SweepOutput::DpMean),
            SweepParams::DpRobust(q) => DpRobust
                .run_once(q, rng)
                .map_or_else(SweepOutput::failed, SweepOutput::DpRobust),
            SweepParams::Train(q) => SweepOutput::Train(Training.run_once(q, rng)?),
            SweepParams::Exposure(q) => CanaryExposure
                .run_once(q, rng)
                .map_or_else(SweepOutput::failed, SweepOutput::Exposure),
            SweepParams::Mia(q) => SweepOutput::Mia(super::mia::MiaExperiment.run_once(q, rng)?),
            SweepParams::Audit(q) => DpsgdAudit
                .run_once(q, rng)
                .map_or_else(SweepOutput::failed, SweepOutput::Audit),
            SweepParams::Block(q) => {
                SweepOutput::Block(super::block::BlockExperiment.run_once(q, rng)?)
            }
            SweepParams::Unlearn(q) => {
                SweepOutput::Unlearn(super::unlearn::UnlearnExperiment.run_once(q, rng)?)
            }
            SweepParams::Memorize(q) => SweepOutput::Memorize(Box::new(
                super::memorize::MemorizeExperiment.run_once(q, rng)?,
            )),
            SweepParams::Onion(q) => {
                SweepOutput::Onion(Box::new(super::onion::OnionExperiment.run_once(q, rng)?))
            }
        })
    }

    /// A `train`, `exposure` or `audit` point draws from streams named per replicate (common
    /// random numbers across its grid, see [`super::train`]); the other kinds from their
    /// point-keyed stream.
    fn run_job(&self, p: &SweepPoint, job: Job) -> Result<SweepOutput> {
        match &p.params {
            SweepParams::Train(q) => Ok(SweepOutput::Train(Training.run_job(q, job)?)),
            SweepParams::Exposure(q) => Ok(CanaryExposure
                .run_job(q, job)
                .map_or_else(SweepOutput::failed, SweepOutput::Exposure)),
            // A whole audit per job, seeded by (seed, replicate) only ([`super::mia::MiaPoint::config`]).
            SweepParams::Mia(q) => Ok(SweepOutput::Mia(super::mia::MiaExperiment.run_job(q, job)?)),
            SweepParams::Audit(q) => Ok(DpsgdAudit
                .run_job(q, job)
                .map_or_else(SweepOutput::failed, SweepOutput::Audit)),
            // Streams named per replicate: every ρ of a replicate shares its draws.
            SweepParams::Block(q) => Ok(SweepOutput::Block(
                super::block::BlockExperiment.run_job(q, job)?,
            )),
            // A whole run per job, seeded by (seed, replicate) only.
            SweepParams::Unlearn(q) => Ok(SweepOutput::Unlearn(
                super::unlearn::UnlearnExperiment.run_job(q, job)?,
            )),
            // A whole run per job, seeded by (seed, replicate) only (common random numbers).
            SweepParams::Memorize(q) => Ok(SweepOutput::Memorize(Box::new(
                super::memorize::MemorizeExperiment.run_job(q, job)?,
            ))),
            // A whole onion run per job, seeded by (seed, replicate) only.
            SweepParams::Onion(q) => Ok(SweepOutput::Onion(Box::new(
                super::onion::OnionExperiment.run_job(q, job)?,
            ))),
            _ => self.run_once(p, &mut job.rng()?),
        }
    }
}

/// The bounds of a point of any kind.
///
/// # Errors
/// Those of the bound functions (not for validated points).
pub fn sweep_bounds(p: &SweepParams) -> Result<SweepBounds> {
    Ok(match p {
        SweepParams::Robust(q) => SweepBounds::Robust(robust_bounds(q)?),
        SweepParams::DpMean(q) => SweepBounds::DpMean(dp_mean_bounds(q)?),
        SweepParams::DpRobust(q) => SweepBounds::DpRobust(dp_robust_bounds(q)?),
        SweepParams::Train(q) => SweepBounds::Train(train_bounds(q)?),
        SweepParams::Exposure(q) => SweepBounds::Exposure(ExposureBounds::at(q)),
        SweepParams::Mia(q) => SweepBounds::Mia(super::mia::MiaBounds::of(q)),
        SweepParams::Audit(q) => SweepBounds::Audit(AuditBounds::at(q)?),
        SweepParams::Block(q) => SweepBounds::Block(super::block::BlockBounds::at(q)),
        SweepParams::Unlearn(_) => SweepBounds::Unlearn(super::unlearn::UnlearnBounds {}),
        SweepParams::Memorize(q) => SweepBounds::Memorize(super::memorize::MemorizeBounds::of(q)?),
        SweepParams::Onion(_) => SweepBounds::Onion(super::onion::OnionBounds::default()),
    })
}

/// What a sweep directory holds: which config and shard, and when the last run started.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// The config's name.
    pub sweep: String,
    /// The config's hash.
    pub config_hash: String,
    /// The experiment kind.
    pub experiment: String,
    /// The shard this directory runs.
    pub shard: Shard,
    /// Points of the whole grid.
    pub points: u64,
    /// Replicates per point.
    pub replicates: u32,
    /// Records this shard will hold when complete.
    pub shard_records: u64,
    /// Seconds since the Unix epoch when the last `sweep run` started.
    pub started_unix: f64,
    /// Records already on disk when it started.
    pub done_at_start: u64,
    /// The config file as given.
    pub config_path: String,
    /// The canonical JSON form of the config.
    pub config: String,
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Writes `bytes` to `path` through a temporary file renamed over it, so `path` is never
/// half-written; the temporary file is removed on failure.
///
/// # Errors
/// I/O errors, naming the file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    let r = fs::write(&tmp, bytes)
        .map_err(|e| io_err(&tmp, e))
        .and_then(|()| fs::rename(&tmp, path).map_err(|e| io_err(path, e)));
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r
}

/// Reads a manifest.
///
/// # Errors
/// I/O and JSON errors, naming the file.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    let text = fs::read_to_string(&path).map_err(|e| io_err(&path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Parse {
        what: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Complete record lines of a file: calls `each(key, line)` for every line that ends with a
/// newline and returns the byte length of those lines (where a torn last line starts).
fn scan(path: &Path, mut each: impl FnMut(Key, &[u8]) -> Result<()>) -> Result<u64> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_err(path, e)),
    };
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::new();
    let mut good = 0u64;
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let got = r.read_until(b'\n', &mut buf).map_err(|e| io_err(path, e))?;
        if got == 0 || buf.last() != Some(&b'\n') {
            return Ok(good);
        }
        line_no += 1;
        let key: Key = serde_json::from_slice(&buf).map_err(|e| Error::Parse {
            what: format!("{} line {line_no}", path.display()),
            reason: format!("not a record: {e}"),
        })?;
        each(key, &buf)?;
        good += got as u64;
    }
}

/// File name of the lock of a sweep directory: held (an advisory `flock`) by the one
/// `sweep run` writing there, and holding its pid. The file stays; the lock is what says a
/// run is alive (the OS drops it when the process ends, `kill -9` included).
pub const LOCK: &str = "sweep.lock";

/// The lock of a sweep directory, held while this value lives.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock of `dir` (which must exist) and writes this process' pid into it.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the pid when another process holds it; I/O errors.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(LOCK);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let pid = fs::read_to_string(&path).unwrap_or_default();
                return Err(Error::invalid(
                    "--out",
                    dir.display(),
                    format!(
                        "another `sweep run` (pid {}) is writing there; wait for it, or stop it first",
                        pid.trim()
                    ),
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(&path, e)),
        }
        file.set_len(0).map_err(|e| io_err(&path, e))?;
        file.write_all(format!("{}\n", std::process::id()).as_bytes())
            .map_err(|e| io_err(&path, e))?;
        Ok(DirLock { _file: file })
    }

    /// The pid of the live `sweep run` holding `dir`'s lock, if any.
    pub fn holder(dir: &Path) -> Option<u32> {
        let path = dir.join(LOCK);
        let file = File::open(&path).ok()?;
        match file.try_lock_shared() {
            // Nobody holds it: the last run is over (finished or killed).
            Ok(()) => None,
            Err(_) => fs::read_to_string(&path).ok()?.trim().parse().ok(),
        }
    }
}

/// Refuses an `--out` that exists but is not a directory, then creates it.
fn create_out_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::invalid(
            "--out",
            dir.display(),
            "is a file; a sweep writes into a directory (give a new or existing directory)",
        ));
    }
    fs::create_dir_all(dir).map_err(|e| io_err(dir, e))
}

/// What [`run`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// Records of this shard.
    pub total: u64,
    /// Records found complete on disk at start (skipped).
    pub done_before: u64,
    /// Records written by this run.
    pub written: u64,
    /// Bytes of a torn last line removed at start (0 when the file ended cleanly).
    pub torn_bytes: u64,
    /// Records of points where the rule could not run (`not_applicable`), this run.
    pub not_applicable: u64,
    /// Records whose run failed at that point (`failed`, with a reason), this run.
    pub failed: u64,
}

/// Watches a [`run`]: progress bars and tests. Every method has an empty default.
pub trait Observer: Sync {
    /// Called once before any job, with the records already on disk and the shard's total.
    fn resumed(&self, _done: u64, _total: u64) {}
    /// Called once per finished job, from worker threads, in no particular order.
    fn finished_one(&self) {}
}

/// Watches nothing.
impl Observer for () {}

/// Which jobs of a shard are done: one bit per job, in job order.
struct Done {
    bits: Vec<u64>,
}

impl Done {
    fn new(total: u64) -> Done {
        Done {
            bits: vec![0; total.div_ceil(64) as usize],
        }
    }
    fn get(&self, j: u64) -> bool {
        self.bits[(j / 64) as usize] >> (j % 64) & 1 == 1
    }
    /// Marks `j`; false when it was marked already.
    fn set(&mut self, j: u64) -> bool {
        let was = self.get(j);
        self.bits[(j / 64) as usize] |= 1 << (j % 64);
        !was
    }
}

/// Runs (or resumes) shard `shard` of `cfg` into `dir`, appending each record to
/// `dir/records.jsonl` as soon as its job finishes, at most `window` jobs ahead of the oldest
/// unfinished one (default [`super::default_chunk`]).
///
/// # Order, resuming and the final bytes
///
/// Records reach the file in the order jobs finish, so a `kill -9` loses only the jobs that
/// were running. While a run is in progress (or after it was killed) the file may therefore
/// be out of (point, replicate) order; a resumed run reads the records in any order, skips
/// them and appends the rest. When the last record of the shard is written, the file is put
/// back in (point, replicate) order in one streaming pass (written to `records.jsonl.tmp`,
/// then renamed over it; skipped when the file is already in order, as after a one-thread
/// run), so a finished directory holds the same bytes whatever the threads, the window, the
/// interruptions and resumptions, and `sweep merge` of finished or unfinished shards gives the
/// same bytes as ever (it sorts).
///
/// # Errors
/// [`Error::InvalidParameter`] when `dir` is a file, holds another config or shard, or
/// another `sweep run` holds its [lock](LOCK); a record file that is not ours (bad line,
/// other hash, foreign key); I/O errors; the first experiment error in job order.
pub fn run(
    cfg: &SweepConfig,
    dir: &Path,
    shard: Shard,
    window: Option<usize>,
    observer: &dyn Observer,
) -> Result<RunReport> {
    create_out_dir(dir)?;
    let _lock = DirLock::acquire(dir)?;
    let shard_points = shard.points_of(cfg.points());
    let reps = u64::from(cfg.replicates);
    let total = shard_points * reps;
    if dir.join(MANIFEST).exists() {
        let m = read_manifest(dir)?;
        if m.config_hash != cfg.hash() || m.shard != shard {
            return Err(Error::invalid(
                "--out",
                dir.display(),
                format!(
                    "holds records of sweep `{}` (config hash {}, shard {}/{}), not of `{}` (hash {}, shard {}/{}); use another directory",
                    m.sweep, m.config_hash, m.shard.index, m.shard.count, cfg.name, cfg.hash(), shard.index, shard.count
                ),
            ));
        }
    }
    let path = dir.join(RECORDS);
    let tmp = ordering_tmp(&path);
    // A finishing pass cut short (killed): its partial copy is ours to drop (we hold the lock).
    if tmp.exists() {
        fs::remove_file(&tmp).map_err(|e| io_err(&tmp, e))?;
    }
    let job_of = |point: u64, replicate: u32| {
        (point - shard.index) / shard.count * reps + u64::from(replicate)
    };

    // What is done already (in any order); whether the file is in job order; cut a torn line.
    let mut done = Done::new(total);
    let mut done_before = 0u64;
    let mut in_order = true;
    let good = scan(&path, |k, _| {
        check_ours(cfg, dir, &path, shard, &k)?;
        let j = job_of(k.point, k.replicate);
        in_order &= j == done_before;
        if done.set(j) {
            done_before += 1;
        } else {
            return Err(Error::invalid(
                "--out",
                dir.display(),
                format!(
                    "{} holds point {} replicate {} twice; remove the directory and run again",
                    path.display(),
                    k.point,
                    k.replicate
                ),
            ));
        }
        Ok(())
    })?;
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(&path)
        .map_err(|e| io_err(&path, e))?;
    let len = file.metadata().map_err(|e| io_err(&path, e))?.len();
    let torn_bytes = len - good;
    if torn_bytes > 0 {
        file.set_len(good).map_err(|e| io_err(&path, e))?;
        file.seek(SeekFrom::End(0)).map_err(|e| io_err(&path, e))?;
    }

    let manifest = Manifest {
        sweep: cfg.name.clone(),
        config_hash: cfg.hash().to_string(),
        experiment: cfg.experiment.name().to_string(),
        shard,
        points: cfg.points(),
        replicates: cfg.replicates,
        shard_records: total,
        started_unix: now_unix(),
        done_at_start: done_before,
        config_path: cfg.path.clone(),
        config: cfg.canonical().to_string(),
    };
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| Error::invalid("manifest", dir.display(), e.to_string()))?;
    write_atomic(&dir.join(MANIFEST), text.as_bytes())?;
    observer.resumed(done_before, total);

    let jobs = (0..shard_points)
        .flat_map(move |i| {
            let p = shard.index + i * shard.count;
            (0..cfg.replicates).map(move |r| (p, r))
        })
        .filter(|&(p, r)| !done.get(job_of(p, r)));
    let mut written = 0u64;
    let mut not_applicable = 0u64;
    let mut failed = 0u64;
    // Job order of the record written last, to see whether the file stays in order.
    let mut last = done_before.checked_sub(1);
    run_as_completed(
        &SweepAny,
        |p| {
            let (params, grid) = cfg.point(p)?;
            let bounds = sweep_bounds(&params)?;
            Ok(SweepPoint {
                params,
                grid,
                bounds,
            })
        },
        jobs,
        cfg.seed,
        window.unwrap_or_else(super::default_chunk),
        &|| observer.finished_one(),
        // Serialise on the workers; the writer only appends bytes.
        |rec| {
            let output = rec.output.checked();
            let mut line = Vec::with_capacity(1536);
            serde_json::to_writer(
                &mut line,
                &Line {
                    sweep: &cfg.name,
                    experiment: cfg.experiment.name(),
                    config_hash: cfg.hash(),
                    point: rec.point,
                    replicate: rec.replicate,
                    seed: cfg.seed,
                    grid: &rec.params.grid,
                    params: &rec.params.params,
                    bounds: &rec.params.bounds,
                    output: &output,
                },
            )
            .map_err(|e| Error::invalid("record", rec.point, e.to_string()))?;
            line.push(b'\n');
            Ok((job_of(rec.point, rec.replicate), line, output.status()))
        },
        |_, (j, line, status)| {
            // One write per line: a kill leaves at most one torn line, cut on resume.
            file.write_all(&line).map_err(|e| io_err(&path, e))?;
            in_order &= last.map_or(j == 0, |l| j == l + 1);
            last = Some(j);
            written += 1;
            not_applicable += u64::from(status == RecordStatus::NotApplicable);
            failed += u64::from(status == RecordStatus::Failed);
            Ok(())
        },
    )?;
    file.flush().map_err(|e| io_err(&path, e))?;
    drop(file);
    if done_before + written == total && !in_order {
        put_in_job_order(&path, total, |k| job_of(k.point, k.replicate))?;
    }
    Ok(RunReport {
        total,
        done_before,
        written,
        torn_bytes,
        not_applicable,
        failed,
    })
}

/// Checks that a record found in `dir` belongs to `cfg`'s shard.
fn check_ours(cfg: &SweepConfig, dir: &Path, path: &Path, shard: Shard, k: &Key) -> Result<()> {
    if k.config_hash != cfg.hash() {
        return Err(Error::invalid(
            "--out",
            dir.display(),
            format!(
                "{} has records of config hash {} (sweep `{}`), not {}",
                path.display(),
                k.config_hash,
                k.sweep,
                cfg.hash()
            ),
        ));
    }
    if !shard.owns(k.point) || k.point >= cfg.points() || k.replicate >= cfg.replicates {
        return Err(Error::invalid(
            "--out",
            dir.display(),
            format!(
                "record (point {}, replicate {}) is not part of shard {}/{}",
                k.point, k.replicate, shard.index, shard.count
            ),
        ));
    }
    Ok(())
}

/// The temporary file of [`put_in_job_order`].
fn ordering_tmp(path: &Path) -> PathBuf {
    path.with_extension("jsonl.tmp")
}

/// Rewrites a complete record file of `total` records in job order (`job_of` of each line),
/// streaming: a line is held only until the lines before it in job order have been written.
/// [`run`] appends job k after every job ≤ k − window, so at most `window` lines per run that
/// wrote to the file are held. Writes a temporary file and renames it over `path`; removes it
/// on any failure.
fn put_in_job_order(path: &Path, total: u64, job_of: impl Fn(&Key) -> u64) -> Result<()> {
    let tmp = ordering_tmp(path);
    let result = (|| {
        let out = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, out);
        let mut held: std::collections::BTreeMap<u64, Vec<u8>> = Default::default();
        let mut next = 0u64;
        scan(path, |k, line| {
            held.insert(job_of(&k), line.to_vec());
            while let Some(l) = held.remove(&next) {
                w.write_all(&l).map_err(|e| io_err(&tmp, e))?;
                next += 1;
            }
            Ok(())
        })?;
        if next != total || !held.is_empty() {
            return Err(Error::invalid(
                "records",
                path.display(),
                format!("expected jobs 0..{total} once each; found a gap at job {next}"),
            ));
        }
        let out = w.into_inner().map_err(|e| io_err(&tmp, e.into_error()))?;
        out.sync_all().map_err(|e| io_err(&tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| io_err(path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// What [`merge`] did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MergeReport {
    /// The sweep's name.
    pub sweep: String,
    /// The config hash shared by every input.
    pub config_hash: String,
    /// Records written.
    pub records: u64,
    /// Records of the whole grid, when a manifest says (points × replicates).
    pub expected: Option<u64>,
    /// Identical records seen twice (kept once).
    pub duplicates: u64,
    /// Torn last lines skipped (a shard still running or killed).
    pub torn: u64,
}

impl MergeReport {
    /// Whether the merged file misses records: fewer than the grid holds, or an input ended in
    /// a torn line (a shard still running or killed).
    pub fn is_partial(&self) -> bool {
        self.torn > 0 || self.expected.is_some_and(|e| self.records < e)
    }
}

/// The manifest describing an input of [`merge`]: a sweep directory's, or that of the
/// directory holding a `records.jsonl` given as a file.
fn manifest_of(input: &Path) -> Option<Manifest> {
    if input.is_dir() {
        read_manifest(input).ok()
    } else if input.file_name().is_some_and(|n| n == RECORDS) {
        read_manifest(input.parent()?).ok()
    } else {
        None
    }
}

/// Joins the records of `inputs` (sweep directories or record files) into `out`, sorted by
/// (point, replicate), each line's bytes unchanged. Shards that are still running or were
/// killed may have their records in any order; the merged file is sorted all the same.
///
/// Unless `allow_partial`, refuses to write a file that misses records
/// ([`MergeReport::is_partial`]): shards not all given, not finished, or ending in a torn
/// line. The grid's size comes from the inputs' manifests (`sweep.json`); record files
/// without one are checked for torn lines only.
///
/// # Errors
/// [`Error::InvalidParameter`] for inputs of different configs (hash), for two different
/// records with the same (point, replicate), for no records at all, for an incomplete merge
/// without `allow_partial`, for an `out` that is a directory; I/O errors. Nothing is left at
/// `out` (nor its temporary file) on error.
pub fn merge(inputs: &[PathBuf], out: &Path, allow_partial: bool) -> Result<MergeReport> {
    if out.is_dir() {
        return Err(Error::invalid(
            "--out",
            out.display(),
            "is a directory; give the merged record file's path (e.g. DIR/records.jsonl)",
        ));
    }
    let mut lines: Vec<(u64, u32, Vec<u8>)> = Vec::new();
    let mut first: Option<(String, String, PathBuf)> = None;
    let mut expected = None;
    let mut torn = 0;
    for input in inputs {
        let file = if input.is_dir() {
            input.join(RECORDS)
        } else {
            input.clone()
        };
        if !file.is_file() {
            return Err(Error::invalid(
                "merge input",
                input.display(),
                format!("no {RECORDS} there"),
            ));
        }
        if let Some(m) = manifest_of(input) {
            expected = Some(m.points * u64::from(m.replicates));
        }
        let good = scan(&file, |k, line| {
            match &first {
                None => first = Some((k.config_hash.clone(), k.sweep.clone(), input.clone())),
                Some((h, s, from)) if *h != k.config_hash => {
                    return Err(Error::invalid(
                        "merge inputs",
                        input.display(),
                        format!(
                            "mixed configs: {} holds sweep `{s}` (config hash {h}) but {} holds sweep `{}` (config hash {}); merge shards of one config only",
                            from.display(), input.display(), k.sweep, k.config_hash
                        ),
                    ))
                }
                _ => {}
            }
            lines.push((k.point, k.replicate, line.to_vec()));
            Ok(())
        })?;
        let len = fs::metadata(&file).map_err(|e| io_err(&file, e))?.len();
        if len > good {
            torn += 1;
        }
    }
    let Some((config_hash, sweep, _)) = first else {
        return Err(Error::invalid(
            "merge inputs",
            inputs.len(),
            "no records found",
        ));
    };
    lines.sort_by_key(|a| (a.0, a.1));
    let mut duplicates = 0;
    let mut kept: Vec<(u64, u32, Vec<u8>)> = Vec::with_capacity(lines.len());
    for l in lines {
        if let Some(prev) = kept.last() {
            if (prev.0, prev.1) == (l.0, l.1) {
                if prev.2 != l.2 {
                    return Err(Error::invalid(
                        "merge inputs",
                        format!("point {} replicate {}", l.0, l.1),
                        "two different records for the same run (different code versions?)",
                    ));
                }
                duplicates += 1;
                continue;
            }
        }
        kept.push(l);
    }
    let report = MergeReport {
        sweep,
        config_hash,
        records: kept.len() as u64,
        expected,
        duplicates,
        torn,
    };
    if report.is_partial() && !allow_partial {
        let mut why = Vec::new();
        if let Some(e) = expected.filter(|&e| report.records < e) {
            why.push(format!(
                "{} of {e} records ({} missing: shards not all given or not finished)",
                report.records,
                e - report.records
            ));
        }
        if torn > 0 {
            why.push(format!(
                "{torn} input(s) end in a torn line (still running, or killed)"
            ));
        }
        return Err(Error::invalid(
            "merge inputs",
            inputs.len(),
            format!(
                "incomplete: {}; finish the shards (`sweep status` shows them), or pass --allow-partial",
                why.join("; ")
            ),
        ));
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
    }
    let tmp = out.with_extension("jsonl.tmp");
    let written = (|| {
        let f = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        let mut w = std::io::BufWriter::new(f);
        for (_, _, l) in &kept {
            w.write_all(l).map_err(|e| io_err(&tmp, e))?;
        }
        w.flush().map_err(|e| io_err(&tmp, e))?;
        fs::rename(&tmp, out).map_err(|e| io_err(out, e))
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map(|()| report)
}

/// Progress of one sweep directory.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// The manifest.
    pub manifest: Manifest,
    /// Complete records on disk.
    pub done: u64,
    /// The pid of the `sweep run` writing there now, if one is alive (it holds [`LOCK`]).
    pub running_pid: Option<u32>,
    /// Records per second of the last run (from its start to the last write), if measurable.
    pub rate: Option<f64>,
    /// Seconds to completion at that rate: only while a run is alive (0 when complete).
    pub eta_s: Option<f64>,
}

/// Reads the progress of a sweep directory.
///
/// # Errors
/// A missing or unreadable manifest or record file.
pub fn status(dir: &Path) -> Result<Status> {
    let manifest = read_manifest(dir)?;
    let path = dir.join(RECORDS);
    let mut done = 0u64;
    scan(&path, |_, _| {
        done += 1;
        Ok(())
    })?;
    let running_pid = DirLock::holder(dir);
    let mtime = fs::metadata(&path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64());
    let new = done.saturating_sub(manifest.done_at_start);
    let rate = mtime
        .map(|t| t - manifest.started_unix)
        .filter(|&dt| dt > 0.0 && new > 0)
        .map(|dt| new as f64 / dt);
    let remaining = manifest.shard_records.saturating_sub(done);
    let eta_s = if remaining == 0 {
        Some(0.0)
    } else if running_pid.is_some() {
        rate.map(|r| remaining as f64 / r)
    } else {
        // Nobody is working on it: no time to completion to speak of.
        None
    };
    Ok(Status {
        manifest,
        done,
        running_pid,
        rate,
        eta_s,
    })
}

/// Quotes a string for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Options of a Slurm submission.
#[derive(Clone, Debug)]
pub struct SlurmOptions {
    /// The `lbounds` executable the jobs run (absolute path).
    pub exe: String,
    /// The config file the jobs read (absolute path).
    pub config: String,
    /// The output directory (absolute path): shards go to `shard-K/`, merged records to
    /// `records.jsonl`, scripts and logs to `slurm/`.
    pub out: String,
    /// Number of array tasks (shards).
    pub shards: u64,
    /// `--partition`, if any.
    pub partition: Option<String>,
    /// `--time` (Slurm's format, e.g. `01:00:00`).
    pub time: String,
    /// CPUs per task (worker threads of each shard).
    pub cpus: u32,
    /// The job name.
    pub name: String,
}

/// Whether `s` is a Slurm time limit: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M` or `D-H:M:S`
/// (decimal fields of at most 9 digits), or `UNLIMITED` / `INFINITE` (sbatch(1), `--time`).
pub fn is_slurm_time(s: &str) -> bool {
    let field = |f: &str| !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit());
    if s.eq_ignore_ascii_case("unlimited") || s.eq_ignore_ascii_case("infinite") {
        return true;
    }
    match s.split_once('-') {
        Some((days, rest)) => {
            let parts: Vec<&str> = rest.split(':').collect();
            field(days) && (1..=3).contains(&parts.len()) && parts.iter().all(|p| field(p))
        }
        None => {
            let parts: Vec<&str> = s.split(':').collect();
            (1..=3).contains(&parts.len()) && parts.iter().all(|p| field(p))
        }
    }
}

/// Whether `s` is a Slurm partition list: names of letters, digits, `_`, `-` and `.`,
/// separated by commas (sbatch(1), `--partition`).
pub fn is_slurm_partition(s: &str) -> bool {
    s.split(',').all(|p| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    })
}

impl SlurmOptions {
    /// Checks every value that reaches a generated script: no control characters anywhere (a
    /// newline would end an `#SBATCH` line or a command and start another); `--time` and
    /// `--partition` in Slurm's formats; an output path that an `#SBATCH --output=` line can
    /// hold as is (sbatch splits those lines at white space and reads `"`, `\` and `%`
    /// specially). Paths in shell commands are quoted ([`shell_quote`]).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the option and the reason.
    pub fn validate(&self) -> Result<()> {
        let fields = [
            ("--out", self.out.as_str()),
            ("--bin", self.exe.as_str()),
            ("config", self.config.as_str()),
            ("--time", self.time.as_str()),
            ("--partition", self.partition.as_deref().unwrap_or("")),
            ("job name", self.name.as_str()),
        ];
        for (what, v) in fields {
            if v.chars().any(char::is_control) {
                return Err(Error::invalid(
                    what,
                    v.escape_debug(),
                    "contains a control character (a newline would inject a line into the job scripts)",
                ));
            }
        }
        if !is_slurm_time(&self.time) {
            return Err(Error::invalid(
                "--time",
                self.time.escape_debug(),
                "not a Slurm time limit: use M, M:S, H:M:S, D-H, D-H:M, D-H:M:S or UNLIMITED (e.g. 02:00:00)",
            ));
        }
        if let Some(p) = &self.partition {
            if !is_slurm_partition(p) {
                return Err(Error::invalid(
                    "--partition",
                    p.escape_debug(),
                    "not a Slurm partition name (letters, digits, `_`, `-`, `.`; several separated by commas)",
                ));
            }
        }
        if let Some(c) = self
            .out
            .chars()
            .find(|c| c.is_whitespace() || "\"'\\%".contains(*c))
        {
            return Err(Error::invalid(
                "--out",
                self.out.escape_debug(),
                format!("contains {c:?}, which an #SBATCH --output line cannot hold; choose a directory without white space, quotes, `\\` or `%`"),
            ));
        }
        if !is_slurm_partition(&self.name) {
            return Err(Error::invalid(
                "job name",
                &self.name,
                "letters, digits, `_`, `-` and `.` only",
            ));
        }
        Ok(())
    }
}

/// The array script and the merge script of a Slurm submission.
///
/// # Errors
/// Those of [`SlurmOptions::validate`]: nothing is generated from a value that could break
/// out of its line.
pub fn slurm_scripts(o: &SlurmOptions) -> Result<(String, String)> {
    o.validate()?;
    let q = |s: &str| shell_quote(s);
    let out = o.out.trim_end_matches('/');
    let head = |job: &str, log: &str| {
        let mut s = String::from("#!/bin/bash\n");
        s.push_str(&format!("#SBATCH --job-name={job}\n"));
        s.push_str(&format!("#SBATCH --output={out}/slurm/{log}\n"));
        s.push_str(&format!("#SBATCH --time={}\n", o.time));
        if let Some(p) = &o.partition {
            s.push_str(&format!("#SBATCH --partition={p}\n"));
        }
        s
    };
    let mut array = head(&o.name, "shard-%a.log");
    array.push_str(&format!(
        "#SBATCH --array=0-{}\n#SBATCH --cpus-per-task={}\n#SBATCH --ntasks=1\n",
        o.shards.saturating_sub(1),
        o.cpus
    ));
    array.push_str(&format!(
        "# One task per shard; a task that is re-run resumes where it stopped.\nset -euo pipefail\nexec {} sweep run {} --out {}/shard-\"$SLURM_ARRAY_TASK_ID\" --shard \"$SLURM_ARRAY_TASK_ID\"/{} --threads \"${{SLURM_CPUS_PER_TASK:-{}}}\"\n",
        q(&o.exe),
        q(&o.config),
        q(out),
        o.shards,
        o.cpus
    ));
    let mut merge = head(&format!("{}-merge", o.name), "merge.log");
    merge.push_str("#SBATCH --cpus-per-task=1\n#SBATCH --ntasks=1\n");
    let dirs: Vec<String> = (0..o.shards)
        .map(|k| q(&format!("{out}/shard-{k}")))
        .collect();
    merge.push_str(&format!(
        "# Runs after every array task succeeded (afterok dependency).\nset -euo pipefail\nexec {} sweep merge {} --out {}\n",
        q(&o.exe),
        dirs.join(" "),
        q(&format!("{out}/records.jsonl"))
    ));
    Ok((array, merge))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_points() {
        let s = Shard::parse("1/3").unwrap();
        assert!(s.owns(4) && !s.owns(5));
        // Points 1, 4, 7 of 0..9 (hand count).
        assert_eq!(s.points_of(9), 3);
        assert_eq!(Shard::parse("2/3").unwrap().points_of(2), 0);
        assert_eq!(Shard::ALL.points_of(7), 7);
        for bad in ["3/3", "1", "a/2", "0/0"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn heterogeneity_floor_known_answer() {
        // n = 10, f = 2: f/(n − 2f) = 2/6; times G² = 3 gives 1.
        assert!((heterogeneity_floor(10, 2, 3.0).unwrap() - 1.0).abs() < 1e-15);
        assert_eq!(heterogeneity_floor(10, 0, 3.0).unwrap(), 0.0);
        assert!(heterogeneity_floor(10, 5, 1.0).is_err());
        assert!(heterogeneity_floor(10, 2, -1.0).is_err());
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("/a/b.toml"), "/a/b.toml");
        assert_eq!(shell_quote("a b'c"), r"'a b'\''c'");
    }

    fn tiny() -> SweepConfig {
        SweepConfig::parse(
            "name = \"tiny\"\nexperiment = \"robust\"\nseed = 5\nreplicates = 3\n[grid]\nrule = [\"median\", \"krum\"]\nattack = \"sign_flipping\"\nn = 8\nd = 2\nbyzantine_fraction = [0.0, 0.375]\n",
            "tiny.toml",
        )
        .unwrap()
    }

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lbounds-sweep-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn resume_after_torn_line_and_shards_merge_to_the_same_bytes() {
        let cfg = tiny();
        let base = tmpdir("unit");
        let whole = base.join("whole");
        let r = run(&cfg, &whole, Shard::ALL, Some(5), &()).unwrap();
        assert_eq!((r.total, r.written, r.done_before), (12, 12, 0));
        // krum needs n > 2f + 2: with n = 8, f = 3 it is not applicable (3 records).
        assert_eq!(r.not_applicable, 3);
        let once = fs::read(whole.join(RECORDS)).unwrap();

        // Cut the file in the middle of line 5 and run again: same bytes.
        let cut = base.join("cut");
        fs::create_dir_all(&cut).unwrap();
        let starts: Vec<usize> = once
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .map(|(i, _)| i + 1)
            .collect();
        fs::write(cut.join(RECORDS), &once[..starts[3] + 10]).unwrap();
        let r = run(&cfg, &cut, Shard::ALL, Some(5), &()).unwrap();
        assert_eq!((r.done_before, r.written, r.torn_bytes), (4, 8, 10));
        assert_eq!(fs::read(cut.join(RECORDS)).unwrap(), once);
        // Nothing left to do.
        assert_eq!(run(&cfg, &cut, Shard::ALL, None, &()).unwrap().written, 0);

        // Three shards merge to the one-process bytes.
        let shards: Vec<PathBuf> = (0..3).map(|k| base.join(format!("s{k}"))).collect();
        for (k, d) in shards.iter().enumerate() {
            run(
                &cfg,
                d,
                Shard {
                    index: k as u64,
                    count: 3,
                },
                Some(2),
                &(),
            )
            .unwrap();
        }
        let merged = base.join("merged.jsonl");
        let m = merge(&shards, &merged, false).unwrap();
        assert_eq!((m.records, m.expected, m.duplicates), (12, Some(12), 0));
        assert_eq!(fs::read(&merged).unwrap(), once);

        // A directory of another shard or config is refused; so is merging mixed configs.
        assert!(run(&cfg, &shards[0], Shard::ALL, None, &()).is_err());
        let other = SweepConfig::parse(&cfg_text_with_seed(6), "o.toml").unwrap();
        let od = base.join("other");
        run(&other, &od, Shard::ALL, None, &()).unwrap();
        let e = merge(&[whole.clone(), od], &base.join("bad.jsonl"), true).unwrap_err();
        assert!(e.to_string().contains("mixed configs"), "{e}");
        let st = status(&whole).unwrap();
        assert_eq!((st.done, st.eta_s), (12, Some(0.0)));
        let _ = fs::remove_dir_all(&base);
    }

    fn cfg_text_with_seed(seed: u64) -> String {
        format!("name = \"tiny\"\nexperiment = \"robust\"\nseed = {seed}\nreplicates = 1\n[grid]\nrule = \"median\"\nattack = \"sign_flipping\"\nn = 7\nd = 2\n")
    }

    /// A resumed run finds its records in any order (a killed multi-thread run writes them as
    /// jobs finish) and ends with the file in job order, byte for byte.
    /// Mutation: skip `put_in_job_order` at the end of [`run`] (or mark every file in order)
    /// and the bytes differ.
    #[test]
    fn records_out_of_order_are_put_back_in_order_when_complete() {
        let cfg = tiny();
        let base = tmpdir("order");
        let whole = base.join("whole");
        run(&cfg, &whole, Shard::ALL, Some(1), &()).unwrap();
        let once = fs::read(whole.join(RECORDS)).unwrap();
        let lines: Vec<&[u8]> = once.split_inclusive(|&b| b == b'\n').collect();
        assert_eq!(lines.len(), 12);
        // What a killed run may leave: jobs 7, 2, 0, 5 in the order they finished.
        let dir = base.join("shuffled");
        fs::create_dir_all(&dir).unwrap();
        let partial: Vec<u8> = [7, 2, 0, 5]
            .iter()
            .flat_map(|&i| lines[i].to_vec())
            .collect();
        fs::write(dir.join(RECORDS), partial).unwrap();

        struct Seen(std::sync::Mutex<Vec<u64>>);
        impl Observer for Seen {
            fn resumed(&self, done: u64, total: u64) {
                self.0.lock().unwrap().extend([done, total]);
            }
        }
        let seen = Seen(Default::default());
        let r = run(&cfg, &dir, Shard::ALL, Some(3), &seen).unwrap();
        assert_eq!((r.done_before, r.written), (4, 8));
        // The progress bar starts from the 4 records on disk.
        assert_eq!(*seen.0.lock().unwrap(), vec![4, 12]);
        assert_eq!(fs::read(dir.join(RECORDS)).unwrap(), once);
        assert!(!ordering_tmp(&dir.join(RECORDS)).exists());
        let _ = fs::remove_dir_all(&base);
    }

    /// Two runs on one directory: the second is refused while the first holds the lock, and
    /// `status` gives an ETA only while a run is alive.
    /// Mutation: drop the `try_lock` in [`DirLock::acquire`] and the second run proceeds.
    #[test]
    fn a_locked_directory_refuses_a_second_run() {
        let cfg = tiny();
        let base = tmpdir("lock");
        let dir = base.join("d");
        run(&cfg, &dir, Shard::ALL, None, &()).unwrap();
        // Pretend the run stopped half-way: keep 5 of 12 records.
        let text = fs::read(dir.join(RECORDS)).unwrap();
        let cut: usize = text
            .split_inclusive(|&b| b == b'\n')
            .take(5)
            .map(<[u8]>::len)
            .sum();
        fs::write(dir.join(RECORDS), &text[..cut]).unwrap();
        let st = status(&dir).unwrap();
        assert_eq!((st.done, st.running_pid, st.eta_s), (5, None, None));
        {
            let _held = DirLock::acquire(&dir).unwrap();
            assert_eq!(DirLock::holder(&dir), Some(std::process::id()));
            let e = run(&cfg, &dir, Shard::ALL, None, &())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("another `sweep run`") && e.contains(&std::process::id().to_string()),
                "{e}"
            );
            assert_eq!(status(&dir).unwrap().running_pid, Some(std::process::id()));
        }
        assert_eq!(DirLock::holder(&dir), None);
        let r = run(&cfg, &dir, Shard::ALL, None, &()).unwrap();
        assert_eq!((r.done_before, r.written), (5, 7));
        assert_eq!(fs::read(dir.join(RECORDS)).unwrap(), text);
        let _ = fs::remove_dir_all(&base);
    }

    /// Merging shards that miss records fails unless partial output is allowed.
    /// Mutation: make `is_partial` return false and the first merge succeeds.
    #[test]
    fn merge_of_missing_shards_needs_allow_partial() {
        let cfg = tiny();
        let base = tmpdir("partial");
        let shards: Vec<PathBuf> = (0..2).map(|k| base.join(format!("s{k}"))).collect();
        for (k, d) in shards.iter().enumerate() {
            let shard = Shard {
                index: k as u64,
                count: 2,
            };
            run(&cfg, d, shard, None, &()).unwrap();
        }
        let out = base.join("m.jsonl");
        let e = merge(&shards[..1], &out, false).unwrap_err().to_string();
        assert!(
            e.contains("incomplete") && e.contains("6 of 12") && e.contains("--allow-partial"),
            "{e}"
        );
        assert!(!out.exists() && !out.with_extension("jsonl.tmp").exists());
        let m = merge(&shards[..1], &out, true).unwrap();
        assert!(m.is_partial() && m.records == 6);
        // A torn last line (a shard still writing) is partial too.
        let mut torn = fs::read(shards[1].join(RECORDS)).unwrap();
        torn.extend_from_slice(b"{\"sweep\"");
        fs::write(shards[1].join(RECORDS), torn).unwrap();
        let e = merge(&shards, &out, false).unwrap_err().to_string();
        assert!(e.contains("torn"), "{e}");
        assert_eq!(merge(&shards, &out, true).unwrap().records, 12);
        // An --out that is a directory, and a run --out that is a file, are refused.
        assert!(merge(&shards, &base, true).is_err());
        assert!(run(&cfg, &out, Shard::ALL, None, &())
            .unwrap_err()
            .is_user_error());
        let _ = fs::remove_dir_all(&base);
    }

    #[test]
    fn non_finite_metrics_are_recorded_as_failed() {
        let nan = SweepOutput::DpRobust(DpRobustMetrics {
            dp_average: 1.0,
            dp_trmean: f64::NAN,
            trmean_nonprivate: 0.5,
            trmean_noise_sigma: f64::INFINITY,
            f: 0,
        });
        let c = nan.checked();
        assert_eq!(c.status(), RecordStatus::Failed);
        let json = serde_json::to_string(&c).unwrap();
        assert!(
            json.starts_with(r#"{"status":"failed","reason":"non-finite metric(s): dp_trmean = NaN, trmean_noise_sigma = inf"#),
            "{json}"
        );
        let fine = SweepOutput::DpRobust(DpRobustMetrics {
            dp_average: 1.0,
            dp_trmean: 2.0,
            trmean_nonprivate: 0.5,
            trmean_noise_sigma: 3.0,
            f: 0,
        });
        assert_eq!(fine.checked(), fine);
        assert_eq!(fine.status(), RecordStatus::Ok);
    }

    #[test]
    fn slurm_values_cannot_inject_lines() {
        for good in [
            "30",
            "30:00",
            "01:00:00",
            "2-00",
            "2-12:30",
            "1-00:00:00",
            "UNLIMITED",
        ] {
            assert!(is_slurm_time(good), "{good}");
        }
        for bad in [
            "",
            "1:2:3:4",
            "01:00:00\ntouch x",
            "1h",
            "-1",
            "2-",
            "1:-1",
            "1 :00",
        ] {
            assert!(!is_slurm_time(bad), "{bad:?}");
        }
        assert!(is_slurm_partition("gpu,debug_2.x"));
        for bad in ["", "a b", "a;b", "a,", "a\nb"] {
            assert!(!is_slurm_partition(bad), "{bad:?}");
        }
        let base = SlurmOptions {
            exe: "/bin/lbounds".into(),
            config: "/x/c.toml".into(),
            out: "/x/out".into(),
            shards: 2,
            partition: None,
            time: "00:10:00".into(),
            cpus: 1,
            name: "lbounds-t".into(),
        };
        let with = |f: &dyn Fn(&mut SlurmOptions)| {
            let mut o = base.clone();
            f(&mut o);
            slurm_scripts(&o)
        };
        // The regression: a newline in --out ended the #SBATCH line and ran a command.
        let e = with(&|o| o.out = "/x/out\ntouch /tmp/pwned".into()).unwrap_err();
        assert!(e.to_string().contains("control character"), "{e}");
        assert!(with(&|o| o.time = "1:00\n#SBATCH --uid=0".into()).is_err());
        assert!(with(&|o| o.partition = Some("a\nrm -rf ~".into())).is_err());
        assert!(with(&|o| o.partition = Some("$(id)".into())).is_err());
        assert!(with(&|o| o.out = "/x/my out".into()).is_err());
        assert!(with(&|o| o.exe = "/bin/lb\rx".into()).is_err());
        // Shell metacharacters in the executable's path are quoted, not run.
        let (a, _) = with(&|o| o.exe = "/opt/l b;$(id)/lbounds".into()).unwrap();
        assert!(a.contains("exec '/opt/l b;$(id)/lbounds' sweep run"), "{a}");
    }

    #[test]
    fn slurm_scripts_name_the_shards() {
        let (a, m) = slurm_scripts(&SlurmOptions {
            exe: "/bin/lbounds".into(),
            config: "/x/c.toml".into(),
            out: "/x/out".into(),
            shards: 4,
            partition: Some("debug".into()),
            time: "00:10:00".into(),
            cpus: 2,
            name: "lbounds-t".into(),
        })
        .unwrap();
        assert!(a.contains("#SBATCH --array=0-3"));
        assert!(a.contains("--shard \"$SLURM_ARRAY_TASK_ID\"/4"));
        assert!(a.contains("#SBATCH --partition=debug"));
        assert!(m.contains("/x/out/shard-3 --out /x/out/records.jsonl"));
    }
}
