//! Robust aggregation rules and pre-aggregators.
//!
//! An [`Aggregator`] maps n client vectors to one; a [`PreAggregator`] maps n vectors to n′
//! vectors (NNM, bucketing, clipping, ARC) and composes in a chain before any rule. A
//! [`Pipeline`] is what a server runs and what an adaptive attack attacks.
//!
//! Every rule lives in its own file with its own tests and exposes a `SPEC` registry entry;
//! [`RULES`] and [`PRE_AGGREGATORS`] list them. Names are snake_case; ByzFL's class names are
//! accepted too. With [`Compat::Byzfl`] a name means exactly what ByzFL 0.0.11 computes.

pub mod average;
pub mod bulyan;
#[cfg(test)]
mod byzfl_fixture;
pub mod caf;
pub mod centered_clipping;
pub(crate) mod coordinatewise;
pub(crate) mod distances;
pub mod dnc;
pub(crate) mod far;
pub mod geometric_median;
pub mod krum;
pub(crate) mod linalg;
pub mod mda;
pub mod meamed;
pub mod median;
pub mod median_of_means;
pub mod monna;
pub mod multi_krum;
pub mod pre;
mod prepared;
pub mod smea;
pub mod spectral;
pub mod trmean;

use crate::data::{NonFiniteEntries, Updates, UpdatesView};
use crate::params::{build_from, lookup, Compat, Params, Spec};
use crate::rng::SimRng;
use crate::{Error, Result};
use nalgebra::DVector;
use pre::nnm::Nnm;
use serde::{Deserialize, Serialize};

pub use prepared::{CandidateLine, PreparedDefence};

/// Randomness and cross-round state live with the caller, so one rule can be shared by a sweep.
pub struct AggContext<'a> {
    /// CAF, SMEA and bucketing draw from it; deterministic rules ignore it.
    pub rng: &'a mut SimRng,
    /// The previous round's aggregate (centered clipping starts from it; ByzFL keeps it as
    /// `self.m`). `None` on the first round.
    pub previous: Option<&'a DVector<f64>>,
}

impl<'a> AggContext<'a> {
    /// A context with no previous round.
    pub fn new(rng: &'a mut SimRng) -> Self {
        AggContext {
            rng,
            previous: None,
        }
    }
}

/// A robust aggregation rule: n vectors in, one vector out.
/// `Any` lets [`Pipeline::prepare`] recognise the steps it has a shortcut for.
pub trait Aggregator: std::any::Any + Send + Sync {
    /// Stable snake_case key (configs, records, legends).
    fn name(&self) -> &'static str;

    /// Checks the rule's own requirement on n (and its declared f), e.g. Krum's n > 2f + 2.
    ///
    /// # Errors
    /// [`Error::TooFewInputs`] naming the requirement.
    fn check_n(&self, n: usize) -> Result<()>;

    /// Aggregates the columns of `x`.
    ///
    /// # Errors
    /// Those of [`Aggregator::check_n`]; rules defined only on finite input return
    /// [`Error::NonFinite`] for ±∞ entries.
    fn aggregate(&self, x: UpdatesView<'_>, cx: &mut AggContext<'_>) -> Result<DVector<f64>>;

    /// Whether [`Aggregator::aggregate_counted`] (and [`Aggregator::aggregate_at`]) works on
    /// the distinct vectors themselves (cheaper than on the expanded input), so that a caller
    /// holding copies (the f identical Byzantine vectors of a round) should hand them over
    /// counted.
    fn takes_counts(&self) -> bool {
        false
    }

    /// Whether the rule reads every NaN entry as +∞ itself (its values all pass through
    /// `coordinatewise`'s fill): natively it may then be given a borrowed buffer that still
    /// holds NaN, and returns what it returns on the rewritten copy
    /// ([`Pipeline::untrusted_entries`]).
    fn reads_nan_as_infinity(&self) -> bool {
        false
    }

    /// Natively, [`Aggregator::aggregate`] of `x` as [`NonFiniteEntries::AtInfinity`] reads
    /// it, on vectors nobody scanned (they may hold NaN), or `Ok(None)`: the rule's own pass
    /// could not prove every entry finite (a distance pass does: a non-finite entry makes a
    /// distance non-finite), and the caller scans, rewrites a NaN if there is one and calls
    /// [`Aggregator::aggregate`] ([`Pipeline::run_if_finite`]). A rule returning `Ok(None)`
    /// has drawn nothing from `cx`. The default declines.
    ///
    /// # Errors
    /// Those of [`Aggregator::aggregate`] that do not depend on the entries (`check_n`).
    fn aggregate_if_finite(
        &self,
        _x: UpdatesView<'_>,
        _cx: &mut AggContext<'_>,
    ) -> Result<Option<DVector<f64>>> {
        Ok(None)
    }

    /// [`Aggregator::aggregate`] of the input in which column i of `x` appears `counts[i]`
    /// times, the copies consecutive and in column order ([`expand`]). The default is
    /// [`Aggregator::aggregate_at`] of the expanded positions; the rules of
    /// [`Aggregator::takes_counts`] compute on the distinct vectors what they compute on the
    /// expanded input, to rounding (the average, Krum and the trimmed mean to the bit).
    ///
    /// # Errors
    /// Those of [`Aggregator::aggregate`] on the expanded input;
    /// [`Error::DimensionMismatch`] when `counts` does not have one entry per column.
    fn aggregate_counted(
        &self,
        x: UpdatesView<'_>,
        counts: &[usize],
        cx: &mut AggContext<'_>,
    ) -> Result<DVector<f64>> {
        self.aggregate_at(x, &expanded_indices(x.n(), counts)?, cx)
    }

    /// [`Aggregator::aggregate`] of the input whose i-th vector is column `cols[i]` of `x`
    /// (a column may stand at several positions, in any order: NNM's mixed vectors and their
    /// copies, [`Nnm::then_coordinatewise`]). The default writes that input out and
    /// aggregates it; the trimmed mean reads each position from its column, the same bits.
    ///
    /// # Errors
    /// Those of [`Aggregator::aggregate`] on that input.
    ///
    /// # Panics
    /// When an entry of `cols` is not a column of `x` (a caller bug).
    fn aggregate_at(
        &self,
        x: UpdatesView<'_>,
        cols: &[usize],
        cx: &mut AggContext<'_>,
    ) -> Result<DVector<f64>> {
        self.aggregate(x.select(cols).view(), cx)
    }

    /// [`Aggregator::aggregate_counted`] of `x` with its last column written first: the
    /// same bits, and the column written, whatever the result. The default writes the
    /// column, then aggregates; the average, native Krum and the geometric median write it
    /// during their first pass over the input.
    ///
    /// # Errors
    /// Those of [`Aggregator::aggregate_counted`].
    fn aggregate_counted_filling(
        &self,
        x: FillLast<'_>,
        counts: &[usize],
        cx: &mut AggContext<'_>,
    ) -> Result<DVector<f64>> {
        self.aggregate_counted(x.written(), counts, cx)
    }
}

/// The input that `x` with multiplicities `counts` stands for: column i repeated `counts[i]`
/// times, the copies consecutive, columns in order.
///
/// # Errors
/// [`Error::DimensionMismatch`] when `counts` does not have one entry per column.
pub fn expand(x: UpdatesView<'_>, counts: &[usize]) -> Result<Updates> {
    let idx = expanded_indices(x.n(), counts)?;
    Ok(x.select(&idx))
}

