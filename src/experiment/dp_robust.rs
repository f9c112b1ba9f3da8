//! Robust *and* private mean estimation: the experiment behind the accuracy–security frontier
//! (figure 6).
//!
//! n users each send one update (the mean of their m records, per-coordinate standard
//! deviation σ_u = σ/√m around μ·**1**); f = ⌊fraction·n⌋ of them are Byzantine and send what
//! the attack computes from the honest updates. The server must be (ε, δ)-DP at the **user
//! level** (replacing one user's update) and robust to the f Byzantine users. Two estimators:
//!
//! - [`dp_average`]: project every update onto B(0, C), average, add Gaussian noise for the
//!   ℓ2 sensitivity 2C/n. Private, not robust: the f Byzantine users move it by up to 2Cf/n.
//! - [`dp_trimmed_mean`]: project every update onto B(0, C), take the coordinate-wise trimmed
//!   mean dropping the f largest and f smallest values of each coordinate, add Gaussian noise
//!   for the ℓ2 sensitivity **2C/(n − 2f)** (proof below). Private and robust.
//!
//! The noise scale is the analytic Gaussian mechanism's (Balle & Wang 2018) for the
//! sensitivity, via [`crate::privacy::mechanisms::analytic_gaussian::calibrate_sigma`]. The
//! clipping radius is public: C = R + σ_u·γ with R ≥ ‖μ·**1**‖ the known range and γ the
//! Laurent–Massart radius holding all n honest Gaussian deviations with probability 0.99.
//!
//! # Sensitivity of the clipped trimmed mean
//!
//! Fix a coordinate j and the values x₁..x_n (all in [−C, C] after projection onto the ℓ2
//! ball). The trimmed mean is T = (1/(n − 2f))·Σ_{i=f+1}^{n−f} x_(i). Replacing one value a by
//! b ≥ a can only increase every order statistic (each x_(i) is non-decreasing in every
//! input), and the order statistics together increase by exactly b − a (their sum is the sum
//! of the values). So the middle ones increase by a total in [0, b − a], and
//! |T' − T| ≤ |b_j − a_j|/(n − 2f) (likewise for b < a). Over the d coordinates,
//! ‖T' − T‖₂ ≤ ‖b − a‖₂/(n − 2f) ≤ 2C/(n − 2f), since both updates lie in B(0, C). With
//! f = 0 this is the average's 2C/n.
//!
//! # Bounds recorded next to each run
//!
//! [`DpRobustBounds`]: the Gaussian contamination bound σ_u·Φ⁻¹(1/(2(1−η))) (R1, Huber 1964;
//! exact, for the worst-case adversary), the user-level Cai–Wang–Zhang order
//! σ_u²(d/n + d² ln(1/δ)/(n²ε²)) (P1; order only, status "to verify") and the DP two-point
//! failure probability (P1-twopoint, Dwork & Roth 2014) for datasets one user apart.
//!
//! # References
//! - Huber, "Robust Estimation of a Location Parameter", Ann. Math. Statist. 35(1), 1964.
//! - Cai, Wang & Zhang, "The Cost of Privacy: Optimal Rates of Convergence for Parameter
//!   Estimation with Differential Privacy", Annals of Statistics 49(5), 2021, arXiv 1902.04495.
//! - Balle & Wang, "Improving the Gaussian Mechanism for Differential Privacy: Analytical
//!   Calibration and Optimal Denoising", ICML 2018, arXiv 1805.06530.
//! - Liu, Kong, Kakade & Oh, "Robust and Differentially Private Mean Estimation", NeurIPS 2021,
//!   arXiv 2102.09159 (the joint problem; rates max of the robust and the private terms).
//! - Dwork & Roth, "The Algorithmic Foundations of Differential Privacy", FnT TCS 9(3–4), 2014.

use super::Experiment;
use crate::aggregators::{PipelineSpec, StepSpec};
use crate::attacks::{self, AttackContext};
use crate::bounds::cai2021cost::dp_gaussian_mean_rate_sq;
use crate::bounds::dwork2014algorithmic::dp_two_point_min_fail_prob;
use crate::bounds::huber1964::{gaussian_bias, Contamination};
use crate::data::population::{byzantine_count, Population, PopulationConfig};
use crate::data::sq_norm;
use crate::params::Compat;
use crate::privacy::estimators::{gaussian_radius, project_to_ball};
use crate::privacy::mechanisms::{AnalyticGaussian, Mechanism};
use crate::privacy::{check_delta, check_epsilon};
use crate::rng::SimRng;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Failure probability of the clipping radius (all n honest updates inside w.p. ≥ 0.99).
pub const CLIP_BETA: f64 = 0.01;

