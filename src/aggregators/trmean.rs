//! Coordinate-wise trimmed mean: per coordinate, drop the f smallest and the f largest values
//! and average the n − 2f left.
//!
//! ByzFL: `TrMean(f=0)`; requires n > 2f (ByzFL raises when 2f ≥ n). f = 0 is the plain mean.
//! **`Compat::Byzfl`** is exactly NumPy's `sort(axis=0)[f:-f].mean(axis=0)`: the kept values
//! added in ascending order from 0, divided by n − 2f (the *exact* kernel below, always).
//! **`Compat::Native`** is the same mean to rounding: where the *one-pass* kernel serves
//! (f ≤ 10 and n ≥ 32, ByzFL's setting n = 50, f = 10 among them) its sum is taken in another
//! order (below); otherwise it is the exact kernel too.
//!
//! +∞ entries (the `inf` attack) are ordered like any value: when at most f of a coordinate's
//! values are +∞ they are trimmed; otherwise the output is +∞, as in NumPy.
//!
//! Implementation, parallel over blocks of coordinates (rayon). Which kernel computes an
//! output depends on (n, f, compat) and on that coordinate's own values alone, so no output
//! depends on the thread count, the instruction set or how a caller blocks the coordinates
//! (the fused NNM path hands the rule blocks of its own size):
//!
//! - **one pass** (native, f ≤ 10, n ≥ 32): per group of 8 coordinates (one AVX-512
//!   register, [`crate::simd::Avx512`], whose compare-exchange takes the larger value as
//!   the bits x ^ y ^ min; 4 lanes on AVX2 and the baseline, [`crate::simd::Portable`]:
//!   the same bits either way), the rows are read straight from the input,
//!   eight at a time, sorted by Batcher's network on 8 and merged into the 11 smallest and
//!   the 11 largest values seen so far, both kept sorted in registers (a bitonic merge of
//!   each side; the first ten rows sorted at once where n ≡ 2 mod 8, as at n = 50, and with
//!   f = 10 the last merge cut to its first half and a max and a min over the tracked
//!   values). That gives the order statistics lo = x₍f₎ and hi = x₍n−f−1₎ of every
//!   coordinate; a second sweep over the same rows, still in L1, adds every value clamped to
//!   [lo, hi] in row order. Sorted, the f values below position f clamp to lo and the f above
//!   position n − f − 1 to hi while the kept ones stay, so that sum less f·lo and f·hi is the
//!   kept values' sum, ties included. It differs from NumPy's ascending sum of the kept values
//!   by rounding only: both are within γ₍n+3₎·(Σ|kept| + 2f·(|lo| + |hi|)) of the exact sum
//!   (γₖ = k·u/(1 − k·u), u = 2⁻⁵³; Higham, *Accuracy and Stability of Numerical
//!   Algorithms*, 2nd ed., SIAM 2002, §4.2), so the means differ by at most
//!   2·γ₅₃·(mean|kept| + 2·max(|lo|, |hi|)) ≈ 2.4·10⁻¹⁴ of the kept values' scale at n = 50,
//!   f = 10. Every term is a kept value or lo or hi, so a trimmed Byzantine 10³⁰⁰ costs no
//!   precision. A coordinate whose lo or hi is non-finite (more than f values ±∞ or NaN) or
//!   so large that a sum could overflow (|lo| or |hi| > f64::MAX / (n + 2f + 1)) is
//!   recomputed by sorting its n values and adding the kept ones in ascending order (the
//!   exact kernel's arithmetic), so ±∞, NaN and overflow come out exactly as NumPy's.
//! - **exact**: blocked transpose and a sorting network vectorised across coordinates
//!   (see the internal `coordinatewise` module), the middle added in ascending order, which
//!   is exactly NumPy's `sort(axis=0)[f:-f].mean(axis=0)`.
//!
//! Cost at n = 50, f = 10, d = 10⁵: the one pass took half the exact kernel's time on one
//! and on two threads, measured back to back (docs/performance.md, "The trimmed mean in one
//! pass").
//!
//! **NaN** (native, read as +∞ by `Updates::new_untrusted`): a +∞ value of its coordinate,
//! trimmed while at most f of that coordinate's values are non-finite.
//!
//! # References
//! - D. Yin, Y. Chen, K. Ramchandran, P. Bartlett, "Byzantine-robust distributed learning:
//!   towards optimal statistical rates", ICML 2018, arXiv 1803.01498.

use super::coordinatewise::{
    map_columns, nan_as_plus_inf, streams_from_memory, Lane, SortingNetwork, BLOCK, LANES,
};
use super::{expanded_indices, require_honest_majority, AggContext, Aggregator, FillLast};
use crate::data::UpdatesView;
use crate::params::{Compat, Params, Spec};
use crate::simd::{Lanes, Portable};
use crate::Result;
use nalgebra::DVector;
use rayon::prelude::*;

/// Registry entry.
pub const SPEC: Spec<dyn Aggregator> = Spec {
    name: "trmean",
    byzfl: Some("TrMean"),
    keys: &["f"],
    summary: "coordinate-wise trimmed mean dropping f values at each end (needs n > 2f)",
    build,
};

fn build(p: &Params, compat: Compat) -> Result<Box<dyn Aggregator>> {
    Ok(Box::new(TrimmedMean::new(p.f()?, compat)))
}

/// Coordinate-wise trimmed mean with trimming level f.
#[derive(Clone, Copy, Debug)]
pub struct TrimmedMean {
    f: usize,
    compat: Compat,
}

impl TrimmedMean {
    /// Trims `f` values at each end of every coordinate, with `compat`'s arithmetic (module
    /// docs).
    pub fn new(f: usize, compat: Compat) -> Self {
        TrimmedMean { f, compat }
    }

    /// The trimming level f.
    pub fn f(&self) -> usize {
        self.f
    }

    /// Whether the one-pass kernel computes this rule's outputs on n vectors (otherwise the
    /// exact kernel does): the arithmetic a caller that reproduces the rule must follow.
    pub(crate) fn one_pass_on(&self, n: usize) -> bool {
        self.compat == Compat::Native && one_pass_serves(n, self.f)
    }
}

impl Aggregator for TrimmedMean {
    fn name(&self) -> &'static str {
        "trmean"
    }

    fn check_n(&self, n: usize) -> Result<()> {
        require_honest_majority("trmean", n, self.f)
    }

    fn reads_nan_as_infinity(&self) -> bool {
        // f = 0 is the mean, which propagates a NaN.
        self.f > 0
    }

    fn aggregate(&self, x: UpdatesView<'_>, cx: &mut AggContext<'_>) -> Result<DVector<f64>> {
        self.aggregate_at(x, &(0..x.n()).collect::<Vec<_>>(), cx)
    }

    fn takes_counts(&self) -> bool {
        true
    }

    /// Each position read from its column, never written out: by the one-pass kernel, the
    /// exact kernel's transposition ([`map_columns`]) or the mean at f = 0. (Through the
    /// default [`Aggregator::aggregate_counted`], the same for copies counted.)
    fn aggregate_at(
        &self,
        x: UpdatesView<'_>,
        cols: &[usize],
        _cx: &mut AggContext<'_>,
    ) -> Result<DVector<f64>> {
        let (n, f) = (cols.len(), self.f);
        self.check_n(n)?;
        if f == 0 {
            // ByzFL returns Average() here.
            return Ok(x.mean_of(cols.iter().copied()));
        }
        let out = if self.one_pass_on(n) {
            one_pass(x, cols, f)
        } else {
            map_columns(x, Some(cols), exact_kernel(n, f))
        };
        Ok(DVector::from_vec(out))
    }

    /// The one-pass kernel writes each block of the last column, then takes the block's
    /// trimmed means with the same block of the others, in cache: the bits of
    /// [`Aggregator::aggregate_counted`] on the written columns, with one read of the others
    /// where writing the column first takes two. Elsewhere the column is written first.
    fn aggregate_counted_filling(
        &self,
        mut x: FillLast<'_>,
        counts: &[usize],
        cx: &mut AggContext<'_>,
    ) -> Result<DVector<f64>> {
        // Where the one pass serves, f ≥ 1 and n ≥ 32 > 2f: the rule's requirement holds.
        let idx = match expanded_indices(x.n(), counts) {
            Ok(idx) if self.one_pass_on(idx.len()) => idx,
            _ => return self.aggregate_counted(x.written(), counts, cx),
        };
        let (others, last, fill) = x.parts();
        let (m, f) = (others.n(), self.f);
        let avx512 = crate::simd::avx512();
        let stream = streams_from_memory(others);
        let selection = Selection::of(&idx, f);
        let mut out = vec![0.0; others.d()];
        last.par_chunks_mut(BLOCK)
            .zip(out.par_chunks_mut(BLOCK))
            .enumerate()
            .for_each(|(b, (written, out))| {
                let j0 = b * BLOCK;
                fill(others, j0, written, None);
                let written = &*written;
                let rows: Vec<&[f64]> = idx
                    .iter()
                    .map(|&i| if i < m { &others.col(i)[j0..] } else { written })
                    .collect();
                one_pass_rows(&rows, &selection, f, out, stream, avx512);
            });
        Ok(DVector::from_vec(out))
    }
}

