//! R3 — bounded covariance (Σ ≼ σ²I): every estimator has worst-case error at least
//! σ·√(η/(1−2η)) under Huber contamination and σ·√(2η/(1−2η)) under strong contamination
//! (order Θ(σ√η), information-theoretically tight).
//!
//! Catalogue entries [`R3Huber`], [`R3Strong`]: parameters `eta`, `sigma`. Kind exact, status
//! derived here (two symmetric spikes, see [`super::hard::spike_pair`]). +∞ for η ≥ 1/2.
//! Edges: η → 0 behaves like σ√η (no cancellation); η → 1/2 diverges like (1−2η)^{−1/2}.
//!
//! Matched in order by the 1-D trimmed mean and median-of-means (O(σ√η)), and in d dimensions
//! by the filter / resilience-based estimators (status to verify; no constant).
//!
//! Proof sketch: `proofs/steinhardt2018resilience.md`.
//!
//! # References
//! J. Steinhardt, M. Charikar, G. Valiant, "Resilience: A Criterion for Learning in the
//! Presence of Arbitrary Outliers", ITCS 2018, arXiv 1703.04940.

use super::{Args, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// R3 under Huber contamination: σ√(η/(1−2η)).
pub struct R3Huber;
/// R3 under strong contamination: σ√(2η/(1−2η)).
pub struct R3Strong;

/// σ√(η/(1−2η)) (Huber) or σ√(2η/(1−2η)) (strong), for 0 ≤ η < 1/2 (unchecked).
pub fn bounded_cov_lb(eta: f64, sigma: f64, strong: bool) -> f64 {
    let c = if strong { 2.0 } else { 1.0 };
    sigma * (c * eta / (1.0 - 2.0 * eta)).sqrt()
}

const HYP: &[Hypothesis] = &[
    Hypothesis {
        name: "bounded covariance",
        statement: "inlier covariance <= sigma^2 I",
    },
    Hypothesis {
        name: "eta < 1/2",
        statement: "below the breakdown point (else +inf)",
    },
];
const PARAMS: &[ParamSpec] = &[
    ParamSpec::req("eta", "contamination fraction"),
    ParamSpec::opt("sigma", "square root of the covariance bound", 1.0),
];
const CITATION: Citation = Citation {
    authors: "J. Steinhardt, M. Charikar, G. Valiant",
    title: "Resilience: A Criterion for Learning in the Presence of Arbitrary Outliers",
    venue: "ITCS 2018",
    year: 2018,
    arxiv: Some("1703.04940"),
    doi: None,
};

static INFO_H: Info = Info {
    id: "R3-huber",
    key: "steinhardt2018resilience",
    name: "bounded covariance, Huber contamination",
    family: Family::RobustStatistics,
    kind: Kind::Exact,
    tight: false,
    status: Status::DerivedHere,
    statement:
        "every estimator has worst-case error >= sigma*sqrt(eta/(1-2eta)) when Cov <= sigma^2 I",
    upper: Some("1-D trimmed mean / median-of-means: O(sigma*sqrt(eta)) (order only)"),
    hypotheses: HYP,
    params: PARAMS,
    citation: CITATION,
    grows_with: &["eta", "sigma"],
    shrinks_with: &[],
    example: &[("eta", 0.1), ("sigma", 1.0)],
};

static INFO_S: Info = Info {
    id: "R3-strong",
    name: "bounded covariance, strong contamination",
    statement:
        "every estimator has worst-case error >= sigma*sqrt(2eta/(1-2eta)) when Cov <= sigma^2 I",
    ..INFO_H
};

fn eval(a: &Args<'_>, strong: bool) -> Result<BoundValue> {
    let sigma = a.positive("sigma")?;
    let Some(eta) = super::eta_below(a, "eta", 0.5)? else {
        return Ok(BoundValue::infinite("eta >= 1/2 (breakdown point)"));
    };
    Ok(BoundValue::finite(bounded_cov_lb(eta, sigma, strong)))
}

impl_bound!(R3Huber, INFO_H, |a| eval(a, false));

impl_bound!(R3Strong, INFO_S, |a| eval(a, true));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bounds::Bound;
    use crate::params::Params;

    #[test]
    fn known_answers() {
        // Reference table (sigma = 1): eta 0.05 → sqrt(0.05/0.9) = 0.2357, sqrt(0.1/0.9) =
        // 0.3333; eta 0.1 → sqrt(0.1/0.8) = 0.35355, sqrt(0.2/0.8) = 0.5; eta 0.2 →
        // sqrt(0.2/0.6) = 0.57735, sqrt(0.4/0.6) = 0.81650.
        for (eta, h, s) in [
            (0.05, (0.05f64 / 0.9).sqrt(), 1.0 / 3.0),
            (0.1, (0.125f64).sqrt(), 0.5),
            (0.2, (1.0f64 / 3.0).sqrt(), (2.0f64 / 3.0).sqrt()),
        ] {
            let p = Params::new().with("eta", eta);
            let vh = R3Huber.eval(&p).unwrap().as_f64().unwrap();
            let vs = R3Strong.eval(&p).unwrap().as_f64().unwrap();
            assert!(
                (vh - h).abs() < 1e-15 && (vs - s).abs() < 1e-15,
                "{eta}: {vh} {vs}"
            );
        }
        assert!((bounded_cov_lb(0.05, 1.0, false) - 0.2357).abs() < 5e-5);
        let p = Params::new().with("eta", 0.5);
        assert!(R3Strong.eval(&p).unwrap().as_f64().is_none());
    }
}
