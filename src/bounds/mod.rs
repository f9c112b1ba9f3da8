//! Lower bounds: the best error any estimator can reach, as closed forms.
//!
//! Each result lives in a file named by its cite key and implements [`Bound`]: an id from the
//! project's bound reference (R1…R7 robust statistics, B1…B9 Byzantine learning, P1…P7
//! privacy, T1 the trilemma, M1…M4 memorization, O1…O5 others; a suffix such as `-huber`
//! names one formula of a result with several), a name, a [`Citation`], an honest
//! [`Status`], the hypotheses as data, the parameters it takes and an evaluation.
//!
//! Parameter keys follow the reference's notation: `d`, `n`, `m`, `eta` (contamination
//! fraction), `f` (Byzantine workers), `sigma`, `eps`, `delta`, `k`, `G`, `B`, … An unknown key
//! is rejected with the closest known key as suggestion ([`crate::Error::Unknown`]); a
//! missing required key is an [`crate::Error::InvalidParameter`].
//!
//! Parameters outside a result's hypotheses give [`crate::Error::OutsideHypotheses`] naming
//! the failed hypothesis, never a silent NaN. Past a breakdown point (η ≥ 1/2, f/n ≥ 1/(2+B²),
//! …) where the worst-case error is unbounded, evaluation succeeds with the typed value
//! [`Value::Infinite`] and its reason: the bound is +∞, which is a statement, not a failure.
//!
//! # Edges
//!
//! - η → 0: the contamination bounds go to 0 continuously; Φ⁻¹ near 1/2 is evaluated from the
//!   offset (see [`phi_inv_half_plus`]), so R1, R6, T1-gauss keep full relative precision
//!   (R1 ≈ √(π/2)·η/(1−η) and √(2π)·η at η = 1e-9, checked to 1e-12).
//! - η → breakdown (1/2, or 1/(2+B²) for B3): finite and growing up to the point, then
//!   [`Value::Infinite`] at and beyond it (never NaN, never a huge finite number by rounding).
//! - ε → 0: the DP bounds grow without bound but stay finite for every ε > 0; ε = 0 is
//!   accepted only where the formula is defined there (P1-twopoint → (1 − δ_k)/2, M3 → δ,
//!   M4 → chance 1/c, T1-coupling → C·k*/m with TV_k = δ_k).
//! - δ → 0: ln(1/δ) terms grow like √ln(1/δ); δ = 0 is pure DP where the result has a pure-DP
//!   form (P1-twopoint, M3, M4, T1-coupling, P4 switches formula) and an
//!   [`crate::Error::InvalidParameter`] where the formula needs δ > 0 (P1, T1-gauss, O4).
//! - Large ℓε or kε: exponentials that overflow saturate (TV_k → 1, accuracy caps → 1,
//!   (c−1)/(e^{ℓε}+c−1) → 0) instead of producing ∞/∞.
//!
//! [`CATALOGUE`] lists every result; [`lookup`] finds one by id (case-insensitive).
//! Proof sketches live in `proofs/<key>.md`; the hard instances of the two-point and mixture
//! proofs are in [`hard`].

/// Implements [`Bound`] for the unit struct `$ty` with metadata `$info`, evaluating as `$body`
/// with the checked arguments bound to `$a`. For results whose variants share one evaluation
/// function: `impl_bound!(R1Huber, INFO_H, |a| eval_model(a, Contamination::Huber));`.
macro_rules! impl_bound {
    ($ty:ty, $info:expr, |$a:ident| $body:expr) => {
        impl $crate::bounds::Bound for $ty {
            fn info(&self) -> &'static $crate::bounds::Info {
                &$info
            }
            fn compute(
                &self,
                $a: &$crate::bounds::Args<'_>,
            ) -> $crate::Result<$crate::bounds::BoundValue> {
                $body
            }
        }
    };
}

