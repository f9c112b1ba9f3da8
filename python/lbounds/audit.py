"""Privacy auditing (``lbounds audit epsilon / scores / gdp / one-run``): what a membership
test's results prove about epsilon, a lower bound with a stated confidence.

The audits that train models (``audit exposure``, ``dpsgd``, ``mia``) are CLI commands."""

from __future__ import annotations

import json

from . import _lbounds

__all__ = ["epsilon", "gdp", "one_run", "scores"]


def epsilon(
    positives: int,
    true_positives: int,
    negatives: int,
    false_positives: int,
    delta: float = 0.0,
    alpha: float = 0.05,
    two_sided: bool = False,
) -> dict:
    """Epsilon lower bound from one operating point (one-sided Clopper-Pearson bounds, alpha
    split equally): ``epsilon_lower``, ``tpr_lower``, ``fpr_upper``, ..."""
    return json.loads(
        _lbounds.audit_epsilon_json(
            positives, true_positives, negatives, false_positives,
            float(delta), float(alpha), bool(two_sided),
        )
    )


def scores(
    members, non_members, delta: float = 0.0, alpha: float = 0.05, two_sided: bool = False
) -> dict:
    """Epsilon lower bound from membership scores (every threshold, paid for by Bonferroni),
    and the Gaussian-DP estimate under ``gdp`` when ``delta > 0``."""
    from . import _vector

    return json.loads(
        _lbounds.audit_scores_json(
            _vector(members, "members"), _vector(non_members, "non_members"),
            float(delta), float(alpha), bool(two_sided),
        )
    )


def gdp(mu: float, delta: float) -> float:
    """The epsilon at which a mu-GDP mechanism is (epsilon, delta)-DP (Dong, Roth & Su 2022,
    Cor. 2.13)."""
    return _lbounds.audit_gdp(float(mu), float(delta))


def one_run(
    canaries: int, guesses: int, correct: int, delta: float = 0.0, confidence: float = 0.95
) -> dict:
    """Epsilon lower bound from one training run with many canaries (Steinke, Nasr & Jagielski,
    NeurIPS 2023, arXiv 2305.08846)."""
    return json.loads(
        _lbounds.audit_one_run_json(canaries, guesses, correct, float(delta), float(confidence))
    )
