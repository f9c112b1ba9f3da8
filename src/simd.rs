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
//! sound only after checking that the CPU has it, which [`widest`] does right before the call,
//! and so is an instruction called by hand, which [`Avx512`] does by existing only after the
//! check.
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

/// Whether the CPU issues vector additions and subtractions on pipes of their own beside the
/// multiply-adds' (AMD's Zen cores: FP2 and FP3 add, FP0 and FP1 multiply-add), rather than on
/// the multiply-adds' ports (Intel's cores: ports 0 and 5 for 512-bit vectors). A kernel that
/// subtracts before each multiply-add gets the subtractions for free on the first kind.
pub fn adds_beside_multiply_adds() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // CPUID traps to the hypervisor on a VM: asked once.
        static ZEN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *ZEN.get_or_init(|| {
            // Safe from Rust 1.94 on; unsafe before (the crate builds from 1.89).
            #[allow(unused_unsafe)]
            // SAFETY: CPUID exists on every x86-64 CPU and only reads identification.
            let id = unsafe { std::arch::x86_64::__cpuid(0) };
            let vendor = [id.ebx, id.edx, id.ecx].map(u32::to_le_bytes).concat();
            // Hygon's Dhyana is a Zen core.
            vendor == b"AuthenticAMD" || vendor == b"HygonGenuine"
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Lane-wise operations on `L` f64 values held as one vector, for kernels written once for
/// every instruction set: [`Portable`] lane arrays that the compiler vectorises, or
/// [`Avx512`] registers with instructions picked by hand. An implementor is a zero-sized
/// token passed by value; its vectors exist only through it.
///
/// Each operation is specified by its scalar form, and every implementor gives the same bits,
/// NaN and signed zeros included: kernels get the same results whichever one runs.
pub trait Lanes<const L: usize>: Copy {
    /// `L` values in one vector.
    type V: Copy;
    /// The vector of `a`'s values.
    fn vector(self, a: [f64; L]) -> Self::V;
    /// The values of `v`.
    fn values(self, v: Self::V) -> [f64; L];
    /// `x` in every lane.
    fn splat(self, x: f64) -> Self::V;
    /// `a < b ? a : b` lane by lane (x86 `minpd a, b`).
    fn min(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a < b ? b : a` lane by lane (x86 `maxpd b, a`).
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
    /// `(min(a, b), max(a, b))`: a compare-exchange.
    fn exchange(self, a: Self::V, b: Self::V) -> (Self::V, Self::V);
    /// `a + b` lane by lane.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a − b` lane by lane.
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a·b` lane by lane.
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a·b + c` lane by lane, rounded once (`f64::mul_add`, x86 `vfmadd`).
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// The columns of the `L` × `L` matrix whose rows are `rows`: lane i of vector j is
    /// `rows[i][j]` (values moved, not computed).
    fn columns(self, rows: [&[f64; L]; L]) -> [Self::V; L];
}

/// [`Lanes`] as plain lane arrays, any width: the compiler picks the instructions, for the
/// instruction set [`widest`] compiles the caller with.
#[derive(Clone, Copy, Debug)]
pub struct Portable;

impl<const L: usize> Lanes<L> for Portable {
    type V = [f64; L];

    #[inline(always)]
    fn vector(self, a: [f64; L]) -> [f64; L] {
        a
    }

    #[inline(always)]
    fn values(self, v: [f64; L]) -> [f64; L] {
        v
    }

    #[inline(always)]
    fn splat(self, x: f64) -> [f64; L] {
        [x; L]
    }

    // Plain loops, not `array::map`: its closure is not inlined into the caller's instruction
    // set.
    #[inline(always)]
    fn min(self, a: [f64; L], b: [f64; L]) -> [f64; L] {
        let mut m = [0.0; L];
        for l in 0..L {
            m[l] = if a[l] < b[l] { a[l] } else { b[l] };
        }
        m
    }

    #[inline(always)]
    fn max(self, a: [f64; L], b: [f64; L]) -> [f64; L] {
        let mut m = [0.0; L];
        for l in 0..L {
            m[l] = if a[l] < b[l] { b[l] } else { a[l] };
        }
        m
    }

    #[inline(always)]
    fn exchange(self, a: [f64; L], b: [f64; L]) -> ([f64; L], [f64; L]) {
        (self.min(a, b), self.max(a, b))
    }

    #[inline(always)]
    fn add(self, a: [f64; L], b: [f64; L]) -> [f64; L] {
        let mut s = [0.0; L];
        for l in 0..L {
            s[l] = a[l] + b[l];
        }
        s
    }

    #[inline(always)]
    fn sub(self, a: [f64; L], b: [f64; L]) -> [f64; L] {
        let mut s = [0.0; L];
        for l in 0..L {
            s[l] = a[l] - b[l];
        }
        s
    }

    #[inline(always)]
    fn mul(self, a: [f64; L], b: [f64; L]) -> [f64; L] {
        let mut s = [0.0; L];
        for l in 0..L {
            s[l] = a[l] * b[l];
        }
        s
    }

    #[inline(always)]
    fn mul_add(self, a: [f64; L], b: [f64; L], c: [f64; L]) -> [f64; L] {
        let mut m = [0.0; L];
        for l in 0..L {
            m[l] = a[l].mul_add(b[l], c[l]);
        }
        m
    }

    #[inline(always)]
    fn columns(self, rows: [&[f64; L]; L]) -> [[f64; L]; L] {
        let mut t = [[0.0; L]; L];
        for (i, row) in rows.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                t[j][i] = v;
            }
        }
        t
    }
}

/// [`Lanes`] of eight f64 for the token `$t` as the [`Portable`] lanes: the tokens' impls off
/// x86-64, where no token is ever made.
#[cfg(not(target_arch = "x86_64"))]
macro_rules! portable_lanes {
    ($t:ty) => {
        impl Lanes<8> for $t {
            type V = [f64; 8];
            fn vector(self, a: [f64; 8]) -> [f64; 8] {
                a
            }
            fn values(self, v: [f64; 8]) -> [f64; 8] {
                v
            }
            fn splat(self, x: f64) -> [f64; 8] {
                [x; 8]
            }
            fn min(self, a: [f64; 8], b: [f64; 8]) -> [f64; 8] {
                <Portable as Lanes<8>>::min(Portable, a, b)
            }
            fn max(self, a: [f64; 8], b: [f64; 8]) -> [f64; 8] {
                <Portable as Lanes<8>>::max(Portable, a, b)
            }
            fn exchange(self, a: [f64; 8], b: [f64; 8]) -> ([f64; 8], [f64; 8]) {
                <Portable as Lanes<8>>::exchange(Portable, a, b)
            }
            fn add(self, a: [f64; 8], b: [f64; 8]) -> [f64; 8] {
                <Portable as Lanes<8>>::add(Portable, a, b)
            }
            fn sub(self, a: [f64; 8], b: [f64; 8]) -> [f64; 8] {
                <Portable as Lanes<8>>::sub(Portable, a, b)
            }
            fn mul(self, a: [f64; 8], b: [f64; 8]) -> [f64; 8] {
                <Portable as Lanes<8>>::mul(Portable, a, b)
            }
            fn mul_add(self, a: [f64; 8], b: [f64; 8], c: [f64; 8]) -> [f64; 8] {
                <Portable as Lanes<8>>::mul_add(Portable, a, b, c)
            }
            fn columns(self, rows: [&[f64; 8]; 8]) -> [[f64; 8]; 8] {
                <Portable as Lanes<8>>::columns(Portable, rows)
            }
        }
    };
}

/// Proof that the CPU has AVX-512F, and [`Lanes`] of eight f64 in one 512-bit register. Only
/// [`avx512`] makes one, after checking the CPU, so its operations are safe to call anywhere;
/// they are fast where they are inlined into code compiled for AVX-512 ([`Avx512::run`]).
///
/// Why by hand: the compare-exchange. On Zen 4 a 512-bit `vminpd` or `vmaxpd` issues once
/// per cycle (two of the four 256-bit pipes, two passes each), so a min and a max cost two
/// cycles of those pipes; here the larger value is the bits `a ^ b ^ min` (one `vpternlogq`,
/// which runs on the other pipes), since {min, max} = {a, b}. Measured on this project's
/// Zen 4 VM with independent chains: 1.7–1.8 G compare-exchanges/s as `vminpd` + `vmaxpd`,
/// 2.5 G/s as `vminpd` + `vpternlogq` (docs/performance.md, "The larger value by XOR").
/// Written as lane arrays, the same XOR was split by the compiler into 256-bit halves and
/// shuffles, twice as slow as the min/max pair; hence a register type.
#[derive(Clone, Copy, Debug)]
pub struct Avx512 {
    _checked: (),
}

/// The [`Avx512`] token, when the CPU has AVX-512F.
pub fn avx512() -> Option<Avx512> {
    has_avx512().then_some(Avx512 { _checked: () })
}

impl Avx512 {
    /// Runs `f` compiled with AVX-512F, as [`widest`] does on this CPU, without checking
    /// again, and compiled for that one instruction set only.
    #[inline(always)]
    pub fn run<R>(self, f: impl FnOnce() -> R) -> R {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: `self` exists only where the CPU has AVX-512F (`avx512`).
            unsafe { x86::avx512(f) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            f()
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl Lanes<8> for Avx512 {
    type V = std::arch::x86_64::__m512d;

    // SAFETY (every `unsafe` block below): `self` exists only where the CPU has AVX-512F
    // (`avx512`), the one instruction set these intrinsics need; the transmutes reinterpret
    // eight f64 as one 512-bit register and back (same size, every bit pattern valid).

    #[inline(always)]
    fn vector(self, a: [f64; 8]) -> Self::V {
        unsafe { std::mem::transmute::<[f64; 8], Self::V>(a) }
    }

    #[inline(always)]
    fn values(self, v: Self::V) -> [f64; 8] {
        unsafe { std::mem::transmute::<Self::V, [f64; 8]>(v) }
    }

    #[inline(always)]
    fn splat(self, x: f64) -> Self::V {
        unsafe { std::arch::x86_64::_mm512_set1_pd(x) }
    }

    #[inline(always)]
    fn min(self, a: Self::V, b: Self::V) -> Self::V {
        // vminpd a, b: the second operand unless a < b.
        unsafe { std::arch::x86_64::_mm512_min_pd(a, b) }
    }

    #[inline(always)]
    fn max(self, a: Self::V, b: Self::V) -> Self::V {
        // vmaxpd b, a is `b > a ? b : a`, i.e. `a < b ? b : a`.
        unsafe { std::arch::x86_64::_mm512_max_pd(b, a) }
    }

    #[inline(always)]
    fn exchange(self, a: Self::V, b: Self::V) -> (Self::V, Self::V) {
        use std::arch::x86_64::{_mm512_castpd_si512, _mm512_castsi512_pd};
        let min = self.min(a, b);
        // 0x96 is the truth table of a ^ b ^ c.
        let max = unsafe {
            _mm512_castsi512_pd(std::arch::x86_64::_mm512_ternarylogic_epi64::<0x96>(
                _mm512_castpd_si512(a),
                _mm512_castpd_si512(b),
                _mm512_castpd_si512(min),
            ))
        };
        (min, max)
    }

    #[inline(always)]
    fn add(self, a: Self::V, b: Self::V) -> Self::V {
        unsafe { std::arch::x86_64::_mm512_add_pd(a, b) }
    }

    #[inline(always)]
    fn sub(self, a: Self::V, b: Self::V) -> Self::V {
        unsafe { std::arch::x86_64::_mm512_sub_pd(a, b) }
    }

    #[inline(always)]
    fn mul(self, a: Self::V, b: Self::V) -> Self::V {
        unsafe { std::arch::x86_64::_mm512_mul_pd(a, b) }
    }

    #[inline(always)]
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        unsafe { std::arch::x86_64::_mm512_fmadd_pd(a, b, c) }
    }

    /// Rows i and i + 4 loaded as the two halves of one register, then two rounds of eight
    /// shuffles: pairs of rows interleaved (`vunpcklpd`/`vunpckhpd`), then pairs of 128-bit
    /// lanes (`vpermt2pd`).
    #[inline(always)]
    fn columns(self, rows: [&[f64; 8]; 8]) -> [Self::V; 8] {
        use std::arch::x86_64::{
            _mm256_loadu_pd, _mm512_castpd256_pd512, _mm512_insertf64x4,
            _mm512_permutex2var_pd as pair, _mm512_set_epi64, _mm512_unpackhi_pd as hi,
            _mm512_unpacklo_pd as lo,
        };
        unsafe {
            // Plain calls, no closures or `array::from_fn`: those are not always inlined into
            // the caller's AVX-512 code (a round of softmax regression ran 4× slower).
            let p = [
                rows[0].as_ptr(),
                rows[1].as_ptr(),
                rows[2].as_ptr(),
                rows[3].as_ptr(),
                rows[4].as_ptr(),
                rows[5].as_ptr(),
                rows[6].as_ptr(),
                rows[7].as_ptr(),
            ];
            // Entries `at`..`at` + 4 of rows i and i + 4, as the two halves of one register.
            macro_rules! halves {
                ($i:literal, $at:literal) => {
                    _mm512_insertf64x4::<1>(
                        _mm512_castpd256_pd512(_mm256_loadu_pd(p[$i].add($at))),
                        _mm256_loadu_pd(p[$i + 4].add($at)),
                    )
                };
            }
            let z = [halves!(0, 0), halves!(1, 0), halves!(2, 0), halves!(3, 0)];
            let w = [halves!(0, 4), halves!(1, 4), halves!(2, 4), halves!(3, 4)];
            // Lanes 0–1 and 4–5 of the first operand beside those of the second (indices
            // 8–15 name the second), and lanes 2–3 and 6–7 likewise.
            let even = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0);
            let odd = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
            // Each half of z (and of w) is a 4 × 4 block: t[0] = (z0[0], z1[0], z0[2], z1[2] |
            // z0[4], …), t[1] its odd lanes; then pairs of those give whole columns.
            macro_rules! four {
                ($x:ident) => {{
                    let t = [
                        lo($x[0], $x[1]),
                        hi($x[0], $x[1]),
                        lo($x[2], $x[3]),
                        hi($x[2], $x[3]),
                    ];
                    [
                        pair(t[0], even, t[2]),
                        pair(t[1], even, t[3]),
                        pair(t[0], odd, t[2]),
                        pair(t[1], odd, t[3]),
                    ]
                }};
            }
            let (a, b) = (four!(z), four!(w));
            [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]]
        }
    }
}

// Never used (no token off x86-64): the portable lanes, so the crate builds.
#[cfg(not(target_arch = "x86_64"))]
portable_lanes!(Avx512);

/// Proof that the CPU has AVX2 and FMA, and [`Lanes`] of eight f64 in two 256-bit registers.
/// Only [`avx2`] makes one, after checking the CPU; its operations are fast where they are
/// inlined into code compiled for AVX2 ([`Avx2::run`], or [`widest`] on a CPU without
/// AVX-512).
///
/// Why by hand: written as eight-lane arrays, the Gram pass's 2 × 2 tile of pair sums
/// (`aggregators::distances`) compiled for AVX2 into broadcasts, blends and permutes across
/// its pairs instead of one register per half-row: 2.5 G multiply-adds/s on Zen 3, a tenth of
/// its peak (docs/performance.md, "avx2_13").
#[derive(Clone, Copy, Debug)]
pub struct Avx2 {
    _checked: (),
}

/// The [`Avx2`] token, when the CPU has AVX2 and FMA.
pub fn avx2() -> Option<Avx2> {
    #[cfg(target_arch = "x86_64")]
    {
        (std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"))
            .then_some(Avx2 { _checked: () })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

impl Avx2 {
    /// Runs `f` compiled with AVX2 and FMA, without checking again.
    #[inline(always)]
    pub fn run<R>(self, f: impl FnOnce() -> R) -> R {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: `self` exists only where the CPU has AVX2 and FMA (`avx2`).
            unsafe { x86::avx2(f) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            f()
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl Lanes<8> for Avx2 {
    /// Lanes 0–3, then 4–7.
    type V = [std::arch::x86_64::__m256d; 2];

    // SAFETY (every `unsafe` block below): `self` exists only where the CPU has AVX2 and FMA
    // (`avx2`), the instruction sets these intrinsics need; the transmutes reinterpret four
    // f64 as one 256-bit register and back (same size, every bit pattern valid).

    #[inline(always)]
    fn vector(self, a: [f64; 8]) -> Self::V {
        unsafe { std::mem::transmute::<[f64; 8], Self::V>(a) }
    }

    #[inline(always)]
    fn values(self, v: Self::V) -> [f64; 8] {
        unsafe { std::mem::transmute::<Self::V, [f64; 8]>(v) }
    }

    #[inline(always)]
    fn splat(self, x: f64) -> Self::V {
        let v = unsafe { std::arch::x86_64::_mm256_set1_pd(x) };
        [v, v]
    }

    #[inline(always)]
    fn min(self, a: Self::V, b: Self::V) -> Self::V {
        // vminpd a, b: the second operand unless a < b.
        use std::arch::x86_64::_mm256_min_pd as min;
        unsafe { [min(a[0], b[0]), min(a[1], b[1])] }
    }

    #[inline(always)]
    fn max(self, a: Self::V, b: Self::V) -> Self::V {
        // vmaxpd b, a is `b > a ? b : a`, i.e. `a < b ? b : a`.
        use std::arch::x86_64::_mm256_max_pd as max;
        unsafe { [max(b[0], a[0]), max(b[1], a[1])] }
    }

    #[inline(always)]
    fn exchange(self, a: Self::V, b: Self::V) -> (Self::V, Self::V) {
        (self.min(a, b), self.max(a, b))
    }

    #[inline(always)]
    fn add(self, a: Self::V, b: Self::V) -> Self::V {
        use std::arch::x86_64::_mm256_add_pd as add;
        unsafe { [add(a[0], b[0]), add(a[1], b[1])] }
    }

    #[inline(always)]
    fn sub(self, a: Self::V, b: Self::V) -> Self::V {
        use std::arch::x86_64::_mm256_sub_pd as sub;
        unsafe { [sub(a[0], b[0]), sub(a[1], b[1])] }
    }

    #[inline(always)]
    fn mul(self, a: Self::V, b: Self::V) -> Self::V {
        use std::arch::x86_64::_mm256_mul_pd as mul;
        unsafe { [mul(a[0], b[0]), mul(a[1], b[1])] }
    }

    #[inline(always)]
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        use std::arch::x86_64::_mm256_fmadd_pd as fma;
        unsafe { [fma(a[0], b[0], c[0]), fma(a[1], b[1], c[1])] }
    }

    /// Moved through the portable lanes: no kernel transposes with this token. A plain loop,
    /// not `array::map`, whose closure was compiled apart as a call (docs/performance.md,
    /// "asks13").
    #[inline(always)]
    fn columns(self, rows: [&[f64; 8]; 8]) -> [Self::V; 8] {
        let t = <Portable as Lanes<8>>::columns(Portable, rows);
        let mut out = [self.splat(0.0); 8];
        for (o, c) in out.iter_mut().zip(t) {
            *o = self.vector(c);
        }
        out
    }
}

#[cfg(not(target_arch = "x86_64"))]
portable_lanes!(Avx2);

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
    /// The CPU supports AVX-512F.
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

    /// CPUID's vendor, as `adds_beside_multiply_adds` reads it, is the one Linux reports in
    /// /proc/cpuinfo (where there is one). Mutation that makes it fail on an AMD host (seen):
    /// the vendor's registers taken in the order ebx, ecx, edx ("AuthcAMDenti").
    #[test]
    fn the_vendor_is_the_one_linux_reports() {
        let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
            return;
        };
        let Some(vendor) = info
            .lines()
            .find(|l| l.starts_with("vendor_id"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
        else {
            return;
        };
        let zen = vendor == "AuthenticAMD" || vendor == "HygonGenuine";
        assert_eq!(adds_beside_multiply_adds(), zen, "vendor_id {vendor}");
    }

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

    /// The body of the two tests below, for the token `isa` (a macro: the tokens' `run` is
    /// inherent, not a trait method).
    macro_rules! lanes_give_the_portable_bits {
        ($isa:expr) => {{
            let isa = $isa;
            let specials = [
                0.0,
                -0.0,
                1.0,
                -1.0,
                2.5,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NAN,
                -f64::NAN,
                // Signalling NaNs of both signs, and subnormal and normal tiny values.
                f64::from_bits(0x7ff0_0000_0000_0001),
                f64::from_bits(0xfff4_0000_0000_0000),
                f64::from_bits(1),
                f64::MIN_POSITIVE,
            ];
            // All ordered pairs, eight at a time.
            let pairs: Vec<(f64, f64)> = specials
                .iter()
                .flat_map(|&a| specials.iter().map(move |&b| (a, b)))
                .collect();
            let bits = |v: [f64; 8]| v.map(f64::to_bits);
            #[inline(always)]
            fn all_ops<I: Lanes<8>>(isa: I, a: [f64; 8], b: [f64; 8]) -> [[f64; 8]; 9] {
                let (x, y) = (isa.vector(a), isa.vector(b));
                let (lo, hi) = isa.exchange(x, y);
                // Products against a third value whose product with x is not exact (1/3), and
                // x·y + (−x): the fused rounding differs from a product then a sum.
                let third = isa.splat(1.0 / 3.0);
                [
                    isa.values(isa.min(x, y)),
                    isa.values(isa.max(x, y)),
                    isa.values(lo),
                    isa.values(hi),
                    isa.values(isa.add(x, y)),
                    isa.values(isa.mul_add(x, third, y)),
                    isa.values(isa.mul_add(x, y, isa.vector(a.map(|v| -v)))),
                    isa.values(isa.mul(x, y)),
                    isa.values(isa.sub(x, y)),
                ]
            }
            for chunk in pairs.chunks(8) {
                let mut a = [0.0; 8];
                let mut b = [0.0; 8];
                for (l, &(x, y)) in chunk.iter().enumerate() {
                    (a[l], b[l]) = (x, y);
                }
                let want = all_ops(Portable, a, b);
                let direct = all_ops(isa, a, b);
                let compiled = isa.run(
                    #[inline(always)]
                    || all_ops(isa, a, b),
                );
                for op in 0..4 {
                    assert_eq!(bits(direct[op]), bits(want[op]), "op {op} on {chunk:?}");
                    assert_eq!(bits(compiled[op]), bits(want[op]), "op {op} on {chunk:?}");
                }
                // The columns of eight rows made of the pairs' values (NaN payloads and signed
                // zeros moved, not computed).
                let rows: [[f64; 8]; 8] = std::array::from_fn(|i| {
                    std::array::from_fn(|j| {
                        if (i + j) % 2 == 0 {
                            a[(i + j) % 8]
                        } else {
                            b[(i * j) % 8]
                        }
                    })
                });
                let rows: [&[f64; 8]; 8] = std::array::from_fn(|i| &rows[i]);
                let cols_want = <Portable as Lanes<8>>::columns(Portable, rows);
                let cols_direct = isa.columns(rows).map(|v| bits(isa.values(v)));
                let cols_compiled = isa.run(
                    #[inline(always)]
                    || isa.columns(rows).map(|v| bits(isa.values(v))),
                );
                for (i, row) in rows.iter().enumerate() {
                    for (j, &v) in row.iter().enumerate() {
                        assert_eq!(cols_want[j][i].to_bits(), v.to_bits(), "portable columns");
                        assert_eq!(cols_direct[j][i], v.to_bits(), "columns of {rows:?}");
                        assert_eq!(cols_compiled[j][i], v.to_bits(), "columns of {rows:?}");
                    }
                }
                // The sums' NaN is some NaN: Rust leaves the sign and payload of an arithmetic
                // NaN unspecified (and the kernels add no NaN).
                let same =
                    |x: f64, y: f64| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
                for op in 4..9 {
                    for l in 0..8 {
                        assert!(same(direct[op][l], want[op][l]), "op {op} on {chunk:?}");
                        assert!(same(compiled[op][l], want[op][l]), "op {op} on {chunk:?}");
                    }
                }
            }
            assert_eq!(bits(isa.values(isa.splat(-0.0))), bits([-0.0; 8]));
        }};
    }

    /// Every [`Lanes`] operation of the AVX-512 registers gives the portable lanes' bits on
    /// every pair of special values (±0, ±∞, quiet and signalling NaN of both signs,
    /// subnormals, ties, ordinary values), called
    /// directly and compiled for AVX-512. Skipped where the CPU lacks AVX-512. Mutations seen
    /// to fail it: `max` as `vmaxpd a, b` (the first operand on a tie or a NaN), the XOR's
    /// truth table 0x69 instead of 0x96, `mul_add` as a product then a sum, `columns` with
    /// the two `vpermt2pd` index vectors swapped, `sub` with its operands swapped.
    #[test]
    fn avx512_lanes_give_the_portable_bits() {
        let Some(isa) = avx512() else {
            return;
        };
        lanes_give_the_portable_bits!(isa);
    }

    /// [`avx512_lanes_give_the_portable_bits`] for the [`Avx2`] registers (two halves of four
    /// lanes). Mutation seen to fail it: the first half's `max` as `vmaxpd a, b`. Skipped where
    /// the CPU lacks AVX2 or FMA.
    #[test]
    fn avx2_lanes_give_the_portable_bits() {
        let Some(isa) = avx2() else {
            return;
        };
        lanes_give_the_portable_bits!(isa);
    }
}
