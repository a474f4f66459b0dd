"""The repair's speed at two or more code revisions, side by side in one run.

    python benchmarks/bench_speed.py [--revs 8ecb4ba~1 .] [--rounds 5] [--seed 2026] [--items-per-type 8]

How a change meant to make `msar repair` faster is judged: each revision's ``msar_hf`` (a git
worktree of it; ``.`` = this checkout as it is) runs in its own process of one thread and repairs
the same items with the same weights (this checkout's shipped folder, or ``--model``), with that
revision's inference code. The revisions take turns round by round, a fresh process each, so the
drift of a shared machine falls on all of them; the table gives each one's median and best RTF over
the rounds and the ratio to the first. Two workloads: the repair benchmark's 4-second dev items one
by one (what `bench_repair.py`'s RTF check times), and the same items joined into one recording
(the chunked path of a long file). The largest difference between the revisions' outputs is
reported too: a speed-up that changes the repair is not only a speed-up.
Writes ``benchmarks/results/<--name>.{json,md}`` (default ``speed``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import numpy as np

# One round of one revision, in a fresh interpreter whose msar_hf is that revision's.
WORKER = r"""
import json, sys, time
import numpy as np, torch
torch.set_num_threads(1)
import msar_hf
from transformers import AutoModel
items_path, model_path, out_path = sys.argv[1:4]
data = np.load(items_path)
items = [data[k] for k in sorted(data.files, key=int)]
model = AutoModel.from_pretrained(model_path).eval()
model.repair(items[0][:16000])  # first-call allocations outside the timing
seconds, outputs = {}, {}
with torch.inference_mode():
    start = time.perf_counter()
    outputs["items"] = [model.repair(x) for x in items]
    seconds["items"] = time.perf_counter() - start
    joined = np.concatenate(items)
    start = time.perf_counter()
    outputs["joined"] = model.repair(joined)
    seconds["joined"] = time.perf_counter() - start
np.savez(out_path, joined=outputs["joined"], **{str(i): y for i, y in enumerate(outputs["items"])})
print(json.dumps({"seconds": seconds, "msar_hf": msar_hf.__file__}))
"""


def checkout(rev: str, scratch: Path) -> Path:
    """A folder whose ``msar_hf`` is the package at ``rev`` (``.``: this checkout)."""
    if rev == ".":
        return REPO
    folder = scratch / rev.replace("/", "_").replace("~", "-").replace("^", "-")
    made = subprocess.run(["git", "worktree", "add", "--detach", "-f", str(folder), rev], cwd=REPO,
                          capture_output=True, text=True, check=False)
    if made.returncode:
        print(f"bench_speed: cannot check out revision {rev!r}: {made.stderr.strip().splitlines()[-1]}", file=sys.stderr)
        raise SystemExit(2)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # default: the code before the last speed-up (git 8ecb4ba) against this checkout, the committed table
    parser.add_argument("--revs", nargs="+", default=["8ecb4ba~1", "."],
                        help="git revisions to compare, the first the reference; '.' = this checkout")
    parser.add_argument("--model", default=str(REPO / "msar_hf" / "pretrained" / "repair"),
                        help="the weights every revision runs (default: this checkout's shipped folder)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2026, help="dev-set seed (bench_repair.py's)")
    parser.add_argument("--items-per-type", type=int, default=8)
    parser.add_argument("--name", default="speed", help="results file name (benchmarks/results/NAME.*)")
    args = parser.parse_args(argv)

    from bench_repair import dev_set
    from common import write_results
    from tqdm.auto import tqdm

    items, _ = dev_set(str(REPO / "recipes" / "configs" / "autoencoder.yaml"), args.items_per_type, 4.0, args.seed)
    audio_seconds = sum(it.degraded.size for it in items) / 16000
    seconds: dict[str, dict[str, list[float]]] = {rev: {"items": [], "joined": []} for rev in args.revs}
    with tempfile.TemporaryDirectory(prefix="msar-speed-") as tmp:
        scratch = Path(tmp)
        items_path = scratch / "items.npz"
        np.savez(items_path, **{str(i): it.degraded.astype(np.float32) for i, it in enumerate(items)})
        folders = {}
        try:
            for rev in args.revs:
                folders[rev] = checkout(rev, scratch)
            outputs = {}
            for round_ in tqdm(range(args.rounds), desc="rounds", unit="round"):
                for rev in args.revs:
                    out_path = scratch / f"out_{len(outputs)}.npz"
                    env = {**os.environ, "PYTHONPATH": str(folders[rev]), "OMP_NUM_THREADS": "1"}
                    result = subprocess.run([sys.executable, "-c", WORKER, str(items_path), args.model, str(out_path)],
                                            cwd=folders[rev], env=env, capture_output=True, text=True, check=False)
                    if result.returncode:
                        raise RuntimeError(f"revision {rev}: worker failed:\n{result.stderr[-3000:]}")
                    report = json.loads(result.stdout.strip().splitlines()[-1])
                    if not report["msar_hf"].startswith(str(folders[rev])):
                        raise RuntimeError(f"revision {rev} ran {report['msar_hf']}, not its own checkout")
                    for workload, value in report["seconds"].items():
                        seconds[rev][workload].append(value)
                    if round_ == 0:
                        outputs[rev] = dict(np.load(out_path))
        finally:
            for rev, folder in folders.items():
                if folder != REPO:
                    subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=REPO, check=False,
                                   capture_output=True)

    first = args.revs[0]
    peak = max(float(np.abs(y).max()) for y in outputs[first].values())
    rows, table = [], {}
    for rev in args.revs:
        diff = max(float(np.abs(outputs[rev][k] - outputs[first][k]).max()) for k in outputs[first])
        table[rev] = {"max_abs_difference_to_first": diff,
                      "difference_db_of_peak": None if diff == 0 else round(20 * np.log10(diff / peak), 1)}
        for workload in ("items", "joined"):
            rtf = [s / audio_seconds for s in seconds[rev][workload]]
            table[rev][workload] = {"rtf_median": statistics.median(rtf), "rtf_best": min(rtf), "rtf_rounds": rtf}
    for rev in args.revs:
        cells = []
        for workload in ("items", "joined"):
            t, base = table[rev][workload], table[first][workload]
            cells += [f"{t['rtf_median']:.4f}", f"{t['rtf_best']:.4f}", f"{t['rtf_median'] / base['rtf_median']:.2f}"]
        db = table[rev]["difference_db_of_peak"]
        rows.append(f"| {rev} | " + " | ".join(cells) + f" | {'identical' if db is None else f'{db} dB'} |")
    md = "\n".join([
        "# Repair speed, revisions side by side", "",
        (f"{len(items)} dev items of 4 s (seed {args.seed}, every damage type), the weights of `{args.model}`, one "
        f"thread; {args.rounds} rounds, the revisions taking turns, a fresh process each. `items`: one call per "
        "item (the repair benchmark's RTF); `joined`: the items as one recording (chunked). RTF = seconds per "
        f"second of audio ({audio_seconds:.0f} s); ratio = median over the first revision's median. "
        "Difference: the largest sample difference to the first revision's output, in dB of its peak."), "",
        ("| revision | items RTF median | items RTF best | items ratio | joined RTF median | joined RTF best "
        "| joined ratio | output difference |"),
        "|---|---|---|---|---|---|---|---|", *rows])
    write_results(args.name, {"items": len(items), "audio_seconds": audio_seconds, "rounds": args.rounds,
                              "model": args.model, "revisions": table}, md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
