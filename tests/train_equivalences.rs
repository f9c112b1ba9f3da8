//! Equivalences of the training loop with algorithms written out independently here, on the
//! real softmax model and a synthetic population.
//!
//! - f = 0, the average, equal client sizes, full batches ⇒ centralised heavy-ball gradient
//!   descent on the pooled data. Derivation: with equal sizes the mean of the clients' mean
//!   gradients is the pooled mean gradient ∇F(θ). The average of the client momenta
//!   aₜ = (1/h)Σᵢ mᵢ,ₜ obeys aₜ = β·aₜ₋₁ + (1 − β)·∇F(θₜ) (the EMA is linear), and
//!   θₜ₊₁ = θₜ − η·aₜ. Hence θₜ₊₁ − θₜ = β(θₜ − θₜ₋₁) − η(1 − β)∇F(θₜ): Polyak's heavy ball
//!   with step η(1 − β) and momentum β (θ₋₁ = θ₀), when λ = 0 and η is constant.
//! - One client, f = 0 ⇒ plain mini-batch SGD over that client's reshuffled epochs.
//! - The average with f = 0 under any partition (unequal sizes, label skew), full batches,
//!   β = 0 ⇒ FedSGD (McMahan et al., AISTATS 2017, arXiv 1602.05629, with every client
//!   weighted equally): θ ← θ − η·(1/h)Σᵢ∇Fᵢ(θ), the same as FedAvg with one local
//!   full-batch step, whose average of θ − η∇Fᵢ(θ) is that step.

use lbounds::aggregators::{PipelineSpec, StepSpec};
use lbounds::experiment::robust::Streams;
use lbounds::learning::model::ModelSpec;
use lbounds::learning::partition::Partition;
use lbounds::learning::sources::Synthetic;
use lbounds::learning::train::{train, Algorithm, TrainConfig};
use lbounds::learning::{Examples, Model};
use lbounds::rng::{permutation, rng_named};

fn pooled() -> Examples {
    Synthetic::parse("classes=3,features=5,records=240")
        .unwrap()
        .generate(&mut rng_named(1, 0, "data"))
        .unwrap()
}

fn model(e: &Examples) -> Box<dyn Model> {
    ModelSpec::Softmax.build(e.features(), e.task()).unwrap()
}

fn average() -> PipelineSpec {
    PipelineSpec {
        rule: StepSpec::named("average"),
        pre: vec![],
    }
}

fn final_params(m: &dyn Model, clients: &[Examples], init: &[f64], cfg: &TrainConfig) -> Vec<f64> {
    train(
        m,
        clients,
        None,
        init.to_vec(),
        cfg,
        Streams::new(7, 0),
        &mut |_| Ok(()),
    )
    .unwrap()
    .params
}

fn max_rel_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
        .fold(0.0, f64::max)
}

/// f = 0 + average + equal client sizes ⇒ heavy-ball GD on the pooled data (module docs).
/// Tolerance 1e-11 relative: the two compute the same quantities in different orders (the
/// mean of 4 client means vs one pooled mean, the EMA vs the heavy-ball recursion), a few
/// ulps per step over 30 contracting steps.
/// Mutation that makes it fail (checked): the momentum without damping (m ← βm + g).
#[test]
fn average_of_equal_clients_is_heavy_ball_gd() {
    let data = pooled();
    let m = model(&data);
    let idx: Vec<usize> = (0..data.len()).collect();
    let clients: Vec<Examples> = idx.chunks(60).map(|c| data.select(c)).collect();
    let init = m.init(&mut rng_named(1, 0, "init"));
    let (eta, beta, t) = (0.3, 0.8, 30);
    let mut cfg = TrainConfig::new(t, eta, average());
    cfg.momentum = beta;
    let got = final_params(m.as_ref(), &clients, &init, &cfg);
    // Heavy ball on the pooled data.
    let d = init.len();
    let (mut prev, mut theta) = (init.clone(), init.clone());
    let mut g = vec![0.0; d];
    for _ in 0..t {
        m.loss_grad(&theta, data.batch(), &mut g).unwrap();
        let next: Vec<f64> = (0..d)
            .map(|j| theta[j] - eta * (1.0 - beta) * g[j] + beta * (theta[j] - prev[j]))
            .collect();
        prev = std::mem::replace(&mut theta, next);
    }
    let diff = max_rel_diff(&got, &theta);
    assert!(diff < 1e-11, "max relative difference {diff}");
    assert!(max_rel_diff(&init, &theta) > 1e-2, "training moved θ");
}

