//! Standard normal CDF and its logarithm, accurate in the far tails.
//!
//! Φ and its complement come from `libm::erfc` (FreeBSD msun, about 1 ulp), which keeps relative accuracy until it
//! underflows (below about 1e-308, z ≈ −37.5); below z = −30 the logarithm uses the
//! asymptotic expansion ln Φ(z) = −z²/2 − ln(−z) − ½ln(2π) + ln(1 − z⁻² + 3z⁻⁴ − 15z⁻⁶ +
//! 105z⁻⁸) (Abramowitz & Stegun 26.2.12), whose truncation error there is below 1e-15.

use libm::erfc;
use std::f64::consts::{PI, SQRT_2};

/// Φ(z).
pub(crate) fn cdf(z: f64) -> f64 {
    0.5 * erfc(-z / SQRT_2)
}

/// 1 − Φ(z), without cancellation for large z.
pub(crate) fn sf(z: f64) -> f64 {
    cdf(-z)
}

/// ln Φ(z), finite for every finite z.
pub(crate) fn ln_cdf(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    if z > 0.0 {
        (-sf(z)).ln_1p()
    } else if z > -30.0 {
        cdf(z).ln()
    } else if z == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else {
        let r = 1.0 / (z * z);
        let series = 1.0 - r * (1.0 - r * (3.0 - r * (15.0 - 105.0 * r)));
        -0.5 * z * z - (-z).ln() - 0.5 * (2.0 * PI).ln() + series.ln()
    }
}

/// ln erfc(x) = ln 2 + ln Φ(−x√2).
pub(crate) fn ln_erfc(x: f64) -> f64 {
    std::f64::consts::LN_2 + ln_cdf(-x * SQRT_2)
}

/// ln(eᵃ + eᵇ); +∞ when either is +∞ (not ∞ − ∞ = NaN), NaN when either is NaN.
pub(crate) fn log_add(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    let (mn, mx) = if a < b { (a, b) } else { (b, a) };
    if mn == f64::NEG_INFINITY || mx == f64::INFINITY {
        return mx;
    }
    mx + (mn - mx).exp().ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // Φ(0) = 1/2; Φ(−1.959963984540054) = 0.025 (the two-sided 95% quantile).
        assert_eq!(cdf(0.0), 0.5);
        assert!((cdf(-1.959963984540054) - 0.025).abs() < 1e-15);
        // ln Φ(−30) from the erfc branch vs the asymptotic branch just below: continuous.
        let a = ln_cdf(-30.0);
        let b = ln_cdf(-30.000000001);
        assert!((a - b).abs() < 1e-6, "{a} {b}");
        // ln Φ(−40) = −804.6084420137538 (mpmath: log(ncdf(-40))).
        assert!((ln_cdf(-40.0) + 804.608_442_013_753_8).abs() < 1e-9);
        // ln Φ(10) = −Φc(10)(1 + O(1e-24)) = −7.61985302416047e-24 (scipy norm.logcdf).
        assert!((ln_cdf(10.0) + 7.619_853_024_160_47e-24).abs() < 1e-36);
        assert_eq!(log_add(f64::NEG_INFINITY, 1.0), 1.0);
        assert!((log_add(0.0, 0.0) - std::f64::consts::LN_2).abs() < 1e-15);
        assert_eq!(log_add(f64::INFINITY, f64::INFINITY), f64::INFINITY);
        assert!(log_add(f64::NAN, f64::NEG_INFINITY).is_nan());
    }
}
