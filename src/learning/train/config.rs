//! What a training run does: rounds, batches, learning-rate schedule, momentum, the Byzantine
//! users and their attack, the defence, the algorithm (D-SGD or FedAvg) and differential
//! privacy. A [`TrainConfig`] is plain data (serde, misspelled keys rejected), validated once
//! before any work.

use crate::aggregators::{PipelineSpec, StepSpec};
use crate::error::{check_non_negative, check_positive};
use crate::params::Compat;
use crate::privacy::accounting::AccountantKind;
use crate::privacy::check_delta;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Name of the loop's own attack: the mean of the honest clients' gradients on flipped labels
/// y′ = C − 1 − y (ByzFL's `LabelFlipping`), computed on the clients' batches of the round.
pub const LABEL_FLIPPING: &str = "label_flipping";

/// Whether `name` means [`LABEL_FLIPPING`] (snake_case or ByzFL's class name).
pub fn is_label_flipping(name: &str) -> bool {
    name == LABEL_FLIPPING || name == "LabelFlipping"
}

/// How a client draws its examples each step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampling {
    /// Each client runs its own epochs: its examples reshuffled at the start of each epoch,
    /// cut into batches of B, the last one partial (ByzFL's `DataLoader(shuffle=True)`
    /// without `drop_last`). The gradient is the batch mean.
    Shuffle,
    /// Each example joins the batch independently with probability q = min(1, B/Nᵢ)
    /// (Poisson sampling, what the subsampled-Gaussian accountants assume). The gradient is
    /// the batch's sum divided by the expected batch size q·Nᵢ (an unbiased estimate of the
    /// mean gradient that does not reveal the batch size; Opacus' convention).
    Poisson,
}

/// The distributed algorithm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Algorithm {
    /// Distributed SGD with client momentum: clients send momentum vectors, the server steps
    /// θ ← θ − η_t·(a + λθ) along the aggregate a.
    #[default]
    Dsgd,
    /// Federated averaging: every honest client runs `local_steps` SGD steps from θ (its own
    /// batches, step η_t, weight decay λ, no momentum) and sends its parameters; the server
    /// sets θ to their aggregate.
    FedAvg {
        /// Local SGD steps per round (≥ 1).
        local_steps: usize,
    },
}

/// Who is protected by differential privacy, and where the noise is added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DpLevel {
    /// Local (record-level) DP-SGD on every honest client: each example's gradient clipped to
    /// C, N(0, σ²C²) added to the clipped sum, divided by the expected batch size; Poisson
    /// sampling. ε protects one record of one client against everyone who sees what the
    /// client sends (the server, the Byzantine users), by the subsampled-Gaussian accountant
    /// at the largest sampling rate among the clients.
    Example,
    /// Central (user-level) DP: the server clips every received update to norm C, aggregates,
    /// projects the aggregate on the ball of radius C and adds N(0, σ²Δ²) to it, Δ its
    /// sensitivity to one user's update (module `train` docs); ε protects a whole user, by the
    /// Gaussian mechanism composed over rounds (q = 1).
    User,
}

/// Differential privacy settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpConfig {
    /// Example (local DP-SGD) or user (central) level.
    pub level: DpLevel,
    /// Noise multiplier σ ≥ 0.
    pub noise_multiplier: f64,
    /// Clip norm C > 0; `None` means C = ∞ (no clipping, then σ must be 0: the noise is
    /// calibrated to C).
    pub clip: Option<f64>,
    /// δ at which ε is reported.
    #[serde(default = "default_delta")]
    pub delta: f64,
    /// Accountant: RDP (ε every round) or PLD (ε at evaluation rounds: each conversion is a
    /// convolution).
    #[serde(default)]
    pub accountant: AccountantKind,
}

fn default_delta() -> f64 {
    1e-5
}

fn default_decay() -> f64 {
    1.0
}

fn default_eval_every() -> usize {
    10
}

/// One training run's settings (data, model and initial parameters are given separately).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Number of rounds T ≥ 1.
    pub rounds: usize,
    /// Batch size B per client and step; `None`: the client's full local data (full-batch
    /// gradients, no randomness).
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// How batches are drawn; `None`: shuffled epochs, or Poisson under example-level DP
    /// (which the accountant requires).
    #[serde(default)]
    pub sampling: Option<Sampling>,
    /// Learning rate η > 0.
    pub lr: f64,
    /// Rounds (0-based) at which the learning rate is multiplied by `lr_decay` (torch's
    /// MultiStepLR stepped once per round: round t uses η·γ^#{milestones ≤ t}).
    #[serde(default)]
    pub lr_milestones: Vec<usize>,
    /// Decay factor γ ∈ (0, 1].
    #[serde(default = "default_decay")]
    pub lr_decay: f64,
    /// Client momentum β ∈ [0, 1): m ← β·m + (1 − β)·g from m = 0, no bias correction.
    #[serde(default)]
    pub momentum: f64,
    /// Weight decay λ ≥ 0, applied by the server after aggregation (ByzFL's placement).
    #[serde(default)]
    pub weight_decay: f64,
    /// Number f of Byzantine users (sent after the honest ones).
    #[serde(default)]
    pub byzantine: usize,
    /// The server's defence: pre-aggregators, then the rule (f-aware steps carry f).
    pub defence: PipelineSpec,
    /// What the Byzantine users send: an attack of `crate::attacks` or [`LABEL_FLIPPING`].
    /// Required when f > 0; ignored when f = 0.
    #[serde(default)]
    pub attack: Option<StepSpec>,
    /// D-SGD or FedAvg.
    #[serde(default)]
    pub algorithm: Algorithm,
    /// Differential privacy, if any.
    #[serde(default)]
    pub privacy: Option<DpConfig>,
    /// Evaluate (test accuracy, G², κ̂) every this many rounds, and after the last round.
    #[serde(default = "default_eval_every")]
    pub eval_every: usize,
    /// ByzFL 0.0.11's semantics (`byzfl`) or lbounds' (`native`): rules, attacks, the
    /// adaptive attacks' defence state and FedAvg's client learning rate.
    #[serde(default)]
    pub compat: Compat,
}

