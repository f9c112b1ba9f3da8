//! Membership-inference audits: M shadow models trained in parallel through the experiment
//! runner, then every attack of [`crate::privacy::audit::mia`] against a few of them in turn.
//!
//! One audit ([`run_audit`]):
//! 1. draws the population ([`LongTail`]) from the stream `mia/population` of the data seed;
//! 2. draws the keep matrix ([`KeepMatrix::lira`], block-wise LiRA, nested in M) from the run
//!    seed;
//! 3. trains the M models as jobs of [`run_streaming`] ([`train_models`],
//!    [`ShadowTraining`]: job = model index, every stream keyed by (seed, model index, a
//!    name)), each first looked up in the content-addressed [`Cache`] when one is given;
//! 4. keeps only each model's statistics (φ and ln p_y on every record, [`ModelStats`]);
//! 5. lets models 0..T (T = `targets`) each play the target, the other M − 1 being its
//!    shadows, and pools the scores ([`evaluate`]).
//!
//! With DP ([`ShadowConfig::dp`]) every model, targets included, is trained by DP-SGD at the
//! same ε: the audit measures what an attacker with DP shadows learns about a DP target.
//!
//! [`MiaExperiment`] wraps a whole audit as one job for sweeps (`experiment = "mia"`).

use super::{default_chunk, run_streaming, Experiment, Job};
use crate::learning::examples::Examples;
use crate::learning::model::Model;
use crate::privacy::audit::mia::keep::KeepMatrix;
use crate::privacy::audit::mia::population::LongTail;
use crate::privacy::audit::mia::shadow::{self, Cache, CacheKey, ShadowConfig, CODE_VERSION};
use crate::privacy::audit::mia::{evaluate, Attack, AttackResult, ModelStats, Observations};
use crate::rng::{rng_named, SimRng};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};

/// One audit's configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MiaConfig {
    /// The population.
    pub data: LongTail,
    /// Seed of the population draw.
    pub data_seed: u64,
    /// Seed of the keep matrix and of every model's streams.
    pub seed: u64,
    /// Number of models M (even).
    pub models: usize,
    /// How many models play the target in turn (1..=M).
    pub targets: usize,
    /// How the models are trained.
    pub shadow: ShadowConfig,
}

impl MiaConfig {
    /// Checks the configuration.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        self.data.validate()?;
        self.shadow.validate()?;
        if self.models < 4 || !self.models.is_multiple_of(2) || self.models > shadow_max() {
            return Err(Error::invalid(
                "models",
                self.models,
                format!(
                    "must be even, from 4 to {} (each record is IN in half, and every target \
                     needs IN and OUT shadows)",
                    shadow_max()
                ),
            ));
        }
        if self.targets == 0 || self.targets > self.models {
            return Err(Error::invalid(
                "targets",
                self.targets,
                format!("must be in 1..={}", self.models),
            ));
        }
        if self.data.population == 0 {
            return Err(Error::invalid(
                "population",
                0,
                "RMIA needs population records no model trains on",
            ));
        }
        Ok(())
    }
}

fn shadow_max() -> usize {
    crate::privacy::audit::mia::keep::MAX_MODELS
}

/// What one audit reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MiaReport {
    /// Models trained or loaded (M).
    pub models: usize,
    /// Models that played the target.
    pub targets: usize,
    /// Models trained in this run.
    pub trained: usize,
    /// Models loaded from the cache.
    pub cached: usize,
    /// Audited records (each in half of the models).
    pub records: usize,
    /// Audited records flagged as canaries (tail or mislabelled).
    pub canaries: usize,
    /// Mean training accuracy of the models.
    pub train_accuracy: f64,
    /// Mean accuracy on the audited records each model did not train on.
    pub held_out_accuracy: f64,
    /// DP-SGD's ε, when the models are DP.
    pub epsilon: Option<f64>,
    /// DP-SGD's δ, when the models are DP.
    pub delta: Option<f64>,
    /// The noise multiplier σ the accountant chose, when the models are DP.
    pub noise_multiplier: Option<f64>,
    /// Every attack's metrics, in [`Attack::ALL`] order.
    pub attacks: Vec<AttackResult>,
}

