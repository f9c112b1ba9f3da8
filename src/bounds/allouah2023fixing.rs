//! B1 — (f, κ)-robustness: no aggregation rule beats κ = f/(n − 2f).
//!
//! A rule F is (f, κ)-robust if for every input x₁…xₙ and every set S of n − f indices,
//! ‖F(x) − x̄_S‖² ≤ κ · (1/|S|) Σ_{i∈S} ‖xᵢ − x̄_S‖². Every rule has κ ≥ f/(n − 2f): take
//! n − 2f zeros, f copies of +u and f copies of −u; either ±u group may be the Byzantine one,
//! and adding the two constraints gives κ ≥ p/(1 − p) with p = f/(n − f). The coordinate-wise
//! median outputs 0 on this instance and attains the bound there.
//!
//! Hypotheses: 0 ≤ 2f < n (at 2f ≥ n no finite κ exists).
//!
//! Catalogue entry [`B1`]: parameters `n`, `f`; value f/(n − 2f), upper bound 4f/(n − 2f)
//! (the minimum-variance-subset average, MVA, derived here). For 2f ≥ n the value is
//! [`super::Value::Infinite`]. The published κ table ([`kappa_published`]) is status
//! "to verify" (constants not re-checked against the paper's text) and is never used as a
//! hard test threshold for a new claim here.
//!
//! Proof sketch: `proofs/allouah2023fixing.md`.
//!
//! # References
//! Y. Allouah, S. Farhadkhani, R. Guerraoui, N. Gupta, R. Pinot, J. Stephan, "Fixing by
//! Mixing: A Recipe for Optimal Byzantine ML under Heterogeneity", AISTATS 2023, PMLR
//! 206:1232–1300, arXiv 2302.01772.

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::{Error, Result};

/// The smallest κ any (f, κ)-robust rule can have: f/(n − 2f).
///
/// # Errors
/// [`Error::InvalidParameter`] for n = 0; [`Error::OutsideHypotheses`] when 2f ≥ n.
pub fn kappa_lower_bound(n: usize, f: usize) -> Result<f64> {
    if n == 0 {
        return Err(Error::invalid("n", 0, "need at least one input"));
    }
    if 2 * f >= n {
        return Err(Error::OutsideHypotheses {
            bound: "B1 (allouah2023fixing)".into(),
            reason: format!(
                "f = {f} with n = {n}: needs 2f < n; no rule is (f, κ)-robust for any finite κ"
            ),
        });
    }
    Ok(f as f64 / (n - 2 * f) as f64)
}

/// κ of the minimum-variance-subset average (average of the n − f inputs of smallest
/// variance): 4f/(n − 2f). Derived here (`proofs/allouah2023fixing.md`), not quoted.
///
/// # Errors
/// As [`kappa_lower_bound`].
pub fn kappa_mva(n: usize, f: usize) -> Result<f64> {
    Ok(4.0 * kappa_lower_bound(n, f)?)
}

/// The published κ upper bounds (Fixing by Mixing, Table 1, as restated in the project's
/// bound reference; status "to verify"): with r = f/(n − 2f), trimmed mean 6r(1 + r), Krum
/// 6(1 + r), geometric and coordinate-wise median 4(1 + r)². `None` for other rules or 2f ≥ n.
pub fn kappa_published(rule: &str, n: usize, f: usize) -> Option<f64> {
    let r = kappa_lower_bound(n, f).ok()?;
    match rule {
        "trmean" => Some(6.0 * r * (1.0 + r)),
        "krum" => Some(6.0 * (1.0 + r)),
        "geometric_median" | "median" => Some(4.0 * (1.0 + r).powi(2)),
        _ => None,
    }
}

/// NNM's published composition (status "to verify"): NNM∘F is (f, 8f/(n − f)·(κ_F + 1))-robust.
pub fn kappa_nnm(kappa_inner: f64, n: usize, f: usize) -> f64 {
    8.0 * f as f64 / (n - f) as f64 * (kappa_inner + 1.0)
}

/// B1 in the catalogue.
pub struct B1;

