//! M4 — DP learners on rare subpopulations (derived here, num-checked).
//!
//! Accuracy cap: a subpopulation seen ℓ times, its label uniform over c classes; changing the
//! label changes ℓ records, so any (ε,δ)-DP learner has, with ε_ℓ = ℓε and
//! δ_ℓ = ℓ·e^{(ℓ−1)ε}·δ,
//!
//!   Pr(correct) ≤ (e^{ε_ℓ} + (c − 1)·δ_ℓ)/(e^{ε_ℓ} + c − 1)   (capped at 1).
//!
//! For ℓ = 1 and δ = 0 randomized response on the label attains it (Warner's mechanism).
//!
//! Excess error over the memorizer (pure DP), Zipf(s) frequencies on N subpopulations, n
//! samples:
//!
//!   DP_excess ≥ Σ_x π_x · Σ_{ℓ≥1} Binom(n, π_x)(ℓ) · (c − 1)/(e^{ℓε} + c − 1).
//!
//! Catalogue entries [`M4`] (parameters `ell`, `eps`, `delta` (default 0), `c` (default 10);
//! value the accuracy cap, upper = value for ℓ = 1, δ = 0) and [`M4Excess`] (parameters `N`,
//! `s`, `n`, `eps`, `c`). Kind exact, status derived here. The binomial sum runs in a stable
//! recursion from Binom(n,π)(0) = exp(n·ln(1 − π)) and stops once the terms are negligible
//! (below 1e-17 of the running sum past the mode).
//!
//! Proof sketch: `proofs/warner1965randomized.md`.
//!
//! # References
//! S. L. Warner, "Randomized Response: A Survey Technique for Eliminating Evasive Answer
//! Bias", Journal of the American Statistical Association 60(309):63–69, 1965,
//! doi 10.1080/01621459.1965.10480775; V. Feldman, STOC 2020, arXiv 1906.05271 (the
//! disparate effect of privacy on rare subpopulations).

use super::feldman2020does::zipf;
use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// M4: the accuracy cap.
pub struct M4;
/// M4: the excess-error lower bound on a Zipf long tail.
pub struct M4Excess;

/// (e^{ℓε} + (c−1)δ_ℓ)/(e^{ℓε} + c − 1), capped at 1 (unchecked inputs, c ≥ 1).
pub fn dp_label_acc_cap(ell: u32, eps: f64, delta: f64, classes: u32) -> f64 {
    let l = f64::from(ell);
    let c1 = f64::from(classes) - 1.0;
    let e = (l * eps).exp();
    if !e.is_finite() {
        return 1.0;
    }
    let dl = l * ((l - 1.0) * eps).exp() * delta;
    ((e + c1 * dl) / (e + c1)).min(1.0)
}

/// Σ_x π_x Σ_{ℓ≥1} Binom(n, π_x)(ℓ)·(c − 1)/(e^{ℓε} + c − 1) (pure DP).
pub fn dp_excess_error_lb(freqs: &[f64], n: usize, eps: f64, classes: u32) -> f64 {
    let c1 = f64::from(classes) - 1.0;
    let nf = n as f64;
    let mut total = 0.0;
    for &p in freqs {
        if p <= 0.0 {
            continue;
        }
        if p >= 1.0 {
            // Seen n times for sure.
            total += c1 / ((nf * eps).exp() + c1);
            continue;
        }
        let ratio = p / (1.0 - p);
        let mut pmf = (nf * (-p).ln_1p()).exp(); // ℓ = 0
        let mut inner = 0.0;
        let mode = (nf * p).ceil();
        for l in 1..=n {
            let lf = l as f64;
            pmf *= (nf - lf + 1.0) / lf * ratio;
            let term = pmf * c1 / ((lf * eps).exp() + c1);
            inner += term;
            if lf > mode && term <= 1e-17 * inner.max(1e-300) {
                break;
            }
        }
        total += p * inner;
    }
    total
}

const CITATION: Citation = Citation {
    authors: "S. L. Warner",
    title: "Randomized Response: A Survey Technique for Eliminating Evasive Answer Bias",
    venue: "Journal of the American Statistical Association 60(309):63-69",
    year: 1965,
    arxiv: None,
    doi: Some("10.1080/01621459.1965.10480775"),
};

