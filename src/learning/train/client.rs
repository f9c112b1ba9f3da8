//! One honest client: its examples, how it draws its batches, and its gradient estimate.
//!
//! Every draw comes from the client's own named streams (`batches/client/<i>`,
//! `dp-noise/client/<i>`), so a client computes the same numbers whichever thread runs it and
//! whatever the other clients do.

use super::config::Sampling;
use crate::learning::model::{DenseNet, Mat};
use crate::learning::momentum::Momentum;
use crate::learning::{Batch, Examples, Model, Task};
use crate::rng::{permutation, SimRng};
use crate::{Error, Result};
use nalgebra::DMatrixView;
use rand::RngExt;
use rand_distr::StandardNormal;

/// How many rows ahead [`Client::gather_into`] asks for the next rows.
const GATHER_AHEAD: usize = 2;

/// How every client computes its gradient estimate in this run.
#[derive(Clone, Copy, Debug)]
pub(super) struct StepSettings {
    /// Batch size B; `None`: the client's full data.
    pub batch: Option<usize>,
    /// Shuffled epochs or Poisson sampling (ignored for full batches).
    pub sampling: Sampling,
    /// Example-level DP: (clip norm, `None` = ∞; noise multiplier σ).
    pub dp: Option<(Option<f64>, f64)>,
    /// Also compute the raw gradient on flipped labels C − 1 − y (label flipping), C classes.
    pub flip_classes: Option<usize>,
}

impl StepSettings {
    /// Whether the gradient is a clipped/noised sum over the expected batch size (Poisson
    /// sampling or DP) rather than the batch mean.
    pub(super) fn sums(&self) -> bool {
        self.dp.is_some() || (self.batch.is_some() && self.sampling == Sampling::Poisson)
    }
}

/// An honest client's sampling state and buffers (allocated once, reused every round).
pub(super) struct Client<'a> {
    pub(super) data: &'a Examples,
    batches: SimRng,
    noise: SimRng,
    /// The current epoch's order (shuffled sampling) and the next position in it.
    order: Vec<usize>,
    pos: usize,
    /// The batch's example indices, features (p × b, one per column) and targets.
    pub(super) idx: Vec<usize>,
    xbuf: Vec<f64>,
    ybuf: Vec<f64>,
    /// Flipped targets of the batch (label flipping).
    yflip: Vec<f64>,
}

impl<'a> Client<'a> {
    pub(super) fn new(data: &'a Examples, batches: SimRng, noise: SimRng) -> Self {
        Client {
            data,
            batches,
            noise,
            order: Vec::new(),
            pos: 0,
            idx: Vec::new(),
            xbuf: Vec::new(),
            ybuf: Vec::new(),
            yflip: Vec::new(),
        }
    }

    /// The largest probability with which one of this client's examples enters a step's batch.
    pub(super) fn sample_rate(&self, s: &StepSettings) -> f64 {
        match s.batch {
            None => 1.0,
            Some(b) => (b as f64 / self.data.len() as f64).min(1.0),
        }
    }

    /// Draws the next batch's indices (nothing for a full batch).
    pub(super) fn draw(&mut self, s: &StepSettings) {
        let Some(b) = s.batch else { return };
        let n = self.data.len();
        self.idx.clear();
        match s.sampling {
            Sampling::Shuffle => {
                // A new epoch when the last one is used up: a fresh permutation, batches of
                // b in that order, the last one partial (no drop_last).
                if self.pos >= self.order.len() {
                    self.order = permutation(&mut self.batches, n);
                    self.pos = 0;
                }
                let end = (self.pos + b).min(n);
                self.idx.extend_from_slice(&self.order[self.pos..end]);
                self.pos = end;
            }
            Sampling::Poisson => {
                let q = (b as f64 / n as f64).min(1.0);
                for i in 0..n {
                    if self.batches.random::<f64>() < q {
                        self.idx.push(i);
                    }
                }
            }
        }
    }

    /// The features (p × b, one example per column) and targets of the drawn batch (`idx`)
    /// into `x` (resized to p·b) and the client's target buffer.
    pub(super) fn gather(&mut self, x: &mut Vec<f64>) {
        x.resize(self.idx.len() * self.data.features(), 0.0);
        self.gather_into(x);
    }

    /// [`Client::gather`] into a slice of exactly p·b entries (the round's stacked batches).
    pub(super) fn gather_into(&mut self, x: &mut [f64]) {
        let data = self.data;
        let p = data.features();
        let xs = data.x().as_slice();
        // The rows are scattered over the client's data, and the hardware prefetchers start
        // over at each (and at each page inside a row): asking for the row `GATHER_AHEAD`
        // places on while copying this one keeps the reads streaming. Softmax round (784
        // features, 40 clients of batch 32): the gather 0.84 → 0.54 ms (docs/performance.md,
        // "thin13").
        for &i in self.idx.iter().take(GATHER_AHEAD) {
            crate::simd::prefetch(&xs[i * p..(i + 1) * p]);
        }
        for (k, (&i, out)) in self.idx.iter().zip(x.chunks_exact_mut(p)).enumerate() {
            if let Some(&next) = self.idx.get(k + GATHER_AHEAD) {
                crate::simd::prefetch(&xs[next * p..(next + 1) * p]);
            }
            out.copy_from_slice(&xs[i * p..(i + 1) * p]);
        }
        self.gather_targets();
    }

