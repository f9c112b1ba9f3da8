//! Client updates and the populations that produce them.
//!
//! [`Updates`] holds `n` vectors of dimension `d` as the columns of a d×n matrix (each
//! vector contiguous in memory, the layout of a NumPy `n×d` C-order array). It is validated
//! once at construction (n ≥ 1, d ≥ 1, no NaN), so aggregation hot paths cannot fail on
//! shape. What a constructor does with non-finite entries is a [`NonFiniteEntries`] policy:
//! honest vectors and a user's own records must be finite ([`Updates::new`]); ±∞ passes where
//! the rules define their output on it ([`Updates::new_allow_inf`], ByzFL's `inf` attack); and
//! what Byzantine users send is read natively with every NaN entry as +∞
//! ([`Updates::new_untrusted`]), a point at infinity that the rules set aside or clip along
//! its limit direction (see the `far` module of the aggregators). No `Updates` holds a NaN,
//! except Byzantine input read for `--compat byzfl` ([`NonFiniteEntries::Keep`]).

pub mod csv;
pub mod input;
pub mod noise;
pub mod npy;
pub mod population;

use crate::{Error, Result};
use nalgebra::{DMatrix, DMatrixView, DVector};
use rayon::prelude::*;

/// Entries per parallel block of the finiteness scan in [`UpdatesView::from_buffer`]: 512 KiB,
/// large enough that the scheduling cost vanishes next to the scan.
const FINITE_SCAN_BLOCK: usize = 1 << 16;

/// `n` client updates of dimension `d`, stored as the columns of a d×n matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Updates(DMatrix<f64>);

/// A borrowed view of [`Updates`]: `n` contiguous vectors of length `d`, back to back.
#[derive(Clone, Copy, Debug)]
pub struct UpdatesView<'a> {
    data: &'a [f64],
    d: usize,
    n: usize,
}

/// What an [`Updates`] constructor does with entries that are not finite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NonFiniteEntries {
    /// ±∞ and NaN are refused: honest vectors, a user's own records ([`Updates::new`]).
    #[default]
    Refuse,
    /// ±∞ passes, NaN is refused ([`Updates::new_allow_inf`]): ByzFL's `inf` attack.
    KeepInfinities,
    /// ±∞ passes and every NaN entry is read as +∞ ([`Updates::new_untrusted`]): the native
    /// reading of what Byzantine users send. A NaN has no sign, so the choice of +∞ is a
    /// convention; it makes the vector a point at infinity, which is exactly what a Byzantine
    /// user sending +∞ there could do, so every guarantee a rule keeps against ±∞ input it
    /// keeps against NaN input.
    AtInfinity,
    /// ±∞ and NaN pass as they are: Byzantine input under `--compat byzfl`, whose rules
    /// reproduce ByzFL 0.0.11's NumPy arithmetic on NaN where it returns a number and report
    /// an error where it returns NaN (the `far` module of the aggregators has the table). Only
    /// [`crate::params::Compat::Byzfl`] rules and pre-aggregators may be given such vectors,
    /// and the native rules that read NaN as +∞ themselves
    /// (`aggregators::Pipeline::untrusted_entries`).
    Keep,
}

impl Updates {
    /// Wraps a d×n matrix after checking n ≥ 1, d ≥ 1 and every entry finite.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an empty dimension, [`Error::NonFinite`] for NaN/±∞.
    pub fn new(m: DMatrix<f64>) -> Result<Self> {
        Self::with_entries(m, NonFiniteEntries::Refuse)
    }

    /// Wraps a d×n matrix, treating its non-finite entries as `entries` says.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an empty dimension; [`Error::NonFinite`] naming the
    /// first entry the policy refuses.
    pub fn with_entries(m: DMatrix<f64>, entries: NonFiniteEntries) -> Result<Self> {
        match entries {
            NonFiniteEntries::Refuse => Self::finite(m),
            NonFiniteEntries::KeepInfinities => Self::new_allow_inf(m),
            NonFiniteEntries::AtInfinity => Self::new_untrusted(m),
            NonFiniteEntries::Keep => {
                Self::check_shape(&m)?;
                Ok(Updates(m))
            }
        }
    }

    fn finite(m: DMatrix<f64>) -> Result<Self> {
        Self::check_shape(&m)?;
        refuse_non_finite(m.as_slice(), m.nrows())?;
        Ok(Updates(m))
    }

