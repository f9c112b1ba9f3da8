//! B6 — majority, asynchrony and Sybils: f/n ≥ 1/2 is impossible with a trusted server
//! (derived: n/2 workers at 0 and n/2 at Δ, either half may be honest); without a trusted
//! server, agreement needs n ≥ 3f + 1 **when messages are oral (unsigned) in a synchronous
//! system** (Lamport, Shostak & Pease 1982, Thm 1 and its n = 3 core) **or under partial
//! synchrony / asynchrony** even with signatures (Dwork, Lynch & Stockmeyer, JACM 1988). With
//! signed (written) messages in synchrony the bound does not hold: agreement with validity
//! tolerates any f < n/2 (LSP's signed-messages algorithm SM(m) even solves the generals'
//! broadcast for any f). The hypothesis is therefore part of the entry.
//!
//! Catalogue entry [`B6`]: parameter `n`; value ⌊(n − 1)/3⌋, the largest number of Byzantine
//! workers a protocol without a trusted server can tolerate; upper (with a trusted server)
//! ⌊(n − 1)/2⌋. Kind exact; status "to verify" (the 3f + 1 bound is classical and stated
//! from the literature).
//!
//! Proof sketch: `proofs/lamport1982byzantine.md`.
//!
//! # References
//! L. Lamport, R. Shostak, M. Pease, "The Byzantine Generals Problem", ACM TOPLAS
//! 4(3):382–401, 1982, doi 10.1145/357172.357176.

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// B6.
pub struct B6;

static INFO: Info = Info {
    id: "B6",
    key: "lamport1982byzantine",
    name: "tolerable Byzantine workers without a trusted server",
    family: Family::Byzantine,
    kind: Kind::Exact,
    tight: false,
    status: Status::ToVerify,
    statement: "without a trusted server, with oral (unsigned) messages in synchrony or under (partial) asynchrony, agreement needs n >= 3f+1: at most floor((n-1)/3) Byzantine workers; with signatures in synchrony, or with a trusted server, f < n/2",
    upper: Some("with a trusted server, or signed messages in synchrony: floor((n-1)/2)"),
    hypotheses: &[
        Hypothesis {
            name: "no trusted server",
            statement: "decentralized agreement among the n workers",
        },
        Hypothesis {
            name: "oral messages or partial synchrony",
            statement: "unsigned (oral) messages in a synchronous system (Lamport, Shostak & Pease 1982), or a partially synchronous / asynchronous system with or without signatures (Dwork, Lynch & Stockmeyer 1988); with signatures in synchrony f < n/2 suffices",
        },
    ],
    params: &[ParamSpec::req("n", "workers")],
    citation: Citation {
        authors: "L. Lamport, R. Shostak, M. Pease",
        title: "The Byzantine Generals Problem",
        venue: "ACM TOPLAS 4(3):382-401",
        year: 1982,
        arxiv: None,
        doi: Some("10.1145/357172.357176"),
    },
    grows_with: &["n"],
    shrinks_with: &[],
    example: &[("n", 10.0)],
};

impl Bound for B6 {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let n = a.count_pos("n")?;
        Ok(BoundValue::finite(((n - 1) / 3) as f64).with_upper(((n - 1) / 2) as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // n = 10: 3f + 1 <= 10 ⇔ f <= 3; majority: f <= 4.
        let v = B6.eval(&INFO.example_params()).unwrap();
        assert_eq!(v.as_f64(), Some(3.0));
        assert_eq!(v.upper, Some(4.0));
    }
}