impl TrainConfig {
    /// A D-SGD run with the given rounds, learning rate and defence, full batches, no
    /// momentum, no Byzantine users, no privacy.
    pub fn new(rounds: usize, lr: f64, defence: PipelineSpec) -> Self {
        TrainConfig {
            rounds,
            batch_size: None,
            sampling: None,
            lr,
            lr_milestones: Vec::new(),
            lr_decay: 1.0,
            momentum: 0.0,
            weight_decay: 0.0,
            byzantine: 0,
            defence,
            attack: None,
            algorithm: Algorithm::Dsgd,
            privacy: None,
            eval_every: default_eval_every(),
            compat: Compat::Native,
        }
    }

    /// The sampling scheme in force (module docs of [`Sampling`]).
    pub fn effective_sampling(&self) -> Sampling {
        match (self.sampling, self.privacy) {
            (Some(s), _) => s,
            (
                None,
                Some(DpConfig {
                    level: DpLevel::Example,
                    ..
                }),
            ) => Sampling::Poisson,
            (None, _) => Sampling::Shuffle,
        }
    }

    /// The attack the Byzantine users run, `None` when there are none.
    pub fn active_attack(&self) -> Option<&StepSpec> {
        if self.byzantine == 0 {
            None
        } else {
            self.attack.as_ref()
        }
    }

    /// Learning rate of round t (0-based): η·γ per milestone ≤ t, multiplied in round order as
    /// torch's MultiStepLR does.
    pub fn lr_at(&self, t: usize) -> f64 {
        let mut lr = self.lr;
        for s in 1..=t {
            lr = self.next_lr(lr, s);
        }
        lr
    }

