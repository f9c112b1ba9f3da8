//! Two-world attack: the Byzantine users sample the hard instance of the Gaussian-mean lower
//! bound under Huber contamination, so that the contaminated sample looks exactly like a clean
//! sample from a world whose mean is shifted by Δ* along one coordinate.
//!
//! With n_h honest vectors, f Byzantine ones, η = f/(n_h + f) < 1/2 and σ the per-coordinate
//! honest standard deviation,
//!
//! Δ* = 2σ·Φ⁻¹(1/(2(1 − η))),   TV(N(0, σ²), N(Δ*, σ²)) = 2Φ(Δ*/(2σ)) − 1 = η/(1 − η).
//!
//! Centred at the honest mean ḡ, let p0 = N(ḡ_k, σ²) and p1 = N(ḡ_k + Δ*, σ²) along coordinate
//! k (key `coord`, default 0). Each Byzantine vector draws coordinate k from
//! Q0 ∝ (p1 − p0)₊ and every other coordinate j from N(ḡ_j, σ²), independently; the f vectors
//! are **different** draws. The observed law along k is then
//! (1 − η)p0 + ηQ0 = (1 − η)·max(p0, p1) = (1 − η)p1 + ηQ1 with Q1 ∝ (p0 − p1)₊: the same law as
//! an uncontaminated sample from the world shifted by Δ* (with Q1 as its contamination). No
//! estimator can tell the two worlds apart, so any estimator errs by at least Δ*/2 =
//! σΦ⁻¹(1/(2(1 − η))) = b_H(η) in one of them — the Huber minimax bias, which the median
//! attains. Every Q0 draw lies above ḡ_k + Δ*/2.
//!
//! **Sampler** (rejection, as in the bounds notes R1): draw x ~ N(Δ*, σ²) until x > Δ*/2, accept
//! with probability 1 − exp(−(2xΔ* − Δ*²)/(2σ²)) = 1 − p0(x)/p1(x); the overall acceptance
//! rate per proposal is ∫(p1 − p0)₊ = TV(p0, p1) = 2Φ(Δ*/(2σ)) − 1 = η/(1 − η), so about
//! (1 − η)/η proposals (one normal each, plus a uniform for the fraction 1/(2(1 − η)) above
//! Δ*/2) per draw.
//!
//! **σ** (key `sigma`): by default the pooled honest estimate σ̂² = (1/d) Σ_j var_j with
//! ddof = 1 (needs ≥ 2 honest vectors that are not all equal); `sigma` > 0 overrides it.
//! Requirements: f < n_h (η < 1/2), coord < d. Not in ByzFL.
//!
//! # References
//! Huber, "Robust Estimation of a Location Parameter", Ann. Math. Statist. 35(1), 1964 (the
//! minimax bias σΦ⁻¹(1/(2(1 − η)))); Chen, Gao & Ren, "Robust Covariance and Scatter Matrix
//! Estimation under Huber's Contamination Model", Ann. Statist. 46(5), 2018 (the rate
//! σ(η + √(d/n))); El-Mhamdi, Farhadkhani, Guerraoui, Gupta, Hoang, Pinot, Rouault & Stephan,
//! "On the Impossible Safety of Large AI Models", arXiv 2209.15259.

use super::a_little_is_enough::byzfl_mean;
use super::{require_attackers, Attack, AttackContext};
use crate::data::{Updates, UpdatesView};
use crate::params::{Compat, Params, Spec};
use crate::rng::SimRng;
use crate::{Error, Result};
use nalgebra::DMatrix;
use rand::RngExt;
use rand_distr::StandardNormal;
use statrs::distribution::{ContinuousCDF, Normal};

/// Registry entry.
pub const SPEC: Spec<dyn Attack> = Spec {
    name: "two_world",
    byzfl: None,
    keys: &["sigma", "coord"],
    summary: "Huber hard instance: Byzantine draws make the sample look shifted by Delta* (f distinct vectors)",
    build,
};

fn build(p: &Params, _: Compat) -> Result<Box<dyn Attack>> {
    let sigma = if p.0.contains_key("sigma") {
        Some(p.positive("sigma", 1.0)?)
    } else {
        None
    };
    Ok(Box::new(TwoWorld {
        sigma,
        coord: p.count("coord", 0)?,
    }))
}

