//! P4 — DP empirical risk minimization: for convex L-Lipschitz losses on a domain of diameter
//! D, the optimal excess empirical risk is Θ̃(L·D·√(d·ln(1/δ))/(nε)) under (ε,δ)-DP and
//! Θ(L·D·d/(nε)) under ε-DP; lower bounds hold already for linear losses (one-way marginals).
//!
//! Catalogue entry [`P4`]: parameters `L`, `D`, `d`, `n`, `eps`, `delta` (δ = 0 selects the
//! pure-DP form L·D·d/(nε)). **Order only**; status "to verify" (venue and the claim of
//! matching lower bounds checked in the abstract; the rates are stated from memory).
//! Edge: δ → 0⁺ grows like √ln(1/δ); the pure-DP form is a separate regime (not the limit).
//!
//! Proof sketch: `proofs/bassily2014private.md`.
//!
//! # References
//! R. Bassily, A. Smith, A. Thakurta, "Private Empirical Risk Minimization: Efficient
//! Algorithms and Tight Error Bounds", FOCS 2014, arXiv 1405.7085.

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// P4 (order).
pub struct P4;

/// Shared by P4 and P4-sco: L·D·√(d ln(1/δ))/(nε), or L·D·d/(nε) for δ = 0.
pub(crate) fn erm_term(l: f64, diam: f64, d: f64, n: f64, eps: f64, delta: f64) -> f64 {
    if delta == 0.0 {
        l * diam * d / (n * eps)
    } else {
        l * diam * (d * (1.0 / delta).ln()).sqrt() / (n * eps)
    }
}

pub(crate) const PARAMS: &[ParamSpec] = &[
    ParamSpec::opt("L", "Lipschitz constant of the loss", 1.0),
    ParamSpec::opt("D", "diameter of the parameter domain", 1.0),
    ParamSpec::req("d", "dimension"),
    ParamSpec::req("n", "sample size"),
    ParamSpec::req("eps", "privacy parameter epsilon"),
    ParamSpec::req("delta", "privacy parameter delta in [0, 1); 0 = pure DP"),
];

pub(crate) const HYP: &[Hypothesis] = &[
    Hypothesis {
        name: "convex Lipschitz loss",
        statement: "convex L-Lipschitz losses on a domain of diameter D",
    },
    Hypothesis {
        name: "0 <= delta < 1",
        statement: "delta = 0 is pure DP",
    },
];

static INFO: Info = Info {
    id: "P4",
    key: "bassily2014private",
    name: "DP-ERM excess empirical risk",
    family: Family::Privacy,
    kind: Kind::Order,
    tight: false,
    status: Status::ToVerify,
    statement: "excess empirical risk of (eps, delta)-DP ERM is of order L D sqrt(d log(1/delta))/(n eps) (L D d/(n eps) under pure DP)",
    upper: Some("noisy (S)GD / exponential mechanism: same order up to logs"),
    hypotheses: HYP,
    params: PARAMS,
    citation: Citation {
        authors: "R. Bassily, A. Smith, A. Thakurta",
        title: "Private Empirical Risk Minimization: Efficient Algorithms and Tight Error Bounds",
        venue: "FOCS 2014",
        year: 2014,
        arxiv: Some("1405.7085"),
        doi: None,
    },
    grows_with: &["L", "D", "d"],
    shrinks_with: &["n", "eps", "delta"],
    example: &[("L", 1.0), ("D", 1.0), ("d", 100.0), ("n", 1000.0), ("eps", 1.0), ("delta", 1e-5)],
};

/// Reads and checks P4's parameters: (L, D, d, n, eps, delta).
pub(crate) fn read(a: &Args<'_>) -> Result<(f64, f64, f64, f64, f64, f64)> {
    let l = a.positive("L")?;
    let diam = a.positive("D")?;
    let d = a.count_pos("d")? as f64;
    let n = a.count_pos("n")? as f64;
    let eps = a.positive("eps")?;
    let delta = a.non_negative("delta")?;
    if delta >= 1.0 {
        return Err(a.outside("0 <= delta < 1", format!("delta = {delta}")));
    }
    Ok((l, diam, d, n, eps, delta))
}

impl Bound for P4 {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let (l, diam, d, n, eps, delta) = read(a)?;
        Ok(BoundValue::finite(erm_term(l, diam, d, n, eps, delta)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // sqrt(100·ln 1e5)/1000 = sqrt(1151.29254649702)/1000 = 0.033930701.
        let v = P4.eval(&INFO.example_params()).unwrap().as_f64().unwrap();
        assert!((v - (100.0 * 1e5f64.ln()).sqrt() / 1000.0).abs() < 1e-15);
        let pure = P4.eval(&INFO.example_params().with("delta", 0.0)).unwrap();
        assert_eq!(pure.as_f64(), Some(0.1));
    }
}
