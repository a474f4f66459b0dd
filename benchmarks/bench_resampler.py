"""Which resampler the repair path should use: torchaudio's default Kaiser sinc (shipped) against
two steeper filters, on real recordings that reach the 16 kHz model at another rate.

    python benchmarks/bench_resampler.py [--fsdd-dir DIR] [--voice-dir /usr/share/sounds/alsa]

On paper the shipped filter is the weakest: on 48 -> 16 kHz it is -2.9 dB at 7 kHz and lets an
8.5 kHz tone through at -9 dB (folded to 7.5 kHz); torchaudio's "kaiser_best" settings (64 zero
crossings) and libsoxr ("VHQ") are flat to 7 kHz and fold nothing back. The repair model learned
from 8 kHz corpora (FSDD) brought to 16 kHz through the shipped filter, though, so what counts is
what each filter does to the repair, measured here end to end: ``msar_hf.repair.Repairer`` on noisy
files at 8 kHz (FSDD, every speaker) and 48 kHz (Debian alsa-utils' voice, with hiss above 8 kHz
too), output at the input's rate, every module's ``resample`` swapped for the filter under test.
Scores: PESQ-WB, STOI (over the takes long enough for it) and Q at 16 kHz (scipy's polyphase resampler brings reference and repair
there, the same for every row), SI-SDR at the input's rate, and the SNR of the band just under
the input's Nyquist frequency, where the filters differ. Writes
``benchmarks/results/resampler.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from math import gcd
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import numpy as np
import torch

NOISES = ("blanket_coffee-shop", "running_tap", "max_audio_railway", "noise2")
SNRS_DB = (5.0, 15.0)
# the band just under each input rate's Nyquist frequency: where the filters differ
EDGE_BAND_HZ = {8000: (3500.0, 4000.0), 48000: (6500.0, 8000.0)}


def _torchaudio(**settings):
    import torchaudio.functional as AF

    def resample(waveform, orig_rate, new_rate):
        if orig_rate == new_rate:
            return waveform
        return AF.resample(waveform, orig_rate, new_rate, resampling_method="sinc_interp_kaiser", **settings)
    return resample


def _soxr(waveform, orig_rate, new_rate):
    import soxr

    if orig_rate == new_rate:
        return waveform
    length = -(-waveform.shape[-1] * new_rate // orig_rate)  # torchaudio's length: the ceiling
    rows = waveform.reshape(-1, waveform.shape[-1]).double().numpy()
    out = soxr.resample(rows.T, orig_rate, new_rate, quality="VHQ").T
    out = np.pad(out, ((0, 0), (0, max(0, length - out.shape[-1]))))[:, :length]
    return torch.from_numpy(np.ascontiguousarray(out)).to(waveform.dtype).reshape(*waveform.shape[:-1], length)


RESAMPLERS = {
    "torchaudio kaiser, 6 zero crossings (shipped)": _torchaudio(),
    "torchaudio kaiser_best, 64 zero crossings": _torchaudio(lowpass_filter_width=64, rolloff=0.9475937167399596,
                                                            beta=14.769656459379492),
    "soxr VHQ": _soxr,
}


def _polyphase(x: np.ndarray, orig: int, new: int) -> np.ndarray:
    from scipy.signal import resample_poly

    g = gcd(orig, new)
    return resample_poly(np.asarray(x, np.float64), new // g, orig // g)


def response_db(resample, freq_hz: float, orig: int = 48000, new: int = 16000) -> float:
    """Level of a 1 s tone at ``freq_hz`` after resampling, dB re its input level (aliases included)."""
    t = torch.arange(orig, dtype=torch.float64) / orig
    tone = torch.sin(2 * np.pi * freq_hz * t)
    out = resample(tone, orig, new)[new // 20: -new // 20]
    return float(20 * np.log10(out.pow(2).mean().sqrt() / tone.pow(2).mean().sqrt() + 1e-12))


def band_snr_db(clean: np.ndarray, estimate: np.ndarray, rate: int, band: tuple[float, float]) -> float:
    from scipy.signal import stft

    freqs, _, c = stft(clean, rate, nperseg=rate // 32)
    _, _, e = stft(estimate, rate, nperseg=rate // 32)
    rows = (freqs >= band[0]) & (freqs < band[1])
    return float(10 * np.log10(np.sum(np.abs(c[rows]) ** 2) / np.sum(np.abs(e[rows] - c[rows]) ** 2)))


def noisy_items(cleans: list[np.ndarray], rate: int, noises: list[np.ndarray], seed: int) -> list[tuple]:
    """Each clean take at every SNR with one of the noises (16 kHz, brought to ``rate``); at rates
    above 16 kHz plus white hiss at a third of the noise's level, so the band above 8 kHz has noise too."""
    rng = np.random.default_rng(seed)
    items = []
    for i, clean in enumerate(cleans):
        for snr in SNRS_DB:
            noise = _polyphase(noises[(i + int(snr)) % len(noises)], 16000, rate)
            start = int(rng.integers(0, max(1, noise.size - clean.size)))
            noise = np.resize(noise[start:], clean.size)
            if rate > 16000:
                noise = noise + noise.std() / 3 * rng.standard_normal(clean.size)
            gain = np.sqrt(np.mean(clean ** 2) / np.mean(noise ** 2) / 10 ** (snr / 10))
            items.append((clean, clean + gain * noise))
    return items


