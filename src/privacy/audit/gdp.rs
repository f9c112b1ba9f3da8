//! The Gaussian-DP route of an audit (Nasr, Hayes, Steinke, Balle, Tramèr, Jagielski, Carlini
//! & Terzis, "Tight auditing of differentially private machine learning", USENIX Security
//! 2023, arXiv 2302.07956): bound μ of a μ-GDP mechanism from below with Clopper–Pearson
//! bounds on a test's error rates, then convert μ to ε at the target δ.
//!
//! A μ-GDP test has FNR ≥ Φ(Φ⁻¹(1 − FPR) − μ) (Dong, Roth & Su, "Gaussian differential
//! privacy", JRSS-B 2022, arXiv 1905.02383, Eq. 6), so μ ≥ Φ⁻¹(1 − FPR) − Φ⁻¹(FNR); with upper
//! confidence bounds on both rates this is a lower confidence bound on μ. μ-GDP is
//! (ε, δ(ε))-DP for δ(ε) = Φ(−ε/μ + μ/2) − e^ε·Φ(−ε/μ − μ/2) (their Corollary 2.13) — the
//! analytic Gaussian mechanism's curve ([`gaussian_delta`]), inverted here in ε.
//!
//! Trap (reference §2.3, jax_privacy PR #270): taking |Φ⁻¹(1 − FPR_hi) − Φ⁻¹(FNR_hi)| to cover
//! both directions turns two *upper* bounds into a reversed-direction μ that needs *lower*
//! bounds; on null scores it reports ε ≈ 3.5. Here each direction runs on its own frontier
//! (the mirrored one on negated scores) under one Bonferroni budget.

use super::epsilon::frontier;
use super::{check_alpha, clopper_pearson, negated};
use crate::bounds::phi_inv;
use crate::privacy::mechanisms::analytic_gaussian::gaussian_delta;
use crate::privacy::normal;
use crate::{Error, Result};
use serde::Serialize;

