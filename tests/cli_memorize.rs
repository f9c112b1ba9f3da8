//! `lbounds memorize` and `experiment = "memorize"` sweeps: the JSON of a quick run (every
//! level's accuracies, memorization groups, LiRA on the tail, bounds where their hypotheses
//! hold), bad input (one line, exit 2), and a sweep whose records are the same bytes on one
//! and two threads, resume without rerunning and draw fig13.
#![cfg(feature = "cli")]

mod common;

use common::{fails_with, ok};
use serde_json::Value;

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// `--quick --json`: two levels (no DP, ε = 2); each has accuracies and mem groups with
/// ordered intervals, LiRA's tail TPR inside its Clopper–Pearson interval; M3 and M4 are
/// given at the DP level only, and there every group's mean mem̂ has its lower end below
/// M3's cap (M3 caps every record's mem under DP: a lower end above it would contradict the
/// theorem). Mutation checked: leaving the DP steps at the plain epochs for the mlp
/// (`at_level` without the `dp_epochs` default) fails the `epochs == 300` check.
#[test]
fn quick_json_has_every_level_and_bound() {
    let v: Value = serde_json::from_str(ok(&["memorize", "--quick", "--json"]).trim()).unwrap();
    let levels = v["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 2);
    assert!(levels[0]["epsilon"].is_null());
    assert_eq!(levels[1]["epsilon"], 2.0);
    assert_eq!(levels[1]["report"]["epochs"], 300);
    // Feldman's claim at the quick size: without DP the tail is memorised more than the head
    // (quick run: tail mem 0.31 [0.26, 0.35], head 0.10 [0.08, 0.12]; disjoint intervals),
    // head memorisation is positive, and DP at ε = 2 cuts the tail's (0.10). Mutation
    // checked: reading the IN side of mem_i as `!keep` (`memorization_reads_in_minus_out`'s
    // mutation) makes every mem negative and fails here.
    let mem = |level: &Value, group: &str| {
        level["report"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["group"] == group)
            .unwrap()["mem"]
            .clone()
    };
    let (tail, head) = (mem(&levels[0], "tail"), mem(&levels[0], "head"));
    assert!(
        num(&tail, "lower") > num(&head, "upper"),
        "{tail} vs {head}"
    );
    assert!(num(&head, "lower") > 0.0, "{head}");
    assert!(num(&mem(&levels[1], "tail"), "mean") < num(&tail, "mean") - 0.1);
    for l in levels {
        let r = &l["report"];
        for key in ["train_accuracy", "head_test_accuracy", "tail_test_accuracy"] {
            let c = &r[key];
            assert!(num(c, "lower") <= num(c, "mean") && num(c, "mean") <= num(c, "upper"));
            assert!((0.0..=1.0).contains(&num(c, "mean")), "{key}: {c}");
        }
        let groups: Vec<&str> = r["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["group"].as_str().unwrap())
            .collect();
        assert!(
            groups.starts_with(&["head", "tail", "tail_singleton"]),
            "{groups:?}"
        );
        let lira = &r["lira"][0];
        assert_eq!(lira["attack"], "lira_online");
        let t = num(lira, "tpr_at_0_1pct_fpr");
        assert!(
            num(lira, "tpr_lower") <= t && t <= num(lira, "tpr_upper"),
            "{lira}"
        );
        let b = &l["bounds"];
        assert!(b["not_shown"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.as_str().unwrap().starts_with("M1")));
        if l["epsilon"].is_null() {
            assert!(b["m3_mem_cap"].is_null() && b["m4_mislabelled_cap"].is_null());
        } else {
            let cap = num(b, "m3_mem_cap");
            assert!(b["m4_mislabelled_cap"].as_f64().is_some());
            for g in r["groups"].as_array().unwrap() {
                assert!(num(&g["mem"], "lower") <= cap, "{g} above M3's cap {cap}");
            }
        }
    }
}

/// Bad input: one line on stderr, exit 2, nothing on stdout.
#[test]
fn bad_input_is_one_line() {
    fails_with(&["memorize", "--quick", "--epsilons", "none,-1"], "epsilon");
    fails_with(&["memorize", "--quick", "--epsilons", "abc"], "--epsilons");
    fails_with(&["memorize", "--quick", "--models", "7"], "models");
    fails_with(
        &[
            "memorize",
            "--quick",
            "--data",
            "digits",
            "--records",
            "100",
        ],
        "--records",
    );
    fails_with(&["memorize", "--quick", "--data", "mnist"], "mnist");
    // DP's δ and clip norm are checked without a DP level too (`--delta nan` was accepted).
    for (flag, value) in [("--delta", "nan"), ("--delta", "1"), ("--clip", "0")] {
        fails_with(
            &["memorize", "--quick", "--epsilons", "none", flag, value],
            &flag[2..],
        );
    }
    // A clip norm whose noise overflows is named, in exponent form (it was `noise = inf`
    // with the sampler's own message).
    fails_with(
        &[
            "memorize",
            "--quick",
            "--models",
            "4",
            "--targets",
            "1",
            "--epsilons",
            "1",
            "--clip",
            "1e308",
        ],
        "`clip` = 1e308",
    );
}

/// `--data digits`: the rare digits 7, 8, 9 with 3 training images each are the tail (9
/// tail records, no mislabelled group: the digits have no label noise), and M4 is not shown
/// at a DP level for want of label noise.
#[test]
fn digits_tail_runs() {
    let v: Value = serde_json::from_str(
        ok(&[
            "memorize", "--quick", "--data", "digits", "--model", "softmax", "--json",
        ])
        .trim(),
    )
    .unwrap();
    let dp = &v["levels"][1];
    assert_eq!(dp["report"]["tail_records"], 9);
    assert!(dp["report"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["group"] != "mislabelled"));
    assert!(dp["bounds"]["m4_mislabelled_cap"].is_null());
    assert!(dp["bounds"]["m3_mem_cap"].as_f64().is_some());
}

/// A tiny memorize sweep (no DP and ε = 2, 8 softmax models on 1 000 records): records are
/// byte-identical with 1 and 2 threads (each run nests its model training in the sweep's
/// pool), a rerun on the finished directory runs nothing, and fig13 is drawn from them,
/// naming M3 and why M1 is not shown. Mutation checked: seeding
/// `MemorizeExperiment::run_job` from the clock instead of the job's seed makes the 1- and
/// 2-thread records differ and fails it.
#[test]
fn memorize_sweep_is_deterministic_resumable_and_plotted() {
    let base = std::env::temp_dir().join(format!("lbounds-memsweep-{}", std::process::id()));
    let (records, path) = common::sweep_on_one_and_two_threads(
        &base,
        "name = \"memorize\"\nexperiment = \"memorize\"\nseed = 5\nreplicates = 1\n\
         zip = [[\"dp_epsilon\", \"epochs\"]]\n[grid]\ndata = \"gaussian\"\n\
         model = \"softmax\"\ndp_epsilon = [\"none\", 2]\nepochs = [20, 20]\nmodels = 8\n\
         targets = 2\nrecords = 1000\nfeatures = 8\n",
    );
    assert_eq!(records.lines().count(), 2);
    for line in records.lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        assert_eq!(r["experiment"], "memorize");
        assert_eq!(r["output"]["models"], 8);
    }
    let out = base.join("figs");
    let p = |x: &std::path::Path| x.to_str().unwrap().to_string();
    ok(&["figures", "--records", &p(&path), "--out", &p(&out)]);
    let png = std::fs::read(out.join("fig13_memorization.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let svg = std::fs::read_to_string(out.join("fig13_memorization.svg")).unwrap();
    assert!(svg.contains("M3"), "M3 missing from fig13");
    // The note wraps its lines; "Zipf" (M1's failed hypothesis) stays whole.
    assert!(
        svg.contains("Zipf"),
        "fig13 does not say which bounds are left out"
    );
    let _ = std::fs::remove_dir_all(&base);
}
