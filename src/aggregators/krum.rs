//! Krum: returns the input vector whose nearest neighbours are closest, by the sum of squared
//! distances to its neighbours.
//!
//! ByzFL: `Krum(f=0)`. The two variants differ in the neighbour count:
//! - **`Compat::Native`** (Blanchard et al. 2017): scoreᵢ = Σ of the n − f − 2 smallest
//!   ‖xᵢ − xⱼ‖², j ≠ i. Requires **n > 2f + 2** (the paper's hypothesis; with fewer inputs the
//!   neighbour count n − f − 2 ≤ f no longer guarantees an honest majority among neighbours).
//! - **`Compat::Byzfl`** (`aggregators.py`, `Krum.__call__`): the row of squared distances
//!   (self included) is sorted and columns 1 … n − f − 1 are averaged, i.e. the mean of the
//!   n − f − 1 smallest distances to others. Requires 2f < n, as ByzFL. On random 12-point
//!   instances with f = 3 the two choices agree in about 85% of trials (byzfl.md §5).
//!
//! The output is x_{argmin score}; ties go to the lowest index, as NumPy's `argmin` (first
//! occurrence). With the `inf` attack, distances follow SciPy's `cdist` (∞ to a finite vector,
//! NaN between two +∞ vectors); NaN sorts last within a row, and in Byzfl mode a NaN score wins
//! the argmin exactly as in NumPy (which returns the first NaN), so when more than f vectors
//! are +∞ ByzFL and lbounds both return a +∞ vector. Native mode ranks a NaN score last.
//!
//! Cost: one blocked pass over the data, then O(n² log n). Native mode takes the n(n+1)/2
//! distances from the Gram matrix about an input near the data (one multiply-add per pair and
//! coordinate instead of a subtraction and a multiply-add), and recomputes directly the
//! distances that the expansion would lose to cancellation (close vectors, identical copies,
//! non-finite ones): see `distances::pairwise_sq_dists_by_gram` for why the selection is the
//! direct one's. Byzfl mode sums the squared differences directly, as SciPy's `cdist`.
//!
//! **NaN** (native, read as +∞ by `Updates::new_untrusted`): its vector is at infinity, its
//! score ∞ or NaN ranks last, and it is never selected while at most f vectors are non-finite.
//!
//! # References
//! - P. Blanchard, E. M. El Mhamdi, R. Guerraoui, J. Stainer, "Machine learning with
//!   adversaries: Byzantine tolerant gradient descent", NeurIPS 2017.

use super::distances::{
    gram_near_majority_counted_filling, nan_last, pairwise_sq_dists, pairwise_sq_dists_by_gram,
    pairwise_sq_dists_by_gram_counted, sq_dists_from_gram_counted,
};
use super::{
    expand, expanded_indices, require_honest_majority, require_pairwise_fits, AggContext,
    Aggregator, FillLast,
};
use crate::data::UpdatesView;
use crate::params::{Compat, Params, Spec};
use crate::{Error, Result};
use nalgebra::DVector;

/// Registry entry.
pub const SPEC: Spec<dyn Aggregator> = Spec {
    name: "krum",
    byzfl: Some("Krum"),
    keys: &["f"],
    summary: "the input with the smallest sum of squared distances to its n-f-2 neighbours",
    build,
};

fn build(p: &Params, compat: Compat) -> Result<Box<dyn Aggregator>> {
    Ok(Box::new(Krum::new(p.f()?, compat)))
}

/// Krum with declared f.
#[derive(Clone, Copy, Debug)]
pub struct Krum {
    f: usize,
    compat: Compat,
}

impl Krum {
    /// Krum tolerating `f` Byzantine inputs, with ByzFL's or the paper's neighbour count.
    pub fn new(f: usize, compat: Compat) -> Self {
        Krum { f, compat }
    }

    /// The native selection from the n×n distances.
    fn native_best(&self, d2: &[f64], n: usize) -> usize {
        let all: Vec<usize> = (0..n).collect();
        argmin_nan_last(&native_scores(d2, n, &all, n - self.f - 2))
    }

