//! Iteration counts and sizes are refused before any work, by every entry point: a rule's or an
//! attack's `L=1e9` / `evals=1e9` is one line on stderr, exit 2, within a second, whether it
//! comes through `aggregate --param`, `attack --param` or a `simulate` step; `simulate` refuses
//! absurd sizes and replicate counts up front. The limit itself lives in the builders
//! (`Params::iterations`, capped at `lbounds::params::MAX_ITERATIONS`), so the library and
//! sweeps share it (tests/sweep.rs covers sweeps).
#![cfg(feature = "cli")]

mod common;

use common::{fails_with, lbounds, ok};
use std::time::{Duration, Instant};

/// A refusal must come before any work: a second leaves room for a loaded machine, while the
/// unbounded runs these guard against take hours.
const PROMPT: Duration = Duration::from_secs(1);

/// Exit 2, no stdout, one stderr line naming `needle`, within [`PROMPT`]: the process is killed
/// at the deadline, so a missing check fails here instead of hanging the test.
fn refused_quickly(args: &[&str], needle: &str) {
    let start = Instant::now();
    let out = lbounds().args(args).timeout(PROMPT).output().unwrap();
    let took = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?} after {took:?}: {stderr}"
    );
    assert!(took < PROMPT, "{args:?} took {took:?}");
    assert!(out.stdout.is_empty(), "{args:?}: partial output");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line: {stderr}"
    );
    assert!(stderr.contains(needle), "{stderr:?} lacks {needle:?}");
}

/// Three 2-D vectors in a file of this test's own.
fn input(tag: &str) -> String {
    let path = std::env::temp_dir().join(format!(
        "lbounds-cli-limits-{tag}-{}.csv",
        std::process::id()
    ));
    std::fs::write(&path, "1,2\n1.1,2.1\n0.9,1.9\n").unwrap();
    path.to_str().unwrap().to_string()
}

/// `aggregate --param` with an iteration count of 10⁹ for each rule that iterates. Fails if a
/// rule's builder reads its count with `Params::count` instead of `Params::iterations` (checked
/// with centered clipping's `L`: the command then runs 10⁹ iterations and exceeds the second).
#[test]
fn aggregate_refuses_huge_iteration_counts() {
    let x = input("aggregate");
    for (rule, key) in [
        ("centered_clipping", "L"),
        ("geometric_median", "T"),
        ("dnc", "num_iters"),
    ] {
        let param = format!("{key}=1e9");
        refused_quickly(
            &[
                "aggregate",
                "--rule",
                rule,
                "--f",
                "0",
                "--param",
                &param,
                "--input",
                &x,
            ],
            "capped at 100000",
        );
    }
    // Below the cap the count is still a count: a fraction is refused, not rounded.
    fails_with(
        &[
            "aggregate",
            "--rule",
            "centered_clipping",
            "--param",
            "L=1.5",
            "--input",
            &x,
        ],
        "non-negative integer",
    );
    // The cap is not a lower default: 10⁵ itself still runs.
    ok(&[
        "aggregate",
        "--rule",
        "centered_clipping",
        "--param",
        "L=100000",
        "--input",
        &x,
    ]);
    let _ = std::fs::remove_file(x);
}

/// `attack --param evals=1e9` for both optimal attacks. Fails if `LineSearch::from_params` reads
/// `evals` with `Params::count` (checked: the search then runs 10⁹ defence evaluations).
#[test]
fn attack_refuses_huge_evaluation_counts() {
    let x = input("attack");
    for attack in [
        "optimal_inner_product_manipulation",
        "optimal_a_little_is_enough",
    ] {
        refused_quickly(
            &[
                "attack",
                "--attack",
                attack,
                "--f",
                "1",
                "--param",
                "evals=1e9",
                "--input",
                &x,
            ],
            "`evals`",
        );
    }
    let _ = std::fs::remove_file(x);
}

/// `simulate` with a rule's or an attack's step parameter of 10⁹. Fails with the same mutations
/// as the two tests above (checked with centered clipping's `L`).
#[test]
fn simulate_refuses_huge_step_iteration_counts() {
    let base = [
        "simulate",
        "--n",
        "20",
        "--d",
        "2",
        "--byzantine",
        "0.2",
        "--replicates",
        "1",
    ];
    refused_quickly(
        &[
            &base[..],
            &[
                "--rules",
                "centered_clipping:L=1e9",
                "--attacks",
                "sign_flipping",
            ],
        ]
        .concat(),
        "`L`",
    );
    refused_quickly(
        &[
            &base[..],
            &[
                "--rules",
                "median",
                "--attacks",
                "optimal_inner_product_manipulation:evals=1e9",
            ],
        ]
        .concat(),
        "`evals`",
    );
}

