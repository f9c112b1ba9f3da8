//! P3 — person-level DP: people holding m samples each from a d-dimensional law with bounded
//! k-th moments; ℓ2 accuracy α under approximate DP needs (and suffices with)
//!
//!   n = Θ̃( d/(α²m) + d/(α·√m·ε) + d/(α^{k/(k−1)}·m·ε) + d/ε )  people.
//!
//! Catalogue entry [`P3`]: parameters `d`, `m`, `k` > 1, `eps`, `alpha`; value the number of
//! people above (constants and logs dropped). **Order only**; status verified against the
//! paper's abstract (arXiv 2405.20405, which states exactly this Θ̃ form); post-survey result.
//!
//! Proof sketch: `proofs/agarwal2024private.md`.
//!
//! # References
//! S. Agarwal, G. Kamath, M. Majid, A. Mouzakis, R. Silver, J. Ullman, "Private Mean
//! Estimation with Person-Level Differential Privacy", 2024, arXiv 2405.20405.

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// P3 (order).
pub struct P3;

static INFO: Info = Info {
    id: "P3",
    key: "agarwal2024private",
    name: "person-level DP sample complexity",
    family: Family::Privacy,
    kind: Kind::Order,
    tight: false,
    status: Status::Verified,
    statement: "people needed: of order d/(alpha^2 m) + d/(alpha sqrt(m) eps) + d/(alpha^(k/(k-1)) m eps) + d/eps, up to logs",
    upper: Some("clip-and-noise: same order up to logs"),
    hypotheses: &[
        Hypothesis { name: "bounded k-th moment", statement: "each sample from a d-dimensional law with bounded k-th moments" },
        Hypothesis { name: "k > 1", statement: "a moment of order above 1" },
        Hypothesis { name: "person-level DP", statement: "(eps, delta)-DP with respect to one person's m samples" },
    ],
    params: &[
        ParamSpec::req("d", "dimension"),
        ParamSpec::req("m", "samples per person"),
        ParamSpec::req("k", "moment order, > 1"),
        ParamSpec::req("eps", "privacy parameter epsilon"),
        ParamSpec::req("alpha", "target l2 accuracy"),
    ],
    citation: Citation {
        authors: "S. Agarwal, G. Kamath, M. Majid, A. Mouzakis, R. Silver, J. Ullman",
        title: "Private Mean Estimation with Person-Level Differential Privacy",
        venue: "arXiv preprint",
        year: 2024,
        arxiv: Some("2405.20405"),
        doi: None,
    },
    grows_with: &["d"],
    shrinks_with: &["m", "eps", "alpha"],
    example: &[("d", 10.0), ("m", 10.0), ("k", 2.0), ("eps", 1.0), ("alpha", 0.1)],
};

impl Bound for P3 {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let d = a.count_pos("d")? as f64;
        let m = a.count_pos("m")? as f64;
        let k = a.positive("k")?;
        let eps = a.positive("eps")?;
        let alpha = a.positive("alpha")?;
        if k <= 1.0 {
            return Err(a.outside("k > 1", format!("k = {k}")));
        }
        let v = d / (alpha * alpha * m)
            + d / (alpha * m.sqrt() * eps)
            + d / (alpha.powf(k / (k - 1.0)) * m * eps)
            + d / eps;
        Ok(BoundValue::finite(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // d = 10, m = 10, k = 2, eps = 1, alpha = 0.1: 10/0.1 + 10/(0.1·sqrt 10) + 10/(0.01·10)
        // + 10 = 100 + 31.6227766 + 100 + 10 = 241.6227766.
        let v = P3.eval(&INFO.example_params()).unwrap().as_f64().unwrap();
        assert!((v - (210.0 + 100.0 / 10f64.sqrt())).abs() < 1e-9, "{v}");
    }
}
