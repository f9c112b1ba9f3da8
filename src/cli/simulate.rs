//! `lbounds simulate`: every robust aggregator against a set of attacks on a simulated
//! heterogeneous population, next to the lower bounds.

use super::{emit, set_threads, CompatArg, Progress};
use anyhow::Result;
use lbounds::aggregators::{PipelineSpec, StepSpec, RULES};
use lbounds::attacks::ATTACKS;
use lbounds::bounds::{Info, Kind, Value};
use lbounds::data::noise::Noise;
use lbounds::data::population::{PopulationConfig, RecordsPerUser};
use lbounds::experiment::robust::{RobustAggregation, RobustOutcome, RobustPoint};
use lbounds::experiment::summary::{mean_ci, MeanCi};
use lbounds::experiment::{self, Record};
use lbounds::params::Compat;
use lbounds::params::Params;
use serde::Serialize;
use std::fmt::Write as _;

/// The attacks `simulate` runs by default: every registered attack except `inf`, whose
/// infinite vectors most rules reject by design (ask for it with --attacks inf).
const DEFAULT_SKIPPED_ATTACKS: &[&str] = &["inf"];

/// Simulate Byzantine users against every robust aggregator, next to the lower bounds.
///
/// A population of n users (each with its own mean and a few noisy records) sends one update
/// per user: the mean of its records. A fraction of users is Byzantine (f = floor(fraction * n))
/// and sends what an attack computes from the honest updates. Each rule aggregates; the table
/// reports the error ||F - mu|| to the true mean (mean over replicates with a 95% confidence
/// interval), the empirical kappa-hat = ||F - honest mean||^2 / honest variance, and every lower
/// bound of the catalogue (`lbounds bounds list`) that the setting determines: kappa >= f/(n-2f)
/// (B1, Allouah et al., AISTATS 2023), for Gaussian noise error >= sigma * PhiInv(1/(2(1-eta)))
/// (R1, Huber 1964) with eta = f/n, the heterogeneity floors B2/B3, and more.
///
/// Example: lbounds simulate --byzantine 0.2 --d 100 --rules median,trmean --json
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Fraction of Byzantine users in [0, 0.5); f = floor(fraction * n).
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    byzantine: f64,
    /// Number of users n (honest + Byzantine).
    #[arg(long, default_value_t = 50)]
    n: usize,
    /// Dimension d of each update.
    #[arg(long, default_value_t = 10)]
    d: usize,
    /// Every coordinate of the true mean mu. Not 0 by default, so that the `origin` attack
    /// (all Byzantine users send 0) is not accidentally the truth.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    mean: f64,
    /// Within-user noise: gaussian:sigma=S, student_t:nu=V,scale=S, lognormal:sigma=S,
    /// or pareto:alpha=A,scale=S (heavy tails).
    #[arg(long, default_value = "gaussian:sigma=1")]
    noise: String,
    /// Target heterogeneity G^2: spread of the honest users' means (the measured G^2 is reported).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    heterogeneity: f64,
    /// Records per user (each update is the mean of its user's records).
    #[arg(long, default_value_t = 10)]
    records: usize,
    /// Long-tailed user sizes instead: Zipf(s) record counts on 1..=records.
    #[arg(long, value_name = "S")]
    zipf: Option<f64>,
    /// Rules to run, comma-separated (default: every rule; see `lbounds list`).
    #[arg(long, value_delimiter = ',')]
    rules: Vec<String>,
    /// Pre-aggregators applied before every rule, in order (repeatable), e.g. --pre nnm.
    #[arg(long = "pre", value_name = "NAME[:KEY=VALUE,...]")]
    pre: Vec<String>,
    /// Attacks to run, comma-separated (default: every attack except inf).
    #[arg(long, value_delimiter = ',')]
    attacks: Vec<String>,
    /// Replicates per (rule, attack) cell.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    replicates: u32,
    /// Seed of every random stream (runs are keyed by seed, cell and replicate).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Name semantics: native (corrected rules) or byzfl (ByzFL 0.0.11 exactly).
    #[arg(long, value_enum, default_value_t = CompatArg::Native)]
    compat: CompatArg,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print one JSON record per run (JSON Lines) instead of the table.
    #[arg(long)]
    json: bool,
}

