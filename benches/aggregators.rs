//! Aggregation speed at ByzFL's benchmark sizes: n = 50 vectors, f = 10, d ∈ {10³, 10⁵, 10⁶}.
//!
//! Every registered rule and pre-aggregator (alone, on a fresh copy of the input that it
//! rewrites in place), plus a plain sum over the same matrix: one pass over
//! n·d f64 at memory bandwidth, the floor for any O(nd) rule. Inputs are i.i.d. N(0, 1) from
//! a fixed seed. Compare with ByzFL 0.0.11's published times (docs/performance.md).
//!
//! Run: `cargo bench --bench aggregators` (all), or filter: `cargo bench --bench aggregators -- median/`.
//! `LBOUNDS_BENCH_DIMS=1000,100000` restricts the dimensions.
//!
//! A second group, `aggregators/dsgd_round_input`, times the distance-based rules on the input
//! they get inside a D-SGD round at ByzFL's setting (`benches/rounds.rs`): the momentum
//! vectors of 40 honest MLP 784-100-10 clients (d = 79 510, batch 32, β = 0.9, after a few
//! rounds, so nearly equal) followed by 10 identical ALIE vectors. Gaussian inputs have no
//! near-duplicates and a different Weiszfeld iteration count, so they time these rules
//! differently (`RAYON_NUM_THREADS=1 cargo bench --bench aggregators -- dsgd_round_input`;
//! `LBOUNDS_BENCH_CPU_TIME=1` times these by CPU time, as `benches/rounds.rs`).

mod common;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use lbounds::aggregators::{self, AggContext, Pipeline, PRE_AGGREGATORS, RULES};
use lbounds::attacks::{self, AttackContext};
use lbounds::data::Updates;
use lbounds::learning::model::{Activation, ModelSpec};
use lbounds::learning::partition::Partition;
use lbounds::learning::sources::Synthetic;
use lbounds::learning::Batch;
use lbounds::params::{Compat, Params};
use lbounds::rng::{rng_from_seed, rng_named};
use nalgebra::DMatrix;
use rand::RngExt;
use rand_distr::StandardNormal;
use std::hint::black_box;
use std::time::Duration;

const N: usize = 50;
const F: usize = 10;

fn dims() -> Vec<usize> {
    std::env::var("LBOUNDS_BENCH_DIMS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 100_000, 1_000_000])
}

fn input(d: usize) -> Updates {
    let mut rng = rng_from_seed(1);
    let m = DMatrix::from_fn(d, N, |_, _| rng.sample::<f64, _>(StandardNormal));
    Updates::new(m).expect("finite Gaussian input")
}

fn params() -> Params {
    Params::new().with("f", F as f64)
}

fn bench(c: &mut Criterion) {
    common::print_host();
    for d in dims() {
        let x = input(d);
        let mut group = c.benchmark_group(format!("aggregators/n50_f10_d{d}"));
        group.throughput(Throughput::Bytes((N * d * 8) as u64));
        if d >= 100_000 {
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(4));
        }
        group.bench_function(BenchmarkId::new("sum", d), |b| {
            b.iter(|| black_box(common::bandwidth_sum(x.matrix().as_slice())))
        });
        let mut pipelines: Vec<(String, Pipeline)> = Vec::new();
        for spec in RULES {
            let keys = if spec.keys.contains(&"f") {
                params()
            } else {
                Params::new()
            };
            let agg = aggregators::build(spec.name, &keys, Compat::Native)
                .expect("registered rule builds");
            pipelines.push((spec.name.to_string(), Pipeline::rule(agg)));
        }
        // ByzFL's geometric median (3 Weiszfeld steps from the origin) next to the converged
        // native one: the like-for-like row for ByzFL's published time.
        let byzfl_gm = aggregators::build("geometric_median", &Params::new(), Compat::Byzfl)
            .expect("registered rule builds");
        pipelines.push(("geometric_median_byzfl".into(), Pipeline::rule(byzfl_gm)));
        for (name, p) in &pipelines {
            let mut rng = rng_from_seed(2);
            group.bench_function(BenchmarkId::new(name.as_str(), d), |b| {
                b.iter(|| {
                    black_box(
                        p.run(x.view(), &mut AggContext::new(&mut rng))
                            .expect("bench input is valid"),
                    )
                })
            });
        }
        for spec in PRE_AGGREGATORS {
            let keys = if spec.keys.contains(&"f") {
                params()
            } else {
                Params::new()
            };
            let pre = aggregators::build_pre(spec.name, &keys, Compat::Native)
                .expect("registered pre-aggregator builds");
            let mut rng = rng_from_seed(2);
            // The pre-aggregator alone, as ByzFL's rows: it rewrites its input in place, so
            // each call gets a fresh copy, made (and freed) outside the timed region.
            group.bench_function(BenchmarkId::new(spec.name, d), |b| {
                b.iter_batched(
                    || x.clone(),
                    |u| {
                        pre.apply(u, &mut AggContext::new(&mut rng))
                            .expect("bench input is valid")
                    },
                    BatchSize::PerIteration,
                )
            });
        }
        group.finish();
    }
}

