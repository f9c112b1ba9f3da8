//! R1 — Gaussian mean estimation under η-contamination: the bias no estimator can avoid.
//!
//! Inliers N(μ, σ²I_d); a fraction η < 1/2 of the sample is replaced (strong/TV model) or
//! drawn from an arbitrary law (Huber's additive model). In the population limit, along any
//! direction, every estimator has worst-case error at least
//!
//! - Huber: b_H(η) = σ·Φ⁻¹(1/(2(1−η))) (≈ 1.2533·σ·η/(1−η) for small η),
//! - strong: b_S(η) = σ·Φ⁻¹(1/2 + η) (≈ 2.5066·σ·η).
//!
//! Why: TV(N(0,σ²), N(Δ,σ²)) = 2Φ(Δ/(2σ)) − 1. Under Huber contamination two inlier laws can
//! produce the same observed law iff TV ≤ η/(1−η); under strong contamination iff TV ≤ 2η.
//! The largest such Δ, halved (Le Cam's two-point argument), is the bound. The sample median
//! attains b_H in one dimension (Huber 1964), so the constant is exact.
//!
//! Hypotheses: σ > 0 finite; 0 ≤ η < 1/2 (at η ≥ 1/2 no estimator has bounded error:
//! [`crate::Error::OutsideHypotheses`] says so).
//!
//! Proof sketch: `proofs/huber1964.md`.
//!
//! # References
//! - P. J. Huber, "Robust Estimation of a Location Parameter", Annals of Mathematical
//!   Statistics 35(1):73–101, 1964 (minimax bias of the median).
//! - M. Chen, C. Gao, Z. Ren, "Robust covariance and scatter matrix estimation under Huber's
//!   contamination model", Annals of Statistics 46(5):1932–1960, 2018, arXiv 1506.00691
//!   (rate Θ(σ(η + √(d/n)))).
//! - Survey: El-Mhamdi et al., "On the Impossible Safety of Large AI Models", arXiv 2209.15259.

use super::{
    phi_inv_half_plus, Args, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec,
    Status,
};
use crate::{Error, Result};

/// The contamination model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contamination {
    /// Observed law (1−η)P + ηQ.
    Huber,
    /// Any observed law within total variation η of P.
    Strong,
}

fn check(sigma: f64, eta: f64) -> Result<()> {
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(Error::invalid("sigma", sigma, "must be finite and > 0"));
    }
    if !eta.is_finite() || eta < 0.0 {
        return Err(Error::invalid("eta", eta, "must be finite and >= 0"));
    }
    if eta >= 0.5 {
        return Err(Error::OutsideHypotheses {
            bound: "R1 (huber1964)".into(),
            reason: format!(
                "eta = {eta} >= 1/2 is at or past the breakdown point: no estimator has bounded error"
            ),
        });
    }
    Ok(())
}

/// The worst-case bias b(η) every estimator of a Gaussian mean must incur (per direction).
///
/// # Errors
/// [`Error::InvalidParameter`] for σ ≤ 0 or η < 0 or non-finite input;
/// [`Error::OutsideHypotheses`] for η ≥ 1/2.
pub fn gaussian_bias(sigma: f64, eta: f64, model: Contamination) -> Result<f64> {
    check(sigma, eta)?;
    // 1/(2(1−η)) − 1/2 = η/(2(1−η)): passing the offset from 1/2 keeps full relative
    // precision as η → 0 (see `phi_inv_half_plus`).
    let x = match model {
        Contamination::Huber => eta / (2.0 * (1.0 - eta)),
        Contamination::Strong => eta,
    };
    Ok(sigma * phi_inv_half_plus(x))
}

const CITATION: Citation = Citation {
    authors: "P. J. Huber",
    title: "Robust Estimation of a Location Parameter",
    venue: "Annals of Mathematical Statistics 35(1):73-101",
    year: 1964,
    arxiv: None,
    doi: Some("10.1214/aoms/1177703732"),
};

const HYP: &[Hypothesis] = &[
    Hypothesis {
        name: "Gaussian inliers",
        statement: "inliers N(mu, sigma^2 I_d), sigma > 0",
    },
    Hypothesis {
        name: "eta < 1/2",
        statement:
            "contamination fraction below the breakdown point 1/2 (at or past it the bound is +inf)",
    },
];

const PARAMS: &[ParamSpec] = &[
    ParamSpec::req("eta", "contamination fraction in [0, 1]"),
    ParamSpec::opt(
        "sigma",
        "per-coordinate standard deviation of the inliers",
        1.0,
    ),
];

/// R1, Huber contamination: b_H = σΦ⁻¹(1/(2(1−η))); the 1-D median attains it (upper = value).
pub struct R1Huber;
/// R1, strong (TV) contamination: b_S = σΦ⁻¹(1/2+η); the 1-D median attains it.
pub struct R1Strong;

