//! `lbounds memorize`: E0, memorization and the long tail — Feldman–Zhang memorization and
//! influence, head vs tail accuracy and LiRA on the tail as DP-SGD's ε shrinks, beside the
//! catalogue's bounds where their hypotheses hold.

use super::{emit, json_line, Progress};
use anyhow::Result;
use lbounds::experiment::memorize::{
    run_memorize, Ci, MemorizeBounds, MemorizeConfig, MemorizePoint, MemorizeReport, TailData,
};
use lbounds::learning::model::{Activation, ModelSpec};
use lbounds::privacy::audit::memorization::Difference;
use lbounds::privacy::audit::mia::population::LongTail;
use lbounds::privacy::audit::mia::shadow::{Cache, DpShadow, ShadowConfig};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Memorization and the long tail (Feldman 2020; Feldman & Zhang 2020). Trains M models on
/// random halves of a long-tailed data set (LiRA's keep matrix: each training record IN in
/// exactly M/2 models) at each privacy level, and reports: the memorization estimate
/// mem_i = P[h(x_i) = y_i | i in S] - P[h(x_i) = y_i | i not in S] by subpopulation (head,
/// tail, tail singletons, mislabelled; mean over records with a 95% t interval, per record
/// Newcombe's 95% interval); the influence of a tail record on a held-out record of its own
/// tail component (against another component's records); the accuracy on held-out head and
/// tail records (mean over models, 95% t interval); LiRA online's TPR at 0.1% FPR on the
/// tail training records (95% Clopper-Pearson). Beside them, at DP levels: M3's cap on mem,
/// (e^eps - 1 + 2 delta)/(e^eps + 1); M4's cap on a mislabelled record's training accuracy;
/// the DP line TPR <= e^eps * FPR + delta. Bounds whose hypotheses fail are listed with why.
///
/// Data: `gaussian` is the long-tailed Gaussian mixture (10 classes in 32 dimensions, 2500
/// training records of which about 400 in 200 tail components of 1-3 records, 1% label
/// noise; 2 test records per tail component, 400 head test records); `digits` is the shipped
/// digits with digits 7, 8, 9 kept at 3 training images each (50 test images each).
///
/// Examples:
///   lbounds memorize
///   lbounds memorize --quick --json
///   lbounds memorize --data digits --model softmax --epsilons none,4,1
///   lbounds memorize --models 64 --cache mem-cache --epsilons none,8,2
#[derive(Debug, clap::Args)]
pub struct MemorizeArgs {
    /// Long-tailed data: gaussian (mixture) or digits (shipped digits, rare digits as the
    /// tail).
    #[arg(long, default_value = "gaussian", value_parser = ["gaussian", "digits"])]
    data: String,
    /// Model family: mlp (one hidden ReLU layer, no regularisation, fits its training set)
    /// or softmax (multinomial logistic regression, weak L2).
    #[arg(long, default_value = "mlp", value_parser = ["softmax", "mlp"])]
    model: String,
    /// Hidden width of the mlp.
    #[arg(long, default_value_t = 64)]
    hidden: usize,
    /// Privacy levels, comma-separated: `none` (plain training) or a DP-SGD epsilon; default
    /// none,8,4,2,1,0.5 (none,2 with --quick). A large epsilon (100) isolates the effect of
    /// clipping.
    #[arg(long, value_delimiter = ',')]
    epsilons: Option<Vec<String>>,
    /// Models M per level (even, >= 4); default 32 (16 with --quick).
    #[arg(long)]
    models: Option<usize>,
    /// Models playing LiRA's target in turn; default 16 (4 with --quick).
    #[arg(long)]
    targets: Option<usize>,
    /// Training records of the gaussian data.
    #[arg(long)]
    records: Option<usize>,
    /// Training passes without DP; default 60 (30 with --quick).
    #[arg(long)]
    epochs: Option<usize>,
    /// DP-SGD steps (full batch) at the DP levels; default 300 for the mlp (plain training
    /// takes 60 epochs of about 20 minibatch steps each, so 60 DP steps would measure the
    /// optimiser, not privacy), the plain epochs for softmax (60 full-batch steps either way).
    #[arg(long)]
    dp_epochs: Option<usize>,
    /// The delta of DP-SGD.
    #[arg(long, default_value_t = 1e-5, allow_negative_numbers = true)]
    delta: f64,
    /// DP-SGD's clipping norm.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    clip: f64,
    /// Folder of trained models, keyed by a hash of their data and configuration (created
    /// if missing); without it nothing is stored.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Seed of the keep matrix and of every model's training streams.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Seed of the data draw.
    #[arg(long, default_value_t = 0)]
    data_seed: u64,
    /// Small sizes for a smoke test: 600 gaussian records in 16 dimensions with 10 tail
    /// components per class (or the digits), 16 models, 4 targets, 30 epochs.
    #[arg(long)]
    quick: bool,
    /// With --json: every training record's mem estimate with its interval.
    #[arg(long)]
    per_record: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: super::BackendArgs,
}

