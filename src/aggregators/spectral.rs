//! Spectral filtering under bounded covariance: soft down-weighting along the top eigenvector
//! of the weighted covariance until it is no larger than honest data would produce.
//!
//! Weights start at wᵢ = 1. Each round computes the weighted mean μ and the top eigenpair
//! (λ, v) of the weighted covariance Σ_w = Σwᵢ(xᵢ − μ)(xᵢ − μ)ᵀ/Σw (exact, see below). If
//! λ ≤ T the filter stops; otherwise, with scores τᵢ = ((xᵢ − μ)·v)², every weight becomes
//! wᵢ(1 − τᵢ/τ_max) (τ_max over inputs of positive weight). At most 2f weight is removed in
//! total: the round that would cross n − 2f is scaled down to land on it, and the filter
//! stops there. The output is Σwᵢxᵢ/Σw. Each round zeroes at least one weight, so there are
//! at most n rounds.
//!
//! Native to lbounds (not in ByzFL): `spectral`, keys `f` (default 0) **or** `eps` (the
//! fraction f/n; removal budget 2·eps·n), `sigma` (the bound σ in Σ ≼ σ²I of the honest
//! distribution; estimated when absent) and `c` (slack, default 0.5). Requirement: n > 2f
//! (with `eps`: 0 ≤ eps < 1/2).
//!
//! # Stopping threshold
//!
//! With k inputs drawn with covariance σ²I in dimension d, the top eigenvalue of the sample
//! covariance sits at the Marchenko–Pastur edge σ²(1 + √(d/k))² (≈ σ²d/k when d ≫ k, the federated
//! regime, where comparing with σ² alone would filter honest data forever). lbounds stops at
//! T = (1 + c)·σ̂²·(1 + √(d/Σw))². Without `sigma`, σ̂² = med_i med_{j≠i}‖xᵢ − xⱼ‖² / (2d ·
//! (1 − 2/(9d))³): honest pairs have E‖xᵢ − xⱼ‖² = 2 tr Σ, the inner median of an honest i
//! ranges over a majority of honest j whenever f < (n − 1)/2, the outer median is over a
//! majority of honest i, and the Wilson–Hilferty factor turns the median of a χ²_d/d into its
//! mean. It estimates the average variance tr Σ/d: equal to σ² for isotropic honest data,
//! below it otherwise, in which case the filter removes more (never beyond 2f).
//!
//! # How it runs at d = 10⁶
//!
//! One O(n²d) pass forms the centred Gram matrix; every round works on the n×n matrix
//! √wᵢ√wⱼ(xᵢ − μ)·(xⱼ − μ)/Σw, whose spectrum is that of Σ_w, with an exact top eigenpair
//! (Householder tridiagonalization, Sturm bisection, inverse iteration; no power iteration,
//! no randomness); one O(nd) pass forms the output.
//!
//! **Far and non-finite input.** A vector with ±∞ or NaN (read as +∞ by
//! `Updates::new_untrusted`) is set aside and spends one unit of f (detected on the Gram
//! matrix at no extra pass; with nothing to remove, f = 0, it is rejected with
//! [`Error::NonFinite`]), and inputs whose squares overflow are rescaled exactly (module
//! `far`). One input far out cannot wipe out the others' spread: from 10⁴ times that spread on,
//! the weighted covariances and σ̂'s pairwise distances come from a Gram matrix about the
//! majority (`linalg::gram_about_majority`).
//!
//! # References
//! Diakonikolas, Kamath, Kane, Li, Moitra & Stewart, "Robust Estimators in High Dimensions
//! without the Computational Intractability", FOCS 2016, arXiv 1604.06443. Diakonikolas &
//! Kane, "Algorithmic High-Dimensional Robust Statistics", Cambridge University Press 2023,
//! ch. 2 (filtering under bounded covariance). Yin, Bai & Krishnaiah, "On the Limit of the
//! Largest Eigenvalue of the Large Dimensional Sample Covariance Matrix", Probab. Theory
//! Related Fields 1988 (the edge used for T).

use super::far::{badly_scaled, tame};
use super::linalg::{gram_about_majority, weighted_mean, Embedding};
use super::{
    require_finite, require_honest_majority, require_pairwise_fits, AggContext, Aggregator,
};
use crate::data::UpdatesView;
use crate::params::{Compat, Params, Spec};
use crate::{Error, Result};
use nalgebra::{DMatrix, DVector};

