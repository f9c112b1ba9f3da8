//! Model-level speed at ByzFL's benchmark sizes, one thread, f64.
//!
//! - `gemm/784x256x100`: the yardstick, this machine's matrix-product rate: one product of a
//!   784 × 256 by a 256 × 100 matrix (the first layer's weight gradient of the MLP at batch
//!   256), 20 070 400 multiply-adds.
//! - `floor/*`: the matrix products of each step below alone, at the step's own shapes,
//!   through nalgebra's gemm (matrixmultiply): what those products cost in matrixmultiply's
//!   8 × 8 tiles, which thin products (softmax's 10 outputs) fill below the yardstick's rate.
//!   The engine's own thin kernels (`thin_gemm`) beat this row for softmax regression; the
//!   issue's arithmetic floor is the step's multiply-adds at the yardstick's rate.
//! - `client_step`: one client's `loss_grad` at batch 32 (a D-SGD client step) for softmax
//!   regression 784→10 (d = 7 850; 501 760 multiply-adds in its two matrix products) and
//!   ByzFL's `fc_mnist` MLP 784-100-10 (d = 79 510; 5 113 600 multiply-adds: forward,
//!   back-propagation to the hidden layer, weight gradients).
//! - `dp_step`: the MLP at batch 256: `clipped_grad_sum` with C = 1 (exact per-example
//!   clipping, the DP-SGD step), next to `loss_grad` (the non-private step) and
//!   `per_example_grad_norms` alone. 40 908 800 multiply-adds each (the norms skip the
//!   weight-gradient products: 20 582 400).
//!
//! Every row's throughput is its multiply-adds per second ("elem/s"), so dividing the
//! yardstick's rate by a row's gives how far that row is from the matrix-product rate, and
//! a step's time over its `floor/*` row is the engine's overhead above its own products.
//! Compare with the times in docs/performance.md (ByzFL: 0.55 ms per softmax client step,
//! 0.85–1.0 ms per MLP client step; Opacus 1.6.0 per-sample 154 ms and ghost clipping
//! 7.2 ms per DP-SGD step; plain torch SGD 4.6 ms; all float32, one thread).
//!
//! Run: `cargo bench --bench training`. The yardstick depends on the host's CPU, which the
//! bench prints first (docs/performance.md, "Which host").

#[allow(dead_code)]
mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lbounds::learning::model::{Model, ModelSpec};
use lbounds::learning::{Batch, Task};
use lbounds::rng::{rng_from_seed, uniform_index};
use nalgebra::DMatrix;
use rand::RngExt;
use rand_distr::StandardNormal;
use std::hint::black_box;

const FEATURES: usize = 784;
const CLASSES: usize = 10;

/// N(0, 1) features (p × b) and uniform labels, from a fixed seed.
fn data(b: usize) -> (DMatrix<f64>, Vec<f64>) {
    let mut rng = rng_from_seed(7);
    let x = DMatrix::from_fn(FEATURES, b, |_, _| rng.sample::<f64, _>(StandardNormal));
    let y = (0..b)
        .map(|_| uniform_index(&mut rng, CLASSES) as f64)
        .collect();
    (x, y)
}

fn model(spec: &str) -> Box<dyn Model> {
    let spec = ModelSpec::parse(spec, None, None).expect("known model");
    spec.build(FEATURES, Task::Classification { classes: CLASSES })
        .expect("bench model builds")
}

fn gemm(c: &mut Criterion) {
    common::print_host();
    let mut rng = rng_from_seed(1);
    let a = DMatrix::from_fn(784, 256, |_, _| rng.sample::<f64, _>(StandardNormal));
    let b = DMatrix::from_fn(256, 100, |_, _| rng.sample::<f64, _>(StandardNormal));
    let mut out = DMatrix::<f64>::zeros(784, 100);
    let mut group = c.benchmark_group("gemm");
    group.throughput(Throughput::Elements(784 * 256 * 100));
    group.bench_function("784x256x100", |bench| {
        bench.iter(|| {
            out.gemm(1.0, &a, &b, 0.0);
            black_box(&out);
        })
    });
    group.finish();
}

