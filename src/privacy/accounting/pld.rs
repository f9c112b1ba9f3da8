//! Privacy-loss-distribution (PLD) accounting for the Poisson-subsampled Gaussian mechanism,
//! with the pessimistic "connect-the-dots" discretisation and FFT composition.
//!
//! # The per-step curve
//!
//! For a pair of output distributions (P, Q) the hockey-stick divergence
//! δ(ε) = sup_S P(S) − e^ε Q(S) is the tightest δ at each ε. For one step of the Gaussian
//! mechanism (noise multiplier σ, ℓ2 sensitivity 1) on a Poisson sample of rate q, under the
//! **add/remove-one** relation there are two directions (Zhu, Dong & Wang 2022, Prop. 30):
//!
//! - **remove**: P = (1 − q)·N(0, σ²) + q·N(1, σ²), Q = N(0, σ²). With
//!   ε' = ln(1 + (e^ε − 1)/q), δ_rem(ε) = q·δ_G(ε') where δ_G is the Gaussian curve of
//!   Balle & Wang ([`gaussian_delta`]); δ_rem(ε) = 1 − e^ε when e^ε ≤ 1 − q.
//! - **add**: P = N(0, σ²), Q = the mixture. With ε'' = ln(1 + (e^{−ε} − 1)/q) and
//!   a = σε'' + 1/(2σ), δ_add(ε) = q·e^ε·(e^{ε''}Φ(a) − Φ(a − 1/σ)); δ_add(ε) = 0 when
//!   e^{−ε} ≤ 1 − q.
//!
//! Both are exact closed forms (derived by solving the monotone privacy loss for its
//! threshold); the composed ε reported is the larger of the two directions, as in
//! dp-accounting's `ADD_OR_REMOVE_ONE`. With q = 1 both equal δ_G.
//!
//! # Connect-the-dots discretisation (pessimistic)
//!
//! Let ℓ_i = i·h on a grid covering the privacy losses of all but e⁻⁵⁰ of the mass (h =
//! [`DEFAULT_INTERVAL`] = 1e-4 by default, dp-accounting's default). As a function of
//! u = e^ε, δ(·) is convex and decreasing, so the piecewise-linear interpolation through
//! (u_i, δ(ℓ_i)), extended by the chord to (0, 1) below and by the constant δ(ℓ_n) above,
//! lies above it. That interpolant is exactly the δ-curve of a discrete PLD on the grid
//! (Doroshenko, Ghazi, Kamath, Kumar & Manurangsi 2022, Alg. 1), with masses
//!
//! ```text
//! p_0 = (1 − δ_0) − (δ_0 − δ_1)/(e^h − 1),
//! p_i = (δ_{i−1} − δ_i)/(1 − e^{−h}) − (δ_i − δ_{i+1})/(e^h − 1),
//! p_n = (δ_{n−1} − δ_n)/(1 − e^{−h}),        mass at +∞ = δ_n,
//! ```
//!
//! so it is a **dominating pair**: every composition of it bounds the composition of the
//! true mechanism from above (Zhu, Dong & Wang 2022, Thm 10). Rounding can make a mass a
//! hair negative; it is set to 0.
//!
//! # Composition
//!
//! T-fold composition is T-fold convolution of the loss PMF (Koskela, Jälkö & Honkela 2020;
//! Koskela et al. 2021), done as one FFT, a pointwise power z^T and an inverse FFT on a window
//! [s_lo, s_hi] chosen by Chernoff bounds so that each tail outside holds at most 5e-16
//! (dp-accounting's `compute_self_convolve_bounds`); the 1e-15 of possibly aliased mass is
//! added to the mass at +∞, which keeps the result pessimistic. Masses at +∞ compose as
//! 1 − (1 − m)^T. Without subsampling (q = 1), T steps are discretised directly as one
//! Gaussian step with noise multiplier σ/√T, which is exact (Dong, Roth & Su 2022). When the
//! window would exceed 2²³ points, or one step 2²⁰ points, the grid interval is doubled until
//! it fits (coarser, still pessimistic).
//!
//! # References
//! - Koskela, Jälkö & Honkela, "Computing Tight Differential Privacy Guarantees Using FFT",
//!   AISTATS 2020, arXiv 1906.03049.
//! - Koskela, Jälkö, Prediger & Honkela, "Tight Differential Privacy for Discrete-Valued
//!   Mechanisms and for the Subsampled Gaussian Mechanism Using FFT", AISTATS 2021,
//!   arXiv 2006.07134.
//! - Doroshenko, Ghazi, Kamath, Kumar & Manurangsi, "Connect the Dots: Tighter Discrete
//!   Approximations of Privacy Loss Distributions", PETS 2022, arXiv 2207.04380.
//! - Zhu, Dong & Wang, "Optimal Accounting of Differential Privacy via Characteristic
//!   Function", AISTATS 2022, arXiv 2106.08567 (dominating pairs).
//! - Balle & Wang, ICML 2018, arXiv 1805.06530 (the Gaussian curve δ_G).
//! - Dong, Roth & Su, "Gaussian Differential Privacy", JRSS B 84(1), 2022, arXiv 1905.02383.

