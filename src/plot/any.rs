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
    /// Logarithmic y axis (points whose mean over replicates is not positive are left out;
    /// every replicate enters the mean).
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
    /// Runs whose x or y is absent or null (a metric that was not finite), left out.
    pub without_value: u64,
    /// Runs left off a logarithmic axis: x ≤ 0, or in a point whose mean y is ≤ 0.
    pub off_log_axis: u64,
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
/// point is left to draw (the message counts why); drawing and I/O errors. Nothing is left at
/// `out` on error.
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
    let (mut without_metrics, mut without_value, mut off_log_axis) = (0u64, 0u64, 0u64);
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
            without_value += 1;
            continue;
        };
        // A non-positive y stays in its point's mean (leaving it out would bias the mean
        // up); a point whose mean is not positive is left off the log axis below.
        if spec.log_x && x <= 0.0 {
            off_log_axis += 1;
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
    }
    let mut curves: Vec<Curve> = labels.iter().map(|l| (l.clone(), Vec::new())).collect();
    let mut plotted = 0u64;
    for ((curve, xb), ys) in &cells {
        if let Some(ci) = mean_ci(ys, 0.95) {
            if spec.log_y && (ci.mean <= 0.0 || ci.mean.is_nan()) {
                off_log_axis += ys.len() as u64;
                continue;
            }
            curves[*curve]
                .1
                .push((f64::from_bits(*xb), ci.mean, ci.half_width, ci.count));
            plotted += ys.len() as u64;
        }
    }
    curves.retain(|c| !c.1.is_empty());
    if plotted == 0 {
        return Err(Error::invalid(
            "--y",
            &spec.y,
            format!(
                "no point to draw: of {} runs, {without_metrics} without metrics, \
                 {without_value} without a value of x or y, {off_log_axis} off the log axis",
                records.len()
            ),
        ));
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
        without_value,
        off_log_axis,
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

    /// On a log y axis a replicate's y of 0 stays in its point's mean: replicates 0 and 2 plot
    /// at 1, not at 2 (the old code dropped each non-positive replicate before averaging, which
    /// biased every such point up); a point whose mean is 0 is left off and counted, as are
    /// runs at x ≤ 0 on a log x axis and runs without a value. Fails with the old per-record
    /// filter (the mean is 2).
    #[test]
    fn log_axes_leave_out_points_not_replicates() {
        let rec = |x: f64, y: Option<f64>| -> Value {
            serde_json::json!({"grid": {"x": x}, "output": {"status": "ok", "y": y}})
        };
        let records = [
            rec(1.0, Some(0.0)),
            rec(1.0, Some(2.0)),
            rec(2.0, Some(0.0)),
            rec(2.0, Some(0.0)),
            rec(0.0, Some(5.0)),
            rec(3.0, None),
        ];
        let dir = std::env::temp_dir().join(format!("lbounds-plot-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("p.svg");
        let spec = |log_x: bool| PlotSpec {
            x: "x".into(),
            y: "y".into(),
            by: None,
            log_y: true,
            log_x,
        };
        let r = plot_records(&records, &spec(true), &out).unwrap();
        assert_eq!(r.curves.len(), 1);
        assert_eq!(r.curves[0].1.len(), 1, "{:?}", r.curves);
        let (x, mean, _, count) = r.curves[0].1[0];
        assert_eq!((x, mean, count), (1.0, 1.0, 2));
        assert_eq!((r.plotted, r.without_value, r.off_log_axis), (2, 1, 3));
        // Only the x = 0 run is positive: nothing left, and the message says why.
        let e = plot_records(&records[2..], &spec(true), &out)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("3 off the log axis") && e.contains("1 without a value"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
