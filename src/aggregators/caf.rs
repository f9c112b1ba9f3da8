//! Covariance-bound agnostic filter (CAF): iterative spectral down-weighting, returning the
//! weighted mean seen with the smallest top eigenvalue of the weighted covariance.
//!
//! Weights start at cᵢ = 1. While Σcᵢ > n − 2f: μ = Σcᵢxᵢ/Σc; rᵢ = xᵢ − μ; (λ, v) = top
//! eigenpair of the weighted covariance Σcᵢrᵢrᵢᵀ/Σc; remember μ if λ is the smallest so far;
//! τᵢ = (rᵢ·v)²; cᵢ ← cᵢ(1 − τᵢ/τ_max). The remembered μ is returned.
//!
//! ByzFL: `CAF(f=0)`. Requirement: n > 2f.
//!
//! # `Compat::Byzfl` versus `Compat::Native`
//!
//! * **Byzfl** reproduces ByzFL 0.0.11 in distribution: (λ, v) come from **one** power step
//!   from a fresh random start u ~ N(0, I_d)/‖·‖ per round (w = Σcᵢrᵢ(rᵢ·u)/Σc, v = w/‖w‖,
//!   λ = v·w), drawn from `cx.rng`, and τ_max is the maximum over **all** inputs, including
//!   those whose weight is already 0. Bit-for-bit agreement would need NumPy's global stream;
//!   only the law of every draw is the same (see below). When an input with weight 0 keeps
//!   the largest τ, the other weights shrink by factors close to 1 and ByzFL's loop can run
//!   for a very long time; lbounds stops after [`BYZFL_MAX_ROUNDS`] rounds with
//!   [`Error::Unsupported`] rather than return something ByzFL would not.
//! * **Native** uses the exact top eigenpair (to a few ulps, see below; no randomness,
//!   `cx.rng` untouched) and takes τ_max over inputs of positive weight, so each round zeroes
//!   at least one weight and the loop ends after at most n rounds.
//!
//! Where ByzFL's output is undefined: with f = 0 its loop never runs and it returns `None`;
//! lbounds returns the mean (both modes). When all inputs of positive weight coincide, its
//! power step divides 0 by 0, the loop ends with NaN weights and the best μ so far is returned
//! (`None` in the first round); ByzFL mode returns that best μ (the current one in the first
//! round), native mode sees λ = 0, the smallest possible, and returns the current μ.
//!
//! # How it runs at d = 10⁶
//!
//! Every rᵢ lies in the span of the centred inputs (dimension m ≤ n − 1), so lbounds forms
//! the centred Gram matrix once (O(n²d), SIMD gemm), runs every round in O(n²)–O(n³) without
//! touching d, and goes back to ℝᵈ only for the returned weighted mean. Native rounds take
//! the top eigenpair of the n×n matrix √ŵᵢ√ŵⱼ(xᵢ − μ)·(xⱼ − μ), which has the spectrum of the
//! weighted covariance, by Householder tridiagonalization, Sturm bisection and inverse
//! iteration. ByzFL-mode rounds work in coordinates of the span (a pivoted Cholesky factor of
//! the Gram matrix); there only u's component in the span matters, and it is a/‖g‖ with
//! a ~ N(0, I_m) and ‖g‖² = ‖a‖² + χ²(d − m), drawn in O(m): exactly the law of ByzFL's O(d)
//! draw.
//!
//! **Far and non-finite input.** Natively a vector with ±∞ or NaN (read as +∞ by
//! `Updates::new_untrusted`) is set aside and spends one unit of f, and inputs whose squares
//! overflow are rescaled exactly (module `far`); one input far out cannot wipe out the others'
//! spread: from 10⁴ times that spread on, the weighted covariances come from a Gram matrix
//! about the majority (`linalg::gram_about_majority`), not about the mean. With
//! f = 0, and in `Compat::Byzfl`, non-finite input is rejected ([`Error::NonFinite`],
//! detected on the Gram matrix at no extra pass): ByzFL's arithmetic turns it into NaN.
//!
//! # References
//! Allouah, Guerraoui & Stephan, "Towards Trustworthy Federated Learning with Untrusted
//! Participants", ICML 2025, arXiv 2505.01874. Diakonikolas, Kamath, Kane, Li, Moitra &
//! Stewart, "Robust Estimators in High Dimensions without the Computational Intractability",
//! FOCS 2016, arXiv 1604.06443 (the filter it builds on).

use super::far::{badly_scaled, tame};
use super::linalg::{centred_gram, gram_about_majority, weighted_mean, Embedding};
use super::{
    require_finite, require_honest_majority, require_pairwise_fits, AggContext, Aggregator,
};
use crate::data::UpdatesView;
use crate::params::{Compat, Params, Spec};
use crate::rng::SimRng;
use crate::{Error, Result};
use nalgebra::DVector;

