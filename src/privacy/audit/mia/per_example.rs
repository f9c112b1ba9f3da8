//! Per-record vulnerability: how exposed each audited record is to one attack, measured over
//! every model of a keep matrix (the privacy score of Carlini, Jagielski, Zhang, Papernot,
//! Terzis & Tramèr, "The Privacy Onion Effect: Memorization is Relative", NeurIPS 2022,
//! arXiv 2206.10469, §3, which scores every CIFAR-10 example with LiRA over its shadow models).
//!
//! **Design (leave-one-out over the models).** Each of the M models plays the target in turn,
//! the other M − 1 being its shadows ([`Attack::scores`], the same code `evaluate` runs); with a
//! balanced keep matrix every record is then scored by the M/2 models that trained on it (IN)
//! and by the M/2 that did not (OUT). The score of record j is its **per-example TPR at a
//! fixed global FPR α**:
//!
//! - the threshold τ_α is the one the pooled attack would use: over all M·N/2 (target,
//!   non-member) scores, member iff score ≥ t, with at most ⌊α·N₀⌋ false positives — exactly
//!   the threshold behind [`Roc::tpr_at_fpr`](crate::privacy::audit::roc::Roc::tpr_at_fpr);
//! - s_j = (number of IN models whose score on j passes τ_α) / (number of IN models).
//!
//! So s_j is the share of the models trained on j for which an attacker working at FPR α
//! calls j a member, and the mean of s_j over records is the pooled TPR at FPR α (every
//! record has the same number of IN models): the per-record split of the headline number
//! LiRA reports. Why not per-example TPR against the record's own OUT scores: with M/2 = 32
//! OUT models the smallest FPR such a test resolves is 1/32, far from the low-FPR regime
//! where the onion effect lives; the global threshold resolves α down to 1/(M·N/2).
//!
//! Ties between records of equal s_j (it takes M/2 + 1 values) are broken by the **margin**,
//! the mean IN score minus the mean OUT score of the record, then by index, so the ranking
//! ([`Vulnerability::ranking`]) is total and deterministic.

use super::{Attack, Observations};
use crate::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Every audited record's vulnerability under one attack (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vulnerability {
    /// s_j: per-example TPR at the global FPR, one per audited record.
    pub tpr: Vec<f64>,
    /// Mean score over IN models minus mean over OUT models, one per audited record.
    pub margin: Vec<f64>,
    /// τ_α: a score strictly above it is called a member (−∞ when α admits every
    /// non-member).
    pub threshold: f64,
    /// The global FPR α.
    pub fpr: f64,
}

/// Per-example TPR of `attack` at global FPR `fpr` (and margins) for every audited record of
/// `obs`, every model playing the target in turn. Deterministic for any number of threads:
/// the targets are scored in parallel and collected in order.
///
/// # Errors
/// `fpr` outside [0, 1]; a record with no IN or no OUT model; the attack's errors.
pub fn per_example(obs: &Observations, attack: Attack, fpr: f64) -> Result<Vulnerability> {
    if !(0.0..=1.0).contains(&fpr) {
        return Err(Error::invalid("fpr", fpr, "must be in [0, 1]"));
    }
    let (models, n) = (obs.models(), obs.audited());
    let scores: Vec<Vec<f64>> = (0..models)
        .into_par_iter()
        .map(|t| attack.scores(obs, t))
        .collect::<Result<_>>()?;
    let mut out_pool = Vec::with_capacity(models * n / 2 + 1);
    for (t, s) in scores.iter().enumerate() {
        for (j, &v) in s.iter().enumerate() {
            if v.is_nan() {
                return Err(Error::invalid("attack score", v, "a score is NaN"));
            }
            if !obs.kept(t, j) {
                out_pool.push(v);
            }
        }
    }
    if out_pool.is_empty() {
        return Err(Error::invalid(
            "models",
            models,
            "no model left any record out",
        ));
    }
    out_pool.sort_by(|a, b| b.total_cmp(a));
    // At most k false positives: a score passes iff it exceeds the (k+1)-th largest OUT score
    // (ties move together, as the ROC's thresholds do). The same 1e-12 slack as the ROC.
    let k = (fpr * out_pool.len() as f64 * (1.0 + 1e-12)).floor() as usize;
    let threshold = out_pool.get(k).copied().unwrap_or(f64::NEG_INFINITY);
    let mut tpr = Vec::with_capacity(n);
    let mut margin = Vec::with_capacity(n);
    for j in 0..n {
        let (mut hits, mut ins, mut sum_in, mut outs, mut sum_out) = (0usize, 0usize, 0.0, 0, 0.0);
        for (t, s) in scores.iter().enumerate() {
            if obs.kept(t, j) {
                ins += 1;
                sum_in += s[j];
                hits += usize::from(s[j] > threshold);
            } else {
                outs += 1;
                sum_out += s[j];
            }
        }
        if ins == 0 || outs == 0 {
            return Err(Error::invalid(
                "keep matrix",
                format!("record {j}"),
                "every record needs IN and OUT models",
            ));
        }
        tpr.push(hits as f64 / ins as f64);
        margin.push(sum_in / ins as f64 - sum_out / outs as f64);
    }
    Ok(Vulnerability {
        tpr,
        margin,
        threshold,
        fpr,
    })
}

