//! A bounds-checked matrix product over strided slices, on matrixmultiply's packed kernels.
//!
//! The dense layers read weights as row-major blocks of θ and their transposes, which are
//! strided views of one slice. nalgebra's `gemm` accepts such views, but for matrices with a
//! dimension ≤ 5 it falls back to column-by-column `axpy` that walks a strided column's
//! backing slice by its full length times the stride, writing past the output (nalgebra
//! 0.35 `blas_uninit::axcpy_uninit`: memory corruption, observed as `free(): invalid size`).
//! So the engine calls matrixmultiply — the kernel nalgebra itself uses for large f64
//! products — directly, through [`gemm`], which checks every index the call can touch
//! before the one `unsafe` call. Products with a thin side (at most 16 rows or columns of C:
//! softmax regression's 10 outputs) go to [`thin_gemm`] instead, which computes
//! matrixmultiply's bits without its packing and padding, and those with more rows of C and
//! B read by columns (an MLP's first layer on a batch) to [`wide_gemm`], the same bits in
//! larger register tiles, with A packed once for many products where the caller keeps it
//! ([`Packed`]). Both read a matrix whose columns are listed one by one ([`Mat::listed`]: a
//! batch's examples where they lie in a client's data) in place; elsewhere a listed matrix
//! is gathered first.
#![allow(unsafe_code)] // audited: `gemm` checks all bounds before calling `dgemm`

use super::thin_gemm::{self, Write, KC, THIN};
use super::wide_gemm::{self, Panels};
use crate::learning::momentum::Momentum;
use crate::simd::Avx512;

/// A `rows × cols` matrix: strided in one slice, or its columns listed one by one.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    rows: usize,
    cols: usize,
    store: Store<'a>,
}

#[derive(Clone, Copy)]
enum Store<'a> {
    /// Entry (i, j) at `data[i·rs + j·cs]`.
    Strided {
        data: &'a [f64],
        rs: usize,
        cs: usize,
    },
    /// Column j is `columns[j]` (exactly `rows` long): a batch's examples read where they
    /// lie in a client's data, without gathering them into one block first.
    Listed(&'a [&'a [f64]]),
}

impl<'a> Mat<'a> {
    fn strided(data: &'a [f64], rows: usize, cols: usize, rs: usize, cs: usize) -> Mat<'a> {
        Mat {
            rows,
            cols,
            store: Store::Strided { data, rs, cs },
        }
    }

    /// Column-major (contiguous columns).
    pub fn col_major(data: &'a [f64], rows: usize, cols: usize) -> Mat<'a> {
        Mat::strided(data, rows, cols, 1, rows)
    }

    /// Row-major (contiguous rows).
    pub fn row_major(data: &'a [f64], rows: usize, cols: usize) -> Mat<'a> {
        Mat::strided(data, rows, cols, cols, 1)
    }

    /// The matrix whose columns are `columns`, each `rows` long, read in place.
    ///
    /// # Panics
    /// A column of another length (the caller's slicing).
    pub fn listed(columns: &'a [&'a [f64]], rows: usize) -> Mat<'a> {
        assert!(
            columns.iter().all(|c| c.len() == rows),
            "invariant: listed columns of {rows} entries"
        );
        Mat {
            rows,
            cols: columns.len(),
            store: Store::Listed(columns),
        }
    }

    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn ncols(&self) -> usize {
        self.cols
    }

    /// Columns `start..start + count`, without a copy.
    ///
    /// # Panics
    /// A range past the last column.
    pub fn columns(&self, start: usize, count: usize) -> Mat<'a> {
        assert!(
            start + count <= self.cols,
            "invariant: columns {start}..{} of {}",
            start + count,
            self.cols
        );
        let store = match self.store {
            Store::Strided { data, rs, cs } => Store::Strided {
                data: if count == 0 { &[] } else { &data[start * cs..] },
                rs,
                cs,
            },
            Store::Listed(columns) => Store::Listed(&columns[start..start + count]),
        };
        Mat {
            rows: self.rows,
            cols: count,
            store,
        }
    }

