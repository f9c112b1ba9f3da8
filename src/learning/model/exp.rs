//! e^x for the softmax head, a chunk of values at a time in the widest vector instructions.
//!
//! The softmax head takes ten exponentials per example; through the C library's scalar `exp`,
//! a call each, they took 4 % of the softmax-regression D-SGD round's samples and their
//! divisions 1 % more (docs/performance.md, "exp13").
//! This is the textbook method, written with the basic IEEE operations only (+, −, ×,
//! comparisons and bit moves, no fused multiply-add and no table), so that every instruction
//! set, vectorised or not, gives the same bits:
//!
//! 1. **Range reduction** (Cody & Waite, *Software Manual for the Elementary Functions*,
//!    Prentice-Hall 1980, ch. 6): k = round(x/ln 2), by adding and subtracting 1.5·2⁵² (the
//!    current rounding mode, to nearest); r = (x − k·ln2_hi) − k·ln2_lo, with fdlibm's split
//!    of ln 2 (`e_exp.c`, Sun Microsystems 1993): ln2_hi has 32 significant bits, so k·ln2_hi
//!    and its difference from x are exact for |k| < 2²¹, and |r| ≤ ln 2 / 2 (plus rounding).
//! 2. **e^r** by its Taylor polynomial of degree 13 in Horner's form, as 1 + (r + r²·Q(r)):
//!    the remainder r¹⁴/14!·e^{|r|} is below 8.4·10⁻¹⁸ relative (0.04 ulp) for |r| ≤ 0.3466, and
//!    the last addition to 1 is the only rounding of the result's size (J.-M. Muller,
//!    *Elementary Functions: Algorithms and Implementation*, 3rd ed., Birkhäuser 2016, its
//!    chapters on polynomial evaluation and on range reduction).
//! 3. **Scaling** by 2ᵏ as two exact multiplications, by 2^⌊k/2⌋ then 2^{k−⌊k/2⌋}, so that
//!    results in the subnormal range are rounded once and those past f64::MAX overflow to +∞.
//!
//! Accuracy: within 1 ulp of the C library's `exp` (itself within 0.502 ulp of e^x) over the
//! whole domain, subnormal results included (`exp_is_within_an_ulp_of_the_c_library`); ±∞
//! give +∞ and 0, NaN gives NaN, x > 709.79 gives +∞ and x < −745.14 gives 0, as e^x rounds.

/// 1.5·2⁵²: x + SHIFT − SHIFT rounds x to an integer (|x| < 2⁵¹), which the low bits of
/// x + SHIFT hold as a two's-complement integer.
const SHIFT: f64 = 6_755_399_441_055_744.0;
/// 1/ln 2, rounded.
const INV_LN2: f64 = std::f64::consts::LOG2_E;
/// ln 2 = LN2_HI + LN2_LO to about 2⁻⁸⁸ (fdlibm's `ln2HI[0]`, `ln2LO[0]`).
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// The reduction's input range: e^x is +∞ above 709.79 and 0 below −745.14 (k stays within
/// [−1077, 1025], where both halves of 2ᵏ are normal numbers).
const LOWEST: f64 = -746.0;
const HIGHEST: f64 = 710.0;
/// 1/n! for n = 2..=13, rounded: the Taylor coefficients of Q(r) = (e^r − 1 − r)/r².
const INV_FACTORIALS: [f64; 12] = [
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5_040.0,
    1.0 / 40_320.0,
    1.0 / 362_880.0,
    1.0 / 3_628_800.0,
    1.0 / 39_916_800.0,
    1.0 / 479_001_600.0,
    1.0 / 6_227_020_800.0,
];

