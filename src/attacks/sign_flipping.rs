//! Sign flipping: every Byzantine user sends −ḡ, the negated honest mean.
//!
//! ByzFL: `SignFlipping()`.
//!
//! # References
//! Allen-Zhu, Ebrahimian, Li & Alistarh, "Byzantine-Resilient Non-Convex Stochastic Gradient
//! Descent", ICLR 2021, arXiv 2012.14368.

use super::{require_attackers, Attack, AttackContext};
use crate::data::{Updates, UpdatesView};
use crate::params::{Compat, Params, Spec};
use crate::Result;

/// Registry entry.
pub const SPEC: Spec<dyn Attack> = Spec {
    name: "sign_flipping",
    byzfl: Some("SignFlipping"),
    keys: &[],
    summary: "send the negated honest mean, -mean(honest)",
    build,
};

fn build(_: &Params, _: Compat) -> Result<Box<dyn Attack>> {
    Ok(Box::new(SignFlipping))
}

/// Sends −ḡ.
#[derive(Clone, Copy, Debug, Default)]
pub struct SignFlipping;

impl Attack for SignFlipping {
    fn name(&self) -> &'static str {
        "sign_flipping"
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
        Updates::repeat(&(-honest.mean()), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;

    #[test]
    fn known_answer() {
        // Honest mean of (1,2), (3,-2) is (2,0); two copies of (-2,-0).
        let h = Updates::from_rows(&[vec![1.0, 2.0], vec![3.0, -2.0]]).unwrap();
        let mut rng = rng_from_seed(0);
        let b = SignFlipping
            .corrupt(h.view(), 2, &mut AttackContext::new(&mut rng))
            .unwrap();
        assert_eq!((b.n(), b.d()), (2, 2));
        assert_eq!(b.view().col(1), &[-2.0, 0.0]);
        assert!(SignFlipping
            .corrupt(h.view(), 0, &mut AttackContext::new(&mut rng))
            .is_err());
    }
}
