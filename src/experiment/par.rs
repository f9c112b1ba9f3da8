//! The parallel map inside one run: a training round's clients, computed at once.
//!
//! Sweeps parallelise over runs ([`super::run_streaming`]); a training run also has
//! independent work inside each round (every honest client's local step). That map lives
//! here, beside the runner, so parallelism stays in this module. Each item is processed by
//! one call that sees only that item and its index, and the results come back in index
//! order, so the output is the same bytes for any number of threads (every random draw an
//! item needs comes from its own named stream, never from a shared one).

use rayon::prelude::*;

/// `f(i, &mut items[i])` for every i, in parallel; the results in index order.
///
/// Deterministic: `f` gets exclusive access to its item and nothing shared that it could
/// mutate, and rayon's indexed collect keeps the order, so the result does not depend on the
/// thread count or on scheduling.
pub fn par_map_indexed<T, R, F>(items: &mut [T], f: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(usize, &mut T) -> R + Sync + Send,
{
    items
        .par_iter_mut()
        .enumerate()
        .map(|(i, item)| f(i, item))
        .collect()
}

/// `f()` run on a worker thread of the current rayon pool, the caller waiting: the parallel
/// maps `f` starts then start from inside the pool. With one thread they run inline; from
/// outside, each map hands its work to the pool's thread and waits to be woken, and on this
/// project's VMs those hand-offs cost a tenth of a softmax D-SGD round (docs/performance.md,
/// "inplace13"). The results are the same either way.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_named;
    use rand::Rng;

    /// `on_pool` runs its closure on a thread of the pool (a test's own thread is none of
    /// them) and returns its value, with the maps started inside in index order. Mutation
    /// that makes it fail: `on_pool` calling `f()` on the caller's thread.
    #[test]
    fn on_pool_runs_on_a_worker() {
        assert_eq!(rayon::current_thread_index(), None);
        let (index, out) = on_pool(|| {
            let mut items = [1, 2, 3];
            let out = par_map_indexed(&mut items, |i, x| *x * 10 + i);
            (rayon::current_thread_index(), out)
        });
        assert!(index.is_some(), "on a pool thread");
        assert_eq!(out, vec![10, 21, 32]);
    }

    /// The same results for 1, 2 and 3 threads, in index order, each item mutated once.
    /// Items sleep longer the smaller their index, so with two or more threads they finish
    /// out of index order: an implementation whose output or draws follow completion order
    /// differs from the one-thread run. Mutation that makes it fail (checked): drawing from
    /// one stream shared by all items (behind a mutex) instead of the item's own named
    /// stream — the draws then follow scheduling.
    #[test]
    fn identical_for_any_thread_count() {
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut items: Vec<u64> = (0..64).collect();
                let out = par_map_indexed(&mut items, |i, x| {
                    std::thread::sleep(std::time::Duration::from_micros(20 * (64 - i as u64)));
                    *x += 1;
                    let mut rng = rng_named(7, 0, &format!("item/{i}"));
                    (0..1000).map(|_| rng.next_u64() % 1000).sum::<u64>() + *x
                });
                (items, out)
            })
        };
        let one = run(1);
        assert_eq!(one.0, (1..=64).collect::<Vec<u64>>());
        assert_eq!(run(2), one);
        assert_eq!(run(3), one);
    }
}
