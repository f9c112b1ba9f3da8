//! Helpers shared by the benches (not a bench target: Cargo only builds `benches/*.rs`).

/// The memory-bandwidth yardstick: every entry read once on every core, with 32 independent
/// accumulators compiled for the widest vector instructions (as the kernels are), so that
/// neither the add latency nor the instruction count bounds it: on the measurement machine,
/// 8 accumulators on the SSE2 baseline ran at 18.9 ms for d = 10⁶ and this at 14 ms.
pub fn bandwidth_sum(x: &[f64]) -> f64 {
    use rayon::prelude::*;
    x.par_chunks(1 << 16)
        .map(|c| {
            lbounds::simd::widest(
                #[inline(always)]
                || {
                    let mut acc = [0.0f64; 32];
                    let mut it = c.chunks_exact(32);
                    for w in &mut it {
                        for (a, v) in acc.iter_mut().zip(w) {
                            *a += v;
                        }
                    }
                    acc.iter().sum::<f64>() + it.remainder().iter().sum::<f64>()
                },
            )
        })
        .sum()
}
