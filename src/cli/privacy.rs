//! `lbounds privacy`: accountants, noise calibration, the analytic Gaussian mechanism, and DP
//! mean estimation / DP-SGD experiments on simulated populations.

use super::{emit, json_line, set_threads, Num, Progress, INPUT_HELP};
use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use lbounds::data::noise::Noise;
use lbounds::data::population::{PopulationConfig, RecordsPerUser};
use lbounds::experiment::privacy::{DpMean, DpSgd, MeanErrors, MeanPoint, SgdOutput, SgdPoint};
use lbounds::experiment::summary::mean_ci;
use lbounds::experiment::{self, Experiment, Record};
use lbounds::privacy::accounting::{
    self, calibrate, pure, Accountant, AccountantKind, ApproxAccountant, ZcdpAccountant,
};
use lbounds::privacy::estimators::known_range_mean;
use lbounds::privacy::mechanisms::gaussian::classical_sigma;
use lbounds::privacy::mechanisms::{analytic_gaussian, Laplace, Mechanism, RandomizedResponse};
use lbounds::privacy::sgd::{Model, SgdConfig};
use lbounds::privacy::{check_delta, check_noise_multiplier, check_sampling_rate, PrivacyCost};
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
    /// Epsilon spent by T steps of the Poisson-subsampled Gaussian mechanism (DP-SGD), or
    /// delta for a given epsilon.
    Epsilon(EpsilonArgs),
    /// The smallest noise multiplier that reaches a target (epsilon, delta).
    Noise(NoiseArgs),
    /// The analytic Gaussian mechanism's sigma for (epsilon, delta) and an l2 sensitivity.
    Gaussian(GaussianArgs),
    /// The Laplace mechanism's scale for epsilon and an l1 sensitivity (pure epsilon-DP).
    Laplace(LaplaceArgs),
    /// Randomized response: the probability of keeping or flipping the true answer.
    Rr(RrArgs),
    /// Composition of pure and approximate DP mechanisms: basic, advanced and zCDP totals.
    Compose(ComposeArgs),
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

/// The sampling rate q and step count T, given directly (`--sampling-rate Q --steps T`) or
/// as a training schedule (`--batch-size B --dataset-size N --epochs E`, which means
/// q = B/N and T = ceil(E*N/B): E passes over the data in expected batches of B).
#[derive(Debug, clap::Args)]
struct Schedule {
    /// Poisson sampling rate q in (0, 1], as a decimal or a fraction B/N (e.g. 256/60000).
    #[arg(long, allow_negative_numbers = true, value_parser = parse_rate)]
    sampling_rate: Option<f64>,
    /// Number of steps T >= 1.
    #[arg(long)]
    steps: Option<u64>,
    /// Expected batch size B (instead of --sampling-rate/--steps): q = B/N.
    #[arg(long)]
    batch_size: Option<u64>,
    /// Dataset size N (with --batch-size and --epochs).
    #[arg(long)]
    dataset_size: Option<u64>,
    /// Epochs E (with --batch-size and --dataset-size): T = ceil(E*N/B) steps.
    #[arg(long)]
    epochs: Option<u64>,
}

impl Schedule {
    /// (q, T) from whichever form was given; exactly one complete form is required.
    fn resolve(&self) -> Result<(f64, u64)> {
        let direct = self.sampling_rate.is_some() || self.steps.is_some();
        let sched =
            self.batch_size.is_some() || self.dataset_size.is_some() || self.epochs.is_some();
        let form =
            "give either --sampling-rate Q --steps T or --batch-size B --dataset-size N --epochs E";
        match (direct, sched) {
            (true, true) => anyhow::bail!("both schedule forms given: {form}"),
            (false, false) => anyhow::bail!("no schedule given: {form}"),
            (true, false) => match (self.sampling_rate, self.steps) {
                (Some(q), Some(t)) => Ok((q, t)),
                _ => anyhow::bail!("incomplete schedule: {form}"),
            },
            (false, true) => match (self.batch_size, self.dataset_size, self.epochs) {
                (Some(b), Some(n), Some(e)) => {
                    if b == 0 || b > n {
                        return Err(lbounds::Error::invalid(
                            "batch-size",
                            b,
                            format!("must be in 1..=dataset-size ({n})"),
                        )
                        .into());
                    }
                    if e == 0 {
                        return Err(lbounds::Error::invalid("epochs", e, "must be >= 1").into());
                    }
                    let steps = e.checked_mul(n).map(|en| en.div_ceil(b)).ok_or_else(|| {
                        lbounds::Error::invalid("epochs", e, "epochs x dataset-size overflows")
                    })?;
                    Ok((b as f64 / n as f64, steps))
                }
                _ => anyhow::bail!("incomplete schedule: {form}"),
            },
        }
    }
}

