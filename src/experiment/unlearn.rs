//! Unlearning measured against exact retraining (issue 15, E5; lbounds' privacy reference §4
//! E5 and §5's unlearning lessons).
//!
//! One run ([`run_unlearn`]):
//! 1. draws the long-tailed population ([`LongTail`], stream `mia/population` of the data seed:
//!    the same population `lbounds audit mia` audits) with held-out test records;
//! 2. picks the forget set F among the training records D ([`ForgetSet`], stream
//!    `unlearn/forget`): 2 % uniformly at random, **one class's whole tail** (every record of
//!    each of its tail components — a subpopulation no retained record resembles), or every
//!    **mislabelled** record (the population's natural canaries); R = D ∖ F;
//! 3. trains, as jobs of the experiment runner, N **original** models on D, N **reference**
//!    models on R and N more **retrained** models on R (the exact-unlearning arm), each with
//!    [`shadow::train`] from the streams of its role's seed (`unlearn/original`,
//!    `unlearn/reference`, `unlearn/retrain`) and its index;
//! 4. applies every approximate method ([`crate::learning::unlearn`]) to each original:
//!    gradient ascent after each step count of `ga_steps` at each step size of
//!    `ga_lr_scales` × `lr` (one trajectory per step size: the sweep over lr × steps),
//!    gradient difference, fine-tuning and random labels after `steps` steps at `lr`, and for
//!    softmax regression the Newton / influence step (left out for an MLP: see
//!    [`newton_applies`]); the untouched original is an arm too;
//! 5. scores every arm **against the reference models** (never in absolute terms):
//!    - per forget example, ε_i from the N arm and N reference models' logit-scaled
//!      confidences φ (the competition's plug-in `compute_epsilon_s`, and a (1 − α) lower
//!      confidence bound), and the forgetting quality F = mean 2/2^{n_i},
//!      n_i = digitize(ε_i, [0, 0.5, …, 6]) ([`crate::privacy::audit::unlearning`]);
//!    - the starting kit's `simple_mia` accuracy (forget vs test losses) and the directional
//!      loss AUC (forget records as members, lower loss = member): AUC ≪ 0.5 is
//!      **over-unlearning**;
//!    - forget / retain / test accuracy and their differences Δ to the reference, and the
//!      "ToW" utility (1 − |Δ_forget|)(1 − |Δ_retain|)(1 − |Δ_test|);
//!    - **relearning**: s ∈ `relearn_steps` full-batch steps on a fixed 10 % of F (stream
//!      `unlearn/relearn`), then accuracy on the other 90 %, with the retrained arm as the
//!      control (what any model learns from those records).
//!
//! The exact-retraining arm measures the metrics' own ideal at this N: its plug-in F is the
//! distribution-free null value [`plugin_null_quality`] (reported as `plugin_ideal`), its
//! lower-bound F is 1 up to α, its Δs are 0 up to their CIs.
//!
//! Intervals: accuracies, `simple_mia` and AUC are means over the N models with 95 %
//! Student-t intervals; a Δ's half-width is √(h_arm² + h_ref²) (the two samples are
//! independent); F's interval is over the forget examples (the models are shared by every
//! example, so it leaves out the model-sampling noise — the arm-to-arm spread of F is the
//! honest yardstick).
//!
//! [`UnlearnExperiment`] wraps a whole run as one job for sweeps (`experiment = "unlearn"`).

use super::summary::mean_ci;
use super::{default_chunk, run_streaming, Experiment, Job};
use crate::learning::examples::Examples;
use crate::learning::model::{Model, ModelSpec};
use crate::learning::unlearn::{gradient_ascent, Method, UnlearnSet, MAX_STEPS};
use crate::privacy::audit::mia::population::{LongTail, MiaData};
use crate::privacy::audit::mia::shadow::{self, ShadowConfig};
use crate::privacy::audit::mia::ModelStats;
use crate::privacy::audit::roc::Roc;
use crate::privacy::audit::unlearning::{
    lower_epsilon, plugin_epsilon, plugin_null_quality, simple_mia, weight,
};
use crate::rng::{permutation, rng_named, SimRng};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Which records are forgotten.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForgetSet {
    /// `forget_fraction` of the training records, uniformly at random.
    Random,
    /// Every record of every tail component of one class (drawn uniformly).
    Tail,
    /// Every mislabelled training record.
    Mislabelled,
}

impl ForgetSet {
    /// Every kind, as configs name them.
    pub const NAMES: [&'static str; 3] = ["random", "tail", "mislabelled"];

    /// The kind's name.
    pub fn name(self) -> &'static str {
        match self {
            ForgetSet::Random => "random",
            ForgetSet::Tail => "tail",
            ForgetSet::Mislabelled => "mislabelled",
        }
    }

