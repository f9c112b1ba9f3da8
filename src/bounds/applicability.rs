//! Which catalogue results bound what a robust-aggregation simulation measures.
//!
//! `lbounds simulate`, the `robust` sweeps and their figures all draw the same model: n − f
//! honest users whose updates are i.i.d. around μ (for Gaussian noise and fixed sizes exactly
//! N(μ, σ_u²·I), σ_u² = σ²/m + G²/d), and f Byzantine users *added* to them, who send what an
//! attack computes. That is Huber contamination, (1 − η)·P + η·Q with η = f/n, and a run
//! measures three things: the error ‖F − μ‖ to the true mean, the error ‖F − x̄_H‖ to the mean
//! of the honest updates, and κ̂ = ‖F − x̄_H‖²/((1/|H|)Σ‖xᵢ − x̄_H‖²).
//!
//! A catalogue value may stand beside one of those columns only when its hypotheses hold for
//! that model *and* its quantity is that column. Everything else (strong contamination, worst
//! cases over other families of laws, the bias of one named rule, fractions, worker counts,
//! conditions of guarantees) is a value of a different model or unit. [`role`] records, per
//! catalogue id, the quantity and the model; [`Role::applies`] checks the model against a
//! [`SimulatedModel`]; [`evaluate`] evaluates every entry a simulation's parameters determine.
//! This is the only place the decision is made: the CLI table, `--json`, the sweeps' records
//! and the figures' overlays all read it.
//!
//! # References
//! - P. J. Huber, "Robust Estimation of a Location Parameter", Annals of Mathematical
//!   Statistics 35(1):73-101, 1964 (the contamination model; R1-huber).
//! - Y. Allouah, S. Farhadkhani, R. Guerraoui, N. Gupta, R. Pinot, J. Stephan, "Fixing by
//!   Mixing", AISTATS 2023, arXiv 2302.01772 (κ and B1).
//! - S. P. Karimireddy, L. He, M. Jaggi, "Byzantine-Robust Learning on Heterogeneous Datasets
//!   via Bucketing", ICLR 2022, arXiv 2006.09365 (B2).

use super::{BoundValue, Info, CATALOGUE};
use crate::data::population::{PopulationModel, RecordsPerUser};
use crate::params::Params;
use crate::Result;
use serde::Serialize;

/// The quantity a catalogue value is a statement about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    /// ‖F − μ‖, the error to the true mean (a Euclidean norm, units of the data).
    Error,
    /// ‖F − x̄_H‖, the error to the mean of the honest updates (units of the data).
    ErrorToHonestMean,
    /// κ̂ = ‖F − x̄_H‖² / honest variance (dimensionless).
    Kappa,
    /// Something a simulation does not measure.
    Other,
}

/// The model a catalogue value is a statement about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// Huber contamination of Gaussian inliers N(μ, σ²I): holds when the simulated honest
    /// updates are exactly Gaussian with a known per-coordinate σ.
    HuberGaussian,
    /// A supremum over every set of honest inputs (of the stated dissimilarity): holds for every
    /// simulated population, and a measured value below it only means no attack here reached
    /// the worst case.
    AnyInputs,
    /// A condition under which a guarantee holds (B8, O4): not a bound on any error.
    Condition,
    /// Another model; the text says which.
    Different(&'static str),
}

/// A catalogue entry's place with respect to a robust-aggregation simulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Role {
    /// What the value bounds.
    pub quantity: Quantity,
    /// What it means, with its unit (for tables and `--json`).
    pub unit: &'static str,
    /// The model its hypotheses describe.
    pub model: Model,
    /// The catalogue value is a squared norm; beside a norm column its square root is shown.
    pub squared: bool,
}

const WORST_OVER_LAWS: &str = "a worst case over bounded-covariance laws (a three-atom \
    instance), not the simulated Gaussian updates, whose minimax error is R1-huber";

