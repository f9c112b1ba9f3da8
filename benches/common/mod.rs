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

/// CPU time used so far by every thread of this process (Linux; zero elsewhere).
fn cpu_time() -> std::time::Duration {
    let ns: u64 = std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    std::time::Duration::from_nanos(ns)
}

/// Times `f` by wall clock, or, under `LBOUNDS_BENCH_CPU_TIME`, by the CPU time all the
/// process's threads spend (`/proc/self/task/*/schedstat`): on a shared machine the time
/// slices lost to other processes then drop out (their cache and memory traffic do not).
/// With one thread it is an idle machine's wall time; with more, the threads' sum.
///
/// The calls run on a thread of rayon's pool (`experiment::on_pool`), as `lbounds train`
/// runs its rounds: the parallel maps inside start from the pool, with no hand-off between
/// threads for each.
pub fn timed<R: Send>(b: &mut criterion::Bencher<'_>, mut f: impl FnMut() -> R + Send) {
    let cpu = std::env::var_os("LBOUNDS_BENCH_CPU_TIME").is_some();
    b.iter_custom(|iters| {
        lbounds::experiment::on_pool(|| {
            let (start, wall) = (cpu.then(cpu_time), std::time::Instant::now());
            for _ in 0..iters {
                std::hint::black_box(f());
            }
            start.map_or_else(|| wall.elapsed(), |start| cpu_time() - start)
        })
    })
}

/// Prints the host's CPU to stderr, once per bench process (Linux; nothing elsewhere). The
/// project's VMs change CPU between sessions, and the vector kernels' rates with it: an AMD
/// family 25 (Zen 4) core runs AVX-512 on 256-bit units, at half the vector rate of family
/// 26 (Zen 5), where the later figures in docs/performance.md were taken, while memory
/// streams at the same rate (docs/performance.md, "Which host").
pub fn print_host() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
            return;
        };
        let field = |key: &str| {
            info.lines()
                .find(|l| l.split(':').next().map(str::trim) == Some(key))
                .and_then(|l| l.split_once(':'))
                .map_or(String::from("?"), |(_, v)| v.trim().to_string())
        };
        let avx512 = field("flags").split_whitespace().any(|f| f == "avx512f");
        eprintln!(
            "host: {} family {} model {} ({}), AVX-512 {}, {} threads for rayon",
            field("vendor_id"),
            field("cpu family"),
            field("model"),
            field("model name"),
            if avx512 { "yes" } else { "no" },
            rayon::current_num_threads(),
        );
    });
}
