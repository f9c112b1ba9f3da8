//! Shared machinery of the coordinate-wise rules (median, trimmed mean, Meamed, Bulyan,
//! median of means): a blocked transpose and a sorting network vectorised across coordinates.
//!
//! The input is d×n column-major (each client vector contiguous), while a coordinate-wise rule
//! needs, for each coordinate, its n values side by side. [`map_blocks`] cuts the coordinates
//! into blocks of [`BLOCK`]; for each block a fill function copies the needed values into a
//! small buffer laid out as groups of [`LANES`] coordinates, where "wire" i of a group is a
//! `[f64; LANES]` holding client i's values for those coordinates. A kernel then maps each
//! group's wires to [`LANES`] outputs. Blocks run in parallel with rayon; every output depends
//! only on its own coordinate, so results are the same for every thread count.
//!
//! Kernels usually start with a [`SortingNetwork`] (Batcher's odd–even merge sort, pruned to
//! the wires the rule needs). Its compare-exchanges act on whole wires, so one min/max pair
//! processes [`LANES`] coordinates at once and compiles to packed SIMD min/max instructions,
//! with no data-dependent branch. For the median at n = 50, d = 10⁶ (single thread, transpose
//! included) a prototype measured 166 ms against 270 ms for a per-coordinate
//! `select_nth_unstable`; the transpose alone, a chunked copy, costs about one plain pass over
//! the data.
//!
//! The buffers use `<` for ordering, which is a total order on non-NaN values (±∞ sort at the
//! ends). [`BlockBuf::set_wire`] copies a NaN in as +∞, the native reading of a NaN sent by a
//! Byzantine user (`Updates::new_untrusted`), so the networks never see one: a rule whose
//! every value passes through it may be given vectors that still hold their NaN (a borrowed
//! NumPy array that skipped the finiteness scan, `Aggregator::reads_nan_as_infinity`) and
//! computes what it computes on the rewritten copy, bit for bit. The conversion is a compare
//! and a blend per register on a copy that runs at memory speed anyway.
//!
//! # References
//! - K. E. Batcher, "Sorting networks and their applications", AFIPS Spring Joint Computer
//!   Conference, 1968.

use rayon::prelude::*;

/// Coordinates processed together by one compare-exchange: four AVX-512 registers per wire,
/// so the two index loads and bounds checks of a comparator are shared by 32 coordinates
/// (16 lanes ran 15–20% slower at d = 10³ once the wires were aligned).
pub(crate) const LANES: usize = 32;

/// Coordinates per parallel task (a multiple of [`LANES`]); fewer for very large n.
pub(crate) const BLOCK: usize = 256;

/// One wire of a group: one client's values for [`LANES`] consecutive coordinates.
///
/// Aligned to a cache line so that no vector load or store of a wire straddles two lines
/// (a `Vec` of plain arrays is only 8- or 16-byte aligned, and the networks' loads and stores
/// then split lines).
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C, align(64))]
pub(crate) struct Lane(pub(crate) [f64; LANES]);

impl Lane {
    /// Every lane zero.
    pub(crate) const ZERO: Lane = Lane([0.0; LANES]);
}

impl std::ops::Deref for Lane {
    type Target = [f64; LANES];
    #[inline(always)]
    fn deref(&self) -> &[f64; LANES] {
        &self.0
    }
}

impl std::ops::DerefMut for Lane {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [f64; LANES] {
        &mut self.0
    }
}

/// A comparator network on `wires` wires: after [`SortingNetwork::apply`], the wires it was
/// built for hold their sorted values.
#[derive(Clone, Debug)]
pub(crate) struct SortingNetwork {
    /// The first `8 · blocks8` wires start with a full sort of each aligned block of eight
    /// ([`sort8`], in registers); `pairs` are the comparators after that, in order.
    blocks8: usize,
    pairs: Vec<(u32, u32)>,
    wires: usize,
}

impl SortingNetwork {
    /// Batcher's odd–even merge sort on `n` wires: the network for the next power of two with
    /// every comparator touching a wire ≥ n removed (those wires would hold +∞, so the
    /// comparators are no-ops). 403 comparators for n = 50.
    pub(crate) fn sorting(n: usize) -> Self {
        let blocks8 = n / 8;
        // Phases p < 8 inside a full block of eight are sort8's.
        let pairs = batcher(n)
            .into_iter()
            .filter(|&(p, _, b)| !(p < 8 && (b as usize) < blocks8 * 8))
            .map(|(_, a, b)| (a, b))
            .collect();
        SortingNetwork {
            blocks8,
            pairs,
            wires: n,
        }
    }

