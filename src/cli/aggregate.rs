//! `lbounds aggregate`: one rule (after optional pre-aggregators) over the vectors of a CSV file.

use super::{emit, pipeline_spec, read_updates, CompatArg};
use anyhow::Result;
use lbounds::aggregators::AggContext;
use lbounds::data::csv::format_vector;
use lbounds::rng::rng_from_seed;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// Aggregate vectors read from a CSV file.
///
/// The input has one vector per line, comma-separated, no header. The output is the aggregate
/// as one CSV line, or with --json an object {"aggregate": [...]}.
///
/// Example: lbounds aggregate --rule trmean --f 2 --pre nnm --input grads.csv
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
    /// CSV file: one vector per line.
    #[arg(long)]
    input: PathBuf,
    /// Seed for randomized rules (CAF, SMEA, bucketing).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON instead of a CSV line.
    #[arg(long)]
    json: bool,
    /// Run the aggregation K times (for timing); the output is the last result.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    repeat: u64,
    /// Report seconds per call (mean over --repeat calls) as `seconds_per_call`.
    #[arg(long)]
    timing: bool,
}

/// Runs the subcommand.
pub fn run(a: Args) -> Result<()> {
    let spec = pipeline_spec(&a.rule, &a.params, &a.pre, a.f)?;
    let pipeline = spec.build(a.compat.into())?;
    let x = read_updates(&a.input)?;
    pipeline.check_n(x.n())?;
    let mut rng = rng_from_seed(a.seed);
    let start = Instant::now();
    let mut out = None;
    for _ in 0..a.repeat {
        out = Some(pipeline.run(x.view(), &mut AggContext::new(&mut rng))?);
    }
    let seconds = start.elapsed().as_secs_f64() / a.repeat as f64;
    // invariant: repeat ≥ 1 (clap range), so the loop ran.
    let out = out.expect("invariant: at least one call");
    let text = if a.json {
        let mut obj = json!({ "aggregate": out.as_slice(), "rule": pipeline.label() });
        if a.timing {
            obj["seconds_per_call"] = json!(seconds);
            obj["repeat"] = json!(a.repeat);
        }
        format!("{obj}\n")
    } else if a.timing {
        format!(
            "{}\nseconds_per_call,{seconds:e}\n",
            format_vector(out.as_slice())
        )
    } else {
        format!("{}\n", format_vector(out.as_slice()))
    };
    emit(&text)
}
