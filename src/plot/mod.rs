//! Figures from sweep records (SVG and PNG). Plots only read records; they never run an
//! experiment.
//!
//! Each figure reads the records of one sweep, found by the sweep's name (the configs in
//! `examples/sweeps/` produce them):
//!
//! | file | sweep | what |
//! |---|---|---|
//! | `fig1_error_vs_fraction` | `breakdown` | error ‖F − μ‖ vs f/n per rule (worst attack), Huber lower bound, breakdown point 1/2 |
//! | `fig2_kappa_vs_fraction` | `breakdown` | empirical κ̂ vs f/n per rule (worst attack) against κ ≥ f/(n − 2f) |
//! | `fig3_error_vs_dimension` | `dimension` | error vs d per rule (worst attack), the dimension-free Huber bound |
//! | `fig4_error_vs_heterogeneity` | `heterogeneity` | squared error to the honest mean vs G² at f/n = 0.2 against f·G²/(n − 2f) |
//! | `fig6_frontier` | `frontier` | best error over the crate's rules vs f/n for three noise levels, region below the Huber bound shaded as impossible |
//!
//! Figure 5 (DP mean error vs ε against Cai–Wang–Zhang) and an ε axis for figure 6 await the
//! privacy module; figure 6 uses the noise level as its second axis until then.
//!
//! Every curve is a mean over replicates with a 95% Student-t confidence band
//! ([`crate::experiment::summary::mean_ci`]); "worst attack" is, at each x, the attack with
//! the largest mean. Text is drawn with DejaVu Sans, embedded in the binary (plotters'
//! `ab_glyph` backend), so PNGs render identically on machines without system fonts.

mod chart;
pub mod records;

pub use records::{load, PlotRecord};

use crate::experiment::summary::{mean_ci, MeanCi};
use crate::Result;
use chart::{Chart, Series, Shade, VLine};
use records::Outcome;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One figure written: its files and what it showed.
#[derive(Clone, Debug)]
pub struct Written {
    /// The SVG and PNG paths.
    pub files: Vec<PathBuf>,
    /// One line describing it.
    pub summary: String,
}

/// Colours for series (Tableau 10), in order.
const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// x as an ordered map key (x ≥ 0 in every figure, where bit order is numeric order).
fn key(x: f64) -> u64 {
    x.to_bits()
}

/// For each series label and x: the attack with the largest mean `metric`, as (x, mean ± CI).
fn worst_attack<'a>(
    recs: impl Iterator<Item = &'a PlotRecord>,
    label: impl Fn(&PlotRecord) -> String,
    x: impl Fn(&PlotRecord) -> f64,
    metric: impl Fn(&Outcome) -> Option<f64>,
) -> BTreeMap<String, Vec<(f64, MeanCi)>> {
    let mut cells: BTreeMap<(String, u64, String), Vec<f64>> = BTreeMap::new();
    for r in recs {
        if let Some(v) = metric(&r.output) {
            cells
                .entry((label(r), key(x(r)), r.params.attack.name.clone()))
                .or_default()
                .push(v);
        }
    }
    let mut best: BTreeMap<(String, u64), MeanCi> = BTreeMap::new();
    for ((l, xk, _), vs) in &cells {
        if let Some(ci) = mean_ci(vs, 0.95) {
            let e = best.entry((l.clone(), *xk)).or_insert(ci);
            if ci.mean > e.mean {
                *e = ci;
            }
        }
    }
    let mut out: BTreeMap<String, Vec<(f64, MeanCi)>> = BTreeMap::new();
    for ((l, xk), ci) in best {
        out.entry(l).or_default().push((f64::from_bits(xk), ci));
    }
    out
}

