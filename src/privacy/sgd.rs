//! DP-SGD for linear and logistic regression, in pure Rust.
//!
//! Each step draws a **Poisson sample** (every example independently with probability q),
//! computes per-example gradients in closed form, **clips** each to ℓ2 norm C, sums them,
//! adds N(0, σ²C²I) **to the sum**, divides by the **expected** batch size qN and takes a step
//! θ ← θ − η·ĝ (Abadi et al. 2016, Alg. 1, with Poisson sampling as analysed by Mironov,
//! Talwar & Zhang 2019). An epoch is ⌈1/q⌉ steps. After each epoch the RDP accountant
//! ([`crate::privacy::accounting::rdp`]) reports the ε spent so far at the configured δ
//! (add/remove-one relation).
//!
//! With σ = 0 no noise is drawn and with no clip norm no clipping happens, so DP-SGD then
//! takes exactly the steps of [`plain_sgd`] on the same stream (tested bit for bit).
//!
//! Losses: linear ½(θᵀx − y)², gradient (θᵀx − y)x; logistic (y ∈ {0, 1})
//! ln(1 + e^{θᵀx}) − yθᵀx, gradient (s(θᵀx) − y)x with s the sigmoid.
//!
//! # References
//! - Abadi, Chu, Goodfellow, McMahan, Mironov, Talwar & Zhang, "Deep Learning with
//!   Differential Privacy", CCS 2016, arXiv 1607.00133.
//! - Mironov, Talwar & Zhang, "Rényi Differential Privacy of the Sampled Gaussian
//!   Mechanism", 2019, arXiv 1908.10530.
//! - Bassily, Smith & Thakurta, "Private Empirical Risk Minimization: Efficient Algorithms
//!   and Tight Error Bounds", FOCS 2014, arXiv 1405.7085 (the P4 rate).

use crate::error::{check_non_negative, check_positive};
use crate::privacy::accounting::rdp;
use crate::privacy::{check_delta, check_sampling_rate};
use crate::rng::SimRng;
use crate::{Error, Result};
use rand::RngExt;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// The regression model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// Least squares.
    Linear,
    /// Logistic regression with labels in {0, 1}.
    Logistic,
}

/// A design matrix (row-major, n × d) with labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    d: usize,
    x: Vec<f64>,
    y: Vec<f64>,
}

