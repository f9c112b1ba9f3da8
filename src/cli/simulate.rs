//! `lbounds simulate`: every robust aggregator against a set of attacks on a simulated
//! heterogeneous population, next to the lower bounds.

use super::{check_threads, emit, set_threads, CompatArg, Progress};
use anyhow::Result;
use lbounds::aggregators::StepSpec;
use lbounds::bounds::applicability::Quantity;
use lbounds::bounds::Kind;
use lbounds::commands::simulate::{self, rule_label, BoundEntry, Bounds, Plan};
use lbounds::commands::Spelling;
use lbounds::data::population::{PopulationConfig, PopulationModel, RecordsPerUser};
use lbounds::experiment::robust::{step_label, RobustAggregation, RobustOutcome, RobustPoint};
use lbounds::experiment::summary::{mean_ci, MeanCi};
use lbounds::experiment::{self, Record};
use lbounds::params::Compat;
use std::fmt::Write as _;

/// Simulate Byzantine users against every robust aggregator, next to the lower bounds.
///
/// A population of n users (each with its own mean and a few noisy records) sends one update
/// per user: the mean of its records. A fraction of users is Byzantine (f = floor(fraction * n))
/// and sends what an attack computes from the honest updates. Each rule aggregates; the table
/// reports the error ||F - mu|| to the true mean (mean over replicates with a 95% confidence
/// interval), the paired difference to the best rule (every rule and attack of a replicate
/// faces the same honest users), the error to the honest mean and the empirical
/// kappa-hat = ||F - honest mean||^2 / honest variance. Beside them stand only the catalogue
/// bounds whose hypotheses match this model (Huber contamination: Byzantine users are added):
/// for Gaussian updates the error is >= sigma * PhiInv(1/(2(1-eta))) (R1-huber, Huber 1964),
/// kappa >= f/(n-2f) (B1, Allouah et al., AISTATS 2023) and the heterogeneity floor B2/B3;
/// every other catalogue value is listed apart with its unit. A rule that cannot run at the
/// setting gets a "not run (reason)" row.
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

/// Runs the subcommand.
pub fn run(a: Args) -> Result<()> {
    let compat: Compat = a.compat.into();
    let population = simulate::population(
        a.n,
        a.d,
        a.byzantine,
        a.heterogeneity,
        a.mean,
        &a.noise,
        a.records,
        a.zipf,
        Spelling::Cli,
    )?;
    let model = population.clone().build()?;
    // The user's count is checked before memory lowers it, so the error names what they typed.
    check_threads(a.threads)?;
    set_threads(threads_that_fit(&a, &model)?)?;
    // Empty --rules / --attacks: the defaults (see `simulate::plan` for what may be left out).
    fn explicit(v: &[String]) -> Option<&[String]> {
        (!v.is_empty()).then_some(v)
    }
    let plan = simulate::plan(
        model,
        explicit(&a.rules),
        &a.pre,
        explicit(&a.attacks),
        a.replicates,
        compat,
        Spelling::Cli,
    )?;
    let bounds = Bounds::new(&plan.model);

    let progress = Progress::new(
        plan.points.len() as u64 * u64::from(a.replicates),
        "simulate",
    );
    let records = experiment::run(
        &RobustAggregation,
        &plan.points,
        a.replicates,
        a.seed,
        &|| progress.tick(),
    )?;
    progress.finish();

    let text = if a.json {
        simulate::json_lines(&records, a.seed, &bounds, &plan.not_run)?
    } else {
        table(&a, &population, &plan, &records, &bounds)
    };
    emit(&text)
}

