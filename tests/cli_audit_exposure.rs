//! `lbounds audit exposure`: the canary experiment through the CLI — its `--json` keys, the
//! known maximum 19.93 bits, determinism by seed, DP lowering exposure, and bad values (one
//! line, exit 2, nothing printed).
#![cfg(feature = "cli")]

mod common;

use common::{fails_with, ok};
use serde_json::Value;

fn json(args: &[&str]) -> Value {
    let mut all = vec!["audit", "exposure", "--json"];
    all.extend_from_slice(args);
    serde_json::from_str(ok(&all).trim()).unwrap()
}

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// Non-private with 16 insertions the canary ranks first of 10⁶: exposure_exact =
/// log2_space = 19.93 (log₂ 10⁶ = 19.931568569324174), rank 1, ε null; every required key
/// is there, and the statistic is named.
#[test]
fn memorised_canary_reaches_log2_space() {
    let v = json(&["--insertions", "16", "--references", "500"]);
    assert!((num(&v, "log2_space") - 19.931_568_569_324_174).abs() < 1e-12);
    assert_eq!(v["rank"], 1, "{v}");
    assert_eq!(num(&v, "exposure_exact"), num(&v, "log2_space"));
    assert!((num(&v, "exposure_interpolated") - 500f64.log2()).abs() < 1e-12);
    assert!(num(&v, "exposure_extrapolated") > 10.0, "{v}");
    assert!(v["epsilon"].is_null() && v["epsilon_target"].is_null());
    assert_eq!(v["statistic"], "log_perplexity_nats_over_secret_digits");
    assert_eq!(v["secret"].as_str().unwrap().len(), 6);
}

/// DP-SGD at ε = 1 with the same seed (same text, secret, initial weights) exposes the canary
/// far less than plain SGD, and reports the ε its accountant spent (≤ the target, within
/// 1 % of it: the calibration bisects on σ).
#[test]
fn dp_run_reports_epsilon_and_lower_exposure() {
    let plain = json(&["--insertions", "4", "--references", "100", "--seed", "2"]);
    let dp = json(&[
        "--insertions",
        "4",
        "--references",
        "100",
        "--seed",
        "2",
        "--epsilon",
        "1",
    ]);
    let eps = num(&dp, "epsilon");
    assert!(eps <= 1.0 && eps > 0.99, "{dp}");
    assert!(num(&dp, "noise_multiplier") > 0.0);
    assert!(
        num(&dp, "exposure_exact") + 3.0 < num(&plain, "exposure_exact"),
        "{dp}\n{plain}"
    );
    assert_eq!(dp["secret"], plain["secret"]);
}

/// Same seed, same output (apart from the wall time); the text form names all three
/// estimates and the statistic.
#[test]
fn deterministic_and_readable() {
    let args = [
        "--epochs",
        "2",
        "--references",
        "50",
        "--digits",
        "4",
        "--seed",
        "7",
    ];
    let mut a = json(&args);
    let mut b = json(&args);
    a["seconds"] = Value::Null;
    b["seconds"] = Value::Null;
    assert_eq!(a, b);
    assert!((num(&a, "log2_space") - 4.0 * 10f64.log2()).abs() < 1e-12);
    let t = ok(&[
        "audit",
        "exposure",
        "--epochs",
        "2",
        "--references",
        "50",
        "--digits",
        "4",
    ]);
    for needle in [
        "exposure (exact, all 10^4 candidates)",
        "exposure (interpolated, 50 random references)",
        "exposure (extrapolated, skew-normal",
        "log-perplexity in nats",
        "not private",
    ] {
        assert!(t.contains(needle), "{needle} in {t}");
    }
}

#[test]
fn bad_values_exit_2_with_one_line() {
    let e = |args: &[&str], needle: &str| {
        let mut all = vec!["audit", "exposure"];
        all.extend_from_slice(args);
        fails_with(&all, needle);
    };
    e(&["--digits", "0"], "digits");
    e(&["--digits", "8"], "digits");
    e(&["--context", "0"], "context");
    e(&["--context", "11"], "context");
    e(&["--epsilon", "0"], "epsilon");
    e(&["--epsilon", "-1"], "epsilon");
    e(&["--epsilon", "nan"], "epsilon");
    e(&["--delta", "1"], "delta");
    e(&["--references", "2"], "references");
    e(&["--digits", "2", "--references", "100"], "references");
    e(&["--lr", "0"], "lr");
    e(&["--batch", "0"], "batch");
    e(&["--epochs", "0"], "epochs");
    e(&["--tokens", "0"], "tokens");
    e(&["--fanout", "18"], "fanout");
    e(&["--clip", "inf"], "clip");
    e(&["--tokens", "20000000"], "tokens");
    e(&["--epochs", "100000000"], "epochs");
    e(&["--insertions", "x"], "insertions");
}

/// An `exposure` sweep: the records are the same bytes with 1 and 2 threads, a second run
/// on a finished directory adds nothing, and `figures --records` draws fig10 from them.
#[test]
fn exposure_sweep_is_deterministic_resumable_and_plotted() {
    let base = std::env::temp_dir().join(format!("lbounds-expsweep-{}", std::process::id()));
    let (a, records) = common::sweep_on_one_and_two_threads(
        &base,
        "name = \"exposure\"\nexperiment = \"exposure\"\nseed = 3\nreplicates = 2\n[grid]\n\
         insertions = [1, 4]\nepsilon = [\"none\", 2.0]\nepochs = 2\ndigits = 4\nreferences = 50\n",
    );
    assert_eq!(a.lines().count(), 8);
    let first: Value = serde_json::from_str(a.lines().next().unwrap()).unwrap();
    assert_eq!(first["experiment"], "exposure");
    assert!((num(&first["bounds"], "log2_space") - 4.0 * 10f64.log2()).abs() < 1e-12);
    let out = base.join("figs");
    let p = |x: &std::path::Path| x.to_str().unwrap().to_string();
    ok(&["figures", "--records", &p(&records), "--out", &p(&out)]);
    let png = std::fs::read(out.join("fig10_exposure_vs_insertions.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let _ = std::fs::remove_dir_all(&base);
}
