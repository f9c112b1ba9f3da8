//! Figures 15a–d: unlearning measured against exact retraining (issue 15, E5), one panel per
//! forget set (15a–c) or per method (15d). No lower bound of the catalogue applies to approximate unlearning; every
//! figure's yardstick is the reference models retrained on D ∖ F.

use super::chart::{tick, Chart, Panels, Series, Stroke};
use super::records::UnlearnRecord;
use super::{Written, PALETTE};
use crate::experiment::summary::mean_ci;
use crate::experiment::unlearn::{ArmReport, Ci, ForgetSet, UnlearnReport, Utility};
use crate::privacy::audit::unlearning::{bin_index, BINS, BIN_WIDTH};
use crate::Result;
use std::path::Path;

/// Reads one number of an arm's (or the reference's) utility.
type Metric = fn(&Utility) -> Ci;

/// Mean over replicates of one number; the interval is the run's own for one replicate and a
/// Student-t interval over the replicates' means otherwise.
fn pooled(cis: &[Ci]) -> (f64, f64) {
    match cis {
        [one] => (one.mean, one.half_width),
        _ => {
            let means: Vec<f64> = cis.iter().map(|c| c.mean).collect();
            mean_ci(&means, 0.95).map_or((f64::NAN, 0.0), |c| (c.mean, c.half_width))
        }
    }
}

/// The records of each (model, forget set) present: models in order of first appearance,
/// forget sets in [`ForgetSet::NAMES`] order (replicates of one setting pool; models never
/// do).
fn by_forget<'a>(recs: &[&'a UnlearnRecord]) -> Vec<(ForgetSet, Vec<&'a UnlearnReport>)> {
    let mut models: Vec<&str> = Vec::new();
    for r in recs {
        if !models.contains(&r.output.model.as_str()) {
            models.push(&r.output.model);
        }
    }
    let kinds: Vec<ForgetSet> = ForgetSet::NAMES
        .iter()
        .filter_map(|n| ForgetSet::parse(n).ok())
        .collect();
    models
        .iter()
        .flat_map(|m| kinds.iter().map(move |&k| (*m, k)))
        .filter_map(|(m, k)| {
            let v: Vec<&UnlearnReport> = recs
                .iter()
                .filter(|r| r.output.forget == k && r.output.model == m)
                .map(|r| &r.output)
                .collect();
            (!v.is_empty()).then_some((k, v))
        })
        .collect()
}

/// The arm (method, steps, step size) of every report.
fn arm<'a>(
    reps: &[&'a UnlearnReport],
    method: &str,
    steps: Option<usize>,
    lr: Option<f64>,
) -> Vec<&'a ArmReport> {
    reps.iter()
        .filter_map(|r| {
            r.arms
                .iter()
                .find(|a| a.method == method && a.steps == steps && a.lr == lr)
        })
        .collect()
}

/// The gradient-ascent arms of `r` at step size `lr`, in step order.
fn ga_curve(r: &UnlearnReport, lr: Option<f64>) -> impl Iterator<Item = &ArmReport> {
    r.arms
        .iter()
        .filter(move |a| a.method == "gradient_ascent" && a.lr == lr)
}

/// The step sizes of the gradient-ascent sweep, ascending.
fn ga_lrs(r: &UnlearnReport) -> Vec<Option<f64>> {
    let mut v: Vec<Option<f64>> = Vec::new();
    for a in r.arms.iter().filter(|a| a.method == "gradient_ascent") {
        if !v.contains(&a.lr) {
            v.push(a.lr);
        }
    }
    v
}

/// The arm of `method` that carries the relearning curve (the method at its default steps
/// and step size), as (steps, lr).
fn main_arm(r: &UnlearnReport, method: &str) -> Option<(Option<usize>, Option<f64>)> {
    r.arms
        .iter()
        .find(|a| a.method == method && a.relearn.len() > 1)
        .map(|a| (a.steps, a.lr))
}

fn line(
    label: String,
    color: (u8, u8, u8),
    points: Vec<(f64, f64, f64)>,
    stroke: Stroke,
) -> Series {
    Series {
        label,
        color,
        points,
        stroke,
        markers: stroke == Stroke::Solid,
    }
}

