//! Differentially private mean estimation, next to the Cai–Wang–Zhang lower bound.
//!
//! Three estimators for the mean of d-dimensional records:
//!
//! - [`known_range_mean`]: project every record onto a ball B(c, C) known in advance,
//!   average, add Gaussian noise calibrated by the analytic Gaussian mechanism to the ℓ2
//!   sensitivity 2C/n of the average (replace-one, public n). The classical estimator behind
//!   the upper bound of P1.
//! - [`coinpress_mean`]: unknown range. CoinPress (Biswas, Dong, Kamath & Ullman 2020,
//!   Alg. 1–2) starts from a huge ball B(c₀, R) and shrinks it in t noisy steps, each clipping
//!   to the current ball plus the radius of a Gaussian sample, so R costs only log factors.
//!   Privacy: ρ-zCDP in total, split ρ/4 over the first t − 1 steps and 3ρ/4 on the last
//!   (their code's default), converted from a target (ε, δ) with Bun & Steinke's
//!   ε = ρ + 2√(ρ ln(1/δ)).
//! - [`user_level_mean`]: user-level DP, every user contributing m records: average each
//!   user's records first (variance σ²/m), then run the known-range estimator over the n user
//!   means with a radius shrunk by √m (sensitivity 2C/n for replacing a whole user). Running
//!   [`coinpress_mean`] on the [`user_means`] with σ/√m gives the unknown-range version, whose
//!   error tracks the user-level rate (σ²/m)(d/n + d² ln(1/δ)/(n²ε²)) instead of paying
//!   the range R/n.
//!
//! [`cai_wang_zhang_rate`] is the order of the minimax risk (P1 in the bounds reference).
//!
//! # References
//! - Cai, Wang & Zhang, "The Cost of Privacy: Optimal Rates of Convergence for Parameter
//!   Estimation with Differential Privacy", Annals of Statistics 49(5), 2021,
//!   arXiv 1902.04495.
//! - Biswas, Dong, Kamath & Ullman, "CoinPress: Practical Private Mean and Covariance
//!   Estimation", NeurIPS 2020, arXiv 2006.06618.
//! - Levy, Sun, Amin, Kale, Kulesza, Mohri & Suresh, "Learning with User-Level Privacy",
//!   NeurIPS 2021, arXiv 2102.11845.
//! - Laurent & Massart, "Adaptive estimation of a quadratic functional by model selection",
//!   Annals of Statistics 28(5), 2000 (χ² tail: ‖Z‖ ≤ √(d + 2√(d ln(1/β)) + 2 ln(1/β))
//!   with probability 1 − β).

use crate::error::{check_finite, check_positive};
use crate::privacy::mechanisms::analytic_gaussian::calibrate_sigma;
use crate::privacy::{check_delta, check_epsilon};
use crate::rng::SimRng;
use crate::{Error, Result};
use rand::RngExt;
use rand_distr::StandardNormal;

/// The P1 rate σ²·(d/n + d²·ln(1/δ)/(n²ε²)) of Cai, Wang & Zhang (Ann. Statist. 2021,
/// arXiv 1902.04495): the minimax E‖μ̂ − μ‖² for N(μ, σ²I_d) under (ε, δ)-DP, up to constants
/// and log factors (kind: order only, never a test threshold).
///
/// # Errors
/// [`Error::InvalidParameter`] for σ ≤ 0, d or n = 0, ε ≤ 0, δ ∉ (0, 1).
pub fn cai_wang_zhang_rate(
    sigma: f64,
    d: usize,
    n: usize,
    epsilon: f64,
    delta: f64,
) -> Result<f64> {
    check_positive("sigma", sigma)?;
    check_epsilon(epsilon)?;
    check_delta(delta)?;
    if d == 0 || n == 0 {
        return Err(Error::invalid("n", n.min(d), "n and d must be >= 1"));
    }
    // The catalogue's formula (P1), evaluated here outside the catalogue's hypotheses
    // (ε ≤ 1, δ < 1/n) too, so the overlay can span every ε a sweep asks for.
    Ok(crate::bounds::cai2021cost::dp_gaussian_mean_rate_sq(
        sigma, d, n, epsilon, delta,
    ))
}

