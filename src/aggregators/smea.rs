//! Smallest maximum eigenvalue averaging (SMEA): the mean of the n − f inputs whose scatter
//! matrix has the smallest top eigenvalue.
//!
//! Over all subsets S with |S| = n − f, SMEA minimises λ_max(Σ_{i∈S}(xᵢ − x̄_S)(xᵢ − x̄_S)ᵀ)
//! and returns x̄_S of the minimiser. ByzFL: `SMEA(f=0)`. Requirement: n > 2f.
//!
//! # `Compat::Byzfl`
//!
//! ByzFL enumerates every subset in `itertools.combinations` order and estimates each λ_max
//! by **one** power step from a fresh random start u ~ N(0, I_d)/‖·‖ (λ = ‖Σᵢ rᵢ(rᵢ·u)‖ with
//! rᵢ = xᵢ − x̄_S), keeping the first subset with the smallest estimate, so its choice depends
//! on the seed. lbounds does the same with draws from `cx.rng`, equal in law to ByzFL's (only
//! u's component in the span of the centred inputs matters: a/‖g‖ with a ~ N(0, I_m), ‖g‖²
//! = ‖a‖² + χ²(d − m)), at O(km) per subset instead of O(kd). Enumeration is refused with
//! [`Error::Unsupported`] beyond [`BYZFL_MAX_SUBSETS`] subsets (ByzFL itself needs days at
//! n = 50, f = 10). A subset whose vectors all coincide gives ByzFL a NaN estimate, which
//! never wins; lbounds skips it likewise.
//!
//! # `Compat::Native`: exact branch and bound, with a bounded budget
//!
//! lbounds minimises the exact λ_max (to a few ulps: Householder tridiagonalization and Sturm
//! bisection), working with the smaller of the k×k centred Gram matrix of S and its m×m
//! scatter in embedding coordinates (k = n − f; m ≤ n is the rank of the inputs relative to
//! their coordinate-wise median), so d is touched once, for the n×n Gram matrix. The
//! embedding is taken around the coordinate-wise median, with a rank cut relative to each
//! input's own squared norm ([`Embedding::around`]): one input far out (10⁶ times the others'
//! spread or more) then cannot wipe out the others' spread, as the mean-centred embedding
//! did. Ties go to the lexicographically first
//! subset, as in ByzFL's loop.
//!
//! 1. *Incumbent*: greedy removal (f times, drop the input with the largest squared
//!    projection on the current top eigenvector), then swap search (exchange a removed input
//!    with one of the five kept inputs of largest projection while λ_max drops; at most 20
//!    passes).
//! 2. *Branch and bound* over keep/remove decisions for indices 0, 1, … (keep first, which
//!    visits subsets in lexicographic order). For any unit vector u, uᵀScatter(S)u ≤ λ_max(S);
//!    at a node with kept set C and undecided indices U, the minimum of uᵀScatter(C ∪ T)u over
//!    all T ⊆ U with |C ∪ T| = k is computed exactly (for a fixed centre the best T is a
//!    window of U sorted by u·zᵢ, so a scan over windows finds it) and the node is pruned
//!    when it exceeds the incumbent. The directions u are the top eigenvectors of all inputs
//!    and of each incumbent (up to eight). A leaf is first screened with a Cholesky
//!    factorization of (λ_inc·I − M), which exists iff λ_max(M) < λ_inc; only survivors get
//!    an exact eigenvalue.
//!
//! If the search finishes, the answer is certified optimal ([`SmeaSelection::exact`]). When
//! C(n, f) ≤ [`EXACT_SUBSETS`] = 10⁶ the search always runs to the end (exact, bounded by the
//! number of subsets); beyond, its work is capped at [`SEARCH_BUDGET`] units of roughly a nanosecond each (about 0.2 s;
//! [`Smea::with_budget`] changes it); past the cap the best subset seen is returned with
//! `exact = false`. Without any pruning the default covers about 2·10⁵ subsets at k ≈ 16 and
//! 2·10⁴ at k ≈ 40; with planted outliers the bound usually certifies n = 50, f = 10 in
//! milliseconds. On unstructured data at that size (C(50, 10) ≈ 10¹⁰ subsets) the result is
//! the incumbent, improved by whatever the search found.
//!
//! Non-finite input is rejected ([`Error::NonFinite`]). f = 0 returns the mean.
//!
//! **NaN** (native, read as +∞ by `Updates::new_untrusted`): its vector is set aside with the
//! infinite ones and spends one unit of f (module `far`).
//!
//! # References
//! Allouah, Guerraoui, Gupta, Pinot & Stephan, "On the Privacy-Robustness-Utility Trilemma in
//! Distributed Learning", ICML 2023, arXiv 2302.04787.

