#!/usr/bin/env python3
"""Regenerates the outputs shown in README.md from the current build.

Every line `$ COMMAND` inside a ```text or ```console block of README.md is run again and the
lines after it (up to the next `$ ` line or the end of the block) are replaced by what it
prints now, stdout then stderr. Commands run with `target/release` first on PATH, in a scratch
directory that holds the README's `grads.csv` and `grads.txt` and a link to `examples/`;
`lbounds figures` runs in the repository root, so it rewrites `figures/`. A path under
`/scratch` is redirected into the scratch directory and printed back as `/scratch`.

Usage: cargo build --release && scripts/readme-outputs.py   (rewrites README.md in place)
"""
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
GRADS = [(0.5, 1.0), (1.5, 0.0), (1.0, 2.0), (0.8, 1.1), (1.2, 0.9)]


def scratch_dir() -> pathlib.Path:
    d = pathlib.Path(tempfile.mkdtemp(prefix="lbounds-readme-"))
    (d / "grads.csv").write_text("".join(f"{a},{b}\n" for a, b in GRADS))
    # What np.savetxt(path, x, header="x0 x1") writes.
    (d / "grads.txt").write_text(
        "# x0 x1\n" + "".join(f"{a:.18e} {b:.18e}\n" for a, b in GRADS)
    )
    (d / "examples").symlink_to(ROOT / "examples")
    return d


def run(cmd: str, scratch: pathlib.Path) -> list[str]:
    env = dict(os.environ, PATH=f"{ROOT / 'target' / 'release'}:{os.environ['PATH']}")
    cwd = ROOT if cmd.split("#")[0].strip() == "lbounds figures" else scratch
    real = cmd.replace("/scratch/", f"{scratch}/scratch/")
    p = subprocess.run(
        ["bash", "-c", real], cwd=cwd, env=env, capture_output=True, text=True
    )
    out = (p.stdout + p.stderr).replace(f"{scratch}/scratch/", "/scratch/")
    return out.rstrip("\n").split("\n") if out.strip() else []


def main() -> int:
    readme = ROOT / "README.md"
    lines = readme.read_text().split("\n")
    scratch = scratch_dir()
    try:
        out, in_block, i = [], False, 0
        while i < len(lines):
            line = lines[i]
            if re.match(r"^```(text|console)\s*$", line):
                in_block = True
            elif line.startswith("```"):
                in_block = False
            if in_block and line.startswith("$ "):
                out.append(line)
                print(line, file=sys.stderr)
                out.extend(run(line[2:], scratch))
                i += 1
                while i < len(lines) and not lines[i].startswith(("$ ", "```")):
                    i += 1
                continue
            out.append(line)
            i += 1
        readme.write_text("\n".join(out))
    finally:
        shutil.rmtree(scratch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
