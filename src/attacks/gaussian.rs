//! Gaussian: every Byzantine user sends the same random vector with i.i.d. N(μ, σ²)
//! coordinates.
//!
//! ByzFL: `Gaussian(mu=0.0, sigma=1.0)`: one call draws **one** vector,
//! `np.random.normal(loc=mu, scale=sigma, size=d)`, and `ByzantineClient` sends it f times
//! (`[b] * f`). The vector is not centred on the honest mean. lbounds draws the d coordinates
//! from the attack's stream as μ + σ·Z with Z standard normal (NumPy's `loc + scale * gauss`);
//! ByzFL draws from NumPy's or torch's global stream, so only distributions can be compared.
//! σ = 0 is allowed (the constant vector μ), as in ByzFL.
//!
//! # References
//! González, Guerraoui, Pinot, Rizk, Stephan & Taïani, "ByzFL: Research Framework for Robust
//! Federated Learning", arXiv 2505.24802, 2025.

use super::{require_attackers, Attack, AttackContext};
use crate::data::{Updates, UpdatesView};
use crate::params::{Compat, Params, Spec};
use crate::Result;
use nalgebra::DVector;
use rand::RngExt;
use rand_distr::StandardNormal;

/// Registry entry.
pub const SPEC: Spec<dyn Attack> = Spec {
    name: "gaussian",
    byzfl: Some("Gaussian"),
    keys: &["mu", "sigma"],
    summary: "send one N(mu, sigma^2) random vector, f times (default mu = 0, sigma = 1)",
    build,
};

fn build(p: &Params, _: Compat) -> Result<Box<dyn Attack>> {
    Ok(Box::new(Gaussian::new(
        p.f64("mu", 0.0)?,
        p.non_negative("sigma", 1.0)?,
    )))
}

/// Sends f copies of one N(μ, σ²I) draw.
#[derive(Clone, Copy, Debug)]
pub struct Gaussian {
    mu: f64,
    sigma: f64,
}

impl Gaussian {
    /// Mean `mu` (finite) and standard deviation `sigma` (finite, ≥ 0), checked by the
    /// registry builder.
    pub fn new(mu: f64, sigma: f64) -> Self {
        Gaussian { mu, sigma }
    }
}

impl Attack for Gaussian {
    fn name(&self) -> &'static str {
        "gaussian"
    }

    fn sends_copies(&self) -> bool {
        true
    }

    fn corrupt(
        &self,
        honest: UpdatesView<'_>,
        f: usize,
        cx: &mut AttackContext<'_>,
    ) -> Result<Updates> {
        require_attackers(f)?;
        let rng = &mut *cx.rng;
        let b = DVector::from_iterator(
            honest.d(),
            (0..honest.d()).map(|_| self.mu + self.sigma * rng.sample::<f64, _>(StandardNormal)),
        );
        Updates::repeat(&b, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;

    #[test]
    fn one_draw_replicated_from_the_stream() {
        // The f columns are identical and equal μ + σ·Z for the stream's first d normals.
        let h = Updates::from_rows(&[vec![0.0; 4]]).unwrap();
        let mut rng = rng_from_seed(21);
        let b = Gaussian::new(3.0, 2.0)
            .corrupt(h.view(), 3, &mut AttackContext::new(&mut rng))
            .unwrap();
        let mut r2 = rng_from_seed(21);
        let want: Vec<f64> = (0..4)
            .map(|_| 3.0 + 2.0 * r2.sample::<f64, _>(StandardNormal))
            .collect();
        for c in b.view().cols() {
            assert_eq!(c, want.as_slice());
        }
    }

    #[test]
    fn moments_and_sigma_zero() {
        // d = 20000 draws of N(1, 0.5²): sample mean within 5 standard errors
        // (5·0.5/√20000 ≈ 0.018) of 1 and sample sd within 0.02 of 0.5.
        let h = Updates::from_rows(&[vec![0.0; 20000]]).unwrap();
        let mut rng = rng_from_seed(4);
        let b = Gaussian::new(1.0, 0.5)
            .corrupt(h.view(), 1, &mut AttackContext::new(&mut rng))
            .unwrap();
        let v = b.view().col(0);
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let sd = (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64).sqrt();
        assert!((m - 1.0).abs() < 0.018, "{m}");
        assert!((sd - 0.5).abs() < 0.02, "{sd}");
        let b = Gaussian::new(-2.0, 0.0)
            .corrupt(h.view(), 1, &mut AttackContext::new(&mut rng))
            .unwrap();
        assert!(b.view().col(0).iter().all(|&x| x == -2.0));
    }

    #[test]
    fn errors() {
        let h = Updates::from_rows(&[vec![0.0]]).unwrap();
        let mut rng = rng_from_seed(0);
        assert!(Gaussian::new(0.0, 1.0)
            .corrupt(h.view(), 0, &mut AttackContext::new(&mut rng))
            .is_err());
        let p = Params::new().with("sigma", -1.0);
        assert!(crate::attacks::build("Gaussian", &p, Compat::Byzfl).is_err());
        let p = Params::new().with("mu", f64::NAN);
        assert!(crate::attacks::build("gaussian", &p, Compat::Byzfl).is_err());
    }
}
