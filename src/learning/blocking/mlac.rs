//! Meta-learned adversarial censoring (MLAC; Henderson, Mitchell, Manning, Jurafsky & Finn,
//! "Self-Destructing Models", AIES 2023, arXiv 2211.14946, Algorithm 1) on the tanh trunk.
//!
//! The defender holds good-task data and some bad-task data. Each outer step minimises
//!
//! J(θ) = L_good(θ) − λ·(1/K)·Σ_{k=1..K} L_bad(θ, v_k),
//!
//! where v_k is the head an adversary reaches after k gradient steps on a bad-task support
//! batch S from a fresh (zero) head, v_{k+1} = v_k − η·∇_v L_S(θ, v_k), and L_bad is read on a
//! disjoint query batch Q (the paper's outer loss on the adapted model, read after every
//! inner step, `inner_loop_update_every_step`). The paper's released configuration adds
//! other terms (a linear adversary, a gradient-norm penalty); this module keeps the outer
//! objective the reference specifies.
//!
//! # Differentiating through the unrolled adversary
//!
//! With support features F = F(θ) (m × (h+1)), residuals r_k = σ(F·v_k) − y and
//! D_k = diag(σ'(F·v_k)), the inner step is v_{k+1} = v_k − (η/m)·Fᵀ·r_k. Reverse mode keeps
//! the adjoint u_k = ∂B/∂v_k of the bad term B = (1/K)·Σ_k L_Q(v_k):
//!
//! - u_K = ∂L_Q(v_K)/∂v_K / K, and for k = K−1, …, 1:
//!   u_k = u_{k+1} − (η/m)·Fᵀ·D_k·F·u_{k+1} + ∂L_Q(v_k)/∂v_k / K;
//! - each step adds to the support features' gradient
//!   F̄ −= (η/m)·(r_k·u_{k+1}ᵀ + D_k·F·u_{k+1}·v_kᵀ)
//!   (differentiate u_{k+1}ᵀ·Fᵀ·r(F·v_k) in F: r·uᵀ with r held, D·F·u·v_kᵀ through r);
//! - the query features get Σ_k (1/(K·m_Q))·(σ(Q·v_k) − y_Q)·v_kᵀ.
//!
//! Both feature gradients reach (W, b) through [`Net::trunk_backward`]. The head v_0 = 0
//! does not depend on θ. `unrolled_bad_loss_matches_finite_differences` checks the result.

use super::net::{logistic, sigmoid, Adam, Net, TrunkGrad};
use super::pretrain::good_gradient;
use super::tasks::Labelled;
use crate::rng::{permutation, SimRng};
use crate::{Error, Result};
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

/// MLAC's hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mlac {
    /// Outer Adam steps.
    pub steps: usize,
    /// Outer Adam step size.
    pub lr: f64,
    /// Weight λ of the adversary's loss (0: plain fine-tuning on the good task).
    pub lambda: f64,
    /// Inner gradient steps K of the simulated adversary.
    pub inner_steps: usize,
    /// Inner step size η.
    pub inner_lr: f64,
    /// Bad examples in each of the support and query batches, m.
    pub inner_examples: usize,
}

impl Default for Mlac {
    /// 300 outer steps at 0.01, λ = 1, K = 10 inner steps at η = 1 on m = 64 examples (the
    /// reference's K = 5–16 and 16–64 examples).
    fn default() -> Self {
        Mlac {
            steps: 300,
            lr: 0.01,
            lambda: 1.0,
            inner_steps: 10,
            inner_lr: 1.0,
            inner_examples: 64,
        }
    }
}

impl Mlac {
    /// Checks the hyperparameters against a defender's pool of `pool` bad examples.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first bad field.
    pub fn validate(&self, pool: usize) -> Result<()> {
        crate::error::check_positive("mlac_lr", self.lr)?;
        crate::error::check_positive("inner_lr", self.inner_lr)?;
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(Error::invalid(
                "lambda",
                self.lambda,
                "must be finite and >= 0",
            ));
        }
        if self.inner_steps == 0 || self.inner_steps > 1000 {
            return Err(Error::invalid(
                "inner_steps",
                self.inner_steps,
                "must be in 1..=1000",
            ));
        }
        if self.inner_examples == 0 || 2 * self.inner_examples > pool {
            return Err(Error::invalid(
                "inner_examples",
                self.inner_examples,
                format!(
                    "support and query batches need 2·m <= the {pool} bad examples of the defender"
                ),
            ));
        }
        Ok(())
    }
}

