//! Multi-Krum: the average of the n − f inputs with the lowest Krum scores.
//!
//! ByzFL: `MultiKrum(f=0)`; the number of averaged vectors is fixed at m = n − f (no
//! parameter), in both modes. The scores are Krum's (see [`super::krum`]):
//! - **`Compat::Native`** (Blanchard et al. 2017): sum of the n − f − 2 smallest squared
//!   distances to the others; requires **n > 2f + 2**.
//! - **`Compat::Byzfl`** (`aggregators.py`, `MultiKrum.__call__`): mean of the n − f − 1
//!   smallest; requires 2f < n.
//!
//! **Selection and ties.** ByzFL takes `np.argpartition(scores, k − 1)[:k]`, which puts NaN
//! scores last but leaves the choice among scores tied at the cut to NumPy's introselect;
//! lbounds takes the k smallest with NaN last and ties broken by the lowest index. The chosen
//! vectors are averaged in index order (ByzFL adds them in partition order; the sums differ
//! only by rounding).
//!
//! With the `inf` attack, distances and scores follow [`super::krum`]: +∞ vectors get score ∞
//! or NaN and are chosen last; when more than f vectors are +∞ some are chosen and the output
//! is +∞ (or NaN), as in ByzFL.
//!
//! **NaN** (native, read as +∞ by `Updates::new_untrusted`): its vector is at infinity and
//! chosen last, never averaged while at most f vectors are non-finite.
//!
//! # References
//! - P. Blanchard, E. M. El Mhamdi, R. Guerraoui, J. Stainer, "Machine learning with
//!   adversaries: Byzantine tolerant gradient descent", NeurIPS 2017.

use super::distances::{k_smallest, pairwise_sq_dists, pairwise_sq_dists_by_gram};
use super::krum::{byzfl_scores, check_krum_n, native_scores};
use super::{AggContext, Aggregator};
use crate::data::UpdatesView;
use crate::params::{Compat, Params, Spec};
use crate::Result;
use nalgebra::DVector;

/// Registry entry.
pub const SPEC: Spec<dyn Aggregator> = Spec {
    name: "multi_krum",
    byzfl: Some("MultiKrum"),
    keys: &["f"],
    summary: "average of the n-f inputs with the lowest Krum scores",
    build,
};

fn build(p: &Params, compat: Compat) -> Result<Box<dyn Aggregator>> {
    Ok(Box::new(MultiKrum::new(p.f()?, compat)))
}

/// Multi-Krum with declared f, averaging n − f vectors.
#[derive(Clone, Copy, Debug)]
pub struct MultiKrum {
    f: usize,
    compat: Compat,
}

impl MultiKrum {
    /// Multi-Krum tolerating `f` Byzantine inputs, with ByzFL's or the paper's scores.
    pub fn new(f: usize, compat: Compat) -> Self {
        MultiKrum { f, compat }
    }

    /// The indices of the averaged vectors, ascending.
    pub fn selection(&self, x: UpdatesView<'_>) -> Result<Vec<usize>> {
        self.check_n(x.n())?;
        let n = x.n();
        // ByzFL's selection is by SciPy's direct `cdist`; the native one by the Gram form,
        // exact where it matters (see `distances::pairwise_sq_dists_by_gram`).
        let d2 = match self.compat {
            Compat::Byzfl => pairwise_sq_dists(x),
            Compat::Native => pairwise_sq_dists_by_gram(x),
        };
        let scores = match self.compat {
            Compat::Byzfl => byzfl_scores(&d2, n, self.f),
            Compat::Native => {
                let all: Vec<usize> = (0..n).collect();
                native_scores(&d2, n, &all, n - self.f - 2)
            }
        };
        Ok(k_smallest(&scores, n - self.f))
    }
}

impl Aggregator for MultiKrum {
    fn name(&self) -> &'static str {
        "multi_krum"
    }

    fn check_n(&self, n: usize) -> Result<()> {
        check_krum_n("multi_krum", n, self.f, self.compat)
    }

    fn aggregate(&self, x: UpdatesView<'_>, _cx: &mut AggContext<'_>) -> Result<DVector<f64>> {
        let chosen = self.selection(x)?;
        Ok(x.mean_of(chosen.iter().copied()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Updates;
    use crate::rng::rng_from_seed;

    fn line(points: &[f64]) -> Updates {
        Updates::from_rows(&points.iter().map(|&p| vec![p]).collect::<Vec<_>>()).unwrap()
    }

    fn run(f: usize, compat: Compat, u: &Updates) -> Result<Vec<f64>> {
        let mut rng = rng_from_seed(0);
        MultiKrum::new(f, compat)
            .aggregate(u.view(), &mut AggContext::new(&mut rng))
            .map(|v| v.as_slice().to_vec())
    }

    #[test]
    fn byzfl_docstring_example() {
        // ByzFL: MultiKrum(1) of (1,2,3), (4,5,6), (7,8,9) = (2.5, 3.5, 4.5). All scores tie
        // at 27 (one neighbour each); k = 2 lowest by index → rows 0 and 1 → their mean.
        let u =
            Updates::from_rows(&[vec![1., 2., 3.], vec![4., 5., 6.], vec![7., 8., 9.]]).unwrap();
        assert_eq!(run(1, Compat::Byzfl, &u).unwrap(), vec![2.5, 3.5, 4.5]);
    }

    #[test]
    fn known_answers_by_hand() {
        // 4, 18, 2, 8, 3 with f = 1 (scores worked out in krum.rs):
        // Byzfl means: 4 → 7, 18 → (100+196+225)/3, 2 → 41/3, 8 → (16+25+36)/3 = 77/3,
        //   3 → 9; the 4 lowest are 4, 3, 2, 8 → mean 17/4 = 4.25.
        // Native sums of 2: 4 → 5, 18 → 100+196, 2 → 5, 8 → 16+25 = 41, 3 → 2;
        //   4 lowest: 3, 4, 2, 8 → 4.25 as well.
        let u = line(&[4., 18., 2., 8., 3.]);
        assert_eq!(run(1, Compat::Byzfl, &u).unwrap(), vec![4.25]);
        assert_eq!(run(1, Compat::Native, &u).unwrap(), vec![4.25]);
        assert_eq!(
            MultiKrum::new(1, Compat::Native)
                .selection(u.view())
                .unwrap(),
            vec![0, 2, 3, 4]
        );
    }

    #[test]
    fn requirements_on_n() {
        let u = line(&[0., 1., 2., 3.]);
        let e = run(1, Compat::Native, &u).unwrap_err().to_string();
        assert!(e.contains("n > 2f + 2 = 4"), "{e}");
        let e = run(2, Compat::Byzfl, &u).unwrap_err().to_string();
        assert!(e.contains("n > 2f = 4"), "{e}");
    }

    #[test]
    fn infinite_vectors_are_left_out() {
        // One +∞ vector among 5 with f = 1: its score is ∞, so the 4 finite ones are
        // averaged: (0+1+2+3)/4 = 1.5, in both modes.
        let inf = f64::INFINITY;
        let u = Updates::new_allow_inf(nalgebra::DMatrix::from_column_slice(
            1,
            5,
            &[0., 1., inf, 2., 3.],
        ))
        .unwrap();
        assert_eq!(run(1, Compat::Byzfl, &u).unwrap(), vec![1.5]);
        assert_eq!(run(1, Compat::Native, &u).unwrap(), vec![1.5]);
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
        fx::assert_close(out.as_slice(), &fx::MULTI_KRUM_F2);
    }
}
