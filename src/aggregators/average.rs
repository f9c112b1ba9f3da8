//! The plain average, (1/n) Σ xᵢ: optimal without adversaries, breakdown point 0.
//!
//! ByzFL: `Average()`. No parameters; accepts any n ≥ 1.
//!
//! **Not robust**, and says so: when an input holds ±∞ (the `inf` attack) or NaN (read as +∞,
//! see [`crate::data::NonFiniteEntries::AtInfinity`]) the mean is ±∞ or undefined (∞ − ∞), and
//! the rule returns [`Error::NonFinite`] naming the first such vector and pointing to the
//! robust rules, in both modes (ByzFL returns that ±∞/NaN vector). A sum
//! of finite inputs that overflows (entries near 1.7·10³⁰⁸) is recomputed so that the mean of
//! finite numbers stays finite.

use super::{expanded_indices, AggContext, Aggregator, FillLast};
use crate::data::{map_blocks_mut_in_order, mean_of_rows_after, UpdatesView, MEAN_BLOCK};
use crate::params::{Compat, Params, Spec};
use crate::{Error, Result};
use nalgebra::DVector;

/// Registry entry.
pub const SPEC: Spec<dyn Aggregator> = Spec {
    name: "average",
    byzfl: Some("Average"),
    keys: &["f"],
    summary: "arithmetic mean; not robust (breakdown 0), the baseline",
    build,
};

fn build(_: &Params, _: Compat) -> Result<Box<dyn Aggregator>> {
    Ok(Box::new(Average))
}

/// Arithmetic mean of the inputs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Average;

impl Aggregator for Average {
    fn name(&self) -> &'static str {
        "average"
    }

    fn check_n(&self, _n: usize) -> Result<()> {
        Ok(())
    }

    fn aggregate(&self, x: UpdatesView<'_>, _cx: &mut AggContext<'_>) -> Result<DVector<f64>> {
        mean_of_positions(x, &(0..x.n()).collect::<Vec<_>>())
    }

    fn takes_counts(&self) -> bool {
        true
    }

    /// The mean of the expanded input, bit for bit: each copy is added in its turn, read
    /// again from cache instead of from a copy in memory.
    fn aggregate_counted(
        &self,
        x: UpdatesView<'_>,
        counts: &[usize],
        _cx: &mut AggContext<'_>,
    ) -> Result<DVector<f64>> {
        mean_of_positions(x, &expanded_indices(x.n(), counts)?)
    }

    /// The mean's pass writes each block of the last column, then adds it (its copies in
    /// their turn) with the same block of the others: the bits of
    /// [`Aggregator::aggregate_counted`] on the written columns. Where the others come first,
    /// each once and in order, and the fill sums them anyway (ALIE's mean), their sum is
    /// taken from it instead of read again.
    fn aggregate_counted_filling(
        &self,
        mut x: FillLast<'_>,
        counts: &[usize],
        cx: &mut AggContext<'_>,
    ) -> Result<DVector<f64>> {
        let Ok(idx) = expanded_indices(x.n(), counts) else {
            return self.aggregate_counted(x.written(), counts, cx);
        };
        let (others, last, fill) = x.parts();
        let others_first = idx.iter().copied().take(others.n()).eq(0..others.n());
        let means = map_blocks_mut_in_order(last, MEAN_BLOCK, |b, out| {
            let lo = b * MEAN_BLOCK;
            let mut acc = vec![0.0; out.len()];
            let offered = fill(others, lo, out, others_first.then_some(&mut acc[..]));
            let summed = if offered {
                // The fill's sums start from the first vector, the mean's from +0: the same
                // additions, except that a zero sum the fill ends at −0 is +0 here.
                acc.iter_mut().for_each(|a| *a += 0.0);
                others.n()
            } else {
                0
            };
            let out = &*out;
            let rows: Vec<&[f64]> = idx
                .iter()
                .map(|&i| {
                    if i < others.n() {
                        &others.col(i)[lo..lo + out.len()]
                    } else {
                        out
                    }
                })
                .collect();
            mean_of_rows_after(&mut acc, &rows, summed);
            acc
        });
        checked_mean(x.filled(), &idx, DVector::from_vec(means.concat()))
    }
}

/// The mean of the columns `idx` of `x` (repeats included), or the rule's error when it is
/// not finite.
fn mean_of_positions(x: UpdatesView<'_>, idx: &[usize]) -> Result<DVector<f64>> {
    checked_mean(x, idx, x.mean_of(idx.iter().copied()))
}

/// `mean`, the mean of the columns `idx` of `x`, or the rule's error when it is not finite.
fn checked_mean(x: UpdatesView<'_>, idx: &[usize], mean: DVector<f64>) -> Result<DVector<f64>> {
    // The O(d) check of the output replaces an O(nd) scan of the input.
    if mean.iter().all(|v| v.is_finite()) {
        return Ok(mean);
    }
    let bad = (0..idx.len())
        .filter(|&p| x.col(idx[p]).iter().any(|v| !v.is_finite()))
        .collect::<Vec<_>>();
    Err(Error::NonFinite {
        what: "input of average".into(),
        detail: format!(
            "the average is not robust: {} of {} vectors (first: vector {}) hold ±inf or \
             NaN, so the mean is infinite or undefined; use a robust rule (median, \
             trmean, ...)",
            bad.len(),
            idx.len(),
            bad.first().copied().unwrap_or(0)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Updates;
    use crate::rng::rng_from_seed;

    #[test]
    fn known_answer() {
        // By hand: mean of (1,2), (3,4), (8,0) = (4, 2).
        let u = Updates::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.0], vec![8.0, 0.0]]).unwrap();
        let mut rng = rng_from_seed(0);
        let out = Average
            .aggregate(u.view(), &mut AggContext::new(&mut rng))
            .unwrap();
        assert_eq!(out.as_slice(), &[4.0, 2.0]);
    }

    #[test]
    fn says_it_is_not_robust_on_infinite_input_and_survives_overflow() {
        let inf = f64::INFINITY;
        let m = nalgebra::DMatrix::from_column_slice(1, 3, &[1.0, inf, 2.0]);
        let u = Updates::new_allow_inf(m).unwrap();
        let mut rng = rng_from_seed(0);
        let e = Average
            .aggregate(u.view(), &mut AggContext::new(&mut rng))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not robust") && e.contains("vector 1"), "{e}");
        // 1.7e308 + 1.6e308 + 1.65e308 overflows; the mean 1.65e308 (to rounding) does not.
        let u = Updates::from_rows(&[vec![1.7e308], vec![1.6e308], vec![1.65e308]]).unwrap();
        let out = Average
            .aggregate(u.view(), &mut AggContext::new(&mut rng))
            .unwrap();
        assert!((out[0] / 1.65e308 - 1.0).abs() < 1e-15, "{}", out[0]);
    }
}
