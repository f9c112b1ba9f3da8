//! Golden tests: every ByzFL name under `Compat::Byzfl` against what ByzFL 0.0.11 computes.
//!
//! The fixtures in `tests/fixtures/byzfl/` were produced by `scripts/byzfl_golden.py` running
//! ByzFL 0.0.11 itself on float64 NumPy input (see that directory's README for versions, seeds
//! and the list of cases). Each item is built through the registry by ByzFL's class name with
//! [`Compat::Byzfl`]; parameters are ByzFL's keys as [`Params`].
//!
//! * Deterministic items (aggregators, pre-aggregators, pipelines, attacks) must agree with
//!   ByzFL coordinate by coordinate: `|a − b| ≤ 1e-9 · max(1, |b|)`, infinities exactly.
//!   Why 1e-9: lbounds may sum in another order than NumPy (pairwise summation, `cdist`,
//!   `np.median`'s partition), and each such difference is a few `n · ε · max|x|` with
//!   ε = 2.2e-16, n ≤ 242 and inputs up to ~1e5 in magnitude: ≤ 1e-11 relative to the output
//!   scale. 1e-9 leaves two orders of margin for iterated rules (GeometricMedian, CenteredClipping
//!   with L = 3, the Optimal_* search) while any real semantic difference (a neighbour count, a
//!   start point, a tie rule) moves outputs by far more.
//! * Where ByzFL's answer hinges on a tie (equal distances, scores or objective values), the
//!   fixture lists the other equally valid answers and any of them passes (see the README).
//! * Randomized items (CAF, SMEA, Bucketing, Gaussian) cannot match draw for draw (ByzFL uses
//!   NumPy's global Mersenne Twister, lbounds ChaCha8); their outputs must be valid and agree in
//!   distribution with ByzFL's recorded samples: two-sample Kolmogorov–Smirnov or chi-square
//!   homogeneity tests, failing below p = 1e-6 (lbounds' draws are seeded, so a pass is
//!   reproducible; a correct implementation fails only with probability ~1e-6 per test).
//!
//! Attacks: `corrupt(honest, f, cx)` returns f columns; ByzFL returns one vector sent f times,
//! so all columns must be identical and equal ByzFL's vector. For `Optimal_*`, ByzFL's
//! constructor key `f` (the number of Byzantine copies it optimizes against) is passed as
//! `corrupt`'s `f` and not as a parameter; the defence is `AttackContext::defence` (`None` means
//! ByzFL's default, `Clipping()` then `Average()`).
//!
//! There is one test per fixture group (a ByzFL class name or a pipeline such as
//! `NNM+TrMean`), so a missing implementation fails its own test with a message naming it.

use lbounds::aggregators::{self, AggContext, Pipeline, PipelineSpec, StepSpec};
use lbounds::attacks::{self, AttackContext};
use lbounds::data::Updates;
use lbounds::params::{Compat, Params};
use lbounds::rng::{rng_for, SimRng};
use lbounds::Error;
use nalgebra::{DMatrix, DVector};
use serde_json::Value;
use statrs::distribution::{ChiSquared, ContinuousCDF};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Agreement for deterministic items (see the module docs for why 1e-9).
const REL_TOL: f64 = 1e-9;
/// Slack on the search objective of an `Optimal_*` case whose search hit a tie: the fixture's
/// `objective_range` was sampled over tie resolutions and is at most 1e-6 wide (relative).
const OBJECTIVE_TOL: f64 = 1e-6;
/// Significance level of every distribution test.
const ALPHA: f64 = 1e-6;
/// Draws from lbounds per randomized case.
const DRAWS: usize = 4000;
/// How many failing cases a report spells out.
const SHOW: usize = 15;

// ------------------------------------------------------------------------------------------
// Fixture access

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/byzfl")
}

fn read(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A number as the generator writes it: a JSON number, or "inf" / "-inf" / "nan".
fn num(v: &Value) -> f64 {
    match v {
        Value::Number(x) => x.as_f64().expect("fixture number fits f64"),
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        Value::String(s) if s == "nan" => f64::NAN,
        other => panic!("fixture: expected a number, got {other}"),
    }
}

fn vector(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("fixture: expected an array, got {v}"))
        .iter()
        .map(num)
        .collect()
}

fn rows(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap_or_else(|| panic!("fixture: expected an array of rows, got {v}"))
        .iter()
        .map(vector)
        .collect()
}

