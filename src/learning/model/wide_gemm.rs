//! Matrix products with many rows of C (more than [`THIN`]) and B read by its contiguous
//! columns, the same bits as matrixmultiply's.
//!
//! The MLP's first layer multiplies its 100 × 784 weight block by each batch of examples
//! (784 × 32, one example per column). matrixmultiply's AVX-512 kernel computes tiles of
//! 8 × 8 entries of C: eight accumulators, each multiply-add beside a load (one vector of A,
//! eight broadcasts of B per k), and both operands packed first, the batch gathered before
//! that. On this product it ran at 21–27 G multiply-adds/s where the machine's fused
//! multiply-adds allow 42 (docs/performance.md, "wide13").
//!
//! Here A is packed once ([`Panels`]: its rows in panels of [`PANEL`], each panel's columns
//! one after the other, so that a panel's two vectors at one k are one 128-byte load), and
//! may serve many products (the D-SGD round packs W₁ once for its 40 clients); each tile of
//! C is 16 rows × [`COLS_AT_ONCE`] columns, 24 accumulators: per k two vector loads of A and
//! twelve broadcasts of B feed 24 multiply-adds. B's columns are read where they lie (a
//! batch's examples in a client's data, [`Columns::Listed`]), without a gather.
//!
//! Same bits: as in [`thin_gemm`](super::thin_gemm), each entry of C is summed over k in
//! matrixmultiply's blocks of [`KC`], each block one chain of fused multiply-adds from +0 in
//! k order, and written with [`Write`] (α times the first block's sum, or added to C; every
//! later block added); only which entries share a vector register differs. Rows of a panel
//! beyond m are zeros of the packing, computed and not stored. `gemm::tests::
//! wide_products_are_matrixmultiplys_bits` checks them against matrixmultiply called
//! directly.

use super::thin_gemm::{store, store_lanes, Column, Columns, Listed, Strided, Write, KC, THIN};
use crate::simd::Lanes;

/// Rows of C per panel: two vectors of 8 lanes.
pub(super) const PANEL: usize = 16;

/// Columns of C per tile: 2 × 12 accumulators in AVX-512's 32 registers, beside A's two
/// vectors and B's broadcast entry. (Stand-alone, 16 × 12 tiles ran at 33–40 G/s; 16 × 8
/// at 22–36, 24 × 8 at 29–35, 32 × 6 at 30: docs/performance.md, "wide13".)
const COLS_AT_ONCE: usize = 12;

/// Columns per tile for the last columns of C beyond the last whole tile of
/// [`COLS_AT_ONCE`], before the very last ones taken one at a time.
const COLS_AT_ONCE_TAIL: usize = 4;

/// A (m × k, m > [`THIN`]) packed for [`rows`]: panel p holds rows 16p..16p + 16, as k
/// arrays of 16 entries (column j of the panel at index p·k + j), rows beyond m zero.
pub(crate) struct Panels {
    m: usize,
    k: usize,
    lanes: Vec<[f64; PANEL]>,
}

impl Panels {
    /// Packs A (entry (i, j) at `a[i·rs + j·cs]`; the caller has checked every index). A
    /// row-major A (cs = 1, W₁ as θ holds it) is transposed eight rows by eight columns in
    /// registers.
    #[inline(always)]
    pub(super) fn new<S: Lanes<8>>(
        simd: S,
        (m, k): (usize, usize),
        (a, rs, cs): (&[f64], usize, usize),
    ) -> Panels {
        debug_assert!(
            m > THIN,
            "invariant: wide products have more than THIN rows"
        );
        let panels = m.div_ceil(PANEL);
        let mut lanes = vec![[0.0; PANEL]; panels * k];
        for (p, panel) in lanes.chunks_exact_mut(k).enumerate() {
            for h in 0..PANEL / 8 {
                let i0 = p * PANEL + 8 * h;
                let rows = m.saturating_sub(i0).min(8);
                let mut j = 0;
                if rows == 8 && cs == 1 {
                    while j + 8 <= k {
                        let block: [&[f64; 8]; 8] = std::array::from_fn(|r| {
                            a[(i0 + r) * rs + j..][..8].try_into().expect("8 entries")
                        });
                        for (q, v) in simd.columns(block).into_iter().enumerate() {
                            panel[j + q][8 * h..8 * h + 8].copy_from_slice(&simd.values(v));
                        }
                        j += 8;
                    }
                }
                for (j, lanes) in panel.iter_mut().enumerate().skip(j) {
                    for r in 0..rows {
                        lanes[8 * h + r] = a[(i0 + r) * rs + j * cs];
                    }
                }
            }
        }
        Panels { m, k, lanes }
    }

    /// Rows of A.
    pub(super) fn nrows(&self) -> usize {
        self.m
    }

    /// Columns of A.
    pub(super) fn ncols(&self) -> usize {
        self.k
    }
}

