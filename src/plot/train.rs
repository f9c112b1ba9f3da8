//! Figures 7–9: trained models (sweeps of kind `train`).
//!
//! - **fig7** (`train_breakdown`): test accuracy vs f/n per defence under its worst attack
//!   (the attack with the lowest mean accuracy at that f/n), with the fraction where each
//!   defence's accuracy collapses (measured: the first f/n whose worst-attack accuracy falls
//!   below the midpoint between its clean accuracy at f = 0 and chance 1/K) next to the
//!   theoretical breakdown point 1/2.
//! - **fig8** (`train_heterogeneity`): ‖∇F_H(θ_T)‖² at the trained model vs the partition's
//!   heterogeneity parameter (Dirichlet α or γ) per defence under its worst attack, each with
//!   the B2 floor f·G²/(n − 2f) dotted, at the G² measured at the same models (same runs).
//! - **fig9** (`train_frontier`): one panel per heterogeneity level; in each, for every
//!   (ε, f/n) the best defence's worst-attack test accuracy against ε, one curve per f/n, and
//!   the same without privacy dashed. No catalogue bound measures test accuracy, so none is
//!   overlaid (the note says which bounds exist and what they measure).
//!
//! Runs that stopped with `diverged` are scored (the server holds the parameters before the
//! bad round, and the divergence is the rule's failure); `failed` and `not_applicable` runs
//! are left out.

use super::chart::{tick, Chart, Panels, Series, Stroke, VLine};
use super::records::TrainRecord;
use super::{key, series_of, Written, PALETTE};
use crate::experiment::summary::{mean_ci, MeanCi};
use crate::experiment::train::NoiseSetting;
use crate::learning::{Partition, Task};
use crate::Result;
use std::collections::BTreeMap;
use std::path::Path;

/// Per (defence label, x): the attack whose mean `metric` is worst and that mean ± CI.
/// `lower_is_worse`: the smallest mean is the worst (accuracy); else the largest (an error).
fn worst_by(
    recs: &[&TrainRecord],
    x: impl Fn(&TrainRecord) -> f64,
    metric: impl Fn(&TrainRecord) -> Option<f64>,
    lower_is_worse: bool,
) -> BTreeMap<(String, u64), (String, MeanCi)> {
    let mut cells: BTreeMap<(String, u64, String), Vec<f64>> = BTreeMap::new();
    for r in recs {
        if let Some(v) = metric(r) {
            let attack = r
                .params
                .train
                .active_attack()
                .map_or_else(|| "none".to_string(), |a| a.name.clone());
            cells
                .entry((r.params.train.defence.label(), key(x(r)), attack))
                .or_default()
                .push(v);
        }
    }
    let mut worst: BTreeMap<(String, u64), (String, MeanCi)> = BTreeMap::new();
    for ((label, xk, attack), vs) in &cells {
        if let Some(ci) = mean_ci(vs, 0.95) {
            let e = worst
                .entry((label.clone(), *xk))
                .or_insert_with(|| (attack.clone(), ci));
            let worse = if lower_is_worse {
                ci.mean < e.1.mean
            } else {
                ci.mean > e.1.mean
            };
            if worse {
                *e = (attack.clone(), ci);
            }
        }
    }
    worst
}

/// [`worst_by`] as per-label curves (x ascending).
fn curves_of(
    worst: &BTreeMap<(String, u64), (String, MeanCi)>,
) -> BTreeMap<String, Vec<(f64, MeanCi)>> {
    let mut out: BTreeMap<String, Vec<(f64, MeanCi)>> = BTreeMap::new();
    for ((label, xk), (_, ci)) in worst {
        out.entry(label.clone())
            .or_default()
            .push((f64::from_bits(*xk), *ci));
    }
    out
}

/// Defence labels in record order without repeats (the config's order).
fn defence_order(recs: &[&TrainRecord]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for r in recs {
        let l = r.params.train.defence.label();
        if !seen.contains(&l) {
            seen.push(l);
        }
    }
    seen
}

