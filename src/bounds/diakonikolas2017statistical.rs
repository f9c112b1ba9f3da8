//! R2 — the computational gap under strong contamination: no polynomial-time statistical-query
//! algorithm estimates a Gaussian mean to o(σ·η·√log(1/η)); the filter achieves
//! O(σ·η·√log(1/η)).
//!
//! Catalogue entry [`R2`]: parameters `eta` ∈ [0, 1/2), `sigma`; value σ·η·√ln(1/η),
//! **order only**. The claim is qualitative in the source's abstract (the robust algorithm's
//! accuracy "is essentially best possible among all polynomial-time SQ algorithms"); the
//! exact form is status "to verify". Edge: η → 0 gives 0 (η·√ln(1/η) → 0); η ≥ 1/2 is +∞.
//!
//! Proof sketch: `proofs/diakonikolas2017statistical.md`.
//!
//! # References
//! I. Diakonikolas, D. M. Kane, A. Stewart, "Statistical Query Lower Bounds for Robust
//! Estimation of High-dimensional Gaussians and Gaussian Mixtures", FOCS 2017, arXiv 1611.03473.

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// R2 (order).
pub struct R2;

static INFO: Info = Info {
    id: "R2",
    key: "diakonikolas2017statistical",
    name: "SQ computational gap, strong contamination",
    family: Family::RobustStatistics,
    kind: Kind::Order,
    tight: false,
    status: Status::ToVerify,
    statement: "no polynomial-time SQ algorithm reaches error o(sigma*eta*sqrt(log(1/eta))) under strong contamination",
    upper: Some("the filter: O(sigma*eta*sqrt(log(1/eta))) (same order)"),
    hypotheses: &[
        Hypothesis { name: "Gaussian inliers", statement: "inliers N(mu, sigma^2 I_d)" },
        Hypothesis { name: "eta < 1/2", statement: "strong contamination below the breakdown point" },
        Hypothesis { name: "SQ algorithm", statement: "polynomial-time statistical-query algorithms only" },
    ],
    params: &[
        ParamSpec::req("eta", "contamination fraction"),
        ParamSpec::opt("sigma", "per-coordinate standard deviation", 1.0),
    ],
    citation: Citation {
        authors: "I. Diakonikolas, D. M. Kane, A. Stewart",
        title: "Statistical Query Lower Bounds for Robust Estimation of High-dimensional Gaussians and Gaussian Mixtures",
        venue: "FOCS 2017",
        year: 2017,
        arxiv: Some("1611.03473"),
        doi: None,
    },
    grows_with: &["eta", "sigma"],
    shrinks_with: &[],
    example: &[("eta", 0.1), ("sigma", 1.0)],
};

impl Bound for R2 {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let sigma = a.positive("sigma")?;
        let Some(eta) = super::eta_below(a, "eta", 0.5)? else {
            return Ok(BoundValue::infinite("eta >= 1/2 (breakdown point)"));
        };
        if eta == 0.0 {
            return Ok(BoundValue::finite(0.0));
        }
        Ok(BoundValue::finite(sigma * eta * (1.0 / eta).ln().sqrt()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // 0.1·sqrt(ln 10) = 0.1·1.5174271293851465 (ln 10 = 2.302585092994046).
        let v = R2.eval(&INFO.example_params()).unwrap().as_f64().unwrap();
        assert!((v - 0.15174271293851465).abs() < 1e-15, "{v}");
        let p = crate::params::Params::new().with("eta", 0.0);
        assert_eq!(R2.eval(&p).unwrap().as_f64(), Some(0.0));
    }
}
