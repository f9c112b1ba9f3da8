//! Task blocking: making a released model hard to fine-tune for a harmful task while it
//! keeps its intended one, and measuring how hard it really is (experiment E6 of the
//! project's memorization reference).
//!
//! The method is meta-learned adversarial censoring (MLAC) of Henderson, Mitchell, Manning,
//! Jurafsky & Finn, "Self-Destructing Models: Increasing the Costs of Harmful Dual Uses of
//! Foundation Models", AIES 2023, arXiv 2211.14946 (code: Breakend/SelfDestructingModels).
//! Their claim: MLAC "can largely prevent a BERT-style model from being re-purposed to
//! perform gender identification without harming the model's ability to perform profession
//! classification", i.e. fine-tuning the blocked model on the bad task does no better than
//! training from a random initialisation. Here, in the reference's CPU-sized setting:
//!
//! - [`tasks`]: x ∈ R^20 standard Gaussian, good and bad linear tasks at cosine ρ;
//! - [`net`]: a tanh trunk R^20 → R^32 with a linear head, hand-derived gradients, Adam;
//! - [`pretrain`]: pretraining with an auxiliary reconstruction loss (so the features
//!   carry the bad task, as a foundation model's do), and plain fine-tuning on the good task;
//! - [`mlac`]: the outer objective L_good − λ·mean_k L_bad(after k inner steps) through an
//!   unrolled inner adversary (K gradient steps of a fresh linear head, differentiated by
//!   hand);
//! - [`adversary`]: the evaluation, a random search over fine-tuning configurations (step
//!   size, steps, head reset, frozen trunk) on n bad examples.
//!
//! The experiment that puts them together is [`crate::experiment::block`].

pub mod adversary;
pub mod mlac;
pub mod net;
pub mod pretrain;
pub mod tasks;

pub use adversary::{AdversaryConfig, Attempt};
pub use mlac::{Mlac, MlacTrace};
pub use net::Net;
pub use pretrain::Pretraining;
pub use tasks::{Labelled, TwoTasks};
