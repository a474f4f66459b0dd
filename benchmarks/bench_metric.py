"""Metric throughput: x real time per CPU core for msar_quality, per metric and for the full set.

Scores real speech (``--data-root``, default ``$MSAR_DATA_ROOT`` or ``../shared/data``) against
noisy copies of itself (real noise recordings mixed at 10 dB SNR, seeded) on one thread, and
writes ``benchmarks/results/metric_throughput.json`` and ``.md``. "x real time per core" is
seconds of reference audio scored per CPU second of this process. Also times the pitch trackers
not used by default (DIO at full rate; Harvest, available as ``pitch_tracker="harvest"``) to back
the default (DIO on a 2x decimated signal + StoneMask) with a measurement.
Target: >= 20x real time for the full metric set.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import write_results
from msar_hf.audio import find_audio_files, load_audio
from msar_hf.metrics.quality import ALL_METRICS, compute_all

TARGET = 20.0
RATE = 16000


def _timed(fn, pairs: list[tuple[np.ndarray, np.ndarray]], repeats: int) -> dict:
    audio_s = 0.0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(repeats):
        for ref, est in pairs:
            fn(ref, est)
            audio_s += len(ref) / RATE
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"audio_s": round(audio_s, 1), "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
            "x_realtime_per_core": round(audio_s / max(cpu, 1e-9), 1),
            "x_realtime_wall": round(audio_s / max(wall, 1e-9), 1)}


def _dio_speed1_pair(ref: np.ndarray, est: np.ndarray) -> None:
    import pyworld

    for x in (ref, est):
        f0, t = pyworld.dio(x, RATE, f0_floor=60.0, f0_ceil=800.0, frame_period=10.0, speed=1)
        pyworld.stonemask(x, f0, t, RATE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=os.environ.get("MSAR_DATA_ROOT", "../shared/data"))
    parser.add_argument("--speech", default="speech/kathleen", help="speech folder under --data-root")
    parser.add_argument("--noise", default="noise", help="noise folder under --data-root")
    parser.add_argument("--clips", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=1, help="passes over the clips per measurement")
    parser.add_argument("--snr-db", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-harvest", action="store_true", help="do not time the Harvest tracker")
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = Path(args.data_root)
    if not root.is_dir():  # a clone without ../shared: the fixtures have the same layout
        root = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
        print(f"{args.data_root} not found; benchmarking on the test fixtures in {root}", flush=True)
    speech = find_audio_files([root / args.speech])[: args.clips] if (root / args.speech).is_dir() else []
    noises = find_audio_files([root / args.noise]) if (root / args.noise).is_dir() else []
    if not speech or not noises:
        print(f"need speech under {root / args.speech} and noise under {root / args.noise} "
              "(set --data-root or MSAR_DATA_ROOT)", file=sys.stderr)
        return 2

    rng = np.random.default_rng(args.seed)
    pairs = []
    for i, path in enumerate(speech):
        ref = load_audio(path)[0].numpy().astype(np.float64)
        noise = load_audio(noises[i % len(noises)])[0].numpy().astype(np.float64)
        start = int(rng.integers(0, max(1, len(noise) - len(ref))))
        noise = np.resize(noise[start:], len(ref))
        gain = np.sqrt(np.mean(ref**2) / (np.mean(noise**2) * 10 ** (args.snr_db / 10) + 1e-20))
        pairs.append((ref, ref + gain * noise))
    mean_s = np.mean([len(r) / RATE for r, _ in pairs])

    load_before = os.getloadavg()[0]
    warnings.simplefilter("ignore")
    compute_all(*pairs[0])  # import and cache warm-up, not timed
    rows = {}
    for metric in ALL_METRICS:
        if metric == "q":
            continue
        rows[metric] = _timed(lambda r, e, m=metric: compute_all(r, e, metrics=[m]), pairs, args.repeats)
        print(f"{metric:16s} {rows[metric]['x_realtime_per_core']:8.1f}x", flush=True)
    rows["Q set (mse + pitch + loudness)"] = _timed(lambda r, e: compute_all(r, e, metrics=["q"]), pairs, args.repeats)
    rows["full set without PESQ-WB"] = _timed(
        lambda r, e: compute_all(r, e, metrics=[m for m in ALL_METRICS if m != "pesq_wb"]), pairs, args.repeats)
    rows["full set"] = _timed(lambda r, e: compute_all(r, e), pairs, args.repeats)
    rows["(not used) DIO speed 1 + StoneMask, both signals"] = _timed(_dio_speed1_pair, pairs, args.repeats)
    if not args.skip_harvest:
        rows["cossim_pitch with --pitch-tracker harvest"] = _timed(
            lambda r, e: compute_all(r, e, metrics=["cossim_pitch"], pitch_tracker="harvest"),
            pairs[: max(1, len(pairs) // 3)], 1)
    for name in list(rows)[-5:]:
        print(f"{name:40s} {rows[name]['x_realtime_per_core']:8.1f}x", flush=True)

    full = rows["full set"]["x_realtime_per_core"]
    # CPU time per core is what we report, but a crowded machine (shared caches, hyper-threads)
    # inflates it too: record how busy the machine was.
    load = f"1-min load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores"
    verdict = "met" if full >= TARGET else "NOT met"
    table = ["| measure | x real time / core | x real time (wall) | audio s | CPU s |", "|---|---:|---:|---:|---:|"]
    table += [f"| {k} | {v['x_realtime_per_core']} | {v['x_realtime_wall']} | {v['audio_s']} | {v['cpu_s']} |"
              for k, v in rows.items()]
    pesq_x = rows["pesq_wb"]["x_realtime_per_core"]
    markdown = "\n".join([
        "# msar_quality throughput (x real time per CPU core)",
        "",
        (f"{len(pairs)} real clips ({root.name}/{args.speech}, mean {mean_s:.1f} s) against copies with "
         f"real noise at {args.snr_db:g} dB SNR (seed {args.seed}), one thread, {args.repeats} pass(es). "
         "Each row runs `compute_all` with only that metric (pitch: DIO speed 2 + StoneMask on both signals; "
         "loudness: one STFT per signal), so rows include the per-call overhead. "
         f"Machine load during the run: {load}."),
        "",
        *table,
        "",
        (f"Full metric set: **{full}x** per core (target {TARGET:g}x: {verdict}). PESQ-WB alone runs at "
         f"{pesq_x}x, about half of the full set's cost; without it the set runs at "
         f"{rows['full set without PESQ-WB']['x_realtime_per_core']}x. More cores: "
         "`msar evaluate --workers N`."),
    ])
    payload = {"target_x_realtime": TARGET, "target_met": full >= TARGET, "clips": len(pairs),
               "mean_clip_s": round(float(mean_s), 2), "snr_db": args.snr_db, "seed": args.seed,
               "repeats": args.repeats, "speech": args.speech, "load": load, "results": rows}
    js, md = write_results("metric_throughput", payload, markdown)
    print(f"wrote {js} and {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