/// The matrix products of one step of a dense network with `widths` at batch `b`, alone:
/// forward Wₖaₖ, back-propagation Wₖᵀgₖ (above the first layer) and weight gradients aₖgₖᵀ,
/// on contiguous random matrices with nalgebra's gemm (matrixmultiply, as the engine for
/// every product without a thin side). For the MLP this is the step's arithmetic floor at its
/// own shapes: the engine's time divided by it is its overhead (head, activations, bias sums,
/// scaling, norms); softmax regression's products run in the engine's thin kernels instead,
/// faster than here.
fn products_floor(c: &mut Criterion, name: &str, widths: &[usize], b: usize) {
    let mut rng = rng_from_seed(5);
    let mut gauss =
        |r: usize, k: usize| DMatrix::from_fn(r, k, |_, _| rng.sample::<f64, _>(StandardNormal));
    // Per layer: W (out × in), Wᵀ (in × out), a (in × b), g (out × b), gᵀ (b × out).
    let layers: Vec<_> = widths
        .windows(2)
        .map(|w| {
            let wt = gauss(w[0], w[1]);
            (
                wt.transpose(),
                wt,
                gauss(w[0], b),
                gauss(w[1], b),
                gauss(b, w[1]),
            )
        })
        .collect();
    let mut outs: Vec<_> = widths
        .windows(2)
        .map(|w| {
            (
                DMatrix::<f64>::zeros(w[1], b),
                DMatrix::<f64>::zeros(w[0], b),
                DMatrix::<f64>::zeros(w[0], w[1]),
            )
        })
        .collect();
    let madds: usize = widths
        .windows(2)
        .map(|w| 2 * w[0] * w[1] * b)
        .sum::<usize>()
        + widths
            .windows(2)
            .skip(1)
            .map(|w| w[0] * w[1] * b)
            .sum::<usize>();
    let mut group = c.benchmark_group("floor");
    group.throughput(Throughput::Elements(madds as u64));
    group.bench_function(name, |bench| {
        bench.iter(|| {
            for (k, ((w, wt, a, g, gt), (z, da, dw))) in layers.iter().zip(&mut outs).enumerate() {
                z.gemm(1.0, w, a, 0.0);
                if k > 0 {
                    da.gemm(1.0, wt, g, 0.0);
                }
                dw.gemm(1.0, a, gt, 0.0);
            }
            black_box(&outs);
        })
    });
    group.finish();
}

fn floors(c: &mut Criterion) {
    products_floor(c, "softmax_b32", &[FEATURES, CLASSES], 32);
    products_floor(c, "mlp_b32", &[FEATURES, 100, CLASSES], 32);
    products_floor(c, "mlp_b256", &[FEATURES, 100, CLASSES], 256);
}

fn client_step(c: &mut Criterion) {
    let (x, y) = data(32);
    let batch = Batch {
        x: x.as_view(),
        y: &y,
    };
    let mut group = c.benchmark_group("client_step");
    for (name, madds) in [("softmax", 501_760u64), ("mlp", 5_113_600)] {
        let m = model(name);
        let theta = m.init(&mut rng_from_seed(3));
        let mut grad = vec![0.0; m.n_params()];
        group.throughput(Throughput::Elements(madds));
        group.bench_function(BenchmarkId::new(name, "b32"), |bench| {
            bench.iter(|| black_box(m.loss_grad(&theta, batch, &mut grad).expect("valid")))
        });
    }
    group.finish();
}

fn dp_step(c: &mut Criterion) {
    let (x, y) = data(256);
    let batch = Batch {
        x: x.as_view(),
        y: &y,
    };
    let m = model("mlp");
    let theta = m.init(&mut rng_from_seed(3));
    let mut grad = vec![0.0; m.n_params()];
    let mut norms = vec![0.0; 256];
    let mut group = c.benchmark_group("dp_step/mlp_b256");
    group.throughput(Throughput::Elements(40_908_800));
    group.bench_function("clipped_grad_sum", |bench| {
        bench.iter(|| {
            black_box(
                m.clipped_grad_sum(&theta, batch, 1.0, &mut grad)
                    .expect("valid"),
            )
        })
    });
    group.bench_function("loss_grad", |bench| {
        bench.iter(|| black_box(m.loss_grad(&theta, batch, &mut grad).expect("valid")))
    });
    group.throughput(Throughput::Elements(20_582_400));
    group.bench_function("per_example_grad_norms", |bench| {
        bench.iter(|| {
            m.per_example_grad_norms(&theta, batch, &mut norms)
                .expect("valid");
            black_box(&norms);
        })
    });
    group.finish();
}

criterion_group!(benches, gemm, floors, client_step, dp_step);
criterion_main!(benches);
