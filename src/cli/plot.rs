//! `lbounds plot`: any metric of any sweep's records against any parameter.

use super::emit;
use anyhow::Result;
use lbounds::plot::{plot_records, read_records, PlotSpec};
use std::path::PathBuf;

/// Plot one metric of a sweep's records against one parameter (SVG or PNG).
///
/// Each curve is the mean over replicates with a 95% Student-t confidence band; --by draws
/// one curve per value of a key. Keys are looked up in each record's `grid`, then `params`
/// (and `params.population`), `output` and `bounds`; a dotted key (params.population.d)
/// names a path. Failed and not-applicable runs are left out and counted. Reads records
/// only; it never runs an experiment.
///
/// Example: lbounds plot runs/breakdown/records.jsonl --x byzantine_fraction --y error --by rule --logy --out error.svg
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Records (JSON Lines from `lbounds sweep run` or `merge`), or a sweep directory.
    records: PathBuf,
    /// The x axis: a numeric key (e.g. byzantine_fraction, d, epsilon).
    #[arg(long)]
    x: String,
    /// The y axis: a numeric metric (e.g. error, kappa_hat, coinpress, dp_trmean).
    #[arg(long)]
    y: String,
    /// One curve per value of this key (e.g. rule, attack).
    #[arg(long)]
    by: Option<String>,
    /// Logarithmic y axis.
    #[arg(long)]
    logy: bool,
    /// Logarithmic x axis.
    #[arg(long)]
    logx: bool,
    /// The figure: FILE.svg or FILE.png.
    #[arg(long)]
    out: PathBuf,
    /// Print a JSON object (what was plotted, with every curve's points) instead of a line.
    #[arg(long)]
    json: bool,
}

/// Runs the subcommand.
pub fn run(a: Args) -> Result<()> {
    let path = if a.records.is_dir() {
        a.records.join(lbounds::experiment::sweep::RECORDS)
    } else {
        a.records.clone()
    };
    let records = read_records(&path)?;
    let spec = PlotSpec {
        x: a.x,
        y: a.y,
        by: a.by,
        log_y: a.logy,
        log_x: a.logx,
    };
    let r = plot_records(&records, &spec, &a.out)?;
    if a.json {
        let v = serde_json::json!({ "out": a.out.display().to_string(), "report": r });
        return emit(&(serde_json::to_string_pretty(&v)? + "\n"));
    }
    // Every record not plotted is counted with its reason.
    let mut left_out = format!("{} without metrics", r.without_metrics);
    if r.without_value > 0 {
        left_out += &format!(", {} without a value of x or y", r.without_value);
    }
    if r.off_log_axis > 0 {
        left_out += &format!(", {} off the log axis", r.off_log_axis);
    }
    emit(&format!(
        "plotted {} of {} records ({left_out}) as {} curve(s) of {} vs {} -> {}\n",
        r.plotted,
        r.records,
        r.curves.len(),
        spec.y,
        spec.x,
        a.out.display()
    ))
}
