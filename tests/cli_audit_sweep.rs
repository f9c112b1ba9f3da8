//! `experiment = "audit"` sweeps through the CLI: records are the same bytes for any thread
//! count, a finished sweep resumes without rerunning, the records carry the accountant's ε
//! and the method's ceiling, and `figures --records` draws fig12 from them.
#![cfg(feature = "cli")]

mod common;

use common::{fails_with, ok};
use serde_json::Value;

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// A tiny audit sweep (2 ε × 2 methods × 2 bugs × 2 replicates, K = 20, M = 200): the records
/// are byte-identical with 1 and 2 threads (the multi-run audit nests its 2K trainings in the
/// sweep's pool), a second run on the finished directory changes nothing, every record's
/// output ε equals its bounds' accountant ε (≤ the claim) and its ε_LB stays below the
/// method's ceiling, and fig12 is drawn from the records (its legend states the one-run
/// ceiling read from them). Mutation checked: seeding the audit from the clock (the
/// nanoseconds of `SystemTime::now()`) instead of the job's named stream in
/// `DpsgdAudit::run_job` makes the 1- and 2-thread records differ and fails it.
#[test]
fn audit_sweep_is_deterministic_resumable_and_plotted() {
    let base = std::env::temp_dir().join(format!("lbounds-auditsweep-{}", std::process::id()));
    let (a, records) = common::sweep_on_one_and_two_threads(
        &base,
        "name = \"audit\"\nexperiment = \"audit\"\nseed = 3\nreplicates = 2\n[grid]\n\
         epsilon = [1.0, 4.0]\nmethod = [\"multi_run\", \"one_run\"]\n\
         planted_bug = [\"none\", \"noise-on-mean\"]\nruns = 20\ncanaries = 200\nepochs = 2\n",
    );
    assert_eq!(a.lines().count(), 16);
    let mut one_run_ceiling = None;
    for line in a.lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        assert_eq!(r["experiment"], "audit");
        let (claim, theory) = (
            num(&r["params"], "epsilon"),
            num(&r["bounds"], "epsilon_theory"),
        );
        assert_eq!(num(&r["output"], "epsilon"), theory, "{r}");
        assert!(theory <= claim && theory > 0.99 * claim, "{r}");
        let ceiling = num(&r["bounds"], "epsilon_lower_max");
        assert!(num(&r["output"], "epsilon_lower") <= ceiling, "{r}");
        if r["params"]["method"] == "one_run" {
            assert!(r["output"]["correct"].as_u64().unwrap() <= 20, "{r}");
            one_run_ceiling = Some(ceiling);
        }
    }
    let out = base.join("figs");
    let p = |x: &std::path::Path| x.to_str().unwrap().to_string();
    ok(&["figures", "--records", &p(&records), "--out", &p(&out)]);
    let png = std::fs::read(out.join("fig12_audit_epsilon.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let svg = std::fs::read_to_string(out.join("fig12_audit_epsilon.svg")).unwrap();
    // The legend wraps its lines; this part of the one-run ceiling's entry stays on one.
    let label = format!("guesses = {:.2}", one_run_ceiling.unwrap());
    assert!(svg.contains(&label), "{label} not in the figure");
    assert!(svg.contains("sound audit may enter"));
    let _ = std::fs::remove_dir_all(&base);
}

/// A bad audit config is refused before any work: one line naming the key, exit 2.
#[test]
fn bad_audit_config_names_the_key() {
    let base = std::env::temp_dir().join(format!("lbounds-auditbad-{}", std::process::id()));
    std::fs::create_dir_all(&base).unwrap();
    let cfg = base.join("bad.toml");
    std::fs::write(
        &cfg,
        "name = \"bad\"\nexperiment = \"audit\"\nseed = 1\nreplicates = 1\n[grid]\n\
         epsilon = 1.0\nmethod = \"one_run\"\ncanaries = 100\nguesses = 3\n",
    )
    .unwrap();
    let out = base.join("out");
    let p = |x: &std::path::Path| x.to_str().unwrap().to_string();
    fails_with(&["sweep", "run", &p(&cfg), "--out", &p(&out)], "guesses");
    assert!(!out.join("records.jsonl").exists());
    let _ = std::fs::remove_dir_all(&base);
}