/// A grid point of the robust + private experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpRobustPoint {
    /// Users, Byzantine fraction, records per user, Gaussian noise, the mean.
    pub population: PopulationConfig,
    /// What the Byzantine users send.
    pub attack: StepSpec,
    /// User-level ε > 0.
    pub epsilon: f64,
    /// User-level δ ∈ (0, 1).
    pub delta: f64,
    /// Public bound R ≥ ‖μ·**1**‖ (the clipping ball is centred at 0).
    pub range: f64,
    /// Native or ByzFL semantics for the attack's name.
    #[serde(default)]
    pub compat: Compat,
}

impl DpRobustPoint {
    /// σ_u of an honest update, checking the point's hypotheses.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for ε ≤ 0, δ ∉ (0, 1), R ≤ 0 or R < ‖μ·**1**‖, and for a
    /// population whose updates are not i.i.d. Gaussian (σ_u unknown); population errors.
    pub fn check(&self) -> Result<f64> {
        self.population.validate()?;
        check_epsilon(self.epsilon)?;
        check_delta(self.delta)?;
        crate::error::check_positive("range", self.range)?;
        let norm = self.population.mean.abs() * (self.population.d as f64).sqrt();
        if norm > self.range {
            return Err(Error::invalid(
                "range",
                self.range,
                format!("the known range must contain the mean: ||mu|| = {norm}"),
            ));
        }
        attacks::build(&self.attack.name, &self.attack.params, self.compat)?;
        match self.population.clone().build()?.update_sigma() {
            Some(s) if s > 0.0 => Ok(s),
            _ => Err(Error::invalid(
                "noise",
                format!("{:?}", self.population.noise),
                "the robust + private experiment needs i.i.d. Gaussian updates (Gaussian noise with sigma > 0, fixed records per user, no canaries)",
            )),
        }
    }

    /// The public clipping radius C = R + σ_u·γ(d, 0.01/n).
    ///
    /// # Errors
    /// As [`DpRobustPoint::check`].
    pub fn clip_radius(&self) -> Result<f64> {
        let s = self.check()?;
        let p = &self.population;
        Ok(self.range + s * gaussian_radius(p.d, CLIP_BETA / p.n as f64))
    }
}

/// The lower bounds at a point (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DpRobustBounds {
    /// f = ⌊fraction·n⌋.
    pub f: usize,
    /// η = f/n.
    pub eta: f64,
    /// σ_u of an honest update.
    pub update_sigma: f64,
    /// R1: error ≥ σ_u·Φ⁻¹(1/(2(1−η))) for the worst-case adversary (exact, Huber 1964).
    pub robust_lower: f64,
    /// P1 (order only, to verify): σ_u²(d/n + d² ln(1/δ)/(n²ε²)), user level, squared error.
    pub p1_user_level_sq: f64,
    /// P1-twopoint: every user-level (ε, δ)-DP estimator errs by half the distance of two
    /// datasets one user apart with at least this probability on one of them.
    pub p1_twopoint_fail_prob: f64,
}

/// Evaluates [`DpRobustBounds`] at a point.
///
/// # Errors
/// As [`DpRobustPoint::check`].
pub fn dp_robust_bounds(p: &DpRobustPoint) -> Result<DpRobustBounds> {
    let s = p.check()?;
    let (n, d) = (p.population.n, p.population.d);
    let f = byzantine_count(p.population.byzantine_fraction, n);
    let eta = f as f64 / n as f64;
    Ok(DpRobustBounds {
        f,
        eta,
        update_sigma: s,
        robust_lower: gaussian_bias(s, eta, Contamination::Huber)?,
        p1_user_level_sq: dp_gaussian_mean_rate_sq(s, d, n, p.epsilon, p.delta),
        p1_twopoint_fail_prob: dp_two_point_min_fail_prob(1, p.epsilon, p.delta),
    })
}

