"""Where msar's additive-noise gap lies: Q's terms and the pitch tracker's view, beside the baselines.

    python benchmarks/bench_noise_pitch.py [--seed 2026] [--items 24] [--model DIR]

On the repair benchmark's noise items msar's PESQ-WB is level with DeepFilterNet3's while its Q is
far behind (README, "Repair: msar beside the public baselines"). This splits Q into its weighted
terms and, for the term that differs (the pitch cosine), asks where WORLD DIO, Q's tracker, loses
the clean speech's F0 in each system's output: in how many of the clean speech's voiced frames it
finds none, and in those frames how loud the output is against the clean speech and how loud the
error (output minus clean) is. A system that mutes a weak voiced frame and one that leaves it under
noise both lose the frame; the levels say which it was. The target for the next training stage.

Items: the dev set's noise items (unseen voices, held-out noise recordings), one thread. Results in
``benchmarks/results/noise_pitch.{json,md}``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import numpy as np
import torch

SYSTEMS = ("noisy", "rnnoise", "nsnet2", "deepfilternet3", "gtcrn")
HOP = 160  # the pitch contour's 10 ms at 16 kHz


def _frame_db(x: np.ndarray, frames: int) -> np.ndarray:
    """Level (dB) of 32 ms around each 10 ms frame of the pitch contour."""
    return np.array([10 * np.log10(np.mean(x[max(0, i * HOP - 256): i * HOP + 256] ** 2) + 1e-12)
                     for i in range(frames)])


def pitch_view(clean: np.ndarray, estimate: np.ndarray) -> dict:
    """DIO on both: the clean speech's voiced frames, those the estimate calls unvoiced, and the
    estimate's level and error level against the clean speech in them (dB, per frame)."""
    from msar_hf.metrics.quality import pitch_contour

    ref, est = pitch_contour(clean), pitch_contour(estimate)
    n = min(ref.size, est.size)
    ref, est = ref[:n], est[:n]
    voiced = ref > 0
    missed = voiced & (est == 0)
    clean_db, est_db, err_db = _frame_db(clean, n), _frame_db(estimate, n), _frame_db(estimate - clean, n)
    return {"voiced": int(voiced.sum()), "missed": int(missed.sum()),
            "missed_level_db": list(est_db[missed] - clean_db[missed]),
            "missed_error_db": list(err_db[missed] - clean_db[missed])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "recipes" / "configs" / "autoencoder.yaml"))
    parser.add_argument("--seed", type=int, default=2026, help="dev set seed (the repair benchmark's)")
    parser.add_argument("--items", type=int, default=24, help="noise items")
    parser.add_argument("--model", default=None, help="msar repair model (default: the shipped one)")
    parser.add_argument("--name", default="noise_pitch")
    ns = parser.parse_args(argv)
    torch.set_num_threads(1)

    from baselines import load_baselines
    from bench_repair import build_msar, dev_set
    from common import write_results
    from tqdm.auto import tqdm

    from msar_hf.metrics.quality import compute_all

    items, _ = dev_set(ns.config, ns.items, 4.0, seed=ns.seed, types=["noise"])
    systems, missing = load_baselines(list(SYSTEMS))
    systems.append(build_msar(ns.model))
    rows = {}
    for system in systems:
        scores, view = [], {"voiced": 0, "missed": 0, "missed_level_db": [], "missed_error_db": []}
        for it in tqdm(items, desc=system.name, leave=False):
            y = system.enhance(it.degraded)
            scores.append(compute_all(it.clean, y, 16000, metrics=["q", "pesq_wb"]))
            for key, value in pitch_view(it.clean, y).items():
                view[key] += value
        mean = {k: float(np.mean([s[k] for s in scores])) for k in ("q", "mse", "cossim_pitch", "cossim_loudness", "pesq_wb")}
        rows[system.name] = {
            **mean,
            "q_mse_term": 0.5 * mean["mse"], "q_pitch_term": 0.3 * (1 - mean["cossim_pitch"]),
            "q_loudness_term": 0.2 * (1 - mean["cossim_loudness"]),
            "voiced_frames": view["voiced"], "missed_share": view["missed"] / max(view["voiced"], 1),
            "missed_level_db_median": float(np.median(view["missed_level_db"])) if view["missed"] else None,
            "missed_error_db_median": float(np.median(view["missed_error_db"])) if view["missed"] else None,
        }
        print(f"  {system.name:15s} Q {mean['q']:.4f} missed {rows[system.name]['missed_share']:.3f}", flush=True)

    def cell(value, fmt):
        return "-" if value is None else format(value, fmt)

    lines = ["# Additive noise: Q's terms and the pitch tracker's view\n",
             f"{len(items)} noise items of the dev set (seed {ns.seed}: unseen voices, held-out noises), one thread. "
             "Q = 0.5 MSE + 0.3 (1 - CosSim pitch) + 0.2 (1 - CosSim loudness); *missed*: the share of the clean "
             "speech's voiced frames (WORLD DIO, Q's tracker) in which DIO finds no F0 in the output; in those "
             "frames, the output's level and the error's level (output minus clean) against the clean speech, "
             "medians in dB. Unavailable: " + (", ".join(missing) or "none") + ".\n",
             ("| system | Q | 0.5 MSE | 0.3 (1-pitch) | 0.2 (1-loudness) | PESQ-WB | missed | output in missed frames (dB) "
             "| error in missed frames (dB) |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['q']:.4f} | {r['q_mse_term']:.4f} | {r['q_pitch_term']:.4f} | "
                     f"{r['q_loudness_term']:.4f} | {r['pesq_wb']:.3f} | {r['missed_share']:.3f} | "
                     f"{cell(r['missed_level_db_median'], '+.1f')} | {cell(r['missed_error_db_median'], '+.1f')} |")
    write_results(ns.name, {"seed": ns.seed, "items": len(items), "unavailable": missing, "systems": rows},
                  "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