/// The column of `x` behind each position of the expanded input ([`expand`]).
///
/// # Errors
/// [`Error::DimensionMismatch`] when `counts` does not have `n` entries.
pub(crate) fn expanded_indices(n: usize, counts: &[usize]) -> Result<Vec<usize>> {
    if counts.len() != n {
        return Err(Error::DimensionMismatch {
            what: "multiplicities of the distinct vectors".into(),
            expected: n,
            got: counts.len(),
        });
    }
    Ok(counts
        .iter()
        .enumerate()
        .flat_map(|(i, &c)| std::iter::repeat_n(i, c))
        .collect())
}

/// Writes coordinates `lo .. lo + out.len()` of a vector from the same coordinates of the
/// vectors given (an attack computed coordinate by coordinate from the honest vectors).
/// Given a `sum` buffer, it may also write there the given vectors' sum over those
/// coordinates, each added left to right from the first vector's value (as ALIE's mean
/// does), and returns whether it did (leaving `sum` as it was when not): a rule that sums
/// the same block (the average) then reads that instead of the vectors.
pub type BlockFill<'a> =
    dyn Fn(UpdatesView<'_>, usize, &mut [f64], Option<&mut [f64]>) -> bool + Sync + 'a;

/// Vectors whose last column is not written yet: `fill` writes it, a block of coordinates
/// at a time, from the columns before it. A rule whose first pass reads its input block of
/// coordinates by block (the average's sum, the Gram pass of native Krum and of the
/// geometric median) writes each block of the last column as it comes to it, while the
/// block of the others is in cache: one read of the input where the attack and the rule
/// each read it once ([`Aggregator::aggregate_counted_filling`]).
pub struct FillLast<'a> {
    /// n columns of d entries; the last is overwritten.
    buf: &'a mut [f64],
    d: usize,
    fill: &'a BlockFill<'a>,
}

impl<'a> FillLast<'a> {
    /// The n = `buf.len()` / d columns of `buf`, the last of which `fill` writes. As for
    /// `UpdatesView::from_slice`, the caller keeps the invariant of [`Updates`] on the
    /// columns before the last (no NaN); a NaN that the fill writes (ALIE's ∞ − ∞) is the
    /// caller's to refuse once the rule has run (rules take NaN without failing, and the
    /// result is then dropped), hence crate-only.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] unless `buf` holds at least two whole columns of d ≥ 1.
    pub(crate) fn new(buf: &'a mut [f64], d: usize, fill: &'a BlockFill<'a>) -> Result<Self> {
        if d == 0 || !buf.len().is_multiple_of(d) || buf.len() < 2 * d {
            return Err(Error::DimensionMismatch {
                what: "vectors with a last column to fill".into(),
                expected: 2 * d.max(1),
                got: buf.len(),
            });
        }
        Ok(FillLast { buf, d, fill })
    }

    /// The number of columns, the last included.
    pub fn n(&self) -> usize {
        self.buf.len() / self.d
    }

    /// The columns before the last, the last column to write, and the fill.
    pub(crate) fn parts(&mut self) -> (UpdatesView<'_>, &mut [f64], &BlockFill<'a>) {
        let (others, last) = self.buf.split_at_mut(self.buf.len() - self.d);
        (UpdatesView::from_slice(others, self.d), last, self.fill)
    }

    /// Every column, the last written whole (blocks of coordinates in parallel; the block
    /// size changes no value, since each coordinate is written from its own coordinate).
    pub fn written(mut self) -> UpdatesView<'a> {
        use crate::data::{for_each_block_mut, MEAN_BLOCK};
        let (others, last, fill) = self.parts();
        for_each_block_mut(last, MEAN_BLOCK, |b, out| {
            fill(others, b * MEAN_BLOCK, out, None);
        });
        self.filled()
    }

    /// Every column, once a pass of the caller's has written the whole last column.
    pub(crate) fn filled(self) -> UpdatesView<'a> {
        UpdatesView::from_slice(self.buf, self.d)
    }
}

/// Maps n vectors to n′ vectors before a rule.
///
/// A step takes the vectors by value and rewrites them in place where it can (clipping, ARC,
/// bucketing and NNM all do), as ByzFL's in-place pre-aggregators do: at d = 10⁶ a fresh n×d
/// output per step would cost more than the step itself (400 MB of new pages).
pub trait PreAggregator: std::any::Any + Send + Sync {
    /// Stable snake_case key.
    fn name(&self) -> &'static str;

    /// Checks the requirement on n.
    ///
    /// # Errors
    /// [`Error::TooFewInputs`] naming the requirement.
    fn check_n(&self, n: usize) -> Result<()>;

