//! Simulated populations: heterogeneous users holding records, some of them rare (canaries),
//! plus Byzantine users who hold nothing and will speak through an attack.
//!
//! This is the setting of the survey by El-Mhamdi et al. (arXiv 2209.15259): learning from
//! user-generated data that is **heterogeneous** (users differ), **sensitive** (records must
//! stay private, some are rare enough to be memorised) and partly **Byzantine** (fake users
//! send whatever hurts most). The survey's point is that these three together force an error
//! floor; this module produces populations on which that floor can be measured.
//!
//! # The model
//!
//! A [`PopulationConfig`] describes `n` users of dimension `d`. The last `f` users (ids
//! `n−f..n`) are Byzantine, with f = ⌊`byzantine_fraction`·n⌋ (see [`byzantine_count`] for the
//! rounding). They hold no records and no mean: their updates come later from an attack, so a
//! [`Population`] stores them as a count. The `n − f` honest users (ids `0..n−f`) each have
//!
//! - a true mean μ_i = μ·**1** + √(G²/d)·z_i with z_i ~ N(0, I_d) i.i.d., where μ =
//!   [`mean`](PopulationConfig::mean) is a scalar applied to every coordinate and G² =
//!   [`heterogeneity`](PopulationConfig::heterogeneity). So E‖μ_i − μ·**1**‖² = G², and the
//!   measured dissimilarity of the |H| honest means, [`Population::measured_g2`] =
//!   (1/|H|)Σ_i ‖μ_i − μ̄_H‖², is distributed as (G²/d)·χ²_{d(|H|−1)}/|H|: mean
//!   G²·(|H|−1)/|H|, relative standard deviation √(2/(d(|H|−1))). With
//!   [`exact_heterogeneity`](PopulationConfig::exact_heterogeneity) the centred z_i are rescaled
//!   instead so that `measured_g2` equals G² and μ̄_H equals μ·**1** (up to rounding), which
//!   makes the hypothesis "dissimilarity ≤ G²" of the heterogeneity lower bounds hold exactly.
//! - m_i records, m_i = `m` ([`RecordsPerUser::Fixed`]) or a Zipf draw on 1..=max
//!   ([`RecordsPerUser::Zipf`], long-tailed user sizes: many users hold a single record, a
//!   few hold many). Record k is μ_i + ξ_{ik}, the coordinates of ξ_{ik} i.i.d. from the centred
//!   [`Noise`] family (Gaussian, Student-t, log-normal or symmetric Pareto; see
//!   [`super::noise`] for the heavy-tail discussion).
//! - for the first [`canary_users`](PopulationConfig::canary_users) honest users, one extra
//!   **canary** record μ_i + c_i appended after the others and flagged ([`Record::canary`]),
//!   where c_i is a secret random vector of norm `canary.norm` ([`Canary::Secret`]) or the same
//!   fixed vector for all ([`Canary::Fixed`]). Honest users are exchangeable, so giving the
//!   canaries to the first ones loses no generality. Privacy experiments find them through
//!   [`Population::canaries`].
//!
//! A user's **update** is the mean of all its records, canary included (summed in record
//! order, then divided by the count): [`Population::honest_updates`] is the d×|H| matrix of
//! these. The estimation target is the population mean μ·**1** ([`Population::population_mean`]).
//!
//! # Heterogeneity G²
//!
//! For the quadratic losses L_i(θ) = ½‖θ − μ_i‖² of mean estimation, the gradient
//! dissimilarity (1/|H|)Σ‖∇L_i(θ) − ∇L_H(θ)‖² equals (1/|H|)Σ‖μ_i − μ̄_H‖² at every θ, so the
//! measured G² is exactly the G of Karimireddy, He & Jaggi's ζ²-heterogeneity and of the
//! (G, B)-dissimilarity of Allouah et al. with B = 0. With f Byzantine users, every
//! aggregation rule has squared error ‖μ̂ − μ̄_H‖² ≥ f·G²/(n − 2f) on some population of
//! dissimilarity G² (bound B2 of the bounds catalog; B3 for B > 0). On the honest
//! updates, the empirical [`Population::measured_g2_updates`] adds the within-user noise:
//! about (G² + d·σ²/m)·(|H|−1)/|H| for noise variance σ².
//!
//! # Heavy tails and sizes
//!
//! Student-t (ν ≤ 2) and Pareto (α ≤ 2) noise have infinite variance, so updates of small users
//! are dominated by a few huge records; Zipf sizes make many users small. Both break the
//! "σ²/m" accounting behind Gaussian lower bounds: [`Population::update_variance`] is `None`
//! for them, and [`Population::update_sigma`] (the Gaussian closed form) is `None` for every
//! non-Gaussian family.
//!
//! # Reproducibility
//!
//! Sampling is a deterministic function of the config and the [`SimRng`] stream, which is
//! consumed in four phases, each user by user in id order:
//!
//! 1. means: d `StandardNormal` draws z_i per honest user, coordinate order (always drawn,
//!    even for G² = 0, so that one seed gives the same directions at every G² and
//!    `measured_g2` scales exactly linearly with G² along a sweep);
//! 2. sizes: one `rand_distr::Zipf` draw per honest user (none for a fixed size);
//! 3. canaries: d `StandardNormal` draws per canary user for [`Canary::Secret`] (none for
//!    [`Canary::Fixed`]);
//! 4. records: for each honest user, its m_i records in order, each as d noise draws (see
//!    [`super::noise`]).
//!
//! Phases 1–3 do not depend on the noise family, so runs with the same seed share user means,
//! sizes and canaries across noise settings (common random numbers).
//!
//! ```
//! use lbounds::data::noise::Noise;
//! use lbounds::data::population::{Population, PopulationConfig};
//!
//! let cfg = PopulationConfig {
//!     n: 20,
//!     byzantine_fraction: 0.2,
//!     heterogeneity: 1.0,
//!     noise: Noise::Gaussian { sigma: 2.0 },
//!     ..PopulationConfig::default()
//! };
//! let pop = Population::sample(&cfg, &mut lbounds::rng::rng_from_seed(7)).unwrap();
//! assert_eq!((pop.n(), pop.f(), pop.n_honest()), (20, 4, 16));
//! assert_eq!(pop.honest_updates().n(), 16);
//! // sqrt(σ²/m + G²/d) = sqrt(4/10 + 1/20).
//! assert_eq!(pop.update_sigma(), Some((0.4f64 + 0.05).sqrt()));
//! ```
//!
//! # References
//! - El-Mhamdi, Farhadkhani, Guerraoui, Gupta, Hoang, Pinot, Rouault & Stephan, "On the
//!   Impossible Safety of Large AI Models", 2022 (v2 2023), arXiv 2209.15259.
//! - Karimireddy, He & Jaggi, "Byzantine-Robust Learning on Heterogeneous Datasets via
//!   Bucketing", ICLR 2022, arXiv 2006.09365 (ζ²-heterogeneity, Ω(δζ²) lower bound).
//! - Allouah, Guerraoui, Gupta, Pinot & Rizk, "Robust Distributed Learning: Tight Error Bounds
//!   and Breakdown Point under Data Heterogeneity", NeurIPS 2023, arXiv 2309.13591 ((G, B)
//!   gradient dissimilarity).
//! - Carlini, Liu, Erlingsson, Kos & Song, "The Secret Sharer: Evaluating and Testing
//!   Unintended Memorization in Neural Networks", USENIX Security 2019, arXiv 1802.08232
//!   (canaries).
//! - Feldman, "Does Learning Require Memorization? A Short Tale about a Long Tail", STOC 2020,
//!   arXiv 1906.05271 (long-tailed data).

