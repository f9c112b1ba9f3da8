//! Reading and writing vectors as CSV: one vector per line, comma-separated, no header.

use super::Updates;
use crate::{Error, Result};
use std::fmt::Write as _;

/// Parses CSV text into [`Updates`] (one vector per non-blank line).
///
/// `source` names the input in error messages ("honest.csv").
///
/// # Errors
/// [`Error::Parse`] for an empty input, a non-numeric field, a NaN/±∞ field (named with its
/// line and column) or a line whose length differs from the first.
pub fn parse_updates(text: &str, source: &str) -> Result<Updates> {
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for (lineno, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut row = Vec::new();
        for (col, field) in line.split(',').enumerate() {
            let field = field.trim();
            let at = || format!("{source} line {}, column {}", lineno + 1, col + 1);
            let v: f64 = field.parse().map_err(|_| Error::Parse {
                what: at(),
                reason: format!("`{field}` is not a number"),
            })?;
            if !v.is_finite() {
                return Err(Error::Parse {
                    what: at(),
                    reason: format!("`{field}` is not finite"),
                });
            }
            row.push(v);
        }
        if let Some(first) = rows.first() {
            if first.len() != row.len() {
                return Err(Error::Parse {
                    what: format!("{source} line {}", lineno + 1),
                    reason: format!(
                        "ragged input: {} values where the first vector has {}",
                        row.len(),
                        first.len()
                    ),
                });
            }
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(Error::Parse {
            what: source.to_string(),
            reason: "no vectors (the input is empty)".into(),
        });
    }
    Updates::from_rows(&rows)
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
        let e = parse_updates("1,abc\n", "x.csv").unwrap_err().to_string();
        assert!(e.contains("`abc` is not a number"), "{e}");
    }

    #[test]
    fn format_round_trips() {
        let v = [0.1, -2.5e-300, 1.0 / 3.0];
        let s = format_vector(&v);
        let back = parse_updates(&s, "s").unwrap();
        assert_eq!(back.view().col(0), &v);
    }
}
