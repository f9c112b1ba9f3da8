//! `lbounds aggregate`: one rule (after optional pre-aggregators) over the vectors of a file.

use super::{emit, pipeline_spec, read_untrusted_updates, CompatArg, INPUT_HELP};
use anyhow::Result;
use lbounds::aggregators::{AggContext, Pipeline};
use lbounds::data::csv::format_vector;
use lbounds::data::Updates;
use lbounds::rng::{rng_from_seed, SimRng};
use nalgebra::DVector;
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Aggregate vectors read from a file (CSV, whitespace-separated text, NumPy .npy) or stdin.
///
/// The input has one vector per row. The output is the aggregate as one CSV line, or with
/// --json an object {"aggregate": [...], "rule": ...}.
///
/// Any row may come from a Byzantine user, so `inf`, `-inf` and `nan` are read: natively a
/// NaN is +inf, a point at infinity that the robust rules set aside, trim or clip (each rule's
/// docs say how); the average says it is not robust to them; --compat byzfl computes what
/// ByzFL 0.0.11 computes on NaN where that is a number and otherwise says that ByzFL returns
/// NaN there (exit 2).
///
/// --repeat K --timing times the aggregation as the benches do (benches/aggregators.rs): one
/// untimed warm-up call, then K timed calls of the rule alone; reading the input is not
/// timed, and with --pre each call gets a fresh copy of the input made outside the timed
/// region (the pre-aggregators rewrite it in place). `seconds_per_call` is the median of the
/// K calls; JSON adds their minimum and mean.
///
/// Examples:
///   lbounds aggregate --rule trmean --f 2 --pre nnm --input grads.csv
///   python -c "import numpy as np; np.save('g.npy', np.random.randn(50, 1000))"
///   lbounds aggregate --rule median --input g.npy --repeat 100 --timing --json
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rule name (snake_case or ByzFL's class name), optionally NAME:KEY=VALUE,... ; see `lbounds list`.
    #[arg(long)]
    rule: String,
    /// Declared number of Byzantine inputs, given to every step that takes `f`.
    #[arg(long)]
    f: Option<usize>,
    /// A parameter of the rule, in ByzFL's spelling (repeatable): --param tau=1.5
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// A pre-aggregator applied before the rule, in order (repeatable): --pre nnm --pre clipping:c=1
    #[arg(long = "pre", value_name = "NAME[:KEY=VALUE,...]")]
    pre: Vec<String>,
    /// Name semantics: native (corrected rules) or byzfl (ByzFL 0.0.11 exactly).
    #[arg(long, value_enum, default_value_t = CompatArg::Native)]
    compat: CompatArg,
    #[arg(long, value_name = "PATH|-", help = INPUT_HELP)]
    input: PathBuf,
    /// The first line of a text input is a header row, whatever it holds.
    #[arg(long)]
    header: bool,
    /// Seed for randomized rules (CAF, SMEA, bucketing).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON instead of a CSV line.
    #[arg(long)]
    json: bool,
    /// Run the aggregation K times (for timing); the output is the last result.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=MAX_REPEAT))]
    repeat: u64,
    /// Report the median seconds per call over --repeat calls, after one warm-up call.
    #[arg(long)]
    timing: bool,
}

/// Most calls `--repeat` accepts (a run of the fastest rule at that count takes seconds).
const MAX_REPEAT: u64 = 10_000_000;

/// Runs the subcommand.
pub fn run(a: Args) -> Result<()> {
    let spec = pipeline_spec(&a.rule, &a.params, &a.pre, a.f)?;
    let pipeline = spec.build(a.compat.into())?;
    // Any row may come from a Byzantine user: ±∞ passes, and natively NaN is +∞.
    let x = read_untrusted_updates(&a.input, a.header, a.compat.into())?;
    pipeline.check_n(x.n())?;
    if a.timing {
        // The warm-up draws from a stream of its own, so the printed aggregate is the same
        // with and without --timing.
        call(&pipeline, &x, &mut rng_from_seed(a.seed))?;
    }
    let mut rng = rng_from_seed(a.seed);
    let mut times = Vec::with_capacity(if a.timing { a.repeat as usize } else { 0 });
    let mut out = None;
    for _ in 0..a.repeat {
        let (agg, took) = call(&pipeline, &x, &mut rng)?;
        if a.timing {
            times.push(took.as_secs_f64());
        }
        out = Some(agg);
    }
    // invariant: repeat ≥ 1 (clap range), so the loop ran.
    let out = out.expect("invariant: at least one call");
    let timing = a.timing.then(|| Timing::of(&mut times));
    let text = if a.json {
        let mut obj = json!({ "aggregate": out.as_slice(), "rule": pipeline.label() });
        if let Some(t) = &timing {
            obj["seconds_per_call"] = json!(t.median);
            obj["seconds_min"] = json!(t.min);
            obj["seconds_mean"] = json!(t.mean);
            obj["repeat"] = json!(a.repeat);
        }
        format!("{obj}\n")
    } else if let Some(t) = &timing {
        format!(
            "{}\nseconds_per_call,{:e}\n",
            format_vector(out.as_slice()),
            t.median
        )
    } else {
        format!("{}\n", format_vector(out.as_slice()))
    };
    emit(&text)
}

/// One aggregation and the time it took, the input copy for pre-aggregators not included.
fn call(p: &Pipeline, x: &Updates, rng: &mut SimRng) -> Result<(DVector<f64>, Duration)> {
    let mut cx = AggContext::new(rng);
    if p.pre.is_empty() {
        let start = Instant::now();
        let out = p.run(x.view(), &mut cx)?;
        Ok((out, start.elapsed()))
    } else {
        let copy = x.clone();
        let start = Instant::now();
        let out = p.run_owned(copy, &mut cx)?;
        Ok((out, start.elapsed()))
    }
}

/// Summary of per-call times, in seconds.
struct Timing {
    median: f64,
    min: f64,
    mean: f64,
}

impl Timing {
    /// `times` must be non-empty (it is sorted in place).
    fn of(times: &mut [f64]) -> Timing {
        times.sort_by(f64::total_cmp);
        let k = times.len();
        let median = if k % 2 == 1 {
            times[k / 2]
        } else {
            0.5 * (times[k / 2 - 1] + times[k / 2])
        };
        Timing {
            median,
            min: times[0],
            mean: times.iter().sum::<f64>() / k as f64,
        }
    }
}
