//! Command-line front end: clap structs, shared helpers and one module per subcommand.
//!
//! Every subcommand validates its whole input before work starts and assembles its output
//! in memory before printing, so bad input never leaves partial output behind.

mod aggregate;
mod attack;
mod audit;
mod audit_dpsgd;
mod audit_exposure;
mod audit_mia;
mod block;
mod bounds;
#[cfg(feature = "plot")]
mod figures;
mod list;
mod memorize;
mod onion;
#[cfg(feature = "plot")]
mod plot;
mod privacy;
mod simulate;
mod sweep;
mod train;
mod unlearn;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lbounds::aggregators::{PipelineSpec, StepSpec};
use lbounds::params::{Compat, Params};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Once;
use std::time::{Duration, Instant};

/// lbounds: robust aggregators and attacks next to the best error any estimator can reach.
#[derive(Debug, Parser)]
#[command(name = "lbounds", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate Byzantine users against every robust aggregator, next to the lower bounds.
    Simulate(simulate::Args),
    /// Aggregate the vectors of a CSV file with one rule (after optional pre-aggregators).
    Aggregate(aggregate::Args),
    /// Compute what the Byzantine users send against honest vectors from a CSV file.
    Attack(attack::Args),
    /// List the aggregators, pre-aggregators and attacks with their parameters.
    List(list::Args),
    /// The lower-bound catalogue: list, show and evaluate every surveyed impossibility result.
    Bounds(bounds::Args),
    /// Differential privacy: accountants, noise calibration, DP mean estimation, DP-SGD.
    Privacy(privacy::Args),
    /// Run experiment grids from TOML configs: resumable records, shards, merge, Slurm.
    Sweep(sweep::Args),
    /// Regenerate the paper figures (SVG and PNG) from sweep records.
    #[cfg(feature = "plot")]
    Figures(figures::Args),
    /// Plot any metric of a sweep's records against any parameter (SVG or PNG).
    #[cfg(feature = "plot")]
    Plot(plot::Args),
    /// Train a model across honest and Byzantine users (D-SGD or FedAvg, robust rules, DP).
    Train(Box<train::Args>),
    /// Privacy auditing: lower bounds on epsilon from membership tests (counts, scores, GDP,
    /// one run).
    Audit(audit::Args),
    /// Task blocking (MLAC): can a released model be made hard to fine-tune for a bad task?
    Block(block::Args),
    /// Unlearning measured against exact retraining: gradient ascent, gradient difference,
    /// fine-tuning, random labels and a Newton step, scored by forgetting quality, simple_mia
    /// and accuracy differences to retrained models.
    Unlearn(unlearn::Args),
    /// Memorization and the long tail: Feldman-Zhang memorization, head vs tail accuracy and
    /// LiRA on the tail as DP-SGD's epsilon shrinks.
    Memorize(memorize::MemorizeArgs),
    /// The privacy onion effect: peel the records most exposed to membership inference,
    /// retrain, and watch a new layer become exposed (random and noise controls).
    Onion(onion::OnionArgs),
}

/// Runs the chosen subcommand.
pub fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Simulate(a) => simulate::run(a),
        Command::Aggregate(a) => aggregate::run(a),
        Command::Attack(a) => attack::run(a),
        Command::List(a) => list::run(a),
        Command::Bounds(a) => bounds::run(a),
        Command::Privacy(a) => privacy::run(a),
        Command::Sweep(a) => sweep::run(a),
        #[cfg(feature = "plot")]
        Command::Figures(a) => figures::run(a),
        #[cfg(feature = "plot")]
        Command::Plot(a) => plot::run(a),
        Command::Train(a) => train::run(*a),
        Command::Audit(a) => audit::run(a),
        Command::Block(a) => block::run(a),
        Command::Unlearn(a) => unlearn::run(a),
        Command::Memorize(a) => memorize::run(a),
        Command::Onion(a) => onion::run(a),
    }
}

