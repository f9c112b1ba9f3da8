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
    /// Show done / total, whether a run is alive (its pid) and, if so, an ETA.
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
    /// Jobs that may run ahead of the oldest unfinished one (default 256 per thread). Records
    /// are written as each job finishes; this bounds the records held while the file is put
    /// back in (point, replicate) order at the end.
    #[arg(long, hide = true, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    chunk: Option<u64>,
    /// Print a JSON object (the report) instead of the summary line.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct MergeArgs {
    /// Sweep directories (or records.jsonl files) of one config.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The merged record file.
    #[arg(long)]
    out: PathBuf,
    /// Write the merge even when records are missing (shards not all given, unfinished, or
    /// ending in a torn line); without it such a merge is an error.
    #[arg(long)]
    allow_partial: bool,
    /// Print a JSON object (the report) instead of the summary line.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// Sweep directories.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// Print a JSON array (one object per directory) instead of the lines.
    #[arg(long)]
    json: bool,
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
    /// Slurm partition, or several separated by commas (default: the cluster's default).
    #[arg(long)]
    partition: Option<String>,
    /// Time limit per task, in Slurm's format (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S).
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

/// Drives the progress bar: it starts at the records already on disk.
impl sweep::Observer for Progress {
    fn resumed(&self, done: u64, _total: u64) {
        self.resume_from(done);
    }
    fn finished_one(&self) {
        self.tick();
    }
}

fn run_sweep(a: RunArgs) -> Result<()> {
    let shard = Shard::parse(&a.shard)?;
    let cfg = SweepConfig::load(&a.config)?;
    set_threads(a.threads)?;
    let total = shard.points_of(cfg.points()) * u64::from(cfg.replicates);
    let progress = Progress::new(total, &format!("sweep {}", cfg.name));
    let window = a.chunk.map(|c| c as usize);
    let r = sweep::run(&cfg, &a.out, shard, window, &progress)?;
    progress.finish();
    let records = a.out.join(sweep::RECORDS);
    if a.json {
        let v = serde_json::json!({
            "sweep": cfg.name,
            "config_hash": cfg.hash(),
            "shard": shard,
            "records": records.display().to_string(),
            "report": r,
        });
        return emit(&(serde_json::to_string_pretty(&v)? + "\n"));
    }
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
    if r.failed > 0 {
        s.push_str(&format!(
            " ({} failed: no finite result, reason in the record)",
            r.failed
        ));
    }
    if r.torn_bytes > 0 {
        s.push_str(&format!(
            "; removed a torn last line ({} bytes)",
            r.torn_bytes
        ));
    }
    s.push_str(&format!(" -> {}\n", records.display()));
    emit(&s)
}

fn merge(a: MergeArgs) -> Result<()> {
    let r = sweep::merge(&a.inputs, &a.out, a.allow_partial)?;
    if a.json {
        let v = serde_json::json!({
            "out": a.out.display().to_string(),
            "inputs": a.inputs.len(),
            "partial": r.is_partial(),
            "report": r,
        });
        return emit(&(serde_json::to_string_pretty(&v)? + "\n"));
    }
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
                "; PARTIAL: {} of {e} records ({} missing)",
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
    let all = a
        .dirs
        .iter()
        .map(|d| sweep::status(d))
        .collect::<lbounds::Result<Vec<_>>>()?;
    if a.json {
        let v: Vec<serde_json::Value> = a
            .dirs
            .iter()
            .zip(&all)
            .map(|(d, st)| {
                serde_json::json!({
                    "dir": d.display().to_string(),
                    "sweep": st.manifest.sweep,
                    "config_hash": st.manifest.config_hash,
                    "shard": st.manifest.shard,
                    "done": st.done,
                    "total": st.manifest.shard_records,
                    "complete": st.done >= st.manifest.shard_records,
                    "running_pid": st.running_pid,
                    "records_per_s": st.rate,
                    "eta_s": st.eta_s,
                })
            })
            .collect();
        return emit(&(serde_json::to_string_pretty(&v)? + "\n"));
    }
    let mut s = String::new();
    for (d, st) in a.dirs.iter().zip(&all) {
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
        } else if let Some(pid) = st.running_pid {
            s.push_str(&format!(", running (pid {pid})"));
            if let Some(r) = st.rate {
                s.push_str(&format!(", {r:.1} records/s"));
            }
            match st.eta_s {
                Some(e) => s.push_str(&format!(", ETA {} at that rate", duration(e))),
                None => s.push_str(", ETA unknown (no record written since it started)"),
            }
        } else {
            s.push_str(", not running (stopped or killed): run `sweep run` again to resume");
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
    let exe = match &a.bin {
        Some(b) => absolute(b)?,
        None => std::env::current_exe()?,
    };
    let o = SlurmOptions {
        exe: exe.display().to_string(),
        config: out.join("config.toml").display().to_string(),
        out: out.display().to_string(),
        shards: a.shards,
        partition: a.partition.clone(),
        time: a.time.clone(),
        cpus: a.cpus,
        name: format!("lbounds-{}", cfg.name),
    };
    // Every value is checked before anything is written.
    let (array, merge) = sweep::slurm_scripts(&o)?;
    if out.exists() && !out.is_dir() {
        return Err(lbounds::Error::invalid(
            "--out",
            out.display(),
            "is a file; give a directory (created if missing)",
        )
        .into());
    }
    let slurm_dir = out.join("slurm");
    std::fs::create_dir_all(&slurm_dir).map_err(|e| lbounds::Error::Io {
        path: slurm_dir.display().to_string(),
        source: e,
    })?;
    let config = out.join("config.toml");
    let write =
        |p: &Path, text: &str| -> Result<()> { Ok(sweep::write_atomic(p, text.as_bytes())?) };
    let text = std::fs::read_to_string(&a.config)?;
    write(&config, &text)?;
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