    /// Like [`Updates::new`] but admits ±∞ (never NaN): ByzFL's `inf` attack sends +∞ and some
    /// rules (geometric median, median) define their output on it.
    ///
    /// # Errors
    /// As [`Updates::new`], for NaN (the message says that `--compat byzfl` does not take NaN
    /// and that native mode reads it as a point at infinity).
    pub fn new_allow_inf(m: DMatrix<f64>) -> Result<Self> {
        Self::check_shape(&m)?;
        refuse_nan(m.as_slice(), m.nrows())?;
        Ok(Updates(m))
    }

    /// Wraps vectors sent by possibly Byzantine users, natively: ±∞ passes and every NaN entry
    /// becomes +∞, so a vector with a NaN is a point at infinity, the first outlier every rule
    /// discards ([`NonFiniteEntries::AtInfinity`]; how each rule treats such points is in its
    /// module docs). One pass over the entries, in place.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an empty dimension.
    pub fn new_untrusted(mut m: DMatrix<f64>) -> Result<Self> {
        Self::check_shape(&m)?;
        for v in m.as_mut_slice() {
            if v.is_nan() {
                *v = f64::INFINITY;
            }
        }
        Ok(Updates(m))
    }

    fn check_shape(m: &DMatrix<f64>) -> Result<()> {
        if m.ncols() == 0 {
            return Err(Error::invalid("n", 0, "need at least one vector"));
        }
        if m.nrows() == 0 {
            return Err(Error::invalid("d", 0, "vectors must have dimension >= 1"));
        }
        Ok(())
    }

    /// Builds from a list of equally long vectors (one per client).
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] for ragged input, plus those of [`Updates::new`].
    pub fn from_columns(cols: &[DVector<f64>]) -> Result<Self> {
        Self::new(Self::stack(cols)?)
    }

    /// [`Updates::from_columns`] admitting ±∞ (see [`Updates::new_allow_inf`]).
    ///
    /// # Errors
    /// As [`Updates::from_columns`], for NaN.
    pub fn from_columns_allow_inf(cols: &[DVector<f64>]) -> Result<Self> {
        Self::new_allow_inf(Self::stack(cols)?)
    }

    fn stack(cols: &[DVector<f64>]) -> Result<DMatrix<f64>> {
        let d = cols.first().map_or(0, |c| c.len());
        if let Some((i, c)) = cols.iter().enumerate().find(|(_, c)| c.len() != d) {
            return Err(Error::DimensionMismatch {
                what: format!("vector {i}"),
                expected: d,
                got: c.len(),
            });
        }
        Ok(DMatrix::from_fn(d, cols.len(), |r, c| cols[c][r]))
    }

    /// Builds from rows given as slices (one row per client, as in a CSV file).
    ///
    /// # Errors
    /// As [`Updates::from_columns`].
    pub fn from_rows(rows: &[Vec<f64>]) -> Result<Self> {
        let d = rows.first().map_or(0, Vec::len);
        if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != d) {
            return Err(Error::DimensionMismatch {
                what: format!("vector {i}"),
                expected: d,
                got: r.len(),
            });
        }
        let mut m = DMatrix::zeros(d, rows.len());
        for (c, r) in rows.iter().enumerate() {
            m.column_mut(c).copy_from_slice(r);
        }
        Self::new(m)
    }

    /// Appends the columns of `other` after those of `self` (honest then Byzantine).
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] when the dimensions differ.
    pub fn concat(&self, other: &Updates) -> Result<Updates> {
        if self.d() != other.d() {
            return Err(Error::DimensionMismatch {
                what: "concatenated updates".into(),
                expected: self.d(),
                got: other.d(),
            });
        }
        let mut m = DMatrix::zeros(self.d(), self.n() + other.n());
        m.columns_mut(0, self.n()).copy_from(&self.0);
        m.columns_mut(self.n(), other.n()).copy_from(&other.0);
        Ok(Updates(m))
    }

    /// A borrowed view.
    pub fn view(&self) -> UpdatesView<'_> {
        UpdatesView {
            data: self.0.as_slice(),
            d: self.0.nrows(),
            n: self.0.ncols(),
        }
    }

    /// Number of vectors.
    pub fn n(&self) -> usize {
        self.0.ncols()
    }

    /// Dimension.
    pub fn d(&self) -> usize {
        self.0.nrows()
    }

    /// The underlying d×n matrix.
    pub fn matrix(&self) -> &DMatrix<f64> {
        &self.0
    }

    /// Consumes into the d×n matrix.
    pub fn into_matrix(self) -> DMatrix<f64> {
        self.0
    }

    /// `n` zero vectors of dimension `d` (both ≥ 1, a caller's invariant), for a step that
    /// writes its output block by block ([`Updates::row_blocks_mut`]).
    pub(crate) fn zeros(d: usize, n: usize) -> Updates {
        debug_assert!(d >= 1 && n >= 1);
        // `vec!` of zeros asks the allocator for zeroed memory (fresh pages, zero already),
        // where `DMatrix::zeros` writes every entry once more before the step writes it.
        Updates(DMatrix::from_vec(d, n, vec![0.0; d * n]))
    }

    /// Every entry, vector after vector, for in-place pre-aggregation. Writers must keep the
    /// type's invariant: no NaN (±∞ only where the input already had it).
    pub(crate) fn as_mut_slice(&mut self) -> &mut [f64] {
        self.0.as_mut_slice()
    }

    /// The entries cut into row blocks for in-place work in parallel: `blocks[c][i]` is rows
    /// `c·rows .. (c+1)·rows` (fewer in the last block) of vector `i`, so one task can own a
    /// block of coordinates of every vector.
    pub(crate) fn row_blocks_mut(&mut self, rows: usize) -> Vec<Vec<&mut [f64]>> {
        let d = self.d();
        row_blocks_mut(self.0.as_mut_slice(), d, rows)
    }

    /// Keeps the first `k` vectors (1 ≤ k ≤ n), reusing the storage.
    pub(crate) fn truncate_vectors(self, k: usize) -> Updates {
        let d = self.d();
        debug_assert!(k >= 1 && k <= self.n());
        let mut v: Vec<f64> = self.0.data.into();
        v.truncate(d * k);
        Updates(DMatrix::from_vec(d, k, v))
    }

    /// `copies` identical columns equal to `v` (ByzFL's `[b] * f`). `v` may hold ±∞ (the
    /// `inf` attack) but not NaN.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when `copies` is 0 or `v` is empty; [`Error::NonFinite`]
    /// for NaN.
    pub fn repeat(v: &DVector<f64>, copies: usize) -> Result<Updates> {
        Self::new_allow_inf(DMatrix::from_fn(v.len(), copies, |r, _| v[r]))
    }
}

