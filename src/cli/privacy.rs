//! `lbounds privacy`: accountants, noise calibration, the analytic Gaussian mechanism, and DP
//! mean estimation / DP-SGD experiments on simulated populations.

use super::{emit, set_threads, Progress};
use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use lbounds::data::noise::Noise;
use lbounds::data::population::{PopulationConfig, RecordsPerUser};
use lbounds::experiment::privacy::{DpMean, DpSgd, MeanErrors, MeanPoint, SgdOutput, SgdPoint};
use lbounds::experiment::summary::mean_ci;
use lbounds::experiment::{self, Experiment, Record};
use lbounds::privacy::accounting::{self, calibrate, AccountantKind};
use lbounds::privacy::mechanisms::analytic_gaussian;
use lbounds::privacy::mechanisms::gaussian::classical_sigma;
use lbounds::privacy::sgd::{Model, SgdConfig};
use lbounds::privacy::{check_delta, check_noise_multiplier, check_sampling_rate};
use serde::Serialize;
use std::fmt::Write as _;

/// Differential privacy: epsilon of DP-SGD, noise calibration, the Gaussian mechanism, and DP
/// estimators measured against the lower bounds.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Epsilon spent by T steps of the Poisson-subsampled Gaussian mechanism (DP-SGD).
    Epsilon(EpsilonArgs),
    /// The smallest noise multiplier that reaches a target (epsilon, delta).
    Noise(NoiseArgs),
    /// The analytic Gaussian mechanism's sigma for (epsilon, delta) and an l2 sensitivity.
    Gaussian(GaussianArgs),
    /// DP mean estimation on a simulated population: error vs epsilon next to the P1 rate.
    Mean(MeanArgs),
    /// DP-SGD (linear or logistic regression) on a simulated population.
    Sgd(SgdArgs),
}

/// Which accountant.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum AccountantArg {
    /// Renyi DP over dp-accounting's default orders (fast, looser).
    Rdp,
    /// Privacy loss distribution, connect-the-dots, grid 1e-4 (tight).
    Pld,
}

impl From<AccountantArg> for AccountantKind {
    fn from(a: AccountantArg) -> Self {
        match a {
            AccountantArg::Rdp => AccountantKind::Rdp,
            AccountantArg::Pld => AccountantKind::Pld,
        }
    }
}

