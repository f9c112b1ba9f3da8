//! ROC metrics of a membership-inference attack: the curve, its area, the true-positive rate
//! at a fixed low false-positive rate, and the best balanced accuracy.
//!
//! **Sign convention:** a score is *higher for members*; the test "member iff score ≥ t" is
//! run at every threshold t. Every attack in [`super::mia`] states how its score is oriented
//! so that this holds (a loss is negated; LiRA's `plot.py` negates its score before
//! `roc_curve`, lbounds stores the negated value directly).
//!
//! Definitions (N₁ members, N₀ non-members):
//! - **curve**: the points (FPR(t), TPR(t)) for t running down through the distinct scores,
//!   starting at (0, 0) (t = +∞) and ending at (1, 1). Tied scores move together, so a tie
//!   between a member and a non-member is one diagonal step: exactly scikit-learn's
//!   `roc_curve(..., drop_intermediate=False)` with the (0, 0) point it prepends.
//! - **AUC**: the trapezoid area under that curve, which equals the Mann–Whitney statistic
//!   P[S₁ > S₀] + ½·P[S₁ = S₀] (ties count ½; Hanley & McNeil, Radiology 1982).
//! - **TPR at FPR f**: the largest TPR of a threshold whose FPR ≤ f — no interpolation
//!   between thresholds (a deterministic test, as LiRA's `plot.py` reads
//!   `tpr[np.where(fpr < f)[0][-1]]`; lbounds uses ≤ so that f = 1/N₀ admits exactly one
//!   false positive). With N₀ < 1/f no threshold but +∞ qualifies beyond those with no
//!   false positive, so TPR@f is then TPR at zero false positives.
//! - **best balanced accuracy**: maxₜ 1 − (FPR(t) + FNR(t))/2 = maxₜ (1 + TPR − FPR)/2, over
//!   the same thresholds (so ≥ ½, reached by t = +∞).

use crate::Result;
use serde::{Deserialize, Serialize};

/// One operating point of a threshold test.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    /// False-positive rate: non-members called members / N₀.
    pub fpr: f64,
    /// True-positive rate: members called members / N₁.
    pub tpr: f64,
}

/// A ROC curve (see the [module docs](self)) with the sample sizes it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Roc {
    /// From (0, 0) to (1, 1), FPR and TPR non-decreasing.
    pub points: Vec<RocPoint>,
    /// Number of members N₁.
    pub members: usize,
    /// Number of non-members N₀.
    pub non_members: usize,
}

/// The summary numbers the audits report for one attack.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RocSummary {
    /// Area under the curve (ties ½).
    pub auc: f64,
    /// TPR at FPR ≤ 0.1 %.
    pub tpr_at_0_1pct_fpr: f64,
    /// TPR at FPR ≤ 1 %.
    pub tpr_at_1pct_fpr: f64,
    /// Best balanced accuracy over thresholds.
    pub balanced_accuracy: f64,
}

impl Roc {
    /// The curve of "member iff score ≥ t" over every threshold.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for an empty side or a NaN score (±∞ are ordinary scores).
    pub fn new(members: &[f64], non_members: &[f64]) -> Result<Roc> {
        super::check_scores(members, non_members)?;
        // Descending; ties between a member and a non-member are resolved by moving together.
        let desc = |s: &[f64]| {
            let mut v = s.to_vec();
            v.sort_by(|a, b| b.total_cmp(a));
            v
        };
        let (m, o) = (desc(members), desc(non_members));
        let (n1, n0) = (m.len() as f64, o.len() as f64);
        let mut points = vec![RocPoint { fpr: 0.0, tpr: 0.0 }];
        let (mut i, mut j) = (0usize, 0usize);
        while i < m.len() || j < o.len() {
            // The next threshold: the largest score not yet passed.
            let t = match (m.get(i), o.get(j)) {
                (Some(&a), Some(&b)) => {
                    if a.total_cmp(&b).is_ge() {
                        a
                    } else {
                        b
                    }
                }
                (Some(&a), None) => a,
                (None, Some(&b)) => b,
                (None, None) => unreachable!("loop condition"),
            };
            while i < m.len() && m[i] == t {
                i += 1;
            }
            while j < o.len() && o[j] == t {
                j += 1;
            }
            points.push(RocPoint {
                fpr: j as f64 / n0,
                tpr: i as f64 / n1,
            });
        }
        Ok(Roc {
            points,
            members: m.len(),
            non_members: o.len(),
        })
    }

