//! Figure 11: log-log ROC curves of the membership-inference attacks, with and without DP.

use super::chart::{Chart, Series, Stroke};
use super::records::MiaRecord;
use super::{Written, PALETTE};
use crate::experiment::mia::MiaBounds;
use crate::experiment::summary::mean_ci;
use crate::privacy::audit::roc::log_grid;
use crate::Result;
use std::collections::BTreeMap;
use std::path::Path;

/// The attacks drawn, with their palette colours (the other LiRA variants are in the
/// records and the CLI's table).
const DRAWN: [(&str, &str, usize); 4] = [
    ("loss", "loss threshold (Yeom 2018)", 7),
    ("lira_online", "LiRA online (Carlini 2022)", 0),
    ("lira_offline_cdf", "LiRA offline, one-sided (paper)", 2),
    ("rmia_offline", "RMIA offline (Zarifzadeh 2024)", 3),
];

/// The DP setting of a record as a label and a sort key (∞ first).
fn privacy(r: &MiaRecord) -> (String, f64) {
    match r.bounds.epsilon {
        None => ("no DP".into(), f64::INFINITY),
        Some(e) => (format!("DP-SGD ε = {e}"), e),
    }
}

/// fig11: every drawn attack's ROC (mean TPR over replicates at each grid FPR; TPR = 0
/// points are left out of the log scale) per DP setting — solid without DP, dashed with the
/// largest ε, dotted with the next — the chance diagonal and each ε's DP bound
/// TPR ≤ min(e^ε·FPR + δ, 1 − e^{−ε}(1 − δ − FPR)) in black with its setting's stroke.
///
/// # Errors
/// Drawing failures.
pub fn fig11(recs: &[&MiaRecord], out: &Path) -> Result<Written> {
    // settings sorted: no DP, then decreasing ε.
    let mut settings: Vec<(String, f64, MiaBounds)> = Vec::new();
    for r in recs {
        let (label, e) = privacy(r);
        if !settings.iter().any(|s| s.0 == label) {
            settings.push((label, e, r.bounds));
        }
    }
    settings.sort_by(|a, b| b.1.total_cmp(&a.1));
    let strokes = [Stroke::Solid, Stroke::Dashed, Stroke::Dotted];
    let mut series = Vec::new();
    for (k, (label, _, _)) in settings.iter().enumerate().take(strokes.len()) {
        for (name, pretty, colour) in DRAWN {
            // (fpr bits) → TPRs over replicates.
            let mut cells: BTreeMap<u64, (f64, Vec<f64>)> = BTreeMap::new();
            for r in recs.iter().filter(|r| privacy(r).0 == *label) {
                if let Some(a) = r.output.attacks.iter().find(|a| a.attack == name) {
                    for p in &a.roc {
                        cells
                            .entry(p.fpr.to_bits())
                            .or_insert((p.fpr, Vec::new()))
                            .1
                            .push(p.tpr);
                    }
                }
            }
            let mut points: Vec<(f64, f64, f64)> = cells
                .values()
                .filter_map(|(fpr, tprs)| {
                    let m = tprs.iter().sum::<f64>() / tprs.len() as f64;
                    let hw = mean_ci(tprs, 0.95).map_or(0.0, |c| c.half_width);
                    (m > 0.0).then_some((*fpr, m, if hw.is_finite() { hw } else { 0.0 }))
                })
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            series.push(Series {
                label: format!("{pretty}, {label}"),
                color: PALETTE[colour],
                points,
                stroke: strokes[k],
                markers: false,
            });
        }
    }
    let grid = log_grid(1e-4, 41);
    series.push(Series {
        label: "chance (TPR = FPR)".into(),
        color: (120, 120, 120),
        points: grid.iter().map(|&f| (f, f, 0.0)).collect(),
        stroke: Stroke::Dotted,
        markers: false,
    });
    for (k, (label, _, b)) in settings.iter().enumerate().take(strokes.len()) {
        if b.epsilon.is_some() {
            series.push(Series {
                label: format!("DP bound at {label}: TPR ≤ e^ε·FPR + δ (and mirror)"),
                color: (0, 0, 0),
                points: grid
                    .iter()
                    .filter_map(|&f| b.max_tpr(f).map(|t| (f, t, 0.0)))
                    .collect(),
                stroke: strokes[k],
                markers: false,
            });
        }
    }
    let first = recs
        .iter()
        .find(|r| r.bounds.epsilon.is_none())
        .unwrap_or(&recs[0]);
    let chart = Chart {
        stem: "fig11_mia_roc".into(),
        title: format!(
            "Membership inference ROC ({} × {}, {} records, {} models, {} targets)",
            first.params.shadow.model.name(),
            first.params.shadow.epochs,
            first.output.records,
            first.output.models,
            first.output.targets
        ),
        x_label: "false-positive rate (log scale)".into(),
        y_label: "true-positive rate (log scale)".into(),
        x_log: true,
        y_log: true,
        x_range: Some((1e-4, 1.0)),
        series,
        shades: vec![],
        vlines: vec![],
        y_range: Some((1e-4, 1.0)),
        note: Some(format!(
            "Models 0..T each play the target, the other M − 1 are its shadows; scores pooled \
             over targets. A curve starts at the smallest FPR its sample resolves (1 over the \
             pooled non-members); TPR = 0 is off the log scale. Held-out accuracy without DP: \
             {:.3}, training accuracy {:.3}.",
            first.output.held_out_accuracy, first.output.train_accuracy
        )),
    };
    chart.draw(out)?;
    Ok(Written {
        files: chart.files(out),
        summary: "fig11: log-log ROC of loss / LiRA / RMIA with and without DP-SGD, chance \
                  diagonal, DP bound line"
            .into(),
    })
}