    /// The kind called `s`.
    ///
    /// # Errors
    /// [`Error::Unknown`] for another name.
    pub fn parse(s: &str) -> Result<ForgetSet> {
        match s {
            "random" => Ok(ForgetSet::Random),
            "tail" => Ok(ForgetSet::Tail),
            "mislabelled" => Ok(ForgetSet::Mislabelled),
            other => Err(Error::unknown(
                "forget set",
                other,
                ForgetSet::NAMES.iter().copied(),
            )),
        }
    }
}

/// Most models per arm.
pub const MAX_MODELS: usize = 4096;

/// Largest gradient-ascent step-size multiple.
pub const MAX_LR_SCALE: f64 = 1e3;

/// The gradient-ascent sweep of a point without one: `lr` alone.
fn unit_scale() -> Vec<f64> {
    vec![1.0]
}

/// One run's parameters (seeds apart).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnlearnPoint {
    /// The population (its `records` are D; `head_test`/`tail_test` the test set).
    pub data: LongTail,
    /// The forget set.
    pub forget: ForgetSet,
    /// Share of D forgotten by the `random` forget set.
    pub forget_fraction: f64,
    /// Models N per arm (originals, reference, retrained).
    pub models: usize,
    /// How every original and retrained model is trained.
    pub shadow: ShadowConfig,
    /// Steps of gradient difference, fine-tuning and random labels, and the gradient-ascent
    /// step count of the relearning and trade-off arms.
    pub steps: usize,
    /// Step size of every gradient method.
    pub lr: f64,
    /// Gradient-ascent step counts of the accuracy-vs-steps curve (ascending; 0 = the
    /// original).
    pub ga_steps: Vec<usize>,
    /// Step sizes of the gradient-ascent sweep as multiples of `lr` (strictly ascending):
    /// every (scale·lr, step count) pair of `ga_lr_scales` × `ga_steps` is an arm — the
    /// reference's "GA sweep over lr × steps". Records written before the sweep read as
    /// `[1.0]`.
    #[serde(default = "unit_scale")]
    pub ga_lr_scales: Vec<f64>,
    /// Relearning step counts (ascending; 0, the unlearned model itself, is always measured
    /// too).
    pub relearn_steps: Vec<usize>,
    /// Share of F the relearning steps train on.
    pub relearn_fraction: f64,
    /// δ of the per-example ε.
    pub delta: f64,
    /// Failure probability of the per-example ε lower bounds.
    pub alpha: f64,
}

impl Default for UnlearnPoint {
    /// The shared population at N = 2 500 training records (500 head and 200 tail test
    /// records), 2 % random forget set, 32 softmax models per arm, 10 steps at the training
    /// step size, gradient ascent after 0, 1, 2, 5, 10, 20, 50 steps at 0.1, 0.3 and 1 times
    /// that step size, relearning after 1, 5, 20 steps on 10 % of F.
    fn default() -> Self {
        let shadow = ShadowConfig::softmax();
        UnlearnPoint {
            data: LongTail {
                records: 2500,
                population: 0,
                head_test: 500,
                tail_test: 1,
                ..LongTail::default()
            },
            forget: ForgetSet::Random,
            forget_fraction: 0.02,
            models: 32,
            lr: shadow.lr,
            shadow,
            steps: 10,
            ga_steps: vec![0, 1, 2, 5, 10, 20, 50],
            ga_lr_scales: vec![0.1, 0.3, 1.0],
            relearn_steps: vec![1, 5, 20],
            relearn_fraction: 0.1,
            delta: 0.0,
            alpha: 0.05,
        }
    }
}

impl UnlearnPoint {
    /// The `--quick` size of the tests: 600 training records (10 classes, 5 tail components
    /// each), 8 models per arm, softmax trained 30 steps, gradient ascent at the one step size.
    pub fn quick() -> UnlearnPoint {
        let mut p = UnlearnPoint::default();
        p.data.records = 600;
        p.data.tail_components = 5;
        p.data.head_test = 100;
        p.data.label_noise = 0.03;
        p.models = 8;
        p.shadow.epochs = 30;
        p.ga_steps = vec![0, 2, 10];
        p.ga_lr_scales = unit_scale();
        p
    }

