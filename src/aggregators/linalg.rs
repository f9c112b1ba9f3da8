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

use crate::data::UpdatesView;
use crate::rng::SimRng;
use nalgebra::{DMatrix, DMatrixView, DVector, SymmetricEigen};
use rand::RngExt;
use rand_distr::{ChiSquared, StandardNormal};
use rayon::prelude::*;

/// Coordinates per parallel task. Fixed, so the summation order never depends on threads.
const CHUNK: usize = 1 << 14;
/// Coordinates per cache block inside a task (n · BLOCK · 8 bytes stays in L2 for n ≲ 100).
const BLOCK: usize = 512;

/// The n×n Gram matrix of the centred inputs, Gᵢⱼ = (xᵢ − x̄)·(xⱼ − x̄), exactly symmetric.
///
/// Centring happens per coordinate inside each cache block, so no d-vector is allocated and
/// inputs far from the origin lose no precision to cancellation.
pub(crate) fn centred_gram(x: UpdatesView<'_>) -> DMatrix<f64> {
    let (n, d) = (x.n(), x.d());
    let chunks = d.div_ceil(CHUNK);
    let partials: Vec<DMatrix<f64>> = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let lo = c * CHUNK;
            let hi = d.min(lo + CHUNK);
            let mut g = DMatrix::<f64>::zeros(n, n);
            let mut buf = vec![0.0; BLOCK * n];
            let mut buf_t = vec![0.0; BLOCK * n];
            let mut mean = vec![0.0; BLOCK];
            let inv_n = 1.0 / n as f64;
            let mut b0 = lo;
            while b0 < hi {
                let len = BLOCK.min(hi - b0);
                let mean = &mut mean[..len];
                mean.fill(0.0);
                for col in x.cols() {
                    for (m, v) in mean.iter_mut().zip(&col[b0..b0 + len]) {
                        *m += v;
                    }
                }
                for m in mean.iter_mut() {
                    *m *= inv_n;
                }
                let buf = &mut buf[..len * n];
                let buf_t = &mut buf_t[..len * n];
                for (i, col) in x.cols().enumerate() {
                    for (t, (v, m)) in col[b0..b0 + len].iter().zip(mean.iter()).enumerate() {
                        let c = v - m;
                        buf[i * len + t] = c;
                        buf_t[t * n + i] = c;
                    }
                }
                // y: len×n (column i = centred block of vector i), yt its transpose stored
                // column-major; g += yᵀ y through nalgebra's gemm (matrixmultiply for f64).
                let y = DMatrixView::from_slice(buf, len, n);
                let yt = DMatrixView::from_slice(buf_t, n, len);
                g.gemm(1.0, &yt, &y, 1.0);
                b0 += len;
            }
            g
        })
        .collect();
    let mut g = DMatrix::<f64>::zeros(n, n);
    for p in &partials {
        g += p;
    }
    // gemm does not promise bitwise symmetry; the eigen-solvers below want it.
    for i in 0..n {
        for j in (i + 1)..n {
            let s = 0.5 * (g[(i, j)] + g[(j, i)]);
            g[(i, j)] = s;
            g[(j, i)] = s;
        }
    }
    g
}

/// The centred inputs in coordinates of an orthonormal basis of their span.
#[derive(Clone, Debug)]
pub(crate) struct Embedding {
    /// m×n: column i holds the coordinates of xᵢ − x̄ (m = numerical rank, ≤ min(n − 1, d)).
    pub z: DMatrix<f64>,
    /// Ambient dimension d of the inputs.
    pub d: usize,
}

impl Embedding {
    /// Embeds the columns of `x` (one O(n²d) Gram pass, then an n×n eigendecomposition).
    pub fn new(x: UpdatesView<'_>) -> Self {
        Self::from_gram(centred_gram(x), x.d())
    }

