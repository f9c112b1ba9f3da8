//! Hard instances: the two worlds behind the lower bounds, as samplers.
//!
//! Almost every bound of the catalogue comes from two worlds A and B that produce the same
//! observed data (or message set) but have truths θ_A ≠ θ_B. For any estimator T, on every
//! run, by the triangle inequality,
//!
//!   max_W s·‖T(view) − θ_W‖ ≥ s·‖θ_A − θ_B‖/2,
//!
//! deterministically (s is the error metric's scale: 1 for means, μ for gradients of
//! μ-strongly convex quadratics). [`TwoWorld`] holds one such triple; the samplers below
//! return one per result, and each is unit-tested to satisfy the result's hypotheses in
//! **both** worlds — that is where the content lies, the inequality itself is free.
//!
//! | sampler | results | exact law |
//! |---|---|---|
//! | [`gauss_huber_pair`] | R1 (Huber), R6 (along 1/√d) | (1−η)N(0,σ²I) + ηQ0 along `dir` |
//! | [`gauss_strong_pair`] | R1 (strong) | ½N(0,σ²I) + ½N(Δ_S·dir, σ²I) |
//! | [`spike_pair`] | R3, R4, P2 | (1−2η)δ0 + ηδ_a + ηδ_{−a} along e1 |
//! | [`three_cluster`] | B1, B5 | n−2f zeros, f at +u, f at −u |
//! | [`quadratic_hetero`] | B2 | B1's clusters as local minimizers, ‖u‖ set by G |
//! | [`GbInstance`] | B3 (and B2 at B = 0) | 1-D quadratics with curvature b and centres ±c |
//! | [`dp_two_point`] | P1 (two-point) | n zeros vs k ones + n−k zeros |
//! | [`zipf_subpops`] | M1, M4 | Zipf(s) subpopulations with uniform labels |
//!
//! Randomness comes only from the caller's [`SimRng`] (use [`crate::rng::rng_for`]).

use crate::attacks::two_world::{delta_star, sample_q0};
use crate::data::Updates;
use crate::rng::{uniform_index, SimRng};
use crate::{Error, Result};
use nalgebra::DVector;
use rand::RngExt;
use rand_distr::StandardNormal;

/// One two-world instance: the view both worlds produce and the two truths.
#[derive(Clone, Debug)]
pub struct TwoWorld {
    /// The observed vectors (n columns of dimension d), identical in both worlds.
    pub view: Updates,
    /// The truth in world A.
    pub truth_a: DVector<f64>,
    /// The truth in world B.
    pub truth_b: DVector<f64>,
    /// Scale of the error metric: error_W(T) = scale·‖T − θ_W‖.
    pub scale: f64,
    /// Indices of the honest inputs in world A (empty for statistical instances, where
    /// every point is a draw from the observed law).
    pub honest_a: Vec<usize>,
    /// Indices of the honest inputs in world B.
    pub honest_b: Vec<usize>,
}

impl TwoWorld {
    /// scale·‖θ_A − θ_B‖.
    pub fn gap(&self) -> f64 {
        self.scale * (&self.truth_a - &self.truth_b).norm()
    }

    /// The error of an estimate in each world.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] when `est` does not have the truths' dimension.
    pub fn errors(&self, est: &[f64]) -> Result<(f64, f64)> {
        if est.len() != self.truth_a.len() {
            return Err(Error::DimensionMismatch {
                what: "estimate vs two-world truth".into(),
                expected: self.truth_a.len(),
                got: est.len(),
            });
        }
        let e = DVector::from_column_slice(est);
        Ok((
            self.scale * (&e - &self.truth_a).norm(),
            self.scale * (&e - &self.truth_b).norm(),
        ))
    }

    /// max over the two worlds of the error.
    ///
    /// # Errors
    /// As [`TwoWorld::errors`].
    pub fn max_error(&self, est: &[f64]) -> Result<f64> {
        let (a, b) = self.errors(est)?;
        Ok(a.max(b))
    }
}

/// The mean x̄_S of the inputs `idx` of `x` and their spread V_S = (1/|S|)·Σ_{i∈S} ‖x_i − x̄_S‖²
/// (the honest heterogeneity that (f, κ)-robustness is measured against). `idx` must be
/// non-empty.
pub fn mean_and_spread(x: &Updates, idx: &[usize]) -> (DVector<f64>, f64) {
    let v = x.view();
    let mean = v.mean_of(idx.iter().copied());
    let var = idx
        .iter()
        .map(|&i| {
            v.col(i)
                .iter()
                .zip(mean.iter())
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
        })
        .sum::<f64>()
        / idx.len() as f64;
    (mean, var)
}