    /// Checks the point.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        self.data.validate()?;
        self.shadow.validate()?;
        if self.shadow.dp.is_some() {
            return Err(Error::invalid(
                "dp",
                "set",
                "unlearning runs train without DP-SGD",
            ));
        }
        if !(4..=MAX_MODELS).contains(&self.models) {
            return Err(Error::invalid(
                "models",
                self.models,
                format!("must be in 4..={MAX_MODELS}"),
            ));
        }
        let held_out = self.data.head_test + self.data.tail_test;
        if held_out < MIN_FORGET {
            return Err(Error::invalid(
                "test records",
                held_out,
                format!(
                    "simple_mia needs at least {MIN_FORGET} held-out records (head_test + \
                     tail_test), as many as a forget set"
                ),
            ));
        }
        let share = |name: &str, v: f64| -> Result<()> {
            if v > 0.0 && v <= 1.0 {
                Ok(())
            } else {
                Err(Error::invalid(name, v, "must be in (0, 1]"))
            }
        };
        share("forget fraction", self.forget_fraction)?;
        if self.forget_fraction > 0.5 {
            return Err(Error::invalid(
                "forget fraction",
                self.forget_fraction,
                "must be at most 0.5 (R must stay the larger part)",
            ));
        }
        share("relearn fraction", self.relearn_fraction)?;
        Method::named("fine_tune", self.steps, self.lr)?;
        for (name, list) in [
            ("ga steps", &self.ga_steps),
            ("relearn steps", &self.relearn_steps),
        ] {
            if list.is_empty()
                || list.windows(2).any(|w| w[0] >= w[1])
                || list.iter().any(|&s| s > MAX_STEPS)
            {
                return Err(Error::invalid(
                    name,
                    format!("{list:?}"),
                    format!("must be a non-empty strictly ascending list of counts ≤ {MAX_STEPS}"),
                ));
            }
        }
        let scales = &self.ga_lr_scales;
        if scales.is_empty()
            || scales.windows(2).any(|w| w[0] >= w[1])
            || scales.iter().any(|&c| !(c > 0.0 && c <= MAX_LR_SCALE))
        {
            return Err(Error::invalid(
                "ga lr scales",
                format!("{scales:?}"),
                format!("must be a non-empty strictly ascending list in (0, {MAX_LR_SCALE}]"),
            ));
        }
        crate::privacy::audit::check_audit_delta(self.delta)?;
        crate::privacy::audit::check_alpha(self.alpha)?;
        Ok(())
    }
}

/// A mean with the half-width of its 95 % interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ci {
    /// The mean.
    pub mean: f64,
    /// Half-width of the 95 % interval.
    pub half_width: f64,
}

impl Ci {
    fn of(xs: &[f64]) -> Ci {
        mean_ci(xs, 0.95).map_or(
            Ci {
                mean: f64::NAN,
                half_width: 0.0,
            },
            |c| Ci {
                mean: c.mean,
                half_width: c.half_width,
            },
        )
    }

    /// self − other, half-width √(h₁² + h₂²).
    fn minus(self, other: Ci) -> Ci {
        Ci {
            mean: self.mean - other.mean,
            half_width: self.half_width.hypot(other.half_width),
        }
    }
}

/// The reference (retrained) models' own numbers: the ideal every arm is measured against.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Utility {
    /// Accuracy on F (labels as recorded).
    pub forget_accuracy: Ci,
    /// Accuracy on R.
    pub retain_accuracy: Ci,
    /// Accuracy on the test records.
    pub test_accuracy: Ci,
    /// `simple_mia` accuracy (forget vs test losses).
    pub simple_mia: Ci,
    /// Loss AUC, forget records as members (lower loss = member).
    pub loss_auc: Ci,
}

/// One arm's scores against the reference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArmReport {
    /// `retrain`, `original`, or a method of [`Method::NAMES`].
    pub method: String,
    /// Steps of a gradient method.
    pub steps: Option<usize>,
    /// Step size of a gradient method.
    #[serde(default)]
    pub lr: Option<f64>,
    /// The arm's own accuracies, `simple_mia` and loss AUC.
    pub utility: Utility,
    /// Forgetting quality F from the plug-in ε_i (the competition's estimator), interval
    /// over examples.
    pub forgetting_quality: Ci,
    /// F from the (1 − α) lower bounds on ε_i.
    pub forgetting_quality_lower: Ci,
    /// Per forget example: the plug-in ε_i (`null` = ∞).
    pub epsilon_plugin: Vec<Option<f64>>,
    /// Per forget example: the lower bound on ε_i.
    pub epsilon_lower: Vec<f64>,
    /// Forget accuracy − the reference's.
    pub delta_forget_accuracy: Ci,
    /// Retain accuracy − the reference's.
    pub delta_retain_accuracy: Ci,
    /// Test accuracy − the reference's.
    pub delta_test_accuracy: Ci,
    /// (1 − |Δ_forget|)(1 − |Δ_retain|)(1 − |Δ_test|) of the means.
    pub tow: f64,
    /// Accuracy on the 90 % of F not relearned, after each of the report's `relearn_steps`
    /// (empty for the
    /// gradient-ascent curve's other step counts).
    pub relearn: Vec<Ci>,
}

/// What one run reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnlearnReport {
    /// The model family.
    pub model: String,
    /// The forget set.
    pub forget: ForgetSet,
    /// |F|.
    pub forget_size: usize,
    /// |R|.
    pub retain_size: usize,
    /// Test records.
    pub test_size: usize,
    /// Records the relearning steps train on.
    pub relearn_size: usize,
    /// N per arm.
    pub models: usize,
    /// Step size of every gradient method but the gradient-ascent sweep's other scales (and
    /// of relearning).
    #[serde(default)]
    pub lr: f64,
    /// The relearning step counts, 0 first.
    pub relearn_steps: Vec<usize>,
    /// The plug-in F of two sets of N models from one distribution (the ideal at this N;
    /// mean ± 1.96 standard errors of its Monte Carlo estimate).
    pub plugin_ideal: Ci,
    /// The reference models' numbers.
    pub reference: Utility,
    /// Every arm, in report order (`retrain`, `original`, the gradient-ascent curve, the
    /// other methods).
    pub arms: Vec<ArmReport>,
    /// Methods left out, each with why (`newton` for an MLP).
    #[serde(default)]
    pub skipped: Vec<String>,
}

