//! Property tests of the privacy accountants, calibration, the analytic Gaussian and DP-SGD
//! clipping (proptest, 256 cases each, fixed seed). Each test's doc names one mutation of the
//! code that makes it fail; each was applied, seen to fail, and reverted.

use lbounds::bounds::{self, hard};
use lbounds::privacy::accounting::calibrate::noise_multiplier;
use lbounds::privacy::accounting::pld::{subsampled_gaussian_delta, Direction};
use lbounds::privacy::accounting::{epsilon, pld, rdp, AccountantKind};
use lbounds::privacy::mechanisms::analytic_gaussian::calibrate_sigma;
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

/// RDP ε decreases in σ and increases in q and T.
///
/// Mutation that fails it: composition dividing instead of multiplying
/// (`.map(|r| r * t)` → `.map(|r| r / t)` in `rdp::epsilon`).
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

/// Calibration round-trips: ε(σ*) ≤ target and ε(σ*·(1 − 1e-4)) > target.
///
/// Mutation that fails it: `noise_multiplier` returning the lower end of its final bracket
/// (`Ok(hi)` → `Ok(lo)`), which is on the wrong side of the target.
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

/// The exact ε of ONE step of the subsampled Gaussian at δ, the larger over the add and
/// remove directions, by bisection on the closed-form δ(ε) of the PLD module (decreasing
/// in ε). T ≥ 1 compositions are at least as revealing as one step (post-processing drops the
/// other T − 1 outputs), so this is a lower bound on the true ε of T steps.
fn one_step_exact_epsilon(q: f64, s: f64, d: f64) -> f64 {
    [Direction::Remove, Direction::Add]
        .into_iter()
        .map(|dir| {
            let (mut lo, mut hi) = (0.0f64, 50.0f64);
            if subsampled_gaussian_delta(0.0, s, q, dir) <= d {
                return 0.0;
            }
            for _ in 0..200 {
                let m = 0.5 * (lo + hi);
                if subsampled_gaussian_delta(m, s, q, dir) > d {
                    lo = m;
                } else {
                    hi = m;
                }
            }
            lo
        })
        .fold(0.0, f64::max)
}

/// The PLD ε is sandwiched: never above the RDP ε of the same query (both are upper bounds,
/// PLD the tighter), never below the exact one-step ε (a lower bound on the true ε, which
/// the pessimistic PLD bounds from above; tolerance 1e-9 relative for the bisection).
///
/// Mutation that fails it: taking the smaller of the two directions
/// (`.max(a.epsilon_for_delta(delta))` → `.min(…)` in `pld::epsilon_for_events`); an ε of
/// 0, or a PLD that composes one step too few, fails the lower side as well.
#[test]
fn pld_is_between_one_step_exact_and_rdp() {
    // Ranges where one PLD evaluation takes milliseconds.
    let strat = (
        1e-3f64..0.2,
        0.5f64..5.0,
        1u64..100,
        prop::sample::select(vec![1e-5, 1e-8]),
    );
    runner(3)
        .run(&strat, |(q, s, t, d)| {
            let p = pld::epsilon(q, s, t, d).unwrap();
            let r = rdp::epsilon(q, s, t, d).unwrap();
            let lo = one_step_exact_epsilon(q, s, d);
            prop_assert!(p.is_finite() && p <= r, "PLD {p} RDP {r}");
            prop_assert!(p >= lo * (1.0 - 1e-9), "PLD {p} below one-step exact {lo}");
            Ok(())
        })
        .unwrap();
}

/// The analytic Gaussian is (ε, δ)-DP and tight, seen through P1's two-point argument
/// (Dwork & Roth 2014; `hard::dp_two_point`): on D0 = n zeros and D1 = one 1 and n − 1
/// zeros (means 0 and 1/n, the replace-one sensitivity), the mean plus N(0, σ²) with σ from
/// `calibrate_sigma(ε, δ, 1/n)` is tested by "say D1 iff the output exceeds t". (ε, δ)-DP
/// gives, for every t, Pr₁[say D1] ≤ e^ε·Pr₀[say D1] + δ, i.e. e^ε·α + β ≥ 1 − δ (Kairouz,
/// Oh & Viswanath 2015; for the Gaussian the other direction is the mirror image), and for the Gaussian the infimum over t is attained at t* = μ/2 + ε/μ (units of
/// σ, μ = (1/n)/σ) with equality exactly when σ is the smallest valid one (Balle & Wang
/// 2018, Thm 8). Checked on a grid of 2001 thresholds (every one must satisfy the
/// inequality up to δ·1e-8 + 1e-14: 1 − (e^ε α + β) is a difference of numbers near 1, and
/// this Φ (statrs) differs from the library's (libm erfc) by ~1e-9 relative) and at t*,
/// where 1 − (e^ε α + β) must lie in [δ(1 − 1e-3), δ(1 + 1e-8) + 1e-14] (tight).
/// The failure probability of the midpoint test is then checked against P1's bound
/// (1 − δ)/(1 + e^ε).
///
/// Mutation that fails it: `calibrate_sigma` returning 1% less noise (`Ok(hi * sensitivity)`
/// → `Ok(0.99 * hi * sensitivity)`): the grid check fails.
#[test]
fn analytic_gaussian_is_tight_against_the_two_point_test() {
    let strat = (5usize..2000, 0.05f64..5.0, 1e-10f64..1e-2);
    runner(5)
        .run(&strat, |(n, eps, delta)| {
            let (d0, d1) = hard::dp_two_point(n, 1).unwrap();
            let mean = |d: &[f64]| d.iter().sum::<f64>() / n as f64;
            let shift = mean(&d1) - mean(&d0);
            let sigma = calibrate_sigma(eps, delta, shift).unwrap();
            let mu = shift / sigma;
            let ee = eps.exp();
            // α(t) = Pr₀[Z > t], β(t) = Pr₁[Z + μ ≤ t], Z ~ N(0, 1).
            let lhs = |t: f64| ee * bounds::phi(-t) + bounds::phi(t - mu);
            for k in 0..=2000 {
                let t = -10.0 + (20.0 + mu) * f64::from(k) / 2000.0;
                prop_assert!(
                    lhs(t) >= 1.0 - delta * (1.0 + 1e-8) - 1e-14,
                    "t={t}: {} < 1 − δ",
                    lhs(t)
                );
            }
            let gap = 1.0 - lhs(mu / 2.0 + eps / mu);
            prop_assert!(
                gap <= delta * (1.0 + 1e-8) + 1e-14 && gap >= delta * (1.0 - 1e-3),
                "not tight: 1 − (e^ε α + β) = {gap} at t*, δ = {delta}"
            );
            let fail = bounds::phi(-mu / 2.0);
            let lb = bounds::dwork2014algorithmic::dp_two_point_min_fail_prob(1, eps, delta);
            prop_assert!(fail >= lb, "failure {fail} < P1 bound {lb}");
            Ok(())
        })
        .unwrap();
}