fn check_eta(eta: f64) -> Result<()> {
    if !(0.0..0.5).contains(&eta) {
        return Err(Error::invalid("eta", eta, "must lie in [0, 1/2)"));
    }
    Ok(())
}

fn unit(dir: &[f64]) -> Result<Vec<f64>> {
    let nrm = dir.iter().map(|v| v * v).sum::<f64>().sqrt();
    if !(nrm.is_finite() && nrm > 0.0) {
        return Err(Error::invalid(
            "dir",
            nrm,
            "direction must be non-zero and finite",
        ));
    }
    Ok(dir.iter().map(|v| v / nrm).collect())
}

fn gaussian_row(rng: &mut SimRng, d: usize, sigma: f64) -> Vec<f64> {
    (0..d)
        .map(|_| sigma * rng.sample::<f64, _>(StandardNormal))
        .collect()
}

fn rows_to_updates(rows: &[Vec<f64>]) -> Result<Updates> {
    Updates::from_rows(rows)
}

/// Validates the arguments shared by [`gauss_huber_pair`] and [`gauss_strong_pair`] and
/// returns `dir` normalized.
fn check_gauss_pair(n: usize, eta: f64, sigma: f64, dir: &[f64]) -> Result<Vec<f64>> {
    check_eta(eta)?;
    crate::error::check_positive("sigma", sigma)?;
    if n == 0 {
        return Err(Error::invalid("n", 0, "need at least one sample"));
    }
    unit(dir)
}

/// The two worlds of a Gaussian pair along the unit direction `u`: truths 0 and `delta`·`u`,
/// both consistent with `rows`.
fn gauss_pair_world(rows: &[Vec<f64>], u: &[f64], delta: f64) -> Result<TwoWorld> {
    let d = u.len();
    Ok(TwoWorld {
        view: rows_to_updates(rows)?,
        truth_a: DVector::zeros(d),
        truth_b: DVector::from_iterator(d, u.iter().map(|v| v * delta)),
        scale: 1.0,
        honest_a: Vec::new(),
        honest_b: Vec::new(),
    })
}

/// R1's Huber pair along the direction `dir` (e1 for R1, 1/√d for R6): n i.i.d. draws from
/// M = (1−η)N(0,σ²I) + ηQ0, where along `dir` Q0 ∝ (p1 − p0)₊ with p0 = N(0,σ²),
/// p1 = N(Δ*,σ²), Δ* = 2σΦ⁻¹(1/(2(1−η))), and orthogonally N(0,σ²I). M is also
/// (1−η)N(Δ*·dir, σ²I) + ηQ1, so both truths 0 and Δ*·dir are consistent with the data.
///
/// # Errors
/// [`Error::InvalidParameter`] for η ∉ [0, 1/2), σ ≤ 0, n = 0, or a zero direction.
pub fn gauss_huber_pair(
    rng: &mut SimRng,
    n: usize,
    eta: f64,
    sigma: f64,
    dir: &[f64],
) -> Result<TwoWorld> {
    let u = check_gauss_pair(n, eta, sigma, dir)?;
    let d = u.len();
    let delta = if eta == 0.0 {
        0.0
    } else {
        delta_star(eta, sigma)?
    };
    let mut rows = Vec::with_capacity(n);
    for _ in 0..n {
        let mut z = gaussian_row(rng, d, sigma);
        if eta > 0.0 && rng.random::<f64>() < eta {
            let q = sigma * sample_q0(rng, delta / sigma);
            let along: f64 = z.iter().zip(&u).map(|(a, b)| a * b).sum();
            for (zj, uj) in z.iter_mut().zip(&u) {
                *zj += (q - along) * uj;
            }
        }
        rows.push(z);
    }
    gauss_pair_world(&rows, &u, delta)
}

