//! End-to-end tests of `lbounds privacy`: outputs, JSON keys, exit codes and one-line errors.
#![cfg(feature = "cli")]

mod common;

use common::lbounds;
use serde_json::Value;

/// `privacy` followed by `args`.
fn privacy<'a>(args: &[&'a str]) -> Vec<&'a str> {
    [&["privacy"], args].concat()
}

/// Runs `lbounds privacy ARGS`, expects success, returns stdout.
fn ok(args: &[&str]) -> String {
    common::ok(&privacy(args))
}

fn json(args: &[&str]) -> Value {
    let s = ok(args);
    assert_eq!(s.lines().count(), 1, "{s}");
    serde_json::from_str(&s).unwrap()
}

/// Expects exit code 2, no stdout and one stderr line containing `needle`.
fn fails_with(args: &[&str], needle: &str) {
    common::fails_with(&privacy(args), needle);
}

const QUERY: [&str; 8] = [
    "--sampling-rate",
    "0.004267",
    "--noise-multiplier",
    "1.1",
    "--steps",
    "14060",
    "--delta",
    "1e-5",
];

#[test]
fn epsilon_rdp_and_pld() {
    // dp-accounting 0.6.0 on the same query: RDP 2.5965813615, PLD 2.3817087675
    // (tests/fixtures/dp_accounting/timing.json).
    let mut args = vec!["epsilon", "--json"];
    args.extend(QUERY);
    let v = json(&args);
    assert!(
        (v["epsilon"].as_f64().unwrap() - 2.596_581_361_5).abs() < 1e-8,
        "{v}"
    );
    assert_eq!(v["accountant"], "rdp");
    let mut args = vec!["epsilon", "--accountant", "pld", "--json"];
    args.extend(QUERY);
    let v = json(&args);
    let e = v["epsilon"].as_f64().unwrap();
    assert!((e - 2.381_708_767_5).abs() < 2e-3 * e, "{v}");
    let mut args = vec!["epsilon"];
    args.extend(QUERY);
    assert!(ok(&args).starts_with("epsilon = 2.596581"));
}

#[test]
fn noise_calibration_round_trips() {
    let v = json(&[
        "noise",
        "--sampling-rate",
        "0.01",
        "--steps",
        "1000",
        "--epsilon",
        "2",
        "--delta",
        "1e-5",
        "--json",
    ]);
    let s = v["noise_multiplier"].as_f64().unwrap();
    assert!(v["epsilon_reached"].as_f64().unwrap() <= 2.0);
    let e = json(&[
        "epsilon",
        "--sampling-rate",
        "0.01",
        "--noise-multiplier",
        &s.to_string(),
        "--steps",
        "1000",
        "--delta",
        "1e-5",
        "--json",
    ]);
    assert!(e["epsilon"].as_f64().unwrap() <= 2.0);
}

#[test]
fn gaussian_sigma() {
    // Analytic σ for ε = 1, δ = 1e-5, Δ = 1: 3.7306 (dp-accounting agrees to 1e-6).
    let v = json(&["gaussian", "--epsilon", "1", "--delta", "1e-5", "--json"]);
    assert!(
        (v["sigma"].as_f64().unwrap() - 3.730_63).abs() < 1e-4,
        "{v}"
    );
    assert!(v["classical_sigma"].is_null());
    // ε = 0.5: classical σ = √(2 ln 125000)/0.5 = 9.689611 is printed beside it.
    let t = ok(&[
        "gaussian",
        "--epsilon",
        "0.5",
        "--delta",
        "1e-5",
        "--sensitivity",
        "1",
    ]);
    assert!(t.contains("classical sigma = 9.689611"), "{t}");
}