/// Registry entry.
pub const SPEC: Spec<dyn Aggregator> = Spec {
    name: "caf",
    byzfl: Some("CAF"),
    keys: &["f"],
    summary: "covariance-bound agnostic filter: spectral down-weighting, smallest-eigenvalue mean",
    build,
};

fn build(p: &Params, compat: Compat) -> Result<Box<dyn Aggregator>> {
    Ok(Box::new(Caf::new(p.f()?, compat)))
}

/// Most rounds of ByzFL's loop that `Compat::Byzfl` runs before giving up.
pub const BYZFL_MAX_ROUNDS: usize = 100_000;

/// CAF with `f` declared Byzantine inputs.
#[derive(Clone, Copy, Debug)]
pub struct Caf {
    f: usize,
    compat: Compat,
}

/// What one CAF call computed.
#[derive(Clone, Debug)]
pub struct CafOutcome {
    /// The weights of the returned mean (μ = Σcᵢxᵢ/Σc).
    pub weights: Vec<f64>,
    /// The (estimated, in ByzFL mode) top eigenvalue of the weighted covariance there.
    pub lambda: f64,
    /// Rounds of the filtering loop.
    pub rounds: usize,
}

impl Caf {
    /// CAF with `f` declared Byzantine inputs; `compat` picks ByzFL's random power step.
    pub fn new(f: usize, compat: Compat) -> Self {
        Caf { f, compat }
    }

    /// Runs the filter and returns the weights of the selected mean.
    ///
    /// # Errors
    /// [`Error::TooFewInputs`] when 2f ≥ n; [`Error::NonFinite`] for ±∞ input;
    /// [`Error::Unsupported`] when ByzFL's loop exceeds [`BYZFL_MAX_ROUNDS`].
    pub fn filter(&self, x: UpdatesView<'_>, rng: &mut SimRng) -> Result<CafOutcome> {
        self.check_n(x.n())?;
        let n = x.n();
        if self.f == 0 {
            require_finite("caf", x)?;
            return Ok(CafOutcome {
                weights: vec![1.0; n],
                lambda: f64::NAN,
                rounds: 0,
            });
        }
        // Native rounds only need weighted covariances, which a Gram matrix about any point
        // gives; one about the majority keeps its spread when an input is far out.
        let gram = match self.compat {
            Compat::Native => gram_about_majority(x, "caf"),
            Compat::Byzfl => centred_gram(x, "caf"),
        };
        let gram = match gram {
            Ok(g) if self.compat == Compat::Byzfl || !badly_scaled(&g) => g,
            Ok(_) | Err(Error::NonFinite { .. }) if self.compat == Compat::Native => {
                // Inputs at infinity or with overflowing squares (see `far`).
                let t = tame(x, self.f, "caf")?;
                let mut out = Caf::new(t.f, self.compat).filter(t.x.view(), rng)?;
                out.weights = t.weights_back(&out.weights, n);
                out.lambda *= t.scale * t.scale;
                return Ok(out);
            }
            r => r?,
        };
        match self.compat {
            Compat::Native => Ok(self.native(&Embedding::gram_only(gram, x.d()))),
            Compat::Byzfl => self.byzfl(&Embedding::from_gram(gram, x.d()), rng),
        }
    }

    fn stop(&self, n: usize) -> f64 {
        (n - 2 * self.f) as f64
    }

    fn native(&self, emb: &Embedding) -> CafOutcome {
        let n = emb.n();
        let mut c = vec![1.0; n];
        let mut csum = n as f64;
        let mut best = CafOutcome {
            weights: c.clone(),
            lambda: f64::INFINITY,
            rounds: 0,
        };
        let mut rounds = 0;
        while csum > self.stop(n) {
            rounds += 1;
            let top = emb.weighted_top(&c);
            if top.lambda < best.lambda {
                best.lambda = top.lambda;
                best.weights.clone_from(&c);
            }
            let tau = top.tau;
            let tmax = tau
                .iter()
                .zip(&c)
                .filter(|(_, &ci)| ci > 0.0)
                .map(|(t, _)| *t)
                .fold(0.0, f64::max);
            if tmax <= 0.0 || tmax.is_nan() {
                // Every weighted input sits at μ along v (λ = 0): nothing left to filter.
                break;
            }
            for (ci, t) in c.iter_mut().zip(&tau) {
                *ci *= (1.0 - t / tmax).max(0.0);
            }
            csum = c.iter().sum();
        }
        best.rounds = rounds;
        best
    }

