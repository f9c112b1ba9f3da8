//! Native semantics for inputs at infinity and inputs whose squares overflow.
//!
//! A Byzantine user may send ±∞ or 10³⁰⁰. lbounds reads a vector with a non-finite entry as a
//! point *infinitely far* from every other input: it is the first outlier any rule discards.
//! The rules built on Gram matrices (CAF, SMEA, the spectral filter, DnC) and the geometric
//! median meet such inputs only where their O(n²) checks already see a non-finite square,
//! so the common, finite case pays nothing. They then [`tame`] the input:
//!
//! 1. every vector with a non-finite entry is set aside (its weight in the rule's output is
//!    0) and counts as one of the f declared Byzantine inputs, so the rule runs on the
//!    n − k finite vectors with f − k (more than f such vectors is an error: the rule's
//!    guarantee no longer holds);
//! 2. the finite vectors are divided by a power of two 2ᵉ close to their largest |entry|, so
//!    no square or sum of squares overflows (the division is exact: only the exponent
//!    changes). The rules are scale-equivariant, so their selections (weights, subsets) are
//!    unchanged by the division, and the caller forms its output from the original inputs.
//!
//! **NaN.** A NaN has no sign and no size. Natively, what Byzantine users send is read through
//! [`Updates::new_untrusted`], which turns every NaN entry into +∞ before any rule sees it: a
//! vector with a NaN is then a point at infinity whose limit direction is +1 in its NaN
//! coordinates (and the signs of its infinite ones). It is set aside here like any infinite
//! vector, it is a +∞ value for the coordinate-wise rules (trimmed, or outside the median's
//! middle), and the clipping steps clip it along that direction. A Byzantine user could have
//! sent that +∞ itself, so every guarantee a rule keeps against ±∞ it keeps against NaN. Each
//! rule's module docs say in one line what it does with such a vector. The average is not
//! robust and says so ([`Error::NonFinite`]).
//!
//! **NaN under `--compat byzfl`.** Byzantine input keeps its NaN entries
//! ([`crate::data::NonFiniteEntries::Keep`]) and each rule computes what ByzFL 0.0.11's NumPy
//! float64 code computes on it: `np.sort`, `argsort` and `argpartition` put NaN after +∞,
//! `np.median`, `np.mean` and norms propagate it, `np.argmin` returns the first NaN, and a
//! comparison with NaN is false. Where that gives numbers lbounds returns them; where ByzFL's
//! output holds a NaN (or is None, or ByzFL raises) lbounds returns [`Error::NonFinite`]
//! naming the rule and saying that ByzFL returns NaN ([`byzfl_returns_nan`]); where ByzFL's
//! numbers hang on an order that neither NumPy nor Python specifies (equal NaN keys in
//! `argpartition`, NaN keys in Python's `list.sort`) it returns the same error kind saying so
//! ([`byzfl_unspecified`]). A NaN row below is a vector with at least one NaN entry, k their
//! number; "as +∞" means the rule's ±∞ reproduction run with every NaN read as +∞, which is
//! exact there. Checked against ByzFL itself (`scripts/byzfl_nan_golden.py`).
//!
//! | ByzFL rule | NaN rows under `--compat byzfl` |
//! |---|---|
//! | `Average` | error: NaN (`np.mean`) |
//! | `Median` | error: NaN (`np.median` of a column with a NaN) |
//! | `TrMean(f)` | as +∞ (NaN sorts after +∞ and is trimmed) when every column holds at most f NaN and f ≥ 1; else error: NaN |
//! | `GeometricMedian(nu, T)` | rows with ±∞ are dropped whatever else they hold; any other NaN row makes every iterate NaN: error when T ≥ 1, else the start 0 |
//! | `Krum(f)` | exact: a NaN row's score is NaN, and so is every row's when k > f; `argmin` takes the first NaN score, so the output is x₀ when k > f and x₀ is finite, else a NaN row: error |
//! | `MultiKrum(f)` | exact: NaN scores rank last; k ≤ f leaves the NaN rows out, k > f makes every score NaN and takes a NaN row in: error |
//! | `CenteredClipping(L)` | error when L ≥ 1 (the clipping factor τ/NaN is NaN for every coordinate); L = 0 returns the start |
//! | `MDA(f)` | exact: a subset with a NaN row has a NaN diameter, never `<` the best, so the first minimal NaN-free subset wins; when every subset holds one ByzFL keeps the first subset, a NaN mean: error |
//! | `MoNNA(f, idx)` | a NaN pivot row makes every distance NaN: error (unspecified order); else exact (NaN distances last), error when k > f |
//! | `Meamed(f)` | error: a column with a NaN has a NaN median, so its ∣x − median∣ are all NaN (NaN output, or an unspecified choice) |
//! | `CAF(f)` | error: the weights become NaN, the loop ends at once and ByzFL returns None |
//! | `SMEA(f)` | exact: subsets with a NaN row have a NaN eigenvalue estimate, never `<` the best (their random start vectors are still drawn); k > f leaves no subset and ByzFL raises: error |
//! | `NNM(f)` | error: f ≥ 1, a NaN row's distances are all NaN (unspecified neighbours); f = 0 averages every row, NaN |
//! | `Bucketing(s)` | exact: a bucket mean holds NaN where one of its rows does |
//! | `Clipping(c)` | exact: a NaN norm is never > c, the row passes as it is |
//! | `ARC(f)` | rows pass as they are when ARC clips none (f = 0); else a NaN norm is sorted by Python's `list.sort`, whose order is unspecified: error |
//!
//! For Krum-type selections this is exactly the limit of the rule as the k vectors go to
//! infinity (their distances dominate every score, so they are never selected and never a
//! neighbour); for the filters (CAF, spectral, DnC) it is the documented convention that an
//! infinitely distant input is removed in full before any finite one.

