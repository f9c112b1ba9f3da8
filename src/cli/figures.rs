//! `lbounds figures`: every paper figure (SVG and PNG) from sweep records.

use super::{emit, set_threads, Progress};
use anyhow::Result;
use lbounds::experiment::config::SweepConfig;
use lbounds::experiment::sweep::{self, Shard};
use std::path::PathBuf;

/// Regenerate the figures (SVG and PNG) from sweep records.
///
/// With --records, plots those files (each figure picks the records of its sweep by name).
/// Without, first runs (or resumes) every config of --configs into OUT/records/NAME/ and
/// merges it to OUT/records/NAME.jsonl; plots never run experiments themselves.
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
    /// Sweep configs to run when no --records are given.
    #[arg(long, default_value = "examples/sweeps")]
    configs: PathBuf,
    /// Worker threads for the sweeps (default: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

/// Runs the subcommand.
pub fn run(a: Args) -> Result<()> {
    let mut files = a.records.clone();
    let mut log = String::new();
    if files.is_empty() {
        set_threads(a.threads)?;
        let mut configs: Vec<PathBuf> = std::fs::read_dir(&a.configs)
            .map_err(|e| lbounds::Error::invalid("--configs", a.configs.display(), e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        configs.sort();
        // Validate every config before running any.
        let cfgs = configs
            .iter()
            .map(|p| SweepConfig::load(p))
            .collect::<lbounds::Result<Vec<_>>>()?;
        for cfg in &cfgs {
            let dir = a.out.join("records").join(&cfg.name);
            let progress = Progress::new(cfg.total_records(), &format!("sweep {}", cfg.name));
            let start = std::time::Instant::now();
            let r = sweep::run(cfg, &dir, Shard::ALL, None, &progress)?;
            progress.finish();
            let merged = a.out.join("records").join(format!("{}.jsonl", cfg.name));
            sweep::merge(std::slice::from_ref(&dir), &merged, false)?;
            log.push_str(&format!(
                "sweep `{}`: {} records ({} run now in {:.1} s) -> {}\n",
                cfg.name,
                r.total,
                r.written,
                start.elapsed().as_secs_f64(),
                merged.display()
            ));
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
    for w in &written {
        let names: Vec<String> = w.files.iter().map(|p| p.display().to_string()).collect();
        log.push_str(&format!("{}\n  {}\n", w.summary, names.join(", ")));
    }
    for s in &skipped {
        log.push_str(&format!("skipped {s}\n"));
    }
    emit(&log)
}