/// Bytes one run holds at its peak, estimated: the records (Σᵢ mᵢ·d values, Zipf sizes at their
/// maximum), the honest updates (|H|·d), the Byzantine updates (f·d), their concatenation (n·d)
/// and the rule's working copies (two more n·d matrices: sorted columns, pre-aggregated
/// inputs), plus four n × n matrices (the distance-based rules' distances, Gram matrix,
/// scores and neighbour orders), 8 bytes per value. At the defaults with d = 10⁶ that is
/// 8·(10⁶·(450 + 45 + 5 + 150) + 4·50²) ≈ 5.2 GB per run; at n = 10⁶, d = 1 the n × n
/// matrices alone are 32 TB (that run aborted allocating them).
fn bytes_per_run(model: &PopulationModel) -> f64 {
    let c = model.config();
    let per_user = match c.records {
        RecordsPerUser::Fixed { m } => m as f64,
        RecordsPerUser::Zipf { max, .. } => max as f64,
    };
    let (n, h, f) = (model.n() as f64, model.n_honest() as f64, model.f() as f64);
    8.0 * (model.d() as f64 * (h * per_user + h + f + 3.0 * n) + 4.0 * n * n)
}

/// Memory the system can give now: `MemAvailable` of /proc/meminfo (Linux), else `None`.
fn available_bytes() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// The worker threads to use: `--threads` (0 = every core), lowered so that the runs in
/// flight (one per thread) fit in the available memory. Results do not depend on it.
///
/// # Errors
/// When one run alone does not fit (one line naming the estimate and the limit).
fn threads_that_fit(a: &Args, model: &PopulationModel) -> Result<usize> {
    let per_run = bytes_per_run(model);
    let Some(avail) = available_bytes() else {
        return Ok(a.threads);
    };
    let gb = |b: f64| format!("{:.1} GB", b / 1e9);
    if per_run > avail {
        anyhow::bail!(
            "one run needs about {} (8 bytes x (d = {} x (records + updates + 3n working copies) + 4n^2 pairwise values)), more than the {} of memory available; lower --d, --n or --records",
            gb(per_run),
            model.d(),
            gb(avail)
        );
    }
    let wanted = if a.threads > 0 {
        a.threads
    } else {
        std::thread::available_parallelism().map_or(1, |p| p.get())
    };
    let fit = ((avail / per_run).floor() as usize).max(1);
    if fit < wanted {
        eprintln!(
            "note: running {fit} thread(s) instead of {wanted}: each run needs about {} and {} is available (results do not depend on the thread count)",
            gb(per_run),
            gb(avail)
        );
        return Ok(fit);
    }
    Ok(a.threads)
}

/// Per-cell summary over replicates.
struct Cell {
    /// ‖F − μ‖ per replicate (`None` where the run produced no metrics).
    errors: Vec<Option<f64>>,
    /// Mean ± CI of the errors of the runs that produced metrics.
    error: Option<MeanCi>,
    /// Mean ‖F − x̄_H‖.
    to_honest: Option<f64>,
    /// Mean κ̂ (+∞ when any run had coinciding honest updates and F missed them).
    kappa: Option<f64>,
    /// Runs with no finite aggregate.
    failed: usize,
    /// Why the cell did not run, when no replicate ran.
    not_run: Option<String>,
}

fn summarise(outcomes: &[&RobustOutcome]) -> Cell {
    let mut errors = Vec::new();
    let mut to_honest = Vec::new();
    let mut kappas = Vec::new();
    let mut failed = 0;
    let mut not_run = None;
    for o in outcomes {
        match o {
            RobustOutcome::Ok(m) => {
                errors.push(Some(m.error));
                to_honest.push(m.error_to_honest_mean);
                kappas.push(m.kappa_hat);
            }
            RobustOutcome::Failed { .. } => {
                errors.push(None);
                failed += 1
            }
            RobustOutcome::NotApplicable { reason } => {
                errors.push(None);
                not_run.get_or_insert_with(|| reason.clone());
            }
        }
    }
    let ok: Vec<f64> = errors.iter().flatten().copied().collect();
    Cell {
        error: mean_ci(&ok, 0.95),
        to_honest: mean_ci(&to_honest, 0.95).map(|c| c.mean),
        kappa: if kappas.contains(&f64::INFINITY) {
            Some(f64::INFINITY)
        } else {
            mean_ci(&kappas, 0.95).map(|c| c.mean)
        },
        errors,
        failed,
        not_run: if ok.is_empty() && failed == 0 {
            not_run
        } else {
            None
        },
    }
}

