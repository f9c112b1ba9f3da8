"""Privacy auditing (``lbounds audit``): what a membership test's results prove about epsilon,
a lower bound with a stated confidence (``epsilon``, ``scores``, ``gdp``, ``one_run``), and the
audits that train models (``exposure``, ``dpsgd``, ``mia``).

Every function takes the CLI's flags as keyword arguments (``--sample-rate`` is
``sample_rate``) and returns the one JSON object its ``--json`` prints, as a dict; the
training audits release the GIL while they train, on :func:`lbounds.set_num_threads` threads.
"""

from __future__ import annotations

import json
import os

import numpy as np

from . import _lbounds

__all__ = ["dpsgd", "epsilon", "exposure", "gdp", "mia", "one_run", "scores"]


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


def exposure(
    *,
    insertions: int = 4,
    epsilon: float | None = None,
    delta: float = 1e-5,
    clip: float = 1.0,
    digits: int = 6,
    tokens: int = 4000,
    fanout: int = 4,
    context: int = 3,
    hidden: int = 32,
    epochs: int = 30,
    batch: int = 64,
    lr: float = 0.5,
    references: int = 2000,
    seed: int = 1,
    backend: str = "native",
    device: str | None = None,
    dtype: str | None = None,
) -> dict:
    """Canary exposure (Carlini et al., "The Secret Sharer", USENIX Security 2019): a canary
    ``"my pin is "`` + ``digits`` random digits inserted ``insertions`` times into synthetic
    text, a next-token model trained on it by SGD (or DP-SGD at ``epsilon``), and the canary's
    exposure in bits: ``exposure_exact`` (all 10^digits candidates ranked),
    ``exposure_interpolated`` (``references`` random secrets), ``exposure_extrapolated``
    (skew-normal fit), with ``rank``, ``log2_space``, the accountant's ``epsilon`` and the
    settings; ``seconds`` is the wall time (as ``lbounds audit exposure --json``)."""
    return json.loads(
        _lbounds.audit_exposure_json(
            insertions, _opt_float("epsilon", epsilon), _real("delta", delta),
            _real("clip", clip), digits, tokens, fanout, context, hidden, epochs, batch,
            _real("lr", lr), references, _seed(seed), backend, device, dtype,
        )
    )


def dpsgd(
    epsilon: float,
    *,
    runs: int | None = None,
    one_run: bool = False,
    canaries: int | None = None,
    guesses: int | None = None,
    planted_bug: str = "none",
    delta: float = 1e-5,
    alpha: float = 0.05,
    sample_rate: float = 0.1,
    epochs: int = 10,
    seed: int = 0,
    backend: str = "native",
    device: str | None = None,
    dtype: str | None = None,
) -> dict:
    """Audit of lbounds' own DP-SGD with a Dirac gradient canary: the noise multiplier is
    calibrated to ``epsilon``; ``runs`` trainings with the canary and as many without (default
    1000), or with ``one_run`` a single training with ``canaries`` canaries (default 10 000)
    and ``guesses`` guesses (Steinke, Nasr & Jagielski, NeurIPS 2023). Returns
    ``epsilon_lower`` (valid with confidence 1 - alpha), the accountant's ``epsilon``,
    ``verdict`` (``"caught"`` when the lower bound exceeds it: try
    ``planted_bug="reused-noise"``) and the settings (as ``lbounds audit dpsgd --json``)."""
    return json.loads(
        _lbounds.audit_dpsgd_json(
            _real("epsilon", epsilon), runs, bool(one_run), canaries, guesses, planted_bug,
            _real("delta", delta), _real("alpha", alpha), _real("sample_rate", sample_rate),
            epochs, _seed(seed), backend, device, dtype,
        )
    )


def mia(
    *,
    models: int = 64,
    model: str = "softmax",
    hidden: int = 64,
    records: int = 10_000,
    population: int | None = None,
    features: int = 32,
    targets: int = 4,
    epochs: int | None = None,
    lr: float | None = None,
    epsilon: float | None = None,
    delta: float = 1e-5,
    clip: float = 1.0,
    cache: str | os.PathLike | None = None,
    seed: int = 0,
    data_seed: int = 0,
    roc: bool = False,
    backend: str = "native",
    device: str | None = None,
    dtype: str | None = None,
) -> dict:
    """Membership inference: ``models`` shadow models (``"softmax"`` or ``"mlp"``) on random
    halves of a long-tailed Gaussian mixture, attacked by the loss threshold, LiRA
    (online/offline) and RMIA. Returns the report with one entry per attack under
    ``attacks`` (``auc``, ``tpr_at_0_1pct_fpr``, ``tpr_at_1pct_fpr``, ``balanced_accuracy``,
    the same on the canary records, the ROC curves with ``roc=True``), as
    ``lbounds audit mia --json``. ``cache``: a folder of trained models shared with the
    CLI's ``--cache``."""
    return json.loads(
        _lbounds.audit_mia_json(
            models, model, hidden, records, population, features, targets, epochs,
            _opt_float("lr", lr), _opt_float("epsilon", epsilon), _real("delta", delta),
            _real("clip", clip),
            None if cache is None else os.fspath(cache), _seed(seed), _seed(data_seed),
            bool(roc), backend, device, dtype,
        )
    )


def _real(name: str, v) -> float:
    """A real number as a float; a string or other non-number is a TypeError (``float("1")``
    would silently accept it)."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    return float(v)


def _opt_float(name: str, v):
    return None if v is None else _real(name, v)


def _seed(seed) -> int:
    from . import _seed as seed_of

    return seed_of(seed)
