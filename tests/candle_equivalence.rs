//! The candle backend against the native one (MLP) and against finite differences and a
//! per-example loop (CNN), on the CPU.
//!
//! Tolerances. f64: candle and [`DenseNet`] compute the same sums in different orders (gemm
//! blocking, reductions), so results agree to a few ulps per term: relative 1e-12 of the
//! largest entry is ~10⁴ ulps of headroom for sums of ≤ 10³ terms. A training run compounds
//! that over its steps: 1e-10 after 20 DP-SGD steps. f32: one rounding of θ and x to 2⁻²⁴
//! relative, then sums of ~10² terms: relative 1e-4; the trajectory 1e-3. Finite
//! differences: central, h = 1e-5 (truncation ~h²·|f'''| ≈ 1e-10, rounding ~1e-16/h ≈
//! 1e-11), tolerance 1e-6 relative to the largest gradient entry.
#![cfg(feature = "candle")]

use lbounds::learning::model::candle::{unfold_index, CandleNet, Layout};
use lbounds::learning::model::{Backend, Device, Dtype, Model, ModelSpec};
use lbounds::learning::{Batch, Examples, Task};
use lbounds::privacy::audit::mia::shadow::{self, DpShadow, ShadowConfig};
use lbounds::rng::rng_named;
use nalgebra::DMatrix;
use rand::RngExt;

/// `n` examples with `p` uniform(−1, 1) features and labels for `task`.
fn data(p: usize, n: usize, task: Task, seed: u64) -> Examples {
    let mut rng = rng_named(seed, 0, "candle-test/data");
    let x = DMatrix::from_fn(p, n, |_, _| 2.0 * rng.random::<f64>() - 1.0);
    let y = (0..n)
        .map(|_| match task {
            Task::Regression => 2.0 * rng.random::<f64>() - 1.0,
            Task::Classification { classes } => (rng.random::<f64>() * classes as f64).floor(),
        })
        .collect();
    Examples::new(x, y, task).unwrap()
}

fn candle(spec: &ModelSpec, p: usize, task: Task, dtype: Dtype) -> CandleNet {
    CandleNet::new(spec, p, task, Device::Cpu, dtype).unwrap()
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// max |a − b| ≤ tol · max(1, max |a|).
fn assert_close(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = max_abs(a).max(1.0);
    let err = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    assert!(
        err <= tol * scale,
        "{what}: max error {err:e} > {tol:e}·{scale}"
    );
}

/// Every quantity of the `Model` trait on one model pair.
fn compare(native: &dyn Model, other: &dyn Model, set: &Examples, tol: f64) {
    let theta = native.init(&mut rng_named(7, 0, "candle-test/init"));
    assert_eq!(other.init(&mut rng_named(7, 0, "candle-test/init")), theta);
    let batch = set.batch();
    let d = theta.len();
    let (mut g1, mut g2) = (vec![0.0; d], vec![0.0; d]);
    let l1 = native.loss_grad(&theta, batch, &mut g1).unwrap();
    let l2 = other.loss_grad(&theta, batch, &mut g2).unwrap();
    assert_close("loss", &[l1], &[l2], tol);
    assert_close("loss()", &[l1], &[other.loss(&theta, batch).unwrap()], tol);
    assert_close("gradient", &g1, &g2, tol);
    let (mut n1, mut n2) = (vec![0.0; set.len()], vec![0.0; set.len()]);
    native
        .per_example_grad_norms(&theta, batch, &mut n1)
        .unwrap();
    other
        .per_example_grad_norms(&theta, batch, &mut n2)
        .unwrap();
    assert_close("per-example norms", &n1, &n2, tol);
    // C at the median norm: half the examples are clipped.
    let mut sorted = n1.clone();
    sorted.sort_by(f64::total_cmp);
    for c in [sorted[sorted.len() / 2], f64::INFINITY] {
        let s1 = native.clipped_grad_sum(&theta, batch, c, &mut g1).unwrap();
        let s2 = other.clipped_grad_sum(&theta, batch, c, &mut g2).unwrap();
        assert_close("clipped-sum loss", &[s1], &[s2], tol);
        assert_close(&format!("clipped sum at C = {c}"), &g1, &g2, tol);
    }
    let z1 = native.predict(&theta, set.x().as_view()).unwrap();
    let z2 = other.predict(&theta, set.x().as_view()).unwrap();
    assert_eq!(z1.shape(), z2.shape());
    assert_close("predict", z1.as_slice(), z2.as_slice(), tol);
}

/// The candle MLP equals the native one on the same θ and batch, for every head, both
/// activations, f64 and f32. Mutations checked: dropping the `+ 1` (bias term) of the dense
/// ghost norm in `sq_norms` fails the per-example norms (error 0.7); writing the weight
/// gradient transposed (Uᵀ·G for Gᵀ·U) fails the gradient (error 2e-2); Opacus's
/// C/(‖g‖ + 10⁻⁶) clip factor fails the clipped sum (error 2e-6).
#[test]
fn candle_mlp_equals_native() {
    let mlp = |h: &str, act| ModelSpec::parse("mlp", Some(h), Some(act)).unwrap();
    let cases = [
        (mlp("16,8", "relu"), Task::Classification { classes: 4 }),
        (mlp("12", "tanh"), Task::Classification { classes: 3 }),
        (mlp("10", "relu"), Task::Regression),
        (ModelSpec::Logistic, Task::Classification { classes: 2 }),
        (ModelSpec::Softmax, Task::Classification { classes: 5 }),
        (ModelSpec::Linear, Task::Regression),
    ];
    for (spec, task) in cases {
        let set = data(9, 37, task, 1);
        let native = spec.build(9, task).unwrap();
        for (dtype, tol) in [(Dtype::F64, 1e-12), (Dtype::F32, 1e-4)] {
            let c = candle(&spec, 9, task, dtype);
            compare(native.as_ref(), &c, &set, tol);
        }
    }
}

/// A DP-SGD shadow training (clipped sums on the backend, Gaussian noise from the crate's
/// keyed stream on the host) follows the native trajectory, and a second candle run
/// reproduces the first bit for bit. Mutation checked: Opacus's C/(‖g‖ + 10⁻⁶) clip factor
/// in candle moves the trajectory by 1.3e-7 (> 1e-10).
#[test]
fn dp_sgd_trajectory_matches_and_reproduces() {
    let task = Task::Classification { classes: 3 };
    let set = data(8, 64, task, 2);
    let cfg = ShadowConfig {
        model: ModelSpec::parse("mlp", Some("16"), None).unwrap(),
        epochs: 20,
        batch: 0,
        lr: 0.5,
        l2: 0.0,
        dp: Some(DpShadow {
            epsilon: 1.0,
            delta: 1e-5,
            clip: 0.5,
        }),
        backend: Backend::Native,
    };
    let native = cfg.model.build(8, task).unwrap();
    let run = |m: &dyn Model| shadow::train(m, &set, &cfg, 3, 0, 64.0, Some(1.1)).unwrap();
    let want = run(native.as_ref());
    for (dtype, tol) in [(Dtype::F64, 1e-10), (Dtype::F32, 1e-3)] {
        let c = candle(&cfg.model, 8, task, dtype);
        let first = run(&c);
        assert_close(&format!("trajectory {dtype}"), &want, &first, tol);
        let again = run(&c);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&first), bits(&again), "{dtype}: two runs differ");
    }
}

