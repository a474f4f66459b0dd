"""How much a repair changes a recording's loudness, per damage type (why `msar repair --loudness`).

    python benchmarks/bench_loudness.py [--model msar_hf/pretrained/repair] [--seed 2026] [--items-per-type 8]

The repair benchmark's dev set (unseen voices, held-out noises and rooms). For each item: the
integrated loudness (ITU-R BS.1770, msar_hf.loudness) of the clean reference, the damaged input
and the repaired output; the table gives the output's change against the input and against the
clean reference (mean, and the largest drop), in LU. Results in ``benchmarks/results/loudness.*``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import numpy as np
import torch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="msar_hf/pretrained/repair")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--items-per-type", type=int, default=8)
    parser.add_argument("--name", default="loudness")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    from common import write_results
    from tqdm.auto import tqdm

    from msar_hf.loudness import integrated_loudness
    from msar_hf.repair import load_repair_model
    from recipes.args import EvalArguments
    from recipes.eval import build_dev_set

    items = build_dev_set(EvalArguments(items_per_type=args.items_per_type, seed=args.seed))
    model = load_repair_model(args.model, "cpu")
    rows = []
    with torch.no_grad():
        for item in tqdm(items, desc="repair"):
            repaired = np.asarray(model.repair(torch.from_numpy(item.degraded.astype(np.float32))), np.float32)
            lufs = {name: integrated_loudness(torch.from_numpy(np.ascontiguousarray(x, np.float32)), 16000)
                    for name, x in (("clean", item.clean), ("input", item.degraded), ("repaired", repaired))}
            rows.append({"type": item.kind, "speaker": item.speaker, **lufs})
    table = {}
    for kind in dict.fromkeys(r["type"] for r in rows):
        mine = [r for r in rows if r["type"] == kind and all(np.isfinite(r[k]) for k in ("clean", "input", "repaired"))]
        vs_input = np.array([r["repaired"] - r["input"] for r in mine])
        vs_clean = np.array([r["repaired"] - r["clean"] for r in mine])
        table[kind] = {"items": len(mine), "input_vs_clean": float(np.mean([r["input"] - r["clean"] for r in mine])),
                       "repaired_vs_input": float(vs_input.mean()), "repaired_vs_input_min": float(vs_input.min()),
                       "repaired_vs_clean": float(vs_clean.mean()), "repaired_vs_clean_min": float(vs_clean.min())}
    lines = ["# Loudness change of a repair", "",
             (f"{len(rows)} dev items ({args.items_per_type} per type, seed {args.seed}: unseen voices, held-out noises "
             f"and rooms), model `{args.model}` at its defaults. Integrated loudness (ITU-R BS.1770) differences in "
             "LU: mean over the type's items, and the largest drop. The clean reference and the input have the "
             "same RMS where the damage keeps it (reverberation, noise mixing); a repair that removes a tail's or "
             "a noise's energy comes out quieter, which `msar repair --loudness input|LUFS` brings back."), "",
             "| type | items | input - clean | repaired - input | largest drop | repaired - clean | largest drop |",
             "|---|---|---|---|---|---|---|"]
    for kind, t in table.items():
        lines.append(f"| {kind} | {t['items']} | {t['input_vs_clean']:+.1f} | {t['repaired_vs_input']:+.1f} | "
                     f"{t['repaired_vs_input_min']:+.1f} | {t['repaired_vs_clean']:+.1f} | {t['repaired_vs_clean_min']:+.1f} |")
    write_results(args.name, {"model": args.model, "seed": args.seed, "table": table, "items": rows}, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
