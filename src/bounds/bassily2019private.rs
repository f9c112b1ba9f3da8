//! P4 (SCO) — DP stochastic convex optimization: the optimal excess population loss is
//! Θ̃(L·D·(1/√n + √(d·ln(1/δ))/(nε))).
//!
//! Catalogue entry [`P4Sco`]: parameters as P4 (`L`, `D`, `d`, `n`, `eps`, `delta`; δ = 0
//! uses the pure-DP term L·D·d/(nε)). **Order only**; status "to verify" (abstract checked
//! for the claim of optimality; the formula from memory). Always ≥ P4's value at the same
//! parameters (it adds the statistical term L·D/√n).
//!
//! Proof sketch: `proofs/bassily2019private.md`.
//!
//! # References
//! R. Bassily, V. Feldman, K. Talwar, A. Thakurta, "Private Stochastic Convex Optimization
//! with Optimal Rates", NeurIPS 2019, arXiv 1908.09970.

use super::bassily2014private::{erm_term, read, HYP, PARAMS};
use super::{Args, Bound, BoundValue, Citation, Family, Info, Kind, Status};
use crate::Result;

/// P4, population version (order).
pub struct P4Sco;

static INFO: Info = Info {
    id: "P4-sco",
    key: "bassily2019private",
    name: "DP-SCO excess population loss",
    family: Family::Privacy,
    kind: Kind::Order,
    tight: false,
    status: Status::ToVerify,
    statement: "excess population loss of (eps, delta)-DP stochastic convex optimization is of order L D (1/sqrt(n) + sqrt(d log(1/delta))/(n eps))",
    upper: Some("noisy SGD with the right step sizes: same order"),
    hypotheses: HYP,
    params: PARAMS,
    citation: Citation {
        authors: "R. Bassily, V. Feldman, K. Talwar, A. Thakurta",
        title: "Private Stochastic Convex Optimization with Optimal Rates",
        venue: "NeurIPS 2019",
        year: 2019,
        arxiv: Some("1908.09970"),
        doi: None,
    },
    grows_with: &["L", "D", "d"],
    shrinks_with: &["n", "eps", "delta"],
    example: &[("L", 1.0), ("D", 1.0), ("d", 100.0), ("n", 1000.0), ("eps", 1.0), ("delta", 1e-5)],
};

impl Bound for P4Sco {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let (l, diam, d, n, eps, delta) = read(a)?;
        Ok(BoundValue::finite(
            l * diam / n.sqrt() + erm_term(l, diam, d, n, eps, delta),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // 1/sqrt(1000) + P4's 0.033930701 = 0.065553478.
        let v = P4Sco
            .eval(&INFO.example_params())
            .unwrap()
            .as_f64()
            .unwrap();
        let p4 = (100.0 * 1e5f64.ln()).sqrt() / 1000.0;
        assert!((v - (1000f64.sqrt().recip() + p4)).abs() < 1e-15);
    }
}
