//! Where labelled examples come from, chosen by the CLI's `--data`
//! ([`DataSource::parse`]): synthetic populations ([`synthetic`]), the shipped UCI digits
//! ([`digits`](mod@digits)), or a user's CSV file ([`csv`]); and a deterministic train/test split
//! ([`train_test_split`]).
//!
//! Every source returns [`Examples`](crate::learning::Examples) and draws only from the
//! [`SimRng`] it is given; callers key that stream by a name (`"data"`, `"split"`), never by a
//! position.

pub mod csv;
pub mod digits;
pub mod synthetic;

pub use csv::{load_csv, read_examples, CsvSpec, Dataset};
pub use digits::digits;
pub use synthetic::{Synthetic, SyntheticKind};

use crate::learning::examples::Task;
use crate::params::compact;
use crate::rng::{permutation, SimRng};
use crate::{Error, Result};
use std::path::PathBuf;

/// A data set named on the command line (`--data`).
#[derive(Clone, Debug, PartialEq)]
pub enum DataSource {
    /// `synthetic[:KEY=VALUE,...]`: a generated population ([`Synthetic::parse`]).
    Synthetic(Synthetic),
    /// `digits`: the shipped UCI optical digits ([`digits()`]), 1797 × 64, ten classes.
    Digits,
    /// A path to the user's CSV file ([`load_csv`]).
    Csv(PathBuf),
}

impl DataSource {
    /// Reads `--data`: `synthetic` or `synthetic:classes=K,features=P,records=R,...`,
    /// `digits`, or a path. A bare word that is neither a source name nor an existing file is
    /// an unknown source (so `digts` gets a hint instead of "file not found"); anything with a
    /// `.` or a path separator is a path.
    ///
    /// # Errors
    /// [`Error::Unknown`] for an unknown bare word; what [`Synthetic::parse`] rejects.
    pub fn parse(s: &str) -> Result<DataSource> {
        let s = s.trim();
        if let Some(args) = s.strip_prefix("synthetic:") {
            return Synthetic::parse(args).map(DataSource::Synthetic);
        }
        match s {
            "synthetic" => return Ok(DataSource::Synthetic(Synthetic::default())),
            "digits" => return Ok(DataSource::Digits),
            _ => {}
        }
        let looks_like_path = s.contains(['.', '/', '\\']) || std::path::Path::new(s).exists();
        if s.is_empty() || !looks_like_path {
            return Err(Error::unknown(
                "data source (known: synthetic[:KEY=VALUE,...], digits, or a CSV file)",
                &crate::error::printable(s),
                ["synthetic", "digits"],
            ));
        }
        Ok(DataSource::Csv(PathBuf::from(s)))
    }

    /// A short description for messages (`digits`, `synthetic:mixture K=10 p=20 N=2000
    /// separation=3 noise=0`, the path); numbers by [`compact`].
    pub fn describe(&self) -> String {
        match self {
            DataSource::Digits => "digits".into(),
            DataSource::Csv(p) => p.display().to_string(),
            DataSource::Synthetic(s) => match s.kind {
                SyntheticKind::Regression => format!(
                    "synthetic:regression p={} N={} noise={}",
                    s.features,
                    s.records,
                    compact(s.noise)
                ),
                SyntheticKind::Mixture => format!(
                    "synthetic:mixture K={} p={} N={} separation={} noise={}",
                    s.classes,
                    s.features,
                    s.records,
                    compact(s.separation),
                    compact(s.noise)
                ),
                kind => format!(
                    "synthetic:{} K={} p={} N={} noise={}",
                    SyntheticKind::NAMES[kind as usize],
                    s.classes,
                    s.features,
                    s.records,
                    compact(s.noise)
                ),
            },
        }
    }

