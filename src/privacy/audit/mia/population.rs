//! The audits' population: a long-tailed Gaussian mixture with mislabelled records
//! (the "shared data set" of lbounds' privacy reference, after the long-tail picture of
//! Feldman, "Does Learning Require Memorization? A Short Tale about a Long Tail", STOC 2020,
//! arXiv 1906.05271, and the subpopulation analysis of Carlini et al., S&P 2022,
//! arXiv 2112.03570).
//!
//! K classes in p features. Class k has a **head** component N(μ_k, I) with
//! μ_k = S·z_k/√(2p) (so E‖μ_k − μ_l‖² = S², as the `synthetic` mixture) and
//! [`LongTail::tail_components`] **tail** components N(ν_kc, I) of 1 to 3 records each, with
//! ν_kc = μ_k + D·u_kc, u_kc a uniformly random unit vector (D = `tail_distance`): rare
//! subpopulations a model can only fit by memorising them. Then every record's label is
//! replaced, with probability `label_noise`, by one of the K − 1 others (a natural canary).
//!
//! The `records` audited records are the tail records of every class followed by head
//! records with uniform labels up to `records`; tail and mislabelled records are flagged as
//! canaries ([`Examples::canaries`]). After them come `population` records no model trains
//! on (RMIA's reference points z), drawn from the head components with the same label
//! noise.
//!
//! Every record carries a [`RecordTag`]: its true class, its mixture component (head or
//! which tail component) and whether its label was flipped, so experiments can split results
//! by subpopulation (head vs tail, one whole tail component, the mislabelled records).
//!
//! Held-out **test** records ([`MiaData::test`]): `tail_test` records from every tail
//! component and `head_test` records from the heads (uniform classes), with the same label
//! noise, drawn after everything else — a population without them is drawn exactly as before
//! they existed. They let an experiment measure accuracy on the tail apart from the head and
//! the influence of a tail training record on a test record of its own component (Feldman &
//! Zhang, "What Neural Networks Memorize and Why", NeurIPS 2020, arXiv 2008.03703).
//!
//! Draw order (stream of the caller): K·p normals for the head means; per class, per tail
//! component: p normals for u, one size index in 0..(max − min + 1); then record after record
//! (tail records class by class, then head records, then population records): for a head
//! record the label index, then p normals; then one f64 and one index in 0..K−1 for the label
//! noise; then the test records in the same way (tail test records component by component,
//! then head test records), followed by their label noise.

use crate::learning::examples::{Examples, Task};
use crate::rng::{uniform_index, SimRng};
use crate::{Error, Result};
use nalgebra::{DMatrix, DVector};
use rand::RngExt;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// The population's parameters (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongTail {
    /// Classes K ≥ 2.
    pub classes: usize,
    /// Features p ≥ 1.
    pub features: usize,
    /// Audited records (tail records included).
    pub records: usize,
    /// Population records no model trains on.
    pub population: usize,
    /// Expected distance between two head means, in within-component standard deviations.
    pub separation: f64,
    /// Tail components per class.
    pub tail_components: usize,
    /// Distance of a tail component's mean from its class's head mean.
    pub tail_distance: f64,
    /// Probability that a record's label is replaced by another class.
    pub label_noise: f64,
    /// Fewest records of a tail component (≥ 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub tail_size_min: usize,
    /// Most records of a tail component (≥ `tail_size_min`).
    #[serde(default = "three", skip_serializing_if = "is_three")]
    pub tail_size_max: usize,
    /// Held-out test records drawn from every tail component.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tail_test: usize,
    /// Held-out test records drawn from the head components.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub head_test: usize,
    /// Standard deviation of a tail component's records around its mean, in units of the
    /// heads' (1): below 1 a tail component is a tight cluster, its members near-duplicates
    /// of each other (the onion experiment's masking needs neighbours that mask).
    #[serde(default = "unit", skip_serializing_if = "is_unit")]
    pub tail_spread: f64,
}

