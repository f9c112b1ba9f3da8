//! One full D-SGD round at ByzFL's benchmark setting (../shared reference: n = 50 clients, 40
//! honest + 10 Byzantine, batch 32, momentum 0.9, ALIE): softmax regression 784→10 and the
//! MLP 784-100-10, for Average, TrMean, NNM+TrMean, Krum and GeometricMedian. One round =
//! 40 client gradients and momentum updates, the attack, the aggregation and the server step
//! (no evaluation). Run with `RAYON_NUM_THREADS=1` for ByzFL's one-thread column.
//!
//! `round_parts/*`: the round's memory-bound passes alone at the MLP's d = 79 510, each with
//! its bytes as throughput, next to the two yardsticks that bound them, so that the round's
//! memory floor (bytes it must move ÷ this machine's rate for that kind of pass) is measured
//! rather than assumed:
//! - `read`: one read of the 40 honest vectors (25.4 MB), 32 independent accumulators in the
//!   widest vector instructions (the rate of a pure streaming read);
//! - `momentum`: m ← β·m + (1 − β)·g over the 40 momentum columns with one g in cache (the
//!   client phase's traffic: each column read and written once, 50.9 MB);
//! - `alie`: the attack alone, 40 vectors read, 10 written (31.8 MB);
//! - `average`: the rule alone on the 50 vectors (31.8 MB);
//! - `krum_counted`, `geometric_median_counted`: the rules alone on the 41 distinct vectors
//!   the round hands them (40 honest, the Byzantine one counted 10 times; 26.1 MB), i.e.
//!   their Gram pass over the data plus what follows it.
//!
//! On a shared machine, `LBOUNDS_BENCH_CPU_TIME=1` measures the CPU time the process spends
//! (all its threads, from `/proc/self/task/*/schedstat`) instead of wall time: time slices
//! lost to other processes then drop out (their cache and memory traffic do not). With one
//! thread it is the wall time of an idle machine; with more it is their sum, not the wall
//! time.

mod common;

use common::timed;

use criterion::Throughput;
use criterion::{criterion_group, criterion_main, Criterion};
use lbounds::aggregators::{AggContext, Pipeline, PipelineSpec, StepSpec};
use lbounds::attacks::AttackContext;
use lbounds::data::Updates;
use lbounds::experiment::robust::Streams;
use lbounds::learning::model::{Activation, ModelSpec};
use lbounds::learning::partition::Partition;
use lbounds::learning::sources::Synthetic;
use lbounds::learning::train::{TrainConfig, Trainer};
use lbounds::params::{Compat, Params};
use lbounds::rng::{rng_from_seed, rng_named};
use nalgebra::DMatrix;
use rand::RngExt;
use rand_distr::StandardNormal;
use std::hint::black_box;
use std::time::Duration;

/// The MLP 784-100-10's parameter count.
const D: usize = 79_510;
const HONEST: usize = 40;
const BYZANTINE: usize = 10;

fn defence(rule: &str, pre: &[&str]) -> PipelineSpec {
    let with_f = |name: &str| {
        let mut s = StepSpec::named(name);
        if lbounds::aggregators::depends_on_f(name).unwrap() {
            s.params.set("f", 10.0);
        }
        s
    };
    PipelineSpec {
        rule: with_f(rule),
        pre: pre.iter().map(|p| with_f(p)).collect(),
    }
}

