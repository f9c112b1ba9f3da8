//! Feldman–Zhang memorization and influence estimates from a keep matrix of trained models.
//!
//! **Memorization** of training record i by a learner A on a data set S (Feldman, "Does
//! Learning Require Memorization? A Short Tale about a Long Tail", STOC 2020, arXiv
//! 1906.05271, Def. 1.1; estimated on random subsets by Feldman & Zhang, "What Neural
//! Networks Memorize and Why: Discovering the Long Tail via Influence Estimation", NeurIPS
//! 2020, arXiv 2008.03703, Eq. (1)–(3)):
//!
//!   mem(A, S, i) = P_{h←A(S)}[h(x_i) = y_i] − P_{h←A(S∖i)}[h(x_i) = y_i],
//!
//! and the **influence** of training record i on a test record (x′, y′) is the same
//! difference read on the test record:
//!
//!   infl(A, S, i, x′) = P_{h←A(S)}[h(x′) = y′] − P_{h←A(S∖i)}[h(x′) = y′].
//!
//! Feldman & Zhang estimate both at once from t models, each trained on a random subset of S:
//! for every record the models split into those whose subset held it (IN) and the others
//! (OUT), and the estimate is the difference of the two fractions correct,
//!
//!   mem̂_i = k_in/n_in − k_out/n_out.
//!
//! LiRA's balanced keep matrix ([`super::mia::keep`]) is such a design: each record is IN in
//! exactly M/2 models, and the columns are drawn independently, so the rest of a model's
//! subset has the same distribution whether record i is IN or OUT — the estimate is unbiased
//! for mem at subsets of about half the data (the "m = 0.5·n" of Feldman & Zhang, who used
//! m = 0.7·n).
//!
//! **Confidence interval, per record:** the two fractions come from disjoint sets of models,
//! so the interval is the one for a difference of independent proportions: Newcombe's
//! hybrid score interval (Newcombe, "Interval estimation for the difference between
//! independent proportions: comparison of eleven methods", Statistics in Medicine 17:873–890,
//! 1998, method 10). With Wilson score intervals (l₁, u₁) for p̂_in and (l₂, u₂) for p̂_out,
//!
//!   lower = d̂ − √((p̂_in − l₁)² + (u₂ − p̂_out)²),  upper = d̂ + √((u₁ − p̂_in)² + (p̂_out − l₂)²),
//!
//! d̂ = p̂_in − p̂_out. Unlike the Wald interval it stays inside [−1, 1] and keeps its width
//! when a fraction is 0 or 1 — the common case here (a head record is classified correctly
//! by every model). The interval covers the models' randomness for the fixed data set S
//! (training noise and the random subsets), not the draw of S. Aggregates over a
//! subpopulation are left to the caller (a mean over its records with a t interval).

use super::mia::keep::KeepMatrix;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// z of a two-sided 95 % interval: Φ⁻¹(0.975).
pub const Z95: f64 = 1.959_963_984_540_054;

/// A difference of two fractions correct (IN models minus OUT models) with its interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// The estimate p̂_in − p̂_out.
    pub value: f64,
    /// Lower end of Newcombe's interval.
    pub lower: f64,
    /// Upper end of Newcombe's interval.
    pub upper: f64,
    /// Fraction correct among the IN models.
    pub p_in: f64,
    /// Fraction correct among the OUT models.
    pub p_out: f64,
    /// Number of IN models.
    pub n_in: usize,
    /// Number of OUT models.
    pub n_out: usize,
}

