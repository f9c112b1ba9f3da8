//! Reading and writing vectors as text: one vector per line.
//!
//! What the reader accepts, so that files written by the usual tools load as they are:
//! - fields separated by commas (CSV) or by runs of spaces and tabs (NumPy's `savetxt`
//!   default, `delimiter='\t'`, or any whitespace-aligned table); the first data line decides
//!   which, and every later line must use the same separator;
//! - a header row of column names: detected when none of the first line's fields is a number,
//!   or declared with [`CsvOptions::header`];
//! - `#` comment lines (NumPy's `savetxt` writes its `header=`/`footer=` that way), blank
//!   lines, CRLF line ends, a UTF-8 byte-order mark, fields wrapped in double quotes.
//!
//! The input is read line by line into one growing buffer of values, so peak memory is the
//! matrix itself plus one line of text (measured: see [`read_csv`]).

use super::population::MAX_VALUES;
use super::{NonFiniteEntries, Updates};
use crate::error::printable;
use crate::{Error, Result};
use nalgebra::DMatrix;
use std::fmt::Write as _;
use std::io::{BufRead, Read};

/// How to read a text input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CsvOptions {
    /// The first non-blank, non-comment line is a header row, whatever it holds. Without it a
    /// header is still skipped when none of its fields is a number.
    pub header: bool,
    /// What `inf`, `-inf` and `nan` fields become (refused unless the vectors come from
    /// possibly Byzantine users).
    pub entries: NonFiniteEntries,
}

/// Longest line accepted, in bytes (1 GiB, about 4·10⁷ values of 25 characters): past it the
/// input is refused instead of growing one line buffer without bound.
pub const MAX_LINE_BYTES: u64 = 1 << 30;

/// The separator of a text input, fixed by its first data line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Separator {
    Comma,
    Whitespace,
}

impl Separator {
    pub(crate) fn of(line: &str) -> Separator {
        if line.contains(',') {
            Separator::Comma
        } else {
            Separator::Whitespace
        }
    }

    pub(crate) fn fields<'a>(self, line: &'a str) -> Box<dyn Iterator<Item = &'a str> + 'a> {
        match self {
            Separator::Comma => Box::new(line.split(',').map(unquote)),
            Separator::Whitespace => Box::new(line.split_ascii_whitespace().map(unquote)),
        }
    }
}

/// A field without surrounding blanks and one pair of surrounding double quotes.
fn unquote(field: &str) -> &str {
    let f = field.trim();
    f.strip_prefix('"')
        .and_then(|g| g.strip_suffix('"'))
        .unwrap_or(f)
}

/// A header row: no field of `line` is a number.
pub(crate) fn is_header(line: &str) -> bool {
    !Separator::of(line)
        .fields(line)
        .any(|f| f.parse::<f64>().is_ok())
}

/// Parses text into [`Updates`] (one vector per data line), detecting a header row.
///
/// `source` names the input in error messages ("honest.csv").
///
/// # Errors
/// As [`read_csv`].
pub fn parse_updates(text: &str, source: &str) -> Result<Updates> {
    read_csv(text.as_bytes(), source, CsvOptions::default())
}

/// Reads vectors from text, one per data line, streaming: the text is never held whole.
///
/// Values go straight into one buffer that becomes the matrix (vector after vector is the
/// column-major layout of the d×n matrix), so nothing is copied at the end. Measured peak
/// memory for a 50 × 10⁶ input (400 MB of f64, a 988 MB CSV): 1.14× the matrix, the whole
/// process included (README, "Bring your own data").
///
/// # Errors
/// [`Error::Parse`] naming the line and column for a field that is not a number or is
/// NaN/±∞, an empty field, a line whose length differs from the first vector's, text that is
/// not UTF-8, a line longer than [`MAX_LINE_BYTES`], more than
/// [`MAX_VALUES`] values, or an input without vectors; [`Error::Io`] when reading fails.
pub fn read_csv<R: BufRead>(reader: R, source: &str, opts: CsvOptions) -> Result<Updates> {
    let mut values: Vec<f64> = Vec::new();
    let mut separator: Option<Separator> = None;
    let (mut n, mut d) = (0usize, 0usize);
    let mut lines = TextLines::new(reader, source);
    let mut first = true;
    let at_line = |lineno: u64| format!("{source} line {lineno}");
    // A declared header may hold names in a legacy encoding; data must be text.
    while let Some((lineno, line)) = lines.next_line(first && opts.header)? {
        let is_first = std::mem::replace(&mut first, false);
        let Some(line) = line else { continue };
        if is_first && (opts.header || is_header(line)) {
            continue;
        }
        let sep = *separator.get_or_insert_with(|| Separator::of(line));
        let before = values.len();
        for (col, field) in sep.fields(line).enumerate() {
            let at = || format!("{source} line {lineno}, column {}", col + 1);
            if field.is_empty() {
                return Err(Error::Parse {
                    what: at(),
                    reason: "empty field".into(),
                });
            }
            let v: f64 = field.parse().map_err(|_| Error::Parse {
                what: at(),
                reason: format!(
                    "`{}` is not a number{}",
                    printable(field),
                    if n == 0 {
                        " (if this line is a header, declare it: --header)"
                    } else {
                        ""
                    }
                ),
            })?;
            if !v.is_finite() && opts.entries == NonFiniteEntries::Refuse {
                return Err(Error::Parse {
                    what: at(),
                    reason: format!("`{}` is not finite", printable(field)),
                });
            }
            values.push(v);
        }
        let len = values.len() - before;
        if n == 0 {
            d = len;
        } else if len != d {
            return Err(Error::Parse {
                what: at_line(lineno),
                reason: format!("ragged input: {len} values where the first vector has {d}"),
            });
        }
        if values.len() as u64 > MAX_VALUES {
            return Err(Error::Parse {
                what: at_line(lineno),
                reason: format!("more than {MAX_VALUES} values (8 GiB), the limit of one input"),
            });
        }
        n += 1;
    }
    if n == 0 {
        return Err(Error::Parse {
            what: source.to_string(),
            reason: "no vectors (the input is empty)".into(),
        });
    }
    // Give back what the last doubling reserved beyond the matrix.
    values.shrink_to_fit();
    // Vector after vector is exactly the column-major layout of the d×n matrix.
    Updates::with_entries(DMatrix::from_vec(d, n, values), opts.entries)
}

