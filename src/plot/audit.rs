//! The DP-SGD audit figure (fig12) from the records of an `audit` sweep.

use super::chart::{tick, Chart, Series, Shade, Stroke};
use super::records::AuditRecord;
use super::{curve, Written, PALETTE};
use crate::experiment::audit::AuditMethod;
use crate::privacy::sgd::PlantedBug;
use crate::Result;
use std::path::Path;

/// The diagonal and the region above it.
const DIAGONAL: (u8, u8, u8) = (190, 0, 0);

/// The colour of a planted bug: the correct DP-SGD black, each bug its own palette colour
/// (skipping the palette's red, too close to the diagonal's).
fn color_of(bug: PlantedBug) -> (u8, u8, u8) {
    match PlantedBug::ALL.iter().position(|&b| b == bug) {
        Some(0) | None => (0, 0, 0),
        Some(i) => PALETTE[if i <= 3 { i - 1 } else { i } % PALETTE.len()],
    }
}

/// How a method's size reads in a label.
fn size_of(r: &AuditRecord) -> String {
    let c = r.params.config();
    match c.method {
        crate::privacy::audit::dpsgd::Method::MultiRun { runs } => {
            format!("multi-run, K = {runs} runs per world")
        }
        crate::privacy::audit::dpsgd::Method::OneRun { canaries, guesses } => {
            format!("one run, M = {canaries} canaries, R = {guesses} guesses")
        }
    }
}

/// fig12: mean ε_LB (± 95% CI over replicates) vs the accountant's ε, one series per planted
/// bug and method (one run solid, multi-run dashed; the correct DP-SGD black), the diagonal
/// ε_LB = ε with the region above it shaded (no sound audit of a correct implementation may
/// enter it), and each method's ceiling (the ε_LB of a perfect adversary) dotted.
pub(super) fn fig12(recs: &[&AuditRecord], out: &Path) -> Result<Written> {
    let theory = |r: &AuditRecord| r.bounds.epsilon_theory;
    let mut series = Vec::new();
    let methods: Vec<AuditMethod> = AuditMethod::ALL
        .into_iter()
        .filter(|m| recs.iter().any(|r| r.params.method == *m))
        .collect();
    for &method in &methods {
        for bug in PlantedBug::ALL {
            let of: Vec<&AuditRecord> = recs
                .iter()
                .copied()
                .filter(|r| r.params.method == method && r.params.planted_bug == bug)
                .collect();
            if of.is_empty() {
                continue;
            }
            series.push(Series {
                label: format!(
                    "{} ({})",
                    if bug == PlantedBug::None {
                        "correct DP-SGD".to_string()
                    } else {
                        format!("bug: {bug}")
                    },
                    method.name().replace('_', "-")
                ),
                color: color_of(bug),
                points: curve(of.iter().copied(), theory, |r| r.output.epsilon_lower),
                stroke: match method {
                    AuditMethod::OneRun => Stroke::Solid,
                    AuditMethod::MultiRun => Stroke::Dashed,
                },
                markers: true,
            });
        }
    }
    let (lo, hi) = recs.iter().fold((f64::INFINITY, 0.0f64), |(a, b), r| {
        (a.min(theory(r)), b.max(theory(r)))
    });
    let (x0, x1) = (lo / 1.25, hi * 1.25);
    for &method in &methods {
        let Some(r) = recs.iter().find(|r| r.params.method == method) else {
            continue;
        };
        let ceiling = r.bounds.epsilon_lower_max;
        series.push(Series {
            label: format!(
                "ceiling of the {} = {ceiling:.2} (perfect adversary)",
                size_of(r)
            ),
            color: (110, 110, 110),
            points: vec![(x0, ceiling, 0.0), (x1, ceiling, 0.0)],
            stroke: Stroke::Dotted,
            markers: false,
        });
    }
    // The y axis ends a little above the highest ceiling or ε_LB: no audit reaches further,
    // and the diagonal's large-ε end would only flatten the measured curves.
    let top = recs
        .iter()
        .map(|r| r.bounds.epsilon_lower_max.max(r.output.epsilon_lower))
        .fold(0.0f64, f64::max)
        * 1.4;
    // The diagonal, sampled densely (ε_LB = ε is a curve on log-x, linear-y axes), up to
    // where it leaves the plot.
    let steps = 200;
    let diagonal: Vec<(f64, f64)> = (0..=steps)
        .map(|i| x0 * (x1 / x0).powf(f64::from(i) / f64::from(steps)))
        .map(|x| (x.min(top), x.min(top)))
        .collect();
    series.push(Series {
        label: "ε_LB = ε: the shaded region above it no sound audit may enter".into(),
        color: DIAGONAL,
        points: diagonal.iter().map(|&(x, y)| (x, y, 0.0)).collect(),
        stroke: Stroke::Dashed,
        markers: false,
    });
    // A shade fills below its outline: walking the top edge left to right and then the
    // diagonal back fills the region above the diagonal (the closing edge down the left
    // border and back has no area).
    let mut outline = vec![(x0, top), (x1, top)];
    outline.extend(diagonal.iter().rev().copied());
    let p = &recs[0].params;
    let reps = recs.iter().map(|r| r.replicate).max().unwrap_or(0) + 1;
    let chart = Chart {
        stem: "fig12_audit_epsilon".into(),
        title: format!(
            "Auditing DP-SGD: empirical ε_LB vs the accountant's ε (δ = {}, {}% confidence, {reps} replicate{})",
            tick(p.delta),
            tick(100.0 * (1.0 - p.alpha)),
            if reps == 1 { "" } else { "s" }
        ),
        x_label: "theoretical ε (RDP accountant, σ calibrated to it; log scale)".into(),
        y_label: "empirical lower bound ε_LB".into(),
        x_log: true,
        y_log: false,
        x_range: Some((x0, x1)),
        series,
        shades: vec![Shade {
            color: DIAGONAL,
            upper: outline,
        }],
        vlines: vec![],
        note: Some(format!(
            "Above the diagonal an implementation is caught: with probability ≥ {} a correct DP-SGD's ε_LB stays below ε. \
             No audit can report more than its ceiling, so at large ε even a broken DP-SGD cannot be caught at this audit size; \
             bugs that reach the ceiling at every ε overlap there. \
             Dirac gradient canary, logistic regression, N = {}, q = {}, T = {} steps.",
            tick(1.0 - p.alpha),
            p.examples,
            tick(p.sample_rate),
            recs[0].output.steps
        )),
        y_range: Some((0.0, top)),
    };
    chart.draw(out)?;
    Ok(Written {
        files: chart.files(out),
        summary: "fig12: DP-SGD audit, empirical epsilon_LB vs theoretical epsilon per planted bug and method, diagonal with the region above shaded, each method's ceiling".into(),
    })
}
