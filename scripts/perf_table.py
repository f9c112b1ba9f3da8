"""Build the docs/performance.md table from criterion results and ByzFL timings.

    python3 scripts/perf_table.py BYZFL_CSV [RULE,RULE,...] > table.md

BYZFL_CSV holds `rule,d,seconds` lines from scripts/byzfl_timing.py run on the same machine.
Criterion estimates are read from target/criterion/aggregators_n50_f10_d{d}/{rule}/{d}/new/.
"""
import csv
import json
import pathlib
import sys

DIMS = [1_000, 100_000, 1_000_000]
ROOT = pathlib.Path("target/criterion")

# ByzFL 0.0.11's published times, NumPy float64, one thread (the project's ByzFL notes, §9:
# AMD EPYC, n = 50, f = 10). NNM is published only as NNM+TrMean (MemoryError at d = 10⁶).
PUBLISHED = {
    "average": (14e-6, 1.48e-3, 15.2e-3),
    "median": (664e-6, 69.1e-3, 683e-3),
    "trmean": (108e-6, 16.8e-3, 172e-3),
    "geometric_median": (212e-6, 50.3e-3, 465e-3),
    "krum": (525e-6, 65.2e-3, 743e-3),
    "multi_krum": (573e-6, 66.9e-3, 797e-3),
    "centered_clipping": (76e-6, 15.4e-3, 153e-3),
    "meamed": (958e-6, 140e-3, 1.55),
    "monna": (53e-6, 5.67e-3, 68.6e-3),
    "caf": (508e-6, 84.1e-3, 797e-3),
}


# The bench rows whose ByzFL counterpart has another name. The native geometric median
# iterates to convergence (another algorithm), so ByzFL's columns go on the ByzFL-mode row.
COMPARED_WITH = {"geometric_median": None, "geometric_median_byzfl": "geometric_median"}


def criterion(rule, d):
    p = ROOT / f"aggregators_n50_f10_d{d}" / rule / str(d) / "new" / "estimates.json"
    if not p.exists():
        return None
    return json.loads(p.read_text())["median"]["point_estimate"] * 1e-9


def fmt(s):
    if s is None:
        return "–"
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def main():
    byzfl = {}
    if len(sys.argv) > 1:
        with open(sys.argv[1]) as fh:
            for rule, d, sec in csv.reader(fh):
                byzfl[(rule, int(d))] = float(sec)
    # Rows from the current bench only (older runs may have left other names behind).
    rules = sorted(
        {p.name for p in ROOT.glob("aggregators_n50_f10_d*/*") if p.is_dir()}
        & set(sys.argv[2].split(","))
        if len(sys.argv) > 2
        else {p.parent.parent.name for p in ROOT.glob("aggregators_n50_f10_d*/*/*/new")}
    )
    order = ["sum"] + [r for r in rules if r != "sum"]
    print(
        "| rule | "
        + " | ".join(f"d = {d:.0e}: lbounds / ByzFL here / × / ByzFL published / × / ×sum" for d in DIMS)
        + " |"
    )
    print("|---|" + "---|" * len(DIMS))
    for rule in order:
        cells = []
        for d in DIMS:
            ours = criterion(rule, d)
            base = criterion("sum", d)
            key = COMPARED_WITH.get(rule, rule)
            theirs = byzfl.get((key, d))
            speed = f"{theirs / ours:.1f}×" if ours and theirs else "–"
            pub = PUBLISHED.get(key, (None,) * len(DIMS))[DIMS.index(d)]
            pub_speed = f"{pub / ours:.1f}×" if ours and pub else "–"
            vs_sum = f"{ours / base:.1f}" if ours and base else "–"
            cells.append(
                f"{fmt(ours)} / {fmt(theirs)} / {speed} / {fmt(pub)} / {pub_speed} / {vs_sum}"
            )
        print(f"| {rule} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
