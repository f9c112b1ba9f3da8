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

/// Byte-identical records on one and two threads; a rerun resumes (nothing left to do).
#[test]
fn sweep_is_deterministic_and_resumable() {
    let base = std::env::temp_dir().join(format!("lbounds-unlearn-sweep-{}", std::process::id()));
    let config = r#"
name = "unlearn_small"
experiment = "unlearn"
seed = 3
replicates = 1
[grid]
forget = ["random", "mislabelled"]
models = 4
records = 700
epochs = 10
"#;
    let (records, _) = common::sweep_on_one_and_two_threads(&base, config);
    assert_eq!(records.lines().count(), 2);
    assert!(records.contains("\"forgetting_quality\""));
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
