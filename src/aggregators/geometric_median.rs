//! Geometric median: a minimiser of Σᵢ ‖xᵢ − z‖ over z (Weiszfeld's algorithm).
//!
//! ByzFL: `GeometricMedian(nu=0.1, T=3)`. Keys: `nu`, `T`, `tol` (native only); `f` is
//! accepted and unused. Any n ≥ 1. Breakdown point 1/2.
//!
//! **`Compat::Byzfl`** reproduces ByzFL 0.0.11 (`aggregators.py`, `GeometricMedian.__call__`):
//! rows containing ±∞ are dropped; z₀ = 0 (the origin); then exactly T smoothed Weiszfeld steps
//! βᵢ = max(ν, ‖xᵢ − z‖), z ← Σ(xᵢ/βᵢ) / Σ(1/βᵢ) (ByzFL's factor 1/n cancels but is kept so
//! that rounding matches), with no convergence test. Three steps from the origin are far from
//! the geometric median when the data sit far from the origin, and an attacker who sends the
//! zero vector pins the iterate near the origin (the "origin attack", tested below). Here ν
//! must be > 0 (ByzFL accepts ν = 0, which gives NaN once z hits a data point).
//!
//! **`Compat::Native`** runs Weiszfeld's iteration to convergence from the coordinate-wise
//! median, with the Vardi–Zhang correction at data points:
//! - start z₀ = coordinate-wise median of the finite rows (rows with ±∞ are dropped, as in
//!   ByzFL: an infinitely distant point has no usable direction);
//! - step: points with ‖xᵢ − z‖ ≤ ν are *at* z (multiplicity η); the others get weights
//!   1/‖xᵢ − z‖ and give the Weiszfeld point T̃. If η = 0, z ← T̃. Otherwise, with
//!   R = Σ_{others} (xᵢ − z)/‖xᵢ − z‖ and r = ‖R‖: if r ≤ η, z is optimal and the iteration
//!   stops; else z ← (1 − η/r)·T̃ + (η/r)·z;
//! - stop when ‖z_{t+1} − z_t‖ ≤ tol·s₀ + 4ε‖z_t‖, s₀ = the *median* distance of the points
//!   to z₀ (the data's scale, so the rule is translation equivariant; the median, because one
//!   far outlier would inflate a mean distance and stop the iteration early: a point at 10⁶
//!   among unit-scale data left the result 0.03–0.11 off), ε the f64 machine epsilon (the
//!   resolution at ‖z_t‖), or after T steps;
//! - inputs whose squares overflow (entries ≳ 10¹⁵⁰): the finite rows are divided by a power of
//!   two near their largest |entry| (exact), the iteration runs there with ν scaled alike, and
//!   the result is multiplied back; the rule is scale-equivariant, so this is the same
//!   minimiser, without the NaN that 0/0 weights gave on rows of ±10³⁰⁰;
//! - defaults: T = 1000 (maximum steps), ν = 0 (only exact coincidence counts as "at z"),
//!   tol = 1e-10.
//!
//! Each step reads the data once: per block of coordinates, the new iterate's block and the
//! partial distances to it are computed together (in parallel over blocks, partial sums added
//! in block order, so the result does not depend on the thread count).
//!
//! **NaN** (native, read as +∞ by `Updates::new_untrusted`): its vector has an infinite
//! entry, so it is dropped with the infinite rows.
//!
//! # References
//! - E. Weiszfeld, "Sur le point pour lequel la somme des distances de n points donnés est
//!   minimum", Tohoku Mathematical Journal 43, 1937.
//! - Y. Vardi, C.-H. Zhang, "The multivariate L1-median and associated data depth", PNAS 97(4),
//!   2000.
//! - K. Pillutla, S. M. Kakade, Z. Harchaoui, "Robust aggregation for federated learning",
//!   IEEE Transactions on Signal Processing, 2022, arXiv 1912.13445 (smoothed Weiszfeld).