    /// The native rule's output on the distinct columns `x` (with `counts` copies, n in
    /// all) from their squared distances `d2` and those between copies of each.
    fn native_best_counted(
        &self,
        x: UpdatesView<'_>,
        d2: &[f64],
        copies: &[f64],
        counts: &[usize],
        n: usize,
    ) -> DVector<f64> {
        let scores = native_scores_counted(d2, copies, counts, n - self.f - 2);
        // The first minimum among the columns present (NaN last), as over the expansion.
        let mut present = (0..x.n()).filter(|&i| counts[i] > 0);
        let first = present.next().unwrap_or(0);
        let best = present.fold(first, |b, i| {
            if nan_last(scores[i], scores[b]).is_lt() {
                i
            } else {
                b
            }
        });
        DVector::from_column_slice(x.col(best))
    }
}

/// Krum's requirement on n for either variant (shared with Multi-Krum).
pub(crate) fn check_krum_n(rule: &str, n: usize, f: usize, compat: Compat) -> Result<()> {
    require_pairwise_fits(rule, n)?;
    match compat {
        Compat::Byzfl => require_honest_majority(rule, n, f),
        Compat::Native if n <= 2 * f + 2 => Err(Error::too_few(
            rule,
            format!("n > 2f + 2 = {}", 2 * f + 2),
            format!("n = {n} (f = {f})"),
        )),
        Compat::Native => Ok(()),
    }
}

/// ByzFL's scores: for each i, the mean of entries 1 … n − f − 1 of row i sorted (self
/// included, NaN last). Scores are 0 when there is no neighbour to average (n − f − 1 = 0).
pub(crate) fn byzfl_scores(d2: &[f64], n: usize, f: usize) -> Vec<f64> {
    let m = n - f - 1;
    (0..n)
        .map(|i| {
            let row = smallest_sorted(d2[i * n..(i + 1) * n].to_vec(), m + 1);
            if m == 0 {
                0.0
            } else {
                row[1..=m].iter().sum::<f64>() / m as f64
            }
        })
        .collect()
}

/// Blanchard et al.'s scores restricted to `members`: for each member i, the sum of the
/// `m` smallest squared distances to the other members (NaN last). `m` is clamped to the
/// number of other members.
pub(crate) fn native_scores(d2: &[f64], n: usize, members: &[usize], m: usize) -> Vec<f64> {
    members
        .iter()
        .map(|&i| {
            let row: Vec<f64> = members
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| d2[i * n + j])
                .collect();
            smallest_sorted(row, m).iter().sum()
        })
        .collect()
}

/// [`native_scores`] over all of the expanded input (column i of the distances `d2` counted
/// `counts[i]` times, two copies of it `copies[i]` apart; `aggregators::expand`), one score
/// per distinct column (that of each of its copies; +∞, unused, for a column counted 0): the same
/// multisets of distances, so the same bits.
pub(crate) fn native_scores_counted(
    d2: &[f64],
    copies: &[f64],
    counts: &[usize],
    m: usize,
) -> Vec<f64> {
    let n = counts.len();
    (0..n)
        .map(|i| {
            if counts[i] == 0 {
                return f64::INFINITY;
            }
            let mut row = Vec::with_capacity(counts.iter().sum());
            for j in (0..n).filter(|&j| j != i) {
                row.extend(std::iter::repeat_n(d2[i * n + j], counts[j]));
            }
            row.extend(std::iter::repeat_n(copies[i], counts[i] - 1));
            smallest_sorted(row, m).iter().sum()
        })
        .collect()
}

/// The `k` smallest values of `row` in ascending order (NaN last; all of them when k ≥ len):
/// a selection, then a sort of the k, instead of sorting the whole row.
fn smallest_sorted(mut row: Vec<f64>, k: usize) -> Vec<f64> {
    if k < row.len() {
        row.select_nth_unstable_by(k, |a, b| nan_last(*a, *b));
        row.truncate(k);
    }
    row.sort_unstable_by(|a, b| nan_last(*a, *b));
    row
}

/// NumPy's `argmin`: the first NaN if there is one, else the first minimum.
pub(crate) fn argmin_numpy(s: &[f64]) -> usize {
    if let Some(i) = s.iter().position(|v| v.is_nan()) {
        return i;
    }
    argmin_nan_last(s)
}

/// The first minimum, NaN ranked after every number.
pub(crate) fn argmin_nan_last(s: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in s.iter().enumerate() {
        if nan_last(*v, s[best]).is_lt() {
            best = i;
        }
    }
    best
}

