//! Bucketing: shuffle the n vectors, then average consecutive groups of s.
//!
//! ByzFL: `Bucketing(s=1)`. With π a uniformly random permutation, output bucket b (0-based) is
//! the mean of x_{π(bs)}, …, x_{π(bs+s−1)}: ⌊n/s⌋ full buckets, plus one partial bucket of the
//! n mod s leftover vectors when s does not divide n, so n′ = ⌈n/s⌉ vectors come out. Any n ≥ 1
//! is accepted (s > n gives one bucket, the mean of everything).
//!
//! The permutation comes from the context's stream ([`crate::rng::permutation`], a
//! Fisher–Yates shuffle); ByzFL draws from NumPy's or torch's global stream
//! (`np.random.permutation` / `torch.randperm`), so only the distribution of the output can be
//! compared with ByzFL, not its bits. Each bucket mean is summed in permutation order and
//! divided by the bucket size, as NumPy's `mean` does.
//!
//! **Far and infinite inputs.** [`Compat::Byzfl`] does what NumPy does: a bucket sum that
//! overflows is ±∞, and a bucket mixing +∞ and −∞ in a coordinate is NaN, reported as
//! [`crate::Error::NonFinite`]. [`Compat::Native`] follows the conventions of
//! `aggregators::far` (a vector with a non-finite entry is a point infinitely far away):
//! - a bucket of finite inputs has a finite mean: a coordinate whose sum overflows (entries
//!   near 1.7e308) is recomputed as Σ xᵢ/c (`data::mean_without_overflow`);
//! - a bucket holding an infinite input is itself a point at infinity for the next rule:
//!   every coordinate where its members' infinities agree in sign keeps that infinity (the
//!   IEEE mean), and a coordinate mixing +∞ and −∞ takes the sign of the majority of those
//!   infinite members (+∞ on a tie), never NaN. So it keeps at least one infinite entry, and
//!   the rules that set infinite inputs aside discard the whole bucket (one Byzantine bucket
//!   per Byzantine input at most, as the bucketing analysis counts).
//!
//! **NaN** (native, read as +∞ by `Updates::new_untrusted`): its bucket is a point at
//! infinity, as above.
//!
//! # References
//! Karimireddy, He & Jaggi, "Byzantine-Robust Learning on Heterogeneous Datasets via
//! Bucketing", ICLR 2022, arXiv 2006.09365.

use crate::aggregators::{AggContext, PreAggregator};
use crate::data::{add_weighted_rows, mean_without_overflow, Updates};
use crate::params::{Compat, Params, Spec};
use crate::rng::permutation;
use crate::{Error, Result};
use rayon::prelude::*;

/// Coordinates per in-place block: the block's ⌈n/s⌉ means stay in L2 (800 KB at n = 50).
const ROWS: usize = 2048;

/// Registry entry.
pub const SPEC: Spec<dyn PreAggregator> = Spec {
    name: "bucketing",
    byzfl: Some("Bucketing"),
    keys: &["s"],
    summary: "shuffle, then average buckets of s vectors (default s = 1); n -> ceil(n/s)",
    build,
};

fn build(p: &Params, compat: Compat) -> Result<Box<dyn PreAggregator>> {
    Bucketing::new(p.count("s", 1)?)
        .map(|b| Box::new(b.with_compat(compat)) as Box<dyn PreAggregator>)
}

/// Random bucketing with bucket size `s`.
#[derive(Clone, Copy, Debug)]
pub struct Bucketing {
    s: usize,
    compat: Compat,
}

impl Bucketing {
    /// Bucketing with bucket size `s ≥ 1`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for s = 0.
    pub fn new(s: usize) -> Result<Self> {
        if s == 0 {
            return Err(Error::invalid("s", 0, "bucket size must be >= 1"));
        }
        Ok(Bucketing {
            s,
            compat: Compat::Native,
        })
    }

    /// The same bucketing with ByzFL's or lbounds' arithmetic on far inputs (module docs).
    pub fn with_compat(mut self, compat: Compat) -> Self {
        self.compat = compat;
        self
    }
}

