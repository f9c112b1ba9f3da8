//! O2 — Sybils: without a logically central identity authority an adversary can present many
//! identities. With n genuine users and s fakes, η = s/(n + s); robust guarantees need
//! η < 1/2 ⇔ s < n, and under (G,B)-heterogeneity f/n < 1/(2+B²) ⇔ s < n/(1+B²) (B3).
//!
//! Catalogue entry [`O2`]: parameters `n`, `B` (default 0); value n/(1+B²), the number of fake
//! accounts at which every robust guarantee breaks. Kind exact, status derived here (Douceur's
//! impossibility is qualitative; the arithmetic is ours). With identity cost c and budget W,
//! s = W/c.
//!
//! Proof sketch: `proofs/douceur2002sybil.md`.
//!
//! # References
//! J. R. Douceur, "The Sybil Attack", IPTPS 2002, LNCS 2429:251–260,
//! doi 10.1007/3-540-45748-8_24.

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// O2.
pub struct O2;

static INFO: Info = Info {
    id: "O2",
    key: "douceur2002sybil",
    name: "Sybil accounts at breakdown",
    family: Family::Other,
    kind: Kind::Exact,
    tight: false,
    status: Status::DerivedHere,
    statement: "s fake accounts among n genuine users make eta = s/(n+s); every robust guarantee breaks once s >= n/(1+B^2) (s >= n for homogeneous data)",
    upper: None,
    hypotheses: &[Hypothesis {
        name: "no identity authority",
        statement: "fake accounts cost the adversary nothing beyond their creation",
    }],
    params: &[
        ParamSpec::req("n", "genuine users"),
        ParamSpec::opt("B", "multiplicative heterogeneity", 0.0),
    ],
    citation: Citation {
        authors: "J. R. Douceur",
        title: "The Sybil Attack",
        venue: "IPTPS 2002, LNCS 2429:251-260",
        year: 2002,
        arxiv: None,
        doi: Some("10.1007/3-540-45748-8_24"),
    },
    grows_with: &["n"],
    shrinks_with: &["B"],
    example: &[("n", 100.0), ("B", 1.0)],
};

impl Bound for O2 {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let n = a.count_pos("n")? as f64;
        let b = a.non_negative("B")?;
        Ok(BoundValue::finite(n / (1.0 + b * b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // n = 100, B = 1: 50 fakes; then eta = 50/150 = 1/3 = B3's breakdown 1/(2+1).
        assert_eq!(
            O2.eval(&INFO.example_params()).unwrap().as_f64(),
            Some(50.0)
        );
        let eta: f64 = 50.0 / 150.0;
        assert!((eta - crate::bounds::allouah2023robust::breakdown_fraction(1.0)).abs() < 1e-15);
    }
}
