//! The task-blocking figures (fig16a, fig16b) from the records of a `block` sweep (MLAC,
//! Henderson et al., "Self-Destructing Models", AIES 2023, arXiv 2211.14946).

use super::chart::{tick, Chart, Panels, Series, Stroke};
use super::records::BlockRecord;
use super::{Written, PALETTE};
use crate::experiment::block::{AtBudget, BlockReport, MODELS};
use crate::experiment::summary::mean_ci;
use crate::Result;
use std::path::Path;

/// Legend name and colour of each model of [`MODELS`].
const LOOK: [(&str, usize); 4] = [
    ("pretrained", 1),
    ("random init", 7),
    ("fine-tuned, λ = 0", 2),
    ("MLAC", 0),
];

/// The distinct ρ of the records, increasing.
fn rhos(recs: &[&BlockRecord]) -> Vec<f64> {
    let mut v: Vec<f64> = recs.iter().map(|r| r.params.rho).collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v
}

fn at<'a>(r: &'a BlockReport, model: &str, n: usize) -> Option<&'a AtBudget> {
    r.model(model)?.adversary.iter().find(|a| a.examples == n)
}

/// Mean and 95 % CI over records of `value`, skipping records where it is `None`.
fn point(x: f64, xs: impl Iterator<Item = Option<f64>>) -> Option<(f64, f64, f64)> {
    let v: Vec<f64> = xs.flatten().collect();
    mean_ci(&v, 0.95).map(|c| (x, c.mean, c.half_width))
}

/// fig16a: per ρ, the adversary's bad-task test accuracy vs its examples n for the four
/// models (best configuration solid, best linear probe dashed), with the good-label floor.
pub(super) fn fig16a(recs: &[&BlockRecord], out: &Path) -> Result<Written> {
    let p = &recs[0].params;
    let mut panels = Vec::new();
    let mut summary = Vec::new();
    for rho in rhos(recs) {
        let of: Vec<&BlockRecord> = recs
            .iter()
            .copied()
            .filter(|r| r.params.rho == rho)
            .collect();
        let mut series = Vec::new();
        for (probe, stroke) in [(false, Stroke::Solid), (true, Stroke::Dashed)] {
            for (model, (label, color)) in MODELS.iter().zip(LOOK) {
                let points = p
                    .examples
                    .iter()
                    .filter_map(|&n| {
                        point(
                            n as f64,
                            of.iter().map(|r| {
                                at(&r.output, model, n).and_then(|a| {
                                    if probe {
                                        a.best_frozen
                                    } else {
                                        Some(a.best)
                                    }
                                })
                            }),
                        )
                    })
                    .collect();
                series.push(Series {
                    label: format!(
                        "{label}: {}",
                        if probe {
                            "linear probe (frozen trunk)"
                        } else {
                            "best adversary (full fine-tuning allowed)"
                        }
                    ),
                    color: PALETTE[color],
                    points,
                    stroke,
                    markers: !probe,
                });
            }
        }
        let floor = of[0].bounds.good_label_floor;
        let (x0, x1) = (
            p.examples[0] as f64 / 1.3,
            p.examples[p.examples.len() - 1] as f64 * 1.3,
        );
        series.push(Series {
            label: "bad accuracy of the good label, 1 − arccos(ρ)/π".into(),
            color: (110, 110, 110),
            points: vec![(x0, floor, 0.0), (x1, floor, 0.0)],
            stroke: Stroke::Dotted,
            markers: false,
        });
        let good = |model: &str| {
            let v: Vec<f64> = of
                .iter()
                .filter_map(|r| r.output.model(model))
                .map(|m| m.good_accuracy)
                .collect();
            mean_ci(&v, 0.95).map_or(f64::NAN, |c| c.mean)
        };
        summary.push(format!(
            "rho {}: good acc MLAC {:.3} vs pretrained {:.3}",
            tick(rho),
            good("mlac"),
            good("pretrained")
        ));
        panels.push(Chart {
            stem: String::new(),
            title: format!(
                "ρ = {}: good-task acc. MLAC {:.3}, pretrained {:.3}",
                tick(rho),
                good("mlac"),
                good("pretrained")
            ),
            x_label: "adversary's bad-task examples n (log scale)".into(),
            y_label: "bad-task test accuracy after fine-tuning".into(),
            x_log: true,
            y_log: false,
            x_range: Some((x0, x1)),
            series,
            shades: vec![],
            vlines: vec![],
            note: None,
            y_range: Some((0.45, 1.0)),
        });
    }
    let reps = recs.iter().map(|r| r.replicate).max().unwrap_or(0) + 1;
    let fig = Panels {
        stem: "fig16a_block_examples".into(),
        title: format!(
            "Task blocking (MLAC, λ = {}, K = {}): bad-task accuracy a random-search adversary reaches ({} configurations, {reps} replicates, 95% CI)",
            tick(p.mlac.lambda),
            p.mlac.inner_steps,
            p.configs
        ),
        panels,
        note: Some(format!(
            "Henderson et al., Self-Destructing Models (AIES 2023): blocking works where MLAC stays at random init. \
             Two tasks on x ∈ R^{}: good 1[w_g·x > 0], bad 1[w_b·x > 0], cos = ρ; tanh trunk of {} units pretrained with a reconstruction loss. \
             The adversary fine-tunes with Adam (lr, steps {}..{}, head reset, frozen trunk drawn at random), picks by validation accuracy, is scored on a test set. \
             No bound of the catalogue applies; the dotted floor is the tasks' own: any model keeping the good task lets an adversary reach it.",
            p.features,
            p.hidden,
            recs[0].output.budget_steps.first().copied().unwrap_or(0),
            recs[0].output.budget_steps.last().copied().unwrap_or(0),
        )),
    };
    fig.draw(out)?;
    Ok(Written {
        files: fig.files(out),
        summary: format!(
            "fig16a: bad-task accuracy vs adversary examples for pretrained, random-init, lambda = 0 and MLAC models ({})",
            summary.join("; ")
        ),
    })
}

