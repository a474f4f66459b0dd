"""Full-band benchmark: what `msar repair` does above 8 kHz on 48 kHz recordings.

    python benchmarks/bench_fullband.py [--speech-dir /usr/share/sounds/alsa] [--noise FILE]

The repair model works at 16 kHz. Three ways to return a 48 kHz recording, side by side on the
same repairs (so the band under 8 kHz is identical in all three and only the upper band differs):

* ``drop``: the repair resampled back up; nothing above 8 kHz (msar before this benchmark).
* ``keep``: plus the input's upper band, untouched.
* ``transfer``: plus the input's upper band scaled frame by frame by the gain the repair applied
  at 4.5-7.6 kHz (``msar_hf.fullband``; what `msar repair` and the pipeline do now).

beside the untouched input and DeepFilterNet3, which works at 48 kHz itself. Speech: the real
48 kHz voice recordings Debian ships in alsa-utils (``/usr/share/sounds/alsa``, GPL-2+; one male
speaker saying "Front center" etc.); noise: that package's ``Noise.wav`` (speaker-test's pink
noise), mixed at 10 and 0 dB SNR; and hard-clipped at a quarter of the peak. Metrics: SNR and log-spectral distance of the band above 8 kHz
against the clean recording, full-band SI-SDR, and PESQ-WB at 16 kHz (the same for the three
msar rows by construction: a check). Writes ``benchmarks/results/fullband.{json,md,png}``.
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

RATE = 48000
SNRS_DB = (10.0, 0.0)
METRICS = {"upper_snr": "upper-band SNR dB", "upper_lsd": "upper-band LSD dB", "si_sdr": "SI-SDR dB",
           "pesq_wb": "PESQ-WB (16 kHz)"}
HIGHER_IS_BETTER = {"upper_snr": True, "upper_lsd": False, "si_sdr": True, "pesq_wb": True}


def load_items(speech_dir: Path, noise_file: Path) -> list[dict]:
    """Clean 48 kHz clips and their noisy copies: [{kind, name, clean, damaged}]."""
    from msar_hf.audio import load_audio

    files = sorted(p for p in speech_dir.glob("*.wav") if p.resolve() != noise_file.resolve())
    if not files:
        raise SystemExit(f"{speech_dir}: no .wav speech files")
    noise = load_audio(noise_file, sampling_rate=RATE)[0].numpy()
    items = []
    for i, path in enumerate(files):
        clean = load_audio(path, sampling_rate=RATE)[0].numpy()
        items.append({"kind": "clean", "name": path.stem, "clean": clean, "damaged": clean})
        tiled = np.roll(np.tile(noise, clean.size // noise.size + 1), 9973 * i)[: clean.size]
        for snr in SNRS_DB:
            gain = np.sqrt(np.mean(clean**2) / np.mean(tiled**2) / 10 ** (snr / 10))
            items.append({"kind": f"noise {snr:g} dB", "name": path.stem, "clean": clean,
                          "damaged": (clean + gain * tiled).astype(np.float32)})
        ceiling = 0.25 * float(np.abs(clean).max())  # hard clipping at -12 dB of the peak
        items.append({"kind": "clipped", "name": path.stem, "clean": clean,
                      "damaged": np.clip(clean, -ceiling, ceiling).astype(np.float32)})
    return items


def msar_variants(model, damaged: np.ndarray) -> dict[str, np.ndarray]:
    """drop / keep / transfer renderings of one repair of ``damaged`` (48 kHz)."""
    from msar_hf.audio import resample
    from msar_hf.fullband import add_upper_band, upper_band

    x = torch.from_numpy(damaged)[None]
    x16 = resample(x, RATE, 16000)
    y16 = torch.as_tensor(model.repair(x16[0]))[None]
    low = resample(y16, 16000, RATE)[..., : x.shape[-1]]
    return {
        "msar drop": low[0].numpy(),
        "msar keep": (low + upper_band(x, RATE))[0].numpy(),
        "msar transfer": add_upper_band(low, x, RATE, x16, y16)[0].numpy(),
    }


def deepfilternet3(damaged: np.ndarray) -> np.ndarray:
    from benchmarks.baselines import deepfilternet3_48k

    assert RATE == 48000
    return deepfilternet3_48k()(damaged)


def upper_metrics(clean: np.ndarray, estimate: np.ndarray) -> dict[str, float]:
    """SNR and log-spectral distance of the band above 8 kHz (frames where the clean band is
    within 50 dB of its loudest frame: elsewhere there is no upper band to speak of)."""
    from msar_hf.fullband import upper_band

    c = upper_band(torch.from_numpy(clean)[None], RATE)[0]
    e = upper_band(torch.from_numpy(estimate.astype(np.float32))[None], RATE)[0]
    snr = 10 * np.log10(float(c.pow(2).sum()) / max(float((e - c).pow(2).sum()), 1e-12))
    window = torch.hann_window(2048)
    spec = lambda s: torch.stft(s, 2048, 480, window=window, return_complex=True).abs().pow(2)[342:]  # > 8 kHz
    pc, pe = spec(c), spec(e)
    floor = 1e-10 * float(pc.max())
    lc, le = 10 * torch.log10(pc + floor), 10 * torch.log10(pe + floor)
    energy = 10 * torch.log10(pc.sum(0) + floor)
    frames = energy > energy.max() - 50
    lsd = float((lc - le)[:, frames].pow(2).mean(0).sqrt().mean())
    return {"upper_snr": snr, "upper_lsd": lsd}


def score(items: list[dict], outputs: dict[str, list[np.ndarray]]) -> dict:
    from msar_hf.audio import resample
    from msar_hf.metrics.quality import pesq_wb, si_sdr

    table: dict[str, dict[str, dict[str, float]]] = {}
    kinds = list(dict.fromkeys(it["kind"] for it in items))
    for system, estimates in outputs.items():
        rows: dict[str, list[dict]] = {k: [] for k in kinds}
        for it, est in zip(items, estimates):
            c16 = resample(torch.from_numpy(it["clean"])[None], RATE, 16000)[0].numpy()
            e16 = resample(torch.from_numpy(est.astype(np.float32))[None], RATE, 16000)[0].numpy()
            rows[it["kind"]].append({**upper_metrics(it["clean"], est), "si_sdr": si_sdr(it["clean"], est),
                                     "pesq_wb": pesq_wb(c16, e16)})
        table[system] = {k: {m: float(np.nanmean([r[m] for r in v])) for m in METRICS} for k, v in rows.items()}
    return table


def markdown(table: dict, kinds: list[str], n_clips: int, speech_dir: Path, noise: Path) -> str:
    lines = ["# Full-band repair (48 kHz)", "",
             (f"{n_clips} real 48 kHz speech clips ({speech_dir}) x {len(kinds)} conditions; noise: {noise.name}. "
              "The three msar rows share one repair: they differ only above 8 kHz."), ""]
    for metric, label in METRICS.items():
        best = max if HIGHER_IS_BETTER[metric] else min
        lines += [f"## {label} ({'higher' if HIGHER_IS_BETTER[metric] else 'lower'} is better)", "",
                  "| system | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
        for system, per_kind in table.items():
            cells = []
            for k in kinds:
                top = best(table[s][k][metric] for s in table if s != "input")
                v = per_kind[k][metric]
                cells.append(f"**{v:.2f}**" if system != "input" and v == top else f"{v:.2f}")
            lines.append(f"| {system} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append("![full-band repair](fullband.png)")
    return "\n".join(lines)


def plot(table: dict, kinds: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, metric in zip(axes, ("upper_snr", "upper_lsd")):
        width = 0.8 / len(table)
        for i, (system, per_kind) in enumerate(table.items()):
            ax.bar(np.arange(len(kinds)) + i * width, [per_kind[k][metric] for k in kinds], width, label=system)
        ax.set_xticks(np.arange(len(kinds)) + 0.4 - width / 2, kinds)
        ax.set_title(METRICS[metric] + (" (higher is better)" if HIGHER_IS_BETTER[metric] else " (lower is better)"))
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speech-dir", type=Path, default=Path("/usr/share/sounds/alsa"),
                        help="folder of 48 kHz speech .wav files (default: Debian alsa-utils' test voice)")
    parser.add_argument("--noise", type=Path, default=Path("/usr/share/sounds/alsa/Noise.wav"))
    parser.add_argument("--model", default=None, help="msar model (folder or Hub id); default: the shipped one")
    parser.add_argument("--no-deepfilternet", action="store_true")
    parser.add_argument("--name", default="fullband")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    from common import RESULTS, write_results
    from tqdm.auto import tqdm

    from msar_hf.repair import load_repair_model

    if not args.noise.is_file():
        raise SystemExit(f"{args.noise}: noise file not found (Debian: apt install alsa-utils)")
    items = load_items(args.speech_dir, args.noise)
    model = load_repair_model(args.model, "cpu")
    outputs: dict[str, list[np.ndarray]] = {"input": [it["damaged"] for it in items]}
    for it in tqdm(items, desc="msar", unit="clip"):
        for name, y in msar_variants(model, it["damaged"]).items():
            outputs.setdefault(name, []).append(y)
    if not args.no_deepfilternet:
        try:
            outputs["deepfilternet3 (48 kHz)"] = [deepfilternet3(it["damaged"]) for it in tqdm(items, desc="dfn3")]
        except ImportError as exc:
            print(f"DeepFilterNet3 unavailable: {exc}", file=sys.stderr)
    table = score(items, outputs)
    kinds = list(dict.fromkeys(it["kind"] for it in items))
    n_clips = len({it["name"] for it in items})
    payload = {"clips": n_clips, "speech_dir": str(args.speech_dir), "noise": str(args.noise),
               "snrs_db": list(SNRS_DB), "scores": table}
    _, md = write_results(args.name, payload, markdown(table, kinds, n_clips, args.speech_dir, args.noise))
    plot(table, kinds, RESULTS / f"{args.name}.png")
    print(md.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
