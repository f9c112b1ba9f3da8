//! Nearest-neighbour mixing (NNM): yᵢ = mean of the n − f nearest neighbours of xᵢ
//! (xᵢ itself included, at distance 0).
//!
//! ByzFL: `NNM(f=0)`. Output: n vectors.
//!
//! **Memory.** ByzFL gathers `vectors[indices]`, an n×(n−f)×d array (16 GB at n = 50, f = 10,
//! d = 10⁶ in float64). lbounds computes the n×n matrix of squared distances once, picks each
//! vector's neighbour index list, and accumulates the means straight into the n×d output:
//! O(nd + n²) memory. Both passes are blocked over fixed-size coordinate chunks (run in
//! parallel; the chunk size does not depend on the thread count, and the per-chunk partial
//! distances are summed in chunk order), so the output is the same bytes for any number of
//! threads.
//!
//! **Neighbours and ties.** Neighbours are the n − f smallest squared Euclidean distances, ties
//! broken by the smaller vector index. ByzFL selects with `np.argpartition(dist, k-1)` (NumPy)
//! or `torch.topk` (torch), whose order among equal distances is unspecified: recent NumPy
//! releases dispatch float64 `argpartition` to a SIMD selection (x86-simd-sort's `argselect`
//! on x86 CPUs with the needed extensions) and to introselect elsewhere
//! (`numpy/_core/src/npysort/selection.cpp`), so ByzFL's choice among ties depends on the
//! machine. ByzFL's own docstring example (x₁ equidistant from x₀ and x₂) shows x₀ chosen,
//! which this rule reproduces. Ties only
//! change the output when two *different* vectors are at exactly the same distance across the
//! cut; identical vectors (f copies of one Byzantine vector) are interchangeable, and a vector
//! is always among its own neighbours up to exact duplicates of it. Each mean is summed over
//! the neighbours in increasing index order and divided by n − f (NumPy's `mean` divides).
//!
//! **Requirement.** [`Compat::Native`]: n > 2f (the paper's setting; ByzFL's other f-based rules
//! demand the same). [`Compat::Byzfl`]: f < n, the only check `NNM.__call__` makes
//! (`preaggregators.py`, "f must be smaller than len(vectors)").
//!
//! **Infinite input** (the `inf` attack) is rejected with [`crate::Error::NonFinite`]: distances
//! between two +∞ vectors are NaN in ByzFL (`inf − inf`), so its neighbour choice is undefined.
//!
//! # References
//! Allouah, Farhadkhani, Guerraoui, Gupta, Pinot & Stephan, "Fixing by Mixing: A Recipe for
//! Optimal Byzantine ML under Heterogeneity", AISTATS 2023, arXiv 2302.01772.

use crate::aggregators::{require_finite, require_honest_majority, AggContext, PreAggregator};
use crate::data::{Updates, UpdatesView};
use crate::params::{Compat, Params, Spec};
use crate::{Error, Result};
use rayon::prelude::*;

/// Registry entry.
pub const SPEC: Spec<dyn PreAggregator> = Spec {
    name: "nnm",
    byzfl: Some("NNM"),
    keys: &["f"],
    summary: "replace each vector by the mean of its n-f nearest neighbours (O(nd) memory)",
    build,
};

fn build(p: &Params, compat: Compat) -> Result<Box<dyn PreAggregator>> {
    Ok(Box::new(Nnm::new(p.f()?, compat)))
}

/// Coordinates per parallel task: ⌈d/64⌉ rounded up to a multiple of 64, at least 256, so there
/// are at most 64 tasks (bounding the per-task partial distance matrices to 64·n²/2 values). It
/// depends on d only, never on the thread count, so results are the same bytes for any number
/// of threads.
pub(crate) fn chunk_len(d: usize) -> usize {
    d.div_ceil(64).next_multiple_of(64).max(256)
}

/// Coordinates per inner cache block of the distance pass (n blocks of 4 KB stay in L2).
const BLOCK: usize = 512;

/// Nearest-neighbour mixing with declared f.
#[derive(Clone, Copy, Debug)]
pub struct Nnm {
    f: usize,
    compat: Compat,
}

impl Nnm {
    /// NNM with `f` declared Byzantine inputs.
    pub fn new(f: usize, compat: Compat) -> Self {
        Nnm { f, compat }
    }

