//! B8 — Krum's resilience condition. Blanchard et al.'s Proposition 1: if the honest
//! gradients are i.i.d. with mean g and E‖G − g‖² = d·σ², 2f + 2 < n, and
//!
//!   η(n, f)·√d·σ < ‖g‖,   η(n, f) = √(2·(n − f + f·(n + f·(n − f − 2) − 2)/(n − 2f − 2))),
//!
//! then Krum is (α, f)-Byzantine resilient with sin α = η(n, f)·√d·σ/‖g‖. The inequality is a
//! *sufficient* condition of a guarantee: it is not shown necessary, and it bounds no error.
//! So the entry is [`Kind::Condition`], not a lower bound: it is kept out of lower-bound
//! lists and figure overlays. (Earlier versions of this catalogue read it as "resilient only
//! when", reversing the proposition.)
//!
//! Catalogue entry [`B8`]: parameters `n`, `f`, `d`, `sigma`; value η(n,f)·√d·σ, the gradient
//! norm above which Krum's guarantee applies. Hypothesis n ≥ 2f + 3 (Krum's requirement),
//! else [`crate::Error::OutsideHypotheses`]. Status verified against the authors' official
//! code (`calicarpa/krum`, `aggregators/krum.py`, `upper_bound(n, f, d)` returns 1/η(n, f)
//! as the ratio σ_total/‖g‖, and `check` requires n ≥ 2f + 3). Bulyan's condition uses the
//! same formula ([`bulyan_eta`]).
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
    name: "Krum resilience condition (sufficient, not a lower bound)",
    family: Family::Byzantine,
    kind: Kind::Condition,
    tight: false,
    status: Status::Verified,
    statement: "sufficient condition (Proposition 1): if ||g|| > eta(n,f)*sqrt(d)*sigma, Krum is (alpha, f)-Byzantine resilient with sin(alpha) = eta(n,f)*sqrt(d)*sigma/||g||; eta(n,f) = sqrt(2(n-f+f(n+f(n-f-2)-2)/(n-2f-2))). The value is the threshold gradient norm; it bounds no error",
    upper: None,
    hypotheses: &[
        Hypothesis { name: "n >= 2f+3", statement: "Krum's requirement on the number of workers" },
        Hypothesis { name: "iid honest gradients", statement: "i.i.d. honest gradients with mean g and E||G - g||^2 = d sigma^2" },
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
