#!/usr/bin/env python3
"""Writes src/learning/sources/digits.csv, the data set `lbounds train` ships.

The UCI "Optical Recognition of Handwritten Digits" test set (Alpaydin & Kaynak, 1998), 1797
images of 8 x 8 pixels with integer values 0..16 and their digit 0..9, as scikit-learn bundles
it (`sklearn.datasets.load_digits`). See src/learning/sources/DIGITS.md for the attribution and
licences.

Usage (scikit-learn in a virtual environment outside the repository):

    python3 -m venv /tmp/skvenv && /tmp/skvenv/bin/pip install scikit-learn
    /tmp/skvenv/bin/python scripts/make-digits.py

Output: a header `pixel_0_0,...,pixel_7_7,digit` (scikit-learn's feature names; pixel_r_c is
row r, column c of the image), then one row per image in scikit-learn's order, every value an
integer. The script prints the file's SHA-256 so a regenerated file can be compared with the
committed one.
"""

import hashlib
import os
import sys

import numpy as np
import sklearn
from sklearn.datasets import load_digits

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "src", "learning",
                   "sources", "digits.csv")


def main() -> None:
    digits = load_digits()
    data, target = digits.data, digits.target
    assert data.shape == (1797, 64) and target.shape == (1797,)
    # The pixels are counts of "on" pixels in 4 x 4 blocks: integers 0..16 stored as floats.
    assert np.all(data == np.round(data)) and data.min() == 0 and data.max() == 16
    assert sorted(set(target.tolist())) == list(range(10))
    lines = [",".join(digits.feature_names + ["digit"])]
    for row, label in zip(data.astype(int), target.astype(int)):
        lines.append(",".join(str(v) for v in row.tolist() + [int(label)]))
    text = "\n".join(lines) + "\n"
    tmp = OUT + ".tmp"
    with open(tmp, "w", encoding="ascii", newline="\n") as f:
        f.write(text)
    os.replace(tmp, OUT)
    sha = hashlib.sha256(text.encode("ascii")).hexdigest()
    print(f"wrote {os.path.normpath(OUT)}: {len(lines) - 1} rows, {len(text)} bytes, "
          f"sha256 {sha} (scikit-learn {sklearn.__version__})", file=sys.stderr)


if __name__ == "__main__":
    main()