pub mod agarwal2024private;
pub mod allouah2023fixing;
pub mod allouah2023privacy;
pub mod allouah2023robust;
pub mod applicability;
pub mod bassily2014private;
pub mod bassily2019private;
pub mod blanchard2017machine;
pub mod brown2021memorization;
pub mod bubeck2021universal;
pub mod cai2021cost;
pub mod chen2018robust;
pub mod devroye2016subgaussian;
pub mod diakonikolas2017statistical;
pub mod dinur2003revealing;
pub mod douceur2002sybil;
pub mod duchi2018minimax;
pub mod dwork2014algorithmic;
pub mod elmhamdi2018hidden;
pub mod farhadkhani2022byzantine;
pub mod feldman2020does;
pub mod feldman2020neural;
pub mod guerraoui2021differential;
pub mod hard;
pub mod huber1964;
pub mod kamath2020private;
pub mod karimireddy2021learning;
pub mod karimireddy2022byzantine;
pub mod lamport1982byzantine;
pub mod rousseeuw1987robust;
pub mod steinhardt2018resilience;
pub mod warner1965randomized;
pub mod zhu2022generalized;

use crate::params::Params;
use crate::{Error, Result};
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal};

/// How far a result's statement has been checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The formula was checked against a primary source (the paper, its abstract for an
    /// order-level claim, or the authors' official code).
    Verified,
    /// Derived in this project with a proof sketch in `proofs/` (and, where said, checked
    /// numerically); the constant is ours, not quoted.
    DerivedHere,
    /// Stated from the literature without checking the original text. Never used as a test
    /// threshold.
    ToVerify,
}

impl Status {
    /// Short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Status::Verified => "verified",
            Status::DerivedHere => "derived here",
            Status::ToVerify => "to verify",
        }
    }
}

/// What kind of statement an entry makes, and whether its constant is meaningful.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A lower bound with an explicit valid constant: the formula is a true lower bound as
    /// stated (usable as a test threshold when the status allows). "Exact" does not mean
    /// best possible: an entry is also attained only where [`Info::tight`] says so.
    Exact,
    /// A lower bound up to constants or logarithms: plot it, never test against it.
    Order,
    /// Not a lower bound: the condition under which a published *guarantee* applies (a
    /// threshold the setting must pass, e.g. Krum's gradient-norm condition). It bounds no
    /// error, so it is kept out of lower-bound lists, `simulate`'s bounds and figure
    /// overlays; `bounds eval` still evaluates it.
    Condition,
}

impl Kind {
    /// Short label for tables: `exact`, `order`, `condition`.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Exact => "exact",
            Kind::Order => "order",
            Kind::Condition => "condition",
        }
    }

    /// One line for `show` and `eval`.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Exact => {
                "exact: an explicit valid constant (a true lower bound, not necessarily attained)"
            }
            Kind::Order => "order only: up to constants or logs",
            Kind::Condition => "condition of a guarantee, not a lower bound on any error",
        }
    }

    /// Whether the entry is a lower bound on an error (not a [`Kind::Condition`]).
    pub fn is_lower_bound(self) -> bool {
        !matches!(self, Kind::Condition)
    }
}

/// The part of the survey a result belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// R: robust mean estimation.
    RobustStatistics,
    /// B: Byzantine-robust distributed learning.
    Byzantine,
    /// P: differential privacy.
    Privacy,
    /// T: the privacy–robustness–utility trilemma.
    Trilemma,
    /// M: memorization.
    Memorization,
    /// O: other impossibilities.
    Other,
}

impl Family {
    /// Short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Family::RobustStatistics => "robust",
            Family::Byzantine => "byzantine",
            Family::Privacy => "privacy",
            Family::Trilemma => "trilemma",
            Family::Memorization => "memorization",
            Family::Other => "other",
        }
    }
}

/// Where a result was published.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Citation {
    /// Authors as printed (`A. B. Last, …`).
    pub authors: &'static str,
    /// Title.
    pub title: &'static str,
    /// Venue with volume and pages where known.
    pub venue: &'static str,
    /// Year of publication.
    pub year: u16,
    /// arXiv id, when there is one.
    pub arxiv: Option<&'static str>,
    /// DOI, when known.
    pub doi: Option<&'static str>,
}

