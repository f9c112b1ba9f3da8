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
    for sub in [
        "epsilon", "noise", "gaussian", "laplace", "rr", "compose", "mean", "sgd",
    ] {
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

#[test]
fn laplace_scale_is_sensitivity_over_epsilon() {
    // Dwork, McSherry, Nissim & Smith (TCC 2006), Thm 1: b = Δ₁/ε = 2/0.5 = 4, pure ε-DP.
    let v = json(&[
        "laplace",
        "--epsilon",
        "0.5",
        "--sensitivity",
        "2",
        "--json",
    ]);
    assert_eq!(v["mechanism"], "laplace");
    assert_eq!(v["scale"].as_f64(), Some(4.0), "{v}");
    assert_eq!(v["epsilon"].as_f64(), Some(0.5));
    assert_eq!(v["delta"].as_f64(), Some(0.0));
    assert_eq!(v["sensitivity_l1"].as_f64(), Some(2.0));
    let t = ok(&["laplace", "--epsilon", "0.5", "--sensitivity", "2"]);
    assert!(t.starts_with("scale b = 4.000000"), "{t}");
    fails_with(&["laplace", "--epsilon", "0"], "`epsilon`");
    fails_with(
        &["laplace", "--epsilon", "1", "--sensitivity", "-1"],
        "`sensitivity`",
    );
}

#[test]
fn randomized_response_keep_probability() {
    // Warner (JASA 1965) with k = 2: keep with e^ε/(1 + e^ε); ε = ln 3 gives 3/4 exactly
    // up to rounding of ln 3 (tolerance 1e-15).
    let v = json(&["rr", "--epsilon", &3f64.ln().to_string(), "--json"]);
    assert_eq!(v["mechanism"], "randomized_response");
    assert!(
        (v["keep_probability"].as_f64().unwrap() - 0.75).abs() < 1e-15,
        "{v}"
    );
    assert!(
        (v["flip_probability"].as_f64().unwrap() - 0.25).abs() < 1e-15,
        "{v}"
    );
    assert_eq!(v["delta"].as_f64(), Some(0.0));
    // k-ary (Kairouz, Oh & Viswanath 2014): ε = ln 4, k = 4: 4/(4 + 3) = 0.571429.
    let t = ok(&[
        "rr",
        "--epsilon",
        &4f64.ln().to_string(),
        "--categories",
        "4",
    ]);
    assert!(
        t.starts_with("keep the true answer with probability 0.571429"),
        "{t}"
    );
    fails_with(&["rr", "--epsilon", "1", "--categories", "1"], "`k`");
    fails_with(&["rr", "--epsilon", "-1"], "`epsilon`");
}

#[test]
fn composition_basic_advanced_and_zcdp() {
    // 100 × 0.1-DP at target δ = 1e-5. Basic: Σε = 10 (one ulp up). Advanced (Dwork, Rothblum
    // & Vadhan 2010; same numbers as pure::tests::advanced_known_answer):
    // 0.1·√(200 ln 1e5) + 100·0.1·(e^0.1 − 1) = 5.85024. zCDP (Bun & Steinke 2016): ρ = 100 ·
    // 0.1²/2 = 0.5; ε < ρ + 2√(ρ ln(1/δ)) = 5.298 (their Prop. 1.3; the tight conversion used
    // is smaller).
    let v = json(&[
        "compose",
        "--cost",
        "eps=0.1,count=100",
        "--delta",
        "1e-5",
        "--json",
    ]);
    assert!(
        (v["basic"]["epsilon"].as_f64().unwrap() - 10.0).abs() < 1e-12,
        "{v}"
    );
    assert_eq!(v["basic"]["delta"].as_f64(), Some(0.0));
    assert!(
        (v["advanced"]["epsilon"].as_f64().unwrap() - 5.850_24).abs() < 1e-4,
        "{v}"
    );
    assert_eq!(v["advanced"]["delta"].as_f64(), Some(1e-5));
    assert!((v["zcdp_rho"].as_f64().unwrap() - 0.5).abs() < 1e-12, "{v}");
    let z = v["zcdp"]["epsilon"].as_f64().unwrap();
    assert!(z > 0.0 && z < 0.5 + 2.0 * (0.5 * 1e5f64.ln()).sqrt(), "{v}");
    // Mixed pure and approximate costs: basic only, (0.1·100 + 1, 1e-6).
    let v = json(&[
        "compose",
        "--cost",
        "eps=0.1,count=100",
        "--cost",
        "eps=1,delta=1e-6",
        "--delta",
        "1e-5",
        "--json",
    ]);
    assert!(
        (v["basic"]["epsilon"].as_f64().unwrap() - 11.0).abs() < 1e-12,
        "{v}"
    );
    assert_eq!(v["basic"]["delta"].as_f64(), Some(1e-6));
    assert!(v["advanced"].is_null() && v["zcdp"].is_null(), "{v}");
    fails_with(&["compose", "--cost", "eps=-1"], "`epsilon`");
    fails_with(&["compose", "--cost", "delta=0.1"], "eps=E is required");
    fails_with(&["compose", "--cost", "eps=1,count=0"], "count");
    fails_with(&["compose", "--cost", "eps=1,bogus=2"], "unknown key");
    fails_with(&["compose", "--cost", "eps=1", "--delta", "2"], "`delta`");
}

#[test]
fn delta_for_epsilon_inverts_epsilon_for_delta() {
    // Round trip on the known query: ε(δ = 1e-5) = 2.5965813615 (dp-accounting 0.6.0), so
    // δ(ε = that) must come back ≤ 1e-5 and within 1 % of it (same RDP orders; 1 % covers the
    // one-ulp rounding of ε propagated through (α − 1)·ε at the minimising order).
    for acc in ["rdp", "pld"] {
        let mut args = vec!["epsilon", "--accountant", acc, "--json"];
        args.extend(QUERY);
        let e = json(&args)["epsilon"].as_f64().unwrap().to_string();
        let v = json(&[
            "epsilon",
            "--accountant",
            acc,
            "--sampling-rate",
            "0.004267",
            "--noise-multiplier",
            "1.1",
            "--steps",
            "14060",
            "--epsilon",
            &e,
            "--json",
        ]);
        let d = v["delta"].as_f64().unwrap();
        assert!(d <= 1e-5 && d > 0.99e-5, "{acc}: {v}");
        assert_eq!(v["accountant"], acc);
        assert!(v["epsilon"].as_f64().is_some());
    }
    // Exactly one of --delta / --epsilon.
    let mut both: Vec<&str> = vec!["epsilon", "--epsilon", "1"];
    both.extend(QUERY);
    fails_with(&both, "cannot be used with");
    fails_with(
        &[
            "epsilon",
            "--sampling-rate",
            "0.1",
            "--steps",
            "5",
            "--noise-multiplier",
            "1",
            "--epsilon",
            "-1",
        ],
        "`epsilon`",
    );
}

#[test]
fn batch_size_dataset_size_epochs_schedule() {
    // B = 256, N = 60000, E = 60: q = 256/60000, T = ⌈60·60000/256⌉ = ⌈14062.5⌉ = 14063.
    let sched = [
        "--batch-size",
        "256",
        "--dataset-size",
        "60000",
        "--epochs",
        "60",
    ];
    let mut args = vec![
        "epsilon",
        "--noise-multiplier",
        "1.1",
        "--delta",
        "1e-5",
        "--json",
    ];
    args.extend(sched);
    let v = json(&args);
    assert_eq!(v["steps"].as_u64(), Some(14_063), "{v}");
    assert_eq!(v["sampling_rate"].as_f64(), Some(256.0 / 60000.0));
    // The same as the direct form with those values.
    let d = json(&[
        "epsilon",
        "--noise-multiplier",
        "1.1",
        "--delta",
        "1e-5",
        "--sampling-rate",
        "256/60000",
        "--steps",
        "14063",
        "--json",
    ]);
    assert_eq!(v["epsilon"], d["epsilon"]);
    let mut args = vec!["noise", "--epsilon", "3", "--delta", "1e-5", "--json"];
    args.extend(sched);
    assert_eq!(json(&args)["steps"].as_u64(), Some(14_063));
    // Both forms, neither, incomplete, B > N, E = 0: exit 2 with one line.
    let mut both = vec![
        "epsilon",
        "--noise-multiplier",
        "1",
        "--delta",
        "1e-5",
        "--steps",
        "10",
    ];
    both.extend(sched);
    fails_with(&both, "both schedule forms");
    fails_with(
        &["epsilon", "--noise-multiplier", "1", "--delta", "1e-5"],
        "no schedule given",
    );
    fails_with(
        &[
            "epsilon",
            "--noise-multiplier",
            "1",
            "--delta",
            "1e-5",
            "--batch-size",
            "10",
        ],
        "incomplete schedule",
    );
    for (b, n, e, needle) in [
        ("300", "200", "1", "`batch-size`"),
        ("0", "200", "1", "`batch-size`"),
        ("10", "200", "0", "`epochs`"),
        ("1", "18446744073709551615", "2", "overflows"),
    ] {
        fails_with(
            &[
                "epsilon",
                "--noise-multiplier",
                "1",
                "--delta",
                "1e-5",
                "--batch-size",
                b,
                "--dataset-size",
                n,
                "--epochs",
                e,
            ],
            needle,
        );
    }
}

/// A CSV of `rows` copies of `row` in the system temp directory, named by `tag` and the pid.
fn records_file(tag: &str, row: &str, rows: usize) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("lbounds-{tag}-{}.csv", std::process::id()));
    std::fs::write(&p, format!("{row}\n").repeat(rows)).unwrap();
    p
}