/// R1's strong-contamination pair: n i.i.d. draws from ½N(0,σ²I) + ½N(Δ_S·dir, σ²I),
/// Δ_S = 2σΦ⁻¹(1/2 + η), which is within TV η of both N(0,σ²I) and N(Δ_S·dir, σ²I).
///
/// # Errors
/// As [`gauss_huber_pair`].
pub fn gauss_strong_pair(
    rng: &mut SimRng,
    n: usize,
    eta: f64,
    sigma: f64,
    dir: &[f64],
) -> Result<TwoWorld> {
    let u = check_gauss_pair(n, eta, sigma, dir)?;
    let d = u.len();
    let delta = 2.0 * sigma * super::phi_inv_half_plus(eta);
    let mut rows = Vec::with_capacity(n);
    for _ in 0..n {
        let mut z = gaussian_row(rng, d, sigma);
        if rng.random::<f64>() < 0.5 {
            for (zj, uj) in z.iter_mut().zip(&u) {
                *zj += delta * uj;
            }
        }
        rows.push(z);
    }
    gauss_pair_world(&rows, &u, delta)
}

/// The spike laws of R3/R4: P± = (1−t)δ0 + t·δ_{±a} and the observed law
/// M = (1−2η)δ0 + ηδ_a + ηδ_{−a}.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spikes {
    /// Mass t of the spike in P±.
    pub t: f64,
    /// Spike position a.
    pub a: f64,
    /// Contamination fraction η.
    pub eta: f64,
}

impl Spikes {
    /// The spikes for contamination η (Huber: t = η/(1−η); strong: t = 2η) and moment bound σ
    /// of order k (`None`: variance, a = σ/√(t(1−t)), R3; `Some(k)`: a = σ·t^{−1/k}, R4,
    /// which meets the central k-th moment bound only for k ≥ 2).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for η ∉ (0, 1/2), σ ≤ 0 or k < 2.
    pub fn new(eta: f64, sigma: f64, k: Option<f64>, strong: bool) -> Result<Self> {
        if !(eta > 0.0 && eta < 0.5) {
            return Err(Error::invalid("eta", eta, "must lie in (0, 1/2)"));
        }
        crate::error::check_positive("sigma", sigma)?;
        let t = if strong { 2.0 * eta } else { eta / (1.0 - eta) };
        let a = match k {
            None => sigma / (t * (1.0 - t)).sqrt(),
            Some(k) if k.is_finite() && k >= 2.0 => sigma * t.powf(-1.0 / k),
            Some(k) => return Err(Error::invalid("k", k, "must be finite and >= 2")),
        };
        Ok(Spikes { t, a, eta })
    }

    /// Mean of P+ (P− has the opposite): t·a.
    pub fn mean(&self) -> f64 {
        self.t * self.a
    }

    /// Central k-th absolute moment of P± (k = 2: the variance).
    pub fn central_moment(&self, k: f64) -> f64 {
        let m = self.mean();
        (1.0 - self.t) * m.powf(k) + self.t * (self.a - m).abs().powf(k)
    }

    /// The observed law as (atom, mass) triples.
    pub fn observed(&self) -> [(f64, f64); 3] {
        [
            (0.0, 1.0 - 2.0 * self.eta),
            (self.a, self.eta),
            (-self.a, self.eta),
        ]
    }

    /// P+ as (atom, mass) triples (P− mirrors it).
    pub fn p_plus(&self) -> [(f64, f64); 2] {
        [(0.0, 1.0 - self.t), (self.a, self.t)]
    }
}

/// R3/R4's spike pair along e1 (other coordinates 0): n i.i.d. draws from the observed law
/// of [`Spikes`]; truths ±t·a·e1.
///
/// # Errors
/// Those of [`Spikes::new`]; n = 0 or d = 0.
pub fn spike_pair(rng: &mut SimRng, n: usize, d: usize, spikes: Spikes) -> Result<TwoWorld> {
    if n == 0 || d == 0 {
        return Err(Error::invalid("n", n, "need n >= 1 and d >= 1"));
    }
    let mut rows = Vec::with_capacity(n);
    for _ in 0..n {
        let r: f64 = rng.random();
        let x = if r < spikes.eta {
            spikes.a
        } else if r < 2.0 * spikes.eta {
            -spikes.a
        } else {
            0.0
        };
        let mut row = vec![0.0; d];
        row[0] = x;
        rows.push(row);
    }
    let mut ta = DVector::zeros(d);
    ta[0] = spikes.mean();
    Ok(TwoWorld {
        view: rows_to_updates(&rows)?,
        truth_b: -&ta,
        truth_a: ta,
        scale: 1.0,
        honest_a: Vec::new(),
        honest_b: Vec::new(),
    })
}

