//! One defence evaluated many times on the same honest vectors plus m copies of a candidate
//! that moves along a line: what the Optimal_* attacks' 1-D searches do (ByzFL's default: 20
//! evaluations per round, each on the round's honest vectors plus f copies of b(τ)).
//!
//! [`Pipeline::prepare`] returns a [`PreparedDefence`] whose [`PreparedDefence::run`] gives,
//! for each factor t, the same bits as [`Pipeline::run`] on honest ∪ m copies of b(t). Any
//! pipeline works: the generic path runs it on the n = n_h + m vectors. When the pipeline is
//! NNM followed by any rule, what does not change across the evaluations is computed once:
//!
//! - **Distances.** NNM needs the n×n matrix of squared distances. Its honest–honest block is
//!   computed once (by the same kernel, whose entries for a pair do not depend on the other
//!   vectors), each honest row ranked once. The copies are at distance 0 from one another and
//!   at D_ib = ‖h_i − b(t)‖² from honest i. D_ib is not computed: with b(t) = p + t·q,
//!   ‖h_i − p − t·q‖² = A_i − 2t·B_i + t²·C with A_i = ‖h_i − p‖², B_i = ⟨h_i − p, q⟩,
//!   C = ‖q‖² computed once, so each evaluation costs O(n_h) for them instead of O(n² d).
//!   That expansion loses small distances to cancellation (the reason the crate's distance
//!   kernel uses direct differences), so it is used only to *bracket* the value the kernel
//!   would compute (see **Numerics**). NNM needs of D_ib only its rank among the row's honest
//!   distances (and, for a copy's own row, the ranks of the D_jb among themselves); when the
//!   bracket decides every rank the neighbour sets are exactly the kernel's, otherwise that
//!   evaluation runs the generic path. On ordinary data the brackets are ~10⁻¹¹ relative wide
//!   and the fallback does not happen (the tests count both paths).
//! - **Neighbour sums.** NNM's output i is (Σ_{j ∈ Nᵢ} x_j)/(n − f), summed in increasing index
//!   order, and the copies come after every honest vector: it is (Sᵢ + b + … + b)/(n − f), with
//!   Sᵢ the left-to-right sum of i's honest neighbours, a prefix of NNM's own sum. Sᵢ depends
//!   only on the honest neighbour set, which repeats across evaluations (all honest vectors
//!   once b(t) is far, each vector's nearest ones once b(t) is inside the cloud), so the sums
//!   are cached by set (at most 2·n_h of them, the honest input's size twice).
//! - **The rule** sees n vectors of which only G are distinct (one per neighbour set and copy
//!   count: G = 2 once b(t) is outside the cloud). A trimmed mean is taken on the G distinct
//!   vectors with their multiplicities, in one pass with the rule's own arithmetic: per
//!   coordinate, the kept values added in ascending order from 0 (the exact kernel, exactly
//!   the trimmed mean's sum over its sorted column), or, where the native rule runs its
//!   one-pass kernel, every row's value clamped to the order statistics [x₍f₎, x₍n−f−1₎] added
//!   in the expanded input's row order; any other rule (or many distinct vectors) gets the n
//!   NNM outputs and runs as usual.
//!
//! Every arithmetic operation that produces an output bit is the one the pipeline performs, in
//! the same order, so outputs are bit-identical; `tests` check this against the generic path
//! on random inputs, near-ties and far outliers.
//!
//! **Numerics of the bracket.** u = 2⁻⁵³, γ_k = k·u/(1 − k·u) (Higham, *Accuracy and Stability
//! of Numerical Algorithms*, 2nd ed., SIAM 2002, §3.1 and Lemma 3.1, and §4.2 for sums of
//! non-negative terms in any association). The kernel sums d rounded squares of rounded
//! differences, so it returns D_true·(1 + θ) with |θ| ≤ γ_{d+2}, D_true = ‖h − b‖² in exact
//! arithmetic on the floats h and b. Here ĝ = fl(h − p) = (h − p) + α with |α_c| ≤ u|ĝ_c|/(1 − u),
//! and the float candidate is b = p + t·q + e with |e_c| ≤ u|t·q_c| + u|b_c|/(1 − u) (b_c is
//! `p_c + q_c * t`, two roundings). With v = ĝ − t·q, h − b = v − α − e. The computed
//! Â, B̂, Ĉ carry errors ≤ γ_{d+1} times ‖ĝ‖², ‖ĝ‖‖q‖ (Cauchy–Schwarz) and ‖q‖², and the
//! combination D̃ = (Â − 2t·B̂) + t·t·Ĉ four more roundings, so
//! |D̃ − ‖v‖²| ≤ (γ_{d+1} + γ₄)(‖ĝ‖ + |t|‖q‖)²(1 + O(γ)), and ‖α + e‖ ≤ u(‖ĝ‖ + |t|‖q‖ + ‖b‖)(1 + O(u)).
//! The bracket [L, U] widens each of these bounds by a factor 2 (which absorbs the O(γ) terms
//! and the few roundings of computing the bracket itself, each a relative u of a quantity no
//! larger than the bound's scale): ‖v‖ ∈ [√(D̃ − E), √(D̃ + E)] with E = 2γ_{d+5}·M,
//! M = (√Â + |t|√Ĉ)², then ‖h − b‖ = ‖v‖ ± W with W = 2u(√M + ‖b‖), then squared and widened
//! by the kernel's (1 ± (2γ_{d+2} + 8u)). Non-finite or NaN brackets send the evaluation to the
//! generic path. This relies on the distance kernel summing direct squared differences (its
//! documented design); `tests` would catch a kernel that does not.
//!
//! Memory: the honest–honest matrix (n_h² floats), n_h ranked rows, and the cached sums
//! (≤ 2·n_h·d floats), plus the G distinct outputs per evaluation.
//!
//! # References
//! Allouah, Farhadkhani, Guerraoui, Gupta, Pinot & Stephan, "Fixing by Mixing: A Recipe for
//! Optimal Byzantine ML under Heterogeneity", AISTATS 2023, arXiv 2302.01772 (NNM);
//! N. J. Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., SIAM 2002 (the
//! error bounds).

