//! Sweep throughput: the default figure grid (examples/sweeps/*.toml) on 1 and 2 threads.
//!
//! `cargo bench --bench sweep` prints, per config and in total, the best-of-3 wall time and
//! records per second on a 1-thread and a 2-thread rayon pool, and the speedup. Records go to
//! a temporary directory (streamed, as `lbounds sweep run` does). The records of both runs
//! are compared byte for byte. Set LBOUNDS_BENCH_REPS to change the number of repeats.

use lbounds::experiment::config::SweepConfig;
use lbounds::experiment::sweep::{self, Shard};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// CPU seconds (user + system, all threads) of this process so far, from /proc (Linux;
/// 0 elsewhere). Clock ticks are taken as 100 Hz, the Linux default.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name (which is in parentheses): utime is 14th, stime 15th.
            let rest = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            let ut: f64 = rest.get(11)?.parse().ok()?;
            let st: f64 = rest.get(12)?.parse().ok()?;
            Some((ut + st) / 100.0)
        })
        .unwrap_or(0.0)
}

fn run_once(cfg: &SweepConfig, threads: usize, dir: &Path) -> (f64, f64) {
    let _ = std::fs::remove_dir_all(dir);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    let c = cpu_seconds();
    let t = Instant::now();
    pool.install(|| sweep::run(cfg, dir, Shard::ALL, None, &()).expect("sweep runs"));
    (t.elapsed().as_secs_f64(), cpu_seconds() - c)
}

fn main() {
    let reps: usize = std::env::var("LBOUNDS_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sweeps");
    let mut configs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("examples/sweeps")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    configs.sort();
    let tmp = std::env::temp_dir().join(format!("lbounds-bench-sweep-{}", std::process::id()));
    let (mut total1, mut total2, mut records) = (0.0, 0.0, 0u64);
    let (mut cpu1, mut cpu2) = (0.0, 0.0);
    println!(
        "{:<14} {:>8} {:>10} {:>12} {:>10} {:>12} {:>8} {:>9} {:>9}",
        "sweep",
        "records",
        "1 thread",
        "records/s",
        "2 threads",
        "records/s",
        "speedup",
        "CPU s 1t",
        "CPU s 2t"
    );
    for path in &configs {
        let cfg = SweepConfig::load(path).expect("valid config");
        let best = |threads: usize| {
            (0..reps)
                .map(|i| {
                    run_once(
                        &cfg,
                        threads,
                        &tmp.join(format!("{}-{threads}-{i}", cfg.name)),
                    )
                })
                .fold((f64::INFINITY, f64::INFINITY), |a, b| {
                    (a.0.min(b.0), a.1.min(b.1))
                })
        };
        let (t1, c1) = best(1);
        let (t2, c2) = best(2);
        cpu1 += c1;
        cpu2 += c2;
        let a =
            std::fs::read(tmp.join(format!("{}-1-0/records.jsonl", cfg.name))).expect("records");
        let b =
            std::fs::read(tmp.join(format!("{}-2-0/records.jsonl", cfg.name))).expect("records");
        assert_eq!(a, b, "records differ between 1 and 2 threads");
        let n = cfg.total_records();
        println!(
            "{:<14} {:>8} {:>9.3}s {:>12.0} {:>9.3}s {:>12.0} {:>7.2}x {:>9.2} {:>9.2}",
            cfg.name,
            n,
            t1,
            n as f64 / t1,
            t2,
            n as f64 / t2,
            t1 / t2,
            c1,
            c2
        );
        total1 += t1;
        total2 += t2;
        records += n;
    }
    println!(
        "{:<14} {:>8} {:>9.3}s {:>12.0} {:>9.3}s {:>12.0} {:>7.2}x {:>9.2} {:>9.2}",
        "all",
        records,
        total1,
        records as f64 / total1,
        total2,
        records as f64 / total2,
        total1 / total2,
        cpu1,
        cpu2
    );
    println!(
        "speedup = wall(1 thread) / wall(2 threads), best of {reps}; CPU s = user + system time of \
         the run (equal columns: no parallel overhead; the speedup then only needs two free cores)"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
