//! P2 — private mean estimation with heavy tails: in 1-D with bounded k-th moments,
//! n = Θ(1/α² + 1/(α^{k/(k−1)}ε)) samples are necessary and sufficient under ε-DP; equivalently
//! the error is α ≍ 1/√n + (1/(εn))^{1−1/k}.
//!
//! Catalogue entry [`P2`]: parameters `n`, `eps`, `k` > 1 (and `sigma`, default 1, scaling the
//! error); value σ(1/√n + (1/(εn))^{1−1/k}). **Order only**; status verified: the abstract
//! (COLT 2020 proceedings page and arXiv) states n = Θ(1/α² + 1/(α^{k/(k−1)}ε)) samples are
//! necessary and sufficient under ε-DP "or any of its common relaxations"; solving for α gives
//! the form above up to constants. Privacy acts
//! like contamination at η_eff = 1/(εn): the second term is R4's σ·η^{1−1/k}.
//!
//! Monotonicity: the value shrinks with n and ε always, but with k only while εn ≥ 1
//! ((1/(εn))^{1−1/k} decreases in k iff 1/(εn) ≤ 1); for εn < 1 it grows with k (towards
//! 1/(εn)). So `k` is not among the declared `shrinks_with` keys.
//!
//! Proof sketch: `proofs/kamath2020private.md`.
//!
//! # References
//! G. Kamath, V. Singhal, J. Ullman, "Private Mean Estimation of Heavy-Tailed Distributions",
//! COLT 2020, PMLR 125:2204–2235, arXiv 2002.09464.

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// P2 (order).
pub struct P2;

static INFO: Info = Info {
    id: "P2",
    key: "kamath2020private",
    name: "DP mean with heavy tails (1-D)",
    family: Family::Privacy,
    kind: Kind::Order,
    tight: false,
    status: Status::Verified,
    statement: "under eps-DP with bounded k-th moments the error is of order sigma (1/sqrt(n) + (1/(eps n))^(1-1/k))",
    upper: Some("private trimmed mean: same order"),
    hypotheses: &[
        Hypothesis { name: "bounded k-th moment", statement: "E|X - mu|^k <= sigma^k, 1-D" },
        Hypothesis { name: "k > 1", statement: "a moment of order above 1" },
    ],
    params: &[
        ParamSpec::opt("sigma", "k-th moment bound (k-th root)", 1.0),
        ParamSpec::req("n", "sample size"),
        ParamSpec::req("eps", "privacy parameter epsilon"),
        ParamSpec::req("k", "moment order, > 1"),
    ],
    citation: Citation {
        authors: "G. Kamath, V. Singhal, J. Ullman",
        title: "Private Mean Estimation of Heavy-Tailed Distributions",
        venue: "COLT 2020, PMLR 125:2204-2235",
        year: 2020,
        arxiv: Some("2002.09464"),
        doi: None,
    },
    grows_with: &["sigma"],
    // Not `k`: the value shrinks with k only for eps·n >= 1 (see the module doc).
    shrinks_with: &["n", "eps"],
    example: &[("sigma", 1.0), ("n", 1000.0), ("eps", 1.0), ("k", 4.0)],
};

impl Bound for P2 {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let sigma = a.positive("sigma")?;
        let n = a.count_pos("n")? as f64;
        let eps = a.positive("eps")?;
        let k = a.positive("k")?;
        if k <= 1.0 {
            return Err(a.outside("k > 1", format!("k = {k}")));
        }
        let x = 1.0 / (eps * n);
        // For eps·n < 1 the privacy term exceeds 1: estimation is hopeless, the value says so.
        Ok(BoundValue::finite(
            sigma * (1.0 / n.sqrt() + x.powf(1.0 - 1.0 / k)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // 1/sqrt(1000) + (1e-3)^(3/4) = 0.0316227766 + 0.0056234133 = 0.0372461899.
        let v = P2.eval(&INFO.example_params()).unwrap().as_f64().unwrap();
        assert!((v - (1000f64.sqrt().recip() + 1e-3f64.powf(0.75))).abs() < 1e-15);
        assert!((v - 0.03724619).abs() < 1e-8);
    }

    #[test]
    fn shrinks_with_k_only_when_eps_n_is_at_least_one() {
        let at = |n: f64, k: f64| {
            P2.eval(&INFO.example_params().with("n", n).with("k", k))
                .unwrap()
                .as_f64()
                .unwrap()
        };
        // eps·n = 1000 >= 1: (1e-3)^(1-1/k) decreases in k.
        assert!(at(1000.0, 8.0) < at(1000.0, 4.0));
        // eps·n = 1 is the turning point: the privacy term is 1 for every k.
        assert_eq!(at(1.0, 8.0), at(1.0, 4.0));
        // eps = 0.1, n = 2: eps·n = 0.2 < 1, 5^(1-1/k) grows with k.
        let small = |k: f64| {
            P2.eval(
                &INFO
                    .example_params()
                    .with("n", 2.0)
                    .with("eps", 0.1)
                    .with("k", k),
            )
            .unwrap()
            .as_f64()
            .unwrap()
        };
        assert!(small(8.0) > small(4.0));
    }
}