use super::far::{badly_scaled, tame};
use super::linalg::{
    binomial, for_each_combination, subset_mean, sym_top, sym_top_value, symmetrize, Embedding,
};
use super::median::coordinate_median;
use super::{require_honest_majority, require_pairwise_fits, AggContext, Aggregator};
use crate::data::UpdatesView;
use crate::params::{Compat, Params, Spec};
use crate::rng::SimRng;
use crate::{Error, Result};
use nalgebra::{DMatrix, DVector};

/// Registry entry.
pub const SPEC: Spec<dyn Aggregator> = Spec {
    name: "smea",
    byzfl: Some("SMEA"),
    keys: &["f"],
    summary: "mean of the n-f inputs whose scatter has the smallest top eigenvalue",
    build,
};

fn build(p: &Params, compat: Compat) -> Result<Box<dyn Aggregator>> {
    Ok(Box::new(Smea::new(p.f()?, compat)))
}

/// Most subsets `Compat::Byzfl` enumerates before refusing.
pub const BYZFL_MAX_SUBSETS: f64 = 1e6;

/// Native SMEA is exact (unbounded search, certified optimum) when C(n, f) is at most this;
/// the branch and bound visits at most every subset once, a few seconds in the worst case.
pub const EXACT_SUBSETS: f64 = 1e6;

/// Default work budget of the native branch and bound, in units of roughly a nanosecond on a
/// current x86-64 core (so about 0.2 s).
pub const SEARCH_BUDGET: f64 = 2e8;

/// Directions kept for the Rayleigh-quotient lower bounds.
const POOL: usize = 8;

/// SMEA with `f` declared Byzantine inputs.
#[derive(Clone, Copy, Debug)]
pub struct Smea {
    f: usize,
    compat: Compat,
    budget: f64,
}

/// The subset SMEA selects.
#[derive(Clone, Debug, PartialEq)]
pub struct SmeaSelection {
    /// Sorted indices of the n − f selected inputs.
    pub subset: Vec<usize>,
    /// λ_max of their scatter (exact in native mode; ByzFL's one-step estimate otherwise).
    pub lambda: f64,
    /// Native: the branch and bound finished, so the subset is a certified minimiser.
    /// ByzFL mode: always true (every subset was enumerated).
    pub exact: bool,
}

impl Smea {
    /// SMEA with `f` declared Byzantine inputs; `compat` picks ByzFL's random estimates.
    pub fn new(f: usize, compat: Compat) -> Self {
        Smea {
            f,
            compat,
            budget: SEARCH_BUDGET,
        }
    }

    /// The same rule with another native search budget (see [`SEARCH_BUDGET`]); 0 keeps only
    /// the greedy-and-swap incumbent.
    pub fn with_budget(mut self, budget: f64) -> Self {
        self.budget = budget.max(0.0);
        self
    }

