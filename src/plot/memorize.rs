//! Figure 13: memorization and the long tail (E0) — head vs tail accuracy and tail
//! vulnerability as DP-SGD's ε shrinks, beside the catalogue's bounds where their hypotheses
//! hold, and the distribution of the memorization estimate on the head and on the tail.

use super::chart::{tick, Chart, Panels, Series, Stroke};
use super::records::MemorizeRecord;
use super::{Written, PALETTE};
use crate::experiment::memorize::{Ci, MemorizeReport, TailData, MEM_BINS};
use crate::experiment::summary::mean_ci;
use crate::Result;
use std::collections::BTreeMap;
use std::path::Path;

/// The measured quantities of the first two panels: label, colour, reading.
type Reading = fn(&MemorizeReport) -> Option<Ci>;

const ACCURACY: [(&str, usize, Reading); 3] = [
    ("head-test accuracy", 0, |r| Some(r.head_test_accuracy)),
    ("tail-test accuracy", 1, |r| Some(r.tail_test_accuracy)),
    (
        "mislabelled records' training accuracy P[h(x_i) = y_i | i ∈ S]",
        2,
        |r| r.group("mislabelled").map(|g| g.p_in),
    ),
];

const VULNERABILITY: [(&str, usize, Reading); 3] = [
    (
        "LiRA online TPR at 0.1 % FPR on tail training records (95 % Clopper–Pearson)",
        3,
        |r| {
            r.lira.first().map(|l| Ci {
                mean: l.tpr_at_0_1pct_fpr,
                lower: l.tpr_lower,
                upper: l.tpr_upper,
                count: l.members,
            })
        },
    ),
    ("mean mem_i, tail records", 4, |r| {
        r.group("tail").map(|g| g.mem)
    }),
    ("mean mem_i, head records", 7, |r| {
        r.group("head").map(|g| g.mem)
    }),
];

/// Per ε (`None` = no DP): the reading's mean over replicates with a 95 % t interval, or,
/// with one replicate, the record's own interval.
fn per_epsilon(recs: &[&MemorizeRecord], read: Reading) -> BTreeMap<u64, (Option<f64>, f64, f64)> {
    let mut cells: BTreeMap<u64, (Option<f64>, Vec<Ci>)> = BTreeMap::new();
    for r in recs {
        let e = r.bounds.epsilon;
        // No DP sorts last (as ε = ∞).
        let key = e.map_or(u64::MAX, f64::to_bits);
        if let Some(c) = read(&r.output) {
            cells.entry(key).or_insert((e, Vec::new())).1.push(c);
        }
    }
    cells
        .into_iter()
        .map(|(k, (e, cis))| {
            let (m, hw) = if cis.len() == 1 {
                (cis[0].mean, (cis[0].upper - cis[0].lower) / 2.0)
            } else {
                let means: Vec<f64> = cis.iter().map(|c| c.mean).collect();
                mean_ci(&means, 0.95).map_or((f64::NAN, 0.0), |c| (c.mean, c.half_width))
            };
            (k, (e, m, hw))
        })
        .collect()
}

/// A measured curve over the DP levels (solid) and its no-DP value as a dashed line
/// across the ε range.
fn curves(
    recs: &[&MemorizeRecord],
    label: &str,
    colour: usize,
    read: Reading,
    (e_lo, e_hi): (f64, f64),
) -> Vec<Series> {
    let cells = per_epsilon(recs, read);
    if cells.is_empty() {
        return vec![];
    }
    let private: Vec<(f64, f64, f64)> = cells
        .values()
        .filter_map(|&(e, m, hw)| e.map(|e| (e, m, hw)))
        .collect();
    let mut out = vec![Series {
        label: label.to_string(),
        color: PALETTE[colour],
        points: private,
        stroke: Stroke::Solid,
        markers: true,
    }];
    if let Some(&(None, m, _)) = cells.get(&u64::MAX) {
        out.push(Series {
            label: String::new(),
            color: PALETTE[colour],
            points: vec![(e_lo, m, 0.0), (e_hi, m, 0.0)],
            stroke: Stroke::Dashed,
            markers: false,
        });
    }
    out
}