/// The two-world (Huber hard instance) attack.
#[derive(Clone, Copy, Debug, Default)]
pub struct TwoWorld {
    sigma: Option<f64>,
    coord: usize,
}

impl TwoWorld {
    /// Along coordinate `coord`, with σ given (`Some`, > 0) or estimated from the honest
    /// vectors (`None`).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a given σ that is not finite and > 0.
    pub fn new(sigma: Option<f64>, coord: usize) -> Result<Self> {
        if let Some(s) = sigma {
            crate::error::check_positive("sigma", s)?;
        }
        Ok(TwoWorld { sigma, coord })
    }
}

/// Δ* = 2σΦ⁻¹(1/(2(1 − η))): the largest mean shift that η-Huber contamination can hide.
///
/// # Errors
/// [`Error::InvalidParameter`] unless 0 < η < 1/2 and σ > 0 (both finite).
pub fn delta_star(eta: f64, sigma: f64) -> Result<f64> {
    if !(eta > 0.0 && eta < 0.5) {
        return Err(Error::invalid("eta", eta, "must lie in (0, 1/2)"));
    }
    crate::error::check_positive("sigma", sigma)?;
    Ok(2.0 * sigma * std_normal().inverse_cdf(1.0 / (2.0 * (1.0 - eta))))
}

fn std_normal() -> Normal {
    Normal::standard()
}

/// One draw from Q0 ∝ (p1 − p0)₊ in standard units (p0 = N(0, 1), p1 = N(`delta`, 1),
/// `delta` > 0), by rejection from N(`delta`, 1) restricted to x > `delta`/2. Every draw is
/// > `delta`/2.
pub fn sample_q0(rng: &mut SimRng, delta: f64) -> f64 {
    sample_q0_counted(rng, delta).0
}

/// [`sample_q0`] with the number of N(`delta`, 1) proposals it took (≥ 1), whose mean is
/// 1/TV = (1 − η)/η: the tests check the acceptance rate against the module docs.
fn sample_q0_counted(rng: &mut SimRng, delta: f64) -> (f64, u64) {
    let mut proposals = 0u64;
    loop {
        proposals += 1;
        let x = delta + rng.sample::<f64, _>(StandardNormal);
        if x <= delta / 2.0 {
            continue;
        }
        // 1 − p0(x)/p1(x) = 1 − exp(−δ(x − δ/2)), computed without cancellation.
        let accept = -(-delta * (x - delta / 2.0)).exp_m1();
        if rng.random::<f64>() < accept {
            return (x, proposals);
        }
    }
}

/// CDF of Q0 in standard units: 0 below `delta`/2, then
/// [(Φ(t − δ) − Φ(−δ/2)) − (Φ(t) − Φ(δ/2))] / (2Φ(δ/2) − 1).
pub fn q0_cdf(t: f64, delta: f64) -> f64 {
    if t <= delta / 2.0 {
        return 0.0;
    }
    let n = std_normal();
    let tv = 2.0 * n.cdf(delta / 2.0) - 1.0;
    ((n.cdf(t - delta) - n.cdf(-delta / 2.0)) - (n.cdf(t) - n.cdf(delta / 2.0))) / tv
}

impl Attack for TwoWorld {
    fn name(&self) -> &'static str {
        "two_world"
    }

    fn corrupt(
        &self,
        honest: UpdatesView<'_>,
        f: usize,
        cx: &mut AttackContext<'_>,
    ) -> Result<Updates> {
        require_attackers(f)?;
        let (nh, d) = (honest.n(), honest.d());
        if f >= nh {
            return Err(Error::too_few(
                "two_world",
                format!(
                    "more honest than Byzantine vectors (eta = f/(n_h+f) < 1/2), n_h > f = {f}"
                ),
                format!("n_h = {nh}"),
            ));
        }
        if self.coord >= d {
            return Err(Error::invalid(
                "coord",
                self.coord,
                format!("must be smaller than the dimension d = {d}"),
            ));
        }
        let mean = byzfl_mean(honest);
        let sigma = match self.sigma {
            Some(s) => s,
            None => pooled_sigma(honest, &mean)?,
        };
        let eta = f as f64 / (nh + f) as f64;
        let delta = delta_star(eta, 1.0)?;
        let rng = &mut *cx.rng;
        let mut m = DMatrix::zeros(d, f);
        for mut col in m.column_iter_mut() {
            for (j, v) in col.iter_mut().enumerate() {
                let z = if j == self.coord {
                    sample_q0(rng, delta)
                } else {
                    rng.sample::<f64, _>(StandardNormal)
                };
                *v = mean[j] + sigma * z;
            }
        }
        Updates::new(m)
    }
}

