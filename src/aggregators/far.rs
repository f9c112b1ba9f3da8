//! Native semantics for inputs at infinity and inputs whose squares overflow.
//!
//! A Byzantine user may send ±∞ or 10³⁰⁰. lbounds reads a vector with a non-finite entry as a
//! point *infinitely far* from every other input: it is the first outlier any rule discards.
//! The rules built on Gram matrices (CAF, SMEA, the spectral filter, DnC) and the geometric
//! median meet such inputs only where their O(n²) checks already see a non-finite square,
//! so the common, finite case pays nothing. They then [`tame`] the input:
//!
//! 1. every vector with a non-finite entry is set aside (its weight in the rule's output is
//!    0) and counts as one of the f declared Byzantine inputs, so the rule runs on the
//!    n − k finite vectors with f − k (more than f such vectors is an error: the rule's
//!    guarantee no longer holds);
//! 2. the finite vectors are divided by a power of two 2ᵉ close to their largest |entry|, so
//!    no square or sum of squares overflows (the division is exact: only the exponent
//!    changes). The rules are scale-equivariant, so their selections (weights, subsets) are
//!    unchanged by the division, and the caller forms its output from the original inputs.
//!
//! **NaN.** A NaN has no sign and no size. Natively, what Byzantine users send is read through
//! [`Updates::new_untrusted`], which turns every NaN entry into +∞ before any rule sees it: a
//! vector with a NaN is then a point at infinity whose limit direction is +1 in its NaN
//! coordinates (and the signs of its infinite ones). It is set aside here like any infinite
//! vector, it is a +∞ value for the coordinate-wise rules (trimmed, or outside the median's
//! middle), and the clipping steps clip it along that direction. A Byzantine user could have
//! sent that +∞ itself, so every guarantee a rule keeps against ±∞ it keeps against NaN. Each
//! rule's module docs say in one line what it does with such a vector. The average is not
//! robust and says so ([`Error::NonFinite`]); `--compat byzfl` refuses NaN
//! ([`crate::data::NonFiniteEntries::KeepInfinities`]).
//!
//! For Krum-type selections this is exactly the limit of the rule as the k vectors go to
//! infinity (their distances dominate every score, so they are never selected and never a
//! neighbour); for the filters (CAF, spectral, DnC) it is the documented convention that an
//! infinitely distant input is removed in full before any finite one.

use crate::data::{Updates, UpdatesView};
use crate::{Error, Result};
use nalgebra::DMatrix;

/// The finite inputs, rescaled, and where they came from.
pub(crate) struct Tamed {
    /// The finite vectors divided by `scale`, in their original order.
    pub x: Updates,
    /// Index in the original input of each vector of `x`.
    pub kept: Vec<usize>,
    /// f minus the number of vectors set aside.
    pub f: usize,
    /// The power of two the finite vectors were divided by.
    pub scale: f64,
}

impl Tamed {
    /// Weights over the tamed inputs as weights over the original ones (0 for those set
    /// aside).
    pub fn weights_back(&self, w: &[f64], n: usize) -> Vec<f64> {
        let mut out = vec![0.0; n];
        for (&i, &wi) in self.kept.iter().zip(w) {
            out[i] = wi;
        }
        out
    }

    /// Indices over the tamed inputs as indices of the original ones (order kept).
    pub fn indices_back(&self, idx: &[usize]) -> Vec<usize> {
        idx.iter().map(|&i| self.kept[i]).collect()
    }
}

/// Sets aside the vectors with a non-finite entry and rescales the rest (module docs).
///
/// # Errors
/// [`Error::NonFinite`] naming `rule` when more than `f` vectors are non-finite, or none is
/// finite.
pub(crate) fn tame(x: UpdatesView<'_>, f: usize, rule: &str) -> Result<Tamed> {
    let kept: Vec<usize> = (0..x.n())
        .filter(|&i| x.col(i).iter().all(|v| v.is_finite()))
        .collect();
    let k = x.n() - kept.len();
    if k > f || kept.is_empty() {
        return Err(Error::NonFinite {
            what: format!("input of {rule}"),
            detail: format!(
                "{k} of {} vectors have an infinite or NaN entry, more than the declared \
                 f = {f} the rule can discard",
                x.n()
            ),
        });
    }
    let scale = pow2_scale(x, &kept);
    let mut m = DMatrix::zeros(x.d(), kept.len());
    for (c, &i) in kept.iter().enumerate() {
        for (o, v) in m.column_mut(c).iter_mut().zip(x.col(i)) {
            *o = v / scale;
        }
    }
    // invariant: every entry is finite (kept columns, divided by a power of two ≥ 2⁻¹⁰²²).
    let x = Updates::new(m).expect("invariant: finite entries");
    Ok(Tamed {
        x,
        kept,
        f: f - k,
        scale,
    })
}

/// Whether a Gram matrix is so small or so large (largest diagonal entry outside
/// [10⁻¹⁰⁰, 10¹⁰⁰], inputs beyond ~10^∓50) that the eigen-solvers' products of its entries
/// would underflow or overflow (CAF returned the plain mean from about 10⁷⁸ up): the rules then
/// [`tame`] their input as for non-finite squares (the rescaling is exact), an O(n) check.
pub(crate) fn badly_scaled(g: &DMatrix<f64>) -> bool {
    let top = (0..g.nrows()).map(|i| g[(i, i)]).fold(0.0, f64::max);
    top > 0.0 && !(1e-100..=1e100).contains(&top)
}

/// 2ᵉ with 2ᵉ⁻¹ < max |xᵢⱼ| ≤ 2ᵉ over the columns `kept` (1 when all are 0), e clamped to
/// [−1022, 1023] so that 2ᵉ itself is a normal number.
pub(crate) fn pow2_scale(x: UpdatesView<'_>, kept: &[usize]) -> f64 {
    let big = kept
        .iter()
        .flat_map(|&i| x.col(i))
        .fold(0.0f64, |m, v| m.max(v.abs()));
    if big == 0.0 {
        return 1.0;
    }
    let e = big.log2().ceil().clamp(-1022.0, 1023.0);
    2f64.powi(e as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_aside_infinite_vectors_and_rescales_exactly() {
        let inf = f64::INFINITY;
        let m = DMatrix::from_column_slice(
            2,
            4,
            &[1e300, -3e299, inf, 0.0, 2.0, 1.0, 1.7e308, 1.6e308],
        );
        let u = Updates::new_allow_inf(m).unwrap();
        let t = tame(u.view(), 1, "test").unwrap();
        assert_eq!(t.kept, vec![0, 2, 3]);
        assert_eq!(t.f, 0);
        assert_eq!(t.scale, 2f64.powi(1023));
        // Exact: multiplying back recovers the inputs bit for bit.
        assert_eq!(t.x.view().col(0)[0] * t.scale, 1e300);
        assert_eq!(t.x.view().col(2)[0] * t.scale, 1.7e308);
        assert_eq!(
            t.weights_back(&[0.5, 0.25, 0.25], 4),
            vec![0.5, 0.0, 0.25, 0.25]
        );
        assert_eq!(t.indices_back(&[0, 2]), vec![0, 3]);
        // Two infinite vectors with f = 1: the rule cannot discard both.
        let m = DMatrix::from_column_slice(1, 3, &[inf, -inf, 0.0]);
        let u = Updates::new_allow_inf(m).unwrap();
        let e = tame(u.view(), 1, "caf").err().unwrap().to_string();
        assert!(e.contains("caf") && e.contains("f = 1"), "{e}");
    }
}
