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
/// as linear below the head) fails this test.
#[test]
fn gradient_matches_finite_differences() {
    for net in zoo() {
        let (x, y) = data(5, 9, net.task(), 11);
        let theta = theta_for(&net, 3);
        let mut grad = vec![0.0; net.n_params()];
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
        let mut got = vec![0.0; net.n_params()];
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

/// With C = ∞ nothing is clipped: the sum divided by B is `loss_grad`'s gradient bit for bit
/// (the DP loop with σ = 0 and C = ∞ must reproduce the non-private run exactly). Also holds
/// across chunks (B = 1300 > CHUNK).
/// Mutation checked: `loss_grad` multiplying by 1/B instead of dividing by B fails this test.
#[test]
fn infinite_clip_is_the_plain_gradient_bit_for_bit() {
    for net in zoo() {
        for b in [7, 1300] {
            let (x, y) = data(5, b, net.task(), 2);
            let theta = theta_for(&net, 8);
            let mut g = vec![0.0; net.n_params()];
            let l1 = net.loss_grad(&theta, batch(&x, &y), &mut g).unwrap();
            let mut s = vec![0.0; net.n_params()];
            let l2 = net
                .clipped_grad_sum(&theta, batch(&x, &y), f64::INFINITY, &mut s)
                .unwrap();
            assert_eq!(l1, l2);
            for (a, v) in g.iter().zip(&s) {
                assert_eq!(a.to_bits(), (v / b as f64).to_bits(), "{}", net.describe());
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