use super::{AggContext, Aggregator, PreAggregator};
use crate::data::{norm, Updates, UpdatesView};
use crate::params::{build_from as build, Compat, Params};
use crate::{Error, Result};
use nalgebra::{DMatrix, DVector};

/// The finite inputs, rescaled, and where they came from.
pub(crate) struct Tamed {
    /// The finite vectors divided by `scale`, in their original order.
    pub x: Updates,
    /// Index in the original input of each vector of `x`.
    pub kept: Vec<usize>,
    /// f minus the number of vectors set aside.
    pub f: usize,
    /// The power of two the finite vectors were divided by.
    pub scale: f64,
}

impl Tamed {
    /// Weights over the tamed inputs as weights over the original ones (0 for those set
    /// aside).
    pub fn weights_back(&self, w: &[f64], n: usize) -> Vec<f64> {
        let mut out = vec![0.0; n];
        for (&i, &wi) in self.kept.iter().zip(w) {
            out[i] = wi;
        }
        out
    }

    /// Indices over the tamed inputs as indices of the original ones (order kept).
    pub fn indices_back(&self, idx: &[usize]) -> Vec<usize> {
        idx.iter().map(|&i| self.kept[i]).collect()
    }
}

/// Sets aside the vectors with a non-finite entry and rescales the rest (module docs).
///
/// # Errors
/// [`Error::NonFinite`] naming `rule` when more than `f` vectors are non-finite, or none is
/// finite.
pub(crate) fn tame(x: UpdatesView<'_>, f: usize, rule: &str) -> Result<Tamed> {
    let kept: Vec<usize> = (0..x.n())
        .filter(|&i| x.col(i).iter().all(|v| v.is_finite()))
        .collect();
    let k = x.n() - kept.len();
    if k > f || kept.is_empty() {
        return Err(Error::NonFinite {
            what: format!("input of {rule}"),
            detail: format!(
                "{k} of {} vectors have an infinite or NaN entry, more than the declared \
                 f = {f} the rule can discard",
                x.n()
            ),
        });
    }
    let scale = pow2_scale(x, &kept);
    let mut m = DMatrix::zeros(x.d(), kept.len());
    for (c, &i) in kept.iter().enumerate() {
        for (o, v) in m.column_mut(c).iter_mut().zip(x.col(i)) {
            *o = v / scale;
        }
    }
    // invariant: every entry is finite (kept columns, divided by a power of two ≥ 2⁻¹⁰²²).
    let x = Updates::new(m).expect("invariant: finite entries");
    Ok(Tamed {
        x,
        kept,
        f: f - k,
        scale,
    })
}

