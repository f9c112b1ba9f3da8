//! Optimal IPM: IPM (−τ·ḡ) with τ chosen by a 1-D search that maximises the damage
//! J(τ) = ‖Pipeline(honest ∪ f′ copies of −τ·ḡ) − ḡ‖ against the defence under attack.
//!
//! ByzFL: `Optimal_InnerProductManipulation(agg=Average(), pre_agg_list=[Clipping()], f=1,
//! evals=20, start=0.0, delta=10.0, ratio=0.8)`. lbounds attacks the context's defence
//! ([`AttackContext::defence`]); without one it uses ByzFL's default, Average after
//! Clipping(c = 2.0). ByzFL's benchmark replaces `agg` and `pre_agg_list` by the defence under
//! test, as lbounds does.
//!
//! **f′, the number of copies appended during the search,** is the `f` passed to
//! [`Attack::corrupt`] (the real number of Byzantine users; ByzFL's benchmark sets the attack's
//! `f` to it too), unless the key `f` is given, which overrides it like ByzFL's own `f`
//! parameter (whose default, 1, applies only when ByzFL is used outside its benchmark). `f = 0`
//! is allowed, as in ByzFL: the search then sees the honest vectors only, J is constant and
//! τ = start. The attack itself always returns `f` copies (the `corrupt` argument) of −τ*·ḡ.
//!
//! **The search,** exactly as ByzFL's `_expansion_phase` / `_contraction_phase`
//! (`attacks.py`), settling the points left open in the ByzFL notes:
//!
//! ```text
//! best = start; J_best = J(start); δ = delta; remaining = evals − 1   # J(start) counts
//! expansion:   while remaining > 0: J(best + δ), remaining −= 1
//!                  if J > J_best (strictly): accept, δ ← 2δ
//!                  else: δ ← ratio·δ, stop expanding
//! contraction: while remaining > 0: J(best + δ), remaining −= 1
//!                  if J > J_best: accept;  δ ← ratio·δ after every try, accepted or not
//! ```
//!
//! So exactly `evals` defence evaluations are made, candidates are always best + δ (with
//! δ > 0 only τ ≥ start is explored), and ties keep the earlier τ.
//!
//! **Randomness.** Random defences (bucketing) draw from the attack's stream
//! ([`AttackContext::rng`]).
//!
//! **State (centered clipping), native vs `--compat byzfl`.** ByzFL's attack holds ONE
//! aggregator object (`self.agg`, built once per Byzantine client, distinct from the server's),
//! and CenteredClipping keeps its last output in `self.m` and starts the next call from it. So
//! in ByzFL each of the search's evaluations starts from the previous evaluation's output (the
//! first from zeros, on a fresh attack), not from 0 or from the server's previous aggregate, and
//! the state carries on into the next round's search.
//! - `Compat::Native` (the clean semantics): every evaluation is independent and starts from
//!   the state the caller gives in [`AttackContext::defence_state`] (a training loop gives the
//!   server's previous aggregate, where the server's centered clipping will start; none:
//!   [`AggContext::new`], as in a one-off simulated round), which the search leaves unchanged.
//!   So J(τ) is a function of τ alone and the search maximises the damage the server will
//!   actually see.
//! - `Compat::Byzfl`: the defence's output of evaluation k is passed as
//!   [`AggContext::previous`] to evaluation k + 1; the first starts from the caller's
//!   [`AttackContext::defence_state`] (none, i.e. zeros, for a fresh attack), and the last
//!   output is written back there, so a training loop that keeps it from round to round
//!   reproduces ByzFL's one aggregator object, whose state carries into the next round's
//!   search. Only centered clipping reads it, so for every other defence the two modes
//!   coincide. The effect is real: with the state drifting towards the clipped fixed point, J
//!   can improve at every evaluation whatever τ is, and the search then expands τ
//!   geometrically (the test `byzfl_compat_carries_centered_clipping_state_across_evaluations`
//!   shows τ* = 70 where the native search settles on 10).
//!
//! # References
//! Xie, Koyejo & Gupta, "Fall of Empires: Breaking Byzantine-tolerant SGD by Inner Product
//! Manipulation", UAI 2019 (PMLR 115, 2020), arXiv 1903.03936 (the IPM direction); Allouah,
//! Farhadkhani, Guerraoui, Gupta, Pinot & Stephan, "Fixing by Mixing: A Recipe for Optimal
//! Byzantine ML under Heterogeneity", AISTATS 2023, arXiv 2302.01772 (where ByzFL's authors
//! use the optimised attack).