impl Citation {
    /// One line: `Authors, "Title", Venue, Year, arXiv …`.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{}, \"{}\", {}, {}",
            self.authors, self.title, self.venue, self.year
        );
        if let Some(a) = self.arxiv {
            s.push_str(&format!(", arXiv {a}"));
        }
        if let Some(d) = self.doi {
            s.push_str(&format!(", doi {d}"));
        }
        s
    }

    /// `Last et al. Year` for narrow tables.
    pub fn short(&self) -> String {
        let first = self
            .authors
            .split(',')
            .next()
            .unwrap_or(self.authors)
            .trim();
        let last = first.rsplit(' ').next().unwrap_or(first);
        let etal = if self.authors.contains(',') || self.authors.contains('&') {
            " et al."
        } else {
            ""
        };
        format!("{last}{etal} {}", self.year)
    }
}

/// One hypothesis of a result, as data.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Hypothesis {
    /// Short name used in errors (`eta < 1/2`).
    pub name: &'static str,
    /// What it means.
    pub statement: &'static str,
}

/// One parameter a result takes.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ParamSpec {
    /// Key in the reference's notation (`eta`, `sigma`, `G`, …).
    pub key: &'static str,
    /// What it is.
    pub doc: &'static str,
    /// Default value; `None` means the key is required.
    pub default: Option<f64>,
}

impl ParamSpec {
    /// A required key.
    pub const fn req(key: &'static str, doc: &'static str) -> Self {
        ParamSpec {
            key,
            doc,
            default: None,
        }
    }

    /// An optional key with a default.
    pub const fn opt(key: &'static str, doc: &'static str, default: f64) -> Self {
        ParamSpec {
            key,
            doc,
            default: Some(default),
        }
    }
}

/// Everything about a result except its evaluation.
#[derive(Debug, Serialize)]
pub struct Info {
    /// Reference id (`R1-huber`, `B3`, …).
    pub id: &'static str,
    /// Cite key = file name in `src/bounds/` and `proofs/`.
    pub key: &'static str,
    /// Short name.
    pub name: &'static str,
    /// Survey part.
    pub family: Family,
    /// Exact constant, order only, or the condition of a guarantee.
    pub kind: Kind,
    /// Attained: an estimator shown in this project (named in [`Info::upper`], checked by a
    /// test) matches the constant on the result's own instance. Only for [`Kind::Exact`].
    pub tight: bool,
    /// How far it has been checked.
    pub status: Status,
    /// The statement with its formula, in plain text.
    pub statement: &'static str,
    /// The matching upper bound (what achieves it), when the reference gives one.
    pub upper: Option<&'static str>,
    /// The hypotheses.
    pub hypotheses: &'static [Hypothesis],
    /// The parameters.
    pub params: &'static [ParamSpec],
    /// Where the number comes from.
    pub citation: Citation,
    /// Keys the bound grows with (weakly), all else fixed.
    pub grows_with: &'static [&'static str],
    /// Keys the bound shrinks with (weakly), all else fixed.
    pub shrinks_with: &'static [&'static str],
    /// A valid parameter set (for `show`, monotonicity tests and docs).
    pub example: &'static [(&'static str, f64)],
}

impl Info {
    /// `proofs/<key>.md`.
    pub fn proof_page(&self) -> String {
        format!("proofs/{}.md", self.key)
    }

    /// The parameter keys.
    pub fn keys(&self) -> Vec<&'static str> {
        self.params.iter().map(|p| p.key).collect()
    }

    /// The example as [`Params`].
    pub fn example_params(&self) -> Params {
        let mut p = Params::new();
        for (k, v) in self.example {
            p.set(k, *v);
        }
        p
    }
}

/// The value of a lower bound.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    /// A finite number.
    Finite(f64),
    /// +∞: past a breakdown point, no estimator has bounded worst-case error.
    Infinite {
        /// Why (which breakdown point is reached).
        reason: String,
    },
}

/// A result evaluated at some parameters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BoundValue {
    /// The lower bound.
    pub value: Value,
    /// The matching upper bound (achieved by the estimator named in [`Info::upper`]) at the
    /// same parameters, when known in closed form.
    pub upper: Option<f64>,
}

