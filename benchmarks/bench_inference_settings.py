"""What each of repair()'s inference settings is worth, added one at a time, on dev-set seeds.

    python benchmarks/bench_inference_settings.py [--seeds 5555 31337] [--items-per-type 6]

The shipped repair model on dev sets of the given seeds (unseen speakers, held-out noises and
rooms). The default seeds are ones no setting was chosen on (the settings were chosen on 1234, 777,
99 and 4242, and the benchmark reports seed 2026), except the last four rows': the gate keeping
the harmonics was chosen on those four, and restricted to removed noise after all twelve dev seeds
(1234 ... 16) had been scored, these two included; auto's time-frequency noise rule, the gate
treating the noise it finds as pause noise and the gate opening its low band on steady noise were
chosen on seeds 1234, 777, 99, 4242, 5555 and 31337 (these two included) and confirmed on 11-16;
the low-band comb was chosen on seeds 7, 99 and 4242 and checked on 1234, 777, 5555 and 31337
(these two included). Each row adds one setting to the row above; the last row, marked "shipped", is what
`msar repair` does (`--comb 0` is the row above it). Reports PESQ-WB
and Q over the damaged items, additive noise alone, and clean input (do no harm), per seed. Writes ``benchmarks/results/inference_settings.{json,md}``.
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

# name: (strength, inference_shifts, auto's pause-noise mix, the gate opening its low band on pause
# noise, auto's cap on a repair that rewrites the speech: 1.0 = no cap, the gate keeping the harmonics
# where what was removed is noise, auto's mix where what was removed has no speech pattern: 0 = off,
# the gate treating that noise as pause noise, the gate opening its low band on steady noise, the
# low-band comb: 0 = off)
SETTINGS = {
    "0.8, 1 pass (default until 038615a)": (0.8, 1, 0.0, False, 1.0, False, 0.0, False, False, 0.0),
    "auto, 1 pass": ("auto", 1, 0.0, False, 1.0, False, 0.0, False, False, 0.0),
    "auto, 2 passes": ("auto", 2, 0.0, False, 1.0, False, 0.0, False, False, 0.0),
    "+ auto's pause-noise mix (0.95)": ("auto", 2, 0.95, False, 1.0, False, 0.0, False, False, 0.0),
    "+ the gate's low band on pause noise": ("auto", 2, 0.95, True, 1.0, False, 0.0, False, False, 0.0),
    "+ auto holds back rewrites (0.5)": ("auto", 2, 0.95, True, 0.5, False, 0.0, False, False, 0.0),
    "+ the gate keeps harmonics where noise was removed": ("auto", 2, 0.95, True, 0.5, True, 0.0, False, False, 0.0),
    "+ auto's mix on noise by its time-frequency pattern (0.95)": ("auto", 2, 0.95, True, 0.5, True, 0.95, False, False, 0.0),
    "+ the gate treats that noise as pause noise": ("auto", 2, 0.95, True, 0.5, True, 0.95, True, False, 0.0),
    "+ the gate opens its low band on steady noise": ("auto", 2, 0.95, True, 0.5, True, 0.95, True, True, 0.0),
    "+ the low-band comb where noise was removed (shipped)": ("auto", 2, 0.95, True, 0.5, True, 0.95, True, True, 1.0),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[5555, 31337])
    parser.add_argument("--items-per-type", type=int, default=6)
    parser.add_argument("--model", default=None, help="repair model (default: the shipped one)")
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
    )
    from msar_hf.models.autoencoder import postprocessing_msar_autoencoder as post
    from msar_hf.repair import load_repair_model
    from recipes.args import EvalArguments
    from recipes.eval import build_dev_set

    model = load_repair_model(args.model, "cpu")
    shipped = (model.config.inference_shifts, post.AUTO_PAUSE_NOISE_STRENGTH, post.RESIDUAL_GATE_OPENS_ON_PAUSE_NOISE,
               post.AUTO_REWRITE_STRENGTH, post.RESIDUAL_GATE_KEEPS_HARMONICS_ON_NOISE, post.AUTO_TF_NOISE_STRENGTH,
               post.RESIDUAL_GATE_TREATS_TF_NOISE, post.RESIDUAL_GATE_OPENS_ON_STEADY_NOISE)
    scores = {seed: {name: {} for name in SETTINGS} for seed in args.seeds}
    try:
        for seed in args.seeds:
            items = build_dev_set(EvalArguments(items_per_type=args.items_per_type, seed=seed))
            for it in tqdm(items, desc=f"seed {seed}", unit="item"):
                ref_pitch, ref_loudness = pitch_contour(it.clean), loudness_contour(it.clean)
                for name, setting in SETTINGS.items():
                    (strength, shifts, pause_mix, gate_opens, rewrite_mix, harmonics, tf_mix, gate_tf, gate_steady,
                     comb) = setting
                    model.config.inference_shifts = shifts
                    post.AUTO_PAUSE_NOISE_STRENGTH, post.RESIDUAL_GATE_OPENS_ON_PAUSE_NOISE = pause_mix, gate_opens
                    post.AUTO_REWRITE_STRENGTH, post.RESIDUAL_GATE_KEEPS_HARMONICS_ON_NOISE = rewrite_mix, harmonics
                    post.AUTO_TF_NOISE_STRENGTH, post.RESIDUAL_GATE_TREATS_TF_NOISE = tf_mix, gate_tf
                    post.RESIDUAL_GATE_OPENS_ON_STEADY_NOISE = gate_steady
                    out = np.asarray(model.repair(torch.from_numpy(it.degraded.astype(np.float32)), strength=strength,
                                                  low_band_comb=comb), dtype=np.float32)
                    q = q_score(mse(it.clean, out), pitch_cosine(ref_pitch, pitch_contour(out)),
                                loudness_cosine(ref_loudness, loudness_contour(out)))
                    scores[seed][name].setdefault(it.kind, []).append((pesq_wb(it.clean, out), q))
    finally:
        model.config.inference_shifts = shipped[0]
        (post.AUTO_PAUSE_NOISE_STRENGTH, post.RESIDUAL_GATE_OPENS_ON_PAUSE_NOISE, post.AUTO_REWRITE_STRENGTH,
         post.RESIDUAL_GATE_KEEPS_HARMONICS_ON_NOISE, post.AUTO_TF_NOISE_STRENGTH,
         post.RESIDUAL_GATE_TREATS_TF_NOISE, post.RESIDUAL_GATE_OPENS_ON_STEADY_NOISE) = shipped[1:]

    def mean(rows, which):
        return float(np.nanmean([r[which] for r in rows]))

    means = {}
    for seed, by_name in scores.items():
        for name, by_kind in by_name.items():
            damaged = [r for kind, rows in by_kind.items() if kind != "clean" for r in rows]
            means.setdefault(str(seed), {})[name] = {
                "pesq_wb": mean(damaged, 0), "q": mean(damaged, 1),
                "noise_pesq_wb": mean(by_kind["noise"], 0), "clean_pesq_wb": mean(by_kind["clean"], 0)}
    seeds = [str(s) for s in args.seeds]
    cols = [("pesq_wb", "PESQ-WB damaged", 3), ("q", "Q damaged", 4), ("noise_pesq_wb", "PESQ-WB noise", 3),
            ("clean_pesq_wb", "PESQ-WB clean", 3)]
    lines = ["# repair() inference settings, one at a time", "",
             (f"The shipped model on {args.items_per_type} items per damage type and seed (unseen speakers, held-out "
              "noises and rooms); cells are `seed | seed`. Each row adds one setting to the row above; the last "
              "row, marked shipped, is what `msar repair` does (`--comb 0`: the row above it)."), "",
             "| setting | " + " | ".join(c[1] for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name in SETTINGS:
        cells = [" \\| ".join(f"{means[s][name][key]:.{nd}f}" for s in seeds) for key, _, nd in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    write_results("inference_settings", {"seeds": args.seeds, "items_per_type": args.items_per_type,
                                         "settings": {k: list(v) for k, v in SETTINGS.items()}, "means": means},
                  "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