/// σ̂ = √((1/d) Σ_j var_j), var_j with ddof = 1. Where the squares overflow (honest entries
/// near 1e300) or underflow (near 1e-300), σ̂ is recomputed on the deviations times 2⁻ᵉ, 2ᵉ
/// the binade of the largest, then scaled back: exact in powers of two, so σ̂ is what an f64
/// without an exponent limit gives (as ALIE's `scaled_mean_std`); elsewhere the plain sum's
/// bits are kept.
fn pooled_sigma(x: UpdatesView<'_>, mean: &nalgebra::DVector<f64>) -> Result<f64> {
    if x.n() < 2 {
        return Err(Error::too_few(
            "two_world",
            "at least 2 honest vectors to estimate sigma (or pass sigma)",
            format!("{} honest vector", x.n()),
        ));
    }
    let count = ((x.n() - 1) * x.d()) as f64;
    let sum_of_squares = |scale: f64| {
        let mut ss = 0.0;
        for c in x.cols() {
            for (v, m) in c.iter().zip(mean.iter()) {
                let e = (v - m) / scale;
                ss += e * e;
            }
        }
        (ss / count).sqrt() * scale
    };
    let mut s = sum_of_squares(1.0);
    if !(s > 0.0 && s.is_finite()) {
        let largest = x
            .cols()
            .flat_map(|c| c.iter().zip(mean.iter()).map(|(v, m)| (v - m).abs()))
            .fold(0.0, f64::max);
        let scale = super::binade(largest);
        if scale >= f64::MIN_POSITIVE && scale.is_finite() {
            s = sum_of_squares(scale);
        }
    }
    if s > 0.0 && s.is_finite() {
        Ok(s)
    } else if s == 0.0 {
        Err(Error::invalid(
            "sigma",
            s,
            "the honest vectors have no spread to estimate sigma from; pass sigma > 0",
        ))
    } else {
        Err(Error::invalid(
            "sigma",
            s,
            "the honest vectors' spread overflows f64 (entries near f64::MAX); pass sigma",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;

    #[test]
    fn delta_star_matches_the_huber_bias_table() {
        // bounds notes R1, σ = 1: b_H(η) = Δ*/2 = Φ⁻¹(1/(2(1−η))) =
        // 0.01266, 0.06601, 0.13971, 0.31864, 0.56595, 0.96742 for η = .01, .05, .1, .2, .3, .4.
        let table = [
            (0.01, 0.01266),
            (0.05, 0.06601),
            (0.10, 0.13971),
            (0.20, 0.31864),
            (0.30, 0.56595),
            (0.40, 0.96742),
        ];
        for (eta, b) in table {
            let got = delta_star(eta, 1.0).unwrap() / 2.0;
            assert!((got - b).abs() < 6e-6, "eta {eta}: {got}");
        }
        assert!((delta_star(0.2, 3.0).unwrap() - 6.0 * 0.318639).abs() < 1e-5);
        assert!(delta_star(0.5, 1.0).is_err());
        assert!(delta_star(0.0, 1.0).is_err());
        assert!(delta_star(0.2, 0.0).is_err());
    }

    #[test]
    fn byzantine_draws_sit_above_the_midpoint_and_differ() {
        // 30 honest N(0,1) vectors in d = 3, f = 10 (η = 0.25), coord = 1, σ = 1 given.
        let mut rng = rng_from_seed(2);
        let rows: Vec<Vec<f64>> = (0..30)
            .map(|_| {
                (0..3)
                    .map(|_| rng.sample::<f64, _>(StandardNormal))
                    .collect()
            })
            .collect();
        let h = Updates::from_rows(&rows).unwrap();
        let a = TwoWorld::new(Some(1.0), 1).unwrap();
        let b = a
            .corrupt(h.view(), 10, &mut AttackContext::new(&mut rng))
            .unwrap();
        assert_eq!((b.n(), b.d()), (10, 3));
        let mean = byzfl_mean(h.view());
        let half = delta_star(0.25, 1.0).unwrap() / 2.0;
        for c in b.view().cols() {
            assert!(c[1] > mean[1] + half, "{} vs {}", c[1], mean[1] + half);
        }
        let mut firsts: Vec<f64> = b.view().cols().map(|c| c[0]).collect();
        firsts.sort_by(f64::total_cmp);
        firsts.dedup();
        assert_eq!(firsts.len(), 10, "the f vectors must be different draws");
    }

    #[test]
    fn mixture_is_symmetric_about_half_delta() {
        // The two-world identity, analytically: M(t) = (1−η)Φ(t) + η·F_Q0(t) must satisfy
        // M(t) = 1 − M(Δ − t) (M is symmetric about Δ/2, i.e. it is also (1−η)N(Δ,1) + ηQ1
        // with Q1 the mirror image of Q0). Checked on a grid, η ∈ {0.05, 0.2, 0.4}, to 1e-10 (statrs
        // Φ and the differences of CDFs lose ≈ 1e-12; a wrong Q0 would be off by ≈ 1e-2).
        let n = std_normal();
        for eta in [0.05, 0.2, 0.4] {
            let d = delta_star(eta, 1.0).unwrap();
            let m = |t: f64| (1.0 - eta) * n.cdf(t) + eta * q0_cdf(t, d);
            for i in -40..=40 {
                let t = d / 2.0 + 0.1 * i as f64;
                assert!((m(t) - (1.0 - m(d - t))).abs() < 1e-10, "eta {eta}, t {t}");
            }
        }
    }

    #[test]
    fn sampler_matches_q0_ks_and_mean() {
        // N = 20000 draws at η = 0.2 (Δ = 0.6373). Kolmogorov–Smirnov distance to the exact
        // CDF below the α = 0.001 critical value 1.95/√N = 0.0138; sample mean within 5
        // standard errors of E[Q0] = Δ/(2η) (from E[M] = Δ/2 and E[p0] = 0).
        let eta = 0.2;
        let d = delta_star(eta, 1.0).unwrap();
        let mut rng = rng_from_seed(77);
        let nsamp = 20000;
        let mut xs: Vec<f64> = (0..nsamp).map(|_| sample_q0(&mut rng, d)).collect();
        assert!(xs.iter().all(|&x| x > d / 2.0));
        xs.sort_by(f64::total_cmp);
        let nf = nsamp as f64;
        let ks = xs
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let f = q0_cdf(x, d);
                ((i + 1) as f64 / nf - f).max(f - i as f64 / nf)
            })
            .fold(0.0, f64::max);
        assert!(ks < 1.95 / nf.sqrt(), "KS = {ks}");
        let mean = xs.iter().sum::<f64>() / nf;
        let sd = (xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (nf - 1.0)).sqrt();
        assert!(
            (mean - d / (2.0 * eta)).abs() < 5.0 * sd / nf.sqrt(),
            "{mean}"
        );
    }

    /// The sampler's acceptance rate per proposal is TV(p0, p1) = 2Φ(Δ*/2) − 1 = η/(1 − η)
    /// (module docs; issue 12 corrected a comment that said 2η). N = 20000 draws per η; the
    /// rate N/P (P proposals in all, a sum of N geometric counts) has standard error
    /// ≈ p·√((1 − p)/N) by the delta method, and must lie within 5 of them of η/(1 − η)
    /// (2η is 5–90 standard errors away for these η). Fails if the acceptance probability
    /// loses its Δ/2 offset (`exp_m1(−δx)`, checked: at η = 0.05 the rate becomes 0.0570
    /// against 0.0526, 12 standard errors off).
    #[test]
    fn acceptance_rate_is_eta_over_one_minus_eta() {
        let mut rng = rng_from_seed(91);
        let nsamp = 20000u64;
        for eta in [0.05, 0.2, 0.4] {
            let d = delta_star(eta, 1.0).unwrap();
            let proposals: u64 = (0..nsamp).map(|_| sample_q0_counted(&mut rng, d).1).sum();
            let rate = nsamp as f64 / proposals as f64;
            let p = eta / (1.0 - eta);
            let tv = 2.0 * std_normal().cdf(d / 2.0) - 1.0;
            // The identity itself, to 1e-9: statrs' Φ⁻¹ in Δ* is good to ≈ 3e-11 here.
            assert!((tv - p).abs() < 1e-9, "eta {eta}: TV {tv} vs {p}");
            let se = p * ((1.0 - p) / nsamp as f64).sqrt();
            assert!(
                (rate - p).abs() < 5.0 * se,
                "eta {eta}: rate {rate} vs {p} (se {se})"
            );
        }
    }

    #[test]
    fn contaminated_median_lands_on_half_delta() {
        // 8000 honest N(0,1) scalars plus f = 2000 two-world draws (η = 0.2, σ estimated):
        // the sample median of all 10000 is within 0.1 of Δ*/2 = 0.3186 (its standard error is
        // ≈ 1/(2·(1−η)φ(Δ/2)·√10000) ≈ 0.017, plus ≈ 0.011 from centring at the honest mean).
        let mut rng = rng_from_seed(5);
        let rows: Vec<Vec<f64>> = (0..8000)
            .map(|_| vec![rng.sample::<f64, _>(StandardNormal)])
            .collect();
        let h = Updates::from_rows(&rows).unwrap();
        let b = TwoWorld::default()
            .corrupt(h.view(), 2000, &mut AttackContext::new(&mut rng))
            .unwrap();
        let mut all: Vec<f64> = h.view().as_slice().to_vec();
        all.extend_from_slice(b.view().as_slice());
        all.sort_by(f64::total_cmp);
        let med = (all[4999] + all[5000]) / 2.0;
        let half = delta_star(0.2, 1.0).unwrap() / 2.0;
        assert!((med - half).abs() < 0.1, "median {med} vs {half}");
    }

    /// σ̂ at entries near 1e±300, where the plain squares overflow to ∞ or underflow to 0
    /// (read as no spread), is the σ̂ of the same vectors at scale 1, times the scale: here
    /// 1e300·√2 and 1e-300·√2 for two vectors (1, −1)·c and (−1, 1)·c (mean 0, each var 2c²).
    /// Mutation that makes it fail (checked): the recomputation left out (both refused).
    #[test]
    fn sigma_of_far_and_tiny_vectors_is_scaled_not_refused() {
        for c in [1e300, 1e-300, 1.0] {
            let h = Updates::from_rows(&[vec![c, -c], vec![-c, c]]).unwrap();
            let mean = byzfl_mean(h.view());
            let s = pooled_sigma(h.view(), &mean).unwrap();
            let want = c * std::f64::consts::SQRT_2;
            // Relative 1e-15: the scaled sum and the square root round twice (4 ulps).
            assert!((s - want).abs() <= 1e-15 * want, "c = {c}: {s} vs {want}");
        }
    }

    #[test]
    fn errors() {
        let mut rng = rng_from_seed(0);
        let h = Updates::from_rows(&[vec![0.0, 1.0], vec![1.0, 0.0]]).unwrap();
        let a = TwoWorld::default();
        // f = n_h: η = 1/2.
        assert!(a
            .corrupt(h.view(), 2, &mut AttackContext::new(&mut rng))
            .is_err());
        assert!(a
            .corrupt(h.view(), 0, &mut AttackContext::new(&mut rng))
            .is_err());
        let e = TwoWorld::new(None, 2)
            .unwrap()
            .corrupt(h.view(), 1, &mut AttackContext::new(&mut rng))
            .unwrap_err()
            .to_string();
        assert!(e.contains("coord"), "{e}");
        // σ cannot be estimated from one vector or from identical vectors, but can be given.
        let one = Updates::from_rows(&[vec![0.0], vec![0.0]]).unwrap();
        assert!(a
            .corrupt(one.view(), 1, &mut AttackContext::new(&mut rng))
            .is_err());
        assert!(TwoWorld::new(Some(2.0), 0)
            .unwrap()
            .corrupt(one.view(), 1, &mut AttackContext::new(&mut rng))
            .is_ok());
        assert!(TwoWorld::new(Some(0.0), 0).is_err());
        // Honest entries at ±1.5e308 spread past f64::MAX: named as an overflow, not as no
        // spread.
        let far = Updates::from_rows(&[vec![1.5e308, -1.5e308], vec![-1.5e308, 1.5e308]]);
        let e = a
            .corrupt(far.unwrap().view(), 1, &mut AttackContext::new(&mut rng))
            .unwrap_err()
            .to_string();
        assert!(e.contains("overflows"), "{e}");
        let p = Params::new().with("sigma", -1.0);
        assert!(crate::attacks::build("two_world", &p, Compat::Native).is_err());
        let p = Params::new().with("coord", 0.5);
        assert!(crate::attacks::build("two_world", &p, Compat::Native).is_err());
    }
}