    /// Selects the subset (see the module docs for the two modes).
    ///
    /// # Errors
    /// [`Error::TooFewInputs`] when 2f ≥ n; [`Error::NonFinite`] for ±∞ input;
    /// [`Error::Unsupported`] in ByzFL mode beyond [`BYZFL_MAX_SUBSETS`] subsets.
    pub fn select(&self, x: UpdatesView<'_>, rng: &mut SimRng) -> Result<SmeaSelection> {
        self.check_n(x.n())?;
        let n = x.n();
        let k = n - self.f;
        if self.compat == Compat::Byzfl {
            let count = binomial(n, self.f);
            if count > BYZFL_MAX_SUBSETS {
                return Err(Error::Unsupported(format!(
                    "smea (ByzFL semantics) enumerates C(n, f) = C({n}, {}) = {count:.3e} \
                     subsets, more than the limit {BYZFL_MAX_SUBSETS:.0e}; use the native SMEA",
                    self.f
                )));
            }
        }
        let emb = match self.compat {
            // ByzFL's draws depend on the embedding's dimension: keep the mean-centred one.
            Compat::Byzfl => Embedding::new(x, "smea"),
            // Around the coordinate-wise median with a per-input rank cut, so that one far
            // input cannot wipe out the spread of the others (`Embedding::around`).
            Compat::Native => Embedding::around(x, &coordinate_median(x, None), "smea"),
        };
        let emb = match emb {
            Ok(emb) if self.compat == Compat::Byzfl || !badly_scaled(&emb.gram) => emb,
            Ok(_) | Err(Error::NonFinite { .. }) if self.compat == Compat::Native => {
                // Inputs at infinity or with overflowing squares (see `far`): never selected.
                let t = tame(x, self.f, "smea")?;
                let mut sel = Smea { f: t.f, ..*self }.select(t.x.view(), rng)?;
                sel.subset = t.indices_back(&sel.subset);
                sel.lambda *= t.scale * t.scale;
                return Ok(sel);
            }
            r => r?,
        };
        if self.f == 0 || emb.m() == 0 {
            // One subset, or all inputs identical (every subset has the same mean).
            let sc = Scatter::new(&emb);
            let subset: Vec<usize> = (0..k).collect();
            let lambda = sc.lambda(&subset);
            return Ok(SmeaSelection {
                subset,
                lambda,
                exact: true,
            });
        }
        match self.compat {
            Compat::Byzfl => Ok(byzfl_select(&emb, k, rng)),
            // Up to EXACT_SUBSETS subsets the search runs to the end, so the answer is certified;
            // beyond, the budget bounds the time.
            Compat::Native if binomial(n, self.f) <= EXACT_SUBSETS => {
                Ok(native_select(&emb, k, f64::INFINITY))
            }
            Compat::Native => Ok(native_select(&emb, k, self.budget)),
        }
    }
}

impl Aggregator for Smea {
    fn name(&self) -> &'static str {
        "smea"
    }

    fn check_n(&self, n: usize) -> Result<()> {
        require_pairwise_fits("smea", n)?;
        require_honest_majority("smea", n, self.f)
    }

    fn aggregate(&self, x: UpdatesView<'_>, cx: &mut AggContext<'_>) -> Result<DVector<f64>> {
        let sel = self.select(x, cx.rng)?;
        Ok(subset_mean(x, &sel.subset))
    }
}

/// ByzFL's loop: one random power step per subset, first strict minimum wins.
fn byzfl_select(emb: &Embedding, k: usize, rng: &mut SimRng) -> SmeaSelection {
    let (n, m) = (emb.n(), emb.m());
    let mut best: Option<(Vec<usize>, f64)> = None;
    let mut r = DMatrix::<f64>::zeros(m, k);
    for_each_combination(n, k, |s| {
        let mut mean = DVector::<f64>::zeros(m);
        for &i in s {
            mean += emb.z.column(i);
        }
        mean /= k as f64;
        for (a, &i) in s.iter().enumerate() {
            let mut col = r.column_mut(a);
            col.copy_from(&emb.z.column(i));
            col -= &mean;
        }
        let u = emb.random_start(rng);
        let p = r.tr_mul(&u);
        let w = &r * p;
        let norm = w.norm();
        if norm > 0.0 && norm.is_finite() {
            let lambda = (&w / norm).dot(&w);
            if best.as_ref().is_none_or(|b| lambda < b.1) {
                best = Some((s.to_vec(), lambda));
            }
        }
        true
    });
    let (subset, lambda) = best.unwrap_or_else(|| ((0..k).collect(), 0.0));
    SmeaSelection {
        subset,
        lambda,
        exact: true,
    }
}

/// Exact λ_max of subset scatters in embedding coordinates.
struct Scatter<'a> {
    emb: &'a Embedding,
    /// ZᵀZ: the centred Gram matrix as seen by the embedding (n×n).
    gram: DMatrix<f64>,
}

impl<'a> Scatter<'a> {
    fn new(emb: &'a Embedding) -> Self {
        Scatter {
            emb,
            gram: emb.z.tr_mul(&emb.z),
        }
    }

    /// Size of the eigenproblem for a k-subset.
    fn dim(&self, k: usize) -> usize {
        k.min(self.emb.m())
    }

    /// The k×k centred Gram matrix of `s` (same nonzero spectrum as the scatter).
    fn centred_gram(&self, s: &[usize]) -> DMatrix<f64> {
        let k = s.len();
        let mut kmat = DMatrix::from_fn(k, k, |a, b| self.gram[(s[a], s[b])]);
        let row: Vec<f64> = (0..k).map(|a| kmat.row(a).sum() / k as f64).collect();
        let all = row.iter().sum::<f64>() / k as f64;
        for a in 0..k {
            for b in 0..k {
                kmat[(a, b)] += all - row[a] - row[b];
            }
        }
        symmetrize(&mut kmat);
        kmat
    }

