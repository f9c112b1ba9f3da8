//! A little is enough (ALIE): every Byzantine user sends ḡ + τ·σ, with σ the coordinate-wise
//! standard deviation of the honest vectors (ddof = 1).
//!
//! ByzFL: `ALittleIsEnough(tau=1.5)`: `mean + sqrt(var(ddof=1)) * tau`, one vector sent by all f
//! Byzantine users. Needs at least two honest vectors (σ with ddof = 1 is 0/0 for one vector;
//! ByzFL returns NaN there, lbounds returns [`Error::TooFewInputs`]). Any finite τ is accepted.
//!
//! Baruch et al. choose τ = z_max = Φ⁻¹((n − f − s)/(n − f)), s = ⌊n/2⌋ + 1 − f, so that the
//! Byzantine vector stays inside the honest spread; ByzFL (and lbounds) take τ as a parameter.
//! Means and variances follow NumPy's order: a left-to-right sum over vectors divided by the
//! count. Where those sums overflow on finite entries (near 1.7·10³⁰⁸), NumPy returns ±∞ and
//! lbounds recomputes the coordinate on scaled entries: the attack vector stays finite unless
//! ḡ + τ·σ itself exceeds f64::MAX.
//!
//! # References
//! Baruch, Baruch & Goldberg, "A Little Is Enough: Circumventing Defenses For Distributed
//! Learning", NeurIPS 2019, arXiv 1902.06156.

use super::{byzantine_count, require_attackers, Attack, AttackContext, Coordinatewise};
use crate::data::{
    add_weighted_rows, all_finite, for_each_block_mut, map_blocks_mut_in_order,
    map_row_blocks_mut_in_order, refuse_nan, Updates, UpdatesView,
};
use crate::params::{Compat, Params, Spec};
use crate::{Error, Result};
use nalgebra::{DMatrix, DVector};

/// Registry entry.
pub const SPEC: Spec<dyn Attack> = Spec {
    name: "a_little_is_enough",
    byzfl: Some("ALittleIsEnough"),
    keys: &["tau"],
    summary: "send mean + tau * std of the honest vectors (ddof = 1; default tau = 1.5)",
    build,
};

fn build(p: &Params, _: Compat) -> Result<Box<dyn Attack>> {
    Ok(Box::new(ALittleIsEnough::new(p.f64("tau", 1.5)?)))
}

/// Sends ḡ + τ·σ.
#[derive(Clone, Copy, Debug)]
pub struct ALittleIsEnough {
    tau: f64,
}

impl ALittleIsEnough {
    /// ALIE with factor `tau` (finite; checked by the registry builder).
    pub fn new(tau: f64) -> Self {
        ALittleIsEnough { tau }
    }
}

impl Attack for ALittleIsEnough {
    fn name(&self) -> &'static str {
        "a_little_is_enough"
    }

    fn sends_copies(&self) -> bool {
        true
    }

    fn corrupt(
        &self,
        honest: UpdatesView<'_>,
        f: usize,
        cx: &mut AttackContext<'_>,
    ) -> Result<Updates> {
        let mut out = DMatrix::zeros(honest.d(), f);
        self.corrupt_into(honest, out.as_mut_slice(), cx)?;
        Updates::new_allow_inf(out)
    }

    /// One sweep over the honest vectors, block of coordinates by block of coordinates (in
    /// parallel): the block's mean and deviation while its values are in cache, then the
    /// f copies of ḡ + σ·τ for those coordinates.
    fn corrupt_into(
        &self,
        honest: UpdatesView<'_>,
        out: &mut [f64],
        _cx: &mut AttackContext<'_>,
    ) -> Result<()> {
        let d = honest.d();
        require_attackers(byzantine_count(d, out.len())?)?;
        self.check_honest(honest)?;
        let rows = block_rows(honest.n());
        map_row_blocks_mut_in_order(out, d, rows, |b, copies| {
            let (first, rest) = copies.split_first_mut().expect("f ≥ 1 vectors");
            self.fill_block(honest, b * rows, first, None);
            for c in rest {
                c.copy_from_slice(first);
            }
        });
        // The f vectors are copies of the first.
        self.check_vector(&out[..d])
    }

    fn coordinatewise(&self) -> Option<&dyn Coordinatewise> {
        Some(self)
    }
}