    /// Loads the examples: a synthetic population is drawn from `rng` (the other sources draw
    /// nothing); a CSV is read with `csv`'s columns.
    ///
    /// # Errors
    /// A label or client column named for a source that is not a CSV file; regression asked
    /// of the digits or of a classification population (or classes of a regression one); and
    /// what the source's reader rejects.
    pub fn load(&self, csv: &CsvSpec, rng: &mut SimRng) -> Result<Dataset> {
        if !matches!(self, DataSource::Csv(_)) {
            for (flag, given) in [
                ("--label-column", &csv.label_column),
                ("--client-column", &csv.client_column),
            ] {
                if let Some(c) = given {
                    return Err(Error::invalid(
                        flag,
                        crate::error::printable(c),
                        format!("applies to a CSV file, and the data is {}", self.describe()),
                    ));
                }
            }
        }
        let examples = match self {
            DataSource::Csv(path) => return load_csv(path, csv),
            DataSource::Digits => digits(),
            DataSource::Synthetic(s) => s.generate(rng)?,
        };
        let regression = examples.task() == Task::Regression;
        if regression != csv.regression {
            return Err(Error::invalid(
                "data",
                self.describe(),
                if csv.regression {
                    "has class labels and the model needs real targets (for a synthetic \
                     regression population: --data synthetic:kind=regression)"
                } else {
                    "has real targets and the model needs class labels"
                },
            ));
        }
        Ok(Dataset {
            examples,
            clients: None,
            client_names: None,
        })
    }
}

/// Largest number of classes a source accepts (2¹⁶): a model's last layer has one row per
/// class, so a label column holding 10⁹ must be refused before anything is allocated.
pub const MAX_CLASSES: usize = 1 << 16;

/// Splits `0..n` into (train, test) index lists, the test part holding
/// round(`test_fraction`·n) examples (at most n − 1, so training is never empty).
///
/// Both lists are in the order of one uniform permutation of `0..n` drawn from `rng`
/// ([`crate::rng::permutation`]): train is its first part, test the rest, as torch's
/// `random_split(dataset, [train, test])` orders its subsets. ByzFL's partitions that read
/// "the Subset's order" (γ-similarity) read the train list in this order.
///
/// # Errors
/// [`Error::InvalidParameter`] for `n = 0` or a fraction outside [0, 1).
pub fn train_test_split(
    n: usize,
    test_fraction: f64,
    rng: &mut SimRng,
) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(0.0..1.0).contains(&test_fraction) {
        return Err(Error::invalid(
            "test fraction",
            test_fraction,
            "must lie in [0, 1)",
        ));
    }
    if n == 0 {
        return Err(Error::invalid("examples", n, "nothing to split"));
    }
    let n_test = ((test_fraction * n as f64).round() as usize).min(n - 1);
    let mut train = permutation(rng, n);
    let test = train.split_off(n - n_test);
    Ok((train, test))
}

/// The `KEY=VALUE` pairs of a comma-separated argument list (`classes=10, features=20`), in
/// order, blanks trimmed; an empty list gives no pairs.
///
/// # Errors
/// [`Error::Parse`] for an item without `=` or with an empty key or value,
/// [`Error::Unknown`] for a key not in `known` (with the closest as hint), and
/// [`Error::InvalidParameter`] for a key given twice.
pub(crate) fn key_values<'a>(
    owner: &str,
    args: &'a str,
    known: &[&str],
) -> Result<Vec<(&'a str, &'a str)>> {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for item in args.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, v) = item.split_once('=').ok_or_else(|| Error::Parse {
            what: format!("{owner} parameter `{}`", crate::error::printable(item)),
            reason: "expected KEY=VALUE".into(),
        })?;
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() || v.is_empty() {
            return Err(Error::Parse {
                what: format!("{owner} parameter `{}`", crate::error::printable(item)),
                reason: "expected KEY=VALUE with a key and a value".into(),
            });
        }
        if !known.contains(&k) {
            return Err(Error::unknown(
                &format!("parameter of {owner} (known: {})", known.join(", ")),
                k,
                known.iter().copied(),
            ));
        }
        if pairs.iter().any(|(seen, _)| *seen == k) {
            return Err(Error::invalid(k, v, "given twice"));
        }
        pairs.push((k, v));
    }
    Ok(pairs)
}

