//! The candle backend (feature `candle`): the [`Model`] trait on Hugging Face's candle, on a
//! CPU or a CUDA GPU, in f32 or f64 — an MLP with exactly [`super::DenseNet`]'s parameter
//! layout, and a small CNN.
//!
//! # Per-example gradients, batched
//! Every layer is a matrix product Z = U·Wᵀ + b: for a dense layer U is the batch's inputs
//! (one row per example), for a convolution the unfolded input (im2col: one row per example
//! and output position, one column per (channel, dy, dx) of the kernel, gathered by one
//! `index_select`), so the weight layout is torch's `[out, in]` / `[out, C, k, k]`. One
//! forward and one backward pass of the summed loss give every layer's output gradient
//! G = ∂(Σᵢℓᵢ)/∂Z, whose rows for example i are ∂ℓᵢ/∂Z (examples do not interact). candle's
//! autograd keeps gradients of leaves only, so each Z gets a zero leaf E added (Z + E) and
//! ∂/∂E is read off — the usual trick for per-example gradients.
//!
//! From G and U, per example i and layer k:
//! - dense: the gradient is the outer product gᵢuᵢᵀ (plus gᵢ for the bias), so
//!   ‖∇ℓᵢ‖² gets ‖gᵢ‖²(‖uᵢ‖² + 1) without materialising it — the "ghost norm" (Goodfellow,
//!   "Efficient Per-Example Gradient Computations", 2015, arXiv 1510.01799; Li, Tramèr,
//!   Liang & Hashimoto, ICLR 2022, arXiv 2110.05679), as [`super::DenseNet`];
//! - convolution: the gradient Gᵢᵀ·Uᵢ (out × C·k², summed over positions) is materialised
//!   by one batched product, which costs B·P·out·C·k² against the ghost norm's
//!   B·P²·(out + C·k²) for P output positions — cheaper for every layer of this CNN (the
//!   per-layer choice of Bu, Mao & Xu, "Scalable and Efficient Training of Large
//!   Convolutional Neural Networks with Differential Privacy", NeurIPS 2022,
//!   arXiv 2205.10683), and its bias gradient is the column sums of Gᵢ.
//!
//! The clipped sum Σᵢ wᵢ∇ℓᵢ, wᵢ = min(1, C/‖∇ℓᵢ‖), is then one product per layer,
//! (w ⊙ G)ᵀ·U: the backward pass is linear in each example's rows, so re-weighting the rows
//! of G is a second backward pass started from wᵢ∂ℓᵢ (as [`super::DenseNet`] does). No
//! per-sample loop anywhere; the host only sees B norms and the d-vector. The derivations
//! and the tests that check them: proofs/goodfellow2015efficient.md.
//!
//! # Differences from the native backend
//! - ReLU's derivative is 0 at z = 0 (torch's and the native choice), written as z ⊙ [z > 0]
//!   with the mask a constant; a 2×2 max-pool with tied inputs passes the gradient to every
//!   tied input (candle's max), where torch picks one — ties have probability zero for
//!   continuous inputs, and ties of ReLU zeros carry a zero gradient either way.
//! - The log-sum-exp of the softmax head subtracts the (detached) largest logit, as the
//!   native head; the logistic head's ln(1 + e^{−|z|}) is computed as ln of the sum.
//! - In f64 on the CPU results agree with the native backend to rounding (the order of
//!   summation differs; see tests/candle_equivalence.rs for the tolerances); f32 agrees to
//!   single precision.
//! - Batches are processed in chunks ([`CandleNet::chunk`]), whose sums the host adds in
//!   f64.

use super::backend::{Device, Dtype};
use super::dense::{
    check_clipped_sum, check_len, check_nonempty, check_shape, check_targets, describe_task,
    Activation, DenseNet, Head, Want, MAX_PARAMS,
};
use super::spec::CNN_KERNEL;
use super::{Model, ModelSpec};
use crate::learning::examples::{Batch, Task};
use crate::rng::SimRng;
use crate::{Error, Result};
use candle_core::{DType, Tensor, Var};
use nalgebra::{DMatrix, DMatrixView};
use rand::RngExt;

/// A candle failure as a crate error (a device that cannot be opened, out of memory, …).
fn ce(e: candle_core::Error) -> Error {
    Error::Unsupported(format!("candle backend: {e}"))
}

/// The candle device for `device`.
fn open(device: Device) -> Result<candle_core::Device> {
    match device {
        Device::Cpu => Ok(candle_core::Device::Cpu),
        Device::Cuda(n) => candle_core::Device::new_cuda(n).map_err(ce),
    }
}

