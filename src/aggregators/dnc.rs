//! Divide-and-conquer (DnC): repeated outlier scoring along the top singular direction of
//! random coordinate subsets, then the mean of the inputs never flagged.
//!
//! `num_iters` times: draw b = min(`sub_dim`, d) distinct coordinates uniformly (from
//! `cx.rng`), centre the n×b submatrix, take its top right singular vector v, score
//! sᵢ = ((xᵢ − μ)_b·v)², and flag the ⌊`filter_frac`·f⌋ highest scores. The output is the mean
//! of the inputs flagged in no iteration (the intersection of the per-iteration good sets).
//!
//! Native to lbounds (ByzFL has no DnC); parameters and defaults follow Blades
//! (`DnC(num_byzantine, sub_dim=10000, num_iters=5, filter_frac=1.0)`): keys `f`, `sub_dim`,
//! `num_iters`, `filter_frac`. Requirement: n > 2f and n > ⌊filter_frac·f⌋.
//!
//! Details fixed by lbounds where Blades leaves them open:
//! * equal scores are ranked by index (stable), Blades' `argsort` is unstable;
//! * if the intersection is empty (each iteration flags different inputs), the inputs
//!   flagged in the fewest iterations are averaged (Blades would average an empty set: NaN);
//! * when b = d every iteration sees the same submatrix, so one iteration is run and no
//!   coordinates are drawn.
//!
//! Cost: num_iters × (gather n·b entries + an n×n Gram matrix O(n²b) + an n×n top
//! eigenpair), the iterations in parallel, + one O(nd) mean. The scores come from the Gram
//! matrix: with K = CCᵀ (C the centred submatrix, one row per input) and top eigenpair
//! (σ², u), sᵢ = σ²uᵢ², so no b×b matrix or SVD is formed. All coordinate sets are drawn
//! before any scoring, in iteration order, so the result does not depend on threads.
//!
//! Non-finite input (±∞, or NaN read as +∞ by `Updates::new_untrusted`) and inputs whose
//! squares overflow are detected on the sampled Gram matrices, without a separate O(nd) scan:
//! a vector with a non-finite entry is set aside and spends one unit of f, the others are
//! rescaled exactly (module `far`). With one input 10ᵏ times farther out than the others'
//! spread, their scores along its direction differ by 10⁻ᵏ of their size, below f64's
//! resolution from k ≈ 16; when the centred Gram matrix has lost those digits the iteration
//! works on the Gram matrix about a robust centre (`linalg::gram_about_majority`) and ranks
//! the scores exactly from it (see `top_scores`), so the inputs flagged with the far one are
//! those exact arithmetic flags, at any k.
//!
//! # References
//! Shejwalkar & Houmansadr, "Manipulating the Byzantine: Optimizing Model Poisoning Attacks
//! and Defenses for Federated Learning", NDSS 2021, doi:10.14722/ndss.2021.24498 (Algorithm 2).
//! Li, Ngai, Ye, Ju, Zhang & Voigt, "Blades: A Unified Benchmark Suite for Byzantine Attacks
//! and Defenses in Federated Learning", IoTDI 2024, arXiv 2206.05359 (source of the defaults).

use super::far::{badly_scaled, tame};
use super::linalg::{centre, gram_about_majority, gram_of_columns, subset_mean, sym_top};
use super::{require_honest_majority, require_pairwise_fits, AggContext, Aggregator};
use crate::data::{Updates, UpdatesView};
use crate::params::{Compat, Params, Spec};
use crate::rng::{uniform_index, SimRng};
use crate::{Error, Result};
use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

/// Registry entry.
pub const SPEC: Spec<dyn Aggregator> = Spec {
    name: "dnc",
    byzfl: None,
    keys: &["f", "sub_dim", "num_iters", "filter_frac"],
    summary: "divide-and-conquer: flag top singular-direction scores on random coordinate subsets",
    build,
};

fn build(p: &Params, _: Compat) -> Result<Box<dyn Aggregator>> {
    let sub_dim = p.count("sub_dim", 10_000)?;
    if sub_dim == 0 {
        return Err(Error::invalid("sub_dim", 0, "must be >= 1"));
    }
    let num_iters = p.iterations("num_iters", 5)?;
    if num_iters == 0 {
        return Err(Error::invalid("num_iters", 0, "must be >= 1"));
    }
    Ok(Box::new(Dnc {
        f: p.f()?,
        sub_dim,
        num_iters,
        filter_frac: p.non_negative("filter_frac", 1.0)?,
    }))
}

/// Divide-and-conquer with `f` declared Byzantine inputs.
#[derive(Clone, Copy, Debug)]
pub struct Dnc {
    f: usize,
    sub_dim: usize,
    num_iters: usize,
    filter_frac: f64,
}

