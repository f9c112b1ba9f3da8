//! Shared numerical kernels of the spectral and subset-search rules (MDA, CAF, SMEA, the
//! spectral filter, DnC).
//!
//! With n ≪ d every quantity these rules need lives in the span of the centred inputs, which
//! has dimension m ≤ min(n − 1, d). [`Embedding`] computes the centred n×n Gram matrix once
//! (O(n²d), cache-blocked, parallel over fixed coordinate chunks) and factors it into
//! coordinates zᵢ ∈ ℝᵐ with zᵢ·zⱼ = (xᵢ − x̄)·(xⱼ − x̄). Means, covariances, eigenvectors and
//! projections are then O(n²)–O(n³) operations that never touch d again; only the final
//! weighted mean goes back to ℝᵈ.
//!
//! Determinism: every parallel kernel splits the coordinates into chunks of a fixed size (not
//! a function of the thread count) and combines chunk results in chunk order, so results are
//! the same bytes for any number of threads on a given machine. (The Gram kernel calls
//! `matrixmultiply`, whose micro-kernel is chosen by CPU features, so the last bits may differ
//! between machines.)

use crate::data::{add_weighted_rows, for_each_block_mut, mean_without_overflow, UpdatesView};
use crate::rng::SimRng;
use crate::{Error, Result};
use nalgebra::{DMatrix, DMatrixView, DVector, Dyn};
use rand::RngExt;
use rand_distr::{ChiSquared, StandardNormal};
use rayon::prelude::*;

/// Coordinates per parallel task. Fixed, so the summation order never depends on threads.
const CHUNK: usize = 1 << 14;
/// Coordinates per cache block inside a task (n · BLOCK · 8 bytes stays in L2 for n ≲ 100).
const BLOCK: usize = 1024;
/// Rows of the Gram matrix per gemm call: bands of 16 rows skip most of the lower triangle
/// (≈ 65% of the full product at n = 50) while keeping matrixmultiply's tiles full.
const ROWS: usize = 16;
/// nalgebra sends a product to matrixmultiply only when every dimension exceeds 5.
const SMALL: usize = 5;

/// Largest ratio max‖xᵢ‖² / mean‖xᵢ − x̄‖² for which the centred Gram matrix is taken from
/// the raw product XᵀX: it loses about log₁₀ of this ratio in digits to cancellation (at most
/// 6 of 16 here). Beyond it (inputs far from the origin relative to their spread, such as
/// model weights) the product is recomputed on differences xᵢ − x₀.
const MAX_CANCELLATION: f64 = 1e6;

/// The n×n Gram matrix of the centred inputs, Gᵢⱼ = (xᵢ − x̄)·(xⱼ − x̄), exactly symmetric.
///
/// The upper triangle of XᵀX is accumulated over cache blocks of coordinates with
/// matrixmultiply's SIMD gemm (reading the inputs in place, bands of [`ROWS`] rows), then
/// centred as G = P (XᵀX) P with P = I − 11ᵀ/n. When that would cancel more than
/// [`MAX_CANCELLATION`] allows, the product is recomputed on block-wise copies of xᵢ − x₀,
/// whose entries scale with the spread of the data rather than with ‖xᵢ‖² (centring is
/// invariant to the reference point).
///
/// Any ±∞ in the input makes some diagonal entry of the product non-finite, so the O(n²)
/// check of G replaces a separate O(nd) finiteness pass.
///
/// # Errors
/// [`Error::NonFinite`] (naming `rule`) when an input is infinite or so large that its
/// squares overflow.
pub(crate) fn centred_gram(x: UpdatesView<'_>, rule: &str) -> Result<DMatrix<f64>> {
    let raw = product(x, None);
    let norms = raw.diagonal();
    let g = centre(raw);
    if !g.iter().all(|v| v.is_finite()) {
        return Err(non_finite(rule));
    }
    let n = g.nrows();
    let spread = g.trace() / n as f64;
    let biggest = norms.iter().copied().fold(0.0, f64::max);
    if biggest <= MAX_CANCELLATION * spread || biggest == 0.0 {
        return Ok(g);
    }
    let g = centre(product(x, Some(x.col(0))));
    if g.iter().all(|v| v.is_finite()) {
        Ok(g)
    } else {
        Err(non_finite(rule))
    }
}

/// Most orders of magnitude by which the inputs' largest squared distance from their mean may
/// exceed the squared distances within the majority before [`gram_about_majority`] leaves
/// the mean-centred Gram matrix: 10⁸, so at least half of f64's 16 digits of the majority's
/// squared distances survive in it.
const MAX_SPREAD_LOSS: f64 = 1e8;

