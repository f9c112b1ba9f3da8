//! `lbounds audit`: the known answers of the statistics layer through the CLI's `--json`
//! keys, and bad input (one line, exit 2, nothing printed).
#![cfg(feature = "cli")]

mod common;

use common::{fails_with, ok};
use serde_json::Value;

fn json(args: &[&str]) -> Value {
    serde_json::from_str(ok(args).trim()).unwrap()
}

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// The reference's known answers (privacy-and-memorization.md §2.3–§2.5), to its digits:
/// multi-run ceiling n = 1000 → 5.601, GDP μ = 1, δ = 1e-5 → 4.38, one run m = 1000 with
/// perfect guessing R = 10 / 100 / 1000 → 1.05 / 3.49 / 5.81.
#[test]
fn known_answers_through_the_json_keys() {
    let e = json(&[
        "audit",
        "epsilon",
        "--positives",
        "1000",
        "--true-positives",
        "1000",
        "--negatives",
        "1000",
        "--false-positives",
        "0",
        "--json",
    ]);
    assert!((num(&e, "epsilon_lower") - 5.601).abs() < 5e-4);
    let g = json(&["audit", "gdp", "--mu", "1", "--delta", "1e-5", "--json"]);
    assert!((num(&g, "epsilon") - 4.38).abs() < 5e-3);
    for (r, want) in [("10", 1.05), ("100", 3.49), ("1000", 5.81)] {
        let o = json(&[
            "audit",
            "one-run",
            "--canaries",
            "1000",
            "--guesses",
            r,
            "--correct",
            r,
            "--json",
        ]);
        assert!((num(&o, "epsilon_lower") - want).abs() < 5e-3, "{r}: {o}");
    }
    // Two-sided says so and splits α in four.
    let t = ok(&[
        "audit",
        "epsilon",
        "--positives",
        "100",
        "--true-positives",
        "90",
        "--negatives",
        "100",
        "--false-positives",
        "10",
        "--two-sided",
    ]);
    assert!(t.contains("alpha split in four"), "{t}");
}

/// Scores from files (one per line, or all on one line): separated scores give a positive
/// bound and the GDP estimate; a reversed score list needs --two-sided.
#[test]
fn scores_from_files() {
    let d = std::env::temp_dir().join(format!("lbounds-audit-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let (ins, outs) = (d.join("in.txt"), d.join("out.txt"));
    let ins_text: String = (0..300)
        .map(|i| format!("{}\n", 5.0 + i as f64 / 100.0))
        .collect();
    let outs_text: String = (0..300).map(|i| format!("{},", i as f64 / 100.0)).collect();
    std::fs::write(&ins, ins_text).unwrap();
    std::fs::write(&outs, outs_text).unwrap();
    let (i, o) = (ins.to_str().unwrap(), outs.to_str().unwrap());
    let v = json(&[
        "audit",
        "scores",
        "--members",
        i,
        "--non-members",
        o,
        "--delta",
        "1e-5",
        "--json",
    ]);
    assert!(num(&v, "epsilon_lower") > 4.0, "{v}");
    assert!(num(&v["gdp"], "mu_lower") > 1.0, "{v}");
    let rev = json(&[
        "audit",
        "scores",
        "--members",
        o,
        "--non-members",
        i,
        "--json",
    ]);
    assert_eq!(num(&rev, "epsilon_lower"), 0.0);
    let rev2 = json(&[
        "audit",
        "scores",
        "--members",
        o,
        "--non-members",
        i,
        "--two-sided",
        "--json",
    ]);
    // Half of alpha per direction: 3.99 here against 4.13 one-sided.
    assert!(num(&rev2, "epsilon_lower") > 3.5 && rev2["mirrored"] == true);
    // Tiny levels in exponent form (δ = 1e-300 was printed in 302 characters, and the
    // confidence 1 − 1e-300 as `1`).
    let tiny = ok(&[
        "audit",
        "scores",
        "--members",
        i,
        "--non-members",
        o,
        "--delta",
        "1e-300",
        "--alpha",
        "1e-300",
    ]);
    assert!(
        tiny.contains("with confidence 1 - 1e-300 (delta = 1e-300; 300 members"),
        "{tiny}"
    );
    let refused = |name: &str, text: &str, needle: &str| {
        std::fs::write(d.join(name), text).unwrap();
        let members = d.join(name);
        fails_with(
            &[
                "audit",
                "scores",
                "--members",
                members.to_str().unwrap(),
                "--non-members",
                o,
            ],
            needle,
        );
    };
    refused("bad.txt", "1\n2\nnope\n", "line 3");
    // A table (ids and scores) is not one list of scores: refused, naming the first line
    // with several numbers. Fails if `read_scores` reads every number of the file again.
    refused(
        "table.txt",
        "1\n0,2.5\n1,3.5\n",
        "table.txt line 2: 2 numbers on a line of a file of several lines",
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// The impossible inputs the issue lists: TP > N1, α ∉ (0, 1), δ ∉ [0, 1), M < R,
/// confidence ∉ (0, 1); and V > R.
#[test]
fn impossible_counts_exit_2() {
    let point = |tp: &str, extra: &[&str]| {
        let mut a = vec![
            "audit",
            "epsilon",
            "--positives",
            "10",
            "--true-positives",
            tp,
            "--negatives",
            "10",
            "--false-positives",
            "0",
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>, needle: &str| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        fails_with(&refs, needle);
    };
    run(point("11", &[]), "true-positives");
    run(point("5", &["--alpha", "0"]), "alpha");
    run(point("5", &["--alpha", "1"]), "alpha");
    run(point("5", &["--delta", "1"]), "delta");
    run(point("5", &["--delta", "-0.1"]), "delta");
    fails_with(
        &[
            "audit",
            "one-run",
            "--canaries",
            "10",
            "--guesses",
            "11",
            "--correct",
            "1",
        ],
        "guesses",
    );
    fails_with(
        &[
            "audit",
            "one-run",
            "--canaries",
            "10",
            "--guesses",
            "5",
            "--correct",
            "6",
        ],
        "correct",
    );
    fails_with(
        &[
            "audit",
            "one-run",
            "--canaries",
            "10",
            "--guesses",
            "5",
            "--correct",
            "5",
            "--confidence",
            "1",
        ],
        "confidence",
    );
    fails_with(&["audit", "gdp", "--mu", "1", "--delta", "0"], "delta");
    fails_with(&["audit", "gdp", "--mu", "-1", "--delta", "1e-5"], "mu");
}
