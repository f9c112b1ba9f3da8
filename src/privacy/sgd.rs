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
//! For auditing ([`crate::privacy::audit::dpsgd`]), [`dp_sgd_audited`] is the same loop with
//! three optional hooks ([`AuditHooks`]): white-box gradient canaries (extra examples whose
//! per-example gradient the adversary sets, sampled and clipped like every other example), an
//! observer of every iterate θ_t, and a [`PlantedBug`], a deliberate realistic deviation the
//! audit must catch. [`dp_sgd`] is `dp_sgd_audited` with no hooks, bit for bit the DP-SGD it
//! always was (tested against θ computed before the hooks existed).
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

/// A deliberate deviation from DP-SGD, each one a bug found in (or proposed for) real DP
/// libraries, for checking that an audit catches it. [`dp_sgd`] never plants one; only
/// [`dp_sgd_audited`] (driven by `lbounds audit dpsgd`) does. Each keeps the accountant's ε
/// unchanged, so the reported ε is a false promise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlantedBug {
    /// The correct DP-SGD.
    #[default]
    None,
    /// Per-example clipping skipped: every gradient enters the sum at full norm while the
    /// noise is still σC (the sensitivity is unbounded).
    NoClipping,
    /// Noise and normalisation disagree: the noise is scaled for the mean (standard
    /// deviation σC/(qN), the sensitivity of the averaged gradient) but added to the clipped
    /// **sum**, which is then divided by qN, so the noise on the update is qN times too
    /// small (Opacus divides its noise by the batch size under `loss_reduction = "mean"`
    /// (Opacus issue #200); summed gradients under that setting give exactly this). The
    /// mirror image, noise calibrated for the sum but added to the mean (jax_privacy issue
    /// #383, PR #395), over-noises by qN: a utility bug, not a privacy bug, which an audit
    /// rightly cannot flag.
    NoiseOnMean,
    /// The sampler's rate is [`WRONG_RATE_FACTOR`]·q while the accountant is given q: each
    /// of 4 data-parallel workers Poisson-samples its own quarter of the data with the global
    /// expected batch size qN, i.e. at rate qN/(N/4) = 4q, and the accountant is given the
    /// global q = (batch size)/N. The division by the expected batch size still uses qN.
    WrongSamplingRate,
    /// One noise vector is drawn at the first step and added again at every step (a noise
    /// generator re-seeded identically each step, or noise cached outside the loop): the
    /// noise cancels from the difference of any two updates.
    ReusedNoise,
}

/// The sampling-rate multiplier of [`PlantedBug::WrongSamplingRate`] (4 workers).
pub const WRONG_RATE_FACTOR: f64 = 4.0;

impl PlantedBug {
    /// Every variant, the correct one first.
    pub const ALL: [PlantedBug; 5] = [
        PlantedBug::None,
        PlantedBug::NoClipping,
        PlantedBug::NoiseOnMean,
        PlantedBug::WrongSamplingRate,
        PlantedBug::ReusedNoise,
    ];

    /// The name used on the command line and in records.
    pub fn name(self) -> &'static str {
        match self {
            PlantedBug::None => "none",
            PlantedBug::NoClipping => "no-clipping",
            PlantedBug::NoiseOnMean => "noise-on-mean",
            PlantedBug::WrongSamplingRate => "wrong-sampling-rate",
            PlantedBug::ReusedNoise => "reused-noise",
        }
    }

    /// The variant called `name` (`_` and `-` alike, any case).
    ///
    /// # Errors
    /// [`Error::Unknown`] with the closest name as suggestion, or, when no name is close,
    /// [`Error::InvalidParameter`] listing them all.
    pub fn parse(name: &str) -> Result<PlantedBug> {
        let want = name.trim().to_ascii_lowercase().replace('_', "-");
        if let Some(b) = PlantedBug::ALL.into_iter().find(|b| b.name() == want) {
            return Ok(b);
        }
        let names = PlantedBug::ALL.map(PlantedBug::name);
        match Error::unknown("planted bug", name, names) {
            e @ Error::Unknown {
                suggestion: Some(_),
                ..
            } => Err(e),
            _ => Err(Error::invalid(
                "planted-bug",
                name,
                format!("must be one of {}", names.join(", ")),
            )),
        }
    }
}

