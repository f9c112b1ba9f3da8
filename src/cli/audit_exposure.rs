//! `lbounds audit exposure`: the Secret Sharer experiment in one command — train a small
//! character model on synthetic user text holding a canary, and measure the canary's
//! exposure (exact, interpolated, extrapolated).

use super::{emit, Progress};
use anyhow::Result;
use lbounds::commands::audit::exposure_json;
use lbounds::experiment::exposure::{run_with, ExposurePoint};
use lbounds::experiment::robust::Streams;
use lbounds::learning::text::CANARY_PREFIX;
use std::fmt::Write as _;
use std::time::Instant;

/// Canary exposure (Carlini et al., "The Secret Sharer", USENIX Security 2019): a canary
/// "my pin is " + D random digits is inserted K times into synthetic user text (a random
/// sparse Markov chain over digits, space and letters); a next-token model over a one-hot
/// window of the last w tokens (softmax regression, or one tanh hidden layer) is trained on
/// it by plain SGD, or by DP-SGD (Poisson sampling, clipping, noise calibrated by the RDP
/// accountant to --epsilon); then every one of the 10^D possible secrets is scored by its
/// log-perplexity (nats, summed over the D secret digits) and the canary's exposure is
/// log2(10^D) - log2(rank), rank 1 = most likely, ties counted against the canary (19.93
/// bits at most for 6 digits). Also reported: the sampled estimate from --references random
/// secrets (tensorflow_privacy's interpolation) and the skew-normal extrapolation (fit by
/// moments).
///
/// Examples:
///   lbounds audit exposure --insertions 4               (non-private: usually 19.93 bits)
///   lbounds audit exposure --insertions 4 --epsilon 2   (DP-SGD: a few bits)
///   lbounds audit exposure --insertions 16 --epsilon 8 --hidden 0 --json
#[derive(Debug, clap::Args)]
pub struct ExposureArgs {
    /// Copies K of the canary in the training text (0: a secret the model never saw).
    #[arg(long, default_value_t = 4)]
    insertions: usize,
    /// Target epsilon of DP-SGD (> 0); without it, training is not private.
    #[arg(long, allow_negative_numbers = true)]
    epsilon: Option<f64>,
    /// Delta of the DP-SGD target, in (0, 1).
    #[arg(long, default_value_t = 1e-5, allow_negative_numbers = true)]
    delta: f64,
    /// Per-example clip norm C of DP-SGD (> 0).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    clip: f64,
    /// Digits D of the secret: 10^D candidates are enumerated (1..=7).
    #[arg(long, default_value_t = 6)]
    digits: usize,
    /// Tokens of user text before the canaries are inserted.
    #[arg(long, default_value_t = 4000)]
    tokens: usize,
    /// Successors per token of the random Markov chain that writes the text (1..=17).
    #[arg(long, default_value_t = 4)]
    fanout: usize,
    /// Context width w: tokens the model sees before predicting the next (1..=10).
    #[arg(long, default_value_t = 3)]
    context: usize,
    /// Hidden tanh units (0: softmax regression on the one-hot window).
    #[arg(long, default_value_t = 32)]
    hidden: usize,
    /// Passes over the text (steps = ceil(epochs * examples / batch)).
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    /// Batch size (expected batch size under DP-SGD's Poisson sampling).
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Learning rate (> 0).
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    lr: f64,
    /// Random secrets for the interpolated and extrapolated estimates (>= 3, < 10^D).
    #[arg(long, default_value_t = 2000)]
    references: usize,
    /// Seed of every random stream (text, secret, initial weights, batches, noise).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object (keys include exposure_exact, exposure_interpolated,
    /// exposure_extrapolated, log2_space, rank, epsilon).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: super::BackendArgs,
}

/// Runs `lbounds audit exposure`.
pub fn run(a: ExposureArgs) -> Result<()> {
    let p = ExposurePoint {
        tokens: a.tokens,
        fanout: a.fanout,
        insertions: a.insertions,
        digits: a.digits,
        context: a.context,
        hidden: a.hidden,
        epochs: a.epochs,
        batch: a.batch,
        lr: a.lr,
        references: a.references,
        epsilon: a.epsilon,
        delta: a.delta,
        clip: a.clip,
        backend: a.backend.backend()?,
    };
    p.check()?;
    let start = Instant::now();
    let progress = Progress::with_unit(p.steps(), "training", "steps");
    let o = run_with(&p, Streams::new(a.seed, 0), &mut |_, _| progress.tick())?;
    progress.finish();
    let seconds = start.elapsed().as_secs_f64();
    let e = &o.exposures;
    let text = if a.json {
        exposure_json(&p, a.seed, &o, seconds)? + "\n"
    } else {
        let mut t = format!(
            "canary \"{CANARY_PREFIX}{}\" inserted {} time(s) into {} tokens of user text; \
             model: {}, {}-token context\n",
            o.secret,
            a.insertions,
            a.tokens,
            if a.hidden == 0 {
                "softmax regression".to_string()
            } else {
                format!("{} tanh hidden units", a.hidden)
            },
            a.context
        );
        match (o.noise_multiplier, o.epsilon) {
            (Some(s), Some(eps)) => {
                let _ = writeln!(
                    t,
                    "training: {} steps of DP-SGD (sigma = {s:.4}, clip {}), epsilon = {eps:.4} at delta = {} (RDP); {}; train loss {:.4} nats/token",
                    o.steps, super::Num(a.clip), super::Num(a.delta), o.training, o.train_loss
                );
            }
            _ => {
                let _ = writeln!(
                    t,
                    "training: {} steps of plain SGD (not private); {}; train loss {:.4} nats/token",
                    o.steps, o.training, o.train_loss
                );
            }
        }
        let _ = writeln!(
            t,
            "statistic: log-perplexity in nats summed over the {} secret digits; the canary scores {:.4}",
            a.digits, e.secret_score
        );
        let _ = writeln!(
            t,
            "exposure (exact, all 10^{} candidates): {:.3} bits of {:.3} (rank {})",
            a.digits, e.exposure_exact, e.log2_space, e.rank
        );
        let _ = writeln!(
            t,
            "exposure (interpolated, {} random references): {:.3} bits (at most {:.3})",
            e.references,
            e.exposure_interpolated,
            (e.references as f64).log2()
        );
        let _ = writeln!(
            t,
            "exposure (extrapolated, skew-normal fitted by moments): {:.3} bits",
            e.exposure_extrapolated
        );
        let _ = writeln!(t, "{seconds:.2} s");
        t
    };
    emit(&text)
}
