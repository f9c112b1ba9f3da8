//! Auditing in one training run (Steinke, Nasr & Jagielski, "Privacy auditing with one (1)
//! training run", NeurIPS 2023, arXiv 2305.08846).
//!
//! m canaries, each included independently with probability 1/2; the auditor guesses
//! "in"/"out" for r of them and gets v right. Under (ε, δ)-DP the number of correct guesses is
//! dominated by Bin(r, q), q = e^ε/(1 + e^ε), up to a δ term; their Appendix D gives the
//! p-value of observing v:
//!
//! β = P[Bin(r, q) ≥ v], α* = max_{i=1..v} (1/i)·P[v − i ≤ Bin(r, q) < v],
//! p = min(1, β + α*·δ·2m),
//!
//! and ε_LB is the largest ε whose p-value is below 1 − confidence. The δ term is kept
//! (several published copies comment it out and silently audit (ε, 0)-DP instead).

use crate::{Error, Result};
use serde::Serialize;
use statrs::function::beta::beta_reg;
use statrs::function::gamma::ln_gamma;

/// The counts of a one-run audit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OneRun {
    /// Canaries m (each in the training set with probability 1/2).
    pub canaries: u64,
    /// Guesses r ≤ m (the auditor abstains on the rest).
    pub guesses: u64,
    /// Correct guesses v ≤ r.
    pub correct: u64,
}

impl OneRun {
    /// Checks 1 ≤ r ≤ m and v ≤ r.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the impossible count.
    pub fn validate(&self) -> Result<()> {
        if self.guesses == 0 {
            return Err(Error::invalid("guesses", 0, "need at least one guess"));
        }
        if self.guesses > self.canaries {
            return Err(Error::invalid(
                "guesses",
                self.guesses,
                format!("cannot exceed the {} canaries", self.canaries),
            ));
        }
        if self.correct > self.guesses {
            return Err(Error::invalid(
                "correct",
                self.correct,
                format!("cannot exceed the {} guesses", self.guesses),
            ));
        }
        Ok(())
    }

    /// The p-value of Appendix D at ε and δ.
    pub fn p_value(&self, epsilon: f64, delta: f64) -> f64 {
        let (r, v) = (self.guesses, self.correct);
        // q = logistic(ε), and ln q, ln(1 − q) without cancellation.
        let q = 1.0 / (1.0 + (-epsilon).exp());
        let beta = tail_at_least(r, v, q);
        if delta == 0.0 || v == 0 {
            return beta.min(1.0);
        }
        let (ln_q, ln_1q) = (-(-epsilon).exp().ln_1p(), -epsilon.exp().ln_1p());
        // P[v − i ≤ X < v] grows by pmf(v − i) with each i.
        let mut window = 0.0;
        let mut alpha_star = 0.0f64;
        for i in 1..=v {
            window += binomial_pmf(r, v - i, ln_q, ln_1q);
            alpha_star = alpha_star.max(window / i as f64);
        }
        (beta + alpha_star * delta * 2.0 * self.canaries as f64).min(1.0)
    }
}

/// P[Bin(r, q) ≥ v] = I_q(v, r − v + 1) (1 for v = 0).
fn tail_at_least(r: u64, v: u64, q: f64) -> f64 {
    if v == 0 || q >= 1.0 {
        1.0
    } else {
        beta_reg(v as f64, (r - v + 1) as f64, q)
    }
}

/// P[Bin(r, q) = k] from logarithms (ln C(r, k) by ln Γ), exact to a few ulps of its log.
fn binomial_pmf(r: u64, k: u64, ln_q: f64, ln_1q: f64) -> f64 {
    let ln_choose =
        ln_gamma(r as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((r - k) as f64 + 1.0);
    let tail = if k == r { 0.0 } else { (r - k) as f64 * ln_1q };
    let head = if k == 0 { 0.0 } else { k as f64 * ln_q };
    (ln_choose + head + tail).exp()
}

/// The result of a one-run audit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct OneRunAudit {
    /// The largest ε whose (ε, δ)-DP claim the observation rejects at the confidence level
    /// (0 when even ε = 0 is not rejected).
    pub epsilon_lower: f64,
    /// The p-value at ε = 0 (the chance of doing this well by guessing).
    pub p_value_at_zero: f64,
}