impl Coordinatewise for ALittleIsEnough {
    fn check_honest(&self, honest: UpdatesView<'_>) -> Result<()> {
        require_two("a_little_is_enough", honest.n())
    }

    /// The block's mean and deviation while its values are in cache, then ḡ + σ·τ; the
    /// mean's sum, before its division, is the sum asked for.
    fn fill_block(
        &self,
        honest: UpdatesView<'_>,
        lo: usize,
        out: &mut [f64],
        sum: Option<&mut [f64]>,
    ) -> bool {
        let summed = sum.is_some();
        let (mut mean, mut std) = (vec![0.0; out.len()], vec![0.0; out.len()]);
        mean_std_block(honest, lo, &mut mean, &mut std, sum);
        for ((v, m), s) in out.iter_mut().zip(&mean).zip(&std) {
            *v = alie_value(*m, *s, self.tau);
        }
        summed
    }

    /// A NaN is refused: ∞ − ∞, where the honest sums overflow (the mean ±∞, σ = +∞) and
    /// τ·σ has the other sign.
    fn check_vector(&self, v: &[f64]) -> Result<()> {
        refuse_nan(v, v.len())
    }
}

/// ḡ + σ·τ, in ByzFL's operation order (`add(mean, multiply(std, tau))`): the attack
/// vector as one expression, which the tests hold the blocked attack and the optimal attacks'
/// search line to.
#[cfg(test)]
pub(crate) fn alie_vector(mean: &DVector<f64>, std: &DVector<f64>, tau: f64) -> DVector<f64> {
    mean.zip_map(std, |m, s| alie_value(m, s, tau))
}

/// One coordinate of the ALIE vector, ḡ + σ·τ.
#[inline(always)]
fn alie_value(mean: f64, std: f64, tau: f64) -> f64 {
    mean + std * tau
}

/// A standard deviation with ddof = 1 needs two vectors.
fn require_two(who: &str, n: usize) -> Result<()> {
    if n < 2 {
        return Err(Error::too_few(
            who,
            "at least 2 honest vectors (standard deviation with ddof = 1)",
            format!("{n} honest vector"),
        ));
    }
    Ok(())
}

/// Coordinates per block for `n` vectors: the block's values (n × rows f64, about 1 MiB)
/// stay in the L2 cache between the mean's pass and the deviations' pass; a multiple of 64
/// between 256 and 4096 (3 264 at n = 40). Blocks are also the unit of parallel work.
/// Every output depends only on its own coordinate, so the block size never changes a bit.
fn block_rows(n: usize) -> usize {
    ((1 << 20) / (8 * n.max(1)) / 64 * 64).clamp(256, 4096)
}

/// Coordinates `lo .. lo + len` of every vector of `x`, in order.
fn block_of(x: UpdatesView<'_>, lo: usize, len: usize) -> Vec<&[f64]> {
    x.cols().map(|c| &c[lo..lo + len]).collect()
}

/// The mean of `rows` coordinate by coordinate into `mean`, as NumPy computes it: the first
/// row, plus each next row left to right, divided by the count. Four rows per sweep over
/// `mean` ([`add_weighted_rows`] with weights 1, which add each row exactly). The sum before
/// the division is copied into `sum` when given. A mean whose sum overflowed although its
/// entries are finite is recomputed ([`refit_overflowed`]; NumPy returns ±∞ there).
fn mean_of_rows(rows: &[&[f64]], mean: &mut [f64], sum: Option<&mut [f64]>) {
    mean.copy_from_slice(rows[0]);
    let ones = vec![1.0; rows.len() - 1];
    add_weighted_rows(mean, &rows[1..], &ones, None);
    if let Some(sum) = sum {
        sum.copy_from_slice(mean);
    }
    let n = rows.len() as f64;
    mean.iter_mut().for_each(|a| *a /= n);
    if !all_finite(mean) {
        refit_overflowed(rows, mean, None, false);
    }
}

