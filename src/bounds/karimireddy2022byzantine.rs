//! B2 — G-heterogeneity: for any algorithm (adaptive, multi-round) some instance with honest
//! dissimilarity (1/|H|)Σ‖∇L_i − ∇L_H‖² ≤ G² forces ‖∇L_H(θ̂)‖² ≥ f·G²/(n − 2f); for
//! μ-strongly convex losses L_H(θ̂) − L_H* ≥ f·G²/(2μ(n − 2f)).
//!
//! Catalogue entry [`B2`]: parameters `n`, `f`, `G`; value f·G²/(n−2f) (squared gradient
//! norm). Kind exact, status derived here (the three-cluster quadratics of
//! [`super::hard::quadratic_hetero`]). The literature form Ω(δζ²), δ = f/n, is this order.
//! +∞ for 2f ≥ n. Special case of B3 at B = 0.
//!
//! Proof sketch: `proofs/karimireddy2022byzantine.md`.
//!
//! # References
//! S. P. Karimireddy, L. He, M. Jaggi, "Byzantine-Robust Learning on Heterogeneous Datasets
//! via Bucketing", ICLR 2022, arXiv 2006.09365.

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// B2.
pub struct B2;

static INFO: Info = Info {
    id: "B2",
    key: "karimireddy2022byzantine",
    name: "G-heterogeneity floor",
    family: Family::Byzantine,
    kind: Kind::Exact,
    tight: false,
    status: Status::DerivedHere,
    statement: "any algorithm has sup over G-dissimilar instances of ||grad L_H(theta_hat)||^2 >= f*G^2/(n-2f)",
    upper: Some("robust D-GD with an (f, kappa)-robust rule: O(kappa*G^2); NNM-composed rules match the order (no constant)"),
    hypotheses: &[
        Hypothesis { name: "G-dissimilarity", statement: "(1/|H|) sum_i ||grad L_i - grad L_H||^2 <= G^2 for all theta" },
        Hypothesis { name: "2f < n", statement: "honest majority (else +inf)" },
    ],
    params: &[
        ParamSpec::req("n", "workers"),
        ParamSpec::req("f", "Byzantine workers"),
        ParamSpec::req("G", "heterogeneity (root of the dissimilarity bound)"),
    ],
    citation: Citation {
        authors: "S. P. Karimireddy, L. He, M. Jaggi",
        title: "Byzantine-Robust Learning on Heterogeneous Datasets via Bucketing",
        venue: "ICLR 2022",
        year: 2022,
        arxiv: Some("2006.09365"),
        doi: None,
    },
    grows_with: &["f", "G"],
    shrinks_with: &["n"],
    example: &[("n", 20.0), ("f", 3.0), ("G", 1.0)],
};

impl Bound for B2 {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let n = a.count_pos("n")?;
        let f = a.count("f")?;
        let g = a.non_negative("G")?;
        if 2 * f >= n {
            return Ok(BoundValue::infinite(format!("2f = {} >= n = {n}", 2 * f)));
        }
        Ok(BoundValue::finite(f as f64 * g * g / (n - 2 * f) as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // 3·1/(20 − 6) = 3/14.
        let v = B2.eval(&INFO.example_params()).unwrap().as_f64().unwrap();
        assert!((v - 3.0 / 14.0).abs() < 1e-15);
    }
}