/// A Gram matrix about some point r, Gᵢⱼ = (xᵢ − r)·(xⱼ − r), accurate for the spread of the
/// majority, for the computations that do not depend on r: weighted covariances
/// ([`Embedding::weighted_top`] after [`Embedding::gram_only`]) and pairwise distances
/// Gᵢᵢ + Gⱼⱼ − 2Gᵢⱼ. CAF and the spectral filter use it.
///
/// Why not always [`centred_gram`]: with one input 10ᵏ times farther out than the spread of
/// the others, every xᵢ − x̄ is about 10ᵏ/n long, and the centred entries of two near inputs
/// are numbers of size 10²ᵏ/n² whose last digits carry their own spread: from k ≈ 8 on it is
/// lost, and the filters, once the outlier's weight is 0, rank the near inputs by rounding
/// errors (CAF and the spectral filter moved by 3–20 % of the honest spread at k = 10–16
/// where the exact answer moves by 10⁻¹⁰ of it). So the centred matrix is kept when the
/// squared distances within the majority are not more than [`MAX_SPREAD_LOSS`] below its
/// largest diagonal entry (an O(n²) check on the matrix, under 1 µs at n = 50 when no two
/// inputs are that close, measured: the common case pays no pass over the data), and otherwise the product is recomputed about r = the input whose median
/// squared distance to the others is smallest, which lies in the majority when fewer than half
/// the inputs are far (the same remedy as SMEA's [`Embedding::around`]).
///
/// # Errors
/// Those of [`centred_gram`].
pub(crate) fn gram_about_majority(x: UpdatesView<'_>, rule: &str) -> Result<DMatrix<f64>> {
    let g = centred_gram(x, rule)?;
    let n = g.nrows();
    let diag: Vec<f64> = (0..n).map(|i| g[(i, i)]).collect();
    let top = diag.iter().copied().fold(0.0, f64::max);
    let sq_dist = |i: usize, j: usize| (diag[i] + diag[j] - 2.0 * g[(i, j)]).max(0.0);
    // Fast exit, the common case: no two inputs are close enough to have lost digits.
    let nearest = (0..n)
        .flat_map(|j| (0..j).map(move |i| (i, j)))
        .map(|(i, j)| sq_dist(i, j))
        .fold(f64::INFINITY, f64::min);
    if n < 3 || nearest * MAX_SPREAD_LOSS >= top {
        return Ok(g);
    }
    let mut row = vec![0.0; n - 1];
    let (mut medoid, mut closest) = (0, f64::INFINITY);
    for i in 0..n {
        for (r, j) in row.iter_mut().zip((0..n).filter(|&j| j != i)) {
            *r = sq_dist(i, j);
        }
        let (_, &mut med, _) = row.select_nth_unstable_by((n - 1) / 2, f64::total_cmp);
        if med < closest {
            (medoid, closest) = (i, med);
        }
    }
    if closest * MAX_SPREAD_LOSS >= top {
        return Ok(g);
    }
    let h = product(x, Some(x.col(medoid)));
    if h.iter().all(|v| v.is_finite()) {
        Ok(h)
    } else {
        Err(non_finite(rule))
    }
}

/// Gᵢⱼ ← Gᵢⱼ − r̄ᵢ − r̄ⱼ + mean(r̄) (r̄ the row means): P G P, made exactly symmetric.
pub(crate) fn centre(mut g: DMatrix<f64>) -> DMatrix<f64> {
    let n = g.nrows();
    let row: Vec<f64> = (0..n).map(|i| g.row(i).sum() / n as f64).collect();
    let all = row.iter().sum::<f64>() / n as f64;
    for i in 0..n {
        for j in 0..n {
            g[(i, j)] += all - row[i] - row[j];
        }
    }
    symmetrize(&mut g);
    g
}

/// Full symmetric YᵀY where Y = X (no reference) or Y = X − r1ᵀ (`reference` r), parallel
/// over fixed coordinate chunks summed in chunk order.
fn product(x: UpdatesView<'_>, reference: Option<&[f64]>) -> DMatrix<f64> {
    let shifted = reference.is_some();
    let (n, d) = (x.n(), x.d());
    let chunks = d.div_ceil(CHUNK);
    let partials: Vec<DMatrix<f64>> = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let lo = c * CHUNK;
            let hi = d.min(lo + CHUNK);
            let mut g = DMatrix::<f64>::zeros(n, n);
            let mut buf = if shifted {
                vec![0.0; BLOCK * n]
            } else {
                Vec::new()
            };
            let x0 = reference.unwrap_or(&[]);
            let mut b0 = lo;
            while b0 < hi {
                let len = BLOCK.min(hi - b0);
                if shifted {
                    let buf = &mut buf[..len * n];
                    let r = &x0[b0..b0 + len];
                    for (out, col) in buf.chunks_exact_mut(len).zip(x.cols()) {
                        for ((o, v), r) in out.iter_mut().zip(&col[b0..b0 + len]).zip(r) {
                            *o = v - r;
                        }
                    }
                    gram_upper(&mut g, buf, len, len, n);
                } else {
                    gram_upper(&mut g, &x.as_slice()[b0..], d, len, n);
                }
                b0 += len;
            }
            g
        })
        .collect();
    let mut g = DMatrix::<f64>::zeros(n, n);
    for p in &partials {
        g += p;
    }
    for i in 0..n {
        for j in (i + 1)..n {
            g[(j, i)] = g[(i, j)];
        }
    }
    g
}

/// The error of a rule that is undefined on infinite input.
pub(crate) fn non_finite(rule: &str) -> Error {
    Error::NonFinite {
        what: format!("input of {rule}"),
        detail: "infinite entries (the `inf` attack) or squares that overflow: ByzFL 0.0.11 \
                 computes NaN here; `--compat native` sets such inputs aside first"
            .into(),
    }
}

/// The symmetric n×n Gram matrix YᵀY of the columns of the len×n column-major `buf`.
pub(crate) fn gram_of_columns(buf: &[f64], len: usize, n: usize) -> DMatrix<f64> {
    let mut g = DMatrix::<f64>::zeros(n, n);
    gram_upper(&mut g, buf, len, len, n);
    for i in 0..n {
        for j in (i + 1)..n {
            g[(j, i)] = g[(i, j)];
        }
    }
    g
}

