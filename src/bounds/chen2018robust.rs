//! R1 (rate) — the minimax rate of Gaussian mean estimation under Huber contamination:
//! Θ(σ(η + √(d/n))), attained by Tukey's median.
//!
//! Catalogue entry [`R1Rate`]: parameters `eta`, `sigma`, `d`, `n`; value σ(η + √(d/n)),
//! **order only** (constants unknown: plot it, never test against it). +∞ for η ≥ 1/2.
//! Status "to verify": the venue is checked, that the location result is stated there is not.
//!
//! Proof sketch: `proofs/chen2018robust.md`.
//!
//! # References
//! M. Chen, C. Gao, Z. Ren, "Robust covariance and scatter matrix estimation under Huber's
//! contamination model", Annals of Statistics 46(5):1932–1960, 2018, arXiv 1506.00691.

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// R1, minimax rate (order).
pub struct R1Rate;

static INFO: Info = Info {
    id: "R1-rate",
    key: "chen2018robust",
    name: "Gaussian mean minimax rate under contamination",
    family: Family::RobustStatistics,
    kind: Kind::Order,
    tight: false,
    status: Status::ToVerify,
    statement: "inf over estimators of the worst-case error is of order sigma*(eta + sqrt(d/n))",
    upper: Some("Tukey's median attains the order (same formula, unknown constant)"),
    hypotheses: &[
        Hypothesis {
            name: "Gaussian inliers",
            statement: "inliers N(mu, sigma^2 I_d)",
        },
        Hypothesis {
            name: "eta < 1/2",
            statement: "Huber contamination below the breakdown point",
        },
    ],
    params: &[
        ParamSpec::req("eta", "contamination fraction"),
        ParamSpec::opt("sigma", "per-coordinate standard deviation", 1.0),
        ParamSpec::req("d", "dimension"),
        ParamSpec::req("n", "sample size"),
    ],
    citation: Citation {
        authors: "M. Chen, C. Gao, Z. Ren",
        title: "Robust covariance and scatter matrix estimation under Huber's contamination model",
        venue: "Annals of Statistics 46(5):1932-1960",
        year: 2018,
        arxiv: Some("1506.00691"),
        doi: Some("10.1214/17-AOS1607"),
    },
    grows_with: &["eta", "sigma", "d"],
    shrinks_with: &["n"],
    example: &[("eta", 0.1), ("sigma", 1.0), ("d", 10.0), ("n", 1000.0)],
};

impl Bound for R1Rate {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let sigma = a.positive("sigma")?;
        let d = a.count_pos("d")?;
        let n = a.count_pos("n")?;
        let Some(eta) = super::eta_below(a, "eta", 0.5)? else {
            return Ok(BoundValue::infinite("eta >= 1/2 (breakdown point)"));
        };
        Ok(BoundValue::finite(
            sigma * (eta + (d as f64 / n as f64).sqrt()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Params;

    #[test]
    fn known_answer() {
        // By hand: 1·(0.1 + sqrt(10/1000)) = 0.1 + 0.1 = 0.2.
        let v = R1Rate
            .eval(&INFO.example_params())
            .unwrap()
            .as_f64()
            .unwrap();
        assert!((v - 0.2).abs() < 1e-15);
        let p = Params::new()
            .with("eta", 0.0)
            .with("d", 4.0)
            .with("n", 100.0);
        assert!((R1Rate.eval(&p).unwrap().as_f64().unwrap() - 0.2).abs() < 1e-15);
        let p = Params::new()
            .with("eta", 0.1)
            .with("d", 0.0)
            .with("n", 100.0);
        assert!(R1Rate.eval(&p).is_err());
    }
}
