//! `lbounds block`: the JSON summary of a quick run, bad input (one line, exit 2), and the
//! `experiment = "block"` sweep (same bytes on 1 and 2 threads, resumable, plotted).
#![cfg(feature = "cli")]

mod common;

use common::{fails_with, ok};
use serde_json::Value;

/// A quick run at one ρ: the summary has a row per (n, model) with a CI, the four models'
/// good-task accuracies, and one report per replicate; the pretrained model solves the good
/// task and the random init does not. The text table names every model.
#[test]
fn quick_run_reports_every_model_with_cis() {
    let v: Value = serde_json::from_str(
        ok(&[
            "block",
            "--quick",
            "--rho",
            "0.5",
            "--replicates",
            "2",
            "--json",
        ])
        .trim(),
    )
    .unwrap();
    let rows = v["summary"].as_array().unwrap();
    assert_eq!(rows.len(), 2 * 4, "{v}");
    for r in rows {
        let best = &r["best"];
        assert!(best["mean"].as_f64().unwrap() >= 0.0 && best["mean"].as_f64().unwrap() <= 1.0);
        assert_eq!(best["count"], 2);
    }
    assert_eq!(v["runs"].as_array().unwrap().len(), 2);
    let good = v["good_accuracy"].as_array().unwrap();
    let acc = |m: &str| {
        good.iter().find(|g| g["model"] == m).unwrap()["good_accuracy"]["mean"]
            .as_f64()
            .unwrap()
    };
    assert!(acc("pretrained") > 0.85, "{good:?}");
    assert!(acc("random_init") < 0.8, "{good:?}");
    let text = ok(&[
        "block",
        "--quick",
        "--rho",
        "0",
        "--replicates",
        "1",
        "--configs",
        "2",
    ]);
    for m in ["pretrained", "random_init", "fine_tuned", "mlac"] {
        assert!(text.contains(m), "{text}");
    }
}

/// Bad input is refused before any work: one line on stderr, exit 2, nothing on stdout.
#[test]
fn bad_input_exits_2_with_one_line() {
    for (args, needle) in [
        (vec!["--rho", "1.5"], "rho"),
        (vec!["--rho", "nan"], "rho"),
        (vec!["--examples", "50,20"], "examples"),
        (vec!["--examples", "0"], "examples"),
        (vec!["--replicates", "0"], "replicates"),
        (vec!["--lambda", "-1"], "lambda"),
        (vec!["--inner-steps", "0"], "inner_steps"),
        (vec!["--inner-lr", "inf"], "inner_lr"),
        (vec!["--configs", "0"], "configs"),
        // Each step count named as itself (both were "`steps`", the larger of the two).
        (
            vec!["--mlac-steps", "1000000000"],
            "`mlac_steps` = 1000000000",
        ),
        (
            vec!["--pretrain-steps", "1000000000"],
            "`pretrain_steps` = 1000000000",
        ),
    ] {
        let mut a = vec!["block", "--quick"];
        a.extend(args);
        fails_with(&a, needle);
    }
}

/// `experiment = "block"` sweeps: the records are the same bytes for 1 and 2 threads, a
/// rerun resumes with nothing left to do, and `lbounds figures` draws fig16a and fig16b.
#[test]
fn block_sweep_is_deterministic_resumable_and_plotted() {
    let base = std::env::temp_dir().join(format!("lbounds-block-sweep-{}", std::process::id()));
    let (a, records) = common::sweep_on_one_and_two_threads(
        &base,
        "name = \"block\"\nexperiment = \"block\"\nseed = 4\nreplicates = 2\n[grid]\n\
         rho = [0.0, 0.9]\nfeatures = 6\nhidden = 8\npretrain_steps = 60\nmlac_steps = 20\n\
         inner_examples = 16\ndefender_examples = 64\nconfigs = 3\nexamples = \"20,50\"\n",
    );
    assert_eq!(a.lines().count(), 4);
    let first: Value = serde_json::from_str(a.lines().next().unwrap()).unwrap();
    assert_eq!(first["output"]["models"].as_array().unwrap().len(), 4);
    assert_eq!(first["bounds"]["good_label_floor"], 0.5);
    let p = |x: &std::path::Path| x.to_str().unwrap().to_string();
    let out = base.join("figs");
    ok(&["figures", "--out", &p(&out), "--records", &p(&records)]);
    for f in ["fig16a_block_examples.png", "fig16b_block_gap.png"] {
        let png = std::fs::read(out.join(f)).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }
    let _ = std::fs::remove_dir_all(&base);
}
