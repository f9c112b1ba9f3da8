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
//! | `fig5_dp_mean_vs_epsilon` | `dp_mean` (kind `dp_mean`) | squared error of the DP mean estimators vs ε (log–log) against the P1 order (Cai–Wang–Zhang; order only) |
//! | `fig6_frontier` | `frontier` (kind `dp_robust`) | per ε, the best of the DP average and the DP trimmed mean under its worst attack vs f/n; the region below the Huber bound shaded as impossible; max(Huber, √P1) dashed (order only) |
//! | `fig7_accuracy_vs_fraction` | `train_breakdown` (kind `train`) | test accuracy of the trained model vs f/n per defence (worst attack), measured collapse per defence, breakdown point 1/2 |
//! | `fig8_gradient_vs_heterogeneity` | `train_heterogeneity` (kind `train`) | ‖∇F_H‖² at the trained model vs Dirichlet α (or γ) per defence (worst attack), B2 floor f·G²/(n − 2f) at the measured G² |
//! | `fig10_exposure_vs_insertions` | `exposure` (kind `exposure`) | canary exposure (exact, by enumeration of all 10⁶ secrets) vs insertions, one curve per ε (plain SGD and DP-SGD), the ceiling log₂\|R\| = 19.93 bits dashed |
//! | `fig12_audit_epsilon` | `audit` (kind `audit`) | DP-SGD audit: empirical ε_LB vs the accountant's ε per planted bug and method (one run solid, multi-run dashed), the diagonal ε_LB = ε with the region above it shaded (no sound audit may enter), each method's ceiling (perfect adversary) dotted |
//! | `fig9_trilemma_frontier` | `train_frontier` (kind `train`) | one panel per heterogeneity level: best defence's worst-attack test accuracy vs ε per f/n, without privacy dashed; no bound overlaid (none measures accuracy) |
//! | `fig16a_block_examples` | `block` (kind `block`) | per ρ, bad-task test accuracy a random-search adversary reaches vs its examples n for the pretrained, random-init, λ = 0 and MLAC models (best adversary solid, linear probe dashed), the good-label floor 1 − arccos(ρ)/π |
//! | `fig16b_block_gap` | `block` (kind `block`) | blocking gap MLAC − random init (paired) vs ρ and vs the adversary's step budget relative to MLAC's K |
//! | `fig15a_unlearn_ga_steps` | `unlearn` (kind `unlearn`) | per forget set: forget/retain/test accuracy and the forget loss AUC vs gradient-ascent steps, the retrained models' values dashed; no bound (the yardstick is exact retraining) |
//! | `fig15b_unlearn_tradeoff` | `unlearn` | per forget set: forgetting quality F (competition's plug-in) vs utility ToW per method, the ideal F of N vs N retrained models dashed |
//! | `fig15c_unlearn_relearn` | `unlearn` | per forget set: accuracy on 90 % of F after relearning steps on the other 10 %, per method, the retrained control dashed |
//! | `fig15d_unlearn_epsilon_hist` | `unlearn` | per method: histogram of the per-example ε_i (competition bins) per forget set, the exact-retraining histogram dashed as the ideal; F and the null F in the titles; Newton's panel absent for an MLP |
//! | `fig13_memorization`, `fig13_memorization_digits` | `memorize` (kind `memorize`) | E0, one figure per data set (Gaussian mixture, digits): (a) head-test, tail-test and mislabelled-training accuracy vs DP-SGD ε with M4's cap; (b) LiRA TPR at 0.1 % FPR on the tail and mean mem_i of tail and head records vs ε with M3's cap and the DP line; (c) the distribution of mem_i on head and tail; no-DP values dashed |
//! | `fig14a_onion_layers` | `onion` (kind `onion`) | vulnerable records per peel (bars) against random removal of as many records (mean ± 95% CI over chains), newly exposed survivors, the static audit's prediction and the noise floor (Carlini et al. 2022's onion effect); no bound |
//! | `fig14b_onion_survivors` | `onion` (kind `onion`) | peel 1's survivors: per-example TPR in layer 0 and after retraining, newly exposed in red, newly safe in blue, the mean with its CI |
//! | `fig11_mia_roc` | `mia` (kind `mia`) | log-log ROC of the loss, LiRA online, LiRA offline (one-sided) and RMIA attacks, without DP (solid) and with DP-SGD (dashed, dotted), the chance diagonal and each ε's bound TPR ≤ e^ε·FPR + δ |
//!
//! Every curve is a mean over replicates with a 95% Student-t confidence band
//! ([`crate::experiment::summary::mean_ci`]); "worst attack" is, at each x, the attack with
//! the largest mean. Text is drawn with DejaVu Sans, embedded in the binary (plotters'
//! `ab_glyph` backend), so PNGs render identically on machines without system fonts.