use super::noise::{Noise, NoiseSampler};
use super::{Updates, UpdatesView};
use crate::error::{check_finite, check_non_negative, check_positive};
use crate::rng::SimRng;
use crate::{Error, Result};
use nalgebra::{DMatrix, DMatrixView, DVector};
use rand::RngExt;
use rand_distr::{StandardNormal, Zipf};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Largest `records.max` of [`RecordsPerUser::Zipf`] (sizes stay exact in f64 and in u32).
pub const MAX_ZIPF_SIZE: u64 = u32::MAX as u64;

/// Largest number of stored values accepted: n·d·m record entries with m fixed records per
/// user, n·d otherwise (2³⁰ values, 8 GiB of f64, a third of the reference machine's memory):
/// a config past it fails validation instead of aborting on allocation.
pub const MAX_VALUES: u64 = 1 << 30;

/// Largest number of users or inputs where something holds an n × n matrix (the
/// distance-based rules' distances, Gram matrices and neighbour orders, the `min_max`
/// attack): n² = [`MAX_VALUES`]. Beyond, the allocation aborts the process or the system
/// kills it for memory (a million users at d = 1 did).
pub const MAX_PAIRWISE_N: usize = 1 << 15;

/// How many records each honest user holds.
///
/// Serialised with a `kind` tag: `{"kind": "fixed", "m": 10}`, `{"kind": "zipf", "s": 1.5,
/// "max": 100}`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RecordsPerUser {
    /// Every user holds `m ≥ 1` records.
    Fixed {
        /// Records per user.
        m: usize,
    },
    /// Long-tailed sizes: P(m_i = k) = k^{−s} / Σ_{j=1}^{max} j^{−s} for k in 1..=max
    /// (`rand_distr::Zipf`).
    Zipf {
        /// Exponent s > 0 (larger s: more users with a single record).
        s: f64,
        /// Largest size, 1 ≤ max ≤ [`MAX_ZIPF_SIZE`].
        max: u64,
    },
}

impl Default for RecordsPerUser {
    /// Ten records per user.
    fn default() -> Self {
        RecordsPerUser::Fixed { m: 10 }
    }
}

/// The offset c_i of a canary record μ_i + c_i from its user's mean.
///
/// Serialised with a `kind` tag: `{"kind": "secret", "norm": 10}`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Canary {
    /// A fresh uniformly random direction per canary user (the "secret"), scaled to `norm`.
    Secret {
        /// ‖c_i‖ > 0.
        norm: f64,
    },
    /// The same vector (norm/√d)·(1, …, 1) for every canary user; draws nothing.
    Fixed {
        /// ‖c‖ > 0.
        norm: f64,
    },
}

impl Canary {
    /// The norm ‖c_i‖.
    pub fn norm(&self) -> f64 {
        match *self {
            Canary::Secret { norm } | Canary::Fixed { norm } => norm,
        }
    }
}

impl Default for Canary {
    /// A secret direction of norm 10 (about twice the norm √d·σ ≈ 4.5 of a record's noise at
    /// the default d = 20, σ = 1).
    fn default() -> Self {
        Canary::Secret { norm: 10.0 }
    }
}

/// Everything that defines a population except the random seed (sampling takes a
/// [`SimRng`]). Missing keys take their defaults; unknown keys are rejected.
///
/// See the [module docs](self) for the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PopulationConfig {
    /// Number of users n ≥ 1, honest and Byzantine (default 50, ByzFL's benchmark size).
    pub n: usize,
    /// Dimension d ≥ 1 (default 20).
    pub d: usize,
    /// Byzantine fraction in [0, 0.5); f = ⌊fraction·n⌋ (see [`byzantine_count`]) and
    /// 2f < n is required (default 0).
    pub byzantine_fraction: f64,
    /// μ: every coordinate of the population mean (default 0).
    pub mean: f64,
    /// Target heterogeneity G² ≥ 0: E‖μ_i − μ·**1**‖² (default 0, exchangeable users).
    pub heterogeneity: f64,
    /// Rescale the user means so that the measured G² is exactly `heterogeneity` and their
    /// average exactly μ (default false: i.i.d. Gaussian means). Needs ≥ 2 honest users when
    /// G² > 0.
    pub exact_heterogeneity: bool,
    /// Distribution of record coordinates around the user mean (default Gaussian σ = 1).
    pub noise: Noise,
    /// Records per honest user (default 10).
    pub records: RecordsPerUser,
    /// How many honest users carry one canary record, ≤ n − f (default 0).
    pub canary_users: usize,
    /// The canary's offset from its user's mean (default secret, norm 10).
    pub canary: Canary,
}

impl Default for PopulationConfig {
    fn default() -> Self {
        PopulationConfig {
            n: 50,
            d: 20,
            byzantine_fraction: 0.0,
            mean: 0.0,
            heterogeneity: 0.0,
            exact_heterogeneity: false,
            noise: Noise::default(),
            records: RecordsPerUser::default(),
            canary_users: 0,
            canary: Canary::default(),
        }
    }
}

/// The number of Byzantine users f = ⌊fraction·n⌋.
///
/// A product within a relative 10⁻⁹ of an integer counts as that integer, so that a decimal
/// fraction that binary floating point stores slightly low still gives the intended count
/// (0.29·100 evaluates to 28.999999999999996 and gives f = 29, not 28). No range check: see
/// [`PopulationConfig::validate`].
pub fn byzantine_count(fraction: f64, n: usize) -> usize {
    let x = fraction * n as f64;
    let r = x.round();
    let f = if (x - r).abs() <= 1e-9 * r.max(1.0) {
        r
    } else {
        x.floor()
    };
    // Saturating float→int conversion; validate() has bounded the fraction by then.
    f.max(0.0) as usize
}

/// The largest |mean|, √G² and noise scale a population takes (see
/// [`PopulationConfig::validate`] and [`Noise::validate`](crate::data::noise::Noise::validate)).
pub const MAX_SCALE: f64 = 1e100;

