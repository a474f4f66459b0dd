"""mp3-coded speech from a real encoder: what the repair does to it, with and without auto's cap on rewrites.

    python benchmarks/bench_codec_rewrite.py [--speech-dir DIR] [--files 8] [--kbps 8 24]

The shipped repair model on whole utterances of a voice it never heard (LJ Speech by default),
encoded to mp3 by the ffmpeg command line (libmp3lame, 16 kHz mono) and read back through
``msar_hf.audio.load_audio``, the path a user's file takes. This is another encoder and another
input path than the dev sets, whose codec damage comes from torchcodec on 4 s crops, so it is an
independent check of the rule. Per bitrate, the script reports PESQ-WB and Q for three versions:
the untouched mp3, ``strength="auto"`` with the rewrite cap turned off (AUTO_REWRITE_STRENGTH = 1,
auto as it was before git 774d882), and auto as shipped. It also reports how many files the cap
fires on. Writes ``benchmarks/results/codec_rewrite.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import numpy as np
import torch

SYSTEMS = ("mp3 (untouched)", "auto without the cap", "auto (shipped)")


def main(argv: list[str] | None = None) -> int:
    data_root = Path(os.environ.get("MSAR_DATA_ROOT", HERE.parent.parent / "shared" / "data"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speech-dir", type=Path, default=data_root / "speech" / "ljspeech_samples" / "audio")
    parser.add_argument("--files", type=int, default=8, help="the first N files of --speech-dir, sorted")
    parser.add_argument("--kbps", type=int, nargs="+", default=[8, 24])
    args = parser.parse_args(argv)
    if shutil.which("ffmpeg") is None:
        print("bench_codec_rewrite: the ffmpeg command line is needed (apt install ffmpeg)", file=sys.stderr)
        return 2
    sources = sorted(p for p in args.speech_dir.glob("*") if p.suffix.lower() in (".flac", ".wav"))[: args.files]
    if not sources:
        print(f"bench_codec_rewrite: {args.speech_dir}: no .flac/.wav files there", file=sys.stderr)
        return 2

    torch.set_num_threads(1)
    from common import write_results
    from tqdm.auto import tqdm

    from msar_hf.audio import load_audio
    from msar_hf.metrics.quality import compute_all
    from msar_hf.models.autoencoder import postprocessing_msar_autoencoder as post
    from msar_hf.repair import load_repair_model

    model = load_repair_model(None, "cpu")
    shipped_cap = post.AUTO_REWRITE_STRENGTH
    scores: dict[int, dict[str, list]] = {k: {s: [] for s in SYSTEMS} for k in args.kbps}
    fired: dict[int, int] = {k: 0 for k in args.kbps}
    with tempfile.TemporaryDirectory() as tmp:
        for kbps in args.kbps:
            for src in tqdm(sources, desc=f"{kbps} kbit/s", unit="file"):
                mp3 = Path(tmp) / f"{src.stem}_{kbps}.mp3"
                subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), "-ar", "16000", "-ac", "1",
                                "-b:a", f"{kbps}k", str(mp3)], check=True)
                coded = load_audio(mp3, sampling_rate=16000)[0]
                clean = load_audio(src, sampling_rate=16000)[0]
                n = min(len(coded), len(clean))
                coded, clean = coded[:n], clean[:n]
                with torch.no_grad():
                    full = model.repair(coded, strength=1.0, residual_gate=0.0, low_band_comb=0.0)
                    fired[kbps] += post.rewrite_weight(coded, full) > 0
                    try:
                        post.AUTO_REWRITE_STRENGTH = 1.0
                        uncapped = model.repair(coded, strength="auto")
                    finally:
                        post.AUTO_REWRITE_STRENGTH = shipped_cap
                    capped = model.repair(coded, strength="auto")
                for name, est in zip(SYSTEMS, (coded, uncapped, capped)):
                    s = compute_all(clean.numpy(), est.numpy(), metrics=["pesq_wb", "q"])
                    scores[kbps][name].append((s["pesq_wb"], s["q"]))

    means = {str(k): {name: {"pesq_wb": float(np.nanmean([r[0] for r in rows])), "q": float(np.mean([r[1] for r in rows]))}
                      for name, rows in by_name.items()} for k, by_name in scores.items()}
    lines = ["# mp3-coded speech: auto's cap on rewrites", "",
             (f"{len(sources)} utterances of `{args.speech_dir.name}` ({args.speech_dir.parent.name}), mp3 by ffmpeg at 16 kHz "
              "mono, read back with msar's `load_audio`; the shipped repair model. Means per bitrate."), "",
             "| bitrate | files the cap fires on | " + " | ".join(f"{s} PESQ-WB / Q" for s in SYSTEMS) + " |",
             "|---" * (len(SYSTEMS) + 2) + "|"]
    for k in args.kbps:
        cells = [f"{means[str(k)][s]['pesq_wb']:.3f} / {means[str(k)][s]['q']:.4f}" for s in SYSTEMS]
        lines.append(f"| {k} kbit/s | {fired[k]} of {len(sources)} | " + " | ".join(cells) + " |")
    write_results("codec_rewrite", {"files": [p.name for p in sources], "kbps": args.kbps, "fired": fired,
                                    "means": means, "per_file": {str(k): v for k, v in scores.items()}},
                  "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
