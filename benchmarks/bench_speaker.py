#!/usr/bin/env python
"""Speaker encoder benchmark: equal error rate on speakers never seen in training, and speed.

    python benchmarks/bench_speaker.py [--model FOLDER_OR_HUB_ID] [--config recipes/configs/speaker_encoder.yaml]

Verification list: every pair of the held-out clips in the training recipe's manifest
(CMU ARCTIC aew/axb, LJ, a held-out FSDD speaker, flite awb, festival ked, held-out espeak-ng
variants; ``recipes/train_speaker_encoder.py --prepare-only`` writes it). EER is reported over all
pairs, real-only pairs and synthetic-only pairs, beside a no-training baseline (cosine of
MFCC mean+std vectors) measured on the same pairs. Throughput is measured on one thread in x real
time, one clip at a time and in batches of 8.

Writes benchmarks/results/speaker_encoder.json and .md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for p in (REPO, REPO / "recipes", HERE):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import numpy as np
import torch
from common import write_results


def mfcc_baseline(paths: list[str], speakers: list[str], sources: list[str]) -> dict:
    """EER of cosine similarity between per-clip MFCC mean+std vectors (no learning)."""
    import torchaudio
    from train_speaker_encoder import REAL_SOURCES

    from msar_hf.audio import load_audio
    from msar_hf.speaker import all_pair_trials, equal_error_rate

    mfcc = torchaudio.transforms.MFCC(sample_rate=16000, n_mfcc=30, melkwargs={"n_mels": 40})
    vecs = []
    for p in paths:
        m = mfcc(load_audio(p)[0])[1:]  # drop c0 (loudness)
        vecs.append(torch.cat([m.mean(-1), m.std(-1)]))
    v = torch.stack(vecs)
    v = v - v.mean(0)  # centre, otherwise every cosine is near 1
    scores, same, pairs = all_pair_trials(v, speakers)
    real = np.array([s in REAL_SOURCES for s in sources])
    out = {}
    for name, keep in (("all", np.ones(len(scores), bool)), ("real", real[pairs].all(1)),
                       ("synthetic", (~real[pairs]).all(1))):
        if same[keep].any() and not same[keep].all():
            out[name] = equal_error_rate(scores[keep], same[keep])[0]
    return out


def throughput(encoder, paths: list[str], batch_size: int) -> dict:
    from msar_hf.audio import load_audio

    waves = [load_audio(p)[0] for p in paths]
    seconds = sum(len(w) for w in waves) / 16000
    encoder.embed(waves[0])  # warm-up
    start = time.perf_counter()
    for i in range(0, len(waves), batch_size):
        chunk = waves[i : i + batch_size]
        lens = torch.tensor([len(w) for w in chunk])
        batch = torch.zeros(len(chunk), int(lens.max()))
        for row, w in enumerate(chunk):
            batch[row, : len(w)] = w
        encoder.embed(batch, lens)
    elapsed = time.perf_counter() - start
    return {"audio_s": seconds, "compute_s": elapsed, "x_realtime": seconds / elapsed, "batch_size": batch_size}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="speaker model [default: msar's shipped encoder]")
    p.add_argument("--config", default=str(REPO / "recipes" / "configs" / "speaker_encoder.yaml"))
    p.add_argument("--name", default="speaker_encoder", help="results file stem")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    import train_speaker_encoder as recipe

    from msar_hf.speaker import SpeakerEncoder

    cfg = recipe.load_config(args.config)
    manifest = cfg["cache_dir"] / "manifest.csv"
    if not manifest.exists():
        recipe.prepare_data(cfg)
    rows = recipe.read_manifest(manifest, "verify")
    encoder = SpeakerEncoder.from_pretrained(args.model)
    report = recipe.verification_report(encoder, rows)
    baseline = mfcc_baseline([r["path"] for r in rows], [r["speaker"] for r in rows], [r["source"] for r in rows])
    speed_clips = [r["path"] for r in rows if r["source"] in ("arctic_samples", "ljspeech_samples")]
    speed = [throughput(encoder, speed_clips, 1), throughput(encoder, speed_clips, 8)]
    n_params = sum(p.numel() for p in encoder.model.mods.embedding_model.parameters())

    payload = {"model": encoder.source, "embedding_dim": encoder.embedding_dim, "params_M": n_params / 1e6,
               "verification": report, "mfcc_baseline_eer": baseline, "throughput_one_thread": speed}
    lines = [f"# Speaker encoder: `{encoder.source}`", "",
             f"ECAPA-TDNN, {n_params / 1e6:.2f} M parameters, {encoder.embedding_dim}-d embeddings.", "",
             "## Equal error rate on speakers never seen in training (every pair of held-out clips)", "",
             "| trials | speakers | target / non-target pairs | EER | MFCC baseline EER |", "|---|---|---|---|---|"]
    for name in ("all", "real", "synthetic"):
        if name in report:
            r = report[name]
            lines.append(f"| {name} | {len(r['speakers'])} ({', '.join(r['speakers'][:6])}"
                         f"{', ...' if len(r['speakers']) > 6 else ''}) | {r['target_trials']} / "
                         f"{r['nontarget_trials']} | **{100 * r['eer']:.2f}%** | "
                         f"{100 * baseline.get(name, float('nan')):.2f}% |")
    lines += ["", "## Throughput (one CPU thread)", "", "| batch | audio | compute | x real time |", "|---|---|---|---|"]
    for s in speed:
        lines.append(f"| {s['batch_size']} | {s['audio_s']:.1f} s | {s['compute_s']:.2f} s | {s['x_realtime']:.0f}x |")
    json_path, md_path = write_results(args.name, payload, "\n".join(lines))
    print("\n".join(lines))
    print(f"\nwrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
