//! The privacy onion effect (experiment E3): Carlini, Jagielski, Zhang, Papernot, Terzis &
//! Tramèr, "The Privacy Onion Effect: Memorization is Relative", NeurIPS 2022,
//! arXiv 2206.10469. Removing the layer of records most exposed to membership inference and
//! retraining exposes a new layer of previously safe records; removing as many random records
//! does not.
//!
//! One run ([`run_onion`]) on the long-tailed population ([`LongTail`]):
//! 1. **layer 0**: M models on a fresh balanced keep matrix over all N records
//!    ([`super::mia::train_models`]); every record scored by its per-example TPR at a global
//!    FPR ([`per_example`]), every model playing the target in turn; "vulnerable" means
//!    s_j ≥ `level`.
//! 2. **peels**: remove the top `peel_fraction`·N records of the current layer's ranking,
//!    train M new models on the rest with a fresh keep matrix, re-score; `peels` times. For
//!    each peel: how many of the survivors are vulnerable now, how many were before, and how
//!    many are **newly exposed** (vulnerable now, safe one layer earlier).
//! 3. **random control** (`random_seeds` chains): each chain scores all N records with its
//!    own independent models (step 0), then removes the same number of uniformly random
//!    records at every step instead of the top layer, retrains, re-scores. Smaller data alone
//!    should not change the *share* of records that are vulnerable (the paper's "dataset size"
//!    control): per chain, the change of that share from its own step 0 is a paired
//!    difference whose 95 % interval over chains holds both the retraining noise and the
//!    noise of the baseline, and "flat" means it covers 0.
//! 4. **noise control**: each chain's step 0 is layer 0 scored again with independent models
//!    and keep matrix; per chain, the overlap of the two vulnerable sets and of the two top
//!    layers, and how many of peel 1's survivors turn vulnerable from re-scoring alone — the
//!    floor the peels' "newly exposed" must clear.
//! 5. **masking** (the paper's mechanism, "inliers becoming new outliers"): targets are
//!    records of tail components of [`MASK_SIZES`] records that are safe in layer 0 (in each
//!    chosen component, its least exposed member); removing only their 2–4 neighbours (the
//!    rest of their component), retraining and re-scoring should expose them. Control: as
//!    many random records removed from outside the chosen components instead.
//!
//! Streams: the population from `onion/population` (data seed); each pool of models from a
//! seed drawn from a stream named after its role — `onion/layer` (replicate 0 for layer 0,
//! t for peel t), `onion/random/<r>` (replicate t for step t of chain r) — which keys both
//! its keep matrix and its models' training streams; random removals from
//! `onion/random/<r>/remove` (replicate t); masking from `onion/masking/choose`, its pools
//! `onion/masking` and `onion/masking/control`, its control's removal from
//! `onion/masking/control/remove`. Nothing depends on the thread count or on which
//! pools ran before.
//!
//! [`OnionExperiment`] wraps a whole run as one job for sweeps (`experiment = "onion"`).

use super::mia::train_models;
use super::{Experiment, Job};
use crate::experiment::summary::mean_ci;
use crate::learning::examples::Examples;
use crate::learning::model::ModelSpec;
use crate::privacy::audit::clopper_pearson;
use crate::privacy::audit::mia::keep::{KeepMatrix, MAX_MODELS};
use crate::privacy::audit::mia::per_example::{per_example, Vulnerability};
use crate::privacy::audit::mia::population::{LongTail, RecordTag};
use crate::privacy::audit::mia::shadow::{Cache, ShadowConfig};
use crate::privacy::audit::mia::{Attack, ModelStats, Observations};
use crate::rng::{permutation, rng_named, SimRng};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::cell::Cell;

/// One grid point of the onion experiment: everything but the seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnionPoint {
    /// The population (only its audited records are used).
    pub data: LongTail,
    /// Models per pool M (even).
    pub models: usize,
    /// Layers peeled.
    pub peels: usize,
    /// Share of the **original** N removed per peel (and per random step).
    pub peel_fraction: f64,
    /// Random-removal chains of the control.
    pub random_seeds: usize,
    /// Global FPR α of the per-example TPR.
    pub fpr: f64,
    /// A record is vulnerable when its per-example TPR is at least this.
    pub level: f64,
    /// The attack that scores the records.
    pub attack: Attack,
    /// Tail components whose neighbours the masking experiment removes (0: none).
    pub masking_targets: usize,
    /// How every model is trained.
    pub shadow: ShadowConfig,
}

