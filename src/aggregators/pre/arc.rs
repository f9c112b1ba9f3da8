//! Adaptive robust clipping (ARC): clip the m largest-norm vectors to the norm of the largest
//! vector left unclipped, m = ⌊2(f/n)(n − f)⌋.
//!
//! ByzFL: `ARC(f=0)`. Sort the norms increasingly (Python's stable sort, so equal norms keep
//! index order); the threshold is the (n − m)-th smallest norm; each of the m vectors after it
//! is scaled by threshold/‖x‖ when its norm exceeds the threshold (equal norms are untouched,
//! so the order among ties never matters). ByzFL clips in place; lbounds returns new vectors.
//!
//! **m.** [`Compat::Byzfl`] evaluates ByzFL's floating-point expression
//! `int((2 * f / n) * (n - f))`, which truncates one below the exact value for some (n, f)
//! because 2f/n is rounded first: e.g. n = 242, f = 33 gives 56 where ⌊2·33·209/242⌋ = 57 (28
//! such pairs with 2f < n ≤ 2000, 76 with f ≤ n). [`Compat::Native`] uses the exact integer
//! ⌊2f(n − f)/n⌋.
//!
//! **Requirement.** Native: n > 2f (the paper's setting). Byzfl: f ≤ n, the only check ByzFL
//! makes ("f must be smaller than len(vectors)+1").
//!
//! **Far and infinite input.** [`Compat::Byzfl`] reproduces ByzFL: a vector with an infinite
//! entry has norm +∞; if it is clipped, ByzFL computes x·(threshold/∞) = ∞·0 = NaN, so lbounds
//! returns [`crate::Error::NonFinite`]; when the threshold itself is +∞ nothing is clipped; a
//! finite vector whose norm overflows to +∞ is scaled by 0. [`Compat::Native`], when some
//! norm overflows, ranks the norms of the vectors divided by a power of two 2ᵉ near the largest
//! finite |entry| (exact, so the order is that of the true norms), with vectors holding ±∞
//! largest (infinitely far); a clipped finite vector is scaled by threshold/‖x‖ computed at
//! that scale, and a clipped infinite one becomes the threshold times its limit direction (the
//! sign pattern of its infinite entries over √(their count), as in centered clipping).
//!
//! **NaN** (native, read as +∞ by `Updates::new_untrusted`): its vector is among the largest
//! (infinitely far) and, clipped, becomes the threshold times its limit direction.
//!
//! # References
//! Allouah, Guerraoui, Gupta, Jellouli, Rizk & Stephan, "Boosting Robustness by Clipping
//! Gradients in Distributed Learning", arXiv 2405.14432, 2024 (later versions: "The Vital Role of
//! Gradient Clipping in Byzantine-Resilient Distributed Learning", "Adaptive Gradient Clipping
//! for Robust Federated Learning").

use crate::aggregators::centered_clipping::far_direction;
use crate::aggregators::far::pow2_scale;
use crate::aggregators::{require_honest_majority, AggContext, PreAggregator};
use crate::data::{norm, Updates};
use crate::params::{Compat, Params, Spec};
use crate::{Error, Result};
use rayon::prelude::*;

/// Registry entry.
pub const SPEC: Spec<dyn PreAggregator> = Spec {
    name: "arc",
    byzfl: Some("ARC"),
    keys: &["f"],
    summary: "adaptive robust clipping: clip the floor(2f(n-f)/n) largest norms to the next one",
    build,
};

fn build(p: &Params, compat: Compat) -> Result<Box<dyn PreAggregator>> {
    Ok(Box::new(Arc::new(p.f()?, compat)))
}

/// Adaptive robust clipping with declared f.
#[derive(Clone, Copy, Debug)]
pub struct Arc {
    f: usize,
    compat: Compat,
}

impl Arc {
    /// ARC with `f` declared Byzantine inputs.
    pub fn new(f: usize, compat: Compat) -> Self {
        Arc { f, compat }
    }

    /// Number of vectors clipped among n (requires f ≤ n).
    pub fn clipped_count(&self, n: usize) -> usize {
        let f = self.f;
        match self.compat {
            // ByzFL: int((2 * f / n) * (n - f)); 2f/n is a correctly rounded division.
            Compat::Byzfl => ((2.0 * f as f64 / n as f64) * (n - f) as f64) as usize,
            Compat::Native => 2 * f * (n - f) / n,
        }
    }
}

