#!/usr/bin/env python3
"""Golden values from Google's dp-accounting for lbounds' accountant tests.

Writes tests/fixtures/dp_accounting/{accountants,analytic_gaussian,timing}.json.

Usage (dp-accounting in a virtual environment outside the repository):
    python3 -m venv /tmp/venv-dp && /tmp/venv-dp/bin/pip install dp-accounting
    /tmp/venv-dp/bin/python scripts/dp_accounting_golden.py

Grid: q in {0.001, 0.004267, 0.05, 1.0}, sigma in {0.6, 1.1, 3.0}, T in {1, 100, 14060},
delta in {1e-5, 1e-10}; both accountants with their defaults (RDP: DEFAULT_RDP_ORDERS and the
Canonne-Kamath-Steinke conversion; PLD: ADD_OR_REMOVE_ONE, value_discretization_interval
1e-4, connect-the-dots, pessimistic).
"""
import itertools
import json
import os
import time

import dp_accounting
from dp_accounting import dp_event
from dp_accounting.pld import pld_privacy_accountant
from dp_accounting.pld import privacy_loss_mechanism
from dp_accounting.rdp import rdp_privacy_accountant

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "dp_accounting")


def event(q, sigma, steps):
    return dp_event.SelfComposedDpEvent(
        dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), steps)


def rdp_eps(q, sigma, steps, delta):
    acc = rdp_privacy_accountant.RdpAccountant()
    acc.compose(event(q, sigma, steps))
    return acc.get_epsilon(delta)


def pld_eps(q, sigma, steps, delta):
    acc = pld_privacy_accountant.PLDAccountant()
    acc.compose(event(q, sigma, steps))
    return acc.get_epsilon(delta)


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = []
    for q, sigma, steps, delta in itertools.product(
            [0.001, 0.004267, 0.05, 1.0], [0.6, 1.1, 3.0], [1, 100, 14060], [1e-5, 1e-10]):
        cases.append(dict(q=q, sigma=sigma, steps=steps, delta=delta,
                          rdp=rdp_eps(q, sigma, steps, delta),
                          pld=pld_eps(q, sigma, steps, delta)))
    meta = dict(library="dp-accounting", version=getattr(dp_accounting, "__version__", "0.6.0"))
    with open(os.path.join(OUT, "accountants.json"), "w") as f:
        json.dump(dict(meta=meta, cases=cases), f, indent=1)

    gauss = []
    for eps, delta in itertools.product([0.1, 0.5, 1.0, 2.0, 8.0], [1e-5, 1e-10]):
        loss = privacy_loss_mechanism.GaussianPrivacyLoss.from_privacy_guarantee(
            dp_accounting.pld.common.DifferentialPrivacyParameters(eps, delta), sensitivity=1.0)
        sigma = loss.standard_deviation
        gauss.append(dict(epsilon=eps, delta=delta, sigma=sigma,
                          delta_at_sigma=privacy_loss_mechanism.GaussianPrivacyLoss(
                              sigma, sensitivity=1.0).get_delta_for_epsilon(eps)))
    with open(os.path.join(OUT, "analytic_gaussian.json"), "w") as f:
        json.dump(dict(meta=meta, cases=gauss), f, indent=1)

    # Timing of the benchmark query (q = 0.004267, sigma = 1.1, T = 14060, delta = 1e-5).
    timing = {}
    for name, fn in [("rdp", rdp_eps), ("pld", pld_eps)]:
        runs = []
        for _ in range(5):
            t0 = time.perf_counter()
            e = fn(0.004267, 1.1, 14060, 1e-5)
            runs.append(time.perf_counter() - t0)
        timing[name] = dict(epsilon=e, seconds_min=min(runs), seconds_median=sorted(runs)[2])
    with open(os.path.join(OUT, "timing.json"), "w") as f:
        json.dump(dict(meta=meta, query=dict(q=0.004267, sigma=1.1, steps=14060, delta=1e-5),
                       timing=timing), f, indent=1)


if __name__ == "__main__":
    main()
