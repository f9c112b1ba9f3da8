//! Unit tests of the loop on a tiny least-squares model private to these tests (the real
//! models are tested in their own files; the equivalences on them live in
//! tests/train_equivalences.rs).

use super::*;
use crate::aggregators::{PipelineSpec, StepSpec};
use crate::learning::{Batch, Task};
use crate::rng::rng_named;
use nalgebra::DMatrixView;

/// ½(θᵀx − y)², mean over the batch; d = p, no bias.
struct LeastSquares {
    p: usize,
}

impl LeastSquares {
    fn residuals(&self, theta: &[f64], b: Batch<'_>) -> Vec<f64> {
        (0..b.len())
            .map(|j| {
                let x = b.x.column(j);
                x.iter().zip(theta).map(|(a, t)| a * t).sum::<f64>() - b.y[j]
            })
            .collect()
    }
}

impl Model for LeastSquares {
    fn describe(&self) -> String {
        format!("least squares {}", self.p)
    }
    fn n_params(&self) -> usize {
        self.p
    }
    fn n_features(&self) -> usize {
        self.p
    }
    fn task(&self) -> Task {
        Task::Regression
    }
    fn loss_grad(&self, theta: &[f64], b: Batch<'_>, grad: &mut [f64]) -> Result<f64> {
        let r = self.residuals(theta, b);
        grad.iter_mut().for_each(|g| *g = 0.0);
        for (j, rj) in r.iter().enumerate() {
            for (g, x) in grad.iter_mut().zip(b.x.column(j).iter()) {
                *g += rj * x;
            }
        }
        let m = b.len() as f64;
        grad.iter_mut().for_each(|g| *g /= m);
        Ok(r.iter().map(|v| 0.5 * v * v).sum::<f64>() / m)
    }
    fn loss(&self, theta: &[f64], b: Batch<'_>) -> Result<f64> {
        let r = self.residuals(theta, b);
        Ok(r.iter().map(|v| 0.5 * v * v).sum::<f64>() / b.len() as f64)
    }
    fn per_example_grad_norms(&self, theta: &[f64], b: Batch<'_>, out: &mut [f64]) -> Result<()> {
        let r = self.residuals(theta, b);
        for (j, o) in out.iter_mut().enumerate() {
            *o = r[j].abs() * b.x.column(j).norm();
        }
        Ok(())
    }
    fn clipped_grad_sum(
        &self,
        theta: &[f64],
        b: Batch<'_>,
        c: f64,
        out: &mut [f64],
    ) -> Result<f64> {
        let r = self.residuals(theta, b);
        out.iter_mut().for_each(|g| *g = 0.0);
        for (j, rj) in r.iter().enumerate() {
            let x = b.x.column(j);
            let nrm = rj.abs() * x.norm();
            let s = if nrm > c { c / nrm } else { 1.0 };
            for (g, xv) in out.iter_mut().zip(x.iter()) {
                *g += s * rj * xv;
            }
        }
        Ok(r.iter().map(|v| 0.5 * v * v).sum::<f64>() / b.len() as f64)
    }
    fn predict(&self, theta: &[f64], x: DMatrixView<'_, f64>) -> Result<DMatrix<f64>> {
        Ok(DMatrix::from_fn(1, x.ncols(), |_, j| {
            x.column(j).iter().zip(theta).map(|(a, t)| a * t).sum()
        }))
    }
    fn init(&self, _rng: &mut SimRng) -> Vec<f64> {
        vec![0.0; self.p]
    }
}

/// `clients` regression clients of `sizes[i]` examples, p = 3, y = ⟨(1, −2, 0.5), x⟩ + shift
/// per client (heterogeneous), from a fixed stream.
fn clients(sizes: &[usize]) -> Vec<Examples> {
    let mut rng = rng_named(99, 0, "test-data");
    sizes
        .iter()
        .enumerate()
        .map(|(i, &m)| {
            let x = DMatrix::from_fn(3, m, |_, _| rng.random::<f64>() * 2.0 - 1.0);
            let y = (0..m)
                .map(|j| x[(0, j)] - 2.0 * x[(1, j)] + 0.5 * x[(2, j)] + 0.3 * i as f64)
                .collect();
            Examples::new(x, y, Task::Regression).unwrap()
        })
        .collect()
}

/// The `epsilon` of every round record (JSON lines).
fn epsilons(lines: &[String]) -> Vec<f64> {
    lines
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["epsilon"]
                .as_f64()
                .unwrap()
        })
        .collect()
}

fn spec(rule: &str, f: usize) -> PipelineSpec {
    let mut r = StepSpec::named(rule);
    if crate::aggregators::depends_on_f(rule).unwrap() {
        r.params.set("f", f as f64);
    }
    PipelineSpec {
        rule: r,
        pre: vec![],
    }
}

