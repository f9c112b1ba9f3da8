"""A drop-in for ByzFL 0.0.11's aggregators, pre-aggregators and attacks.

Change one import and an existing ByzFL script runs on lbounds::

    from lbounds.byzfl import TrMean, NNM, Krum   # was: from byzfl import ...
    agg = TrMean(f=2)
    out = agg(vectors)

Every class keeps ByzFL's name, constructor parameters (with ByzFL's defaults) and call
convention, and computes what ByzFL 0.0.11 computes on float64 NumPy input
(``compat="byzfl"``: its neighbour counts, its start points and iteration counts, its quirks).

``vectors`` is what ByzFL accepts: an ``(n, d)`` NumPy array, a list of 1-D NumPy arrays, a
torch tensor or a list of 1-D tensors. The result has the input's type: a NumPy array for
NumPy input; for torch input a float32 tensor on the input's device, as ByzFL returns (ByzFL
computes torch input in float32, lbounds in float64 from the same values: results agree to
float32 rounding). torch is imported only when a tensor is passed.

Differences, all deliberate: the randomized items (CAF, SMEA, Bucketing, Gaussian) draw from
lbounds' ChaCha streams, seeded from NumPy's global generator (so ``np.random.seed`` still
makes a script reproducible, though not draw-for-draw equal to ByzFL's); Clipping and ARC
return new vectors instead of overwriting their input; where ByzFL would return NaN the call
raises ``lbounds.LboundsError`` naming the rule.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _lbounds, _matrix

__all__ = [
    # aggregators
    "Average", "Median", "TrMean", "GeometricMedian", "Krum", "MultiKrum",
    "CenteredClipping", "MDA", "MoNNA", "Meamed", "CAF", "SMEA",
    # pre-aggregators
    "NNM", "Bucketing", "Clipping", "ARC",
    # attacks
    "SignFlipping", "InnerProductManipulation", "ALittleIsEnough",
    "Optimal_InnerProductManipulation", "Optimal_ALittleIsEnough", "Mimic", "Inf", "Gaussian",
    # composition
    "RobustAggregator",
]

_COMPAT = "byzfl"


# --------------------------------------------------------------------------------------------
# Input and output types


def _is_torch(v: Any) -> bool:
    # Checked by module name, so that torch is never imported for NumPy input.
    return type(v).__module__.split(".")[0] == "torch"


def _to_numpy(vectors: Any):
    """``(x, like)``: the vectors as a float64 ``(n, d)`` array, and the torch tensor whose
    device the output goes to (None for NumPy input)."""
    if _is_torch(vectors):
        return _matrix(vectors.detach().cpu().double().numpy(), "vectors"), vectors
    if isinstance(vectors, (list, tuple)) and vectors and _is_torch(vectors[0]):
        import torch

        stacked = torch.stack([v.detach().cpu().double() for v in vectors])
        return _matrix(stacked.numpy(), "vectors"), vectors[0]
    if isinstance(vectors, (list, tuple)):
        vectors = np.stack([np.asarray(v) for v in vectors]) if vectors else np.empty((0, 0))
    return _matrix(vectors, "vectors"), None


def _like(out: np.ndarray, like: Any):
    """``out`` as ByzFL returns it for an input like ``like``."""
    if like is None:
        return out
    import torch

    return torch.from_numpy(out).to(dtype=torch.float32, device=like.device)


def _seed() -> int:
    """A seed from NumPy's global generator, which ByzFL's randomized items draw from."""
    return int(np.random.randint(0, 2**63 - 1, dtype=np.int64))


class _Item:
    """One ByzFL item: its class name is its lbounds registry name under compat="byzfl"."""

    _defaults: dict = {}
    _random = False

    def __init__(self, *args: Any, **params: Any) -> None:
        if len(args) > len(self._defaults):
            raise TypeError(f"{type(self).__name__} takes at most {len(self._defaults)} arguments")
        given = dict(zip(self._defaults, args))
        for k in params:
            if k in given:
                raise TypeError(f"{type(self).__name__} got multiple values for `{k}`")
            if k not in self._defaults:
                raise TypeError(f"{type(self).__name__} got an unexpected parameter `{k}`")
        self.params = {**self._defaults, **given, **params}

    def _numbers(self, skip: tuple = ()) -> dict:
        out = {}
        for k, v in self.params.items():
            if k in skip:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise TypeError(f"{type(self).__name__}: {k} must be a number, got {v!r}")
            out[k] = float(v)
        return out

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    def _step(self) -> tuple:
        return (type(self).__name__, self._numbers())


def _make(base, name: str, defaults: dict, random: bool = False, doc: str = ""):
    cls = type(name, (base,), {"_defaults": defaults, "_random": random, "__doc__": doc})
    params = ", ".join(f"{k}={v!r}" for k, v in defaults.items())
    cls.__doc__ = f"ByzFL's {name}({params}). {doc}".strip()
    return cls


# --------------------------------------------------------------------------------------------
# Aggregators: n vectors in, one vector out


class _Aggregator(_Item):
    def __call__(self, vectors: Any):
        x, like = _to_numpy(vectors)
        out = _lbounds.aggregate(
            x, self._step(), None, [], _COMPAT, _seed() if self._random else 0, None
        )
        return _like(out, like)


Average = _make(_Aggregator, "Average", {}, doc="The mean.")
Median = _make(_Aggregator, "Median", {}, doc="Coordinate-wise median.")
TrMean = _make(_Aggregator, "TrMean", {"f": 0}, doc="Coordinate-wise trimmed mean.")
GeometricMedian = _make(
    _Aggregator, "GeometricMedian", {"nu": 0.1, "T": 3},
    doc="Weiszfeld iterations from the origin, as ByzFL.",
)
Krum = _make(_Aggregator, "Krum", {"f": 0}, doc="n - f - 1 neighbours, as ByzFL.")
MultiKrum = _make(_Aggregator, "MultiKrum", {"f": 0})
MDA = _make(_Aggregator, "MDA", {"f": 0}, doc="Minimum-diameter averaging (exhaustive).")
MoNNA = _make(_Aggregator, "MoNNA", {"f": 0, "idx": 0})
Meamed = _make(_Aggregator, "Meamed", {"f": 0})
CAF = _make(_Aggregator, "CAF", {"f": 0}, random=True)
SMEA = _make(_Aggregator, "SMEA", {"f": 0}, random=True)


class CenteredClipping(_Aggregator):
    """ByzFL's CenteredClipping(m=None, L=1, tau=100.0): stateful, each call starts from the
    previous call's output (``self.m``), zeros on the first call. As in ByzFL, passing ``m``
    is an error."""

    _defaults = {"L": 1, "tau": 100.0}

    def __init__(self, m: Any = None, L: int = 1, tau: float = 100.0) -> None:
        if m is not None:
            # ByzFL 0.0.11's check (`not A or not B`) rejects every m: so does the drop-in.
            raise TypeError("CenteredClipping: m must be None (ByzFL 0.0.11 rejects any m)")
        super().__init__(L=L, tau=tau)
        self.m = None

    def __call__(self, vectors: Any):
        x, like = _to_numpy(vectors)
        prev = None if self.m is None else np.ascontiguousarray(self.m, dtype=np.float64)
        out = _lbounds.aggregate(x, self._step(), None, [], _COMPAT, 0, prev)
        self.m = out
        return _like(out, like)


# --------------------------------------------------------------------------------------------
# Pre-aggregators: n vectors in, n' vectors out


class _PreAggregator(_Item):
    def __call__(self, vectors: Any):
        x, like = _to_numpy(vectors)
        out = _lbounds.pre_aggregate(
            x, self._step(), None, _COMPAT, _seed() if self._random else 0
        )
        return _like(out, like)


NNM = _make(_PreAggregator, "NNM", {"f": 0}, doc="Nearest-neighbour mixing.")
Bucketing = _make(_PreAggregator, "Bucketing", {"s": 1}, random=True)
Clipping = _make(_PreAggregator, "Clipping", {"c": 2.0}, doc="Returns new vectors.")
ARC = _make(_PreAggregator, "ARC", {"f": 0}, doc="Adaptive robust clipping; new vectors.")


# --------------------------------------------------------------------------------------------
# Attacks: honest vectors in, the one vector the Byzantine users send


class _Attack(_Item):
    def __call__(self, honest_vectors: Any):
        x, like = _to_numpy(honest_vectors)
        out, _ = _lbounds.attack(
            x, type(self).__name__, 1, None, [], self._numbers(), _COMPAT,
            _seed() if self._random else 0,
        )
        return _like(out[0], like)


SignFlipping = _make(_Attack, "SignFlipping", {})
InnerProductManipulation = _make(_Attack, "InnerProductManipulation", {"tau": 2.0})
ALittleIsEnough = _make(_Attack, "ALittleIsEnough", {"tau": 1.5}, doc="ddof = 1, as ByzFL.")
Mimic = _make(_Attack, "Mimic", {"epsilon": 0})
Inf = _make(_Attack, "Inf", {})
Gaussian = _make(_Attack, "Gaussian", {"mu": 0.0, "sigma": 1.0}, random=True)


class _Optimal(_Attack):
    """ByzFL's 1-D search for the attack's tau that moves the defence's output furthest from the
    honest mean."""

    _defaults = {"evals": 20, "start": 0.0, "delta": 10.0, "ratio": 0.8}

    def __init__(
        self, agg: Any = None, pre_agg_list: Any = None, f: int = 1, evals: int = 20,
        start: float = 0.0, delta: float = 10.0, ratio: float = 0.8,
    ) -> None:
        if agg is not None and not isinstance(agg, _Aggregator):
            raise TypeError(f"{type(self).__name__}: agg must be an lbounds.byzfl aggregator")
        for p in pre_agg_list or []:
            if not isinstance(p, _PreAggregator):
                raise TypeError(
                    f"{type(self).__name__}: pre_agg_list must hold lbounds.byzfl pre-aggregators"
                )
        super().__init__(evals=evals, start=start, delta=delta, ratio=ratio)
        # ByzFL's defaults: Average() after [Clipping()]; an empty list means no pre-aggregator.
        self.agg = Average() if agg is None else agg
        self.pre_agg_list = [Clipping()] if pre_agg_list is None else list(pre_agg_list)
        self.f = f

    def __call__(self, honest_vectors: Any):
        x, like = _to_numpy(honest_vectors)
        rule = self.agg._step()
        pre = [p._step() for p in self.pre_agg_list]
        # ByzFL's `f` is the number of Byzantine copies the search optimizes against.
        out, _ = _lbounds.attack(
            x, type(self).__name__, self.f, rule, pre, self._numbers(), _COMPAT, 0
        )
        return _like(out[0], like)


class Optimal_InnerProductManipulation(_Optimal):  # noqa: N801  (ByzFL's name)
    """ByzFL's Optimal_InnerProductManipulation(agg=Average(), pre_agg_list=[Clipping()], f=1,
    evals=20, start=0.0, delta=10.0, ratio=0.8)."""


class Optimal_ALittleIsEnough(_Optimal):  # noqa: N801  (ByzFL's name)
    """ByzFL's Optimal_ALittleIsEnough(agg=Average(), pre_agg_list=[Clipping()], f=1,
    evals=20, start=0.0, delta=10.0, ratio=0.8)."""


# --------------------------------------------------------------------------------------------
# Composition (byzfl.fed_framework.RobustAggregator)


class RobustAggregator:
    """ByzFL's RobustAggregator(aggregator_info, pre_agg_list=[]): ``aggregator_info`` is
    ``{"name": "TrMean", "parameters": {"f": 2}}``, each pre-aggregator a dict of the same
    shape; :meth:`aggregate_vectors` applies the pre-aggregators in order, then the rule, in one
    call to lbounds (one conversion of the input)."""

    def __init__(self, aggregator_info: dict, pre_agg_list: Any = None) -> None:
        self.aggregator = self._build(aggregator_info, _Aggregator)
        self.pre_aggregators = [self._build(p, _PreAggregator) for p in pre_agg_list or []]

    @staticmethod
    def _build(info: dict, base: type):
        name, params = info.get("name"), info.get("parameters", {}) or {}
        cls = globals().get(name) if isinstance(name, str) else None
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise _lbounds.LboundsError(f"unknown ByzFL {base.__name__[1:].lower()} `{name}`")
        return cls(**params)

    def aggregate_vectors(self, vectors: Any):
        x, like = _to_numpy(vectors)
        random = self.aggregator._random or any(p._random for p in self.pre_aggregators)
        out = _lbounds.aggregate(
            x, self.aggregator._step(), None, [p._step() for p in self.pre_aggregators],
            _COMPAT, _seed() if random else 0, None,
        )
        return _like(out, like)