use super::fft::{fft, C64};
use crate::privacy::mechanisms::analytic_gaussian::gaussian_delta;
use crate::privacy::normal;
use crate::privacy::round_up_or_zero;
use crate::privacy::{check_delta, check_noise_multiplier, check_sampling_rate, check_steps};
use crate::{Error, Result};

/// dp-accounting's default grid interval for privacy losses.
pub const DEFAULT_INTERVAL: f64 = 1e-4;
/// Per-step loss range: all but about e⁻⁵⁰ of each tail (z = 10 standard deviations of x).
const Z_TAIL: f64 = 10.0;
/// Mass allowed outside the composition window, per composition.
const TAIL_MASS_TRUNCATION: f64 = 1e-15;
/// The smallest δ the PLD accountant answers for. Below it the 1e-15 of tail mass added per
/// composition (and FFT rounding, about 1e-16 per grid point) is no longer small next to δ,
/// so ε would come out +∞ or be dominated by rounding; an error then points to the RDP
/// accountant instead (an accountant may be conservative, never misleading).
pub const MIN_DELTA: f64 = 1e-12;
/// Largest FFT length before the grid is coarsened.
const MAX_FFT_LEN: usize = 1 << 23;

/// Which of the two add/remove directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The neighbour has one more record: P = mixture, Q = N(0, σ²).
    Remove,
    /// The neighbour has one record fewer: P = N(0, σ²), Q = mixture.
    Add,
}

/// Exact δ(ε) of one step of the Poisson-subsampled Gaussian in one direction (module docs).
pub fn subsampled_gaussian_delta(epsilon: f64, sigma: f64, q: f64, dir: Direction) -> f64 {
    let mu = 1.0 / sigma;
    if q >= 1.0 {
        return gaussian_delta(epsilon, mu);
    }
    match dir {
        Direction::Remove => {
            let t = epsilon.exp_m1() / q;
            if t <= -1.0 {
                return -epsilon.exp_m1();
            }
            q * gaussian_delta(t.ln_1p(), mu)
        }
        Direction::Add => {
            let t = (-epsilon).exp_m1() / q;
            if t <= -1.0 {
                return 0.0;
            }
            let e2 = t.ln_1p();
            let a = sigma * e2 + 0.5 / sigma;
            let v =
                (epsilon + e2 + normal::ln_cdf(a)).exp() - (epsilon + normal::ln_cdf(a - mu)).exp();
            (q * v).max(0.0)
        }
    }
}

/// Privacy loss ln(P/Q)(x) of the remove direction at output x: ln(1 − q + q·e^{(2x−1)/(2σ²)}).
fn loss_remove(x: f64, sigma: f64, q: f64) -> f64 {
    let u = (2.0 * x - 1.0) / (2.0 * sigma * sigma);
    if q >= 1.0 {
        u
    } else {
        normal::log_add((-q).ln_1p(), q.ln() + u)
    }
}

/// The privacy losses of all but about e⁻⁵⁰ of the mass in each tail of one step.
fn loss_range(sigma: f64, q: f64, dir: Direction) -> (f64, f64) {
    let zs = Z_TAIL * sigma;
    match dir {
        Direction::Remove => (loss_remove(-zs, sigma, q), loss_remove(1.0 + zs, sigma, q)),
        Direction::Add => (-loss_remove(zs, sigma, q), -loss_remove(-zs, sigma, q)),
    }
}

