//! Matrix products with one thin side (at most [`THIN`] rows or columns of C), the same bits
//! as matrixmultiply's.
//!
//! A dense layer with few outputs — softmax regression's 10 classes, logistic and linear
//! regression's one, an MLP's last layer — multiplies a 10 × p weight block by a p × b batch
//! and, for its weight gradient, a p × b batch by a b × 10 matrix. matrixmultiply's AVX-512
//! kernel computes tiles of 8 × 8 entries: 10 rows are a full tile and a masked tile of which
//! 2 rows of 8 are kept, and both operands are packed first, the whole batch included. On the
//! D-SGD round of softmax regression (n = 50, batch 32) those products took half the round,
//! at half the machine's matrix-product rate (docs/performance.md, "thin13").
//!
//! Here each product is one pass without packing the batch:
//! - [`rows`] (C has m ≤ [`THIN`] rows; B has contiguous columns), eight columns at a time,
//!   in one of two ways. Where m fills its vectors of 8 lanes (5–8, 13–16), the m outputs of a
//!   column are one group of lanes, and each multiply-add takes one entry of B, broadcast,
//!   against the m entries of A's column, packed once per call (m × k). Elsewhere (1–4, 9–12:
//!   softmax's 10 outputs would fill 10 of 16 lanes) the lanes run across the eight columns:
//!   B's eight columns are read eight entries at a time and transposed in registers, and each
//!   multiply-add takes one entry of A, broadcast (docs/performance.md, "across13");
//! - [`cols`] (C has n ≤ [`THIN`] columns; A has contiguous columns): sixteen (or eight) rows of
//!   C at a time, each of its n columns a group of lanes; each multiply-add takes sixteen
//!   entries of A's column against one entry of B, broadcast.
//!
//! The operand read by columns can be strided in one slice or listed column by column
//! ([`Columns`]), so a batch's examples are read where they lie, not copied first
//! (docs/performance.md, "inplace13").
//!
//! Same bits: matrixmultiply (0.3, with β ∈ {0, 1} as every caller here passes) sums each
//! entry of C over k in blocks of its `kc` = [`KC`] in k order, each block one chain of fused
//! multiply-adds from +0 (`_mm512_fmadd_pd`), and writes α times the first block's sum
//! (β = 0) or adds it to C (β = 1, as every later block, which with α ≠ 1 it adds as
//! `fma(α, ab, c)`: `gemm` sends α ≠ 1 here only for one block, see [`Write`]). Both kernels
//! run exactly those chains, with fused multiply-adds, in that order; only which entries
//! share a vector register differs, and that changes no rounding. `gemm` calls them only where
//! matrixmultiply itself runs its AVX-512 kernel (its fused multiply-add kernels elsewhere
//! would round the same, but its SSE2 fallback multiplies and adds separately): on every
//! machine a product gives the bits it gave before. `gemm::tests::
//! thin_products_are_matrixmultiplys_bits` checks every shape class against matrixmultiply
//! called directly.

use crate::simd::Lanes;

/// The largest thin side: up to 16 lanes of C's entries per column (two 512-bit registers),
/// times 8 columns, keeps [`rows`]' accumulators in 16 of AVX-512's 32 registers.
pub(super) const THIN: usize = 16;

/// matrixmultiply's `kc` for f64 (`archparam_defaults::D_KC`): the length of the blocks of k
/// in which it sums each entry. A different value would change the association of every
/// entry with k > 256; `gemm`'s test would fail (it runs k = 257 and 784, MNIST's input
/// width).
pub(super) const KC: usize = 256;

/// Columns of C taken together by [`rows`]: eight chains per row of A, each with its entry
/// of B broadcast, so that the m entries of A's column are loaded once per eight columns.
const COLS_AT_ONCE: usize = 8;

/// An operand read by columns, each contiguous: strided in one slice (column j starts at
/// `data[j·cs]`) or listed one by one (a batch's examples where they lie in a client's data).
#[derive(Clone, Copy)]
pub(super) enum Columns<'a> {
    /// Column j starts at `data[j·cs]`.
    Strided(&'a [f64], usize),
    /// Column j is `columns[j]`.
    Listed(&'a [&'a [f64]]),
}