/// Series from per-label curves, in the order of first appearance of the labels in `order`.
fn series_of(curves: BTreeMap<String, Vec<(f64, MeanCi)>>, order: &[String]) -> Vec<Series> {
    let mut labels: Vec<&String> = order.iter().filter(|l| curves.contains_key(*l)).collect();
    labels.dedup();
    // One colour per rule; a pre-aggregated variant (`nnm+median`) is dashed in its rule's colour.
    let rule_of = |l: &str| l.rsplit('+').next().unwrap_or(l).to_string();
    let mut rules: Vec<String> = Vec::new();
    for l in &labels {
        let r = rule_of(l);
        if !rules.contains(&r) {
            rules.push(r);
        }
    }
    labels
        .iter()
        .map(|l| Series {
            label: (*l).clone(),
            color: PALETTE
                [rules.iter().position(|r| *r == rule_of(l)).unwrap_or(0) % PALETTE.len()],
            points: curves[*l]
                .iter()
                .map(|(x, c)| (*x, c.mean, c.half_width))
                .collect(),
            dashed: l.contains('+'),
            markers: true,
        })
        .collect()
}

/// Labels in record order without repeats (the config's rule order).
fn label_order(recs: &[&PlotRecord]) -> Vec<String> {
    let mut seen = Vec::new();
    for r in recs {
        let l = r.params.defence.label();
        if !seen.contains(&l) {
            seen.push(l);
        }
    }
    seen
}

/// A bound as a function of x: one value per distinct x (they do not depend on replicates).
fn bound_curve(
    recs: &[&PlotRecord],
    x: impl Fn(&PlotRecord) -> f64,
    y: impl Fn(&PlotRecord) -> Option<f64>,
) -> Vec<(f64, f64)> {
    let mut m: BTreeMap<u64, f64> = BTreeMap::new();
    for r in recs {
        if let Some(v) = y(r) {
            m.insert(key(x(r)), v);
        }
    }
    m.into_iter().map(|(k, v)| (f64::from_bits(k), v)).collect()
}

fn ok_error(o: &Outcome) -> Option<f64> {
    match o {
        Outcome::Ok { error, .. } => Some(*error),
        _ => None,
    }
}

fn ok_sq_error_to_honest(o: &Outcome) -> Option<f64> {
    match o {
        Outcome::Ok {
            error_to_honest_mean,
            ..
        } => Some(error_to_honest_mean * error_to_honest_mean),
        _ => None,
    }
}

fn eta(r: &PlotRecord) -> f64 {
    r.bounds.eta
}

/// Writes every figure whose sweep is among `records` into `out`; returns what was written
/// and the figures skipped for want of records.
///
/// # Errors
/// I/O and drawing errors.
pub fn all_figures(records: &[PlotRecord], out: &Path) -> Result<(Vec<Written>, Vec<String>)> {
    std::fs::create_dir_all(out).map_err(|e| crate::Error::Io {
        path: out.display().to_string(),
        source: e,
    })?;
    let of =
        |name: &str| -> Vec<&PlotRecord> { records.iter().filter(|r| r.sweep == name).collect() };
    let mut written = Vec::new();
    let mut skipped = Vec::new();
    let breakdown = of("breakdown");
    if breakdown.is_empty() {
        skipped.push("fig1, fig2: no records of sweep `breakdown`".to_string());
    } else {
        written.push(fig1(&breakdown, out)?);
        written.push(fig2(&breakdown, out)?);
    }
    let dimension = of("dimension");
    if dimension.is_empty() {
        skipped.push("fig3: no records of sweep `dimension`".to_string());
    } else {
        written.push(fig3(&dimension, out)?);
    }
    let het = of("heterogeneity");
    if het.is_empty() {
        skipped.push("fig4: no records of sweep `heterogeneity`".to_string());
    } else {
        written.push(fig4(&het, out)?);
    }
    let frontier = of("frontier");
    if frontier.is_empty() {
        skipped.push("fig6: no records of sweep `frontier`".to_string());
    } else {
        written.push(fig6(&frontier, out)?);
    }
    skipped.push("fig5 (DP mean error vs epsilon): awaits the privacy module".to_string());
    Ok((written, skipped))
}

fn setting(recs: &[&PlotRecord]) -> String {
    let p = &recs[0].params.population;
    format!("n = {}, d = {}", p.n, p.d)
}

