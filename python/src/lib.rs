//! Python bindings of lbounds (`lbounds._lbounds`; the `lbounds` Python package wraps them).
//!
//! Every function validates its input through the library, releases the GIL for the work
//! ([`released`]), runs on the thread pool that `set_num_threads` chose, and maps the library's
//! [`lbounds::Error`] to [`LboundsError`] (a `ValueError`) with the same message. A panic is
//! never let through: it becomes a `RuntimeError` naming it as a bug.

mod aggregate;
mod audit;
mod bounds;
mod privacy;
mod simulate;

use lbounds::params::{Compat, Params};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

pyo3::create_exception!(
    lbounds,
    LboundsError,
    PyValueError,
    "Bad input to lbounds (a parameter out of its domain, an unknown name, too few vectors \
     for f, a refused NaN, ...). The message is the Rust library's, word for word."
);

/// The library's error as a Python exception with the same message.
pub(crate) fn to_py(e: lbounds::Error) -> PyErr {
    LboundsError::new_err(e.to_string())
}

/// The pool set by `set_num_threads`; `None` means rayon's global pool (one thread per core).
static POOL: Mutex<Option<Arc<rayon::ThreadPool>>> = Mutex::new(None);

/// Runs `work` without the GIL (other Python threads run meanwhile) on the chosen pool,
/// turning its error into [`LboundsError`] and a panic into a `RuntimeError`.
pub(crate) fn released<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> lbounds::Result<T> + Send,
{
    let pool = POOL.lock().ok().and_then(|p| p.clone());
    let out = py.detach(move || {
        std::panic::catch_unwind(AssertUnwindSafe(move || match &pool {
            Some(p) => p.install(work),
            None => work(),
        }))
    });
    match out {
        Ok(r) => r.map_err(to_py),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            Err(PyRuntimeError::new_err(format!(
                "internal error in lbounds (a bug, please report it): {what}"
            )))
        }
    }
}

/// `compat=None | "native" | "byzfl"`.
pub(crate) fn compat(name: Option<&str>) -> PyResult<Compat> {
    match name.map(str::trim) {
        None | Some("native") => Ok(Compat::Native),
        Some("byzfl") => Ok(Compat::Byzfl),
        Some(other) => Err(to_py(lbounds::Error::unknown(
            "compat",
            other,
            ["native", "byzfl"],
        ))),
    }
}

/// A Python dict of parameters (`{"tau": 1.5}`) as the library's [`Params`].
pub(crate) fn params(p: Option<BTreeMap<String, f64>>) -> Params {
    Params(p.unwrap_or_default())
}

/// A count given as a Python int (f, steps, replicates): negative is this library's
/// `ValueError`, not PyO3's `OverflowError`.
pub(crate) fn count(name: &str, v: i64) -> PyResult<usize> {
    usize::try_from(v).map_err(|_| to_py(lbounds::Error::invalid(name, v, "must be >= 0")))
}

/// Uses `threads` worker threads for every later call (0: one per core, rayon's default).
/// Results do not depend on it.
#[pyfunction]
fn set_num_threads(threads: i64) -> PyResult<()> {
    let threads = count("threads", threads)?;
    let pool = if threads == 0 {
        None
    } else {
        let built = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| PyRuntimeError::new_err(format!("cannot start {threads} threads: {e}")))?;
        Some(Arc::new(built))
    };
    *POOL
        .lock()
        .map_err(|_| PyRuntimeError::new_err("thread pool lock poisoned"))? = pool;
    Ok(())
}

/// The number of worker threads calls run on.
#[pyfunction]
fn get_num_threads() -> usize {
    match POOL.lock().ok().and_then(|p| p.clone()) {
        Some(p) => p.current_num_threads(),
        None => rayon::current_num_threads(),
    }
}

#[pymodule]
fn _lbounds(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("LboundsError", m.py().get_type::<LboundsError>())?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    aggregate::register(m)?;
    privacy::register(m)?;
    bounds::register(m)?;
    audit::register(m)?;
    simulate::register(m)?;
    Ok(())
}
