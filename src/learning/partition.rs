//! How training examples are split among the h honest users.
//!
//! Every scheme returns one list of indices into the training examples per honest client
//! (client 0 first). Byzantine clients hold no data, as in ByzFL. The schemes:
//!
//! | spec | scheme | randomness |
//! |---|---|---|
//! | `iid` | ByzFL's `iid`: a uniform permutation, then [`array_split`] into h contiguous parts | one permutation |
//! | `dirichlet:alpha=A` | ByzFL's `dirichlet_niid`: per class, Dirichlet(A·1_h) proportions cut that class's examples | K Dirichlet draws (repeated while a client is empty) |
//! | `gamma:G` | ByzFL's `gamma_similarity_niid`: the first ⌊n·G⌋ examples iid, the rest extreme | one permutation of ⌊n·G⌋ |
//! | `extreme` | ByzFL's `extreme_niid`: sort by (label, index), [`array_split`] | none |
//! | `feature_shift:scale=S` | iid indices, then each client's features shifted by its own offset | permutation + h·p normals |
//! | `zipf:s=S` | user sizes ∝ 1/rank^S (at least one each), iid contents | one permutation |
//!
//! plus [`assigned`], the partition a user's CSV gives through its client column.
//!
//! # The ByzFL schemes, exactly
//!
//! ByzFL 0.0.11 (`fed_framework/data_distributor.py`) partitions the indices of its training
//! `Subset` in that Subset's order. Here the "index" of an example is its position in the
//! training [`Examples`], so a caller that wants ByzFL's behaviour passes the training
//! examples in the Subset's order ([`super::sources::train_test_split`] returns them in the
//! order torch's `random_split` would). Python's and NumPy's random generators are replaced
//! by ChaCha streams, so the random schemes agree with ByzFL in distribution and in every
//! deterministic step, not draw for draw.
//!
//! - [`array_split`] is `np.array_split(idx, h)`: contiguous parts, the first `len % h` of
//!   them one longer.
//! - **extreme**: `sorted(zip(labels, idx))` sorts by (label, index), then `array_split`.
//!   Each client sees one or two labels (more when a class is smaller than a client's share).
//! - **γ-similarity**: s = ⌊n·γ⌋ (Python's `int(len(idx)·γ)`, the f64 product truncated); the
//!   first s indices are shuffled and split (the iid parts), the remaining n − s get the extreme
//!   sort-and-split, and client i receives its iid part followed by its extreme part. γ = 1 is
//!   iid, γ = 0 is extreme.
//! - **Dirichlet**: for each class k = 0..K (K from the task, ByzFL counts the classes
//!   present), proportions p_k ~ Dirichlet(α·1_h); the N_k positions of class k (in index
//!   order) are cut at ⌊cumsum(p_k)_j·N_k⌋, j = 0..h−1 (`np.split` at
//!   `(cumsum(p)[:-1]·N_k).astype(int)`), and client j receives piece j of every class, class 0
//!   first. **Difference from ByzFL**: ByzFL lets a client end up empty (and then crashes at
//!   its first batch); here the whole draw is repeated, from the same stream, until every
//!   client holds an example, at most [`MAX_DIRICHLET_DRAWS`] times, after which the first empty
//!   client is named in the error. The partition is therefore Dirichlet conditioned on no empty
//!   client; at α ≥ 1 with a few examples per class and client the condition is almost always
//!   met at the first draw.
//!
//! Dirichlet draws use g_j = G_j·U_j^{1/α} with G_j ~ Gamma(α+1, 1) and U_j uniform on (0, 1]
//! (Marsaglia & Tsang, "A simple method for generating gamma variables", ACM TOMS 2000, §6),
//! normalised in log space, so that tiny α (10⁻³, where Gamma(α) draws underflow to 0) still
//! gives a proper point of the simplex. Draw order: class after class, client after client, one
//! Gamma then one uniform.
//!
//! # Feature shift
//!
//! Label-skew schemes change P(y) across clients; feature shift changes P(x): each client's
//! data comes from its own "domain" (a scanner, a hospital, a camera), as in the feature-skew
//! setting of Hsieh, Phanishayee, Mutlu & Gibbons, "The Non-IID Data Quagmire of Decentralized
//! Machine Learning", ICML 2020, arXiv 1910.00189, and Li, Jiang, Zhang, Kamp & Dou, "FedBN:
//! Federated Learning on Non-IID Features via Local Batch Normalization", ICLR 2021, arXiv
//! 2102.07623. lbounds' transform (its own, the simplest covariate shift with one knob):
//! indices are split iid, then client i's features become x + b_i with
//! b_i = S·σ̂ ⊙ z_i, z_i ~ N(0, I_p) drawn client after client, where σ̂ is the per-feature
//! standard deviation over all the examples given. S is thus the offset in units of each
//! feature's spread. Only [`Partition::clients`] applies the shift; [`Partition::indices`]
//! returns the iid indices.
//!
//! # Zipf user sizes
//!
//! Client i (rank i + 1) holds 1 + a_i examples, where a_0..a_{h−1} apportion the n − h
//! remaining examples in proportion to 1/rank^S by largest remainders (Hamilton's method,
//! ties to the lower rank). So every client holds at least one example, client 0 holds the
//! most, and the sizes sum to n. Contents: one uniform permutation cut into contiguous pieces
//! of these sizes, client 0 first.
//!
//! # Measured heterogeneity
//!
//! [`label_skew`] is the mean, over clients, of the total-variation distance between the
//! client's label histogram and the pooled one (0 for identical label mixes, at most
//! 1 − 1/K for one label per client with balanced classes).

