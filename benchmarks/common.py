"""What every benchmark records beside its numbers: the command, the git revision, the machine."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def provenance() -> dict:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, check=False).stdout.strip() or "unknown"
        # results measured on uncommitted code, configs or weights say so; what other runs write
        # (results, the model card's eval_results.json) and prose (*.md) do not count
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                  ":!benchmarks/results", ":(glob,exclude)**/eval_results.json", ":(glob,exclude)**/*.md"],
                                 capture_output=True, text=True, cwd=Path(__file__).parent.parent, check=False).stdout
        if rev != "unknown" and changed.strip():
            rev += "+uncommitted"
    except OSError:
        rev = "unknown"
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), platform.processor())
    except OSError:
        cpu = platform.processor()
    return {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "git_rev": rev,
        "machine": f"{platform.node()} | {cpu} | {os.cpu_count()} cores | {platform.system()} {platform.release()}",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_results(name: str, payload: dict, markdown: str) -> tuple[Path, Path]:
    """Write results/<name>.json and .md atomically, with provenance added to both."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = provenance()
    payload = {**meta, **payload}
    md = markdown.rstrip() + (f"\n\nCommand: `{meta['command']}`  \nGit: `{meta['git_rev']}`  \n"
                              f"Machine: {meta['machine']}  \nDate: {meta['date']}\n")
    out = []
    for suffix, text in ((".json", json.dumps(payload, indent=2, default=float)), (".md", md)):
        target = RESULTS / f"{name}{suffix}"
        fd, tmp = tempfile.mkstemp(dir=RESULTS, prefix=f".{name}.", suffix=suffix)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, target)
        out.append(target)
    return out[0], out[1]