/// The defences that take the Byzantine copies counted (`Pipeline::takes_counts`).
const COUNTED_RULES: [&str; 5] = [
    "average",
    "krum",
    "geometric_median",
    "trmean",
    "nnm+trmean",
];

/// [`spec`] of a rule, or of one pre-aggregator and a rule named `pre+rule`.
fn spec_with_pre(name: &str, f: usize) -> PipelineSpec {
    match name.split_once('+') {
        Some((pre, rule)) => {
            let mut d = spec(rule, f);
            d.pre = vec![spec(pre, f).rule];
            d
        }
        None => spec(name, f),
    }
}

/// Runs and returns the records as JSON without their wall times, and the summary.
fn run(cfg: &TrainConfig, data: &[Examples], seed: u64) -> (Vec<String>, TrainSummary) {
    let model = LeastSquares { p: 3 };
    let mut lines = Vec::new();
    let s = train(
        &model,
        data,
        None,
        vec![0.1, 0.2, -0.3],
        cfg,
        Streams::new(seed, 0),
        &mut |r| {
            let mut v = serde_json::to_value(r).unwrap();
            v.as_object_mut().unwrap().remove("seconds");
            lines.push(v.to_string());
            Ok(())
        },
    )
    .unwrap();
    (lines, s)
}

/// Hand-derived two rounds of D-SGD with momentum, weight decay and a milestone, one honest
/// client (p = 1, one example x = 1, y = 0, so g = θ) and f = 1 sign-flipping attacker under
/// the average. β = 0.5, η = 0.1, λ = 0.1, milestone 1 with γ = 0.5, θ₀ = 1:
/// round 1: g = 1, m = 0.5·0 + 0.5·1 = 0.5, b = −0.5, a = 0, θ₁ = 1 − 0.1·(0 + 0.1·1) = 0.99;
/// round 2 (η = 0.05): g = 0.99, m = 0.25 + 0.495 = 0.745, b = −0.745, a = 0,
/// θ₂ = 0.99 − 0.05·0.099 = 0.98505.
/// Mutation that makes it fail: stepping the schedule before the round (η₁ = 0.05 gives
/// θ₁ = 0.995), or dropping the server's weight decay (θ stays 1).
#[test]
fn two_rounds_known_answer() {
    let x = DMatrix::from_element(1, 1, 1.0);
    let data = vec![Examples::new(x, vec![0.0], Task::Regression).unwrap()];
    let mut cfg = TrainConfig::new(2, 0.1, spec("average", 1));
    cfg.momentum = 0.5;
    cfg.weight_decay = 0.1;
    cfg.lr_milestones = vec![1];
    cfg.lr_decay = 0.5;
    cfg.byzantine = 1;
    cfg.attack = Some(StepSpec::named("sign_flipping"));
    let model = LeastSquares { p: 1 };
    let mut thetas = Vec::new();
    train(
        &model,
        &data,
        None,
        vec![1.0],
        &cfg,
        Streams::new(0, 0),
        &mut |r| {
            thetas.push((r.lr, r.params[0]));
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(thetas[0].0, 0.1);
    assert_eq!(thetas[1].0, 0.05);
    // Tolerance 1e-15: three roundings of numbers of order 1.
    assert!((thetas[0].1 - 0.99).abs() < 1e-15, "{thetas:?}");
    assert!((thetas[1].1 - 0.98505).abs() < 1e-15, "{thetas:?}");
}

/// Records are the same bytes with 1 and 2 threads (mini-batches, DP noise, a random rule
/// input order does not exist, but the attack and the clients draw from their streams).
/// End-to-end companion of `experiment::par`'s `identical_for_any_thread_count`, which is
/// where the scheduling mutation (draws from one shared stream behind a mutex instead of
/// `batches/client/<i>`) is checked to fail: here each client's step is too short for two
/// threads to reorder the clients reliably, so this test alone need not catch it (tried:
/// returning the client results in completion order did not fail it). What it does catch:
/// any thread-count dependence outside the client map (e.g. a rule or attack drawing from
/// a thread-local generator).
#[test]
fn identical_records_for_any_thread_count() {
    let data = clients(&[17, 23, 9, 30, 12]);
    let mut cfg = TrainConfig::new(6, 0.05, spec("trmean", 2));
    cfg.batch_size = Some(4);
    cfg.momentum = 0.9;
    cfg.byzantine = 2;
    cfg.attack = Some(StepSpec::named("a_little_is_enough"));
    cfg.eval_every = 2;
    cfg.privacy = Some(DpConfig {
        level: DpLevel::Example,
        noise_multiplier: 0.7,
        clip: Some(1.0),
        delta: 1e-5,
        accountant: AccountantKind::Rdp,
    });
    let with = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| run(&cfg, &data, 3).0)
    };
    let one = with(1);
    assert_eq!(one.len(), 6);
    assert_eq!(with(2), one);
    assert_ne!(
        run(&cfg, &data, 4).0,
        one,
        "another seed draws other batches"
    );
}

