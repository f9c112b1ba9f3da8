//! Static norm clipping: xᵢ ← xᵢ · min(1, c/‖xᵢ‖).
//!
//! ByzFL: `Clipping(c=2.0)`, which overwrites its input in place; lbounds returns new vectors,
//! which is the same result when the caller does not reuse the input.
//!
//! **Infinite input** (the `inf` attack): a vector with an infinite entry has norm +∞ and ByzFL
//! computes x·(c/∞) = x·0, which is NaN in the infinite entries. lbounds returns
//! [`crate::Error::NonFinite`] instead of a NaN vector. A finite vector whose norm overflows
//! to +∞ is scaled by 0 (all zeros), as in ByzFL.

use crate::aggregators::{AggContext, PreAggregator};
use crate::data::{norm, Updates};
use crate::params::{Compat, Params, Spec};
use crate::{Error, Result};

/// Registry entry.
pub const SPEC: Spec<dyn PreAggregator> = Spec {
    name: "clipping",
    byzfl: Some("Clipping"),
    keys: &["c"],
    summary: "scale every vector to norm at most c (default 2.0)",
    build,
};

fn build(p: &Params, _: Compat) -> Result<Box<dyn PreAggregator>> {
    Ok(Box::new(Clipping::new(p.positive("c", 2.0)?)))
}

/// Clips each vector to Euclidean norm at most `c`.
#[derive(Clone, Copy, Debug)]
pub struct Clipping {
    c: f64,
}

impl Clipping {
    /// A clipping step with threshold `c` (> 0, checked by the registry builder).
    pub fn new(c: f64) -> Self {
        Clipping { c }
    }
}

impl PreAggregator for Clipping {
    fn name(&self) -> &'static str {
        "clipping"
    }

    fn check_n(&self, _n: usize) -> Result<()> {
        Ok(())
    }

    fn apply(&self, mut x: Updates, _cx: &mut AggContext<'_>) -> Result<Updates> {
        use rayon::prelude::*;
        let d = x.d();
        // Vectors are independent: clip them in parallel (same bytes for any thread count).
        x.as_mut_slice()
            .par_chunks_mut(d)
            .enumerate()
            .try_for_each(|(i, col)| {
                let nrm = norm(col);
                // ByzFL: x * min(1, c/‖x‖); a zero vector stays zero.
                if nrm > self.c {
                    // An infinite entry makes the norm infinite, so finite norms skip the scan.
                    if !nrm.is_finite() && col.iter().any(|v| v.is_infinite()) {
                        return Err(Error::NonFinite {
                            what: "input of clipping".into(),
                            detail: format!(
                            "vector {i} has an infinite entry: clipping it computes inf * 0 = NaN \
                             (ByzFL returns NaN here)"
                        ),
                        });
                    }
                    let scale = self.c / nrm;
                    col.iter_mut().for_each(|v| *v *= scale);
                }
                Ok(())
            })?;
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;

    #[test]
    fn known_answer() {
        // (3,4) has norm 5 → scaled by 2/5 to (1.2, 1.6); (0.6, 0.8) has norm 1 → unchanged.
        let u = Updates::from_rows(&[vec![3.0, 4.0], vec![0.6, 0.8]]).unwrap();
        let mut rng = rng_from_seed(0);
        let out = Clipping::new(2.0)
            .apply(u.clone(), &mut AggContext::new(&mut rng))
            .unwrap();
        assert!((out.view().col(0)[0] - 1.2).abs() < 1e-15);
        assert!((out.view().col(0)[1] - 1.6).abs() < 1e-15);
        assert_eq!(out.view().col(1), &[0.6, 0.8]);
    }

    #[test]
    fn infinite_entries_are_an_error_not_nan() {
        let m = nalgebra::DMatrix::from_row_slice(2, 2, &[f64::INFINITY, 1.0, 0.0, 0.0]);
        let u = Updates::new_allow_inf(m).unwrap();
        let mut rng = rng_from_seed(0);
        let e = Clipping::new(2.0)
            .apply(u.clone(), &mut AggContext::new(&mut rng))
            .unwrap_err();
        assert!(matches!(e, Error::NonFinite { .. }), "{e}");
        assert!(e.to_string().contains("vector 0"), "{e}");
        // A finite vector whose norm overflows is scaled by c/inf = 0, as in ByzFL.
        let u = Updates::from_rows(&[vec![1e300, 1e300]]).unwrap();
        let out = Clipping::new(2.0)
            .apply(u.clone(), &mut AggContext::new(&mut rng))
            .unwrap();
        assert_eq!(out.view().col(0), &[0.0, 0.0]);
    }
}
