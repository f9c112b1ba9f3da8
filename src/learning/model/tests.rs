//! Tests of the dense engine: gradients against finite differences, per-example norms and
//! the clipped sum against explicitly materialised per-example gradients, the parameter
//! layout against torch, and bad input.

use super::*;
use crate::learning::examples::{Batch, Task};
use crate::rng::rng_from_seed;
use nalgebra::DMatrix;
use rand::RngExt;
use rand_distr::StandardNormal;

/// Features p × b from N(0, 1) and targets fitting `task`, from `seed`.
fn data(p: usize, b: usize, task: Task, seed: u64) -> (DMatrix<f64>, Vec<f64>) {
    let mut rng = rng_from_seed(seed);
    let x = DMatrix::from_fn(p, b, |_, _| rng.sample::<f64, _>(StandardNormal));
    let y = (0..b)
        .map(|_| match task {
            Task::Regression => rng.sample::<f64, _>(StandardNormal),
            Task::Classification { classes } => crate::rng::uniform_index(&mut rng, classes) as f64,
        })
        .collect();
    (x, y)
}

/// Every model shape the engine supports, small: (description, network).
fn zoo() -> Vec<DenseNet> {
    let reg = Task::Regression;
    let bin = Task::Classification { classes: 2 };
    let three = Task::Classification { classes: 3 };
    let mut nets = vec![
        DenseNet::new(vec![5, 1], Activation::Relu, Head::Squared, reg).unwrap(),
        DenseNet::new(vec![5, 1], Activation::Relu, Head::Logistic, bin).unwrap(),
        DenseNet::new(vec![5, 3], Activation::Relu, Head::Softmax, three).unwrap(),
    ];
    for act in [Activation::Relu, Activation::Tanh] {
        nets.push(DenseNet::new(vec![5, 7, 3], act, Head::Softmax, three).unwrap());
        nets.push(DenseNet::new(vec![5, 6, 4, 3], act, Head::Softmax, three).unwrap());
        nets.push(DenseNet::new(vec![5, 6, 1], act, Head::Squared, reg).unwrap());
        nets.push(DenseNet::new(vec![5, 6, 4, 1], act, Head::Logistic, bin).unwrap());
    }
    nets
}

fn batch<'a>(x: &'a DMatrix<f64>, y: &'a [f64]) -> Batch<'a> {
    Batch { x: x.as_view(), y }
}

/// Parameters from torch's init scaled up 3× so that the losses are far from flat.
fn theta_for(net: &DenseNet, seed: u64) -> Vec<f64> {
    net.init(&mut rng_from_seed(seed))
        .iter()
        .map(|v| 3.0 * v)
        .collect()
}

/// The analytic gradient of the mean loss equals central finite differences, for every model
/// shape and both activations.
///
/// Step h = 1e-5: the central difference's truncation error is h²/6·|ℓ'''| ≈ 1e-10 and its
/// rounding error ε·|ℓ|/h ≈ 1e-11 at these O(1) losses, so a tolerance of 1e-6 (absolute, or
/// relative to the largest gradient entry) leaves four orders of margin. A ReLU kink within
/// h of a pre-activation would break it; with Gaussian data and a fixed seed none is.
/// Mutation checked: dropping the activation's derivative in `backward` (a ReLU MLP treated
/// as linear below the head) fails this test; so does accumulating into the (NaN-filled)
/// gradient buffer on the first chunk instead of overwriting it.
#[test]
fn gradient_matches_finite_differences() {
    for net in zoo() {
        let (x, y) = data(5, 9, net.task(), 11);
        let theta = theta_for(&net, 3);
        // The buffer's old contents (NaN here) must be overwritten, never read.
        let mut grad = vec![f64::NAN; net.n_params()];
        let loss = net.loss_grad(&theta, batch(&x, &y), &mut grad).unwrap();
        assert_eq!(
            loss,
            net.loss(&theta, batch(&x, &y)).unwrap(),
            "{}",
            net.describe()
        );
        let scale = grad.iter().fold(1.0f64, |m, g| m.max(g.abs()));
        let h = 1e-5;
        for j in 0..theta.len() {
            let mut t = theta.clone();
            t[j] = theta[j] + h;
            let up = net.loss(&t, batch(&x, &y)).unwrap();
            t[j] = theta[j] - h;
            let down = net.loss(&t, batch(&x, &y)).unwrap();
            let fd = (up - down) / (2.0 * h);
            assert!(
                (fd - grad[j]).abs() <= 1e-6 * scale,
                "{}: coordinate {j}: analytic {} vs finite difference {fd}",
                net.describe(),
                grad[j]
            );
        }
    }
}

