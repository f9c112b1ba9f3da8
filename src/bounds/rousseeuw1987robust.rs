//! R5 — breakdown point 1/2: at η ≥ 1/2 no estimator has bounded worst-case error, and a
//! translation-equivariant estimator of location has finite-sample breakdown point at most
//! ⌊(n−1)/2⌋/n.
//!
//! Catalogue entry [`R5`]: parameter `n`; value ⌊(n−1)/2⌋/n, the largest fraction of
//! replaced points any translation-equivariant estimator survives (attained by the median).
//! Kind exact; status "to verify" (classical, stated from the literature; the η ≥ 1/2 part
//! is derived here: ½N(0,σ²) + ½N(Δ,σ²) contaminates both N(0,σ²) and N(Δ,σ²) for every Δ).
//!
//! Proof sketch: `proofs/rousseeuw1987robust.md`.
//!
//! # References
//! P. J. Rousseeuw, A. M. Leroy, "Robust Regression and Outlier Detection", Wiley, 1987,
//! doi 10.1002/0471725382.

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// R5.
pub struct R5;

static INFO: Info = Info {
    id: "R5",
    key: "rousseeuw1987robust",
    name: "breakdown point of location estimators",
    family: Family::RobustStatistics,
    kind: Kind::Exact,
    tight: false,
    status: Status::ToVerify,
    statement: "a translation-equivariant location estimator breaks down (unbounded error) once more than floor((n-1)/2) of n points are replaced; at eta >= 1/2 every estimator does",
    upper: Some("the coordinate-wise and geometric medians attain breakdown floor((n-1)/2)/n"),
    hypotheses: &[Hypothesis {
        name: "translation equivariance",
        statement: "T(x + c) = T(x) + c (the eta >= 1/2 part needs no hypothesis)",
    }],
    params: &[ParamSpec::req("n", "sample size, >= 1")],
    citation: Citation {
        authors: "P. J. Rousseeuw, A. M. Leroy",
        title: "Robust Regression and Outlier Detection",
        venue: "Wiley",
        year: 1987,
        arxiv: None,
        doi: Some("10.1002/0471725382"),
    },
    grows_with: &[],
    shrinks_with: &[],
    example: &[("n", 11.0)],
};

impl Bound for R5 {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let n = a.count_pos("n")?;
        let b = ((n - 1) / 2) as f64 / n as f64;
        Ok(BoundValue::finite(b).with_upper(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Params;

    #[test]
    fn known_answers() {
        // n = 11: 5/11; n = 10: 4/10; n = 1: 0; tends to 1/2.
        let v = |n: f64| {
            R5.eval(&Params::new().with("n", n))
                .unwrap()
                .as_f64()
                .unwrap()
        };
        assert_eq!(v(11.0), 5.0 / 11.0);
        assert_eq!(v(10.0), 0.4);
        assert_eq!(v(1.0), 0.0);
        assert!((v(1e6 + 1.0) - 0.5).abs() < 1e-6);
    }
}
