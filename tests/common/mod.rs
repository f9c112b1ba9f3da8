//! Helpers shared by the CLI integration tests: run the `lbounds` binary, expect success or a
//! one-line failure.

use assert_cmd::Command;

/// The `lbounds` binary built for this test run.
pub fn lbounds() -> Command {
    Command::cargo_bin("lbounds").expect("binary built")
}

/// Runs `lbounds ARGS`, expects success, returns stdout.
pub fn ok(args: &[&str]) -> String {
    let out = lbounds().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "args {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `lbounds ARGS`: exit code 2, no stdout, one stderr line containing `needle`.
pub fn fails_with(args: &[&str], needle: &str) {
    let out = lbounds().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "args {args:?}: stderr {stderr}");
    assert!(out.stdout.is_empty(), "args {args:?}: partial output");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line: {stderr}"
    );
    assert!(stderr.contains(needle), "{stderr:?} lacks {needle:?}");
}

/// Writes the sweep config `config` into `base` (created afresh) and runs it twice, into
/// `base/one` with one thread and `base/two` with two; checks that the records are the same
/// bytes, that a rerun on the finished `base/one` says every record is already done and
/// changes nothing, and returns the records (JSON Lines) with the path of `base/one`'s file.
#[allow(dead_code)] // not every test binary that includes this module runs sweeps
pub fn sweep_on_one_and_two_threads(
    base: &std::path::Path,
    config: &str,
) -> (String, std::path::PathBuf) {
    let _ = std::fs::remove_dir_all(base);
    std::fs::create_dir_all(base).unwrap();
    let cfg = base.join("sweep.toml");
    std::fs::write(&cfg, config).unwrap();
    let p = |x: &std::path::Path| x.to_str().unwrap().to_string();
    let (one, two) = (base.join("one"), base.join("two"));
    for (dir, threads) in [(&one, "1"), (&two, "2")] {
        ok(&[
            "sweep",
            "run",
            &p(&cfg),
            "--out",
            &p(dir),
            "--threads",
            threads,
        ]);
    }
    let read = |d: &std::path::Path| std::fs::read_to_string(d.join("records.jsonl")).unwrap();
    let records = read(&one);
    assert_eq!(records, read(&two), "1 vs 2 threads");
    let again = ok(&["sweep", "run", &p(&cfg), "--out", &p(&one)]);
    let done = format!("{} already done", records.lines().count());
    assert!(again.contains(&done), "rerun: {again}");
    assert_eq!(records, read(&one), "a finished sweep runs nothing more");
    (records, one.join("records.jsonl"))
}