fn caption(kind: ForgetSet, reps: &[&UnlearnReport]) -> String {
    let r = reps[0];
    format!(
        "forget set: {} (|F| = {}), {} {} models per arm",
        kind.name(),
        r.forget_size,
        r.models,
        r.model
    )
}

/// fig15a: forget / retain / test accuracy and the forget-set loss AUC vs gradient-ascent
/// steps (solid), each with the reference retrains' value (dashed, same colour).
///
/// # Errors
/// Drawing failures.
pub fn fig15a(recs: &[&UnlearnRecord], out: &Path) -> Result<Written> {
    let groups = by_forget(recs);
    let mut panels = Vec::new();
    for (kind, reps) in &groups {
        let lr = main_arm(reps[0], "gradient_ascent").and_then(|(_, lr)| lr);
        let steps: Vec<usize> = ga_curve(reps[0], lr).filter_map(|a| a.steps).collect();
        let x_max = steps.iter().copied().max().unwrap_or(1).max(1) as f64;
        let metrics: [(&str, Metric, usize); 4] = [
            ("forget accuracy", |u| u.forget_accuracy, 3),
            ("retain accuracy", |u| u.retain_accuracy, 0),
            ("test accuracy", |u| u.test_accuracy, 2),
            (
                "forget-set loss AUC (< 0.5: over-unlearning)",
                |u| u.loss_auc,
                4,
            ),
        ];
        let mut series = Vec::new();
        for (name, get, colour) in metrics {
            let points = steps
                .iter()
                .map(|&s| {
                    let cis: Vec<Ci> = arm(reps, "gradient_ascent", Some(s), lr)
                        .iter()
                        .map(|a| get(&a.utility))
                        .collect();
                    let (m, h) = pooled(&cis);
                    (s as f64, m, h)
                })
                .collect();
            series.push(line(
                format!("gradient ascent: {name}"),
                PALETTE[colour],
                points,
                Stroke::Solid,
            ));
            let cis: Vec<Ci> = reps.iter().map(|r| get(&r.reference)).collect();
            let (m, _) = pooled(&cis);
            series.push(line(
                format!("retrained on D ∖ F: {name}"),
                PALETTE[colour],
                vec![(0.0, m, 0.0), (x_max, m, 0.0)],
                Stroke::Dashed,
            ));
        }
        panels.push(panel(
            caption(*kind, reps),
            "gradient-ascent steps on F",
            "accuracy / AUC",
            x_max,
            (0.0, 1.0),
            series,
        ));
    }
    let fig = Panels {
        stem: "fig15a_unlearn_ga_steps".into(),
        title: "Gradient ascent (NegGrad) against exact retraining".into(),
        panels,
        note: Some(
            "Each arm: N originals trained on D, unlearned by full-batch gradient ascent on F; \
             dashed: N models retrained on D ∖ F (the gold reference). Success is matching the \
             dashed lines, not the lowest forget accuracy: past them the method over-unlearns \
             (loss AUC of F vs test below the reference's) and test accuracy collapses with no \
             retain term. No catalogued bound applies. Means with 95 % t intervals over models."
                .into(),
        ),
    };
    written(
        &fig,
        out,
        "fig15a: forget/retain/test accuracy and forget loss AUC vs gradient-ascent \
                  steps, with the retrained models' lines",
    )
}

/// One panel of a figure: linear axes from 0 to `x_max`, `y_range` fixed.
fn panel(
    title: String,
    x_label: &str,
    y_label: &str,
    x_max: f64,
    y_range: (f64, f64),
    series: Vec<Series>,
) -> Chart {
    Chart {
        stem: String::new(),
        title,
        x_label: x_label.into(),
        y_label: y_label.into(),
        x_log: false,
        y_log: false,
        x_range: Some((0.0, x_max)),
        series,
        shades: vec![],
        vlines: vec![],
        y_range: Some(y_range),
        note: None,
    }
}

/// Draws `fig` and says what it showed.
fn written(fig: &Panels, out: &Path, summary: &str) -> Result<Written> {
    fig.draw(out)?;
    Ok(Written {
        files: fig.files(out),
        summary: summary.into(),
    })
}