/// Errors ‖μ̂ − μ·**1**‖ of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DpRobustMetrics {
    /// Clipped average plus noise for sensitivity 2C/n (private, not robust).
    pub dp_average: f64,
    /// Clipped coordinate-wise trimmed mean (trim f) plus noise for 2C/(n − 2f).
    pub dp_trmean: f64,
    /// The same trimmed mean without noise (robust, not private): the cost of robustness alone.
    pub trmean_nonprivate: f64,
    /// Noise standard deviation per coordinate of [`DpRobustMetrics::dp_trmean`].
    pub trmean_noise_sigma: f64,
    /// Number of Byzantine users.
    pub f: usize,
}

/// ℓ2 sensitivity 2C/(n − 2·trim) of the coordinate-wise trimmed mean of n updates projected
/// onto a ball of radius C (proof in the [module docs](self)).
///
/// # Errors
/// [`Error::TooFewInputs`] unless n > 2·trim; [`Error::InvalidParameter`] for C ≤ 0.
pub fn trimmed_mean_sensitivity(n: usize, trim: usize, radius: f64) -> Result<f64> {
    crate::error::check_positive("radius", radius)?;
    if n <= 2 * trim {
        return Err(Error::too_few(
            "the trimmed mean",
            format!("n > 2f = {}", 2 * trim),
            format!("n = {n}"),
        ));
    }
    Ok(2.0 * radius / (n - 2 * trim) as f64)
}

/// Coordinate-wise trimmed mean (drop the `trim` largest and smallest values per coordinate)
/// of the points projected onto B(center, radius), without noise.
///
/// # Errors
/// As [`trimmed_mean_sensitivity`]; points of the wrong length.
pub fn clipped_trimmed_mean(
    points: &[&[f64]],
    center: &[f64],
    radius: f64,
    trim: usize,
) -> Result<Vec<f64>> {
    trimmed_mean_sensitivity(points.len(), trim, radius)?;
    let d = center.len();
    let clipped = clip_all(points, center, radius)?;
    let n = clipped.len();
    let mut col = vec![0.0; n];
    let mut out = vec![0.0; d];
    for (j, o) in out.iter_mut().enumerate() {
        for (c, p) in col.iter_mut().zip(&clipped) {
            *c = p[j];
        }
        col.sort_by(f64::total_cmp);
        *o = col[trim..n - trim].iter().sum::<f64>() / (n - 2 * trim) as f64;
    }
    Ok(out)
}

fn clip_all(points: &[&[f64]], center: &[f64], radius: f64) -> Result<Vec<Vec<f64>>> {
    points
        .iter()
        .map(|p| {
            if p.len() != center.len() {
                return Err(Error::DimensionMismatch {
                    what: "updates".into(),
                    expected: center.len(),
                    got: p.len(),
                });
            }
            if p.iter().any(|x| x.is_nan()) {
                return Err(Error::NonFinite {
                    what: "updates".into(),
                    detail: "NaN".into(),
                });
            }
            let mut v = p.to_vec();
            // ±inf (the `inf` attack) and huge values: shrink toward the centre along the
            // same direction first, so the squared norm cannot overflow; the projection then
            // lands on the sphere in that direction (an infinite coordinate dominates).
            let big = v
                .iter()
                .zip(center)
                .map(|(x, c)| (x - c).abs())
                .fold(0.0, f64::max);
            if big > 1e100 {
                // Direction with max-abs 1 (norm ≥ 1), placed at 2·radius: outside the ball.
                for (x, c) in v.iter_mut().zip(center) {
                    let o = *x - c;
                    let unit = if o.is_infinite() {
                        o.signum()
                    } else if big.is_infinite() {
                        0.0
                    } else {
                        o / big
                    };
                    *x = c + 2.0 * radius * unit;
                }
            }
            project_to_ball(&mut v, center, radius);
            Ok(v)
        })
        .collect()
}

/// User-level (ε, δ)-DP clipped average: mean of the points projected onto B(center, C) plus
/// N(0, s²I), s the analytic-Gaussian scale for sensitivity 2C/n.
///
/// # Errors
/// As [`dp_trimmed_mean`].
pub fn dp_average(
    points: &[&[f64]],
    center: &[f64],
    radius: f64,
    epsilon: f64,
    delta: f64,
    rng: &mut SimRng,
) -> Result<Vec<f64>> {
    dp_trimmed_mean(points, center, radius, 0, epsilon, delta, rng).map(|(x, _)| x)
}

