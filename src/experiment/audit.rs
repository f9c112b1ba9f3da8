//! The DP-SGD audit as a sweep experiment (`experiment = "audit"`; reference experiment E4):
//! one record is one audit of the crate's own DP-SGD, with or without a planted bug, exactly
//! as `lbounds audit dpsgd` runs it ([`crate::privacy::audit::dpsgd::audit`]), at a grid point
//! of claimed ε × planted bug × method × sizes.
//!
//! # Determinism
//! An audit is keyed by one seed, drawn from the stream `dpsgd-audit/seed` of the job's
//! (sweep seed, replicate): every grid point of a replicate audits on the same data with the
//! same sampling and noise streams (common random numbers), so the points of the figure
//! differ by ε, bug and method, not by luck. A multi-run audit maps its 2K trainings through
//! the experiment runner ([`crate::experiment::run`]); inside a sweep job that nested map
//! runs on the sweep's own rayon pool (no second pool, no extra worker threads) and collects
//! in job order, so a record's bytes do not depend on the thread count.
//!
//! # Bounds
//! [`AuditBounds`]: the accountant's ε at the calibrated σ (what no sound audit may exceed)
//! and the largest ε_LB the method can report at all at the point (perfect separation,
//! [`epsilon_lower_max`]).

use super::{Experiment, Job};
use crate::learning::model::Backend;
use crate::privacy::audit::dpsgd::{self, AuditConfig, AuditOutcome, AuditTraining, Method};
use crate::privacy::audit::{epsilon, one_run};
use crate::privacy::sgd::PlantedBug;
use crate::rng::SimRng;
use crate::Result;
use rand::Rng as _;
use serde::{Deserialize, Serialize};

/// The stream the audit's seed is drawn from (per sweep seed and replicate).
pub const SEED_STREAM: &str = "dpsgd-audit/seed";

/// How an audit uses its trainings (the grid key `method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditMethod {
    /// K trainings with the canary and K without (`runs` = K).
    MultiRun,
    /// One training with `canaries` canaries (`guesses` guesses).
    OneRun,
}

impl AuditMethod {
    /// Every method, in the order messages list them.
    pub const ALL: [AuditMethod; 2] = [AuditMethod::MultiRun, AuditMethod::OneRun];

    /// The name used in configs and records.
    pub fn name(self) -> &'static str {
        match self {
            AuditMethod::MultiRun => "multi_run",
            AuditMethod::OneRun => "one_run",
        }
    }

    /// The method called `name`.
    ///
    /// # Errors
    /// [`crate::Error::Unknown`] naming the two methods.
    pub fn parse(name: &str) -> Result<AuditMethod> {
        AuditMethod::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| {
                crate::Error::unknown("method", name, AuditMethod::ALL.map(AuditMethod::name))
            })
    }
}

/// One grid point of the `audit` experiment: the settings of `lbounds audit dpsgd`, with its
/// defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditPoint {
    /// The claimed ε (σ is calibrated to it).
    pub epsilon: f64,
    /// The deviation planted in DP-SGD.
    pub planted_bug: PlantedBug,
    /// Multi-run or one-run.
    pub method: AuditMethod,
    /// Multi-run: trainings per world K.
    pub runs: u32,
    /// One-run: canaries M.
    pub canaries: u32,
    /// One-run: guesses R; `None`: [`Method::default_guesses`] (M/10, even).
    pub guesses: Option<u32>,
    /// δ of the claim and of the audit.
    pub delta: f64,
    /// Failure probability of the lower bound.
    pub alpha: f64,
    /// Poisson sampling rate q.
    pub sample_rate: f64,
    /// Epochs (each ⌈1/q⌉ steps).
    pub epochs: usize,
    /// Data examples N.
    pub examples: usize,
    /// Learning rate η.
    pub lr: f64,
    /// Clip norm C.
    pub clip: f64,
    /// The backend the audited model trains on (left out of records when native).
    #[serde(default, skip_serializing_if = "Backend::is_native")]
    pub backend: Backend,
}