impl std::fmt::Display for PlantedBug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A white-box gradient canary: an extra training example whose per-example gradient is set
/// by the adversary (the same at every step), given sparsely as (coordinate, value) pairs.
/// It is Poisson-sampled and clipped exactly like the data's examples (Nasr, Song,
/// Thakurta, Papernot & Carlini, "Adversary instantiation: lower bounds for differentially
/// private machine learning", S&P 2021, arXiv 2101.04535: the gradient canary).
#[derive(Clone, Debug, PartialEq)]
pub struct GradientCanary {
    /// Non-zero entries of the gradient, coordinates < d.
    pub entries: Vec<(usize, f64)>,
}

impl GradientCanary {
    /// The Dirac canary: gradient `magnitude`·e_`coordinate`.
    pub fn dirac(coordinate: usize, magnitude: f64) -> GradientCanary {
        GradientCanary {
            entries: vec![(coordinate, magnitude)],
        }
    }

    fn check(&self, d: usize) -> Result<()> {
        for &(j, v) in &self.entries {
            if j >= d {
                return Err(Error::invalid(
                    "canary coordinate",
                    j,
                    format!("must be below the dimension {d}"),
                ));
            }
            if !v.is_finite() {
                return Err(Error::invalid("canary gradient", v, "must be finite"));
            }
        }
        Ok(())
    }
}

/// What [`AuditHooks::observe`] calls after every step: the step number and θ_t.
pub type Observer<'a> = dyn FnMut(u64, &[f64]) + 'a;

/// Optional audit hooks of [`dp_sgd_audited`]; the default is none of them.
#[derive(Default)]
pub struct AuditHooks<'a> {
    /// The deviation to plant ([`PlantedBug::None`]: the correct DP-SGD).
    pub planted_bug: PlantedBug,
    /// Gradient canaries, appended to the data set's examples (each step draws their
    /// Poisson coins after the data's, in this order).
    pub canaries: &'a [GradientCanary],
    /// Called after every step with the step number (from 1) and θ_t.
    pub observe: Option<&'a mut Observer<'a>>,
}

/// Runs DP-SGD from θ = 0 (module docs).
///
/// # Errors
/// As [`SgdConfig::validate`]; a diverging run (non-finite θ) is an
/// [`Error::NonFinite`] naming the step.
pub fn dp_sgd(data: &Dataset, cfg: &SgdConfig, rng: &mut SimRng) -> Result<Trained> {
    dp_sgd_audited(data, cfg, AuditHooks::default(), rng)
}

/// [`dp_sgd`] with audit hooks: gradient canaries, an observer of every iterate and a planted
/// bug. With `AuditHooks::default()` it is [`dp_sgd`], draw for draw.
///
/// # Errors
/// As [`dp_sgd`], plus a canary coordinate ≥ d or a non-finite canary gradient.
pub fn dp_sgd_audited(
    data: &Dataset,
    cfg: &SgdConfig,
    hooks: AuditHooks<'_>,
    rng: &mut SimRng,
) -> Result<Trained> {
    cfg.validate()?;
    let mut g = vec![0.0; data.d()];
    let sum = |theta: &[f64], sampled: &[usize], step: u64, clip: Option<f64>, acc: &mut [f64]| {
        for &i in sampled {
            let x = data.row(i);
            let r = residual(cfg.model, theta, x, data.y[i]);
            for (gj, xj) in g.iter_mut().zip(x) {
                *gj = r * xj;
            }
            if g.iter().any(|v| !v.is_finite()) {
                return Err(overflow(step));
            }
            if let Some(c) = clip {
                clip_in_place(&mut g, c);
            }
            for (a, gj) in acc.iter_mut().zip(&g) {
                *a += gj;
            }
        }
        Ok(())
    };
    dp_sgd_loop(data.n(), data.d(), cfg, hooks, rng, sum, |theta| {
        Ok(data.loss(cfg.model, theta))
    })
}

