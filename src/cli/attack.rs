//! `lbounds attack`: what the f Byzantine users send against the honest vectors of a file.

use super::{emit, parse_params, pipeline_spec, read_updates, CompatArg, INPUT_HELP};
use anyhow::Result;
use lbounds::attacks;
use lbounds::commands::defence::{attack_then_aggregate, Attacked};
use lbounds::data::csv::format_vector;
use serde_json::json;
use std::path::PathBuf;

/// Compute the Byzantine vectors for honest vectors read from a file (CSV, whitespace-separated
/// text, NumPy .npy) or stdin.
///
/// Output: the Byzantine vector as one CSV line (ByzFL's attacks send f identical copies); an
/// attack that sends different vectors (two_world) prints f lines. With --then-aggregate the f
/// vectors are appended after the honest rows and the defence's aggregate is printed instead.
/// With --json: {"byzantine": [...]} (a list of f vectors when they differ), plus "aggregate".
///
/// Example: lbounds attack --attack a_little_is_enough --f 10 --input honest.csv
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Attack name (snake_case or ByzFL's class name); see `lbounds list`.
    #[arg(long)]
    attack: String,
    /// Number of Byzantine users (≥ 1); also the declared f of every defence step that takes f.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    f: u64,
    /// A parameter of the attack, in ByzFL's spelling (repeatable): --param tau=3
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// The defence's rule (NAME[:KEY=VALUE,...]); optimal attacks search against it.
    /// Without it they attack ByzFL's default, average after clipping(c=2).
    #[arg(long)]
    rule: Option<String>,
    /// Pre-aggregators of the defence, in order (repeatable).
    #[arg(long = "pre", value_name = "NAME[:KEY=VALUE,...]")]
    pre: Vec<String>,
    /// Name semantics: native or byzfl (ByzFL 0.0.11 exactly).
    #[arg(long, value_enum, default_value_t = CompatArg::Native)]
    compat: CompatArg,
    #[arg(long, value_name = "PATH|-", help = INPUT_HELP)]
    input: PathBuf,
    /// The first line of a text input is a header row, whatever it holds.
    #[arg(long)]
    header: bool,
    /// Seed for randomized attacks and defences.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Append the Byzantine vectors to the honest ones and print the defence's aggregate.
    #[arg(long)]
    then_aggregate: bool,
}

/// Runs the subcommand.
pub fn run(a: Args) -> Result<()> {
    let compat = a.compat.into();
    let f = usize::try_from(a.f)?;
    let attack = attacks::build(&a.attack, &parse_params(&a.params)?, compat)?;
    if a.then_aggregate && a.rule.is_none() {
        anyhow::bail!("--then-aggregate needs --rule (the defence to run)");
    }
    if a.rule.is_none() && !a.pre.is_empty() {
        anyhow::bail!("--pre needs --rule (pre-aggregators belong to a defence)");
    }
    let defence = match &a.rule {
        Some(rule) => Some(pipeline_spec(rule, &[], &a.pre, Some(f))?.build(compat)?),
        None => None,
    };
    let honest = read_updates(&a.input, a.header)?;
    let Attacked {
        byzantine: byz,
        aggregate,
    } = attack_then_aggregate(
        honest.view(),
        attack.as_ref(),
        f,
        defence.as_ref(),
        a.seed,
        a.then_aggregate,
    )?;
    let bv = byz.view();
    let identical = bv.cols().all(|c| c == bv.col(0));
    let text = if a.json {
        let byzantine = if identical {
            vector_json(bv.col(0))
        } else {
            serde_json::Value::Array(bv.cols().map(vector_json).collect())
        };
        let mut obj = json!({ "attack": attack.name(), "f": f, "byzantine": byzantine });
        if let Some(agg) = &aggregate {
            obj["aggregate"] = vector_json(agg.as_slice());
        }
        format!("{obj}\n")
    } else if let Some(agg) = &aggregate {
        format!("{}\n", format_vector(agg.as_slice()))
    } else if identical {
        format!("{}\n", format_vector(bv.col(0)))
    } else {
        bv.cols().map(|c| format_vector(c) + "\n").collect()
    };
    emit(&text)
}

/// A vector as JSON. JSON has no infinity and serde_json would write null, so ±∞ (the `inf`
/// attack) is written as the strings "inf" / "-inf", which Python's float() reads back.
fn vector_json(v: &[f64]) -> serde_json::Value {
    serde_json::Value::Array(
        v.iter()
            .map(|&x| match serde_json::Number::from_f64(x) {
                Some(num) => serde_json::Value::Number(num),
                None if x > 0.0 => json!("inf"),
                None => json!("-inf"),
            })
            .collect(),
    )
}
