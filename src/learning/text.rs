//! Synthetic user text for the canary experiment (Secret Sharer): a small token alphabet, a
//! seeded random sparse Markov chain that writes "user text", canary sentences inserted into
//! it, and the featurisation of a next-token language model (a one-hot window of the last w
//! tokens predicting the next one).
//!
//! # Tokens
//! The alphabet is [`ALPHABET`]: the ten digits (token ids 0–9, so a digit's id is its
//! value), the space, and the letters of the canary prefix [`CANARY_PREFIX`] (`my pin is `).
//! V = [`VOCAB`] = 17 tokens.
//!
//! # User text
//! An order-1 Markov chain whose transition matrix is sparse and random: every token has
//! `fanout` distinct successors drawn uniformly without replacement, with weights drawn as
//! Exp(1) and normalised (a flat Dirichlet row restricted to the successors). The chain's text
//! contains digits, so a model must learn digit statistics from it, and the canary's digits
//! compete with them. This is the simulation of the reference's experiment E1 (Carlini,
//! Liu, Erlingsson, Kos & Song, "The Secret Sharer", USENIX Security 2019, arXiv 1802.08232),
//! with an order-1 instead of an order-2 chain.
//!
//! # Canaries
//! A canary is [`CANARY_PREFIX`] followed by the secret's digits; [`corpus`] inserts it k
//! times at uniformly random positions of the text (sorted, so insertions never nest).
//!
//! # Features
//! Example t of a token stream is (one-hot of tokens t−w..t−1, token t): feature index
//! `i·V + token` for the i-th token of the window (oldest first), p = w·V features, the
//! label the next token's id ([`windows`]). The model is any [`crate::learning::Model`]
//! with a softmax head over V classes.

use crate::learning::{Examples, Task};
use crate::rng::{permutation, SimRng};
use crate::{Error, Result};
use nalgebra::DMatrix;
use rand::RngExt;

/// The token alphabet; a token's id is its position (digits first, so id = digit value).
pub const ALPHABET: &str = "0123456789 mypins";

/// Number of tokens V.
pub const VOCAB: usize = 17;

/// The canary's fixed prefix; the secret's digits follow it.
pub const CANARY_PREFIX: &str = "my pin is ";

/// Widest context window accepted: the prefix's length, so that the context of every secret
/// digit lies inside the canary and does not depend on the text before it.
pub const MAX_CONTEXT: usize = 10;

/// Most tokens in a corpus (10⁷: 10⁷·w·V f64 features would be gigabytes; the experiment
/// uses thousands).
pub const MAX_TOKENS: usize = 10_000_000;

/// The token ids of `s`.
///
/// # Errors
/// A character outside [`ALPHABET`].
pub fn encode(s: &str) -> Result<Vec<u8>> {
    s.chars()
        .map(|c| {
            ALPHABET
                .chars()
                .position(|a| a == c)
                .map(|i| i as u8)
                .ok_or_else(|| {
                    Error::invalid("text", c, format!("not a token (alphabet: \"{ALPHABET}\")"))
                })
        })
        .collect()
}

/// The text of token ids (ids ≥ V print as `?`).
pub fn decode(tokens: &[u8]) -> String {
    tokens
        .iter()
        .map(|&t| ALPHABET.chars().nth(usize::from(t)).unwrap_or('?'))
        .collect()
}

/// The canary prefix's token ids.
pub fn canary_prefix() -> Vec<u8> {
    encode(CANARY_PREFIX).expect("the prefix is in the alphabet")
}

/// The `digits` decimal digits of `secret` (most significant first) as token ids.
pub fn secret_tokens(secret: u64, digits: usize) -> Vec<u8> {
    let mut out = vec![0u8; digits];
    let mut s = secret;
    for t in out.iter_mut().rev() {
        *t = (s % 10) as u8;
        s /= 10;
    }
    out
}

