//! Runtime choice of the widest vector instructions the CPU has, for the hot kernels.
//!
//! The crate is built for the baseline of its target (SSE2 on x86-64) so that one binary runs
//! everywhere. The hot loops (sorting networks across coordinates, distance sums, weighted
//! sums) are written as fixed-width lane arrays that the compiler turns into packed
//! instructions; [`widest`] runs such a loop compiled a second time for AVX-512 or AVX2 when
//! the CPU supports them (checked once, then a cached flag).
//!
//! Results are bit-identical on every path: the kernels fix their association order in the
//! source (lane arrays, explicit partial sums), Rust never contracts `a * b + c` into a fused
//! multiply-add on its own (an explicit `mul_add` is correctly rounded everywhere: one
//! instruction on the AVX paths, which all have FMA, a library call on the baseline), and
//! packed min/max equal their scalar forms on the non-NaN values the kernels see.
//! `tests::every_path_gives_the_same_bits` checks this on the CPU it runs on.
//!
//! Public so that the benches measure their memory-bandwidth yardstick with the same code
//! generation as the kernels they are compared with.
//!
//! This is the crate's only `unsafe`: calling a function compiled for an instruction set is
//! sound only after checking that the CPU has it, which [`widest`] does right before the call.
#![allow(unsafe_code)]

/// Runs `f`, compiled for the widest instruction set available at run time.
///
/// `f` must be a closure whose body holds the whole hot loop: the compiler inlines it into a
/// function built with the wider instruction set, together with the `#[inline]` helpers it
/// calls. Work handed to other threads inside `f` (rayon) does not inherit the choice, so call
/// `widest` inside each parallel task, not around the parallel loop.
#[inline(always)]
pub fn widest<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (and therefore AVX2/AVX), checked just above.
            return unsafe { x86::avx512(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { x86::avx2(f) };
        }
    }
    f()
}

/// Whether [`widest`] runs on AVX-512 (32 vector registers of eight f64): kernels that keep
/// many accumulators in registers size their tiles by it.
pub fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Asks the CPU to bring `v` into the L2 cache ahead of use: a hint, with no effect on
/// results. Kernels that alternate between reading a block from memory and computing on it
/// call this for the next block while they compute, so the two overlap.
#[inline(always)]
pub fn prefetch(v: &[f64]) {
    #[cfg(target_arch = "x86_64")]
    for line in v.chunks(8) {
        // SAFETY: a prefetch never faults and writes nothing; SSE is part of x86-64's baseline,
        // and the address is that of a live slice anyway.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(
                line.as_ptr().cast(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    /// `f` compiled with AVX-512F.
    ///
    /// # Safety
    /// The CPU supports AVX-512F. (`unsafe fn` rather than a safe `#[target_feature]` fn,
    /// which needs Rust 1.86; the crate supports 1.85.)
    #[target_feature(enable = "avx512f,avx2,avx")]
    pub(super) unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
        f()
    }

    /// `f` compiled with AVX2 and FMA.
    ///
    /// # Safety
    /// The CPU supports AVX2 and FMA.
    #[target_feature(enable = "avx2,avx,fma")]
    pub(super) unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
        f()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernels' association order is in the source, so the portable and the dispatched
    /// builds must agree to the last bit: a pruned sorting network followed by lane-wise sums
    /// (the trimmed mean's kernel) run both ways on the same wires.
    #[test]
    fn every_path_gives_the_same_bits() {
        use crate::aggregators::coordinatewise::{Lane, SortingNetwork, LANES};
        let n = 50;
        let wires: Vec<Lane> = (0..n)
            .map(|i| {
                let mut w = Lane::ZERO;
                for (l, v) in w.iter_mut().enumerate() {
                    *v = (((i * 7919 + l * 104_729) % 1013) as f64 / 37.0).sin() * 1e3;
                }
                w
            })
            .collect();
        let net = SortingNetwork::selecting(n, 10..40);
        #[inline(always)]
        fn kernel(net: &SortingNetwork, mut w: Vec<Lane>) -> Vec<u64> {
            net.apply(&mut w);
            let mut s = [0.0f64; LANES];
            for wire in &w[10..40] {
                for l in 0..LANES {
                    s[l] += wire[l] / 3.0;
                }
            }
            s.iter().map(|v| v.to_bits()).collect()
        }
        let portable = kernel(&net, wires.clone());
        let wide = widest(
            #[inline(always)]
            || kernel(&net, wires.clone()),
        );
        assert_eq!(portable, wide);
    }
}
