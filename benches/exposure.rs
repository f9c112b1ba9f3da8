//! Exposure by exact enumeration: scoring all 10⁶ six-digit secrets of a trained canary
//! model (issue 14: under 10 s on 2 cores), with and without a hidden layer, and the direct
//! scoring of 2000 reference secrets for comparison.

use criterion::{criterion_group, criterion_main, Criterion};
use lbounds::experiment::exposure::{train_canary_model, ExposurePoint};
use lbounds::experiment::robust::Streams;
use lbounds::learning::text::canary_prefix;
use lbounds::privacy::audit::exposure::{enumerate_scores, rank, score_secrets, SecretSpace};
use std::hint::black_box;

fn enumeration(c: &mut Criterion) {
    let mut g = c.benchmark_group("exposure");
    g.sample_size(10);
    for (hidden, context) in [(32, 3), (0, 3), (32, 5)] {
        let p = ExposurePoint {
            hidden,
            context,
            epochs: 2,
            ..ExposurePoint::default()
        };
        let t = train_canary_model(&p, Streams::new(1, 0), &mut |_, _| {}).unwrap();
        let space = SecretSpace {
            prefix: canary_prefix(),
            digits: 6,
            context,
        };
        g.bench_function(format!("enumerate_1e6_hidden{hidden}_w{context}"), |b| {
            b.iter(|| {
                let s = enumerate_scores(t.model.as_ref(), &t.theta, &space).unwrap();
                black_box(rank(&s, t.secret).unwrap())
            })
        });
        if context == 3 {
            let refs: Vec<u64> = (0..2000u64).map(|i| i * 499 % 1_000_000).collect();
            g.bench_function(format!("score_2000_references_hidden{hidden}"), |b| {
                b.iter(|| {
                    black_box(score_secrets(t.model.as_ref(), &t.theta, &space, &refs).unwrap())
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, enumeration);
criterion_main!(benches);