/// Column j from its first entry on (to the end of the slice it lies in), each kind of
/// [`Columns`] its own type so that the kernels' inner loops do not branch on the kind.
pub(super) trait Column<'a>: Copy {
    /// Whether the columns are scattered beyond the caches (a batch's examples where they lie
    /// in a client's data), so that a kernel reading some columns asks ahead for the next.
    const SCATTERED: bool;

    fn from(self, j: usize) -> &'a [f64];
}

#[derive(Clone, Copy)]
pub(super) struct Strided<'a>(pub(super) &'a [f64], pub(super) usize);

impl<'a> Column<'a> for Strided<'a> {
    const SCATTERED: bool = false;

    #[inline(always)]
    fn from(self, j: usize) -> &'a [f64] {
        &self.0[j * self.1..]
    }
}

#[derive(Clone, Copy)]
pub(super) struct Listed<'a>(pub(super) &'a [&'a [f64]]);

impl<'a> Column<'a> for Listed<'a> {
    const SCATTERED: bool = true;

    #[inline(always)]
    fn from(self, j: usize) -> &'a [f64] {
        self.0[j]
    }
}

/// C ← α·A·B or C ← C + A·B (`write`) for A m × k (entry (i, j) at `a[i·rs_a + j·cs_a]`),
/// B k × n by its contiguous columns and C m × n column-major in `c` (length m·n), for
/// 1 ≤ m ≤ [`THIN`]. The caller has checked every index.
#[inline(always)]
pub(super) fn rows<S: Lanes<8>>(
    simd: S,
    (m, k, n): (usize, usize, usize),
    a: (&[f64], usize, usize),
    b: Columns<'_>,
    write: Write,
    c: &mut [f64],
) {
    debug_assert!(
        !matches!(write, Write::Momentum { .. }),
        "invariant: a momentum write goes to `cols`"
    );
    // Lanes across C's columns where the m outputs would leave half or more of their last
    // vector empty ([`packs_columns`]); across the outputs elsewhere.
    if packs_columns(m) {
        return rows_packed(simd, (m, k, n), &columns_of((m, k), a), b, write, c);
    }
    match (m, b) {
        (m, Columns::Strided(b, cs)) if m <= 8 => {
            rows_of::<S, _, 1>(simd, (m, k, n), a, Strided(b, cs), write, c)
        }
        (_, Columns::Strided(b, cs)) => {
            rows_of::<S, _, 2>(simd, (m, k, n), a, Strided(b, cs), write, c)
        }
        (m, Columns::Listed(b)) if m <= 8 => {
            rows_of::<S, _, 1>(simd, (m, k, n), a, Listed(b), write, c)
        }
        (_, Columns::Listed(b)) => rows_of::<S, _, 2>(simd, (m, k, n), a, Listed(b), write, c),
    }
}

/// Whether [`rows`] reads A by its columns of m entries ([`columns_of`]): where m would leave
/// half or more of its last vector empty (m + 3 vector operations per k for eight columns
/// against 8 or 16, the transposition's shuffles sharing the multiply-adds' pipes on Zen 4).
pub(super) fn packs_columns(m: usize) -> bool {
    matches!(m, 1..=4 | 9..=12)
}

/// A's columns one after another (entry (i, j) of A, m × k with entry (i, j) at
/// `a[i·rs_a + j·cs_a]`, at `j·m + i`): the operand [`rows_packed`] takes. The caller has
/// checked every index.
pub(super) fn columns_of(
    (m, k): (usize, usize),
    (a, rs_a, cs_a): (&[f64], usize, usize),
) -> Vec<f64> {
    let mut out = Vec::with_capacity(m * k);
    for j in 0..k {
        out.extend((0..m).map(|i| a[i * rs_a + j * cs_a]));
    }
    out
}

