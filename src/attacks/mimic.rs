//! Mimic: every Byzantine user sends a copy of honest vector ε.
//!
//! ByzFL: `Mimic(epsilon=0)`, `honest_vectors[epsilon]`, a fixed index. Karimireddy et al.'s
//! Mimic picks the honest worker to copy adaptively (along the top direction of the honest
//! spread, to over-represent one worker under heterogeneity); ByzFL and lbounds take ε as a
//! parameter. ε must be smaller than the number of honest vectors (ByzFL raises otherwise).
//!
//! # References
//! Karimireddy, He & Jaggi, "Byzantine-Robust Learning on Heterogeneous Datasets via
//! Bucketing", ICLR 2022, arXiv 2006.09365.

use super::{require_attackers, Attack, AttackContext};
use crate::data::{Updates, UpdatesView};
use crate::params::{Compat, Params, Spec};
use crate::{Error, Result};
use nalgebra::DVector;

/// Registry entry.
pub const SPEC: Spec<dyn Attack> = Spec {
    name: "mimic",
    byzfl: Some("Mimic"),
    keys: &["epsilon"],
    summary: "send a copy of honest vector number epsilon (default 0)",
    build,
};

fn build(p: &Params, _: Compat) -> Result<Box<dyn Attack>> {
    Ok(Box::new(Mimic::new(p.count("epsilon", 0)?)))
}

/// Sends honest vector ε.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mimic {
    epsilon: usize,
}

impl Mimic {
    /// Mimic honest vector `epsilon` (0-based).
    pub fn new(epsilon: usize) -> Self {
        Mimic { epsilon }
    }
}

impl Attack for Mimic {
    fn name(&self) -> &'static str {
        "mimic"
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
        if self.epsilon >= honest.n() {
            return Err(Error::invalid(
                "epsilon",
                self.epsilon,
                format!(
                    "must be smaller than the number of honest vectors, {}",
                    honest.n()
                ),
            ));
        }
        Updates::repeat(&DVector::from_column_slice(honest.col(self.epsilon)), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;

    #[test]
    fn known_answer() {
        // Honest vector 1 is (4, 5, 6); two copies.
        let h = Updates::from_rows(&[vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]]).unwrap();
        let mut rng = rng_from_seed(0);
        let b = Mimic::new(1)
            .corrupt(h.view(), 2, &mut AttackContext::new(&mut rng))
            .unwrap();
        assert_eq!(b.view().col(0), &[4.0, 5.0, 6.0]);
        assert_eq!(b.view().col(1), &[4.0, 5.0, 6.0]);
        let b = crate::attacks::build("Mimic", &Params::new(), Compat::Byzfl)
            .unwrap()
            .corrupt(h.view(), 1, &mut AttackContext::new(&mut rng))
            .unwrap();
        assert_eq!(b.view().col(0), &[1.0, 2.0, 3.0]);
    }

    #[test]
    fn errors() {
        let h = Updates::from_rows(&[vec![1.0], vec![2.0]]).unwrap();
        let mut rng = rng_from_seed(0);
        let e = Mimic::new(2)
            .corrupt(h.view(), 1, &mut AttackContext::new(&mut rng))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`epsilon` = 2") && e.contains("2"), "{e}");
        assert!(Mimic::new(0)
            .corrupt(h.view(), 0, &mut AttackContext::new(&mut rng))
            .is_err());
        let p = Params::new().with("epsilon", -1.0);
        assert!(crate::attacks::build("mimic", &p, Compat::Native).is_err());
    }
}