use super::distances::pairwise_sq_dists;
use super::pre::nnm::{mean_into, Nnm};
use super::trmean::{clamped, fits, mean_if_sum_overflowed, mean_of_clamped_sum, TrimmedMean};
use super::{AggContext, Aggregator, Pipeline};
use crate::data::{Updates, UpdatesView};
use crate::Result;
use nalgebra::{DMatrix, DVector};
use std::any::Any;
use std::collections::HashMap;

/// Coordinates per block of the neighbour-sum pass: n_h vectors × 512 coordinates (160 KB at
/// n_h = 40) stay in L2 while every new sum takes its members from them.
const BLOCK: usize = 512;

/// At most this many distinct vectors go through the grouped trimmed mean; more (b(t) inside
/// the cloud, every honest vector with its own neighbourhood) run the rule itself, whose
/// sorting network is then cheaper than selecting among groups.
const MAX_GROUPS: usize = 6;

/// A candidate Byzantine vector moving along a line, b(t) = p + t·q, computed coordinate-wise
/// as `p_c + q_c * t` (two roundings), or `q_c * t` (one) without a base p.
#[derive(Clone, Debug)]
pub struct CandidateLine {
    base: Option<DVector<f64>>,
    direction: DVector<f64>,
}

impl CandidateLine {
    /// The line p + t·q (`base` p, or the origin when `None`; `direction` q).
    pub fn new(base: Option<DVector<f64>>, direction: DVector<f64>) -> Self {
        CandidateLine { base, direction }
    }

    /// b(t).
    pub fn at(&self, t: f64) -> DVector<f64> {
        match &self.base {
            Some(p) => p.zip_map(&self.direction, |p, q| p + q * t),
            None => self.direction.map(|q| q * t),
        }
    }
}

/// A [`Pipeline`] prepared on fixed honest vectors, to be run on them plus copies of b(t) for
/// many t (module docs).
pub struct PreparedDefence<'a> {
    pipeline: &'a Pipeline,
    honest: UpdatesView<'a>,
    copies: usize,
    line: &'a CandidateLine,
    /// Honest vectors then the copies: the generic path's input, reused.
    input: Option<DMatrix<f64>>,
    nnm: Option<NnmOnLine>,
    /// The rule when it is a trimmed mean with f > 0.
    trimmed: Option<TrimmedMean>,
    fast_runs: usize,
    generic_runs: usize,
}

impl Pipeline {
    /// Prepares this pipeline for runs on `honest` plus `copies` copies of a point of `line`.
    pub fn prepare<'a>(
        &'a self,
        honest: UpdatesView<'a>,
        copies: usize,
        line: &'a CandidateLine,
    ) -> PreparedDefence<'a> {
        let n = honest.n() + copies;
        let nnm = match self.pre.as_slice() {
            [pre]
                if copies > 0
                    && line.direction.len() == honest.d()
                    && self.check_n(n).is_ok()
                    && honest.all_finite() =>
            {
                (&**pre as &dyn Any)
                    .downcast_ref::<Nnm>()
                    .and_then(|nnm| NnmOnLine::new(honest, copies, n - nnm.f(), line))
            }
            _ => None,
        };
        let trimmed = (&*self.agg as &dyn Any)
            .downcast_ref::<TrimmedMean>()
            .copied()
            .filter(|t| t.f() > 0);
        PreparedDefence {
            pipeline: self,
            honest,
            copies,
            line,
            input: None,
            nnm,
            trimmed,
            fast_runs: 0,
            generic_runs: 0,
        }
    }
}

impl PreparedDefence<'_> {
    /// The pipeline's output on the honest vectors plus the copies of b(t): the same bits as
    /// [`Pipeline::run`] on them, drawing the same random numbers from `cx`.
    ///
    /// # Errors
    /// Those of [`Pipeline::run`] (NaN in b(t) included).
    pub fn run(&mut self, t: f64, cx: &mut AggContext<'_>) -> Result<DVector<f64>> {
        let b = self.line.at(t);
        if let Some(nnm) = &mut self.nnm {
            if let Some(out) = nnm.run(self.honest, &b, t, &*self.pipeline.agg, self.trimmed, cx)? {
                self.fast_runs += 1;
                return Ok(out);
            }
        }
        self.generic_runs += 1;
        self.run_generic(&b, cx)
    }

    /// How many runs took the prepared path and how many the generic one.
    pub fn runs(&self) -> (usize, usize) {
        (self.fast_runs, self.generic_runs)
    }

    fn run_generic(&mut self, b: &DVector<f64>, cx: &mut AggContext<'_>) -> Result<DVector<f64>> {
        let (nh, d) = (self.honest.n(), self.honest.d());
        let mut m = self.input.take().unwrap_or_else(|| {
            let mut m = DMatrix::zeros(d, nh + self.copies);
            m.columns_mut(0, nh).copy_from(&self.honest.matrix());
            m
        });
        for c in nh..nh + self.copies {
            m.column_mut(c).copy_from(b);
        }
        let u = Updates::new_allow_inf(m)?;
        let out = self.pipeline.run(u.view(), cx);
        self.input = Some(u.into_matrix());
        out
    }
}

