"""`make bench`: run every benchmark in this folder, one after another.

Each ``bench_*.py`` is runnable on its own and writes ``benchmarks/results/<name>.json|md``
with the command, git revision and machine that produced it. Benchmarks never run in the test
suite: they are long and their numbers depend on the machine.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def main(argv: list[str]) -> int:
    only = set(argv)
    scripts = sorted(p for p in HERE.glob("bench_*.py") if not only or p.stem.removeprefix("bench_") in only)
    failures = []
    for script in scripts:
        print(f"==> {script.name}", flush=True)
        start = time.time()
        rc = subprocess.call([sys.executable, str(script)], cwd=HERE.parent)
        print(f"<== {script.name}: exit {rc} in {time.time() - start:.0f}s", flush=True)
        if rc:
            failures.append(script.name)
    if failures:
        print("failed: " + ", ".join(failures), file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
