//! Centered clipping: starting from the previous round's aggregate v₀, L steps of
//! v ← v + (1/n) Σᵢ (xᵢ − v)·min(1, τ/‖xᵢ − v‖).
//!
//! ByzFL: `CenteredClipping(m=None, L=1, tau=100.0)`. Keys `L` (steps, default 1) and `tau`
//! (radius, default 100.0, must be > 0); `f` is accepted and unused. Any n ≥ 1.
//! `Compat::Byzfl` and `Compat::Native` coincide on inputs whose distances to v are finite.
//!
//! **State.** ByzFL keeps its last output in `self.m` and starts the next call from it (zeros
//! on the first call). lbounds keeps rules stateless: the caller passes the previous round's
//! aggregate as [`AggContext::previous`] (`None` means zeros, ByzFL's first call). So a second
//! call with the same context gives the same output, while ByzFL's second call moves on.
//!
//! **ByzFL's `m` parameter is not accepted.** In ByzFL 0.0.11 any non-`None` `m` raises a
//! `TypeError` (the check `not isinstance(m, np.ndarray) or not isinstance(m, torch.Tensor)`
//! is always true), so the only usable ByzFL configuration starts from zeros; besides, a
//! starting vector is not a scalar parameter: pass it as [`AggContext::previous`].
//!
//! A vector equal to v gets factor 1 (ByzFL's τ/0 = ∞ clipped to 1).
//!
//! **Far and infinite inputs.** A clipped input contributes τ·uᵢ, uᵢ = (xᵢ − v)/‖xᵢ − v‖ its
//! direction, whatever its distance. Natively that holds at any distance: where ‖xᵢ − v‖²
//! overflows, uᵢ is computed from (xᵢ − v)/max|xᵢ − v| (1e300 entries, or three rows near
//! 1.7e308), and a vector with ±∞ entries is the limit of a point going to infinity: uᵢ is
//! the sign pattern of its infinite entries divided by √(their count), 0 on its finite ones
//! (the `inf` attack's (+∞, …, +∞) pulls by τ/n along (1, …, 1)/√d). `Compat::Byzfl`
//! reproduces ByzFL instead: an overflowing norm gives τ/∞ = 0, so that input contributes
//! nothing (ByzFL's finite but wrong 0 on rows near 1.7e308), and ±∞ gives ∞·0 = NaN in every
//! coordinate, which lbounds reports as [`crate::Error::NonFinite`].
//!
//! **NaN** (native, read as +∞ by `Updates::new_untrusted`): its vector is at infinity along
//! +1 in its NaN coordinates (and the signs of its infinite ones), so it pulls by τ/n along
//! that direction, like any far input.
//!
//! # References
//! - S. P. Karimireddy, L. He, M. Jaggi, "Learning from history for Byzantine robust
//!   optimization", ICML 2021, arXiv 2012.10333.

use super::distances::{add_weighted_rows, sq_dists_to, sq_norms};
use super::{require_finite, AggContext, Aggregator};
use crate::data::{for_each_block_mut, UpdatesView};
use crate::params::{Compat, Params, Spec};
use crate::{Error, Result};
use nalgebra::DVector;

/// Registry entry.
pub const SPEC: Spec<dyn Aggregator> = Spec {
    name: "centered_clipping",
    byzfl: Some("CenteredClipping"),
    keys: &["f", "L", "tau"],
    summary: "L steps of clipped averaging around the previous aggregate (tau = 100, L = 1)",
    build,
};

fn build(p: &Params, compat: Compat) -> Result<Box<dyn Aggregator>> {
    p.f()?;
    Ok(Box::new(
        CenteredClipping::new(p.iterations("L", 1)?, p.positive("tau", 100.0)?).with_compat(compat),
    ))
}

/// Centered clipping with `L` steps and radius `tau`.
#[derive(Clone, Copy, Debug)]
pub struct CenteredClipping {
    steps: usize,
    tau: f64,
    compat: Compat,
}

impl CenteredClipping {
    /// `steps` clipped-averaging steps with clipping radius `tau` (> 0, checked by the
    /// registry builder), native semantics.
    pub fn new(steps: usize, tau: f64) -> Self {
        CenteredClipping {
            steps,
            tau,
            compat: Compat::Native,
        }
    }