/// The exact kernel for [`coordinatewise::map_blocks`](super::coordinatewise::map_blocks):
/// a sorting network selecting the wires f..n − f, added in ascending order.
fn exact_kernel(n: usize, f: usize) -> impl Fn(&mut [Lane], &mut [f64]) + Sync {
    let net = SortingNetwork::selecting(n, f..n - f);
    let kept = (n - 2 * f) as f64;
    #[inline(always)]
    move |w: &mut [Lane], out: &mut [f64]| {
        net.apply(w);
        let mut s = [0.0; LANES];
        for wire in &w[f..n - f] {
            for l in 0..LANES {
                s[l] += wire[l];
            }
        }
        for (l, (o, s)) in out.iter_mut().zip(s).enumerate() {
            *o = s / kept;
            if s.is_infinite() {
                *o = mean_if_sum_overflowed(s, w[f..n - f].iter().map(|wire| wire[l]), kept);
            }
        }
    }
}

/// The mean of the kept values `kept_values` (`kept` of them) whose sum `sum` is ±∞: where
/// they are all finite the sum overflowed (ByzFL's NumPy returns ±∞ there), and each is
/// divided before it is added, as the average does (`data::mean_without_overflow`); where
/// one is infinite, ±∞ stands.
#[cold]
#[inline(never)]
pub(crate) fn mean_if_sum_overflowed(
    sum: f64,
    kept_values: impl Iterator<Item = f64> + Clone,
    kept: f64,
) -> f64 {
    if kept_values.clone().all(f64::is_finite) {
        kept_values.map(|v| v / kept).sum()
    } else {
        sum / kept
    }
}

/// Smallest and largest values tracked per coordinate by the one-pass kernel: it serves
/// f < TRACKED.
const TRACKED: usize = 11;

/// Rows sorted together and merged at once into the tracked values.
const BATCH: usize = 8;

/// Rows of the first sort where n ≡ 2 (mod [`BATCH`]) (≤ [`TRACKED`]).
const FIRST_TEN: usize = 10;

/// Whether the one-pass kernel computes the trimmed mean for these (n, f): f < [`TRACKED`],
/// and n ≥ 32, below which the exact network is short enough to be the cheaper one.
fn one_pass_serves(n: usize, f: usize) -> bool {
    (1..TRACKED).contains(&f) && n >= 32
}

/// The trimmed mean by the one-pass kernel (module docs) of the input whose i-th vector is
/// column `cols[i]` of `x` (the columns in order, or repeated for copies), blocks of
/// [`BLOCK`] coordinates in parallel.
fn one_pass(x: UpdatesView<'_>, cols: &[usize], f: usize) -> Vec<f64> {
    let avx512 = crate::simd::avx512();
    let stream = streams_from_memory(x);
    let selection = Selection::of(cols, f);
    let mut out = vec![0.0; x.d()];
    out.par_chunks_mut(BLOCK).enumerate().for_each(|(b, out)| {
        let j0 = b * BLOCK;
        let rows: Vec<&[f64]> = cols.iter().map(|&i| &x.col(i)[j0..]).collect();
        one_pass_rows(&rows, &selection, f, out, stream, avx512);
    });
    out
}

/// Most distinct vectors for which the one pass takes each group's order statistics from
/// the distinct values and their multiplicities ([`order_statistics_of_few`], m² comparisons
/// per lane for m of them) instead of the selection network (a few hundred
/// compare-exchanges at n = 50).
const FEW: usize = 8;

/// The distinct vectors among the rows of a one pass, where there are at most [`FEW`]: the
/// first row holding each and how many rows hold it. NNM's mixed vectors are that under an
/// attack that sends one vector f times: their neighbour lists collapse to a few (two in the
/// D-SGD round at n = 50, f = 10), each output sharing an earlier one's list its copy, read
/// from one column ([`Aggregator::aggregate_at`]).
struct Few {
    first: [usize; FEW],
    count: [f64; FEW],
    m: usize,
}

impl Few {
    /// The distinct vectors behind the rows whose i-th is column `cols[i]`, or `None` when
    /// there are more than [`FEW`].
    fn of(cols: &[usize]) -> Option<Few> {
        let mut few = Few {
            first: [0; FEW],
            count: [0.0; FEW],
            m: 0,
        };
        for (i, &c) in cols.iter().enumerate() {
            match (0..few.m).find(|&j| cols[few.first[j]] == c) {
                Some(j) => few.count[j] += 1.0,
                None if few.m == FEW => return None,
                None => {
                    few.first[few.m] = i;
                    few.count[few.m] = 1.0;
                    few.m += 1;
                }
            }
        }
        Some(few)
    }
}

/// How a one pass takes each group's lo = x₍f₎ and hi = x₍n−f−1₎ from the rows whose i-th
/// is column `cols[i]`.
enum Selection {
    /// The selection network over every row ([`order_statistics`]).
    Network,
    /// The network over all rows but the last c, which are copies of one vector
    /// (2 ≤ c ≤ f), then each statistic clamped by the copies' value
    /// ([`order_statistics`]): the rule's input where an attack sends one vector f times,
    /// counted once ([`Aggregator::aggregate_counted`], ByzFL's copies appended last). At
    /// ByzFL's n = 50, f = 10 the network runs on 40 rows instead of 50.
    Copies(usize),
    /// From the distinct values, where there are at most [`FEW`].
    Few(Few),
}

impl Selection {
    #[cfg(test)]
    fn name(&self) -> String {
        match self {
            Selection::Network => "network".into(),
            Selection::Copies(c) => format!("{c} copies"),
            Selection::Few(few) => format!("{} distinct", few.m),
        }
    }

    fn of(cols: &[usize], f: usize) -> Selection {
        if let Some(few) = Few::of(cols) {
            return Selection::Few(few);
        }
        let copies = match cols.last() {
            Some(&last) => cols.iter().rev().take_while(|&&c| c == last).count(),
            None => 0,
        };
        if (2..=f).contains(&copies) {
            Selection::Copies(copies)
        } else {
            Selection::Network
        }
    }
}

/// The one-pass trimmed means of `out.len()` coordinates, vector i's values from `rows[i]`
/// (each at least as long as `out`), each group's order statistics taken as `selection`
/// says: eight lanes in AVX-512 registers where the CPU has them, else four as lane arrays
/// (AVX2 or the baseline). Both give the same bits (`tests`).
fn one_pass_rows(
    rows: &[&[f64]],
    selection: &Selection,
    f: usize,
    out: &mut [f64],
    stream: bool,
    avx512: Option<crate::simd::Avx512>,
) {
    match avx512 {
        Some(isa) => isa.run(
            #[inline(always)]
            || one_pass_block::<8>(rows, selection, f, out, stream, isa),
        ),
        None => crate::simd::widest(
            #[inline(always)]
            || one_pass_block::<4>(rows, selection, f, out, stream, Portable),
        ),
    }
}