    /// Returns the transformed vectors (usually `x` itself, rewritten in place).
    ///
    /// # Errors
    /// Those of [`PreAggregator::check_n`].
    fn apply(&self, x: Updates, cx: &mut AggContext<'_>) -> Result<Updates>;

    /// [`PreAggregator::apply`] on borrowed vectors (the first step of a pipeline): a copy,
    /// then in place, unless the step writes a fresh output anyway (NNM).
    ///
    /// # Errors
    /// Those of [`PreAggregator::apply`].
    fn apply_view(&self, x: UpdatesView<'_>, cx: &mut AggContext<'_>) -> Result<Updates> {
        self.apply(x.to_owned(), cx)
    }

    /// Number of output vectors for n inputs (n for most; ⌈n/s⌉ for bucketing).
    fn output_len(&self, n: usize) -> usize {
        n
    }
}

/// The aggregation rules, in the order listings and tables show them.
pub const RULES: &[Spec<dyn Aggregator>] = &[
    average::SPEC,
    median::SPEC,
    trmean::SPEC,
    geometric_median::SPEC,
    krum::SPEC,
    multi_krum::SPEC,
    centered_clipping::SPEC,
    monna::SPEC,
    meamed::SPEC,
    bulyan::SPEC,
    median_of_means::SPEC,
    mda::SPEC,
    caf::SPEC,
    smea::SPEC,
    spectral::SPEC,
    dnc::SPEC,
];

/// The pre-aggregators.
pub const PRE_AGGREGATORS: &[Spec<dyn PreAggregator>] = &[
    pre::nnm::SPEC,
    pre::bucketing::SPEC,
    pre::clipping::SPEC,
    pre::arc::SPEC,
];

/// Builds an aggregation rule by name.
///
/// # Errors
/// [`Error::Unknown`] for an unknown name or parameter key; [`Error::Unsupported`] for
/// [`Compat::Byzfl`] with a rule ByzFL 0.0.11 does not have (never a silent native run); the
/// rule's own validation errors. Under [`Compat::Byzfl`] the rule takes NaN input as ByzFL
/// does (the table in the `far` module).
pub fn build(name: &str, params: &Params, compat: Compat) -> Result<Box<dyn Aggregator>> {
    require_in_byzfl(RULES, "aggregator", name, compat)?;
    let rule = build_from(RULES, "aggregator", name, params, compat)?;
    match compat {
        Compat::Native => Ok(rule),
        Compat::Byzfl => {
            let name = lookup(RULES, "aggregator", name)?.name;
            Ok(Box::new(far::ByzflNan::new(name, params, rule)?))
        }
    }
}

/// Builds a pre-aggregator by name.
///
/// # Errors
/// As [`build`].
pub fn build_pre(name: &str, params: &Params, compat: Compat) -> Result<Box<dyn PreAggregator>> {
    require_in_byzfl(PRE_AGGREGATORS, "pre-aggregator", name, compat)?;
    let step = build_from(PRE_AGGREGATORS, "pre-aggregator", name, params, compat)?;
    match compat {
        Compat::Native => Ok(step),
        Compat::Byzfl => {
            let name = lookup(PRE_AGGREGATORS, "pre-aggregator", name)?.name;
            Ok(Box::new(far::ByzflNan::new(name, params, step)?))
        }
    }
}

/// Whether the rule or pre-aggregator named `name` (any spelling) changes meaning with the
/// declared f (trmean, krum, nnm, ...), so a caller that has no f must ask for one rather than
/// run f = 0. Average, median, geometric median and centered clipping accept `f` (as ByzFL's
/// constructors do) but ignore it.
///
/// # Errors
/// [`Error::Unknown`] for a name in neither registry.
pub fn depends_on_f(name: &str) -> Result<bool> {
    const IGNORE_F: &[&str] = &["average", "median", "geometric_median", "centered_clipping"];
    let keys = match lookup(PRE_AGGREGATORS, "pre-aggregator", name) {
        Ok(spec) => spec.keys,
        Err(_) => {
            let spec = lookup(RULES, "aggregator", name)?;
            if IGNORE_F.contains(&spec.name) {
                return Ok(false);
            }
            spec.keys
        }
    };
    Ok(keys.contains(&"f"))
}

/// How vectors that possibly Byzantine users sent are read under `compat`.
///
/// Natively ±∞ passes and a NaN entry is read as +∞ ([`NonFiniteEntries::AtInfinity`]): the
/// vector is a point at infinity, which every rule sets aside, trims or clips as its module
/// docs say (the common reading is in the `far` module). `--compat byzfl` keeps ±∞ and NaN
/// ([`NonFiniteEntries::Keep`]): each rule then computes what ByzFL 0.0.11's NumPy arithmetic
/// computes where that is a number, and reports an error naming the rule where ByzFL returns
/// NaN (or None) or where its answer hangs on an unspecified order of NaN keys (the table is
/// in the `far` module).
pub fn untrusted_entries(compat: Compat) -> NonFiniteEntries {
    match compat {
        Compat::Native => NonFiniteEntries::AtInfinity,
        Compat::Byzfl => NonFiniteEntries::Keep,
    }
}

/// Whether `v` holds a NaN: a fold without early exit over runs of 256, which the compiler
/// vectorises, compiled for the widest instructions. On an aggregate of 10⁵ values it takes
/// 8 µs; `any` over the `DVector`'s iterator took 81 µs, 4 % of a two-thread trimmed mean
/// called from Python (docs/performance.md).
fn has_nan(v: &[f64]) -> bool {
    crate::simd::widest(
        #[inline(always)]
        || {
            v.chunks(256)
                .any(|run| run.iter().fold(false, |nan, x| nan | x.is_nan()))
        },
    )
}

/// [`Compat::Byzfl`] promises ByzFL 0.0.11's arithmetic, so an item ByzFL lacks is refused.
fn require_in_byzfl<T: ?Sized>(
    registry: &[Spec<T>],
    family: &str,
    name: &str,
    compat: Compat,
) -> Result<()> {
    let spec = lookup(registry, family, name)?;
    if compat == Compat::Byzfl && spec.byzfl.is_none() {
        return Err(Error::Unsupported(format!(
            "{family} `{}` does not exist in ByzFL 0.0.11, so `--compat byzfl` cannot reproduce \
             it; run it with `--compat native`",
            spec.name
        )));
    }
    Ok(())
}

/// One named step with its parameters, as written in configs (`{"name": "nnm", "params": {"f": 10}}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Registry name (snake_case or ByzFL's class name).
    pub name: String,
    /// Parameters in ByzFL's spelling.
    #[serde(default)]
    pub params: Params,
}

impl StepSpec {
    /// A step with no parameters.
    pub fn named(name: &str) -> Self {
        StepSpec {
            name: name.to_string(),
            params: Params::new(),
        }
    }

    /// Parses the CLI form `NAME[:KEY=VALUE[,KEY=VALUE]...]`.
    ///
    /// # Errors
    /// [`Error::Parse`] for malformed assignments.
    pub fn parse(s: &str) -> Result<Self> {
        let (name, rest) = match s.split_once(':') {
            Some((n, r)) => (n, Some(r)),
            None => (s, None),
        };
        let mut params = Params::new();
        for kv in rest
            .into_iter()
            .flat_map(|r| r.split(','))
            .filter(|kv| !kv.is_empty())
        {
            let (k, v) = Params::parse_assignment(kv)?;
            params.set(&k, v);
        }
        Ok(StepSpec {
            name: name.trim().to_string(),
            params,
        })
    }
}

/// A pipeline as data: pre-aggregators in order, then the rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// The aggregation rule.
    pub rule: StepSpec,
    /// Pre-aggregators applied first, in order.
    #[serde(default)]
    pub pre: Vec<StepSpec>,
}

impl PipelineSpec {
    /// Builds the pipeline.
    ///
    /// # Errors
    /// Those of [`build`] and [`build_pre`].
    pub fn build(&self, compat: Compat) -> Result<Pipeline> {
        Ok(Pipeline {
            pre: self
                .pre
                .iter()
                .map(|s| build_pre(&s.name, &s.params, compat))
                .collect::<Result<_>>()?,
            agg: build(&self.rule.name, &self.rule.params, compat)?,
        })
    }

    /// A short label: `nnm+trmean`.
    pub fn label(&self) -> String {
        let mut parts: Vec<&str> = self.pre.iter().map(|s| s.name.as_str()).collect();
        parts.push(&self.rule.name);
        parts.join("+")
    }
}

/// Pre-aggregators in order, then the aggregator.
pub struct Pipeline {
    /// Applied first, in order.
    pub pre: Vec<Box<dyn PreAggregator>>,
    /// Applied to the pre-aggregated vectors.
    pub agg: Box<dyn Aggregator>,
}

impl Pipeline {
    /// How a caller holding vectors from possibly Byzantine users hands them to this pipeline
    /// ([`untrusted_entries`]), except where the pipeline is one rule that reads NaN as +∞
    /// itself ([`Aggregator::reads_nan_as_infinity`]), alone or after a native NNM that runs
    /// fused with it ([`Nnm::then_coordinatewise`], which hands NaN on to it): then the entries
    /// pass as they are and a borrowed buffer needs neither the rewrite nor the scan that
    /// decides on it.
    pub fn untrusted_entries(&self, compat: Compat) -> NonFiniteEntries {
        let one_pass = self.pre.is_empty() || self.fused_nnm().is_some();
        if one_pass && self.agg.reads_nan_as_infinity() {
            NonFiniteEntries::Keep
        } else {
            untrusted_entries(compat)
        }
    }