/// Floats of scratch per chunk beyond which the chunk shrinks (2²⁴: 128 MB in f64).
const SCRATCH_FLOATS: usize = 1 << 24;

/// Most examples per chunk (a GPU wants large products; the CPU does not mind).
const MAX_CHUNK: usize = 4096;

/// max(z, 0) as z ⊙ [z > 0]: the mask is a constant, so the derivative is 0 at z = 0 (torch's
/// and the native choice; candle's own `relu` takes 1 there).
fn relu(z: &Tensor) -> candle_core::Result<Tensor> {
    z.mul(&z.gt(0.0)?.to_dtype(z.dtype())?)
}

/// One layer: an `out × fan_in` weight (row-major, torch's layout), then `out` biases.
#[derive(Clone, Debug)]
enum Layer {
    /// Fully connected.
    Dense { fan_in: usize, out: usize },
    /// A k×k convolution (stride 1, no padding) producing `side × side` outputs per channel,
    /// followed (unless it is the last layer) by the activation and a 2×2 max-pool. Each
    /// output position reads fan_in = C·k² inputs in torch's (c, dy, dx) order: gathered by
    /// `cols` (u32, length P·fan_in with P = side²) out of the flattened input where it is
    /// `Some` (the first layer: the data, which needs no gradient), else cut from the
    /// row·column·channel activations by [`unfold_hwc`].
    Conv {
        fan_in: usize,
        out: usize,
        side: usize,
        cols: Option<Tensor>,
    },
}

impl Layer {
    fn shape(&self) -> (usize, usize) {
        match self {
            Layer::Dense { fan_in, out } | Layer::Conv { fan_in, out, .. } => (*fan_in, *out),
        }
    }

    /// Output positions per example (1 for a dense layer).
    fn positions(&self) -> usize {
        match self {
            Layer::Dense { .. } => 1,
            Layer::Conv { side, .. } => side * side,
        }
    }
}

/// How a flattened image is laid out.
#[derive(Clone, Copy, Debug)]
pub enum Layout {
    /// Channel, then row, then column (torch's, the input's).
    Chw,
    /// Row, then column, then channel (the layout a convolution's output has here).
    Hwc,
}

/// The im2col index of a k×k convolution on `channels × side × side` inputs laid out as
/// `layout`: for each output position (row-major), the flat input index of each
/// (c, dy, dx) in torch's weight order.
pub fn unfold_index(channels: usize, side: usize, k: usize, layout: Layout) -> Vec<u32> {
    let out_side = side + 1 - k;
    let mut idx = Vec::with_capacity(out_side * out_side * channels * k * k);
    for oy in 0..out_side {
        for ox in 0..out_side {
            for c in 0..channels {
                for dy in 0..k {
                    for dx in 0..k {
                        let (y, x) = (oy + dy, ox + dx);
                        let at = match layout {
                            Layout::Chw => (c * side + y) * side + x,
                            Layout::Hwc => (y * side + x) * channels + c,
                        };
                        idx.push(at as u32);
                    }
                }
            }
        }
    }
    idx
}

/// The im2col rows (b·side², C·k²) of a k×k convolution producing `side × side` outputs from
/// `a` (b, s·s·C) laid out [`Layout::Hwc`] (s = side + k − 1): the k² shifted `side × side`
/// windows stacked after the channel, so each row holds the (c, dy, dx) columns that
/// [`unfold_index`] with `Layout::Hwc` gathers, the same values.
///
/// Used on a GPU instead of `index_select` with that index: where `a` needs a gradient,
/// candle's backward of `index_select` (its CUDA `index_add` kernel) gives each example one
/// thread that walks all P·fan_in indices in series, 25 600 for the second layer of the
/// 28×28 CNN, and a DP-SGD step at batch 256 took 26.6 ms on an H200 that way. The windows'
/// backward (zero padding and slicing of the stacked gradient) is parallel over every
/// element.
fn unfold_hwc(a: &Tensor, channels: usize, k: usize, side: usize) -> candle_core::Result<Tensor> {
    let b = a.dim(0)?;
    let s = side + k - 1;
    let a = a.reshape((b, s, s, channels))?;
    let mut windows = Vec::with_capacity(k * k);
    for dy in 0..k {
        for dx in 0..k {
            windows.push(a.narrow(1, dy, side)?.narrow(2, dx, side)?);
        }
    }
    Tensor::stack(&windows, 4)?.reshape((b * side * side, channels * k * k))
}