    /// The m×m scatter of `s` and its mean, in embedding coordinates.
    fn scatter(&self, s: &[usize]) -> (DMatrix<f64>, DVector<f64>) {
        let m = self.emb.m();
        let mut mean = DVector::<f64>::zeros(m);
        for &i in s {
            mean += self.emb.z.column(i);
        }
        mean /= s.len() as f64;
        let mut c = DMatrix::<f64>::zeros(m, m);
        let mut r = DVector::<f64>::zeros(m);
        for &i in s {
            r.copy_from(&self.emb.z.column(i));
            r -= &mean;
            c.ger(1.0, &r, &r, 1.0);
        }
        symmetrize(&mut c);
        (c, mean)
    }

    /// The smaller of the k×k centred Gram matrix and the m×m scatter of `s` (same λ_max).
    fn matrix(&self, s: &[usize]) -> DMatrix<f64> {
        if s.len() <= self.emb.m() {
            self.centred_gram(s)
        } else {
            self.scatter(s).0
        }
    }

    fn lambda(&self, s: &[usize]) -> f64 {
        sym_top_value(&self.matrix(s)).max(0.0)
    }

    /// Whether λ_max(Scatter(s)) < `thr`: tI − M is positive definite exactly then, and a
    /// Cholesky factorization (k³/3 flops) decides it far faster than an eigensolver.
    fn below(&self, s: &[usize], thr: f64) -> bool {
        let mut a = -self.matrix(s);
        for i in 0..a.nrows() {
            a[(i, i)] += thr;
        }
        a.cholesky().is_some()
    }

    /// Rough cost of one [`Scatter::below`] call, in nanosecond-like units.
    fn leaf_cost(&self, k: usize) -> f64 {
        let m = self.emb.m() as f64;
        let (k, dim) = (k as f64, self.dim(k) as f64);
        let build = if k <= m { k * k } else { k * m * m / 2.0 };
        (build + dim * dim * dim / 3.0) / 2.0 + 200.0
    }

    /// λ_max and a unit top eigenvector in embedding coordinates.
    fn top(&self, s: &[usize]) -> (f64, DVector<f64>) {
        let m = self.emb.m();
        if s.len() <= m {
            let (lambda, q) = sym_top(&self.centred_gram(s));
            let mut mean = DVector::<f64>::zeros(m);
            for &i in s {
                mean += self.emb.z.column(i);
            }
            mean /= s.len() as f64;
            let mut v = DVector::<f64>::zeros(m);
            for (a, &i) in s.iter().enumerate() {
                v.axpy(q[a], &(self.emb.z.column(i) - &mean), 1.0);
            }
            let norm = v.norm();
            if norm > 0.0 {
                v /= norm;
            }
            (lambda.max(0.0), v)
        } else {
            let (c, _) = self.scatter(s);
            let (lambda, v) = sym_top(&c);
            (lambda.max(0.0), v)
        }
    }

    /// Squared projections of zᵢ − mean(s) on `v`, for all i.
    fn projections(&self, s: &[usize], v: &DVector<f64>) -> Vec<f64> {
        let raw = self.emb.z.tr_mul(v);
        let mean = s.iter().map(|&i| raw[i]).sum::<f64>() / s.len() as f64;
        raw.iter().map(|p| (p - mean) * (p - mean)).collect()
    }
}