fn inputs() -> &'static BTreeMap<String, Vec<Vec<f64>>> {
    static INPUTS: OnceLock<BTreeMap<String, Vec<Vec<f64>>>> = OnceLock::new();
    INPUTS.get_or_init(|| {
        let v: Value = serde_json::from_str(&read(&fixture_dir().join("inputs.json")))
            .expect("inputs.json is JSON");
        v.as_object()
            .expect("inputs.json is an object")
            .iter()
            .map(|(k, m)| (k.clone(), rows(m)))
            .collect()
    })
}

/// Input rows (one per client) as lbounds updates; ±∞ admitted (the `inf_*` inputs).
fn updates(rows: &[Vec<f64>]) -> Updates {
    let (n, d) = (rows.len(), rows[0].len());
    Updates::new_allow_inf(DMatrix::from_fn(d, n, |r, c| rows[c][r])).expect("valid fixture input")
}

fn input_rows(case: &Value) -> &'static [Vec<f64>] {
    let name = case["input"].as_str().expect("case has an input name");
    inputs()
        .get(name)
        .unwrap_or_else(|| panic!("input `{name}` missing from inputs.json"))
}

fn params(v: &Value) -> Params {
    let mut p = Params::new();
    if let Some(obj) = v.as_object() {
        for (k, x) in obj {
            p.set(k, num(x));
        }
    }
    p
}

fn cases(group: &str) -> Vec<Value> {
    let path = fixture_dir().join("cases").join(format!("{group}.jsonl"));
    read(&path)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("fixture line is JSON"))
        .collect()
}

fn id(case: &Value) -> String {
    case["id"].as_str().unwrap_or("?").to_string()
}

// ------------------------------------------------------------------------------------------
// Outcomes

/// What one case gave.
enum Outcome {
    Pass,
    /// The registry does not know a name (an implementation not written yet): `(name, error)`.
    Missing(Vec<(String, String)>),
    Fail(String),
}

/// Builds a pipeline, reporting every unknown step name at once.
fn build_pipeline(spec: &PipelineSpec) -> Result<Pipeline, Outcome> {
    let mut missing = Vec::new();
    let mut other = None;
    let mut pre = Vec::new();
    for s in &spec.pre {
        match aggregators::build_pre(&s.name, &s.params, Compat::Byzfl) {
            Ok(p) => pre.push(p),
            Err(e) => classify(&s.name, "pre-aggregator", e, &mut missing, &mut other),
        }
    }
    let agg = match aggregators::build(&spec.rule.name, &spec.rule.params, Compat::Byzfl) {
        Ok(a) => Some(a),
        Err(e) => {
            classify(&spec.rule.name, "aggregator", e, &mut missing, &mut other);
            None
        }
    };
    if !missing.is_empty() {
        return Err(Outcome::Missing(missing));
    }
    if let Some(msg) = other {
        return Err(Outcome::Fail(msg));
    }
    Ok(Pipeline {
        pre,
        agg: agg.expect("invariant: no error means the rule was built"),
    })
}

/// Sorts a registry error into "not implemented" (unknown name) and real failures.
fn classify(
    name: &str,
    family: &str,
    e: Error,
    missing: &mut Vec<(String, String)>,
    other: &mut Option<String>,
) {
    match &e {
        Error::Unknown { what, .. } if !what.starts_with("parameter") => {
            missing.push((format!("{name} ({family})"), e.to_string()));
        }
        _ => {
            other.get_or_insert_with(|| {
                format!("building {family} `{name}` with Compat::Byzfl failed: {e}")
            });
        }
    }
}

fn tol(expected: f64) -> f64 {
    REL_TOL * expected.abs().max(1.0)
}

/// `Ok` when `got` matches `expected` coordinate by coordinate, else the worst coordinate.
fn compare(got: &[f64], expected: &[f64]) -> Result<(), String> {
    if got.len() != expected.len() {
        return Err(format!(
            "length {} (lbounds) vs {} (ByzFL)",
            got.len(),
            expected.len()
        ));
    }
    let mut worst: Option<(f64, String)> = None;
    for (j, (&a, &b)) in got.iter().zip(expected).enumerate() {
        let bad = if b.is_nan() {
            (!a.is_nan()).then_some(f64::INFINITY)
        } else if b.is_infinite() || a.is_nan() || a.is_infinite() {
            (a != b).then_some(f64::INFINITY)
        } else {
            let excess = (a - b).abs() / tol(b);
            (excess > 1.0).then_some(excess)
        };
        if let Some(excess) = bad {
            if worst.as_ref().is_none_or(|(w, _)| excess > *w) {
                worst = Some((
                    excess,
                    format!(
                        "coordinate {j}: lbounds {a:e} vs ByzFL {b:e} (|diff| = {:e}, tolerance {:e})",
                        (a - b).abs(),
                        tol(b)
                    ),
                ));
            }
        }
    }
    match worst {
        None => Ok(()),
        Some((_, msg)) => Err(msg),
    }
}