/// A bound over the DP levels (black), one value per ε.
fn bound(
    recs: &[&MemorizeRecord],
    value: impl Fn(&MemorizeRecord) -> Option<f64>,
    stroke: Stroke,
) -> Series {
    let mut m: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    for r in recs {
        if let (Some(e), Some(v)) = (r.bounds.epsilon, value(r)) {
            m.insert(e.to_bits(), (e, v));
        }
    }
    Series {
        label: String::new(),
        color: (0, 0, 0),
        points: m.values().map(|&(e, v)| (e, v, 0.0)).collect(),
        stroke,
        markers: false,
    }
}

/// fig13: one figure per data set among the records of the `memorize` sweep
/// (`fig13_memorization` for the Gaussian mixture, `fig13_memorization_digits` for the
/// digits), each drawn by [`one`].
///
/// # Errors
/// Drawing failures.
pub fn fig13(recs: &[&MemorizeRecord], out: &Path) -> Result<Vec<Written>> {
    let mut written = Vec::new();
    for (digits, stem) in [
        (false, "fig13_memorization"),
        (true, "fig13_memorization_digits"),
    ] {
        let of: Vec<&MemorizeRecord> = recs
            .iter()
            .copied()
            .filter(|r| matches!(r.params.data, TailData::Digits(_)) == digits)
            .collect();
        if !of.is_empty() {
            written.push(one(&of, stem, out)?);
        }
    }
    Ok(written)
}

