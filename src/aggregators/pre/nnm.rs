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
//! **Infinite input** (the `inf` attack). A vector with a ±∞ entry is infinitely far from
//! every finite one; they are found on the diagonal of the distance matrix (‖xᵢ − xᵢ‖² is NaN
//! only for them), so finite input pays nothing. [`Compat::Native`] (at most f such vectors,
//! else [`crate::Error::NonFinite`]): a finite vector's neighbours are its n − f nearest
//! finite vectors, and an infinite vector stays as it is (its mean with any neighbours is
//! still at infinity), for the rule after NNM to discard. [`Compat::Byzfl`] reproduces
//! ByzFL 0.0.11: its distances from an infinite row are +∞ to finite rows and NaN to infinite
//! ones (itself included), and NumPy's `argpartition` puts NaN last, so when exactly n − f
//! rows are finite (the `Inf` attack at its declared f) *every* row, infinite ones included,
//! becomes the mean of the finite rows. With more finite rows ByzFL picks among equal
//! infinite distances in an unspecified order, and with fewer it averages infinite rows; both
//! are refused ([`crate::Error::NonFinite`], naming nnm).
//!
//! **NaN** (native, read as +∞ by `Updates::new_untrusted`): its vector is at infinity and
//! stays so, for the rule after NNM to discard.
//!
//! # References
//! Allouah, Farhadkhani, Guerraoui, Gupta, Pinot & Stephan, "Fixing by Mixing: A Recipe for
//! Optimal Byzantine ML under Heterogeneity", AISTATS 2023, arXiv 2302.01772.

use crate::aggregators::distances::{pairwise_sq_dists, pairwise_sq_dists_filling};
use crate::aggregators::{
    require_honest_majority, require_pairwise_fits, AggContext, Aggregator, FillLast, PreAggregator,
};
use crate::data::{all_finite, mean_without_overflow, with_scratch, Updates, UpdatesView};
use crate::params::{Compat, Params, Spec};
use crate::rng::rng_from_seed;
use crate::{Error, Result};
use nalgebra::DVector;
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

/// Coordinates per in-place block: the block's n outputs (n × 4 KB) stay in L2 with the inputs.
const BLOCK: usize = 512;

/// Coordinates per block of [`Nnm::then_coordinatewise`] (n ≤ 512): the block's n mixed
/// vectors (n × 8 KB, 400 kB at n = 50) stay in L2 while the rule reads them, and the rule's
/// per-call set-up (its selection network) is paid d / 1024 times. Fewer for larger n
/// ([`fused_block`]), so a thread's scratch stays within 4 MiB.
const FUSED_BLOCK: usize = 1024;

/// Coordinates per fused block for n vectors: [`FUSED_BLOCK`], or 4 MiB of scratch in
/// multiples of 64 coordinates (at least 64) for n > 512. A function of n alone, so the
/// blocks, and the bits, do not depend on the thread count.
fn fused_block(n: usize) -> usize {
    ((1 << 19) / n.max(1) / 64 * 64).clamp(64, FUSED_BLOCK)
}

thread_local! {
    /// Each thread's block of mixed vectors in [`Nnm::then_coordinatewise`], kept from call
    /// to call (fresh pages per block or per call cost more than the mixing of the block).
    static MIXED: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

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

    /// The declared f.
    pub(crate) fn f(&self) -> usize {
        self.f
    }

    /// The neighbour lists: for each i, the indices of its n − f nearest vectors in increasing
    /// index order (ties in distance broken by the smaller index).
    fn neighbours(&self, d2: &[f64], n: usize) -> Vec<Vec<usize>> {
        let k = n - self.f;
        (0..n)
            .map(|i| {
                let row = &d2[i * n..(i + 1) * n];
                let mut idx: Vec<usize> = (0..n).collect();
                nearest_first(&mut idx, row, k);
                idx
            })
            .collect()
    }

    /// Neighbour lists when the (sorted) vectors `infinite` hold ±∞ (module docs); an empty
    /// list keeps the vector as it is.
    fn neighbours_with_infinite(
        &self,
        d2: &[f64],
        n: usize,
        infinite: &[usize],
    ) -> Result<Vec<Vec<usize>>> {
        let finite: Vec<usize> = (0..n)
            .filter(|i| infinite.binary_search(i).is_err())
            .collect();
        let k = n - self.f;
        match self.compat {
            Compat::Byzfl if finite.len() == k => Ok(vec![finite; n]),
            Compat::Byzfl => Err(Error::NonFinite {
                what: "input of nnm (ByzFL semantics)".into(),
                detail: format!(
                    "{} infinite of {n} vectors with f = {}: ByzFL's neighbours then depend on \
                     how NumPy's argpartition orders equal infinite (or NaN) distances, which \
                     is unspecified (ByzFL 0.0.11 on x86 drops two arbitrary finite rows at \
                     n = 12, f = 5); only exactly f infinite vectors are reproduced. Use \
                     --compat native",
                    infinite.len(),
                    self.f
                ),
            }),
            Compat::Native if infinite.len() > self.f => Err(Error::NonFinite {
                what: "input of nnm".into(),
                detail: format!(
                    "{} of {n} vectors hold ±inf, more than the declared f = {}: some finite \
                     vector would need an infinitely distant neighbour",
                    infinite.len(),
                    self.f
                ),
            }),
            Compat::Native => Ok((0..n)
                .map(|i| {
                    if infinite.binary_search(&i).is_ok() {
                        return Vec::new();
                    }
                    let row = &d2[i * n..(i + 1) * n];
                    let mut idx = finite.clone();
                    nearest_first(&mut idx, row, k);
                    idx
                })
                .collect()),
        }
    }
}

