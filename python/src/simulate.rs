//! `simulate`: every robust aggregator against attacks on a simulated heterogeneous
//! population, one record per run exactly as `lbounds simulate --json` writes it (the
//! catalogue bounds at the setting included), through the same library code
//! ([`lbounds::commands::simulate`]).

use crate::{count, released, to_py};
use lbounds::commands::simulate::{self, Bounds};
use lbounds::commands::Spelling;
use lbounds::experiment::{self, robust::RobustAggregation};
use lbounds::Error;
use pyo3::prelude::*;

/// The records as JSON Lines: one per run, then one `{"rule", "status": "not_run", "reason"}`
/// per default rule that cannot run at this setting.
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
    let replicates = u32::try_from(count("replicates", replicates)?)
        .ok()
        .filter(|&r| r >= 1)
        .ok_or_else(|| {
            to_py(Error::invalid(
                "replicates",
                replicates,
                "must be in 1..=4294967295",
            ))
        })?;
    let population = simulate::population(
        n,
        d,
        byzantine,
        heterogeneity,
        mean,
        noise,
        records,
        zipf,
        Spelling::Python,
    )
    .map_err(to_py)?;
    released(py, move || {
        let model = population.build()?;
        let plan = simulate::plan(
            model,
            rules.as_deref(),
            &pre,
            attacks.as_deref(),
            replicates,
            compat,
            Spelling::Python,
        )?;
        let bounds = Bounds::new(&plan.model);
        let done = experiment::run(&RobustAggregation, &plan.points, replicates, seed, &|| {})?;
        simulate::json_lines(&done, seed, &bounds, &plan.not_run)
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(simulate_json, m)?)?;
    Ok(())
}