    /// Factors a centred Gram matrix: G = V Λ Vᵀ, z = Λ^{1/2} Vᵀ restricted to the eigenvalues
    /// above 10⁻¹² λ_max (directions below carry no measurable spread; dropping them keeps m
    /// equal to the numerical rank so random projections match ByzFL's draws in law).
    pub fn from_gram(g: DMatrix<f64>, d: usize) -> Self {
        let n = g.nrows();
        let eig = SymmetricEigen::new(g);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| {
            eig.eigenvalues[b]
                .total_cmp(&eig.eigenvalues[a])
                .then(a.cmp(&b))
        });
        let lmax = order.first().map_or(0.0, |&i| eig.eigenvalues[i]);
        let keep: Vec<usize> = if lmax > 0.0 && lmax.is_finite() {
            order
                .into_iter()
                .filter(|&i| eig.eigenvalues[i] > 1e-12 * lmax)
                .collect()
        } else {
            Vec::new()
        };
        let m = keep.len();
        let mut z = DMatrix::<f64>::zeros(m, n);
        for (r, &e) in keep.iter().enumerate() {
            let s = eig.eigenvalues[e].sqrt();
            for i in 0..n {
                z[(r, i)] = s * eig.eigenvectors[(i, e)];
            }
        }
        Embedding { z, d }
    }

    /// Number of inputs.
    pub fn n(&self) -> usize {
        self.z.ncols()
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

    /// The weighted covariance Σᵢ wᵢ (zᵢ − μ)(zᵢ − μ)ᵀ / Σᵢ wᵢ about `mu` (m×m).
    pub fn weighted_cov(&self, w: &[f64], mu: &DVector<f64>) -> DMatrix<f64> {
        let total: f64 = w.iter().sum();
        let m = self.m();
        let mut c = DMatrix::<f64>::zeros(m, m);
        let mut r = DVector::<f64>::zeros(m);
        for (i, &wi) in w.iter().enumerate() {
            if wi != 0.0 {
                r.copy_from(&self.z.column(i));
                r -= mu;
                c.ger(wi / total, &r, &r, 1.0);
            }
        }
        symmetrize(&mut c);
        c
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

/// Largest eigenvalue of a symmetric matrix and a unit eigenvector for it (exact, via a
/// symmetric QR eigendecomposition; ties broken towards the lowest index). An empty matrix
/// gives (0, empty).
pub(crate) fn top_eigen(c: DMatrix<f64>) -> (f64, DVector<f64>) {
    let m = c.nrows();
    if m == 0 {
        return (0.0, DVector::zeros(0));
    }
    let eig = SymmetricEigen::new(c);
    let mut best = 0;
    for i in 1..m {
        if eig.eigenvalues[i] > eig.eigenvalues[best] {
            best = i;
        }
    }
    (
        eig.eigenvalues[best],
        eig.eigenvectors.column(best).into_owned(),
    )
}

/// Largest eigenvalue of a symmetric matrix (eigenvalues only, no vectors).
pub(crate) fn top_eigenvalue(c: DMatrix<f64>) -> f64 {
    if c.nrows() == 0 {
        return 0.0;
    }
    c.symmetric_eigenvalues()
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max)
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
    let mut out = vec![0.0; x.d()];
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, acc)| {
        let lo = c * CHUNK;
        for &(i, wi) in &active {
            let col = &x.col(i)[lo..lo + acc.len()];
            for (a, v) in acc.iter_mut().zip(col) {
                *a += wi * v;
            }
        }
        for a in acc.iter_mut() {
            *a /= total;
        }
    });
    DVector::from_vec(out)
}

/// (Σ_{i∈idx} xᵢ) / |idx| in ℝᵈ, summed in the order of `idx` and divided at the end: NumPy's
/// `x[idx].mean(axis=0)` bit for bit. Parallel over fixed coordinate chunks.
pub(crate) fn subset_mean(x: UpdatesView<'_>, idx: &[usize]) -> DVector<f64> {
    let k = idx.len().max(1) as f64;
    let mut out = vec![0.0; x.d()];
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, acc)| {
        let lo = c * CHUNK;
        for &i in idx {
            let col = &x.col(i)[lo..lo + acc.len()];
            for (a, v) in acc.iter_mut().zip(col) {
                *a += v;
            }
        }
        for a in acc.iter_mut() {
            *a /= k;
        }
    });
    DVector::from_vec(out)
}

/// Σ (aₜ − bₜ)² with eight interleaved partial sums combined in a fixed tree: vectorizes
/// and gives the same bits on every run.
fn sq_dist_lanes(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            let t = x[l] - y[l];
            acc[l] += t * t;
        }
    }
    for (l, (x, y)) in ra.iter().zip(rb).enumerate() {
        let t = x - y;
        acc[l] += t * t;
    }
    ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))
}

/// Pairwise squared Euclidean distances from coordinate differences (no Gram shortcut, so
/// integer-valued inputs give exact integers and ties are real ties), row-major n×n with a
/// zero diagonal. Cache-blocked and parallel over fixed coordinate chunks.
pub(crate) fn pairwise_sq_dists(x: UpdatesView<'_>) -> Vec<f64> {
    let (n, d) = (x.n(), x.d());
    let chunks = d.div_ceil(CHUNK);
    let partials: Vec<Vec<f64>> = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let lo = c * CHUNK;
            let hi = d.min(lo + CHUNK);
            let mut part = vec![0.0; n * n];
            let mut b0 = lo;
            while b0 < hi {
                let b1 = hi.min(b0 + BLOCK);
                for i in 0..n {
                    let xi = &x.col(i)[b0..b1];
                    for j in (i + 1)..n {
                        part[i * n + j] += sq_dist_lanes(xi, &x.col(j)[b0..b1]);
                    }
                }
                b0 = b1;
            }
            part
        })
        .collect();
    let mut d2 = vec![0.0; n * n];
    for p in &partials {
        for (a, v) in d2.iter_mut().zip(p) {
            *a += v;
        }
    }
    for i in 0..n {
        for j in (i + 1)..n {
            d2[j * n + i] = d2[i * n + j];
        }
    }
    d2
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
    use crate::rng::rng_from_seed;

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
        let g = centred_gram(x);
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
        assert!((back - g).amax() < 1e-8);
    }

    #[test]
    fn distances_match_naive() {
        let u = random_updates(5, 2 * BLOCK + 3, 2);
        let d2 = pairwise_sq_dists(u.view());
        for i in 0..5 {
            for j in 0..5 {
                let naive = u.view().sq_dist(i, j);
                assert!((d2[i * 5 + j] - naive).abs() < 1e-10 * naive.max(1.0));
            }
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
        let e = Embedding::new(u.view());
        assert_eq!(e.m(), 3);
        let mut rng = rng_from_seed(4);
        let a = e.random_start(&mut rng);
        assert!((a.norm() - 1.0).abs() < 1e-12);
    }
}