/// B1/B5's three-cluster instance: n − 2f zeros, then f copies of +u, then f copies of −u.
/// World A: honest = zeros ∪ {+u} (truth p·u, p = f/(n−f)); world B mirrors it.
///
/// # Errors
/// [`Error::InvalidParameter`] unless 1 ≤ f and 2f < n.
pub fn three_cluster(n: usize, f: usize, u: &[f64]) -> Result<TwoWorld> {
    if f == 0 || 2 * f >= n {
        return Err(Error::invalid(
            "f",
            f,
            format!("need 1 <= f and 2f < n = {n}"),
        ));
    }
    let d = u.len();
    let mut rows = vec![vec![0.0; d]; n - 2 * f];
    rows.extend(std::iter::repeat_n(u.to_vec(), f));
    rows.extend(std::iter::repeat_n(u.iter().map(|v| -v).collect(), f));
    let p = f as f64 / (n - f) as f64;
    let ta = DVector::from_iterator(d, u.iter().map(|v| p * v));
    Ok(TwoWorld {
        view: rows_to_updates(&rows)?,
        truth_b: -&ta,
        truth_a: ta,
        scale: 1.0,
        honest_a: (0..n - f).collect(),
        honest_b: (0..n - 2 * f).chain(n - f..n).collect(),
    })
}

/// B2's instance: local losses L_i(θ) = (μ/2)‖θ − z_i‖² with z the three clusters of
/// [`three_cluster`] along e1 and ‖u‖² = G²/(μ²·p(1−p)), so each world's honest
/// dissimilarity (1/|H|)Σ‖∇L_i − ∇L_H‖² = μ²·Var(z_H) equals G² at every θ. The view is the
/// workers' minimizers z_i (equivalently their gradients at any θ); the truth is the honest
/// minimizer z̄_H and the error metric ‖∇L_H(θ̂)‖ = μ‖θ̂ − z̄_H‖ (scale μ).
///
/// # Errors
/// [`Error::InvalidParameter`] unless 1 ≤ f, 2f < n, d ≥ 1, G > 0, μ > 0.
pub fn quadratic_hetero(n: usize, f: usize, g: f64, mu: f64, d: usize) -> Result<TwoWorld> {
    crate::error::check_positive("G", g)?;
    crate::error::check_positive("mu", mu)?;
    if d == 0 || f == 0 || 2 * f >= n {
        return Err(Error::invalid(
            "f",
            f,
            format!("need 1 <= f, 2f < n = {n}, d >= 1"),
        ));
    }
    let p = f as f64 / (n - f) as f64;
    let mut u = vec![0.0; d];
    u[0] = g / (mu * (p * (1.0 - p)).sqrt());
    let mut tw = three_cluster(n, f, &u)?;
    tw.scale = mu;
    Ok(tw)
}

/// B3's exact 1-D instance: n − 2f anchors with L_0(θ) = θ²/2, f workers with
/// L_+(θ) = (b/2)(θ − c)², f with L_−(θ) = (b/2)(θ + c)²; world A's honest set is anchors ∪
/// "+", world B's anchors ∪ "−". With p = f/(n−f), q = B²f/(n−2f) < 1:
/// b = (1 + q(1−p)/p)/(1−q), c = G/(b·√((1−q)p(1−p))). Both worlds satisfy (G,B)-dissimilarity
/// and give identical gradient messages at every θ.
#[derive(Clone, Copy, Debug)]
pub struct GbInstance {
    /// Workers.
    pub n: usize,
    /// Byzantine workers.
    pub f: usize,
    /// Additive heterogeneity.
    pub g: f64,
    /// Multiplicative heterogeneity.
    pub big_b: f64,
    /// Curvature of the ± groups.
    pub b: f64,
    /// Centre of the ± groups.
    pub c: f64,
    /// p = f/(n − f).
    pub p: f64,
}