/// Mutation: skipping the projection onto B(0, R) (no clipping) leaves the mean at (30, 40)
/// and fails the first check; keying the stream by the position of ε in `--epsilons` instead
/// of its value fails the second.
#[test]
fn mean_of_your_own_records() {
    // 400 records (30, 40), norm 50, clipped to R = 5: x·R/‖x‖ = (3, 4) (projection onto the
    // ball). Noise: analytic Gaussian for Δ₂ = 2R/N = 0.025 at ε = 50, δ = 1e-6 has
    // σ = 0.003915 (`privacy gaussian --epsilon 50 --delta 1e-6 --sensitivity 0.025`), so the
    // tolerance 0.05 ≈ 12.8σ is missed by a correct run with probability < 1e-30.
    let p = records_file("mean-clip", "30,40", 400);
    let path = p.to_str().unwrap();
    let run = |eps: &str| -> Vec<Value> {
        ok(&[
            "mean",
            "--input",
            path,
            "--epsilons",
            eps,
            "--delta",
            "1e-6",
            "--range",
            "5",
            "--json",
        ])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
    };
    let v = run("50");
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["records"].as_u64(), Some(400));
    assert_eq!(v[0]["d"].as_u64(), Some(2));
    assert_eq!(v[0]["estimator"], "known_range");
    let m: Vec<f64> = v[0]["mean"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert!(
        (m[0] - 3.0).abs() < 0.05 && (m[1] - 4.0).abs() < 0.05,
        "{m:?}"
    );
    // One ε's release does not depend on the other ε listed (stream keyed by ε's value).
    let both = run("1,50");
    assert_eq!(both[1]["mean"], v[0]["mean"]);
    // The text form prints one line per ε after the header.
    let t = ok(&["mean", "--input", path, "--epsilons", "1,2", "--range", "5"]);
    assert_eq!(t.lines().count(), 3, "{t}");
    // Simulation flags with --input, a missing file, a bad range: exit 2.
    fails_with(
        &["mean", "--input", path, "--n", "3"],
        "cannot be used with",
    );
    fails_with(
        &["mean", "--input", path, "--epsilons", "1", "--range", "0"],
        "`radius`",
    );
    fails_with(&["mean", "--input", "no-such-file.csv"], "no-such-file.csv");
    std::fs::remove_file(p).unwrap();
}