#[test]
fn mean_and_sgd_runs() {
    // `mean` on 50 users x 4 records in d = 3, plus `extra`.
    let mean = |extra: &[&str]| {
        let base = ["mean", "--n", "50", "--d", "3", "--records", "4"];
        ok(&[&base[..], extra].concat())
    };
    let t = mean(&["--epsilons", "1,10", "--replicates", "3"]);
    assert!(t.contains("CoinPress") && t.contains("P1"), "{t}");
    let j = mean(&["--epsilons", "1", "--replicates", "2", "--json"]);
    assert_eq!(j.lines().count(), 2);
    for line in j.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(v["output"]["known_range"].as_f64().unwrap() >= 0.0);
        assert!(v["output"]["p1_record_level"].as_f64().unwrap() > 0.0);
    }
    let j = ok(&[
        "sgd",
        "--model",
        "logistic",
        "--noise-multipliers",
        "0,1",
        "--n",
        "20",
        "--d",
        "3",
        "--records",
        "5",
        "--epochs",
        "2",
        "--sampling-rate",
        "0.2",
        "--replicates",
        "2",
        "--json",
    ]);
    let recs: Vec<Value> = j
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 4);
    // σ = 0: no ε (null); σ = 1: ε after each of the 2 epochs, increasing.
    assert!(recs[0]["output"]["epochs"][1]["epsilon"].is_null());
    let e1 = recs[2]["output"]["epochs"][0]["epsilon"].as_f64().unwrap();
    let e2 = recs[2]["output"]["epochs"][1]["epsilon"].as_f64().unwrap();
    assert!(0.0 < e1 && e1 < e2);
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let base = |over: &[(&str, &str)]| {
        let mut v: Vec<String> = vec!["epsilon".into()];
        let mut q: Vec<(String, String)> = QUERY
            .chunks(2)
            .map(|c| (c[0].to_string(), c[1].to_string()))
            .collect();
        for (k, val) in over {
            for e in q.iter_mut() {
                if e.0 == *k {
                    e.1 = val.to_string();
                }
            }
        }
        for (k, val) in q {
            v.push(k);
            v.push(val);
        }
        v
    };
    let run = |over: &[(&str, &str)], needle: &str| {
        let v = base(over);
        let refs: Vec<&str> = v.iter().map(String::as_str).collect();
        fails_with(&refs, needle);
    };
    run(&[("--sampling-rate", "0")], "`sampling_rate`");
    run(&[("--sampling-rate", "1.5")], "`sampling_rate`");
    run(&[("--noise-multiplier", "-1")], "`noise_multiplier`");
    run(&[("--steps", "0")], "`steps`");
    run(&[("--delta", "1")], "`delta`");
    run(&[("--delta", "0")], "`delta`");
    run(&[("--delta", "-0.1")], "`delta`");
    for eps in ["0", "-2"] {
        fails_with(
            &[
                "noise",
                "--sampling-rate",
                "0.1",
                "--steps",
                "10",
                "--epsilon",
                eps,
                "--delta",
                "1e-5",
            ],
            "`epsilon`",
        );
    }
    fails_with(&["gaussian", "--epsilon", "1", "--delta", "2"], "`delta`");
    fails_with(
        &[
            "gaussian",
            "--epsilon",
            "1",
            "--delta",
            "1e-5",
            "--sensitivity",
            "-1",
        ],
        "`sensitivity`",
    );
    fails_with(&["mean", "--epsilons", "0"], "`epsilon`");
    fails_with(&["sgd", "--noise-multipliers", "-1"], "`noise_multiplier`");
    fails_with(&["sgd", "--sampling-rate", "0"], "`sampling_rate`");
    fails_with(&["epsilon", "--sampling-rate", "0.1"], "required");
}

#[test]
fn help_lists_privacy() {
    let out = lbounds().arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("privacy"));
    let out = lbounds().args(["privacy", "--help"]).output().unwrap();
    let t = String::from_utf8_lossy(&out.stdout);
    for sub in ["epsilon", "noise", "gaussian", "mean", "sgd"] {
        assert!(t.contains(sub), "{t}");
    }
}

#[test]
fn issue12_fractions_and_faults() {
    // A sampling rate written as batch size / dataset size.
    let v = json(&[
        "epsilon",
        "--sampling-rate",
        "256/60000",
        "--noise-multiplier",
        "1.1",
        "--steps",
        "100",
        "--delta",
        "1e-5",
        "--json",
    ]);
    assert_eq!(v["sampling_rate"].as_f64().unwrap(), 256.0 / 60000.0);
    // A noise multiplier of 1e-160 is no privacy: never the false ε = 0 (was NaN → 0).
    let v = json(&[
        "epsilon",
        "--sampling-rate",
        "0.5",
        "--noise-multiplier",
        "1e-160",
        "--steps",
        "1",
        "--delta",
        "1e-5",
        "--json",
    ]);
    assert!(
        v["epsilon"].is_null() || v["epsilon"].as_f64().unwrap() > 1e300,
        "{v}"
    );
    // PLD below its δ floor: an error naming δ and pointing to RDP, not ε = inf.
    fails_with(
        &[
            "epsilon",
            "--accountant",
            "pld",
            "--sampling-rate",
            "0.01",
            "--noise-multiplier",
            "1",
            "--steps",
            "10",
            "--delta",
            "1e-16",
        ],
        "RDP",
    );
    // DP-SGD on records of size 1e160 ends with a clear error (it used to hang), and an
    // unbounded sampling rate is refused up front.
    fails_with(
        &["sgd", "--mean", "1e160", "--replicates", "1"],
        "overflows",
    );
    fails_with(
        &["sgd", "--sampling-rate", "1e-9", "--replicates", "1"],
        "example visits",
    );
    // The report says the loss is not covered by ε.
    let t = ok(&[
        "sgd",
        "--replicates",
        "2",
        "--epochs",
        "1",
        "--n",
        "20",
        "--noise-multipliers",
        "1",
    ]);
    assert!(t.contains("NOT covered by epsilon"), "{t}");
}