/// [`dp_sgd_audited`] on any [`crate::learning::model::Model`] (either backend) and its
/// examples: the same steps, coins, noise draws and hooks, with each step's clipped sum
/// from [`crate::learning::model::Model::clipped_grad_sum`] over the sampled examples (c = ∞
/// for [`PlantedBug::NoClipping`]) and θ of the model's length from 0. `cfg.model` is not
/// used. Canary coordinates index the model's θ.
///
/// # Errors
/// As [`dp_sgd_audited`]; the model's errors.
pub fn dp_sgd_model(
    model: &dyn crate::learning::model::Model,
    data: &crate::learning::Examples,
    cfg: &SgdConfig,
    hooks: AuditHooks<'_>,
    rng: &mut SimRng,
) -> Result<Trained> {
    cfg.validate()?;
    let d = model.n_params();
    let mut g = vec![0.0; d];
    let sum = |theta: &[f64], sampled: &[usize], step: u64, clip: Option<f64>, acc: &mut [f64]| {
        if sampled.is_empty() {
            return Ok(());
        }
        let batch = data.select(sampled);
        model.clipped_grad_sum(theta, batch.batch(), clip.unwrap_or(f64::INFINITY), &mut g)?;
        if g.iter().any(|v| !v.is_finite()) {
            return Err(overflow(step));
        }
        acc.iter_mut().zip(&g).for_each(|(a, v)| *a += v);
        Ok(())
    };
    dp_sgd_loop(data.len(), d, cfg, hooks, rng, sum, |theta| {
        model.loss(theta, data.batch())
    })
}

/// The error of a per-example gradient that overflows at step `step` (from 0).
fn overflow(step: u64) -> Error {
    Error::NonFinite {
        what: "DP-SGD per-example gradient".into(),
        detail: format!(
            "overflows f64 at step {} (features or labels too large; rescale the data)",
            step + 1
        ),
    }
}