/// Training model `index` of a pool of models on the rows of a keep matrix: the runner's job
/// (see the [module docs](self) and [`train_models`]).
pub struct ShadowTraining<'a> {
    examples: &'a Examples,
    keep: &'a KeepMatrix,
    shadow: &'a ShadowConfig,
    data_hash: String,
    model: Box<dyn Model>,
    sigma: Option<f64>,
    cache: Option<&'a Cache>,
    trained: AtomicUsize,
}

/// One trained model: its parameters, its statistics on every record, and whether it came
/// from the cache.
#[derive(Clone, Debug, Serialize)]
pub struct ShadowOutput {
    /// The trained parameters (layout of [`crate::learning::model::Model`]).
    pub params: Vec<f64>,
    /// φ, ln p_y, correctness and accuracies on every record.
    pub stats: ModelStats,
    /// Loaded from the cache rather than trained.
    pub cached: bool,
}

impl<'a> ShadowTraining<'a> {
    /// The job set: model m trains on the records of `examples` that row m of `keep` keeps
    /// (the keep matrix covers the first `keep.records()` records, the audited ones) and is
    /// evaluated on every record.
    ///
    /// # Errors
    /// A keep matrix longer than the records; a model that does not fit the data; a DP
    /// calibration failure.
    pub fn new(
        examples: &'a Examples,
        keep: &'a KeepMatrix,
        shadow: &'a ShadowConfig,
        cache: Option<&'a Cache>,
    ) -> Result<Self> {
        if keep.records() > examples.len() {
            return Err(Error::invalid(
                "keep matrix",
                keep.records(),
                format!("covers more records than the {} given", examples.len()),
            ));
        }
        Ok(ShadowTraining {
            examples,
            keep,
            shadow,
            data_hash: if cache.is_some() {
                shadow::data_hash(examples, keep.records())
            } else {
                String::new()
            },
            model: shadow
                .backend
                .build(&shadow.model, examples.features(), examples.task())?,
            sigma: shadow.noise_multiplier()?,
            cache,
            trained: AtomicUsize::new(0),
        })
    }

    fn key(&self, seed: u64, index: u32) -> CacheKey {
        CacheKey {
            code_version: CODE_VERSION.into(),
            data: self.data_hash.clone(),
            seed,
            model_index: index,
            keep_row: CacheKey::hex_row(self.keep.row(index as usize)),
            config: self.shadow.clone(),
        }
    }

    /// Models trained (not loaded) so far.
    pub fn trained(&self) -> usize {
        self.trained.load(Ordering::Relaxed)
    }

    /// The noise multiplier of DP training, if any.
    pub fn noise_multiplier(&self) -> Option<f64> {
        self.sigma
    }

    /// The model being trained.
    pub fn model(&self) -> &dyn Model {
        self.model.as_ref()
    }
}

impl Experiment for ShadowTraining<'_> {
    type Point = u32;
    type Output = ShadowOutput;

    /// Model `index` seeded by the stream's first word (used only by callers that hand a
    /// point-keyed stream; the runner calls [`Experiment::run_job`]).
    fn run_once(&self, index: &u32, rng: &mut SimRng) -> Result<ShadowOutput> {
        use rand::Rng;
        self.run_job(
            index,
            Job {
                seed: rng.next_u64(),
                point: u64::from(*index),
                replicate: 0,
            },
        )
    }

    fn run_job(&self, index: &u32, job: Job) -> Result<ShadowOutput> {
        let i = *index as usize;
        let key = self.cache.map(|_| self.key(job.seed, *index));
        let loaded = match (self.cache, &key) {
            (Some(c), Some(k)) => c.load(k).filter(|p| p.len() == self.model.n_params()),
            _ => None,
        };
        let (params, cached) = match loaded {
            Some(p) => (p, true),
            None => {
                let train = self.examples.select(&self.keep.kept_indices(i));
                let n_bar = self.keep.records() as f64 / 2.0;
                let p = shadow::train(
                    self.model.as_ref(),
                    &train,
                    self.shadow,
                    job.seed,
                    *index,
                    n_bar,
                    self.sigma,
                )?;
                if let (Some(c), Some(k)) = (self.cache, &key) {
                    c.store(k, &p)?;
                }
                self.trained.fetch_add(1, Ordering::Relaxed);
                (p, false)
            }
        };
        let ex = self.examples;
        let z = self.model.predict(&params, ex.x().as_view())?;
        let stats = ModelStats::from_logits(&z, ex.y(), self.keep.row(i))?;
        Ok(ShadowOutput {
            params,
            stats,
            cached,
        })
    }
}

