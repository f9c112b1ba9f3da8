//! # lbounds
//!
//! Runnable impossibility results for trustworthy machine learning. lbounds simulates
//! heterogeneous populations with a fraction of Byzantine (fake) users, runs robust
//! aggregators against attacks, and puts every estimator next to the best error any
//! estimator can reach (El-Mhamdi et al., "On the Impossible Safety of Large AI Models",
//! arXiv 2209.15259).
//!
//! The [`privacy`] module prices privacy: DP mechanisms, RDP/PLD accountants that agree with
//! Google's dp-accounting, noise calibration, DP mean estimation and DP-SGD, next to the
//! Cai–Wang–Zhang lower bound.
//!
//! All numbers are `f64`. Every random draw comes from a ChaCha stream keyed by
//! (seed, grid point, replicate) ([`rng::rng_for`]), so results do not depend on threads.
//!
//! ```
//! use lbounds::aggregators::{self, AggContext};
//! use lbounds::data::Updates;
//! use lbounds::params::{Compat, Params};
//!
//! let x = Updates::from_rows(&[vec![1.0], vec![2.0], vec![100.0]]).unwrap();
//! let mean = aggregators::build("average", &Params::new(), Compat::Native).unwrap();
//! let mut rng = lbounds::rng::rng_from_seed(0);
//! let out = mean.aggregate(x.view(), &mut AggContext::new(&mut rng)).unwrap();
//! assert_eq!(out[0], 103.0 / 3.0);
//! ```

#![deny(unsafe_code)]
// two audited exceptions: `simd` (runtime CPU-feature dispatch) and
// `learning::model::gemm` (bounds-checked matrixmultiply calls on strided views)
#![warn(missing_docs)]

pub mod aggregators;
pub mod attacks;
pub mod bounds;
pub mod commands;
pub mod data;
pub mod error;
pub mod experiment;
pub mod learning;
pub mod params;
#[cfg(feature = "plot")]
pub mod plot;
pub mod privacy;
pub mod rng;
pub mod simd;

pub use error::{Error, Result};