// The defaults of the fields added after the first release are left out of serialised keys
// and records, so caches and records of populations without them are unchanged.
fn one() -> usize {
    1
}
fn three() -> usize {
    3
}
fn is_one(v: &usize) -> bool {
    *v == 1
}
fn is_three(v: &usize) -> bool {
    *v == 3
}
fn is_zero(v: &usize) -> bool {
    *v == 0
}
fn unit() -> f64 {
    1.0
}
fn is_unit(v: &f64) -> bool {
    *v == 1.0
}

/// Where a record comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordTag {
    /// Its true class (the mixture component's class, before label noise).
    pub class: usize,
    /// Its mixture component: `0..K` are the K heads (component k is class k's head),
    /// `K + k·tail_components + c` is class k's tail component c.
    pub component: usize,
    /// Drawn from a tail component.
    pub tail: bool,
    /// Its label was replaced by another class.
    pub mislabelled: bool,
}

impl Default for LongTail {
    /// K = 10, p = 32, 10⁴ audited records and 2 000 population records, separation 5,
    /// 20 tail components per class at distance 6, 1 % label noise.
    fn default() -> Self {
        LongTail {
            classes: 10,
            features: 32,
            records: 10_000,
            population: 2_000,
            separation: 5.0,
            tail_components: 20,
            tail_distance: 6.0,
            label_noise: 0.01,
            tail_size_min: 1,
            tail_size_max: 3,
            tail_test: 0,
            head_test: 0,
            tail_spread: 1.0,
        }
    }
}

/// The generated records.
#[derive(Clone, Debug)]
pub struct MiaData {
    /// Audited records followed by population records; canary flags set on the audited tail
    /// and mislabelled records.
    pub examples: Examples,
    /// How many of `examples` are audited (the rest are population records).
    pub audited: usize,
    /// One tag per record of `examples`.
    pub tags: Vec<RecordTag>,
    /// Held-out test records (`tail_test` per tail component, then `head_test` from the
    /// heads); no canary flags.
    pub test: Examples,
    /// One tag per test record.
    pub test_tags: Vec<RecordTag>,
}

impl MiaData {
    /// Number of mixture components (K heads + K·tail_components tails) of `lt`.
    pub fn components(lt: &LongTail) -> usize {
        lt.classes * (1 + lt.tail_components)
    }
}

/// Most records (audited + population) a population may have.
pub const MAX_RECORDS: usize = 10_000_000;

