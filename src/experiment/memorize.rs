//! E0 — memorization and the long tail (`lbounds memorize`, sweep kind `memorize`).
//!
//! Feldman's argument (Feldman, "Does Learning Require Memorization? A Short Tale about a
//! Long Tail", STOC 2020, arXiv 1906.05271): when data are a mixture of subpopulations with
//! long-tailed frequencies, a learner can only be accurate on the rare ones by memorizing
//! the few examples it sees of them; so limiting memorization — by differential privacy, say
//! — costs accuracy on the tail first, and the tail is also where membership leaks. One run
//! here measures, on one long-tailed data set and one privacy level:
//!
//! - **memorization** mem̂_i = P̂[h(x_i) = y_i | i ∈ S] − P̂[h(x_i) = y_i | i ∉ S] of every
//!   training record from M models on LiRA's balanced keep matrix (Feldman & Zhang, NeurIPS
//!   2020, arXiv 2008.03703; [`crate::privacy::audit::memorization`]), each with Newcombe's
//!   95 % interval, and per subpopulation (head, tail, tail singletons, mislabelled) the mean
//!   with a 95 % Student-t interval **over the group's records** (each record's estimate
//!   carries the models' noise into the spread), the fraction of records whose interval lies
//!   above 0, and a histogram;
//! - **influence** of each tail training record on the held-out test records of its own tail
//!   component, against a matched control (the same test record and the training records of
//!   another tail component), mean over pairs with a t interval;
//! - **accuracy** of the models on held-out head and tail test records and on their training
//!   records, mean over the M models with a t interval (the models' randomness for this one
//!   data set);
//! - **LiRA** (online, per-example and global variance; Carlini et al., S&P 2022, arXiv
//!   2112.03570; [`crate::privacy::audit::mia::evaluate`]) against `targets` of the models in
//!   turn, its TPR at 0.1 % FPR on the **tail** training records, with a two-sided 95 %
//!   Clopper–Pearson interval on the TPR at the chosen threshold (the threshold itself is read
//!   on the same non-members, so the interval ignores that choice).
//!
//! The data sets ([`TailData`]): the long-tailed Gaussian mixture
//! ([`crate::privacy::audit::mia::population::LongTail`], with held-out tail and head test
//! records) or the shipped digits with a few rare digits
//! ([`crate::privacy::audit::mia::digits_tail::DigitsTail`]). Models are trained through
//! [`super::mia::train_models`] (in parallel through the runner, cached by content hash).
//!
//! **Bounds at the same parameters** ([`MemorizeBounds`]), each only where its hypotheses
//! hold, every omission stated with its reason:
//! - M3 (Feldman & Zhang 2020; catalogue `M3`): an (ε, δ)-DP learner under add/remove-one
//!   adjacency has mem ≤ (e^ε − 1 + 2δ)/(e^ε + 1) for every record. The DP models here are
//!   DP-SGD with sampling rate 1, clipped per-example gradients summed, Gaussian noise on the
//!   sum and a public divisor, accounted by RDP: (ε, δ)-DP for adding or removing one record,
//!   and the keep matrix compares exactly such neighbours (the rest of the subset is
//!   independent of record i's column). Units: a difference of probabilities.
//! - M4 (catalogue `M4`): the label of a **mislabelled** record is uniform over the K − 1
//!   other classes, independently of everything else (the population's label noise), so its
//!   training accuracy P[h(x_i) = y_i | i ∈ S] is at most
//!   (e^{ℓε} + (c − 1)δ_ℓ)/(e^{ℓε} + c − 1) with c = K − 1 and ℓ = 2: changing one label
//!   replaces a record, i.e. two add/remove steps (group privacy). Units: a probability.
//!   Not shown for tail-test accuracy: a tail component's label is its class, predictable
//!   from where it sits, not uniform.
//! - M1 (Feldman 2020; catalogue `M1`) is never shown: it needs subpopulations with known
//!   (Zipf) frequencies and labels uniform over the classes and independent of the
//!   subpopulation, which neither data set has.
//! - The DP line of hypothesis testing, TPR ≤ e^ε·FPR + δ at FPR = 0.1 % (Kairouz, Oh &
//!   Viswanath, ICML 2015; [`super::mia::MiaBounds`]).