/// NNM on the honest vectors plus m copies of b(t), prepared (module docs).
struct NnmOnLine {
    m: usize,
    /// Neighbours per vector, n − f.
    k: usize,
    /// Row i: the honest j ranked as NNM ranks them from i, by (D_ij, j).
    order: Vec<Vec<u32>>,
    /// Row i: D_ij in that order.
    ranked: Vec<Vec<f64>>,
    bracket: Bracket,
    /// Left-to-right sums of honest neighbour sets (increasing indices), by set.
    sums: HashMap<Vec<u32>, Vec<f64>>,
}

/// One evaluation's NNM outputs: the distinct ones, and which one each of the n vectors gets.
struct Groups {
    /// (honest neighbours in increasing order, copies among the neighbours).
    keys: Vec<(Vec<u32>, usize)>,
    /// Group of each honest vector; the copies all get group `byz`.
    of_honest: Vec<usize>,
    byz: usize,
}

impl NnmOnLine {
    fn new(honest: UpdatesView<'_>, m: usize, k: usize, line: &CandidateLine) -> Option<Self> {
        let nh = honest.n();
        let bracket = Bracket::new(honest, line)?;
        let d2 = pairwise_sq_dists(honest);
        let (order, ranked) = (0..nh)
            .map(|i| {
                let row = &d2[i * nh..(i + 1) * nh];
                let mut idx: Vec<u32> = (0..nh as u32).collect();
                idx.sort_by(|&a, &b| row[a as usize].total_cmp(&row[b as usize]).then(a.cmp(&b)));
                let ranked = idx.iter().map(|&j| row[j as usize]).collect();
                (idx, ranked)
            })
            .unzip();
        Some(NnmOnLine {
            m,
            k,
            order,
            ranked,
            bracket,
            sums: HashMap::new(),
        })
    }

    /// Honest neighbours among NNM's k when c honest vectors rank before the copies.
    fn honest_count(&self, c: usize) -> usize {
        c.min(self.k).max(self.k.saturating_sub(self.m))
    }

    /// The neighbourhoods for b(t), or `None` when a bracket cannot decide a rank.
    fn groups(&self, t: f64, b_norm: f64) -> Option<Groups> {
        let nh = self.order.len();
        let brackets: Vec<(f64, f64)> = (0..nh)
            .map(|i| self.bracket.of(i, t, b_norm))
            .collect::<Option<_>>()?;
        let mut keys: Vec<(Vec<u32>, usize)> = Vec::new();
        let mut group_of = |set: Vec<u32>, copies: usize| -> usize {
            let key = (set, copies);
            match keys.iter().position(|k| *k == key) {
                Some(g) => g,
                None => {
                    keys.push(key);
                    keys.len() - 1
                }
            }
        };
        // Honest row i: the honest j with D_ij ≤ D_ib rank before the copies (equal distances:
        // the smaller index first, and every copy's index is larger).
        let mut of_honest = Vec::with_capacity(nh);
        for (i, &(lo, hi)) in brackets.iter().enumerate() {
            let row = &self.ranked[i];
            let surely = row.partition_point(|&x| x <= lo);
            let maybe = row.partition_point(|&x| x <= hi);
            let h = self.honest_count(surely);
            if self.honest_count(maybe) != h {
                return None;
            }
            let mut set = self.order[i][..h].to_vec();
            set.sort_unstable();
            of_honest.push(group_of(set, self.k - h));
        }
        // A copy's row: the other copies at distance 0 first (no honest vector may be at 0),
        // then the honest j by (D_jb, j).
        if brackets.iter().any(|&(lo, _)| lo <= 0.0) {
            return None;
        }
        let h = self.honest_count(0);
        let mut set: Vec<u32> = (0..nh as u32).collect();
        if h < nh {
            let mid = |j: u32| {
                let (lo, hi) = brackets[j as usize];
                0.5 * lo + 0.5 * hi
            };
            set.sort_by(|&a, &b| mid(a).total_cmp(&mid(b)).then(a.cmp(&b)));
            let (kept, rest) = set.split_at(h);
            let top = kept
                .iter()
                .map(|&j| brackets[j as usize].1)
                .fold(0.0, f64::max);
            let next = rest
                .iter()
                .map(|&j| brackets[j as usize].0)
                .fold(f64::INFINITY, f64::min);
            // Not `top < next` (NaN cannot occur: brackets are checked finite).
            if top >= next {
                return None;
            }
            set.truncate(h);
            set.sort_unstable();
        }
        let byz = group_of(set, self.k - h);
        Some(Groups {
            keys,
            of_honest,
            byz,
        })
    }