/// The n = 50 vectors a D-SGD round at ByzFL's setting aggregates (module docs): the honest
/// clients' momenta after `ROUNDS` rounds of plain averaging (lr 0.01, each client cycling
/// through its batches of 32), then the 10 ALIE copies computed from them.
fn round_input() -> Updates {
    const HONEST: usize = 40;
    const ROUNDS: usize = 5;
    const BATCH: usize = 32;
    let data = Synthetic::parse("classes=10,features=784,records=2560")
        .expect("valid synthetic spec")
        .generate(&mut rng_named(0, 0, "data"))
        .expect("synthetic data");
    let clients = Partition::Iid
        .clients(&data, HONEST, &mut rng_named(0, 0, "partition"))
        .expect("iid partition");
    let spec = ModelSpec::Mlp {
        hidden: vec![100],
        activation: Activation::Relu,
    };
    let model = spec.build(784, data.task()).expect("MLP builds");
    let mut theta = model.init(&mut rng_named(0, 0, "init"));
    let d = theta.len();
    let mut momenta = DMatrix::<f64>::zeros(d, HONEST);
    let mut grad = vec![0.0; d];
    for round in 0..ROUNDS {
        for (i, client) in clients.iter().enumerate() {
            let lo = (round * BATCH) % (client.len() - BATCH + 1);
            let batch = Batch {
                x: client.x().columns(lo, BATCH),
                y: &client.y()[lo..lo + BATCH],
            };
            model
                .loss_grad(&theta, batch, &mut grad)
                .expect("finite gradient");
            for (m, g) in momenta.column_mut(i).iter_mut().zip(&grad) {
                *m = 0.9 * *m + 0.1 * g;
            }
        }
        for (k, t) in theta.iter_mut().enumerate() {
            *t -= 0.01 * momenta.row(k).sum() / HONEST as f64;
        }
    }
    let honest = Updates::new(momenta).expect("finite momenta");
    let alie =
        attacks::build("a_little_is_enough", &Params::new(), Compat::Native).expect("ALIE builds");
    let mut rng = rng_named(0, 0, "attack");
    let byz = alie
        .corrupt(
            honest.view(),
            F,
            &mut AttackContext {
                rng: &mut rng,
                defence: None,
                defence_state: None,
            },
        )
        .expect("ALIE on 40 honest vectors");
    let mut all = honest.view().as_slice().to_vec();
    all.extend_from_slice(byz.view().as_slice());
    Updates::new(DMatrix::from_vec(d, N, all)).expect("finite round input")
}

fn round_rules(c: &mut Criterion) {
    let x = round_input();
    let mut group = c.benchmark_group("aggregators/dsgd_round_input");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    group.bench_function("sum", |b| {
        b.iter(|| black_box(common::bandwidth_sum(x.matrix().as_slice())))
    });
    for (name, compat) in [
        ("average", Compat::Native),
        ("krum", Compat::Native),
        ("multi_krum", Compat::Native),
        ("geometric_median", Compat::Native),
        ("geometric_median", Compat::Byzfl),
    ] {
        let agg = aggregators::build(name, &params(), compat).expect("registered rule builds");
        let p = Pipeline::rule(agg);
        let label = match compat {
            Compat::Byzfl => format!("{name}_byzfl"),
            Compat::Native => name.to_string(),
        };
        let mut rng = rng_from_seed(2);
        group.bench_function(label, |b| {
            common::timed(b, || {
                p.run(x.view(), &mut AggContext::new(&mut rng))
                    .expect("round input is valid")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench, round_rules);
criterion_main!(benches);