use super::mia::{train_models, MiaBounds};
use super::summary::mean_ci;
use super::{Experiment, Job};
use crate::privacy::audit::clopper_pearson;
use crate::privacy::audit::memorization::{influence, memorization, Difference};
use crate::privacy::audit::mia::digits_tail::DigitsTail;
use crate::privacy::audit::mia::keep::{KeepMatrix, MAX_MODELS};
use crate::privacy::audit::mia::population::{LongTail, MiaData};
use crate::privacy::audit::mia::shadow::{Cache, ShadowConfig};
use crate::privacy::audit::mia::{evaluate, Attack, ModelStats, Observations};
use crate::rng::{rng_named, SimRng};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The long-tailed data set of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TailData {
    /// The long-tailed Gaussian mixture (its `tail_test` and `head_test` give the test sets).
    Gaussian(LongTail),
    /// The shipped digits with a few rare digits.
    Digits(DigitsTail),
}

impl TailData {
    /// The default Gaussian mixture of E0: K = 10, p = 32, 2 500 training records (about
    /// 400 in 200 tail components of 1–3), 1 % label noise, two test records per tail
    /// component and 400 head test records, no population records.
    pub fn gaussian() -> TailData {
        TailData::Gaussian(LongTail {
            records: 2500,
            population: 0,
            tail_test: 2,
            head_test: 400,
            ..LongTail::default()
        })
    }

    /// The default long-tailed digits ([`DigitsTail::default`]).
    pub fn digits() -> TailData {
        TailData::Digits(DigitsTail::default())
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        match self {
            TailData::Gaussian(lt) => lt.classes,
            TailData::Digits(_) => 10,
        }
    }

    /// Checks the parameters (a run needs tail and head test records).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        match self {
            TailData::Gaussian(lt) => {
                lt.validate()?;
                if lt.tail_test == 0 || lt.head_test == 0 || lt.tail_components == 0 {
                    return Err(Error::invalid(
                        "test records",
                        format!("tail_test = {}, head_test = {}", lt.tail_test, lt.head_test),
                        "memorization needs tail components with test records, and head test records",
                    ));
                }
                Ok(())
            }
            TailData::Digits(d) => {
                d.validate()?;
                if d.tail_test == 0 || d.head_test == 0 {
                    return Err(Error::invalid(
                        "test records",
                        format!("tail_test = {}, head_test = {}", d.tail_test, d.head_test),
                        "memorization needs tail and head test records",
                    ));
                }
                Ok(())
            }
        }
    }

    /// Draws the data from the stream `memorize/data` of `seed`.
    ///
    /// # Errors
    /// What [`TailData::validate`] rejects.
    pub fn generate(&self, seed: u64) -> Result<MiaData> {
        self.validate()?;
        let mut rng = rng_named(seed, 0, "memorize/data");
        match self {
            TailData::Gaussian(lt) => lt.generate(&mut rng),
            TailData::Digits(d) => d.generate(&mut rng),
        }
    }

    /// A short description for tables and figures.
    pub fn describe(&self) -> String {
        match self {
            TailData::Gaussian(lt) => format!(
                "Gaussian mixture (K = {}, p = {}, {} records, {} tail components per class)",
                lt.classes, lt.features, lt.records, lt.tail_components
            ),
            TailData::Digits(d) => format!(
                "digits, {} rare digits ({}–9) with {} training images each",
                d.tail_classes,
                10 - d.tail_classes,
                d.tail_records
            ),
        }
    }
}

/// One run: a data set, a keep matrix of M models, how they train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorizeConfig {
    /// The data set.
    pub data: TailData,
    /// Seed of the data draw.
    pub data_seed: u64,
    /// Seed of the keep matrix and of every model's streams.
    pub seed: u64,
    /// Number of models M (even).
    pub models: usize,
    /// Models playing LiRA's target in turn (1..=M).
    pub targets: usize,
    /// How the models train.
    pub shadow: ShadowConfig,
}

impl MemorizeConfig {
    /// Checks the configuration.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        self.data.validate()?;
        self.shadow.validate()?;
        check_models(self.models, self.targets)
    }
}

fn check_models(models: usize, targets: usize) -> Result<()> {
    if models < 4 || !models.is_multiple_of(2) || models > MAX_MODELS {
        return Err(Error::invalid(
            "models",
            models,
            format!(
                "must be even, from 4 to {MAX_MODELS} (each record is IN in half of the models)"
            ),
        ));
    }
    if targets == 0 || targets > models {
        return Err(Error::invalid(
            "targets",
            targets,
            format!("must be in 1..={models}"),
        ));
    }
    Ok(())
}