/// DP with σ = 0 and C = ∞ is the non-private run with the same (Poisson) sampling, bit for
/// bit, and reports no ε. Mutation that makes it fail (checked): drawing the DP noise, even
/// at σ = 0, from the client's batch stream (the batches then change).
#[test]
fn dp_without_noise_or_clipping_is_the_plain_run() {
    let data = clients(&[15, 22, 8]);
    let mut plain = TrainConfig::new(8, 0.1, spec("average", 0));
    plain.batch_size = Some(5);
    plain.sampling = Some(Sampling::Poisson);
    plain.momentum = 0.5;
    let mut dp = plain.clone();
    dp.sampling = None;
    dp.privacy = Some(DpConfig {
        level: DpLevel::Example,
        noise_multiplier: 0.0,
        clip: None,
        delta: 1e-5,
        accountant: AccountantKind::Rdp,
    });
    let (a, sa) = run(&plain, &data, 1);
    let (b, sb) = run(&dp, &data, 1);
    assert_eq!(a, b);
    assert_eq!(sa.params, sb.params);
    assert_eq!(sb.epsilon, None);
}

/// Clipping at a norm no example reaches changes nothing beyond rounding; a small clip norm
/// bounds every step; noise spends ε, which grows with the rounds and equals the RDP
/// accountant's at the largest sampling rate. Mutation that makes it fail: accounting at the
/// smallest client's rate instead of the largest (5/22 instead of 5/8).
#[test]
fn dp_clipping_and_accounting() {
    let data = clients(&[15, 22, 8]);
    let mut cfg = TrainConfig::new(5, 0.1, spec("average", 0));
    cfg.batch_size = Some(5);
    cfg.sampling = Some(Sampling::Poisson);
    let (_, plain) = run(&cfg, &data, 1);
    let dp = |clip: f64, sigma: f64| {
        let mut c = cfg.clone();
        c.privacy = Some(DpConfig {
            level: DpLevel::Example,
            noise_multiplier: sigma,
            clip: Some(clip),
            delta: 1e-5,
            accountant: AccountantKind::Rdp,
        });
        run(&c, &data, 1)
    };
    let (_, loose) = dp(1e300, 0.0);
    for (a, b) in loose.params.iter().zip(&plain.params) {
        // 1e-13: the clipped sum and the mean times b differ by a few roundings per step.
        assert!((a - b).abs() < 1e-13, "{a} {b}");
    }
    // A tiny clip norm: every step moves θ by at most η·C·(batch)/expected per client.
    let (_, tight) = dp(1e-3, 0.0);
    let moved: f64 = tight
        .params
        .iter()
        .zip([0.1, 0.2, -0.3])
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        .sqrt();
    // 5 rounds, each θ step ≤ η·max_i(|batch_i|·C/B); batches ≤ N_i ≤ 22 examples, B = 5.
    assert!(moved <= 5.0 * 0.1 * 22.0 * 1e-3 / 5.0 + 1e-15, "{moved}");
    let (lines, noisy) = dp(1.0, 1.0);
    let eps = epsilons(&lines);
    assert!(eps.windows(2).all(|w| w[0] < w[1]), "{eps:?}");
    // q = max B/Nᵢ = 5/8, σ = 1, 5 steps: the RDP accountant's ε at δ = 1e-5.
    let want = crate::privacy::accounting::rdp::epsilon(5.0 / 8.0, 1.0, 5, 1e-5).unwrap();
    assert_eq!(noisy.epsilon, Some(want));
}

/// The `inf` attack poisons the average (the run stops as diverged or failed, no panic) and
/// not the coordinate-wise median; an attack at 1e300 is survived by trimmed mean.
/// Mutation that makes it fail (checked): propagating the rule's refusal of ±∞ as an error
/// (`?`) instead of recording the run as diverged.
#[test]
fn far_and_infinite_byzantine_vectors() {
    let data = clients(&[10, 10, 10, 10, 10]);
    let attack = |name: &str, rule: &str, params: &[(&str, f64)]| {
        let mut cfg = TrainConfig::new(5, 0.05, spec(rule, 1));
        cfg.byzantine = 1;
        let mut a = StepSpec::named(name);
        for (k, v) in params {
            a.params.set(k, *v);
        }
        cfg.attack = Some(a);
        run(&cfg, &data, 0)
    };
    let (lines, s) = attack("inf", "average", &[]);
    assert!(
        matches!(s.status, RunStatus::Diverged { round: 1, .. }),
        "{:?}",
        s.status
    );
    assert_eq!(lines.len(), 1, "stops at round 1");
    assert!(s.params.iter().all(|v| v.is_finite()));
    let (_, s) = attack("inf", "median", &[]);
    assert_eq!(s.status, RunStatus::Completed);
    assert!(s.params.iter().all(|v| v.is_finite()));
    let (_, s) = attack("inner_product_manipulation", "trmean", &[("tau", 1e300)]);
    assert_eq!(s.status, RunStatus::Completed);
    assert!(s.params.iter().all(|v| v.is_finite()));
    let (_, s) = attack("inner_product_manipulation", "average", &[("tau", 1e300)]);
    assert!(
        matches!(s.status, RunStatus::Diverged { .. }),
        "{:?}",
        s.status
    );
}