def main(argv: list[str] | None = None) -> int:
    data_root = Path(os.environ.get("MSAR_DATA_ROOT", HERE.parent.parent / "shared" / "data"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fsdd-dir", type=Path, default=data_root / "speech" / "fsdd" / "audio")
    parser.add_argument("--voice-dir", type=Path, default=Path("/usr/share/sounds/alsa"))
    parser.add_argument("--noise-dir", type=Path, default=data_root / "noise" / "audio")
    parser.add_argument("--per-speaker", type=int, default=2, help="FSDD takes per speaker")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    from common import write_results
    from tqdm.auto import tqdm

    import msar_hf.audio
    import msar_hf.fullband
    import msar_hf.repair
    from msar_hf.audio import load_audio, save_audio
    from msar_hf.metrics.quality import compute_all, si_sdr

    noise_files = [args.noise_dir / f"{name}.flac" for name in NOISES]
    missing = [str(p) for p in noise_files if not p.exists()]
    fsdd = sorted(args.fsdd_dir.glob("*.flac")) if args.fsdd_dir.is_dir() else []
    voices = sorted(p for p in args.voice_dir.glob("*.wav") if p.name != "Noise.wav") if args.voice_dir.is_dir() else []
    if missing or not fsdd or not voices:
        print(f"bench_resampler: needs the noises {missing or 'found'}, FSDD in {args.fsdd_dir} and "
              f"48 kHz voices in {args.voice_dir} (make setup installs alsa-utils)", file=sys.stderr)
        return 2
    noises = [load_audio(p)[0].numpy().astype(np.float64) for p in noise_files]
    by_speaker: dict[str, list[Path]] = {}
    for path in fsdd:  # FSDD names: <digit>_<speaker>_<take>.flac
        by_speaker.setdefault(path.stem.split("_")[1], []).append(path)
    load = lambda p: load_audio(p, sampling_rate=None)[0].numpy().astype(np.float64)
    sets = {8000: noisy_items([load(p) for ps in by_speaker.values() for p in ps[: args.per_speaker]], 8000, noises, args.seed),
            48000: noisy_items([load(p) for p in voices], 48000, noises, args.seed)}

    modules = (msar_hf.audio, msar_hf.fullband, msar_hf.repair)
    shipped = msar_hf.audio.resample
    repairer = msar_hf.repair.Repairer(msar_hf.repair.load_repair_model(None, "cpu"))
    scores: dict[str, dict[str, dict[str, list[float]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        for name, resample in RESAMPLERS.items():
            for module in modules:
                module.resample = resample
            try:
                for rate, items in sets.items():
                    rows = scores.setdefault(name, {}).setdefault(str(rate), {})
                    for clean, noisy in tqdm(items, desc=f"{name[:24]} @ {rate} Hz", unit="file"):
                        save_audio(src, torch.from_numpy(noisy).float(), rate, subtype="FLOAT")
                        repairer.repair_file(src, out)
                        repaired = load_audio(out, sampling_rate=None)[0].numpy().astype(np.float64)
                        at16 = compute_all(_polyphase(clean, rate, 16000), _polyphase(repaired, rate, 16000),
                                           metrics=["pesq_wb", "stoi", "q"])
                        for key, value in {**at16, "si_sdr": si_sdr(clean, repaired),
                                           "edge_band_snr_db": band_snr_db(clean, repaired, rate, EDGE_BAND_HZ[rate])}.items():
                            rows.setdefault(key, []).append(float(value))
            finally:
                for module in modules:
                    module.resample = shipped

    metrics = ("pesq_wb", "stoi", "q", "si_sdr", "edge_band_snr_db")
    means = {name: {rate: {m: float(np.nanmean(v[m])) for m in metrics} for rate, v in by_rate.items()}
             for name, by_rate in scores.items()}
    response = {name: {f"{f} Hz": response_db(fn, f) for f in (7000, 7500, 8500)} for name, fn in RESAMPLERS.items()}
    lines = ["# Resampler on the repair path", "",
             (f"`msar_hf.repair.Repairer` (shipped model, output at the input's rate) on noisy recordings at 8 kHz "
              f"({len(sets[8000])} items: FSDD, {args.per_speaker} takes x {len(by_speaker)} speakers) and 48 kHz "
              f"({len(sets[48000])} items: alsa-utils' voice, hiss above 8 kHz), {len(SNRS_DB)} SNRs "
              f"({', '.join(f'{s:g}' for s in SNRS_DB)} dB), noises {', '.join(NOISES)}. PESQ-WB, STOI, Q at 16 kHz "
              "(scipy polyphase for every row), SI-SDR at the input's rate, edge band: "
              + ", ".join(f"{lo / 1000:g}-{hi / 1000:g} kHz at {r // 1000} kHz" for r, (lo, hi) in EDGE_BAND_HZ.items())
              + "."), "",
             "| resampler | 48->16 kHz at 7 / 7.5 / 8.5 kHz dB | rate | PESQ-WB | STOI | Q | SI-SDR dB | edge band SNR dB |",
             "|---|---|---|---|---|---|---|---|"]
    for name in RESAMPLERS:
        tones = " / ".join(f"{v:.1f}" for v in response[name].values())
        for rate, m in means[name].items():
            lines.append(f"| {name} | {tones} | {int(rate) // 1000} kHz | {m['pesq_wb']:.3f} | {m['stoi']:.3f} | "
                         f"{m['q']:.4f} | {m['si_sdr']:.2f} | {m['edge_band_snr_db']:.2f} |")
    write_results("resampler", {"noises": NOISES, "snrs_db": SNRS_DB, "edge_band_hz": EDGE_BAND_HZ,
                                "tone_response_db": response, "means": means, "per_item": scores}, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