/// Cuts `idx` to its k entries of smallest distance `row[i]` (ties to the smaller index),
/// in increasing index order. (distance, index) is a total order, so selecting the k
/// smallest (O(n)) keeps the set a full sort would; only they are sorted, by index.
fn nearest_first(idx: &mut Vec<usize>, row: &[f64], k: usize) {
    if k < idx.len() {
        idx.select_nth_unstable_by(k, |&a, &b| row[a].total_cmp(&row[b]).then(a.cmp(&b)));
        idx.truncate(k);
    }
    idx.sort_unstable();
}

impl PreAggregator for Nnm {
    fn name(&self) -> &'static str {
        "nnm"
    }

    fn check_n(&self, n: usize) -> Result<()> {
        require_pairwise_fits("nnm", n)?;
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
        let mixing = self.mixing_of(x.view())?;
        let n = x.n();
        // In place, a block of coordinates at a time: the block's n outputs go to a scratch
        // buffer (n blocks of 4 KB, in L2 with the inputs; one per worker, not per block),
        // then over the inputs.
        x.row_blocks_mut(BLOCK).into_par_iter().for_each_init(
            Vec::new,
            |scratch: &mut Vec<f64>, mut cols| {
                let len = cols[0].len();
                scratch.resize(n * len, 0.0);
                {
                    let srcs: Vec<&[f64]> = cols.iter().map(|c| &**c).collect();
                    let mut outs: Vec<&mut [f64]> = scratch.chunks_mut(len).collect();
                    mix_block(&srcs, &mixing, &mut outs);
                    write_copies(&mixing, &mut outs);
                }
                for (col, y) in cols.iter_mut().zip(scratch.chunks(len)) {
                    col.copy_from_slice(y);
                }
            },
        );
        Ok(x)
    }

    /// Writes the mixed vectors into a fresh output instead of over a copy of `x`: a borrowed
    /// input (a NumPy array from Python, the first step of a pipeline) is read in place, and
    /// each output block is written once, with no scratch and no copy back.
    fn apply_view(&self, x: UpdatesView<'_>, _cx: &mut AggContext<'_>) -> Result<Updates> {
        let mixing = self.mixing_of(x)?;
        let (n, d) = (x.n(), x.d());
        let mut out = Updates::zeros(d, n);
        out.row_blocks_mut(BLOCK)
            .into_par_iter()
            .enumerate()
            .for_each(|(c, mut outs)| {
                let lo = c * BLOCK;
                let hi = lo + outs[0].len();
                let srcs: Vec<&[f64]> = x.cols().map(|col| &col[lo..hi]).collect();
                mix_block(&srcs, &mixing, &mut outs);
                write_copies(&mixing, &mut outs);
            });
        Ok(out)
    }
}

impl Nnm {
    /// Whether this is the paper's NNM ([`Compat::Native`]), which a pipeline may fuse with
    /// the coordinate-wise rule after it ([`Nnm::then_coordinatewise`]).
    pub(crate) fn is_native(&self) -> bool {
        self.compat == Compat::Native
    }