/// What MLAC's meta-training did.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlacTrace {
    /// The simulated adversary's mean query loss B at the first outer step.
    pub bad_loss_first: f64,
    /// B at the last outer step (ln 2 ≈ 0.693 is chance).
    pub bad_loss_last: f64,
    /// The good task's training loss at the last outer step.
    pub good_loss_last: f64,
}

/// The simulated adversary's mean query loss B = (1/K)·Σ_{k=1..K} L_Q(v_k) after k inner steps
/// on `support` from a zero head, and its gradient in the trunk (see the
/// [module docs](self)).
pub fn unrolled_bad_loss(
    net: &Net,
    support: &Labelled,
    query: &Labelled,
    steps: usize,
    lr: f64,
) -> (f64, TrunkGrad) {
    let fs = net.features(&support.x);
    let fq = net.features(&query.x);
    let (ms, mq, kk) = (
        support.len().max(1) as f64,
        query.len().max(1) as f64,
        steps.max(1) as f64,
    );
    let mut heads = vec![DVector::<f64>::zeros(fs.ncols())];
    let mut residuals = Vec::with_capacity(steps);
    for k in 0..steps {
        let (_, r) = logistic(&fs, &heads[k], &support.y);
        let next = &heads[k] - fs.transpose() * &r * (lr / ms);
        residuals.push(r);
        heads.push(next);
    }
    let mut loss = 0.0;
    let mut dfq = DMatrix::<f64>::zeros(fq.nrows(), fq.ncols());
    let mut direct = vec![DVector::<f64>::zeros(fs.ncols()); steps + 1];
    for k in 1..=steps {
        let (l, rq) = logistic(&fq, &heads[k], &query.y);
        loss += l / kk;
        direct[k] = fq.transpose() * &rq / (kk * mq);
        dfq += &rq * heads[k].transpose() / (kk * mq);
    }
    let mut dfs = DMatrix::<f64>::zeros(fs.nrows(), fs.ncols());
    let mut u = direct[steps].clone();
    for k in (0..steps).rev() {
        let z = &fs * &heads[k];
        let fu = &fs * &u;
        let dfu = DVector::from_fn(z.len(), |i, _| {
            let s = sigmoid(z[i]);
            s * (1.0 - s) * fu[i]
        });
        dfs -= (&residuals[k] * u.transpose() + &dfu * heads[k].transpose()) * (lr / ms);
        if k > 0 {
            u = &u - fs.transpose() * &dfu * (lr / ms) + &direct[k];
        }
    }
    let gs = net.trunk_backward(&support.x, &fs, &dfs);
    let gq = net.trunk_backward(&query.x, &fq, &dfq);
    (
        loss,
        TrunkGrad {
            w: gs.w + gq.w,
            b: gs.b + gq.b,
        },
    )
}

/// Runs MLAC from `start` (the pretrained model): `cfg.steps` outer Adam steps on J (see the
/// [module docs](self)), the good term on all of `good` (full batch, as
/// [`super::pretrain::fine_tune_good`]), support and query batches drawn without replacement
/// from `bad` by `rng` at every step.
///
/// # Errors
/// What [`Mlac::validate`] rejects.
pub fn mlac(
    start: &Net,
    good: &Labelled,
    bad: &Labelled,
    cfg: &Mlac,
    rng: &mut SimRng,
) -> Result<(Net, MlacTrace)> {
    cfg.validate(bad.len())?;
    let mut net = start.clone();
    let mut adam = Adam::new(cfg.lr);
    let m = cfg.inner_examples;
    let mut trace = MlacTrace {
        bad_loss_first: f64::NAN,
        bad_loss_last: f64::NAN,
        good_loss_last: f64::NAN,
    };
    for step in 0..cfg.steps {
        let (good_loss, g, dv) = good_gradient(&net, good);
        let order = permutation(rng, bad.len());
        let (support, query) = (bad.select(&order[..m]), bad.select(&order[m..2 * m]));
        let (bad_loss, gb) =
            unrolled_bad_loss(&net, &support, &query, cfg.inner_steps, cfg.inner_lr);
        if step == 0 {
            trace.bad_loss_first = bad_loss;
        }
        trace.bad_loss_last = bad_loss;
        trace.good_loss_last = good_loss;
        // J = L_good − λ·B: the adversary's loss is maximised.
        let gw = g.w + gb.w * -cfg.lambda;
        let gbias = g.b + gb.b * -cfg.lambda;
        adam.step(&mut [
            (net.w.as_mut_slice(), gw.as_slice()),
            (net.b.as_mut_slice(), gbias.as_slice()),
            (net.head.as_mut_slice(), dv.as_slice()),
        ]);
    }
    Ok((net, trace))
}

