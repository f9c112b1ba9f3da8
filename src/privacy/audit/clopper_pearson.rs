//! Clopper–Pearson one-sided bounds on a binomial proportion (Clopper & Pearson, "The use of
//! confidence or fiducial limits illustrated in the case of the binomial", Biometrika 26(4),
//! 1934): the exact bounds every audit in this module turns counts into rates with.
//!
//! For k successes in n trials at one-sided level a (the probability that the bound is wrong):
//! lower = BetaInv(a; k, n − k + 1) (0 when k = 0), upper = BetaInv(1 − a; k + 1, n − k)
//! (1 when k = n). Closed forms at the ends: k = n gives lower = a^(1/n), k = 0 gives
//! upper = 1 − a^(1/n).
//!
//! Numerics: the quantile is statrs' `inv_beta_reg` (AS 109 start, Newton steps), then
//! polished by bisection on statrs' regularized incomplete beta `beta_reg` until the residual
//! is below 1e-13 relative; the upper bound is computed as 1 − BetaInv(a; n − k, k + 1) (the
//! symmetry I_x(α, β) = 1 − I_{1−x}(β, α)), so a tiny a is never lost in 1 − a; the two closed
//! forms use `exp_m1`/`powf` directly.

use statrs::function::beta::{beta_reg, inv_beta_reg};

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

/// x with I_x(α, β) = p, for p in (0, 1): statrs' quantile polished by bisection on
/// I_x (monotone increasing in x) to a residual of 1e-13·p.
fn beta_quantile(alpha: f64, beta: f64, p: f64) -> f64 {
    let mut x = inv_beta_reg(alpha, beta, p).clamp(0.0, 1.0);
    let residual = |x: f64| beta_reg(alpha, beta, x) - p;
    if residual(x).abs() <= 1e-13 * p {
        return x;
    }
    // Bracket the root around statrs' estimate, then bisect.
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    if residual(x) < 0.0 {
        lo = x;
    } else {
        hi = x;
    }
    for _ in 0..200 {
        x = 0.5 * (lo + hi);
        let r = residual(x);
        if r.abs() <= 1e-13 * p || hi - lo <= f64::EPSILON * x {
            break;
        }
        if r < 0.0 {
            lo = x;
        } else {
            hi = x;
        }
    }
    x
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
                    // P[Bin(n, p) ≥ k] = I_p(k, n − k + 1).
                    let l = lower(k, n, a);
                    let tail = beta_reg(k as f64, (n - k + 1) as f64, l);
                    assert!(
                        (tail - a).abs() <= 1e-11 * a,
                        "lower {k}/{n} at {a}: {tail}"
                    );
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