impl BoundValue {
    /// A finite lower bound with no upper bound.
    pub fn finite(x: f64) -> Self {
        BoundValue {
            value: Value::Finite(x),
            upper: None,
        }
    }

    /// +∞ with its reason.
    pub fn infinite(reason: impl Into<String>) -> Self {
        BoundValue {
            value: Value::Infinite {
                reason: reason.into(),
            },
            upper: None,
        }
    }

    /// Adds the matching upper bound.
    pub fn with_upper(mut self, u: f64) -> Self {
        self.upper = Some(u);
        self
    }

    /// The finite value, `None` when infinite.
    pub fn as_f64(&self) -> Option<f64> {
        match self.value {
            Value::Finite(x) => Some(x),
            Value::Infinite { .. } => None,
        }
    }

    /// The value as an extended real (+∞ when infinite).
    pub fn extended(&self) -> f64 {
        self.as_f64().unwrap_or(f64::INFINITY)
    }
}

/// Parameters of a bound evaluation (the reference's keys).
pub type BoundParams = Params;

/// Validated access to one evaluation's parameters: defaults filled in, every getter names
/// the key in its error.
pub struct Args<'a> {
    info: &'static Info,
    p: &'a Params,
}

impl<'a> Args<'a> {
    /// Checks keys (unknown ⇒ suggestion) and presence of required keys.
    ///
    /// # Errors
    /// [`Error::Unknown`] for an unknown key; [`Error::InvalidParameter`] for a missing one.
    pub fn new(info: &'static Info, p: &'a Params) -> Result<Self> {
        p.check_keys(info.id, &info.keys())?;
        for spec in info.params {
            if spec.default.is_none() && !p.0.contains_key(spec.key) {
                return Err(Error::invalid(
                    spec.key,
                    "(missing)",
                    format!("{} needs `{}`: {}", info.id, spec.key, spec.doc),
                ));
            }
        }
        Ok(Args { info, p })
    }

    fn default(&self, key: &str) -> f64 {
        // invariant: getters are only called with the bound's own keys, and required keys
        // were checked present in `new`.
        self.info
            .params
            .iter()
            .find(|s| s.key == key)
            .and_then(|s| s.default)
            .unwrap_or(f64::NAN)
    }

    /// A finite real.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for NaN or ±∞.
    pub fn real(&self, key: &str) -> Result<f64> {
        self.p.f64(key, self.default(key))
    }

    /// A finite real > 0.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`].
    pub fn positive(&self, key: &str) -> Result<f64> {
        self.p.positive(key, self.default(key))
    }

    /// A finite real ≥ 0.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`].
    pub fn non_negative(&self, key: &str) -> Result<f64> {
        self.p.non_negative(key, self.default(key))
    }

    /// A fraction in [0, 1].
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] outside [0, 1].
    pub fn fraction(&self, key: &str) -> Result<f64> {
        let x = self.non_negative(key)?;
        if x > 1.0 {
            return Err(Error::invalid(key, x, "must lie in [0, 1]"));
        }
        Ok(x)
    }

    /// A non-negative integer.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`].
    pub fn count(&self, key: &str) -> Result<usize> {
        let d = self.default(key);
        let d = if d.is_finite() { d as usize } else { 0 };
        if !self.p.0.contains_key(key) && !self.default(key).is_finite() {
            // invariant: only reachable for a required key, which `new` checked present.
            return Err(Error::invalid(key, "(missing)", "required"));
        }
        self.p.count(key, d)
    }

    /// A positive integer.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for 0.
    pub fn count_pos(&self, key: &str) -> Result<usize> {
        let v = self.count(key)?;
        if v == 0 {
            return Err(Error::invalid(key, 0, "must be >= 1"));
        }
        Ok(v)
    }

    /// Whether the caller gave `key` explicitly.
    pub fn has(&self, key: &str) -> bool {
        self.p.0.contains_key(key)
    }

    /// The error for a failed hypothesis.
    pub fn outside(&self, hypothesis: &str, why: impl std::fmt::Display) -> Error {
        outside(self.info, hypothesis, why)
    }
}