/// A column label for an attack: its name, or the initials of a long snake_case name, then its
/// parameters (`alie:z=2`), so two variants of one attack never share a header.
fn attack_label(step: &StepSpec) -> String {
    step_label(&StepSpec {
        name: short(&step.name),
        params: step.params.clone(),
    })
}

fn table(
    a: &Args,
    population: &PopulationConfig,
    plan: &Plan,
    records: &[Record<RobustPoint, RobustOutcome>],
    bounds: &Bounds,
) -> String {
    let (defences, attacks) = (&plan.defences, &plan.attacks);
    let (not_run, attacks_not_run) = (&plan.not_run, &plan.attacks_not_run);
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
        not_run: Option<String>,
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
            let not_run = if cells.iter().all(|c| c.not_run.is_some()) {
                cells[0].not_run.clone()
            } else {
                None
            };
            Row {
                label: rule_label(d),
                cells,
                worst,
                kappa_worst,
                any_failed,
                not_run,
            }
        })
        .collect();
    // Best rule first: rules with failed runs (no finite aggregate) after those without, rules
    // that did not run last, then by worst-case error.
    rows.sort_by(|x, y| {
        let key = |r: &Row| {
            (
                r.not_run.is_some(),
                r.any_failed,
                r.worst.map_or(f64::INFINITY, |w| w.1.mean),
            )
        };
        let (nx, fx, ex) = key(x);
        let (ny, fy, ey) = key(y);
        nx.cmp(&ny).then(fx.cmp(&fy)).then(ex.total_cmp(&ey))
    });
    // Paired differences to the best rule: both worst cells ran on the same honest users in
    // every replicate (common random numbers), so the CI of the difference is that of a
    // paired sample, narrower than the two CIs side by side.
    let best_errors: Option<Vec<Option<f64>>> = rows
        .first()
        .and_then(|b| b.worst.map(|(ai, _)| b.cells[ai].errors.clone()));
    let vs_best = |r: &Row| -> Option<MeanCi> {
        let best = best_errors.as_ref()?;
        let (ai, _) = r.worst?;
        let diffs: Option<Vec<f64>> = r.cells[ai]
            .errors
            .iter()
            .zip(best)
            .map(|(x, b)| Some((*x)? - (*b)?))
            .collect();
        mean_ci(&diffs?, 0.95)
    };

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
    let _ = writeln!(
        s,
        "every rule and attack of a replicate faces the same honest users (common random numbers)"
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "error ||F - mu|| to the true mean: mean over replicates, +- 95% CI half-width; best rule first"
    );
    let labels: Vec<String> = attacks.iter().map(attack_label).collect();
    let rule_w = rows
        .iter()
        .map(|r| r.label.len())
        .chain(not_run.iter().map(|(l, _)| l.len()))
        .max()
        .unwrap_or(4)
        .max(4);
    let worst_w = labels.iter().map(String::len).max().unwrap_or(5).max(5);
    let _ = write!(
        s,
        "{:<rule_w$}  {:>17}  {:>19}  {:<worst_w$}  {:>9}  {:>9}",
        "rule", "worst-case error", "vs best (paired)", "worst", "||F-x_H||", "kappa^"
    );
    for l in &labels {
        let w = l.len().max(7);
        let _ = write!(s, "  {:>w$}", l);
    }
    let _ = writeln!(s);
    for (i, r) in rows.iter().enumerate() {
        if let Some(why) = &r.not_run {
            let _ = writeln!(s, "{:<rule_w$}  not run ({why})", r.label);
            continue;
        }
        let (worst_err, worst_att, to_honest) = match r.worst {
            Some((ai, e)) => (
                format!("{} +- {}", num(e.mean), num(e.half_width)),
                labels[ai].clone(),
                r.cells[ai].to_honest.map_or("-".to_string(), num),
            ),
            None => ("-".to_string(), "-".to_string(), "-".to_string()),
        };
        let paired = match (i, vs_best(r)) {
            (0, _) => "(best)".to_string(),
            (_, Some(d)) => format!(
                "{}{} +- {}",
                if d.mean >= 0.0 { "+" } else { "" },
                num(d.mean),
                num(d.half_width)
            ),
            (_, None) => "-".to_string(),
        };
        let kappa = r.kappa_worst.map_or("-".to_string(), num);
        let _ = write!(
            s,
            "{:<rule_w$}  {:>17}  {:>19}  {:<worst_w$}  {:>9}  {:>9}",
            r.label, worst_err, paired, worst_att, to_honest, kappa
        );
        for (c, l) in r.cells.iter().zip(&labels) {
            let w = l.len().max(7);
            let v = match (c.error, c.failed, &c.not_run) {
                (_, _, Some(_)) => "n/a".to_string(),
                (_, k, _) if k > 0 => "fail".to_string(),
                (Some(e), _, _) => num(e.mean),
                (None, _, _) => "-".to_string(),
            };
            let _ = write!(s, "  {:>w$}", v);
        }
        let _ = writeln!(s);
    }
    // Rules that cannot run at this setting: their row says why, the table stands.
    for (rule, why) in not_run {
        let _ = writeln!(s, "{rule:<rule_w$}  not run ({why})");
    }
    let _ = writeln!(s);
    bounds_text(&mut s, bounds, population, f);
    let legend: Vec<String> = attacks
        .iter()
        .zip(&labels)
        .filter(|(at, l)| step_label(at) != **l)
        .map(|(at, l)| format!("{l} = {}", step_label(at)))
        .collect();
    if !legend.is_empty() {
        let _ = writeln!(s, "attacks: {}", legend.join(", "));
    }
    let _ = writeln!(
        s,
        "||F-x_H|| = error to the mean of the honest updates at the worst attack; kappa^ = ||F - x_H||^2 / honest variance (mean over replicates, largest over attacks; inf when the honest updates coincide and F misses them)"
    );
    let _ = writeln!(
        s,
        "vs best = paired mean difference of the worst-case errors to the best rule, +- 95% CI; fail = no finite aggregate; n/a = did not run"
    );
    for (attack, why) in attacks_not_run {
        let _ = writeln!(s, "not run: attack {attack}: {why}");
    }
    s
}