/// The DP-SGD loop of [`dp_sgd_audited`] on `n` examples and d parameters: per step the
/// Poisson coins of the examples (in order), `clipped_sum` adding Σ clip(∇ℓᵢ) over the
/// sampled ones (the clip norm, `None` when clipping is off, and the step count so far are
/// passed) into the zeroed accumulator, the canaries, the noise, the step and the hooks;
/// `loss` for the epoch reports. The coins are drawn before the gradients, which draw
/// nothing, so the stream is the one the loop always consumed.
fn dp_sgd_loop(
    n: usize,
    d: usize,
    cfg: &SgdConfig,
    mut hooks: AuditHooks<'_>,
    rng: &mut SimRng,
    mut clipped_sum: impl FnMut(&[f64], &[usize], u64, Option<f64>, &mut [f64]) -> Result<()>,
    loss: impl Fn(&[f64]) -> Result<f64>,
) -> Result<Trained> {
    for c in hooks.canaries {
        c.check(d)?;
    }
    cfg.check_size(n + hooks.canaries.len())?;
    let bug = hooks.planted_bug;
    let q = cfg.sample_rate;
    // The sampler's rate; the accountant and the step always use the configured q.
    let sampling = if bug == PlantedBug::WrongSamplingRate {
        (WRONG_RATE_FACTOR * q).min(1.0)
    } else {
        q
    };
    let clip = if bug == PlantedBug::NoClipping {
        None
    } else {
        cfg.clip
    };
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
    // invariant: validate() requires a clip norm when σ > 0.
    let sd = cfg.noise_multiplier * cfg.clip.unwrap_or(0.0);
    let sd = if bug == PlantedBug::NoiseOnMean {
        sd / expected
    } else {
        sd
    };
    let mut reused: Option<Vec<f64>> = None;
    let mut theta = vec![0.0; d];
    let mut acc = vec![0.0; d];
    let mut sampled = Vec::with_capacity(n);
    let mut canary_g = Vec::new();
    let mut reports = Vec::with_capacity(cfg.epochs);
    let mut steps = 0u64;
    for epoch in 1..=cfg.epochs {
        for _ in 0..per_epoch {
            acc.iter_mut().for_each(|a| *a = 0.0);
            sampled.clear();
            for i in 0..n {
                if rng.random::<f64>() < sampling {
                    sampled.push(i);
                }
            }
            clipped_sum(&theta, &sampled, steps, clip, &mut acc)?;
            for canary in hooks.canaries {
                if rng.random::<f64>() >= sampling {
                    continue;
                }
                // The norm of a sparse vector is the norm of its entries.
                canary_g.clear();
                canary_g.extend(canary.entries.iter().map(|e| e.1));
                if let Some(c) = clip {
                    clip_in_place(&mut canary_g, c);
                }
                for (&(j, _), v) in canary.entries.iter().zip(&canary_g) {
                    acc[j] += v;
                }
            }
            if cfg.noise_multiplier > 0.0 {
                if bug == PlantedBug::ReusedNoise {
                    let z = reused.get_or_insert_with(|| {
                        (0..d)
                            .map(|_| rng.sample::<f64, _>(StandardNormal))
                            .collect()
                    });
                    for (a, zj) in acc.iter_mut().zip(z.iter()) {
                        *a += sd * zj;
                    }
                } else {
                    for a in acc.iter_mut() {
                        *a += sd * rng.sample::<f64, _>(StandardNormal);
                    }
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
            if let Some(f) = hooks.observe.as_mut() {
                f(steps, &theta);
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
            loss: loss(&theta)?,
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
        grid(model, &[])
    }

    /// y = 2x₁ − x₂ (+ sign for logistic) on a fixed grid of 40 points, each row followed by
    /// the constant features `extra`.
    fn grid(model: Model, extra: &[f64]) -> Dataset {
        let rows: Vec<Vec<f64>> = (0..40)
            .map(|i| {
                let mut r = vec![(i as f64 / 20.0) - 1.0, ((i * 7 % 40) as f64 / 20.0) - 1.0];
                r.extend_from_slice(extra);
                r
            })
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

    /// The data of the golden test: 40 points in 3 dimensions (the third a constant 0.5).
    fn golden_data(model: Model) -> Dataset {
        grid(model, &[0.5])
    }

    /// θ of a clipped, noisy run, bit for bit as computed by `dp_sgd` before the audit hooks
    /// and planted bugs existed (golden bits printed from the unchanged function). Both
    /// `dp_sgd` and `dp_sgd_audited` with default hooks must reproduce them. Mutation
    /// checked: sampling at the wrong-sampling-rate bug's 4q whatever the bug fails it.
    #[test]
    fn no_planted_bug_is_bit_identical_to_the_dp_sgd_before_the_hooks() {
        let golden = [
            (
                Model::Linear,
                [
                    0x3ffc2bfb32d12298u64,
                    0xbfef40111888a85e,
                    0x3fabd079ee7f4fe8,
                ],
            ),
            (
                Model::Logistic,
                [0x3ff53a1cc92e98e4, 0xbfe36b25ff8c4e50, 0xbfc1fd9ad2404bd5],
            ),
        ];
        for (model, bits) in golden {
            let data = golden_data(model);
            let c = SgdConfig {
                model,
                epochs: 3,
                sample_rate: 0.3,
                learning_rate: 0.7,
                clip: Some(0.8),
                noise_multiplier: 1.3,
                delta: 1e-5,
            };
            let want: Vec<f64> = bits.iter().map(|b| f64::from_bits(*b)).collect();
            let plain = dp_sgd(&data, &c, &mut rng_from_seed(2026)).unwrap();
            assert_eq!(plain.theta, want, "{model:?}");
            assert_eq!(
                plain.epochs.last().unwrap().epsilon.unwrap().to_bits(),
                0x4016435a49c1f153
            );
            let hooked =
                dp_sgd_audited(&data, &c, AuditHooks::default(), &mut rng_from_seed(2026)).unwrap();
            assert_eq!(hooked, plain, "{model:?}");
        }
    }

    /// Two features and a third coordinate no example uses (always 0): only canaries and
    /// noise move θ₂.
    fn with_free_coordinate() -> Dataset {
        let rows: Vec<Vec<f64>> = (0..20)
            .map(|i| {
                vec![
                    (i as f64 / 10.0) - 1.0,
                    ((i * 3 % 20) as f64 / 10.0) - 1.0,
                    0.0,
                ]
            })
            .collect();
        let y: Vec<f64> = rows
            .iter()
            .map(|r| f64::from(u8::from(r[0] > r[1])))
            .collect();
        let refs: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
        Dataset::new(&refs, y).unwrap()
    }

    fn audit_cfg(q: f64, sigma: f64) -> SgdConfig {
        SgdConfig {
            model: Model::Logistic,
            epochs: 4,
            sample_rate: q,
            learning_rate: 0.5,
            clip: Some(1.0),
            noise_multiplier: sigma,
            delta: 1e-5,
        }
    }

    /// The per-step updates of coordinate 2, in units of one clipped canary gradient
    /// (η·C/(qN) with C = 1).
    fn free_updates(
        cfg: &SgdConfig,
        bug: PlantedBug,
        canaries: &[GradientCanary],
        seed: u64,
    ) -> Vec<f64> {
        let data = with_free_coordinate();
        let unit = cfg.learning_rate / (cfg.sample_rate * data.n() as f64);
        let mut prev = 0.0;
        let mut out = Vec::new();
        let mut observe = |_: u64, th: &[f64]| {
            out.push((prev - th[2]) / unit);
            prev = th[2];
        };
        let hooks = AuditHooks {
            planted_bug: bug,
            canaries,
            observe: Some(&mut observe),
        };
        dp_sgd_audited(&data, cfg, hooks, &mut rng_from_seed(seed)).unwrap();
        out
    }

    /// Each planted bug does what its doc says, on the free coordinate (q = 1 where the
    /// sampling does not matter):
    /// - correct: a canary of raw norm 100 moves θ₂ by exactly one clipped gradient per step;
    ///   no-clipping: by 100;
    /// - noise-on-mean: the same noise draws, qN = 20 times smaller per step;
    /// - reused-noise: every step's noise is the first step's;
    /// - wrong-sampling-rate: the canary is sampled at 4q (q = 0.05: 4 epochs × 20 steps,
    ///   8 000 coins over 100 seeds, rate within 0.03 of 0.2, 6.7 standard errors of 0.0045).
    ///
    /// Mutations checked: skipping the canary's clip in the correct path (the first assert
    /// fails) and drawing fresh noise at every step in reused-noise (the reused assert
    /// fails).
    #[test]
    fn each_planted_bug_does_what_it_says() {
        let dirac = [GradientCanary::dirac(2, 100.0)];
        let c = audit_cfg(1.0, 0.0);
        let ok = free_updates(&c, PlantedBug::None, &dirac, 1);
        assert!(ok.iter().all(|u| (u - 1.0).abs() < 1e-9), "{ok:?}");
        let bug = free_updates(&c, PlantedBug::NoClipping, &dirac, 1);
        assert!(bug.iter().all(|u| (u - 100.0).abs() < 1e-7), "{bug:?}");

        let c = audit_cfg(1.0, 1.5);
        let ok = free_updates(&c, PlantedBug::None, &[], 2);
        let bug = free_updates(&c, PlantedBug::NoiseOnMean, &[], 2);
        for (a, b) in ok.iter().zip(&bug) {
            assert!((a / b - 20.0).abs() < 1e-6, "{a} {b}");
        }
        let reused = free_updates(&c, PlantedBug::ReusedNoise, &[], 3);
        assert!(reused
            .iter()
            .all(|u| (u - reused[0]).abs() < 1e-9 && u.abs() > 1e-3));
        let fresh = free_updates(&c, PlantedBug::None, &[], 3);
        assert!(fresh.iter().any(|u| (u - fresh[0]).abs() > 1e-3));

        let c = audit_cfg(0.05, 0.0);
        let unit = [GradientCanary::dirac(2, 1.0)];
        let (mut hits, mut coins) = (0.0, 0.0);
        for seed in 0..100 {
            let u = free_updates(&c, PlantedBug::WrongSamplingRate, &unit, seed);
            hits += u.iter().sum::<f64>();
            coins += u.len() as f64;
        }
        assert!((hits / coins - 0.2).abs() < 0.03, "{}", hits / coins);
        // The accountant still reports ε for q.
        let data = with_free_coordinate();
        let c = audit_cfg(0.05, 1.0);
        let hooks = AuditHooks {
            planted_bug: PlantedBug::WrongSamplingRate,
            ..AuditHooks::default()
        };
        let t = dp_sgd_audited(&data, &c, hooks, &mut rng_from_seed(0)).unwrap();
        let want = rdp::epsilon(0.05, 1.0, 80, 1e-5).unwrap();
        assert_eq!(t.epochs.last().unwrap().epsilon, Some(want));
    }

    #[test]
    fn planted_bug_names_round_trip_and_suggest() {
        for b in PlantedBug::ALL {
            assert_eq!(PlantedBug::parse(b.name()).unwrap(), b);
        }
        assert_eq!(
            PlantedBug::parse("noise_on_mean").unwrap(),
            PlantedBug::NoiseOnMean
        );
        let e = PlantedBug::parse("no-clip").unwrap_err().to_string();
        assert!(e.contains("no-clipping"), "{e}");
        let data = with_free_coordinate();
        let bad = [GradientCanary::dirac(3, 1.0)];
        let hooks = AuditHooks {
            canaries: &bad,
            ..AuditHooks::default()
        };
        let c = audit_cfg(0.5, 1.0);
        assert!(dp_sgd_audited(&data, &c, hooks, &mut rng_from_seed(0)).is_err());
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
