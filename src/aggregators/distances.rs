//! Shared distance and weighted-sum kernels of the distance-based rules (Krum, Multi-Krum,
//! Bulyan, MoNNA, geometric median, centered clipping).
//!
//! Distances are direct sums of squared differences Σ (xᵢ − xⱼ)², not the Gram expansion
//! ‖xᵢ‖² − 2⟨xᵢ, xⱼ⟩ + ‖xⱼ‖², which loses the small distances between close vectors to
//! cancellation. Every sum has a fixed association (eight interleaved partial sums, then
//! fixed-size coordinate blocks added in block order), so results do not depend on the number
//! of threads. Infinite entries propagate as in SciPy's `cdist`: a distance to a vector with
//! +∞ is +∞, and between two vectors with +∞ in the same coordinate it is NaN (∞ − ∞).

use super::coordinatewise::streams_from_memory;
use super::FillLast;
use crate::data::{map_blocks_in_order, map_blocks_mut_in_order, with_scratch, UpdatesView};

/// Coordinates per parallel task in the blocked kernels.
const DIST_BLOCK: usize = 2048;

/// Σ (aₖ − bₖ)² and Σ aₖ² with eight interleaved accumulators (vectorisable, fixed
/// association): the crate-wide kernels of `data`.
pub(crate) use crate::data::{add_weighted_rows, sq_norm};

/// The n×n matrix of squared distances, row-major and symmetric: the crate's one pairwise
/// kernel (Krum, Multi-Krum, Bulyan, MDA, NNM, the min-max attack). The diagonal is computed
/// too (0, or NaN for a vector with an infinite entry, as SciPy's `cdist(X, X)`).
///
/// One pass over the data: each block of coordinates adds its contribution to every pair;
/// blocks run in parallel and their partial matrices are added in block order. Within a block
/// the pairs are taken in register tiles ([`pair_tile`]; a group of rows with itself in
/// [`diagonal_tile`], [`pairs_in_block`]): a T×T tile loads 2T rows per eight coordinates and
/// updates T² independent sums, so the loop is bound by arithmetic, not by loads or by one
/// addition's latency (a pair at a time, as `data::sq_dist`, reads two values per
/// subtract-multiply-add and ran 6× slower at d = 10⁶). Each pair's sum has the
/// association of `data::sq_dist` on the block (with the multiply-add fused, one rounding
/// fewer), so the result does not depend on the tile size either.
pub(crate) fn pairwise_sq_dists(x: UpdatesView<'_>) -> Vec<f64> {
    let all: Vec<usize> = (0..x.n()).collect();
    unpack(&packed_pairs::<false>(x, &all, None), x.n())
}

/// [`pairwise_sq_dists`] of the columns `cols` of `x` (|cols|×|cols|, in the order of
/// `cols`), with the same sums.
pub(crate) fn pairwise_sq_dists_of(x: UpdatesView<'_>, cols: &[usize]) -> Vec<f64> {
    unpack(&packed_pairs::<false>(x, cols, None), cols.len())
}

/// The n×n Gram matrix of the columns about `reference`, Gᵢⱼ = (xᵢ − r)·(xⱼ − r), row-major
/// and exactly symmetric: the blocked pass of [`pairwise_sq_dists`] with one multiply-add per
/// pair and coordinate instead of a subtraction and a multiply-add (half the arithmetic; the
/// n subtractions xᵢ − r per coordinate are made as the tiles load their rows). Every pair is summed with the same association, so identical
/// inputs get identical rows and Gᵢᵢ + Gⱼⱼ − 2Gᵢⱼ is exactly 0 between them. The entries scale
/// with the inputs' distances from r (not with their norms), so with r among the inputs, the
/// distances Gᵢᵢ + Gⱼⱼ − 2Gᵢⱼ lose to cancellation only the digits by which Gᵢᵢ + Gⱼⱼ exceeds
/// them. A non-finite input (or one whose squares overflow) gives non-finite entries in its
/// row and column; a non-finite `reference`, in all of them.
pub(crate) fn gram_about(x: UpdatesView<'_>, reference: &[f64]) -> Vec<f64> {
    let all: Vec<usize> = (0..x.n()).collect();
    unpack(&packed_pairs::<true>(x, &all, Some(reference)), x.n())
}

/// The packed upper triangle (row by row) of Σₖ (aᵢₖ − aⱼₖ)² (`DOT` false) or Σₖ aᵢₖaⱼₖ
/// (`DOT` true) over the columns `cols` of `x`, minus `reference` if given, one block of
/// coordinates per parallel task, partial triangles added in block order.
fn packed_pairs<const DOT: bool>(
    x: UpdatesView<'_>,
    cols: &[usize],
    reference: Option<&[f64]>,
) -> Vec<f64> {
    let block = pairs_block_len(x.d(), reference.is_some());
    let shift = Shift::here();
    let partials = map_blocks_in_order(x.d().div_ceil(block), |b| {
        pairs_of_block::<DOT>(x, cols, None, reference, b * block, block, shift)
    });
    add_in_order(&partials, cols.len() * (cols.len() + 1) / 2)
}

/// Coordinates per block of [`packed_pairs`]: the Gram pass's blocks are half the distance
/// kernel's, so that the shifted copy of a block streamed from memory ([`pairs_of_block`])
/// fits in L2 beside the block and the next one.
fn pairs_block_len(d: usize, gram: bool) -> usize {
    if gram {
        pair_block_len(d).div_ceil(2).next_multiple_of(8)
    } else {
        pair_block_len(d)
    }
}

/// Where the Gram pass subtracts the reference from a block it streams from memory: the same
/// differences either way, so the same bits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shift {
    /// As the tiles load each row: 8 subtractions beside every 16 multiply-adds.
    InTiles,
    /// Once into a copy of the block (in L2), which the tiles then read as they are.
    Copied,
}

impl Shift {
    /// The faster on this CPU. From memory the tiles are bound by their arithmetic (the next
    /// block asked for meanwhile). On Intel the subtractions share the multiply-adds' two
    /// ports (24 operations there per 16 multiply-adds), and the copy made the MLP Krum round
    /// 6–10 % shorter (docs/performance.md, "fold13"). AMD's Zen cores subtract on pipes of
    /// their own ([`crate::simd::adds_beside_multiply_adds`]), and there the copy's 328 kB
    /// beside the block and the next one crowd a 1 MiB L2: without it the MLP Krum round took
    /// 0.94 and the geometric median's 0.95 of the time on Zen 4 ("zen13b").
    fn here() -> Shift {
        if crate::simd::adds_beside_multiply_adds() {
            Shift::InTiles
        } else {
            Shift::Copied
        }
    }
}

