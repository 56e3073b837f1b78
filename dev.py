#!/usr/bin/env python3
"""Quick start without anything but Python 3.11+: `python3 dev.py demo` and `python3 dev.py test`.

`python3 dev.py bench [name ...]` runs the benchmarks and writes BENCHMARKS.md.

Creates (or refreshes, when pyproject.toml changed) the virtual environment in .venv, installs OpenMES
with its test tools into it, then runs the demo or the test suite. Extra arguments are passed on.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".openmes-installed"


def ensure_environment() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"OpenMES needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("Creating the virtual environment in .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("Installing OpenMES and its test tools into .venv (first run takes a minute) ...", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "-e", ".[dev]"], cwd=ROOT, check=True)
    STAMP.write_text(wanted)


def main() -> int:
    commands = {
        "demo": [str(BIN / "openmes"), "demo"],
        "test": [str(BIN / "python"), "-m", "pytest", "-q", "-n", "2", "--dist", "loadfile"],
        "bench": [str(BIN / "python"), "-m", "benchmarks.run"],
        "install": [],
    }
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__.strip())
        print("\nusage: python3 dev.py demo|test|bench|install [arguments...]")
        return 2
    ensure_environment()
    command = commands[sys.argv[1]]
    if not command:
        return 0
    return subprocess.call([*command, *sys.argv[2:]], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