/// A mean with its two-sided 95 % interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ci {
    /// The estimate.
    pub mean: f64,
    /// Lower end.
    pub lower: f64,
    /// Upper end.
    pub upper: f64,
    /// Observations behind it.
    pub count: usize,
}

impl Ci {
    /// Mean of `xs` with the Student-t 95 % interval ([`mean_ci`]); `None` when empty.
    pub fn of(xs: &[f64]) -> Option<Ci> {
        mean_ci(xs, 0.95).map(|c| Ci {
            mean: c.mean,
            lower: c.mean - c.half_width,
            upper: c.mean + c.half_width,
            count: c.count,
        })
    }
}

/// Bins of the mem̂ histograms: [−1, 1] in steps of 0.1.
pub const MEM_BINS: usize = 20;

/// Memorization of one subpopulation of the training records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupMem {
    /// `head`, `tail`, `tail_singleton` (tail components with one training record) or
    /// `mislabelled` (the first three leave mislabelled records out).
    pub group: String,
    /// Mean mem̂ over the group's records.
    pub mem: Ci,
    /// Fraction of the group's records whose Newcombe interval lies above 0.
    pub memorized: f64,
    /// Mean fraction correct among the models that trained on the record.
    pub p_in: Ci,
    /// Mean fraction correct among the models that did not.
    pub p_out: Ci,
    /// Records per mem̂ bin ([`MEM_BINS`] bins of width 0.1 from −1; 1 in the last).
    pub histogram: Vec<usize>,
}

/// LiRA's TPR at 0.1 % FPR on the tail training records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TailLira {
    /// The attack ([`Attack::name`]).
    pub attack: String,
    /// TPR at 0.1 % FPR, members and non-members both tail records.
    pub tpr_at_0_1pct_fpr: f64,
    /// Two-sided 95 % Clopper–Pearson interval on that TPR (at the chosen threshold).
    pub tpr_lower: f64,
    /// Its upper end.
    pub tpr_upper: f64,
    /// AUC on the tail records.
    pub auc: f64,
    /// Tail member scores pooled over the targets.
    pub members: usize,
    /// TPR at 0.1 % FPR over every training record.
    pub overall_tpr_at_0_1pct_fpr: f64,
}

/// What one run reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemorizeReport {
    /// Models trained or loaded (M).
    pub models: usize,
    /// Models trained in this run.
    pub trained: usize,
    /// Models loaded from the cache.
    pub cached: usize,
    /// Training records (each in half of the models).
    pub records: usize,
    /// Training records from the tail.
    pub tail_records: usize,
    /// Held-out test records.
    pub test_records: usize,
    /// DP-SGD's ε, when the models are DP.
    pub epsilon: Option<f64>,
    /// DP-SGD's δ.
    pub delta: Option<f64>,
    /// The noise multiplier σ the accountant chose.
    pub noise_multiplier: Option<f64>,
    /// Passes over the training records (DP: full-batch steps).
    pub epochs: usize,
    /// Accuracy of each model on its own training records.
    pub train_accuracy: Ci,
    /// Accuracy on the head test records.
    pub head_test_accuracy: Ci,
    /// Accuracy on the tail test records.
    pub tail_test_accuracy: Ci,
    /// Memorization by subpopulation (empty groups left out).
    pub groups: Vec<GroupMem>,
    /// Influence of a tail training record on a test record of its own component.
    pub influence: Option<Ci>,
    /// The control: on a test record of another tail component.
    pub influence_control: Option<Ci>,
    /// LiRA online (per-example, then global variance) on the tail.
    pub lira: Vec<TailLira>,
}

impl MemorizeReport {
    /// The group named `name`.
    pub fn group(&self, name: &str) -> Option<&GroupMem> {
        self.groups.iter().find(|g| g.group == name)
    }
}

/// A run's report and every training record's mem̂.
#[derive(Clone, Debug)]
pub struct Measured {
    /// The report.
    pub report: MemorizeReport,
    /// mem̂_i of every training record, in order.
    pub mem: Vec<Difference>,
}

