//! Cross-check of the RDP and PLD accountants and of the analytic Gaussian calibration
//! against Google's dp-accounting 0.6.0.
//!
//! Fixtures: `tests/fixtures/dp_accounting/*.json`, written by
//! `scripts/dp_accounting_golden.py` (dp-accounting in a virtual environment outside the
//! repository). Grid: q ∈ {0.001, 0.004267, 0.05, 1}, σ ∈ {0.6, 1.1, 3}, T ∈ {1, 100, 14060},
//! δ ∈ {1e-5, 1e-10} (72 queries), both accountants with dp-accounting's defaults.

use lbounds::privacy::accounting::{pld, rdp};
use lbounds::privacy::mechanisms::analytic_gaussian::{calibrate_sigma, gaussian_delta};
use serde_json::Value;

/// RDP: the same orders (DEFAULT_RDP_ORDERS), the same integer-order series and the same
/// conversion, so at integer orders only the order of floating-point operations differs
/// (ln C(α, i) by recurrence here, by `gammaln` there). Observed before fractional orders
/// became exact: 6.9e-13 relative.
const RDP_REL_TOL: f64 = 1e-9;

/// PLD: both are pessimistic connect-the-dots discretisations at interval 1e-4, but they
/// truncate tails and choose composition windows differently, and for q = 1 lbounds composes
/// T Gaussian steps exactly (one step with σ/√T) where dp-accounting convolves T discretised
/// steps. Observed: at most 1.0e-3 relative, the largest at q = 1, T = 14060, where
/// lbounds equals the exact Gaussian answer to 2e-9 and dp-accounting is 1e-3 above it.
const PLD_REL_TOL: f64 = 2e-3;

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/dp_accounting/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture present"))
        .expect("valid JSON")
}

struct Case {
    q: f64,
    sigma: f64,
    steps: u64,
    delta: f64,
    rdp: f64,
    pld: f64,
}

impl Case {
    /// Asserts that lbounds' `e` is within relative `tol` of dp-accounting's `want` for this
    /// query; returns the relative deviation.
    fn check(&self, e: f64, want: f64, tol: f64) -> f64 {
        let rel = (e - want).abs() / want;
        assert!(
            rel <= tol,
            "q={} σ={} T={} δ={}: lbounds {e}, dp-accounting {want}",
            self.q,
            self.sigma,
            self.steps,
            self.delta,
        );
        rel
    }
}

fn cases() -> Vec<Case> {
    fixture("accountants.json")["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| Case {
            q: c["q"].as_f64().unwrap(),
            sigma: c["sigma"].as_f64().unwrap(),
            steps: c["steps"].as_u64().unwrap(),
            delta: c["delta"].as_f64().unwrap(),
            rdp: c["rdp"].as_f64().unwrap(),
            pld: c["pld"].as_f64().unwrap(),
        })
        .collect()
}

/// dp-accounting 0.6 sums |C(α, i)| in the fractional-order series (an upper bound on A_α);
/// lbounds sums the exact signed series (rdp module docs). So lbounds' ε is never above
/// dp-accounting's, and where lbounds' best order is an integer the two are equal: there
/// both compute the same RDP, dp-accounting's minimum is at most its value at that order,
/// and lbounds' minimum is at most dp-accounting's (its fractional values are smaller).
#[test]
fn rdp_matches_dp_accounting() {
    let cases = cases();
    assert_eq!(cases.len(), 72);
    let orders = rdp::default_orders();
    let (mut worst, mut equal, mut tighter) = (0.0f64, 0, 0);
    for c in &cases {
        let one = rdp::subsampled_gaussian_rdp_vec(c.q, c.sigma, &orders).unwrap();
        let total: Vec<f64> = one.iter().map(|r| r * c.steps as f64).collect();
        let (e, best) = rdp::rdp_to_epsilon(&orders, &total, c.delta).unwrap();
        assert_eq!(e, rdp::epsilon(c.q, c.sigma, c.steps, c.delta).unwrap());
        // Never looser than dp-accounting, and still an upper bound on the PLD ε.
        assert!(e <= c.rdp * (1.0 + RDP_REL_TOL), "{e} > {}", c.rdp);
        assert!(e >= c.pld, "{e} < PLD {}", c.pld);
        if best.fract() == 0.0 {
            worst = worst.max(c.check(e, c.rdp, RDP_REL_TOL));
            equal += 1;
        } else {
            tighter += 1;
        }
    }
    eprintln!(
        "RDP: {equal} queries at an integer order (worst relative deviation {worst:.2e}), \
         {tighter} at a fractional order (lbounds <= dp-accounting)"
    );
    // Both kinds occur on this grid, so both branches are exercised.
    assert!(equal > 0 && tighter > 0);
}

#[test]
fn pld_matches_dp_accounting_and_never_exceeds_rdp() {
    let mut worst = 0.0f64;
    for c in &cases() {
        let e = pld::epsilon(c.q, c.sigma, c.steps, c.delta).unwrap();
        worst = worst.max(c.check(e, c.pld, PLD_REL_TOL));
        // RDP ε is never below the PLD ε of the same query.
        let r = rdp::epsilon(c.q, c.sigma, c.steps, c.delta).unwrap();
        assert!(e <= r, "PLD {e} above RDP {r}");
        // Without subsampling the exact answer is known (one Gaussian with μ = √T/σ); the
        // PLD answer is a pessimistic upper bound on it.
        if c.q == 1.0 {
            let mu = (c.steps as f64).sqrt() / c.sigma;
            let (mut lo, mut hi) = (0.0, 1e6);
            for _ in 0..200 {
                let m = 0.5 * (lo + hi);
                if gaussian_delta(m, mu) > c.delta {
                    lo = m;
                } else {
                    hi = m;
                }
            }
            assert!(e >= lo && e - hi <= 1e-6 * hi, "PLD {e} vs exact {hi}");
        }
    }
    eprintln!("PLD: worst relative deviation {worst:.2e}");
}

#[test]
fn analytic_gaussian_matches_dp_accounting() {
    // dp-accounting's GaussianPrivacyLoss.from_privacy_guarantee bisects the same condition
    // (Balle & Wang 2018, Thm 8) to its own tolerance (its δ at σ is within 2e-7 relative of
    // the target), so the σ agree to 1e-6 relative and ours always satisfies δ(σ) ≤ δ.
    for c in fixture("analytic_gaussian.json")["cases"]
        .as_array()
        .unwrap()
    {
        let (eps, delta, want) = (
            c["epsilon"].as_f64().unwrap(),
            c["delta"].as_f64().unwrap(),
            c["sigma"].as_f64().unwrap(),
        );
        let s = calibrate_sigma(eps, delta, 1.0).unwrap();
        assert!(
            (s - want).abs() <= 1e-6 * want,
            "ε={eps} δ={delta}: {s} vs {want}"
        );
        assert!(gaussian_delta(eps, 1.0 / s) <= delta);
    }
}
