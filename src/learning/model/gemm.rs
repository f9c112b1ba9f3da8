//! A bounds-checked matrix product over strided slices, on matrixmultiply's packed kernels.
//!
//! The dense layers read weights as row-major blocks of θ and their transposes, which are
//! strided views of one slice. nalgebra's `gemm` accepts such views, but for matrices with a
//! dimension ≤ 5 it falls back to column-by-column `axpy` that walks a strided column's
//! backing slice by its full length times the stride, writing past the output (nalgebra
//! 0.35 `blas_uninit::axcpy_uninit`: memory corruption, observed as `free(): invalid size`).
//! So the engine calls matrixmultiply — the kernel nalgebra itself uses for large f64
//! products — directly, through [`gemm`], which checks every index the call can touch
//! before the one `unsafe` call.
#![allow(unsafe_code)] // audited: `gemm` checks all bounds before calling `dgemm`

/// An `rows × cols` matrix whose entry (i, j) is `data[i·rs + j·cs]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    pub data: &'a [f64],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// Column-major (contiguous columns).
    pub fn col_major(data: &'a [f64], rows: usize, cols: usize) -> Mat<'a> {
        Mat {
            data,
            rows,
            cols,
            rs: 1,
            cs: rows,
        }
    }

    /// Row-major (contiguous rows).
    pub fn row_major(data: &'a [f64], rows: usize, cols: usize) -> Mat<'a> {
        Mat {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
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
    assert!(
        fits(a.data.len(), a.rows, a.cols, a.rs, a.cs),
        "invariant: gemm A out of bounds"
    );
    assert!(
        fits(b.data.len(), b.rows, b.cols, b.rs, b.cs),
        "invariant: gemm B out of bounds"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // matrixmultiply handles k = 0, but say what happens: C ← β·C (β = 0 overwrites).
        c.iter_mut()
            .for_each(|v| *v = if beta == 0.0 { 0.0 } else { beta * *v });
        return;
    }
    // SAFETY: every index dgemm reads is (i·rs + j·cs) for i < rows, j < cols of A and B,
    // checked above to lie inside their slices; C is m × n column-major in a slice of exactly
    // m·n entries (strides 1 and m, no aliasing), borrowed mutably; strides fit in isize.
    unsafe {
        matrixmultiply::dgemm(
            m,
            k,
            n,
            alpha,
            a.data.as_ptr(),
            a.rs as isize,
            a.cs as isize,
            b.data.as_ptr(),
            b.rs as isize,
            b.cs as isize,
            beta,
            c.as_mut_ptr(),
            1,
            m as isize,
        );
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
        Mat {
            data,
            rows,
            cols,
            rs: 1,
            cs,
        }
    }
}