/// Compares an output vector with ByzFL's, accepting the listed tie alternatives.
fn compare_with_ties(got: &[f64], case: &Value) -> Result<(), String> {
    let expected = vector(&case["output"]);
    let first = match compare(got, &expected) {
        Ok(()) => return Ok(()),
        Err(m) => m,
    };
    if let Some(alts) = case.get("alternatives").and_then(Value::as_array) {
        if alts.iter().any(|a| compare(got, &vector(a)).is_ok()) {
            return Ok(());
        }
        return Err(format!(
            "{first}; matches none of the {} tie alternatives either",
            alts.len()
        ));
    }
    if let Some(per) = case.get("alternatives_per_coord").and_then(Value::as_array) {
        for (j, (&a, &b)) in got.iter().zip(&expected).enumerate() {
            let ok = compare(&[a], &[b]).is_ok()
                || per[j]
                    .as_array()
                    .is_some_and(|alts| alts.iter().any(|v| compare(&[a], &[num(v)]).is_ok()));
            if !ok {
                return Err(format!(
                    "coordinate {j}: lbounds {a:e} vs ByzFL {b:e}, tie alternatives {}",
                    per[j]
                ));
            }
        }
        return Ok(());
    }
    Err(first)
}

fn describe(case: &Value, msg: &str) -> String {
    let mut s = format!("{}: {msg}", id(case));
    if let Some(note) = case.get("tie_note").and_then(Value::as_str) {
        let _ = write!(s, " [tie case: {note}]");
    }
    s
}

// ------------------------------------------------------------------------------------------
// Deterministic cases

fn aggregator_spec(case: &Value) -> PipelineSpec {
    match case["kind"].as_str() {
        Some("pipeline") => {
            serde_json::from_value(case["pipeline"].clone()).expect("pipeline is a PipelineSpec")
        }
        _ => PipelineSpec {
            rule: StepSpec {
                name: case["item"].as_str().expect("item").to_string(),
                params: params(&case["params"]),
            },
            pre: Vec::new(),
        },
    }
}

fn run_aggregator_case(case: &Value, rng: &mut SimRng) -> Outcome {
    let pipe = match build_pipeline(&aggregator_spec(case)) {
        Ok(p) => p,
        Err(o) => return o,
    };
    let x = updates(input_rows(case));
    let allow_nonfinite = case["allow_nonfinite_error"].as_bool().unwrap_or(false);
    let out = match pipe.run(x.view(), &mut AggContext::new(rng)) {
        Ok(v) => v,
        Err(Error::NonFinite { .. }) if allow_nonfinite => return Outcome::Pass,
        Err(e) => return Outcome::Fail(describe(case, &format!("lbounds returned an error: {e}"))),
    };
    if let Err(m) = compare_with_ties(out.as_slice(), case) {
        return Outcome::Fail(describe(case, &m));
    }
    // CenteredClipping keeps its last output (ByzFL's self.m): a second call starts there.
    if let Some(second) = case.get("second_call") {
        let prev = DVector::from_vec(vector(&second["previous"]));
        let mut cx = AggContext {
            rng,
            previous: Some(&prev),
        };
        match pipe.run(x.view(), &mut cx) {
            Ok(v) => {
                if let Err(m) = compare(v.as_slice(), &vector(&second["output"])) {
                    return Outcome::Fail(describe(
                        case,
                        &format!("second call (previous = first output): {m}"),
                    ));
                }
            }
            Err(e) => {
                return Outcome::Fail(describe(case, &format!("second call: error {e}")));
            }
        }
    }
    Outcome::Pass
}