    /// `rule` on NNM's output of the input whose i-th vector is column `cols[i]` of `x` (the
    /// columns in order, or repeated for copies of one vector: [`crate::aggregators::expand`]'s
    /// positions), without that output or the copies written: a block of coordinates at a
    /// time (in parallel), the block's mixed vectors are made in a scratch block that stays
    /// in cache ([`mix_block`], the sums of [`PreAggregator::apply_view`] coordinate by
    /// coordinate) and handed to `rule`, whose outputs for the block are the aggregate's.
    ///
    /// `rule` must be coordinate-wise (each output coordinate computed from that coordinate's
    /// n values alone, with a cost per call small next to a block: the median, the trimmed
    /// mean), which makes the result the same bits as `rule` on the whole output of
    /// [`PreAggregator::apply_view`] on the written-out input, with no 40 MB of fresh pages
    /// written and read back at n = 50, d = 10⁵. The rule draws no random numbers (each block
    /// gets a fixed stream).
    ///
    /// The distances are taken between the columns of `x` only ([`Nnm::mixing`]): 861 pair
    /// sums per coordinate for the D-SGD round's 40 honest vectors and one attack sent ten
    /// times, instead of 1 275 among the 50 written out.
    ///
    /// A vector at infinity is handed on as it is (as `apply_view` does), NaN entries
    /// included when `x` still holds them: a rule that reads NaN as +∞
    /// ([`Aggregator::reads_nan_as_infinity`]) then returns what it returns after the NaN are
    /// rewritten, since NNM's neighbours and errors are the same (a NaN and a ±∞ entry alike
    /// make the diagonal of the distances NaN, and no finite vector's mean reads either).
    ///
    /// # Errors
    /// Those of [`PreAggregator::apply_view`] and of `rule`.
    pub(crate) fn then_coordinatewise(
        &self,
        x: UpdatesView<'_>,
        cols: &[usize],
        rule: &dyn Aggregator,
    ) -> Result<DVector<f64>> {
        // The pipeline's order of checks: the step's requirement, the rule's, then the input.
        self.check_n(cols.len())?;
        rule.check_n(cols.len())?;
        let mixing = self.mixing(x, cols, pairwise_sq_dists(x))?;
        mix_then(x, cols, &mixing, rule)
    }

    /// [`Nnm::then_coordinatewise`] of `x` with its last column written by its fill during
    /// the distances' pass ([`pairwise_sq_dists_filling`]: one read of the other columns
    /// where writing the column first takes two), the same bits. The column is written
    /// whole before any error of the input is returned.
    ///
    /// # Errors
    /// Those of [`Nnm::then_coordinatewise`].
    pub(crate) fn then_coordinatewise_filling(
        &self,
        x: FillLast<'_>,
        cols: &[usize],
        rule: &dyn Aggregator,
    ) -> Result<DVector<f64>> {
        self.check_n(cols.len())?;
        rule.check_n(cols.len())?;
        let (d2, x) = pairwise_sq_dists_filling(x);
        let mixing = self.mixing(x, cols, d2)?;
        mix_then(x, cols, &mixing, rule)
    }

    /// [`Nnm::mixing`] of `x` as it is, after the requirement on its n.
    fn mixing_of(&self, x: UpdatesView<'_>) -> Result<Mixing> {
        self.check_n(x.n())?;
        let all: Vec<usize> = (0..x.n()).collect();
        self.mixing(x, &all, pairwise_sq_dists(x))
    }

    /// What each output is ([`Mixing`]) for the input whose i-th vector is column `cols[i]`
    /// of `x`, from the squared distances `between` the columns of `x` (row-major, as
    /// [`pairwise_sq_dists`] gives them): every vector's neighbour list and the divisor n − f.
    /// Each pair's sum is that of the pair alone (`distances::pairs_in_block`) and the same
    /// whichever of the two comes first, and a column's distance to itself is what its copies'
    /// mutual distance would be (0, or NaN at infinity), so the distances read here are the
    /// bits of those among the written-out vectors.
    fn mixing(&self, x: UpdatesView<'_>, cols: &[usize], between: Vec<f64>) -> Result<Mixing> {
        let (m, n) = (x.n(), cols.len());
        let d2 = if cols.iter().copied().eq(0..m) {
            between
        } else {
            let between = &between;
            cols.iter()
                .flat_map(|&i| cols.iter().map(move |&j| between[i * m + j]))
                .collect()
        };
        let infinite: Vec<usize> = (0..n).filter(|&i| d2[i * n + i].is_nan()).collect();
        let nbrs = if infinite.is_empty() {
            self.neighbours(&d2, n)
        } else {
            self.neighbours_with_infinite(&d2, n, &infinite)?
        };
        Ok(Mixing::new(nbrs, (n - self.f) as f64))
    }
}