/// A network computed by candle: [`ModelSpec::Mlp`] (and the one-layer models) with
/// [`DenseNet`]'s parameter layout and initialisation, or [`ModelSpec::Cnn`].
pub struct CandleNet {
    layers: Vec<Layer>,
    activation: Activation,
    head: Head,
    task: Task,
    features: usize,
    n_params: usize,
    /// The native twin of a dense model: its description and initialisation, so one seed
    /// gives the same θ on both backends.
    dense: Option<DenseNet>,
    /// The CNN's geometry, for [`Model::describe`].
    geometry: String,
    device: candle_core::Device,
    dtype: DType,
    backend: (Device, Dtype),
    chunk: usize,
}

impl std::fmt::Debug for CandleNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// A forward pass: the per-example losses, each layer's input rows U and zero leaf E.
struct Forward {
    losses: Tensor,
    inputs: Vec<Tensor>,
    shifts: Vec<Var>,
}

impl CandleNet {
    /// `spec` for `features` inputs and `task`, computed on `device` in `dtype`.
    ///
    /// # Errors
    /// As [`ModelSpec::build_dense`] for the dense models; for the cnn, channels that are
    /// not two positive counts, features that are not a 1- or 3-channel square image, an
    /// image too small for two conv+pool stages, or a logistic/linear task mismatch; a
    /// device candle cannot open (no GPU, a build without `cuda`).
    pub fn new(
        spec: &ModelSpec,
        features: usize,
        task: Task,
        device: Device,
        dtype: Dtype,
    ) -> Result<CandleNet> {
        let ModelSpec::Cnn {
            channels,
            activation,
        } = spec
        else {
            return CandleNet::from_dense(spec.build_dense(features, task)?, device, dtype);
        };
        let dev = open(device)?;
        let (layers, head, geometry) = cnn_layers(channels, features, task, &dev)?;
        Ok(CandleNet::assemble(
            layers,
            *activation,
            head,
            task,
            features,
            None,
            geometry,
            dev,
            device,
            dtype,
        ))
    }

    /// The dense network `net` (any widths, activation and head [`DenseNet::new`] accepts)
    /// computed by candle on `device` in `dtype`: the same function, parameter layout and
    /// initialisation.
    ///
    /// # Errors
    /// A device candle cannot open.
    pub fn from_dense(net: DenseNet, device: Device, dtype: Dtype) -> Result<CandleNet> {
        let dev = open(device)?;
        let layers = net
            .widths()
            .windows(2)
            .map(|w| Layer::Dense {
                fan_in: w[0],
                out: w[1],
            })
            .collect();
        let (activation, head, task, features) =
            (net.activation(), net.head(), net.task(), net.n_features());
        Ok(CandleNet::assemble(
            layers,
            activation,
            head,
            task,
            features,
            Some(net),
            String::new(),
            dev,
            device,
            dtype,
        ))
    }

    /// The network from its parts; sizes the chunk.
    #[allow(clippy::too_many_arguments)]
    fn assemble(
        layers: Vec<Layer>,
        activation: Activation,
        head: Head,
        task: Task,
        features: usize,
        dense: Option<DenseNet>,
        geometry: String,
        dev: candle_core::Device,
        device: Device,
        dtype: Dtype,
    ) -> CandleNet {
        let dt = match dtype {
            Dtype::F32 => DType::F32,
            Dtype::F64 => DType::F64,
        };
        let n_params = layers
            .iter()
            .map(|l| {
                let (fan_in, out) = l.shape();
                fan_in * out + out
            })
            .sum();
        // Scratch per example: each layer's rows U, Z, G (and a conv's per-example gradient).
        let per_example: usize = layers
            .iter()
            .map(|l| {
                let (fan_in, out) = l.shape();
                let own = if l.positions() > 1 { fan_in * out } else { 0 };
                l.positions() * (fan_in + 3 * out) + own
            })
            .sum();
        CandleNet {
            chunk: (SCRATCH_FLOATS / per_example.max(1)).clamp(1, MAX_CHUNK),
            layers,
            activation,
            head,
            task,
            features,
            n_params,
            dense,
            geometry,
            device: dev,
            dtype: dt,
            backend: (device, dtype),
        }
    }

    /// Examples per chunk: at most 4 096, fewer when the scratch of a chunk would exceed
    /// 2²⁴ floats.
    pub fn chunk(&self) -> usize {
        self.chunk
    }