static INFO: Info = Info {
    id: "B1",
    key: "allouah2023fixing",
    name: "(f, kappa)-robustness lower bound",
    family: Family::Byzantine,
    kind: Kind::Exact,
    // Tight on its own instance: the coordinate-wise median outputs 0 there and its kappa_hat
    // equals f/(n - 2f) (`median_attains_b1_on_its_instance`, tests/bounds_properties.rs).
    tight: true,
    status: Status::DerivedHere,
    statement: "every (f, kappa)-robust aggregation rule has kappa >= f/(n - 2f)",
    upper: Some("on its three-cluster instance the coordinate-wise median attains f/(n-2f) exactly; for every input, the minimum-variance-subset average has kappa <= 4f/(n-2f) (derived here); NNM-composed rules O(f/n) (published, to verify)"),
    hypotheses: &[Hypothesis {
        name: "2f < n",
        statement: "an honest majority; at 2f >= n no finite kappa exists (value +inf)",
    }],
    params: &[
        ParamSpec::req("n", "number of inputs (workers)"),
        ParamSpec::req("f", "number of Byzantine inputs"),
    ],
    citation: Citation {
        authors: "Y. Allouah, S. Farhadkhani, R. Guerraoui, N. Gupta, R. Pinot, J. Stephan",
        title: "Fixing by Mixing: A Recipe for Optimal Byzantine ML under Heterogeneity",
        venue: "AISTATS 2023, PMLR 206:1232-1300",
        year: 2023,
        arxiv: Some("2302.01772"),
        doi: None,
    },
    grows_with: &["f"],
    shrinks_with: &["n"],
    example: &[("n", 50.0), ("f", 10.0)],
};

impl Bound for B1 {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let n = a.count_pos("n")?;
        let f = a.count("f")?;
        if 2 * f >= n {
            return Ok(BoundValue::infinite(format!(
                "2f = {} >= n = {n}: no rule is (f, kappa)-robust for a finite kappa",
                2 * f
            )));
        }
        Ok(BoundValue::finite(kappa_lower_bound(n, f)?).with_upper(kappa_mva(n, f)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // By hand: 10/(50 − 20) = 1/3; 0/(n) = 0; 2/(10 − 4) = 1/3; 4/(9 − 8) = 4.
        assert_eq!(kappa_lower_bound(50, 10).unwrap(), 1.0 / 3.0);
        assert_eq!(kappa_lower_bound(7, 0).unwrap(), 0.0);
        assert_eq!(kappa_lower_bound(10, 2).unwrap(), 1.0 / 3.0);
        assert_eq!(kappa_lower_bound(9, 4).unwrap(), 4.0);
        assert!(kappa_lower_bound(10, 5).is_err());
        assert!(kappa_lower_bound(0, 0).is_err());
        // Catalogue: the known answer n = 50, f = 10 → 1/3, upper 4/3.
        let p = crate::params::Params::new().with("n", 50.0).with("f", 10.0);
        let v = B1.eval(&p).unwrap();
        assert_eq!(v.as_f64(), Some(1.0 / 3.0));
        assert_eq!(v.upper, Some(4.0 / 3.0));
        let p = crate::params::Params::new().with("n", 10.0).with("f", 5.0);
        assert!(B1.eval(&p).unwrap().as_f64().is_none());
        // Table at n = 10, f = 2 (r = 1/3): trmean 6·(1/3)·(4/3) = 8/3; krum 8; median 64/9.
        assert!((kappa_published("trmean", 10, 2).unwrap() - 8.0 / 3.0).abs() < 1e-15);
        assert!((kappa_published("krum", 10, 2).unwrap() - 8.0).abs() < 1e-15);
        assert!((kappa_published("median", 10, 2).unwrap() - 64.0 / 9.0).abs() < 1e-14);
        assert!(kappa_published("average", 10, 2).is_none());
        // NNM: 8·2/8·(8/3 + 1) = 22/3.
        assert!((kappa_nnm(8.0 / 3.0, 10, 2) - 22.0 / 3.0).abs() < 1e-14);
    }
}