/// A θ that a poisoned average has sent far, still finite, at which the evaluation's honest
/// full gradients overflow (one client's features at 10¹⁰: residuals near 10³⁰⁷, times the
/// features past f64), stops the run at that round as diverged, naming those gradients, with
/// the finite θ in the record and no evaluation; a robust rule under the same attack
/// completes. Mutation that makes it fail (checked): the evaluation's error propagated
/// (`self.evaluate()?`), which ended `lbounds train` with exit 2 under `--model mlp --rule
/// average --attack a_little_is_enough --attack-param tau=1e300`.
#[test]
fn an_evaluation_that_overflows_at_a_finite_theta_is_a_divergence() {
    let mut data = clients(&[10, 10, 10, 10, 10]);
    data[0] = Examples::new(
        DMatrix::from_element(3, 10, 1e10),
        vec![0.0; 10],
        Task::Regression,
    )
    .unwrap();
    for (rule, f) in [("average", 1), ("median", 1)] {
        let mut cfg = TrainConfig::new(3, 0.05, spec(rule, f));
        cfg.byzantine = 1;
        cfg.eval_every = 1;
        let mut attack = StepSpec::named("inner_product_manipulation");
        attack.params.set("tau", 1e300);
        cfg.attack = Some(attack);
        let (lines, s) = run(&cfg, &data, 0);
        assert!(
            s.params.iter().all(|v| v.is_finite()),
            "{rule}: {:?}",
            s.params
        );
        if rule == "median" {
            assert_eq!(s.status, RunStatus::Completed, "{rule}");
            continue;
        }
        match &s.status {
            RunStatus::Diverged { round: 1, reason } => {
                assert!(reason.contains("full gradients"), "{reason}")
            }
            other => panic!("{rule}: {other:?}"),
        }
        assert_eq!(lines.len(), 1, "stops at round 1");
        let record: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(record["status"], "diverged");
        assert!(
            s.params.iter().any(|v| v.abs() > 1e290),
            "θ moved far: {:?}",
            s.params
        );
        assert!(s.last_eval.is_none(), "no evaluation at the diverged round");
    }
}

/// An honest client whose gradient overflows (features of 10²⁰⁰: residual times feature is
/// past f64) stops the run at round 1 as diverged, naming the client's gradient, under
/// momentum (the check fused into the momentum step), without momentum (β = 0 copies) and
/// under FedAvg; the parameters stay those of round 0. Mutation that makes it fail
/// (checked): the fused step reporting every gradient finite — the run then stops on the
/// aggregate instead, which names the rule.
#[test]
fn an_overflowing_client_gradient_stops_the_run_naming_it() {
    let mut data = clients(&[10, 10, 10]);
    let x = DMatrix::from_element(3, 10, 1e200);
    data[1] = Examples::new(x, vec![0.0; 10], Task::Regression).unwrap();
    for (momentum, fedavg) in [(0.9, false), (0.0, false), (0.0, true)] {
        let mut cfg = TrainConfig::new(3, 0.05, spec("average", 0));
        cfg.momentum = momentum;
        if fedavg {
            cfg.algorithm = Algorithm::FedAvg { local_steps: 2 };
        }
        let (lines, s) = run(&cfg, &data, 0);
        let case = format!("momentum {momentum}, FedAvg {fedavg}: {:?}", s.status);
        match &s.status {
            RunStatus::Diverged { round: 1, reason } => {
                assert!(reason.contains("a client's gradient"), "{case}")
            }
            _ => panic!("{case}"),
        }
        assert_eq!(lines.len(), 1, "stops at round 1, {case}");
        assert_eq!(s.params, vec![0.1, 0.2, -0.3], "{case}");
    }
}

