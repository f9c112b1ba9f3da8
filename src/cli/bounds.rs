//! `lbounds bounds`: the lower-bound catalogue (list, show, eval).

use super::{emit, parse_params, Num};
use anyhow::Result;
use lbounds::bounds::{self, Bound, BoundValue, Info, Value, CATALOGUE};
use lbounds::params::Params;
use serde::Serialize;
use std::fmt::Write as _;

/// The lower-bound catalogue: every surveyed impossibility result with its citation, status
/// and hypotheses, evaluated at your parameters.
///
/// Ids follow the project's bound reference (R robust statistics, B Byzantine learning,
/// P privacy, T trilemma, M memorization, O other); a suffix names one formula of a result
/// (R1-huber, R1-strong). Parameter keys follow the reference's notation: d, n, m, eta, f,
/// sigma, eps, delta, k, G, B, ...
///
/// Kinds: "exact" means an explicit valid constant (a true lower bound as stated, not
/// necessarily the best one); "tight" marks the exact entries that an estimator shown here
/// attains (R1 by the median, B1 on its instance); "order" holds up to constants or logs;
/// "condition" entries are the conditions of published guarantees (B8, O4), not lower bounds,
/// and are listed apart.
///
/// Examples:
///   lbounds bounds list
///   lbounds bounds show B3
///   lbounds bounds show R1 --json
///   lbounds bounds eval R1-huber --param eta=0.1 --param sigma=1 --json
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, clap::Subcommand)]
enum Cmd {
    /// A table of every lower bound (id, name, family, kind, status, citation), then the
    /// conditions of guarantees apart.
    List {
        /// JSON array instead of the table (metadata, hypotheses, parameters).
        #[arg(long)]
        json: bool,
    },
    /// Statement, hypotheses, parameters, citation and proof page of one result (an id with
    /// variants, such as R1, shows all of them).
    Show {
        /// The result's id (case-insensitive), e.g. B1, R1-huber.
        id: String,
        /// A JSON array (one object per matching result, as in `list --json`).
        #[arg(long)]
        json: bool,
    },
    /// Evaluates one result: the lower bound and, where known, the matching upper bound.
    /// Outside the hypotheses: one line naming the failed hypothesis, exit code 2. Past a
    /// breakdown point, or where the value exceeds the largest f64, the value is infinite
    /// with its reason (JSON: "value": null, "infinite": true, "reason": ...); a finite value
    /// is always a number.
    Eval {
        /// The result's id (case-insensitive), e.g. B1, R1-huber.
        id: String,
        /// A parameter in the reference's notation (repeatable), e.g. --param eta=0.1.
        #[arg(long = "param", value_name = "KEY=VALUE", allow_hyphen_values = true)]
        params: Vec<String>,
        /// One JSON object: id, params (defaults filled in), value, upper, kind, status.
        #[arg(long)]
        json: bool,
    },
}

/// Runs the subcommand.
pub fn run(a: Args) -> Result<()> {
    let text = match a.cmd {
        Cmd::List { json } => list(json)?,
        Cmd::Show { id, json } => show(&id, json)?,
        Cmd::Eval { id, params, json } => eval(&id, &params, json)?,
    };
    emit(&text)
}

#[derive(Serialize)]
struct ListEntry<'a> {
    id: &'a str,
    key: &'a str,
    name: &'a str,
    family: bounds::Family,
    kind: bounds::Kind,
    tight: bool,
    status: bounds::Status,
    statement: &'a str,
    upper: Option<&'a str>,
    hypotheses: &'a [bounds::Hypothesis],
    params: &'a [bounds::ParamSpec],
    citation: bounds::Citation,
    proof: String,
}

impl<'a> ListEntry<'a> {
    fn of(i: &'a Info) -> Self {
        ListEntry {
            id: i.id,
            key: i.key,
            name: i.name,
            family: i.family,
            kind: i.kind,
            tight: i.tight,
            status: i.status,
            statement: i.statement,
            upper: i.upper,
            hypotheses: i.hypotheses,
            params: i.params,
            citation: i.citation,
            proof: i.proof_page(),
        }
    }
}

/// `exact`, `exact, tight`, `order` or `condition`.
fn kind_label(i: &Info) -> &'static str {
    if i.tight {
        "exact, tight"
    } else {
        i.kind.label()
    }
}

fn list(json: bool) -> Result<String> {
    if json {
        let v: Vec<ListEntry<'_>> = CATALOGUE.iter().map(|b| ListEntry::of(b.info())).collect();
        return Ok(serde_json::to_string_pretty(&v)? + "\n");
    }
    let infos: Vec<&Info> = CATALOGUE.iter().map(|b| b.info()).collect();
    let w_id = infos.iter().map(|i| i.id.len()).max().unwrap_or(2).max(2);
    let w_name = infos.iter().map(|i| i.name.len()).max().unwrap_or(4).max(4);
    let w_kind = infos.iter().map(|i| kind_label(i).len()).max().unwrap_or(4);
    let mut s = String::new();
    let (bounds, conditions): (Vec<&Info>, Vec<&Info>) =
        infos.into_iter().partition(|i| i.kind.is_lower_bound());
    for (title, group) in [
        ("lower bounds", &bounds),
        ("conditions of guarantees (not lower bounds)", &conditions),
    ] {
        if group.is_empty() {
            continue;
        }
        if !s.is_empty() {
            s.push('\n');
        }
        let _ = writeln!(s, "{title}:");
        let _ = writeln!(
            s,
            "{:<w_id$}  {:<w_name$}  {:<12}  {:<w_kind$}  {:<12}  citation",
            "id", "name", "family", "kind", "status"
        );
        for i in group {
            let _ = writeln!(
                s,
                "{:<w_id$}  {:<w_name$}  {:<12}  {:<w_kind$}  {:<12}  {}",
                i.id,
                i.name,
                i.family.label(),
                kind_label(i),
                i.status.label(),
                i.citation.short()
            );
        }
    }
    let _ = writeln!(
        s,
        "\n{} results ({} lower bounds, {} conditions). kind: exact = an explicit valid constant \
         (not necessarily attained); tight = attained by an estimator shown here; order = up to \
         constants or logs; condition = when a published guarantee applies, bounds no error.",
        CATALOGUE.len(),
        bounds.len(),
        conditions.len()
    );
    let _ = writeln!(
        s,
        "`lbounds bounds show ID` for the statement and hypotheses, `lbounds bounds eval ID --param KEY=VALUE` to evaluate"
    );
    Ok(s)
}