impl Default for OnionPoint {
    /// The full default run: 2 500 records, 64 one-hidden-layer MLPs per pool, 4 peels of 5 %,
    /// 3 random chains, LiRA online at a global FPR of 0.1 %, vulnerable at s ≥ ½.
    fn default() -> Self {
        OnionPoint {
            data: LongTail {
                records: 2500,
                population: 0,
                tail_size_max: 5,
                ..LongTail::default()
            },
            models: 64,
            peels: 4,
            peel_fraction: 0.05,
            random_seeds: 3,
            fpr: 1e-3,
            level: 0.5,
            attack: Attack::LiraOnline,
            masking_targets: 40,
            shadow: ShadowConfig::mlp(),
        }
    }
}

impl OnionPoint {
    /// The `--quick` size the tests run: 600 records in 16 features, 32 MLPs
    /// (width 32, 30 epochs) per pool, 2 peels of 5 %, 3 random chains, a global FPR of 1 %.
    pub fn quick() -> OnionPoint {
        let mut shadow = ShadowConfig::mlp();
        shadow.model = ModelSpec::Mlp {
            hidden: vec![32],
            activation: crate::learning::model::Activation::Relu,
        };
        shadow.epochs = 30;
        OnionPoint {
            data: LongTail {
                records: 600,
                population: 0,
                features: 16,
                tail_components: 5,
                tail_size_max: 5,
                ..LongTail::default()
            },
            models: 32,
            peels: 2,
            peel_fraction: 0.05,
            random_seeds: 3,
            fpr: 1e-2,
            level: 0.5,
            attack: Attack::LiraOnline,
            masking_targets: 20,
            shadow,
        }
    }

    /// Records removed per step: round(peel_fraction·N), at least 1.
    pub fn removed_per_step(&self) -> usize {
        ((self.peel_fraction * self.data.records as f64).round() as usize).max(1)
    }

    /// Pools of M models a run trains: layer 0, the peels, each random chain's steps
    /// 0..=peels, and the masking experiment's two.
    pub fn pools(&self) -> usize {
        1 + self.peels
            + self.random_seeds * (1 + self.peels)
            + if self.masking_targets > 0 { 2 } else { 0 }
    }

    /// Checks the point.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad field.
    pub fn check(&self) -> Result<()> {
        self.data.validate()?;
        self.shadow.validate()?;
        if self.models < 4 || !self.models.is_multiple_of(2) || self.models > MAX_MODELS {
            return Err(Error::invalid(
                "models",
                self.models,
                format!("must be even, from 4 to {MAX_MODELS} (each record is IN in half)"),
            ));
        }
        if !(1..=20).contains(&self.peels) {
            return Err(Error::invalid("peels", self.peels, "must be in 1..=20"));
        }
        if !(self.peel_fraction > 0.0 && self.peel_fraction <= 0.5) {
            return Err(Error::invalid(
                "peel fraction",
                self.peel_fraction,
                "must be in (0, 0.5]",
            ));
        }
        let gone = self.removed_per_step().saturating_mul(self.peels);
        if gone.saturating_mul(2) > self.data.records {
            return Err(Error::invalid(
                "peels",
                self.peels,
                format!(
                    "{} peels of {} records would remove more than half of the {} records",
                    self.peels,
                    self.removed_per_step(),
                    self.data.records
                ),
            ));
        }
        if !(1..=100).contains(&self.random_seeds) {
            return Err(Error::invalid(
                "random seeds",
                self.random_seeds,
                "must be in 1..=100",
            ));
        }
        if !(self.fpr > 0.0 && self.fpr < 1.0) {
            return Err(Error::invalid("fpr", self.fpr, "must be in (0, 1)"));
        }
        if !(self.level > 0.0 && self.level <= 1.0) {
            return Err(Error::invalid("level", self.level, "must be in (0, 1]"));
        }
        if self.masking_targets > self.data.classes * self.data.tail_components {
            return Err(Error::invalid(
                "masking targets",
                self.masking_targets,
                format!(
                    "at most one per tail component ({})",
                    self.data.classes * self.data.tail_components
                ),
            ));
        }
        Ok(())
    }

    /// The run of replicate `replicate` of a sweep seeded with `seed`: replicate 0 uses the
    /// sweep's seed for both the population and the models; replicate r > 0 draws both from
    /// the stream `onion/replicate` (seed, r).
    pub fn config(&self, seed: u64, replicate: u32) -> OnionConfig {
        let (data_seed, seed) = if replicate == 0 {
            (seed, seed)
        } else {
            use rand::Rng;
            let mut r = rng_named(seed, replicate, "onion/replicate");
            (r.next_u64(), r.next_u64())
        };
        OnionConfig {
            point: self.clone(),
            data_seed,
            seed,
        }
    }
}