    /// θ as per-layer (weight `[out, fan_in]`, bias `[out]`) tensors on the device.
    fn params(&self, theta: &[f64]) -> Result<Vec<(Tensor, Tensor)>> {
        let all = Tensor::from_slice(theta, theta.len(), &self.device)
            .and_then(|t| t.to_dtype(self.dtype))
            .map_err(ce)?;
        let mut off = 0;
        let mut out = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let (fan_in, width) = layer.shape();
            let w = all
                .narrow(0, off, fan_in * width)
                .and_then(|w| w.reshape((width, fan_in)))
                .map_err(ce)?;
            let b = all.narrow(0, off + fan_in * width, width).map_err(ce)?;
            off += fan_in * width + width;
            out.push((w, b));
        }
        Ok(out)
    }

    /// Columns `start..start + b` of `x` as a (b, p) tensor (column-major p × b is row-major
    /// b × p).
    fn rows(&self, x: DMatrixView<'_, f64>, start: usize, b: usize) -> Result<Tensor> {
        let mut flat: Vec<f64> = Vec::with_capacity(self.features * b);
        for j in start..start + b {
            flat.extend(x.column(j).iter());
        }
        Tensor::from_vec(flat, (b, self.features), &self.device)
            .and_then(|t| t.to_dtype(self.dtype))
            .map_err(ce)
    }

    fn activate(&self, z: &Tensor) -> candle_core::Result<Tensor> {
        match self.activation {
            Activation::Relu => relu(z),
            Activation::Tanh => z.tanh(),
        }
    }

    /// The logits of a chunk `x` (b, p); with `track`, each layer's input rows and a zero
    /// leaf added to its output, for the backward pass.
    fn forward(
        &self,
        params: &[(Tensor, Tensor)],
        x: &Tensor,
        track: bool,
    ) -> candle_core::Result<(Tensor, Vec<Tensor>, Vec<Var>)> {
        let b = x.dim(0)?;
        let last = self.layers.len() - 1;
        let (mut inputs, mut shifts) = (Vec::new(), Vec::new());
        let mut a = x.clone();
        for (k, (layer, (w, bias))) in self.layers.iter().zip(params).enumerate() {
            let (fan_in, out) = layer.shape();
            let u = match layer {
                Layer::Dense { .. } => a,
                Layer::Conv {
                    cols: Some(cols),
                    side,
                    ..
                } => a
                    .index_select(cols, 1)?
                    .reshape((b * side * side, fan_in))?,
                Layer::Conv {
                    cols: None, side, ..
                } => unfold_hwc(&a, fan_in / (CNN_KERNEL * CNN_KERNEL), CNN_KERNEL, *side)?,
            };
            let mut z = u.matmul(&w.t()?)?.broadcast_add(bias)?;
            if track {
                let e = Var::zeros(z.shape(), self.dtype, &self.device)?;
                z = z.add(e.as_tensor())?;
                shifts.push(e);
                inputs.push(u);
            }
            if k == last {
                return Ok((z, inputs, shifts));
            }
            a = self.activate(&z)?;
            if let Layer::Conv { side, .. } = layer {
                // 2×2 max-pool (floor: an odd last row/column is dropped, as torch), in the
                // (row, column, channel) layout; a dense layer next reads torch's C×H×W.
                let h = side / 2;
                a = a
                    .reshape((b, *side, *side, out))?
                    .narrow(1, 0, 2 * h)?
                    .narrow(2, 0, 2 * h)?
                    .contiguous()?
                    .reshape((b, h, 2, h, 2, out))?
                    .max(4)?
                    .max(2)?;
                a = match self.layers[k + 1] {
                    Layer::Dense { .. } => a.permute((0, 3, 1, 2))?.contiguous()?,
                    Layer::Conv { .. } => a,
                }
                .reshape((b, h * h * out))?;
            }
        }
        unreachable!("a network has at least one layer")
    }

    /// Per-example losses of the logits `z` (b, K) against targets `y`.
    fn losses(&self, z: &Tensor, y: &[f64]) -> candle_core::Result<Tensor> {
        let b = y.len();
        match self.head {
            Head::Squared => {
                let t = Tensor::from_slice(y, b, &self.device)?.to_dtype(self.dtype)?;
                z.squeeze(1)?.sub(&t)?.sqr()?.affine(0.5, 0.0)
            }
            Head::Logistic => {
                // ln(1 + eᶻ) − yz = max(z, 0) + ln(1 + e^{−|z|}) − yz.
                let t = Tensor::from_slice(y, b, &self.device)?.to_dtype(self.dtype)?;
                let z = z.squeeze(1)?;
                let soft = z.neg()?.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
                relu(&z)?.add(&soft)?.sub(&t.mul(&z)?)
            }
            Head::Softmax => {
                let labels: Vec<u32> = y.iter().map(|&v| v as u32).collect();
                let labels = Tensor::from_vec(labels, (b, 1), &self.device)?;
                let m = z.max_keepdim(1)?.detach();
                let s = z.broadcast_sub(&m)?;
                let lse = s.exp()?.sum_keepdim(1)?.log()?;
                lse.sub(&s.gather(&labels, 1)?)?.squeeze(1)
            }
        }
    }

    fn pass(
        &self,
        params: &[(Tensor, Tensor)],
        x: &Tensor,
        y: &[f64],
        track: bool,
    ) -> Result<Forward> {
        let (z, inputs, shifts) = self.forward(params, x, track).map_err(ce)?;
        let losses = self.losses(&z, y).map_err(ce)?;
        Ok(Forward {
            losses,
            inputs,
            shifts,
        })
    }

    /// Each layer's output gradient G (rows: example × position) from the summed loss.
    fn out_grads(&self, f: &Forward) -> Result<Vec<Tensor>> {
        let grads = f.losses.sum_all().and_then(|s| s.backward()).map_err(ce)?;
        f.shifts
            .iter()
            .map(|e| {
                grads.get(e.as_tensor()).cloned().ok_or_else(|| {
                    Error::Unsupported("candle backend: a layer has no gradient".into())
                })
            })
            .collect()
    }

    /// ‖∇ℓᵢ‖² per example (module docs).
    fn sq_norms(&self, g: &[Tensor], u: &[Tensor], b: usize) -> candle_core::Result<Tensor> {
        let mut sq = Tensor::zeros(b, self.dtype, &self.device)?;
        for ((layer, g), u) in self.layers.iter().zip(g).zip(u) {
            let (fan_in, out) = layer.shape();
            let part = match layer {
                Layer::Dense { .. } => g.sqr()?.sum(1)?.mul(&u.sqr()?.sum(1)?.affine(1.0, 1.0)?)?,
                Layer::Conv { side, .. } => {
                    let p = side * side;
                    let g3 = g.reshape((b, p, out))?;
                    let u3 = u.reshape((b, p, fan_in))?;
                    let per = g3.transpose(1, 2)?.matmul(&u3)?;
                    per.sqr()?.sum((1, 2))?.add(&g3.sum(1)?.sqr()?.sum(1)?)?
                }
            };
            sq = sq.add(&part)?;
        }
        Ok(sq)
    }

    /// Σᵢ wᵢ∇ℓᵢ as one flat f64 vector in θ's layout.
    fn weighted_sum(&self, g: &[Tensor], u: &[Tensor], w: &Tensor, b: usize) -> Result<Vec<f64>> {
        let run = || -> candle_core::Result<Vec<f64>> {
            let mut parts = Vec::with_capacity(2 * self.layers.len());
            for ((layer, g), u) in self.layers.iter().zip(g).zip(u) {
                let (_, out) = layer.shape();
                let p = layer.positions();
                let gw = g
                    .reshape((b, p, out))?
                    .broadcast_mul(&w.reshape((b, 1, 1))?)?
                    .reshape((b * p, out))?;
                parts.push(gw.t()?.matmul(u)?.flatten_all()?);
                parts.push(gw.sum(0)?);
            }
            Tensor::cat(&parts, 0)?
                .to_dtype(DType::F64)?
                .to_vec1::<f64>()
        };
        run().map_err(ce)
    }

    /// One sweep over the batch in chunks: the summed loss; the (weighted) gradient sum
    /// into `grad` (Grad, Clipped) or the norms into `norms` (Norms).
    fn run(
        &self,
        theta: &[f64],
        batch: &Batch<'_>,
        want: Want,
        grad: &mut [f64],
        norms: &mut [f64],
    ) -> Result<f64> {
        let params = self.params(theta)?;
        grad.iter_mut().for_each(|g| *g = 0.0);
        let n = batch.len();
        let mut loss = 0.0;
        let mut start = 0;
        while start < n {
            let b = self.chunk.min(n - start);
            let x = self.rows(batch.x, start, b)?;
            let y = &batch.y[start..start + b];
            let f = self.pass(&params, &x, y, want != Want::Loss)?;
            let host = |t: &Tensor| {
                t.to_dtype(DType::F64)
                    .and_then(|t| t.to_vec1::<f64>())
                    .map_err(ce)
            };
            loss += host(&f.losses)?.iter().sum::<f64>();
            if want != Want::Loss {
                let g = self.out_grads(&f)?;
                let clip = match want {
                    Want::Clipped(c) if c.is_finite() => Some(c),
                    _ => None,
                };
                let sq = match (want, clip) {
                    (Want::Norms, _) | (_, Some(_)) => {
                        Some(host(&self.sq_norms(&g, &f.inputs, b).map_err(ce)?)?)
                    }
                    _ => None,
                };
                if want == Want::Norms {
                    for (o, s) in norms[start..start + b]
                        .iter_mut()
                        .zip(sq.unwrap_or_default())
                    {
                        *o = s.sqrt();
                    }
                } else {
                    // wᵢ = min(1, C/‖∇ℓᵢ‖) exactly (a zero gradient: C/0 = ∞, w = 1), as
                    // the native backend.
                    let weights: Vec<f64> = match (clip, sq) {
                        (Some(c), Some(sq)) => sq.iter().map(|s| (c / s.sqrt()).min(1.0)).collect(),
                        _ => vec![1.0; b],
                    };
                    let w = Tensor::from_vec(weights, b, &self.device)
                        .and_then(|t| t.to_dtype(self.dtype))
                        .map_err(ce)?;
                    let sum = self.weighted_sum(&g, &f.inputs, &w, b)?;
                    grad.iter_mut().zip(&sum).for_each(|(a, s)| *a += s);
                }
            }
            start += b;
        }
        Ok(loss)
    }

    fn check(&self, theta: &[f64], batch: &Batch<'_>) -> Result<()> {
        check_shape(
            || self.describe(),
            self.n_params,
            self.features,
            theta,
            batch.x.nrows(),
        )?;
        check_targets(self.task, batch.x.ncols(), batch.y)
    }
}