/// `sqrt(Σᵢ (rowᵢ − mean)² / (n − 1))` coordinate by coordinate into `std`, the sum left to
/// right from 0 (NumPy's `sqrt(var(ddof=1))`); four rows per sweep over `std`. Deviations
/// whose squares overflowed although the entries are finite are recomputed
/// ([`refit_overflowed`]).
fn std_of_rows(rows: &[&[f64]], mean: &[f64], std: &mut [f64]) {
    crate::simd::widest(
        #[inline(always)]
        || {
            let len = std.len();
            let c = &mean[..len];
            std.fill(0.0);
            let mut quads = rows.chunks_exact(4);
            for r in &mut quads {
                let r: [&[f64]; 4] = std::array::from_fn(|t| &r[t][..len]);
                for k in 0..len {
                    let mut s = std[k];
                    for row in &r {
                        let e = row[k] - c[k];
                        s += e * e;
                    }
                    std[k] = s;
                }
            }
            for r in quads.remainder() {
                for ((s, v), m) in std.iter_mut().zip(&r[..len]).zip(c) {
                    let e = v - m;
                    *s += e * e;
                }
            }
            let dof = (rows.len() - 1) as f64;
            std.iter_mut().for_each(|s| *s = (*s / dof).sqrt());
        },
    );
    if !all_finite(std) {
        let mut mean = mean[..std.len()].to_vec();
        refit_overflowed(rows, &mut mean, Some(std), true);
    }
}

/// Mean and deviation (ddof = 1) of coordinates `lo .. lo + mean.len()` of `x`, the sums of
/// [`mean_of_rows`] and [`std_of_rows`] (bit for bit) taken a tile of coordinates at a time
/// across all the vectors: the tile's mean is summed in registers, and the deviations' pass
/// reads the tile's rows from L1, where the mean's pass has just brought them (n × 512 B,
/// 20 kB at n = 40), instead of the whole block's from L2. The next tile's lines are asked
/// for meanwhile. The sum behind the mean goes into `sum` when given (±∞ where it truly
/// overflows); a mean or deviation that overflowed on finite entries is recomputed
/// ([`refit_overflowed`]).
fn mean_std_block(
    x: UpdatesView<'_>,
    lo: usize,
    mean: &mut [f64],
    std: &mut [f64],
    sum: Option<&mut [f64]>,
) {
    let rows = block_of(x, lo, mean.len());
    if crate::simd::has_avx512() {
        crate::simd::widest(
            #[inline(always)]
            || mean_std_tiles::<64>(&rows, mean, std, sum),
        )
    } else {
        crate::simd::widest(
            #[inline(always)]
            || mean_std_tiles::<32>(&rows, mean, std, sum),
        )
    }
    if !(all_finite(mean) && all_finite(std)) {
        refit_overflowed(&rows, mean, Some(std), false);
    }
}

/// Recomputes each coordinate whose mean or deviation (when `std` is given) came out ±∞ or
/// NaN (∞ − ∞) although every vector's entry there is finite: the sums overflowed (entries
/// near 1.7·10³⁰⁸, or deviations whose squares pass f64::MAX), while the mean of finite
/// numbers is finite and so is their deviation unless it truly exceeds f64::MAX. Only those
/// values are replaced, by [`scaled_mean_std`]'s (NumPy, hence ByzFL, returns ±∞ there).
/// With `mean_given`, `mean` is the caller's, finite, and only `std` is recomputed around
/// it. Cold: the callers check their outputs first.
#[cold]
#[inline(never)]
fn refit_overflowed(
    rows: &[&[f64]],
    mean: &mut [f64],
    mut std: Option<&mut [f64]>,
    mean_given: bool,
) {
    for k in 0..mean.len() {
        let std_overflowed = std.as_deref().is_some_and(|s| !s[k].is_finite());
        if mean[k].is_finite() && !std_overflowed || rows.iter().any(|r| !r[k].is_finite()) {
            continue;
        }
        let v: Vec<f64> = rows.iter().map(|r| r[k]).collect();
        let (m, s) = scaled_mean_std(&v, mean_given.then_some(mean[k]));
        if !mean[k].is_finite() {
            mean[k] = m;
        }
        if let Some(std) = std.as_deref_mut().filter(|_| std_overflowed) {
            std[k] = s;
        }
    }
}