    /// Column j as a slice, where columns are contiguous (row stride 1, or listed).
    ///
    /// # Panics
    /// A matrix with a row stride other than 1, or j out of range.
    pub fn column(&self, j: usize) -> &'a [f64] {
        assert!(j < self.cols, "invariant: column {j} of {}", self.cols);
        match self.store {
            Store::Strided { data, rs: 1, cs } => &data[j * cs..j * cs + self.rows],
            Store::Listed(columns) => columns[j],
            Store::Strided { .. } => panic!("invariant: a column of a row-strided matrix"),
        }
    }

    /// The columns as the thin kernels read them, where they are contiguous.
    fn contiguous_columns(&self) -> Option<thin_gemm::Columns<'a>> {
        match self.store {
            Store::Strided { data, rs: 1, cs } => Some(thin_gemm::Columns::Strided(data, cs)),
            Store::Listed(columns) => Some(thin_gemm::Columns::Listed(columns)),
            Store::Strided { .. } => None,
        }
    }
}

/// Largest index of a rows × cols strided matrix, or None when it is empty.
fn last_index(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    (rows > 0 && cols > 0).then(|| (rows - 1) * rs + (cols - 1) * cs)
}

fn fits(data_len: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> bool {
    last_index(rows, cols, rs, cs).is_none_or(|i| i < data_len)
        && isize::try_from(rs).is_ok()
        && isize::try_from(cs).is_ok()
}

/// C ← α·A·B + β·C for A m × k, B k × n and C m × n stored column-major in `c` (contiguous,
/// leading dimension m). With β = 0, C is overwritten (its old entries, NaN included, are not
/// read).
///
/// # Panics
/// Shapes that do not multiply, or views that do not fit their slices: both are bugs of the
/// caller inside this module's users, never a consequence of user input.
pub(crate) fn gemm(alpha: f64, a: Mat<'_>, b: Mat<'_>, beta: f64, c: &mut [f64]) {
    let (m, k, n) = check(&a, &b, c);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // matrixmultiply handles k = 0, but say what happens: C ← β·C (β = 0 overwrites).
        c.iter_mut()
            .for_each(|v| *v = if beta == 0.0 { 0.0 } else { beta * *v });
        return;
    }
    if let Some((simd, side)) = thin_case(alpha, beta, (m, k, n), &a, &b) {
        let write = write_of(alpha, beta);
        simd.run(
            #[inline(always)]
            || match side {
                Thin::Cols(a) => {
                    let Store::Strided { data, rs, cs } = b.store else {
                        unreachable!("invariant: thin columns need a strided B")
                    };
                    thin_gemm::cols(simd, (m, k, n), a, (data, rs, cs), write, c);
                }
                Thin::Rows(b) => {
                    let Store::Strided { data, rs, cs } = a.store else {
                        unreachable!("invariant: thin rows need a strided A")
                    };
                    thin_gemm::rows(simd, (m, k, n), (data, rs, cs), b, write, c)
                }
            },
        );
        return;
    }
    if let Some(simd) = wide_case(alpha, beta, (m, k, n), &a, &b) {
        let (Store::Strided { data, rs, cs }, Some(columns)) = (a.store, b.contiguous_columns())
        else {
            unreachable!("invariant: wide products need a strided A and B's columns")
        };
        simd.run(
            #[inline(always)]
            || {
                let panels = Panels::new(simd, (m, k), (data, rs, cs));
                wide_gemm::rows(simd, &panels, n, columns, write_of(alpha, beta), c)
            },
        );
        return;
    }
    match (a.store, b.store) {
        (Store::Strided { .. }, Store::Strided { .. }) => packed_gemm(alpha, a, b, beta, c),
        // Listed columns outside the thin kernels' cases: gathered, then the packed product.
        _ => {
            let gather = |x: &Mat<'_>| match x.store {
                Store::Listed(columns) => Some(columns.concat()),
                Store::Strided { .. } => None,
            };
            let (ga, gb) = (gather(&a), gather(&b));
            let a = ga.as_deref().map_or(a, |v| Mat::col_major(v, m, k));
            let b = gb.as_deref().map_or(b, |v| Mat::col_major(v, k, n));
            packed_gemm(alpha, a, b, beta, c)
        }
    }
}

/// What the kernels write for `gemm(α, ·, ·, β, C)` with β ∈ {0, 1}.
fn write_of(alpha: f64, beta: f64) -> Write {
    if beta == 0.0 {
        Write::Set(alpha)
    } else {
        Write::Add
    }
}

