//! Min-Max (AGR-agnostic): b = ḡ + γ·p with the largest γ found such that b is no farther
//! from any honest vector than the two farthest honest vectors are from each other:
//! max_i ‖b − g_i‖² ≤ max_{i,j} ‖g_i − g_j‖².
//!
//! Not in ByzFL. Every Byzantine user sends the same b.
//!
//! **Perturbation p** (key `dev_type`, the authors' `dev_type`): 0 (default) `std`,
//! p = −σ with σ the coordinate-wise standard deviation of the honest vectors (ddof = 1, as
//! `torch.std`; needs ≥ 2 honest vectors); 1 `unit_vec`, p = −ḡ/‖ḡ‖ (p = 0 when ḡ = 0, where the
//! authors' code divides by zero); 2 `sign`, p = −sign(ḡ) (sign(0) = 0).
//!
//! **Search for γ** — the authors' reference code (`our_attack_dist` in
//! `vrt1shjwlkr/NDSS21-Model-Poisoning`), with `gamma_init` = 10 and `tau` = 1e-5 as keys:
//!
//! ```text
//! γ = gamma_init; step = gamma_init; γ_succ = 0
//! while |γ_succ − γ| > tau:
//!     if b(γ) satisfies the constraint: γ_succ = γ; γ ← γ + step/2
//!     else:                             γ ← γ − step/2
//!     step ← step/2
//! return b(γ_succ)
//! ```
//!
//! So γ ∈ [0, 2·gamma_init), and γ_succ = 0 (b = ḡ) when even tiny steps break the constraint.
//! The paper's Algorithm 1 starts from step = gamma_init/2; Blades (`DistanceMaximization`)
//! uses the same loop with gamma_init = 5. lbounds stops after 200 halvings at the latest (only
//! reached when `tau` is below the float spacing of γ). Distances from b are evaluated through
//! ‖b − g_i‖² = ‖ḡ − g_i‖² + 2γ⟨ḡ − g_i, p⟩ + γ²‖p‖², so each step of the search is O(n) after
//! one O(nd) pass; the pairwise maximum is one blocked O(n²d) pass.
//!
//! # References
//! Shejwalkar & Houmansadr, "Manipulating the Byzantine: Optimizing Model Poisoning Attacks and
//! Defenses for Federated Learning", NDSS 2021 (Min-Max, Section IV; reference code
//! `vrt1shjwlkr/NDSS21-Model-Poisoning`).

use super::a_little_is_enough::{byzfl_mean, std_ddof1};
use super::{require_attackers, Attack, AttackContext};
use crate::aggregators::distances::pairwise_sq_dists;
use crate::data::{Updates, UpdatesView};
use crate::params::{Compat, Params, Spec};
use crate::{Error, Result};
use nalgebra::DVector;

/// Registry entry.
pub const SPEC: Spec<dyn Attack> = Spec {
    name: "min_max",
    byzfl: None,
    keys: SEARCH_KEYS,
    summary: "mean + gamma*p, largest gamma keeping b within the honest diameter (NDSS'21)",
    build,
};

/// Keys of Min-Max and Min-Sum.
pub(crate) const SEARCH_KEYS: &[&str] = &["dev_type", "gamma_init", "tau"];

fn build(p: &Params, _: Compat) -> Result<Box<dyn Attack>> {
    Ok(Box::new(MinMax::new(GammaSearch::from_params(p)?)))
}

/// The perturbation direction p of Min-Max / Min-Sum (b = ḡ + γ·p).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deviation {
    /// p = −σ, the coordinate-wise honest standard deviation (ddof = 1); `dev_type = 0`.
    Std,
    /// p = −ḡ/‖ḡ‖; `dev_type = 1`.
    UnitVec,
    /// p = −sign(ḡ); `dev_type = 2`.
    Sign,
}

