//! The plain average, (1/n) Σ xᵢ: optimal without adversaries, breakdown point 0.
//!
//! ByzFL: `Average()`. No parameters; accepts any n ≥ 1.

use super::{AggContext, Aggregator};
use crate::data::UpdatesView;
use crate::params::{Compat, Params, Spec};
use crate::Result;
use nalgebra::DVector;

/// Registry entry.
pub const SPEC: Spec<dyn Aggregator> = Spec {
    name: "average",
    byzfl: Some("Average"),
    keys: &["f"],
    summary: "arithmetic mean; not robust (breakdown 0), the baseline",
    build,
};

fn build(_: &Params, _: Compat) -> Result<Box<dyn Aggregator>> {
    Ok(Box::new(Average))
}

/// Arithmetic mean of the inputs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Average;

impl Aggregator for Average {
    fn name(&self) -> &'static str {
        "average"
    }

    fn check_n(&self, _n: usize) -> Result<()> {
        Ok(())
    }

    fn aggregate(&self, x: UpdatesView<'_>, _cx: &mut AggContext<'_>) -> Result<DVector<f64>> {
        Ok(x.mean())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Updates;
    use crate::rng::rng_from_seed;

    #[test]
    fn known_answer() {
        // By hand: mean of (1,2), (3,4), (8,0) = (4, 2).
        let u = Updates::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.0], vec![8.0, 0.0]]).unwrap();
        let mut rng = rng_from_seed(0);
        let out = Average
            .aggregate(u.view(), &mut AggContext::new(&mut rng))
            .unwrap();
        assert_eq!(out.as_slice(), &[4.0, 2.0]);
    }
}