use super::a_little_is_enough::byzfl_mean;
use super::{require_attackers, Attack, AttackContext};
use crate::aggregators::average::Average;
use crate::aggregators::pre::clipping::Clipping;
use crate::aggregators::{AggContext, CandidateLine, Pipeline};
use crate::data::{norm, Updates, UpdatesView};
use crate::params::{Compat, Params, Spec};
use crate::{Error, Result};
use nalgebra::DVector;

/// Registry entry.
pub const SPEC: Spec<dyn Attack> = Spec {
    name: "optimal_inner_product_manipulation",
    byzfl: Some("Optimal_InnerProductManipulation"),
    keys: SEARCH_KEYS,
    summary: "IPM with tau maximising the defence's error by ByzFL's 1-D search (20 evaluations)",
    build,
};

/// Parameter keys of the Optimal_* attacks.
pub(crate) const SEARCH_KEYS: &[&str] = &["f", "evals", "start", "delta", "ratio"];

fn build(p: &Params, compat: Compat) -> Result<Box<dyn Attack>> {
    Ok(Box::new(OptimalInnerProductManipulation {
        search: LineSearch::from_params(p, compat)?,
    }))
}

/// IPM with a searched factor.
#[derive(Clone, Copy, Debug)]
pub struct OptimalInnerProductManipulation {
    search: LineSearch,
}

impl OptimalInnerProductManipulation {
    /// The attack with the given search settings.
    pub fn new(search: LineSearch) -> Self {
        OptimalInnerProductManipulation { search }
    }
}

impl Attack for OptimalInnerProductManipulation {
    fn name(&self) -> &'static str {
        "optimal_inner_product_manipulation"
    }

    fn corrupt(
        &self,
        honest: UpdatesView<'_>,
        f: usize,
        cx: &mut AttackContext<'_>,
    ) -> Result<Updates> {
        require_attackers(f)?;
        let mean = byzfl_mean(honest);
        // −τ·ḡ as the line τ·(−ḡ): the same bits as `ipm_vector` (rounding is symmetric).
        let line = CandidateLine::new(None, -&mean);
        let tau = self.search.search(honest, f, cx, &mean, &line)?;
        Updates::repeat(&line.at(tau), f)
    }
}

/// ByzFL's expansion/contraction search over an attack factor τ (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LineSearch {
    /// Copies appended during the search; `None` means the `f` given to `corrupt`.
    pub f: Option<usize>,
    /// Total number of defence evaluations, J(start) included (≥ 1).
    pub evals: usize,
    /// First factor evaluated.
    pub start: f64,
    /// Initial step (finite, ≠ 0).
    pub delta: f64,
    /// Contraction ratio, in (0.5, 1).
    pub ratio: f64,
    /// `Byzfl`: each evaluation starts the defence from the previous evaluation's output
    /// (ByzFL's stateful CenteredClipping); `Native`: evaluations are independent (module docs).
    pub compat: Compat,
}

impl Default for LineSearch {
    /// ByzFL's defaults except `f`, which defaults to the attack's real f.
    fn default() -> Self {
        LineSearch {
            f: None,
            evals: 20,
            start: 0.0,
            delta: 10.0,
            ratio: 0.8,
            compat: Compat::Native,
        }
    }
}