/// Adds the upper triangle (and diagonal) of YᵀY to `g`, where column i of the len×n matrix
/// Y is `data[i·stride .. i·stride + len]`.
fn gram_upper(g: &mut DMatrix<f64>, data: &[f64], stride: usize, len: usize, n: usize) {
    let y = DMatrixView::<f64, Dyn, Dyn>::from_slice_with_strides(data, len, n, 1, stride);
    let yt = DMatrixView::<f64, Dyn, Dyn>::from_slice_with_strides(data, n, len, stride, 1);
    let mut r0 = 0;
    while r0 < n {
        let rows = ROWS.min(n - r0);
        let cols = n - r0;
        if rows > SMALL && cols > SMALL && len > SMALL {
            // nalgebra hands these shapes to matrixmultiply, which takes any strides.
            g.view_mut((r0, r0), (rows, cols)).gemm(
                1.0,
                &yt.rows(r0, rows),
                &y.columns(r0, cols),
                1.0,
            );
        } else {
            // Small shapes: plain dot products (nalgebra's small-matrix fallback does not
            // support these strided views).
            for i in r0..r0 + rows {
                let yi = &data[i * stride..i * stride + len];
                for j in i..n {
                    let yj = &data[j * stride..j * stride + len];
                    g[(i, j)] += yi.iter().zip(yj).map(|(a, b)| a * b).sum::<f64>();
                }
            }
        }
        r0 += rows;
    }
}

/// The centred inputs in coordinates of an orthonormal basis of their span.
#[derive(Clone, Debug)]
pub(crate) struct Embedding {
    /// m×n: column i holds coordinates of xᵢ − x̄ in an orthonormal basis of the span
    /// (m = numerical rank, ≤ min(n − 1, d)); zᵢ·zⱼ = Gᵢⱼ up to the rank cut.
    pub z: DMatrix<f64>,
    /// The centred Gram matrix G (n×n); after [`Embedding::gram_only`], possibly a Gram matrix
    /// about another point.
    pub gram: DMatrix<f64>,
    /// Ambient dimension d of the inputs.
    pub d: usize,
}

/// Top eigenpair of a weighted covariance, as the rules use it.
#[derive(Clone, Debug)]
pub(crate) struct WeightedTop {
    /// λ_max of Σᵢ ŵᵢ(xᵢ − μ)(xᵢ − μ)ᵀ, ŵ = w/Σw, μ = Σŵᵢxᵢ.
    pub lambda: f64,
    /// τᵢ = ((xᵢ − μ)·v)² for every input, v the unit top eigenvector (all 0 when λ = 0).
    pub tau: Vec<f64>,
}

impl Embedding {
    /// Embeds the columns of `x` (one O(n²d) Gram pass, then an O(n³) factorization).
    ///
    /// # Errors
    /// Those of [`centred_gram`].
    pub fn new(x: UpdatesView<'_>, rule: &str) -> Result<Self> {
        Ok(Self::from_gram(centred_gram(x, rule)?, x.d()))
    }

    /// The Gram matrix alone, for callers that only need [`Embedding::weighted_top`] (no
    /// coordinates: `z` is 0×n). `g` may be the Gram matrix about any point (such as
    /// [`gram_about_majority`]'s): the weighted covariance does not depend on it.
    pub fn gram_only(g: DMatrix<f64>, d: usize) -> Self {
        let n = g.nrows();
        Embedding {
            z: DMatrix::zeros(0, n),
            gram: g,
            d,
        }
    }

    /// Whether all inputs coincide (zero spread).
    pub fn is_degenerate(&self) -> bool {
        let t = self.gram.trace();
        t <= 0.0 || t.is_nan()
    }

    /// Factors a centred Gram matrix by Cholesky with diagonal pivoting, G ≈ LLᵀ with L
    /// n×m, stopping when the largest remaining pivot is at most 10⁻¹² of the largest
    /// diagonal entry; z = Lᵀ. Any orthonormal basis of the span serves (the rules only use
    /// inner products and Gaussian draws, both basis-free), and this one costs O(n m²)
    /// instead of an eigendecomposition.
    pub fn from_gram(g: DMatrix<f64>, d: usize) -> Self {
        Self::factor(g, d, false)
    }

    /// Coordinates of xᵢ − r (r = `reference`, any point: the subset scatters SMEA needs are
    /// translation-invariant) from the Gram matrix of the xᵢ − r, with the rank cut relative
    /// to each input's own squared norm ‖xᵢ − r‖² instead of the largest one.
    ///
    /// Why: [`Embedding::new`] centres at the mean and cuts at 10⁻¹² of the largest diagonal,
    /// so one input 10⁶ times farther out than the spread of the others (10¹² in squares)
    /// wipes out their spread: their centred Gram entries are differences of numbers of the
    /// outlier's size, and every direction but the outlier's falls under the cut. With r the
    /// coordinate-wise median (inside the majority) the entries of the near inputs are of
    /// their own size, and the pivoted Cholesky keeps their directions: the residual of row
    /// i, Gᵢᵢ − Σ lᵢ², carries a rounding error of order ε·Gᵢᵢ, so 10⁻¹²·Gᵢᵢ is the right
    /// relative cut.
    ///
    /// # Errors
    /// [`non_finite`] naming `rule` when a square overflows or an input is infinite.
    pub fn around(x: UpdatesView<'_>, reference: &[f64], rule: &str) -> Result<Self> {
        let g = product(x, Some(reference));
        if !g.iter().all(|v| v.is_finite()) {
            return Err(non_finite(rule));
        }
        Ok(Self::factor(g, x.d(), true))
    }

