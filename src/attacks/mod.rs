//! Byzantine attacks: what f fake users send.
//!
//! An attack is omniscient: it sees the honest updates and, when adaptive, the defence it
//! faces. ByzFL's attacks produce one vector that all f Byzantine users send; some lbounds
//! attacks (e.g. `two_world`) send f different vectors. Every random draw comes from the
//! context's seeded stream.

pub mod a_little_is_enough;
pub mod gaussian;
pub mod inf;
pub mod inner_product_manipulation;
pub mod mimic;
pub mod min_max;
pub mod min_sum;
pub mod optimal_a_little_is_enough;
pub mod optimal_inner_product_manipulation;
pub mod origin;
pub mod sign_flipping;
pub mod two_world;

use crate::aggregators::Pipeline;
use crate::data::{Updates, UpdatesView};
use crate::params::{build_from, Compat, Params, Spec};
use crate::rng::SimRng;
use crate::Result;
use nalgebra::DVector;

/// What an attack may look at besides the honest updates.
pub struct AttackContext<'a> {
    /// The stream for the attack's random draws.
    pub rng: &'a mut SimRng,
    /// The defence under attack (optimal attacks search against it; ByzFL's default when
    /// `None` is Average after Clipping(c = 2)).
    pub defence: Option<&'a Pipeline>,
    /// The defence's state as the attack sees it, for defences that keep one across calls
    /// (centered clipping starts from its last output). A training loop holds it across
    /// rounds; `None` (one-off calls) starts every search from no state. How the optimal
    /// attacks read and update it depends on the compat mode
    /// ([`optimal_inner_product_manipulation`] documents both).
    pub defence_state: Option<&'a mut Option<DVector<f64>>>,
}

impl<'a> AttackContext<'a> {
    /// A context with no known defence.
    pub fn new(rng: &'a mut SimRng) -> Self {
        AttackContext {
            rng,
            defence: None,
            defence_state: None,
        }
    }
}

/// A Byzantine attack.
pub trait Attack: Send + Sync {
    /// Stable snake_case key.
    fn name(&self) -> &'static str;

    /// The d×f Byzantine updates for `f ≥ 1` given the honest updates.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for f = 0; attack-specific requirements (e.g. ALIE
    /// needs at least two honest vectors for its standard deviation).
    fn corrupt(
        &self,
        honest: UpdatesView<'_>,
        f: usize,
        cx: &mut AttackContext<'_>,
    ) -> Result<Updates>;

    /// Whether the attack sends one vector f times, the same whatever f: `corrupt(h, f)` is
    /// f copies of `corrupt(h, 1)`, with the same draws. A training loop then asks for one
    /// vector and hands the rule its multiplicity ([`crate::aggregators::Pipeline::run_counted`])
    /// instead of writing and reading f copies.
    fn sends_copies(&self) -> bool {
        false
    }

    /// The attack as [`Coordinatewise`], if it is one.
    fn coordinatewise(&self) -> Option<&dyn Coordinatewise> {
        None
    }

    /// [`Attack::corrupt`] written into `out`: the f = `out.len()` / d Byzantine vectors one
    /// after the other, the same numbers. A training loop keeps its Byzantine vectors in one
    /// buffer across rounds; an attack computed in one pass over the honest vectors (ALIE)
    /// writes them there directly, the others are copied from [`Attack::corrupt`].
    ///
    /// # Errors
    /// Those of [`Attack::corrupt`]; [`crate::Error::DimensionMismatch`] when `out` is not a
    /// whole number of vectors of the honest dimension.
    fn corrupt_into(
        &self,
        honest: UpdatesView<'_>,
        out: &mut [f64],
        cx: &mut AttackContext<'_>,
    ) -> Result<()> {
        let f = byzantine_count(honest.d(), out.len())?;
        let b = self.corrupt(honest, f, cx)?;
        if b.n() != f || b.d() != honest.d() {
            return Err(crate::Error::DimensionMismatch {
                what: format!("vectors of attack {}", self.name()),
                expected: out.len(),
                got: b.n() * b.d(),
            });
        }
        out.copy_from_slice(b.view().as_slice());
        Ok(())
    }
}