/// The CNN's layers for `features` inputs: conv–pool–conv–pool–dense, with its head and a
/// description of the geometry.
fn cnn_layers(
    channels: &[usize],
    features: usize,
    task: Task,
    dev: &candle_core::Device,
) -> Result<(Vec<Layer>, Head, String)> {
    let &[c1, c2] = channels else {
        return Err(Error::invalid(
            "channels",
            format!("{channels:?}"),
            "a cnn takes exactly two channel counts, e.g. 16,32",
        ));
    };
    if c1 == 0 || c2 == 0 {
        return Err(Error::invalid(
            "channels",
            format!("{channels:?}"),
            "every count must be ≥ 1",
        ));
    }
    let square = |n: usize| {
        let s = (n as f64).sqrt().round() as usize;
        (s * s == n && s > 0).then_some(s)
    };
    let (c0, side) = match (square(features), features.is_multiple_of(3)) {
        (Some(s), _) => (1, s),
        (None, true) => match square(features / 3) {
            Some(s) => (3, s),
            None => (0, 0),
        },
        _ => (0, 0),
    };
    if c0 == 0 {
        return Err(Error::invalid(
            "features",
            features,
            "the cnn needs a square image: side² (one channel) or 3·side² (three) features",
        ));
    }
    let k = CNN_KERNEL;
    // Side after conv (k×k, valid) then 2×2 pool, twice; both must leave at least 1.
    let s1 = side.checked_sub(k - 1).filter(|&s| s >= 2);
    let s2 = s1
        .and_then(|s1| (s1 / 2).checked_sub(k - 1))
        .filter(|&s| s >= 2);
    let (Some(s1), Some(s2)) = (s1, s2) else {
        return Err(Error::invalid(
            "features",
            features,
            format!(
                "a {side}×{side} image is too small for the cnn (two {k}×{k} convolutions and \
                 2×2 pools need a side of at least {})",
                3 * k + 1
            ),
        ));
    };
    let (outputs, head) = match task {
        Task::Regression => (1, Head::Squared),
        Task::Classification { classes } if classes >= 2 => (classes, Head::Softmax),
        _ => {
            return Err(Error::Unsupported(format!(
                "the cnn needs regression or at least two classes; the data is {}",
                describe_task(task)
            )))
        }
    };
    let index = |c: usize, s: usize, layout: Layout| {
        let idx = unfold_index(c, s, k, layout);
        let n = idx.len();
        Tensor::from_vec(idx, n, dev).map_err(ce)
    };
    let flat = c2 * (s2 / 2) * (s2 / 2);
    let too_many = [
        c0 * k * k * c1 + c1,
        c1 * k * k * c2 + c2,
        flat * outputs + outputs,
    ]
    .iter()
    .try_fold(0usize, |a, &n| a.checked_add(n))
    .is_none_or(|n| n > MAX_PARAMS);
    if too_many {
        return Err(Error::invalid(
            "model size",
            format!("cnn channels {channels:?}"),
            format!("more than {MAX_PARAMS} parameters"),
        ));
    }
    let layers = vec![
        Layer::Conv {
            fan_in: c0 * k * k,
            out: c1,
            side: s1,
            cols: Some(index(c0, side, Layout::Chw)?),
        },
        Layer::Conv {
            fan_in: c1 * k * k,
            out: c2,
            side: s2,
            // On a GPU, cut by windows: candle's CUDA backward of the gather is serial per
            // example (`unfold_hwc`). On the CPU the gather is the faster (a DP-SGD step of
            // the 28×28 CNN, batch 256, f32, one thread: 210 ms against 315 ms by windows).
            cols: (!dev.is_cuda())
                .then(|| index(c1, s1 / 2, Layout::Hwc))
                .transpose()?,
        },
        Layer::Dense {
            fan_in: flat,
            out: outputs,
        },
    ];
    let geometry =
        format!("{c0}×{side}×{side} conv{k}·{c1} pool2 conv{k}·{c2} pool2 dense {flat}→{outputs}");
    Ok((layers, head, geometry))
}

