//! Canary records: planted examples whose memorisation the privacy audits measure.
//!
//! A canary is a record from the population made rare on purpose, so that a model that fits
//! it must have memorised it: the "secret sharer" canaries of Carlini, Liu, Erlingsson, Kos &
//! Song, "The Secret Sharer: Evaluating and Testing Unintended Memorization in Neural
//! Networks", USENIX Security 2019, arXiv 1802.08232, and the mislabelled or out-of-distribution
//! canaries of the DP-SGD audits of Jagielski, Ullman & Oprea, "Auditing Differentially Private
//! Machine Learning: How Private is Private SGD?", NeurIPS 2020, arXiv 2006.07709, and Nasr,
//! Hayes, Steinke, Balle, Tramèr, Jagielski, Carlini & Terzis, "Tight Auditing of
//! Differentially Private Machine Learning", USENIX Security 2023, arXiv 2302.07956.
//!
//! Two steps, so that an audit can plant some canaries and hold the others out:
//! [`make_canaries`] draws canary records from a pool (all flagged in
//! [`Examples::canaries`]), and [`plant_canaries`] appends each to one honest client's data,
//! flags included.
//!
//! The kinds ([`CanaryKind`]):
//! - **mislabeled**: a copy of a uniformly drawn pool example with a wrong label, uniform over
//!   the K − 1 others (classification only);
//! - **out_of_distribution**: the point m + 2R·u, where m is the pool's mean feature vector, R
//!   the largest distance of a pool example from m, and u a uniformly random unit vector: twice
//!   as far from the centre as any real example. Its label is uniform on 0..K for
//!   classification, the target of a uniformly drawn pool example for regression.
//!
//! Draw order, canary after canary: mislabeled: the source index, then the label offset
//! (index in 0..K−1); out_of_distribution: p normals for u, then the label index (or the source
//! index for regression). [`plant_canaries`] draws one client index per canary, in order.

use super::examples::{Examples, Task};
use crate::rng::{uniform_index, SimRng};
use crate::{Error, Result};
use nalgebra::{DMatrix, DVector};
use rand::RngExt;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// How a canary record is made (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CanaryKind {
    /// A pool example with a wrong label.
    Mislabeled,
    /// A point twice as far from the pool's mean as any pool example.
    OutOfDistribution,
}

impl CanaryKind {
    /// Reads `mislabeled` or `out_of_distribution` (`ood`).
    ///
    /// # Errors
    /// [`Error::Unknown`] with the closest name.
    pub fn parse(s: &str) -> Result<CanaryKind> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "mislabeled" | "mislabelled" => Ok(CanaryKind::Mislabeled),
            "out_of_distribution" | "ood" => Ok(CanaryKind::OutOfDistribution),
            other => Err(Error::unknown(
                "canary kind (known: mislabeled, out_of_distribution)",
                other,
                ["mislabeled", "out_of_distribution", "ood"],
            )),
        }
    }
}

/// `count` canary records drawn from `pool`, every one flagged as a canary.
///
/// # Errors
/// An empty pool when `count > 0`; mislabeled canaries of a regression task.
pub fn make_canaries(
    pool: &Examples,
    count: usize,
    kind: CanaryKind,
    rng: &mut SimRng,
) -> Result<Examples> {
    let p = pool.features();
    if count > 0 && pool.is_empty() {
        return Err(Error::invalid(
            "canaries",
            count,
            "the pool has no examples to draw from",
        ));
    }
    let classes = match pool.task() {
        Task::Classification { classes } => Some(classes),
        Task::Regression => None,
    };
    let mut x = DMatrix::<f64>::zeros(p, count);
    let mut y = Vec::with_capacity(count);
    match kind {
        CanaryKind::Mislabeled => {
            let k = classes.ok_or_else(|| {
                Error::invalid(
                    "canary kind",
                    "mislabeled",
                    "needs class labels, and the task is regression (use out_of_distribution)",
                )
            })?;
            for c in 0..count {
                let src = uniform_index(rng, pool.len());
                x.set_column(c, &pool.x().column(src));
                let label = pool.y()[src] as usize;
                y.push(((label + 1 + uniform_index(rng, k - 1)) % k) as f64);
            }
        }
        CanaryKind::OutOfDistribution => {
            let n = pool.len().max(1) as f64;
            let mean: DVector<f64> = pool.x().column_sum() / n;
            let radius = pool
                .x()
                .column_iter()
                .map(|col| (col - &mean).norm())
                .fold(0.0, f64::max);
            for c in 0..count {
                let u = DVector::<f64>::from_fn(p, |_, _| rng.sample(StandardNormal));
                let norm = u.norm();
                // A zero draw (probability 0) falls back to the first axis.
                let dir = if norm > 0.0 {
                    u / norm
                } else {
                    DVector::from_fn(p, |i, _| f64::from(u8::from(i == 0)))
                };
                // Everything on a point: a pool of one repeated example (R = 0) still gets a
                // point off it, at unit distance.
                let r = if radius > 0.0 { 2.0 * radius } else { 1.0 };
                x.set_column(c, &(&mean + dir * r));
                y.push(match classes {
                    Some(k) => uniform_index(rng, k) as f64,
                    None => pool.y()[uniform_index(rng, pool.len())],
                });
            }
        }
    }
    Examples::new(x, y, pool.task())?.with_canaries(vec![true; count])
}

