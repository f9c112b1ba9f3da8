//! DP-SGD examples per second on 28×28 inputs, native vs candle (feature `candle`).
//!
//! One DP-SGD step's model work at batch 256: `clipped_grad_sum` with C = 1 (exact
//! per-example clipping), for
//! - the MLP 784-100-10 (ByzFL's `fc_mnist`, d = 79 510): native [`DenseNet`] f64, candle
//!   CPU f64 and f32;
//! - the CNN 1×28×28 conv5·16 pool2 conv5·32 pool2 dense 512→10 (d = 18 378): candle CPU f64
//!   and f32 (the native backend has no CNN);
//! - with `--features cuda` and a GPU, the same on `cuda:0` in f32 (the goal: the CNN
//!   at ≥ 20 000 examples per second).
//!
//! Throughput is examples per second ("elem/s" = 256 per iteration). The noise draw and the
//! update (host, O(d)) are not included: they are the training loop's, identical for every
//! backend. Under `LBOUNDS_BENCH_CPU_TIME=1` the times are CPU time of all threads (a
//! shared machine; see benches/common).
//!
//! Run: `cargo bench --features candle --bench train_candle`.

// `bandwidth_sum` is unused here.
#[allow(dead_code)]
mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lbounds::learning::model::{Backend, Device, Dtype, ModelSpec};
use lbounds::learning::{Batch, Task};
use lbounds::rng::{rng_from_seed, uniform_index};
use nalgebra::DMatrix;
use rand::RngExt;
use rand_distr::StandardNormal;

const SIDE: usize = 28;
const CLASSES: usize = 10;
const BATCH: usize = 256;

/// N(0, 1) pixels (784 × 256) and uniform labels, from a fixed seed.
fn data() -> (DMatrix<f64>, Vec<f64>) {
    let mut rng = rng_from_seed(7);
    let x = DMatrix::from_fn(SIDE * SIDE, BATCH, |_, _| {
        rng.sample::<f64, _>(StandardNormal)
    });
    let y = (0..BATCH)
        .map(|_| uniform_index(&mut rng, CLASSES) as f64)
        .collect();
    (x, y)
}

/// The backends measured: native, candle CPU f64/f32, and cuda:0 f32 when built with it.
fn backends() -> Vec<(&'static str, Backend)> {
    let candle = |device, dtype| Backend::Candle { device, dtype };
    let mut v = vec![
        ("native", Backend::Native),
        ("candle_cpu_f64", candle(Device::Cpu, Dtype::F64)),
        ("candle_cpu_f32", candle(Device::Cpu, Dtype::F32)),
    ];
    if cfg!(feature = "cuda") {
        v.push(("candle_cuda_f32", candle(Device::Cuda(0), Dtype::F32)));
    }
    v
}

fn dp_step(c: &mut Criterion) {
    let (x, y) = data();
    let batch = Batch {
        x: x.as_view(),
        y: &y,
    };
    let task = Task::Classification { classes: CLASSES };
    for name in ["mlp", "cnn"] {
        let spec = ModelSpec::parse(name, None, None).expect("known model");
        let mut group = c.benchmark_group(format!("dp_sgd_b256/{name}"));
        group.throughput(Throughput::Elements(BATCH as u64));
        group.sample_size(10);
        for (label, backend) in backends() {
            // The native backend has no cnn; a GPU may be absent at run time.
            let Ok(m) = backend.build(&spec, SIDE * SIDE, task) else {
                continue;
            };
            let theta = m.init(&mut rng_from_seed(3));
            let mut grad = vec![0.0; m.n_params()];
            group.bench_function(label, |bench| {
                common::timed(bench, || {
                    m.clipped_grad_sum(&theta, batch, 1.0, &mut grad)
                        .expect("valid")
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, dp_step);
criterion_main!(benches);