impl Model for CandleNet {
    fn describe(&self) -> String {
        let (device, dtype) = self.backend;
        let what = match &self.dense {
            Some(net) => net.describe(),
            None => format!("cnn {} {}", self.geometry, self.activation.name()),
        };
        format!("{what} (candle {device} {dtype})")
    }

    fn n_params(&self) -> usize {
        self.n_params
    }

    fn dense_twin(&self) -> Option<&DenseNet> {
        self.dense.as_ref()
    }

    fn n_features(&self) -> usize {
        self.features
    }

    fn task(&self) -> Task {
        self.task
    }

    /// The per-example sum times `1.0 / B as f64`, as [`DenseNet`].
    fn loss_grad(&self, theta: &[f64], batch: Batch<'_>, grad: &mut [f64]) -> Result<f64> {
        self.check(theta, &batch)?;
        check_len("gradient buffer", self.n_params, grad.len())?;
        check_nonempty(&batch)?;
        let loss = self.run(theta, &batch, Want::Grad, grad, &mut [])?;
        let inv = 1.0 / batch.len() as f64;
        grad.iter_mut().for_each(|g| *g *= inv);
        Ok(loss * inv)
    }

    fn loss(&self, theta: &[f64], batch: Batch<'_>) -> Result<f64> {
        self.check(theta, &batch)?;
        check_nonempty(&batch)?;
        Ok(self.run(theta, &batch, Want::Loss, &mut [], &mut [])? / batch.len() as f64)
    }

