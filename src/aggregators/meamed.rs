//! Mean around the median (Meamed): per coordinate j, the median mⱼ of x₁ⱼ, …, xₙⱼ, then the
//! average of the n − f values closest to mⱼ.
//!
//! ByzFL: `Meamed(f=0)`; requires n > 2f (ByzFL raises when 2f ≥ n). `Compat::Byzfl` and
//! `Compat::Native` coincide.
//!
//! **Ties.** When two values are equally far from the median on opposite sides (mⱼ − a and
//! mⱼ + a) and only one of them is kept, lbounds keeps the **smaller** one, so the output
//! depends only on the multiset of values (permutation invariant). ByzFL selects with
//! `np.argpartition(|x − m|, k − 1, axis=0)` (`aggregators.py`, `Meamed.__call__`), whose
//! choice among tied keys is whatever NumPy's introselect (or its SIMD dispatch) leaves in
//! place, so it is unspecified; the two agree whenever no such tie straddles the cut.
//!
//! **Infinite entries** (the `inf` attack): a group of coordinates holding ±∞ takes an exact
//! scalar path that follows NumPy: m is the median including the infinities, the distance
//! |x − m| is NaN when x and m are the same infinity, NaN distances are chosen last, and the
//! chosen values are averaged. So when more than f values are +∞ the output is +∞ (or NaN if
//! +∞ meets −∞, as in NumPy).
//!
//! Implementation: a sorting network vectorised across coordinates sorts each coordinate; the
//! n − f closest values to the median of sorted values form a window [a, a + n − f), where a is
//! the number of window starts whose left end is strictly farther from m than the value just
//! past the right end. Everything is branch-free across `LANES` = 32
//! coordinates.
//!
//! **NaN** (native, read as +∞ by `Updates::new_untrusted`): a +∞ value of its coordinate,
//! farthest from the median and never among the n − f averaged while at most f of that
//! coordinate's values are non-finite.
//!
//! # References
//! - C. Xie, O. Koyejo, I. Gupta, "Generalized Byzantine-tolerant SGD", arXiv 1802.10116, 2018.

use super::coordinatewise::LANES;
use super::coordinatewise::{all_finite, map_columns, median_of_sorted, Lane, SortingNetwork};
use super::distances::nan_last;
use super::{require_honest_majority, AggContext, Aggregator};
use crate::data::UpdatesView;
use crate::params::{Compat, Params, Spec};
use crate::Result;
use nalgebra::DVector;

/// Registry entry.
pub const SPEC: Spec<dyn Aggregator> = Spec {
    name: "meamed",
    byzfl: Some("Meamed"),
    keys: &["f"],
    summary: "coordinate-wise mean of the n-f values closest to the median (needs n > 2f)",
    build,
};

fn build(p: &Params, _: Compat) -> Result<Box<dyn Aggregator>> {
    Ok(Box::new(Meamed::new(p.f()?)))
}

/// Mean around the median with f excluded values per coordinate.
#[derive(Clone, Copy, Debug)]
pub struct Meamed {
    f: usize,
}

impl Meamed {
    /// Averages the n − `f` values closest to each coordinate's median.
    pub fn new(f: usize) -> Self {
        Meamed { f }
    }
}

impl Aggregator for Meamed {
    fn name(&self) -> &'static str {
        "meamed"
    }

    fn check_n(&self, n: usize) -> Result<()> {
        require_honest_majority("meamed", n, self.f)
    }

    fn aggregate(&self, x: UpdatesView<'_>, _cx: &mut AggContext<'_>) -> Result<DVector<f64>> {
        self.check_n(x.n())?;
        let n = x.n();
        Ok(DVector::from_vec(map_columns(
            x,
            None,
            mean_around_median_kernel(n, n - self.f),
        )))
    }
}