fn matching(id: &str) -> Result<Vec<&'static dyn Bound>> {
    match bounds::lookup(id) {
        Ok(b) => Ok(vec![b]),
        Err(e) => {
            let want = format!("{}-", id.trim().to_ascii_lowercase());
            let v: Vec<&'static dyn Bound> = CATALOGUE
                .iter()
                .copied()
                .filter(|b| b.info().id.to_ascii_lowercase().starts_with(&want))
                .collect();
            if v.is_empty() {
                Err(e.into())
            } else {
                Ok(v)
            }
        }
    }
}

fn show(id: &str, json: bool) -> Result<String> {
    let found = matching(id)?;
    if json {
        let v: Vec<ListEntry<'_>> = found.iter().map(|b| ListEntry::of(b.info())).collect();
        return Ok(serde_json::to_string_pretty(&v)? + "\n");
    }
    let mut s = String::new();
    for (k, b) in found.into_iter().enumerate() {
        let i = b.info();
        if k > 0 {
            s.push('\n');
        }
        let _ = writeln!(s, "{}: {}", i.id, i.name);
        let _ = writeln!(
            s,
            "family: {}; kind: {}{}; status: {}",
            i.family.label(),
            i.kind.describe(),
            if i.tight {
                "; tight: attained by the estimator below"
            } else {
                ""
            },
            i.status.label()
        );
        let _ = writeln!(s, "statement: {}", i.statement);
        if let Some(u) = i.upper {
            let _ = writeln!(s, "matching upper bound: {u}");
        }
        let _ = writeln!(s, "hypotheses:");
        for h in i.hypotheses {
            let _ = writeln!(s, "  - {}: {}", h.name, h.statement);
        }
        let _ = writeln!(s, "parameters:");
        for p in i.params {
            let d = match p.default {
                Some(v) => format!("default {v}"),
                None => "required".to_string(),
            };
            let _ = writeln!(s, "  {} ({d}): {}", p.key, p.doc);
        }
        let ex: Vec<String> = i
            .example
            .iter()
            .map(|(k, v)| format!("--param {k}={v}"))
            .collect();
        let _ = writeln!(s, "example: lbounds bounds eval {} {}", i.id, ex.join(" "));
        let _ = writeln!(s, "citation: {}", i.citation.line());
        let _ = writeln!(s, "proof: {}", i.proof_page());
    }
    Ok(s)
}

/// The parameters with every default filled in, in the bound's order.
fn effective(info: &Info, p: &Params) -> Vec<(String, f64)> {
    info.params
        .iter()
        .filter_map(|s| {
            p.0.get(s.key)
                .copied()
                .or(s.default)
                .map(|v| (s.key.to_string(), v))
        })
        .collect()
}

#[derive(Serialize)]
struct EvalJson<'a> {
    id: &'a str,
    params: serde_json::Map<String, serde_json::Value>,
    value: Option<f64>,
    infinite: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upper: Option<f64>,
    kind: bounds::Kind,
    tight: bool,
    status: bounds::Status,
}

fn eval(id: &str, raw: &[String], json: bool) -> Result<String> {
    let b = bounds::lookup(id)?;
    let info = b.info();
    let p = parse_params(raw)?;
    let v: BoundValue = b.eval(&p)?;
    let eff = effective(info, &p);
    if json {
        let mut params = serde_json::Map::new();
        for (k, x) in &eff {
            params.insert(k.clone(), serde_json::json!(x));
        }
        let reason = match &v.value {
            Value::Infinite { reason } => Some(reason.as_str()),
            Value::Finite(_) => None,
        };
        let out = EvalJson {
            id: info.id,
            params,
            value: v.as_f64(),
            infinite: reason.is_some(),
            reason,
            upper: v.upper,
            kind: info.kind,
            tight: info.tight,
            status: info.status,
        };
        return Ok(serde_json::to_string(&out)? + "\n");
    }
    let at: Vec<String> = eff
        .iter()
        .map(|(k, x)| format!("{k} = {}", Num(*x)))
        .collect();
    let mut s = String::new();
    match &v.value {
        Value::Finite(x) => {
            let _ = writeln!(
                s,
                "{} ({}) at {}: {}",
                info.id,
                info.name,
                at.join(", "),
                Num(*x)
            );
        }
        Value::Infinite { reason } => {
            let _ = writeln!(
                s,
                "{} ({}) at {}: infinite ({reason})",
                info.id,
                info.name,
                at.join(", ")
            );
        }
    }
    if let Some(u) = v.upper {
        let _ = writeln!(
            s,
            "matching upper bound: {} ({})",
            Num(u),
            info.upper.unwrap_or("known")
        );
    }
    let _ = writeln!(
        s,
        "{}{}; status {}; {}",
        info.kind.describe(),
        if info.tight { "; tight" } else { "" },
        info.status.label(),
        info.citation.short()
    );
    Ok(s)
}
