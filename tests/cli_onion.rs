//! `lbounds onion` (the privacy onion effect, Carlini et al., NeurIPS 2022): the random
//! control stays flat, peeling exposes more than random removal, the sweep kind is
//! deterministic across thread counts and resumable, and bad input fails in one line with
//! exit code 2.
#![cfg(feature = "cli")]

mod common;

use common::{fails_with, ok, sweep_on_one_and_two_threads};
use serde_json::Value;

fn json(args: &[&str]) -> Value {
    serde_json::from_str(ok(args).trim()).unwrap()
}

/// The quick run with six random chains and no masking, run once for the tests that read it.
fn six_chains() -> &'static Value {
    static RUN: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    RUN.get_or_init(|| {
        json(&[
            "onion",
            "--quick",
            "--random-seeds",
            "6",
            "--masking-targets",
            "0",
            "--json",
        ])
    })
}

/// The test: removing random records (as many as each peel removes) leaves the share
/// of vulnerable records where it was. At every step the 95 % interval over chains of the
/// change of that share from the chain's own step 0 covers 0, and is narrower than 5
/// percentage points (layer 0 has ≈ 6 % vulnerable records at the quick size), so covering 0
/// is not vacuous. Six chains (t₅ = 2.57) at the quick size.
/// Mutation checked: making the control remove the top of the ranking instead of random
/// records (`order` := the current layer's ranking) drops the share by ≈ 1.7 points at
/// step 2 (± 1.4), and this test fails.
#[test]
fn onion_random_control_stays_flat_within_its_ci() {
    let v = six_chains();
    let random = v["random"].as_array().unwrap();
    assert_eq!(random.len(), 3);
    for c in &random[1..] {
        let s = &c["share_change"];
        let (m, hw) = (
            s["mean"].as_f64().unwrap(),
            s["half_width"].as_f64().unwrap(),
        );
        assert_eq!(s["values"].as_array().unwrap().len(), 6);
        assert!(hw > 0.0 && hw < 0.05, "step {}: half-width {hw}", c["step"]);
        assert!(m.abs() <= hw, "step {}: share change {m} ± {hw}", c["step"]);
    }
}

/// The onion effect at the quick size: peel 1 exposes more previously safe survivors than
/// random removal of as many records does (its mean + 95 % half-width over six chains), and
/// far more than a static audit predicts (the survivors already vulnerable before the peel).
/// Mutation checked: making the random control remove the top of the ranking too (the
/// mutation above) brings its newly exposed to the peel's level (26.5 ± 2.9 vs 29) and this
/// test fails.
///
/// The peel itself removes the most vulnerable records: each peel takes k records and, since
/// the ranking puts every record at or above the level first, as many vulnerable ones as
/// min(k, vulnerable in the layer before). Mutations checked: the peel removing k random
/// records instead of the top of the ranking (4 vulnerable removed instead of 30), and
/// removing nothing (layer size stays N) — both fail here.
#[test]
fn peeling_exposes_more_than_random_removal() {
    let v = six_chains();
    let k = v["removed_per_step"].as_u64().unwrap();
    let n0 = v["records"].as_u64().unwrap();
    let mut before = v["layer0"]["vulnerable"].as_u64().unwrap();
    assert!(before > 0, "layer 0 has vulnerable records to peel");
    for (t, peel) in v["peels"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            peel["layer"]["records"],
            n0 - (t as u64 + 1) * k,
            "peel {t}"
        );
        assert_eq!(peel["removed_vulnerable"], before.min(k), "peel {t}");
        before = peel["layer"]["vulnerable"].as_u64().unwrap();
    }
    let peel = &v["peels"][0];
    let newly = peel["newly_exposed"].as_f64().unwrap();
    let ctrl = &v["random"][1]["newly_exposed"];
    let (m, hw) = (
        ctrl["mean"].as_f64().unwrap(),
        ctrl["half_width"].as_f64().unwrap(),
    );
    assert!(newly > m + hw, "peel {newly} vs random {m} ± {hw}");
    assert!(newly > 2.0 * peel["vulnerable_before"].as_f64().unwrap());
    // Survivors' paired scores: one per survivor, rates in [0, 1].
    let sv = &v["survivors"];
    let n = peel["layer"]["records"].as_u64().unwrap() as usize;
    assert_eq!(sv["before"].as_array().unwrap().len(), n);
    assert_eq!(sv["after"].as_array().unwrap().len(), n);
}

/// The text table names every part; `--json` carries the parameters.
#[test]
fn table_and_json_agree_on_the_setting() {
    let args = [
        "onion",
        "--quick",
        "--peels",
        "1",
        "--random-seeds",
        "2",
        "--masking-targets",
        "5",
    ];
    let text = ok(&args);
    for needle in [
        "layer 0:",
        "noise control, chain 1",
        "masking: 5 targets",
        "random removal",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    let mut a = args.to_vec();
    a.push("--json");
    let v = json(&a);
    assert_eq!(v["params"]["peels"], 1);
    assert_eq!(v["masking"]["targets"], 5);
    assert_eq!(v["noise"].as_array().unwrap().len(), 2);
    assert_eq!(v["trained"], 32 * (1 + 1 + 2 * 2 + 2));
}

/// `experiment = "onion"`: byte-identical records on one and two threads, and a rerun of a
/// finished sweep runs nothing (resumable).
#[test]
fn onion_sweep_is_deterministic_and_resumable() {
    let base = std::env::temp_dir().join(format!("lbounds-onion-sweep-{}", std::process::id()));
    let config = "name = \"onion_test\"\nexperiment = \"onion\"\nseed = 3\nreplicates = 1\n\
                  [grid]\nquick = true\nmodels = 8\npeels = 1\nrandom_seeds = 2\n\
                  masking_targets = 4\n";
    let (records, _) = sweep_on_one_and_two_threads(&base, config);
    let line: Value = serde_json::from_str(records.lines().next().unwrap()).unwrap();
    assert_eq!(line["experiment"], "onion");
    assert_eq!(line["output"]["models"], 8);
    std::fs::remove_dir_all(&base).unwrap();
}

/// Bad input: one line on stderr, exit code 2, nothing on stdout.
#[test]
fn bad_input_fails_in_one_line() {
    fails_with(&["onion", "--quick", "--models", "5"], "models");
    fails_with(
        &["onion", "--quick", "--peel-fraction", "0.9"],
        "peel fraction",
    );
    fails_with(
        &["onion", "--quick", "--peels", "8", "--peel-fraction", "0.1"],
        "more than half",
    );
    fails_with(&["onion", "--quick", "--attack", "lira"], "attack");
    fails_with(&["onion", "--quick", "--level", "0"], "level");
    fails_with(&["onion", "--quick", "--fpr", "1"], "fpr");
    fails_with(
        &["onion", "--quick", "--masking-targets", "100000"],
        "masking targets",
    );
    fails_with(
        &["onion", "--quick", "--model", "mlp", "--hidden", "0"],
        "hidden",
    );
    fails_with(&["onion", "--quick", "--random-seeds", "0"], "random seeds");
    fails_with(&["onion", "--records", "-3"], "-3");
    fails_with(&["onion", "--quick", "--tail-spread", "0"], "tail spread");
    fails_with(&["onion", "--quick", "--tail-sizes", "5-3"], "tail");
    fails_with(&["onion", "--quick", "--tail-sizes", "3"], "--tail-sizes");
}