    /// The sorting network on `n` wires keeping only the comparators that influence the wires
    /// in `wanted` (which then hold the same values as after a full sort). 330 comparators
    /// for the two middle wires of n = 50.
    pub(crate) fn selecting(n: usize, wanted: impl IntoIterator<Item = usize>) -> Self {
        let full = Self::sorting(n);
        let mut need = vec![false; n];
        for w in wanted {
            need[w] = true;
        }
        let mut pairs = Vec::with_capacity(full.pairs.len());
        for &(a, b) in full.pairs.iter().rev() {
            let (ai, bi) = (a as usize, b as usize);
            if need[ai] || need[bi] {
                need[ai] = true;
                need[bi] = true;
                pairs.push((a, b));
            }
        }
        pairs.reverse();
        // The blocks of eight stay whole: extra comparators only ever touch wires that the
        // wanted ones no longer depend on, so the wanted wires come out the same.
        SortingNetwork {
            blocks8: full.blocks8,
            pairs,
            wires: n,
        }
    }

    /// Number of compare-exchanges.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.blocks8 * 19 + self.pairs.len()
    }

    /// Runs the network on the first `n` wires of `w`, lane by lane.
    #[inline(always)]
    pub(crate) fn apply(&self, w: &mut [Lane]) {
        let w = &mut w[..self.wires];
        for block in w.chunks_exact_mut(8).take(self.blocks8) {
            sort8(block);
        }
        for &(a, b) in &self.pairs {
            let (lo, hi) = compare_exchange(w[a as usize].0, w[b as usize].0);
            w[a as usize].0 = lo;
            w[b as usize].0 = hi;
        }
    }
}

/// Batcher's network on 8 wires (the first three phases of [`SortingNetwork::sorting`]
/// inside an aligned block of eight), written out so that the compiler keeps the eight
/// wires in registers instead of loading and storing both wires at every comparator. Sixteen
/// lanes at a time: eight wires of 16 lanes fill 16 of the 32 AVX-512 registers, where eight
/// whole wires would spill.
#[inline(always)]
fn sort8(block: &mut [Lane]) {
    for h in (0..LANES).step_by(HALF) {
        let mut v: [[f64; HALF]; 8] =
            std::array::from_fn(|i| std::array::from_fn(|l| block[i][h + l]));
        let [w0, w1, w2, w3, w4, w5, w6, w7] = &mut v;
        macro_rules! cx {
            ($($a:ident $b:ident),*) => {
                $( (*$a, *$b) = compare_exchange(*$a, *$b); )*
            };
        }
        cx!(w0 w1, w2 w3, w4 w5, w6 w7, w0 w2, w1 w3, w4 w6, w5 w7, w1 w2, w5 w6);
        cx!(w0 w4, w1 w5, w2 w6, w3 w7, w2 w4, w3 w5, w1 w2, w3 w4, w5 w6);
        for (dst, src) in block.iter_mut().zip(v) {
            dst[h..h + HALF].copy_from_slice(&src);
        }
    }
}

/// Lanes per register block of [`sort8`].
const HALF: usize = 16;

/// Batcher's odd–even merge sort on `n` wires as (phase p, a, b) comparators in order: the
/// network for the next power of two with every comparator touching a wire ≥ n removed.
fn batcher(n: usize) -> Vec<(usize, u32, u32)> {
    let mut p2 = 1usize;
    while p2 < n {
        p2 *= 2;
    }
    let mut pairs = Vec::new();
    let mut p = 1usize;
    while p < p2 {
        let mut k = p;
        while k >= 1 {
            let mut j = k % p;
            while j + k < p2 {
                for i in 0..k.min(p2 - j - k) {
                    let (a, b) = (i + j, i + j + k);
                    if a / (2 * p) == b / (2 * p) && b < n {
                        pairs.push((p, a as u32, b as u32));
                    }
                }
                j += 2 * k;
            }
            k /= 2;
        }
        p *= 2;
    }
    pairs
}

