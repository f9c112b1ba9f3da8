//! Training one shadow (or target) model, and the content-addressed cache of trained models.
//!
//! **Training.** A [`Model`] (softmax regression or a one-hidden-layer MLP, built by
//! [`ModelSpec`] on the config's [`Backend`]) trained by gradient descent directly on [`Model::loss_grad`] — not through
//! `learning::train`, whose per-round machinery (aggregation pipeline, evaluation, records)
//! costs more than a softmax model's whole step at these sizes; the update rule is the same
//! plain (DP-)SGD step:
//! - non-private: `epochs` passes; each pass shuffles the model's training records (stream
//!   `mia/shadow/batches`, replicate = model index) and takes steps on consecutive batches of
//!   `batch` records (0 = the whole set, i.e. full-batch gradient descent):
//!   θ ← θ − lr·(∇ mean loss + l2·θ).
//! - DP ([`DpShadow`]): DP-SGD with sampling rate q = 1 (every step uses every training
//!   record: noisy full-batch gradient descent, Abadi et al., "Deep Learning with Differential
//!   Privacy", CCS 2016, arXiv 1607.00133): T = `epochs` steps of
//!   θ ← θ − lr·((Σᵢ clip_C(∇ℓᵢ) + N(0, σ²C²I)) / n̄ + l2·θ), with n̄ = half the audited records
//!   (the expected training-set size, public, so the divisor reveals nothing) and σ the
//!   smallest noise multiplier with RDP ε(q = 1, σ, T, δ) ≤ ε
//!   ([`crate::privacy::accounting::calibrate::noise_multiplier`]). Noise from the stream
//!   `mia/shadow/noise`.
//!
//! Initial parameters: [`Model::init`] from the stream `mia/shadow/init` (replicate = model
//! index). So model i's parameters depend only on (seed, i, its keep row, the data, the
//! configuration) — never on how many models are trained or on which thread.
//!
//! **Cache.** A trained model's parameters are stored in `<dir>/<hash>.json`, where the hash
//! is FNV-1a-64 of the canonical JSON of [`CacheKey`]: [`CODE_VERSION`], a content hash of
//! the records ([`data_hash`]: every feature, label and the number of audited records), the
//! run seed, the model index, the keep row (as hex) and the training configuration. Keying by
//! content rather than by how the records were made lets any record set share the cache: a
//! population, a population with some records removed (the onion effect's peels), a real
//! data set. The file also holds the full key, compared on load, so a hash collision
//! cannot return another model's parameters. Files are written to a temporary name and
//! renamed, so an interrupted run never leaves a half-written entry.

use crate::learning::examples::Examples;
use crate::learning::model::{Backend, Model, ModelSpec};
use crate::privacy::accounting::{calibrate::noise_multiplier, AccountantKind};
use crate::rng::{fnv1a64, permutation, rng_named};
use crate::{Error, Result};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Changes whenever training changes what it computes, so stale cache entries are ignored.
pub const CODE_VERSION: &str = "lbounds-mia-shadow-v1";

/// DP-SGD settings of a shadow model.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpShadow {
    /// Target ε (> 0).
    pub epsilon: f64,
    /// Target δ ∈ (0, 1).
    pub delta: f64,
    /// Clipping norm C > 0.
    pub clip: f64,
}

/// How every shadow model is trained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowConfig {
    /// The model (softmax or mlp).
    pub model: ModelSpec,
    /// Passes over the training records (DP: steps).
    pub epochs: usize,
    /// Records per step (0: all of them).
    pub batch: usize,
    /// Learning rate.
    pub lr: f64,
    /// L2 penalty coefficient (weight decay) on every parameter.
    pub l2: f64,
    /// DP-SGD instead of plain training.
    pub dp: Option<DpShadow>,
    /// Where the model computes (left out of records and cache keys when native).
    #[serde(default, skip_serializing_if = "Backend::is_native")]
    pub backend: Backend,
}

impl ShadowConfig {
    /// Softmax regression: 60 full-batch steps at lr 0.5, l2 = 10⁻⁴ (weak L2, as the
    /// reference's "multinomial logistic regression with weak L2").
    pub fn softmax() -> ShadowConfig {
        ShadowConfig {
            model: ModelSpec::Softmax,
            epochs: 60,
            batch: 0,
            lr: 0.5,
            l2: 1e-4,
            dp: None,
            backend: Backend::Native,
        }
    }