/// The packed pair sums of [`packed_pairs`] over coordinates `lo .. lo + block` (clipped to
/// d) of the columns `cols` of `x` and, after them, of `last` (that block of one more
/// column, or none), the reference subtracted where `shift` says when the block streams
/// from memory (in the tiles otherwise).
fn pairs_of_block<const DOT: bool>(
    x: UpdatesView<'_>,
    cols: &[usize],
    last: Option<&[f64]>,
    reference: Option<&[f64]>,
    lo: usize,
    block: usize,
    shift: Shift,
) -> Vec<f64> {
    let d = x.d();
    let hi = (lo + block).min(d);
    let n = cols.len() + usize::from(last.is_some());
    let mut part = vec![0.0; n * (n + 1) / 2];
    // From memory, the next block is asked for while this one is computed, so that its
    // reads overlap the arithmetic (without it, the Gram pass at d = 79 510 spent 40 % of
    // its time waiting on its loads).
    let next: Vec<&[f64]> = if streams_from_memory(x) && hi < d {
        let end = (hi + block).min(d);
        cols.iter().map(|&i| &x.col(i)[hi..end]).collect()
    } else {
        Vec::new()
    };
    let mut rows: Vec<&[f64]> = cols.iter().map(|&i| &x.col(i)[lo..hi]).collect();
    rows.extend(last);
    let r = reference.filter(|_| DOT).map_or(&[][..], |r| &r[lo..hi]);
    if r.is_empty() || next.is_empty() || shift == Shift::InTiles {
        // Distances; or products of xᵢ − r, the tiles subtracting r from their rows as they
        // load them: with the data in cache (softmax regression's round: the copy made it
        // 5 % longer, "fold13"), or from memory where `shift` says so.
        pairs_in_block_widest::<DOT>(&rows, r, &next, &mut part);
        return part;
    }
    let len = hi - lo;
    with_scratch(&SHIFTED, rows.len() * len, |shifted| {
        for (out, row) in shifted.chunks_exact_mut(len).zip(&rows) {
            crate::simd::widest(
                #[inline(always)]
                || {
                    out.iter_mut()
                        .zip(row.iter().zip(r))
                        .for_each(|(o, (x, r))| *o = x - r)
                },
            );
        }
        let rows: Vec<&[f64]> = shifted.chunks_exact(len).collect();
        pairs_in_block_widest::<DOT>(&rows, &[], &next, &mut part);
    });
    part
}

