//! A defence from names (`--rule`/`--pre`, `rule=`/`pre=`) and an attack against it.

use super::Spelling;
use crate::aggregators::{AggContext, Pipeline, PipelineSpec, StepSpec};
use crate::attacks::{Attack, AttackContext};
use crate::data::population::MAX_VALUES;
use crate::data::{Updates, UpdatesView};
use crate::rng::rng_from_seed;
use crate::{Error, Result};
use nalgebra::DVector;

/// The defence of a rule after pre-aggregators, every step that takes `f` given the declared
/// f (unless it sets its own).
///
/// # Errors
/// An unknown rule or pre-aggregator name; a step whose meaning depends on f
/// ([`crate::aggregators::depends_on_f`]) with no f declared and none of its own: trmean would
/// silently be the plain average.
pub fn defence_spec(
    rule: StepSpec,
    pre: Vec<StepSpec>,
    f: Option<usize>,
    spelling: Spelling,
) -> Result<PipelineSpec> {
    use crate::aggregators::{PRE_AGGREGATORS, RULES};
    use crate::params::lookup;
    // Every name is looked up in its own registry, declared f or not (rule first).
    lookup(RULES, "aggregator", &rule.name)?;
    for s in &pre {
        lookup(PRE_AGGREGATORS, "pre-aggregator", &s.name)?;
    }
    let mut spec = PipelineSpec { rule, pre };
    if let Some(f) = f {
        crate::experiment::train::declare_f(&mut spec, f)?;
    }
    for step in spec.pre.iter().chain(std::iter::once(&spec.rule)) {
        if !step.params.0.contains_key("f") && crate::aggregators::depends_on_f(&step.name)? {
            return Err(Error::invalid(
                &spelling.name("f"),
                "missing",
                format!(
                    "`{}` depends on the number f of Byzantine inputs; declare it with {} \
                     (or the step parameter {}:f=F); {} runs the rule with no trimming",
                    step.name,
                    spelling.assign("f", "F"),
                    step.name,
                    spelling.assign("f", "0")
                ),
            ));
        }
    }
    Ok(spec)
}

/// Refuses, before any allocation, an f whose vectors (honest and Byzantine together, as the
/// defence and the optimal attacks see them) would exceed [`MAX_VALUES`].
pub fn check_attack_size(n: usize, d: usize, f: usize) -> Result<()> {
    let values = (n as u64)
        .checked_add(f as u64)
        .and_then(|m| m.checked_mul(d as u64));
    if values.is_none_or(|v| v > MAX_VALUES) {
        return Err(Error::invalid(
            "f",
            f,
            format!(
                "(n + f)·d = ({n} + {f})·{d} values exceed the limit of {MAX_VALUES} (8 GiB of f64)"
            ),
        ));
    }
    Ok(())
}

/// What an attack sends, and the defence's aggregate when asked for.
#[derive(Debug)]
pub struct Attacked {
    /// The f Byzantine vectors.
    pub byzantine: Updates,
    /// The defence's aggregate of the honest vectors followed by the Byzantine ones.
    pub aggregate: Option<DVector<f64>>,
}

/// The f vectors `attack` sends against `honest` (every entry finite), searching against
/// `defence` where the attack optimises against one; with `then_aggregate`, the defence's
/// aggregate of the honest vectors followed by them (ByzFL's order), its random draws
/// continuing the attack's stream of `seed`.
///
/// # Errors
/// f too large for memory ([`check_attack_size`]), too few inputs for the defence,
/// `then_aggregate` without a defence, and whatever the attack or the defence refuses.
pub fn attack_then_aggregate(
    honest: UpdatesView<'_>,
    attack: &dyn Attack,
    f: usize,
    defence: Option<&Pipeline>,
    seed: u64,
    then_aggregate: bool,
) -> Result<Attacked> {
    check_attack_size(honest.n(), honest.d(), f)?;
    if let Some(p) = defence {
        p.check_n(honest.n() + f)?;
    }
    let mut rng = rng_from_seed(seed);
    let byzantine = attack.corrupt(
        honest,
        f,
        &mut AttackContext {
            rng: &mut rng,
            defence,
            defence_state: None,
        },
    )?;
    let aggregate = match (defence, then_aggregate) {
        (Some(p), true) => {
            let x = honest.to_owned().concat(&byzantine)?;
            Some(p.run(x.view(), &mut AggContext::new(&mut rng))?)
        }
        (None, true) => {
            return Err(Error::invalid(
                "then_aggregate",
                true,
                "needs a defence to run (a rule)",
            ))
        }
        (_, false) => None,
    };
    Ok(Attacked {
        byzantine,
        aggregate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rule that depends on f with no f declared is refused, in the caller's spelling; a
    /// declared f reaches every step that takes it. Mutation checked: dropping the
    /// `depends_on_f` loop makes `trmean` pass without f and the first assertion fail.
    #[test]
    fn f_is_declared_or_refused_in_the_callers_spelling() {
        let trmean = || StepSpec::parse("trmean").unwrap();
        let nnm = || vec![StepSpec::parse("nnm").unwrap()];
        let e = defence_spec(trmean(), nnm(), None, Spelling::Cli).unwrap_err();
        assert!(e.to_string().contains("declare it with --f F"), "{e}");
        let e = defence_spec(trmean(), vec![], None, Spelling::Python).unwrap_err();
        assert!(e.to_string().starts_with("invalid parameter `f`"), "{e}");
        assert!(e.to_string().contains("f=0 runs the rule"), "{e}");
        let spec = defence_spec(trmean(), nnm(), Some(3), Spelling::Cli).unwrap();
        assert_eq!(spec.rule.params.0["f"], 3.0);
        assert_eq!(spec.pre[0].params.0["f"], 3.0);
        // A pre-aggregator name given as the rule and the reverse are unknown names.
        let e = defence_spec(trmean(), vec![trmean()], Some(1), Spelling::Cli).unwrap_err();
        assert!(e.to_string().contains("unknown pre-aggregator"), "{e}");
    }

    /// (n + f)·d past MAX_VALUES = 2³⁰ values is refused before any allocation, and so is an
    /// n + f that overflows; a small size passes. Mutation checked: refusing only on overflow
    /// (`values.is_none()`) lets 2⁴⁰ values through and fails the second assertion.
    #[test]
    fn absurd_f_is_refused_before_allocation() {
        assert!(check_attack_size(10, 3, 5).is_ok());
        assert!(check_attack_size(10, 1 << 40, 1).is_err());
        assert!(check_attack_size(usize::MAX, 1, usize::MAX).is_err());
    }
}
