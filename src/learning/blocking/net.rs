//! The model being blocked: a one-layer tanh trunk R^p → R^h and linear heads on its
//! features, with hand-derived gradients, and the Adam optimiser every stage uses.
//!
//! Features of a batch X (n × p, one example per row) are F = [tanh(X·Wᵀ + 1·bᵀ), 1]
//! (n × (h + 1): the trunk's h units and a constant column for the head's bias); a head is a
//! vector v ∈ R^{h+1} whose logits are F·v. The loss of a head is the mean logistic loss
//! L = (1/n)·Σ_i [softplus(z_i) − y_i·z_i], z = F·v, whose gradient in v is (1/n)·Fᵀ·r with
//! residuals r = σ(z) − y, and in F is (1/n)·r·vᵀ. A gradient F̄ on the features reaches the
//! trunk through tanh' = 1 − tanh²: Z̄ = F̄[:, ..h] ⊙ (1 − H²), W̄ = Z̄ᵀ·X, b̄ = Z̄ᵀ·1.

use super::tasks::Labelled;
use crate::learning::examples::Task;
use crate::learning::model::{Activation, DenseNet, Head};
use crate::rng::SimRng;
use crate::Result;
use nalgebra::{DMatrix, DVector};
use rand::RngExt;
use rand_distr::StandardNormal;

/// A tanh trunk with one (good-task) head.
#[derive(Clone, Debug, PartialEq)]
pub struct Net {
    /// Trunk weights W, h × p.
    pub w: DMatrix<f64>,
    /// Trunk biases b ∈ R^h.
    pub b: DVector<f64>,
    /// The head v ∈ R^{h+1} (last entry: bias).
    pub head: DVector<f64>,
}

/// Gradients of a loss in the trunk's parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct TrunkGrad {
    /// ∂L/∂W, h × p.
    pub w: DMatrix<f64>,
    /// ∂L/∂b.
    pub b: DVector<f64>,
}

impl Net {
    /// LeCun-normal initialisation (Glorot & Bengio 2010 scale for tanh): W_ij ~ N(0, 1/p),
    /// head weights ~ N(0, 1/h), biases 0, so pre-activations have unit variance.
    pub fn init(features: usize, hidden: usize, rng: &mut SimRng) -> Net {
        let (sp, sh) = (1.0 / (features as f64).sqrt(), 1.0 / (hidden as f64).sqrt());
        let w = DMatrix::from_fn(hidden, features, |_, _| {
            sp * rng.sample::<f64, _>(StandardNormal)
        });
        let mut head =
            DVector::from_fn(hidden + 1, |_, _| sh * rng.sample::<f64, _>(StandardNormal));
        head[hidden] = 0.0;
        Net {
            w,
            b: DVector::zeros(hidden),
            head,
        }
    }

    /// Trunk width h.
    pub fn hidden(&self) -> usize {
        self.w.nrows()
    }

    /// The features F = [tanh(X·Wᵀ + 1·bᵀ), 1] of `x` (n × (h + 1)).
    pub fn features(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        let h = self.hidden();
        let z = x * self.w.transpose();
        DMatrix::from_fn(x.nrows(), h + 1, |i, j| {
            if j == h {
                1.0
            } else {
                (z[(i, j)] + self.b[j]).tanh()
            }
        })
    }

    /// Pulls a gradient `df` on the features F of `x` back to the trunk's parameters
    /// (the bias column of `df` is ignored: it is constant).
    pub fn trunk_backward(
        &self,
        x: &DMatrix<f64>,
        f: &DMatrix<f64>,
        df: &DMatrix<f64>,
    ) -> TrunkGrad {
        let h = self.hidden();
        let dz = DMatrix::from_fn(x.nrows(), h, |i, j| {
            df[(i, j)] * (1.0 - f[(i, j)] * f[(i, j)])
        });
        TrunkGrad {
            w: dz.transpose() * x,
            b: DVector::from_fn(h, |j, _| dz.column(j).sum()),
        }
    }

    /// The same network as a [`DenseNet`] p → h → 1 (tanh, logistic head), for a model
    /// backend ([`crate::learning::model::Backend::build_net`]); [`Net::theta`] is its θ.
    ///
    /// # Errors
    /// More than [`crate::learning::model::MAX_PARAMS`] parameters.
    pub fn dense(&self) -> Result<DenseNet> {
        DenseNet::new(
            vec![self.w.ncols(), self.hidden(), 1],
            Activation::Tanh,
            Head::Logistic,
            Task::Classification { classes: 2 },
        )
    }

