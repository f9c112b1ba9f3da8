//! The one experiment runner: a grid of points × replicates, mapped in parallel.
//!
//! Every experiment in lbounds (robust aggregation today; DP estimation, distributed SGD and
//! memorization audits later) implements [`Experiment`]; [`run`] is the only loop over grid
//! points and seeds in the crate and the only place where parallelism over runs happens.
//!
//! Determinism: job `(point, replicate)` draws from [`rng_for`]`(seed, point, replicate)` and
//! nothing else, and the output vector is in job order (indexed parallel map), so the records
//! are identical whatever the number of threads. Reductions over records ([`summary`]) are
//! serial.

pub mod privacy;
pub mod robust;
pub mod summary;

use crate::rng::{rng_for, SimRng, MAX_POINT};
use crate::{Error, Result};
use rayon::prelude::*;
use serde::Serialize;

/// One kind of experiment: what a single (grid point, replicate) run computes.
pub trait Experiment: Sync {
    /// Parameters of one grid point.
    type Point: Serialize + Sync;
    /// What one run produces.
    type Output: Serialize + Send;

    /// Runs once at `point`, drawing every random number from `rng`.
    ///
    /// # Errors
    /// Whatever the experiment rejects; the whole run stops at the first error.
    fn run_once(&self, point: &Self::Point, rng: &mut SimRng) -> Result<Self::Output>;
}

/// One run's result with the coordinates that reproduce it.
#[derive(Clone, Debug, Serialize)]
pub struct Record<'p, P, O> {
    /// Index of the grid point (canonical expansion order).
    pub point: u64,
    /// Replicate index at that point.
    pub replicate: u32,
    /// The point's parameters.
    pub params: &'p P,
    /// The run's output.
    pub output: O,
}

/// Runs `replicates` replicates of every point, in parallel, deterministically.
///
/// `on_done` is called once per finished job (from worker threads, in no particular order):
/// it drives progress bars and must not influence results.
///
/// # Errors
/// [`Error::InvalidParameter`] for zero replicates or more than 2³² points; the first error
/// of a run (in job order).
pub fn run<'p, E: Experiment>(
    exp: &E,
    points: &'p [E::Point],
    replicates: u32,
    seed: u64,
    on_done: &(dyn Fn() + Sync),
) -> Result<Vec<Record<'p, E::Point, E::Output>>> {
    if replicates == 0 {
        return Err(Error::invalid(
            "replicates",
            0,
            "need at least one replicate",
        ));
    }
    if points.len() as u64 > MAX_POINT + 1 {
        return Err(Error::invalid(
            "grid points",
            points.len(),
            "at most 2^32 points per run (the point index keys the random stream)",
        ));
    }
    let jobs: Vec<(u64, u32)> = (0..points.len() as u64)
        .flat_map(|p| (0..replicates).map(move |r| (p, r)))
        .collect();
    jobs.into_par_iter()
        .map(|(point, replicate)| {
            let mut rng = rng_for(seed, point, replicate)?;
            let params = &points[point as usize];
            let output = exp.run_once(params, &mut rng)?;
            on_done();
            Ok(Record {
                point,
                replicate,
                params,
                output,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    struct Draw;
    impl Experiment for Draw {
        type Point = u64;
        type Output = u64;
        fn run_once(&self, point: &u64, rng: &mut SimRng) -> Result<u64> {
            Ok(point ^ rng.next_u64())
        }
    }

    #[test]
    fn same_records_for_any_thread_count() {
        let points: Vec<u64> = (0..37).collect();
        let go = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| run(&Draw, &points, 5, 9, &|| ()).unwrap())
                .into_iter()
                .map(|r| (r.point, r.replicate, r.output))
                .collect::<Vec<_>>()
        };
        let one = go(1);
        assert_eq!(one.len(), 37 * 5);
        assert_eq!(one, go(3));
        assert_eq!(one[6].0, 1);
        assert_eq!(one[6].1, 1);
    }

    #[test]
    fn rejects_zero_replicates() {
        assert!(run(&Draw, &[1], 0, 0, &|| ()).is_err());
    }
}