/// (min, max) lane by lane, on a whole wire or a part of one.
#[inline(always)]
pub(crate) fn compare_exchange<const L: usize>(x: [f64; L], y: [f64; L]) -> ([f64; L], [f64; L]) {
    let mut lo = [0.0; L];
    let mut hi = [0.0; L];
    for l in 0..L {
        // `p < q ? p : q` is exactly the packed min instruction (no NaN here).
        lo[l] = if x[l] < y[l] { x[l] } else { y[l] };
        hi[l] = if x[l] < y[l] { y[l] } else { x[l] };
    }
    (lo, hi)
}

/// `v`, or +∞ for a NaN: `v < +∞ ? v : +∞` is false for NaN and for +∞ alone, and it is the
/// x86 `minpd` pattern (the second operand when the compare is false), so it vectorises to one
/// instruction where an `is_nan` test takes a compare and a blend.
#[inline(always)]
pub(crate) fn nan_as_plus_inf(v: f64) -> f64 {
    if v < f64::INFINITY {
        v
    } else {
        f64::INFINITY
    }
}

/// The transposed buffer of one block: `BLOCK / LANES` groups of `wires` wires.
pub(crate) struct BlockBuf<'a> {
    data: &'a mut [Lane],
    wires: usize,
}

thread_local! {
    /// Each thread's block buffer, kept from call to call: allocating and zeroing it for
    /// every call took 5% of the median's time at d = 10³. Stale values are harmless: `fill`
    /// sets every wire a kernel reads, and lanes past the block's end never reach an output.
    static BUFFER: std::cell::RefCell<Vec<Lane>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `work` on a buffer of `len` wires: this thread's kept one, or a fresh one if that is
/// already in use further up the stack.
fn with_buffer<R>(len: usize, work: impl FnOnce(&mut [Lane]) -> R) -> R {
    BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut data) => {
            if data.len() < len {
                data.resize(len, Lane::ZERO);
            }
            work(&mut data[..len])
        }
        Err(_) => work(&mut vec![Lane::ZERO; len]),
    })
}

impl BlockBuf<'_> {
    /// Stores `vals` (the block's values of one client, at most [`BLOCK`]) as wire `i`, each
    /// NaN as +∞ (module docs). Inlined so that the copy runs on the caller's instruction set
    /// (the fill runs under [`crate::simd::widest`]).
    #[inline(always)]
    pub(crate) fn set_wire(&mut self, i: usize, vals: &[f64]) {
        // Whole lanes as fixed-size copies (inlined moves; a variable-length copy per lane
        // called memmove and took 30% of the trimmed mean's time), then the ragged rest.
        // Copies of HALF lanes: a whole 32-lane copy is again a memmove call.
        let mut lanes = vals.chunks_exact(LANES);
        for (g, chunk) in (&mut lanes).enumerate() {
            let dst = &mut self.data[g * self.wires + i];
            for (d, s) in dst.chunks_exact_mut(HALF).zip(chunk.chunks_exact(HALF)) {
                let s: &[f64; HALF] = s.try_into().expect("HALF lanes");
                let d: &mut [f64; HALF] = d.try_into().expect("HALF lanes");
                for l in 0..HALF {
                    d[l] = nan_as_plus_inf(s[l]);
                }
            }
        }
        let rest = lanes.remainder();
        if !rest.is_empty() {
            let g = vals.len() / LANES;
            for (d, s) in self.data[g * self.wires + i].iter_mut().zip(rest) {
                *d = nan_as_plus_inf(*s);
            }
        }
    }

    /// The wires of group `g`.
    #[inline(always)]
    fn group(&mut self, g: usize) -> &mut [Lane] {
        &mut self.data[g * self.wires..(g + 1) * self.wires]
    }
}

