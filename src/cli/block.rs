//! `lbounds block`: task blocking by MLAC (Henderson et al., "Self-Destructing Models",
//! AIES 2023, arXiv 2211.14946) measured by a random-search fine-tuning adversary.

use super::{emit, json_line, set_threads, Progress};
use anyhow::Result;
use lbounds::experiment::block::{
    summarize, summarize_gap, BlockExperiment, BlockPoint, BlockReport, MODELS,
};
use lbounds::experiment::summary::MeanCi;
use lbounds::experiment::{default_chunk, run_streaming};
use serde::Serialize;
use std::fmt::Write as _;

/// Task blocking: pretrains a tanh trunk on a good linear task (with a reconstruction loss,
/// so its features also carry a bad task at cosine rho), blocks it with MLAC (meta-learned
/// adversarial censoring: L_good - lambda * mean_k L_bad after k inner steps of a simulated
/// adversary, differentiated through the unrolled steps), and lets a random-search adversary
/// (30 configurations: Adam lr, steps 10..1000, head reset, frozen trunk) fine-tune four
/// models on n bad examples: pretrained, random-init, fine-tuned (lambda = 0 control) and
/// MLAC. Reports each model's good-task accuracy and the adversary's bad-task test accuracy
/// (mean and 95% CI over replicates) at every n and rho, with the best linear probe
/// (frozen trunk, what MLAC trains against) and the best overall (full-trunk fine-tuning
/// included: the break test). Blocking works where MLAC stays near random-init.
///
/// --backend sets where the adversary fine-tunes and every model is scored; pretraining,
/// MLAC and the lambda = 0 control always run on the native backend (MLAC differentiates
/// through the simulated adversary's unrolled steps by hand).
///
/// Examples:
///   lbounds block --quick
///   lbounds block
///   lbounds block --rho 0 --examples 20,1000 --replicates 10 --json
///   lbounds block --lambda 3 --inner-steps 16
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cosines rho = cos(w_good, w_bad) to run, comma-separated, each in [-1, 1].
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, default_values_t = [0.0, 0.5, 0.9])]
    rho: Vec<f64>,
    /// The adversary's budgets n (bad examples), comma-separated, increasing.
    #[arg(long, value_delimiter = ',', default_values_t = [20, 50, 100, 200, 1000])]
    examples: Vec<usize>,
    /// Replicates per rho (independent tasks, data and initialisations).
    #[arg(long, default_value_t = 5)]
    replicates: u32,
    /// MLAC's lambda (weight of the simulated adversary's loss; 0 is plain fine-tuning).
    #[arg(long, allow_negative_numbers = true)]
    lambda: Option<f64>,
    /// MLAC's inner steps K of the simulated adversary (default 10).
    #[arg(long)]
    inner_steps: Option<usize>,
    /// MLAC's inner step size (default 1).
    #[arg(long, allow_negative_numbers = true)]
    inner_lr: Option<f64>,
    /// MLAC's outer Adam steps (default 300; also the lambda = 0 control's).
    #[arg(long)]
    mlac_steps: Option<usize>,
    /// MLAC's outer Adam step size (default 0.01).
    #[arg(long, allow_negative_numbers = true)]
    mlac_lr: Option<f64>,
    /// Pretraining's Adam steps (default 600).
    #[arg(long)]
    pretrain_steps: Option<usize>,
    /// Weight of pretraining's reconstruction loss (default 1; 0: the trunk need not keep
    /// the bad task).
    #[arg(long, allow_negative_numbers = true)]
    reconstruction: Option<f64>,
    /// Random-search configurations per model and n (default 30).
    #[arg(long)]
    configs: Option<usize>,
    /// A small size for a quick look (p = 10, h = 16, short training, 6 configurations,
    /// n = 20 and 200, 2 replicates); other flags still override it.
    #[arg(long)]
    quick: bool,
    #[command(flatten)]
    run: super::RunArgs,
}

fn point(a: &Args) -> BlockPoint {
    let mut p = if a.quick {
        BlockPoint::quick()
    } else {
        BlockPoint::default()
    };
    // `--quick` keeps its own budgets unless --examples moves them off the default.
    if !(a.quick && a.examples == BlockPoint::default().examples) {
        p.examples.clone_from(&a.examples);
    }
    if let Some(v) = a.lambda {
        p.mlac.lambda = v;
    }
    if let Some(v) = a.inner_steps {
        p.mlac.inner_steps = v;
    }
    if let Some(v) = a.inner_lr {
        p.mlac.inner_lr = v;
    }
    if let Some(v) = a.mlac_steps {
        p.mlac.steps = v;
    }
    if let Some(v) = a.mlac_lr {
        p.mlac.lr = v;
    }
    if let Some(v) = a.pretrain_steps {
        p.pretraining.steps = v;
    }
    if let Some(v) = a.reconstruction {
        p.pretraining.reconstruction = v;
    }
    if let Some(v) = a.configs {
        p.configs = v;
    }
    p
}

/// One line of the summary.
#[derive(Serialize)]
struct Row {
    rho: f64,
    model: &'static str,
    examples: usize,
    best: Option<MeanCi>,
    best_frozen: Option<MeanCi>,
    gap_to_random_init: Option<MeanCi>,
}