impl PopulationConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the field (`n`, `d`, `byzantine_fraction`,
    /// `noise.sigma`, `records.m`, `canary.norm`, …), its value and the reason: n = 0, d = 0,
    /// n·d·m or n² > [`MAX_VALUES`], a NaN/±∞ or negative real, |mean| or √G² above [`MAX_SCALE`], a
    /// fraction outside [0, 0.5) or giving
    /// 2f ≥ n, m = 0, Zipf s ≤ 0 or max outside 1..=[`MAX_ZIPF_SIZE`], ν ≤ 1, α ≤ 1,
    /// more canary users than honest users, a canary norm ≤ 0, or exact heterogeneity with
    /// G² > 0 and a single honest user.
    pub fn validate(&self) -> Result<()> {
        self.checked_f().map(|_| ())
    }

    /// Validates and returns f.
    fn checked_f(&self) -> Result<usize> {
        let (n, d) = (self.n, self.d);
        if n == 0 {
            return Err(Error::invalid("n", n, "need at least one user"));
        }
        if d == 0 {
            return Err(Error::invalid("d", d, "records must have dimension >= 1"));
        }
        let per_user = match self.records {
            RecordsPerUser::Fixed { m } => m.max(1) as u64,
            RecordsPerUser::Zipf { .. } => 1,
        };
        if (n as u64)
            .checked_mul(d as u64)
            .and_then(|v| v.checked_mul(per_user))
            .is_none_or(|v| v > MAX_VALUES)
        {
            // Named after the largest factor, the one most likely mistyped.
            let (name, value) = [("n", n as u64), ("d", d as u64), ("records", per_user)]
                .into_iter()
                .fold(("d", 0), |big, f| if f.1 > big.1 { f } else { big });
            return Err(Error::invalid(
                name,
                value,
                format!(
                    "n*d*records = {n}*{d}*{per_user} exceeds the limit of {MAX_VALUES} stored values (8 GiB)"
                ),
            ));
        }
        if n > MAX_PAIRWISE_N {
            return Err(Error::invalid(
                "n",
                n,
                format!(
                    "the distance-based rules' n x n matrices would exceed the limit of \
                     {MAX_VALUES} stored values (8 GiB): at most {MAX_PAIRWISE_N} users"
                ),
            ));
        }
        let frac = self.byzantine_fraction;
        if !(frac.is_finite() && (0.0..0.5).contains(&frac)) {
            return Err(Error::invalid(
                "byzantine_fraction",
                frac,
                "must be in [0, 0.5): with half the users Byzantine no estimate is possible",
            ));
        }
        let f = byzantine_count(frac, n);
        if 2 * f >= n {
            return Err(Error::invalid(
                "byzantine_fraction",
                frac,
                format!(
                    "gives f = floor({frac}*{n}) = {f}, and 2f = {} must be < n = {n}",
                    2 * f
                ),
            ));
        }
        let honest = n - f;
        check_finite("mean", self.mean)?;
        check_non_negative("heterogeneity", self.heterogeneity)?;
        // The simulator squares coordinates and sums up to 10⁹ of them (distances, the
        // measured G²): finite below 10¹⁰⁰ per coordinate (10²⁰⁰·10⁹ ≪ f64::MAX), not at
        // 1e308, where `--heterogeneity 1e308` filled the table with inf.
        for (name, value, scale) in [
            ("mean", self.mean, self.mean.abs()),
            (
                "heterogeneity",
                self.heterogeneity,
                self.heterogeneity.sqrt(),
            ),
        ] {
            if scale > MAX_SCALE {
                return Err(Error::invalid(
                    name,
                    value,
                    format!(
                        "must be at most {MAX_SCALE:e} in size ({:e} for the heterogeneity G^2): the simulator squares and sums coordinates, which overflows f64 beyond",
                        MAX_SCALE * MAX_SCALE
                    ),
                ));
            }
        }
        if self.exact_heterogeneity && self.heterogeneity > 0.0 && honest < 2 {
            return Err(Error::invalid(
                "exact_heterogeneity",
                true,
                format!(
                    "needs at least 2 honest users to reach G^2 = {} > 0, got n - f = {honest}",
                    self.heterogeneity
                ),
            ));
        }
        self.noise.validate("noise")?;
        match self.records {
            RecordsPerUser::Fixed { m } => {
                if m == 0 {
                    return Err(Error::invalid("records.m", m, "users need >= 1 record"));
                }
            }
            RecordsPerUser::Zipf { s, max } => {
                check_positive("records.s", s)?;
                if !(1..=MAX_ZIPF_SIZE).contains(&max) {
                    return Err(Error::invalid(
                        "records.max",
                        max,
                        format!("must be in 1..={MAX_ZIPF_SIZE}"),
                    ));
                }
            }
        }
        if self.canary_users > honest {
            return Err(Error::invalid(
                "canary_users",
                self.canary_users,
                format!("at most the n - f = {honest} honest users can carry a canary"),
            ));
        }
        check_positive("canary.norm", self.canary.norm())?;
        Ok(f)
    }

    /// Validates and returns a [`PopulationModel`] that samples without re-checking.
    ///
    /// # Errors
    /// As [`PopulationConfig::validate`].
    pub fn build(self) -> Result<PopulationModel> {
        let f = self.checked_f()?;
        let noise = self.noise.sampler()?;
        let zipf = match self.records {
            RecordsPerUser::Fixed { .. } => None,
            // invariant: s > 0 and max ≥ 1 were validated, as Zipf::new requires.
            RecordsPerUser::Zipf { s, max } => {
                Some(Zipf::new(max as f64, s).expect("invariant: zipf params validated"))
            }
        };
        Ok(PopulationModel {
            config: self,
            f,
            noise,
            zipf,
        })
    }
}

/// A validated [`PopulationConfig`]: samples any number of populations.
#[derive(Clone, Debug)]
pub struct PopulationModel {
    config: PopulationConfig,
    f: usize,
    noise: NoiseSampler,
    zipf: Option<Zipf<f64>>,
}

impl PopulationModel {
    /// The configuration.
    pub fn config(&self) -> &PopulationConfig {
        &self.config
    }

    /// Number of users n.
    pub fn n(&self) -> usize {
        self.config.n
    }

    /// Dimension d.
    pub fn d(&self) -> usize {
        self.config.d
    }

    /// Number of Byzantine users f.
    pub fn f(&self) -> usize {
        self.f
    }

    /// Number of honest users n − f.
    pub fn n_honest(&self) -> usize {
        self.config.n - self.f
    }

    /// Whether the honest updates are i.i.d. across users with one known per-coordinate law:
    /// fixed sizes, no canaries, and i.i.d. (not rescaled) means.
    fn iid_updates(&self) -> bool {
        let c = &self.config;
        matches!(c.records, RecordsPerUser::Fixed { .. })
            && c.canary_users == 0
            && !(c.exact_heterogeneity && c.heterogeneity > 0.0)
    }

    /// Per-coordinate variance of one honest update around μ, σ_ξ²/m + G²/d, when the updates
    /// are i.i.d. with a finite variance: fixed size m, finite noise variance σ_ξ², no
    /// canaries and i.i.d. means. `None` otherwise.
    pub fn update_variance(&self) -> Option<f64> {
        let RecordsPerUser::Fixed { m } = self.config.records else {
            return None;
        };
        let v = self.config.noise.variance()?;
        self.iid_updates()
            .then(|| v / m as f64 + self.config.heterogeneity / self.config.d as f64)
    }