/// A kernel for [`super::coordinatewise::map_blocks`]: per coordinate, the mean of the `keep`
/// values (of `n` wires) closest to the median, ties to the smaller value. `1 ≤ keep ≤ n`.
pub(crate) fn mean_around_median_kernel(
    n: usize,
    keep: usize,
) -> impl Fn(&mut [Lane], &mut [f64]) + Sync {
    let drop = n - keep;
    // A full sort, though only the ends and the median decide the window: the values in
    // between would come out right as a set from a network pruned to those wires (375
    // instead of 403 comparators at n = 50), but their sum would then depend on the input
    // order in its last bits, and the rule would lose exact permutation invariance.
    let net = SortingNetwork::sorting(n);
    // The network and the window ([`window_mean`]) are both inlined into `map_blocks`'
    // AVX-512 build; the window is written without selects (× 0 or 1), which the compiler
    // had turned into scalar branches there.
    #[inline(always)]
    move |w: &mut [Lane], out: &mut [f64]| {
        if !all_finite(w, out.len()) {
            for (l, o) in out.iter_mut().enumerate() {
                let vals: Vec<f64> = w.iter().map(|wire| wire[l]).collect();
                *o = mean_around_median_reference(&vals, keep);
            }
            return;
        }
        net.apply(w);
        window_mean(&w[..n], keep, drop, out);
        // A sum of finite values near 1.7e308 can overflow; the definition (whose mean does
        // not) redoes only those lanes. One check per lane, in registers.
        if !out.iter().all(|o| o.is_finite()) {
            for (l, o) in out.iter_mut().enumerate() {
                if !o.is_finite() {
                    let vals: Vec<f64> = w[..n].iter().map(|wire| wire[l]).collect();
                    *o = mean_around_median_reference(&vals, keep);
                }
            }
        }
    }
}

/// The mean of the `keep` sorted wires closest to their median, lane by lane (the wires are
/// sorted, `drop` = n − keep).
#[inline(always)]
fn window_mean(w: &[Lane], keep: usize, drop: usize, out: &mut [f64]) {
    let n = w.len();
    let mut m = [0.0; LANES];
    for l in 0..LANES {
        m[l] = if n % 2 == 1 {
            w[n / 2][l]
        } else {
            (w[n / 2 - 1][l] + w[n / 2][l]) / 2.0
        };
    }
    // Window start: number of a in 0..drop with m − s[a] > s[a + keep] − m (the left end
    // is strictly farther than the next value on the right, so the window moves right).
    let mut start = [0.0f64; LANES];
    for a in 0..drop {
        for l in 0..LANES {
            let left = m[l] - w[a][l];
            let right = w[a + keep][l] - m[l];
            start[l] += f64::from(u8::from(left > right));
        }
    }
    // Wires drop..keep are inside every window and are added unmasked; the `drop` wires at
    // either end are inside or not depending on the start.
    let mut s = [0.0; LANES];
    for (i, wire) in w.iter().enumerate() {
        if (drop..keep).contains(&i) {
            for l in 0..LANES {
                s[l] += wire[l];
            }
            continue;
        }
        let i = i as f64;
        for l in 0..LANES {
            let inside = (i >= start[l]) & (i < start[l] + keep as f64);
            // × 0 or 1, not a select, so it vectorises; a wire outside adds ±0, which leaves
            // a sum started at +0 unchanged (such a sum is never −0), so the result is the
            // same as skipping it.
            s[l] += wire[l] * f64::from(u8::from(inside));
        }
    }
    for (o, s) in out.iter_mut().zip(s) {
        *o = s / keep as f64;
    }
}