/// One run: a point and its seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct OnionConfig {
    /// The parameters.
    pub point: OnionPoint,
    /// Seed of the population draw.
    pub data_seed: u64,
    /// Seed of every keep matrix, model and removal.
    pub seed: u64,
}

/// One scored pool of models.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerSummary {
    /// Records the models trained on (each in half of them).
    pub records: usize,
    /// Records with s ≥ level.
    pub vulnerable: usize,
    /// Mean per-example TPR = the pooled attack's TPR at the global FPR.
    pub pooled_tpr: f64,
    /// The global threshold τ of the attack's score.
    pub threshold: f64,
    /// Mean training accuracy of the models.
    pub train_accuracy: f64,
    /// Mean accuracy on the records each model left out.
    pub held_out_accuracy: f64,
}

/// One peel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Peel {
    /// 1, 2, …
    pub step: usize,
    /// Of the records removed, how many were vulnerable.
    pub removed_vulnerable: usize,
    /// The retrained layer.
    pub layer: LayerSummary,
    /// Survivors vulnerable in the layer before (what a static audit predicts).
    pub vulnerable_before: usize,
    /// Survivors vulnerable now and safe in the layer before.
    pub newly_exposed: usize,
    /// Survivors safe now and vulnerable in the layer before.
    pub newly_safe: usize,
}

/// One value per random chain, with its mean and 95 % Student-t half-width over the chains
/// (0 with one chain).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// One value per chain.
    pub values: Vec<f64>,
    /// Their mean.
    pub mean: f64,
    /// Half-width of the 95 % interval of the mean.
    pub half_width: f64,
}

impl Spread {
    fn of(values: Vec<f64>) -> Spread {
        let ci = mean_ci(&values, 0.95);
        Spread {
            mean: ci.map_or(0.0, |c| c.mean),
            half_width: ci.map_or(0.0, |c| c.half_width),
            values,
        }
    }
}

/// One step of the random control, over its chains.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ControlStep {
    /// 0 (layer 0, shared by every chain), 1, 2, …
    pub step: usize,
    /// Records left.
    pub records: usize,
    /// Vulnerable records.
    pub vulnerable: Spread,
    /// Survivors vulnerable now and safe one step earlier (0 at step 0).
    pub newly_exposed: Spread,
    /// Share of the remaining records that is vulnerable, minus the chain's own share at
    /// step 0 (0 at step 0): "flat" when its interval covers 0.
    pub share_change: Spread,
}

/// Layer 0 against one chain's independent step-0 scoring of the same records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoiseControl {
    /// Records vulnerable in the second scoring.
    pub vulnerable: usize,
    /// Records vulnerable in both scorings.
    pub vulnerable_both: usize,
    /// |A ∩ B| / |A ∪ B| of the two vulnerable sets (1 when both are empty).
    pub jaccard: f64,
    /// Share of the first scoring's top layer (the records peel 1 removes) that is also in
    /// the second's top layer.
    pub top_overlap: f64,
    /// Two-sided 95 % Clopper–Pearson interval of `top_overlap` (binomial over the layer).
    pub top_overlap_ci: [f64; 2],
    /// Survivors of peel 1 (outside the first top layer) vulnerable in the second scoring and
    /// safe in the first: "newly exposed" by re-scoring alone.
    pub newly_exposed: usize,
}

/// Each survivor of peel 1: its score in layer 0 and in layer 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Survivors {
    /// s_j in layer 0.
    pub before: Vec<f64>,
    /// s_j in layer 1.
    pub after: Vec<f64>,
}

/// The masking experiment (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Masking {
    /// Targets (one per chosen component).
    pub targets: usize,
    /// Eligible components (of [`MASK_SIZES`] records with a member safe in layer 0).
    pub eligible: usize,
    /// Neighbours removed (and random records removed by the control).
    pub removed: usize,
    /// Targets' s in layer 0.
    pub before: Vec<f64>,
    /// Targets' s once their neighbours are removed and the models retrained.
    pub after: Vec<f64>,
    /// Targets' s once as many random records are removed instead.
    pub control_after: Vec<f64>,
    /// Targets vulnerable after masking.
    pub exposed: usize,
    /// Targets vulnerable after the control's removal.
    pub control_exposed: usize,
    /// Mean of after − before over targets, with its 95 % Student-t half-width.
    pub change: [f64; 2],
    /// The same for the control.
    pub control_change: [f64; 2],
}

