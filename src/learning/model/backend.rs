//! Which engine computes a model: the pure-Rust f64 [`super::DenseNet`] (`native`, always
//! built) or candle (`candle`, behind the cargo feature of that name), on a device and in a
//! precision chosen at run time.
//!
//! [`Backend::build`] is the one place the choice is made: every experiment that trains asks
//! it for a `Box<dyn Model>`, so an experiment's code does not change with the backend. The
//! accountant, the DP noise (drawn from the crate's keyed streams on the host and added by the
//! training loop) and every statistic stay f64 on the host whatever the backend.

use super::{Model, ModelSpec};
use crate::learning::examples::Task;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where candle computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    /// The host CPU.
    Cpu,
    /// CUDA GPU number N (needs the `cuda` feature).
    Cuda(usize),
}

/// The floating-point type candle computes in (the host keeps f64 throughout).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dtype {
    /// Single precision: the GPU default (f64 is far slower on most GPUs).
    F32,
    /// Double precision: the CPU default, and the native backend's.
    F64,
}

/// The model backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// The pure-Rust f64 dense networks ([`super::DenseNet`]).
    #[default]
    Native,
    /// candle's MLP and CNN ([`super::candle::CandleNet`]).
    Candle {
        /// Where it computes.
        device: Device,
        /// In what precision.
        dtype: Dtype,
    },
}

/// Why a `candle` backend cannot run in this build.
const NO_CANDLE: &str = "this lbounds was built without candle: rebuild with \
                         `cargo build --release --features candle` (or `--features cuda` for GPUs)";

impl Device {
    /// Parses `cpu`, `cuda` (GPU 0) or `cuda:N`.
    ///
    /// # Errors
    /// Anything else.
    pub fn parse(s: &str) -> Result<Device> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "cpu" => return Ok(Device::Cpu),
            "cuda" | "gpu" => return Ok(Device::Cuda(0)),
            _ => {}
        }
        t.strip_prefix("cuda:")
            .and_then(|n| n.parse::<usize>().ok())
            .map(Device::Cuda)
            .ok_or_else(|| Error::invalid("device", s, "expected cpu, cuda or cuda:N (N ≥ 0)"))
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl Dtype {
    /// Parses `f32` or `f64`.
    ///
    /// # Errors
    /// Anything else.
    pub fn parse(s: &str) -> Result<Dtype> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" | "float32" => Ok(Dtype::F32),
            "f64" | "float64" => Ok(Dtype::F64),
            _ => Err(Error::unknown("dtype", s, ["f32", "f64"])),
        }
    }

    /// The default on `device`: f64 on the CPU (as the native backend), f32 on a GPU.
    pub fn default_for(device: Device) -> Dtype {
        match device {
            Device::Cpu => Dtype::F64,
            Device::Cuda(_) => Dtype::F32,
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dtype::F32 => "f32",
            Dtype::F64 => "f64",
        })
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backend::Native => write!(f, "native"),
            Backend::Candle { device, dtype } => write!(f, "candle {device} {dtype}"),
        }
    }
}

