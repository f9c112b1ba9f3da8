//! The lower-bound catalogue of `lbounds bounds` (list, show, eval), as the JSON its `--json`
//! prints (the Python layer parses it into dicts).

use crate::{released, to_py};
use lbounds::bounds::{self, Bound as CatalogueBound, Info, Value, CATALOGUE};
use lbounds::Error;
use pyo3::prelude::*;
use std::collections::BTreeMap;

fn json_error(e: serde_json::Error) -> PyErr {
    to_py(Error::Unsupported(format!("JSON output: {e}")))
}

/// One catalogue entry with the keys of `lbounds bounds list --json`.
fn entry(i: &Info) -> serde_json::Result<serde_json::Value> {
    let mut v = serde_json::to_value(i)?;
    if let Some(o) = v.as_object_mut() {
        for internal in ["grows_with", "shrinks_with", "example"] {
            o.remove(internal);
        }
        o.insert("proof".into(), i.proof_page().into());
    }
    Ok(v)
}

/// Every catalogue entry.
#[pyfunction]
fn bounds_list_json() -> PyResult<String> {
    let v: Vec<serde_json::Value> = CATALOGUE
        .iter()
        .map(|b| entry(b.info()))
        .collect::<serde_json::Result<_>>()
        .map_err(json_error)?;
    serde_json::to_string(&v).map_err(json_error)
}

/// The entry `id`, or every variant `id-...` of a family id (as `lbounds bounds show`): a JSON
/// object for one entry, a list for a family.
#[pyfunction]
fn bounds_show_json(id: &str) -> PyResult<String> {
    let v = match bounds::lookup(id) {
        Ok(b) => entry(b.info()).map_err(json_error)?,
        Err(e) => {
            let want = format!("{}-", id.trim().to_ascii_lowercase());
            let found: Vec<&'static dyn CatalogueBound> = CATALOGUE
                .iter()
                .copied()
                .filter(|b| b.info().id.to_ascii_lowercase().starts_with(&want))
                .collect();
            if found.is_empty() {
                return Err(to_py(e));
            }
            serde_json::Value::Array(
                found
                    .iter()
                    .map(|b| entry(b.info()))
                    .collect::<serde_json::Result<_>>()
                    .map_err(json_error)?,
            )
        }
    };
    serde_json::to_string(&v).map_err(json_error)
}

/// The bound `id` at `params` (defaults for the others), with the keys of
/// `lbounds bounds eval --json`.
#[pyfunction]
fn bounds_eval_json(py: Python<'_>, id: &str, params: BTreeMap<String, f64>) -> PyResult<String> {
    let b = bounds::lookup(id).map_err(to_py)?;
    let p = lbounds::params::Params(params);
    let v = released(py, || b.eval(&p))?;
    let info = b.info();
    let effective: serde_json::Map<String, serde_json::Value> = info
        .params
        .iter()
        .filter_map(|s| {
            p.0.get(s.key)
                .copied()
                .or(s.default)
                .map(|x| (s.key.to_string(), serde_json::json!(x)))
        })
        .collect();
    let mut out = serde_json::json!({
        "id": info.id,
        "params": effective,
        "value": v.as_f64(),
        "infinite": matches!(v.value, Value::Infinite { .. }),
        "kind": info.kind,
        "tight": info.tight,
        "status": info.status,
    });
    if let Value::Infinite { reason } = &v.value {
        out["reason"] = reason.as_str().into();
    }
    if let Some(u) = v.upper {
        out["upper"] = serde_json::json!(u);
    }
    serde_json::to_string(&out).map_err(json_error)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(bounds_list_json, m)?)?;
    m.add_function(wrap_pyfunction!(bounds_show_json, m)?)?;
    m.add_function(wrap_pyfunction!(bounds_eval_json, m)?)?;
    Ok(())
}