/// How far ahead (in coordinates) a group prefetches its rows: 16 groups of 8. From Python
/// at n = 50, d = 10⁵, two threads: 1.51–1.57 ms per call against 1.55–1.60 ms a block
/// (256) ahead and 1.61–1.64 ms two blocks ahead (docs/performance.md).
const AHEAD: usize = 128;

/// The outputs of `out.len()` coordinates by groups of `L`, vector i's values from `rows[i]`,
/// computed by `isa`. When the input streams from memory, each group asks for its rows'
/// values [`AHEAD`] coordinates further on (where a row reaches that far), one row at a time
/// during its clamped sweep.
#[inline(always)]
fn one_pass_block<const L: usize>(
    rows: &[&[f64]],
    selection: &Selection,
    f: usize,
    out: &mut [f64],
    stream: bool,
    isa: impl Lanes<L>,
) {
    let n = rows.len();
    for (g, o) in out.chunks_mut(L).enumerate() {
        let j = g * L;
        let ahead = |i: usize| {
            if stream {
                if let Some(v) = rows[i].get(j + AHEAD) {
                    crate::simd::prefetch(std::slice::from_ref(v));
                }
            }
        };
        // A full group's means are stored as one vector (a copy of a run of varying length
        // was a call to `memcpy` per group, 0.9 % of the time from Python).
        if let Ok(o) = <&mut [f64; L]>::try_from(&mut *o) {
            *o = one_pass_group(
                n,
                selection,
                f,
                isa,
                #[inline(always)]
                |i| rows[i][j..j + L].try_into().expect("L values"),
                ahead,
            );
        } else {
            // The ragged last group, padded with zeros (lanes that reach no output).
            let means = one_pass_group(
                n,
                selection,
                f,
                isa,
                #[inline(always)]
                |i| {
                    let mut v = [0.0; L];
                    v[..o.len()].copy_from_slice(&rows[i][j..j + o.len()]);
                    v
                },
                ahead,
            );
            o.copy_from_slice(&means[..o.len()]);
        }
    }
}

/// The trimmed means of one group of `L` coordinates, `row(i)` giving row i's values (as
/// stored: a NaN is read as +∞ here), computed by `isa`; a lane whose lo or hi does not
/// [`fit`] is recomputed by [`exact_one`]. `ahead(i)` is called once per row i during the
/// clamped sweep, for a prefetch of that row's later values.
#[inline(always)]
fn one_pass_group<const L: usize, I: Lanes<L>>(
    n: usize,
    selection: &Selection,
    f: usize,
    isa: I,
    row: impl Fn(usize) -> [f64; L],
    ahead: impl Fn(usize),
) -> [f64; L] {
    let (lo, hi) = match selection {
        Selection::Few(few) => order_statistics_of_few(f, isa, &row, few),
        Selection::Copies(c) => order_statistics(n, f, *c, isa, &row),
        Selection::Network => order_statistics(n, f, 0, isa, &row),
    };
    // Second sweep (rows still in L1): each value clamped to [lo, hi] as by `clamped` (the
    // min with hi first, so a NaN comes out hi), added in row order. Its chain of n
    // dependent additions leaves the load ports idle, so the prefetches go here: issued as a
    // burst of n before the selection, they waited for miss buffers and held it up
    // (docs/performance.md, "Prefetches during the sweep").
    let mut sum = isa.splat(0.0);
    for i in 0..n {
        ahead(i);
        let term = isa.max(lo, isa.min(isa.vector(row(i)), hi));
        sum = isa.add(sum, term);
    }
    let (sum, lo, hi) = (isa.values(sum), isa.values(lo), isa.values(hi));
    let mut mean = [0.0; L];
    let mut all_fit = true;
    for l in 0..L {
        mean[l] = mean_of_clamped_sum(sum[l], lo[l], hi[l], n, f);
        all_fit &= fits(lo[l], hi[l], n, f);
    }
    if !all_fit {
        for l in 0..L {
            if !fits(lo[l], hi[l], n, f) {
                mean[l] = exact_one(n, f, |i| row(i)[l]);
            }
        }
    }
    mean
}

/// lo = x₍f₎ and hi = x₍n−f−1₎ of each lane of one group, `row(i)` giving row i's values (a
/// NaN read as +∞), by `isa`. Where the last `copies` rows (0, or 2 to f) hold one value b,
/// the network runs on the m = n − copies others, sorted h₍0₎ ≤ … ≤ h₍m−1₎, and with c
/// copies lo = clamp(b, h₍f−c₎, h₍f₎), hi = clamp(b, h₍m−1−f₎, h₍m−1−f+c₎): with b below
/// h₍f−c₎ all c copies sit below position f, which h₍f−c₎ takes; above h₍f₎ the f + 1
/// smallest are h₍0₎ … h₍f₎; between, a copy sits at f (hi symmetric). The same values as the
/// network's on all n rows; a zero's sign can differ, which no output shows
/// ([`order_statistics_of_few`]).
#[inline(always)]
fn order_statistics<const L: usize, I: Lanes<L>>(
    n: usize,
    f: usize,
    copies: usize,
    isa: I,
    row: impl Fn(usize) -> [f64; L],
) -> (I::V, I::V) {
    debug_assert!(copies == 0 || (2..=f).contains(&copies));
    // NaN read as +∞: `v < +∞ ? v : +∞`, as `nan_as_plus_inf`.
    let plus_inf = isa.splat(f64::INFINITY);
    let load = |i: usize| isa.min(isa.vector(row(i)), plus_inf);
    // The rows the network reads: m ≥ n − f > f of them.
    let m = n - copies;
    // The TRACKED smallest values so far, ascending, and the TRACKED largest, ascending; the
    // sentinels ±∞ are pushed out by real values (m > f, so f + 1 of them reach each side's
    // position f).
    let mut low = [plus_inf; TRACKED];
    let mut high = [isa.splat(f64::NEG_INFINITY); TRACKED];
    // The first rows take the place of the sentinels, with nothing to merge with yet: ten of
    // them where the batches of 8 after them then end on the last row (m ≡ 2 mod 8, ByzFL's
    // n = 50: 10 more compare-exchanges in the first sort, 44 fewer in two insertions);
    // else one batch of 8 (none below 8 rows, which the kernel meets only in tests).
    let first = if m % BATCH == 2 && m >= FIRST_TEN {
        FIRST_TEN
    } else if m >= BATCH {
        BATCH
    } else {
        0
    };
    if first == FIRST_TEN {
        let mut c: [I::V; FIRST_TEN] = rows_from(0, load);
        sort_ten(isa, &mut c);
        low[..FIRST_TEN].copy_from_slice(&c);
        high[TRACKED - FIRST_TEN..].copy_from_slice(&c);
    } else if first == BATCH {
        let mut c: [I::V; BATCH] = rows_from(0, load);
        sort_batch(isa, &mut c);
        low[..BATCH].copy_from_slice(&c);
        high[TRACKED - BATCH..].copy_from_slice(&c);
    }
    let batched = first + (m - first) / BATCH * BATCH;
    // With f = TRACKED − 1 and no row after the batches, the statistics needed are the
    // largest and smallest of the TRACKED smallest and of the TRACKED largest (lo and hi,
    // and with f copies h₍0₎ and h₍m−1₎): the last batch needs only its merges' first halves
    // (which leave those values, unsorted) and a max and a min over them.
    let reduce_last =
        f == TRACKED - 1 && batched == m && batched > first && (copies == 0 || copies == f);
    let merged = if reduce_last {
        batched - BATCH
    } else {
        batched
    };
    for i0 in (first..merged).step_by(BATCH) {
        let mut c = rows_from(i0, load);
        sort_batch(isa, &mut c);
        merge_low(isa, &mut low, &c);
        merge_high(isa, &mut high, &c);
    }
    let (lo, hi, lowest, highest) = if reduce_last {
        let mut c = rows_from(merged, load);
        sort_batch(isa, &mut c);
        halve_low(isa, &mut low, &c);
        halve_high(isa, &mut high, &c);
        let lo = low[1..].iter().fold(low[0], |m, &v| isa.max(m, v));
        let hi = high[1..].iter().fold(high[0], |m, &v| isa.min(m, v));
        if copies == 0 {
            return (lo, hi);
        }
        // copies = f: h₍0₎ and h₍m−1₎.
        let lowest = low[1..].iter().fold(low[0], |m, &v| isa.min(m, v));
        let highest = high[1..].iter().fold(high[0], |m, &v| isa.max(m, v));
        (lo, hi, lowest, highest)
    } else {
        for i in batched..m {
            let v = load(i);
            insert_low(isa, &mut low, v);
            insert_high(isa, &mut high, v);
        }
        let (lo, hi) = (low[f], high[TRACKED - 1 - f]);
        if copies == 0 {
            return (lo, hi);
        }
        (lo, hi, low[f - copies], high[TRACKED - 1 - f + copies])
    };
    // The copies' value b clamps h₍f₎ from below by h₍f−c₎ and h₍m−1−f₎ from above by
    // h₍m−1−f+c₎ (no closure: one would be compiled apart from the caller's instruction set,
    // a call per group).
    let b = load(m);
    (
        isa.max(lowest, isa.min(b, lo)),
        isa.min(highest, isa.max(b, hi)),
    )
}

