//! `lbounds list`: the registries, so `--rule`, `--pre` and `--attack` names are discoverable.

use super::emit;
use anyhow::Result;
use lbounds::params::Spec;
use serde_json::json;

/// List aggregators, pre-aggregators and attacks with their parameters.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn rows<T: ?Sized>(family: &str, reg: &[Spec<T>]) -> Vec<serde_json::Value> {
    reg.iter()
        .map(|s| {
            json!({
                "family": family,
                "name": s.name,
                "byzfl": s.byzfl,
                "params": s.keys,
                "summary": s.summary,
            })
        })
        .collect()
}

/// Runs the subcommand.
pub fn run(a: Args) -> Result<()> {
    let all: Vec<serde_json::Value> = [
        rows("aggregator", lbounds::aggregators::RULES),
        rows("pre_aggregator", lbounds::aggregators::PRE_AGGREGATORS),
        rows("attack", lbounds::attacks::ATTACKS),
    ]
    .concat();
    let text = if a.json {
        format!("{}\n", serde_json::Value::Array(all))
    } else {
        let mut s = String::new();
        let mut family = "";
        for r in &all {
            let fam = r["family"].as_str().unwrap_or("");
            if fam != family {
                family = fam;
                s.push_str(&format!("\n{}s:\n", fam.replace('_', "-")));
            }
            let byzfl = r["byzfl"]
                .as_str()
                .map(|b| format!(" ({b})"))
                .unwrap_or_default();
            let keys: Vec<&str> = r["params"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|k| k.as_str())
                .collect();
            s.push_str(&format!(
                "  {:<38} {}{}\n",
                format!("{}{}", r["name"].as_str().unwrap_or(""), byzfl),
                r["summary"].as_str().unwrap_or(""),
                if keys.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", keys.join(", "))
                }
            ));
        }
        s.trim_start().to_string()
    };
    emit(&text)
}