/// Trains the `keep.models()` models of a keep matrix on `examples` (model m on the first
/// `keep.records()` records that row m keeps) in parallel through the runner, each first
/// looked up in `cache`; returns them in model order. Model m's streams are keyed by
/// (`seed`, m, a name), so its parameters do not depend on the thread count or on how many
/// models are trained. `on_model` is called once per model (progress bars).
///
/// # Errors
/// What [`ShadowTraining::new`] rejects; training errors; cache write failures.
pub fn train_models(
    examples: &Examples,
    keep: &KeepMatrix,
    shadow: &ShadowConfig,
    seed: u64,
    cache: Option<&Cache>,
    on_model: &(dyn Fn() + Sync),
) -> Result<Vec<ShadowOutput>> {
    shadow.validate()?;
    let exp = ShadowTraining::new(examples, keep, shadow, cache)?;
    let mut out = Vec::with_capacity(keep.models());
    run_streaming(
        &exp,
        |p| Ok(p as u32),
        (0..keep.models() as u64).map(|i| (i, 0)),
        seed,
        default_chunk(),
        on_model,
        |r| Ok(r.output),
        |o: ShadowOutput| {
            out.push(o);
            Ok(())
        },
    )?;
    Ok(out)
}

/// Runs one audit (see the [module docs](self)); `on_model` is called once per model
/// trained or loaded (progress bars).
///
/// # Errors
/// What [`MiaConfig::validate`] rejects; training and attack errors; cache write failures.
pub fn run_audit(
    cfg: &MiaConfig,
    cache: Option<&Cache>,
    on_model: &(dyn Fn() + Sync),
) -> Result<MiaReport> {
    cfg.validate()?;
    let data = cfg
        .data
        .generate(&mut rng_named(cfg.data_seed, 0, "mia/population"))?;
    let keep = KeepMatrix::lira(cfg.seed, cfg.models, data.audited)?;
    let noise_multiplier = cfg.shadow.noise_multiplier()?;
    let models = train_models(
        &data.examples,
        &keep,
        &cfg.shadow,
        cfg.seed,
        cache,
        on_model,
    )?;
    let cached = models.iter().filter(|m| m.cached).count();
    let stats: Vec<ModelStats> = models.into_iter().map(|m| m.stats).collect();
    let mean =
        |f: &dyn Fn(&ModelStats) -> f64| stats.iter().map(f).sum::<f64>() / stats.len() as f64;
    let (train_accuracy, held_out_accuracy) =
        (mean(&|s| s.train_accuracy), mean(&|s| s.held_out_accuracy));
    let obs = Observations::from_stats(&keep, &stats)?;
    drop(stats);
    let canary = &data.examples.canaries()[..data.audited];
    let targets: Vec<usize> = (0..cfg.targets).collect();
    let attacks = evaluate(&obs, &targets, canary, &Attack::ALL)?;
    Ok(MiaReport {
        models: cfg.models,
        targets: cfg.targets,
        trained: cfg.models - cached,
        cached,
        records: data.audited,
        canaries: canary.iter().filter(|&&c| c).count(),
        train_accuracy,
        held_out_accuracy,
        epsilon: cfg.shadow.dp.map(|d| d.epsilon),
        delta: cfg.shadow.dp.map(|d| d.delta),
        noise_multiplier,
        attacks,
    })
}

/// One grid point of an `experiment = "mia"` sweep: an audit without its seeds (the sweep's
/// seed and the replicate supply them, see [`MiaExperiment`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MiaPoint {
    /// The population.
    pub data: LongTail,
    /// Number of models M.
    pub models: usize,
    /// Models playing the target in turn.
    pub targets: usize,
    /// How the models are trained.
    pub shadow: ShadowConfig,
}

