//! `lbounds audit dpsgd`: the audit of the crate's own DP-SGD through the CLI — its JSON keys,
//! soundness on the correct implementation, every planted bug caught, determinism across
//! thread counts, and bad input (one line, exit 2, nothing printed).
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

fn audit(extra: &[&str]) -> Value {
    let mut args = vec!["audit", "dpsgd", "--json"];
    args.extend_from_slice(extra);
    json(&args)
}

/// The correct DP-SGD at claimed ε = 1 (multi-run, K = 200): ε_LB ≤ ε, verdict "sound", the
/// accountant's ε at the calibrated σ within 1e-4 of the claim (the calibration's relative
/// tolerance is 1e-6 in σ), and the keys scripts rely on. Mutation checked: reporting the
/// claimed ε instead of the accountant's makes `epsilon` exactly 1 and fails the `< 1`
/// check.
#[test]
fn correct_dp_sgd_is_sound_and_reports_both_epsilons() {
    let v = audit(&["--epsilon", "1", "--runs", "200"]);
    let (lb, eps) = (num(&v, "epsilon_lower"), num(&v, "epsilon"));
    assert!(lb <= eps, "{v}");
    assert!(eps < 1.0 && eps > 1.0 - 1e-4, "{v}");
    assert_eq!(v["verdict"], "sound");
    assert_eq!(v["planted_bug"], "none");
    assert_eq!(v["method"], "multi-run");
    assert_eq!(v["runs"], 200);
    assert_eq!(v["canary"], "dirac-gradient");
    assert!(num(&v, "noise_multiplier") > 1.0 && num(&v, "mu_lower") >= 0.0);
}

/// Every planted bug is caught (ε_LB > ε) at claimed ε = 1 by a one-run audit with 2000
/// canaries, through the CLI; the correct implementation is not. Mutation checked: parsing
/// every `--planted-bug` as `none` fails it.
#[test]
fn every_planted_bug_is_caught_through_the_cli() {
    for bug in [
        "none",
        "no-clipping",
        "noise-on-mean",
        "wrong-sampling-rate",
        "reused-noise",
    ] {
        let v = audit(&[
            "--epsilon",
            "1",
            "--one-run",
            "--canaries",
            "2000",
            "--planted-bug",
            bug,
        ]);
        let caught = num(&v, "epsilon_lower") > num(&v, "epsilon");
        assert_eq!(caught, bug != "none", "{bug}: {v}");
        assert_eq!(v["verdict"], if caught { "caught" } else { "sound" });
        assert_eq!(v["guesses"], 200);
    }
    // Multi-run catches reused noise through the update variance.
    let v = audit(&[
        "--epsilon",
        "4",
        "--runs",
        "500",
        "--planted-bug",
        "reused-noise",
    ]);
    assert!(num(&v, "epsilon_lower") > 4.0, "{v}");
    assert_eq!(v["statistic"], "update_variance");
}

/// Same seed, same bytes, whatever the number of threads; another seed, other trainings.
#[test]
fn deterministic_across_thread_counts() {
    let base = [
        "audit",
        "dpsgd",
        "--epsilon",
        "2",
        "--runs",
        "100",
        "--json",
    ];
    let one = ok(&[&base[..], &["--threads", "1"]].concat());
    let two = ok(&[&base[..], &["--threads", "2"]].concat());
    assert_eq!(one, two);
    let other = ok(&[&base[..], &["--seed", "5"]].concat());
    assert_ne!(one, other);
}

#[test]
fn text_output_names_the_verdict() {
    let t = ok(&[
        "audit",
        "dpsgd",
        "--epsilon",
        "1",
        "--runs",
        "50",
        "--planted-bug",
        "no-clipping",
    ]);
    assert!(
        t.contains("CAUGHT") && t.contains("planted bug no-clipping"),
        "{t}"
    );
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let cases: [(&[&str], &str); 9] = [
        (&["--epsilon", "0"], "epsilon"),
        (&["--epsilon", "-1"], "epsilon"),
        (&["--epsilon", "1", "--runs", "0"], "runs"),
        (
            &["--epsilon", "1", "--one-run", "--canaries", "0"],
            "canaries",
        ),
        (
            &[
                "--epsilon",
                "1",
                "--one-run",
                "--canaries",
                "100",
                "--guesses",
                "101",
            ],
            "guesses",
        ),
        (
            &["--epsilon", "1", "--planted-bug", "noise-on-the-mean"],
            "noise-on-mean",
        ),
        (&["--epsilon", "1", "--alpha", "1"], "alpha"),
        (&["--epsilon", "1", "--delta", "0"], "delta"),
        (&["--epsilon", "1", "--canaries", "10"], "--one-run"),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["audit", "dpsgd"];
        args.extend_from_slice(extra);
        fails_with(&args, needle);
    }
}
