//! The one experiment runner: jobs (grid point × replicate) mapped in parallel, streamed out.
//!
//! Every experiment in lbounds (robust aggregation today; DP estimation, distributed SGD and
//! memorization audits later) implements [`Experiment`]; [`run_streaming`] (records in job
//! order) and [`run_as_completed`] (records as jobs finish) are the only loops over grid
//! points and seeds in the crate and the only places where parallelism over runs happens.
//! [`run`] (all records in memory, for `lbounds simulate`) is built on it; the
//! sweeps of [`sweep`] (records streamed to disk as each job finishes, resumable, sharded)
//! use [`run_as_completed`].
//!
//! Determinism: job `(point, replicate)` draws from [`rng_for`]`(seed, point, replicate)`, or,
//! for an experiment that overrides [`Experiment::run_job`], from streams keyed by (seed,
//! replicate, a name) ([`crate::rng::rng_named`]), and nothing else; records reach the sink in job order (jobs run in chunks; each chunk is
//! an indexed parallel map, emitted in order before the next starts), so the records are
//! identical whatever the number of threads. Memory is bounded by one chunk of records, not
//! by the grid. Reductions over records ([`summary`]) are serial.

pub mod audit;
pub mod block;
pub mod config;
pub mod dp_robust;
pub mod exposure;
pub mod memorize;
pub mod mia;
pub mod onion;
pub mod par;
pub mod privacy;
pub mod robust;
pub mod summary;
pub mod sweep;
pub mod train;
pub mod unlearn;

pub use par::{on_pool, par_map_indexed};

use crate::rng::{rng_for, rng_named, SimRng, MAX_POINT};
use crate::{Error, Result};
use rayon::prelude::*;
use serde::Serialize;

/// One kind of experiment: what a single (grid point, replicate) run computes.
pub trait Experiment: Sync {
    /// Parameters of one grid point.
    type Point: Serialize + Send + Sync;
    /// What one run produces.
    type Output: Serialize + Send;

    /// Runs once at `point`, drawing every random number from `rng`.
    ///
    /// # Errors
    /// Whatever the experiment rejects; the whole run stops at the first error.
    fn run_once(&self, point: &Self::Point, rng: &mut SimRng) -> Result<Self::Output>;

    /// Runs job `job` at `point`: what the runner calls. The default draws everything from
    /// the job's point-keyed stream ([`Job::rng`]) through [`Experiment::run_once`]. An
    /// experiment whose grid points are arms compared on the same data (rules and attacks in
    /// `simulate`) overrides it to draw from streams keyed by names ([`Job::named`]), so that
    /// every arm of a replicate sees the same draws whatever the list of arms.
    ///
    /// # Errors
    /// Those of the experiment.
    fn run_job(&self, point: &Self::Point, job: Job) -> Result<Self::Output> {
        self.run_once(point, &mut job.rng()?)
    }
}

/// The coordinates of one job: the run's seed, the grid point and the replicate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Job {
    /// The run's seed.
    pub seed: u64,
    /// Index of the grid point.
    pub point: u64,
    /// Replicate index.
    pub replicate: u32,
}

impl Job {
    /// The job's point-keyed stream, [`rng_for`]`(seed, point, replicate)`.
    ///
    /// # Errors
    /// Those of [`rng_for`] (a point ≥ 2³²).
    pub fn rng(&self) -> Result<SimRng> {
        rng_for(self.seed, self.point, self.replicate)
    }

    /// The stream `name` of this replicate, the same at every grid point:
    /// [`rng_named`]`(seed, replicate, name)`.
    pub fn named(&self, name: &str) -> SimRng {
        rng_named(self.seed, self.replicate, name)
    }
}

/// One run's result with the coordinates that reproduce it.
#[derive(Clone, Debug, Serialize)]
pub struct Record<P, O> {
    /// Index of the grid point (canonical expansion order).
    pub point: u64,
    /// Replicate index at that point.
    pub replicate: u32,
    /// The point's parameters.
    pub params: P,
    /// The run's output.
    pub output: O,
}

/// Default number of jobs per parallel chunk: enough to keep every thread busy (a chunk
/// ends with a short tail where threads wait) and few enough to keep memory small.
pub fn default_chunk() -> usize {
    256 * rayon::current_num_threads().max(1)
}

