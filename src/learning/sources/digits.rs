//! The UCI optical-digits set that scikit-learn bundles: 1797 images of 8 × 8 pixels, ten
//! classes (the digits 0..9), compiled into the binary so `lbounds train` works anywhere.
//!
//! Source and licences (details in `DIGITS.md` beside this file): E. Alpaydin and C. Kaynak,
//! "Optical Recognition of Handwritten Digits", UCI Machine Learning Repository, 1998
//! (the data set's test part, 13 writers), licensed CC BY 4.0; distributed by scikit-learn
//! (`sklearn.datasets.load_digits`, BSD 3-Clause). `scripts/make-digits.py` regenerates
//! `digits.csv` from that package.
//!
//! Each pixel counts the "on" pixels of a 4 × 4 block of a 32 × 32 bitmap, an integer 0..16;
//! [`digits`] divides by 16, so every feature lies in [0, 1] (exactly representable: k/16).
//! Feature j is pixel (j / 8, j % 8), row-major, as scikit-learn's `data[:, j]`; examples are
//! in scikit-learn's order.

use super::csv::{read_examples, CsvSpec};
use crate::learning::examples::Examples;

/// The shipped CSV: header `pixel_0_0,…,pixel_7_7,digit`, then 1797 rows of integers.
const DIGITS_CSV: &str = include_str!("digits.csv");

/// Number of images.
pub const DIGITS_RECORDS: usize = 1797;

/// Number of features (8 × 8 pixels).
pub const DIGITS_FEATURES: usize = 64;

/// The digits: 64 features in [0, 1] (pixel counts / 16), labels 0..9, 10 classes, no
/// canaries.
pub fn digits() -> Examples {
    let spec = CsvSpec {
        label_column: Some("digit".into()),
        ..CsvSpec::default()
    };
    // invariant: the shipped file parses (checked by the tests below).
    let data = read_examples(DIGITS_CSV.as_bytes(), "digits.csv", &spec)
        .expect("invariant: the shipped digits parse");
    let x = data.examples.x() / 16.0;
    Examples::new(x, data.examples.y().to_vec(), data.examples.task())
        .expect("invariant: scaled digits are valid examples")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learning::examples::Task;

    /// Known answers from scikit-learn 1.9.1: `load_digits()` has shape (1797, 64), targets
    /// 0..9 with class counts [178, 182, 177, 183, 181, 182, 181, 179, 174, 180], first image
    /// row 0 = [0, 0, 5, 13, 9, 1, 0, 0], the first ten targets 0..9, and the sum of all pixels
    /// `int(load_digits().data.sum())` = 561 718 (printed by that package). The pixel sum is
    /// exact in f64 (k/16 values times 16).
    #[test]
    fn shipped_digits_match_scikit_learn() {
        let d = digits();
        assert_eq!((d.len(), d.features()), (DIGITS_RECORDS, DIGITS_FEATURES));
        assert_eq!(d.task(), Task::Classification { classes: 10 });
        let mut counts = [0usize; 10];
        for &y in d.y() {
            counts[y as usize] += 1;
        }
        assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
        let first: Vec<f64> = d.x().column(0).iter().take(8).map(|v| v * 16.0).collect();
        assert_eq!(first, [0.0, 0.0, 5.0, 13.0, 9.0, 1.0, 0.0, 0.0]);
        assert_eq!(
            &d.y()[..10],
            &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
        );
        assert!(d.x().iter().all(|&v| (0.0..=1.0).contains(&v)));
        assert_eq!(d.x().iter().sum::<f64>() * 16.0, 561_718.0);
    }
}
