//! Privacy accountants: compose [`PrivacyCost`]s and report the ε spent at a given δ.
//!
//! | accountant | accepts | conversion |
//! |---|---|---|
//! | [`RdpAccountant`] | subsampled Gaussian, zCDP, pure | RDP → (ε, δ), [`rdp`] |
//! | [`PldAccountant`] | subsampled Gaussian | exact δ(ε) of a dominating PLD, [`pld`] |
//! | [`ZcdpAccountant`] | zCDP, pure, Gaussian (q = 1) | ρ → (ε, δ), [`zcdp`] |
//! | [`ApproxAccountant`] | pure, approximate | basic composition, [`pure`] |
//!
//! An accountant refuses a cost it cannot represent with [`Error::Unsupported`] rather than
//! converting silently. [`calibrate`] inverts the RDP and PLD accountants.

pub mod calibrate;
pub mod fft;
pub mod pld;
pub mod pure;
pub mod rdp;
pub mod zcdp;

use super::{check_delta, PrivacyCost};
use crate::privacy::round_up_or_zero;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Composes privacy costs and converts the total to (ε, δ).
pub trait Accountant {
    /// Stable snake_case name.
    fn name(&self) -> &'static str;
    /// Records `count` invocations of a mechanism of cost `cost`.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for a cost this accountant cannot represent;
    /// [`Error::InvalidParameter`] for an invalid cost.
    fn compose(&mut self, cost: PrivacyCost, count: u64) -> Result<()>;
    /// The smallest ε (rounded up) such that everything composed so far is (ε, δ)-DP.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for δ ∉ (0, 1).
    fn epsilon(&self, delta: f64) -> Result<f64>;
}

/// Which accountant a calibration or the CLI uses for the subsampled Gaussian.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountantKind {
    /// Rényi DP over dp-accounting's default orders.
    #[default]
    Rdp,
    /// Privacy loss distribution, connect-the-dots, grid 1e-4.
    Pld,
}

impl AccountantKind {
    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            AccountantKind::Rdp => "rdp",
            AccountantKind::Pld => "pld",
        }
    }
}

/// ε of `steps` steps of the Poisson-subsampled Gaussian (rate q, noise multiplier σ) at δ.
///
/// # Errors
/// [`Error::InvalidParameter`] naming the first bad argument.
pub fn epsilon(kind: AccountantKind, q: f64, sigma: f64, steps: u64, delta: f64) -> Result<f64> {
    match kind {
        AccountantKind::Rdp => rdp::epsilon(q, sigma, steps, delta),
        AccountantKind::Pld => pld::epsilon(q, sigma, steps, delta),
    }
}

/// δ at ε of `steps` steps of the Poisson-subsampled Gaussian (rate q, noise multiplier σ),
/// the inverse of [`epsilon`].
///
/// # Errors
/// [`Error::InvalidParameter`] naming the first bad argument.
pub fn delta(kind: AccountantKind, q: f64, sigma: f64, steps: u64, epsilon: f64) -> Result<f64> {
    match kind {
        AccountantKind::Rdp => rdp::delta(q, sigma, steps, epsilon),
        AccountantKind::Pld => pld::delta(q, sigma, steps, epsilon),
    }
}

fn unsupported(acc: &str, cost: &PrivacyCost) -> Error {
    Error::Unsupported(format!("the {acc} accountant cannot compose {cost:?}"))
}

/// RDP accountant over a fixed grid of orders (default: dp-accounting's).
#[derive(Clone, Debug)]
pub struct RdpAccountant {
    orders: Vec<f64>,
    rdp: Vec<f64>,
    /// The RDP curve of the last subsampled Gaussian composed, by (σ, q): a training loop
    /// composes the same step every round, and the curve's series dominate its cost.
    last_step: Option<(f64, f64, Vec<f64>)>,
}

impl Default for RdpAccountant {
    fn default() -> Self {
        let orders = rdp::default_orders();
        let rdp = vec![0.0; orders.len()];
        RdpAccountant {
            orders,
            rdp,
            last_step: None,
        }
    }
}

impl RdpAccountant {
    /// The accumulated RDP at each order.
    pub fn rdp(&self) -> (&[f64], &[f64]) {
        (&self.orders, &self.rdp)
    }
}

