//! `lbounds plot`: one metric of any sweep's records against one parameter, a curve per value
//! of another, each a mean over replicates with a 95% Student-t confidence band.
//!
//! Keys are looked up in a record in this order: the point's `grid` values (as written in the
//! config), its `params` (every parameter, defaults included; `population` fields too), its
//! `output` (the metrics), its `bounds`. A dotted key (`params.population.d`,
//! `output.error`) names a path from the record's root. Runs without metrics (`status`
//! `failed` or `not_applicable`) are left out and counted. Like every figure, this reads
//! records only.

use super::chart::{Chart, Series, Stroke};
use super::PALETTE;
use crate::experiment::summary::mean_ci;
use crate::{Error, Result};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

/// What to plot.
#[derive(Clone, Debug)]
pub struct PlotSpec {
    /// The x axis: a numeric key.
    pub x: String,
    /// The y axis: a numeric metric.
    pub y: String,
    /// One curve per value of this key (numbers or strings), if any.
    pub by: Option<String>,
    /// Logarithmic y axis (non-positive means are left out).
    pub log_y: bool,
    /// Logarithmic x axis (non-positive x are left out).
    pub log_x: bool,
}

/// One curve: its label and its points (x, mean, 95% CI half-width, replicates).
pub type Curve = (String, Vec<(f64, f64, f64, usize)>);

/// What [`plot_records`] drew.
#[derive(Clone, Debug, Serialize)]
pub struct PlotReport {
    /// Records read.
    pub records: u64,
    /// Records plotted.
    pub plotted: u64,
    /// Runs without metrics (failed or not applicable), left out.
    pub without_metrics: u64,
    /// One entry per curve: its label and its (x, mean, 95% CI half-width, replicates).
    pub curves: Vec<Curve>,
}

/// The value of `key` in a record (see the [module docs](self) for the lookup order).
fn lookup<'a>(rec: &'a Value, key: &str) -> Option<&'a Value> {
    if key.contains('.') {
        return key.split('.').try_fold(rec, |v, k| v.get(k));
    }
    ["grid", "params", "output", "bounds"]
        .iter()
        .find_map(|top| rec.get(top)?.get(key))
        .or_else(|| rec.get("params")?.get("population")?.get(key))
}

/// The keys a user could have meant (for the error message): grid, output and bounds keys of
/// the first record.
fn known_keys(rec: &Value) -> String {
    let mut keys = Vec::new();
    for top in ["grid", "output", "bounds"] {
        if let Some(Value::Object(m)) = rec.get(top) {
            keys.extend(m.keys().filter(|k| *k != "status").cloned());
        }
    }
    keys.dedup();
    keys.join(", ")
}

fn label_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reads the record lines of `path` (a torn last line is skipped).
///
/// # Errors
/// [`Error::InvalidParameter`] for a file that cannot be read; [`Error::Parse`] naming the
/// line that is not JSON.
pub fn read_records(path: &Path) -> Result<Vec<Value>> {
    let file = std::fs::File::open(path)
        .map_err(|e| Error::invalid("records", path.display(), e.to_string()))?;
    let mut out = Vec::new();
    let mut r = std::io::BufReader::new(file);
    let mut buf = Vec::new();
    for line in 1.. {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf).map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        if n == 0 || buf.last() != Some(&b'\n') {
            break;
        }
        out.push(serde_json::from_slice(&buf).map_err(|e| Error::Parse {
            what: format!("{} line {line}", path.display()),
            reason: format!("not a record: {e}"),
        })?);
    }
    Ok(out)
}