/// One arm's identity.
#[derive(Clone, Debug, PartialEq)]
struct ArmSpec {
    method: &'static str,
    steps: Option<usize>,
    lr: Option<f64>,
    relearn: bool,
}

/// The arms of a point, in report order (the reference is not an arm).
fn arms(p: &UnlearnPoint) -> Vec<ArmSpec> {
    let arm = |method, steps, lr, relearn| ArmSpec {
        method,
        steps,
        lr,
        relearn,
    };
    let mut v = vec![
        arm("retrain", None, None, true),
        arm("original", None, None, true),
    ];
    for &c in &p.ga_lr_scales {
        for &s in &p.ga_steps {
            let main = c == 1.0 && s == p.steps;
            v.push(arm("gradient_ascent", Some(s), Some(c * p.lr), main));
        }
    }
    if !(p.ga_steps.contains(&p.steps) && p.ga_lr_scales.contains(&1.0)) {
        v.push(arm("gradient_ascent", Some(p.steps), Some(p.lr), true));
    }
    for m in ["grad_diff", "fine_tune", "random_labels"] {
        v.push(arm(m, Some(p.steps), Some(p.lr), true));
    }
    if newton_applies(p) {
        v.push(arm("newton", None, None, true));
    }
    v
}

/// Whether the Newton / influence step applies: softmax regression only (its loss is convex,
/// the Hessian positive definite with the L2 term); for an MLP the arm is left out, not failed.
pub fn newton_applies(p: &UnlearnPoint) -> bool {
    p.shadow.model == ModelSpec::Softmax
}

/// What one model does on the evaluation sets.
struct ModelEval {
    forget_phi: Vec<f64>,
    forget_accuracy: f64,
    retain_accuracy: f64,
    test_accuracy: f64,
    simple_mia: f64,
    loss_auc: f64,
    relearn: Vec<f64>,
}

/// Everything a run's jobs share.
struct Setup {
    point: UnlearnPoint,
    seed: u64,
    model: Box<dyn Model>,
    all: Examples,
    set: UnlearnSet,
    test: Examples,
    relearn_on: Examples,
    relearn_check: Examples,
    arms: Vec<ArmSpec>,
}

/// Role of a trained model.
const ROLES: [&str; 3] = ["original", "reference", "retrain"];

impl Setup {
    /// 0 followed by the relearning step counts.
    fn relearn_checkpoints(&self) -> Vec<usize> {
        let mut v = vec![0];
        v.extend(self.point.relearn_steps.iter().filter(|&&s| s > 0));
        v
    }

    fn role_seed(&self, role: usize) -> u64 {
        use rand::Rng;
        rng_named(self.seed, 0, &format!("unlearn/{}", ROLES[role])).next_u64()
    }

    /// Accuracy and statistics of `theta`; relearning when `relearn`.
    fn evaluate(&self, theta: &[f64], relearn: bool, rng: &mut SimRng) -> Result<ModelEval> {
        let stats = |ex: &Examples, t: &[f64]| -> Result<ModelStats> {
            let z = self.model.predict(t, ex.x().as_view())?;
            ModelStats::from_logits(&z, ex.y(), &[])
        };
        let acc = |s: &ModelStats| {
            s.correct.iter().filter(|&&c| c).count() as f64 / s.correct.len().max(1) as f64
        };
        let (f, r, t) = (
            stats(&self.set.forget, theta)?,
            stats(&self.set.retain, theta)?,
            stats(&self.test, theta)?,
        );
        let loss = |s: &ModelStats| s.log_p.iter().map(|v| -v).collect::<Vec<f64>>();
        let (fl, tl) = (loss(&f), loss(&t));
        let simple = simple_mia(&fl, &tl, rng)?;
        // Members (forget) score higher when their loss is lower: the score is ln p_y.
        let loss_auc = Roc::new(&f.log_p, &t.log_p)?.auc();
        let mut relearned = Vec::new();
        if relearn {
            let l2 = self.set.l2;
            let traj = crate::learning::unlearn::descend(
                theta,
                self.point.lr,
                &self.relearn_checkpoints(),
                "relearning",
                |th, g| {
                    crate::learning::unlearn::regularised_grad(
                        self.model.as_ref(),
                        th,
                        &self.relearn_on,
                        l2,
                        g,
                    )
                },
            )?;
            for th in &traj {
                relearned.push(acc(&stats(&self.relearn_check, th)?));
            }
        }
        let forget_accuracy = acc(&f);
        Ok(ModelEval {
            forget_phi: f.phi,
            forget_accuracy,
            retain_accuracy: acc(&r),
            test_accuracy: acc(&t),
            simple_mia: simple,
            loss_auc,
            relearn: relearned,
        })
    }
}