/// `simulate` refuses, before any work, 4 294 967 295 replicates over 9 cells (which aborted
/// allocating 12 TB) and a dimension of 10⁹ (the memory estimate). Fails if the runs cap in
/// `simulate` is removed (checked: the process aborts on allocation, exit 134).
#[test]
fn simulate_refuses_absurd_sizes_up_front() {
    refused_quickly(
        &[
            "simulate",
            "--n",
            "50",
            "--d",
            "10",
            "--byzantine",
            "0.2",
            "--rules",
            "median,trmean,krum",
            "--attacks",
            "sign_flipping,inf,mimic",
            "--replicates",
            "4294967295",
        ],
        "--replicates",
    );
    refused_quickly(
        &[
            "simulate",
            "--n",
            "50",
            "--d",
            "1000000000",
            "--rules",
            "median",
        ],
        "`d`",
    );
    // A million users at d = 1: small n·d, but the distance-based rules' n × n matrices are
    // 8 TB (it aborted allocating them, exit 134). Fails if the population's n² limit goes.
    refused_quickly(
        &["simulate", "--n", "1000000", "--d", "1"],
        "`n` = 1000000: the distance-based rules' n x n matrices",
    );
}

/// A bucket size far above n is one bucket (documented), not an allocation of s weights. Fails
/// if bucketing sizes its weight buffer by s instead of min(s, n) (checked: abort, exit 134).
#[test]
fn huge_bucket_size_is_the_mean() {
    let x = input("bucketing");
    let out = ok(&[
        "aggregate",
        "--rule",
        "average",
        "--pre",
        "bucketing:s=1e15",
        "--input",
        &x,
    ]);
    // One bucket holding all three rows: the mean (1, 2), up to the rounding of 3.0/3 and 6.0/3.
    let v: Vec<f64> = out.trim().split(',').map(|t| t.parse().unwrap()).collect();
    assert!(
        (v[0] - 1.0).abs() < 1e-12 && (v[1] - 2.0).abs() < 1e-12,
        "{out}"
    );
    let _ = std::fs::remove_file(x);
}

/// A thread count no machine can use is refused before the pool starts, by every command
/// that takes `--threads` (they share `set_threads`): `simulate --threads 100000` ran for
/// minutes spawning idle workers. Fails if the cap in `set_threads` goes (checked: the
/// process is killed at the deadline).
#[test]
fn absurd_thread_counts_are_refused() {
    for command in [
        &["simulate", "--n", "5", "--d", "2", "--rules", "median"][..],
        &["train", "--rounds", "1"],
    ] {
        let mut args = command.to_vec();
        args.extend(["--threads", "100000"]);
        refused_quickly(&args, "--threads 100000");
    }
}

/// `train` refuses more honest clients than examples before it allocates a list per client:
/// `--clients 1000000000000` aborted asking for 19 TB, and 2⁶⁴ − 1 panicked (capacity
/// overflow). Fails if the check in `Partition::indices` goes (checked: exit 134).
#[test]
fn train_refuses_more_clients_than_examples_up_front() {
    for clients in ["1000000000000", "18446744073709551615"] {
        refused_quickly(
            &["train", "--rounds", "1", "--clients", clients],
            "examples cannot give each of",
        );
    }
    // Enough examples, but n × n matrices of 4.9·10⁹ entries under Krum (killed for memory
    // in round 1). Fails if Krum's `check_n` drops the limit.
    refused_quickly(
        &[
            "train",
            "--rounds",
            "1",
            "--clients",
            "70000",
            "--partition",
            "iid",
            "--rule",
            "krum",
            "--data",
            "synthetic:classes=3,features=2,records=100000",
        ],
        "krum holds n x n matrices: at most 32768 inputs",
    );
}

/// `audit epsilon` at the ends of its inputs: 5 members caught of 10⁷ (statrs' beta quantile
/// looped without end there) and a level of 1e-300 (its quantile returned NaN, on which
/// `beta_reg` panicked) answer within ten seconds, the latter with the level in exponent
/// form; more trials than the bounds are computed for are refused up front. Fails if the
/// Clopper–Pearson quantile starts from `inv_beta_reg` again (checked: killed at the
/// deadline, then exit 101).
#[test]
fn audit_epsilon_survives_extreme_counts_and_levels() {
    let counts = |positives: &'static str| {
        vec![
            "audit",
            "epsilon",
            "--positives",
            positives,
            "--true-positives",
            "5",
            "--negatives",
            "10",
            "--false-positives",
            "1",
        ]
    };
    for extra in [
        &[][..],
        &["--alpha", "1e-300"],
        &["--alpha", "1e-300", "--two-sided"],
    ] {
        for positives in ["10", "10000000"] {
            let mut args = counts(positives);
            args.extend(extra);
            let out = lbounds()
                .args(&args)
                .timeout(Duration::from_secs(10))
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{args:?}: {out:?}");
            assert!(stdout.starts_with("epsilon >= "), "{stdout}");
            if !extra.is_empty() {
                assert!(stdout.contains("confidence 1 - 1e-300"), "{stdout}");
            }
        }
    }
    refused_quickly(&counts("10000001"), "up to 10000000 trials");
}

