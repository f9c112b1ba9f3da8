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