/// Draws `spec` from `records` into `out` (`.svg` or `.png`) and says what it drew.
///
/// # Errors
/// [`Error::InvalidParameter`] when there are no records, when a key is missing from every
/// record (the message lists the keys there are), when x or y is not a number, or when no
/// run has a finite y; drawing and I/O errors. Nothing is left at `out` on error.
pub fn plot_records(records: &[Value], spec: &PlotSpec, out: &Path) -> Result<PlotReport> {
    let first = records
        .first()
        .ok_or_else(|| Error::invalid("records", 0, "no records to plot"))?;
    for key in [Some(&spec.x), Some(&spec.y), spec.by.as_ref()]
        .into_iter()
        .flatten()
    {
        if !records.iter().any(|r| lookup(r, key).is_some()) {
            return Err(Error::invalid(
                "key",
                key,
                format!("in no record (keys there: {})", known_keys(first)),
            ));
        }
    }
    // (curve, x) → the replicates' values; curves in order of first appearance.
    let mut cells: BTreeMap<(usize, u64), Vec<f64>> = BTreeMap::new();
    let mut labels: Vec<String> = Vec::new();
    let mut without_metrics = 0u64;
    let mut plotted = 0u64;
    for r in records {
        let status = r.get("output").and_then(|o| o.get("status"));
        if status.is_some_and(|s| s != "ok") {
            without_metrics += 1;
            continue;
        }
        let number = |key: &str, axis: &str| -> Result<Option<f64>> {
            match lookup(r, key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => Ok(n.as_f64()),
                Some(other) => Err(Error::invalid(
                    axis,
                    key,
                    format!("is not a number (it is {other}); use it as --by"),
                )),
            }
        };
        let (Some(x), Some(y)) = (number(&spec.x, "--x")?, number(&spec.y, "--y")?) else {
            continue;
        };
        if (spec.log_x && x <= 0.0) || (spec.log_y && y <= 0.0) {
            continue;
        }
        let label = spec
            .by
            .as_ref()
            .map(|b| lookup(r, b).map_or_else(|| "(none)".to_string(), label_of))
            .unwrap_or_else(|| spec.y.clone());
        let curve = labels.iter().position(|l| *l == label).unwrap_or_else(|| {
            labels.push(label);
            labels.len() - 1
        });
        cells.entry((curve, x.to_bits())).or_default().push(y);
        plotted += 1;
    }
    if plotted == 0 {
        return Err(Error::invalid(
            "--y",
            &spec.y,
            format!("no run has a finite value ({without_metrics} runs without metrics)"),
        ));
    }
    let mut curves: Vec<Curve> = labels.iter().map(|l| (l.clone(), Vec::new())).collect();
    for ((curve, xb), ys) in &cells {
        if let Some(ci) = mean_ci(ys, 0.95) {
            curves[*curve]
                .1
                .push((f64::from_bits(*xb), ci.mean, ci.half_width, ci.count));
        }
    }
    for (_, pts) in &mut curves {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let series = curves
        .iter()
        .enumerate()
        .map(|(i, (label, pts))| Series {
            label: label.clone(),
            color: PALETTE[i % PALETTE.len()],
            points: pts.iter().map(|p| (p.0, p.1, p.2)).collect(),
            stroke: Stroke::Solid,
            markers: true,
        })
        .collect();
    let reps = curves
        .iter()
        .flat_map(|c| c.1.iter().map(|p| p.3))
        .max()
        .unwrap_or(0);
    let sweep = first.get("sweep").map_or_else(String::new, label_of);
    let chart = Chart {
        stem: String::new(),
        title: format!(
            "{sweep}: {} vs {}{} (mean over up to {reps} replicates, 95% CI)",
            spec.y,
            spec.x,
            spec.by
                .as_ref()
                .map_or_else(String::new, |b| format!(" by {b}"))
        ),
        x_label: spec.x.clone(),
        y_label: if spec.log_y {
            format!("{} (log scale)", spec.y)
        } else {
            spec.y.clone()
        },
        x_log: spec.log_x,
        y_log: spec.log_y,
        x_range: None,
        series,
        shades: vec![],
        vlines: vec![],
        note: None,
        y_range: None,
    };
    chart.draw_file(out)?;
    Ok(PlotReport {
        records: records.len() as u64,
        plotted,
        without_metrics,
        curves,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_in_grid_params_output_and_bounds() {
        let r: Value = serde_json::from_str(
            r#"{"grid":{"rule":"median"},"params":{"population":{"d":7},"seed":1},"output":{"status":"ok","error":0.5},"bounds":{"eta":0.1}}"#,
        )
        .unwrap();
        assert_eq!(lookup(&r, "rule"), Some(&Value::from("median")));
        assert_eq!(lookup(&r, "d"), Some(&Value::from(7)));
        assert_eq!(lookup(&r, "error"), Some(&Value::from(0.5)));
        assert_eq!(lookup(&r, "eta"), Some(&Value::from(0.1)));
        assert_eq!(lookup(&r, "params.population.d"), Some(&Value::from(7)));
        assert_eq!(lookup(&r, "nope"), None);
        assert_eq!(known_keys(&r), "rule, error, eta");
    }
}
