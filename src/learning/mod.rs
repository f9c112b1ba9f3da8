//! Distributed learning across honest and Byzantine users: models, labelled data and its
//! partition among users, and the D-SGD / FedAvg / DP-SGD training loops.
//!
//! Layers, bottom up:
//! - [`examples`]: a labelled data set ([`Examples`], one example per column) and where it
//!   comes from (synthetic populations, the shipped digits, a user's CSV);
//! - [`partition`]: how examples are split among users (iid, Dirichlet label skew, ByzFL's
//!   γ-similarity and extreme non-iid, feature shift, Zipf user sizes);
//! - [`model`]: the [`Model`] trait (batch loss and gradient, per-example gradient norms, the
//!   sum of clipped per-example gradients) and its pure-Rust f64 implementations;
//! - the training loop on top, which reuses the aggregators, attacks and accountants.
//!
//! Everything is f64 and every random draw comes from a named ChaCha stream.

pub mod blocking;
pub mod canary;
pub mod examples;
pub mod model;
pub(crate) mod momentum;
pub mod partition;
pub mod sources;
pub mod text;
pub mod train;
pub mod unlearn;

pub use examples::{Batch, Examples, Task};
pub use model::Model;
pub use partition::Partition;

/// Names of the random streams that set up a training run, shared by `lbounds train` and
/// the sweeps' `train` experiment, so one seed gives both the same data, split, clients and
/// initial vector. (The loop's own streams — batches, noise, attack, rule — are named in
/// [`train`].)
pub mod streams {
    /// The data set (a synthetic draw; unused for a file).
    pub const DATA: &str = "data";
    /// The train/test split.
    pub const SPLIT: &str = "split";
    /// The partition of the training part among the honest users.
    pub const PARTITION: &str = "partition";
    /// The initial parameter vector.
    pub const INIT: &str = "init";
}