/// [`order_statistics`] from the distinct values: row `few.first[j]` stands for
/// `few.count[j]` rows. lo is the smallest value with at least f + 1 values at or below it,
/// hi the largest with at least f + 1 at or above it: the values the network finds. (Where
/// lo or hi is a zero, the network's may carry the other sign; no output shows it: the
/// clamped sweep's sum starts from +0, so it is never −0, and subtracting f·(±0) from it
/// changes nothing.)
#[inline(always)]
fn order_statistics_of_few<const L: usize, I: Lanes<L>>(
    f: usize,
    isa: I,
    row: impl Fn(usize) -> [f64; L],
    few: &Few,
) -> (I::V, I::V) {
    // NaN read as +∞, as in `order_statistics`.
    let plus_inf = isa.splat(f64::INFINITY);
    let mut v = [[0.0; L]; FEW];
    for (v, &i) in v.iter_mut().zip(&few.first[..few.m]) {
        *v = isa.values(isa.min(isa.vector(row(i)), plus_inf));
    }
    let v = &v[..few.m];
    let need = (f + 1) as f64;
    let (mut lo, mut hi) = ([f64::INFINITY; L], [f64::NEG_INFINITY; L]);
    for vj in v {
        let (mut at_or_below, mut at_or_above) = ([0.0; L], [0.0; L]);
        for (vi, &c) in v.iter().zip(&few.count) {
            for l in 0..L {
                at_or_below[l] += if vi[l] <= vj[l] { c } else { 0.0 };
                at_or_above[l] += if vi[l] >= vj[l] { c } else { 0.0 };
            }
        }
        for l in 0..L {
            if at_or_below[l] >= need && vj[l] < lo[l] {
                lo[l] = vj[l];
            }
            if at_or_above[l] >= need && vj[l] > hi[l] {
                hi[l] = vj[l];
            }
        }
    }
    (isa.vector(lo), isa.vector(hi))
}

/// Rows `i0..i0 + K` as `load` reads them, in order.
#[inline(always)]
fn rows_from<const K: usize, V: Copy>(i0: usize, load: impl Fn(usize) -> V) -> [V; K] {
    let mut c = [load(i0); K];
    for (b, c) in c.iter_mut().enumerate().skip(1) {
        *c = load(i0 + b);
    }
    c
}

/// Whether the one pass takes a coordinate whose order statistics are lo = x₍f₎ and
/// hi = x₍n−f−1₎: both finite and small enough that every partial sum of the clamped sweep
/// stays finite (|lo|, |hi| ≤ f64::MAX / (n + 2f + 1)), and so does the exact kernel's sum of
/// the kept values. NaN (never produced by the kernel, which reads it as +∞) does not fit.
#[inline(always)]
pub(crate) fn fits(lo: f64, hi: f64, n: usize, f: usize) -> bool {
    let bound = f64::MAX / (n + 2 * f + 1) as f64;
    lo.abs() <= bound && hi.abs() <= bound
}

/// `v` clamped to [lo, hi], the one pass's term for `v`. Sorted, positions 0..f clamp to lo,
/// positions n − f.. to hi and the kept ones stay, so the sum of the terms is
/// f·lo + f·hi + the kept values' sum, ties included. min(v, hi) first: a NaN (read as +∞)
/// comes out hi.
#[inline(always)]
pub(crate) fn clamped(v: f64, lo: f64, hi: f64) -> f64 {
    let below_hi = if v < hi { v } else { hi };
    if lo < below_hi {
        below_hi
    } else {
        lo
    }
}

/// The trimmed mean from the row-order sum of the [`clamped`] terms.
#[inline(always)]
pub(crate) fn mean_of_clamped_sum(sum: f64, lo: f64, hi: f64, n: usize, f: usize) -> f64 {
    let (f_, kept) = (f as f64, (n - 2 * f) as f64);
    (sum - f_ * lo - f_ * hi) / kept
}

/// One coordinate's trimmed mean by the exact kernel's arithmetic: its n values (NaN read as
/// +∞) sorted, the kept ones added in ascending order from 0, divided by n − 2f (each divided
/// first where their sum overflows). The same bits
/// as the network's: equal values are interchangeable, and ±0 in either order give the same
/// sum from +0. Where the one pass declines a coordinate, which Byzantine values make rare.
#[cold]
#[inline(never)]
fn exact_one(n: usize, f: usize, value: impl Fn(usize) -> f64) -> f64 {
    let mut v: Vec<f64> = (0..n).map(|i| nan_as_plus_inf(value(i))).collect();
    v.sort_unstable_by(f64::total_cmp);
    let mut s = 0.0;
    for x in &v[f..n - f] {
        s += x;
    }
    let kept = (n - 2 * f) as f64;
    if s.is_infinite() {
        return mean_if_sum_overflowed(s, v[f..n - f].iter().copied(), kept);
    }
    s / kept
}

/// Compare-exchanges by `$isa` on the wires of a register array, in order.
macro_rules! exchange {
    ($isa:ident, $w:ident; $($a:literal $b:literal),* $(,)?) => {
        $( {
            let (p, q) = $isa.exchange($w[$a], $w[$b]);
            $w[$a] = p;
            $w[$b] = q;
        } )*
    };
}

/// Sorts eight wires ascending: Batcher's odd–even merge sort on 8 (19 compare-exchanges).
#[inline(always)]
fn sort_batch<const L: usize, I: Lanes<L>>(isa: I, c: &mut [I::V; BATCH]) {
    exchange!(isa, c; 0 1, 2 3, 4 5, 6 7, 0 2, 1 3, 4 6, 5 7, 1 2, 5 6);
    exchange!(isa, c; 0 4, 1 5, 2 6, 3 7, 2 4, 3 5, 1 2, 3 4, 5 6);
}

/// Sorts ten wires ascending: Waksman's network on 10 (29 compare-exchanges, the fewest
/// known; Knuth, TAOCP vol. 3, §5.3.4). Checked on every 0/1 input (`tests`).
#[inline(always)]
fn sort_ten<const L: usize, I: Lanes<L>>(isa: I, c: &mut [I::V; FIRST_TEN]) {
    exchange!(isa, c; 4 9, 3 8, 2 7, 1 6, 0 5, 1 4, 6 9, 0 3, 5 8, 0 2, 3 6, 7 9, 0 1, 2 4);
    exchange!(isa, c; 5 7, 8 9, 1 2, 4 6, 7 8, 3 5, 2 5, 6 8, 1 3, 4 7, 2 3, 6 7, 3 4, 5 6);
    exchange!(isa, c; 4 5);
}