thread_local! {
    /// Each thread's block of rows shifted by the reference in [`pairs_of_block`] (41 rows of
    /// 1 024 coordinates, 328 kB, for the D-SGD round's MLP), kept from block to block.
    static SHIFTED: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// [`pairs_in_block`] in the widest vectors: 4×4 tiles keep 16 accumulators of eight lanes
/// in 16 of the 32 AVX-512 registers; with 16 registers (AVX2, SSE2, NEON) 2×2 tiles avoid
/// spilling.
fn pairs_in_block_widest<const DOT: bool>(
    rows: &[&[f64]],
    r: &[f64],
    next: &[&[f64]],
    part: &mut [f64],
) {
    if crate::simd::has_avx512() {
        crate::simd::widest(
            #[inline(always)]
            || pairs_in_block::<4, DOT>(rows, r, next, part),
        );
    } else {
        crate::simd::widest(
            #[inline(always)]
            || pairs_in_block::<2, DOT>(rows, r, next, part),
        );
    }
}

/// [`gram_about`] of every column of `x` about its first, the last column written by its
/// fill block by block during the pass (each block of it is written, then summed with the
/// same block of the others while that block is in cache: one read of the others instead of
/// two), and the columns, the last now written. The same bits as writing the column first
/// (`FillLast::written`) and calling [`gram_about`].
pub(crate) fn gram_about_filling(x: FillLast<'_>) -> (Vec<f64>, UpdatesView<'_>) {
    packed_pairs_filling::<true>(x)
}

/// [`pairwise_sq_dists`] of every column of `x`, the last column written by its fill during
/// the pass as in [`gram_about_filling`], and the columns, the last now written. The same
/// bits as writing the column first and calling [`pairwise_sq_dists`].
pub(crate) fn pairwise_sq_dists_filling(x: FillLast<'_>) -> (Vec<f64>, UpdatesView<'_>) {
    packed_pairs_filling::<false>(x)
}

/// The n×n matrix of [`packed_pairs`] over every column of `x` (about the first when `DOT`),
/// each block of the last column written by the fill just before the block's pairs are
/// summed. The rows of a block are the other columns', then the last's, in column order, as
/// [`packed_pairs`] has them, and every pair is summed as the pair alone: the same bits.
fn packed_pairs_filling<const DOT: bool>(mut x: FillLast<'_>) -> (Vec<f64>, UpdatesView<'_>) {
    let n = x.n();
    let (others, last, fill) = x.parts();
    let cols: Vec<usize> = (0..others.n()).collect();
    let block = pairs_block_len(others.d(), DOT);
    let shift = Shift::here();
    let reference = DOT.then(|| others.col(0));
    let partials = map_blocks_mut_in_order(last, block, |b, out| {
        fill(others, b * block, out, None);
        pairs_of_block::<DOT>(others, &cols, Some(out), reference, b * block, block, shift)
    });
    let packed = add_in_order(&partials, n * (n + 1) / 2);
    (unpack(&packed, n), x.filled())
}

/// The symmetric n×n row-major matrix of a packed upper triangle.
fn unpack(packed: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    let mut k = 0;
    for i in 0..n {
        for j in i..n {
            out[i * n + j] = packed[k];
            out[j * n + i] = packed[k];
            k += 1;
        }
    }
    out
}

/// Coordinates per block of [`pairwise_sq_dists`]: 2048 (50 rows of it fill 800 kB, inside
/// L2), smaller for small d so that both cores get work (at least 8 blocks when d ≥ 2048,
/// multiples of 8 so only the last block has a ragged tail). A function of d alone, so the
/// association, and the result, is the same whatever the thread count.
fn pair_block_len(d: usize) -> usize {
    (d / 8).next_multiple_of(8).clamp(256, DIST_BLOCK)
}

/// Adds the pair sums (see [`packed_pairs`]) of every pair i ≤ j of `rows` (one block of
/// coordinates each, equally long) to `part` (packed upper triangle, row by row), a T×T tile
/// of pairs at a time. With T = 2, row groups of T are padded with the last row; the padded
/// pairs are computed and dropped. With T = 4 (AVX-512), each whole group of four takes itself
/// in [`diagonal_tile`]: only its ten pairs i ≤ j, and the pairs of its rows with the n mod 4
/// rows left over from whole groups (41 = 10·4 + 1: the D-SGD round's 40 honest vectors and
/// the counted attack), instead of a group padded with those: no padding, 861 sums per
/// coordinate at 41 rows instead of 1 056, 1 275 at 50 instead of 1 456. The cache lines of
/// `next` (the next block's rows, or none) are prefetched spread evenly over the tiles.
#[inline(always)]
fn pairs_in_block<const T: usize, const DOT: bool>(
    rows: &[&[f64]],
    r: &[f64],
    next: &[&[f64]],
    part: &mut [f64],
) {
    let n = rows.len();
    // 2 × 2 tiles in AVX2 registers where the CPU has them (`pair_tile_2x2`).
    let avx2 = if T == 2 { crate::simd::avx2() } else { None };
    // Whole groups of four with themselves in `diagonal_tile`, the rows left over beside them.
    let triangles = T == 4 && n >= 4;
    let grouped = if triangles { n - n % 4 } else { n };
    let left = &rows[grouped..];
    let groups: Vec<[usize; T]> = (0..grouped.div_ceil(T))
        .map(|g| std::array::from_fn(|t| (g * T + t).min(grouped - 1)))
        .collect();
    let tiles = groups.len() * (groups.len() + 1) / 2;
    let lines_per_row = next.first().map_or(0, |r| r.len().div_ceil(8));
    let lines = next.len() * lines_per_row;
    // Row i of the packed triangle starts after Σ_{r<i} (n − r) entries.
    let at = |i: usize, j: usize| i * (2 * n + 1 - i) / 2 + (j - i);
    // The next line to prefetch, as a count and as (row, coordinate). Each tile asks for its
    // share as runs of consecutive lines of a row, one slice each (a division per line, to
    // find its row, cost as much as the prefetch itself; a bounds-checked slice per line,
    // a fifth of the tile loop's instructions).
    let (mut line, mut row, mut at_line) = (0, 0, 0);
    let mut tile = 0;
    for (ga, rows_a) in groups.iter().enumerate() {
        let a: [&[f64]; T] = std::array::from_fn(|t| rows[rows_a[t]]);
        for (gb, rows_b) in groups.iter().enumerate().skip(ga) {
            tile += 1;
            let target = tile * lines / tiles;
            while line < target {
                let len = next[row].len();
                let take = ((target - line) * 8).min(len - at_line);
                crate::simd::prefetch(&next[row][at_line..at_line + take]);
                line += take.div_ceil(8);
                at_line += take;
                if at_line >= len {
                    (row, at_line) = (row + 1, 0);
                }
            }
            if triangles && gb == ga {
                let a4: [&[f64]; 4] = std::array::from_fn(|t| a[t]);
                let (pairs, with_left) = diagonal_tile_widest::<DOT>(a4, left, r);
                for ta in 0..4 {
                    for tb in ta..4 {
                        part[at(rows_a[ta], rows_a[tb])] = pairs[ta][tb];
                    }
                    for c in 0..left.len() {
                        part[at(rows_a[ta], grouped + c)] = with_left[ta][c];
                    }
                }
                continue;
            }
            let b: [&[f64]; T] = std::array::from_fn(|t| rows[rows_b[t]]);
            let tile: [[f64; T]; T] = match avx2 {
                Some(l) => {
                    let (a, b) = ([a[0], a[1]], [b[0], b[1]]);
                    let t = if DOT && !r.is_empty() {
                        pair_tile_2x2::<_, DOT, true>(l, a, b, r)
                    } else {
                        pair_tile_2x2::<_, DOT, false>(l, a, b, r)
                    };
                    std::array::from_fn(|i| std::array::from_fn(|j| t[i][j]))
                }
                None if DOT && !r.is_empty() => pair_tile::<T, T, DOT, true>(a, b, r),
                None => pair_tile::<T, T, DOT, false>(a, b, r),
            };
            for (ta, &i) in rows_a.iter().enumerate() {
                for (tb, &j) in rows_b.iter().enumerate() {
                    if i <= j {
                        part[at(i, j)] = tile[ta][tb];
                    }
                }
            }
        }
    }
    // The left-over rows' pairs among themselves, one at a time (at most six).
    for i in grouped..n {
        for j in i..n {
            let (x, y) = ([rows[i]], [rows[j]]);
            let pair = if DOT && !r.is_empty() {
                pair_tile::<1, 1, DOT, true>(x, y, r)
            } else {
                pair_tile::<1, 1, DOT, false>(x, y, r)
            };
            part[at(i, j)] = pair[0][0];
        }
    }
}

/// [`diagonal_tile`] in AVX-512 registers where the CPU has them (its up to 22 sums and 7
/// rows written by hand: as lane arrays, a 4 × 5 tile had 5 of its 20 sums spilled,
/// "zen13b"), in portable lanes elsewhere (the same bits; the crate's own passes take 4 × 4
/// tiles only with AVX-512). `left` holds the rows left over from whole groups (up to 3).
#[inline(always)]
fn diagonal_tile_widest<const DOT: bool>(
    a: [&[f64]; 4],
    left: &[&[f64]],
    r: &[f64],
) -> ([[f64; 4]; 4], [[f64; 3]; 4]) {
    use crate::simd::Portable;
    let mut e: [&[f64]; 3] = [&[]; 3];
    e[..left.len()].copy_from_slice(left);
    macro_rules! run {
        ($l:expr) => {
            match (DOT && !r.is_empty(), left.len()) {
                (true, 0) => diagonal_tile::<_, DOT, true, 0>($l, a, e, r),
                (true, 1) => diagonal_tile::<_, DOT, true, 1>($l, a, e, r),
                (true, 2) => diagonal_tile::<_, DOT, true, 2>($l, a, e, r),
                (true, _) => diagonal_tile::<_, DOT, true, 3>($l, a, e, r),
                (false, 0) => diagonal_tile::<_, DOT, false, 0>($l, a, e, r),
                (false, 1) => diagonal_tile::<_, DOT, false, 1>($l, a, e, r),
                (false, 2) => diagonal_tile::<_, DOT, false, 2>($l, a, e, r),
                (false, _) => diagonal_tile::<_, DOT, false, 3>($l, a, e, r),
            }
        };
    }
    match crate::simd::avx512() {
        Some(v) => run!(v),
        None => run!(Portable),
    }
}

/// The sums of [`pair_tile`] (a distance, or with `DOT` a product, about `r` when `SHIFT`)
/// of the pairs i ≤ j of the four rows `a` (entries j < i left 0) and of each of them with
/// the first `E` rows of `e`: per pair and lane the same chain of operations, combined the
/// same way, so the same bits. Ten sums (plus 4E) where a 4 × 4 tile takes sixteen (plus a
/// padded tile per left-over group), and 4 + E rows loaded per eight coordinates.
#[inline(always)]
fn diagonal_tile<L: crate::simd::Lanes<8>, const DOT: bool, const SHIFT: bool, const E: usize>(
    l: L,
    a: [&[f64]; 4],
    e: [&[f64]; 3],
    r: &[f64],
) -> ([[f64; 4]; 4], [[f64; 3]; 4]) {
    let len = a[0].len();
    let full = len - len % 8;
    // Sliced to the multiple-of-8 length so the compiler sees every load in bounds.
    let (a0, a1, a2, a3) = (&a[0][..full], &a[1][..full], &a[2][..full], &a[3][..full]);
    let he = std::array::from_fn::<&[f64], 3, _>(|c| if c < E { &e[c][..full] } else { &[] });
    let hr = if SHIFT { &r[..full] } else { &[][..] };
    let z = l.splat(0.0);
    // Named sums, not arrays: arrays of registers were kept in memory.
    let (mut s00, mut s01, mut s02, mut s03) = (z, z, z, z);
    let (mut s11, mut s12, mut s13, mut s22, mut s23, mut s33) = (z, z, z, z, z, z);
    let (mut s0e, mut s1e, mut s2e, mut s3e) = (z, z, z, z);
    let (mut s0f, mut s1f, mut s2f, mut s3f) = (z, z, z, z);
    let (mut s0g, mut s1g, mut s2g, mut s3g) = (z, z, z, z);
    let mut k = 0;
    while k < full {
        let vr = if SHIFT {
            l.vector(hr[k..k + 8].try_into().expect("8 lanes"))
        } else {
            z
        };
        macro_rules! row {
            ($x:expr) => {{
                let v = l.vector($x[k..k + 8].try_into().expect("8 lanes"));
                if SHIFT {
                    l.sub(v, vr)
                } else {
                    v
                }
            }};
        }
        macro_rules! pair {
            ($x:expr, $y:expr, $s:ident) => {
                $s = if DOT {
                    l.mul_add($x, $y, $s)
                } else {
                    let t = l.sub($x, $y);
                    l.mul_add(t, t, $s)
                };
            };
        }
        let (x0, x1, x2, x3) = (row!(a0), row!(a1), row!(a2), row!(a3));
        pair!(x0, x0, s00);
        pair!(x0, x1, s01);
        pair!(x1, x1, s11);
        pair!(x0, x2, s02);
        pair!(x1, x2, s12);
        pair!(x2, x2, s22);
        pair!(x0, x3, s03);
        pair!(x1, x3, s13);
        pair!(x2, x3, s23);
        pair!(x3, x3, s33);
        macro_rules! with {
            ($c:literal, $s0:ident, $s1:ident, $s2:ident, $s3:ident) => {
                if E > $c {
                    let y = row!(he[$c]);
                    pair!(x0, y, $s0);
                    pair!(x1, y, $s1);
                    pair!(x2, y, $s2);
                    pair!(x3, y, $s3);
                }
            };
        }
        with!(0, s0e, s1e, s2e, s3e);
        with!(1, s0f, s1f, s2f, s3f);
        with!(2, s0g, s1g, s2g, s3g);
        k += 8;
    }
    let rt = if SHIFT { &r[full..] } else { &[][..] };
    let sum = |s: L::V, x: &[f64], y: &[f64]| {
        lanes_and_tail::<DOT, SHIFT>(l.values(s), &x[full..], &y[full..], rt)
    };
    let mut pairs = [[0.0; 4]; 4];
    pairs[0] = [
        sum(s00, a[0], a[0]),
        sum(s01, a[0], a[1]),
        sum(s02, a[0], a[2]),
        sum(s03, a[0], a[3]),
    ];
    pairs[1][1..].copy_from_slice(&[
        sum(s11, a[1], a[1]),
        sum(s12, a[1], a[2]),
        sum(s13, a[1], a[3]),
    ]);
    pairs[2][2..].copy_from_slice(&[sum(s22, a[2], a[2]), sum(s23, a[2], a[3])]);
    pairs[3][3] = sum(s33, a[3], a[3]);
    let mut with_left = [[0.0; 3]; 4];
    let columns = [
        [s0e, s1e, s2e, s3e],
        [s0f, s1f, s2f, s3f],
        [s0g, s1g, s2g, s3g],
    ];
    for (c, sums) in columns.iter().enumerate().take(E) {
        for (t, &s) in sums.iter().enumerate() {
            with_left[t][c] = sum(s, a[t], e[c]);
        }
    }
    (pairs, with_left)
}

/// [`pair_tile`] of a 2 × 2 tile in the registers of `l` (per pair and lane the same chain
/// of operations, combined the same way: the same bits). For AVX2, where the lane arrays of
/// `pair_tile` compiled into shuffles across the tile's pairs ("avx2_13"): four sums and five
/// half-rows take 13 of the 16 registers.
#[inline(always)]
fn pair_tile_2x2<L: crate::simd::Lanes<8>, const DOT: bool, const SHIFT: bool>(
    l: L,
    a: [&[f64]; 2],
    b: [&[f64]; 2],
    r: &[f64],
) -> [[f64; 2]; 2] {
    let len = a[0].len();
    let full = len - len % 8;
    // Sliced to the multiple-of-8 length so the compiler sees every load in bounds.
    let (a0, a1, b0, b1) = (&a[0][..full], &a[1][..full], &b[0][..full], &b[1][..full]);
    let hr = if SHIFT { &r[..full] } else { &[][..] };
    let z = l.splat(0.0);
    // Named sums, not arrays (as in `diagonal_tile`).
    let (mut s00, mut s01, mut s10, mut s11) = (z, z, z, z);
    let mut k = 0;
    while k < full {
        let vr = if SHIFT {
            l.vector(hr[k..k + 8].try_into().expect("8 lanes"))
        } else {
            z
        };
        let row = |x: &[f64]| {
            let v = l.vector(x[k..k + 8].try_into().expect("8 lanes"));
            if SHIFT {
                l.sub(v, vr)
            } else {
                v
            }
        };
        let pair = |x: L::V, y: L::V, s: L::V| {
            if DOT {
                l.mul_add(x, y, s)
            } else {
                let t = l.sub(x, y);
                l.mul_add(t, t, s)
            }
        };
        let (x0, x1, y0, y1) = (row(a0), row(a1), row(b0), row(b1));
        s00 = pair(x0, y0, s00);
        s01 = pair(x0, y1, s01);
        s10 = pair(x1, y0, s10);
        s11 = pair(x1, y1, s11);
        k += 8;
    }
    let rt = if SHIFT { &r[full..] } else { &[][..] };
    let sum = |s: L::V, x: &[f64], y: &[f64]| {
        lanes_and_tail::<DOT, SHIFT>(l.values(s), &x[full..], &y[full..], rt)
    };
    [
        [sum(s00, a[0], b[0]), sum(s01, a[0], b[1])],
        [sum(s10, a[1], b[0]), sum(s11, a[1], b[1])],
    ]
}

/// Σₖ (aᵢₖ − bⱼₖ)² (or, when `DOT`, Σₖ (aᵢₖ − rₖ)(bⱼₖ − rₖ) with `SHIFT` and Σₖ aᵢₖbⱼₖ
/// without; `r` is unused otherwise) for every pair of a TA×TB tile, each associated as
/// `data::sq_dist`: eight lane sums over the whole multiple-of-8 part (fused multiply-adds:
/// two operations per pair and coordinate for a distance, one for a product), combined
/// pairwise, plus the tail ([`lanes_and_tail`]).
#[inline(always)]
fn pair_tile<const TA: usize, const TB: usize, const DOT: bool, const SHIFT: bool>(
    a: [&[f64]; TA],
    b: [&[f64]; TB],
    r: &[f64],
) -> [[f64; TB]; TA] {
    let len = a[0].len();
    let full = len - len % 8;
    // Sliced to the multiple-of-8 length so the compiler sees every load in bounds: a bounds
    // check in the loop kept the accumulators in memory (measured 1.8× slower).
    let (ha, hb) = (a.map(|r| &r[..full]), b.map(|r| &r[..full]));
    let hr = if DOT && SHIFT { &r[..full] } else { &[][..] };
    let mut acc = [[[0.0f64; 8]; TB]; TA];
    let mut k = 0;
    while k < full {
        let mut va = [[0.0f64; 8]; TA];
        let mut vb = [[0.0f64; 8]; TB];
        let mut vr = [0.0f64; 8];
        if DOT && SHIFT {
            vr.copy_from_slice(&hr[k..k + 8]);
        }
        for t in 0..TA {
            va[t].copy_from_slice(&ha[t][k..k + 8]);
            if DOT && SHIFT {
                for l in 0..8 {
                    va[t][l] -= vr[l];
                }
            }
        }
        for t in 0..TB {
            vb[t].copy_from_slice(&hb[t][k..k + 8]);
            if DOT && SHIFT {
                for l in 0..8 {
                    vb[t][l] -= vr[l];
                }
            }
        }
        for i in 0..TA {
            for j in 0..TB {
                for l in 0..8 {
                    acc[i][j][l] = if DOT {
                        va[i][l].mul_add(vb[j][l], acc[i][j][l])
                    } else {
                        let t = va[i][l] - vb[j][l];
                        t.mul_add(t, acc[i][j][l])
                    };
                }
            }
        }
        k += 8;
    }
    let mut out = [[0.0f64; TB]; TA];
    let rt = if DOT && SHIFT { &r[full..] } else { &[][..] };
    for i in 0..TA {
        for j in 0..TB {
            out[i][j] = lanes_and_tail::<DOT, SHIFT>(acc[i][j], &a[i][full..], &b[j][full..], rt);
        }
    }
    out
}

/// A pair's eight lane sums combined pairwise, plus its sum over the coordinates past the
/// last multiple of 8 (`a`, `b` and, about a reference, `r` from there).
#[inline(always)]
fn lanes_and_tail<const DOT: bool, const SHIFT: bool>(
    s: [f64; 8],
    a: &[f64],
    b: &[f64],
    r: &[f64],
) -> f64 {
    let tail: f64 = if DOT && SHIFT {
        a.iter()
            .zip(b)
            .zip(r)
            .map(|((x, y), r)| (x - r) * (y - r))
            .sum()
    } else if DOT {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    } else {
        a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
    };
    ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])) + tail
}