/// Semantics of rule and attack names.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum CompatArg {
    /// lbounds' corrected rules (converged iterations, the papers' neighbour counts).
    #[default]
    Native,
    /// Exactly what ByzFL 0.0.11 computes in float64, quirks included.
    Byzfl,
}

impl From<CompatArg> for Compat {
    fn from(c: CompatArg) -> Compat {
        match c {
            CompatArg::Native => Compat::Native,
            CompatArg::Byzfl => Compat::Byzfl,
        }
    }
}

/// Prints one line for a clap error and returns exit code 2 (0 for --help / --version).
pub fn report_clap_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => {
            // clap's message is a paragraph, then a blank line and the usage: keep the paragraph
            // as one line.
            let text = e.render().to_string();
            let para: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let line = if para.is_empty() {
                "error: invalid arguments".to_string()
            } else {
                para.join(" ")
            };
            eprintln!("{} (see --help)", lbounds::error::printable(&line));
            ExitCode::from(2)
        }
    }
}

/// Prints one line for an error and returns 2 for bad input, 0 for a closed stdout, 1 else.
///
/// The line goes through [`lbounds::error::printable`]: whatever the input echoed into it
/// (control bytes, a 300-digit number, a huge field) arrives escaped and shortened.
pub fn report_error(e: &anyhow::Error) -> ExitCode {
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        if io.kind() == std::io::ErrorKind::BrokenPipe {
            return ExitCode::SUCCESS;
        }
    }
    if let Some(line) = e
        .downcast_ref::<lbounds::Error>()
        .and_then(wrong_kind_of_path)
    {
        eprintln!("error: {}", lbounds::error::printable(&line));
        return ExitCode::from(2);
    }
    let line = e.to_string().replace('\n', " ");
    eprintln!("error: {}", lbounds::error::printable(&line));
    match e.downcast_ref::<lbounds::Error>() {
        Some(le) if le.is_user_error() => ExitCode::from(2),
        Some(_) => ExitCode::from(1),
        // Errors raised by the CLI itself are about its input.
        None => ExitCode::from(2),
    }
}

/// For an I/O error caused by a file where a directory is needed (an `--out` directory that
/// is a regular file, or a file inside it) or by a directory where a file is needed, a message
/// that says so instead of the system's "File exists".
fn wrong_kind_of_path(e: &lbounds::Error) -> Option<String> {
    use std::io::ErrorKind as K;
    let lbounds::Error::Io { path, source } = e else {
        return None;
    };
    let path = std::path::Path::new(path);
    match source.kind() {
        K::AlreadyExists | K::NotADirectory => path
            .ancestors()
            .find(|p| p.exists() && !p.is_dir())
            .map(|file| {
                format!(
                    "{} is a file, but a directory is needed there (remove it or choose another path)",
                    file.display()
                )
            }),
        K::IsADirectory => Some(format!(
            "{} is a directory, but a file is needed there (choose a file name)",
            path.display()
        )),
        _ => None,
    }
}

/// Writes the finished output in one go; a closed pipe is not an error worth a message.
pub fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// A float as the text outputs show it. `{}` prints Rust's shortest round-trip digits
/// unless they run past 24 characters (1e308 has 309), then the exponent form; `{:.P}`
/// prints P decimals where 10⁻⁴ ≤ |x| < 10⁹ or x = 0, and P + 1 significant digits in
/// exponent form elsewhere (1e12 is not `1000000000000.000000`, nor 1e-9 `0.000000`).
pub struct Num(pub f64);

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let x = self.0;
        match f.precision() {
            Some(p) if !x.is_finite() || x == 0.0 || (1e-4..1e9).contains(&x.abs()) => {
                write!(f, "{x:.p$}")
            }
            Some(p) => write!(f, "{x:.p$e}"),
            None => match x.to_string() {
                s if s.len() > 24 => write!(f, "{x:e}"),
                s => f.write_str(&s),
            },
        }
    }
}