/// e^x (module docs). Branch-free, so that a loop of it compiles to packed instructions.
#[inline(always)]
pub(crate) fn exp(x: f64) -> f64 {
    let xc = x.clamp(LOWEST, HIGHEST);
    let shifted = xc * INV_LN2 + SHIFT;
    let kd = shifted - SHIFT;
    let r = (xc - kd * LN2_HI) - kd * LN2_LO;
    let mut q = INV_FACTORIALS[11];
    for &c in INV_FACTORIALS[..11].iter().rev() {
        q = q * r + c;
    }
    let p = 1.0 + (r + r * r * q);
    // k from the low bits of `shifted`; 2^k1 and 2^k2 built from their exponent fields.
    let k = shifted.to_bits().wrapping_sub(SHIFT.to_bits()) as i64;
    let k1 = k >> 1;
    let k2 = k - k1;
    let two_to = |e: i64| f64::from_bits(((e + 1023) as u64) << 52);
    let y = p * two_to(k1) * two_to(k2);
    // A NaN input: NaN (it went through the arithmetic above, whose k is then meaningless).
    if x.is_nan() {
        x
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;
    use rand::RngExt;

    /// The distance between two finite f64 of one sign in units in the last place.
    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64).abs_diff(b.to_bits() as i64)
    }

    /// Known answers: exact at 0, the limits, NaN, and e, e⁻¹, the largest finite result and
    /// the smallest subnormal one against the C library.
    #[test]
    fn exp_known_answers() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-0.0), 1.0);
        assert_eq!(exp(f64::INFINITY), f64::INFINITY);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert!(exp(f64::NAN).is_nan());
        assert_eq!(exp(710.0), f64::INFINITY);
        assert_eq!(exp(-746.0), 0.0);
        assert_eq!(exp(-1e300), 0.0);
        assert_eq!(exp(1e300), f64::INFINITY);
        // e = 2.718281828459045 (the nearest f64), from `std::f64::consts::E`.
        assert!(ulps(exp(1.0), std::f64::consts::E) <= 1);
        assert!(ulps(exp(-1.0), 1.0 / std::f64::consts::E) <= 1);
        // The largest x with a finite e^x (709.782712893384) and the smallest with a nonzero
        // one (−745.1332191019411): e^x there is f64::MAX's binade and 2⁻¹⁰⁷⁴.
        assert!(exp(709.782_712_893_384).is_finite());
        assert!(ulps(exp(709.782_712_893_384), 709.782_712_893_384f64.exp()) <= 1);
        let tiny = -745.133_219_101_941_1f64;
        assert!(exp(tiny) > 0.0 && ulps(exp(tiny), tiny.exp()) <= 1);
        assert_eq!(exp(-745.2), 0.0);
    }

    /// Within one ulp of the C library's `exp` on a million arguments drawn over the whole
    /// domain (uniform in [−746, 710], in [−40, 0] where the softmax head's arguments lie, and
    /// in the subnormal range [−745.2, −708]), and the same bits in a loop compiled for the
    /// widest vector instructions, as the softmax head runs it. Mutations seen to fail it: r
    /// without the `LN2_LO` term (off by 10⁻¹⁰ relative far from 0), the Taylor polynomial
    /// cut at degree 12 (two ulps off at x = −197.2), 2ᵏ built in one step (0 instead of the
    /// subnormals, +∞ near the top).
    #[test]
    fn exp_is_within_an_ulp_of_the_c_library() {
        let mut rng = rng_from_seed(7);
        for (lo, hi) in [(-746.0, 710.0), (-40.0, 0.0), (-745.2, -708.0), (-1.0, 1.0)] {
            let xs: Vec<f64> = (0..250_000).map(|_| rng.random_range(lo..hi)).collect();
            let mut vector = xs.clone();
            crate::simd::widest(
                #[inline(always)]
                || vector.iter_mut().for_each(|x| *x = exp(*x)),
            );
            for (&x, &v) in xs.iter().zip(&vector) {
                let (ours, libm) = (exp(x), x.exp());
                assert!(
                    ulps(ours, libm) <= 1,
                    "exp({x:e}) = {ours:e}, the C library {libm:e}"
                );
                assert_eq!(v.to_bits(), ours.to_bits(), "exp({x:e}) vectorised");
            }
        }
    }
}
