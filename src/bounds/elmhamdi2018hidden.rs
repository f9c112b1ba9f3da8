//! R6 — dimension dependence: the coordinate-wise and geometric medians pay √d where the
//! optimum (R1) is dimension-free.
//!
//! Setting: inliers N(μ, σ²I_d), a fraction η of outliers at μ + R·u with R → ∞ and u the
//! all-ones direction 1/√d.
//!
//! - Catalogue entry [`R6Cwmed`] (kind exact as n → ∞, status derived here, num-checked):
//!   each coordinate's median is biased by σΦ⁻¹(1/(2(1−η))), so
//!   ‖CWMed − μ‖ = √d·σ·Φ⁻¹(1/(2(1−η))).
//! - Catalogue entry [`R6Gm`] (large-d approximation, kind order, status derived here,
//!   num-checked): balancing unit pulls gives ‖GM − μ‖ ≈ σ√d·η/(1−η), valid for d ≳ 10 and
//!   η/(1−η) ≪ 1 (simulations in the reference: within 7 % at d = 50, η ≤ 0.2).
//!
//! These are biases of named estimators under one attack: lower bounds on their worst-case
//! error, not on every estimator's. +∞ for η ≥ 1/2.
//!
//! Proof sketch: `proofs/elmhamdi2018hidden.md`.
//!
//! # References
//! E. M. El Mhamdi, R. Guerraoui, S. Rouault, "The Hidden Vulnerability of Distributed
//! Learning in Byzantium", ICML 2018, PMLR 80:3521–3530, arXiv 1802.07927.

use super::{Args, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// R6, coordinate-wise median bias.
pub struct R6Cwmed;
/// R6, geometric median bias (approximation).
pub struct R6Gm;

/// √d·σ·Φ⁻¹(1/(2(1−η))) for 0 ≤ η < 1/2 (unchecked).
pub fn cwmed_bias_allones(eta: f64, sigma: f64, d: usize) -> f64 {
    (d as f64).sqrt() * sigma * super::phi_inv_half_plus(eta / (2.0 * (1.0 - eta)))
}

/// σ√d·η/(1−η) for 0 ≤ η < 1/2 (unchecked).
pub fn geomed_bias_highdim(eta: f64, sigma: f64, d: usize) -> f64 {
    sigma * (d as f64).sqrt() * eta / (1.0 - eta)
}

const HYP: &[Hypothesis] = &[
    Hypothesis {
        name: "Gaussian inliers",
        statement: "inliers N(mu, sigma^2 I_d)",
    },
    Hypothesis {
        name: "far outliers",
        statement: "an eta fraction at mu + R*1/sqrt(d), R -> infinity; n -> infinity",
    },
    Hypothesis {
        name: "eta < 1/2",
        statement: "below the breakdown point (else +inf)",
    },
];
const PARAMS: &[ParamSpec] = &[
    ParamSpec::req("eta", "fraction of outliers"),
    ParamSpec::opt("sigma", "per-coordinate standard deviation", 1.0),
    ParamSpec::req("d", "dimension"),
];
const CITATION: Citation = Citation {
    authors: "E. M. El Mhamdi, R. Guerraoui, S. Rouault",
    title: "The Hidden Vulnerability of Distributed Learning in Byzantium",
    venue: "ICML 2018, PMLR 80:3521-3530",
    year: 2018,
    arxiv: Some("1802.07927"),
    doi: None,
};

static INFO_C: Info = Info {
    id: "R6-cwmed",
    key: "elmhamdi2018hidden",
    name: "coordinate-wise median bias in d dimensions",
    family: Family::RobustStatistics,
    kind: Kind::Exact,
    tight: false,
    status: Status::DerivedHere,
    statement: "with far outliers along the all-ones direction, ||CWMed - mu|| -> sqrt(d)*sigma*PhiInv(1/(2(1-eta))) as n -> infinity",
    upper: None,
    hypotheses: HYP,
    params: PARAMS,
    citation: CITATION,
    grows_with: &["eta", "sigma", "d"],
    shrinks_with: &[],
    example: &[("eta", 0.1), ("sigma", 1.0), ("d", 50.0)],
};

static INFO_G: Info = Info {
    id: "R6-gm",
    name: "geometric median bias in d dimensions (approximation)",
    kind: Kind::Order,
    tight: false,
    statement: "with far outliers along one direction, ||GM - mu|| ~ sigma*sqrt(d)*eta/(1-eta) for large d (linearization)",
    ..INFO_C
};

/// Evaluates `bias(eta, sigma, d)` below the breakdown point, +inf from it on.
fn eval(a: &Args<'_>, bias: fn(f64, f64, usize) -> f64) -> Result<BoundValue> {
    let sigma = a.positive("sigma")?;
    let d = a.count_pos("d")?;
    Ok(match super::eta_below(a, "eta", 0.5)? {
        Some(eta) => BoundValue::finite(bias(eta, sigma, d)),
        None => BoundValue::infinite("eta >= 1/2 (breakdown point)"),
    })
}

impl_bound!(R6Cwmed, INFO_C, |a| eval(a, cwmed_bias_allones));

impl_bound!(R6Gm, INFO_G, |a| eval(a, geomed_bias_highdim));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bounds::Bound;

    #[test]
    fn known_answers() {
        // Reference simulations' predictions: d = 50, eta = 0.1: CWMed sqrt(50)·0.13971 =
        // 0.98790, GM sqrt(50)/9 = 0.78567; d = 200: 1.97580 (CWMed), GM 1.57135.
        let c = cwmed_bias_allones(0.1, 1.0, 50);
        assert!((c - 50f64.sqrt() * 0.1397102988818621).abs() < 1e-13, "{c}");
        assert!((c - 0.9879).abs() < 1e-4);
        assert!((geomed_bias_highdim(0.1, 1.0, 50) - 0.78567).abs() < 1e-5);
        assert!((cwmed_bias_allones(0.1, 1.0, 200) - 1.9758).abs() < 1e-4);
        // d = 1 reduces to R1 (Huber).
        let r1 = crate::bounds::huber1964::gaussian_bias(
            1.0,
            0.2,
            crate::bounds::huber1964::Contamination::Huber,
        )
        .unwrap();
        assert!((cwmed_bias_allones(0.2, 1.0, 1) - r1).abs() < 1e-15);
        let v = R6Cwmed.eval(&INFO_C.example_params()).unwrap();
        assert!((v.as_f64().unwrap() - c).abs() < 1e-15);
    }
}
