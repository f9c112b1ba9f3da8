//! Serial reductions over records: means and confidence intervals.
//!
//! Kept serial on purpose: a parallel float sum changes its last bits with the work split.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Mean of a sample with a two-sided confidence interval from Student's t.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MeanCi {
    /// Sample mean.
    pub mean: f64,
    /// Half-width of the interval (0 for a single observation, where no spread is known).
    pub half_width: f64,
    /// Number of observations.
    pub count: usize,
}

/// Mean and `level` (e.g. 0.95) Student-t confidence interval of `xs`, summed in order.
///
/// Returns `None` for an empty sample. With one observation the half-width is reported as 0
/// (the interval is undefined; callers print the count beside it).
pub fn mean_ci(xs: &[f64], level: f64) -> Option<MeanCi> {
    let n = xs.len();
    if n == 0 {
        return None;
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Some(MeanCi {
            mean,
            half_width: 0.0,
            count: 1,
        });
    }
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
    // invariant: n ≥ 2 gives ν = n − 1 ≥ 1 > 0, a valid Student-t.
    let t = StudentsT::new(0.0, 1.0, (n - 1) as f64).expect("invariant: dof > 0");
    let q = t.inverse_cdf(0.5 + level / 2.0);
    Some(MeanCi {
        mean,
        half_width: q * (var / n as f64).sqrt(),
        count: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // xs = 1..=5: mean 3, sd √2.5; t_{0.975, 4} = 2.776445105 (standard tables),
        // half-width = 2.776445105 · √2.5/√5 = 1.963243... (computed by hand).
        let ci = mean_ci(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.95).unwrap();
        assert_eq!(ci.mean, 3.0);
        assert!((ci.half_width - 2.776_445_105 * (0.5f64).sqrt()).abs() < 1e-8);
        assert!(mean_ci(&[], 0.95).is_none());
        assert_eq!(mean_ci(&[2.0], 0.95).unwrap().half_width, 0.0);
    }
}