/// Registry entry.
pub const SPEC: Spec<dyn Aggregator> = Spec {
    name: "spectral",
    byzfl: None,
    keys: &["f", "eps", "sigma", "c"],
    summary: "spectral filter (bounded covariance): down-weight along the top eigenvector",
    build,
};

fn build(p: &Params, _: Compat) -> Result<Box<dyn Aggregator>> {
    let budget = match (p.0.get("f"), p.0.get("eps")) {
        (Some(_), Some(&e)) => {
            return Err(Error::invalid(
                "eps",
                e,
                "give either f or eps (= f/n), not both",
            ))
        }
        (_, Some(_)) => {
            let eps = p.non_negative("eps", 0.0)?;
            if eps >= 0.5 {
                return Err(Error::invalid("eps", eps, "must be < 1/2"));
            }
            Budget::Eps(eps)
        }
        _ => Budget::F(p.f()?),
    };
    let sigma = match p.0.get("sigma") {
        Some(_) => Some(p.positive("sigma", 1.0)?),
        None => None,
    };
    Ok(Box::new(Spectral {
        budget,
        sigma,
        c: p.non_negative("c", 0.5)?,
    }))
}

/// How much weight the filter may remove.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Budget {
    /// f declared Byzantine inputs: at most 2f weight.
    F(usize),
    /// A fraction eps < 1/2: at most 2·eps·n weight.
    Eps(f64),
}

/// The spectral filter.
#[derive(Clone, Copy, Debug)]
pub struct Spectral {
    budget: Budget,
    sigma: Option<f64>,
    c: f64,
}

/// What one filter run computed.
#[derive(Clone, Debug)]
pub struct SpectralOutcome {
    /// Final weights (output = Σwᵢxᵢ/Σw).
    pub weights: Vec<f64>,
    /// Rounds that removed weight.
    pub rounds: usize,
    /// The σ² used (given or estimated).
    pub sigma2: f64,
}

impl Spectral {
    /// A filter with removal budget `budget`, honest-covariance bound `sigma` (estimated when
    /// `None`) and threshold slack `c` ≥ 0.
    pub fn new(budget: Budget, sigma: Option<f64>, c: f64) -> Self {
        Spectral { budget, sigma, c }
    }

    fn removable(&self, n: usize) -> f64 {
        match self.budget {
            Budget::F(f) => 2.0 * f as f64,
            Budget::Eps(e) => 2.0 * e * n as f64,
        }
    }

    /// Runs the filter and returns its weights.
    ///
    /// # Errors
    /// [`Error::TooFewInputs`] when 2f ≥ n; [`Error::NonFinite`] for ±∞ input.
    pub fn filter(&self, x: UpdatesView<'_>) -> Result<SpectralOutcome> {
        self.check_n(x.n())?;
        let (n, d) = (x.n(), x.d());
        let removable = self.removable(n);
        let mut out = SpectralOutcome {
            weights: vec![1.0; n],
            rounds: 0,
            sigma2: self.sigma.map_or(f64::NAN, |s| s * s),
        };
        if removable <= 0.0 {
            require_finite("spectral", x)?;
            return Ok(out);
        }
        // A Gram matrix about the majority (the filter needs only weighted covariances and
        // distances): it keeps the majority's spread when an input is far out.
        let gram = match gram_about_majority(x, "spectral") {
            Ok(g) if !badly_scaled(&g) => g,
            Ok(_) | Err(Error::NonFinite { .. }) => return self.filter_tamed(x),
            Err(e) => return Err(e),
        };
        if out.sigma2.is_nan() {
            out.sigma2 = robust_sigma2(&gram, d);
        }
        let emb = Embedding::gram_only(gram, d);
        if emb.is_degenerate() {
            return Ok(out);
        }
        let floor = n as f64 - removable;
        let w = &mut out.weights;
        for _ in 0..n {
            let total: f64 = w.iter().sum();
            let room = total - floor;
            if room <= 0.0 {
                break;
            }
            let top = emb.weighted_top(w);
            let edge = 1.0 + (d as f64 / total).sqrt();
            if top.lambda <= (1.0 + self.c) * out.sigma2 * edge * edge {
                break;
            }
            let tau = top.tau;
            let tmax = tau
                .iter()
                .zip(w.iter())
                .filter(|(_, &wi)| wi > 0.0)
                .map(|(t, _)| *t)
                .fold(0.0, f64::max);
            if tmax <= 0.0 || tmax.is_nan() {
                break;
            }
            let delta: Vec<f64> = w.iter().zip(&tau).map(|(wi, t)| wi * t / tmax).collect();
            let removed: f64 = delta.iter().sum();
            out.rounds += 1;
            let scale = if removed >= room { room / removed } else { 1.0 };
            for (wi, di) in w.iter_mut().zip(&delta) {
                *wi = (*wi - scale * di).max(0.0);
            }
            if scale < 1.0 {
                break;
            }
        }
        Ok(out)
    }
}

