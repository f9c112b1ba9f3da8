//! Bulyan: θ = n − 2f inputs selected by repeated Krum, then per coordinate the average of
//! the β = θ − 2f selected values closest to the coordinate's median.
//!
//! Not in ByzFL: `Compat::Byzfl` refuses it (`Error::Unsupported`). Key `f`; requires
//! **n ≥ 4f + 3** (the paper's hypothesis).
//!
//! Selection: start from R = all inputs and S = ∅; θ times, compute Krum scores within R
//! (sum of the |R| − f − 2 smallest squared distances to the other members of R, clamped at
//! 0, as Blanchard et al.'s Krum run on R with the same f; exact ties, which the paper's
//! count forces when it reaches 0 or 1, are broken by the sum of all distances within R, then
//! by index), move the lowest-score member
//! (ties: lowest index) from R to S. Distances are computed once. Aggregation: per coordinate,
//! the mean of the β values of S closest to their median (ties to the smaller value, as
//! [`super::meamed`]).
//!
//! With the `inf` attack, +∞ vectors get infinite or NaN scores, ranked last, so they are
//! selected only when fewer than θ finite vectors remain; the coordinate phase then follows
//! [`super::meamed`]'s rules for infinite values.
//!
//! **NaN** (native, read as +∞ by `Updates::new_untrusted`): its vector is at infinity, ranked
//! last by the Krum rounds and trimmed by the coordinate-wise phase.
//!
//! # References
//! - E. M. El Mhamdi, R. Guerraoui, S. Rouault, "The hidden vulnerability of distributed
//!   learning in Byzantium", ICML 2018, arXiv 1802.07927 (Algorithm 1).

use super::coordinatewise::map_columns;
use super::distances::{nan_last, pairwise_sq_dists};
use super::meamed::mean_around_median_kernel;
use super::{require_pairwise_fits, AggContext, Aggregator};
use crate::data::UpdatesView;
use crate::params::{Compat, Params, Spec};
use crate::{Error, Result};
use nalgebra::DVector;

/// Registry entry.
pub const SPEC: Spec<dyn Aggregator> = Spec {
    name: "bulyan",
    byzfl: None,
    keys: &["f"],
    summary: "n-2f inputs chosen by repeated Krum, then coordinate-wise trimmed around the median (n >= 4f+3)",
    build,
};

fn build(p: &Params, _: Compat) -> Result<Box<dyn Aggregator>> {
    Ok(Box::new(Bulyan::new(p.f()?)))
}

/// Bulyan over Krum with declared f.
#[derive(Clone, Copy, Debug)]
pub struct Bulyan {
    f: usize,
}

impl Bulyan {
    /// Bulyan tolerating `f` Byzantine inputs.
    pub fn new(f: usize) -> Self {
        Bulyan { f }
    }

    /// The θ = n − 2f inputs chosen by repeated Krum, in the order they were chosen.
    pub fn selection(&self, x: UpdatesView<'_>) -> Result<Vec<usize>> {
        self.check_n(x.n())?;
        let n = x.n();
        let theta = n - 2 * self.f;
        let d2 = pairwise_sq_dists(x);
        // Each input's neighbours sorted once by distance (NaN last, ties by index); a round's
        // score of i sums its first m neighbours still in R, in that order, which equals
        // sorting i's distances within R.
        let neighbours: Vec<Vec<usize>> = (0..n)
            .map(|i| {
                let mut order: Vec<usize> = (0..n).filter(|&j| j != i).collect();
                order.sort_by(|&a, &b| nan_last(d2[i * n + a], d2[i * n + b]).then(a.cmp(&b)));
                order
            })
            .collect();
        let mut in_r = vec![true; n];
        let mut chosen = Vec::with_capacity(theta);
        while chosen.len() < theta {
            let m = (n - chosen.len()).saturating_sub(self.f + 2);
            let mut best: Option<(f64, f64, usize)> = None;
            for i in (0..n).filter(|&i| in_r[i]) {
                let mut in_round = neighbours[i]
                    .iter()
                    .filter(|&&j| in_r[j])
                    .map(|&j| d2[i * n + j]);
                let score: f64 = in_round.by_ref().take(m).sum();
                // Tie-break by the sum over all of R: Krum scores tie exactly when m = 0 (the
                // last picks when f = 1) and for mutual nearest neighbours when m = 1; the
                // geometry, not the input order, should decide.
                let total = score + in_round.sum::<f64>();
                let better = best
                    .is_none_or(|(b, bt, _)| nan_last(score, b).then(nan_last(total, bt)).is_lt());
                if better {
                    best = Some((score, total, i));
                }
            }
            // invariant: R is non-empty while fewer than θ ≤ n inputs are chosen.
            let (_, _, i) = best.expect("invariant: R is non-empty");
            in_r[i] = false;
            chosen.push(i);
        }
        Ok(chosen)
    }
}