fn rounds(c: &mut Criterion) {
    common::print_host();
    let data = Synthetic::parse("classes=10,features=784,records=2560")
        .unwrap()
        .generate(&mut rng_named(0, 0, "data"))
        .unwrap();
    let clients = Partition::Iid
        .clients(&data, 40, &mut rng_named(0, 0, "partition"))
        .unwrap();
    let models = [
        ("softmax", ModelSpec::Softmax),
        (
            "mlp",
            ModelSpec::Mlp {
                hidden: vec![100],
                activation: Activation::Relu,
            },
        ),
    ];
    let defences = [
        ("average", defence("average", &[])),
        ("trmean", defence("trmean", &[])),
        ("nnm+trmean", defence("trmean", &["nnm"])),
        ("krum", defence("krum", &[])),
        ("geometric_median", defence("geometric_median", &[])),
    ];
    let mut g = c.benchmark_group("dsgd_round_n50_b32_alie");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (mname, spec) in &models {
        let model = spec.build(784, data.task()).unwrap();
        let init = model.init(&mut rng_named(0, 0, "init"));
        for (dname, d) in &defences {
            let mut cfg = TrainConfig::new(1_000_000, 0.01, d.clone());
            cfg.batch_size = Some(32);
            cfg.momentum = 0.9;
            cfg.byzantine = 10;
            cfg.attack = Some(StepSpec::named("a_little_is_enough"));
            cfg.eval_every = usize::MAX;
            let mut tr = Trainer::new(
                model.as_ref(),
                &clients,
                None,
                init.clone(),
                &cfg,
                Streams::new(0, 0),
            )
            .unwrap();
            g.bench_function(format!("{mname}/{dname}"), |b| {
                timed(b, || tr.round().unwrap())
            });
        }
    }
    g.finish();
}

/// m ← β·m + (1 − β)·g for every column m of `ms` (length d each), the columns in parallel.
fn momentum_pass(ms: &mut [f64], g: &[f64], beta: f64) {
    use rayon::prelude::*;
    let alpha = 1.0 - beta;
    ms.par_chunks_mut(g.len()).for_each(|m| {
        lbounds::simd::widest(
            #[inline(always)]
            || {
                for (m, g) in m.iter_mut().zip(g) {
                    *m = *m * beta + alpha * g;
                }
            },
        )
    });
}

fn round_parts(c: &mut Criterion) {
    let mut rng = rng_from_seed(3);
    let all = Updates::new(DMatrix::from_fn(D, HONEST + BYZANTINE, |_, _| {
        rng.sample::<f64, _>(StandardNormal)
    }))
    .unwrap();
    let honest = all.view().first(HONEST);
    let mut ms = honest.as_slice().to_vec();
    let g = all.view().col(HONEST).to_vec();
    let mut byz = vec![0.0; BYZANTINE * D];
    let alie =
        lbounds::attacks::build("a_little_is_enough", &Params::new(), Compat::Native).unwrap();
    let average = Pipeline::rule(
        lbounds::aggregators::build("average", &Params::new(), Compat::Native).unwrap(),
    );
    let bytes = |vectors: usize| Throughput::Bytes((vectors * D * 8) as u64);
    let mut g_ = c.benchmark_group("round_parts");
    g_.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g_.throughput(bytes(HONEST));
    g_.bench_function("read/40x79510", |b| {
        timed(b, || common::bandwidth_sum(honest.as_slice()))
    });
    g_.throughput(bytes(2 * HONEST));
    g_.bench_function("momentum/40x79510", |b| {
        timed(b, || momentum_pass(black_box(&mut ms), &g, 0.9))
    });
    g_.throughput(bytes(HONEST + BYZANTINE));
    g_.bench_function("alie/40x79510", |b| {
        let mut rng = rng_from_seed(4);
        timed(b, || {
            alie.corrupt_into(honest, &mut byz, &mut AttackContext::new(&mut rng))
                .unwrap()
        })
    });
    g_.bench_function("average/50x79510", |b| {
        let mut rng = rng_from_seed(5);
        timed(b, || {
            average
                .run(all.view(), &mut AggContext::new(&mut rng))
                .unwrap()
        })
    });
    let counts: Vec<usize> = (0..=HONEST)
        .map(|i| if i < HONEST { 1 } else { BYZANTINE })
        .collect();
    let distinct = all.view().first(HONEST + 1);
    g_.throughput(bytes(HONEST + 1));
    for rule in ["krum", "geometric_median"] {
        let mut params = Params::new();
        if lbounds::aggregators::depends_on_f(rule).unwrap() {
            params = params.with("f", BYZANTINE as f64);
        }
        let p = Pipeline::rule(lbounds::aggregators::build(rule, &params, Compat::Native).unwrap());
        g_.bench_function(format!("{rule}_counted/41x79510"), |b| {
            let mut rng = rng_from_seed(6);
            timed(b, || {
                p.run_counted(distinct, &counts, &mut AggContext::new(&mut rng))
                    .unwrap()
            })
        });
    }
    g_.finish();
}

criterion_group!(benches, rounds, round_parts);
criterion_main!(benches);