    /// The learning rate after the scheduler's step into round `t`: torch's MultiStepLR
    /// multiplies by γ^k when t is a milestone k times.
    pub(crate) fn next_lr(&self, lr: f64, t: usize) -> f64 {
        let k = self.lr_milestones.iter().filter(|&&m| m == t).count();
        if k == 0 {
            lr
        } else {
            lr * self.lr_decay.powi(k as i32)
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        if self.rounds == 0 {
            return Err(Error::invalid("rounds", 0, "must be >= 1"));
        }
        check_positive("lr", self.lr)?;
        if !(self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            return Err(Error::invalid(
                "lr_decay",
                self.lr_decay,
                "must lie in (0, 1] (torch's MultiStepLR gamma)",
            ));
        }
        if !(self.momentum >= 0.0 && self.momentum < 1.0) {
            return Err(Error::invalid(
                "momentum",
                self.momentum,
                "must lie in [0, 1) (m <- beta*m + (1-beta)*g)",
            ));
        }
        check_non_negative("weight_decay", self.weight_decay)?;
        if self.batch_size == Some(0) {
            return Err(Error::invalid("batch_size", 0, "must be >= 1"));
        }
        if self.eval_every == 0 {
            return Err(Error::invalid("eval_every", 0, "must be >= 1"));
        }
        if let Algorithm::FedAvg { local_steps } = self.algorithm {
            if local_steps == 0 {
                return Err(Error::invalid("local_steps", 0, "must be >= 1"));
            }
        }
        if self.byzantine > 0 && self.attack.is_none() {
            return Err(Error::invalid(
                "attack",
                "none",
                format!(
                    "{} Byzantine users need an attack (see `lbounds list`, or {LABEL_FLIPPING})",
                    self.byzantine
                ),
            ));
        }
        if let Some(a) = self.active_attack() {
            if is_label_flipping(&a.name) {
                if let Some(k) = a.params.0.keys().next() {
                    return Err(Error::unknown(
                        "parameter of label_flipping (known: none)",
                        k,
                        [],
                    ));
                }
                if matches!(self.algorithm, Algorithm::FedAvg { .. }) {
                    return Err(Error::Unsupported(
                        "label_flipping sends a gradient, FedAvg clients send parameters \
                         (ByzFL refuses it too)"
                            .into(),
                    ));
                }
            }
        }
        if let Some(dp) = &self.privacy {
            check_non_negative("dp_sigma", dp.noise_multiplier)?;
            check_delta(dp.delta)?;
            match dp.clip {
                Some(c) => {
                    check_positive("clip", c)?;
                    // The noise's largest standard deviation: σC, or σ·2C at the user level
                    // (the sensitivity of a robust rule's output). A standard normal draw
                    // stays within ±64 in any run (P(|z| > 64) ≈ 10⁻⁸⁹⁰), so up to
                    // f64::MAX/128 the noise and what it is added to stay finite; beyond, the
                    // first round's noise overflows, and was blamed on the gradient.
                    let sd = dp.noise_multiplier
                        * c
                        * match dp.level {
                            DpLevel::Example => 1.0,
                            DpLevel::User => 2.0,
                        };
                    if sd > f64::MAX / 128.0 {
                        return Err(Error::invalid(
                            "dp_sigma * clip",
                            sd,
                            "the noise's draws would overflow f64 (its standard deviation, \
                             2*sigma*clip at the user level, at most f64::MAX/128 = 1.4e306): \
                             lower --dp-sigma or --clip",
                        ));
                    }
                }
                None if dp.noise_multiplier > 0.0 => {
                    return Err(Error::invalid(
                        "dp_sigma",
                        dp.noise_multiplier,
                        "the noise is calibrated to the clip norm: set a finite clip norm",
                    ))
                }
                None => {}
            }
            if dp.level == DpLevel::Example && self.sampling == Some(Sampling::Shuffle) {
                return Err(Error::invalid(
                    "sampling",
                    "shuffle",
                    "example-level DP is accounted for Poisson sampling (the \
                     subsampled-Gaussian accountants assume it); use poisson",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> TrainConfig {
        TrainConfig::new(
            3,
            0.1,
            PipelineSpec {
                rule: StepSpec::named("average"),
                pre: vec![],
            },
        )
    }

    /// torch's MultiStepLR(milestones=[2, 4, 4], gamma=0.5) stepped once per round gives
    /// lr 1, 1, 0.5, 0.5, 0.125 for rounds 0..5 (a repeated milestone counts twice).
    #[test]
    fn multistep_schedule_known_answer() {
        let mut c = cfg();
        c.lr = 1.0;
        c.lr_milestones = vec![2, 4, 4];
        c.lr_decay = 0.5;
        let lrs: Vec<f64> = (0..5).map(|t| c.lr_at(t)).collect();
        assert_eq!(lrs, [1.0, 1.0, 0.5, 0.5, 0.125]);
    }

    #[test]
    fn bad_settings_are_named() {
        let bad = |f: &dyn Fn(&mut TrainConfig), name: &str| {
            let mut c = cfg();
            f(&mut c);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
        };
        bad(&|c| c.rounds = 0, "rounds");
        bad(&|c| c.lr = 0.0, "lr");
        bad(&|c| c.lr = f64::NAN, "lr");
        bad(&|c| c.lr = -1.0, "lr");
        bad(&|c| c.momentum = 1.0, "momentum");
        bad(&|c| c.lr_decay = 0.0, "lr_decay");
        bad(&|c| c.batch_size = Some(0), "batch_size");
        bad(&|c| c.byzantine = 2, "attack");
        bad(
            &|c| {
                c.privacy = Some(DpConfig {
                    level: DpLevel::Example,
                    noise_multiplier: 1.0,
                    clip: None,
                    delta: 1e-5,
                    accountant: AccountantKind::Rdp,
                })
            },
            "clip",
        );
        // Noise whose draws overflow f64 (σC = 10³⁰⁸; it ran and stopped in round 1 on "a
        // client's gradient ... the parameters or the data are too large"), at both levels;
        // the limit f64::MAX/128 on σC, and on 2σC at the user level.
        for (level, sigma, ok) in [
            (DpLevel::Example, 1e308, false),
            (DpLevel::User, 1e308, false),
            (DpLevel::Example, f64::MAX / 128.0, true),
            (DpLevel::User, f64::MAX / 128.0, false),
            (DpLevel::User, f64::MAX / 256.0, true),
        ] {
            let mut c = cfg();
            c.privacy = Some(DpConfig {
                level,
                noise_multiplier: sigma,
                clip: Some(1.0),
                delta: 1e-5,
                accountant: AccountantKind::Rdp,
            });
            match c.validate() {
                Ok(()) => assert!(ok, "{level:?} {sigma}"),
                Err(e) => assert!(!ok && e.to_string().contains("dp_sigma * clip"), "{e}"),
            }
        }
        assert!(cfg().validate().is_ok());
    }

    #[test]
    fn dp_defaults_to_poisson_sampling() {
        let mut c = cfg();
        assert_eq!(c.effective_sampling(), Sampling::Shuffle);
        c.privacy = Some(DpConfig {
            level: DpLevel::Example,
            noise_multiplier: 1.0,
            clip: Some(1.0),
            delta: 1e-5,
            accountant: AccountantKind::Rdp,
        });
        assert_eq!(c.effective_sampling(), Sampling::Poisson);
        c.sampling = Some(Sampling::Shuffle);
        assert!(c.validate().is_err());
    }
}