    fn per_example_grad_norms(
        &self,
        theta: &[f64],
        batch: Batch<'_>,
        out: &mut [f64],
    ) -> Result<()> {
        self.check(theta, &batch)?;
        check_len("per-example norm buffer", batch.len(), out.len())?;
        self.run(theta, &batch, Want::Norms, &mut [], out)?;
        Ok(())
    }

    /// An empty batch gives the zero sum and a loss of 0, as [`DenseNet`].
    fn clipped_grad_sum(
        &self,
        theta: &[f64],
        batch: Batch<'_>,
        c: f64,
        out: &mut [f64],
    ) -> Result<f64> {
        self.check(theta, &batch)?;
        if check_clipped_sum(self.n_params, &batch, c, out)? {
            return Ok(0.0);
        }
        let loss = self.run(theta, &batch, Want::Clipped(c), out, &mut [])?;
        Ok(loss / batch.len() as f64)
    }

    fn predict(&self, theta: &[f64], x: DMatrixView<'_, f64>) -> Result<DMatrix<f64>> {
        check_shape(
            || self.describe(),
            self.n_params,
            self.features,
            theta,
            x.nrows(),
        )?;
        let params = self.params(theta)?;
        let outputs = self.layers.last().map_or(0, |l| l.shape().1);
        let n = x.ncols();
        let mut out = DMatrix::zeros(outputs, n);
        let mut start = 0;
        while start < n {
            let b = self.chunk.min(n - start);
            let rows = self.rows(x, start, b)?;
            let z = self
                .forward(&params, &rows, false)
                .and_then(|(z, _, _)| z.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>())
                .map_err(ce)?;
            // Row-major b × K is column-major K × b.
            out.columns_mut(start, b).copy_from_slice(&z);
            start += b;
        }
        Ok(out)
    }