impl GbInstance {
    /// Builds the instance; refuses at or past the breakdown point f/n ≥ 1/(2+B²).
    ///
    /// # Errors
    /// [`Error::OutsideHypotheses`] at or past the breakdown point;
    /// [`Error::InvalidParameter`] for f = 0, G ≤ 0 or B < 0.
    pub fn new(n: usize, f: usize, g: f64, big_b: f64) -> Result<Self> {
        crate::error::check_positive("G", g)?;
        crate::error::check_non_negative("B", big_b)?;
        if f == 0 || 2 * f >= n {
            return Err(Error::invalid(
                "f",
                f,
                format!("need 1 <= f and 2f < n = {n}"),
            ));
        }
        let p = f as f64 / (n - f) as f64;
        let q = big_b * big_b * f as f64 / (n - 2 * f) as f64;
        if q >= 1.0 {
            return Err(Error::OutsideHypotheses {
                bound: "B3 (allouah2023robust)".into(),
                reason: format!(
                    "hypothesis `f/n < 1/(2+B^2)` fails: f/n = {} >= {}; no finite instance exists",
                    f as f64 / n as f64,
                    1.0 / (2.0 + big_b * big_b)
                ),
            });
        }
        let b = (1.0 + q * (1.0 - p) / p) / (1.0 - q);
        let c = g / (b * ((1.0 - q) * p * (1.0 - p)).sqrt());
        Ok(GbInstance {
            n,
            f,
            g,
            big_b,
            b,
            c,
            p,
        })
    }

    /// The n gradient messages at θ (anchors, then "+", then "−"): the same in both worlds.
    pub fn messages(&self, theta: f64) -> Vec<f64> {
        let mut m = vec![theta; self.n - 2 * self.f];
        m.extend(std::iter::repeat_n(self.b * (theta - self.c), self.f));
        m.extend(std::iter::repeat_n(self.b * (theta + self.c), self.f));
        m
    }

    /// ∇L_H(θ) in world A (`plus` = true) or B.
    pub fn honest_grad(&self, theta: f64, plus: bool) -> f64 {
        let s = if plus { -1.0 } else { 1.0 };
        (1.0 - self.p) * theta + self.p * self.b * (theta + s * self.c)
    }

    /// Honest dissimilarity (1/|H|)Σ‖∇L_i − ∇L_H‖² at θ in world A or B.
    pub fn dissimilarity(&self, theta: f64, plus: bool) -> f64 {
        let s = if plus { -1.0 } else { 1.0 };
        let diff = theta - self.b * (theta + s * self.c);
        self.p * (1.0 - self.p) * diff * diff
    }

    /// Slack of the (G,B) condition at θ: G² + B²‖∇L_H‖² − dissimilarity (≥ 0 when it holds).
    pub fn gb_slack(&self, theta: f64, plus: bool) -> f64 {
        let gh = self.honest_grad(theta, plus);
        self.g * self.g + self.big_b * self.big_b * gh * gh - self.dissimilarity(theta, plus)
    }

    /// The two worlds at θ: view = messages, truths = the honest gradients (error metric
    /// |T − ∇L_W(θ)|). The half gap p·b·c = √(f·G²/(n − (2+B²)f)) is B3's bound.
    ///
    /// # Errors
    /// Never for a valid instance (internal construction).
    pub fn two_world(&self, theta: f64) -> Result<TwoWorld> {
        let rows: Vec<Vec<f64>> = self.messages(theta).into_iter().map(|v| vec![v]).collect();
        let n = self.n;
        let f = self.f;
        Ok(TwoWorld {
            view: rows_to_updates(&rows)?,
            truth_a: DVector::from_element(1, self.honest_grad(theta, true)),
            truth_b: DVector::from_element(1, self.honest_grad(theta, false)),
            scale: 1.0,
            honest_a: (0..n - f).collect(),
            honest_b: (0..n - 2 * f).chain(n - f..n).collect(),
        })
    }
}

/// P1's two datasets: D0 = n zeros, D1 = k ones and n − k zeros (means 0 and k/n).
///
/// # Errors
/// [`Error::InvalidParameter`] unless 1 ≤ k ≤ n.
pub fn dp_two_point(n: usize, k: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    if k == 0 || k > n {
        return Err(Error::invalid("k", k, format!("need 1 <= k <= n = {n}")));
    }
    let d0 = vec![0.0; n];
    let mut d1 = vec![0.0; n];
    for v in d1.iter_mut().take(k) {
        *v = 1.0;
    }
    Ok((d0, d1))
}

/// A long-tailed sample: N subpopulations with Zipf(s) frequencies, one uniform label in
/// 0..c per subpopulation, and n (subpopulation, label) draws.
#[derive(Clone, Debug)]
pub struct ZipfSample {
    /// π_x.
    pub freqs: Vec<f64>,
    /// The label of each subpopulation.
    pub labels: Vec<usize>,
    /// The n draws (subpopulation index, label).
    pub sample: Vec<(usize, usize)>,
}