/// One catalogue entry evaluated at the setting.
#[derive(Clone, Debug, Serialize)]
struct BoundEntry {
    /// The lower bound; `None` when infinite (past a breakdown point).
    value: Option<f64>,
    /// The matching upper bound, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    upper: Option<f64>,
    /// `exact` or `order`.
    kind: Kind,
    /// `verified`, `derived_here` or `to_verify`.
    status: lbounds::bounds::Status,
    /// Why the value is infinite, or why the entry does not apply here.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// The lower bounds that apply at one setting: every catalogue entry whose parameters the
/// setting determines (`n`, `f`, `eta` = f/n, `d`, `sigma` = per-coordinate std of an honest
/// update when known, `G` = sqrt(target heterogeneity), `m` = records per user when fixed),
/// keyed by id. Entries whose hypotheses fail here carry a note and no value.
#[derive(Clone, Debug, Serialize)]
struct Bounds {
    /// The parameters the entries were evaluated at.
    setting: std::collections::BTreeMap<String, f64>,
    /// Catalogue id → value.
    #[serde(flatten)]
    entries: std::collections::BTreeMap<String, BoundEntry>,
    /// Catalogue order, for the table.
    #[serde(skip)]
    order: Vec<(&'static Info, String)>,
}

impl Bounds {
    fn new(setting: &Params) -> Bounds {
        let mut entries = std::collections::BTreeMap::new();
        let mut order = Vec::new();
        for (info, r) in super::bounds::applicable(setting) {
            let e = match r {
                Ok(v) => BoundEntry {
                    value: v.as_f64(),
                    upper: v.upper,
                    kind: info.kind,
                    status: info.status,
                    note: match v.value {
                        Value::Infinite { reason } => Some(reason),
                        Value::Finite(_) => None,
                    },
                },
                Err(e) => BoundEntry {
                    value: None,
                    upper: None,
                    kind: info.kind,
                    status: info.status,
                    note: Some(format!("not applicable: {e}")),
                },
            };
            order.push((info, info.id.to_string()));
            entries.insert(info.id.to_string(), e);
        }
        Bounds {
            setting: setting.0.clone(),
            entries,
            order,
        }
    }
}

#[derive(Serialize)]
struct JsonRecord<'a> {
    point: u64,
    replicate: u32,
    seed: u64,
    rule: String,
    attack: &'a str,
    params: &'a RobustPoint,
    output: &'a RobustOutcome,
    bounds: &'a Bounds,
}

/// Runs the subcommand.
pub fn run(a: Args) -> Result<()> {
    set_threads(a.threads)?;
    let compat: Compat = a.compat.into();
    let population = population_config(&a)?;
    let model = population.clone().build()?;
    let (n, f) = (model.n(), model.f());

    let rule_names: Vec<String> = if a.rules.is_empty() {
        RULES.iter().map(|s| s.name.to_string()).collect()
    } else {
        a.rules.clone()
    };
    let attack_names: Vec<String> = if a.attacks.is_empty() {
        ATTACKS
            .iter()
            .map(|s| s.name)
            .filter(|n| !DEFAULT_SKIPPED_ATTACKS.contains(n))
            .map(str::to_string)
            .collect()
    } else {
        a.attacks.clone()
    };

    // Validate every name first. A rule of the default set whose requirement fails at this n
    // and f is reported as not run; a rule the user asked for by name is an error.
    let mut defences = Vec::new();
    let mut not_run = Vec::new();
    for r in &rule_names {
        let spec = super::pipeline_spec(r, &[], &a.pre, Some(f))?;
        let pipeline = spec.build(compat)?;
        match pipeline.check_n(n) {
            Ok(()) => defences.push(spec),
            Err(e @ lbounds::Error::TooFewInputs { .. }) if a.rules.is_empty() => {
                not_run.push((spec.label(), e.to_string()))
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut attacks = Vec::new();
    for name in &attack_names {
        let step = StepSpec::parse(name)?;
        lbounds::attacks::build(&step.name, &step.params, compat)?;
        attacks.push(step);
    }
    if defences.is_empty() {
        anyhow::bail!(
            "no rule can run with n = {n} and f = {f}: {}",
            not_run
                .iter()
                .map(|(r, e)| format!("{r}: {e}"))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }

    let points: Vec<RobustPoint> = defences
        .iter()
        .flat_map(|d| {
            attacks.iter().map(|at| RobustPoint {
                population: population.clone(),
                defence: d.clone(),
                attack: at.clone(),
                compat,
            })
        })
        .collect();

    let update_sigma = model.update_sigma();
    let eta = f as f64 / n as f64;
    let mut setting = Params::new()
        .with("n", n as f64)
        .with("f", f as f64)
        .with("eta", eta)
        .with("d", a.d as f64)
        .with("G", a.heterogeneity.max(0.0).sqrt());
    if let Some(s) = update_sigma {
        setting.set("sigma", s);
    }
    if a.zipf.is_none() {
        setting.set("m", a.records as f64);
    }
    let bounds = Bounds::new(&setting);

    let progress = Progress::new(points.len() as u64 * u64::from(a.replicates), "simulate");
    let records = experiment::run(&RobustAggregation, &points, a.replicates, a.seed, &|| {
        progress.tick()
    })?;
    progress.finish();

    let text = if a.json {
        json_lines(&records, a.seed, &bounds)?
    } else {
        table(
            &a,
            &population,
            &defences,
            &attacks,
            &records,
            &bounds,
            &not_run,
        )
    };
    emit(&text)
}

/// The population the flags describe.
fn population_config(a: &Args) -> Result<PopulationConfig> {
    let records = match a.zipf {
        Some(s) => RecordsPerUser::Zipf {
            s,
            max: a.records as u64,
        },
        None => RecordsPerUser::Fixed { m: a.records },
    };
    Ok(PopulationConfig {
        n: a.n,
        d: a.d,
        byzantine_fraction: a.byzantine,
        heterogeneity: a.heterogeneity,
        mean: a.mean,
        noise: parse_noise(&a.noise)?,
        records,
        ..PopulationConfig::default()
    })
}

/// Parses `--noise KIND[:KEY=VALUE,...]` into the population's noise model.
fn parse_noise(spec: &str) -> Result<Noise> {
    Ok(
        lbounds::experiment::config::parse_noise(spec).map_err(|e| match e {
            lbounds::Error::InvalidParameter { reason, .. } => {
                lbounds::Error::invalid("--noise", spec, reason)
            }
            other => other,
        })?,
    )
}

fn json_lines(
    records: &[Record<RobustPoint, RobustOutcome>],
    seed: u64,
    bounds: &Bounds,
) -> Result<String> {
    let mut s = String::new();
    for r in records {
        let line = serde_json::to_string(&JsonRecord {
            point: r.point,
            replicate: r.replicate,
            seed,
            rule: r.params.defence.label(),
            attack: &r.params.attack.name,
            params: &r.params,
            output: &r.output,
            bounds,
        })?;
        s.push_str(&line);
        s.push('\n');
    }
    Ok(s)
}

/// Per-cell summary: error mean ± CI, mean κ̂, failures.
struct Cell {
    error: Option<MeanCi>,
    kappa: Option<f64>,
    failed: usize,
}

fn summarise(outcomes: &[&RobustOutcome]) -> Cell {
    let mut errors = Vec::new();
    let mut kappas = Vec::new();
    let mut failed = 0;
    for o in outcomes {
        match o {
            RobustOutcome::Ok(m) => {
                errors.push(m.error);
                kappas.push(m.kappa_hat);
            }
            RobustOutcome::Failed { .. } | RobustOutcome::NotApplicable { .. } => failed += 1,
        }
    }
    Cell {
        error: mean_ci(&errors, 0.95),
        kappa: mean_ci(&kappas, 0.95).map(|c| c.mean),
        failed,
    }
}

fn table(
    a: &Args,
    population: &PopulationConfig,
    defences: &[PipelineSpec],
    attacks: &[StepSpec],
    records: &[Record<RobustPoint, RobustOutcome>],
    bounds: &Bounds,
    not_run: &[(String, String)],
) -> String {
    let reps = a.replicates as usize;
    let n_att = attacks.len();
    let cell_outcomes = |di: usize, ai: usize| -> Vec<&RobustOutcome> {
        let start = (di * n_att + ai) * reps;
        records[start..start + reps]
            .iter()
            .map(|r| &r.output)
            .collect()
    };
    // One row per defence: the cells, the worst attack (largest mean error) and its κ̂.
    struct Row {
        label: String,
        cells: Vec<Cell>,
        worst: Option<(usize, MeanCi)>,
        kappa_worst: Option<f64>,
        any_failed: bool,
    }
    let mut rows: Vec<Row> = defences
        .iter()
        .enumerate()
        .map(|(di, d)| {
            let cells: Vec<Cell> = (0..n_att)
                .map(|ai| summarise(&cell_outcomes(di, ai)))
                .collect();
            let worst = cells
                .iter()
                .enumerate()
                .filter_map(|(ai, c)| c.error.map(|e| (ai, e)))
                .max_by(|x, y| x.1.mean.total_cmp(&y.1.mean));
            let kappa_worst = cells.iter().filter_map(|c| c.kappa).max_by(f64::total_cmp);
            let any_failed = cells.iter().any(|c| c.failed > 0);
            Row {
                label: d.label(),
                cells,
                worst,
                kappa_worst,
                any_failed,
            }
        })
        .collect();
    // Best rule first: rules with failed runs (no finite aggregate) last, then by worst-case error.
    rows.sort_by(|x, y| {
        let key = |r: &Row| (r.any_failed, r.worst.map_or(f64::INFINITY, |w| w.1.mean));
        let (fx, ex) = key(x);
        let (fy, ey) = key(y);
        fx.cmp(&fy).then(ex.total_cmp(&ey))
    });

    let g2: Vec<f64> = records
        .iter()
        .filter_map(|r| match &r.output {
            RobustOutcome::Ok(m) => Some(m.g2),
            RobustOutcome::Failed { .. } | RobustOutcome::NotApplicable { .. } => None,
        })
        .collect();
    let g2_mean = mean_ci(&g2, 0.95).map_or(f64::NAN, |c| c.mean);

    let mut s = String::new();
    let f = lbounds::data::population::byzantine_count(population.byzantine_fraction, population.n);
    let _ = writeln!(
        s,
        "lbounds simulate: n = {} users, f = {} Byzantine (floor({} * {})), d = {}, {} noise, {}",
        population.n,
        f,
        a.byzantine,
        population.n,
        population.d,
        a.noise,
        match a.zipf {
            Some(z) => format!("Zipf({z}) records per user on 1..={}", a.records),
            None => format!("{} records per user", a.records),
        }
    );
    let _ = writeln!(
        s,
        "mean mu = {} per coordinate; heterogeneity: target G^2 = {}, measured G^2 = {:.4} (mean over runs); {} replicates per cell, seed {}, compat {}",
        a.mean,
        a.heterogeneity,
        g2_mean,
        reps,
        a.seed,
        match a.compat {
            CompatArg::Native => "native",
            CompatArg::Byzfl => "byzfl",
        }
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "error ||F - mu|| to the true mean: mean over replicates, +- 95% CI half-width; best rule first"
    );
    let labels: Vec<String> = attacks.iter().map(|at| short(&at.name)).collect();
    let rule_w = rows.iter().map(|r| r.label.len()).max().unwrap_or(4).max(4);
    let _ = write!(
        s,
        "{:<rule_w$}  {:>17}  {:<8}  {:>8}",
        "rule", "worst-case error", "worst", "kappa^"
    );
    for l in &labels {
        let _ = write!(s, "  {:>7}", l);
    }
    let _ = writeln!(s);
    for r in &rows {
        let (worst_err, worst_att) = match r.worst {
            Some((ai, e)) => (
                format!("{} +- {}", num(e.mean), num(e.half_width)),
                labels[ai].clone(),
            ),
            None => ("-".to_string(), "-".to_string()),
        };
        let kappa = r.kappa_worst.map_or("-".to_string(), num);
        let _ = write!(
            s,
            "{:<rule_w$}  {:>17}  {:<8}  {:>8}",
            r.label, worst_err, worst_att, kappa
        );
        for c in &r.cells {
            let v = match (c.error, c.failed) {
                (_, k) if k > 0 => "fail".to_string(),
                (Some(e), _) => num(e.mean),
                (None, _) => "-".to_string(),
            };
            let _ = write!(s, "  {:>7}", v);
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "lower bounds from the catalogue at this setting ({}); details: lbounds bounds show ID",
        bounds
            .setting
            .iter()
            .map(|(k, v)| if v.fract() == 0.0 && v.abs() < 1e15 {
                format!("{k} = {v}")
            } else {
                format!("{k} = {}", num(*v))
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    let id_w = bounds
        .order
        .iter()
        .map(|(_, id)| id.len())
        .max()
        .unwrap_or(2)
        .max(2);
    let _ = writeln!(
        s,
        "  {:<id_w$}  {:>9}  {:>9}  {:<5}  {:<12}  statement",
        "id", "bound", "upper", "kind", "status"
    );
    for (info, id) in &bounds.order {
        let e = &bounds.entries[id];
        let value = match (e.value, &e.note) {
            (Some(v), _) => num(v),
            (None, Some(n)) if n.starts_with("not applicable") => "n/a".to_string(),
            (None, _) => "inf".to_string(),
        };
        let upper = e.upper.map_or("-".to_string(), num);
        let _ = writeln!(
            s,
            "  {:<id_w$}  {:>9}  {:>9}  {:<5}  {:<12}  {}",
            id,
            value,
            upper,
            info.kind.label(),
            info.status.label(),
            info.name
        );
    }
    for (_, id) in &bounds.order {
        if let Some(n) = &bounds.entries[id].note {
            let _ = writeln!(s, "  {id}: {n}");
        }
    }
    if update_sigma_of(bounds).is_none() {
        let _ = writeln!(
            s,
            "  the Gaussian bounds (R1, R3, R6, B7, B8) need Gaussian updates with a known sigma (Gaussian noise, fixed records per user)"
        );
    }
    if let Some(sig) = update_sigma_of(bounds) {
        let nh = (population.n - f) as f64;
        let _ = writeln!(
            s,
            "  for scale: with no attack, the mean of the n-f honest updates has RMS error sigma*sqrt(d/(n-f)) = {:.4},\n    the exact minimax risk of Gaussian location from n-f samples",
            sig * (population.d as f64 / nh).sqrt()
        );
    }
    let _ = writeln!(
        s,
        "kappa^ below the bound means no attack here found the worst case for that rule; the bound is a supremum over inputs"
    );
    let legend: Vec<String> = attacks
        .iter()
        .zip(&labels)
        .filter(|(at, l)| at.name != **l)
        .map(|(at, l)| format!("{l} = {}", at.name))
        .collect();
    if !legend.is_empty() {
        let _ = writeln!(s, "attacks: {}", legend.join(", "));
    }
    let _ = writeln!(
        s,
        "kappa^ = ||F - honest mean||^2 / honest variance (mean over replicates, largest over attacks); fail = no finite aggregate"
    );
    for (rule, why) in not_run {
        let _ = writeln!(s, "not run: {rule}: {why}");
    }
    s
}

fn update_sigma_of(b: &Bounds) -> Option<f64> {
    b.setting.get("sigma").copied()
}

/// Four significant figures in at most 9 characters: fixed point in [1e-3, 1e4), else scientific.
fn num(x: f64) -> String {
    if x == 0.0 || (1e-3..1e4).contains(&x.abs()) {
        format!("{x:.4}")
    } else {
        format!("{x:.2e}")
    }
}

/// A column label: the name if short, else the initials of its words (legend printed below).
fn short(name: &str) -> String {
    if name.len() <= 8 || !name.contains('_') {
        name.to_string()
    } else {
        name.split('_').filter_map(|w| w.chars().next()).collect()
    }
}