/// [`rows`] for an m with [`packs_columns`], A given by [`columns_of`]: the same bits.
#[inline(always)]
pub(super) fn rows_packed<S: Lanes<8>>(
    simd: S,
    (m, k, n): (usize, usize, usize),
    packed: &[f64],
    b: Columns<'_>,
    write: Write,
    c: &mut [f64],
) {
    macro_rules! across {
        ($($m:literal)*) => {
            match (m, b) {
                $(($m, Columns::Strided(b, cs)) => rows_across::<S, _, $m>(
                    simd, (k, n), packed.as_chunks::<$m>().0, Strided(b, cs), write, c
                ),
                ($m, Columns::Listed(b)) => rows_across::<S, _, $m>(
                    simd, (k, n), packed.as_chunks::<$m>().0, Listed(b), write, c
                ),)*
                _ => unreachable!("invariant: packed columns of 1–4 or 9–12 entries"),
            }
        };
    }
    across!(1 2 3 4 9 10 11 12)
}

/// [`rows`] with M rows of C and the lanes across its columns: eight columns at a time, each
/// multiply-add takes one entry of A, broadcast, against the eight columns' entries at one k
/// (eight columns of B, read eight entries at a time and transposed in registers). M
/// multiply-adds and three shuffles per k for eight columns, against 8 or 16 multiply-adds
/// with the outputs in the lanes (padded to 8 or 16): softmax's 10 outputs take 10 + 3
/// instead of 16. Each entry of C is still one chain over k per block.
#[inline(always)]
fn rows_across<'b, S: Lanes<8>, B: Column<'b>, const M: usize>(
    simd: S,
    (k, n): (usize, usize),
    packed: &[[f64; M]],
    b: B,
    write: Write,
    c: &mut [f64],
) {
    // A's columns, each M entries.
    let packed = &packed[..k];
    let column = |l: usize| &b.from(l)[..k];
    let zero = simd.splat(0.0);
    let mut l = 0;
    while l + COLS_AT_ONCE <= n {
        let bs: [&[f64]; COLS_AT_ONCE] = std::array::from_fn(|q| column(l + q));
        // Scattered columns come from L3 or memory, eight short streams at a time, too few
        // for the loads to keep the multiply-adds busy: the next eight columns are asked for
        // into L2 a line each beside each step of eight entries, so that each is there a whole
        // pass ahead (docs/performance.md, "ahead13b": the softmax round 1–3 % shorter;
        // asking 4–24 steps ahead in the same columns, which the hardware prefetchers
        // already follow, made it up to 3 % longer).
        let next: Option<[&[f64]; COLS_AT_ONCE]> = (B::SCATTERED && l + 2 * COLS_AT_ONCE <= n)
            .then(|| std::array::from_fn(|q| column(l + COLS_AT_ONCE + q)));
        // The eight columns of C, lane q of vector i being entry (i, l + q): kept in
        // registers across the blocks of k and written once (C is read first where the sums
        // are added to it).
        let mut total = [zero; M];
        if let Write::Add = write {
            for (i, t) in total.iter_mut().enumerate() {
                *t = simd.vector(std::array::from_fn(|q| c[(l + q) * M + i]));
            }
        }
        for (block, k0) in (0..k).step_by(KC).enumerate() {
            let len = KC.min(k - k0);
            let mut acc = [zero; M];
            let mut j = k0;
            while j + 8 <= k0 + len {
                if let Some(next) = &next {
                    for column in next {
                        crate::simd::prefetch(&column[j..j + 1]);
                    }
                }
                // A plain loop, not `array::map`: its closure was compiled apart, as a call
                // per step that spilled every accumulator around it (the softmax forward
                // product's 10 sums and 8 rows: 20 stores and loads per 80 multiply-adds).
                let mut rows: [&[f64; 8]; COLS_AT_ONCE] = [&[0.0; 8]; COLS_AT_ONCE];
                for (row, b) in rows.iter_mut().zip(&bs) {
                    *row = b[j..j + 8].try_into().expect("8 lanes");
                }
                for (at, bv) in simd.columns(rows).into_iter().enumerate() {
                    for (s, &x) in acc.iter_mut().zip(&packed[j + at]) {
                        *s = simd.mul_add(simd.splat(x), bv, *s);
                    }
                }
                j += 8;
            }
            for j in j..k0 + len {
                let mut column = [0.0; COLS_AT_ONCE];
                for (v, b) in column.iter_mut().zip(&bs) {
                    *v = b[j];
                }
                let bv = simd.vector(column);
                for (s, &x) in acc.iter_mut().zip(&packed[j]) {
                    *s = simd.mul_add(simd.splat(x), bv, *s);
                }
            }
            for (t, &sums) in total.iter_mut().zip(&acc) {
                *t = write.lanes(simd, *t, sums, block == 0);
            }
        }
        let total = total.map(|v| simd.values(v));
        for (q, out) in c[l * M..(l + COLS_AT_ONCE) * M]
            .chunks_exact_mut(M)
            .enumerate()
        {
            for (v, t) in out.iter_mut().zip(&total) {
                *v = t[q];
            }
        }
        l += COLS_AT_ONCE;
    }
    // The last columns, one at a time, in the same chains.
    for l in l..n {
        let bl = column(l);
        for (block, k0) in (0..k).step_by(KC).enumerate() {
            let mut acc = [0.0f64; M];
            for (av, &x) in packed[k0..].iter().zip(&bl[k0..]).take(KC) {
                for (s, &y) in acc.iter_mut().zip(av) {
                    *s = y.mul_add(x, *s);
                }
            }
            store(&mut c[l * M..(l + 1) * M], &acc, write, block == 0);
        }
    }
}

