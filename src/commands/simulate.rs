//! `simulate`: the population, the plan of (rule, attack) cells, the catalogue bounds at the
//! setting and the JSON records, as `lbounds simulate --json` writes them and
//! `lbounds.simulate` returns them.

use super::defence::defence_spec;
use super::Spelling;
use crate::aggregators::{PipelineSpec, StepSpec, RULES};
use crate::attacks::ATTACKS;
use crate::bounds::applicability::{self, Quantity, SimulatedModel};
use crate::bounds::{Kind, Value};
use crate::data::noise::Noise;
use crate::data::population::{PopulationConfig, PopulationModel, RecordsPerUser};
use crate::experiment::robust::{defence_label, step_label, RobustOutcome, RobustPoint};
use crate::experiment::Record;
use crate::params::Compat;
use crate::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;

/// The attacks `simulate` runs by default: every registered attack except `inf`, whose
/// infinite vectors most rules reject by design (ask for it by name).
pub const DEFAULT_SKIPPED_ATTACKS: &[&str] = &["inf"];

/// Most runs (cells × replicates) one `simulate` holds: every run's record stays in memory until
/// the table is summarised (a few hundred bytes each), so 4 294 967 295 replicates must be
/// refused before any work rather than abort allocating. Larger studies belong in a sweep.
pub const MAX_RUNS: u64 = 1_000_000;

/// The population of a simulation. `records` is the fixed count per user, or with `zipf` the
/// largest of the Zipf(s) counts on 1..=records.
///
/// # Errors
/// A malformed `noise` (`gaussian:sigma=1`, `student_t:nu=3,scale=1`, ...).
#[allow(clippy::too_many_arguments)]
pub fn population(
    n: usize,
    d: usize,
    byzantine: f64,
    heterogeneity: f64,
    mean: f64,
    noise: &str,
    records: usize,
    zipf: Option<f64>,
    spelling: Spelling,
) -> Result<PopulationConfig> {
    Ok(PopulationConfig {
        n,
        d,
        byzantine_fraction: byzantine,
        heterogeneity,
        mean,
        noise: parse_noise(noise, spelling)?,
        records: match zipf {
            Some(s) => RecordsPerUser::Zipf {
                s,
                max: records as u64,
            },
            None => RecordsPerUser::Fixed { m: records },
        },
        ..PopulationConfig::default()
    })
}

/// Parses `KIND[:KEY=VALUE,...]` into the population's noise model, a bad value named as the
/// caller's `noise` parameter.
fn parse_noise(spec: &str, spelling: Spelling) -> Result<Noise> {
    crate::experiment::config::parse_noise(spec).map_err(|e| match e {
        Error::InvalidParameter { reason, .. } => {
            Error::invalid(&spelling.name("noise"), spec, reason)
        }
        other => other,
    })
}

/// What a simulation runs: every (defence, attack) cell, and what it leaves out and why.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The population model (n, f, d, ...).
    pub model: PopulationModel,
    /// The defences that run, in the order asked.
    pub defences: Vec<PipelineSpec>,
    /// (label, reason) of each default rule, or rule needing more inputs, that cannot run.
    pub not_run: Vec<(String, String)>,
    /// The attacks that run, in the order asked.
    pub attacks: Vec<StepSpec>,
    /// (label, reason) of each default attack that cannot run under the compat.
    pub attacks_not_run: Vec<(String, String)>,
    /// The cells, defence-major: cell `di * attacks.len() + ai`.
    pub points: Vec<RobustPoint>,
}

