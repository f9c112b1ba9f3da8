//! Inverse accounting: the smallest noise multiplier σ that reaches a target (ε, δ) for a
//! sampling rate q and T steps.
//!
//! ε(σ) decreases in σ. The search brackets the root geometrically (σ doubled until
//! ε(σ) ≤ target, halved until ε(σ) > target), then bisects in log σ; the answer is the upper
//! end of the final bracket, an σ **at which the accountant's ε was evaluated and found ≤ the
//! target**. So the returned σ is never on the wrong side of the target, even where
//! discretisation makes the PLD's ε(σ) not exactly monotone. The PLD search starts from the
//! RDP answer (RDP's ε is never below the PLD's, so that σ already meets the target).

use super::{epsilon, AccountantKind};
use crate::privacy::{check_delta, check_epsilon, check_sampling_rate, check_steps};
use crate::{Error, Result};

/// Relative width of the final bracket.
pub const RELATIVE_TOLERANCE: f64 = 1e-6;

/// The smallest σ (to relative [`RELATIVE_TOLERANCE`], rounded up) with ε(q, σ, T, δ) ≤ ε.
///
/// # Errors
/// [`Error::InvalidParameter`] for ε ≤ 0, δ ∉ (0, 1), q ∉ (0, 1] or T = 0; also when no σ up
/// to 10⁶ reaches the target.
pub fn noise_multiplier(
    kind: AccountantKind,
    q: f64,
    steps: u64,
    target_eps: f64,
    delta: f64,
) -> Result<f64> {
    check_epsilon(target_eps)?;
    check_delta(delta)?;
    check_sampling_rate(q)?;
    check_steps(steps)?;
    let eps_at = |s: f64| epsilon(kind, q, s, steps, delta);
    let ok = |s: f64| -> Result<bool> { Ok(eps_at(s)? <= target_eps) };
    let (mut lo, mut hi) = match kind {
        AccountantKind::Pld => {
            let r = noise_multiplier(AccountantKind::Rdp, q, steps, target_eps, delta)?;
            (r * 0.5, r)
        }
        AccountantKind::Rdp => (0.5, 1.0),
    };
    while !ok(hi)? {
        lo = hi;
        hi *= 2.0;
        if hi > 1e6 {
            return Err(Error::invalid(
                "epsilon",
                target_eps,
                "no noise multiplier up to 1e6 reaches this target",
            ));
        }
    }
    while ok(lo)? {
        hi = lo;
        lo *= 0.5;
        if lo < 1e-6 {
            return Ok(hi);
        }
    }
    // Invariant: ε(hi) ≤ target < ε(lo).
    while hi - lo > RELATIVE_TOLERANCE * hi {
        let mid = (lo * hi).sqrt();
        if ok(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_never_exceeds_target() {
        for &(q, t, e) in &[(0.01, 1000u64, 1.0), (1.0, 1, 2.0), (0.1, 10, 0.5)] {
            let s = noise_multiplier(AccountantKind::Rdp, q, t, e, 1e-5).unwrap();
            let got = epsilon(AccountantKind::Rdp, q, s, t, 1e-5).unwrap();
            assert!(got <= e, "{got} > {e}");
            // A slightly smaller σ misses the target: the answer is tight.
            let below = epsilon(AccountantKind::Rdp, q, s * (1.0 - 1e-4), t, 1e-5).unwrap();
            assert!(below > e, "{below} <= {e}");
        }
    }

    #[test]
    fn pld_calibration_is_below_rdp() {
        let r = noise_multiplier(AccountantKind::Rdp, 0.01, 100, 1.0, 1e-5).unwrap();
        let p = noise_multiplier(AccountantKind::Pld, 0.01, 100, 1.0, 1e-5).unwrap();
        assert!(p <= r, "{p} {r}");
        assert!(epsilon(AccountantKind::Pld, 0.01, p, 100, 1e-5).unwrap() <= 1.0);
    }

    #[test]
    fn bad_targets_are_named() {
        let e = noise_multiplier(AccountantKind::Rdp, 0.5, 1, 0.0, 1e-5).unwrap_err();
        assert!(e.to_string().contains("`epsilon`"));
        assert!(noise_multiplier(AccountantKind::Rdp, 1.5, 1, 1.0, 1e-5).is_err());
    }
}