/// The job of model j outside a sweep (its jobs ignore the seed: every stream is named).
fn job_of(j: u32, rng: &mut SimRng) -> Job {
    use rand::Rng;
    Job {
        seed: rng.next_u64(),
        point: u64::from(j),
        replicate: 0,
    }
}

/// Training job j: role j / N, model j mod N.
struct Training<'a>(&'a Setup);

impl Experiment for Training<'_> {
    type Point = u32;
    type Output = Vec<f64>;

    fn run_once(&self, j: &u32, rng: &mut SimRng) -> Result<Vec<f64>> {
        self.run_job(j, job_of(*j, rng))
    }

    fn run_job(&self, j: &u32, _job: Job) -> Result<Vec<f64>> {
        let s = self.0;
        let n = s.point.models as u32;
        let (role, i) = ((j / n) as usize, j % n);
        let train = if role == 0 { &s.all } else { &s.set.retain };
        shadow::train(
            s.model.as_ref(),
            train,
            &s.point.shadow,
            s.role_seed(role),
            i,
            train.len() as f64,
            None,
        )
    }
}

/// Evaluation job j: role j / N, model j mod N; an original yields every unlearning arm.
struct Evaluation<'a> {
    setup: &'a Setup,
    params: &'a [Vec<f64>],
}

impl Experiment for Evaluation<'_> {
    type Point = u32;
    type Output = Vec<ModelEvalOut>;

    fn run_once(&self, j: &u32, rng: &mut SimRng) -> Result<Vec<ModelEvalOut>> {
        self.run_job(j, job_of(*j, rng))
    }

    fn run_job(&self, j: &u32, _job: Job) -> Result<Vec<ModelEvalOut>> {
        let s = self.setup;
        let n = s.point.models;
        let (role, i) = (*j as usize / n, *j as usize % n);
        let theta = &self.params[*j as usize];
        let stream = |name: &str| rng_named(s.seed, i as u32, &format!("unlearn/{name}"));
        let mut out = Vec::new();
        let mut push = |arm: usize, th: &[f64], relearn: bool| -> Result<()> {
            // The gradient-ascent sweep's other step sizes get their own streams; the rest
            // keep the names they had before the sweep (same numbers).
            let label = match s.arms.get(arm) {
                Some(a)
                    if a.lr.is_some_and(|l| l != s.point.lr) && a.method == "gradient_ascent" =>
                {
                    format!("simple_mia/{}/{:?}/lr{:?}", a.method, a.steps, a.lr)
                }
                Some(a) => format!("simple_mia/{}/{:?}", a.method, a.steps),
                None => "simple_mia/reference".into(),
            };
            out.push(ModelEvalOut {
                arm,
                eval: s.evaluate(th, relearn, &mut stream(&label))?,
            });
            Ok(())
        };
        match role {
            1 => push(usize::MAX, theta, false)?,
            2 => push(0, theta, true)?,
            _ => {
                let ga = s
                    .point
                    .ga_lr_scales
                    .iter()
                    .map(|&c| {
                        gradient_ascent::trajectory(
                            s.model.as_ref(),
                            theta,
                            &s.set.forget,
                            c * s.point.lr,
                            &s.point.ga_steps,
                        )
                    })
                    .collect::<Result<Vec<_>>>()?;
                for (a, spec) in s.arms.iter().enumerate().skip(1) {
                    let th = match (spec.method, spec.steps) {
                        ("original", _) => theta.clone(),
                        ("gradient_ascent", Some(k)) => {
                            let lr = spec.lr.unwrap_or(s.point.lr);
                            let at = |c: &f64| c * s.point.lr == lr;
                            match (
                                s.point.ga_lr_scales.iter().position(at),
                                s.point.ga_steps.iter().position(|&g| g == k),
                            ) {
                                (Some(c), Some(pos)) => ga[c][pos].clone(),
                                _ => Method::GradientAscent { steps: k, lr }.apply(
                                    s.model.as_ref(),
                                    theta,
                                    &s.set,
                                    &mut stream("gradient_ascent"),
                                )?,
                            }
                        }
                        (m, k) => Method::named(m, k.unwrap_or(0), s.point.lr)?.apply(
                            s.model.as_ref(),
                            theta,
                            &s.set,
                            &mut stream(m),
                        )?,
                    };
                    push(a, &th, spec.relearn)?;
                }
            }
        }
        Ok(out)
    }
}

/// One model's evaluation in one arm (`usize::MAX`: the reference).
#[derive(Serialize)]
struct ModelEvalOut {
    arm: usize,
    #[serde(skip)]
    eval: ModelEval,
}

/// The fewest records a forget set may hold: [`simple_mia`] needs two on each side. Checked
/// before any model trains, so a run does not fail at its end.
///
/// [`simple_mia`]: crate::privacy::audit::unlearning::simple_mia
const MIN_FORGET: usize = 2;

