//! B1 — (f, κ)-robustness: no aggregation rule beats κ = f/(n − 2f).
//!
//! A rule F is (f, κ)-robust if for every input x₁…xₙ and every set S of n − f indices,
//! ‖F(x) − x̄_S‖² ≤ κ · (1/|S|) Σ_{i∈S} ‖xᵢ − x̄_S‖². Every rule has κ ≥ f/(n − 2f): take
//! n − 2f zeros, f copies of +u and f copies of −u; either ±u group may be the Byzantine one,
//! and adding the two constraints gives κ ≥ p/(1 − p) with p = f/(n − f). The coordinate-wise
//! median outputs 0 on this instance and attains the bound there.
//!
//! Hypotheses: 0 ≤ 2f < n (at 2f ≥ n no finite κ exists).
//!
//! Proof sketch: `proofs/allouah2023fixing.md`.
//!
//! # References
//! Y. Allouah, S. Farhadkhani, R. Guerraoui, N. Gupta, R. Pinot, J. Stephan, "Fixing by
//! Mixing: A Recipe for Optimal Byzantine ML under Heterogeneity", AISTATS 2023, PMLR
//! 206:1232–1300, arXiv 2302.01772.

use crate::{Error, Result};

/// The smallest κ any (f, κ)-robust rule can have: f/(n − 2f).
///
/// # Errors
/// [`Error::InvalidParameter`] for n = 0; [`Error::OutsideHypotheses`] when 2f ≥ n.
pub fn kappa_lower_bound(n: usize, f: usize) -> Result<f64> {
    if n == 0 {
        return Err(Error::invalid("n", 0, "need at least one input"));
    }
    if 2 * f >= n {
        return Err(Error::OutsideHypotheses {
            bound: "B1 (allouah2023fixing)".into(),
            reason: format!(
                "f = {f} with n = {n}: needs 2f < n; no rule is (f, κ)-robust for any finite κ"
            ),
        });
    }
    Ok(f as f64 / (n - 2 * f) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // By hand: 10/(50 − 20) = 1/3; 0/(n) = 0; 2/(10 − 4) = 1/3; 4/(9 − 8) = 4.
        assert_eq!(kappa_lower_bound(50, 10).unwrap(), 1.0 / 3.0);
        assert_eq!(kappa_lower_bound(7, 0).unwrap(), 0.0);
        assert_eq!(kappa_lower_bound(10, 2).unwrap(), 1.0 / 3.0);
        assert_eq!(kappa_lower_bound(9, 4).unwrap(), 4.0);
        assert!(kappa_lower_bound(10, 5).is_err());
        assert!(kappa_lower_bound(0, 0).is_err());
    }
}