/// Native selection: heuristic incumbent, then budgeted branch and bound.
fn native_select(emb: &Embedding, k: usize, budget: f64) -> SmeaSelection {
    let sc = Scatter::new(emb);
    let n = emb.n();
    let leaf_cost = sc.leaf_cost(k);
    let mut spent = 0.0;

    // 1. Greedy removal.
    let mut kept: Vec<usize> = (0..n).collect();
    let mut pool: Vec<DVector<f64>> = Vec::new();
    let (_, v_all) = sc.top(&kept);
    pool.push(emb.z.tr_mul(&v_all));
    while kept.len() > k {
        let (_, v) = sc.top(&kept);
        spent += 10.0 * leaf_cost;
        let proj = sc.projections(&kept, &v);
        let (pos, _) = kept
            .iter()
            .enumerate()
            .fold((0, f64::NEG_INFINITY), |acc, (p, &i)| {
                if proj[i] > acc.1 {
                    (p, proj[i])
                } else {
                    acc
                }
            });
        kept.remove(pos);
    }
    // 2. Swap search.
    let (mut cur, mut cur_v) = sc.top(&kept);
    spent += 10.0 * leaf_cost;
    for _pass in 0..20 {
        let proj = sc.projections(&kept, &cur_v);
        let mut inside: Vec<usize> = kept.clone();
        inside.sort_by(|&a, &b| proj[b].total_cmp(&proj[a]).then(a.cmp(&b)));
        inside.truncate(5);
        let outside: Vec<usize> = (0..n).filter(|i| !kept.contains(i)).collect();
        let mut improved = false;
        'search: for &o in &outside {
            for &i in &inside {
                let mut cand: Vec<usize> = kept.iter().copied().filter(|&j| j != i).collect();
                cand.push(o);
                cand.sort_unstable();
                spent += leaf_cost;
                if sc.below(&cand, cur * (1.0 - 1e-12)) {
                    kept = cand;
                    (cur, cur_v) = sc.top(&kept);
                    spent += 10.0 * leaf_cost;
                    improved = true;
                    break 'search;
                }
            }
        }
        if !improved {
            break;
        }
    }
    pool.push(emb.z.tr_mul(&cur_v));

    // 3. Branch and bound in lexicographic order.
    let scale: f64 = (0..n).map(|i| sc.gram[(i, i)]).sum();
    let mut bb = Bnb {
        sc: &sc,
        n,
        k,
        pool: Vec::new(),
        best_val: cur,
        best_set: None,
        slack: 1e-12 * scale.max(f64::MIN_POSITIVE),
        spent,
        budget,
        leaf_cost,
        exhausted: false,
    };
    for p in pool {
        bb.add_direction(p);
    }
    let mut kept_now = Vec::with_capacity(n);
    bb.dfs(0, &mut kept_now);
    let exact = !bb.exhausted;
    let (subset, lambda) = match bb.best_set {
        Some(s) if bb.best_val <= cur && (exact || bb.best_val < cur || s <= kept) => {
            (s, bb.best_val)
        }
        _ => (kept, cur),
    };
    SmeaSelection {
        subset,
        lambda,
        exact,
    }
}

/// One bounding direction u: projections pᵢ = u·zᵢ and, for every suffix {t, …, n − 1} of
/// the indices, those projections sorted with prefix sums of p and p².
struct Direction {
    p: Vec<f64>,
    /// `suffix[t]` = (prefix sums of sorted p, prefix sums of sorted p²) over {t, …, n − 1}.
    suffix: Vec<(Vec<f64>, Vec<f64>)>,
}

impl Direction {
    fn new(p: DVector<f64>) -> Self {
        let n = p.len();
        let p: Vec<f64> = p.iter().copied().collect();
        let suffix = (0..=n)
            .map(|t| {
                let mut v: Vec<f64> = p[t..].to_vec();
                v.sort_by(f64::total_cmp);
                let mut s1 = Vec::with_capacity(v.len() + 1);
                let mut s2 = Vec::with_capacity(v.len() + 1);
                let (mut a, mut b) = (0.0, 0.0);
                s1.push(0.0);
                s2.push(0.0);
                for x in v {
                    a += x;
                    b += x * x;
                    s1.push(a);
                    s2.push(b);
                }
                (s1, s2)
            })
            .collect();
        Direction { p, suffix }
    }

    /// min over T ⊆ {t, …, n − 1}, |T| = need, of Σ_{C∪T}(pᵢ − p̄)², where C has `size`
    /// elements with Σp = c1 and Σp² = c2. For a fixed centre the best T is the `need`
    /// projections nearest to it, a window of the sorted suffix, so scanning the windows
    /// gives the exact minimum: a lower bound on uᵀScatter(S)u ≤ λ_max(S) for every
    /// completion S of the node.
    fn completion_bound(&self, t: usize, need: usize, size: usize, c1: f64, c2: f64) -> f64 {
        let total = (size + need) as f64;
        if need == 0 {
            return c2 - c1 * c1 / total;
        }
        let (s1, s2) = &self.suffix[t];
        let len = s1.len() - 1;
        let mut best = f64::INFINITY;
        for a in 0..=(len - need) {
            let w1 = c1 + s1[a + need] - s1[a];
            let w2 = c2 + s2[a + need] - s2[a];
            best = best.min(w2 - w1 * w1 / total);
        }
        best
    }
}