/// Bad input is refused before any round, naming the problem.
#[test]
fn bad_input_is_named() {
    let model = LeastSquares { p: 3 };
    let data = clients(&[5, 5, 5]);
    let cfg = TrainConfig::new(2, 0.1, spec("average", 0));
    let err = |cfg: &TrainConfig, data: &[Examples], init: Vec<f64>| {
        Trainer::new(&model, data, None, init, cfg, Streams::new(0, 0))
            .err()
            .expect("refused")
            .to_string()
    };
    assert!(err(&cfg, &data, vec![0.0; 2]).contains("init"));
    let mut trm = cfg.clone();
    trm.defence = spec("trmean", 3);
    trm.byzantine = 3;
    trm.attack = Some(StepSpec::named("sign_flipping"));
    assert!(err(&trm, &data, vec![0.0; 3]).contains("n > 2f"));
    let empty = Examples::new(DMatrix::zeros(3, 0), vec![], Task::Regression).unwrap();
    let mut with_empty = data.clone();
    with_empty.push(empty);
    assert!(err(&cfg, &with_empty, vec![0.0; 3]).contains("client 3 has no examples"));
    let mut bad_attack = cfg.clone();
    bad_attack.byzantine = 1;
    bad_attack.attack = Some(StepSpec::named("nope"));
    assert!(err(&bad_attack, &data, vec![0.0; 3]).contains("unknown attack"));
    let mut flip = cfg.clone();
    flip.byzantine = 1;
    flip.attack = Some(StepSpec::named(LABEL_FLIPPING));
    assert!(err(&flip, &data, vec![0.0; 3]).contains("classification"));
}

/// Shuffled epochs: over one epoch every example is used exactly once, batches of B with a
/// partial last one, then a new order. Mutation that makes it fail: dropping the partial
/// batch (`drop_last`; checked: sizes become [3, 3, 3]).
#[test]
fn shuffled_epochs_cover_every_example_once() {
    let data = clients(&[7]);
    let settings = StepSettings {
        batch: Some(3),
        sampling: Sampling::Shuffle,
        dp: None,
        flip_classes: None,
    };
    let mut c = Client::new(&data[0], rng_named(0, 0, "b"), rng_named(0, 0, "n"));
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    for _ in 0..3 {
        c.draw(&settings);
        sizes.push(c.idx.len());
        seen.extend_from_slice(&c.idx);
    }
    assert_eq!(sizes, [3, 3, 1]);
    seen.sort_unstable();
    assert_eq!(seen, (0..7).collect::<Vec<_>>());
    c.draw(&settings);
    assert_eq!(c.idx.len(), 3, "a new epoch starts");
}

/// User-level (central) DP: the server clips every received vector to C and projects the
/// aggregate on the ball of radius C, so with σ = 0 each round moves θ by at most η·C; with
/// noise, ε after T rounds is the Gaussian mechanism's (q = 1) composed T times by the RDP
/// accountant, and grows with the rounds. Mutation that makes it fail (checked): accounting
/// the rounds as subsampled (q = 0.5 instead of 1). Removing only the per-vector clipping
/// does not fail it (checked): the projection alone keeps the step within η·C, which is
/// what the sensitivity argument needs.
#[test]
fn user_level_dp_clips_at_the_server_and_accounts_the_gaussian_per_round() {
    let data = clients(&[15, 22, 8]);
    let mut cfg = TrainConfig::new(5, 0.1, spec("average", 0));
    cfg.batch_size = None;
    cfg.momentum = 0.0;
    let central = |clip: f64, sigma: f64| {
        let mut c = cfg.clone();
        c.privacy = Some(DpConfig {
            level: DpLevel::User,
            noise_multiplier: sigma,
            clip: Some(clip),
            delta: 1e-5,
            accountant: AccountantKind::Rdp,
        });
        run(&c, &data, 1)
    };
    let (_, plain) = run(&cfg, &data, 1);
    let moved = |p: &[f64]| -> f64 {
        p.iter()
            .zip([0.1, 0.2, -0.3])
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt()
    };
    // The plain run moves far more than the clipped bound, so the bound below is not vacuous.
    let c = 1e-3;
    assert!(moved(&plain.params) > 10.0 * 5.0 * 0.1 * c);
    let (_, tight) = central(c, 0.0);
    // 5 rounds of at most η·C each; 1e-15 for the roundings of the clip and the steps.
    assert!(
        moved(&tight.params) <= 5.0 * 0.1 * c + 1e-15,
        "{:?}",
        tight.params
    );
    let (lines, noisy) = central(1.0, 2.0);
    let eps = epsilons(&lines);
    assert!(eps.windows(2).all(|w| w[0] < w[1]), "{eps:?}");
    let want = crate::privacy::accounting::rdp::epsilon(1.0, 2.0, 5, 1e-5).unwrap();
    // The same accountant on the same curve: equal up to the composition's roundings.
    assert!(
        (noisy.epsilon.unwrap() - want).abs() <= 1e-12 * want,
        "{eps:?} {want}"
    );
}