/// The forget set's indices into D (sorted).
fn forget_indices(p: &UnlearnPoint, data: &MiaData, seed: u64) -> Result<Vec<usize>> {
    let n = data.audited;
    let mut rng = rng_named(seed, 0, "unlearn/forget");
    let mut idx: Vec<usize> = match p.forget {
        ForgetSet::Random => {
            let k = ((p.forget_fraction * n as f64).round() as usize).min(n - 1);
            if k < MIN_FORGET {
                return Err(Error::invalid(
                    "forget fraction",
                    p.forget_fraction,
                    format!(
                        "leaves {k} of the {n} training records to forget (the fraction × {n}, \
                         rounded); simple_mia needs at least {MIN_FORGET}: a fraction ≥ 1.5/{n}"
                    ),
                ));
            }
            permutation(&mut rng, n)[..k].to_vec()
        }
        ForgetSet::Tail => {
            let class = crate::rng::uniform_index(&mut rng, p.data.classes);
            (0..n)
                .filter(|&j| data.tags[j].tail && data.tags[j].class == class)
                .collect()
        }
        ForgetSet::Mislabelled => (0..n).filter(|&j| data.tags[j].mislabelled).collect(),
    };
    idx.sort_unstable();
    if idx.len() < MIN_FORGET || idx.len() >= n {
        return Err(Error::invalid(
            "forget set",
            p.forget.name(),
            format!(
                "has {} of the {n} training records (needs at least {MIN_FORGET} for \
                 simple_mia, and fewer than all; \
                 mislabelled needs label_noise > 0, tail needs tail components)",
                idx.len()
            ),
        ));
    }
    Ok(idx)
}

/// Runs one unlearning experiment (see the [module docs](self)); `on_model` is called once
/// per model trained and once per model evaluated (2·3N calls: progress bars).
///
/// # Errors
/// What [`UnlearnPoint::validate`] rejects; a forget set of fewer than 2 records (or of
/// every record); training and unlearning
/// errors (a diverging step names its method).
pub fn run_unlearn(
    p: &UnlearnPoint,
    data_seed: u64,
    seed: u64,
    on_model: &(dyn Fn() + Sync),
) -> Result<UnlearnReport> {
    p.validate()?;
    let data = p
        .data
        .generate(&mut rng_named(data_seed, 0, "mia/population"))?;
    let forget = forget_indices(p, &data, seed)?;
    let n = data.audited;
    let in_forget = {
        let mut v = vec![false; n];
        forget.iter().for_each(|&j| v[j] = true);
        v
    };
    let retain: Vec<usize> = (0..n).filter(|&j| !in_forget[j]).collect();
    let all = data.examples.select(&(0..n).collect::<Vec<_>>());
    let set = UnlearnSet {
        forget: all.select(&forget),
        retain: all.select(&retain),
        l2: p.shadow.l2,
    };
    let order = permutation(&mut rng_named(seed, 0, "unlearn/relearn"), forget.len());
    let k = ((p.relearn_fraction * forget.len() as f64).ceil() as usize).clamp(1, forget.len());
    let relearn_on = set.forget.select(&order[..k]);
    let relearn_check = if k < forget.len() {
        set.forget.select(&order[k..])
    } else {
        set.forget.clone()
    };
    let model = p
        .shadow
        .backend
        .build(&p.shadow.model, all.features(), all.task())?;
    let setup = Setup {
        point: p.clone(),
        seed,
        model,
        all,
        set,
        test: data.test.clone(),
        relearn_on,
        relearn_check,
        arms: arms(p),
    };
    let jobs = 3 * p.models;
    let mut params: Vec<Vec<f64>> = Vec::with_capacity(jobs);
    run_streaming(
        &Training(&setup),
        |j| Ok(j as u32),
        (0..jobs as u64).map(|j| (j, 0)),
        seed,
        default_chunk(),
        on_model,
        |r| Ok(r.output),
        |o| {
            params.push(o);
            Ok(())
        },
    )?;
    let n_arms = setup.arms.len();
    let mut per_arm: Vec<Vec<ModelEval>> = (0..n_arms).map(|_| Vec::new()).collect();
    let mut reference: Vec<ModelEval> = Vec::new();
    run_streaming(
        &Evaluation {
            setup: &setup,
            params: &params,
        },
        |j| Ok(j as u32),
        (0..jobs as u64).map(|j| (j, 0)),
        seed,
        default_chunk(),
        on_model,
        |r| Ok(r.output),
        |outs: Vec<ModelEvalOut>| {
            for o in outs {
                match per_arm.get_mut(o.arm) {
                    Some(v) => v.push(o.eval),
                    None => reference.push(o.eval),
                }
            }
            Ok(())
        },
    )?;
    drop(params);
    let utility = |evals: &[ModelEval]| -> Utility {
        let col = |f: &dyn Fn(&ModelEval) -> f64| Ci::of(&evals.iter().map(f).collect::<Vec<_>>());
        Utility {
            forget_accuracy: col(&|e| e.forget_accuracy),
            retain_accuracy: col(&|e| e.retain_accuracy),
            test_accuracy: col(&|e| e.test_accuracy),
            simple_mia: col(&|e| e.simple_mia),
            loss_auc: col(&|e| e.loss_auc),
        }
    };
    let reference_utility = utility(&reference);
    let mut reports = Vec::with_capacity(n_arms);
    for (spec, evals) in setup.arms.iter().zip(&per_arm) {
        let u = utility(evals);
        let (mut plug, mut lower) = (Vec::new(), Vec::new());
        for i in 0..forget.len() {
            let arm: Vec<f64> = evals.iter().map(|e| e.forget_phi[i]).collect();
            let refr: Vec<f64> = reference.iter().map(|e| e.forget_phi[i]).collect();
            plug.push(plugin_epsilon(&arm, &refr, p.delta)?);
            lower.push(lower_epsilon(&arm, &refr, p.delta, p.alpha)?);
        }
        let h = |e: &[f64]| Ci::of(&e.iter().map(|&v| weight(v)).collect::<Vec<_>>());
        let (df, dr, dt) = (
            u.forget_accuracy.minus(reference_utility.forget_accuracy),
            u.retain_accuracy.minus(reference_utility.retain_accuracy),
            u.test_accuracy.minus(reference_utility.test_accuracy),
        );
        let relearn = if spec.relearn {
            (0..setup.relearn_checkpoints().len())
                .map(|s| Ci::of(&evals.iter().map(|e| e.relearn[s]).collect::<Vec<_>>()))
                .collect()
        } else {
            Vec::new()
        };
        reports.push(ArmReport {
            method: spec.method.into(),
            steps: spec.steps,
            lr: spec.lr,
            forgetting_quality: h(&plug),
            forgetting_quality_lower: h(&lower),
            epsilon_plugin: plug.iter().map(|&e| e.is_finite().then_some(e)).collect(),
            epsilon_lower: lower,
            tow: (1.0 - df.mean.abs()) * (1.0 - dr.mean.abs()) * (1.0 - dt.mean.abs()),
            delta_forget_accuracy: df,
            delta_retain_accuracy: dr,
            delta_test_accuracy: dt,
            utility: u,
            relearn,
        });
    }
    let (f0, se) = plugin_null_quality(
        p.models,
        p.models,
        p.delta,
        2000,
        &mut rng_named(seed, 0, "unlearn/null"),
    )?;
    Ok(UnlearnReport {
        model: p.shadow.model.name().into(),
        forget: p.forget,
        forget_size: forget.len(),
        retain_size: retain.len(),
        test_size: setup.test.len(),
        relearn_size: setup.relearn_on.len(),
        models: p.models,
        lr: p.lr,
        relearn_steps: setup.relearn_checkpoints(),
        plugin_ideal: Ci {
            mean: f0,
            half_width: 1.96 * se,
        },
        reference: reference_utility,
        arms: reports,
        skipped: if newton_applies(p) {
            Vec::new()
        } else {
            vec![format!(
                "newton: the Newton / influence step needs the convex softmax model, not {}",
                p.shadow.model.name()
            )]
        },
    })
}