    /// The neighbour lists: for each i, the indices of its n − f nearest vectors in increasing
    /// index order (ties in distance broken by the smaller index).
    fn neighbours(&self, d2: &[f64], n: usize) -> Vec<Vec<usize>> {
        let k = n - self.f;
        (0..n)
            .map(|i| {
                let row = &d2[i * n..(i + 1) * n];
                let mut idx: Vec<usize> = (0..n).collect();
                idx.sort_by(|&a, &b| row[a].total_cmp(&row[b]).then(a.cmp(&b)));
                idx.truncate(k);
                idx.sort_unstable();
                idx
            })
            .collect()
    }
}

impl PreAggregator for Nnm {
    fn name(&self) -> &'static str {
        "nnm"
    }

    fn check_n(&self, n: usize) -> Result<()> {
        match self.compat {
            Compat::Native => require_honest_majority("nnm", n, self.f),
            Compat::Byzfl if self.f >= n => Err(Error::too_few(
                "nnm (compat byzfl)",
                format!("n > f = {}", self.f),
                format!("n = {n}"),
            )),
            Compat::Byzfl => Ok(()),
        }
    }

    fn apply(&self, mut x: Updates, _cx: &mut AggContext<'_>) -> Result<Updates> {
        self.check_n(x.n())?;
        require_finite("nnm", x.view())?;
        let n = x.n();
        let d2 = pairwise_sq_dists(x.view());
        let nbrs = self.neighbours(&d2, n);
        let k = (n - self.f) as f64;
        // In place, a block of coordinates at a time: the block's n outputs go to a small
        // buffer (n blocks of 4 KB, in L2 with the inputs), then over the inputs.
        x.row_blocks_mut(BLOCK)
            .into_par_iter()
            .for_each(|mut cols| {
                let len = cols[0].len();
                let mut out = vec![0.0; n * len];
                let mut srcs: Vec<&[f64]> = Vec::with_capacity(n);
                for (y, nb) in out.chunks_mut(len).zip(&nbrs) {
                    srcs.clear();
                    srcs.extend(nb.iter().map(|&j| &*cols[j]));
                    mean_into(y, &srcs, k);
                }
                for (col, y) in cols.iter_mut().zip(out.chunks(len)) {
                    col.copy_from_slice(y);
                }
            });
        Ok(x)
    }
}

/// y = (s₀ + s₁ + … + s_{m−1}) / k, summed left to right per coordinate (NumPy's order),
/// with a tile of coordinates held in registers across all m sources.
fn mean_into(y: &mut [f64], srcs: &[&[f64]], k: f64) {
    const T: usize = 16;
    // invariant: at least one neighbour (k = n − f ≥ 1).
    let (first, rest) = srcs.split_first().expect("invariant: n - f >= 1");
    let len = y.len();
    let mut c = 0;
    while c + T <= len {
        let mut acc = [0.0; T];
        acc.copy_from_slice(&first[c..c + T]);
        for s in rest {
            let v = &s[c..c + T];
            for l in 0..T {
                acc[l] += v[l];
            }
        }
        for (o, a) in y[c..c + T].iter_mut().zip(acc) {
            *o = a / k;
        }
        c += T;
    }
    for c in c..len {
        let mut a = first[c];
        for s in rest {
            a += s[c];
        }
        y[c] = a / k;
    }
}

/// The n×n matrix of squared Euclidean distances (row-major, symmetric, zero diagonal),
/// computed over coordinate chunks ([`chunk_len`]) in parallel and summed in chunk order, so the
/// bytes do not depend on the thread count. O(n²d) time, at most 32·n² extra values.
pub(crate) fn pairwise_sq_dists(x: UpdatesView<'_>) -> Vec<f64> {
    let (n, d) = (x.n(), x.d());
    let npairs = n * (n - 1) / 2;
    let mut d2 = vec![0.0; n * n];
    if npairs == 0 {
        return d2;
    }
    let chunk = chunk_len(d);
    let nchunks = d.div_ceil(chunk);
    let partials: Vec<Vec<f64>> = (0..nchunks)
        .into_par_iter()
        .map(|c| {
            let lo = c * chunk;
            let hi = (lo + chunk).min(d);
            let mut acc = vec![0.0; npairs];
            let mut b = lo;
            while b < hi {
                let e = (b + BLOCK).min(hi);
                let mut p = 0;
                for i in 0..n {
                    let xi = &x.col(i)[b..e];
                    let mut j = i + 1;
                    while j + 4 <= n {
                        let s = sq_dist4(
                            xi,
                            [
                                &x.col(j)[b..e],
                                &x.col(j + 1)[b..e],
                                &x.col(j + 2)[b..e],
                                &x.col(j + 3)[b..e],
                            ],
                        );
                        for (t, v) in s.iter().enumerate() {
                            acc[p + t] += v;
                        }
                        p += 4;
                        j += 4;
                    }
                    while j < n {
                        acc[p] += sq_dist_lanes(xi, &x.col(j)[b..e]);
                        p += 1;
                        j += 1;
                    }
                }
                b = e;
            }
            acc
        })
        .collect();
    let mut p = 0;
    for i in 0..n {
        for j in (i + 1)..n {
            let mut s = 0.0;
            for part in &partials {
                s += part[p];
            }
            d2[i * n + j] = s;
            d2[j * n + i] = s;
            p += 1;
        }
    }
    d2
}

