//! End-to-end tests of `lbounds bounds` (list, show, eval) and of the catalogue section of
//! `lbounds simulate`.
#![cfg(feature = "cli")]

mod common;

use common::{fails_with, ok};

#[test]
fn list_shows_every_result_with_status_and_citation() {
    let s = ok(&["bounds", "list"]);
    for id in [
        "R1-huber",
        "R1-strong",
        "R3-huber",
        "R4-strong",
        "R6-cwmed",
        "R6-gm",
        "B1",
        "B2",
        "B3",
        "B3-breakdown",
        "B5",
        "B7",
        "P1",
        "P2",
        "P4",
        "P5",
        "M1",
        "M3",
        "M4",
        "O2",
    ] {
        assert!(
            s.lines().any(|l| l.starts_with(&format!("{id} "))),
            "{id} missing:\n{s}"
        );
    }
    assert!(s.contains("derived here") && s.contains("to verify") && s.contains("verified"));
    assert!(s.contains("Huber 1964"));
    let j: serde_json::Value = serde_json::from_str(&ok(&["bounds", "list", "--json"])).unwrap();
    let arr = j.as_array().unwrap();
    assert!(arr.len() >= 25);
    let b3 = arr.iter().find(|e| e["id"] == "B3").unwrap();
    assert_eq!(b3["status"], "derived_here");
    assert_eq!(b3["citation"]["arxiv"], "2309.13591");
    assert_eq!(b3["proof"], "proofs/allouah2023robust.md");
    assert!(b3["hypotheses"].as_array().unwrap().len() >= 2);
    assert_eq!(b3["tight"], false);
    let r1 = arr.iter().find(|e| e["id"] == "R1-huber").unwrap();
    assert_eq!(
        (r1["kind"].as_str(), r1["tight"].as_bool()),
        (Some("exact"), Some(true))
    );
    // Conditions of guarantees are listed apart from the lower bounds, and say so.
    let (lower, cond) = s
        .split_once("conditions of guarantees (not lower bounds):")
        .unwrap();
    for id in ["B8", "O4"] {
        assert!(
            cond.lines()
                .any(|l| l.starts_with(&format!("{id} ")) && l.contains("condition")),
            "{id}:\n{s}"
        );
        assert!(
            !lower.lines().any(|l| l.starts_with(&format!("{id} "))),
            "{s}"
        );
        let e = arr.iter().find(|e| e["id"] == id).unwrap();
        assert_eq!(e["kind"], "condition");
    }
    assert!(
        lower
            .lines()
            .any(|l| l.starts_with("B1 ") && l.contains("exact, tight")),
        "{s}"
    );
    assert!(s.contains("exact = an explicit valid constant"), "{s}");
}

#[test]
fn show_prints_statement_hypotheses_citation_and_proof_page() {
    let s = ok(&["bounds", "show", "b3"]);
    assert!(s.starts_with("B3: "), "{s}");
    for needle in [
        "statement:",
        "hypotheses:",
        "(G,B)-dissimilarity",
        "citation:",
        "arXiv 2309.13591",
        "proof: proofs/allouah2023robust.md",
        "example: lbounds bounds eval B3",
    ] {
        assert!(s.contains(needle), "{needle} missing:\n{s}");
    }
    // An id with variants shows all of them.
    let s = ok(&["bounds", "show", "R1"]);
    assert!(s.contains("R1-huber: ") && s.contains("R1-strong: "), "{s}");
    fails_with(&["bounds", "show", "Z9"], "unknown bound `Z9`");
    // B8 is the condition of a guarantee, and its statement says which way it goes.
    let s = ok(&["bounds", "show", "B8"]);
    assert!(
        s.contains("condition of a guarantee, not a lower bound") && s.contains("sufficient"),
        "{s}"
    );
}

