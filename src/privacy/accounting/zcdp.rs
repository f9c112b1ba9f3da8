//! Zero-concentrated DP: ρ-zCDP composes by adding ρ.
//!
//! - Gaussian noise N(0, σ²) on a value of ℓ2 sensitivity Δ is Δ²/(2σ²)-zCDP (Bun & Steinke
//!   2016, Prop. 1.6);
//! - ε-DP implies ε²/2-zCDP (Prop. 1.4);
//! - ρ-zCDP implies (ρ + 2√(ρ ln(1/δ)), δ)-DP (Prop. 1.3), and the tighter conversion through
//!   RDP of order α, D_α ≤ αρ, with the bound of Canonne, Kamath & Steinke 2020 (Prop. 12),
//!   minimised over α ([`epsilon_tight`]).
//!
//! # References
//! - Bun & Steinke, "Concentrated Differential Privacy: Simplifications, Extensions, and
//!   Lower Bounds", TCC 2016, arXiv 1605.02065.
//! - Canonne, Kamath & Steinke, "The Discrete Gaussian for Differential Privacy", NeurIPS
//!   2020, arXiv 2004.00010.

use crate::error::{check_non_negative, check_positive};
use crate::privacy::check_delta;
use crate::privacy::{next_up, round_up_or_zero};
use crate::Result;

/// ρ of the Gaussian mechanism: Δ²/(2σ²) (Bun & Steinke 2016, Prop. 1.6).
///
/// # Errors
/// [`crate::Error::InvalidParameter`] for Δ or σ not finite and positive.
pub fn gaussian_rho(sensitivity: f64, sigma: f64) -> Result<f64> {
    check_positive("sensitivity", sensitivity)?;
    check_positive("sigma", sigma)?;
    Ok(sensitivity * sensitivity / (2.0 * sigma * sigma))
}

/// ρ implied by pure ε-DP: ε²/2 (Bun & Steinke 2016, Prop. 1.4).
///
/// # Errors
/// [`crate::Error::InvalidParameter`] for ε < 0 or not finite.
pub fn pure_to_rho(epsilon: f64) -> Result<f64> {
    check_non_negative("epsilon", epsilon)?;
    Ok(epsilon * epsilon / 2.0)
}

/// ε = ρ + 2√(ρ ln(1/δ)) (Bun & Steinke 2016, Prop. 1.3), rounded up by one ulp. ρ = +∞
/// (a composition whose ρ passes f64::MAX: ε per run beyond ~10¹⁵⁴) gives ε = +∞, the
/// vacuous guarantee, rather than an error.
///
/// # Errors
/// [`crate::Error::InvalidParameter`] for ρ < 0 or NaN, or δ ∉ (0, 1).
pub fn epsilon(rho: f64, delta: f64) -> Result<f64> {
    check_delta(delta)?;
    if rho == f64::INFINITY {
        return Ok(f64::INFINITY);
    }
    check_non_negative("rho", rho)?;
    let e = rho + 2.0 * (rho * (1.0 / delta).ln()).sqrt();
    Ok(round_up_or_zero(e))
}

/// ε from ρ through RDP D_α = αρ and the conversion of Canonne, Kamath & Steinke (2020,
/// Prop. 12): min over α > 1 of αρ + ln(1 − 1/α) − (ln δ + ln α)/(α − 1), found by golden
/// section on ln(α − 1) (the objective is unimodal there) and never larger than
/// [`epsilon`].
///
/// # Errors
/// As [`epsilon`].
pub fn epsilon_tight(rho: f64, delta: f64) -> Result<f64> {
    let basic = epsilon(rho, delta)?;
    if rho == 0.0 || basic == f64::INFINITY {
        return Ok(basic);
    }
    let f = |la: f64| {
        let a = 1.0 + la.exp();
        a * rho + (-1.0 / a).ln_1p() - ((delta).ln() + a.ln()) / (a - 1.0)
    };
    let (mut lo, mut hi) = (-10.0f64, 20.0f64);
    let g = 0.5 * (5f64.sqrt() - 1.0);
    for _ in 0..200 {
        let m1 = hi - g * (hi - lo);
        let m2 = lo + g * (hi - lo);
        if f(m1) < f(m2) {
            hi = m2;
        } else {
            lo = m1;
        }
    }
    let e = f(0.5 * (lo + hi)).max(0.0);
    Ok(next_up(e).min(basic))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // σ = Δ = 1: ρ = 1/2.
        assert_eq!(gaussian_rho(1.0, 1.0).unwrap(), 0.5);
        assert_eq!(pure_to_rho(2.0).unwrap(), 2.0);
        // ρ = 0.5, δ = 1e-5: 0.5 + 2√(0.5·11.512925) = 0.5 + 4.798526 = 5.298526.
        let e = epsilon(0.5, 1e-5).unwrap();
        assert!((e - 5.298_526).abs() < 1e-6, "{e}");
        // Composition: ten steps of ρ = 0.05 are ρ = 0.5.
        let ten: f64 = (0..10).map(|_| 0.05).sum();
        assert!((epsilon(ten, 1e-5).unwrap() - e).abs() < 1e-12);
        let t = epsilon_tight(0.5, 1e-5).unwrap();
        assert!(t < e && t > 0.8 * e, "{t} vs {e}");
        assert!(epsilon(-1.0, 1e-5).is_err());
    }

    /// A ρ past f64::MAX (pure ε = 10³⁰⁰ composed: ε²/2 overflows) is no privacy: ε = +∞,
    /// not an error about a parameter the user never gave, and a huge finite ρ gives a
    /// finite ε (the tight search's a·ρ overflows; the basic bound caps it). NaN and
    /// negative ρ, and a bad δ, are still refused. Seen to fail before ρ = +∞ was
    /// accepted (`invalid parameter rho = inf`).
    #[test]
    fn rho_beyond_f64_is_no_privacy() {
        let rho = pure_to_rho(1e300).unwrap();
        assert_eq!(rho, f64::INFINITY);
        assert_eq!(epsilon(rho, 1e-5).unwrap(), f64::INFINITY);
        assert_eq!(epsilon_tight(rho, 1e-5).unwrap(), f64::INFINITY);
        let e = epsilon_tight(1e300, 1e-5).unwrap();
        assert!(e.is_finite() && e >= 1e300, "{e}");
        assert!(epsilon(f64::NAN, 1e-5).is_err());
        assert!(epsilon_tight(-1.0, 1e-5).is_err());
        assert!(epsilon(f64::INFINITY, 0.0).is_err());
    }
}