/// Epsilon of DP-SGD: T steps of the Gaussian mechanism with noise multiplier S on Poisson
/// samples of rate Q (add/remove-one neighbours); with --epsilon instead of --delta, the
/// smallest delta at which the run is (epsilon, delta)-DP. The schedule is either
/// --sampling-rate Q --steps T, or --batch-size B --dataset-size N --epochs E, meaning
/// q = B/N and T = ceil(E*N/B).
///
/// Examples:
///   lbounds privacy epsilon --sampling-rate 0.004267 --noise-multiplier 1.1 --steps 14060 --delta 1e-5
///   lbounds privacy epsilon --batch-size 256 --dataset-size 60000 --epochs 60 --noise-multiplier 1.1 --epsilon 3
#[derive(Debug, clap::Args)]
struct EpsilonArgs {
    /// Accountant: rdp or pld.
    #[arg(long, value_enum, default_value_t = AccountantArg::Rdp)]
    accountant: AccountantArg,
    #[command(flatten)]
    schedule: Schedule,
    /// Noise multiplier sigma > 0 (noise std / l2 sensitivity).
    #[arg(long, allow_negative_numbers = true)]
    noise_multiplier: f64,
    /// Target delta in (0, 1): report epsilon.
    #[arg(
        long,
        allow_negative_numbers = true,
        required_unless_present = "epsilon"
    )]
    delta: Option<f64>,
    /// Target epsilon >= 0 instead of --delta: report delta.
    #[arg(long, allow_negative_numbers = true, conflicts_with = "delta")]
    epsilon: Option<f64>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Noise calibration: the smallest noise multiplier with epsilon <= E at delta D after T