/// The PLD accountant in the loop: the run's final ε (computed at the last evaluation round)
/// is the PLD accountant's for the per-round Gaussian (user level, q = 1) over the rounds run.
/// Mutation that makes it fail (checked): accounting one round fewer than were run.
#[test]
fn pld_accounting_in_the_loop_matches_the_accountant() {
    let data = clients(&[15, 22, 8]);
    let mut cfg = TrainConfig::new(6, 0.1, spec("average", 0));
    cfg.momentum = 0.0;
    cfg.eval_every = 3;
    cfg.privacy = Some(DpConfig {
        level: DpLevel::User,
        noise_multiplier: 1.5,
        clip: Some(1.0),
        delta: 1e-5,
        accountant: AccountantKind::Pld,
    });
    let (_, s) = run(&cfg, &data, 2);
    let want = crate::privacy::accounting::epsilon(AccountantKind::Pld, 1.0, 1.5, 6, 1e-5).unwrap();
    let got = s.epsilon.unwrap();
    // Both discretise the same privacy-loss distribution on the same grid; 1e-9 relative
    // leaves room for a different composition order of the FFT powers.
    assert!((got - want).abs() <= 1e-9 * want, "{got} {want}");
}

/// With d = 80 010 (softmax regression on 8000 features) the attack, the rule and the
/// server's step each run over several coordinate blocks in parallel, not one: the records
/// are still the same bytes with 1 and 2 threads, for the average, the trimmed mean, Krum and
/// the geometric median under ALIE (written apart for the trimmed mean, inside the rule's
/// pass for the others). Mutations that make it fail (checked): ALIE's blocks taking their
/// first coordinate from a shared counter of blocks started (an atomic `fetch_add`) instead
/// of from their index, so the block-to-coordinates map follows scheduling; the same in the
/// Gram pass's fill (`gram_about_filling`).
#[test]
fn identical_records_for_any_thread_count_across_coordinate_blocks() {
    use crate::learning::model::ModelSpec;
    let (p, classes) = (8000, 10);
    let task = Task::Classification { classes };
    let model = ModelSpec::Softmax.build(p, task).unwrap();
    let mut rng = rng_named(98, 0, "test-data");
    let data: Vec<Examples> = (0..6)
        .map(|i| {
            let x = DMatrix::from_fn(p, 12, |_, _| rng.random::<f64>() * 2.0 - 1.0);
            let y = (0..12).map(|j| ((i + j) % classes) as f64).collect();
            Examples::new(x, y, task).unwrap()
        })
        .collect();
    let init = model.init(&mut rng_named(98, 0, "init"));
    assert!(init.len() > 8 * 8192, "many blocks of every parallel pass");
    for rule in ["average", "trmean", "krum", "geometric_median"] {
        let mut cfg = TrainConfig::new(3, 0.1, spec(rule, 2));
        cfg.batch_size = Some(4);
        cfg.momentum = 0.9;
        cfg.byzantine = 2;
        cfg.attack = Some(StepSpec::named("a_little_is_enough"));
        let with =
            |threads: usize| trajectory(model.as_ref(), &data, &init, &cfg, 5, threads, false);
        let one = with(1);
        assert_eq!(one.len(), 3);
        assert_ne!(one[0], one[2], "the parameters move");
        assert!(with(2) == one, "{rule}: 2 threads differ from 1");
    }
}