impl<'a> UpdatesView<'a> {
    /// Number of vectors.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Dimension.
    pub fn d(&self) -> usize {
        self.d
    }

    /// The vectors of length `d` stored back to back in `data` (n = data.len() / d), without
    /// a copy: a part of a buffer that the caller writes in place (the training loop's honest
    /// vectors, with the Byzantine ones after them). The caller keeps the invariant of
    /// [`Updates`]: no NaN.
    ///
    /// # Panics
    /// When `data` is empty or not a whole number of vectors (a caller bug).
    pub(crate) fn from_slice(data: &'a [f64], d: usize) -> UpdatesView<'a> {
        assert!(
            d >= 1 && !data.is_empty() && data.len().is_multiple_of(d),
            "invariant: {} values as vectors of length {d}",
            data.len()
        );
        UpdatesView {
            data,
            d,
            n: data.len() / d,
        }
    }

    /// The vectors of length `d` stored back to back in a caller's buffer (a C-ordered NumPy
    /// `n×d` float64 array), read in place as [`Updates::with_entries`] reads them under
    /// `entries`: the Python bindings aggregate a NumPy array without copying it. `Ok(None)`
    /// where the policy must rewrite an entry (a NaN under [`NonFiniteEntries::AtInfinity`],
    /// read as +∞): the caller then copies the values into [`Updates::with_entries`].
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for d = 0 or no vector; [`Error::DimensionMismatch`] when
    /// `data` is not a whole number of vectors; [`Error::NonFinite`] naming the first entry
    /// the policy refuses, as [`Updates::with_entries`] does.
    pub fn from_buffer(
        data: &'a [f64],
        d: usize,
        entries: NonFiniteEntries,
    ) -> Result<Option<UpdatesView<'a>>> {
        if d == 0 {
            return Err(Error::invalid("d", 0, "vectors must have dimension >= 1"));
        }
        if data.is_empty() {
            return Err(Error::invalid("n", 0, "need at least one vector"));
        }
        if !data.len().is_multiple_of(d) {
            return Err(Error::DimensionMismatch {
                what: format!("{} values read as vectors of length {d}", data.len()),
                expected: data.len().next_multiple_of(d),
                got: data.len(),
            });
        }
        // `Keep` reads every entry as it is, so it needs no scan (the ByzFL rules' own NaN
        // handling, `aggregators::far`, looks at the entries it cares about).
        if entries == NonFiniteEntries::Keep {
            return Ok(Some(UpdatesView::from_slice(data, d)));
        }
        // The common case, every entry finite, is one vectorised pass over blocks in parallel
        // (a Python caller pays it on every call); the policies look closer only otherwise.
        if data.par_chunks(FINITE_SCAN_BLOCK).all(all_finite) {
            return Ok(Some(UpdatesView::from_slice(data, d)));
        }
        match entries {
            NonFiniteEntries::Refuse => refuse_non_finite(data, d)?,
            NonFiniteEntries::KeepInfinities => refuse_nan(data, d)?,
            NonFiniteEntries::AtInfinity if data.iter().any(|v| v.is_nan()) => return Ok(None),
            NonFiniteEntries::AtInfinity | NonFiniteEntries::Keep => {}
        }
        Ok(Some(UpdatesView::from_slice(data, d)))
    }