    /// Trapezoid area under the curve = P[S₁ > S₀] + ½·P[S₁ = S₀].
    pub fn auc(&self) -> f64 {
        self.points
            .windows(2)
            .map(|w| (w[1].fpr - w[0].fpr) * (w[1].tpr + w[0].tpr) / 2.0)
            .sum()
    }

    /// The largest TPR of a threshold with FPR ≤ `fpr` (no interpolation).
    pub fn tpr_at_fpr(&self, fpr: f64) -> f64 {
        // Compare counts, not rates, so that f = k/N₀ admits exactly k false positives
        // whatever the rounding of k/N₀ (a 1e-12 relative slack absorbs f's own rounding).
        let allowed = fpr * self.non_members as f64 * (1.0 + 1e-12);
        self.points
            .iter()
            .filter(|p| p.fpr * self.non_members as f64 <= allowed)
            .map(|p| p.tpr)
            .fold(0.0, f64::max)
    }

    /// maxₜ (1 + TPR − FPR)/2.
    pub fn best_balanced_accuracy(&self) -> f64 {
        self.points
            .iter()
            .map(|p| (1.0 + p.tpr - p.fpr) / 2.0)
            .fold(0.5, f64::max)
    }

    /// AUC, TPR at 0.1 % and 1 % FPR, best balanced accuracy.
    pub fn summary(&self) -> RocSummary {
        RocSummary {
            auc: self.auc(),
            tpr_at_0_1pct_fpr: self.tpr_at_fpr(1e-3),
            tpr_at_1pct_fpr: self.tpr_at_fpr(1e-2),
            balanced_accuracy: self.best_balanced_accuracy(),
        }
    }

    /// A compact curve for records and plots: TPR at each FPR of `grid` ([`Roc::tpr_at_fpr`]),
    /// keeping only grid FPRs the sample can resolve (≥ 1/N₀) plus FPR = 1.
    pub fn compact(&self, grid: &[f64]) -> Vec<RocPoint> {
        let floor = 1.0 / self.non_members as f64;
        grid.iter()
            .filter(|&&f| f >= floor * (1.0 - 1e-12) && f <= 1.0)
            .map(|&f| RocPoint {
                fpr: f,
                tpr: self.tpr_at_fpr(f),
            })
            .collect()
    }
}

