//! M2 — memorizing irrelevant bits: for next-symbol prediction and cluster labeling, every
//! algorithm with error ≤ opt + o(1) must have I(model; training set) = Ω(n·d) bits for n
//! examples of d bits (d ≫ log n), even when most of the information is irrelevant.
//!
//! Catalogue entry [`M2`]: parameters `n`, `d`; value n·d (bits, constant dropped). **Order
//! only**; status "to verify" (the exact statement and task parameters are not checked).
//!
//! Proof sketch: `proofs/brown2021memorization.md`.
//!
//! # References
//! G. Brown, M. Bun, V. Feldman, A. Smith, K. Talwar, "When is Memorization of Irrelevant
//! Training Data Necessary for High-Accuracy Learning?", STOC 2021, pp. 123–132,
//! doi 10.1145/3406325.3451131, arXiv 2012.06421.

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// M2 (order).
pub struct M2;

static INFO: Info = Info {
    id: "M2",
    key: "brown2021memorization",
    name: "information memorized by accurate learners",
    family: Family::Memorization,
    kind: Kind::Order,
    tight: false,
    status: Status::ToVerify,
    statement: "an algorithm with error opt + o(1) on these tasks has I(model; sample) of order n*d bits",
    upper: Some("storing the sample: n*d bits"),
    hypotheses: &[Hypothesis {
        name: "d >> log n",
        statement: "examples of d bits with d much larger than log n (cluster labeling / next-symbol prediction)",
    }],
    params: &[ParamSpec::req("n", "examples"), ParamSpec::req("d", "bits per example")],
    citation: Citation {
        authors: "G. Brown, M. Bun, V. Feldman, A. Smith, K. Talwar",
        title: "When is Memorization of Irrelevant Training Data Necessary for High-Accuracy Learning?",
        venue: "STOC 2021, pp. 123-132",
        year: 2021,
        arxiv: Some("2012.06421"),
        doi: Some("10.1145/3406325.3451131"),
    },
    grows_with: &["n", "d"],
    shrinks_with: &[],
    example: &[("n", 1000.0), ("d", 100.0)],
};

impl Bound for M2 {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let n = a.count_pos("n")? as f64;
        let d = a.count_pos("d")? as f64;
        if d <= n.log2() {
            return Err(a.outside("d >> log n", format!("d = {d} <= log2(n) = {}", n.log2())));
        }
        Ok(BoundValue::finite(n * d).with_upper(n * d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        assert_eq!(M2.eval(&INFO.example_params()).unwrap().as_f64(), Some(1e5));
        let p = INFO.example_params().with("d", 5.0);
        assert!(M2.eval(&p).is_err());
    }
}