/// Epsilon of DP-SGD: T steps of the Gaussian mechanism with noise multiplier S on Poisson
/// samples of rate Q (add/remove-one neighbours).
///
/// Example: lbounds privacy epsilon --sampling-rate 0.004267 --noise-multiplier 1.1 --steps 14060 --delta 1e-5
#[derive(Debug, clap::Args)]
struct EpsilonArgs {
    /// Accountant: rdp or pld.
    #[arg(long, value_enum, default_value_t = AccountantArg::Rdp)]
    accountant: AccountantArg,
    /// Poisson sampling rate q in (0, 1], as a decimal or a fraction B/N (e.g. 256/60000).
    #[arg(long, allow_negative_numbers = true, value_parser = parse_rate)]
    sampling_rate: f64,
    /// Noise multiplier sigma > 0 (noise std / l2 sensitivity).
    #[arg(long, allow_negative_numbers = true)]
    noise_multiplier: f64,
    /// Number of steps T >= 1.
    #[arg(long)]
    steps: u64,
    /// Target delta in (0, 1).
    #[arg(long, allow_negative_numbers = true)]
    delta: f64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Noise calibration: the smallest noise multiplier with epsilon <= E at delta D after T
/// steps at sampling rate Q (never on the wrong side of the target).
///
/// Example: lbounds privacy noise --sampling-rate 0.004267 --steps 14060 --epsilon 3 --delta 1e-5
#[derive(Debug, clap::Args)]
struct NoiseArgs {
    /// Accountant: rdp or pld.
    #[arg(long, value_enum, default_value_t = AccountantArg::Rdp)]
    accountant: AccountantArg,
    /// Poisson sampling rate q in (0, 1], as a decimal or a fraction B/N (e.g. 256/60000).
    #[arg(long, allow_negative_numbers = true, value_parser = parse_rate)]
    sampling_rate: f64,
    /// Number of steps T >= 1.
    #[arg(long)]
    steps: u64,
    /// Target epsilon > 0.
    #[arg(long, allow_negative_numbers = true)]
    epsilon: f64,
    /// Target delta in (0, 1).
    #[arg(long, allow_negative_numbers = true)]
    delta: f64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// The analytic Gaussian mechanism (Balle & Wang, ICML 2018): the smallest sigma such that
/// adding N(0, sigma^2) to a value of l2 sensitivity S is (epsilon, delta)-DP; the classical
/// sigma = S*sqrt(2 ln(1.25/delta))/epsilon is shown beside it when epsilon < 1.
///
/// Example: lbounds privacy gaussian --epsilon 1 --delta 1e-5 --sensitivity 1
#[derive(Debug, clap::Args)]
struct GaussianArgs {
    /// Target epsilon > 0.
    #[arg(long, allow_negative_numbers = true)]
    epsilon: f64,
    /// Target delta in (0, 1).
    #[arg(long, allow_negative_numbers = true)]
    delta: f64,
    /// l2 sensitivity > 0.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    sensitivity: f64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Options shared by the population-based subcommands.
#[derive(Debug, clap::Args)]
struct PopArgs {
    /// Number of users n.
    #[arg(long, default_value_t = 200)]
    n: usize,
    /// Dimension d.
    #[arg(long, default_value_t = 10)]
    d: usize,
    /// Records per user m.
    #[arg(long, default_value_t = 10)]
    records: usize,
    /// Standard deviation sigma of every record coordinate around its user's mean.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    sigma: f64,
    /// Every coordinate of the population mean mu.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    mean: f64,
    /// Heterogeneity G^2 of the user means.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    heterogeneity: f64,
    /// Replicates per grid point.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    replicates: u32,
    /// Seed of every random stream.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print one JSON record per run (JSON Lines) instead of the table.
    #[arg(long)]
    json: bool,
}

impl PopArgs {
    fn population(&self) -> Result<PopulationConfig> {
        if !(self.sigma.is_finite() && self.sigma > 0.0) {
            return Err(
                lbounds::Error::invalid("sigma", self.sigma, "must be finite and > 0").into(),
            );
        }
        let cfg = PopulationConfig {
            n: self.n,
            d: self.d,
            mean: self.mean,
            heterogeneity: self.heterogeneity,
            noise: Noise::Gaussian { sigma: self.sigma },
            records: RecordsPerUser::Fixed { m: self.records },
            ..PopulationConfig::default()
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// DP mean estimation: n users with m Gaussian records each; for every epsilon, the squared
/// error ||mu_hat - mu||^2 of the non-private mean, the clipped Gaussian mean with known range
/// B(0, R), CoinPress (unknown range, Biswas et al. NeurIPS 2020) and user-level CoinPress
/// (on user means; the known-range user-level error is in the JSON), next to the Cai-Wang-Zhang rate sigma^2 (d/N + d^2 ln(1/delta)/(N^2 eps^2))
/// (P1, order only).
///
/// Example: lbounds privacy mean --epsilons 0.1,0.3,1,3 --delta 1e-6 --n 200 --records 10
#[derive(Debug, clap::Args)]
struct MeanArgs {
    /// Privacy levels to sweep, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.1,0.3,1,3,10",
        allow_negative_numbers = true
    )]
    epsilons: Vec<f64>,
    /// Target delta in (0, 1).
    #[arg(long, default_value_t = 1e-6, allow_negative_numbers = true)]
    delta: f64,
    /// Public bound R on ||mu|| (the known range, and CoinPress' starting radius).
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
    range: f64,
    /// CoinPress iterations.
    #[arg(long, default_value_t = 4)]
    coinpress_steps: usize,
    #[command(flatten)]
    pop: PopArgs,
}

/// Model for DP-SGD.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum ModelArg {
    /// Least squares on y = <w*, x> + noise.
    Linear,
    /// Logistic regression on y ~ Bernoulli(sigmoid(<w*, x>)).
    Logistic,
}

/// DP-SGD on the records of a simulated population (features = records, labels from a random
/// unit-norm w*), one grid point per noise multiplier; epsilon after the last epoch from the
/// RDP accountant.
///
/// Example: lbounds privacy sgd --model logistic --noise-multipliers 0,0.5,1,2 --epochs 5
#[derive(Debug, clap::Args)]
struct SgdArgs {
    /// linear or logistic.
    #[arg(long, value_enum, default_value_t = ModelArg::Linear)]
    model: ModelArg,
    /// Noise multipliers to sweep, comma-separated (0: no privacy).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0,0.5,1,2",
        allow_negative_numbers = true
    )]
    noise_multipliers: Vec<f64>,
    /// Per-example clip norm C.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    clip: f64,
    /// Poisson sampling rate q in (0, 1], as a decimal or a fraction B/N (e.g. 256/60000).
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true, value_parser = parse_rate)]
    sampling_rate: f64,
    /// Epochs (each ceil(1/q) steps).
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    learning_rate: f64,
    /// Delta at which epsilon is reported.
    #[arg(long, default_value_t = 1e-5, allow_negative_numbers = true)]
    delta: f64,
    /// Label noise standard deviation (linear model).
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    label_noise: f64,
    #[command(flatten)]
    pop: PopArgs,
}

