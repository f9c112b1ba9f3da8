//! `aggregate`, `pre_aggregate`, `attack` and the registries (`lbounds list`), NumPy in and out.
//!
//! A C-contiguous float64 `n×d` array is exactly lbounds' layout (n vectors of length d back
//! to back), so it is read in place ([`UpdatesView::from_buffer`]); any other layout is
//! copied once, and so is an input with a NaN under native semantics (read as +∞).

use crate::{count, released, to_py};
use lbounds::aggregators::{self, AggContext, PipelineSpec, StepSpec};
use lbounds::attacks;
use lbounds::commands::defence::{attack_then_aggregate, defence_spec};
use lbounds::commands::Spelling;
use lbounds::data::{NonFiniteEntries, Updates, UpdatesView};
use lbounds::params::{Compat, Spec};
use lbounds::rng::rng_from_seed;
use lbounds::Error;
use nalgebra::{DMatrix, DVector};
use numpy::{
    PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A pre-aggregator or rule as the Python layer passes it: a `NAME[:K=V,...]` string and a
/// dict of further parameters.
type Step = (String, Option<BTreeMap<String, f64>>);

/// The vectors of a NumPy array: borrowed when its memory already has lbounds' layout.
enum Input<'a> {
    Borrowed(UpdatesView<'a>),
    Owned(Updates),
}

impl Input<'_> {
    fn view(&self) -> UpdatesView<'_> {
        match self {
            Input::Borrowed(v) => *v,
            Input::Owned(u) => u.view(),
        }
    }
}

/// The values of an `n×d` array, vector after vector: the array's own memory when it is
/// C-contiguous (no copy), a row-major copy otherwise. Taken while the GIL is held; read
/// without it ([`Array::input`]).
struct Array<'a> {
    data: Cow<'a, [f64]>,
    n: usize,
    d: usize,
}

impl<'a> Array<'a> {
    fn of(x: &'a PyReadonlyArray2<'_, f64>) -> Array<'a> {
        let [n, d] = [x.shape()[0], x.shape()[1]];
        let data = match x.as_slice() {
            Ok(s) if x.is_c_contiguous() => Cow::Borrowed(s),
            // Row-major iteration of the logical array, whatever the strides.
            _ => Cow::Owned(x.as_array().iter().copied().collect()),
        };
        Array { data, n, d }
    }

    /// The vectors under `entries`, borrowed where the values need no rewriting.
    fn input(&self, entries: NonFiniteEntries) -> lbounds::Result<Input<'_>> {
        if self.n == 0 {
            return Err(Error::invalid("n", 0, "need at least one vector"));
        }
        if let Some(v) = UpdatesView::from_buffer(&self.data, self.d, entries)? {
            return Ok(Input::Borrowed(v));
        }
        Ok(Input::Owned(Updates::with_entries(
            DMatrix::from_column_slice(self.d, self.n, &self.data),
            entries,
        )?))
    }
}

/// One step from its string and dict.
fn step(s: &Step) -> lbounds::Result<StepSpec> {
    let mut spec = StepSpec::parse(&s.0)?;
    for (k, v) in s.1.iter().flatten() {
        spec.params.set(k, *v);
    }
    Ok(spec)
}

/// The pipeline `pre` then `rule`, every f-aware step given `f` (unless it sets its own), and
/// an error for a step whose meaning depends on f when none is declared (trmean would
/// otherwise silently be the average), as the CLI's `--f` does ([`defence_spec`]).
pub(crate) fn pipeline(
    rule: &Step,
    pre: &[Step],
    f: Option<usize>,
) -> lbounds::Result<PipelineSpec> {
    let pre = pre.iter().map(step).collect::<lbounds::Result<_>>()?;
    defence_spec(step(rule)?, pre, f, Spelling::Python)
}

fn vector<'py>(py: Python<'py>, v: DVector<f64>) -> Bound<'py, PyArray1<f64>> {
    PyArray1::from_vec(py, v.data.into())
}

fn matrix<'py>(py: Python<'py>, u: Updates) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let (n, d) = (u.n(), u.d());
    let flat: Vec<f64> = u.into_matrix().data.into();
    PyArray1::from_vec(py, flat).reshape([n, d])
}

/// The robust aggregate of the rows of `x` (see `lbounds.aggregate`).
#[pyfunction]
#[pyo3(signature = (x, rule, f=None, pre=Vec::new(), compat=None, seed=0, previous=None))]
#[allow(clippy::too_many_arguments)]
fn aggregate<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    rule: Step,
    f: Option<i64>,
    pre: Vec<Step>,
    compat: Option<&str>,
    seed: u64,
    previous: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let compat = crate::compat(compat)?;
    let f = f.map(|f| count("f", f)).transpose()?;
    let previous = previous.map(|p| p.as_array().to_vec());
    let x = Array::of(&x);
    let out = released(py, || {
        let pipeline = pipeline(&rule, &pre, f)?.build(compat)?;
        // The entries as they are (shape errors first, no scan).
        let raw = x.input(NonFiniteEntries::Keep)?;
        let previous = previous.map(DVector::from_vec);
        if let Some(p) = &previous {
            if p.len() != x.d {
                return Err(Error::DimensionMismatch {
                    what: "previous aggregate".into(),
                    expected: x.d,
                    got: p.len(),
                });
            }
        }
        let mut rng = rng_from_seed(seed);
        let mut cx = AggContext::new(&mut rng);
        cx.previous = previous.as_ref();
        // Any row may come from a Byzantine user: ±∞ passes, and natively NaN is +∞ (read
        // so by the rule itself where it can, with no scan of the input, or the scan skipped
        // where the rule's distances prove the input finite).
        let entries = pipeline.untrusted_entries(compat);
        if entries == NonFiniteEntries::AtInfinity {
            if let Some(out) = pipeline.run_if_finite(raw.view(), &mut cx)? {
                return Ok(out);
            }
        }
        let x = x.input(entries)?;
        pipeline.run(x.view(), &mut cx)
    })?;
    Ok(vector(py, out))
}