/// Runs `jobs` (pairs (point, replicate), in the order given), `chunk` at a time in
/// parallel, turns every record into a `T` with `finish` (on the worker, e.g. serialising it)
/// and hands those to `sink` in job order.
///
/// `point_at` builds the parameters of a point from its index (called once per job, on
/// worker threads), so a grid never has to be held in memory. `on_done` is called once per
/// finished job (from worker threads, in no particular order): it drives progress bars and
/// must not influence results. `sink` runs on a writer thread of its own, one chunk behind
/// the workers.
///
/// # Errors
/// [`Error::InvalidParameter`] for a point index ≥ 2³²; the first error of a chunk in job
/// order (from `point_at` or the experiment), or of `sink`. Records of jobs before the
/// failing one in that chunk have been handed to `sink`.
#[allow(clippy::too_many_arguments)]
pub fn run_streaming<E, F, M, T, S>(
    exp: &E,
    point_at: F,
    jobs: impl IntoIterator<Item = (u64, u32)>,
    seed: u64,
    chunk: usize,
    on_done: &(dyn Fn() + Sync),
    finish: M,
    mut sink: S,
) -> Result<()>
where
    E: Experiment,
    F: Fn(u64) -> Result<E::Point> + Sync,
    M: Fn(Record<E::Point, E::Output>) -> Result<T> + Sync,
    T: Send,
    S: FnMut(T) -> Result<()> + Send,
{
    let chunk = chunk.max(1);
    let mut jobs = jobs.into_iter();
    let mut batch: Vec<(u64, u32)> = Vec::with_capacity(chunk);
    // The sink runs on its own thread, one chunk behind the workers, so that writing never
    // leaves the pool idle; at most two chunks of results exist at a time.
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<T>>(1);
        let writer = scope.spawn(move || -> Result<()> {
            for done in rx {
                for t in done {
                    sink(t)?;
                }
            }
            Ok(())
        });
        let mut result = Ok(());
        loop {
            batch.clear();
            batch.extend(jobs.by_ref().take(chunk));
            if batch.is_empty() {
                break;
            }
            let done: Vec<Result<T>> = batch
                .par_iter()
                .map(|&(point, replicate)| {
                    if point > MAX_POINT {
                        return Err(Error::invalid(
                            "grid points",
                            point,
                            "at most 2^32 points per run (the point index keys the random stream)",
                        ));
                    }
                    let job = Job {
                        seed,
                        point,
                        replicate,
                    };
                    let params = point_at(point)?;
                    let output = exp.run_job(&params, job)?;
                    let t = finish(Record {
                        point,
                        replicate,
                        params,
                        output,
                    })?;
                    on_done();
                    Ok(t)
                })
                .collect();
            // Everything before the first error (in job order) still reaches the sink.
            let mut good = Vec::with_capacity(done.len());
            let mut failed = None;
            for r in done {
                match r {
                    Ok(t) => good.push(t),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            // A closed channel means the sink failed; its error is reported below.
            if tx.send(good).is_err() {
                break;
            }
            if let Some(e) = failed {
                result = Err(e);
                break;
            }
        }
        drop(tx);
        match writer.join() {
            Ok(w) => w.and(result),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Runs `jobs` (pairs (point, replicate)) in parallel and hands every finished job to `sink`
/// **as soon as it finishes**, with its position `k` in `jobs` (so a caller can restore job
/// order later). Unlike [`run_streaming`], no record waits for slower jobs before it: a
/// process killed at any moment loses only the jobs that were running.
///
/// Jobs start in the order given, and job `k` starts only once every job before `k − window`
/// has been handed to `sink`; so the sink sees job `k` after every job `j ≤ k − window`, and a
/// reader can put the sink's output back in job order holding fewer than `window` records
/// (see [`sweep`]'s finishing pass). `window` also bounds the records in memory. Results do
/// not depend on timing: each job draws only from the streams of [`Experiment::run_job`]
/// (by default [`rng_for`]`(seed, point, replicate)`).
///
/// `on_done` is called once per finished job, from worker threads (progress only). `sink`
/// runs on a writer thread of its own.
///
/// # Errors
/// [`Error::InvalidParameter`] for a point index ≥ 2³²; else the error of the first failing
/// job in job order (when job `k` fails, no job after it starts, every job before it has
/// already started and runs to the end, its record reaching `sink`), or the first error of
/// `sink`. A panicking job is resumed on the caller's thread once the others have stopped.
#[allow(clippy::too_many_arguments)]
pub fn run_as_completed<E, F, M, T, S>(
    exp: &E,
    point_at: F,
    jobs: impl IntoIterator<Item = (u64, u32)>,
    seed: u64,
    window: usize,
    on_done: &(dyn Fn() + Sync),
    finish: M,
    mut sink: S,
) -> Result<()>
where
    E: Experiment,
    F: Fn(u64) -> Result<E::Point> + Sync,
    M: Fn(Record<E::Point, E::Output>) -> Result<T> + Sync,
    T: Send,
    S: FnMut(u64, T) -> Result<()> + Send,
{
    use std::collections::BTreeSet;
    use std::sync::{Condvar, Mutex, PoisonError};
    type Outcome<T> = std::thread::Result<Result<T>>;

    /// Jobs started and not yet through the sink, and whether to start no more.
    struct Window {
        open: BTreeSet<u64>,
        stop: bool,
    }
    let window = window.max(1) as u64;
    let state = Mutex::new(Window {
        open: BTreeSet::new(),
        stop: false,
    });
    let moved = Condvar::new();
    let lock = || state.lock().unwrap_or_else(PoisonError::into_inner);
    let one = |point: u64, replicate: u32| -> Result<T> {
        if point > MAX_POINT {
            return Err(Error::invalid(
                "grid points",
                point,
                "at most 2^32 points per run (the point index keys the random stream)",
            ));
        }
        let job = Job {
            seed,
            point,
            replicate,
        };
        let params = point_at(point)?;
        let output = exp.run_job(&params, job)?;
        finish(Record {
            point,
            replicate,
            params,
            output,
        })
    };
    std::thread::scope(|threads| {
        let (tx, rx) = std::sync::mpsc::channel::<(u64, Outcome<T>)>();
        let (moved, lock) = (&moved, &lock);
        let writer = threads.spawn(move || {
            // The first failure in job order, and a panic to resume.
            let mut failed: Option<(u64, Error)> = None;
            let mut panic = None;
            for (k, outcome) in rx {
                let result = match outcome {
                    Ok(Ok(t)) if failed.is_none() && panic.is_none() => sink(k, t),
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(e),
                    Err(p) => {
                        panic = Some(p);
                        Ok(())
                    }
                };
                let mut w = lock();
                w.open.remove(&k);
                if let Err(e) = result {
                    w.stop = true;
                    if failed.as_ref().is_none_or(|(j, _)| k < *j) {
                        failed = Some((k, e));
                    }
                }
                w.stop |= panic.is_some();
                drop(w);
                moved.notify_all();
            }
            (failed, panic)
        });
        let on_worker = rayon::current_thread_index().is_some();
        rayon::in_place_scope(|scope| {
            for (k, (point, replicate)) in (0u64..).zip(jobs) {
                let mut w = lock();
                while !w.stop && w.open.first().is_some_and(|&low| k >= low + window) {
                    if on_worker {
                        // Called from inside the pool (a bench, a nested sweep): run queued
                        // jobs here instead of blocking a worker they may need.
                        drop(w);
                        if !matches!(rayon::yield_now(), Some(rayon::Yield::Executed)) {
                            std::thread::sleep(std::time::Duration::from_micros(200));
                        }
                        w = lock();
                    } else {
                        w = moved.wait(w).unwrap_or_else(PoisonError::into_inner);
                    }
                }
                if w.stop {
                    break;
                }
                w.open.insert(k);
                drop(w);
                let tx = tx.clone();
                let one = &one;
                scope.spawn(move |_| {
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        one(point, replicate)
                    }));
                    if matches!(outcome, Ok(Ok(_))) {
                        on_done();
                    }
                    // The writer outlives every job (it ends when the last sender drops).
                    let _ = tx.send((k, outcome));
                });
            }
        });
        drop(tx);
        let (failed, panic) = match writer.join() {
            Ok(r) => r,
            Err(p) => std::panic::resume_unwind(p),
        };
        if let Some(p) = panic {
            std::panic::resume_unwind(p);
        }
        failed.map_or(Ok(()), |(_, e)| Err(e))
    })
}

/// Runs `replicates` replicates of every point, in parallel, deterministically, and returns
/// the records in job order (point-major).
///
/// `on_done` is called once per finished job (from worker threads, in no particular order):
/// it drives progress bars and must not influence results.
///
/// # Errors
/// [`Error::InvalidParameter`] for zero replicates or more than 2³² points; the first error
/// of a run (in job order).
pub fn run<E: Experiment>(
    exp: &E,
    points: &[E::Point],
    replicates: u32,
    seed: u64,
    on_done: &(dyn Fn() + Sync),
) -> Result<Vec<Record<E::Point, E::Output>>>
where
    E::Point: Clone,
{
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
    let jobs = (0..points.len() as u64).flat_map(|p| (0..replicates).map(move |r| (p, r)));
    let mut out = Vec::with_capacity(points.len() * replicates as usize);
    run_streaming(
        exp,
        |p| Ok(points[p as usize].clone()),
        jobs,
        seed,
        default_chunk(),
        on_done,
        Ok,
        |r| {
            out.push(r);
            Ok(())
        },
    )?;
    Ok(out)
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
    fn streaming_keeps_job_order_across_chunks() {
        // Chunks of 4 over 10 jobs: the sink sees the jobs in the order given.
        let jobs: Vec<(u64, u32)> = vec![(3, 0), (1, 2), (0, 0), (7, 1), (2, 0), (9, 0)]
            .into_iter()
            .chain((10..14).map(|p| (p, 0)))
            .collect();
        let mut seen = Vec::new();
        run_streaming(&Draw, Ok, jobs.clone(), 1, 4, &|| (), Ok, |r| {
            seen.push((r.point, r.replicate));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, jobs);
    }

    #[test]
    fn rejects_zero_replicates_and_huge_points() {
        assert!(run(&Draw, &[1], 0, 0, &|| ()).is_err());
        let r = run_streaming(
            &Draw,
            Ok,
            [(MAX_POINT + 1, 0)],
            0,
            1,
            &|| (),
            Ok,
            |_| Ok(()),
        );
        assert!(r.is_err());
    }
}
