//! Accountant speed on the DP-SGD benchmark query of the issue (MNIST-style: batch 256 of
//! 60 000, 60 epochs): q = 0.004267, σ = 1.1, T = 14 060, δ = 1e-5.
//!
//! Targets: RDP ε under 1 ms, PLD ε well under 1 s. dp-accounting 0.6.0 on the same query
//! and machine: tests/fixtures/dp_accounting/timing.json (scripts/dp_accounting_golden.py).
//!
//! Run: `cargo bench --bench privacy`.

use criterion::{criterion_group, criterion_main, Criterion};
use lbounds::privacy::accounting::calibrate::noise_multiplier;
use lbounds::privacy::accounting::{pld, rdp, AccountantKind};
use lbounds::privacy::mechanisms::analytic_gaussian::calibrate_sigma;
use std::hint::black_box;
use std::time::Duration;

const Q: f64 = 0.004_267;
const SIGMA: f64 = 1.1;
const STEPS: u64 = 14_060;
const DELTA: f64 = 1e-5;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("accountants");
    g.bench_function("rdp_epsilon", |b| {
        b.iter(|| rdp::epsilon(black_box(Q), black_box(SIGMA), STEPS, DELTA).unwrap())
    });
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function("pld_epsilon", |b| {
        b.iter(|| pld::epsilon(black_box(Q), black_box(SIGMA), STEPS, DELTA).unwrap())
    });
    g.bench_function("rdp_noise_multiplier_eps3", |b| {
        b.iter(|| noise_multiplier(AccountantKind::Rdp, black_box(Q), STEPS, 3.0, DELTA).unwrap())
    });
    g.finish();
    c.bench_function("mechanisms/analytic_gaussian_sigma", |b| {
        b.iter(|| calibrate_sigma(black_box(1.0), black_box(1e-5), 1.0).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