    /// Pivoted Cholesky of `g` (see [`Embedding::from_gram`]); a row stays eligible as a
    /// pivot while its residual exceeds 10⁻¹² of the largest diagonal entry or, with
    /// `per_row`, of its own diagonal entry.
    fn factor(g: DMatrix<f64>, d: usize, per_row: bool) -> Self {
        let n = g.nrows();
        let mut rest: Vec<f64> = (0..n).map(|i| g[(i, i)]).collect();
        let top = rest.iter().copied().fold(0.0, f64::max);
        let tol: Vec<f64> = rest
            .iter()
            .map(|&gi| 1e-12 * if per_row { gi } else { top })
            .collect();
        let mut used = vec![false; n];
        let mut cols: Vec<Vec<f64>> = Vec::new();
        while cols.len() < n && top > 0.0 && top.is_finite() {
            let mut p = usize::MAX;
            for i in 0..n {
                if !used[i] && rest[i] > tol[i] && (p == usize::MAX || rest[i] > rest[p]) {
                    p = i;
                }
            }
            if p == usize::MAX {
                break;
            }
            let piv = rest[p].sqrt();
            let mut l: Vec<f64> = g.column(p).iter().copied().collect();
            for c in &cols {
                let cp = c[p];
                for (li, ci) in l.iter_mut().zip(c) {
                    *li -= ci * cp;
                }
            }
            for (i, li) in l.iter_mut().enumerate() {
                *li = if used[i] { 0.0 } else { *li / piv };
            }
            l[p] = piv;
            for i in 0..n {
                if !used[i] {
                    rest[i] -= l[i] * l[i];
                }
            }
            used[p] = true;
            rest[p] = 0.0;
            cols.push(l);
        }
        let m = cols.len();
        let z = DMatrix::from_fn(m, n, |r, i| cols[r][i]);
        Embedding { z, gram: g, d }
    }

    /// Number of inputs.
    pub fn n(&self) -> usize {
        self.gram.nrows()
    }

    /// Dimension of the span of the centred inputs.
    pub fn m(&self) -> usize {
        self.z.nrows()
    }

    /// Σᵢ wᵢ zᵢ / Σᵢ wᵢ (the weighted mean, in embedding coordinates).
    pub fn weighted_mean(&self, w: &[f64]) -> DVector<f64> {
        let total: f64 = w.iter().sum();
        let mut mu = DVector::<f64>::zeros(self.m());
        for (i, &wi) in w.iter().enumerate() {
            if wi != 0.0 {
                mu.axpy(wi, &self.z.column(i), 1.0);
            }
        }
        mu / total
    }

    /// Top eigenpair of the weighted covariance, computed in n-space: with rᵢ = xᵢ − μ and
    /// R̃ = [√ŵᵢ rᵢ], the nonzero spectrum of R̃R̃ᵀ is that of K = R̃ᵀR̃, Kᵢⱼ = √(ŵᵢŵⱼ) Cᵢⱼ
    /// where Cᵢⱼ = rᵢ·rⱼ = Gᵢⱼ − gᵢ − gⱼ + ḡ (gᵢ = Σₖŵₖ Gᵢₖ). If Kq = λq, the unit top
    /// eigenvector is v = R̃q/√λ and rᵢ·v = Σⱼ Cᵢⱼ √ŵⱼ qⱼ / √λ. Only inputs of positive
    /// weight enter K, so it shrinks as the filter proceeds.
    pub fn weighted_top(&self, w: &[f64]) -> WeightedTop {
        let n = self.n();
        let total: f64 = w.iter().sum();
        let wh: Vec<f64> = w.iter().map(|wi| wi / total).collect();
        let g = &self.gram;
        let gi: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|k| wh[k] * g[(i, k)]).sum())
            .collect();
        let gbar: f64 = (0..n).map(|i| wh[i] * gi[i]).sum();
        let c = |i: usize, j: usize| g[(i, j)] - gi[i] - gi[j] + gbar;
        let active: Vec<usize> = (0..n).filter(|&i| wh[i] > 0.0).collect();
        let sq: Vec<f64> = active.iter().map(|&i| wh[i].sqrt()).collect();
        let k = DMatrix::from_fn(active.len(), active.len(), |a, b| {
            sq[a] * sq[b] * c(active[a], active[b])
        });
        let (lambda, q) = sym_top(&k);
        let mut tau = vec![0.0; n];
        if lambda > 0.0 {
            let inv = 1.0 / lambda.sqrt();
            for (i, t) in tau.iter_mut().enumerate() {
                let p: f64 = active
                    .iter()
                    .enumerate()
                    .map(|(a, &j)| c(i, j) * sq[a] * q[a])
                    .sum::<f64>()
                    * inv;
                *t = p * p;
            }
        }
        WeightedTop {
            lambda: lambda.max(0.0),
            tau,
        }
    }

    /// A projection of ByzFL's random power-iteration start onto the span, exact in law.
    ///
    /// ByzFL draws u = g/‖g‖ with g ~ N(0, I_d). Only u's component in the span of the
    /// centred inputs enters its computations, and in an orthonormal basis of that span it is
    /// a/‖g‖ with a ~ N(0, I_m) and ‖g‖² = ‖a‖² + χ²(d − m) independent of a. Drawing (a,
    /// χ²) costs O(m) instead of O(d) per power step.
    pub fn random_start(&self, rng: &mut SimRng) -> DVector<f64> {
        let m = self.m();
        let a = DVector::<f64>::from_iterator(m, (0..m).map(|_| rng.sample(StandardNormal)));
        let rest = self.d.saturating_sub(m);
        let chi2 = if rest == 0 {
            0.0
        } else {
            // invariant: rest ≥ 1, so the degrees of freedom are valid.
            let dist = ChiSquared::new(rest as f64).expect("invariant: dof >= 1");
            rng.sample(dist)
        };
        let norm = (a.norm_squared() + chi2).sqrt();
        if norm > 0.0 {
            a / norm
        } else {
            a
        }
    }
}