/// C ← α·A·B or C ← C + A·B (`write`) for A packed in `a` (m × k), B k × n by its contiguous
/// columns and C m × n column-major in `c` (length m·n). The caller has checked every index
/// of B and C.
#[inline(always)]
pub(super) fn rows<S: Lanes<8>>(
    simd: S,
    a: &Panels,
    n: usize,
    b: Columns<'_>,
    write: Write,
    c: &mut [f64],
) {
    debug_assert!(
        !matches!(write, Write::Momentum { .. }),
        "invariant: a momentum write goes to `thin_gemm::cols`"
    );
    match b {
        Columns::Strided(b, cs) => rows_by::<S, _>(simd, a, n, Strided(b, cs), write, c),
        Columns::Listed(b) => rows_by::<S, _>(simd, a, n, Listed(b), write, c),
    }
}

#[inline(always)]
fn rows_by<'b, S: Lanes<8>, B: Column<'b>>(
    simd: S,
    a: &Panels,
    n: usize,
    b: B,
    write: Write,
    c: &mut [f64],
) {
    let mut l = 0;
    while l + COLS_AT_ONCE <= n {
        tiles::<S, B, COLS_AT_ONCE>(simd, a, l, b, write, c);
        l += COLS_AT_ONCE;
    }
    while l + COLS_AT_ONCE_TAIL <= n {
        tiles::<S, B, COLS_AT_ONCE_TAIL>(simd, a, l, b, write, c);
        l += COLS_AT_ONCE_TAIL;
    }
    for l in l..n {
        tiles::<S, B, 1>(simd, a, l, b, write, c);
    }
}

/// Columns l..l + N of C: for each block of k, every panel's tile.
#[inline(always)]
fn tiles<'b, S: Lanes<8>, B: Column<'b>, const N: usize>(
    simd: S,
    a: &Panels,
    l: usize,
    b: B,
    write: Write,
    c: &mut [f64],
) {
    let (m, k) = (a.m, a.k);
    for (block, k0) in (0..k).step_by(KC).enumerate() {
        let len = KC.min(k - k0);
        let bs: [&[f64]; N] = std::array::from_fn(|q| &b.from(l + q)[k0..][..len]);
        for (p, panel) in a.lanes.chunks_exact(k).enumerate() {
            let pk = &panel[k0..][..len];
            let i0 = p * PANEL;
            if m - i0 > 8 {
                let acc = tile::<S, 2, N>(simd, pk, &bs);
                put(simd, (m, i0, l), &acc, write, block == 0, c);
            } else {
                let acc = tile::<S, 1, N>(simd, pk, &bs);
                put(simd, (m, i0, l), &acc, write, block == 0, c);
            }
        }
    }
}

/// One block's sums for H vectors of a panel's rows and N columns: chains from +0 in k order.
#[inline(always)]
fn tile<S: Lanes<8>, const H: usize, const N: usize>(
    simd: S,
    pk: &[[f64; PANEL]],
    bs: &[&[f64]; N],
) -> [[S::V; H]; N] {
    let zero = simd.splat(0.0);
    let mut acc = [[zero; H]; N];
    // Eight entries of each column of B at a time: one bounds check per column per eight
    // k, not one per k (twelve compares and branches beside every 24 multiply-adds made the
    // MLP's round 8 % longer: docs/performance.md, "wide13").
    let mut j = 0;
    while j + 8 <= pk.len() {
        let eights: [&[f64; 8]; N] =
            std::array::from_fn(|q| bs[q][j..j + 8].try_into().expect("8 entries"));
        let av: &[[f64; PANEL]; 8] = pk[j..j + 8].try_into().expect("8 entries");
        for (t, av) in av.iter().enumerate() {
            step(simd, &mut acc, av, std::array::from_fn(|q| eights[q][t]));
        }
        j += 8;
    }
    for (j, av) in pk.iter().enumerate().skip(j) {
        step(simd, &mut acc, av, std::array::from_fn(|q| bs[q][j]));
    }
    acc
}

/// One k of a tile: A's H vectors at k times each of N entries of B, into the chains.
#[inline(always)]
fn step<S: Lanes<8>, const H: usize, const N: usize>(
    simd: S,
    acc: &mut [[S::V; H]; N],
    av: &[f64; PANEL],
    b: [f64; N],
) {
    let mut x = [simd.splat(0.0); H];
    for (h, x) in x.iter_mut().enumerate() {
        *x = simd.vector(av[8 * h..8 * h + 8].try_into().expect("8 lanes"));
    }
    for (acc, &b) in acc.iter_mut().zip(&b) {
        let bv = simd.splat(b);
        for (s, &x) in acc.iter_mut().zip(&x) {
            *s = simd.mul_add(x, bv, *s);
        }
    }
}

/// A tile's sums into C's rows i0.. (those below m) of columns l..l + N.
#[inline(always)]
fn put<S: Lanes<8>, const H: usize, const N: usize>(
    simd: S,
    (m, i0, l): (usize, usize, usize),
    acc: &[[S::V; H]; N],
    write: Write,
    first: bool,
    c: &mut [f64],
) {
    for (q, acc) in acc.iter().enumerate() {
        let column = &mut c[(l + q) * m..(l + q + 1) * m];
        for (h, &v) in acc.iter().enumerate() {
            let i = i0 + 8 * h;
            if i + 8 <= m {
                let out: &mut [f64; 8] = (&mut column[i..i + 8]).try_into().expect("8 lanes");
                store_lanes(simd, out, v, write, first);
            } else if i < m {
                store(&mut column[i..], &simd.values(v)[..m - i], write, first);
            }
        }
    }
}