    /// The drawn batch's examples, each where it lies in the client's data (appended to
    /// `columns`), with its targets gathered: for products that read them in place
    /// ([`DenseNet::reads_examples_in_place`]).
    pub(super) fn list_batch(&mut self, columns: &mut Vec<&'a [f64]>) {
        let data: &'a Examples = self.data;
        let p = data.features();
        let xs = data.x().as_slice();
        columns.extend(self.idx.iter().map(|&i| &xs[i * p..(i + 1) * p]));
        self.gather_targets();
    }

    fn gather_targets(&mut self) {
        let y = self.data.y();
        self.ybuf.clear();
        self.ybuf.extend(self.idx.iter().map(|&i| y[i]));
    }

    /// One step's gradient estimate at θ into `grad` (length d; every entry is written), on
    /// the client's next batch, and the raw gradient on flipped labels of the same batch into
    /// `flip` when asked; returns the batch's mean loss (`None` for an empty Poisson batch).
    ///
    /// Full batch or shuffled batches: the batch-mean gradient (ByzFL's). Poisson sampling or
    /// example-level DP: (Σ clip_C(∇ℓᵢ) + N(0, σ²C²I)) / (q·Nᵢ), the sum over the sampled
    /// examples divided by the expected batch size (q·Nᵢ = min(B, Nᵢ), an integer, so no
    /// rounding of q enters), with C = ∞ meaning no clipping and σ = 0 no draw at all.
    ///
    /// The gradient is not checked finite: the caller does, in its next pass over it
    /// ([`check_finite`], or the momentum step).
    ///
    /// # Errors
    /// The model's errors.
    pub(super) fn gradient(
        &mut self,
        model: &dyn Model,
        theta: &[f64],
        s: &StepSettings,
        grad: &mut [f64],
        flip: Option<&mut [f64]>,
    ) -> Result<Option<f64>> {
        self.draw(s);
        let mut xbuf = std::mem::take(&mut self.xbuf);
        if s.batch.is_some() {
            self.gather(&mut xbuf);
        }
        let out = self.estimate(model, theta, s, Drawn::Gathered(&xbuf), grad, flip);
        self.xbuf = xbuf;
        out
    }

    /// [`Client::gradient`] on the batch already drawn, as `drawn` gives it.
    ///
    /// # Errors
    /// As [`Client::gradient`].
    pub(super) fn estimate(
        &mut self,
        model: &dyn Model,
        theta: &[f64],
        s: &StepSettings,
        drawn: Drawn<'_>,
        grad: &mut [f64],
        flip: Option<&mut [f64]>,
    ) -> Result<Option<f64>> {
        let xbatch = match drawn {
            Drawn::Gathered(x) => x,
            Drawn::Stacked { net, x, product } => {
                return self.stacked_estimate(net, theta, s, (x, product), grad, None, flip)
            }
        };
        let data = self.data;
        let p = data.features();
        let full = s.batch.is_none();
        let b = if full { data.len() } else { self.idx.len() };
        let (x, y): (DMatrixView<'_, f64>, &[f64]) = if full {
            (data.x().as_view(), data.y())
        } else {
            (DMatrixView::from_slice(xbatch, p, b), &self.ybuf)
        };
        let batch = Batch { x, y };
        let loss = if !s.sums() {
            Some(model.loss_grad(theta, batch, grad)?)
        } else {
            let expected = match s.batch {
                Some(bs) => bs.min(data.len()),
                None => data.len(),
            } as f64;
            let clip = s.dp.and_then(|(c, _)| c);
            let sigma = s.dp.map_or(0.0, |(_, sigma)| sigma);
            let loss = if b == 0 {
                grad.iter_mut().for_each(|g| *g = 0.0);
                None
            } else if let Some(c) = clip {
                Some(model.clipped_grad_sum(theta, batch, c, grad)?)
            } else {
                let l = model.loss_grad(theta, batch, grad)?;
                let bf = b as f64;
                grad.iter_mut().for_each(|g| *g *= bf);
                Some(l)
            };
            if sigma > 0.0 {
                // invariant: validation requires a clip norm when σ > 0.
                let sd = sigma * clip.unwrap_or(0.0);
                for g in grad.iter_mut() {
                    *g += sd * self.noise.sample::<f64, _>(StandardNormal);
                }
            }
            grad.iter_mut().for_each(|g| *g /= expected);
            loss
        };
        if let (Some(out), Some(classes)) = (flip, s.flip_classes) {
            if b == 0 {
                out.iter_mut().for_each(|g| *g = 0.0);
            } else {
                flip_labels(&mut self.yflip, y, classes);
                let flipped = Batch { x, y: &self.yflip };
                model.loss_grad(theta, flipped, out)?;
            }
        }
        Ok(loss)
    }