/// A random sparse order-1 Markov chain over the alphabet (module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct MarkovText {
    /// Per token, its successors and their cumulative probabilities (last = 1).
    successors: Vec<Vec<(u8, f64)>>,
}

impl MarkovText {
    /// Draws a chain where every token has `fanout` successors.
    ///
    /// # Errors
    /// `fanout` not in 1..=V.
    pub fn random(fanout: usize, rng: &mut SimRng) -> Result<MarkovText> {
        if !(1..=VOCAB).contains(&fanout) {
            return Err(Error::invalid(
                "fanout",
                fanout,
                format!("must be in 1..={VOCAB}"),
            ));
        }
        let successors = (0..VOCAB)
            .map(|_| {
                let next = permutation(rng, VOCAB);
                let w: Vec<f64> = (0..fanout)
                    .map(|_| -(1.0 - rng.random::<f64>()).ln())
                    .collect();
                let total: f64 = w.iter().sum();
                let mut acc = 0.0;
                let mut row: Vec<(u8, f64)> = next[..fanout]
                    .iter()
                    .zip(&w)
                    .map(|(&t, &wi)| {
                        acc += wi / total;
                        (t as u8, acc)
                    })
                    .collect();
                row.last_mut().expect("fanout >= 1").1 = 1.0;
                row
            })
            .collect();
        Ok(MarkovText { successors })
    }

    /// `len` tokens of text, starting from a uniform token.
    pub fn generate(&self, len: usize, rng: &mut SimRng) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        if len == 0 {
            return out;
        }
        let mut t = rng.random_range(0..VOCAB) as u8;
        out.push(t);
        while out.len() < len {
            let u: f64 = rng.random();
            let row = &self.successors[usize::from(t)];
            t = row
                .iter()
                .find(|(_, c)| u < *c)
                .map_or(row[row.len() - 1].0, |&(s, _)| s);
            out.push(t);
        }
        out
    }
}

/// The training corpus: `tokens` tokens of `chain` text with `canary` inserted `insertions`
/// times at uniformly random positions (drawn from `positions`; text from `text`).
///
/// # Errors
/// More than [`MAX_TOKENS`] tokens in all.
pub fn corpus(
    chain: &MarkovText,
    tokens: usize,
    canary: &[u8],
    insertions: usize,
    text: &mut SimRng,
    positions: &mut SimRng,
) -> Result<Vec<u8>> {
    let total = (canary.len() as u64)
        .saturating_mul(insertions as u64)
        .saturating_add(tokens as u64);
    if total > MAX_TOKENS as u64 {
        return Err(Error::invalid(
            "tokens",
            total,
            format!("the corpus may hold at most {MAX_TOKENS} tokens"),
        ));
    }
    let body = chain.generate(tokens, text);
    let mut at: Vec<usize> = (0..insertions)
        .map(|_| positions.random_range(0..=tokens))
        .collect();
    at.sort_unstable();
    let mut out = Vec::with_capacity(total as usize);
    let mut from = 0;
    for &p in &at {
        out.extend_from_slice(&body[from..p]);
        out.extend_from_slice(canary);
        from = p;
    }
    out.extend_from_slice(&body[from..]);
    Ok(out)
}

/// Writes the one-hot features of one window (`window.len()` = w) into `col` (length w·V,
/// zeroed by the caller).
pub fn one_hot(window: &[u8], col: &mut [f64]) {
    for (i, &t) in window.iter().enumerate() {
        col[i * VOCAB + usize::from(t)] = 1.0;
    }
}

/// Number of features of a window of `w` tokens.
pub fn features(w: usize) -> usize {
    w * VOCAB
}

/// Checks a context width w ∈ 1..=[`MAX_CONTEXT`].
///
/// # Errors
/// [`Error::InvalidParameter`] naming `context`.
pub fn check_context(w: usize) -> Result<usize> {
    if (1..=MAX_CONTEXT).contains(&w) {
        Ok(w)
    } else {
        Err(Error::invalid(
            "context",
            w,
            format!("must be in 1..={MAX_CONTEXT} (the canary prefix's length)"),
        ))
    }
}