    /// Vector `i` as a contiguous slice.
    pub fn col(&self, i: usize) -> &'a [f64] {
        &self.data[i * self.d..(i + 1) * self.d]
    }

    /// Every entry, vector after vector (column-major d×n).
    pub fn as_slice(&self) -> &'a [f64] {
        self.data
    }

    /// Iterates over the vectors.
    pub fn cols(&self) -> impl ExactSizeIterator<Item = &'a [f64]> + 'a {
        self.data.chunks_exact(self.d)
    }

    /// The nalgebra view (d×n).
    pub fn matrix(&self) -> DMatrixView<'a, f64> {
        DMatrixView::from_slice(self.data, self.d, self.n)
    }

    /// The first `k` vectors, without a copy (the honest ones, when the Byzantine vectors
    /// follow them).
    ///
    /// # Panics
    /// When `k` is 0 or exceeds n (a caller bug).
    pub fn first(&self, k: usize) -> UpdatesView<'a> {
        assert!(
            k >= 1 && k <= self.n,
            "invariant: first({k}) of {} vectors",
            self.n
        );
        UpdatesView {
            data: &self.data[..k * self.d],
            d: self.d,
            n: k,
        }
    }

    /// Copies the columns listed in `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Updates {
        let mut m = DMatrix::zeros(self.d(), idx.len());
        for (c, &i) in idx.iter().enumerate() {
            m.column_mut(c).copy_from_slice(self.col(i));
        }
        Updates(m)
    }

    /// Owned copy.
    pub fn to_owned(&self) -> Updates {
        Updates(DMatrix::from_column_slice(self.d, self.n, self.data))
    }

    /// Arithmetic mean of all vectors, accumulated in column order.
    pub fn mean(&self) -> DVector<f64> {
        self.mean_of(0..self.n())
    }

    /// Arithmetic mean of the vectors whose indices `idx` yields, accumulated in that order.
    pub fn mean_of(&self, idx: impl IntoIterator<Item = usize>) -> DVector<f64> {
        let idx: Vec<usize> = idx.into_iter().collect();
        let mut out = vec![0.0; self.d()];
        // Coordinate blocks in parallel; within a block each coordinate adds the vectors in
        // the order given, so the bytes do not depend on the thread count.
        for_each_block_mut(&mut out, MEAN_BLOCK, |b, acc| {
            let lo = b * MEAN_BLOCK;
            let rows: Vec<&[f64]> = idx
                .iter()
                .map(|&i| &self.col(i)[lo..lo + acc.len()])
                .collect();
            mean_of_rows_into(acc, &rows);
        });
        DVector::from_vec(out)
    }

    /// Squared Euclidean distance between vectors `i` and `j`.
    pub fn sq_dist(&self, i: usize, j: usize) -> f64 {
        sq_dist(self.col(i), self.col(j))
    }

    /// Whether every entry is finite (false only for inputs built with `new_allow_inf`).
    pub fn all_finite(&self) -> bool {
        all_finite(self.data)
    }
}

impl<'a> From<&'a Updates> for UpdatesView<'a> {
    fn from(u: &'a Updates) -> Self {
        u.view()
    }
}

/// Coordinates per parallel block in [`UpdatesView::mean_of`]: 4096 f64 = 32 KiB of
/// accumulators, which stay in L1/L2 while the vectors stream past (the block size changes
/// no value: each coordinate adds its rows in their order).
pub(crate) const MEAN_BLOCK: usize = 4096;