/// Laurent–Massart radius √(d + 2√(d ln(1/β)) + 2 ln(1/β)): a standard Gaussian vector in
/// R^d lies within it with probability ≥ 1 − β.
pub fn gaussian_radius(d: usize, beta: f64) -> f64 {
    let (d, l) = (d as f64, (1.0 / beta).ln());
    (d + 2.0 * (d * l).sqrt() + 2.0 * l).sqrt()
}

/// Projects `x` onto the ball B(center, radius), guaranteeing ‖x − center‖ ≤ radius as
/// computed by the same f64 norm (the scale is nudged down if rounding overshoots).
pub fn project_to_ball(x: &mut [f64], center: &[f64], radius: f64) {
    let dist = |x: &[f64]| {
        x.iter()
            .zip(center)
            .map(|(a, c)| (a - c) * (a - c))
            .sum::<f64>()
            .sqrt()
    };
    let nrm = dist(x);
    if nrm <= radius {
        return;
    }
    let mut scale = radius / nrm;
    let orig: Vec<f64> = x.iter().zip(center).map(|(a, c)| a - c).collect();
    loop {
        for ((xi, o), c) in x.iter_mut().zip(&orig).zip(center) {
            *xi = c + o * scale;
        }
        if dist(x) <= radius {
            return;
        }
        scale *= 1.0 - 4.0 * f64::EPSILON;
    }
}

fn check_points(points: &[&[f64]], d: usize) -> Result<()> {
    if points.is_empty() {
        return Err(Error::too_few("a DP mean", "n >= 1 points", "n = 0"));
    }
    for p in points {
        if p.len() != d {
            return Err(Error::DimensionMismatch {
                what: "DP mean points".into(),
                expected: d,
                got: p.len(),
            });
        }
        if let Some(v) = p.iter().find(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "DP mean input".into(),
                detail: format!("value {v}"),
            });
        }
    }
    Ok(())
}

/// Mean of the points projected onto B(center, radius), plus N(0, s²I) noise with s the
/// analytic-Gaussian σ for sensitivity 2·radius/n (replace-one, public n): (ε, δ)-DP.
///
/// # Errors
/// [`Error::InvalidParameter`] for ε ≤ 0, δ ∉ (0, 1), radius ≤ 0; shape and finiteness errors.
pub fn known_range_mean(
    points: &[&[f64]],
    center: &[f64],
    radius: f64,
    epsilon: f64,
    delta: f64,
    rng: &mut SimRng,
) -> Result<Vec<f64>> {
    check_positive("radius", radius)?;
    let d = center.len();
    check_points(points, d)?;
    let n = points.len() as f64;
    let s = calibrate_sigma(epsilon, delta, 2.0 * radius / n)?;
    let mut acc = vec![0.0; d];
    let mut buf = vec![0.0; d];
    for p in points {
        buf.copy_from_slice(p);
        project_to_ball(&mut buf, center, radius);
        for (a, b) in acc.iter_mut().zip(&buf) {
            *a += b;
        }
    }
    for a in acc.iter_mut() {
        *a = *a / n + s * rng.sample::<f64, _>(StandardNormal);
    }
    Ok(acc)
}

/// ρ-zCDP budget that converts to (ε, δ) by ε = ρ + 2√(ρ ln(1/δ)) (Bun & Steinke 2016,
/// Prop. 1.3, inverted): ρ = (√(ln(1/δ) + ε) − √(ln(1/δ)))².
///
/// # Errors
/// [`Error::InvalidParameter`] for ε ≤ 0 or δ ∉ (0, 1).
pub fn rho_for(epsilon: f64, delta: f64) -> Result<f64> {
    check_epsilon(epsilon)?;
    check_delta(delta)?;
    let l = (1.0 / delta).ln();
    let r = (l + epsilon).sqrt() - l.sqrt();
    Ok(r * r)
}