    /// Per-coordinate standard deviation σ_u = √(σ²/m + G²/d) of one honest update around μ,
    /// when the honest updates are exactly i.i.d. N(μ·**1**, σ_u²·I): Gaussian noise N(0, σ²),
    /// fixed size m, no canaries and i.i.d. means (the update is μ_i plus the mean of m
    /// Gaussian records, a sum of independent N(0, G²/d) and N(0, σ²/m) per coordinate).
    /// `None` otherwise (other noise families, Zipf sizes, canaries, exact heterogeneity with
    /// G² > 0). The CLI evaluates the Gaussian contamination lower bound
    /// σ_u·Φ⁻¹(1/(2(1−η))) with it.
    pub fn update_sigma(&self) -> Option<f64> {
        if self.config.noise.is_gaussian() {
            self.update_variance().map(f64::sqrt)
        } else {
            None
        }
    }

    /// Draws a population (see the module docs for the order of the draws).
    ///
    /// # Errors
    /// [`Error::NonFinite`] when a mean, record or update overflows f64 (a huge `mean`,
    /// `heterogeneity`, noise scale or canary norm).
    pub fn sample(&self, rng: &mut SimRng) -> Result<Population> {
        let c = &self.config;
        let (d, h) = (c.d, self.n_honest());

        // Phase 1: directions of the user means.
        let mut means: Vec<f64> = (0..d * h).map(|_| rng.sample(StandardNormal)).collect();
        // Phase 2: sizes.
        let sizes: Vec<usize> = match (&self.zipf, c.records) {
            (Some(z), RecordsPerUser::Zipf { max, .. }) => (0..h)
                .map(|_| {
                    // Zipf returns an integral f64 in [1, max]; the clamp guards rounding.
                    let x: f64 = rng.sample(z);
                    (x as u64).clamp(1, max) as usize
                })
                .collect(),
            (_, RecordsPerUser::Fixed { m }) => vec![m; h],
            // invariant: build() sets zipf exactly when records is Zipf.
            (None, RecordsPerUser::Zipf { .. }) => unreachable!("invariant: zipf sampler set"),
        };
        // Phase 3: canary offsets.
        let canaries: Vec<Vec<f64>> = (0..c.canary_users)
            .map(|_| canary_offset(c.canary, d, rng))
            .collect();

        // Means: μ + √(G²/d)·z_i, or the exact rescaling.
        self.place_means(&mut means)?;

        // Phase 4: records, then updates.
        let mut users = Vec::with_capacity(h);
        let mut updates = vec![0.0; d * h];
        for (i, (&m, up)) in sizes.iter().zip(updates.chunks_exact_mut(d)).enumerate() {
            let canary = canaries.get(i);
            let total = m + usize::from(canary.is_some());
            let mut vals = vec![0.0; d * total];
            self.noise.fill(rng, &mut vals[..d * m]);
            let mu = &means[i * d..(i + 1) * d];
            for rec in vals[..d * m].chunks_exact_mut(d) {
                for (x, a) in rec.iter_mut().zip(mu) {
                    *x += a;
                }
            }
            if let Some(off) = canary {
                for ((x, a), o) in vals[d * m..].iter_mut().zip(mu).zip(off) {
                    *x = a + o;
                }
            }
            for rec in vals.chunks_exact(d) {
                for (u, x) in up.iter_mut().zip(rec) {
                    *u += x;
                }
            }
            let k = total as f64;
            up.iter_mut().for_each(|u| *u /= k);
            users.push(UserRecords {
                values: DMatrix::from_vec(d, total, vals),
                canary: canary.is_some(),
            });
        }
        let overflow = |what: &str, e: Error| match e {
            Error::NonFinite { detail, .. } => Error::NonFinite {
                what: format!("sampled population {what}"),
                detail: format!(
                    "{detail} (mean, heterogeneity, noise scale or canary norm too large for f64)"
                ),
            },
            e => e,
        };
        let means =
            Updates::new(DMatrix::from_vec(d, h, means)).map_err(|e| overflow("means", e))?;
        // Every record enters an update, so a non-finite record makes its update non-finite.
        let updates =
            Updates::new(DMatrix::from_vec(d, h, updates)).map_err(|e| overflow("updates", e))?;
        Ok(Population {
            config: c.clone(),
            f: self.f,
            means,
            users,
            updates,
        })
    }

    /// Turns the standard normal draws z (d×|H|, column-major) into the user means, in place.
    fn place_means(&self, z: &mut [f64]) -> Result<()> {
        let c = &self.config;
        let (g2, mu, d) = (c.heterogeneity, c.mean, c.d);
        let scale = if c.exact_heterogeneity && g2 > 0.0 {
            // Centre each coordinate across users, then match the mean squared deviation.
            let h = z.len() / d;
            let mut avg = vec![0.0; d];
            for col in z.chunks_exact(d) {
                avg.iter_mut().zip(col).for_each(|(a, x)| *a += x);
            }
            avg.iter_mut().for_each(|a| *a /= h as f64);
            for col in z.chunks_exact_mut(d) {
                col.iter_mut().zip(&avg).for_each(|(x, a)| *x -= a);
            }
            let s = z.iter().map(|v| v * v).sum::<f64>() / h as f64;
            if !s.is_finite() || s <= 0.0 {
                return Err(Error::Unsupported(
                    "exact heterogeneity: the sampled user means coincide, cannot rescale".into(),
                ));
            }
            (g2 / s).sqrt()
        } else {
            (g2 / c.d as f64).sqrt()
        };
        for v in z.iter_mut() {
            *v = mu + scale * *v;
        }
        Ok(())
    }
}

/// The canary offset: a uniform direction scaled to the norm, or the fixed diagonal vector.
fn canary_offset(shape: Canary, d: usize, rng: &mut SimRng) -> Vec<f64> {
    match shape {
        Canary::Secret { norm } => {
            let mut g: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
            let len = super::norm(&g);
            if len > 0.0 {
                g.iter_mut().for_each(|v| *v *= norm / len);
            } else {
                // Probability 0 (every draw exactly 0): fall back to the first axis.
                g[0] = norm;
            }
            g
        }
        Canary::Fixed { norm } => vec![norm / (d as f64).sqrt(); d],
    }
}

/// One honest user's records (d×len, one record per column), the canary last if any.
#[derive(Clone, Debug, PartialEq)]
struct UserRecords {
    values: DMatrix<f64>,
    canary: bool,
}

/// One record of a user: its values and whether it is a canary.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Record<'a> {
    /// The d values.
    pub values: &'a [f64],
    /// Whether this record is a planted canary.
    pub canary: bool,
}

/// A borrowed view of one honest user.
#[derive(Clone, Copy, Debug)]
pub struct User<'a> {
    id: usize,
    mean: &'a [f64],
    update: &'a [f64],
    records: &'a UserRecords,
}

impl<'a> User<'a> {
    /// The user's id, in `0..n−f` (honest users come first).
    pub fn id(&self) -> usize {
        self.id
    }