fn run_pre_aggregator_case(case: &Value, rng: &mut SimRng) -> Outcome {
    let item = case["item"].as_str().expect("item");
    let pre = match aggregators::build_pre(item, &params(&case["params"]), Compat::Byzfl) {
        Ok(p) => p,
        Err(e) => {
            let (mut missing, mut other) = (Vec::new(), None);
            classify(item, "pre-aggregator", e, &mut missing, &mut other);
            return if missing.is_empty() {
                Outcome::Fail(describe(case, &other.unwrap_or_default()))
            } else {
                Outcome::Missing(missing)
            };
        }
    };
    let x = updates(input_rows(case));
    let allow_nonfinite = case["allow_nonfinite_error"].as_bool().unwrap_or(false);
    let result = pre
        .check_n(x.n())
        .and_then(|()| pre.apply(x.clone(), &mut AggContext::new(rng)));
    let out = match result {
        Ok(u) => u,
        Err(Error::NonFinite { .. }) if allow_nonfinite => return Outcome::Pass,
        Err(e) => return Outcome::Fail(describe(case, &format!("lbounds returned an error: {e}"))),
    };
    let expected = rows(&case["output"]);
    if out.n() != expected.len() {
        return Outcome::Fail(describe(
            case,
            &format!(
                "{} output vectors (lbounds) vs {} (ByzFL)",
                out.n(),
                expected.len()
            ),
        ));
    }
    let per_row = case.get("alternatives_per_row").and_then(Value::as_array);
    for (i, want) in expected.iter().enumerate() {
        let got = out.view().col(i);
        if let Err(m) = compare(got, want) {
            let alt_ok = per_row.is_some_and(|p| {
                p[i].as_array()
                    .is_some_and(|alts| alts.iter().any(|a| compare(got, &vector(a)).is_ok()))
            });
            if !alt_ok {
                return Outcome::Fail(describe(case, &format!("output vector {i}: {m}")));
            }
        }
    }
    Outcome::Pass
}

fn build_attack(case: &Value) -> Result<Box<dyn attacks::Attack>, Outcome> {
    let item = case["item"].as_str().expect("item");
    let mut p = params(&case["params"]);
    // ByzFL's Optimal_* take the number of Byzantine copies as a constructor key `f`; in
    // lbounds it is corrupt()'s `f` argument.
    p.0.remove("f");
    attacks::build(item, &p, Compat::Byzfl).map_err(|e| {
        let (mut missing, mut other) = (Vec::new(), None);
        classify(item, "attack", e, &mut missing, &mut other);
        if missing.is_empty() {
            Outcome::Fail(describe(case, &other.unwrap_or_default()))
        } else {
            Outcome::Missing(missing)
        }
    })
}

fn default_defence() -> PipelineSpec {
    PipelineSpec {
        rule: StepSpec::named("Average"),
        pre: vec![StepSpec::named("Clipping")],
    }
}

/// ‖Defence(honest ∪ f copies of b) − mean(honest)‖, the objective the Optimal_* search maximizes.
fn search_objective(
    honest: &Updates,
    byz: &Updates,
    defence: &Pipeline,
    rng: &mut SimRng,
) -> Result<f64, String> {
    let all = honest.concat(byz).map_err(|e| e.to_string())?;
    let agg = defence
        .run(all.view(), &mut AggContext::new(rng))
        .map_err(|e| e.to_string())?;
    Ok((agg - honest.view().mean()).norm())
}

fn run_attack_case(case: &Value, rng: &mut SimRng) -> Outcome {
    let attack = match build_attack(case) {
        Ok(a) => a,
        Err(o) => return o,
    };
    let defence_spec: Option<PipelineSpec> = match &case["defence"] {
        Value::Null => None,
        v => Some(serde_json::from_value(v.clone()).expect("defence is a PipelineSpec")),
    };
    let defence = match defence_spec.as_ref().map(build_pipeline).transpose() {
        Ok(d) => d,
        Err(o) => return o,
    };
    let honest = updates(input_rows(case));
    let f = case["f"].as_u64().expect("attack case has f") as usize;
    let mut cx = AttackContext {
        rng: &mut *rng,
        defence: defence.as_ref(),
        defence_state: None,
    };
    let byz = match attack.corrupt(honest.view(), f, &mut cx) {
        Ok(b) => b,
        Err(e) => return Outcome::Fail(describe(case, &format!("lbounds returned an error: {e}"))),
    };
    if byz.n() != f {
        return Outcome::Fail(describe(
            case,
            &format!("{} Byzantine vectors for f = {f}", byz.n()),
        ));
    }
    let first = byz.view().col(0);
    for c in 1..f {
        let same = byz
            .view()
            .col(c)
            .iter()
            .zip(first)
            .all(|(a, b)| a == b || (a.is_nan() && b.is_nan()));
        if !same {
            return Outcome::Fail(describe(
                case,
                &format!("Byzantine vector {c} differs from vector 0 (ByzFL sends f copies of one vector)"),
            ));
        }
    }
    let mismatch = match compare(first, &vector(&case["output"])) {
        Ok(()) => return Outcome::Pass,
        Err(m) => m,
    };
    if !case["search_fragile"].as_bool().unwrap_or(false) {
        return Outcome::Fail(describe(case, &mismatch));
    }
    // The search met a tie whose resolution is rounding noise in ByzFL: accept any vector whose
    // objective lies in the range reached under the other resolutions.
    let pipeline = match defence {
        Some(p) => p,
        None => match build_pipeline(&default_defence()) {
            Ok(p) => p,
            Err(o) => return o,
        },
    };
    let range = vector(&case["objective_range"]);
    let slack = OBJECTIVE_TOL * num(&case["objective_star"]).abs().max(1.0);
    match search_objective(&honest, &byz, &pipeline, rng) {
        Ok(j) if j >= range[0] - slack && j <= range[1] + slack => Outcome::Pass,
        Ok(j) => Outcome::Fail(describe(
            case,
            &format!(
                "{mismatch}; search objective {j:e} outside ByzFL's range [{:e}, {:e}]",
                range[0], range[1]
            ),
        )),
        Err(e) => Outcome::Fail(describe(case, &format!("{mismatch}; objective: {e}"))),
    }
}