/// `rule` on the mixed vectors of [`Nnm::then_coordinatewise`], block by block, the i-th
/// mixed vector's sources read from column `cols[i]` of `x`. A rule that
/// [`Aggregator::takes_counts`] (the trimmed mean) reads each copy of a mixed vector where
/// that vector is ([`Aggregator::aggregate_at`]); for others the copies are written out.
fn mix_then(
    x: UpdatesView<'_>,
    cols: &[usize],
    mixing: &Mixing,
    rule: &dyn Aggregator,
) -> Result<DVector<f64>> {
    let (n, d) = (cols.len(), x.d());
    let block = fused_block(n);
    let (counted, slots) = (rule.takes_counts(), mixing.slots());
    let mut out = vec![0.0; d];
    out.par_chunks_mut(block)
        .enumerate()
        .try_for_each(|(c, out)| {
            let (lo, len) = (c * block, out.len());
            with_scratch(&MIXED, n * len, |mixed| {
                {
                    let srcs: Vec<&[f64]> = cols.iter().map(|&i| &x.col(i)[lo..lo + len]).collect();
                    let mut outs: Vec<&mut [f64]> = mixed.chunks_mut(len).collect();
                    mix_block(&srcs, mixing, &mut outs);
                    if !counted {
                        write_copies(mixing, &mut outs);
                    }
                }
                let mut rng = rng_from_seed(0);
                let cx = &mut AggContext::new(&mut rng);
                let block = UpdatesView::from_slice(mixed, len);
                let agg = if counted {
                    rule.aggregate_at(block, &slots, cx)?
                } else {
                    rule.aggregate(block, cx)?
                };
                out.copy_from_slice(agg.as_slice());
                Ok(())
            })
        })?;
    Ok(DVector::from_vec(out))
}

/// What one output of the mixing is: its own input (no neighbours: a vector at infinity,
/// natively), a copy of an earlier output (the same neighbour list: the copies of one
/// Byzantine vector), or the mean of its neighbours (indices in increasing order).
#[derive(Debug)]
enum Mix {
    Own,
    Copy(usize),
    Mean(Vec<usize>),
}

/// The mixing of one call, decided once from the distances and applied to every block of
/// coordinates ([`mix_block`]).
struct Mixing {
    plan: Vec<Mix>,
    /// The divisor n − f.
    k: f64,
}

impl Mixing {
    /// The plan for the neighbour lists `nbrs` (an empty list: the vector stays as it is),
    /// each output whose list equals an earlier one's made that output's copy.
    fn new(nbrs: Vec<Vec<usize>>, k: f64) -> Self {
        let mut plan: Vec<Mix> = Vec::with_capacity(nbrs.len());
        for nb in nbrs {
            let mix = if nb.is_empty() {
                Mix::Own
            } else if let Some(e) = plan
                .iter()
                .position(|m| matches!(m, Mix::Mean(earlier) if *earlier == nb))
            {
                Mix::Copy(e)
            } else {
                Mix::Mean(nb)
            };
            plan.push(mix);
        }
        Mixing { plan, k }
    }

    /// Where each output is once [`mix_block`] has run: its own place, or for a copy the
    /// place of the output it copies.
    fn slots(&self) -> Vec<usize> {
        (self.plan.iter().enumerate())
            .map(|(i, m)| match m {
                &Mix::Copy(e) => e,
                _ => i,
            })
            .collect()
    }
}

