//! T1 — the privacy–robustness–utility trilemma: components that are sound as stated. The
//! published headline rate is **not verified** and not implemented.
//!
//! Setting: n workers, f Byzantine (β = f/n), each honest worker holds m records of norm ≤ C
//! and its transcript is (ε,δ)-DP in its own records; the target is the honest mean μ_H.
//!
//! - [`T1Coupling`] (any mechanism, kind exact, derived here): in the population limit
//!   (n → ∞ with β fixed, where the Byzantine workers' transcripts can be drawn from the
//!   exact mixture of step 3 of the proof), ‖μ̂ − μ_H‖ ≥ C·k*/m with
//!   k* = max{k ≤ m : TV_k ≤ β/(1−β)}, TV_k = (e^{kε} − 1 + 2δ_k)/(e^{kε} + 1),
//!   δ_k = k·e^{(k−1)ε}·δ. Parameters `C`, `m`, `n`, `f`, `eps`, `delta`. For small β,
//!   k* ≈ 2β/ε. Dimension-free; vanishes as ε → ∞ or f = 0.
//! - [`T1Gauss`] (Gaussian-mechanism protocols, kind exact, derived here from R1):
//!   ‖μ̂ − μ_H‖ ≥ min(σ_DP·Φ⁻¹(1/(2(1−β))), C), σ_DP = (2C/m)·√(2 ln(1.25/δ))/ε (one
//!   shot). Capped at C: every record has norm ≤ C, so the honest mean has norm ≤ C and the
//!   constant output 0 already errs by at most C; no lower bound can exceed that. Needs
//!   0 < ε < 1 and 0 < δ < 1 (the calibration's range).
//!
//! Both are +∞ for 2f ≥ n.
//!
//! Proof sketch: `proofs/allouah2023privacy.md`.
//!
//! # References
//! Y. Allouah, R. Guerraoui, N. Gupta, R. Pinot, J. Stephan, "On the Privacy-Robustness-Utility
//! Trilemma in Distributed Learning", ICML 2023, PMLR 202, arXiv 2302.04787.

use super::{Args, Bound, BoundValue, Citation, Family, Hypothesis, Info, Kind, ParamSpec, Status};
use crate::Result;

/// T1's coupling floor (any DP mechanism).
pub struct T1Coupling;
/// T1's coupling floor for Gaussian-mechanism protocols.
pub struct T1Gauss;

/// TV_k = (e^{kε} − 1 + 2δ_k)/(e^{kε} + 1), the largest total variation between transcripts of
/// datasets k records apart under (ε,δ)-DP (capped at 1). Computed through expm1 so that
/// TV_k ≈ kε/2 keeps full relative precision as kε → 0; saturates at 1 when e^{kε} or δ_k
/// overflows.
pub fn tv_k(k: u32, eps: f64, delta: f64) -> f64 {
    let k = f64::from(k);
    let dk = if delta == 0.0 {
        0.0
    } else {
        k * ((k - 1.0) * eps).exp() * delta
    };
    let em1 = (k * eps).exp_m1();
    if !em1.is_finite() || !dk.is_finite() {
        return 1.0;
    }
    ((em1 + 2.0 * dk) / (em1 + 2.0)).min(1.0)
}

const CITATION: Citation = Citation {
    authors: "Y. Allouah, R. Guerraoui, N. Gupta, R. Pinot, J. Stephan",
    title: "On the Privacy-Robustness-Utility Trilemma in Distributed Learning",
    venue: "ICML 2023, PMLR 202",
    year: 2023,
    arxiv: Some("2302.04787"),
    doi: None,
};

static INFO_C: Info = Info {
    id: "T1-coupling",
    key: "allouah2023privacy",
    name: "trilemma coupling floor (any DP mechanism)",
    family: Family::Trilemma,
    kind: Kind::Exact,
    tight: false,
    status: Status::DerivedHere,
    statement: "population limit (n -> infinity, beta = f/n fixed): with honest workers' transcripts (eps, delta)-DP, ||mu_hat - mu_H|| >= C k*/m, k* = max{k <= m : TV_k <= beta/(1-beta)}",
    upper: None,
    hypotheses: &[
        Hypothesis { name: "local (eps, delta)-DP", statement: "each honest worker's transcript is DP in its own m records of norm <= C" },
        Hypothesis { name: "population limit", statement: "n -> infinity with beta = f/n fixed: the Byzantine workers' transcripts follow the coupling mixture exactly (for finite n the two worlds differ by the sampling error of f draws)" },
        Hypothesis { name: "2f < n", statement: "honest majority (else +inf)" },
    ],
    params: &[
        ParamSpec::opt("C", "record norm bound", 1.0),
        ParamSpec::req("m", "records per worker"),
        ParamSpec::req("n", "workers"),
        ParamSpec::req("f", "Byzantine workers"),
        ParamSpec::req("eps", "privacy parameter epsilon"),
        ParamSpec::opt("delta", "privacy parameter delta", 0.0),
    ],
    citation: CITATION,
    grows_with: &["C", "f"],
    shrinks_with: &["eps", "n"],
    example: &[("C", 1.0), ("m", 100.0), ("n", 20.0), ("f", 2.0), ("eps", 0.1), ("delta", 0.0)],
};