/// What one run reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnionReport {
    /// Records N.
    pub records: usize,
    /// Models per pool M.
    pub models: usize,
    /// Records removed per step.
    pub removed_per_step: usize,
    /// Models trained in this run.
    pub trained: usize,
    /// Models loaded from the cache.
    pub cached: usize,
    /// Layer 0.
    pub layer0: LayerSummary,
    /// The peels, in order.
    pub peels: Vec<Peel>,
    /// The random control, step 0 first.
    pub random: Vec<ControlStep>,
    /// The noise control, one per random chain.
    pub noise: Vec<NoiseControl>,
    /// Paired scores of peel 1's survivors.
    pub survivors: Survivors,
    /// The masking experiment (`None` with `masking_targets = 0`).
    pub masking: Option<Masking>,
}

/// A pool scored: which records (original indices), their vulnerability, accuracies.
#[derive(Clone)]
struct Layer {
    records: Vec<usize>,
    vuln: Vulnerability,
    train_accuracy: f64,
    held_out_accuracy: f64,
}

impl Layer {
    fn summary(&self, level: f64) -> LayerSummary {
        LayerSummary {
            records: self.records.len(),
            vulnerable: self.vuln.count(level),
            pooled_tpr: self.vuln.tpr.iter().sum::<f64>() / self.records.len() as f64,
            threshold: self.vuln.threshold,
            train_accuracy: self.train_accuracy,
            held_out_accuracy: self.held_out_accuracy,
        }
    }

    /// s_j by original record index (`None` for a record not in this layer).
    fn by_record(&self, n: usize) -> Vec<Option<f64>> {
        let mut s = vec![None; n];
        for (&j, &v) in self.records.iter().zip(&self.vuln.tpr) {
            s[j] = Some(v);
        }
        s
    }

    /// The original indices of the top `k` records of the ranking.
    fn top(&self, k: usize) -> Vec<usize> {
        self.vuln.ranking()[..k.min(self.records.len())]
            .iter()
            .map(|&p| self.records[p])
            .collect()
    }
}

/// Trains and scores pools of models over subsets of one population.
pub(crate) struct Scorer<'a> {
    point: &'a OnionPoint,
    seed: u64,
    examples: &'a Examples,
    cache: Option<&'a Cache>,
    on_model: &'a (dyn Fn() + Sync),
    trained: Cell<usize>,
    cached: Cell<usize>,
}

impl<'a> Scorer<'a> {
    pub(crate) fn new(
        point: &'a OnionPoint,
        seed: u64,
        examples: &'a Examples,
        cache: Option<&'a Cache>,
        on_model: &'a (dyn Fn() + Sync),
    ) -> Self {
        Scorer {
            point,
            seed,
            examples,
            cache,
            on_model,
            trained: Cell::new(0),
            cached: Cell::new(0),
        }
    }

    /// M models on `records` (original indices) with a keep matrix and training streams
    /// keyed by the pool seed drawn from (seed, `replicate`, `name`); every record scored.
    fn layer(&self, records: Vec<usize>, name: &str, replicate: u32) -> Result<Layer> {
        use rand::Rng;
        let p = self.point;
        let seed = rng_named(self.seed, replicate, name).next_u64();
        let ex = self.examples.select(&records);
        let keep = KeepMatrix::lira(seed, p.models, records.len())?;
        let outs = train_models(&ex, &keep, &p.shadow, seed, self.cache, self.on_model)?;
        let cached = outs.iter().filter(|o| o.cached).count();
        self.cached.set(self.cached.get() + cached);
        self.trained.set(self.trained.get() + outs.len() - cached);
        let stats: Vec<ModelStats> = outs.into_iter().map(|o| o.stats).collect();
        let mean =
            |f: &dyn Fn(&ModelStats) -> f64| stats.iter().map(f).sum::<f64>() / stats.len() as f64;
        let (train_accuracy, held_out_accuracy) =
            (mean(&|s| s.train_accuracy), mean(&|s| s.held_out_accuracy));
        let obs = Observations::from_stats(&keep, &stats)?;
        let vuln = per_example(&obs, p.attack, p.fpr)?;
        Ok(Layer {
            records,
            vuln,
            train_accuracy,
            held_out_accuracy,
        })
    }
}

/// `records` without the original indices in `gone` (order kept).
fn without(records: &[usize], gone: &[usize]) -> Vec<usize> {
    let mut out_set = std::collections::BTreeSet::new();
    out_set.extend(gone.iter().copied());
    records
        .iter()
        .copied()
        .filter(|j| !out_set.contains(j))
        .collect()
}

