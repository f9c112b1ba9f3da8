//! A user's labelled data: a CSV file with a header, one example per row (`--data FILE.csv`).
//!
//! What the reader accepts (the text conventions of [`crate::data::csv`]: comma or whitespace
//! separators, `#` comments, blank lines, CRLF, a byte-order mark, quoted fields):
//!
//! - **Header.** The first content line is a header of column names when none of its fields
//!   is a number (the detection [`crate::data::csv`] uses); otherwise the file has no names.
//! - **Columns** are named ([`CsvSpec::label_column`], [`CsvSpec::client_column`]) by their
//!   header name or by their 1-based position (`3`, as the error messages count them); a name
//!   wins over a position.
//! - **Label column**: the last column unless named. For classification every label must be
//!   an integer ≥ 0; there are K = (largest label) + 1 classes, at least two distinct labels
//!   must occur and K ≤ [`MAX_CLASSES`]. For regression any finite number.
//! - **Client column** (optional): assigns each row to a client. When every client cell is a
//!   number, the ids are those numbers, each of which must be an integer in 0..=2³² − 1 (`3`,
//!   `3.0`; a cell `2.5`, `-1` or `1e300` is refused, naming its line, rather than turning the
//!   column into names, which would renumber every client). Otherwise every distinct cell is a
//!   name and the clients are numbered 0, 1, … in order of first appearance (a column `alice,
//!   bob, alice, carol` gives ids 0, 1, 0, 2; a cell `7` among names is just one more name).
//! - **Features**: every other column, in file order; each cell a finite number.
//!
//! Errors name the file, the line and the column (number and header name): a non-numeric or
//! non-finite cell, an empty cell, a row with the wrong number of fields, an unknown column
//! (with the closest header name as hint), a label out of range.

use super::MAX_CLASSES;
use crate::data::csv::{is_header, Separator, TextLines};
use crate::data::population::MAX_VALUES;
use crate::error::printable;
use crate::learning::examples::{Examples, Task};
use crate::{Error, Result};
use nalgebra::DMatrix;
use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

/// Which columns mean what, and the kind of target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CsvSpec {
    /// The label column (name or 1-based position); the last column when `None`.
    pub label_column: Option<String>,
    /// The column assigning rows to clients (name or 1-based position), if any.
    pub client_column: Option<String>,
    /// Real-valued targets ([`Task::Regression`]) instead of class labels.
    pub regression: bool,
}

/// Labelled examples and, when a client column was given, each row's client id.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// The examples, one per data row, in file order.
    pub examples: Examples,
    /// The client id of each row (same order), when the data names its clients.
    pub clients: Option<Vec<usize>>,
    /// The name of each client id (index = id) when the client column held names, numbered
    /// by first appearance; `None` for integer ids (the id is the cell) or no client column.
    pub client_names: Option<Vec<String>>,
}

/// Reads the CSV file at `path` (see the [module docs](self)).
///
/// # Errors
/// [`Error::Io`] when the file cannot be read, and what [`read_examples`] rejects.
pub fn load_csv(path: &Path, spec: &CsvSpec) -> Result<Dataset> {
    let source = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| Error::Io {
        path: source.clone(),
        source: e,
    })?;
    read_examples(std::io::BufReader::new(file), &source, spec)
}

/// Largest client id read from a client column of integers (ids fill a `Vec` per client).
const MAX_CLIENT_ID: f64 = u32::MAX as f64;

