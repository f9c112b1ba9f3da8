//! Clopper–Pearson one-sided bounds on a binomial proportion (Clopper & Pearson, "The use of
//! confidence or fiducial limits illustrated in the case of the binomial", Biometrika 26(4),
//! 1934): the exact bounds every audit in this module turns counts into rates with.
//!
//! For k successes in n trials at one-sided level a (the probability that the bound is wrong):
//! lower = BetaInv(a; k, n − k + 1) (0 when k = 0), upper = BetaInv(1 − a; k + 1, n − k)
//! (1 when k = n). Closed forms at the ends: k = n gives lower = a^(1/n), k = 0 gives
//! upper = 1 − a^(1/n).
//!
//! Numerics: the quantile is found by bisection on statrs' regularized incomplete beta
//! `beta_reg` (a continued fraction of at most 140 terms) until the residual is below 1e-13
//! relative, halving the interval between two floats' bit patterns, so that it ends within 64
//! steps at any level and shape, down to adjacent floats. (statrs' own quantile,
//! `inv_beta_reg`, looped without end at 5 successes of 10⁷ and returned NaN at a = 1e-300, on
//! which `beta_reg` panicked.) The upper bound is computed as 1 − BetaInv(a; n − k, k + 1) (the
//! symmetry I_x(α, β) = 1 − I_{1−x}(β, α)), so a tiny a is never lost in 1 − a; the two closed
//! forms use `exp_m1`/`powf` directly.

use crate::{Error, Result};
use statrs::function::beta::beta_reg;

/// The most trials a bound is computed for. statrs' `beta_reg` sums at most 140 terms of its
/// continued fraction, which keeps six digits or more of the bounds up to 10⁷ trials and
/// loses them beyond: at 10⁸ trials the lower bound for half of them successful came out
/// above one half, and for 3 successes the lower bound times n, whose limit is the Poisson
/// bound 0.81769, read 0.81769 at 10⁷, 0.81792 at 10¹², 0.13 at 10¹⁵ (test
/// `limits_of_many_trials`).
pub const MAX_TRIALS: u64 = 10_000_000;

/// Checks that `n` trials (named `what`) are within [`MAX_TRIALS`].
///
/// # Errors
/// [`Error::InvalidParameter`] naming `what`.
pub fn check_trials(what: &str, n: u64) -> Result<()> {
    if n > MAX_TRIALS {
        return Err(Error::invalid(
            what,
            n,
            format!(
                "exact Clopper-Pearson bounds are computed for up to {MAX_TRIALS} trials (the incomplete beta loses digits beyond)"
            ),
        ));
    }
    Ok(())
}

/// The lower Clopper–Pearson bound: the p with P[Bin(n, p) ≥ k] = a.
///
/// `a` must lie in (0, 1) and `k ≤ n` (callers validate; see [`super::check_alpha`]).
pub fn lower(k: u64, n: u64, a: f64) -> f64 {
    debug_assert!(k <= n && a > 0.0 && a < 1.0);
    if k == 0 {
        return 0.0;
    }
    if k == n {
        return a.powf(1.0 / n as f64);
    }
    beta_quantile(k as f64, (n - k + 1) as f64, a)
}

/// The upper Clopper–Pearson bound: the p with P[Bin(n, p) ≤ k] = a.
///
/// `a` must lie in (0, 1) and `k ≤ n`.
pub fn upper(k: u64, n: u64, a: f64) -> f64 {
    debug_assert!(k <= n && a > 0.0 && a < 1.0);
    if k == n {
        return 1.0;
    }
    if k == 0 {
        // 1 − a^(1/n) without cancellation.
        return -(a.ln() / n as f64).exp_m1();
    }
    1.0 - beta_quantile((n - k) as f64, (k + 1) as f64, a)
}