/// A left operand A packed once for many products C ← A·B ([`gemm_packed`]): where the wide
/// kernels run (more than [`THIN`] rows of A, on a CPU with AVX-512), its rows in their
/// panels; where the thin kernel runs with its lanes across C's columns (softmax
/// regression's 10 rows), its columns side by side; elsewhere A itself. The D-SGD round
/// packs W₁ once for all its clients' batches.
pub(crate) struct Packed<'a> {
    a: Mat<'a>,
    panels: Option<(Avx512, Panels)>,
    /// A's columns one after another (k × m), as `thin_gemm::rows` reads them: packed per
    /// product instead (20 a round), softmax regression's round was 1.10–1.12× as long on
    /// Zen 4 (docs/performance.md, "zen13").
    columns: Option<Vec<f64>>,
}

impl<'a> Packed<'a> {
    /// Packs `a` where the wide kernels, or the thin kernel with its lanes across C's columns,
    /// will read it.
    ///
    /// # Panics
    /// A strided view that does not fit its slice (the caller's shapes) where it packs; the
    /// products check the others ([`gemm_packed`]).
    pub fn new(a: Mat<'a>) -> Packed<'a> {
        let (m, k) = (a.rows, a.cols);
        let (panels, columns) = match (a.store, crate::simd::avx512()) {
            (Store::Strided { data, rs, cs }, Some(simd))
                if k > 0 && (m > THIN || thin_gemm::packs_columns(m)) =>
            {
                assert!(
                    fits(data.len(), m, k, rs, cs),
                    "invariant: gemm A out of bounds"
                );
                if m > THIN {
                    let panels = simd.run(
                        #[inline(always)]
                        || Panels::new(simd, (m, k), (data, rs, cs)),
                    );
                    (Some((simd, panels)), None)
                } else {
                    (None, Some(thin_gemm::columns_of((m, k), (data, rs, cs))))
                }
            }
            _ => (None, None),
        };
        Packed { a, panels, columns }
    }
}

/// C ← A·B for A packed once ([`Packed`]), B k × n and C m × n column-major: the bits of
/// `gemm(1, A, B, 0, C)`, without packing A again.
///
/// # Panics
/// As [`gemm`].
pub(crate) fn gemm_packed(a: &Packed<'_>, b: Mat<'_>, c: &mut [f64]) {
    let (m, k, n) = check(&a.a, &b, c);
    match (&a.panels, b.contiguous_columns()) {
        (Some((simd, panels)), Some(columns)) if n > 0 => {
            debug_assert!(panels.nrows() == m && panels.ncols() == k);
            let simd = *simd;
            simd.run(
                #[inline(always)]
                || wide_gemm::rows(simd, panels, n, columns, Write::Set(1.0), c),
            );
        }
        _ => match (&a.columns, thin_case(1.0, 0.0, (m, k, n), &a.a, &b)) {
            // Where `gemm` would run the thin kernel, the same call with A's columns given.
            (Some(packed), Some((simd, Thin::Rows(columns)))) => simd.run(
                #[inline(always)]
                || thin_gemm::rows_packed(simd, (m, k, n), packed, columns, Write::Set(1.0), c),
            ),
            _ => gemm(1.0, a.a, b, 0.0, c),
        },
    }
}

/// The widest panel of C's columns in [`gemm_momentum`]: up to 12 columns take sixteen rows
/// per pass (24 accumulators; two vector loads of A and twelve broadcasts per 24
/// multiply-adds, and two lines of each column of M per pass), against eight rows for 13 to
/// [`THIN`] (15 loads per 15 multiply-adds). The MLP's D-SGD round 3–7 % shorter than with
/// panels of 14 and 15 columns; panels of 8 or 10 columns did no better
/// (docs/performance.md, "spill13").
const MOMENTUM_PANEL: usize = 12;

/// The momentum step M ← M·β + α·g on the product g = s·A·B (a batch mean's weight gradient,
/// s = 1/B), without writing g: each g rounded as `gemm(s, A, B, 0, ·)` writes it, then each
/// entry of M as [`momentum::step`](crate::learning::momentum::step) steps it, the same bits (M is m × n column-major, the
/// layout `gemm` writes). Returns whether every g was finite, or `None` where the thin
/// kernels do not take the product (A without contiguous columns, B listed, k beyond one of
/// matrixmultiply's blocks, a CPU without AVX-512): the caller then computes g and steps.
/// C's columns are taken [`MOMENTUM_PANEL`] or fewer at a time, in panels of nearly equal
/// widths; each panel streams its columns of M once while the multiply-adds run.
///
/// # Panics
/// As [`gemm`].
pub(crate) fn gemm_momentum(
    scale: f64,
    a: Mat<'_>,
    b: Mat<'_>,
    momentum: &mut Momentum<'_>,
) -> Option<bool> {
    let (m, k, n) = check(&a, &b, momentum.m);
    let (
        Some(cols),
        Store::Strided {
            data: bd,
            rs: rs_b,
            cs: cs_b,
        },
        Some(simd),
    ) = (a.contiguous_columns(), b.store, crate::simd::avx512())
    else {
        return None;
    };
    if m == 0 || n == 0 || k == 0 || k > KC || momentum.beta == 0.0 {
        return None;
    }
    let write = Write::Momentum {
        scale,
        beta: momentum.beta,
        alpha: momentum.alpha,
        from_memory: momentum.from_memory,
    };
    let panels = n.div_ceil(MOMENTUM_PANEL);
    let mut finite = true;
    let mut l0 = 0;
    for p in 0..panels {
        // Widths differing by at most one (100 columns: 12 and 11, not 12 × 8 and 4).
        let width = (n - l0) / (panels - p);
        let c = &mut momentum.m[l0 * m..(l0 + width) * m];
        // B's columns l0.. start at entry l0·cs_b.
        let b = (&bd[l0 * cs_b..], rs_b, cs_b);
        finite &= simd.run(
            #[inline(always)]
            || thin_gemm::cols(simd, (m, k, width), cols, b, write, c),
        );
        l0 += width;
    }
    Some(finite)
}

/// The shapes (m, k, n) of C ← α·A·B + β·C, after checking that they multiply and that every
/// index of A, B and C lies inside its slice (a listed matrix's columns were checked when it
/// was made).
///
/// # Panics
/// As [`gemm`].
fn check(a: &Mat<'_>, b: &Mat<'_>, c: &[f64]) -> (usize, usize, usize) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(
        b.rows == k,
        "invariant: gemm inner dimensions {k} and {}",
        b.rows
    );
    assert!(
        c.len() == m * n,
        "invariant: gemm output length {} for {m} × {n}",
        c.len()
    );
    let inside = |x: &Mat<'_>| match x.store {
        Store::Strided { data, rs, cs } => fits(data.len(), x.rows, x.cols, rs, cs),
        Store::Listed(_) => true,
    };
    assert!(inside(a), "invariant: gemm A out of bounds");
    assert!(inside(b), "invariant: gemm B out of bounds");
    (m, k, n)
}

