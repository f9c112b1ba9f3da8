//! The cost of auditing the crate's DP-SGD (`lbounds audit dpsgd`): one training of the
//! audited logistic regression (N = 100, q = 0.1, T = 100 steps) with the Dirac canary and the
//! iterate observer, the plain `dp_sgd` on the same data for comparison (the hooks must cost
//! nothing measurable), and a whole one-run audit with 10 000 canaries.
//!
//! Run: `cargo bench --bench audit_dpsgd`.

use criterion::{criterion_group, criterion_main, Criterion};
use lbounds::privacy::audit::dpsgd::{audit, AuditConfig, AuditTraining, Method};
use lbounds::privacy::sgd::{
    dp_sgd, dp_sgd_audited, AuditHooks, Dataset, GradientCanary, Model, PlantedBug, SgdConfig,
};
use lbounds::rng::rng_from_seed;
use std::hint::black_box;
use std::time::Duration;

fn data() -> Dataset {
    let rows: Vec<Vec<f64>> = (0..100)
        .map(|i| {
            let a = f64::from(i) / 50.0 - 1.0;
            vec![a, ((i * 37) % 100) as f64 / 50.0 - 1.0, 0.0]
        })
        .collect();
    let y = rows
        .iter()
        .map(|r| f64::from(u8::from(r[0] > r[1])))
        .collect();
    let refs: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
    Dataset::new(&refs, y).unwrap()
}

fn bench(c: &mut Criterion) {
    let d = data();
    let cfg = SgdConfig {
        model: Model::Logistic,
        epochs: 10,
        sample_rate: 0.1,
        learning_rate: 0.5,
        clip: Some(1.0),
        noise_multiplier: 1.5,
        delta: 1e-5,
    };
    let canary = [GradientCanary::dirac(2, 100.0)];
    let mut g = c.benchmark_group("audit_dpsgd");
    g.bench_function("dp_sgd_plain", |b| {
        b.iter(|| dp_sgd(black_box(&d), &cfg, &mut rng_from_seed(1)).unwrap())
    });
    g.bench_function("dp_sgd_with_canary_and_observer", |b| {
        b.iter(|| {
            let mut last = 0.0;
            let mut observe = |_: u64, th: &[f64]| last += th[2];
            let hooks = AuditHooks {
                planted_bug: PlantedBug::None,
                canaries: &canary,
                observe: Some(&mut observe),
            };
            dp_sgd_audited(black_box(&d), &cfg, hooks, &mut rng_from_seed(1)).unwrap()
        })
    });
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function("one_run_audit_10000_canaries", |b| {
        let a = AuditConfig {
            epsilon: 4.0,
            delta: 1e-5,
            alpha: 0.05,
            planted_bug: PlantedBug::None,
            method: Method::OneRun {
                canaries: 10_000,
                guesses: 1000,
            },
            training: AuditTraining::default(),
            backend: lbounds::learning::model::Backend::Native,
        };
        b.iter(|| audit(&a, 0, &|| {}).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