/// Runs one measurement (see the [module docs](self)); `on_model` is called once per model
/// trained or loaded.
///
/// # Errors
/// What [`MemorizeConfig::validate`] rejects; training and attack errors; cache failures.
pub fn run_memorize(
    cfg: &MemorizeConfig,
    cache: Option<&Cache>,
    on_model: &(dyn Fn() + Sync),
) -> Result<Measured> {
    cfg.validate()?;
    let data = cfg.data.generate(cfg.data_seed)?;
    measure(&data, cfg, cache, on_model)
}

/// [`run_memorize`] on given data (its `cfg.data` only names it).
///
/// # Errors
/// Those of [`run_memorize`]; data without tail or head test records.
pub fn measure(
    data: &MiaData,
    cfg: &MemorizeConfig,
    cache: Option<&Cache>,
    on_model: &(dyn Fn() + Sync),
) -> Result<Measured> {
    cfg.shadow.validate()?;
    check_models(cfg.models, cfg.targets)?;
    let n = data.audited;
    let tags = &data.tags[..n];
    let keep = KeepMatrix::lira(cfg.seed, cfg.models, n)?;
    let outs = train_models(
        &data.examples,
        &keep,
        &cfg.shadow,
        cfg.seed,
        cache,
        on_model,
    )?;
    let ex = &data.examples;
    let net = (cfg.shadow.backend).build(&cfg.shadow.model, ex.features(), ex.task())?;
    // Every model's correctness on the test records.
    let test_correct: Vec<Vec<bool>> = outs
        .iter()
        .map(|o| {
            let z = net.predict(&o.params, data.test.x().as_view())?;
            Ok(ModelStats::from_logits(&z, data.test.y(), &[])?.correct)
        })
        .collect::<Result<_>>()?;
    let per_model = |pick: &dyn Fn(usize) -> bool| -> Option<Ci> {
        let idx: Vec<usize> = (0..data.test.len()).filter(|&t| pick(t)).collect();
        let acc: Vec<f64> = test_correct
            .iter()
            .map(|c| idx.iter().filter(|&&t| c[t]).count() as f64 / idx.len() as f64)
            .collect();
        (!idx.is_empty()).then(|| Ci::of(&acc)).flatten()
    };
    let missing = |what: &str| Error::invalid("test records", 0, format!("no {what} test records"));
    let head_test_accuracy =
        per_model(&|t| !data.test_tags[t].tail).ok_or_else(|| missing("head"))?;
    let tail_test_accuracy =
        per_model(&|t| data.test_tags[t].tail).ok_or_else(|| missing("tail"))?;
    let train: Vec<f64> = outs.iter().map(|o| o.stats.train_accuracy).collect();
    let train_accuracy = Ci::of(&train).ok_or_else(|| missing("training"))?;

    let mem = memorization(&keep, |m, i| outs[m].stats.correct[i])?;
    let mut size: BTreeMap<usize, usize> = BTreeMap::new();
    for t in tags {
        *size.entry(t.component).or_default() += 1;
    }
    let clean = |j: usize| !tags[j].mislabelled;
    let selectors: [(&str, &dyn Fn(usize) -> bool); 4] = [
        ("head", &|j| clean(j) && !tags[j].tail),
        ("tail", &|j| clean(j) && tags[j].tail),
        ("tail_singleton", &|j| {
            clean(j) && tags[j].tail && size[&tags[j].component] == 1
        }),
        ("mislabelled", &|j| !clean(j)),
    ];
    let groups = selectors
        .iter()
        .filter_map(|(name, pick)| {
            let idx: Vec<usize> = (0..n).filter(|&j| pick(j)).collect();
            group(name, &idx, &mem)
        })
        .collect();

    // Influence: tail training records on the clean test records of their component, and the
    // control on the same test record from the next tail component's records.
    let mut train_of: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (j, t) in tags.iter().enumerate() {
        if t.tail && !t.mislabelled {
            train_of.entry(t.component).or_default().push(j);
        }
    }
    let comps: Vec<usize> = train_of.keys().copied().collect();
    let (mut same, mut control) = (Vec::new(), Vec::new());
    for (t, tag) in data.test_tags.iter().enumerate() {
        let Some(pos) = comps.iter().position(|&c| c == tag.component) else {
            continue;
        };
        if !tag.tail || tag.mislabelled {
            continue;
        }
        let read = |i: usize| influence(&keep, i, |m| test_correct[m][t]).map(|d| d.value);
        for &i in &train_of[&comps[pos]] {
            same.push(read(i)?);
        }
        if comps.len() > 1 {
            for &i in &train_of[&comps[(pos + 1) % comps.len()]] {
                control.push(read(i)?);
            }
        }
    }

    // LiRA on the tail.
    let tail: Vec<bool> = tags.iter().map(|t| t.tail).collect();
    if !tail.iter().any(|&t| t) {
        return Err(missing("tail training"));
    }
    let stats: Vec<ModelStats> = outs.iter().map(|o| o.stats.clone()).collect();
    let obs = Observations::from_stats(&keep, &stats)?;
    drop(stats);
    let targets: Vec<usize> = (0..cfg.targets).collect();
    let members: usize = targets
        .iter()
        .map(|&t| (0..n).filter(|&j| tail[j] && keep.row(t)[j]).count())
        .sum();
    let lira = evaluate(
        &obs,
        &targets,
        &tail,
        &[Attack::LiraOnline, Attack::LiraOnlineFixedVariance],
    )?
    .into_iter()
    .filter_map(|a| {
        let c = a.canaries?;
        let k = (c.tpr_at_0_1pct_fpr * members as f64).round() as u64;
        let m = members as u64;
        Some(TailLira {
            attack: a.attack,
            tpr_at_0_1pct_fpr: c.tpr_at_0_1pct_fpr,
            tpr_lower: clopper_pearson::lower(k.min(m), m, 0.025),
            tpr_upper: clopper_pearson::upper(k.min(m), m, 0.025),
            auc: c.auc,
            members,
            overall_tpr_at_0_1pct_fpr: a.overall.tpr_at_0_1pct_fpr,
        })
    })
    .collect();

    let cached = outs.iter().filter(|o| o.cached).count();
    let dp = cfg.shadow.dp;
    Ok(Measured {
        report: MemorizeReport {
            models: cfg.models,
            trained: cfg.models - cached,
            cached,
            records: n,
            tail_records: tail.iter().filter(|&&t| t).count(),
            test_records: data.test.len(),
            epsilon: dp.map(|d| d.epsilon),
            delta: dp.map(|d| d.delta),
            noise_multiplier: cfg.shadow.noise_multiplier()?,
            epochs: cfg.shadow.epochs,
            train_accuracy,
            head_test_accuracy,
            tail_test_accuracy,
            groups,
            influence: Ci::of(&same),
            influence_control: Ci::of(&control),
            lira,
        },
        mem,
    })
}