impl LongTail {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        if !(2..=1000).contains(&self.classes) {
            return Err(Error::invalid(
                "classes",
                self.classes,
                "must be in 2..=1000",
            ));
        }
        if !(1..=10_000).contains(&self.features) {
            return Err(Error::invalid(
                "features",
                self.features,
                "must be in 1..=10000",
            ));
        }
        if self.tail_size_min == 0
            || self.tail_size_max < self.tail_size_min
            || self.tail_size_max > 1000
        {
            return Err(Error::invalid(
                "tail component sizes",
                format!("{}..={}", self.tail_size_min, self.tail_size_max),
                "need 1 ≤ min ≤ max ≤ 1000",
            ));
        }
        let tail_max = self.tail_size_max * self.tail_components * self.classes;
        let test = (self
            .tail_test
            .saturating_mul(self.tail_components * self.classes))
        .saturating_add(self.head_test);
        if test > MAX_RECORDS || test.saturating_mul(self.features) > 1 << 30 {
            return Err(Error::invalid(
                "test records",
                test,
                format!("tail_test · tail components + head_test must be ≤ {MAX_RECORDS}"),
            ));
        }
        if self.records <= tail_max
            || self.records.saturating_add(self.population) > MAX_RECORDS
            || self.records.saturating_mul(self.features) > 1 << 30
        {
            return Err(Error::invalid(
                "records",
                self.records,
                format!(
                    "must exceed the at most {tail_max} tail records, with records + \
                     population ≤ {MAX_RECORDS}"
                ),
            ));
        }
        for (name, v) in [
            ("separation", self.separation),
            ("tail distance", self.tail_distance),
        ] {
            if !(v.is_finite() && (0.0..=1e6).contains(&v)) {
                return Err(Error::invalid(name, v, "must be in [0, 1e6]"));
            }
        }
        if !(0.0..=1.0).contains(&self.label_noise) {
            return Err(Error::invalid(
                "label noise",
                self.label_noise,
                "must be in [0, 1]",
            ));
        }
        if !(self.tail_spread > 0.0 && self.tail_spread <= 100.0) {
            return Err(Error::invalid(
                "tail spread",
                self.tail_spread,
                "must be in (0, 100]",
            ));
        }
        Ok(())
    }

    /// Draws the records from `rng`.
    ///
    /// # Errors
    /// What [`LongTail::validate`] rejects.
    pub fn generate(&self, rng: &mut SimRng) -> Result<MiaData> {
        self.validate()?;
        let (k, p) = (self.classes, self.features);
        let normal = |rng: &mut SimRng| -> f64 { rng.sample(StandardNormal) };
        let scale = self.separation / (2.0 * p as f64).sqrt();
        let heads: Vec<DVector<f64>> = (0..k)
            .map(|_| DVector::from_fn(p, |_, _| normal(rng) * scale))
            .collect();
        // Tail components: (mean, class, size).
        let mut tails = Vec::with_capacity(k * self.tail_components);
        let spread = self.tail_size_max - self.tail_size_min + 1;
        for (c, head) in heads.iter().enumerate() {
            for _ in 0..self.tail_components {
                let u = DVector::from_fn(p, |_, _| normal(rng));
                let norm = u.norm();
                let dir = if norm > 0.0 {
                    u / norm
                } else {
                    DVector::zeros(p)
                };
                let size = self.tail_size_min + uniform_index(rng, spread);
                tails.push((head + dir * self.tail_distance, c, size));
            }
        }
        let component = |class: usize, tail: Option<usize>| match tail {
            None => class,
            Some(t) => k + t,
        };
        // Audited records (tails, then heads), then population records (heads).
        let sizes: Vec<usize> = tails.iter().map(|t| t.2).collect();
        let draw = Draw {
            heads: &heads,
            tails: &tails,
            classes: k,
            label_noise: self.label_noise,
            tail_spread: self.tail_spread,
        };
        let (x, labels, tags) = draw.records(
            sizes.iter().enumerate().map(|(t, &s)| (t, s)),
            self.records + self.population,
            &component,
            rng,
        );
        let mut canary: Vec<bool> = tags.iter().map(|t| t.tail || t.mislabelled).collect();
        canary[self.records..].iter_mut().for_each(|f| *f = false);
        let examples =
            Examples::new(x, labels, Task::Classification { classes: k })?.with_canaries(canary)?;
        // Test records: `tail_test` from every tail component, then `head_test` from the heads.
        let test_total = self.tail_test * tails.len() + self.head_test;
        let (tx, ty, test_tags) = draw.records(
            (0..tails.len()).map(|t| (t, self.tail_test)),
            test_total,
            &component,
            rng,
        );
        let test = Examples::new(tx, ty, Task::Classification { classes: k })?;
        Ok(MiaData {
            examples,
            audited: self.records,
            tags,
            test,
            test_tags,
        })
    }
}

/// The mixture a population draws its records from.
struct Draw<'a> {
    heads: &'a [DVector<f64>],
    /// (mean, class, size) per tail component.
    tails: &'a [(DVector<f64>, usize, usize)],
    classes: usize,
    label_noise: f64,
    tail_spread: f64,
}

