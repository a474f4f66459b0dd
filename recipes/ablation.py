#!/usr/bin/env python
"""The founding document's ablation, reproduced on our data: four arms, one table, one chart.

    python recipes/ablation.py                      # train (resumable) + evaluate all arms
    python recipes/ablation.py --arms 1,2 --eval-only

Arms (recipes/configs/autoencoder_ablation_*.yaml):
  1. base autoencoder: no LSTM, waveform MSE, one speaker
  2. improved: BiLSTM + multi-resolution STFT / SI-SDR / compressed-spectrum / loudness loss
  3. multi-speaker training
  4. multi-speaker + speaker-conditioned repair (FiLM on msar speaker embeddings)

Every arm gets the same budget (``--steps`` x ``--batch-size`` x ``--crop-seconds``, one thread)
and is scored on the same fixed dev set (recipes/eval.py: unseen speakers, held-out noises and
rooms, every damage type) beside the untouched input. Writes
``benchmarks/results/ablation.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np
import torch

from recipes.args import RecipeArguments, expand_path, load_arguments
from recipes.eval import dev_reference_embeddings

ARMS = {
    "1": ("1 base (conv, MSE, 1 speaker)", "recipes/configs/autoencoder_ablation_1_base.yaml"),
    "2": ("2 improved (LSTM, better loss)", "recipes/configs/autoencoder_ablation_2_lstm.yaml"),
    "3": ("3 multi-speaker", "recipes/configs/autoencoder_ablation_3_multispeaker.yaml"),
    "4": ("4 multi-speaker + speaker-conditioned", "recipes/configs/autoencoder_ablation_4_speaker.yaml"),
}
# The founding document's columns (Q = 0.5 MSE + 0.3 (1 - CosSim pitch) + 0.2 (1 - CosSim loudness)).
COLUMNS = [("mse", "MSE", "lower"), ("cossim_pitch", "CosSim pitch", "higher"),
           ("cossim_loudness", "CosSim loudness", "higher"), ("q", "Q", "lower"),
           ("pesq_wb", "PESQ-WB", "higher"), ("stoi", "STOI", "higher"), ("si_sdr", "SI-SDR (dB)", "higher")]


def _train_arm(args: RecipeArguments) -> Path:
    from recipes.train import train

    final = Path(args.training.output_dir) / "final"
    if not (final / "model.safetensors").exists():
        result = train(args, resume="latest")
        if "final_dir" not in result:
            raise SystemExit(f"{args.training.output_dir}: training stopped before max_steps; re-run to resume")
    return final


def _fmt(key: str, value: float) -> str:
    return f"{value:.5f}" if key == "mse" else f"{value:.2f}" if key == "si_sdr" else f"{value:.4f}" if key == "q" else f"{value:.3f}"


def _table(rows: dict[str, dict], per_type: dict[str, dict], arms_meta: dict) -> str:
    head = "| system | " + " | ".join(f"{label} {'↓' if d == 'lower' else '↑'}" for _, label, d in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 1)]
    for name, scores in rows.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(k, scores.get(k, float("nan"))) for k, _, _ in COLUMNS) + " |")
    types = list(next(iter(per_type.values())).keys())
    out = ["Mean over the damaged dev items (every type except `clean`):", "", *lines, "",
           "PESQ-WB per damage type (`clean` = undamaged input: do-no-harm check):", "",
           "| system | " + " | ".join(types) + " |", "|" + "---|" * (len(types) + 1)]
    for name, by_type in per_type.items():
        out.append(f"| {name} | " + " | ".join(f"{by_type[t].get('pesq_wb', float('nan')):.2f}" for t in types) + " |")
    out += ["", "SI-SDR (dB) per damage type:", "", "| system | " + " | ".join(types) + " |", "|" + "---|" * (len(types) + 1)]
    for name, by_type in per_type.items():
        out.append(f"| {name} | " + " | ".join(f"{by_type[t].get('si_sdr', float('nan')):.1f}" for t in types) + " |")
    out += ["", "Training of each arm:", ""]
    for name, meta in arms_meta.items():
        out.append(f"- {name}: `{meta['config']}`, {meta['steps']} steps x {meta['batch_size']} crops of "
                   f"{meta['crop_seconds']} s, {meta['parameters'] / 1e6:.2f} M parameters, speakers: {meta['speakers']}"
                   + (f", {meta['train_minutes']:.1f} min of training wall time" if meta.get("train_minutes") else ""))
    out.append("")
    out.append("Wall times are on the shared 2-core machine under varying load (other jobs running); "
               "budgets are equal in steps and audio seen, not in seconds.")
    return "\n".join(out)


def _chart(rows: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(13, 6.5))
    names = list(rows)
    colours = plt.cm.viridis(np.linspace(0.1, 0.9, len(names)))
    for ax, (key, label, direction) in zip(axes.flat, COLUMNS):
        values = np.array([rows[n].get(key, np.nan) for n in names], dtype=float)
        ax.bar(range(len(names)), values, color=colours)
        # Zoomed to the data: the arms differ by a few percent, invisible on a zero-based axis.
        lo, hi = np.nanmin(values), np.nanmax(values)
        pad = 0.25 * (hi - lo) if hi > lo else 0.05 * abs(hi) + 1e-6
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_title(f"{label} ({'lower' if direction == 'lower' else 'higher'} is better)", fontsize=9)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels([n.split(" ")[0] for n in names], fontsize=8)
    axes.flat[-1].axis("off")
    axes.flat[-1].legend([plt.Rectangle((0, 0), 1, 1, color=c) for c in colours], names, loc="center",
                         fontsize=8, frameon=False, title="y axes do not start at 0", title_fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", default="1,2,3,4", help="comma-separated arm numbers")
    parser.add_argument("--steps", type=int, default=240, help="training steps of every arm")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop-seconds", type=float, default=2.0)
    parser.add_argument("--runs-dir", default="runs/ablation", help="where each arm trains (resumable)")
    parser.add_argument("--items-per-type", type=int, default=6, help="dev items per damage type")
    parser.add_argument("--eval-only", action="store_true", help="evaluate arms already trained")
    parser.add_argument("--out", default="ablation", help="results name under benchmarks/results/")
    ns = parser.parse_args(argv)
    torch.set_num_threads(1)

    from benchmarks.common import RESULTS, write_results
    from recipes.eval import build_dev_set, evaluate_input, evaluate_model

    arms = [a.strip() for a in ns.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise SystemExit(f"unknown arm(s) {unknown}; choose from {sorted(ARMS)}")
    budget = [f"training.max_steps={ns.steps}", f"data.batch_size={ns.batch_size}",
              f"data.crop_seconds={ns.crop_seconds}", "training.num_threads=1", "training.progress=false",
              f"eval.items_per_type={ns.items_per_type}", "training.seed=0"]
    dev_args = load_arguments(ARMS[arms[0]][1], budget).eval
    t0 = time.time()
    items = build_dev_set(dev_args)
    print(f"dev set: {len(items)} items ({time.time() - t0:.0f}s)", flush=True)

    rows = {"input (untouched)": None}
    per_type = {}
    meta = {}
    scored = evaluate_input(items, dev_args.metrics)
    rows["input (untouched)"], per_type["input (untouched)"] = scored["overall"], scored["per_type"]
    from msar_hf.models.autoencoder import MsarAutoencoderModel
    from recipes.data import SpeechPool

    for arm in arms:
        name, config = ARMS[arm]
        out_dir = Path(ns.runs_dir) / Path(config).stem.replace("autoencoder_ablation_", "")
        args = load_arguments(config, budget + [f"training.output_dir={out_dir}"])
        if args.eval != dev_args:
            raise SystemExit(f"{config}: eval section differs from arm {arms[0]}'s: arms must share one dev set")
        final = out_dir / "final"
        if not ns.eval_only:
            final = _train_arm(args)
        summary = out_dir / "train_summary.json"
        train_minutes = json.loads(summary.read_text())["train_seconds"] / 60 if summary.exists() else None
        model = MsarAutoencoderModel.from_pretrained(final).eval()
        refs = dev_reference_embeddings(args) if args.data.speaker_conditioning else None
        t1 = time.time()
        scored = evaluate_model(model, items, dev_args.metrics, refs)
        rows[name], per_type[name] = scored["overall"], scored["per_type"]
        meta[name] = {"config": config, "steps": ns.steps, "batch_size": ns.batch_size,
                      "crop_seconds": ns.crop_seconds, "parameters": sum(p.numel() for p in model.parameters()),
                      "speakers": len(SpeechPool(args.data.speech).speakers), "train_minutes": train_minutes}
        print(f"{name}: " + ", ".join(f"{k}={rows[name][k]:.3f}" for k, _, _ in COLUMNS)
              + f" (eval {time.time() - t1:.0f}s)", flush=True)

    markdown = "# Ablation: what each idea is worth\n\n" + _table(rows, per_type, meta) + (
        f"\n\nDev set: {len(items)} items of {dev_args.seconds} s, {dev_args.items_per_type} per type "
        f"({', '.join(dev_args.types)}), speakers never trained on "
        f"({', '.join(str(expand_path(s['dir']).name) + (' ' + ','.join(s['include_speakers']) if s.get('include_speakers') else '') for s in dev_args.speech)}), "
        f"held-out noises {list(dev_args.noise_include)} and rooms {list(dev_args.rir_include)}.\n\n![ablation](ablation.png)\n")
    if ns.eval_only:
        markdown += ("\nThe arms were trained earlier by this same command without `--eval-only` (same budget "
                     "flags); this run only re-scored the saved models.\n")
    payload = {"arms": meta, "overall": rows, "per_type": per_type, "budget": budget,
               "dev_set": {"items": len(items), **json.loads(json.dumps(dev_args.__dict__))}}
    write_results(ns.out, payload, markdown)
    _chart(rows, RESULTS / f"{ns.out}.png")
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
