//! The crate-wide error type.
//!
//! Every variant names what was wrong, the offending value and why, so that the CLI can print
//! one self-explaining line and a library user can match on the kind of failure.

use std::fmt;

/// Result alias used throughout lbounds.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in lbounds.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is outside its domain (NaN, negative ε, f ≥ n/2, …).
    #[error("invalid parameter `{name}` = {value}: {reason}")]
    InvalidParameter {
        /// Parameter name as the user spells it (`f`, `tau`, `eps`, …).
        name: String,
        /// The offending value, rendered as text.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A name (rule, attack, parameter key) that lbounds does not know.
    #[error("unknown {what} `{name}`{}", hint_suffix(.suggestion, .known))]
    Unknown {
        /// What kind of name: "aggregator", "attack", "parameter of krum", …
        what: String,
        /// The name as given.
        name: String,
        /// The closest known name, if any is close.
        suggestion: Option<String>,
        /// The known names, listed after the suggestion where the list is short enough to
        /// print (a rule's parameter keys, a bound's variants).
        known: Option<String>,
    },
    /// Two shapes that must agree do not.
    #[error("dimension mismatch in {what}: expected {expected}, got {got}")]
    DimensionMismatch {
        /// What was being combined.
        what: String,
        /// Expected size.
        expected: usize,
        /// Actual size.
        got: usize,
    },
    /// A rule needs more inputs than it was given (e.g. Krum needs n > 2f + 2).
    #[error("{what} needs {needed}, got {got}")]
    TooFewInputs {
        /// The rule or computation.
        what: String,
        /// The requirement, in words (e.g. "n > 2f + 2 = 22").
        needed: String,
        /// What was supplied (e.g. "n = 20").
        got: String,
    },
    /// A value that must be finite is NaN or infinite.
    #[error("non-finite value in {what}: {detail}")]
    NonFinite {
        /// Where the value was found.
        what: String,
        /// Which entry and what it was.
        detail: String,
    },
    /// Parameters fall outside a result's hypotheses.
    #[error("outside the hypotheses of {bound}: {reason}")]
    OutsideHypotheses {
        /// The bound's id or name.
        bound: String,
        /// Which hypothesis fails and why.
        reason: String,
    },
    /// The operation is not defined for this combination.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Malformed input text (CSV, parameter syntax, JSON).
    #[error("parse error in {what}: {reason}")]
    Parse {
        /// The input and position (e.g. "input.csv line 3").
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// An I/O failure, with the path involved.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

fn hint_suffix(suggestion: &Option<String>, known: &Option<String>) -> String {
    match (suggestion, known) {
        (Some(s), Some(k)) => format!(" (did you mean `{s}`? known: {k})"),
        (Some(s), None) => format!(" (did you mean `{s}`?)"),
        (None, Some(k)) => format!(" (known: {k})"),
        (None, None) => String::new(),
    }
}

impl Error {
    /// Shorthand for [`Error::InvalidParameter`].
    pub fn invalid(name: &str, value: impl fmt::Display, reason: impl Into<String>) -> Self {
        let value = value.to_string();
        // f64's `Display` writes every digit (1e308 takes 309 characters, 1e-300 302): a
        // number printed that way is shown compactly.
        let value = match value.parse::<f64>() {
            Ok(x) if x.to_string() == value => crate::params::compact(x),
            _ => value,
        };
        Error::InvalidParameter {
            name: name.to_string(),
            value,
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::TooFewInputs`].
    pub fn too_few(what: &str, needed: impl Into<String>, got: impl Into<String>) -> Self {
        Error::TooFewInputs {
            what: what.to_string(),
            needed: needed.into(),
            got: got.into(),
        }
    }

    /// An [`Error::Unknown`] with the closest of `known` as suggestion (case-insensitive edit
    /// distance at most a third of the name's length, 1 to 3, as rustc's suggestions), so a
    /// typo gets a hint and a wild guess does not: `foo` is three edits from `inf` and from
    /// `mda`, which say nothing about what was meant.
    pub fn unknown<'a>(what: &str, name: &str, known: impl IntoIterator<Item = &'a str>) -> Self {
        let lower = name.to_ascii_lowercase();
        let reach = (lower.chars().count().max(3) / 3).min(3);
        // A name that is a prefix of a known one (`sign_flip`) counts as distance 1.
        let suggestion = known
            .into_iter()
            .map(|k| {
                let kl = k.to_ascii_lowercase();
                let prefix = lower.len() >= 3 && kl.starts_with(&lower);
                (
                    if prefix {
                        1
                    } else {
                        edit_distance(&lower, &kl)
                    },
                    k,
                )
            })
            .filter(|(dist, _)| *dist <= reach)
            .min_by_key(|(dist, _)| *dist)
            .map(|(_, k)| k.to_string());
        Error::Unknown {
            what: what.to_string(),
            name: name.to_string(),
            suggestion,
            known: None,
        }
    }

    /// [`Error::unknown`] that also lists the known names (for short lists).
    pub fn unknown_listing<'a>(
        what: &str,
        name: &str,
        known: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Self {
        let list = known.clone().into_iter().collect::<Vec<_>>().join(", ");
        let mut e = Error::unknown(what, name, known);
        if let Error::Unknown { known, .. } = &mut e {
            *known = Some(if list.is_empty() { "none".into() } else { list });
        }
        e
    }

    /// True for errors caused by the caller's input (the CLI maps these to exit code 2).
    ///
    /// An I/O error counts as the caller's when it is about the path they chose: missing, not
    /// allowed, a file where a directory is needed or the reverse, a read-only file system.
    /// Other I/O failures (a full disk, a device error) are not the caller's input.
    pub fn is_user_error(&self) -> bool {
        use std::io::ErrorKind as K;
        match self {
            Error::Io { source, .. } => matches!(
                source.kind(),
                K::NotFound
                    | K::PermissionDenied
                    | K::AlreadyExists
                    | K::NotADirectory
                    | K::IsADirectory
                    | K::ReadOnlyFilesystem
            ),
            _ => true,
        }
    }
}

/// Runs of non-blank characters longer than this are shortened in messages (see [`printable`]).
const MAX_TOKEN_CHARS: usize = 80;
/// Characters kept from the start and the end of a shortened run.
const TOKEN_HEAD: usize = 40;
const TOKEN_TAIL: usize = 16;
/// Longest message [`printable`] returns, in characters (before escaping).
const MAX_MESSAGE_CHARS: usize = 1000;

/// `text` made safe to print as one line of a terminal, for messages that echo what a user
/// (or a hostile file) supplied.
///
/// - Every run of non-space characters longer than 80 characters (a 300-digit number, a line
///   of a file without separators) keeps its first 40 and last 16 characters around
///   `…(N chars)…`, and the whole text is cut after 1000 characters.
/// - Control characters (newlines, tabs, escape sequences, NUL) and the invisible characters
///   that reorder or hide text (bidirectional overrides, zero-width characters, the BOM) are
///   written as Rust escapes (`\n`, `\u{1b}`, `\u{202e}`), so they can neither move the cursor
///   nor recolour, reorder or hide the rest of the message.
pub fn printable(text: &str) -> String {
    let mut out = String::new();
    let mut kept = 0usize;
    for (i, token) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
            kept += 1;
        }
        let len = token.chars().count();
        let shortened;
        let token = if len > MAX_TOKEN_CHARS {
            let head: String = token.chars().take(TOKEN_HEAD).collect();
            let tail: String = token.chars().skip(len - TOKEN_TAIL).collect();
            shortened = format!("{head}…({len} chars)…{tail}");
            shortened.as_str()
        } else {
            token
        };
        for c in token.chars() {
            if kept >= MAX_MESSAGE_CHARS {
                out.push_str("…(message shortened)");
                return out;
            }
            kept += 1;
            if c.is_control() || is_invisible_format(c) {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
    }
    out
}

/// Unicode format characters that change how the surrounding text is shown without being
/// visible: zero-width characters, bidirectional marks, embeddings, overrides and isolates,
/// the word joiner and invisible operators, and the BOM.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{00ad}' | '\u{061c}' | '\u{180e}' | '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}')
}

/// Edit distance between two short strings (names, keys), for suggestions: insertions,
/// deletions, substitutions and transpositions of two neighbouring characters each count
/// one (the optimal-string-alignment distance; F. J. Damerau, "A technique for computer
/// detection and correction of spelling errors", Communications of the ACM 7(3), 1964),
/// so `tua` is one edit from `tau`, as `medain` from `median`.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // Rows i − 2, i − 1 and i of the table over prefixes of a and b.
    let mut before: Vec<usize> = Vec::new();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 0..a.len() {
        let mut cur = vec![i + 1; b.len() + 1];
        for j in 0..b.len() {
            let sub = prev[j] + usize::from(a[i] != b[j]);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                cur[j + 1] = cur[j + 1].min(before[j - 1] + 1);
            }
        }
        before = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

/// Checks that `x` is finite, naming it in the error.
pub fn check_finite(name: &str, x: f64) -> Result<f64> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(Error::invalid(name, x, "must be finite"))
    }
}

/// Checks that `x` is finite and > 0.
pub fn check_positive(name: &str, x: f64) -> Result<f64> {
    if x.is_finite() && x > 0.0 {
        Ok(x)
    } else {
        Err(Error::invalid(name, x, "must be finite and > 0"))
    }
}

/// Checks that `x` is finite and ≥ 0.
pub fn check_non_negative(name: &str, x: f64) -> Result<f64> {
    if x.is_finite() && x >= 0.0 {
        Ok(x)
    } else {
        Err(Error::invalid(name, x, "must be finite and >= 0"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestion_finds_close_names() {
        let e = Error::unknown("aggregator", "medain", ["median", "krum", "trmean"]);
        assert_eq!(
            e.to_string(),
            "unknown aggregator `medain` (did you mean `median`?)"
        );
        let e = Error::unknown("attack", "sign_flip", ["sign_flipping", "mimic"]);
        assert!(
            e.to_string().ends_with("(did you mean `sign_flipping`?)"),
            "{e}"
        );
        let e = Error::unknown("aggregator", "zzzzzzzz", ["median", "krum"]);
        assert_eq!(e.to_string(), "unknown aggregator `zzzzzzzz`");
        // A short name gets a hint only one edit away: three edits replace all of `foo`.
        let e = Error::unknown("attack", "foo", ["inf", "mimic"]);
        assert_eq!(e.to_string(), "unknown attack `foo`");
        let e = Error::unknown("column", "zz", ["a", "b", "y"]);
        assert_eq!(e.to_string(), "unknown column `zz`");
        let e = Error::unknown("aggregator", "krm", ["krum", "mda"]);
        assert!(e.to_string().ends_with("(did you mean `krum`?)"), "{e}");
        let e = Error::unknown("aggregator", "mutli_krum", ["multi_krum", "krum"]);
        assert!(
            e.to_string().ends_with("(did you mean `multi_krum`?)"),
            "{e}"
        );
    }

    #[test]
    fn printable_escapes_and_shortens() {
        // Control bytes and bidi overrides are escaped, never passed through.
        assert_eq!(printable("a\x1b[31mb\tc\0"), "a\\u{1b}[31mb\\tc\\u{0}");
        assert_eq!(printable("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(printable("a\nb"), "a\\nb");
        // Printable non-ASCII text is kept.
        assert_eq!(printable("σ ≥ 0 ∞"), "σ ≥ 0 ∞");
        // A 300-digit number keeps 40 + 16 digits and says how long it was.
        let big = "9".repeat(300);
        let p = printable(&format!("value `{big}` is too large"));
        assert_eq!(
            p,
            format!(
                "value `{}…(302 chars)…{}` is too large",
                "9".repeat(39),
                "9".repeat(15)
            )
        );
        // An 80-character token is not shortened; 81 is.
        assert_eq!(printable(&"x".repeat(80)), "x".repeat(80));
        assert!(printable(&"x".repeat(81)).contains("…(81 chars)…"));
        // Many short tokens: the whole message is capped.
        let long = "ab ".repeat(2000);
        let p = printable(&long);
        assert!(
            p.ends_with("…(message shortened)") && p.chars().count() < 1100,
            "{p}"
        );
    }

    #[test]
    fn io_errors_about_the_callers_path_are_user_errors() {
        use std::io::{Error as IoError, ErrorKind};
        let io = |kind| Error::Io {
            path: "out".into(),
            source: IoError::from(kind),
        };
        assert!(io(ErrorKind::AlreadyExists).is_user_error());
        assert!(io(ErrorKind::NotADirectory).is_user_error());
        assert!(io(ErrorKind::NotFound).is_user_error());
        assert!(!io(ErrorKind::StorageFull).is_user_error());
        assert!(!io(ErrorKind::Other).is_user_error());
        assert!(Error::invalid("f", 1, "x").is_user_error());
    }

    #[test]
    fn edit_distance_known_answers() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
        // A transposition is one edit (two for Levenshtein's distance), once per pair.
        assert_eq!(edit_distance("tua", "tau"), 1);
        assert_eq!(edit_distance("medain", "median"), 1);
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("ca", "abc"), 3);
        assert_eq!(edit_distance("foo", "inf"), 3);
    }
}