/// steps at sampling rate Q (never on the wrong side of the target). The schedule is either
/// --sampling-rate Q --steps T, or --batch-size B --dataset-size N --epochs E, meaning
/// q = B/N and T = ceil(E*N/B).
///
/// Example: lbounds privacy noise --sampling-rate 0.004267 --steps 14060 --epsilon 3 --delta 1e-5
#[derive(Debug, clap::Args)]
struct NoiseArgs {
    /// Accountant: rdp or pld.
    #[arg(long, value_enum, default_value_t = AccountantArg::Rdp)]
    accountant: AccountantArg,
    #[command(flatten)]
    schedule: Schedule,
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

/// The Laplace mechanism (Dwork, McSherry, Nissim & Smith, TCC 2006): adding Lap(b) with
/// scale b = S/epsilon to each coordinate of a value of l1 sensitivity S is epsilon-DP (pure,
/// delta = 0).
///
/// Example: lbounds privacy laplace --epsilon 0.5 --sensitivity 2
#[derive(Debug, clap::Args)]
struct LaplaceArgs {
    /// Target epsilon > 0.
    #[arg(long, allow_negative_numbers = true)]
    epsilon: f64,
    /// l1 sensitivity > 0.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    sensitivity: f64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// k-ary randomized response (Warner, JASA 1965; Kairouz, Oh & Viswanath, NeurIPS 2014):
/// report the true category with probability e^eps/(e^eps + k - 1), otherwise a uniform other
/// one; epsilon-DP for each respondent (local DP). k = 2 is the coin-flip survey.
///
/// Example: lbounds privacy rr --epsilon 1
#[derive(Debug, clap::Args)]
struct RrArgs {
    /// Target epsilon > 0.
    #[arg(long, allow_negative_numbers = true)]
    epsilon: f64,
    /// Number of categories k >= 2.
    #[arg(long, default_value_t = 2)]
    categories: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Composition of mechanisms, each given as `--cost eps=E[,delta=D][,count=K]` (K runs of an
/// (E, D)-DP mechanism; D = 0 is pure DP). Prints the basic composition (sum of epsilons and
/// deltas; Dwork et al. EUROCRYPT 2006), and at the target --delta: the advanced composition
/// when every cost is the same mechanism (Dwork, Rothblum & Vadhan, FOCS 2010; slack
/// delta' = target - K*D) and the zCDP total when every cost is pure (rho = eps^2/2 each,
/// Bun & Steinke, TCC 2016).
///
/// Example: lbounds privacy compose --cost eps=0.1,count=100 --delta 1e-5
#[derive(Debug, clap::Args)]
struct ComposeArgs {
    /// One mechanism: eps=E[,delta=D][,count=K] (repeat the flag for several).
    #[arg(long, required = true, value_parser = parse_cost)]
    cost: Vec<Cost>,
    /// Target total delta in (0, 1) for the advanced and zCDP totals.
    #[arg(long, allow_negative_numbers = true)]
    delta: Option<f64>,
    /// Print one JSON object (a total past f64::MAX, which guarantees nothing, is null).
    #[arg(long)]
    json: bool,
}

/// One `--cost`: `count` runs of an (epsilon, delta)-DP mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
struct Cost {
    epsilon: f64,
    delta: f64,
    count: u64,
}

impl Cost {
    fn privacy_cost(self) -> PrivacyCost {
        if self.delta == 0.0 {
            PrivacyCost::Pure {
                epsilon: self.epsilon,
            }
        } else {
            PrivacyCost::Approx {
                epsilon: self.epsilon,
                delta: self.delta,
            }
        }
    }
}

/// Parses `eps=E[,delta=D][,count=K]`.
fn parse_cost(s: &str) -> std::result::Result<Cost, String> {
    let mut c = Cost {
        epsilon: f64::NAN,
        delta: 0.0,
        count: 1,
    };
    for kv in s.split(',') {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| "write eps=E[,delta=D][,count=K]".to_string())?;
        let v = v.trim();
        let num = || v.parse::<f64>().map_err(|_| format!("{k}: not a number"));
        match k.trim() {
            "eps" | "epsilon" => c.epsilon = num()?,
            "delta" => c.delta = num()?,
            "count" => c.count = v.parse().map_err(|_| "count: not a whole number >= 1")?,
            _ => return Err(format!("unknown key `{}` (eps, delta, count)", k.trim())),
        }
    }
    if c.epsilon.is_nan() {
        return Err("eps=E is required".into());
    }
    if c.count == 0 {
        return Err("count must be >= 1".into());
    }
    c.privacy_cost().validate().map_err(|e| e.to_string())?;
    Ok(c)
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
/// With --input, the records are yours (one per row) instead of simulated: for every epsilon,
/// the (epsilon, delta)-DP mean of the records clipped to the ball B(0, R) of --range, with
/// analytic-Gaussian noise for l2 sensitivity 2R/N (replace-one neighbours, N public). Only
/// the private means are printed.
///
/// Examples:
///   lbounds privacy mean --epsilons 0.1,0.3,1,3 --delta 1e-6 --n 200 --records 10
///   lbounds privacy mean --input records.csv --epsilons 1 --delta 1e-6 --range 5
#[derive(Debug, clap::Args)]
struct MeanArgs {
    /// Your own records, one per row (instead of a simulated population).
    #[arg(
        long,
        value_name = "PATH|-",
        help = INPUT_HELP,
        conflicts_with_all = ["n", "d", "records", "sigma", "mean", "heterogeneity", "replicates", "coinpress_steps"]
    )]
    input: Option<std::path::PathBuf>,
    /// The first line of a text input is a header row, whatever it holds.
    #[arg(long, requires = "input")]
    header: bool,
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
    /// Expected batch size B instead of --sampling-rate: q = B/N with N = n x records.
    #[arg(long, conflicts_with = "sampling_rate")]
    batch_size: Option<u64>,
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
        Cmd::Laplace(a) => laplace(a),
        Cmd::Rr(a) => rr(a),
        Cmd::Compose(a) => compose(a),
        Cmd::Mean(a) => mean(a),
        Cmd::Sgd(a) => sgd(a),
    }
}

fn epsilon(a: EpsilonArgs) -> Result<()> {
    let kind: AccountantKind = a.accountant.into();
    let (q, steps) = a.schedule.resolve()?;
    let sigma = a.noise_multiplier;
    let context = |given: &str| {
        format!(
            "{} accountant; q = {}, sigma = {}, T = {steps}, {given}",
            kind.name(),
            Num(q),
            Num(sigma)
        )
    };
    // clap makes exactly one of --delta / --epsilon present: the other is computed.
    let (epsilon, delta, line) = match a.delta {
        Some(delta) => {
            let e = accounting::epsilon(kind, q, sigma, steps, delta)?;
            let given = format!("delta = {}", Num(delta));
            (
                e,
                delta,
                format!("epsilon = {:.6} ({})\n", Num(e), context(&given)),
            )
        }
        None => {
            let eps = a.epsilon.unwrap_or_default();
            let d = accounting::delta(kind, q, sigma, steps, eps)?;
            let given = format!("epsilon = {}", Num(eps));
            (eps, d, format!("delta = {d:.6e} ({})\n", context(&given)))
        }
    };
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
            sampling_rate: q,
            noise_multiplier: sigma,
            steps,
            delta,
            epsilon,
        })?
    } else {
        line
    };
    emit(&text)
}