    fn byzfl(&self, emb: &Embedding, rng: &mut SimRng) -> Result<CafOutcome> {
        let n = emb.n();
        let m = emb.m();
        let mut c = vec![1.0; n];
        let mut csum = n as f64;
        let mut best: Option<CafOutcome> = None;
        let mut rounds = 0;
        let mut r = nalgebra::DMatrix::<f64>::zeros(m, n);
        while csum > self.stop(n) {
            rounds += 1;
            if rounds > BYZFL_MAX_ROUNDS {
                return Err(Error::Unsupported(format!(
                    "caf (ByzFL semantics): the filtering loop did not reach total weight \
                     n - 2f = {} within {BYZFL_MAX_ROUNDS} rounds (weight left {csum:.6}); \
                     ByzFL would keep looping. Use the native CAF",
                    n - 2 * self.f
                )));
            }
            let mu = emb.weighted_mean(&c);
            for i in 0..n {
                let mut col = r.column_mut(i);
                col.copy_from(&emb.z.column(i));
                col -= &mu;
            }
            let u = emb.random_start(rng);
            let p = r.tr_mul(&u);
            let mut w = DVector::<f64>::zeros(m);
            for i in 0..n {
                if c[i] != 0.0 {
                    w.axpy(c[i] * p[i], &r.column(i), 1.0);
                }
            }
            w /= csum;
            let lambda = w.norm();
            if lambda <= 0.0 || !lambda.is_finite() {
                // ByzFL: 0/0 → NaN eigenvalue and weights; the loop ends with the best so far.
                break;
            }
            let v = &w / lambda;
            let lambda = v.dot(&w);
            if best.as_ref().is_none_or(|b| lambda < b.lambda) {
                best = Some(CafOutcome {
                    weights: c.clone(),
                    lambda,
                    rounds: 0,
                });
            }
            let proj = r.tr_mul(&v);
            let tau: Vec<f64> = proj.iter().map(|p| p * p).collect();
            let tmax = tau.iter().copied().fold(0.0, f64::max);
            for (ci, t) in c.iter_mut().zip(&tau) {
                *ci *= 1.0 - t / tmax;
            }
            csum = c.iter().sum();
        }
        let mut out = best.unwrap_or(CafOutcome {
            weights: c,
            lambda: 0.0,
            rounds: 0,
        });
        out.rounds = rounds;
        Ok(out)
    }
}