/// One client, f = 0 ⇒ plain SGD: θ ← θ − η·(mean gradient of the batch), batches of B from
/// the client's own epochs (a permutation from its stream `batches/client/0` per epoch, the
/// last batch partial). Bit for bit: the same batches and the same arithmetic.
/// Mutation that makes it fail (checked): dropping the partial last batch of an epoch.
#[test]
fn one_client_is_plain_sgd() {
    let data = pooled().select(&(0..50).collect::<Vec<_>>());
    let m = model(&data);
    let init = m.init(&mut rng_named(1, 0, "init"));
    let (eta, b, t) = (0.2, 16, 12);
    let mut cfg = TrainConfig::new(t, eta, average());
    cfg.batch_size = Some(b);
    let got = final_params(m.as_ref(), std::slice::from_ref(&data), &init, &cfg);
    let mut rng = Streams::new(7, 0).get("batches/client/0");
    let mut theta = init.clone();
    let mut g = vec![0.0; theta.len()];
    let mut order: Vec<usize> = Vec::new();
    let mut pos = 0;
    for _ in 0..t {
        if pos >= order.len() {
            order = permutation(&mut rng, data.len());
            pos = 0;
        }
        let end = (pos + b).min(data.len());
        let batch = data.select(&order[pos..end]);
        pos = end;
        m.loss_grad(&theta, batch.batch(), &mut g).unwrap();
        for (w, gj) in theta.iter_mut().zip(&g) {
            *w -= eta * gj;
        }
    }
    assert_eq!(got, theta);
}

/// The average with f = 0 under any partition ⇒ FedSGD: D-SGD (β = 0, full batches) and
/// FedAvg with one local full-batch step agree, and both equal θ − η(1/h)Σ∇Fᵢ written out
/// here, under Dirichlet label skew and Zipf sizes. Tolerance 1e-12 relative (the mean of
/// θ − η∇Fᵢ vs θ − η·mean ∇Fᵢ: a few ulps per step over 10 steps).
/// Mutation that makes it fail (checked): the FedAvg server moving θ towards the aggregate by
/// its learning rate (θ ← θ − η(θ − a)) instead of setting θ = a.
#[test]
fn average_under_any_partition_is_fedsgd() {
    let data = pooled();
    let m = model(&data);
    let init = m.init(&mut rng_named(1, 0, "init"));
    for spec in ["dirichlet:alpha=0.3", "zipf:s=1.5", "extreme"] {
        let clients = Partition::parse(spec)
            .unwrap()
            .clients(&data, 6, &mut rng_named(1, 0, "partition"))
            .unwrap();
        let (eta, t) = (0.5, 10);
        let dsgd = TrainConfig::new(t, eta, average());
        let mut fedavg = dsgd.clone();
        fedavg.algorithm = Algorithm::FedAvg { local_steps: 1 };
        let a = final_params(m.as_ref(), &clients, &init, &dsgd);
        let b = final_params(m.as_ref(), &clients, &init, &fedavg);
        let mut theta = init.clone();
        let mut g = vec![0.0; theta.len()];
        for _ in 0..t {
            let mut mean = vec![0.0; theta.len()];
            for c in &clients {
                m.loss_grad(&theta, c.batch(), &mut g).unwrap();
                for (s, gj) in mean.iter_mut().zip(&g) {
                    *s += gj / clients.len() as f64;
                }
            }
            for (w, s) in theta.iter_mut().zip(&mean) {
                *w -= eta * s;
            }
        }
        assert!(max_rel_diff(&a, &theta) < 1e-12, "{spec}: D-SGD");
        assert!(max_rel_diff(&b, &theta) < 1e-12, "{spec}: FedAvg");
        let sizes: Vec<usize> = clients.iter().map(Examples::len).collect();
        if spec != "extreme" {
            assert!(
                sizes.iter().min() != sizes.iter().max(),
                "{spec}: sizes {sizes:?}"
            );
        }
    }
}
