//! `lbounds sweep`: records are the same bytes for any thread count and shard split, a run
//! killed with SIGKILL resumes to the same bytes, bad configs fail before any work.
#![cfg(feature = "cli")]

mod common;

use common::{fails_with, lbounds, ok};
use std::path::{Path, PathBuf};

const CONFIG: &str = r#"
name = "det"
experiment = "robust"
seed = 11
replicates = 3

[grid]
rule = ["median", "trmean", "krum", "geometric_median"]
attack = ["sign_flipping", "a_little_is_enough"]
byzantine_fraction = [0.0, 0.2, 0.4]
n = 12
d = 4
"#;

const DP_MEAN: &str = r#"
name = "dpm"
experiment = "dp_mean"
seed = 4
replicates = 3

[grid]
epsilon = [0.5, 2.0]
n = 30
records = 4
d = 3
range = 5.0
"#;

const DP_ROBUST: &str = r#"
name = "dpr"
experiment = "dp_robust"
seed = 4
replicates = 3

[grid]
attack = ["sign_flipping", "a_little_is_enough"]
byzantine_fraction = [0.0, 0.2]
epsilon = [1.0, 4.0]
n = 20
range = 3.0
"#;

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lbounds-it-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn merged(dirs: &[PathBuf], out: &Path) -> Vec<u8> {
    let mut args = vec!["sweep", "merge"];
    args.extend(dirs.iter().map(|d| s(d)));
    args.extend(["--out", s(out)]);
    ok(&args);
    std::fs::read(out).unwrap()
}