/// `--compat byzfl`: ByzFL 0.0.11 returns NaN (or None) on this input, `why` says where from
/// (module docs). One line, naming `rule`.
pub(crate) fn byzfl_returns_nan(rule: &str, why: &str) -> Error {
    Error::NonFinite {
        what: format!("output of {rule} (ByzFL semantics)"),
        detail: format!(
            "{why}, so ByzFL 0.0.11 returns NaN here and `--compat byzfl` reports it; \
             `--compat native` reads NaN as +inf, a point at infinity that robust rules discard"
        ),
    }
}

/// `--compat byzfl`: ByzFL 0.0.11 returns numbers on this input that hang on an order NumPy
/// or Python leaves unspecified (module docs). One line, naming `rule`.
pub(crate) fn byzfl_unspecified(rule: &str, why: &str) -> Error {
    Error::NonFinite {
        what: format!("input of {rule} (ByzFL semantics)"),
        detail: format!(
            "{why}, an order NumPy and Python leave unspecified, so ByzFL 0.0.11's output on \
             this NaN input is not reproducible; `--compat native` reads NaN as +inf, a point \
             at infinity that robust rules discard"
        ),
    }
}

/// The vectors (columns) of `x` holding a NaN entry, in increasing order.
pub(crate) fn nan_rows(x: UpdatesView<'_>) -> Vec<usize> {
    (0..x.n())
        .filter(|&i| x.col(i).iter().any(|v| v.is_nan()))
        .collect()
}

/// `x` with every NaN entry read as +∞ (the native reading), for the ByzFL rules whose NumPy
/// arithmetic treats a NaN exactly as it treats +∞ in the cases they let through.
pub(crate) fn nan_as_plus_inf(x: UpdatesView<'_>) -> Updates {
    let m = DMatrix::from_column_slice(x.d(), x.n(), x.as_slice());
    // invariant: n, d ≥ 1 (taken from a valid view).
    Updates::new_untrusted(m).expect("invariant: shape of a valid view")
}

/// Whether a Gram matrix is so small or so large (largest diagonal entry outside
/// [10⁻¹⁰⁰, 10¹⁰⁰], inputs beyond ~10^∓50) that the eigen-solvers' products of its entries
/// would underflow or overflow (CAF returned the plain mean from about 10⁷⁸ up): the rules then
/// [`tame`] their input as for non-finite squares (the rescaling is exact), an O(n) check.
pub(crate) fn badly_scaled(g: &DMatrix<f64>) -> bool {
    let top = (0..g.nrows()).map(|i| g[(i, i)]).fold(0.0, f64::max);
    top > 0.0 && !(1e-100..=1e100).contains(&top)
}

/// 2ᵉ with 2ᵉ⁻¹ < max |xᵢⱼ| ≤ 2ᵉ over the columns `kept` (1 when all are 0), e clamped to
/// [−1022, 1023] so that 2ᵉ itself is a normal number.
pub(crate) fn pow2_scale(x: UpdatesView<'_>, kept: &[usize]) -> f64 {
    let big = kept
        .iter()
        .flat_map(|&i| x.col(i))
        .fold(0.0f64, |m, v| m.max(v.abs()));
    if big == 0.0 {
        return 1.0;
    }
    let e = big.log2().ceil().clamp(-1022.0, 1023.0);
    2f64.powi(e as i32)
}