/// x with I_x(α, β) = p, for p in (0, 1): bisection on I_x (increasing in x) to a residual
/// of 1e-13·p, or to two adjacent floats. The bit patterns of the floats in [0, 1] are in the
/// floats' order, so halving the range of patterns takes at most 63 steps whatever the
/// root's magnitude (a level of 1e-300 puts it near 1e-60 at five successes).
fn beta_quantile(alpha: f64, beta: f64, p: f64) -> f64 {
    let residual = |x: f64| beta_reg(alpha, beta, x) - p;
    let (mut lo, mut hi) = (0u64, 1.0f64.to_bits());
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let r = residual(f64::from_bits(mid));
        if r.abs() <= 1e-13 * p {
            return f64::from_bits(mid);
        }
        if r < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    // The float of the two whose residual is smaller.
    let (a, b) = (f64::from_bits(lo), f64::from_bits(hi));
    if residual(a).abs() <= residual(b).abs() {
        a
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The closed forms of the reference (privacy-and-memorization.md §2.2): k = n ⇒
    /// lower = a^(1/n); k = 0 ⇒ upper = 1 − a^(1/n); and the general path agrees with them
    /// where both apply (n − 1 successes bracket them). Tolerance 1e-14 relative: both sides
    /// are one or two roundings from exact.
    #[test]
    fn closed_forms_at_the_ends() {
        for n in [1u64, 2, 7, 100, 10_000] {
            for a in [0.025, 0.05 / 200.0, 1e-9] {
                let l = lower(n, n, a);
                assert!((l - a.powf(1.0 / n as f64)).abs() <= 1e-14 * l, "{n} {a}");
                let u = upper(0, n, a);
                let want = 1.0 - a.powf(1.0 / n as f64);
                assert!((u - want).abs() <= 1e-10 * want, "{n} {a}: {u} vs {want}");
            }
        }
    }

    /// The lower bound for k of n at level a, checked to solve P[Bin(n, p) ≥ k] = I_p(k,
    /// n − k + 1) = a to `rel` relative.
    fn solved_lower(k: u64, n: u64, a: f64, rel: f64) -> f64 {
        let l = lower(k, n, a);
        let tail = beta_reg(k as f64, (n - k + 1) as f64, l);
        assert!(
            (tail - a).abs() <= rel * a,
            "lower {k}/{n} at {a}: {l}, {tail}"
        );
        l
    }

    /// Each bound is the root of its defining tail equation to 1e-11 relative (statrs'
    /// `beta_reg` itself is good to about 1e-12 relative at shape parameters near 10⁵), over counts
    /// from 1 to n − 1 and levels down to 1e-9 (a Bonferroni budget over thousands of
    /// thresholds). Fails if upper() used BetaInv(1 − a; ·) directly (1 − 1e-9 keeps 7
    /// digits) or if the polish were dropped where statrs' Newton stops early.
    #[test]
    fn bounds_solve_their_tail_equations() {
        for n in [2u64, 10, 1000, 100_000] {
            for k in [1, n / 3, n / 2, n - 1]
                .into_iter()
                .filter(|&k| k >= 1 && k < n)
            {
                for a in [0.025, 1e-4, 1e-9] {
                    let l = solved_lower(k, n, a, 1e-11);
                    // P[Bin(n, p) ≤ k] = I_{1−p}(n − k, k + 1). The check itself rounds
                    // 1 − u (absolute error ≤ 1.2e-16, times a density ≤ n·e): 1e-12·a plus
                    // that.
                    let u = upper(k, n, a);
                    let tail = beta_reg((n - k) as f64, (k + 1) as f64, 1.0 - u);
                    let slack = 1e-12 * a + 1.2e-16 * 3.0 * n as f64;
                    assert!((tail - a).abs() <= slack, "upper {k}/{n} at {a}: {tail}");
                    assert!(l < k as f64 / n as f64 && u > k as f64 / n as f64);
                }
            }
        }
    }

    /// Where statrs' quantile failed: 5 successes of 10⁷ (it looped without end) and a level
    /// of 1e-300 (it returned NaN, on which `beta_reg` panicked). Each bound still solves its
    /// tail equation, to 1e-9 relative (`beta_reg` is good to about 1e-12 at moderate
    /// shapes; at 10⁷ trials and levels near the smallest floats we ask less). Fails if the
    /// quantile starts from `inv_beta_reg` again (the test hangs or panics).
    #[test]
    fn extreme_counts_and_levels() {
        for (k, n, a) in [
            (5u64, MAX_TRIALS, 0.025),
            (5, 10, 1e-300),
            (MAX_TRIALS - 1, MAX_TRIALS, 1e-200),
        ] {
            let l = solved_lower(k, n, a, 1e-9);
            let u = upper(k, n, a);
            assert!(u.is_finite() && u > l, "upper {k}/{n} at {a}: {u}");
            assert!(l < k as f64 / n as f64 && u > k as f64 / n as f64);
        }
    }

    /// The bounds at [`MAX_TRIALS`] against limits computed without `beta_reg`: for 3
    /// successes n·lower and n·upper tend to the Poisson bounds 0.8176914 and 7.7536565
    /// (P[Poisson(λ) ≥ 3] = 0.05 and P[Poisson(λ) ≤ 3] = 0.05, i.e. chi2.ppf(0.05, 6)/2 and
    /// chi2.ppf(0.95, 8)/2 in SciPy), to within 1e-6 relative at n = 10⁷ (the binomial's own
    /// distance to the limit is ~k/n); for half successes the lower bound is within 1e-4
    /// relative of the normal one, 1/2 − 1.6449·√(1/4n) (skew is 0 there, the next term is
    /// O(1/n)). Fails if [`MAX_TRIALS`] is raised to 10⁸, where `beta_reg` puts the second
    /// above 1/2, or if the first two come from the uncorrected continued fraction at 10¹⁵.
    #[test]
    fn limits_of_many_trials() {
        let n = MAX_TRIALS;
        let (l, u) = (lower(3, n, 0.05) * n as f64, upper(3, n, 0.05) * n as f64);
        assert!((l / 0.817_691_4 - 1.0).abs() < 1e-6, "{l}");
        assert!((u / 7.753_656_5 - 1.0).abs() < 1e-6, "{u}");
        let half = lower(n / 2, n, 0.05);
        let normal = 0.5 - 1.644_853_6 * (0.25 / n as f64).sqrt();
        assert!(
            (half / normal - 1.0).abs() < 1e-4 && half < 0.5,
            "{half} {normal}"
        );
        assert!(check_trials("positives", n).is_ok());
        let e = check_trials("positives", n + 1).unwrap_err().to_string();
        assert!(e.contains("up to 10000000 trials"), "{e}");
    }

    /// A published value: 0 successes out of 10 at 95 % one-sided gives the "rule of three"
    /// neighbourhood, 1 − 0.05^(1/10) = 0.2589 (Clopper–Pearson table values; e.g.
    /// scipy.stats.beta.ppf(0.95, 1, 10) = 0.25886).
    #[test]
    fn known_value() {
        assert!((upper(0, 10, 0.05) - 0.258_866_3).abs() < 1e-6);
        // scipy.stats.beta.ppf(0.025, 3, 8) = 0.06673951 (3 of 10, two-sided 95 % lower).
        assert!((lower(3, 10, 0.025) - 0.066_739_5).abs() < 1e-6);
    }
}