impl Accountant for RdpAccountant {
    fn name(&self) -> &'static str {
        "rdp"
    }
    fn compose(&mut self, cost: PrivacyCost, count: u64) -> Result<()> {
        cost.validate()?;
        if count == 0 {
            // Nothing composed; also keeps 0·∞ = NaN out of the sums.
            return Ok(());
        }
        let c = count as f64;
        match cost {
            PrivacyCost::SubsampledGaussian {
                noise_multiplier,
                sample_rate,
            } => {
                let cached = self.last_step.as_ref().filter(|(s, q, _)| {
                    s.to_bits() == noise_multiplier.to_bits()
                        && q.to_bits() == sample_rate.to_bits()
                });
                let one = match cached {
                    Some((_, _, one)) => one,
                    None => {
                        let one = rdp::subsampled_gaussian_rdp_vec(
                            sample_rate,
                            noise_multiplier,
                            &self.orders,
                        )?;
                        &self
                            .last_step
                            .insert((noise_multiplier, sample_rate, one))
                            .2
                    }
                };
                for (r, o) in self.rdp.iter_mut().zip(one) {
                    *r += c * o;
                }
            }
            PrivacyCost::Zcdp { rho } => {
                for (r, a) in self.rdp.iter_mut().zip(&self.orders) {
                    *r += c * a * rho;
                }
            }
            // ε-DP ⇒ D_α ≤ min(ε, αε²/2) (Mironov 2017 Prop. 3; Bun & Steinke 2016 Prop. 1.4).
            PrivacyCost::Pure { epsilon } => {
                for (r, a) in self.rdp.iter_mut().zip(&self.orders) {
                    *r += c * epsilon.min(a * epsilon * epsilon / 2.0);
                }
            }
            PrivacyCost::Approx { .. } => return Err(unsupported("rdp", &cost)),
        }
        Ok(())
    }
    fn epsilon(&self, delta: f64) -> Result<f64> {
        Ok(rdp::rdp_to_epsilon(&self.orders, &self.rdp, delta)?.0)
    }
}

/// PLD accountant for Poisson-subsampled Gaussian steps (add/remove-one, both directions).
#[derive(Clone, Debug)]
pub struct PldAccountant {
    events: Vec<(f64, f64, u64)>,
    interval: f64,
}

impl Default for PldAccountant {
    fn default() -> Self {
        PldAccountant {
            events: Vec::new(),
            interval: pld::DEFAULT_INTERVAL,
        }
    }
}

impl PldAccountant {
    /// An accountant with grid interval `h` instead of 1e-4.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for h not finite and positive.
    pub fn with_interval(h: f64) -> Result<Self> {
        Ok(PldAccountant {
            events: Vec::new(),
            interval: crate::error::check_positive("value_discretization_interval", h)?,
        })
    }
}

impl Accountant for PldAccountant {
    fn name(&self) -> &'static str {
        "pld"
    }
    fn compose(&mut self, cost: PrivacyCost, count: u64) -> Result<()> {
        cost.validate()?;
        match cost {
            PrivacyCost::SubsampledGaussian {
                noise_multiplier,
                sample_rate,
            } => {
                if count > 0 {
                    // Merge with an identical previous event: one self-composition.
                    match self.events.last_mut() {
                        Some(e) if e.0 == noise_multiplier && e.1 == sample_rate => e.2 += count,
                        _ => self.events.push((noise_multiplier, sample_rate, count)),
                    }
                }
                Ok(())
            }
            _ => Err(unsupported("pld", &cost)),
        }
    }
    fn epsilon(&self, delta: f64) -> Result<f64> {
        pld::epsilon_for_events(&self.events, delta, self.interval)
    }
}

/// zCDP accountant: ρ adds up; ε from [`zcdp::epsilon_tight`].
#[derive(Clone, Debug, Default)]
pub struct ZcdpAccountant {
    rho: f64,
}

impl ZcdpAccountant {
    /// The accumulated ρ.
    pub fn rho(&self) -> f64 {
        self.rho
    }
}