/// What a ByzFL rule or pre-aggregator does with NaN rows (the table in the module docs).
enum NanRule {
    /// ByzFL returns NaN (or None) whenever a row holds a NaN; why.
    Nan(&'static str),
    /// ByzFL's numbers hang on an unspecified order whenever a row holds a NaN; why.
    Unspecified(&'static str),
    /// The rule's own ±∞ reproduction is exact on NaN rows (NaN distances, scores and
    /// diameters behave in it as in NumPy).
    Exact,
    TrMean {
        f: usize,
    },
    Meamed {
        f: usize,
    },
    GeometricMedian {
        iters: usize,
    },
    CenteredClipping {
        iters: usize,
    },
    Monna {
        idx: usize,
    },
    Smea {
        f: usize,
        params: Params,
    },
    Nnm {
        f: usize,
    },
    Arc {
        f: usize,
    },
}

impl NanRule {
    /// The rule registered as `name` (canonical) with `params`.
    fn of(name: &str, p: &Params) -> Result<NanRule> {
        Ok(match name {
            "average" => NanRule::Nan("np.mean of a column holding NaN is NaN"),
            "median" => NanRule::Nan("np.median of a column holding NaN is NaN"),
            "meamed" => NanRule::Meamed { f: p.f()? },
            "caf" => NanRule::Nan(
                "the weights c become NaN, CAF's loop ends at once and ByzFL returns None",
            ),
            "trmean" => NanRule::TrMean { f: p.f()? },
            "geometric_median" => NanRule::GeometricMedian {
                iters: p.iterations("T", 3)?,
            },
            "centered_clipping" => NanRule::CenteredClipping {
                iters: p.iterations("L", 1)?,
            },
            "monna" => NanRule::Monna {
                idx: p.count("idx", 0)?,
            },
            "smea" => NanRule::Smea {
                f: p.f()?,
                params: p.clone(),
            },
            "nnm" => NanRule::Nnm { f: p.f()? },
            "arc" => NanRule::Arc { f: p.f()? },
            "bucketing" | "clipping" | "krum" | "multi_krum" | "mda" => NanRule::Exact,
            other => NanRule::Unspecified(if other.is_empty() {
                "no rule"
            } else {
                "a rule ByzFL 0.0.11 does not have"
            }),
        })
    }
}

/// A ByzFL rule or pre-aggregator under `--compat byzfl`, taking NaN rows as its [`NanRule`]
/// says; input without NaN goes to the rule untouched (one O(nd) scan, compat mode only).
pub(crate) struct ByzflNan<T: ?Sized> {
    name: &'static str,
    rule: NanRule,
    inner: Box<T>,
}

impl<T: ?Sized> ByzflNan<T> {
    /// Wraps the ByzFL rule `inner`, registered as `name` and built from `params`.
    ///
    /// # Errors
    /// Those of reading `params`.
    pub(crate) fn new(name: &'static str, params: &Params, inner: Box<T>) -> Result<Self> {
        Ok(ByzflNan {
            name,
            rule: NanRule::of(name, params)?,
            inner,
        })
    }

    /// The vectors holding NaN (none in the common case: one branch-free scan).
    fn nan_rows(x: UpdatesView<'_>) -> Vec<usize> {
        if x.as_slice().iter().fold(false, |nan, v| nan | v.is_nan()) {
            nan_rows(x)
        } else {
            Vec::new()
        }
    }
}

impl Aggregator for ByzflNan<dyn Aggregator> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn check_n(&self, n: usize) -> Result<()> {
        self.inner.check_n(n)
    }

    fn aggregate(&self, x: UpdatesView<'_>, cx: &mut AggContext<'_>) -> Result<DVector<f64>> {
        // Where the rule's own output tells whether a NaN row could have changed it, the rule
        // runs first and the O(nd) scan for NaN rows only when the output says so (a Python
        // caller would otherwise pay one more read of the input on every call). Exact: the
        // output is the rule's either way, checked below for NaN. TrMean (f ≥ 1): its kernel
        // reads NaN as +∞ (`coordinatewise`), and a coordinate holding more than f NaN then
        // keeps a +∞ and comes out non-finite, so a finite output is the as-+∞ result with at
        // most f NaN per column, which is what the scan path returns.
        let early = match &self.rule {
            NanRule::Exact => {
                Some(self.inner.aggregate(x, cx)?).filter(|out| !out.iter().any(|v| v.is_nan()))
            }
            NanRule::TrMean { f } if *f > 0 => {
                Some(self.inner.aggregate(x, cx)?).filter(|out| out.iter().all(|v| v.is_finite()))
            }
            _ => None,
        };
        if let Some(out) = early {
            return Ok(out);
        }
        let nan = Self::nan_rows(x);
        if nan.is_empty() {
            return self.inner.aggregate(x, cx);
        }
        self.check_n(x.n())?;
        let rule = self.name;
        let k = nan.len();
        let out = match &self.rule {
            NanRule::Nan(why) => return Err(byzfl_returns_nan(rule, why)),
            NanRule::Unspecified(why) => return Err(byzfl_unspecified(rule, why)),
            NanRule::Exact => self.inner.aggregate(x, cx)?,
            NanRule::TrMean { f } => {
                // np.sort puts NaN after +∞: with at most f per column both are trimmed.
                let (_, worst) = most_nan_column(x);
                if *f == 0 || worst > *f {
                    return Err(byzfl_returns_nan(
                        rule,
                        &format!(
                            "a column holds {worst} NaN entries and TrMean (f = {f}) trims only \
                             f values from each end (f = 0 is the mean)"
                        ),
                    ));
                }
                self.inner.aggregate(nan_as_plus_inf(x).view(), cx)?
            }
            NanRule::Meamed { f } => {
                // A column holding NaN has a NaN median, so all its |x − median| are NaN and
                // np.argpartition keeps n − f of them: surely a NaN when the column holds more
                // than f, else whichever NumPy's selection leaves first.
                let (j, c) = most_nan_column(x);
                let why = format!(
                    "column {j} holds {c} NaN entries, so its median and every |x - median| in \
                     it are NaN"
                );
                return Err(if c > *f {
                    byzfl_returns_nan(rule, &format!("{why}, and Meamed (f = {f}) keeps n - f"))
                } else {
                    byzfl_unspecified(
                        rule,
                        &format!("{why}: its n - f kept values are the first of equal NaN keys"),
                    )
                });
            }
            NanRule::GeometricMedian { iters } => {
                // ByzFL drops the rows holding ±∞ (NaN or not) before iterating from 0.
                let kept_nan = nan
                    .iter()
                    .find(|&&i| !x.col(i).iter().any(|v| v.is_infinite()));
                if let (Some(i), true) = (kept_nan, *iters > 0) {
                    return Err(byzfl_returns_nan(
                        rule,
                        &format!(
                            "vector {i} holds NaN and no ±inf, so ByzFL keeps it and every \
                             Weiszfeld iterate is NaN"
                        ),
                    ));
                }
                self.inner.aggregate(nan_as_plus_inf(x).view(), cx)?
            }
            NanRule::CenteredClipping { iters } if *iters > 0 => {
                return Err(byzfl_returns_nan(
                    rule,
                    &format!(
                        "vector {} holds NaN, so its clipping factor tau/NaN is NaN in every \
                         coordinate",
                        nan[0]
                    ),
                ))
            }
            NanRule::CenteredClipping { .. } => {
                self.inner.aggregate(nan_as_plus_inf(x).view(), cx)?
            }
            NanRule::Monna { idx } if nan.binary_search(idx).is_ok() => {
                return Err(byzfl_unspecified(
                    rule,
                    &format!(
                        "the pivot vector idx = {idx} holds NaN, so every distance is NaN and \
                         ByzFL's n - f neighbours are the first of equal NaN keys in \
                          np.argpartition"
                    ),
                ))
            }
            NanRule::Monna { .. } => self.inner.aggregate(x, cx)?,
            NanRule::Smea { f, params } => {
                // A subset holding a non-finite row (NaN, or ±∞ whose deviation from the
                // subset mean is ∞ − ∞) has a NaN estimate, never below the best: SMEA ranges
                // over the subsets of the finite rows, i.e. SMEA(f − k) on them (every
                // estimate is drawn afresh, so their law is the same).
                let clean: Vec<usize> = (0..x.n())
                    .filter(|&i| x.col(i).iter().all(|v| v.is_finite()))
                    .collect();
                let k = x.n() - clean.len();
                if k > *f {
                    return Err(byzfl_returns_nan(
                        rule,
                        &format!(
                            "{k} vectors hold NaN or ±inf, more than f = {f}: every subset holds \
                             one, none is chosen and ByzFL raises (IndexError)"
                        ),
                    ));
                }
                let sub = Updates::new_allow_inf(DMatrix::from_fn(x.d(), clean.len(), |r, c| {
                    x.col(clean[c])[r]
                }))?;
                let p = params.clone().with("f", (f - k) as f64);
                let smea = build(
                    crate::aggregators::RULES,
                    "aggregator",
                    rule,
                    &p,
                    Compat::Byzfl,
                )?;
                smea.aggregate(sub.view(), cx)?
            }
            NanRule::Nnm { .. } | NanRule::Arc { .. } => {
                unreachable!("pre-aggregators only")
            }
        };
        if out.iter().any(|v| v.is_nan()) {
            return Err(byzfl_returns_nan(
                rule,
                &format!(
                    "{k} of {} vectors hold NaN and one enters the output",
                    x.n()
                ),
            ));
        }
        Ok(out)
    }
}

impl PreAggregator for ByzflNan<dyn PreAggregator> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn check_n(&self, n: usize) -> Result<()> {
        self.inner.check_n(n)
    }