impl Spectral {
    /// [`Spectral::filter`] on inputs at infinity or with overflowing squares (see `far`):
    /// each non-finite input spends one unit of f (for `eps`, of ⌊eps·n⌋), σ is rescaled with
    /// the inputs.
    fn filter_tamed(&self, x: UpdatesView<'_>) -> Result<SpectralOutcome> {
        let n = x.n();
        let f = match self.budget {
            Budget::F(f) => f,
            Budget::Eps(e) => (e * n as f64).floor() as usize,
        };
        let t = tame(x, f, "spectral")?;
        let k = n - t.kept.len();
        let budget = match self.budget {
            Budget::F(_) => Budget::F(t.f),
            Budget::Eps(e) => Budget::Eps(((e * n as f64 - k as f64) / (n - k) as f64).max(0.0)),
        };
        let sigma = self.sigma.map(|s| s / t.scale);
        let mut out = Spectral::new(budget, sigma, self.c).filter(t.x.view())?;
        out.weights = t.weights_back(&out.weights, n);
        out.sigma2 *= t.scale * t.scale;
        Ok(out)
    }
}

/// med_i med_{j≠i} ‖xᵢ − xⱼ‖² / (2d (1 − 2/(9d))³), from a Gram matrix about any point.
fn robust_sigma2(g: &DMatrix<f64>, d: usize) -> f64 {
    let n = g.nrows();
    if n < 2 {
        return 0.0;
    }
    let mut per_point: Vec<f64> = (0..n)
        .map(|i| {
            let mut row: Vec<f64> = (0..n)
                .filter(|&j| j != i)
                .map(|j| (g[(i, i)] + g[(j, j)] - 2.0 * g[(i, j)]).max(0.0))
                .collect();
            median(&mut row)
        })
        .collect();
    let d = d as f64;
    let wh = (1.0 - 2.0 / (9.0 * d)).powi(3);
    median(&mut per_point) / (2.0 * d * wh)
}

/// Median (mean of the two middle values for an even count) of a non-empty slice.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let k = v.len();
    if k % 2 == 1 {
        v[k / 2]
    } else {
        0.5 * (v[k / 2 - 1] + v[k / 2])
    }
}