#[test]
fn show_json_is_an_array_of_entries() {
    let j: serde_json::Value =
        serde_json::from_str(&ok(&["bounds", "show", "R1", "--json"])).unwrap();
    let arr = j.as_array().unwrap();
    let ids: Vec<&str> = arr.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["R1-huber", "R1-strong", "R1-rate"]);
    assert_eq!(arr[0]["proof"], "proofs/huber1964.md");
    assert_eq!(arr[0]["tight"], true);
    assert!(arr[0]["statement"].as_str().unwrap().contains("PhiInv"));
    let j: serde_json::Value =
        serde_json::from_str(&ok(&["bounds", "show", "b6", "--json"])).unwrap();
    let hyps = j[0]["hypotheses"].as_array().unwrap();
    assert!(hyps
        .iter()
        .any(|h| h["statement"].as_str().unwrap().contains("signatures")));
}

#[test]
fn eval_known_answers_text_and_json() {
    let s = ok(&[
        "bounds", "eval", "R1-huber", "--param", "eta=0.1", "--param", "sigma=1",
    ]);
    assert!(s.contains("0.13971029888186"), "{s}");
    assert!(s.contains("matching upper bound"), "{s}");
    let j: serde_json::Value = serde_json::from_str(&ok(&[
        "bounds",
        "eval",
        "R1-strong",
        "--param",
        "eta=0.1",
        "--json",
    ]))
    .unwrap();
    assert!((j["value"].as_f64().unwrap() - 0.2533471031357998).abs() < 1e-13);
    assert!((j["upper"].as_f64().unwrap() - 0.2533471031357998).abs() < 1e-13);
    assert_eq!(j["params"]["sigma"], 1.0);
    let j: serde_json::Value = serde_json::from_str(&ok(&[
        "bounds", "eval", "B1", "--param", "n=50", "--param", "f=10", "--json",
    ]))
    .unwrap();
    assert_eq!(j["value"].as_f64(), Some(1.0 / 3.0));
    assert_eq!(j["upper"].as_f64(), Some(4.0 / 3.0));
    let j: serde_json::Value = serde_json::from_str(&ok(&[
        "bounds",
        "eval",
        "B3-breakdown",
        "--param",
        "B=1",
        "--json",
    ]))
    .unwrap();
    assert_eq!(j["value"].as_f64(), Some(1.0 / 3.0));
    // No upper bound known: the key is absent.
    let j: serde_json::Value = serde_json::from_str(&ok(&[
        "bounds", "eval", "B2", "--param", "n=20", "--param", "f=3", "--param", "G=1", "--json",
    ]))
    .unwrap();
    assert!(j.get("upper").is_none());
}

#[test]
fn eval_past_breakdown_is_an_explicit_infinity() {
    let j: serde_json::Value = serde_json::from_str(&ok(&[
        "bounds", "eval", "B3", "--param", "n=9", "--param", "f=3", "--param", "G=1", "--param",
        "B=1", "--json",
    ]))
    .unwrap();
    assert!(j["value"].is_null());
    assert_eq!(j["infinite"], true);
    assert!(j["reason"].as_str().unwrap().contains("breakdown"));
    let s = ok(&["bounds", "eval", "R3-huber", "--param", "eta=0.5"]);
    assert!(s.contains("infinite (eta >= 1/2"), "{s}");
}

#[test]
fn eval_overflow_is_infinite_with_a_reason_never_a_null_number() {
    // Cases of the fault-injection run: G^2 overflows in B2/B3, 1/eps^2 in P1.
    for args in [
        &[
            "B2", "--param", "n=20", "--param", "f=3", "--param", "G=1e300",
        ][..],
        &[
            "B3", "--param", "n=20", "--param", "f=3", "--param", "G=1e200", "--param", "B=1",
        ],
        &[
            "P1",
            "--param",
            "d=10",
            "--param",
            "n=1000",
            "--param",
            "eps=1e-300",
            "--param",
            "delta=1e-6",
        ],
    ] {
        let out = ok(&[&["bounds", "eval"][..], args, &["--json"]].concat());
        let j: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(j["value"].is_null(), "{out}");
        assert_eq!(j["infinite"], true, "{out}");
        assert!(j["reason"].as_str().unwrap().contains("overflows"), "{out}");
    }
}

