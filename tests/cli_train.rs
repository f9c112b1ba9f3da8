//! `lbounds train`: the `--compat byzfl` contract against an independent float64
//! re-implementation of ByzFL 0.0.11's D-SGD loop, the JSON records, determinism across thread
//! counts, the defaults, and bad input (one line, exit 2, nothing written).
#![cfg(feature = "cli")]

mod common;

use common::{fails_with, lbounds, ok};
use serde_json::Value;
use std::path::PathBuf;

/// A fresh directory for one test's files.
fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lbounds-train-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn records(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Writes a fixture case's CSV and INIT files and returns the exact contract's arguments.
fn contract_args(case: &Value, d: &std::path::Path) -> Vec<String> {
    let p = case["p"].as_u64().unwrap() as usize;
    let name = case["name"].as_str().unwrap();
    let mut csv = String::new();
    for j in 0..p {
        csv.push_str(&format!("x{j},"));
    }
    csv.push_str("y,client\n");
    for row in case["rows"].as_array().unwrap() {
        let r = numbers(row);
        let cells: Vec<String> = r[..p].iter().map(|v| format!("{v:?}")).collect();
        csv.push_str(&format!(
            "{},{},{}\n",
            cells.join(","),
            r[p] as u64,
            r[p + 1] as u64
        ));
    }
    let data = d.join(format!("{name}.csv"));
    std::fs::write(&data, csv).unwrap();
    let init: Vec<String> = numbers(&case["init"])
        .iter()
        .map(|v| format!("{v:?}"))
        .collect();
    let init_path = d.join(format!("{name}.init.csv"));
    std::fs::write(&init_path, init.join(",") + "\n").unwrap();
    let s = |k: &str| case[k].to_string().trim_matches('"').to_string();
    let mut args: Vec<String> = [
        "train",
        "--data",
        data.to_str().unwrap(),
        "--client-column",
        "client",
        "--label-column",
        "y",
        "--model",
        &s("model"),
        "--clients",
        &s("clients"),
        "--byzantine-count",
        &s("f"),
        "--rounds",
        &s("rounds"),
        "--batch",
        "full",
        "--lr",
        &s("lr"),
        "--momentum",
        &s("momentum"),
        "--weight-decay",
        &s("weight_decay"),
        "--lr-decay",
        &s("lr_decay"),
        "--init",
        init_path.to_str().unwrap(),
        "--rule",
        &match case.get("cc_tau") {
            Some(tau) => format!("{}:tau={tau}", s("rule")),
            None => s("rule"),
        },
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    let milestones: Vec<String> = case["milestones"]
        .as_array()
        .unwrap()
        .iter()
        .map(Value::to_string)
        .collect();
    if !milestones.is_empty() {
        args.extend(["--lr-milestones".to_string(), milestones.join(",")]);
    }
    for pre in case["pre"].as_array().unwrap() {
        args.extend(["--pre".to_string(), pre.as_str().unwrap().to_string()]);
    }
    args.extend(["--attack".to_string(), s("attack")]);
    args.extend(["--compat", "byzfl", "--json"].map(String::from));
    args
}

/// The exact CLI contract of `--compat byzfl`: every fixture case (logistic and softmax;
/// average, trimmed mean, NNM + trimmed mean, median, Krum, stateful centered clipping;
/// sign flipping, ALIE, IPM, label flipping and the optimal attacks searching against the
/// defence, with their own centered-clipping state; momentum, weight decay, a milestone)
/// reproduces the trajectory of `scripts/byzfl_train_reference.py`, an independent pure-Python
/// float64 replay of ByzFL 0.0.11's loop, after every round.
///
/// Tolerance: 1e-10 relative to max(1, |θ|). The two implementations sum in different orders,
/// so each round differs by a few ulps; over ≤ 6 rounds of these well-conditioned steps that
/// stays below 1e-13, and 1e-10 leaves room for the optimal attacks' τ (an exact search
/// decision flip would differ by O(1)).
///
/// Mutations that make it fail (each checked): the attack's centered-clipping state reset
/// every round instead of carried (case `logistic_cc_tau_optimal_alie`, where the replay
/// itself shows the carry changes the trajectory: `state_matters`), the weight decay inside
/// the clients' momentum, the schedule stepped before the round.
#[test]
fn byzfl_compat_contract_matches_the_reference_replay() {
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string("tests/fixtures/train/byzfl_dsgd.json").unwrap(),
    )
    .unwrap();
    let d = dir("contract");
    for case in fixture["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let args = contract_args(case, &d);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let recs = records(&ok(&argv));
        let want = case["params"].as_array().unwrap();
        assert_eq!(recs.len(), want.len(), "{name}: one record per round");
        for (t, (r, w)) in recs.iter().zip(want).enumerate() {
            assert_eq!(r["round"].as_u64(), Some(t as u64 + 1), "{name}");
            assert!(r["seconds"].as_f64().unwrap() >= 0.0);
            let got = numbers(&r["params"]);
            let w = numbers(w);
            assert_eq!(got.len(), w.len(), "{name}");
            for (j, (a, b)) in got.iter().zip(&w).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-10 * b.abs().max(1.0),
                    "{name} round {} coordinate {j}: lbounds {a} reference {b}",
                    t + 1
                );
            }
        }
    }
}

