//! `lbounds sweep`: run a TOML grid to resumable records, merge shards, report progress, and
//! write Slurm job arrays.

use super::{emit, set_threads, Progress};
use anyhow::Result;
use lbounds::experiment::config::SweepConfig;
use lbounds::experiment::sweep::{self, Shard, SlurmOptions};
use std::path::{Path, PathBuf};

/// Run experiment grids from a TOML config, resumably, sharded, on Slurm.
///
/// A config names an experiment and a grid of parameter lists (see
/// examples/sweeps/*.toml and the docs of lbounds::experiment::config). Records stream to
/// DIR/records.jsonl, one JSON line per (grid point, replicate); a run that is killed
/// resumes where it stopped when the same command is run again.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, clap::Subcommand)]
enum Cmd {
    /// Run (or resume) a sweep: records stream to OUT/records.jsonl.
    ///
    /// Example: lbounds sweep run examples/sweeps/breakdown.toml --out runs/breakdown
    Run(RunArgs),
    /// Join the records of shards (directories or record files), sorted by (point, replicate).
    ///
    /// Example: lbounds sweep merge runs/s0 runs/s1 --out runs/records.jsonl
    Merge(MergeArgs),
    /// Show done / total and an ETA for sweep directories.
    Status(StatusArgs),
    /// Write a Slurm job array (one task per shard) and a dependent merge job.
    ///
    /// Example: lbounds sweep slurm grid.toml --shards 16 --out /scratch/grid --time 02:00:00
    Slurm(SlurmArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The sweep config (TOML).
    config: PathBuf,
    /// Output directory (created; one directory per shard).
    #[arg(long)]
    out: PathBuf,
    /// Run only the points p with p mod N = K.
    #[arg(long, value_name = "K/N", default_value = "0/1")]
    shard: String,
    /// Worker threads (default: all cores). Records do not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Jobs per parallel chunk (default 256 per thread); records are written chunk by chunk.
    #[arg(long, hide = true)]
    chunk: Option<usize>,
}

#[derive(Debug, clap::Args)]
struct MergeArgs {
    /// Sweep directories (or records.jsonl files) of one config.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The merged record file.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// Sweep directories.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct SlurmArgs {
    /// The sweep config (TOML); copied to OUT/config.toml.
    config: PathBuf,
    /// Number of shards (array tasks).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    shards: u64,
    /// Output directory: OUT/shard-K/ per task, OUT/records.jsonl merged, OUT/slurm/ scripts.
    #[arg(long)]
    out: PathBuf,
    /// Slurm partition (default: the cluster's default).
    #[arg(long)]
    partition: Option<String>,
    /// Time limit per task, in Slurm's format.
    #[arg(long, default_value = "01:00:00")]
    time: String,
    /// CPUs per task (worker threads of each shard).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    cpus: u32,
    /// The lbounds binary the jobs run (default: this one).
    #[arg(long)]
    bin: Option<PathBuf>,
}

/// Runs the subcommand.
pub fn run(a: Args) -> Result<()> {
    match a.cmd {
        Cmd::Run(r) => run_sweep(r),
        Cmd::Merge(m) => merge(m),
        Cmd::Status(s) => status(s),
        Cmd::Slurm(s) => slurm(s),
    }
}

fn run_sweep(a: RunArgs) -> Result<()> {
    let shard = Shard::parse(&a.shard)?;
    let cfg = SweepConfig::load(&a.config)?;
    set_threads(a.threads)?;
    let total = shard.points_of(cfg.points()) * u64::from(cfg.replicates);
    let progress = Progress::new(total, &format!("sweep {}", cfg.name));
    let r = sweep::run(&cfg, &a.out, shard, a.chunk, &|| progress.tick())?;
    progress.finish();
    let mut s = format!(
        "sweep `{}` (config {}), shard {}/{}: {} records, {} already done, {} written",
        cfg.name,
        cfg.hash(),
        shard.index,
        shard.count,
        r.total,
        r.done_before,
        r.written
    );
    if r.not_applicable > 0 {
        s.push_str(&format!(
            " ({} where the rule cannot run at that n and f)",
            r.not_applicable
        ));
    }
    if r.torn_bytes > 0 {
        s.push_str(&format!(
            "; removed a torn last line ({} bytes)",
            r.torn_bytes
        ));
    }
    s.push_str(&format!(" -> {}\n", a.out.join(sweep::RECORDS).display()));
    emit(&s)
}

fn merge(a: MergeArgs) -> Result<()> {
    let r = sweep::merge(&a.inputs, &a.out)?;
    let mut s = format!(
        "merged {} records of sweep `{}` (config {}) from {} input(s) -> {}",
        r.records,
        r.sweep,
        r.config_hash,
        a.inputs.len(),
        a.out.display()
    );
    if let Some(e) = r.expected {
        if r.records < e {
            s.push_str(&format!(
                "; INCOMPLETE: {} of {e} records ({} missing)",
                r.records,
                e - r.records
            ));
        }
    }
    if r.duplicates > 0 {
        s.push_str(&format!("; {} identical duplicates dropped", r.duplicates));
    }
    if r.torn > 0 {
        s.push_str(&format!(
            "; {} input(s) end in a torn line (still running?), skipped",
            r.torn
        ));
    }
    s.push('\n');
    emit(&s)
}

fn duration(s: f64) -> String {
    let s = s.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

fn status(a: StatusArgs) -> Result<()> {
    let mut s = String::new();
    for d in &a.dirs {
        let st = sweep::status(d)?;
        let m = &st.manifest;
        let pct = if m.shard_records > 0 {
            100.0 * st.done as f64 / m.shard_records as f64
        } else {
            100.0
        };
        s.push_str(&format!(
            "{}: sweep `{}` (config {}), shard {}/{}: {}/{} records ({pct:.1}%)",
            d.display(),
            m.sweep,
            m.config_hash,
            m.shard.index,
            m.shard.count,
            st.done,
            m.shard_records
        ));
        if st.done >= m.shard_records {
            s.push_str(", complete");
        } else {
            if let Some(r) = st.rate {
                s.push_str(&format!(", {r:.1} records/s in the last run"));
            }
            match st.eta_s {
                Some(e) => s.push_str(&format!(", ETA {} at that rate", duration(e))),
                None => s.push_str(", ETA unknown (no record written since the last start)"),
            }
        }
        s.push('\n');
    }
    emit(&s)
}

fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(std::path::absolute(p)
        .map_err(|e| lbounds::Error::invalid("path", p.display(), e.to_string()))?)
}

fn slurm(a: SlurmArgs) -> Result<()> {
    let cfg = SweepConfig::load(&a.config)?;
    if a.shards > cfg.points() {
        return Err(lbounds::Error::invalid(
            "--shards",
            a.shards,
            format!("the grid has only {} points", cfg.points()),
        )
        .into());
    }
    let out = absolute(&a.out)?;
    let slurm_dir = out.join("slurm");
    std::fs::create_dir_all(&slurm_dir).map_err(|e| lbounds::Error::Io {
        path: slurm_dir.display().to_string(),
        source: e,
    })?;
    let config = out.join("config.toml");
    let write = |p: &Path, text: &str| -> Result<()> {
        std::fs::write(p, text).map_err(|e| lbounds::Error::Io {
            path: p.display().to_string(),
            source: e,
        })?;
        Ok(())
    };
    let text = std::fs::read_to_string(&a.config)?;
    write(&config, &text)?;
    let exe = match &a.bin {
        Some(b) => absolute(b)?,
        None => std::env::current_exe()?,
    };
    let o = SlurmOptions {
        exe: exe.display().to_string(),
        config: config.display().to_string(),
        out: out.display().to_string(),
        shards: a.shards,
        partition: a.partition.clone(),
        time: a.time.clone(),
        cpus: a.cpus,
        name: format!("lbounds-{}", cfg.name),
    };
    let (array, merge) = sweep::slurm_scripts(&o);
    let array_path = slurm_dir.join("array.sbatch");
    let merge_path = slurm_dir.join("merge.sbatch");
    let submit_path = slurm_dir.join("submit.sh");
    write(&array_path, &array)?;
    write(&merge_path, &merge)?;
    let q = |p: &Path| sweep::shell_quote(&p.display().to_string());
    let submit = format!(
        "#!/bin/sh\n# Submits the array, then the merge to run once every task succeeded.\nset -eu\njid=$(sbatch --parsable {})\njid=${{jid%%;*}}\nmid=$(sbatch --parsable --dependency=afterok:\"$jid\" {})\necho \"array job $jid ({} tasks), merge job ${{mid%%;*}}; records -> {}\"\n",
        q(&array_path),
        q(&merge_path),
        a.shards,
        q(&out.join(sweep::RECORDS))
    );
    write(&submit_path, &submit)?;
    emit(&format!(
        "sweep `{}` (config {}): {} points x {} replicates in {} shards\nwrote {}\n      {}\n      {}\nsubmit with:  sh {}\nwatch with:   lbounds sweep status {}/shard-*\nfailed tasks resume when re-submitted (sbatch --array=K {})\n",
        cfg.name,
        cfg.hash(),
        cfg.points(),
        cfg.replicates,
        a.shards,
        array_path.display(),
        merge_path.display(),
        submit_path.display(),
        q(&submit_path),
        out.display(),
        q(&array_path),
    ))
}