impl Backend {
    /// Every backend's name, as the CLI spells it.
    pub const NAMES: [&'static str; 2] = ["native", "candle"];

    /// Whether this is the default native backend (sweep records and cache keys leave the
    /// key out then, so they stay what they were before backends existed).
    pub fn is_native(&self) -> bool {
        *self == Backend::Native
    }

    /// Whether this build can run candle (the `candle` feature).
    pub const fn candle_available() -> bool {
        cfg!(feature = "candle")
    }

    /// The backend from the CLI's `--backend`, `--device` and `--dtype`: `device` defaults to
    /// `cpu`, `dtype` to [`Dtype::default_for`] the device.
    ///
    /// # Errors
    /// An unknown name; `--device`/`--dtype` with the native backend (it is CPU f64 only);
    /// `candle` in a build without the `candle` feature, or a CUDA device without `cuda`.
    pub fn from_flags(backend: &str, device: Option<&str>, dtype: Option<&str>) -> Result<Backend> {
        match backend.trim().to_ascii_lowercase().as_str() {
            "native" => {
                for (flag, given) in [("device", device), ("dtype", dtype)] {
                    if let Some(v) = given {
                        return Err(Error::invalid(
                            flag,
                            v,
                            "the native backend runs on the CPU in f64 only; add --backend candle",
                        ));
                    }
                }
                Ok(Backend::Native)
            }
            "candle" => {
                let device = device.map_or(Ok(Device::Cpu), Device::parse)?;
                let dtype = dtype.map_or(Ok(Dtype::default_for(device)), Dtype::parse)?;
                let b = Backend::Candle { device, dtype };
                b.check_available()?;
                Ok(b)
            }
            _ => Err(Error::unknown("backend", backend, Backend::NAMES)),
        }
    }

    /// The backend from a sweep file's `backend` value: `native`, or `candle` optionally
    /// followed by `:DEVICE` and/or `:DTYPE` (`candle:cpu`, `candle:cuda:1:f32`, `candle:f32`).
    ///
    /// # Errors
    /// As [`Backend::from_flags`].
    pub fn parse(s: &str) -> Result<Backend> {
        let t = s.trim();
        let (name, rest) = t.split_once(':').unwrap_or((t, ""));
        let mut device = String::new();
        let mut dtype = None;
        for part in rest.split(':').filter(|p| !p.is_empty()) {
            if Dtype::parse(part).is_ok() {
                dtype = Some(part.to_string());
            } else if part.chars().all(|c| c.is_ascii_digit()) && !device.is_empty() {
                device = format!("{device}:{part}");
            } else {
                device = part.to_string();
            }
        }
        let device = (!device.is_empty()).then_some(device);
        Backend::from_flags(name, device.as_deref(), dtype.as_deref())
    }

    /// An error unless this build can run the backend.
    ///
    /// # Errors
    /// `candle` without the `candle` feature; a CUDA device without the `cuda` feature.
    pub fn check_available(&self) -> Result<()> {
        match self {
            Backend::Native => Ok(()),
            Backend::Candle { .. } if !Backend::candle_available() => {
                Err(Error::Unsupported(NO_CANDLE.into()))
            }
            Backend::Candle {
                device: Device::Cuda(_),
                ..
            } if !cfg!(feature = "cuda") => Err(Error::Unsupported(
                "this lbounds was built without CUDA: rebuild with `cargo build --release \
                 --features cuda` (needs the CUDA toolkit at build time)"
                    .into(),
            )),
            Backend::Candle { .. } => Ok(()),
        }
    }

    /// The model `spec` for `features` inputs and `task` on this backend: the one place the
    /// backend is chosen.
    ///
    /// # Errors
    /// As [`ModelSpec::build`]; a backend this build lacks ([`Backend::check_available`]);
    /// the cnn on the native backend; a device candle cannot open.
    pub fn build(&self, spec: &ModelSpec, features: usize, task: Task) -> Result<Box<dyn Model>> {
        self.check_available()?;
        match self {
            Backend::Native => spec.build(features, task),
            #[cfg(feature = "candle")]
            Backend::Candle { device, dtype } => Ok(Box::new(super::candle::CandleNet::new(
                spec, features, task, *device, *dtype,
            )?)),
            #[cfg(not(feature = "candle"))]
            Backend::Candle { .. } => Err(Error::Unsupported(NO_CANDLE.into())),
        }
    }

    /// The dense network `net` (any widths, activation and head) on this backend: `net`
    /// itself on the native one, the same function and parameter layout on candle. For
    /// experiments whose network is not one of the [`ModelSpec`]s (`lbounds block`'s tanh
    /// trunk with a logistic head).
    ///
    /// # Errors
    /// As [`Backend::build`].
    pub fn build_net(&self, net: &super::DenseNet) -> Result<Box<dyn Model>> {
        self.check_available()?;
        match self {
            Backend::Native => Ok(Box::new(net.clone())),
            #[cfg(feature = "candle")]
            Backend::Candle { device, dtype } => Ok(Box::new(
                super::candle::CandleNet::from_dense(net.clone(), *device, *dtype)?,
            )),
            #[cfg(not(feature = "candle"))]
            Backend::Candle { .. } => Err(Error::Unsupported(NO_CANDLE.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags_and_sweep_values() {
        assert_eq!(
            Backend::from_flags("native", None, None).unwrap(),
            Backend::Native
        );
        assert!(Backend::from_flags("native", Some("cpu"), None).is_err());
        assert!(Backend::from_flags("torch", None, None).is_err());
        assert_eq!(Device::parse("cuda:3").unwrap(), Device::Cuda(3));
        assert_eq!(Device::parse("cuda").unwrap(), Device::Cuda(0));
        assert!(Device::parse("cuda:x").is_err());
        assert!(Dtype::parse("f16").is_err());
        assert_eq!(Backend::parse("native").unwrap(), Backend::Native);
        let candle = Backend::from_flags("candle", None, Some("f32"));
        if Backend::candle_available() {
            let want = Backend::Candle {
                device: Device::Cpu,
                dtype: Dtype::F32,
            };
            assert_eq!(candle.unwrap(), want);
            assert_eq!(Backend::parse("candle:cpu:f32").unwrap(), want);
            assert_eq!(
                Backend::parse("candle").unwrap(),
                Backend::Candle {
                    device: Device::Cpu,
                    dtype: Dtype::F64
                }
            );
        } else {
            let e = candle.unwrap_err().to_string();
            assert!(e.contains("--features candle"), "{e}");
        }
    }

    /// Sweep records and cache keys of native runs must not change: the default backend is
    /// skipped by the configs that carry it, and the value serialises as a plain name.
    #[test]
    fn native_is_the_default() {
        assert!(Backend::default().is_native());
        assert_eq!(
            serde_json::to_string(&Backend::Native).unwrap(),
            "\"native\""
        );
    }
}
