//! A long tail cut out of the shipped digits (UCI optical digits, 1797 images of 8 × 8
//! pixels, [`crate::learning::sources::digits`]): the same [`MiaData`] shape as the Gaussian
//! [`super::population::LongTail`], on real data.
//!
//! The digits carry no writer ids, so the rare subpopulations are **rare classes**
//! (Feldman, "Does Learning Require Memorization? A Short Tale about a Long Tail", STOC 2020,
//! arXiv 1906.05271: a class seen a handful of times is a subpopulation a learner can only
//! fit by memorising its examples). The last `tail_classes` digits (9, 8, 7 for three) keep
//! only `tail_records` training records each; every other digit is a **head** class and
//! keeps its records. Held out as test records: `tail_test` further images of each rare
//! digit and `head_test` images of the common ones, so accuracy on the tail is measured on
//! fresh images of the rare classes.
//!
//! Layout of [`MiaData`]: the audited records are the rare digits' training records (digit
//! by digit, ascending), then the head training records; no population records; the test
//! records are the rare digits' test images (digit by digit), then the head test images.
//! Tags: `class` = `component` = the digit (a whole rare class is one tail component),
//! `tail` for the rare digits, never `mislabelled` (no label noise: the digits' labels are
//! the writers' own). Canary flags: the audited tail records, as in the Gaussian population.
//!
//! Draws (stream of the caller): one permutation of each rare digit's images (digits
//! ascending) — the first `tail_records` train, the next `tail_test` test — then one
//! permutation of the pooled head images (in file order) — the first `head_test` test, the
//! rest train.

use super::population::{MiaData, RecordTag};
use crate::learning::sources::digits::digits;
use crate::rng::{permutation, SimRng};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// The digit classes.
const DIGIT_CLASSES: usize = 10;

/// Images of the rarest digit (8: 174 images).
const SMALLEST_CLASS: usize = 174;

/// The long-tailed digits' parameters (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigitsTail {
    /// Rare digits (the largest ones), 1..=9.
    pub tail_classes: usize,
    /// Training records kept of each rare digit (≥ 1).
    pub tail_records: usize,
    /// Test images of each rare digit.
    pub tail_test: usize,
    /// Test images of the common digits, in total.
    pub head_test: usize,
}

impl Default for DigitsTail {
    /// Three rare digits (7, 8, 9) with 3 training images each, 50 test images each; 300 test
    /// images of the seven common digits (≈ 960 head training records remain).
    fn default() -> Self {
        DigitsTail {
            tail_classes: 3,
            tail_records: 3,
            tail_test: 50,
            head_test: 300,
        }
    }
}

