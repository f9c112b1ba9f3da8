//! P1 — the cost of privacy for Gaussian mean estimation: for N(μ, σ²I_d), ε = O(1) and
//! δ ≤ n^{−(1+ω)}, inf over (ε,δ)-DP estimators of sup E‖μ̂ − μ‖² ≍ σ²·(d/n + d²·ln(1/δ)/(n²ε²)),
//! up to logarithmic factors.
//!
//! Catalogue entry [`P1`]: parameters `sigma`, `d`, `n`, `eps`, `delta`. **Order only**;
//! status "to verify" (the paper's exact log factors and conditions on δ are not checked; some
//! statements drop ln(1/δ) in the lower bound). Hypotheses checked: 0 < ε ≤ 1 and
//! 0 < δ < 1/n, else [`crate::Error::OutsideHypotheses`]. Edges: ε → 0 or δ → 0 grow the
//! privacy term without bound (finite for every admissible input). The exact two-point
//! version is [`super::dwork2014algorithmic::P1TwoPoint`].
//!
//! Proof sketch: `proofs/cai2021cost.md`.
//!
//! # References
//! T. T. Cai, Y. Wang, L. Zhang, "The cost of privacy: optimal rates of convergence for
//! parameter estimation with differential privacy", Annals of Statistics 49(5):2825–2850,
//! 2021, doi 10.1214/21-AOS2058, arXiv 1902.04495.

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// P1 (order).
pub struct P1;

/// σ²(d/n + d² ln(1/δ)/(n²ε²)) (unchecked).
pub fn dp_gaussian_mean_rate_sq(sigma: f64, d: usize, n: usize, eps: f64, delta: f64) -> f64 {
    let (d, n) = (d as f64, n as f64);
    sigma * sigma * (d / n + d * d * (1.0 / delta).ln() / (n * n * eps * eps))
}

static INFO: Info = Info {
    id: "P1",
    key: "cai2021cost",
    name: "DP Gaussian mean, minimax squared error",
    family: Family::Privacy,
    kind: Kind::Order,
    tight: false,
    status: Status::ToVerify,
    statement: "inf over (eps, delta)-DP estimators of sup E||mu_hat - mu||^2 is of order sigma^2 (d/n + d^2 log(1/delta)/(n^2 eps^2)), up to logs",
    upper: Some("clip, average, add Gaussian noise: same order up to logs"),
    hypotheses: &[
        Hypothesis { name: "Gaussian data", statement: "N(mu, sigma^2 I_d), ||mu||_inf bounded" },
        Hypothesis { name: "0 < eps <= 1", statement: "eps = O(1)" },
        Hypothesis { name: "0 < delta < 1/n", statement: "delta <= n^-(1+omega) in the paper" },
    ],
    params: &[
        ParamSpec::opt("sigma", "per-coordinate standard deviation", 1.0),
        ParamSpec::req("d", "dimension"),
        ParamSpec::req("n", "sample size"),
        ParamSpec::req("eps", "privacy parameter epsilon"),
        ParamSpec::req("delta", "privacy parameter delta"),
    ],
    citation: Citation {
        authors: "T. T. Cai, Y. Wang, L. Zhang",
        title: "The cost of privacy: optimal rates of convergence for parameter estimation with differential privacy",
        venue: "Annals of Statistics 49(5):2825-2850",
        year: 2021,
        arxiv: Some("1902.04495"),
        doi: Some("10.1214/21-AOS2058"),
    },
    grows_with: &["sigma", "d"],
    shrinks_with: &["n", "eps", "delta"],
    example: &[("sigma", 1.0), ("d", 10.0), ("n", 1000.0), ("eps", 1.0), ("delta", 1e-6)],
};

impl Bound for P1 {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let sigma = a.positive("sigma")?;
        let d = a.count_pos("d")?;
        let n = a.count_pos("n")?;
        let eps = a.positive("eps")?;
        let delta = a.positive("delta")?;
        if eps > 1.0 {
            return Err(a.outside("0 < eps <= 1", format!("eps = {eps}")));
        }
        if delta >= 1.0 / n as f64 {
            return Err(a.outside(
                "0 < delta < 1/n",
                format!("delta = {delta} >= 1/n = {}", 1.0 / n as f64),
            ));
        }
        Ok(BoundValue::finite(dp_gaussian_mean_rate_sq(
            sigma, d, n, eps, delta,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // 10/1000 + 100·ln(1e6)/(1e6·1) = 0.01 + 1.3815510557964274e-3.
        let v = P1.eval(&INFO.example_params()).unwrap().as_f64().unwrap();
        assert!(
            (v - (0.01 + 100.0 * 1e6f64.ln() / 1e6)).abs() < 1e-15,
            "{v}"
        );
        let p = INFO.example_params().with("delta", 0.01);
        assert!(P1.eval(&p).unwrap_err().to_string().contains("delta < 1/n"));
    }
}
