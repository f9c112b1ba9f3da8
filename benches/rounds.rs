//! One full D-SGD round at ByzFL's benchmark setting (../shared reference: n = 50 clients, 40
//! honest + 10 Byzantine, batch 32, momentum 0.9, ALIE): softmax regression 784→10 and the
//! MLP 784-100-10, for Average, TrMean, NNM+TrMean, Krum and GeometricMedian. One round =
//! 40 client gradients and momentum updates, the attack, the aggregation and the server step
//! (no evaluation). Run with `RAYON_NUM_THREADS=1` for ByzFL's one-thread column.

use criterion::{criterion_group, criterion_main, Criterion};
use lbounds::aggregators::{PipelineSpec, StepSpec};
use lbounds::experiment::robust::Streams;
use lbounds::learning::model::{Activation, ModelSpec};
use lbounds::learning::partition::Partition;
use lbounds::learning::sources::Synthetic;
use lbounds::learning::train::{TrainConfig, Trainer};
use lbounds::rng::rng_named;
use std::time::Duration;

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
                b.iter(|| tr.round().unwrap())
            });
        }
    }
    g.finish();
}

criterion_group!(benches, rounds);
criterion_main!(benches);