/// A round whose Byzantine vectors are copies of one hands the rule that vector counted f
/// times (`Pipeline::run_counted`): the records are those of the round that writes the f
/// copies out, the same bytes for the average, Krum, the trimmed mean and NNM + the trimmed
/// mean, and θ within 1e-9 for the geometric median (its sums over the copies are products,
/// and the iteration stops at 1e-10 of the spread). The written-out round is forced by a
/// clipping step at c = 1e300 before the rest, which leaves these finite vectors as they are
/// but is a pre-aggregator (NNM then no longer comes alone before its rule), so the pipeline
/// no longer takes counts. Under ALIE the counted round also writes the vector inside the
/// rule's first pass (`Pipeline::run_counted_filling`), so that path is held to the
/// written-out records too. (Six clients: the trimmed mean's one pass, which serves from
/// 32 vectors, is held to the expanded bits in `trmean::tests`.)
///
/// Mutation checked: counting the copies f − 1 times in the loop fails it (the average's
/// bits change), and so does writing no Byzantine vector at all (stale zeros counted f times).
#[test]
fn counted_byzantine_copies_give_the_written_out_records() {
    let data = clients(&[17, 23, 9, 30, 12, 14]);
    for attack in ["a_little_is_enough", "sign_flipping"] {
        for rule in COUNTED_RULES {
            let mut counted = TrainConfig::new(6, 0.05, spec_with_pre(rule, 2));
            counted.batch_size = Some(4);
            counted.momentum = 0.9;
            counted.byzantine = 2;
            counted.attack = Some(StepSpec::named(attack));
            counted.eval_every = 3;
            let mut written = counted.clone();
            let mut clip = StepSpec::named("clipping");
            clip.params.set("c", 1e300);
            written.defence.pre.insert(0, clip);
            assert!(counted
                .defence
                .build(Compat::Native)
                .unwrap()
                .takes_counts());
            assert!(!written
                .defence
                .build(Compat::Native)
                .unwrap()
                .takes_counts());
            let (a, sa) = run(&counted, &data, 5);
            let (b, sb) = run(&written, &data, 5);
            assert_eq!(sa.status, RunStatus::Completed, "{attack} {rule}");
            assert_eq!(sb.status, RunStatus::Completed, "{attack} {rule}");
            if rule == "geometric_median" {
                for (p, q) in sa.params.iter().zip(&sb.params) {
                    assert!((p - q).abs() <= 1e-9, "{attack} {rule}: {p} vs {q}");
                }
            } else {
                assert_eq!(a, b, "{attack} {rule}");
            }
        }
    }
}

/// ALIE on honest momenta near f64::MAX, whose sums overflow: the vector written inside the
/// rule's pass (counted copies, `Pipeline::run_counted_filling`) is the finite one, and the
/// round goes on. Five clients with one example each, x = (1, 0, 0) and y = 10³⁰⁸, batches
/// of one and no momentum: every honest vector is (0.1 − 10³⁰⁸, 0, 0) = (−10³⁰⁸, 0, 0) in
/// f64, so ALIE sends the same (σ = 0), every rule returns it, and θ₁ = θ₀ − 0.05·a =
/// (5·10³⁰⁶, 0.2, −0.3) to rounding.
///
/// Mutation checked: without the recomputation of overflowed coordinates in ALIE's fill
/// (`a_little_is_enough::refit_overflowed`) the mean is −∞, σ = +∞, the vector NaN, and
/// every run stops in round 1 with the attack's refusal.
#[test]
fn alie_near_the_largest_float_stays_finite_inside_the_rule_pass() {
    let data: Vec<Examples> = (0..5)
        .map(|_| {
            let x = DMatrix::from_column_slice(3, 1, &[1.0, 0.0, 0.0]);
            Examples::new(x, vec![1e308], Task::Regression).unwrap()
        })
        .collect();
    for rule in COUNTED_RULES {
        let mut cfg = TrainConfig::new(1, 0.05, spec_with_pre(rule, 2));
        cfg.batch_size = Some(1);
        cfg.momentum = 0.0;
        cfg.byzantine = 2;
        cfg.attack = Some(StepSpec::named("a_little_is_enough"));
        cfg.eval_every = usize::MAX;
        assert!(cfg.defence.build(Compat::Native).unwrap().takes_counts());
        let (_, s) = run(&cfg, &data, 1);
        assert_eq!(s.status, RunStatus::Completed, "{rule}");
        assert!(
            (s.params[0] / 5e306 - 1.0).abs() < 1e-12,
            "{rule}: {:?}",
            s.params
        );
        assert_eq!(&s.params[1..], &[0.2, -0.3], "{rule}");
    }
}