    /// NNM and then `rule` on honest ∪ m copies of `b` = b(t), or `None` (nothing drawn from
    /// `cx`) when the generic path must run.
    fn run(
        &mut self,
        honest: UpdatesView<'_>,
        b: &DVector<f64>,
        t: f64,
        rule: &dyn Aggregator,
        trimmed: Option<TrimmedMean>,
        cx: &mut AggContext<'_>,
    ) -> Result<Option<DVector<f64>>> {
        let b_norm = crate::data::norm(b.as_slice());
        if !b_norm.is_finite() {
            return Ok(None);
        }
        let Some(groups) = self.groups(t, b_norm) else {
            return Ok(None);
        };
        self.add_missing_sums(honest, &groups.keys);
        let k = self.k as f64;
        let b = b.as_slice();
        let outputs: Vec<Vec<f64>> = groups
            .keys
            .iter()
            .map(|(set, copies)| {
                let mut srcs: Vec<&[f64]> = Vec::with_capacity(1 + copies);
                if !set.is_empty() {
                    srcs.push(&self.sums[set]);
                }
                srcs.extend(std::iter::repeat_n(b, *copies));
                let mut y = vec![0.0; b.len()];
                mean_into(&mut y, &srcs, k);
                y
            })
            .collect();
        // Overflowed sums: the generic path decides what the rule makes of them.
        if !outputs.iter().all(|y| y.iter().all(|v| v.is_finite())) {
            return Ok(None);
        }
        let nh = groups.of_honest.len();
        let n = nh + self.m;
        let mut weights = vec![0usize; outputs.len()];
        for &g in &groups.of_honest {
            weights[g] += 1;
        }
        weights[groups.byz] += self.m;
        // The group of each of the rule's n input rows, in row order.
        let row_groups: Vec<usize> = (0..n)
            .map(|r| groups.of_honest.get(r).copied().unwrap_or(groups.byz))
            .collect();
        if let Some(tm) = trimmed.filter(|_| outputs.len() <= MAX_GROUPS) {
            let ys: Vec<&[f64]> = outputs.iter().map(Vec::as_slice).collect();
            let mut out = vec![0.0; b.len()];
            let rows = tm.one_pass_on(n).then_some(row_groups.as_slice());
            trimmed_mean_of_groups(&ys, &weights, tm.f(), rows, &mut out);
            return Ok(Some(DVector::from_vec(out)));
        }
        let mut mixed = DMatrix::zeros(b.len(), n);
        for (mut col, &g) in mixed.column_iter_mut().zip(&row_groups) {
            col.as_mut_slice().copy_from_slice(&outputs[g]);
        }
        let mixed = Updates::new(mixed)?;
        rule.aggregate(mixed.view(), cx).map(Some)
    }

    /// Computes the sums of the sets in `keys` not cached yet, in one blocked pass over the
    /// honest vectors (the cache is emptied first when it would exceed 2·n_h sums).
    fn add_missing_sums(&mut self, honest: UpdatesView<'_>, keys: &[(Vec<u32>, usize)]) {
        let mut missing: Vec<&Vec<u32>> = Vec::new();
        for (set, _) in keys {
            if !set.is_empty() && !self.sums.contains_key(set) && !missing.contains(&set) {
                missing.push(set);
            }
        }
        if missing.is_empty() {
            return;
        }
        if self.sums.len() + missing.len() > 2 * honest.n() {
            self.sums
                .retain(|set, _| keys.iter().any(|(s, _)| s == set));
        }
        let d = honest.d();
        let mut new: Vec<Vec<f64>> = vec![vec![0.0; d]; missing.len()];
        let mut srcs: Vec<&[f64]> = Vec::with_capacity(honest.n());
        for lo in (0..d).step_by(BLOCK) {
            let hi = (lo + BLOCK).min(d);
            for (s, set) in new.iter_mut().zip(&missing) {
                srcs.clear();
                srcs.extend(set.iter().map(|&j| &honest.col(j as usize)[lo..hi]));
                mean_into(&mut s[lo..hi], &srcs, 1.0);
            }
        }
        for (set, s) in missing.into_iter().zip(new) {
            self.sums.insert(set.clone(), s);
        }
    }
}

/// The brackets [L_i, U_i] of the distance kernel's value for ‖h_i − b(t)‖² (module docs).
struct Bracket {
    a: Vec<f64>,
    b: Vec<f64>,
    c: f64,
    /// 2γ_{d+5}: the widened error of D̃ relative to M.
    err_sum: f64,
    /// 2γ_{d+2} + 8u: the widened relative error of the kernel (and the bracket's last steps).
    err_kernel: f64,
}

/// u, the unit roundoff of f64.
const U: f64 = f64::EPSILON / 2.0;

/// γ_k = k·u/(1 − k·u).
fn gamma(k: usize) -> f64 {
    let ku = k as f64 * U;
    ku / (1.0 - ku)
}

impl Bracket {
    /// `None` for non-finite norms or a d so large that k·u is not small.
    fn new(honest: UpdatesView<'_>, line: &CandidateLine) -> Option<Self> {
        let d = honest.d();
        if (d as f64 + 8.0) * U > 1e-3 {
            return None;
        }
        let q = line.direction.as_slice();
        let p = line.base.as_ref().map(|p| p.as_slice());
        let (a, b): (Vec<f64>, Vec<f64>) =
            honest.cols().map(|h| centred_norm_and_dot(h, p, q)).unzip();
        let c = crate::data::sq_norm(q);
        if !(c.is_finite() && a.iter().chain(&b).all(|v| v.is_finite())) {
            return None;
        }
        Some(Bracket {
            a,
            b,
            c,
            err_sum: 2.0 * gamma(d + 5),
            err_kernel: 2.0 * gamma(d + 2) + 8.0 * U,
        })
    }