fn accuracy(r: &TrainRecord) -> Option<f64> {
    if r.output.scored() {
        r.output.test_accuracy
    } else {
        None
    }
}

fn eta(r: &TrainRecord) -> f64 {
    r.bounds.eta
}

/// 1/K for a K-class task (0 for regression).
fn chance(r: &TrainRecord) -> f64 {
    match r.params.data.shape().1 {
        Task::Classification { classes } => 1.0 / classes as f64,
        Task::Regression => 0.0,
    }
}

/// The first x whose mean falls below the midpoint between the curve's value at x = 0 and
/// `chance`; `None` when the curve has no x = 0 point or never falls that low.
pub fn collapse_point(curve: &[(f64, MeanCi)], chance: f64) -> Option<f64> {
    let clean = curve.iter().find(|(x, _)| *x == 0.0)?.1.mean;
    let threshold = 0.5 * (clean + chance);
    curve
        .iter()
        .find(|(_, c)| c.mean < threshold)
        .map(|(x, _)| *x)
}

fn data_name(r: &TrainRecord) -> String {
    match &r.params.data {
        crate::experiment::train::DataSource::Digits => "digits".into(),
        crate::experiment::train::DataSource::Synthetic(s) => {
            format!("synthetic {}-class, {} features", s.classes, s.features)
        }
    }
}

pub(super) fn fig7(recs: &[&TrainRecord], out: &Path) -> Result<Written> {
    let order = defence_order(recs);
    let curves = curves_of(&worst_by(recs, eta, accuracy, true));
    let chance = chance(recs[0]);
    let mut collapses = Vec::new();
    let mut series = series_of(curves.clone(), &order);
    for s in &mut series {
        let c = collapse_point(&curves[&s.label], chance);
        collapses.push(format!(
            "{} {}",
            s.label,
            c.map_or_else(|| "none".to_string(), tick)
        ));
        s.label = match c {
            Some(x) => format!("{}: collapses at {}", s.label, tick(x)),
            None => format!("{}: no collapse", s.label),
        };
    }
    series.push(Series {
        label: format!("chance 1/K = {}", tick(chance)),
        color: (120, 120, 120),
        points: vec![(0.0, chance, 0.0), (0.5, chance, 0.0)],
        stroke: Stroke::Dashed,
        markers: false,
    });
    let p = &recs[0].params;
    let chart = Chart {
        stem: "fig7_accuracy_vs_fraction".into(),
        title: format!(
            "Test accuracy vs Byzantine fraction ({}, {}, n = {}, {}, worst attack per defence)",
            data_name(recs[0]),
            p.model.name(),
            p.clients,
            p.partition.spec()
        ),
        x_label: "Byzantine fraction η = f/n".into(),
        y_label: "test accuracy of the trained model".into(),
        x_log: false,
        y_log: false,
        x_range: Some((0.0, 0.52)),
        series,
        shades: vec![],
        vlines: vec![VLine {
            x: 0.5,
            label: "breakdown point 1/2".into(),
        }],
        note: Some(
            "Theoretical breakdown point: 1/2 for the median, trimmed mean, geometric median, Krum and NNM + trimmed mean (no rule can do better: half the users can impersonate the honest half), 0 for the average (one user moves it arbitrarily). Measured collapse: the first f/n where the worst-attack accuracy falls below the midpoint between the defence's accuracy at f = 0 and chance. Attacks: sign flipping, IPM, ALIE, optimal ALIE (searched against the defence each round), label flipping."
                .into(),
        ),
        y_range: Some((0.0, 1.0)),
    };
    chart.draw(out)?;
    Ok(Written {
        files: chart.files(out),
        summary: format!(
            "fig7: test accuracy vs f/n per defence, worst attack, 95% CI bands; measured collapse: {}; breakdown point 1/2",
            collapses.join(", ")
        ),
    })
}