/// The content lines of a text input, read one at a time into one reused buffer: a UTF-8
/// byte-order mark on the first line, blank lines and `#` comment lines are skipped, and each
/// line is trimmed (CRLF ends included).
pub(crate) struct TextLines<'s, R> {
    reader: R,
    buf: Vec<u8>,
    lineno: u64,
    source: &'s str,
}

impl<'s, R: BufRead> TextLines<'s, R> {
    /// Lines of `reader`; `source` names it in errors.
    pub(crate) fn new(reader: R, source: &'s str) -> Self {
        TextLines {
            reader,
            buf: Vec::new(),
            lineno: 0,
            source,
        }
    }

    /// The next content line with its 1-based line number, `None` at the end. A line that is
    /// not UTF-8 is an error, unless `allow_non_utf8`, when it comes back as `(lineno, None)`.
    ///
    /// # Errors
    /// [`Error::Parse`] for a line longer than [`MAX_LINE_BYTES`] or not UTF-8; [`Error::Io`]
    /// when reading fails.
    pub(crate) fn next_line(
        &mut self,
        allow_non_utf8: bool,
    ) -> Result<Option<(u64, Option<&str>)>> {
        loop {
            self.buf.clear();
            let got = self
                .reader
                .by_ref()
                .take(MAX_LINE_BYTES + 1)
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| Error::Io {
                    path: self.source.to_string(),
                    source: e,
                })?;
            if got == 0 {
                return Ok(None);
            }
            self.lineno += 1;
            let at = || format!("{} line {}", self.source, self.lineno);
            if got as u64 > MAX_LINE_BYTES {
                return Err(Error::Parse {
                    what: at(),
                    reason: format!("line longer than {MAX_LINE_BYTES} bytes"),
                });
            }
            let mut bytes = &self.buf[..];
            if self.lineno == 1 {
                bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            }
            match std::str::from_utf8(bytes) {
                Ok(s) => {
                    let line = s.trim();
                    if !line.is_empty() && !line.starts_with('#') {
                        // Re-borrow: the checks above end the first borrow of the buffer.
                        let start = line.as_ptr() as usize - self.buf.as_ptr() as usize;
                        let text = std::str::from_utf8(&self.buf[start..start + line.len()])
                            .expect("invariant: a sub-slice of valid UTF-8 at char boundaries");
                        return Ok(Some((self.lineno, Some(text))));
                    }
                }
                Err(_) if allow_non_utf8 => return Ok(Some((self.lineno, None))),
                Err(e) => {
                    return Err(Error::Parse {
                        what: at(),
                        reason: format!(
                            "not UTF-8 text (invalid byte at offset {})",
                            e.valid_up_to()
                        ),
                    })
                }
            }
        }
    }
}