/// The mean of `rows` (one block of coordinates each, as long as `acc`) into `acc` (zeros
/// on entry), as [`UpdatesView::mean_of`] computes each coordinate: the rows added in their
/// order, divided by their number, recomputed where a finite sum overflowed.
pub(crate) fn mean_of_rows_into(acc: &mut [f64], rows: &[&[f64]]) {
    mean_of_rows_after(acc, rows, 0);
}

/// [`mean_of_rows_into`] where `acc` already holds the sum of the first `summed` rows (from
/// zeros, in their order): the others are added to it.
pub(crate) fn mean_of_rows_after(acc: &mut [f64], rows: &[&[f64]], summed: usize) {
    let k = rows.len().max(1) as f64;
    let ones = vec![1.0; rows.len()];
    add_weighted_rows(acc, &rows[summed..], &ones[summed..], None);
    // Divide (as NumPy's mean does) rather than multiply by 1/k, so ByzFL's rules are
    // reproduced to the last bit where the summation order agrees.
    for a in acc.iter_mut() {
        *a /= k;
    }
    mean_without_overflow(acc, rows, &ones, k);
}

/// Recomputes, as Σᵣ (wᵣ/total)·rowᵣ, every coordinate of the weighted mean `acc` =
/// Σᵣ wᵣ·rowᵣ / total that came out non-finite although its inputs are finite: their sum
/// overflowed (three entries near 1.7·10³⁰⁸), while a mean of finite numbers is finite. The
/// check reads `acc` once, in cache; the slow sum runs only on overflowed coordinates, which
/// are the only ones whose value changes (ByzFL's NumPy mean returns ±∞ there).
pub(crate) fn mean_without_overflow(acc: &mut [f64], rows: &[&[f64]], w: &[f64], total: f64) {
    if acc.iter().all(|a| a.is_finite()) {
        return;
    }
    for (k, a) in acc.iter_mut().enumerate() {
        if !a.is_finite() && rows.iter().all(|r| r[k].is_finite()) {
            *a = rows.iter().zip(w).map(|(r, wr)| (wr / total) * r[k]).sum();
        }
    }
}

/// Runs `work` on `len` f64 of scratch: the thread's buffer kept in `key` from call to call
/// (grown when too short, never zeroed: `work` must write every entry it reads), or a fresh
/// one if that buffer is in use further up the stack. Kernels that make a d-sized or
/// block-sized scratch per call use this instead: a fresh allocation is page-faulted and
/// zeroed every time, and a kept one is still in cache.
pub(crate) fn with_scratch<R>(
    key: &'static std::thread::LocalKey<std::cell::RefCell<Vec<f64>>>,
    len: usize,
    work: impl FnOnce(&mut [f64]) -> R,
) -> R {
    key.with(|cell| match cell.try_borrow_mut() {
        Ok(mut data) => {
            if data.len() < len {
                data.resize(len, 0.0);
            }
            work(&mut data[..len])
        }
        Err(_) => work(&mut vec![0.0; len]),
    })
}

/// Runs `f(b, chunk)` on the consecutive `block`-long chunks of `out`, in parallel when there
/// are several. A single chunk runs on the calling thread: handing it to the thread pool costs
/// a wake-up (several µs), more than the work itself at d ≈ 10³. The chunks are the same
/// either way, so the results are too.
pub(crate) fn for_each_block_mut<F>(out: &mut [f64], block: usize, f: F)
where
    F: Fn(usize, &mut [f64]) + Sync + Send,
{
    map_blocks_mut_in_order(out, block, f);
}

/// [`for_each_block_mut`] collecting each chunk's result, in chunk order.
pub(crate) fn map_blocks_mut_in_order<T, F>(out: &mut [f64], block: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize, &mut [f64]) -> T + Sync + Send,
{
    use rayon::prelude::*;
    if out.len() <= block {
        vec![f(0, out)]
    } else {
        out.par_chunks_mut(block)
            .enumerate()
            .map(|(b, c)| f(b, c))
            .collect()
    }
}

/// `(0..blocks).map(f)` collected in order, in parallel when there are several blocks (one
/// runs on the calling thread, as in [`for_each_block_mut`]).
pub(crate) fn map_blocks_in_order<T, F>(blocks: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize) -> T + Sync + Send,
{
    use rayon::prelude::*;
    if blocks <= 1 {
        (0..blocks).map(f).collect()
    } else {
        (0..blocks).into_par_iter().map(f).collect()
    }
}

