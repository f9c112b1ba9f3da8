//! Synthetic supervised populations: a Gaussian class mixture, a softmax teacher with label
//! noise, and a linear teacher with Gaussian noise (regression).
//!
//! Spec syntax (the CLI's `--data synthetic:...`, parsed by [`Synthetic::parse`]):
//! `classes=K,features=P,records=R,kind=mixture|teacher|regression,separation=S,noise=E`,
//! every key optional. Defaults: a 10-class mixture of 2000 records in 20 features with
//! separation 3 and no label noise; `kind=regression` defaults to noise 0.1.
//!
//! # The three populations
//!
//! Each record's features are p coordinates; z below is a vector of i.i.d. N(0, 1) draws.
//!
//! - **mixture** (classification): class means μ_k = S·z_k/√(2p), k = 0..K, so that
//!   E‖μ_k − μ_l‖² = S² for k ≠ l: S is the expected distance between two class means in units
//!   of the within-class standard deviation, which is 1 (x = μ_y + z). Labels are uniform on
//!   0..K. The Bayes error of two classes at distance S is Φ(−S/2) (6.7 % at S = 3).
//! - **teacher** (classification): x = z, and the label is the teacher's choice
//!   argmax_k w_kᵀx (ties to the lowest k) with teacher rows w_k = z_k/√p. For K = 2 this is a
//!   logistic teacher (the sign of (w_1 − w_0)ᵀx); for K > 2 a softmax teacher at zero
//!   temperature, so the clean labels are a deterministic function of x and every error of a
//!   large enough softmax model comes from the label noise.
//! - **regression**: x = z, y = wᵀx + E·ε with w = z_w/√p (so Var wᵀx ≈ 1) and ε ~ N(0, 1).
//!
//! **Label noise** (classification, rate E ∈ [0, 1]): with probability E a record's label is
//! replaced by one of the K − 1 other classes, uniformly, as in the symmetric label-noise model
//! of Natarajan, Dhillon, Ravikumar & Tewari, "Learning with Noisy Labels", NeurIPS 2013.
//!
//! # Draw order (part of the reproducibility contract)
//!
//! All draws come from the caller's stream, `rand_distr::StandardNormal` for normals and
//! [`crate::rng::uniform_index`] for indices:
//! 1. the population's parameters: the K·p mixture means or teacher rows, class after class,
//!    coordinate order (p draws for the regression teacher);
//! 2. then record after record: for a mixture, the label then p normals; for the teacher and
//!    regression, p normals; then for classification one `f64` in [0, 1) and one index in
//!    0..K−1 for the label noise, and for regression one normal ε. The label-noise draws are
//!    made even at E = 0, so one seed gives the same features at every noise rate.

use super::{key_values, number, MAX_CLASSES};
use crate::data::population::MAX_VALUES;
use crate::learning::examples::{Examples, Task};
use crate::rng::{uniform_index, SimRng};
use crate::{Error, Result};
use nalgebra::DMatrix;
use rand::RngExt;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// Which synthetic population.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyntheticKind {
    /// Gaussian class mixture (classification).
    Mixture,
    /// Softmax (K > 2) or logistic (K = 2) teacher with label noise (classification).
    Teacher,
    /// Linear teacher with Gaussian noise (regression).
    Regression,
}

impl SyntheticKind {
    pub(crate) const NAMES: [&'static str; 3] = ["mixture", "teacher", "regression"];

    fn parse(s: &str) -> Result<SyntheticKind> {
        match s {
            "mixture" => Ok(SyntheticKind::Mixture),
            "teacher" => Ok(SyntheticKind::Teacher),
            "regression" => Ok(SyntheticKind::Regression),
            _ => Err(Error::unknown(
                "synthetic kind (known: mixture, teacher, regression)",
                s,
                SyntheticKind::NAMES,
            )),
        }
    }
}

/// A synthetic population (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Synthetic {
    /// Which population.
    pub kind: SyntheticKind,
    /// Number of classes K ≥ 2 (classification only).
    pub classes: usize,
    /// Number of features p ≥ 1.
    pub features: usize,
    /// Number of records N ≥ 1.
    pub records: usize,
    /// Expected distance S ≥ 0 between two class means (mixture only).
    pub separation: f64,
    /// Label-noise rate in [0, 1] (classification) or the noise standard deviation ≥ 0
    /// (regression).
    pub noise: f64,
}