/// A probability written as a decimal or as a fraction `B/N` (e.g. `256/60000`, a batch
/// size over a dataset size).
fn parse_rate(s: &str) -> std::result::Result<f64, String> {
    let num = |t: &str| {
        t.trim()
            .parse::<f64>()
            .map_err(|_| format!("`{t}` is not a number (write e.g. 0.004 or 256/60000)"))
    };
    match s.split_once('/') {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if b == 0.0 {
                return Err("the denominator is 0".into());
            }
            Ok(a / b)
        }
        None => num(s),
    }
}

/// Runs the subcommand.
pub fn run(a: Args) -> Result<()> {
    match a.command {
        Cmd::Epsilon(a) => epsilon(a),
        Cmd::Noise(a) => noise(a),
        Cmd::Gaussian(a) => gaussian(a),
        Cmd::Mean(a) => mean(a),
        Cmd::Sgd(a) => sgd(a),
    }
}

fn json_line<T: Serialize>(v: &T) -> Result<String> {
    Ok(serde_json::to_string(v)? + "\n")
}

fn epsilon(a: EpsilonArgs) -> Result<()> {
    let kind: AccountantKind = a.accountant.into();
    let e = accounting::epsilon(kind, a.sampling_rate, a.noise_multiplier, a.steps, a.delta)?;
    let text = if a.json {
        #[derive(Serialize)]
        struct Out {
            accountant: &'static str,
            sampling_rate: f64,
            noise_multiplier: f64,
            steps: u64,
            delta: f64,
            epsilon: f64,
        }
        json_line(&Out {
            accountant: kind.name(),
            sampling_rate: a.sampling_rate,
            noise_multiplier: a.noise_multiplier,
            steps: a.steps,
            delta: a.delta,
            epsilon: e,
        })?
    } else {
        format!(
            "epsilon = {e:.6} ({} accountant; q = {}, sigma = {}, T = {}, delta = {})\n",
            kind.name(),
            a.sampling_rate,
            a.noise_multiplier,
            a.steps,
            a.delta
        )
    };
    emit(&text)
}

fn noise(a: NoiseArgs) -> Result<()> {
    let kind: AccountantKind = a.accountant.into();
    let s = calibrate::noise_multiplier(kind, a.sampling_rate, a.steps, a.epsilon, a.delta)?;
    let reached = accounting::epsilon(kind, a.sampling_rate, s, a.steps, a.delta)?;
    let text = if a.json {
        #[derive(Serialize)]
        struct Out {
            accountant: &'static str,
            sampling_rate: f64,
            steps: u64,
            epsilon: f64,
            delta: f64,
            noise_multiplier: f64,
            epsilon_reached: f64,
        }
        json_line(&Out {
            accountant: kind.name(),
            sampling_rate: a.sampling_rate,
            steps: a.steps,
            epsilon: a.epsilon,
            delta: a.delta,
            noise_multiplier: s,
            epsilon_reached: reached,
        })?
    } else {
        format!(
            "noise multiplier = {s:.6} ({} accountant; reaches epsilon = {reached:.6} <= {} at delta = {}, q = {}, T = {})\n",
            kind.name(),
            a.epsilon,
            a.delta,
            a.sampling_rate,
            a.steps
        )
    };
    emit(&text)
}