/// The methods of fig15b/c with their colours.
const METHODS: [(&str, &str, usize); 7] = [
    ("retrain", "exact retraining (second set)", 7),
    ("original", "no unlearning (original)", 5),
    ("gradient_ascent", "gradient ascent", 3),
    ("grad_diff", "gradient difference (NegGrad+)", 1),
    ("fine_tune", "fine-tune on retain set", 0),
    ("random_labels", "random labels", 6),
    ("newton", "Newton / influence step", 2),
];

/// fig15b: forgetting quality F (plug-in, the competition's estimator) against utility
/// (ToW = Π(1 − |Δacc|) over forget, retain, test, each Δ vs the reference), one marker per
/// method at its `steps`, the gradient-ascent sweep as one dotted line per step size (0 → max
/// steps), and the ideal F of two sets of N retrained models dashed.
///
/// # Errors
/// Drawing failures.
pub fn fig15b(recs: &[&UnlearnRecord], out: &Path) -> Result<Written> {
    let groups = by_forget(recs);
    let mut panels = Vec::new();
    for (kind, reps) in &groups {
        let mut series = Vec::new();
        let point = |a: &[&ArmReport]| -> (f64, f64, f64) {
            let tow = a.iter().map(|x| x.tow).sum::<f64>() / a.len().max(1) as f64;
            let (f, h) = pooled(&a.iter().map(|x| x.forgetting_quality).collect::<Vec<_>>());
            (tow, f, h)
        };
        for (m, label, colour) in METHODS {
            let Some((steps, lr)) = main_arm(reps[0], m) else {
                continue;
            };
            let a = arm(reps, m, steps, lr);
            let label = match steps {
                Some(s) => format!("{label} ({s} steps)"),
                None => label.to_string(),
            };
            series.push(Series {
                label,
                color: PALETTE[colour],
                points: vec![point(&a)],
                stroke: Stroke::Solid,
                markers: true,
            });
        }
        let lrs = ga_lrs(reps[0]);
        for (k, &lr) in lrs.iter().enumerate() {
            let ga: Vec<(f64, f64, f64)> = ga_curve(reps[0], lr)
                .map(|a| point(&arm(reps, "gradient_ascent", a.steps, lr)))
                .collect();
            // The largest step size in the method's colour, smaller ones in lighter tones.
            let colour = if k + 1 == lrs.len() {
                PALETTE[3]
            } else {
                PALETTE[8 + k % 2]
            };
            series.push(line(
                format!(
                    "gradient ascent at lr {}, 0 → max steps",
                    lr.map_or("?".into(), tick)
                ),
                colour,
                ga,
                Stroke::Dotted,
            ));
        }
        let (ideal, _) = pooled(&reps.iter().map(|r| r.plugin_ideal).collect::<Vec<_>>());
        series.push(line(
            format!(
                "ideal F at N = {} (retrain vs retrain, null)",
                reps[0].models
            ),
            (0, 0, 0),
            vec![(0.0, ideal, 0.0), (1.0, ideal, 0.0)],
            Stroke::Dashed,
        ));
        panels.push(panel(
            caption(*kind, reps),
            "utility ToW = Π(1 − |Δacc vs retrain|)",
            "forgetting quality F (plug-in)",
            1.0,
            (0.0, 0.5),
            series,
        ));
    }
    let fig = Panels {
        stem: "fig15b_unlearn_tradeoff".into(),
        title: "Forgetting quality vs utility, both relative to exact retraining".into(),
        panels,
        note: Some(
            "F = mean over forget examples of 2/2^n_i, n_i = digitize(ε_i, [0, 0.5, …, 6]) \
             (Triantafillou et al. 2024), ε_i from threshold attacks on the φ outputs of N \
             unlearned vs N retrained models (competition's compute_epsilon_s). With N models \
             per side even exact retraining scores below 1: the dashed line is that ideal \
             (distribution-free null). Top right is best. No catalogued bound applies. F's \
             interval is over forget examples (models shared)."
                .into(),
        ),
    };
    written(
        &fig,
        out,
        "fig15b: forgetting quality F vs utility (ToW) per method, ideal F at N dashed",
    )
}

