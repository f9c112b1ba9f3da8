//! The crate's only source of randomness.
//!
//! Every random draw in lbounds comes from a ChaCha8 stream keyed by
//! (seed, grid point, replicate). ChaCha is portable (same bytes on every platform and word
//! size) and has 2⁶⁴ independent streams per key, so results do not depend on which thread or
//! shard ran a job.

use rand::SeedableRng;

/// The only RNG type in the crate.
pub type SimRng = rand::rngs::ChaCha8Rng;

/// Largest grid-point index [`rng_for`] accepts: the point fills the upper 32 bits of the
/// stream id, the replicate the lower 32.
pub const MAX_POINT: u64 = u32::MAX as u64;

/// Independent stream for one (grid point, replicate) of a run seeded with `seed`.
///
/// Unlike `seed + i`, neighbouring seeds never share streams (seed 42 job 1 ≠ seed 43 job 0).
///
/// # Errors
/// [`crate::Error::InvalidParameter`] when `point` exceeds [`MAX_POINT`].
pub fn rng_for(seed: u64, point: u64, replicate: u32) -> crate::Result<SimRng> {
    if point > MAX_POINT {
        return Err(crate::Error::invalid(
            "point",
            point,
            format!("grid points are numbered below 2^32 = {}", MAX_POINT + 1),
        ));
    }
    let mut rng = SimRng::seed_from_u64(seed);
    rng.set_stream((point << 32) | u64::from(replicate));
    Ok(rng)
}

/// A stream for a one-off computation (a CLI call, a test) keyed by `seed` alone.
pub fn rng_from_seed(seed: u64) -> SimRng {
    SimRng::seed_from_u64(seed)
}

/// Uniform index in `0..n` drawn from a `u64` (never from a width-dependent `usize` draw).
///
/// Uses Lemire's multiply-shift with rejection, so it is exactly uniform.
pub fn uniform_index(rng: &mut SimRng, n: usize) -> usize {
    use rand::Rng;
    assert!(n > 0, "invariant: uniform_index on an empty range");
    let n = n as u64;
    let zone = u64::MAX - (u64::MAX - n + 1) % n;
    loop {
        let v = rng.next_u64();
        let m = u128::from(v) * u128::from(n);
        if (m as u64) <= zone {
            return (m >> 64) as usize;
        }
    }
}

/// Fisher–Yates shuffle of `0..n` driven by [`uniform_index`] (portable across word sizes).
pub fn permutation(rng: &mut SimRng, n: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = uniform_index(rng, i + 1);
        p.swap(i, j);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_differ_and_repeat() {
        let a = rng_for(42, 1, 0).unwrap().next_u64();
        let b = rng_for(43, 0, 1).unwrap().next_u64();
        let a2 = rng_for(42, 1, 0).unwrap().next_u64();
        assert_eq!(a, a2);
        assert_ne!(a, b);
        assert!(rng_for(1, MAX_POINT + 1, 0).is_err());
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut rng = rng_from_seed(7);
        let mut p = permutation(&mut rng, 100);
        p.sort_unstable();
        assert_eq!(p, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn uniform_index_covers_range() {
        let mut rng = rng_from_seed(1);
        let mut seen = [0u32; 5];
        for _ in 0..5000 {
            seen[uniform_index(&mut rng, 5)] += 1;
        }
        // Each bucket expects 1000 with sd ≈ 28; 850 is > 5 sd away.
        assert!(seen.iter().all(|&c| c > 850), "{seen:?}");
    }
}
