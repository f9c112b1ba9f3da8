//! `lbounds audit`: empirical lower bounds on ε from membership tests — one operating point,
//! a whole score curve, the Gaussian-DP route and one-run auditing.

use super::{emit, json_line, Num};
use anyhow::Result;
use clap::Subcommand;
use lbounds::privacy::audit::epsilon::{self, Counts};
use lbounds::privacy::audit::gdp;
use lbounds::privacy::audit::one_run::{self, OneRun};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// Privacy auditing: what a membership test's results prove about epsilon (a lower bound with
/// a stated confidence), to set beside the epsilon an accountant promises.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Epsilon lower bound from one operating point of a membership test (its four counts).
    Epsilon(EpsilonArgs),
    /// Epsilon lower bound from membership scores (every threshold, paid for by Bonferroni),
    /// and the Gaussian-DP estimate.
    Scores(ScoresArgs),
    /// The epsilon at which a mu-GDP mechanism reaches delta.
    Gdp(GdpArgs),
    /// Epsilon lower bound from one training run with many canaries (Steinke et al. 2023).
    OneRun(OneRunArgs),
    /// Canary exposure of a small character model trained with or without DP-SGD (the
    /// Secret Sharer, Carlini et al. 2019): exact over all secrets, sampled, extrapolated.
    Exposure(super::audit_exposure::ExposureArgs),
    /// Audit lbounds' own DP-SGD with a gradient canary, optionally with a planted bug.
    Dpsgd(super::audit_dpsgd::DpsgdArgs),
    /// Membership inference (loss, LiRA, RMIA) against shadow-trained models.
    Mia(super::audit_mia::MiaArgs),
}