/// The summary of the records `idx` (`None` when there are none).
fn group(name: &str, idx: &[usize], mem: &[Difference]) -> Option<GroupMem> {
    let pick =
        |f: &dyn Fn(&Difference) -> f64| -> Vec<f64> { idx.iter().map(|&j| f(&mem[j])).collect() };
    let values = pick(&|d| d.value);
    let mut histogram = vec![0usize; MEM_BINS];
    for &v in &values {
        let b = ((v + 1.0) / 2.0 * MEM_BINS as f64).floor();
        histogram[(b.max(0.0) as usize).min(MEM_BINS - 1)] += 1;
    }
    Some(GroupMem {
        group: name.to_string(),
        mem: Ci::of(&values)?,
        memorized: idx.iter().filter(|&&j| mem[j].lower > 0.0).count() as f64 / idx.len() as f64,
        p_in: Ci::of(&pick(&|d| d.p_in))?,
        p_out: Ci::of(&pick(&|d| d.p_out))?,
        histogram,
    })
}

/// One grid point of an `experiment = "memorize"` sweep: a run without its seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorizePoint {
    /// The data set.
    pub data: TailData,
    /// Number of models M.
    pub models: usize,
    /// Models playing LiRA's target in turn.
    pub targets: usize,
    /// How the models train.
    pub shadow: ShadowConfig,
}

impl Default for MemorizePoint {
    /// 32 softmax models (weak L2) on the default Gaussian mixture ([`TailData::gaussian`]),
    /// 16 LiRA targets.
    fn default() -> Self {
        MemorizePoint {
            data: TailData::gaussian(),
            models: 32,
            targets: 16,
            shadow: ShadowConfig::softmax(),
        }
    }
}