/// The role of the catalogue entry `id`. Ids this table does not know are another model
/// (never shown beside a measured column until someone checks them here).
pub fn role(id: &str) -> Role {
    use Model::*;
    use Quantity::*;
    let r = |quantity, unit, model| Role {
        quantity,
        unit,
        model,
        squared: false,
    };
    match id {
        "R1-huber" => r(Error, "worst-case ||F - mu|| (norm)", HuberGaussian),
        "R1-rate" => r(Error, "worst-case ||F - mu|| (norm), order only", HuberGaussian),
        "B1" => r(Kappa, "kappa (dimensionless ratio), sup over inputs", AnyInputs),
        "B2" | "B3" => Role {
            squared: true,
            ..r(
                ErrorToHonestMean,
                "||F - honest mean|| (norm; sqrt of the catalogue's squared norm), sup over inputs",
                AnyInputs,
            )
        },
        "R1-strong" => r(
            Other,
            "norm",
            Different("strong contamination (the adversary may also replace honest users); simulate adds users: Huber, bounded by R1-huber"),
        ),
        "R2" => r(
            Other,
            "norm, order only",
            Different("statistical-query algorithms under strong contamination"),
        ),
        "R3-huber" | "R3-strong" | "B7" => r(Other, "norm", Different(WORST_OVER_LAWS)),
        "R4-huber" | "R4-strong" => r(
            Other,
            "norm",
            Different("a worst case over laws with a bounded k-th moment"),
        ),
        "R5" => r(Other, "fraction of replaced points", Different("a breakdown point")),
        "R6-cwmed" => r(
            Other,
            "norm",
            Different("the bias of one rule (coordinate-wise median) under far outliers"),
        ),
        "R6-gm" => r(
            Other,
            "norm",
            Different("the bias of one rule (geometric median) under far outliers"),
        ),
        "R7" => r(
            Other,
            "norm at confidence 1 - delta",
            Different("a deviation at a confidence level without adversary"),
        ),
        "B3-breakdown" => r(
            Other,
            "fraction f/n",
            Different("a breakdown fraction"),
        ),
        "B5" => r(
            Other,
            "lambda (dimensionless)",
            Different("the constant of (f, lambda)-resilient averaging, another definition than kappa"),
        ),
        "B6" => r(
            Other,
            "number of workers",
            Different("agreement without a trusted server"),
        ),
        "B8" | "O4" => r(
            Other,
            "condition of a guarantee",
            Condition,
        ),
        _ => r(Other, "see `lbounds bounds show`", Different("a different model")),
    }
}

impl Role {
    /// `Ok(())` when the model matches and the quantity is one a simulation measures; else why
    /// not.
    ///
    /// # Errors
    /// The reason, in words.
    pub fn applies(&self, model: &SimulatedModel) -> std::result::Result<(), String> {
        if self.quantity == Quantity::Other {
            return Err(match self.model {
                Model::Condition => {
                    "a condition under which a guarantee holds, not a bound on an error".into()
                }
                Model::Different(why) => why.to_string(),
                _ => "a quantity simulate does not measure".into(),
            });
        }
        match self.model {
            Model::HuberGaussian if model.sigma.is_none() => Err(
                "needs Gaussian honest updates with a known sigma (Gaussian noise, fixed records per user)".into(),
            ),
            Model::HuberGaussian | Model::AnyInputs => Ok(()),
            Model::Condition => Err("a condition of a guarantee".into()),
            Model::Different(why) => Err(why.into()),
        }
    }
}

/// What a simulation draws, in the catalogue's notation.
#[derive(Clone, Debug, PartialEq)]
pub struct SimulatedModel {
    /// Users (honest + Byzantine).
    pub n: usize,
    /// Byzantine users.
    pub f: usize,
    /// Dimension.
    pub d: usize,
    /// Per-coordinate standard deviation σ_u of an honest update, when the honest updates are
    /// exactly i.i.d. N(μ, σ_u²·I) (Gaussian noise, fixed sizes); `None` otherwise.
    pub sigma: Option<f64>,
    /// Records per user, when fixed.
    pub m: Option<usize>,
    /// Expected dissimilarity of the honest updates E[(1/|H|)Σ‖xᵢ − x̄_H‖²] =
    /// d·v·(|H| − 1)/|H| for a per-coordinate update variance v, when known: the G² of
    /// B2/B3 for the losses ½‖θ − xᵢ‖², whose gradients at θ̂ are θ̂ − xᵢ.
    pub honest_dissimilarity: Option<f64>,
}

impl SimulatedModel {
    /// The model of a population.
    pub fn of(p: &PopulationModel) -> SimulatedModel {
        let h = p.n_honest() as f64;
        let d = p.d();
        SimulatedModel {
            n: p.n(),
            f: p.f(),
            d,
            sigma: p.update_sigma().filter(|s| *s > 0.0),
            m: match p.config().records {
                RecordsPerUser::Fixed { m } => Some(m),
                RecordsPerUser::Zipf { .. } => None,
            },
            honest_dissimilarity: p
                .update_variance()
                .filter(|_| h >= 1.0)
                .map(|v| d as f64 * v * (h - 1.0) / h),
        }
    }

    /// The catalogue parameters it determines: `n`, `f`, `eta` = f/n, `d`, `sigma`, `m`, and
    /// `G` = √(honest dissimilarity) when known.
    pub fn params(&self) -> Params {
        let mut p = Params::new()
            .with("n", self.n as f64)
            .with("f", self.f as f64)
            .with("eta", self.f as f64 / self.n as f64)
            .with("d", self.d as f64);
        if let Some(s) = self.sigma {
            p.set("sigma", s);
        }
        if let Some(m) = self.m {
            p.set("m", m as f64);
        }
        if let Some(g2) = self.honest_dissimilarity {
            p.set("G", g2.sqrt());
        }
        p
    }
}