impl LineSearch {
    /// Reads and validates `f`, `evals`, `start`, `delta`, `ratio`; `compat` chooses how the
    /// defence's state carries across evaluations (module docs).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for evals = 0, δ = 0, a ratio outside (0.5, 1), a non-integer
    /// f or any non-finite value.
    pub fn from_params(p: &Params, compat: Compat) -> Result<Self> {
        let f = if p.0.contains_key("f") {
            Some(p.f()?)
        } else {
            None
        };
        let evals = p.iterations("evals", 20)?;
        if evals == 0 {
            return Err(Error::invalid("evals", 0, "must be >= 1"));
        }
        let start = p.f64("start", 0.0)?;
        let delta = p.f64("delta", 10.0)?;
        if delta == 0.0 {
            return Err(Error::invalid("delta", delta, "must be non-zero"));
        }
        let ratio = p.f64("ratio", 0.8)?;
        if !(ratio > 0.5 && ratio < 1.0) {
            return Err(Error::invalid("ratio", ratio, "must lie in (0.5, 1)"));
        }
        Ok(LineSearch {
            f,
            evals,
            start,
            delta,
            ratio,
            compat,
        })
    }

    /// Runs the search and returns τ*. The Byzantine vector for factor τ is `line.at(τ)` and
    /// `mean` is the honest mean ḡ. The defence is prepared once on the honest vectors
    /// ([`Pipeline::prepare`]), so the evaluations share what does not depend on τ; each gives
    /// the bits a plain run of the defence would.
    ///
    /// # Errors
    /// Those of the defence (e.g. too few inputs for it).
    pub fn search(
        &self,
        honest: UpdatesView<'_>,
        f: usize,
        cx: &mut AttackContext<'_>,
        mean: &DVector<f64>,
        line: &CandidateLine,
    ) -> Result<f64> {
        let copies = self.f.unwrap_or(f);
        let default_defence;
        let pipeline: &Pipeline = match cx.defence {
            Some(p) => p,
            None => {
                default_defence = byzfl_default_defence();
                &default_defence
            }
        };
        let rng = &mut *cx.rng;
        let mut prepared = pipeline.prepare(honest, copies, line);
        let mut diff = vec![0.0; honest.d()];
        // The defence's state each evaluation starts from: the caller's (native: fixed;
        // compat: ByzFL's one aggregator object, the previous evaluation's output).
        let mut state: Option<DVector<f64>> = cx.defence_state.as_deref().cloned().flatten();
        let carry = self.compat == Compat::Byzfl;
        let mut objective = |tau: f64| -> Result<f64> {
            let out = prepared.run(
                tau,
                &mut AggContext {
                    rng: &mut *rng,
                    previous: state.as_ref(),
                },
            )?;
            for ((t, o), g) in diff.iter_mut().zip(out.iter()).zip(mean.iter()) {
                *t = o - g;
            }
            if carry {
                state = Some(out);
            }
            Ok(norm(&diff))
        };

        // Expansion phase (ByzFL `_expansion_phase`).
        let mut best_x = self.start;
        let mut best_y = objective(best_x)?;
        let mut delta = self.delta;
        let mut remaining = self.evals - 1;
        while remaining > 0 {
            let prop_x = best_x + delta;
            let prop_y = objective(prop_x)?;
            remaining -= 1;
            if prop_y > best_y {
                best_x = prop_x;
                best_y = prop_y;
                delta *= 2.0;
            } else {
                delta *= self.ratio;
                break;
            }
        }
        // Contraction phase (ByzFL `_contraction_phase`).
        while remaining > 0 {
            let prop_x = best_x + delta;
            let prop_y = objective(prop_x)?;
            remaining -= 1;
            if prop_y > best_y {
                best_x = prop_x;
                best_y = prop_y;
            }
            delta *= self.ratio;
        }
        if carry {
            if let Some(slot) = cx.defence_state.as_deref_mut() {
                *slot = state;
            }
        }
        Ok(best_x)
    }
}