fn fig1(recs: &[&PlotRecord], out: &Path) -> Result<Written> {
    let order = label_order(recs);
    let curves = worst_attack(
        recs.iter().copied(),
        |r| r.params.defence.label(),
        eta,
        ok_error,
    );
    let mut series = series_of(curves, &order);
    let bound: Vec<(f64, f64)> = bound_curve(recs, eta, |r| r.bounds.error_lower)
        .into_iter()
        .filter(|&(_, y)| y > 0.0)
        .collect();
    series.push(Series {
        label: "lower bound σ_u·Φ⁻¹(1/(2(1−η))), σ_u = sd of an update (Huber 1964)".into(),
        color: (0, 0, 0),
        points: bound.iter().map(|&(x, y)| (x, y, 0.0)).collect(),
        dashed: true,
        markers: false,
    });
    let chart = Chart {
        stem: "fig1_error_vs_fraction".into(),
        title: format!(
            "Error vs Byzantine fraction ({}, worst attack per rule)",
            setting(recs)
        ),
        x_label: "Byzantine fraction η = f/n".into(),
        y_label: "error ‖F − μ‖ (data units, log scale)".into(),
        x_log: false,
        y_log: true,
        x_range: Some((0.0, 0.52)),
        series,
        shades: vec![],
        vlines: vec![VLine {
            x: 0.5,
            label: "breakdown point 1/2".into(),
        }],
        legend_upper_left: true,
    };
    chart.draw(out)?;
    Ok(Written {
        files: chart.files(out),
        summary:
            "fig1: error vs f/n per rule, worst attack, 95% CI bands; Huber bound; breakdown at 1/2"
                .into(),
    })
}

fn fig2(recs: &[&PlotRecord], out: &Path) -> Result<Written> {
    let order = label_order(recs);
    let with_f: Vec<&PlotRecord> = recs.iter().copied().filter(|r| r.bounds.f > 0).collect();
    let curves = worst_attack(
        with_f.iter().copied(),
        |r| r.params.defence.label(),
        eta,
        |o| match o {
            Outcome::Ok { kappa_hat, .. } if *kappa_hat > 0.0 => Some(*kappa_hat),
            _ => None,
        },
    );
    let mut series = series_of(curves, &order);
    let bound = bound_curve(&with_f, eta, |r| Some(r.bounds.kappa_lower));
    series.push(Series {
        label: "lower bound κ ≥ f/(n − 2f) (Allouah et al. 2023)".into(),
        color: (0, 0, 0),
        points: bound.iter().map(|&(x, y)| (x, y, 0.0)).collect(),
        dashed: true,
        markers: false,
    });
    let chart = Chart {
        stem: "fig2_kappa_vs_fraction".into(),
        title: format!(
            "Empirical κ vs Byzantine fraction ({}, worst attack per rule)",
            setting(recs)
        ),
        x_label: "Byzantine fraction η = f/n".into(),
        y_label: "κ-hat = ‖F − honest mean‖² / honest variance (log)".into(),
        x_log: false,
        y_log: true,
        x_range: Some((0.0, 0.52)),
        series,
        shades: vec![],
        vlines: vec![VLine {
            x: 0.5,
            label: "breakdown point 1/2".into(),
        }],
        legend_upper_left: true,
    };
    chart.draw(out)?;
    Ok(Written {
        files: chart.files(out),
        summary: "fig2: kappa-hat vs f/n per rule against f/(n-2f)".into(),
    })
}

fn fig3(recs: &[&PlotRecord], out: &Path) -> Result<Written> {
    let order = label_order(recs);
    let d = |r: &PlotRecord| r.params.population.d as f64;
    let curves = worst_attack(
        recs.iter().copied(),
        |r| r.params.defence.label(),
        d,
        ok_error,
    );
    let mut series = series_of(curves, &order);
    let bound: Vec<(f64, f64)> = bound_curve(recs, d, |r| r.bounds.error_lower)
        .into_iter()
        .filter(|&(_, y)| y > 0.0)
        .collect();
    series.push(Series {
        label: "lower bound σ_u·Φ⁻¹(1/(2(1−η))), dimension-free (Huber 1964)".into(),
        color: (0, 0, 0),
        points: bound.iter().map(|&(x, y)| (x, y, 0.0)).collect(),
        dashed: true,
        markers: false,
    });
    let p = &recs[0].params.population;
    let chart = Chart {
        stem: "fig3_error_vs_dimension".into(),
        title: format!(
            "Error vs dimension (n = {}, f/n = {}, worst attack per rule)",
            p.n, p.byzantine_fraction
        ),
        x_label: "dimension d (log scale)".into(),
        y_label: "error ‖F − μ‖ (data units, log scale)".into(),
        x_log: true,
        y_log: true,
        x_range: None,
        series,
        shades: vec![],
        vlines: vec![],
        legend_upper_left: true,
    };
    chart.draw(out)?;
    Ok(Written {
        files: chart.files(out),
        summary: "fig3: error vs d per rule (sqrt(d) growth of coordinate-wise rules) vs the dimension-free bound".into(),
    })
}