/// Keys a simulation can determine. A catalogue entry is evaluated at a simulation when every
/// key it takes from this list is known and every other key it takes has a default.
pub const SETTING_KEYS: &[&str] = &["n", "f", "eta", "d", "sigma", "G", "m"];

/// Ids whose `n` or `d` mean something else than a simulation's: O2's `n` counts genuine users
/// only, P6's `n` secret bits, M2's `n` examples of `d` bits.
const OTHER_MEANING: &[&str] = &["O2", "P6", "M2"];

/// One catalogue entry at a simulation.
#[derive(Debug)]
pub struct Entry {
    /// The entry.
    pub info: &'static Info,
    /// Its quantity and model.
    pub role: Role,
    /// `Ok(())` when it bounds a measured column; else why not.
    pub applies: std::result::Result<(), String>,
    /// The catalogue value (a squared norm for B2/B3); `None` when a key it needs is unknown in
    /// this model (the reason is in `missing`).
    pub value: Option<Result<BoundValue>>,
    /// Keys the model could not provide (e.g. `sigma` for heavy-tailed noise).
    pub missing: Vec<&'static str>,
}

impl Entry {
    /// Whether it stands beside a measured column.
    pub fn is_applicable(&self) -> bool {
        self.applies.is_ok()
    }

    /// The value in the unit of its column: the catalogue value, or its square root where the
    /// catalogue gives a squared norm. `None` when not evaluated or infinite.
    pub fn shown(&self) -> Option<f64> {
        let v = self.value.as_ref()?.as_ref().ok()?.as_f64()?;
        Some(if self.role.squared { v.sqrt() } else { v })
    }
}

/// Every catalogue entry whose keys a simulation determines (at least one from
/// [`SETTING_KEYS`]), in catalogue order, with its role and value. An entry that needs a key the
/// model cannot give (σ for heavy tails, G² without a known variance) is listed unevaluated.
pub fn evaluate(model: &SimulatedModel) -> Vec<Entry> {
    let given = model.params();
    CATALOGUE
        .iter()
        .filter_map(|b| {
            let info = b.info();
            // Conditions of guarantees (B8, O4) bound no quantity at all: never listed.
            if OTHER_MEANING.contains(&info.id) || !info.kind.is_lower_bound() {
                return None;
            }
            let mut uses_setting = false;
            let mut missing = Vec::new();
            for p in info.params {
                let from_setting = SETTING_KEYS.contains(&p.key);
                uses_setting |= from_setting;
                if given.0.contains_key(p.key) {
                    continue;
                }
                if from_setting {
                    // sigma, G or m: unknown in this model (e.g. σ for heavy tails).
                    missing.push(p.key);
                } else if p.default.is_none() {
                    return None;
                }
            }
            if !uses_setting {
                return None;
            }
            let role = role(info.id);
            let value = missing.is_empty().then(|| {
                let mut p = Params::new();
                for s in info.params {
                    if let Some(v) = given.0.get(s.key) {
                        p.set(s.key, *v);
                    }
                }
                b.eval(&p)
            });
            let mut applies = role.applies(model);
            if applies.is_ok() && !missing.is_empty() {
                applies = Err(format!(
                    "its hypotheses need {} of the honest updates, which this model does not determine",
                    missing.join(", ")
                ));
            }
            Some(Entry {
                info,
                role,
                applies,
                value,
                missing,
            })
        })
        .collect()
}

