//! Membership-inference audits at the size: M shadow models on a 10⁴-record
//! population (the long-tailed Gaussian mixture, K = 10, p = 32, 2 000 population records),
//! trained in parallel through the experiment runner, then every attack against 4 targets.
//!
//! - `audit/softmax/M`: softmax regression (60 full-batch steps), M ∈ {64, 256}: the issue's
//!   target is 256 models in under a minute on 2 cores;
//! - `audit/mlp/64`: the one-hidden-layer MLP (width 64, 60 epochs of minibatch SGD at
//!   batch 64), 64 models (256 take ≈ 4× as long);
//! - `attacks/softmax/256`: the attacks alone on cached models (training excluded: a
//!   second run over the same cache).
//!
//! Each row is one whole audit (seconds), sampled 10 times (criterion's minimum); the cache
//! rows use a temporary folder removed at the end. Numbers in docs/performance.md.
//!
//! Run: `cargo bench --bench mia`.

use criterion::{criterion_group, criterion_main, Criterion};
use lbounds::experiment::mia::{run_audit, MiaConfig};
use lbounds::privacy::audit::mia::population::LongTail;
use lbounds::privacy::audit::mia::shadow::{Cache, ShadowConfig};
use std::hint::black_box;
use std::time::Duration;

fn config(models: usize, shadow: ShadowConfig) -> MiaConfig {
    MiaConfig {
        data: LongTail::default(),
        data_seed: 0,
        seed: 0,
        models,
        targets: 4,
        shadow,
    }
}

fn audits(c: &mut Criterion) {
    let mut group = c.benchmark_group("audit");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(1))
        .warm_up_time(Duration::from_millis(1));
    for models in [64, 256] {
        let cfg = config(models, ShadowConfig::softmax());
        group.bench_function(format!("softmax/{models}"), |b| {
            b.iter(|| black_box(run_audit(&cfg, None, &|| {}).expect("audit runs")))
        });
    }
    let cfg = config(64, ShadowConfig::mlp());
    group.bench_function("mlp/64", |b| {
        b.iter(|| black_box(run_audit(&cfg, None, &|| {}).expect("audit runs")))
    });
    group.finish();

    let dir = std::env::temp_dir().join(format!("lbounds-bench-mia-{}", std::process::id()));
    let cache = Cache::new(&dir);
    let cfg = config(256, ShadowConfig::softmax());
    run_audit(&cfg, Some(&cache), &|| {}).expect("audit runs");
    let mut group = c.benchmark_group("attacks");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(1))
        .warm_up_time(Duration::from_millis(1));
    group.bench_function("softmax/256", |b| {
        b.iter(|| black_box(run_audit(&cfg, Some(&cache), &|| {}).expect("audit runs")))
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, audits);
criterion_main!(benches);
