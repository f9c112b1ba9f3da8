//! Coordinate-wise median: output coordinate j is the median of x₁ⱼ, …, xₙⱼ; for even n the
//! mean of the two middle values (NumPy's `np.median`, ByzFL's torch path agrees).
//!
//! ByzFL: `Median()`, no parameters. Accepts any n ≥ 1 (the `f` key is accepted and unused, as
//! the benchmark passes `f` to every rule). Breakdown point ⌊(n − 1)/2⌋ per coordinate.
//! `Compat::Byzfl` and `Compat::Native` coincide.
//!
//! +∞ entries (the `inf` attack) are ordered like any value: a coordinate whose middle
//! values include +∞ gets +∞, as in NumPy.
//!
//! Implementation: blocked transpose and a selection network vectorised across coordinates
//! (see the internal `coordinatewise` module), parallel over coordinate blocks.
//!
//! **NaN** (native, a Byzantine user's input read by `Updates::new_untrusted`): a +∞ value of
//! its coordinate, so the median stays between honest values while fewer than half a
//! coordinate's values are non-finite.
//!
//! # References
//! - D. Yin, Y. Chen, K. Ramchandran, P. Bartlett, "Byzantine-robust distributed learning:
//!   towards optimal statistical rates", ICML 2018, arXiv 1803.01498.

use super::coordinatewise::{map_columns, Lane, SortingNetwork, LANES};
use super::{AggContext, Aggregator};
use crate::data::UpdatesView;
use crate::params::{Compat, Params, Spec};
use crate::{Error, Result};
use nalgebra::DVector;

/// Registry entry.
pub const SPEC: Spec<dyn Aggregator> = Spec {
    name: "median",
    byzfl: Some("Median"),
    keys: &["f"],
    summary: "coordinate-wise median (even n: mean of the two middle values)",
    build,
};

fn build(p: &Params, _: Compat) -> Result<Box<dyn Aggregator>> {
    p.f()?;
    Ok(Box::new(Median))
}

/// Coordinate-wise median.
#[derive(Clone, Copy, Debug, Default)]
pub struct Median;

impl Aggregator for Median {
    fn name(&self) -> &'static str {
        "median"
    }

    fn check_n(&self, n: usize) -> Result<()> {
        if n == 0 {
            return Err(Error::too_few("median", "n >= 1", "n = 0"));
        }
        Ok(())
    }

    fn reads_nan_as_infinity(&self) -> bool {
        true
    }

    fn aggregate(&self, x: UpdatesView<'_>, _cx: &mut AggContext<'_>) -> Result<DVector<f64>> {
        self.check_n(x.n())?;
        Ok(DVector::from_vec(coordinate_median(x, None)))
    }
}

/// A kernel for [`super::coordinatewise::map_blocks`] computing the median of `n` wires.
pub(crate) fn median_kernel(n: usize) -> impl Fn(&mut [Lane], &mut [f64]) + Sync {
    let k = n / 2;
    let even = n.is_multiple_of(2);
    let net = if even {
        SortingNetwork::selecting(n, [k - 1, k])
    } else {
        SortingNetwork::selecting(n, [k])
    };
    #[inline(always)]
    move |w: &mut [Lane], out: &mut [f64]| {
        net.apply(w);
        let mut m = [0.0; LANES];
        for l in 0..LANES {
            m[l] = if even {
                (w[k - 1][l] + w[k][l]) / 2.0
            } else {
                w[k][l]
            };
        }
        out.copy_from_slice(&m[..out.len()]);
    }
}

/// Coordinate-wise median of the columns `cols` of `x` (all when `None`; at least one).
pub(crate) fn coordinate_median(x: UpdatesView<'_>, cols: Option<&[usize]>) -> Vec<f64> {
    let n = cols.map_or(x.n(), <[usize]>::len);
    map_columns(x, cols, median_kernel(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Updates;
    use crate::rng::rng_from_seed;
    use rand::RngExt;

    fn run(rows: &[Vec<f64>]) -> Vec<f64> {
        let u = Updates::from_rows(rows).unwrap();
        let mut rng = rng_from_seed(0);
        Median
            .aggregate(u.view(), &mut AggContext::new(&mut rng))
            .unwrap()
            .as_slice()
            .to_vec()
    }

    #[test]
    fn known_answers() {
        // ByzFL docstring example: median of (1,2,3), (4,5,6), (7,8,9) = (4,5,6).
        assert_eq!(
            run(&[vec![1., 2., 3.], vec![4., 5., 6.], vec![7., 8., 9.]]),
            vec![4., 5., 6.]
        );
        // Even n: coordinate 0 sorted 1,2,3,100 → (2+3)/2 = 2.5; coordinate 1: -5,0,0,7 → 0.
        assert_eq!(
            run(&[vec![100., 0.], vec![2., -5.], vec![1., 7.], vec![3., 0.]]),
            vec![2.5, 0.0]
        );
        // n = 1 returns the input; n = 2 the midpoint.
        assert_eq!(run(&[vec![3., -1.]]), vec![3., -1.]);
        assert_eq!(run(&[vec![3., -1.], vec![5., 1.]]), vec![4., 0.]);
    }

    #[test]
    fn matches_sorting_on_random_inputs() {
        // Reference: sort each coordinate's values and take the middle (NumPy's definition),
        // for n around the network sizes and d spanning several blocks and a ragged tail.
        let mut rng = rng_from_seed(11);
        for n in [1usize, 2, 3, 7, 16, 33, 50, 300, 2500] {
            let d = if n > 100 { 40 } else { 700 };
            let rows: Vec<Vec<f64>> = (0..n)
                .map(|_| (0..d).map(|_| rng.random::<f64>() * 10.0 - 5.0).collect())
                .collect();
            let got = run(&rows);
            for j in 0..d {
                let mut v: Vec<f64> = rows.iter().map(|r| r[j]).collect();
                v.sort_by(f64::total_cmp);
                assert_eq!(got[j], super::super::coordinatewise::median_of_sorted(&v));
            }
        }
    }

    #[test]
    fn infinite_inputs_do_not_panic() {
        // 2 of 5 vectors are +∞: the median (3rd smallest) stays finite; with 3 of 5 it is +∞.
        let inf = f64::INFINITY;
        let m = nalgebra::DMatrix::from_column_slice(1, 5, &[1.0, 2.0, 3.0, inf, inf]);
        let u = Updates::new_allow_inf(m).unwrap();
        let mut rng = rng_from_seed(0);
        let out = Median
            .aggregate(u.view(), &mut AggContext::new(&mut rng))
            .unwrap();
        assert_eq!(out[0], 3.0);
        let m = nalgebra::DMatrix::from_column_slice(1, 5, &[1.0, 2.0, inf, inf, inf]);
        let u = Updates::new_allow_inf(m).unwrap();
        let out = Median
            .aggregate(u.view(), &mut AggContext::new(&mut rng))
            .unwrap();
        assert_eq!(out[0], inf);
    }

    #[test]
    fn rejects_bad_f_and_accepts_any_n() {
        assert!(build(&Params::new().with("f", -1.0), Compat::Native).is_err());
        assert!(Median.check_n(1).is_ok());
        let e = Median.check_n(0).unwrap_err().to_string();
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
        fx::assert_close(out.as_slice(), &fx::MEDIAN);
    }
}