/// The partition's heterogeneity parameter and its axis label.
fn heterogeneity_x(p: &Partition) -> Option<(f64, &'static str)> {
    match *p {
        Partition::Dirichlet { alpha } => Some((
            alpha,
            "Dirichlet concentration α of the label skew (log; small α: few labels per user)",
        )),
        Partition::Gamma { gamma } => Some((
            gamma,
            "γ-similarity (log; the iid share of the data, 1 = iid)",
        )),
        _ => None,
    }
}

pub(super) fn fig8(recs: &[&TrainRecord], out: &Path) -> Result<Written> {
    // The fraction closest to 0.2 among the runs with Byzantine users and a heterogeneity
    // parameter on the x axis.
    let usable: Vec<&TrainRecord> = recs
        .iter()
        .copied()
        .filter(|r| r.bounds.f > 0 && heterogeneity_x(&r.params.partition).is_some())
        .collect();
    let Some(frac) = usable
        .iter()
        .map(|r| r.params.byzantine_fraction)
        .min_by(|a, b| (a - 0.2).abs().total_cmp(&(b - 0.2).abs()))
    else {
        return Err(crate::Error::invalid(
            "records",
            "train_heterogeneity",
            "fig8 needs runs with Byzantine users and a dirichlet or gamma partition",
        ));
    };
    let at: Vec<&TrainRecord> = usable
        .into_iter()
        .filter(|r| r.params.byzantine_fraction == frac)
        .collect();
    let x = |r: &TrainRecord| heterogeneity_x(&r.params.partition).map_or(0.0, |h| h.0);
    let x_label = heterogeneity_x(&at[0].params.partition).map_or("", |h| h.1);
    let grad = |r: &TrainRecord| {
        r.output
            .last_eval
            .as_ref()
            .filter(|_| r.output.scored())
            .map(|e| e.grad_norm_sq)
            // On a log axis; an overflowed run ("inf" in its record) has no place on it.
            .filter(|v| *v > 0.0 && v.is_finite())
    };
    let worst = worst_by(&at, x, grad, false);
    let order = defence_order(&at);
    let mut series = series_of(curves_of(&worst), &order);
    // Each defence's floor, from the runs of its worst-attack cells.
    let mut floors = Vec::new();
    for s in &series {
        let mut pts = Vec::new();
        for ((label, xk), (attack, _)) in &worst {
            if *label != s.label {
                continue;
            }
            let vs: Vec<f64> = at
                .iter()
                .filter(|r| {
                    r.params.train.defence.label() == *label
                        && key(x(r)) == *xk
                        && r.params
                            .train
                            .active_attack()
                            .is_some_and(|a| a.name == *attack)
                        && r.output.scored()
                })
                .filter_map(|r| r.output.last_eval.as_ref()?.floor_b2)
                .collect();
            if let Some(c) = mean_ci(&vs, 0.95) {
                pts.push((f64::from_bits(*xk), c.mean, 0.0));
            }
        }
        floors.push(Series {
            label: String::new(),
            color: s.color,
            points: pts,
            stroke: Stroke::Dotted,
            markers: false,
        });
    }
    let g2: Vec<f64> = at
        .iter()
        .filter_map(|r| r.output.last_eval.as_ref().map(|e| e.g2))
        .filter(|g| g.is_finite())
        .collect();
    let (g_lo, g_hi) = g2
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
    series.extend(floors);
    series.push(Series {
        label: "dotted: B2 floor f·G²/(n − 2f) at the defence's measured G² (Allouah et al. 2023)"
            .into(),
        color: (150, 150, 150),
        points: vec![],
        stroke: Stroke::Dotted,
        markers: false,
    });
    let (n, f) = (at[0].params.clients, at[0].bounds.f);
    let p = &at[0].params;
    let chart = Chart {
        stem: "fig8_gradient_vs_heterogeneity".into(),
        title: format!(
            "‖∇F_H‖² at the trained model vs heterogeneity ({}, {}, n = {n}, f = {f}, worst attack)",
            data_name(at[0]),
            p.model.name()
        ),
        x_label: x_label.into(),
        y_label: "‖∇F_H(θ_T)‖², honest users' mean gradient (log)".into(),
        x_log: true,
        y_log: true,
        x_range: None,
        series,
        shades: vec![],
        vlines: vec![],
        note: Some(format!(
            "B2 bounds the quantity on the y axis: for (G, 0)-dissimilar honest losses no rule guarantees ‖∇F_H‖² below f·G²/(n − 2f) = {f}G²/{} on every instance. G² here is measured at each trained model (from {} to {}), a lower estimate of the supremum over θ the hypothesis needs, so the dotted floors are indicative; a curve below its floor does not contradict the bound (this instance is not the worst one), and one above it also carries the optimisation error of {} rounds.",
            n - 2 * f,
            tick(g_lo),
            tick(g_hi),
            p.train.rounds
        )),
        y_range: None,
    };
    chart.draw(out)?;
    Ok(Written {
        files: chart.files(out),
        summary: format!(
            "fig8: ||grad F_H||^2 at the trained model vs heterogeneity at f/n = {frac} per defence (worst attack), with the B2 floor at the measured G^2"
        ),
    })
}

