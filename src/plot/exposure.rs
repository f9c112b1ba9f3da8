//! The exposure figure (fig10) from the records of an `exposure` sweep.

use super::chart::{Chart, Series, Stroke};
use super::records::ExposureRecord;
use super::{curve, Written, PALETTE};
use crate::Result;
use std::path::Path;

/// The ε of a record as a curve key: +∞ for a non-private run.
fn epsilon_of(r: &ExposureRecord) -> f64 {
    r.params.epsilon.unwrap_or(f64::INFINITY)
}

/// fig10: mean exposure (exact, by enumeration) ± 95% CI over replicates vs insertions, one
/// curve per ε (non-private first, then decreasing ε), the ceiling log₂|R| dashed.
pub(super) fn fig10(recs: &[&ExposureRecord], out: &Path) -> Result<Written> {
    let mut eps: Vec<f64> = recs.iter().map(|r| epsilon_of(r)).collect();
    eps.sort_by(|a, b| b.total_cmp(a));
    eps.dedup();
    let mut series: Vec<Series> = eps
        .iter()
        .enumerate()
        .map(|(i, &e)| Series {
            label: if e.is_infinite() {
                "ε = ∞ (plain SGD)".to_string()
            } else {
                format!(
                    "ε = {} (DP-SGD, δ = {})",
                    super::chart::tick(e),
                    super::chart::tick(recs[0].params.delta)
                )
            },
            color: PALETTE[i % PALETTE.len()],
            points: curve(
                recs.iter().copied().filter(|r| epsilon_of(r) == e),
                |r| r.params.insertions as f64,
                |r| r.output.exposure_exact,
            ),
            stroke: Stroke::Solid,
            markers: true,
        })
        .collect();
    let ceiling = recs[0].bounds.log2_space;
    let xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    let (lo, hi) = xs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    series.push(Series {
        label: format!(
            "maximum log₂|R| = {ceiling:.2} bits (rank 1 of all {} secrets)",
            10u64.pow(recs[0].params.digits as u32)
        ),
        color: (0, 0, 0),
        points: vec![(lo, ceiling, 0.0), (hi, ceiling, 0.0)],
        stroke: Stroke::Dashed,
        markers: false,
    });
    let p = &recs[0].params;
    let reps = recs.iter().map(|r| r.replicate).max().unwrap_or(0) + 1;
    let chart = Chart {
        stem: "fig10_exposure_vs_insertions".into(),
        title: format!(
            "Canary exposure vs insertions ({}-digit secret, {} tokens, {reps} replicates)",
            p.digits, p.tokens
        ),
        x_label: "copies of the canary in the training text (log scale)".into(),
        y_label: "exposure, exact by enumeration (bits)".into(),
        x_log: true,
        y_log: false,
        x_range: None,
        series,
        shades: vec![],
        vlines: vec![],
        note: None,
        y_range: Some((0.0, ceiling + 1.5)),
    };
    chart.draw(out)?;
    Ok(Written {
        files: chart.files(out),
        summary: "fig10: canary exposure (exact) vs insertions per epsilon, 95% CI bands, ceiling log2|R| = 19.93 bits".into(),
    })
}