/// A discrete privacy loss distribution on the grid ℓ = (offset + i)·h, plus a mass at +∞.
#[derive(Clone, Debug, PartialEq)]
pub struct Pld {
    h: f64,
    offset: i64,
    probs: Vec<f64>,
    inf_mass: f64,
}

impl Pld {
    /// The identity (no privacy loss): all mass at 0.
    pub fn identity(h: f64) -> Pld {
        Pld {
            h,
            offset: 0,
            probs: vec![1.0],
            inf_mass: 0.0,
        }
    }

    /// The connect-the-dots PLD of one step of the Poisson-subsampled Gaussian in one
    /// direction, on a grid of interval `h` (module docs).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for σ ≤ 0, q ∉ (0, 1], h not finite and positive, or a
    /// grid of more than 2²³ points (use a coarser h).
    pub fn subsampled_gaussian(sigma: f64, q: f64, h: f64, dir: Direction) -> Result<Pld> {
        check_noise_multiplier(sigma)?;
        check_sampling_rate(q)?;
        crate::error::check_positive("value_discretization_interval", h)?;
        let (lo, hi) = loss_range(sigma, q, dir);
        let (i_lo, i_hi) = ((lo / h).floor(), (hi / h).ceil());
        let n = i_hi - i_lo + 1.0;
        if !(n.is_finite() && n <= MAX_FFT_LEN as f64) {
            return Err(Error::invalid(
                "value_discretization_interval",
                h,
                format!("the loss range [{lo}, {hi}] needs {n} grid points (at most 2^23)"),
            ));
        }
        let (i_lo, n) = (i_lo as i64, n as usize);
        let deltas: Vec<f64> = (0..n)
            .map(|k| subsampled_gaussian_delta((i_lo + k as i64) as f64 * h, sigma, q, dir))
            .collect();
        Ok(Pld::from_deltas(h, i_lo, &deltas))
    }

    /// The discrete PLD whose δ-curve connects the dots (e^{ℓ_i}, deltas[i]) (module docs).
    fn from_deltas(h: f64, offset: i64, d: &[f64]) -> Pld {
        let n = d.len();
        let a = 1.0 / (-(-h).exp_m1()); // 1/(1 − e^{−h})
        let b = 1.0 / h.exp_m1(); // 1/(e^h − 1)
        let mut probs = vec![0.0; n];
        for i in 0..n {
            let left = if i == 0 {
                1.0 - d[0]
            } else {
                (d[i - 1] - d[i]) * a
            };
            let right = if i + 1 < n {
                (d[i] - d[i + 1]) * b
            } else {
                0.0
            };
            probs[i] = (left - right).max(0.0);
        }
        Pld {
            h,
            offset,
            probs,
            inf_mass: d[n - 1].clamp(0.0, 1.0),
        }
    }

    /// The grid interval h.
    pub fn interval(&self) -> f64 {
        self.h
    }

    /// The mass at +∞ (δ at every finite ε is at least this).
    pub fn infinity_mass(&self) -> f64 {
        self.inf_mass
    }

    /// Number of grid points.
    pub fn len(&self) -> usize {
        self.probs.len()
    }

    /// Whether the PMF has no grid points (never, for a constructed PLD).
    pub fn is_empty(&self) -> bool {
        self.probs.is_empty()
    }

    fn loss(&self, i: usize) -> f64 {
        (self.offset + i as i64) as f64 * self.h
    }

    /// δ(ε) = m_∞ + Σ_{ℓ_i > ε} p_i (1 − e^{ε − ℓ_i}).
    pub fn delta_for_epsilon(&self, epsilon: f64) -> f64 {
        let mut d = self.inf_mass;
        for (i, &p) in self.probs.iter().enumerate() {
            let l = self.loss(i);
            if l > epsilon {
                d += p * -(epsilon - l).exp_m1();
            }
        }
        d.min(1.0)
    }

