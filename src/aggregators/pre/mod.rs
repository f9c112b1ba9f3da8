//! Pre-aggregators: n vectors in, n′ vectors out, composable in a chain before any rule.

pub mod clipping;