/// Reads labelled examples from CSV text, streaming (see the [module docs](self)); `source`
/// names the input in errors.
///
/// # Errors
/// [`Error::Parse`] naming line and column for a bad cell or row, and for a column that is
/// neither a header name nor a position (with the closest name as hint); [`Error::InvalidParameter`] for labels
/// that do not make a classification (fewer than two classes, a label that is not an integer
/// ≥ 0, more than [`MAX_CLASSES`] classes), the same column as label and client, a file with
/// no feature column, or more than [`MAX_VALUES`] values.
pub fn read_examples<R: BufRead>(reader: R, source: &str, spec: &CsvSpec) -> Result<Dataset> {
    let mut lines = TextLines::new(reader, source);
    let mut names: Option<Vec<String>> = None;
    let mut layout: Option<Layout> = None;
    let mut features: Vec<f64> = Vec::new();
    let mut labels: Vec<f64> = Vec::new();
    let mut client_rows: Vec<usize> = Vec::new();
    let mut client_names: HashMap<String, usize> = HashMap::new();
    // Each distinct client cell in order of first appearance, and where it first appears.
    let mut client_cells: Vec<(String, u64)> = Vec::new();
    while let Some((lineno, line)) = lines.next_line(false)? {
        let line = line.expect("invariant: next_line(false) returns text");
        if names.is_none() && layout.is_none() && is_header(line) {
            let sep = Separator::of(line);
            names = Some(sep.fields(line).map(str::to_string).collect());
            continue;
        }
        if layout.is_none() {
            layout = Some(Layout::new(names.as_deref(), line, spec, source)?);
        }
        let lay = layout.as_ref().expect("invariant: set above");
        let sep = lay.separator;
        let mut seen = 0usize;
        for (col, field) in sep.fields(line).enumerate() {
            seen += 1;
            if col >= lay.width {
                continue;
            }
            let at = || lay.at(source, lineno, col);
            if field.is_empty() {
                return Err(Error::Parse {
                    what: at(),
                    reason: "empty field".into(),
                });
            }
            if Some(col) == lay.client {
                let next = client_names.len();
                let id = *client_names.entry(field.to_string()).or_insert_with(|| {
                    client_cells.push((field.to_string(), lineno));
                    next
                });
                client_rows.push(id);
                continue;
            }
            let v: f64 = field.parse().map_err(|_| Error::Parse {
                what: at(),
                reason: format!("`{}` is not a number", printable(field)),
            })?;
            if !v.is_finite() {
                return Err(Error::Parse {
                    what: at(),
                    reason: format!("`{}` is not finite", printable(field)),
                });
            }
            if col == lay.label {
                let is_class = v >= 0.0 && v.fract() == 0.0 && v < MAX_CLASSES as f64;
                if !spec.regression && !is_class {
                    return Err(Error::Parse {
                        what: at(),
                        reason: format!(
                            "label `{}` is not a class: classification labels are integers \
                             0..{MAX_CLASSES} (for real targets use a regression model)",
                            printable(field)
                        ),
                    });
                }
                labels.push(v);
            } else {
                features.push(v);
            }
        }
        if seen != lay.width {
            return Err(Error::Parse {
                what: format!("{source} line {lineno}"),
                reason: format!(
                    "{seen} fields where the {} has {}",
                    if names.is_some() {
                        "header"
                    } else {
                        "first row"
                    },
                    lay.width
                ),
            });
        }
        if features.len() as u64 > MAX_VALUES {
            return Err(Error::Parse {
                what: format!("{source} line {lineno}"),
                reason: format!("more than {MAX_VALUES} values (8 GiB), the limit of one input"),
            });
        }
    }
    let Some(lay) = layout else {
        return Err(Error::Parse {
            what: source.to_string(),
            reason: "no data rows".into(),
        });
    };
    let n = labels.len();
    let task = if spec.regression {
        Task::Regression
    } else {
        let max = labels.iter().copied().fold(0.0, f64::max);
        let first = labels[0];
        if labels.iter().all(|&v| v == first) {
            return Err(Error::invalid(
                "label column",
                lay.label_name(),
                format!("classification needs at least two classes; every label is {first}"),
            ));
        }
        Task::Classification {
            classes: max as usize + 1,
        }
    };
    let x = DMatrix::from_vec(lay.features, n, features);
    let examples = Examples::new(x, labels, task)?;
    let (clients, client_names) = match lay.client {
        None => (None, None),
        Some(col) => {
            let ids: Vec<Option<usize>> = client_cells.iter().map(|(c, _)| integer_id(c)).collect();
            match ids.iter().position(Option::is_none) {
                None => {
                    // Every cell is an id.
                    let ids: Vec<usize> = ids.into_iter().flatten().collect();
                    (Some(client_rows.iter().map(|&i| ids[i]).collect()), None)
                }
                Some(k) if client_cells.iter().all(|(c, _)| c.parse::<f64>().is_ok()) => {
                    let (name, line) = &client_cells[k];
                    return Err(Error::Parse {
                        what: lay.at(source, *line, col),
                        reason: format!(
                            "client `{}` is not an id: a column of numbers gives the client \
                             ids, integers 0..={MAX_CLIENT_ID} (name the clients, e.g. `c7`, to \
                             number them by first appearance instead)",
                            printable(name)
                        ),
                    });
                }
                Some(_) => (
                    Some(client_rows),
                    Some(client_cells.into_iter().map(|(c, _)| c).collect()),
                ),
            }
        }
    };
    Ok(Dataset {
        examples,
        clients,
        client_names,
    })
}