static INFO_G: Info = Info {
    id: "T1-gauss",
    key: "allouah2023privacy",
    name: "trilemma coupling floor (Gaussian mechanism)",
    family: Family::Trilemma,
    kind: Kind::Exact,
    tight: false,
    status: Status::DerivedHere,
    statement: "for protocols sending worker means plus N(0, sigma_DP^2 I), ||mu_hat - mu_H|| >= min(sigma_DP PhiInv(1/(2(1-beta))), C), sigma_DP = (2C/m) sqrt(2 ln(1.25/delta))/eps; capped at C because outputting 0 errs by at most C",
    upper: None,
    hypotheses: &[
        Hypothesis { name: "Gaussian mechanism", statement: "honest workers send their mean plus N(0, sigma_DP^2 I), calibrated for eps < 1" },
        Hypothesis { name: "0 < eps < 1", statement: "the Gaussian mechanism's calibration range" },
        Hypothesis { name: "2f < n", statement: "honest majority (else +inf)" },
    ],
    params: &[
        ParamSpec::opt("C", "record norm bound", 1.0),
        ParamSpec::req("m", "records per worker"),
        ParamSpec::req("n", "workers"),
        ParamSpec::req("f", "Byzantine workers"),
        ParamSpec::req("eps", "privacy parameter epsilon"),
        ParamSpec::req("delta", "privacy parameter delta in (0, 1)"),
    ],
    citation: CITATION,
    grows_with: &["C", "f"],
    shrinks_with: &["eps", "n", "m", "delta"],
    example: &[("C", 1.0), ("m", 10.0), ("n", 20.0), ("f", 2.0), ("eps", 0.5), ("delta", 1e-5)],
};

impl Bound for T1Coupling {
    fn info(&self) -> &'static Info {
        &INFO_C
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let c = a.positive("C")?;
        let m = a.count_pos("m")?;
        let n = a.count_pos("n")?;
        let f = a.count("f")?;
        let eps = a.non_negative("eps")?;
        let delta = a.fraction("delta")?;
        if 2 * f >= n {
            return Ok(BoundValue::infinite(format!("2f = {} >= n = {n}", 2 * f)));
        }
        let beta = f as f64 / n as f64;
        let budget = beta / (1.0 - beta);
        let m32 = u32::try_from(m).map_err(|_| crate::Error::invalid("m", m, "too large"))?;
        // TV_k grows with k: count the admissible k (at most m).
        let mut k = 0u32;
        while k < m32 && tv_k(k + 1, eps, delta) <= budget {
            k += 1;
        }
        Ok(BoundValue::finite(c * f64::from(k) / m as f64))
    }
}

impl Bound for T1Gauss {
    fn info(&self) -> &'static Info {
        &INFO_G
    }
    fn compute(&self, a: &Args<'_>) -> Result<BoundValue> {
        let c = a.positive("C")?;
        let m = a.count_pos("m")? as f64;
        let n = a.count_pos("n")?;
        let f = a.count("f")?;
        let eps = a.positive("eps")?;
        let delta = a.positive("delta")?;
        if eps >= 1.0 {
            return Err(a.outside("0 < eps < 1", format!("eps = {eps}")));
        }
        if delta >= 1.0 {
            return Err(a.outside("Gaussian mechanism", format!("delta = {delta} >= 1")));
        }
        if 2 * f >= n {
            return Ok(BoundValue::infinite(format!("2f = {} >= n = {n}", 2 * f)));
        }
        let beta = f as f64 / n as f64;
        let s = super::dwork2014algorithmic::gaussian_mech_sigma(2.0 * c / m, eps, delta);
        // Records have norm <= C, so ||mu_H|| <= C and the output 0 errs by at most C: the
        // two-world floor never exceeds C (it does for tiny eps without the cap).
        Ok(BoundValue::finite(
            (s * super::phi_inv_half_plus(beta / (2.0 * (1.0 - beta)))).min(c),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // beta = 0.1, budget 1/9; pure DP, eps = 0.1: TV_k = tanh(k·0.05); tanh(0.1) =
        // 0.0997 <= 0.1111, tanh(0.15) = 0.1489 > it: k* = 2, value 2/100.
        let v = T1Coupling
            .eval(&INFO_C.example_params())
            .unwrap()
            .as_f64()
            .unwrap();
        assert_eq!(v, 0.02);
        assert!((tv_k(1, 0.1, 0.0) - (0.05f64).tanh()).abs() < 1e-15);
        // Gaussian: sigma_DP = 0.2·sqrt(2 ln 125000)/0.5 = 1.937922…; × PhiInv(1/1.8) =
        // 0.1397103 → 0.27075.
        let g = T1Gauss
            .eval(&INFO_G.example_params())
            .unwrap()
            .as_f64()
            .unwrap();
        let s = 0.2 * (2.0 * 125000f64.ln()).sqrt() / 0.5;
        assert!((g - s * 0.1397102988818621).abs() < 1e-12, "{g}");
        // The example: C = 1, m = 1, n = 20, f = 6, eps = 0.5, delta = 1e-5. The
        // uncapped floor is sigma_DP·PhiInv(1/1.4) = 19.38·0.5659 = 10.97 > C: capped at C = 1.
        let p = crate::params::Params::new()
            .with("C", 1.0)
            .with("m", 1.0)
            .with("n", 20.0)
            .with("f", 6.0)
            .with("eps", 0.5)
            .with("delta", 1e-5);
        assert_eq!(T1Gauss.eval(&p).unwrap().as_f64(), Some(1.0));
    }
}