    /// The smallest ε ≥ 0 with δ(ε) ≤ δ, rounded up by one ulp where it is positive (0 stays
    /// 0, as in the RDP accountant: one ulp above 0 would report a loss where there is none);
    /// +∞ when the mass at +∞ alone exceeds δ.
    pub fn epsilon_for_delta(&self, delta: f64) -> f64 {
        if self.inf_mass > delta {
            return f64::INFINITY;
        }
        let eh = (-self.h).exp();
        // Scanning down: a = Σ_{j>i} p_j, c = Σ_{j>i} p_j e^{ℓ_i − ℓ_j}.
        let (mut a, mut c) = (0.0f64, 0.0f64);
        for i in (0..self.probs.len()).rev() {
            let d_i = self.inf_mass + a - c;
            if d_i > delta {
                // On (ℓ_i, ℓ_{i+1}]: δ(ε) = m + a − e^{ε − ℓ_i} c.
                let eps = self.loss(i) + ((self.inf_mass + a - delta) / c).ln();
                return round_up_or_zero(eps);
            }
            a += self.probs[i];
            c = eh * (c + self.probs[i]);
        }
        // Below ℓ_0: δ(ε) = m + a − e^{ε − ℓ_0}·(c/e^{−h}).
        let c0 = c / eh;
        if c0 <= 0.0 {
            return 0.0;
        }
        let eps = self.loss(0) + ((self.inf_mass + a - delta) / c0).ln();
        round_up_or_zero(eps)
    }

    /// The T-fold composition with itself (module docs). `None` when the window would need
    /// more than 2²³ points at this grid interval.
    pub fn self_compose(&self, t: u64) -> Option<Pld> {
        if t == 1 {
            return Some(self.clone());
        }
        let tf = t as f64;
        let n = self.probs.len();
        let (s_lo, s_hi) = self.chernoff_window(tf);
        // Window in absolute grid indices, inside the trivially possible range.
        let abs_lo = (s_lo / self.h).floor().max(tf * self.offset as f64);
        let abs_hi = (s_hi / self.h)
            .ceil()
            .min(tf * (self.offset as f64 + (n - 1) as f64));
        let len = abs_hi - abs_lo + 1.0;
        if !(len.is_finite() && len <= MAX_FFT_LEN as f64) {
            return None;
        }
        let len = len.max(1.0) as usize;
        let big = len.max(n).next_power_of_two();
        if big > MAX_FFT_LEN {
            return None;
        }
        let mut buf = vec![C64::default(); big];
        for (b, &p) in buf.iter_mut().zip(&self.probs) {
            b.re = p;
        }
        fft(&mut buf, false);
        for z in buf.iter_mut() {
            *z = z.powf(tf);
        }
        fft(&mut buf, true);
        // Sum index s (relative to t·offset) lives at s mod big.
        let rel_lo = abs_lo - tf * self.offset as f64; // ≥ 0
        let start = (rel_lo % big as f64) as usize;
        let scale = 1.0 / big as f64;
        let probs: Vec<f64> = (0..len)
            .map(|j| (buf[(start + j) % big].re * scale).max(0.0))
            .collect();
        let inf = -(tf * (-self.inf_mass).ln_1p()).exp_m1();
        Some(Pld {
            h: self.h,
            offset: abs_lo as i64,
            probs,
            inf_mass: (inf + TAIL_MASS_TRUNCATION).min(1.0),
        })
    }

    /// Chernoff window [s_lo, s_hi] (in loss units) outside which the T-fold sum has at most
    /// TAIL_MASS_TRUNCATION/2 mass on each side.
    fn chernoff_window(&self, t: f64) -> (f64, f64) {
        let pts: Vec<(f64, f64)> = self
            .probs
            .iter()
            .enumerate()
            .filter(|(_, &p)| p > 0.0)
            .map(|(i, &p)| (self.loss(i), p.ln()))
            .collect();
        use rayon::prelude::*;
        let log_tail = (2.0 / TAIL_MASS_TRUNCATION).ln();
        let lams: Vec<f64> = (-12..=12)
            .flat_map(|k| [2f64.powi(k), -(2f64.powi(k))])
            .collect();
        // Each λ is independent; the min/max below is exact whatever the split, so the result
        // does not depend on the thread count.
        let bounds: Vec<f64> = lams
            .par_iter()
            .map(|&lam| {
                // One-pass log-sum-exp with a running maximum.
                let (mut m, mut s) = (f64::NEG_INFINITY, 0.0f64);
                for &(l, lp) in &pts {
                    let v = lp + lam * l;
                    if v > m {
                        s = s * (m - v).exp() + 1.0;
                        m = v;
                    } else {
                        s += (v - m).exp();
                    }
                }
                (t * (m + s.ln()) + log_tail) / lam
            })
            .collect();
        let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
        for (&lam, &bound) in lams.iter().zip(&bounds) {
            if !bound.is_finite() {
                continue;
            }
            if lam > 0.0 {
                hi = hi.min(bound);
            } else {
                lo = lo.max(bound);
            }
        }
        (lo, hi)
    }