/// `--json` writes only JSON Lines on stdout, with the full-precision parameters (shortest
/// round-trip): parsing them back gives the same f64 the final INIT-based rerun starts from.
#[test]
fn json_lines_carry_full_precision_parameters() {
    let out = ok(&[
        "train",
        "--data",
        "synthetic:classes=3,features=4,records=300",
        "--rounds",
        "3",
        "--byzantine",
        "0.2",
        "--clients",
        "10",
        "--rule",
        "median",
        "--json",
    ]);
    let recs = records(&out);
    assert_eq!(recs.len(), 3);
    for r in &recs {
        assert_eq!(r["defence"], "median");
        assert_eq!(r["status"], "completed");
        assert_eq!(numbers(&r["params"]).len(), 3 * 4 + 3);
    }
    // The last round evaluates: test accuracy, G², κ̂ and the B2 floor are there.
    let last = &recs[2]["eval"];
    assert!(last["test_accuracy"].as_f64().is_some(), "{last}");
    assert!(last["g2"].as_f64().unwrap() > 0.0);
    assert!(last["floor_b2"].as_f64().unwrap() > 0.0);
}

/// The records do not depend on the number of threads (the clients run in parallel).
/// Mutation that makes it fail: one batch stream shared by all clients.
#[test]
fn same_records_for_one_and_two_threads() {
    let run = |threads: &str| {
        let out = ok(&[
            "train",
            "--data",
            "synthetic:classes=3,features=4,records=400",
            "--rounds",
            "5",
            "--clients",
            "8",
            "--batch",
            "8",
            "--rule",
            "trmean",
            "--dp",
            "example",
            "--threads",
            threads,
            "--json",
        ]);
        records(&out)
            .into_iter()
            .map(|mut r| {
                r.as_object_mut().unwrap().remove("seconds");
                r.to_string()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run("1"), run("2"));
}

/// `lbounds train` alone: softmax on the shipped digits, 20 % Byzantine under ALIE (its scale
/// searched against each defence), the average and NNM + trimmed mean, each row with the B2
/// floor, in seconds — and the point of the demo holds: the robust defence keeps a useful
/// model (≥ 0.7 test accuracy; 0.89 measured) where the average is broken (≤ 0.3; 0.00
/// measured). Fails if the default attack goes back to plain ALIE (0.91 vs 0.90).
#[test]
fn defaults_train_two_defences_on_the_digits() {
    let out = ok(&["train"]);
    assert!(out.contains("softmax 64"), "{out}");
    assert!(
        out.contains("f = 5 Byzantine (optimal_a_little_is_enough)"),
        "{out}"
    );
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("average") || l.starts_with("nnm+trmean"))
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    let acc = |row: &str| -> f64 { row.split_whitespace().nth(1).unwrap().parse().unwrap() };
    assert!(acc(rows[0]) <= 0.3, "{out}");
    assert!(acc(rows[1]) >= 0.7, "{out}");
    assert!(out.contains("B2 floor"), "{out}");
}

#[test]
fn bad_input_is_one_line_exit_2_nothing_written() {
    let d = dir("bad");
    let csv = d.join("data.csv");
    std::fs::write(&csv, "a,b,y,client\n1,2,0,0\n3,4,1,0\n5,6,1,1\n7,8,0,1\n").unwrap();
    let c = csv.to_str().unwrap();
    let base = |extra: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "train",
            "--data",
            c,
            "--client-column",
            "client",
            "--label-column",
            "y",
            "--model",
            "logistic",
            "--clients",
            "3",
            "--byzantine-count",
            "1",
            "--rounds",
            "2",
            "--batch",
            "full",
            "--rule",
            "median",
            "--attack",
            "sign_flipping",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect();
        // Each extra flag replaces the base's value, or is appended.
        for pair in extra.chunks(2) {
            match v.iter().position(|a| a == pair[0]) {
                Some(i) => v[i + 1] = pair[1].to_string(),
                None => v.extend(pair.iter().map(|x| x.to_string())),
            }
        }
        v
    };
    let fails = |args: Vec<String>, needle: &str| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        fails_with(&a, needle);
    };
    fails(base(&["--model", "resnet"]), "unknown model");
    fails(base(&["--rule", "krumm"]), "unknown aggregator");
    fails(base(&["--attack", "nope"]), "unknown attack");
    fails(base(&["--lr", "0"]), "lr");
    fails(base(&["--lr", "-1"]), "lr");
    fails(base(&["--lr", "NaN"]), "lr");
    fails(base(&["--rounds", "0"]), "rounds");
    fails(
        base(&[
            "--rule",
            "trmean",
            "--byzantine-count",
            "2",
            "--clients",
            "4",
        ]),
        "n > 2f",
    );
    let init = d.join("init.csv");
    std::fs::write(&init, "0.1,0.2\n").unwrap();
    let mut args = base(&[]);
    args.extend(["--init".to_string(), init.to_str().unwrap().to_string()]);
    fails(args, "init");
    // Client 2 (honest when n = 4, f = 1) has no rows.
    fails(
        base(&["--clients", "4", "--byzantine-count", "1"]),
        "client 2 has no rows",
    );
    let bad = d.join("bad.csv");
    std::fs::write(&bad, "a,b,y,client\n1,x,0,0\n3,4,1,1\n").unwrap();
    let mut args = base(&[]);
    args[2] = bad.to_str().unwrap().to_string();
    fails(args.clone(), "x");
    let one = d.join("one.csv");
    std::fs::write(&one, "a,b,y,client\n1,2,0,0\n3,4,0,1\n").unwrap();
    args[2] = one.to_str().unwrap().to_string();
    fails(args, "class");
    fails_with(
        &[
            "train",
            "--data",
            "synthetic:classes=3",
            "--partition",
            "zebra",
        ],
        "unknown",
    );
    fails_with(&["train", "--data", c, "--label-column", "nope"], "nope");
}