use super::distances::{
    sq_dist, sq_dists_to, sq_norm, sq_norms, weighted_mean_and_dists, weighted_mean_and_dists_into,
};
use super::far::tame;
use super::median::coordinate_median;
use super::{AggContext, Aggregator};
use crate::data::UpdatesView;
use crate::params::{Compat, Params, Spec};
use crate::{Error, Result};
use nalgebra::DVector;

/// Registry entry.
pub const SPEC: Spec<dyn Aggregator> = Spec {
    name: "geometric_median",
    byzfl: Some("GeometricMedian"),
    keys: &["f", "nu", "T", "tol"],
    summary: "geometric median by Weiszfeld (byzfl: 3 smoothed steps from 0; native: converged)",
    build,
};

fn build(p: &Params, compat: Compat) -> Result<Box<dyn Aggregator>> {
    p.f()?;
    Ok(Box::new(match compat {
        Compat::Byzfl => GeometricMedian::byzfl(p.positive("nu", 0.1)?, p.iterations("T", 3)?),
        Compat::Native => GeometricMedian::native(
            p.non_negative("nu", 0.0)?,
            p.iterations("T", 1000)?,
            p.positive("tol", 1e-10)?,
        ),
    }))
}

/// Largest squared norm the native iteration takes as is: squared distances between such
/// points stay below 4·10³⁰⁰, far from overflow, with room for sums over d coordinates.
const OVERFLOW_GUARD: f64 = 1e300;

/// Median (lower middle for an even count) of a non-empty list of distances.
fn median_of(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    let mid = (s.len() - 1) / 2;
    *s.select_nth_unstable_by(mid, f64::total_cmp).1
}

/// Weiszfeld's geometric median, in ByzFL's or lbounds' variant.
#[derive(Clone, Copy, Debug)]
pub struct GeometricMedian {
    nu: f64,
    iters: usize,
    tol: f64,
    compat: Compat,
}

impl GeometricMedian {
    /// ByzFL's variant: `iters` smoothed steps from the origin with floor `nu` (> 0).
    pub fn byzfl(nu: f64, iters: usize) -> Self {
        GeometricMedian {
            nu,
            iters,
            tol: 0.0,
            compat: Compat::Byzfl,
        }
    }

    /// The converged variant: at most `max_iters` steps from the coordinate-wise median,
    /// coincidence radius `nu` (≥ 0), relative step tolerance `tol`.
    pub fn native(nu: f64, max_iters: usize, tol: f64) -> Self {
        GeometricMedian {
            nu,
            iters: max_iters,
            tol,
            compat: Compat::Native,
        }
    }

    /// ByzFL's steps from the origin; `norms` are the squared norms (the distances to the
    /// origin). `self.iters` ≥ 1 (zero steps return the origin before this is called).
    fn byzfl_run(&self, x: UpdatesView<'_>, rows: &[usize], norms: Vec<f64>) -> Vec<f64> {
        let alpha = 1.0 / x.n() as f64;
        let mut z = vec![0.0; x.d()];
        let mut d2 = norms;
        for _ in 0..self.iters {
            let w: Vec<f64> = rows
                .iter()
                .map(|&i| {
                    let beta = d2[i].sqrt();
                    alpha / if beta < self.nu { self.nu } else { beta }
                })
                .collect();
            let total: f64 = w.iter().sum();
            // Each step needs only the distances of the previous one, so z is rewritten in
            // place.
            d2 = weighted_mean_and_dists_into(x, rows, &w, total, &mut z);
        }
        z
    }

