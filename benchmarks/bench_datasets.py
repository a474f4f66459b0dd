"""Dataset build time for the shared speech data (../shared/data/speech/*), script by script.

Each set is built by its dataset script, run as a user runs it (a fresh process), and timed:
wall seconds, CPU seconds of the process (user + system, all cores), and audio hours out, so the
table also reads as "x real time per CPU second". Outputs go to ``--output-root/<name>``
(loadable with ``datasets.load_from_disk``); results to
``benchmarks/results/datasets_build.json`` and ``.md``.

    python benchmarks/bench_datasets.py --output-root /work/data_cache/datasets

The machine's load average is recorded next to the numbers: on a shared machine wall time
depends on the neighbours, CPU time much less.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results

REPO = Path(__file__).resolve().parent.parent

# name -> (script, extra arguments). Licences from ../shared/data/README.md.
SETS = {
    "kathleen": ("prepare_audiofolder.py", ["--license", "CC0-1.0", "--source", "rhasspy/dataset-voice-cathy"]),
    "fsdd": ("prepare_fsdd.py", []),
    "arctic_samples": ("prepare_audiofolder.py", ["--license", "CMU ARCTIC licence (free use, BSD-style)",
                                                  "--source", "CMU ARCTIC via LCAV/pyroomacoustics"]),
    # 24 of 32 clips have no text: pocketsphinx fills them (text_source says which).
    "ljspeech_samples": ("prepare_audiofolder.py", ["--license", "public domain", "--transcribe",
                                                    "--source", "LJ Speech via coqui-ai/TTS tests"]),
}


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def build_one(name: str, data_root: Path, output_root: Path, num_proc: int) -> dict:
    script, extra = SETS[name]
    out = output_root / name
    cmd = [sys.executable, str(REPO / "dataset_scripts" / script), str(data_root / "speech" / name),
           "--output-dir", str(out), "--overwrite", "--num-proc", str(num_proc), "--quiet", *extra]
    cpu0, t0 = _cpu_children(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall, cpu = time.perf_counter() - t0, _cpu_children() - cpu0
    if proc.returncode != 0:
        raise RuntimeError(f"{name}: {' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    report = json.loads((out / "build_report.json").read_text())
    hours = sum(s["hours"] for s in report["stats"].values())
    return {
        "name": name, "script": script, "output_dir": str(out),
        "utterances": sum(s["utterances"] for s in report["stats"].values()),
        "speakers": len(report["speaker_groups"]),
        "splits": {k: v["utterances"] for k, v in report["stats"].items()}, "split_by": report["split_by"],
        "audio_hours": round(hours, 4), "skipped": report["skipped"],
        "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "build_s_in_process": report["build_seconds"],
        "x_realtime_per_cpu_s": round(hours * 3600 / cpu, 1) if cpu > 0 else None,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", type=Path,
                   default=Path(os.environ.get("MSAR_DATA_ROOT") or REPO.parent / "shared" / "data"))
    p.add_argument("--output-root", type=Path, default=REPO / "data_cache" / "datasets")
    p.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    p.add_argument("--num-proc", type=int, default=1)
    args = p.parse_args(argv)
    if not (args.data_root / "speech").is_dir():
        print(f"bench_datasets: error: {args.data_root}/speech: no such folder (set --data-root or MSAR_DATA_ROOT)",
              file=sys.stderr)
        return 2
    load = os.getloadavg()
    rows = []
    for name in args.sets:
        print(f"building {name} ...", flush=True)
        rows.append(build_one(name, args.data_root, args.output_root, args.num_proc))
        r = rows[-1]
        print(f"  {r['utterances']} utterances, {r['audio_hours']:.3f} h, wall {r['wall_s']} s, cpu {r['cpu_s']} s, "
              f"skipped {r['skipped']}", flush=True)
    total_wall = sum(r["wall_s"] for r in rows)
    md = ["# Dataset build time (shared speech data)", "",
          (f"Each set built by its dataset script in a fresh process (`--num-proc {args.num_proc}`, "
           f"OMP_NUM_THREADS=1). Load average at start: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
           f"on {os.cpu_count()} cores (shared machine: wall time includes waiting for the CPU)."), "",
          ("| set | script | utterances | speakers | hours | split | wall s | CPU s | build s (in process) "
           "| x real time per CPU s | skipped |"),
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        skipped = ", ".join(f"{k}: {v}" for k, v in r["skipped"].items()) or "0"
        md.append(f"| {r['name']} | {r['script']} | {r['utterances']} | {r['speakers']} | {r['audio_hours']:.3f} | "
                  f"{r['split_by']} | {r['wall_s']} | {r['cpu_s']} | {r['build_s_in_process']} | "
                  f"{r['x_realtime_per_cpu_s']} | {skipped} |")
    md += ["", (f"Total wall time: {total_wall:.1f} s. CPU s includes starting Python and importing torch/datasets "
                "(about 5 s per script); 'build s' is the build alone (decode, filter, split), from build_report.json.")]
    json_path, md_path = write_results("datasets_build", {
        "num_proc": args.num_proc, "load_average_at_start": load, "sets": rows, "total_wall_s": round(total_wall, 2),
    }, "\n".join(md))
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