/// [`Error::OutsideHypotheses`] naming the result and the failed hypothesis.
pub fn outside(info: &Info, hypothesis: &str, why: impl std::fmt::Display) -> Error {
    Error::OutsideHypotheses {
        bound: format!("{} ({})", info.id, info.key),
        reason: format!("hypothesis `{hypothesis}` fails: {why}"),
    }
}

/// A lower bound of the catalogue.
pub trait Bound: Sync {
    /// Metadata: id, citation, status, hypotheses, parameters.
    fn info(&self) -> &'static Info;

    /// Evaluates at validated parameters.
    ///
    /// # Errors
    /// [`Error::OutsideHypotheses`] naming the failed hypothesis; [`Error::InvalidParameter`]
    /// for a value outside its domain.
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue>;

    /// Checks the keys, then evaluates.
    ///
    /// # Errors
    /// [`Error::Unknown`] for an unknown key (with suggestion), those of [`Bound::compute`].
    ///
    /// The result keeps the contract "never NaN, never ±∞ as a number": a finite value that
    /// overflowed to +∞ is returned as [`Value::Infinite`] with the reason "overflow"; NaN or
    /// −∞ (a numerical failure, never a valid bound) is [`Error::NonFinite`]; a matching upper
    /// bound that is not finite is dropped.
    fn eval(&self, p: &BoundParams) -> Result<BoundValue> {
        let a = Args::new(self.info(), p)?;
        checked(self.info(), self.compute(&a)?)
    }
}

/// Enforces [`Bound::eval`]'s contract on a computed value.
///
/// # Errors
/// [`Error::NonFinite`] for a NaN or −∞ value.
pub fn checked(info: &Info, mut v: BoundValue) -> Result<BoundValue> {
    if let Value::Finite(x) = v.value {
        if x == f64::INFINITY {
            v.value = Value::Infinite {
                reason: format!(
                    "{} overflows f64 at these parameters: the value exceeds {:e}",
                    info.id,
                    f64::MAX
                ),
            };
        } else if !x.is_finite() {
            return Err(Error::NonFinite {
                what: format!("{} ({})", info.id, info.key),
                detail: format!("the evaluation gave {x} at these parameters"),
            });
        }
    }
    if v.upper.is_some_and(|u| !u.is_finite()) {
        v.upper = None;
    }
    Ok(v)
}

/// Every result, in the reference's order.
pub static CATALOGUE: &[&dyn Bound] = &[
    &huber1964::R1Huber,
    &huber1964::R1Strong,
    &chen2018robust::R1Rate,
    &diakonikolas2017statistical::R2,
    &steinhardt2018resilience::R3Huber,
    &steinhardt2018resilience::R3Strong,
    &zhu2022generalized::R4Huber,
    &zhu2022generalized::R4Strong,
    &rousseeuw1987robust::R5,
    &elmhamdi2018hidden::R6Cwmed,
    &elmhamdi2018hidden::R6Gm,
    &devroye2016subgaussian::R7,
    &allouah2023fixing::B1,
    &karimireddy2022byzantine::B2,
    &allouah2023robust::B3,
    &allouah2023robust::B3Breakdown,
    &farhadkhani2022byzantine::B5,
    &lamport1982byzantine::B6,
    &karimireddy2021learning::B7,
    &blanchard2017machine::B8,
    &cai2021cost::P1,
    &dwork2014algorithmic::P1TwoPoint,
    &kamath2020private::P2,
    &agarwal2024private::P3,
    &bassily2014private::P4,
    &bassily2019private::P4Sco,
    &duchi2018minimax::P5,
    &dinur2003revealing::P6,
    &allouah2023privacy::T1Coupling,
    &allouah2023privacy::T1Gauss,
    &feldman2020does::M1,
    &brown2021memorization::M2,
    &feldman2020neural::M3,
    &warner1965randomized::M4,
    &warner1965randomized::M4Excess,
    &douceur2002sybil::O2,
    &bubeck2021universal::O3,
    &guerraoui2021differential::O4,
];