/// [`rows`] with the m outputs of a column in H vectors of 8 lanes (the last padded with
/// zeros of A, whose lanes are computed and not stored).
#[inline(always)]
fn rows_of<'b, S: Lanes<8>, B: Column<'b>, const H: usize>(
    simd: S,
    (m, k, n): (usize, usize, usize),
    (a, rs_a, cs_a): (&[f64], usize, usize),
    b: B,
    write: Write,
    c: &mut [f64],
) {
    // A's columns, packed into lanes.
    let packed: Vec<[[f64; 8]; H]> = (0..k)
        .map(|j| {
            let mut lanes = [[0.0; 8]; H];
            for (i, v) in lanes.as_flattened_mut().iter_mut().enumerate().take(m) {
                *v = a[i * rs_a + j * cs_a];
            }
            lanes
        })
        .collect();
    let column = |l: usize| &b.from(l)[..k];
    let zero = simd.splat(0.0);
    let mut l = 0;
    while l < n {
        let q_n = COLS_AT_ONCE.min(n - l);
        for (block, k0) in (0..k).step_by(KC).enumerate() {
            let len = KC.min(k - k0);
            let pk = &packed[k0..][..len];
            let mut acc = [[zero; H]; COLS_AT_ONCE];
            if q_n == COLS_AT_ONCE {
                let bs: [&[f64]; COLS_AT_ONCE] =
                    std::array::from_fn(|q| &column(l + q)[k0..][..len]);
                for (j, lanes) in pk.iter().enumerate() {
                    // A plain loop, not `array::map` (see `rows_across`).
                    let mut av = [zero; H];
                    for (v, &x) in av.iter_mut().zip(lanes) {
                        *v = simd.vector(x);
                    }
                    for (acc, b) in acc.iter_mut().zip(&bs) {
                        let bv = simd.splat(b[j]);
                        for (s, &x) in acc.iter_mut().zip(&av) {
                            *s = simd.mul_add(x, bv, *s);
                        }
                    }
                }
            } else {
                // The last columns, one at a time, in the same chains.
                for (q, acc) in acc.iter_mut().enumerate().take(q_n) {
                    let bq = &column(l + q)[k0..][..len];
                    for (av, &b) in pk.iter().zip(bq) {
                        let bv = simd.splat(b);
                        for (s, &x) in acc.iter_mut().zip(av) {
                            *s = simd.mul_add(simd.vector(x), bv, *s);
                        }
                    }
                }
            }
            for (q, acc) in acc.iter().enumerate().take(q_n) {
                let sums = acc.map(|v| simd.values(v));
                let out = &mut c[(l + q) * m..(l + q + 1) * m];
                store(out, &sums.as_flattened()[..m], write, block == 0);
            }
        }
        l += q_n;
    }
}