/// Wilson's score interval for k successes in n ≥ 1 trials at normal quantile z (Wilson,
/// "Probable inference, the law of succession, and statistical inference", JASA 22, 1927):
/// (p̂ + z²/2n ± z·√(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n).
pub fn wilson(k: usize, n: usize, z: f64) -> (f64, f64) {
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = z * z;
    let d = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / d;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / d;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The difference of the fractions k_in/n_in − k_out/n_out with Newcombe's hybrid score
/// interval at normal quantile z (see the [module docs](self)).
///
/// # Errors
/// An empty side, or more successes than trials.
pub fn difference(
    k_in: usize,
    n_in: usize,
    k_out: usize,
    n_out: usize,
    z: f64,
) -> Result<Difference> {
    if n_in == 0 || n_out == 0 || k_in > n_in || k_out > n_out {
        return Err(Error::invalid(
            "IN/OUT counts",
            format!("{k_in}/{n_in} vs {k_out}/{n_out}"),
            "each side needs at least one model, and no more correct than models",
        ));
    }
    let (p1, p2) = (k_in as f64 / n_in as f64, k_out as f64 / n_out as f64);
    let (l1, u1) = wilson(k_in, n_in, z);
    let (l2, u2) = wilson(k_out, n_out, z);
    let d = p1 - p2;
    Ok(Difference {
        value: d,
        lower: d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt(),
        upper: d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt(),
        p_in: p1,
        p_out: p2,
        n_in,
        n_out,
    })
}

/// Splits the models by whether they trained on record `record` and counts, on each side,
/// how many have `correct(model)`; returns the [`difference`] at 95 %.
fn split(keep: &KeepMatrix, record: usize, correct: impl Fn(usize) -> bool) -> Result<Difference> {
    let mut c = [[0usize; 2]; 2]; // [in][correct]
    for m in 0..keep.models() {
        c[usize::from(keep.row(m)[record])][usize::from(correct(m))] += 1;
    }
    difference(c[1][1], c[1][0] + c[1][1], c[0][1], c[0][0] + c[0][1], Z95)
}

/// mem̂_i for every record of the keep matrix: `correct(m, i)` says whether model m
/// classifies training record i correctly (its label's logit the largest).
///
/// # Errors
/// A record that no model, or every model, trained on.
pub fn memorization(
    keep: &KeepMatrix,
    correct: impl Fn(usize, usize) -> bool,
) -> Result<Vec<Difference>> {
    (0..keep.records())
        .map(|i| split(keep, i, |m| correct(m, i)))
        .collect()
}

/// The influence of training record `record` on a test record: `test_correct(m)` says
/// whether model m classifies the test record correctly.
///
/// # Errors
/// A record out of range, or one that no model (or every model) trained on.
pub fn influence(
    keep: &KeepMatrix,
    record: usize,
    test_correct: impl Fn(usize) -> bool,
) -> Result<Difference> {
    if record >= keep.records() {
        return Err(Error::invalid(
            "record",
            record,
            format!("the keep matrix has {} records", keep.records()),
        ));
    }
    split(keep, record, test_correct)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Newcombe (1998), Table II, method 10 (hybrid score, no continuity correction), to the
    /// four decimals printed there: 56/70 − 48/80 → (0.0524, 0.3339); 9/10 − 3/10 →
    /// (0.1705, 0.8090); 5/56 − 0/29 → (−0.0381, 0.1926); 0/10 − 0/20 → (−0.1611, 0.2775).
    /// Tolerance 5e-5: half a unit of the last printed digit.
    /// Mutation checked: swapping u₂ − p̂_out for p̂_out − l₂ in the lower end moves the first
    /// case's lower end to 0.0461 and the test fails.
    #[test]
    fn newcombe_known_answers() {
        for (k1, n1, k2, n2, lo, hi) in [
            (56, 70, 48, 80, 0.0524, 0.3339),
            (9, 10, 3, 10, 0.1705, 0.8090),
            (5, 56, 0, 29, -0.0381, 0.1926),
            (0, 10, 0, 20, -0.1611, 0.2775),
        ] {
            let d = difference(k1, n1, k2, n2, Z95).unwrap();
            assert!((d.lower - lo).abs() < 5e-5, "{k1}/{n1} - {k2}/{n2}: {d:?}");
            assert!((d.upper - hi).abs() < 5e-5, "{k1}/{n1} - {k2}/{n2}: {d:?}");
            assert!(d.lower <= d.value && d.value <= d.upper);
        }
        // Extremes stay in [−1, 1]; empty sides are refused.
        let d = difference(10, 10, 0, 10, Z95).unwrap();
        assert!(d.upper <= 1.0 && d.lower > 0.5, "{d:?}");
        assert!(difference(0, 0, 1, 2, Z95).is_err());
        assert!(difference(3, 2, 1, 2, Z95).is_err());
    }

    /// Wilson at the ends: k = 0 gives (0, z²/(n + z²)) (Wilson 1927; closed form of the
    /// upper end at p̂ = 0).
    #[test]
    fn wilson_ends() {
        let (lo, hi) = wilson(0, 16, Z95);
        assert_eq!(lo, 0.0);
        let z2 = Z95 * Z95;
        assert!((hi - z2 / (16.0 + z2)).abs() < 1e-15, "{hi}");
    }

    /// A record the models always get right when they train on it and never otherwise has
    /// mem̂ = 1; one they always get right has mem̂ = 0; the influence of record 0 on a "test
    /// record" that copies its correctness is its mem̂. A mutation that reads the IN side as
    /// `!keep` flips the first estimate to −1 and fails it.
    #[test]
    fn memorization_reads_in_minus_out() {
        let keep = KeepMatrix::lira(3, 16, 3).unwrap();
        let mem = memorization(&keep, |m, i| match i {
            0 => keep.row(m)[0],
            1 => true,
            _ => m % 2 == 0,
        })
        .unwrap();
        assert_eq!(mem[0].value, 1.0);
        assert_eq!((mem[0].n_in, mem[0].n_out), (8, 8));
        assert_eq!(mem[1].value, 0.0);
        assert!(mem[1].lower < 0.0 && mem[1].upper > 0.0);
        let inf = influence(&keep, 0, |m| keep.row(m)[0]).unwrap();
        assert_eq!(inf, mem[0]);
        assert!(influence(&keep, 3, |_| true).is_err());
    }
}