/// Finds a result by id, case-insensitively. An id with variants (`R1`) names them.
///
/// # Errors
/// [`Error::Unknown`] with the closest id as suggestion.
pub fn lookup(id: &str) -> Result<&'static dyn Bound> {
    let want = id.trim().to_ascii_lowercase();
    if let Some(b) = CATALOGUE
        .iter()
        .find(|b| b.info().id.to_ascii_lowercase() == want)
    {
        return Ok(*b);
    }
    let variants: Vec<&str> = CATALOGUE
        .iter()
        .map(|b| b.info().id)
        .filter(|i| i.to_ascii_lowercase().starts_with(&format!("{want}-")))
        .collect();
    if !variants.is_empty() {
        return Err(Error::Unknown {
            what: "bound".into(),
            name: id.to_string(),
            suggestion: Some(variants[0].to_string()),
            known: Some(variants.join(", ")),
        });
    }
    Err(Error::unknown(
        "bound",
        id,
        CATALOGUE.iter().map(|b| b.info().id),
    ))
}

/// Evaluates the result `id` at `p`.
///
/// # Errors
/// Those of [`lookup`] and [`Bound::eval`].
pub fn eval(id: &str, p: &BoundParams) -> Result<BoundValue> {
    lookup(id)?.eval(p)
}

// ---------------------------------------------------------------------------------------------
// Shared numerics.

/// Standard normal quantile Φ⁻¹(p) for p ∈ (0, 1), through statrs.
///
/// Near p = 1/2 it uses the series Φ⁻¹(1/2 + x) = √(2π)·x·(1 + πx²/3 + …) for |x| < 1e-6,
/// where statrs' erfc⁻¹ route loses relative precision (the truncation error there is
/// below 1e-23 relative).
pub fn phi_inv(p: f64) -> f64 {
    let x = p - 0.5;
    if x.abs() < 1e-6 {
        let s = (2.0 * std::f64::consts::PI).sqrt();
        return s * x * (1.0 + std::f64::consts::PI * x * x / 3.0);
    }
    Normal::standard().inverse_cdf(p)
}

/// Standard normal CDF Φ(x).
pub fn phi(x: f64) -> f64 {
    Normal::standard().cdf(x)
}

/// Φ⁻¹(1/2 + x) for x ∈ [0, 1/2), precise for tiny x (x is passed directly, not rounded
/// through 1/2 + x).
pub fn phi_inv_half_plus(x: f64) -> f64 {
    if x.abs() < 1e-6 {
        let s = (2.0 * std::f64::consts::PI).sqrt();
        return s * x * (1.0 + std::f64::consts::PI * x * x / 3.0);
    }
    Normal::standard().inverse_cdf(0.5 + x)
}

/// The contamination fraction η, checked: `Ok(Some(η))` below `breakdown`, `Ok(None)` at or
/// past it (the caller returns [`Value::Infinite`]), an error outside [0, 1].
///
/// # Errors
/// [`Error::InvalidParameter`] for η outside [0, 1] or non-finite.
pub fn eta_below(a: &Args<'_>, key: &str, breakdown: f64) -> Result<Option<f64>> {
    let eta = a.fraction(key)?;
    Ok((eta < breakdown).then_some(eta))
}

