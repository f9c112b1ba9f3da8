//! Membership inference: given what a target model outputs on a record, and what shadow
//! models trained with and without that record output on it, was the record in the target's
//! training set?
//!
//! The pieces:
//! - [`keep`]: which shadow model trains on which record (LiRA's balanced keep matrix);
//! - [`population`]: the long-tailed Gaussian mixture the audits run on, with its tail and
//!   mislabelled records flagged as canaries;
//! - [`shadow`]: training one shadow model (plain or DP full-batch gradient descent) and its
//!   content-addressed on-disk cache;
//! - [`Observations`]: every model's statistics on every record (the stable logit φ and
//!   ln p_y), the only thing the attacks read;
//! - the attacks, one file per family: [`loss`] (Yeom et al.), [`lira`] (Carlini et al.),
//!   [`rmia`] (Zarifzadeh et al.); each returns one score per record, **higher = member**
//!   (see [`crate::privacy::audit::roc`]);
//! - [`evaluate`]: every attack against each target model in turn (the others are its
//!   shadows), ROC metrics overall and on the canaries.

pub mod keep;
pub mod lira;
pub mod loss;
pub mod population;
pub mod rmia;
pub mod shadow;

use super::roc::{log_grid, Roc, RocPoint, RocSummary};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Every model's statistics on every record, models × records, row-major.
///
/// The first `audited` records are the ones the keep matrix assigns (each in half of the
/// models); the rest are population records no model trains on (RMIA's reference points z).
#[derive(Clone, Debug, PartialEq)]
pub struct Observations {
    models: usize,
    records: usize,
    audited: usize,
    keep: Vec<bool>,
    phi: Vec<f64>,
    log_p: Vec<f64>,
}

impl Observations {
    /// From the keep matrix (models × audited) and, per model, the logits of every record
    /// (classes × records, one column per record) and the labels.
    ///
    /// # Errors
    /// Shapes that do not agree, labels out of range, fewer than two models.
    pub fn from_logits(
        keep: &keep::KeepMatrix,
        logits: &[nalgebra::DMatrix<f64>],
        labels: &[f64],
    ) -> Result<Observations> {
        let (models, audited) = (keep.models(), keep.records());
        if logits.len() != models || models < 2 {
            return Err(Error::invalid(
                "models",
                logits.len(),
                format!("need one logit matrix per model of the keep matrix ({models}, ≥ 2)"),
            ));
        }
        let records = labels.len();
        if records < audited {
            return Err(Error::invalid(
                "records",
                records,
                format!("the keep matrix assigns {audited}"),
            ));
        }
        let mut phi = Vec::with_capacity(models * records);
        let mut log_p = Vec::with_capacity(models * records);
        for z in logits {
            if z.ncols() != records {
                return Err(Error::invalid(
                    "logit columns",
                    z.ncols(),
                    format!("there are {records} records"),
                ));
            }
            for (col, &y) in z.column_iter().zip(labels) {
                let (f, lp) = stable_logit(col.as_slice(), y as usize)?;
                phi.push(f);
                log_p.push(lp);
            }
        }
        Ok(Observations {
            models,
            records,
            audited,
            keep: keep.as_slice().to_vec(),
            phi,
            log_p,
        })
    }

    /// Directly from values (tests, null experiments): keep (models × audited), φ and ln p_y
    /// (models × records).
    ///
    /// # Errors
    /// Shapes that do not agree.
    pub fn from_values(
        models: usize,
        audited: usize,
        keep: Vec<bool>,
        phi: Vec<f64>,
        log_p: Vec<f64>,
    ) -> Result<Observations> {
        let records = phi.len() / models.max(1);
        if models < 2 || keep.len() != models * audited || phi.len() != models * records
            || log_p.len() != phi.len()
            || records < audited
        {
            return Err(Error::invalid(
                "observations",
                format!("{models} models, {} keep flags, {} values", keep.len(), phi.len()),
                "keep is models × audited and φ, ln p are models × records",
            ));
        }
        Ok(Observations {
            models,
            records,
            audited,
            keep,
            phi,
            log_p,
        })
    }

    /// Number of models.
    pub fn models(&self) -> usize {
        self.models
    }

    /// Number of audited records (the keep matrix's columns).
    pub fn audited(&self) -> usize {
        self.audited
    }

    /// Number of records, audited and population.
    pub fn records(&self) -> usize {
        self.records
    }

    /// Whether model `m` trained on audited record `j`.
    pub fn kept(&self, m: usize, j: usize) -> bool {
        self.keep[m * self.audited + j]
    }

    /// Model `m`'s stable logit φ on record `j`.
    pub fn phi(&self, m: usize, j: usize) -> f64 {
        self.phi[m * self.records + j]
    }