    /// [L_i, U_i] for b(t) with computed norm `b_norm`, or `None` when not finite.
    fn of(&self, i: usize, t: f64, b_norm: f64) -> Option<(f64, f64)> {
        let approx = (self.a[i] - 2.0 * t * self.b[i]) + t * t * self.c;
        let scale = self.a[i].sqrt() + t.abs() * self.c.sqrt();
        let e = self.err_sum * scale * scale;
        let w = 2.0 * U * (scale + b_norm);
        let lo = ((approx - e).max(0.0).sqrt() - w).max(0.0);
        let hi = (approx + e).max(0.0).sqrt() + w;
        let (lo, hi) = (
            lo * lo * (1.0 - self.err_kernel),
            hi * hi * (1.0 + self.err_kernel),
        );
        (lo >= 0.0 && hi >= lo && hi.is_finite()).then_some((lo, hi))
    }
}

/// (‖h − p‖², ⟨h − p, q⟩) with ĝ = fl(h − p) (h itself without p), eight lanes each.
fn centred_norm_and_dot(h: &[f64], p: Option<&[f64]>, q: &[f64]) -> (f64, f64) {
    crate::simd::widest(
        #[inline(always)]
        || {
            let (mut aa, mut ab) = ([0.0f64; 8], [0.0f64; 8]);
            let d = h.len();
            let full = d - d % 8;
            let mut tail = (0.0, 0.0);
            let g = |c: usize| match p {
                Some(p) => h[c] - p[c],
                None => h[c],
            };
            for c0 in (0..full).step_by(8) {
                for l in 0..8 {
                    let v = g(c0 + l);
                    aa[l] += v * v;
                    ab[l] += v * q[c0 + l];
                }
            }
            for (c, qc) in q.iter().enumerate().take(d).skip(full) {
                let v = g(c);
                tail.0 += v * v;
                tail.1 += v * qc;
            }
            let fold =
                |s: [f64; 8]| ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
            (fold(aa) + tail.0, fold(ab) + tail.1)
        },
    )
}

