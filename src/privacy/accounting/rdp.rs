//! Rényi-DP accounting for the Poisson-subsampled Gaussian mechanism.
//!
//! One step of the Gaussian mechanism with noise multiplier σ on a Poisson sample of rate q
//! has RDP of order α equal to ln(A_α)/(α − 1) (Mironov, Talwar & Zhang 2019, Thm 4 and
//! §3.3), where for integer α
//!
//! ```text
//! A_α = Σ_{i=0}^{α} C(α, i)·(1 − q)^{α−i}·q^i·exp((i² − i)/(2σ²)),
//! ```
//!
//! and for fractional α A_α = A₀ + A₁ is the **exact** two-series expansion of their §3.3,
//! split at z₀ = σ²·ln(1/q − 1) + ½, with the signed binomial coefficients C(α, i) (which
//! alternate in sign from i = ⌊α⌋ + 2 on). Positive and negative terms are summed separately
//! in log space and subtracted once; the result carries a rounding-error bound, and where
//! cancellation makes that bound exceed the gain, the unsigned sum Σ|C(α, i)|·… (an upper
//! bound on A_α, what dp-accounting ≥ 0.6 computes) is used instead — see `log_a_frac` for
//! the criterion. Measured on q ∈ {1e-6 … 0.9} × σ ∈ {0.3 … 30} × the default fractional
//! orders: the fallback engages only where the two differ by less than 1e-13 in ln A_α
//! (ln A_α ≈ 0, where neither has more digits). Terms are summed until they drop 30 nats
//! below the total. Example: q = 0.05, σ = 0.6, α = 1.2 gives ln A_α = 0.002635 (checked
//! by quadrature in the tests) where the unsigned sum gives 0.003166; over T = 14 060 steps
//! at δ = 1e-5 this lowers ε from 277.5 to 240.1.
//!
//! **Deviations from dp-accounting:** (1) the exact signed series above, so lbounds' ε is
//! never above dp-accounting's and equal to it where the best order is an integer; (2) it
//! stops after 1000 terms and drops an order whose
//! series has not converged by then (small σ, large q, α near 1), which can make ε jump
//! *down* when q grows; lbounds sums up to 20 000 terms and, if that is still not enough,
//! uses the RDP of the next integer order, a valid upper bound since RDP is non-decreasing
//! in α (Mironov 2017, Prop. 9). With q = 1
//! the RDP is α/(2σ²) (Mironov 2017, Prop. 7). All sums are in log space. RDP composes by
//! addition: T steps cost T times one step.
//!
//! **Never optimistic.** A NaN anywhere is an error ([`Error::NonFinite`]), never a number;
//! σ so small that 2σ² underflows gives ε = +∞ (or an astronomically large finite ε), and
//! σ above 1e100 is evaluated at 1e100 (more noise is post-processing, so that bounds it).
//!
//! The neighbouring relation is add/remove-one; the bound holds in both directions
//! (Mironov, Talwar & Zhang 2019, Thm 5).
//!
//! **Conversion to (ε, δ)** over a grid of orders, with the bound of Canonne, Kamath &
//! Steinke 2020 (Prop. 12 of v4) / Asoodeh et al. 2020 (Eq. 20), the one Google's
//! dp-accounting uses (`compute_epsilon`):
//!
//! ```text
//! ε = min_α  RDP(α) + ln(1 − 1/α) − (ln δ + ln α)/(α − 1),     α > 1.01,
//! ```
//!
//! and ε = 0 when δ² > 1 − e^{−RDP(α)} (a KL/Pinsker-type bound). The default grid is
//! dp-accounting's `DEFAULT_RDP_ORDERS`: 1.1, 1.2, …, 10.9, then 11, …, 63, 128, 256, 512,
//! 1024.
//!
//! # References
//! - Mironov, "Rényi Differential Privacy", CSF 2017, arXiv 1702.07476.
//! - Mironov, Talwar & Zhang, "Rényi Differential Privacy of the Sampled Gaussian
//!   Mechanism", 2019, arXiv 1908.10530.
//! - Balle, Barthe, Gaboardi, Hsu & Sato, "Hypothesis Testing Interpretations and Rényi
//!   Differential Privacy", AISTATS 2020, arXiv 1905.09982 (Thm 21).
//! - Canonne, Kamath & Steinke, "The Discrete Gaussian for Differential Privacy", NeurIPS
//!   2020, arXiv 2004.00010 (Prop. 12).
//! - Asoodeh, Liao, Calmon, Kosut & Sankar, "Three Variants of Differential Privacy:
//!   Lossless Conversion and Applications", IEEE JSAIT 2021, arXiv 2008.06529.

