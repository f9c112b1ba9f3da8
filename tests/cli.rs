//! End-to-end tests of the `lbounds` binary: outputs, exit codes and one-line errors.
#![cfg(feature = "cli")]

mod common;

use common::{fails_with, ok};
use std::io::Write;

/// A temporary CSV file that is removed on drop.
struct Csv(std::path::PathBuf);

impl Csv {
    fn new(name: &str, text: &str) -> Csv {
        let dir = std::env::temp_dir().join(format!("lbounds-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        Csv(path)
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Csv {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn help_teaches() {
    let text = ok(&["--help"]);
    for sub in ["simulate", "aggregate", "attack", "list"] {
        assert!(text.contains(sub), "--help lacks {sub}");
    }
    assert!(ok(&["simulate", "--help"]).contains("--byzantine"));
}

#[test]
fn aggregate_average_known_answer() {
    // By hand: mean of (1,2), (3,4), (8,0) = (4,2).
    let csv = Csv::new("avg.csv", "1,2\n3,4\n8,0\n");
    let out = ok(&["aggregate", "--rule", "average", "--input", csv.path()]);
    assert_eq!(out, "4.0,2.0\n");
    let out = ok(&[
        "aggregate",
        "--rule",
        "Average",
        "--input",
        csv.path(),
        "--json",
        "--repeat",
        "3",
        "--timing",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["aggregate"], serde_json::json!([4.0, 2.0]));
    assert!(v["seconds_per_call"].as_f64().unwrap() >= 0.0);
}

#[test]
fn aggregate_with_pre_aggregator() {
    // clipping(c=1) maps (3,4) to (0.6,0.8) and keeps (0,1); their mean is (0.3, 0.9).
    let csv = Csv::new("pre.csv", "3,4\n0,1\n");
    let out = ok(&[
        "aggregate",
        "--rule",
        "average",
        "--pre",
        "clipping:c=1",
        "--input",
        csv.path(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let agg: Vec<f64> = serde_json::from_value(v["aggregate"].clone()).unwrap();
    assert!(
        (agg[0] - 0.3).abs() < 1e-15 && (agg[1] - 0.9).abs() < 1e-15,
        "{agg:?}"
    );
}

#[test]
fn attack_sign_flipping_and_then_aggregate() {
    // Honest mean (2,0) → Byzantine vector (-2,-0); with 2 copies appended, the average of
    // (1,2), (3,-2), (-2,0), (-2,0) is (0,0).
    let csv = Csv::new("honest.csv", "1,2\n3,-2\n");
    let out = ok(&[
        "attack",
        "--attack",
        "sign_flipping",
        "--f",
        "2",
        "--input",
        csv.path(),
    ]);
    assert_eq!(out, "-2.0,-0.0\n");
    let out = ok(&[
        "attack",
        "--attack",
        "SignFlipping",
        "--f",
        "2",
        "--input",
        csv.path(),
        "--rule",
        "average",
        "--then-aggregate",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["byzantine"], serde_json::json!([-2.0, -0.0]));
    assert_eq!(v["aggregate"], serde_json::json!([0.0, 0.0]));
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let good = Csv::new("good.csv", "1,2\n3,4\n5,6\n");
    let empty = Csv::new("empty.csv", "");
    let ragged = Csv::new("ragged.csv", "1,2\n3\n");
    let nan = Csv::new("nan.csv", "1,2\nNaN,4\n");
    let inf = Csv::new("inf.csv", "1,2\ninf,4\n");
    let g = good.path();
    fails_with(
        &["aggregate", "--rule", "averag", "--input", g],
        "did you mean `average`",
    );
    fails_with(
        &[
            "aggregate",
            "--rule",
            "average",
            "--param",
            "tua=1",
            "--input",
            g,
        ],
        "unknown parameter",
    );
    fails_with(
        &[
            "aggregate",
            "--rule",
            "average",
            "--param",
            "tau",
            "--input",
            g,
        ],
        "KEY=VALUE",
    );
    fails_with(
        &["aggregate", "--rule", "average", "--input", empty.path()],
        "empty",
    );
    fails_with(
        &["aggregate", "--rule", "average", "--input", ragged.path()],
        "ragged",
    );
    fails_with(
        &["aggregate", "--rule", "average", "--input", nan.path()],
        "not finite",
    );
    fails_with(
        &["aggregate", "--rule", "average", "--input", inf.path()],
        "not finite",
    );
    fails_with(
        &[
            "aggregate",
            "--rule",
            "average",
            "--input",
            "/nonexistent/x.csv",
        ],
        "--input",
    );
    fails_with(&["aggregate", "--rule", "average"], "--input");
    fails_with(
        &["attack", "--attack", "sign_flip", "--f", "1", "--input", g],
        "did you mean",
    );
    fails_with(
        &[
            "attack",
            "--attack",
            "sign_flipping",
            "--f",
            "0",
            "--input",
            g,
        ],
        "0",
    );
    fails_with(&["simulate", "--byzantine", "0.5"], "byzantine");
    fails_with(&["simulate", "--byzantine", "-0.1"], "byzantine");
    fails_with(&["simulate", "--byzantine", "NaN"], "byzantine");
    fails_with(&["simulate", "--d", "0"], "d");
    // Too large to hold in memory: refused up front, not an allocation abort.
    fails_with(
        &["simulate", "--n", "100000", "--d", "100000"],
        "exceeds the limit",
    );
    fails_with(&["simulate", "--rules", "krun"], "did you mean `krum`");
    fails_with(
        &[
            "simulate",
            "--rules",
            "bulyan",
            "--n",
            "10",
            "--byzantine",
            "0.2",
        ],
        "n >= 4f + 3",
    );
    fails_with(
        &[
            "simulate",
            "--attacks",
            "sign_flipping",
            "--noise",
            "gaussian:sigma=-1",
        ],
        "sigma",
    );
}

#[test]
fn list_names_every_family() {
    let out = ok(&["list", "--json"]);
    let v: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    for fam in ["aggregator", "pre_aggregator", "attack"] {
        assert!(v.iter().any(|r| r["family"] == fam), "no {fam}");
    }
}
