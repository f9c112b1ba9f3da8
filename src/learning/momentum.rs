//! The D-SGD client's heavy-ball momentum, m ← β·m + (1 − β)·g (no bias correction; ByzFL's
//! order of operations), in one place: the training loop steps a column with [`step`], and a
//! dense model can fold the step into its weight-gradient products instead of writing g
//! ([`Momentum`], `DenseNet::loss_grad_into_momentum`), the same bits entry by entry.

/// A client's momentum column m and the step's coefficients, for a gradient stepped into it
/// part by part as it is computed (each part folded straight from a product's registers, or
/// written and then stepped with [`step`]): each entry m ← m·β + α·g, with g rounded as the
/// plain gradient is, so the column ends with the bits [`step`] gives on the whole gradient.
/// β ≠ 0 (with β = 0 the loop copies g, which keeps −0 where `m·0 + 1·g` would not).
pub(crate) struct Momentum<'m> {
    /// The column (the gradient's layout), or the part of it a product steps.
    pub m: &'m mut [f64],
    /// β.
    pub beta: f64,
    /// 1 − β, as the loop computes it in f64.
    pub alpha: f64,
    /// Whether m comes from beyond L2 (the round's momenta together exceed it), so that the
    /// products stepping it ask for its lines ahead of their multiply-adds.
    pub from_memory: bool,
    /// Whether every entry of g stepped so far was finite.
    finite: bool,
}

impl<'m> Momentum<'m> {
    /// The column `m` of a step with coefficients β ≠ 0 and α = 1 − β.
    pub fn new(m: &'m mut [f64], beta: f64, alpha: f64) -> Momentum<'m> {
        debug_assert!(beta != 0.0, "invariant: β = 0 copies g");
        Momentum {
            m,
            beta,
            alpha,
            from_memory: false,
            finite: true,
        }
    }

    /// The same column, marked as coming from memory where `from_memory`.
    pub fn streaming(self, from_memory: bool) -> Momentum<'m> {
        Momentum {
            from_memory,
            ..self
        }
    }

    /// Steps the entries `range` with `fold`, which takes them as a column of their own and
    /// returns whether its g was finite, or `None` where it could not (nothing written).
    pub fn fold(
        &mut self,
        range: std::ops::Range<usize>,
        fold: impl FnOnce(&mut Momentum<'_>) -> Option<bool>,
    ) -> Option<()> {
        let mut part =
            Momentum::new(&mut self.m[range], self.beta, self.alpha).streaming(self.from_memory);
        let finite = fold(&mut part)?;
        self.finite &= finite;
        Some(())
    }

    /// Steps the entries `range` from their gradient `g` ([`step`]).
    pub fn step(&mut self, range: std::ops::Range<usize>, g: &[f64]) {
        self.finite &= step(&mut self.m[range], g, self.beta, self.alpha);
    }

    /// Whether every entry of g stepped so far was finite.
    pub fn finite(&self) -> bool {
        self.finite
    }
}

/// m ← m·β + α·g entry by entry (β = 0: m ← g), in the widest vectors; returns whether every
/// entry of g is finite, found by summing g·0 over 32 lanes in the same pass (±0 for a
/// finite g, NaN otherwise) while g is read anyway: a second pass over it cost 2–3 % of the
/// D-SGD round (docs/performance.md, "fused13"). With a non-finite g, m is still written.
pub(crate) fn step(m: &mut [f64], g: &[f64], beta: f64, alpha: f64) -> bool {
    if beta == 0.0 {
        m.copy_from_slice(g);
        return crate::data::all_finite(g);
    }
    crate::simd::widest(
        #[inline(always)]
        || {
            let mut zeros = [0.0f64; 32];
            let mut ms = m.chunks_exact_mut(32);
            let mut gs = g.chunks_exact(32);
            for (m, g) in (&mut ms).zip(&mut gs) {
                for ((m, g), z) in m.iter_mut().zip(g).zip(&mut zeros) {
                    *m = *m * beta + alpha * g;
                    *z += g * 0.0;
                }
            }
            let mut tail = 0.0;
            for (m, g) in ms.into_remainder().iter_mut().zip(gs.remainder()) {
                *m = *m * beta + alpha * g;
                tail += g * 0.0;
            }
            zeros.iter().fold(tail, |s, z| s + z) == 0.0
        },
    )
}