/// C ← α·A·B, C ← C + A·B or the momentum step C ← C·β + α·g (`write`) for A m × k by its
/// contiguous columns, B k × n (entry (j, l) at `b[j·rs_b + l·cs_b]`) and C m × n
/// column-major in `c` (length m·n), for 1 ≤ n ≤ [`THIN`]. The caller has checked every
/// index. Returns false where a [`Write::Momentum`]'s gradient had an entry that is not
/// finite (true for the other writes).
#[inline(always)]
pub(super) fn cols<S: Lanes<8>>(
    simd: S,
    (m, k, n): (usize, usize, usize),
    a: Columns<'_>,
    (b, rs_b, cs_b): (&[f64], usize, usize),
    write: Write,
    c: &mut [f64],
) -> bool {
    // Sixteen rows of C per pass (two vectors) while the 2·n accumulators fit in registers
    // beside the loaded rows; eight above.
    macro_rules! with_n {
        ($($n:literal => $h:literal)*) => {
            match (n, a) {
                $(($n, Columns::Strided(a, cs)) => cols_of::<S, _, $n, $h>(
                    simd, (m, k), Strided(a, cs), (b, rs_b, cs_b), write, c
                ),
                ($n, Columns::Listed(a)) => cols_of::<S, _, $n, $h>(
                    simd, (m, k), Listed(a), (b, rs_b, cs_b), write, c
                ),)*
                _ => unreachable!("invariant: thin columns are 1..=THIN"),
            }
        };
    }
    with_n!(1 => 2 2 => 2 3 => 2 4 => 2 5 => 2 6 => 2 7 => 2 8 => 2 9 => 2 10 => 2
        11 => 2 12 => 2 13 => 1 14 => 1 15 => 1 16 => 1)
}

/// How many passes of 8·H rows ahead [`cols_of`] asks for the lines of C that a
/// [`Write::Momentum`] will read, and those of A's listed columns: two passes of the MLP's
/// first-layer panels (11 or 12 columns, 16 rows, batch 32) are 1 536 vector multiply-adds.
/// For C, one, three, four and six passes did no better (docs/performance.md, "ahead13",
/// "spill13"); for A, one pass did worse and four or eight no better ("asks13").
const PASSES_AHEAD: usize = 2;