use super::examples::{Examples, Task};
use super::sources::{key_values, number};
use crate::rng::{permutation, SimRng};
use crate::{Error, Result};
use rand::RngExt;
use rand_distr::{Gamma, StandardNormal};
use serde::{Deserialize, Serialize};

/// How many Dirichlet draws [`Partition::indices`] tries before reporting an empty client.
pub const MAX_DIRICHLET_DRAWS: usize = 1000;

/// A partition scheme (see the [module docs](self)).
///
/// Serialised with a `kind` tag: `{"kind": "dirichlet", "alpha": 0.5}`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Partition {
    /// Uniformly at random, sizes differing by at most one.
    Iid,
    /// Dirichlet(α) label skew (smaller α: fewer labels per client).
    Dirichlet {
        /// Concentration α > 0.
        alpha: f64,
    },
    /// ByzFL's γ-similarity: a fraction γ iid, the rest sorted by label.
    Gamma {
        /// Similarity γ ∈ [0, 1].
        gamma: f64,
    },
    /// ByzFL's extreme non-iid: sorted by label.
    Extreme,
    /// iid contents, each client's features shifted by its own offset.
    FeatureShift {
        /// Offset scale S ≥ 0, in units of each feature's standard deviation.
        scale: f64,
    },
    /// iid contents, Zipf user sizes.
    Zipf {
        /// Exponent S ≥ 0 (0: equal sizes).
        s: f64,
    },
}

/// A scheme's canonical name, the names [`Partition::parse`] accepts for it (ByzFL's spellings
/// too), and its one key with the default.
type Scheme = (
    &'static str,
    &'static [&'static str],
    Option<(&'static str, f64)>,
);

const SCHEMES: [Scheme; 6] = [
    ("iid", &["iid"], None),
    (
        "dirichlet",
        &["dirichlet", "dirichlet_niid"],
        Some(("alpha", 0.5)),
    ),
    (
        "gamma",
        &["gamma", "gamma_similarity_niid"],
        Some(("gamma", 0.5)),
    ),
    ("extreme", &["extreme", "extreme_niid"], None),
    ("feature_shift", &["feature_shift"], Some(("scale", 1.0))),
    ("zipf", &["zipf"], Some(("s", 1.1))),
];

impl Partition {
    /// Parses a spec: `iid`, `dirichlet:alpha=0.5` (or `dirichlet:0.5`), `gamma:0.5` (or
    /// `gamma_similarity_niid:gamma=0.5`), `extreme` (`extreme_niid`),
    /// `feature_shift:scale=1`, `zipf:s=1.1`. A scheme's parameter may be omitted: α = 0.5,
    /// γ = 0.5, scale 1, s = 1.1.
    ///
    /// # Errors
    /// [`Error::Unknown`] for an unknown scheme or key (closest as hint), [`Error::Parse`] for
    /// a malformed argument, [`Error::InvalidParameter`] for a value outside the scheme's range
    /// or an argument to a scheme without parameters.
    pub fn parse(spec: &str) -> Result<Partition> {
        let (name, args) = spec.split_once(':').unwrap_or((spec, ""));
        let name = name.trim().to_ascii_lowercase().replace('-', "_");
        let (canonical, _, param) = SCHEMES
            .iter()
            .find(|(_, names, _)| names.contains(&name.as_str()))
            .ok_or_else(|| {
                Error::unknown(
                    "partition (known: iid, dirichlet, gamma, extreme, feature_shift, zipf)",
                    &name,
                    SCHEMES
                        .iter()
                        .flat_map(|(_, names, _)| names.iter().copied()),
                )
            })?;
        let value = match param {
            None if args.trim().is_empty() => 0.0,
            None => {
                return Err(Error::invalid(
                    "partition",
                    crate::error::printable(spec),
                    format!("{canonical} takes no parameters"),
                ))
            }
            Some((key, default)) => {
                let args = args.trim();
                if !args.is_empty() && !args.contains('=') {
                    number(key, args)?
                } else {
                    match key_values(canonical, args, &[key])?.first() {
                        Some((_, v)) => number(key, v)?,
                        None => *default,
                    }
                }
            }
        };
        let p = match *canonical {
            "iid" => Partition::Iid,
            "dirichlet" => Partition::Dirichlet { alpha: value },
            "gamma" => Partition::Gamma { gamma: value },
            "extreme" => Partition::Extreme,
            "feature_shift" => Partition::FeatureShift { scale: value },
            _ => Partition::Zipf { s: value },
        };
        p.validate()?;
        Ok(p)
    }

