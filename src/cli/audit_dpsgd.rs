//! `lbounds audit dpsgd`: audit the crate's own DP-SGD (optionally with a planted bug) and
//! print the empirical lower bound on epsilon next to the accountant's epsilon.

use super::{emit, set_threads, Progress};
use anyhow::Result;
use lbounds::commands::audit::{dpsgd_config, dpsgd_json, DpsgdFlags};
use lbounds::commands::Spelling;
use lbounds::privacy::audit::dpsgd::{self, Method};
use lbounds::privacy::sgd::PlantedBug;
use std::fmt::Write as _;

/// Audit lbounds' own DP-SGD (logistic regression, Poisson sampling, per-example clipping,
/// Gaussian noise on the sum, RDP accountant) with a white-box Dirac gradient canary: the
/// noise multiplier is calibrated to --epsilon, then trainings with and without the canary
/// are scored by the canary coordinate's per-step updates (their sum and their variance,
/// each with half of alpha) and turned into a lower bound on epsilon that holds with
/// confidence 1 - alpha. A correct DP-SGD gives epsilon_lower <= epsilon; a planted bug
/// with epsilon_lower > epsilon is "caught".
///
/// Multi-run (default): K trainings with the canary and K without, Clopper-Pearson bounds
/// over the convex hull of the score curve (Bonferroni over its thresholds). One run
/// (--one-run): M canaries each included with probability 1/2, one training, R/2 "in" and R/2
/// "out" guesses fixed in advance (Steinke, Nasr & Jagielski 2023).
///
/// --backend sets where the audited logistic regression trains: its per-example clipping is
/// the backend's; the Poisson coins, the noise and the canaries are drawn on the host.
///
/// Examples:
///   lbounds audit dpsgd --epsilon 1 --runs 1000
///   lbounds audit dpsgd --epsilon 4 --planted-bug reused-noise --json
///   lbounds audit dpsgd --epsilon 4 --one-run --canaries 10000 --planted-bug wrong-sampling-rate
#[derive(Debug, clap::Args)]
pub struct DpsgdArgs {
    /// The claimed epsilon (> 0): the noise multiplier is the smallest whose RDP epsilon is at
    /// most this.
    #[arg(long, allow_negative_numbers = true)]
    epsilon: f64,
    /// Multi-run: trainings per world, K >= 1 (2K trainings in all).
    #[arg(long, default_value_t = 1000, conflicts_with = "one_run")]
    runs: u32,
    /// Audit in one training run with --canaries canaries instead.
    #[arg(long)]
    one_run: bool,
    /// One run: canaries M (each included with probability 1/2; M >= 2).
    #[arg(long, default_value_t = 10_000, requires = "one_run")]
    canaries: u32,
    /// One run: guesses R (even, 2 <= R <= M); default M/10.
    #[arg(long, requires = "one_run")]
    guesses: Option<u32>,
    /// Plant a bug in DP-SGD: none, no-clipping, noise-on-mean (noise scaled for the mean
    /// added to the sum), wrong-sampling-rate (sampler at 4q, accountant told q),
    /// reused-noise (one noise draw for every step).
    #[arg(long, default_value = "none")]
    planted_bug: String,
    /// delta of the claim and of the audit, in (0, 1).
    #[arg(long, default_value_t = 1e-5, allow_negative_numbers = true)]
    delta: f64,
    /// Probability that the lower bound is wrong, in (0, 1).
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    alpha: f64,
    /// Poisson sampling rate q of the audited training, in (0, 1].
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    sample_rate: f64,
    /// Epochs of the audited training (each ceil(1/q) steps).
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    #[command(flatten)]
    run: super::RunArgs,
}

/// Runs `lbounds audit dpsgd`.
pub fn run(a: DpsgdArgs) -> Result<()> {
    let flags = DpsgdFlags {
        epsilon: a.epsilon,
        runs: (!a.one_run).then_some(a.runs),
        one_run: a.one_run,
        canaries: a.one_run.then_some(a.canaries),
        guesses: a.guesses,
        planted_bug: a.planted_bug.clone(),
        delta: a.delta,
        alpha: a.alpha,
        sample_rate: a.sample_rate,
        epochs: a.epochs,
    };
    let cfg = dpsgd_config(&flags, a.run.backend.backend()?, Spelling::Cli)?;
    let (method, planted_bug) = (cfg.method, cfg.planted_bug);
    set_threads(a.run.threads)?;
    let trainings = match method {
        Method::MultiRun { runs } => 2 * u64::from(runs),
        Method::OneRun { .. } => 1,
    };
    let progress = Progress::with_unit(trainings, "auditing DP-SGD", "trainings");
    let out = dpsgd::audit(&cfg, a.run.seed, &|| progress.tick())?;
    progress.finish();
    let text = if a.run.json {
        dpsgd_json(&out, &cfg, a.run.seed)? + "\n"
    } else {
        let mut t = format!(
            "epsilon >= {:.4} with confidence {} (delta = {}); the accountant promises epsilon = {:.4}: {}\n",
            out.epsilon_lower,
            super::audit::confidence(a.alpha),
            super::Num(a.delta),
            out.epsilon,
            if out.verdict == "caught" {
                "CAUGHT (the implementation leaks more than it claims)"
            } else {
                "no violation found"
            }
        );
        let _ = writeln!(
            t,
            "DP-SGD{}: sigma = {:.4}, q = {}, T = {} steps; Dirac gradient canary",
            if planted_bug == PlantedBug::None {
                String::new()
            } else {
                format!(" with planted bug {planted_bug}")
            },
            out.noise_multiplier,
            a.sample_rate,
            out.steps
        );
        match method {
            Method::MultiRun { runs } => {
                let _ = writeln!(
                    t,
                    "multi-run: {runs} trainings with the canary, {runs} without; update sum {:.4}, update variance {:.4} (each at alpha/2)",
                    out.epsilon_lower_sum, out.epsilon_lower_variance
                );
                if let (Some(mu), Some(e)) = (out.mu_lower, out.epsilon_gdp) {
                    let _ = writeln!(
                        t,
                        "Gaussian DP estimate: mu >= {mu:.4}, epsilon ~ {e:.4} (assumes the mechanism is GDP); mu_hat = {}",
                        out.mu_hat.map_or("n/a".into(), |m| format!("{m:.4}"))
                    );
                }
            }
            Method::OneRun { canaries, guesses } => {
                let _ = writeln!(
                    t,
                    "one run: {canaries} canaries, {} of {guesses} guesses right; update sum {:.4}, update variance {:.4} (each at alpha/2)",
                    out.correct.unwrap_or(0),
                    out.epsilon_lower_sum,
                    out.epsilon_lower_variance
                );
            }
        }
        t
    };
    emit(&text)
}