/// Computes one output per coordinate `0..d`.
///
/// For each block of coordinates `j0..j0 + len` (`len` ≤ [`BLOCK`]), `fill(j0, len, buf)`
/// must set the `wires`
/// wires of `buf` with [`BlockBuf::set_wire`]; then `kernel(group, out)` runs on each group of
/// [`LANES`] coordinates, writing `out.len()` (≤ [`LANES`], less only in the last group)
/// outputs. Lanes past `out.len()` hold stale values and must not affect the valid lanes.
/// While group g of a block is computed, `prefetch(j, len)` may ask for coordinates
/// `j..j + len` of the next block (a cache hint for what `fill` will read: the kernel's
/// arithmetic then overlaps the next block's memory traffic).
pub(crate) fn map_blocks<F, K, P>(
    d: usize,
    wires: usize,
    fill: F,
    kernel: K,
    prefetch: P,
) -> Vec<f64>
where
    F: Fn(usize, usize, &mut BlockBuf) + Sync,
    K: Fn(&mut [Lane], &mut [f64]) + Sync,
    P: Fn(usize, usize) + Sync,
{
    // At most BLOCK coordinates, fewer when n is large so the buffer stays near 1 MiB.
    let block = ((1 << 20) / (8 * wires.max(1)) / LANES * LANES).clamp(LANES, BLOCK);
    let mut out = vec![0.0; d];
    out.par_chunks_mut(block).enumerate().for_each(|(b, out)| {
        with_buffer((block / LANES) * wires, |data| {
            let buf = &mut BlockBuf { data, wires };
            let j0 = b * block;
            crate::simd::widest(
                #[inline(always)]
                || {
                    fill(j0, out.len(), buf);
                    for (g, o) in out.chunks_mut(LANES).enumerate() {
                        let next = j0 + block + g * LANES;
                        if next < d {
                            prefetch(next, LANES.min(d - next));
                        }
                        kernel(buf.group(g), o);
                    }
                },
            );
        });
    });
    out
}

/// [`map_blocks`] whose wires are the columns `cols` of `x` (all columns when `None`), in
/// that order.
pub(crate) fn map_columns<K>(
    x: crate::data::UpdatesView<'_>,
    cols: Option<&[usize]>,
    kernel: K,
) -> Vec<f64>
where
    K: Fn(&mut [Lane], &mut [f64]) + Sync,
{
    let wires = cols.map_or(x.n(), <[usize]>::len);
    let col = |w: usize| x.col(cols.map_or(w, |c| c[w]));
    map_blocks(
        x.d(),
        wires,
        // Inlined into map_blocks' dispatched build, so the copies use its widest registers.
        #[inline(always)]
        |j0, len, buf| {
            for w in 0..wires {
                buf.set_wire(w, &col(w)[j0..j0 + len]);
            }
        },
        kernel,
        |j, len| {
            if streams_from_memory(x) {
                for w in 0..wires {
                    crate::simd::prefetch(&col(w)[j..j + len]);
                }
            }
        },
    )
}

/// Whether `x` is large enough for [`map_blocks`]' prefetch hints to pay: above 8 MiB the
/// input streams from memory and the hints overlap that traffic with the networks; below,
/// it sits in cache and the hints are wasted instructions (200 per group of 32 coordinates
/// at n = 50; 2–7% of the median at d = 10³, 400 kB, near this VM's run-to-run noise).
pub(crate) fn streams_from_memory(x: crate::data::UpdatesView<'_>) -> bool {
    exceeds_caches(std::mem::size_of_val(x.as_slice()))
}

/// Whether data of `bytes` read once per pass streams from memory rather than sitting in
/// cache ([`streams_from_memory`]'s 8 MiB).
pub(crate) fn exceeds_caches(bytes: usize) -> bool {
    bytes > 8 << 20
}

/// Whether every valid lane (`< lanes`) of every wire is finite.
pub(crate) fn all_finite(w: &[Lane], lanes: usize) -> bool {
    // x·0 is ±0 for finite x and NaN for ±∞; summing keeps a NaN.
    let mut acc = [0.0f64; LANES];
    for wire in w {
        for l in 0..LANES {
            acc[l] += wire[l] * 0.0;
        }
    }
    acc[..lanes].iter().all(|a| *a == 0.0)
}