/// [`cols`] with N columns of C, 8·H rows at a time.
#[inline(always)]
fn cols_of<'a, S: Lanes<8>, A: Column<'a>, const N: usize, const H: usize>(
    simd: S,
    (m, k): (usize, usize),
    a: A,
    (b, rs_b, cs_b): (&[f64], usize, usize),
    write: Write,
    c: &mut [f64],
) -> bool {
    // B's rows, each N entries.
    let bt: Vec<[f64; N]> = (0..k)
        .map(|j| std::array::from_fn(|l| b[j * rs_b + l * cs_b]))
        .collect();
    let mut zeros = simd.splat(0.0);
    // A momentum step reads each entry of C, and where C (a client's momentum column) comes
    // from memory it comes as N short runs 8·H entries at a time, m apart: the hardware
    // prefetchers do not follow them, so each pass of rows would wait for its N lines after
    // its multiply-adds. Asked for into L2 two passes ahead, each run's first line
    // (docs/performance.md, "ahead13", "spill13": into L1, or both lines of a run that
    // straddles two, was slower once the multiply-adds ran at their rate). The caller says
    // when C lies beyond L2 (softmax regression's 2.5 MB of momenta on a 1 MiB L2: the round
    // 10 % shorter with the asks; on a 2 MiB L2 they cost it 1–3 %).
    let ahead = match write {
        Write::Momentum {
            from_memory: true, ..
        } => PASSES_AHEAD * 8 * H,
        _ => 0,
    };
    // A's columns listed where they lie (a batch's examples in the clients' data: the MLP's
    // first-layer weight gradient) come from L3 or memory, not L2: W₁ packed for the group's
    // forward product (627 kB at 784 × 100) and the momentum's stream have pushed the
    // group's batch out of a 1 MiB L2 by then. Each step asks for its column's lines as many
    // rows on as the momentum's asks run ahead (docs/performance.md, "asks13": the MLP rounds
    // 0.2–0.9 ms shorter on Zen 4; softmax regression's batch, with no W₁ to pack, is still
    // in L2 and its rounds did not move).
    let a_ahead = if A::SCATTERED {
        PASSES_AHEAD * 8 * H
    } else {
        0
    };
    let mut i = 0;
    while i + 8 * H <= m {
        // Column o's line for the pass `ahead` rows on, asked for beside the o-th k's
        // multiply-adds. Asked for in one burst at the top of the pass (N·H lines or more),
        // they stalled the core (10 % of the MLP round's samples on them, against 6 % spread;
        // the round longer), likely on its line-fill buffers.
        let asks = if ahead > 0 && i + ahead + 8 * H <= m {
            N
        } else {
            0
        };
        let a_asks = if a_ahead > 0 && i + a_ahead + 8 * H <= m {
            a_ahead
        } else {
            0
        };
        for (block, k0) in (0..k).step_by(KC).enumerate() {
            let len = KC.min(k - k0);
            let acc = pass::<S, A, N, H>(
                simd,
                a,
                (i, k0),
                &bt[k0..][..len],
                (a_asks, asks),
                #[inline(always)]
                |o| {
                    let at = o * m + i + ahead;
                    crate::simd::prefetch(&c[at..at + 8 * H]);
                },
            );
            for (o, acc) in acc.iter().enumerate() {
                let at = o * m + i;
                for (h, &v) in acc.iter().enumerate() {
                    let out: &mut [f64; 8] = (&mut c[at + 8 * h..at + 8 * h + 8])
                        .try_into()
                        .expect("8 lanes");
                    store_lanes(simd, out, v, write, block == 0);
                    zeros = write.probe(simd, zeros, v);
                }
            }
        }
        i += 8 * H;
    }
    // The last rows, one at a time, in the same chains.
    let mut tail = 0.0;
    for i in i..m {
        for (block, k0) in (0..k).step_by(KC).enumerate() {
            let len = KC.min(k - k0);
            let mut acc = [0.0f64; N];
            for (j, bv) in (k0..).zip(&bt[k0..][..len]) {
                let x = a.from(j)[i];
                for (s, &b) in acc.iter_mut().zip(bv) {
                    *s = x.mul_add(b, *s);
                }
            }
            for (o, s) in acc.into_iter().enumerate() {
                let v = &mut c[o * m + i];
                *v = write.entry(*v, s, block == 0);
                tail = write.probe_entry(tail, s);
            }
        }
    }
    simd.values(zeros).iter().fold(tail, |t, z| t + z) == 0.0
}

/// One pass of [`cols_of`] over one block of k (B's rows `bt`, from k0): rows i..i + 8·H of
/// C, N chains each, with `ask(o)` beside the o-th k for the first `asks`, and each k's
/// column of A asked for `a_ahead` rows on (none for 0). The accumulators
/// live here and are returned: declared in [`cols_of`], whose loop over them afterwards
/// indexes them at run time, they were kept in memory, one 512-bit store to the stack after
/// every multiply-add, which halved the kernel's rate (docs/performance.md, "spill13").
#[inline(always)]
fn pass<'a, S: Lanes<8>, A: Column<'a>, const N: usize, const H: usize>(
    simd: S,
    a: A,
    (i, k0): (usize, usize),
    bt: &[[f64; N]],
    (a_ahead, asks): (usize, usize),
    mut ask: impl FnMut(usize),
) -> [[S::V; H]; N] {
    let mut acc = [[simd.splat(0.0); H]; N];
    let ask_ahead = |col: &[f64]| {
        if a_ahead > 0 {
            crate::simd::prefetch(&col[i + a_ahead..][..8 * H]);
        }
    };
    let (asking, rest) = bt.split_at(asks.min(bt.len()));
    for (o, bv) in asking.iter().enumerate() {
        ask(o);
        let col = a.from(k0 + o);
        ask_ahead(col);
        pass_step(simd, &mut acc, col, i, bv);
    }
    for (j, bv) in (k0 + asking.len()..).zip(rest) {
        let col = a.from(j);
        ask_ahead(col);
        pass_step(simd, &mut acc, col, i, bv);
    }
    acc
}

