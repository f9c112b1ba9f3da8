"""Zero-copy input, the GIL released during work, and thread-count control.

Zero-copy: a C-contiguous float64 array is read in place. Each measurement runs in a fresh
interpreter and compares the peak resident set (ru_maxrss) after the input is allocated and
touched with the peak after the calls: a copy of the input would add its full size. The
control (a Fortran-ordered input, which must be copied into lbounds' layout) shows that the
measurement sees a copy."""

import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import lbounds

N, D = 50, 400_000  # 160 MB of float64
SIZE_MB = N * D * 8 / 2**20

PEAK_GROWTH = textwrap.dedent(
    f"""
    import resource, sys
    import numpy as np, lbounds
    rng = np.random.default_rng(0)
    if sys.argv[1] == "fortran":  # (n, d) in Fortran order, without a temporary
        x = rng.standard_normal(({D}, {N})).T
    else:
        x = rng.standard_normal(({N}, {D}))
    lbounds.aggregate(np.zeros((5, 3)), "median")  # load the extension, start the pool
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for rule, f in [("average", None), ("krum", 10), ("trmean", 10), ("median", None)]:
        out = lbounds.aggregate(x, rule, f=f)
        assert out.shape == ({D},)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) / 1024)  # MiB (ru_maxrss is in KiB on Linux)
    """
)


def peak_growth_mb(layout):
    p = subprocess.run([sys.executable, "-c", PEAK_GROWTH, layout], capture_output=True,
                       text=True, check=True)
    return float(p.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB is Linux's")
def test_c_contiguous_float64_input_is_not_copied():
    grown = peak_growth_mb("c")
    # The rules' own working memory (an n×n Gram matrix, per-block scratch, the d-vector out)
    # is a few MiB; a copy of the input would be 153 MiB.
    assert grown < 0.25 * SIZE_MB, f"peak RSS grew by {grown:.0f} MiB for a {SIZE_MB:.0f} MiB input"
    control = peak_growth_mb("fortran")
    assert control > 0.8 * SIZE_MB, f"the control copied only {control:.0f} MiB"


def test_the_gil_is_released_during_aggregation():
    x = np.random.default_rng(1).standard_normal((50, 100_000))
    stamps = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            stamps.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=tick)
    t.start()
    time.sleep(0.05)
    start = time.perf_counter()
    # One long call: ByzFL's geometric median iterates exactly T times.
    lbounds.aggregate(x, "geometric_median", params={"T": 300}, compat="byzfl")
    end = time.perf_counter()
    stop.set()
    t.join()
    inside = [s for s in stamps if start <= s <= end]
    gaps = np.diff([start] + inside + [end])
    # With the GIL held the ticking thread stops for the whole call (one gap as long as the
    # call); released, it ticks every millisecond or so (scheduling under load included).
    assert end - start > 0.2, "the call is too short to tell"
    assert gaps.max() < 0.5 * (end - start), (
        f"longest pause {gaps.max():.3f} s in a {end - start:.3f} s call"
    )


def test_results_do_not_depend_on_the_thread_count():
    x = np.random.default_rng(2).standard_normal((40, 30_000))
    rules = [("median", None), ("trmean", 8), ("krum", 8), ("geometric_median", None),
             ("caf", 8), ("meamed", 8)]
    try:
        lbounds.set_num_threads(1)
        assert lbounds.get_num_threads() == 1
        one = [lbounds.aggregate(x, r, f=f, seed=4) for r, f in rules]
        eps1 = lbounds.privacy.epsilon(0.01, 1.0, 1000, 1e-5, accountant="pld")
        lbounds.set_num_threads(3)
        assert lbounds.get_num_threads() == 3
        three = [lbounds.aggregate(x, r, f=f, seed=4) for r, f in rules]
        assert eps1 == lbounds.privacy.epsilon(0.01, 1.0, 1000, 1e-5, accountant="pld")
    finally:
        lbounds.set_num_threads(0)
    for (r, _), a, b in zip(rules, one, three):
        assert np.array_equal(a, b), r