/// The mean (or `given`) and deviation (ddof = 1) of the finite entries `v`, in NumPy's
/// order, computed on the entries times 2⁻ᵉ, with 2ᵉ the binade of the largest of them
/// (and of `given`), then scaled back by 2ᵉ: scaling by a power of two is exact, so these
/// are the numbers an f64 without an exponent limit gives, bit for bit (unless an entry
/// below 2⁻¹⁰²²·2ᵉ falls into the subnormals), ±∞ only where the value itself exceeds
/// f64::MAX.
fn scaled_mean_std(v: &[f64], given: Option<f64>) -> (f64, f64) {
    let largest = v.iter().chain(&given).fold(0.0, |a: f64, x| a.max(x.abs()));
    // The exponent bits alone; 1 when zero or subnormal, where nothing overflows.
    let scale = match super::binade(largest) {
        s if s >= f64::MIN_POSITIVE => s,
        _ => 1.0,
    };
    let (n, dof) = (v.len() as f64, (v.len() - 1) as f64);
    let m = match given {
        Some(g) => g / scale,
        None => v[1..].iter().fold(v[0] / scale, |a, x| a + x / scale) / n,
    };
    let ss = v.iter().fold(0.0, |a, x| {
        let e = x / scale - m;
        a + e * e
    });
    (m * scale, (ss / dof).sqrt() * scale)
}

/// [`mean_std_block`]'s tiles of T coordinates (eight registers' worth), then the tail one
/// coordinate at a time, with the same operations in the same order per coordinate: the
/// first row plus each next one, the sum divided by n; then Σ (row − mean)² from 0, divided
/// by n − 1, its square root.
#[inline(always)]
fn mean_std_tiles<const T: usize>(
    rows: &[&[f64]],
    mean: &mut [f64],
    std: &mut [f64],
    mut sum: Option<&mut [f64]>,
) {
    let len = mean.len();
    let rows: Vec<&[f64]> = rows.iter().map(|r| &r[..len]).collect();
    let (first, rest) = rows.split_first().expect("invariant: at least two rows");
    let (n, dof) = (rows.len() as f64, (rows.len() - 1) as f64);
    let mut c = 0;
    while c + T <= len {
        if c + 2 * T <= len {
            for r in &rows {
                crate::simd::prefetch(&r[c + T..c + 2 * T]);
            }
        }
        let mut acc = [0.0; T];
        acc.copy_from_slice(&first[c..c + T]);
        for r in rest {
            let v = &r[c..c + T];
            for l in 0..T {
                acc[l] += v[l];
            }
        }
        if let Some(s) = sum.as_deref_mut() {
            s[c..c + T].copy_from_slice(&acc);
        }
        let m = acc.map(|a| a / n);
        let mut dev = [0.0; T];
        for r in &rows {
            let v = &r[c..c + T];
            for l in 0..T {
                let e = v[l] - m[l];
                dev[l] += e * e;
            }
        }
        mean[c..c + T].copy_from_slice(&m);
        for (s, d) in std[c..c + T].iter_mut().zip(dev) {
            *s = (d / dof).sqrt();
        }
        c += T;
    }
    for c in c..len {
        let mut a = first[c];
        for r in rest {
            a += r[c];
        }
        if let Some(s) = sum.as_deref_mut() {
            s[c] = a;
        }
        let m = a / n;
        let mut dev = 0.0;
        for r in &rows {
            let e = r[c] - m;
            dev += e * e;
        }
        mean[c] = m;
        std[c] = (dev / dof).sqrt();
    }
}

