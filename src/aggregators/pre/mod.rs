//! Pre-aggregators: n vectors in, n′ vectors out, composable in a chain before any rule.

pub mod arc;
pub mod bucketing;
pub mod clipping;
pub mod nnm;
