//! R7 — heavy tails without an adversary: at confidence 1 − δ every estimator deviates by at
//! least σ√(2 ln(1/δ)/n)·(1 − o(1)), even on Gaussian data; median-of-means achieves
//! ≈ σ√(32 ln(1/δ)/n) under a variance bound only.
//!
//! Catalogue entry [`R7`]: parameters `sigma`, `n`, `delta` ∈ (0, 1); value σ√(2 ln(1/δ)/n)
//! with upper σ√(32 ln(1/δ)/n). Kind order (the lower bound is asymptotic, the MoM constant
//! is status to verify). Edge δ → 0: both grow like √ln(1/δ); δ → 1: both → 0.
//!
//! Proof sketch: `proofs/devroye2016subgaussian.md`.
//!
//! # References
//! L. Devroye, M. Lerasle, G. Lugosi, R. I. Oliveira, "Sub-Gaussian mean estimators", Annals
//! of Statistics 44(6):2695–2725, 2016, arXiv 1509.05845; G. Lugosi, S. Mendelson, "Mean
//! estimation and regression under heavy-tailed distributions: a survey", Foundations of
//! Computational Mathematics 19:1145–1190, 2019 (median-of-means constant).

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// R7.
pub struct R7;

static INFO: Info = Info {
    id: "R7",
    key: "devroye2016subgaussian",
    name: "sub-Gaussian confidence, no adversary",
    family: Family::RobustStatistics,
    kind: Kind::Order,
    tight: false,
    status: Status::ToVerify,
    statement: "at confidence 1-delta every mean estimator deviates by >= sigma*sqrt(2 ln(1/delta)/n)(1-o(1)), already for Gaussian data",
    upper: Some("median-of-means with ~8 ln(1/delta) blocks: ~sigma*sqrt(32 ln(1/delta)/n)"),
    hypotheses: &[
        Hypothesis { name: "variance sigma^2", statement: "honest data with variance sigma^2 (Gaussian for the lower bound)" },
        Hypothesis { name: "0 < delta < 1", statement: "a confidence level" },
    ],
    params: &[
        ParamSpec::opt("sigma", "standard deviation", 1.0),
        ParamSpec::req("n", "sample size"),
        ParamSpec::req("delta", "failure probability in (0, 1)"),
    ],
    citation: Citation {
        authors: "L. Devroye, M. Lerasle, G. Lugosi, R. I. Oliveira",
        title: "Sub-Gaussian mean estimators",
        venue: "Annals of Statistics 44(6):2695-2725",
        year: 2016,
        arxiv: Some("1509.05845"),
        doi: Some("10.1214/16-AOS1440"),
    },
    grows_with: &["sigma"],
    shrinks_with: &["n", "delta"],
    example: &[("sigma", 1.0), ("n", 1000.0), ("delta", 0.01)],
};

impl Bound for R7 {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let sigma = a.positive("sigma")?;
        let n = a.count_pos("n")? as f64;
        let delta = a.positive("delta")?;
        if delta >= 1.0 {
            return Err(a.outside("0 < delta < 1", format!("delta = {delta}")));
        }
        let l = -delta.ln();
        Ok(BoundValue::finite(sigma * (2.0 * l / n).sqrt())
            .with_upper(sigma * (32.0 * l / n).sqrt()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // sqrt(2 ln 100 / 1000) = sqrt(0.0092103403719762) = 0.09597052; upper 4x that.
        let v = R7.eval(&INFO.example_params()).unwrap();
        let x = v.as_f64().unwrap();
        assert!((x - (2.0 * 100f64.ln() / 1000.0).sqrt()).abs() < 1e-15);
        assert!((x - 0.0959705).abs() < 1e-7);
        assert!((v.upper.unwrap() - 4.0 * x).abs() < 1e-14);
    }
}
