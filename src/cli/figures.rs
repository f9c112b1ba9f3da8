//! `lbounds figures`: every paper figure (SVG and PNG) from sweep records.

use super::{emit, set_threads, Progress};
use anyhow::Result;
use lbounds::experiment::config::SweepConfig;
use lbounds::experiment::sweep::{self, Shard};
use std::path::PathBuf;

/// Regenerate the figures (SVG and PNG) from sweep records.
///
/// With --records, plots those files (each figure picks the records of its sweep by name).
/// Without, first runs (or resumes) every sweep config into OUT/records/NAME/ and merges it to
/// OUT/records/NAME.jsonl; plots never run experiments themselves. The configs are those of
/// --configs, or by default the built-in ones (examples/sweeps/*.toml, built into the
/// binary, so this works from any directory).
///
/// Example: lbounds figures --out figures
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Record files (JSON Lines from `lbounds sweep run` or `merge`); repeatable.
    #[arg(long)]
    records: Vec<PathBuf>,
    /// Where the figures go.
    #[arg(long, default_value = "figures")]
    out: PathBuf,
    /// A folder of sweep configs (*.toml) to run when no --records are given (default: the
    /// built-in examples/sweeps configs).
    #[arg(long)]
    configs: Option<PathBuf>,
    /// Worker threads for the sweeps (default: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print a JSON object (figures written, figures skipped, sweeps run) instead of lines.
    #[arg(long)]
    json: bool,
}

/// The paper's sweep configs, compiled in: (file name, text).
const BUILT_IN: [(&str, &str); 15] = [
    (
        "breakdown.toml",
        include_str!("../../examples/sweeps/breakdown.toml"),
    ),
    (
        "dimension.toml",
        include_str!("../../examples/sweeps/dimension.toml"),
    ),
    (
        "dp_mean.toml",
        include_str!("../../examples/sweeps/dp_mean.toml"),
    ),
    (
        "frontier.toml",
        include_str!("../../examples/sweeps/frontier.toml"),
    ),
    (
        "heterogeneity.toml",
        include_str!("../../examples/sweeps/heterogeneity.toml"),
    ),
    ("mia.toml", include_str!("../../examples/sweeps/mia.toml")),
    (
        "train_breakdown.toml",
        include_str!("../../examples/sweeps/train_breakdown.toml"),
    ),
    (
        "train_frontier.toml",
        include_str!("../../examples/sweeps/train_frontier.toml"),
    ),
    (
        "train_heterogeneity.toml",
        include_str!("../../examples/sweeps/train_heterogeneity.toml"),
    ),
    (
        "exposure.toml",
        include_str!("../../examples/sweeps/exposure.toml"),
    ),
    (
        "audit.toml",
        include_str!("../../examples/sweeps/audit.toml"),
    ),
    (
        "block.toml",
        include_str!("../../examples/sweeps/block.toml"),
    ),
    (
        "unlearn.toml",
        include_str!("../../examples/sweeps/unlearn.toml"),
    ),
    (
        "memorize.toml",
        include_str!("../../examples/sweeps/memorize.toml"),
    ),
    (
        "onion.toml",
        include_str!("../../examples/sweeps/onion.toml"),
    ),
];

/// The configs to run: those of `dir`, sorted by file name, or the built-in ones.
fn configs(dir: Option<&PathBuf>) -> lbounds::Result<Vec<SweepConfig>> {
    let Some(dir) = dir else {
        return BUILT_IN
            .iter()
            .map(|(name, text)| {
                SweepConfig::parse(text, &format!("examples/sweeps/{name} (built in)"))
            })
            .collect();
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| lbounds::Error::invalid("--configs", dir.display(), e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(lbounds::Error::invalid(
            "--configs",
            dir.display(),
            "holds no *.toml sweep config",
        ));
    }
    paths.iter().map(|p| SweepConfig::load(p)).collect()
}

/// Runs the subcommand.
pub fn run(a: Args) -> Result<()> {
    let mut files = a.records.clone();
    let mut log = String::new();
    let mut runs = Vec::new();
    if files.is_empty() {
        set_threads(a.threads)?;
        // Validate every config before running any.
        let cfgs = configs(a.configs.as_ref())?;
        if a.out.exists() && !a.out.is_dir() {
            return Err(lbounds::Error::invalid(
                "--out",
                a.out.display(),
                "is a file; figures go into a directory",
            )
            .into());
        }
        for cfg in &cfgs {
            let dir = a.out.join("records").join(&cfg.name);
            let progress = Progress::new(cfg.total_records(), &format!("sweep {}", cfg.name));
            let start = std::time::Instant::now();
            let r = sweep::run(cfg, &dir, Shard::ALL, None, &progress)?;
            progress.finish();
            let merged = a.out.join("records").join(format!("{}.jsonl", cfg.name));
            sweep::merge(std::slice::from_ref(&dir), &merged, false)?;
            let secs = start.elapsed().as_secs_f64();
            log.push_str(&format!(
                "sweep `{}`: {} records ({} run now in {secs:.1} s) -> {}\n",
                cfg.name,
                r.total,
                r.written,
                merged.display()
            ));
            runs.push(serde_json::json!({
                "sweep": cfg.name,
                "records": merged.display().to_string(),
                "report": r,
                "seconds": secs,
            }));
            files.push(merged);
        }
    }
    let mut records = Vec::new();
    for f in &files {
        records.extend(lbounds::plot::load(f).map_err(|e| match e {
            lbounds::Error::Io { path, source } => {
                lbounds::Error::invalid("--records", path, source.to_string())
            }
            other => other,
        })?);
    }
    let (written, skipped) = lbounds::plot::all_figures(&records, &a.out)?;
    if a.json {
        let figures: Vec<serde_json::Value> = written
            .iter()
            .map(|w| {
                serde_json::json!({
                    "summary": w.summary,
                    "files": w.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
                })
            })
            .collect();
        let v = serde_json::json!({ "figures": figures, "skipped": skipped, "sweeps_run": runs });
        return emit(&(serde_json::to_string_pretty(&v)? + "\n"));
    }
    for w in &written {
        let names: Vec<String> = w.files.iter().map(|p| p.display().to_string()).collect();
        log.push_str(&format!("{}\n  {}\n", w.summary, names.join(", ")));
    }
    for s in &skipped {
        log.push_str(&format!("skipped {s}\n"));
    }
    emit(&log)
}