/// The privacy levels: `None` for plain training.
fn levels(a: &MemorizeArgs) -> lbounds::Result<Vec<Option<f64>>> {
    let default = if a.quick {
        "none,2"
    } else {
        "none,8,4,2,1,0.5"
    };
    let list: Vec<String> = a
        .epsilons
        .clone()
        .unwrap_or_else(|| default.split(',').map(String::from).collect());
    list.iter()
        .map(|s| match s.trim() {
            "none" => Ok(None),
            t => {
                let e: f64 = t.parse().map_err(|_| {
                    lbounds::Error::invalid("--epsilons", t, "expected `none` or a number")
                })?;
                lbounds::privacy::check_epsilon(e).map(Some)
            }
        })
        .collect()
}

/// The run at the first level (the others change only `shadow.dp`).
fn config(a: &MemorizeArgs) -> lbounds::Result<MemorizeConfig> {
    let data = match (a.data.as_str(), a.quick) {
        ("digits", _) => {
            if a.records.is_some() {
                return Err(lbounds::Error::invalid(
                    "--records",
                    a.records.unwrap_or(0),
                    "applies to --data gaussian only",
                ));
            }
            TailData::digits()
        }
        (_, true) => TailData::Gaussian(LongTail {
            records: a.records.unwrap_or(600),
            population: 0,
            features: 16,
            tail_components: 10,
            tail_test: 2,
            head_test: 200,
            ..LongTail::default()
        }),
        (_, false) => match TailData::gaussian() {
            TailData::Gaussian(lt) => TailData::Gaussian(LongTail {
                records: a.records.unwrap_or(lt.records),
                ..lt
            }),
            other => other,
        },
    };
    let mut shadow = match a.model.as_str() {
        "softmax" => ShadowConfig::softmax(),
        _ => {
            if a.hidden == 0 {
                return Err(lbounds::Error::invalid("--hidden", 0, "must be ≥ 1"));
            }
            ShadowConfig {
                model: ModelSpec::Mlp {
                    hidden: vec![a.hidden],
                    activation: Activation::Relu,
                },
                ..ShadowConfig::mlp()
            }
        }
    };
    if let Some(e) = a.epochs.or(a.quick.then_some(30)) {
        shadow.epochs = e;
    }
    shadow.backend = a.backend.backend()?;
    let point = MemorizePoint::default();
    Ok(MemorizeConfig {
        data,
        data_seed: a.data_seed,
        seed: a.seed,
        models: a.models.unwrap_or(if a.quick { 16 } else { point.models }),
        targets: a.targets.unwrap_or(if a.quick { 4 } else { point.targets }),
        shadow,
    })
}

/// `cfg` at privacy level `eps`.
fn at_level(cfg: &MemorizeConfig, eps: Option<f64>, a: &MemorizeArgs) -> MemorizeConfig {
    let mut c = cfg.clone();
    if let Some(epsilon) = eps {
        c.shadow.epochs = a.dp_epochs.unwrap_or(if a.model == "mlp" {
            300
        } else {
            cfg.shadow.epochs
        });
        c.shadow.dp = Some(DpShadow {
            epsilon,
            delta: a.delta,
            clip: a.clip,
        });
        c.shadow.batch = 0;
    }
    c
}

/// One level's results.
struct Level {
    report: MemorizeReport,
    bounds: MemorizeBounds,
    mem: Vec<Difference>,
}

/// Runs `lbounds memorize`.
pub fn run(a: MemorizeArgs) -> Result<()> {
    // Checked whether or not a DP level uses them: a bad value is a typo either way.
    lbounds::privacy::check_delta(a.delta)?;
    lbounds::error::check_positive("clip", a.clip)?;
    let eps = levels(&a)?;
    let base = config(&a)?;
    // Every level checked before any training.
    let configs: Vec<MemorizeConfig> = eps.iter().map(|&e| at_level(&base, e, &a)).collect();
    for c in &configs {
        c.validate()?;
        c.shadow.noise_multiplier()?;
    }
    let cache = a.cache.as_ref().map(Cache::new);
    let bar = Progress::with_unit(
        (base.models * configs.len()) as u64,
        "memorize: models",
        "models",
    );
    let mut out = Vec::with_capacity(configs.len());
    for c in &configs {
        let m = match run_memorize(c, cache.as_ref(), &|| bar.tick()) {
            Ok(m) => m,
            Err(e) => {
                bar.finish();
                return Err(e.into());
            }
        };
        let bounds = MemorizeBounds::of(&MemorizePoint {
            data: c.data.clone(),
            models: c.models,
            targets: c.targets,
            shadow: c.shadow.clone(),
        })?;
        out.push(Level {
            report: m.report,
            bounds,
            mem: m.mem,
        });
    }
    bar.finish();
    let text = if a.json {
        json_line(&json(&base, &out, &a))?
    } else {
        table(&base, &out, &a)
    };
    emit(&text)
}