impl MemorizePoint {
    /// The run of replicate `replicate` of a sweep seeded with `seed`: replicate 0 uses the
    /// sweep's seed for the data and the models; replicate r > 0 draws both from the stream
    /// `memorize/replicate` (seed, r). Every grid point of a replicate therefore measures the
    /// same data with the same keep matrix (common random numbers: the privacy levels differ
    /// only by training).
    pub fn config(&self, seed: u64, replicate: u32) -> MemorizeConfig {
        let (data_seed, seed) = if replicate == 0 {
            (seed, seed)
        } else {
            use rand::Rng;
            let mut r = rng_named(seed, replicate, "memorize/replicate");
            (r.next_u64(), r.next_u64())
        };
        MemorizeConfig {
            data: self.data.clone(),
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
    /// What [`MemorizeConfig::validate`] rejects.
    pub fn check(&self) -> Result<()> {
        self.config(0, 0).validate()
    }
}

/// The catalogue's bounds at a point (see the [module docs](self)): values where the
/// hypotheses hold, a reason for every bound left out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemorizeBounds {
    /// The models' DP ε.
    pub epsilon: Option<f64>,
    /// The models' DP δ.
    pub delta: Option<f64>,
    /// M3: cap on every record's mem (a difference of probabilities).
    pub m3_mem_cap: Option<f64>,
    /// M4 with c = K − 1, ℓ = 2: cap on a mislabelled record's training accuracy
    /// P[h(x_i) = y_i | i ∈ S] (a probability).
    pub m4_mislabelled_cap: Option<f64>,
    /// TPR ≤ e^ε·FPR + δ (and its mirror) at FPR = 0.1 %.
    pub tpr_cap_at_0_1pct_fpr: Option<f64>,
    /// Each catalogue bound not shown at the point, with why.
    pub not_shown: Vec<String>,
}

impl MemorizeBounds {
    /// The bounds at `p`.
    ///
    /// # Errors
    /// Those of the catalogue's evaluation (not for validated points).
    pub fn of(p: &MemorizePoint) -> Result<MemorizeBounds> {
        use crate::bounds::eval;
        use crate::params::Params;
        let dp = p.shadow.dp;
        let mut not_shown = vec![
            "M1 (Feldman 2020): needs subpopulations of known (Zipf) frequencies whose labels \
             are uniform and independent of the subpopulation; here a tail component's label \
             is its class, predictable from where it sits"
                .to_string(),
            "M4 on tail-test accuracy: a tail component's label is not uniform over the \
             classes (see M1)"
                .to_string(),
        ];
        let noisy = matches!(&p.data, TailData::Gaussian(lt) if lt.label_noise > 0.0);
        let classes = p.data.classes();
        let (mut m3, mut m4) = (None, None);
        match dp {
            None => not_shown
                .push("M3, M4: the models are not differentially private (no ε)".to_string()),
            Some(d) => {
                let at = Params::new().with("eps", d.epsilon).with("delta", d.delta);
                m3 = eval("M3", &at)?.as_f64();
                if noisy && classes >= 3 {
                    let at = at.with("ell", 2.0).with("c", (classes - 1) as f64);
                    m4 = eval("M4", &at)?.as_f64();
                } else {
                    not_shown.push(
                        "M4 on mislabelled records: no label noise here (or fewer than 3 \
                         classes), so no record's label is uniform over the others"
                            .to_string(),
                    );
                }
            }
        }
        let line = MiaBounds {
            epsilon: dp.map(|d| d.epsilon),
            delta: dp.map(|d| d.delta),
        };
        Ok(MemorizeBounds {
            epsilon: line.epsilon,
            delta: line.delta,
            m3_mem_cap: m3,
            m4_mislabelled_cap: m4,
            tpr_cap_at_0_1pct_fpr: line.max_tpr(1e-3),
            not_shown,
        })
    }
}

/// A whole run as one sweep job ([`MemorizePoint::config`] gives its seeds).
pub struct MemorizeExperiment;

impl Experiment for MemorizeExperiment {
    type Point = MemorizePoint;
    type Output = MemorizeReport;

    /// The run seeded by the stream's first word.
    fn run_once(&self, p: &MemorizePoint, rng: &mut SimRng) -> Result<MemorizeReport> {
        use rand::Rng;
        Ok(run_memorize(&p.config(rng.next_u64(), 0), None, &|| {})?.report)
    }