// ------------------------------------------------------------------------------------------
// Randomized cases

/// Two-sample Kolmogorov–Smirnov p-value (asymptotic, with Stephens' small-sample correction).
fn ks_p_value(a: &[f64], b: &[f64]) -> f64 {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n - j as f64 / m).abs());
    }
    let ne = n * m / (n + m);
    let lambda = (ne.sqrt() + 0.12 + 0.11 / ne.sqrt()) * d;
    if lambda < 0.2 {
        return 1.0;
    }
    let mut p = 0.0;
    for k in 1..=100 {
        let k = f64::from(k);
        let term = (-2.0 * k * k * lambda * lambda).exp();
        p += if k as u32 % 2 == 1 { term } else { -term };
        if term < 1e-16 {
            break;
        }
    }
    (2.0 * p).clamp(0.0, 1.0)
}

/// Chi-square test that two samples of categories come from one distribution. Categories with
/// an expected count below 5 in either sample are pooled into one bin.
fn chi_square_p_value(a: &BTreeMap<String, usize>, b: &BTreeMap<String, usize>) -> f64 {
    let (na, nb) = (
        a.values().sum::<usize>() as f64,
        b.values().sum::<usize>() as f64,
    );
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut bins: Vec<(f64, f64)> = Vec::new();
    let mut pooled = (0.0, 0.0);
    for k in keys {
        let (ca, cb) = (
            *a.get(k).unwrap_or(&0) as f64,
            *b.get(k).unwrap_or(&0) as f64,
        );
        let total = ca + cb;
        if total * na.min(nb) / (na + nb) < 5.0 {
            pooled.0 += ca;
            pooled.1 += cb;
        } else {
            bins.push((ca, cb));
        }
    }
    if pooled.0 + pooled.1 > 0.0 {
        bins.push(pooled);
    }
    if bins.len() < 2 {
        return 1.0;
    }
    let mut stat = 0.0;
    for (ca, cb) in &bins {
        let total = ca + cb;
        let (ea, eb) = (total * na / (na + nb), total * nb / (na + nb));
        stat += (ca - ea).powi(2) / ea + (cb - eb).powi(2) / eb;
    }
    let df = (bins.len() - 1) as f64;
    ChiSquared::new(df).expect("invariant: df >= 1").sf(stat)
}

fn close(a: &[f64], b: &[f64]) -> bool {
    compare(a, b).is_ok()
}

fn mean_of(x: &[Vec<f64>], idx: &[usize]) -> Vec<f64> {
    let d = x[0].len();
    let mut m = vec![0.0; d];
    for &i in idx {
        for (a, v) in m.iter_mut().zip(&x[i]) {
            *a += v;
        }
    }
    m.iter().map(|a| a / idx.len() as f64).collect()
}

fn combinations(n: usize, k: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    fn rec(start: usize, n: usize, k: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if cur.len() == k {
            out.push(cur.clone());
            return;
        }
        for i in start..n {
            cur.push(i);
            rec(i + 1, n, k, cur, out);
            cur.pop();
        }
    }
    rec(0, n, k, &mut cur, &mut out);
    out
}

/// Which size-(n−f) subset's mean an SMEA output is.
fn smea_category(x: &[Vec<f64>], f: usize, out: &[f64]) -> Option<String> {
    combinations(x.len(), x.len() - f)
        .into_iter()
        .find(|s| close(out, &mean_of(x, s)))
        .map(|s| format!("{s:?}"))
}

