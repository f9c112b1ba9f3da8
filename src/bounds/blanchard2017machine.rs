//! B8 — Krum's resilience condition: (α, f)-Byzantine resilience needs
//! η(n, f)·√d·σ < ‖g‖, with σ² the per-coordinate variance of honest gradients and
//!
//!   η(n, f) = √(2·(n − f + f·(n + f·(n − f − 2) − 2)/(n − 2f − 2))).
//!
//! Catalogue entry [`B8`]: parameters `n`, `f`, `d`, `sigma`; value η(n,f)·√d·σ, the gradient
//! norm below which Krum's guarantee is void (the √d leeway of R6). Hypothesis n ≥ 2f + 3
//! (Krum's requirement), else [`crate::Error::OutsideHypotheses`]. Kind exact; status
//! verified against the authors' official code (`calicarpa/krum`, `aggregators/krum.py`,
//! `upper_bound(n, f, d)` returns 1/η(n, f) as the ratio σ_total/‖g‖, and `check` requires
//! n ≥ 2f + 3). Bulyan's condition uses the same formula ([`bulyan_eta`]).
//!
//! Proof sketch: `proofs/blanchard2017machine.md`.
//!
//! # References
//! P. Blanchard, E. M. El Mhamdi, R. Guerraoui, J. Stainer, "Machine Learning with
//! Adversaries: Byzantine Tolerant Gradient Descent", NeurIPS 2017.

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// B8.
pub struct B8;

/// η(n, f), `None` unless n ≥ 2f + 3.
pub fn krum_eta(n: usize, f: usize) -> Option<f64> {
    if n < 2 * f + 3 {
        return None;
    }
    let (n, f) = (n as f64, f as f64);
    Some((2.0 * (n - f + f * (n + f * (n - f - 2.0) - 2.0) / (n - 2.0 * f - 2.0))).sqrt())
}

/// Bulyan's η(n, f): the same formula in the official code; `None` unless n ≥ 4f + 3.
pub fn bulyan_eta(n: usize, f: usize) -> Option<f64> {
    if n < 4 * f + 3 {
        return None;
    }
    krum_eta(n, f)
}

static INFO: Info = Info {
    id: "B8",
    key: "blanchard2017machine",
    name: "Krum resilience condition",
    family: Family::Byzantine,
    kind: Kind::Exact,
    status: Status::Verified,
    statement: "Krum is (alpha, f)-Byzantine resilient only when ||g|| > eta(n,f)*sqrt(d)*sigma, eta(n,f) = sqrt(2(n-f+f(n+f(n-f-2)-2)/(n-2f-2)))",
    upper: None,
    hypotheses: &[
        Hypothesis { name: "n >= 2f+3", statement: "Krum's requirement on the number of workers" },
        Hypothesis { name: "iid honest gradients", statement: "unbiased honest gradients with per-coordinate variance sigma^2" },
    ],
    params: &[
        ParamSpec::req("n", "workers"),
        ParamSpec::req("f", "Byzantine workers"),
        ParamSpec::opt("d", "dimension", 1.0),
        ParamSpec::opt("sigma", "per-coordinate standard deviation of honest gradients", 1.0),
    ],
    citation: Citation {
        authors: "P. Blanchard, E. M. El Mhamdi, R. Guerraoui, J. Stainer",
        title: "Machine Learning with Adversaries: Byzantine Tolerant Gradient Descent",
        venue: "NeurIPS 2017",
        year: 2017,
        arxiv: None,
        doi: None,
    },
    grows_with: &["f", "d", "sigma"],
    shrinks_with: &[],
    example: &[("n", 50.0), ("f", 10.0), ("d", 1.0), ("sigma", 1.0)],
};

impl Bound for B8 {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let n = a.count_pos("n")?;
        let f = a.count("f")?;
        let d = a.count_pos("d")?;
        let sigma = a.positive("sigma")?;
        let eta = krum_eta(n, f)
            .ok_or_else(|| a.outside("n >= 2f+3", format!("n = {n} < 2f + 3 = {}", 2 * f + 3)))?;
        Ok(BoundValue::finite(eta * (d as f64).sqrt() * sigma))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // Reference: eta(10,2) = 6.0 (by hand: 2·(8 + 2·20/4) = 36), eta(20,4) = 9.55,
        // eta(50,10) = 19.64, eta(100,20) = 36.10.
        assert!((krum_eta(10, 2).unwrap() - 6.0).abs() < 1e-14);
        for (n, f, e) in [(20, 4, 9.55), (50, 10, 19.64), (100, 20, 36.10)] {
            assert!((krum_eta(n, f).unwrap() - e).abs() < 5e-3, "{n} {f}");
        }
        assert!(krum_eta(6, 2).is_none());
        assert!(bulyan_eta(10, 2).is_none() && bulyan_eta(11, 2).is_some());
        let e = B8
            .eval(&crate::params::Params::new().with("n", 6.0).with("f", 2.0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("n >= 2f+3"), "{e}");
    }
}