/// CoinPress mean estimation for N(μ, σ²I) with unknown μ ∈ B(center, radius) (Biswas et al.
/// 2020, Alg. 1–2), under total ρ-zCDP with ρ from [`rho_for`]`(ε, δ)`, in `steps` ≥ 1
/// iterations, failure probability β = 0.01 per clipping radius.
///
/// Step i with budget ρ_i on the ball B(c, r): clip to B(c, r + σγ₁) with γ₁ the radius
/// holding n Gaussian samples w.p. 1 − β; average; add N(0, s²I), s = Δ/√(2ρ_i),
/// Δ = 2(r + σγ₁)/n; the new ball is centred at the result with radius γ₂·√(σ²/n + s²),
/// unless that radius is not smaller than r (n too small for the budget), in which case the
/// ball is kept (a post-processing safeguard of lbounds, privacy unchanged). The last step's
/// noisy mean is the output.
///
/// # Errors
/// As [`known_range_mean`]; `steps` = 0.
#[allow(clippy::too_many_arguments)]
pub fn coinpress_mean(
    points: &[&[f64]],
    center: &[f64],
    radius: f64,
    sigma: f64,
    steps: usize,
    epsilon: f64,
    delta: f64,
    rng: &mut SimRng,
) -> Result<Vec<f64>> {
    check_positive("radius", radius)?;
    check_positive("sigma", sigma)?;
    if steps == 0 {
        return Err(Error::invalid(
            "steps",
            0,
            "CoinPress needs at least one step",
        ));
    }
    let d = center.len();
    check_points(points, d)?;
    let rho = rho_for(epsilon, delta)?;
    let n = points.len();
    let nf = n as f64;
    let beta = 0.01;
    let g1 = gaussian_radius(d, beta / nf) * sigma;
    let g2 = gaussian_radius(d, beta);
    let budgets: Vec<f64> = if steps == 1 {
        vec![rho]
    } else {
        let mut b = vec![0.25 * rho / (steps - 1) as f64; steps - 1];
        b.push(0.75 * rho);
        b
    };
    let mut c = center.to_vec();
    let mut r = radius;
    let mut buf = vec![0.0; d];
    let last = budgets.len() - 1;
    for (i, rho_i) in budgets.into_iter().enumerate() {
        let clip = r + g1;
        let sens = 2.0 * clip / nf;
        let s = sens / (2.0 * rho_i).sqrt();
        let mut acc = vec![0.0; d];
        for p in points {
            buf.copy_from_slice(p);
            project_to_ball(&mut buf, &c, clip);
            for (a, b) in acc.iter_mut().zip(&buf) {
                *a += b;
            }
        }
        for a in acc.iter_mut() {
            *a = *a / nf + s * rng.sample::<f64, _>(StandardNormal);
        }
        let r_new = g2 * (sigma * sigma / nf + s * s).sqrt();
        // Safeguard (not in the paper): when n is too small for this budget the radius would
        // grow; keep the previous ball then. r and r_new depend only on public quantities,
        // so the choice is post-processing and the privacy cost is unchanged.
        if i == last || r_new < r {
            c = acc;
            r = r_new;
        }
    }
    Ok(c)
}

/// The mean of each user's records (the input of the user-level estimators).
///
/// # Errors
/// A user without records; shape and finiteness errors.
pub fn user_means(users: &[Vec<&[f64]>], d: usize) -> Result<Vec<Vec<f64>>> {
    let mut means = Vec::with_capacity(users.len());
    for (u, recs) in users.iter().enumerate() {
        if recs.is_empty() {
            return Err(Error::invalid("user", u, "has no records"));
        }
        check_points(recs, d)?;
        let mut m = vec![0.0; d];
        for r in recs {
            for (a, b) in m.iter_mut().zip(*r) {
                *a += b;
            }
        }
        let k = recs.len() as f64;
        m.iter_mut().for_each(|v| *v /= k);
        means.push(m);
    }
    Ok(means)
}