/// How far the medoid may lie from the first frame's reference, in squared median spreads,
/// before [`gram_near_majority_counted`] recomputes the Gram matrix about the medoid: 10² costs at
/// most two of f64's sixteen digits of the distances around the medoid.
const FRAME_REACH: f64 = 100.0;

/// A squared distance Gᵢᵢ + Gⱼⱼ − 2Gᵢⱼ below this fraction of (√Gᵢᵢ + √Gⱼⱼ)², the size of the
/// terms it is the difference of, has lost more than six of f64's sixteen digits to
/// cancellation ([`pairwise_sq_dists_by_gram`] recomputes it directly).
pub(crate) const RESOLVED: f64 = 1e-6;

/// The Gram matrix ([`gram_about`]) about an input near the majority, and that input: x₀,
/// unless the medoid (the input with the smallest median squared distance to the others) lies
/// more than 10 median spreads from x₀ (x₀ a far outlier, or data far from x₀ relative to
/// their spread), in which case the matrix is recomputed about the medoid: one pass over the
/// data in the common case, two when x₀ is far from the rest. (The medoid, not the mean: one
/// far input moves the mean, and with it every entry, arbitrarily far.) For the input in
/// which column i of `x` appears `counts[i]` times (`aggregators::expand`), on the distinct
/// columns: the expanded input's frame and bits (a Gram entry does not depend on which other
/// columns are in the pass, and the medoid is taken over the expanded multiset of distances).
///
/// Also returns the medoid's median squared distance, from the matrix returned: the
/// smallest over the inputs of their median squared distance to the others, a scale of the
/// majority's spread that does not depend on the inputs' order (but for rounding) and that
/// fewer than half the inputs cannot inflate.
pub(crate) fn gram_near_majority_counted(
    x: UpdatesView<'_>,
    counts: &[usize],
) -> (Vec<f64>, usize, f64) {
    near_majority_counted(x, gram_about(x, x.col(0)), counts)
}

