//! P1 (two-point) — group privacy makes two datasets differing in k records hard to tell
//! apart: for D0 = n zeros and D1 = k ones and n − k zeros (means k/n apart), every
//! (ε,δ)-DP mechanism M has
//!
//!   max_{i∈{0,1}} Pr[|M(D_i) − mean_i| ≥ k/(2n)] ≥ (1 − δ_k)/(1 + e^{kε}),  δ_k = k·e^{(k−1)ε}·δ.
//!
//! Catalogue entry [`P1TwoPoint`]: parameters `k` (default 1), `eps`, `delta` (default 0);
//! value the failure probability above (0 when δ_k ≥ 1: the bound is vacuous there). Kind
//! exact, status derived here. With k = ⌈1/ε⌉ and δ = 0 it is ≥ 1/(1 + e^{1+ε}). Edge
//! ε → 0: → (1 − δ_k)/2.
//!
//! Also [`gaussian_mech_sigma`], the Gaussian mechanism's noise scale.
//!
//! Proof sketch: `proofs/dwork2014algorithmic.md`.
//!
//! # References
//! C. Dwork, A. Roth, "The Algorithmic Foundations of Differential Privacy", Foundations and
//! Trends in Theoretical Computer Science 9(3–4):211–407, 2014, doi 10.1561/0400000042
//! (group privacy; Gaussian mechanism, Thm A.1).

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// P1's two-point bound.
pub struct P1TwoPoint;

/// (1 − δ_k)/(1 + e^{kε}), clamped at 0 (unchecked inputs).
pub fn dp_two_point_min_fail_prob(k: u32, eps: f64, delta: f64) -> f64 {
    let k = f64::from(k);
    let dk = k * ((k - 1.0) * eps).exp() * delta;
    ((1.0 - dk) / (1.0 + (k * eps).exp())).max(0.0)
}

/// The Gaussian mechanism's standard deviation for ℓ2 sensitivity `sens`:
/// sens·√(2 ln(1.25/δ))/ε (Dwork & Roth, Thm A.1; (ε,δ)-DP for ε < 1).
pub fn gaussian_mech_sigma(sens: f64, eps: f64, delta: f64) -> f64 {
    sens * (2.0 * (1.25 / delta).ln()).sqrt() / eps
}

static INFO: Info = Info {
    id: "P1-twopoint",
    key: "dwork2014algorithmic",
    name: "DP two-point failure probability",
    family: Family::Privacy,
    kind: Kind::Exact,
    tight: false,
    status: Status::DerivedHere,
    statement: "for datasets k records apart, every (eps, delta)-DP mechanism errs by >= k/(2n) with probability >= (1-delta_k)/(1+e^(k eps)) on one of them, delta_k = k e^((k-1)eps) delta",
    upper: None,
    hypotheses: &[
        Hypothesis { name: "(eps, delta)-DP", statement: "the mechanism is (eps, delta)-DP for one-record changes" },
        Hypothesis { name: "k >= 1", statement: "the two datasets differ in k records" },
    ],
    params: &[
        ParamSpec::opt("k", "records changed", 1.0),
        ParamSpec::req("eps", "privacy parameter epsilon"),
        ParamSpec::opt("delta", "privacy parameter delta", 0.0),
    ],
    citation: Citation {
        authors: "C. Dwork, A. Roth",
        title: "The Algorithmic Foundations of Differential Privacy",
        venue: "Foundations and Trends in Theoretical Computer Science 9(3-4):211-407",
        year: 2014,
        arxiv: None,
        doi: Some("10.1561/0400000042"),
    },
    grows_with: &[],
    shrinks_with: &["k", "eps", "delta"],
    example: &[("k", 1.0), ("eps", 1.0), ("delta", 0.0)],
};

impl Bound for P1TwoPoint {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let k = a.count_pos("k")?;
        let k = u32::try_from(k).map_err(|_| crate::Error::invalid("k", k, "too large"))?;
        let eps = a.non_negative("eps")?;
        let delta = a.fraction("delta")?;
        Ok(BoundValue::finite(dp_two_point_min_fail_prob(
            k, eps, delta,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // Reference: k = 1, eps = 1: 1/(1+e) = 0.2689414213699951.
        let v = P1TwoPoint
            .eval(&INFO.example_params())
            .unwrap()
            .as_f64()
            .unwrap();
        assert!((v - 1.0 / (1.0 + std::f64::consts::E)).abs() < 1e-15);
        assert!((v - 0.269).abs() < 1e-3);
        // eps = 0: 1/2 (no privacy loss, coin flip).
        assert_eq!(dp_two_point_min_fail_prob(3, 0.0, 0.0), 0.5);
        // Vacuous when delta_k >= 1.
        assert_eq!(dp_two_point_min_fail_prob(2, 1.0, 0.5), 0.0);
        // Gaussian mechanism: sens 1, eps 1, delta 1e-5: sqrt(2 ln 125000) = 4.844805262…
        assert!(
            (gaussian_mech_sigma(1.0, 1.0, 1e-5) - (2.0 * 125000f64.ln()).sqrt()).abs() < 1e-15
        );
    }
}
