"""Make the bundled demo clip: a real recording damaged by real noise, a real room, clipping and
dropouts. Run from the repository root (reads the shared data, writes two small FLAC files):

    python msar_hf/demo/make_demo_clip.py [--data-root $MSAR_DATA_ROOT] [--out msar_hf/demo]

Everything comes from recordings the repair model never trained on (see
``recipes/configs/autoencoder.yaml``: speaker ``lj`` is a dev speaker; the noise and the room are
on its held-out lists), and every step is seeded, so the output is the same on every run.
Provenance and licences: ``msar_hf/demo/README.md``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

SPEECH = "speech/ljspeech_samples/audio/LJ001-0006.flac"  # public domain, 5.7 s, speaker "lj"
NOISE = "noise/audio/doing_the_dishes.flac"  # CC-BY-4.0, Speech Commands background noise
RIR = "rir/audio/st_margaret_s_church.flac"  # CC-BY-4.0, OpenAIR (B-format channel 0)
SEED = 20240607
RATE = 16000


def make(data_root: Path, out_dir: Path) -> tuple[Path, Path]:
    from msar_hf.audio import load_audio, save_audio
    from msar_hf.data.degradations import add_noise, clip_hard, dropouts, reverberate

    clean = load_audio(data_root / SPEECH, RATE)[0].numpy()
    noise = load_audio(data_root / NOISE, RATE)[0].numpy()
    rir = load_audio(data_root / RIR, RATE)[0].numpy()
    rng = np.random.default_rng(SEED)

    clean = clean * np.float32(0.5 / np.abs(clean).max())  # the reference: -6 dBFS peak
    x = reverberate(clean, rir, wet_level=0.3)  # a church, microphone close to the talker
    x = add_noise(x, noise, snr_db=10.0, start=int(rng.integers(0, noise.size - x.size)))  # washing up
    x = clip_hard(x, clipped_fraction=0.015)  # a preamp turned up too far: 1.5 % of samples on the rails
    x = x * np.float32(1.0 / np.abs(x).max())  # ...with the rails at full scale
    x = dropouts(x, RATE, rng, loss_rate=0.05, frame_ms=20.0, mean_burst=3.0, mode="zero")  # lost packets

    out_dir.mkdir(parents=True, exist_ok=True)
    damaged = save_audio(out_dir / "damaged_demo.flac", x, RATE)
    reference = save_audio(out_dir / "clean_demo.flac", clean, RATE)
    return damaged, reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=Path(os.environ.get("MSAR_DATA_ROOT", "../shared/data")))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args()
    for path in make(args.data_root, args.out):
        print(f"wrote {path} ({path.stat().st_size / 1000:.0f} kB)")


if __name__ == "__main__":
    main()