impl Dnc {
    /// DnC with Blades' parameters (validated by the registry builder).
    pub fn new(f: usize, sub_dim: usize, num_iters: usize, filter_frac: f64) -> Self {
        Dnc {
            f,
            sub_dim,
            num_iters,
            filter_frac,
        }
    }

    /// Inputs flagged per iteration: ⌊filter_frac · f⌋.
    fn flagged(&self) -> usize {
        (self.filter_frac * self.f as f64).floor() as usize
    }

    /// The indices averaged by [`Aggregator::aggregate`], in increasing order.
    ///
    /// # Errors
    /// Those of [`Aggregator::check_n`]; [`Error::NonFinite`] for ±∞ input.
    pub fn good_set(&self, x: UpdatesView<'_>, rng: &mut SimRng) -> Result<Vec<usize>> {
        self.check_n(x.n())?;
        let (n, d) = (x.n(), x.d());
        let flag = self.flagged();
        if flag == 0 {
            return Ok((0..n).collect());
        }
        let b = self.sub_dim.min(d);
        let mut times_flagged = vec![0usize; n];
        let mut flag_top = |k: &DMatrix<f64>| {
            for i in top_scores(k, flag) {
                times_flagged[i] += 1;
            }
        };
        if b == d {
            // Every iteration would see all coordinates: one Gram matrix, no copy.
            match gram_about_majority(x, "dnc") {
                Ok(g) if !badly_scaled(&g) => flag_top(&g),
                Ok(_) | Err(Error::NonFinite { .. }) => return self.good_set_tamed(x, rng),
                Err(e) => return Err(e),
            }
            return Ok(least_flagged(&times_flagged));
        }
        // Draw every iteration's coordinates first (the stream order of drawing them one by
        // one), then score the iterations in parallel; results are combined in order.
        let sets: Vec<Vec<usize>> = (0..self.num_iters)
            .map(|_| sample_coords(rng, d, b))
            .collect();
        let gather = |coords: &[usize]| {
            let mut buf = vec![0.0; b * n];
            for (out, col) in buf.chunks_exact_mut(b).zip(x.cols()) {
                for (o, &c) in out.iter_mut().zip(coords) {
                    *o = col[c];
                }
            }
            buf
        };
        let grams: Vec<Result<DMatrix<f64>>> = sets
            .par_iter()
            .map(|coords| {
                let k = centred_columns_gram(&mut gather(coords), b, n);
                if !lost_digits(&k) {
                    return Ok(k);
                }
                // Rare: one input so far out that the centred entries lost the others' spread.
                let raw = Updates::new_allow_inf(DMatrix::from_vec(b, n, gather(coords)))?;
                gram_about_majority(raw.view(), "dnc")
            })
            .collect();
        let grams = match grams.into_iter().collect::<Result<Vec<_>>>() {
            // Entries beyond 10^±100 would over- or underflow in the eigen-solver: rescale
            // exactly (`far`), as the full-coordinate path does.
            Ok(g)
                if g.iter()
                    .all(|k| k.iter().all(|v| v.is_finite()) && !badly_scaled(k)) =>
            {
                g
            }
            Ok(_) | Err(Error::NonFinite { .. }) => return self.good_set_tamed(x, rng),
            Err(e) => return Err(e),
        };
        for k in &grams {
            flag_top(k);
        }
        Ok(least_flagged(&times_flagged))
    }

    /// [`Dnc::good_set`] on inputs at infinity or with overflowing squares (see `far`): they
    /// are never in the good set and each spends one unit of f.
    fn good_set_tamed(&self, x: UpdatesView<'_>, rng: &mut SimRng) -> Result<Vec<usize>> {
        let t = tame(x, self.f, "dnc")?;
        let good = Dnc { f: t.f, ..*self }.good_set(t.x.view(), rng)?;
        Ok(t.indices_back(&good))
    }
}

/// Centres the rows of the b×n column-major `buf` (coordinate means over the n inputs) in
/// place and returns the n×n Gram matrix of its columns.
fn centred_columns_gram(buf: &mut [f64], b: usize, n: usize) -> DMatrix<f64> {
    let mut mean = vec![0.0; b];
    for col in buf.chunks_exact(b) {
        for (m, v) in mean.iter_mut().zip(col) {
            *m += v;
        }
    }
    for m in &mut mean {
        *m /= n as f64;
    }
    for col in buf.chunks_exact_mut(b) {
        for (v, m) in col.iter_mut().zip(&mean) {
            *v -= m;
        }
    }
    gram_of_columns(buf, b, n)
}