impl DigitsTail {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        if !(1..DIGIT_CLASSES).contains(&self.tail_classes) {
            return Err(Error::invalid(
                "tail classes",
                self.tail_classes,
                "must be in 1..=9 (at least one common digit)",
            ));
        }
        if self.tail_records == 0
            || self.tail_records.saturating_add(self.tail_test) > SMALLEST_CLASS
        {
            return Err(Error::invalid(
                "tail records",
                format!("{} train + {} test", self.tail_records, self.tail_test),
                format!(
                    "need ≥ 1 training record and train + test ≤ {SMALLEST_CLASS} images per digit"
                ),
            ));
        }
        // The common digits hold at least 174 images each; keep ≥ 2 training records.
        let head_min = SMALLEST_CLASS * (DIGIT_CLASSES - self.tail_classes);
        if self.head_test.saturating_add(2) > head_min {
            return Err(Error::invalid(
                "head test",
                self.head_test,
                format!(
                    "must leave training images of the common digits (≤ {})",
                    head_min - 2
                ),
            ));
        }
        Ok(())
    }

    /// The rare digits, ascending.
    pub fn rare(&self) -> std::ops::Range<usize> {
        DIGIT_CLASSES - self.tail_classes..DIGIT_CLASSES
    }

    /// Splits the shipped digits with draws from `rng`.
    ///
    /// # Errors
    /// What [`DigitsTail::validate`] rejects.
    pub fn generate(&self, rng: &mut SimRng) -> Result<MiaData> {
        self.validate()?;
        let all = digits();
        let class_of = |i: usize| all.y()[i] as usize;
        let tag = |class: usize| RecordTag {
            class,
            component: class,
            tail: self.rare().contains(&class),
            mislabelled: false,
        };
        let (mut train, mut test) = (Vec::new(), Vec::new());
        for c in self.rare() {
            let images: Vec<usize> = (0..all.len()).filter(|&i| class_of(i) == c).collect();
            let order = permutation(rng, images.len());
            let mut picked = order.iter().map(|&k| images[k]);
            train.extend(picked.by_ref().take(self.tail_records));
            test.extend(picked.take(self.tail_test));
        }
        let tail_test_count = test.len();
        let head: Vec<usize> = (0..all.len())
            .filter(|&i| !self.rare().contains(&class_of(i)))
            .collect();
        let order = permutation(rng, head.len());
        test.extend(order[..self.head_test].iter().map(|&k| head[k]));
        train.extend(order[self.head_test..].iter().map(|&k| head[k]));
        debug_assert_eq!(test.len(), tail_test_count + self.head_test);
        let tails = self.tail_classes * self.tail_records;
        let canary: Vec<bool> = (0..train.len()).map(|j| j < tails).collect();
        let examples = all.select(&train).with_canaries(canary)?;
        Ok(MiaData {
            audited: examples.len(),
            tags: train.iter().map(|&i| tag(class_of(i))).collect(),
            test_tags: test.iter().map(|&i| tag(class_of(i))).collect(),
            examples,
            test: all.select(&test),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;

    /// Sizes and tags: 3 rare digits × 3 training images first, then the 1264 images of the
    /// digits 0–6 (scikit-learn's class counts) less 300 test images; 150 + 300 test images
    /// (the rare digits' other images are left out); every tail record is a rare digit and only those;
    /// no image is both trained on and tested (the split is a partition of distinct images);
    /// deterministic per seed. A bug that drew the rare digits' test images from the training
    /// ones (overlap) or tagged by position instead of class fails here.
    #[test]
    fn split_shape_and_tags() {
        let dt = DigitsTail::default();
        let d = dt.generate(&mut rng_from_seed(3)).unwrap();
        assert_eq!(d.audited, 9 + 1264 - 300);
        assert_eq!(d.examples.len(), d.audited);
        assert_eq!((d.test.len(), d.test_tags.len()), (450, 450));
        for (j, t) in d.tags.iter().enumerate() {
            assert_eq!(t.tail, j < 9, "record {j}");
            assert_eq!(t.class, d.examples.y()[j] as usize);
            assert_eq!(t.tail, t.class >= 7);
            assert_eq!(d.examples.canaries()[j], t.tail);
        }
        for (j, t) in d.test_tags.iter().enumerate() {
            assert_eq!(t.tail, j < 150, "test record {j}");
            assert_eq!(t.class, d.test.y()[j] as usize);
        }
        // Distinct images: no image appears more often in train ∪ test than in the whole
        // set (the shipped digits hold a few exact duplicates, hence counts, not a set).
        let all = digits();
        let key = |c: &[f64]| -> Vec<u64> { c.iter().map(|v| v.to_bits()).collect() };
        let mut full = std::collections::HashMap::<Vec<u64>, i64>::new();
        for c in all.x().column_iter() {
            *full.entry(key(c.as_slice())).or_default() += 1;
        }
        for c in d.examples.x().column_iter().chain(d.test.x().column_iter()) {
            let n = full.get_mut(&key(c.as_slice())).unwrap();
            *n -= 1;
            assert!(*n >= 0, "an image is used twice");
        }
        let again = dt.generate(&mut rng_from_seed(3)).unwrap();
        assert_eq!(again.examples, d.examples);
        assert_ne!(
            dt.generate(&mut rng_from_seed(4)).unwrap().examples,
            d.examples
        );
        for bad in [
            DigitsTail {
                tail_classes: 10,
                ..dt
            },
            DigitsTail {
                tail_records: 0,
                ..dt
            },
            DigitsTail {
                tail_test: 172,
                ..dt
            },
            DigitsTail {
                head_test: 5000,
                ..dt
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