impl Dataset {
    /// A data set from rows and labels.
    ///
    /// # Errors
    /// Shape mismatch, no rows, or non-finite values.
    pub fn new(rows: &[&[f64]], y: Vec<f64>) -> Result<Dataset> {
        if rows.is_empty() {
            return Err(Error::too_few("DP-SGD", "at least one example", "0"));
        }
        if rows.len() != y.len() {
            return Err(Error::DimensionMismatch {
                what: "examples and labels".into(),
                expected: rows.len(),
                got: y.len(),
            });
        }
        let d = rows[0].len();
        let mut x = Vec::with_capacity(rows.len() * d);
        for r in rows {
            if r.len() != d {
                return Err(Error::DimensionMismatch {
                    what: "example".into(),
                    expected: d,
                    got: r.len(),
                });
            }
            x.extend_from_slice(r);
        }
        if x.iter().chain(&y).any(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "DP-SGD data".into(),
                detail: "a feature or label is not finite".into(),
            });
        }
        Ok(Dataset { d, x, y })
    }

    /// Number of examples.
    pub fn n(&self) -> usize {
        self.y.len()
    }

    /// Dimension.
    pub fn d(&self) -> usize {
        self.d
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.d..(i + 1) * self.d]
    }

    /// Mean loss of θ over the data set.
    pub fn loss(&self, model: Model, theta: &[f64]) -> f64 {
        let n = self.n();
        (0..n)
            .map(|i| {
                let z = dot(theta, self.row(i));
                let y = self.y[i];
                match model {
                    Model::Linear => 0.5 * (z - y) * (z - y),
                    // ln(1 + e^z) − yz, stable for large |z|.
                    Model::Logistic => z.max(0.0) + (-z.abs()).exp().ln_1p() - y * z,
                }
            })
            .sum::<f64>()
            / n as f64
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The scalar r with ∇ℓ(θ; x, y) = r·x.
fn residual(model: Model, theta: &[f64], x: &[f64], y: f64) -> f64 {
    let z = dot(theta, x);
    match model {
        Model::Linear => z - y,
        Model::Logistic => 1.0 / (1.0 + (-z).exp()) - y,
    }
}

/// ℓ2 norm: the plain √Σgᵢ² where that neither overflows nor underflows (so ordinary inputs
/// clip exactly as before), else the largest |gᵢ| times the norm of g/max|gᵢ|. +∞ when an
/// entry is infinite, NaN when one is NaN.
fn norm(g: &[f64]) -> f64 {
    let plain = g.iter().map(|v| v * v).sum::<f64>().sqrt();
    if plain.is_nan() || (plain.is_finite() && plain > 1e-150) {
        return plain;
    }
    let m = g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if m == 0.0 || m == f64::INFINITY {
        return m;
    }
    m * g.iter().map(|v| (v / m) * (v / m)).sum::<f64>().sqrt()
}

/// Most shrink steps in [`clip_in_place`] before it zeroes the vector; each shrinks by
/// 4 ulps and the scaled norm's rounding is a few ulps, so a handful always suffice.
const MAX_CLIP_SHRINKS: u32 = 64;

/// Scales `g` to ℓ2 norm at most `c` (unchanged when already within), guaranteeing
/// ‖g‖ ≤ c for the f64 norm computed here, and returns the final norm. Terminates on every
/// input: the norm is computed without overflow (entries up to f64::MAX), an infinite entry
/// clips to the limit direction (±c/√k on the k infinite entries, 0 elsewhere), and a NaN
/// entry, which has no direction, clips to the zero vector (norm 0 ≤ c keeps the
/// sensitivity; [`dp_sgd`] reports such a gradient as an error before clipping).
pub fn clip_in_place(g: &mut [f64], c: f64) -> f64 {
    let n0 = norm(g);
    if n0 <= c {
        return n0;
    }
    if n0.is_nan() {
        g.iter_mut().for_each(|v| *v = 0.0);
        return 0.0;
    }
    if n0 == f64::INFINITY {
        let k = g.iter().filter(|v| v.is_infinite()).count() as f64;
        let each = c / k.sqrt();
        for v in g.iter_mut() {
            *v = if v.is_infinite() {
                v.signum() * each
            } else {
                0.0
            };
        }
        // Rounding can leave the norm an ulp above c: the finite path fixes that.
        return clip_in_place(g, c);
    }
    let orig = g.to_vec();
    let mut scale = c / n0;
    for _ in 0..MAX_CLIP_SHRINKS {
        for (v, o) in g.iter_mut().zip(&orig) {
            *v = o * scale;
        }
        let n1 = norm(g);
        if n1 <= c {
            return n1;
        }
        scale *= 1.0 - 4.0 * f64::EPSILON;
    }
    g.iter_mut().for_each(|v| *v = 0.0);
    0.0
}

/// Most per-example visits (steps × examples) one DP-SGD run may take, about a minute of
/// work: every step draws a Poisson coin for every example, so a sampling rate of 1e-9 means
/// 1e9 steps per epoch. Larger runs are refused up front instead of running silently for
/// hours.
pub const MAX_EXAMPLE_VISITS: f64 = 2e10;

/// DP-SGD settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgdConfig {
    /// Linear or logistic regression.
    pub model: Model,
    /// Number of epochs (each ⌈1/q⌉ steps).
    pub epochs: usize,
    /// Poisson sampling rate q ∈ (0, 1].
    pub sample_rate: f64,
    /// Learning rate η > 0.
    pub learning_rate: f64,
    /// Per-example clip norm C; `None`: no clipping (then σ must be 0).
    pub clip: Option<f64>,
    /// Noise multiplier σ ≥ 0 (noise N(0, σ²C²I) on the clipped sum).
    pub noise_multiplier: f64,
    /// δ at which ε is reported.
    pub delta: f64,
}