/// Depth-first search over keep/remove decisions for indices 0, 1, …, keeping first, which
/// visits complete subsets in lexicographic order of their sorted index tuples.
struct Bnb<'a, 'e> {
    sc: &'a Scatter<'e>,
    n: usize,
    k: usize,
    pool: Vec<Direction>,
    best_val: f64,
    best_set: Option<Vec<usize>>,
    slack: f64,
    spent: f64,
    budget: f64,
    leaf_cost: f64,
    exhausted: bool,
}

impl Bnb<'_, '_> {
    fn add_direction(&mut self, p: DVector<f64>) {
        if self.pool.len() >= POOL {
            // Keep the two global directions, recycle the oldest incumbent's slot.
            self.pool.remove(2);
        }
        self.spent += (self.n * self.n) as f64 * 8.0;
        self.pool.push(Direction::new(p));
    }

    fn dfs(&mut self, t: usize, kept: &mut Vec<usize>) {
        if self.exhausted {
            return;
        }
        let removed = t - kept.len();
        let f = self.n - self.k;
        if kept.len() == self.k || removed == f {
            // Decided: the rest is removed, or the rest is kept.
            let start = kept.len();
            if removed == f {
                kept.extend(t..self.n);
            }
            self.leaf(kept);
            kept.truncate(start);
            return;
        }
        self.spent += (self.pool.len() * (self.n + kept.len())) as f64 / 2.0;
        if self.spent > self.budget {
            self.exhausted = true;
            return;
        }
        let need = self.k - kept.len();
        let mut lb = 0.0f64;
        for dir in &self.pool {
            let (c1, c2) = kept.iter().fold((0.0, 0.0), |(a, b), &i| {
                (a + dir.p[i], b + dir.p[i] * dir.p[i])
            });
            lb = lb.max(dir.completion_bound(t, need, kept.len(), c1, c2));
            if lb > self.best_val + self.slack {
                return;
            }
        }
        kept.push(t);
        self.dfs(t + 1, kept);
        kept.pop();
        self.dfs(t + 1, kept);
    }