    fn native_run(&self, x: UpdatesView<'_>, rows: &[usize]) -> Vec<f64> {
        let mut z = coordinate_median(x, Some(rows));
        let mut d2 = sq_dists_to(x, &z);
        let mut scale = None;
        for _ in 0..self.iters {
            let dist: Vec<f64> = rows.iter().map(|&i| d2[i].sqrt()).collect();
            let s0 = *scale.get_or_insert_with(|| {
                let m = median_of(&dist);
                if m > 0.0 {
                    m
                } else {
                    // More than half the points at z₀: the mean distance is the scale left.
                    dist.iter().sum::<f64>() / dist.len() as f64
                }
            });
            let (mut others, mut w) = (Vec::new(), Vec::new());
            let mut eta = 0.0;
            for (&i, &di) in rows.iter().zip(&dist) {
                if di <= self.nu {
                    eta += 1.0;
                } else {
                    others.push(i);
                    w.push(1.0 / di);
                }
            }
            if others.is_empty() {
                break; // every point sits at z
            }
            let total: f64 = w.iter().sum();
            // T̃ (the Weiszfeld point) and the distances to it, in one pass.
            let (t, d2_t) = weighted_mean_and_dists(x, &others, &w, total);
            let next = if eta == 0.0 {
                d2 = d2_t;
                t
            } else {
                // R = Σ (xᵢ − z)/‖xᵢ − z‖ = total·(T̃ − z).
                let r = total * sq_dist(&t, &z).sqrt();
                if r <= eta {
                    break; // z is a data point satisfying the optimality condition
                }
                let a = eta / r;
                let next: Vec<f64> = t
                    .iter()
                    .zip(&z)
                    .map(|(t, z)| (1.0 - a) * t + a * z)
                    .collect();
                d2 = sq_dists_to(x, &next);
                next
            };
            let step = sq_dist(&next, &z).sqrt();
            let size = sq_norm(&z).sqrt();
            z = next;
            // Relative to the data's spread, not to ‖z‖, so that the result is translation
            // equivariant; the ε·‖z‖ term stops at floating-point resolution far from 0.
            if step <= self.tol * s0 + 4.0 * f64::EPSILON * size {
                break;
            }
        }
        z
    }
}