    /// A one-hidden-layer ReLU MLP of width 64 trained without regularisation by minibatch
    /// SGD (batch 64, lr 0.2, 60 epochs): it fits its training records (≈ 100 % training
    /// accuracy on the default population, a model that memorises).
    pub fn mlp() -> ShadowConfig {
        ShadowConfig {
            model: ModelSpec::Mlp {
                hidden: vec![64],
                activation: crate::learning::model::Activation::Relu,
            },
            epochs: 60,
            batch: 64,
            lr: 0.2,
            l2: 0.0,
            dp: None,
            backend: Backend::Native,
        }
    }

    /// Checks the numbers.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 || self.epochs > 1_000_000 {
            return Err(Error::invalid(
                "epochs",
                self.epochs,
                "must be in 1..=1000000",
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::invalid("lr", self.lr, "must be positive and finite"));
        }
        if !(self.l2.is_finite() && self.l2 >= 0.0) {
            return Err(Error::invalid("l2", self.l2, "must be ≥ 0 and finite"));
        }
        if let Some(dp) = &self.dp {
            crate::privacy::check_epsilon(dp.epsilon)?;
            crate::privacy::check_delta(dp.delta)?;
            if !(dp.clip.is_finite() && dp.clip > 0.0) {
                return Err(Error::invalid(
                    "clip",
                    dp.clip,
                    "must be positive and finite",
                ));
            }
            if self.batch != 0 {
                return Err(Error::invalid(
                    "batch",
                    self.batch,
                    "DP shadow models train on the full batch (sampling rate 1); use 0",
                ));
            }
        }
        Ok(())
    }

    /// The noise multiplier σ of DP training (`None` without DP).
    ///
    /// # Errors
    /// What the calibration rejects.
    pub fn noise_multiplier(&self) -> Result<Option<f64>> {
        self.dp
            .map(|dp| {
                noise_multiplier(
                    AccountantKind::Rdp,
                    1.0,
                    self.epochs as u64,
                    dp.epsilon,
                    dp.delta,
                )
            })
            .transpose()
    }
}

/// FNV-1a-64 (as 16 hex digits) of the records' task, number of classes, `audited`, and every
/// feature and label (their IEEE bits, little-endian, record by record).
pub fn data_hash(examples: &Examples, audited: usize) -> String {
    let mut bytes = Vec::with_capacity(16 + 8 * examples.x().len() + 8 * examples.len());
    let classes = match examples.task() {
        crate::learning::examples::Task::Classification { classes } => classes as u64,
        crate::learning::examples::Task::Regression => 0,
    };
    bytes.extend_from_slice(&classes.to_le_bytes());
    bytes.extend_from_slice(&(audited as u64).to_le_bytes());
    for (col, y) in examples.x().column_iter().zip(examples.y()) {
        for v in col.iter() {
            bytes.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        bytes.extend_from_slice(&y.to_bits().to_le_bytes());
    }
    format!("{:016x}", fnv1a64(&bytes))
}

/// What identifies a trained model (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CacheKey {
    /// [`CODE_VERSION`].
    pub code_version: String,
    /// The records' content hash ([`data_hash`]).
    pub data: String,
    /// The run's seed (keys the model's streams).
    pub seed: u64,
    /// The model's index (the replicate of its streams).
    pub model_index: u32,
    /// The keep row as hex, 4 records per digit, record 0 in the lowest bit of the first.
    pub keep_row: String,
    /// The training configuration.
    pub config: ShadowConfig,
}

impl CacheKey {
    /// Hex of a boolean row.
    pub fn hex_row(row: &[bool]) -> String {
        row.chunks(4)
            .map(|c| {
                let v = c
                    .iter()
                    .enumerate()
                    .fold(0u32, |v, (b, &k)| v | (u32::from(k) << b));
                char::from_digit(v, 16).unwrap_or('0')
            })
            .collect()
    }

