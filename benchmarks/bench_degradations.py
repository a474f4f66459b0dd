"""Degradation throughput: x real time per CPU core, per damage type and for the random chain.

Runs on one thread (``OMP_NUM_THREADS=1``, ``torch.set_num_threads(1)``) over real speech and
the real noise/RIR folders (``--data-root``, default ``$MSAR_DATA_ROOT`` or ``../shared/data``)
and writes ``benchmarks/results/degradations_throughput.json`` and ``.md``. "x real time per
core" is seconds of audio damaged per CPU second of this process (all its threads counted).
Target: >= 200x for the full random chain, so damage on the fly never starves training.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import write_results
from msar_hf.audio import find_audio_files, load_audio
from msar_hf.data.degradations import DAMAGE_ORDER, DegradationConfig, Degrader

TARGET = 200.0


def _timed(fn, clips: list[torch.Tensor], repeats: int) -> dict:
    audio_s = 0.0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for r in range(repeats):
        for i, clip in enumerate(clips):
            fn(clip, r * len(clips) + i)
            audio_s += clip.numel() / 16000
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"audio_s": round(audio_s, 1), "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
            "x_realtime_per_core": round(audio_s / max(cpu, 1e-9), 1),
            "x_realtime_wall": round(audio_s / max(wall, 1e-9), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=os.environ.get("MSAR_DATA_ROOT", "../shared/data"))
    parser.add_argument("--speech", default="speech/kathleen", help="speech folder under --data-root")
    parser.add_argument("--babble-speech", default="speech/fsdd", help="babble talkers under --data-root")
    parser.add_argument("--clips", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=2, help="passes over the clips per measurement")
    parser.add_argument("--config", default="recipes/configs/degradations.yaml")
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = Path(args.data_root)
    os.environ["MSAR_DATA_ROOT"] = str(root)

    files = find_audio_files([root / args.speech])
    if not files:
        print(f"no speech under {root / args.speech}", file=sys.stderr)
        return 2
    pick = np.linspace(0, len(files) - 1, min(args.clips, len(files))).round().astype(int)
    clips = [load_audio(files[i])[0] for i in pick]
    mean_s = float(np.mean([c.numel() for c in clips])) / 16000

    cfg = DegradationConfig.from_yaml(args.config)
    t0 = time.perf_counter()
    deg = Degrader(cfg)
    init_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _ = deg.room_pool
    pool_s = time.perf_counter() - t0

    rows = {}
    for kind in DAMAGE_ORDER:
        rows[kind] = _timed(lambda c, i, k=kind: deg.apply(k, c, seed=0, index=i), clips, args.repeats)
        print(f"{kind:12s} {rows[kind]['x_realtime_per_core']:8.1f}x", flush=True)
    # Sub-kinds whose cost differs a lot from their family's average.
    for name, section, override in (
            ("reverb/measured", "reverb", {"simulated_fraction": 0.0}),
            ("reverb/simulated", "reverb", {"simulated_fraction": 1.0}),
            ("codec/mp3", "codec", {"formats": {"mp3": 1.0}}),
            ("codec/opus", "codec", {"formats": {"opus": 1.0}}),
            ("noise/file", "noise", {"kinds": {"file": 1.0}}),
            ("noise/mixture", "noise", {"kinds": {"mixture": 1.0}}),
            ("noise/modulated", "noise", {"kinds": {"modulated": 1.0}}),
            ("noise/coloured", "noise", {"kinds": {"coloured": 1.0}}),
            ("noise/babble", "noise", {"kinds": {"babble": 1.0}}),
            ("noise/impulsive", "noise", {"kinds": {"impulsive": 1.0}}),
            ("noise/music", "noise", {"kinds": {"music": 1.0}}),
    ):
        sub = cfg.to_dict()
        sub[section].update(override)
        if name == "noise/babble":
            # babble from another corpus than the clean speech (other talkers)
            sub["speech_dir"] = str(root / args.babble_speech)
        sub_deg = Degrader(DegradationConfig.from_dict(sub))
        sub_deg._room_pool = deg.room_pool  # same pool, not rebuilt
        rows[name] = _timed(lambda c, i, d=sub_deg, k=section: d.apply(k, c, seed=0, index=i), clips, args.repeats)
        print(f"{name:16s} {rows[name]['x_realtime_per_core']:8.1f}x", flush=True)
    rows["full random chain"] = _timed(lambda c, i: deg(c, seed=0, index=i), clips, args.repeats * 2)
    print(f"full chain   {rows['full random chain']['x_realtime_per_core']:8.1f}x", flush=True)
    rows["chain + augment"] = _timed(lambda c, i: deg(deg.augment(c, seed=0, index=i)[0], seed=0, index=i),
                                     clips, args.repeats)
    print(f"chain+augment {rows['chain + augment']['x_realtime_per_core']:8.1f}x", flush=True)

    chain = rows["full random chain"]["x_realtime_per_core"]
    payload = {
        "target_x_realtime_per_core": TARGET, "full_chain_x_realtime_per_core": chain,
        "meets_target": chain >= TARGET, "clips": len(clips), "mean_clip_s": round(mean_s, 2),
        "speech": str(root / args.speech), "config": args.config, "threads": torch.get_num_threads(),
        "degrader_init_s": round(init_s, 2), "room_pool_build_s": round(pool_s, 2),
        "noises": len(deg.noises), "rirs": len(deg.rirs), "simulated_rooms": len(deg.room_pool),
        "results": rows,
    }
    lines = [
        "# Degradation throughput (x real time per CPU core)", "",
        (f"{len(clips)} real clips ({args.speech}, mean {mean_s:.1f} s), one thread, config `{args.config}`; "
         f"Degrader start-up {init_s:.1f} s ({len(deg.noises)} noise files, {len(deg.rirs)} RIRs), "
         f"simulated-room pool of {len(deg.room_pool)} built in {pool_s:.1f} s."), "",
        "| damage | x real time / core | x real time (wall) | audio s | CPU s |", "|---|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['x_realtime_per_core']:.0f} | {r['x_realtime_wall']:.0f} | "
                     f"{r['audio_s']:.0f} | {r['cpu_s']:.2f} |")
    verdict = "met" if chain >= TARGET else "NOT met"
    lines += ["", f"Full random chain: **{chain:.0f}x** per core (target {TARGET:.0f}x: {verdict})."]
    json_path, md_path = write_results("degradations_throughput", payload, "\n".join(lines))
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