impl Default for MiaPoint {
    /// 64 MLPs on 2 500 audited records (500 population records), 4 targets.
    fn default() -> Self {
        MiaPoint {
            data: LongTail {
                records: 2500,
                population: 500,
                ..LongTail::default()
            },
            models: 64,
            targets: 4,
            shadow: ShadowConfig::mlp(),
        }
    }
}

impl MiaPoint {
    /// The audit of replicate `replicate` of a sweep seeded with `seed`: replicate 0 uses the
    /// sweep's seed for both the population and the models; replicate r > 0 draws both seeds
    /// from the stream `mia/replicate` (seed, r). Every grid point of a replicate therefore
    /// audits the same population with the same keep matrix (common random numbers: DP and
    /// non-DP curves differ only by training).
    pub fn config(&self, seed: u64, replicate: u32) -> MiaConfig {
        let (data_seed, seed) = if replicate == 0 {
            (seed, seed)
        } else {
            use rand::Rng;
            let mut r = rng_named(seed, replicate, "mia/replicate");
            (r.next_u64(), r.next_u64())
        };
        MiaConfig {
            data: self.data,
            data_seed,
            seed,
            models: self.models,
            targets: self.targets,
            shadow: self.shadow.clone(),
        }
    }

    /// Checks the point.
    ///
    /// # Errors
    /// What [`MiaConfig::validate`] rejects.
    pub fn check(&self) -> Result<()> {
        self.config(0, 0).validate()
    }
}

/// The theoretical line of a `mia` point: under (ε, δ)-DP every membership test has
/// TPR ≤ e^ε·FPR + δ and, mirrored, TPR ≤ 1 − e^{−ε}(1 − δ − FPR) (Kairouz, Oh &
/// Viswanath, "The Composition Theorem for Differential Privacy", ICML 2015, Thm 2.1).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MiaBounds {
    /// The models' DP ε.
    pub epsilon: Option<f64>,
    /// The models' DP δ.
    pub delta: Option<f64>,
}

impl MiaBounds {
    /// The point's DP parameters.
    pub fn of(p: &MiaPoint) -> MiaBounds {
        MiaBounds {
            epsilon: p.shadow.dp.map(|d| d.epsilon),
            delta: p.shadow.dp.map(|d| d.delta),
        }
    }

    /// The largest TPR at `fpr` any test may reach: min(1, e^ε·FPR + δ, 1 − e^{−ε}(1 − δ −
    /// FPR)) — the line and its mirror (the mirror applies the bound to the complementary
    /// test); `None` without DP.
    pub fn max_tpr(&self, fpr: f64) -> Option<f64> {
        let (e, d) = (self.epsilon?, self.delta.unwrap_or(0.0));
        let line = e.exp() * fpr + d;
        let mirror = 1.0 - (-e).exp() * (1.0 - d - fpr);
        Some(line.min(mirror).min(1.0))
    }
}

/// A whole audit as one sweep job ([`MiaPoint::config`] gives its seeds).
pub struct MiaExperiment;

impl Experiment for MiaExperiment {
    type Point = MiaPoint;
    type Output = MiaReport;

    /// The audit seeded by the stream's first word.
    fn run_once(&self, p: &MiaPoint, rng: &mut SimRng) -> Result<MiaReport> {
        use rand::Rng;
        run_audit(&p.config(rng.next_u64(), 0), None, &|| {})
    }