/// Formats a vector as one CSV line (shortest round-tripping decimal for each entry).
pub fn format_vector(v: &[f64]) -> String {
    let mut s = String::new();
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        // invariant: writing to a String cannot fail
        let _ = write!(s, "{x:?}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(u: &Updates) -> Vec<Vec<f64>> {
        u.view().cols().map(<[f64]>::to_vec).collect()
    }

    #[test]
    fn parses_and_rejects() {
        let u = parse_updates("1,2\n3, 4\n\n", "x.csv").unwrap();
        assert_eq!((u.n(), u.d()), (2, 2));
        assert_eq!(u.view().col(1), &[3.0, 4.0]);
        let e = parse_updates("", "x.csv").unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let e = parse_updates("1,2\n3\n", "x.csv").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("ragged"), "{e}");
        let e = parse_updates("1,nan\n", "x.csv").unwrap_err().to_string();
        assert!(e.contains("column 2") && e.contains("not finite"), "{e}");
        let e = parse_updates("1,inf\n", "x.csv").unwrap_err().to_string();
        assert!(e.contains("not finite"), "{e}");
        // Untrusted input (`aggregate`): ±∞ passes and NaN is read as +∞ natively; the
        // policy that keeps ±∞ only (`Updates::new_allow_inf`) refuses NaN, naming the entry.
        let untrusted = |entries| CsvOptions {
            entries,
            ..CsvOptions::default()
        };
        let u = read_csv(
            &b"1,nan\n-inf,2\n"[..],
            "x.csv",
            untrusted(NonFiniteEntries::AtInfinity),
        )
        .unwrap();
        assert_eq!(
            cols(&u),
            vec![vec![1.0, f64::INFINITY], vec![f64::NEG_INFINITY, 2.0]]
        );
        let e = read_csv(
            &b"1,2\nNaN,inf\n"[..],
            "x.csv",
            untrusted(NonFiniteEntries::KeepInfinities),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("vector 1, coordinate 0 is NaN"), "{e}");
        let e = parse_updates("1,abc\n", "x.csv").unwrap_err().to_string();
        assert!(e.contains("`abc` is not a number"), "{e}");
        let e = parse_updates("1,2,\n", "x.csv").unwrap_err().to_string();
        assert!(e.contains("column 3") && e.contains("empty field"), "{e}");
    }

    #[test]
    fn every_layout_reads_the_same_matrix() {
        let want = vec![vec![1.0, -2.5], vec![3e-3, 4.0]];
        for text in [
            "1,-2.5\n3e-3,4\n",
            // Header row, detected; CRLF line ends.
            "x0,x1\r\n1,-2.5\r\n3e-3,4\r\n",
            // NumPy savetxt: space-separated, `#` header, trailing newline.
            "# x0 x1\n1.000000000000000000e+00 -2.500000000000000000e+00\n3.000000000000000062e-03 4.000000000000000000e+00\n",
            // Tab-separated with a header, aligned with extra blanks.
            "a\tb\n 1\t\t-2.5\n3e-3\t 4 \n",
            // UTF-8 byte-order mark, then a quoted header and quoted numbers.
            "\u{feff}\"x0\",\"x1\"\n\"1\",\"-2.5\"\n3e-3,4\n",
            // Comments and blank lines anywhere.
            "\n# made by hand\n1,-2.5\n\n# next\n3e-3,4\n# end\n",
        ] {
            let u = parse_updates(text, "t").unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(cols(&u), want, "{text:?}");
        }
    }

    #[test]
    fn header_detection_never_eats_data() {
        // A first line with one number is data: its bad field is an error, not a header.
        let e = parse_updates("1,x\n2,3\n", "t").unwrap_err().to_string();
        assert!(
            e.contains("line 1, column 2") && e.contains("--header"),
            "{e}"
        );
        // pandas' default header (numbers as names) must be declared ...
        let e = parse_updates(",0,1\n0,1,2\n", "t").unwrap_err().to_string();
        assert!(e.contains("empty field"), "{e}");
        // ... and with --header the first line goes whatever it holds.
        let opts = CsvOptions {
            header: true,
            ..CsvOptions::default()
        };
        let u = read_csv(&b"\n# c\n0,1\n5,6\n"[..], "t", opts).unwrap();
        assert_eq!(cols(&u), vec![vec![5.0, 6.0]]);
        // A forced header may be in a legacy encoding (Latin-1 "é").
        let u = read_csv(&b"caf\xe9,b\n5,6\n"[..], "t", opts).unwrap();
        assert_eq!(cols(&u), vec![vec![5.0, 6.0]]);
        // A header and nothing else is an empty input.
        let e = parse_updates("x,y\n", "t").unwrap_err().to_string();
        assert!(e.contains("no vectors"), "{e}");
    }

    #[test]
    fn mixed_separators_and_bad_text_are_refused() {
        let e = parse_updates("1 2\n3,4\n", "t").unwrap_err().to_string();
        assert!(
            e.contains("line 2") && e.contains("`3,4` is not a number"),
            "{e}"
        );
        let e = read_csv(&b"1,2\n3,\xff\n"[..], "t", CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("not UTF-8"), "{e}");
        // Control bytes are escaped and a 300-digit field is shortened in the message.
        let e = parse_updates("1,\x1b[31mx\n", "t").unwrap_err().to_string();
        assert!(e.contains("\\u{1b}[31mx") && !e.contains('\x1b'), "{e}");
        let e = parse_updates(&format!("1,{}x\n", "9".repeat(300)), "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("(301 chars)") && e.len() < 300, "{e}");
    }

    #[test]
    fn format_round_trips() {
        let v = [0.1, -2.5e-300, 1.0 / 3.0];
        let s = format_vector(&v);
        let back = parse_updates(&s, "s").unwrap();
        assert_eq!(back.view().col(0), &v);
    }
}