/// The fraction present in the records closest to `target`.
fn closest_fraction(recs: &[&PlotRecord], target: f64) -> f64 {
    recs.iter()
        .map(|r| r.params.population.byzantine_fraction)
        .min_by(|a, b| (a - target).abs().total_cmp(&(b - target).abs()))
        .unwrap_or(target)
}

fn fig4(recs: &[&PlotRecord], out: &Path) -> Result<Written> {
    let frac = closest_fraction(recs, 0.2);
    let at: Vec<&PlotRecord> = recs
        .iter()
        .copied()
        .filter(|r| r.params.population.byzantine_fraction == frac)
        .collect();
    let order = label_order(&at);
    let g2 = |r: &PlotRecord| r.params.population.heterogeneity;
    let curves = worst_attack(
        at.iter().copied(),
        |r| r.params.defence.label(),
        g2,
        ok_sq_error_to_honest,
    );
    let mut series = series_of(curves, &order);
    let bound = bound_curve(&at, g2, |r| Some(r.bounds.heterogeneity_floor));
    let (n, f) = (at[0].params.population.n, at[0].bounds.f);
    series.push(Series {
        label: format!(
            "floor f·G²/(n − 2f) = {f}G²/{}: worst case over populations (Allouah et al. 2023)",
            n - 2 * f
        ),
        color: (0, 0, 0),
        points: bound.iter().map(|&(x, y)| (x, y, 0.0)).collect(),
        dashed: true,
        markers: false,
    });
    let chart = Chart {
        stem: "fig4_error_vs_heterogeneity".into(),
        title: format!(
            "Squared error vs heterogeneity (n = {n}, f = {f}, worst attack per defence)"
        ),
        x_label: "heterogeneity G² of the honest users' means (squared data units, log scale)"
            .into(),
        y_label: "‖F − honest mean‖² (squared data units, log scale)".into(),
        x_log: true,
        y_log: true,
        x_range: None,
        series,
        shades: vec![],
        vlines: vec![],
        legend_upper_left: true,
    };
    chart.draw(out)?;
    Ok(Written {
        files: chart.files(out),
        summary: format!(
            "fig4: squared error vs G^2 at f/n = {frac} per defence against f*G^2/(n-2f)"
        ),
    })
}