/// An attack that sends copies of one vector whose coordinate k is a function of coordinate
/// k of the honest vectors alone, drawing nothing (ALIE). A training loop can then have the
/// vector written a block of coordinates at a time inside the rule's first pass over the
/// honest vectors ([`crate::aggregators::FillLast`]): one read of them instead of two.
/// [`Attack::corrupt_into`] of such an attack is [`Coordinatewise::check_honest`], the
/// blocks, [`Coordinatewise::check_vector`] and the copies.
pub trait Coordinatewise: Sync {
    /// The attack's requirements on the honest vectors, checked before any block is written.
    ///
    /// # Errors
    /// Those of [`Attack::corrupt`] that depend on the honest vectors' number.
    fn check_honest(&self, honest: UpdatesView<'_>) -> Result<()>;

    /// Coordinates `lo .. lo + out.len()` of the attack vector ([`crate::aggregators::BlockFill`]):
    /// given `sum`, also the honest vectors' sum over the same coordinates where the attack
    /// computes it anyway (ALIE's mean), each added left to right from the first vector's
    /// value, so that a rule summing the same block (the average) reads it instead of the
    /// vectors. Returns whether `sum` was written (left as it was when not).
    fn fill_block(
        &self,
        honest: UpdatesView<'_>,
        lo: usize,
        out: &mut [f64],
        sum: Option<&mut [f64]>,
    ) -> bool;

    /// The check of the whole vector once written.
    ///
    /// # Errors
    /// Those of [`Attack::corrupt`] that depend on the vector's values.
    fn check_vector(&self, v: &[f64]) -> Result<()>;
}

/// The binade of `x`: its exponent bits alone, the power of two 2ᵉ ≤ |x| < 2ᵉ⁺¹ (0 for 0
/// and subnormals, +∞ for ±∞ and NaN). Dividing by it and multiplying back is exact, so the
/// attacks that estimate spreads (ALIE, two-world) compute on entries times 2⁻ᵉ where squares
/// would overflow or underflow.
pub(crate) fn binade(x: f64) -> f64 {
    f64::from_bits(x.to_bits() & 0x7ff0_0000_0000_0000)
}

/// The number of vectors of dimension `d` in a buffer of `len` values.
///
/// # Errors
/// [`crate::Error::DimensionMismatch`] when `len` is not a multiple of `d`.
pub(crate) fn byzantine_count(d: usize, len: usize) -> Result<usize> {
    if d == 0 || !len.is_multiple_of(d) {
        return Err(crate::Error::DimensionMismatch {
            what: "Byzantine vectors buffer".into(),
            expected: d * len.div_ceil(d.max(1)),
            got: len,
        });
    }
    Ok(len / d)
}

/// The attacks, in the order listings and tables show them.
pub const ATTACKS: &[Spec<dyn Attack>] = &[
    sign_flipping::SPEC,
    inner_product_manipulation::SPEC,
    optimal_inner_product_manipulation::SPEC,
    a_little_is_enough::SPEC,
    optimal_a_little_is_enough::SPEC,
    inf::SPEC,
    mimic::SPEC,
    gaussian::SPEC,
    min_max::SPEC,
    min_sum::SPEC,
    origin::SPEC,
    two_world::SPEC,
];

/// Builds an attack by name.
///
/// # Errors
/// [`crate::Error::Unknown`] for an unknown name or key; the attack's own validation errors.
pub fn build(name: &str, params: &Params, compat: Compat) -> Result<Box<dyn Attack>> {
    build_from(ATTACKS, "attack", name, params, compat)
}

/// Checks f ≥ 1 (an attack with no attacker is a caller bug worth a clear message).
///
/// # Errors
/// [`crate::Error::InvalidParameter`] for f = 0.
pub fn require_attackers(f: usize) -> Result<()> {
    if f == 0 {
        Err(crate::Error::invalid(
            "f",
            0,
            "an attack needs at least one Byzantine user",
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::MAX_ITERATIONS;
    use crate::Error;

    /// An attack that says it sends copies ([`Attack::sends_copies`]) sends, for f = 3, three
    /// copies of what it sends for f = 1, from the same stream: a training loop may ask for
    /// one vector and count it f times. Every attack of the registry with its default
    /// parameters, on random honest vectors.
    ///
    /// Mutation checked: `two_world` saying it sends copies fails it (its f vectors differ).
    #[test]
    fn attacks_that_send_copies_send_one_vector_f_times() {
        use rand::RngExt;
        let mut rng = crate::rng::rng_from_seed(8);
        let honest =
            Updates::new(nalgebra::DMatrix::from_fn(9, 6, |_, _| rng.random::<f64>())).unwrap();
        let mut copying = 0;
        for spec in ATTACKS {
            let attack = build(spec.name, &Params::new(), Compat::Native).unwrap();
            if !attack.sends_copies() {
                continue;
            }
            copying += 1;
            let corrupt = |f: usize| {
                let mut r = crate::rng::rng_from_seed(3);
                attack
                    .corrupt(honest.view(), f, &mut AttackContext::new(&mut r))
                    .unwrap()
            };
            let one = corrupt(1);
            let three = corrupt(3);
            for c in three.view().cols() {
                assert_eq!(c, one.view().col(0), "{}", spec.name);
            }
        }
        assert!(copying >= 6, "{copying}");
    }

    /// The optimal attacks' `evals` (defence evaluations of the search) is refused above
    /// [`MAX_ITERATIONS`] by the builder, and accepted at the cap. Fails if `LineSearch::from_params`
    /// reads `evals` with `Params::count` (checked by reverting it).
    #[test]
    fn builders_cap_evaluation_counts() {
        for name in [
            "optimal_inner_product_manipulation",
            "optimal_a_little_is_enough",
        ] {
            let p = |v: f64| Params::new().with("evals", v);
            assert!(build(name, &p(MAX_ITERATIONS as f64), Compat::Native).is_ok());
            let e = build(name, &p(1e9), Compat::Native).err().expect("refused");
            assert!(
                matches!(e, Error::InvalidParameter { ref name, .. } if name == "evals"),
                "{e}"
            );
        }
    }
}
