//! Named numeric parameters of rules, pre-aggregators and attacks (`--param tau=1.5`), and the
//! registry entry type that turns a name plus parameters into an implementation.
//!
//! Keys follow ByzFL's spelling (`f`, `tau`, `nu`, `T`, …). A registry entry lists the keys it
//! accepts, so a misspelled key is rejected before anything runs, with the closest key as hint.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Whether a name means lbounds' corrected rule or exactly what ByzFL 0.0.11 computes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compat {
    /// lbounds' own semantics: converged iterations, the neighbour counts of the papers.
    #[default]
    Native,
    /// ByzFL 0.0.11 in float64, quirks included (see each rule's docs).
    Byzfl,
}

/// Cap on every iteration or evaluation count a rule, pre-aggregator or attack accepts (see
/// [`Params::iterations`]). The defaults are 1 to 1000; 10⁵ leaves room for convergence studies
/// while bounding a run's length (one iteration is at most O(n·d) work).
pub const MAX_ITERATIONS: usize = 100_000;

/// A number as labels and messages print it: `Display`'s shortest round-trip digits
/// (`1.5`, `1000`), except where those run past 24 characters (1e300 has 301 digits, 1e-300
/// 302), in exponent form (`1e300`), which round-trips as well: distinct values keep distinct
/// labels. Numbers of ordinary size never reach 24 characters, so their labels, which key
/// random streams and records, are `Display`'s.
pub fn compact(x: f64) -> String {
    let plain = x.to_string();
    if plain.len() > 24 {
        format!("{x:e}")
    } else {
        plain
    }
}

/// Numeric parameters keyed by name. A `BTreeMap`, so serialisation order is stable.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Params(pub BTreeMap<String, f64>);

impl Params {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder-style insertion.
    pub fn with(mut self, key: &str, value: f64) -> Self {
        self.0.insert(key.to_string(), value);
        self
    }

    /// Inserts or replaces one value.
    pub fn set(&mut self, key: &str, value: f64) {
        self.0.insert(key.to_string(), value);
    }

    /// Parses `KEY=VALUE` (the CLI's `--param`).
    ///
    /// # Errors
    /// [`Error::Parse`] when there is no `=`, the key is empty or the value is not a number.
    pub fn parse_assignment(s: &str) -> Result<(String, f64)> {
        let (k, v) = s.split_once('=').ok_or_else(|| Error::Parse {
            what: format!("parameter `{s}`"),
            reason: "expected KEY=VALUE".into(),
        })?;
        let k = k.trim();
        if k.is_empty() {
            return Err(Error::Parse {
                what: format!("parameter `{s}`"),
                reason: "empty key".into(),
            });
        }
        let v: f64 = v.trim().parse().map_err(|_| Error::Parse {
            what: format!("parameter `{k}`"),
            reason: format!("`{}` is not a number", v.trim()),
        })?;
        Ok((k.to_string(), v))
    }

    /// Rejects keys not in `known`, naming the closest known key.
    ///
    /// # Errors
    /// [`Error::Unknown`] for the first unknown key.
    pub fn check_keys(&self, owner: &str, known: &[&str]) -> Result<()> {
        for k in self.0.keys() {
            if !known.contains(&k.as_str()) {
                return Err(Error::unknown_listing(
                    &format!("parameter of {owner}"),
                    k,
                    known.iter().copied(),
                ));
            }
        }
        Ok(())
    }

    /// A finite real parameter, `default` when absent.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for NaN or ±∞.
    pub fn f64(&self, key: &str, default: f64) -> Result<f64> {
        match self.0.get(key) {
            None => Ok(default),
            Some(&v) if v.is_finite() => Ok(v),
            Some(&v) => Err(Error::invalid(key, v, "must be finite")),
        }
    }

    /// A real parameter that must be > 0.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when not finite or ≤ 0.
    pub fn positive(&self, key: &str, default: f64) -> Result<f64> {
        crate::error::check_positive(key, self.f64(key, default)?)
    }

    /// A real parameter that must be ≥ 0.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when not finite or < 0.
    pub fn non_negative(&self, key: &str, default: f64) -> Result<f64> {
        crate::error::check_non_negative(key, self.f64(key, default)?)
    }

    /// A non-negative integer parameter (given as a number with no fractional part).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a negative, fractional, non-finite or huge value.
    pub fn count(&self, key: &str, default: usize) -> Result<usize> {
        match self.0.get(key) {
            None => Ok(default),
            Some(&v) if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 1e15 => {
                Ok(v as usize)
            }
            Some(&v) => Err(Error::invalid(
                key,
                v,
                "must be a non-negative integer, at most 1e15",
            )),
        }
    }

