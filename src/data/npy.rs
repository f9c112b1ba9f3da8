//! Reading NumPy `.npy` arrays (what `np.save` writes) through the `npyz` crate.
//!
//! A 2-D array of shape (n, d) is n vectors of dimension d, as in a CSV file. Accepted element
//! types: float64 and float32 (widened exactly), signed and unsigned integers of 1–8 bytes
//! (converted to the nearest f64: exact up to 2⁵³), in either byte order, in C or Fortran
//! order. A 1-D array is refused with the reshape that says what it means, since (n,) could be
//! n scalars or one vector.

use super::population::MAX_VALUES;
use super::{NonFiniteEntries, Updates};
use crate::{Error, Result};
use nalgebra::DMatrix;
use npyz::{Deserialize, NpyFile, Order};
use std::io::Read;

/// The first bytes of every `.npy` file (format versions 1–3).
pub const NPY_MAGIC: &[u8] = b"\x93NUMPY";

/// Reads an `.npy` array of shape (n, d) as n vectors of dimension d, streaming: memory is the
/// matrix itself (C order; Fortran order needs no second copy either, each entry goes to its
/// place as it is read).
///
/// # Errors
/// [`Error::Parse`] for a malformed or truncated file, an unsupported element type (complex,
/// strings, objects, records), an array that is not 2-D, an empty dimension or more than
/// [`MAX_VALUES`] entries; [`Error::NonFinite`] for the NaN/±∞ entries `entries` refuses.
pub fn read_npy<R: Read>(reader: R, source: &str, entries: NonFiniteEntries) -> Result<Updates> {
    let bad = |reason: String| Error::Parse {
        what: source.to_string(),
        reason,
    };
    let file = NpyFile::new(reader).map_err(|e| bad(format!("not a readable .npy file: {e}")))?;
    let shape = file.shape().to_vec();
    let (n, d) = match shape[..] {
        [n, d] => (n, d),
        [len] => {
            return Err(bad(format!(
                "a 1-D array of shape ({len},); save it as 2-D: x.reshape(-1, 1) for {len} \
                 scalars, x.reshape(1, -1) for one vector"
            )))
        }
        _ => {
            return Err(bad(format!(
                "an array of shape {shape:?}; expected 2 dimensions (n vectors, d coordinates)"
            )))
        }
    };
    if n == 0 || d == 0 {
        return Err(bad(format!(
            "the array of shape ({n}, {d}) holds no vectors"
        )));
    }
    let total = n
        .checked_mul(d)
        .filter(|&t| t <= MAX_VALUES)
        .ok_or_else(|| {
            bad(format!(
                "shape ({n}, {d}) holds more than {MAX_VALUES} values (8 GiB), the limit of one input"
            ))
        })?;
    // invariant: total ≤ MAX_VALUES = 2³⁰ fits in usize on the 64-bit targets lbounds builds for.
    let (n, d, total) = (n as usize, d as usize, total as usize);
    let order = file.order();
    let values = read_as_f64(file, order, n, d, total, source)?;
    Updates::with_entries(DMatrix::from_vec(d, n, values), entries)
}

/// Element types tried in turn; the first one `npyz` can read the file's dtype as wins.
fn read_as_f64<R: Read>(
    file: NpyFile<R>,
    order: Order,
    n: usize,
    d: usize,
    total: usize,
    source: &str,
) -> Result<Vec<f64>> {
    let dtype = file.dtype().descr();
    macro_rules! try_types {
        ($file:ident, $($t:ty),*) => {{
            $(
                let $file = match $file.try_data::<$t>() {
                    // Every listed type widens to f64 (the 8-byte integers to the nearest f64).
                    Ok(data) => return collect(data, |v| v as f64, order, n, d, total, source),
                    Err(back) => back,
                };
            )*
            drop($file);
        }};
    }
    try_types!(file, f64, f32, i64, i32, i16, i8, u64, u32, u16, u8);
    Err(Error::Parse {
        what: source.to_string(),
        reason: format!(
            "element type {dtype} is not supported (use float64, float32 or an integer type)"
        ),
    })
}

