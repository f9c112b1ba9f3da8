//! `simulate`: every robust aggregator against attacks on a simulated heterogeneous
//! population (as `lbounds simulate`), one record per run as the JSON of its `--json`, without
//! the catalogue bounds that the CLI attaches to every line (`lbounds.bounds` has them).

use crate::{count, released, to_py};
use lbounds::aggregators::{PipelineSpec, StepSpec, RULES};
use lbounds::attacks::ATTACKS;
use lbounds::data::population::{PopulationConfig, RecordsPerUser};
use lbounds::experiment::robust::{defence_label, step_label, RobustAggregation, RobustPoint};
use lbounds::experiment::{self, config::parse_noise};
use lbounds::params::Compat;
use lbounds::Error;
use pyo3::prelude::*;
use serde_json::json;

/// Most runs (cells × replicates) one call holds in memory, as `lbounds simulate`.
const MAX_RUNS: u64 = 1_000_000;

/// The attacks run by default: every registered attack but `inf` (as `lbounds simulate`).
const DEFAULT_SKIPPED_ATTACKS: &[&str] = &["inf"];

/// A rule's label without the `f` that simulate declares to every step.
fn rule_label(d: &PipelineSpec) -> String {
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

/// The records of the runs, then one `{"rule", "status": "not_run", "reason"}` per default
/// rule that cannot run at this setting.
#[pyfunction]
#[pyo3(signature = (byzantine=0.1, n=50, d=10, mean=1.0, noise="gaussian:sigma=1", heterogeneity=0.0,
                    records=10, zipf=None, rules=None, pre=Vec::new(), attacks=None, replicates=20,
                    seed=0, compat=None))]
#[allow(clippy::too_many_arguments)]
fn simulate_json(
    py: Python<'_>,
    byzantine: f64,
    n: i64,
    d: i64,
    mean: f64,
    noise: &str,
    heterogeneity: f64,
    records: i64,
    zipf: Option<f64>,
    rules: Option<Vec<String>>,
    pre: Vec<String>,
    attacks: Option<Vec<String>>,
    replicates: i64,
    seed: u64,
    compat: Option<&str>,
) -> PyResult<String> {
    let compat = crate::compat(compat)?;
    let (n, d, records) = (count("n", n)?, count("d", d)?, count("records", records)?);
    let replicates = u32::try_from(count("replicates", replicates)?).map_err(|_| {
        to_py(Error::invalid(
            "replicates",
            replicates,
            "must fit in 32 bits",
        ))
    })?;
    let noise = parse_noise(noise).map_err(|e| match e {
        Error::InvalidParameter { reason, .. } => to_py(Error::invalid("noise", noise, reason)),
        other => to_py(other),
    })?;
    let population = PopulationConfig {
        n,
        d,
        byzantine_fraction: byzantine,
        heterogeneity,
        mean,
        noise,
        records: match zipf {
            Some(s) => RecordsPerUser::Zipf {
                s,
                max: records as u64,
            },
            None => RecordsPerUser::Fixed { m: records },
        },
        ..PopulationConfig::default()
    };
    released(py, move || {
        let model = population.clone().build()?;
        let f = model.f();
        let explicit_rules = rules.is_some();
        let rule_names: Vec<String> =
            rules.unwrap_or_else(|| RULES.iter().map(|s| s.name.to_string()).collect());
        let pre: Vec<(String, Option<_>)> = pre.into_iter().map(|p| (p, None)).collect();
        let mut defences: Vec<PipelineSpec> = Vec::new();
        let mut not_run: Vec<(String, String)> = Vec::new();
        for r in &rule_names {
            let spec = crate::aggregate::pipeline(&(r.clone(), None), &pre, Some(f))?;
            spec.build(Compat::Native)?;
            let label = rule_label(&spec);
            if defences.iter().any(|d| rule_label(d) == label)
                || not_run.iter().any(|(l, _)| *l == label)
            {
                return Err(Error::invalid("rules", &label, "listed twice"));
            }
            let why = match spec.build(compat) {
                Err(e) if explicit_rules => return Err(e),
                Err(e) => Some(e.to_string()),
                Ok(pipeline) => pipeline.check_n(n).err().map(|e| e.to_string()),
            };
            match why {
                None => defences.push(spec),
                Some(why) => not_run.push((label, why)),
            }
        }
        let explicit_attacks = attacks.is_some();
        let attack_names: Vec<String> = attacks.unwrap_or_else(|| {
            ATTACKS
                .iter()
                .map(|s| s.name)
                .filter(|n| !DEFAULT_SKIPPED_ATTACKS.contains(n))
                .map(str::to_string)
                .collect()
        });
        let mut chosen: Vec<StepSpec> = Vec::new();
        for name in &attack_names {
            let step = StepSpec::parse(name)?;
            lbounds::attacks::build(&step.name, &step.params, Compat::Native)?;
            let label = step_label(&step);
            if chosen.iter().any(|s| step_label(s) == label) {
                return Err(Error::invalid("attacks", &label, "listed twice"));
            }
            match lbounds::attacks::build(&step.name, &step.params, compat) {
                Ok(_) => chosen.push(step),
                Err(e) if explicit_attacks => return Err(e),
                Err(_) => {}
            }
        }
        if chosen.is_empty() {
            return Err(Error::Unsupported(
                "no attack can run under this compat".into(),
            ));
        }
        if defences.is_empty() {
            let why: Vec<String> = not_run.iter().map(|(r, e)| format!("{r}: {e}")).collect();
            return Err(Error::Unsupported(format!(
                "no rule can run with n = {n} and f = {f}: {}",
                why.join("; ")
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
                "replicates",
                replicates,
                format!(
                    "{} cells x {replicates} replicates = {runs} runs; simulate keeps every run in memory and allows at most {MAX_RUNS} (a sweep streams its records to disk)",
                    points.len()
                ),
            ));
        }
        let done = experiment::run(&RobustAggregation, &points, replicates, seed, &|| {})?;
        let mut out: Vec<serde_json::Value> = Vec::with_capacity(done.len() + not_run.len());
        for r in &done {
            out.push(json!({
                "point": r.point,
                "replicate": r.replicate,
                "seed": seed,
                "rule": rule_label(&r.params.defence),
                "attack": step_label(&r.params.attack),
                "params": r.params,
                "output": r.output,
            }));
        }
        for (rule, reason) in not_run {
            out.push(json!({"rule": rule, "status": "not_run", "reason": reason}));
        }
        Ok(serde_json::Value::Array(out).to_string())
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(simulate_json, m)?)?;
    Ok(())
}