    /// The same rule with ByzFL's or lbounds' arithmetic on far inputs (module docs).
    pub fn with_compat(mut self, compat: Compat) -> Self {
        self.compat = compat;
        self
    }
}

/// The unit direction of `y` = xᵢ − v when ‖y‖² overflows: the limit direction of its
/// infinite entries if it has any, else y/‖y‖ computed on y/max|yⱼ| (module docs).
pub(crate) fn far_direction(y: impl Iterator<Item = f64> + Clone) -> Vec<f64> {
    let infinite = y.clone().filter(|v| v.is_infinite()).count();
    if infinite > 0 {
        let s = 1.0 / (infinite as f64).sqrt();
        return y
            .map(|v| if v.is_infinite() { s.copysign(v) } else { 0.0 })
            .collect();
    }
    let big = y.clone().fold(0.0f64, |m, v| m.max(v.abs()));
    let norm = y.clone().map(|v| (v / big) * (v / big)).sum::<f64>().sqrt();
    y.map(|v| (v / big) / norm).collect()
}

const BLOCK: usize = 2048;

impl Aggregator for CenteredClipping {
    fn name(&self) -> &'static str {
        "centered_clipping"
    }

    fn check_n(&self, n: usize) -> Result<()> {
        if n == 0 {
            return Err(Error::too_few("centered_clipping", "n >= 1", "n = 0"));
        }
        Ok(())
    }

    fn aggregate(&self, x: UpdatesView<'_>, cx: &mut AggContext<'_>) -> Result<DVector<f64>> {
        self.check_n(x.n())?;
        let (n, d) = (x.n(), x.d());
        let mut v: Option<Vec<f64>> = match cx.previous {
            Some(p) if p.len() != d => {
                return Err(Error::DimensionMismatch {
                    what: "previous aggregate of centered_clipping".into(),
                    expected: d,
                    got: p.len(),
                })
            }
            Some(p) if p.iter().any(|v| !v.is_finite()) => {
                return Err(Error::NonFinite {
                    what: "previous aggregate of centered_clipping".into(),
                    detail: "the starting point must be finite".into(),
                })
            }
            Some(p) => Some(p.as_slice().to_vec()),
            // The origin, left implicit: x − 0 and 0 + t are exact, so the first step gives
            // the same bits without allocating and reading d zeros.
            None => None,
        };
        for _ in 0..self.steps {
            let d2 = match &v {
                Some(v) => sq_dists_to(x, v),
                None => sq_norms(x),
            };
            // Inputs whose distance to v overflows (or is infinite): natively they pull by τ
            // along their direction; ByzFL's factor τ/∞ = 0 drops a finite one and turns ±∞
            // into NaN.
            let far: Vec<usize> = (0..n).filter(|&i| !d2[i].is_finite()).collect();
            if !far.is_empty() && self.compat == Compat::Byzfl {
                require_finite("centered_clipping", x)?;
            }
            let pulls: Vec<Vec<f64>> = match self.compat {
                Compat::Byzfl => Vec::new(),
                Compat::Native => far
                    .iter()
                    .map(|&i| {
                        let xi = x.col(i).iter().copied();
                        let dir = match &v {
                            Some(v) => far_direction(xi.zip(v).map(|(a, b)| a - b)),
                            None => far_direction(xi),
                        };
                        dir.into_iter().map(|u| self.tau * u).collect()
                    })
                    .collect(),
            };
            let near: Vec<usize> = (0..n).filter(|&i| d2[i].is_finite()).collect();
            let c: Vec<f64> = d2
                .iter()
                .map(|s| {
                    let norm = s.sqrt();
                    if norm == 0.0 {
                        1.0
                    } else {
                        (self.tau / norm).min(1.0)
                    }
                })
                .collect();
            let c_near: Vec<f64> = near.iter().map(|&i| c[i]).collect();
            let nf = n as f64;
            let mut next = vec![0.0; d];
            for_each_block_mut(&mut next, BLOCK, |b, out| {
                let lo = b * BLOCK;
                let vb = v.as_ref().map(|v| &v[lo..lo + out.len()]);
                let rows: Vec<&[f64]> = near
                    .iter()
                    .map(|&i| &x.col(i)[lo..lo + out.len()])
                    .collect();
                add_weighted_rows(out, &rows, &c_near, vb);
                let len = out.len();
                for p in &pulls {
                    for (o, t) in out.iter_mut().zip(&p[lo..lo + len]) {
                        *o += t;
                    }
                }
                match vb {
                    Some(vb) => {
                        for (o, vv) in out.iter_mut().zip(vb) {
                            *o = vv + *o / nf;
                        }
                    }
                    // 0 + t, not t: turns a −0 into +0 as the explicit origin did.
                    None => out.iter_mut().for_each(|o| *o = 0.0 + *o / nf),
                }
            });
            v = Some(next);
        }
        Ok(DVector::from_vec(v.unwrap_or_else(|| vec![0.0; d])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Updates;
    use crate::rng::rng_from_seed;

    fn run(cc: CenteredClipping, u: &Updates, previous: Option<&DVector<f64>>) -> Result<Vec<f64>> {
        let mut rng = rng_from_seed(0);
        let mut cx = AggContext::new(&mut rng);
        cx.previous = previous;
        cc.aggregate(u.view(), &mut cx)
            .map(|v| v.as_slice().to_vec())
    }

    #[test]
    fn known_answers() {
        // From v = 0 with τ = 1: (3,4) has norm 5 → clipped to (0.6, 0.8); (0, 0.5) has norm
        // 0.5 → kept. v = ((0.6, 0.8) + (0, 0.5))/2 = (0.3, 0.65).
        let u = Updates::from_rows(&[vec![3., 4.], vec![0., 0.5]]).unwrap();
        let out = run(CenteredClipping::new(1, 1.0), &u, None).unwrap();
        assert!((out[0] - 0.3).abs() < 1e-15 && (out[1] - 0.65).abs() < 1e-15);
        // Default τ = 100 does not clip: one step from 0 is the mean (1.5, 2.25).
        let out = run(CenteredClipping::new(1, 100.0), &u, None).unwrap();
        assert_eq!(out, vec![1.5, 2.25]);
        // L = 0 returns the start; a previous aggregate (3, 4) with τ = 1: (3,4) − v = 0
        // (factor 1, contributes 0); (0, 0.5) − v = (−3, −3.5), norm √21.25 ≈ 4.61 →
        // scaled by 1/4.61; v = (3,4) + (−3, −3.5)/(2·√21.25).
        assert_eq!(
            run(CenteredClipping::new(0, 1.0), &u, None).unwrap(),
            vec![0.0, 0.0]
        );
        let prev = DVector::from_vec(vec![3.0, 4.0]);
        let out = run(CenteredClipping::new(1, 1.0), &u, Some(&prev)).unwrap();
        let s = 2.0 * 21.25f64.sqrt();
        assert!((out[0] - (3.0 - 3.0 / s)).abs() < 1e-14);
        assert!((out[1] - (4.0 - 3.5 / s)).abs() < 1e-14);
    }

    #[test]
    fn two_steps_compose() {
        // L = 2 equals one step, then one step from its output passed as `previous`.
        let u = Updates::from_rows(&[vec![3., 4.], vec![0., 0.5], vec![-2., 1.]]).unwrap();
        let once = DVector::from_vec(run(CenteredClipping::new(1, 1.0), &u, None).unwrap());
        let twice = run(CenteredClipping::new(1, 1.0), &u, Some(&once)).unwrap();
        assert_eq!(run(CenteredClipping::new(2, 1.0), &u, None).unwrap(), twice);
    }

    #[test]
    fn implicit_origin_equals_an_explicit_zero_start() {
        // No previous aggregate starts from the origin without storing it; the bits must
        // equal an explicit zero start, signed zeros included (a column of −0 gives +0 both
        // ways: the sums start at +0), over several blocks and with clipping active.
        let d = 2 * BLOCK + 5;
        let rows: Vec<Vec<f64>> = (0..5)
            .map(|i| {
                (0..d)
                    .map(|j| {
                        if j == 7 {
                            -0.0
                        } else {
                            ((i * 31 + j) as f64 * 0.37).sin()
                        }
                    })
                    .collect()
            })
            .collect();
        let u = Updates::from_rows(&rows).unwrap();
        let zero = DVector::zeros(d);
        for steps in [1, 3] {
            let implicit = run(CenteredClipping::new(steps, 2.0), &u, None).unwrap();
            let explicit = run(CenteredClipping::new(steps, 2.0), &u, Some(&zero)).unwrap();
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&implicit), bits(&explicit));
            assert_eq!(implicit[7].to_bits(), 0.0f64.to_bits());
        }
    }

    #[test]
    fn errors() {
        let u = Updates::from_rows(&[vec![3., 4.]]).unwrap();
        let prev = DVector::from_vec(vec![1.0]);
        assert!(matches!(
            run(CenteredClipping::new(1, 1.0), &u, Some(&prev)),
            Err(Error::DimensionMismatch { .. })
        ));
        let prev = DVector::from_vec(vec![f64::INFINITY, 0.0]);
        assert!(matches!(
            run(CenteredClipping::new(1, 1.0), &u, Some(&prev)),
            Err(Error::NonFinite { .. })
        ));
        assert!(build(&Params::new().with("tau", 0.0), Compat::Byzfl).is_err());
        assert!(build(&Params::new().with("L", -1.0), Compat::Byzfl).is_err());
        assert!(crate::params::build_from(
            super::super::RULES,
            "aggregator",
            "CenteredClipping",
            &Params::new().with("m", 0.0),
            Compat::Byzfl
        )
        .is_err());
        let e = CenteredClipping::new(1, 1.0)
            .check_n(0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("n >= 1"), "{e}");
    }

    #[test]
    fn far_and_infinite_inputs_pull_by_tau_natively() {
        let inf = f64::INFINITY;
        let u =
            Updates::new_allow_inf(nalgebra::DMatrix::from_column_slice(1, 2, &[0., inf])).unwrap();
        // ByzFL: ∞·0 = NaN, reported as an error.
        assert!(matches!(
            run(
                CenteredClipping::new(1, 1.0).with_compat(Compat::Byzfl),
                &u,
                None
            ),
            Err(Error::NonFinite { .. })
        ));
        // Native, from v = 0 with τ = 1: 0 contributes 0, +∞ pulls by τ along +1: v = 1/2.
        assert_eq!(
            run(CenteredClipping::new(1, 1.0), &u, None).unwrap(),
            vec![0.5]
        );
        // (+∞, 5) pulls along (1, 0); (−∞, −∞) along (−1, −1)/√2; (0, 0) not at all.
        let u = Updates::new_allow_inf(nalgebra::DMatrix::from_column_slice(
            2,
            3,
            &[inf, 5.0, -inf, -inf, 0.0, 0.0],
        ))
        .unwrap();
        let out = run(CenteredClipping::new(1, 3.0), &u, None).unwrap();
        let r = 3.0 / 2f64.sqrt();
        assert!((out[0] - (3.0 - r) / 3.0).abs() < 1e-15, "{out:?}");
        assert!((out[1] - (-r) / 3.0).abs() < 1e-15, "{out:?}");
        // Rows near 1.7e308 (squared norms overflow): ByzFL's τ/∞ = 0 drops them (the finite
        // but wrong 0), natively each pulls by τ along its direction (1, 1)/√2.
        let u = Updates::from_rows(&[vec![1.7e308, 1.7e308], vec![1.6e308, 1.6e308]]).unwrap();
        let byzfl = run(
            CenteredClipping::new(1, 2.0).with_compat(Compat::Byzfl),
            &u,
            None,
        );
        assert_eq!(byzfl.unwrap(), vec![0.0, 0.0]);
        let out = run(CenteredClipping::new(1, 2.0), &u, None).unwrap();
        assert!(
            (out[0] - 2f64.sqrt()).abs() < 1e-15 && out[0] == out[1],
            "{out:?}"
        );
    }

    #[test]
    fn matches_byzfl_reference_output() {
        // Output of ByzFL 0.0.11 itself on a 9×4 input (see the `byzfl_fixture` module).
        use crate::aggregators::byzfl_fixture as fx;
        let u = fx::updates();
        let mut rng = rng_from_seed(0);
        let out = build(
            &Params::new().with("tau", 1.0).with("L", 3.0),
            Compat::Byzfl,
        )
        .unwrap()
        .aggregate(u.view(), &mut AggContext::new(&mut rng))
        .unwrap();
        fx::assert_close(out.as_slice(), &fx::CENTERED_CLIPPING_TAU1_L3);
    }
}
