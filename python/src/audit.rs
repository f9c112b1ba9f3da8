//! The privacy audits of `lbounds audit`, as the JSON its `--json` prints: those that work on
//! numbers and arrays (epsilon from counts, from membership scores, GDP, one run) and those
//! that train models (canary exposure, DP-SGD, membership inference; their configuration and
//! record come from [`lbounds::commands::audit`], as the CLI's).

use crate::{count, released, to_py};
use lbounds::commands::audit::{self as commands, DpsgdFlags, MiaFlags};
use lbounds::commands::Spelling;
use lbounds::experiment::exposure::{self, ExposurePoint};
use lbounds::experiment::mia;
use lbounds::experiment::robust::Streams;
use lbounds::learning::model::Backend;
use lbounds::privacy::audit::dpsgd;
use lbounds::privacy::audit::epsilon::{self, Counts};
use lbounds::privacy::audit::gdp;
use lbounds::privacy::audit::mia::shadow::Cache;
use lbounds::privacy::audit::one_run::{self, OneRun};
use lbounds::Error;
use numpy::PyReadonlyArray1;
use pyo3::prelude::*;
use serde_json::json;

/// A library value as a JSON value (a failure, which the library's plain structs never
/// cause, is an `Unsupported` error rather than a panic).
fn json_value(v: impl serde::Serialize) -> PyResult<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| to_py(Error::Unsupported(e.to_string())))
}

/// A library value as JSON with extra keys (the CLI's flattened output structs).
fn with_keys(v: impl serde::Serialize, extra: serde_json::Value) -> PyResult<String> {
    let mut out = json_value(v)?;
    if let (Some(o), Some(x)) = (out.as_object_mut(), extra.as_object()) {
        o.extend(x.clone());
    }
    Ok(out.to_string())
}

/// Counts of a test a u64 can hold (a negative count is a `ValueError`).
fn counts(name: &str, v: i64) -> PyResult<u64> {
    Ok(crate::count(name, v)? as u64)
}

/// Epsilon lower bound from one operating point of a membership test.
#[pyfunction]
#[pyo3(signature = (positives, true_positives, negatives, false_positives, delta=0.0, alpha=0.05, two_sided=false))]
#[allow(clippy::too_many_arguments)]
fn audit_epsilon_json(
    py: Python<'_>,
    positives: i64,
    true_positives: i64,
    negatives: i64,
    false_positives: i64,
    delta: f64,
    alpha: f64,
    two_sided: bool,
) -> PyResult<String> {
    let c = Counts {
        positives: counts("positives", positives)?,
        true_positives: counts("true_positives", true_positives)?,
        negatives: counts("negatives", negatives)?,
        false_positives: counts("false_positives", false_positives)?,
    };
    let e = released(py, || epsilon::from_counts(&c, delta, alpha, two_sided))?;
    with_keys(
        e,
        json!({"delta": delta, "alpha": alpha, "two_sided": two_sided}),
    )
}

/// Epsilon lower bound from membership scores (every threshold), and the GDP estimate when
/// delta > 0.
#[pyfunction]
#[pyo3(signature = (members, non_members, delta=0.0, alpha=0.05, two_sided=false))]
fn audit_scores_json(
    py: Python<'_>,
    members: PyReadonlyArray1<'_, f64>,
    non_members: PyReadonlyArray1<'_, f64>,
    delta: f64,
    alpha: f64,
    two_sided: bool,
) -> PyResult<String> {
    let m = members.as_array().to_vec();
    let nm = non_members.as_array().to_vec();
    let (e, g) = released(py, || {
        let e = epsilon::from_scores(&m, &nm, delta, alpha, two_sided)?;
        let g = if delta > 0.0 {
            Some(gdp::from_scores(&m, &nm, delta, alpha, two_sided)?)
        } else {
            None
        };
        Ok((e, g))
    })?;
    let gdp = json_value(g)?;
    with_keys(
        e,
        json!({"gdp": gdp, "members": m.len(), "non_members": nm.len(), "delta": delta, "alpha": alpha}),
    )
}

