"""Residual-gate sweep: how the gate after the repair model trades PESQ-WB, Q and SI-SDR.

    python benchmarks/bench_residual_gate.py [--seeds 1234 777 99 4242] [--items-per-type 6]

The shipped repair model's full-strength output on the dev sets of the given seeds (unseen
speakers, held-out noises and rooms; the seeds the gate was chosen on, not the benchmark's 2026),
gated in several ways by ``residual_noise_gate`` and mixed at strength 0.8 (the default when the
gate was chosen), as ``repair()`` does, one pass per chunk unless ``--inference-shifts`` says more.
The "under 400 Hz kept" rows include the gate's pause-noise rule (the band under 400 Hz is gated
too where the removed noise fills the speech's pauses; git da5b479 and after); "peaks kept" is the
rule that bins 6 dB over the threshold keep their level after the smoothing where what was removed
is noise, in the pauses or steady (2026-11-27). Reports, over the damaged items of each half of the seeds: PESQ-WB, Q, SI-SDR,
and "ducked", the share of the repair's loudest 10 % of bins (the speech) that the gate lowers by
2.5 dB or more, which tells a gate (low) from a broadband cut (high). Writes
``benchmarks/results/residual_gate.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numpy as np
import torch

# name -> (reduction, threshold in standard deviations, band kept under this many Hz, margin in dB over
# the threshold from which a bin keeps its level after the smoothing, or None)
VARIANTS = {
    "none": (0.0, 1.0, 0.0, None),
    "1 std, under 400 Hz kept, peaks kept where noise was removed (shipped)": (0.5, 1.0, 400.0, 6.0),
    "1 std, under 400 Hz kept (shipped before 2026-11-27)": (0.5, 1.0, 400.0, None),
    "1 std, full band": (0.5, 1.0, 0.0, None),
    "2 std, full band": (0.5, 2.0, 0.0, None),
    "2 std, under 400 Hz kept": (0.5, 2.0, 400.0, None),
    "0 std, full band": (0.5, 0.0, 0.0, None),
}
METRICS = ("pesq_wb", "q", "si_sdr", "ducked")
STRENGTH = 0.8


def ducked_share(repaired: np.ndarray, gated: np.ndarray) -> float:
    """Share of the repair's loudest 10 % of STFT bins that the gate lowered by 2.5 dB or more."""
    window = torch.hann_window(1024)

    def level(x):
        spec = torch.stft(torch.as_tensor(x, dtype=torch.float32), 1024, 256, window=window, return_complex=True)
        return 20 * torch.log10(spec.abs() + 1e-9)

    before, after = level(repaired), level(gated)
    loud = before > torch.quantile(before, 0.9)
    return float(((after - before)[loud] < -2.5).float().mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1234, 777, 99, 4242],
                        help="dev-set seeds; the first half and the second half are reported apart")
    parser.add_argument("--items-per-type", type=int, default=6)
    parser.add_argument("--model", default=None, help="repair model (default: the shipped one)")
    parser.add_argument("--inference-shifts", type=int, default=1,
                        help="passes per chunk (the gate was chosen on one; the shipped model now runs 2)")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    from common import write_results
    from tqdm.auto import tqdm

    from msar_hf.metrics.quality import (
        loudness_contour,
        loudness_cosine,
        mse,
        pesq_wb,
        pitch_contour,
        pitch_cosine,
        q_score,
        si_sdr,
    )
    from msar_hf.models.autoencoder.postprocessing_msar_autoencoder import residual_noise_gate
    from msar_hf.repair import load_repair_model
    from recipes.args import EvalArguments
    from recipes.eval import build_dev_set

    model = load_repair_model(args.model, "cpu")
    model.config.inference_shifts = args.inference_shifts
    half = max(len(args.seeds) // 2, 1)
    groups = {"seeds " + "+".join(map(str, args.seeds[:half])): args.seeds[:half]}
    if args.seeds[half:]:
        groups["seeds " + "+".join(map(str, args.seeds[half:]))] = args.seeds[half:]
    scores = {g: {v: {m: [] for m in METRICS} for v in VARIANTS} for g in groups}
    for group, seeds in groups.items():
        items = [it for s in seeds for it in build_dev_set(EvalArguments(items_per_type=args.items_per_type, seed=s))
                 if it.kind != "clean"]
        for it in tqdm(items, desc=group, unit="item"):
            clean, damaged = it.clean, it.degraded.astype(np.float32)
            full = np.asarray(model.repair(torch.from_numpy(damaged), strength=1.0, residual_gate=0.0, low_band_comb=0.0), dtype=np.float32)
            ref_pitch, ref_loudness = pitch_contour(clean), loudness_contour(clean)
            for name, (reduction, threshold, protect, peak_margin) in VARIANTS.items():
                gated = residual_noise_gate(damaged, full, reduction, threshold_std=threshold,
                                            protect_below_hz=protect, peak_margin_db=peak_margin).numpy()
                out = STRENGTH * gated + (1 - STRENGTH) * damaged
                row = scores[group][name]
                row["pesq_wb"].append(pesq_wb(clean, out))
                row["q"].append(q_score(mse(clean, out), pitch_cosine(ref_pitch, pitch_contour(out)),
                                        loudness_cosine(ref_loudness, loudness_contour(out))))
                row["si_sdr"].append(si_sdr(clean, out))
                row["ducked"].append(ducked_share(full, gated))
    means = {g: {v: {m: float(np.nanmean(vals)) for m, vals in per.items()} for v, per in by_v.items()}
             for g, by_v in scores.items()}

    names = list(groups)
    header = "| gate | " + " | ".join(f"PESQ-WB {g}" for g in names) + " | " + " | ".join(f"Q {g}" for g in names)
    header += " | " + " | ".join(f"SI-SDR {g}" for g in names) + " | ducked |"
    lines = ["# Residual gate sweep", "",
             (f"Damaged dev items ({args.items_per_type} per damage type and seed; unseen speakers, held-out noises "
             f"and rooms), the shipped model's full repair gated, then mixed at strength {STRENGTH} as `repair()` "
             "does. Reduction 0.5 (-6 dB) throughout. \"ducked\": share of the repair's loudest 10 % of bins lowered "
             "by 2.5 dB or more (a gate keeps it low; a broadband cut does not)."), "",
             header, "|" + "---|" * (2 + 3 * len(names))]
    for v in VARIANTS:
        cells = [f"{means[g][v]['pesq_wb']:.3f}" for g in names] + [f"{means[g][v]['q']:.4f}" for g in names]
        cells += [f"{means[g][v]['si_sdr']:.2f}" for g in names]
        ducked = np.mean([means[g][v]["ducked"] for g in names])
        lines.append(f"| {v} | " + " | ".join(cells) + f" | {100 * ducked:.0f} % |")
    write_results("residual_gate", {"seeds": args.seeds, "items_per_type": args.items_per_type, "strength": STRENGTH,
                                    "variants": {k: list(v) for k, v in VARIANTS.items()}, "means": means},
                  "\n".join(lines))
    _plot(means, names)
    print("\n".join(lines))
    return 0


def _plot(means: dict, groups: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from common import RESULTS

    variants = [v for v in next(iter(means.values())) if v != "none"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(groups)
    for ax, metric, label in ((axes[0], "pesq_wb", "PESQ-WB change vs no gate (up is better)"),
                              (axes[1], "q", "Q change vs no gate (down is better)")):
        for i, g in enumerate(groups):
            values = [means[g][v][metric] - means[g]["none"][metric] for v in variants]
            ax.bar(np.arange(len(variants)) + i * width, values, width, label=g)
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_xticks(np.arange(len(variants)) + width * (len(groups) - 1) / 2)
        ax.set_xticklabels(variants, rotation=25, ha="right", fontsize=7)
        ax.set_title(label, fontsize=10)
    axes[0].legend(fontsize=7)
    fig.suptitle("residual gate on the dev sets (damaged items, strength 0.8)")
    fig.tight_layout()
    fig.savefig(RESULTS / "residual_gate.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