/// DP-SGD's clipping never leaves a per-example gradient longer than C.
///
/// Mutation that fails it: dropping the re-check after scaling by C/‖g‖ (rounding leaves
/// about half of the clipped vectors an ulp above C).
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

/// Scores for the unlearning ε_i properties: small integers so that ties occur (a tie is where
/// a threshold test's bookkeeping is easiest to get wrong), 1 to 12 models per side.
fn unlearning_scores() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
    let side = || prop::collection::vec((0u8..8).prop_map(f64::from), 1..12);
    (side(), side())
}

/// The plug-in ε_i (the unlearning competition's `compute_epsilon_s` over every threshold,
/// Triantafillou et al. 2024, arXiv 2406.09073) depends on the scores only through their ranks:
/// it is unchanged, exactly, by a strictly increasing map of the scores. This is what makes the
/// ideal F of [`plugin_null_quality`] distribution-free (the argument, with the null values
/// it gives: proofs/triantafillou2024are.md).
///
/// Mutation that fails it: grouping ties in `threshold_rates` with a tolerance
/// (`pooled[i].0 == t` → `pooled[i].0 - t <= 1e-9`): the map s ↦ 1e-12·s + 3 squeezes distinct
/// scores within it and merges them.
///
/// [`plugin_null_quality`]: lbounds::privacy::audit::unlearning::plugin_null_quality
#[test]
fn unlearning_plugin_epsilon_depends_only_on_ranks() {
    use lbounds::privacy::audit::unlearning::plugin_epsilon;
    let maps: [fn(f64) -> f64; 3] = [
        |s| 1e-12 * s + 3.0,
        |s| (0.9 * s).exp(),
        |s| s * s * s - 50.0,
    ];
    runner(5)
        .run(&unlearning_scores(), |(u, r)| {
            let e = plugin_epsilon(&u, &r, 1e-5).unwrap();
            for g in maps {
                let (gu, gr): (Vec<f64>, Vec<f64>) = (
                    u.iter().map(|&s| g(s)).collect(),
                    r.iter().map(|&s| g(s)).collect(),
                );
                prop_assert_eq!(
                    plugin_epsilon(&gu, &gr, 1e-5).unwrap().to_bits(),
                    e.to_bits()
                );
            }
            Ok(())
        })
        .unwrap();
}

/// The plug-in ε_i cannot tell which side is "unlearned": swapping the two score sets leaves it
/// unchanged, because swapping maps each threshold test to the mirror of another and
/// `compute_epsilon_s` is symmetric in (FPR, FNR) (proof: proofs/triantafillou2024are.md).
///
/// Mutation that fails it: `plugin_epsilon` without the mirror tests ("unlearned iff
/// score < t"), which sees separation in one direction only.
#[test]
fn unlearning_plugin_epsilon_is_symmetric_in_the_two_sides() {
    use lbounds::privacy::audit::unlearning::plugin_epsilon;
    runner(6)
        .run(&unlearning_scores(), |(u, r)| {
            let a = plugin_epsilon(&u, &r, 1e-5).unwrap();
            let b = plugin_epsilon(&r, &u, 1e-5).unwrap();
            // Equal up to rounding, not bit for bit: a mirrored rate is computed as 1 − k/N,
            // the swapped side's as (N − k)/N, an ulp or two apart; 1e-12 relative is far
            // below the smallest gap between two attainable ε (rates are multiples of 1/N, N ≤ 11).
            prop_assert!(
                a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs()),
                "{a} vs {b}"
            );
            Ok(())
        })
        .unwrap();
}
