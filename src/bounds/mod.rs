//! Lower bounds: the best error any estimator can reach, as closed forms.
//!
//! Each result lives in a file named by its cite key, states its hypotheses and checks them
//! at run time: parameters outside the hypotheses give [`crate::Error::OutsideHypotheses`],
//! never a silent NaN or ∞. Proof sketches live in `proofs/<key>.md`.

pub mod allouah2023fixing;
pub mod huber1964;