impl Default for Synthetic {
    /// A 10-class mixture of 2000 records in 20 features, separation 3, no label noise.
    fn default() -> Self {
        Synthetic::default_for(SyntheticKind::Mixture)
    }
}

impl Synthetic {
    const KEYS: [&'static str; 6] = [
        "kind",
        "classes",
        "features",
        "records",
        "separation",
        "noise",
    ];

    /// The defaults of one kind: as [`Synthetic::default`], with noise 0.1 for regression.
    pub fn default_for(kind: SyntheticKind) -> Synthetic {
        Synthetic {
            kind,
            classes: 10,
            features: 20,
            records: 2000,
            separation: 3.0,
            noise: if kind == SyntheticKind::Regression {
                0.1
            } else {
                0.0
            },
        }
    }

    /// Parses the arguments after `synthetic:` (`classes=10,features=20,kind=teacher`); an
    /// empty string gives the defaults.
    ///
    /// # Errors
    /// [`Error::Parse`] for a malformed pair or number, [`Error::Unknown`] for an unknown key or
    /// kind (with the closest as hint), [`Error::InvalidParameter`] for a key that does not
    /// apply to the kind (`classes` for regression, `separation` outside the mixture) and for
    /// what [`Synthetic::validate`] rejects.
    pub fn parse(args: &str) -> Result<Synthetic> {
        let pairs = key_values("synthetic", args, &Synthetic::KEYS)?;
        let kind = match pairs.iter().find(|(k, _)| *k == "kind") {
            Some((_, v)) => SyntheticKind::parse(v)?,
            None => SyntheticKind::Mixture,
        };
        let mut s = Synthetic::default_for(kind);
        for (key, value) in pairs {
            let not_for = |what: &str| {
                Err(Error::invalid(
                    key,
                    value,
                    format!("does not apply to kind={}", what),
                ))
            };
            match key {
                "kind" => {}
                "classes" if kind == SyntheticKind::Regression => return not_for("regression"),
                "separation" if kind != SyntheticKind::Mixture => {
                    return not_for(SyntheticKind::NAMES[kind as usize])
                }
                "classes" => s.classes = count("classes", value)?,
                "features" => s.features = count("features", value)?,
                "records" => s.records = count("records", value)?,
                "separation" => s.separation = number("separation", value)?,
                "noise" => s.noise = number("noise", value)?,
                _ => unreachable!("invariant: key_values checked the keys"),
            }
        }
        s.validate()?;
        Ok(s)
    }