/// The check of [`Updates::new_allow_inf`] on vectors of length `d` stored back to back in
/// `values` (written in place, as the training loop's Byzantine vectors): ±∞ passes, NaN is
/// refused.
///
/// # Errors
/// [`Error::NonFinite`] naming the first NaN entry.
/// [`Error::NonFinite`] naming the first NaN or ±∞ of `values` (vectors of length `d`).
fn refuse_non_finite(values: &[f64], d: usize) -> Result<()> {
    // A branch-free scan first (the common, all-finite case runs at memory speed), then the
    // position of the offending entry for the message.
    if !values.iter().fold(true, |ok, v| ok & v.is_finite()) {
        let k = values.iter().position(|v| !v.is_finite()).unwrap_or(0);
        let (row, col) = (k % d.max(1), k / d.max(1));
        return Err(Error::NonFinite {
            what: "updates".into(),
            detail: format!("vector {col}, coordinate {row} is {}", values[k]),
        });
    }
    Ok(())
}

pub(crate) fn refuse_nan(values: &[f64], d: usize) -> Result<()> {
    if values.iter().fold(false, |nan, v| nan | v.is_nan()) {
        let k = values.iter().position(|v| v.is_nan()).unwrap_or(0);
        let (row, col) = (k % d.max(1), k / d.max(1));
        return Err(Error::NonFinite {
            what: "updates".into(),
            detail: format!(
                "vector {col}, coordinate {row} is NaN. ByzFL 0.0.11 propagates a NaN into the \
                 output of most rules (np.median, means, distances), and `--compat byzfl` does \
                 not reproduce its arithmetic on NaN; `--compat native` reads NaN as +inf, a \
                 point at infinity that robust rules discard"
            ),
        });
    }
    Ok(())
}

/// The vectors of length `d` stored back to back in `data`, cut into blocks of `rows`
/// coordinates: `blocks[c][i]` is coordinates `c·rows .. (c+1)·rows` (fewer in the last
/// block) of vector i, so one task can own a block of coordinates of every vector.
pub(crate) fn row_blocks_mut(data: &mut [f64], d: usize, rows: usize) -> Vec<Vec<&mut [f64]>> {
    let n = data.len() / d.max(1);
    let mut blocks: Vec<Vec<&mut [f64]>> = (0..d.div_ceil(rows))
        .map(|_| Vec::with_capacity(n))
        .collect();
    for col in data.chunks_mut(d) {
        for (c, piece) in col.chunks_mut(rows).enumerate() {
            blocks[c].push(piece);
        }
    }
    blocks
}

/// `f(c, block)` on every block of [`row_blocks_mut`]`(data, d, rows)`, in parallel when there
/// are several (one runs on the calling thread, as in [`for_each_block_mut`]); the results
/// in block order. Each call owns its coordinates of every vector, so a kernel whose outputs
/// depend only on their own coordinate gives the same bytes for any thread count.
pub(crate) fn map_row_blocks_mut_in_order<T, F>(
    data: &mut [f64],
    d: usize,
    rows: usize,
    f: F,
) -> Vec<T>
where
    T: Send,
    F: Fn(usize, &mut [&mut [f64]]) -> T + Sync + Send,
{
    use rayon::prelude::*;
    let mut blocks = row_blocks_mut(data, d, rows);
    if blocks.len() <= 1 {
        blocks
            .iter_mut()
            .enumerate()
            .map(|(c, b)| f(c, b))
            .collect()
    } else {
        blocks
            .par_iter_mut()
            .enumerate()
            .map(|(c, b)| f(c, b))
            .collect()
    }
}

/// Whether every entry of `v` is finite, at memory speed: x·0 is ±0 for a finite x and NaN
/// for ±∞ or NaN, summed over 32 lanes (no branch per entry; a short-circuiting scan runs
/// about one entry per cycle, 27 µs for an MLP gradient of 79 510 entries).
pub(crate) fn all_finite(v: &[f64]) -> bool {
    crate::simd::widest(
        #[inline(always)]
        || {
            let mut acc = [0.0f64; 32];
            let chunks = v.chunks_exact(32);
            let tail = chunks.remainder().iter().fold(0.0, |a, x| a + x * 0.0);
            for c in chunks {
                for (a, x) in acc.iter_mut().zip(c) {
                    *a += x * 0.0;
                }
            }
            acc.iter().fold(tail, |s, a| s + a) == 0.0
        },
    )
}