/// The paired gap MLAC − random init of one record at n, read by `pick`.
fn gap(r: &BlockReport, n: usize, pick: &dyn Fn(&AtBudget) -> Option<f64>) -> Option<f64> {
    Some(pick(at(r, "mlac", n)?)? - pick(at(r, "random_init", n)?)?)
}

/// fig16b: the blocking gap (MLAC − random init, paired by replicate) vs ρ at the smallest
/// and largest n (best adversary and linear probe), and vs the adversary's step budget
/// relative to MLAC's K inner steps at the n nearest 100, one curve per ρ.
pub(super) fn fig16b(recs: &[&BlockRecord], out: &Path) -> Result<Written> {
    let p = &recs[0].params;
    let rhos = rhos(recs);
    let (n_lo, n_hi) = (p.examples[0], p.examples[p.examples.len() - 1]);
    let mut left = Vec::new();
    type Pick = fn(&AtBudget) -> Option<f64>;
    let picks: [(&str, Pick, Stroke); 2] = [
        ("best adversary", |a| Some(a.best), Stroke::Solid),
        ("linear probe", |a| a.best_frozen, Stroke::Dashed),
    ];
    for (k, &n) in [n_lo, n_hi].iter().enumerate() {
        for (what, pick, stroke) in picks {
            left.push(Series {
                label: format!("{what}, n = {n}"),
                color: PALETTE[3 * k],
                points: rhos
                    .iter()
                    .filter_map(|&rho| {
                        point(
                            rho,
                            recs.iter()
                                .filter(|r| r.params.rho == rho)
                                .map(|r| gap(&r.output, n, &pick)),
                        )
                    })
                    .collect(),
                stroke,
                markers: true,
            });
        }
    }
    let zero = |x0: f64, x1: f64| Series {
        label: "no blocking beyond random init (gap 0)".into(),
        color: (110, 110, 110),
        points: vec![(x0, 0.0, 0.0), (x1, 0.0, 0.0)],
        stroke: Stroke::Dotted,
        markers: false,
    };
    left.push(zero(-0.05, 0.95));
    let n_mid = *p
        .examples
        .iter()
        .min_by_key(|&&n| n.abs_diff(100))
        .unwrap_or(&n_lo);
    let steps = &recs[0].output.budget_steps;
    let k = p.mlac.inner_steps as f64;
    let mut right = Vec::new();
    // The legend shows the first panel's series only: the right panel names its colours in
    // its caption.
    const COLOURS: [&str; 10] = [
        "blue", "orange", "green", "red", "purple", "brown", "pink", "grey", "olive", "cyan",
    ];
    let mut names = Vec::new();
    for (i, &rho) in rhos.iter().enumerate() {
        names.push(format!(
            "{} ρ = {}",
            COLOURS[(i + 4) % COLOURS.len()],
            tick(rho)
        ));
        right.push(Series {
            label: format!("ρ = {}", tick(rho)),
            color: PALETTE[(i + 4) % PALETTE.len()],
            points: steps
                .iter()
                .enumerate()
                .filter_map(|(j, &s)| {
                    point(
                        s as f64 / k,
                        recs.iter().filter(|r| r.params.rho == rho).map(|r| {
                            gap(&r.output, n_mid, &|a: &AtBudget| {
                                a.by_budget.get(j).copied().flatten()
                            })
                        }),
                    )
                })
                .collect(),
            stroke: Stroke::Solid,
            markers: true,
        });
    }
    let (b0, b1) = (
        steps.first().copied().unwrap_or(1) as f64 / k / 1.3,
        steps.last().copied().unwrap_or(1) as f64 / k * 1.3,
    );
    right.push(zero(b0, b1));
    let panel = |title: String, x_label: &str, x_log, x_range, series| Chart {
        stem: String::new(),
        title,
        x_label: x_label.into(),
        y_label: "blocking gap: bad accuracy of MLAC − random init".into(),
        x_log,
        y_log: false,
        x_range: Some(x_range),
        series,
        shades: vec![],
        vlines: vec![],
        note: None,
        y_range: Some((-0.5, 0.3)),
    };
    let reps = recs.iter().map(|r| r.replicate).max().unwrap_or(0) + 1;
    let fig = Panels {
        stem: "fig16b_block_gap".into(),
        title: format!(
            "Blocking gap (MLAC − random init, paired by replicate; {reps} replicates, 95% CI) vs task correlation and vs adversary budget"
        ),
        panels: vec![
            panel(
                "gap vs ρ".into(),
                "cos(w_good, w_bad) = ρ",
                false,
                (-0.05, 0.95),
                left,
            ),
            panel(
                format!("gap vs adversary steps, n = {n_mid} ({})", names.join(", ")),
                "adversary's step budget ÷ MLAC's K inner steps (log scale)",
                true,
                (b0, b1),
                right,
            ),
        ],
        note: Some(format!(
            "Negative: the MLAC model is harder to fine-tune for the bad task than a random initialisation (blocked). \
             The linear probe is the adversary MLAC is meta-trained against (K = {} steps of a fresh head); \
             the best adversary may also fine-tune the trunk (the break test). No bound of the catalogue applies here.",
            p.mlac.inner_steps
        )),
    };
    fig.draw(out)?;
    Ok(Written {
        files: fig.files(out),
        summary: "fig16b: blocking gap (MLAC - random init) vs rho (best adversary and linear probe) and vs adversary step budget".into(),
    })
}
