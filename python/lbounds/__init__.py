"""lbounds from Python: robust aggregators, Byzantine attacks, DP accountants, lower bounds.

NumPy in and out. A C-contiguous float64 ``(n, d)`` array (one vector per row) is read in
place, without a copy; any other layout or numeric dtype is converted once. Every error of the
Rust library arrives as :class:`LboundsError` (a ``ValueError``) with the library's message;
an input that is not a numeric array is a ``TypeError``. The GIL is released while lbounds
works, on :func:`set_num_threads` worker threads (results do not depend on the count).

>>> import numpy as np, lbounds
>>> x = np.random.default_rng(0).normal(size=(50, 1000))
>>> lbounds.aggregate(x, "trmean", f=10).shape
(1000,)

Names follow the CLI (``lbounds list``): snake_case or ByzFL's class names. ``compat="byzfl"``
computes exactly what ByzFL 0.0.11 computes; :mod:`lbounds.byzfl` offers ByzFL's classes.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, Sequence, Union

import numpy as np

from . import _lbounds
from ._lbounds import LboundsError, get_num_threads, set_num_threads
from . import audit, bounds, privacy  # noqa: E402  (submodules use _lbounds)

__all__ = [
    "LboundsError",
    "aggregate",
    "attack",
    "attacks",
    "audit",
    "bounds",
    "get_num_threads",
    "pre_aggregate",
    "pre_aggregators",
    "privacy",
    "rules",
    "set_num_threads",
    "simulate",
]

__version__ = "0.1.0"

Step = Union[str, "tuple[str, Mapping[str, float]]"]


def _matrix(x: Any, what: str = "x") -> np.ndarray:
    """``x`` as a 2-D float64 array: the same object when it already is a C-contiguous one
    (so lbounds reads its memory in place), else one converted copy."""
    a = np.asarray(x)
    if a.dtype.kind not in "fiu" or (a.dtype.kind == "f" and a.dtype.itemsize > 8):
        raise TypeError(
            f"{what} must be a real numeric array (float64 is read without a copy), "
            f"got dtype {a.dtype}"
        )
    if a.ndim != 2:
        raise LboundsError(
            f"invalid parameter `{what}` = array of shape {a.shape}: must be 2-D (n, d), "
            "one vector per row"
        )
    return np.ascontiguousarray(a, dtype=np.float64)


def _vector(x: Any, what: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{what} must be a real numeric array, got dtype {a.dtype}")
    if a.ndim != 1:
        raise LboundsError(
            f"invalid parameter `{what}` = array of shape {a.shape}: must be 1-D"
        )
    return np.ascontiguousarray(a, dtype=np.float64)


def _params(params: Mapping[str, float] | None, what: str) -> dict[str, float] | None:
    if params is None:
        return None
    if not isinstance(params, Mapping):
        raise TypeError(f"{what} must be a dict of parameter names to numbers")
    out = {}
    for k, v in params.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"parameter `{k}` of {what} must be a number, got {type(v).__name__}")
        out[str(k)] = float(v)
    return out


def _step(s: Step, what: str) -> tuple[str, dict[str, float] | None]:
    """A step as ``"name"``, ``"name:k=v,..."`` or ``(name, {k: v})``."""
    if isinstance(s, str):
        return (s, None)
    if isinstance(s, tuple) and len(s) == 2 and isinstance(s[0], str):
        return (s[0], _params(s[1], what))
    raise TypeError(f"{what} must be a name or a (name, params) pair, got {s!r}")


def _steps(pre: Iterable[Step] | Step) -> list[tuple[str, dict[str, float] | None]]:
    """``pre`` as a list of steps; one step alone (a name, or a (name, params) pair) is a list
    of one."""
    if isinstance(pre, str) or (
        isinstance(pre, tuple) and len(pre) == 2 and isinstance(pre[1], Mapping)
    ):
        pre = [pre]
    return [_step(p, "pre") for p in pre]


def _count(name: str, v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    return int(v)


def aggregate(
    x: Any,
    rule: str,
    f: int | None = None,
    pre: Iterable[Step] = (),
    params: Mapping[str, float] | None = None,
    compat: str | None = None,
    *,
    seed: int = 0,
    previous: Any = None,
) -> np.ndarray:
    """The robust aggregate of the rows of ``x`` (n vectors of dimension d) as a d-vector.

    ``rule``: a name from :func:`rules` (``"trmean"`` or ``"TrMean"``), optionally
    ``"name:key=value,..."``; ``params``: more of its parameters in ByzFL's spelling.
    ``f``: the declared number of Byzantine inputs, given to every step that takes it (rules
    whose meaning depends on f refuse to run without one). ``pre``: pre-aggregators applied
    first, in order (``["nnm"]``, ``[("clipping", {"c": 1.0})]``). ``compat``: ``"native"``
    (default) or ``"byzfl"`` (ByzFL 0.0.11's arithmetic). ``seed`` keys the randomized rules;
    ``previous`` is the last round's aggregate (centered clipping starts from it).

    Rows may hold ``inf`` and ``nan`` (a Byzantine user may send them): natively a NaN is read
    as +inf, a point at infinity robust rules set aside.
    """
    rule_step = (rule, _params(params, "params"))
    if not isinstance(rule, str):
        raise TypeError(f"rule must be a name, got {type(rule).__name__}")
    prev = None if previous is None else _vector(previous, "previous")
    return _lbounds.aggregate(
        _matrix(x), rule_step, _count("f", f), _steps(pre), compat, _seed(seed), prev
    )


def pre_aggregate(
    x: Any,
    step: str,
    f: int | None = None,
    params: Mapping[str, float] | None = None,
    compat: str | None = None,
    *,
    seed: int = 0,
) -> np.ndarray:
    """One pre-aggregator (``"nnm"``, ``"clipping"``, ``"bucketing"``, ``"arc"``) over the rows
    of ``x``: the ``(n', d)`` array of vectors it outputs."""
    if not isinstance(step, str):
        raise TypeError(f"step must be a name, got {type(step).__name__}")
    return _lbounds.pre_aggregate(
        _matrix(x), (step, _params(params, "params")), _count("f", f), compat, _seed(seed)
    )


def attack(
    honest: Any,
    attack: str,
    f: int,
    rule: str | None = None,
    pre: Iterable[Step] = (),
    params: Mapping[str, float] | None = None,
    compat: str | None = None,
    *,
    seed: int = 0,
    then_aggregate: bool = False,
):
    """What ``f`` Byzantine users send against the honest rows: an ``(f, d)`` array (ByzFL's
    attacks send one vector f times). ``rule``/``pre``: the defence, which the attacks that
    search (``optimal_*``, ``min_max``, ``min_sum``) optimise against (default: ByzFL's,
    average after clipping(c=2)); ``params``: the attack's parameters.

    With ``then_aggregate=True`` (needs ``rule``) the pair ``(byzantine, aggregate)``: the
    defence's aggregate of the honest rows followed by the Byzantine ones, its random draws
    continuing the attack's stream (as ``lbounds attack --then-aggregate``)."""
    if not isinstance(attack, str):
        raise TypeError(f"attack must be a name, got {type(attack).__name__}")
    rule_step = None if rule is None else _step(rule, "rule")
    byzantine, aggregate = _lbounds.attack(
        _matrix(honest, "honest"),
        attack,
        _count("f", f),
        rule_step,
        _steps(pre),
        _params(params, "params"),
        compat,
        _seed(seed),
        bool(then_aggregate),
    )
    return (byzantine, aggregate) if then_aggregate else byzantine


def _seed(seed: Any) -> int:
    s = _count("seed", seed)
    if s < 0 or s >= 2**64:
        raise LboundsError(f"invalid parameter `seed` = {s}: must be in 0..2^64")
    return s


def _registry(family: str) -> list[dict]:
    return [r for r in json.loads(_lbounds.registry_json()) if r["family"] == family]


def rules() -> list[dict]:
    """The aggregation rules: ``name``, ``byzfl`` (ByzFL's class name or None), ``params``,
    ``summary`` (as ``lbounds list --json``)."""
    return _registry("aggregator")


def pre_aggregators() -> list[dict]:
    """The pre-aggregators (NNM, bucketing, clipping, ARC), as :func:`rules`."""
    return _registry("pre_aggregator")


def attacks() -> list[dict]:
    """The attacks, as :func:`rules`."""
    return _registry("attack")


def simulate(
    byzantine: float = 0.1,
    n: int = 50,
    d: int = 10,
    mean: float = 1.0,
    noise: str = "gaussian:sigma=1",
    heterogeneity: float = 0.0,
    records: int = 10,
    zipf: float | None = None,
    rules: Sequence[str] | None = None,
    pre: Sequence[str] = (),
    attacks: Sequence[str] | None = None,
    replicates: int = 20,
    seed: int = 0,
    compat: str | None = None,
    as_frame: bool | None = None,
):
    """Every robust rule against attacks on a simulated population (``lbounds simulate``).

    Returns one record per run (``point``, ``replicate``, ``seed``, ``rule``, ``attack``,
    ``params``, ``output``, ``bounds``) exactly as ``lbounds simulate --json`` writes them,
    then one ``{"rule", "status": "not_run", "reason"}`` per default rule that cannot run. A
    list of dicts, or a flattened pandas DataFrame when pandas is installed
    (``as_frame=False`` keeps the list; ``as_frame=True`` requires pandas).

    ``bounds`` holds the catalogue's lower bounds at this setting, keyed by id, as the CLI
    shows them beside the rules' errors: ``applies`` is true only where the bound's hypotheses
    hold for the simulated model (Huber contamination; e.g. R1 for Gaussian noise) and its
    ``quantity`` is a measured column (``error``, ``error_to_honest_mean``, ``kappa``), with
    ``value`` in that column's unit; the others carry a ``note`` saying why not.
    """
    def names(v, what):
        if v is None:
            return None
        if isinstance(v, str):
            return [v]
        out = list(v)
        if not all(isinstance(s, str) for s in out):
            raise TypeError(f"{what} must be names")
        return out

    text = _lbounds.simulate_json(
        float(byzantine), _count("n", n), _count("d", d), float(mean), str(noise),
        float(heterogeneity), _count("records", records),
        None if zipf is None else float(zipf), names(rules, "rules"), names(pre, "pre") or [],
        names(attacks, "attacks"), _count("replicates", replicates), _seed(seed), compat,
    )
    recs = [json.loads(line) for line in text.splitlines()]
    if as_frame is False:
        return recs
    try:
        import pandas as pd
    except ImportError:
        if as_frame:
            raise
        return recs
    return pd.json_normalize(recs)