/// [`gram_near_majority_counted`] with the last column written during the first pass
/// ([`gram_about_filling`]), and the columns, the last now written.
pub(crate) fn gram_near_majority_counted_filling<'a>(
    x: FillLast<'a>,
    counts: &[usize],
) -> (Vec<f64>, usize, f64, UpdatesView<'a>) {
    let (g, x) = gram_about_filling(x);
    let (g, m, spread) = near_majority_counted(x, g, counts);
    (g, m, spread, x)
}

/// The end of [`gram_near_majority_counted`], from the Gram matrix `g` about x₀.
fn near_majority_counted(
    x: UpdatesView<'_>,
    g: Vec<f64>,
    counts: &[usize],
) -> (Vec<f64>, usize, f64) {
    let n = x.n();
    let medoid_of =
        |g: &[f64]| medoid_counted(&sq_dists_of_gram(g, n), &copy_dists_of_gram(g, n), counts);
    let (m, spread) = medoid_of(&g);
    // NaN (a non-finite input) counts as far.
    let near = g[m * n + m] <= FRAME_REACH * spread;
    if m != 0 && !near {
        // The distances about a far x₀ have lost digits: the spread is taken again.
        let g = gram_about(x, x.col(m));
        let spread = medoid_of(&g).1;
        (g, m, spread)
    } else {
        (g, 0, spread)
    }
}

/// The n×n squared distances Gᵢᵢ + Gⱼⱼ − 2Gᵢⱼ of a Gram matrix (row-major, diagonal 0,
/// not clamped: a negative value is rounding).
pub(crate) fn sq_dists_of_gram(g: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            if i != j {
                out[i * n + j] = g[i * n + i] + g[j * n + j] - 2.0 * g[i * n + j];
            }
        }
    }
    out
}

/// Gᵢᵢ + Gᵢᵢ − 2Gᵢᵢ for every i: what [`sq_dists_of_gram`] gives between two copies of
/// input i (0, or NaN for a non-finite row).
fn copy_dists_of_gram(g: &[f64], n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| g[i * n + i] + g[i * n + i] - 2.0 * g[i * n + i])
        .collect()
}

/// The medoid of the expanded input: the point with the smallest median (lower middle)
/// squared distance to the others, NaN last, lowest index on ties, and that median (0 for one
/// point). From the distinct columns (column i `counts[i]` times, `copies[i]` the squared
/// distance between two copies of it) from the distinct columns' squared distances `d2`: the
/// distinct column whose first copy is the expanded medoid, and its median. Columns counted
/// 0 are absent.
pub(crate) fn medoid_counted(d2: &[f64], copies: &[f64], counts: &[usize]) -> (usize, f64) {
    let n = counts.len();
    let others = counts.iter().sum::<usize>().saturating_sub(1);
    let (mut best, mut spread) = (None, f64::NAN);
    let mut row: Vec<(f64, usize)> = Vec::with_capacity(n);
    for i in (0..n).filter(|&i| counts[i] > 0) {
        row.clear();
        row.extend(
            (0..n)
                .filter(|&j| j != i && counts[j] > 0)
                .map(|j| (d2[i * n + j], counts[j])),
        );
        if counts[i] > 1 {
            row.push((copies[i], counts[i] - 1));
        }
        let m = if others == 0 {
            0.0
        } else {
            nth_of_counted(&mut row, (others - 1) / 2)
        };
        if best.is_none() || nan_last(m, spread).is_lt() {
            (best, spread) = (Some(i), m);
        }
    }
    (best.unwrap_or(0), spread)
}

/// The k-th smallest (from 0, NaN last) of the multiset in which each value appears with its
/// count. `row` is sorted in place; k must be below the multiset's size.
fn nth_of_counted(row: &mut [(f64, usize)], k: usize) -> f64 {
    row.sort_unstable_by(|a, b| nan_last(a.0, b.0));
    let mut seen = 0;
    for &(v, c) in row.iter() {
        seen += c;
        if k < seen {
            return v;
        }
    }
    f64::NAN
}

/// [`pairwise_sq_dists`] at half its arithmetic: Gᵢᵢ + Gⱼⱼ − 2Gᵢⱼ from the Gram matrix about an
/// input near the majority ([`gram_near_majority_counted`]), except where that expansion is not
/// accurate: every pair whose distance is below [`RESOLVED`]·(√Gᵢᵢ + √Gⱼⱼ)² (close vectors,
/// identical copies), or whose row is non-finite (infinite entries, squares that overflow),
/// is recomputed by the direct kernel, together with every pair among the vectors involved.
///
/// Why this is safe for selections (Krum, Multi-Krum): a Gram entry is a sum like the direct
/// kernel's, with a rounding error of k ulps of √Gᵢᵢ·√Gⱼⱼ (k a few in practice; at most about
/// block/8 + number of blocks ≈ 300 at d = 10⁵), so a distance kept from the expansion is off
/// by k ulps of (√Gᵢᵢ + √Gⱼⱼ)², at most 10⁶ times the distance: a relative error of k·10⁻¹⁰
/// at worst, and of a few k ulps when the vectors are spread around the reference, the
/// common case ((√Gᵢᵢ + √Gⱼⱼ)² is then about twice the distance). Sums of such non-negative
/// distances keep that relative accuracy, so a selection by them differs from the direct one
/// only between scores that agree to that accuracy, where the direct kernel's own rounding
/// already decides. The distances of close vectors, where the
/// expansion would lose everything, come from the direct kernel, exact to rounding; identical
/// vectors get identical rows (and distance exactly 0), so ties among copies still go to the
/// lowest index. Without the reference near the data (the plain product XᵀX), vectors far
/// from the origin relative to their spread (model parameters, momenta with a large common
/// part) would lose all digits of their distances.
pub(crate) fn pairwise_sq_dists_by_gram(x: UpdatesView<'_>) -> Vec<f64> {
    pairwise_sq_dists_by_gram_counted(x, &vec![1; x.n()]).0
}

/// [`pairwise_sq_dists_by_gram`] of the input in which column i of `x` appears `counts[i]`
/// times (`aggregators::expand`), on the distinct columns: the n×n distances between them,
/// and for each column the distance between two of its copies (0 for a finite column, NaN
/// as the direct kernel gives for one with an infinite entry), every value the bits the
/// expanded input gets (the Gram entries, the frame, the pairs recomputed directly and their
/// direct sums are the same).
pub(crate) fn pairwise_sq_dists_by_gram_counted(
    x: UpdatesView<'_>,
    counts: &[usize],
) -> (Vec<f64>, Vec<f64>) {
    let (g, _, _) = gram_near_majority_counted(x, counts);
    sq_dists_from_gram_counted(x, &g, counts)
}

