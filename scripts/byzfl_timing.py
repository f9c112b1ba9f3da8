"""Time ByzFL 0.0.11's NumPy float64 path at n = 50, f = 10 on this machine.

The speed anchor for `benches/aggregators.rs` (docs/performance.md): median wall time per
call of each rule on N(0, I_d) input (default_rng(1)), after one warm-up, a fresh input copy
per call, as in the reference measurement. Run from a virtual environment with
`pip install byzfl==0.0.11`:

    python scripts/byzfl_timing.py [d ...]     # default d = 1000 100000 1000000

Prints one line per (rule, d): `rule,d,seconds`.
"""
import statistics
import sys
import time

import numpy as np
import byzfl

N, F = 50, 10
REPS = {1_000: 20, 100_000: 7, 1_000_000: 3}

RULES = {
    "average": lambda: byzfl.Average(),
    "median": lambda: byzfl.Median(),
    "trmean": lambda: byzfl.TrMean(f=F),
    "geometric_median": lambda: byzfl.GeometricMedian(),
    "krum": lambda: byzfl.Krum(f=F),
    "multi_krum": lambda: byzfl.MultiKrum(f=F),
    "centered_clipping": lambda: byzfl.CenteredClipping(),
    "monna": lambda: byzfl.MoNNA(f=F),
    "meamed": lambda: byzfl.Meamed(f=F),
    "caf": lambda: byzfl.CAF(f=F),
    "clipping": lambda: byzfl.Clipping(),
    "arc": lambda: byzfl.ARC(f=F),
    "bucketing": lambda: byzfl.Bucketing(s=2),
}


def main():
    dims = [int(a) for a in sys.argv[1:]] or [1_000, 100_000, 1_000_000]
    for d in dims:
        x = np.random.default_rng(1).standard_normal((N, d))
        for name, make in RULES.items():
            rule = make()
            rule(x.copy())  # warm-up
            times = []
            for _ in range(REPS.get(d, 3)):
                y = x.copy()
                t0 = time.perf_counter()
                rule(y)
                times.append(time.perf_counter() - t0)
            print(f"{name},{d},{statistics.median(times):.6g}", flush=True)


if __name__ == "__main__":
    main()