    /// The true mean μ_i.
    pub fn mean(&self) -> &'a [f64] {
        self.mean
    }

    /// The update: the mean of all records, canary included.
    pub fn update(&self) -> &'a [f64] {
        self.update
    }

    /// Number of records, canary included.
    pub fn n_records(&self) -> usize {
        self.records.values.ncols()
    }

    /// Whether this user carries a canary (its last record).
    pub fn has_canary(&self) -> bool {
        self.records.canary
    }

    /// Record `k`, `None` when `k ≥ n_records()`.
    pub fn record(&self, k: usize) -> Option<Record<'a>> {
        let d = self.records.values.nrows();
        let values = self.records.values.as_slice().get(k * d..(k + 1) * d)?;
        Some(Record {
            values,
            canary: self.records.canary && k + 1 == self.n_records(),
        })
    }

    /// The records in order.
    pub fn records(&self) -> impl ExactSizeIterator<Item = Record<'a>> + 'a {
        let (d, last, canary) = (
            self.records.values.nrows(),
            self.n_records() - 1,
            self.records.canary,
        );
        self.records
            .values
            .as_slice()
            .chunks_exact(d)
            .enumerate()
            .map(move |(k, values)| Record {
                values,
                canary: canary && k == last,
            })
    }

    /// All records as a d×m_i matrix view (canary last if any).
    pub fn record_matrix(&self) -> DMatrixView<'a, f64> {
        self.records.values.as_view()
    }

    /// The canary record, if this user carries one.
    pub fn canary(&self) -> Option<&'a [f64]> {
        if !self.has_canary() {
            return None;
        }
        self.record(self.n_records() - 1).map(|r| r.values)
    }
}

/// A sampled population: |H| = n − f honest users with means, records and updates, and f
/// Byzantine users (ids n−f..n) stored as a count. See the [module docs](self).
#[derive(Clone, Debug, PartialEq)]
pub struct Population {
    config: PopulationConfig,
    f: usize,
    means: Updates,
    users: Vec<UserRecords>,
    updates: Updates,
}

impl Population {
    /// Validates `config` and draws one population from `rng`.
    ///
    /// # Errors
    /// As [`PopulationConfig::validate`] and [`PopulationModel::sample`].
    pub fn sample(config: &PopulationConfig, rng: &mut SimRng) -> Result<Population> {
        config.clone().build()?.sample(rng)
    }

    /// The configuration it was sampled from.
    pub fn config(&self) -> &PopulationConfig {
        &self.config
    }

    /// Number of users n (honest and Byzantine).
    pub fn n(&self) -> usize {
        self.config.n
    }

    /// Dimension d.
    pub fn d(&self) -> usize {
        self.config.d
    }

    /// Number of Byzantine users f.
    pub fn f(&self) -> usize {
        self.f
    }

    /// Number of honest users |H| = n − f.
    pub fn n_honest(&self) -> usize {
        self.users.len()
    }

    /// Ids of the Byzantine users, `n−f..n`.
    pub fn byzantine_ids(&self) -> Range<usize> {
        self.n_honest()..self.n()
    }

    /// Whether user `id` is Byzantine (`id ≥ n − f`).
    pub fn is_byzantine(&self, id: usize) -> bool {
        id >= self.n_honest()
    }

    /// Honest user `id`, `None` for a Byzantine or out-of-range id.
    pub fn user(&self, id: usize) -> Option<User<'_>> {
        self.users.get(id).map(|records| User {
            id,
            mean: self.means.view().col(id),
            update: self.updates.view().col(id),
            records,
        })
    }

    /// The honest users in id order.
    pub fn users(&self) -> impl ExactSizeIterator<Item = User<'_>> + '_ {
        (0..self.n_honest()).map(|i| {
            // invariant: i < n_honest = users.len().
            self.user(i).expect("invariant: honest id in range")
        })
    }

    /// Records per honest user, canaries included.
    pub fn record_counts(&self) -> Vec<usize> {
        self.users.iter().map(|u| u.values.ncols()).collect()
    }

    /// The honest updates (column i: the mean of user i's records), d×|H|.
    pub fn honest_updates(&self) -> &Updates {
        &self.updates
    }

    /// The honest users' true means μ_i, d×|H|.
    pub fn honest_means(&self) -> &Updates {
        &self.means
    }

    /// The estimation target μ·**1** (d entries equal to `config.mean`).
    pub fn population_mean(&self) -> DVector<f64> {
        DVector::from_element(self.d(), self.config.mean)
    }

    /// G² of the true means: (1/|H|)Σ_{i∈H} ‖μ_i − μ̄_H‖².
    pub fn measured_g2(&self) -> f64 {
        mean_sq_deviation(self.means.view())
    }

    /// The same dissimilarity on the honest updates (empirical: includes the noise of the
    /// records, about d·σ²/m more than [`Population::measured_g2`]).
    pub fn measured_g2_updates(&self) -> f64 {
        mean_sq_deviation(self.updates.view())
    }

    /// See [`PopulationModel::update_sigma`].
    pub fn update_sigma(&self) -> Option<f64> {
        self.model_view().update_sigma()
    }

    /// See [`PopulationModel::update_variance`].
    pub fn update_variance(&self) -> Option<f64> {
        self.model_view().update_variance()
    }

    /// The planted canaries: (user id, canary record), in id order.
    pub fn canaries(&self) -> impl Iterator<Item = (usize, &[f64])> + '_ {
        self.users().filter_map(|u| u.canary().map(|c| (u.id(), c)))
    }

    fn model_view(&self) -> PopulationModel {
        // invariant: the config was validated when this population was sampled.
        self.config
            .clone()
            .build()
            .expect("invariant: sampled from a validated config")
    }
}

