"""Shared helpers: the repository root, the release CLI, and a runner for `lbounds ... --json`."""

import json
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "byzfl"


def cli_path() -> pathlib.Path:
    return pathlib.Path(os.environ.get("LBOUNDS_BIN", ROOT / "target" / "release" / "lbounds"))


@pytest.fixture(scope="session")
def cli():
    """Runs the release CLI; returns (parsed JSON stdout, or None) and the stderr on failure."""
    path = cli_path()
    if not path.exists():
        pytest.skip(f"the release CLI is not built ({path}); run `cargo build --release`")

    def run(*args, ok=True):
        p = subprocess.run([str(path), *map(str, args)], capture_output=True, text=True)
        if ok:
            assert p.returncode == 0, p.stderr
            out = p.stdout.strip()
            lines = out.splitlines()
            if len(lines) > 1 and all(l.startswith("{") for l in lines):
                return [json.loads(l) for l in lines]
            return json.loads(out)
        assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
        return p.stderr.strip()

    return run