    /// The native NNM when the pipeline is NNM then the median or the trimmed mean: rules
    /// computed coordinate by coordinate, so the pair runs fused ([`Nnm::then_coordinatewise`],
    /// the same bits without NNM's n×d output).
    fn fused_nnm(&self) -> Option<&Nnm> {
        let [pre] = self.pre.as_slice() else {
            return None;
        };
        let nnm = (&**pre as &dyn std::any::Any).downcast_ref::<Nnm>()?;
        let rule = &*self.agg as &dyn std::any::Any;
        let coordinatewise = rule.is::<trmean::TrimmedMean>() || rule.is::<median::Median>();
        (nnm.is_native() && coordinatewise).then_some(nnm)
    }

    /// A pipeline with no pre-aggregation.
    pub fn rule(agg: Box<dyn Aggregator>) -> Self {
        Pipeline {
            pre: Vec::new(),
            agg,
        }
    }

    /// Checks every step's requirement for n inputs, before any work.
    ///
    /// # Errors
    /// The first failing step's [`Error::TooFewInputs`].
    pub fn check_n(&self, mut n: usize) -> Result<()> {
        for p in &self.pre {
            p.check_n(n)?;
            n = p.output_len(n);
        }
        self.agg.check_n(n)
    }

    /// Runs the pre-aggregators, then the rule.
    ///
    /// # Errors
    /// Those of the steps.
    pub fn run(&self, x: UpdatesView<'_>, cx: &mut AggContext<'_>) -> Result<DVector<f64>> {
        if self.pre.is_empty() {
            self.check_n(x.n())?;
            return self.no_nan_out(self.agg.aggregate(x, cx)?);
        }
        self.check_n(x.n())?;
        if let Some(nnm) = self.fused_nnm() {
            let all: Vec<usize> = (0..x.n()).collect();
            return self.no_nan_out(nnm.then_coordinatewise(x, &all, &*self.agg)?);
        }
        // The pre-aggregators rewrite their input: the first reads it borrowed (one copy,
        // then in place, or a fresh output), the others in place.
        let (first, rest) = self.pre.split_first().expect("invariant: a pre-aggregator");
        let mut x = first.apply_view(x, cx)?;
        for p in rest {
            x = p.apply(x, cx)?;
        }
        self.no_nan_out(self.agg.aggregate(x.view(), cx)?)
    }

    /// [`Pipeline::run`] on vectors from possibly Byzantine users read as they are, without
    /// the scan that [`NonFiniteEntries::AtInfinity`] needs, when the rule's own pass proves
    /// them finite ([`Aggregator::aggregate_if_finite`], natively Krum): the output of `run`
    /// on them. `Ok(None)` otherwise (the caller then reads them under
    /// [`Pipeline::untrusted_entries`] and calls `run`), with nothing drawn from `cx`.
    ///
    /// # Errors
    /// [`Pipeline::check_n`]'s.
    pub fn run_if_finite(
        &self,
        x: UpdatesView<'_>,
        cx: &mut AggContext<'_>,
    ) -> Result<Option<DVector<f64>>> {
        if !self.pre.is_empty() {
            return Ok(None);
        }
        self.check_n(x.n())?;
        match self.agg.aggregate_if_finite(x, cx)? {
            Some(out) => self.no_nan_out(out).map(Some),
            None => Ok(None),
        }
    }

    /// Whether [`Pipeline::run_counted`] works on the distinct vectors (no pre-aggregator
    /// and a rule that [`Aggregator::takes_counts`], or NNM fused with a coordinate-wise rule,
    /// which takes its distances between the distinct vectors: [`Nnm::then_coordinatewise`]);
    /// otherwise a caller holding copies writes them out and calls [`Pipeline::run`].
    pub fn takes_counts(&self) -> bool {
        (self.pre.is_empty() && self.agg.takes_counts()) || self.fused_nnm().is_some()
    }

    /// [`Pipeline::run`] of the input in which column i of `x` appears `counts[i]` times
    /// ([`expand`]).
    ///
    /// # Errors
    /// Those of the steps; [`Error::DimensionMismatch`] for counts that do not fit `x`.
    pub fn run_counted(
        &self,
        x: UpdatesView<'_>,
        counts: &[usize],
        cx: &mut AggContext<'_>,
    ) -> Result<DVector<f64>> {
        if !self.takes_counts() {
            return self.run_owned(expand(x, counts)?, cx);
        }
        self.check_counts(x.n(), counts)?;
        if let Some(nnm) = self.fused_nnm() {
            let cols = expanded_indices(x.n(), counts)?;
            return self.no_nan_out(nnm.then_coordinatewise(x, &cols, &*self.agg)?);
        }
        self.no_nan_out(self.agg.aggregate_counted(x, counts, cx)?)
    }

    /// [`Pipeline::run_counted`] of `x` with its last column written first ([`FillLast`]):
    /// the same result, with one read of the input fewer where the rule's first pass writes
    /// the column.
    ///
    /// # Errors
    /// Those of [`Pipeline::run_counted`].
    pub fn run_counted_filling(
        &self,
        x: FillLast<'_>,
        counts: &[usize],
        cx: &mut AggContext<'_>,
    ) -> Result<DVector<f64>> {
        // On input it refuses, the column is written all the same (the caller reads it).
        if !self.takes_counts() || self.check_counts(x.n(), counts).is_err() {
            return self.run_counted(x.written(), counts, cx);
        }
        if let Some(nnm) = self.fused_nnm() {
            let cols = expanded_indices(x.n(), counts)?;
            return self.no_nan_out(nnm.then_coordinatewise_filling(x, &cols, &*self.agg)?);
        }
        self.no_nan_out(self.agg.aggregate_counted_filling(x, counts, cx)?)
    }

    /// One multiplicity per distinct vector, and the rule's requirement on their total.
    fn check_counts(&self, n: usize, counts: &[usize]) -> Result<()> {
        if counts.len() != n {
            return Err(Error::DimensionMismatch {
                what: "multiplicities of the distinct vectors".into(),
                expected: n,
                got: counts.len(),
            });
        }
        self.check_n(counts.iter().sum())
    }

    /// [`Pipeline::run`] on vectors the caller gives up, so the pre-aggregators rewrite them
    /// in place without a copy.
    ///
    /// # Errors
    /// Those of the steps.
    pub fn run_owned(&self, x: Updates, cx: &mut AggContext<'_>) -> Result<DVector<f64>> {
        if self.fused_nnm().is_some() {
            return self.run(x.view(), cx);
        }
        self.check_n(x.n())?;
        let mut x = x;
        for p in &self.pre {
            x = p.apply(x, cx)?;
        }
        self.no_nan_out(self.agg.aggregate(x.view(), cx)?)
    }

    /// A NaN in the aggregate is an error, never a number (O(d)): natively no rule returns one
    /// (NaN input is read as +∞), and under `--compat byzfl` it is what ByzFL returns on NaN
    /// input in a case no rule caught first (see `far`).
    fn no_nan_out(&self, out: DVector<f64>) -> Result<DVector<f64>> {
        if has_nan(out.as_slice()) {
            return Err(far::byzfl_returns_nan(
                &self.label(),
                "a NaN reaches the aggregate through NumPy's arithmetic",
            ));
        }
        Ok(out)
    }

    /// `nnm+trmean` style label from the steps' names.
    pub fn label(&self) -> String {
        let mut parts: Vec<&str> = self.pre.iter().map(|s| s.name()).collect();
        parts.push(self.agg.name());
        parts.join("+")
    }
}