/// Makes a square matrix exactly symmetric (average of the two triangles).
pub(crate) fn symmetrize(c: &mut DMatrix<f64>) {
    let m = c.nrows();
    for i in 0..m {
        for j in (i + 1)..m {
            let s = 0.5 * (c[(i, j)] + c[(j, i)]);
            c[(i, j)] = s;
            c[(j, i)] = s;
        }
    }
}

/// Householder reduction of a symmetric matrix (lower triangle read) to tridiagonal form
/// T = QᵀAQ, keeping the reflectors so that Q can be applied to one vector.
struct Tridiagonal {
    m: usize,
    diag: Vec<f64>,
    off: Vec<f64>,
    /// Reflector k acts on indices k+1..m: I − βₖuₖuₖᵀ with uₖ stored in column k of `work`
    /// below the subdiagonal (uₖ[0] = 1 implicit).
    work: Vec<f64>,
    beta: Vec<f64>,
}

impl Tridiagonal {
    fn new(a: &DMatrix<f64>) -> Self {
        let m = a.nrows();
        // Column-major copy; only the lower triangle is used.
        let mut w: Vec<f64> = a.as_slice().to_vec();
        let mut beta = vec![0.0; m.saturating_sub(2)];
        let mut off = vec![0.0; m.saturating_sub(1)];
        let mut v = vec![0.0; m];
        let mut p = vec![0.0; m];
        for k in 0..m.saturating_sub(2) {
            let len = m - k - 1;
            let col = k * m + k + 1;
            let x0 = w[col];
            let sigma: f64 = w[col + 1..col + len].iter().map(|t| t * t).sum();
            if sigma == 0.0 {
                beta[k] = 0.0;
                off[k] = x0;
                continue;
            }
            let mu = (x0 * x0 + sigma).sqrt();
            let v0 = if x0 <= 0.0 {
                x0 - mu
            } else {
                -sigma / (x0 + mu)
            };
            let b = 2.0 * v0 * v0 / (sigma + v0 * v0);
            let v = &mut v[..len];
            v[0] = 1.0;
            for (t, x) in v[1..].iter_mut().zip(&w[col + 1..col + len]) {
                *t = x / v0;
            }
            off[k] = mu;
            // Trailing block B = w[k+1.., k+1..] (lower triangle): p = β B v.
            let p = &mut p[..len];
            p.fill(0.0);
            let base = (k + 1) * m + (k + 1);
            for j in 0..len {
                let cj = base + j * (m + 1);
                let bjj = w[cj];
                let vj = v[j];
                let mut acc = bjj * vj;
                for ((pi, bij), vi) in p[j + 1..]
                    .iter_mut()
                    .zip(&w[cj + 1..cj + len - j])
                    .zip(&v[j + 1..])
                {
                    *pi += bij * vj;
                    acc += bij * vi;
                }
                p[j] += acc;
            }
            let mut pv = 0.0;
            for (pi, vi) in p.iter_mut().zip(v.iter()) {
                *pi *= b;
                pv += *pi * vi;
            }
            let kk = 0.5 * b * pv;
            for (pi, vi) in p.iter_mut().zip(v.iter()) {
                *pi -= kk * vi;
            }
            // B −= v pᵀ + p vᵀ on the lower triangle.
            for j in 0..len {
                let cj = base + j * (m + 1);
                let (vj, pj) = (v[j], p[j]);
                for ((bij, vi), pi) in w[cj..cj + len - j].iter_mut().zip(&v[j..]).zip(&p[j..]) {
                    *bij -= vi * pj + pi * vj;
                }
            }
            // Keep the reflector below the subdiagonal of column k.
            w[col + 1..col + len].copy_from_slice(&v[1..]);
            beta[k] = b;
        }
        if m >= 2 {
            off[m - 2] = w[(m - 2) * m + (m - 1)];
        }
        let diag = (0..m).map(|i| w[i * m + i]).collect();
        Tridiagonal {
            m,
            diag,
            off,
            work: w,
            beta,
        }
    }

    /// Numbers of eigenvalues of T below each of the `K` shifts (Sturm sequences, run
    /// side by side so that the divisions of the independent recurrences overlap).
    fn count_below<const K: usize>(&self, x: &[f64; K]) -> [usize; K] {
        let tiny = f64::MIN_POSITIVE;
        let mut q = [0.0; K];
        let mut cnt = [0usize; K];
        for j in 0..K {
            q[j] = self.diag[0] - x[j];
            cnt[j] = usize::from(q[j] < 0.0);
        }
        for i in 1..self.m {
            let e2 = self.off[i - 1] * self.off[i - 1];
            for j in 0..K {
                let prev = if q[j] == 0.0 { tiny } else { q[j] };
                q[j] = self.diag[i] - x[j] - e2 / prev;
                cnt[j] += usize::from(q[j] < 0.0);
            }
        }
        cnt
    }