impl ZipfSample {
    /// How many times each subpopulation was drawn.
    pub fn counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.freqs.len()];
        for &(x, _) in &self.sample {
            c[x] += 1;
        }
        c
    }
}

/// M1/M4's sampler.
///
/// # Errors
/// [`Error::InvalidParameter`] for N = 0, c < 2 or s < 0.
pub fn zipf_subpops(
    rng: &mut SimRng,
    big_n: usize,
    s: f64,
    c: usize,
    n: usize,
) -> Result<ZipfSample> {
    if big_n == 0 || c < 2 {
        return Err(Error::invalid(
            "N",
            big_n,
            "need N >= 1 subpopulations and c >= 2 classes",
        ));
    }
    crate::error::check_non_negative("s", s)?;
    let freqs = super::feldman2020does::zipf(big_n, s);
    let mut cum = Vec::with_capacity(big_n);
    let mut acc = 0.0;
    for p in &freqs {
        acc += p;
        cum.push(acc);
    }
    let labels: Vec<usize> = (0..big_n).map(|_| uniform_index(rng, c)).collect();
    let sample = (0..n)
        .map(|_| {
            let r: f64 = rng.random::<f64>() * acc;
            let x = cum.partition_point(|&v| v <= r).min(big_n - 1);
            (x, labels[x])
        })
        .collect();
    Ok(ZipfSample {
        freqs,
        labels,
        sample,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bounds::phi;
    use crate::rng::rng_for;

    /// Both worlds of the Huber pair: the observed density m = (1−η)p0 + η·q0 must dominate
    /// (1−η)·p_W for W ∈ {0, Δ*} with leftover mass exactly η (so Q_W is a law). Checked on a
    /// fine grid with the closed-form Q0 density (1/TV)(p1 − p0)₊, TV = η/(1−η).
    #[test]
    fn huber_pair_is_valid_in_both_worlds() {
        for eta in [0.01, 0.1, 0.3, 0.45] {
            let delta = delta_star(eta, 1.0).unwrap();
            let pdf = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
            let tv = 2.0 * phi(delta / 2.0) - 1.0;
            // statrs' Φ goes through erfc: ~1e-11 absolute here.
            assert!((tv - eta / (1.0 - eta)).abs() < 1e-9, "TV {tv}");
            let m = |x: f64| (1.0 - eta) * pdf(x) + eta * (pdf(x - delta) - pdf(x)).max(0.0) / tv;
            let (mut left0, mut left1) = (0.0, 0.0);
            let h = 1e-3;
            let mut x = -12.0;
            while x < 12.0 + delta {
                let r0 = m(x) - (1.0 - eta) * pdf(x);
                let r1 = m(x) - (1.0 - eta) * pdf(x - delta);
                assert!(r0 >= -1e-15 && r1 >= -1e-15, "eta {eta} x {x}: {r0} {r1}");
                left0 += r0 * h;
                left1 += r1 * h;
                x += h;
            }
            // Riemann sums of smooth integrands with h = 1e-3 (kinks at Δ*/2): error < 1e-5.
            assert!(
                (left0 - eta).abs() < 1e-5 && (left1 - eta).abs() < 1e-5,
                "{left0} {left1}"
            );
        }
    }

    #[test]
    fn huber_pair_sample_matches_its_law() {
        // 20000 draws at eta = 0.2: the contaminated coordinate's mean is
        // eta·E[Q0] with E[Q0] computed from q0's closed form; here we check the sample
        // median sits near Δ*/2 (M is symmetric about Δ*/2): |med − Δ*/2| < 4·sd,
        // sd ≈ 1/(2 m(Δ*/2) √n) ≈ 0.0095.
        let mut rng = rng_for(1, 0, 0).unwrap();
        let tw = gauss_huber_pair(&mut rng, 20000, 0.2, 1.0, &[1.0, 0.0]).unwrap();
        let mut x: Vec<f64> = tw.view.view().cols().map(|c| c[0]).collect();
        x.sort_by(f64::total_cmp);
        let med = x[x.len() / 2];
        let half = tw.truth_b[0] / 2.0;
        assert!((med - half).abs() < 0.04, "median {med} vs {half}");
        // Orthogonal coordinate untouched: N(0, 1), mean within 4/sqrt(n).
        let m1: f64 = tw.view.view().cols().map(|c| c[1]).sum::<f64>() / 20000.0;
        assert!(m1.abs() < 4.0 / 20000f64.sqrt());
    }

    #[test]
    fn strong_pair_is_within_tv_eta_of_both_worlds() {
        // TV(½N(0,1) + ½N(Δ,1), N(0,1)) = ½·TV(N(0,1), N(Δ,1)) = Φ(Δ/2) − 1/2 = η.
        for eta in [0.01, 0.2, 0.4] {
            let delta = 2.0 * crate::bounds::phi_inv_half_plus(eta);
            assert!((phi(delta / 2.0) - 0.5 - eta).abs() < 1e-9);
        }
        let mut rng = rng_for(2, 0, 0).unwrap();
        let tw = gauss_strong_pair(&mut rng, 10, 0.1, 1.0, &[1.0]).unwrap();
        assert_eq!(tw.view.n(), 10);
        assert!((tw.gap() / 2.0 - 0.2533471031357998).abs() < 1e-13);
    }

    #[test]
    fn spikes_satisfy_the_moment_hypotheses_in_both_worlds() {
        for eta in [0.01, 0.1, 0.3, 0.49] {
            for strong in [false, true] {
                // R3: the variance is exactly sigma^2 = 4 (both worlds mirror each other).
                let s = Spikes::new(eta, 2.0, None, strong).unwrap();
                assert!((s.central_moment(2.0) - 4.0).abs() < 1e-12 * 4.0);
                let lb = crate::bounds::steinhardt2018resilience::bounded_cov_lb(eta, 2.0, strong);
                assert!((s.mean() - lb).abs() < 1e-12 * lb, "{eta} {strong}");
                // R4: central k-th moment <= sigma^k.
                for k in [2.0, 3.0, 8.0] {
                    let s = Spikes::new(eta, 2.0, Some(k), strong).unwrap();
                    assert!(s.central_moment(k) <= 2f64.powf(k) * (1.0 + 1e-12));
                    let lb = crate::bounds::zhu2022generalized::kth_moment_lb(eta, 2.0, k, strong);
                    assert!((s.mean() - lb).abs() < 1e-12 * lb);
                }
                // The observed law is a contamination of P+ (and, mirrored, of P−).
                let obs = s.observed();
                let pp = s.p_plus();
                if strong {
                    // TV(M, P+) = ½(|M(0) − P+(0)| + |M(a) − P+(a)| + M(−a)) = η.
                    let tv =
                        0.5 * ((obs[0].1 - pp[0].1).abs() + (obs[1].1 - pp[1].1).abs() + obs[2].1);
                    assert!((tv - eta).abs() < 1e-12, "tv {tv}");
                } else {
                    // M − (1−η)P+ ≥ 0 atom by atom, with leftover mass η.
                    let r0 = obs[0].1 - (1.0 - eta) * pp[0].1;
                    let r1 = obs[1].1 - (1.0 - eta) * pp[1].1;
                    assert!(r0 >= -1e-15 && r1 >= -1e-15);
                    assert!((r0 + r1 + obs[2].1 - eta).abs() < 1e-12);
                }
            }
        }
        assert!(Spikes::new(0.5, 1.0, None, false).is_err());
        assert!(Spikes::new(0.1, 1.0, Some(1.5), false).is_err());
    }

    #[test]
    fn mean_and_spread_known_answer() {
        // Inputs (0, 0), (2, 0), (7, 7); S = {0, 1}: mean (1, 0), spread (1 + 1)/2 = 1.
        let x = Updates::from_rows(&[vec![0.0, 0.0], vec![2.0, 0.0], vec![7.0, 7.0]]).unwrap();
        let (mean, var) = mean_and_spread(&x, &[0, 1]);
        assert_eq!(mean.as_slice(), &[1.0, 0.0]);
        assert_eq!(var, 1.0);
    }

    #[test]
    fn three_cluster_and_quadratics_are_valid_in_both_worlds() {
        let tw = three_cluster(10, 2, &[1.0, -2.0]).unwrap();
        for (honest, truth) in [(&tw.honest_a, &tw.truth_a), (&tw.honest_b, &tw.truth_b)] {
            assert_eq!(honest.len(), 8); // n − f honest inputs
            let mean = tw.view.view().mean_of(honest.iter().copied());
            assert!((&mean - truth).norm() < 1e-15);
        }
        // Quadratics: dissimilarity mu^2·Var(z_H) = G^2 in both worlds.
        let (g, mu) = (1.5, 2.0);
        let tw = quadratic_hetero(11, 3, g, mu, 2).unwrap();
        for honest in [&tw.honest_a, &tw.honest_b] {
            let (_, var) = mean_and_spread(&tw.view, honest);
            assert!((mu * mu * var - g * g).abs() < 1e-12, "{}", mu * mu * var);
        }
        // Half gap = sqrt(B2's bound).
        let b2 = 3.0 * g * g / 5.0;
        assert!((tw.gap() / 2.0 - b2.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn gb_instance_satisfies_gb_in_both_worlds_and_refuses_past_breakdown() {
        for (n, f, g, bb) in [
            (20, 3, 1.0, 1.0),
            (20, 3, 2.0, 0.0),
            (30, 4, 1.0, 1.5),
            (10, 1, 0.5, 2.0),
        ] {
            let inst = GbInstance::new(n, f, g, bb).unwrap();
            let mut min_slack = f64::INFINITY;
            for i in -400..=400 {
                let theta = f64::from(i) * 0.05 * (inst.c + 1.0);
                for plus in [true, false] {
                    let s = inst.gb_slack(theta, plus);
                    // 1e-9 relative to G^2 + B^2 grad^2 (terms up to ~1e4): rounding only.
                    let scale = g * g + bb * bb * inst.honest_grad(theta, plus).powi(2);
                    assert!(
                        s >= -1e-9 * scale.max(1.0),
                        "n {n} f {f}: slack {s} at {theta}"
                    );
                    min_slack = min_slack.min(s / scale.max(1e-300));
                }
            }
            // Tight: the relative slack gets close to zero somewhere on the grid.
            assert!(min_slack < 1e-3, "slack never small: {min_slack}");
            // Messages identical in both worlds by construction; half gap = sqrt(B3).
            let tw = inst.two_world(0.3).unwrap();
            let b3 = crate::bounds::allouah2023robust::hetero_lb_grad_sq(n, f, g, bb).unwrap();
            assert!((tw.gap() / 2.0 - b3.sqrt()).abs() < 1e-10 * b3.sqrt().max(1.0));
            // The honest gradients are the means of the honest messages.
            let m = inst.messages(0.3);
            let ga: f64 = tw.honest_a.iter().map(|&i| m[i]).sum::<f64>() / (n - f) as f64;
            assert!((ga - tw.truth_a[0]).abs() < 1e-12);
        }
        // Reference known answer: n = 20, f = 3, B = 1, G = 1 → 0.272727.
        let inst = GbInstance::new(20, 3, 1.0, 1.0).unwrap();
        let d = inst.p * inst.b * inst.c;
        assert!((d * d - 3.0 / 11.0).abs() < 1e-12);
        // At or past 1/(2+B^2): refused for every G.
        for g in [1e-6, 1.0, 1e6] {
            assert!(matches!(
                GbInstance::new(9, 3, g, 1.0),
                Err(Error::OutsideHypotheses { .. })
            ));
            assert!(GbInstance::new(20, 7, g, 1.0).is_err());
        }
    }

    #[test]
    fn dp_two_point_and_zipf() {
        let (d0, d1) = dp_two_point(10, 3).unwrap();
        assert_eq!(d0.iter().sum::<f64>(), 0.0);
        assert_eq!(d1.iter().sum::<f64>(), 3.0);
        assert_eq!(d0.iter().zip(&d1).filter(|(a, b)| a != b).count(), 3);
        assert!(dp_two_point(3, 4).is_err());
        // Zipf(1), N = 5000, n = 1000: the empirical singleton mass averages to mass_1 =
        // 0.108 (40 replicates; sd per replicate ≈ 0.01, so the mean is within ±0.006).
        let mut tot = 0.0;
        for r in 0..40 {
            let mut rng = rng_for(5, 0, r).unwrap();
            let z = zipf_subpops(&mut rng, 5000, 1.0, 10, 1000).unwrap();
            let c = z.counts();
            tot += z
                .freqs
                .iter()
                .zip(&c)
                .filter(|(_, &k)| k == 1)
                .map(|(p, _)| p)
                .sum::<f64>();
            assert!(z.sample.iter().all(|&(x, y)| z.labels[x] == y));
        }
        let m1 = crate::bounds::feldman2020does::singleton_mass(
            &crate::bounds::feldman2020does::zipf(5000, 1.0),
            1000,
        );
        assert!((tot / 40.0 - m1).abs() < 0.006, "{} vs {m1}", tot / 40.0);
    }
}