/// [`gemm`] through matrixmultiply's packed kernels whatever the shapes (its thin products
/// included: `gemm`'s test compares the two paths).
///
/// # Panics
/// As [`gemm`], and for a listed matrix (the caller gathers it first).
fn packed_gemm(alpha: f64, a: Mat<'_>, b: Mat<'_>, beta: f64, c: &mut [f64]) {
    let (m, k, n) = check(&a, &b, c);
    let (
        Store::Strided {
            data: ad,
            rs: rs_a,
            cs: cs_a,
        },
        Store::Strided {
            data: bd,
            rs: rs_b,
            cs: cs_b,
        },
    ) = (a.store, b.store)
    else {
        panic!("invariant: matrixmultiply reads strided matrices only")
    };
    // SAFETY: every index dgemm reads is (i·rs + j·cs) for i < rows, j < cols of A and B,
    // checked just above to lie inside their slices; C is m × n column-major in a slice of
    // exactly m·n entries (strides 1 and m, no aliasing), borrowed mutably; strides fit in
    // isize. (With m, k or n zero matrixmultiply reads nothing.)
    unsafe {
        matrixmultiply::dgemm(
            m,
            k,
            n,
            alpha,
            ad.as_ptr(),
            rs_a as isize,
            cs_a as isize,
            bd.as_ptr(),
            rs_b as isize,
            cs_b as isize,
            beta,
            c.as_mut_ptr(),
            1,
            m as isize,
        );
    }
}

/// Whether `gemm(α, A, B, 0, C)` with an inner dimension `k` writes each entry as the product
/// with α = 1 times α, rounded once: matrixmultiply writes `α·ab` of k's first block of
/// [`KC`] and adds each later block as `fma(α, ab, c)`, so only when k is one block.
pub(crate) fn scales_after_the_sum(k: usize) -> bool {
    k <= KC
}