/// One JSON object and a newline (the `--json` output of the one-object commands).
pub fn json_line<T: serde::Serialize>(v: &T) -> Result<String> {
    Ok(serde_json::to_string(v)? + "\n")
}

/// Reads the vectors of `--input` (a path, or `-` for standard input) in any format that
/// [`lbounds::data::input::read_updates`] accepts (CSV, whitespace- or tab-separated text,
/// NumPy `.npy`). `header`: the first line of a text input is a header row whatever it holds
/// (`--header`); without it a header row is still detected. Every entry must be finite.
pub fn read_updates(path: &std::path::Path, header: bool) -> Result<lbounds::data::Updates> {
    read_updates_with(path, header, Default::default())
}

/// [`read_updates`] for vectors that possibly Byzantine users sent (`aggregate`): `inf`,
/// `-inf` and `nan` entries are read as [`lbounds::aggregators::untrusted_entries`] says
/// under `compat`.
pub fn read_untrusted_updates(
    path: &std::path::Path,
    header: bool,
    compat: Compat,
) -> Result<lbounds::data::Updates> {
    read_updates_with(
        path,
        header,
        lbounds::aggregators::untrusted_entries(compat),
    )
}

fn read_updates_with(
    path: &std::path::Path,
    header: bool,
    entries: lbounds::data::NonFiniteEntries,
) -> Result<lbounds::data::Updates> {
    let opts = lbounds::data::csv::CsvOptions { header, entries };
    match lbounds::data::input::read_updates(path, opts) {
        // A missing or unreadable input file is the caller's mistake: exit 2.
        Err(lbounds::Error::Io { path, source }) => {
            Err(lbounds::Error::invalid("--input", path, source.to_string()).into())
        }
        other => Ok(other?),
    }
}

/// Help text of every `--input` that reads vectors.
pub const INPUT_HELP: &str = "Vectors, one per row: CSV, whitespace- or tab-separated text \
(NumPy's savetxt), or a NumPy .npy array of shape (n, d); `-` reads standard input. A header \
row is skipped when none of its fields is a number (or with --header); `#` lines are comments";

/// Parses `--param KEY=VALUE` flags; a key given twice is refused (the last had silently won).
pub fn parse_params(raw: &[String]) -> Result<Params> {
    let mut p = Params::new();
    for kv in raw {
        let (k, v) = Params::parse_assignment(kv)?;
        if let Some(first) = p.0.get(&k) {
            anyhow::bail!("--param {k} is given twice ({first} and {v})");
        }
        p.set(&k, v);
    }
    Ok(p)
}

/// Builds a pipeline spec from `--rule` (NAME[:K=V,...]), extra rule params, and `--pre` steps,
/// declaring f on every step that takes it ([`lbounds::commands::defence::defence_spec`]).
pub fn pipeline_spec(
    rule: &str,
    rule_params: &[String],
    pre: &[String],
    f: Option<usize>,
) -> Result<PipelineSpec> {
    let mut rule = StepSpec::parse(rule)?;
    for (k, v) in parse_params(rule_params)?.0 {
        rule.params.set(&k, v);
    }
    let pre = pre
        .iter()
        .map(|s| StepSpec::parse(s))
        .collect::<lbounds::Result<_>>()?;
    Ok(lbounds::commands::defence::defence_spec(
        rule,
        pre,
        f,
        lbounds::commands::Spelling::Cli,
    )?)
}

/// A progress bar on stderr that appears only once work has taken longer than a moment and
/// only when stderr is a terminal.
pub struct Progress {
    bar: ProgressBar,
    start: Instant,
    shown: Once,
}

impl Progress {
    /// A hidden bar for `total` jobs.
    pub fn new(total: u64, what: &str) -> Self {
        Self::with_unit(total, what, "runs")
    }

