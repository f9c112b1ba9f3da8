//! Figures 14a and 14b: the privacy onion effect (Carlini et al., NeurIPS 2022,
//! arXiv 2206.10469) from the records of the `onion` sweep.

use super::chart::{Chart, Panels, Series, Shade, Stroke};
use super::records::OnionRecord;
use super::{Written, PALETTE};
use crate::experiment::onion::{ControlStep, Masking, Peel};
use crate::experiment::summary::mean_ci;
use crate::Result;
use std::path::Path;

/// Mean and 95 % half-width of `xs` (half-width 0 for one value; `None` for none).
fn ci95(xs: &[f64]) -> Option<(f64, f64)> {
    mean_ci(xs, 0.95).map(|c| (c.mean, c.half_width))
}

/// Mean and 95 % half-width over records of `f` (half-width 0 for one record).
fn over(recs: &[&OnionRecord], f: impl Fn(&OnionRecord) -> Option<f64>) -> Option<(f64, f64)> {
    ci95(&recs.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
}

/// One record's score `before` at x0 and `after` at x0 + 1, joined by a solid segment.
fn segment(x0: f64, before: f64, after: f64, color: (u8, u8, u8), label: String) -> Series {
    Series {
        label,
        color,
        points: vec![(x0, before, 0.0), (x0 + 1.0, after, 0.0)],
        stroke: Stroke::Solid,
        markers: true,
    }
}

/// The mean of `before` at x0 and of `after` at x0 + 1 in black, each with its 95 % interval.
fn mean_segment(x0: f64, before: &[f64], after: &[f64], label: String, stroke: Stroke) -> Series {
    let ((mb, hb), (ma, ha)) = (
        ci95(before).unwrap_or((0.0, 0.0)),
        ci95(after).unwrap_or((0.0, 0.0)),
    );
    Series {
        label,
        color: (0, 0, 0),
        points: vec![(x0, mb, hb), (x0 + 1.0, ma, ha)],
        stroke,
        markers: true,
    }
}

/// A panel of per-example TPRs s before and after a removal (the panels of fig14b).
fn s_panel(title: &str, x_label: &str, x_range: (f64, f64), series: Vec<Series>) -> Chart {
    Chart {
        stem: String::new(),
        title: title.into(),
        x_label: x_label.into(),
        y_label: "per-example TPR s".into(),
        x_log: false,
        y_log: false,
        x_range: Some(x_range),
        series,
        shades: vec![],
        vlines: vec![],
        y_range: Some((0.0, 1.02)),
        note: None,
    }
}

/// The setting of the first record, for notes.
fn setting(r: &OnionRecord) -> String {
    format!(
        "{} records, {} {} models ({} epochs) per pool, {} per-example TPR at global FPR {}, \
         vulnerable when s ≥ {}.",
        r.output.records,
        r.output.models,
        r.params.shadow.model.name(),
        r.params.shadow.epochs,
        r.params.attack.name(),
        r.params.fpr,
        r.params.level
    )
}

/// A bar from 0 to `y` centred on `x`: a faint fill and its outline.
fn bar(x: f64, y: f64, color: (u8, u8, u8), label: String) -> (Shade, Series) {
    let (a, b) = (x - 0.3, x + 0.3);
    (
        Shade {
            color,
            upper: vec![(a, y), (b, y)],
        },
        Series {
            label,
            color,
            points: vec![(a, 0.0, 0.0), (a, y, 0.0), (b, y, 0.0), (b, 0.0, 0.0)],
            stroke: Stroke::Solid,
            markers: false,
        },
    )
}

/// fig14a: vulnerable survivors per peel (bars; step 0 is layer 0) against the random
/// control (mean over chains with its 95 % interval), with the static audit's prediction
/// (survivors that were already vulnerable one layer earlier), the newly exposed survivors
/// of each peel and of each random step, and the noise floor (survivors of peel 1 that turn
/// vulnerable when layer 0 is merely re-scored with independent models). Several records
/// (replicates) are averaged, with 95 % intervals over them.
///
/// # Errors
/// Drawing failures.
pub fn fig14a(recs: &[&OnionRecord], out: &Path) -> Result<Written> {
    let first = recs[0];
    let steps = recs.iter().map(|r| r.output.peels.len()).min().unwrap_or(0);
    let red = PALETTE[3];
    let mut series = Vec::new();
    let mut shades = Vec::new();
    let mut top: f64 = 1.0;
    for t in 0..=steps {
        let v = over(recs, |r| {
            Some(match t {
                0 => r.output.layer0.vulnerable as f64,
                _ => r.output.peels[t - 1].layer.vulnerable as f64,
            })
        })
        .map_or(0.0, |c| c.0);
        top = top.max(v);
        let label = if t == 0 {
            "vulnerable records after each peel and retraining (bars; step 0 = layer 0)".into()
        } else {
            String::new()
        };
        let (sh, se) = bar(t as f64, v, red, label);
        shades.push(sh);
        series.push(se);
    }
    // A count of every peel t ≥ 1: the mean over records with its 95 % interval.
    let per_peel = |count: fn(&Peel) -> usize| {
        (1..=steps)
            .filter_map(|t| {
                over(recs, |r| Some(count(r.output.peels.get(t - 1)?) as f64))
                    .map(|(m, h)| (t as f64, m, h))
            })
            .collect::<Vec<_>>()
    };
    series.push(Series {
        label: "of which newly exposed (safe one layer earlier)".into(),
        color: (140, 20, 20),
        points: per_peel(|p| p.newly_exposed),
        stroke: Stroke::Solid,
        markers: true,
    });
    series.push(Series {
        label: "survivors already vulnerable before the peel (a static audit's prediction)".into(),
        color: (0, 0, 0),
        points: per_peel(|p| p.vulnerable_before),
        stroke: Stroke::Dashed,
        markers: true,
    });
    // The random control: the mean over chains within a record, then over records; one
    // record: its chains' 95 % interval.
    let control = |f: &dyn Fn(&ControlStep) -> (f64, f64)| {
        (0..=steps)
            .filter_map(|t| {
                if recs.len() == 1 {
                    recs[0].output.random.get(t).map(|c| {
                        let (m, h) = f(c);
                        (t as f64, m, h)
                    })
                } else {
                    over(recs, |r| r.output.random.get(t).map(|c| f(c).0))
                        .map(|(m, h)| (t as f64, m, h))
                }
            })
            .collect::<Vec<_>>()
    };
    let blue = PALETTE[0];
    let rand_v = control(&|c| (c.vulnerable.mean, c.vulnerable.half_width));
    top = rand_v.iter().fold(top, |a, p| a.max(p.1 + p.2));
    series.push(Series {
        label: format!(
            "random removal of as many records: vulnerable (mean of {} chains, 95% CI)",
            first.params.random_seeds
        ),
        color: blue,
        points: rand_v,
        stroke: Stroke::Solid,
        markers: true,
    });
    series.push(Series {
        label: "random removal: newly exposed (95% CI)".into(),
        color: blue,
        points: control(&|c| (c.newly_exposed.mean, c.newly_exposed.half_width))
            .into_iter()
            .skip(1)
            .collect(),
        stroke: Stroke::Dashed,
        markers: true,
    });
    if let Some((m, _)) = over(recs, |r| {
        let n = &r.output.noise;
        (!n.is_empty())
            .then(|| n.iter().map(|c| c.newly_exposed as f64).sum::<f64>() / n.len() as f64)
    }) {
        series.push(Series {
            label: "noise floor: survivors of peel 1 newly vulnerable when layer 0 is only \
                    re-scored with independent models"
                .into(),
            color: (120, 120, 120),
            points: vec![(0.6, m, 0.0), (1.4, m, 0.0)],
            stroke: Stroke::Dotted,
            markers: false,
        });
    }
    let o = &first.output;
    let noise = &o.noise;
    let jac = noise.iter().map(|c| c.jaccard).sum::<f64>() / noise.len().max(1) as f64;
    let ov = noise.iter().map(|c| c.top_overlap).sum::<f64>() / noise.len().max(1) as f64;
    let chart = Chart {
        stem: "fig14a_onion_layers".into(),
        title: "Privacy onion effect: peeling the most exposed layer vs random removal".into(),
        x_label: format!(
            "step (each removes {} records = {} % of the original)",
            o.removed_per_step,
            first.params.peel_fraction * 100.0
        ),
        y_label: "records".into(),
        x_log: false,
        y_log: false,
        x_range: Some((-0.5, steps as f64 + 0.5)),
        series,
        shades,
        vlines: vec![],
        y_range: Some((0.0, top * 1.1)),
        note: Some(format!(
            "{} Each peel removes the most exposed records, trains {} new models on the rest with \
             a fresh keep matrix and re-scores (per-example TPR at a global FPR: the share of \
             the models trained on a record whose attack flags it). A static audit predicts \
             the dashed line; the bars stay far above it: a new layer is exposed. Noise control \
             (layer 0 re-scored, mean over chains): Jaccard of the vulnerable sets {jac:.2}, \
             top-layer overlap {ov:.2}. No bound is drawn: these models are not DP, so the \
             bound TPR ≤ e^ε·FPR + δ has no ε to hold at.",
            setting(first),
            o.models
        )),
    };
    chart.draw(out)?;
    Ok(Written {
        files: chart.files(out),
        summary: "fig14a: vulnerable records per peel (bars) vs random removal (95% CI), newly \
                  exposed, static prediction, noise floor"
            .into(),
    })
}

/// fig14b: peel 1's survivors, score in layer 0 (x = 0) and after retraining (x = 1): each
/// newly exposed survivor a red segment, each newly safe one blue, and the mean of every
/// survivor in black with its 95 % interval (first record).
///
/// # Errors
/// Drawing failures.
pub fn fig14b(recs: &[&OnionRecord], out: &Path) -> Result<Written> {
    let r = recs[0];
    let level = r.params.level;
    let sv = &r.output.survivors;
    let (red, blue) = (PALETTE[3], PALETTE[0]);
    let mut series = Vec::new();
    let (mut exposed, mut safe) = (0usize, 0usize);
    for (&b, &a) in sv.before.iter().zip(&sv.after) {
        let (color, label) = if a >= level && b < level {
            exposed += 1;
            (
                red,
                (exposed == 1).then_some("newly exposed survivor (safe in layer 0)"),
            )
        } else if b >= level && a < level {
            safe += 1;
            (blue, (safe == 1).then_some("newly safe survivor"))
        } else {
            continue;
        };
        series.push(segment(0.0, b, a, color, label.unwrap_or_default().into()));
    }
    series.push(mean_segment(
        0.0,
        &sv.before,
        &sv.after,
        format!("mean over all {} survivors (95% CI)", sv.before.len()),
        Stroke::Solid,
    ));
    series.push(Series {
        label: format!("vulnerability level s = {level}"),
        color: (120, 120, 120),
        points: vec![(-0.1, level, 0.0), (1.1, level, 0.0)],
        stroke: Stroke::Dotted,
        markers: false,
    });
    let peel = s_panel(
        "peel 1: survivors before and after",
        "layer (0: all records; 1: top layer removed, models retrained)",
        (-0.15, 1.15),
        series,
    );
    let mut panels = vec![peel];
    let mut note = format!(
        "{} {exposed} survivors were safe in layer 0 and are vulnerable once the {} most \
         exposed records are gone and the models retrained; {safe} went the other way. \
         Survivors whose side of the level did not change are not drawn.",
        setting(r),
        r.output.removed_per_step
    );
    if let Some(m) = &r.output.masking {
        let panel = masking_panel(m, level, &mut panels[0].series);
        panels.push(panel);
        note.push_str(&format!(
            " Masking: {} targets (the safest member of tail components of 3–5 records); \
             removing their {} neighbours changes s by {:+.3} ± {:.3} ({} exposed), removing \
             as many random records by {:+.3} ± {:.3} ({} exposed).",
            m.targets,
            m.removed,
            m.change[0],
            m.change[1],
            m.exposed,
            m.control_change[0],
            m.control_change[1],
            m.control_exposed
        ));
    }
    let fig = Panels {
        stem: "fig14b_onion_survivors".into(),
        title: "Privacy onion effect: who becomes exposed".into(),
        panels,
        note: Some(note),
    };
    fig.draw(out)?;
    Ok(Written {
        files: fig.files(out),
        summary: "fig14b: peel 1 survivors' per-example TPR before/after, newly exposed in red"
            .into(),
    })
}

/// The masking panel: each target's s in layer 0 and after its neighbours are removed
/// (x = 0 → 1, red when it becomes vulnerable, grey otherwise), and after as many random
/// records are removed instead (x = 2 → 3); means with 95 % intervals in black. Its legend
/// entries are appended to `legend` (the panels share the first panel's legend).
fn masking_panel(m: &Masking, level: f64, legend: &mut Vec<Series>) -> Chart {
    let red = PALETTE[3];
    let grey = (170, 170, 170);
    let mut series = Vec::new();
    for (x0, after) in [(0.0, &m.after), (2.0, &m.control_after)] {
        for (&b, &a) in m.before.iter().zip(after.iter()) {
            let color = if a >= level { red } else { grey };
            series.push(segment(x0, b, a, color, String::new()));
        }
        series.push(mean_segment(
            x0,
            &m.before,
            after,
            String::new(),
            Stroke::Dashed,
        ));
    }
    legend.push(Series {
        label: "masking target (right panel): safe in layer 0, after its neighbours or as \
                many random records are removed; grey: still safe"
            .into(),
        color: grey,
        points: vec![],
        stroke: Stroke::Solid,
        markers: false,
    });
    legend.push(Series {
        label: "mean over the masking targets (95% CI)".into(),
        color: (0, 0, 0),
        points: vec![],
        stroke: Stroke::Dashed,
        markers: false,
    });
    s_panel(
        "masking: 0→1 neighbours removed, 2→3 random",
        "0: layer 0, 1: neighbours removed | 2: layer 0, 3: random removed",
        (-0.15, 3.15),
        series,
    )
}