/// ε_LB of a one-run audit: the largest ε with p(ε) < 1 − `confidence`, by doubling a
/// bracket and bisecting to 1e-10 absolute (reporting the rejected side). Known answers
/// (reference §2.4, m = 1000, perfect guessing, δ = 0): r = 10 → 1.05, r = 100 → 3.49,
/// r = 1000 → 5.81.
///
/// # Errors
/// [`Error::InvalidParameter`] for impossible counts, δ ∉ [0, 1) or confidence ∉ (0, 1).
pub fn epsilon_lower(run: &OneRun, delta: f64, confidence: f64) -> Result<OneRunAudit> {
    run.validate()?;
    super::check_audit_delta(delta)?;
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(Error::invalid(
            "confidence",
            confidence,
            "must be in (0, 1)",
        ));
    }
    let target = 1.0 - confidence;
    let p0 = run.p_value(0.0, delta);
    if p0 >= target {
        return Ok(OneRunAudit {
            epsilon_lower: 0.0,
            p_value_at_zero: p0,
        });
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    // q = logistic(ε) is 1 in f64 beyond ε ≈ 37, where β = 1 ≥ target: the doubling stops.
    while run.p_value(hi, delta) < target {
        lo = hi;
        hi *= 2.0;
    }
    while hi - lo > 1e-10 {
        let mid = 0.5 * (lo + hi);
        if run.p_value(mid, delta) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(OneRunAudit {
        epsilon_lower: lo,
        p_value_at_zero: p0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(m: u64, r: u64, v: u64) -> OneRun {
        OneRun {
            canaries: m,
            guesses: r,
            correct: v,
        }
    }

    /// Perfect guessing ceilings of reference §2.4 (1.05, 3.49, 5.81 at δ = 0; 1.02, 3.47,
    /// 5.78, 3.20, 5.53 at δ = 1e-5), checked to 1e-6 against the same formula evaluated with
    /// scipy 1.16 (`binom.sf`, `brentq` to 1e-12), whose values are below; the reference's
    /// 1.02 is 1.014986 rounded up. Fails if the δ term were dropped (the δ = 1e-5 column
    /// would equal the δ = 0 one: 3.49 instead of 3.20 at m = 10⁴, r = 100) or if 2m were m.
    #[test]
    fn perfect_guessing_known_answers() {
        let cases = [
            (1000, 10, 1.051_873_2, 1.014_986_2),
            (1000, 100, 3.492_965_4, 3.465_376_3),
            (1000, 1000, 5.809_068_3, 5.782_283_1),
            (10_000, 100, 3.492_965_4, 3.202_303_8),
            (10_000, 1000, 5.809_068_3, 5.529_349_6),
        ];
        for (m, r, d0, d5) in cases {
            let e0 = epsilon_lower(&run(m, r, r), 0.0, 0.95)
                .unwrap()
                .epsilon_lower;
            let e5 = epsilon_lower(&run(m, r, r), 1e-5, 0.95)
                .unwrap()
                .epsilon_lower;
            assert!((e0 - d0).abs() < 1e-6, "m = {m}, r = {r}, δ = 0: {e0}");
            assert!((e5 - d5).abs() < 1e-6, "m = {m}, r = {r}, δ = 1e-5: {e5}");
        }
    }

    /// Accuracy → ε_LB at m = 1000, r = 200, δ = 1e-5 (reference §2.4: 60 % → 0.16,
    /// 70 % → 0.58, 80 % → 1.09, 90 % → 1.80; scipy 1.16 on the same formula: 0.157880,
    /// 0.583614, 1.085034, 1.796285, checked to 1e-6).
    #[test]
    fn accuracy_known_answers() {
        for (v, want) in [
            (120, 0.157_879_5),
            (140, 0.583_613_9),
            (160, 1.085_034_3),
            (180, 1.796_285_1),
        ] {
            let e = epsilon_lower(&run(1000, 200, v), 1e-5, 0.95)
                .unwrap()
                .epsilon_lower;
            assert!((e - want).abs() < 1e-6, "v = {v}: {e}");
        }
    }

    /// Chance-level guessing (half right) rejects nothing, and bad counts are refused.
    #[test]
    fn chance_and_bad_input() {
        let e = epsilon_lower(&run(1000, 100, 50), 1e-5, 0.95).unwrap();
        assert_eq!(e.epsilon_lower, 0.0);
        assert!(e.p_value_at_zero > 0.05);
        assert!(epsilon_lower(&run(10, 11, 5), 0.0, 0.95).is_err());
        assert!(epsilon_lower(&run(10, 5, 6), 0.0, 0.95).is_err());
        assert!(epsilon_lower(&run(10, 5, 5), 1.0, 0.95).is_err());
        assert!(epsilon_lower(&run(10, 5, 5), 0.0, 1.0).is_err());
    }

    /// The pmf sums to 1 and matches the regularized-beta tail (two independent routes to
    /// the same binomial probabilities), so α* and β are consistent.
    #[test]
    fn pmf_and_tail_agree() {
        let (r, q) = (200u64, 0.73f64);
        let (ln_q, ln_1q) = (q.ln(), (1.0 - q).ln());
        let total: f64 = (0..=r).map(|k| binomial_pmf(r, k, ln_q, ln_1q)).sum();
        assert!((total - 1.0).abs() < 1e-12);
        let tail: f64 = (150..=r).map(|k| binomial_pmf(r, k, ln_q, ln_1q)).sum();
        assert!((tail - tail_at_least(r, 150, q)).abs() < 1e-12);
    }
}
