"""Steady noise of spectra no training noise had: msar beside the baselines.

    python benchmarks/bench_steady_noise.py [--models msar_hf/pretrained/repair runs/x/final] [--seed 2026]

Why a benchmark of its own: the dev set's noises are recordings (street, kitchen, crowd...), mostly
non-stationary, and the training's steady noises are power-law colours (white, pink, brown, blue).
Listening tests and much real hiss are steady noise under a peaked spectrum, where the shipped
repair trailed every neural baseline (found 2026-11-28 through the full-band benchmark's Noise.wav).
The noises here:

* ``speech-shaped``: Gaussian noise under the long-term spectrum of the dev speakers' own speech
  (the masking noise of intelligibility tests);
* ``steady <file>``: each held-out noise recording with its phases randomised: its long-term
  spectrum, none of its events (a recording no training run heard, made steady);
* ``alsa Noise.wav``: Debian alsa-utils' test noise (when installed; the full-band benchmark's).

Items: the dev set's clean items (unseen voices, FSDD's 8 kHz theo left out), each noise at 10 and
3 dB SNR. Metrics PESQ-WB, SI-SDR, Q, per noise and over all; one thread; results in
``benchmarks/results/<--name>.{json,md}``.
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

SNRS_DB = (10.0, 3.0)
METRICS = ("pesq_wb", "si_sdr", "q")
ALSA_NOISE = Path("/usr/share/sounds/alsa/Noise.wav")


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / max(float(np.sqrt(np.mean(x.astype(np.float64) ** 2))), 1e-12)).astype(np.float32)


def speech_shaped(speech: list[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise under the average power spectrum of ``speech`` (1024-point frames)."""
    frames = np.concatenate([s[: s.size // 1024 * 1024].reshape(-1, 1024) for s in speech if s.size >= 1024])
    envelope = np.sqrt(np.mean(np.abs(np.fft.rfft(frames * np.hanning(1024), axis=1)) ** 2, axis=0))
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum *= np.interp(np.linspace(0, 1, spectrum.size), np.linspace(0, 1, envelope.size), envelope)
    return _unit(np.fft.irfft(spectrum, n))


def phase_randomised(noise: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``noise``'s long-term magnitude spectrum with random phases: the same colour, made steady."""
    from scipy.signal import welch

    freqs, psd = welch(noise, 16000, nperseg=1024)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum *= np.sqrt(np.interp(np.fft.rfftfreq(n, 1 / 16000), freqs, psd))
    return _unit(np.fft.irfft(spectrum, n))


def build_items(seed: int) -> tuple[list[dict], list[str]]:
    from msar_hf.audio import load_audio
    from recipes.args import EvalArguments
    from recipes.data import expand_path
    from recipes.eval import build_dev_set

    dev = EvalArguments(items_per_type=8, seed=seed, types=["clean"])
    clean = [it for it in build_dev_set(dev) if it.speaker != "theo"]
    rng = np.random.default_rng(seed)
    noise_dir = expand_path(dev.noise_dir)
    noises: dict = {"speech-shaped": lambda n: speech_shaped([it.clean for it in clean], n, rng)}
    for name in list(dev.noise_include)[:3]:
        files = sorted(noise_dir.rglob(f"{name}*.*"))
        if files:
            recording = load_audio(files[0])[0].numpy()
            noises[f"steady {name}"] = lambda n, r=recording: phase_randomised(r, n, rng)
    if ALSA_NOISE.is_file():
        alsa = load_audio(ALSA_NOISE)[0].numpy()
        noises["alsa Noise.wav"] = lambda n: _unit(np.roll(np.tile(alsa, n // alsa.size + 1), int(rng.integers(alsa.size)))[:n])
    items = []
    for name, make in noises.items():
        for snr in SNRS_DB:
            for it in clean:
                noise = make(it.clean.size)
                gain = np.sqrt(np.mean(it.clean.astype(np.float64) ** 2) / 10 ** (snr / 10))
                items.append({"noise": name, "snr": snr, "speaker": it.speaker, "clean": it.clean,
                              "damaged": (it.clean + gain * noise).astype(np.float32)})
    return items, list(noises)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["msar_hf/pretrained/repair"],
                        help="msar models (folders or Hub ids), each a column")
    parser.add_argument("--baselines", nargs="*", default=["rnnoise", "nsnet2", "deepfilternet3", "gtcrn"],
                        help="benchmarks/baselines.py names (none given: all of them)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--name", default="steady_noise")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    from baselines import load_baselines
    from common import write_results
    from tqdm.auto import tqdm

    from msar_hf.metrics.quality import compute_all
    from msar_hf.repair import load_repair_model

    items, noises = build_items(args.seed)
    systems = {"input": lambda x: x}
    loaded, missing = load_baselines([name for name in args.baselines if name != "noisy"] or None)
    systems.update({b.name: b.enhance for b in loaded if b.name != "noisy"})
    for spec in args.models:
        model = load_repair_model(spec, "cpu")
        label = "msar" if spec == "msar_hf/pretrained/repair" else f"msar {spec}"
        systems[label] = lambda x, m=model: np.asarray(m.repair(torch.from_numpy(x)), np.float32)
    scores: dict[str, list[dict]] = {}
    for name, enhance in systems.items():
        with torch.no_grad():
            scores[name] = [compute_all(it["clean"], enhance(it["damaged"]), metrics=list(METRICS))
                            for it in tqdm(items, desc=name, leave=False)]
    groups = [(f"{noise} {snr:g} dB", [i for i, it in enumerate(items) if it["noise"] == noise and it["snr"] == snr])
              for noise in noises for snr in SNRS_DB] + [("all", list(range(len(items))))]
    table = {name: {g: {m: float(np.nanmean([rows[i][m] for i in idx])) for m in METRICS} for g, idx in groups}
             for name, rows in scores.items()}
    lines = ["# Steady noise of unseen spectra", "",
             (f"{len(items) // (len(noises) * len(SNRS_DB))} clean dev items (seed {args.seed}, unseen voices) x {len(noises)} steady noises x SNR "
             f"{', '.join(f'{s:g}' for s in SNRS_DB)} dB; see `benchmarks/bench_steady_noise.py` for the noises. "
             f"Unavailable: {', '.join(missing) or 'none'}."), ""]
    for metric, label, higher in (("pesq_wb", "PESQ-WB", True), ("si_sdr", "SI-SDR dB", True), ("q", "Q", False)):
        lines += [f"## {label} ({'higher' if higher else 'lower'} is better)", "",
                  "| noise | " + " | ".join(table) + " |", "|---|" + "---|" * len(table)]
        for g, _ in groups:
            values = {name: table[name][g][metric] for name in table}
            best = (max if higher else min)(v for n, v in values.items() if n != "input")
            lines.append(f"| {g} | " + " | ".join(f"**{v:.3f}**" if n != "input" and v == best else f"{v:.3f}"
                                                   for n, v in values.items()) + " |")
        lines.append("")
    write_results(args.name, {"seed": args.seed, "noises": noises, "snrs_db": list(SNRS_DB), "table": table},
                  "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
