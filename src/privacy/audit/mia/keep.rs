//! The keep matrix: which shadow model trains on which record.
//!
//! LiRA's rule (Carlini et al., S&P 2022, arXiv 2112.03570; `mi_lira_2021/train.py`):
//! draw U uniform on [0, 1]^{M×N} and keep record j in model i iff the rank of U[i, j] within
//! column j is below M/2 (`keep = np.argsort(U, axis=0) < M/2` — note argsort, whose
//! "rank" reading is a permutation of the column's indices, is itself a uniformly random
//! permutation, so exactly M/2 models keep each record).
//!
//! lbounds applies the rule **block by block**: models are grouped in blocks of
//! [`BLOCK`] (the last block may be smaller, of even size), and block b draws its own U from
//! the stream named `mia/keep` with replicate b. Within a block this is LiRA's rule exactly
//! (for M ≤ [`BLOCK`], the whole matrix is); across blocks it makes the matrix **nested**:
//! the first 64 rows for M = 256 are the rows for M = 64, so a rerun with more models reuses
//! every cached model and trains only the new ones. Every record is still IN in exactly M/2
//! models.

use crate::rng::rng_named;
use crate::{Error, Result};
use rand::RngExt;

/// Models per block of the keep matrix (LiRA's README trains 16 shadow models).
pub const BLOCK: usize = 16;

/// Most models an audit trains (a guard against absurd `--models`).
pub const MAX_MODELS: usize = 4096;

/// A models × records boolean matrix, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeepMatrix {
    models: usize,
    records: usize,
    keep: Vec<bool>,
}

impl KeepMatrix {
    /// The block-wise LiRA keep matrix for `models` (even, 2..=[`MAX_MODELS`]) and `records`,
    /// drawn from `seed`.
    ///
    /// # Errors
    /// An odd or out-of-range model count, no records.
    pub fn lira(seed: u64, models: usize, records: usize) -> Result<KeepMatrix> {
        if models < 2 || !models.is_multiple_of(2) || models > MAX_MODELS {
            return Err(Error::invalid(
                "models",
                models,
                format!("must be even, from 2 to {MAX_MODELS} (each record is IN in half)"),
            ));
        }
        if records == 0 {
            return Err(Error::invalid("records", 0, "need at least one record"));
        }
        let mut keep = vec![false; models * records];
        let mut start = 0;
        let mut block = 0u32;
        while start < models {
            let size = BLOCK.min(models - start);
            let mut rng = rng_named(seed, block, "mia/keep");
            // U row by row (model-major), as NumPy's `np.random.uniform(0, 1, size=(M, N))`.
            let u: Vec<f64> = (0..size * records).map(|_| rng.random::<f64>()).collect();
            let mut order: Vec<usize> = (0..size).collect();
            for j in 0..records {
                // argsort of column j: order[r] = the model holding rank r.
                order.sort_by(|&a, &b| u[a * records + j].total_cmp(&u[b * records + j]));
                // keep[i, j] = argsort(U)[i, j] < size/2, i.e. the model at *position* i of
                // the argsort has its entry compared, exactly as NumPy's expression reads.
                for (i, &m) in order.iter().enumerate() {
                    keep[(start + i) * records + j] = m < size / 2;
                }
            }
            start += size;
            block += 1;
        }
        Ok(KeepMatrix {
            models,
            records,
            keep,
        })
    }

    /// Number of models (rows).
    pub fn models(&self) -> usize {
        self.models
    }

    /// Number of records (columns).
    pub fn records(&self) -> usize {
        self.records
    }

    /// Row `m`: which records model `m` trains on.
    pub fn row(&self, m: usize) -> &[bool] {
        &self.keep[m * self.records..(m + 1) * self.records]
    }

    /// The indices model `m` trains on.
    pub fn kept_indices(&self, m: usize) -> Vec<usize> {
        self.row(m)
            .iter()
            .enumerate()
            .filter(|(_, &k)| k)
            .map(|(j, _)| j)
            .collect()
    }

    /// The whole matrix, row-major.
    pub fn as_slice(&self) -> &[bool] {
        &self.keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record is IN in exactly M/2 models, for M inside one block, across blocks and
    /// with a partial last block; and rows are not all equal (the draw is random).
    /// Mutation checked: `m < size / 2` → `m <= size / 2` makes every column count
    /// M/2 + (number of blocks) and this fails.
    #[test]
    fn each_record_is_in_exactly_half_the_models() {
        for models in [2, 8, 16, 40, 64] {
            let k = KeepMatrix::lira(7, models, 300).unwrap();
            for j in 0..300 {
                let ins = (0..models).filter(|&m| k.row(m)[j]).count();
                assert_eq!(ins, models / 2, "M = {models}, record {j}");
            }
            // Rows differ and each keeps about half (Binomial-like; 300 records, ±5 sd).
            assert_ne!(k.row(0), k.row(1));
            let n0 = k.kept_indices(0).len();
            assert!((150usize.abs_diff(n0)) < 45, "{n0}");
        }
    }

    /// Nested: the first 16 rows for M = 64 are the rows for M = 16 (what makes the cache
    /// incremental); another seed gives another matrix; odd M is refused.
    #[test]
    fn nested_across_model_counts() {
        let small = KeepMatrix::lira(3, 16, 50).unwrap();
        let big = KeepMatrix::lira(3, 64, 50).unwrap();
        assert_eq!(small.as_slice(), &big.as_slice()[..16 * 50]);
        assert_ne!(small, KeepMatrix::lira(4, 16, 50).unwrap());
        assert!(KeepMatrix::lira(3, 15, 50).is_err());
        assert!(KeepMatrix::lira(3, 0, 50).is_err());
    }
}
