#!/usr/bin/env python
"""Pack the training part of ``../shared/data`` small enough to ship to a rented GPU machine.

    python recipes/pack_shared_data.py --src ../shared/data --dst .gpu/data
    MSAR_DATA_ROOT=.gpu/data accelerate launch recipes/train.py --config recipes/configs/autoencoder_gpu.yaml

The GPU run behind the shipped repair weights read this copy, because that machine took at most
64 MiB of files per call. What it changes, so the run can be reproduced exactly:

- kathleen: every 3rd utterance left out (755 of 1132; ``--kathleen-limit`` keeps the first N of
  those, 700 for the warm-started stage 3, whose starting weights travelled too), the rest
  lossless FLAC with silent edges trimmed to 0.15 s (the recipe pads utterances with 0-0.3 s gaps
  of its own);
- FSDD: each training speaker's clips joined into one lossless FLAC with 0.1 s gaps (theo, the
  held-out dev speaker, left out); a crop of it is several digits, as the recipe draws anyway;
- noises: the 29 training noises as OGG Vorbis (they are inputs, never targets), the six dev
  noises left out; RIRs copied as they are.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # repo root, as in train.py

from recipes.args import HELD_OUT_NOISES  # the dev set's noises stay out of the copy

DEV_SPEAKERS = {"theo"}  # the FSDD speaker of the dev set (EvalArguments.speech)


def trim_silence(x: np.ndarray, sr: int, keep_s: float = 0.15, floor_db: float = -50.0) -> np.ndarray:
    """Cut leading/trailing samples more than ``floor_db`` under the peak, keeping ``keep_s``."""
    loud = np.flatnonzero(np.abs(x) > np.abs(x).max() * 10 ** (floor_db / 20))
    if loud.size == 0:
        return x
    keep = int(keep_s * sr)
    return x[max(0, loud[0] - keep): loud[-1] + keep]


def write_vorbis(path: Path, x: np.ndarray, sr: int) -> None:
    # block writes: one long write crashed libsndfile's Vorbis encoder on a 3-minute file
    with sf.SoundFile(path, "w", sr, 1, format="OGG", subtype="VORBIS") as fh:
        for i in range(0, x.size, 8192):
            fh.write(x[i: i + 8192].astype(np.float32))


def pack_kathleen(src: Path, dst: Path, keep_every: int = 3, limit: int | None = None) -> int:
    (dst / "audio").mkdir(parents=True)
    with (src / "metadata.csv").open(newline="") as fh:
        rows = [r for i, r in enumerate(csv.DictReader(fh)) if i % keep_every != keep_every - 1][:limit]
    for r in rows:
        x, sr = sf.read(src / r["file_name"], dtype="int16")
        x = trim_silence(x.astype(np.float32), sr).astype(np.int16)
        sf.write(dst / r["file_name"], x, sr, format="FLAC", compression_level=1.0)
    with (dst / "metadata.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def pack_fsdd(src: Path, dst: Path) -> int:
    (dst / "audio").mkdir(parents=True)
    by_speaker: dict[str, list[np.ndarray]] = {}
    rate = 8000
    with (src / "metadata.csv").open(newline="") as fh:
        for r in csv.DictReader(fh):
            if r["speaker_id"] in DEV_SPEAKERS:
                continue
            x, rate = sf.read(src / r["file_name"], dtype="int16")
            by_speaker.setdefault(r["speaker_id"], []).extend([x, np.zeros(int(0.1 * rate), np.int16)])
    with (dst / "metadata.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file_name", "text", "speaker_id"])
        for speaker, parts in sorted(by_speaker.items()):
            sf.write(dst / "audio" / f"{speaker}.flac", np.concatenate(parts), rate, format="FLAC", compression_level=1.0)
            writer.writerow([f"audio/{speaker}.flac", "digits", speaker])
    return len(by_speaker)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=Path("../shared/data"))
    parser.add_argument("--dst", type=Path, default=Path(".gpu/data"))
    parser.add_argument("--kathleen-limit", type=int, default=None, metavar="N",
                        help="keep only the first N kathleen utterances (to fit beside a warm-start checkpoint)")
    args = parser.parse_args(argv)
    for needed in ("speech/kathleen/metadata.csv", "speech/fsdd/metadata.csv", "noise/audio", "rir"):
        if not (args.src / needed).exists():
            parser.exit(2, f"pack_shared_data: {args.src / needed}: not found (--src is the shared data folder)\n")
    if args.dst.resolve() == args.src.resolve() or args.src.resolve() in args.dst.resolve().parents:
        parser.exit(2, f"pack_shared_data: --dst {args.dst} lies inside --src; choose another folder\n")
    shutil.rmtree(args.dst, ignore_errors=True)
    if args.kathleen_limit is not None and args.kathleen_limit < 1:
        parser.exit(2, f"pack_shared_data: --kathleen-limit {args.kathleen_limit}: must be at least 1\n")
    n_kathleen = pack_kathleen(args.src / "speech/kathleen", args.dst / "speech/kathleen", limit=args.kathleen_limit)
    n_fsdd = pack_fsdd(args.src / "speech/fsdd", args.dst / "speech/fsdd")
    (args.dst / "noise/audio").mkdir(parents=True)
    noises = [p for p in sorted((args.src / "noise/audio").glob("*")) if p.stem not in HELD_OUT_NOISES]
    for p in noises:
        x, sr = sf.read(p, dtype="float32")
        write_vorbis(args.dst / "noise/audio" / f"{p.stem}.ogg", x, sr)
    shutil.copytree(args.src / "rir", args.dst / "rir")
    size = sum(p.stat().st_size for p in args.dst.rglob("*") if p.is_file())
    print(f"{args.dst}: kathleen {n_kathleen} utterances, FSDD {n_fsdd} speakers, {len(noises)} noises, "
          f"{size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
