//! B7 — the stochastic-noise floor with homogeneous data: honest stochastic gradients with
//! covariance ≼ σ²I and a Byzantine fraction β = f/n acting like Huber contamination force a
//! per-round aggregation bias ≥ σ·√(β/(1 − 2β)) (large-n limit).
//!
//! Catalogue entry [`B7`]: parameters `sigma`, `n`, `f`; value σ√(β/(1−2β)). Kind exact,
//! status derived here (R3's Huber bound with η = β). +∞ for 2f ≥ n. Averaging over T_eff
//! rounds (momentum) shrinks σ² to σ²/T_eff, which is why the floor vanishes with time; the
//! exact rates are to verify.
//!
//! Proof sketch: `proofs/karimireddy2021learning.md`.
//!
//! # References
//! S. P. Karimireddy, L. He, M. Jaggi, "Learning from History for Byzantine Robust
//! Optimization", ICML 2021, PMLR 139:5311–5319, arXiv 2012.10333.

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// B7.
pub struct B7;

static INFO: Info = Info {
    id: "B7",
    key: "karimireddy2021learning",
    name: "stochastic-noise floor per round",
    family: Family::Byzantine,
    kind: Kind::Exact,
    tight: false,
    status: Status::DerivedHere,
    statement: "with homogeneous data and gradient noise covariance <= sigma^2 I, every aggregate has per-round bias >= sigma*sqrt(beta/(1-2 beta)), beta = f/n",
    upper: Some("centered clipping + worker momentum: the floor vanishes over rounds (rates to verify)"),
    hypotheses: &[
        Hypothesis { name: "bounded noise", statement: "honest stochastic gradients with covariance <= sigma^2 I" },
        Hypothesis { name: "2f < n", statement: "honest majority (else +inf)" },
    ],
    params: &[
        ParamSpec::opt("sigma", "noise standard deviation", 1.0),
        ParamSpec::req("n", "workers"),
        ParamSpec::req("f", "Byzantine workers"),
    ],
    citation: Citation {
        authors: "S. P. Karimireddy, L. He, M. Jaggi",
        title: "Learning from History for Byzantine Robust Optimization",
        venue: "ICML 2021, PMLR 139:5311-5319",
        year: 2021,
        arxiv: Some("2012.10333"),
        doi: None,
    },
    grows_with: &["f", "sigma"],
    shrinks_with: &["n"],
    example: &[("sigma", 1.0), ("n", 10.0), ("f", 1.0)],
};

impl Bound for B7 {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let sigma = a.positive("sigma")?;
        let n = a.count_pos("n")?;
        let f = a.count("f")?;
        if 2 * f >= n {
            return Ok(BoundValue::infinite(format!("2f = {} >= n = {n}", 2 * f)));
        }
        let beta = f as f64 / n as f64;
        Ok(BoundValue::finite(
            super::steinhardt2018resilience::bounded_cov_lb(beta, sigma, false),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // beta = 0.1: sqrt(0.1/0.8) = 0.3535533905932738.
        let v = B7.eval(&INFO.example_params()).unwrap().as_f64().unwrap();
        assert!((v - 0.125f64.sqrt()).abs() < 1e-15);
    }
}