    /// Largest eigenvalue by multisection (four Sturm counts per step, so the bracket
    /// shrinks fivefold), to a few ulps of ‖T‖.
    fn top_value(&self) -> f64 {
        let m = self.m;
        // λ_max lies between the largest diagonal entry (a Rayleigh quotient) and the
        // largest Gershgorin bound.
        let mut lo = f64::NEG_INFINITY;
        let mut hi = f64::NEG_INFINITY;
        let mut scale = 0.0f64;
        for i in 0..m {
            let r = if i > 0 { self.off[i - 1].abs() } else { 0.0 }
                + if i + 1 < m { self.off[i].abs() } else { 0.0 };
            lo = lo.max(self.diag[i]);
            hi = hi.max(self.diag[i] + r);
            scale = scale.max(self.diag[i].abs() + r);
        }
        // Invariant: fewer than m eigenvalues lie below lo (λ_max ≥ lo), all lie at or below hi.
        for _ in 0..100 {
            if hi - lo <= 4.0 * f64::EPSILON * scale {
                break;
            }
            let step = (hi - lo) / 5.0;
            let pts = [lo + step, lo + 2.0 * step, lo + 3.0 * step, lo + 4.0 * step];
            if pts[0] <= lo || pts[3] >= hi {
                break;
            }
            let cnt = self.count_below(&pts);
            let (mut new_lo, mut new_hi) = (lo, hi);
            for (p, c) in pts.iter().zip(cnt) {
                if c == m {
                    new_hi = *p;
                    break;
                }
                new_lo = *p;
            }
            lo = new_lo;
            hi = new_hi;
        }
        hi
    }

    /// A unit eigenvector of T for `lambda` by inverse iteration (LU with partial pivoting,
    /// LAPACK's dgttrf/dgttrs), mapped back through the reflectors.
    fn vector(&self, lambda: f64) -> DVector<f64> {
        let m = self.m;
        if m == 1 {
            return DVector::from_element(1, 1.0);
        }
        let scale = self
            .diag
            .iter()
            .chain(&self.off)
            .fold(0.0f64, |a, v| a.max(v.abs()))
            .max(f64::MIN_POSITIVE);
        let tiny = f64::EPSILON * scale;
        let mut dl = self.off.clone();
        let mut d: Vec<f64> = self.diag.iter().map(|v| v - lambda).collect();
        let mut du = self.off.clone();
        let mut du2 = vec![0.0; m.saturating_sub(2)];
        let mut swap = vec![false; m - 1];
        for i in 0..m - 1 {
            if d[i].abs() >= dl[i].abs() {
                if d[i] == 0.0 {
                    d[i] = tiny;
                }
                let fact = dl[i] / d[i];
                dl[i] = fact;
                d[i + 1] -= fact * du[i];
            } else {
                let fact = d[i] / dl[i];
                d[i] = dl[i];
                dl[i] = fact;
                let temp = du[i];
                du[i] = d[i + 1];
                d[i + 1] = temp - fact * d[i + 1];
                if i + 2 < m {
                    du2[i] = du[i + 1];
                    du[i + 1] *= -fact;
                }
                swap[i] = true;
            }
        }
        for di in &mut d {
            if di.abs() < tiny {
                *di = if *di < 0.0 { -tiny } else { tiny };
            }
        }
        // A deterministic start with no special structure.
        let mut b: Vec<f64> = (0..m)
            .map(|i| 1.0 + (i as f64 * 0.618_033_988_749_895).fract())
            .collect();
        for _ in 0..3 {
            for i in 0..m - 1 {
                if swap[i] {
                    let t = b[i];
                    b[i] = b[i + 1];
                    b[i + 1] = t - dl[i] * b[i];
                } else {
                    b[i + 1] -= dl[i] * b[i];
                }
            }
            b[m - 1] /= d[m - 1];
            b[m - 2] = (b[m - 2] - du[m - 2] * b[m - 1]) / d[m - 2];
            for i in (0..m.saturating_sub(2)).rev() {
                b[i] = (b[i] - du[i] * b[i + 1] - du2[i] * b[i + 2]) / d[i];
            }
            let norm = b.iter().map(|t| t * t).sum::<f64>().sqrt();
            if !(norm > 0.0 && norm.is_finite()) {
                break;
            }
            for t in &mut b {
                *t /= norm;
            }
        }
        // v = H₀H₁…H_{m−3} s.
        for k in (0..m.saturating_sub(2)).rev() {
            let bk = self.beta[k];
            if bk == 0.0 {
                continue;
            }
            let col = k * m + k + 1;
            let u = &self.work[col + 1..col + (m - k - 1)];
            let s = &mut b[k + 1..];
            let dot = s[0] + u.iter().zip(&s[1..]).map(|(a, c)| a * c).sum::<f64>();
            let f = bk * dot;
            s[0] -= f;
            for (si, ui) in s[1..].iter_mut().zip(u) {
                *si -= f * ui;
            }
        }
        let mut v = DVector::from_vec(b);
        let norm = v.norm();
        if norm > 0.0 {
            v /= norm;
        }
        v
    }
}

/// Largest eigenvalue of a symmetric matrix (lower triangle read) and a unit eigenvector:
/// Householder tridiagonalization ((4/3)m³ flops), Sturm bisection for the eigenvalue and
/// inverse iteration for the vector, several times faster than a full eigendecomposition.
/// An empty matrix gives (0, empty).
pub(crate) fn sym_top(a: &DMatrix<f64>) -> (f64, DVector<f64>) {
    if a.nrows() == 0 {
        return (0.0, DVector::zeros(0));
    }
    let t = Tridiagonal::new(a);
    let lambda = t.top_value();
    (lambda, t.vector(lambda))
}

/// Largest eigenvalue of a symmetric matrix (lower triangle read); 0 for an empty matrix.
pub(crate) fn sym_top_value(a: &DMatrix<f64>) -> f64 {
    if a.nrows() == 0 {
        return 0.0;
    }
    Tridiagonal::new(a).top_value()
}