/// Adds Σᵣ wᵣ·(rowᵣ − center) to `out` coordinate by coordinate, the rows in order
/// (out + w₀(r₀ − c)) + w₁(r₁ − c) + … (without `center`, wᵣ·rowᵣ; a weight of 1 adds the
/// row exactly). Four rows per sweep, so `out` is loaded and stored once per four rows
/// instead of once per row; the association is the same as row by row.
#[inline]
pub(crate) fn add_weighted_rows(
    out: &mut [f64],
    rows: &[&[f64]],
    w: &[f64],
    center: Option<&[f64]>,
) {
    crate::simd::widest(
        #[inline(always)]
        || {
            let len = out.len();
            let mut quads = rows.chunks_exact(4).zip(w.chunks_exact(4));
            for (r, w) in &mut quads {
                let r: [&[f64]; 4] = std::array::from_fn(|t| &r[t][..len]);
                match center {
                    Some(c) => {
                        let c = &c[..len];
                        for k in 0..len {
                            let ck = c[k];
                            let mut s = out[k];
                            for t in 0..4 {
                                s += w[t] * (r[t][k] - ck);
                            }
                            out[k] = s;
                        }
                    }
                    None => {
                        for k in 0..len {
                            let mut s = out[k];
                            for t in 0..4 {
                                s += w[t] * r[t][k];
                            }
                            out[k] = s;
                        }
                    }
                }
            }
            let done = rows.len() - rows.len() % 4;
            for (r, &wr) in rows[done..].iter().zip(&w[done..]) {
                let r = &r[..len];
                match center {
                    Some(c) => {
                        for ((o, x), ck) in out.iter_mut().zip(r).zip(c) {
                            *o += wr * (x - ck);
                        }
                    }
                    None => {
                        for (o, x) in out.iter_mut().zip(r) {
                            *o += wr * x;
                        }
                    }
                }
            }
        },
    )
}

/// Squared Euclidean distance between two equally long slices.
///
/// Eight independent accumulators, so the loop runs at memory speed instead of waiting on
/// each addition (a single running sum is bound by the add latency).
///
/// Never inlined: inlined into the pairwise-distance loop, LLVM vectorised the combination
/// worse and Krum ran 2× slower at d = 10⁵ (15.5 ms called, 30.5 ms inlined; measured).
pub fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            let t = x[l] - y[l];
            acc[l] += t * t;
        }
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail
}