/// The `flag` inputs with the largest DnC scores sᵢ = ((xᵢ − μ)·v)² (ties: the larger index),
/// v the top eigenvector of the inputs' covariance, from their Gram matrix `g` about some
/// point r: the mean ([`centred_gram`], the common case) or a robust centre
/// ([`gram_about_majority`] about the medoid, whose row is then 0).
///
/// About the mean, sᵢ = λuᵢ² with (λ, u) the top eigenpair of `g`. With one input 10ᵏ times
/// farther out than the others' spread the other inputs' sᵢ differ by 10⁻ᵏ of their size,
/// below f64's resolution from k ≈ 16, and which of them is flagged was decided by rounding.
/// About a robust centre the scores are ranked exactly instead: with u the top eigenvector of
/// P g P (P the centring projection, u ⊥ 1) and pᵢ = (g u)ᵢ = √λ (xᵢ − r)·v, which carries
/// each input's own offset to full relative precision, sᵢ ∝ (pᵢ − p̄)², and two scores
/// compare as sign(pᵢ − pⱼ)·sign((pᵢ − p̄) + (pⱼ − p̄)), no difference of two huge squares
/// formed.
fn top_scores(g: &DMatrix<f64>, flag: usize) -> Vec<usize> {
    let n = g.nrows();
    let about_mean = !(0..n).any(|i| g.row(i).iter().all(|&v| v == 0.0));
    if about_mean {
        let (lambda, u) = sym_top(g);
        let scores: Vec<f64> = u.iter().map(|ui| lambda.max(0.0) * ui * ui).collect();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
        return order[n - flag..].to_vec();
    }
    let (_, u) = sym_top(&centre(g.clone()));
    let p = g * u;
    let mean = p.mean();
    let above = |i: usize, j: usize| {
        let by = (p[i] - p[j]) * ((p[i] - mean) + (p[j] - mean));
        by > 0.0 || (by == 0.0 || by.is_nan()) && i > j
    };
    // `flag` passes of a running maximum (no sort, so no order need be transitive).
    let mut left: Vec<usize> = (0..n).collect();
    let mut top = Vec::with_capacity(flag);
    for _ in 0..flag {
        let best = (1..left.len()).fold(0, |b, c| if above(left[c], left[b]) { c } else { b });
        top.push(left.remove(best));
    }
    top
}

/// Whether the mean-centred Gram matrix `k` lost the digits of the closest inputs' squared
/// distance: the largest squared distance from the mean exceeds it by more than 10⁸ (half of
/// f64's digits), the test [`gram_about_majority`] starts with.
fn lost_digits(k: &DMatrix<f64>) -> bool {
    let n = k.nrows();
    let top = (0..n).map(|i| k[(i, i)]).fold(0.0, f64::max);
    let nearest = (0..n)
        .flat_map(|j| (0..j).map(move |i| (i, j)))
        .map(|(i, j)| (k[(i, i)] + k[(j, j)] - 2.0 * k[(i, j)]).max(0.0))
        .fold(f64::INFINITY, f64::min);
    n >= 3 && nearest * 1e8 < top
}

/// Inputs never flagged; if there are none, those flagged least often.
fn least_flagged(times: &[usize]) -> Vec<usize> {
    let min = times.iter().copied().min().unwrap_or(0);
    (0..times.len()).filter(|&i| times[i] == min).collect()
}

/// `b` distinct coordinates of 0..d, uniformly (Floyd's algorithm over a bitset), sorted.
fn sample_coords(rng: &mut SimRng, d: usize, b: usize) -> Vec<usize> {
    let mut bits = vec![0u64; d.div_ceil(64)];
    let mut take = |i: usize| -> bool {
        let (w, m) = (i / 64, 1u64 << (i % 64));
        let fresh = bits[w] & m == 0;
        bits[w] |= m;
        fresh
    };
    for j in (d - b)..d {
        let t = uniform_index(rng, j + 1);
        if !take(t) {
            take(j);
        }
    }
    let mut out = Vec::with_capacity(b);
    for (w, &word) in bits.iter().enumerate() {
        let mut word = word;
        while word != 0 {
            out.push(w * 64 + word.trailing_zeros() as usize);
            word &= word - 1;
        }
    }
    out
}