/// Coordinate-wise mean as NumPy computes it: a left-to-right sum over the vectors, divided
/// by their number. Coordinate blocks in parallel.
pub(crate) fn byzfl_mean(x: UpdatesView<'_>) -> DVector<f64> {
    let rows = block_rows(x.n());
    let mut mean = vec![0.0; x.d()];
    for_each_block_mut(&mut mean, rows, |b, m| {
        mean_of_rows(&block_of(x, b * rows, m.len()), m, None);
    });
    DVector::from_vec(mean)
}

/// [`byzfl_mean`] and [`std_ddof1`] in one sweep over memory, bit for bit the same numbers:
/// the coordinates are taken in blocks (in parallel), and each block's two passes run while
/// the block is in cache. At the training loop's sizes (40 × 8·10⁴) two separate passes
/// would each stream the whole matrix from memory; this streams it once.
///
/// # Errors
/// As [`std_ddof1`].
pub(crate) fn byzfl_mean_std(
    who: &str,
    x: UpdatesView<'_>,
) -> Result<(DVector<f64>, DVector<f64>)> {
    require_two(who, x.n())?;
    let rows = block_rows(x.n());
    let mut mean = vec![0.0; x.d()];
    let std = map_blocks_mut_in_order(&mut mean, rows, |b, m| {
        let mut s = vec![0.0; m.len()];
        mean_std_block(x, b * rows, m, &mut s, None);
        s
    });
    Ok((DVector::from_vec(mean), DVector::from_vec(std.concat())))
}