impl Default for AuditPoint {
    /// The CLI's defaults: ε = 1 (the grid must set it), no bug, multi-run with K = 1000, or
    /// one run with M = 10⁴ canaries and R = M/10 guesses, δ = 10⁻⁵, α = 0.05, and
    /// [`AuditTraining::default`].
    fn default() -> Self {
        let t = AuditTraining::default();
        AuditPoint {
            epsilon: 1.0,
            planted_bug: PlantedBug::None,
            method: AuditMethod::MultiRun,
            runs: 1000,
            canaries: 10_000,
            guesses: None,
            delta: 1e-5,
            alpha: 0.05,
            sample_rate: t.sample_rate,
            epochs: t.epochs,
            examples: t.examples,
            lr: t.learning_rate,
            clip: t.clip,
            backend: Backend::Native,
        }
    }
}

impl AuditPoint {
    /// The audit's settings.
    pub fn config(&self) -> AuditConfig {
        AuditConfig {
            epsilon: self.epsilon,
            delta: self.delta,
            alpha: self.alpha,
            planted_bug: self.planted_bug,
            method: match self.method {
                AuditMethod::MultiRun => Method::MultiRun { runs: self.runs },
                AuditMethod::OneRun => Method::OneRun {
                    canaries: self.canaries,
                    guesses: self
                        .guesses
                        .unwrap_or_else(|| Method::default_guesses(self.canaries)),
                },
            },
            training: AuditTraining {
                examples: self.examples,
                sample_rate: self.sample_rate,
                epochs: self.epochs,
                learning_rate: self.lr,
                clip: self.clip,
            },
            backend: self.backend,
        }
    }

    /// Checks every setting, and that σ can be calibrated to ε.
    ///
    /// # Errors
    /// [`AuditConfig::validate`]'s and [`dpsgd::calibrated`]'s.
    pub fn check(&self) -> Result<()> {
        let c = self.config();
        c.validate()?;
        dpsgd::calibrated(&c).map(|_| ())
    }
}

/// What bounds the audit's ε_LB at a point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditBounds {
    /// The accountant's ε at the calibrated σ: a sound audit of a correct DP-SGD stays below
    /// it with probability ≥ 1 − α.
    pub epsilon_theory: f64,
    /// The largest ε_LB the method can report at this point whatever the implementation
    /// ([`epsilon_lower_max`]).
    pub epsilon_lower_max: f64,
}

impl AuditBounds {
    /// The bounds at `p`.
    ///
    /// # Errors
    /// Those of [`AuditPoint::check`] (not for a validated point).
    pub fn at(p: &AuditPoint) -> Result<AuditBounds> {
        let c = p.config();
        let (_, epsilon_theory) = dpsgd::calibrated(&c)?;
        Ok(AuditBounds {
            epsilon_theory,
            epsilon_lower_max: epsilon_lower_max(&c)?,
        })
    }
}

/// The ceiling of an audit method: the ε_LB of a perfect adversary, at the α/2 each statistic
/// of [`dpsgd::audit`] gets.
/// - Multi-run with K runs per world: the Bonferroni convex-hull bound
///   [`epsilon::from_scores`] of perfectly separated scores (every canary run above every
///   other), which is ln(t/(1 − t)) − O(δ) with t the Clopper–Pearson bound of K successes
///   in K (reference §2.5: 3.28 at K = 100, 5.60 at K = 1000 for α = 0.05 at one threshold).
/// - One run with M canaries and R guesses: [`one_run::epsilon_lower`] with all R guesses
///   right (Steinke, Nasr & Jagielski 2023: perfect guessing caps ε_LB; reference §2.4).
///
/// # Errors
/// Those of the bounds for invalid settings.
pub fn epsilon_lower_max(c: &AuditConfig) -> Result<f64> {
    let half = c.alpha / 2.0;
    Ok(match c.method {
        Method::MultiRun { runs } => {
            let k = runs as usize;
            epsilon::from_scores(&vec![1.0; k], &vec![0.0; k], c.delta, half, false)?.epsilon_lower
        }
        Method::OneRun { canaries, guesses } => {
            let perfect = one_run::OneRun {
                canaries: u64::from(canaries),
                guesses: u64::from(guesses),
                correct: u64::from(guesses),
            };
            one_run::epsilon_lower(&perfect, c.delta, 1.0 - half)?.epsilon_lower
        }
    })
}

/// The audit experiment (stateless; all settings are in the point).
#[derive(Clone, Copy, Debug, Default)]
pub struct DpsgdAudit;

impl Experiment for DpsgdAudit {
    type Point = AuditPoint;
    type Output = AuditOutcome;

