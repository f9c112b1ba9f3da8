//! What a Byzantine user can send: ±∞, 10³⁰⁰, entries near f64::MAX, data at any scale.
//!
//! Regression tests named after the faults a fault-injection run found, and two properties:
//! every scale-equivariant rule commutes with scaling all inputs by 10ᵏ (k in −150..150), and
//! one outlier at 10ᵏ (k up to 300) moves no robust rule further than twice the honest
//! diameter from the honest mean.

use lbounds::aggregators::{self, AggContext};
use lbounds::data::Updates;
use lbounds::params::{Compat, Params};
use lbounds::rng::rng_from_seed;
use nalgebra::DMatrix;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

fn run(rule: &str, f: usize, compat: Compat, x: &Updates) -> lbounds::Result<Vec<f64>> {
    let agg = aggregators::build(rule, &Params::new().with("f", f as f64), compat)?;
    let mut rng = rng_from_seed(3);
    agg.aggregate(x.view(), &mut AggContext::new(&mut rng))
        .map(|v| v.as_slice().to_vec())
}

fn rows(r: &[&[f64]]) -> Updates {
    let d = r[0].len();
    Updates::new_allow_inf(DMatrix::from_fn(d, r.len(), |i, c| r[c][i])).unwrap()
}

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

/// Every rule ByzFL lacks or has, native semantics, that needs at most n = 9, f = 1.
const ROBUST: &[&str] = &[
    "median",
    "trmean",
    "geometric_median",
    "krum",
    "multi_krum",
    "monna",
    "meamed",
    "bulyan",
    "median_of_means",
    "mda",
    "smea",
    "dnc",
    "caf",
    "spectral",
];

/// The `inf` attack (f copies of +∞) against every rule: a finite aggregate within the honest
/// points' range, natively; the average says it is not robust.
#[test]
fn inf_attack_makes_no_native_rule_fail() {
    let inf = f64::INFINITY;
    let x = rows(&[
        &[1.0, 2.0],
        &[1.1, 2.1],
        &[0.9, 1.9],
        &[1.05, 2.05],
        &[0.95, 1.95],
        &[1.0, 2.1],
        &[1.02, 1.98],
        &[inf, inf],
        &[inf, inf],
    ]);
    for rule in ROBUST.iter().chain(&["centered_clipping"]) {
        // Bulyan needs n ≥ 4f + 3, so it runs with f = 1 on the last eight rows.
        let (x, f) = if *rule == "bulyan" {
            let m = x.matrix().columns(1, 8).into_owned();
            (Updates::new_allow_inf(m).unwrap(), 1)
        } else {
            (x.clone(), 2)
        };
        let out = run(rule, f, Compat::Native, &x).unwrap_or_else(|e| panic!("{rule}: {e}"));
        assert!(out.iter().all(|v| v.is_finite()), "{rule}: {out:?}");
        if *rule != "centered_clipping" {
            // Honest range: [0.9, 1.1] × [1.9, 2.1].
            assert!(
                out[0] >= 0.9 - 1e-12 && out[0] <= 1.1 + 1e-12,
                "{rule}: {out:?}"
            );
            assert!(
                out[1] >= 1.9 - 1e-12 && out[1] <= 2.1 + 1e-12,
                "{rule}: {out:?}"
            );
        }
    }
    let e = run("average", 2, Compat::Native, &x)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not robust"), "{e}");
}

/// Nine honest 2-D rows in [0.9, 1.1] × [1.9, 2.1] (n = 11 with two Byzantine rows, enough for
/// Bulyan at f = 2: n ≥ 4f + 3).
const HONEST: [[f64; 2]; 9] = [
    [1.0, 2.0],
    [1.1, 2.1],
    [0.9, 1.9],
    [1.05, 2.05],
    [0.95, 1.95],
    [1.0, 2.1],
    [1.02, 1.98],
    [0.97, 2.03],
    [1.08, 1.92],
];

/// The honest rows followed by `byz`, read as a server reads untrusted input (NaN is +∞).
fn with_byzantine(byz: &[[f64; 2]]) -> Updates {
    let all: Vec<[f64; 2]> = HONEST.iter().chain(byz).copied().collect();
    Updates::new_untrusted(DMatrix::from_fn(2, all.len(), |i, c| all[c][i])).unwrap()
}

