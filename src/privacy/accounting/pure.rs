//! Pure and approximate DP composition: basic (sum) and advanced.
//!
//! - Basic composition: k mechanisms that are (ε_i, δ_i)-DP compose to (Σε_i, Σδ_i)-DP
//!   (Dwork, Kenthapadi, McSherry, Mironov & Naor, EUROCRYPT 2006; Dwork & Roth 2014,
//!   Thm 3.16).
//! - Advanced composition: k-fold (ε, δ)-DP is (ε√(2k ln(1/δ')) + kε(e^ε − 1), kδ + δ')-DP
//!   for any δ' > 0 (Dwork, Rothblum & Vadhan, FOCS 2010; Dwork & Roth 2014, Thm 3.20).
//!
//! # References
//! - Dwork & Roth, "The Algorithmic Foundations of Differential Privacy", 2014.
//! - Dwork, Rothblum & Vadhan, "Boosting and Differential Privacy", FOCS 2010.

use crate::error::check_non_negative;
use crate::privacy::check_delta;
use crate::privacy::{next_up, round_up_or_zero};
use crate::{Error, Result};

/// Basic composition of (ε_i, δ_i) pairs: (Σε_i, Σδ_i), ε rounded up by one ulp.
///
/// # Errors
/// [`Error::InvalidParameter`] for a negative or non-finite entry, or δ_i ∉ [0, 1).
pub fn basic(costs: &[(f64, f64)]) -> Result<(f64, f64)> {
    let (mut e, mut d) = (0.0f64, 0.0f64);
    for &(ei, di) in costs {
        check_non_negative("epsilon", ei)?;
        if !(0.0..1.0).contains(&di) {
            return Err(Error::invalid("delta", di, "must be in [0, 1)"));
        }
        e += ei;
        d += di;
    }
    Ok((round_up_or_zero(e), d.min(1.0)))
}

/// Advanced composition of k copies of (ε, δ)-DP with slack δ' (Dwork, Rothblum & Vadhan
/// 2010): returns (ε√(2k ln(1/δ')) + kε(e^ε − 1), kδ + δ').
///
/// # Errors
/// [`Error::InvalidParameter`] for ε < 0, δ ∉ [0, 1), δ' ∉ (0, 1) or k = 0.
pub fn advanced(epsilon: f64, delta: f64, k: u64, delta_slack: f64) -> Result<(f64, f64)> {
    check_non_negative("epsilon", epsilon)?;
    if !(0.0..1.0).contains(&delta) {
        return Err(Error::invalid("delta", delta, "must be in [0, 1)"));
    }
    check_delta(delta_slack)?;
    if k == 0 {
        return Err(Error::invalid("k", k, "must be >= 1"));
    }
    let kf = k as f64;
    let e =
        epsilon * (2.0 * kf * (1.0 / delta_slack).ln()).sqrt() + kf * epsilon * epsilon.exp_m1();
    Ok((next_up(e), (kf * delta + delta_slack).min(1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_sums() {
        // 0.5 + 0.25 + 0.25 = 1 (exact in binary), δ: 1e-6 + 2e-6.
        let (e, d) = basic(&[(0.5, 1e-6), (0.25, 2e-6), (0.25, 0.0)]).unwrap();
        assert_eq!(e, next_up(1f64));
        assert!((d - 3e-6).abs() < 1e-20);
        assert!(basic(&[(-1.0, 0.0)]).is_err());
    }

    #[test]
    fn advanced_known_answer() {
        // k = 100, ε = 0.1, δ' = 1e-5: 0.1·√(200·11.512925) + 100·0.1·(e^0.1 − 1)
        // = 0.1·47.985 + 10·0.1051709 = 4.79853 + 1.05171 = 5.85024.
        let (e, d) = advanced(0.1, 0.0, 100, 1e-5).unwrap();
        assert!((e - 5.850_24).abs() < 1e-4, "{e}");
        assert_eq!(d, 1e-5);
        // Beats basic composition (10) here.
        assert!(e < 10.0);
    }
}