static INFO: Info = Info {
    id: "M4",
    key: "warner1965randomized",
    name: "DP accuracy cap on a subpopulation seen ell times",
    family: Family::Memorization,
    kind: Kind::Exact,
    tight: false,
    status: Status::DerivedHere,
    statement: "any (eps, delta)-DP learner predicts the label of a subpopulation seen ell times correctly with probability <= (e^(ell eps) + (c-1) delta_ell)/(e^(ell eps) + c - 1)",
    upper: Some("randomized response on the label attains it for ell = 1, delta = 0"),
    hypotheses: &[
        Hypothesis { name: "(eps, delta)-DP", statement: "the learner is DP for one-record changes (group privacy over ell records)" },
        Hypothesis { name: "uniform labels", statement: "the subpopulation's label is uniform over c >= 2 classes" },
    ],
    params: &[
        ParamSpec::opt("ell", "times the subpopulation appears in the sample", 1.0),
        ParamSpec::req("eps", "privacy parameter epsilon"),
        ParamSpec::opt("delta", "privacy parameter delta", 0.0),
        ParamSpec::opt("c", "number of classes", 10.0),
    ],
    citation: CITATION,
    grows_with: &["ell", "eps", "delta"],
    shrinks_with: &["c"],
    example: &[("ell", 1.0), ("eps", 1.0), ("delta", 0.0), ("c", 10.0)],
};

static INFO_X: Info = Info {
    id: "M4-excess",
    key: "warner1965randomized",
    name: "DP excess error on a long tail",
    family: Family::Memorization,
    kind: Kind::Exact,
    tight: false,
    status: Status::DerivedHere,
    statement: "any eps-DP learner has excess error over the memorizer >= sum_x pi_x sum_{l>=1} Binom(n, pi_x)(l) (c-1)/(e^(l eps) + c - 1), Zipf(s) on N subpopulations",
    upper: None,
    hypotheses: &[
        Hypothesis { name: "eps-DP", statement: "pure DP learner" },
        Hypothesis { name: "subpopulation mixture", statement: "known Zipf frequencies, labels uniform over c >= 2 classes, independent" },
    ],
    params: &[
        ParamSpec::req("N", "number of subpopulations"),
        ParamSpec::opt("s", "Zipf exponent", 1.0),
        ParamSpec::req("n", "sample size"),
        ParamSpec::req("eps", "privacy parameter epsilon"),
        ParamSpec::opt("c", "number of classes", 10.0),
    ],
    citation: CITATION,
    grows_with: &["c"],
    shrinks_with: &["eps"],
    example: &[("N", 5000.0), ("s", 1.0), ("n", 1000.0), ("eps", 1.0), ("c", 10.0)],
};

fn classes(a: &Args<'_>) -> Result<u32> {
    let c = a.count("c")?;
    if c < 2 {
        return Err(a.outside("uniform labels", format!("c = {c} < 2 classes")));
    }
    u32::try_from(c).map_err(|_| crate::Error::invalid("c", c, "too large"))
}

impl Bound for M4 {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let ell = a.count_pos("ell")?;
        let ell = u32::try_from(ell).map_err(|_| crate::Error::invalid("ell", ell, "too large"))?;
        let eps = a.non_negative("eps")?;
        let delta = a.fraction("delta")?;
        let c = classes(a)?;
        let v = dp_label_acc_cap(ell, eps, delta, c);
        let out = BoundValue::finite(v);
        Ok(if ell == 1 && delta == 0.0 {
            out.with_upper(v)
        } else {
            out
        })
    }
}

impl Bound for M4Excess {
    fn info(&self) -> &'static Info {
        &INFO_X
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let big_n = a.count_pos("N")?;
        let s = a.non_negative("s")?;
        let n = a.count_pos("n")?;
        let eps = a.non_negative("eps")?;
        let c = classes(a)?;
        if big_n > 1_000_000 || n > 10_000_000 {
            return Err(crate::Error::invalid(
                "N",
                big_n,
                "at most 1e6 subpopulations and 1e7 samples",
            ));
        }
        Ok(BoundValue::finite(dp_excess_error_lb(
            &zipf(big_n, s),
            n,
            eps,
            c,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // Reference: ell = 1, eps = 1, c = 10, delta = 0: e/(e + 9) = 0.2320.
        let v = M4.eval(&INFO.example_params()).unwrap();
        let e = std::f64::consts::E;
        assert!((v.as_f64().unwrap() - e / (e + 9.0)).abs() < 1e-15);
        assert_eq!(v.upper, v.as_f64());
        // eps = 0: chance, 1/c.
        assert!((dp_label_acc_cap(3, 0.0, 0.0, 4) - 0.25).abs() < 1e-15);
        // Reference table (Zipf 1, N = 5000, n = 1000, c = 10), 3 significant digits.
        let z = zipf(5000, 1.0);
        for (eps, want, tol) in [
            (0.1, 0.353, 1e-3),
            (0.5, 0.196, 1e-3),
            (1.0, 0.130, 1e-3),
            (2.0, 0.068, 1e-3),
            (4.0, 0.015, 1e-3),
            (8.0, 0.0003, 1e-4),
        ] {
            let got = dp_excess_error_lb(&z, 1000, eps, 10);
            assert!((got - want).abs() < tol, "eps {eps}: {got} vs {want}");
        }
    }
}