impl Aggregator for Dnc {
    fn name(&self) -> &'static str {
        "dnc"
    }

    fn check_n(&self, n: usize) -> Result<()> {
        require_pairwise_fits("dnc", n)?;
        require_honest_majority("dnc", n, self.f)?;
        let flag = self.flagged();
        if flag >= n {
            return Err(Error::too_few(
                "dnc",
                format!("n > floor(filter_frac * f) = {flag}"),
                format!("n = {n}"),
            ));
        }
        Ok(())
    }

    fn aggregate(&self, x: UpdatesView<'_>, cx: &mut AggContext<'_>) -> Result<DVector<f64>> {
        let good = self.good_set(x, cx.rng)?;
        let out = subset_mean(x, &good);
        // ±∞ outside the sampled coordinates surfaces here (no separate O(nd) scan).
        if out.iter().all(|v| v.is_finite()) {
            return Ok(out);
        }
        let good = self.good_set_tamed(x, cx.rng)?;
        Ok(subset_mean(x, &good))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Updates;
    use crate::rng::rng_from_seed;
    use rand::RngExt;
    use rand_distr::StandardNormal;

    fn run(p: &Params, u: &Updates, seed: u64) -> Result<DVector<f64>> {
        let agg = build(p, Compat::Native)?;
        let mut rng = rng_from_seed(seed);
        agg.aggregate(u.view(), &mut AggContext::new(&mut rng))
    }

    #[test]
    fn known_answer_1d() {
        // Points 0, 1, 2, 3, 100 with f = 1: in 1-D the singular vector is ±1 and the scores
        // are (x − 21.2)², largest for 100, so the output is mean(0, 1, 2, 3) = 1.5.
        let u =
            Updates::from_rows(&[vec![0.0], vec![1.0], vec![2.0], vec![3.0], vec![100.0]]).unwrap();
        assert_eq!(run(&Params::new().with("f", 1.0), &u, 0).unwrap()[0], 1.5);
        // filter_frac = 0 flags nothing: the plain mean 106/5.
        let p = Params::new().with("f", 1.0).with("filter_frac", 0.0);
        assert_eq!(run(&p, &u, 0).unwrap()[0], 106.0 / 5.0);
    }

    #[test]
    fn planted_outliers_with_coordinate_sampling() {
        // d = 20000 > sub_dim = 1000: 40 N(0, I) inputs and 10 copies of 1. On b sampled
        // coordinates the planted direction carries ≈ 8b of the centred spectrum against
        // ≈ (√b + √n)² ≈ 1.5b for the noise, so every iteration flags exactly the 10 copies
        // and the output is the honest mean bit for bit.
        let mut rng = rng_from_seed(6);
        let d = 20_000;
        let mut rows: Vec<Vec<f64>> = (0..40)
            .map(|_| (0..d).map(|_| rng.sample(StandardNormal)).collect())
            .collect();
        rows.extend(std::iter::repeat_n(vec![1.0; d], 10));
        let u = Updates::from_rows(&rows).unwrap();
        let p = Params::new().with("f", 10.0).with("sub_dim", 1000.0);
        let got = run(&p, &u, 1).unwrap();
        assert_eq!(got, subset_mean(u.view(), &(0..40).collect::<Vec<_>>()));
    }

    #[test]
    fn coordinates_are_distinct_and_seeded() {
        let mut rng = rng_from_seed(3);
        let c = sample_coords(&mut rng, 100, 60);
        assert_eq!(c.len(), 60);
        assert!(c.windows(2).all(|w| w[0] < w[1]) && *c.last().unwrap() < 100);
        assert_eq!(c, sample_coords(&mut rng_from_seed(3), 100, 60));
        assert_eq!(sample_coords(&mut rng, 5, 5), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn empty_intersection_falls_back_to_least_flagged() {
        // Flag counts (1, 0, 2, 0) → {1, 3}; (1, 2, 1) → {0, 2}.
        assert_eq!(least_flagged(&[1, 0, 2, 0]), vec![1, 3]);
        assert_eq!(least_flagged(&[1, 2, 1]), vec![0, 2]);
    }

    #[test]
    fn parameter_and_input_errors() {
        for (k, v) in [("sub_dim", 0.0), ("num_iters", 0.0), ("filter_frac", -0.5)] {
            assert!(
                build(&Params::new().with(k, v), Compat::Native).is_err(),
                "{k}"
            );
        }
        let u = Updates::from_rows(&[vec![0.0], vec![1.0], vec![2.0], vec![3.0]]).unwrap();
        let e = run(&Params::new().with("f", 2.0), &u, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("n > 2f = 4"), "{e}");
        let p = Params::new().with("f", 1.0).with("filter_frac", 4.0);
        let e = run(&p, &u, 0).unwrap_err().to_string();
        assert!(e.contains("filter_frac"), "{e}");
        let mut m = DMatrix::from_element(1, 3, 1.0);
        m[(0, 1)] = f64::INFINITY;
        let inf = Updates::new_allow_inf(m).unwrap();
        // The infinite input is set aside (one unit of f); with f = 0 it cannot be.
        assert_eq!(run(&Params::new().with("f", 1.0), &inf, 0).unwrap()[0], 1.0);
        let inf3 = Updates::new_allow_inf(DMatrix::from_row_slice(
            1,
            5,
            &[1.0, f64::INFINITY, 1.0, f64::NEG_INFINITY, 1.0],
        ))
        .unwrap();
        assert!(matches!(
            run(&Params::new().with("f", 1.0), &inf3, 0),
            Err(Error::NonFinite { .. })
        ));
    }
}