/// A client cell that is a non-negative integer below 2³², as an id.
fn integer_id(field: &str) -> Option<usize> {
    let v: f64 = field.parse().ok()?;
    (v >= 0.0 && v.fract() == 0.0 && v <= MAX_CLIENT_ID).then_some(v as usize)
}

/// Which column is which, fixed by the header (or the first row).
struct Layout {
    separator: Separator,
    names: Option<Vec<String>>,
    width: usize,
    label: usize,
    client: Option<usize>,
    features: usize,
}

impl Layout {
    /// The layout of the data rows, fixed by the header and the first data row (which also
    /// fixes the separator, as in [`crate::data::csv`]).
    fn new(
        names: Option<&[String]>,
        first_row: &str,
        spec: &CsvSpec,
        source: &str,
    ) -> Result<Layout> {
        let separator = Separator::of(first_row);
        let width = separator.fields(first_row).count();
        if let Some(names) = names {
            if names.len() != width {
                return Err(Error::Parse {
                    what: source.to_string(),
                    reason: format!(
                        "the header has {} names and the first row {width} fields",
                        names.len()
                    ),
                });
            }
        }
        let find = |what: &str, wanted: &str| -> Result<usize> {
            if let Some(i) = names.and_then(|n| n.iter().position(|c| c == wanted)) {
                return Ok(i);
            }
            match wanted.parse::<usize>() {
                Ok(k) if (1..=width).contains(&k) => Ok(k - 1),
                _ => {
                    let known = names.unwrap_or(&[]).iter().map(String::as_str);
                    let hint = match Error::unknown(what, wanted, known) {
                        Error::Unknown {
                            suggestion: Some(s),
                            ..
                        } => format!("; did you mean `{}`?", printable(&s)),
                        _ => String::new(),
                    };
                    Err(Error::Parse {
                        what: format!("{what} `{}`", printable(wanted)),
                        reason: format!(
                            "{source} has no such column ({}{hint})",
                            match names {
                                Some(n) => format!("columns: {}", printable(&n.join(", "))),
                                None => format!("no header: give a position 1..={width}"),
                            }
                        ),
                    })
                }
            }
        };
        let label = match &spec.label_column {
            Some(c) => find("label column", c)?,
            None => width - 1,
        };
        let client = match &spec.client_column {
            Some(c) => Some(find("client column", c)?),
            None => None,
        };
        if client == Some(label) {
            return Err(Error::invalid(
                "client column",
                printable(spec.client_column.as_deref().unwrap_or_default()),
                "is also the label column",
            ));
        }
        let features = width - 1 - usize::from(client.is_some());
        if features == 0 {
            return Err(Error::invalid(
                "columns",
                width,
                "no feature column is left besides the label and client columns",
            ));
        }
        Ok(Layout {
            separator,
            names: names.map(<[String]>::to_vec),
            width,
            label,
            client,
            features,
        })
    }

    fn label_name(&self) -> String {
        self.name(self.label)
    }

    fn name(&self, col: usize) -> String {
        match &self.names {
            Some(n) => format!("{} (`{}`)", col + 1, printable(&n[col])),
            None => (col + 1).to_string(),
        }
    }

    fn at(&self, source: &str, lineno: u64, col: usize) -> String {
        format!("{source} line {lineno}, column {}", self.name(col))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, spec: &CsvSpec) -> Result<Dataset> {
        read_examples(text.as_bytes(), "d.csv", spec)
    }

    fn spec(label: Option<&str>, client: Option<&str>) -> CsvSpec {
        CsvSpec {
            label_column: label.map(str::to_string),
            client_column: client.map(str::to_string),
            regression: false,
        }
    }

