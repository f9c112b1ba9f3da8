//! Median of means: split the inputs into k groups, average each group, and return the
//! coordinate-wise median of the k group means.
//!
//! Not in ByzFL: `Compat::Byzfl` refuses it (`Error::Unsupported`). Keys:
//! - `k`: number of groups, 1 ≤ k ≤ n. Default **2f + 1** (the fewest groups such that the f
//!   Byzantine inputs can spoil at most f of them, a minority), which is **1 (the mean) when
//!   f = 0**.
//! - `f`: declared Byzantine count; when given with `k`, k ≥ 2f + 1 is required.
//! - `shuffle` (0 or 1, default 1): 1 assigns inputs to groups by a uniform random permutation
//!   drawn from [`AggContext::rng`] (the random partition of the estimator's analysis, and
//!   independent of the order in which the caller stacked honest and Byzantine inputs); 0
//!   uses the input order, so that the result is deterministic without randomness.
//!
//! Groups are consecutive runs of the (permuted) inputs with sizes ⌈n/k⌉ for the first
//! n mod k groups and ⌊n/k⌋ for the rest. Requires n ≥ k.
//!
//! The means are formed block by block inside the coordinate-wise median's transposed buffer
//! (see the internal `coordinatewise` module), so no k×d temporary is allocated.
//!
//! **NaN** (native, read as +∞ by `Updates::new_untrusted`): the group holding it has a +∞
//! mean in that coordinate, one of the at most f spoiled groups the median of the 2f + 1
//! group means discards.
//!
//! # References
//! - A. S. Nemirovsky, D. B. Yudin, "Problem complexity and method efficiency in
//!   optimization", Wiley, 1983.
//! - G. Lugosi, S. Mendelson, "Mean estimation and regression under heavy-tailed
//!   distributions: a survey", Foundations of Computational Mathematics 19, 2019,
//!   arXiv 1906.04280.

use super::coordinatewise::{map_blocks, streams_from_memory, BLOCK};
use super::median::median_kernel;
use super::{AggContext, Aggregator};
use crate::data::{add_weighted_rows, mean_without_overflow, UpdatesView};
use crate::params::{Compat, Params, Spec};
use crate::{Error, Result};
use nalgebra::DVector;

/// Registry entry.
pub const SPEC: Spec<dyn Aggregator> = Spec {
    name: "median_of_means",
    byzfl: None,
    keys: &["f", "k", "shuffle"],
    summary: "coordinate-wise median of k group means (k = 2f+1 by default, random groups)",
    build,
};

fn build(p: &Params, _: Compat) -> Result<Box<dyn Aggregator>> {
    let f = p.f()?;
    let k = p.count("k", 2 * f + 1)?;
    if k == 0 {
        return Err(Error::invalid("k", k, "need at least one group"));
    }
    if k < 2 * f + 1 {
        return Err(Error::invalid(
            "k",
            k,
            format!(
                "must be >= 2f + 1 = {} so that most groups are clean",
                2 * f + 1
            ),
        ));
    }
    let shuffle = match p.count("shuffle", 1)? {
        0 => false,
        1 => true,
        s => return Err(Error::invalid("shuffle", s, "must be 0 or 1")),
    };
    Ok(Box::new(MedianOfMeans::new(k, shuffle)))
}

/// Coordinate-wise median of k group means.
#[derive(Clone, Copy, Debug)]
pub struct MedianOfMeans {
    k: usize,
    shuffle: bool,
}

impl MedianOfMeans {
    /// `k` ≥ 1 groups, formed by a random permutation from the context's stream when
    /// `shuffle`, else in input order.
    pub fn new(k: usize, shuffle: bool) -> Self {
        MedianOfMeans { k, shuffle }
    }
}