    /// The parameters in [`DenseNet`]'s layout: W row-major (h × p), b, then the head's h
    /// weights and its bias (`head` is already in that order).
    pub fn theta(&self) -> Vec<f64> {
        let mut theta = Vec::with_capacity(self.w.len() + self.b.len() + self.head.len());
        for row in self.w.row_iter() {
            theta.extend(row.iter());
        }
        theta.extend(self.b.iter());
        theta.extend(self.head.iter());
        theta
    }

    /// Accuracy of head `v` on `data` (logit > 0 predicts 1).
    pub fn accuracy_with(&self, v: &DVector<f64>, data: &Labelled) -> f64 {
        accuracy(&self.features(&data.x), v, &data.y)
    }

    /// Accuracy of the model's own head on `data`.
    pub fn accuracy(&self, data: &Labelled) -> f64 {
        self.accuracy_with(&self.head, data)
    }
}

/// The logistic sigmoid, without overflow for large |z|.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// softplus(z) = ln(1 + e^z), without overflow.
fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

/// Mean logistic loss of head `v` on features `f` and labels `y`, and the residuals
/// r = σ(F·v) − y (see the [module docs](self)).
pub fn logistic(f: &DMatrix<f64>, v: &DVector<f64>, y: &DVector<f64>) -> (f64, DVector<f64>) {
    let z = f * v;
    let n = y.len().max(1) as f64;
    let loss = z
        .iter()
        .zip(y.iter())
        .map(|(&z, &y)| softplus(z) - y * z)
        .sum::<f64>()
        / n;
    let r = DVector::from_fn(y.len(), |i, _| sigmoid(z[i]) - y[i]);
    (loss, r)
}

/// Fraction of rows whose logit F·v has the label's side (z > 0 predicts 1; a NaN logit is
/// never right).
pub fn accuracy(f: &DMatrix<f64>, v: &DVector<f64>, y: &DVector<f64>) -> f64 {
    let z = f * v;
    let right = z
        .iter()
        .zip(y.iter())
        .filter(|(&z, &y)| (z > 0.0) == (y > 0.5) && !z.is_nan())
        .count();
    right as f64 / y.len().max(1) as f64
}

/// Adam (Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
/// arXiv 1412.6980, Algorithm 1: β₁ = 0.9, β₂ = 0.999, ε = 1e-8, bias-corrected moments)
/// over parameter blocks handed in the same order at every step.
#[derive(Clone, Debug)]
pub struct Adam {
    lr: f64,
    t: i32,
    m: Vec<f64>,
    v: Vec<f64>,
}

impl Adam {
    /// A fresh optimiser with step size `lr`.
    pub fn new(lr: f64) -> Adam {
        Adam {
            lr,
            t: 0,
            m: Vec::new(),
            v: Vec::new(),
        }
    }