/// Perturbation and halving-search settings shared by Min-Max and Min-Sum.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GammaSearch {
    /// Direction of the perturbation.
    pub dev: Deviation,
    /// First γ tried, and the first step (> 0).
    pub gamma_init: f64,
    /// Stop when |γ_succ − γ| ≤ tau (> 0).
    pub tau: f64,
}

impl Default for GammaSearch {
    /// The authors' defaults for the std perturbation: γ_init = 10, τ = 1e-5.
    fn default() -> Self {
        GammaSearch {
            dev: Deviation::Std,
            gamma_init: 10.0,
            tau: 1e-5,
        }
    }
}

/// Upper bound on search iterations (see the module docs).
const MAX_HALVINGS: usize = 200;

impl GammaSearch {
    /// Reads `dev_type` (0, 1 or 2), `gamma_init` and `tau`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for another `dev_type` or a non-positive `gamma_init`/`tau`.
    pub fn from_params(p: &Params) -> Result<Self> {
        let dev = match p.count("dev_type", 0) {
            Ok(0) => Deviation::Std,
            Ok(1) => Deviation::UnitVec,
            Ok(2) => Deviation::Sign,
            _ => {
                return Err(Error::invalid(
                    "dev_type",
                    p.0.get("dev_type").copied().unwrap_or(f64::NAN),
                    "must be 0 (std), 1 (unit_vec) or 2 (sign)",
                ))
            }
        };
        Ok(GammaSearch {
            dev,
            gamma_init: p.positive("gamma_init", 10.0)?,
            tau: p.positive("tau", 1e-5)?,
        })
    }

    /// The authors' deviation vector dev, with b = ḡ − γ·dev (so p = −dev).
    pub(crate) fn deviation(
        &self,
        who: &str,
        honest: UpdatesView<'_>,
        mean: &DVector<f64>,
    ) -> Result<DVector<f64>> {
        Ok(match self.dev {
            Deviation::Std => std_ddof1(who, honest, mean)?,
            Deviation::UnitVec => {
                let nrm = crate::data::norm(mean.as_slice());
                if nrm > 0.0 {
                    mean / nrm
                } else {
                    DVector::zeros(mean.len())
                }
            }
            Deviation::Sign => mean.map(|v| {
                if v > 0.0 {
                    1.0
                } else if v < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }),
        })
    }

    /// The largest γ the halving search accepts, `feasible(γ)` telling whether b(γ) satisfies
    /// the constraint.
    pub(crate) fn search(&self, feasible: impl Fn(f64) -> bool) -> f64 {
        let mut gamma = self.gamma_init;
        let mut step = self.gamma_init;
        let mut succ = 0.0;
        let mut iters = 0;
        while (succ - gamma).abs() > self.tau && iters < MAX_HALVINGS {
            if feasible(gamma) {
                succ = gamma;
                gamma += step / 2.0;
            } else {
                gamma -= step / 2.0;
            }
            step /= 2.0;
            iters += 1;
        }
        succ
    }
}

/// Per honest vector i: aᵢ = ‖ḡ − gᵢ‖² and cᵢ = ⟨ḡ − gᵢ, dev⟩; and q = ‖dev‖², so that
/// ‖(ḡ − γ·dev) − gᵢ‖² = aᵢ − 2γcᵢ + γ²q.
pub(crate) fn quadratic_terms(
    honest: UpdatesView<'_>,
    mean: &DVector<f64>,
    dev: &DVector<f64>,
) -> (Vec<f64>, Vec<f64>, f64) {
    let mut a = Vec::with_capacity(honest.n());
    let mut c = Vec::with_capacity(honest.n());
    for g in honest.cols() {
        let (mut ai, mut ci) = (0.0, 0.0);
        for ((gv, m), e) in g.iter().zip(mean.iter()).zip(dev.iter()) {
            let t = m - gv;
            ai += t * t;
            ci += t * e;
        }
        a.push(ai);
        c.push(ci);
    }
    (a, c, crate::data::sq_norm(dev.as_slice()))
}

