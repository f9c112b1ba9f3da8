//! `lbounds onion`: the privacy onion effect (Carlini et al., NeurIPS 2022) on the long-tailed
//! population: peel the most exposed records, retrain, re-score; random and noise controls.

use super::{emit, json_line, Progress};
use anyhow::Result;
use lbounds::experiment::onion::{run_onion, OnionConfig, OnionPoint, OnionReport, Spread};
use lbounds::learning::model::{Activation, ModelSpec};
use lbounds::privacy::audit::mia::shadow::{Cache, ShadowConfig};
use lbounds::privacy::audit::mia::Attack;
use std::fmt::Write as _;
use std::path::PathBuf;

/// The privacy onion effect (Carlini, Jagielski, Zhang, Papernot, Terzis & Tramèr, "The
/// Privacy Onion Effect: Memorization is Relative", NeurIPS 2022, arXiv 2206.10469).
///
/// Trains M models on random halves of a long-tailed Gaussian mixture and scores every record
/// by its per-example LiRA TPR at a global FPR (every model playing the target in turn; a
/// record is "vulnerable" when the attack catches it in at least --level of the models that
/// trained on it). Then peels: removes the top --peel-fraction of the records, trains M new
/// models on the rest with a fresh keep matrix, re-scores, and counts the survivors that were
/// safe and are now vulnerable (newly exposed). Controls: the same number of random records
/// removed instead (--random-seeds chains: smaller data alone), and layer 0 scored twice with
/// independent models (statistical noise: overlap of the vulnerable sets, and how many records
/// turn vulnerable from re-scoring alone). Masking: in tail components of 3-5 records, remove
/// only the 2-4 neighbours of a member that is safe in layer 0, retrain, and re-score it
/// (against as many random records removed instead).
///
/// The default run (2 500 records, 64 MLPs per pool, 4 peels, 3 random chains, masking:
/// 22 pools, 1 408 models) takes a few minutes on 2 cores; --quick is the test size.
///
/// Examples:
///   lbounds onion
///   lbounds onion --quick --json
///   lbounds onion --models 128 --peels 5 --cache onion-cache
///   lbounds onion --model softmax --fpr 0.01 --level 0.25
#[derive(Debug, clap::Args)]
pub struct OnionArgs {
    /// Small sizes for tests (600 records in 16 features, 32 MLPs of width 32 per pool,
    /// 2 peels, FPR 1 %); other flags override them.
    #[arg(long)]
    quick: bool,
    /// Records N of the population (default 2500).
    #[arg(long)]
    records: Option<usize>,
    /// Features of the population (default 32).
    #[arg(long)]
    features: Option<usize>,
    /// Spread of a tail component's records around its mean, relative to the heads' (default
    /// 1; below 1 the members of a component nearly duplicate each other: the masking
    /// neighbours mask more).
    #[arg(long, allow_negative_numbers = true)]
    tail_spread: Option<f64>,
    /// Records per tail component, as MIN-MAX (default 1-3; masking targets come from
    /// components of 3-5).
    #[arg(long)]
    tail_sizes: Option<String>,
    /// Models per pool M (even, >= 4; default 64).
    #[arg(long)]
    models: Option<usize>,
    /// Layers peeled (default 4).
    #[arg(long)]
    peels: Option<usize>,
    /// Share of the original records removed per peel and per random step (default 0.05).
    #[arg(long, allow_negative_numbers = true)]
    peel_fraction: Option<f64>,
    /// Random-removal chains of the control (default 3).
    #[arg(long)]
    random_seeds: Option<usize>,
    /// Global false-positive rate of the per-example TPR (default 0.001).
    #[arg(long, allow_negative_numbers = true)]
    fpr: Option<f64>,
    /// A record is vulnerable when its per-example TPR is at least this (default 0.5).
    #[arg(long, allow_negative_numbers = true)]
    level: Option<f64>,
    /// Masking experiment: tail components (of 3-5 records) whose safe member is the target
    /// and whose 2-4 other members are removed (default 40; 0 skips it).
    #[arg(long)]
    masking_targets: Option<usize>,
    /// The scoring attack: lira_online, lira_online_fixed_variance, lira_offline_cdf, loss, …
    #[arg(long)]
    attack: Option<String>,
    /// Model family: mlp (one hidden ReLU layer, no regularisation) or softmax.
    #[arg(long, value_parser = ["softmax", "mlp"])]
    model: Option<String>,
    /// Hidden width of the mlp (default 64).
    #[arg(long)]
    hidden: Option<usize>,
    /// Training passes (default 60).
    #[arg(long)]
    epochs: Option<usize>,
    /// Learning rate (default 0.2 for the mlp, 0.5 for softmax).
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Folder of trained models, keyed by a hash of their data and configuration (created
    /// if missing); a rerun loads them instead of training.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Seed of every keep matrix, model and random removal.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Seed of the population draw.
    #[arg(long, default_value_t = 0)]
    data_seed: u64,
    /// Print one JSON object (with the survivors' paired scores).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: super::BackendArgs,
}

fn point(a: &OnionArgs) -> lbounds::Result<OnionPoint> {
    let mut p = if a.quick {
        OnionPoint::quick()
    } else {
        OnionPoint::default()
    };
    if let Some(m) = &a.model {
        let hidden = a.hidden.unwrap_or(64);
        p.shadow = match m.as_str() {
            "softmax" => ShadowConfig::softmax(),
            _ => {
                if hidden == 0 {
                    return Err(lbounds::Error::invalid("--hidden", 0, "must be ≥ 1"));
                }
                ShadowConfig {
                    model: ModelSpec::Mlp {
                        hidden: vec![hidden],
                        activation: Activation::Relu,
                    },
                    ..ShadowConfig::mlp()
                }
            }
        };
    } else if let Some(h) = a.hidden {
        if h == 0 {
            return Err(lbounds::Error::invalid("--hidden", 0, "must be ≥ 1"));
        }
        if let ModelSpec::Mlp { hidden, .. } = &mut p.shadow.model {
            *hidden = vec![h];
        }
    }
    if let Some(v) = a.tail_spread {
        p.data.tail_spread = v;
    }
    if let Some(v) = &a.tail_sizes {
        let bad = || lbounds::Error::invalid("--tail-sizes", v, "expected MIN-MAX, e.g. 3-5");
        let (lo, hi) = v.split_once('-').ok_or_else(bad)?;
        p.data.tail_size_min = lo.trim().parse().map_err(|_| bad())?;
        p.data.tail_size_max = hi.trim().parse().map_err(|_| bad())?;
    }
    p.shadow.backend = a.backend.backend()?;
    if let Some(v) = a.records {
        p.data.records = v;
    }
    if let Some(v) = a.features {
        p.data.features = v;
    }
    if let Some(v) = a.models {
        p.models = v;
    }
    if let Some(v) = a.peels {
        p.peels = v;
    }
    if let Some(v) = a.peel_fraction {
        p.peel_fraction = v;
    }
    if let Some(v) = a.random_seeds {
        p.random_seeds = v;
    }
    if let Some(v) = a.fpr {
        p.fpr = v;
    }
    if let Some(v) = a.level {
        p.level = v;
    }
    if let Some(v) = a.masking_targets {
        p.masking_targets = v;
    }
    if let Some(v) = a.epochs {
        p.shadow.epochs = v;
    }
    if let Some(v) = a.lr {
        p.shadow.lr = v;
    }
    if let Some(name) = &a.attack {
        p.attack = Attack::ALL
            .into_iter()
            .find(|at| at.name() == name)
            .ok_or_else(|| {
                lbounds::Error::unknown("attack", name, Attack::ALL.iter().map(|a| a.name()))
            })?;
    }
    p.check()?;
    Ok(p)
}

/// Runs `lbounds onion`.
pub fn run(a: OnionArgs) -> Result<()> {
    let p = point(&a)?;
    let cfg = OnionConfig {
        data_seed: a.data_seed,
        seed: a.seed,
        point: p,
    };
    let cache = a.cache.as_ref().map(Cache::new);
    let total = (cfg.point.pools() * cfg.point.models) as u64;
    let bar = Progress::with_unit(total, "onion: shadow models", "models");
    let report = run_onion(&cfg, cache.as_ref(), &|| bar.tick());
    bar.finish();
    let report = report?;
    let text = if a.json {
        json_line(&json(&report, &cfg.point)?)?
    } else {
        table(&report, &cfg.point)
    };
    emit(&text)
}

fn json(r: &OnionReport, p: &OnionPoint) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(r)?;
    v["params"] = serde_json::to_value(p)?;
    Ok(v)
}

