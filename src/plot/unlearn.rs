//! Figures 15a–c: unlearning measured against exact retraining (issue 15, E5), one panel per
//! forget set. No lower bound of the catalogue applies to approximate unlearning; every
//! figure's yardstick is the reference models retrained on D ∖ F.

use super::chart::{Chart, Panels, Series, Stroke};
use super::records::UnlearnRecord;
use super::{Written, PALETTE};
use crate::experiment::summary::mean_ci;
use crate::experiment::unlearn::{ArmReport, Ci, ForgetSet, UnlearnReport, Utility};
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

/// The records of each forget set present, in [`ForgetSet::NAMES`] order.
fn by_forget<'a>(recs: &[&'a UnlearnRecord]) -> Vec<(ForgetSet, Vec<&'a UnlearnReport>)> {
    ForgetSet::NAMES
        .iter()
        .filter_map(|n| ForgetSet::parse(n).ok())
        .filter_map(|k| {
            let v: Vec<&UnlearnReport> = recs
                .iter()
                .filter(|r| r.output.forget == k)
                .map(|r| &r.output)
                .collect();
            (!v.is_empty()).then_some((k, v))
        })
        .collect()
}

/// The arm (method, steps) of every report.
fn arm<'a>(reps: &[&'a UnlearnReport], method: &str, steps: Option<usize>) -> Vec<&'a ArmReport> {
    reps.iter()
        .filter_map(|r| {
            r.arms
                .iter()
                .find(|a| a.method == method && a.steps == steps)
        })
        .collect()
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
        let steps: Vec<usize> = reps[0]
            .arms
            .iter()
            .filter(|a| a.method == "gradient_ascent")
            .filter_map(|a| a.steps)
            .collect();
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
                    let cis: Vec<Ci> = arm(reps, "gradient_ascent", Some(s))
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
        panels.push(Chart {
            stem: String::new(),
            title: caption(*kind, reps),
            x_label: "gradient-ascent steps on F".into(),
            y_label: "accuracy / AUC".into(),
            x_log: false,
            y_log: false,
            x_range: Some((0.0, x_max)),
            series,
            shades: vec![],
            vlines: vec![],
            y_range: Some((0.0, 1.0)),
            note: None,
        });
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
    fig.draw(out)?;
    Ok(Written {
        files: fig.files(out),
        summary: "fig15a: forget/retain/test accuracy and forget loss AUC vs gradient-ascent \
                  steps, with the retrained models' lines"
            .into(),
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
/// method at its `steps`, the gradient-ascent step sweep as a line, and the ideal F of two
/// sets of N retrained models dotted.
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
            let steps = reps[0]
                .arms
                .iter()
                .filter(|a| a.method == m && a.relearn.len() > 1)
                .map(|a| a.steps)
                .next();
            let Some(steps) = steps else { continue };
            let a = arm(reps, m, steps);
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
        let ga: Vec<(f64, f64, f64)> = reps[0]
            .arms
            .iter()
            .filter(|a| a.method == "gradient_ascent")
            .map(|a| point(&arm(reps, "gradient_ascent", a.steps)))
            .collect();
        series.push(line(
            "gradient ascent, 0 → max steps".into(),
            PALETTE[3],
            ga,
            Stroke::Dotted,
        ));
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
        panels.push(Chart {
            stem: String::new(),
            title: caption(*kind, reps),
            x_label: "utility ToW = Π(1 − |Δacc vs retrain|)".into(),
            y_label: "forgetting quality F (plug-in)".into(),
            x_log: false,
            y_log: false,
            x_range: Some((0.0, 1.0)),
            series,
            shades: vec![],
            vlines: vec![],
            y_range: Some((0.0, 0.5)),
            note: None,
        });
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
    fig.draw(out)?;
    Ok(Written {
        files: fig.files(out),
        summary: "fig15b: forgetting quality F vs utility (ToW) per method, ideal F at N dashed"
            .into(),
    })
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
            let a = arm(reps, m, a0.steps);
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
        panels.push(Chart {
            stem: String::new(),
            title: format!(
                "{}; relearned on {} records",
                caption(*kind, reps),
                reps[0].relearn_size
            ),
            x_label: "relearning steps on 10 % of F".into(),
            y_label: "accuracy on the other 90 % of F".into(),
            x_log: false,
            y_log: false,
            x_range: Some((0.0, x_max)),
            series,
            shades: vec![],
            vlines: vec![],
            y_range: Some((0.0, 1.0)),
            note: None,
        });
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
    fig.draw(out)?;
    Ok(Written {
        files: fig.files(out),
        summary: "fig15c: relearning curves per method with the retrained control".into(),
    })
}