/// The trimmed mean (f at each end) of n = Σ w vectors of which ys[g] appears w[g] times,
/// with the trimmed mean's own arithmetic:
///
/// - `rows: None` (the exact kernel): per coordinate, the values ranked f..n − f in ascending
///   order are added from 0 left to right and divided by n − 2f, as the trimmed mean adds its
///   sorted column (equal values are interchangeable, and ±0 do not change a sum that starts
///   from +0);
/// - `rows: Some(g)` (the one-pass kernel, `rows[i]` the group of input row i): lo and hi are
///   the values ranked f and n − f − 1, and where they [`fit`](super::trmean::fits) every row's
///   [`clamped`] value is added in row order and turned into the mean by
///   [`mean_of_clamped_sum`], as the kernel does; elsewhere the exact sum above.
///
/// A vector that appears at least n − f times holds every kept rank wherever the others fall,
/// so its exact kept sum is it added n − 2f times. Otherwise, eight coordinates at a time: each
/// group's first rank (the weights of the groups before it: smaller value, or equal value and
/// smaller index); the value at rank r is that of the group whose first rank is the largest
/// ≤ r, found by walking r upwards and switching at each group's first rank.
fn trimmed_mean_of_groups(
    ys: &[&[f64]],
    w: &[usize],
    f: usize,
    rows: Option<&[usize]>,
    out: &mut [f64],
) {
    const L: usize = 8;
    let n: usize = w.iter().sum();
    let kept = n - 2 * f;
    let kept_f = kept as f64;
    if let (Some(g), None) = (w.iter().position(|&x| x >= n - f), rows) {
        let y = ys[g];
        crate::simd::widest(
            #[inline(always)]
            || {
                for (o, y) in out.iter_mut().zip(y) {
                    let mut s = 0.0;
                    for _ in 0..kept {
                        s += y;
                    }
                    *o = s / kept_f;
                    if s.is_infinite() {
                        *o = mean_if_sum_overflowed(s, std::iter::repeat_n(*y, kept), kept_f);
                    }
                }
            },
        );
        return;
    }
    let g = ys.len();
    let wf: Vec<f64> = w.iter().map(|&x| x as f64).collect();
    crate::simd::widest(
        #[inline(always)]
        || {
            let d = out.len();
            let mut c0 = 0;
            while c0 < d {
                let len = L.min(d - c0);
                let mut v = [[0.0f64; L]; MAX_GROUPS];
                for (a, va) in v.iter_mut().enumerate().take(g) {
                    va[..len].copy_from_slice(&ys[a][c0..c0 + len]);
                }
                let mut first = [[0.0f64; L]; MAX_GROUPS];
                for a in 0..g {
                    for bb in 0..g {
                        for l in 0..L {
                            let before = v[bb][l] < v[a][l] || (v[bb][l] == v[a][l] && bb < a);
                            first[a][l] += if before { wf[bb] } else { 0.0 };
                        }
                    }
                }
                // The value at rank f: the group with the largest first rank ≤ f.
                let lo = f as f64;
                let mut x = [0.0f64; L];
                let mut at = [-1.0f64; L];
                for a in 0..g {
                    for l in 0..L {
                        let take = first[a][l] <= lo && first[a][l] > at[l];
                        x[l] = if take { v[a][l] } else { x[l] };
                        at[l] = if take { first[a][l] } else { at[l] };
                    }
                }
                let x_lo = x;
                let mut s = [0.0f64; L];
                for l in 0..L {
                    s[l] += x[l];
                }
                for rank in f + 1..n - f {
                    let r = rank as f64;
                    for a in 0..g {
                        for l in 0..L {
                            x[l] = if first[a][l] == r { v[a][l] } else { x[l] };
                        }
                    }
                    for l in 0..L {
                        s[l] += x[l];
                    }
                }
                let mut mean = [0.0f64; L];
                for l in 0..L {
                    mean[l] = s[l] / kept_f;
                    if s[l].is_infinite() {
                        // The trimmed mean's own fallback, on the kept values in order.
                        let mut sorted: Vec<f64> = (0..g)
                            .flat_map(|a| std::iter::repeat_n(v[a][l], w[a]))
                            .collect();
                        sorted.sort_unstable_by(f64::total_cmp);
                        let kept_values = sorted[f..n - f].iter().copied();
                        mean[l] = mean_if_sum_overflowed(s[l], kept_values, kept_f);
                    }
                }
                if let Some(rows) = rows {
                    // The walk ended at rank n − f − 1: x holds hi.
                    let (lo, hi) = (x_lo, x);
                    let mut sum = [0.0f64; L];
                    for &r in rows {
                        for l in 0..L {
                            sum[l] += clamped(v[r][l], lo[l], hi[l]);
                        }
                    }
                    for l in 0..L {
                        if fits(lo[l], hi[l], n, f) {
                            mean[l] = mean_of_clamped_sum(sum[l], lo[l], hi[l], n, f);
                        }
                    }
                }
                out[c0..c0 + len].copy_from_slice(&mean[..len]);
                c0 += L;
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{Compat, Params};
    use crate::rng::rng_from_seed;
    use rand::RngExt;

    fn pipeline(pre_f: usize, rule: &str, rule_f: usize, compat: Compat) -> Pipeline {
        Pipeline {
            pre: vec![Box::new(Nnm::new(pre_f, compat))],
            agg: super::super::build(rule, &Params::new().with("f", rule_f as f64), compat)
                .unwrap(),
        }
    }

    /// The pipeline run plainly on honest ∪ m copies of b(t).
    fn plain(p: &Pipeline, honest: &Updates, m: usize, b: &DVector<f64>) -> DVector<f64> {
        let copies = Updates::repeat(b, m).unwrap();
        let all = honest.concat(&copies).unwrap();
        let mut rng = rng_from_seed(3);
        p.run(all.view(), &mut AggContext::new(&mut rng)).unwrap()
    }

    fn prepared_at(prep: &mut PreparedDefence<'_>, t: f64) -> DVector<f64> {
        let mut rng = rng_from_seed(3);
        prep.run(t, &mut AggContext::new(&mut rng)).unwrap()
    }

    /// Momentum-like honest vectors: a common vector plus noise, coordinate scales spread over
    /// two decades.
    fn momenta(nh: usize, d: usize, seed: u64) -> Updates {
        let mut rng = rng_from_seed(seed);
        let scale: Vec<f64> = (0..d)
            .map(|_| 10f64.powf(-2.0 * rng.random::<f64>()))
            .collect();
        let g: Vec<f64> = scale
            .iter()
            .map(|s| s * (rng.random::<f64>() - 0.5))
            .collect();
        let rows: Vec<Vec<f64>> = (0..nh)
            .map(|_| {
                (0..d)
                    .map(|c| g[c] + scale[c] * (rng.random::<f64>() - 0.5))
                    .collect()
            })
            .collect();
        Updates::from_rows(&rows).unwrap()
    }

    fn alie_line(h: &Updates) -> CandidateLine {
        let (mean, std) =
            crate::attacks::a_little_is_enough::byzfl_mean_std("test", h.view()).unwrap();
        CandidateLine::new(Some(mean), std)
    }

    /// Prepared runs equal plain runs bit for bit over a grid of factors (inside the cloud,
    /// across its edge, far out, negative) for NNM before a trimmed mean, the average and
    /// Krum, in both compat modes, and both paths of the trimmed mean (few groups: the grouped
    /// kernel; b(t) inside the cloud: the rule on the n outputs) are taken.
    /// Mutation that makes it fail (checked): in `trimmed_mean_of_groups`, ranking equal
    /// values by `bb <= a` instead of `bb < a` (a group then lands on a rank another holds);
    /// or `honest_count` without `.max(k − m)` (a vector whose copies do not fill its
    /// neighbourhood loses the honest vectors after them).
    #[test]
    fn matches_plain_runs_on_random_inputs() {
        let mut fast = 0;
        let mut kernel = 0;
        let mut many = 0;
        for (seed, nh, m, d) in [
            (1u64, 12usize, 3usize, 57usize),
            (2, 40, 10, 300),
            (3, 9, 4, 8),
        ] {
            let h = momenta(nh, d, seed);
            let n = nh + m;
            let lines = [
                alie_line(&h),
                CandidateLine::new(
                    None,
                    -crate::attacks::a_little_is_enough::byzfl_mean(h.view()),
                ),
            ];
            for (rule, rf) in [("trmean", m), ("trmean", 1), ("average", 0), ("krum", m)] {
                for compat in [Compat::Native, Compat::Byzfl] {
                    for pre_f in [m, m - 1, (n - 1) / 2] {
                        let p = pipeline(pre_f, rule, rf, compat);
                        if p.check_n(n).is_err() {
                            continue;
                        }
                        for line in &lines {
                            let mut prep = p.prepare(h.view(), m, line);
                            for t in [
                                0.0, 0.3, 0.8, 1.0, 1.1, 1.3, 2.0, 5.0, 10.0, 1e3, -0.9, -4.0,
                            ] {
                                let want = plain(&p, &h, m, &line.at(t));
                                let got = prepared_at(&mut prep, t);
                                assert_eq!(got, want, "seed {seed} {rule} pre_f {pre_f} t {t}");
                            }
                            fast += prep.runs().0;
                            if let Some(nnm) = &prep.nnm {
                                let groups = (0..40).filter_map(|s| {
                                    let t = s as f64 * 0.1;
                                    nnm.groups(t, crate::data::norm(line.at(t).as_slice()))
                                });
                                for g in groups {
                                    if g.keys.len() <= MAX_GROUPS {
                                        kernel += 1;
                                    } else {
                                        many += 1;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(
            fast > 500 && kernel > 100 && many > 100,
            "{fast} {kernel} {many}"
        );
    }

    /// At the factors where b(t) is exactly as far from honest i as honest j is (roots of
    /// A_i − 2t·B_i + t²·C = D_ij), the expansion and the distance kernel disagree in the last
    /// bits; the brackets must send those evaluations to the generic path (or decide them
    /// correctly), so the outputs still match bit for bit.
    /// Mutation that makes it fail (checked): zero-width brackets (`err_sum` and `err_kernel`
    /// and `w` set to 0).
    #[test]
    fn matches_plain_runs_where_a_copy_ties_an_honest_neighbour() {
        let (nh, m, d) = (12, 3, 40);
        let h = momenta(nh, d, 9);
        let line = alie_line(&h);
        let p = pipeline(m, "trmean", m, Compat::Native);
        let mut prep = p.prepare(h.view(), m, &line);
        let d2 = pairwise_sq_dists(h.view());
        let br = prep.nnm.as_ref().unwrap().bracket.a.clone();
        let (bq, c) = {
            let nnm = prep.nnm.as_ref().unwrap();
            (nnm.bracket.b.clone(), nnm.bracket.c)
        };
        let mut checked = 0;
        for i in 0..nh {
            for j in 0..nh {
                if i == j {
                    continue;
                }
                // c·t² − 2B·t + (A − D) = 0.
                let (a, b, k) = (c, -2.0 * bq[i], br[i] - d2[i * nh + j]);
                let disc = b * b - 4.0 * a * k;
                if disc < 0.0 {
                    continue;
                }
                for root in [
                    (-b + disc.sqrt()) / (2.0 * a),
                    (-b - disc.sqrt()) / (2.0 * a),
                ] {
                    let mut t = root;
                    for _ in 0..3 {
                        let want = plain(&p, &h, m, &line.at(t));
                        assert_eq!(prepared_at(&mut prep, t), want, "i {i} j {j} t {t}");
                        t = t.next_up();
                        checked += 1;
                    }
                }
            }
        }
        let (fast, generic) = prep.runs();
        assert!(
            checked > 100 && fast > 0 && generic > 0,
            "{checked} {fast} {generic}"
        );
    }

    /// Exact ties everywhere (integer points, so every distance is exact: duplicates,
    /// equidistant neighbours, copies on top of an honest vector) and a far outlier (10⁸
    /// away, so the expansion's brackets are wide for the others): same bits as plain runs.
    #[test]
    fn matches_plain_runs_with_ties_and_a_far_outlier() {
        let rows: Vec<Vec<f64>> = vec![
            vec![0.0, 0.0],
            vec![1.0, 0.0],
            vec![0.0, 1.0],
            vec![1.0, 0.0],
            vec![-1.0, 0.0],
            vec![2.0, 2.0],
            vec![0.0, -1.0],
        ];
        let line = CandidateLine::new(
            Some(DVector::from_vec(vec![0.0, 0.0])),
            DVector::from_vec(vec![1.0, 0.0]),
        );
        let mut outlier = rows.clone();
        outlier.push(vec![1e8, -3e7]);
        for rows in [rows, outlier] {
            let h = Updates::from_rows(&rows).unwrap();
            let m = 2;
            for pre_f in [1, 2] {
                let p = pipeline(pre_f, "trmean", 2, Compat::Native);
                let mut prep = p.prepare(h.view(), m, &line);
                for t in [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 1e4] {
                    assert_eq!(
                        prepared_at(&mut prep, t),
                        plain(&p, &h, m, &line.at(t)),
                        "t {t}"
                    );
                }
                let alie = alie_line(&h);
                let mut prep = p.prepare(h.view(), m, &alie);
                for t in [0.0, 0.5, 1.0, 2.0, 10.0] {
                    assert_eq!(
                        prepared_at(&mut prep, t),
                        plain(&p, &h, m, &alie.at(t)),
                        "t {t}"
                    );
                }
            }
        }
    }

    /// The grouped trimmed mean equals the definition (expand the groups, sort each
    /// coordinate, add the kept values in order from 0, divide) bit for bit, with many equal
    /// values across groups (small integers plus a fraction) and weights with and without a
    /// group holding every kept rank.
    /// Mutation that makes it fail (checked): ranking equal values by `bb <= a` instead of
    /// `bb < a` (two groups then claim the same first rank).
    #[test]
    fn grouped_trimmed_mean_matches_the_definition() {
        let mut rng = rng_from_seed(8);
        for _ in 0..300 {
            let g = rng.random_range(1..=MAX_GROUPS);
            let w: Vec<usize> = (0..g).map(|_| rng.random_range(1..9)).collect();
            let n: usize = w.iter().sum();
            let f = rng.random_range(0..n.div_ceil(2));
            let d = rng.random_range(1..20);
            let ys: Vec<Vec<f64>> = (0..g)
                .map(|_| {
                    (0..d)
                        .map(|_| rng.random_range(0..4) as f64 + 0.1)
                        .collect()
                })
                .collect();
            let refs: Vec<&[f64]> = ys.iter().map(Vec::as_slice).collect();
            let mut got = vec![0.0; d];
            trimmed_mean_of_groups(&refs, &w, f, None, &mut got);
            for c in 0..d {
                let mut col: Vec<f64> = ys
                    .iter()
                    .zip(&w)
                    .flat_map(|(y, &k)| std::iter::repeat_n(y[c], k))
                    .collect();
                col.sort_by(f64::total_cmp);
                let mut s = 0.0;
                for v in &col[f..n - f] {
                    s += v;
                }
                assert_eq!(got[c], s / (n - 2 * f) as f64, "w {w:?} f {f} c {c}");
            }
        }
    }

    /// The grouped trimmed mean with the one-pass arithmetic (`rows` given) equals the native
    /// trimmed mean on the expanded rows, in a shuffled row order, bit for bit: ties across
    /// groups, and near-overflow values (±10³⁰⁷) in some coordinates so that the one pass
    /// declines them and the exact sum takes over there.
    /// Mutation that makes it fail (checked): adding the clamped values by group (weight
    /// times each) instead of in row order.
    #[test]
    fn grouped_one_pass_matches_the_native_trimmed_mean() {
        let mut rng = rng_from_seed(9);
        for _ in 0..100 {
            let g = rng.random_range(2..=MAX_GROUPS);
            let w: Vec<usize> = (0..g).map(|_| rng.random_range(1..12)).collect();
            let n: usize = w.iter().sum::<usize>().max(32);
            let mut w = w;
            w[0] += n - w.iter().sum::<usize>();
            let f = rng.random_range(1..=10);
            let d = rng.random_range(1..40);
            let ys: Vec<Vec<f64>> = (0..g)
                .map(|_| {
                    (0..d)
                        .map(|c| match (c % 9, rng.random_range(0..3)) {
                            (0, 0) => 1e307,
                            (0, 1) => -1e307,
                            _ => rng.random_range(0..4) as f64 + rng.random::<f64>() * 0.5,
                        })
                        .collect()
                })
                .collect();
            let mut rows: Vec<usize> = w
                .iter()
                .enumerate()
                .flat_map(|(a, &k)| std::iter::repeat_n(a, k))
                .collect();
            for i in (1..rows.len()).rev() {
                rows.swap(i, rng.random_range(0..=i));
            }
            let refs: Vec<&[f64]> = ys.iter().map(Vec::as_slice).collect();
            let mut got = vec![0.0; d];
            trimmed_mean_of_groups(&refs, &w, f, Some(&rows), &mut got);
            let tm = TrimmedMean::new(f, Compat::Native);
            assert!(tm.one_pass_on(n));
            let m = DMatrix::from_fn(d, n, |c, i| ys[rows[i]][c]);
            let want = tm
                .aggregate(
                    Updates::new(m).unwrap().view(),
                    &mut AggContext::new(&mut rng_from_seed(0)),
                )
                .unwrap();
            for c in 0..d {
                assert_eq!(got[c].to_bits(), want[c].to_bits(), "w {w:?} f {f} c {c}");
            }
        }
    }

    /// The prepared path computes the honest–honest distances without the copies; the kernel
    /// must give each pair the same bits whatever other vectors it is run with.
    #[test]
    fn pair_distances_do_not_depend_on_the_other_vectors() {
        let h = momenta(13, 3001, 5);
        let extra = momenta(7, 3001, 6);
        let all = h.concat(&extra).unwrap();
        let (small, big) = (pairwise_sq_dists(h.view()), pairwise_sq_dists(all.view()));
        for i in 0..13 {
            for j in 0..13 {
                assert_eq!(small[i * 13 + j].to_bits(), big[i * 20 + j].to_bits());
            }
        }
    }

    /// Pipelines without NNM, non-finite candidates and errors take the generic path.
    #[test]
    fn other_pipelines_and_bad_candidates_run_plainly() {
        let h = momenta(8, 20, 4);
        let line = alie_line(&h);
        let p = Pipeline::rule(
            super::super::build("trmean", &Params::new().with("f", 2.0), Compat::Native).unwrap(),
        );
        let mut prep = p.prepare(h.view(), 2, &line);
        assert_eq!(prepared_at(&mut prep, 1.5), plain(&p, &h, 2, &line.at(1.5)));
        assert_eq!(prep.runs(), (0, 1));
        let p = pipeline(2, "trmean", 2, Compat::Native);
        let mut prep = p.prepare(h.view(), 2, &line);
        // b(t) overflows to ±∞ for t = 1e308.
        let t = 1e308;
        assert_eq!(prepared_at(&mut prep, t), plain(&p, &h, 2, &line.at(t)));
        assert_eq!(prep.runs(), (0, 1));
        // Too few inputs: the same error as a plain run.
        let p = pipeline(5, "trmean", 5, Compat::Native);
        let mut rng = rng_from_seed(0);
        let e = p
            .prepare(h.view(), 2, &line)
            .run(0.0, &mut AggContext::new(&mut rng));
        assert!(e.is_err());
    }
}