#[test]
fn sgd_batch_size_is_a_sampling_rate_over_the_records() {
    // 20 users x 5 records = N = 100; --batch-size 10 means q = 10/100 = 0.1, the same run as
    // --sampling-rate 0.1 (byte-identical JSON).
    let base = [
        "sgd",
        "--n",
        "20",
        "--d",
        "2",
        "--records",
        "5",
        "--epochs",
        "1",
        "--noise-multipliers",
        "1",
        "--replicates",
        "1",
        "--json",
    ];
    let with = |extra: &[&str]| ok(&[&base[..], extra].concat());
    assert_eq!(
        with(&["--batch-size", "10"]),
        with(&["--sampling-rate", "0.1"])
    );
    fails_with(
        &[&base[..], &["--batch-size", "101"]].concat(),
        "`batch-size`",
    );
    fails_with(
        &[&base[..], &["--batch-size", "10", "--sampling-rate", "0.1"]].concat(),
        "cannot be used with",
    );
}

/// `privacy sgd` at a vanishing noise multiplier (1e-160, where the RDP bound's terms used to
/// overflow to NaN and `max(0)` turned it into ε = 0) reports ε = +∞ (text `inf`, JSON null),
/// never a finite ε, least of all 0 (issue 12, point 7). A sane multiplier in the same run
/// keeps its finite ε. Fails if the accountant reports any finite ε at σ = 1e-160. Not
/// mutation-checked: turning the NaN-preserving clamp in `rdp_unchecked` back into
/// `.max(0.0)` leaves it passing (checked), as the RDP terms at this σ now reach +∞, not NaN.
#[test]
fn sgd_at_a_vanishing_noise_multiplier_is_never_private() {
    let t = ok(&[
        "sgd",
        "--noise-multipliers",
        "1e-160,1",
        "--replicates",
        "1",
        "--epochs",
        "1",
        "--n",
        "20",
    ]);
    // The table's rows: sigma, epsilon, ... ; the first is sigma = 1e-160, the second sigma = 1.
    let rows: Vec<Vec<&str>> = t
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() >= 2 && w[0].parse::<f64>().is_ok())
        .collect();
    assert_eq!(rows.len(), 2, "{t}");
    assert_eq!(rows[0][1], "inf", "{t}");
    let eps1: f64 = rows[1][1].parse().unwrap();
    assert!(eps1.is_finite() && eps1 > 0.0, "{t}");
    // The JSON records say the same: ε is +∞ (null), not a number.
    let out = common::ok(&privacy(&[
        "sgd",
        "--noise-multipliers",
        "1e-160",
        "--replicates",
        "1",
        "--epochs",
        "1",
        "--n",
        "20",
        "--json",
    ]));
    for line in out.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        for e in v["output"]["epochs"].as_array().unwrap() {
            let eps = &e["epsilon"];
            assert!(
                eps.is_null() || eps.as_str() == Some("inf") || eps.as_f64().unwrap() > 1e300,
                "{v}"
            );
        }
    }
}

