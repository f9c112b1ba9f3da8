//! The loss-threshold attack: Yeom, Giacomelli, Fredrikson & Jha, "Privacy Risk in Machine
//! Learning: Analyzing the Connection to Overfitting", IEEE CSF 2018, arXiv 1709.01604.
//!
//! The test "member iff ℓ(x, y) < τ" for the target's cross-entropy ℓ = −ln p_y. Sign: the
//! score is **−ℓ = ln p_y**, so higher = member, and sweeping τ is sweeping the ROC threshold
//! (reference trap: loss scores must be negated). It uses no shadow model; LiRA's README calls
//! its ROC the "global threshold" attack.

use super::Observations;

/// ln p_y of target `target` on every audited record (= −loss; higher = member).
pub fn scores(obs: &Observations, target: usize) -> Vec<f64> {
    (0..obs.audited()).map(|j| obs.log_p(target, j)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The score is −loss: a record with loss 0.1 outranks one with loss 2 (mutation
    /// checked: returning the loss −ln p instead makes this fail).
    #[test]
    fn lower_loss_scores_higher() {
        let obs = Observations::from_values(
            2,
            2,
            vec![true, false, false, true],
            vec![0.0; 4],
            vec![-0.1, -2.0, -2.0, -0.1],
        )
        .unwrap();
        let s = scores(&obs, 0);
        assert_eq!(s, vec![-0.1, -2.0]);
        assert!(s[0] > s[1]);
    }
}