    /// One step: every block `(θ, g)` moves θ against its gradient g.
    pub fn step(&mut self, blocks: &mut [(&mut [f64], &[f64])]) {
        const B1: f64 = 0.9;
        const B2: f64 = 0.999;
        const EPS: f64 = 1e-8;
        let total: usize = blocks.iter().map(|(p, _)| p.len()).sum();
        if self.m.len() != total {
            self.m = vec![0.0; total];
            self.v = vec![0.0; total];
        }
        self.t = self.t.saturating_add(1);
        let (c1, c2) = (1.0 - B1.powi(self.t), 1.0 - B2.powi(self.t));
        let mut k = 0;
        for (p, g) in blocks.iter_mut() {
            for (pi, &gi) in p.iter_mut().zip(g.iter()) {
                self.m[k] = B1 * self.m[k] + (1.0 - B1) * gi;
                self.v[k] = B2 * self.v[k] + (1.0 - B2) * gi * gi;
                *pi -= self.lr * (self.m[k] / c1) / ((self.v[k] / c2).sqrt() + EPS);
                k += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_named;

    /// The trunk's hand-derived backward pass matches central finite differences of
    /// g(θ) = Σ_ij C_ij·F_ij(θ) for a fixed random C (step 1e-6; central differences err by
    /// O(h²) ≈ 1e-12 plus rounding ≈ 1e-10 relative, so 1e-6 absolute on O(1) entries is
    /// loose and still catches any missing factor). Mutation checked: dropping the tanh'
    /// factor (1 − H²) in `trunk_backward` makes it fail.
    #[test]
    fn trunk_backward_matches_finite_differences() {
        let mut rng = rng_named(1, 0, "net");
        let net = Net::init(5, 4, &mut rng);
        let x = DMatrix::from_fn(7, 5, |_, _| rng.sample::<f64, _>(StandardNormal));
        let c = DMatrix::from_fn(7, 5, |_, _| rng.sample::<f64, _>(StandardNormal));
        let g = |n: &Net| n.features(&x).component_mul(&c).sum();
        let grad = net.trunk_backward(&x, &net.features(&x), &c);
        let h = 1e-6;
        for (i, j) in [(0, 0), (3, 4), (2, 1)] {
            let (mut up, mut dn) = (net.clone(), net.clone());
            up.w[(i, j)] += h;
            dn.w[(i, j)] -= h;
            let fd = (g(&up) - g(&dn)) / (2.0 * h);
            assert!(
                (fd - grad.w[(i, j)]).abs() < 1e-6,
                "{fd} vs {}",
                grad.w[(i, j)]
            );
        }
        for j in 0..4 {
            let (mut up, mut dn) = (net.clone(), net.clone());
            up.b[j] += h;
            dn.b[j] -= h;
            let fd = (g(&up) - g(&dn)) / (2.0 * h);
            assert!((fd - grad.b[j]).abs() < 1e-6, "{fd} vs {}", grad.b[j]);
        }
    }

    /// [`Net::dense`] at [`Net::theta`] is the same network: its loss and gradient through
    /// the [`crate::learning::model::Model`] trait equal the hand-derived ones of
    /// [`super::super::pretrain::good_gradient`] to 1e-12 (the same f64 sums in another
    /// order; the values are O(1)). Mutation checked: W flattened column-major in `theta`
    /// makes it fail.
    #[test]
    fn dense_twin_is_the_same_network() {
        use crate::learning::model::Model;
        let mut rng = rng_named(3, 0, "net");
        let net = Net::init(5, 4, &mut rng);
        let x = DMatrix::from_fn(9, 5, |_, _| rng.sample::<f64, _>(StandardNormal));
        let y = DVector::from_fn(9, |i, _| f64::from(u8::from(x[(i, 0)] > 0.0)));
        let data = Labelled { x, y };
        let (loss, g, dv) = super::super::pretrain::good_gradient(&net, &data);
        let model = net.dense().unwrap();
        let theta = net.theta();
        let mut grad = vec![0.0; theta.len()];
        let l = model
            .loss_grad(&theta, data.examples().unwrap().batch(), &mut grad)
            .unwrap();
        assert!((l - loss).abs() < 1e-12, "{l} vs {loss}");
        let hand = Net {
            w: g.w,
            b: g.b,
            head: dv,
        }
        .theta();
        for (a, b) in grad.iter().zip(&hand) {
            assert!((a - b).abs() < 1e-12, "{grad:?} vs {hand:?}");
        }
    }

    /// Known answers: σ(0) = ½, the loss of a zero head is ln 2 whatever the labels, and
    /// logits ±1000 neither overflow nor lose the sign.
    #[test]
    fn logistic_known_answers() {
        assert_eq!(sigmoid(0.0), 0.5);
        assert!(sigmoid(-1000.0) >= 0.0 && sigmoid(1000.0) == 1.0);
        let f = DMatrix::from_row_slice(2, 2, &[1.0, 1.0, -1.0, 1.0]);
        let (l, r) = logistic(&f, &DVector::zeros(2), &DVector::from_vec(vec![1.0, 0.0]));
        assert!((l - std::f64::consts::LN_2).abs() < 1e-15);
        assert_eq!(r.as_slice(), &[-0.5, 0.5]);
        let (l, _) = logistic(
            &f,
            &DVector::from_vec(vec![1000.0, 0.0]),
            &DVector::from_vec(vec![1.0, 0.0]),
        );
        assert!(l.is_finite() && l < 1e-300, "{l}");
        assert_eq!(
            accuracy(
                &f,
                &DVector::from_vec(vec![1.0, 0.0]),
                &DVector::from_vec(vec![1.0, 0.0])
            ),
            1.0
        );
    }
}