    /// The canonical spec (`dirichlet:alpha=0.5`), which [`Partition::parse`] reads back.
    pub fn spec(&self) -> String {
        match *self {
            Partition::Iid => "iid".into(),
            Partition::Extreme => "extreme".into(),
            Partition::Dirichlet { alpha } => format!("dirichlet:alpha={alpha}"),
            Partition::Gamma { gamma } => format!("gamma:gamma={gamma}"),
            Partition::FeatureShift { scale } => format!("feature_shift:scale={scale}"),
            Partition::Zipf { s } => format!("zipf:s={s}"),
        }
    }

    /// Checks the parameter.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`]: α not finite and > 0, γ outside [0, 1], a negative or
    /// non-finite scale or exponent.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Partition::Iid | Partition::Extreme => Ok(()),
            Partition::Dirichlet { alpha } => {
                crate::error::check_positive("alpha", alpha).map(drop)
            }
            Partition::Gamma { gamma } => {
                if (0.0..=1.0).contains(&gamma) {
                    Ok(())
                } else {
                    Err(Error::invalid("gamma", gamma, "must lie in [0, 1]"))
                }
            }
            Partition::FeatureShift { scale } => {
                crate::error::check_non_negative("scale", scale).map(drop)
            }
            Partition::Zipf { s } => crate::error::check_non_negative("s", s).map(drop),
        }
    }

    /// Whether the scheme reads class labels (Dirichlet, γ-similarity, extreme).
    pub fn needs_labels(&self) -> bool {
        matches!(
            self,
            Partition::Dirichlet { .. } | Partition::Gamma { .. } | Partition::Extreme
        )
    }

    /// One index list per honest client (client 0 first), indices into `examples`, each list
    /// in the order the module docs give.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for zero clients, a label scheme on a regression task, and
    /// a client left without examples (named; for Dirichlet after [`MAX_DIRICHLET_DRAWS`]
    /// draws), and what [`Partition::validate`] rejects.
    pub fn indices(
        &self,
        examples: &Examples,
        honest: usize,
        rng: &mut SimRng,
    ) -> Result<Vec<Vec<usize>>> {
        self.validate()?;
        if honest == 0 {
            return Err(Error::invalid(
                "honest clients",
                0,
                "need at least one honest client to hold the data",
            ));
        }
        let n = examples.len();
        if honest > n {
            // Refused before any per-client list is allocated (`--clients 1e12` asked for
            // 24 bytes per client of memory before the empty clients were found).
            return Err(Error::invalid(
                "honest clients",
                honest,
                format!("{n} examples cannot give each of {honest} honest clients one"),
            ));
        }
        let labels = || -> Result<(&[f64], usize)> {
            match examples.task() {
                Task::Classification { classes } => Ok((examples.y(), classes)),
                Task::Regression => Err(Error::invalid(
                    "partition",
                    self.spec(),
                    "needs class labels, and the task is regression",
                )),
            }
        };
        let parts = match *self {
            Partition::Iid | Partition::FeatureShift { .. } => {
                array_split(&permutation(rng, n), honest)
            }
            Partition::Extreme => array_split(&by_label(labels()?.0, 0..n), honest),
            Partition::Gamma { gamma } => {
                let labels = labels()?.0;
                // Python's int(len(idx) * gamma): the f64 product, truncated.
                let s = ((n as f64 * gamma) as usize).min(n);
                let iid = array_split(&permutation(rng, s), honest);
                let niid = array_split(&by_label(labels, s..n), honest);
                iid.into_iter()
                    .zip(niid)
                    .map(|(mut a, b)| {
                        a.extend(b);
                        a
                    })
                    .collect()
            }
            Partition::Dirichlet { alpha } => {
                let (labels, classes) = labels()?;
                return dirichlet(labels, classes, alpha, honest, rng, self);
            }
            Partition::Zipf { s } => {
                if n < honest {
                    return Err(empty_client(self, n, n, honest));
                }
                let sizes = zipf_sizes(n, honest, s);
                let perm = permutation(rng, n);
                let mut start = 0;
                sizes
                    .iter()
                    .map(|&m| {
                        start += m;
                        perm[start - m..start].to_vec()
                    })
                    .collect()
            }
        };
        check_nonempty(self, &parts, n)?;
        Ok(parts)
    }

    /// The federation of a data set: `examples` split into a training and a test part
    /// ([`super::sources::train_test_split`] from `split_rng`, the test part holding
    /// `test_fraction` of the examples; `None` when that is empty), and the training part
    /// shared among `honest` clients by [`Partition::clients`] from `partition_rng`. The one
    /// place `lbounds train` and the sweeps build their clients, so a seed gives both the
    /// same users.
    ///
    /// # Errors
    /// As [`super::sources::train_test_split`] and [`Partition::clients`].
    pub fn federate(
        &self,
        examples: &Examples,
        test_fraction: f64,
        honest: usize,
        split_rng: &mut SimRng,
        partition_rng: &mut SimRng,
    ) -> Result<(Vec<Examples>, Option<Examples>)> {
        let (train, test) =
            super::sources::train_test_split(examples.len(), test_fraction, split_rng)?;
        let train = examples.select(&train);
        let test = (!test.is_empty()).then(|| examples.select(&test));
        Ok((self.clients(&train, honest, partition_rng)?, test))
    }

    /// Each honest client's examples: [`Partition::indices`], selected (canary flags travel
    /// with the examples), with the feature shift applied for
    /// [`Partition::FeatureShift`] (drawn after the indices, from the same stream).
    ///
    /// # Errors
    /// As [`Partition::indices`].
    pub fn clients(
        &self,
        examples: &Examples,
        honest: usize,
        rng: &mut SimRng,
    ) -> Result<Vec<Examples>> {
        let parts = self.indices(examples, honest, rng)?;
        let mut clients: Vec<Examples> = parts.iter().map(|p| examples.select(p)).collect();
        if let Partition::FeatureShift { scale } = *self {
            let sd = feature_sd(examples);
            for client in &mut clients {
                let offset: Vec<f64> = sd
                    .iter()
                    .map(|s| scale * s * rng.sample::<f64, _>(StandardNormal))
                    .collect();
                client.shift_features(&offset)?;
            }
        }
        Ok(clients)
    }
}

