//! The Robust Membership Inference Attack (RMIA), offline: Zarifzadeh, Liu, Shokri & Shi,
//! "Low-Cost High-Power Membership Inference Attacks", ICML 2024, arXiv 2312.03262;
//! reference code `privacytrustlab/ml_privacy_meter`, `modules/mia/attacks/rmia.py`.
//!
//! With p(x|θ) the probability the model gives to x's true label:
//! - ratio_x = p(x|θ_target) / p̄(x), where offline
//!   p̄(x) = ((1+a)/2)·mean_OUT p(x|θ_ref) + (1−a)/2 (the mean over the reference models
//!   that did *not* train on x, linearly corrected for the missing IN half; a ∈ [0, 1]);
//! - score(x) = the fraction of population points z with ratio_x / ratio_z > γ, γ = 1 (the
//!   reference code's setting), i.e. ratio_z < ratio_x. Higher = member.
//!
//! The population points z are records no model trained on (the audit's population set),
//! so every reference model is OUT for them and p̄(z) uses all of them.
//!
//! **Choosing a** ([`scores_tuned`]): as the reference code's `offline_a` search, one
//! reference model plays the target (its membership is known to the attacker, who trained
//! it), the others are its references, and a ∈ {0, 0.1, …, 1} with the best AUC is kept (the
//! first on ties); the real target is then scored against every reference model with that a.
//! No membership of the real target is used.
//!
//! Numerics: p = exp(ln p_y) computed from log-softmax; p̄ is clamped below at 10⁻³⁰ (the
//! reference code's floor) so a = 1 with all-zero OUT probabilities cannot divide by zero.

use super::{Observations, Roc};
use crate::{Error, Result};

/// Lower clamp of p̄(x).
const P_FLOOR: f64 = 1e-30;

/// mean_OUT p(x|θ_ref) over `refs` for every record: for an audited record the OUT
/// references truncated to the smallest OUT count over records (as LiRA, so that the count
/// cannot reveal the target's membership: [`super::in_out_samples`]), for a population
/// record all of them (0 where there is none).
fn mean_out(obs: &Observations, refs: &[usize]) -> Vec<f64> {
    let (_, outs) = super::in_out_samples(obs, refs, |m, j| obs.log_p(m, j).exp());
    let mean = |v: &[f64]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let mut means: Vec<f64> = outs.iter().map(|v| mean(v)).collect();
    means.extend((obs.audited()..obs.records()).map(|j| {
        let all: Vec<f64> = refs.iter().map(|&m| obs.log_p(m, j).exp()).collect();
        mean(&all)
    }));
    means
}

/// Scores from precomputed OUT means (see [`scores`]).
fn scores_from(obs: &Observations, target: usize, mean_out: &[f64], a: f64) -> Vec<f64> {
    let ratio = |j: usize| {
        let p_bar = ((1.0 + a) / 2.0 * mean_out[j] + (1.0 - a) / 2.0).max(P_FLOOR);
        obs.log_p(target, j).exp() / p_bar
    };
    let mut pop: Vec<f64> = (obs.audited()..obs.records()).map(ratio).collect();
    pop.sort_by(f64::total_cmp);
    let nz = pop.len() as f64;
    (0..obs.audited())
        .map(|j| {
            let r = ratio(j);
            // #{z : ratio_z < ratio_x}: the strict inequality is γ = 1's ">".
            pop.partition_point(|&v| v < r) as f64 / nz
        })
        .collect()
}

fn check(obs: &Observations, a: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&a) {
        return Err(Error::invalid("rmia a", a, "must be in [0, 1]"));
    }
    if obs.records() == obs.audited() {
        return Err(Error::invalid(
            "population points",
            0,
            "RMIA compares each record with population records no model trained on",
        ));
    }
    Ok(())
}

/// RMIA scores of `target` on every audited record with references `refs` and parameter `a`.
///
/// # Errors
/// No population point to compare with; `a` outside [0, 1].
pub fn scores(obs: &Observations, target: usize, refs: &[usize], a: f64) -> Result<Vec<f64>> {
    check(obs, a)?;
    Ok(scores_from(obs, target, &mean_out(obs, refs), a))
}