fn table(r: &OnionReport, p: &OnionPoint) -> String {
    let mut t = format!(
        "onion effect: {} records, {} {} models per pool ({} trained, {} from the cache); \
         score: {} per-example TPR at global FPR {}; vulnerable: s >= {}\n",
        r.records,
        r.models,
        p.shadow.model.name(),
        r.trained,
        r.cached,
        p.attack.name(),
        super::Num(p.fpr),
        super::Num(p.level)
    );
    let l = &r.layer0;
    let _ = writeln!(
        t,
        "layer 0: {} vulnerable of {} (pooled TPR {:.4}); accuracy train {:.3}, held-out {:.3}",
        l.vulnerable, l.records, l.pooled_tpr, l.train_accuracy, l.held_out_accuracy
    );
    for (c, n) in r.noise.iter().enumerate() {
        let _ = writeln!(
            t,
            "noise control, chain {c} (layer 0 rescored with independent models): {} \
             vulnerable, {} in both (Jaccard {:.3}); top {} overlap {:.3} [{:.3}, {:.3}]; {} \
             survivors of peel 1 newly vulnerable",
            n.vulnerable,
            n.vulnerable_both,
            n.jaccard,
            r.removed_per_step,
            n.top_overlap,
            n.top_overlap_ci[0],
            n.top_overlap_ci[1],
            n.newly_exposed
        );
    }
    let _ = writeln!(
        t,
        "{:>4} {:>8} {:>10} {:>10} {:>8} {:>8} | random removal: {:>13} {:>11} {:>15}",
        "step",
        "records",
        "vulnerable",
        "was before",
        "newly",
        "now safe",
        "vulnerable",
        "newly",
        "share change %"
    );
    let ci =
        |s: &Spread, scale: f64| format!("{:.1} ± {:.1}", s.mean * scale, s.half_width * scale);
    for (k, c) in r.random.iter().enumerate() {
        let (v, was, newly, safe) = match k.checked_sub(1).and_then(|i| r.peels.get(i)) {
            Some(pe) => (
                pe.layer.vulnerable,
                pe.vulnerable_before.to_string(),
                pe.newly_exposed.to_string(),
                pe.newly_safe.to_string(),
            ),
            None => (l.vulnerable, "-".into(), "-".into(), "-".into()),
        };
        let _ = writeln!(
            t,
            "{:>4} {:>8} {:>10} {:>10} {:>8} {:>8} | {:>29} {:>11} {:>15}",
            c.step,
            c.records,
            v,
            was,
            newly,
            safe,
            ci(&c.vulnerable, 1.0),
            ci(&c.newly_exposed, 1.0),
            ci(&c.share_change, 100.0)
        );
    }
    if let Some(m) = &r.masking {
        let _ = writeln!(
            t,
            "masking: {} targets (of {} eligible components), {} neighbours removed: \
             s {:+.3} ± {:.3}, {} now vulnerable; {} random records removed instead: \
             s {:+.3} ± {:.3}, {} now vulnerable",
            m.targets,
            m.eligible,
            m.removed,
            m.change[0],
            m.change[1],
            m.exposed,
            m.removed,
            m.control_change[0],
            m.control_change[1],
            m.control_exposed
        );
    }
    t
}