/// fig15c: relearning — accuracy on the 90 % of F not relearned vs fine-tuning steps on the
/// other 10 %, per method, the retrained models (control) dashed.
///
/// # Errors
/// Drawing failures.
pub fn fig15c(recs: &[&UnlearnRecord], out: &Path) -> Result<Written> {
    let groups = by_forget(recs);
    let mut panels = Vec::new();
    for (kind, reps) in &groups {
        let steps = reps[0].relearn_steps.clone();
        let mut series = Vec::new();
        for (m, label, colour) in METHODS {
            let Some(a0) = reps[0]
                .arms
                .iter()
                .find(|a| a.method == m && a.relearn.len() == steps.len() && !a.relearn.is_empty())
            else {
                continue;
            };
            let a = arm(reps, m, a0.steps, a0.lr);
            let points = steps
                .iter()
                .enumerate()
                .map(|(k, &s)| {
                    let (mu, h) = pooled(&a.iter().map(|x| x.relearn[k]).collect::<Vec<_>>());
                    (s as f64, mu, h)
                })
                .collect();
            series.push(line(
                label.to_string(),
                PALETTE[colour],
                points,
                if m == "retrain" {
                    Stroke::Dashed
                } else {
                    Stroke::Solid
                },
            ));
        }
        let x_max = steps.last().copied().unwrap_or(1).max(1) as f64;
        panels.push(panel(
            format!(
                "{}; relearned on {} records",
                caption(*kind, reps),
                reps[0].relearn_size
            ),
            "relearning steps on 10 % of F",
            "accuracy on the other 90 % of F",
            x_max,
            (0.0, 1.0),
            series,
        ));
    }
    let fig = Panels {
        stem: "fig15c_unlearn_relearn".into(),
        title: "Relearning: a few steps on 10 % of the forget set".into(),
        panels,
        note: Some(
            "Each unlearned model (methods at their default steps) is fine-tuned by full-batch \
             gradient descent on a fixed 10 % of F; the curve is its accuracy on the other 90 %. \
             The retrained models (dashed) are the control: what learning those records teaches \
             any model. Recovery above the control is knowledge the unlearning hid rather than \
             removed (Barez et al. 2025). No catalogued bound applies."
                .into(),
        ),
    };
    written(
        &fig,
        out,
        "fig15c: relearning curves per method with the retrained control",
    )
}

/// The share of the plug-in ε_i (`None` = ∞) in each of the competition's bins
/// n = 1, …, [`BINS`] (bin n holds ε ∈ [0.5(n − 1), 0.5n), the last one ε ≥ 6 and ∞), as
/// (bin centre in ε, share, 0) points.
fn epsilon_histogram<'a>(eps: impl Iterator<Item = &'a Option<f64>>) -> Vec<(f64, f64, f64)> {
    let mut counts = [0usize; BINS];
    for e in eps {
        let n = bin_index(e.unwrap_or(f64::INFINITY)).clamp(1, BINS);
        counts[n - 1] += 1;
    }
    let total = counts.iter().sum::<usize>().max(1) as f64;
    counts
        .iter()
        .enumerate()
        .map(|(b, &c)| ((b as f64 + 0.5) * BIN_WIDTH, c as f64 / total, 0.0))
        .collect()
}