/// The ε at which a μ-GDP mechanism has the given δ: the root in ε ≥ 0 of
/// Φ(−ε/μ + μ/2) − e^ε·Φ(−ε/μ − μ/2) = δ (decreasing in ε); 0 when δ(0) = 2Φ(μ/2) − 1 is
/// already ≤ δ.
///
/// Solved in t = ε/μ − μ/2, where the curve reads δ = Φ(−t) − φ(t)·M(μ + t) with M the
/// Mills ratio ([`normal::mills_ratio`]; e^ε·Φ(−μ − t) = φ(t)·M(μ + t) exactly): written in
/// ε, the curve cancels ε/μ against μ/2 and e^ε against Φ's tail, which cost 2e-8 relative
/// at μ = 1e13 and made μ ≥ 1.8e154 (where μ² overflows) return 0. Bisection in t down to
/// adjacent floats, then ε = μ·(μ/2 + t) on the side where δ(ε) > δ still holds (an audit's ε
/// is a lower bound).
///
/// Known answers at δ = 1e-5 (reference §2.3): μ = 0.5 → 1.99, 1 → 4.38, 2 → 10.0, 3 → 16.7.
///
/// # Errors
/// [`Error::InvalidParameter`] for μ not finite and > 0, for δ ∉ (0, 1), and for a μ whose ε
/// (≈ μ²/2) is past f64's range (μ above ≈ 1.9e154).
pub fn epsilon_for_mu(mu: f64, delta: f64) -> Result<f64> {
    if !(mu.is_finite() && mu > 0.0) {
        return Err(Error::invalid("mu", mu, "must be finite and > 0"));
    }
    if !(delta > 0.0 && delta < 1.0) {
        return Err(Error::invalid(
            "delta",
            delta,
            "must be in (0, 1) (a GDP mechanism is not (epsilon, 0)-DP for any epsilon)",
        ));
    }
    if gaussian_delta(0.0, mu) <= delta {
        return Ok(0.0);
    }
    let pdf = |t: f64| (-0.5 * t * t).exp() / (2.0 * std::f64::consts::PI).sqrt();
    // t ≥ −μ/2 is ε ≥ 0, so μ + t ≥ μ/2 > 0 where M is taken.
    let delta_at = |t: f64| normal::cdf(-t) - pdf(t) * normal::mills_ratio(mu + t);
    // δ(t) ≤ Φ(−t) < δ once t > Φ⁻¹(1 − δ): a finite bracket, widened if rounding says not.
    let mut lo = -0.5 * mu;
    let mut hi = (1.0 - phi_inv(delta)).max(lo + 1.0);
    while delta_at(hi) > delta {
        hi = lo + 2.0 * (hi - lo);
    }
    loop {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if delta_at(mid) > delta {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let eps = mu * (0.5 * mu + lo);
    if !eps.is_finite() {
        return Err(Error::invalid(
            "mu",
            mu,
            "its epsilon, about mu²/2, is past f64's largest number (mu must be below ≈ 1.9e154)",
        ));
    }
    Ok(eps)
}

/// A GDP audit of a score curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct GdpAudit {
    /// Lower confidence bound on μ (0 when no threshold separates the scores).
    pub mu_lower: f64,
    /// ε of a μ_lower-GDP mechanism at δ (the audit's ε estimate).
    pub epsilon: f64,
    /// Whether the mirrored test (member when score ≤ t; `threshold` is that t) gave μ_lower.
    pub mirrored: bool,
}

/// μ lower bound over the hull vertices of a score curve (k of them, each with FNR and FPR
/// bounds at α/(2k); half of α per direction when `two_sided`), then ε at δ.
///
/// # Errors
/// As [`super::epsilon::frontier`], α ∉ (0, 1), δ ∉ (0, 1).
pub fn from_scores(
    members: &[f64],
    non_members: &[f64],
    delta: f64,
    alpha: f64,
    two_sided: bool,
) -> Result<GdpAudit> {
    check_alpha(alpha)?;
    if !(delta > 0.0 && delta < 1.0) {
        return Err(Error::invalid(
            "delta",
            delta,
            "the GDP route needs delta in (0, 1)",
        ));
    }
    let budget = if two_sided { alpha / 2.0 } else { alpha };
    let mut mu = mu_one_direction(members, non_members, delta, budget)?;
    let mut mirrored = false;
    if two_sided {
        let m = mu_one_direction(&negated(members), &negated(non_members), delta, budget)?;
        if m > mu {
            mu = m;
            mirrored = true;
        }
    }
    let epsilon = if mu > 0.0 {
        epsilon_for_mu(mu, delta)?
    } else {
        0.0
    };
    Ok(GdpAudit {
        mu_lower: mu,
        epsilon,
        mirrored,
    })
}

fn mu_one_direction(members: &[f64], non_members: &[f64], delta: f64, alpha: f64) -> Result<f64> {
    let hull = frontier(members, non_members)?;
    let (n1, n0) = (members.len() as u64, non_members.len() as u64);
    let a = alpha / (2.0 * hull.len() as f64);
    let mut best = 0.0f64;
    for v in &hull {
        let fnr_hi = clopper_pearson::upper(v.false_negatives, n1, a);
        let fpr_hi = clopper_pearson::upper(n0 - v.true_negatives, n0, a);
        if fnr_hi.max(fpr_hi) >= 1.0 - delta {
            continue;
        }
        // Φ⁻¹(1 − FPR_hi) = −Φ⁻¹(FPR_hi), without rounding 1 − FPR_hi.
        best = best.max(-phi_inv(fpr_hi) - phi_inv(fnr_hi));
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_named;
    use rand::RngExt;
    use rand_distr::StandardNormal;

    /// Reference §2.3's known answers (computed there; δ = 1e-5), to the digits it gives.
    /// Fails if the conversion used e^ε on the wrong term or solved for the wrong side.
    #[test]
    fn mu_to_epsilon_known_answers() {
        for (mu, want, tol) in [
            (0.5, 1.99, 5e-3),
            (1.0, 4.38, 5e-3),
            (2.0, 10.0, 0.05),
            (3.0, 16.7, 0.05),
        ] {
            let e = epsilon_for_mu(mu, 1e-5).unwrap();
            assert!((e - want).abs() < tol, "mu = {mu}: {e}");
            // The root: δ(ε) = 1e-5 to the bisection's resolution.
            assert!((gaussian_delta(e, mu) - 1e-5).abs() < 1e-9);
        }
        assert_eq!(epsilon_for_mu(1e-9, 0.5).unwrap(), 0.0);
        assert!(epsilon_for_mu(1.0, 0.0).is_err() && epsilon_for_mu(-1.0, 1e-5).is_err());
    }

    /// Far from the reference's μ: ε against an 80-digit bisection of the ε form of the curve
    /// (mpmath `ncdf`, 400 halvings), to 1e-13 relative. Measured: 3.7e-14 at μ = 0.01 and
    /// δ = 1e-300 (there δ(t) is the difference of two Mills ratios 0.01 apart in their
    /// argument, which magnifies the rounding of Φ and M), at most 6e-16 elsewhere. Fails with
    /// the old bisection in ε: 6.5e-13 relative at μ = 0.01, 2e-8 at μ = 1e13 and 1e100, and 0
    /// at μ ≥ 1.8e154.
    #[test]
    fn mu_to_epsilon_holds_far_out() {
        for (mu, delta, want) in [
            (1.0, 1e-5, 4.377_178_095_681_224_6),
            (0.01, 1e-300, 0.368_298_990_013_809_5),
            (40.0, 1e-300, 2_281.176_098_264_011_7),
            (1e3, 1e-5, 504_263.892_920_654_1),
            (1e8, 1e-5, 5_000_000_426_489_078.0),
            (1e13, 1e-5, 5.000_000_000_004_265e25),
            (1e100, 1e-5, 5e199),
        ] {
            let e = epsilon_for_mu(mu, delta).unwrap();
            assert!(
                (e - want).abs() <= 1e-13 * want,
                "mu = {mu}, delta = {delta}: {e}"
            );
        }
        let e = epsilon_for_mu(1e154, 1e-5).unwrap();
        assert!((e / 5e307 - 1.0).abs() < 1e-13, "{e}");
        for mu in [1.9e154, 1e300, f64::MAX] {
            let err = epsilon_for_mu(mu, 1e-5).unwrap_err().to_string();
            assert!(err.contains("`mu`") && err.contains("past f64"), "{err}");
        }
    }

    /// Null scores: μ_lower = 0 (so ε = 0) in at least 95 % of 200 repetitions, two-sided,
    /// while the |…| shortcut over both directions (trap of jax_privacy #270) is positive far
    /// more often. Fails if `mu_one_direction` took the absolute value.
    #[test]
    fn null_scores_give_zero() {
        let (reps, n) = (200, 200);
        let (mut zero, mut abs_positive) = (0, 0);
        for r in 0..reps {
            let mut rng = rng_named(11, r, "null-scores");
            let mut draw = || -> Vec<f64> {
                (0..n)
                    .map(|_| rng.sample::<f64, _>(StandardNormal))
                    .collect()
            };
            let (ins, outs) = (draw(), draw());
            if from_scores(&ins, &outs, 1e-5, 0.05, true).unwrap().mu_lower == 0.0 {
                zero += 1;
            }
            let hull = frontier(&ins, &outs).unwrap();
            let a = 0.05 / (2.0 * hull.len() as f64);
            let shortcut = hull
                .iter()
                .map(|v| {
                    let fnr = clopper_pearson::upper(v.false_negatives, n as u64, a);
                    let fpr = clopper_pearson::upper(n as u64 - v.true_negatives, n as u64, a);
                    (-phi_inv(fpr) - phi_inv(fnr)).abs()
                })
                .fold(0.0, f64::max);
            if shortcut > 0.5 {
                abs_positive += 1;
            }
        }
        assert!(zero >= 190, "{zero}/{reps}");
        assert!(abs_positive > 100, "{abs_positive}/{reps}");
    }

    /// Gaussian scores N(μ, 1) vs N(0, 1) are exactly μ-GDP: with 20 000 samples per side the
    /// audit's μ_lower lies below the true μ = 2 (soundness) and within 0.35 of it (the CP
    /// bounds at α/(2k) cost about that much at this size). Fails if FNR/FPR were swapped for
    /// their complements.
    #[test]
    fn gaussian_scores_recover_mu_from_below() {
        let mut rng = rng_named(3, 0, "gdp-scores");
        let n = 20_000;
        let ins: Vec<f64> = (0..n)
            .map(|_| 2.0 + rng.sample::<f64, _>(StandardNormal))
            .collect();
        let outs: Vec<f64> = (0..n)
            .map(|_| rng.sample::<f64, _>(StandardNormal))
            .collect();
        let g = from_scores(&ins, &outs, 1e-5, 0.05, false).unwrap();
        assert!(g.mu_lower < 2.0 && g.mu_lower > 1.65, "{}", g.mu_lower);
        assert!(g.epsilon < epsilon_for_mu(2.0, 1e-5).unwrap());
    }
}
