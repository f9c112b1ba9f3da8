//! Origin: every Byzantine user sends the zero vector.
//!
//! Not in ByzFL. It targets ByzFL's `GeometricMedian`, whose Weiszfeld iterations start at the
//! origin: with 40 honest vectors near 100·1 and 10 zero vectors, the start sits on the
//! Byzantine points (each weighted 1/ν = 10) and three iterations never leave them — an error
//! of 3.16·10³ at d = 1000 against 8.05 for the exact geometric median (measured, ByzFL 0.0.11).
//! Against rules that do not start at 0 it is a plain fixed-point attack. No parameters.
//!
//! # References
//! González, Guerraoui, Pinot, Rizk, Stephan & Taïani, "ByzFL: Research Framework for Robust
//! Federated Learning", arXiv 2505.24802, 2025 (the `GeometricMedian(nu=0.1, T=3)` it hijacks).

use super::{require_attackers, Attack, AttackContext};
use crate::data::{Updates, UpdatesView};
use crate::params::{Compat, Params, Spec};
use crate::Result;
use nalgebra::DVector;

/// Registry entry.
pub const SPEC: Spec<dyn Attack> = Spec {
    name: "origin",
    byzfl: None,
    keys: &[],
    summary: "send the zero vector (hijacks Weiszfeld iterations that start at the origin)",
    build,
};

fn build(_: &Params, _: Compat) -> Result<Box<dyn Attack>> {
    Ok(Box::new(Origin))
}

/// Sends 0.
#[derive(Clone, Copy, Debug, Default)]
pub struct Origin;

impl Attack for Origin {
    fn name(&self) -> &'static str {
        "origin"
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
        Updates::repeat(&DVector::zeros(honest.d()), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;

    #[test]
    fn known_answer_and_error() {
        let h = Updates::from_rows(&[vec![100.0, 100.0], vec![101.0, 99.0]]).unwrap();
        let mut rng = rng_from_seed(0);
        let b = Origin
            .corrupt(h.view(), 3, &mut AttackContext::new(&mut rng))
            .unwrap();
        assert_eq!((b.n(), b.d()), (3, 2));
        assert!(b.view().as_slice().iter().all(|&v| v == 0.0));
        assert!(Origin
            .corrupt(h.view(), 0, &mut AttackContext::new(&mut rng))
            .is_err());
    }
}