/// Σᵢ wᵢ xᵢ / Σᵢ wᵢ in ℝᵈ, accumulated per coordinate in index order and divided at the end
/// (NumPy's `sum(c[:, None] * x, axis=0) / c.sum()`); inputs with weight 0 are skipped.
/// Parallel over fixed coordinate chunks: each coordinate is computed independently.
pub(crate) fn weighted_mean(x: UpdatesView<'_>, w: &[f64]) -> DVector<f64> {
    let total: f64 = w.iter().sum();
    let active: Vec<(usize, f64)> = w
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, wi)| wi != 0.0)
        .collect();
    let ws: Vec<f64> = active.iter().map(|&(_, wi)| wi).collect();
    let mut out = vec![0.0; x.d()];
    for_each_block_mut(&mut out, CHUNK, |c, acc| {
        let lo = c * CHUNK;
        let rows: Vec<&[f64]> = active
            .iter()
            .map(|&(i, _)| &x.col(i)[lo..lo + acc.len()])
            .collect();
        add_weighted_rows(acc, &rows, &ws, None);
        for a in acc.iter_mut() {
            *a /= total;
        }
        mean_without_overflow(acc, &rows, &ws, total);
    });
    DVector::from_vec(out)
}

/// (Σ_{i∈idx} xᵢ) / |idx| in ℝᵈ, summed in the order of `idx` and divided at the end: NumPy's
/// `x[idx].mean(axis=0)` bit for bit. Parallel over fixed coordinate chunks.
pub(crate) fn subset_mean(x: UpdatesView<'_>, idx: &[usize]) -> DVector<f64> {
    x.mean_of(idx.iter().copied())
}

/// C(n, k) as f64 (exact below 2⁵³, saturating to +∞ far beyond).
pub(crate) fn binomial(n: usize, k: usize) -> f64 {
    if k > n {
        return 0.0;
    }
    let k = k.min(n - k);
    let mut c = 1.0f64;
    for i in 0..k {
        c = c * (n - i) as f64 / (i + 1) as f64;
    }
    c.round()
}