/// Three panels over the records of one data set —
/// (a) head-test, tail-test and mislabelled-training accuracy vs ε with M4's cap on the
/// last; (b) LiRA's TPR at 0.1 % FPR on the tail and the mean memorization of tail and head
/// records vs ε with M3's cap and the DP line; (c) the distribution of mem̂_i on the head and
/// on the tail without DP and at the smallest ε. No-DP values are dashed across the ε range.
///
/// # Errors
/// Drawing failures.
fn one(recs: &[&MemorizeRecord], stem: &str, out: &Path) -> Result<Written> {
    let eps: Vec<f64> = recs.iter().filter_map(|r| r.bounds.epsilon).collect();
    let range = eps
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
    let range = if range.0.is_finite() {
        range
    } else {
        (1.0, 10.0)
    };
    let mut a_series = Vec::new();
    for (label, colour, read) in ACCURACY {
        a_series.extend(curves(recs, label, colour, read, range));
    }
    let has_m4 = recs.iter().any(|r| r.bounds.m4_mislabelled_cap.is_some());
    if has_m4 {
        let mut m4 = bound(recs, |r| r.bounds.m4_mislabelled_cap, Stroke::Dashed);
        m4.label = "M4: cap on a mislabelled record's training accuracy, c = K − 1, ℓ = 2 \
                    (probability)"
            .into();
        a_series.push(m4);
    }
    let mut b_series = Vec::new();
    for (label, colour, read) in VULNERABILITY {
        let mut s = curves(recs, label, colour, read, range);
        if s.is_empty() {
            continue;
        }
        // The legend lives in panel (a): a label-only entry there, none here.
        a_series.push(Series {
            label: label.to_string(),
            color: PALETTE[colour],
            points: vec![],
            stroke: Stroke::Solid,
            markers: true,
        });
        s[0].label = String::new();
        b_series.extend(s);
    }
    b_series.push(bound(recs, |r| r.bounds.m3_mem_cap, Stroke::Dashed));
    b_series.push(bound(
        recs,
        |r| r.bounds.tpr_cap_at_0_1pct_fpr,
        Stroke::Dotted,
    ));
    for (label, stroke) in [
        (
            "M3: cap on every mem_i, (e^ε − 1 + 2δ)/(e^ε + 1) (difference of probabilities)",
            Stroke::Dashed,
        ),
        (
            "DP line: TPR ≤ e^ε·0.001 + δ at FPR 0.1 % (Kairouz et al. 2015)",
            Stroke::Dotted,
        ),
    ] {
        a_series.push(Series {
            label: label.into(),
            color: (0, 0, 0),
            points: vec![],
            stroke,
            markers: false,
        });
    }
    a_series.push(Series {
        label: "dashed in colour: the same quantity without DP".into(),
        color: (150, 150, 150),
        points: vec![],
        stroke: Stroke::Dashed,
        markers: false,
    });

    // (c) Histograms, replicate 0: no DP (solid) and the smallest ε (dotted).
    let smallest = range.0;
    let mut c_series = Vec::new();
    let width = 2.0 / MEM_BINS as f64;
    for (which, stroke) in [(None, Stroke::Solid), (Some(smallest), Stroke::Dotted)] {
        let Some(r) = recs
            .iter()
            .find(|r| r.replicate == 0 && r.bounds.epsilon == which)
        else {
            continue;
        };
        for (group, colour) in [("head", 7), ("tail", 4)] {
            if let Some(g) = r.output.group(group) {
                let total = g.histogram.iter().sum::<usize>().max(1) as f64;
                c_series.push(Series {
                    label: String::new(),
                    color: PALETTE[colour],
                    points: g
                        .histogram
                        .iter()
                        .enumerate()
                        .map(|(b, &c)| (-1.0 + (b as f64 + 0.5) * width, c as f64 / total, 0.0))
                        .collect(),
                    stroke,
                    markers: true,
                });
            }
        }
    }
    a_series.push(Series {
        label: format!(
            "(c) solid: no DP; dotted: ε = {}; purple tail, grey head",
            tick(smallest)
        ),
        color: (150, 150, 150),
        points: vec![],
        stroke: Stroke::Dotted,
        markers: false,
    });

    let first = recs[0];
    let panel = |title: &str, x: &str, y: &str, x_log: bool, series, y_range| Chart {
        stem: String::new(),
        title: title.into(),
        x_label: x.into(),
        y_label: y.into(),
        x_log,
        y_log: false,
        x_range: None,
        series,
        shades: vec![],
        vlines: vec![],
        note: None,
        y_range,
    };
    let delta = recs.iter().find_map(|r| r.bounds.delta).unwrap_or(0.0);
    let fig = Panels {
        stem: stem.into(),
        title: format!(
            "Memorization and the long tail: {}, {} × {} models ({} LiRA targets)",
            first.params.data.describe(),
            first.output.models,
            first.params.shadow.model.name(),
            first.params.targets
        ),
        panels: vec![
            panel(
                "(a) accuracy vs ε",
                &format!("DP-SGD ε (δ = {}, log)", tick(delta)),
                "accuracy (probability)",
                true,
                a_series,
                Some((0.0, 1.0)),
            ),
            panel(
                "(b) tail vulnerability and memorization vs ε",
                &format!("DP-SGD ε (δ = {}, log)", tick(delta)),
                "probability / difference of probabilities",
                true,
                b_series,
                Some((-0.05, 1.0)),
            ),
            panel(
                "(c) distribution of mem_i",
                "mem_i = P[correct | i ∈ S] − P[correct | i ∉ S]",
                "fraction of the group's records",
                false,
                c_series,
                None,
            ),
        ],
        note: Some(format!(
            "95 % intervals: accuracy over models, mem over records (t). M3 holds at every DP \
             level (DP-SGD is DP for adding or removing a record). {}Not shown: M1 (needs \
             Zipf frequencies and uniform labels; a tail label is its class){}.",
            if has_m4 {
                "M4 holds on mislabelled records (label uniform over K − 1 classes; ℓ = 2). "
            } else {
                ""
            },
            if has_m4 {
                ", M4 on the tail (its label is not uniform)"
            } else {
                ", M4 (no label noise)"
            }
        )),
    };
    fig.draw(out)?;
    let at = |e: Option<f64>| {
        recs.iter()
            .find(|r| r.replicate == 0 && r.bounds.epsilon == e)
    };
    let summary = match (at(None), at(Some(smallest))) {
        (Some(a), Some(b)) => format!(
            "{stem}: tail-test accuracy {:.2} -> {:.2} and tail TPR@0.1%FPR {:.3} -> {:.3} from no DP to eps = {}",
            a.output.tail_test_accuracy.mean,
            b.output.tail_test_accuracy.mean,
            a.output.lira.first().map_or(f64::NAN, |l| l.tpr_at_0_1pct_fpr),
            b.output.lira.first().map_or(f64::NAN, |l| l.tpr_at_0_1pct_fpr),
            tick(smallest)
        ),
        _ => format!("{stem}: head vs tail accuracy and tail vulnerability vs epsilon, mem distribution"),
    };
    Ok(Written {
        files: fig.files(out),
        summary,
    })
}