impl Draw<'_> {
    /// `total` records: `count` records of each listed tail component (in order), then head
    /// records of uniform class; then the label noise record after record (the draws are made
    /// whatever the rate). Returns the features (one column per record), labels and tags.
    fn records(
        &self,
        tail_counts: impl Iterator<Item = (usize, usize)>,
        total: usize,
        component: &dyn Fn(usize, Option<usize>) -> usize,
        rng: &mut SimRng,
    ) -> (DMatrix<f64>, Vec<f64>, Vec<RecordTag>) {
        let p = self.heads.first().map_or(0, |h| h.len());
        let k = self.classes;
        let mut x = DMatrix::<f64>::zeros(p, total);
        let mut tags = Vec::with_capacity(total);
        // σ·z with σ = 1 is z exactly: populations without a tail spread are unchanged.
        let mut fill = |i: usize, mean: &DVector<f64>, sigma: f64, rng: &mut SimRng| {
            for (r, v) in x.column_mut(i).iter_mut().enumerate() {
                *v = mean[r] + sigma * rng.sample::<f64, _>(StandardNormal);
            }
        };
        let mut i = 0;
        for (t, count) in tail_counts {
            let (mean, c, _) = &self.tails[t];
            for _ in 0..count {
                fill(i, mean, self.tail_spread, rng);
                tags.push(RecordTag {
                    class: *c,
                    component: component(*c, Some(t)),
                    tail: true,
                    mislabelled: false,
                });
                i += 1;
            }
        }
        while i < total {
            let c = uniform_index(rng, k);
            fill(i, &self.heads[c], 1.0, rng);
            tags.push(RecordTag {
                class: c,
                component: component(c, None),
                tail: false,
                mislabelled: false,
            });
            i += 1;
        }
        let mut labels = Vec::with_capacity(total);
        for tag in tags.iter_mut() {
            let flip = rng.random::<f64>() < self.label_noise;
            let other = uniform_index(rng, k - 1);
            let label = if flip {
                tag.mislabelled = true;
                (tag.class + 1 + other) % k
            } else {
                tag.class
            };
            labels.push(label as f64);
        }
        (x, labels, tags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;

    /// Sizes, canary flags (every tail record and ≈ 1 % of head records; none among the
    /// population), labels in range, deterministic per seed.
    #[test]
    fn shape_and_flags() {
        let lt = LongTail {
            records: 3000,
            population: 500,
            ..LongTail::default()
        };
        let d = lt.generate(&mut rng_from_seed(1)).unwrap();
        assert_eq!(d.examples.len(), 3500);
        assert_eq!(d.audited, 3000);
        let flags = d.examples.canaries();
        let canaries = flags[..3000].iter().filter(|&&f| f).count();
        // 200 tail components of 1–3 records (mean 400, range 200..600) plus ~1 % of
        // 2600 head records (26 ± 5).
        assert!((200..700).contains(&canaries), "{canaries}");
        assert!(flags[3000..].iter().all(|&f| !f));
        assert!(d.examples.y().iter().all(|&v| (0.0..10.0).contains(&v)));
        let again = lt.generate(&mut rng_from_seed(1)).unwrap();
        assert_eq!(again.examples, d.examples);
        // The tags agree with the flags: canaries are exactly the audited tail and
        // mislabelled records; a mislabelled record's label differs from its class.
        for (j, (t, &f)) in d.tags.iter().zip(flags).enumerate() {
            assert_eq!(f, j < 3000 && (t.tail || t.mislabelled), "record {j}");
            let y = d.examples.y()[j] as usize;
            assert_eq!(y != t.class, t.mislabelled, "record {j}");
            assert_eq!(t.tail, t.component >= 10, "record {j}");
            if !t.tail {
                assert_eq!(t.component, t.class);
            } else {
                assert_eq!((t.component - 10) / 20, t.class);
            }
        }
        assert!(d.test.is_empty() && d.test_tags.is_empty());
        assert!(LongTail { records: 100, ..lt }.validate().is_err());
        assert!(LongTail {
            label_noise: 1.5,
            ..lt
        }
        .validate()
        .is_err());
    }

    /// Test records come after every other draw (a population with them has the same
    /// training records as without), one per tail component per `tail_test`, drawn near that
    /// component; component sizes respect `tail_size_min..=tail_size_max`. A bug that drew the
    /// test records before the label noise, or from the wrong component's mean, fails here.
    #[test]
    fn test_records_and_component_sizes() {
        let lt = LongTail {
            records: 1500,
            population: 100,
            tail_components: 5,
            tail_size_min: 3,
            tail_size_max: 5,
            ..LongTail::default()
        };
        let plain = lt.generate(&mut rng_from_seed(4)).unwrap();
        let with = LongTail {
            tail_test: 2,
            head_test: 30,
            ..lt
        }
        .generate(&mut rng_from_seed(4))
        .unwrap();
        assert_eq!(with.examples, plain.examples);
        assert_eq!(with.tags, plain.tags);
        assert_eq!(with.test.len(), 2 * 50 + 30);
        assert_eq!(with.test_tags.len(), with.test.len());
        let mut sizes = vec![0usize; MiaData::components(&lt)];
        for t in &plain.tags[..1500] {
            sizes[t.component] += 1;
        }
        assert!(sizes[10..].iter().all(|s| (3..=5).contains(s)), "{sizes:?}");
        // Each tail test record is closer to its component's training records' centroid
        // than to any other component's (distance 6 between a tail and its head mean,
        // within-component σ = 1 in 32 dimensions: ‖x − ν‖ ≈ √32 ≈ 5.7 against ≈ 8.5 to
        // another component's mean).
        let centroid = |c: usize| {
            let idx: Vec<usize> = (0..1500)
                .filter(|&j| plain.tags[j].component == c)
                .collect();
            let mut m = DVector::<f64>::zeros(32);
            for &j in &idx {
                m += plain.examples.x().column(j);
            }
            m / idx.len() as f64
        };
        let centroids: Vec<DVector<f64>> = (0..60).map(centroid).collect();
        let mut nearest_own = 0;
        for (j, t) in with.test_tags.iter().enumerate().take(100) {
            assert!(t.tail);
            let x = with.test.x().column(j);
            let best = (0..60)
                .min_by(|&a, &b| {
                    (x - &centroids[a])
                        .norm()
                        .total_cmp(&(x - &centroids[b]).norm())
                })
                .unwrap();
            nearest_own += usize::from(best == t.component);
        }
        // Centroids of 3–5 noisy records: most, not all, test records land nearest their own.
        assert!(nearest_own >= 70, "{nearest_own}/100");
        assert!(with.test_tags[100..].iter().all(|t| !t.tail));
        assert!(LongTail {
            tail_size_min: 0,
            ..lt
        }
        .validate()
        .is_err());
    }

    /// `tail_spread` scales the tail records' noise and nothing else: at 1 the population is
    /// bit-identical to one without the field (and its key leaves the field out), at 0.1
    /// every tail record lies ten times closer to its component's mean while head records and
    /// every other draw are unchanged. Mutation seen failing: applying the spread to the head
    /// records too (`fill(i, &self.heads[c], self.tail_spread, rng)`).
    #[test]
    fn tail_spread_scales_tail_noise_only() {
        let lt = LongTail {
            records: 800,
            population: 50,
            tail_components: 4,
            ..LongTail::default()
        };
        let base = lt.generate(&mut rng_from_seed(9)).unwrap();
        let same = LongTail {
            tail_spread: 1.0,
            ..lt
        };
        assert_eq!(
            same.generate(&mut rng_from_seed(9)).unwrap().examples,
            base.examples
        );
        assert!(!serde_json::to_string(&same)
            .unwrap()
            .contains("tail_spread"));
        let tight = LongTail {
            tail_spread: 0.1,
            ..lt
        };
        assert!(serde_json::to_string(&tight)
            .unwrap()
            .contains("tail_spread"));
        let t = tight.generate(&mut rng_from_seed(9)).unwrap();
        assert_eq!(t.tags, base.tags);
        assert_eq!(t.examples.y(), base.examples.y());
        // Same means, same standard normals: x_tight − ν = 0.1·(x − ν) for a tail record, so
        // the difference of two members of one component shrinks tenfold (to rounding).
        let (x, xt) = (base.examples.x(), t.examples.x());
        let mut pairs = 0;
        for j in 0..800 {
            if !base.tags[j].tail {
                assert_eq!(x.column(j), xt.column(j), "head record {j}");
                continue;
            }
            if j + 1 < 800 && base.tags[j + 1].component == base.tags[j].component {
                let d = (x.column(j) - x.column(j + 1)).norm();
                let dt = (xt.column(j) - xt.column(j + 1)).norm();
                assert!((dt - 0.1 * d).abs() < 1e-9 * d, "{dt} vs {d}");
                pairs += 1;
            }
        }
        assert!(pairs > 0);
        for bad in [0.0, -1.0, f64::NAN, 1e3] {
            assert!(LongTail {
                tail_spread: bad,
                ..lt
            }
            .validate()
            .is_err());
        }
    }
}