/// The definition, one coordinate at a time: sort by (|x − m| with NaN last, then x), keep
/// `keep`, average. Used for non-finite input and as the tests' reference.
pub(crate) fn mean_around_median_reference(vals: &[f64], keep: usize) -> f64 {
    let mut sorted = vals.to_vec();
    sorted.sort_by(f64::total_cmp);
    let m = median_of_sorted(&sorted);
    let mut by_dist: Vec<(f64, f64)> = vals.iter().map(|&x| ((x - m).abs(), x)).collect();
    by_dist.sort_by(|a, b| nan_last(a.0, b.0).then(a.1.total_cmp(&b.1)));
    let kept = &by_dist[..keep];
    let mean = kept.iter().map(|p| p.1).sum::<f64>() / keep as f64;
    if mean.is_finite() || !kept.iter().all(|p| p.1.is_finite()) {
        mean
    } else {
        // The sum of finite values overflowed; their mean is finite.
        kept.iter().map(|p| p.1 / keep as f64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Updates;
    use crate::rng::rng_from_seed;
    use rand::RngExt;

    fn run(f: usize, u: &Updates) -> Result<Vec<f64>> {
        let mut rng = rng_from_seed(0);
        Meamed::new(f)
            .aggregate(u.view(), &mut AggContext::new(&mut rng))
            .map(|v| v.as_slice().to_vec())
    }

    #[test]
    fn known_answers() {
        // ByzFL docstring: Meamed(1) of (1,2,3), (4,5,6), (7,8,9) = (2.5, 3.5, 4.5): median 4,
        // distances 3, 0, 3 → keep 4 and the tied 1 (smaller) → 2.5.
        let u =
            Updates::from_rows(&[vec![1., 2., 3.], vec![4., 5., 6.], vec![7., 8., 9.]]).unwrap();
        assert_eq!(run(1, &u).unwrap(), vec![2.5, 3.5, 4.5]);
        // f = 2 on 0, 1, 2, 10, 11 (median 2, distances 2, 1, 0, 8, 9): keep 0, 1, 2 → 1.
        // Second coordinate -9, 0, 1, 3, 4 (median 1; distances 10, 1, 0, 2, 3): keep 0, 1, 3
        // → 4/3.
        let u = Updates::from_rows(&[
            vec![10., 3.],
            vec![0., -9.],
            vec![2., 1.],
            vec![11., 4.],
            vec![1., 0.],
        ])
        .unwrap();
        assert_eq!(run(2, &u).unwrap(), vec![1.0, 4.0 / 3.0]);
        // Even n = 4, f = 1: 0, 1, 2, 3 has median 1.5; 0 and 3 tie at 1.5 → keep 0 → 1.
        let u = Updates::from_rows(&[vec![3.], vec![0.], vec![1.], vec![2.]]).unwrap();
        assert_eq!(run(1, &u).unwrap(), vec![1.0]);
    }

    #[test]
    fn fast_path_matches_reference() {
        // Random data with many ties (small integer values) and continuous data.
        let mut rng = rng_from_seed(9);
        for (n, f) in [
            (3usize, 1usize),
            (4, 1),
            (9, 4),
            (20, 5),
            (50, 10),
            (51, 25),
        ] {
            for ints in [true, false] {
                let d = 200;
                let rows: Vec<Vec<f64>> = (0..n)
                    .map(|_| {
                        (0..d)
                            .map(|_| {
                                if ints {
                                    f64::from(rng.random_range(0..6u32))
                                } else {
                                    rng.random::<f64>()
                                }
                            })
                            .collect()
                    })
                    .collect();
                let u = Updates::from_rows(&rows).unwrap();
                let got = run(f, &u).unwrap();
                for j in 0..d {
                    let v: Vec<f64> = rows.iter().map(|r| r[j]).collect();
                    let want = mean_around_median_reference(&v, n - f);
                    assert!(
                        (got[j] - want).abs() <= 1e-12 * want.abs().max(1.0),
                        "n={n} f={f} j={j}: {} vs {want}",
                        got[j]
                    );
                }
            }
        }
    }

    #[test]
    fn reordering_the_inputs_keeps_every_bit() {
        // The kept values are summed in sorted order, so the output is a function of the
        // multiset of each coordinate's values, to the last bit (a network that left the
        // middle values unsorted would not be).
        let mut rng = rng_from_seed(11);
        let (n, f, d) = (50, 10, 3 * LANES + 5);
        let rows: Vec<Vec<f64>> = (0..n)
            .map(|_| (0..d).map(|_| rng.random::<f64>() * 1e3 - 5e2).collect())
            .collect();
        let want = run(f, &Updates::from_rows(&rows).unwrap()).unwrap();
        for _ in 0..5 {
            let perm = crate::rng::permutation(&mut rng, n);
            let shuffled: Vec<Vec<f64>> = perm.iter().map(|&i| rows[i].clone()).collect();
            let got = run(f, &Updates::from_rows(&shuffled).unwrap()).unwrap();
            assert_eq!(
                got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn requires_honest_majority() {
        let u = Updates::from_rows(&[vec![1.0], vec![2.0]]).unwrap();
        let e = run(1, &u).unwrap_err().to_string();
        assert!(e.contains("n > 2f = 2"), "{e}");
    }

    #[test]
    fn infinite_inputs_follow_numpy() {
        // One +∞ among 4 with f = 1: median (2+3)/2 = 2.5, the +∞ is farthest → mean(1,2,3)=2.
        // Three +∞ among 5 with f = 1: median +∞, finite values (distance ∞) come before the
        // NaN distances of the +∞ values → keep 1, 2, ∞, ∞ → +∞.
        let inf = f64::INFINITY;
        let m =
            nalgebra::DMatrix::from_row_slice(2, 5, &[1., 2., 3., inf, 0., 1., 2., inf, inf, inf]);
        let u = Updates::new_allow_inf(m.columns(0, 4).into_owned()).unwrap();
        let out = run(1, &u).unwrap();
        assert_eq!(out[0], 2.0);
        let u = Updates::new_allow_inf(m).unwrap();
        let out = run(1, &u).unwrap();
        assert_eq!(out[1], inf);
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
        fx::assert_close(out.as_slice(), &fx::MEAMED_F2);
    }
}