/// ByzFL's default defence for the Optimal_* attacks: Average after Clipping(c = 2.0).
pub fn byzfl_default_defence() -> Pipeline {
    Pipeline {
        pre: vec![Box::new(Clipping::new(2.0))],
        agg: Box::new(Average),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::aggregators::Aggregator;
    use crate::rng::rng_from_seed;

    /// Test defence: the mean of the inputs whose first coordinate lies in [−5, 5] (the mean
    /// of all of them when none does). Gives J a peak, so the contraction phase has work.
    pub(crate) struct BoxMean;

    impl Aggregator for BoxMean {
        fn name(&self) -> &'static str {
            "box_mean"
        }
        fn check_n(&self, _n: usize) -> Result<()> {
            Ok(())
        }
        fn aggregate(&self, x: UpdatesView<'_>, _cx: &mut AggContext<'_>) -> Result<DVector<f64>> {
            let keep: Vec<usize> = (0..x.n()).filter(|&i| x.col(i)[0].abs() <= 5.0).collect();
            Ok(if keep.is_empty() {
                x.mean()
            } else {
                x.mean_of(keep)
            })
        }
    }

    fn attack(search: LineSearch, honest: &Updates, f: usize, defence: &Pipeline) -> Updates {
        let mut rng = rng_from_seed(0);
        let mut cx = AttackContext {
            rng: &mut rng,
            defence: Some(defence),
            defence_state: None,
        };
        OptimalInnerProductManipulation::new(search)
            .corrupt(honest.view(), f, &mut cx)
            .unwrap()
    }

    #[test]
    fn monotone_objective_expands_every_time() {
        // Defence = plain average, honest (1), (1): J(τ) = (1 + τ)/3 grows with τ, so every
        // expansion step is accepted: τ = 0, 10, 30, 70, 150 with evals = 5 → τ* = 150,
        // b = −150.
        let h = Updates::from_rows(&[vec![1.0], vec![1.0]]).unwrap();
        let s = LineSearch {
            evals: 5,
            ..LineSearch::default()
        };
        let b = attack(s, &h, 1, &Pipeline::rule(Box::new(Average)));
        assert_eq!(b.view().col(0), &[-150.0]);
    }

    #[test]
    fn peaked_objective_exercises_contraction() {
        // Honest (1), (1), f = 1, defence BoxMean: J(τ) = (1 + τ)/3 for τ ≤ 5, 0 beyond.
        // Hand trace with ByzFL's defaults (20 evaluations, δ = 10, ratio 0.8):
        //  1. J(0) = 1/3                2. J(10) = 0: reject, δ = 8, stop expanding
        //  3–5. τ = 8, 6.4, 5.12: J = 0 (δ → 6.4, 5.12, 4.096)
        //  6. τ = 4.096: accept (δ → 3.2768)
        //  7–12. τ = 4.096 + 3.2768, …, + 1.073741824: all > 5, rejected
        //  13. τ = 4.096 + 0.8589934592 = 4.9549934592 ≤ 5: accept
        //  14–20. τ = 4.9549934592 + 0.687…, …, + 0.1801…: all > 5, rejected.
        // So τ* = 4.9549934592 (4.954993459200002 in f64, as a float64 Python replay of
        // ByzFL's loop also gives) and b = −τ*.
        let h = Updates::from_rows(&[vec![1.0], vec![1.0]]).unwrap();
        let b = attack(
            LineSearch::default(),
            &h,
            1,
            &Pipeline::rule(Box::new(BoxMean)),
        );
        assert!((b.view().col(0)[0] + 4.9549934592).abs() < 1e-12);
    }

    #[test]
    fn default_defence_plateau_keeps_first_maximiser() {
        // Honest (1), (1); default defence Clipping(2) + Average; f = 2 copies. Clipped
        // b = −min(τ, 2), J(τ) = |(2 − 2·min(τ, 2))/4 − 1| = (1 + min(τ, 2))/2. With start 0,
        // δ = 1: J(0) = 1/2; J(1) = 1 accept, δ = 2; J(3) = 3/2 accept, δ = 4; J(7) = 3/2 not
        // better → δ = 3.2; contraction: every τ > 3 ties J = 3/2 and is rejected. τ* = 3.
        let h = Updates::from_rows(&[vec![1.0], vec![1.0]]).unwrap();
        let s = LineSearch {
            delta: 1.0,
            ..LineSearch::default()
        };
        let mut rng = rng_from_seed(0);
        let b = OptimalInnerProductManipulation::new(s)
            .corrupt(h.view(), 2, &mut AttackContext::new(&mut rng))
            .unwrap();
        assert_eq!(b.n(), 2);
        assert_eq!(b.view().col(1), &[-3.0]);
    }

    #[test]
    fn key_f_overrides_the_number_of_copies_searched() {
        // f = 0 in the search: J is constant (honest only), nothing is accepted, τ* = start = 0.5,
        // but corrupt still returns its own f = 3 copies of −0.5·ḡ.
        let h = Updates::from_rows(&[vec![2.0], vec![2.0]]).unwrap();
        let p = Params::new().with("f", 0.0).with("start", 0.5);
        let a =
            crate::attacks::build("Optimal_InnerProductManipulation", &p, Compat::Byzfl).unwrap();
        let mut rng = rng_from_seed(0);
        let b = a
            .corrupt(h.view(), 3, &mut AttackContext::new(&mut rng))
            .unwrap();
        assert_eq!(b.n(), 3);
        assert_eq!(b.view().col(2), &[-1.0]);
    }

    /// Builds the named attack with `compat` and returns its Byzantine vector against
    /// centered clipping (τ = 1, L = 1).
    pub(crate) fn against_centered_clipping(
        attack: &str,
        p: &Params,
        compat: Compat,
        honest: &Updates,
    ) -> Vec<f64> {
        use crate::aggregators::centered_clipping::CenteredClipping;
        let cc = Pipeline::rule(Box::new(CenteredClipping::new(1, 1.0).with_compat(compat)));
        let mut rng = rng_from_seed(0);
        let mut cx = AttackContext {
            rng: &mut rng,
            defence: Some(&cc),
            defence_state: None,
        };
        let a = crate::attacks::build(attack, p, compat).unwrap();
        a.corrupt(honest.view(), 1, &mut cx)
            .unwrap()
            .view()
            .col(0)
            .to_vec()
    }

    /// Mutation that makes it fail: dropping the `state = Some(out)` carry (compat then equals
    /// native, τ* = 10), or carrying it in native mode too (native τ* becomes 70).
    #[test]
    fn byzfl_compat_carries_centered_clipping_state_across_evaluations() {
        // Honest (1), (1), f = 1, defence CenteredClipping(τ = 1, L = 1), b = −τ_atk.
        // Native (each evaluation from v = 0): τ_atk = 0 gives mean(1, 1, 0) = 2/3, J = 1/3;
        // any τ_atk ≥ 1 is clipped to −1: v = (1 + 1 − 1)/3, J = 2/3, a plateau, so the
        // search accepts 10 and then only ties: τ* = 10.
        // ByzFL (one CC object; evaluation k starts from v_{k−1}): v₁ = 2/3 (J = 1/3); then b
        // is always clipped to −1 and v ← v + (2(1 − v) − 1)/3: v = 5/9, 14/27, 41/81, so
        // J = 4/9, 13/27, 40/81 rises at every evaluation and every expansion step is
        // accepted. With evals = 4: τ = 0, 10, 30, 70 → τ* = 70.
        // A float64 Python replay of ByzFL 0.0.11's CenteredClipping.__call__ and
        // _expansion_phase/_contraction_phase on this input gives the same traces, and with the
        // default 20 evaluations τ* = 10·(2¹⁹ − 1) = 5242870 (ByzFL) vs 10 (native).
        let h = Updates::from_rows(&[vec![1.0], vec![1.0]]).unwrap();
        let name = "Optimal_InnerProductManipulation";
        let four = Params::new().with("evals", 4.0);
        assert_eq!(
            against_centered_clipping(name, &four, Compat::Native, &h),
            vec![-10.0]
        );
        assert_eq!(
            against_centered_clipping(name, &four, Compat::Byzfl, &h),
            vec![-70.0]
        );
        let default = Params::new();
        assert_eq!(
            against_centered_clipping(name, &default, Compat::Native, &h),
            vec![-10.0]
        );
        assert_eq!(
            against_centered_clipping(name, &default, Compat::Byzfl, &h),
            vec![-5242870.0]
        );
    }

    /// ByzFL's attack keeps one CenteredClipping object for the whole run, so its state
    /// carries from one round's search into the next; `defence_state` reproduces that.
    /// Mutation that makes it fail: not writing the final state back into `defence_state`
    /// (round 2 then starts from zeros and returns 113.75), or updating it in native mode.
    #[test]
    fn byzfl_compat_carries_centered_clipping_state_across_rounds() {
        use crate::aggregators::centered_clipping::CenteredClipping;
        // Values from a float64 Python replay of ByzFL 0.0.11's CenteredClipping (L = 1,
        // τ = 1) and its expansion/contraction search with evals = 4, one CC object kept
        // across two calls. Round 1, honest (1), (1): τ* = 70, state 41/81 (see
        // `byzfl_compat_carries_centered_clipping_state_across_evaluations`). Round 2, honest
        // (−3), (−0.25), ḡ = −1.625: from 41/81 the search keeps τ* = 0 (b = 0, state
        // −0.24939…), from a fresh object it finds τ* = 70 (b = 113.75).
        let p = Params::new().with("evals", 4.0);
        let run = |compat: Compat, h: &Updates, state: &mut Option<DVector<f64>>| {
            let cc = Pipeline::rule(Box::new(CenteredClipping::new(1, 1.0).with_compat(compat)));
            let mut rng = rng_from_seed(0);
            let mut cx = AttackContext {
                rng: &mut rng,
                defence: Some(&cc),
                defence_state: Some(state),
            };
            let a = crate::attacks::build("Optimal_InnerProductManipulation", &p, compat).unwrap();
            a.corrupt(h.view(), 1, &mut cx).unwrap().view().col(0)[0]
        };
        let r1 = Updates::from_rows(&[vec![1.0], vec![1.0]]).unwrap();
        let r2 = Updates::from_rows(&[vec![-3.0], vec![-0.25]]).unwrap();
        let mut state = None;
        assert_eq!(run(Compat::Byzfl, &r1, &mut state), -70.0);
        let s1 = state.as_ref().unwrap()[0];
        assert!((s1 - 41.0 / 81.0).abs() < 1e-15, "{s1}");
        assert_eq!(run(Compat::Byzfl, &r2, &mut state), 0.0);
        let s2 = state.as_ref().unwrap()[0];
        // 1e-15: a few roundings of numbers of order 1 (the replay prints −0.2493903368388965).
        assert!((s2 + 0.2493903368388965).abs() < 1e-15, "{s2}");
        assert_eq!(run(Compat::Byzfl, &r2, &mut None), 113.75);
        // Native: every evaluation starts from the given state, which stays as it was.
        let mut native = Some(DVector::from_element(1, 41.0 / 81.0));
        assert_eq!(run(Compat::Native, &r2, &mut native), 16.25);
        assert_eq!(native.unwrap()[0], 41.0 / 81.0);
    }

    #[test]
    fn parameter_validation() {
        let bad = [
            ("evals", 0.0),
            ("delta", 0.0),
            ("ratio", 0.5),
            ("ratio", 1.0),
            ("start", f64::NAN),
            ("f", 1.5),
        ];
        for (k, v) in bad {
            let p = Params::new().with(k, v);
            assert!(
                LineSearch::from_params(&p, Compat::Native).is_err(),
                "{k} = {v}"
            );
        }
        assert_eq!(
            LineSearch::from_params(&Params::new(), Compat::Native).unwrap(),
            LineSearch::default()
        );
        let h = Updates::from_rows(&[vec![1.0]]).unwrap();
        let mut rng = rng_from_seed(0);
        assert!(OptimalInnerProductManipulation::new(LineSearch::default())
            .corrupt(h.view(), 0, &mut AttackContext::new(&mut rng))
            .is_err());
    }
}
