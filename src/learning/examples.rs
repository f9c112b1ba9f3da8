//! Labelled examples: the data a model trains on.
//!
//! Features are stored one example per **column** (p × N, column-major), so a batch of
//! examples is a contiguous block of columns and a dense layer's forward pass is one matrix
//! product Wx for the whole batch.

use crate::{Error, Result};
use nalgebra::{DMatrix, DMatrixView};
use serde::{Deserialize, Serialize};

/// What the targets are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Real-valued targets.
    Regression,
    /// Class indices 0..classes (stored as exact integers in f64).
    Classification {
        /// Number of classes (≥ 2).
        classes: usize,
    },
}

/// A labelled data set: features p × N (one example per column), targets, and which
/// examples are canaries (planted records whose memorization the audits measure).
#[derive(Clone, Debug, PartialEq)]
pub struct Examples {
    x: DMatrix<f64>,
    y: Vec<f64>,
    task: Task,
    canary: Vec<bool>,
}

impl Examples {
    /// A data set from features (p × N), targets (N) and the task; no canaries.
    ///
    /// # Errors
    /// Shape mismatch, non-finite values, a class label that is not an integer in
    /// 0..classes, or fewer than two classes.
    pub fn new(x: DMatrix<f64>, y: Vec<f64>, task: Task) -> Result<Examples> {
        if x.ncols() != y.len() {
            return Err(Error::invalid(
                "targets",
                y.len(),
                format!("there are {} examples", x.ncols()),
            ));
        }
        if let Some(v) = x.iter().find(|v| !v.is_finite()) {
            return Err(Error::invalid("feature", v, "features must be finite"));
        }
        match task {
            Task::Regression => {
                if let Some(v) = y.iter().find(|v| !v.is_finite()) {
                    return Err(Error::invalid("target", v, "targets must be finite"));
                }
            }
            Task::Classification { classes } => {
                if classes < 2 {
                    return Err(Error::invalid(
                        "classes",
                        classes,
                        "classification needs at least two classes",
                    ));
                }
                if let Some(v) = y
                    .iter()
                    .find(|&&v| !(v >= 0.0 && v < classes as f64 && v.fract() == 0.0))
                {
                    return Err(Error::invalid(
                        "label",
                        v,
                        format!("labels must be integers in 0..{classes}"),
                    ));
                }
            }
        }
        let canary = vec![false; y.len()];
        Ok(Examples { x, y, task, canary })
    }

    /// Marks examples as canaries.
    ///
    /// # Errors
    /// A length that differs from the number of examples.
    pub fn with_canaries(mut self, canary: Vec<bool>) -> Result<Examples> {
        if canary.len() != self.y.len() {
            return Err(Error::invalid(
                "canary flags",
                canary.len(),
                format!("there are {} examples", self.y.len()),
            ));
        }
        self.canary = canary;
        Ok(self)
    }

    /// Number of examples N.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Number of features p.
    pub fn features(&self) -> usize {
        self.x.nrows()
    }

    /// The task.
    pub fn task(&self) -> Task {
        self.task
    }

    /// Features, p × N.
    pub fn x(&self) -> &DMatrix<f64> {
        &self.x
    }

    /// Targets.
    pub fn y(&self) -> &[f64] {
        &self.y
    }

    /// Canary flags, one per example.
    pub fn canaries(&self) -> &[bool] {
        &self.canary
    }

    /// The examples at `idx`, in that order (canary flags travel with them).
    pub fn select(&self, idx: &[usize]) -> Examples {
        Examples {
            x: self.x.select_columns(idx),
            y: idx.iter().map(|&i| self.y[i]).collect(),
            task: self.task,
            canary: idx.iter().map(|&i| self.canary[i]).collect(),
        }
    }

    /// Appends `other`'s examples (canary flags included) after this set's.
    ///
    /// # Errors
    /// A different feature count or task.
    pub fn append(&mut self, other: &Examples) -> Result<()> {
        if other.features() != self.features() {
            return Err(Error::DimensionMismatch {
                what: "appended examples' features".into(),
                expected: self.features(),
                got: other.features(),
            });
        }
        if other.task != self.task {
            return Err(Error::invalid(
                "appended examples",
                format!("{:?}", other.task),
                format!("the examples are {:?}", self.task),
            ));
        }
        let (p, n) = (self.features(), self.len());
        // Column-major: the appended examples' columns follow this set's in one buffer.
        let mut values: Vec<f64> = std::mem::replace(&mut self.x, DMatrix::zeros(0, 0))
            .data
            .into();
        values.extend_from_slice(other.x.as_slice());
        self.x = DMatrix::from_vec(p, n + other.len(), values);
        self.y.extend_from_slice(&other.y);
        self.canary.extend_from_slice(&other.canary);
        Ok(())
    }

    /// Adds `offset` (length p) to every example's features (a client's feature shift).
    ///
    /// # Errors
    /// A length other than p, or a shift that makes a feature non-finite (nothing changes).
    pub fn shift_features(&mut self, offset: &[f64]) -> Result<()> {
        if offset.len() != self.features() {
            return Err(Error::DimensionMismatch {
                what: "feature offset".into(),
                expected: self.features(),
                got: offset.len(),
            });
        }
        let shifted = DMatrix::from_fn(self.x.nrows(), self.x.ncols(), |r, c| {
            self.x[(r, c)] + offset[r]
        });
        if let Some(v) = shifted.iter().find(|v| !v.is_finite()) {
            return Err(Error::invalid("feature", v, "features must be finite"));
        }
        self.x = shifted;
        Ok(())
    }

    /// All examples as one batch (no copy).
    pub fn batch(&self) -> Batch<'_> {
        Batch {
            x: self.x.as_view(),
            y: &self.y,
        }
    }
}

/// A batch of B examples: features p × B (one per column) and their targets.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    /// Features, p × B.
    pub x: DMatrixView<'a, f64>,
    /// Targets, B of them.
    pub y: &'a [f64],
}

impl Batch<'_> {
    /// Number of examples B.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }
}