/// Squared Euclidean norm (eight accumulators, as [`sq_dist`]).
pub fn sq_norm(a: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let c = a.chunks_exact(8);
    let tail: f64 = c.remainder().iter().map(|x| x * x).sum();
    for x in c {
        for l in 0..8 {
            acc[l] += x[l] * x[l];
        }
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail
}

/// Euclidean norm.
pub fn norm(a: &[f64]) -> f64 {
    sq_norm(a).sqrt()
}

/// The n×n matrix of squared pairwise distances (symmetric, zero diagonal), row-major: the
/// plain double loop, kept as the test reference for the blocked parallel kernels.
#[cfg(test)]
pub(crate) fn pairwise_sq_dists(x: UpdatesView<'_>) -> Vec<f64> {
    let n = x.n();
    let mut d2 = vec![0.0; n * n];
    for i in 0..n {
        for j in (i + 1)..n {
            let v = x.sq_dist(i, j);
            d2[i * n + j] = v;
            d2[j * n + i] = v;
        }
    }
    d2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_rows_add_in_row_order() {
        // Seven rows (one sweep of four, then three one by one) over 13 coordinates, with and
        // without a centre: the bits must equal the plain row-by-row loop, and a known answer.
        let rows: Vec<Vec<f64>> = (0..7)
            .map(|r| {
                (0..13)
                    .map(|k| ((r * 13 + k) as f64 * 0.731).sin() * 1e4)
                    .collect()
            })
            .collect();
        let refs: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
        let w: Vec<f64> = (0..7).map(|r| 0.5 + r as f64 / 3.0).collect();
        let c: Vec<f64> = (0..13).map(|k| k as f64 - 6.0).collect();
        for center in [None, Some(c.as_slice())] {
            let mut fast = vec![0.25; 13];
            add_weighted_rows(&mut fast, &refs, &w, center);
            let mut slow = vec![0.25; 13];
            for (row, wr) in rows.iter().zip(&w) {
                for k in 0..13 {
                    slow[k] += wr * (row[k] - center.map_or(0.0, |c| c[k]));
                }
            }
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fast), bits(&slow));
        }
        let mut out = vec![1.0, 2.0];
        add_weighted_rows(
            &mut out,
            &[&[3.0, 5.0], &[1.0, 1.0]],
            &[2.0, 0.5],
            Some(&[1.0, 1.0]),
        );
        assert_eq!(out, vec![5.0, 10.0]);
    }

    #[test]
    fn construction_validates() {
        assert!(Updates::new(DMatrix::zeros(0, 3)).is_err());
        assert!(Updates::new(DMatrix::zeros(3, 0)).is_err());
        let mut m = DMatrix::zeros(2, 2);
        m[(1, 1)] = f64::NAN;
        let e = Updates::new(m).unwrap_err().to_string();
        assert!(e.contains("vector 1, coordinate 1"), "{e}");
        assert!(Updates::from_rows(&[vec![1.0, 2.0], vec![1.0]]).is_err());
        let mut m = DMatrix::zeros(2, 2);
        m[(0, 0)] = f64::INFINITY;
        assert!(Updates::new(m.clone()).is_err());
        assert!(Updates::new_allow_inf(m).is_ok());
    }

    #[test]
    fn columns_and_means() {
        let u = Updates::from_rows(&[vec![1.0, 2.0], vec![3.0, 6.0], vec![5.0, 10.0]]).unwrap();
        assert_eq!((u.n(), u.d()), (3, 2));
        let v = u.view();
        assert_eq!(v.col(1), &[3.0, 6.0]);
        assert_eq!(v.mean().as_slice(), &[3.0, 6.0]);
        assert_eq!(v.mean_of([0, 2]).as_slice(), &[3.0, 6.0]);
        assert_eq!(v.sq_dist(0, 2), 16.0 + 64.0);
        let d2 = pairwise_sq_dists(v);
        assert_eq!(d2[1], 4.0 + 16.0);
        assert_eq!(d2[3], 4.0 + 16.0);
        let s = v.select(&[2, 0]);
        assert_eq!(s.view().col(0), &[5.0, 10.0]);
    }

    /// A borrowed buffer is read as the owning constructors read a copy of it, policy by
    /// policy: the same vectors where they accept it, the same error where they refuse it,
    /// and `None` (copy needed) exactly where the native policy rewrites a NaN. Mutation
    /// checked: letting `AtInfinity` borrow a buffer with a NaN (dropping its guard arm)
    /// fails the `None` assertion.
    #[test]
    fn borrowed_buffers_read_as_owned_updates() {
        let inf = f64::INFINITY;
        let cases: [&[f64]; 3] = [
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            &[1.0, 2.0, inf, 4.0, 5.0, 6.0],
            &[1.0, f64::NAN, 3.0, 4.0, -inf, 6.0],
        ];
        use NonFiniteEntries as E;
        for data in cases {
            for policy in [E::Refuse, E::KeepInfinities, E::AtInfinity, E::Keep] {
                let owned = Updates::with_entries(DMatrix::from_column_slice(2, 3, data), policy);
                let borrowed = UpdatesView::from_buffer(data, 2, policy);
                match (owned, borrowed) {
                    (Ok(o), Ok(Some(b))) => {
                        assert_eq!((b.n(), b.d()), (3, 2));
                        let same = o.view().as_slice().iter().zip(b.as_slice());
                        assert!(same.into_iter().all(|(x, y)| x.to_bits() == y.to_bits()));
                    }
                    (Ok(_), Ok(None)) => {
                        assert!(policy == E::AtInfinity && data.iter().any(|v| v.is_nan()));
                    }
                    (Err(o), Err(b)) => assert_eq!(o.to_string(), b.to_string()),
                    (o, b) => panic!("{policy:?} on {data:?}: owned {o:?}, borrowed {b:?}"),
                }
            }
        }
        assert!(matches!(
            UpdatesView::from_buffer(cases[2], 2, E::AtInfinity),
            Ok(None)
        ));
        assert!(UpdatesView::from_buffer(&[1.0, 2.0, 3.0], 2, E::Keep).is_err());
        assert!(UpdatesView::from_buffer(&[], 2, E::Keep).is_err());
        assert!(UpdatesView::from_buffer(&[1.0], 0, E::Keep).is_err());
    }
}