/// The grid of a searched by [`scores_tuned`].
pub const A_GRID: [f64; 11] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// The a with the best AUC when `shadows[0]` plays the target against `shadows[1..]`.
///
/// # Errors
/// Fewer than two shadows; those of [`scores`].
pub fn tune_a(obs: &Observations, shadows: &[usize]) -> Result<f64> {
    let Some((&pseudo, refs)) = shadows.split_first().filter(|(_, r)| !r.is_empty()) else {
        return Err(Error::invalid(
            "shadow models",
            shadows.len(),
            "tuning RMIA's a needs at least two shadow models",
        ));
    };
    check(obs, 0.0)?;
    let means = mean_out(obs, refs);
    let mut best = (f64::NEG_INFINITY, A_GRID[0]);
    for a in A_GRID {
        let s = scores_from(obs, pseudo, &means, a);
        let (mut mem, mut non) = (Vec::new(), Vec::new());
        for (j, v) in s.into_iter().enumerate() {
            if obs.kept(pseudo, j) {
                mem.push(v);
            } else {
                non.push(v);
            }
        }
        if mem.is_empty() || non.is_empty() {
            return Ok(best.1);
        }
        let auc = Roc::new(&mem, &non)?.auc();
        if auc > best.0 {
            best = (auc, a);
        }
    }
    Ok(best.1)
}

/// [`scores`] with a chosen by [`tune_a`] on the shadows.
///
/// # Errors
/// Those of [`tune_a`] and [`scores`].
pub fn scores_tuned(obs: &Observations, target: usize, shadows: &[usize]) -> Result<Vec<f64>> {
    let a = tune_a(obs, shadows)?;
    scores(obs, target, shadows, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed, a = 0 (p̄ = ½·mean_OUT + ½). Models: 0 target, 1 IN / 2 OUT on the
    /// audited record 0; records 1–4 are population points.
    /// Record 0: p_target = 0.9, mean_OUT = p_2 = 0.2 → p̄ = 0.6, ratio = 1.5.
    /// Population z (p_target, p_1, p_2): (0.5, 0.5, 0.5) → p̄ = 0.75, ratio 2/3;
    /// (0.8, 0.4, 0.4) → p̄ = 0.7, ratio 8/7 ≈ 1.143; (0.9, 0.1, 0.1) → p̄ = 0.55,
    /// ratio ≈ 1.636; (0.6, 0.6, 0.6) → p̄ = 0.8, ratio 0.75. So 3 of 4 have ratio < 1.5:
    /// score 0.75. With a = 1 (p̄ = mean_OUT): record 0 ratio 4.5, z ratios 1, 2, 9, 1 →
    /// 3 of 4 below: 0.75 again.
    #[test]
    fn known_answer() {
        let p = |v: f64| v.ln();
        let log_p = vec![
            // model 0 (target): record 0, then z1..z4
            p(0.9),
            p(0.5),
            p(0.8),
            p(0.9),
            p(0.6),
            // model 1 (IN on record 0)
            p(0.99),
            p(0.5),
            p(0.4),
            p(0.1),
            p(0.6),
            // model 2 (OUT on record 0)
            p(0.2),
            p(0.5),
            p(0.4),
            p(0.1),
            p(0.6),
        ];
        let obs =
            Observations::from_values(3, 1, vec![true, true, false], vec![0.0; 15], log_p).unwrap();
        assert_eq!(scores(&obs, 0, &[1, 2], 0.0).unwrap(), vec![0.75]);
        assert_eq!(scores(&obs, 0, &[1, 2], 1.0).unwrap(), vec![0.75]);
        assert!(scores(&obs, 0, &[1, 2], 1.5).is_err());
    }

    /// The population comparison is strict (γ = 1's ">"): a record whose ratio equals every
    /// population ratio scores 0 (mutation checked: `v <= r` makes it 1 and this fails).
    #[test]
    fn ties_with_the_population_do_not_count() {
        let l = 0.5f64.ln();
        let obs =
            Observations::from_values(2, 1, vec![true, false], vec![0.0; 6], vec![l; 6]).unwrap();
        assert_eq!(scores(&obs, 0, &[1], 0.5).unwrap(), vec![0.0]);
    }
}
