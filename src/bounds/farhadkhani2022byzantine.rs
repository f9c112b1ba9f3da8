//! B5 — (f, λ)-resilient averaging: ‖F(x) − x̄_S‖ ≤ λ·max_{i,j∈S}‖x_i − x_j‖ for every S of
//! n − f inputs. Every rule has λ ≥ f/(n − f); the same two worlds give the averaging-agreement
//! constant C ≥ f/(n − f).
//!
//! Catalogue entry [`B5`]: parameters `n`, `f`; value f/(n − f). Kind exact, status derived
//! here (the three-cluster instance of B1: each world has diameter ‖u‖ and means ±p·u with
//! p = f/(n − f)). +∞ for 2f ≥ n. MDA's constant (probably 2f/(n − f)) is to verify and not
//! given as upper bound.
//!
//! Proof sketch: `proofs/farhadkhani2022byzantine.md`.
//!
//! # References
//! S. Farhadkhani, R. Guerraoui, N. Gupta, R. Pinot, J. Stephan, "Byzantine Machine Learning
//! Made Easy by Resilient Averaging of Momentums", ICML 2022, arXiv 2205.12173; E.-M.
//! El-Mhamdi, S. Farhadkhani, R. Guerraoui, A. Guirguis, L.-N. Hoang, S. Rouault,
//! "Collaborative Learning in the Jungle", NeurIPS 2021, arXiv 2008.00742.

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// B5.
pub struct B5;

static INFO: Info = Info {
    id: "B5",
    key: "farhadkhani2022byzantine",
    name: "resilient averaging constant",
    family: Family::Byzantine,
    kind: Kind::Exact,
    tight: false,
    status: Status::DerivedHere,
    statement: "every (f, lambda)-resilient averaging rule has lambda >= f/(n-f); the averaging-agreement constant C >= f/(n-f)",
    upper: Some("MDA: lambda = O(f/n) (constant to verify)"),
    hypotheses: &[Hypothesis { name: "2f < n", statement: "honest majority (else +inf)" }],
    params: &[ParamSpec::req("n", "inputs"), ParamSpec::req("f", "Byzantine inputs")],
    citation: Citation {
        authors: "S. Farhadkhani, R. Guerraoui, N. Gupta, R. Pinot, J. Stephan",
        title: "Byzantine Machine Learning Made Easy by Resilient Averaging of Momentums",
        venue: "ICML 2022, PMLR 162",
        year: 2022,
        arxiv: Some("2205.12173"),
        doi: None,
    },
    grows_with: &["f"],
    shrinks_with: &["n"],
    example: &[("n", 10.0), ("f", 2.0)],
};

impl Bound for B5 {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let n = a.count_pos("n")?;
        let f = a.count("f")?;
        if 2 * f >= n {
            return Ok(BoundValue::infinite(format!("2f = {} >= n = {n}", 2 * f)));
        }
        Ok(BoundValue::finite(f as f64 / (n - f) as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // 2/(10 − 2) = 1/4.
        assert_eq!(
            B5.eval(&INFO.example_params()).unwrap().as_f64(),
            Some(0.25)
        );
    }
}
