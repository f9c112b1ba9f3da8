//! Exposure of a canary (Carlini, Liu, Erlingsson, Kos & Song, "The Secret Sharer: Evaluating
//! and Testing Unintended Memorization in Neural Networks", USENIX Security 2019, arXiv
//! 1802.08232, §4): how far a trained language model ranks the inserted secret ahead of the
//! other secrets it could have been.
//!
//! # The statistic
//! A candidate secret r ∈ R = {0, …, 10^D − 1} (D digits) is scored by its **log-perplexity
//! in nats over the secret's D digit tokens**, s(r) = Σ_{j<D} −ln p_θ(r_j | context_j), the
//! context of digit j being the last w tokens of `prefix · r₀…r_{j−1}` ([`STATISTIC`]). The
//! prefix's own terms are the same for every candidate and are left out; the score is a sum,
//! not the mean cross-entropy that tensorflow_privacy's users often feed to its exposure
//! functions (tensorflow/privacy issue #172). Lower = more likely.
//!
//! # Exposure, exact
//! rank(r) = #{r′ ∈ R : s(r′) ≤ s(r)} (the secret itself included, so rank ≥ 1) and
//! exposure = log₂|R| − log₂ rank, in [0, log₂|R|] (19.93 bits for D = 6). **Ties count
//! against the secret**: a candidate with the same score ranks ahead, so exposure is never
//! overstated (a model that scores every candidate alike gives exposure 0).
//!
//! [`enumerate_scores`] computes s for all of R. The context of digit j depends only on the
//! last m = min(j, w) digits before it, so there are only 10^m distinct contexts at digit j,
//! and for j ≥ w the contexts (w digits) are the same set at every j. Each distinct context
//! goes through the model once, all of a level as one batch (one matrix product per layer),
//! giving a table of −ln p(d | context) for the ten digits; the scores of all 10^D
//! candidates then follow level by level, s(parent·d) = s(parent) + table(context, d): 10^D
//! additions. With w = 3: 1 + 10 + 100 + 1000 forward passes for 10⁶ candidates.
//!
//! # Exposure, sampled (interpolation)
//! tensorflow_privacy's `compute_exposure_interpolation`: n reference secrets never inserted,
//! rank = 1 + #{references with s ≤ s(secret)} (ties against the secret as above), exposure
//! = log₂ n − log₂ rank. It estimates the exact value (the fraction of R ranked ahead is
//! estimated by the fraction of the sample) and is capped at log₂ n.
//!
//! # Exposure, extrapolated (skew-normal)
//! tensorflow_privacy's `compute_exposure_extrapolation`: fit a skew-normal to the reference
//! scores (here by the method of moments, [`SkewNormal::fit_moments`]; tf-privacy uses scipy's
//! maximum-likelihood fit) and report −log₂ F(s(secret)), the fitted probability that a
//! random candidate scores at most the secret. It reaches beyond the sample and beyond
//! log₂|R|, and it is only as good as the skew-normal's fit to the left tail.
//!
//! # Scores of given secrets
//! [`score_secrets`] scores any list of candidates directly (each candidate's D contexts
//! through the model, no sharing): the references' scores, and the brute force the
//! enumeration is tested against.

use super::skew_normal::SkewNormal;
use crate::learning::text::{check_context, features, one_hot, secret_tokens, VOCAB};
use crate::learning::{Model, Task};
use crate::{Error, Result};
use nalgebra::DMatrix;
use serde::Serialize;

/// What the score of a candidate is (module docs), as records and `--json` name it.
pub const STATISTIC: &str = "log_perplexity_nats_over_secret_digits";

/// Most digits [`enumerate_scores`] accepts: 10⁷ scores are 80 MB.
pub const MAX_DIGITS: usize = 7;

/// Candidates scored per batch by [`score_secrets`].
const BATCH: usize = 4096;

/// The space of secrets: `prefix` followed by `digits` decimal digits, scored by a model over
/// one-hot windows of `context` tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretSpace {
    /// The canary's fixed prefix (token ids, at least `context` of them).
    pub prefix: Vec<u8>,
    /// Number D of secret digits, 1..=[`MAX_DIGITS`].
    pub digits: usize,
    /// Context width w of the model.
    pub context: usize,
}