    /// The task of the generated examples.
    pub fn task(&self) -> Task {
        match self.kind {
            SyntheticKind::Regression => Task::Regression,
            _ => Task::Classification {
                classes: self.classes,
            },
        }
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`]: fewer than 2 or more than [`MAX_CLASSES`] classes, zero
    /// features or records, more than [`MAX_VALUES`] feature values (or class parameters),
    /// a negative or non-finite separation, a label-noise rate outside [0, 1] or a negative or
    /// non-finite regression noise.
    pub fn validate(&self) -> Result<()> {
        let classification = self.kind != SyntheticKind::Regression;
        if classification && !(2..=MAX_CLASSES).contains(&self.classes) {
            return Err(Error::invalid(
                "classes",
                self.classes,
                format!("classification needs 2 to {MAX_CLASSES} classes"),
            ));
        }
        for (name, v) in [("features", self.features), ("records", self.records)] {
            if v == 0 {
                return Err(Error::invalid(name, v, "must be at least 1"));
            }
        }
        let values = (self.features as u128) * (self.records.max(self.classes) as u128);
        if values > u128::from(MAX_VALUES) {
            return Err(Error::invalid(
                "records",
                self.records,
                format!("features × records = {values} exceeds {MAX_VALUES} values (8 GiB of f64)"),
            ));
        }
        crate::error::check_non_negative("separation", self.separation)?;
        crate::error::check_non_negative("noise", self.noise)?;
        if classification && self.noise > 1.0 {
            return Err(Error::invalid(
                "noise",
                self.noise,
                "the label-noise rate is a probability in [0, 1]",
            ));
        }
        Ok(())
    }

    /// Draws the examples from `rng` (see the module docs for the draw order).
    ///
    /// # Errors
    /// What [`Synthetic::validate`] rejects.
    pub fn generate(&self, rng: &mut SimRng) -> Result<Examples> {
        self.validate()?;
        let (p, n) = (self.features, self.records);
        let normals = |rng: &mut SimRng, k: usize| -> Vec<f64> {
            (0..k)
                .map(|_| rng.sample::<f64, _>(StandardNormal))
                .collect()
        };
        let mut x = DMatrix::<f64>::zeros(p, n);
        let mut y = Vec::with_capacity(n);
        match self.kind {
            SyntheticKind::Regression => {
                let scale = 1.0 / (p as f64).sqrt();
                let w: Vec<f64> = normals(rng, p).iter().map(|v| v * scale).collect();
                for i in 0..n {
                    let mut col = x.column_mut(i);
                    for v in col.iter_mut() {
                        *v = rng.sample(StandardNormal);
                    }
                    let eps: f64 = rng.sample(StandardNormal);
                    let clean: f64 = col.iter().zip(&w).map(|(a, b)| a * b).sum();
                    y.push(clean + self.noise * eps);
                }
            }
            SyntheticKind::Mixture | SyntheticKind::Teacher => {
                let k = self.classes;
                let scale = match self.kind {
                    SyntheticKind::Mixture => self.separation / (2.0 * p as f64).sqrt(),
                    _ => 1.0 / (p as f64).sqrt(),
                };
                // Class parameters as the columns of a p × K matrix (class after class).
                let params = DMatrix::from_vec(p, k, normals(rng, k * p)) * scale;
                for i in 0..n {
                    let mut label = match self.kind {
                        SyntheticKind::Mixture => uniform_index(rng, k),
                        _ => 0,
                    };
                    let mut col = x.column_mut(i);
                    for v in col.iter_mut() {
                        *v = rng.sample(StandardNormal);
                    }
                    if self.kind == SyntheticKind::Mixture {
                        col += params.column(label);
                    } else {
                        label = argmax_score(&params, col.as_slice());
                    }
                    let u: f64 = rng.random();
                    let other = uniform_index(rng, k - 1);
                    if u < self.noise {
                        label = (label + 1 + other) % k;
                    }
                    y.push(label as f64);
                }
            }
        }
        Examples::new(x, y, self.task())
    }
}

/// argmax_k w_kᵀx over the columns w_k of `w`, ties to the lowest k.
fn argmax_score(w: &DMatrix<f64>, x: &[f64]) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (k, col) in w.column_iter().enumerate() {
        let s: f64 = col.iter().zip(x).map(|(a, b)| a * b).sum();
        if s > best.1 {
            best = (k, s);
        }
    }
    best.0
}

/// A count written as a number (`records=2000`, `records=2e3`).
fn count(key: &str, value: &str) -> Result<usize> {
    let v = number(key, value)?;
    if v < 0.0 || v.fract() != 0.0 || v > 1e15 {
        return Err(Error::invalid(
            key,
            value,
            "must be a non-negative integer, at most 1e15",
        ));
    }
    Ok(v as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_named;

    fn gen(spec: &str, name: &str) -> Examples {
        Synthetic::parse(spec)
            .unwrap()
            .generate(&mut rng_named(7, 0, name))
            .unwrap()
    }

    #[test]
    fn spec_defaults_and_errors() {
        assert_eq!(Synthetic::parse("").unwrap(), Synthetic::default());
        let s =
            Synthetic::parse("classes=3, features=5,records=2e2,kind=teacher,noise=0.1").unwrap();
        assert_eq!(
            (s.kind, s.classes, s.features, s.records, s.noise),
            (SyntheticKind::Teacher, 3, 5, 200, 0.1)
        );
        assert_eq!(Synthetic::parse("kind=regression").unwrap().noise, 0.1);
        for (spec, want) in [
            ("clases=3", "did you mean `classes`"),
            ("kind=teachr", "did you mean `teacher`"),
            ("classes", "expected KEY=VALUE"),
            ("classes=x", "`x` is not a number"),
            ("classes=1", "2 to 65536 classes"),
            ("classes=2.5", "non-negative integer"),
            ("records=0", "at least 1"),
            ("noise=1.5", "probability"),
            ("noise=nan", "finite"),
            (
                "kind=regression,classes=3",
                "does not apply to kind=regression",
            ),
            (
                "kind=teacher,separation=2",
                "does not apply to kind=teacher",
            ),
            ("features=100000,records=100000", "exceeds"),
            ("classes=3,classes=4", "twice"),
        ] {
            let e = Synthetic::parse(spec).unwrap_err().to_string();
            assert!(e.contains(want), "{spec}: {e}");
        }
    }

    #[test]
    fn shapes_tasks_and_determinism() {
        let a = gen("classes=4,features=6,records=50", "data");
        assert_eq!((a.features(), a.len()), (6, 50));
        assert_eq!(a.task(), Task::Classification { classes: 4 });
        assert_eq!(a, gen("classes=4,features=6,records=50", "data"));
        assert_ne!(a, gen("classes=4,features=6,records=50", "other"));
        let r = gen("kind=regression,features=3,records=10", "data");
        assert_eq!(r.task(), Task::Regression);
    }

    /// Label noise at rate E changes a fraction ≈ E of the labels, never to the same class,
    /// and leaves the features alone (the noise draws are made at every rate).
    ///
    /// Mutation that fails it: drawing the label-noise `u` only when `noise > 0` (the features
    /// of the noisy run then differ from the clean run's), or `(label + other) % k` (a
    /// "flipped" label can equal the clean one, so fewer than E·N labels change).
    #[test]
    fn label_noise_rate_is_measured() {
        let clean = gen("kind=teacher,classes=5,features=4,records=20000", "d");
        let noisy = gen(
            "kind=teacher,classes=5,features=4,records=20000,noise=0.3",
            "d",
        );
        assert_eq!(clean.x(), noisy.x());
        let changed = clean
            .y()
            .iter()
            .zip(noisy.y())
            .filter(|(a, b)| a != b)
            .count() as f64
            / 20000.0;
        // Binomial(20000, 0.3): standard deviation 0.0032; 5 of them.
        assert!((changed - 0.3).abs() < 0.016, "{changed}");
    }

    /// The mixture's separation S is the expected distance between class means in units of
    /// the within-class standard deviation: the class-conditional feature means of a large
    /// sample sit at mean squared distance ≈ S² from each other, and the within-class spread
    /// per coordinate is 1.
    ///
    /// Mutation that fails it: scaling the means by S/√p instead of S/√(2p) (distances
    /// become √2·S).
    #[test]
    fn mixture_separation_is_the_mean_distance() {
        let (k, p, n) = (40usize, 50usize, 40_000usize);
        let e = gen(
            &format!("classes={k},features={p},records={n},separation=4"),
            "sep",
        );
        let mut sums = DMatrix::<f64>::zeros(p, k);
        let mut counts = vec![0.0; k];
        for (i, &y) in e.y().iter().enumerate() {
            let c = y as usize;
            sums.column_mut(c).axpy(1.0, &e.x().column(i), 1.0);
            counts[c] += 1.0;
        }
        for (c, &m) in counts.iter().enumerate() {
            sums.column_mut(c).scale_mut(1.0 / m);
        }
        let mut total = 0.0;
        let mut pairs = 0.0;
        for a in 0..k {
            for b in a + 1..k {
                total += (sums.column(a) - sums.column(b)).norm_squared();
                pairs += 1.0;
            }
        }
        // Each class mean is estimated from ~1000 records: bias 2p/1000 = 0.1 on the squared
        // distance; the 780 pairs of 40 drawn means average S²·χ²_p/p-type fluctuations of
        // relative size ~√(2/p)/√k ≈ 3 %. Tolerance 10 % of S² = 16.
        assert!((total / pairs - 16.0).abs() < 1.6, "{}", total / pairs);
    }

    /// The regression targets follow y = wᵀx + E·ε: least squares on a large sample leaves a
    /// residual variance ≈ E².
    ///
    /// Mutation that fails it: dropping the `noise *` factor on ε (residual variance 1).
    #[test]
    fn regression_noise_has_the_stated_variance() {
        let e = gen("kind=regression,features=2,records=20000,noise=0.5", "reg");
        // Least squares of y on x recovers w; the residual variance estimates E² = 0.25.
        let x = e.x();
        let xtx = x * x.transpose();
        let xty = x * nalgebra::DVector::from_column_slice(e.y());
        let w = xtx.lu().solve(&xty).unwrap();
        let resid: f64 = (0..e.len())
            .map(|i| (e.y()[i] - x.column(i).dot(&w)).powi(2))
            .sum::<f64>()
            / e.len() as f64;
        // Relative standard deviation of a variance estimate from 20000 normals: √(2/20000) =
        // 1 %; 5 % tolerance.
        assert!((resid - 0.25).abs() < 0.0125, "{resid}");
    }
}
