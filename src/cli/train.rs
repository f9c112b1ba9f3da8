//! `lbounds train`: distributed training across honest and Byzantine users, with robust
//! aggregation and optional differential privacy, next to the heterogeneity floors.

use super::{emit, parse_params, pipeline_spec, set_threads, CompatArg, Progress};
use anyhow::Result;
use lbounds::aggregators::{PipelineSpec, StepSpec};
use lbounds::experiment::robust::Streams;
use lbounds::learning::model::ModelSpec;
use lbounds::learning::partition::{assigned, Partition};
use lbounds::learning::sources::csv::CsvSpec;
use lbounds::learning::sources::DataSource;
use lbounds::learning::streams as stream;
use lbounds::learning::train::{
    is_label_flipping, Algorithm, DpConfig, DpLevel, Evaluation, RunStatus, Sampling, TrainConfig,
    TrainSummary, Trainer,
};
use lbounds::learning::{Examples, Model};
use lbounds::params::Compat;
use lbounds::privacy::accounting::AccountantKind;
use serde::Serialize;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

/// Train a model across honest and Byzantine users (D-SGD with client momentum, or FedAvg),
/// with a robust aggregation rule and optional differential privacy.
///
/// Each round every honest client computes a gradient on its own batch and updates its
/// momentum m <- beta*m + (1-beta)*g; the f Byzantine users send an attack vector computed
/// from the honest vectors; the server aggregates (pre-aggregators, then the rule) and steps
/// theta <- theta - lr*(aggregate + weight_decay*theta). The final table gives test accuracy
/// and loss, epsilon, the measured heterogeneity G^2 = mean_i ||grad F_i - grad F_H||^2 at the
/// last iterate, the honest gradient norm ||grad F_H||^2 beside the floor f*G^2/(n-2f) that no
/// algorithm beats on the worst instance of that heterogeneity (B2, Karimireddy et al., ICLR
/// 2022), kappa-hat of the aggregate against the honest mean, and wall time.
///
/// Without --rule, two defences are trained on the same users: the plain average and
/// NNM + trimmed mean. With no options at all: softmax regression on the shipped digits,
/// 25 users of whom 20% Byzantine under ALIE (optimal_a_little_is_enough: its scale searched
/// against each defence every round), Dirichlet(1) label skew.
///
/// `--compat byzfl` computes exactly what ByzFL 0.0.11's D-SGD computes (float64; use
/// `--batch full` for identical trajectories, since batch order cannot match torch's).
///
/// Example: lbounds train --data synthetic:classes=3,features=5,records=600 --rule trmean
///   --attack sign_flipping --byzantine 0.2 --rounds 50 --json
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The data: `digits` (the shipped UCI digits), `synthetic:KEY=VALUE,...` (e.g.
    /// synthetic:classes=10,features=20,records=2000), or a CSV file.
    #[arg(long, default_value = "digits")]
    data: String,
    /// CSV column assigning rows to clients (name or 1-based position): honest client i owns
    /// the rows whose id is i; ids n-f..n-1 are Byzantine (their rows unused). Ids are
    /// integers 0, 1, ...; a column of names (alice, bob) numbers them by first appearance.
    /// Without it, rows are split into train/test and partitioned (--partition).
    #[arg(long, value_name = "NAME")]
    client_column: Option<String>,
    /// CSV label column (name or 1-based position); default: the last column.
    #[arg(long, value_name = "NAME")]
    label_column: Option<String>,
    /// Fraction of the data held out as the test set (not with --client-column).
    #[arg(long, default_value_t = 0.2)]
    test_fraction: f64,
    /// How rows are split among the honest clients: iid, dirichlet:alpha=A, gamma:G,
    /// extreme, feature_shift:scale=S, zipf:s=S.
    #[arg(long, default_value = "dirichlet:alpha=1")]
    partition: String,
    /// Model: linear, logistic (two classes), softmax, mlp.
    #[arg(long, default_value = "softmax")]
    model: String,
    /// MLP hidden widths, comma-separated (default 100).
    #[arg(long, value_name = "H1[,H2,...]")]
    hidden: Option<String>,
    /// MLP activation: relu or tanh (default relu).
    #[arg(long)]
    activation: Option<String>,
    /// Number of users n (honest + Byzantine).
    #[arg(long, default_value_t = 25)]
    clients: usize,
    /// Number f of Byzantine users (the last f of the n).
    #[arg(long, conflicts_with = "byzantine")]
    byzantine_count: Option<usize>,
    /// Fraction of Byzantine users: f = floor(fraction * n) (default 0.2).
    #[arg(long, allow_negative_numbers = true)]
    byzantine: Option<f64>,
    /// Rounds T.
    #[arg(long, default_value_t = 200)]
    rounds: usize,
    /// Batch size per client and step, or `full` (each client's whole data).
    #[arg(long, default_value = "32")]
    batch: String,
    /// Batch sampling: shuffle (each client's own epochs) or poisson (default under --dp
    /// example, which the accountant requires).
    #[arg(long, value_enum)]
    sampling: Option<SamplingArg>,
    /// Learning rate.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    lr: f64,
    /// Client momentum beta in [0, 1).
    #[arg(long, default_value_t = 0.9, allow_negative_numbers = true)]
    momentum: f64,
    /// Weight decay, applied by the server after aggregation.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    weight_decay: f64,
    /// Learning-rate decay factor at each milestone (torch's MultiStepLR gamma), in (0, 1].
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    lr_decay: f64,
    /// Rounds (0-based) at which the learning rate decays, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "R1,R2,...")]
    lr_milestones: Vec<usize>,
    /// Initial parameters: a file holding one line of numbers (torch's parameters_to_vector
    /// layout). Default: drawn as torch's nn.Linear does, from the seed.
    #[arg(long, value_name = "FILE")]
    init: Option<PathBuf>,
    /// Aggregation rule (NAME[:KEY=VALUE,...]); f-aware rules get the Byzantine count as f.
    /// Default: train twice, with average and with nnm + trmean.
    #[arg(long)]
    rule: Option<String>,
    /// Pre-aggregators before the rule, in order (repeatable), e.g. --pre nnm.
    #[arg(long = "pre", value_name = "NAME[:KEY=VALUE,...]")]
    pre: Vec<String>,
    /// What the Byzantine users send: any attack of `lbounds list`, or label_flipping. The
    /// default, ALIE with its scale searched against the defence each round, is the attack
    /// that separates the average from the robust rules (plain ALIE with its fixed scale
    /// barely moves the average on the digits: 0.91 vs 0.90 test accuracy).
    #[arg(long, default_value = "optimal_a_little_is_enough")]
    attack: String,
    /// A parameter of the attack (repeatable): --attack-param tau=3
    #[arg(long = "attack-param", value_name = "KEY=VALUE")]
    attack_params: Vec<String>,
    /// The algorithm: dsgd (clients send momentum vectors) or fedavg (clients send
    /// parameters after --local-steps SGD steps).
    #[arg(long, value_enum, default_value_t = AlgorithmArg::Dsgd)]
    algorithm: AlgorithmArg,
    /// Local SGD steps per round under fedavg.
    #[arg(long, default_value_t = 1)]
    local_steps: usize,
    /// Differential privacy: example (local DP-SGD on every client) or user (central:
    /// the server clips and noises the aggregate).
    #[arg(long, value_enum)]
    dp: Option<DpArg>,
    /// DP noise multiplier sigma.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    dp_sigma: f64,
    /// DP clip norm C (`inf`: no clipping, only with --dp-sigma 0).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    clip: f64,
    /// DP delta at which epsilon is reported.
    #[arg(long, default_value_t = 1e-5)]
    delta: f64,
    /// Privacy accountant: rdp (epsilon every round) or pld (at evaluation rounds).
    #[arg(long, value_enum, default_value_t = AccountantArg::Rdp)]
    accountant: AccountantArg,
    /// Evaluate (test accuracy, G^2, kappa-hat) every this many rounds and after the last.
    #[arg(long, default_value_t = 20)]
    eval_every: usize,
    /// Seed of every random stream (data, partition, init, batches, noise, attack, rule).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Name semantics: native or byzfl (ByzFL 0.0.11's D-SGD exactly).
    #[arg(long, value_enum, default_value_t = CompatArg::Native)]
    compat: CompatArg,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print one JSON object per round (JSON Lines) instead of the table. A measurement that
    /// overflowed f64 (a loss, G², ‖∇F_H‖², κ̂), or an ε the accountant cannot bound, is the
    /// string "inf"; one that is undefined (NaN) or absent (ε without DP) is null.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: super::BackendArgs,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum SamplingArg {
    Shuffle,
    Poisson,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum AlgorithmArg {
    Dsgd,
    Fedavg,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum DpArg {
    Example,
    User,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum AccountantArg {
    Rdp,
    Pld,
}

/// The users' data: honest clients' examples and the test set.
struct Federation {
    clients: Vec<Examples>,
    test: Option<Examples>,
    features: usize,
    task: lbounds::learning::Task,
}

/// One record of `--json`: the round's record plus which defence and attack produced it.
#[derive(Serialize)]
struct JsonRound<'a> {
    defence: &'a str,
    attack: &'a str,
    #[serde(flatten)]
    record: lbounds::learning::train::RoundRecord<'a>,
}

/// Runs the subcommand, on a thread of the pool (`experiment::on_pool`: no hand-off
/// between threads for each parallel map of every round).
pub fn run(a: Args) -> Result<()> {
    set_threads(a.threads)?;
    lbounds::experiment::on_pool(|| train(a))
}

fn train(a: Args) -> Result<()> {
    let compat: Compat = a.compat.into();
    let n = a.clients;
    if n == 0 {
        anyhow::bail!("--clients must be >= 1");
    }
    let f = match (a.byzantine_count, a.byzantine) {
        (Some(f), _) => f,
        (None, fraction) => {
            let fraction = fraction.unwrap_or(0.2);
            if !(0.0..1.0).contains(&fraction) {
                return Err(lbounds::Error::invalid(
                    "--byzantine",
                    fraction,
                    "a fraction of the users must lie in [0, 1)",
                )
                .into());
            }
            (fraction * n as f64).floor() as usize
        }
    };
    if f >= n {
        return Err(lbounds::Error::invalid(
            "--byzantine-count",
            f,
            format!("{n} users leave no honest user; need f < n"),
        )
        .into());
    }
    let honest = n - f;
    let streams = Streams::new(a.seed, 0);
    let spec = ModelSpec::parse(&a.model, a.hidden.as_deref(), a.activation.as_deref())?;
    let partition = Partition::parse(&a.partition)?;
    let fed = federation(&a, &spec, partition, honest, n, &streams)?;
    let model = a.backend.backend()?.build(&spec, fed.features, fed.task)?;
    let init = match &a.init {
        Some(path) => read_init(path)?,
        None => model.init(&mut streams.get(stream::INIT)),
    };
    let defences: Vec<PipelineSpec> = match &a.rule {
        Some(rule) => vec![pipeline_spec(rule, &[], &a.pre, Some(f))?],
        None => vec![
            pipeline_spec("average", &[], &a.pre, Some(f))?,
            pipeline_spec("trmean", &[], &prepend("nnm", &a.pre), Some(f))?,
        ],
    };
    let mut attack = StepSpec::named(&a.attack);
    attack.params = parse_params(&a.attack_params)?;
    if is_label_flipping(&attack.name) {
        attack.name = lbounds::learning::train::LABEL_FLIPPING.to_string();
    }
    let configs: Vec<TrainConfig> = defences
        .into_iter()
        .map(|defence| config(&a, defence, attack.clone(), f, compat))
        .collect::<Result<_>>()?;
    // Every run is checked before the first round, so bad input writes nothing.
    let mut trainers: Vec<Trainer<'_>> = configs
        .iter()
        .map(|cfg| {
            Trainer::new(
                model.as_ref(),
                &fed.clients,
                fed.test.as_ref(),
                init.clone(),
                cfg,
                streams,
            )
        })
        .collect::<lbounds::Result<_>>()?;
    let attack_label = if f == 0 {
        "none".to_string()
    } else {
        lbounds::experiment::robust::step_label(&attack)
    };
    let progress = Progress::with_unit(
        (a.rounds * trainers.len()) as u64,
        &format!("training {}", model.describe()),
        "rounds",
    );
    let mut rows = Vec::new();
    let mut out = std::io::stdout().lock();
    for (cfg, tr) in configs.iter().zip(&mut trainers) {
        let label = cfg.defence.label();
        while !tr.finished() {
            let o = tr.round()?;
            progress.tick();
            if a.json {
                let line = serde_json::to_string(&JsonRound {
                    defence: &label,
                    attack: &attack_label,
                    record: tr.record(&o),
                })?;
                writeln!(out, "{line}")?;
                out.flush()?;
            }
        }
        rows.push((label, tr.summary()?));
    }
    progress.finish();
    if a.json {
        return Ok(());
    }
    emit(&table(&a, model.as_ref(), &fed, n, f, &attack_label, &rows))
}

/// `nnm` then the user's pre-aggregators.
fn prepend(first: &str, rest: &[String]) -> Vec<String> {
    std::iter::once(first.to_string())
        .chain(rest.iter().cloned())
        .collect()
}

/// The run's settings from the flags.
fn config(
    a: &Args,
    defence: PipelineSpec,
    attack: StepSpec,
    f: usize,
    compat: Compat,
) -> Result<TrainConfig> {
    let batch_size = match a.batch.trim() {
        "full" => None,
        b => Some(b.parse::<usize>().map_err(|_| {
            lbounds::Error::invalid("--batch", b, "expected a positive integer or `full`")
        })?),
    };
    let privacy = a.dp.map(|level| DpConfig {
        level: match level {
            DpArg::Example => DpLevel::Example,
            DpArg::User => DpLevel::User,
        },
        noise_multiplier: a.dp_sigma,
        clip: (a.clip != f64::INFINITY).then_some(a.clip),
        delta: a.delta,
        accountant: match a.accountant {
            AccountantArg::Rdp => AccountantKind::Rdp,
            AccountantArg::Pld => AccountantKind::Pld,
        },
    });
    Ok(TrainConfig {
        rounds: a.rounds,
        batch_size,
        sampling: a.sampling.map(|s| match s {
            SamplingArg::Shuffle => Sampling::Shuffle,
            SamplingArg::Poisson => Sampling::Poisson,
        }),
        lr: a.lr,
        lr_milestones: a.lr_milestones.clone(),
        lr_decay: a.lr_decay,
        momentum: a.momentum,
        weight_decay: a.weight_decay,
        byzantine: f,
        defence,
        attack: Some(attack),
        algorithm: match a.algorithm {
            AlgorithmArg::Dsgd => Algorithm::Dsgd,
            AlgorithmArg::Fedavg => Algorithm::FedAvg {
                local_steps: a.local_steps,
            },
        },
        privacy,
        eval_every: a.eval_every,
        compat,
    })
}

/// Loads the data and splits it among the honest clients (and a test set).
fn federation(
    a: &Args,
    spec: &ModelSpec,
    partition: Partition,
    honest: usize,
    n: usize,
    streams: &Streams,
) -> Result<Federation> {
    let csv = CsvSpec {
        label_column: a.label_column.clone(),
        client_column: a.client_column.clone(),
        regression: matches!(spec, ModelSpec::Linear),
    };
    let data = match DataSource::parse(&a.data)?.load(&csv, &mut streams.get(stream::DATA)) {
        // A missing or unreadable file is the caller's mistake: exit 2.
        Err(lbounds::Error::Io { path, source }) => {
            return Err(lbounds::Error::invalid("--data", path, source.to_string()).into())
        }
        other => other?,
    };
    let (examples, client_ids, names) = (data.examples, data.clients, data.client_names);
    let features = examples.features();
    let task = examples.task();
    match client_ids {
        Some(ids) => {
            let parts = assigned(&ids, names.as_deref(), honest, n)?;
            Ok(Federation {
                clients: parts.iter().map(|p| examples.select(p)).collect(),
                test: None,
                features,
                task,
            })
        }
        None => {
            let (clients, test) = partition.federate(
                &examples,
                a.test_fraction,
                honest,
                &mut streams.get(stream::SPLIT),
                &mut streams.get(stream::PARTITION),
            )?;
            Ok(Federation {
                clients,
                test,
                features,
                task,
            })
        }
    }
}

/// The initial vector: one row of numbers.
fn read_init(path: &std::path::Path) -> Result<Vec<f64>> {
    let u = super::read_updates(path, false)?;
    if u.n() != 1 {
        return Err(lbounds::Error::invalid(
            "--init",
            path.display(),
            format!(
                "expected one line holding the parameter vector, found {} lines",
                u.n()
            ),
        )
        .into());
    }
    Ok(u.view().col(0).to_vec())
}

/// The final table.
fn table(
    a: &Args,
    model: &dyn Model,
    fed: &Federation,
    n: usize,
    f: usize,
    attack: &str,
    rows: &[(String, TrainSummary)],
) -> String {
    let mut s = String::new();
    let sizes: Vec<usize> = fed.clients.iter().map(Examples::len).collect();
    let _ = writeln!(
        s,
        "{} on {}: n = {n} users, f = {f} Byzantine ({attack}), {} honest holding {}..{} \
         examples, {} rounds, batch {}, lr {}, momentum {}",
        model.describe(),
        a.data,
        n - f,
        sizes.iter().min().unwrap_or(&0),
        sizes.iter().max().unwrap_or(&0),
        a.rounds,
        a.batch,
        super::Num(a.lr),
        super::Num(a.momentum),
    );
    let _ = writeln!(
        s,
        "{:<22} {:>9} {:>10} {:>9} {:>11} {:>11} {:>11} {:>9} {:>8}",
        "defence",
        "test acc",
        "test loss",
        "epsilon",
        "G^2",
        "|grad F_H|^2",
        "B2 floor",
        "kappa",
        "seconds"
    );
    // Four decimals in the usual range; a poisoned run's loss or kappa (1e12) in scientific
    // notation, so the columns stay aligned.
    let num = |v: Option<f64>, w: usize| match v {
        Some(x) if x.is_finite() && x.abs() < 1e4 => format!("{x:>w$.4}"),
        Some(x) if x.is_finite() => format!("{x:>w$.3e}"),
        Some(x) if x == f64::INFINITY => format!("{:>w$}", "inf"),
        _ => format!("{:>w$}", "-"),
    };
    let sci = |v: Option<f64>, w: usize| match v {
        Some(x) if x.is_finite() => format!("{x:>w$.3e}"),
        Some(x) if x == f64::INFINITY => format!("{:>w$}", "inf"),
        _ => format!("{:>w$}", "-"),
    };
    for (label, sum) in rows {
        let e: Option<&Evaluation> = sum.last_eval.as_ref();
        let _ = writeln!(
            s,
            "{:<22} {} {} {} {} {} {} {} {:>8.2}",
            label,
            num(e.and_then(|e| e.test_accuracy), 9),
            num(e.and_then(|e| e.test_loss), 10),
            num(sum.epsilon, 9),
            sci(e.map(|e| e.g2), 11),
            sci(e.map(|e| e.grad_norm_sq), 11),
            sci(e.and_then(|e| e.floor_b2), 11),
            num(e.map(|e| e.kappa_hat), 9),
            sum.seconds,
        );
        match &sum.status {
            RunStatus::Completed => {}
            RunStatus::Diverged { round, reason } => {
                let _ = writeln!(s, "  {label}: diverged at round {round}: {reason}");
            }
            RunStatus::Failed { round, reason } => {
                let _ = writeln!(s, "  {label}: stopped at round {round}: {reason}");
            }
        }
    }
    if f > 0 && 2 * f < n {
        let _ = writeln!(
            s,
            "B2 floor: f*G^2/(n-2f) on |grad F_H|^2 at the measured G^2 (Karimireddy, He & \
             Jaggi, ICLR 2022, arXiv 2006.09365): no algorithm does better on the worst \
             instance of that heterogeneity; a value below it means this instance is not the \
             worst one."
        );
    } else if f > 0 {
        let _ = writeln!(
            s,
            "B2 floor: none (2f >= n, past the breakdown point: no algorithm has bounded error)."
        );
    }
    s
}
