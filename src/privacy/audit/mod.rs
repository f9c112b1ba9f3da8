//! Empirical privacy auditing: what a trained model's behaviour proves about its ε, next to
//! the ε an accountant promises.
//!
//! An audit runs a membership test (is this record in the training set?) and turns its error
//! counts into a statistically valid **lower** bound on ε. The layers:
//! - [`clopper_pearson`]: exact one-sided binomial bounds on the test's rates;
//! - [`epsilon`]: ε from one operating point, and from a whole score curve with the
//!   threshold chosen on the same data (convex hull + Bonferroni);
//! - [`gdp`]: the Gaussian-DP route (μ from the rates, then ε at δ);
//! - [`one_run`]: auditing with many canaries in one training run;
//! - [`dpsgd`]: the end-to-end audit of the crate's own DP-SGD, planted bugs included;
//! - [`unlearning`]: unlearned models against exactly retrained ones (per-example ε, the
//!   competition's forgetting quality, `simple_mia`).
//!
//! Every function here reports a bound that holds with the stated confidence; none chooses a
//! threshold or a guess count on the evaluation data without paying for it (reference traps:
//! threshold selection inflates ε; null scores must give 0).

pub mod clopper_pearson;
pub mod dpsgd;
pub mod epsilon;
pub mod exposure;
pub mod gdp;
pub mod memorization;
pub mod mia;
pub mod one_run;
pub mod roc;
pub mod skew_normal;
pub mod unlearning;

use crate::{Error, Result};

/// Checks a failure probability α ∈ (0, 1).
///
/// # Errors
/// [`Error::InvalidParameter`] naming `alpha`.
pub fn check_alpha(alpha: f64) -> Result<f64> {
    if alpha > 0.0 && alpha < 1.0 {
        Ok(alpha)
    } else {
        Err(Error::invalid("alpha", alpha, "must be in (0, 1)"))
    }
}

/// Checks an audited δ ∈ [0, 1) (0: auditing pure ε-DP).
///
/// # Errors
/// [`Error::InvalidParameter`] naming `delta`.
pub fn check_audit_delta(delta: f64) -> Result<f64> {
    if (0.0..1.0).contains(&delta) {
        Ok(delta)
    } else {
        Err(Error::invalid("delta", delta, "must be in [0, 1)"))
    }
}

/// Checks the two sides of a membership test: each non-empty, no NaN (±∞ are ordinary
/// scores).
///
/// # Errors
/// [`Error::InvalidParameter`] naming the side.
pub(crate) fn check_scores(members: &[f64], non_members: &[f64]) -> Result<()> {
    for (name, s) in [
        ("member scores", members),
        ("non-member scores", non_members),
    ] {
        if s.is_empty() {
            return Err(Error::invalid(name, "none", "need at least one score"));
        }
        if let Some(x) = s.iter().find(|x| x.is_nan()) {
            return Err(Error::invalid(name, x, "a score is NaN"));
        }
        clopper_pearson::check_trials(name, s.len() as u64)?;
    }
    Ok(())
}

/// The scores of the mirrored test: "member when score ≤ t" is "member when −score ≥ −t".
pub(crate) fn negated(scores: &[f64]) -> Vec<f64> {
    scores.iter().map(|x| -x).collect()
}
