//! Static norm clipping: xᵢ ← xᵢ · min(1, c/‖xᵢ‖).
//!
//! ByzFL: `Clipping(c=2.0)`, which overwrites its input in place; lbounds returns new vectors,
//! which is the same result when the caller does not reuse the input.
//!
//! **Far and infinite input.** Natively a clipped vector is c·u, u its direction, at any
//! distance: a finite vector whose norm overflows (1e300 entries, rows near 1.7e308) is
//! clipped along its direction computed on x/max|xⱼ|, and a vector with ±∞ entries (the `inf`
//! attack) becomes c times its limit direction: the sign pattern of its infinite entries over
//! √(their count), 0 elsewhere (the same rule as centered clipping's far inputs).
//! `Compat::Byzfl` reproduces ByzFL: x·(c/∞) = x·0 is all zeros for a finite vector whose norm
//! overflows, and NaN in the infinite entries (0 elsewhere), which the next rule takes as
//! ByzFL does (the NaN table in `aggregators::far`). A vector holding NaN has a NaN norm,
//! never > c, and passes as it is, as in ByzFL.
//!
//! **NaN** (native, read as +∞ by `Updates::new_untrusted`): its vector becomes c times its
//! limit direction, +1 in its NaN coordinates.

use crate::aggregators::centered_clipping::far_direction;
use crate::aggregators::{AggContext, PreAggregator};
use crate::data::{norm, Updates};
use crate::params::{Compat, Params, Spec};
use crate::Result;

/// Registry entry.
pub const SPEC: Spec<dyn PreAggregator> = Spec {
    name: "clipping",
    byzfl: Some("Clipping"),
    keys: &["c"],
    summary: "scale every vector to norm at most c (default 2.0)",
    build,
};

fn build(p: &Params, compat: Compat) -> Result<Box<dyn PreAggregator>> {
    Ok(Box::new(
        Clipping::new(p.positive("c", 2.0)?).with_compat(compat),
    ))
}

/// Clips each vector to Euclidean norm at most `c`.
#[derive(Clone, Copy, Debug)]
pub struct Clipping {
    c: f64,
    compat: Compat,
}

impl Clipping {
    /// A clipping step with threshold `c` (> 0, checked by the registry builder), native
    /// semantics.
    pub fn new(c: f64) -> Self {
        Clipping {
            c,
            compat: Compat::Native,
        }
    }

    /// The same step with ByzFL's or lbounds' arithmetic on far inputs (module docs).
    pub fn with_compat(mut self, compat: Compat) -> Self {
        self.compat = compat;
        self
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
        x.as_mut_slice().par_chunks_mut(d).for_each(|col| {
            let nrm = norm(col);
            // ByzFL: x * min(1, c/‖x‖); a zero vector stays zero.
            if nrm > self.c {
                if !nrm.is_finite() && self.compat == Compat::Native {
                    let dir = far_direction(col.iter().copied());
                    for (v, u) in col.iter_mut().zip(dir) {
                        *v = self.c * u;
                    }
                    return;
                }
                // ByzFL: an infinite norm gives c/∞ = 0, so NaN (∞ · 0) in the infinite
                // entries and 0 elsewhere: passed on for the next rule (see `far`).
                let scale = self.c / nrm;
                col.iter_mut().for_each(|v| *v *= scale);
            }
        });
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
    fn byzfl_semantics_on_infinite_and_overflowing_vectors() {
        let m = nalgebra::DMatrix::from_row_slice(2, 2, &[f64::INFINITY, 1.0, 0.0, 0.0]);
        let u = Updates::new_allow_inf(m).unwrap();
        let mut rng = rng_from_seed(0);
        let byzfl = Clipping::new(2.0).with_compat(Compat::Byzfl);
        // (+inf, 0) · (2/inf) = (inf · 0, 0 · 0) = (NaN, 0), as NumPy computes it; the next
        // rule takes the NaN as ByzFL does (`far`).
        let out = byzfl
            .apply(u.clone(), &mut AggContext::new(&mut rng))
            .unwrap();
        assert!(out.view().col(0)[0].is_nan() && out.view().col(0)[1] == 0.0);
        assert_eq!(out.view().col(1), &[1.0, 0.0]);
        // A finite vector whose norm overflows is scaled by c/inf = 0, as in ByzFL.
        let u = Updates::from_rows(&[vec![1e300, 1e300]]).unwrap();
        let out = byzfl
            .apply(u.clone(), &mut AggContext::new(&mut rng))
            .unwrap();
        assert_eq!(out.view().col(0), &[0.0, 0.0]);
    }

    #[test]
    fn native_clips_far_and_infinite_vectors_along_their_direction() {
        let mut rng = rng_from_seed(0);
        // (+inf, 0) → c·(1, 0); (1, 0) is inside the ball and stays.
        let m = nalgebra::DMatrix::from_row_slice(2, 2, &[f64::INFINITY, 1.0, 0.0, 0.0]);
        let u = Updates::new_allow_inf(m).unwrap();
        let out = Clipping::new(2.0)
            .apply(u, &mut AggContext::new(&mut rng))
            .unwrap();
        assert_eq!(out.view().col(0), &[2.0, 0.0]);
        assert_eq!(out.view().col(1), &[1.0, 0.0]);
        // (1e300, 1e300) has norm √2·1e300 (its square overflows) → c·(1, 1)/√2 = (√2, √2).
        let u = Updates::from_rows(&[vec![1e300, 1e300], vec![-1.7e308, 0.0]]).unwrap();
        let out = Clipping::new(2.0)
            .apply(u, &mut AggContext::new(&mut rng))
            .unwrap();
        let r2 = 2f64.sqrt();
        assert!(
            (out.view().col(0)[0] - r2).abs() < 1e-15,
            "{:?}",
            out.view().col(0)
        );
        assert!((out.view().col(0)[1] - r2).abs() < 1e-15);
        assert_eq!(out.view().col(1), &[-2.0, 0.0]);
    }
}
