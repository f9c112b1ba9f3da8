//! The DP accountants and calibrations of `lbounds privacy` (epsilon, noise, gaussian).

use crate::{count, released, to_py};
use lbounds::privacy::accounting::{self, calibrate, AccountantKind};
use lbounds::privacy::mechanisms::analytic_gaussian;
use pyo3::prelude::*;

fn kind(name: &str) -> PyResult<AccountantKind> {
    match name.trim() {
        "rdp" => Ok(AccountantKind::Rdp),
        "pld" => Ok(AccountantKind::Pld),
        other => Err(to_py(lbounds::Error::unknown(
            "accountant",
            other,
            ["rdp", "pld"],
        ))),
    }
}

fn steps(t: i64) -> PyResult<u64> {
    Ok(count("steps", t)? as u64)
}

/// Epsilon of `steps` Poisson-subsampled Gaussian steps (rate q, noise multiplier sigma) at delta.
#[pyfunction]
#[pyo3(signature = (q, sigma, steps, delta, accountant="rdp"))]
fn epsilon(
    py: Python<'_>,
    q: f64,
    sigma: f64,
    steps: i64,
    delta: f64,
    accountant: &str,
) -> PyResult<f64> {
    let (k, t) = (kind(accountant)?, self::steps(steps)?);
    released(py, move || accounting::epsilon(k, q, sigma, t, delta))
}

/// Delta at `epsilon` for the same mechanism.
#[pyfunction]
#[pyo3(signature = (q, sigma, steps, epsilon, accountant="rdp"))]
fn delta(
    py: Python<'_>,
    q: f64,
    sigma: f64,
    steps: i64,
    epsilon: f64,
    accountant: &str,
) -> PyResult<f64> {
    let (k, t) = (kind(accountant)?, self::steps(steps)?);
    released(py, move || accounting::delta(k, q, sigma, t, epsilon))
}

/// The smallest noise multiplier reaching (epsilon, delta) after `steps` steps at rate q.
#[pyfunction]
#[pyo3(signature = (q, steps, epsilon, delta, accountant="rdp"))]
fn noise_multiplier(
    py: Python<'_>,
    q: f64,
    steps: i64,
    epsilon: f64,
    delta: f64,
    accountant: &str,
) -> PyResult<f64> {
    let (k, t) = (kind(accountant)?, self::steps(steps)?);
    released(py, move || {
        calibrate::noise_multiplier(k, q, t, epsilon, delta)
    })
}

/// The analytic Gaussian mechanism's sigma (Balle & Wang, ICML 2018).
#[pyfunction]
#[pyo3(signature = (epsilon, delta, sensitivity=1.0))]
fn analytic_gaussian_sigma(
    py: Python<'_>,
    epsilon: f64,
    delta: f64,
    sensitivity: f64,
) -> PyResult<f64> {
    released(py, move || {
        analytic_gaussian::calibrate_sigma(epsilon, delta, sensitivity)
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(epsilon, m)?)?;
    m.add_function(wrap_pyfunction!(delta, m)?)?;
    m.add_function(wrap_pyfunction!(noise_multiplier, m)?)?;
    m.add_function(wrap_pyfunction!(analytic_gaussian_sigma, m)?)?;
    Ok(())
}