/// Appends each canary to one honest client drawn uniformly (one index per canary, in order),
/// after that client's own examples; returns the client of each canary.
///
/// # Errors
/// No clients while there are canaries; canaries whose features or task differ from a
/// client's.
pub fn plant_canaries(
    clients: &mut [Examples],
    canaries: &Examples,
    rng: &mut SimRng,
) -> Result<Vec<usize>> {
    if clients.is_empty() && !canaries.is_empty() {
        return Err(Error::invalid(
            "canaries",
            canaries.len(),
            "there is no client to plant them in",
        ));
    }
    let mut to = Vec::with_capacity(canaries.len());
    for c in 0..canaries.len() {
        let client = uniform_index(rng, clients.len());
        clients[client].append(&canaries.select(&[c]))?;
        to.push(client);
    }
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learning::sources::Synthetic;
    use crate::rng::rng_named;

    fn pool() -> Examples {
        Synthetic::parse("classes=4,features=3,records=200")
            .unwrap()
            .generate(&mut rng_named(5, 0, "data"))
            .unwrap()
    }

    /// Mislabeled canaries are pool examples with a label that differs from the source's.
    ///
    /// Mutation that fails it: `(label + uniform_index(rng, k)) % k` (the label may stay).
    #[test]
    fn mislabeled_canaries_copy_features_and_change_labels() {
        let pool = pool();
        let c = make_canaries(
            &pool,
            300,
            CanaryKind::Mislabeled,
            &mut rng_named(5, 0, "canaries"),
        )
        .unwrap();
        assert_eq!(c.canaries(), &[true; 300][..]);
        for (i, col) in c.x().column_iter().enumerate() {
            let src = (0..pool.len())
                .find(|&j| pool.x().column(j) == col)
                .expect("a canary copies a pool example");
            assert_ne!(pool.y()[src], c.y()[i], "canary {i}");
        }
    }

    /// Out-of-distribution canaries lie at twice the pool's radius from its mean.
    ///
    /// Mutation that fails it: forgetting to add the mean (points centred at 0).
    #[test]
    fn ood_canaries_lie_outside_the_pool() {
        let mut pool = pool();
        pool.shift_features(&[10.0, -5.0, 3.0]).unwrap();
        let c = make_canaries(
            &pool,
            20,
            CanaryKind::OutOfDistribution,
            &mut rng_named(5, 0, "c"),
        )
        .unwrap();
        let mean: DVector<f64> = pool.x().column_sum() / pool.len() as f64;
        let radius = pool
            .x()
            .column_iter()
            .map(|col| (col - &mean).norm())
            .fold(0.0, f64::max);
        for col in c.x().column_iter() {
            // 2R up to rounding of a few ulps of the norm.
            assert!(((col - &mean).norm() - 2.0 * radius).abs() < 1e-9 * radius);
        }
        assert!(c.y().iter().all(|&v| (0.0..4.0).contains(&v)));
    }

    /// Planting appends each canary, flagged, to the client drawn for it, and leaves the
    /// clients' own examples first and unflagged; the draws are fixed by the stream's name.
    ///
    /// Mutation that fails it: planting every canary in client 0.
    #[test]
    fn planting_appends_flagged_records() {
        let pool = pool();
        let mut clients: Vec<Examples> = (0..4).map(|i| pool.select(&[i, i + 4])).collect();
        let canaries =
            make_canaries(&pool, 40, CanaryKind::Mislabeled, &mut rng_named(1, 0, "c")).unwrap();
        let to = plant_canaries(&mut clients, &canaries, &mut rng_named(1, 0, "plant")).unwrap();
        let mut again: Vec<Examples> = (0..4).map(|i| pool.select(&[i, i + 4])).collect();
        assert_eq!(
            plant_canaries(&mut again, &canaries, &mut rng_named(1, 0, "plant")).unwrap(),
            to
        );
        for (i, client) in clients.iter().enumerate() {
            let mine: Vec<usize> = (0..40).filter(|&c| to[c] == i).collect();
            assert_eq!(client.len(), 2 + mine.len());
            assert_eq!(&client.canaries()[..2], &[false, false]);
            assert!(client.canaries()[2..].iter().all(|&f| f));
            for (k, &c) in mine.iter().enumerate() {
                assert_eq!(client.y()[2 + k], canaries.y()[c]);
            }
        }
        // Every client got some of the 40 (each misses all with probability (3/4)^40 ≈ 1e-5).
        assert!((0..4).all(|i| to.contains(&i)), "{to:?}");
    }

    #[test]
    fn errors() {
        let reg = Synthetic::parse("kind=regression,records=5")
            .unwrap()
            .generate(&mut rng_named(1, 0, "r"))
            .unwrap();
        let e =
            make_canaries(&reg, 1, CanaryKind::Mislabeled, &mut rng_named(1, 0, "c")).unwrap_err();
        assert!(e.to_string().contains("regression"), "{e}");
        assert_eq!(
            make_canaries(
                &reg,
                3,
                CanaryKind::OutOfDistribution,
                &mut rng_named(1, 0, "c")
            )
            .unwrap()
            .len(),
            3
        );
        let e = CanaryKind::parse("mislabled").unwrap_err().to_string();
        assert!(e.contains("did you mean `mislabeled`"), "{e}");
        assert_eq!(
            CanaryKind::parse("ood").unwrap(),
            CanaryKind::OutOfDistribution
        );
        let c = make_canaries(
            &pool(),
            1,
            CanaryKind::Mislabeled,
            &mut rng_named(1, 0, "c"),
        )
        .unwrap();
        assert!(plant_canaries(&mut [], &c, &mut rng_named(1, 0, "p")).is_err());
    }
}
