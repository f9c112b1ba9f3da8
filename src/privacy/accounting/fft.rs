//! A small iterative radix-2 complex FFT (Cooley & Tukey 1965) for PLD composition.
//!
//! Twiddle factors are computed directly as (cos, sin)(2πk/N) rather than by recurrence, so
//! their error does not grow with N. Serial and deterministic.
//!
//! # References
//! - Cooley & Tukey, "An Algorithm for the Machine Calculation of Complex Fourier Series",
//!   Mathematics of Computation 19(90), 1965.

/// A complex number as (re, im).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct C64 {
    /// Real part.
    pub re: f64,
    /// Imaginary part.
    pub im: f64,
}

impl C64 {
    #[inline]
    fn mul(self, o: C64) -> C64 {
        C64 {
            re: self.re * o.re - self.im * o.im,
            im: self.re * o.im + self.im * o.re,
        }
    }

    /// z^t for a real t ≥ 0 via the polar form |z|^t·e^{i t arg z}; 0^t = 0 for t > 0.
    pub fn powf(self, t: f64) -> C64 {
        let r = self.re.hypot(self.im);
        if r == 0.0 {
            return C64::default();
        }
        let (lr, th) = (r.ln(), self.im.atan2(self.re));
        let m = (t * lr).exp();
        let a = (t * th).rem_euclid(2.0 * std::f64::consts::PI);
        C64 {
            re: m * a.cos(),
            im: m * a.sin(),
        }
    }
}

/// In-place FFT of a power-of-two-length buffer; `inverse` computes the unnormalised
/// inverse (divide by N afterwards).
///
/// # Panics
/// Never on user input; the caller (this crate) always passes a power of two.
pub fn fft(buf: &mut [C64], inverse: bool) {
    let n = buf.len();
    assert!(
        n.is_power_of_two(),
        "invariant: FFT length is a power of two"
    );
    if n <= 1 {
        return;
    }
    // Bit-reversal permutation.
    let bits = n.trailing_zeros();
    for i in 0..n {
        let j = i.reverse_bits() >> (usize::BITS - bits);
        if i < j {
            buf.swap(i, j);
        }
    }
    let sign = if inverse { 1.0 } else { -1.0 };
    // Twiddles for the largest stage; smaller stages stride through them.
    let half = n / 2;
    let tw: Vec<C64> = (0..half)
        .map(|k| {
            let a = sign * 2.0 * std::f64::consts::PI * k as f64 / n as f64;
            C64 {
                re: a.cos(),
                im: a.sin(),
            }
        })
        .collect();
    let mut len = 2;
    while len <= n {
        let step = n / len;
        let h = len / 2;
        for start in (0..n).step_by(len) {
            for k in 0..h {
                let w = tw[k * step];
                let u = buf[start + k];
                let v = buf[start + k + h].mul(w);
                buf[start + k] = C64 {
                    re: u.re + v.re,
                    im: u.im + v.im,
                };
                buf[start + k + h] = C64 {
                    re: u.re - v.re,
                    im: u.im - v.im,
                };
            }
        }
        len *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn convolution_by_fft_matches_direct() {
        // (1 + 2x + 3x²)(4 + 5x) = 4 + 13x + 22x² + 15x³.
        let mut a = vec![C64::default(); 4];
        let mut b = vec![C64::default(); 4];
        for (i, v) in [1.0, 2.0, 3.0].iter().enumerate() {
            a[i].re = *v;
        }
        b[0].re = 4.0;
        b[1].re = 5.0;
        fft(&mut a, false);
        fft(&mut b, false);
        let mut c: Vec<C64> = a.iter().zip(&b).map(|(x, y)| x.mul(*y)).collect();
        fft(&mut c, true);
        let got: Vec<f64> = c.iter().map(|z| z.re / 4.0).collect();
        for (g, w) in got.iter().zip([4.0, 13.0, 22.0, 15.0]) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
    }

    #[test]
    fn power_matches_repeated_product() {
        let z = C64 { re: 0.3, im: -0.4 };
        let p = z.powf(3.0);
        let q = z.mul(z).mul(z);
        assert!((p.re - q.re).abs() < 1e-15 && (p.im - q.im).abs() < 1e-15);
        assert_eq!(C64::default().powf(2.0), C64::default());
    }
}