/// Lanes of independent partial sums: lets the compiler keep SIMD registers busy without
/// reassociating a float reduction.
const LANES: usize = 4;

/// Σ (a − b)² with [`LANES`] interleaved accumulators.
fn sq_dist_lanes(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; LANES];
    let ac = a.chunks_exact(LANES);
    let bc = b.chunks_exact(LANES);
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (ca, cb) in ac.zip(bc) {
        for l in 0..LANES {
            let t = ca[l] - cb[l];
            acc[l] += t * t;
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (u, v) in ar.iter().zip(br) {
        s += (u - v) * (u - v);
    }
    s
}

/// [`sq_dist_lanes`] of `a` against four vectors at once (each load of `a` reused four times).
/// Gives bit-for-bit the same four numbers as four calls to [`sq_dist_lanes`].
fn sq_dist4(a: &[f64], bs: [&[f64]; 4]) -> [f64; 4] {
    let mut acc = [[0.0; LANES]; 4];
    let m = a.len() / LANES * LANES;
    let mut c = 0;
    while c < m {
        let ca = &a[c..c + LANES];
        for (q, b) in bs.iter().enumerate() {
            let cb = &b[c..c + LANES];
            for l in 0..LANES {
                let t = ca[l] - cb[l];
                acc[q][l] += t * t;
            }
        }
        c += LANES;
    }
    let mut out = [0.0; 4];
    for (q, b) in bs.iter().enumerate() {
        let r = &acc[q];
        let mut s = (r[0] + r[1]) + (r[2] + r[3]);
        for (u, v) in a[m..].iter().zip(&b[m..]) {
            s += (u - v) * (u - v);
        }
        out[q] = s;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::pairwise_sq_dists as naive_sq_dists;
    use crate::rng::rng_from_seed;
    use rand::RngExt;

    fn run(nnm: Nnm, u: &Updates) -> Result<Updates> {
        let mut rng = rng_from_seed(0);
        nnm.apply(u.clone(), &mut AggContext::new(&mut rng))
    }

    #[test]
    fn byzfl_docstring_example() {
        // ByzFL's NNM(1) docstring on (1,2,3), (4,5,6), (7,8,9): k = 2 neighbours.
        // x₀: itself and x₁ → (2.5,3.5,4.5); x₁: itself at 0, x₀ and x₂ both at distance √27 —
        // a tie, broken towards the smaller index x₀ → (2.5,3.5,4.5) (ByzFL prints the same);
        // x₂: itself and x₁ → (5.5,6.5,7.5).
        let u = Updates::from_rows(&[
            vec![1.0, 2.0, 3.0],
            vec![4.0, 5.0, 6.0],
            vec![7.0, 8.0, 9.0],
        ])
        .unwrap();
        let out = run(Nnm::new(1, Compat::Byzfl), &u).unwrap();
        assert_eq!(out.view().col(0), &[2.5, 3.5, 4.5]);
        assert_eq!(out.view().col(1), &[2.5, 3.5, 4.5]);
        assert_eq!(out.view().col(2), &[5.5, 6.5, 7.5]);
    }

    #[test]
    fn known_answer_with_outlier() {
        // 1-D points 0, 1, 2, 100 with f = 1 (n = 4 > 2f): k = 3 neighbours each.
        // 0 → {0,1,2}: mean 1; 1 → {0,1,2}: 1; 2 → {0,1,2}: 1; 100 → {1,2,100}: 103/3.
        let u = Updates::from_rows(&[vec![0.0], vec![1.0], vec![2.0], vec![100.0]]).unwrap();
        let out = run(Nnm::new(1, Compat::Native), &u).unwrap();
        let got: Vec<f64> = out.view().cols().map(|c| c[0]).collect();
        assert_eq!(got, vec![1.0, 1.0, 1.0, 103.0 / 3.0]);
    }

    #[test]
    fn f_zero_gives_the_mean_everywhere() {
        // With f = 0 every vector's neighbourhood is the whole set: each output is the mean.
        let u = Updates::from_rows(&[vec![1.0, -1.0], vec![3.0, 5.0], vec![8.0, 2.0]]).unwrap();
        let out = run(Nnm::new(0, Compat::Native), &u).unwrap();
        for c in out.view().cols() {
            assert_eq!(c, &[4.0, 2.0]);
        }
    }

    #[test]
    fn blocked_distances_match_naive_ones() {
        // Chunked/lane-split sums reorder additions; compare with the plain serial sums to
        // 1e-12 relative on a size that exercises several chunks, the 4-wide kernel and the
        // remainders (n = 7, d = 70437: 61 chunks of 1152 coordinates, each in blocks of 512,
        // 512 and 128, and one chunk of 165).
        let mut rng = rng_from_seed(3);
        let (n, d) = (7, 64 * 1100 + 37);
        assert_eq!(chunk_len(d), 1152);
        let rows: Vec<Vec<f64>> = (0..n)
            .map(|_| (0..d).map(|_| rng.random::<f64>() * 4.0 - 2.0).collect())
            .collect();
        let u = Updates::from_rows(&rows).unwrap();
        let fast = pairwise_sq_dists(u.view());
        let slow = naive_sq_dists(u.view());
        for (a, b) in fast.iter().zip(&slow) {
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} vs {b}");
        }
        for i in 0..n {
            assert_eq!(fast[i * n + i], 0.0);
        }
    }

    #[test]
    fn same_bytes_for_any_thread_count() {
        // 1 and 3 rayon threads on an input with 8 chunks must give identical outputs.
        let mut rng = rng_from_seed(4);
        let rows: Vec<Vec<f64>> = (0..6)
            .map(|_| (0..2100).map(|_| rng.random::<f64>()).collect())
            .collect();
        let u = Updates::from_rows(&rows).unwrap();
        let in_pool = |t: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
                .install(|| run(Nnm::new(2, Compat::Native), &u).unwrap())
        };
        assert_eq!(in_pool(1), in_pool(3));
    }

    #[test]
    fn matches_a_direct_implementation_on_random_input() {
        // Reference: for each i, sort all j by (distance, index), average the first n − f
        // vectors column by column (the ByzFL definition, written out naively).
        let mut rng = rng_from_seed(11);
        let (n, d, f) = (9, 300, 3);
        let rows: Vec<Vec<f64>> = (0..n)
            .map(|_| (0..d).map(|_| rng.random::<f64>()).collect())
            .collect();
        let u = Updates::from_rows(&rows).unwrap();
        let out = run(Nnm::new(f, Compat::Native), &u).unwrap();
        let d2 = naive_sq_dists(u.view());
        for i in 0..n {
            let mut idx: Vec<usize> = (0..n).collect();
            idx.sort_by(|&a, &b| d2[i * n + a].total_cmp(&d2[i * n + b]).then(a.cmp(&b)));
            let want = u.view().mean_of(idx[..n - f].iter().copied());
            for (a, b) in out.view().col(i).iter().zip(want.iter()) {
                assert!((a - b).abs() < 1e-12, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn requirement_and_infinite_input() {
        let u = Updates::from_rows(&[vec![0.0], vec![1.0], vec![2.0], vec![3.0]]).unwrap();
        // Native needs n > 2f: f = 2 with n = 4 fails; ByzFL only needs f < n.
        let e = run(Nnm::new(2, Compat::Native), &u)
            .unwrap_err()
            .to_string();
        assert!(e.contains("n > 2f = 4"), "{e}");
        assert!(run(Nnm::new(2, Compat::Byzfl), &u).is_ok());
        let e = run(Nnm::new(4, Compat::Byzfl), &u).unwrap_err().to_string();
        assert!(e.contains("n > f = 4"), "{e}");
        let mut m = u.into_matrix();
        m[(0, 3)] = f64::INFINITY;
        let inf = Updates::new_allow_inf(m).unwrap();
        assert!(matches!(
            run(Nnm::new(1, Compat::Native), &inf),
            Err(Error::NonFinite { .. })
        ));
    }

    #[test]
    fn registry_builds_by_both_names() {
        let p = Params::new().with("f", 1.0);
        assert_eq!(
            crate::aggregators::build_pre("NNM", &p, Compat::Byzfl)
                .unwrap()
                .name(),
            "nnm"
        );
        assert!(crate::aggregators::build_pre(
            "nnm",
            &Params::new().with("f", 0.5),
            Compat::Native
        )
        .is_err());
    }
}