/// `privacy mean` refuses 10¹² CoinPress steps up front (they aborted allocating a budget per
/// step; 2⁶⁴ − 1 panicked). Fails if the cap in `MeanEstimation::check` goes.
#[test]
fn coinpress_steps_are_capped() {
    for steps in ["1000000000000", "18446744073709551615"] {
        refused_quickly(
            &[
                "privacy",
                "mean",
                "--n",
                "10",
                "--d",
                "2",
                "--records",
                "2",
                "--replicates",
                "1",
                "--epsilons",
                "1",
                "--coinpress-steps",
                steps,
            ],
            "coinpress_steps",
        );
    }
}

/// The privacy commands at values near the ends of f64: a composition whose advanced or zCDP
/// total passes f64::MAX says so (it had failed on `invalid parameter rho = inf`, a name the
/// user never gave, and printed `inf` bare), and no number is printed in 300 digits
/// (`1e308` had been `100000…000.000000`) or rounded to `0.000000` (randomized response's
/// flip probability at ε = 60, 8.8e-27). Fails if `Num` goes back to `{:.6}`, if ρ = +∞ is
/// refused again, or if the flip probability is 1 − p_true again.
#[test]
fn privacy_outputs_at_the_ends_of_f64() {
    let runs: [(&[&str], &[&str]); 4] = [
        (
            &[
                "compose",
                "--cost",
                "eps=1e300,count=1000000",
                "--delta",
                "1e-5",
            ],
            &[
                "epsilon = 1.000000e306",
                "rho = inf, epsilon = inf (beyond f64: no guarantee)",
            ],
        ),
        (
            &["laplace", "--sensitivity", "1e308", "--epsilon", "1"],
            &["scale b = 1.000000e308", "sensitivity 1e308 is 1-DP"],
        ),
        (
            &[
                "gaussian",
                "--sensitivity",
                "1e300",
                "--epsilon",
                "1",
                "--delta",
                "1e-5",
            ],
            &["sensitivity = 1e300"],
        ),
        (
            &["rr", "--categories", "2", "--epsilon", "60"],
            &["probability 8.756511e-27"],
        ),
    ];
    for (args, needles) in runs {
        let out = ok(&[&["privacy"][..], args].concat());
        for needle in needles {
            assert!(out.contains(needle), "{args:?}: {out}");
        }
        assert!(out.lines().all(|l| l.len() < 300), "{args:?}: {out}");
    }
    let out = ok(&[
        "privacy", "compose", "--cost", "eps=1e12", "--delta", "1e-5",
    ]);
    assert!(
        out.contains("advanced composition (Dwork, Rothblum & Vadhan 2010): epsilon = inf (beyond f64: no guarantee)"),
        "{out}"
    );
}

/// Headers echo the user's floats in exponent form at the ends of f64: `train --lr 1e308`
/// printed the learning rate in 309 digits, `privacy mean --delta 1e-300` δ in 302.
#[test]
fn headers_echo_extreme_floats_briefly() {
    let out = ok(&["train", "--lr", "1e308", "--rounds", "1"]);
    assert!(
        out.lines()
            .next()
            .unwrap()
            .contains("lr 1e308, momentum 0.9"),
        "{out}"
    );
    assert!(out.lines().all(|l| l.len() < 300), "{out}");
    let out = ok(&[
        "privacy",
        "mean",
        "--delta",
        "1e-300",
        "--replicates",
        "1",
        "--records",
        "5",
    ]);
    assert!(out.contains("delta = 1e-300"), "{out}");
    assert!(out.lines().all(|l| l.len() < 400), "{out}");
}

/// ALIE on honest vectors near f64::MAX, whose sums overflow: all equal to 10³⁰⁸ it sends
/// 10³⁰⁸ (it sent +∞), and where ḡ + 1.5σ truly passes f64::MAX it sends +∞. Fails without
/// the recomputation of overflowed coordinates in `attacks::a_little_is_enough`.
#[test]
fn alie_near_the_largest_float() {
    let path = std::env::temp_dir().join(format!("lbounds-alie-max-{}.csv", std::process::id()));
    std::fs::write(&path, "1e308,1e308\n1e308,-1e308\n1e308,1e308\n").unwrap();
    let out = ok(&[
        "attack",
        "--attack",
        "a_little_is_enough",
        "--f",
        "2",
        "--input",
        path.to_str().unwrap(),
    ]);
    std::fs::remove_file(&path).ok();
    assert_eq!(out.lines().next(), Some("1e308,inf"), "{out}");
}

/// `bounds eval` prints tiny and huge parameters and values in exponent form (ε = 1e-308
/// was 310 characters of zeros, the value another 311). Fails if the output goes back to
/// f64's `Display`.
#[test]
fn bound_values_at_the_ends_of_f64() {
    let out = ok(&["bounds", "eval", "M3", "--param", "eps=1e-308"]);
    assert!(out.contains("at eps = 1e-308, delta = 0: 5e-309"), "{out}");
    assert!(out.lines().all(|l| l.len() < 300), "{out}");
}
