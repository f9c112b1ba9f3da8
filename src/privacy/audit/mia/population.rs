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
//! Draw order (stream of the caller): K·p normals for the head means; per class, per tail
//! component: p normals for u, one size index in 0..3; then record after record (tail records
//! class by class, then head records, then population records): for a head record the label
//! index, then p normals; then one f64 and one index in 0..K−1 for the label noise.

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
        let tail_max = 3 * self.tail_components * self.classes;
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
        for (c, head) in heads.iter().enumerate() {
            for _ in 0..self.tail_components {
                let u = DVector::from_fn(p, |_, _| normal(rng));
                let norm = u.norm();
                let dir = if norm > 0.0 {
                    u / norm
                } else {
                    DVector::zeros(p)
                };
                let size = 1 + uniform_index(rng, 3);
                tails.push((head + dir * self.tail_distance, c, size));
            }
        }
        let total = self.records + self.population;
        let mut x = DMatrix::<f64>::zeros(p, total);
        let mut y = Vec::with_capacity(total);
        let mut canary = Vec::with_capacity(total);
        let mut fill = |i: usize, mean: &DVector<f64>, rng: &mut SimRng| {
            for (r, v) in x.column_mut(i).iter_mut().enumerate() {
                *v = mean[r] + normal(rng);
            }
        };
        let mut i = 0;
        for (mean, c, size) in &tails {
            for _ in 0..*size {
                fill(i, mean, rng);
                y.push(*c);
                canary.push(true);
                i += 1;
            }
        }
        while i < total {
            let c = uniform_index(rng, k);
            fill(i, &heads[c], rng);
            y.push(c);
            canary.push(false);
            i += 1;
        }
        // Label noise, record after record (draws made whatever the rate).
        let mut labels = Vec::with_capacity(total);
        for (j, &c) in y.iter().enumerate() {
            let flip = rng.random::<f64>() < self.label_noise;
            let other = uniform_index(rng, k - 1);
            let label = if flip {
                if j < self.records {
                    canary[j] = true;
                }
                (c + 1 + other) % k
            } else {
                c
            };
            labels.push(label as f64);
        }
        canary[self.records..].iter_mut().for_each(|f| *f = false);
        let examples =
            Examples::new(x, labels, Task::Classification { classes: k })?.with_canaries(canary)?;
        Ok(MiaData {
            examples,
            audited: self.records,
        })
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
        assert!(LongTail { records: 100, ..lt }.validate().is_err());
        assert!(LongTail {
            label_noise: 1.5,
            ..lt
        }
        .validate()
        .is_err());
    }
}