/// Min-Max with the given perturbation and search settings.
#[derive(Clone, Copy, Debug, Default)]
pub struct MinMax {
    search: GammaSearch,
}

impl MinMax {
    /// The attack with the given settings.
    pub fn new(search: GammaSearch) -> Self {
        MinMax { search }
    }
}

impl Attack for MinMax {
    fn name(&self) -> &'static str {
        "min_max"
    }

    fn corrupt(
        &self,
        honest: UpdatesView<'_>,
        f: usize,
        _cx: &mut AttackContext<'_>,
    ) -> Result<Updates> {
        require_attackers(f)?;
        crate::aggregators::require_pairwise_fits("min_max", honest.n())?;
        let mean = byzfl_mean(honest);
        let dev = self.search.deviation("min_max", honest, &mean)?;
        let (a, c, q) = quadratic_terms(honest, &mean, &dev);
        let max_pair = pairwise_sq_dists(honest).into_iter().fold(0.0, f64::max);
        let gamma = self.search.search(|g| {
            a.iter()
                .zip(&c)
                .map(|(ai, ci)| ai - 2.0 * g * ci + g * g * q)
                .fold(f64::NEG_INFINITY, f64::max)
                <= max_pair
        });
        Updates::repeat(&mean.zip_map(&dev, |m, e| m - gamma * e), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;

    fn corrupt(search: GammaSearch, rows: &[Vec<f64>]) -> Updates {
        let h = Updates::from_rows(rows).unwrap();
        let mut rng = rng_from_seed(0);
        MinMax::new(search)
            .corrupt(h.view(), 2, &mut AttackContext::new(&mut rng))
            .unwrap()
    }

    #[test]
    fn halving_search_known_trace() {
        // Feasible iff γ ≤ 3, γ_init = 10: 10 no → 5 no → 2.5 yes → 3.75 no → 3.125 no →
        // 2.8125 yes → …, converging to 3 from below; the result is within tau of 3.
        let s = GammaSearch {
            tau: 1e-9,
            ..GammaSearch::default()
        };
        let g = s.search(|g| g <= 3.0);
        assert!(g <= 3.0 && 3.0 - g < 2e-9, "{g}");
        // Always feasible: γ climbs 10, 15, 17.5, … towards 2·γ_init = 20.
        let g = GammaSearch::default().search(|_| true);
        assert!(g < 20.0 && 20.0 - g < 2e-5, "{g}");
        // Never feasible: γ_succ stays 0.
        assert_eq!(GammaSearch::default().search(|_| false), 0.0);
    }

    /// More honest vectors than an n × n matrix of distances holds are refused before any
    /// work (40 000 one-dimensional vectors aborted the process under an 8 GB limit).
    #[test]
    fn too_many_honest_vectors_are_refused() {
        let n = crate::aggregators::MAX_PAIRWISE_N + 1;
        let h = Updates::new(nalgebra::DMatrix::zeros(1, n)).unwrap();
        let mut rng = rng_from_seed(0);
        let e = MinMax::new(GammaSearch::default())
            .corrupt(h.view(), 1, &mut AttackContext::new(&mut rng))
            .unwrap_err()
            .to_string();
        assert!(e.contains("min_max holds n x n matrices"), "{e}");
    }

    #[test]
    fn std_perturbation_known_answer() {
        // 1-D honest 0, 2: ḡ = 1, σ = √2, b = 1 − γ√2. Max pairwise squared distance 4;
        // max_i (b − g_i)² = (1 + γ√2)² ≤ 4 ⟺ γ ≤ 1/√2, so b → 0 from above; the search stops
        // within 2τ = 2e-5 of 1/√2 in γ, i.e. within 2√2·1e-5 < 3e-5 in b.
        let b = corrupt(GammaSearch::default(), &[vec![0.0], vec![2.0]]);
        assert_eq!(b.n(), 2);
        let v = b.view().col(0)[0];
        assert!((0.0..3e-5).contains(&v), "{v}");
    }

    #[test]
    fn unit_and_sign_perturbations() {
        // 2-D honest (3, 0), (5, 0): ḡ = (4, 0), diameter² = 4.
        // unit_vec: dev = (1, 0), b = (4 − γ, 0); max_i (b − g_i)² = (γ + 1)² ≤ 4 ⟺ γ ≤ 1 → (3, 0).
        // sign: dev = (1, 0) too (sign(0) = 0 leaves the 2nd coordinate alone) → (3, 0).
        let rows = [vec![3.0, 0.0], vec![5.0, 0.0]];
        for dev in [Deviation::UnitVec, Deviation::Sign] {
            let s = GammaSearch {
                dev,
                tau: 1e-12,
                ..GammaSearch::default()
            };
            let b = corrupt(s, &rows);
            let v = b.view().col(1);
            assert!((v[0] - 3.0).abs() < 1e-11 && v[1] == 0.0, "{dev:?}: {v:?}");
        }
        // unit_vec with ḡ = 0: no direction, b = ḡ = 0.
        let s = GammaSearch {
            dev: Deviation::UnitVec,
            ..GammaSearch::default()
        };
        let b = corrupt(s, &[vec![1.0], vec![-1.0]]);
        assert_eq!(b.view().col(0), &[0.0]);
    }

    #[test]
    fn constraint_holds_on_random_input() {
        // The returned b satisfies the Min-Max constraint (checked directly, not through the
        // expansion), and γ + 2τ would not: the search bisects [γ_succ, last failure] down to
        // a width ≤ 2τ, and the feasible γ form an interval (a max of convex quadratics).
        use rand::RngExt;
        let mut rng = rng_from_seed(8);
        let rows: Vec<Vec<f64>> = (0..6)
            .map(|_| (0..50).map(|_| rng.random::<f64>()).collect())
            .collect();
        let h = Updates::from_rows(&rows).unwrap();
        let b = MinMax::default()
            .corrupt(h.view(), 1, &mut AttackContext::new(&mut rng))
            .unwrap();
        let d2 = crate::data::pairwise_sq_dists(h.view());
        let diam = d2.iter().cloned().fold(0.0, f64::max);
        let far = |v: &[f64]| {
            h.view()
                .cols()
                .map(|g| crate::data::sq_dist(v, g))
                .fold(0.0, f64::max)
        };
        let bv = b.view().col(0);
        assert!(far(bv) <= diam * (1.0 + 1e-12));
        let mean = byzfl_mean(h.view());
        let sd = std_ddof1("t", h.view(), &mean).unwrap();
        // γ from b: b = ḡ − γσ in coordinate 0.
        let gamma = (mean[0] - bv[0]) / sd[0];
        let beyond: Vec<f64> = (0..50)
            .map(|j| mean[j] - (gamma + 2.1e-5) * sd[j])
            .collect();
        assert!(far(&beyond) > diam, "gamma = {gamma}");
    }

    #[test]
    fn errors() {
        let mut rng = rng_from_seed(0);
        let one = Updates::from_rows(&[vec![1.0]]).unwrap();
        // std perturbation needs two honest vectors.
        assert!(MinMax::default()
            .corrupt(one.view(), 1, &mut AttackContext::new(&mut rng))
            .is_err());
        assert!(MinMax::default()
            .corrupt(one.view(), 0, &mut AttackContext::new(&mut rng))
            .is_err());
        for (k, v) in [
            ("dev_type", 3.0),
            ("dev_type", 0.5),
            ("gamma_init", 0.0),
            ("tau", -1.0),
        ] {
            let p = Params::new().with(k, v);
            assert!(
                crate::attacks::build("min_max", &p, Compat::Native).is_err(),
                "{k}"
            );
        }
    }
}