#[test]
fn t1_gauss_is_capped_at_the_record_norm() {
    // The example: uncapped 10.97 > C = 1.
    let j: serde_json::Value = serde_json::from_str(&ok(&[
        "bounds",
        "eval",
        "T1-gauss",
        "--param",
        "C=1",
        "--param",
        "m=1",
        "--param",
        "n=20",
        "--param",
        "f=6",
        "--param",
        "eps=0.5",
        "--param",
        "delta=1e-5",
        "--json",
    ]))
    .unwrap();
    assert_eq!(j["value"].as_f64(), Some(1.0));
}

#[test]
fn eval_errors_are_one_line_exit_2() {
    fails_with(
        &[
            "bounds", "eval", "R4-huber", "--param", "eta=0.1", "--param", "k=1.5",
        ],
        "hypothesis `k >= 2` fails",
    );
    fails_with(
        &["bounds", "eval", "B8", "--param", "n=6", "--param", "f=2"],
        "hypothesis `n >= 2f+3` fails",
    );
    fails_with(
        &[
            "bounds",
            "eval",
            "P1",
            "--param",
            "d=10",
            "--param",
            "n=100",
            "--param",
            "eps=2",
            "--param",
            "delta=1e-6",
        ],
        "eps <= 1",
    );
    fails_with(
        &["bounds", "eval", "B1", "--param", "n=10", "--param", "ff=2"],
        "did you mean `f`",
    );
    fails_with(&["bounds", "eval", "B1", "--param", "n=10"], "needs `f`");
    fails_with(
        &["bounds", "eval", "B1", "--param", "n=10", "--param", "f=x"],
        "not a number",
    );
    fails_with(&["bounds", "eval", "R1", "--param", "eta=0.1"], "R1-huber");
    fails_with(
        &["bounds", "eval", "R1-huber", "--param", "eta=-0.1"],
        "eta",
    );
    fails_with(
        &[
            "bounds", "eval", "R1-huber", "--param", "eta=0.1", "--param", "sigma=0",
        ],
        "sigma",
    );
}

#[test]
fn simulate_shows_every_applicable_catalogue_bound() {
    // `simulate` at n = 20, one replicate, median under mimic, plus `extra`.
    let sim = |extra: &[&str]| {
        let base = [
            "simulate",
            "--n",
            "20",
            "--replicates",
            "1",
            "--rules",
            "median",
            "--attacks",
            "mimic",
        ];
        ok(&[&base[..], extra].concat())
    };
    let s = sim(&["--d", "3", "--byzantine", "0.1"]);
    for id in [
        "R1-huber",
        "R1-strong",
        "R3-huber",
        "R6-cwmed",
        "B1",
        "B2",
        "B3",
        "B5",
        "B7",
    ] {
        assert!(
            s.lines()
                .any(|l| l.trim_start().starts_with(&format!("{id} "))),
            "{id} missing:\n{s}"
        );
    }
    // B8 is the condition of Krum's guarantee, not a lower bound: never among the bounds.
    assert!(
        !s.lines().any(|l| l.trim_start().starts_with("B8 ")),
        "B8 shown:\n{s}"
    );
    let line = sim(&["--d", "3", "--byzantine", "0.1", "--json"]);
    let j: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    let b = &j["bounds"];
    // n = 20, f = 2: B1 = 2/16.
    assert_eq!(b["B1"]["value"].as_f64(), Some(0.125));
    assert_eq!(b["setting"]["eta"].as_f64(), Some(0.1));
    assert!(b["R1-huber"]["value"].as_f64().unwrap() > 0.0);
    // Non-Gaussian noise: no sigma, so no Gaussian bound applies (nor has a value), but B1
    // is still there.
    let line = sim(&["--noise", "student_t", "--json"]);
    let j: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(j["bounds"]["R1-huber"]["applies"], false);
    assert!(j["bounds"]["R1-huber"]["value"].is_null());
    assert!(j["bounds"].get("B1").is_some());
}