/// User-level (ε, δ)-DP clipped coordinate-wise trimmed mean: [`clipped_trimmed_mean`] plus
/// N(0, s²I), s the analytic-Gaussian scale for the sensitivity 2C/(n − 2·trim). Returns the
/// estimate and s.
///
/// # Errors
/// [`Error::TooFewInputs`] unless n > 2·trim; ε ≤ 0, δ ∉ (0, 1), C ≤ 0; shape errors.
pub fn dp_trimmed_mean(
    points: &[&[f64]],
    center: &[f64],
    radius: f64,
    trim: usize,
    epsilon: f64,
    delta: f64,
    rng: &mut SimRng,
) -> Result<(Vec<f64>, f64)> {
    let sens = trimmed_mean_sensitivity(points.len(), trim, radius)?;
    let noise = AnalyticGaussian::new(sens, epsilon, delta)?;
    let mut x = clipped_trimmed_mean(points, center, radius, trim)?;
    noise.privatize(&mut x, rng)?;
    Ok((x, noise.sigma()))
}

/// The robust + private experiment (stateless; all parameters are in the point).
#[derive(Clone, Copy, Debug, Default)]
pub struct DpRobust;

impl Experiment for DpRobust {
    type Point = DpRobustPoint;
    type Output = DpRobustMetrics;

