//! A little is enough (ALIE): every Byzantine user sends ḡ + τ·σ, with σ the coordinate-wise
//! standard deviation of the honest vectors (ddof = 1).
//!
//! ByzFL: `ALittleIsEnough(tau=1.5)`: `mean + sqrt(var(ddof=1)) * tau`, one vector sent by all f
//! Byzantine users. Needs at least two honest vectors (σ with ddof = 1 is 0/0 for one vector;
//! ByzFL returns NaN there, lbounds returns [`Error::TooFewInputs`]). Any finite τ is accepted.
//!
//! Baruch et al. choose τ = z_max = Φ⁻¹((n − f − s)/(n − f)), s = ⌊n/2⌋ + 1 − f, so that the
//! Byzantine vector stays inside the honest spread; ByzFL (and lbounds) take τ as a parameter.
//! Means and variances follow NumPy's order: a left-to-right sum over vectors divided by the
//! count.
//!
//! # References
//! Baruch, Baruch & Goldberg, "A Little Is Enough: Circumventing Defenses For Distributed
//! Learning", NeurIPS 2019, arXiv 1902.06156.

use super::{require_attackers, Attack, AttackContext};
use crate::data::{Updates, UpdatesView};
use crate::params::{Compat, Params, Spec};
use crate::{Error, Result};
use nalgebra::DVector;

/// Registry entry.
pub const SPEC: Spec<dyn Attack> = Spec {
    name: "a_little_is_enough",
    byzfl: Some("ALittleIsEnough"),
    keys: &["tau"],
    summary: "send mean + tau * std of the honest vectors (ddof = 1; default tau = 1.5)",
    build,
};

fn build(p: &Params, _: Compat) -> Result<Box<dyn Attack>> {
    Ok(Box::new(ALittleIsEnough::new(p.f64("tau", 1.5)?)))
}

/// Sends ḡ + τ·σ.
#[derive(Clone, Copy, Debug)]
pub struct ALittleIsEnough {
    tau: f64,
}

impl ALittleIsEnough {
    /// ALIE with factor `tau` (finite; checked by the registry builder).
    pub fn new(tau: f64) -> Self {
        ALittleIsEnough { tau }
    }
}

impl Attack for ALittleIsEnough {
    fn name(&self) -> &'static str {
        "a_little_is_enough"
    }

    fn corrupt(
        &self,
        honest: UpdatesView<'_>,
        f: usize,
        _cx: &mut AttackContext<'_>,
    ) -> Result<Updates> {
        require_attackers(f)?;
        let (mean, std) = byzfl_mean_std("a_little_is_enough", honest)?;
        Updates::repeat(&alie_vector(&mean, &std, self.tau), f)
    }
}

/// ḡ + σ·τ, in ByzFL's operation order (`add(mean, multiply(std, tau))`).
pub(crate) fn alie_vector(mean: &DVector<f64>, std: &DVector<f64>, tau: f64) -> DVector<f64> {
    mean.zip_map(std, |m, s| m + s * tau)
}