impl Aggregator for GeometricMedian {
    fn name(&self) -> &'static str {
        "geometric_median"
    }

    fn check_n(&self, n: usize) -> Result<()> {
        if n == 0 {
            return Err(Error::too_few("geometric_median", "n >= 1", "n = 0"));
        }
        Ok(())
    }

    fn aggregate(&self, x: UpdatesView<'_>, _cx: &mut AggContext<'_>) -> Result<DVector<f64>> {
        self.check_n(x.n())?;
        // A vector with an infinite entry has an infinite norm; only those (or a finite one
        // whose norm overflowed) need their entries checked, not the whole input.
        let norms = sq_norms(x);
        let rows: Vec<usize> = (0..x.n())
            .filter(|&i| norms[i].is_finite() || x.col(i).iter().all(|v| v.is_finite()))
            .collect();
        if self.compat == Compat::Byzfl && self.iters == 0 {
            return Ok(DVector::zeros(x.d()));
        }
        if rows.is_empty() {
            return Err(Error::NonFinite {
                what: "input of geometric_median".into(),
                detail: "every vector has an infinite entry (ByzFL would return NaN)".into(),
            });
        }
        // Squares near the top of the f64 range: run on a rescaled copy (module docs).
        let biggest = rows.iter().map(|&i| norms[i]).fold(0.0, f64::max);
        if self.compat == Compat::Native && biggest > OVERFLOW_GUARD {
            let t = tame(x, x.n(), "geometric_median")?;
            let g = GeometricMedian {
                nu: self.nu / t.scale,
                ..*self
            };
            let all: Vec<usize> = (0..t.x.n()).collect();
            let z = g.native_run(t.x.view(), &all);
            return Ok(DVector::from_vec(z) * t.scale);
        }
        let z = match self.compat {
            Compat::Byzfl => self.byzfl_run(x, &rows, norms),
            Compat::Native => self.native_run(x, &rows),
        };
        Ok(DVector::from_vec(z))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Updates;
    use crate::rng::rng_from_seed;
    use rand::RngExt;
    use rand_distr::StandardNormal;

    fn run(g: GeometricMedian, u: &Updates) -> Result<Vec<f64>> {
        let mut rng = rng_from_seed(0);
        g.aggregate(u.view(), &mut AggContext::new(&mut rng))
            .map(|v| v.as_slice().to_vec())
    }

    fn objective(rows: &[Vec<f64>], z: &[f64]) -> f64 {
        rows.iter().map(|r| crate::data::sq_dist(r, z).sqrt()).sum()
    }

    /// Brute force in 2-D: the best point of a 201×201 grid over the bounding box, then a
    /// compass search in 16 directions with halving steps down to 1e-12.
    fn brute_force_2d(rows: &[Vec<f64>]) -> Vec<f64> {
        let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
        for r in rows {
            for k in 0..2 {
                lo[k] = lo[k].min(r[k]);
                hi[k] = hi[k].max(r[k]);
            }
        }
        let mut best = vec![lo[0], lo[1]];
        for a in 0..=200 {
            for b in 0..=200 {
                let z = vec![
                    lo[0] + (hi[0] - lo[0]) * a as f64 / 200.0,
                    lo[1] + (hi[1] - lo[1]) * b as f64 / 200.0,
                ];
                if objective(rows, &z) < objective(rows, &best) {
                    best = z;
                }
            }
        }
        let mut step = (hi[0] - lo[0]).max(hi[1] - lo[1]) / 100.0;
        while step > 1e-12 {
            let mut moved = false;
            for k in 0..16 {
                let ang = k as f64 * std::f64::consts::PI / 8.0;
                let z = vec![best[0] + step * ang.cos(), best[1] + step * ang.sin()];
                if objective(rows, &z) < objective(rows, &best) {
                    best = z;
                    moved = true;
                }
            }
            if !moved {
                step /= 2.0;
            }
        }
        best
    }

    #[test]
    fn byzfl_docstring_example() {
        // ByzFL's docstring: GeometricMedian() of (1,2,3), (4,5,6), (7,8,9) =
        // (3.78788764, 4.78788764, 5.78788764).
        let u =
            Updates::from_rows(&[vec![1., 2., 3.], vec![4., 5., 6.], vec![7., 8., 9.]]).unwrap();
        let out = run(GeometricMedian::byzfl(0.1, 3), &u).unwrap();
        for (o, want) in out.iter().zip([3.78788764, 4.78788764, 5.78788764]) {
            assert!((o - want).abs() < 1e-8, "{o} vs {want}");
        }
    }

    #[test]
    fn byzfl_one_step_by_hand() {
        // From z = 0 with points (3,4) and (0,1): β = 5 and 1, weights 1/5 and 1 (the 1/n
        // cancels): z = ((3,4)/5 + (0,1)) / (1/5 + 1) = (0.6, 1.8)/1.2 = (0.5, 1.5).
        // T = 0 returns the origin.
        let u = Updates::from_rows(&[vec![3., 4.], vec![0., 1.]]).unwrap();
        let out = run(GeometricMedian::byzfl(0.1, 1), &u).unwrap();
        assert!((out[0] - 0.5).abs() < 1e-15 && (out[1] - 1.5).abs() < 1e-15);
        assert_eq!(
            run(GeometricMedian::byzfl(0.1, 0), &u).unwrap(),
            vec![0.0, 0.0]
        );
    }

    #[test]
    fn native_converges_to_brute_force_minimiser() {
        let mut rng = rng_from_seed(21);
        for case in 0..6 {
            let n = 3 + case;
            let mut rows: Vec<Vec<f64>> = (0..n)
                .map(|_| vec![rng.random::<f64>() * 10.0, rng.random::<f64>() * 4.0 - 2.0])
                .collect();
            if case == 5 {
                // Three copies of one point outweigh 5 others: the minimiser is that point
                // (Vardi–Zhang stop, r ≤ η).
                rows.truncate(5);
                for _ in 0..3 {
                    rows.push(vec![5.0, 0.0]);
                }
            }
            let u = Updates::from_rows(&rows).unwrap();
            let z = run(GeometricMedian::native(0.0, 1000, 1e-12), &u).unwrap();
            let b = brute_force_2d(&rows);
            let (fz, fb) = (objective(&rows, &z), objective(&rows, &b));
            assert!(fz <= fb + 1e-9, "case {case}: {fz} vs brute {fb}");
            assert!(
                crate::data::sq_dist(&z, &b).sqrt() < 1e-4,
                "case {case}: {z:?} vs {b:?}"
            );
        }
    }

    #[test]
    fn native_one_dimensional_is_the_median() {
        // In 1-D the geometric median of an odd number of points is the middle one.
        let u = Updates::from_rows(&[vec![0.], vec![1.], vec![10.], vec![11.], vec![2.]]).unwrap();
        let out = run(GeometricMedian::native(0.0, 1000, 1e-10), &u).unwrap();
        assert_eq!(out, vec![2.0]);
    }

    #[test]
    fn origin_attack_pins_byzfl_but_not_native() {
        // byzfl.md §5 item 3: 40 honest ~ N(100·1, I) plus 10 zero vectors, d = 2. ByzFL's
        // three steps from the origin stay on the Byzantine points (measured distance 135
        // to the honest mean); the converged median is within about 0.44.
        let mut rng = rng_from_seed(3);
        let mut rows: Vec<Vec<f64>> = (0..40)
            .map(|_| {
                (0..2)
                    .map(|_| 100.0 + rng.sample::<f64, _>(StandardNormal))
                    .collect()
            })
            .collect();
        let honest_mean: Vec<f64> = (0..2)
            .map(|k| rows.iter().map(|r| r[k]).sum::<f64>() / 40.0)
            .collect();
        rows.extend((0..10).map(|_| vec![0.0, 0.0]));
        let u = Updates::from_rows(&rows).unwrap();
        let b = run(GeometricMedian::byzfl(0.1, 3), &u).unwrap();
        let nat = run(GeometricMedian::native(0.0, 1000, 1e-10), &u).unwrap();
        let err_b = crate::data::sq_dist(&b, &honest_mean).sqrt();
        let err_n = crate::data::sq_dist(&nat, &honest_mean).sqrt();
        // With this seed: 135.3 and 0.39 (ByzFL measured 135 and 0.44 on its own draws).
        assert!(err_b > 130.0, "byzfl error {err_b}");
        assert!(err_n < 1.0, "native error {err_n}");
    }

    #[test]
    fn infinite_rows_are_dropped() {
        // (1,1) and (3,3) plus a +∞ row: ByzFL drops the row; the midpoint of two points is a
        // geometric median and Weiszfeld from their coordinate median (2,2) stays there.
        let inf = f64::INFINITY;
        let m = nalgebra::DMatrix::from_column_slice(2, 3, &[1., 1., inf, inf, 3., 3.]);
        let u = Updates::new_allow_inf(m).unwrap();
        let nat = run(GeometricMedian::native(0.0, 100, 1e-10), &u).unwrap();
        assert!(nat.iter().all(|v| (v - 2.0).abs() < 1e-12), "{nat:?}");
        let b = run(GeometricMedian::byzfl(0.1, 3), &u).unwrap();
        assert!(b.iter().all(|v| v.is_finite()));
        let all_inf = Updates::new_allow_inf(nalgebra::DMatrix::from_element(2, 2, inf)).unwrap();
        assert!(matches!(
            run(GeometricMedian::byzfl(0.1, 3), &all_inf),
            Err(Error::NonFinite { .. })
        ));
    }

    #[test]
    fn parameters_are_validated() {
        assert!(build(&Params::new().with("nu", 0.0), Compat::Byzfl).is_err());
        assert!(build(&Params::new().with("nu", 0.0), Compat::Native).is_ok());
        assert!(build(&Params::new().with("T", 2.5), Compat::Native).is_err());
        assert!(build(&Params::new().with("tol", -1.0), Compat::Native).is_err());
        let e = GeometricMedian::byzfl(0.1, 3)
            .check_n(0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("n >= 1"), "{e}");
    }

    #[test]
    fn matches_byzfl_reference_output() {
        // Output of ByzFL 0.0.11 itself on a 9×4 input (see the `byzfl_fixture` module).
        use crate::aggregators::byzfl_fixture as fx;
        let u = fx::updates();
        let mut rng = rng_from_seed(0);
        let out = build(&Params::new(), Compat::Byzfl)
            .unwrap()
            .aggregate(u.view(), &mut AggContext::new(&mut rng))
            .unwrap();
        fx::assert_close(out.as_slice(), &fx::GEOMED_DEFAULT);
    }
}
