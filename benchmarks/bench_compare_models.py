"""Two or more repair models side by side on the same dev items, as `msar repair` runs them.

    python benchmarks/bench_compare_models.py --models git:7ba0815 msar_hf/pretrained/repair \\
        [--seeds 1234 777 99 4242 5555 31337 11 12 13 14 15 16] [--items-per-type 12] [--jobs 2]

How a new set of weights is judged before it ships: every model repairs the dev sets of the given
seeds (unseen speakers, held-out noises and rooms; ``recipes/eval.py``) with its own inference
settings (the shipped ones: auto strength, the residual gate, two passes). A model is a
save_pretrained folder, a Hub id, or ``git:REV``: the shipped folder ``msar_hf/pretrained/repair``
as it was at that git revision (the weights before a change). Reports PESQ-WB and Q per seed pair
and damage type. Seeds run in ``--jobs`` processes of one thread each.
Writes ``benchmarks/results/<--name>.{json,md}`` (default ``model_compare``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import numpy as np

SHIPPED = "msar_hf/pretrained/repair"


def materialize(spec: str, scratch: Path) -> str:
    """``git:REV`` -> a folder holding the shipped model's files at REV; anything else as is."""
    if not spec.startswith("git:"):
        return spec
    rev = spec[4:]
    names = subprocess.run(["git", "ls-tree", "--name-only", f"{rev}:{SHIPPED}"], cwd=REPO, capture_output=True,
                           text=True, check=False)
    if names.returncode != 0:
        raise SystemExit(f"bench_compare_models: {spec}: no {SHIPPED} at that revision ({names.stderr.strip()})")
    folder = scratch / rev
    folder.mkdir(parents=True)
    for name in names.stdout.split():
        blob = subprocess.run(["git", "show", f"{rev}:{SHIPPED}/{name}"], cwd=REPO, capture_output=True, check=True)
        (folder / name).write_bytes(blob.stdout)
    return str(folder)


def previous_weights_revision() -> str:
    """The revision just before the last commit that changed the shipped repair weights."""
    log = subprocess.run(["git", "log", "-1", "--format=%h", "--", f"{SHIPPED}/model.safetensors"], cwd=REPO,
                         capture_output=True, text=True, check=False).stdout.strip()
    if not log:
        raise SystemExit("bench_compare_models: no git history of the shipped weights here; pass --models")
    return f"{log}~1"


def score_seed(seed: int, items_per_type: int, models: list[str]) -> dict:
    """``{model: {kind: [(pesq_wb, q), ...]}}`` for one seed's dev set."""
    import torch

    torch.set_num_threads(1)
    from msar_hf.metrics.quality import compute_all
    from msar_hf.repair import load_repair_model
    from recipes.args import EvalArguments
    from recipes.eval import build_dev_set

    items = build_dev_set(EvalArguments(items_per_type=items_per_type, seed=seed))
    out = {"input": {}}
    for it in items:
        s = compute_all(it.clean, it.degraded, metrics=["pesq_wb", "q"])
        out["input"].setdefault(it.kind, []).append((s["pesq_wb"], s["q"]))
    for spec in models:
        model = load_repair_model(spec, "cpu")
        rows = out.setdefault(spec, {})
        with torch.no_grad():
            for it in items:
                repaired = np.asarray(model.repair(torch.from_numpy(it.degraded.astype(np.float32))), np.float32)
                s = compute_all(it.clean, repaired, metrics=["pesq_wb", "q"])
                rows.setdefault(it.kind, []).append((s["pesq_wb"], s["q"]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None,
                        help="folders, Hub ids or git:REV, 2 or more (default: the shipped weights before their "
                             "last change, then the shipped ones)")
    parser.add_argument("--labels", nargs="*", default=None, help="column names (default: the --models values)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1234, 777, 99, 4242, 5555, 31337])
    parser.add_argument("--items-per-type", type=int, default=12)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--name", default="model_compare", help="results file name (benchmarks/results/NAME.*)")
    args = parser.parse_args(argv)
    if args.models is None:
        args.models = [f"git:{previous_weights_revision()}", SHIPPED]
    labels = args.labels or args.models
    if len(args.models) < 2 or len(labels) != len(args.models):
        parser.error("give two or more --models, and as many --labels if any")
    if len(args.seeds) % 2:
        parser.error("give an even number of --seeds: they are reported in pairs")

    from common import write_results
    from tqdm.auto import tqdm

    with tempfile.TemporaryDirectory() as scratch:
        folders = [materialize(m, Path(scratch)) for m in args.models]
        from msar_hf.errors import MsarError
        from msar_hf.repair import load_repair_model

        for spec, folder in zip(args.models, folders):
            try:
                load_repair_model(folder, "cpu")
            except MsarError as err:
                parser.error(f"{spec}: {err}")
        with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            jobs = [pool.submit(score_seed, s, args.items_per_type, folders) for s in args.seeds]
            per_seed = [job.result() for job in tqdm(jobs, desc="seeds", unit="seed")]
    names = ["input", *labels]
    keys = ["input", *folders]

    def mean(seed_rows: list[dict], key: str, kinds: set | None, which: int) -> float:
        vals = [r[which] for rows in seed_rows for kind, rs in rows[key].items()
                if (kind != "clean" if kinds is None else kind in kinds) for r in rs]
        return float(np.nanmean(vals))

    pairs = [(args.seeds[i], args.seeds[i + 1]) for i in range(0, len(args.seeds), 2)]
    kinds = list(per_seed[0]["input"])
    summary = {}
    lines = ["# Repair models side by side", "",
             (f"{args.items_per_type} items per damage type and seed (unseen speakers, held-out noises and rooms), "
              "each model with its own inference settings. PESQ-WB / Q over the damaged items (`clean` excluded), "
              "per pair of seeds."), "",
             "| seeds | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for a, b in [*pairs, ("all", "")]:
        rows = per_seed if a == "all" else [per_seed[args.seeds.index(a)], per_seed[args.seeds.index(b)]]
        label = "all" if a == "all" else f"{a}+{b}"
        cells = []
        for name, key in zip(names, keys):
            p, q = mean(rows, key, None, 0), mean(rows, key, None, 1)
            summary.setdefault(label, {})[name] = {"pesq_wb": p, "q": q}
            cells.append(f"{p:.3f} / {q:.4f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Per damage type, all seeds (PESQ-WB / Q):", "",
              "| type | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for kind in kinds:
        cells = []
        for name, key in zip(names, keys):
            p, q = mean(per_seed, key, {kind}, 0), mean(per_seed, key, {kind}, 1)
            summary.setdefault(kind, {})[name] = {"pesq_wb": p, "q": q}
            cells.append(f"{p:.3f} / {q:.4f}")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    write_results(args.name, {"models": dict(zip(labels, args.models)), "seeds": args.seeds,
                              "items_per_type": args.items_per_type, "means": summary}, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