/// `low` (ascending) becomes the TRACKED smallest of `low` ∪ `c` (`c` ascending), ascending.
///
/// low[j] ↦ min(low[j], c[10 − j]) leaves the TRACKED smallest as a bitonic sequence
/// (ascending, then descending; Batcher 1968), which a bitonic merger on 16 wires sorts;
/// placed at wires 5..16 after five −∞ wires, every comparator touching those is a no-op
/// and is left out: 17 compare-exchanges. Checked on every 0/1 input (`tests`).
#[inline(always)]
fn merge_low<const L: usize, I: Lanes<L>>(isa: I, low: &mut [I::V; TRACKED], c: &[I::V; BATCH]) {
    halve_low(isa, low, c);
    exchange!(isa, low; 0 8, 1 9, 2 10, 3 7, 4 8, 5 9, 6 10);
    exchange!(isa, low; 0 2, 3 5, 4 6, 7 9, 8 10, 1 2, 3 4, 5 6, 7 8, 9 10);
}

/// `high` (ascending) becomes the TRACKED largest of `high` ∪ `c` (`c` ascending), ascending:
/// high[j] ↦ max(high[j], c[7 − j]) leaves them descending then ascending, sorted by the
/// bitonic merger on 16 wires with five +∞ wires after them (17 compare-exchanges).
#[inline(always)]
fn merge_high<const L: usize, I: Lanes<L>>(isa: I, high: &mut [I::V; TRACKED], c: &[I::V; BATCH]) {
    halve_high(isa, high, c);
    exchange!(isa, high; 0 8, 1 9, 2 10, 0 4, 1 5, 2 6, 3 7);
    exchange!(isa, high; 0 2, 1 3, 4 6, 5 7, 8 10, 0 1, 2 3, 4 5, 6 7, 8 9);
}

/// The first half of [`merge_low`]: `low` becomes the TRACKED smallest of `low` ∪ `c`, as a
/// bitonic sequence (not yet sorted).
#[inline(always)]
fn halve_low<const L: usize, I: Lanes<L>>(isa: I, low: &mut [I::V; TRACKED], c: &[I::V; BATCH]) {
    for j in TRACKED - BATCH..TRACKED {
        // `c < low ? c : low`, lane by lane.
        low[j] = isa.min(c[TRACKED - 1 - j], low[j]);
    }
}

/// The first half of [`merge_high`]: `high` becomes the TRACKED largest of `high` ∪ `c`, as a
/// bitonic sequence (not yet sorted).
#[inline(always)]
fn halve_high<const L: usize, I: Lanes<L>>(isa: I, high: &mut [I::V; TRACKED], c: &[I::V; BATCH]) {
    for j in 0..BATCH {
        // `high < c ? c : high`, lane by lane.
        high[j] = isa.max(high[j], c[BATCH - 1 - j]);
    }
}

/// Inserts `v` into `low` (ascending), dropping the largest.
#[inline(always)]
fn insert_low<const L: usize, I: Lanes<L>>(isa: I, low: &mut [I::V; TRACKED], mut v: I::V) {
    for w in low.iter_mut() {
        (*w, v) = isa.exchange(*w, v);
    }
}