    fn run_once(&self, p: &DpRobustPoint, rng: &mut SimRng) -> Result<DpRobustMetrics> {
        let c = p.clip_radius()?;
        let attack = attacks::build(&p.attack.name, &p.attack.params, p.compat)?;
        let pop = Population::sample(&p.population, rng)?;
        let honest = pop.honest_updates();
        let f = pop.f();
        // Attacks that search against a defence see the trimmed mean with trim f.
        let mut rule = StepSpec::named("trmean");
        rule.params.set("f", f as f64);
        let defence = PipelineSpec { rule, pre: vec![] }.build(p.compat)?;
        let x = if f > 0 {
            let mut acx = AttackContext {
                rng: &mut *rng,
                defence: Some(&defence),
                defence_state: None,
            };
            let byz = attack.corrupt(honest.view(), f, &mut acx)?;
            honest.concat(&byz)?
        } else {
            honest.clone()
        };
        let xv = x.view();
        let pts: Vec<&[f64]> = xv.cols().collect();
        let center = vec![0.0; pop.d()];
        let mu = pop.population_mean();
        let err = |e: &[f64]| {
            let diff: Vec<f64> = e.iter().zip(mu.iter()).map(|(a, b)| a - b).collect();
            sq_norm(&diff).sqrt()
        };
        let plain = clipped_trimmed_mean(&pts, &center, c, f)?;
        let (avg, _) = dp_trimmed_mean(&pts, &center, c, 0, p.epsilon, p.delta, rng)?;
        let (tm, s) = dp_trimmed_mean(&pts, &center, c, f, p.epsilon, p.delta, rng)?;
        Ok(DpRobustMetrics {
            dp_average: err(&avg),
            dp_trmean: err(&tm),
            trmean_nonprivate: err(&plain),
            trmean_noise_sigma: s,
            f,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::population::RecordsPerUser;
    use crate::privacy::mechanisms::analytic_gaussian::calibrate_sigma;
    use crate::rng::rng_for;
    use rand::RngExt;
    use rand_distr::StandardNormal;

    #[test]
    fn trimmed_mean_known_answer_and_sensitivity() {
        // Values 1, 2, 3, 100 in 1-D, radius 10: clipped to 1, 2, 3, 10; trim 1 keeps 2, 3,
        // mean 2.5 (by hand). Sensitivity 2·10/(4 − 2) = 10.
        let pts: Vec<&[f64]> = vec![&[1.0], &[2.0], &[3.0], &[100.0]];
        let t = clipped_trimmed_mean(&pts, &[0.0], 10.0, 1).unwrap();
        assert_eq!(t, vec![2.5]);
        assert_eq!(trimmed_mean_sensitivity(4, 1, 10.0).unwrap(), 10.0);
        assert!(trimmed_mean_sensitivity(4, 2, 10.0).is_err());
        assert!(clipped_trimmed_mean(&pts, &[0.0, 0.0], 10.0, 1).is_err());
        // +inf projects onto the sphere in its direction: 1, 2, 3, +inf → 1, 2, 3, 10.
        let inf: Vec<&[f64]> = vec![&[1.0], &[2.0], &[3.0], &[f64::INFINITY]];
        assert_eq!(
            clipped_trimmed_mean(&inf, &[0.0], 10.0, 0).unwrap(),
            vec![4.0]
        );
        let nan: Vec<&[f64]> = vec![&[1.0], &[f64::NAN]];
        assert!(clipped_trimmed_mean(&nan, &[0.0], 10.0, 0).is_err());
    }

    #[test]
    fn replacing_one_point_moves_the_trimmed_mean_within_the_sensitivity() {
        // Random 2-D data, every single replacement by a far point: ‖T' − T‖ ≤ 2C/(n − 2f).
        let mut rng = rng_for(1, 0, 0).unwrap();
        let data: Vec<Vec<f64>> = (0..9)
            .map(|_| {
                (0..2)
                    .map(|_| 3.0 * rng.sample::<f64, _>(StandardNormal))
                    .collect()
            })
            .collect();
        let refs: Vec<&[f64]> = data.iter().map(Vec::as_slice).collect();
        let (c, f) = (2.0, 2);
        let base = clipped_trimmed_mean(&refs, &[0.0, 0.0], c, f).unwrap();
        let bound = trimmed_mean_sensitivity(9, f, c).unwrap();
        for i in 0..9 {
            for far in [[50.0, -50.0], [-50.0, 50.0], [0.0, 0.0]] {
                let mut r2 = refs.clone();
                r2[i] = &far;
                let t = clipped_trimmed_mean(&r2, &[0.0, 0.0], c, f).unwrap();
                let moved = sq_norm(&[t[0] - base[0], t[1] - base[1]]).sqrt();
                assert!(moved <= bound + 1e-12, "{moved} > {bound}");
            }
        }
    }

    fn point(eps: f64, frac: f64) -> DpRobustPoint {
        DpRobustPoint {
            population: PopulationConfig {
                n: 40,
                d: 1,
                mean: 1.0,
                byzantine_fraction: frac,
                records: RecordsPerUser::Fixed { m: 10 },
                ..PopulationConfig::default()
            },
            attack: StepSpec::named("sign_flipping"),
            epsilon: eps,
            delta: 1e-5,
            range: 2.0,
            compat: Compat::Native,
        }
    }

    #[test]
    fn runs_and_bounds() {
        let p = point(1.0, 0.2);
        let b = dp_robust_bounds(&p).unwrap();
        // f = ⌊0.2·40⌋ = 8; σ_u = 1/√10.
        assert_eq!((b.f, b.eta), (8, 0.2));
        assert!((b.update_sigma - 0.1f64.sqrt()).abs() < 1e-15);
        // P1-twopoint at k = 1, ε = 1, δ = 1e-5: (1 − 1e-5)/(1 + e).
        assert!((b.p1_twopoint_fail_prob - (1.0 - 1e-5) / (1.0 + 1f64.exp())).abs() < 1e-15);
        let a = DpRobust
            .run_once(&p, &mut rng_for(2, 0, 0).unwrap())
            .unwrap();
        let again = DpRobust
            .run_once(&p, &mut rng_for(2, 0, 0).unwrap())
            .unwrap();
        assert_eq!(a, again);
        assert_eq!(a.f, 8);
        // Noise for sensitivity 2C/(40 − 16) at ε = 1.
        let c = p.clip_radius().unwrap();
        let s = calibrate_sigma(1.0, 1e-5, 2.0 * c / 24.0).unwrap();
        assert_eq!(a.trmean_noise_sigma, s);
        // Averaged over runs, the robust estimator beats the average under sign flipping at
        // large ε (the average is pulled by 2·0.2·1 toward −μ).
        let (mut avg, mut tm) = (0.0, 0.0);
        for r in 0..20 {
            let o = DpRobust
                .run_once(&point(50.0, 0.2), &mut rng_for(3, 0, r).unwrap())
                .unwrap();
            avg += o.dp_average;
            tm += o.dp_trmean;
        }
        assert!(tm < avg, "{tm} vs {avg}");
    }

    #[test]
    fn bad_points_are_refused() {
        let mut p = point(1.0, 0.1);
        p.range = 0.5;
        assert!(p.check().is_err());
        assert!(point(0.0, 0.1).check().is_err());
        let mut p = point(1.0, 0.1);
        p.population.noise = crate::data::noise::Noise::StudentT {
            nu: 3.0,
            scale: 1.0,
        };
        assert!(p.check().is_err());
    }
}