impl PreAggregator for Bucketing {
    fn name(&self) -> &'static str {
        "bucketing"
    }

    fn check_n(&self, _n: usize) -> Result<()> {
        Ok(())
    }

    fn output_len(&self, n: usize) -> usize {
        n.div_ceil(self.s)
    }

    fn apply(&self, mut x: Updates, cx: &mut AggContext<'_>) -> Result<Updates> {
        let n = x.n();
        let perm = permutation(cx.rng, n);
        let m = self.output_len(n);
        // In place, a block of coordinates at a time: the block's bucket means go to a small
        // buffer, then over the first m vectors. Each coordinate sums its bucket in member
        // order, so the bytes do not depend on the blocking or the thread count.
        // A bucket holds at most n members: s = 10¹⁵ (one bucket) must not allocate s weights.
        let ones = vec![1.0; self.s.min(n)];
        let nan_at: Vec<Option<(usize, usize)>> = x
            .row_blocks_mut(ROWS)
            .into_par_iter()
            .enumerate()
            // One buffer per worker, reused across blocks: a fresh 800 kB buffer per block
            // went to the kernel (mmap, page faults, unmap) every time.
            .map_init(Vec::new, |means, (c, mut cols)| {
                let len = cols[0].len();
                means.clear();
                for b in 0..m {
                    let members = &perm[b * self.s..((b + 1) * self.s).min(n)];
                    let start = means.len();
                    means.extend_from_slice(cols[members[0]]);
                    let y = &mut means[start..];
                    let rest: Vec<&[f64]> = members[1..].iter().map(|&j| &*cols[j]).collect();
                    add_weighted_rows(y, &rest, &ones, None);
                    if members.len() > 1 {
                        let c = members.len() as f64;
                        for a in y.iter_mut() {
                            *a /= c;
                        }
                        if self.compat == Compat::Native && y.iter().any(|a| !a.is_finite()) {
                            let all: Vec<&[f64]> = members.iter().map(|&j| &*cols[j]).collect();
                            mean_without_overflow(y, &all, &ones[..all.len()], c);
                            for (k, a) in y.iter_mut().enumerate() {
                                if a.is_nan() {
                                    let count = |v: f64| all.iter().filter(|r| r[k] == v).count();
                                    let (up, down) =
                                        (count(f64::INFINITY), count(f64::NEG_INFINITY));
                                    *a = if up >= down {
                                        f64::INFINITY
                                    } else {
                                        f64::NEG_INFINITY
                                    };
                                }
                            }
                        }
                    }
                }
                for (col, y) in cols.iter_mut().zip(means.chunks(len)) {
                    col.copy_from_slice(y);
                }
                // +∞ and −∞ in one bucket give NaN: report the first (bucket, coordinate).
                // Buckets of one add nothing, so they cannot make a NaN.
                if self.s == 1 {
                    return None;
                }
                means
                    .iter()
                    .position(|v| v.is_nan())
                    .map(|k| (k / len, c * ROWS + k % len))
            })
            .collect();
        if let Some((b, j)) = nan_at.into_iter().flatten().min() {
            return Err(Error::NonFinite {
                what: "output of bucketing".into(),
                detail: format!("bucket {b}, coordinate {j} mixes +inf and -inf (NaN)"),
            });
        }
        Ok(x.truncate_vectors(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;

    fn rows(u: &Updates) -> Vec<Vec<f64>> {
        u.view().cols().map(<[f64]>::to_vec).collect()
    }

    /// An absurd bucket size is one bucket (the mean), computed without allocating s weights.
    /// Fails (aborts allocating 8·10¹⁵ bytes; checked) if `apply` sizes its weight buffer by s
    /// instead of min(s, n).
    #[test]
    fn huge_bucket_size_is_one_bucket_without_allocating_it() {
        let u = Updates::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.0], vec![8.0, 0.0]]).unwrap();
        let p = Params::new().with("s", 1e15);
        let b = crate::aggregators::build_pre("bucketing", &p, Compat::Native).unwrap();
        let out = b
            .apply(u, &mut AggContext::new(&mut rng_from_seed(5)))
            .unwrap();
        assert_eq!(rows(&out), vec![vec![4.0, 2.0]]);
    }

    #[test]
    fn s1_is_a_permutation_and_s_n_is_the_mean() {
        let u = Updates::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.0], vec![8.0, 0.0]]).unwrap();
        let mut rng = rng_from_seed(5);
        let out = Bucketing::new(1)
            .unwrap()
            .apply(u.clone(), &mut AggContext::new(&mut rng))
            .unwrap();
        let mut got = rows(&out);
        got.sort_by(|a, b| a[0].total_cmp(&b[0]));
        assert_eq!(got, rows(&u));
        // s = n = 3: one bucket, the mean (12/3, 6/3) = (4, 2), whatever the permutation.
        let out = Bucketing::new(3)
            .unwrap()
            .apply(u.clone(), &mut AggContext::new(&mut rng))
            .unwrap();
        assert_eq!(rows(&out), vec![vec![4.0, 2.0]]);
    }

    #[test]
    fn buckets_follow_the_drawn_permutation() {
        // n = 5, s = 2: buckets {π0,π1}, {π2,π3} and the partial {π4}. Redraw π from the same
        // seed and compute the expected means by hand from it.
        let vals = [1.0, 2.0, 4.0, 8.0, 16.0];
        let u = Updates::from_rows(&vals.iter().map(|&v| vec![v]).collect::<Vec<_>>()).unwrap();
        let b = Bucketing::new(2).unwrap();
        assert_eq!(b.output_len(5), 3);
        let mut rng = rng_from_seed(9);
        let out = b.apply(u.clone(), &mut AggContext::new(&mut rng)).unwrap();
        let p = permutation(&mut rng_from_seed(9), 5);
        let want = [
            (vals[p[0]] + vals[p[1]]) / 2.0,
            (vals[p[2]] + vals[p[3]]) / 2.0,
            vals[p[4]],
        ];
        let got: Vec<f64> = out.view().cols().map(|c| c[0]).collect();
        assert_eq!(got, want);
        // The bucket sums of distinct powers of two identify their members, so the test also
        // shows that every input lands in exactly one bucket.
        let total: f64 = got[..2].iter().map(|g| g * 2.0).sum::<f64>() + got[2];
        assert_eq!(total, 31.0);
    }

    #[test]
    fn s_larger_than_n_and_invalid_s() {
        let u = Updates::from_rows(&[vec![1.0], vec![3.0]]).unwrap();
        let b = Bucketing::new(5).unwrap();
        assert_eq!(b.output_len(2), 1);
        let mut rng = rng_from_seed(0);
        let out = b.apply(u.clone(), &mut AggContext::new(&mut rng)).unwrap();
        assert_eq!(out.view().col(0), &[2.0]);
        assert!(Bucketing::new(0).is_err());
        assert!(crate::aggregators::build_pre(
            "bucketing",
            &Params::new().with("s", 0.0),
            Compat::Native
        )
        .is_err());
        assert!(crate::aggregators::build_pre(
            "Bucketing",
            &Params::new().with("s", 1.5),
            Compat::Native
        )
        .is_err());
    }

    /// Mutation that makes it fail: dropping the native branch (ByzFL's arithmetic: the
    /// mixed bucket errors with NaN, the 1.7e308 bucket becomes +∞), or resolving a mixed
    /// coordinate to 0 (the bucket would look finite to the next rule).
    #[test]
    fn native_buckets_are_overflow_free_and_infinite_buckets_stay_infinite() {
        let inf = f64::INFINITY;
        // s = n = 3, one bucket. Finite entries near 1.7e308: the mean is finite, 1.6e308
        // (the IEEE sum overflows; Σ x/3 = (1.7 + 1.6 + 1.5)e308/3).
        let u = Updates::from_rows(&[vec![1.7e308], vec![1.6e308], vec![1.5e308]]).unwrap();
        let mut rng = rng_from_seed(0);
        let out = Bucketing::new(3)
            .unwrap()
            .apply(u.clone(), &mut AggContext::new(&mut rng))
            .unwrap();
        assert!((out.view().col(0)[0] - 1.6e308).abs() <= 1e-15 * 1.6e308);
        let byzfl = Bucketing::new(3)
            .unwrap()
            .with_compat(Compat::Byzfl)
            .apply(u, &mut AggContext::new(&mut rng))
            .unwrap();
        assert_eq!(byzfl.view().col(0), &[inf]);
        // +∞, −∞, +∞ and a finite coordinate: coordinate 0 mixes signs (majority +∞), so the
        // bucket is a point at infinity, never NaN; coordinate 1 is the plain mean.
        let m = nalgebra::DMatrix::from_column_slice(2, 3, &[inf, 1.0, -inf, 2.0, inf, 6.0]);
        let u = Updates::new_allow_inf(m).unwrap();
        let out = Bucketing::new(3)
            .unwrap()
            .apply(u.clone(), &mut AggContext::new(&mut rng))
            .unwrap();
        assert_eq!(out.view().col(0), &[inf, 3.0]);
        // Majority −∞ gives −∞.
        let m = nalgebra::DMatrix::from_column_slice(1, 3, &[-inf, inf, -inf]);
        let u = Updates::new_allow_inf(m).unwrap();
        let out = Bucketing::new(3)
            .unwrap()
            .apply(u, &mut AggContext::new(&mut rng))
            .unwrap();
        assert_eq!(out.view().col(0), &[-inf]);
    }

    #[test]
    fn infinity_propagates_and_mixed_signs_error_under_byzfl() {
        let mut m = nalgebra::DMatrix::from_row_slice(1, 2, &[f64::INFINITY, 1.0]);
        let u = Updates::new_allow_inf(m.clone()).unwrap();
        let mut rng = rng_from_seed(0);
        let out = Bucketing::new(2)
            .unwrap()
            .apply(u.clone(), &mut AggContext::new(&mut rng))
            .unwrap();
        assert_eq!(out.view().col(0), &[f64::INFINITY]);
        m[(0, 1)] = f64::NEG_INFINITY;
        let u = Updates::new_allow_inf(m).unwrap();
        assert!(Bucketing::new(2)
            .unwrap()
            .with_compat(Compat::Byzfl)
            .apply(u.clone(), &mut AggContext::new(&mut rng))
            .is_err());
    }
}
