//! MoNNA: the average of the n − f nearest neighbours of one trusted input x_idx (itself
//! included).
//!
//! ByzFL: `MoNNA(f=0, idx=0)`. Keys `f` and `idx` (the pivot, assumed honest: in
//! peer-to-peer learning it is the aggregating node's own vector). Requires n > 2f and
//! idx < n (ByzFL raises on both). `Compat::Byzfl` and `Compat::Native` coincide.
//!
//! **Ties.** ByzFL takes `np.argpartition(dist, k − 1)[:k]` on Euclidean distances, leaving
//! the choice among distances tied at the cut to NumPy's introselect; lbounds ranks squared
//! distances (the same order) with ties broken by the lowest index, and averages the chosen
//! vectors in index order.
//!
//! With the `inf` attack, distances follow SciPy's `cdist` (∞ to a +∞ vector, NaN between two
//! +∞ vectors) and NaN ranks last, as in NumPy's partition: +∞ vectors are chosen only when
//! fewer than n − f vectors are closer, and then the output is +∞.
//!
//! Cost: one pass for the n distances to x_idx (rows in parallel), one for the mean.
//!
//! **NaN** (native, read as +∞ by `Updates::new_untrusted`): its vector is at infinity, the
//! farthest from the pivot, never averaged while at most f vectors are non-finite.
//!
//! # References
//! - S. Farhadkhani, R. Guerraoui, N. Gupta, L.-N. Hoang, R. Pinot, J. Stephan, "Robust
//!   collaborative learning with linear gradient overhead", ICML 2023, arXiv 2209.10931.

use super::distances::{k_smallest, sq_dists_to};
use super::{require_honest_majority, AggContext, Aggregator};
use crate::data::UpdatesView;
use crate::params::{Compat, Params, Spec};
use crate::{Error, Result};
use nalgebra::DVector;

/// Registry entry.
pub const SPEC: Spec<dyn Aggregator> = Spec {
    name: "monna",
    byzfl: Some("MoNNA"),
    keys: &["f", "idx"],
    summary: "average of the n-f nearest neighbours of the trusted input idx (default 0)",
    build,
};

fn build(p: &Params, _: Compat) -> Result<Box<dyn Aggregator>> {
    Ok(Box::new(Monna::new(p.f()?, p.count("idx", 0)?)))
}

/// MoNNA around input `idx` with declared f.
#[derive(Clone, Copy, Debug)]
pub struct Monna {
    f: usize,
    idx: usize,
}

impl Monna {
    /// Averages the n − `f` nearest neighbours of input `idx`.
    pub fn new(f: usize, idx: usize) -> Self {
        Monna { f, idx }
    }
}

impl Aggregator for Monna {
    fn name(&self) -> &'static str {
        "monna"
    }

    fn check_n(&self, n: usize) -> Result<()> {
        require_honest_majority("monna", n, self.f)?;
        if self.idx >= n {
            return Err(Error::too_few(
                "monna",
                format!("n > idx = {}", self.idx),
                format!("n = {n}"),
            ));
        }
        Ok(())
    }

    fn aggregate(&self, x: UpdatesView<'_>, _cx: &mut AggContext<'_>) -> Result<DVector<f64>> {
        self.check_n(x.n())?;
        // An infinite pivot (the `inf` attack's vector at index idx) is at NaN distance from
        // itself and at ∞ from everything else: no neighbourhood is defined (ByzFL's answer is
        // NumPy's NaN ordering). Infinite non-pivot vectors are simply farthest.
        if !x.col(self.idx).iter().all(|v| v.is_finite()) {
            return Err(crate::Error::NonFinite {
                what: "input of monna".into(),
                detail: format!("the pivot vector idx = {} has infinite entries", self.idx),
            });
        }
        let d2 = sq_dists_to(x, x.col(self.idx));
        let chosen = k_smallest(&d2, x.n() - self.f);
        Ok(x.mean_of(chosen.iter().copied()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Updates;
    use crate::rng::rng_from_seed;

    fn run(m: Monna, u: &Updates) -> Result<Vec<f64>> {
        let mut rng = rng_from_seed(0);
        m.aggregate(u.view(), &mut AggContext::new(&mut rng))
            .map(|v| v.as_slice().to_vec())
    }

    #[test]
    fn known_answers() {
        // ByzFL docstring: MoNNA(1, 1) of (1,2,3), (4,5,6), (7,8,9) = (2.5, 3.5, 4.5): the
        // pivot (4,5,6) is at distance √27 from both others, a tie won by the lower index.
        let u =
            Updates::from_rows(&[vec![1., 2., 3.], vec![4., 5., 6.], vec![7., 8., 9.]]).unwrap();
        assert_eq!(run(Monna::new(1, 1), &u).unwrap(), vec![2.5, 3.5, 4.5]);
        // Points 0, 10, 1, 2, 50 with pivot idx 0 and f = 2: nearest 3 are 0, 1, 2 → 1.
        // With pivot idx 1 (value 10): distances 10, 0, 9, 8, 40 → 10, 2, 1 → 13/3.
        let u = Updates::from_rows(&[vec![0.], vec![10.], vec![1.], vec![2.], vec![50.]]).unwrap();
        assert_eq!(run(Monna::new(2, 0), &u).unwrap(), vec![1.0]);
        assert_eq!(run(Monna::new(2, 1), &u).unwrap(), vec![13.0 / 3.0]);
    }

    #[test]
    fn errors() {
        let u = Updates::from_rows(&[vec![0.], vec![1.], vec![2.]]).unwrap();
        let e = run(Monna::new(0, 3), &u).unwrap_err().to_string();
        assert!(e.contains("n > idx = 3") && e.contains("n = 3"), "{e}");
        let e = run(Monna::new(2, 0), &u).unwrap_err().to_string();
        assert!(e.contains("n > 2f = 4"), "{e}");
        assert!(build(&Params::new().with("idx", -1.0), Compat::Byzfl).is_err());
    }

    #[test]
    fn infinite_vectors_are_chosen_last() {
        // 3 finite + 1 +∞, f = 1, pivot 0: the +∞ vector is farthest → mean(0, 1, 2) = 1.
        // f = 0 must average all 4 → +∞.
        let inf = f64::INFINITY;
        let u = Updates::new_allow_inf(nalgebra::DMatrix::from_column_slice(
            1,
            4,
            &[0., inf, 1., 2.],
        ))
        .unwrap();
        assert_eq!(run(Monna::new(1, 0), &u).unwrap(), vec![1.0]);
        assert_eq!(run(Monna::new(0, 0), &u).unwrap(), vec![inf]);
    }

    #[test]
    fn matches_byzfl_reference_output() {
        // Output of ByzFL 0.0.11 itself on a 9×4 input (see the `byzfl_fixture` module).
        use crate::aggregators::byzfl_fixture as fx;
        let u = fx::updates();
        let mut rng = rng_from_seed(0);
        let out = build(
            &Params::new().with("f", 2.0).with("idx", 3.0),
            Compat::Byzfl,
        )
        .unwrap()
        .aggregate(u.view(), &mut AggContext::new(&mut rng))
        .unwrap();
        fx::assert_close(out.as_slice(), &fx::MONNA_F2_IDX3);
    }
}
