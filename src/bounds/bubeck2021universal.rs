//! O3 — the universal law of robustness: fitting n noisy d-dimensional points below the noise
//! level with a smoothly parametrized class of p parameters forces Lip(f) ≳ σ·√(n·d/p), up to
//! logs; smooth interpolation needs p ≳ n·d.
//!
//! Catalogue entry [`O3`]: parameters `sigma`, `n`, `d`, `p`; value σ√(nd/p). **Order only**;
//! status "to verify" (the abstract's claim is checked; the formula is from memory).
//!
//! Proof sketch: `proofs/bubeck2021universal.md`.
//!
//! # References
//! S. Bubeck, M. Sellke, "A Universal Law of Robustness via Isoperimetry", NeurIPS 2021,
//! arXiv 2105.12806.

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// O3 (order).
pub struct O3;

static INFO: Info = Info {
    id: "O3",
    key: "bubeck2021universal",
    name: "universal law of robustness",
    family: Family::Other,
    kind: Kind::Order,
    tight: false,
    status: Status::ToVerify,
    statement: "interpolating n noisy points in d dimensions below the noise level with p parameters forces Lip >~ sigma sqrt(n d / p)",
    upper: None,
    hypotheses: &[
        Hypothesis { name: "isoperimetric covariates", statement: "covariates satisfy isoperimetry (e.g. Gaussian)" },
        Hypothesis { name: "smooth parametrization", statement: "Lipschitz parametrization with polynomially bounded weights" },
    ],
    params: &[
        ParamSpec::opt("sigma", "label noise level", 1.0),
        ParamSpec::req("n", "data points"),
        ParamSpec::req("d", "dimension"),
        ParamSpec::req("p", "parameters"),
    ],
    citation: Citation {
        authors: "S. Bubeck, M. Sellke",
        title: "A Universal Law of Robustness via Isoperimetry",
        venue: "NeurIPS 2021",
        year: 2021,
        arxiv: Some("2105.12806"),
        doi: None,
    },
    grows_with: &["sigma", "n", "d"],
    shrinks_with: &["p"],
    example: &[("sigma", 1.0), ("n", 1000.0), ("d", 100.0), ("p", 1000.0)],
};

impl Bound for O3 {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let sigma = a.positive("sigma")?;
        let n = a.count_pos("n")? as f64;
        let d = a.count_pos("d")? as f64;
        let p = a.count_pos("p")? as f64;
        Ok(BoundValue::finite(sigma * (n * d / p).sqrt()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        assert_eq!(
            O3.eval(&INFO.example_params()).unwrap().as_f64(),
            Some(10.0)
        );
    }
}