/// Whether `gemm` multiplies a listed B (a batch's examples, any number of rows of C: the thin
/// or the wide kernels) where its columns lie, without gathering them: on this CPU, with
/// β ∈ {0, 1} and α = 1 or k within one block (as [`thin_case`] and [`wide_case`]). A listed
/// A is read in place only with C of at most [`THIN`] columns.
pub(crate) fn reads_listed_in_place() -> bool {
    crate::simd::avx512().is_some()
}

/// Which thin kernel takes a product, with the operand it reads by columns.
enum Thin<'a> {
    /// C has at most [`THIN`] columns; A's columns.
    Cols(thin_gemm::Columns<'a>),
    /// C has at most [`THIN`] rows; B's columns.
    Rows(thin_gemm::Columns<'a>),
}

/// Where [`thin_gemm`] computes the product instead of matrixmultiply, the same bits: a thin
/// side (C with at most [`THIN`] columns and A with contiguous columns, or at most [`THIN`]
/// rows and B with contiguous columns, the other operand strided), β = 1 with α = 1 or β = 0
/// with α = 1 or k within one of matrixmultiply's blocks ([`KC`]: it adds a later block as
/// `fma(α, ab, c)`), on a CPU where matrixmultiply runs its AVX-512 kernel (it checks the
/// same feature).
fn thin_case<'a>(
    alpha: f64,
    beta: f64,
    (m, k, n): (usize, usize, usize),
    a: &Mat<'a>,
    b: &Mat<'a>,
) -> Option<(Avx512, Thin<'a>)> {
    let scaled = alpha == 1.0 || (beta == 0.0 && k <= KC);
    if !(scaled && (beta == 0.0 || beta == 1.0)) {
        return None;
    }
    let strided = |x: &Mat<'_>| matches!(x.store, Store::Strided { .. });
    let side = match (a.contiguous_columns(), b.contiguous_columns()) {
        (Some(a), _) if n <= THIN && strided(b) => Thin::Cols(a),
        (_, Some(b)) if m <= THIN && strided(a) => Thin::Rows(b),
        _ => return None,
    };
    crate::simd::avx512().map(|simd| (simd, side))
}

/// Where [`wide_gemm`] computes the product instead of matrixmultiply, the same bits: more
/// than [`THIN`] rows of C, A strided, B with contiguous columns (strided or listed), α and
/// β as in [`thin_case`], on a CPU with AVX-512.
fn wide_case(
    alpha: f64,
    beta: f64,
    (m, k, _): (usize, usize, usize),
    a: &Mat<'_>,
    b: &Mat<'_>,
) -> Option<Avx512> {
    let scaled = alpha == 1.0 || (beta == 0.0 && k <= KC);
    let shapes =
        m > THIN && matches!(a.store, Store::Strided { .. }) && b.contiguous_columns().is_some();
    if scaled && (beta == 0.0 || beta == 1.0) && shapes {
        crate::simd::avx512()
    } else {
        None
    }
}