/// Per-example gradients, materialised the slow way: B calls of `loss_grad` on one example.
fn per_example_grads(net: &DenseNet, theta: &[f64], x: &DMatrix<f64>, y: &[f64]) -> Vec<Vec<f64>> {
    (0..y.len())
        .map(|i| {
            let xi = x.columns(i, 1).into_owned();
            let mut g = vec![0.0; net.n_params()];
            net.loss_grad(theta, batch(&xi, &y[i..=i]), &mut g).unwrap();
            g
        })
        .collect()
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// The norms from Σₖ‖gᵢ‖²(‖aᵢ‖² + 1) equal the norms of explicitly materialised per-example
/// gradients, for every model shape; relative tolerance 1e-12 (the two differ only in the
/// order of O(d) roundings of 1e-16 each).
/// Mutation checked: leaving out the bias term (`a2 + 1.0` → `a2`) fails this test.
#[test]
fn per_example_norms_match_materialised_gradients() {
    for net in zoo() {
        let (x, y) = data(5, 13, net.task(), 5);
        let theta = theta_for(&net, 7);
        let mut norms = vec![0.0; y.len()];
        net.per_example_grad_norms(&theta, batch(&x, &y), &mut norms)
            .unwrap();
        for (i, g) in per_example_grads(&net, &theta, &x, &y).iter().enumerate() {
            let want = norm(g);
            assert!(
                (norms[i] - want).abs() <= 1e-12 * want.max(1e-300),
                "{}: example {i}: {} vs {want}",
                net.describe(),
                norms[i]
            );
        }
    }
}

/// Σᵢ min(1, C/‖∇ℓᵢ‖)∇ℓᵢ from re-weighted back-propagation equals the same sum of explicitly
/// materialised and clipped per-example gradients, with C the median norm (so about half the
/// examples are clipped and half are not); relative tolerance 1e-12 of the largest entry.
/// The returned loss is the batch mean.
/// Mutation checked: scaling only the head's gradient by wᵢ and not the hidden layers'
/// (skipping `k < depth - 1` in the re-weighting loop) fails this test.
#[test]
fn clipped_sum_matches_materialised_clipping() {
    for net in zoo() {
        let (x, y) = data(5, 13, net.task(), 9);
        let theta = theta_for(&net, 4);
        let grads = per_example_grads(&net, &theta, &x, &y);
        let mut norms: Vec<f64> = grads.iter().map(|g| norm(g)).collect();
        norms.sort_by(f64::total_cmp);
        let c = norms[norms.len() / 2];
        let mut want = vec![0.0; net.n_params()];
        for g in &grads {
            let w = (c / norm(g)).min(1.0);
            want.iter_mut().zip(g).for_each(|(s, v)| *s += w * v);
        }
        let mut got = vec![f64::NAN; net.n_params()];
        let loss = net
            .clipped_grad_sum(&theta, batch(&x, &y), c, &mut got)
            .unwrap();
        assert_eq!(loss, net.loss(&theta, batch(&x, &y)).unwrap());
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (j, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!(
                (a - b).abs() <= 1e-12 * scale,
                "{}: coordinate {j}: {a} vs {b}",
                net.describe()
            );
        }
        // Every clipped example contributes norm ≤ C, so the sum has norm ≤ B·C.
        assert!(norm(&got) <= y.len() as f64 * c * (1.0 + 1e-12));
    }
}

/// With C = ∞ nothing is clipped: the sum times `1.0 / B` is `loss_grad`'s gradient bit for
/// bit (the DP loop with σ = 0 and C = ∞ must reproduce the non-private run exactly). Also
/// holds across chunks (B = 1300 > CHUNK) and for B = 7, where x·(1/7) and x/7 differ.
/// Mutation checked: `loss_grad` dividing by B instead of multiplying by 1/B fails this test.
#[test]
fn infinite_clip_is_the_plain_gradient_bit_for_bit() {
    for net in zoo() {
        for b in [7, 1300] {
            let (x, y) = data(5, b, net.task(), 2);
            let theta = theta_for(&net, 8);
            let mut g = vec![f64::NAN; net.n_params()];
            let l1 = net.loss_grad(&theta, batch(&x, &y), &mut g).unwrap();
            let mut s = vec![f64::NAN; net.n_params()];
            let l2 = net
                .clipped_grad_sum(&theta, batch(&x, &y), f64::INFINITY, &mut s)
                .unwrap();
            assert_eq!(l1, l2);
            for (a, v) in g.iter().zip(&s) {
                assert_eq!(
                    a.to_bits(),
                    (v * (1.0 / b as f64)).to_bits(),
                    "{}",
                    net.describe()
                );
            }
        }
    }
}

/// Chunking does not change the result beyond rounding: a batch of 1300 examples (three
/// chunks) gives the mean of the per-chunk gradients weighted by their sizes.
#[test]
fn chunks_add_up() {
    let net = DenseNet::new(
        vec![5, 6, 3],
        Activation::Tanh,
        Head::Softmax,
        Task::Classification { classes: 3 },
    )
    .unwrap();
    let (x, y) = data(5, 1300, net.task(), 1);
    let theta = theta_for(&net, 1);
    let mut whole = vec![0.0; net.n_params()];
    let lw = net.loss_grad(&theta, batch(&x, &y), &mut whole).unwrap();
    let mut parts = vec![0.0; net.n_params()];
    let mut lp = 0.0;
    for (start, len) in [(0, 100), (100, 1200)] {
        let xs = x.columns(start, len).into_owned();
        let mut g = vec![0.0; net.n_params()];
        lp += net
            .loss_grad(&theta, batch(&xs, &y[start..start + len]), &mut g)
            .unwrap()
            * len as f64;
        parts
            .iter_mut()
            .zip(&g)
            .for_each(|(p, v)| *p += v * len as f64);
    }
    assert!((lw - lp / 1300.0).abs() < 1e-12);
    for (a, b) in whole.iter().zip(&parts) {
        assert!((a - b / 1300.0).abs() < 1e-12);
    }
}

/// Hand-computed known answer that pins the parameter layout to torch's
/// `parameters_to_vector` for `nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))`:
/// W₁ = [[1, 2], [3, −4]] (weight[out][in]), b₁ = [0.5, −6], W₂ = [[2, −1]], b₂ = 0.25,
/// x = (1, −0.5), y = 1, loss ½(z − y)².
///
/// By hand: z₁ = W₁x + b₁ = (1 − 1 + 0.5, 3 + 2 − 6) = (0.5, −1), a₁ = (0.5, 0);
/// z₂ = 2·0.5 + 0.25 = 1.25, loss ½·0.25² = 0.03125; g₂ = 0.25, ∂W₂ = g₂a₁ᵀ = (0.125, 0),
/// ∂b₂ = 0.25; W₂ᵀg₂ = (0.5, −0.25), masked by ReLU' = (1, 0): g₁ = (0.5, 0),
/// ∂W₁ = g₁xᵀ = [[0.5, −0.25], [0, 0]], ∂b₁ = (0.5, 0). All dyadic, so exact.
/// Reading W₁ column-major instead gives z₁ = (1 − 1.5 + 0.5, 2 + 2 − 6) = (0, −2) and a
/// different loss, so the test fails for the transposed layout (mutation checked: swapping
/// to `Mat::col_major(weight, fan_out, fan_in)` in `forward`).
#[test]
fn layout_and_gradient_known_answer() {
    let net = DenseNet::new(
        vec![2, 2, 1],
        Activation::Relu,
        Head::Squared,
        Task::Regression,
    )
    .unwrap();
    let theta = [1.0, 2.0, 3.0, -4.0, 0.5, -6.0, 2.0, -1.0, 0.25];
    let x = DMatrix::from_column_slice(2, 1, &[1.0, -0.5]);
    let y = [1.0];
    let mut grad = vec![0.0; 9];
    let loss = net.loss_grad(&theta, batch(&x, &y), &mut grad).unwrap();
    assert_eq!(loss, 0.03125);
    assert_eq!(grad, [0.5, -0.25, 0.0, 0.0, 0.5, 0.0, 0.125, 0.0, 0.25]);
    assert_eq!(net.predict(&theta, x.as_view()).unwrap()[(0, 0)], 1.25);
    let mut n = [0.0];
    net.per_example_grad_norms(&theta, batch(&x, &y), &mut n)
        .unwrap();
    // ‖grad‖² = 0.25 + 0.0625 + 0.25 + 0.015625 + 0.0625 = 0.640625.
    assert!((n[0] * n[0] - 0.640625).abs() < 1e-15);
    // ‖g‖ ≈ 0.8 > C = 0.4: the clipped sum is g scaled by 0.4/‖g‖.
    let mut s = vec![0.0; 9];
    net.clipped_grad_sum(&theta, batch(&x, &y), 0.4, &mut s)
        .unwrap();
    for (a, g) in s.iter().zip(&grad) {
        assert!((a - g * 0.4 / 0.640625f64.sqrt()).abs() < 1e-15);
    }
}

/// Known answers at θ = 0, where every logit is 0: softmax loss ln K with gradient
/// (1/K − [k = y])·x per example (the bias gradient without the x); logistic loss ln 2 with
/// gradient (½ − y)·x; linear loss ½y².
#[test]
fn zero_parameters_known_answers() {
    let x = DMatrix::from_column_slice(2, 2, &[1.0, 2.0, -1.0, 0.5]);
    let softmax = ModelSpec::Softmax
        .build(2, Task::Classification { classes: 4 })
        .unwrap();
    let y = [3.0, 0.0];
    let mut g = vec![0.0; softmax.n_params()];
    let loss = softmax
        .loss_grad(&[0.0; 12], batch(&x, &y), &mut g)
        .unwrap();
    assert!((loss - 4f64.ln()).abs() < 1e-15);
    // Row k of W: mean over the two examples of (¼ − [k = yᵢ])·xᵢ.
    let want_w0 = [
        (0.25 * x[(0, 0)] + (0.25 - 1.0) * x[(0, 1)]) / 2.0,
        (0.25 * x[(1, 0)] + (0.25 - 1.0) * x[(1, 1)]) / 2.0,
    ];
    assert!((g[0] - want_w0[0]).abs() < 1e-15 && (g[1] - want_w0[1]).abs() < 1e-15);
    assert!(
        (g[8] - (0.25 - 1.0 + 0.25) / 2.0).abs() < 1e-15,
        "bias of class 0"
    );

    let logistic = ModelSpec::Logistic
        .build(2, Task::Classification { classes: 2 })
        .unwrap();
    let y = [1.0, 0.0];
    let mut g = vec![0.0; 3];
    let loss = logistic
        .loss_grad(&[0.0; 3], batch(&x, &y), &mut g)
        .unwrap();
    assert!((loss - 2f64.ln()).abs() < 1e-15);
    assert_eq!(
        g,
        [
            (-0.5 * x[(0, 0)] + 0.5 * x[(0, 1)]) / 2.0,
            (-0.5 * x[(1, 0)] + 0.5 * x[(1, 1)]) / 2.0,
            0.0
        ]
    );

    let linear = ModelSpec::Linear.build(2, Task::Regression).unwrap();
    let y = [3.0, -1.0];
    let loss = linear.loss(&[0.0; 3], batch(&x, &y)).unwrap();
    assert_eq!(loss, (4.5 + 0.5) / 2.0);
}

/// Logits of ±800 and 1000 overflow a naive e^z; the stable forms give the exact limits:
/// BCE(z = 800, y = 0) = 800 with gradient 1, BCE(−800, y = 0) = 0 with gradient 0, and the
/// cross-entropy of logits (1000, 0, 0) with label 1 is 1000 + ln(1 + 2e⁻¹⁰⁰⁰) = 1000.
/// Mutation checked: computing ln(1 + eᶻ) as `z.exp().ln_1p()` gives inf and fails.
#[test]
fn losses_are_stable_for_huge_logits() {
    let logistic = ModelSpec::Logistic
        .build(1, Task::Classification { classes: 2 })
        .unwrap();
    let x = DMatrix::from_column_slice(1, 1, &[1.0]);
    let mut g = [0.0; 2];
    assert_eq!(
        logistic
            .loss_grad(&[0.0, 800.0], batch(&x, &[0.0]), &mut g)
            .unwrap(),
        800.0
    );
    assert_eq!(g, [1.0, 1.0]);
    assert_eq!(
        logistic
            .loss_grad(&[0.0, -800.0], batch(&x, &[0.0]), &mut g)
            .unwrap(),
        0.0
    );
    assert_eq!(g, [0.0, 0.0]);
    let softmax = ModelSpec::Softmax
        .build(1, Task::Classification { classes: 3 })
        .unwrap();
    let theta = [0.0, 0.0, 0.0, 1000.0, 0.0, 0.0];
    let mut g = [0.0; 6];
    assert_eq!(
        softmax
            .loss_grad(&theta, batch(&x, &[1.0]), &mut g)
            .unwrap(),
        1000.0
    );
    assert_eq!(&g[3..], &[1.0, -1.0, 0.0]);
}

/// Logits that overflowed to ±∞ (parameters grown to 1e297 on features of 1e300) get the
/// loss's limit, not the formula's ∞ − ∞: binary cross-entropy 0 on the label's side and ∞
/// on the other, cross-entropy 0 where the label's logit alone is +∞ and ∞ where the label's
/// is finite; two logits at +∞ leave it undefined (NaN). The test loss of such a run was
/// printed as "-" (NaN) instead of "inf". Mutation checked: without the limits, BCE(+∞, 1),
/// BCE(±∞, 0) and the cross-entropy with the label's logit at +∞ are NaN and fail.
#[test]
fn losses_at_infinite_logits_are_their_limits() {
    let inf = f64::INFINITY;
    let logistic = ModelSpec::Logistic
        .build(1, Task::Classification { classes: 2 })
        .unwrap();
    let x = DMatrix::from_column_slice(1, 1, &[1.0]);
    for (logit, label, want) in [
        (inf, 1.0, 0.0),
        (inf, 0.0, inf),
        (-inf, 1.0, inf),
        (-inf, 0.0, 0.0),
    ] {
        let got = logistic.loss(&[0.0, logit], batch(&x, &[label])).unwrap();
        assert_eq!(got, want, "logit {logit}, label {label}");
    }
    let softmax = ModelSpec::Softmax
        .build(1, Task::Classification { classes: 3 })
        .unwrap();
    // θ = (W, b) with W = 0: the logits are the biases.
    let loss = |logits: [f64; 3], label: f64| {
        let theta = [0.0, 0.0, 0.0, logits[0], logits[1], logits[2]];
        softmax.loss(&theta, batch(&x, &[label])).unwrap()
    };
    assert_eq!(loss([inf, 0.0, -3.0], 0.0), 0.0);
    assert_eq!(loss([inf, 0.0, -3.0], 1.0), inf);
    assert_eq!(loss([inf, 0.0, -inf], 2.0), inf);
    assert!(loss([inf, inf, 0.0], 0.0).is_nan());
    assert_eq!(loss([inf, inf, 0.0], 2.0), inf);
    assert!(loss([inf, f64::NAN, 0.0], 0.0).is_nan());
    // Finite logits keep the formula's bits.
    assert_eq!(
        loss([2.0, 0.5, -1.0], 1.0),
        2.0 + (1.0 + (-1.5f64).exp() + (-3.0f64).exp()).ln() - 0.5
    );
}

/// The bias and weight draws follow torch's `nn.Linear` default: every entry of layer k in
/// [−1/√inₖ, 1/√inₖ), spread over the interval (max |θ| above 0.9 of the bound for the big
/// layer), the same vector for the same stream and a different one for another.
/// Mutation checked: bounding by 1/√out instead of 1/√in fails (layer 1 has in = 20, out = 50).
#[test]
fn init_follows_torch_bounds() {
    let net = DenseNet::new(
        vec![20, 50, 3],
        Activation::Tanh,
        Head::Softmax,
        Task::Classification { classes: 3 },
    )
    .unwrap();
    let t = net.init(&mut rng_from_seed(1));
    assert_eq!(t.len(), net.n_params());
    assert_eq!(t, net.init(&mut rng_from_seed(1)));
    assert_ne!(t, net.init(&mut rng_from_seed(2)));
    let (first, second) = t.split_at(20 * 50 + 50);
    let b1 = 1.0 / 20f64.sqrt();
    assert!(first.iter().all(|v| v.abs() <= b1));
    assert!(first.iter().fold(0.0f64, |m, v| m.max(v.abs())) > 0.9 * b1);
    let b2 = 1.0 / 50f64.sqrt();
    assert!(second.iter().all(|v| v.abs() <= b2));
    assert!(second.iter().fold(0.0f64, |m, v| m.max(v.abs())) > 0.5 * b2);
}

/// Accuracy: the first largest logit for K outputs (torch's `argmax`), the sign for one
/// output, NaN outputs wrong; `evaluate`'s one-pass override equals the trait's default.
#[test]
fn accuracy_and_evaluation() {
    // Softmax 2 → 3 with W = [[1, 0], [0, 1], [0, 0]], b = 0: logits (x₁, x₂, 0).
    let net = ModelSpec::Softmax
        .build(2, Task::Classification { classes: 3 })
        .unwrap();
    let theta = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    // Columns: (2, 1) → class 0; (1, 2) → 1; (−1, −1) → 2; (1, 1) ties 0 and 1 → 0.
    let x = DMatrix::from_column_slice(2, 4, &[2.0, 1.0, 1.0, 2.0, -1.0, -1.0, 1.0, 1.0]);
    assert_eq!(
        accuracy(net.as_ref(), &theta, batch(&x, &[0.0, 1.0, 2.0, 0.0])).unwrap(),
        1.0
    );
    assert_eq!(
        accuracy(net.as_ref(), &theta, batch(&x, &[0.0, 1.0, 2.0, 1.0])).unwrap(),
        0.75
    );
    let mut nan = theta;
    nan[0] = f64::NAN;
    assert_eq!(
        accuracy(net.as_ref(), &nan, batch(&x, &[0.0, 1.0, 2.0, 0.0])).unwrap(),
        0.0
    );

    let logistic = ModelSpec::Logistic
        .build(1, Task::Classification { classes: 2 })
        .unwrap();
    let x1 = DMatrix::from_column_slice(1, 3, &[1.0, -1.0, 0.0]);
    // z = x: predicts 1, 0, 0 (z = 0 is not > 0).
    assert_eq!(
        accuracy(logistic.as_ref(), &[1.0, 0.0], batch(&x1, &[1.0, 0.0, 0.0])).unwrap(),
        1.0
    );
    assert_eq!(
        accuracy(logistic.as_ref(), &[1.0, 0.0], batch(&x1, &[1.0, 0.0, 1.0])).unwrap(),
        2.0 / 3.0
    );

    let linear = ModelSpec::Linear.build(1, Task::Regression).unwrap();
    assert!(accuracy(linear.as_ref(), &[1.0, 0.0], batch(&x1, &[1.0, 0.0, 0.0])).is_err());
    let e = linear
        .evaluate(&[1.0, 0.0], batch(&x1, &[1.0, 0.0, 0.0]))
        .unwrap();
    assert_eq!((e.loss, e.accuracy), (0.5 / 3.0, None));

    // The trait's default `evaluate`, through a model that forwards everything else.
    for net in zoo() {
        let (x, y) = data(5, 700, net.task(), 3);
        let theta = theta_for(&net, 5);
        let fast = net.evaluate(&theta, batch(&x, &y)).unwrap();
        let plain = Opaque(net).evaluate(&theta, batch(&x, &y)).unwrap();
        assert_eq!(fast.accuracy, plain.accuracy);
        assert!((fast.loss - plain.loss).abs() <= 1e-14 * plain.loss.abs());
    }
}

/// Bad input is an error, never a panic: wrong parameter, feature, target, buffer lengths,
/// labels out of range or fractional, non-finite targets, a clip norm ≤ 0 or NaN, an empty
/// batch for a mean.
#[test]
fn bad_input_is_an_error() {
    let net = ModelSpec::Mlp {
        hidden: vec![4],
        activation: Activation::Relu,
    }
    .build(3, Task::Classification { classes: 3 })
    .unwrap();
    let d = net.n_params();
    let theta = vec![0.1; d];
    let (x, y) = data(3, 5, net.task(), 1);
    let ok = batch(&x, &y);
    let mut g = vec![0.0; d];
    let mut n = [0.0; 5];
    assert!(net.loss_grad(&theta[1..], ok, &mut g).is_err());
    assert!(net.loss_grad(&theta, ok, &mut g[1..]).is_err());
    assert!(net.per_example_grad_norms(&theta, ok, &mut n[1..]).is_err());
    assert!(net.predict(&theta[..d - 1], x.as_view()).is_err());
    let (x4, _) = data(4, 5, net.task(), 1);
    assert!(net.loss(&theta, batch(&x4, &y)).is_err());
    assert!(net.predict(&theta, x4.as_view()).is_err());
    assert!(net.loss(&theta, batch(&x, &y[1..])).is_err());
    for bad in [3.0, -1.0, 0.5, f64::NAN, f64::INFINITY] {
        let mut yb = y.clone();
        yb[2] = bad;
        assert!(net.loss(&theta, batch(&x, &yb)).is_err(), "label {bad}");
        assert!(net
            .clipped_grad_sum(&theta, batch(&x, &yb), 1.0, &mut g)
            .is_err());
    }
    for c in [0.0, -1.0, f64::NAN, f64::NEG_INFINITY] {
        assert!(
            net.clipped_grad_sum(&theta, ok, c, &mut g).is_err(),
            "clip {c}"
        );
    }
    let reg = ModelSpec::Linear.build(3, Task::Regression).unwrap();
    let yr = [1.0, f64::NAN, 0.0, 0.0, 0.0];
    assert!(reg.loss(&[0.0; 4], batch(&x, &yr)).is_err());
    // An empty batch has no mean loss, but its clipped sum (Poisson sampling) is zero.
    let x0 = DMatrix::<f64>::zeros(3, 0);
    assert!(net.loss(&theta, batch(&x0, &[])).is_err());
    assert!(net.loss_grad(&theta, batch(&x0, &[]), &mut g).is_err());
    g.iter_mut().for_each(|v| *v = 7.0);
    assert_eq!(
        net.clipped_grad_sum(&theta, batch(&x0, &[]), 1.0, &mut g)
            .unwrap(),
        0.0
    );
    assert!(g.iter().all(|&v| v == 0.0));
    net.per_example_grad_norms(&theta, batch(&x0, &[]), &mut [])
        .unwrap();
}

/// Byzantine-poisoned parameters (NaN, ±∞, 1e300) never panic or hang; the outputs may be
/// non-finite but every call returns.
#[test]
fn non_finite_parameters_do_not_panic() {
    for net in zoo() {
        let (x, y) = data(5, 9, net.task(), 4);
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -1e300] {
            let mut theta = theta_for(&net, 1);
            theta[0] = v;
            let last = theta.len() - 1;
            theta[last] = v;
            let b = batch(&x, &y);
            let mut g = vec![0.0; net.n_params()];
            let mut n = vec![0.0; y.len()];
            net.loss(&theta, b).unwrap();
            net.loss_grad(&theta, b, &mut g).unwrap();
            net.per_example_grad_norms(&theta, b, &mut n).unwrap();
            net.clipped_grad_sum(&theta, b, 1.0, &mut g).unwrap();
            net.predict(&theta, x.as_view()).unwrap();
            net.evaluate(&theta, b).unwrap();
        }
    }
}

