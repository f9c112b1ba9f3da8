//! The crate's only source of randomness.
//!
//! Every random draw in lbounds comes from a ChaCha8 stream keyed by
//! (seed, grid point, replicate) ([`rng_for`]) or, where several arms of one replicate must
//! share their draws (common random numbers), by (seed, replicate, NAME) ([`rng_named`]):
//! never by a position in a list. ChaCha is portable (same bytes on every platform and word
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

/// The stream named `name` in replicate `replicate` of a run seeded with `seed`.
///
/// It depends on nothing else (no grid point, no list position), so two experiments that ask
/// for the same name in the same replicate draw the same numbers: `simulate` gives every rule
/// and attack of a replicate the same honest users this way (common random numbers), and each
/// attack or random rule its own stream keyed by its label.
///
/// The ChaCha key is seed (8 bytes, little-endian) ‖ FNV-1a-64(name) (8 bytes) ‖ the tag
/// `"lbounds/named"` padded with zeros; the stream id is the replicate. Two names collide with
/// probability 2⁻⁶⁴; the tag keeps these keys apart from [`rng_for`]'s.
pub fn rng_named(seed: u64, replicate: u32, name: &str) -> SimRng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&fnv1a64(name.as_bytes()).to_le_bytes());
    let tag = b"lbounds/named";
    key[16..16 + tag.len()].copy_from_slice(tag);
    let mut rng = SimRng::from_seed(key);
    rng.set_stream(u64::from(replicate));
    rng
}

/// FNV-1a, 64-bit (Fowler, Noll & Vo; offset basis 0xcbf29ce484222325, prime 0x100000001b3):
/// a fixed, portable hash of a name (std's hashers are randomised or unspecified).
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
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
    fn named_streams_depend_on_seed_replicate_and_name_only() {
        // FNV-1a-64 known answers (the reference test vectors: "" and "a").
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        let x = |s, r, n| rng_named(s, r, n).next_u64();
        assert_eq!(x(1, 2, "population"), x(1, 2, "population"));
        assert_ne!(x(1, 2, "population"), x(1, 3, "population"));
        assert_ne!(x(1, 2, "population"), x(2, 2, "population"));
        assert_ne!(x(1, 2, "rule/caf"), x(1, 2, "rule/smea"));
        // Apart from the point-keyed streams.
        assert_ne!(x(1, 0, ""), rng_for(1, 0, 0).unwrap().next_u64());
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
