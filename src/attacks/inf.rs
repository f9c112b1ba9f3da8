//! Infinity: every Byzantine user sends +∞ in every coordinate.
//!
//! ByzFL: `Inf()` (`full_like(honest[0], inf, dtype=float64)`). The result is built with
//! [`Updates::repeat`], which admits ±∞; rules that are undefined on infinite input reject it
//! with [`crate::Error::NonFinite`], others (e.g. the median) compute what ByzFL computes.
//!
//! # References
//! ByzFL's attack catalogue: González, Guerraoui, Pinot, Rizk, Stephan & Taïani, "ByzFL: Research
//! Framework for Robust Federated Learning", arXiv 2505.24802, 2025.

use super::{require_attackers, Attack, AttackContext};
use crate::data::{Updates, UpdatesView};
use crate::params::{Compat, Params, Spec};
use crate::Result;
use nalgebra::DVector;

/// Registry entry.
pub const SPEC: Spec<dyn Attack> = Spec {
    name: "inf",
    byzfl: Some("Inf"),
    keys: &[],
    summary: "send +inf in every coordinate",
    build,
};

fn build(_: &Params, _: Compat) -> Result<Box<dyn Attack>> {
    Ok(Box::new(Inf))
}

/// Sends (+∞, …, +∞).
#[derive(Clone, Copy, Debug, Default)]
pub struct Inf;

impl Attack for Inf {
    fn name(&self) -> &'static str {
        "inf"
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
        Updates::repeat(&DVector::from_element(honest.d(), f64::INFINITY), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;

    #[test]
    fn known_answer_and_error() {
        let h = Updates::from_rows(&[vec![1.0, 2.0, 3.0]]).unwrap();
        let mut rng = rng_from_seed(0);
        let b = Inf
            .corrupt(h.view(), 2, &mut AttackContext::new(&mut rng))
            .unwrap();
        assert_eq!((b.n(), b.d()), (2, 3));
        assert!(b.view().as_slice().iter().all(|&v| v == f64::INFINITY));
        assert!(Inf
            .corrupt(h.view(), 0, &mut AttackContext::new(&mut rng))
            .is_err());
    }
}