/// Calls `visit` on every k-subset of 0..n in lexicographic order (Python's
/// `itertools.combinations(range(n), k)`), stopping early when it returns false.
pub(crate) fn for_each_combination(n: usize, k: usize, mut visit: impl FnMut(&[usize]) -> bool) {
    if k > n {
        return;
    }
    let mut idx: Vec<usize> = (0..k).collect();
    loop {
        if !visit(&idx) {
            return;
        }
        // Rightmost position that can still move right.
        let mut p = k;
        while p > 0 && idx[p - 1] == n - k + p - 1 {
            p -= 1;
        }
        if p == 0 {
            return;
        }
        idx[p - 1] += 1;
        for q in p..k {
            idx[q] = idx[q - 1] + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Updates;
    use crate::rng::{rng_from_seed, uniform_index};

    fn random_updates(n: usize, d: usize, seed: u64) -> Updates {
        let mut rng = rng_from_seed(seed);
        let rows: Vec<Vec<f64>> = (0..n)
            .map(|_| (0..d).map(|_| rng.sample(StandardNormal)).collect())
            .collect();
        Updates::from_rows(&rows).unwrap()
    }

    #[test]
    fn gram_matches_naive_across_blocks() {
        // d spans several blocks and two chunks; compare with the textbook formula.
        let u = random_updates(7, CHUNK + 3 * BLOCK + 5, 1);
        let x = u.view();
        let g = centred_gram(x, "test").unwrap();
        let mean = x.mean();
        for i in 0..7 {
            for j in 0..7 {
                let naive: f64 = x
                    .col(i)
                    .iter()
                    .zip(x.col(j))
                    .zip(mean.iter())
                    .map(|((a, b), m)| (a - m) * (b - m))
                    .sum();
                assert!((g[(i, j)] - naive).abs() < 1e-9 * naive.abs().max(1.0));
            }
        }
        // The embedding reproduces the Gram matrix and has rank n − 1.
        let e = Embedding::from_gram(g.clone(), x.d());
        assert_eq!(e.m(), 6);
        let back = e.z.transpose() * &e.z;
        assert!((back - g).amax() < 1e-8 * e.gram.amax());
    }

    #[test]
    fn gram_far_from_origin_uses_differences() {
        // Inputs 10⁵·1 + 10⁻³·N(0, I): ‖x‖²/spread ≈ 10¹⁶, so the raw product would keep no
        // digit of the centred one; the shifted recomputation must match the naive formula.
        let noise = random_updates(6, 300, 5);
        let shifted = noise.matrix().map(|v| 1e5 + 1e-3 * v);
        let u = Updates::new(shifted).unwrap();
        let g = centred_gram(u.view(), "test").unwrap();
        let x = noise.view();
        let mean = x.mean();
        for i in 0..6 {
            for j in 0..6 {
                let naive: f64 = x
                    .col(i)
                    .iter()
                    .zip(x.col(j))
                    .zip(mean.iter())
                    .map(|((a, b), m)| 1e-6 * (a - m) * (b - m))
                    .sum();
                assert!((g[(i, j)] - naive).abs() < 1e-6 * 3e-4, "{i} {j}");
            }
        }
        // ±∞ is reported, not propagated.
        let mut m = u.into_matrix();
        m[(7, 2)] = f64::INFINITY;
        let inf = Updates::new_allow_inf(m).unwrap();
        assert!(matches!(
            centred_gram(inf.view(), "test"),
            Err(Error::NonFinite { .. })
        ));
    }

    #[test]
    fn top_eigenpair_matches_full_decomposition() {
        let mut rng = rng_from_seed(8);
        for trial in 0..200 {
            let m = 1 + trial % 23;
            let r = 1 + uniform_index(&mut rng, m + 3);
            let a = DMatrix::<f64>::from_fn(m, r, |_, _| rng.sample(StandardNormal));
            let mut c = &a * a.transpose();
            if trial % 5 == 0 {
                // Repeated top eigenvalue: diag(3, 3, 1, …) rotated.
                c = DMatrix::from_fn(m, m, |i, j| {
                    if i == j {
                        if i < 2 {
                            3.0
                        } else {
                            1.0
                        }
                    } else {
                        0.0
                    }
                });
            }
            if trial % 7 == 0 {
                c = -c; // indefinite/negative spectra too
            }
            let want = nalgebra::SymmetricEigen::new(c.clone());
            let wmax = want
                .eigenvalues
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max);
            let (l, v) = sym_top(&c);
            let scale = c.amax().max(1.0);
            assert!(
                (l - wmax).abs() <= 1e-12 * scale,
                "trial {trial}: {l} vs {wmax}"
            );
            assert!((sym_top_value(&c) - l).abs() <= 1e-12 * scale);
            assert!((v.norm() - 1.0).abs() < 1e-10, "trial {trial}");
            let resid = (&c * &v - &v * l).norm();
            assert!(resid <= 1e-9 * scale, "trial {trial}: residual {resid}");
        }
        assert_eq!(sym_top(&DMatrix::zeros(0, 0)).0, 0.0);
        assert_eq!(sym_top(&DMatrix::zeros(3, 3)).0, 0.0);
    }

    #[test]
    fn weighted_top_matches_the_covariance() {
        // λ and τ from the n-space formulas equal those of the explicit covariance.
        let u = random_updates(9, 5, 6);
        let x = u.view();
        let e = Embedding::new(x, "test").unwrap();
        let w = [1.0, 0.5, 0.0, 2.0, 1.0, 0.25, 1.0, 0.0, 3.0];
        let total: f64 = w.iter().sum();
        let mu = weighted_mean(x, &w);
        let mut cov = DMatrix::<f64>::zeros(5, 5);
        for (i, wi) in w.iter().enumerate() {
            let r = DVector::from_column_slice(x.col(i)) - &mu;
            cov += &r * r.transpose() * (wi / total);
        }
        let (l, v) = sym_top(&cov);
        let got = e.weighted_top(&w);
        assert!((got.lambda - l).abs() < 1e-10 * l);
        for (i, t) in got.tau.iter().enumerate() {
            let p = (DVector::from_column_slice(x.col(i)) - &mu).dot(&v);
            assert!((t - p * p).abs() < 1e-9 * l, "{i}");
        }
    }

    #[test]
    fn means_and_combinations() {
        // Rows (1,2), (3,4), (8,0): weights (1, 0, 1) → (4.5, 1); subset {0, 1} → (2, 3).
        let u = Updates::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.0], vec![8.0, 0.0]]).unwrap();
        assert_eq!(
            weighted_mean(u.view(), &[1.0, 0.0, 1.0]).as_slice(),
            &[4.5, 1.0]
        );
        assert_eq!(subset_mean(u.view(), &[0, 1]).as_slice(), &[2.0, 3.0]);
        let mut all = Vec::new();
        for_each_combination(4, 2, |s| {
            all.push(s.to_vec());
            true
        });
        assert_eq!(
            all,
            vec![
                vec![0, 1],
                vec![0, 2],
                vec![0, 3],
                vec![1, 2],
                vec![1, 3],
                vec![2, 3]
            ]
        );
        assert_eq!(binomial(50, 10), 10_272_278_170.0);
        assert_eq!(binomial(5, 7), 0.0);
    }

    #[test]
    fn random_start_has_unit_norm_when_span_is_everything() {
        // d = m: no orthogonal complement, so the projection is a unit vector.
        let u = random_updates(4, 3, 3);
        let e = Embedding::new(u.view(), "test").unwrap();
        assert_eq!(e.m(), 3);
        let mut rng = rng_from_seed(4);
        let a = e.random_start(&mut rng);
        assert!((a.norm() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn gram_about_the_majority_keeps_distances_next_to_a_far_input() {
        // Three near inputs and one at 10¹²: by hand ‖x₁ − x₂‖² = 2, ‖x₀ − x₁‖² = 1. The
        // mean-centred matrix holds entries of size 10²⁴/16 and loses them; the Gram matrix
        // about the medoid (x₀, median squared distance 1) keeps them exactly.
        let u = crate::data::Updates::from_rows(&[
            vec![0.0, 0.0],
            vec![1.0, 0.0],
            vec![0.0, 1.0],
            vec![1e12, 0.0],
        ])
        .unwrap();
        let h = gram_about_majority(u.view(), "test").unwrap();
        let d2 = |i: usize, j: usize| h[(i, i)] + h[(j, j)] - 2.0 * h[(i, j)];
        assert_eq!(h[(0, 0)], 0.0);
        assert_eq!(d2(1, 2), 2.0);
        assert_eq!(d2(0, 1), 1.0);
        assert_eq!(d2(0, 3), 1e24);
        let g = centred_gram(u.view(), "test").unwrap();
        let c2 = g[(1, 1)] + g[(2, 2)] - 2.0 * g[(1, 2)];
        assert!((c2 - 2.0).abs() > 0.1, "the centred matrix kept it: {c2}");
        // Inputs of comparable spread keep the centred matrix (the fast exit).
        let v = crate::data::Updates::from_rows(&[vec![0.0], vec![1.0], vec![3.0]]).unwrap();
        assert_eq!(
            gram_about_majority(v.view(), "test").unwrap(),
            centred_gram(v.view(), "test").unwrap()
        );
    }
}