/// A finite number written in a spec.
///
/// # Errors
/// [`Error::Parse`] when `value` is not a number; [`Error::InvalidParameter`] for NaN or ±∞.
pub(crate) fn number(key: &str, value: &str) -> Result<f64> {
    let v: f64 = value.parse().map_err(|_| Error::Parse {
        what: format!("parameter `{key}`"),
        reason: format!("`{}` is not a number", crate::error::printable(value)),
    })?;
    crate::error::check_finite(key, v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_named;

    /// The split is a partition of 0..n into round(φ·n) test and the rest train, fixed by the
    /// stream's name.
    ///
    /// Mutation that fails it: `split_off(n_test)` (the sizes swap).
    #[test]
    fn sources_parse_and_load() {
        assert_eq!(DataSource::parse("digits").unwrap(), DataSource::Digits);
        assert_eq!(
            DataSource::parse("synthetic").unwrap(),
            DataSource::Synthetic(Synthetic::default())
        );
        let s = DataSource::parse("synthetic:classes=3,features=4,records=30").unwrap();
        assert_eq!(
            s.describe(),
            "synthetic:mixture K=3 p=4 N=30 separation=3 noise=0"
        );
        // Numbers too long for `Display` in exponent form (the regression's noise of 1e300
        // printed 301 digits into an error message).
        let r = DataSource::parse("synthetic:kind=regression,noise=1e300").unwrap();
        assert_eq!(r.describe(), "synthetic:regression p=20 N=2000 noise=1e300");
        assert_eq!(
            DataSource::parse("data/train.csv").unwrap(),
            DataSource::Csv("data/train.csv".into())
        );
        let e = DataSource::parse("digts").unwrap_err().to_string();
        assert!(e.contains("did you mean `digits`"), "{e}");
        let e = DataSource::parse("synthetic:clases=3")
            .unwrap_err()
            .to_string();
        assert!(e.contains("did you mean `classes`"), "{e}");
        let mut rng = rng_named(1, 0, "data");
        let d = s.load(&CsvSpec::default(), &mut rng).unwrap();
        assert_eq!((d.examples.len(), d.clients), (30, None));
        let with = |label: Option<&str>, regression| CsvSpec {
            label_column: label.map(str::to_string),
            client_column: None,
            regression,
        };
        let e = DataSource::Digits
            .load(&with(Some("y"), false), &mut rng)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--label-column") && e.contains("CSV file"),
            "{e}"
        );
        let e = s.load(&with(None, true), &mut rng).unwrap_err().to_string();
        assert!(e.contains("kind=regression"), "{e}");
        let r = DataSource::parse("synthetic:kind=regression,records=5").unwrap();
        assert!(r.load(&with(None, true), &mut rng).is_ok());
        assert!(r.load(&with(None, false), &mut rng).is_err());
        let e = DataSource::Csv("no/such.csv".into())
            .load(&CsvSpec::default(), &mut rng)
            .unwrap_err();
        assert!(e.is_user_error(), "{e}");
    }

    #[test]
    fn split_sizes_and_determinism() {
        let split = |n, f, name| train_test_split(n, f, &mut rng_named(1, 0, name)).unwrap();
        let (train, test) = split(1797, 0.2, "split");
        assert_eq!((train.len(), test.len()), (1438, 359));
        let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1797).collect::<Vec<_>>());
        assert_eq!(split(1797, 0.2, "split"), (train.clone(), test));
        assert_ne!(split(1797, 0.2, "other").0, train);
        assert_eq!(split(1, 0.9, "s"), (vec![0], vec![]));
        assert_eq!(split(5, 0.0, "s").1, Vec::<usize>::new());
        for f in [1.0, -0.1, f64::NAN] {
            assert!(train_test_split(5, f, &mut rng_named(1, 0, "s")).is_err());
        }
        assert!(train_test_split(0, 0.2, &mut rng_named(1, 0, "s")).is_err());
    }
}
