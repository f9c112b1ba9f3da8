//! Where labelled examples come from: synthetic populations ([`synthetic`]), and a
//! deterministic train/test split ([`train_test_split`]).
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

use crate::rng::{permutation, SimRng};
use crate::{Error, Result};

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