impl Aggregator for Spectral {
    fn name(&self) -> &'static str {
        "spectral"
    }

    fn check_n(&self, n: usize) -> Result<()> {
        require_pairwise_fits("spectral", n)?;
        match self.budget {
            Budget::F(f) => require_honest_majority("spectral", n, f),
            Budget::Eps(_) => Ok(()),
        }
    }

    fn aggregate(&self, x: UpdatesView<'_>, _cx: &mut AggContext<'_>) -> Result<DVector<f64>> {
        let out = self.filter(x)?;
        Ok(weighted_mean(x, &out.weights))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Updates;
    use crate::rng::{rng_from_seed, SimRng};
    use rand::RngExt;
    use rand_distr::StandardNormal;

    fn gaussian_rows(n: usize, d: usize, rng: &mut SimRng) -> Vec<Vec<f64>> {
        (0..n)
            .map(|_| (0..d).map(|_| rng.sample(StandardNormal)).collect())
            .collect()
    }

    fn spectral(p: &Params) -> Box<dyn Aggregator> {
        build(p, Compat::Native).unwrap()
    }

    fn run(agg: &dyn Aggregator, u: &Updates) -> Result<DVector<f64>> {
        let mut rng = rng_from_seed(0);
        agg.aggregate(u.view(), &mut AggContext::new(&mut rng))
    }

    #[test]
    fn known_answer_1d() {
        // Points -1, 0, 1, 100; f = 1 (remove ≤ 2), sigma = 1, c = 0.5.
        // Round 1: W = 4, μ = 25, λ = (26² + 25² + 24² + 75²)/4 = 1875.5 > T = 1.5·(1 + √(1/4))²
        //   = 3.375; τ = (676, 625, 576, 5625), so w = (1 − 676/5625, 1 − 625/5625,
        //   1 − 576/5625, 0), removing 1.334 < 2.
        // Round 2: W = 3 − 1877/5625 ≈ 2.666, λ ≈ 0.667 < T ≈ 3.9: stop.
        // Output: (w₂ − w₀)/W = (100/5625)/(3 − 1877/5625).
        let u = Updates::from_rows(&[vec![-1.0], vec![0.0], vec![1.0], vec![100.0]]).unwrap();
        let agg = spectral(&Params::new().with("f", 1.0).with("sigma", 1.0));
        let out = run(agg.as_ref(), &u).unwrap();
        let want = (100.0 / 5625.0) / (3.0 - 1877.0 / 5625.0);
        assert!((out[0] - want).abs() < 1e-12, "{} vs {want}", out[0]);
        // eps = 1/4 is the same budget (2·eps·n = 2).
        let agg = spectral(&Params::new().with("eps", 0.25).with("sigma", 1.0));
        let out = run(agg.as_ref(), &u).unwrap();
        assert!((out[0] - want).abs() < 1e-12);
    }

    #[test]
    fn budget_caps_the_removed_weight() {
        // Same points with a tiny sigma: the filter never passes the test and must stop at
        // exactly n − 2f = 2 weight.
        let u = Updates::from_rows(&[vec![-1.0], vec![0.0], vec![1.0], vec![100.0]]).unwrap();
        let sp = Spectral::new(Budget::F(1), Some(1e-6), 0.5);
        let out = sp.filter(u.view()).unwrap();
        let total: f64 = out.weights.iter().sum();
        assert!((total - 2.0).abs() < 1e-12, "{total}");
        assert_eq!(out.weights[3], 0.0);
    }

    #[test]
    fn honest_data_is_left_alone_and_outliers_removed() {
        // 50 N(0, I) points in d = 100: λ_max ≈ (1 + √2)² ≈ 5.8 < T ≈ 8.7, so no weight moves
        // and the output is the mean.
        let mut rng = rng_from_seed(2);
        let rows = gaussian_rows(50, 100, &mut rng);
        let u = Updates::from_rows(&rows).unwrap();
        let sp = Spectral::new(Budget::F(10), None, 0.5);
        let out = sp.filter(u.view()).unwrap();
        assert_eq!(out.rounds, 0);
        assert!((out.sigma2 - 1.0).abs() < 0.1, "{}", out.sigma2);
        // Now 10 of them replaced by 5·1: the filter lands near the honest mean.
        let mut rows = rows;
        for row in rows.iter_mut().skip(40) {
            row.iter_mut().for_each(|v| *v = 5.0);
        }
        let u = Updates::from_rows(&rows).unwrap();
        let got = run(&sp, &u).unwrap();
        let honest = u.view().mean_of(0..40);
        let plain = u.view().mean();
        assert!((&got - &honest).norm() < 0.1 * (&plain - &honest).norm());
    }

    #[test]
    fn parameter_and_input_errors() {
        let bad = [
            Params::new().with("f", 1.0).with("eps", 0.1),
            Params::new().with("eps", 0.5),
            Params::new().with("sigma", 0.0),
            Params::new().with("c", -1.0),
        ];
        for p in &bad {
            assert!(build(p, Compat::Native).is_err(), "{p:?}");
        }
        let u = Updates::from_rows(&[vec![0.0], vec![1.0], vec![2.0], vec![3.0]]).unwrap();
        let e = run(spectral(&Params::new().with("f", 2.0)).as_ref(), &u)
            .unwrap_err()
            .to_string();
        assert!(e.contains("n > 2f = 4"), "{e}");
        // f = 0: the mean.
        assert_eq!(run(spectral(&Params::new()).as_ref(), &u).unwrap()[0], 1.5);
        let mut m = DMatrix::from_element(1, 3, 1.0);
        m[(0, 1)] = f64::INFINITY;
        let inf = Updates::new_allow_inf(m).unwrap();
        // The infinite input is set aside (one unit of f); with f = 0 it cannot be.
        assert_eq!(
            run(spectral(&Params::new().with("f", 1.0)).as_ref(), &inf).unwrap()[0],
            1.0
        );
        assert!(matches!(
            run(spectral(&Params::new()).as_ref(), &inf),
            Err(Error::NonFinite { .. })
        ));
    }
}
