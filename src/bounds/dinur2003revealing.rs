//! P6 — reconstruction (Dinur–Nissim): with n secret bits, answers to O(n·log²n) random
//! subset-sum queries with error o(√n) allow reconstructing all but o(n) bits in polynomial
//! time (LP decoding). Any release that resists reconstruction needs per-query noise Ω(√n).
//!
//! Catalogue entry [`P6`]: parameter `n`; value √n, the per-query noise scale below which
//! reconstruction succeeds. **Order only**; status "to verify" (classical, from memory).
//!
//! Proof sketch: `proofs/dinur2003revealing.md`.
//!
//! # References
//! I. Dinur, K. Nissim, "Revealing Information while Preserving Privacy", PODS 2003,
//! doi 10.1145/773153.773173.

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// P6 (order).
pub struct P6;

static INFO: Info = Info {
    id: "P6",
    key: "dinur2003revealing",
    name: "reconstruction noise threshold",
    family: Family::Privacy,
    kind: Kind::Order,
    tight: false,
    status: Status::ToVerify,
    statement: "answering O(n log^2 n) random subset-sum queries with error o(sqrt(n)) lets an attacker reconstruct all but o(n) of n secret bits",
    upper: None,
    hypotheses: &[Hypothesis {
        name: "random subset-sum queries",
        statement: "the curator answers O(n log^2 n) uniformly random subset queries",
    }],
    params: &[ParamSpec::req("n", "secret bits (records)")],
    citation: Citation {
        authors: "I. Dinur, K. Nissim",
        title: "Revealing Information while Preserving Privacy",
        venue: "PODS 2003",
        year: 2003,
        arxiv: None,
        doi: Some("10.1145/773153.773173"),
    },
    grows_with: &["n"],
    shrinks_with: &[],
    example: &[("n", 100.0)],
};

impl Bound for P6 {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let n = a.count_pos("n")? as f64;
        Ok(BoundValue::finite(n.sqrt()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        assert_eq!(
            P6.eval(&INFO.example_params()).unwrap().as_f64(),
            Some(10.0)
        );
    }
}