    #[test]
    fn reads_features_labels_and_clients() {
        let text = "client,x0,x1,y\n0,1.5,2,1\n1,3,4,0\n0,5,6,2\n";
        let d = read(text, &spec(Some("y"), Some("client"))).unwrap();
        assert_eq!(d.examples.task(), Task::Classification { classes: 3 });
        assert_eq!(d.examples.y(), &[1.0, 0.0, 2.0]);
        assert_eq!(d.examples.x().column(0).as_slice(), &[1.5, 2.0]);
        assert_eq!(d.examples.x().column(2).as_slice(), &[5.0, 6.0]);
        assert_eq!(d.clients, Some(vec![0, 1, 0]));
        // The label defaults to the last column, and columns may be given by position.
        assert_eq!(read(text, &spec(None, Some("1"))).unwrap(), d);
        // Integer ids are kept as given (not renumbered by first appearance).
        let d = read("c,x,y\n2,1,0\n0,1,1\n", &spec(None, Some("c"))).unwrap();
        assert_eq!(d.clients, Some(vec![2, 0]));
        assert_eq!(d.client_names, None);
        // Names are numbered in order of first appearance.
        let d = read(
            "c,x,y\nbob,1,0\nalice,1,1\nbob,2,1\n7,3,0\n",
            &spec(None, Some("c")),
        )
        .unwrap();
        assert_eq!(d.clients, Some(vec![0, 1, 0, 2]));
        assert_eq!(
            d.client_names,
            Some(["bob", "alice", "7"].map(String::from).to_vec())
        );
        // A number that is not an id, among ids, is refused where it stands: read as names,
        // the column `3, 0, 2.5` would have made client 3 client 0, and 0 client 1.
        for cell in ["2.5", "-1", "1e300", "nan"] {
            let text = format!("c,x,y\n3,1,0\n0,1,1\n{cell},2,1\n");
            let e = read(&text, &spec(None, Some("c"))).unwrap_err().to_string();
            let at = format!("d.csv line 4, column 1 (`c`): client `{cell}` is not an id");
            assert!(e.contains(&at), "{e}");
        }
        // No header: positions only; regression targets.
        let d = read(
            "1,2,0.5\n3,4,-1.25\n",
            &CsvSpec {
                regression: true,
                ..CsvSpec::default()
            },
        )
        .unwrap();
        assert_eq!(d.examples.task(), Task::Regression);
        assert_eq!(d.examples.y(), &[0.5, -1.25]);
        assert_eq!(d.clients, None);
    }

    #[test]
    fn bad_input_is_named() {
        let s = spec(Some("y"), Some("client"));
        for (text, sp, want) in [
            (
                "client,x0,y\n0,abc,1\n",
                &s,
                "line 2, column 2 (`x0`): `abc` is not a number",
            ),
            (
                "client,x0,y\n0,1,1\n1,2\n",
                &s,
                "line 3: 2 fields where the header has 3",
            ),
            ("client,x0,y\n0,1,0.5\n", &s, "label `0.5` is not a class"),
            ("client,x0,y\n0,1,-1\n", &s, "label `-1` is not a class"),
            ("client,x0,y\n0,1,1e9\n", &s, "label `1e9` is not a class"),
            (
                "client,x0,y\n0,1,1\n1,1,1\n",
                &s,
                "at least two classes; every label is 1",
            ),
            ("client,x0,y\n0,inf,1\n", &s, "not finite"),
            ("client,x0,y\n0,,1\n", &s, "empty field"),
            ("client,x0,y\n", &s, "no data rows"),
            ("clients,x0,y\n0,1,1\n", &s, "did you mean `clients`"),
            (
                "client,x0,y\n0,1,1\n",
                &spec(Some("9"), None),
                "label column `9`: d.csv has no such column",
            ),
            ("client,y\n0,1\n", &s, "no feature column"),
            (
                "client,x0,y\n0,1,1\n",
                &spec(Some("y"), Some("y")),
                "also the label",
            ),
            ("a,b,c\n1,2\n", &s, "header has 3 names"),
        ] {
            let e = read(text, sp).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let e = load_csv(Path::new("no/such/file.csv"), &CsvSpec::default()).unwrap_err();
        assert!(matches!(e, Error::Io { .. }) && e.is_user_error(), "{e}");
    }
}