impl Aggregator for MedianOfMeans {
    fn name(&self) -> &'static str {
        "median_of_means"
    }

    fn check_n(&self, n: usize) -> Result<()> {
        if n < self.k {
            return Err(Error::too_few(
                "median_of_means",
                format!("n >= k = {}", self.k),
                format!("n = {n}"),
            ));
        }
        Ok(())
    }

    fn aggregate(&self, x: UpdatesView<'_>, cx: &mut AggContext<'_>) -> Result<DVector<f64>> {
        self.check_n(x.n())?;
        let (n, k) = (x.n(), self.k);
        let order = if self.shuffle {
            crate::rng::permutation(cx.rng, n)
        } else {
            (0..n).collect()
        };
        let (q, r) = (n / k, n % k);
        let mut groups: Vec<&[usize]> = Vec::with_capacity(k);
        let mut start = 0;
        for g in 0..k {
            let size = q + usize::from(g < r);
            groups.push(&order[start..start + size]);
            start += size;
        }
        let ones = vec![1.0; q + 1];
        let out = map_blocks(
            x.d(),
            k,
            |j0, len, buf| {
                let mut acc = [0.0f64; BLOCK];
                for (g, members) in groups.iter().enumerate() {
                    let acc = &mut acc[..len];
                    acc.fill(0.0);
                    let rows: Vec<&[f64]> =
                        members.iter().map(|&i| &x.col(i)[j0..j0 + len]).collect();
                    add_weighted_rows(acc, &rows, &ones, None);
                    let size = members.len() as f64;
                    for a in acc.iter_mut() {
                        *a /= size;
                    }
                    mean_without_overflow(acc, &rows, &ones, size);
                    buf.set_wire(g, acc);
                }
            },
            median_kernel(k),
            |j, len| {
                if streams_from_memory(x) {
                    for &i in &order {
                        crate::simd::prefetch(&x.col(i)[j..j + len]);
                    }
                }
            },
        );
        Ok(DVector::from_vec(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Updates;
    use crate::rng::rng_from_seed;

    fn run(p: &Params, u: &Updates, seed: u64) -> Result<Vec<f64>> {
        let mut rng = rng_from_seed(seed);
        build(p, Compat::Native)?
            .aggregate(u.view(), &mut AggContext::new(&mut rng))
            .map(|v| v.as_slice().to_vec())
    }

    fn line(points: &[f64]) -> Updates {
        Updates::from_rows(&points.iter().map(|&p| vec![p]).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn known_answers_in_input_order() {
        // 7 inputs, k = 3, no shuffle: groups {0,1,2}, {3,4}, {5,6} (sizes 3, 2, 2).
        // Values 1, 2, 3 | 10, 20 | 100, −100 → means 2, 15, 0 → median 2.
        let u = line(&[1., 2., 3., 10., 20., 100., -100.]);
        let p = Params::new().with("k", 3.0).with("shuffle", 0.0);
        assert_eq!(run(&p, &u, 0).unwrap(), vec![2.0]);
        // Default k with f = 1 is 3: the same groups.
        let p = Params::new().with("f", 1.0).with("shuffle", 0.0);
        assert_eq!(run(&p, &u, 0).unwrap(), vec![2.0]);
        // f = 0 and no k: one group, the mean (1+2+3+10+20+100−100)/7 = 36/7.
        let p = Params::new().with("shuffle", 0.0);
        assert_eq!(run(&p, &u, 0).unwrap(), vec![36.0 / 7.0]);
        // k = n: the coordinate-wise median, 3.
        let p = Params::new().with("k", 7.0).with("shuffle", 0.0);
        assert_eq!(run(&p, &u, 0).unwrap(), vec![3.0]);
    }

    #[test]
    fn shuffled_groups_are_seeded() {
        // With shuffling, the same seed gives the same output, and k = n (singleton groups)
        // does not depend on the permutation at all.
        let u = line(&[1., 2., 3., 10., 20., 100., -100.]);
        let p = Params::new().with("k", 3.0);
        assert_eq!(run(&p, &u, 5).unwrap(), run(&p, &u, 5).unwrap());
        let p = Params::new().with("k", 7.0);
        assert_eq!(run(&p, &u, 1).unwrap(), vec![3.0]);
        assert_eq!(run(&p, &u, 2).unwrap(), vec![3.0]);
    }

    #[test]
    fn parameter_and_n_errors() {
        let u = line(&[1., 2.]);
        let e = run(&Params::new().with("k", 3.0), &u, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("n >= k = 3") && e.contains("n = 2"), "{e}");
        let e = run(&Params::new().with("f", 2.0), &u, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("n >= k = 5"), "{e}");
        let e = build(&Params::new().with("f", 2.0).with("k", 4.0), Compat::Native)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("2f + 1 = 5"), "{e}");
        assert!(build(&Params::new().with("k", 0.0), Compat::Native).is_err());
        assert!(build(&Params::new().with("shuffle", 2.0), Compat::Native).is_err());
    }

    #[test]
    fn infinite_group_is_outvoted() {
        // Groups {0,1}, {2,3}, {4,5} (no shuffle): the last holds +∞ → means 1.5, 3.5, ∞ →
        // median 3.5.
        let inf = f64::INFINITY;
        let u = Updates::new_allow_inf(nalgebra::DMatrix::from_column_slice(
            1,
            6,
            &[1., 2., 3., 4., 5., inf],
        ))
        .unwrap();
        let p = Params::new().with("k", 3.0).with("shuffle", 0.0);
        assert_eq!(run(&p, &u, 0).unwrap(), vec![3.5]);
    }
}