    fn run_job(&self, p: &MemorizePoint, job: Job) -> Result<MemorizeReport> {
        Ok(run_memorize(&p.config(job.seed, job.replicate), None, &|| {})?.report)
    }
}

/// Grid keys of the `memorize` experiment, in product order (the last varies fastest).
pub const MEMORIZE_KEYS: &[&str] = &[
    "data",
    "model",
    "backend",
    "dp_epsilon",
    "models",
    "targets",
    "records",
    "features",
    "tail_test",
    "head_test",
    "epochs",
    "lr",
    "dp_delta",
    "clip",
];

/// Sets one key of a `memorize` point (see [`super::config`]).
pub(crate) fn apply(key: &str, v: &toml::Value, q: &mut MemorizePoint) -> Result<()> {
    use super::config::{shadow_model, want_float, want_float_or_none, want_int, want_str};
    use crate::privacy::audit::mia::shadow::DpShadow;
    fn gaussian<'a>(key: &str, q: &'a mut MemorizePoint) -> Result<&'a mut LongTail> {
        match &mut q.data {
            TailData::Gaussian(lt) => Ok(lt),
            TailData::Digits(_) => Err(Error::invalid(
                key,
                "digits",
                "applies to the gaussian data only",
            )),
        }
    }
    match key {
        "data" => {
            q.data = match want_str(key, v)? {
                "gaussian" => TailData::gaussian(),
                "digits" => TailData::digits(),
                other => {
                    return Err(Error::unknown(
                        "memorize data",
                        other,
                        ["gaussian", "digits"],
                    ))
                }
            }
        }
        "model" => q.shadow = shadow_model(key, v)?,
        "backend" => q.shadow.backend = crate::learning::model::Backend::parse(want_str(key, v)?)?,
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
        "records" => gaussian(key, q)?.records = want_int(key, v, 1)?,
        "features" => gaussian(key, q)?.features = want_int(key, v, 1)?,
        "tail_test" => {
            let t = want_int(key, v, 1)?;
            match &mut q.data {
                TailData::Gaussian(lt) => lt.tail_test = t,
                TailData::Digits(d) => d.tail_test = t,
            }
        }
        "head_test" => {
            let t = want_int(key, v, 1)?;
            match &mut q.data {
                TailData::Gaussian(lt) => lt.head_test = t,
                TailData::Digits(d) => d.head_test = t,
            }
        }
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
            return Err(Error::unknown(
                "grid key",
                key,
                MEMORIZE_KEYS.iter().copied(),
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A quick population (the CLI's `--quick`): K = 10 in p = 16, 10 tail components per
    /// class (sizes 1–3), 600 training records, 2 test records per tail component, 200 head
    /// test records.
    fn quick() -> MemorizeConfig {
        MemorizeConfig {
            data: TailData::Gaussian(LongTail {
                records: 600,
                population: 0,
                features: 16,
                tail_components: 10,
                tail_test: 2,
                head_test: 200,
                ..LongTail::default()
            }),
            data_seed: 1,
            seed: 2,
            models: 32,
            targets: 4,
            shadow: ShadowConfig::mlp(),
        }
    }

    /// On a memorising model (an MLP without regularisation, ≈ 100 % training accuracy), a
    /// tail singleton is memorized and a head record is not: the mean mem̂ of the tail
    /// singletons is ≥ 0.25 with its 95 % interval above 0.1, the tail's interval lies above
    /// the head's, and most head records (≥ 60 %) have mem̂ in [0, 0.1) — every model gets
    /// them right whether or not it trained on them (measured: 70 %; the rest sit near class
    /// boundaries, which an over-fitting MLP also memorizes). The influence of a tail record
    /// on a test record of its own component exceeds the control's (another component's
    /// records on the same test record). Mutation checked: binning mem̂ by v/2 instead of
    /// (v + 1)/2 (histogram from 0 instead of −1) empties the head's [0, 0.1) bin and the
    /// test fails.
    #[test]
    fn tail_singletons_are_memorized_head_records_are_not() {
        let r = run_memorize(&quick(), None, &|| {}).unwrap().report;
        let single = r.group("tail_singleton").unwrap();
        let (head, tail) = (r.group("head").unwrap(), r.group("tail").unwrap());
        assert!(r.train_accuracy.mean > 0.98, "{:?}", r.train_accuracy);
        assert!(
            single.mem.mean >= 0.25 && single.mem.lower > 0.1,
            "{single:?}"
        );
        assert!(tail.mem.lower > head.mem.upper, "{tail:?} vs {head:?}");
        let near_zero = head.histogram[MEM_BINS / 2] as f64 / head.mem.count as f64;
        assert!(near_zero >= 0.6, "{near_zero}: {head:?}");
        let (inf, ctl) = (r.influence.unwrap(), r.influence_control.unwrap());
        assert!(inf.lower > ctl.upper, "{inf:?} vs {ctl:?}");
        assert!(
            r.tail_test_accuracy.mean < r.head_test_accuracy.mean,
            "{r:?}"
        );
    }

    /// Feldman & Zhang's duplicate effect: a tail singleton copied 8 times into the training
    /// records (each copy IN or OUT of a model independently, as every record) is no longer
    /// memorized — when a model leaves one copy out it trains on another with probability
    /// 1 − 2⁻⁷ — while the same record as a singleton is. The mean mem̂ of the 8 copies must
    /// lie within 0.1 of 0 and no copy's mem̂ may exceed 0.25: the expectation is at most
    /// 2⁻⁷ ≈ 0.008 (the record's own mem is at most 1); an estimate of 0.25 needs 4 of the 16
    /// OUT models to miss a record 7 copies of which they train on with probability 1 − 2⁻⁷,
    /// while the singleton's OUT models miss it (measured mem̂ > 0.5). Mutation checked:
    /// appending 7 other records instead of the copies leaves the target a singleton (its
    /// mem̂ 0.94, the mean of the 8 records 0.14) and the test fails.
    #[test]
    fn a_duplicated_point_is_not_memorized() {
        let cfg = quick();
        let data = cfg.data.generate(cfg.data_seed).unwrap();
        let before = measure(&data, &cfg, None, &|| {}).unwrap();
        // The tail singleton the models memorize most.
        let sizes = |j: usize| {
            data.tags[..data.audited]
                .iter()
                .filter(|t| t.component == data.tags[j].component)
                .count()
        };
        let target = (0..data.audited)
            .filter(|&j| data.tags[j].tail && !data.tags[j].mislabelled && sizes(j) == 1)
            .max_by(|&a, &b| before.mem[a].value.total_cmp(&before.mem[b].value))
            .unwrap();
        assert!(before.mem[target].value > 0.5, "{:?}", before.mem[target]);
        let copies = 8;
        let mut idx: Vec<usize> = (0..data.audited).collect();
        idx.extend(std::iter::repeat_n(target, copies - 1));
        let mut dup = data.clone();
        dup.examples = data.examples.select(&idx);
        dup.tags = idx.iter().map(|&j| data.tags[j]).collect();
        dup.audited = idx.len();
        let after = measure(&dup, &cfg, None, &|| {}).unwrap();
        let mut copies_at = vec![target];
        copies_at.extend(data.audited..idx.len());
        let mean = copies_at.iter().map(|&j| after.mem[j].value).sum::<f64>() / copies as f64;
        let each: Vec<Difference> = copies_at.iter().map(|&j| after.mem[j]).collect();
        assert!(mean.abs() < 0.1, "{mean}: {each:?}");
        assert!(each.iter().all(|d| d.value <= 0.25), "{each:?}");
    }

    /// M3 and M4 appear only at DP points, with the values of the catalogue; M1 is never
    /// shown and says why.
    #[test]
    fn bounds_only_where_hypotheses_hold() {
        let plain = MemorizeBounds::of(&MemorizePoint::default()).unwrap();
        assert!(plain.m3_mem_cap.is_none() && plain.m4_mislabelled_cap.is_none());
        assert!(plain.not_shown.iter().any(|s| s.starts_with("M1")));
        let mut p = MemorizePoint::default();
        p.shadow.dp = Some(crate::privacy::audit::mia::shadow::DpShadow {
            epsilon: 1.0,
            delta: 0.0,
            clip: 1.0,
        });
        p.shadow.batch = 0;
        let b = MemorizeBounds::of(&p).unwrap();
        // (e − 1)/(e + 1) = tanh(1/2) (catalogue M3's known answer).
        assert!((b.m3_mem_cap.unwrap() - 0.462_117_157_260_009_7).abs() < 1e-12);
        // M4 at ℓ = 2, ε = 1, δ = 0, c = 9: e²/(e² + 8).
        let e2 = 2f64.exp();
        assert!((b.m4_mislabelled_cap.unwrap() - e2 / (e2 + 8.0)).abs() < 1e-12);
        let d = MemorizePoint {
            data: TailData::digits(),
            ..p
        };
        let b = MemorizeBounds::of(&d).unwrap();
        assert!(b.m3_mem_cap.is_some() && b.m4_mislabelled_cap.is_none());
    }
}