impl SecretSpace {
    /// Checks the space against `model`.
    ///
    /// # Errors
    /// Digits out of 1..=[`MAX_DIGITS`], a bad context width, a prefix shorter than it, a
    /// model whose input or output does not fit (w·V features, V-class softmax).
    pub fn check(&self, model: &dyn Model) -> Result<()> {
        if !(1..=MAX_DIGITS).contains(&self.digits) {
            return Err(Error::invalid(
                "digits",
                self.digits,
                format!("must be in 1..={MAX_DIGITS} (10^digits candidates are enumerated)"),
            ));
        }
        check_context(self.context)?;
        if self.prefix.len() < self.context {
            return Err(Error::invalid(
                "prefix",
                self.prefix.len(),
                format!("needs at least the context width {} tokens", self.context),
            ));
        }
        if model.n_features() != features(self.context)
            || model.task() != (Task::Classification { classes: VOCAB })
        {
            return Err(Error::invalid(
                "model",
                model.describe(),
                format!(
                    "needs {} one-hot inputs and a {VOCAB}-class softmax",
                    features(self.context)
                ),
            ));
        }
        Ok(())
    }

    /// |R| = 10^D.
    pub fn size(&self) -> u64 {
        10u64.pow(self.digits as u32)
    }

    /// log₂|R|.
    pub fn log2_size(&self) -> f64 {
        self.digits as f64 * 10f64.log2()
    }
}

/// −ln p(d | window) for the ten digits d of every window (columns of `x`, one-hot), as a
/// row-major table windows × 10: ln Σ_k e^{z_k} − z_d on the model's logits.
fn digit_table(model: &dyn Model, theta: &[f64], x: &DMatrix<f64>) -> Result<Vec<f64>> {
    let z = model.predict(theta, x.as_view())?;
    let mut out = Vec::with_capacity(10 * z.ncols());
    for col in z.column_iter() {
        let m = col.max();
        let lse = m + col.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        out.extend((0..10).map(|d| lse - col[d]));
    }
    Ok(out)
}

/// The score of every candidate, indexed by the secret's value (module docs).
///
/// # Errors
/// Those of [`SecretSpace::check`] and of the model.
pub fn enumerate_scores(model: &dyn Model, theta: &[f64], space: &SecretSpace) -> Result<Vec<f64>> {
    space.check(model)?;
    let w = space.context;
    let p = features(w);
    let tail = &space.prefix[space.prefix.len() - w..];
    // tables[j]: the table of digit j's contexts, for j ≤ w (later digits reuse tables[w]).
    let levels = space.digits.min(w + 1);
    let mut tables = Vec::with_capacity(levels);
    let mut window = vec![0u8; w];
    for j in 0..levels {
        let m = j.min(w);
        let n = 10usize.pow(m as u32);
        let mut x = DMatrix::<f64>::zeros(p, n);
        window[..w - m].copy_from_slice(&tail[m..]);
        for (s, mut col) in x.column_iter_mut().enumerate() {
            window[w - m..].copy_from_slice(&secret_tokens(s as u64, m));
            one_hot(&window, col.as_mut_slice());
        }
        tables.push(digit_table(model, theta, &x)?);
    }
    let mut scores = vec![0.0];
    for j in 0..space.digits {
        let table = &tables[j.min(w)];
        let contexts = 10usize.pow(j.min(w) as u32);
        let mut next = Vec::with_capacity(scores.len() * 10);
        for (parent, &s) in scores.iter().enumerate() {
            let row = &table[(parent % contexts) * 10..][..10];
            next.extend(row.iter().map(|lp| s + lp));
        }
        scores = next;
    }
    Ok(scores)
}

/// The scores of the given secrets, each computed on its own (module docs), in batches.
///
/// # Errors
/// Those of [`SecretSpace::check`]; a secret ≥ |R|.
pub fn score_secrets(
    model: &dyn Model,
    theta: &[f64],
    space: &SecretSpace,
    secrets: &[u64],
) -> Result<Vec<f64>> {
    space.check(model)?;
    if let Some(s) = secrets.iter().find(|&&s| s >= space.size()) {
        return Err(Error::invalid(
            "secret",
            s,
            format!("the space has {} secrets", space.size()),
        ));
    }
    let (w, d) = (space.context, space.digits);
    let tail = &space.prefix[space.prefix.len() - w..];
    let mut out = Vec::with_capacity(secrets.len());
    let mut seq = tail.to_vec();
    for chunk in secrets.chunks(BATCH) {
        let mut x = DMatrix::<f64>::zeros(features(w), chunk.len() * d);
        for (i, &s) in chunk.iter().enumerate() {
            seq.truncate(w);
            seq.extend(secret_tokens(s, d));
            for j in 0..d {
                one_hot(&seq[j..j + w], x.column_mut(i * d + j).as_mut_slice());
            }
        }
        let table = digit_table(model, theta, &x)?;
        for (i, &s) in chunk.iter().enumerate() {
            let digits = secret_tokens(s, d);
            let mut total = 0.0;
            for (j, &dj) in digits.iter().enumerate() {
                total += table[(i * d + j) * 10 + usize::from(dj)];
            }
            out.push(total);
        }
    }
    Ok(out)
}