/// Sizes and names: d for the benchmark models (softmax 784→10: 7 850; ByzFL's fc_mnist
/// 784-100-10: 79 510), parse defaults and errors, task mismatches and absurd sizes.
#[test]
fn spec_parse_and_build() {
    let digits = Task::Classification { classes: 10 };
    assert_eq!(
        ModelSpec::Softmax.build(784, digits).unwrap().n_params(),
        7850
    );
    let mlp = ModelSpec::parse("mlp", None, None).unwrap();
    assert_eq!(
        mlp,
        ModelSpec::Mlp {
            hidden: vec![100],
            activation: Activation::Relu
        }
    );
    let m = mlp.build(784, digits).unwrap();
    assert_eq!(
        (m.n_params(), m.describe()),
        (79_510, "mlp 784-100-10 relu softmax".to_string())
    );
    let deep = ModelSpec::parse("MLP", Some("100, 50"), Some("tanh")).unwrap();
    assert_eq!(
        deep,
        ModelSpec::Mlp {
            hidden: vec![100, 50],
            activation: Activation::Tanh
        }
    );
    assert_eq!(
        deep.build(64, Task::Regression).unwrap().n_params(),
        64 * 100 + 100 + 100 * 50 + 50 + 51
    );
    assert_eq!(
        ModelSpec::parse("softmax", None, None)
            .unwrap()
            .build(64, digits)
            .unwrap()
            .describe(),
        "softmax 64→10"
    );

    let err = |r: crate::Result<ModelSpec>| r.unwrap_err().to_string();
    assert!(err(ModelSpec::parse("softmx", None, None)).contains("did you mean `softmax`"));
    assert!(err(ModelSpec::parse("linear", Some("10"), None)).contains("only the mlp"));
    assert!(err(ModelSpec::parse("softmax", None, Some("relu"))).contains("only the mlp"));
    assert!(err(ModelSpec::parse("mlp", Some("100,0"), None)).contains("≥ 1"));
    assert!(err(ModelSpec::parse("mlp", Some("a"), None)).contains("comma-separated"));
    assert!(err(ModelSpec::parse("mlp", Some(""), None)).contains("comma-separated"));
    assert!(err(ModelSpec::parse("mlp", None, Some("sigmoid"))).contains("unknown activation"));

    let two = Task::Classification { classes: 2 };
    let build_err =
        |s: ModelSpec, p: usize, t: Task| s.build(p, t).err().expect("an error").to_string();
    assert!(build_err(ModelSpec::Logistic, 5, digits).contains("exactly two classes"));
    assert!(build_err(ModelSpec::Logistic, 5, Task::Regression).contains("exactly two classes"));
    assert!(build_err(ModelSpec::Softmax, 5, Task::Regression).contains("classification"));
    assert!(build_err(ModelSpec::Linear, 5, two).contains("regression"));
    assert!(build_err(ModelSpec::Linear, 0, Task::Regression).contains("features"));
    let huge = ModelSpec::Mlp {
        hidden: vec![100_000, 100_000],
        activation: Activation::Relu,
    };
    assert!(build_err(huge, 784, digits).contains("more than 1000000000 parameters"));
    let overflow = ModelSpec::Mlp {
        hidden: vec![usize::MAX, usize::MAX],
        activation: Activation::Relu,
    };
    assert!(build_err(overflow, 784, digits).contains("parameters"));
    let empty = ModelSpec::Mlp {
        hidden: vec![],
        activation: Activation::Relu,
    };
    assert!(build_err(empty, 784, digits).contains("hidden layer"));
    assert!(DenseNet::new(vec![3, 2], Activation::Relu, Head::Logistic, two).is_err());
    assert!(DenseNet::new(vec![3, 1], Activation::Relu, Head::Softmax, two).is_err());
}

