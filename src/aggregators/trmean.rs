//! Coordinate-wise trimmed mean: per coordinate, drop the f smallest and the f largest values
//! and average the n − 2f left.
//!
//! ByzFL: `TrMean(f=0)`; requires n > 2f (ByzFL raises when 2f ≥ n). f = 0 is the plain mean.
//! `Compat::Byzfl` and `Compat::Native` coincide. The kept values are added in ascending order
//! and divided by n − 2f, which is exactly NumPy's `sort(axis=0)[f:-f].mean(axis=0)`.
//!
//! +∞ entries (the `inf` attack) are ordered like any value: when at most f of a coordinate's
//! values are +∞ they are trimmed; otherwise the output is +∞, as in NumPy.
//!
//! Implementation: blocked transpose and a sorting network vectorised across coordinates
//! (see the internal `coordinatewise` module), parallel over coordinate blocks.
//!
//! **NaN** (native, read as +∞ by `Updates::new_untrusted`): a +∞ value of its coordinate,
//! trimmed while at most f of that coordinate's values are non-finite.
//!
//! # References
//! - D. Yin, Y. Chen, K. Ramchandran, P. Bartlett, "Byzantine-robust distributed learning:
//!   towards optimal statistical rates", ICML 2018, arXiv 1803.01498.

use super::coordinatewise::{map_columns, SortingNetwork, LANES};
use super::{require_honest_majority, AggContext, Aggregator};
use crate::data::UpdatesView;
use crate::params::{Compat, Params, Spec};
use crate::Result;
use nalgebra::DVector;

/// Registry entry.
pub const SPEC: Spec<dyn Aggregator> = Spec {
    name: "trmean",
    byzfl: Some("TrMean"),
    keys: &["f"],
    summary: "coordinate-wise trimmed mean dropping f values at each end (needs n > 2f)",
    build,
};

fn build(p: &Params, _: Compat) -> Result<Box<dyn Aggregator>> {
    Ok(Box::new(TrimmedMean::new(p.f()?)))
}

/// Coordinate-wise trimmed mean with trimming level f.
#[derive(Clone, Copy, Debug)]
pub struct TrimmedMean {
    f: usize,
}

impl TrimmedMean {
    /// Trims `f` values at each end of every coordinate.
    pub fn new(f: usize) -> Self {
        TrimmedMean { f }
    }

    /// The trimming level f.
    pub fn f(&self) -> usize {
        self.f
    }
}

impl Aggregator for TrimmedMean {
    fn name(&self) -> &'static str {
        "trmean"
    }

    fn check_n(&self, n: usize) -> Result<()> {
        require_honest_majority("trmean", n, self.f)
    }

    fn reads_nan_as_infinity(&self) -> bool {
        // f = 0 is the mean, which propagates a NaN.
        self.f > 0
    }

    fn aggregate(&self, x: UpdatesView<'_>, _cx: &mut AggContext<'_>) -> Result<DVector<f64>> {
        self.check_n(x.n())?;
        let (n, f) = (x.n(), self.f);
        if f == 0 {
            // ByzFL returns Average() here.
            let all: Vec<usize> = (0..n).collect();
            return Ok(x.mean_of(all.iter().copied()));
        }
        let net = SortingNetwork::selecting(n, f..n - f);
        let kept = (n - 2 * f) as f64;
        let out = map_columns(
            x,
            None,
            #[inline(always)]
            |w, out| {
                net.apply(w);
                let mut s = [0.0; LANES];
                for wire in &w[f..n - f] {
                    for l in 0..LANES {
                        s[l] += wire[l];
                    }
                }
                for (o, s) in out.iter_mut().zip(s) {
                    *o = s / kept;
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
    use rand::RngExt;

    fn run(f: usize, u: &Updates) -> Result<Vec<f64>> {
        let mut rng = rng_from_seed(0);
        TrimmedMean::new(f)
            .aggregate(u.view(), &mut AggContext::new(&mut rng))
            .map(|v| v.as_slice().to_vec())
    }

    #[test]
    fn known_answers() {
        // ByzFL docstring: TrMean(1) of (1,2,3), (4,5,6), (7,8,9) = (4,5,6).
        let u =
            Updates::from_rows(&[vec![1., 2., 3.], vec![4., 5., 6.], vec![7., 8., 9.]]).unwrap();
        assert_eq!(run(1, &u).unwrap(), vec![4., 5., 6.]);
        // f = 1 on 5 values: coordinate 0 is -100, 1, 2, 4, 50 → drop -100 and 50 → 7/3;
        // coordinate 1 is 0, 0, 3, 3, 9 → drop one 0 and the 9 → (0+3+3)/3 = 2.
        let u = Updates::from_rows(&[
            vec![50., 0.],
            vec![1., 3.],
            vec![-100., 9.],
            vec![4., 0.],
            vec![2., 3.],
        ])
        .unwrap();
        let out = run(1, &u).unwrap();
        assert_eq!(out, vec![7.0 / 3.0, 2.0]);
        // f = 0 is the mean: (50+1-100+4+2)/5 = -8.6, (0+3+9+0+3)/5 = 3.
        assert_eq!(run(0, &u).unwrap(), vec![-43.0 / 5.0, 3.0]);
    }

    #[test]
    fn matches_sorting_on_random_inputs() {
        // Reference: NumPy's definition, sort each coordinate, add the middle in order.
        let mut rng = rng_from_seed(5);
        for (n, f) in [(3usize, 1usize), (10, 3), (21, 10), (50, 10), (50, 24)] {
            let d = 300;
            let rows: Vec<Vec<f64>> = (0..n)
                .map(|_| (0..d).map(|_| rng.random::<f64>() * 4.0 - 1.0).collect())
                .collect();
            let u = Updates::from_rows(&rows).unwrap();
            let got = run(f, &u).unwrap();
            for j in 0..d {
                let mut v: Vec<f64> = rows.iter().map(|r| r[j]).collect();
                v.sort_by(f64::total_cmp);
                let want = v[f..n - f].iter().sum::<f64>() / (n - 2 * f) as f64;
                assert_eq!(got[j], want, "n={n} f={f} j={j}");
            }
        }
    }

    #[test]
    fn requires_honest_majority() {
        let u = Updates::from_rows(&[vec![1.0], vec![2.0], vec![3.0], vec![4.0]]).unwrap();
        let e = run(2, &u).unwrap_err().to_string();
        assert!(e.contains("n > 2f = 4") && e.contains("n = 4"), "{e}");
        assert!(TrimmedMean::new(1).check_n(3).is_ok());
        assert!(build(&Params::new().with("f", 0.5), Compat::Native).is_err());
    }

    #[test]
    fn infinite_inputs_are_trimmed() {
        // 1 of 4 values is +∞ with f = 1: trimmed, leaving (2+3)/2 = 2.5; with 2 +∞ values
        // one survives the trimming and the output is +∞.
        let inf = f64::INFINITY;
        let u = Updates::new_allow_inf(nalgebra::DMatrix::from_column_slice(
            1,
            4,
            &[1.0, 2.0, 3.0, inf],
        ))
        .unwrap();
        assert_eq!(run(1, &u).unwrap(), vec![2.5]);
        let u = Updates::new_allow_inf(nalgebra::DMatrix::from_column_slice(
            1,
            4,
            &[1.0, 2.0, inf, inf],
        ))
        .unwrap();
        assert_eq!(run(1, &u).unwrap(), vec![inf]);
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
        fx::assert_close(out.as_slice(), &fx::TRMEAN_F2);
    }
}