/// One pre-aggregator over the rows of `x`: the `n'×d` vectors it outputs.
#[pyfunction]
#[pyo3(signature = (x, step, f=None, compat=None, seed=0))]
fn pre_aggregate<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    step: Step,
    f: Option<i64>,
    compat: Option<&str>,
    seed: u64,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let compat = crate::compat(compat)?;
    let f = f.map(|f| count("f", f)).transpose()?;
    let x = Array::of(&x);
    let out = released(py, || {
        // The step's requirement on f is checked as in a pipeline (with a rule that takes none).
        let spec = pipeline(&("average".into(), None), std::slice::from_ref(&step), f)?;
        let s = &spec.pre[0];
        let pre = aggregators::build_pre(&s.name, &s.params, compat)?;
        let x = x.input(aggregators::untrusted_entries(compat))?;
        let x = x.view();
        pre.check_n(x.n())?;
        pre.apply_view(x, &mut AggContext::new(&mut rng_from_seed(seed)))
    })?;
    matrix(py, out)
}

/// The Byzantine rows and, with `then_aggregate`, the defence's aggregate.
type Attacked<'py> = (Bound<'py, PyArray2<f64>>, Option<Bound<'py, PyArray1<f64>>>);

/// What the f Byzantine users send against the honest rows (an `f×d` array), and with
/// `then_aggregate` the defence's aggregate of the honest rows followed by them (as
/// `lbounds attack --then-aggregate`: its draws continue the attack's stream).
#[pyfunction]
#[pyo3(signature = (honest, attack, f, rule=None, pre=Vec::new(), params=None, compat=None, seed=0,
                    then_aggregate=false))]
#[allow(clippy::too_many_arguments)]
fn attack<'py>(
    py: Python<'py>,
    honest: PyReadonlyArray2<'py, f64>,
    attack: &str,
    f: i64,
    rule: Option<Step>,
    pre: Vec<Step>,
    params: Option<BTreeMap<String, f64>>,
    compat: Option<&str>,
    seed: u64,
    then_aggregate: bool,
) -> PyResult<Attacked<'py>> {
    let compat: Compat = crate::compat(compat)?;
    let f = count("f", f)?;
    let params = crate::params(params);
    let honest = Array::of(&honest);
    let out = released(py, || {
        let mut spec = StepSpec::parse(attack)?;
        spec.params.0.extend(params.0);
        let attack = attacks::build(&spec.name, &spec.params, compat)?;
        if rule.is_none() && !pre.is_empty() {
            return Err(Error::invalid(
                "pre",
                pre.len(),
                "pre-aggregators belong to a defence: give rule= too",
            ));
        }
        let defence = match &rule {
            Some(r) => Some(pipeline(r, &pre, Some(f))?.build(compat)?),
            None => None,
        };
        // Honest vectors are the caller's own: every entry must be finite.
        let honest = honest.input(NonFiniteEntries::Refuse)?;
        attack_then_aggregate(
            honest.view(),
            attack.as_ref(),
            f,
            defence.as_ref(),
            seed,
            then_aggregate,
        )
    })?;
    Ok((
        matrix(py, out.byzantine)?,
        out.aggregate.map(|a| vector(py, a)),
    ))
}

/// The registries as `lbounds list --json` prints them.
#[pyfunction]
fn registry_json() -> PyResult<String> {
    fn rows<T: ?Sized>(family: &str, reg: &[Spec<T>]) -> Vec<serde_json::Value> {
        reg.iter()
            .map(|s| {
                serde_json::json!({
                    "family": family,
                    "name": s.name,
                    "byzfl": s.byzfl,
                    "params": s.keys,
                    "summary": s.summary,
                })
            })
            .collect()
    }
    let all = [
        rows("aggregator", aggregators::RULES),
        rows("pre_aggregator", aggregators::PRE_AGGREGATORS),
        rows("attack", attacks::ATTACKS),
    ]
    .concat();
    serde_json::to_string(&all).map_err(|e| to_py(Error::Unsupported(e.to_string())))
}

/// Whether the step named `name` changes meaning with the declared f.
#[pyfunction]
fn depends_on_f(name: &str) -> PyResult<bool> {
    aggregators::depends_on_f(name).map_err(to_py)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(aggregate, m)?)?;
    m.add_function(wrap_pyfunction!(pre_aggregate, m)?)?;
    m.add_function(wrap_pyfunction!(attack, m)?)?;
    m.add_function(wrap_pyfunction!(registry_json, m)?)?;
    m.add_function(wrap_pyfunction!(depends_on_f, m)?)?;
    Ok(())
}