/// The next-token examples of a token stream: one per position t ≥ w (module docs).
///
/// # Errors
/// A bad `w`, a stream of at most w tokens, a token id ≥ V.
pub fn windows(tokens: &[u8], w: usize) -> Result<Examples> {
    check_context(w)?;
    if tokens.len() <= w {
        return Err(Error::invalid(
            "tokens",
            tokens.len(),
            format!("need more than the context width {w}"),
        ));
    }
    if let Some(t) = tokens.iter().find(|&&t| usize::from(t) >= VOCAB) {
        return Err(Error::invalid("token", t, format!("ids are < {VOCAB}")));
    }
    let n = tokens.len() - w;
    let p = features(w);
    let mut x = DMatrix::<f64>::zeros(p, n);
    for (t, mut col) in x.column_iter_mut().enumerate() {
        one_hot(&tokens[t..t + w], col.as_mut_slice());
    }
    let y = tokens[w..].iter().map(|&t| f64::from(t)).collect();
    Examples::new(x, y, Task::Classification { classes: VOCAB })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_named;

    #[test]
    fn alphabet_and_codes() {
        assert_eq!(ALPHABET.chars().count(), VOCAB);
        assert_eq!(encode("0 9m").unwrap(), vec![0, 10, 9, 11]);
        assert_eq!(decode(&canary_prefix()), CANARY_PREFIX);
        assert_eq!(secret_tokens(123_456, 6), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(secret_tokens(42, 4), vec![0, 0, 4, 2]);
        assert!(encode("x").unwrap_err().to_string().contains("alphabet"));
    }

    /// The chain follows its sparse rows: every bigram of the text is an allowed transition.
    /// Mutation checked: drawing the next token uniformly (ignoring the row) fails it.
    #[test]
    fn text_follows_the_sparse_chain() {
        let chain = MarkovText::random(3, &mut rng_named(1, 0, "chain")).unwrap();
        let text = chain.generate(5000, &mut rng_named(1, 0, "text"));
        assert_eq!(text.len(), 5000);
        for w in text.windows(2) {
            let row = &chain.successors[usize::from(w[0])];
            assert!(row.iter().any(|&(s, _)| s == w[1]), "{w:?}");
        }
    }

    /// Mutation checked: inserting an empty slice instead of the canary fails it.
    #[test]
    fn canaries_are_inserted_whole() {
        let chain = MarkovText::random(4, &mut rng_named(2, 0, "chain")).unwrap();
        let mut canary = canary_prefix();
        canary.extend(secret_tokens(987_654, 6));
        let c = corpus(
            &chain,
            1000,
            &canary,
            5,
            &mut rng_named(2, 0, "text"),
            &mut rng_named(2, 0, "pos"),
        )
        .unwrap();
        assert_eq!(c.len(), 1000 + 5 * canary.len());
        let found = c
            .windows(canary.len())
            .filter(|w| *w == canary.as_slice())
            .count();
        assert!(found >= 5, "{found}");
        let ex = windows(&c, 3).unwrap();
        assert_eq!(ex.len(), c.len() - 3);
        assert_eq!(ex.features(), 3 * VOCAB);
        // Column 0 is the one-hot of the first three tokens; its label the fourth.
        let col: Vec<usize> = (0..3 * VOCAB).filter(|&i| ex.x()[(i, 0)] == 1.0).collect();
        let want: Vec<usize> = (0..3).map(|i| i * VOCAB + usize::from(c[i])).collect();
        assert_eq!(col, want);
        assert_eq!(ex.y()[0], f64::from(c[3]));
        assert!(windows(&c, 0).is_err() && windows(&c, 11).is_err());
        assert!(windows(&c[..3], 3).is_err());
    }
}