/// (1/n)Σ_i ‖x_i − x̄‖², the mean squared distance of the vectors to their average (the G² of a
/// set of vectors), accumulated serially in column order.
pub fn mean_sq_deviation(x: UpdatesView<'_>) -> f64 {
    let avg = x.mean();
    x.cols()
        .map(|c| super::sq_dist(c, avg.as_slice()))
        .sum::<f64>()
        / x.n() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;

    fn cfg() -> PopulationConfig {
        PopulationConfig::default()
    }

    fn err_of(c: &PopulationConfig) -> String {
        c.validate().unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_documented_values() {
        let c = cfg();
        assert_eq!((c.n, c.d, c.canary_users), (50, 20, 0));
        assert_eq!(c.records, RecordsPerUser::Fixed { m: 10 });
        assert_eq!(c.noise, Noise::Gaussian { sigma: 1.0 });
        let m = c.build().unwrap();
        assert_eq!((m.f(), m.n_honest()), (0, 50));
        // √(1/10 + 0/20).
        assert_eq!(m.update_sigma(), Some(0.1f64.sqrt()));
    }

    #[test]
    fn serde_rejects_unknown_keys_and_fills_defaults() {
        let e = serde_json::from_str::<PopulationConfig>(r#"{"n": 10, "byzantine_fracton": 0.1}"#);
        assert!(e.unwrap_err().to_string().contains("byzantine_fracton"));
        let e = serde_json::from_str::<PopulationConfig>(
            r#"{"noise": {"kind": "gaussian", "sigmaa": 1.0}}"#,
        );
        assert!(e.unwrap_err().to_string().contains("sigmaa"));
        let e = serde_json::from_str::<PopulationConfig>(
            r#"{"records": {"kind": "zipf", "s": 1.0, "max": 5, "min": 1}}"#,
        );
        assert!(e.unwrap_err().to_string().contains("min"));
        let e = serde_json::from_str::<PopulationConfig>(
            r#"{"canary": {"kind": "secret", "nrom": 1}}"#,
        );
        assert!(e.unwrap_err().to_string().contains("nrom"));
        assert!(
            serde_json::from_str::<PopulationConfig>(r#"{"noise": {"kind": "cauchy"}}"#).is_err()
        );

        let c: PopulationConfig = serde_json::from_str(
            r#"{"n": 10, "noise": {"kind": "student_t", "nu": 3, "scale": 2}}"#,
        )
        .unwrap();
        assert_eq!(c.n, 10);
        assert_eq!(c.d, 20);
        assert_eq!(
            c.noise,
            Noise::StudentT {
                nu: 3.0,
                scale: 2.0
            }
        );
        let back: PopulationConfig =
            serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn validation_names_the_field() {
        let cases: Vec<(PopulationConfig, &str)> = vec![
            (PopulationConfig { n: 0, ..cfg() }, "`n` = 0"),
            (PopulationConfig { d: 0, ..cfg() }, "`d` = 0"),
            (
                PopulationConfig {
                    n: 1 << 20,
                    d: 1 << 24,
                    ..cfg()
                },
                "`d` = 16777216",
            ),
            // Sizes whose squares overflow the simulator's sums.
            (
                PopulationConfig {
                    heterogeneity: 1e308,
                    ..cfg()
                },
                "`heterogeneity` = 1e308",
            ),
            (
                PopulationConfig {
                    mean: -1e101,
                    ..cfg()
                },
                "`mean` = -1e101",
            ),
            // The largest factor is named, not always d.
            (
                PopulationConfig {
                    n: usize::MAX,
                    ..cfg()
                },
                "`n` = 18446744073709551615",
            ),
            // Few values, but n × n matrices of 10¹² entries.
            (
                PopulationConfig {
                    n: 1_000_000,
                    d: 1,
                    records: RecordsPerUser::Fixed { m: 1 },
                    ..cfg()
                },
                "`n` = 1000000: the distance-based rules' n x n matrices",
            ),
            (
                PopulationConfig {
                    byzantine_fraction: 0.5,
                    ..cfg()
                },
                "`byzantine_fraction` = 0.5",
            ),
            (
                PopulationConfig {
                    byzantine_fraction: 0.7,
                    ..cfg()
                },
                "`byzantine_fraction`",
            ),
            (
                PopulationConfig {
                    byzantine_fraction: -0.1,
                    ..cfg()
                },
                "`byzantine_fraction`",
            ),
            (
                PopulationConfig {
                    byzantine_fraction: f64::NAN,
                    ..cfg()
                },
                "`byzantine_fraction`",
            ),
            (
                PopulationConfig {
                    mean: f64::NAN,
                    ..cfg()
                },
                "`mean`",
            ),
            (
                PopulationConfig {
                    mean: f64::INFINITY,
                    ..cfg()
                },
                "`mean`",
            ),
            (
                PopulationConfig {
                    heterogeneity: -1.0,
                    ..cfg()
                },
                "`heterogeneity` = -1",
            ),
            (
                PopulationConfig {
                    heterogeneity: f64::INFINITY,
                    ..cfg()
                },
                "`heterogeneity`",
            ),
            (
                PopulationConfig {
                    noise: Noise::Gaussian { sigma: -1.0 },
                    ..cfg()
                },
                "`noise.sigma`",
            ),
            (
                PopulationConfig {
                    noise: Noise::Gaussian { sigma: f64::NAN },
                    ..cfg()
                },
                "`noise.sigma`",
            ),
            (
                PopulationConfig {
                    noise: Noise::StudentT {
                        nu: 1.0,
                        scale: 1.0,
                    },
                    ..cfg()
                },
                "`noise.nu`",
            ),
            (
                PopulationConfig {
                    noise: Noise::Pareto {
                        alpha: 1.0,
                        scale: 1.0,
                    },
                    ..cfg()
                },
                "`noise.alpha` = 1",
            ),
            (
                PopulationConfig {
                    noise: Noise::Pareto {
                        alpha: 0.5,
                        scale: 1.0,
                    },
                    ..cfg()
                },
                "`noise.alpha`",
            ),
            (
                PopulationConfig {
                    records: RecordsPerUser::Fixed { m: 0 },
                    ..cfg()
                },
                "`records.m` = 0",
            ),
            (
                PopulationConfig {
                    records: RecordsPerUser::Zipf { s: 0.0, max: 10 },
                    ..cfg()
                },
                "`records.s` = 0",
            ),
            (
                PopulationConfig {
                    records: RecordsPerUser::Zipf { s: -1.0, max: 10 },
                    ..cfg()
                },
                "`records.s`",
            ),
            (
                PopulationConfig {
                    records: RecordsPerUser::Zipf {
                        s: f64::NAN,
                        max: 10,
                    },
                    ..cfg()
                },
                "`records.s`",
            ),
            (
                PopulationConfig {
                    records: RecordsPerUser::Zipf { s: 1.0, max: 0 },
                    ..cfg()
                },
                "`records.max` = 0",
            ),
            (
                PopulationConfig {
                    canary_users: 51,
                    ..cfg()
                },
                "`canary_users` = 51",
            ),
            (
                PopulationConfig {
                    byzantine_fraction: 0.2,
                    canary_users: 41,
                    ..cfg()
                },
                "`canary_users`",
            ),
            (
                PopulationConfig {
                    canary: Canary::Secret { norm: 0.0 },
                    ..cfg()
                },
                "`canary.norm`",
            ),
            (
                PopulationConfig {
                    canary: Canary::Fixed { norm: f64::NAN },
                    ..cfg()
                },
                "`canary.norm`",
            ),
            (
                PopulationConfig {
                    n: 1,
                    heterogeneity: 1.0,
                    exact_heterogeneity: true,
                    ..cfg()
                },
                "`exact_heterogeneity`",
            ),
        ];
        for (c, want) in cases {
            let e = err_of(&c);
            assert!(e.contains(want), "{want}: {e}");
            assert!(c.clone().build().is_err());
            assert!(Population::sample(&c, &mut rng_from_seed(0)).is_err());
        }
    }

    #[test]
    fn byzantine_rounding_and_two_f_below_n() {
        // ⌊0.29·100⌋ = 29 although 0.29*100 evaluates to 28.999999999999996.
        assert_eq!(byzantine_count(0.29, 100), 29);
        assert_eq!(byzantine_count(0.2, 50), 10);
        assert_eq!(byzantine_count(0.25, 10), 2); // ⌊2.5⌋
        assert_eq!(byzantine_count(0.0, 10), 0);
        assert_eq!(byzantine_count(0.49, 3), 1); // ⌊1.47⌋
                                                 // The largest double below 0.5 times 6 rounds to exactly 3.0: f = 3, 2f = n.
        let frac = 0.499_999_999_999_999_94_f64;
        assert!(frac < 0.5);
        let c = PopulationConfig {
            n: 6,
            byzantine_fraction: frac,
            ..cfg()
        };
        let e = err_of(&c);
        assert!(e.contains("2f = 6 must be < n = 6"), "{e}");
        // f/n just below 1/2 is fine.
        let c = PopulationConfig {
            n: 7,
            byzantine_fraction: 0.49,
            ..cfg()
        };
        assert_eq!(c.build().unwrap().f(), 3);
    }

    fn bits(p: &Population) -> Vec<u64> {
        let mut v: Vec<u64> = p
            .honest_means()
            .matrix()
            .iter()
            .map(|x| x.to_bits())
            .collect();
        v.extend(p.honest_updates().matrix().iter().map(|x| x.to_bits()));
        for u in p.users() {
            v.push(u.n_records() as u64);
            for r in u.records() {
                v.push(u64::from(r.canary));
                v.extend(r.values.iter().map(|x| x.to_bits()));
            }
        }
        v
    }

    #[test]
    fn sampling_is_deterministic() {
        let c = PopulationConfig {
            n: 12,
            d: 5,
            byzantine_fraction: 0.25,
            heterogeneity: 2.0,
            noise: Noise::Pareto {
                alpha: 2.5,
                scale: 1.0,
            },
            records: RecordsPerUser::Zipf { s: 1.2, max: 20 },
            canary_users: 2,
            ..cfg()
        };
        let m = c.build().unwrap();
        let a = m.sample(&mut rng_from_seed(11)).unwrap();
        let b = m.sample(&mut rng_from_seed(11)).unwrap();
        let other = m.sample(&mut rng_from_seed(12)).unwrap();
        assert_eq!(bits(&a), bits(&b));
        assert_eq!(a, b);
        assert_ne!(bits(&a), bits(&other));
    }

    #[test]
    fn phases_give_common_random_numbers() {
        // Same seed, different noise family and G²: the same mean directions, so the
        // measured G² scales exactly with the target (up to rounding of the scale).
        let base = PopulationConfig {
            n: 30,
            d: 8,
            heterogeneity: 1.0,
            ..cfg()
        };
        let other = PopulationConfig {
            heterogeneity: 4.0,
            noise: Noise::StudentT {
                nu: 3.0,
                scale: 1.0,
            },
            ..base.clone()
        };
        let a = Population::sample(&base, &mut rng_from_seed(3)).unwrap();
        let b = Population::sample(&other, &mut rng_from_seed(3)).unwrap();
        let ratio = b.measured_g2() / a.measured_g2();
        assert!((ratio - 4.0).abs() < 1e-12, "{ratio}");
    }

    #[test]
    fn measured_g2_matches_target() {
        // |H| = 2000, d = 20, G² = 4, σ = 1, m = 5. measured_g2 ~ (G²/d)χ²_{d(|H|−1)}/|H|:
        // mean G²(|H|−1)/|H| = 3.998, sd G²√(2d(|H|−1))/(d|H|) = 0.0283; tolerance 5 sd.
        // The updates are i.i.d. N(0, (G²/d + σ²/m)I) = N(0, 0.4·I) per coordinate, so
        // measured_g2_updates ~ (0.4)χ²_{d(|H|−1)}/|H|: mean 8·0.9995 = 7.996, sd 0.0566.
        let (h, d, g2) = (2000usize, 20usize, 4.0);
        let c = PopulationConfig {
            n: h,
            d,
            heterogeneity: g2,
            records: RecordsPerUser::Fixed { m: 5 },
            ..cfg()
        };
        let p = Population::sample(&c, &mut rng_from_seed(21)).unwrap();
        let dof = (d * (h - 1)) as f64;
        let hf = h as f64;
        let (mean, sd) = (
            g2 * (hf - 1.0) / hf,
            g2 / d as f64 * (2.0 * dof).sqrt() / hf,
        );
        let got = p.measured_g2();
        assert!((got - mean).abs() < 5.0 * sd, "{got} vs {mean} ± {sd}");
        let v = 0.4;
        let (mean_u, sd_u) = (v * dof / hf, v * (2.0 * dof).sqrt() / hf);
        let got_u = p.measured_g2_updates();
        assert!(
            (got_u - mean_u).abs() < 5.0 * sd_u,
            "{got_u} vs {mean_u} ± {sd_u}"
        );
        // And the per-coordinate sd of the updates matches update_sigma = √0.4.
        assert_eq!(p.update_sigma(), Some(0.4f64.sqrt()));
        assert_eq!(p.update_variance(), Some(1.0 / 5.0 + 4.0 / 20.0)); // σ²/m + G²/d
    }

    #[test]
    fn exact_heterogeneity_is_exact() {
        let c = PopulationConfig {
            n: 10,
            d: 3,
            byzantine_fraction: 0.3,
            mean: 5.0,
            heterogeneity: 2.5,
            exact_heterogeneity: true,
            ..cfg()
        };
        let p = Population::sample(&c, &mut rng_from_seed(4)).unwrap();
        assert_eq!(p.n_honest(), 7);
        assert!((p.measured_g2() - 2.5).abs() < 1e-12, "{}", p.measured_g2());
        let avg = p.honest_means().view().mean();
        assert!(avg.iter().all(|a| (a - 5.0).abs() < 1e-12), "{avg}");
        assert_eq!(p.update_sigma(), None);
        // G² = 0 needs no rescaling: every mean is exactly μ.
        let c = PopulationConfig {
            heterogeneity: 0.0,
            ..c
        };
        let p = Population::sample(&c, &mut rng_from_seed(4)).unwrap();
        assert!(p.honest_means().matrix().iter().all(|&a| a == 5.0));
        assert_eq!(p.measured_g2(), 0.0);
        assert!(p.update_sigma().is_some());
    }

    #[test]
    fn updates_are_record_means() {
        let c = PopulationConfig {
            n: 6,
            d: 3,
            heterogeneity: 1.0,
            records: RecordsPerUser::Zipf { s: 1.0, max: 6 },
            canary_users: 2,
            ..cfg()
        };
        let p = Population::sample(&c, &mut rng_from_seed(5)).unwrap();
        for u in p.users() {
            let mut acc = [0.0; 3];
            for r in u.records() {
                for (a, x) in acc.iter_mut().zip(r.values) {
                    *a += x;
                }
            }
            let k = u.n_records() as f64;
            let want: Vec<f64> = acc.iter().map(|a| a / k).collect();
            assert_eq!(u.update(), want.as_slice());
            assert_eq!(p.honest_updates().view().col(u.id()), want.as_slice());
            assert_eq!(u.record_matrix().ncols(), u.n_records());
        }
        // With one record and no canary, the update is that record, bit for bit.
        let c = PopulationConfig {
            n: 4,
            d: 3,
            records: RecordsPerUser::Fixed { m: 1 },
            ..cfg()
        };
        let p = Population::sample(&c, &mut rng_from_seed(6)).unwrap();
        for u in p.users() {
            assert_eq!(u.update(), u.record(0).unwrap().values);
            assert!(u.record(1).is_none());
        }
    }

    #[test]
    fn byzantine_users_are_last_and_empty() {
        let c = PopulationConfig {
            n: 10,
            byzantine_fraction: 0.2,
            ..cfg()
        };
        let p = Population::sample(&c, &mut rng_from_seed(8)).unwrap();
        assert_eq!((p.n(), p.f(), p.n_honest()), (10, 2, 8));
        assert_eq!(p.byzantine_ids(), 8..10);
        assert!(p.is_byzantine(8) && !p.is_byzantine(7));
        assert!(p.user(8).is_none() && p.user(7).is_some());
        assert_eq!(p.honest_updates().n(), 8);
        assert_eq!(p.honest_means().n(), 8);
        assert_eq!(p.record_counts(), vec![10; 8]);
        assert_eq!(p.population_mean(), DVector::zeros(20));
    }

    #[test]
    fn canaries_are_flagged_and_counted() {
        let norm = 7.0;
        let c = PopulationConfig {
            n: 10,
            d: 6,
            byzantine_fraction: 0.2,
            heterogeneity: 1.0,
            records: RecordsPerUser::Fixed { m: 4 },
            canary_users: 3,
            canary: Canary::Secret { norm },
            ..cfg()
        };
        let p = Population::sample(&c, &mut rng_from_seed(9)).unwrap();
        let found: Vec<usize> = p.canaries().map(|(id, _)| id).collect();
        assert_eq!(found, vec![0, 1, 2]);
        let mut offsets = Vec::new();
        for u in p.users() {
            let flags: Vec<bool> = u.records().map(|r| r.canary).collect();
            if u.id() < 3 {
                assert_eq!(flags, vec![false, false, false, false, true]);
                let off: Vec<f64> = u
                    .canary()
                    .unwrap()
                    .iter()
                    .zip(u.mean())
                    .map(|(x, m)| x - m)
                    .collect();
                assert!((super::super::norm(&off) - norm).abs() < 1e-12);
                offsets.push(off);
            } else {
                assert_eq!(flags, vec![false; 4]);
                assert!(u.canary().is_none());
            }
        }
        assert_ne!(offsets[0], offsets[1]); // secret directions are fresh per user
        assert_eq!(p.update_sigma(), None);

        // Fixed shape: c = (7/√6)·1 for everyone.
        let c = PopulationConfig {
            canary: Canary::Fixed { norm },
            ..c
        };
        let p = Population::sample(&c, &mut rng_from_seed(9)).unwrap();
        for (id, rec) in p.canaries() {
            let u = p.user(id).unwrap();
            for (x, m) in rec.iter().zip(u.mean()) {
                assert!((x - m - norm / 6f64.sqrt()).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn zipf_sizes_follow_the_pmf() {
        // 4000 users, s = 1.5, max = 100. P(size = 1) = 1/H with H = Σ_{k≤100} k^{−1.5}
        // (≈ 2.4); the tail P(size ≥ 10) likewise from the pmf. Tolerance: 5 binomial sd.
        let (h, s, max) = (4000usize, 1.5, 100u64);
        let c = PopulationConfig {
            n: h,
            d: 1,
            records: RecordsPerUser::Zipf { s, max },
            ..cfg()
        };
        let p = Population::sample(&c, &mut rng_from_seed(10)).unwrap();
        let sizes = p.record_counts();
        assert!(sizes.iter().all(|&k| (1..=100).contains(&k)));
        let hnorm: f64 = (1..=max).map(|k| (k as f64).powf(-s)).sum();
        let pmf = |k: u64| (k as f64).powf(-s) / hnorm;
        let check = |emp: f64, p: f64, what: &str| {
            let sd = (p * (1.0 - p) / h as f64).sqrt();
            assert!((emp - p).abs() < 5.0 * sd, "{what}: {emp} vs {p} ± {sd}");
        };
        let frac = |pred: &dyn Fn(usize) -> bool| {
            sizes.iter().filter(|&&k| pred(k)).count() as f64 / h as f64
        };
        check(frac(&|k| k == 1), pmf(1), "P(size = 1)");
        check(
            frac(&|k| k >= 10),
            (10..=max).map(pmf).sum(),
            "P(size >= 10)",
        );
        check(
            frac(&|k| k >= 50),
            (50..=max).map(pmf).sum(),
            "P(size >= 50)",
        );
        assert!(p.update_sigma().is_none() && p.update_variance().is_none());
    }

    #[test]
    fn update_sigma_known_answer_and_none_cases() {
        // σ = 2, m = 4, G² = 20, d = 20: √(4/4 + 20/20) = √2.
        let c = PopulationConfig {
            noise: Noise::Gaussian { sigma: 2.0 },
            records: RecordsPerUser::Fixed { m: 4 },
            heterogeneity: 20.0,
            ..cfg()
        };
        assert_eq!(c.clone().build().unwrap().update_sigma(), Some(2f64.sqrt()));
        let t = PopulationConfig {
            noise: Noise::StudentT {
                nu: 5.0,
                scale: 2.0,
            },
            ..c.clone()
        };
        let m = t.build().unwrap();
        assert_eq!(m.update_sigma(), None);
        // Variance still known: 4·5/3/4 + 1.
        assert_eq!(m.update_variance(), Some(4.0 * 5.0 / 3.0 / 4.0 + 1.0));
        let t = PopulationConfig {
            noise: Noise::StudentT {
                nu: 2.0,
                scale: 2.0,
            },
            ..c
        };
        assert_eq!(t.build().unwrap().update_variance(), None);
    }

    #[test]
    fn mean_sq_deviation_known_answer() {
        // Square corners around (1, 1): every squared distance is 2.
        let x = Updates::from_rows(&[
            vec![0.0, 0.0],
            vec![2.0, 0.0],
            vec![0.0, 2.0],
            vec![2.0, 2.0],
        ])
        .unwrap();
        assert_eq!(mean_sq_deviation(x.view()), 2.0);
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        // Noise of scale 1e308 would overflow the users' sums while sampling, and a mean that
        // large the simulator's squares: both are refused before (`MAX_SCALE`).
        let c = PopulationConfig {
            mean: MAX_SCALE,
            noise: Noise::Gaussian { sigma: 1e308 },
            ..cfg()
        };
        let e = Population::sample(&c, &mut rng_from_seed(1)).unwrap_err();
        assert!(e.to_string().contains("`noise.sigma`"), "{e}");
        let c = PopulationConfig {
            mean: 1e308,
            noise: Noise::default(),
            ..c
        };
        let e = Population::sample(&c, &mut rng_from_seed(1)).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { .. }), "{e}");
    }

    #[test]
    fn high_dimension_single_record() {
        // d = 10⁵, m = 1: linear cost, 50·10⁵ values.
        let c = PopulationConfig {
            d: 100_000,
            records: RecordsPerUser::Fixed { m: 1 },
            byzantine_fraction: 0.2,
            ..cfg()
        };
        let p = Population::sample(&c, &mut rng_from_seed(2)).unwrap();
        assert_eq!(
            (p.honest_updates().d(), p.honest_updates().n()),
            (100_000, 40)
        );
    }
}