/// Runs one onion experiment (see the [module docs](self)); `on_model` is called once per
/// model trained or loaded.
///
/// # Errors
/// What [`OnionPoint::check`] rejects; training and scoring errors; cache write failures.
pub fn run_onion(
    cfg: &OnionConfig,
    cache: Option<&Cache>,
    on_model: &(dyn Fn() + Sync),
) -> Result<OnionReport> {
    let p = &cfg.point;
    p.check()?;
    let data = p
        .data
        .generate(&mut rng_named(cfg.data_seed, 0, "onion/population"))?;
    let n = data.audited;
    let all: Vec<usize> = (0..n).collect();
    let examples = data.examples.select(&all);
    let scorer = Scorer::new(p, cfg.seed, &examples, cache, on_model);
    let k = p.removed_per_step();
    let level = p.level;

    let layer0 = scorer.layer(all.clone(), "onion/layer", 0)?;
    let masking = if p.masking_targets > 0 {
        Some(masking(&scorer, &layer0, &data.tags[..n], cfg.seed)?)
    } else {
        None
    };

    let mut peels = Vec::with_capacity(p.peels);
    let mut survivors = None;
    let mut prev = layer0.clone();
    let first = prev.summary(level);
    for t in 1..=p.peels {
        let top = prev.top(k);
        let before = prev.by_record(n);
        let next = scorer.layer(without(&prev.records, &top), "onion/layer", t as u32)?;
        let ch = changes(&next, &before, level);
        if t == 1 {
            survivors = Some(Survivors {
                before: next
                    .records
                    .iter()
                    .map(|&j| before[j].unwrap_or(0.0))
                    .collect(),
                after: next.vuln.tpr.clone(),
            });
        }
        peels.push(Peel {
            step: t,
            removed_vulnerable: top
                .iter()
                .filter(|&&j| before[j].is_some_and(|s| s >= level))
                .count(),
            layer: next.summary(level),
            vulnerable_before: ch.vulnerable_before,
            newly_exposed: ch.newly_exposed,
            newly_safe: ch.newly_safe,
        });
        prev = next;
    }

    // steps[t] = (vulnerable, newly exposed, share change) per chain at step t.
    let mut steps = vec![(Vec::new(), Vec::new(), Vec::new()); p.peels + 1];
    let mut noise = Vec::with_capacity(p.random_seeds);
    for r in 0..p.random_seeds {
        let (name, remove) = (
            format!("onion/random/{r}"),
            format!("onion/random/{r}/remove"),
        );
        let base = scorer.layer(all.clone(), &name, 0)?;
        noise.push(noise_control(&layer0, &base, k, level, n));
        let share0 = base.vuln.count(level) as f64 / n as f64;
        let mut layer = base;
        for (t, step) in steps.iter_mut().enumerate() {
            if t > 0 {
                let order = permutation(
                    &mut rng_named(cfg.seed, t as u32, &remove),
                    layer.records.len(),
                );
                let gone: Vec<usize> = order[..k].iter().map(|&q| layer.records[q]).collect();
                let next = scorer.layer(without(&layer.records, &gone), &name, t as u32)?;
                step.1
                    .push(changes(&next, &layer.by_record(n), level).newly_exposed as f64);
                layer = next;
            } else {
                step.1.push(0.0);
            }
            let v = layer.vuln.count(level);
            step.0.push(v as f64);
            step.2.push(v as f64 / layer.records.len() as f64 - share0);
        }
    }
    let random = steps
        .into_iter()
        .enumerate()
        .map(|(step, (vulnerable, newly, share))| ControlStep {
            step,
            records: n - step * k,
            vulnerable: Spread::of(vulnerable),
            newly_exposed: Spread::of(newly),
            share_change: Spread::of(share),
        })
        .collect();

    Ok(OnionReport {
        records: n,
        models: p.models,
        removed_per_step: k,
        trained: scorer.trained.get(),
        cached: scorer.cached.get(),
        layer0: first,
        peels,
        random,
        noise,
        survivors: survivors.unwrap_or(Survivors {
            before: vec![],
            after: vec![],
        }),
        masking,
    })
}

/// Sizes of the tail components whose members can be masking targets (the reference's
/// "tail components of size 3–5": 2–4 neighbours each).
pub const MASK_SIZES: std::ops::RangeInclusive<usize> = 3..=5;