/// fig15d: histograms of the per-example ε_i (plug-in, the competition's bins), one panel per
/// method at its default steps, one solid curve per forget set; the exact-retraining arm's
/// histogram (a second set of models retrained on D ∖ F: the ideal at this N) dashed in the
/// same colour in every other panel. Each panel's title gives F per forget set and its ideal.
///
/// # Errors
/// Drawing failures.
pub fn fig15d(recs: &[&UnlearnRecord], out: &Path) -> Result<Written> {
    let groups = by_forget(recs);
    let x_max = BINS as f64 * BIN_WIDTH;
    let mut panels = Vec::new();
    let mut f_rows: Vec<String> = Vec::new();
    for (m, label, _) in METHODS {
        let mut series = Vec::new();
        let mut fs = Vec::new();
        let mut ideals = Vec::new();
        let mut steps_of = None;
        for (k, (kind, reps)) in groups.iter().enumerate() {
            let Some((steps, lr)) = main_arm(reps[0], m) else {
                continue;
            };
            steps_of = steps;
            let colour = PALETTE[k];
            let a = arm(reps, m, steps, lr);
            let (f, _) = pooled(&a.iter().map(|x| x.forgetting_quality).collect::<Vec<_>>());
            let (ideal, _) = pooled(&reps.iter().map(|r| r.plugin_ideal).collect::<Vec<_>>());
            let name = format!("{} {}", reps[0].model, kind.name());
            fs.push(format!("{f:.3}"));
            if m == "retrain" {
                ideals.push(format!("{ideal:.3}"));
            }
            series.push(line(
                format!("{name} (|F| = {})", reps[0].forget_size),
                colour,
                epsilon_histogram(a.iter().flat_map(|x| &x.epsilon_plugin)),
                Stroke::Solid,
            ));
            if m == "retrain" {
                // The legend is the first panel's: name the dashed reference there.
                series.push(line(
                    format!("{name}: exact retraining (the ideal), dashed"),
                    colour,
                    vec![],
                    Stroke::Dashed,
                ));
            } else {
                let Some((rs, rl)) = main_arm(reps[0], "retrain") else {
                    continue;
                };
                series.push(line(
                    format!("{name}: exact retraining (the ideal)"),
                    colour,
                    epsilon_histogram(
                        arm(reps, "retrain", rs, rl)
                            .iter()
                            .flat_map(|x| &x.epsilon_plugin),
                    ),
                    Stroke::Dashed,
                ));
            }
        }
        if series.is_empty() {
            continue;
        }
        f_rows.push(format!("{label} {}", fs.join(" / ")));
        if !ideals.is_empty() {
            f_rows.push(format!("null at N (the ideal) {}", ideals.join(" / ")));
        }
        let title = match steps_of {
            Some(s) => format!("{label} ({s} steps)"),
            None => label.to_string(),
        };
        panels.push(panel(
            title,
            "ε_i (plug-in; bins of 0.5, the last ≥ 6 or ∞)",
            "share of forget examples",
            x_max,
            (0.0, 1.0),
            series,
        ));
    }
    let order: Vec<String> = groups
        .iter()
        .map(|(k, reps)| format!("{} {}", reps[0].model, k.name()))
        .collect();
    let models = groups.first().map_or(0, |(_, reps)| reps[0].models);
    let mut note = format!(
        "ε_i of each forget example from threshold attacks on the φ outputs of N = {models} \
         unlearned vs N reference models (competition's compute_epsilon_s, Triantafillou et al. \
         2024); bins of width 0.5 as in F = mean 2/2^n_i. Ideal: exact retraining (dashed; its \
         own panel first) — with N models per side even two retrained sets give ε_i > 0, and \
         its F is the distribution-free null, not 1. Mass right of the dashed curve is what the \
         method failed to forget (or over-forgot: F counts both). No catalogued bound applies. \
         F ({}): {}.",
        order.join(" / "),
        f_rows.join("; ")
    );
    let mut skipped: Vec<&str> = Vec::new();
    for r in recs {
        for why in &r.output.skipped {
            if !skipped.contains(&why.as_str()) {
                skipped.push(why);
            }
        }
    }
    if !skipped.is_empty() {
        note.push_str(&format!(" Skipped: {}.", skipped.join("; ")));
    }
    let fig = Panels {
        stem: "fig15d_unlearn_epsilon_hist".into(),
        title: "Per-example ε_i of each method against exact retraining".into(),
        panels,
        note: Some(note),
    };
    written(
        &fig,
        out,
        "fig15d: per-example ε_i histograms per method, exact retraining dashed as the ideal",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ε_i histogram uses the competition's bins: ε ∈ [0, 0.5) in the first, 0.5 in the
    /// second (edges belong to the bin above, as `digitize`), 6 and ∞ (`None`) in the last;
    /// shares sum to 1. Mutation seen failing: `None` read as ε = 0 (`unwrap_or(0.0)`) — the
    /// never-separated examples land in the ideal bin.
    #[test]
    fn epsilon_histogram_uses_the_competition_bins() {
        let eps = [Some(0.1), Some(0.5), None, Some(6.0), Some(0.0)];
        let h = epsilon_histogram(eps.iter());
        assert_eq!(h.len(), BINS);
        let share = |bin: usize| h[bin - 1].1;
        assert_eq!(share(1), 0.4);
        assert_eq!(share(2), 0.2);
        assert_eq!(share(BINS), 0.4);
        assert_eq!(h[0].0, 0.25);
        assert_eq!(h[BINS - 1].0, 6.25);
        assert!((h.iter().map(|p| p.1).sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