    /// The canonical JSON and its file name `<fnv1a64 as 16 hex digits>.json`.
    ///
    /// # Errors
    /// A serialisation failure (not expected).
    pub fn file_name(&self) -> Result<(String, String)> {
        let json = serde_json::to_string(self)
            .map_err(|e| Error::Unsupported(format!("cache key: {e}")))?;
        let name = format!("{:016x}.json", fnv1a64(json.as_bytes()));
        Ok((json, name))
    }
}

#[derive(Serialize, Deserialize)]
struct CacheEntry {
    key: serde_json::Value,
    params: Vec<f64>,
}

/// A content-addressed folder of trained parameters.
#[derive(Clone, Debug)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The cache in `dir` (created on the first store).
    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache { dir: dir.into() }
    }

    /// The parameters stored under `key`, if any (a missing, unreadable or mismatched entry
    /// is a miss: the model is retrained and the entry rewritten).
    pub fn load(&self, key: &CacheKey) -> Option<Vec<f64>> {
        let (json, name) = key.file_name().ok()?;
        let text = std::fs::read_to_string(self.dir.join(name)).ok()?;
        let entry: CacheEntry = serde_json::from_str(&text).ok()?;
        let want: serde_json::Value = serde_json::from_str(&json).ok()?;
        (entry.key == want && entry.params.iter().all(|v| v.is_finite())).then_some(entry.params)
    }

    /// Stores `params` under `key` (temporary file, then rename).
    ///
    /// # Errors
    /// [`Error::Io`]-style failures creating the folder or writing the file.
    pub fn store(&self, key: &CacheKey, params: &[f64]) -> Result<()> {
        let (json, name) = key.file_name()?;
        let io = |e: std::io::Error| {
            Error::Unsupported(format!("model cache {}: {e}", self.dir.display()))
        };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let entry = CacheEntry {
            key: serde_json::from_str(&json)
                .map_err(|e| Error::Unsupported(format!("cache key: {e}")))?,
            params: params.to_vec(),
        };
        let text = serde_json::to_string(&entry)
            .map_err(|e| Error::Unsupported(format!("cache entry: {e}")))?;
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Trains model `index` of a run seeded with `seed` on `train` (its kept records), with
/// `n_bar` the public expected training-set size (the DP divisor) and `sigma` the noise
/// multiplier ([`ShadowConfig::noise_multiplier`]).
///
/// # Errors
/// A configuration [`ShadowConfig::validate`] rejects, a DP config without σ, an empty
/// training set, and the model's errors. A run whose parameters become non-finite stops with
/// an error naming the model (lower the learning rate).
pub fn train(
    model: &dyn Model,
    train: &Examples,
    cfg: &ShadowConfig,
    seed: u64,
    index: u32,
    n_bar: f64,
    sigma: Option<f64>,
) -> Result<Vec<f64>> {
    cfg.validate()?;
    if train.is_empty() {
        return Err(Error::invalid(
            "training records",
            0,
            "a shadow model needs at least one",
        ));
    }
    let mut theta = model.init(&mut rng_named(seed, index, "mia/shadow/init"));
    let mut grad = vec![0.0; theta.len()];
    let step = |theta: &mut [f64], grad: &[f64], scale: f64| {
        for (t, g) in theta.iter_mut().zip(grad) {
            *t -= cfg.lr * (g * scale + cfg.l2 * *t);
        }
    };
    match cfg.dp {
        Some(dp) => {
            let sigma = sigma
                .ok_or_else(|| Error::invalid("noise multiplier", "none", "DP training needs σ"))?;
            let mut noise_rng = rng_named(seed, index, "mia/shadow/noise");
            let normal = Normal::new(0.0, sigma * dp.clip).map_err(|_| {
                Error::invalid(
                    "clip",
                    dp.clip,
                    format!(
                        "the noise's standard deviation, noise multiplier {sigma} times the clip norm, is not a finite number"
                    ),
                )
            })?;
            for _ in 0..cfg.epochs {
                model.clipped_grad_sum(&theta, train.batch(), dp.clip, &mut grad)?;
                for g in grad.iter_mut() {
                    *g += normal.sample(&mut noise_rng);
                }
                step(&mut theta, &grad, 1.0 / n_bar);
                check_finite(&theta, index, cfg.lr, Some(sigma * dp.clip))?;
            }
        }
        None if cfg.batch == 0 || cfg.batch >= train.len() => {
            for _ in 0..cfg.epochs {
                model.loss_grad(&theta, train.batch(), &mut grad)?;
                step(&mut theta, &grad, 1.0);
                check_finite(&theta, index, cfg.lr, None)?;
            }
        }
        None => {
            let mut order_rng = rng_named(seed, index, "mia/shadow/batches");
            for _ in 0..cfg.epochs {
                let shuffled = train.select(&permutation(&mut order_rng, train.len()));
                let (x, y) = (shuffled.x(), shuffled.y());
                let mut start = 0;
                while start < y.len() {
                    let end = (start + cfg.batch).min(y.len());
                    let batch = crate::learning::examples::Batch {
                        x: x.columns_range(start..end),
                        y: &y[start..end],
                    };
                    model.loss_grad(&theta, batch, &mut grad)?;
                    step(&mut theta, &grad, 1.0);
                    start = end;
                }
                check_finite(&theta, index, cfg.lr, None)?;
            }
        }
    }
    Ok(theta)
}

/// An error naming the learning rate `lr` (and, under DP, the noise's standard deviation
/// σC, the other way a step can overflow) unless every parameter of model `index` is finite.
fn check_finite(theta: &[f64], index: u32, lr: f64, noise_std: Option<f64>) -> Result<()> {
    if theta.iter().all(|v| v.is_finite()) {
        return Ok(());
    }
    let cause = match noise_std {
        Some(s) => format!(
            " under DP noise of standard deviation {s:.3e} (noise multiplier × clip norm); \
             lower the learning rate or the clip norm"
        ),
        None => "; lower the learning rate".into(),
    };
    Err(Error::invalid(
        "learning rate",
        lr,
        format!("model {index}: training diverged (parameters became non-finite){cause}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divergence_names_the_dp_noise_when_there_is_some() {
        let bad = [1.0, f64::INFINITY];
        assert!(check_finite(&[1.0, 2.0], 0, 0.2, Some(1e301)).is_ok());
        let plain = check_finite(&bad, 3, 0.2, None).unwrap_err().to_string();
        assert!(plain.contains("model 3: training diverged"), "{plain}");
        assert!(plain.ends_with("; lower the learning rate"), "{plain}");
        // With DP, a clip norm of 1e300 overflows the step at any learning rate.
        let dp = check_finite(&bad, 3, 0.2, Some(3.7e301))
            .unwrap_err()
            .to_string();
        assert!(dp.contains("standard deviation 3.700e301"), "{dp}");
        assert!(
            dp.ends_with("lower the learning rate or the clip norm"),
            "{dp}"
        );
    }

    #[test]
    fn hex_row_packs_four_records_per_digit() {
        // records 0..4 = 1,0,1,1 → 0b1101 = d; then 1 → 1.
        assert_eq!(CacheKey::hex_row(&[true, false, true, true, true]), "d1");
    }

    /// A stored entry loads back bit for bit; another key misses even when its file name is
    /// forced to collide (the full key is compared).
    #[test]
    fn cache_round_trip_and_key_check() {
        let dir = std::env::temp_dir().join(format!("lbounds-mia-cache-{}", std::process::id()));
        let cache = Cache::new(&dir);
        let key = CacheKey {
            code_version: CODE_VERSION.into(),
            data: "0123456789abcdef".into(),
            seed: 2,
            model_index: 3,
            keep_row: "d1".into(),
            config: ShadowConfig::softmax(),
        };
        assert_eq!(cache.load(&key), None);
        // serde_json's default float parser can be off by one ulp on reading (its
        // `float_roundtrip` feature, enabled in Cargo.toml, makes it exact); these values
        // were off by one ulp without it.
        let params = vec![
            0.1,
            -2.5e-300,
            1.0 / 3.0,
            -0.19733180765024103,
            0.11061546752363217,
            -0.0017750590682693817,
        ];
        cache.store(&key, &params).unwrap();
        assert_eq!(cache.load(&key), Some(params));
        // Rename the entry to another key's file name: the key check refuses it.
        let other = CacheKey {
            model_index: 4,
            ..key.clone()
        };
        let (_, a) = key.file_name().unwrap();
        let (_, b) = other.file_name().unwrap();
        std::fs::rename(dir.join(a), dir.join(b)).unwrap();
        assert_eq!(cache.load(&other), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