/// Coordinate-wise standard deviation with ddof = 1 around `mean`, as NumPy computes
/// `sqrt(var(x, axis=0, ddof=1))`: Σᵢ (xᵢ − m)², left to right, divided by n − 1.
///
/// # Errors
/// [`Error::TooFewInputs`] (naming `who`) for fewer than two vectors.
pub(crate) fn std_ddof1(
    who: &str,
    x: UpdatesView<'_>,
    mean: &DVector<f64>,
) -> Result<DVector<f64>> {
    require_two(who, x.n())?;
    let rows = block_rows(x.n());
    let mut std = vec![0.0; x.d()];
    for_each_block_mut(&mut std, rows, |b, s| {
        let lo = b * rows;
        std_of_rows(&block_of(x, lo, s.len()), &mean.as_slice()[lo..], s);
    });
    Ok(DVector::from_vec(std))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;

    /// NumPy's order, coordinate by coordinate: the first vector plus each next one left to
    /// right, divided by n; then Σᵢ (xᵢ − m)² left to right from 0, over n − 1, square root.
    fn numpy_mean_std(x: UpdatesView<'_>) -> (Vec<f64>, Vec<f64>) {
        let (d, n) = (x.d(), x.n());
        let mean: Vec<f64> = (0..d)
            .map(|k| x.cols().skip(1).fold(x.col(0)[k], |a, c| a + c[k]) / n as f64)
            .collect();
        let std = (0..d)
            .map(|k| {
                let ss = x
                    .cols()
                    .fold(0.0, |a, c| a + (c[k] - mean[k]) * (c[k] - mean[k]));
                (ss / (n - 1) as f64).sqrt()
            })
            .collect();
        (mean, std)
    }

    /// The blocked, parallel mean and deviation (alone, fused, and inside the attack's
    /// vectors) are NumPy's coordinate-by-coordinate order bit for bit, across block
    /// boundaries and a partial last block, for 1 and 2 threads and for 3, 7 and 9 vectors
    /// (a partial sweep of four rows, none, one). Mutation that makes it fail (checked):
    /// summing the squared deviations of the rows four at a time in another association,
    /// s + ((a² + b²) + (c² + d²)) instead of (((s + a²) + b²) + c²) + d².
    #[test]
    fn blocked_mean_std_are_numpys_order_bit_for_bit() {
        use rand::RngExt;
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for n in [3, 7, 9] {
            let mut rng = rng_from_seed(5 + n as u64);
            let d = 2 * block_rows(n) + 37;
            let cols: Vec<DVector<f64>> = (0..n)
                .map(|_| DVector::from_fn(d, |_, _| rng.random::<f64>() * 1e3 - 3.0))
                .collect();
            let x = Updates::from_columns(&cols).unwrap();
            let (mean, std) = numpy_mean_std(x.view());
            let alie: Vec<f64> = mean.iter().zip(&std).map(|(m, s)| m + s * 1.5).collect();
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| {
                    let m = byzfl_mean(x.view());
                    assert_eq!(bits(m.as_slice()), bits(&mean));
                    let s = std_ddof1("t", x.view(), &m).unwrap();
                    assert_eq!(bits(s.as_slice()), bits(&std));
                    let (m2, s2) = byzfl_mean_std("t", x.view()).unwrap();
                    assert_eq!(bits(m2.as_slice()), bits(&mean));
                    assert_eq!(bits(s2.as_slice()), bits(&std));
                    let mut rng = rng_from_seed(0);
                    let b = ALittleIsEnough::new(1.5)
                        .corrupt(x.view(), 3, &mut AttackContext::new(&mut rng))
                        .unwrap();
                    for c in b.view().cols() {
                        assert_eq!(bits(c), bits(&alie));
                    }
                });
            }
        }
        let one = Updates::from_columns(&[DVector::from_element(3, 1.0)]).unwrap();
        assert!(byzfl_mean_std("t", one.view()).is_err());
    }

    /// Both tile widths of the blocked mean and deviation (64 coordinates where AVX-512 runs
    /// them, 32 elsewhere) give NumPy's bits, the sum behind the mean included, over lengths
    /// with and without a ragged tail. Seen to fail with the deviations summed around the
    /// tile's sum instead of its mean, and with the tail's sum left unwritten.
    #[test]
    fn both_tile_widths_are_numpys_order_bit_for_bit() {
        use rand::RngExt;
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let mut rng = rng_from_seed(8);
        for (n, d) in [(2, 64), (5, 63), (40, 3 * 64 + 17)] {
            let cols: Vec<DVector<f64>> = (0..n)
                .map(|_| DVector::from_fn(d, |_, _| rng.random::<f64>() * 1e3 - 3.0))
                .collect();
            let x = Updates::from_columns(&cols).unwrap();
            let (mean, std) = numpy_mean_std(x.view());
            let rows: Vec<&[f64]> = x.view().cols().collect();
            // NumPy's sum before the mean's division: left to right from the first row.
            let numpy_sum: Vec<f64> = (0..d)
                .map(|c| rows[1..].iter().fold(rows[0][c], |a, r| a + r[c]))
                .collect();
            for width in [32, 64] {
                let (mut m, mut s, mut sum) = (vec![0.0; d], vec![0.0; d], vec![f64::NAN; d]);
                match width {
                    32 => mean_std_tiles::<32>(&rows, &mut m, &mut s, Some(&mut sum)),
                    _ => mean_std_tiles::<64>(&rows, &mut m, &mut s, Some(&mut sum)),
                }
                assert_eq!(
                    bits(&m),
                    bits(&mean),
                    "mean, n = {n}, d = {d}, tile {width}"
                );
                assert_eq!(bits(&s), bits(&std), "std, n = {n}, d = {d}, tile {width}");
                assert_eq!(
                    bits(&sum),
                    bits(&numpy_sum),
                    "sum, n = {n}, d = {d}, tile {width}"
                );
            }
        }
    }

    /// An honest entry +∞ gives the mean +∞ and the deviation ∞ − ∞: the attack refuses the
    /// NaN vector (as `Updates` would) instead of sending it, and a buffer that is not whole
    /// vectors is refused.
    #[test]
    fn nan_vector_and_ragged_buffer_are_refused() {
        let m = DMatrix::from_row_slice(2, 2, &[f64::INFINITY, 1.7e308, 1.0, 2.0]);
        let h = Updates::new_allow_inf(m).unwrap();
        let mut rng = rng_from_seed(0);
        let mut out = vec![0.0; 4];
        let e = ALittleIsEnough::new(-1.0)
            .corrupt_into(h.view(), &mut out, &mut AttackContext::new(&mut rng))
            .unwrap_err()
            .to_string();
        assert!(e.contains("vector 0, coordinate 0 is NaN"), "{e}");
        let mut out = vec![0.0; 3];
        let e = ALittleIsEnough::new(1.0)
            .corrupt_into(h.view(), &mut out, &mut AttackContext::new(&mut rng))
            .unwrap_err();
        assert!(matches!(e, Error::DimensionMismatch { .. }), "{e}");
    }

    #[test]
    fn byzfl_docstring_example() {
        // ByzFL's ALittleIsEnough(1.5) on (1,2,3), (4,5,6), (7,8,9): mean (4,5,6), std with
        // ddof = 1 is √((9+0+9)/2) = 3 per coordinate → (4,5,6) + 1.5·3 = (8.5, 9.5, 10.5).
        let h = Updates::from_rows(&[
            vec![1.0, 2.0, 3.0],
            vec![4.0, 5.0, 6.0],
            vec![7.0, 8.0, 9.0],
        ])
        .unwrap();
        let mut rng = rng_from_seed(0);
        let b = ALittleIsEnough::new(1.5)
            .corrupt(h.view(), 3, &mut AttackContext::new(&mut rng))
            .unwrap();
        assert_eq!((b.n(), b.d()), (3, 3));
        for c in b.view().cols() {
            assert_eq!(c, &[8.5, 9.5, 10.5]);
        }
    }

    /// Entries near f64::MAX, whose sums overflow: the mean, the deviation and the attack
    /// vector are those of the same entries scaled down by 2¹⁰⁰⁰, scaled back up, bit for bit
    /// (an f64 without an exponent limit), in every path that computes them (the fused tiles
    /// of both widths, the mean alone, the deviation around a given mean). A true overflow
    /// (ḡ + τ·σ beyond f64::MAX) stays +∞. Seen to fail without [`refit_overflowed`] (+∞ at
    /// every coordinate) and with the scale taken as the largest entry itself instead of its
    /// power of two (other bits).
    #[test]
    fn entries_near_the_largest_float_do_not_overflow() {
        use rand::RngExt;
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let up = 2f64.powi(1000);
        let mut rng = rng_from_seed(3);
        for (n, d) in [(2, 70), (5, 3), (40, 2 * 64 + 9)] {
            let small: Vec<DVector<f64>> = (0..n)
                .map(|_| DVector::from_fn(d, |_, _| rng.random::<f64>() * 2e7 - 1e7))
                .collect();
            let large: Vec<DVector<f64>> = small.iter().map(|c| c * up).collect();
            let (small, large) = (
                Updates::from_columns(&small).unwrap(),
                Updates::from_columns(&large).unwrap(),
            );
            let (ms, ss) = byzfl_mean_std("t", small.view()).unwrap();
            let (ml, sl) = byzfl_mean_std("t", large.view()).unwrap();
            assert_eq!(bits(ml.as_slice()), bits((&ms * up).as_slice()), "n = {n}");
            assert_eq!(bits(sl.as_slice()), bits((&ss * up).as_slice()), "n = {n}");
            let m = byzfl_mean(large.view());
            assert_eq!(bits(m.as_slice()), bits(ml.as_slice()));
            let s = std_ddof1("t", large.view(), &m).unwrap();
            assert_eq!(bits(s.as_slice()), bits(sl.as_slice()));
            let mut rng = rng_from_seed(0);
            let alie = |x: &Updates, rng: &mut _| {
                ALittleIsEnough::new(0.25)
                    .corrupt(x.view(), 2, &mut AttackContext::new(rng))
                    .unwrap()
            };
            let (bs, bl) = (alie(&small, &mut rng), alie(&large, &mut rng));
            let scaled: Vec<f64> = bs.view().col(0).iter().map(|v| v * up).collect();
            assert!(scaled.iter().all(|v| v.is_finite()));
            assert_eq!(bits(bl.view().col(1)), bits(&scaled), "n = {n}");
        }
        // All entries 1e308: the mean is finite (here 1e308 to rounding) and σ = 0.
        let same = Updates::from_rows(&[vec![1e308; 3], vec![1e308; 3], vec![1e308; 3]]).unwrap();
        let b = ALittleIsEnough::new(1.5)
            .corrupt(same.view(), 1, &mut AttackContext::new(&mut rng))
            .unwrap();
        assert!(b
            .view()
            .col(0)
            .iter()
            .all(|v| (v / 1e308 - 1.0).abs() < 1e-15));
        // ±1e308: σ = √2·10³⁰⁸ is finite, ḡ + 1.5·σ is not.
        let apart = Updates::from_rows(&[vec![1e308], vec![-1e308]]).unwrap();
        let b = ALittleIsEnough::new(1.5)
            .corrupt(apart.view(), 1, &mut AttackContext::new(&mut rng))
            .unwrap();
        assert_eq!(b.view().col(0), &[f64::INFINITY]);
    }

    #[test]
    fn negative_tau_and_zero_spread() {
        // Honest (0, 5), (2, 5): mean (1, 5), std (√2, 0); τ = −2 → (1 − 2√2, 5).
        let h = Updates::from_rows(&[vec![0.0, 5.0], vec![2.0, 5.0]]).unwrap();
        let mut rng = rng_from_seed(0);
        let b = ALittleIsEnough::new(-2.0)
            .corrupt(h.view(), 1, &mut AttackContext::new(&mut rng))
            .unwrap();
        assert_eq!(b.view().col(0), &[1.0 - 2.0 * 2f64.sqrt(), 5.0]);
    }

    #[test]
    fn errors() {
        let mut rng = rng_from_seed(0);
        let one = Updates::from_rows(&[vec![1.0, 2.0]]).unwrap();
        let e = ALittleIsEnough::new(1.5)
            .corrupt(one.view(), 2, &mut AttackContext::new(&mut rng))
            .unwrap_err();
        assert!(matches!(e, Error::TooFewInputs { .. }), "{e}");
        let two = Updates::from_rows(&[vec![1.0], vec![2.0]]).unwrap();
        assert!(ALittleIsEnough::new(1.5)
            .corrupt(two.view(), 0, &mut AttackContext::new(&mut rng))
            .is_err());
        let p = Params::new().with("tau", f64::NAN);
        assert!(crate::attacks::build("ALittleIsEnough", &p, Compat::Byzfl).is_err());
        let p = Params::new().with("tua", 1.0);
        assert!(crate::attacks::build("a_little_is_enough", &p, Compat::Native).is_err());
    }

    /// The block and the sum offered to the average: the same block as without the sum, and each
    /// coordinate's honest values added left to right from the first (a −0 column included,
    /// whose sum stays −0). Fails if the sum is taken after the mean's division, or from +0.
    #[test]
    fn the_offered_sum_is_the_means_sum() {
        use rand::RngExt;
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let mut rng = rng_from_seed(11);
        let (n, d) = (6, 53);
        let cols: Vec<DVector<f64>> = (0..n)
            .map(|_| {
                DVector::from_fn(d, |i, _| {
                    if i == 7 {
                        -0.0
                    } else {
                        rng.random::<f64>() * 1e3 - 3.0
                    }
                })
            })
            .collect();
        let x = Updates::from_columns(&cols).unwrap();
        let a = ALittleIsEnough::new(1.5);
        let (lo, len) = (5, 40);
        let (mut plain, mut out, mut sum) = (vec![0.0; len], vec![0.0; len], vec![0.0; len]);
        assert!(!a.fill_block(x.view(), lo, &mut plain, None));
        assert!(a.fill_block(x.view(), lo, &mut out, Some(&mut sum)));
        assert_eq!(bits(&out), bits(&plain));
        let expected: Vec<f64> = (lo..lo + len)
            .map(|k| (1..n).fold(cols[0][k], |s, i| s + cols[i][k]))
            .collect();
        assert_eq!(bits(&sum), bits(&expected));
        assert_eq!(sum[7 - lo].to_bits(), (-0.0f64).to_bits());
    }
}