/// The value of catalogue entry `id` in the unit of its column when it applies to `model`;
/// `None` when it does not apply, is not evaluated or is infinite. What the sweeps' records
/// and the figures' overlays read.
pub fn applicable_value(model: &SimulatedModel, id: &str) -> Option<f64> {
    evaluate(model)
        .into_iter()
        .find(|e| e.info.id == id)
        .filter(Entry::is_applicable)
        .and_then(|e| e.shown())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::noise::Noise;
    use crate::data::population::PopulationConfig;

    fn model(c: PopulationConfig) -> SimulatedModel {
        SimulatedModel::of(&c.build().unwrap())
    }

    fn applicable(m: &SimulatedModel) -> Vec<&'static str> {
        evaluate(m)
            .into_iter()
            .filter(Entry::is_applicable)
            .map(|e| e.info.id)
            .collect()
    }

    fn base() -> PopulationConfig {
        PopulationConfig {
            n: 50,
            d: 10,
            byzantine_fraction: 0.2,
            noise: Noise::Gaussian { sigma: 1.0 },
            records: RecordsPerUser::Fixed { m: 10 },
            ..PopulationConfig::default()
        }
    }

    /// The applicable set follows the hypotheses, setting by setting: Gaussian updates get
    /// R1-huber and R1-rate beside the error; every setting gets B1 beside κ̂ and B2/B3 beside
    /// the error to the honest mean when the honest updates' variance is known; no other model
    /// (strong contamination, worst cases over laws, one rule's bias, fractions, conditions)
    /// ever applies. Mutation checked: treating `Model::Different` as applicable (and skipping
    /// the `Quantity::Other` check in `Role::applies`) makes it fail.
    #[test]
    fn applicable_set_matches_the_hypotheses() {
        // Gaussian noise, G = 0, fixed sizes: the Huber-Gaussian model.
        let gauss = model(base());
        assert_eq!(
            applicable(&gauss),
            ["R1-huber", "R1-rate", "B1", "B2", "B3"]
        );
        // G > 0 keeps the updates Gaussian (σ_u² = σ²/m + G²/d): same set, σ_u larger.
        let het = model(PopulationConfig {
            heterogeneity: 4.0,
            ..base()
        });
        assert_eq!(applicable(&het), applicable(&gauss));
        // σ_u = √(1/10 + 4/10).
        assert!((het.sigma.unwrap() - 0.5f64.sqrt()).abs() < 1e-15);
        // Heavy tails: no Gaussian bound; B1 and B2/B3 (finite variance, ν = 5) remain.
        let heavy = model(PopulationConfig {
            noise: Noise::StudentT {
                nu: 5.0,
                scale: 1.0,
            },
            ..base()
        });
        assert_eq!(applicable(&heavy), ["B1", "B2", "B3"]);
        // Infinite variance (ν = 2): B2/B3's G² is unknown, only B1 remains.
        let cauchyish = model(PopulationConfig {
            noise: Noise::StudentT {
                nu: 2.0,
                scale: 1.0,
            },
            ..base()
        });
        assert_eq!(applicable(&cauchyish), ["B1"]);
        // Zipf sizes: a Gaussian scale mixture, not Gaussian; the variance is not closed-form.
        let zipf = model(PopulationConfig {
            records: RecordsPerUser::Zipf { s: 1.5, max: 10 },
            ..base()
        });
        assert_eq!(applicable(&zipf), ["B1"]);
        // f = 0: the same set (all values 0 or the no-adversary rate), nothing else appears.
        let clean = model(PopulationConfig {
            byzantine_fraction: 0.0,
            ..base()
        });
        assert_eq!(applicable(&clean), applicable(&gauss));
        for e in evaluate(&clean).iter().filter(|e| e.is_applicable()) {
            let v = e.shown().unwrap();
            if e.info.id == "R1-rate" {
                assert!(v > 0.0);
            } else {
                assert_eq!(v, 0.0, "{}", e.info.id);
            }
        }
        // Never applicable, in any setting: other models and conditions.
        for m in [&gauss, &het, &heavy, &zipf, &clean] {
            for e in evaluate(m) {
                if [
                    "R1-strong",
                    "R2",
                    "R3-huber",
                    "R3-strong",
                    "R5",
                    "R6-cwmed",
                    "R6-gm",
                    "B5",
                    "B6",
                    "B7",
                    "B8",
                    "B3-breakdown",
                ]
                .contains(&e.info.id)
                {
                    assert!(!e.is_applicable(), "{} applies", e.info.id);
                }
            }
        }
    }

    /// Known answer: n = 50, f = 10, d = 10, σ = 1, m = 10: σ_u = √0.1, the honest updates'
    /// expected dissimilarity G² = d·σ_u²·39/40 = 0.975, and B2 beside ‖F − x̄_H‖ is
    /// √(f·G²/(n − 2f)) = √(10·0.975/30) (Karimireddy et al. 2022, the catalogue's B2).
    /// Mutation checked: showing B2's squared value (dropping `squared`) makes it fail.
    #[test]
    fn b2_is_shown_as_a_norm_at_the_updates_dissimilarity() {
        let m = model(base());
        assert_eq!((m.n, m.f), (50, 10));
        let g2 = m.honest_dissimilarity.unwrap();
        assert!((g2 - 0.975).abs() < 1e-12, "{g2}");
        let b2 = evaluate(&m)
            .into_iter()
            .find(|e| e.info.id == "B2")
            .unwrap();
        let want = (10.0 * 0.975 / 30.0f64).sqrt();
        assert!((b2.shown().unwrap() - want).abs() < 1e-12);
        let b1 = evaluate(&m)
            .into_iter()
            .find(|e| e.info.id == "B1")
            .unwrap();
        assert_eq!(b1.shown(), Some(10.0 / 30.0));
    }
}