/// `privacy sgd --sigma 1e160` (records whose squared norms overflow) ends at once with one
/// clear line, exit 2, like `--mean 1e160` (issue 12, point 7: both used to hang clipping a
/// gradient that held inf). Fails if the per-example gradient's overflow check is dropped (the
/// run then hangs or prints non-finite numbers).
#[test]
fn sgd_on_huge_records_ends_with_a_clear_error() {
    let started = std::time::Instant::now();
    fails_with(
        &["sgd", "--sigma", "1e160", "--replicates", "1", "--n", "20"],
        "overflows",
    );
    assert!(started.elapsed().as_secs_f64() < 10.0);
}

/// `privacy noise --accountant pld` at a δ below the PLD accountant's resolution is an error
/// naming `delta` and suggesting RDP, not the false "no multiplier reaches the target" (the
/// PLD ε was +∞ below δ ≈ 1e-15, so calibration saw every σ fail; issue 12, point 7). RDP at
/// the same δ calibrates a finite multiplier, so a target is reachable. Fails if the PLD
/// accountant's `MIN_DELTA` check is removed (checked: the CLI then says "no noise multiplier
/// up to 1e6 reaches this target").
#[test]
fn pld_noise_calibration_below_its_delta_floor_names_delta() {
    for delta in ["1e-16", "1e-30"] {
        let args = [
            "noise",
            "--accountant",
            "pld",
            "--sampling-rate",
            "0.01",
            "--steps",
            "100",
            "--epsilon",
            "3",
            "--delta",
            delta,
        ];
        let out = common::lbounds().args(privacy(&args)).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(out.stdout.is_empty());
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("delta") && stderr.contains("RDP"),
            "{stderr}"
        );
        assert!(!stderr.contains("no noise multiplier"), "{stderr}");
        // RDP reaches the same target: the refusal is the accountant's limit, not the target's.
        let v = json(&[
            "noise",
            "--sampling-rate",
            "0.01",
            "--steps",
            "100",
            "--epsilon",
            "3",
            "--delta",
            delta,
            "--json",
        ]);
        assert!(v.to_string().contains("noise_multiplier"), "{v}");
    }
}
