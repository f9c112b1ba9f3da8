#!/usr/bin/env python3
"""What ByzFL 0.0.11 computes when some input rows hold NaN, for `lbounds --compat byzfl`.

Every ByzFL aggregator and pre-aggregator (the latter followed by a rule) is called on small
float64 NumPy inputs in which some rows hold NaN (whole rows, single entries, NaN next to
+inf). Its output is stored with what `--compat byzfl` must then do:

    "value"        ByzFL returns a vector of numbers (finite, or +-inf where the rule already
                   returns them on the `inf` attack): lbounds returns the same vector;
    "nan"          ByzFL returns NaN somewhere in its output, or None (CAF), or raises
                   (SMEA when every subset holds a NaN row): lbounds reports an error;
    "unspecified"  ByzFL returns numbers that depend on how NumPy's argpartition orders
                   equal (NaN) keys or how Python's list.sort orders NaN norms (ARC), neither
                   of which is specified: lbounds reports an error.

The "unspecified" rows are decided here from ByzFL's source (aggregators.py, preaggregators.py):
NNM with f >= 1 and a NaN row (all that row's distances are NaN), MoNNA whose pivot row holds a
NaN, Meamed with a NaN in a column whose output entry is not NaN (its |x - median| column is
all NaN), ARC clipping at least one vector while a norm is NaN.

Usage (from the repository root, in a virtual environment holding byzfl==0.0.11, numpy, scipy):

    python scripts/byzfl_nan_golden.py            # writes tests/fixtures/byzfl_nan/cases.json
    python scripts/byzfl_nan_golden.py --out FILE

ByzFL imports torch at import time but its NumPy path never calls it. Where torch is not
installed, the script loads byzfl.aggregators alone with a stand-in `torch` module that has
only the `Tensor` class ByzFL's type checks name (so every call below runs ByzFL's own NumPy
code). Numbers are written with Python's repr, non-finite ones as "inf", "-inf", "nan".

This file is our own code; it only calls ByzFL's public classes.
"""

import argparse
import importlib.metadata
import importlib.util
import json
import math
import os
import sys
import types
import warnings

import numpy as np

BYZFL_VERSION = "0.0.11"
SEED = 20251203
warnings.filterwarnings("ignore")  # NaN input makes NumPy warn; outputs are kept


def load_byzfl():
    """ByzFL's aggregators and pre-aggregators modules (see the module docs on torch)."""
    if importlib.metadata.version("byzfl") != BYZFL_VERSION:
        sys.exit(f"need byzfl=={BYZFL_VERSION}")
    try:
        import torch  # noqa: F401
    except ImportError:
        torch = types.ModuleType("torch")
        torch.Tensor = type("Tensor", (), {})
        torch.linalg = types.ModuleType("torch.linalg")
        sys.modules["torch"] = torch
        sys.modules["torch.linalg"] = torch.linalg
    root = os.path.dirname(importlib.util.find_spec("byzfl").origin)
    pkg = types.ModuleType("byzfl")
    pkg.__path__ = [root]
    sys.modules["byzfl"] = pkg
    import byzfl.aggregators.aggregators as aggs
    import byzfl.aggregators.preaggregators as pres
    return aggs, pres


def num(x):
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def inputs():
    """Named n x d inputs: seven or nine honest N(0, 1) rows and rows holding NaN."""
    rng = np.random.default_rng(SEED)
    nan, inf = np.nan, np.inf
    x = {}
    a = rng.standard_normal((9, 4))
    a[7:] = nan
    x["nan_last2_n9_d4"] = a  # two whole NaN rows, last
    b = rng.standard_normal((9, 4))
    b[3, 1] = nan
    b[8, [0, 2]] = nan
    x["nan_entries_n9_d4"] = b  # NaN in single entries of rows 3 and 8
    c = rng.standard_normal((9, 4))
    c[0] = nan
    x["nan_first_n9_d4"] = c  # row 0 (MoNNA's default pivot, Krum's first index) NaN
    e = rng.standard_normal((9, 4))
    e[[2, 5, 8]] = nan
    x["nan_three_n9_d4"] = e  # three NaN rows: more than f = 2, at most f = 3
    g = rng.standard_normal((9, 4))
    g[7] = [inf, nan, 1.0, inf]
    g[8] = inf
    x["nan_and_inf_n9_d4"] = g  # a row with +inf and NaN, a row of +inf
    h = rng.standard_normal((7, 1))
    h[[1, 4]] = nan
    x["nan_n7_d1"] = h
    return x