/// [`pairwise_sq_dists_by_gram_counted`] from the Gram matrix `g` of `x` about an input
/// near the majority ([`gram_near_majority_counted`]).
pub(crate) fn sq_dists_from_gram_counted(
    x: UpdatesView<'_>,
    g: &[f64],
    counts: &[usize],
) -> (Vec<f64>, Vec<f64>) {
    let n = x.n();
    let mut out = sq_dists_of_gram(g, n);
    let mut copies = copy_dists_of_gram(g, n);
    let root: Vec<f64> = (0..n).map(|i| g[i * n + i].sqrt()).collect();
    let unresolved = |d: f64, terms: f64| !(terms.is_finite() && d >= RESOLVED * terms * terms);
    let mut involved = vec![false; n];
    for i in (0..n).filter(|&i| counts[i] > 0) {
        // Two copies of input i are a pair of the expanded input like any other.
        if counts[i] > 1 && unresolved(copies[i], 2.0 * root[i]) {
            involved[i] = true;
        }
        for j in (i + 1..n).filter(|&j| counts[j] > 0) {
            if unresolved(out[i * n + j], root[i] + root[j]) {
                (involved[i], involved[j]) = (true, true);
            }
        }
    }
    let rows: Vec<usize> = (0..n).filter(|&i| involved[i]).collect();
    // A lone finite column involved only through its copies keeps their distance, 0: the
    // direct kernel's (a − a)² sums to 0 as well, without a pass over the column.
    let lone_finite = rows.len() == 1 && g[rows[0] * n + rows[0]].is_finite();
    if !rows.is_empty() && !lone_finite {
        let exact = pairwise_sq_dists_of(x, &rows);
        let k = rows.len();
        for (a, &i) in rows.iter().enumerate() {
            for (b, &j) in rows.iter().enumerate() {
                out[i * n + j] = exact[a * k + b];
            }
            copies[i] = exact[a * k + a];
        }
    }
    (out, copies)
}

/// Squared distance of every column of `x` to `z`, in one pass: coordinate blocks in
/// parallel (the block of `z` stays in cache), partial sums added in block order.
pub(crate) fn sq_dists_to(x: UpdatesView<'_>, z: &[f64]) -> Vec<f64> {
    dists_to(x, Some(z))
}

/// Squared norm of every column of `x`: [`sq_dists_to`] the origin, bit for bit, without an
/// origin vector of d zeros to allocate and read.
pub(crate) fn sq_norms(x: UpdatesView<'_>) -> Vec<f64> {
    dists_to(x, None)
}

fn dists_to(x: UpdatesView<'_>, z: Option<&[f64]>) -> Vec<f64> {
    static ORIGIN: [f64; DIST_BLOCK] = [0.0; DIST_BLOCK];
    let (n, d) = (x.n(), x.d());
    let partials = map_blocks_in_order(d.div_ceil(DIST_BLOCK), |b| {
        let lo = b * DIST_BLOCK;
        let hi = (lo + DIST_BLOCK).min(d);
        let zb = z.map_or(&ORIGIN[..hi - lo], |z| &z[lo..hi]);
        let mut part = vec![0.0; n];
        dists_in_block(x, lo, hi, zb, &mut part);
        part
    });
    add_in_order(&partials, n)
}

/// One fused pass of a Weiszfeld-type iteration (ByzFL's geometric median): z = (Σᵢ
/// wᵢ·x_{idx[i]}) / `total` (added in the order of `idx`), written into `z` (d long,
/// overwritten, so no d new f64 per step), and the squared distance of every column of `x` to
/// that z. Each block of coordinates computes its part of z, then its partial distances while
/// the block is still in cache, so an iteration reads the data once instead of twice. The
/// distances equal [`sq_dists_to`]`(x, z)` bit for bit.
pub(crate) fn weighted_mean_and_dists_into(
    x: UpdatesView<'_>,
    idx: &[usize],
    w: &[f64],
    total: f64,
    z: &mut [f64],
) -> Vec<f64> {
    let n = x.n();
    let partials = map_blocks_mut_in_order(z, DIST_BLOCK, |b, zb| {
        let lo = b * DIST_BLOCK;
        let hi = lo + zb.len();
        let rows: Vec<&[f64]> = idx.iter().map(|&i| &x.col(i)[lo..hi]).collect();
        zb.fill(0.0);
        add_weighted_rows(zb, &rows, w, None);
        for o in zb.iter_mut() {
            *o /= total;
        }
        let mut part = vec![0.0; n];
        dists_in_block(x, lo, hi, zb, &mut part);
        part
    });
    add_in_order(&partials, n)
}

/// Writes the squared distance of every column of `x` to `z` over coordinates `lo..hi` (`z`
/// is that block) into `part`, eight columns at a time on AVX-512 (eight independent sums in
/// flight), four elsewhere. Same association as `data::sq_dist`, multiply-adds fused.
fn dists_in_block(x: UpdatesView<'_>, lo: usize, hi: usize, z: &[f64], part: &mut [f64]) {
    #[inline(always)]
    fn run<const T: usize>(x: UpdatesView<'_>, lo: usize, hi: usize, z: &[f64], part: &mut [f64]) {
        let n = x.n();
        for g in 0..n.div_ceil(T) {
            let rows: [usize; T] = std::array::from_fn(|t| (g * T + t).min(n - 1));
            let a: [&[f64]; T] = std::array::from_fn(|t| &x.col(rows[t])[lo..hi]);
            let tile = pair_tile::<T, 1, false, false>(a, [z], &[]);
            for (t, &i) in rows.iter().enumerate() {
                part[i] = tile[t][0];
            }
        }
    }
    if crate::simd::has_avx512() {
        crate::simd::widest(
            #[inline(always)]
            || run::<8>(x, lo, hi, z, part),
        )
    } else {
        crate::simd::widest(
            #[inline(always)]
            || run::<4>(x, lo, hi, z, part),
        )
    }
}

/// Σ of per-block partial vectors, added in block order (the fixed association that makes
/// the blocked kernels independent of the thread count).
fn add_in_order(partials: &[Vec<f64>], n: usize) -> Vec<f64> {
    let mut acc = vec![0.0; n];
    for part in partials {
        for (a, p) in acc.iter_mut().zip(part) {
            *a += p;
        }
    }
    acc
}

/// Order used for scores and distances: ascending with NaN after everything (NumPy's sort
/// and partition order), ties by nothing (callers sort stably or add an index key).
pub(crate) fn nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (false, false) => a.total_cmp(&b),
        (x, y) => x.cmp(&y),
    }
}