/// `n` FPRs spaced evenly in log10 from `lo` to 1 (inclusive): the grid of [`Roc::compact`].
pub fn log_grid(lo: f64, n: usize) -> Vec<f64> {
    let n = n.max(2);
    let a = lo.log10();
    (0..n)
        .map(|k| 10f64.powf(a * (1.0 - k as f64 / (n - 1) as f64)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(r: &Roc) -> Vec<(f64, f64)> {
        r.points.iter().map(|p| (p.fpr, p.tpr)).collect()
    }

    /// Hand-computed: members {3, 2, 0.5}, non-members {2, 1}.
    /// Thresholds 3 → (0, 1/3); 2 (one member and one non-member tied) → (1/2, 2/3);
    /// 1 → (1, 2/3); 0.5 → (1, 1). Pairs (m, o): (3,2) >, (3,1) >, (2,2) tie, (2,1) >,
    /// (0.5,2) <, (0.5,1) < → AUC = (3 + ½)/6 = 7/12. Balanced accuracy: at t = 3,
    /// (1 + 1/3 − 0)/2 = 2/3; at t = 2, (1 + 2/3 − 1/2)/2 = 7/12 → best 2/3.
    #[test]
    fn known_answer_with_a_tie() {
        let r = Roc::new(&[3.0, 2.0, 0.5], &[2.0, 1.0]).unwrap();
        assert_eq!(
            pts(&r),
            vec![
                (0.0, 0.0),
                (0.0, 1.0 / 3.0),
                (0.5, 2.0 / 3.0),
                (1.0, 2.0 / 3.0),
                (1.0, 1.0)
            ]
        );
        assert!((r.auc() - 7.0 / 12.0).abs() < 1e-15);
        assert!((r.best_balanced_accuracy() - 2.0 / 3.0).abs() < 1e-15);
        // FPR ≤ 0.1 %: only thresholds with no false positive: TPR 1/3. FPR ≤ 0.5: 2/3.
        assert!((r.tpr_at_fpr(1e-3) - 1.0 / 3.0).abs() < 1e-15);
        assert!((r.tpr_at_fpr(0.5) - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(r.tpr_at_fpr(1.0), 1.0);
    }

    /// Perfect separation: AUC 1, balanced accuracy 1; reversed: AUC 0, balanced accuracy ½
    /// (the +∞ threshold); all tied: AUC ½ exactly (ties count ½).
    #[test]
    fn extremes() {
        let r = Roc::new(&[5.0, 4.0], &[1.0, 0.0, -1.0]).unwrap();
        assert_eq!(r.auc(), 1.0);
        assert_eq!(r.best_balanced_accuracy(), 1.0);
        assert_eq!(r.tpr_at_fpr(0.0), 1.0);
        let r = Roc::new(&[-5.0], &[1.0, 0.0]).unwrap();
        assert_eq!(r.auc(), 0.0);
        assert_eq!(r.best_balanced_accuracy(), 0.5);
        let r = Roc::new(&[1.0; 4], &[1.0; 7]).unwrap();
        assert_eq!(r.auc(), 0.5);
        assert_eq!(pts(&r), vec![(0.0, 0.0), (1.0, 1.0)]);
        // ±∞ are ordinary scores; NaN and empty sides are refused.
        let r = Roc::new(&[f64::INFINITY], &[f64::NEG_INFINITY]).unwrap();
        assert_eq!(r.auc(), 1.0);
        assert!(Roc::new(&[f64::NAN], &[0.0]).is_err());
        assert!(Roc::new(&[], &[0.0]).is_err());
    }

    /// TPR at FPR counts false positives: with N₀ = 1000 non-members at 0..999 and members
    /// at 997.5 and 10⁴, FPR ≤ 0.1 % allows one false positive (the 999), which admits no
    /// further member (997.5 comes after two); FPR ≤ 0.2 % allows two (999, 998) and so
    /// admits 997.5: TPR 1.
    #[test]
    fn tpr_at_fpr_counts_false_positives() {
        let non: Vec<f64> = (0..1000).map(f64::from).collect();
        let r = Roc::new(&[997.5, 1e4], &non).unwrap();
        assert_eq!(r.tpr_at_fpr(1e-3), 0.5);
        assert_eq!(r.tpr_at_fpr(2e-3), 1.0);
        assert_eq!(r.tpr_at_fpr(0.0), 0.5);
        // The compact curve drops FPRs below 1/N₀ = 1e-3 and keeps the rest.
        let c = r.compact(&[1e-4, 1e-3, 1.0]);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].tpr, 0.5);
    }

    /// AUC equals the brute-force Mann–Whitney count on random scores with many ties
    /// (mutation checked: counting ties as 0 instead of ½ in the trapezoid — i.e. using the
    /// lower step `w[0].tpr` as height — makes this fail).
    #[test]
    fn auc_is_mann_whitney() {
        use rand::RngExt;
        let mut rng = crate::rng::rng_from_seed(3);
        for _ in 0..20 {
            let m: Vec<f64> = (0..37)
                .map(|_| f64::from(rng.random_range(0..10u8)))
                .collect();
            let o: Vec<f64> = (0..23)
                .map(|_| f64::from(rng.random_range(0..10u8)))
                .collect();
            let mut wins = 0.0;
            for a in &m {
                for b in &o {
                    wins += if a > b {
                        1.0
                    } else if a == b {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
            let exact = wins / (m.len() * o.len()) as f64;
            let auc = Roc::new(&m, &o).unwrap().auc();
            // Sums of ≤ 851 terms of size ~1/851: rounding below 1e-12.
            assert!((auc - exact).abs() < 1e-12, "{auc} vs {exact}");
        }
    }

    #[test]
    fn log_grid_spans_lo_to_one() {
        let g = log_grid(1e-4, 5);
        assert_eq!(g.len(), 5);
        assert!((g[0] - 1e-4).abs() < 1e-18);
        assert!((g[2] - 1e-2).abs() < 1e-15);
        assert_eq!(g[4], 1.0);
    }
}
