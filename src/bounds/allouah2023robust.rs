//! B3 — (G,B)-gradient dissimilarity and the breakdown point 1/(2+B²).
//!
//! Hypothesis: (1/|H|)Σ_{i∈H}‖∇L_i(θ) − ∇L_H(θ)‖² ≤ G² + B²‖∇L_H(θ)‖² for all θ. Then for
//! f/n < 1/(2+B²),
//!
//!   inf over algorithms, sup over instances of ‖∇L_H(θ̂)‖² ≥ f·G²/(n − (2+B²)f),
//!
//! and for f/n ≥ 1/(2+B²) the error is unbounded relative to G² (the breakdown point).
//!
//! Catalogue entries: [`B3`] (parameters `n`, `f`, `G`, `B`; +∞ at or past the breakdown
//! point), [`B3Breakdown`] (parameter `B`; value 1/(2+B²)). Kind exact, status derived here,
//! num-checked (exact 1-D instance [`super::hard::GbInstance`]). The paper states the lower
//! bound in order Ω((f/n)/(1 − (2+B²)f/n)·G²) and the breakdown point below 1/2 (abstract,
//! checked); its loss-gap constant 1/(8μ) versus the derived 1/(2μ) is to verify and is not
//! used here. Special case B = 0: B2.
//!
//! Proof sketch: `proofs/allouah2023robust.md`.
//!
//! # References
//! Y. Allouah, R. Guerraoui, N. Gupta, R. Pinot, G. Rizk, "Robust Distributed Learning: Tight
//! Error Bounds and Breakdown Point under Data Heterogeneity", NeurIPS 2023, arXiv 2309.13591.

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// B3: f·G²/(n − (2+B²)f).
pub struct B3;
/// B3's breakdown fraction 1/(2+B²).
pub struct B3Breakdown;

/// f·G²/(n − (2+B²)f), `None` at or past the breakdown point (n ≤ (2+B²)f).
pub fn hetero_lb_grad_sq(n: usize, f: usize, g: f64, b: f64) -> Option<f64> {
    let denom = n as f64 - (2.0 + b * b) * f as f64;
    (denom > 0.0).then(|| f as f64 * g * g / denom)
}

/// 1/(2+B²).
pub fn breakdown_fraction(b: f64) -> f64 {
    1.0 / (2.0 + b * b)
}

const CITATION: Citation = Citation {
    authors: "Y. Allouah, R. Guerraoui, N. Gupta, R. Pinot, G. Rizk",
    title: "Robust Distributed Learning: Tight Error Bounds and Breakdown Point under Data Heterogeneity",
    venue: "NeurIPS 2023",
    year: 2023,
    arxiv: Some("2309.13591"),
    doi: None,
};
const HYP: &[Hypothesis] = &[
    Hypothesis {
        name: "(G,B)-dissimilarity",
        statement:
            "(1/|H|) sum_i ||grad L_i - grad L_H||^2 <= G^2 + B^2 ||grad L_H||^2 for all theta",
    },
    Hypothesis {
        name: "f/n < 1/(2+B^2)",
        statement: "below the breakdown point (else +inf)",
    },
];

static INFO: Info = Info {
    id: "B3",
    key: "allouah2023robust",
    name: "(G,B)-heterogeneity floor",
    family: Family::Byzantine,
    kind: Kind::Exact,
    tight: false,
    status: Status::DerivedHere,
    statement: "any algorithm has sup over (G,B)-dissimilar instances of ||grad L_H(theta_hat)||^2 >= f*G^2/(n-(2+B^2)f)",
    upper: Some("robust D-GD with (f, kappa)-robust F, kappa*B^2 < 1: O(kappa*G^2/(1-kappa*B^2)) (order, to verify)"),
    hypotheses: HYP,
    params: &[
        ParamSpec::req("n", "workers"),
        ParamSpec::req("f", "Byzantine workers"),
        ParamSpec::req("G", "additive heterogeneity"),
        ParamSpec::opt("B", "multiplicative heterogeneity", 0.0),
    ],
    citation: CITATION,
    grows_with: &["f", "G", "B"],
    shrinks_with: &["n"],
    example: &[("n", 20.0), ("f", 3.0), ("G", 1.0), ("B", 1.0)],
};

static INFO_BD: Info = Info {
    id: "B3-breakdown",
    key: "allouah2023robust",
    name: "breakdown fraction under (G,B)-heterogeneity",
    family: Family::Byzantine,
    kind: Kind::Exact,
    tight: false,
    status: Status::DerivedHere,
    statement: "no algorithm has error bounded relative to G^2 once f/n >= 1/(2+B^2)",
    upper: Some("robust D-GD with NNM-composed rules tolerates any f/n below it (order)"),
    hypotheses: &[HYP[0]],
    params: &[ParamSpec::opt("B", "multiplicative heterogeneity", 0.0)],
    citation: CITATION,
    grows_with: &[],
    shrinks_with: &["B"],
    example: &[("B", 1.0)],
};

impl Bound for B3 {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let n = a.count_pos("n")?;
        let f = a.count("f")?;
        let g = a.non_negative("G")?;
        let b = a.non_negative("B")?;
        Ok(match hetero_lb_grad_sq(n, f, g, b) {
            Some(v) => BoundValue::finite(v),
            None => BoundValue::infinite(format!(
                "f/n = {} >= 1/(2+B^2) = {} (breakdown point)",
                f as f64 / n as f64,
                breakdown_fraction(b)
            )),
        })
    }
}

impl Bound for B3Breakdown {
    fn info(&self) -> &'static Info {
        &INFO_BD
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let b = a.non_negative("B")?;
        let v = breakdown_fraction(b);
        Ok(BoundValue::finite(v).with_upper(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Params;

    #[test]
    fn known_answers() {
        // Reference: n = 20, f = 3, B = 1, G = 1 → 3/(20 − 9) = 0.272727…
        let v = B3.eval(&INFO.example_params()).unwrap().as_f64().unwrap();
        assert!((v - 3.0 / 11.0).abs() < 1e-15);
        // The known answer: breakdown at B = 1 is 1/3; at B = 0 it is 1/2.
        let bd = |b: f64| {
            B3Breakdown
                .eval(&Params::new().with("B", b))
                .unwrap()
                .as_f64()
                .unwrap()
        };
        assert_eq!(bd(1.0), 1.0 / 3.0);
        assert_eq!(bd(0.0), 0.5);
        // At the breakdown point: n = 9, f = 3, B = 1 → (2+1)·3 = 9 = n → +inf.
        let p = Params::new()
            .with("n", 9.0)
            .with("f", 3.0)
            .with("G", 1.0)
            .with("B", 1.0);
        assert!(B3.eval(&p).unwrap().as_f64().is_none());
        // B = 0 reduces to B2.
        assert_eq!(hetero_lb_grad_sq(20, 3, 1.0, 0.0), Some(3.0 / 14.0));
    }
}
