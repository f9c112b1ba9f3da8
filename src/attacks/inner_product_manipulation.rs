//! Inner product manipulation (IPM): every Byzantine user sends −τ·ḡ.
//!
//! ByzFL: `InnerProductManipulation(tau=2.0)`, computed as `mean * (-tau)`. With τ > 0 the
//! Byzantine vector has a negative inner product with the honest mean, so a rule that lets it
//! through moves the aggregate against the descent direction. Any finite τ is accepted (ByzFL
//! only checks that τ is a float); any number of honest vectors ≥ 1.
//!
//! # References
//! Xie, Koyejo & Gupta, "Fall of Empires: Breaking Byzantine-tolerant SGD by Inner Product
//! Manipulation", UAI 2019 (PMLR 115, 2020), arXiv 1903.03936.

use super::a_little_is_enough::byzfl_mean;
use super::{require_attackers, Attack, AttackContext};
use crate::data::{Updates, UpdatesView};
use crate::params::{Compat, Params, Spec};
use crate::Result;
use nalgebra::DVector;

/// Registry entry.
pub const SPEC: Spec<dyn Attack> = Spec {
    name: "inner_product_manipulation",
    byzfl: Some("InnerProductManipulation"),
    keys: &["tau"],
    summary: "send -tau * mean(honest) (default tau = 2.0)",
    build,
};

fn build(p: &Params, _: Compat) -> Result<Box<dyn Attack>> {
    Ok(Box::new(InnerProductManipulation::new(p.f64("tau", 2.0)?)))
}

/// Sends −τ·ḡ.
#[derive(Clone, Copy, Debug)]
pub struct InnerProductManipulation {
    tau: f64,
}

impl InnerProductManipulation {
    /// IPM with factor `tau` (finite; checked by the registry builder).
    pub fn new(tau: f64) -> Self {
        InnerProductManipulation { tau }
    }
}

impl Attack for InnerProductManipulation {
    fn name(&self) -> &'static str {
        "inner_product_manipulation"
    }

    fn sends_copies(&self) -> bool {
        true
    }

    fn corrupt(
        &self,
        honest: UpdatesView<'_>,
        f: usize,
        _cx: &mut AttackContext<'_>,
    ) -> Result<Updates> {
        require_attackers(f)?;
        Updates::repeat(&ipm_vector(&byzfl_mean(honest), self.tau), f)
    }
}

/// ḡ·(−τ), ByzFL's `multiply(mean, -tau)`.
pub(crate) fn ipm_vector(mean: &DVector<f64>, tau: f64) -> DVector<f64> {
    mean * (-tau)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;

    #[test]
    fn byzfl_docstring_example() {
        // ByzFL's InnerProductManipulation(2.0) on (1,2,3), (4,5,6), (7,8,9): mean (4,5,6),
        // times −2 → (−8, −10, −12).
        let h = Updates::from_rows(&[
            vec![1.0, 2.0, 3.0],
            vec![4.0, 5.0, 6.0],
            vec![7.0, 8.0, 9.0],
        ])
        .unwrap();
        let mut rng = rng_from_seed(0);
        let b = InnerProductManipulation::new(2.0)
            .corrupt(h.view(), 2, &mut AttackContext::new(&mut rng))
            .unwrap();
        assert_eq!((b.n(), b.d()), (2, 3));
        assert_eq!(b.view().col(0), &[-8.0, -10.0, -12.0]);
        assert_eq!(b.view().col(1), &[-8.0, -10.0, -12.0]);
    }

    #[test]
    fn errors() {
        let h = Updates::from_rows(&[vec![1.0]]).unwrap();
        let mut rng = rng_from_seed(0);
        assert!(InnerProductManipulation::new(2.0)
            .corrupt(h.view(), 0, &mut AttackContext::new(&mut rng))
            .is_err());
        let p = Params::new().with("tau", f64::INFINITY);
        assert!(crate::attacks::build("InnerProductManipulation", &p, Compat::Byzfl).is_err());
        // One honest vector is enough: −0.5·(1) = −0.5.
        let b = crate::attacks::build("ipm_typo", &Params::new(), Compat::Native);
        assert!(b.is_err());
        let b = InnerProductManipulation::new(0.5)
            .corrupt(h.view(), 1, &mut AttackContext::new(&mut rng))
            .unwrap();
        assert_eq!(b.view().col(0), &[-0.5]);
    }
}