pub mod any;
mod audit;
mod block;
mod chart;
mod exposure;
mod memorize;
mod mia;
mod onion;
pub mod records;
mod train;
mod unlearn;

pub use any::{plot_records, read_records, PlotReport, PlotSpec};
pub use records::{
    load, AnyRecord, AuditRecord, DpMeanRecord, DpRobustRecord, ExposureRecord, PlotRecord,
    TrainRecord,
};

use crate::experiment::summary::{mean_ci, MeanCi};
use crate::Result;
use chart::{tick, Chart, Series, Shade, Stroke, VLine};
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
    worst_of(
        recs,
        label,
        x,
        |r| r.params.attack.name.clone(),
        |r| metric(&r.output),
    )
}

/// [`worst_attack`] for records of any kind: `attack` names the group a record's `metric`
/// is averaged in; per (label, x) the group with the largest mean wins.
fn worst_of<'a, R: 'a>(
    recs: impl Iterator<Item = &'a R>,
    label: impl Fn(&R) -> String,
    x: impl Fn(&R) -> f64,
    attack: impl Fn(&R) -> String,
    metric: impl Fn(&R) -> Option<f64>,
) -> BTreeMap<String, Vec<(f64, MeanCi)>> {
    let mut cells: BTreeMap<(String, u64, String), Vec<f64>> = BTreeMap::new();
    for r in recs {
        if let Some(v) = metric(r) {
            cells
                .entry((label(r), key(x(r)), attack(r)))
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
            stroke: if l.contains('+') {
                Stroke::Dashed
            } else {
                Stroke::Solid
            },
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
pub fn all_figures(records: &[AnyRecord], out: &Path) -> Result<(Vec<Written>, Vec<String>)> {
    if out.exists() && !out.is_dir() {
        return Err(crate::Error::invalid(
            "--out",
            out.display(),
            "is a file; figures go into a directory",
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| crate::Error::Io {
        path: out.display().to_string(),
        source: e,
    })?;
    let of = |name: &str| -> Vec<&PlotRecord> {
        records
            .iter()
            .filter_map(|r| match r {
                AnyRecord::Robust(r) if r.sweep == name => Some(r),
                _ => None,
            })
            .collect()
    };
    let mut written = Vec::new();
    let mut skipped = Vec::new();
    // Draws `figs` when the sweep has records, else notes them as skipped.
    let mut draw = |figs: &str,
                    sweep: &str,
                    empty: bool,
                    f: &mut dyn FnMut() -> Result<Vec<Written>>|
     -> Result<()> {
        if empty {
            skipped.push(format!("{figs}: no records of sweep `{sweep}`"));
        } else {
            written.extend(f()?);
        }
        Ok(())
    };
    let breakdown = of("breakdown");
    draw("fig1, fig2", "breakdown", breakdown.is_empty(), &mut || {
        Ok(vec![fig1(&breakdown, out)?, fig2(&breakdown, out)?])
    })?;
    let dimension = of("dimension");
    draw("fig3", "dimension", dimension.is_empty(), &mut || {
        Ok(vec![fig3(&dimension, out)?])
    })?;
    let het = of("heterogeneity");
    draw("fig4", "heterogeneity", het.is_empty(), &mut || {
        Ok(vec![fig4(&het, out)?])
    })?;
    let dp_mean: Vec<&DpMeanRecord> = records
        .iter()
        .filter_map(|r| match r {
            AnyRecord::DpMean(r) if r.sweep == "dp_mean" => Some(r),
            _ => None,
        })
        .collect();
    draw("fig5", "dp_mean", dp_mean.is_empty(), &mut || {
        Ok(vec![fig5(&dp_mean, out)?])
    })?;
    let frontier: Vec<&DpRobustRecord> = records
        .iter()
        .filter_map(|r| match r {
            AnyRecord::DpRobust(r) if r.sweep == "frontier" => Some(r),
            _ => None,
        })
        .collect();
    draw("fig6", "frontier", frontier.is_empty(), &mut || {
        Ok(vec![fig6(&frontier, out)?])
    })?;
    let trained = |name: &str| -> Vec<&TrainRecord> {
        records
            .iter()
            .filter_map(|r| match r {
                AnyRecord::Train(r) if r.sweep == name => Some(r.as_ref()),
                _ => None,
            })
            .collect()
    };
    let t7 = trained("train_breakdown");
    draw("fig7", "train_breakdown", t7.is_empty(), &mut || {
        Ok(vec![train::fig7(&t7, out)?])
    })?;
    let t8 = trained("train_heterogeneity");
    draw("fig8", "train_heterogeneity", t8.is_empty(), &mut || {
        Ok(vec![train::fig8(&t8, out)?])
    })?;
    let t9 = trained("train_frontier");
    draw("fig9", "train_frontier", t9.is_empty(), &mut || {
        Ok(vec![train::fig9(&t9, out)?])
    })?;
    let exposed: Vec<&ExposureRecord> = records
        .iter()
        .filter_map(|r| match r {
            AnyRecord::Exposure(r) if r.sweep == "exposure" => Some(r.as_ref()),
            _ => None,
        })
        .collect();
    draw("fig10", "exposure", exposed.is_empty(), &mut || {
        Ok(vec![exposure::fig10(&exposed, out)?])
    })?;
    let mia: Vec<&records::MiaRecord> = records
        .iter()
        .filter_map(|r| match r {
            AnyRecord::Mia(r) if r.sweep == "mia" => Some(r.as_ref()),
            _ => None,
        })
        .collect();
    draw("fig11", "mia", mia.is_empty(), &mut || {
        Ok(vec![mia::fig11(&mia, out)?])
    })?;
    let audited: Vec<&AuditRecord> = records
        .iter()
        .filter_map(|r| match r {
            AnyRecord::Audit(r) if r.sweep == "audit" => Some(r.as_ref()),
            _ => None,
        })
        .collect();
    draw("fig12", "audit", audited.is_empty(), &mut || {
        Ok(vec![audit::fig12(&audited, out)?])
    })?;
    let blocked: Vec<&records::BlockRecord> = records
        .iter()
        .filter_map(|r| match r {
            AnyRecord::Block(r) if r.sweep == "block" => Some(r.as_ref()),
            _ => None,
        })
        .collect();
    draw("fig16a, fig16b", "block", blocked.is_empty(), &mut || {
        Ok(vec![
            block::fig16a(&blocked, out)?,
            block::fig16b(&blocked, out)?,
        ])
    })?;
    let unlearned: Vec<&records::UnlearnRecord> = records
        .iter()
        .filter_map(|r| match r {
            AnyRecord::Unlearn(r) if r.sweep == "unlearn" => Some(r.as_ref()),
            _ => None,
        })
        .collect();
    draw(
        "fig15a, fig15b, fig15c, fig15d",
        "unlearn",
        unlearned.is_empty(),
        &mut || {
            Ok(vec![
                unlearn::fig15a(&unlearned, out)?,
                unlearn::fig15b(&unlearned, out)?,
                unlearn::fig15c(&unlearned, out)?,
                unlearn::fig15d(&unlearned, out)?,
            ])
        },
    )?;
    let memorized: Vec<&records::MemorizeRecord> = records
        .iter()
        .filter_map(|r| match r {
            AnyRecord::Memorize(r) if r.sweep == "memorize" => Some(r.as_ref()),
            _ => None,
        })
        .collect();
    draw("fig13", "memorize", memorized.is_empty(), &mut || {
        memorize::fig13(&memorized, out)
    })?;
    let onions: Vec<&records::OnionRecord> = records
        .iter()
        .filter_map(|r| match r {
            AnyRecord::Onion(r) if r.sweep == "onion" => Some(r.as_ref()),
            _ => None,
        })
        .collect();
    draw("fig14", "onion", onions.is_empty(), &mut || {
        Ok(vec![
            onion::fig14a(&onions, out)?,
            onion::fig14b(&onions, out)?,
        ])
    })?;
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
        stroke: Stroke::Dashed,
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
        note: None,
        y_range: None,
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
            // A log axis shows neither 0 nor +∞ (coinciding honest updates).
            Outcome::Ok { kappa_hat, .. } if *kappa_hat > 0.0 && kappa_hat.is_finite() => {
                Some(*kappa_hat)
            }
            _ => None,
        },
    );
    let mut series = series_of(curves, &order);
    let bound = bound_curve(&with_f, eta, |r| Some(r.bounds.kappa_lower));
    series.push(Series {
        label: "lower bound κ ≥ f/(n − 2f) (Allouah et al. 2023)".into(),
        color: (0, 0, 0),
        points: bound.iter().map(|&(x, y)| (x, y, 0.0)).collect(),
        stroke: Stroke::Dashed,
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
        note: Some(
            "The dashed bound is a supremum over instances (Allouah et al. 2023): on some honest inputs every rule has κ ≥ f/(n − 2f). The attacks plotted here need not reach that instance, so curves below the bound do not contradict it."
                .into(),
        ),
        y_range: None,
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
        stroke: Stroke::Dashed,
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
        note: None,
        y_range: None,
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
        stroke: Stroke::Dashed,
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
        note: Some(
            "The dashed floor f·G²/(n − 2f) is a supremum over populations of heterogeneity G² (Allouah et al. 2023): on some population every rule errs at least this much. The populations and attacks plotted here need not reach it, so curves below the floor do not contradict it."
                .into(),
        ),
        y_range: None,
    };
    chart.draw(out)?;
    Ok(Written {
        files: chart.files(out),
        summary: format!(
            "fig4: squared error vs G^2 at f/n = {frac} per defence against f*G^2/(n-2f)"
        ),
    })
}

/// Mean ± CI of `metric` per x over records, as chart points.
fn curve<'a, R: 'a>(
    recs: impl Iterator<Item = &'a R>,
    x: impl Fn(&R) -> f64,
    metric: impl Fn(&R) -> f64,
) -> Vec<(f64, f64, f64)> {
    let mut cells: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for r in recs {
        cells.entry(key(x(r))).or_default().push(metric(r));
    }
    cells
        .iter()
        .filter_map(|(k, vs)| mean_ci(vs, 0.95).map(|c| (f64::from_bits(*k), c.mean, c.half_width)))
        .collect()
}

fn fig5(recs: &[&DpMeanRecord], out: &Path) -> Result<Written> {
    let eps = |r: &DpMeanRecord| r.params.epsilon;
    type Metric = fn(&DpMeanRecord) -> f64;
    let estimators: [(&str, Metric, usize, bool); 5] = [
        (
            "known range, record-level DP (clipped Gaussian mean)",
            |r| r.output.known_range,
            0,
            false,
        ),
        (
            "CoinPress, record-level DP (unknown range)",
            |r| r.output.coinpress,
            1,
            false,
        ),
        (
            "known range, user-level DP (on user means)",
            |r| r.output.user_level_known_range,
            2,
            true,
        ),
        (
            "CoinPress, user-level DP (on user means)",
            |r| r.output.user_level,
            3,
            true,
        ),
        (
            "non-private mean of all records",
            |r| r.output.nonprivate,
            7,
            false,
        ),
    ];
    let mut series: Vec<Series> = estimators
        .iter()
        .map(|(label, m, c, dashed)| Series {
            label: (*label).to_string(),
            color: PALETTE[*c],
            points: curve(recs.iter().copied(), eps, m),
            stroke: if *dashed {
                Stroke::Dashed
            } else {
                Stroke::Solid
            },
            markers: true,
        })
        .collect();
    let p1 = |f: fn(&DpMeanRecord) -> f64| -> Vec<(f64, f64, f64)> {
        curve(recs.iter().copied(), eps, f)
            .into_iter()
            .map(|(x, y, _)| (x, y, 0.0))
            .collect()
    };
    series.push(Series {
        label: "P1 record level σ²(d/N + d²ln(1/δ)/(N²ε²)), order only, to verify (Cai–Wang–Zhang 2021)"
            .into(),
        color: (0, 0, 0),
        points: p1(|r| r.bounds.p1_record_level),
        stroke: Stroke::Dashed,
        markers: false,
    });
    series.push(Series {
        label: "P1 user level, σ²/m over n users, order only, to verify".into(),
        color: (110, 110, 110),
        points: p1(|r| r.bounds.p1_user_level),
        stroke: Stroke::Dashed,
        markers: false,
    });
    let p = &recs[0].params;
    let m = recs[0].output.records / recs[0].output.users.max(1);
    let chart = Chart {
        stem: "fig5_dp_mean_vs_epsilon".into(),
        title: format!(
            "DP mean estimation: squared error vs ε (n = {} users × m = {m} records, d = {}, δ = {})",
            p.population.n,
            p.population.d,
            tick(p.delta)
        ),
        x_label: "privacy budget ε (log scale)".into(),
        y_label: "squared error ‖estimate − μ‖² (log scale)".into(),
        x_log: true,
        y_log: true,
        x_range: None,
        series,
        shades: vec![],
        vlines: vec![],
        note: None,
        y_range: None,
    };
    chart.draw(out)?;
    Ok(Written {
        files: chart.files(out),
        summary: "fig5: DP mean squared error vs epsilon per estimator (record and user level), 95% CI bands, against the P1 order (Cai-Wang-Zhang, order only)".into(),
    })
}

fn fig6(recs: &[&DpRobustRecord], out: &Path) -> Result<Written> {
    let eta = |r: &DpRobustRecord| r.bounds.eta;
    let attack = |r: &DpRobustRecord| r.params.attack.name.clone();
    let mut epsilons: Vec<f64> = recs.iter().map(|r| r.params.epsilon).collect();
    epsilons.sort_by(f64::total_cmp);
    epsilons.dedup();
    // Per (estimator, f/n) the worst attack, then per f/n the best estimator.
    type Metric = (&'static str, fn(&DpRobustRecord) -> f64);
    let best = |at: &[&DpRobustRecord], metrics: &[Metric]| {
        let mut best: BTreeMap<u64, MeanCi> = BTreeMap::new();
        for (name, m) in metrics {
            let c = worst_of(
                at.iter().copied(),
                |_| (*name).to_string(),
                eta,
                attack,
                |r| Some(m(r)),
            );
            for pts in c.values() {
                for (x, ci) in pts {
                    let e = best.entry(key(*x)).or_insert(*ci);
                    if ci.mean < e.mean {
                        *e = *ci;
                    }
                }
            }
        }
        best.into_iter()
            .map(|(k, c)| (f64::from_bits(k), c.mean, c.half_width))
            .collect::<Vec<_>>()
    };
    let mut series = Vec::new();
    for (i, &e) in epsilons.iter().enumerate() {
        let at: Vec<&DpRobustRecord> = recs
            .iter()
            .copied()
            .filter(|r| r.params.epsilon == e)
            .collect();
        let color = PALETTE[i % PALETTE.len()];
        series.push(Series {
            label: format!("ε = {}: best of DP average and DP trimmed mean", tick(e)),
            color,
            points: best(
                &at,
                &[
                    ("dp_average", |r| r.output.dp_average),
                    ("dp_trmean", |r| r.output.dp_trmean),
                ],
            ),
            stroke: Stroke::Solid,
            markers: true,
        });
        let order: Vec<(f64, f64, f64)> = curve(at.iter().copied(), eta, |r| {
            r.bounds.robust_lower.max(r.bounds.p1_user_level_sq.sqrt())
        })
        .into_iter()
        .map(|(x, y, _)| (x, y, 0.0))
        .collect();
        series.push(Series {
            label: String::new(),
            color,
            points: order,
            stroke: Stroke::Dashed,
            markers: false,
        });
    }
    // One legend entry for the dashed per-ε curves (a series without points).
    series.push(Series {
        label: "dashed, per ε: max(Huber, √P1 user level), order only, to verify".into(),
        color: (150, 150, 150),
        points: vec![],
        stroke: Stroke::Dashed,
        markers: false,
    });
    series.push(Series {
        label: "no privacy: trimmed mean (ε = ∞)".into(),
        color: (90, 90, 90),
        points: best(recs, &[("trmean", |r| r.output.trmean_nonprivate)]),
        stroke: Stroke::Solid,
        markers: true,
    });
    let huber: Vec<(f64, f64)> = curve(recs.iter().copied(), eta, |r| r.bounds.robust_lower)
        .into_iter()
        .map(|(x, y, _)| (x, y))
        .filter(|&(_, y)| y > 0.0)
        .collect();
    series.push(Series {
        label: "impossible below σ_u·Φ⁻¹(1/(2(1−η))) for the worst adversary (Huber 1964)".into(),
        color: (0, 0, 0),
        points: huber.iter().map(|&(x, y)| (x, y, 0.0)).collect(),
        stroke: Stroke::Dashed,
        markers: false,
    });
    // Room above the curves for the legend (log axis: a decade and a half).
    let ys = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1 + p.2))
        .chain(huber.iter().map(|p| p.1))
        .filter(|y| y.is_finite() && *y > 0.0);
    let (lo, hi) = ys.fold((f64::INFINITY, 0.0f64), |(a, b), y| (a.min(y), b.max(y)));
    let y_range = (lo.is_finite() && hi > 0.0).then_some((lo / 1.6, hi * 30.0));
    let p = &recs[0].params;
    let chart = Chart {
        stem: "fig6_frontier".into(),
        title: format!(
            "Accuracy–security frontier over (f/n, ε): n = {} users, d = {}, user-level DP, δ = {}",
            p.population.n,
            p.population.d,
            tick(p.delta)
        ),
        x_label: "Byzantine fraction η = f/n".into(),
        y_label: "best estimator's worst-attack error |estimate − μ| (log)".into(),
        x_log: false,
        y_log: true,
        x_range: Some((0.0, 0.52)),
        series,
        shades: vec![Shade {
            color: (0, 0, 0),
            upper: huber,
        }],
        vlines: vec![VLine {
            x: 0.5,
            label: "breakdown point 1/2".into(),
        }],
        note: None,
        y_range,
    };
    chart.draw(out)?;
    Ok(Written {
        files: chart.files(out),
        summary: "fig6: best private + robust error vs f/n per epsilon (worst attack, best of DP average / DP trimmed mean), non-private reference, Huber region shaded, P1 order dashed".into(),
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
        assert_eq!(skipped.len(), 15);
        assert!(skipped.iter().any(|s| s.starts_with("fig5")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
