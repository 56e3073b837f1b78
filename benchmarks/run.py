"""Run every benchmark (or the named ones) and write the results to BENCHMARKS.md.

Each module `benchmarks/bench_<name>.py` has `run() -> list[Result]`; results are measured side by side
with their anchors in the same run. Usage: `python3 dev.py bench [name ...]`.
"""

from __future__ import annotations

import importlib
import sys
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.harness import Result, machine_description

ROOT = Path(__file__).resolve().parent.parent
HEADER = "| benchmark | backend | measure | value | target | anchor | ratio |\n|---|---|---|---|---|---|---|"


def discover() -> list[str]:
    return sorted(path.stem.removeprefix("bench_") for path in Path(__file__).parent.glob("bench_*.py"))


def main(argv: list[str]) -> int:
    names = argv or discover()
    unknown = sorted(set(names) - set(discover()))
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(discover())}")
        return 2
    sections = []
    machine = machine_description()
    for name in names:
        print(f"running {name} ...", flush=True)
        module = importlib.import_module(f"benchmarks.bench_{name}")
        results: list[Result] = module.run()
        for result in results:
            print("  " + result.row, flush=True)
        doc = (module.__doc__ or "").strip()
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        sections.append(
            f"## {name}\n\nMeasured {stamp} on {machine}.\n\n{doc}\n\n{HEADER}\n"
            + "\n".join(r.row for r in results)
            + "\n"
        )
    report = ROOT / "BENCHMARKS.md"
    kept = _kept_sections(report, set(names))
    body = "\n".join([*kept, *sections])
    report.write_text(
        "# Benchmarks\n\nWritten by `python3 dev.py bench`; each section is replaced when its benchmark runs "
        f"again and says when and on what machine it was measured.\n\n{body}"
    )
    print(f"wrote {report}")
    return 0


def _kept_sections(report: Path, rerun: set[str]) -> list[str]:
    """Sections of benchmarks not run this time stay, each with the machine line it was measured on."""
    if not report.exists():
        return []
    text = report.read_text()
    parts = text.split("\n## ")[1:]
    return ["## " + part.rstrip() + "\n" for part in parts if part.split("\n", 1)[0].strip() not in rerun]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