/// The masking experiment on layer 0 (every record present), `tags` one per record.
fn masking(scorer: &Scorer, layer0: &Layer, tags: &[RecordTag], seed: u64) -> Result<Masking> {
    let p = scorer.point;
    let n = layer0.records.len();
    let s0 = layer0.by_record(n);
    // Members of each tail component, in record order.
    let mut members: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (j, t) in tags.iter().enumerate().filter(|(_, t)| t.tail) {
        members.entry(t.component).or_default().push(j);
    }
    // Per eligible component: (target = least exposed member, its neighbours).
    let rank = layer0.vuln.ranking();
    let mut place = vec![0usize; n];
    for (r, &pos) in rank.iter().enumerate() {
        place[layer0.records[pos]] = r;
    }
    let eligible: Vec<(usize, Vec<usize>)> = members
        .values()
        .filter(|m| MASK_SIZES.contains(&m.len()))
        .filter_map(|m| {
            let target = *m.iter().max_by_key(|&&j| place[j])?;
            (s0[target].unwrap_or(0.0) < p.level)
                .then(|| (target, m.iter().copied().filter(|&j| j != target).collect()))
        })
        .collect();
    let order = permutation(
        &mut rng_named(seed, 0, "onion/masking/choose"),
        eligible.len(),
    );
    let chosen: Vec<&(usize, Vec<usize>)> = order
        .iter()
        .take(p.masking_targets)
        .map(|&i| &eligible[i])
        .collect();
    let targets: Vec<usize> = chosen.iter().map(|c| c.0).collect();
    let neighbours: Vec<usize> = chosen.iter().flat_map(|c| c.1.iter().copied()).collect();
    let masked = scorer.layer(without(&layer0.records, &neighbours), "onion/masking", 0)?;
    // The control removes as many records from outside the chosen components.
    let mut inside = targets.clone();
    inside.extend(&neighbours);
    let outside = without(&layer0.records, &inside);
    let pick = permutation(
        &mut rng_named(seed, 0, "onion/masking/control/remove"),
        outside.len(),
    );
    let gone: Vec<usize> = pick
        .iter()
        .take(neighbours.len())
        .map(|&q| outside[q])
        .collect();
    let control = scorer.layer(without(&layer0.records, &gone), "onion/masking/control", 0)?;
    let at = |l: &Layer| {
        let s = l.by_record(n);
        targets
            .iter()
            .map(|&j| s[j].unwrap_or(0.0))
            .collect::<Vec<f64>>()
    };
    let before: Vec<f64> = targets.iter().map(|&j| s0[j].unwrap_or(0.0)).collect();
    let (after, control_after) = (at(&masked), at(&control));
    let change = |a: &[f64]| {
        let d: Vec<f64> = a.iter().zip(&before).map(|(x, b)| x - b).collect();
        mean_ci(&d, 0.95).map_or([0.0, 0.0], |c| [c.mean, c.half_width])
    };
    let exposed = |a: &[f64]| a.iter().filter(|&&v| v >= p.level).count();
    Ok(Masking {
        targets: targets.len(),
        eligible: eligible.len(),
        removed: neighbours.len(),
        exposed: exposed(&after),
        control_exposed: exposed(&control_after),
        change: change(&after),
        control_change: change(&control_after),
        before,
        after,
        control_after,
    })
}

/// How a layer's survivors moved relative to their scores one step earlier.
struct Changes {
    vulnerable_before: usize,
    newly_exposed: usize,
    newly_safe: usize,
}

/// [`Changes`] of `layer` against `before` (scores by original index).
fn changes(layer: &Layer, before: &[Option<f64>], level: f64) -> Changes {
    let mut c = Changes {
        vulnerable_before: 0,
        newly_exposed: 0,
        newly_safe: 0,
    };
    for (&j, &s) in layer.records.iter().zip(&layer.vuln.tpr) {
        let (was, is) = (before[j].is_some_and(|b| b >= level), s >= level);
        c.vulnerable_before += usize::from(was);
        c.newly_exposed += usize::from(is && !was);
        c.newly_safe += usize::from(was && !is);
    }
    c
}