/// `np.array_split(idx, parts)`: contiguous pieces, the first `len % parts` one longer.
///
/// # Panics
/// Never for `parts ≥ 1`; `parts = 0` is an invariant violation.
pub fn array_split(idx: &[usize], parts: usize) -> Vec<Vec<usize>> {
    assert!(parts > 0, "invariant: array_split into zero parts");
    let (base, extra) = (idx.len() / parts, idx.len() % parts);
    let mut start = 0;
    (0..parts)
        .map(|i| {
            let len = base + usize::from(i < extra);
            start += len;
            idx[start - len..start].to_vec()
        })
        .collect()
}

/// The indices `range` sorted by (label, index): Python's `sorted(zip(labels, idx))`.
fn by_label(labels: &[f64], range: std::ops::Range<usize>) -> Vec<usize> {
    let mut idx: Vec<usize> = range.collect();
    // Labels are validated finite integers, so total_cmp is the numeric order; the sort is
    // stable and the indices start increasing, so ties keep index order.
    idx.sort_by(|&a, &b| labels[a].total_cmp(&labels[b]));
    idx
}

/// ByzFL's `dirichlet_niid`, repeated while a client is empty (see the module docs).
fn dirichlet(
    labels: &[f64],
    classes: usize,
    alpha: f64,
    honest: usize,
    rng: &mut SimRng,
    scheme: &Partition,
) -> Result<Vec<Vec<usize>>> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &y) in labels.iter().enumerate() {
        by_class[y as usize].push(i);
    }
    // invariant: alpha > 0 and finite was validated, so α + 1 is a valid Gamma shape.
    let gamma = Gamma::new(alpha + 1.0, 1.0).expect("invariant: alpha validated");
    let mut last_err = None;
    for _ in 0..MAX_DIRICHLET_DRAWS {
        let mut parts: Vec<Vec<usize>> = vec![Vec::new(); honest];
        let mut log_g = vec![0.0; honest];
        for members in &by_class {
            for lg in log_g.iter_mut() {
                let g: f64 = rng.sample(gamma);
                let u: f64 = 1.0 - rng.random::<f64>();
                *lg = g.ln() + u.ln() / alpha;
            }
            let max = log_g.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let w: Vec<f64> = log_g.iter().map(|l| (l - max).exp()).collect();
            let total: f64 = w.iter().sum();
            let nk = members.len();
            let mut cum = 0.0;
            let mut start = 0;
            for (j, part) in parts.iter_mut().enumerate() {
                let end = if j + 1 == honest {
                    nk
                } else {
                    cum += w[j] / total;
                    // numpy's astype(int) truncates; clamp for a cumsum that rounds past 1.
                    ((cum * nk as f64) as usize).clamp(start, nk)
                };
                part.extend_from_slice(&members[start..end]);
                start = end;
            }
        }
        match check_nonempty(scheme, &parts, labels.len()) {
            Ok(()) => return Ok(parts),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.expect("invariant: at least one draw was made"))
}