impl<'a> Mat<'a> {
    /// A nalgebra view (row stride 1, any column stride) as a [`Mat`], without a copy.
    pub fn from_view(x: nalgebra::DMatrixView<'a, f64>) -> Mat<'a> {
        use nalgebra::RawStorage;
        let (rows, cols) = x.shape();
        let cs = x.strides().1;
        let len = last_index(rows, cols, 1, cs).map_or(0, |i| i + 1);
        // SAFETY: a view borrows, for 'a, a slice that holds its entries i + j·cs
        // (i < rows, j < cols), hence the whole span from its first entry to its last.
        let data = if len == 0 {
            &[][..]
        } else {
            unsafe { std::slice::from_raw_parts(x.data.ptr(), len) }
        };
        Mat::strided(data, rows, cols, 1, cs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;
    use rand::RngExt;
    use rand_distr::StandardNormal;

    /// Entries of mixed sign and of magnitudes 10⁻³…10³, with exact zeros of both signs and
    /// rare infinities, so that the chains' roundings (and the sign of a zero sum, and where
    /// an overflow turns NaN) depend on their order.
    fn entries(rng: &mut crate::rng::SimRng, len: usize) -> Vec<f64> {
        (0..len)
            .map(|_| match rng.random_range(0..400) {
                0..20 => 0.0,
                20..40 => -0.0,
                // Rare infinities: products with ∞ − ∞ and 0·∞ give NaN, the others ±∞, as
                // matrixmultiply's chains do (a Byzantine client's 1e300 overflows there).
                40 => f64::INFINITY,
                41 => f64::NEG_INFINITY,
                _ => {
                    let g: f64 = rng.sample(StandardNormal);
                    g * 10f64.powf(rng.random_range(-3.0..3.0))
                }
            })
            .collect()
    }

    /// `data` as an m × k matrix, row-major or column-major.
    fn matrix(data: &[f64], m: usize, k: usize, row_major: bool) -> Mat<'_> {
        if row_major {
            Mat::row_major(data, m, k)
        } else {
            Mat::col_major(data, m, k)
        }
    }

    /// Every product with a thin side (1..=16 rows of C with B column-major, or 1..=16 columns
    /// with A column-major), A in either layout, k across matrixmultiply's blocks of 256
    /// (1, 7, 256, 257, 784), β = 0 over a C of NaN (α = 1, and α = 1/3 as a batch mean's
    /// 1/B, which the thin kernels take for k ≤ 256) and β = 1 over values: `gemm` (the thin
    /// kernels on an AVX-512 CPU) gives matrixmultiply's bits, and so does `gemm_packed`
    /// with A packed once (its columns side by side for 1–4 and 9–12 rows; seen to fail with
    /// them packed from A's rows shifted by one). Seen to fail when the thin
    /// kernels summed each entry in one chain over the whole of k (no blocks of 256): a
    /// product with k = 257 differed in its last bits; and when α scaled C after the sum of
    /// a later block too. Without AVX-512 both sides are matrixmultiply
    /// and the test checks nothing; it asserts that it ran the thin path wherever the CPU
    /// has AVX-512.
    #[test]
    fn thin_products_are_matrixmultiplys_bits() {
        let mut rng = rng_from_seed(13);
        let thin_rows = (1..=THIN).flat_map(|m| [1, 7, 8, 9, 32].map(|n| (m, n, true)));
        let thin_cols = (1..=THIN).flat_map(|n| [1, 15, 16, 17, 100].map(|m| (m, n, false)));
        let (mut checked, mut listed_in_place, mut packed_columns) = (0, 0, 0);
        for (m, n, rows) in thin_rows.chain(thin_cols) {
            for k in [1, 7, 256, 257, 784] {
                for a_row_major in [false, true] {
                    for (alpha, beta) in [(1.0, 0.0), (1.0 / 3.0, 0.0), (1.0, 1.0)] {
                        let (ad, bd) = (entries(&mut rng, m * k), entries(&mut rng, k * n));
                        let a = matrix(&ad, m, k, a_row_major);
                        // B column-major for thin rows; row-major for thin columns, as a
                        // weight gradient's Gᵀ (either works there).
                        let b = if rows {
                            Mat::col_major(&bd, k, n)
                        } else {
                            Mat::row_major(&bd, k, n)
                        };
                        let start = if beta == 0.0 {
                            vec![f64::NAN; m * n]
                        } else {
                            entries(&mut rng, m * n)
                        };
                        let (mut got, mut want) = (start.clone(), start.clone());
                        gemm(alpha, a, b, beta, &mut got);
                        packed_gemm(alpha, a, b, beta, &mut want);
                        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        let case = format!(
                            "m = {m}, k = {k}, n = {n}, A row-major {a_row_major}, α = {alpha}, β = {beta}"
                        );
                        assert_eq!(bits(&got), bits(&want), "{case}");
                        if thin_case(alpha, beta, (m, k, n), &a, &b).is_some() {
                            checked += 1;
                        }
                        if (alpha, beta) == (1.0, 0.0) && rows {
                            let mut got = start.clone();
                            let packed = Packed::new(a);
                            gemm_packed(&packed, b, &mut got);
                            assert_eq!(bits(&got), bits(&want), "packed once, {case}");
                            packed_columns += usize::from(packed.columns.is_some());
                        }
                        // The operand read by columns, listed column by column instead (in
                        // place, or gathered where no thin kernel takes it).
                        let (x, cols) = if rows { (&b, n) } else { (&a, k) };
                        if x.contiguous_columns().is_some() {
                            let listed: Vec<&[f64]> = (0..cols).map(|j| x.column(j)).collect();
                            let x = Mat::listed(&listed, x.nrows());
                            let (a, b) = if rows { (a, x) } else { (x, b) };
                            let mut got = start.clone();
                            gemm(alpha, a, b, beta, &mut got);
                            assert_eq!(bits(&got), bits(&want), "listed, {case}");
                            if (alpha, beta) == (1.0, 0.0) && rows {
                                let mut got = start.clone();
                                gemm_packed(&Packed::new(a), b, &mut got);
                                assert_eq!(bits(&got), bits(&want), "listed, packed once, {case}");
                            }
                            if thin_case(alpha, beta, (m, k, n), &a, &b).is_some() {
                                listed_in_place += 1;
                            }
                        }
                    }
                }
            }
        }
        if crate::simd::has_avx512() {
            // Thin rows need B column-major (always here); thin columns need A column-major.
            // α = 1/3 runs thin for k ≤ 256 only (3 of the 5 values of k).
            assert!(checked >= (16 * 5 * 2 + 16 * 5) * (5 + 5 + 3), "{checked}");
            assert!(
                listed_in_place >= (16 * 5 * 2 + 16 * 5) * (5 + 5 + 3),
                "{listed_in_place}"
            );
            // A's columns packed once for 1–4 and 9–12 rows.
            assert_eq!(packed_columns, 8 * 5 * 5 * 2);
        }
    }

    /// Every product with more than 16 rows of C and B read by columns (strided or listed):
    /// 17, 24, 25 and 100 rows (whole panels of 16, a last panel of one vector, of a partial
    /// vector), 1–5, 12, 13, 17 and 128 columns (whole tiles of 12, tiles of 4, single
    /// columns), k across matrixmultiply's blocks of 256 (1, 7, 256, 257, 784), A row-major
    /// (packed by 8 × 8 transposes) and column-major (packed entry by entry), α and β as
    /// `thin_products_are_matrixmultiplys_bits`; through `gemm` and through `gemm_packed` with
    /// A packed once: matrixmultiply's bits. Seen to fail with the tile's chain run over the
    /// whole of k (no blocks of 256: k = 257 and 784 differ in their last bits), and with the
    /// 8 × 8 transposes of the packing reading rows in reverse order. Without AVX-512 both
    /// sides are matrixmultiply; it asserts that the wide path ran wherever the CPU has it.
    #[test]
    fn wide_products_are_matrixmultiplys_bits() {
        let mut rng = rng_from_seed(19);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let mut wide = 0;
        for m in [17, 24, 25, 100] {
            for n in [1, 2, 3, 4, 5, 12, 13, 17, 128] {
                for k in [1, 7, 256, 257, 784] {
                    for a_row_major in [false, true] {
                        for (alpha, beta) in [(1.0, 0.0), (1.0 / 3.0, 0.0), (1.0, 1.0)] {
                            let (ad, bd) = (entries(&mut rng, m * k), entries(&mut rng, k * n));
                            let a = matrix(&ad, m, k, a_row_major);
                            let b = Mat::col_major(&bd, k, n);
                            let listed: Vec<&[f64]> = bd.chunks_exact(k).collect();
                            let start = if beta == 0.0 {
                                vec![f64::NAN; m * n]
                            } else {
                                entries(&mut rng, m * n)
                            };
                            let mut want = start.clone();
                            packed_gemm(alpha, a, b, beta, &mut want);
                            let case = format!(
                                "m = {m}, k = {k}, n = {n}, A row-major {a_row_major}, α = {alpha}, β = {beta}"
                            );
                            for b in [b, Mat::listed(&listed, k)] {
                                let mut got = start.clone();
                                gemm(alpha, a, b, beta, &mut got);
                                assert_eq!(bits(&got), bits(&want), "{case}");
                                wide += usize::from(
                                    wide_case(alpha, beta, (m, k, n), &a, &b).is_some(),
                                );
                                if (alpha, beta) == (1.0, 0.0) {
                                    let mut got = start.clone();
                                    gemm_packed(&Packed::new(a), b, &mut got);
                                    assert_eq!(bits(&got), bits(&want), "packed once, {case}");
                                }
                            }
                        }
                    }
                }
            }
        }
        if crate::simd::has_avx512() {
            // α = 1/3 runs wide for k ≤ 256 only (3 of the 5 values of k).
            assert_eq!(wide, 4 * 9 * 2 * 2 * (5 + 5 + 3));
        }
    }

    /// The momentum step folded into a weight-gradient product (`gemm_momentum`) leaves the
    /// column with the bits of the gradient written by `gemm(s, A, B, 0, ·)` and then stepped
    /// by `momentum::step`, and reports a non-finite gradient exactly where `step` does: C
    /// with 1–17, 24, 33 and 100 columns (one panel, several panels of unequal widths), 1–17
    /// and 784 rows (the last rows one at a time), k = 1, 32 and 256, A column-major or listed,
    /// B row-major as a weight gradient's Gᵀ, entries with rare infinities (NaN and ±∞ in the
    /// gradient) and a momentum column of mixed values. Seen to fail with the step's two
    /// products added in the other order (`α·g + m·β` rounds the same, but a fused
    /// `fma(m, β, α·g)` does not), with the finiteness probe left out of the last rows, and
    /// with the panels' B read from column 0 each time. Each case runs with the column marked
    /// in cache and from memory (whose products ask for its lines ahead: a hint, the same
    /// bits). It asserts that the fold ran wherever the CPU has AVX-512; and that it declines
    /// k > 256, β = 0 and A row-major.
    #[test]
    fn a_folded_momentum_step_is_the_gradient_stepped() {
        use crate::learning::momentum::{self, Momentum};
        let mut rng = rng_from_seed(17);
        let (beta, alpha) = (0.9, 1.0 - 0.9);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let mut folded = 0;
        let mut non_finite = 0;
        let shapes = (1..=17)
            .flat_map(|n| [1, 9, 16, 17].map(move |m| (m, n)))
            .chain([(784, 10), (784, 100), (100, 24), (33, 33), (17, 1)]);
        for (m, n) in shapes {
            for k in [1, 32, 256] {
                for listed in [false, true] {
                    let (ad, bd) = (entries(&mut rng, m * k), entries(&mut rng, k * n));
                    let columns: Vec<&[f64]> = ad.chunks_exact(m).collect();
                    let a = if listed {
                        Mat::listed(&columns, m)
                    } else {
                        Mat::col_major(&ad, m, k)
                    };
                    let b = Mat::row_major(&bd, k, n);
                    let scale = 1.0 / 3.0;
                    let start: Vec<f64> = (0..m * n)
                        .map(|_| rng.sample::<f64, _>(StandardNormal) * 4.0)
                        .collect();
                    let mut g = vec![f64::NAN; m * n];
                    gemm(scale, a, b, 0.0, &mut g);
                    let mut want = start.clone();
                    let want_finite = momentum::step(&mut want, &g, beta, alpha);
                    for from_memory in [false, true] {
                        let mut got = start.clone();
                        let mut mo = Momentum::new(&mut got, beta, alpha).streaming(from_memory);
                        let case = format!(
                            "m = {m}, k = {k}, n = {n}, listed {listed}, from memory {from_memory}"
                        );
                        match gemm_momentum(scale, a, b, &mut mo) {
                            Some(finite) => {
                                assert_eq!(finite, want_finite, "{case}");
                                assert_eq!(bits(&got), bits(&want), "{case}");
                                folded += 1;
                                non_finite += usize::from(!finite);
                            }
                            None => assert!(!crate::simd::has_avx512(), "{case}"),
                        }
                    }
                }
            }
        }
        if crate::simd::has_avx512() {
            assert_eq!(folded, (17 * 4 + 5) * 3 * 2 * 2);
            assert!(non_finite > 20, "{non_finite}");
        }
        // Declined: k beyond one block, β = 0 (the loop copies g), A read by rows.
        let (ad, bd) = (entries(&mut rng, 8 * 257), entries(&mut rng, 257 * 4));
        let mut col = vec![0.0; 8 * 4];
        let mut mo = Momentum::new(&mut col, beta, alpha);
        let b = Mat::row_major(&bd, 257, 4);
        assert!(gemm_momentum(0.5, Mat::col_major(&ad, 8, 257), b, &mut mo).is_none());
        let b = Mat::row_major(&bd[..32 * 4], 32, 4);
        assert!(gemm_momentum(0.5, Mat::row_major(&ad[..8 * 32], 8, 32), b, &mut mo).is_none());
    }
}
