//! M3 — the memorization score and its DP cap: mem(A, S, i) = Pr[h(x_i) = y_i | S] −
//! Pr[h(x_i) = y_i | S∖i]. If A is (ε,δ)-DP, mem ≤ (e^ε − 1)·Pr[h(x_i) = y_i | S∖i] + δ ≤
//! e^ε − 1 + δ.
//!
//! Catalogue entry [`M3`]: parameters `eps`, `delta` (default 0); value e^ε − 1 + δ (computed
//! with expm1, exact as ε → 0), a cap on the memorization score of any DP learner. Kind exact,
//! status derived here (one line from the DP definition). Values ≥ 1 are vacuous (mem ≤ 1).
//!
//! Proof sketch: `proofs/feldman2020neural.md`.
//!
//! # References
//! V. Feldman, C. Zhang, "What Neural Networks Memorize and Why: Discovering the Long Tail
//! via Influence Estimation", NeurIPS 2020, arXiv 2008.03703.

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// M3.
pub struct M3;

static INFO: Info = Info {
    id: "M3",
    key: "feldman2020neural",
    name: "DP cap on the memorization score",
    family: Family::Memorization,
    kind: Kind::Exact,
    status: Status::DerivedHere,
    statement: "an (eps, delta)-DP learner has memorization score mem(A, S, i) <= e^eps - 1 + delta for every i",
    upper: None,
    hypotheses: &[Hypothesis { name: "(eps, delta)-DP", statement: "the learner is DP for one-record changes" }],
    params: &[
        ParamSpec::req("eps", "privacy parameter epsilon"),
        ParamSpec::opt("delta", "privacy parameter delta", 0.0),
    ],
    citation: Citation {
        authors: "V. Feldman, C. Zhang",
        title: "What Neural Networks Memorize and Why: Discovering the Long Tail via Influence Estimation",
        venue: "NeurIPS 2020",
        year: 2020,
        arxiv: Some("2008.03703"),
        doi: None,
    },
    grows_with: &["eps", "delta"],
    shrinks_with: &[],
    example: &[("eps", 1.0), ("delta", 0.0)],
};

impl Bound for M3 {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let eps = a.non_negative("eps")?;
        let delta = a.fraction("delta")?;
        Ok(BoundValue::finite(eps.exp_m1() + delta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // e − 1 = 1.718281828459045; eps = 1e-12 → 1e-12 (expm1 keeps it exact).
        let v = M3.eval(&INFO.example_params()).unwrap().as_f64().unwrap();
        assert!((v - (std::f64::consts::E - 1.0)).abs() < 1e-15);
        let p = INFO.example_params().with("eps", 1e-12);
        assert!((M3.eval(&p).unwrap().as_f64().unwrap() - 1e-12).abs() < 1e-23);
    }
}