/// One block of coordinates of every output but the copies ([`write_copies`]): `outs[i]` is
/// the mean of the blocks `srcs[j]` of i's neighbours j, or `srcs[i]` itself, as `mixing`
/// plans.
///
/// Every output's sums, [`mean_into`]'s (left to right in neighbour order), taken a tile of
/// 64 coordinates at a time across all the outputs: the tile of every source (n × 512 B, 25 kB
/// at n = 50) stays in L1 while the n outputs read it k times over. Output by output, the
/// 40 sources' lines came from L2 for every tile, 40 streams at once, too many for the
/// prefetchers: the mixing took 43 % of the softmax NNM + trimmed-mean D-SGD round
/// (docs/performance.md, "fold13").
fn mix_block(srcs: &[&[f64]], mixing: &Mixing, outs: &mut [&mut [f64]]) {
    // Every mean's sources for this block, one list after another in plan order.
    let picked: Vec<&[f64]> = mixing
        .plan
        .iter()
        .filter_map(|m| match m {
            Mix::Mean(nb) => Some(nb.iter().map(|&j| srcs[j])),
            _ => None,
        })
        .flatten()
        .collect();
    let len = srcs.first().map_or(0, |s| s.len());
    let tile = if crate::simd::has_avx512() { 64 } else { 32 };
    let mut lo = 0;
    while lo < len {
        let hi = (lo + tile).min(len);
        let mut next = 0;
        for (i, mix) in mixing.plan.iter().enumerate() {
            match mix {
                Mix::Own => outs[i][lo..hi].copy_from_slice(&srcs[i][lo..hi]),
                Mix::Copy(_) => {}
                Mix::Mean(nb) => {
                    let mine = &picked[next..next + nb.len()];
                    next += nb.len();
                    mean_into_range(&mut outs[i][lo..hi], mine, lo, mixing.k);
                }
            }
        }
        lo = hi;
    }
    // Overflowed means, checked once per block rather than per tile.
    let mut next = 0;
    for (i, mix) in mixing.plan.iter().enumerate() {
        if let Mix::Mean(nb) = mix {
            refit_overflowed(outs[i], &picked[next..next + nb.len()], 0, mixing.k);
            next += nb.len();
        }
    }
}

/// The copies of one block, after [`mix_block`]: each from the output it copies.
fn write_copies(mixing: &Mixing, outs: &mut [&mut [f64]]) {
    for (i, mix) in mixing.plan.iter().enumerate() {
        if let &Mix::Copy(e) = mix {
            let (done, rest) = outs.split_at_mut(i);
            rest[0].copy_from_slice(done[e]);
        }
    }
}

/// [`mean_into`] of the coordinates `lo..lo + y.len()` of the sources, into `y`, without
/// the overflow check.
fn mean_into_range(y: &mut [f64], srcs: &[&[f64]], lo: usize, k: f64) {
    let hi = lo + y.len();
    if crate::simd::has_avx512() {
        crate::simd::widest(
            #[inline(always)]
            || mean_tiles_range::<64>(y, srcs, lo, hi, k),
        )
    } else {
        crate::simd::widest(
            #[inline(always)]
            || mean_tiles_range::<32>(y, srcs, lo, hi, k),
        )
    }
}

/// The coordinates of `y`, a mean of the sources' coordinates `lo..lo + y.len()` over k,
/// whose sum overflowed although the sources are finite (entries near 1.7·10³⁰⁸),
/// recomputed as Σ sᵢ/k ([`mean_without_overflow`]; NumPy returns ±∞ there). Reads `y`
/// once when nothing overflowed.
fn refit_overflowed(y: &mut [f64], srcs: &[&[f64]], lo: usize, k: f64) {
    if all_finite(y) {
        return;
    }
    let rows: Vec<&[f64]> = srcs.iter().map(|s| &s[lo..lo + y.len()]).collect();
    mean_without_overflow(y, &rows, &vec![1.0; rows.len()], k);
}

/// y = (s₀ + s₁ + … + s_{m−1}) / k, summed left to right per coordinate (NumPy's order),
/// with a tile of coordinates held in registers across all m sources. Compiled for the
/// widest vector instructions ([`crate::simd::widest`]); the tile (64 coordinates, eight
/// AVX-512 registers, or 32 on narrower machines, eight AVX2 ones) gives each of its
/// registers an independent chain of additions, so the loop is bound by the loads rather
/// than by one addition's latency. Neither choice touches the order of a coordinate's sum,
/// so every path gives the same bits.
pub(crate) fn mean_into(y: &mut [f64], srcs: &[&[f64]], k: f64) {
    mean_into_range(y, srcs, 0, k);
    refit_overflowed(y, srcs, 0, k);
}