    /// The D-SGD client step on a batch drawn and stacked ([`Drawn::Stacked`]): its
    /// batch-mean gradient stepped into the client's momentum column as it is computed
    /// (`DenseNet::loss_grad_into_momentum`; `grad` is scratch), the gradient-overflow error
    /// where it was not finite (m then holding the non-finite update: the run stops there),
    /// and the flipped labels' gradient into `flip` where asked. The same bits as
    /// [`Client::estimate`] followed by [`momentum::step`](crate::learning::momentum::step).
    ///
    /// # Errors
    /// As [`Client::gradient`], and [`gradient_overflow`].
    pub(super) fn stacked_step(
        &mut self,
        drawn: Drawn<'_>,
        theta: &[f64],
        s: &StepSettings,
        grad: &mut [f64],
        momentum: &mut Momentum<'_>,
        flip: Option<&mut [f64]>,
    ) -> Result<Option<f64>> {
        let Drawn::Stacked { net, x, product } = drawn else {
            unreachable!("invariant: a stacked step takes a stacked batch")
        };
        let loss = self.stacked_estimate(net, theta, s, (x, product), grad, Some(momentum), flip);
        if momentum.finite() {
            loss
        } else {
            Err(gradient_overflow())
        }
    }

    /// [`Client::estimate`] of a batch mean on a batch of one chunk whose first-layer
    /// product is given (the same bits as without it: [`DenseNet::loss_grad_from_first`]),
    /// the gradient left in `grad` or stepped into `momentum`.
    #[allow(clippy::too_many_arguments)]
    fn stacked_estimate(
        &mut self,
        net: &DenseNet,
        theta: &[f64],
        s: &StepSettings,
        (x, product): (Mat<'_>, &[f64]),
        grad: &mut [f64],
        momentum: Option<&mut Momentum<'_>>,
        flip: Option<&mut [f64]>,
    ) -> Result<Option<f64>> {
        debug_assert!(
            s.batch.is_some() && !s.sums(),
            "invariant: stacked batch means"
        );
        let y = &self.ybuf;
        let loss = match momentum {
            Some(mo) => net.loss_grad_into_momentum(theta, (x, y), product, grad, mo)?,
            None => net.loss_grad_from_first(theta, (x, y), product, grad)?,
        };
        if let (Some(out), Some(classes)) = (flip, s.flip_classes) {
            // The flipped labels' gradient on the same examples: the same product.
            flip_labels(&mut self.yflip, &self.ybuf, classes);
            net.loss_grad_from_first(theta, (x, &self.yflip), product, out)?;
        }
        Ok(Some(loss))
    }

    /// The mean loss and gradient of the client's whole data at θ, into `out`.
    ///
    /// # Errors
    /// The model's.
    pub(super) fn full_gradient(
        &self,
        model: &dyn Model,
        theta: &[f64],
        out: &mut [f64],
    ) -> Result<f64> {
        model.loss_grad(theta, self.data.batch(), out)
    }
}

/// A drawn batch, as [`Client::estimate`] takes it.
pub(super) enum Drawn<'x> {
    /// Gathered into one block, p × b (ignored for a full batch).
    Gathered(&'x [f64]),
    /// A batch mean of a [`DenseNet`] batch of one chunk, its examples `x` (p × b, gathered
    /// or listed where they lie) with their first-layer product.
    Stacked {
        net: &'x DenseNet,
        x: Mat<'x>,
        product: &'x [f64],
    },
}

/// The flipped labels C − 1 − y of the targets `y` (label flipping), C classes, into `out`.
fn flip_labels(out: &mut Vec<f64>, y: &[f64], classes: usize) {
    let top = (classes - 1) as f64;
    out.clear();
    out.extend(y.iter().map(|&v| top - v));
}

/// [`gradient_overflow`] for a gradient with an entry that is not finite.
pub(super) fn check_finite(grad: &[f64]) -> Result<()> {
    if crate::data::all_finite(grad) {
        Ok(())
    } else {
        Err(gradient_overflow())
    }
}

/// [`Error::NonFinite`] for a client's gradient that overflowed.
pub(super) fn gradient_overflow() -> Error {
    Error::NonFinite {
        what: "a client's gradient".into(),
        detail: "it overflows f64 (the parameters or the data are too large)".into(),
    }
}

/// Number of classes of a classification task, `None` for regression.
pub(super) fn classes(task: Task) -> Option<usize> {
    match task {
        Task::Classification { classes } => Some(classes),
        Task::Regression => None,
    }
}