/// The epsilon at which a mu-GDP mechanism reaches delta.
#[pyfunction]
fn audit_gdp(py: Python<'_>, mu: f64, delta: f64) -> PyResult<f64> {
    released(py, || gdp::epsilon_for_mu(mu, delta))
}

/// Epsilon lower bound from one training run with many canaries (Steinke et al. 2023).
#[pyfunction]
#[pyo3(signature = (canaries, guesses, correct, delta=0.0, confidence=0.95))]
fn audit_one_run_json(
    py: Python<'_>,
    canaries: i64,
    guesses: i64,
    correct: i64,
    delta: f64,
    confidence: f64,
) -> PyResult<String> {
    let run = OneRun {
        canaries: counts("canaries", canaries)?,
        guesses: counts("guesses", guesses)?,
        correct: counts("correct", correct)?,
    };
    let r = released(py, || one_run::epsilon_lower(&run, delta, confidence))?;
    with_keys(
        r,
        json!({"canaries": run.canaries, "guesses": run.guesses, "correct": run.correct,
               "delta": delta, "confidence": confidence}),
    )
}

/// The backend `backend`/`device`/`dtype` name (as the CLI's `--backend`, `--device`,
/// `--dtype`; `candle` needs a build of the package with the main crate's `candle` feature).
fn backend(name: &str, device: Option<&str>, dtype: Option<&str>) -> PyResult<Backend> {
    Backend::from_flags(name, device, dtype).map_err(to_py)
}

/// A count that fits in 32 bits (DP-SGD's runs, canaries, guesses).
fn count32(name: &str, v: Option<i64>) -> PyResult<Option<u32>> {
    v.map(|v| {
        u32::try_from(count(name, v)?)
            .map_err(|_| to_py(Error::invalid(name, v, "must be at most 4294967295")))
    })
    .transpose()
}

/// Canary exposure of a small character model trained on synthetic text (as
/// `lbounds audit exposure --json`, with its wall time under `seconds`).
#[pyfunction]
#[pyo3(signature = (insertions=4, epsilon=None, delta=1e-5, clip=1.0, digits=6, tokens=4000,
                    fanout=4, context=3, hidden=32, epochs=30, batch=64, lr=0.5, references=2000,
                    seed=1, backend="native", device=None, dtype=None))]
#[allow(clippy::too_many_arguments)]
fn audit_exposure_json(
    py: Python<'_>,
    insertions: i64,
    epsilon: Option<f64>,
    delta: f64,
    clip: f64,
    digits: i64,
    tokens: i64,
    fanout: i64,
    context: i64,
    hidden: i64,
    epochs: i64,
    batch: i64,
    lr: f64,
    references: i64,
    seed: u64,
    backend: &str,
    device: Option<&str>,
    dtype: Option<&str>,
) -> PyResult<String> {
    let p = ExposurePoint {
        tokens: count("tokens", tokens)?,
        fanout: count("fanout", fanout)?,
        insertions: count("insertions", insertions)?,
        digits: count("digits", digits)?,
        context: count("context", context)?,
        hidden: count("hidden", hidden)?,
        epochs: count("epochs", epochs)?,
        batch: count("batch", batch)?,
        lr,
        references: count("references", references)?,
        epsilon,
        delta,
        clip,
        backend: self::backend(backend, device, dtype)?,
    };
    released(py, move || {
        p.check()?;
        let start = std::time::Instant::now();
        let o = exposure::run_with(&p, Streams::new(seed, 0), &mut |_, _| {})?;
        commands::exposure_json(&p, seed, &o, start.elapsed().as_secs_f64())
    })
}