/// Inserts `v` into `high` (ascending), dropping the smallest.
#[inline(always)]
fn insert_high<const L: usize, I: Lanes<L>>(isa: I, high: &mut [I::V; TRACKED], mut v: I::V) {
    for w in high.iter_mut().rev() {
        (v, *w) = isa.exchange(v, *w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`one_pass`] of every column of `x`, in order.
    fn one_pass_all(x: UpdatesView<'_>, f: usize) -> Vec<f64> {
        one_pass(x, &(0..x.n()).collect::<Vec<_>>(), f)
    }
    use crate::data::Updates;
    use crate::rng::rng_from_seed;
    use rand::RngExt;

    fn run(f: usize, u: &Updates) -> Result<Vec<f64>> {
        run_as(f, u, Compat::Native)
    }

    fn run_as(f: usize, u: &Updates, compat: Compat) -> Result<Vec<f64>> {
        let mut rng = rng_from_seed(0);
        TrimmedMean::new(f, compat)
            .aggregate(u.view(), &mut AggContext::new(&mut rng))
            .map(|v| v.as_slice().to_vec())
    }

    /// Kept values near f64::MAX whose sum overflows give their finite mean, on both kernels
    /// (the network at n = 5, the one pass at n = 40, whose large values take `exact_one`),
    /// and an infinite kept value still gives ±∞. Fails if either kernel divides the
    /// overflowed sum (checked: `inf` at every coordinate).
    #[test]
    fn large_finite_values_do_not_overflow() {
        for n in [5usize, 40] {
            let rows: Vec<Vec<f64>> = (0..n)
                .map(|i| {
                    vec![
                        1e308,
                        -1e308 + i as f64,
                        if i == n / 2 { f64::INFINITY } else { 1.0 },
                    ]
                })
                .collect();
            let u = Updates::new_allow_inf(nalgebra::DMatrix::from_fn(3, n, |k, i| rows[i][k]))
                .unwrap();
            let out = run(1, &u).unwrap();
            // Each of the n − 2 values divided first: a few roundings off 1e308.
            assert!((out[0] / 1e308 - 1.0).abs() < 1e-14, "n = {n}: {out:?}");
            assert!(
                out[1].is_finite() && (out[1] / -1e308 - 1.0).abs() < 1e-12,
                "n = {n}: {out:?}"
            );
            assert_eq!(out[2], 1.0, "n = {n}: one +∞ is trimmed");
        }
        let u = Updates::new_allow_inf(nalgebra::DMatrix::from_fn(1, 5, |_, i| {
            if i < 3 {
                f64::INFINITY
            } else {
                1e308
            }
        }))
        .unwrap();
        assert_eq!(run(1, &u).unwrap(), vec![f64::INFINITY]);
    }

    #[test]
    fn known_answers() {
        // ByzFL docstring: TrMean(1) of (1,2,3), (4,5,6), (7,8,9) = (4,5,6).
        let u =
            Updates::from_rows(&[vec![1., 2., 3.], vec![4., 5., 6.], vec![7., 8., 9.]]).unwrap();
        assert_eq!(run(1, &u).unwrap(), vec![4., 5., 6.]);
        // f = 1 on 5 values: coordinate 0 is -100, 1, 2, 4, 50 → drop -100 and 50 → 7/3;
        // coordinate 1 is 0, 0, 3, 3, 9 → drop one 0 and the 9 → (0+3+3)/3 = 2.
        let u = Updates::from_rows(&[
            vec![50., 0.],
            vec![1., 3.],
            vec![-100., 9.],
            vec![4., 0.],
            vec![2., 3.],
        ])
        .unwrap();
        let out = run(1, &u).unwrap();
        assert_eq!(out, vec![7.0 / 3.0, 2.0]);
        // f = 0 is the mean: (50+1-100+4+2)/5 = -8.6, (0+3+9+0+3)/5 = 3.
        assert_eq!(run(0, &u).unwrap(), vec![-43.0 / 5.0, 3.0]);
    }

    /// NumPy's definition for one coordinate: sort, add the middle in ascending order.
    fn by_sorting(mut v: Vec<f64>, f: usize) -> f64 {
        let n = v.len();
        v.sort_by(f64::total_cmp);
        v[f..n - f].iter().sum::<f64>() / (n - 2 * f) as f64
    }

    /// How far the one-pass kernel's mean may lie from the ascending-order one on the values
    /// `v` of one coordinate: the clamped row-order sum less f·lo and f·hi and the ascending
    /// sum of the kept values are both within γ₍n+3₎·(Σ|kept| + 2f(|lo| + |hi|)) of the exact
    /// sum (Higham 2002, §4.2), and each division adds half an ulp of its mean.
    fn reorder_bound(v: &[f64], f: usize) -> f64 {
        let mut s: Vec<f64> = v.to_vec();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        let kept = &s[f..n - f];
        let k = kept.len() as f64;
        let u = f64::EPSILON / 2.0;
        let m = (n + 3) as f64;
        let gamma = m * u / (1.0 - m * u);
        let (lo, hi) = (s[f].abs(), s[n - f - 1].abs());
        let scale: f64 = kept.iter().map(|x| x.abs()).sum::<f64>() + 2.0 * f as f64 * (lo + hi);
        (2.0 * gamma * scale + 2.0 * u * scale) / k
    }

    /// The trimmed mean takes multiplicities (`Aggregator::takes_counts`): on distinct
    /// vectors with counts, and with the last column written by its fill during the one pass
    /// (`aggregate_counted_filling`), it gives the bits of the expanded input, or its error,
    /// and leaves the column written. 30–45 distinct random vectors (`random_columns`: some
    /// far, with ±∞ or −0 entries) counted once or twice, the last (written by
    /// `spread_fill`, of ALIE's shape) 0–12 times as ALIE's vector is in the D-SGD round; d from 1 to 700 (the 256-coordinate blocks and their ragged ends); f from 0 to
    /// 12, so that the one pass, the exact kernel and the mean at f = 0 are all crossed.
    ///
    /// Mutations checked: the filling pass filling each block of the column from the others'
    /// next block (`j0 + BLOCK`, clipped), and the one pass reading its rows by position
    /// instead of their columns (`cols[i]` → `i`, clamped), each fail it.
    #[test]
    fn counted_and_filled_inputs_give_the_expanded_bits() {
        use crate::aggregators::tests::{random_columns, spread_fill};
        use crate::aggregators::{expand, FillLast};
        let mut rng = rng_from_seed(41);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let mut one_pass_cases = 0;
        for case in 0..120 {
            let k = rng.random_range(30..=45usize);
            let d = if case % 3 == 0 {
                rng.random_range(1..=20)
            } else {
                rng.random_range(250..=700)
            };
            let buf = random_columns(&mut rng, k, d, case % 4 == 1);
            let fill = spread_fill(&mut rng, false);
            let mut counts: Vec<usize> = (0..k).map(|_| rng.random_range(1..=2)).collect();
            counts.push(rng.random_range(0..=12));
            let n: usize = counts.iter().sum();
            let f = rng.random_range(0..=12usize).min((n - 1) / 2);
            let tm = TrimmedMean::new(f, Compat::Native);
            one_pass_cases += usize::from(tm.one_pass_on(n));
            let mut whole = buf.clone();
            {
                let (others, last) = whole.split_at_mut(k * d);
                fill(UpdatesView::from_slice(others, d), 0, last, None);
            }
            let x = UpdatesView::from_slice(&whole, d);
            let expanded = expand(x, &counts).unwrap();
            let mut r = rng_from_seed(0);
            let want = tm.aggregate(expanded.view(), &mut AggContext::new(&mut r));
            let counted = tm.aggregate_counted(x, &counts, &mut AggContext::new(&mut r));
            let mut filled = buf.clone();
            let by_fill = tm.aggregate_counted_filling(
                FillLast::new(&mut filled, d, &fill).unwrap(),
                &counts,
                &mut AggContext::new(&mut r),
            );
            let what = format!("case {case}: k {k} d {d} f {f} counts {counts:?}");
            assert_eq!(bits(&filled), bits(&whole), "{what}");
            for got in [counted, by_fill] {
                match (&want, got) {
                    (Ok(a), Ok(b)) => assert_eq!(bits(a.as_slice()), bits(b.as_slice()), "{what}"),
                    (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{what}"),
                    (a, b) => panic!("{what}: {a:?} vs {b:?}"),
                }
            }
        }
        assert!(one_pass_cases > 60, "{one_pass_cases}");
    }

    /// Rows read at given columns (`Aggregator::aggregate_at`), as NNM's mixed vectors and
    /// their copies are, give the bits of the input written out: 1–10 distinct random
    /// columns (`random_columns`: some far, with ±∞ or −0 entries, plus NaN, +0 and values
    /// equal across columns, so that lo and hi meet ties and zeros of both signs) at 32–60
    /// positions, f from 1 to 10; up to [`FEW`] distinct ones take their order statistics
    /// from the distinct values ([`order_statistics_of_few`]), more the network.
    ///
    /// Mutations checked: counting the values strictly below instead of at or below
    /// (`vi[l] < vj[l]`), and f values instead of f + 1 (`need = f`), each fail it.
    #[test]
    fn rows_at_few_columns_give_the_bits_of_the_written_out_input() {
        use crate::aggregators::tests::random_columns;
        let mut rng = rng_from_seed(43);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let mut few_cases = 0;
        for case in 0..300 {
            let k = rng.random_range(1..=10usize);
            let d = rng.random_range(1..=300usize);
            let mut buf = random_columns(&mut rng, k, d, case % 3 == 0);
            buf.truncate(k * d);
            for _ in 0..rng.random_range(0..=3) {
                let (c, j) = (rng.random_range(0..k), rng.random_range(0..d));
                buf[c * d + j] = match rng.random_range(0..4) {
                    0 => f64::NAN,
                    1 => 0.0,
                    _ => buf[rng.random_range(0..k) * d + j],
                };
            }
            let n = rng.random_range(32..=60usize);
            let cols: Vec<usize> = (0..n).map(|_| rng.random_range(0..k)).collect();
            let f = rng.random_range(1..=10usize);
            let tm = TrimmedMean::new(f, Compat::Native);
            few_cases += usize::from(Few::of(&cols).is_some());
            // NaN left in place: the rule reads it as +∞ (`reads_nan_as_infinity`).
            let (x, mut r) = (UpdatesView::from_slice(&buf, d), rng_from_seed(0));
            let want = tm.aggregate(x.select(&cols).view(), &mut AggContext::new(&mut r));
            let got = tm.aggregate_at(x, &cols, &mut AggContext::new(&mut r));
            let what = format!("case {case}: k {k} d {d} n {n} f {f}");
            match (want, got) {
                (Ok(a), Ok(b)) => assert_eq!(bits(a.as_slice()), bits(b.as_slice()), "{what}"),
                (a, b) => panic!("{what}: {a:?} vs {b:?}"),
            }
        }
        assert!(few_cases > 150, "{few_cases}");
    }

    #[test]
    fn matches_sorting_on_random_inputs() {
        // Reference: NumPy's definition, sort each coordinate, add the middle in order: to
        // the bit on the exact kernel (always under `Compat::Byzfl`), within the reordering
        // bound on the one pass.
        let mut rng = rng_from_seed(5);
        for (n, f) in [
            (3usize, 1usize),
            (10, 3),
            (21, 10),
            (50, 10),
            (50, 24),
            (33, 1),
        ] {
            let d = 300;
            let rows: Vec<Vec<f64>> = (0..n)
                .map(|_| (0..d).map(|_| rng.random::<f64>() * 4.0 - 1.0).collect())
                .collect();
            let u = Updates::from_rows(&rows).unwrap();
            let got = run(f, &u).unwrap();
            let byzfl = run_as(f, &u, Compat::Byzfl).unwrap();
            for j in 0..d {
                let v: Vec<f64> = rows.iter().map(|r| r[j]).collect();
                let want = by_sorting(v.clone(), f);
                assert_eq!(
                    byzfl[j].to_bits(),
                    want.to_bits(),
                    "byzfl n={n} f={f} j={j}"
                );
                if one_pass_serves(n, f) {
                    let tol = reorder_bound(&v, f);
                    assert!((got[j] - want).abs() <= tol, "n={n} f={f} j={j}");
                } else {
                    assert_eq!(got[j], want, "n={n} f={f} j={j}");
                }
            }
        }
    }

    /// The one-pass kernel itself on every shape it may meet (n from 2f + 1, batches of 8
    /// full and ragged, d not a multiple of the group, ties), against the sorting definition
    /// within the reordering bound. Mutations seen to fail it: the comparator `3 7` dropped
    /// from `merge_low` (lo then misses some merges' results); the reduced last merge taking
    /// lo as the smallest of the tracked values instead of the largest.
    #[test]
    fn one_pass_matches_sorting_on_every_shape() {
        let mut rng = rng_from_seed(6);
        // n ≡ 2 (mod 8) starts with a sort of ten; f = 10 with no row after the batches
        // (n = 32, 50, 66) ends on the reduced last merge.
        for (n, f) in [
            (3, 1),
            (9, 4),
            (16, 2),
            (21, 10),
            (32, 10),
            (34, 3),
            (42, 9),
            (50, 10),
            (57, 7),
            (59, 10),
            (64, 1),
            (66, 10),
        ] {
            let d = 2 * BLOCK + 13;
            // Few distinct values in half the columns, so ties straddle lo and hi.
            let rows: Vec<Vec<f64>> = (0..n)
                .map(|_| {
                    (0..d)
                        .map(|j| {
                            if j % 2 == 0 {
                                f64::from(rng.random_range(0..4u8)) - 1.5
                            } else {
                                rng.random::<f64>() * 6.0 - 3.0
                            }
                        })
                        .collect()
                })
                .collect();
            let u = Updates::from_rows(&rows).unwrap();
            let got = one_pass_all(u.view(), f);
            for j in 0..d {
                let v: Vec<f64> = rows.iter().map(|r| r[j]).collect();
                let want = by_sorting(v.clone(), f);
                let tol = reorder_bound(&v, f);
                assert!(
                    (got[j] - want).abs() <= tol,
                    "n={n} f={f} j={j}: {} vs {want}",
                    got[j]
                );
            }
        }
    }

    /// Byzantine values: ±∞, NaN (read as +∞), ±10³⁰⁰, ±f64::MAX, ±0, in as many rows of a
    /// coordinate as f and more. The one pass must give the exact kernel's answer, within
    /// the reordering bound where that is finite and to the bit (±∞, NaN) where it is not.
    /// Mutation seen to fail it: dropping the fallback (`one_pass_group` never calling
    /// `exact_one`: a coordinate with more than f values ±∞ then mixes ∞ − ∞ = NaN into the
    /// sum where NumPy gives ±∞, and ±f64::MAX kept values overflow otherwise than NumPy's).
    #[test]
    fn one_pass_handles_byzantine_values_like_the_exact_kernel() {
        use crate::data::NonFiniteEntries;
        let mut rng = rng_from_seed(7);
        let specials = [
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            1e300,
            -1e300,
            f64::MAX,
            -f64::MAX,
            0.0,
            -0.0,
        ];
        let (n, f) = (50, 10);
        for trial in 0..40 {
            let d = BLOCK + 9;
            // Per coordinate, a count of special rows from 0 to n, drawn so that ≤ f, f + 1,
            // n − f and n all occur.
            let m = nalgebra::DMatrix::from_fn(d, n, |j, i| {
                let count = [0, f, f + 1, 2 * f, n - f, n][(j + trial) % 6];
                if i < count {
                    specials[(rng.random_range(0..100u32) as usize + trial) % specials.len()]
                } else {
                    rng.random::<f64>() * 2.0 - 1.0
                }
            });
            let u = Updates::with_entries(m.clone(), NonFiniteEntries::Keep).unwrap();
            let got = one_pass_all(u.view(), f);
            let want = map_columns(u.view(), None, exact_kernel(n, f));
            for j in 0..d {
                let (g, w) = (got[j], want[j]);
                if w.is_finite() {
                    let v: Vec<f64> = m.row(j).iter().map(|&x| nan_as_plus_inf(x)).collect();
                    assert!(
                        (g - w).abs() <= reorder_bound(&v, f),
                        "{trial} {j}: {g} vs {w}"
                    );
                } else {
                    assert_eq!(g.to_bits(), w.to_bits(), "{trial} {j}: {g} vs {w}");
                }
            }
        }
    }

    /// A coordinate's output does not depend on the coordinates around it: the one pass on
    /// the whole matrix and on each column alone (a d = 1 view, as a caller that blocks the
    /// coordinates otherwise would hand it) give the same bits, Byzantine values in some
    /// coordinates of a group and not in others. This is what lets the fused NNM path and the
    /// prepared defence reproduce the rule. Mutation seen to fail it: falling back to
    /// `exact_one` for every lane of a group when one lane does not fit.
    #[test]
    fn one_pass_outputs_depend_on_their_own_coordinate_only() {
        let mut rng = rng_from_seed(11);
        let (n, f) = (50, 10);
        let d = 2 * BLOCK + 7;
        let m = nalgebra::DMatrix::from_fn(d, n, |j, i| {
            if j % 5 == 0 && i <= f {
                f64::INFINITY
            } else if j % 7 == 0 && i < 3 * f {
                1e307
            } else {
                rng.random::<f64>() * 2.0 - 1.0
            }
        });
        let u = Updates::new_allow_inf(m.clone()).unwrap();
        let whole = one_pass_all(u.view(), f);
        for (j, w) in whole.iter().enumerate() {
            let col = Updates::new_allow_inf(m.rows(j, 1).into_owned()).unwrap();
            assert_eq!(
                one_pass_all(col.view(), f)[0].to_bits(),
                w.to_bits(),
                "j = {j}"
            );
        }
    }

    /// The one pass gives the same bits on a borrowed buffer still holding NaN as on the copy
    /// `Updates::new_untrusted` rewrites (NaN as +∞), as `reads_nan_as_infinity` promises.
    /// Mutation seen to fail it: the second sweep clamping to lo first and then to hi (a NaN
    /// then comes out lo instead of hi).
    #[test]
    fn one_pass_reads_nan_as_infinity() {
        use crate::data::NonFiniteEntries;
        let mut rng = rng_from_seed(8);
        let (n, d) = (40, 3 * 8 + 5);
        let m = nalgebra::DMatrix::from_fn(d, n, |j, i| {
            if i < (j % 12) {
                f64::NAN
            } else {
                rng.random::<f64>() - 0.5
            }
        });
        let raw = Updates::with_entries(m.clone(), NonFiniteEntries::Keep).unwrap();
        let rewritten = Updates::new_untrusted(m).unwrap();
        for f in [1, 5, 10] {
            let a: Vec<u64> = one_pass_all(raw.view(), f)
                .iter()
                .map(|v| v.to_bits())
                .collect();
            let b: Vec<u64> = one_pass_all(rewritten.view(), f)
                .iter()
                .map(|v| v.to_bits())
                .collect();
            assert_eq!(a, b, "f = {f}");
        }
    }

    /// The merges keep the TRACKED smallest and largest sorted for every sorted 0/1 input
    /// (the 0/1 principle: a comparator network that merges every sorted 0/1 pair merges
    /// every sorted pair; Knuth, TAOCP vol. 3, §5.3.4), and so do the insertions; the sorts of
    /// eight and ten sort every input (every 0/1 input for ten); with the portable lanes and,
    /// where the CPU has it, the AVX-512 registers (each value in all eight lanes). Mutations
    /// seen to fail it: dropping the comparator `3 7` of `merge_low`; dropping `4 5`, the last
    /// comparator of `sort_ten`.
    #[test]
    fn merges_and_insertions_keep_the_extremes_sorted() {
        fn check<const L: usize, I: Lanes<L>>(isa: I) {
            let sorted01 = |len: usize, ones: usize| -> Vec<f64> {
                (0..len)
                    .map(|i| f64::from(u8::from(i >= len - ones)))
                    .collect()
            };
            let wires = |v: &[f64]| -> Vec<I::V> { v.iter().map(|&x| isa.splat(x)).collect() };
            // Every lane of every wire holds the same value; lane 0 read back, all lanes checked.
            let values = |w: &[I::V]| -> Vec<f64> {
                w.iter()
                    .map(|&w| {
                        let a = isa.values(w);
                        assert!(a.iter().all(|x| x.to_bits() == a[0].to_bits()));
                        a[0]
                    })
                    .collect()
            };
            for a in 0..=TRACKED {
                for b in 0..=BATCH {
                    let (t, c) = (sorted01(TRACKED, a), sorted01(BATCH, b));
                    let mut all: Vec<f64> = t.iter().chain(&c).copied().collect();
                    all.sort_by(f64::total_cmp);
                    let cw: [I::V; BATCH] = wires(&c).try_into().unwrap_or_else(|_| panic!());
                    let tracked =
                        || -> [I::V; TRACKED] { wires(&t).try_into().unwrap_or_else(|_| panic!()) };
                    let mut low = tracked();
                    merge_low(isa, &mut low, &cw);
                    assert_eq!(values(&low), all[..TRACKED], "low {a} {b}");
                    let mut high = tracked();
                    merge_high(isa, &mut high, &cw);
                    assert_eq!(values(&high), all[BATCH..], "high {a} {b}");
                    if b <= 1 {
                        let v = c[BATCH - 1];
                        let mut all: Vec<f64> = t.iter().copied().chain([v]).collect();
                        all.sort_by(f64::total_cmp);
                        let mut low = tracked();
                        insert_low(isa, &mut low, isa.splat(v));
                        assert_eq!(values(&low), all[..TRACKED]);
                        let mut high = tracked();
                        insert_high(isa, &mut high, isa.splat(v));
                        assert_eq!(values(&high), all[1..]);
                    }
                }
            }
            // The sort of ten on every 0/1 input.
            for bits in 0..1u32 << FIRST_TEN {
                let v: Vec<f64> = (0..FIRST_TEN).map(|i| f64::from((bits >> i) & 1)).collect();
                let mut c: [I::V; FIRST_TEN] = wires(&v).try_into().unwrap_or_else(|_| panic!());
                let mut want = v;
                want.sort_by(f64::total_cmp);
                sort_ten(isa, &mut c);
                assert_eq!(values(&c), want, "ten {bits:#b}");
            }
            let mut rng = rng_from_seed(9);
            for _ in 0..200 {
                let v: Vec<f64> = (0..BATCH).map(|_| rng.random::<f64>()).collect();
                let mut c: [I::V; BATCH] = wires(&v).try_into().unwrap_or_else(|_| panic!());
                let mut want = v;
                want.sort_by(f64::total_cmp);
                sort_batch(isa, &mut c);
                assert_eq!(values(&c), want);
            }
        }
        check::<1, _>(Portable);
        if let Some(isa) = crate::simd::avx512() {
            isa.run(|| check::<8, _>(isa));
        }
    }

    /// The one pass gives the same bits on every instruction set and group width (each
    /// coordinate's arithmetic is the same lane by lane): four and eight portable lanes, each
    /// compiled for the baseline and by `widest`, and the AVX-512 registers where the CPU has
    /// them, called directly and compiled for AVX-512; and with rows that are copies of five
    /// columns, the order statistics of the distinct values ([`Few`]), and with the last
    /// 3, 7 or 10 rows copies of one column, the network on the others clamped by them
    /// ([`Selection::Copies`]), give the network's bits. The values include ties of ±0
    /// (whole columns of zeros of both signs, where only the sign of the result tells the
    /// orders of the selects apart), ±∞ and NaN in at most f rows. Mutations seen to fail it:
    /// the eight-lane path multiplying by 1/(n − 2f) instead of dividing; the AVX-512 min
    /// taking its operands the other way round (`vminpd b, a`); h₍f−c+1₎ taken for h₍f−c₎,
    /// and lo left unclamped by h₍0₎ where c = f.
    #[test]
    fn one_pass_same_bits_on_every_path() {
        use crate::data::NonFiniteEntries;
        let mut rng = rng_from_seed(10);
        let (n, f, d) = (50, 10, 7 * 8);
        let m = nalgebra::DMatrix::from_fn(d, n, |j, i| match j % 7 {
            // Zeros of both signs only.
            0 | 1 => {
                if rng.random::<bool>() {
                    -0.0
                } else {
                    0.0
                }
            }
            // A few distinct values, zeros of both signs among them: ties across lo and hi.
            2 | 3 => [-0.0, 0.0, 1.5, -1.5, 0.25][rng.random_range(0..5usize)],
            // Up to f non-finite values (a NaN is read as +∞), the rest random.
            4 if i < f => [f64::INFINITY, f64::NEG_INFINITY, f64::NAN][(i + j) % 3],
            _ => rng.random::<f64>() * 10.0 - 5.0,
        });
        let u = Updates::with_entries(m, NonFiniteEntries::Keep).unwrap();
        let x = u.view();
        let bits = |v: &[f64]| -> Vec<u64> { v.iter().map(|x| x.to_bits()).collect() };
        // Every column once; five of them at ten positions each, whose order statistics come
        // from the distinct values (`Few`); the first 50 − c columns then c copies of the
        // next (`Selection::Copies`, with c = f where the network's last batch is halved);
        // each against the network on the same rows.
        for (cols, plan) in [
            ((0..n).collect::<Vec<_>>(), "network"),
            ((0..n).map(|i| i * 7 % 5).collect(), "5 distinct"),
            ((0..n).map(|i| i.min(n - f)).collect(), "10 copies"),
            ((0..n).map(|i| i.min(n - 3)).collect(), "3 copies"),
            ((0..n).map(|i| i.min(n - 7)).collect(), "7 copies"),
        ] {
            let rows: Vec<&[f64]> = cols.iter().map(|&i| x.col(i)).collect();
            let selection = Selection::of(&cols, f);
            assert_eq!(selection.name(), plan);
            let s = &selection;
            let mut out = vec![vec![0.0; d]; 7];
            one_pass_block::<4>(&rows, s, f, &mut out[0], false, Portable);
            one_pass_block::<8>(&rows, s, f, &mut out[1], false, Portable);
            one_pass_block::<8>(&rows, &Selection::Network, f, &mut out[2], false, Portable);
            crate::simd::widest(
                #[inline(always)]
                || one_pass_block::<4>(&rows, s, f, &mut out[3], false, Portable),
            );
            crate::simd::widest(
                #[inline(always)]
                || one_pass_block::<8>(&rows, s, f, &mut out[4], false, Portable),
            );
            let paths = if let Some(isa) = crate::simd::avx512() {
                one_pass_block::<8>(&rows, s, f, &mut out[5], false, isa);
                isa.run(
                    #[inline(always)]
                    || one_pass_block::<8>(&rows, s, f, &mut out[6], false, isa),
                );
                7
            } else {
                5
            };
            for (p, o) in out[1..paths].iter().enumerate() {
                assert_eq!(bits(&out[0]), bits(o), "path {}, {}", p + 1, s.name());
            }
        }
    }

    #[test]
    fn requires_honest_majority() {
        let u = Updates::from_rows(&[vec![1.0], vec![2.0], vec![3.0], vec![4.0]]).unwrap();
        let e = run(2, &u).unwrap_err().to_string();
        assert!(e.contains("n > 2f = 4") && e.contains("n = 4"), "{e}");
        assert!(TrimmedMean::new(1, Compat::Native).check_n(3).is_ok());
        assert!(build(&Params::new().with("f", 0.5), Compat::Native).is_err());
    }

    #[test]
    fn infinite_inputs_are_trimmed() {
        // 1 of 4 values is +∞ with f = 1: trimmed, leaving (2+3)/2 = 2.5; with 2 +∞ values
        // one survives the trimming and the output is +∞.
        let inf = f64::INFINITY;
        let u = Updates::new_allow_inf(nalgebra::DMatrix::from_column_slice(
            1,
            4,
            &[1.0, 2.0, 3.0, inf],
        ))
        .unwrap();
        assert_eq!(run(1, &u).unwrap(), vec![2.5]);
        let u = Updates::new_allow_inf(nalgebra::DMatrix::from_column_slice(
            1,
            4,
            &[1.0, 2.0, inf, inf],
        ))
        .unwrap();
        assert_eq!(run(1, &u).unwrap(), vec![inf]);
    }

    #[test]
    fn matches_byzfl_reference_output() {
        // Output of ByzFL 0.0.11 itself on a 9×4 input (see the `byzfl_fixture` module).
        use crate::aggregators::byzfl_fixture as fx;
        let u = fx::updates();
        let mut rng = rng_from_seed(0);
        let out = build(&Params::new().with("f", 2.0), Compat::Byzfl)
            .unwrap()
            .aggregate(u.view(), &mut AggContext::new(&mut rng))
            .unwrap();
        fx::assert_close(out.as_slice(), &fx::TRMEAN_F2);
    }
}
