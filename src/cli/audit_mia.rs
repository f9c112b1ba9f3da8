//! `lbounds audit mia`: membership inference against shadow-trained models (loss threshold,
//! LiRA online/offline, RMIA) on the long-tailed population, with optional DP-SGD.

use super::{emit, Progress};
use anyhow::Result;
use lbounds::commands::audit::{mia_config, mia_json, MiaFlags};
use lbounds::commands::Spelling;
use lbounds::experiment::mia::{run_audit, MiaConfig, MiaReport};
use lbounds::privacy::audit::mia::shadow::Cache;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Membership inference: trains M models (softmax regression or an MLP) on random halves of
/// a long-tailed Gaussian mixture (each record IN in exactly M/2 models), lets a few of them
/// play the target with the others as shadows, and reports each attack's AUC, TPR at 0.1 % and
/// 1 % FPR and best balanced accuracy, overall and on the canary records (tail and
/// mislabelled). Attacks: loss threshold (Yeom et al. 2018); LiRA online and offline
/// (Carlini et al. 2022; offline both as the code's two-sided logpdf and the paper's one-sided
/// CDF), each with per-example or global ("fixed") variance; RMIA offline (Zarifzadeh et al.
/// 2024). With --epsilon every model is trained by DP-SGD at that epsilon, and no attack's
/// TPR may exceed e^epsilon * FPR + delta.
///
/// Examples:
///   lbounds audit mia --models 64
///   lbounds audit mia --models 256 --cache mia-cache --json
///   lbounds audit mia --model mlp --models 64 --records 2500 --epsilon 8
#[derive(Debug, clap::Args)]
pub struct MiaArgs {
    /// Number of models M (even, >= 4). The keep matrix is drawn in blocks of 16 models, so
    /// with --cache, growing M from a multiple of 16 (64 -> 256) trains only the new models.
    #[arg(long, default_value_t = 64)]
    models: usize,
    /// Model family: softmax (multinomial logistic regression, weak L2) or mlp (one hidden
    /// ReLU layer, no regularisation, fits its training set).
    #[arg(long, default_value = "softmax", value_parser = ["softmax", "mlp"])]
    model: String,
    /// Hidden width of the mlp.
    #[arg(long, default_value_t = 64)]
    hidden: usize,
    /// Audited records (each in half of the models).
    #[arg(long, default_value_t = 10_000)]
    records: usize,
    /// Population records no model trains on (RMIA's reference points); default records/5.
    #[arg(long)]
    population: Option<usize>,
    /// Features of the population.
    #[arg(long, default_value_t = 32)]
    features: usize,
    /// How many models play the target in turn (scores pooled over them).
    #[arg(long, default_value_t = 4)]
    targets: usize,
    /// Training passes (DP: steps); default 60.
    #[arg(long)]
    epochs: Option<usize>,
    /// Learning rate; default 0.5 (softmax) or 0.2 (mlp).
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Train every model with DP-SGD (full batch, sampling rate 1) at this epsilon.
    #[arg(long, allow_negative_numbers = true)]
    epsilon: Option<f64>,
    /// The delta of DP-SGD.
    #[arg(long, default_value_t = 1e-5, allow_negative_numbers = true)]
    delta: f64,
    /// DP-SGD's clipping norm.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    clip: f64,
    /// Folder of trained models, keyed by a hash of their configuration (created if
    /// missing); without it nothing is stored.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Seed of the keep matrix and of every model's training streams.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Seed of the population draw.
    #[arg(long, default_value_t = 0)]
    data_seed: u64,
    /// With --json: also print each attack's ROC curve at log-spaced FPRs.
    #[arg(long)]
    roc: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: super::BackendArgs,
}

fn config(a: &MiaArgs) -> lbounds::Result<MiaConfig> {
    let flags = MiaFlags {
        models: a.models,
        model: a.model.clone(),
        hidden: a.hidden,
        records: a.records,
        population: a.population,
        features: a.features,
        targets: a.targets,
        epochs: a.epochs,
        lr: a.lr,
        epsilon: a.epsilon,
        delta: a.delta,
        clip: a.clip,
        seed: a.seed,
        data_seed: a.data_seed,
    };
    mia_config(&flags, a.backend.backend()?, Spelling::Cli)
}

/// Runs `lbounds audit mia`.
pub fn run(a: MiaArgs) -> Result<()> {
    let cfg = config(&a)?;
    cfg.validate()?;
    let cache = a.cache.as_ref().map(Cache::new);
    let bar = Progress::with_unit(cfg.models as u64, "shadow models", "models");
    let report = run_audit(&cfg, cache.as_ref(), &|| bar.tick());
    bar.finish();
    let report = report?;
    let text = if a.json {
        mia_json(&report, &a.model, a.roc)? + "\n"
    } else {
        table(&report, &a)
    };
    emit(&text)
}

fn table(r: &MiaReport, a: &MiaArgs) -> String {
    let mut t = format!(
        "{} {} models ({} trained, {} from the cache) on {} records ({} canaries); {} targets\n",
        r.models, a.model, r.trained, r.cached, r.records, r.canaries, r.targets
    );
    let _ = writeln!(
        t,
        "accuracy: train {:.3}, held-out {:.3}",
        r.train_accuracy, r.held_out_accuracy
    );
    if let (Some(e), Some(d), Some(s)) = (r.epsilon, r.delta, r.noise_multiplier) {
        let _ = writeln!(
            t,
            "DP-SGD: epsilon = {e}, delta = {d}, noise multiplier {s:.4}; bound: TPR <= e^eps*FPR + delta \
             (at FPR 0.1%: {:.4})",
            (e.exp() * 1e-3 + d).min(1.0)
        );
    }
    let _ = writeln!(
        t,
        "{:<36} {:>7} {:>10} {:>10} {:>8} | canaries: {:>7} {:>10}",
        "attack", "AUC", "TPR@0.1%", "TPR@1%", "bal.acc", "AUC", "TPR@0.1%"
    );
    for at in &r.attacks {
        let o = &at.overall;
        let (ca, ct) = at
            .canaries
            .map_or((f64::NAN, f64::NAN), |c| (c.auc, c.tpr_at_0_1pct_fpr));
        let _ = writeln!(
            t,
            "{:<36} {:>7.4} {:>10.4} {:>10.4} {:>8.4} | canaries: {:>7.4} {:>10.4}",
            at.attack, o.auc, o.tpr_at_0_1pct_fpr, o.tpr_at_1pct_fpr, o.balanced_accuracy, ca, ct
        );
    }
    t
}