    /// A hidden bar for `total` steps counted in `unit` (`rounds`).
    pub fn with_unit(total: u64, what: &str, unit: &str) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        let template =
            format!("{{msg}} [{{bar:30}}] {{pos}}/{{len}} {unit}, {{per_sec}}, eta {{eta}}");
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_string());
        Progress {
            bar,
            start: Instant::now(),
            shown: Once::new(),
        }
    }

    /// Records one finished job (callable from worker threads).
    pub fn tick(&self) {
        if self.start.elapsed() > Duration::from_millis(300) {
            self.shown
                .call_once(|| self.bar.set_draw_target(ProgressDrawTarget::stderr()));
        }
        self.bar.inc(1);
    }

    /// Starts the bar at `done` jobs finished before (a resumed run): the bar shows them as
    /// done, and its rate and ETA count only the jobs of this run.
    pub fn resume_from(&self, done: u64) {
        self.bar.set_position(done);
        // Record `done` as the estimator's starting point, then forget the time it took.
        self.bar.tick();
        self.bar.reset_eta();
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The most worker threads `--threads` may ask for, per core the process may use. Results do
/// not depend on the count, and beyond the cores the workers waiting for work, not the work,
/// set the time: `simulate` with its defaults on 2 cores took 2.8 s with 2 to 256 threads,
/// 7.8 s with 1 024 and 83 s with 4 096, so a slip such as `--threads 100000` would hang.
const MAX_THREADS_PER_CORE: usize = 128;

/// Refuses a `--threads` above [`MAX_THREADS_PER_CORE`] per core.
///
/// # Errors
/// One line naming the count and the cap.
pub fn check_threads(threads: usize) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |p| p.get());
    let most = MAX_THREADS_PER_CORE.saturating_mul(cores);
    if threads > most {
        anyhow::bail!(
            "--threads {threads} is more than {most} ({MAX_THREADS_PER_CORE} per core, {cores} core(s) here): extra threads only wait for work, and results do not depend on the count"
        );
    }
    Ok(())
}

/// Installs a global rayon pool with `threads` threads (0 = rayon's default).
///
/// # Errors
/// More than [`MAX_THREADS_PER_CORE`] threads per core, or a pool the system refuses.
pub fn set_threads(threads: usize) -> Result<()> {
    check_threads(threads)?;
    if threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .map_err(|e| anyhow::anyhow!("cannot start {threads} threads: {e}"))?;
    }
    Ok(())
}

/// `--seed`, `--threads`, `--json` and the backend flags: what the experiment commands that
/// train their own models (`block`, `audit dpsgd`) share, flattened into each.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Seed of every random stream (each draw is keyed by it and a name).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// `--backend`, `--device`, `--dtype`: where a training command's model computes. Flattened
/// into every command that trains a model; [`BackendArgs::backend`] turns them into the one
/// [`lbounds::learning::model::Backend`] value the experiment carries.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Backend")]
pub struct BackendArgs {
    /// Model backend: native (pure-Rust f64) or candle (needs a build with --features
    /// candle; --features cuda for GPUs).
    #[arg(long, default_value = "native", value_name = "NAME")]
    pub backend: String,
    /// candle device: cpu, cuda or cuda:N [default: cpu].
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<String>,
    /// candle precision: f32 or f64 [default: f64 on cpu, f32 on cuda].
    #[arg(long, value_name = "TYPE")]
    pub dtype: Option<String>,
}

impl BackendArgs {
    /// The backend the flags name.
    ///
    /// # Errors
    /// As [`lbounds::learning::model::Backend::from_flags`] (e.g. `candle` in a build without
    /// the feature: exit 2 with the rebuild command).
    pub fn backend(&self) -> lbounds::Result<lbounds::learning::model::Backend> {
        lbounds::learning::model::Backend::from_flags(
            &self.backend,
            self.device.as_deref(),
            self.dtype.as_deref(),
        )
    }
}