/// rank = #{candidates scoring at most the secret} (ties against the secret; module docs).
///
/// # Errors
/// A secret outside `scores`, or a NaN score.
pub fn rank(scores: &[f64], secret: u64) -> Result<u64> {
    let s = *usize::try_from(secret)
        .ok()
        .and_then(|i| scores.get(i))
        .ok_or_else(|| Error::invalid("secret", secret, "outside the enumerated space"))?;
    if s.is_nan() {
        return Err(Error::invalid("score", s, "the secret's score is NaN"));
    }
    Ok(scores.iter().filter(|&&x| x <= s).count() as u64)
}

/// log₂ size − log₂ rank.
pub fn exposure_from_rank(rank: u64, size: u64) -> f64 {
    (size as f64).log2() - (rank as f64).log2()
}

/// The sampled (interpolated) exposure of a secret scoring `secret` among `references`
/// (module docs).
///
/// # Errors
/// No references; a NaN score.
pub fn interpolated(secret: f64, references: &[f64]) -> Result<f64> {
    if references.is_empty() {
        return Err(Error::invalid(
            "references",
            0,
            "need at least one reference score",
        ));
    }
    if secret.is_nan() || references.iter().any(|r| r.is_nan()) {
        return Err(Error::invalid("score", f64::NAN, "scores must not be NaN"));
    }
    let ahead = references.iter().filter(|&&r| r <= secret).count() as u64;
    Ok(exposure_from_rank(1 + ahead, references.len() as u64))
}

/// The extrapolated exposure −log₂ F(secret) under the skew-normal fitted to `references`,
/// with the fit (module docs).
///
/// # Errors
/// Those of [`SkewNormal::fit_moments`]; a NaN score.
pub fn extrapolated(secret: f64, references: &[f64]) -> Result<(f64, SkewNormal)> {
    if secret.is_nan() {
        return Err(Error::invalid("score", secret, "must not be NaN"));
    }
    let fit = SkewNormal::fit_moments(references)?;
    Ok((-fit.ln_cdf(secret) / std::f64::consts::LN_2, fit))
}

/// The expected exposure when the rank is uniform on {1, …, N} (a secret independent of the model,
/// no ties): log₂ N − log₂(N!)/N, which is 1/ln 2 − log₂(2πN)/(2N) + O(1/N²) by Stirling
/// (1.4427 bits for large N).
pub fn mean_exposure_uniform_rank(n: u64) -> f64 {
    let n = n as f64;
    n.log2() - statrs::function::gamma::ln_gamma(n + 1.0) / (n * std::f64::consts::LN_2)
}

/// The three exposure estimates of one secret, with what they were computed from.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Exposures {
    /// [`STATISTIC`].
    pub statistic: String,
    /// log₂|R|: the largest exact exposure.
    pub log2_space: f64,
    /// The secret's score (nats).
    pub secret_score: f64,
    /// Its exact rank among all of R (ties against it).
    pub rank: u64,
    /// log₂|R| − log₂ rank.
    pub exposure_exact: f64,
    /// Number of reference secrets.
    pub references: usize,
    /// The sampled estimate (capped at log₂ references).
    pub exposure_interpolated: f64,
    /// The skew-normal estimate.
    pub exposure_extrapolated: f64,
    /// The skew-normal fitted to the references' scores (method of moments).
    pub skew_normal: SkewNormal,
}

/// All three estimates for `secret`: exact by enumeration, interpolated and extrapolated from
/// `references` (secrets other than it, scored on their own by [`score_secrets`]).
///
/// # Errors
/// Those of the functions above.
pub fn exposures(
    model: &dyn Model,
    theta: &[f64],
    space: &SecretSpace,
    secret: u64,
    references: &[u64],
) -> Result<Exposures> {
    let scores = enumerate_scores(model, theta, space)?;
    let r = rank(&scores, secret)?;
    let s = scores[secret as usize];
    let refs = score_secrets(model, theta, space, references)?;
    let (extra, fit) = extrapolated(s, &refs)?;
    Ok(Exposures {
        statistic: STATISTIC.to_string(),
        log2_space: space.log2_size(),
        secret_score: s,
        rank: r,
        exposure_exact: exposure_from_rank(r, space.size()),
        references: refs.len(),
        exposure_interpolated: interpolated(s, &refs)?,
        exposure_extrapolated: extra,
        skew_normal: fit,
    })
}

#[cfg(test)]
mod tests;
