"""Per-call time of lbounds from Python against ByzFL 0.0.11's published NumPy timings.

n = 50 vectors of dimension d = 10^5 drawn i.i.d. N(0, I) (`default_rng(1)`), f = 10, as in
ByzFL's speed anchor (the lbounds reference notes on ByzFL, section 9: NumPy float64, median of
7 calls after one warm-up). Each lbounds time includes the whole Python call: argument
checks, the NumPy-to-Rust hand-over (zero-copy for this C-contiguous float64 input), the
finiteness scan where the rule needs one (natively Krum and NNM: a NaN is read as +inf, which
the median and the trimmed mean do in their own kernel), the GIL release, NNM's fresh n x d
output, and the NumPy output array.

Two ways in are timed: `lbounds.byzfl` (the drop-in, `compat="byzfl"`, what ByzFL computes)
and `lbounds.aggregate` (native rules). With one worker thread (`--threads 1`) the numbers
compare to ByzFL's single-threaded column (ByzFL has no parallelism of its own).

The output starts with the host's CPU and ends with the native average, the cheapest rule:
one pass over the input with one addition per entry, what a pass costs from Python on this
host (a bare two-thread sum in Rust reads the same 40 MB faster, so it is a reference, not
the memory's floor). The Rust kernels run at half speed on
an AMD Zen 4 host (cpu family 25) against Zen 5 (family 26), where the later figures in
docs/performance.md were taken, while memory streams as fast (docs/performance.md, "Which
host").

`LBOUNDS_BENCH_CPU_TIME=1` measures process CPU time (all threads) instead of wall time: on a
shared, loaded machine the slices lost to other processes drop out; with one thread it is an
idle machine's wall time.

    python python/benches/byzfl_speed.py --threads 1 --repeat 15
"""

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

import numpy as np

import lbounds
from lbounds import byzfl

# ByzFL 0.0.11, NumPy float64, n = 50, f = 10, d = 10^5: median seconds per call with one
# thread and with the library's default threads (2 cores), as published in the reference notes.
BYZFL_NUMPY = {
    "Median": (69.1e-3, 68.2e-3),
    "TrMean": (16.8e-3, 16.8e-3),
    "Krum": (65.2e-3, 65.1e-3),
    "NNM+TrMean": (269e-3, 266e-3),
}


def host():
    """The CPU, from /proc/cpuinfo (Linux; "unknown" elsewhere): the project's VMs change CPU
    between sessions (see the module docs)."""
    try:
        with open("/proc/cpuinfo") as fh:
            info = fh.read()
    except OSError:
        return "unknown"
    fields = {}
    for line in info.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    avx512 = "avx512f" in fields.get("flags", "").split()
    return (f"{fields.get('vendor_id', '?')} family {fields.get('cpu family', '?')} model "
            f"{fields.get('model', '?')} ({fields.get('model name', '?')}), "
            f"AVX-512 {'yes' if avx512 else 'no'}")


def clock():
    if os.environ.get("LBOUNDS_BENCH_CPU_TIME"):
        return time.process_time
    return time.perf_counter


def per_call(fn, repeat):
    now = clock()
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = now()
        fn()
        times.append(now() - start)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--d", type=int, default=100_000)
    ap.add_argument("--f", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--threads", type=int, default=0, help="0: one per core")
    ap.add_argument("--cli", metavar="PATH", help="also time the native rules in the release "
                    "CLI (`lbounds aggregate --repeat --timing`, wall time, the input read "
                    "outside the timed region) on the same input: Python's cost is the gap")
    a = ap.parse_args()
    lbounds.set_num_threads(a.threads)
    x = np.random.default_rng(1).standard_normal((a.n, a.d))
    f = a.f
    cases = {
        "Median": (lambda: byzfl.Median()(x), lambda: lbounds.aggregate(x, "median")),
        "TrMean": (lambda: byzfl.TrMean(f=f)(x), lambda: lbounds.aggregate(x, "trmean", f=f)),
        "Krum": (lambda: byzfl.Krum(f=f)(x), lambda: lbounds.aggregate(x, "krum", f=f)),
        "NNM+TrMean": (
            lambda: byzfl.TrMean(f=f)(byzfl.NNM(f=f)(x)),
            lambda: lbounds.aggregate(x, "trmean", f=f, pre=["nnm"]),
        ),
    }
    mode = "CPU time (all threads)" if os.environ.get("LBOUNDS_BENCH_CPU_TIME") else "wall time"
    print(f"n = {a.n}, d = {a.d}, f = {f}, {lbounds.get_num_threads()} thread(s), {mode}, "
          f"median of {a.repeat} calls after one warm-up")
    print(f"host: {host()}")
    tiny = np.ones((2, 1))
    overhead = per_call(lambda: lbounds.aggregate(tiny, "average"), 1000)
    print(f"call overhead (aggregate of a 2x1 array, Python to Rust and back): "
          f"{overhead * 1e6:.1f} us")
    cli_args = {"Median": ["median"], "TrMean": ["trmean", "--f", str(f)],
                "Krum": ["krum", "--f", str(f)],
                "NNM+TrMean": ["trmean", "--f", str(f), "--pre", "nnm"]}
    npy = None
    if a.cli:
        npy = os.path.join(tempfile.mkdtemp(), "x.npy")
        np.save(npy, x)
    print(f"{'rule':<12} {'ByzFL 1T':>10} {'lbounds.byzfl':>14} {'speed-up':>9} "
          f"{'native':>10} {'speed-up':>9}" + (f" {'CLI (Rust)':>11}" if a.cli else ""))
    for name, (drop_in, native) in cases.items():
        ref = BYZFL_NUMPY[name][0]
        t_b, t_n = per_call(drop_in, a.repeat), per_call(native, a.repeat)
        line = (f"{name:<12} {ref * 1e3:>8.1f}ms {t_b * 1e3:>12.2f}ms {ref / t_b:>8.1f}x "
                f"{t_n * 1e3:>8.2f}ms {ref / t_n:>8.1f}x")
        if a.cli:
            env = dict(os.environ)
            if a.threads:
                env["RAYON_NUM_THREADS"] = str(a.threads)
            out = subprocess.run(
                [a.cli, "aggregate", "--rule", *cli_args[name], "--input", npy, "--repeat",
                 str(a.repeat), "--timing", "--json"],
                capture_output=True, text=True, check=True, env=env)
            line += f" {json.loads(out.stdout)['seconds_per_call'] * 1e3:>9.2f}ms"
        print(line)
    # Every rule above reads its n x d input at least once: the average does little else.
    one_pass = per_call(lambda: lbounds.aggregate(x, "average"), a.repeat)
    print(f"one pass over the input (native average, the cheapest rule): "
          f"{one_pass * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