impl Accountant for ZcdpAccountant {
    fn name(&self) -> &'static str {
        "zcdp"
    }
    fn compose(&mut self, cost: PrivacyCost, count: u64) -> Result<()> {
        cost.validate()?;
        let c = count as f64;
        match cost {
            PrivacyCost::Zcdp { rho } => self.rho += c * rho,
            PrivacyCost::Pure { epsilon } => self.rho += c * zcdp::pure_to_rho(epsilon)?,
            PrivacyCost::SubsampledGaussian {
                noise_multiplier,
                sample_rate: 1.0,
            } => self.rho += c * zcdp::gaussian_rho(1.0, noise_multiplier)?,
            _ => return Err(unsupported("zcdp", &cost)),
        }
        Ok(())
    }
    fn epsilon(&self, delta: f64) -> Result<f64> {
        zcdp::epsilon_tight(self.rho, delta)
    }
}

/// Basic composition of pure and approximate DP: (Σε, Σδ).
#[derive(Clone, Debug, Default)]
pub struct ApproxAccountant {
    epsilon: f64,
    delta: f64,
}

impl ApproxAccountant {
    /// The accumulated (Σε, Σδ).
    pub fn total(&self) -> (f64, f64) {
        (self.epsilon, self.delta)
    }
}

impl Accountant for ApproxAccountant {
    fn name(&self) -> &'static str {
        "approx"
    }
    fn compose(&mut self, cost: PrivacyCost, count: u64) -> Result<()> {
        cost.validate()?;
        let c = count as f64;
        match cost {
            PrivacyCost::Pure { epsilon } => self.epsilon += c * epsilon,
            PrivacyCost::Approx { epsilon, delta } => {
                self.epsilon += c * epsilon;
                self.delta += c * delta;
            }
            _ => return Err(unsupported("approx", &cost)),
        }
        Ok(())
    }
    /// Σε when δ ≥ Σδ; an error otherwise (basic composition says nothing below Σδ).
    fn epsilon(&self, delta: f64) -> Result<f64> {
        check_delta(delta)?;
        if delta < self.delta {
            return Err(Error::invalid(
                "delta",
                delta,
                format!("basic composition reaches only delta >= {}", self.delta),
            ));
        }
        Ok(round_up_or_zero(self.epsilon))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::next_up;

    #[test]
    fn accountants_compose_and_refuse() {
        let g = PrivacyCost::SubsampledGaussian {
            noise_multiplier: 1.1,
            sample_rate: 0.01,
        };
        let mut r = RdpAccountant::default();
        r.compose(g, 100).unwrap();
        let mut r2 = RdpAccountant::default();
        r2.compose(g, 60).unwrap();
        r2.compose(g, 40).unwrap();
        assert!((r.epsilon(1e-5).unwrap() - r2.epsilon(1e-5).unwrap()).abs() < 1e-12);
        assert_eq!(
            r.epsilon(1e-5).unwrap(),
            rdp::epsilon(0.01, 1.1, 100, 1e-5).unwrap()
        );
        assert!(matches!(
            r.compose(
                PrivacyCost::Approx {
                    epsilon: 1.0,
                    delta: 1e-6
                },
                1
            ),
            Err(Error::Unsupported(_))
        ));
        let mut p = PldAccountant::default();
        p.compose(g, 100).unwrap();
        assert!(p.epsilon(1e-5).unwrap() <= r.epsilon(1e-5).unwrap());
        assert!(p.compose(PrivacyCost::Pure { epsilon: 1.0 }, 1).is_err());

        // zCDP: ten Gaussian steps with σ = 2 are ρ = 10/8.
        let mut z = ZcdpAccountant::default();
        z.compose(
            PrivacyCost::SubsampledGaussian {
                noise_multiplier: 2.0,
                sample_rate: 1.0,
            },
            10,
        )
        .unwrap();
        assert_eq!(z.rho(), 1.25);

        let mut a = ApproxAccountant::default();
        a.compose(
            PrivacyCost::Approx {
                epsilon: 0.25,
                delta: 1e-6,
            },
            4,
        )
        .unwrap();
        assert_eq!(a.epsilon(1e-5).unwrap(), next_up(1f64));
        assert!(a.epsilon(1e-7).is_err());
    }
}
