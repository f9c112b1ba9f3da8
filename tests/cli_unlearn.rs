//! `lbounds unlearn`: the JSON report (every arm, gradient ascent at 0 steps equal to the
//! original, exact retraining at its ideal), determinism across thread counts and resumption
//! as a sweep kind, and bad input (one line, exit 2).
#![cfg(feature = "cli")]

mod common;

use common::{fails_with, ok};
use serde_json::Value;

/// The quick run's arms, in report order.
#[test]
fn json_reports_every_arm_against_retraining() {
    let out = ok(&["unlearn", "--quick", "--forget", "random", "--json"]);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["forget"], "random");
    let arms = v["arms"].as_array().unwrap();
    let name = |a: &Value| {
        format!(
            "{}{}",
            a["method"].as_str().unwrap(),
            a["steps"]
                .as_u64()
                .map_or(String::new(), |s| format!("@{s}"))
        )
    };
    let names: Vec<String> = arms.iter().map(name).collect();
    assert_eq!(
        names,
        [
            "retrain",
            "original",
            "gradient_ascent@0",
            "gradient_ascent@2",
            "gradient_ascent@10",
            "grad_diff@10",
            "fine_tune@10",
            "random_labels@10",
            "newton"
        ]
    );
    // Gradient ascent with 0 steps is the original model: the same outputs, so the same
    // ε_i, F and accuracies (simple_mia differs: its splits come from the arm's own stream).
    for key in [
        "epsilon_plugin",
        "epsilon_lower",
        "forgetting_quality",
        "delta_test_accuracy",
    ] {
        assert_eq!(arms[1][key], arms[2][key], "{key}");
    }
    // Exact retraining sits at the finite-N ideal (within 0.2: the interval over a dozen
    // correlated forget examples is about ±0.1) and the original does not beat it.
    let ideal = v["plugin_ideal"]["mean"].as_f64().unwrap();
    let f = |a: &Value| a["forgetting_quality"]["mean"].as_f64().unwrap();
    assert!(
        (f(&arms[0]) - ideal).abs() < 0.2,
        "{} vs {ideal}",
        f(&arms[0])
    );
    assert!(f(&arms[1]) <= f(&arms[0]) + 0.05);
    let n = v["forget_size"].as_u64().unwrap() as usize;
    assert_eq!(arms[0]["epsilon_plugin"].as_array().unwrap().len(), n);
    // The text table says what F is.
    let table = ok(&["unlearn", "--quick", "--forget", "tail"]);
    assert!(
        table.contains("digitize") && table.contains("newton"),
        "{table}"
    );
}

/// Byte-identical records on one and two threads; a rerun resumes (nothing left to do). The
/// records draw fig15a–d: the MLP's records say the Newton step was skipped (and have no
/// Newton arm), and fig15d's note carries the skip.
#[test]
fn sweep_is_deterministic_and_resumable() {
    let base = std::env::temp_dir().join(format!("lbounds-unlearn-sweep-{}", std::process::id()));
    let config = r#"
name = "unlearn"
experiment = "unlearn"
seed = 3
replicates = 1
[grid]
model = ["softmax", "mlp:8"]
forget = ["random", "mislabelled"]
models = 4
records = 700
epochs = 10
"#;
    let (records, path) = common::sweep_on_one_and_two_threads(&base, config);
    assert_eq!(records.lines().count(), 4);
    assert!(records.contains("\"forgetting_quality\""));
    for line in records.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let out = &v["output"];
        let newton = out["arms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["method"] == "newton");
        let skipped = out["skipped"].as_array().unwrap();
        assert_eq!(newton, out["model"] == "softmax", "{}", out["model"]);
        assert_eq!(skipped.is_empty(), newton, "{skipped:?}");
    }
    let figs = base.join("figs");
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    ok(&["figures", "--records", &s(&path), "--out", &s(&figs)]);
    for stem in [
        "fig15a_unlearn_ga_steps",
        "fig15b_unlearn_tradeoff",
        "fig15c_unlearn_relearn",
    ] {
        assert!(figs.join(format!("{stem}.png")).is_file(), "{stem}");
    }
    let d = std::fs::read_to_string(figs.join("fig15d_unlearn_epsilon_hist.svg")).unwrap();
    // The reference's own panel, and its dashed curve named in the legend.
    assert!(
        d.contains("exact retraining (second set)"),
        "fig15d's reference panel"
    );
    assert!(
        d.contains("random: exact retraining"),
        "fig15d's dashed reference"
    );
    assert!(d.contains("softmax model, not mlp"), "fig15d's skip note");
    let _ = std::fs::remove_dir_all(&base);
}

/// Bad input: one line on stderr, exit 2, nothing on stdout.
#[test]
fn bad_input_is_one_line_exit_2() {
    fails_with(&["unlearn", "--quick", "--models", "2"], "models");
    fails_with(
        &["unlearn", "--quick", "--forget-fraction", "0.9"],
        "forget fraction",
    );
    fails_with(&["unlearn", "--quick", "--lr", "-1"], "lr");
    fails_with(&["unlearn", "--quick", "--lr", "NaN"], "lr");
    fails_with(&["unlearn", "--quick", "--records", "10"], "records");
    fails_with(&["unlearn", "--model", "mlp", "--hidden", "0"], "hidden");
    fails_with(&["unlearn", "--quick", "--steps", "100000000"], "steps");
}