static INFO_H: Info = Info {
    id: "R1-huber",
    key: "huber1964",
    name: "Gaussian mean, Huber contamination",
    family: Family::RobustStatistics,
    kind: Kind::Exact,
    // Tight: the 1-D median's bias under far contamination tends to this value
    // (`median_attains_r1_bias_under_far_contamination`, tests/bounds_properties.rs).
    tight: true,
    status: Status::DerivedHere,
    statement: "every estimator has worst-case error >= sigma*PhiInv(1/(2(1-eta))) along any direction (population limit), under (1-eta)N(mu, sigma^2 I) + eta Q",
    upper: Some("1-D sample median: asymptotic maximum bias exactly sigma*PhiInv(1/(2(1-eta)))"),
    hypotheses: HYP,
    params: PARAMS,
    citation: CITATION,
    grows_with: &["eta", "sigma"],
    shrinks_with: &[],
    example: &[("eta", 0.1), ("sigma", 1.0)],
};

static INFO_S: Info = Info {
    id: "R1-strong",
    name: "Gaussian mean, strong (TV) contamination",
    statement: "every estimator has worst-case error >= sigma*PhiInv(1/2 + eta) along any direction (population limit), for any observed law within TV eta of N(mu, sigma^2 I)",
    upper: Some("1-D sample median: asymptotic maximum bias sigma*PhiInv(1/2 + eta)"),
    ..INFO_H
};

fn eval_model(a: &Args<'_>, model: Contamination) -> Result<BoundValue> {
    let sigma = a.positive("sigma")?;
    let eta = a.fraction("eta")?;
    if eta >= 0.5 {
        return Ok(BoundValue::infinite(format!(
            "eta = {eta} >= 1/2 (breakdown point): no estimator has bounded error"
        )));
    }
    let b = gaussian_bias(sigma, eta, model)?;
    Ok(BoundValue::finite(b).with_upper(b))
}

impl_bound!(R1Huber, INFO_H, |a| eval_model(a, Contamination::Huber));

impl_bound!(R1Strong, INFO_S, |a| eval_model(a, Contamination::Strong));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bounds::Bound;

    /// Expected values: Python's `statistics.NormalDist().inv_cdf` (Wichura's AS241, ~1e-16
    /// relative), at p = 1/(2(1−η)) and p = 1/2 + η. They agree with the 5-digit table of
    /// reference/bounds.md R1. Tolerance 1e-12 relative: statrs' inverse CDF goes through
    /// erfc⁻¹, accurate to a few ulps times the condition number near p = 1/2.
    #[test]
    fn known_answers() {
        let cases = [
            (0.01, 0.012660076940314147, 0.025068908258711057),
            (0.1, 0.1397102988818621, 0.2533471031357998),
            (0.3, 0.5659488219328631, 0.8416212335729144),
            (0.4, 0.9674215661017014, 1.2815515655446008),
        ];
        for (eta, h, s) in cases {
            let bh = gaussian_bias(1.0, eta, Contamination::Huber).unwrap();
            let bs = gaussian_bias(1.0, eta, Contamination::Strong).unwrap();
            assert!((bh - h).abs() <= 1e-12 * h, "eta {eta}: {bh} vs {h}");
            assert!((bs - s).abs() <= 1e-12 * s, "eta {eta}: {bs} vs {s}");
        }
        // Scales linearly in σ.
        let b2 = gaussian_bias(2.0, 0.1, Contamination::Huber).unwrap();
        assert!((b2 - 2.0 * 0.1397102988818621).abs() < 1e-12);
        assert_eq!(gaussian_bias(1.0, 0.0, Contamination::Huber).unwrap(), 0.0);
    }

    #[test]
    fn catalogue_entries() {
        use crate::params::Params;
        // The known answers: sigma = 1, eta = 0.1 (values above, full precision).
        let p = Params::new().with("eta", 0.1);
        let h = R1Huber.eval(&p).unwrap();
        assert!((h.as_f64().unwrap() - 0.1397102988818621).abs() < 1e-13);
        assert_eq!(h.upper, h.as_f64());
        let s = R1Strong.eval(&p).unwrap().as_f64().unwrap();
        assert!((s - 0.2533471031357998).abs() < 1e-13);
        // Past the breakdown point: a typed infinity, not an error.
        let inf = R1Huber.eval(&Params::new().with("eta", 0.5)).unwrap();
        assert!(inf.as_f64().is_none());
        // Small-eta limit: b_H ≈ sqrt(pi/2)·eta/(1−eta), b_S ≈ sqrt(2 pi)·eta, relative
        // error O(eta^2); at eta = 1e-9 exact to ~1e-16.
        let e = 1e-9;
        let bh = gaussian_bias(1.0, e, Contamination::Huber).unwrap();
        let bs = gaussian_bias(1.0, e, Contamination::Strong).unwrap();
        let c = (std::f64::consts::PI / 2.0).sqrt();
        assert!((bh / (c * e / (1.0 - e)) - 1.0).abs() < 1e-12, "{bh}");
        assert!((bs / (2.0 * c * e) - 1.0).abs() < 1e-12, "{bs}");
    }

    #[test]
    fn hypotheses_enforced() {
        let e = gaussian_bias(1.0, 0.5, Contamination::Huber)
            .unwrap_err()
            .to_string();
        assert!(e.contains("breakdown"), "{e}");
        assert!(gaussian_bias(0.0, 0.1, Contamination::Huber).is_err());
        assert!(gaussian_bias(1.0, -0.1, Contamination::Strong).is_err());
        assert!(gaussian_bias(f64::NAN, 0.1, Contamination::Strong).is_err());
    }
}