    /// Keys the audit by one number drawn from `rng`.
    fn run_once(&self, p: &AuditPoint, rng: &mut SimRng) -> Result<AuditOutcome> {
        dpsgd::audit(&p.config(), rng.next_u64(), &|| {})
    }

    /// Keys the audit by the stream [`SEED_STREAM`] of (seed, replicate): common random
    /// numbers across the grid (module docs).
    fn run_job(&self, p: &AuditPoint, job: Job) -> Result<AuditOutcome> {
        self.run_once(p, &mut job.named(SEED_STREAM))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::config::{SweepConfig, SweepParams};

    /// The built-in sweep parses: every claimed ε × every planted bug × both methods, the
    /// last key (`planted_bug`) fastest, the CLI's defaults where the file is silent; bad
    /// values name their key.
    #[test]
    fn sweep_config_parses() {
        let c = SweepConfig::parse(
            include_str!("../../examples/sweeps/audit.toml"),
            "audit.toml",
        )
        .unwrap();
        assert_eq!(c.points(), 6 * 5 * 2);
        let (p, grid) = c.point(1).unwrap();
        let SweepParams::Audit(a) = p else {
            panic!("an audit point")
        };
        assert_eq!(a.planted_bug, PlantedBug::NoClipping);
        assert_eq!(grid["planted_bug"], "no-clipping");
        assert_eq!((a.delta, a.alpha, a.epochs), (1e-5, 0.05, 10));
        let (p, _) = c.point(59).unwrap();
        let SweepParams::Audit(a) = p else {
            panic!("an audit point")
        };
        assert_eq!(
            (a.epsilon, a.method, a.planted_bug),
            (16.0, AuditMethod::OneRun, PlantedBug::ReusedNoise)
        );
        assert_eq!(
            a.config().method,
            Method::OneRun {
                canaries: 10_000,
                guesses: 1000
            }
        );
        let bad = |grid: &str, needle: &str| {
            let text = format!(
                "name = \"x\"\nexperiment = \"audit\"\nseed = 1\nreplicates = 1\n[grid]\n{grid}\n"
            );
            let e = SweepConfig::parse(&text, "x.toml").unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        };
        bad("planted_bug = \"none\"", "epsilon");
        bad("epsilon = 0", "epsilon");
        bad("epsilon = 1\nplanted_bug = \"no-clip\"", "no-clipping");
        bad("epsilon = 1\nmethod = \"two_run\"", "method");
        bad("epsilon = 1\nruns = 0", "runs");
        bad("epsilon = 1\nmethod = \"one_run\"\nguesses = 3", "guesses");
        bad("epsilon = 1\nrule = \"median\"", "rule");
    }

    /// Known answers of the ceilings. Multi-run: perfectly separated scores have a hull of
    /// k = 3 vertices (never, the gap, always), so each Clopper–Pearson bound is at level
    /// a = (α/2)/(2k) and, with 0 failures in K, CP_upper(0, K, a) = 1 − a^(1/K) in closed
    /// form (reference §2.5 with a for α/2): ε_max = ln((t − δ)/(1 − t)), t = a^(1/K), to
    /// 1e-9 (CP by a beta quantile to ~1e-12 relative). One run: the ceiling grows with R and
    /// stays below the δ = 0 known answer 5.81 (M = R = 1000, 95 %; reference §2.4).
    /// Mutation checked: taking the ceiling at α instead of the α/2 each statistic gets in
    /// [`dpsgd::audit`] fails it.
    #[test]
    fn ceilings_match_their_known_answers() {
        let multi = |k: u32| {
            let p = AuditPoint {
                runs: k,
                ..AuditPoint::default()
            };
            epsilon_lower_max(&p.config()).unwrap()
        };
        for k in [100u32, 1000] {
            let t = (0.025f64 / 6.0).powf(1.0 / f64::from(k));
            let want = ((t - 1e-5) / (1.0 - t)).ln();
            let m = multi(k);
            assert!((m - want).abs() < 1e-9, "K = {k}: {m} vs {want}");
        }
        let one = |m: u32, r: u32| {
            let p = AuditPoint {
                method: AuditMethod::OneRun,
                canaries: m,
                guesses: Some(r),
                ..AuditPoint::default()
            };
            epsilon_lower_max(&p.config()).unwrap()
        };
        let (small, large) = (one(1000, 100), one(1000, 1000));
        assert!(small < large && large < 5.81, "{small} {large}");
    }
}
