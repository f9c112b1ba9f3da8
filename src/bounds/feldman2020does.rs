//! M1 — Feldman's long tail: when data are a mixture of subpopulations with long-tailed
//! frequencies, a learner that does not memorize the labels of points seen once pays for it.
//!
//! Computable version (derived here, kind exact): N subpopulations with frequencies π_x
//! (Zipf: π_x ∝ x^{−s}), labels noise-free, uniform over c classes, independent across
//! subpopulations; n samples. A learner at chance on subpopulations seen exactly once has
//! excess error over the memorizing lookup table of at least
//!
//!   (1 − 1/c)·mass₁(π, n),   mass₁(π, n) = Σ_x n·π_x²·(1 − π_x)^{n−1}.
//!
//! Catalogue entry [`M1`]: parameters `N`, `s` (default 1), `n`, `c` (default 10). The
//! theorem's general form err ≥ opt + τ₁·E[errn_S(A, 1)] is status to verify; only the
//! computable version is used in tests. (1 − π)^{n−1} is computed as exp((n−1)·ln(1 − π)),
//! stable for tiny π.
//!
//! Proof sketch: `proofs/feldman2020does.md`.
//!
//! # References
//! V. Feldman, "Does Learning Require Memorization? A Short Tale about a Long Tail", STOC
//! 2020, arXiv 1906.05271.

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// M1.
pub struct M1;

/// Zipf frequencies π_x ∝ x^{−s} on x = 1..=N.
pub fn zipf(big_n: usize, s: f64) -> Vec<f64> {
    let w: Vec<f64> = (1..=big_n).map(|x| (x as f64).powf(-s)).collect();
    let z: f64 = w.iter().sum();
    w.into_iter().map(|v| v / z).collect()
}

/// mass₁(π, n) = Σ_x n·π_x²·(1 − π_x)^{n−1}: the expected probability mass of subpopulations
/// seen exactly once in n draws.
pub fn singleton_mass(freqs: &[f64], n: usize) -> f64 {
    let nf = n as f64;
    freqs
        .iter()
        .map(|&p| {
            if p >= 1.0 {
                // (1 − 1)^(n−1): 1 for n = 1, else 0 (avoid 0·(−∞)).
                return if n == 1 { 1.0 } else { 0.0 };
            }
            nf * p * p * ((nf - 1.0) * (-p).ln_1p()).exp()
        })
        .sum()
}

static INFO: Info = Info {
    id: "M1",
    key: "feldman2020does",
    name: "long-tail cost of not memorizing",
    family: Family::Memorization,
    kind: Kind::Exact,
    tight: false,
    status: Status::DerivedHere,
    statement: "a learner at chance on subpopulations seen once has excess error >= (1-1/c) sum_x n pi_x^2 (1-pi_x)^(n-1) over the memorizing learner (Zipf(s) frequencies on N subpopulations)",
    upper: Some("the memorizing lookup table attains opt"),
    hypotheses: &[
        Hypothesis { name: "subpopulation mixture", statement: "N subpopulations with known frequencies, noise-free labels uniform over c classes, independent across subpopulations" },
        Hypothesis { name: "c >= 2", statement: "at least two classes" },
    ],
    params: &[
        ParamSpec::req("N", "number of subpopulations"),
        ParamSpec::opt("s", "Zipf exponent of the frequencies", 1.0),
        ParamSpec::req("n", "sample size"),
        ParamSpec::opt("c", "number of classes", 10.0),
    ],
    citation: Citation {
        authors: "V. Feldman",
        title: "Does Learning Require Memorization? A Short Tale about a Long Tail",
        venue: "STOC 2020",
        year: 2020,
        arxiv: Some("1906.05271"),
        doi: Some("10.1145/3357713.3384290"),
    },
    grows_with: &["c"],
    shrinks_with: &[],
    example: &[("N", 5000.0), ("s", 1.0), ("n", 1000.0), ("c", 10.0)],
};

impl Bound for M1 {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let big_n = a.count_pos("N")?;
        let s = a.non_negative("s")?;
        let n = a.count_pos("n")?;
        let c = a.count("c")?;
        if c < 2 {
            return Err(a.outside("c >= 2", format!("c = {c}")));
        }
        if big_n > 10_000_000 {
            return Err(crate::Error::invalid(
                "N",
                big_n,
                "at most 1e7 subpopulations",
            ));
        }
        let m1 = singleton_mass(&zipf(big_n, s), n);
        Ok(BoundValue::finite((1.0 - 1.0 / c as f64) * m1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // Reference: Zipf(1), N = 5000, n = 1000: mass_1 = 0.108 (3 digits).
        let m = singleton_mass(&zipf(5000, 1.0), 1000);
        assert!((m - 0.108).abs() < 5e-4, "{m}");
        let v = M1.eval(&INFO.example_params()).unwrap().as_f64().unwrap();
        assert!((v - 0.9 * m).abs() < 1e-15);
        // One subpopulation: mass_1 = n·1·0^(n−1) = 0 for n > 1, and 1 for n = 1.
        assert_eq!(singleton_mass(&[1.0], 5), 0.0);
        assert_eq!(singleton_mass(&[1.0], 1), 1.0);
    }
}