    /// An iteration or evaluation count (centered clipping's `L`, the geometric median's `T`,
    /// DnC's `num_iters`, the optimal attacks' `evals`), at most [`MAX_ITERATIONS`].
    ///
    /// Every builder reads such counts through here, so the library, `simulate`, `aggregate`,
    /// `attack` and sweeps all refuse `L=1e9` before any work instead of running for hours.
    ///
    /// # Errors
    /// As [`Params::count`], and [`Error::InvalidParameter`] above [`MAX_ITERATIONS`].
    pub fn iterations(&self, key: &str, default: usize) -> Result<usize> {
        let v = self.count(key, default)?;
        if v > MAX_ITERATIONS {
            return Err(Error::invalid(
                key,
                v,
                format!(
                    "iteration counts are capped at {MAX_ITERATIONS} (the defaults are 1 to 1000)"
                ),
            ));
        }
        Ok(v)
    }

    /// The declared number of Byzantine inputs `f` (default 0, ByzFL's default).
    ///
    /// # Errors
    /// As [`Params::count`].
    pub fn f(&self) -> Result<usize> {
        self.count("f", 0)
    }
}

/// A registry entry: how a name (and ByzFL's spelling of it) becomes an implementation.
pub struct Spec<T: ?Sized> {
    /// Stable snake_case key used in configs, records, the CLI and plot legends.
    pub name: &'static str,
    /// ByzFL's class name, when ByzFL has this item (`TrMean`, `ALittleIsEnough`).
    pub byzfl: Option<&'static str>,
    /// Parameter keys accepted, in ByzFL's spelling.
    pub keys: &'static [&'static str],
    /// One line for `--help` listings.
    pub summary: &'static str,
    /// Builds the implementation from validated-key parameters.
    pub build: fn(&Params, Compat) -> Result<Box<T>>,
}

/// Looks up `name` (snake_case or ByzFL's spelling, case-insensitive), checks the keys of
/// `params` and builds the implementation.
///
/// # Errors
/// [`Error::Unknown`] for an unknown name or key (with a suggestion), and whatever the
/// entry's builder rejects.
pub fn build_from<T: ?Sized>(
    registry: &[Spec<T>],
    family: &str,
    name: &str,
    params: &Params,
    compat: Compat,
) -> Result<Box<T>> {
    let spec = lookup(registry, family, name)?;
    params.check_keys(spec.name, spec.keys)?;
    (spec.build)(params, compat)
}

/// Finds the registry entry for `name` (snake_case or ByzFL's spelling, case-insensitive).
///
/// # Errors
/// [`Error::Unknown`] with the closest name as suggestion.
pub fn lookup<'r, T: ?Sized>(
    registry: &'r [Spec<T>],
    family: &str,
    name: &str,
) -> Result<&'r Spec<T>> {
    let norm = |s: &str| s.to_ascii_lowercase().replace(['_', '-'], "");
    let wanted = norm(name);
    registry
        .iter()
        .find(|s| norm(s.name) == wanted || s.byzfl.is_some_and(|b| norm(b) == wanted))
        .ok_or_else(|| Error::unknown(family, name, registry.iter().map(|s| s.name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_getters_validate() {
        let p = Params::new()
            .with("tau", 1.5)
            .with("f", 2.0)
            .with("bad", f64::NAN);
        assert_eq!(p.f64("tau", 0.0).unwrap(), 1.5);
        assert_eq!(p.f64("absent", 7.0).unwrap(), 7.0);
        assert_eq!(p.f().unwrap(), 2);
        assert!(p.f64("bad", 0.0).is_err());
        let p = Params::new().with("f", 2.5);
        let e = p.f().unwrap_err().to_string();
        assert!(e.contains("`f` = 2.5") && e.contains("integer"), "{e}");
        assert!(Params::new().with("f", -1.0).f().is_err());
        // An integer past the cap is named as too large, not as a non-integer.
        let e = Params::new().with("f", 1e18).f().unwrap_err().to_string();
        assert!(e.contains("at most 1e15"), "{e}");
        assert_eq!(
            Params::new().with("f", 1e15).f().unwrap(),
            1_000_000_000_000_000
        );
        assert!(Params::new().with("tau", 0.0).positive("tau", 1.0).is_err());
    }

    #[test]
    fn assignments_and_keys() {
        assert_eq!(
            Params::parse_assignment("tau=1.5").unwrap(),
            ("tau".into(), 1.5)
        );
        assert!(Params::parse_assignment("tau").is_err());
        assert!(Params::parse_assignment("=1").is_err());
        assert!(Params::parse_assignment("tau=x").is_err());
        let p = Params::new().with("tua", 1.0);
        let e = p.check_keys("ipm", &["tau"]).unwrap_err().to_string();
        assert!(e.contains("did you mean `tau`"), "{e}");
    }
}
