//! `lbounds audit mia`: the JSON keys of every attack, the model cache (a rerun trains
//! nothing and prints the same metrics), the DP bound, and bad input (one line, exit 2).
#![cfg(feature = "cli")]

mod common;

use common::{fails_with, ok};
use serde_json::Value;

fn json(args: &[&str]) -> Value {
    serde_json::from_str(ok(args).trim()).unwrap()
}

/// A small audit: 8 softmax models on 1 000 records (200 population records), 2 targets.
const SMALL: [&str; 12] = [
    "audit",
    "mia",
    "--models",
    "8",
    "--records",
    "1000",
    "--features",
    "8",
    "--targets",
    "2",
    "--epochs",
    "10",
];

/// Every attack reports AUC, TPR at 0.1 % and 1 % FPR and balanced accuracy, each a rate in
/// [0, 1] (balanced accuracy ≥ ½), overall and on the canaries; --roc adds the curves.
#[test]
fn json_has_every_attack_and_metric() {
    let mut args = SMALL.to_vec();
    args.extend(["--json", "--roc"]);
    let v = json(&args);
    let attacks = v["attacks"].as_array().unwrap();
    let names: Vec<&str> = attacks
        .iter()
        .map(|a| a["attack"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "loss",
            "lira_online",
            "lira_online_fixed_variance",
            "lira_offline_logpdf",
            "lira_offline_logpdf_fixed_variance",
            "lira_offline_cdf",
            "lira_offline_cdf_fixed_variance",
            "rmia_offline"
        ]
    );
    for a in attacks {
        for key in [
            "auc",
            "tpr_at_0_1pct_fpr",
            "tpr_at_1pct_fpr",
            "balanced_accuracy",
        ] {
            let x = a[key].as_f64().unwrap_or_else(|| panic!("{key} in {a}"));
            assert!((0.0..=1.0).contains(&x), "{key} = {x}");
        }
        assert!(a["balanced_accuracy"].as_f64().unwrap() >= 0.5);
        assert!(a["canaries"]["auc"].as_f64().is_some(), "{a}");
        assert!(!a["roc"].as_array().unwrap().is_empty());
    }
    assert_eq!(v["models"], 8);
    assert_eq!(v["trained"], 8);
    assert!(v["epsilon"].is_null());
}

/// With --cache, a second run loads every model (trained = 0) and prints identical
/// metrics; growing M from 16 to 32 (whole blocks of the keep matrix) trains only the 16 new
/// models.
#[test]
fn cache_makes_a_rerun_train_nothing() {
    let dir = std::env::temp_dir().join(format!("lbounds-cli-mia-{}", std::process::id()));
    let d = dir.to_str().unwrap();
    let mut args = SMALL.to_vec();
    args[3] = "16";
    args.extend(["--json", "--cache", d]);
    let first = json(&args);
    let second = json(&args);
    assert_eq!(first["trained"], 16);
    assert_eq!(second["trained"], 0);
    assert_eq!(second["cached"], 16);
    assert_eq!(first["attacks"], second["attacks"]);
    args[3] = "32";
    let more = json(&args);
    assert_eq!(
        (more["trained"].as_u64(), more["cached"].as_u64()),
        (Some(16), Some(16))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// DP-SGD at ε = 1: the record carries ε, δ and the calibrated noise multiplier, and the
/// table prints the bound line.
#[test]
fn dp_reports_epsilon_and_noise() {
    let mut args = SMALL.to_vec();
    args.extend(["--epsilon", "1", "--json"]);
    let v = json(&args);
    assert_eq!(v["epsilon"], 1.0);
    assert_eq!(v["delta"], 1e-5);
    assert!(v["noise_multiplier"].as_f64().unwrap() > 1.0, "{v}");
    let mut args = SMALL.to_vec();
    args.extend(["--epsilon", "1"]);
    assert!(ok(&args).contains("TPR <= e^eps*FPR + delta"));
}

#[test]
fn bad_input_is_one_line_exit_2() {
    for (flag, value, needle) in [
        ("--models", "7", "models"),
        ("--models", "2", "models"),
        ("--targets", "0", "targets"),
        ("--records", "100", "records"),
        ("--epsilon", "-1", "epsilon"),
        ("--lr", "nan", "lr"),
    ] {
        let mut args = SMALL.to_vec();
        args.extend([flag, value]);
        fails_with(&args, needle);
    }
    fails_with(&["audit", "mia", "--model", "cnn"], "cnn");
}

/// `experiment = "mia"` sweeps: the records are the same bytes for 1 and 2 threads, a
/// rerun resumes with nothing left to do, and `lbounds figures` draws fig11 from them.
#[test]
fn mia_sweep_is_deterministic_resumable_and_plotted() {
    let base = std::env::temp_dir().join(format!("lbounds-mia-sweep-{}", std::process::id()));
    let (a, records) = common::sweep_on_one_and_two_threads(
        &base,
        "name = \"mia\"\nexperiment = \"mia\"\nseed = 3\nreplicates = 2\n[grid]\n\
         model = \"softmax\"\ndp_epsilon = [\"none\", 4]\nmodels = 8\ntargets = 2\n\
         records = 1000\npopulation = 200\nfeatures = 8\nepochs = 10\n",
    );
    assert_eq!(a.lines().count(), 4);
    let p = |x: &std::path::Path| x.to_str().unwrap().to_string();
    let out = base.join("figs");
    ok(&["figures", "--out", &p(&out), "--records", &p(&records)]);
    let png = std::fs::read(out.join("fig11_mia_roc.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let _ = std::fs::remove_dir_all(&base);
}
