"""Build the docs/performance.md table from criterion results and ByzFL timings.

    python3 scripts/perf_table.py BYZFL_CSV > table.md

BYZFL_CSV holds `rule,d,seconds` lines from scripts/byzfl_timing.py run on the same machine.
Criterion estimates are read from target/criterion/aggregators_n50_f10_d{d}/{rule}/{d}/new/.
"""
import csv
import json
import pathlib
import sys

DIMS = [1_000, 100_000, 1_000_000]
ROOT = pathlib.Path("target/criterion")


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
    rules = sorted({p.parent.parent.name for p in ROOT.glob("aggregators_n50_f10_d*/*/*/new")})
    order = ["sum"] + [r for r in rules if r != "sum"]
    print("| rule | " + " | ".join(f"d = {d:.0e}: lbounds / ByzFL / × / ×sum" for d in DIMS) + " |")
    print("|---|" + "---|" * len(DIMS))
    for rule in order:
        cells = []
        for d in DIMS:
            ours = criterion(rule, d)
            base = criterion("sum", d)
            key = rule.replace("+average", "")
            theirs = byzfl.get((key, d))
            speed = f"{theirs / ours:.1f}×" if ours and theirs else "–"
            vs_sum = f"{ours / base:.1f}" if ours and base else "–"
            cells.append(f"{fmt(ours)} / {fmt(theirs)} / {speed} / {vs_sum}")
        print(f"| {rule} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