    /// [`DenseNet::init`] for the dense models (the same θ from the same stream); for the
    /// cnn, torch's default for every layer: weight and bias U(−1/√fan_in, 1/√fan_in) with
    /// fan_in = C·k² for a convolution (kaiming_uniform_ with a = √5, as `nn.Conv2d`).
    fn init(&self, rng: &mut SimRng) -> Vec<f64> {
        if let Some(net) = &self.dense {
            return net.init(rng);
        }
        let mut theta = Vec::with_capacity(self.n_params);
        for layer in &self.layers {
            let (fan_in, out) = layer.shape();
            let bound = 1.0 / (fan_in as f64).sqrt();
            theta
                .extend((0..fan_in * out + out).map(|_| bound * (2.0 * rng.random::<f64>() - 1.0)));
        }
        theta
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shifted windows hold exactly what the gather index picks, value for value, on a
    /// 2-example 3-channel 7×7 input (k = 3, 5×5 outputs) whose entries are their own positions.
    /// Mutation that makes it fail (checked): stacking the windows at dimension 3 (before the
    /// channel) instead of 4, which orders each row (dy, dx, c).
    #[test]
    fn unfold_hwc_matches_the_gather_index() {
        let (b, c, k, side) = (2, 3, 3, 5);
        let s = side + k - 1;
        let dev = candle_core::Device::Cpu;
        let values: Vec<f64> = (0..b * s * s * c).map(|v| v as f64).collect();
        let a = Tensor::from_vec(values, (b, s * s * c), &dev).unwrap();
        let idx = unfold_index(c, s, k, Layout::Hwc);
        let n = idx.len();
        let cols = Tensor::from_vec(idx, n, &dev).unwrap();
        let want = a
            .index_select(&cols, 1)
            .unwrap()
            .reshape((b * side * side, c * k * k))
            .unwrap();
        let got = unfold_hwc(&a, c, k, side).unwrap();
        assert_eq!(
            got.to_vec2::<f64>().unwrap(),
            want.to_vec2::<f64>().unwrap()
        );
    }

    /// The CNN computes the same clipped gradient sum (its clipping weights come from the
    /// per-example norms, so a difference there shows in the sum too) with its second layer
    /// cut by windows (the GPU's choice) as by the gather (the CPU's), on the CPU in f64: only
    /// the order in which the backward adds each input's ≤ k² contributions differs, so they
    /// agree to 1e-12 of the sum's largest entry (a few units of f64 rounding over ≤ 25 terms).
    /// Mutation that makes it fail (checked): `narrow(2, dy, side)` for the column shift.
    #[test]
    fn windows_and_gather_give_the_same_clipped_sum() {
        use crate::learning::examples::Batch;
        let spec = ModelSpec::parse("cnn", Some("2,3"), Some("tanh")).unwrap();
        let (features, task) = (16 * 16, Task::Classification { classes: 3 });
        let gather = CandleNet::new(&spec, features, task, Device::Cpu, Dtype::F64).unwrap();
        let mut windows = CandleNet::new(&spec, features, task, Device::Cpu, Dtype::F64).unwrap();
        let Layer::Conv { cols, .. } = &mut windows.layers[1] else {
            panic!("the second layer is a convolution")
        };
        assert!(cols.is_some(), "the CPU gathers");
        *cols = None;
        let mut rng = crate::rng::rng_from_seed(11);
        let x = DMatrix::from_fn(features, 6, |_, _| rng.random::<f64>() - 0.5);
        let y: Vec<f64> = (0..6).map(|i| (i % 3) as f64).collect();
        let batch = Batch {
            x: x.as_view(),
            y: &y,
        };
        let theta = gather.init(&mut rng);
        let mut want = vec![0.0; theta.len()];
        let mut got = vec![0.0; theta.len()];
        gather
            .clipped_grad_sum(&theta, batch, 0.05, &mut want)
            .unwrap();
        windows
            .clipped_grad_sum(&theta, batch, 0.05, &mut got)
            .unwrap();
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(scale > 0.0);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() <= 1e-12 * scale, "entry {i}: {g} vs {w}");
        }
    }
}