/// Compares two independent scorings of the same records (see [`NoiseControl`]).
fn noise_control(a: &Layer, b: &Layer, k: usize, level: f64, n: usize) -> NoiseControl {
    let (sa, sb) = (a.by_record(n), b.by_record(n));
    let vul = |s: &Option<f64>| s.is_some_and(|v| v >= level);
    let both = (0..n).filter(|&j| vul(&sa[j]) && vul(&sb[j])).count();
    let either = (0..n).filter(|&j| vul(&sa[j]) || vul(&sb[j])).count();
    let (ta, tb) = (a.top(k), b.top(k));
    let in_b: std::collections::BTreeSet<usize> = tb.iter().copied().collect();
    let shared = ta.iter().filter(|j| in_b.contains(j)).count();
    let in_a: std::collections::BTreeSet<usize> = ta.iter().copied().collect();
    let newly_exposed = (0..n)
        .filter(|j| !in_a.contains(j) && vul(&sb[*j]) && !vul(&sa[*j]))
        .count();
    let m = ta.len().max(1) as u64;
    NoiseControl {
        vulnerable: b.vuln.count(level),
        vulnerable_both: both,
        jaccard: if either == 0 {
            1.0
        } else {
            both as f64 / either as f64
        },
        top_overlap: shared as f64 / m as f64,
        top_overlap_ci: [
            clopper_pearson::lower(shared as u64, m, 0.025),
            clopper_pearson::upper(shared as u64, m, 0.025),
        ],
        newly_exposed,
    }
}

/// No bound is drawn at an onion point: the onion effect is an empirical statement about
/// non-private models. (Under (ε, δ)-DP every per-example TPR would be at most
/// e^ε·FPR + δ, Kairouz, Oh & Viswanath, ICML 2015; these models are not DP, so that
/// hypothesis fails and nothing is claimed.) Recorded as `{}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OnionBounds {}

/// Grid keys of the `onion` experiment, in product order (the last varies fastest).
pub const KEYS: &[&str] = &[
    "quick",
    "model",
    "backend",
    "records",
    "features",
    "tail_components",
    "tail_spread",
    "tail_size_min",
    "tail_size_max",
    "models",
    "peels",
    "peel_fraction",
    "random_seeds",
    "attack",
    "fpr",
    "level",
    "masking_targets",
    "epochs",
    "lr",
];

/// Sets one key of an `onion` point (ranges are checked with the whole point). `quick = true`
/// resets the point to [`OnionPoint::quick`] (it comes first in [`KEYS`], so the other keys
/// then change the quick point).
///
/// # Errors
/// A wrong type, an unknown model or attack, an unknown key.
pub(crate) fn apply(key: &str, v: &toml::Value, q: &mut OnionPoint) -> Result<()> {
    use super::config::{want_float, want_int, want_str};
    match key {
        "quick" => {
            if v.as_bool()
                .ok_or_else(|| Error::invalid(key, v, "expected true or false"))?
            {
                *q = OnionPoint::quick();
            }
        }
        "model" => q.shadow = super::config::shadow_model(key, v)?,
        "backend" => q.shadow.backend = crate::learning::model::Backend::parse(want_str(key, v)?)?,
        "attack" => {
            let s = want_str(key, v)?;
            q.attack = Attack::ALL
                .into_iter()
                .find(|a| a.name() == s)
                .ok_or_else(|| Error::unknown("attack", s, Attack::ALL.iter().map(|a| a.name())))?;
        }
        "records" => q.data.records = want_int(key, v, 1)?,
        "features" => q.data.features = want_int(key, v, 1)?,
        "tail_components" => q.data.tail_components = want_int(key, v, 0)?,
        "tail_spread" => q.data.tail_spread = want_float(key, v)?,
        "tail_size_min" => q.data.tail_size_min = want_int(key, v, 1)?,
        "tail_size_max" => q.data.tail_size_max = want_int(key, v, 1)?,
        "models" => q.models = want_int(key, v, 4)?,
        "peels" => q.peels = want_int(key, v, 1)?,
        "random_seeds" => q.random_seeds = want_int(key, v, 1)?,
        "masking_targets" => q.masking_targets = want_int(key, v, 0)?,
        "epochs" => q.shadow.epochs = want_int(key, v, 1)?,
        "peel_fraction" => q.peel_fraction = want_float(key, v)?,
        "fpr" => q.fpr = want_float(key, v)?,
        "level" => q.level = want_float(key, v)?,
        "lr" => q.shadow.lr = crate::error::check_positive(key, want_float(key, v)?)?,
        _ => return Err(Error::unknown("grid key", key, KEYS.iter().copied())),
    }
    Ok(())
}

/// A whole run as one sweep job ([`OnionPoint::config`] gives its seeds).
pub struct OnionExperiment;

impl Experiment for OnionExperiment {
    type Point = OnionPoint;
    type Output = OnionReport;

