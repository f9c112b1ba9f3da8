//! Same seed, same bytes: `simulate --json` does not depend on the number of threads.
#![cfg(feature = "cli")]

use assert_cmd::Command;

fn simulate_json(threads: &str, seed: &str) -> Vec<u8> {
    let out = Command::cargo_bin("lbounds")
        .unwrap()
        .args([
            "simulate",
            "--json",
            "--replicates",
            "3",
            "--seed",
            seed,
            "--threads",
            threads,
        ])
        .args(["--n", "20", "--d", "5", "--byzantine", "0.2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn simulate_json_is_identical_for_1_and_2_threads() {
    let one = simulate_json("1", "7");
    let two = simulate_json("2", "7");
    assert!(!one.is_empty());
    assert_eq!(one, two, "records differ between 1 and 2 threads");
    // A different seed changes the numbers (so the test above can fail).
    assert_ne!(one, simulate_json("2", "8"));
}