/// Decodes a bucketing output into the input indices of each bucket (rows in order, groups
/// of s, the last one smaller when s does not divide n); `None` if it is not a bucketing.
fn bucketing_groups(x: &[Vec<f64>], s: usize, out: &[Vec<f64>]) -> Option<Vec<Vec<usize>>> {
    let n = x.len();
    if out.len() != n.div_ceil(s) {
        return None;
    }
    let mut used = vec![false; n];
    let mut groups = Vec::new();
    for (r, row) in out.iter().enumerate() {
        let size = if (r + 1) * s <= n { s } else { n - r * s };
        let free: Vec<usize> = (0..n).filter(|&i| !used[i]).collect();
        let g = combinations(free.len(), size)
            .into_iter()
            .map(|c| c.into_iter().map(|i| free[i]).collect::<Vec<_>>())
            .find(|g| close(row, &mean_of(x, g)))?;
        for &i in &g {
            used[i] = true;
        }
        groups.push(g);
    }
    Some(groups)
}

fn count(cats: impl IntoIterator<Item = String>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for c in cats {
        *m.entry(c).or_insert(0) += 1;
    }
    m
}

fn run_distribution_case(case: &Value, rng: &mut SimRng) -> Outcome {
    let kind = case["kind"].as_str().expect("kind");
    let item = case["item"].as_str().expect("item");
    let x = input_rows(case);
    let u = updates(x);
    let samples = &case["samples"];
    // lbounds' draws, one per call, from one seeded stream.
    let draws: Result<Vec<Vec<Vec<f64>>>, Outcome> = match kind {
        "aggregator_dist" => build_pipeline(&aggregator_spec(case)).and_then(|pipe| {
            (0..DRAWS)
                .map(|_| {
                    pipe.run(u.view(), &mut AggContext::new(rng))
                        .map(|v| vec![v.as_slice().to_vec()])
                        .map_err(|e| Outcome::Fail(describe(case, &format!("lbounds error: {e}"))))
                })
                .collect()
        }),
        "pre_dist" => aggregators::build_pre(item, &params(&case["params"]), Compat::Byzfl)
            .map_err(|e| {
                let (mut missing, mut other) = (Vec::new(), None);
                classify(item, "pre-aggregator", e, &mut missing, &mut other);
                if missing.is_empty() {
                    Outcome::Fail(describe(case, &other.unwrap_or_default()))
                } else {
                    Outcome::Missing(missing)
                }
            })
            .and_then(|pre| {
                (0..DRAWS)
                    .map(|_| {
                        pre.apply(u.clone(), &mut AggContext::new(rng))
                            .map(|o| o.view().cols().map(<[f64]>::to_vec).collect())
                            .map_err(|e| {
                                Outcome::Fail(describe(case, &format!("lbounds error: {e}")))
                            })
                    })
                    .collect()
            }),
        "attack_dist" => build_attack(case).and_then(|atk| {
            let f = case["f"].as_u64().expect("f") as usize;
            (0..DRAWS)
                .map(|_| {
                    atk.corrupt(u.view(), f, &mut AttackContext::new(rng))
                        .map(|o| o.view().cols().map(<[f64]>::to_vec).collect())
                        .map_err(|e| Outcome::Fail(describe(case, &format!("lbounds error: {e}"))))
                })
                .collect()
        }),
        other => panic!("unknown distribution kind {other}"),
    };
    let draws = match draws {
        Ok(d) => d,
        Err(o) => return o,
    };
    let fail = |m: String| Outcome::Fail(describe(case, &m));
    match item {
        "SMEA" => {
            let f = num(&case["params"]["f"]) as usize;
            let theirs: Vec<String> = rows(samples)
                .iter()
                .map(|s| smea_category(x, f, s).expect("ByzFL sample is a subset mean"))
                .collect();
            let mut ours = Vec::new();
            for d in &draws {
                match smea_category(x, f, &d[0]) {
                    Some(c) => ours.push(c),
                    None => {
                        return fail(format!(
                            "output {:?} is not the mean of any n - f subset",
                            d[0]
                        ))
                    }
                }
            }
            let p = chi_square_p_value(&count(theirs), &count(ours));
            if p < ALPHA {
                return fail(format!(
                    "chosen-subset frequencies differ from ByzFL's (chi-square p = {p:e})"
                ));
            }
        }
        "CAF" => {
            let theirs = rows(samples);
            let center = u.view().mean();
            let d = x[0].len();
            // Each coordinate and the distance to the plain mean.
            for j in 0..=d {
                let stat = |v: &[f64]| {
                    if j < d {
                        v[j]
                    } else {
                        (DVector::from_column_slice(v) - &center).norm()
                    }
                };
                let a: Vec<f64> = theirs.iter().map(|v| stat(v)).collect();
                let b: Vec<f64> = draws.iter().map(|v| stat(&v[0])).collect();
                if b.iter().any(|v| !v.is_finite()) {
                    return fail("non-finite output".into());
                }
                let p = ks_p_value(&a, &b);
                let what = if j < d {
                    format!("coordinate {j}")
                } else {
                    "distance to the mean".into()
                };
                if p < ALPHA {
                    return fail(format!(
                        "{what} distributed differently from ByzFL (KS p = {p:e})"
                    ));
                }
            }
        }
        "Bucketing" => {
            let s = num(&case["params"]["s"]) as usize;
            let row0 = |out: &[Vec<f64>]| {
                bucketing_groups(x, s, out).map(|g| {
                    let mut g0 = g[0].clone();
                    g0.sort_unstable();
                    format!("{g0:?}")
                })
            };
            let theirs: Vec<String> = samples
                .as_array()
                .expect("samples")
                .iter()
                .map(|m| row0(&rows(m)).expect("ByzFL sample is a bucketing"))
                .collect();
            let mut ours = Vec::new();
            for d in &draws {
                match row0(d) {
                    Some(c) => ours.push(c),
                    None => {
                        return fail(format!(
                            "output is not a bucketing of the input into groups of {s}: {d:?}"
                        ))
                    }
                }
            }
            let p = chi_square_p_value(&count(theirs), &count(ours));
            if p < ALPHA {
                return fail(format!(
                    "first-bucket membership differs from ByzFL's (chi-square p = {p:e})"
                ));
            }
        }
        "Gaussian" => {
            for d in &draws {
                if d.iter().any(|c| c != &d[0]) {
                    return fail(
                        "Byzantine vectors differ (ByzFL sends f copies of one draw)".into(),
                    );
                }
            }
            let a: Vec<f64> = rows(samples).into_iter().flatten().collect();
            let b: Vec<f64> = draws.iter().flat_map(|d| d[0].clone()).collect();
            let p = ks_p_value(&a, &b);
            if p < ALPHA {
                return fail(format!(
                    "coordinates distributed differently from ByzFL's (KS p = {p:e})"
                ));
            }
        }
        other => panic!("no distribution check for {other}"),
    }
    Outcome::Pass
}

