//! `--backend candle --device cpu` on every training command: each runs and, in f64,
//! prints what the native backend prints to rounding (`block` runs its adversary there;
//! its MLAC stage is native-only and documented as such). Without the
//! `candle` feature, `--backend candle` is one line naming the rebuild command.
#![cfg(feature = "cli")]

mod common;

use common::fails_with;
#[cfg(feature = "candle")]
use {common::ok, serde_json::Value};

/// Every number of `a` and `b` (JSON) agrees to `tol` relative, except wall-clock keys and
/// the model's description; every other value is equal. `b` may carry a `backend` key (a
/// candle run's config records its backend; a native one leaves it out).
#[cfg(feature = "candle")]
fn assert_same_numbers(a: &Value, b: &Value, tol: f64, path: &str) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= tol * x.abs().max(1.0),
                "{path}: native {x} vs candle {y}"
            );
        }
        (Value::Object(x), Value::Object(y)) => {
            let keys =
                |m: &serde_json::Map<String, Value>| m.keys().filter(|k| *k != "backend").count();
            assert_eq!(x.len(), keys(y), "{path}: keys");
            for (k, v) in x {
                if k.contains("second") || k == "model" {
                    continue;
                }
                assert_same_numbers(v, &y[k], tol, &format!("{path}.{k}"));
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{path}: length");
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                assert_same_numbers(u, v, tol, &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(a, b, "{path}"),
    }
}

/// Runs `args` on the native backend and with `--backend candle --device cpu`, and
/// compares the JSON lines.
#[cfg(feature = "candle")]
fn same_on_candle(args: &[&str], tol: f64) {
    let native = ok(args);
    let mut with = args.to_vec();
    with.extend(["--backend", "candle", "--device", "cpu"]);
    let candle = ok(&with);
    let lines = |s: &str| -> Vec<Value> {
        s.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (n, c) = (lines(&native), lines(&candle));
    assert_eq!(n.len(), c.len(), "{args:?}: line count");
    assert!(!n.is_empty());
    for (a, b) in n.iter().zip(&c) {
        assert_same_numbers(a, b, tol, "");
    }
}

// f64 on both backends: the sums differ in order only (tests/candle_equivalence.rs), but a
// training run and the statistics on top (accuracies near a threshold, ranks of exposures)
// amplify rounding; 1e-6 relative leaves room for that and still fails on any real
// difference (a wrong gradient changes the second digit). Mutation checked: candle's weight
// gradient written transposed (Uᵀ·G for Gᵀ·U) fails all five comparisons (train's params,
// exposure's rank, mia's AUC, memorize's histogram, onion's held-out accuracy).

/// `train`: D-SGD with DP-SGD clients, native vs candle.
#[cfg(feature = "candle")]
#[test]
fn train_runs_on_candle() {
    same_on_candle(
        &[
            "train",
            "--data",
            "synthetic:classes=3,features=6,records=300",
            "--model",
            "mlp",
            "--hidden",
            "8",
            "--rounds",
            "3",
            "--dp",
            "example",
            "--dp-sigma",
            "1",
            "--clip",
            "1",
            "--json",
        ],
        1e-6,
    );
}

/// `train --model cnn`: candle only, on 16×16 images; the native backend refuses it.
#[cfg(feature = "candle")]
#[test]
fn train_cnn_runs_on_candle_only() {
    let args = [
        "train",
        "--data",
        "synthetic:classes=3,features=256,records=200",
        "--model",
        "cnn",
        "--hidden",
        "2,3",
        "--rounds",
        "2",
        "--json",
    ];
    let mut with = args.to_vec();
    with.extend(["--backend", "candle", "--device", "cpu", "--dtype", "f32"]);
    let out = ok(&with);
    assert_eq!(out.lines().count() % 2, 0, "{out}");
    fails_with(&args, "candle backend only");
}

/// `audit exposure`: the character model on candle.
#[cfg(feature = "candle")]
#[test]
fn audit_exposure_runs_on_candle() {
    same_on_candle(
        &[
            "audit",
            "exposure",
            "--tokens",
            "300",
            "--epochs",
            "2",
            "--references",
            "50",
            "--digits",
            "3",
            "--json",
        ],
        1e-6,
    );
}

/// `audit mia`: shadow models on candle.
#[cfg(feature = "candle")]
#[test]
fn audit_mia_runs_on_candle() {
    same_on_candle(
        &[
            "audit",
            "mia",
            "--models",
            "4",
            "--records",
            "1000",
            "--features",
            "8",
            "--targets",
            "2",
            "--epochs",
            "3",
            "--json",
        ],
        1e-6,
    );
}

/// `memorize`: its shadow models and test accuracies on candle.
#[cfg(feature = "candle")]
#[test]
fn memorize_runs_on_candle() {
    same_on_candle(
        &[
            "memorize",
            "--quick",
            "--models",
            "4",
            "--targets",
            "2",
            "--epochs",
            "2",
            "--dp-epochs",
            "2",
            "--json",
        ],
        1e-6,
    );
}

/// `onion`: its shadow models on candle.
#[cfg(feature = "candle")]
#[test]
fn onion_runs_on_candle() {
    same_on_candle(
        &[
            "onion",
            "--quick",
            "--random-seeds",
            "2",
            "--masking-targets",
            "0",
            "--json",
        ],
        1e-6,
    );
}

/// `unlearn` on candle f64 prints what the native backend prints to 1e-6 relative (the same
/// f64 losses and gradients summed in another order, through 30 training steps and the
/// unlearning steps; the accuracies and ε's are functions of logits that move by ~1e-13).
/// The Newton arm runs too: its Hessian reads the logits through the trait. Tiny: 200
/// records, 4 models per arm, the random forget set. Mutations checked: candle's
/// `dense_twin` returning `None` (the Newton arm refuses the candle softmax); candle's
/// clipped/weighted sum laid out bias-first (the numbers move).
#[cfg(feature = "candle")]
#[test]
fn unlearn_runs_on_candle() {
    same_on_candle(
        &[
            "unlearn",
            "--quick",
            "--forget",
            "random",
            "--models",
            "4",
            "--records",
            "200",
            "--json",
        ],
        1e-6,
    );
}

/// `block`: the adversary fine-tunes and scores on candle (pretraining and MLAC stay
/// native) and gets the native accuracies to 1e-6 relative (accuracies are counts over
/// 500 test examples: a flipped prediction would move them by 2e-3). Tiny: one ρ, one
/// replicate, two configurations, budget 20, 20 MLAC steps. Mutations checked: candle's
/// `dense_twin` returning `None` (the adversary cannot find the head); candle's gradient
/// sum laid out bias-first (the accuracies move).
#[cfg(feature = "candle")]
#[test]
fn block_runs_on_candle() {
    same_on_candle(
        &[
            "block",
            "--quick",
            "--rho",
            "0.5",
            "--replicates",
            "1",
            "--examples",
            "20",
            "--configs",
            "2",
            "--mlac-steps",
            "20",
            "--json",
        ],
        1e-6,
    );
}

/// `audit dpsgd`: the DP-SGD with gradient canaries trains through candle's clipped sum
/// and gives the native audit to 1e-9 relative: the canary coordinate's update is the
/// canary and the host-drawn noise alone (its data gradient is exactly 0 on either
/// backend), so the scores agree to rounding of the step. Multi-run with 20 runs per world
/// and one-run with 100 canaries. The scores read the canary coordinates only, so this
/// checks the loop (coins, noise, canaries, steps) and the layout of candle's clipped sum
/// (mutation checked: the sum laid out bias-first puts data gradients on the canary
/// coordinates and fails it); the clipped sums' values are `candle_equivalence`'s.
#[cfg(feature = "candle")]
#[test]
fn audit_dpsgd_runs_on_candle() {
    same_on_candle(
        &["audit", "dpsgd", "--epsilon", "1", "--runs", "20", "--json"],
        1e-9,
    );
    same_on_candle(
        &[
            "audit",
            "dpsgd",
            "--epsilon",
            "4",
            "--one-run",
            "--canaries",
            "100",
            "--planted-bug",
            "no-clipping",
            "--json",
        ],
        1e-9,
    );
}

/// Without the feature: `--backend candle` is one line with the rebuild command, exit 2, on
/// every training command.
#[cfg(not(feature = "candle"))]
#[test]
fn candle_without_the_feature_says_how_to_rebuild() {
    for cmd in [
        &["train"][..],
        &["audit", "exposure"][..],
        &["audit", "mia"][..],
        &["audit", "dpsgd", "--epsilon", "1"][..],
        &["memorize"][..],
        &["onion"][..],
        &["unlearn"][..],
        &["block"][..],
    ] {
        let mut args = cmd.to_vec();
        args.extend(["--backend", "candle"]);
        fails_with(&args, "--features candle");
    }
}

/// Bad backend flags: an unknown backend, a device for the native backend, a bad device or
/// dtype — one line, exit 2.
#[test]
fn bad_backend_flags_are_one_line() {
    fails_with(&["train", "--backend", "torch"], "backend");
    fails_with(&["train", "--device", "cuda"], "native backend");
    if cfg!(feature = "candle") {
        fails_with(
            &["train", "--backend", "candle", "--device", "tpu"],
            "device",
        );
        fails_with(&["train", "--backend", "candle", "--dtype", "f16"], "dtype");
    }
}

/// The `backend` sweep key of `audit` and `unlearn`: a grid over native and candle gives
/// records whose outputs agree (to the tolerances of the commands' tests above: 1e-9 for the
/// audit, 1e-6 for unlearning) and whose params differ only by the backend, which a native
/// record leaves out. Mutation checked: dropping the key's line in `apply_audit` refuses
/// the sweep (unknown key).
#[cfg(feature = "candle")]
#[test]
fn audit_and_unlearn_sweeps_take_the_backend_key() {
    let base = std::env::temp_dir().join(format!("lbounds-candle-sweep-{}", std::process::id()));
    let p = |x: &std::path::Path| x.to_str().unwrap().to_string();
    for (name, grid, tol) in [
        (
            "audit",
            "runs = 10\nepochs = 2\nepsilon = 1.0\nbackend = [\"native\", \"candle:cpu\"]\n",
            1e-9,
        ),
        (
            "unlearn",
            "models = 4\nrecords = 700\nepochs = 10\nbackend = [\"native\", \"candle\"]\n",
            1e-6,
        ),
    ] {
        let dir = base.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("sweep.toml");
        let text = format!(
            "name = \"{name}\"\nexperiment = \"{name}\"\nseed = 1\nreplicates = 1\n[grid]\n{grid}"
        );
        std::fs::write(&cfg, text).unwrap();
        ok(&["sweep", "run", &p(&cfg), "--out", &p(&dir.join("out"))]);
        let records = std::fs::read_to_string(dir.join("out").join("records.jsonl")).unwrap();
        let r: Vec<Value> = records
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(r.len(), 2, "{name}: {records}");
        let (native, candle) = if r[0]["params"].to_string().contains("candle") {
            (&r[1], &r[0])
        } else {
            (&r[0], &r[1])
        };
        assert!(candle["params"].to_string().contains("candle"), "{candle}");
        assert_same_numbers(&native["output"], &candle["output"], tol, name);
    }
    let _ = std::fs::remove_dir_all(&base);
}