/// Runs `lbounds block`.
pub fn run(a: Args) -> Result<()> {
    let mut base = point(&a);
    base.backend = a.run.backend.backend()?;
    let replicates = if a.quick && a.replicates == 5 {
        2
    } else {
        a.replicates
    };
    if replicates == 0 {
        return Err(lbounds::Error::invalid("--replicates", 0, "need at least one").into());
    }
    if a.rho.is_empty() {
        return Err(lbounds::Error::invalid("--rho", "", "need at least one value").into());
    }
    let points: Vec<BlockPoint> = a
        .rho
        .iter()
        .map(|&rho| BlockPoint {
            rho,
            ..base.clone()
        })
        .collect();
    for p in &points {
        p.check()?;
    }
    set_threads(a.run.threads)?;
    let total = points.len() as u64 * u64::from(replicates);
    let bar = Progress::new(total, "blocking runs");
    let mut reports: Vec<(usize, BlockReport)> = Vec::with_capacity(total as usize);
    let jobs = (0..points.len() as u64).flat_map(|p| (0..replicates).map(move |r| (p, r)));
    let result = run_streaming(
        &BlockExperiment,
        |i| Ok(points[i as usize].clone()),
        jobs,
        a.run.seed,
        default_chunk(),
        &|| bar.tick(),
        |r| Ok((r.point as usize, r.output)),
        |r| {
            reports.push(r);
            Ok(())
        },
    );
    bar.finish();
    result?;
    let rows = summary(&points, &reports);
    let text = if a.run.json {
        json_line(&serde_json::json!({
            "params": base,
            "rho": a.rho,
            "replicates": replicates,
            "seed": a.run.seed,
            "summary": rows,
            "good_accuracy": good(&points, &reports),
            "runs": reports.iter().map(|(i, r)| serde_json::json!({"rho": points[*i].rho, "report": r})).collect::<Vec<_>>(),
        }))?
    } else {
        table(&points, &reports, &rows, replicates)
    };
    emit(&text)
}

fn summary(points: &[BlockPoint], reports: &[(usize, BlockReport)]) -> Vec<Row> {
    let mut rows = Vec::new();
    for (i, p) in points.iter().enumerate() {
        let at = || reports.iter().filter(move |(j, _)| *j == i).map(|(_, r)| r);
        for &n in &p.examples {
            for model in MODELS {
                rows.push(Row {
                    rho: p.rho,
                    model,
                    examples: n,
                    best: summarize(at(), model, n, |b| Some(b.best)),
                    best_frozen: summarize(at(), model, n, |b| b.best_frozen),
                    gap_to_random_init: (model != "random_init")
                        .then(|| summarize_gap(at(), model, n, |b| Some(b.best)))
                        .flatten(),
                });
            }
        }
    }
    rows
}

/// Per rho and model: mean good-task accuracy with its CI.
fn good(points: &[BlockPoint], reports: &[(usize, BlockReport)]) -> serde_json::Value {
    let mut out = Vec::new();
    for (i, p) in points.iter().enumerate() {
        for model in MODELS {
            let xs: Vec<f64> = reports
                .iter()
                .filter(|(j, _)| *j == i)
                .filter_map(|(_, r)| r.model(model))
                .map(|m| m.good_accuracy)
                .collect();
            out.push(serde_json::json!({
                "rho": p.rho,
                "model": model,
                "good_accuracy": lbounds::experiment::summary::mean_ci(&xs, 0.95),
            }));
        }
    }
    serde_json::Value::Array(out)
}

fn ci(c: Option<MeanCi>) -> String {
    c.map_or_else(
        || "-".into(),
        |c| format!("{:.3} ± {:.3}", c.mean, c.half_width),
    )
}

fn table(
    points: &[BlockPoint],
    reports: &[(usize, BlockReport)],
    rows: &[Row],
    replicates: u32,
) -> String {
    let p0 = &points[0];
    let mut t = format!(
        "task blocking (MLAC, lambda = {}, K = {} inner steps at lr {}, {} outer steps); \
         adversary: {} random-search configurations; mean ± 95% CI over {replicates} replicates\n",
        super::Num(p0.mlac.lambda),
        p0.mlac.inner_steps,
        super::Num(p0.mlac.inner_lr),
        p0.mlac.steps,
        p0.configs
    );
    for (i, p) in points.iter().enumerate() {
        let reps: Vec<&BlockReport> = reports
            .iter()
            .filter(|(j, _)| *j == i)
            .map(|(_, r)| r)
            .collect();
        let floor = reps.first().map_or(f64::NAN, |r| r.good_label_floor);
        let _ = writeln!(
            t,
            "\nrho = {} (bad accuracy of the good label: {floor:.3})",
            p.rho
        );
        let _ = write!(t, "{:<14}", "good accuracy");
        for model in MODELS {
            let xs: Vec<f64> = reps
                .iter()
                .filter_map(|r| r.model(model))
                .map(|m| m.good_accuracy)
                .collect();
            let _ = write!(
                t,
                "  {model}: {}",
                ci(lbounds::experiment::summary::mean_ci(&xs, 0.95))
            );
        }
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "{:>6}  {:<12} {:>15} {:>15} {:>17}",
            "n", "model", "bad acc (best)", "linear probe", "gap to random"
        );
        for r in rows.iter().filter(|r| r.rho == p.rho) {
            let _ = writeln!(
                t,
                "{:>6}  {:<12} {:>15} {:>15} {:>17}",
                r.examples,
                r.model,
                ci(r.best),
                ci(r.best_frozen),
                if r.model == "random_init" {
                    String::new()
                } else {
                    ci(r.gap_to_random_init)
                }
            );
        }
    }
    t
}