/// User-level (ε, δ)-DP mean: each user's records are averaged, the user means projected
/// onto B(center, radius) and averaged, plus analytic-Gaussian noise for sensitivity
/// 2·radius/n_users (replacing one user's whole data set).
///
/// # Errors
/// As [`known_range_mean`]; a user without records.
pub fn user_level_mean(
    users: &[Vec<&[f64]>],
    center: &[f64],
    radius: f64,
    epsilon: f64,
    delta: f64,
    rng: &mut SimRng,
) -> Result<Vec<f64>> {
    let means = user_means(users, center.len())?;
    let refs: Vec<&[f64]> = means.iter().map(Vec::as_slice).collect();
    known_range_mean(&refs, center, radius, epsilon, delta, rng)
}

/// Squared Euclidean distance, for error reports.
pub fn sq_error(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Checks an estimate is finite (a diverging estimator is a bug, not a result).
///
/// # Errors
/// [`Error::InvalidParameter`] naming the first non-finite coordinate.
pub fn check_estimate(x: &[f64]) -> Result<()> {
    for v in x {
        check_finite("estimate", *v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;

    #[test]
    fn p1_rate_known_answer() {
        // σ = 1, d = 10, n = 1000, ε = 1, δ = 1e-5: 10/1000 + 100·11.5129/1e6 = 0.011151.
        let r = cai_wang_zhang_rate(1.0, 10, 1000, 1.0, 1e-5).unwrap();
        assert!((r - (0.01 + 100.0 * 1e5f64.ln() / 1e6)).abs() < 1e-15);
        assert!(cai_wang_zhang_rate(1.0, 10, 0, 1.0, 1e-5).is_err());
    }

    #[test]
    fn projection_never_exceeds_radius() {
        let mut x = vec![3.0, 4.0];
        project_to_ball(&mut x, &[0.0, 0.0], 1.0);
        assert!((x[0] - 0.6).abs() < 1e-15 && (x[1] - 0.8).abs() < 1e-15);
        let mut y = vec![0.1, 0.1];
        project_to_ball(&mut y, &[0.0, 0.0], 1.0);
        assert_eq!(y, vec![0.1, 0.1]);
    }

    #[test]
    fn rho_conversion_round_trips() {
        let rho = rho_for(1.0, 1e-5).unwrap();
        let e = rho + 2.0 * (rho * 1e5f64.ln()).sqrt();
        assert!((e - 1.0).abs() < 1e-12);
    }

    fn gaussian_points(n: usize, d: usize, mu: f64, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = rng_from_seed(seed);
        (0..n)
            .map(|_| {
                (0..d)
                    .map(|_| mu + rng.sample::<f64, _>(StandardNormal))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn estimators_are_accurate_at_large_epsilon() {
        // n = 2000, d = 5, μ = 3·1, ε = 8: every estimator lands within a few σ/√n.
        let pts = gaussian_points(2000, 5, 3.0, 1);
        let refs: Vec<&[f64]> = pts.iter().map(Vec::as_slice).collect();
        let truth = vec![3.0; 5];
        let c = vec![0.0; 5];
        let mut rng = rng_from_seed(2);
        let kr = known_range_mean(&refs, &c, 20.0, 8.0, 1e-6, &mut rng).unwrap();
        let cp = coinpress_mean(&refs, &c, 1000.0, 1.0, 5, 8.0, 1e-6, &mut rng).unwrap();
        // Non-private error E‖x̄ − μ‖² = d/n = 0.0025.
        assert!(sq_error(&kr, &truth) < 0.05, "{kr:?}");
        assert!(sq_error(&cp, &truth) < 0.05, "{cp:?}");
        let users: Vec<Vec<&[f64]>> = refs.chunks(10).map(|c| c.to_vec()).collect();
        let ul = user_level_mean(&users, &c, 20.0, 8.0, 1e-6, &mut rng).unwrap();
        assert!(sq_error(&ul, &truth) < 0.5, "{ul:?}");
        assert!(known_range_mean(&[], &c, 1.0, 1.0, 1e-5, &mut rng).is_err());
        assert!(coinpress_mean(&refs, &c, 10.0, 1.0, 0, 1.0, 1e-5, &mut rng).is_err());
    }
}