    /// The run seeded by the stream's first word.
    fn run_once(&self, p: &OnionPoint, rng: &mut SimRng) -> Result<OnionReport> {
        use rand::Rng;
        run_onion(&p.config(rng.next_u64(), 0), None, &|| {})
    }

    fn run_job(&self, p: &OnionPoint, job: Job) -> Result<OnionReport> {
        run_onion(&p.config(job.seed, job.replicate), None, &|| {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Masking in its purest form: a tail record with an exact duplicate is hidden by it
    /// (when the record is OUT, its copy is IN in half of those models, so its OUT scores look
    /// like IN scores); removing only the duplicates and retraining raises the records'
    /// per-example TPR. Quick population (600 records); the 20 duplicated records are tail
    /// records alone in their component. The mean paired change must be at least 0.2 with the
    /// lower end of its 95 % interval above 0.
    /// Mutation checked: `without` returning its input unchanged (nothing removed) leaves the
    /// change at noise level (|mean| < 0.1) and this test fails.
    #[test]
    fn removing_a_records_duplicate_raises_its_vulnerability() {
        let p = OnionPoint::quick();
        let data = p
            .data
            .generate(&mut rng_named(3, 0, "onion/population"))
            .unwrap();
        let n = data.audited;
        let mut size = std::collections::BTreeMap::<usize, usize>::new();
        for t in data.tags[..n].iter().filter(|t| t.tail) {
            *size.entry(t.component).or_default() += 1;
        }
        let dup: Vec<usize> = (0..n)
            .filter(|&j| data.tags[j].tail && size[&data.tags[j].component] <= 2)
            .take(20)
            .collect();
        assert_eq!(dup.len(), 20);
        let mut idx: Vec<usize> = (0..n).collect();
        idx.extend(&dup);
        let examples = data.examples.select(&idx);
        let scorer = Scorer::new(&p, 5, &examples, None, &|| {});
        let with = scorer
            .layer((0..n + dup.len()).collect(), "test/with", 0)
            .unwrap();
        let copies: Vec<usize> = (n..n + dup.len()).collect();
        let alone = scorer
            .layer(without(&with.records, &copies), "test/alone", 0)
            .unwrap();
        let (a, b) = (
            alone.by_record(n + dup.len()),
            with.by_record(n + dup.len()),
        );
        let diff: Vec<f64> = dup.iter().map(|&j| a[j].unwrap() - b[j].unwrap()).collect();
        let ci = mean_ci(&diff, 0.95).unwrap();
        assert!(
            ci.mean >= 0.2 && ci.mean - ci.half_width > 0.0,
            "change {} ± {} ({diff:?})",
            ci.mean,
            ci.half_width
        );
    }

    /// Hand-built layers: the noise control counts the records vulnerable in both scorings,
    /// the Jaccard index, the overlap of the top layers and the survivors newly vulnerable in
    /// the second scoring. Records 0..6 with s_A = (1, .9, .6, .2, 0, .7) and
    /// s_B = (1, .1, .8, .6, .5, 0) at level ½: A = {0, 1, 2, 5}, B = {0, 2, 3, 4}; both
    /// {0, 2} → 2, union 6 → Jaccard ⅓. Top 2: A ranks 0, 1; B ranks 0, 2 → overlap ½.
    /// Survivors of A's top layer (2..6) vulnerable in B and not in A: 3, 4 → 2.
    /// Mutation checked: swapping the scorings in `newly_exposed` (vulnerable in A and not
    /// in B) counts record 5 alone, 1, and this test fails.
    #[test]
    fn noise_control_known_answer() {
        let layer = |s: &[f64]| Layer {
            records: (0..s.len()).collect(),
            vuln: Vulnerability {
                tpr: s.to_vec(),
                margin: vec![0.0; s.len()],
                threshold: 0.0,
                fpr: 0.01,
            },
            train_accuracy: 1.0,
            held_out_accuracy: 1.0,
        };
        let a = layer(&[1.0, 0.9, 0.6, 0.2, 0.0, 0.7]);
        let b = layer(&[1.0, 0.1, 0.8, 0.6, 0.5, 0.0]);
        let c = noise_control(&a, &b, 2, 0.5, 6);
        assert_eq!((c.vulnerable, c.vulnerable_both), (4, 2));
        assert!((c.jaccard - 1.0 / 3.0).abs() < 1e-15);
        assert_eq!(c.top_overlap, 0.5);
        assert_eq!(c.newly_exposed, 2);
        assert!(c.top_overlap_ci[0] < 0.5 && c.top_overlap_ci[1] > 0.5);
    }
}