#[cfg(test)]
mod tests {
    use super::super::pretrain::fine_tune_good;
    use super::super::tasks::TwoTasks;
    use super::*;
    use crate::rng::rng_named;

    fn setting() -> (Net, Labelled, Labelled) {
        let tasks = TwoTasks::draw(6, 0.5, &mut rng_named(1, 0, "tasks")).unwrap();
        let (good, bad) = tasks.sample(80, &mut rng_named(1, 0, "x"));
        (Net::init(6, 5, &mut rng_named(1, 0, "init")), good, bad)
    }

    /// The hand-derived gradient of B through K = 4 unrolled inner steps matches central
    /// finite differences in every trunk weight and bias (step 1e-5: truncation O(h²) ≈ 1e-10,
    /// rounding ≈ 1e-16/1e-5 ≈ 1e-11 on B ≈ 0.7, so 1e-7 absolute is a hundredfold margin;
    /// the gradient entries are ≈ 1e-3–1e-1, so a missing term shows). Mutations checked:
    /// dropping the D_k·F·u·v_kᵀ term of F̄, and dropping the −(η/m)·Fᵀ·D·F·u term of the
    /// adjoint recursion, each make it fail.
    #[test]
    fn unrolled_bad_loss_matches_finite_differences() {
        let (net, _, bad) = setting();
        let (support, query) = (bad.head(30), bad.select(&(30..60).collect::<Vec<_>>()));
        let (k, eta) = (4, 2.0);
        let (_, grad) = unrolled_bad_loss(&net, &support, &query, k, eta);
        let b = |n: &Net| unrolled_bad_loss(n, &support, &query, k, eta).0;
        let h = 1e-5;
        let mut worst = 0.0f64;
        for i in 0..5 {
            for j in 0..6 {
                let (mut up, mut dn) = (net.clone(), net.clone());
                up.w[(i, j)] += h;
                dn.w[(i, j)] -= h;
                let fd = (b(&up) - b(&dn)) / (2.0 * h);
                worst = worst.max((fd - grad.w[(i, j)]).abs());
            }
            let (mut up, mut dn) = (net.clone(), net.clone());
            up.b[i] += h;
            dn.b[i] -= h;
            let fd = (b(&up) - b(&dn)) / (2.0 * h);
            worst = worst.max((fd - grad.b[i]).abs());
        }
        assert!(worst < 1e-7, "largest gap to finite differences: {worst}");
        assert!(grad.w.norm() > 1e-3, "a vanishing gradient checks nothing");
    }

    /// The test: MLAC with λ = 0 is plain fine-tuning on the good task, bit for bit
    /// (the adversary's gradient enters as g_good + (−0)·g_bad, and x + (±0) = x exactly for
    /// finite x; `==` identifies +0 and −0, the only difference IEEE addition could leave).
    /// With λ = 1 the models differ. Mutation checked: adding the adversary's gradient with
    /// weight −1 instead of −λ makes it fail.
    #[test]
    fn mlac_with_lambda_zero_equals_plain_training() {
        let (net, good, bad) = setting();
        let cfg = Mlac {
            steps: 25,
            lambda: 0.0,
            inner_examples: 16,
            inner_steps: 3,
            ..Mlac::default()
        };
        let (blocked, _) = mlac(&net, &good, &bad, &cfg, &mut rng_named(1, 0, "mlac")).unwrap();
        let plain = fine_tune_good(&net, &good, cfg.steps, cfg.lr);
        assert_eq!(blocked, plain);
        let cfg1 = Mlac { lambda: 1.0, ..cfg };
        let (other, _) = mlac(&net, &good, &bad, &cfg1, &mut rng_named(1, 0, "mlac")).unwrap();
        assert_ne!(other, plain);
    }

    #[test]
    fn rejects_bad_hyperparameters() {
        let (net, good, bad) = setting();
        let mut r = rng_named(1, 0, "mlac");
        for cfg in [
            Mlac {
                lambda: -1.0,
                ..Mlac::default()
            },
            Mlac {
                lambda: f64::NAN,
                ..Mlac::default()
            },
            Mlac {
                inner_examples: 41,
                ..Mlac::default()
            },
            Mlac {
                inner_steps: 0,
                ..Mlac::default()
            },
            Mlac {
                lr: f64::INFINITY,
                ..Mlac::default()
            },
        ] {
            assert!(mlac(&net, &good, &bad, &cfg, &mut r).is_err(), "{cfg:?}");
        }
    }
}