impl Aggregator for Caf {
    fn name(&self) -> &'static str {
        "caf"
    }

    fn check_n(&self, n: usize) -> Result<()> {
        require_pairwise_fits("caf", n)?;
        require_honest_majority("caf", n, self.f)
    }

    fn aggregate(&self, x: UpdatesView<'_>, cx: &mut AggContext<'_>) -> Result<DVector<f64>> {
        let out = self.filter(x, cx.rng)?;
        Ok(weighted_mean(x, &out.weights))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Updates;
    use crate::rng::rng_from_seed;
    use rand::RngExt;
    use rand_distr::StandardNormal;

    fn run(f: usize, compat: Compat, u: &Updates, seed: u64) -> Result<DVector<f64>> {
        let mut rng = rng_from_seed(seed);
        Caf::new(f, compat).aggregate(u.view(), &mut AggContext::new(&mut rng))
    }

    #[test]
    fn known_answer_1d() {
        // Points 0, 0, 1, 1, 10 with f = 1 (stop once Σc ≤ 3), d = 1.
        // Round 1: μ = 12/5 = 2.4, λ = Σ(x−μ)²/5 = (5.76·2 + 1.96·2 + 57.76)/5 = 14.64,
        //   τ = (5.76, 5.76, 1.96, 1.96, 57.76), so c = 1 − τ/57.76 ≈ (0.9003, 0.9003, 0.9661,
        //   0.9661, 0), Σc ≈ 3.733 > 3.
        // Round 2: μ = 2·0.9661/3.733 ≈ 0.5176, λ = Σcᵢ(xᵢ−μ)²/Σc ≈ 0.2497 (smaller: kept);
        //   τ max at the zero-weight point 10 is excluded in native mode, so τ_max is the
        //   larger of 0.5176² and 0.4824², i.e. the two zeros drop to weight 0 and Σc ≈ 0.13.
        // Returned: the round-2 mean ≈ 0.5176.
        let u =
            Updates::from_rows(&[vec![0.0], vec![0.0], vec![1.0], vec![1.0], vec![10.0]]).unwrap();
        let out = run(1, Compat::Native, &u, 0).unwrap();
        let c1 = 1.0 - 1.96 / 57.76;
        let c0 = 1.0 - 5.76 / 57.76;
        let want = 2.0 * c1 / (2.0 * c0 + 2.0 * c1);
        assert!((out[0] - want).abs() < 1e-12, "{} vs {want}", out[0]);
        // In 1-D one power step is exact (u = ±1), so ByzFL mode is deterministic; it differs
        // only by taking τ_max over all inputs, including the zero-weight 10, which makes the
        // loop shrink the weights slowly. Reference: that loop written out in 1-D.
        let xs = [0.0, 0.0, 1.0, 1.0, 10.0];
        let mut c = [1.0f64; 5];
        let (mut best_l, mut best_mu) = (f64::INFINITY, f64::NAN);
        let mut rounds = 0;
        while c.iter().sum::<f64>() > 3.0 {
            rounds += 1;
            let cs: f64 = c.iter().sum();
            let mu = xs.iter().zip(&c).map(|(x, c)| c * x).sum::<f64>() / cs;
            let l = xs
                .iter()
                .zip(&c)
                .map(|(x, c)| c * (x - mu) * (x - mu))
                .sum::<f64>()
                / cs;
            if l < best_l {
                (best_l, best_mu) = (l, mu);
            }
            let tau: Vec<f64> = xs.iter().map(|x| (x - mu) * (x - mu)).collect();
            let tmax = tau.iter().copied().fold(0.0, f64::max);
            for (c, t) in c.iter_mut().zip(&tau) {
                *c *= 1.0 - t / tmax;
            }
        }
        assert!(rounds > 10, "{rounds}");
        let caf = Caf::new(1, Compat::Byzfl);
        let got = caf.filter(u.view(), &mut rng_from_seed(3)).unwrap();
        assert_eq!(got.rounds, rounds);
        let byz = run(1, Compat::Byzfl, &u, 3).unwrap();
        assert!((byz[0] - best_mu).abs() < 1e-9, "{} vs {best_mu}", byz[0]);
    }

    #[test]
    fn filters_planted_outliers() {
        // 40 N(0, I) points and 10 copies of 10·1 in d = 50: both modes land near 0.
        let mut rng = rng_from_seed(1);
        let rows: Vec<Vec<f64>> = (0..50)
            .map(|i| {
                (0..50)
                    .map(|_| {
                        if i < 40 {
                            rng.sample::<f64, _>(StandardNormal)
                        } else {
                            10.0
                        }
                    })
                    .collect()
            })
            .collect();
        let u = Updates::from_rows(&rows).unwrap();
        for compat in [Compat::Native, Compat::Byzfl] {
            let out = run(10, compat, &u, 2).unwrap();
            let err = out.norm();
            // The honest mean has norm ≈ √(50/40) ≈ 1.1; the plain mean is at ≈ 14.
            assert!(err < 2.5, "{compat:?}: {err}");
        }
    }

    #[test]
    fn byzfl_mode_is_seeded_and_native_is_not() {
        let mut rng = rng_from_seed(4);
        let rows: Vec<Vec<f64>> = (0..12)
            .map(|_| (0..30).map(|_| rng.sample(StandardNormal)).collect())
            .collect();
        let u = Updates::from_rows(&rows).unwrap();
        assert_eq!(
            run(3, Compat::Byzfl, &u, 7).unwrap(),
            run(3, Compat::Byzfl, &u, 7).unwrap()
        );
        assert_eq!(
            run(3, Compat::Native, &u, 1).unwrap(),
            run(3, Compat::Native, &u, 2).unwrap()
        );
        let out = Caf::new(3, Compat::Native)
            .filter(u.view(), &mut rng_from_seed(0))
            .unwrap();
        assert!(out.rounds <= 12);
    }

    #[test]
    fn edge_cases_and_errors() {
        let u = Updates::from_rows(&[vec![1.0], vec![2.0], vec![6.0]]).unwrap();
        // f = 0: the mean (ByzFL returns None).
        assert_eq!(run(0, Compat::Byzfl, &u, 0).unwrap().as_slice(), &[3.0]);
        let e = run(2, Compat::Native, &u, 0).unwrap_err().to_string();
        assert!(e.contains("n > 2f = 4"), "{e}");
        // Identical inputs: the common point.
        let same = Updates::from_rows(&vec![vec![2.0, 1.0]; 5]).unwrap();
        for compat in [Compat::Native, Compat::Byzfl] {
            assert_eq!(run(2, compat, &same, 0).unwrap().as_slice(), &[2.0, 1.0]);
        }
        let mut m = nalgebra::DMatrix::from_element(2, 3, 1.0);
        m[(0, 2)] = f64::INFINITY;
        let inf = Updates::new_allow_inf(m).unwrap();
        // ByzFL computes NaN (an error); native sets the infinite input aside.
        assert!(matches!(
            run(1, Compat::Byzfl, &inf, 0),
            Err(Error::NonFinite { .. })
        ));
        assert_eq!(
            run(1, Compat::Native, &inf, 0).unwrap().as_slice(),
            &[1.0, 1.0]
        );
    }
}