/// Median of an ascending slice (mean of the two middle values for even length, as NumPy).
pub(crate) fn median_of_sorted(s: &[f64]) -> f64 {
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn lanes_from(vals: &[Vec<f64>]) -> Vec<Lane> {
        // vals[l] = the n values of lane l
        let n = vals[0].len();
        (0..n)
            .map(|i| {
                let mut w = Lane::ZERO;
                for l in 0..LANES {
                    w[l] = vals[l % vals.len()][i];
                }
                w
            })
            .collect()
    }

    #[test]
    fn network_sorts_every_small_size() {
        // Exhaustive 0/1 principle for n ≤ 12 (a network sorts all inputs iff it sorts all
        // 0/1 inputs), plus random reals for larger n.
        for n in 1..=12usize {
            let net = SortingNetwork::sorting(n);
            for bits in 0u32..(1 << n) {
                let v: Vec<f64> = (0..n).map(|i| f64::from((bits >> i) & 1)).collect();
                let mut w = lanes_from(std::slice::from_ref(&v));
                net.apply(&mut w);
                let got: Vec<f64> = w.iter().map(|x| x[0]).collect();
                let mut want = v;
                want.sort_by(f64::total_cmp);
                assert_eq!(got, want, "n = {n}");
            }
        }
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(3);
        for n in [13usize, 31, 50, 64, 65, 100] {
            let net = SortingNetwork::sorting(n);
            let vals: Vec<Vec<f64>> = (0..LANES)
                .map(|_| (0..n).map(|_| (rng.next_u64() % 7) as f64).collect())
                .collect();
            let mut w = lanes_from(&vals);
            net.apply(&mut w);
            for (l, v) in vals.iter().enumerate() {
                let mut want = v.clone();
                want.sort_by(f64::total_cmp);
                let got: Vec<f64> = w.iter().map(|x| x[l]).collect();
                assert_eq!(got, want, "n = {n}, lane {l}");
            }
        }
    }

    #[test]
    fn register_blocks_of_eight_keep_batchers_bits() {
        // The blocks of eight run first, then the rest: the same comparators as Batcher's
        // plain list in an order that respects every dependency, so even the placement of
        // equal values (+0 and −0, ties) must be identical. Reference: the plain list, with
        // no blocks, applied one comparator at a time.
        for n in [7, 8, 13, 16, 50] {
            let all: Vec<(u32, u32)> = batcher(n).into_iter().map(|(_, a, b)| (a, b)).collect();
            assert_eq!(all.len(), SortingNetwork::sorting(n).len(), "n = {n}");
            let reference = SortingNetwork {
                blocks8: 0,
                pairs: all,
                wires: n,
            };
            let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(n as u64);
            let vals: Vec<Vec<f64>> = (0..LANES)
                .map(|_| {
                    (0..n)
                        .map(|_| match rng.next_u64() % 4 {
                            0 => 0.0,
                            1 => -0.0,
                            _ => (rng.next_u64() % 5) as f64,
                        })
                        .collect()
                })
                .collect();
            let (mut a, mut b) = (lanes_from(&vals), lanes_from(&vals));
            SortingNetwork::sorting(n).apply(&mut a);
            reference.apply(&mut b);
            let bits = |w: &[Lane]| -> Vec<u64> {
                w.iter()
                    .flat_map(|l| l.iter().map(|v| v.to_bits()))
                    .collect()
            };
            assert_eq!(bits(&a), bits(&b), "n = {n}");
        }
    }

    #[test]
    fn pruned_network_selects() {
        assert_eq!(SortingNetwork::sorting(50).len(), 403);
        let sel = SortingNetwork::selecting(50, [24, 25]);
        assert_eq!(sel.len(), 330);
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(4);
        let vals: Vec<Vec<f64>> = (0..LANES)
            .map(|_| (0..50).map(|_| (rng.next_u64() % 1000) as f64).collect())
            .collect();
        let mut w = lanes_from(&vals);
        sel.apply(&mut w);
        for (l, v) in vals.iter().enumerate() {
            let mut s = v.clone();
            s.sort_by(f64::total_cmp);
            assert_eq!((w[24][l], w[25][l]), (s[24], s[25]));
        }
    }

    #[test]
    fn infinities_sort_to_the_ends() {
        let net = SortingNetwork::sorting(4);
        let mut w = lanes_from(&[vec![f64::INFINITY, 1.0, f64::NEG_INFINITY, 0.0]]);
        net.apply(&mut w);
        let got: Vec<f64> = w.iter().map(|x| x[0]).collect();
        assert_eq!(got, vec![f64::NEG_INFINITY, 0.0, 1.0, f64::INFINITY]);
    }

    #[test]
    fn map_blocks_covers_ragged_d() {
        // d not a multiple of LANES or BLOCK: output j = j (the fill writes coordinate index).
        let d = BLOCK + LANES + 3;
        let asked = std::sync::Mutex::new(Vec::new());
        let out = map_blocks(
            d,
            1,
            |j0, len, buf| {
                let v: Vec<f64> = (j0..j0 + len).map(|j| j as f64).collect();
                buf.set_wire(0, &v);
            },
            |w, o| {
                for (l, o) in o.iter_mut().enumerate() {
                    *o = w[0][l];
                }
            },
            |j, len| asked.lock().unwrap().push((j, len)),
        );
        assert_eq!(out, (0..d).map(|j| j as f64).collect::<Vec<_>>());
        // The prefetch hints cover every coordinate after the first block exactly once.
        let mut asked = asked.into_inner().unwrap();
        asked.sort_unstable();
        let covered: Vec<usize> = asked.iter().flat_map(|&(j, len)| j..j + len).collect();
        assert_eq!(covered, (BLOCK..d).collect::<Vec<_>>());
    }

    #[test]
    fn nested_buffers_do_not_share_storage() {
        // A second request on the same thread (a kernel that itself maps blocks) gets its own
        // storage instead of a panic on the kept buffer's borrow.
        let total = with_buffer(4, |outer| {
            outer.fill(Lane([1.0; LANES]));
            let inner = with_buffer(8, |inner| {
                inner.fill(Lane([2.0; LANES]));
                inner.iter().map(|w| w[0]).sum::<f64>()
            });
            inner + outer.iter().map(|w| w[0]).sum::<f64>()
        });
        assert_eq!(total, 8.0 * 2.0 + 4.0);
    }

    /// The rules that [`crate::aggregators::Aggregator::reads_nan_as_infinity`] (median,
    /// trimmed mean with f ≥ 1) return on vectors still holding their NaN exactly the bits
    /// they return on the copy `Updates::new_untrusted` rewrites (NaN as +∞), next to ±∞ and
    /// 10³⁰⁰ rows, with a ragged last group, as many non-finite values per coordinate as f
    /// and more. Mutation seen to fail it: `set_wire` copying the values as they are (a NaN
    /// then stays where the compare-exchanges leave it, `<` being false both ways).
    #[test]
    fn rules_reading_nan_as_infinity_match_the_rewritten_copy() {
        use crate::aggregators::{build, AggContext};
        use crate::data::{NonFiniteEntries, Updates};
        use crate::params::Compat;
        use crate::params::Params;
        use crate::rng::rng_from_seed;
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(17);
        let (n, d) = (11, 2 * LANES + 5);
        let specials = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -1e300];
        let m = nalgebra::DMatrix::from_fn(d, n, |r, c| {
            // Rows 0-2 carry the specials; row 0 a NaN in every coordinate.
            let u = (rng.next_u64() % 1000) as f64 / 100.0 - 5.0;
            match (c, rng.next_u64() % 4) {
                (0, _) => f64::NAN,
                (1 | 2, 0) => specials[(r + c) % specials.len()],
                _ => u,
            }
        });
        let raw = Updates::with_entries(m.clone(), NonFiniteEntries::Keep).unwrap();
        let rewritten = Updates::new_untrusted(m).unwrap();
        for (name, f) in [
            ("median", 0.0),
            ("trmean", 1.0),
            ("trmean", 3.0),
            ("trmean", 5.0),
        ] {
            let rule = build(name, &Params::new().with("f", f), Compat::Native).unwrap();
            assert!(rule.reads_nan_as_infinity(), "{name}");
            let mut rng = rng_from_seed(0);
            let mut cx = AggContext::new(&mut rng);
            let bits =
                |v: nalgebra::DVector<f64>| -> Vec<u64> { v.iter().map(|x| x.to_bits()).collect() };
            let a = bits(rule.aggregate(raw.view(), &mut cx).unwrap());
            let b = bits(rule.aggregate(rewritten.view(), &mut cx).unwrap());
            assert_eq!(a, b, "{name} f = {f}");
        }
        let mean = build("trmean", &Params::new().with("f", 0.0), Compat::Native).unwrap();
        assert!(!mean.reads_nan_as_infinity());
    }

    #[test]
    fn finiteness_check_ignores_padding() {
        let mut w = vec![Lane([1.0; LANES]); 3];
        assert!(all_finite(&w, LANES));
        w[1][LANES - 1] = f64::INFINITY;
        assert!(all_finite(&w, LANES - 1));
        assert!(!all_finite(&w, LANES));
    }

    #[test]
    fn median_of_sorted_known() {
        assert_eq!(median_of_sorted(&[1.0, 2.0, 10.0]), 2.0);
        assert_eq!(median_of_sorted(&[1.0, 2.0, 4.0, 10.0]), 3.0);
    }
}