impl SgdConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        check_sampling_rate(self.sample_rate)?;
        check_positive("learning_rate", self.learning_rate)?;
        check_non_negative("noise_multiplier", self.noise_multiplier)?;
        check_delta(self.delta)?;
        if self.epochs == 0 {
            return Err(Error::invalid("epochs", 0, "must be >= 1"));
        }
        match self.clip {
            Some(c) => {
                check_positive("clip", c)?;
            }
            None if self.noise_multiplier > 0.0 => {
                return Err(Error::invalid(
                    "noise_multiplier",
                    self.noise_multiplier,
                    "noise is calibrated to the clip norm: set a clip norm",
                ))
            }
            None => {}
        }
        Ok(())
    }

    /// Refuses a run of more than [`MAX_EXAMPLE_VISITS`] example visits on `n` examples.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `sample_rate` with the size of the run.
    pub fn check_size(&self, n: usize) -> Result<()> {
        let visits = (1.0 / self.sample_rate).ceil() * self.epochs as f64 * n as f64;
        if visits > MAX_EXAMPLE_VISITS {
            return Err(Error::invalid(
                "sample_rate",
                self.sample_rate,
                format!(
                    "{} epochs x ceil(1/q) steps x {n} examples = {visits:.1e} example \
                     visits, more than {MAX_EXAMPLE_VISITS:.0e} (each step draws a Poisson \
                     coin per example); raise the sampling rate or lower epochs or examples",
                    self.epochs
                ),
            ));
        }
        Ok(())
    }

    /// Steps per epoch, ⌈1/q⌉.
    pub fn steps_per_epoch(&self) -> u64 {
        (1.0 / self.sample_rate).ceil() as u64
    }
}

/// What one epoch of training reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EpochReport {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Total steps so far.
    pub steps: u64,
    /// Mean training loss after the epoch, computed on the training data **without noise**
    /// for reporting: it is not covered by ε (only θ is).
    pub loss: f64,
    /// ε spent so far at the configured δ (RDP accountant); `None` without noise (ε = ∞).
    pub epsilon: Option<f64>,
}

/// The trained parameters and the per-epoch reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trained {
    /// Final θ.
    pub theta: Vec<f64>,
    /// One report per epoch.
    pub epochs: Vec<EpochReport>,
}

/// Runs DP-SGD from θ = 0 (module docs).
///
/// # Errors
/// As [`SgdConfig::validate`]; a diverging run (non-finite θ) is an
/// [`Error::NonFinite`] naming the step.
pub fn dp_sgd(data: &Dataset, cfg: &SgdConfig, rng: &mut SimRng) -> Result<Trained> {
    cfg.validate()?;
    let (n, d) = (data.n(), data.d());
    cfg.check_size(n)?;
    let q = cfg.sample_rate;
    let per_epoch = cfg.steps_per_epoch();
    let orders = rdp::default_orders();
    let rdp_step = if cfg.noise_multiplier > 0.0 {
        Some(rdp::subsampled_gaussian_rdp_vec(
            q,
            cfg.noise_multiplier,
            &orders,
        )?)
    } else {
        None
    };
    let expected = q * n as f64;
    let mut theta = vec![0.0; d];
    let mut acc = vec![0.0; d];
    let mut g = vec![0.0; d];
    let mut reports = Vec::with_capacity(cfg.epochs);
    let mut steps = 0u64;
    for epoch in 1..=cfg.epochs {
        for _ in 0..per_epoch {
            acc.iter_mut().for_each(|a| *a = 0.0);
            for i in 0..n {
                if rng.random::<f64>() >= q {
                    continue;
                }
                let x = data.row(i);
                let r = residual(cfg.model, &theta, x, data.y[i]);
                for (gj, xj) in g.iter_mut().zip(x) {
                    *gj = r * xj;
                }
                if g.iter().any(|v| !v.is_finite()) {
                    return Err(Error::NonFinite {
                        what: "DP-SGD per-example gradient".into(),
                        detail: format!(
                            "overflows f64 at step {} (features or labels too large; \
                             rescale the data)",
                            steps + 1
                        ),
                    });
                }
                if let Some(c) = cfg.clip {
                    clip_in_place(&mut g, c);
                }
                for (a, gj) in acc.iter_mut().zip(&g) {
                    *a += gj;
                }
            }
            if cfg.noise_multiplier > 0.0 {
                // invariant: validate() requires a clip norm when σ > 0.
                let sd = cfg.noise_multiplier * cfg.clip.unwrap_or(0.0);
                for a in acc.iter_mut() {
                    *a += sd * rng.sample::<f64, _>(StandardNormal);
                }
            }
            for (t, a) in theta.iter_mut().zip(&acc) {
                *t -= cfg.learning_rate * a / expected;
            }
            steps += 1;
            if theta.iter().any(|t| !t.is_finite()) {
                return Err(Error::NonFinite {
                    what: "DP-SGD parameters".into(),
                    detail: format!("diverged at step {steps}; lower the learning rate"),
                });
            }
        }
        let epsilon = match &rdp_step {
            Some(one) => {
                let tot: Vec<f64> = one.iter().map(|r| r * steps as f64).collect();
                Some(rdp::rdp_to_epsilon(&orders, &tot, cfg.delta)?.0)
            }
            None => None,
        };
        reports.push(EpochReport {
            epoch,
            steps,
            loss: data.loss(cfg.model, &theta),
            epsilon,
        });
    }
    Ok(Trained {
        theta,
        epochs: reports,
    })
}