/// The bounds beside the measured columns, then every other catalogue value at the setting.
fn bounds_text(s: &mut String, bounds: &Bounds, population: &PopulationConfig, f: usize) {
    let sigma = bounds.setting.get("sigma").copied();
    let setting = bounds
        .setting
        .iter()
        .map(|(k, v)| {
            let v = if v.fract() == 0.0 && v.abs() < 1e15 {
                v.to_string()
            } else {
                num(*v)
            };
            match k.as_str() {
                // B2/B3's G: the honest updates' dissimilarity, not the target heterogeneity.
                "G" => format!("G = {v} (root of the honest updates' expected dissimilarity)"),
                "sigma" => format!("sigma = {v} (per coordinate of an update)"),
                _ => format!("{k} = {v}"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        s,
        "lower bounds on the measured columns: Huber contamination (f Byzantine users added to n - f honest users){}; at {setting}",
        match sigma {
            Some(_) => ", honest updates i.i.d. N(mu, sigma^2 I)",
            None => "; the honest updates are not Gaussian here",
        }
    );
    let id_w = bounds
        .order
        .iter()
        .map(|id| id.len())
        .max()
        .unwrap_or(2)
        .max(2);
    let value = |e: &BoundEntry| match (e.value, &e.note) {
        (Some(v), _) => num(v),
        (None, Some(n)) if n.contains("not evaluated") => "n/a".to_string(),
        (None, _) => "inf".to_string(),
    };
    // "exact" is an explicit valid constant; "tight" adds that a matching estimator is shown.
    let kind = |e: &BoundEntry| match (e.kind, e.tight) {
        (Kind::Exact, true) => "tight",
        (k, _) => k.label(),
    };
    let _ = writeln!(
        s,
        "  {:<id_w$}  {:>9}  {:<9}  {:<12}  beside: quantity",
        "id", "bound", "kind", "status"
    );
    for id in &bounds.order {
        let e = &bounds.entries[*id];
        if !e.applies {
            continue;
        }
        let column = match e.quantity {
            Quantity::Error => "worst-case error",
            Quantity::ErrorToHonestMean => "||F-x_H||",
            Quantity::Kappa => "kappa^",
            Quantity::Other => "-",
        };
        let _ = writeln!(
            s,
            "  {:<id_w$}  {:>9}  {:<9}  {:<12}  {column}: {}",
            id,
            value(e),
            kind(e),
            e.status.label(),
            e.unit
        );
    }
    if let Some(sig) = sigma {
        let nh = (population.n - f) as f64;
        let _ = writeln!(
            s,
            "  for scale: with no attack, the mean of the n-f honest updates has RMS error sigma*sqrt(d/(n-f)) = {:.4},\n    the exact minimax risk of Gaussian location from n-f samples",
            sig * (population.d as f64 / nh).sqrt()
        );
    }
    let _ = writeln!(
        s,
        "  B1, B2, B3 are suprema over honest inputs: a value measured below them means no attack here reached the worst case"
    );
    let _ = writeln!(
        s,
        "other catalogue values (different model or units); details: lbounds bounds show ID"
    );
    for id in &bounds.order {
        let e = &bounds.entries[*id];
        if e.applies {
            continue;
        }
        let why = e
            .note
            .as_deref()
            .unwrap_or("")
            .trim_start_matches("does not apply: ");
        let _ = writeln!(
            s,
            "  {:<id_w$}  {:>9}  {:<9}  {}: {why}",
            id,
            value(e),
            kind(e),
            e.unit
        );
    }
}

/// Four significant figures in at most 9 characters: fixed point in [1e-3, 1e4), else scientific.
fn num(x: f64) -> String {
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if x == 0.0 || (1e-3..1e4).contains(&x.abs()) {
        format!("{x:.4}")
    } else {
        format!("{x:.2e}")
    }
}

/// A short name: the name if short, else the initials of its words (legend printed below).
fn short(name: &str) -> String {
    if name.len() <= 8 || !name.contains('_') {
        name.to_string()
    } else {
        name.split('_').filter_map(|w| w.chars().next()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known answer: defaults (n = 50, f = 5, m = 10) at d = 10⁶ hold 8·(10⁶·(450 + 45 + 5 +
    /// 150) + 4·50²) = 5.20008e9 bytes per run, the figure the up-front check compares with
    /// free memory; n = 30 000 users (f = 3 000) at d = 1 hold 8·((270 000 + 27 000 + 3 000 +
    /// 90 000) + 4·9·10⁸) = 2.880312e10, the n × n matrices almost all of it.
    #[test]
    fn memory_estimate_known_answer() {
        let model = |n, d| {
            PopulationConfig {
                n,
                d,
                byzantine_fraction: 0.1,
                records: RecordsPerUser::Fixed { m: 10 },
                ..PopulationConfig::default()
            }
            .build()
            .unwrap()
        };
        assert_eq!(bytes_per_run(&model(50, 1_000_000)), 5.20008e9);
        assert_eq!(bytes_per_run(&model(30_000, 1)), 2.880312e10);
    }
}
