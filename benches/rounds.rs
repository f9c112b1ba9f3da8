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
//! `LBOUNDS_BENCH_FLOOR=1` also prints, before each round's criterion run, its arithmetic
//! floor (the yardstick: the round's multiply-adds at this machine's matrix-product
//! rate) beside the round, both timed within the same few seconds, for every row whatever
//! the filter: the median wall time of 60 products of `gemm/784x256x100` (the `training`
//! bench's yardstick) before and after the median of 60 rounds. On these shared VMs the rate
//! and the rounds each move by 10–25 % from hour to hour (docs/performance.md, "across13"),
//! so a ratio of numbers taken apart means little.
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

/// Multiply-adds of one round, as docs/performance.md counts them ("thin13"): per client
/// (40, batch 32), the forward and weight-gradient products, 2·b·Σ fan-in·fan-out over the
/// layers, the back-propagation below the last layer, b·Σ over the layers above the first,
/// and the momentum's d; then the rule's pair terms over d (`pre`/`rule` as in
/// [`defence`]), all over the round's 41 distinct vectors (40 honest, the attack counted 10
/// times): NNM's 820 distances between them, Krum's 861 Gram entries (norms included), the
/// geometric median's Gram and one weighted sum of the 41.
/// Additions, comparisons, exp and sorting are not counted.
fn round_madds(widths: &[usize], rule: &str) -> f64 {
    let layers: Vec<f64> = widths.windows(2).map(|w| (w[0] * w[1]) as f64).collect();
    let d: f64 = widths.windows(2).map(|w| ((w[0] + 1) * w[1]) as f64).sum();
    let b = 32.0;
    let client = 2.0 * b * layers.iter().sum::<f64>() + b * layers[1..].iter().sum::<f64>() + d;
    let pairs = match rule {
        "nnm+trmean" => 820.0,
        "krum" => 861.0,
        "geometric_median" => 861.0 + 41.0,
        _ => 0.0,
    };
    40.0 * client + pairs * d
}

/// Seconds per call of `f`: the median of `calls` calls, each timed alone by wall clock (a
/// call that lost its time slice to another VM is an outlier the median drops; the process's
/// CPU time, which [`common::timed`] can use, advances only at scheduler ticks, too coarse
/// for one call), on a thread of rayon's pool as [`common::timed`] runs them, after a few
/// unmeasured calls.
fn median_seconds<R: Send>(calls: usize, mut f: impl FnMut() -> R + Send) -> f64 {
    lbounds::experiment::on_pool(|| {
        for _ in 0..calls / 10 + 1 {
            std::hint::black_box(f());
        }
        let mut t: Vec<f64> = (0..calls.max(1))
            .map(|_| {
                let wall = std::time::Instant::now();
                std::hint::black_box(f());
                wall.elapsed().as_secs_f64()
            })
            .collect();
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    })
}

/// One line per round on stderr under `LBOUNDS_BENCH_FLOOR` (see the module's doc).
fn print_floor(name: &str, widths: &[usize], rule: &str, tr: &mut Trainer<'_>) {
    let mut rng = rng_from_seed(1);
    let mut normal = |_: usize, _: usize| rng.sample::<f64, _>(StandardNormal);
    let (a, b) = (
        DMatrix::from_fn(784, 256, &mut normal),
        DMatrix::from_fn(256, 100, &mut normal),
    );
    let mut out = DMatrix::<f64>::zeros(784, 100);
    let mut rate = || {
        let t = median_seconds(60, || out.gemm(1.0, &a, &b, 0.0));
        (784.0 * 256.0 * 100.0) / t
    };
    let before = rate();
    let round = median_seconds(60, || tr.round().unwrap());
    let after = rate();
    let madds = round_madds(widths, rule);
    let floor = madds / before.max(after);
    eprintln!(
        "floor {name}: {:.1} M multiply-adds at {:.1} G/s (the faster of {:.1} before and {:.1} \
         after) = {:.3} ms; the round's median {:.3} ms = {:.2}× the floor",
        madds / 1e6,
        before.max(after) / 1e9,
        before / 1e9,
        after / 1e9,
        floor * 1e3,
        round * 1e3,
        round / floor
    );
}

fn rounds(c: &mut Criterion) {
    common::print_host();
    let floors = std::env::var_os("LBOUNDS_BENCH_FLOOR").is_some();
    let data = Synthetic::parse("classes=10,features=784,records=2560")
        .unwrap()
        .generate(&mut rng_named(0, 0, "data"))
        .unwrap();
    let clients = Partition::Iid
        .clients(&data, 40, &mut rng_named(0, 0, "partition"))
        .unwrap();
    let models = [
        ("softmax", &[784, 10][..], ModelSpec::Softmax),
        (
            "mlp",
            &[784, 100, 10][..],
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
    for (mname, widths, spec) in &models {
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
            if floors {
                print_floor(&format!("{mname}/{dname}"), widths, dname, &mut tr);
            }
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