/// Audit of lbounds' own DP-SGD with a Dirac gradient canary (as `lbounds audit dpsgd --json`).
#[pyfunction]
#[pyo3(signature = (epsilon, runs=None, one_run=false, canaries=None, guesses=None,
                    planted_bug="none", delta=1e-5, alpha=0.05, sample_rate=0.1, epochs=10,
                    seed=0, backend="native", device=None, dtype=None))]
#[allow(clippy::too_many_arguments)]
fn audit_dpsgd_json(
    py: Python<'_>,
    epsilon: f64,
    runs: Option<i64>,
    one_run: bool,
    canaries: Option<i64>,
    guesses: Option<i64>,
    planted_bug: &str,
    delta: f64,
    alpha: f64,
    sample_rate: f64,
    epochs: i64,
    seed: u64,
    backend: &str,
    device: Option<&str>,
    dtype: Option<&str>,
) -> PyResult<String> {
    let backend = self::backend(backend, device, dtype)?;
    let flags = DpsgdFlags {
        epsilon,
        runs: count32("runs", runs)?,
        one_run,
        canaries: count32("canaries", canaries)?,
        guesses: count32("guesses", guesses)?,
        planted_bug: planted_bug.to_string(),
        delta,
        alpha,
        sample_rate,
        epochs: count("epochs", epochs)?,
    };
    released(py, move || {
        let cfg = commands::dpsgd_config(&flags, backend, Spelling::Python)?;
        let out = dpsgd::audit(&cfg, seed, &|| {})?;
        commands::dpsgd_json(&out, &cfg, seed)
    })
}

/// Membership inference against shadow-trained models (as `lbounds audit mia --json`).
#[pyfunction]
#[pyo3(signature = (models=64, model="softmax", hidden=64, records=10_000, population=None,
                    features=32, targets=4, epochs=None, lr=None, epsilon=None, delta=1e-5,
                    clip=1.0, cache=None, seed=0, data_seed=0, roc=false, backend="native",
                    device=None, dtype=None))]
#[allow(clippy::too_many_arguments)]
fn audit_mia_json(
    py: Python<'_>,
    models: i64,
    model: &str,
    hidden: i64,
    records: i64,
    population: Option<i64>,
    features: i64,
    targets: i64,
    epochs: Option<i64>,
    lr: Option<f64>,
    epsilon: Option<f64>,
    delta: f64,
    clip: f64,
    cache: Option<std::path::PathBuf>,
    seed: u64,
    data_seed: u64,
    roc: bool,
    backend: &str,
    device: Option<&str>,
    dtype: Option<&str>,
) -> PyResult<String> {
    let flags = MiaFlags {
        models: count("models", models)?,
        model: model.to_string(),
        hidden: count("hidden", hidden)?,
        records: count("records", records)?,
        population: population.map(|p| count("population", p)).transpose()?,
        features: count("features", features)?,
        targets: count("targets", targets)?,
        epochs: epochs.map(|e| count("epochs", e)).transpose()?,
        lr,
        epsilon,
        delta,
        clip,
        seed,
        data_seed,
    };
    let cfg = commands::mia_config(
        &flags,
        self::backend(backend, device, dtype)?,
        Spelling::Python,
    )
    .map_err(to_py)?;
    let model = flags.model;
    released(py, move || {
        cfg.validate()?;
        let cache = cache.map(Cache::new);
        let report = mia::run_audit(&cfg, cache.as_ref(), &|| {})?;
        commands::mia_json(&report, &model, roc)
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(audit_exposure_json, m)?)?;
    m.add_function(wrap_pyfunction!(audit_dpsgd_json, m)?)?;
    m.add_function(wrap_pyfunction!(audit_mia_json, m)?)?;
    m.add_function(wrap_pyfunction!(audit_epsilon_json, m)?)?;
    m.add_function(wrap_pyfunction!(audit_scores_json, m)?)?;
    m.add_function(wrap_pyfunction!(audit_gdp, m)?)?;
    m.add_function(wrap_pyfunction!(audit_one_run_json, m)?)?;
    Ok(())
}