use crate::privacy::normal::{ln_erfc, log_add};
use crate::privacy::{check_delta, check_noise_multiplier, check_sampling_rate, check_steps};
use crate::privacy::{next_up, round_up_or_zero};
use crate::{Error, Result};

/// dp-accounting's default orders: 1 + x/10 for x = 1..99, 11..=63, 128, 256, 512, 1024.
pub fn default_orders() -> Vec<f64> {
    let mut o: Vec<f64> = (1..100).map(|x| 1.0 + x as f64 / 10.0).collect();
    o.extend((11..64).map(f64::from));
    o.extend([128.0, 256.0, 512.0, 1024.0]);
    o
}

/// (x² − x)/(2σ²), the exponent of the Gaussian moment in every term; exactly 0 for x ∈ {0, 1}
/// even when 2σ² underflows to 0 (σ ≲ 1e-154), where the quotient would otherwise be 0/0.
fn quad(x: f64, s2: f64) -> f64 {
    let n = x * x - x;
    if n == 0.0 {
        0.0
    } else {
        n / s2
    }
}

/// ln A_α for integer α ≥ 1 and 0 < q < 1.
fn log_a_int(q: f64, sigma: f64, alpha: u64) -> f64 {
    let (lq, l1q) = (q.ln(), (-q).ln_1p());
    let s2 = 2.0 * sigma * sigma;
    let mut log_a = f64::NEG_INFINITY;
    let mut log_comb = 0.0f64; // ln C(α, 0)
    for i in 0..=alpha {
        let fi = i as f64;
        let term = log_comb + fi * lq + (alpha - i) as f64 * l1q + quad(fi, s2);
        log_a = log_add(log_a, term);
        // ln C(α, i + 1) = ln C(α, i) + ln((α − i)/(i + 1)).
        if i < alpha {
            log_comb += ((alpha - i) as f64 / (fi + 1.0)).ln();
        }
    }
    log_a
}

/// Most terms of the fractional-order series. dp-accounting stops at 1000; for small σ and
/// large q the terms decay like i^{−(1+α)} times a slowly shrinking exponential and need more.
const MAX_FRAC_TERMS: u32 = 20_000;

/// ln A_α of the fractional-order series, both ways.
#[derive(Clone, Copy, Debug)]
struct FracLogA {
    /// The exact signed series (MTZ 2019 §3.3) plus its rounding-error bound, or the
    /// unsigned sum where that is smaller (cancellation, see [`log_a_frac`]).
    value: f64,
    /// Σ |C(α, i)|·…: an upper bound on A_α (dp-accounting ≥ 0.6 reports this one); read
    /// by the known-answer tests.
    #[cfg_attr(not(test), allow(dead_code))]
    unsigned: f64,
}