// ------------------------------------------------------------------------------------------
// Driver

fn check_group(group: &str) {
    let all = cases(group);
    assert!(!all.is_empty(), "fixture group {group} has no cases");
    let mut missing: BTreeMap<String, String> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut passed = 0;
    for (i, case) in all.iter().enumerate() {
        // invariant: fixture groups hold far fewer than 2^32 cases.
        let mut rng = rng_for(0xB12F1, i as u64, 0).expect("invariant: small point index");
        let outcome = match case["kind"].as_str() {
            Some("aggregator" | "pipeline") => run_aggregator_case(case, &mut rng),
            Some("pre_aggregator") => run_pre_aggregator_case(case, &mut rng),
            Some("attack") => run_attack_case(case, &mut rng),
            Some("aggregator_dist" | "pre_dist" | "attack_dist") => {
                run_distribution_case(case, &mut rng)
            }
            other => panic!("{}: unknown case kind {other:?}", id(case)),
        };
        match outcome {
            Outcome::Pass => passed += 1,
            Outcome::Missing(names) => {
                for (n, e) in names {
                    missing.entry(n).or_insert(e);
                }
            }
            Outcome::Fail(m) => failures.push(m),
        }
    }
    if missing.is_empty() && failures.is_empty() {
        return;
    }
    let mut report = format!(
        "ByzFL compatibility of `{group}`: {passed} of {} cases pass\n",
        all.len()
    );
    if !missing.is_empty() {
        let _ = writeln!(
            report,
            "not implemented in lbounds under these ByzFL names (registry error shown):"
        );
        for (n, e) in &missing {
            let _ = writeln!(report, "  - {n}: {e}");
        }
    }
    if !failures.is_empty() {
        let _ = writeln!(
            report,
            "{} mismatching case(s){}:",
            failures.len(),
            if failures.len() > SHOW {
                format!(", first {SHOW}")
            } else {
                String::new()
            }
        );
        for f in failures.iter().take(SHOW) {
            let _ = writeln!(report, "  - {f}");
        }
    }
    panic!("{report}");
}