/// The `Backend` choice builds the candle network, and the cnn only there.
#[test]
fn backend_builds_candle_models() {
    let task = Task::Classification { classes: 10 };
    let b = Backend::from_flags("candle", Some("cpu"), None).unwrap();
    let m = b
        .build(&ModelSpec::parse("cnn", None, None).unwrap(), 784, task)
        .unwrap();
    // 16·25 + 16 + 32·16·25 + 32 + 512·10 + 10 (torch's parameter count of the same net).
    assert_eq!(m.n_params(), 18_378);
    assert!(m.describe().contains("candle cpu f64"), "{}", m.describe());
    let e = match Backend::Native.build(&ModelSpec::parse("cnn", None, None).unwrap(), 784, task) {
        Ok(_) => panic!("the native backend built a cnn"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("candle"), "{e}");
    // Too small an image, and a non-square one, are errors, not panics.
    let cnn = ModelSpec::parse("cnn", Some("2,3"), None).unwrap();
    assert!(b.build(&cnn, 15 * 15, task).is_err());
    assert!(b.build(&cnn, 17 * 16, task).is_err());
    assert!(b.build(&cnn, 3 * 16 * 16, task).is_ok());
}

/// Central finite differences of the mean loss in every coordinate.
fn finite_differences(m: &dyn Model, theta: &[f64], set: &Examples) -> Vec<f64> {
    let h = 1e-5;
    let mut t = theta.to_vec();
    (0..theta.len())
        .map(|j| {
            t[j] = theta[j] + h;
            let up = m.loss(&t, set.batch()).unwrap();
            t[j] = theta[j] - h;
            let down = m.loss(&t, set.batch()).unwrap();
            t[j] = theta[j];
            (up - down) / (2.0 * h)
        })
        .collect()
}

/// The CNN's gradient equals finite differences (one and three channels, both activations),
/// and its per-example norms and clipped sums equal a per-example loop of
/// [`Model::loss_grad`] on one-example batches. Mutations checked: the weight gradient
/// written transposed fails the finite differences (error 0.12); dropping the bias term of
/// the conv norms fails the per-example norms (error 0.13); Opacus's +10⁻⁶ in the clip
/// factor fails the clipped sum (error 3e-7). (The im2col order against torch's weight
/// layout is the unit test `unfold_index_follows_torch_weight_order`: autograd follows any
/// consistent order, so finite differences cannot see it.)
#[test]
fn candle_cnn_gradients_match_finite_differences_and_the_per_example_loop() {
    let task = Task::Classification { classes: 3 };
    for (features, act) in [(16 * 16, "tanh"), (17 * 17, "relu"), (3 * 16 * 16, "tanh")] {
        let spec = ModelSpec::parse("cnn", Some("2,3"), Some(act)).unwrap();
        let m = candle(&spec, features, task, Dtype::F64);
        let set = data(features, 5, task, 4);
        let theta = m.init(&mut rng_named(5, 0, "candle-test/cnn-init"));
        let mut g = vec![0.0; theta.len()];
        m.loss_grad(&theta, set.batch(), &mut g).unwrap();
        let fd = finite_differences(&m, &theta, &set);
        assert_close(
            &format!("cnn {features} {act} gradient vs FD"),
            &fd,
            &g,
            1e-6,
        );
        // The per-example loop: the documented reference, not the implementation.
        let per: Vec<Vec<f64>> = (0..set.len())
            .map(|i| {
                let one = set.select(&[i]);
                let mut gi = vec![0.0; theta.len()];
                m.loss_grad(&theta, one.batch(), &mut gi).unwrap();
                gi
            })
            .collect();
        let norms: Vec<f64> = per
            .iter()
            .map(|gi| gi.iter().map(|v| v * v).sum::<f64>().sqrt())
            .collect();
        let mut got = vec![0.0; set.len()];
        m.per_example_grad_norms(&theta, set.batch(), &mut got)
            .unwrap();
        assert_close("cnn per-example norms", &norms, &got, 1e-12);
        let c = norms.iter().sum::<f64>() / norms.len() as f64;
        let mut want = vec![0.0; theta.len()];
        for (gi, n) in per.iter().zip(&norms) {
            let w = (c / n).min(1.0);
            want.iter_mut().zip(gi).for_each(|(a, v)| *a += w * v);
        }
        let mut sum = vec![0.0; theta.len()];
        m.clipped_grad_sum(&theta, set.batch(), c, &mut sum)
            .unwrap();
        assert_close("cnn clipped sum", &want, &sum, 1e-12);
        // f32 agrees with f64 to single precision.
        let m32 = candle(&spec, features, task, Dtype::F32);
        let mut g32 = vec![0.0; theta.len()];
        m32.loss_grad(&theta, set.batch(), &mut g32).unwrap();
        assert_close("cnn f32 gradient", &g, &g32, 1e-4);
    }
}

/// Bad input is an error on candle too: wrong θ length, features, labels, clip norm.
#[test]
fn candle_rejects_bad_input() {
    let task = Task::Classification { classes: 3 };
    let m = candle(&ModelSpec::Softmax, 4, task, Dtype::F64);
    let set = data(4, 6, task, 6);
    let theta = vec![0.0; m.n_params()];
    let mut g = vec![0.0; m.n_params()];
    assert!(m.loss_grad(&theta[1..], set.batch(), &mut g).is_err());
    assert!(m
        .clipped_grad_sum(&theta, set.batch(), f64::NAN, &mut g)
        .is_err());
    let bad = Batch {
        x: set.x().as_view(),
        y: &[0.0, 1.0, 2.0, 3.0, 0.0, 1.0],
    };
    assert!(m.loss(&theta, bad).is_err());
    let wide = data(5, 6, task, 6);
    assert!(m.loss(&theta, wide.batch()).is_err());
    let none = DMatrix::<f64>::zeros(4, 0);
    let empty = Batch {
        x: none.as_view(),
        y: &[],
    };
    assert!(m.loss(&theta, empty).is_err());
    assert_eq!(m.clipped_grad_sum(&theta, empty, 1.0, &mut g).unwrap(), 0.0);
}

/// Known answer, by hand: a 2-channel 3×3 image, 2×2 kernel; the first output position reads
/// (c0: 0, 1, 3, 4) then (c1: 9, 10, 12, 13) in C×H×W — torch's `[out, C, k, k]` weight
/// order — and (0, 2, 6, 8) then (1, 3, 7, 9) in H×W×C. (Autograd follows any consistent
/// order, so only this test sees a wrong one: mutation checked, swapping dy and dx fails it.)
#[test]
fn unfold_index_follows_torch_weight_order() {
    let chw = unfold_index(2, 3, 2, Layout::Chw);
    assert_eq!(chw.len(), 4 * 8);
    assert_eq!(&chw[..8], &[0, 1, 3, 4, 9, 10, 12, 13]);
    let hwc = unfold_index(2, 3, 2, Layout::Hwc);
    assert_eq!(&hwc[..8], &[0, 2, 6, 8, 1, 3, 7, 9]);
    // The last position (1, 1): c0 at 4, 5, 7, 8.
    assert_eq!(&chw[24..28], &[4, 5, 7, 8]);
}

/// A sweep's `backend` value names the device and precision.
#[test]
fn sweep_backend_values_parse() {
    let want = Backend::Candle {
        device: Device::Cpu,
        dtype: Dtype::F32,
    };
    assert_eq!(Backend::parse("candle:cpu:f32").unwrap(), want);
    assert_eq!(Backend::parse("candle:f32").unwrap(), want);
    assert_eq!(
        Backend::parse("candle").unwrap(),
        Backend::Candle {
            device: Device::Cpu,
            dtype: Dtype::F64
        }
    );
    assert!(Backend::parse("candle:tpu").is_err());
}