/// The plan of a simulation of the population `model` with `rules` (`None`: every rule) after the
/// pre-aggregators `pre`, against `attacks` (`None`: every attack but
/// [`DEFAULT_SKIPPED_ATTACKS`]), `replicates` runs per cell.
///
/// Names and parameters are checked natively first, so a typo is always an error. A rule that
/// cannot run at this setting (too few inputs for its f, or, under `Compat::Byzfl`, a rule
/// ByzFL 0.0.11 lacks) is listed in `not_run` when it comes from the default set; a rule
/// named explicitly that ByzFL lacks is an error, one that needs more inputs is in `not_run`,
/// and the plan stands as long as one rule and one attack run.
///
/// # Errors
/// A name listed twice, an unknown name or parameter, no rule or no attack that can run, more
/// than [`MAX_RUNS`] runs.
pub fn plan(
    model: PopulationModel,
    rules: Option<&[String]>,
    pre: &[String],
    attacks: Option<&[String]>,
    replicates: u32,
    compat: Compat,
    spelling: Spelling,
) -> Result<Plan> {
    let population = model.config();
    let (n, f) = (model.n(), model.f());
    let default_rules: Vec<String>;
    let rule_names = match rules {
        Some(r) => r,
        None => {
            default_rules = RULES.iter().map(|s| s.name.to_string()).collect();
            &default_rules
        }
    };
    let pre: Vec<StepSpec> = pre
        .iter()
        .map(|s| StepSpec::parse(s))
        .collect::<Result<_>>()?;
    let mut defences: Vec<PipelineSpec> = Vec::new();
    let mut not_run: Vec<(String, String)> = Vec::new();
    for r in rule_names {
        let spec = defence_spec(StepSpec::parse(r)?, pre.clone(), Some(f), spelling)?;
        spec.build(Compat::Native)?;
        let label = rule_label(&spec);
        if defences.iter().any(|d| rule_label(d) == label)
            || not_run.iter().any(|(l, _)| *l == label)
        {
            return Err(Error::invalid(
                &spelling.name("rules"),
                &label,
                "listed twice",
            ));
        }
        let why = match spec.build(compat) {
            Err(e) if rules.is_some() => return Err(e),
            Err(e) => Some(e.to_string()),
            Ok(pipeline) => pipeline.check_n(n).err().map(|e| e.to_string()),
        };
        match why {
            None => defences.push(spec),
            Some(why) => not_run.push((label, why)),
        }
    }
    let default_attacks: Vec<String>;
    let attack_names = match attacks {
        Some(a) => a,
        None => {
            default_attacks = ATTACKS
                .iter()
                .map(|s| s.name)
                .filter(|n| !DEFAULT_SKIPPED_ATTACKS.contains(n))
                .map(str::to_string)
                .collect();
            &default_attacks
        }
    };
    let mut chosen: Vec<StepSpec> = Vec::new();
    let mut attacks_not_run: Vec<(String, String)> = Vec::new();
    for name in attack_names {
        let step = StepSpec::parse(name)?;
        crate::attacks::build(&step.name, &step.params, Compat::Native)?;
        let label = step_label(&step);
        if chosen.iter().any(|s| step_label(s) == label) {
            return Err(Error::invalid(
                &spelling.name("attacks"),
                &label,
                "listed twice",
            ));
        }
        match crate::attacks::build(&step.name, &step.params, compat) {
            Ok(_) => chosen.push(step),
            Err(e) if attacks.is_some() => return Err(e),
            Err(e) => attacks_not_run.push((label, e.to_string())),
        }
    }
    let why = |list: &[(String, String)]| {
        list.iter()
            .map(|(r, e)| format!("{r}: {e}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if chosen.is_empty() {
        return Err(Error::Unsupported(format!(
            "no attack can run: {}",
            why(&attacks_not_run)
        )));
    }
    if defences.is_empty() {
        return Err(Error::Unsupported(format!(
            "no rule can run with n = {n} and f = {f}: {}",
            why(&not_run)
        )));
    }
    let points: Vec<RobustPoint> = defences
        .iter()
        .flat_map(|d| {
            chosen.iter().map(|at| RobustPoint {
                population: population.clone(),
                defence: d.clone(),
                attack: at.clone(),
                compat,
            })
        })
        .collect();
    let runs = points.len() as u64 * u64::from(replicates);
    if runs > MAX_RUNS {
        return Err(Error::invalid(
            &spelling.name("replicates"),
            replicates,
            format!(
                "{} cells x {replicates} replicates = {runs} runs; simulate keeps every run in memory and allows at most {MAX_RUNS} (a sweep streams its records to disk)",
                points.len()
            ),
        ));
    }
    Ok(Plan {
        model,
        defences,
        not_run,
        attacks: chosen,
        attacks_not_run,
        points,
    })
}

/// A rule's label for the table and the records: [`defence_label`] without the `f` that
/// simulate declares to every rule (shown in the header), so `trmean`, not `trmean:f=5`.
pub fn rule_label(d: &PipelineSpec) -> String {
    let strip = |s: &StepSpec| {
        let mut s = s.clone();
        s.params.0.remove("f");
        s
    };
    defence_label(&PipelineSpec {
        rule: strip(&d.rule),
        pre: d.pre.iter().map(strip).collect(),
    })
}

/// One catalogue entry at the setting, as a record holds it under `bounds.ID`.
#[derive(Clone, Debug, Serialize)]
pub struct BoundEntry {
    /// Whether its hypotheses match the simulated model and its quantity is a measured
    /// column (see `crate::bounds::applicability`).
    pub applies: bool,
    /// `error` (‖F − μ‖), `error_to_honest_mean` (‖F − x̄_H‖), `kappa` (κ̂) or `other`.
    pub quantity: Quantity,
    /// What the value means, with its unit.
    pub unit: &'static str,
    /// The value in that unit (for B2/B3 the square root of the catalogue's squared norm);
    /// `None` when infinite or not evaluated (see `note`).
    pub value: Option<f64>,
    /// The catalogue's own value where it differs from `value` (B2/B3: a squared norm).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalogue_value: Option<f64>,
    /// The matching upper bound, when known (in the catalogue's unit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
    /// `exact` (an explicit valid constant), `order` or `condition`.
    pub kind: Kind,
    /// Attained by an estimator the catalogue shows (R1, B1 on its instance).
    pub tight: bool,
    /// `verified`, `derived_here` or `to_verify`.
    pub status: crate::bounds::Status,
    /// Why it does not apply, why it is infinite, or why it was not evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The catalogue at one setting, keyed by id; `setting` holds the parameters it was
/// evaluated at.
#[derive(Clone, Debug, Serialize)]
pub struct Bounds {
    /// The parameters the entries were evaluated at (`G` is the root of the honest updates'
    /// expected dissimilarity, the G² of B2/B3 for the losses ½‖θ − xᵢ‖²).
    pub setting: BTreeMap<String, f64>,
    /// Catalogue id → entry.
    #[serde(flatten)]
    pub entries: BTreeMap<String, BoundEntry>,
    /// Catalogue order, for the table.
    #[serde(skip)]
    pub order: Vec<&'static str>,
}

impl Bounds {
    /// Every catalogue entry evaluated at the population `model`, each marked with whether
    /// its hypotheses hold there.
    pub fn new(model: &PopulationModel) -> Bounds {
        let model = SimulatedModel::of(model);
        let mut entries = BTreeMap::new();
        let mut order = Vec::new();
        for e in applicability::evaluate(&model) {
            let (catalogue, upper, mut note) = match &e.value {
                Some(Ok(v)) => (
                    v.as_f64(),
                    v.upper,
                    match &v.value {
                        Value::Infinite { reason } => Some(format!("+inf: {reason}")),
                        Value::Finite(_) => None,
                    },
                ),
                Some(Err(err)) => (None, None, Some(format!("not evaluated: {err}"))),
                None => (
                    None,
                    None,
                    Some(format!(
                        "not evaluated: this model does not determine {}",
                        e.missing.join(", ")
                    )),
                ),
            };
            if let Err(why) = &e.applies {
                note = Some(match note {
                    Some(n) => format!("does not apply: {why}; {n}"),
                    None => format!("does not apply: {why}"),
                });
            }
            let value = e.shown();
            entries.insert(
                e.info.id.to_string(),
                BoundEntry {
                    applies: e.is_applicable(),
                    quantity: e.role.quantity,
                    unit: e.role.unit,
                    value,
                    catalogue_value: catalogue.filter(|_| e.role.squared),
                    upper,
                    kind: e.info.kind,
                    tight: e.info.tight,
                    status: e.info.status,
                    note,
                },
            );
            order.push(e.info.id);
        }
        Bounds {
            setting: model.params().0,
            entries,
            order,
        }
    }
}

#[derive(Serialize)]
struct JsonRecord<'a> {
    point: u64,
    replicate: u32,
    seed: u64,
    rule: String,
    attack: String,
    params: &'a RobustPoint,
    output: &'a RobustOutcome,
    bounds: &'a Bounds,
}

/// A rule that did not run at this setting (one line per rule).
#[derive(Serialize)]
struct JsonNotRun<'a> {
    rule: &'a str,
    status: &'static str,
    reason: &'a str,
}

/// The records as JSON Lines: one object per run (`point`, `replicate`, `seed`, `rule`,
/// `attack`, `params`, `output`, `bounds`), then one `{"rule", "status": "not_run",
/// "reason"}` per rule in `not_run`.
///
/// # Errors
/// Serialisation failure (none is expected: every value is a number, a string or null).
pub fn json_lines(
    records: &[Record<RobustPoint, RobustOutcome>],
    seed: u64,
    bounds: &Bounds,
    not_run: &[(String, String)],
) -> Result<String> {
    let json = |e: serde_json::Error| Error::Unsupported(format!("JSON: {e}"));
    let mut s = String::new();
    for r in records {
        let line = serde_json::to_string(&JsonRecord {
            point: r.point,
            replicate: r.replicate,
            seed,
            rule: rule_label(&r.params.defence),
            attack: step_label(&r.params.attack),
            params: &r.params,
            output: &r.output,
            bounds,
        })
        .map_err(json)?;
        s.push_str(&line);
        s.push('\n');
    }
    for (rule, reason) in not_run {
        let line = serde_json::to_string(&JsonNotRun {
            rule,
            status: "not_run",
            reason,
        })
        .map_err(json)?;
        s.push_str(&line);
        s.push('\n');
    }
    Ok(s)
}