/// ε of a run: the target, else the accountant's; `None` for a run without privacy. A run
/// with noise whose accountant gave ε = ∞ (noise too small for any finite bound) is neither
/// private on the ε axis nor a run without privacy: it is left out of both.
fn epsilon_of(r: &TrainRecord) -> Option<f64> {
    match r.params.privacy.noise {
        None => None,
        Some(NoiseSetting::Epsilon(e)) => Some(e),
        Some(NoiseSetting::Sigma(_)) => r.output.epsilon,
    }
}

/// Per x: the best (largest) over defences of the worst-attack mean accuracy.
fn best_defence(recs: &[&TrainRecord], x: impl Fn(&TrainRecord) -> f64) -> Vec<(f64, f64, f64)> {
    let mut best: BTreeMap<u64, MeanCi> = BTreeMap::new();
    for ((_, xk), (_, ci)) in worst_by(recs, x, accuracy, true) {
        let e = best.entry(xk).or_insert(ci);
        if ci.mean > e.mean {
            *e = ci;
        }
    }
    best.into_iter()
        .map(|(k, c)| (f64::from_bits(k), c.mean, c.half_width))
        .collect()
}

pub(super) fn fig9(recs: &[&TrainRecord], out: &Path) -> Result<Written> {
    let mut levels: Vec<Partition> = Vec::new();
    for r in recs {
        if !levels.contains(&r.params.partition) {
            levels.push(r.params.partition);
        }
    }
    levels.sort_by(|a, b| {
        let h = |p: &Partition| heterogeneity_x(p).map_or(f64::INFINITY, |h| h.0);
        h(a).total_cmp(&h(b))
    });
    let mut fractions: Vec<f64> = recs.iter().map(|r| r.bounds.eta).collect();
    fractions.sort_by(f64::total_cmp);
    fractions.dedup();
    let epsilons: Vec<f64> = recs
        .iter()
        .filter_map(|r| epsilon_of(r))
        .filter(|e| e.is_finite())
        .collect();
    let (e_lo, e_hi) = epsilons
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
    let defences = defence_order(recs).join(", ");
    let mut panels = Vec::new();
    let mut summary = Vec::new();
    for (pi, level) in levels.iter().enumerate() {
        let at: Vec<&TrainRecord> = recs
            .iter()
            .copied()
            .filter(|r| r.params.partition == *level)
            .collect();
        let clean_g2: Vec<f64> = at
            .iter()
            .filter(|r| r.bounds.f == 0 && epsilon_of(r).is_none())
            .filter_map(|r| r.output.last_eval.as_ref().map(|e| e.g2))
            .filter(|g| g.is_finite())
            .collect();
        let mut series = Vec::new();
        for (i, &frac) in fractions.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let cell: Vec<&TrainRecord> = at
                .iter()
                .copied()
                .filter(|r| r.bounds.eta == frac)
                .collect();
            let private: Vec<&TrainRecord> = cell
                .iter()
                .copied()
                .filter(|r| epsilon_of(r).is_some_and(f64::is_finite))
                .collect();
            let public: Vec<&TrainRecord> = cell
                .iter()
                .copied()
                .filter(|r| epsilon_of(r).is_none())
                .collect();
            let curve = best_defence(&private, |r| epsilon_of(r).unwrap_or(0.0));
            if let Some(&(e, acc, _)) = curve.first() {
                summary.push(format!(
                    "{} f/n={}: eps {} -> {:.2}",
                    level.spec(),
                    tick(frac),
                    tick(e),
                    acc
                ));
            }
            series.push(Series {
                label: format!("f/n = {}", tick(frac)),
                color,
                points: curve,
                stroke: Stroke::Solid,
                markers: true,
            });
            if let Some(&(_, acc, _)) = best_defence(&public, |_| 0.0).first() {
                series.push(Series {
                    label: String::new(),
                    color,
                    points: vec![(e_lo, acc, 0.0), (e_hi, acc, 0.0)],
                    stroke: Stroke::Dashed,
                    markers: false,
                });
            }
        }
        if pi == 0 {
            series.push(Series {
                label: "dashed: same f/n without privacy".into(),
                color: (150, 150, 150),
                points: vec![],
                stroke: Stroke::Dashed,
                markers: false,
            });
        }
        let g2 = mean_ci(&clean_g2, 0.95)
            .map_or_else(String::new, |c| format!(", G² ≈ {} at f = 0", tick(c.mean)));
        panels.push(Chart {
            stem: String::new(),
            title: format!("{}{g2}", level.spec()),
            x_label: "example-level ε per user (δ = 1e-5, log)".into(),
            y_label: "best defence's worst-attack test accuracy".into(),
            x_log: true,
            y_log: false,
            x_range: None,
            series,
            shades: vec![],
            vlines: vec![],
            note: None,
            y_range: Some((0.0, 1.0)),
        });
    }
    let p = &recs[0].params;
    let fig = Panels {
        stem: "fig9_trilemma_frontier".into(),
        title: format!(
            "Privacy × robustness × heterogeneity: best test accuracy over (ε, f/n) ({}, {}, n = {}, local DP-SGD, C = {})",
            data_name(recs[0]),
            p.model.name(),
            p.clients,
            tick(p.privacy.clip)
        ),
        panels,
        note: Some(format!(
            "Per (ε, f/n): each defence ({defences}) under its worst attack, then the best defence. ε is each honest user's record-level budget after all rounds (RDP accountant, σ calibrated per run). No bound is overlaid: the catalogue's trilemma bounds (T1, Allouah et al. ICML 2023, arXiv 2302.04787) and heterogeneity floors (B2/B3) bound estimation error or gradient norms, not test accuracy; figure 8 shows B2 on the quantity it bounds."
        )),
    };
    fig.draw(out)?;
    Ok(Written {
        files: fig.files(out),
        summary: format!(
            "fig9: best worst-attack test accuracy vs epsilon per f/n at {} heterogeneity levels ({})",
            levels.len(),
            summary.join("; ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ci(mean: f64) -> MeanCi {
        mean_ci(&[mean, mean], 0.95).unwrap()
    }

    /// The collapse is the first x below the midpoint between the clean accuracy and chance:
    /// clean 0.9, chance 0.1 → threshold 0.5; 0.6 at 0.2 is above, 0.45 at 0.3 is below.
    /// Mutation that fails it: comparing against the clean accuracy itself (any drop).
    #[test]
    fn collapse_is_the_first_fraction_below_the_midpoint() {
        let curve = vec![
            (0.0, ci(0.9)),
            (0.1, ci(0.85)),
            (0.2, ci(0.6)),
            (0.3, ci(0.45)),
            (0.4, ci(0.1)),
        ];
        assert_eq!(collapse_point(&curve, 0.1), Some(0.3));
        assert_eq!(collapse_point(&curve[..3], 0.1), None);
        assert_eq!(collapse_point(&curve[1..], 0.1), None);
    }
}