/// A dense network seen only through [`Model`]'s required methods: the trait's defaults for
/// `evaluate` and `as_native_dense` (so a training round runs each client's step through
/// `loss_grad`, not the stacked first-layer product).
pub(crate) struct Opaque(pub(crate) DenseNet);
impl Model for Opaque {
    fn describe(&self) -> String {
        self.0.describe()
    }
    fn n_params(&self) -> usize {
        self.0.n_params()
    }
    fn n_features(&self) -> usize {
        self.0.n_features()
    }
    fn task(&self) -> Task {
        self.0.task()
    }
    fn loss_grad(&self, t: &[f64], b: Batch<'_>, g: &mut [f64]) -> crate::Result<f64> {
        self.0.loss_grad(t, b, g)
    }
    fn loss(&self, t: &[f64], b: Batch<'_>) -> crate::Result<f64> {
        self.0.loss(t, b)
    }
    fn per_example_grad_norms(&self, t: &[f64], b: Batch<'_>, o: &mut [f64]) -> crate::Result<()> {
        self.0.per_example_grad_norms(t, b, o)
    }
    fn clipped_grad_sum(
        &self,
        t: &[f64],
        b: Batch<'_>,
        c: f64,
        o: &mut [f64],
    ) -> crate::Result<f64> {
        self.0.clipped_grad_sum(t, b, c, o)
    }
    fn predict(&self, t: &[f64], x: nalgebra::DMatrixView<'_, f64>) -> crate::Result<DMatrix<f64>> {
        self.0.predict(t, x)
    }
    fn init(&self, rng: &mut crate::rng::SimRng) -> Vec<f64> {
        self.0.init(rng)
    }
}
