"""Differential-privacy accounting (``lbounds privacy epsilon / noise / gaussian``).

The accountants price T steps of the Poisson-subsampled Gaussian mechanism (DP-SGD) with
add/remove-one neighbours: ``"rdp"`` (Rényi DP over dp-accounting's default orders; Mironov,
CSF 2017; Mironov, Talwar & Zhang, arXiv 1908.10530) or ``"pld"`` (privacy loss distribution,
connect-the-dots; Doroshenko et al., PETS 2022, arXiv 2207.04380). The GIL is released while
they compute.
"""

from __future__ import annotations

from . import _lbounds

__all__ = ["analytic_gaussian_sigma", "delta", "epsilon", "noise_multiplier"]


def epsilon(q: float, sigma: float, steps: int, delta: float, accountant: str = "rdp") -> float:
    """Epsilon spent by ``steps`` steps at sampling rate ``q`` with noise multiplier ``sigma``,
    at ``delta``."""
    return _lbounds.epsilon(float(q), float(sigma), steps, float(delta), accountant)


def delta(q: float, sigma: float, steps: int, epsilon: float, accountant: str = "rdp") -> float:
    """The smallest delta at which the same run is (epsilon, delta)-DP."""
    return _lbounds.delta(float(q), float(sigma), steps, float(epsilon), accountant)


def noise_multiplier(
    q: float, steps: int, epsilon: float, delta: float, accountant: str = "rdp"
) -> float:
    """The smallest noise multiplier with epsilon <= ``epsilon`` at ``delta`` (never on the
    wrong side of the target)."""
    return _lbounds.noise_multiplier(float(q), steps, float(epsilon), float(delta), accountant)


def analytic_gaussian_sigma(epsilon: float, delta: float, sensitivity: float = 1.0) -> float:
    """The analytic Gaussian mechanism's sigma for (epsilon, delta) and an l2 sensitivity
    (Balle & Wang, ICML 2018, arXiv 1805.06530)."""
    return _lbounds.analytic_gaussian_sigma(float(epsilon), float(delta), float(sensitivity))