/// Checks f < n/2 style hypotheses on counts: `2f < n`.
///
/// # Errors
/// [`Error::InvalidParameter`] for n = 0.
pub fn check_n_pos(n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::invalid("n", 0, "must be >= 1"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_consistent() {
        let mut ids = std::collections::BTreeSet::new();
        for b in CATALOGUE {
            let i = b.info();
            assert!(
                ids.insert(i.id.to_ascii_lowercase()),
                "duplicate id {}",
                i.id
            );
            // The example evaluates, finitely.
            let v = b
                .eval(&i.example_params())
                .unwrap_or_else(|e| panic!("{}: example fails: {e}", i.id));
            let x = v
                .as_f64()
                .unwrap_or_else(|| panic!("{}: example infinite", i.id));
            assert!(x.is_finite() && x >= 0.0, "{}: {x}", i.id);
            if let Some(u) = v.upper {
                assert!(u >= x * (1.0 - 1e-12), "{}: upper {u} < lower {x}", i.id);
            }
            for k in i.grows_with.iter().chain(i.shrinks_with) {
                assert!(i.keys().contains(k), "{}: monotone key {k} unknown", i.id);
            }
            assert!(!i.hypotheses.is_empty(), "{}: no hypotheses", i.id);
            let page = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(i.proof_page());
            assert!(page.exists(), "{}: missing {}", i.id, i.proof_page());
        }
        assert!(CATALOGUE.len() >= 25);
    }

    #[test]
    fn lookup_and_unknown_keys() {
        assert_eq!(lookup("b1").unwrap().info().id, "B1");
        let e = lookup("R1").err().unwrap().to_string();
        assert!(e.contains("R1-huber") && e.contains("R1-strong"), "{e}");
        let e = lookup("B11").err().unwrap().to_string();
        assert!(e.contains("unknown bound"), "{e}");
        let e = eval("B1", &Params::new().with("n", 10.0).with("ff", 2.0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("did you mean `f`"), "{e}");
        let e = eval("B1", &Params::new().with("n", 10.0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing"), "{e}");
    }

    /// Extreme values of every key, one at a time on each entry's example: 0, tiny, huge and
    /// in-between (the fault-injection run found 20 overflows that printed `value: null` with
    /// `infinite: false`).
    const EXTREMES: &[f64] = &[0.0, 1e-300, 1e-12, 0.5, 1.0, 3.0, 1e6, 1e18, 1e154, 1e300];

    /// Every evaluation that succeeds is a finite number ≥ 0 with a finite upper bound, or
    /// +∞ with its reason: never NaN, never ±∞ as a number. Mutation checked: `Bound::eval`
    /// returning `self.compute(&a)` unchecked fails it (P1 at eps = 1e-300, …).
    #[test]
    fn eval_never_returns_a_non_finite_number() {
        let mut overflows = 0;
        for b in CATALOGUE {
            let i = b.info();
            for spec in i.params {
                for &x in EXTREMES {
                    let p = i.example_params().with(spec.key, x);
                    if let Ok(a) = Args::new(i, &p) {
                        if let Ok(raw) = b.compute(&a) {
                            if raw.as_f64().is_some_and(|v| !v.is_finite()) {
                                overflows += 1;
                            }
                        }
                    }
                    let Ok(v) = b.eval(&p) else { continue };
                    match v.value {
                        Value::Finite(v) => {
                            assert!(v.is_finite() && v >= 0.0, "{} at {p:?}: {v}", i.id)
                        }
                        Value::Infinite { ref reason } => {
                            assert!(!reason.is_empty(), "{} at {p:?}", i.id)
                        }
                    }
                    if let Some(u) = v.upper {
                        assert!(u.is_finite(), "{} at {p:?}: upper {u}", i.id);
                    }
                }
            }
        }
        // The raw computations overflow at 7 of these points (B2 and B3 at G >= 1e154, P1 at
        // sigma = 1e300 or eps = 1e-300, P3 at alpha = 1e-300), so the contract is exercised.
        assert!(overflows > 0);
    }

    #[test]
    fn phi_inv_is_stable_near_one_half() {
        // Series vs statrs agree where both are accurate (x = 1e-4: statrs relative error
        // ~1e-12 there), and the series is continuous across the switch at 1e-6.
        let x = 1e-6 * (1.0 - 1e-12);
        let a = phi_inv_half_plus(x);
        let b = Normal::standard().inverse_cdf(0.5 + 1e-6);
        assert!((a - b).abs() < 1e-9 * b, "{a} vs {b}");
        assert!(phi_inv_half_plus(1e-300) > 0.0);
        assert_eq!(phi_inv_half_plus(0.0), 0.0);
        assert!((phi_inv(0.975) - 1.959963984540054).abs() < 1e-12);
    }
}