/// Zipf sizes: 1 each, plus the n − h rest apportioned ∝ 1/rank^s by largest remainders.
fn zipf_sizes(n: usize, honest: usize, s: f64) -> Vec<usize> {
    let w: Vec<f64> = (1..=honest).map(|r| (r as f64).powf(-s)).collect();
    let total: f64 = w.iter().sum();
    let rest = (n - honest) as f64;
    let quota: Vec<f64> = w.iter().map(|wi| rest * wi / total).collect();
    let mut sizes: Vec<usize> = quota.iter().map(|q| 1 + q.floor() as usize).collect();
    let assigned: usize = sizes.iter().sum();
    let mut order: Vec<usize> = (0..honest).collect();
    // Largest fractional part first; the stable sort keeps lower ranks first on ties.
    order.sort_by(|&a, &b| (quota[b] - quota[b].floor()).total_cmp(&(quota[a] - quota[a].floor())));
    for &i in order.iter().take(n.saturating_sub(assigned)) {
        sizes[i] += 1;
    }
    sizes
}

/// The per-feature standard deviation (population, divisor N) of all examples.
fn feature_sd(examples: &Examples) -> Vec<f64> {
    let x = examples.x();
    let n = x.ncols().max(1) as f64;
    x.row_iter()
        .map(|row| {
            let mean = row.sum() / n;
            (row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt()
        })
        .collect()
}

fn empty_client(scheme: &Partition, client: usize, n: usize, honest: usize) -> Error {
    Error::invalid(
        "partition",
        scheme.spec(),
        format!(
            "honest client {client} gets no examples ({n} examples among {honest} honest clients)"
        ),
    )
}

fn check_nonempty(scheme: &Partition, parts: &[Vec<usize>], n: usize) -> Result<()> {
    match parts.iter().position(Vec::is_empty) {
        Some(i) => Err(empty_client(scheme, i, n, parts.len())),
        None => Ok(()),
    }
}

/// The partition a client column gives: honest client i (0 ≤ i < `honest`) receives the rows
/// whose client id is i, in row order; rows of ids `honest..n` belong to Byzantine clients and
/// are unused.
///
/// `names`, when the column held names rather than integer ids, gives the name of each id
/// (ids numbered by first appearance), for the errors.
///
/// # Errors
/// [`Error::InvalidParameter`] for an id ≥ n (naming the row, and the cell for a name) and for
/// an honest client without rows (naming the client).
pub fn assigned(
    clients: &[usize],
    names: Option<&[String]>,
    honest: usize,
    n: usize,
) -> Result<Vec<Vec<usize>>> {
    if let Some((row, &c)) = clients.iter().enumerate().find(|&(_, &c)| c >= n) {
        let (value, client) = match names.and_then(|names| names.get(c)) {
            Some(name) => {
                let name = crate::error::printable(name);
                (
                    name.clone(),
                    format!("`{name}`, client {c} by first appearance,"),
                )
            }
            None => (c.to_string(), format!("client {c}")),
        };
        return Err(Error::invalid(
            "client column",
            value,
            format!(
                "data row {} names {client} and there are {n} clients (ids 0..{})",
                row + 1,
                n.saturating_sub(1)
            ),
        ));
    }
    // The first honest client without rows is among the first rows + 1 ids (each row gives
    // one client its rows), so the lists are allocated only once every honest client has
    // rows, hence at most one per row (`--clients 1e12` allocated 24 bytes per client).
    let mut has_rows = vec![false; honest.min(clients.len() + 1)];
    for &c in clients {
        if let Some(has) = has_rows.get_mut(c) {
            *has = true;
        }
    }
    if let Some(i) = has_rows.iter().position(|has| !has) {
        return Err(Error::invalid(
            "client column",
            i,
            format!("honest client {i} has no rows"),
        ));
    }
    let mut parts: Vec<Vec<usize>> = vec![Vec::new(); honest];
    for (row, &c) in clients.iter().enumerate() {
        if c < honest {
            parts[c].push(row);
        }
    }
    Ok(parts)
}

/// Mean over clients of the total-variation distance ½Σ_k |p_i(k) − q(k)| between client i's
/// label histogram p_i and the pooled histogram q of all listed examples; `None` for a
/// regression task or when no client holds an example. Empty clients are skipped.
pub fn label_skew(examples: &Examples, parts: &[Vec<usize>]) -> Option<f64> {
    let Task::Classification { classes } = examples.task() else {
        return None;
    };
    let y = examples.y();
    let histogram = |idx: &[usize]| {
        let mut h = vec![0.0; classes];
        for &i in idx {
            h[y[i] as usize] += 1.0;
        }
        h
    };
    let mut pooled = vec![0.0; classes];
    let mut hists = Vec::new();
    for p in parts.iter().filter(|p| !p.is_empty()) {
        let h = histogram(p);
        pooled.iter_mut().zip(&h).for_each(|(a, b)| *a += b);
        hists.push((h, p.len() as f64));
    }
    let total: f64 = pooled.iter().sum();
    if hists.is_empty() {
        return None;
    }
    let tv = |h: &[f64], m: f64| {
        0.5 * h
            .iter()
            .zip(&pooled)
            .map(|(a, b)| (a / m - b / total).abs())
            .sum::<f64>()
    };
    Some(hists.iter().map(|(h, m)| tv(h, *m)).sum::<f64>() / hists.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_named;
    use nalgebra::DMatrix;

    fn labelled(y: &[usize], classes: usize) -> Examples {
        Examples::new(
            DMatrix::from_fn(1, y.len(), |_, j| j as f64),
            y.iter().map(|&v| v as f64).collect(),
            Task::Classification { classes },
        )
        .unwrap()
    }

    fn parts(spec: &str, e: &Examples, h: usize, name: &str) -> Result<Vec<Vec<usize>>> {
        Partition::parse(spec)?.indices(e, h, &mut rng_named(3, 0, name))
    }

    #[test]
    fn array_split_matches_numpy() {
        // np.array_split(np.arange(10), 3) -> [0 1 2 3], [4 5 6], [7 8 9]
        let idx: Vec<usize> = (0..10).collect();
        assert_eq!(
            array_split(&idx, 3),
            vec![vec![0, 1, 2, 3], vec![4, 5, 6], vec![7, 8, 9]]
        );
        // np.array_split(np.arange(2), 3) -> [0], [1], []
        assert_eq!(array_split(&[0, 1], 3), vec![vec![0], vec![1], vec![]]);
    }

    /// Known answer, by hand from ByzFL's `extreme_niid`: labels
    /// [2,0,1,0,2,1,0,2,1,0] sorted by (label, index) give
    /// 1,3,6,9 | 2,5,8 | 0,4,7, split 4/3/3 among 3 clients.
    #[test]
    fn extreme_known_answer() {
        let e = labelled(&[2, 0, 1, 0, 2, 1, 0, 2, 1, 0], 3);
        let p = parts("extreme", &e, 3, "x").unwrap();
        assert_eq!(p, vec![vec![1, 3, 6, 9], vec![2, 5, 8], vec![0, 4, 7]]);
        // extreme_niid is ByzFL's spelling; no randomness, so any stream gives the same.
        assert_eq!(parts("extreme_niid", &e, 3, "y").unwrap(), p);
    }

    /// Known answer, by hand from ByzFL's `gamma_similarity_niid` with γ = 0.5 on the labels
    /// above: s = int(10·0.5) = 5; the first five indices {0..4} are shuffled and split 2/2/1;
    /// the rest 5..9 with labels [1,0,2,1,0] sort to 6,9,5,8,7 and split 6,9 | 5,8 | 7.
    /// γ = 0.3: int(10·0.3) = int(3.0000000000000004) = 3.
    #[test]
    fn gamma_known_answer() {
        let e = labelled(&[2, 0, 1, 0, 2, 1, 0, 2, 1, 0], 3);
        let p = parts("gamma:0.5", &e, 3, "g").unwrap();
        assert_eq!(p.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4, 2]);
        assert_eq!(
            (&p[0][2..], &p[1][2..], &p[2][1..]),
            (&[6, 9][..], &[5, 8][..], &[7][..])
        );
        let mut iid: Vec<usize> = vec![p[0][0], p[0][1], p[1][0], p[1][1], p[2][0]];
        iid.sort_unstable();
        assert_eq!(iid, vec![0, 1, 2, 3, 4]);
        let p = parts("gamma_similarity_niid:gamma=0.3", &e, 3, "g").unwrap();
        // iid 3 → 1/1/1; extreme over 3..9 (labels [0,2,1,0,2,1,0]): 3,6,9 | 5,8 | 4,7.
        assert_eq!(
            (&p[0][1..], &p[1][1..], &p[2][1..]),
            (&[3, 6, 9][..], &[5, 8][..], &[4, 7][..])
        );
        // γ = 0 is extreme, γ = 1 is iid (same stream: same permutation).
        assert_eq!(
            parts("gamma:0", &e, 3, "g").unwrap(),
            parts("extreme", &e, 3, "g").unwrap()
        );
        assert_eq!(
            parts("gamma:1", &e, 3, "g").unwrap(),
            parts("iid", &e, 3, "g").unwrap()
        );
    }

    /// iid: a uniform permutation cut by array_split, fixed by the stream's name.
    ///
    /// Mutation that fails it: array_split giving the longer parts to the last clients.
    #[test]
    fn iid_sizes_and_determinism() {
        let e = labelled(&[0, 1, 0, 1, 0, 1, 0, 1, 0, 1], 2);
        let p = parts("iid", &e, 3, "iid").unwrap();
        assert_eq!(p.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 3, 3]);
        let mut all: Vec<usize> = p.concat();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(parts("iid", &e, 3, "iid").unwrap(), p);
        assert_ne!(parts("iid", &e, 3, "other").unwrap(), p);
    }

    fn balanced(n_per: usize, classes: usize) -> Examples {
        let y: Vec<usize> = (0..n_per * classes).map(|i| i % classes).collect();
        labelled(&y, classes)
    }

    /// Dirichlet(α): huge α gives every client the pooled label mix (label skew near 0),
    /// tiny α one label per client (skew near 1 − 1/K), and the skew falls as α grows.
    ///
    /// Mutation that fails it: drawing one Dirichlet vector for all classes instead of one per
    /// class (every class is then cut at the same proportions, so every client's label mix is
    /// the pooled one and the skew is ≈ 0 at every α).
    #[test]
    fn dirichlet_alpha_controls_label_skew() {
        let e = balanced(200, 10);
        let skew = |alpha: f64| {
            let p = parts(&format!("dirichlet:alpha={alpha}"), &e, 5, "dir").unwrap();
            let mut all = p.concat();
            all.sort_unstable();
            assert_eq!(all, (0..2000).collect::<Vec<_>>());
            label_skew(&e, &p).unwrap()
        };
        let (huge, one, tiny) = (skew(1e6), skew(1.0), skew(1e-3));
        // At α = 10⁶ the proportions are 1/5 ± 5·10⁻⁴; cutting 200 per class leaves rounding
        // of ≤ 1 example per class and client: TV ≤ 10·(1/400)/2-ish. Bound 0.03.
        assert!(huge < 0.03, "{huge}");
        // At α = 10⁻³ each class goes almost entirely to one client; with 5 clients and 10
        // classes a client holds about 2 classes of 10: TV ≈ 0.8. Bound 0.7.
        assert!(tiny > 0.7, "{tiny}");
        assert!(huge < one && one < tiny, "{huge} {one} {tiny}");
    }

    /// Dirichlet never leaves a client empty: with more clients than classes and tiny α the
    /// draw is impossible and the error names a client; with α = 1 the redraws succeed.
    ///
    /// Mutation that fails it: returning the first draw without `check_nonempty`.
    #[test]
    fn dirichlet_redraws_or_names_the_empty_client() {
        let e = balanced(3, 2);
        let err = parts("dirichlet:1e-3", &e, 5, "d").unwrap_err().to_string();
        assert!(
            err.contains("honest client") && err.contains("no examples"),
            "{err}"
        );
        for name in ["a", "b", "c", "d", "e"] {
            let p = parts("dirichlet:1", &e, 3, name).unwrap();
            assert!(p.iter().all(|c| !c.is_empty()));
        }
    }

    /// Zipf sizes: at least one each, sum n, decreasing with rank; s = 0 is equal sizes.
    /// Known answer: n = 10, h = 3, s = 1: rest 7 ∝ (1, 1/2, 1/3)/(11/6) = 3.818, 1.909, 1.273
    /// → floors 3, 1, 1 (+1 each = 4, 2, 2), and the 2 examples left go to the largest
    /// remainders 0.909 (client 1) and 0.818 (client 0): sizes 5, 3, 2.
    ///
    /// Mutation that fails it: giving the leftover examples to the smallest remainders.
    #[test]
    fn zipf_known_answer() {
        assert_eq!(zipf_sizes(10, 3, 1.0), vec![5, 3, 2]);
        assert_eq!(zipf_sizes(10, 3, 0.0), vec![4, 3, 3]);
        assert_eq!(zipf_sizes(3, 3, 2.0), vec![1, 1, 1]);
        let s = zipf_sizes(10_000, 50, 1.1);
        assert_eq!(s.iter().sum::<usize>(), 10_000);
        assert!(s.windows(2).all(|w| w[0] >= w[1]) && s[49] >= 1);
        let e = balanced(5, 2);
        let p = parts("zipf:s=1", &e, 3, "z").unwrap();
        assert_eq!(p.iter().map(Vec::len).collect::<Vec<_>>(), vec![5, 3, 2]);
        let err = parts("zipf", &e, 11, "z").unwrap_err().to_string();
        assert!(err.contains("10 examples cannot give each of 11"), "{err}");
    }

    /// More honest clients than examples are refused before any per-client list exists,
    /// whatever the scheme (fails if the count check goes: `--clients 1e12` then asks for
    /// terabytes), and an empty client left by a scheme is named.
    #[test]
    fn empty_clients_are_named() {
        let e = balanced(1, 2);
        for spec in [
            "iid",
            "extreme",
            "feature_shift",
            "dirichlet:alpha=1",
            "gamma:0.5",
        ] {
            for h in [3, usize::MAX] {
                let err = parts(spec, &e, h, "x").unwrap_err().to_string();
                assert!(
                    err.contains(&format!("2 examples cannot give each of {h} honest")),
                    "{spec}: {err}"
                );
            }
        }
        // γ = 0.5 of 2 between 2: one iid example to client 0, one sorted example to client 0.
        let err = parts("gamma:0.5", &e, 2, "x").unwrap_err().to_string();
        assert!(err.contains("honest client 1 gets no examples"), "{err}");
        assert!(parts("iid", &e, 0, "x").is_err());
    }

    #[test]
    fn specs_parse_and_round_trip() {
        for (spec, want) in [
            ("iid", Partition::Iid),
            ("dirichlet:alpha=0.1", Partition::Dirichlet { alpha: 0.1 }),
            ("dirichlet_niid:0.1", Partition::Dirichlet { alpha: 0.1 }),
            ("dirichlet", Partition::Dirichlet { alpha: 0.5 }),
            ("gamma:0.66", Partition::Gamma { gamma: 0.66 }),
            (
                "gamma_similarity_niid:gamma=0.33",
                Partition::Gamma { gamma: 0.33 },
            ),
            ("extreme_niid", Partition::Extreme),
            (
                "feature_shift:scale=2",
                Partition::FeatureShift { scale: 2.0 },
            ),
            ("zipf:s=1.1", Partition::Zipf { s: 1.1 }),
        ] {
            let p = Partition::parse(spec).unwrap();
            assert_eq!(p, want, "{spec}");
            assert_eq!(Partition::parse(&p.spec()).unwrap(), p);
        }
        for (spec, msg) in [
            ("dirichlett", "did you mean `dirichlet`"),
            ("dirichlet:alph=1", "did you mean `alpha`"),
            ("dirichlet:alpha=0", "finite and > 0"),
            ("gamma:1.5", "[0, 1]"),
            ("iid:3", "takes no parameters"),
            ("zipf:s=x", "not a number"),
            ("feature_shift:scale=-1", "scale"),
        ] {
            let e = Partition::parse(spec).unwrap_err().to_string();
            assert!(e.contains(msg), "{spec}: {e}");
        }
    }

    #[test]
    fn label_schemes_refuse_regression() {
        let e = Examples::new(DMatrix::zeros(1, 4), vec![0.5; 4], Task::Regression).unwrap();
        assert!(parts("extreme", &e, 2, "r")
            .unwrap_err()
            .to_string()
            .contains("regression"));
        assert_eq!(parts("iid", &e, 2, "r").unwrap().len(), 2);
        assert_eq!(label_skew(&e, &[vec![0, 1]]), None);
    }

    /// Feature shift: every client's features are its iid examples' features plus one offset
    /// vector of size ≈ S·σ̂, different across clients, labels untouched.
    ///
    /// Mutation that fails it: drawing one offset for all clients (the offsets then agree).
    #[test]
    fn feature_shift_offsets_each_client() {
        let base = Partition::Iid
            .indices(&balanced(50, 2), 4, &mut rng_named(3, 0, "fs"))
            .unwrap();
        let e = balanced(50, 2);
        let clients = Partition::FeatureShift { scale: 2.0 }
            .clients(&e, 4, &mut rng_named(3, 0, "fs"))
            .unwrap();
        let sd = feature_sd(&e)[0];
        let mut offsets = Vec::new();
        for (c, idx) in clients.iter().zip(&base) {
            assert_eq!(c.y(), e.select(idx).y());
            let diffs: Vec<f64> = c
                .x()
                .iter()
                .zip(e.select(idx).x().iter())
                .map(|(a, b)| a - b)
                .collect();
            assert!(diffs.iter().all(|d| (d - diffs[0]).abs() < 1e-12));
            offsets.push(diffs[0]);
        }
        assert!(offsets.windows(2).all(|w| w[0] != w[1]), "{offsets:?}");
        // |offset| = 2·σ̂·|z|: below 2·σ̂·5 for every client with overwhelming probability.
        assert!(offsets.iter().all(|o| o.abs() < 10.0 * sd), "{offsets:?}");
    }

    #[test]
    fn assigned_from_a_client_column() {
        let p = assigned(&[1, 0, 2, 1, 3], None, 2, 4).unwrap();
        assert_eq!(p, vec![vec![1], vec![0, 3]]);
        let e = assigned(&[1, 0, 4], None, 2, 4).unwrap_err().to_string();
        assert!(e.contains("data row 3 names client 4 and"), "{e}");
        // A column of names: the error names the cell, not only its number.
        let names: Vec<String> = ["bob", "alice", "carol"].map(String::from).to_vec();
        let e = assigned(&[0, 1, 0, 2], Some(&names), 2, 2)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`client column` = carol: data row 4 names `carol`, client 2 by first"),
            "{e}"
        );
        let e = assigned(&[1, 1, 2], None, 2, 4).unwrap_err().to_string();
        assert!(e.contains("honest client 0 has no rows"), "{e}");
        // More honest clients than rows: the first without rows is named, and no list per
        // client is allocated (fails, aborting on the allocation, if the lists come first).
        let e = assigned(&[0, 1, 1, 3], None, usize::MAX - 1, usize::MAX)
            .unwrap_err()
            .to_string();
        assert!(e.contains("honest client 2 has no rows"), "{e}");
    }
}