/// One k of a [`cols_of`] pass: rows i..i + 8·H of A's column times each of B's N entries,
/// into the chains.
#[inline(always)]
fn pass_step<S: Lanes<8>, const N: usize, const H: usize>(
    simd: S,
    acc: &mut [[S::V; H]; N],
    col: &[f64],
    i: usize,
    bv: &[f64; N],
) {
    let col = &col[i..][..8 * H];
    let av: [S::V; H] =
        std::array::from_fn(|h| simd.vector(col[8 * h..8 * h + 8].try_into().expect("8 lanes")));
    for (acc, &b) in acc.iter_mut().zip(bv) {
        let b = simd.splat(b);
        for (s, &x) in acc.iter_mut().zip(&av) {
            *s = simd.mul_add(x, b, *s);
        }
    }
}

/// What a product writes into C, as matrixmultiply with β = 0 or 1.
#[derive(Clone, Copy, Debug)]
pub(super) enum Write {
    /// C ← α·A·B: the first block's sums times α (matrixmultiply's `α·ab`, rounded once; with
    /// α = 1 the sums themselves), every later block added. With α ≠ 1 matrixmultiply would
    /// add a later block as `fma(α, ab, c)`, so `gemm` passes α ≠ 1 only for k ≤ [`KC`].
    Set(f64),
    /// C ← C + A·B: every block's sums added.
    Add,
    /// C ← C·β + α·g with g = `scale`·A·B rounded as [`Write::Set`] writes it: the gradient
    /// folded into a momentum column as [`momentum::step`](crate::learning::momentum::step)
    /// steps it, the same bits. One block of k only (`gemm_momentum` checks), and only in
    /// [`cols`], which also reports whether every g was finite. `from_memory`: C's lines
    /// are asked for ahead (a hint; the same bits).
    Momentum {
        scale: f64,
        beta: f64,
        alpha: f64,
        from_memory: bool,
    },
}

impl Write {
    /// An entry of C after one block's sum `s` (`first`: the first block).
    #[inline(always)]
    fn entry(self, old: f64, s: f64, first: bool) -> f64 {
        match self {
            Write::Set(alpha) if first => alpha * s,
            Write::Momentum {
                scale, beta, alpha, ..
            } => old * beta + alpha * (scale * s),
            _ => old + s,
        }
    }

    /// [`Write::entry`] lane by lane.
    #[inline(always)]
    fn lanes<S: Lanes<8>>(self, simd: S, old: S::V, s: S::V, first: bool) -> S::V {
        match self {
            Write::Set(alpha) if first => simd.mul(simd.splat(alpha), s),
            Write::Momentum {
                scale, beta, alpha, ..
            } => {
                let g = simd.mul(simd.splat(scale), s);
                simd.add(
                    simd.mul(old, simd.splat(beta)),
                    simd.mul(simd.splat(alpha), g),
                )
            }
            _ => simd.add(old, s),
        }
    }

    /// `zeros` plus g·0 for the gradient entries g of a [`Write::Momentum`] block sum `s` (±0
    /// while every g is finite, NaN after one is not); `zeros` for the other writes.
    #[inline(always)]
    fn probe<S: Lanes<8>>(self, simd: S, zeros: S::V, s: S::V) -> S::V {
        match self {
            Write::Momentum { scale, .. } => simd.add(
                zeros,
                simd.mul(simd.mul(simd.splat(scale), s), simd.splat(0.0)),
            ),
            _ => zeros,
        }
    }

    /// [`Write::probe`] for one entry.
    #[inline(always)]
    fn probe_entry(self, zero: f64, s: f64) -> f64 {
        match self {
            Write::Momentum { scale, .. } => zero + scale * s * 0.0,
            _ => zero,
        }
    }
}

/// One block's sums, eight entries of C in one vector, into C: [`Write::entry`] lane by lane.
#[inline(always)]
pub(super) fn store_lanes<S: Lanes<8>>(
    simd: S,
    c: &mut [f64; 8],
    sums: S::V,
    write: Write,
    first: bool,
) {
    *c = simd.values(write.lanes(simd, simd.vector(*c), sums, first));
}

/// One block's sums into C.
#[inline(always)]
pub(super) fn store(c: &mut [f64], sums: &[f64], write: Write, first: bool) {
    c.iter_mut()
        .zip(sums)
        .for_each(|(v, &s)| *v = write.entry(*v, s, first));
}