fn gaussian(a: GaussianArgs) -> Result<()> {
    let s = analytic_gaussian::calibrate_sigma(a.epsilon, a.delta, a.sensitivity)?;
    let classical = classical_sigma(a.sensitivity, a.epsilon, a.delta).ok();
    let text = if a.json {
        #[derive(Serialize)]
        struct Out {
            epsilon: f64,
            delta: f64,
            sensitivity: f64,
            sigma: f64,
            classical_sigma: Option<f64>,
        }
        json_line(&Out {
            epsilon: a.epsilon,
            delta: a.delta,
            sensitivity: a.sensitivity,
            sigma: s,
            classical_sigma: classical,
        })?
    } else {
        let mut t = format!(
            "sigma = {s:.6} (analytic Gaussian, Balle & Wang 2018; epsilon = {}, delta = {}, sensitivity = {})\n",
            a.epsilon, a.delta, a.sensitivity
        );
        match classical {
            Some(c) => {
                let _ = writeln!(
                    t,
                    "classical sigma = {c:.6} (Dwork & Roth Thm A.1), {:.1}% larger",
                    100.0 * (c / s - 1.0)
                );
            }
            None => {
                let _ = writeln!(t, "classical calibration: not valid for epsilon >= 1");
            }
        }
        t
    };
    emit(&text)
}

/// One JSON Lines record of a population experiment (`mean`, `sgd`).
#[derive(Serialize)]
struct RecordJson<'a, P, O> {
    point: u64,
    replicate: u32,
    seed: u64,
    params: &'a P,
    output: &'a O,
}

/// Runs every point of a population experiment `a.replicates` times behind a progress bar
/// labelled `what`.
fn run_points<E: Experiment>(
    exp: &E,
    points: &[E::Point],
    a: &PopArgs,
    what: &str,
) -> Result<Vec<Record<E::Point, E::Output>>>
where
    E::Point: Clone,
{
    let progress = Progress::new(points.len() as u64 * u64::from(a.replicates), what);
    let records = experiment::run(exp, points, a.replicates, a.seed, &|| progress.tick())?;
    progress.finish();
    Ok(records)
}

/// The records as JSON Lines, each tagged with the run's `seed`.
fn records_json<P: Serialize, O: Serialize>(records: &[Record<P, O>], seed: u64) -> Result<String> {
    let mut s = String::new();
    for r in records {
        s.push_str(&json_line(&RecordJson {
            point: r.point,
            replicate: r.replicate,
            seed,
            params: &r.params,
            output: &r.output,
        })?);
    }
    Ok(s)
}

fn mean(a: MeanArgs) -> Result<()> {
    set_threads(a.pop.threads)?;
    check_delta(a.delta)?;
    let population = a.pop.population()?;
    if a.epsilons.is_empty() {
        anyhow::bail!("--epsilons: give at least one value");
    }
    let points: Vec<MeanPoint> = a
        .epsilons
        .iter()
        .map(|&e| MeanPoint {
            population: population.clone(),
            epsilon: e,
            delta: a.delta,
            range: a.range,
            coinpress_steps: a.coinpress_steps,
        })
        .collect();
    for p in &points {
        p.check()?;
    }
    let records = run_points(&DpMean, &points, &a.pop, "privacy mean")?;
    let text = if a.pop.json {
        records_json(&records, a.pop.seed)?
    } else {
        mean_table(&a, &points, &records)
    };
    emit(&text)
}

fn ci(xs: &[f64]) -> String {
    match mean_ci(xs, 0.95) {
        Some(c) => format!("{:.3e} +- {:.1e}", c.mean, c.half_width),
        None => "-".into(),
    }
}