    fn output_len(&self, n: usize) -> usize {
        self.inner.output_len(n)
    }

    fn apply(&self, x: Updates, cx: &mut AggContext<'_>) -> Result<Updates> {
        self.refuse_nan_input(x.view())?;
        self.inner.apply(x, cx)
    }

    fn apply_view(&self, x: UpdatesView<'_>, cx: &mut AggContext<'_>) -> Result<Updates> {
        self.refuse_nan_input(x)?;
        self.inner.apply_view(x, cx)
    }
}

impl ByzflNan<dyn PreAggregator> {
    /// The error for NaN rows where ByzFL's pre-aggregator returns NaN or an unspecified
    /// result; `Ok` where the step's own arithmetic reproduces ByzFL's.
    fn refuse_nan_input(&self, x: UpdatesView<'_>) -> Result<()> {
        let nan = Self::nan_rows(x);
        if nan.is_empty() {
            return Ok(());
        }
        let rule = self.name;
        match self.rule {
            NanRule::Nnm { f: 0 } => Err(byzfl_returns_nan(
                rule,
                "with f = 0 every output vector is the mean of all inputs, one of which holds \
                 NaN",
            )),
            NanRule::Nnm { .. } => Err(byzfl_unspecified(
                rule,
                &format!(
                    "vector {} holds NaN, so all its distances are NaN and its n - f neighbours \
                     are the first of equal NaN keys in np.argpartition",
                    nan[0]
                ),
            )),
            NanRule::Arc { f }
                if arc_clips(f, x.n()) && (0..x.n()).any(|i| norm(x.col(i)).is_nan()) =>
            {
                Err(byzfl_unspecified(
                    rule,
                    &format!(
                        "vector {} has a NaN norm, which ARC sorts with Python's list.sort \
                         (NaN compares false with every number)",
                        nan[0]
                    ),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// The column (coordinate) of `x` holding the most NaN entries (the first of them), and
/// their number.
fn most_nan_column(x: UpdatesView<'_>) -> (usize, usize) {
    let mut count = vec![0usize; x.d()];
    for col in x.cols() {
        for (c, v) in count.iter_mut().zip(col) {
            *c += usize::from(v.is_nan());
        }
    }
    let mut best = (0, 0);
    for (j, &c) in count.iter().enumerate() {
        if c > best.1 {
            best = (j, c);
        }
    }
    best
}

/// Whether ByzFL's ARC clips at least one of n vectors: int((2f/n)(n − f)) ≥ 1.
fn arc_clips(f: usize, n: usize) -> bool {
    (2.0 * f as f64 / n as f64) * (n - f.min(n)) as f64 >= 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_aside_infinite_vectors_and_rescales_exactly() {
        let inf = f64::INFINITY;
        let m = DMatrix::from_column_slice(
            2,
            4,
            &[1e300, -3e299, inf, 0.0, 2.0, 1.0, 1.7e308, 1.6e308],
        );
        let u = Updates::new_allow_inf(m).unwrap();
        let t = tame(u.view(), 1, "test").unwrap();
        assert_eq!(t.kept, vec![0, 2, 3]);
        assert_eq!(t.f, 0);
        assert_eq!(t.scale, 2f64.powi(1023));
        // Exact: multiplying back recovers the inputs bit for bit.
        assert_eq!(t.x.view().col(0)[0] * t.scale, 1e300);
        assert_eq!(t.x.view().col(2)[0] * t.scale, 1.7e308);
        assert_eq!(
            t.weights_back(&[0.5, 0.25, 0.25], 4),
            vec![0.5, 0.0, 0.25, 0.25]
        );
        assert_eq!(t.indices_back(&[0, 2]), vec![0, 3]);
        // Two infinite vectors with f = 1: the rule cannot discard both.
        let m = DMatrix::from_column_slice(1, 3, &[inf, -inf, 0.0]);
        let u = Updates::new_allow_inf(m).unwrap();
        let e = tame(u.view(), 1, "caf").err().unwrap().to_string();
        assert!(e.contains("caf") && e.contains("f = 1"), "{e}");
    }
}