/// Every round's parameters (as bits) of a run of `model` with `threads` threads, seed `seed`,
/// with the stacked groups' batches gathered into one block where `gather`, even if the
/// products could read them in place ([`GATHERS_BATCHES`]).
fn trajectory(
    model: &dyn Model,
    data: &[Examples],
    init: &[f64],
    cfg: &TrainConfig,
    seed: u64,
    threads: usize,
    gather: bool,
) -> Vec<Vec<u64>> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| {
            // The round reads the flag on the thread that runs it: this one.
            GATHERS_BATCHES.set(gather);
            let mut params = Vec::new();
            let s = train(
                model,
                data,
                None,
                init.to_vec(),
                cfg,
                Streams::new(seed, 0),
                &mut |r| {
                    params.push(r.params.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(s.status, RunStatus::Completed);
            params
        })
}

/// The round's one first-layer product over all clients' batches side by side
/// (`stacked_net`) gives the records of clients that each run their whole step alone, to
/// the bit, with 1 and 2 threads, on MLPs whose clients' last batches of an epoch are
/// short (10 examples, batches of 4), under ALIE with Krum and with label flipping (whose
/// flipped gradients reuse the batch and its product). First layers of 9 and 20 outputs
/// (the thin and the wide products on an AVX-512 CPU), each with the group's batches listed
/// where they lie in the clients' data (where the products read them in place) and gathered
/// side by side into one block (the only way elsewhere; forced here by `GATHERS_BATCHES`).
///
/// Mutations checked: handing a group's products to its clients in reverse order (the
/// clients of a group draw batches of equal size here, so every length still fits) fails
/// it; so does listing a batch's examples in index order instead of the order drawn, and
/// gathering a group's batches into its block in reverse client order.
#[test]
fn stacked_first_layer_products_give_the_per_client_records() {
    use crate::learning::model::{Activation, DenseNet, Head};
    let (p, classes) = (30, 3);
    let task = Task::Classification { classes };
    let mut rng = rng_named(97, 0, "test-data");
    let data: Vec<Examples> = (0..7)
        .map(|i| {
            let x = DMatrix::from_fn(p, 10, |_, _| rng.random::<f64>() * 2.0 - 1.0);
            let y = (0..10).map(|j| ((i + j) % classes) as f64).collect();
            Examples::new(x, y, task).unwrap()
        })
        .collect();
    for width in [9, 20] {
        let net = DenseNet::new(
            vec![p, width, classes],
            Activation::Relu,
            Head::Softmax,
            task,
        )
        .unwrap();
        assert_eq!(net.reads_examples_in_place(), crate::simd::has_avx512());
        let init = net.init(&mut rng_named(97, 0, "init"));
        let opaque = crate::learning::model::tests::Opaque(net.clone());
        for (rule, attack) in [
            ("krum", "a_little_is_enough"),
            ("average", "label_flipping"),
        ] {
            let mut cfg = TrainConfig::new(7, 0.1, spec(rule, 2));
            cfg.batch_size = Some(4);
            cfg.momentum = 0.9;
            cfg.byzantine = 2;
            cfg.attack = Some(StepSpec::named(attack));
            let with = |model: &dyn Model, threads: usize, gather: bool| {
                trajectory(model, &data, &init, &cfg, 6, threads, gather)
            };
            let alone = with(&opaque, 1, false);
            assert_ne!(alone[0], alone[6], "the parameters move");
            for (threads, gather) in [(1, false), (2, false), (1, true), (2, true)] {
                assert!(
                    with(&net, threads, gather) == alone,
                    "{rule}, width {width}: stacked, {threads} threads, gathered {gather}"
                );
            }
        }
    }
}

/// A client's gradient that overflows inside the products that fold it into the momentum
/// (softmax regression on batches of 4, momentum 0.9: the stacked clients'
/// `Client::stacked_step`) stops the run at round 1, naming the client's gradient, with
/// the parameters of round 0. Mutation that makes it fail (checked): `stacked_step`
/// returning the loss whatever the momentum's finiteness (the run then stops on the
/// aggregate, naming the rule).
#[test]
fn an_overflowing_gradient_folded_into_momentum_stops_the_run_naming_it() {
    use crate::learning::model::ModelSpec;
    let (p, classes) = (6, 3);
    let task = Task::Classification { classes };
    let mut rng = rng_named(5, 0, "test-data");
    let data: Vec<Examples> = (0..4)
        .map(|i| {
            let x = DMatrix::from_fn(p, 8, |r, _| {
                if i == 2 && r == 0 {
                    1.5e308
                } else {
                    rng.random::<f64>() * 2.0 - 1.0
                }
            });
            // Softmax at logits of about 10³⁰⁷ is one class a; in a batch of 4 of three
            // cycling labels at least two examples are not of class a, and their terms
            // (1 − 0)·1.5e308 of a's weight gradient add past f64.
            let y = (0..8).map(|j| ((i + j) % classes) as f64).collect();
            Examples::new(x, y, task).unwrap()
        })
        .collect();
    let model = ModelSpec::Softmax.build(p, task).unwrap();
    assert!(model.as_native_dense().is_some(), "the stacked path");
    let init = model.init(&mut rng_named(5, 0, "init"));
    let mut cfg = TrainConfig::new(3, 0.05, spec("average", 0));
    cfg.batch_size = Some(4);
    cfg.momentum = 0.9;
    let mut rounds = 0;
    let s = train(
        model.as_ref(),
        &data,
        None,
        init.clone(),
        &cfg,
        Streams::new(0, 0),
        &mut |_| {
            rounds += 1;
            Ok(())
        },
    )
    .unwrap();
    let case = format!("{}: {:?}", model.describe(), s.status);
    match &s.status {
        RunStatus::Diverged { round: 1, reason } => {
            assert!(reason.contains("a client's gradient"), "{case}")
        }
        _ => panic!("{case}"),
    }
    assert_eq!(rounds, 1, "{case}");
    assert_eq!(s.params, init, "{case}");
}