fn mean_table(
    a: &MeanArgs,
    points: &[MeanPoint],
    records: &[Record<MeanPoint, MeanErrors>],
) -> String {
    let reps = a.pop.replicates as usize;
    let mut s = String::new();
    let first = &records[0].output;
    let _ = writeln!(
        s,
        "lbounds privacy mean: {} users x {} records = N = {} Gaussian records (sigma = {}), d = {}, delta = {}, known range ||mu|| <= {}, {} replicates, seed {}",
        first.users, a.pop.records, first.records, a.pop.sigma, a.pop.d, a.delta, a.range, reps, a.pop.seed
    );
    let _ = writeln!(
        s,
        "squared error ||mu_hat - mu||^2, mean +- 95% CI; P1 = sigma^2 (d/N + d^2 ln(1/delta)/(N^2 eps^2)) (Cai, Wang & Zhang 2021; order only)"
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:>6}  {:>19}  {:>19}  {:>19}  {:>10}  {:>19}  {:>10}",
        "eps", "known range", "CoinPress", "non-private", "P1 record", "user CoinPress", "P1 user"
    );
    for (pi, p) in points.iter().enumerate() {
        let rs = &records[pi * reps..(pi + 1) * reps];
        let col = |f: fn(&MeanErrors) -> f64| rs.iter().map(|r| f(&r.output)).collect::<Vec<_>>();
        let _ = writeln!(
            s,
            "{:>6}  {:>19}  {:>19}  {:>19}  {:>10.3e}  {:>19}  {:>10.3e}",
            p.epsilon,
            ci(&col(|o| o.known_range)),
            ci(&col(|o| o.coinpress)),
            ci(&col(|o| o.nonprivate)),
            rs[0].output.p1_record_level,
            ci(&col(|o| o.user_level)),
            rs[0].output.p1_user_level,
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "record-level estimators protect each record; user CoinPress protects each user's {} records (CoinPress on user means; P1 user: n users, variance sigma^2/m).",
        a.pop.records
    );
    s
}

fn sgd(a: SgdArgs) -> Result<()> {
    set_threads(a.pop.threads)?;
    check_sampling_rate(a.sampling_rate)?;
    check_delta(a.delta)?;
    let population = a.pop.population()?;
    if a.noise_multipliers.is_empty() {
        anyhow::bail!("--noise-multipliers: give at least one value");
    }
    let mut points = Vec::new();
    for &s in &a.noise_multipliers {
        if s != 0.0 {
            check_noise_multiplier(s)?;
        }
        let p = SgdPoint {
            population: population.clone(),
            sgd: SgdConfig {
                model: match a.model {
                    ModelArg::Linear => Model::Linear,
                    ModelArg::Logistic => Model::Logistic,
                },
                epochs: a.epochs,
                sample_rate: a.sampling_rate,
                learning_rate: a.learning_rate,
                clip: Some(a.clip),
                noise_multiplier: s,
                delta: a.delta,
            },
            label_noise: a.label_noise,
        };
        p.sgd.validate()?;
        points.push(p);
    }
    let records = run_points(&DpSgd, &points, &a.pop, "privacy sgd")?;
    let text = if a.pop.json {
        records_json(&records, a.pop.seed)?
    } else {
        let reps = a.pop.replicates as usize;
        let mut s = String::new();
        let ex = records[0].output.examples;
        let _ = writeln!(
            s,
            "lbounds privacy sgd: {:?} regression on N = {ex} records (d = {}), q = {}, {} epochs x {} steps, clip C = {}, lr = {}, delta = {}, {} replicates, seed {}",
            a.model,
            a.pop.d,
            a.sampling_rate,
            a.epochs,
            points[0].sgd.steps_per_epoch(),
            a.clip,
            a.learning_rate,
            a.delta,
            reps,
            a.pop.seed
        );
        let _ = writeln!(s, "final training loss and ||theta - w*||, mean +- 95% CI; epsilon from the RDP accountant (add/remove-one)");
        let _ = writeln!(s, "note: the loss and ||theta - w*|| are computed on the training data without noise for this report; they are NOT covered by epsilon (only the trained theta is)");
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{:>8}  {:>10}  {:>19}  {:>19}  {:>10}",
            "sigma", "epsilon", "loss", "||theta - w*||", "loss(w*)"
        );
        for (pi, p) in points.iter().enumerate() {
            let rs = &records[pi * reps..(pi + 1) * reps];
            let last = |o: &SgdOutput| o.epochs.last().map_or(f64::NAN, |e| e.loss);
            let eps = rs[0].output.epochs.last().and_then(|e| e.epsilon);
            let loss: Vec<f64> = rs.iter().map(|r| last(&r.output)).collect();
            let perr: Vec<f64> = rs.iter().map(|r| r.output.param_error).collect();
            let floor: Vec<f64> = rs.iter().map(|r| r.output.loss_of_truth).collect();
            let _ = writeln!(
                s,
                "{:>8}  {:>10}  {:>19}  {:>19}  {:>10.4}",
                p.sgd.noise_multiplier,
                eps.map_or("inf".to_string(), |e| format!("{e:.4}")),
                ci(&loss),
                ci(&perr),
                mean_ci(&floor, 0.95).map_or(f64::NAN, |c| c.mean)
            );
        }
        s
    };
    emit(&text)
}