macro_rules! groups {
    ($($test:ident => $group:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_group($group);
            }
        )*
        /// Every fixture group that has a test above.
        const GROUPS: &[&str] = &[$($group),*];
    };
}

groups! {
    // Aggregators.
    average => "Average",
    median => "Median",
    trmean => "TrMean",
    geometric_median => "GeometricMedian",
    krum => "Krum",
    multi_krum => "MultiKrum",
    centered_clipping => "CenteredClipping",
    mda => "MDA",
    monna => "MoNNA",
    meamed => "Meamed",
    caf_in_distribution => "CAF",
    smea_in_distribution => "SMEA",
    // Pre-aggregators.
    nnm => "NNM",
    clipping => "Clipping",
    arc => "ARC",
    bucketing_in_distribution => "Bucketing",
    // Pipelines (pre-aggregators in order, then the rule).
    pipeline_nnm_trmean => "NNM+TrMean",
    pipeline_nnm_average => "NNM+Average",
    pipeline_nnm_geometric_median => "NNM+GeometricMedian",
    pipeline_nnm_krum => "NNM+Krum",
    pipeline_clipping_average => "Clipping+Average",
    pipeline_clipping_median => "Clipping+Median",
    pipeline_arc_krum => "ARC+Krum",
    pipeline_arc_trmean => "ARC+TrMean",
    pipeline_clipping_nnm_multi_krum => "Clipping+NNM+MultiKrum",
    pipeline_arc_nnm_meamed => "ARC+NNM+Meamed",
    // Attacks.
    sign_flipping => "SignFlipping",
    inner_product_manipulation => "InnerProductManipulation",
    a_little_is_enough => "ALittleIsEnough",
    mimic => "Mimic",
    inf => "Inf",
    gaussian_in_distribution => "Gaussian",
    optimal_inner_product_manipulation => "Optimal_InnerProductManipulation",
    optimal_a_little_is_enough => "Optimal_ALittleIsEnough",
}

/// A fixture group without a test would be silently ignored; a test without fixtures would
/// check nothing.
#[test]
fn every_fixture_group_has_a_test() {
    let mut on_disk = BTreeSet::new();
    for entry in std::fs::read_dir(fixture_dir().join("cases")).expect("cases directory") {
        let name = entry.expect("directory entry").file_name();
        let name = name.to_string_lossy();
        if let Some(group) = name.strip_suffix(".jsonl") {
            on_disk.insert(group.to_string());
        }
    }
    let tested: BTreeSet<String> = GROUPS.iter().map(|s| s.to_string()).collect();
    let untested: Vec<_> = on_disk.difference(&tested).collect();
    let empty: Vec<_> = tested.difference(&on_disk).collect();
    assert!(
        untested.is_empty() && empty.is_empty(),
        "fixture groups without a test: {untested:?}; tests without a fixture file: {empty:?}"
    );
}

/// The statistical helpers themselves, on cases with known answers.
#[test]
fn distribution_tests_behave() {
    // Identical samples: D = 0, p = 1.
    let a: Vec<f64> = (0..500).map(|i| f64::from(i) / 500.0).collect();
    assert_eq!(ks_p_value(&a, &a), 1.0);
    // Disjoint samples: D = 1, λ ≈ 15.9, p ≈ 0.
    let b: Vec<f64> = a.iter().map(|v| v + 10.0).collect();
    assert!(ks_p_value(&a, &b) < 1e-100);
    // Equal frequencies: chi-square statistic 0, p = 1.
    let c = count((0..300).map(|i| (i % 3).to_string()));
    assert!((chi_square_p_value(&c, &c) - 1.0).abs() < 1e-12);
    // 300 draws all in category "0" vs uniform over 3: p ≈ 0.
    let d = count((0..300).map(|_| "0".to_string()));
    assert!(chi_square_p_value(&c, &d) < 1e-50);
    // Subset decoding: the mean of rows 0 and 2 of three rows.
    let x = vec![vec![0.0], vec![1.0], vec![4.0]];
    assert_eq!(smea_category(&x, 1, &[2.0]).as_deref(), Some("[0, 2]"));
    assert_eq!(
        bucketing_groups(&x, 2, &[vec![0.5], vec![4.0]]),
        Some(vec![vec![0, 1], vec![2]])
    );
    assert_eq!(bucketing_groups(&x, 2, &[vec![0.7], vec![4.0]]), None);
}