fn dist_to_honest_mean(out: &[f64]) -> f64 {
    let k = HONEST.len() as f64;
    (0..2)
        .map(|j| out[j] - HONEST.iter().map(|h| h[j]).sum::<f64>() / k)
        .map(|e| e * e)
        .sum::<f64>()
        .sqrt()
}

/// The honest diameter: the usual distance a robust rule keeps from the honest mean with f
/// outliers is at most twice it (see the far-outlier property below); the average with a
/// point at infinity is infinitely far.
fn honest_diameter() -> f64 {
    let mut d = 0.0f64;
    for a in &HONEST {
        for b in &HONEST {
            d = d.max(((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt());
        }
    }
    d
}

/// Byzantine rows carrying NaN: a full-NaN row, and rows with one NaN coordinate whose other
/// coordinate is an outlier of its own (−3, 5: outside the honest range).
const NAN_ATTACKS: [[[f64; 2]; 2]; 3] = [
    [[f64::NAN, f64::NAN], [-3.0, f64::NAN]],
    [[f64::NAN, 5.0], [f64::NAN, f64::NAN]],
    [[-3.0, f64::NAN], [f64::NAN, 5.0]],
];

/// A Byzantine user sending NaN: natively a NaN entry is +∞, a point at infinity, so with
/// ≤ f NaN-bearing rows every rule and every pre-aggregator (before median and trimmed mean)
/// returns a finite aggregate within twice the honest diameter of the honest mean; centered
/// clipping within its own bound f·τ/n of the honest rows' contribution; the average says it
/// is not robust.
#[test]
fn nan_rows_are_points_at_infinity_for_every_native_rule() {
    let f = 2;
    let bound = 2.0 * honest_diameter();
    for byz in &NAN_ATTACKS {
        let x = with_byzantine(byz);
        for rule in ROBUST {
            let out = run(rule, f, Compat::Native, &x).unwrap_or_else(|e| panic!("{rule}: {e}"));
            let dist = dist_to_honest_mean(&out);
            assert!(
                dist <= bound,
                "{rule} on {byz:?}: {out:?} ({dist} > {bound})"
            );
        }
        for pre in ["nnm", "bucketing:s=2", "clipping:c=10", "arc"] {
            for rule in ["median", "trmean"] {
                let mut spec = aggregators::PipelineSpec {
                    rule: aggregators::StepSpec::named(rule),
                    pre: vec![aggregators::StepSpec::parse(pre).unwrap()],
                };
                spec.rule.params.set("f", f as f64);
                if pre == "nnm" || pre == "arc" {
                    spec.pre[0].params.set("f", f as f64);
                }
                let p = spec.build(Compat::Native).unwrap();
                let mut rng = rng_from_seed(5);
                let out = p
                    .run(x.view(), &mut AggContext::new(&mut rng))
                    .unwrap_or_else(|e| panic!("{pre}+{rule}: {e}"));
                let dist = dist_to_honest_mean(out.as_slice());
                assert!(
                    dist <= bound,
                    "{pre}+{rule} on {byz:?}: {out:?} ({dist} > {bound})"
                );
            }
        }
        // Centered clipping from 0 with τ = 100: the honest rows (norm < τ) pass unclipped and
        // each NaN row pulls by at most τ/n, so the output is within f·τ/n of Σ honest / n.
        let out = run("centered_clipping", f, Compat::Native, &x).unwrap();
        let n = x.n() as f64;
        let honest_part: Vec<f64> = (0..2)
            .map(|j| HONEST.iter().map(|h| h[j]).sum::<f64>() / n)
            .collect();
        let dist = (0..2)
            .map(|j| (out[j] - honest_part[j]).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(
            out.iter().all(|v| v.is_finite()) && dist <= f as f64 * 100.0 / n + 1e-9,
            "centered_clipping on {byz:?}: {out:?}"
        );
        let e = run("average", f, Compat::Native, &x)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not robust") && e.contains("NaN"), "{e}");
    }
}

/// More NaN-bearing rows than f, or nothing but NaN: a rule may refuse (naming the count and
/// f) or answer, but never returns NaN and never panics.
#[test]
fn more_nan_rows_than_f_is_an_error_or_a_number_never_nan() {
    let nan = f64::NAN;
    let x = with_byzantine(&[[nan, nan], [-3.0, nan], [nan, 5.0]]);
    let all_nan = Updates::new_untrusted(DMatrix::from_element(2, 5, nan)).unwrap();
    for (x, f) in [(&x, 2), (&all_nan, 1)] {
        for rule in ROBUST.iter().chain(&["centered_clipping", "average"]) {
            match run(rule, f, Compat::Native, x) {
                Ok(out) => assert!(out.iter().all(|v| !v.is_nan()), "{rule}: {out:?}"),
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
    }
}

/// One case of `tests/fixtures/byzfl_nan/cases.json`: ByzFL 0.0.11's own output on an input
/// with NaN rows, and what `--compat byzfl` must do with it.
fn byzfl_nan_case(inputs: &serde_json::Value, case: &serde_json::Value) -> Result<(), String> {
    use lbounds::aggregators::PipelineSpec;
    use lbounds::data::NonFiniteEntries;
    use lbounds::params::lookup;
    let num = |v: &serde_json::Value| match v.as_str() {
        Some("nan") => f64::NAN,
        Some("inf") => f64::INFINITY,
        Some("-inf") => f64::NEG_INFINITY,
        _ => v.as_f64().expect("a number"),
    };
    let rows: Vec<Vec<f64>> = inputs[case["input"].as_str().unwrap()]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(num).collect())
        .collect();
    let d = rows[0].len();
    let m = DMatrix::from_fn(d, rows.len(), |i, c| rows[c][i]);
    // What `aggregate --compat byzfl` reads: NaN kept.
    assert_eq!(
        aggregators::untrusted_entries(Compat::Byzfl),
        NonFiniteEntries::Keep
    );
    let x = Updates::with_entries(m, NonFiniteEntries::Keep).unwrap();
    let spec: PipelineSpec = serde_json::from_value(case["pipeline"].clone()).unwrap();
    let pipeline = spec.build(Compat::Byzfl).map_err(|e| e.to_string())?;
    let mut rng = rng_from_seed(0);
    let got = pipeline.run(x.view(), &mut AggContext::new(&mut rng));
    let names: Vec<String> = spec
        .pre
        .iter()
        .chain([&spec.rule])
        .map(|s| {
            let rule = lookup(aggregators::RULES, "aggregator", &s.name).map(|r| r.name);
            let pre = lookup(aggregators::PRE_AGGREGATORS, "pre", &s.name).map(|p| p.name);
            rule.or(pre).unwrap().to_string()
        })
        .collect();
    match (case["expect"].as_str().unwrap(), got) {
        ("value", Ok(out)) => {
            let want: Vec<f64> = case["byzfl"].as_array().unwrap().iter().map(num).collect();
            // 1e-12 relative: NumPy and lbounds may sum a mean in another order (a few ulps);
            // ±∞ entries must match exactly.
            let ok = out.iter().zip(&want).all(|(a, b)| {
                if b.is_finite() {
                    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
                } else {
                    a == b
                }
            });
            ok.then_some(())
                .ok_or(format!("got {:?}, ByzFL {want:?}", out.as_slice()))
        }
        ("value", Err(e)) => Err(format!("error {e}, ByzFL returns {}", case["byzfl"])),
        (kind, Ok(out)) => Err(format!(
            "returned {:?} where ByzFL's answer is {kind}",
            out.as_slice()
        )),
        (kind, Err(e)) => {
            let e = e.to_string();
            // The average's own message ("not robust ... NaN") predates this table.
            let says = match kind {
                "nan" => "NaN",
                _ => "unspecified",
            };
            let named = names.iter().any(|n| e.contains(n.as_str()));
            (e.contains(says) && named && !e.contains('\n'))
                .then_some(())
                .ok_or(format!(
                    "error `{e}` should name one of {names:?} and say `{says}`"
                ))
        }
    }
}

/// `--compat byzfl` on NaN input computes what ByzFL 0.0.11 computes where that is a number and
/// says so where ByzFL returns NaN (or None, or raises) or hangs on an unspecified order: every
/// ByzFL aggregator and pre-aggregator on six inputs with NaN rows (whole rows, single entries,
/// the first row, more rows than f, NaN next to +∞, d = 1), 168 cases. Expected outputs are
/// ByzFL 0.0.11's own (NumPy 2.4.6, float64), written by `scripts/byzfl_nan_golden.py`.
///
/// Mutation checked: reading NaN as +∞ under `--compat byzfl` (`untrusted_entries` returning
/// `AtInfinity`, native semantics) fails it (Median and MoNNA then return numbers where ByzFL
/// returns NaN, Krum with k > f returns another row than x₀).
#[test]
fn byzfl_semantics_reproduce_nan_input_or_say_byzfl_returns_nan() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/byzfl_nan/cases.json"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 150, "{}", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        if let Err(why) = byzfl_nan_case(&doc["inputs"], case) {
            failures.push(format!(
                "{} {} on {}: {why}",
                case["label"], case["pipeline"], case["input"]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `lbounds aggregate` on rows with `nan` from one Byzantine user (f = 1): exit 0 and the
/// median / trimmed mean of the honest rows with that row as +∞, natively; under
/// `--compat byzfl` ByzFL's trimmed mean (the same number) and, for the median, where ByzFL
/// returns NaN, exit 2 with one line saying so.
#[cfg(feature = "cli")]
#[test]
fn cli_aggregate_reads_nan_as_a_point_at_infinity() {
    use assert_cmd::Command;
    let honest = "1,2\n1.1,2.1\n0.9,1.9\n1.05,2.05\n";
    let agg = |byz: &str, args: &[&str]| {
        Command::cargo_bin("lbounds")
            .unwrap()
            .args(["aggregate", "--input", "-", "--json"])
            .args(args)
            .write_stdin(format!("{honest}{byz}\n"))
            .output()
            .unwrap()
    };
    // By hand, the NaN read as +∞. Row nan,nan: each coordinate's five values sorted are
    // 0.9 1 1.05 1.1 ∞ and 1.9 2 2.05 2.1 ∞: median (1.05, 2.05), trimmed mean (f = 1) of the
    // middle three the same. Row -3,nan: coordinate 0 is -3 0.9 1 1.05 1.1: median 1, trimmed
    // mean (0.9 + 1 + 1.05)/3.
    let cases = [
        ("nan,nan", "median", [1.05, 2.05]),
        ("nan,nan", "trmean", [1.05, 2.05]),
        ("-3,NaN", "median", [1.0, 2.05]),
        ("-3,NaN", "trmean", [(0.9 + 1.0 + 1.05) / 3.0, 2.05]),
    ];
    for (byz, rule, want) in cases {
        let out = agg(byz, &["--rule", rule, "--f", "1"]);
        assert!(out.status.success(), "{rule} on {byz}: {out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let got: Vec<f64> = serde_json::from_value(v["aggregate"].clone()).unwrap();
        // 1e-12: a mean of three numbers rounds at 1e-16 relative.
        assert!(close(&got, &want, 1e-12), "{rule} on {byz}: {got:?}");
    }
    // --compat byzfl: ByzFL's TrMean sorts the NaN after every number and trims it, the same
    // (1.05, 2.05) by hand; its np.median is NaN, reported in one line, exit 2.
    let out = agg(
        "nan,nan",
        &["--rule", "TrMean", "--f", "1", "--compat", "byzfl"],
    );
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<f64> = serde_json::from_value(v["aggregate"].clone()).unwrap();
    assert!(close(&got, &[1.05, 2.05], 1e-12), "{got:?}");
    let out = agg("nan,nan", &["--rule", "median", "--compat", "byzfl"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("median")
            && stderr.contains("ByzFL 0.0.11 returns NaN")
            && stderr.lines().count() == 1,
        "{stderr}"
    );
}

/// The fault "geometric_median returns NaN on rows of ±1e300": squared norms overflow.
#[test]
fn geometric_median_is_finite_on_rows_of_1e300() {
    let x = rows(&[&[1e300, -1e300], &[-1e300, 1e300], &[1e300, 1e300]]);
    let out = run("geometric_median", 0, Compat::Native, &x).unwrap();
    assert!(out.iter().all(|v| v.is_finite()), "{out:?}");
    // The three points form a triangle with all angles < 120°, so the minimiser (the Fermat
    // point) lies inside it: entries within ±1e300.
    assert!(out.iter().all(|v| v.abs() <= 1e300), "{out:?}");
}

/// The fault "ten rules print inf/NaN on three rows near 1.7e308 where a finite answer
/// exists; centered clipping and clipping return a finite wrong 0".
#[test]
fn rows_near_f64_max_give_finite_answers() {
    let x = rows(&[
        &[1.7e308, 1.7e308],
        &[1.6e308, 1.7e308],
        &[1.65e308, 1.6e308],
    ]);
    for rule in [
        "average",
        "median",
        "trmean",
        "geometric_median",
        "krum",
        "multi_krum",
        "monna",
        "meamed",
        "median_of_means",
        "mda",
        "caf",
        "smea",
        "spectral",
        "dnc",
    ] {
        let out = run(rule, 0, Compat::Native, &x).unwrap_or_else(|e| panic!("{rule}: {e}"));
        // Every rule here outputs a point of the inputs' bounding box (f = 0: a mean, a
        // median or an input).
        for (k, v) in out.iter().enumerate() {
            let lo = [1.6e308, 1.6e308][k] * (1.0 - 1e-15);
            assert!(
                v.is_finite() && *v >= lo && *v <= 1.7e308,
                "{rule}: {out:?}"
            );
        }
    }
    // Centered clipping from 0 with τ = 100: each row pulls by τ along its direction, so the
    // result has norm ≤ 100 and points into the positive quadrant, not 0.
    let out = run("centered_clipping", 0, Compat::Native, &x).unwrap();
    let norm = out.iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!(
        norm > 99.0 && norm <= 100.0 && out.iter().all(|v| *v > 0.0),
        "{out:?}"
    );
}

/// The fault "the native geometric median stops early when one input is far away (tolerance
/// scaled by the outlier)": as the outlier goes from 10⁶ to 10¹², the geometric median must
/// converge to one limit (the direction of the pull is fixed), to the stopping tolerance.
#[test]
fn geometric_median_does_not_stop_early_near_a_far_outlier() {
    let honest: [&[f64]; 8] = [
        &[1.0, 2.0],
        &[1.1, 2.1],
        &[0.9, 1.9],
        &[1.05, 2.05],
        &[0.3, 2.4],
        &[1.7, 1.2],
        &[0.8, 2.9],
        &[1.4, 1.6],
    ];
    let with_outlier = |s: f64| {
        let mut r: Vec<&[f64]> = honest.to_vec();
        let far = [s, s];
        r.push(&far);
        run("geometric_median", 0, Compat::Native, &rows(&r)).unwrap()
    };
    let a = with_outlier(1e6);
    let b = with_outlier(1e12);
    // At 10⁶ the outlier's direction differs from the limit by ~1e-6 of the honest scale;
    // the old stop (mean distance ≈ 1e5 as the scale) left 0.03–0.11.
    assert!(close(&a, &b, 1e-4), "{a:?} vs {b:?}");
}

/// `--compat byzfl` reproduces ByzFL's NNM on the Inf attack at its declared f: NumPy's
/// argpartition puts the NaN distances last, so every row becomes the mean of the finite
/// rows, and TrMean then returns that mean.
#[test]
fn byzfl_nnm_then_trmean_on_the_inf_attack() {
    let inf = f64::INFINITY;
    let x = rows(&[&[0.0], &[1.0], &[2.0], &[5.0], &[inf]]);
    let spec = aggregators::PipelineSpec {
        rule: aggregators::StepSpec {
            name: "TrMean".into(),
            params: Params::new().with("f", 1.0),
        },
        pre: vec![aggregators::StepSpec {
            name: "NNM".into(),
            params: Params::new().with("f", 1.0),
        }],
    };
    let p = spec.build(Compat::Byzfl).unwrap();
    let mut rng = rng_from_seed(0);
    let out = p.run(x.view(), &mut AggContext::new(&mut rng)).unwrap();
    assert_eq!(out.as_slice(), &[2.0]);
}

/// The native limit: a rule that selects inputs (Krum, SMEA) never selects one at infinity,
/// and the result equals the rule on the finite inputs with one less f.
#[test]
fn an_infinite_input_spends_one_unit_of_f() {
    let inf = f64::INFINITY;
    let finite: [&[f64]; 6] = [
        &[0.0, 0.0],
        &[1.0, 0.5],
        &[0.2, 1.1],
        &[3.0, 3.0],
        &[0.7, 0.4],
        &[-0.5, 0.3],
    ];
    let mut all: Vec<&[f64]> = finite.to_vec();
    let far = [inf, -inf];
    all.push(&far);
    for rule in ["smea", "krum", "multi_krum", "caf", "dnc"] {
        let with = run(rule, 2, Compat::Native, &rows(&all)).unwrap();
        let without = run(rule, 1, Compat::Native, &rows(&finite)).unwrap();
        assert!(
            close(&with, &without, 1e-12),
            "{rule}: {with:?} vs {without:?}"
        );
    }
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &[12; 32]),
    )
}

/// Nine points in 3-D with entries in [−10, 10].
fn points() -> impl Strategy<Value = Vec<Vec<f64>>> {
    prop::collection::vec(prop::collection::vec(-10.0f64..10.0, 3), 9)
}

/// F(10ᵏ·X) = 10ᵏ·F(X) to rounding, k in −150..150, for every scale-equivariant rule
/// (centered clipping is not one: its radius τ is absolute).
///
/// Tolerance: 1e-9 relative to 10ᵏ·max|x|: multiplying by 10ᵏ rounds each entry (2⁻⁵³
/// relative), and the rules' arithmetic (distances, eigenvalues, Weiszfeld's relative stop
/// 1e-10) amplifies it by far less than 10⁷.
///
/// Mutation checked: dropping the `* t.scale` that multiplies the geometric median's rescaled
/// run back (its guard fires at k ≳ 150 here) makes this fail.
#[test]
fn every_rule_commutes_with_scaling_by_powers_of_ten() {
    let rules: Vec<&str> = ROBUST
        .iter()
        .copied()
        .filter(|r| *r != "bulyan")
        .chain(["average"])
        .collect();
    runner(64)
        .run(&(points(), -150i32..150), |(pts, k)| {
            let s = 10f64.powi(k);
            let r: Vec<&[f64]> = pts.iter().map(Vec::as_slice).collect();
            let x = rows(&r);
            let scaled: Vec<Vec<f64>> = pts
                .iter()
                .map(|p| p.iter().map(|v| v * s).collect())
                .collect();
            let rs: Vec<&[f64]> = scaled.iter().map(Vec::as_slice).collect();
            let xs = rows(&rs);
            let big = pts.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
            for rule in &rules {
                let a = run(rule, 2, Compat::Native, &x).unwrap();
                let b = run(rule, 2, Compat::Native, &xs).unwrap();
                for (u, v) in a.iter().zip(&b) {
                    prop_assert!(
                        (u * s - v).abs() <= 1e-9 * s * big,
                        "{rule} at 10^{k}: {a:?}·s vs {b:?}"
                    );
                }
            }
            Ok(())
        })
        .unwrap();
}

/// One outlier at 10ᵏ·u (k in 0..=300, u a unit direction) among eight honest points moves no
/// robust rule further than 2·D from the honest mean, D the honest diameter.
///
/// Why 2·D: with one outlier and f = 1, Krum, Multi-Krum, MDA, SMEA and DnC average honest
/// points only (within D of their mean); median, trimmed mean, Meamed and median of means
/// stay in the honest range per coordinate (within √3·D in 3-D); Bulyan does both; the
/// geometric median of eight points and one far one lies where eight unit vectors balance
/// one, inside the honest hull's D-neighbourhood. The average (moved by 10ᵏ/9) fails it.
/// CAF and the spectral filter (which returned the plain mean from an outlier at about 10⁷⁸
/// up) remove the outlier's weight first.
///
/// Mutation checked: making `far::tame` keep the finite scale (dividing by 1 instead of 2ᵉ)
/// overflows SMEA's Gram matrix again at k ≳ 154 and this fails.
#[test]
fn one_far_outlier_moves_no_robust_rule_beyond_twice_the_honest_diameter() {
    let rules: Vec<&str> = ROBUST.to_vec();
    runner(48)
        .run(
            &(
                prop::collection::vec(prop::collection::vec(-1.0f64..1.0, 3), 8),
                prop::collection::vec(-1.0f64..1.0, 3),
                0i32..=300,
            ),
            |(honest, dir, k)| {
                let len = dir.iter().map(|v| v * v).sum::<f64>().sqrt();
                prop_assume!(len > 0.1);
                let far: Vec<f64> = dir.iter().map(|v| v / len * 10f64.powi(k)).collect();
                let mut r: Vec<&[f64]> = honest.iter().map(Vec::as_slice).collect();
                r.push(&far);
                let x = rows(&r);
                let mean: Vec<f64> = (0..3)
                    .map(|j| honest.iter().map(|p| p[j]).sum::<f64>() / 8.0)
                    .collect();
                let mut diam = 0.0f64;
                for a in &honest {
                    for b in &honest {
                        let d2: f64 = a.iter().zip(b).map(|(u, v)| (u - v) * (u - v)).sum();
                        diam = diam.max(d2.sqrt());
                    }
                }
                for rule in &rules {
                    let out = run(rule, 1, Compat::Native, &x).unwrap();
                    let dist = out
                        .iter()
                        .zip(&mean)
                        .map(|(u, v)| (u - v) * (u - v))
                        .sum::<f64>()
                        .sqrt();
                    prop_assert!(
                        dist <= 2.0 * diam + 1e-12,
                        "{rule} at 10^{k}: {out:?}, {dist} > 2·{diam}"
                    );
                }
                Ok(())
            },
        )
        .unwrap();
}

/// Ten honest rows in dimension `d` (deterministic, spread about 1 around (3, −1, 3, −1, …)),
/// and a unit direction for the outlier.
fn honest_cloud(d: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
    let honest: Vec<Vec<f64>> = (0..10)
        .map(|i| {
            (0..d)
                .map(|j| {
                    let centre = if j % 2 == 0 { 3.0 } else { -1.0 };
                    centre + ((i * 7 + j * 3) as f64 * 1.37).sin()
                })
                .collect()
        })
        .collect();
    let dir: Vec<f64> = (0..d).map(|j| (j as f64 + 0.5).cos()).collect();
    let len = dir.iter().map(|v| v * v).sum::<f64>().sqrt();
    (honest, dir.iter().map(|v| v / len).collect())
}

/// One outlier at 10ᵏ times the honest spread (k = 3..=300) among ten honest rows in 2, 3 and
/// 5 dimensions: CAF and the spectral filter (f = 1 and 2) and DnC (f = 1) return the honest
/// mean up to (10¹⁻ᵏ + 10⁻¹²) times the honest spread. The plain average is 10ᵏ/11 spreads
/// away.
///
/// Why the honest mean, to O(10⁻ᵏ): in the first round the outlier carries the top
/// direction and gets weight 0, and the honest rows keep weights equal up to O(10⁻ᵏ); on this
/// cloud CAF's smallest eigenvalue is then that of the honest rows and the spectral filter
/// accepts them (as at k = 3..8, where every version agreed), and DnC flags the outlier. The
/// 10⁻¹² floor is rounding (ten rows, entries of order 1).
///
/// Mutation checked: CAF and the spectral filter on the mean-centred Gram matrix
/// (`centred_gram` instead of `gram_about_majority`) fail it: once the outlier's weight is 0
/// they ranked the honest rows by rounding errors and moved by 3–20 % of the spread at
/// k = 10..16.
#[test]
fn one_outlier_at_ten_to_the_k_leaves_the_spectral_filters_at_the_honest_mean() {
    for d in [2usize, 3, 5] {
        let (honest, dir) = honest_cloud(d);
        let mean: Vec<f64> = (0..d)
            .map(|j| honest.iter().map(|p| p[j]).sum::<f64>() / 10.0)
            .collect();
        let spread = (honest
            .iter()
            .map(|p| {
                p.iter()
                    .zip(&mean)
                    .map(|(u, v)| (u - v) * (u - v))
                    .sum::<f64>()
            })
            .sum::<f64>()
            / 10.0)
            .sqrt();
        for k in 3..=300 {
            let far: Vec<f64> = dir.iter().map(|u| u * spread * 10f64.powi(k)).collect();
            let mut r: Vec<&[f64]> = honest.iter().map(Vec::as_slice).collect();
            r.push(&far);
            let x = rows(&r);
            for (rule, f) in [
                ("caf", 1),
                ("caf", 2),
                ("spectral", 1),
                ("spectral", 2),
                ("dnc", 1),
            ] {
                let out = run(rule, f, Compat::Native, &x).unwrap();
                let dist = out
                    .iter()
                    .zip(&mean)
                    .map(|(u, v)| (u - v) * (u - v))
                    .sum::<f64>()
                    .sqrt();
                let tol = (10f64.powi(1 - k) + 1e-12) * spread;
                assert!(
                    dist <= tol,
                    "{rule} (f = {f}, d = {d}) at 10^{k}: {dist:e} from the honest mean > {tol:e}"
                );
            }
        }
    }
}

/// DnC next to one far outlier: ten honest rows cᵢ·e + wᵢ (cᵢ distinct multiples of 0.3 in a
/// scrambled order, e a unit direction, |wᵢ| ≤ 10⁻³ noise) and one row at 10ᵏ·e, k = 3..=300,
/// d = 1, 2, 3, 5, every coordinate (`sub_dim` = d) or two drawn per iteration, f = 1, 2, 3.
/// The good set is exactly what exact arithmetic gives: the outlier and the f − 1 honest rows
/// with the smallest cᵢ are flagged, the other n − f averaged.
///
/// Why, exactly: every centred row has (xᵢ − μ)·e ≈ cᵢ − 10ᵏ/11 with |cᵢ| ≤ 2.7, so the
/// outlier's score is the largest and the honest scores ((xᵢ − μ)·v)² decrease with cᵢ; v
/// differs from e by O(10⁻ᵏ) and the noise moves a projection by ≤ 2·10⁻³, far below the gaps
/// of 0.3 (on a drawn coordinate subset S the same holds for e_S, since wᵢ ≤ 10⁻³ and cᵢ
/// differ by 0.3·|e_S|).
///
/// Mutation checked: ranking on the mean-centred Gram matrix again (`centred_gram` instead of
/// `gram_about_majority`, no `lost_digits` fallback) fails it: at d = 1, f = 2, 10¹⁵ rounding
/// flags honest row 1 (c = 0.3) instead of row 5 (c = 0).
#[test]
fn dnc_flags_what_exact_arithmetic_flags_next_to_one_outlier_at_ten_to_the_k() {
    use lbounds::aggregators::dnc::Dnc;
    let c: [f64; 10] = [2.1, 0.3, 1.5, 2.7, 0.9, 0.0, 1.2, 2.4, 0.6, 1.8];
    let mut by_c: Vec<usize> = (0..10).collect();
    by_c.sort_by(|&a, &b| c[a].total_cmp(&c[b]));
    for d in [1usize, 2, 3, 5] {
        let e: Vec<f64> = (0..d).map(|j| 1.0 + 0.5 * j as f64).collect();
        let len = e.iter().map(|v| v * v).sum::<f64>().sqrt();
        let e: Vec<f64> = e.iter().map(|v| v / len).collect();
        let noise = |i: usize, j: usize| 1e-3 * (((7 * i + 3 * j) as f64).sin());
        let honest: Vec<Vec<f64>> = (0..10)
            .map(|i| (0..d).map(|j| c[i] * e[j] + noise(i, j)).collect())
            .collect();
        for k in 3..=300 {
            let far: Vec<f64> = e.iter().map(|u| u * 10f64.powi(k)).collect();
            let mut r: Vec<&[f64]> = honest.iter().map(Vec::as_slice).collect();
            r.push(&far);
            let x = rows(&r);
            for sub_dim in [d, 2.min(d)] {
                for f in 1..=3 {
                    let mut want: Vec<usize> = by_c[f - 1..].to_vec();
                    want.sort_unstable();
                    let mut rng = rng_from_seed(5);
                    let got = Dnc::new(f, sub_dim, 5, 1.0)
                        .good_set(x.view(), &mut rng)
                        .unwrap();
                    assert_eq!(got, want, "d = {d}, sub_dim = {sub_dim}, f = {f}, 10^{k}");
                }
            }
        }
    }
}