impl Aggregator for Bulyan {
    fn name(&self) -> &'static str {
        "bulyan"
    }

    fn check_n(&self, n: usize) -> Result<()> {
        if n < 4 * self.f + 3 {
            return Err(Error::too_few(
                "bulyan",
                format!("n >= 4f + 3 = {}", 4 * self.f + 3),
                format!("n = {n} (f = {})", self.f),
            ));
        }
        require_pairwise_fits("bulyan", n)
    }

    fn aggregate(&self, x: UpdatesView<'_>, _cx: &mut AggContext<'_>) -> Result<DVector<f64>> {
        let chosen = self.selection(x)?;
        let theta = chosen.len();
        let beta = theta - 2 * self.f;
        Ok(DVector::from_vec(map_columns(
            x,
            Some(&chosen),
            mean_around_median_kernel(theta, beta),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Updates;
    use crate::rng::rng_from_seed;

    fn run(f: usize, u: &Updates) -> Result<Vec<f64>> {
        let mut rng = rng_from_seed(0);
        Bulyan::new(f)
            .aggregate(u.view(), &mut AggContext::new(&mut rng))
            .map(|v| v.as_slice().to_vec())
    }

    #[test]
    fn known_answer_by_hand() {
        // n = 7, f = 1 (4f + 3 = 7): points 0, 1, 2, 3, 4, 100, -50 on a line.
        // θ = 5 selections with |R| − 3 neighbours:
        //  R = all (4 nbrs): 0 → 1+4+9+16 = 30; 1 → 1+1+4+9 = 15; 2 → 1+1+4+4 = 10;
        //    3 → 15; 4 → 30; 100, −50 huge → pick 2.
        //  R = {0,1,3,4,100,−50} (3 nbrs): 0 → 1+9+16 = 26; 1 → 1+4+9 = 14; 3 → 1+4+9 = 14;
        //    4 → 1+9+16 = 26. Tie 1/3 broken by the sum over R: 1 → 1+4+9+99²+51² = 12416,
        //    3 → 9+4+1+97²+53² = 12232 → pick 3.
        //  R = {0,1,4,100,−50} (2 nbrs): 0 → 1+16 = 17; 1 → 1+9 = 10; 4 → 9+16 = 25 → 1.
        //  R = {0,4,100,−50} (1 nbr): 0 → 16; 4 → 16; sums 16+100²+50² = 12516 vs
        //    16+96²+54² = 12148 → 4.
        //  R = {0,100,−50} (0 nbrs): all 0; sums 12500, 32500, 25000 → 0.
        // S = {2, 3, 1, 4, 0}; β = 3 closest to the median 2: 1, 2, 3 → 2.
        let pts = [0., 1., 2., 3., 4., 100., -50.];
        let u = Updates::from_rows(&pts.iter().map(|&p| vec![p]).collect::<Vec<_>>()).unwrap();
        assert_eq!(
            Bulyan::new(1).selection(u.view()).unwrap(),
            vec![2, 3, 1, 4, 0]
        );
        assert_eq!(run(1, &u).unwrap(), vec![2.0]);
        // f = 0: every input is selected and β = n: the mean.
        let u = Updates::from_rows(&[vec![1.0], vec![2.0], vec![6.0]]).unwrap();
        assert_eq!(run(0, &u).unwrap(), vec![3.0]);
    }

    #[test]
    fn requirement_on_n() {
        let u = Updates::from_rows(&vec![vec![0.0]; 6]).unwrap();
        let e = run(1, &u).unwrap_err().to_string();
        assert!(e.contains("n >= 4f + 3 = 7") && e.contains("n = 6"), "{e}");
    }

    #[test]
    fn infinite_vectors_are_not_selected() {
        // 6 finite points and one +∞ vector with f = 1: the +∞ vector has infinite score and
        // is never among the 5 selected; the output is finite.
        let inf = f64::INFINITY;
        let u = Updates::new_allow_inf(nalgebra::DMatrix::from_column_slice(
            1,
            7,
            &[0., 1., 2., 3., 4., 5., inf],
        ))
        .unwrap();
        let sel = Bulyan::new(1).selection(u.view()).unwrap();
        assert!(!sel.contains(&6), "{sel:?}");
        assert!(run(1, &u).unwrap()[0].is_finite());
    }
}
