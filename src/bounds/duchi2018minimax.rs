//! P5 — local differential privacy: mean estimation under α-LDP has effective sample size
//! n·α²/d; for ℓ2-bounded data E‖θ̂ − θ‖² ≍ min{1, d/(nα²)}.
//!
//! Catalogue entry [`P5`]: parameters `d`, `n`, `eps` (the LDP level α); value
//! min{1, d/(n·ε²)}. **Order only**; status "to verify". Edge ε → 0: saturates at 1 (the
//! trivial error of a bounded domain).
//!
//! Proof sketch: `proofs/duchi2018minimax.md`.
//!
//! # References
//! J. C. Duchi, M. I. Jordan, M. J. Wainwright, "Minimax Optimal Procedures for Locally
//! Private Estimation", Journal of the American Statistical Association 113(521):182–201,
//! 2018, arXiv 1604.02390 (FOCS 2013: "Local privacy and statistical minimax rates").

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// P5 (order).
pub struct P5;

static INFO: Info = Info {
    id: "P5",
    key: "duchi2018minimax",
    name: "local DP mean estimation",
    family: Family::Privacy,
    kind: Kind::Order,
    tight: false,
    status: Status::ToVerify,
    statement: "under eps-local DP, the minimax squared error of an l2-bounded mean is of order min(1, d/(n eps^2)): effective sample size n eps^2/d",
    upper: Some("randomized response / Duchi et al.'s privatizers: same order"),
    hypotheses: &[
        Hypothesis { name: "l2-bounded data", statement: "||x|| <= 1" },
        Hypothesis { name: "local DP", statement: "each user privatizes its own record, eps = O(1)" },
    ],
    params: &[
        ParamSpec::req("d", "dimension"),
        ParamSpec::req("n", "users"),
        ParamSpec::req("eps", "local privacy level"),
    ],
    citation: Citation {
        authors: "J. C. Duchi, M. I. Jordan, M. J. Wainwright",
        title: "Minimax Optimal Procedures for Locally Private Estimation",
        venue: "Journal of the American Statistical Association 113(521):182-201",
        year: 2018,
        arxiv: Some("1604.02390"),
        doi: Some("10.1080/01621459.2017.1389735"),
    },
    grows_with: &["d"],
    shrinks_with: &["n", "eps"],
    example: &[("d", 10.0), ("n", 10000.0), ("eps", 1.0)],
};

impl Bound for P5 {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let d = a.count_pos("d")? as f64;
        let n = a.count_pos("n")? as f64;
        let eps = a.positive("eps")?;
        Ok(BoundValue::finite((d / (n * eps * eps)).min(1.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // 10/(1e4·1) = 1e-3; saturates at 1 for n eps^2 < d.
        assert_eq!(
            P5.eval(&INFO.example_params()).unwrap().as_f64(),
            Some(1e-3)
        );
        let p = INFO.example_params().with("n", 5.0);
        assert_eq!(P5.eval(&p).unwrap().as_f64(), Some(1.0));
    }
}