/// The bounds of an `unlearn` point: none. Unlearning has no catalogued lower bound; its
/// yardstick is the reference retrains, measured in the run (`plugin_ideal`, the `retrain`
/// arm).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnlearnBounds {}

/// The seeds of replicate `replicate` of a sweep seeded with `seed`: replicate 0 uses the
/// seed for both the population and the models; replicate r > 0 draws both from the stream
/// `unlearn/replicate` (seed, r), so every grid point of a replicate shares its population.
pub fn replicate_seeds(seed: u64, replicate: u32) -> (u64, u64) {
    if replicate == 0 {
        (seed, seed)
    } else {
        use rand::Rng;
        let mut r = rng_named(seed, replicate, "unlearn/replicate");
        (r.next_u64(), r.next_u64())
    }
}

/// A whole run as one sweep job ([`replicate_seeds`] gives its seeds).
pub struct UnlearnExperiment;

impl Experiment for UnlearnExperiment {
    type Point = UnlearnPoint;
    type Output = UnlearnReport;

    fn run_once(&self, p: &UnlearnPoint, rng: &mut SimRng) -> Result<UnlearnReport> {
        use rand::Rng;
        let s = rng.next_u64();
        run_unlearn(p, s, s, &|| {})
    }

    fn run_job(&self, p: &UnlearnPoint, job: Job) -> Result<UnlearnReport> {
        let (d, s) = replicate_seeds(job.seed, job.replicate);
        run_unlearn(p, d, s, &|| {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm<'a>(r: &'a UnlearnReport, m: &str, steps: Option<usize>) -> &'a ArmReport {
        r.arms
            .iter()
            .find(|a| a.method == m && a.steps == steps)
            .unwrap()
    }

    /// The gradient-ascent sweep is over lr × steps: every (scale·lr, steps) pair is one arm;
    /// at 0 steps every step size is the original (the same ε_i, bit for bit), and after 10
    /// steps the full step size has ascended further than a tenth of it (lower forget accuracy,
    /// by more than 0.1: at lr·10 = 5 the quick run's GA drives forget accuracy to ≈ 0, at
    /// 0.05·10 it barely moves). The arm at (lr, `steps`) alone carries the relearning curve.
    /// Mutation seen failing: every trajectory run at `lr` (the scale ignored) — the two
    /// curves coincide.
    #[test]
    fn gradient_ascent_is_swept_over_lr_and_steps() {
        let mut p = UnlearnPoint::quick();
        p.ga_lr_scales = vec![0.1, 1.0];
        let r = run_unlearn(&p, 1, 2, &|| {}).unwrap();
        let ga = |scale: f64, steps: usize| {
            r.arms
                .iter()
                .find(|a| {
                    a.method == "gradient_ascent"
                        && a.steps == Some(steps)
                        && a.lr == Some(scale * p.lr)
                })
                .unwrap_or_else(|| panic!("no arm at {scale}·lr, {steps} steps"))
        };
        let original = arm(&r, "original", None);
        for scale in [0.1, 1.0] {
            assert_eq!(ga(scale, 0).epsilon_plugin, original.epsilon_plugin);
            assert!(ga(scale, 0).relearn.is_empty());
        }
        assert_eq!(ga(1.0, 10).relearn.len(), r.relearn_steps.len());
        assert!(ga(0.1, 10).relearn.is_empty());
        let acc = |a: &ArmReport| a.utility.forget_accuracy.mean;
        assert!(
            acc(ga(1.0, 10)) < acc(ga(0.1, 10)) - 0.1,
            "{} vs {}",
            acc(ga(1.0, 10)),
            acc(ga(0.1, 10))
        );
        assert_eq!(r.arms.len(), 2 + 2 * p.ga_steps.len() + 3 + 1);
        let mut bad = p.clone();
        bad.ga_lr_scales = vec![1.0, 0.1];
        assert!(bad.validate().is_err());
        bad.ga_lr_scales = vec![f64::NAN];
        assert!(bad.validate().is_err());
    }

    /// A forget fraction that leaves one record (simple_mia needs two) is refused before any
    /// model trains, naming the fraction. Fails with the old `clamp(1, n − 1)`, which ran
    /// every model and then failed in simple_mia naming "forget losses".
    #[test]
    fn a_forget_set_too_small_for_simple_mia_is_refused_before_training() {
        let trained = std::sync::atomic::AtomicUsize::new(0);
        let count = || {
            trained.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        };
        for fraction in [1e-300, 1e-6] {
            let mut p = UnlearnPoint::quick();
            p.forget_fraction = fraction;
            let e = run_unlearn(&p, 1, 2, &count).unwrap_err().to_string();
            assert!(
                e.contains("`forget fraction`") && e.contains("simple_mia needs at least 2"),
                "{e}"
            );
        }
        assert_eq!(trained.into_inner(), 0);
        let mut p = UnlearnPoint::quick();
        p.data.head_test = 1;
        p.data.tail_test = 0;
        assert!(p
            .validate()
            .unwrap_err()
            .to_string()
            .contains("at least 2 held-out"));
    }

    /// Mandatory (issue 15): exact retraining has forgetting quality at its ideal. With N
    /// models per side the ideal is not 1: the plug-in ε_i of two sets of N retrained models
    /// has the distribution-free null distribution, whose mean weight is `plugin_ideal`
    /// (Monte Carlo, 2 000 draws); the retrain arm's F must lie within 0.15 of it (its
    /// interval over |F| ≈ 20 correlated examples is ≈ ±0.1, plus the ideal's ±0.02). The
    /// lower-bound F is 1 up to α: ≥ 0.9 (P[ε_LB > 0] ≤ α = 0.05 per example). And the
    /// original (no unlearning) scores far worse on the mislabelled records it memorised.
    /// Mutation seen failing: retrained arm trained on D instead of R (F drops to the
    /// original's).
    #[test]
    fn exact_retraining_is_at_the_ideal() {
        let mut p = UnlearnPoint::quick();
        p.forget = ForgetSet::Mislabelled;
        let r = run_unlearn(&p, 1, 2, &|| {}).unwrap();
        let retrain = arm(&r, "retrain", None);
        let ideal = r.plugin_ideal.mean;
        assert!(
            (retrain.forgetting_quality.mean - ideal).abs() < 0.15,
            "retrain F {:?} vs ideal {ideal}",
            retrain.forgetting_quality
        );
        assert!(retrain.forgetting_quality_lower.mean >= 0.9);
        let original = arm(&r, "original", None);
        assert!(original.forgetting_quality.mean < retrain.forgetting_quality.mean - 0.2);
        assert!(
            retrain.delta_test_accuracy.mean.abs() <= retrain.delta_test_accuracy.half_width + 0.02
        );
    }
}