    /// Model `m`'s ln p_y on record `j` (−loss).
    pub fn log_p(&self, m: usize, j: usize) -> f64 {
        self.log_p[m * self.records + j]
    }
}

/// LiRA's statistic and the log-probability of the true class, from one record's logits z:
/// φ = ln p_y − ln Σ_{y'≠y} p_{y'} = z_y − LSE_{y'≠y}(z) and ln p_y = z_y − LSE(z), both by
/// log-sum-exp so neither under- nor overflows (the reference code exponentiates and clamps
/// at 1e-45 instead; Carlini et al., "Membership Inference Attacks From First Principles",
/// S&P 2022, arXiv 2112.03570, `mi_lira_2021/score.py`). One output (binary logistic, logit
/// z for class 1) is read as the two logits (0, z).
///
/// # Errors
/// A label out of range, or a non-finite logit (φ would be NaN).
pub fn stable_logit(z: &[f64], y: usize) -> Result<(f64, f64)> {
    let two;
    let z = if z.len() == 1 {
        two = [0.0, z[0]];
        &two[..]
    } else {
        z
    };
    if y >= z.len() {
        return Err(Error::invalid("label", y, format!("{} classes", z.len())));
    }
    if let Some(v) = z.iter().find(|v| !v.is_finite()) {
        return Err(Error::invalid("logit", v, "a model output is not finite"));
    }
    let lse = |it: &mut dyn Iterator<Item = f64>| {
        let v: Vec<f64> = it.collect();
        let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
    };
    let all = lse(&mut z.iter().copied());
    let others = lse(&mut z.iter().enumerate().filter(|(k, _)| *k != y).map(|(_, &v)| v));
    Ok((z[y] - others, z[y] - all))
}

/// The attacks [`evaluate`] runs, by stable name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attack {
    /// Loss threshold ([`loss`]).
    Loss,
    /// LiRA online, per-example variances ([`lira`]).
    LiraOnline,
    /// LiRA online, global variances.
    LiraOnlineFixedVariance,
    /// LiRA offline, two-sided Gaussian log-density test (as `mi_lira_2021`'s code).
    LiraOfflineLogpdf,
    /// The same with a global variance.
    LiraOfflineLogpdfFixedVariance,
    /// LiRA offline, one-sided CDF test (as the paper).
    LiraOfflineCdf,
    /// The same with a global variance.
    LiraOfflineCdfFixedVariance,
    /// RMIA offline ([`rmia`]).
    RmiaOffline,
}

impl Attack {
    /// Every attack, in report order.
    pub const ALL: [Attack; 8] = [
        Attack::Loss,
        Attack::LiraOnline,
        Attack::LiraOnlineFixedVariance,
        Attack::LiraOfflineLogpdf,
        Attack::LiraOfflineLogpdfFixedVariance,
        Attack::LiraOfflineCdf,
        Attack::LiraOfflineCdfFixedVariance,
        Attack::RmiaOffline,
    ];

    /// The stable snake_case name (records, JSON, plots).
    pub fn name(self) -> &'static str {
        match self {
            Attack::Loss => "loss",
            Attack::LiraOnline => "lira_online",
            Attack::LiraOnlineFixedVariance => "lira_online_fixed_variance",
            Attack::LiraOfflineLogpdf => "lira_offline_logpdf",
            Attack::LiraOfflineLogpdfFixedVariance => "lira_offline_logpdf_fixed_variance",
            Attack::LiraOfflineCdf => "lira_offline_cdf",
            Attack::LiraOfflineCdfFixedVariance => "lira_offline_cdf_fixed_variance",
            Attack::RmiaOffline => "rmia_offline",
        }
    }

    /// Scores of every audited record against target model `target`, the other models
    /// being the shadows (higher = member).
    ///
    /// # Errors
    /// Those of the attack (too few IN or OUT shadows for a record).
    pub fn scores(self, obs: &Observations, target: usize) -> Result<Vec<f64>> {
        use lira::{Lira, Variance};
        let shadows: Vec<usize> = (0..obs.models()).filter(|&m| m != target).collect();
        let lira = |kind, variance| {
            Lira { kind, variance }.scores(obs, target, &shadows)
        };
        match self {
            Attack::Loss => Ok(loss::scores(obs, target)),
            Attack::LiraOnline => lira(lira::Kind::Online, Variance::PerExample),
            Attack::LiraOnlineFixedVariance => lira(lira::Kind::Online, Variance::Global),
            Attack::LiraOfflineLogpdf => lira(lira::Kind::OfflineLogpdf, Variance::PerExample),
            Attack::LiraOfflineLogpdfFixedVariance => {
                lira(lira::Kind::OfflineLogpdf, Variance::Global)
            }
            Attack::LiraOfflineCdf => lira(lira::Kind::OfflineCdf, Variance::PerExample),
            Attack::LiraOfflineCdfFixedVariance => lira(lira::Kind::OfflineCdf, Variance::Global),
            Attack::RmiaOffline => rmia::scores_tuned(obs, target, &shadows),
        }
    }
}