fn fig6(recs: &[&PlotRecord], out: &Path) -> Result<Written> {
    // One curve per noise level (σ_u of an honest update), best rule per f/n.
    let mut sigmas: Vec<f64> = recs.iter().filter_map(|r| r.bounds.update_sigma).collect();
    sigmas.sort_by(f64::total_cmp);
    sigmas.dedup();
    let mut series = Vec::new();
    let mut shades = Vec::new();
    for (i, &su) in sigmas.iter().enumerate() {
        let at: Vec<&PlotRecord> = recs
            .iter()
            .copied()
            .filter(|r| r.bounds.update_sigma == Some(su))
            .collect();
        let noise = match at[0].params.population.noise {
            crate::data::noise::Noise::Gaussian { sigma } => format!("σ = {sigma}"),
            other => format!("{other:?}"),
        };
        // Worst attack per (rule, f/n), then the best rule per f/n.
        let curves = worst_attack(
            at.iter().copied(),
            |r| r.params.defence.label(),
            eta,
            ok_error,
        );
        let mut best: BTreeMap<u64, MeanCi> = BTreeMap::new();
        for pts in curves.values() {
            for (x, ci) in pts {
                let e = best.entry(key(*x)).or_insert(*ci);
                if ci.mean < e.mean {
                    *e = *ci;
                }
            }
        }
        let color = PALETTE[i % PALETTE.len()];
        series.push(Series {
            label: format!("best rule, noise {noise}"),
            color,
            points: best
                .iter()
                .map(|(k, c)| (f64::from_bits(*k), c.mean, c.half_width))
                .collect(),
            dashed: false,
            markers: true,
        });
        let bound: Vec<(f64, f64)> = bound_curve(&at, eta, |r| r.bounds.error_lower)
            .into_iter()
            .filter(|&(_, y)| y > 0.0)
            .collect();
        series.push(Series {
            label: format!("impossible below σ_u·Φ⁻¹(1/(2(1−η))), σ_u = {su:.3}"),
            color,
            points: bound.iter().map(|&(x, y)| (x, y, 0.0)).collect(),
            dashed: true,
            markers: false,
        });
        shades.push(Shade {
            color,
            upper: bound,
        });
    }
    let p = &recs[0].params.population;
    let chart = Chart {
        stem: "fig6_frontier".into(),
        title: format!(
            "Accuracy–security frontier (n = {}, d = {}): best rule vs impossible region",
            p.n, p.d
        ),
        x_label: "Byzantine fraction η = f/n".into(),
        y_label: "best rule's worst-attack error ‖F − μ‖ (data units, log)".into(),
        x_log: false,
        y_log: true,
        x_range: Some((0.0, 0.52)),
        series,
        shades,
        vlines: vec![VLine {
            x: 0.5,
            label: "breakdown point 1/2".into(),
        }],
        legend_upper_left: true,
    };
    chart.draw(out)?;
    Ok(Written {
        files: chart.files(out),
        summary: "fig6: best error among the rules vs f/n for three noise levels; shaded: no estimator can reach (Huber bound); the epsilon axis awaits the privacy module".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(rule: &str, attack: &str, frac: f64, error: f64) -> PlotRecord {
        let line = serde_json::json!({
            "sweep": "t", "point": 0, "replicate": 0,
            "params": {
                "population": {"n": 10, "d": 1, "byzantine_fraction": frac},
                "defence": {"rule": {"name": rule}},
                "attack": {"name": attack},
            },
            "bounds": {"f": 0, "eta": frac, "kappa_lower": 0.0, "error_lower": null,
                       "update_sigma": null, "heterogeneity_floor": 0.0},
            "output": {"status": "ok", "error": error, "error_to_honest_mean": 0.0,
                       "kappa_hat": 0.0, "honest_variance": 1.0},
        });
        serde_json::from_value(line).unwrap()
    }

    #[test]
    fn worst_attack_takes_the_largest_mean() {
        // median at 0.1: attack a has errors {1, 3} (mean 2), attack b {4} (mean 4): worst = b.
        // median at 0.2: only a, {5}. Failed runs are ignored.
        let mut recs = vec![
            rec("median", "a", 0.1, 1.0),
            rec("median", "a", 0.1, 3.0),
            rec("median", "b", 0.1, 4.0),
            rec("median", "a", 0.2, 5.0),
        ];
        let mut failed = rec("median", "c", 0.2, 0.0);
        failed.output = Outcome::Failed { reason: "x".into() };
        recs.push(failed);
        let c = worst_attack(recs.iter(), |r| r.params.defence.label(), eta, ok_error);
        let pts: Vec<(f64, f64, usize)> = c["median"]
            .iter()
            .map(|(x, m)| (*x, m.mean, m.count))
            .collect();
        assert_eq!(pts, vec![(0.1, 4.0, 1), (0.2, 5.0, 1)]);
    }

    #[test]
    fn figures_without_records_are_skipped() {
        let dir = std::env::temp_dir().join(format!("lbounds-plot-{}", std::process::id()));
        let (written, skipped) = all_figures(&[], &dir).unwrap();
        assert!(written.is_empty());
        assert_eq!(skipped.len(), 5);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