fn json(base: &MemorizeConfig, out: &[Level], a: &MemorizeArgs) -> serde_json::Value {
    let levels: Vec<serde_json::Value> = out
        .iter()
        .map(|l| {
            let mut v = serde_json::json!({
                "epsilon": l.report.epsilon,
                "report": l.report,
                "bounds": l.bounds,
            });
            if a.per_record {
                v["mem"] = serde_json::json!(l.mem);
            }
            v
        })
        .collect();
    serde_json::json!({
        "data": base.data,
        "description": base.data.describe(),
        "model": a.model,
        "models": base.models,
        "targets": base.targets,
        "levels": levels,
    })
}

fn ci(c: &Ci) -> String {
    format!("{:.3} [{:.3}, {:.3}]", c.mean, c.lower, c.upper)
}

fn table(base: &MemorizeConfig, out: &[Level], a: &MemorizeArgs) -> String {
    let trained: usize = out.iter().map(|l| l.report.trained).sum();
    let cached: usize = out.iter().map(|l| l.report.cached).sum();
    let mut t = format!(
        "E0 memorization and the long tail: {}; {} {} models per level ({trained} trained, \
         {cached} from the cache); LiRA against {} targets\n",
        base.data.describe(),
        base.models,
        a.model,
        base.targets
    );
    let first = &out[0].report;
    let _ = writeln!(
        t,
        "{} training records ({} tail), {} test records; intervals are 95%: accuracy over \
         models (t), mem and influence over records (t), TPR Clopper-Pearson",
        first.records, first.tail_records, first.test_records
    );
    for l in out {
        let r = &l.report;
        let level = match (r.epsilon, r.noise_multiplier) {
            (Some(e), Some(s)) => format!(
                "DP-SGD eps = {} (delta = {}, sigma = {:.3}, {} full-batch steps, clip {})",
                super::Num(e),
                super::Num(a.delta),
                super::Num(s),
                l.report.epochs,
                super::Num(a.clip)
            ),
            _ => "no DP".to_string(),
        };
        let _ = writeln!(t, "\n[{level}]");
        let _ = writeln!(
            t,
            "  accuracy: train {}, head test {}, tail test {}",
            ci(&r.train_accuracy),
            ci(&r.head_test_accuracy),
            ci(&r.tail_test_accuracy)
        );
        for g in &r.groups {
            let _ = writeln!(
                t,
                "  mem {:<15} {} over {:>4} records; memorized (interval > 0) {:.3}; \
                 P[correct | in] {:.3}, | out {:.3}",
                g.group,
                ci(&g.mem),
                g.mem.count,
                g.memorized,
                g.p_in.mean,
                g.p_out.mean
            );
        }
        if let (Some(i), Some(c)) = (&r.influence, &r.influence_control) {
            let _ = writeln!(
                t,
                "  influence of a tail record on a test record of its component {} ({} pairs); \
                 control (another component) {}",
                ci(i),
                i.count,
                ci(c)
            );
        }
        for li in &r.lira {
            let _ = writeln!(
                t,
                "  {:<27} tail TPR@0.1%FPR {:.4} [{:.4}, {:.4}] ({} members), tail AUC {:.3}",
                li.attack, li.tpr_at_0_1pct_fpr, li.tpr_lower, li.tpr_upper, li.members, li.auc
            );
        }
        let b = &l.bounds;
        if let Some(m3) = b.m3_mem_cap {
            let _ = writeln!(
                t,
                "  M3 cap on every mem_i: {m3:.4} (probability difference); mean tail mem {:.3}",
                r.group("tail").map_or(f64::NAN, |g| g.mem.mean)
            );
        }
        if let (Some(m4), Some(g)) = (b.m4_mislabelled_cap, r.group("mislabelled")) {
            let _ = writeln!(
                t,
                "  M4 cap on a mislabelled record's training accuracy (c = K-1, 2 records \
                 changed): {m4:.4} (probability); measured P[correct | in] {}",
                ci(&g.p_in)
            );
        }
        if let Some(tc) = b.tpr_cap_at_0_1pct_fpr {
            let _ = writeln!(t, "  DP line: TPR@0.1%FPR <= e^eps*0.001 + delta = {tc:.4}");
        }
    }
    let mut seen: Vec<&String> = Vec::new();
    for r in out.iter().flat_map(|l| &l.bounds.not_shown) {
        if !seen.contains(&r) {
            seen.push(r);
        }
    }
    let _ = writeln!(t, "\nnot shown:");
    for r in seen {
        let _ = writeln!(t, "  {r}");
    }
    t
}