    /// The composition of two PLDs on the same grid (full linear convolution by FFT).
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`]-style [`Error::Unsupported`] for different grid intervals;
    /// [`Error::InvalidParameter`] when the result would exceed 2²³ points.
    pub fn compose(&self, other: &Pld) -> Result<Pld> {
        if self.h != other.h {
            return Err(Error::Unsupported(format!(
                "composing PLDs with grid intervals {} and {}",
                self.h, other.h
            )));
        }
        let len = self.probs.len() + other.probs.len() - 1;
        let big = len.next_power_of_two();
        if big > MAX_FFT_LEN {
            return Err(Error::invalid(
                "value_discretization_interval",
                self.h,
                "the composed PLD needs more than 2^23 grid points",
            ));
        }
        let mut a = vec![C64::default(); big];
        let mut b = vec![C64::default(); big];
        for (z, &p) in a.iter_mut().zip(&self.probs) {
            z.re = p;
        }
        for (z, &p) in b.iter_mut().zip(&other.probs) {
            z.re = p;
        }
        fft(&mut a, false);
        fft(&mut b, false);
        for (x, y) in a.iter_mut().zip(&b) {
            *x = C64 {
                re: x.re * y.re - x.im * y.im,
                im: x.re * y.im + x.im * y.re,
            };
        }
        fft(&mut a, true);
        let scale = 1.0 / big as f64;
        Ok(Pld {
            h: self.h,
            offset: self.offset + other.offset,
            probs: a[..len].iter().map(|z| (z.re * scale).max(0.0)).collect(),
            inf_mass: 1.0 - (1.0 - self.inf_mass) * (1.0 - other.inf_mass),
        })
    }
}

/// The composed PLD of `events` (σ, q, count) in one direction at grid interval h; `None`
/// when a window exceeds the size limit.
fn composed(events: &[(f64, f64, u64)], h: f64, dir: Direction) -> Result<Option<Pld>> {
    let mut acc: Option<Pld> = None;
    for &(sigma, q, count) in events {
        // q = 1: T Gaussian steps are exactly one Gaussian step with noise multiplier σ/√T
        // (the sum of the T noisy answers is a sufficient statistic; Dong, Roth & Su 2022,
        // Cor. 3.3), so discretise that once instead of composing.
        let (sigma, count) = if q >= 1.0 {
            (sigma / (count as f64).sqrt(), 1)
        } else {
            (sigma, count)
        };
        let one = match Pld::subsampled_gaussian(sigma, q, h, dir) {
            Ok(p) => p,
            Err(Error::InvalidParameter { name, .. })
                if name == "value_discretization_interval" =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let Some(many) = one.self_compose(count) else {
            return Ok(None);
        };
        acc = Some(match acc {
            None => many,
            Some(prev) => match prev.compose(&many) {
                Ok(p) => p,
                Err(Error::InvalidParameter { .. }) => return Ok(None),
                Err(e) => return Err(e),
            },
        });
    }
    Ok(acc)
}

/// The PLDs (remove, add) of the composition of `events` (σ, q, count), starting at grid
/// interval `h` and doubling it while a window is too large.
fn composed_both(events: &[(f64, f64, u64)], h: f64) -> Result<(Pld, Pld)> {
    crate::error::check_positive("value_discretization_interval", h)?;
    for &(s, q, t) in events {
        check_noise_multiplier(s)?;
        check_sampling_rate(q)?;
        check_steps(t)?;
    }
    // A single step never needs more than 2²⁰ grid points: start coarser when it would.
    let mut h = h;
    for &(sigma, q, t) in events {
        let s = if q >= 1.0 {
            sigma / (t as f64).sqrt()
        } else {
            sigma
        };
        for dir in [Direction::Remove, Direction::Add] {
            let (lo, hi) = loss_range(s, q, dir);
            while (hi - lo) / h > (1u64 << 20) as f64 && h < 1.0 {
                h *= 2.0;
            }
        }
    }
    loop {
        // The two directions are independent computations.
        let (rem, add) = rayon::join(
            || composed(events, h, Direction::Remove),
            || composed(events, h, Direction::Add),
        );
        let (rem, add) = (rem?, add?);
        if let (Some(r), Some(a)) = (rem, add) {
            return Ok((r, a));
        }
        h *= 2.0;
        if h > 1.0 {
            return Err(Error::Unsupported(
                "the PLD of this composition does not fit in 2^23 grid points even at interval 1"
                    .into(),
            ));
        }
    }
}

/// ε at δ of the composition of `events` (σ, q, count), maximised over the add and remove
/// directions, starting at grid interval `h` and doubling it while a window is too large.
///
/// # Errors
/// [`Error::InvalidParameter`] for an invalid event or δ, and for δ < [`MIN_DELTA`];
/// [`Error::Unsupported`] when even a grid interval of 1 is too fine (absurdly long
/// compositions).
pub fn epsilon_for_events(events: &[(f64, f64, u64)], delta: f64, h: f64) -> Result<f64> {
    check_delta(delta)?;
    if delta < MIN_DELTA {
        return Err(Error::invalid(
            "delta",
            delta,
            format!(
                "the PLD accountant resolves only delta >= {MIN_DELTA:e} (1e-15 of truncated \
                 tail mass per composition, FFT rounding); use the RDP accountant"
            ),
        ));
    }
    if events.is_empty() {
        return Ok(0.0);
    }
    let (r, a) = composed_both(events, h)?;
    Ok(r.epsilon_for_delta(delta).max(a.epsilon_for_delta(delta)))
}

/// δ at ε of the composition of `events` (σ, q, count): the larger of the two directions'
/// δ(ε) = m_∞ + Σ_{ℓ_i > ε} p_i (1 − e^{ε − ℓ_i}) (Koskela, Jälkö & Honkela, AISTATS 2020;
/// dp-accounting's `get_delta_for_epsilon`), the inverse of [`epsilon_for_events`]. Never
/// reported below [`MIN_DELTA`], the accountant's resolution (the truncated tail mass is not
/// tracked below it), so the answer is conservative, never optimistic.
///
/// # Errors
/// [`Error::InvalidParameter`] for an invalid event or ε < 0 / non-finite;
/// [`Error::Unsupported`] as for [`epsilon_for_events`].
pub fn delta_for_events(events: &[(f64, f64, u64)], epsilon: f64, h: f64) -> Result<f64> {
    crate::privacy::check_epsilon_nonneg(epsilon)?;
    if events.is_empty() {
        return Ok(0.0);
    }
    let (r, a) = composed_both(events, h)?;
    Ok(r.delta_for_epsilon(epsilon)
        .max(a.delta_for_epsilon(epsilon))
        .clamp(MIN_DELTA, 1.0))
}

/// ε of `steps` compositions of the Poisson-subsampled Gaussian (rate q, noise multiplier σ)
/// at δ, PLD accountant with dp-accounting's default grid interval 1e-4.
///
/// # Errors
/// [`Error::InvalidParameter`] naming the first bad argument.
pub fn epsilon(q: f64, sigma: f64, steps: u64, delta: f64) -> Result<f64> {
    epsilon_for_events(&[(sigma, q, steps)], delta, DEFAULT_INTERVAL)
}

/// δ at ε of `steps` compositions of the Poisson-subsampled Gaussian (rate q, noise
/// multiplier σ), the inverse of [`epsilon`] (same grid; never below [`MIN_DELTA`]).
///
/// # Errors
/// [`Error::InvalidParameter`] naming the first bad argument.
pub fn delta(q: f64, sigma: f64, steps: u64, epsilon: f64) -> Result<f64> {
    delta_for_events(&[(sigma, q, steps)], epsilon, DEFAULT_INTERVAL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::accounting::rdp;

    /// Mutation: returning only the add direction's δ(ε) (not the max of both) makes the
    /// round trip land below 1e-5, since the remove direction dominates ε here (checked).
    #[test]
    fn delta_inverts_epsilon() {
        // ε(δ) then δ(ε) returns δ up to the one-ulp rounding of ε and the piecewise-linear
        // grid (both are exact on the same discrete PLD): within 1e-9 relative.
        for (q, s, t) in [(0.01, 1.0, 200u64), (0.2, 2.0, 10)] {
            let e = epsilon(q, s, t, 1e-5).unwrap();
            let d = delta(q, s, t, e).unwrap();
            assert!(
                (d - 1e-5).abs() <= 1e-14,
                "q {q} s {s} t {t}: eps {e} delta {d}"
            );
        }
        // Never below the resolution, never NaN.
        assert_eq!(delta(0.01, 5.0, 1, 50.0).unwrap(), MIN_DELTA);
        assert!(delta(0.01, 1.0, 1, -1.0).is_err());
    }

    #[test]
    fn directions_agree_at_full_batch_and_at_zero() {
        // q = 1: both directions are the Gaussian curve.
        for eps in [0.0, 0.5, 2.0] {
            let r = subsampled_gaussian_delta(eps, 1.3, 1.0, Direction::Remove);
            let a = subsampled_gaussian_delta(eps, 1.3, 1.0, Direction::Add);
            assert_eq!(r, a);
        }
        // ε = 0: δ is the total variation, q·TV(N(0,σ²), N(1,σ²)) = q(2Φ(1/(2σ)) − 1) in
        // both directions.
        let (s, q) = (0.8, 0.1);
        let tv = q * (2.0 * normal::cdf(0.5 / s) - 1.0);
        for dir in [Direction::Remove, Direction::Add] {
            let d = subsampled_gaussian_delta(0.0, s, q, dir);
            assert!((d - tv).abs() < 1e-15, "{dir:?}: {d} vs {tv}");
        }
        // Below ln(1 − q) the remove curve is 1 − e^ε; above −ln(1 − q) the add curve is 0.
        let e = (1.0f64 - q).ln() - 0.01;
        assert_eq!(
            subsampled_gaussian_delta(e, s, q, Direction::Remove),
            -e.exp_m1()
        );
        assert_eq!(subsampled_gaussian_delta(-e, s, q, Direction::Add), 0.0);
    }

    #[test]
    fn add_curve_matches_numerical_integral() {
        // δ_add(ε) = ∫ (p(x) − e^ε q(x))₊ dx with p = N(0,σ²), q = mixture, by the
        // trapezoid rule on [−12σ, 1 + 12σ] with 200k steps.
        let (s, q, eps) = (0.9f64, 0.2f64, 0.05f64);
        let pdf = |x: f64, m: f64| {
            (-(x - m) * (x - m) / (2.0 * s * s)).exp() / (s * (2.0 * std::f64::consts::PI).sqrt())
        };
        let (a, b, n) = (-12.0 * s, 1.0 + 12.0 * s, 200_000);
        let dx = (b - a) / n as f64;
        let mut acc = 0.0;
        for k in 0..=n {
            let x = a + k as f64 * dx;
            let w = if k == 0 || k == n { 0.5 } else { 1.0 };
            let v = pdf(x, 0.0) - eps.exp() * ((1.0 - q) * pdf(x, 0.0) + q * pdf(x, 1.0));
            acc += w * v.max(0.0) * dx;
        }
        let d = subsampled_gaussian_delta(eps, s, q, Direction::Add);
        assert!((d - acc).abs() < 1e-7, "{d} vs {acc}");
    }

    #[test]
    fn single_step_discretisation_is_pessimistic_and_close() {
        let (s, q) = (1.0, 0.05);
        for dir in [Direction::Remove, Direction::Add] {
            let p = Pld::subsampled_gaussian(s, q, 1e-3, dir).unwrap();
            let mass: f64 = p.probs.iter().sum::<f64>() + p.inf_mass;
            // Telescoping gives exactly 1 in exact arithmetic; clamping rounding noise
            // (about 1e-16/h per point) at 0 can add a little.
            assert!((mass - 1.0).abs() < 1e-8, "{mass}");
            for eps in [0.0, 0.01, 0.1, 0.3, 1.0] {
                let exact = subsampled_gaussian_delta(eps, s, q, dir);
                let disc = p.delta_for_epsilon(eps);
                // At grid points the interpolant equals the curve up to rounding (1e-12 relative).
                assert!(
                    disc >= exact * (1.0 - 1e-12) - 1e-18,
                    "{dir:?} ε={eps}: {disc} < {exact}"
                );
                assert!(disc - exact < 1e-5, "{dir:?} ε={eps}: {disc} vs {exact}");
            }
        }
    }

    #[test]
    fn gaussian_composition_matches_closed_form() {
        // T steps of the Gaussian mechanism (q = 1) are one Gaussian with σ/√T (μ = √T/σ):
        // δ(ε) exact from Balle & Wang. T = 16, σ = 4: μ = 1.
        let p = Pld::subsampled_gaussian(4.0, 1.0, 1e-4, Direction::Remove)
            .unwrap()
            .self_compose(16)
            .unwrap();
        for eps in [0.5, 1.0, 2.0] {
            let exact = gaussian_delta(eps, 1.0);
            let got = p.delta_for_epsilon(eps);
            assert!(
                got >= exact && got - exact < 1e-5 * exact.max(1e-3),
                "ε={eps}: {got} vs {exact}"
            );
        }
        let e = p.epsilon_for_delta(1e-5);
        let exact_eps = {
            // bisection on the exact curve
            let (mut lo, mut hi) = (0.0, 20.0);
            for _ in 0..100 {
                let m = 0.5 * (lo + hi);
                if gaussian_delta(m, 1.0) > 1e-5 {
                    lo = m
                } else {
                    hi = m
                }
            }
            hi
        };
        assert!(e >= exact_eps && e - exact_eps < 1e-3, "{e} vs {exact_eps}");
    }

    #[test]
    fn pld_never_above_rdp_on_small_grid() {
        for &(q, s, t) in &[(0.01, 1.0, 100u64), (0.1, 2.0, 50), (1.0, 5.0, 10)] {
            let e_pld = epsilon(q, s, t, 1e-5).unwrap();
            let e_rdp = rdp::epsilon(q, s, t, 1e-5).unwrap();
            assert!(e_pld <= e_rdp, "q={q} σ={s} T={t}: pld {e_pld} rdp {e_rdp}");
        }
    }

    #[test]
    fn edges_are_finite_or_clear() {
        for &(q, s, t, d) in &[
            (1.0, 0.3, 1u64, 1e-12),
            (1.0, 0.3, 1000, 1e-12),
            (0.004_267, 1.1, 1, 1e-12),
            (0.5, 0.3, 10, 1e-12),
        ] {
            let e = epsilon(q, s, t, d).unwrap();
            assert!(e.is_finite() && e > 0.0, "{q} {s} {t} {d}: {e}");
        }
        assert!(epsilon(0.5, 0.0, 1, 1e-5).is_err());
        // Below MIN_DELTA: an error naming δ and the RDP accountant, not ε = +∞ (which was
        // returned below δ ≈ 1e-15 and made calibration claim that no σ reaches a target).
        for d in [1e-13, 1e-16, 1e-300] {
            let e = epsilon(0.01, 1.0, 100, d).unwrap_err().to_string();
            assert!(e.contains("`delta`") && e.contains("RDP"), "{e}");
        }
        assert!(epsilon(0.5, 1.0, 0, 1e-5).is_err());
    }

    /// Where δ(0) ≤ δ the answer is ε = 0 exactly, as the RDP accountant says. Fails with the
    /// old `next_up(eps.max(0.0))`, which reported 5e-324 there.
    #[test]
    fn no_loss_is_zero_not_one_ulp_above() {
        // δ(0) = q·TV(N(0, σ²), N(1, σ²)) = q(2Φ(1/(2σ)) − 1) ≈ 0.38·q at σ = 1.
        for &(q, s) in &[(1e-6, 1.0), (1e-300, 1.0), (0.5, 1e300), (1.0, 1e6)] {
            assert!(subsampled_gaussian_delta(0.0, s, q, Direction::Remove) < 1e-5);
            assert_eq!(epsilon(q, s, 1, 1e-5).unwrap(), 0.0, "q={q} σ={s}");
            assert_eq!(rdp::epsilon(q, s, 1, 1e-5).unwrap(), 0.0, "RDP q={q} σ={s}");
        }
        // Just above: δ(0) ≈ 0.38·q > δ, so ε > 0 and is still rounded up.
        let e = epsilon(1e-4, 1.0, 1, 1e-5).unwrap();
        assert!(e > 0.0 && e < 1.0, "{e}");
    }
}