/// A diverging run is a finding, not a crash: the average under the `inf` attack stops at
/// round 1 with a record saying so, exit 0.
#[test]
fn divergence_is_reported_not_crashed() {
    let out = lbounds()
        .args([
            "train",
            "--data",
            "synthetic:classes=3,features=4,records=300",
            "--rounds",
            "5",
            "--rule",
            "average",
            "--attack",
            "inf",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let recs = records(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["status"], "diverged");
    assert_eq!(recs[0]["round"], 1);
}

/// A run whose logits and gradient norms overflow (features of 1e300: the logistic model's
/// weight reaches −4e297, its gradients stay finite and training goes on) reports what it
/// measured as +∞: "inf" in the table's test-loss and G² columns and the string `"inf"` in
/// the JSON records, where NaN had shown as "-" and +∞ as `null`, which read as "not
/// measured" (and a `null` G² would not load into `lbounds plot`). Likewise an ε = ∞ (DP
/// noise too small for a finite bound) was `null`, which the records use for "no privacy".
/// Mutation checked: the plain f64 fields (`null`) and the table's "-" for +∞ fail it.
#[test]
fn overflowed_measurements_read_inf() {
    let d = dir("overflow");
    let csv = d.join("big.csv");
    let mut text = String::from("a,b,y\n");
    for i in 0..40 {
        let sign = if i % 3 == 0 { -1.0 } else { 1.0 };
        text.push_str(&format!(
            "{},{},{}\n",
            sign * 1e300 * (1.0 + i as f64 / 40.0),
            i % 5,
            i % 2
        ));
    }
    std::fs::write(&csv, text).unwrap();
    let c = csv.to_str().unwrap();
    let args = [
        "train",
        "--data",
        c,
        "--model",
        "logistic",
        "--clients",
        "4",
        "--byzantine-count",
        "0",
        "--rounds",
        "3",
        "--rule",
        "average",
    ];
    let table = ok(&args);
    let row = table.lines().find(|l| l.starts_with("average")).unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        (cols[2], cols[4], cols[5]),
        ("inf", "inf", "inf"),
        "{table}"
    );
    let mut json = args.to_vec();
    json.push("--json");
    let recs = records(&ok(&json));
    let eval = &recs.last().unwrap()["eval"];
    for key in ["test_loss", "honest_loss", "g2", "grad_norm_sq"] {
        assert_eq!(eval[key], "inf", "{key}: {eval}");
    }
    assert_eq!(recs.last().unwrap()["train_loss"], "inf");
    std::fs::remove_dir_all(d).ok();
    // Noise too small for any finite ε: "inf", not the `null` of a run without privacy.
    let dp = [
        "train",
        "--data",
        "synthetic:classes=3,features=4,records=300",
        "--rounds",
        "2",
        "--dp",
        "example",
        "--dp-sigma",
        "1e-300",
        "--clip",
        "1",
        "--json",
    ];
    let recs = records(&ok(&dp));
    assert!(
        recs.iter().all(|r| r["epsilon"] == "inf"),
        "{:?}",
        recs.last()
    );
}