#[test]
fn records_do_not_depend_on_threads_or_shards() {
    let base = tmp("det");
    let cfg = base.join("c.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let one = base.join("t1");
    let two = base.join("t2");
    ok(&["sweep", "run", s(&cfg), "--out", s(&one), "--threads", "1"]);
    ok(&[
        "sweep",
        "run",
        s(&cfg),
        "--out",
        s(&two),
        "--threads",
        "2",
        "--chunk",
        "5",
    ]);
    let a = merged(std::slice::from_ref(&one), &base.join("a.jsonl"));
    let b = merged(&[two], &base.join("b.jsonl"));
    // 4 rules × 2 attacks × 3 fractions × 3 replicates.
    assert_eq!(a.iter().filter(|&&c| c == b'\n').count(), 72);
    assert_eq!(a, b, "1 vs 2 threads");
    // A single-process run is already in canonical order.
    assert_eq!(std::fs::read(one.join("records.jsonl")).unwrap(), a);
    let shards: Vec<PathBuf> = (0..3).map(|k| base.join(format!("s{k}"))).collect();
    for (k, d) in shards.iter().enumerate() {
        let shard = format!("{k}/3");
        ok(&[
            "sweep",
            "run",
            s(&cfg),
            "--out",
            s(d),
            "--shard",
            &shard,
            "--threads",
            "2",
        ]);
    }
    assert_eq!(merged(&shards, &base.join("c.jsonl")), a, "1 vs 3 shards");
    let st = ok(&["sweep", "status", s(&shards[1])]);
    assert!(
        st.contains("24/24 records") && st.contains("complete"),
        "{st}"
    );
    // Mixed configs are refused.
    let other = base.join("o.toml");
    std::fs::write(&other, CONFIG.replace("seed = 11", "seed = 12")).unwrap();
    ok(&["sweep", "run", s(&other), "--out", s(&base.join("o"))]);
    fails_with(
        &[
            "sweep",
            "merge",
            s(&one),
            s(&base.join("o")),
            "--out",
            s(&base.join("x.jsonl")),
        ],
        "mixed configs",
    );
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn privacy_kinds_do_not_depend_on_threads() {
    let base = tmp("dpdet");
    for (tag, text, records) in [("m", DP_MEAN, 2 * 3), ("r", DP_ROBUST, 2 * 2 * 2 * 3)] {
        let cfg = base.join(format!("{tag}.toml"));
        std::fs::write(&cfg, text).unwrap();
        let one = base.join(format!("{tag}1"));
        let two = base.join(format!("{tag}2"));
        ok(&["sweep", "run", s(&cfg), "--out", s(&one), "--threads", "1"]);
        ok(&[
            "sweep",
            "run",
            s(&cfg),
            "--out",
            s(&two),
            "--threads",
            "2",
            "--chunk",
            "3",
        ]);
        let a = std::fs::read(one.join("records.jsonl")).unwrap();
        let b = merged(&[two], &base.join(format!("{tag}.jsonl")));
        assert_eq!(a.iter().filter(|&&c| c == b'\n').count(), records);
        assert_eq!(a, b, "{tag}: 1 vs 2 threads");
        let first: serde_json::Value =
            serde_json::from_slice(a.split(|&c| c == b'\n').next().unwrap()).unwrap();
        assert_eq!(
            first["experiment"],
            if tag == "m" { "dp_mean" } else { "dp_robust" }
        );
        assert!(first["bounds"].is_object() && first["output"].is_object());
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn privacy_configs_fail_before_any_work() {
    let base = tmp("dpbad");
    let cases: [(&str, String, &[&str]); 6] = [
        // ε out of range, wrong type, unknown key (with the kind's own key list), a
        // non-Gaussian noise, a range that does not contain the mean, a missing list.
        (
            "eps",
            DP_MEAN.replace("[0.5, 2.0]", "[0.5, -2.0]"),
            &["line 8", "grid.epsilon"],
        ),
        (
            "type",
            DP_MEAN.replace("n = 30", "n = 3.5"),
            &["line 9", "grid.n", "integer"],
        ),
        (
            "key",
            DP_MEAN.replace("d = 3", "rule = \"median\""),
            &["grid.rule", "coinpress_steps"],
        ),
        (
            "noise",
            DP_ROBUST.replace("n = 20", "noise = \"student_t\""),
            &["grid.noise", "Gaussian"],
        ),
        (
            "range",
            DP_MEAN.replace("range = 5.0", "range = 1.0"),
            &["grid point 0", "range"],
        ),
        (
            "missing",
            DP_ROBUST.replace("attack = [\"sign_flipping\", \"a_little_is_enough\"]\n", ""),
            &["grid.attack", "missing"],
        ),
    ];
    for (tag, text, needles) in cases {
        let cfg = base.join(format!("{tag}.toml"));
        std::fs::write(&cfg, text).unwrap();
        let out_dir = base.join(tag);
        let out = lbounds()
            .args(["sweep", "run", s(&cfg), "--out", s(&out_dir)])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{tag}");
        let err = String::from_utf8_lossy(&out.stderr);
        for n in needles {
            assert!(
                err.contains(n) && err.contains(&format!("{tag}.toml")),
                "{tag}: {n} in {err}"
            );
        }
        assert!(
            !out_dir.exists(),
            "{tag}: nothing may be written for a bad config"
        );
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn killed_run_resumes_to_the_same_bytes() {
    let base = tmp("kill");
    let cfg = base.join("c.toml");
    // Enough work (about a second on one thread) to kill the process half-way.
    let text = CONFIG
        .replace("replicates = 3", "replicates = 40")
        .replace("d = 4", "d = 200")
        .replace("n = 12", "n = 30");
    std::fs::write(&cfg, &text).unwrap();
    let total = 4 * 2 * 3 * 40;
    let full = base.join("full");
    ok(&["sweep", "run", s(&cfg), "--out", s(&full), "--threads", "1"]);
    let reference = std::fs::read(full.join("records.jsonl")).unwrap();

    let dir = base.join("killed");
    let records = dir.join("records.jsonl");
    let exe = assert_cmd::cargo::cargo_bin("lbounds");
    let mut child = std::process::Command::new(&exe)
        .args([
            "sweep",
            "run",
            s(&cfg),
            "--out",
            s(&dir),
            "--threads",
            "1",
            "--chunk",
            "4",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill -9 once some records are on disk.
    let start = std::time::Instant::now();
    loop {
        let lines =
            std::fs::read(&records).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count());
        if lines >= 40 || start.elapsed().as_secs() > 60 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let partial = std::fs::read(&records).unwrap();
    let complete = partial.iter().filter(|&&c| c == b'\n').count();
    assert!(
        complete < total,
        "the run finished before it was killed; make the test config bigger"
    );

    let msg = ok(&["sweep", "run", s(&cfg), "--out", s(&dir), "--threads", "2"]);
    assert!(msg.contains(&format!("{complete} already done")), "{msg}");
    let after = std::fs::read(&records).unwrap();
    assert_eq!(after.last(), Some(&b'\n'), "no torn line");
    // A completed resume puts the file in job order: the same bytes as one uninterrupted run.
    assert_eq!(
        after, reference,
        "resumed records differ from an uninterrupted run"
    );
    assert_eq!(merged(&[dir], &base.join("m.jsonl")), reference);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn bad_configs_fail_before_any_work() {
    let base = tmp("bad");
    let cfg = base.join("bad.toml");
    std::fs::write(&cfg, CONFIG.replace("d = 4", "d = [4, -1]")).unwrap();
    let out_dir = base.join("out");
    let out = lbounds()
        .args(["sweep", "run", s(&cfg), "--out", s(&out_dir)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml line 12") && err.contains("grid.d"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!out_dir.exists(), "nothing may be written for a bad config");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn slurm_writes_an_array_and_a_dependent_merge() {
    let base = tmp("slurm");
    let cfg = base.join("c.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let out = base.join("job");
    let msg = ok(&[
        "sweep",
        "slurm",
        s(&cfg),
        "--shards",
        "4",
        "--out",
        s(&out),
        "--cpus",
        "2",
        "--partition",
        "short",
    ]);
    assert!(msg.contains("submit with:"), "{msg}");
    let array = std::fs::read_to_string(out.join("slurm/array.sbatch")).unwrap();
    assert!(
        array.contains("#SBATCH --array=0-3")
            && array.contains("--shard \"$SLURM_ARRAY_TASK_ID\"/4")
    );
    assert!(array.contains("#SBATCH --partition=short") && array.contains("--cpus-per-task=2"));
    let submit = std::fs::read_to_string(out.join("slurm/submit.sh")).unwrap();
    assert!(submit.contains("--dependency=afterok:"));
    assert!(out.join("config.toml").exists());
    let _ = std::fs::remove_dir_all(&base);
}

#[cfg(feature = "plot")]
#[test]
fn figures_are_drawn_from_records_only() {
    let base = tmp("fig");
    let cfg = base.join("breakdown.toml");
    std::fs::write(
        &cfg,
        CONFIG
            .replace("name = \"det\"", "name = \"breakdown\"")
            .replace("d = 4", "d = 2"),
    )
    .unwrap();
    ok(&["sweep", "run", s(&cfg), "--out", s(&base.join("run"))]);
    let records = base.join("run/records.jsonl");
    let out = base.join("figs");
    let msg = ok(&["figures", "--records", s(&records), "--out", s(&out)]);
    assert!(
        msg.contains("fig1") && msg.contains("skipped fig3"),
        "{msg}"
    );
    for stem in ["fig1_error_vs_fraction", "fig2_kappa_vs_fraction"] {
        let png = std::fs::read(out.join(format!("{stem}.png"))).unwrap();
        assert_eq!(&png[1..4], b"PNG", "{stem}.png is a PNG");
        let svg = std::fs::read_to_string(out.join(format!("{stem}.svg"))).unwrap();
        assert!(
            svg.contains("<svg") && svg.contains("Byzantine fraction"),
            "{stem}.svg"
        );
    }
    // Plotting ran no experiment: the records are untouched and no sweep directory appeared.
    assert!(!out.join("records").exists());
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn slurm_refuses_values_that_break_out_of_their_line() {
    let base = tmp("slurmbad");
    let cfg = base.join("c.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let pwned = base.join("pwned");
    // The regression: an --out with a newline wrote `touch ...` as a line of the scripts.
    let evil_out = format!("{}/job\ntouch {}", s(&base), s(&pwned));
    let j = base.join("j");
    let j = s(&j);
    let cases: [(&[&str], &str); 4] = [
        (&["--out", &evil_out], "control character"),
        (
            &["--out", j, "--time", "01:00:00\ntouch x"],
            "control character",
        ),
        (&["--out", j, "--time", "1h"], "Slurm time"),
        (&["--out", j, "--partition", "a;touch x"], "partition"),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["sweep", "slurm", s(&cfg), "--shards", "2"];
        args.extend_from_slice(extra);
        fails_with(&args, needle);
    }
    assert!(!pwned.exists());
    // Nothing was written for any of them.
    let left: Vec<_> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("c.toml")], "{left:?}");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn sizes_and_hopeless_values_fail_up_front() {
    let base = tmp("sizes");
    let list: Vec<String> = (10..1010).map(|n| n.to_string()).collect();
    let list = format!("[{}]", list.join(", "));
    let cases: [(&str, String, &str); 4] = [
        // 10⁹ points: refused before expanding the grid (this took ~40 min of validation).
        (
            "points",
            CONFIG
                .replace("n = 12", &format!("n = {list}"))
                .replace("d = 4", &format!("d = {list}\nrecords = {list}")),
            "at most 1000000",
        ),
        // 24 points × (2³² − 1) replicates (aborted allocating 137 GB).
        (
            "reps",
            CONFIG.replace("replicates = 3", "replicates = 4294967295"),
            "records; at most",
        ),
        // ε = 1e-300: every run's noise overflows (failed on every resume).
        (
            "eps",
            DP_MEAN.replace("[0.5, 2.0]", "[0.5, 1e-300]"),
            "overflows",
        ),
        // An iteration count that would run for hours.
        (
            "iters",
            CONFIG.replace("\"krum\"", "\"centered_clipping:L=1e9\""),
            "capped",
        ),
    ];
    for (tag, text, needle) in cases {
        let cfg = base.join(format!("{tag}.toml"));
        std::fs::write(&cfg, text).unwrap();
        let out_dir = base.join(tag);
        let start = std::time::Instant::now();
        fails_with(&["sweep", "run", s(&cfg), "--out", s(&out_dir)], needle);
        assert!(start.elapsed().as_secs() < 20, "{tag} took too long");
        assert!(!out_dir.exists(), "{tag}: nothing written");
    }
    // An --out that is a regular file: a clear exit-2 error, not "File exists".
    let cfg = base.join("c.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let file = base.join("afile");
    std::fs::write(&file, "x").unwrap();
    fails_with(&["sweep", "run", s(&cfg), "--out", s(&file)], "is a file");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn json_reports_and_partial_merges() {
    let base = tmp("json");
    let cfg = base.join("c.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let dir = base.join("s0");
    let run: serde_json::Value = serde_json::from_str(&ok(&[
        "sweep",
        "run",
        s(&cfg),
        "--out",
        s(&dir),
        "--shard",
        "0/2",
        "--json",
    ]))
    .unwrap();
    assert_eq!(run["report"]["total"], 36);
    assert_eq!(run["report"]["written"], 36);
    let st: serde_json::Value =
        serde_json::from_str(&ok(&["sweep", "status", s(&dir), "--json"])).unwrap();
    assert_eq!(st[0]["done"], 36);
    assert_eq!(st[0]["complete"], true);
    assert!(st[0]["running_pid"].is_null());
    // One shard of two: incomplete, refused unless --allow-partial.
    let out = base.join("m.jsonl");
    fails_with(
        &["sweep", "merge", s(&dir), "--out", s(&out)],
        "--allow-partial",
    );
    assert!(!out.exists());
    let m: serde_json::Value = serde_json::from_str(&ok(&[
        "sweep",
        "merge",
        s(&dir),
        "--out",
        s(&out),
        "--allow-partial",
        "--json",
    ]))
    .unwrap();
    assert_eq!(m["partial"], true);
    assert_eq!(m["report"]["records"], 36);
    assert_eq!(m["report"]["expected"], 72);
    let _ = std::fs::remove_dir_all(&base);
}

/// A small `train` sweep: digits, softmax, n = 10, 6 rounds of batches of 16; two defences,
/// two attacks, f/n ∈ {0, 0.2}, and one private level (a target ε) next to none.
const TRAIN: &str = r#"
name = "trn"
experiment = "train"
seed = 5
replicates = 2
zip = [["rule", "pre"]]

[grid]
rule = ["average", "trmean"]
pre = ["", "nnm"]
attack = ["sign_flipping", "label_flipping"]
byzantine_fraction = [0.0, 0.2]
dp_epsilon = ["none", 4.0]
partition = "dirichlet:alpha=0.5"
clients = 10
rounds = 6
batch = 16
eval_every = 3
"#;

/// `experiment = "train"`: the records are the same bytes for 1 and 2 threads and for two
/// shards merged, and the arms of a replicate share their draws (at f = 0 the attack is
/// unused, so records that differ only by the attack have the same output). Mutation that
/// fails it: the sweep running `train` points through `run_once` with the point-keyed stream
/// (`_ => self.run_once(..)` for every kind in `SweepAny::run_job`): the outputs at f = 0
/// then differ between attacks.
#[test]
fn train_records_do_not_depend_on_threads_or_shards() {
    let base = tmp("trdet");
    let cfg = base.join("t.toml");
    std::fs::write(&cfg, TRAIN).unwrap();
    let one = base.join("t1");
    ok(&["sweep", "run", s(&cfg), "--out", s(&one), "--threads", "1"]);
    let a = std::fs::read(one.join("records.jsonl")).unwrap();
    // 2 defences × 2 attacks × 2 fractions × 2 privacy levels × 2 replicates.
    assert_eq!(a.iter().filter(|&&c| c == b'\n').count(), 32);
    let two = base.join("t2");
    ok(&[
        "sweep",
        "run",
        s(&cfg),
        "--out",
        s(&two),
        "--threads",
        "2",
        "--chunk",
        "3",
    ]);
    assert_eq!(merged(&[two], &base.join("b.jsonl")), a, "1 vs 2 threads");
    let shards: Vec<PathBuf> = (0..2).map(|k| base.join(format!("s{k}"))).collect();
    for (k, d) in shards.iter().enumerate() {
        let shard = format!("{k}/2");
        ok(&["sweep", "run", s(&cfg), "--out", s(d), "--shard", &shard]);
    }
    assert_eq!(merged(&shards, &base.join("c.jsonl")), a, "1 vs 2 shards");

    let recs: Vec<serde_json::Value> = a
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let first = &recs[0];
    assert_eq!(first["experiment"], "train");
    assert!(first["output"]["test_accuracy"].is_number());
    assert!(
        first["output"].get("params").is_none(),
        "no parameter vectors"
    );
    // At f = 0 the attack is unused: same (defence, privacy, replicate), same output.
    let at_zero = |attack: &str| -> Vec<&serde_json::Value> {
        recs.iter()
            .filter(|r| r["grid"]["byzantine_fraction"] == 0.0 && r["grid"]["attack"] == attack)
            .map(|r| &r["output"])
            .collect()
    };
    assert_eq!(at_zero("sign_flipping"), at_zero("label_flipping"));
    // The private runs spend at most their target.
    for r in recs.iter().filter(|r| r["grid"]["dp_epsilon"] == 4.0) {
        let eps = r["output"]["epsilon"].as_f64().unwrap();
        assert!(eps <= 4.0 && eps > 3.99, "{eps}");
    }
    let _ = std::fs::remove_dir_all(&base);
}

/// A `train` sweep cut short (records of a killed run: some whole lines and a torn one)
/// resumes: the whole lines are kept, only the rest runs, and the finished file is the same
/// bytes as an uninterrupted run. Mutation that fails it: not truncating the torn last line
/// on resume (the file then holds a broken record).
#[test]
fn train_sweep_resumes_after_a_kill() {
    let base = tmp("trkill");
    let cfg = base.join("t.toml");
    std::fs::write(&cfg, TRAIN).unwrap();
    let full = base.join("full");
    ok(&["sweep", "run", s(&cfg), "--out", s(&full)]);
    let reference = std::fs::read(full.join("records.jsonl")).unwrap();
    // What a kill -9 leaves: the sweep's directory with 11 whole records and half a line.
    let dir = base.join("cut");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(full.join("sweep.json"), dir.join("sweep.json")).unwrap();
    let lines: Vec<&[u8]> = reference.split_inclusive(|&c| c == b'\n').collect();
    let mut partial: Vec<u8> = lines[..11].concat();
    partial.extend_from_slice(&lines[11][..lines[11].len() / 2]);
    std::fs::write(dir.join("records.jsonl"), &partial).unwrap();
    let msg = ok(&["sweep", "run", s(&cfg), "--out", s(&dir), "--threads", "2"]);
    assert!(msg.contains("11 already done"), "{msg}");
    assert_eq!(std::fs::read(dir.join("records.jsonl")).unwrap(), reference);
    let _ = std::fs::remove_dir_all(&base);
}

/// Bad `train` configs: one line naming the file, line and key, exit 2, nothing written.
#[test]
fn train_configs_fail_before_any_work() {
    let base = tmp("trbad");
    let cases: [(&str, String, &[&str]); 6] = [
        (
            "key",
            TRAIN.replace("rounds = 6", "round = 6"),
            &["grid.round", "rounds"],
        ),
        (
            "partition",
            TRAIN.replace("dirichlet:alpha=0.5", "dirichlet:alpha=-1"),
            &["grid.partition", "alpha"],
        ),
        (
            "scheme",
            TRAIN.replace("dirichlet:alpha=0.5", "dirichlet_skew"),
            &["grid.partition", "dirichlet"],
        ),
        (
            "model",
            TRAIN.replace("clients = 10", "clients = 10\nmodel = \"mlp:0\""),
            &["grid.model", "hidden"],
        ),
        (
            "both",
            TRAIN.replace("rounds = 6", "rounds = 6\ndp_sigma = 1.0"),
            &["grid point", "dp_sigma", "dp_epsilon"],
        ),
        (
            "regression",
            TRAIN.replace(
                "clients = 10",
                "clients = 10\ndata = \"synthetic:kind=regression\"\nmodel = \"linear\"",
            ),
            &["grid point", "partition"],
        ),
    ];
    for (tag, text, needles) in cases {
        let cfg = base.join(format!("{tag}.toml"));
        std::fs::write(&cfg, text).unwrap();
        let out_dir = base.join(tag);
        let out = lbounds()
            .args(["sweep", "run", s(&cfg), "--out", s(&out_dir)])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{tag}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{tag}: {err}");
        for n in needles {
            assert!(
                err.contains(n) && err.contains(&format!("{tag}.toml")),
                "{tag}: {n} in {err}"
            );
        }
        assert!(!out_dir.exists(), "{tag}: nothing may be written");
    }
    let _ = std::fs::remove_dir_all(&base);
}

/// Figures 7–9 are drawn from `train` records alone.
#[test]
fn train_figures_are_drawn_from_records() {
    let base = tmp("trfig");
    let mut records = Vec::new();
    for name in ["train_breakdown", "train_heterogeneity", "train_frontier"] {
        let text = TRAIN
            .replace("name = \"trn\"", &format!("name = \"{name}\""))
            .replace(
                "partition = \"dirichlet:alpha=0.5\"",
                "partition = [\"dirichlet:alpha=0.5\", \"dirichlet:alpha=5\"]",
            );
        let cfg = base.join(format!("{name}.toml"));
        std::fs::write(&cfg, text).unwrap();
        let dir = base.join(name);
        ok(&["sweep", "run", s(&cfg), "--out", s(&dir)]);
        records.push(dir.join("records.jsonl"));
    }
    let out = base.join("figs");
    let mut args = vec!["figures", "--out", s(&out)];
    for r in &records {
        args.extend(["--records", s(r)]);
    }
    let msg = ok(&args);
    for stem in [
        "fig7_accuracy_vs_fraction",
        "fig8_gradient_vs_heterogeneity",
        "fig9_trilemma_frontier",
    ] {
        let png = std::fs::read(out.join(format!("{stem}.png"))).unwrap();
        assert_eq!(&png[1..4], b"PNG", "{stem}.png");
        let svg = std::fs::read_to_string(out.join(format!("{stem}.svg"))).unwrap();
        assert!(svg.contains("<svg"), "{stem}.svg");
    }
    assert!(msg.contains("fig7") && msg.contains("collapse"), "{msg}");
    let _ = std::fs::remove_dir_all(&base);
}