fn noise(a: NoiseArgs) -> Result<()> {
    let kind: AccountantKind = a.accountant.into();
    let (q, steps) = a.schedule.resolve()?;
    let s = calibrate::noise_multiplier(kind, q, steps, a.epsilon, a.delta)?;
    let reached = accounting::epsilon(kind, q, s, steps, a.delta)?;
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
            sampling_rate: q,
            steps,
            epsilon: a.epsilon,
            delta: a.delta,
            noise_multiplier: s,
            epsilon_reached: reached,
        })?
    } else {
        format!(
            "noise multiplier = {:.6} ({} accountant; reaches epsilon = {:.6} <= {} at delta = {}, q = {}, T = {steps})\n",
            Num(s),
            kind.name(),
            Num(reached),
            Num(a.epsilon),
            Num(a.delta),
            Num(q),
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
            "sigma = {:.6} (analytic Gaussian, Balle & Wang 2018; epsilon = {}, delta = {}, sensitivity = {})\n",
            Num(s),
            Num(a.epsilon),
            Num(a.delta),
            Num(a.sensitivity)
        );
        match classical {
            Some(c) => {
                let _ = writeln!(
                    t,
                    "classical sigma = {:.6} (Dwork & Roth Thm A.1), {:.1}% larger",
                    Num(c),
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

/// The guarantee of one call, as (epsilon, delta).
fn guarantee_pair(m: &dyn Mechanism) -> (f64, f64) {
    match m.guarantee() {
        PrivacyCost::Pure { epsilon } => (epsilon, 0.0),
        PrivacyCost::Approx { epsilon, delta } => (epsilon, delta),
        other => unreachable!("pure or approximate mechanisms only, got {other:?}"),
    }
}

fn laplace(a: LaplaceArgs) -> Result<()> {
    let m = Laplace::new(a.sensitivity, a.epsilon)?;
    let (eps, delta) = guarantee_pair(&m);
    let text = if a.json {
        #[derive(Serialize)]
        struct Out {
            mechanism: &'static str,
            sensitivity_l1: f64,
            scale: f64,
            epsilon: f64,
            delta: f64,
        }
        json_line(&Out {
            mechanism: m.name(),
            sensitivity_l1: a.sensitivity,
            scale: m.scale(),
            epsilon: eps,
            delta,
        })?
    } else {
        format!(
            "scale b = {:.6} (Laplace mechanism, Dwork, McSherry, Nissim & Smith 2006): adding Lap(b) to each coordinate of a value of l1 sensitivity {} is {}-DP (pure, delta = 0)\n",
            Num(m.scale()),
            Num(a.sensitivity),
            Num(eps)
        )
    };
    emit(&text)
}

fn rr(a: RrArgs) -> Result<()> {
    let m = RandomizedResponse::new(a.categories, a.epsilon)?;
    let (eps, delta) = guarantee_pair(&m);
    let keep = m.p_true();
    let text = if a.json {
        #[derive(Serialize)]
        struct Out {
            mechanism: &'static str,
            categories: usize,
            keep_probability: f64,
            flip_probability: f64,
            epsilon: f64,
            delta: f64,
        }
        json_line(&Out {
            mechanism: m.name(),
            categories: a.categories,
            keep_probability: keep,
            flip_probability: m.p_other(),
            epsilon: eps,
            delta,
        })?
    } else {
        format!(
            "keep the true answer with probability {keep:.6}, report another of the {} categories with probability {:.6} (randomized response, Warner 1965): {}-DP per respondent (local DP)\n",
            a.categories,
            Num(m.p_other()),
            Num(eps)
        )
    };
    emit(&text)
}

fn compose(a: ComposeArgs) -> Result<()> {
    if let Some(d) = a.delta {
        check_delta(d)?;
    }
    let mut basic = ApproxAccountant::default();
    let mut zcdp = ZcdpAccountant::default();
    let all_pure = a.cost.iter().all(|c| c.delta == 0.0);
    for c in &a.cost {
        basic.compose(c.privacy_cost(), c.count)?;
        if all_pure {
            zcdp.compose(c.privacy_cost(), c.count)?;
        }
    }
    let (basic_eps, basic_delta) = basic.total();
    #[derive(Serialize)]
    struct Total {
        epsilon: f64,
        delta: f64,
    }
    // Advanced composition needs one repeated mechanism and a slack delta' = target - K*D > 0.
    let advanced = match (a.delta, a.cost.as_slice()) {
        (Some(target), [c]) if target > c.count as f64 * c.delta => {
            let slack = target - c.count as f64 * c.delta;
            let (e, d) = pure::advanced(c.epsilon, c.delta, c.count, slack)?;
            Some(Total {
                epsilon: e,
                delta: d,
            })
        }
        _ => None,
    };
    let zcdp_total = match a.delta {
        Some(target) if all_pure => Some(Total {
            epsilon: zcdp.epsilon(target)?,
            delta: target,
        }),
        _ => None,
    };
    let text = if a.json {
        #[derive(Serialize)]
        struct Out<'a> {
            costs: &'a [Cost],
            basic: Total,
            advanced: Option<Total>,
            zcdp: Option<Total>,
            zcdp_rho: Option<f64>,
        }
        json_line(&Out {
            costs: &a.cost,
            basic: Total {
                epsilon: basic_eps,
                delta: basic_delta,
            },
            advanced,
            zcdp: zcdp_total,
            zcdp_rho: all_pure.then(|| zcdp.rho()),
        })?
    } else {
        // A total past f64::MAX (e^ε in advanced composition, ε²/2 in zCDP) guarantees
        // nothing; said so rather than printed as a bare `inf`.
        let eps = |e: f64| match e.is_finite() {
            true => format!("{:.6}", Num(e)),
            false => "inf (beyond f64: no guarantee)".to_string(),
        };
        let mut t = format!(
            "basic composition (Dwork et al. 2006): epsilon = {}, delta = {basic_delta:e}\n",
            eps(basic_eps)
        );
        match &advanced {
            Some(v) => {
                let _ = writeln!(
                    t,
                    "advanced composition (Dwork, Rothblum & Vadhan 2010): epsilon = {}, delta = {:e}",
                    eps(v.epsilon),
                    v.delta
                );
            }
            None => {
                let _ = writeln!(
                    t,
                    "advanced composition: needs --delta above K*delta and a single --cost"
                );
            }
        }
        match &zcdp_total {
            Some(v) => {
                let _ = writeln!(
                    t,
                    "zCDP (Bun & Steinke 2016): rho = {:.6}, epsilon = {} at delta = {:e}",
                    Num(zcdp.rho()),
                    eps(v.epsilon),
                    v.delta
                );
            }
            None => {
                let _ = writeln!(t, "zCDP: needs --delta and pure costs only (delta = 0)");
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
    if let Some(path) = &a.input {
        return mean_of_input(&a, path);
    }
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

/// `privacy mean --input`: the known-range DP mean of the user's records at every epsilon,
/// each from its own stream keyed by (seed, the bits of epsilon), so a value's output does not
/// depend on which other epsilons are listed.
fn mean_of_input(a: &MeanArgs, path: &std::path::Path) -> Result<()> {
    if a.epsilons.is_empty() {
        anyhow::bail!("--epsilons: give at least one value");
    }
    let x = super::read_updates(path, a.header)?;
    let points: Vec<&[f64]> = x.view().cols().collect();
    let center = vec![0.0; x.d()];
    #[derive(Serialize)]
    struct Out<'a> {
        input: String,
        records: usize,
        d: usize,
        estimator: &'static str,
        range: f64,
        epsilon: f64,
        delta: f64,
        seed: u64,
        mean: &'a [f64],
    }
    let mut text = String::new();
    if !a.pop.json {
        let _ = writeln!(
            text,
            "lbounds privacy mean: N = {} records of dimension d = {} from {}; each clipped to ||x|| <= {} and averaged with analytic-Gaussian noise (l2 sensitivity 2R/N, replace-one), delta = {}, seed {}",
            x.n(),
            x.d(),
            path.display(),
            Num(a.range),
            Num(a.delta),
            a.pop.seed
        );
    }
    for &eps in &a.epsilons {
        let mut rng = lbounds::rng::rng_from_seed(a.pop.seed);
        rng.set_stream(eps.to_bits());
        let m = known_range_mean(&points, &center, a.range, eps, a.delta, &mut rng)?;
        if a.pop.json {
            text.push_str(&json_line(&Out {
                input: path.display().to_string(),
                records: x.n(),
                d: x.d(),
                estimator: "known_range",
                range: a.range,
                epsilon: eps,
                delta: a.delta,
                seed: a.pop.seed,
                mean: &m,
            })?);
        } else {
            let shown: Vec<String> = m.iter().map(|v| format!("{v:.6}")).collect();
            let _ = writeln!(text, "eps = {eps}: {}", shown.join(","));
        }
    }
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
        first.users, a.pop.records, first.records, Num(a.pop.sigma), a.pop.d, Num(a.delta), Num(a.range), reps, a.pop.seed
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

fn sgd(mut a: SgdArgs) -> Result<()> {
    set_threads(a.pop.threads)?;
    if let Some(b) = a.batch_size {
        let n = (a.pop.n as u64).saturating_mul(a.pop.records as u64);
        if b == 0 || b > n {
            return Err(lbounds::Error::invalid(
                "batch-size",
                b,
                format!("must be in 1..=N = n x records ({n})"),
            )
            .into());
        }
        a.sampling_rate = b as f64 / n as f64;
    }
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
            super::Num(a.sampling_rate),
            a.epochs,
            points[0].sgd.steps_per_epoch(),
            super::Num(a.clip),
            super::Num(a.learning_rate),
            super::Num(a.delta),
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
