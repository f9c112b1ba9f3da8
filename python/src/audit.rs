//! The privacy audits of `lbounds audit` that work on numbers and arrays (epsilon from counts,
//! from membership scores, GDP, one run), as the JSON its `--json` prints.

use crate::{released, to_py};
use lbounds::privacy::audit::epsilon::{self, Counts};
use lbounds::privacy::audit::gdp;
use lbounds::privacy::audit::one_run::{self, OneRun};
use lbounds::Error;
use numpy::PyReadonlyArray1;
use pyo3::prelude::*;
use serde_json::json;

/// A library value as JSON with extra keys (the CLI's flattened output structs).
fn with_keys(v: impl serde::Serialize, extra: serde_json::Value) -> PyResult<String> {
    let mut out = serde_json::to_value(v).map_err(|e| to_py(Error::Unsupported(e.to_string())))?;
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
    let gdp = serde_json::to_value(g).map_err(|e| to_py(Error::Unsupported(e.to_string())))?;
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

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(audit_epsilon_json, m)?)?;
    m.add_function(wrap_pyfunction!(audit_scores_json, m)?)?;
    m.add_function(wrap_pyfunction!(audit_gdp, m)?)?;
    m.add_function(wrap_pyfunction!(audit_one_run_json, m)?)?;
    Ok(())
}
