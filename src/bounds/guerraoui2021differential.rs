//! O4 — DP and Byzantine resilience in SGD do not simply add up: the VN-ratio condition of a
//! Byzantine-resilient rule F needs √(E‖G − g‖²)/‖g‖ < 1/η_F(n, f), while DP noise on a
//! batch-b gradient clipped at C has per-coordinate std ≈ 2C√(2 ln(1.25/δ))/(bε). Hence
//!
//!   b ≳ √d·η_F(n, f)·2C·√(2 ln(1.25/δ))/(ε·‖g‖):  the batch size grows like √d.
//!
//! Catalogue entry [`O4`]: parameters `d`, `n`, `f`, `eps`, `delta`, `C` (default 1), `g`
//! (gradient norm); η_F is Krum's η(n, f) (B8). Kind order (derived scaling, ≳), status
//! derived here. Hypothesis n ≥ 2f + 3 (Krum's), 0 < δ < 1.
//!
//! Proof sketch: `proofs/guerraoui2021differential.md`.
//!
//! # References
//! R. Guerraoui, N. Gupta, R. Pinot, S. Rouault, J. Stephan, "Differential Privacy and
//! Byzantine Resilience in SGD: Do They Add Up?", PODC 2021, arXiv 2102.08166.

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// O4 (order).
pub struct O4;

static INFO: Info = Info {
    id: "O4",
    key: "guerraoui2021differential",
    name: "batch size for DP + Byzantine-resilient SGD",
    family: Family::Other,
    kind: Kind::Order,
    status: Status::DerivedHere,
    statement: "DP noise meets Krum's VN-ratio condition only with batch size b >~ sqrt(d) eta(n,f) 2C sqrt(2 ln(1.25/delta))/(eps ||g||)",
    upper: None,
    hypotheses: &[
        Hypothesis { name: "n >= 2f+3", statement: "Krum's requirement (eta_F = Krum's eta(n, f))" },
        Hypothesis { name: "Gaussian mechanism", statement: "per-example clipping at C, Gaussian noise, 0 < delta < 1" },
    ],
    params: &[
        ParamSpec::req("d", "dimension"),
        ParamSpec::req("n", "workers"),
        ParamSpec::req("f", "Byzantine workers"),
        ParamSpec::req("eps", "privacy parameter epsilon"),
        ParamSpec::req("delta", "privacy parameter delta"),
        ParamSpec::opt("C", "clipping norm", 1.0),
        ParamSpec::req("g", "norm of the true gradient"),
    ],
    citation: Citation {
        authors: "R. Guerraoui, N. Gupta, R. Pinot, S. Rouault, J. Stephan",
        title: "Differential Privacy and Byzantine Resilience in SGD: Do They Add Up?",
        venue: "PODC 2021",
        year: 2021,
        arxiv: Some("2102.08166"),
        doi: None,
    },
    grows_with: &["d", "f", "C"],
    shrinks_with: &["eps", "delta", "g"],
    example: &[("d", 100.0), ("n", 10.0), ("f", 2.0), ("eps", 1.0), ("delta", 1e-5), ("C", 1.0), ("g", 1.0)],
};

impl Bound for O4 {
    fn info(&self) -> &'static Info {
        &INFO
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let d = a.count_pos("d")? as f64;
        let n = a.count_pos("n")?;
        let f = a.count("f")?;
        let eps = a.positive("eps")?;
        let delta = a.positive("delta")?;
        let c = a.positive("C")?;
        let g = a.positive("g")?;
        if delta >= 1.0 {
            return Err(a.outside("Gaussian mechanism", format!("delta = {delta} >= 1")));
        }
        let eta = super::blanchard2017machine::krum_eta(n, f)
            .ok_or_else(|| a.outside("n >= 2f+3", format!("n = {n} < 2f + 3 = {}", 2 * f + 3)))?;
        let s = super::dwork2014algorithmic::gaussian_mech_sigma(2.0 * c, eps, delta);
        Ok(BoundValue::finite(d.sqrt() * eta * s / g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // sqrt(100)·6·2·sqrt(2 ln 125000)/1 = 120·4.8448052… = 581.3766…
        let v = O4.eval(&INFO.example_params()).unwrap().as_f64().unwrap();
        assert!(
            (v - 120.0 * (2.0 * 125000f64.ln()).sqrt()).abs() < 1e-10,
            "{v}"
        );
    }
}