/// Moves the entries into vector-after-vector order as they are read.
fn collect<T: Deserialize, R: Read>(
    data: npyz::NpyReader<T, R>,
    widen: impl Fn(T) -> f64,
    order: Order,
    n: usize,
    d: usize,
    total: usize,
    source: &str,
) -> Result<Vec<f64>> {
    let truncated = |k: usize, e: std::io::Error| Error::Parse {
        what: source.to_string(),
        reason: format!("truncated or unreadable after {k} of {total} entries: {e}"),
    };
    match order {
        // Row-major (n, d): already vector after vector. Grown as the data arrives, so a
        // header that claims more than the file holds costs nothing.
        Order::C => {
            let mut out = Vec::with_capacity(total.min(1 << 20));
            for (k, v) in data.enumerate() {
                out.push(widen(v.map_err(|e| truncated(k, e))?));
            }
            out.shrink_to_fit();
            Ok(out)
        }
        // Column-major (n, d): entry k is coordinate k / n of vector k % n.
        Order::Fortran => {
            let mut out = vec![0.0; total];
            for (k, v) in data.enumerate() {
                out[(k % n) * d + k / n] = widen(v.map_err(|e| truncated(k, e))?);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use npyz::WriterBuilder;

    /// An .npy file of `shape` holding `data` in `order`, written by npyz (as np.save would).
    fn npy<T: npyz::AutoSerialize + Copy>(shape: &[u64], order: Order, data: &[T]) -> Vec<u8> {
        let mut buf = Vec::new();
        {
            let mut w = npyz::WriteOptions::new()
                .default_dtype()
                .shape(shape)
                .order(order)
                .writer(&mut buf)
                .begin_nd()
                .unwrap();
            w.extend(data.iter().copied()).unwrap();
            w.finish().unwrap();
        }
        buf
    }

    /// A version-1.0 .npy file of little-endian f64 with the given shape text and data bytes,
    /// laid out as NEP 1 says (magic, version, header length, padded dict, newline).
    fn raw_npy(shape: &str, data: &[u8]) -> Vec<u8> {
        let mut dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + dict.len() + 1) % 64 != 0 {
            dict.push(' ');
        }
        dict.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&u16::try_from(dict.len()).unwrap().to_le_bytes());
        b.extend_from_slice(dict.as_bytes());
        b.extend_from_slice(data);
        b
    }

    fn cols(u: &Updates) -> Vec<Vec<f64>> {
        u.view().cols().map(<[f64]>::to_vec).collect()
    }

    #[test]
    fn reads_every_order_and_numeric_type() {
        // Three vectors of dimension 2: (1,2), (3,4), (5,6).
        let want = vec![vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0]];
        let c = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0];
        let f = [1.0f64, 3.0, 5.0, 2.0, 4.0, 6.0];
        let read = |b: Vec<u8>| cols(&read_npy(&b[..], "t.npy", NonFiniteEntries::Refuse).unwrap());
        assert_eq!(read(npy(&[3, 2], Order::C, &c)), want);
        assert_eq!(read(npy(&[3, 2], Order::Fortran, &f)), want);
        assert_eq!(read(npy(&[3, 2], Order::C, &c.map(|v| v as f32))), want);
        assert_eq!(read(npy(&[3, 2], Order::C, &c.map(|v| v as i64))), want);
        assert_eq!(read(npy(&[3, 2], Order::C, &c.map(|v| v as u8))), want);
        // float32 widens exactly: 0.1f32 is 0.100000001490116…, not 0.1.
        let u = read_npy(
            &npy(&[1, 1], Order::C, &[0.1f32])[..],
            "t",
            NonFiniteEntries::Refuse,
        )
        .unwrap();
        assert_eq!(u.view().col(0), &[f64::from(0.1f32)]);
    }

    #[test]
    fn refuses_what_is_not_n_vectors() {
        let err = |b: Vec<u8>| {
            read_npy(&b[..], "t.npy", NonFiniteEntries::Refuse)
                .unwrap_err()
                .to_string()
        };
        let e = err(npy(&[3], Order::C, &[1.0f64, 2.0, 3.0]));
        assert!(e.contains("reshape(-1, 1)"), "{e}");
        let e = err(npy(&[1, 1, 2], Order::C, &[1.0f64, 2.0]));
        assert!(e.contains("expected 2 dimensions"), "{e}");
        let e = err(npy(&[0, 2], Order::C, &[0.0f64; 0]));
        assert!(e.contains("no vectors"), "{e}");
        let e = err(npy(&[1, 2], Order::C, &[1.0f64, f64::NAN]));
        assert!(e.contains("NaN"), "{e}");
        // Truncated data: the header promises 4 entries, the file holds 2.
        let mut b = npy(&[2, 2], Order::C, &[1.0f64, 2.0, 3.0, 4.0]);
        b.truncate(b.len() - 16);
        let e = err(b);
        assert!(e.contains("truncated") && e.contains("after 2 of 4"), "{e}");
        // A header claiming 2⁶⁰ entries is refused before any allocation.
        let e = err(raw_npy("(1073741824, 1073741824)", &1.0f64.to_le_bytes()));
        assert!(e.contains("limit of one input"), "{e}");
        // Not an .npy at all.
        let e = err(b"\x93NUMPY\x01\x00garbage".to_vec());
        assert!(e.contains("not a readable .npy"), "{e}");
    }
}