/// Coordinate-wise mean as NumPy computes it: a left-to-right sum over the vectors, divided
/// by their number.
pub(crate) fn byzfl_mean(x: UpdatesView<'_>) -> DVector<f64> {
    let mut acc = x.col(0).to_vec();
    for c in x.cols().skip(1) {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    let n = x.n() as f64;
    DVector::from_iterator(x.d(), acc.into_iter().map(|a| a / n))
}

/// A standard deviation with ddof = 1 needs two vectors.
fn require_two(who: &str, n: usize) -> Result<()> {
    if n < 2 {
        return Err(Error::too_few(
            who,
            "at least 2 honest vectors (standard deviation with ddof = 1)",
            format!("{n} honest vector"),
        ));
    }
    Ok(())
}

/// Coordinates per block of [`byzfl_mean_std`]: n vectors × 512 coordinates (160 KB at
/// n = 40) stay in the L2 cache between the mean's pass and the deviations' pass.
const BLOCK: usize = 512;

/// [`byzfl_mean`] and [`std_ddof1`] in one sweep over memory, bit for bit the same numbers:
/// the coordinates are taken in blocks, and each block's two passes (sum, then squared
/// deviations, both left to right over the vectors) run while the block is in cache. At the
/// training loop's sizes (40 × 8·10⁴) the two separate passes each stream the whole matrix
/// from memory; this streams it once.
///
/// # Errors
/// As [`std_ddof1`].
pub(crate) fn byzfl_mean_std(
    who: &str,
    x: UpdatesView<'_>,
) -> Result<(DVector<f64>, DVector<f64>)> {
    require_two(who, x.n())?;
    let (d, n) = (x.d(), x.n());
    let mut mean = DVector::<f64>::zeros(d);
    let mut std = DVector::<f64>::zeros(d);
    let dof = (n - 1) as f64;
    for start in (0..d).step_by(BLOCK) {
        let end = (start + BLOCK).min(d);
        let m = &mut mean.as_mut_slice()[start..end];
        m.copy_from_slice(&x.col(0)[start..end]);
        for c in x.cols().skip(1) {
            for (a, v) in m.iter_mut().zip(&c[start..end]) {
                *a += v;
            }
        }
        m.iter_mut().for_each(|a| *a /= n as f64);
        let s = &mut std.as_mut_slice()[start..end];
        for c in x.cols() {
            for ((a, v), mu) in s.iter_mut().zip(&c[start..end]).zip(m.iter()) {
                let t = v - mu;
                *a += t * t;
            }
        }
        s.iter_mut().for_each(|a| *a = (*a / dof).sqrt());
    }
    Ok((mean, std))
}

/// Coordinate-wise standard deviation with ddof = 1 around `mean`, as NumPy computes
/// `sqrt(var(x, axis=0, ddof=1))`: Σᵢ (xᵢ − m)², left to right, divided by n − 1.
///
/// # Errors
/// [`Error::TooFewInputs`] (naming `who`) for fewer than two vectors.
pub(crate) fn std_ddof1(
    who: &str,
    x: UpdatesView<'_>,
    mean: &DVector<f64>,
) -> Result<DVector<f64>> {
    require_two(who, x.n())?;
    let mut acc = vec![0.0; x.d()];
    for c in x.cols() {
        for ((a, v), m) in acc.iter_mut().zip(c).zip(mean.iter()) {
            let t = v - m;
            *a += t * t;
        }
    }
    let dof = (x.n() - 1) as f64;
    Ok(DVector::from_iterator(
        x.d(),
        acc.into_iter().map(|a| (a / dof).sqrt()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;

    /// The blocked one-sweep mean and deviation are the two-pass ones bit for bit, across a
    /// block boundary and a partial last block. Fails if a block's mean is divided before
    /// the last vector is added, or a block boundary skips a coordinate.
    #[test]
    fn blocked_mean_std_equals_the_two_passes_bit_for_bit() {
        use rand::RngExt;
        let mut rng = rng_from_seed(5);
        let d = 2 * BLOCK + 37;
        let cols: Vec<DVector<f64>> = (0..7)
            .map(|_| DVector::from_fn(d, |_, _| rng.random::<f64>() * 1e3 - 3.0))
            .collect();
        let x = Updates::from_columns(&cols).unwrap();
        let mean = byzfl_mean(x.view());
        let std = std_ddof1("t", x.view(), &mean).unwrap();
        let (m2, s2) = byzfl_mean_std("t", x.view()).unwrap();
        assert_eq!(mean, m2);
        assert_eq!(std, s2);
        let one = Updates::from_columns(&cols[..1]).unwrap();
        assert!(byzfl_mean_std("t", one.view()).is_err());
    }

    #[test]
    fn byzfl_docstring_example() {
        // ByzFL's ALittleIsEnough(1.5) on (1,2,3), (4,5,6), (7,8,9): mean (4,5,6), std with
        // ddof = 1 is √((9+0+9)/2) = 3 per coordinate → (4,5,6) + 1.5·3 = (8.5, 9.5, 10.5).
        let h = Updates::from_rows(&[
            vec![1.0, 2.0, 3.0],
            vec![4.0, 5.0, 6.0],
            vec![7.0, 8.0, 9.0],
        ])
        .unwrap();
        let mut rng = rng_from_seed(0);
        let b = ALittleIsEnough::new(1.5)
            .corrupt(h.view(), 3, &mut AttackContext::new(&mut rng))
            .unwrap();
        assert_eq!((b.n(), b.d()), (3, 3));
        for c in b.view().cols() {
            assert_eq!(c, &[8.5, 9.5, 10.5]);
        }
    }

    #[test]
    fn negative_tau_and_zero_spread() {
        // Honest (0, 5), (2, 5): mean (1, 5), std (√2, 0); τ = −2 → (1 − 2√2, 5).
        let h = Updates::from_rows(&[vec![0.0, 5.0], vec![2.0, 5.0]]).unwrap();
        let mut rng = rng_from_seed(0);
        let b = ALittleIsEnough::new(-2.0)
            .corrupt(h.view(), 1, &mut AttackContext::new(&mut rng))
            .unwrap();
        assert_eq!(b.view().col(0), &[1.0 - 2.0 * 2f64.sqrt(), 5.0]);
    }

    #[test]
    fn errors() {
        let mut rng = rng_from_seed(0);
        let one = Updates::from_rows(&[vec![1.0, 2.0]]).unwrap();
        let e = ALittleIsEnough::new(1.5)
            .corrupt(one.view(), 2, &mut AttackContext::new(&mut rng))
            .unwrap_err();
        assert!(matches!(e, Error::TooFewInputs { .. }), "{e}");
        let two = Updates::from_rows(&[vec![1.0], vec![2.0]]).unwrap();
        assert!(ALittleIsEnough::new(1.5)
            .corrupt(two.view(), 0, &mut AttackContext::new(&mut rng))
            .is_err());
        let p = Params::new().with("tau", f64::NAN);
        assert!(crate::attacks::build("ALittleIsEnough", &p, Compat::Byzfl).is_err());
        let p = Params::new().with("tua", 1.0);
        assert!(crate::attacks::build("a_little_is_enough", &p, Compat::Native).is_err());
    }
}