impl PreAggregator for Arc {
    fn name(&self) -> &'static str {
        "arc"
    }

    fn check_n(&self, n: usize) -> Result<()> {
        match self.compat {
            Compat::Native => require_honest_majority("arc", n, self.f),
            Compat::Byzfl if self.f > n => Err(Error::too_few(
                "arc (compat byzfl)",
                format!("n >= f = {}", self.f),
                format!("n = {n}"),
            )),
            Compat::Byzfl => Ok(()),
        }
    }

    fn apply(&self, mut x: Updates, _cx: &mut AggContext<'_>) -> Result<Updates> {
        self.check_n(x.n())?;
        let (n, d) = (x.n(), x.d());
        let mut norms: Vec<f64> = {
            let v = x.view();
            (0..n).into_par_iter().map(|i| norm(v.col(i))).collect()
        };
        // Native: overflowing norms are ranked at a common power-of-two scale (module docs).
        let mut scale = 1.0;
        if self.compat == Compat::Native && norms.iter().any(|v| !v.is_finite()) {
            let v = x.view();
            let finite: Vec<usize> = (0..n)
                .filter(|&i| v.col(i).iter().all(|e| e.is_finite()))
                .collect();
            scale = pow2_scale(v, &finite);
            norms = (0..n)
                .map(|i| {
                    let col = v.col(i);
                    if finite.binary_search(&i).is_ok() {
                        col.iter()
                            .map(|e| (e / scale) * (e / scale))
                            .sum::<f64>()
                            .sqrt()
                    } else {
                        f64::INFINITY
                    }
                })
                .collect();
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| norms[a].total_cmp(&norms[b]).then(a.cmp(&b)));
        let m = self.clipped_count(n);
        // m ≤ n/2 < n, so the cut-off index n − m − 1 exists.
        let cut = n - m;
        let threshold = norms[order[cut - 1]];
        let data = x.as_mut_slice();
        for &i in &order[cut..] {
            let nrm = norms[i];
            if nrm > threshold {
                let col = &mut data[i * d..(i + 1) * d];
                if !nrm.is_finite() && self.compat == Compat::Native {
                    // ±∞ entries: the threshold along the limit direction, at the scale.
                    let dir = far_direction(col.iter().copied());
                    for (v, u) in col.iter_mut().zip(dir) {
                        *v = (threshold * u) * scale;
                    }
                    continue;
                }
                // An infinite entry makes the norm infinite, so finite norms skip the scan.
                if !nrm.is_finite() && col.iter().any(|v| v.is_infinite()) {
                    return Err(Error::NonFinite {
                        what: "input of arc".into(),
                        detail: format!(
                            "vector {i} has an infinite entry and is clipped to norm {threshold}: \
                             inf * 0 is NaN (ByzFL returns NaN here)"
                        ),
                    });
                }
                let scale = threshold / nrm;
                col.par_chunks_mut(1 << 14)
                    .for_each(|c| c.iter_mut().for_each(|v| *v *= scale));
            }
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;
    use nalgebra::DMatrix;

    fn run(arc: Arc, u: &Updates) -> Result<Updates> {
        let mut rng = rng_from_seed(0);
        arc.apply(u.clone(), &mut AggContext::new(&mut rng))
    }

    #[test]
    fn byzfl_docstring_example() {
        // ByzFL's ARC(1) docstring on (1,2,3), (4,5,6), (7,8,9): m = ⌊(2/3)·2⌋ = 1; the
        // threshold is ‖(4,5,6)‖ = √77 and (7,8,9) (norm √194) is scaled by √(77/194), giving
        // ByzFL's printed (4.41004009, 5.04004582, 5.67005155).
        let u = Updates::from_rows(&[
            vec![1.0, 2.0, 3.0],
            vec![4.0, 5.0, 6.0],
            vec![7.0, 8.0, 9.0],
        ])
        .unwrap();
        for compat in [Compat::Byzfl] {
            let out = run(Arc::new(1, compat), &u).unwrap();
            assert_eq!(out.view().col(0), &[1.0, 2.0, 3.0]);
            assert_eq!(out.view().col(1), &[4.0, 5.0, 6.0]);
            let want = [4.41004009, 5.04004582, 5.67005155];
            for (a, b) in out.view().col(2).iter().zip(want) {
                assert!((a - b).abs() < 1e-8, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn known_answer_native() {
        // n = 5, f = 2: m = ⌊2·2·3/5⌋ = 2. Norms 1, 2, 3, 4, 5 (1-D, signs mixed): threshold
        // is the 3rd smallest, 3; the ±4 and 5 vectors become ±3 and 3.
        let u =
            Updates::from_rows(&[vec![5.0], vec![-1.0], vec![2.0], vec![-4.0], vec![3.0]]).unwrap();
        let out = run(Arc::new(2, Compat::Native), &u).unwrap();
        let got: Vec<f64> = out.view().cols().map(|c| c[0]).collect();
        assert_eq!(got, vec![3.0, -1.0, 2.0, -3.0, 3.0]);
    }

    #[test]
    fn clipped_count_rounding_differs_from_byzfl() {
        // 2·33/242 rounds below 3/11 in f64, so ByzFL truncates 56.999… to 56.
        assert_eq!(Arc::new(33, Compat::Byzfl).clipped_count(242), 56);
        assert_eq!(Arc::new(33, Compat::Native).clipped_count(242), 57);
        assert_eq!(Arc::new(10, Compat::Native).clipped_count(50), 16);
        assert_eq!(Arc::new(10, Compat::Byzfl).clipped_count(50), 16);
        assert_eq!(Arc::new(0, Compat::Byzfl).clipped_count(7), 0);
    }

    #[test]
    fn ties_at_the_threshold_are_untouched() {
        // n = 3, f = 1: m = 1; norms 2, 2, 1 → threshold 2, the clipped vector has norm 2,
        // not > 2: output equals input.
        let u = Updates::from_rows(&[vec![2.0], vec![-2.0], vec![1.0]]).unwrap();
        let out = run(Arc::new(1, Compat::Byzfl), &u).unwrap();
        assert_eq!(out, u);
    }

    #[test]
    fn requirements_and_infinity() {
        let u = Updates::from_rows(&[vec![1.0], vec![2.0], vec![3.0], vec![4.0]]).unwrap();
        let e = run(Arc::new(2, Compat::Native), &u)
            .unwrap_err()
            .to_string();
        assert!(e.contains("n > 2f = 4"), "{e}");
        assert!(run(Arc::new(4, Compat::Byzfl), &u).is_ok());
        assert!(run(Arc::new(5, Compat::Byzfl), &u).is_err());
        // One +∞ vector among 4 with f = 1: m = 1, threshold 3, the ∞ vector is clipped:
        // ByzFL's ∞·0 = NaN → error; native: 3 along +1.
        let m = DMatrix::from_row_slice(1, 4, &[1.0, 2.0, 3.0, f64::INFINITY]);
        let inf = Updates::new_allow_inf(m).unwrap();
        assert!(matches!(
            run(Arc::new(1, Compat::Byzfl), &inf),
            Err(Error::NonFinite { .. })
        ));
        let out = run(Arc::new(1, Compat::Native), &inf).unwrap();
        assert_eq!(out.view().as_slice(), &[1.0, 2.0, 3.0, 3.0]);
        // Norms that overflow are ranked at scale: 1e300·(1, 1) is clipped to the norm of
        // 1e300·(1, 0) natively, i.e. 1e300·(1, 1)/√2; ByzFL scales it by 1e300/∞ = 0.
        let u = Updates::from_rows(&[
            vec![1.0, 0.0],
            vec![2.0, 0.0],
            vec![1e300, 0.0],
            vec![1e300, 1e300],
        ])
        .unwrap();
        let out = run(Arc::new(1, Compat::Native), &u).unwrap();
        let want = 1e300 / 2f64.sqrt();
        assert!((out.view().col(3)[0] / want - 1.0).abs() < 1e-15);
        assert!((out.view().col(3)[1] / want - 1.0).abs() < 1e-15);
        // Two +∞ vectors, m = 1: the threshold is +∞, nothing is clipped (ByzFL: same).
        let m = DMatrix::from_row_slice(1, 4, &[1.0, 2.0, f64::INFINITY, f64::INFINITY]);
        let inf = Updates::new_allow_inf(m).unwrap();
        assert_eq!(run(Arc::new(1, Compat::Native), &inf).unwrap(), inf);
    }
}