/// The tiles of [`mean_into_range`]: the sources' coordinates `lo..hi` into `y` (length
/// hi − lo), T coordinates at a time.
#[inline(always)]
fn mean_tiles_range<const T: usize>(y: &mut [f64], srcs: &[&[f64]], lo: usize, hi: usize, k: f64) {
    // invariant: at least one neighbour (k = n − f ≥ 1).
    let (first, rest) = srcs.split_first().expect("invariant: n - f >= 1");
    let mut c = lo;
    while c + T <= hi {
        let mut acc = [0.0; T];
        acc.copy_from_slice(&first[c..c + T]);
        for s in rest {
            let v = &s[c..c + T];
            for l in 0..T {
                acc[l] += v[l];
            }
        }
        for (o, a) in y[c - lo..c - lo + T].iter_mut().zip(acc) {
            *o = a / k;
        }
        c += T;
    }
    for c in c..hi {
        let mut a = first[c];
        for s in rest {
            a += s[c];
        }
        y[c - lo] = a / k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    /// The mixing taken tile by tile across all outputs (`mix_block`) gives every output the
    /// bits of its mean taken alone (`mean_into`), or its own input where it has no
    /// neighbours: 13 vectors of which three are copies of one (equal neighbour lists,
    /// copied) and one holds +∞ (natively kept as it is), f = 4, over blocks of 1, 63, 64, 65
    /// and 2·64 + 37 coordinates (a ragged last tile). Seen to fail with an earlier output
    /// copied whenever its list had the same length (not the same members), and with every
    /// tile's sums read from the block's first coordinates.
    #[test]
    fn mixing_tile_by_tile_is_each_mean_alone() {
        let mut rng = rng_from_seed(21);
        for d in [1, 63, 64, 65, 2 * 64 + 37] {
            let mut m = nalgebra::DMatrix::from_fn(d, 13, |_, _| rng.random::<f64>() * 10.0);
            for c in [7, 9] {
                let copy = m.column(4).into_owned();
                m.set_column(c, &copy);
            }
            m[(d / 2, 11)] = f64::INFINITY;
            let u = Updates::new_allow_inf(m).unwrap();
            let nnm = Nnm::new(4, Compat::Native);
            let mixing = nnm.mixing_of(u.view()).unwrap();
            for c in [7, 9] {
                assert!(
                    matches!(mixing.plan[c], Mix::Copy(e) if e <= 4),
                    "copy {c} planned"
                );
            }
            assert!(
                matches!(mixing.plan[11], Mix::Own),
                "the vector at infinity is kept"
            );
            // The lists from the distances, apart from the plan made of them.
            let d2 = pairwise_sq_dists(u.view());
            let nbrs = nnm.neighbours_with_infinite(&d2, 13, &[11]).unwrap();
            let srcs: Vec<&[f64]> = u.view().cols().collect();
            let mut mixed = vec![f64::NAN; 13 * d];
            let mut outs: Vec<&mut [f64]> = mixed.chunks_mut(d).collect();
            mix_block(&srcs, &mixing, &mut outs);
            write_copies(&mixing, &mut outs);
            for (i, nb) in nbrs.iter().enumerate() {
                let mut alone = vec![f64::NAN; d];
                if nb.is_empty() {
                    alone.copy_from_slice(srcs[i]);
                } else {
                    let picked: Vec<&[f64]> = nb.iter().map(|&j| srcs[j]).collect();
                    mean_into(&mut alone, &picked, mixing.k);
                }
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(outs[i]), bits(&alone), "output {i}, d = {d}");
            }
        }
    }

    #[test]
    fn borrowed_and_in_place_paths_give_the_same_bytes() {
        // `apply_view` (fresh output, the first step of a pipeline) and `apply` (in place
        // through a scratch block) must agree to the bit, with a ragged last block, a vector at
        // infinity (natively kept as it is) and f = 0. Mutation seen to fail it: summing the
        // neighbours in `mix_block` in reverse order (`nb.iter().rev()`) on one path only.
        let mut rng = rng_from_seed(12);
        let (n, d) = (7, 2 * BLOCK + 37);
        let mut m = nalgebra::DMatrix::from_fn(d, n, |_, _| rng.random::<f64>() * 1e3 - 5e2);
        let finite = Updates::new(m.clone()).unwrap();
        m[(5, 3)] = f64::INFINITY;
        let with_inf = Updates::new_allow_inf(m).unwrap();
        for (u, f) in [(&finite, 2), (&finite, 0), (&with_inf, 3)] {
            let nnm = Nnm::new(f, Compat::Native);
            let mut rng = rng_from_seed(0);
            let viewed = nnm
                .apply_view(u.view(), &mut AggContext::new(&mut rng))
                .unwrap();
            let in_place = run(nnm, u).unwrap();
            let bits = |u: &Updates| -> Vec<u64> {
                u.view().as_slice().iter().map(|v| v.to_bits()).collect()
            };
            assert_eq!(bits(&viewed), bits(&in_place), "f = {f}");
        }
    }

    /// Neighbours whose sum overflows (a coordinate near 1.7·10³⁰⁸ in every vector, the
    /// same in all, so the distances stay finite and the neighbours are those of the other
    /// coordinates): that coordinate of every mixed vector is the common value (to 1e-15),
    /// the others are the bits of NNM without it, in the in-place, borrowed and fused
    /// (NNM then the trimmed mean) paths, over two blocks and a ragged tail. Seen to fail
    /// with `mix_block`'s refit skipped (+∞ in every mixed vector).
    #[test]
    fn neighbour_sums_near_the_largest_float_do_not_overflow() {
        let mut rng = rng_from_seed(4);
        let (n, f, d) = (7, 2, 2 * BLOCK + 37);
        let big = 1.7e308;
        let cols = [0, 70, d - 1];
        let small = nalgebra::DMatrix::from_fn(d, n, |r, _| {
            if cols.contains(&r) {
                0.0
            } else {
                rng.random::<f64>() * 1e3 - 5e2
            }
        });
        let mut large = small.clone();
        for &r in &cols {
            large.row_mut(r).fill(big);
        }
        let (small, large) = (Updates::new(small).unwrap(), Updates::new(large).unwrap());
        let nnm = Nnm::new(f, Compat::Native);
        let want = run(nnm, &small).unwrap();
        let mut rng = rng_from_seed(0);
        let viewed = nnm
            .apply_view(large.view(), &mut AggContext::new(&mut rng))
            .unwrap();
        for got in [run(nnm, &large).unwrap(), viewed] {
            for (g, w) in got.view().cols().zip(want.view().cols()) {
                for r in 0..d {
                    if cols.contains(&r) {
                        assert!((g[r] / big - 1.0).abs() <= 1e-15, "{r}: {}", g[r]);
                    } else {
                        assert_eq!(g[r].to_bits(), w[r].to_bits(), "{r}");
                    }
                }
            }
        }
        let tm = crate::aggregators::trmean::TrimmedMean::new(f, Compat::Native);
        let all: Vec<usize> = (0..n).collect();
        let fused = nnm.then_coordinatewise(large.view(), &all, &tm).unwrap();
        let plain = nnm.then_coordinatewise(small.view(), &all, &tm).unwrap();
        for r in 0..d {
            if cols.contains(&r) {
                assert!((fused[r] / big - 1.0).abs() <= 1e-15, "{r}: {}", fused[r]);
            } else {
                assert_eq!(fused[r].to_bits(), plain[r].to_bits(), "{r}");
            }
        }
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
        let d2 = crate::data::pairwise_sq_dists(u.view());
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
        // Points 0, 1, 2, +∞ with f = 1: 3 neighbours each. Native: the finite points mix
        // among {0, 1, 2} (mean 1); +∞ stays. ByzFL (exactly n − f finite): every row, +∞
        // included, is the mean of the finite rows, 1.
        let out = run(Nnm::new(1, Compat::Native), &inf).unwrap();
        assert_eq!(out.view().as_slice(), &[1.0, 1.0, 1.0, f64::INFINITY]);
        let out = run(Nnm::new(1, Compat::Byzfl), &inf).unwrap();
        assert_eq!(out.view().as_slice(), &[1.0, 1.0, 1.0, 1.0]);
        // Two infinite rows with f = 1: native cannot discard both; ByzFL's pick is
        // unspecified, with f = 2 as well (only n − f = 2 finite rows is reproduced).
        let mut m = inf.into_matrix();
        m[(0, 2)] = f64::NEG_INFINITY;
        let two = Updates::new_allow_inf(m).unwrap();
        assert!(matches!(
            run(Nnm::new(1, Compat::Native), &two),
            Err(Error::NonFinite { .. })
        ));
        let e = run(Nnm::new(1, Compat::Byzfl), &two)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nnm") && e.contains("argpartition"), "{e}");
        let out = run(Nnm::new(2, Compat::Byzfl), &two).unwrap();
        assert_eq!(out.view().as_slice(), &[0.5; 4]);
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