/// The indices of the `k` smallest `scores` (NaN last, ties by lowest index), ascending by
/// index.
pub(crate) fn k_smallest(scores: &[f64], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&i, &j| nan_last(scores[i], scores[j]).then(i.cmp(&j)));
    let mut chosen = order[..k.min(order.len())].to_vec();
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Updates;

    #[test]
    fn distances_known_answers() {
        // (0,0), (3,4), (6,8): squared distances 25, 100, 25.
        let u = Updates::from_rows(&[vec![0.0, 0.0], vec![3.0, 4.0], vec![6.0, 8.0]]).unwrap();
        let d2 = pairwise_sq_dists(u.view());
        assert_eq!(
            d2,
            vec![0.0, 25.0, 100.0, 25.0, 0.0, 25.0, 100.0, 25.0, 0.0]
        );
        assert_eq!(sq_dists_to(u.view(), &[3.0, 4.0]), vec![25.0, 0.0, 25.0]);
        assert_eq!(sq_norm(&[3.0, 4.0]), 25.0);
    }

    #[test]
    fn pairwise_kernel_matches_naive_sums_over_many_blocks() {
        // d = 70437: 34 blocks of 2048 coordinates and a ragged last one, added in block
        // order; n = 7 vectors. The reordered sums must
        // agree with the plain serial double loop to 1e-12 relative (a few ulps per addition
        // over ~10⁵ terms of similar size), and the diagonal is exactly 0.
        let (n, d) = (7, 64 * 1100 + 37);
        let rows: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..d)
                    .map(|j| ((i * 7919 + j * 104729) % 1013) as f64 / 250.0 - 2.0)
                    .collect()
            })
            .collect();
        let u = Updates::from_rows(&rows).unwrap();
        let fast = pairwise_sq_dists(u.view());
        let slow = crate::data::pairwise_sq_dists(u.view());
        for (a, b) in fast.iter().zip(&slow) {
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} vs {b}");
        }
        for i in 0..n {
            assert_eq!(fast[i * n + i], 0.0);
        }
    }

    #[test]
    fn blocked_distances_match_direct_sums() {
        // d spans several blocks and a ragged tail; compare with the plain serial sum.
        let d = 2 * DIST_BLOCK + 13;
        let rows: Vec<Vec<f64>> = (0..4)
            .map(|i| {
                (0..d)
                    .map(|j| ((i * 31 + j * 7) % 17) as f64 / 3.0)
                    .collect()
            })
            .collect();
        let u = Updates::from_rows(&rows).unwrap();
        let d2 = pairwise_sq_dists(u.view());
        for i in 0..4 {
            for j in 0..4 {
                let direct = crate::data::sq_dist(&rows[i], &rows[j]);
                assert!((d2[i * 4 + j] - direct).abs() <= 1e-12 * direct.max(1.0));
            }
        }
    }

    #[test]
    fn tile_sizes_and_instruction_sets_give_the_same_bits() {
        // 2×2 tiles on the baseline build against 4×4 tiles on the widest instruction set:
        // every pair's sum has the same association, so the packed triangles are equal.
        let (n, d) = (11, 517);
        let rows: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..d)
                    .map(|j| ((i * 31 + j * 7) as f64 * 0.37).sin() * 1e3)
                    .collect()
            })
            .collect();
        let u = Updates::from_rows(&rows).unwrap();
        let block: Vec<&[f64]> = u.view().cols().map(|c| &c[3..]).collect();
        let mut small = vec![0.0; n * (n + 1) / 2];
        pairs_in_block::<2, false>(&block, &[], &[], &mut small);
        let mut wide = vec![0.0; n * (n + 1) / 2];
        crate::simd::widest(
            #[inline(always)]
            || pairs_in_block::<4, false>(&block, &[], &[], &mut wide),
        );
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&small), bits(&wide));
        // Entry 1 of the packed triangle is the pair (0, 1): the unfused sum agrees to a few
        // ulps per term (1e-12 relative over ~500 terms).
        let direct = crate::data::sq_dist(&rows[0][3..], &rows[1][3..]);
        assert!(
            (small[1] - direct).abs() <= 1e-12 * direct,
            "{} vs {direct}",
            small[1]
        );
    }

    /// Every pair of the blocked kernel, whatever the number of rows (1 to 13 and 57 to 68:
    /// every size of the last, padded row group, for tiles of 2 and of 4) and the length (a
    /// block of 541 coordinates: 67 lanes-wide steps and a tail of 5), is the sum of that pair
    /// alone: eight lane sums of fused multiply-adds over the coordinates in order, combined
    /// pairwise, plus the tail. Compared bit for bit, distances and Gram entries (the
    /// selections built on them rely on identical inputs getting identical sums whatever
    /// their position). Mutations checked: combining the lanes sequentially
    /// (((s₀ + s₁) + s₂) + …) in `pair_tile` fails it, and so does returning the sum of pair
    /// (1, 0) as pair (0, 1)'s in `pair_tile_2x2` (the 2 × 2 tiles' path on AVX2 and AVX-512).
    #[test]
    fn tiled_pairs_are_each_summed_as_the_pair_alone() {
        fn alone(a: &[f64], b: &[f64], r: &[f64], dot: bool) -> f64 {
            let full = a.len() - a.len() % 8;
            let mut s = [0.0f64; 8];
            for k in 0..full {
                let l = k % 8;
                s[l] = if dot {
                    (a[k] - r[k]).mul_add(b[k] - r[k], s[l])
                } else {
                    (a[k] - b[k]).mul_add(a[k] - b[k], s[l])
                };
            }
            let tail: f64 = (full..a.len())
                .map(|k| {
                    if dot {
                        (a[k] - r[k]) * (b[k] - r[k])
                    } else {
                        (a[k] - b[k]) * (a[k] - b[k])
                    }
                })
                .sum();
            ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])) + tail
        }
        let len = 541;
        let data: Vec<Vec<f64>> = (0..69)
            .map(|i| {
                (0..len)
                    .map(|j| ((i * 31 + j * 7) as f64 * 0.37).sin() * 1e3 + 5e3)
                    .collect()
            })
            .collect();
        let r = &data[68];
        for n in (1..=13).chain(57..=68) {
            let rows: Vec<&[f64]> = data[..n].iter().map(|v| v.as_slice()).collect();
            let np = n * (n + 1) / 2;
            let (mut d2, mut d4, mut g2, mut g4) =
                (vec![0.0; np], vec![0.0; np], vec![0.0; np], vec![0.0; np]);
            pairs_in_block::<2, false>(&rows, &[], &[], &mut d2);
            pairs_in_block::<2, true>(&rows, r, &[], &mut g2);
            crate::simd::widest(
                #[inline(always)]
                || {
                    pairs_in_block::<4, false>(&rows, &[], &[], &mut d4);
                    pairs_in_block::<4, true>(&rows, r, &[], &mut g4);
                },
            );
            let mut k = 0;
            for i in 0..n {
                for j in i..n {
                    let want_d = alone(rows[i], rows[j], r, false).to_bits();
                    let want_g = alone(rows[i], rows[j], r, true).to_bits();
                    assert_eq!(d2[k].to_bits(), want_d, "n = {n}, pair ({i}, {j})");
                    assert_eq!(d4[k].to_bits(), want_d, "n = {n}, pair ({i}, {j})");
                    assert_eq!(g2[k].to_bits(), want_g, "n = {n}, pair ({i}, {j})");
                    assert_eq!(g4[k].to_bits(), want_g, "n = {n}, pair ({i}, {j})");
                    k += 1;
                }
            }
        }
    }

    /// Krum's pick from distances (native scores, f = 2).
    fn krum_pick(d2: &[f64], n: usize) -> usize {
        let all: Vec<usize> = (0..n).collect();
        let s = crate::aggregators::krum::native_scores(d2, n, &all, n - 4);
        crate::aggregators::krum::argmin_nan_last(&s)
    }

    /// From memory the Gram pass shifts each block of rows by the reference into a copy, then
    /// takes plain products, or has its tiles subtract the reference as they load each entry
    /// (`Shift`, by CPU); both must be the same bits as the tiles subtracting (`pairs_in_block`
    /// given r, block by block, blocks added in order) and as the Gram matrix about the origin
    /// of the vectors shifted beforehand, including the ragged tails of the last block
    /// (d = 1037: blocks of 128, the last holding 13 = 8 + a tail of 5; d = 150 013, from
    /// memory: blocks of 1 024, the last 509 = 504 + 5). Both shifts run on every CPU.
    /// Mutations checked: the tail summing the raw products x·y instead of (x − r)(y − r) in
    /// the tiles, every block's rows shifted by the first block's part of r, and (on Zen 4,
    /// whose pass takes `Shift::InTiles`) the copy made without the subtraction, fail it.
    #[test]
    fn gram_about_a_reference_is_the_gram_of_the_shifted_vectors() {
        use rand::RngExt;
        let mut rng = crate::rng::rng_from_seed(11);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        // In cache (the tiles subtract r), and 10.8 MB streamed from memory (shifted copies;
        // the last block, with no next block to prefetch, subtracted in the tiles).
        for (n, d) in [(7, 1037), (9, 150_013)] {
            let rows: Vec<Vec<f64>> = (0..n)
                .map(|_| (0..d).map(|_| 3.0 + rng.random::<f64>()).collect())
                .collect();
            let r: Vec<f64> = (0..d).map(|_| 3.0 + rng.random::<f64>()).collect();
            let shifted: Vec<Vec<f64>> = rows
                .iter()
                .map(|x| x.iter().zip(&r).map(|(x, r)| x - r).collect())
                .collect();
            let x = Updates::from_rows(&rows).unwrap();
            assert_eq!(streams_from_memory(x.view()), d > 100_000);
            let fused = gram_about(x.view(), &r);
            let copied = gram_about(Updates::from_rows(&shifted).unwrap().view(), &vec![0.0; d]);
            assert_eq!(bits(&fused), bits(&copied), "d = {d}");
            let block = pairs_block_len(d, true);
            let partials: Vec<Vec<f64>> = (0..d.div_ceil(block))
                .map(|b| {
                    let (lo, hi) = (b * block, (b * block + block).min(d));
                    let rs: Vec<&[f64]> = rows.iter().map(|x| &x[lo..hi]).collect();
                    let mut part = vec![0.0; n * (n + 1) / 2];
                    if crate::simd::has_avx512() {
                        crate::simd::widest(|| {
                            pairs_in_block::<4, true>(&rs, &r[lo..hi], &[], &mut part)
                        });
                    } else {
                        crate::simd::widest(|| {
                            pairs_in_block::<2, true>(&rs, &r[lo..hi], &[], &mut part)
                        });
                    }
                    part
                })
                .collect();
            let in_tiles = unpack(&add_in_order(&partials, n * (n + 1) / 2), n);
            assert_eq!(bits(&fused), bits(&in_tiles), "d = {d}");
            let all: Vec<usize> = (0..n).collect();
            for shift in [Shift::InTiles, Shift::Copied] {
                let partials: Vec<Vec<f64>> = (0..d.div_ceil(block))
                    .map(|b| {
                        pairs_of_block::<true>(
                            x.view(),
                            &all,
                            None,
                            Some(&r),
                            b * block,
                            block,
                            shift,
                        )
                    })
                    .collect();
                let gram = unpack(&add_in_order(&partials, n * (n + 1) / 2), n);
                assert_eq!(bits(&gram), bits(&copied), "d = {d}, {shift:?}");
            }
        }
    }

    /// The Gram-form distances Krum uses pick what the direct sums pick, where the plain Gram
    /// expansion does not: (1) data at 10⁸ with unit spread, where XᵀX (no reference near the
    /// data) loses the distances to cancellation and picks another vector; (2) a cluster of
    /// six vectors 10⁻⁹ apart that decides the pick, where even the expansion about an input
    /// loses them and only the direct recomputation ranks them.
    ///
    /// Mutation checked: `RESOLVED = 0.0` (no direct recomputation) together with no
    /// re-framing about the medoid in `gram_near_majority_counted` fails part 2 (0.8e-13 against
    /// 5e-16). Either safeguard alone keeps it passing: the cluster holds the medoid.
    #[test]
    fn gram_distances_select_as_the_direct_sums() {
        use rand::RngExt;
        let mut rng = crate::rng::rng_from_seed(7);
        let d = 3001;
        // (1) Far from the origin.
        let rows: Vec<Vec<f64>> = (0..9)
            .map(|_| (0..d).map(|_| 1e8 + rng.random::<f64>()).collect())
            .collect();
        let u = Updates::from_rows(&rows).unwrap();
        let direct = pairwise_sq_dists(u.view());
        let plain = sq_dists_of_gram(&gram_about(u.view(), &vec![0.0; d]), 9);
        let fast = pairwise_sq_dists_by_gram(u.view());
        assert_ne!(krum_pick(&plain, 9), krum_pick(&direct, 9));
        assert_eq!(krum_pick(&fast, 9), krum_pick(&direct, 9));
        for (a, b) in fast.iter().zip(&direct) {
            assert!((a - b).abs() <= 1e-9 * b, "{a} vs {b}");
        }
        // (2) Three unit-scale vectors and a cluster of six within 1e-9 of one point.
        let centre: Vec<f64> = (0..d).map(|_| rng.random::<f64>()).collect();
        let mut rows: Vec<Vec<f64>> = (0..3)
            .map(|_| (0..d).map(|_| rng.random::<f64>()).collect())
            .collect();
        rows.extend((0..6).map(|_| {
            centre
                .iter()
                .map(|c| c + 1e-9 * rng.random::<f64>())
                .collect::<Vec<f64>>()
        }));
        let u = Updates::from_rows(&rows).unwrap();
        let direct = pairwise_sq_dists(u.view());
        let fast = pairwise_sq_dists_by_gram(u.view());
        assert_eq!(krum_pick(&fast, 9), krum_pick(&direct, 9));
        for (a, b) in fast.iter().zip(&direct) {
            assert!((a - b).abs() <= 1e-9 * b, "{a} vs {b}");
        }
    }

    #[test]
    fn infinite_entries_follow_cdist() {
        let inf = f64::INFINITY;
        let m = nalgebra::DMatrix::from_column_slice(2, 3, &[0.0, 0.0, inf, inf, inf, inf]);
        let u = Updates::new_allow_inf(m).unwrap();
        let d2 = pairwise_sq_dists(u.view());
        assert_eq!(d2[0], 0.0);
        assert_eq!(d2[1], inf);
        assert!(d2[4].is_nan() && d2[5].is_nan());
    }

    #[test]
    fn ordering_helpers() {
        let s = [3.0, f64::NAN, 1.0, 3.0, 0.5];
        assert_eq!(k_smallest(&s, 3), vec![0, 2, 4]);
        assert_eq!(k_smallest(&s, 5), vec![0, 1, 2, 3, 4]);
        // A negative NaN (as x86 produces for ∞ − ∞) still sorts last.
        assert_eq!(nan_last(-f64::NAN, 1.0), std::cmp::Ordering::Greater);
    }

    #[test]
    fn sums_and_means() {
        let u = Updates::from_rows(&[vec![1.0, 2.0], vec![3.0, 6.0], vec![5.0, 10.0]]).unwrap();
        assert_eq!(u.view().mean_of([0, 2]).as_slice(), &[3.0, 6.0]);
    }

    #[test]
    fn rules_are_identical_across_thread_counts() {
        // Every rule of this family, at a d spanning several blocks, in a 1-thread and a
        // 3-thread pool: the outputs must be the same bits.
        use crate::aggregators::{build, AggContext};
        use crate::params::{Compat, Params};
        use rand::RngExt;
        let mut rng = crate::rng::rng_from_seed(17);
        let m = nalgebra::DMatrix::from_fn(3 * DIST_BLOCK + 5, 15, |_, _| rng.random::<f64>());
        let u = Updates::new(m).unwrap();
        let run_all = |threads: usize| -> Vec<Vec<f64>> {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut outs = Vec::new();
                for name in [
                    "median",
                    "trmean",
                    "geometric_median",
                    "krum",
                    "multi_krum",
                    "centered_clipping",
                    "monna",
                    "meamed",
                    "bulyan",
                    "median_of_means",
                ] {
                    for compat in [Compat::Native, Compat::Byzfl] {
                        // ByzFL has neither Bulyan nor median-of-means: byzfl refuses them.
                        let Ok(agg) = build(name, &Params::new().with("f", 3.0), compat) else {
                            continue;
                        };
                        let mut r = crate::rng::rng_from_seed(1);
                        let out = agg
                            .aggregate(u.view(), &mut AggContext::new(&mut r))
                            .unwrap();
                        outs.push(out.as_slice().to_vec());
                    }
                }
                outs
            })
        };
        assert_eq!(run_all(1), run_all(3));
    }
}