/// Plain minibatch SGD with Poisson sampling and the same step rule (sum of gradients over
/// the expected batch size), no clipping and no noise: the reference DP-SGD must reproduce
/// with σ = 0 and no clip norm.
///
/// # Errors
/// As [`dp_sgd`].
pub fn plain_sgd(
    data: &Dataset,
    model: Model,
    sample_rate: f64,
    learning_rate: f64,
    epochs: usize,
    rng: &mut SimRng,
) -> Result<Vec<f64>> {
    check_sampling_rate(sample_rate)?;
    check_positive("learning_rate", learning_rate)?;
    let (n, d) = (data.n(), data.d());
    let steps = (1.0 / sample_rate).ceil() as u64 * epochs as u64;
    let expected = sample_rate * n as f64;
    let mut theta = vec![0.0; d];
    let mut grad = vec![0.0; d];
    for _ in 0..steps {
        grad.iter_mut().for_each(|a| *a = 0.0);
        for i in 0..n {
            if rng.random::<f64>() < sample_rate {
                let x = data.row(i);
                let r = residual(model, &theta, x, data.y[i]);
                for (a, xj) in grad.iter_mut().zip(x) {
                    *a += r * xj;
                }
            }
        }
        for (t, a) in theta.iter_mut().zip(&grad) {
            *t -= learning_rate * a / expected;
        }
    }
    Ok(theta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;

    fn toy(model: Model) -> Dataset {
        // y = 2x₁ − x₂ (+ sign for logistic) on a fixed grid of 40 points.
        let rows: Vec<Vec<f64>> = (0..40)
            .map(|i| vec![(i as f64 / 20.0) - 1.0, ((i * 7 % 40) as f64 / 20.0) - 1.0])
            .collect();
        let y: Vec<f64> = rows
            .iter()
            .map(|r| {
                let z = 2.0 * r[0] - r[1];
                match model {
                    Model::Linear => z,
                    Model::Logistic => f64::from(u8::from(z > 0.0)),
                }
            })
            .collect();
        let refs: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
        Dataset::new(&refs, y).unwrap()
    }

    fn cfg(model: Model) -> SgdConfig {
        SgdConfig {
            model,
            epochs: 5,
            sample_rate: 0.25,
            learning_rate: 0.5,
            clip: None,
            noise_multiplier: 0.0,
            delta: 1e-5,
        }
    }

    #[test]
    fn no_noise_no_clip_is_plain_sgd_exactly() {
        for model in [Model::Linear, Model::Logistic] {
            let data = toy(model);
            let c = cfg(model);
            let dp = dp_sgd(&data, &c, &mut rng_from_seed(9)).unwrap();
            let plain = plain_sgd(&data, model, 0.25, 0.5, 5, &mut rng_from_seed(9)).unwrap();
            assert_eq!(dp.theta, plain, "{model:?}");
            assert!(dp.epochs.iter().all(|e| e.epsilon.is_none()));
        }
    }

    #[test]
    fn linear_regression_learns_and_reports_growing_epsilon() {
        let data = toy(Model::Linear);
        let c = SgdConfig {
            epochs: 20,
            clip: Some(10.0),
            noise_multiplier: 0.5,
            ..cfg(Model::Linear)
        };
        let t = dp_sgd(&data, &c, &mut rng_from_seed(1)).unwrap();
        let eps: Vec<f64> = t.epochs.iter().map(|e| e.epsilon.unwrap()).collect();
        assert!(eps.windows(2).all(|w| w[0] < w[1]), "{eps:?}");
        // Started at loss ½·mean(y²) ≈ 1; ends well below.
        assert!(t.epochs.last().unwrap().loss < 0.5 * data.loss(Model::Linear, &[0.0, 0.0]));
        // ε after the last epoch is the accountant's ε for the same number of steps.
        let steps = 20 * 4;
        let want = rdp::epsilon(0.25, 0.5, steps, 1e-5).unwrap();
        assert_eq!(*eps.last().unwrap(), want);
    }

    #[test]
    fn clipping_bounds_the_norm() {
        let mut g = vec![3.0, 4.0];
        let n = clip_in_place(&mut g, 1.0);
        assert!(n <= 1.0 && (g[0] - 0.6).abs() < 1e-15);
        let mut h = vec![0.3, 0.4];
        assert_eq!(clip_in_place(&mut h, 1.0), 0.5);
        assert_eq!(h, vec![0.3, 0.4]);
    }

    #[test]
    fn clipping_terminates_on_huge_infinite_and_nan_gradients() {
        // Used to loop forever: the norm of 1e160-sized entries overflowed to ∞, the scale
        // c/∞ = 0 turned ∞ entries into NaN, and "NaN ≤ c" never held.
        let mut g = vec![1e160, -1e160, 3.0];
        let n = clip_in_place(&mut g, 1.0);
        assert!(
            n <= 1.0 && (g[0] - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-15,
            "{g:?}"
        );
        let mut g = vec![f64::INFINITY, 1.0, f64::NEG_INFINITY];
        let n = clip_in_place(&mut g, 2.0);
        assert!(
            n <= 2.0 && g[1] == 0.0 && g[0] > 1.4 && g[2] < -1.4,
            "{g:?}"
        );
        let mut g = vec![f64::NAN, 1.0];
        assert_eq!(clip_in_place(&mut g, 1.0), 0.0);
        assert_eq!(g, vec![0.0, 0.0]);
        let mut g = vec![f64::MAX, f64::MAX];
        assert!(clip_in_place(&mut g, f64::MAX) <= f64::MAX);
        let mut g = vec![1e-200, 1e-200];
        assert!(clip_in_place(&mut g, 1e-201) <= 1e-201);
    }

    #[test]
    fn overflowing_gradients_are_an_error_not_a_hang() {
        let rows: Vec<Vec<f64>> = (0..8).map(|i| vec![1e160 * f64::from(i + 1)]).collect();
        let refs: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
        let data = Dataset::new(&refs, vec![1e160; 8]).unwrap();
        let c = SgdConfig {
            clip: Some(1.0),
            noise_multiplier: 1.0,
            ..cfg(Model::Linear)
        };
        let e = dp_sgd(&data, &c, &mut rng_from_seed(0)).unwrap_err();
        assert!(e.to_string().contains("overflows"), "{e}");
    }

    #[test]
    fn unbounded_runs_are_refused_up_front() {
        // q = 1e-9: 1e9 steps per epoch over 40 examples; refused at once, not run.
        let c = SgdConfig {
            sample_rate: 1e-9,
            ..cfg(Model::Linear)
        };
        let t = std::time::Instant::now();
        let e = dp_sgd(&toy(Model::Linear), &c, &mut rng_from_seed(0)).unwrap_err();
        assert!(e.to_string().contains("example visits"), "{e}");
        assert!(t.elapsed().as_secs() < 1);
    }

    #[test]
    fn bad_configs_are_named() {
        let data = toy(Model::Linear);
        let mut c = cfg(Model::Linear);
        c.noise_multiplier = 1.0;
        let e = dp_sgd(&data, &c, &mut rng_from_seed(0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`noise_multiplier`"), "{e}");
        c.clip = Some(1.0);
        c.sample_rate = 0.0;
        assert!(dp_sgd(&data, &c, &mut rng_from_seed(0)).is_err());
    }
}
