//! M3 — the memorization score and its DP cap: mem(A, S, i) = Pr[h(x_i) = y_i | S] −
//! Pr[h(x_i) = y_i | S∖i]. S and S∖i differ by **removing** one record, so the cap needs A to
//! be (ε,δ)-DP under **add/remove-one adjacency** (replace-one DP does not compare datasets of
//! different sizes). Then mem ≤ TV(A(S), A(S∖i)) ≤ (e^ε − 1 + 2δ)/(e^ε + 1): with p₀ the
//! probability on S∖i, DP gives both p₁ ≤ e^ε·p₀ + δ and 1 − p₀ ≤ e^ε·(1 − p₁) + δ, and the
//! larger of the two caps on p₁ − p₀ is smallest at p₀ = (1 − δ)/(e^ε + 1), where it equals
//! that value. It is below both the one-sided e^ε − 1 + δ and 1 − (1 − δ)e^{−ε}, and it is
//! attained at δ = 0 by randomized response on the event (so it cannot be improved there).
//!
//! Catalogue entry [`M3`]: parameters `eps`, `delta` (default 0); value
//! (e^ε − 1 + 2δ)/(e^ε + 1) = [`super::allouah2023privacy::tv_k`] at k = 1 (expm1 inside,
//! ≈ ε/2 + δ as ε → 0, → 1 as ε → ∞), a cap on the memorization score of any DP learner.
//! Kind exact, status derived here.
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
    tight: false,
    status: Status::DerivedHere,
    statement: "a learner (eps, delta)-DP under add/remove-one adjacency has memorization score mem(A, S, i) <= TV(A(S), A(S minus i)) <= (e^eps - 1 + 2 delta)/(e^eps + 1) for every i (below e^eps - 1 + delta and 1 - (1 - delta) e^-eps)",
    upper: None,
    hypotheses: &[Hypothesis { name: "(eps, delta)-DP, add/remove", statement: "the learner is (eps, delta)-DP for adding or removing one record (S vs S minus i are neighbours)" }],
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
        Ok(BoundValue::finite(super::allouah2023privacy::tv_k(
            1, eps, delta,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // delta = 0: (e − 1)/(e + 1) = tanh(1/2) = 0.46211715726000974 (Python math.tanh),
        // below the one-sided cap e − 1 = 1.718 and 1 − 1/e = 0.632; eps = 1e-12 → 5e-13
        // (expm1 keeps it exact: tanh(x) = x to 1e-25 relative there).
        let v = M3.eval(&INFO.example_params()).unwrap().as_f64().unwrap();
        assert!((v - 0.46211715726000974).abs() < 1e-15, "{v}");
        let p = INFO.example_params().with("eps", 1e-12);
        assert!((M3.eval(&p).unwrap().as_f64().unwrap() - 5e-13).abs() < 1e-27);
        // delta > 0: (e^2 − 1 + 0.2)/(e^2 + 1) = 6.589056.../8.389056... = 0.785435...
        // (hand: e^2 = 7.38905609893065); never above 1 − (1 − delta)e^{−eps}.
        let p = INFO.example_params().with("eps", 2.0).with("delta", 0.1);
        let v = M3.eval(&p).unwrap().as_f64().unwrap();
        let e2 = 7.38905609893065;
        assert!((v - (e2 - 1.0 + 0.2) / (e2 + 1.0)).abs() < 1e-14, "{v}");
        assert!(v <= 1.0 - 0.9 * (-2.0f64).exp());
        // Saturates at 1 for huge eps, never NaN.
        let p = INFO.example_params().with("eps", 1e6).with("delta", 0.5);
        assert_eq!(M3.eval(&p).unwrap().as_f64(), Some(1.0));
    }
}