# (ByzFL class, parameters) per rule; pipelines are (pre list, rule).
RULES = [
    ("Average", {}),
    ("Median", {}),
    ("TrMean", {"f": 0}),
    ("TrMean", {"f": 2}),
    ("TrMean", {"f": 3}),
    ("GeometricMedian", {}),
    ("GeometricMedian", {"nu": 0.1, "T": 0}),
    ("Krum", {"f": 1}),
    ("Krum", {"f": 2}),
    ("Krum", {"f": 3}),
    ("MultiKrum", {"f": 2}),
    ("MultiKrum", {"f": 3}),
    ("CenteredClipping", {}),
    ("CenteredClipping", {"L": 0}),
    ("MDA", {"f": 2}),
    ("MDA", {"f": 3}),
    ("MoNNA", {"f": 2}),
    ("MoNNA", {"f": 3, "idx": 1}),
    ("Meamed", {"f": 2}),
    ("CAF", {"f": 2}),
    ("SMEA", {"f": 2}),
    ("SMEA", {"f": 3}),
]
PIPELINES = [
    ([("NNM", {"f": 2})], ("TrMean", {"f": 2})),
    ([("NNM", {"f": 0})], ("Median", {})),
    ([("Clipping", {})], ("TrMean", {"f": 2})),
    ([("Clipping", {"c": 1.0})], ("Krum", {"f": 2})),
    ([("ARC", {"f": 2})], ("TrMean", {"f": 2})),
    ([("ARC", {"f": 0})], ("TrMean", {"f": 3})),
    ([("Bucketing", {"s": 1})], ("TrMean", {"f": 3})),
]


def unspecified(pre, rule, x):
    """Whether ByzFL's answer on x hangs on an unspecified order of NaN keys (module docs)."""
    nan_rows = np.isnan(x).any(axis=1)
    v = x
    for name, p in pre:
        f = p.get("f", 0)
        if name == "NNM" and f >= 1 and nan_rows.any():
            return True
        if name == "ARC":
            n = len(v)
            norms = np.linalg.norm(v, axis=1)
            if int((2 * f / n) * (n - f)) >= 1 and np.isnan(norms).any():
                return True
    name, p = rule
    if name == "MoNNA" and nan_rows[p.get("idx", 0)]:
        return True
    return False


def run(aggs, pres, pre, rule, x):
    v = np.array(x, dtype=np.float64, copy=True)
    for name, p in pre:
        v = getattr(pres, name)(**p)(v)
    name, p = rule
    if name in ("CAF", "SMEA"):
        np.random.seed(0)  # kept cases have at most one finite subset: no draw matters
    return getattr(aggs, name)(**p)(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/fixtures/byzfl_nan/cases.json")
    args = ap.parse_args()
    aggs, pres = load_byzfl()
    xs = inputs()
    cases = []
    for name, x in xs.items():
        plans = [([], r) for r in RULES] + PIPELINES
        for pre, rule in plans:
            if any(p.get("f", 0) * 2 >= len(x) for _, p in pre + [rule]):
                continue
            bad = (~np.isfinite(x)).any(axis=1).sum()
            if rule[0] == "SMEA" and bad < rule[1]["f"]:
                continue  # several finite subsets: the pick hangs on NumPy's random draws
            try:
                out = run(aggs, pres, pre, rule, x)
                raised = None
            except Exception as e:  # SMEA when every subset holds a NaN row: no subset chosen
                out, raised = None, f"{type(e).__name__}: {e}"
            label = "+".join([p[0] for p in pre] + [rule[0]])
            case = {
                "input": name,
                "pipeline": {
                    "pre": [{"name": n, "params": p} for n, p in pre],
                    "rule": {"name": rule[0], "params": rule[1]},
                },
                "label": label,
            }
            if out is None or np.ndim(out) != 1:
                case["byzfl"] = None
                if raised:
                    case["byzfl_raises"] = raised
                case["expect"] = "nan"
            else:
                case["byzfl"] = [num(v) for v in out]
                if unspecified(pre, rule, x):
                    case["expect"] = "unspecified"
                elif np.isnan(out).any():
                    case["expect"] = "nan"
                elif rule[0] == "Meamed" and np.isnan(x).any():
                    case["expect"] = "unspecified"
                else:
                    case["expect"] = "value"
            cases.append(case)
    doc = {
        "provenance": (f"scripts/byzfl_nan_golden.py: byzfl {BYZFL_VERSION}, numpy "
                       f"{np.__version__}, float64; every output is ByzFL's own"),
        "inputs": {k: [[num(v) for v in r] for r in x] for k, x in xs.items()},
        "cases": cases,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")
    print(f"{len(cases)} cases -> {args.out}")


if __name__ == "__main__":
    main()