impl Aggregator for Krum {
    fn name(&self) -> &'static str {
        "krum"
    }

    fn check_n(&self, n: usize) -> Result<()> {
        check_krum_n("krum", n, self.f, self.compat)
    }

    fn aggregate(&self, x: UpdatesView<'_>, _cx: &mut AggContext<'_>) -> Result<DVector<f64>> {
        self.check_n(x.n())?;
        let n = x.n();
        // ByzFL's selection is by SciPy's direct `cdist`; the native one by the Gram form,
        // exact where it matters (see `distances::pairwise_sq_dists_by_gram`).
        let d2 = match self.compat {
            Compat::Byzfl => pairwise_sq_dists(x),
            Compat::Native => pairwise_sq_dists_by_gram(x),
        };
        let best = match self.compat {
            Compat::Byzfl => argmin_numpy(&byzfl_scores(&d2, n, self.f)),
            Compat::Native => self.native_best(&d2, n),
        };
        Ok(DVector::from_column_slice(x.col(best)))
    }

    /// Natively, a non-finite entry (NaN included) makes every distance of its vector
    /// non-finite (n ≥ 3): distances all finite prove the input finite, read as it is.
    fn aggregate_if_finite(
        &self,
        x: UpdatesView<'_>,
        _cx: &mut AggContext<'_>,
    ) -> Result<Option<DVector<f64>>> {
        if self.compat == Compat::Byzfl {
            return Ok(None);
        }
        self.check_n(x.n())?;
        let d2 = pairwise_sq_dists_by_gram(x);
        if !d2.iter().all(|v| v.is_finite()) {
            return Ok(None);
        }
        Ok(Some(DVector::from_column_slice(
            x.col(self.native_best(&d2, x.n())),
        )))
    }

    fn takes_counts(&self) -> bool {
        self.compat == Compat::Native
    }

    /// The native rule on the distinct columns: the Gram pass over them alone, the scores
    /// over the expanded multisets of distances, the first copy of the best column: the
    /// expanded input's output, bit for bit.
    fn aggregate_counted(
        &self,
        x: UpdatesView<'_>,
        counts: &[usize],
        cx: &mut AggContext<'_>,
    ) -> Result<DVector<f64>> {
        if self.compat == Compat::Byzfl {
            return self.aggregate(expand(x, counts)?.view(), cx);
        }
        let n: usize = expanded_indices(x.n(), counts)?.len();
        self.check_n(n)?;
        let (d2, copies) = pairwise_sq_dists_by_gram_counted(x, counts);
        Ok(self.native_best_counted(x, &d2, &copies, counts, n))
    }

    /// The native rule with the last column written during the Gram pass: the bits of
    /// [`Aggregator::aggregate_counted`] on the written columns.
    fn aggregate_counted_filling(
        &self,
        x: FillLast<'_>,
        counts: &[usize],
        cx: &mut AggContext<'_>,
    ) -> Result<DVector<f64>> {
        let n: usize = counts.iter().sum();
        if self.compat == Compat::Byzfl || counts.len() != x.n() || self.check_n(n).is_err() {
            return self.aggregate_counted(x.written(), counts, cx);
        }
        let (g, _, _, x) = gram_near_majority_counted_filling(x, counts);
        let (d2, copies) = sq_dists_from_gram_counted(x, &g, counts);
        Ok(self.native_best_counted(x, &d2, &copies, counts, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Updates;
    use crate::rng::rng_from_seed;

    fn run(f: usize, compat: Compat, u: &Updates) -> Result<Vec<f64>> {
        let mut rng = rng_from_seed(0);
        Krum::new(f, compat)
            .aggregate(u.view(), &mut AggContext::new(&mut rng))
            .map(|v| v.as_slice().to_vec())
    }

    fn line(points: &[f64]) -> Updates {
        Updates::from_rows(&points.iter().map(|&p| vec![p]).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn byzfl_docstring_example() {
        // ByzFL: Krum(1) of (1,2,3), (4,5,6), (7,8,9) = (1,2,3). Squared distances 27 (to the
        // neighbour) and 108; with n − f − 1 = 1 neighbour the scores are 27, 27, 27: a tie,
        // won by the first index.
        let u =
            Updates::from_rows(&[vec![1., 2., 3.], vec![4., 5., 6.], vec![7., 8., 9.]]).unwrap();
        assert_eq!(run(1, Compat::Byzfl, &u).unwrap(), vec![1., 2., 3.]);
    }

    #[test]
    fn neighbour_counts_differ_by_hand() {
        // Points on a line: 0, 1, 3, 4, 100 (n = 5, f = 1).
        // Byzfl: mean of n − f − 1 = 3 nearest squared distances:
        //   0: 1, 9, 16 → 26/3;  1: 1, 4, 9 → 14/3;  3: 1, 4, 9 → 14/3;  4: 1, 9, 16 → 26/3;
        //   100: 96², 97², 99² — huge. Minimum 14/3, first at index 1 → 1.
        // Native (n > 2f + 2 = 4 holds): sum of n − f − 2 = 2 nearest:
        //   0: 1 + 9 = 10; 1: 1 + 4 = 5; 3: 1 + 4 = 5; 4: 1 + 9 = 10 → index 1 → 1.
        let u = line(&[0., 1., 3., 4., 100.]);
        assert_eq!(run(1, Compat::Byzfl, &u).unwrap(), vec![1.0]);
        assert_eq!(run(1, Compat::Native, &u).unwrap(), vec![1.0]);
        // Where the counts change the answer: 4, 18, 2, 8, 3 (n = 5, f = 1).
        // Byzfl, mean of 3 nearest: 4 → (1 + 4 + 16)/3 = 7; 3 → (1 + 1 + 25)/3 = 9;
        //   2 → (1 + 4 + 36)/3 = 41/3; 8 → (16 + 25 + 36)/3; 18 → huge → picks 4.
        // Native, sum of 2 nearest: 4 → 1 + 4 = 5; 3 → 1 + 1 = 2; 2 → 1 + 4 = 5 → picks 3.
        let u = line(&[4., 18., 2., 8., 3.]);
        assert_eq!(run(1, Compat::Byzfl, &u).unwrap(), vec![4.0]);
        assert_eq!(run(1, Compat::Native, &u).unwrap(), vec![3.0]);
    }

    #[test]
    fn requirements_on_n() {
        let u = line(&[0., 1., 2., 3.]);
        let e = run(1, Compat::Native, &u).unwrap_err().to_string();
        assert!(e.contains("n > 2f + 2 = 4") && e.contains("n = 4"), "{e}");
        assert!(run(1, Compat::Byzfl, &u).is_ok());
        let e = run(2, Compat::Byzfl, &u).unwrap_err().to_string();
        assert!(e.contains("n > 2f = 4"), "{e}");
        // n = 1, f = 0 in Byzfl mode: no neighbour, returns the only vector.
        assert_eq!(run(0, Compat::Byzfl, &line(&[7.])).unwrap(), vec![7.]);
    }

    #[test]
    fn infinite_vectors() {
        // 4 finite points and 1 +∞ vector, f = 1: the +∞ vector's score is ∞ (its distances
        // to finite points), so an honest vector wins in both modes. With 2 +∞ vectors and
        // f = 1, ByzFL's scores of the +∞ rows include a NaN (∞ − ∞) and NumPy's argmin
        // returns it: the output is +∞; native ranks NaN last and returns a finite vector.
        let inf = f64::INFINITY;
        let u = Updates::new_allow_inf(nalgebra::DMatrix::from_column_slice(
            1,
            5,
            &[0., 1., 2., 3., inf],
        ))
        .unwrap();
        assert_eq!(run(1, Compat::Byzfl, &u).unwrap(), vec![1.0]);
        assert_eq!(run(1, Compat::Native, &u).unwrap(), vec![1.0]);
        let u = Updates::new_allow_inf(nalgebra::DMatrix::from_column_slice(
            1,
            6,
            &[0., 1., 2., 3., inf, inf],
        ))
        .unwrap();
        assert_eq!(run(1, Compat::Byzfl, &u).unwrap(), vec![inf]);
        assert!(run(1, Compat::Native, &u).unwrap()[0].is_finite());
    }

    #[test]
    fn argmin_semantics() {
        assert_eq!(argmin_numpy(&[2.0, 1.0, 1.0]), 1);
        assert_eq!(argmin_numpy(&[2.0, f64::NAN, 1.0]), 1);
        assert_eq!(argmin_nan_last(&[f64::NAN, 3.0, 1.0, 1.0]), 2);
    }

    #[test]
    fn matches_byzfl_reference_output() {
        // Output of ByzFL 0.0.11 itself on a 9×4 input (see the `byzfl_fixture` module).
        use crate::aggregators::byzfl_fixture as fx;
        let u = fx::updates();
        let mut rng = rng_from_seed(0);
        let out = build(&Params::new().with("f", 2.0), Compat::Byzfl)
            .unwrap()
            .aggregate(u.view(), &mut AggContext::new(&mut rng))
            .unwrap();
        fx::assert_close(out.as_slice(), &fx::KRUM_F2);
    }
}