/// ln A_α for fractional α > 1 and 0 < q < 1 (Mironov, Talwar & Zhang 2019, §3.3; the term
/// order and stopping rule of dp-accounting's `_compute_log_a_frac`). `None` when the series
/// does not converge in [`MAX_FRAC_TERMS`] terms.
///
/// A_α = A₀ + A₁ where, with z₀ = σ²·ln(1/q − 1) + ½ the point where (1 − q)μ₀ = qμ₁,
/// A₀ = Σᵢ C(α, i)·q^i(1 − q)^{α−i}·e^{(i²−i)/(2σ²)}·Φ((z₀ − i)/σ) and A₁ the mirror series
/// in j = α − i on z > z₀. For fractional α the binomial coefficient C(α, i) is negative when
/// i − 1 − ⌊α⌋ is odd and positive, so each series alternates from i = ⌊α⌋ + 2 on. The
/// positive and negative terms are summed separately in log space (P and N) and subtracted
/// once: ln A = ln P + ln(1 − e^{ln N − ln P}).
///
/// **Cancellation.** Each term's logarithm is a sum of components of size up to M_i (the
/// binomial log, i·ln q, (i² − i)/(2σ²), ln erfc), so it carries an absolute error of about
/// 4u·M_i (u = 2⁻⁵³) and each log-add one more u. The relative error of P − N is therefore at
/// most about η = u·Σᵢ tᵢ(4M_i + 2)/(P − N), which is also the absolute error of ln A; the
/// value returned is ln(P − N) + η, rounded outward. When that is not below the unsigned sum
/// ln(P + N) (an upper bound on A_α that needs no subtraction), or N ≥ P, cancellation has
/// eaten the gain and the unsigned sum is returned instead.
fn log_a_frac(q: f64, sigma: f64, alpha: f64) -> Option<FracLogA> {
    let (lq, l1q) = (q.ln(), (-q).ln_1p());
    let s2 = 2.0 * sigma * sigma;
    // ln(1/q − 1) = 0 at q = ½: keep z₀ = ½ even when σ² overflows.
    let lr = (1.0 / q - 1.0).ln();
    let z0 = if lr == 0.0 {
        0.5
    } else {
        sigma * sigma * lr + 0.5
    };
    let rs = std::f64::consts::SQRT_2 * sigma;
    let ln_half = -std::f64::consts::LN_2;
    let floor_alpha = alpha.floor();
    // Log-sums of the positive terms, the negative terms (absolute values), and of the
    // terms weighted by their rounding-error size 4M_i + 2.
    let (mut pos, mut neg, mut err) = (f64::NEG_INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
    let (mut last0, mut last1) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    // ln |C(α, i)| by recurrence: |C(α, i+1)| = |C(α, i)|·|α − i|/(i + 1).
    let mut log_comb = 0.0f64;
    for i in 0..MAX_FRAC_TERMS {
        let fi = f64::from(i);
        let j = alpha - fi;
        let t0 = log_comb + fi * lq + j * l1q;
        let t1 = log_comb + j * lq + fi * l1q;
        let e0 = ln_half + ln_erfc((fi - z0) / rs);
        let e1 = ln_half + ln_erfc((z0 - j) / rs);
        let (g0, g1) = (quad(fi, s2), quad(j, s2));
        let s0 = t0 + g0 + e0;
        let s1 = t1 + g1 + e1;
        // C(α, i) has max(0, i − 1 − ⌊α⌋) negative factors α − k (k > α).
        let negatives = fi - 1.0 - floor_alpha;
        let sum = if negatives > 0.0 && negatives % 2.0 == 1.0 {
            &mut neg
        } else {
            &mut pos
        };
        *sum = log_add(*sum, log_add(s0, s1));
        let m0 = log_comb.abs() + (fi * lq).abs() + (j * l1q).abs() + g0.abs() + e0.abs();
        let m1 = log_comb.abs() + (j * lq).abs() + (fi * l1q).abs() + g1.abs() + e1.abs();
        err = log_add(
            err,
            log_add(s0 + (4.0 * m0 + 2.0).ln(), s1 + (4.0 * m1 + 2.0).ln()),
        );
        let total = log_add(pos, neg);
        if s0 < last0 && s1 < last1 && s0.max(s1) < total - 30.0 {
            let unsigned = total;
            let value = if neg < pos {
                // ln(P − N) = ln P + ln(1 − e^{ln N − ln P}).
                let diff = pos + (-(neg - pos).exp_m1()).ln();
                let eta = f64::EPSILON / 2.0 * (err - diff).exp();
                next_up(diff + eta).min(unsigned)
            } else {
                unsigned
            };
            return Some(FracLogA { value, unsigned });
        }
        last0 = s0;
        last1 = s1;
        log_comb += ((alpha - fi).abs() / (fi + 1.0)).ln();
    }
    None
}

/// Noise multipliers above this are evaluated at it: more noise is post-processing, so the
/// RDP at this σ bounds the RDP at any larger one (and σ² stays finite).
const SIGMA_CAP: f64 = 1e100;

/// RDP of order α > 1 of one step of the Poisson-subsampled Gaussian mechanism (q ∈ (0, 1],
/// σ > 0); for a fractional order whose series does not converge, the RDP of ⌈α⌉. +∞ when
/// σ is so small that the mechanism gives no RDP guarantee at this order in f64.
///
/// # Errors
/// [`Error::InvalidParameter`] for q ∉ (0, 1], σ ≤ 0 or α ≤ 1; [`Error::NonFinite`] if the
/// computation produced NaN (never turned into a number).
pub fn subsampled_gaussian_rdp(q: f64, sigma: f64, alpha: f64) -> Result<f64> {
    check_sampling_rate(q)?;
    check_noise_multiplier(sigma)?;
    if !(alpha > 1.0 && alpha.is_finite()) {
        return Err(Error::invalid("order", alpha, "RDP orders must be > 1"));
    }
    let r = rdp_unchecked(q, sigma.min(SIGMA_CAP), alpha);
    if r.is_nan() {
        return Err(Error::NonFinite {
            what: "RDP of the subsampled Gaussian".into(),
            detail: format!("NaN at q = {q}, sigma = {sigma}, order {alpha}"),
        });
    }
    Ok(r)
}

fn rdp_unchecked(q: f64, sigma: f64, alpha: f64) -> f64 {
    if q == 1.0 {
        return alpha / (2.0 * sigma * sigma);
    }
    let log_a = if alpha.fract() == 0.0 && alpha < 1e15 {
        Some(log_a_int(q, sigma, alpha as u64))
    } else {
        log_a_frac(q, sigma, alpha).map(|f| f.value)
    };
    match log_a {
        // A_α ≥ 1 in exact arithmetic; rounding can give a hair below. NaN stays NaN (the
        // caller turns it into an error), so no `max`, which would map NaN to 0.
        Some(l) => {
            let r = l / (alpha - 1.0);
            if r < 0.0 {
                0.0
            } else {
                r
            }
        }
        // RDP is non-decreasing in α (Mironov 2017, Prop. 9): the next integer order bounds
        // a fractional order whose series did not converge.
        None => rdp_unchecked(q, sigma, alpha.ceil()),
    }
}

/// Per-step RDP of the subsampled Gaussian at every order of `orders` (all > 1).
///
/// # Errors
/// As [`subsampled_gaussian_rdp`].
pub fn subsampled_gaussian_rdp_vec(q: f64, sigma: f64, orders: &[f64]) -> Result<Vec<f64>> {
    check_sampling_rate(q)?;
    check_noise_multiplier(sigma)?;
    orders
        .iter()
        .map(|&a| subsampled_gaussian_rdp(q, sigma, a))
        .collect()
}

/// The smallest ε over `orders` for which RDP values `rdp` imply (ε, δ)-DP, and the order
/// that attains it (Canonne, Kamath & Steinke 2020, Prop. 12; dp-accounting's
/// `compute_epsilon`). ε is rounded up by one ulp; infinite when no order gives a finite
/// bound.
///
/// # Errors
/// [`Error::InvalidParameter`] for δ ∉ (0, 1), mismatched lengths or an order ≤ 1;
/// [`Error::NonFinite`] for a NaN RDP value.
pub fn rdp_to_epsilon(orders: &[f64], rdp: &[f64], delta: f64) -> Result<(f64, f64)> {
    check_delta(delta)?;
    check_curve(orders, rdp)?;
    let mut best = (f64::INFINITY, orders[0]);
    for (&a, &r) in orders.iter().zip(rdp) {
        let eps = if delta * delta + (-r).exp_m1() > 0.0 {
            0.0
        } else if a > 1.01 {
            r + (-1.0 / a).ln_1p() - (delta * a).ln() / (a - 1.0)
        } else {
            f64::INFINITY
        };
        if eps < best.0 {
            best = (eps, a);
        }
    }
    let eps = best.0.max(0.0);
    Ok((round_up_or_zero(eps), best.1))
}

/// Checks an RDP curve: as many values as orders (at least one), every order > 1, no NaN.
fn check_curve(orders: &[f64], rdp: &[f64]) -> Result<()> {
    if orders.len() != rdp.len() || orders.is_empty() {
        return Err(Error::DimensionMismatch {
            what: "RDP orders and values".into(),
            expected: orders.len(),
            got: rdp.len(),
        });
    }
    for (&a, &r) in orders.iter().zip(rdp) {
        if a.is_nan() || a <= 1.0 {
            return Err(Error::invalid("order", a, "RDP orders must be > 1"));
        }
        if r.is_nan() {
            return Err(Error::NonFinite {
                what: "RDP value".into(),
                detail: format!("NaN at order {a}"),
            });
        }
    }
    Ok(())
}

/// The smallest δ such that a mechanism with RDP `rdp` at `orders` is (ε, δ)-DP, the inverse
/// of [`rdp_to_epsilon`]: at each order α the smaller of
/// ln δ = (α − 1)(r − ε + ln(1 − 1/α)) − ln α (Canonne, Kamath & Steinke 2020, Prop. 12,
/// solved for δ; used for α ≥ 1.01 as in [`rdp_to_epsilon`]) and ln δ = ½ ln(1 − e^{−r})
/// (the KL/Pinsker-type bound behind [`rdp_to_epsilon`]'s ε = 0 case), minimised over
/// orders; dp-accounting's `compute_delta`. Returns (δ, the order that attains it); δ is
/// rounded up by one ulp.
///
/// # Errors
/// [`Error::InvalidParameter`] for ε < 0 or non-finite, mismatched lengths or an order ≤ 1;
/// [`Error::NonFinite`] for a NaN RDP value.
pub fn rdp_to_delta(orders: &[f64], rdp: &[f64], epsilon: f64) -> Result<(f64, f64)> {
    crate::privacy::check_epsilon_nonneg(epsilon)?;
    check_curve(orders, rdp)?;
    let mut best = (f64::INFINITY, orders[0]);
    for (&a, &r) in orders.iter().zip(rdp) {
        let mut log_delta = if r == 0.0 {
            f64::NEG_INFINITY
        } else {
            0.5 * (-(-r).exp()).ln_1p()
        };
        if a >= 1.01 {
            log_delta = log_delta.min((a - 1.0) * (r - epsilon + (-1.0 / a).ln_1p()) - a.ln());
        }
        if log_delta < best.0 {
            best = (log_delta, a);
        }
    }
    let d = best.0.exp().min(1.0);
    Ok((round_up_or_zero(d).min(1.0), best.1))
}

/// δ at ε of `steps` compositions of the Poisson-subsampled Gaussian (rate q, noise
/// multiplier σ) over dp-accounting's default orders; the inverse of [`epsilon`].
///
/// # Errors
/// [`Error::InvalidParameter`] naming the first bad argument.
pub fn delta(q: f64, sigma: f64, steps: u64, epsilon: f64) -> Result<f64> {
    let (orders, rdp) = composed(q, sigma, steps)?;
    Ok(rdp_to_delta(&orders, &rdp, epsilon)?.0)
}

/// dp-accounting's default orders and the RDP of `steps` compositions of the
/// Poisson-subsampled Gaussian at each (RDP adds up under composition).
fn composed(q: f64, sigma: f64, steps: u64) -> Result<(Vec<f64>, Vec<f64>)> {
    check_steps(steps)?;
    let orders = default_orders();
    let t = steps as f64;
    let rdp = subsampled_gaussian_rdp_vec(q, sigma, &orders)?
        .into_iter()
        .map(|r| r * t)
        .collect();
    Ok((orders, rdp))
}

/// ε of `steps` compositions of the Poisson-subsampled Gaussian (rate q, noise multiplier σ)
/// at δ, over dp-accounting's default orders.
///
/// # Errors
/// [`Error::InvalidParameter`] naming the first bad argument.
pub fn epsilon(q: f64, sigma: f64, steps: u64, delta: f64) -> Result<f64> {
    check_delta(delta)?;
    let (orders, rdp) = composed(q, sigma, steps)?;
    Ok(rdp_to_epsilon(&orders, &rdp, delta)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_inverts_epsilon() {
        // Round trip: ε(δ) at δ = 1e-5, then δ(ε) at that ε, is ≤ 1e-5 (same minimising order,
        // same formula solved the other way) and not much below it (the next order's value
        // differs, but ε was rounded up by an ulp only): within a factor 1.01.
        for (q, s, t) in [(0.004_267, 1.1, 14_060u64), (0.05, 0.8, 100), (1.0, 2.0, 1)] {
            let e = epsilon(q, s, t, 1e-5).unwrap();
            let d = delta(q, s, t, e).unwrap();
            assert!(
                d <= 1e-5 && d > 1e-5 / 1.01,
                "q {q} s {s} t {t}: eps {e} delta {d}"
            );
        }
        // Known answer, q = 1, σ = 2, one step: r(α) = α/(2σ²) = α/8 (Mironov 2017, Prop. 7).
        // At ε = 1, ln δ(α) = (α − 1)(α/8 − 1 + ln(1 − 1/α)) − ln α; over dp-accounting's
        // orders (step 0.1 below 11) the minimum is at α = 5.3 (scanned by hand in Python):
        // 4.3·(0.6625 − 1 + ln(4.3/5.3)) − ln 5.3 = −4.018052, δ = 0.0179880.
        let d = delta(1.0, 2.0, 1, 1.0).unwrap();
        assert!((d - 0.017_988_0).abs() < 1e-7, "{d}");
        assert!(delta(0.1, 1.0, 10, -1.0).is_err());
        assert!(delta(0.1, 1.0, 10, f64::NAN).is_err());
    }

    #[test]
    fn full_batch_is_alpha_over_two_sigma_squared() {
        // q = 1: α/(2σ²); α = 4, σ = 2: 4/8 = 0.5 (Mironov 2017, Prop. 7).
        assert_eq!(subsampled_gaussian_rdp(1.0, 2.0, 4.0).unwrap(), 0.5);
        assert_eq!(subsampled_gaussian_rdp(1.0, 1.0, 2.5).unwrap(), 1.25);
    }

    #[test]
    fn integer_order_two_closed_form() {
        // α = 2: A₂ = (1−q)² + 2q(1−q) + q²·e^{1/σ²} = 1 + q²(e^{1/σ²} − 1), RDP = ln A₂.
        let (q, s) = (0.01f64, 1.5f64);
        let want = (q * q * ((1.0 / (s * s)).exp() - 1.0)).ln_1p();
        let got = subsampled_gaussian_rdp(q, s, 2.0).unwrap();
        assert!((got - want).abs() < 1e-15, "{got} {want}");
    }

    #[test]
    fn fractional_orders_interpolate_integers() {
        // RDP is non-decreasing in α (Mironov 2017, Prop. 9): the fractional series sits
        // between its integer neighbours.
        let (q, s) = (0.02, 1.1);
        let r2 = subsampled_gaussian_rdp(q, s, 2.0).unwrap();
        let r25 = subsampled_gaussian_rdp(q, s, 2.5).unwrap();
        let r3 = subsampled_gaussian_rdp(q, s, 3.0).unwrap();
        assert!(r2 <= r25 && r25 <= r3, "{r2} {r25} {r3}");
        // And the fractional series at an integer order agrees with the binomial sum.
        let frac = log_a_frac(q, s, 3.0).unwrap().value / 2.0;
        assert!((frac - r3).abs() < 1e-10 * r3, "{frac} {r3}");
    }

    /// ln A_α = ln E_{z~μ₀}[(μ(z)/μ₀(z))^α] with μ₀ = N(0, σ²), μ = (1 − q)μ₀ + qN(1, σ²)
    /// (Mironov, Talwar & Zhang 2019, Eq. (2)), by the trapezoid rule on [−20σ, α + 20σ]
    /// (the integrand is a smooth Gaussian-like bump peaking near α, whose tails beyond 20σ
    /// hold below e⁻²⁰⁰ of it) with 400 000 steps; for such integrands the rule converges
    /// geometrically, so its error is far below the 1e-10 tolerated below.
    fn log_a_by_quadrature(q: f64, sigma: f64, alpha: f64) -> f64 {
        let (a, b, n) = (-20.0 * sigma, alpha + 20.0 * sigma, 400_000);
        let dx = (b - a) / f64::from(n);
        let s2 = 2.0 * sigma * sigma;
        let norm = 1.0 / (sigma * (2.0 * std::f64::consts::PI).sqrt());
        let mut acc = 0.0;
        for k in 0..=n {
            let z = a + f64::from(k) * dx;
            let w = if k == 0 || k == n { 0.5 } else { 1.0 };
            let ratio = 1.0 - q + q * ((2.0 * z - 1.0) / s2).exp();
            acc += w * norm * (-z * z / s2).exp() * ratio.powf(alpha);
        }
        (acc * dx).ln()
    }

    #[test]
    fn fractional_series_is_exact_by_quadrature() {
        // Known answer (issue 12, by quadrature): q = 0.05, σ = 0.6, α = 1.2 gives
        // ln A_α = 0.002635 (4 significant digits), where the unsigned sum Σ|C(α, i)|…
        // that dp-accounting 0.6 reports gives 0.003166.
        let f = log_a_frac(0.05, 0.6, 1.2).unwrap();
        assert!((f.value - 0.002_635).abs() < 5e-7, "{}", f.value);
        assert!((f.unsigned - 0.003_166).abs() < 5e-7, "{}", f.unsigned);
        // Our own quadrature at that point and at others where the series alternates
        // (α ∈ (1, 2) and beyond, small and large σ): the signed series matches to 1e-10
        // absolute on ln A (rounding of ~1e5 quadrature terms is ~1e-12), and the unsigned
        // sum is never below it.
        for &(q, sigma, alpha) in &[
            (0.05, 0.6, 1.2),
            (0.05, 0.6, 1.5),
            (0.2, 0.8, 2.5),
            (0.01, 1.1, 3.7),
            (0.3, 2.0, 1.1),
            (0.004_267, 1.1, 10.5),
        ] {
            let f = log_a_frac(q, sigma, alpha).unwrap();
            let want = log_a_by_quadrature(q, sigma, alpha);
            assert!(
                (f.value - want).abs() < 1e-10,
                "q={q} σ={sigma} α={alpha}: series {} quadrature {want}",
                f.value
            );
            assert!(f.unsigned >= f.value);
        }
    }

    #[test]
    fn exact_fractional_orders_tighten_the_known_epsilon() {
        // Issue 12: q = 0.05, σ = 0.6, T = 14 060, δ = 1e-5: ε ≈ 277.5 with the unsigned
        // fractional series, ≈ 240.1 with the exact one.
        let e = epsilon(0.05, 0.6, 14_060, 1e-5).unwrap();
        assert!((e - 240.1).abs() < 0.05, "{e}");
    }

    #[test]
    fn tiny_and_huge_noise_multipliers_are_never_optimistic() {
        // σ ≤ ~1e-154: 2σ² underflows to 0; (i² − i)/(2σ²) at i ∈ {0, 1} was 0/0 = NaN,
        // which `max(0.0)` turned into ε = 0. No noise is no privacy: ε = ∞.
        for s in [1e-154, 1e-160, 1e-300, f64::MIN_POSITIVE] {
            for q in [0.01, 0.5, 0.99] {
                // (α² − α)/(2σ²) ≥ 1e308 at every order: ε is +∞ or astronomically large.
                let e = epsilon(q, s, 1, 1e-5).unwrap();
                assert!(e > 1e300, "q={q} σ={s}: {e}");
            }
        }
        // Huge σ: ε → 0 without NaN (σ² overflows; q = ½ makes ln(1/q − 1) = 0).
        for s in [1e100, 1e200, f64::MAX] {
            for q in [0.01, 0.5, 1.0] {
                let e = epsilon(q, s, 1000, 1e-5).unwrap();
                assert!(e.is_finite() && e >= 0.0, "q={q} σ={s}: {e}");
            }
        }
        // A NaN RDP value is an error, never a number.
        assert!(rdp_to_epsilon(&[2.0], &[f64::NAN], 1e-5).is_err());
    }

    #[test]
    fn conversion_known_answer() {
        // One order, α = 2, RDP r = 1, δ = 1e-5:
        // ε = 1 + ln(1/2) − ln(2e-5)/1 = 1 − 0.693147… + 10.819778… = 11.126631…
        let (e, a) = rdp_to_epsilon(&[2.0], &[1.0], 1e-5).unwrap();
        let want = 1.0 + 0.5f64.ln() - (2e-5f64).ln();
        assert_eq!(a, 2.0);
        assert!((e - want).abs() < 1e-14, "{e} {want}");
        // Tiny RDP: δ² + e^{−r} − 1 > 0 gives ε = 0.
        assert_eq!(rdp_to_epsilon(&[2.0], &[1e-12], 1e-5).unwrap().0, 0.0);
    }

    #[test]
    fn composition_is_a_sum() {
        let (q, s) = (0.05, 0.9);
        let one = subsampled_gaussian_rdp(q, s, 8.0).unwrap();
        let orders = [8.0];
        let e100 = rdp_to_epsilon(&orders, &[100.0 * one], 1e-5).unwrap().0;
        let e_sum = rdp_to_epsilon(&orders, &[(0..100).map(|_| one).sum()], 1e-5)
            .unwrap()
            .0;
        assert!((e100 - e_sum).abs() < 1e-12 * e100);
    }

    #[test]
    fn edges_are_finite() {
        for &(q, s, t, d) in &[
            (1.0, 0.3, 1u64, 1e-12),
            (1.0, 0.3, 1_000_000, 1e-12),
            (0.004_267, 1.1, 1_000_000, 1e-12),
            (1e-6, 0.3, 1, 1e-12),
            (0.5, 0.3, 10, 1e-12),
        ] {
            let e = epsilon(q, s, t, d).unwrap();
            assert!(e.is_finite() && e >= 0.0, "{q} {s} {t} {d}: {e}");
        }
        assert!(epsilon(0.0, 1.0, 1, 1e-5).is_err());
        assert!(epsilon(0.5, 1.0, 0, 1e-5).is_err());
        assert!(epsilon(0.5, -1.0, 1, 1e-5).is_err());
        assert!(epsilon(0.5, 1.0, 1, 0.0).is_err());
    }
}