/// One attack's metrics, overall and on the canary records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttackResult {
    /// The attack's name ([`Attack::name`]).
    pub attack: String,
    /// Over every audited record.
    pub overall: RocSummary,
    /// Over the canary records only (members and non-members both canaries); `None` when
    /// there are none.
    pub canaries: Option<RocSummary>,
    /// The overall curve at log-spaced FPRs ([`ROC_GRID_POINTS`] from [`ROC_GRID_LO`] to 1,
    /// those the sample resolves).
    pub roc: Vec<RocPoint>,
    /// The canaries' curve on the same grid.
    pub roc_canaries: Vec<RocPoint>,
}

/// Lowest FPR of the compact curves.
pub const ROC_GRID_LO: f64 = 1e-4;
/// Points of the compact curves.
pub const ROC_GRID_POINTS: usize = 25;

/// Runs each attack against each target in `targets` (the other models are its shadows) and
/// pools the scores over targets: members of target t are the audited records t trained on.
/// `canary` flags the audited records whose separate metrics are reported.
///
/// # Errors
/// An empty target list or one out of range; a target for which a side is empty; the
/// attacks' errors.
pub fn evaluate(
    obs: &Observations,
    targets: &[usize],
    canary: &[bool],
    attacks: &[Attack],
) -> Result<Vec<AttackResult>> {
    if targets.is_empty() || targets.iter().any(|&t| t >= obs.models()) {
        return Err(Error::invalid(
            "targets",
            format!("{targets:?}"),
            format!("need at least one model index below {}", obs.models()),
        ));
    }
    if canary.len() != obs.audited() {
        return Err(Error::invalid(
            "canary flags",
            canary.len(),
            format!("there are {} audited records", obs.audited()),
        ));
    }
    let grid = log_grid(ROC_GRID_LO, ROC_GRID_POINTS);
    attacks
        .iter()
        .map(|&attack| {
            let mut sides: [[Vec<f64>; 2]; 2] = Default::default();
            for &t in targets {
                let s = attack.scores(obs, t)?;
                for (j, &v) in s.iter().enumerate() {
                    let member = usize::from(obs.kept(t, j));
                    sides[0][member].push(v);
                    if canary[j] {
                        sides[1][member].push(v);
                    }
                }
            }
            let overall = Roc::new(&sides[0][1], &sides[0][0])?;
            let can = if sides[1][0].is_empty() || sides[1][1].is_empty() {
                None
            } else {
                Some(Roc::new(&sides[1][1], &sides[1][0])?)
            };
            Ok(AttackResult {
                attack: attack.name().to_string(),
                overall: overall.summary(),
                canaries: can.as_ref().map(Roc::summary),
                roc: overall.compact(&grid),
                roc_canaries: can.map(|r| r.compact(&grid)).unwrap_or_default(),
            })
        })
        .collect()
}

/// The median of a non-empty slice (reordered in place): the mean of the two middle values
/// for an even length (NumPy's `median`).
pub(crate) fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    v.sort_unstable_by(f64::total_cmp);
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed: logits (0, ln 2, ln 3) give softmax (1, 2, 3)/6. For y = 2:
    /// ln p_y = ln(1/2), φ = ln(3/6) − ln(3/6) = 0. For y = 0: ln p = ln(1/6), φ = ln(1/5).
    /// Huge logits (1000, 0) stay finite: φ = 1000 exactly, ln p_y = −e⁻¹⁰⁰⁰ ≈ 0.
    #[test]
    fn stable_logit_known_answers() {
        let z = [0.0, 2f64.ln(), 3f64.ln()];
        let (f, lp) = stable_logit(&z, 2).unwrap();
        assert!(f.abs() < 1e-15 && (lp - 0.5f64.ln()).abs() < 1e-15);
        let (f, lp) = stable_logit(&z, 0).unwrap();
        assert!((f - 0.2f64.ln()).abs() < 1e-15 && (lp - (1.0 / 6.0f64).ln()).abs() < 1e-15);
        assert_eq!(stable_logit(&[1000.0, 0.0], 0).unwrap(), (1000.0, 0.0));
        assert_eq!(stable_logit(&[0.0, 1000.0], 0).unwrap().0, -1000.0);
        // One output: the logit of class 1.
        assert_eq!(stable_logit(&[3.0], 1).unwrap().0, 3.0);
        assert!(stable_logit(&[f64::NAN, 0.0], 0).is_err());
        assert!(stable_logit(&[0.0, 0.0], 2).is_err());
    }

    #[test]
    fn median_matches_numpy() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