/// One operating point: N1 members of which TP were called members, N0 non-members of which
/// FP were. One-sided Clopper–Pearson bounds, alpha split equally:
/// epsilon >= ln((TPR_lo - delta) / FPR_hi) with confidence 1 - alpha.
///
/// Example: lbounds audit epsilon --positives 1000 --true-positives 1000 --negatives 1000
/// --false-positives 0   (perfect separation over 1000 runs per world: 5.601)
#[derive(Debug, clap::Args)]
struct EpsilonArgs {
    /// Members tested (1 <= N1 <= 10^7: the exact bounds lose digits beyond).
    #[arg(long)]
    positives: u64,
    /// Members the test called members (TP <= N1).
    #[arg(long)]
    true_positives: u64,
    /// Non-members tested (1 <= N0 <= 10^7).
    #[arg(long)]
    negatives: u64,
    /// Non-members the test called members (FP <= N0).
    #[arg(long)]
    false_positives: u64,
    /// The delta of the audited (epsilon, delta) claim, in [0, 1).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    delta: f64,
    /// Probability that the bound is wrong, in (0, 1).
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    alpha: f64,
    /// Also test the mirrored direction (TNR/FNR); alpha is then split in four.
    #[arg(long)]
    two_sided: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Membership scores (higher = member; negate losses first), one number per line or all on
/// one line separated by commas or blanks. Every threshold is considered: the convex hull of the ROC
/// curve, each of its k vertices with bounds at alpha/(2k) (Bonferroni), so choosing the
/// threshold on these scores is paid for. Also prints the Gaussian-DP estimate (mu lower
/// bound, then epsilon at delta) when delta > 0.
///
/// Example: lbounds audit scores --members in.txt --non-members out.txt --delta 1e-5
#[derive(Debug, clap::Args)]
struct ScoresArgs {
    /// Scores of records that were in the training set (a file, or - for standard input).
    #[arg(long)]
    members: PathBuf,
    /// Scores of records that were not.
    #[arg(long)]
    non_members: PathBuf,
    /// The delta of the audited claim, in [0, 1) (the GDP route needs delta > 0).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    delta: f64,
    /// Probability that the bound is wrong, in (0, 1).
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    alpha: f64,
    /// Also test "member when the score is low" (each direction gets half of alpha).
    #[arg(long)]
    two_sided: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// mu-GDP is (epsilon, delta(epsilon))-DP with delta(epsilon) = Phi(-epsilon/mu + mu/2) -
/// e^epsilon Phi(-epsilon/mu - mu/2) (Dong, Roth & Su 2022, Cor. 2.13); this solves it for
/// epsilon.
///
/// Example: lbounds audit gdp --mu 1 --delta 1e-5   (4.38)
#[derive(Debug, clap::Args)]
struct GdpArgs {
    /// mu > 0.
    #[arg(long, allow_negative_numbers = true)]
    mu: f64,
    /// delta in (0, 1).
    #[arg(long, allow_negative_numbers = true)]
    delta: f64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// One-run auditing: M canaries, each trained on with probability 1/2; the auditor guessed
/// in/out for R of them and got V right. Reports the largest epsilon whose (epsilon,
/// delta)-DP claim this rejects at the confidence level (Steinke, Nasr & Jagielski, NeurIPS
/// 2023, Appendix D, with its delta term).
///
/// Example: lbounds audit one-run --canaries 1000 --guesses 100 --correct 100   (3.49)
#[derive(Debug, clap::Args)]
struct OneRunArgs {
    /// Canaries M.
    #[arg(long)]
    canaries: u64,
    /// Guesses R (1 <= R <= M).
    #[arg(long)]
    guesses: u64,
    /// Correct guesses V (<= R).
    #[arg(long)]
    correct: u64,
    /// The delta of the audited claim, in [0, 1).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    delta: f64,
    /// Confidence of the rejection, in (0, 1).
    #[arg(long, default_value_t = 0.95, allow_negative_numbers = true)]
    confidence: f64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs `lbounds audit`.
pub fn run(a: Args) -> Result<()> {
    match a.command {
        Cmd::Epsilon(a) => epsilon_cmd(a),
        Cmd::Scores(a) => scores(a),
        Cmd::Gdp(a) => gdp_cmd(a),
        Cmd::OneRun(a) => one_run_cmd(a),
        Cmd::Exposure(a) => super::audit_exposure::run(a),
        Cmd::Dpsgd(a) => super::audit_dpsgd::run(a),
        Cmd::Mia(a) => super::audit_mia::run(a),
    }
}

fn epsilon_cmd(a: EpsilonArgs) -> Result<()> {
    let c = Counts {
        positives: a.positives,
        true_positives: a.true_positives,
        negatives: a.negatives,
        false_positives: a.false_positives,
    };
    let e = epsilon::from_counts(&c, a.delta, a.alpha, a.two_sided)?;
    let text = if a.json {
        #[derive(Serialize)]
        struct Out {
            #[serde(flatten)]
            bound: epsilon::EpsilonLower,
            delta: f64,
            alpha: f64,
            two_sided: bool,
        }
        json_line(&Out {
            bound: e,
            delta: a.delta,
            alpha: a.alpha,
            two_sided: a.two_sided,
        })?
    } else {
        let mut t = format!(
            "epsilon >= {:.4} with confidence {} (delta = {})\n",
            e.epsilon_lower,
            confidence(a.alpha),
            Num(a.delta)
        );
        let _ = writeln!(
            t,
            "TPR >= {:.6}, FPR <= {:.6} (one-sided Clopper-Pearson, each at level {})",
            e.tpr_lower,
            e.fpr_upper,
            Num(e.level_per_bound)
        );
        if let (Some(tnr), Some(fnr)) = (e.tnr_lower, e.fnr_upper) {
            let _ = writeln!(
                t,
                "two-sided: also TNR >= {tnr:.6}, FNR <= {fnr:.6}; alpha split in four"
            );
        }
        t
    };
    emit(&text)
}

fn scores(a: ScoresArgs) -> Result<()> {
    if a.members.as_os_str() == "-" && a.non_members.as_os_str() == "-" {
        return Err(lbounds::Error::invalid(
            "--non-members",
            "-",
            "only one of the two score lists can come from standard input",
        )
        .into());
    }
    let members = read_scores("--members", &a.members)?;
    let non_members = read_scores("--non-members", &a.non_members)?;
    let e = epsilon::from_scores(&members, &non_members, a.delta, a.alpha, a.two_sided)?;
    let g = if a.delta > 0.0 {
        Some(gdp::from_scores(
            &members,
            &non_members,
            a.delta,
            a.alpha,
            a.two_sided,
        )?)
    } else {
        None
    };
    let text = if a.json {
        #[derive(Serialize)]
        struct Out {
            #[serde(flatten)]
            bound: epsilon::CurveEpsilon,
            gdp: Option<gdp::GdpAudit>,
            members: usize,
            non_members: usize,
            delta: f64,
            alpha: f64,
        }
        json_line(&Out {
            bound: e,
            gdp: g,
            members: members.len(),
            non_members: non_members.len(),
            delta: a.delta,
            alpha: a.alpha,
        })?
    } else {
        let mut t = format!(
            "epsilon >= {:.4} with confidence {} (delta = {}; {} members, {} non-members)\n",
            e.epsilon_lower,
            confidence(a.alpha),
            Num(a.delta),
            members.len(),
            non_members.len()
        );
        match e.threshold {
            Some(th) => {
                let _ = writeln!(
                    t,
                    "reached at threshold {th} ({}); {} hull thresholds, each bound at level {:.3e}",
                    if e.mirrored {
                        "member when score <= threshold"
                    } else {
                        "member when score >= threshold"
                    },
                    e.vertices,
                    e.level_per_bound
                );
            }
            None => {
                let _ = writeln!(
                    t,
                    "no threshold separates the scores at this confidence ({} hull thresholds)",
                    e.vertices
                );
            }
        }
        match g {
            Some(g) => {
                let _ = writeln!(
                    t,
                    "Gaussian DP: mu >= {:.4}, so epsilon ~ {:.4} at delta = {} (an estimate: assumes the mechanism is exactly GDP)",
                    g.mu_lower,
                    g.epsilon,
                    Num(a.delta)
                );
            }
            None => {
                let _ = writeln!(t, "Gaussian DP estimate: needs --delta > 0");
            }
        }
        t
    };
    emit(&text)
}

fn gdp_cmd(a: GdpArgs) -> Result<()> {
    let eps = gdp::epsilon_for_mu(a.mu, a.delta)?;
    let text = if a.json {
        #[derive(Serialize)]
        struct Out {
            mu: f64,
            delta: f64,
            epsilon: f64,
        }
        json_line(&Out {
            mu: a.mu,
            delta: a.delta,
            epsilon: eps,
        })?
    } else {
        format!(
            "epsilon = {eps:.4}: a {}-GDP mechanism is (epsilon, {})-DP (Dong, Roth & Su 2022, Cor. 2.13)\n",
            a.mu, a.delta
        )
    };
    emit(&text)
}

fn one_run_cmd(a: OneRunArgs) -> Result<()> {
    let run = OneRun {
        canaries: a.canaries,
        guesses: a.guesses,
        correct: a.correct,
    };
    let r = one_run::epsilon_lower(&run, a.delta, a.confidence)?;
    let text = if a.json {
        #[derive(Serialize)]
        struct Out {
            #[serde(flatten)]
            audit: one_run::OneRunAudit,
            canaries: u64,
            guesses: u64,
            correct: u64,
            delta: f64,
            confidence: f64,
        }
        json_line(&Out {
            audit: r,
            canaries: a.canaries,
            guesses: a.guesses,
            correct: a.correct,
            delta: a.delta,
            confidence: a.confidence,
        })?
    } else {
        format!(
            "epsilon >= {:.4} with confidence {} (delta = {}; {} of {} guesses right over {} canaries; p-value at epsilon = 0: {:.3e})\n",
            r.epsilon_lower,
            Num(a.confidence),
            Num(a.delta),
            a.correct,
            a.guesses,
            a.canaries,
            r.p_value_at_zero
        )
    };
    emit(&text)
}

/// Reads the scores from `path` (`-`: standard input): one number per line, or all on one
/// line separated by commas or blanks. Several lines with several numbers on one of them
/// (a table: ids and scores, or two models' scores) are refused rather than read as one
/// list.
fn read_scores(flag: &str, path: &Path) -> Result<Vec<f64>> {
    let mut text = String::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text)
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text))
    };
    if let Err(e) = read {
        return Err(lbounds::Error::invalid(flag, path.display(), e.to_string()).into());
    }
    let mut out = Vec::new();
    let (mut lines, mut wide) = (0, None);
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .collect();
        lines += usize::from(!fields.is_empty());
        if fields.len() > 1 {
            wide.get_or_insert((i + 1, fields.len()));
        }
        if let (true, Some((at, count))) = (lines > 1, wide) {
            return Err(lbounds::Error::Parse {
                what: format!("{} line {at}", path.display()),
                reason: format!(
                    "{count} numbers on a line of a file of several lines: give one score per \
                     line, or all of them on one line"
                ),
            }
            .into());
        }
        for field in fields {
            let x: f64 = field.parse().map_err(|_| lbounds::Error::Parse {
                what: format!("{} line {}", path.display(), i + 1),
                reason: format!("`{}` is not a number", lbounds::error::printable(field)),
            })?;
            if x.is_nan() {
                return Err(lbounds::Error::Parse {
                    what: format!("{} line {}", path.display(), i + 1),
                    reason: "a score is NaN".into(),
                }
                .into());
            }
            out.push(x);
        }
    }
    if out.is_empty() {
        return Err(lbounds::Error::invalid(flag, path.display(), "holds no scores").into());
    }
    Ok(out)
}

/// 1 − α, written as such where α is too small for the difference to show.
pub(super) fn confidence(alpha: f64) -> String {
    if alpha < 1e-4 {
        format!("1 - {alpha:e}")
    } else {
        format!("{}", 1.0 - alpha)
    }
}