    fn leaf(&mut self, s: &[usize]) {
        self.spent += self.leaf_cost;
        if !self.sc.below(s, self.best_val + self.slack) {
            return;
        }
        self.spent += 10.0 * self.leaf_cost;
        let val = self.sc.lambda(s);
        let accept = val < self.best_val || (self.best_set.is_none() && val <= self.best_val);
        if accept {
            let (_, v) = self.sc.top(s);
            self.spent += self.leaf_cost;
            self.best_val = val;
            self.best_set = Some(s.to_vec());
            self.add_direction(self.sc.emb.z.tr_mul(&v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Updates;
    use crate::rng::{rng_from_seed, uniform_index};
    use rand::RngExt;
    use rand_distr::StandardNormal;

    fn gaussian_rows(n: usize, d: usize, rng: &mut SimRng) -> Vec<Vec<f64>> {
        (0..n)
            .map(|_| (0..d).map(|_| rng.sample(StandardNormal)).collect())
            .collect()
    }

    /// Exhaustive native SMEA: exact λ_max of every subset, first strict minimum.
    fn brute_force(u: &Updates, f: usize) -> (Vec<usize>, f64) {
        let emb = Embedding::new(u.view(), "test").unwrap();
        let sc = Scatter::new(&emb);
        let mut best = (Vec::new(), f64::INFINITY);
        for_each_combination(u.n(), u.n() - f, |s| {
            let l = sc.lambda(s);
            if l < best.1 {
                best = (s.to_vec(), l);
            }
            true
        });
        best
    }

    fn run(f: usize, compat: Compat, u: &Updates, seed: u64) -> Result<DVector<f64>> {
        let mut rng = rng_from_seed(seed);
        Smea::new(f, compat).aggregate(u.view(), &mut AggContext::new(&mut rng))
    }

    #[test]
    fn known_answer_1d() {
        // Points 0, 1, 2, 10 with f = 1: the scatter of {0,1,2} is Σ(x − 1)² = 2, every
        // triple holding 10 has scatter ≥ 32.7, so the output is 1 in both modes (in 1-D the
        // power step is exact).
        let u = Updates::from_rows(&[vec![0.0], vec![1.0], vec![2.0], vec![10.0]]).unwrap();
        for compat in [Compat::Native, Compat::Byzfl] {
            assert_eq!(run(1, compat, &u, 0).unwrap().as_slice(), &[1.0]);
        }
        let sel = Smea::new(1, Compat::Native)
            .select(u.view(), &mut rng_from_seed(0))
            .unwrap();
        assert_eq!(sel.subset, vec![0, 1, 2]);
        assert!((sel.lambda - 2.0).abs() < 1e-12 && sel.exact);
        // ByzFL's docstring example: rows (1,2,3), (4,5,6), (7,8,9), f = 1: the pairs {0,1}
        // and {1,2} have the same scatter (13.5), the first wins → (2.5, 3.5, 4.5).
        let u = Updates::from_rows(&[
            vec![1.0, 2.0, 3.0],
            vec![4.0, 5.0, 6.0],
            vec![7.0, 8.0, 9.0],
        ])
        .unwrap();
        assert_eq!(
            run(1, Compat::Native, &u, 0).unwrap().as_slice(),
            &[2.5, 3.5, 4.5]
        );
    }

    #[test]
    fn native_matches_brute_force() {
        let mut rng = rng_from_seed(21);
        for trial in 0..60 {
            let n = 4 + uniform_index(&mut rng, 8); // 4..=11
            let f = 1 + uniform_index(&mut rng, (n - 1) / 2); // 1 ≤ f, 2f < n
            let d = 1 + uniform_index(&mut rng, 12);
            let mut rows = gaussian_rows(n, d, &mut rng);
            // Plant a few shifted points half the time.
            if trial % 2 == 0 {
                for row in rows.iter_mut().take(f) {
                    for v in row.iter_mut() {
                        *v += 4.0;
                    }
                }
            }
            let u = Updates::from_rows(&rows).unwrap();
            let (want, l) = brute_force(&u, f);
            let sel = Smea::new(f, Compat::Native)
                .select(u.view(), &mut rng_from_seed(0))
                .unwrap();
            assert!(sel.exact, "trial {trial}");
            assert_eq!(sel.subset, want, "trial {trial}: n={n} f={f} d={d}");
            assert!((sel.lambda - l).abs() <= 1e-9 * l.max(1.0), "trial {trial}");
        }
    }

    /// λ_max of the 2-D scatter of `rows[s]`, computed directly: two-pass centring at the
    /// subset's own mean, closed-form eigenvalue of the 2×2 matrix (relative accuracy
    /// ~1e-15 whatever the other rows hold).
    fn lambda_2d(rows: &[Vec<f64>], s: &[usize]) -> f64 {
        let k = s.len() as f64;
        let mx = s.iter().map(|&i| rows[i][0]).sum::<f64>() / k;
        let my = s.iter().map(|&i| rows[i][1]).sum::<f64>() / k;
        let (mut a, mut b, mut c) = (0.0, 0.0, 0.0);
        for &i in s {
            let (x, y) = (rows[i][0] - mx, rows[i][1] - my);
            a += x * x;
            b += x * y;
            c += y * y;
        }
        (a + c) / 2.0 + ((a - c) / 2.0).hypot(b)
    }

    /// Regression for the fault "native SMEA picks the second-best subset when one input is
    /// ≥ 1e6 although certified exact": the mean-centred embedding cut every direction below
    /// 1e-12 of the outlier's squared norm, so the honest spread vanished (λ of the best
    /// subset 0.0109 instead of 0.025 from 1e6 up, the second-best subset chosen at 1e20).
    /// Mutation that makes it fail: native mode back on `Embedding::new` (mean-centred, rank
    /// cut relative to the largest diagonal).
    #[test]
    fn one_input_at_1e6_or_more_keeps_the_certified_subset() {
        let honest = [
            [1.0, 2.0],
            [1.1, 2.1],
            [0.9, 1.9],
            [1.05, 2.05],
            [0.95, 2.2],
        ];
        for f in [1usize, 2] {
            for big in [1e6, 1e7, 1e8, 1e9, 1e12, 1e20, -1e9] {
                let mut rows: Vec<Vec<f64>> = honest.iter().map(|r| r.to_vec()).collect();
                rows.push(vec![big, big]);
                let u = Updates::from_rows(&rows).unwrap();
                let mut want = (Vec::new(), f64::INFINITY);
                for_each_combination(6, 6 - f, |s| {
                    let l = lambda_2d(&rows, s);
                    if l < want.1 {
                        want = (s.to_vec(), l);
                    }
                    true
                });
                let sel = Smea::new(f, Compat::Native)
                    .select(u.view(), &mut rng_from_seed(0))
                    .unwrap();
                assert!(sel.exact);
                assert_eq!(sel.subset, want.0, "f = {f}, outlier {big:e}");
                // 1e-9 relative: both sides are accurate to ~1e-14 here; the fault was off
                // by 10 % to 100 %.
                assert!(
                    (sel.lambda - want.1).abs() <= 1e-9 * want.1,
                    "f = {f}, outlier {big:e}: λ {} vs {}",
                    sel.lambda,
                    want.1
                );
            }
        }
    }

    #[test]
    fn budget_exhaustion_returns_the_incumbent() {
        // A zero budget skips the search: the heuristic subset comes back, not certified.
        let mut rng = rng_from_seed(3);
        let u = Updates::from_rows(&gaussian_rows(10, 5, &mut rng)).unwrap();
        let emb = Embedding::new(u.view(), "test").unwrap();
        let sel = native_select(&emb, 7, 0.0);
        assert!(!sel.exact);
        assert_eq!(sel.subset.len(), 7);
        let full = native_select(&emb, 7, SEARCH_BUDGET);
        assert!(full.exact && full.lambda <= sel.lambda);
    }

    #[test]
    fn small_instances_are_always_exact() {
        // C(10, 3) = 120 ≤ EXACT_SUBSETS: even a zero budget cannot stop the search.
        let mut rng = rng_from_seed(4);
        let u = Updates::from_rows(&gaussian_rows(10, 5, &mut rng)).unwrap();
        let sel = Smea::new(3, Compat::Native)
            .with_budget(0.0)
            .select(u.view(), &mut rng)
            .unwrap();
        assert!(sel.exact);
    }

    #[test]
    fn planted_outliers_large_n_is_exact() {
        // n = 50, f = 10, d = 200: 40 N(0, I) points and 10 copies of 3·1. Pruning certifies
        // the honest subset as the exact minimiser.
        let mut rng = rng_from_seed(8);
        let mut rows = gaussian_rows(40, 200, &mut rng);
        rows.extend(std::iter::repeat_n(vec![3.0; 200], 10));
        let u = Updates::from_rows(&rows).unwrap();
        let sel = Smea::new(10, Compat::Native)
            .select(u.view(), &mut rng_from_seed(0))
            .unwrap();
        assert!(sel.exact);
        assert_eq!(sel.subset, (0..40).collect::<Vec<_>>());
    }

    #[test]
    fn byzfl_mode_is_seeded_and_bounded() {
        let mut rng = rng_from_seed(5);
        let u = Updates::from_rows(&gaussian_rows(9, 40, &mut rng)).unwrap();
        let a = run(2, Compat::Byzfl, &u, 1).unwrap();
        assert_eq!(a, run(2, Compat::Byzfl, &u, 1).unwrap());
        let big = Updates::from_rows(&gaussian_rows(50, 3, &mut rng)).unwrap();
        let e = run(10, Compat::Byzfl, &big, 0).unwrap_err();
        assert!(matches!(e, Error::Unsupported(_)), "{e}");
        // The native search still answers (budgeted) at that size.
        assert!(run(10, Compat::Native, &big, 0).is_ok());
    }

    #[test]
    fn errors_and_degenerate_inputs() {
        let u = Updates::from_rows(&[vec![1.0], vec![2.0], vec![6.0], vec![0.0]]).unwrap();
        let e = run(2, Compat::Native, &u, 0).unwrap_err().to_string();
        assert!(e.contains("n > 2f = 4"), "{e}");
        assert_eq!(run(0, Compat::Native, &u, 0).unwrap().as_slice(), &[2.25]);
        let same = Updates::from_rows(&vec![vec![3.0, -1.0]; 5]).unwrap();
        for compat in [Compat::Native, Compat::Byzfl] {
            assert_eq!(run(2, compat, &same, 0).unwrap().as_slice(), &[3.0, -1.0]);
        }
        let mut m = DMatrix::from_element(1, 3, 1.0);
        m[(0, 0)] = f64::INFINITY;
        let inf = Updates::new_allow_inf(m).unwrap();
        assert!(matches!(
            run(1, Compat::Byzfl, &inf, 0),
            Err(Error::NonFinite { .. })
        ));
        // Native: the infinite input is never selected.
        assert_eq!(run(1, Compat::Native, &inf, 0).unwrap()[0], 1.0);
    }
}
