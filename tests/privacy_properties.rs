//! Property tests of the privacy accountants, calibration and DP-SGD clipping (proptest,
//! 256 cases each, fixed seed).
//!
//! - RDP ε decreases in σ and increases in q and T;
//! - calibration round-trips: ε(σ*) ≤ target and ε(σ*·(1 − 1e-4)) > target;
//! - the PLD ε never exceeds the RDP ε of the same query (documented slack: none; PLD is
//!   the tighter of two upper bounds);
//! - DP-SGD's clipping never leaves a per-example gradient longer than C.

use lbounds::privacy::accounting::calibrate::noise_multiplier;
use lbounds::privacy::accounting::{epsilon, pld, rdp, AccountantKind};
use lbounds::privacy::sgd::clip_in_place;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

fn runner(seed: u8) -> TestRunner {
    TestRunner::new_with_rng(
        Config {
            cases: 256,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]),
    )
}

#[test]
fn rdp_epsilon_is_monotone() {
    let strat = (1e-4f64..1.0, 0.4f64..5.0, 1u64..5000, 1.01f64..2.0);
    runner(1)
        .run(&strat, |(q, s, t, k)| {
            let e = rdp::epsilon(q, s, t, 1e-5).unwrap();
            // Larger σ: smaller or equal ε.
            prop_assert!(rdp::epsilon(q, s * k, t, 1e-5).unwrap() <= e);
            // Larger q, more steps: larger or equal ε.
            prop_assert!(rdp::epsilon((q * k).min(1.0), s, t, 1e-5).unwrap() >= e);
            prop_assert!(rdp::epsilon(q, s, t + 1 + t / 2, 1e-5).unwrap() >= e);
            Ok(())
        })
        .unwrap();
}

#[test]
fn rdp_calibration_round_trips() {
    let strat = (1e-3f64..1.0, 1u64..2000, 0.1f64..10.0);
    runner(2)
        .run(&strat, |(q, t, target)| {
            let s = noise_multiplier(AccountantKind::Rdp, q, t, target, 1e-5).unwrap();
            prop_assert!(epsilon(AccountantKind::Rdp, q, s, t, 1e-5).unwrap() <= target);
            let below = epsilon(AccountantKind::Rdp, q, s * (1.0 - 1e-4), t, 1e-5).unwrap();
            prop_assert!(below > target, "σ {s} not tight: {below} <= {target}");
            Ok(())
        })
        .unwrap();
}

#[test]
fn pld_never_exceeds_rdp() {
    // Ranges where one PLD evaluation takes milliseconds.
    let strat = (
        1e-3f64..0.02,
        1.0f64..5.0,
        1u64..100,
        prop::sample::select(vec![1e-5, 1e-8]),
    );
    runner(3)
        .run(&strat, |(q, s, t, d)| {
            let p = pld::epsilon(q, s, t, d).unwrap();
            let r = rdp::epsilon(q, s, t, d).unwrap();
            prop_assert!(p.is_finite() && p <= r, "PLD {p} RDP {r}");
            Ok(())
        })
        .unwrap();
}

#[test]
fn clipped_norms_never_exceed_c() {
    let strat = (
        prop::collection::vec(-1e6f64..1e6, 1..50),
        prop::sample::select(vec![1e-8, 1e-3, 0.7, 1.0, 3.3, 1e4]),
    );
    runner(4)
        .run(&strat, |(mut g, c)| {
            clip_in_place(&mut g, c);
            let n = g.iter().map(|v| v * v).sum::<f64>().sqrt();
            prop_assert!(n <= c, "norm {n} > {c}");
            Ok(())
        })
        .unwrap();
}