impl Vulnerability {
    /// Record indices from the most to the least vulnerable: s_j descending, then margin
    /// descending, then index ascending.
    pub fn ranking(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.tpr.len()).collect();
        order.sort_by(|&a, &b| {
            self.tpr[b]
                .total_cmp(&self.tpr[a])
                .then(self.margin[b].total_cmp(&self.margin[a]))
                .then(a.cmp(&b))
        });
        order
    }

    /// Whether each record is vulnerable: s_j ≥ `level`.
    pub fn vulnerable(&self, level: f64) -> Vec<bool> {
        self.tpr.iter().map(|&s| s >= level).collect()
    }

    /// How many records are vulnerable at `level`.
    pub fn count(&self, level: f64) -> usize {
        self.tpr.iter().filter(|&&s| s >= level).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::audit::mia::keep::KeepMatrix;
    use crate::privacy::audit::roc::Roc;

    /// Hand-computed with the loss attack (score = ln p of the target). Four models, two
    /// records; record 0 IN in models 0, 1 and record 1 IN in models 2, 3. ln p:
    /// model 0: (−0.1, −3), model 1: (−2, −1), model 2: (−4, −0.2), model 3: (−0.5, −0.3).
    /// OUT scores: record 0 in models 2, 3 → −4, −0.5; record 1 in models 0, 1 → −3, −1;
    /// sorted: −0.5, −1, −3, −4. At α = 0.25 one false positive is allowed, so τ = −1 (the
    /// second largest) and a score passes iff > −1: record 0's IN scores −0.1 (yes), −2 (no)
    /// → s₀ = ½; record 1's −0.2, −0.3 → s₁ = 1. Margins: record 0 (−0.1 − 2)/2 − (−4 − 0.5)/2
    /// = −1.05 + 2.25 = 1.2; record 1 (−0.25) − (−2) = 1.75. At α = 0 the threshold is the
    /// largest OUT score −0.5: s₀ = ½ (−0.1), s₁ = 1.
    /// At α = 0.5 two false positives: τ = −3; s₀ = 1, s₁ = 1; ranking by margin: 1, 0.
    #[test]
    fn known_answer_loss_attack() {
        let keep = vec![true, false, true, false, false, true, false, true];
        let log_p = vec![-0.1, -3.0, -2.0, -1.0, -4.0, -0.2, -0.5, -0.3];
        let obs = Observations::from_values(4, 2, keep, vec![0.0; 8], log_p).unwrap();
        let v = per_example(&obs, Attack::Loss, 0.25).unwrap();
        assert_eq!(v.threshold, -1.0);
        assert_eq!(v.tpr, vec![0.5, 1.0]);
        assert!((v.margin[0] - 1.2).abs() < 1e-12 && (v.margin[1] - 1.75).abs() < 1e-12);
        assert_eq!(v.ranking(), vec![1, 0]);
        assert_eq!(v.count(1.0), 1);
        let v0 = per_example(&obs, Attack::Loss, 0.0).unwrap();
        assert_eq!((v0.threshold, v0.tpr.clone()), (-0.5, vec![0.5, 1.0]));
        let v5 = per_example(&obs, Attack::Loss, 0.5).unwrap();
        assert_eq!(v5.tpr, vec![1.0, 1.0]);
        assert_eq!(v5.ranking(), vec![1, 0]);
        assert!(per_example(&obs, Attack::Loss, 1.5).is_err());
    }

    /// The mean of the per-example TPRs is the pooled attack's TPR at the same FPR, as the
    /// ROC computes it ([`Roc::tpr_at_fpr`] over every (target, record) score), for LiRA
    /// online and the loss attack on random scores with many ties (integer-valued ln p), at
    /// several α. Mutation checked: calling a member on `s[j] >= threshold` (ties with the
    /// (k+1)-th OUT score pass) makes the loss-attack case fail — the ROC moves tied scores
    /// together and so admits no member tied with a false positive beyond the k allowed.
    #[test]
    fn mean_is_the_pooled_tpr_at_fpr() {
        use rand::RngExt;
        let (models, n) = (16, 300);
        let keep = KeepMatrix::lira(5, models, n).unwrap();
        let mut rng = crate::rng::rng_from_seed(9);
        let phi: Vec<f64> = (0..models * n)
            .map(|i| {
                let kept = keep.as_slice()[i];
                rng.random::<f64>() * 3.0 + if kept { 1.0 } else { 0.0 }
            })
            .collect();
        let log_p: Vec<f64> = phi.iter().map(|v| -(4.0 - v).round().max(0.0)).collect();
        let obs =
            Observations::from_values(models, n, keep.as_slice().to_vec(), phi, log_p).unwrap();
        for attack in [Attack::Loss, Attack::LiraOnline] {
            let mut sides: [Vec<f64>; 2] = Default::default();
            for t in 0..models {
                for (j, v) in attack.scores(&obs, t).unwrap().into_iter().enumerate() {
                    sides[usize::from(obs.kept(t, j))].push(v);
                }
            }
            let roc = Roc::new(&sides[1], &sides[0]).unwrap();
            for fpr in [0.0, 1e-3, 0.01, 0.1, 0.5] {
                let v = per_example(&obs, attack, fpr).unwrap();
                let mean = v.tpr.iter().sum::<f64>() / n as f64;
                // Means of ≤ 2 400 multiples of 1/8: rounding below 1e-12.
                assert!(
                    (mean - roc.tpr_at_fpr(fpr)).abs() < 1e-12,
                    "{attack:?} at {fpr}: {mean} vs {}",
                    roc.tpr_at_fpr(fpr)
                );
            }
        }
    }
}