    fn run_job(&self, p: &MiaPoint, job: Job) -> Result<MiaReport> {
        run_audit(&p.config(job.seed, job.replicate), None, &|| {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(models: usize) -> MiaConfig {
        MiaConfig {
            data: LongTail {
                records: 1200,
                population: 300,
                features: 16,
                tail_components: 10,
                ..LongTail::default()
            },
            data_seed: 1,
            seed: 2,
            models,
            targets: 2,
            shadow: ShadowConfig {
                epochs: 20,
                ..ShadowConfig::softmax()
            },
        }
    }

    /// A model that memorises (an MLP without regularisation, ≈ 100 % training accuracy)
    /// leaks its canaries: on the canary records, LiRA online's TPR at 1 % FPR is at least
    /// 5 % (5× chance; ≈ 800 non-member canaries, so 1 % FPR is 8 false positives) and beats
    /// the loss attack's, and its canary AUC exceeds 0.65. Mutation checked: flipping the
    /// online score's sign (ln N_out − ln N_in) makes it fail (AUC < ½).
    #[test]
    fn lira_online_beats_loss_on_a_memorising_model() {
        let cfg = MiaConfig {
            data: LongTail {
                records: 1500,
                population: 300,
                ..LongTail::default()
            },
            data_seed: 5,
            seed: 6,
            models: 32,
            targets: 4,
            shadow: ShadowConfig::mlp(),
        };
        let r = run_audit(&cfg, None, &|| {}).unwrap();
        assert!(r.train_accuracy > 0.99, "{}", r.train_accuracy);
        let get = |name: &str| {
            r.attacks
                .iter()
                .find(|a| a.attack == name)
                .and_then(|a| a.canaries)
                .unwrap()
        };
        let (lira, loss) = (get("lira_online"), get("loss"));
        assert!(lira.tpr_at_1pct_fpr >= 0.05, "{lira:?}");
        assert!(
            lira.tpr_at_1pct_fpr > loss.tpr_at_1pct_fpr,
            "{lira:?} vs {loss:?}"
        );
        assert!(lira.auc > 0.65, "{lira:?}");
    }

    /// A cached rerun trains nothing and reports identical metrics; growing M from 16 to 32
    /// trains only the 16 new models (the keep matrix is nested in M).
    #[test]
    fn cached_rerun_is_identical_and_trains_nothing() {
        let dir = std::env::temp_dir().join(format!("lbounds-mia-exp-{}", std::process::id()));
        let cache = Cache::new(&dir);
        let first = run_audit(&small(16), Some(&cache), &|| {}).unwrap();
        assert_eq!((first.trained, first.cached), (16, 0));
        let again = run_audit(&small(16), Some(&cache), &|| {}).unwrap();
        assert_eq!((again.trained, again.cached), (0, 16));
        assert_eq!(again.attacks, first.attacks);
        let uncached = run_audit(&small(16), None, &|| {}).unwrap();
        assert_eq!(uncached.attacks, first.attacks);
        let more = run_audit(&small(32), Some(&cache), &|| {}).unwrap();
        assert_eq!((more.trained, more.cached), (16, 16));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `train_models` keys its cache by content: the same records hit, a record set with one
    /// record removed (an onion-effect peel) misses and trains anew; cached models return the
    /// same parameters and statistics, and `correct` agrees with the accuracies. A key that
    /// ignored the records (e.g. keyed by the population's parameters alone) would return the
    /// full set's models for the peeled set and fail here.
    #[test]
    fn train_models_caches_by_content() {
        let cfg = small(4);
        let data = cfg
            .data
            .generate(&mut rng_named(cfg.data_seed, 0, "mia/population"))
            .unwrap();
        let dir = std::env::temp_dir().join(format!("lbounds-mia-pool-{}", std::process::id()));
        let cache = Cache::new(&dir);
        let keep = KeepMatrix::lira(3, 4, data.audited).unwrap();
        let first =
            train_models(&data.examples, &keep, &cfg.shadow, 3, Some(&cache), &|| {}).unwrap();
        assert!(first.iter().all(|m| !m.cached));
        let again =
            train_models(&data.examples, &keep, &cfg.shadow, 3, Some(&cache), &|| {}).unwrap();
        assert!(again.iter().all(|m| m.cached));
        for (a, b) in first.iter().zip(&again) {
            assert_eq!(a.params, b.params);
            assert_eq!(a.stats, b.stats);
        }
        let m = &first[0];
        let kept = keep.row(0);
        let right = (0..data.audited)
            .filter(|&j| kept[j] && m.stats.correct[j])
            .count();
        let n = kept.iter().filter(|&&k| k).count();
        assert_eq!(m.stats.train_accuracy, right as f64 / n as f64);
        // Peel record 0: same keep rows on the remaining records, new content, new models.
        let rest: Vec<usize> = (1..data.examples.len()).collect();
        let peeled = data.examples.select(&rest);
        let keep = KeepMatrix::lira(3, 4, data.audited - 1).unwrap();
        let after = train_models(&peeled, &keep, &cfg.shadow, 3, Some(&cache), &|| {}).unwrap();
        assert!(after.iter().all(|m| !m.cached));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