/// The common f-based requirement of ByzFL (every f-based rule raises when 2f ≥ n).
///
/// # Errors
/// [`Error::TooFewInputs`] when 2f ≥ n.
pub fn require_honest_majority(rule: &str, n: usize, f: usize) -> Result<()> {
    if 2 * f >= n {
        return Err(Error::too_few(
            rule,
            format!("n > 2f = {}", 2 * f),
            format!("n = {n} (f = {f})"),
        ));
    }
    Ok(())
}

pub use crate::data::population::MAX_PAIRWISE_N;

/// Refuses more than [`MAX_PAIRWISE_N`] inputs to `rule`, which holds n × n matrices (n² ≤
/// 2³⁰ values, the limit of one input matrix).
///
/// # Errors
/// [`Error::InvalidParameter`] naming the rule and the limit.
pub fn require_pairwise_fits(rule: &str, n: usize) -> Result<()> {
    if n > MAX_PAIRWISE_N {
        return Err(Error::invalid(
            "n",
            n,
            format!(
                "{rule} holds n x n matrices: at most {MAX_PAIRWISE_N} inputs (n^2 <= 2^30 \
                 values, 8 GiB)"
            ),
        ));
    }
    Ok(())
}

/// Rejects ±∞ for rules that are undefined on it.
///
/// # Errors
/// [`Error::NonFinite`].
pub fn require_finite(rule: &str, x: UpdatesView<'_>) -> Result<()> {
    if x.all_finite() {
        Ok(())
    } else {
        Err(Error::NonFinite {
            what: format!("input of {rule}"),
            detail: "infinite entries (the `inf` attack) are not defined for this rule".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every rule and pre-aggregator that holds n × n matrices refuses MAX_PAIRWISE_N + 1
    /// inputs up front (40 000 one-dimensional inputs to Krum aborted allocating 12.8 GB
    /// under an 8 GB limit) and takes MAX_PAIRWISE_N, in both modes; the coordinate-wise rules
    /// take more. Fails if a rule's `check_n` drops the limit (seen with Krum's).
    #[test]
    fn pairwise_rules_refuse_more_inputs_than_their_matrices_hold() {
        let p = Params::new().with("f", 1.0);
        let over = MAX_PAIRWISE_N + 1;
        for compat in [Compat::Native, Compat::Byzfl] {
            let pairwise = [
                "krum",
                "multi_krum",
                "bulyan",
                "caf",
                "dnc",
                "geometric_median",
                "mda",
                "smea",
                "spectral",
            ];
            for name in pairwise {
                // Rules ByzFL lacks are built natively only.
                let Ok(rule) = build(name, &p, compat) else {
                    assert_eq!(compat, Compat::Byzfl, "{name}");
                    continue;
                };
                let e = rule.check_n(over).unwrap_err().to_string();
                assert!(e.contains("n x n") && e.contains(name), "{name}: {e}");
                assert!(rule.check_n(MAX_PAIRWISE_N).is_ok(), "{name}");
            }
            let nnm = build_pre("nnm", &p, compat).unwrap();
            assert!(nnm.check_n(over).unwrap_err().to_string().contains("n x n"));
            for name in ["average", "median", "trmean", "meamed", "centered_clipping"] {
                assert!(
                    build(name, &p, compat).unwrap().check_n(over).is_ok(),
                    "{name}"
                );
            }
        }
    }

    /// `has_nan` finds one NaN (quiet or signalling, either sign) at every position of a
    /// vector that spans runs of 256 and a ragged last run, and nothing in one of ±0, ±∞ and
    /// finite values. Mutation seen to fail it: each run read from its second value on.
    #[test]
    fn has_nan_finds_a_nan_anywhere() {
        let clean: Vec<f64> = (0..600)
            .map(|i| [0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, 1.5, -2e300][i % 6])
            .collect();
        assert!(!has_nan(&clean));
        assert!(!has_nan(&[]));
        let nans = [
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7ff0_0000_0000_0001),
            f64::from_bits(0xfff0_0000_0000_0001),
        ];
        for at in 0..clean.len() {
            let mut v = clean.clone();
            v[at] = nans[at % nans.len()];
            assert!(has_nan(&v), "NaN at {at}");
        }
    }

    #[test]
    fn byzfl_semantics_refuse_rules_byzfl_lacks() {
        // A rule ByzFL 0.0.11 does not have must not run silently with native semantics.
        for spec in RULES {
            let built = build(spec.name, &Params::new().with("f", 1.0), Compat::Byzfl);
            match spec.byzfl {
                Some(_) => assert!(built.is_ok(), "{}", spec.name),
                None => {
                    let e = built.err().expect("refused").to_string();
                    assert!(e.contains(spec.name) && e.contains("ByzFL"), "{e}");
                }
            }
        }
        assert!(build("bulyan", &Params::new().with("f", 1.0), Compat::Native).is_ok());
    }

    /// Every iteration count of every rule and pre-aggregator is refused above
    /// [`crate::params::MAX_ITERATIONS`] by the builder itself, and accepted at the cap. Fails
    /// if any builder reads its count with `Params::count` instead of `Params::iterations`
    /// (checked: reverting centered clipping's `L` to `count` fails it).
    #[test]
    fn builders_cap_iteration_counts() {
        use crate::params::MAX_ITERATIONS;
        let cap = MAX_ITERATIONS as f64;
        for (name, key) in [
            ("centered_clipping", "L"),
            ("geometric_median", "T"),
            ("dnc", "num_iters"),
        ] {
            for compat in [Compat::Native, Compat::Byzfl] {
                if compat == Compat::Byzfl
                    && lookup(RULES, "aggregator", name).unwrap().byzfl.is_none()
                {
                    continue;
                }
                let p = |v: f64| Params::new().with("f", 1.0).with(key, v);
                assert!(
                    build(name, &p(cap), compat).is_ok(),
                    "{name}:{key} at the cap"
                );
                let e = build(name, &p(1e9), compat).err().expect("refused");
                assert!(
                    matches!(e, Error::InvalidParameter { ref name, .. } if name == key),
                    "{e}"
                );
                assert!(e.to_string().contains("capped at 100000"), "{e}");
            }
        }
    }

    /// Random distinct vectors with multiplicities for the counted-input tests, or `None`
    /// when every count is 0: 2–7 vectors counted 0–4 times, dimension 1–12 (250–600 in
    /// every fifth case, so that the pair passes span blocks), some rows far (1e300 or 1e8
    /// away), with ±∞ or NaN entries (read as +∞), or duplicates of another row.
    fn counted_input(rng: &mut crate::rng::SimRng, case: usize) -> Option<(Updates, Vec<usize>)> {
        use rand::RngExt;
        let k = rng.random_range(2..=7usize);
        let d = if case.is_multiple_of(5) {
            rng.random_range(250..=600)
        } else {
            rng.random_range(1..=12)
        };
        let mut m = nalgebra::DMatrix::from_fn(d, k, |_, _| rng.random::<f64>() * 2.0 - 1.0);
        for c in 0..k {
            match rng.random_range(0..12) {
                0 => m.column_mut(c).iter_mut().for_each(|v| *v *= 1e300),
                1 => m.column_mut(c).iter_mut().for_each(|v| *v += 1e8),
                2 => m[(rng.random_range(0..d), c)] = f64::INFINITY,
                3 => m[(rng.random_range(0..d), c)] = f64::NEG_INFINITY,
                4 => m[(rng.random_range(0..d), c)] = f64::NAN,
                5 if c > 0 => {
                    let other = m.column(rng.random_range(0..c)).clone_owned();
                    m.set_column(c, &other);
                }
                _ => {}
            }
        }
        let x = Updates::new_untrusted(m).unwrap();
        let counts: Vec<usize> = (0..k)
            .map(|_| [0, 1, 1, 1, 2, 3, 4][rng.random_range(0..7)])
            .collect();
        (counts.iter().sum::<usize>() > 0).then_some((x, counts))
    }

    /// The rules that take multiplicities give on distinct vectors with counts what they give
    /// on the expanded input (`expand`): the same bits for the average and Krum, the same
    /// minimiser to 1e-9 of the data's scale for the geometric median (its sums over copies
    /// are products there; its iteration stops at 1e-10 of the spread, and the rounding of
    /// a 1e300 row tamed by a power of two is inside that), the same error where the
    /// expanded input has one. Random inputs of 2–7 distinct vectors counted 0–4 times
    /// (dimension 1–600, so that the Gram pass spans blocks), some rows far (1e300 or 1e8
    /// away), with ±∞ or NaN entries (read as +∞), or duplicates of another row.
    ///
    /// Mutation checked: Krum's score leaving out the distances between copies of one
    /// vector (`counts[i] - 1` → 0 in `native_scores_counted`) fails it (case 8).
    #[test]
    fn counted_inputs_aggregate_as_their_expansion() {
        use crate::rng::rng_from_seed;
        use rand::RngExt;
        let mut rng = rng_from_seed(2024);
        let mut compared = [0usize; 3];
        for case in 0..400 {
            let Some((x, counts)) = counted_input(&mut rng, case) else {
                continue;
            };
            let n: usize = counts.iter().sum();
            let expanded = expand(x.view(), &counts).unwrap();
            let scale = expanded
                .view()
                .as_slice()
                .iter()
                .filter(|v| v.is_finite())
                .fold(1.0f64, |a, v| a.max(v.abs()));
            let f = rng.random_range(0..=n / 3);
            for (r, name) in ["average", "krum", "geometric_median"].iter().enumerate() {
                let rule = build(name, &Params::new().with("f", f as f64), Compat::Native).unwrap();
                assert!(rule.takes_counts(), "{name}");
                let mut r1 = crate::rng::rng_from_seed(1);
                let mut r2 = crate::rng::rng_from_seed(1);
                let a = rule.aggregate(expanded.view(), &mut AggContext::new(&mut r1));
                let b = rule.aggregate_counted(x.view(), &counts, &mut AggContext::new(&mut r2));
                match (a, b) {
                    (Ok(a), Ok(b)) => {
                        compared[r] += 1;
                        if *name == "geometric_median" {
                            for (p, q) in a.iter().zip(b.iter()) {
                                assert!(
                                    (p - q).abs() <= 1e-9 * scale,
                                    "case {case} {name}: {p} vs {q} (counts {counts:?})"
                                );
                            }
                        } else {
                            let bits = |v: &DVector<f64>| {
                                v.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
                            };
                            assert_eq!(bits(&a), bits(&b), "case {case} {name}, counts {counts:?}");
                        }
                    }
                    (Err(a), Err(b)) => assert_eq!(
                        std::mem::discriminant(&a),
                        std::mem::discriminant(&b),
                        "case {case} {name}: {a} vs {b}"
                    ),
                    (a, b) => panic!("case {case} {name}: {a:?} vs {b:?}"),
                }
            }
        }
        // Most cases reach a result (not only errors on both sides).
        assert!(compared.iter().all(|&c| c > 100), "{compared:?}");
    }

    /// NNM fused with a coordinate-wise rule takes multiplicities
    /// ([`Pipeline::takes_counts`]): its distances taken between the distinct vectors and read
    /// for every copy give the bits of the pipeline on the expanded input, or its error (the
    /// same message), for the trimmed mean and the median after NNM. Inputs of
    /// `counted_input`: duplicated rows, copies counted up to 4 times, ±∞ and NaN rows (NNM
    /// hands a vector at infinity on, or refuses more than f of them).
    ///
    /// Mutations checked: reading the distances at the expanded positions instead of their
    /// columns (`between[p·m + q]`, clamped), or the mixing's sources likewise, fails it.
    #[test]
    fn nnm_on_counted_inputs_gives_the_expanded_bits() {
        use crate::rng::rng_from_seed;
        use rand::RngExt;
        let mut rng = rng_from_seed(2025);
        let mut compared = 0usize;
        for case in 0..400 {
            let Some((x, counts)) = counted_input(&mut rng, case) else {
                continue;
            };
            let n: usize = counts.iter().sum();
            let expanded = expand(x.view(), &counts).unwrap();
            let f = rng.random_range(0..=n / 3);
            for rule in ["trmean", "median"] {
                let mut nnm = StepSpec::named("nnm");
                nnm.params.set("f", f as f64);
                let mut agg = StepSpec::named(rule);
                if depends_on_f(rule).unwrap() {
                    agg.params.set("f", f as f64);
                }
                let p = PipelineSpec {
                    rule: agg,
                    pre: vec![nnm],
                }
                .build(Compat::Native)
                .unwrap();
                assert!(p.takes_counts(), "nnm+{rule}");
                let (mut r1, mut r2) = (rng_from_seed(1), rng_from_seed(1));
                let a = p.run(expanded.view(), &mut AggContext::new(&mut r1));
                let b = p.run_counted(x.view(), &counts, &mut AggContext::new(&mut r2));
                let what = format!("case {case} nnm+{rule} f {f} counts {counts:?}");
                match (a, b) {
                    (Ok(a), Ok(b)) => {
                        compared += 1;
                        let bits =
                            |v: &DVector<f64>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        assert_eq!(bits(&a), bits(&b), "{what}");
                    }
                    (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{what}"),
                    (a, b) => panic!("{what}: {a:?} vs {b:?}"),
                }
            }
        }
        assert!(compared > 300, "{compared}");
    }

    /// k random columns of d entries in [−1, 1) and one more (random, for a fill to
    /// overwrite), column-major; some of the k far (10³⁰⁰ or 10⁸ away) or with one entry ±∞,
    /// and where `zeros` one coordinate −0 in all k.
    pub(crate) fn random_columns(
        rng: &mut crate::rng::SimRng,
        k: usize,
        d: usize,
        zeros: bool,
    ) -> Vec<f64> {
        use rand::RngExt;
        let mut buf: Vec<f64> = (0..(k + 1) * d)
            .map(|_| rng.random::<f64>() * 2.0 - 1.0)
            .collect();
        for col in buf[..k * d].chunks_mut(d) {
            match rng.random_range(0..12) {
                0 => col.iter_mut().for_each(|v| *v *= 1e300),
                1 => col.iter_mut().for_each(|v| *v += 1e8),
                2 => col[rng.random_range(0..d)] = f64::INFINITY,
                3 => col[rng.random_range(0..d)] = f64::NEG_INFINITY,
                _ => {}
            }
        }
        if zeros {
            let j = rng.random_range(0..d);
            (0..k).for_each(|i| buf[i * d + j] = -0.0);
        }
        buf
    }

    /// A fill of ALIE's shape: the others' mean plus a random multiple of their spread, or
    /// that plus 10⁸ (far from the rest), or +∞; offering the others' sums (added from the
    /// first vector on, as ALIE's mean) where `offers_sum`.
    pub(crate) fn spread_fill(
        rng: &mut crate::rng::SimRng,
        offers_sum: bool,
    ) -> impl Fn(UpdatesView<'_>, usize, &mut [f64], Option<&mut [f64]>) -> bool + Sync {
        use rand::RngExt;
        let (tau, shift) = match rng.random_range(0..4) {
            0 => (1.5, 1e8),
            1 => (0.0, f64::INFINITY),
            _ => (rng.random::<f64>() * 3.0 - 1.5, 0.0),
        };
        move |others: UpdatesView<'_>, lo: usize, out: &mut [f64], sums: Option<&mut [f64]>| {
            let mut sums = sums.filter(|_| offers_sum);
            for (j, o) in out.iter_mut().enumerate() {
                let mut vals = others.cols().map(|c| c[lo + j]);
                let first = vals.next().expect("two columns or more");
                let (mut sum, mut min, mut max) = (first, first, first);
                for v in vals {
                    (sum, min, max) = (sum + v, min.min(v), max.max(v));
                }
                if let Some(s) = sums.as_deref_mut() {
                    s[j] = sum;
                }
                let spread = if max > min { max - min } else { 0.0 };
                *o = sum / others.n() as f64 + tau * spread + shift;
            }
            sums.is_some()
        }
    }

    /// A last column written block by block during the rule's first pass
    /// ([`Pipeline::run_counted_filling`]: the average's sum, the Gram pass of native Krum
    /// and of the geometric median) gives the bits, or the error, of the same column
    /// written whole first and [`Pipeline::run_counted`], and leaves that column in the
    /// buffer. Random inputs of 2–8 columns before the last, dimension 1–12 or 250–5000 (so
    /// that the Gram pass's blocks of 128–1024 coordinates, the mean's of 4096 and their
    /// ragged last blocks are crossed), some far (10³⁰⁰ or 10⁸ away, or ±∞ in one entry:
    /// `random_columns`); the last column is the mean of the others plus a multiple of their
    /// range, or that plus 10⁸ (far from the rest: the Gram matrix is taken again about the
    /// medoid), or +∞ (`spread_fill`); counted 0–4 times; in a quarter of the cases one
    /// coordinate is −0 in every column before the last. In half the cases the fill offers
    /// the others' sum, as ALIE's does.
    /// Rules: the average, Krum, the geometric median, the trimmed mean (both semantics; at
    /// these n the trimmed mean's one pass does not serve, so its column is written first:
    /// `trmean::tests::counted_and_filled_inputs_give_the_expanded_bits` covers its filling
    /// pass) and NNM + the trimmed mean (which takes counts natively, its distances' pass
    /// writing the column: [`Nnm::then_coordinatewise_filling`]).
    ///
    /// Mutations checked: writing each block of the last column from the others'
    /// coordinates one block later (`(b + 1) * block` in `distances::packed_pairs_filling`,
    /// clipped to d: the Gram pass's and NNM's distances' alike) fails it, and so does the average's pass writing only the first block of the column,
    /// and the average taking the offered sum without turning its −0 into +0.
    #[test]
    fn last_column_filled_in_the_first_pass_gives_the_written_bits() {
        use crate::rng::rng_from_seed;
        use rand::RngExt;
        let mut rng = rng_from_seed(7);
        let mut compared = 0usize;
        for case in 0..300 {
            let k = rng.random_range(2..=8usize);
            let d = if case % 3 == 0 {
                rng.random_range(250..=5000)
            } else {
                rng.random_range(1..=12)
            };
            let buf = random_columns(&mut rng, k, d, case % 4 == 1);
            let fill = spread_fill(&mut rng, case % 2 == 1);
            let mut whole = buf.clone();
            {
                let (others, last) = whole.split_at_mut(k * d);
                fill(UpdatesView::from_slice(others, d), 0, last, None);
            }
            let mut counts = vec![1; k];
            counts.push(rng.random_range(0..=4));
            let f = rng.random_range(0..=(counts.iter().sum::<usize>() - 1) / 2);
            for name in [
                "average",
                "krum",
                "geometric_median",
                "trmean",
                "nnm+trmean",
            ] {
                for compat in [Compat::Native, Compat::Byzfl] {
                    let step = |name: &str| StepSpec {
                        name: name.into(),
                        params: Params::new().with("f", f as f64),
                    };
                    let spec = match name.split_once('+') {
                        Some((pre, rule)) => PipelineSpec {
                            rule: step(rule),
                            pre: vec![step(pre)],
                        },
                        None => PipelineSpec {
                            rule: step(name),
                            pre: vec![],
                        },
                    };
                    let p = spec.build(compat).unwrap();
                    let mut filled = buf.clone();
                    let (mut r1, mut r2) = (rng_from_seed(1), rng_from_seed(1));
                    let a = p.run_counted_filling(
                        FillLast::new(&mut filled, d, &fill).unwrap(),
                        &counts,
                        &mut AggContext::new(&mut r1),
                    );
                    let b = p.run_counted(
                        UpdatesView::from_slice(&whole, d),
                        &counts,
                        &mut AggContext::new(&mut r2),
                    );
                    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    let what = format!("case {case} {name} {compat:?} d {d} counts {counts:?}");
                    assert_eq!(bits(&filled[k * d..]), bits(&whole[k * d..]), "{what}");
                    match (a, b) {
                        (Ok(a), Ok(b)) => {
                            compared += 1;
                            assert_eq!(bits(a.as_slice()), bits(b.as_slice()), "{what}");
                        }
                        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{what}"),
                        (a, b) => panic!("{what}: {a:?} vs {b:?}"),
                    }
                }
            }
        }
        assert!(compared > 1000, "{compared}");
    }

    /// NNM then the median or the trimmed mean, run fused on the buffer as a Python caller
    /// hands it over (`Pipeline::untrusted_entries`: NaN left in place when the fused rule
    /// reads it as +∞), gives the same bits, or the same error, as the steps one after the
    /// other on the input with every NaN rewritten to +∞ (`Updates::new_untrusted`, NNM's
    /// whole n×d output, then the rule). Random inputs of 3–12 or 32–60 vectors, dimension 1–40 or
    /// 1000–2600 (so that the fused blocks of 1024 coordinates and their ragged last block are
    /// crossed), f from 0 to the largest n > 2f allows, rows with ±∞, NaN, 10³⁰⁰ entries or
    /// copies of another row, sometimes more of them than f; in every tenth case, 32–60
    /// vectors of which 1–6 are distinct.
    ///
    /// Mutations checked: starting the fused blocks at `c * BLOCK` (NNM's in-place block of
    /// 512) instead of `c * block` (1024 coordinates here) fails it (case 0, d = 2334); so
    /// does the trimmed mean reading a copy at its own position, which `mix_block` leaves
    /// unwritten (`Mixing::slots` giving i for `Copy(e)`).
    /// (Letting the trimmed mean with f = 0, the mean, take the unscanned buffer does not:
    /// NNM with f = 0 refuses any non-finite vector first, so no NaN reaches the mean.)
    #[test]
    fn fused_nnm_matches_the_steps_one_after_the_other() {
        use crate::rng::rng_from_seed;
        use rand::RngExt;
        let mut rng = rng_from_seed(1717);
        let mut compared = [0usize; 2];
        for case in 0..300 {
            // Every fifth case 32–60 vectors, where the native trimmed mean runs its one-pass
            // kernel (f ≤ 10).
            let n = if case % 5 == 4 {
                rng.random_range(32..=60usize)
            } else {
                rng.random_range(3..=12usize)
            };
            let d = if case % 4 == 0 {
                rng.random_range(1000..=2600)
            } else {
                rng.random_range(1..=40)
            };
            let mut m = nalgebra::DMatrix::from_fn(d, n, |_, _| rng.random::<f64>() * 2.0 - 1.0);
            for c in 0..n {
                match rng.random_range(0..24) {
                    0 => m[(rng.random_range(0..d), c)] = f64::INFINITY,
                    1 => m[(rng.random_range(0..d), c)] = f64::NEG_INFINITY,
                    2 | 3 => m[(rng.random_range(0..d), c)] = f64::NAN,
                    4 => m.column_mut(c).iter_mut().for_each(|v| *v *= 1e300),
                    5 if c > 0 => {
                        let other = m.column(rng.random_range(0..c)).clone_owned();
                        m.set_column(c, &other);
                    }
                    _ => {}
                }
            }
            // Every other case of 32–60 vectors holds 1–6 distinct ones, as a round under an
            // attack that sends one vector f times does: NNM's outputs are then a few and
            // their copies, read where they lie by the trimmed mean (`aggregate_at`).
            if n >= 32 && case % 10 == 9 {
                let k = rng.random_range(1..=6usize);
                for c in k..n {
                    let other = m.column(rng.random_range(0..k)).clone_owned();
                    m.set_column(c, &other);
                }
            }
            let f = rng.random_range(0..=(n - 1) / 2);
            for (r, rule) in ["trmean", "median"].iter().enumerate() {
                let spec = PipelineSpec {
                    rule: StepSpec {
                        name: rule.to_string(),
                        params: Params::new().with("f", f as f64),
                    },
                    pre: vec![StepSpec {
                        name: "nnm".into(),
                        params: Params::new().with("f", f as f64),
                    }],
                };
                let pipeline = spec.build(Compat::Native).unwrap();
                assert!(pipeline.fused_nnm().is_some());
                let entries = pipeline.untrusted_entries(Compat::Native);
                let copy;
                let x = match UpdatesView::from_buffer(m.as_slice(), d, entries).unwrap() {
                    Some(v) => v,
                    None => {
                        copy = Updates::with_entries(m.clone(), entries).unwrap();
                        copy.view()
                    }
                };
                let mut r1 = rng_from_seed(0);
                let fused = pipeline.run(x, &mut AggContext::new(&mut r1));
                let mut r2 = rng_from_seed(0);
                let cx = &mut AggContext::new(&mut r2);
                let rewritten = Updates::new_untrusted(m.clone()).unwrap();
                let steps = pipeline.pre[0]
                    .apply(rewritten, cx)
                    .and_then(|y| pipeline.agg.aggregate(y.view(), cx))
                    .and_then(|v| pipeline.no_nan_out(v));
                match (fused, steps) {
                    (Ok(a), Ok(b)) => {
                        compared[r] += 1;
                        let bits =
                            |v: &DVector<f64>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        assert_eq!(bits(&a), bits(&b), "case {case} {rule} n={n} d={d} f={f}");
                    }
                    (Err(a), Err(b)) => {
                        assert_eq!(a.to_string(), b.to_string(), "case {case} {rule}")
                    }
                    (a, b) => panic!("case {case} {rule} n={n} f={f}: {a:?} vs {b:?}"),
                }
            }
        }
        // Most cases reach an aggregate (not only errors on both sides).
        assert!(compared.iter().all(|&c| c > 120), "{compared:?}");
    }

    /// Native Krum on vectors nobody scanned (`Pipeline::run_if_finite`) returns the output
    /// of `Pipeline::run` on the input with every NaN rewritten to +∞, or declines; it
    /// declines on every input with a non-finite entry, and answers on every finite input
    /// whose squared distances do not overflow. Random inputs of 4–12 vectors, dimension
    /// 1–30 or 2000–5000 (the Gram pass in several blocks), rows with ±∞, NaN, 10³⁰⁰ entries
    /// or copies of another row, sometimes more of them than f.
    ///
    /// Mutation checked: Krum's `aggregate_if_finite` answering without the finiteness test
    /// of its distances fails it (case 0: an answer on an input with a non-finite entry).
    #[test]
    fn krum_on_unscanned_input_answers_only_when_its_distances_prove_it_finite() {
        use crate::rng::rng_from_seed;
        use rand::RngExt;
        let mut rng = rng_from_seed(1718);
        let mut answered = 0;
        for case in 0..400 {
            let n = rng.random_range(4..=12usize);
            let d = if case % 5 == 0 {
                rng.random_range(2000..=5000)
            } else {
                rng.random_range(1..=30)
            };
            let mut m = nalgebra::DMatrix::from_fn(d, n, |_, _| rng.random::<f64>() * 2.0 - 1.0);
            let mut huge = false;
            for c in 0..n {
                match rng.random_range(0..(if case % 3 == 0 { 4 } else { 30 })) {
                    0 => m[(rng.random_range(0..d), c)] = f64::INFINITY,
                    1 => m[(rng.random_range(0..d), c)] = f64::NEG_INFINITY,
                    2 => m[(rng.random_range(0..d), c)] = f64::NAN,
                    3 => {
                        m.column_mut(c).iter_mut().for_each(|v| *v *= 1e300);
                        huge = true;
                    }
                    4 if c > 0 => {
                        let other = m.column(rng.random_range(0..c)).clone_owned();
                        m.set_column(c, &other);
                    }
                    _ => {}
                }
            }
            let f = rng.random_range(0..=(n - 3) / 2);
            let pipeline = Pipeline::rule(
                build("krum", &Params::new().with("f", f as f64), Compat::Native).unwrap(),
            );
            let raw = UpdatesView::from_buffer(m.as_slice(), d, NonFiniteEntries::Keep)
                .unwrap()
                .unwrap();
            let mut r1 = rng_from_seed(0);
            let fast = pipeline
                .run_if_finite(raw, &mut AggContext::new(&mut r1))
                .unwrap();
            let finite = m.iter().all(|v| v.is_finite());
            let Some(fast) = fast else {
                assert!(!finite || huge, "case {case}: declined on a finite input");
                continue;
            };
            assert!(finite, "case {case}: answered on a non-finite input");
            answered += 1;
            let rewritten = Updates::new_untrusted(m.clone()).unwrap();
            let mut r2 = rng_from_seed(0);
            let want = pipeline
                .run(rewritten.view(), &mut AggContext::new(&mut r2))
                .unwrap();
            assert_eq!(fast, want, "case {case}");
        }
        assert!(answered > 60, "{answered}");
    }

    #[test]
    fn rules_that_trim_by_f_say_so() {
        for name in ["trmean", "krum", "nnm", "arc", "mda", "TrMean"] {
            assert!(depends_on_f(name).unwrap(), "{name}");
        }
        for name in [
            "average",
            "median",
            "geometric_median",
            "centered_clipping",
            "clipping",
        ] {
            assert!(!depends_on_f(name).unwrap(), "{name}");
        }
        assert!(depends_on_f("nope").is_err());
    }
}
