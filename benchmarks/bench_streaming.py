"""Live repair: a causal model through msar_hf.streaming beside the shipped offline repair.

    python benchmarks/bench_streaming.py [--model runs/autoencoder_causal/final] [--seed 99]

The causal model (``recipes/configs/autoencoder_causal.yaml``) fed in blocks of 10 ms, as a live
input would come, against the shipped bidirectional model's offline ``repair()`` (whole clip,
residual gate, comb, auto strength) and the untouched input, on the recipe's dev set (speakers,
noises and rooms held out of training; a dev seed, not the repair benchmark's). Reports PESQ-WB,
STOI, SI-SDR and Q per damage type for the stream at full strength and at 0.7 (`msar stream`'s
default), the stream's latency, and the real-time factor with one
thread for blocks of 10, 20 and 100 ms next to the offline repair's. Writes
``benchmarks/results/streaming.{json,md}``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import numpy as np
import torch

RATE = 16000
METRICS = ("pesq_wb", "stoi", "si_sdr", "q")


def _stream(runner, x: np.ndarray, block: int) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    outs = [runner.process(x[i: i + block]) for i in range(0, x.numel(), block)]
    return torch.cat([*outs, runner.flush()]).numpy()


def _rtf(fn, seconds: float) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="the causal model, a folder or Hub id (default: "
                        "runs/autoencoder_causal/final, where its recipe writes it)")
    parser.add_argument("--seed", type=int, default=99, help="dev-set seed (the repair benchmark uses 2026 and 7)")
    parser.add_argument("--items-per-type", type=int, default=6)
    parser.add_argument("--block-ms", type=float, default=10.0, help="block size for the quality run")
    parser.add_argument("--strengths", type=float, nargs="+", default=[1.0, 0.7],
                        help="the stream's wet/dry mixes to score (the first is timed)")
    args = parser.parse_args(argv)
    train = "accelerate launch recipes/train.py --config recipes/configs/autoencoder_causal.yaml"
    if args.model is None:
        args.model = "runs/autoencoder_causal/final"  # where the recipe writes it, from the repository
        if not (HERE.parent / args.model).is_dir():  # make bench on a fresh clone: nothing to measure yet
            print(f"bench_streaming: skipped, no causal model in {args.model} (train one: {train})")
            return 0
        args.model = str(HERE.parent / args.model) if not Path(args.model).is_dir() else args.model
    elif not Path(args.model).is_dir() and args.model.count("/") != 1:
        print(f"bench_streaming: {args.model}: no such model folder (train one: {train})", file=sys.stderr)
        return 2

    torch.set_num_threads(1)
    from common import write_results
    from tqdm.auto import tqdm

    from msar_hf.repair import load_repair_model
    from msar_hf.streaming import StreamingRepairer
    from recipes.args import EvalArguments
    from recipes.eval import build_dev_set, score

    causal = load_repair_model(args.model, "cpu")
    shipped = load_repair_model(None, "cpu")
    runners = {strength: StreamingRepairer(causal, strength=strength) for strength in args.strengths}
    runner = runners[args.strengths[0]]
    items = build_dev_set(EvalArguments(seed=args.seed, items_per_type=args.items_per_type))
    block = round(args.block_ms * RATE / 1000)
    streamed = {strength: f"causal @{strength:g} ({args.block_ms:g} ms blocks)" for strength in args.strengths}
    estimates: dict[str, list[np.ndarray]] = {"input": [], "shipped (offline)": [], **{n: [] for n in streamed.values()}}
    with torch.no_grad():
        for item in tqdm(items, desc="dev items", unit="item"):
            estimates["input"].append(item.degraded)
            estimates["shipped (offline)"].append(shipped.repair(torch.from_numpy(item.degraded)).numpy())
            for strength, name in streamed.items():
                estimates[name].append(_stream(runners[strength], item.degraded, block))
    scores = {name: score(items, ests, list(METRICS)) for name, ests in estimates.items()}

    # speed: 30 s of the dev items end to end, one thread
    long = np.concatenate([it.degraded for it in items])[: 30 * RATE]
    seconds = long.size / RATE
    with torch.no_grad():
        rtf = {"shipped (offline)": _rtf(lambda: shipped.repair(torch.from_numpy(long)), seconds)}
        for ms in (10, 20, 100):
            rtf[f"causal, {ms} ms blocks"] = _rtf(lambda ms=ms: _stream(runner, long, ms * RATE // 1000), seconds)

    types = list(scores["input"]["per_type"]) + ["overall"]
    lines = ["# Live repair (msar_hf.streaming)", "",
             (f"Dev set of seed {args.seed}: {args.items_per_type} items of 4 s per damage type (held-out speakers, "
              f"noises, rooms). Causal model `{args.model}` fed in {args.block_ms:g} ms blocks (latency "
              f"{runner.latency} samples = {1000 * runner.latency / RATE:.0f} ms at most); shipped = the "
              "bidirectional default, offline, as `msar repair` runs it. `overall`: the damaged types."), ""]
    for metric in METRICS:
        better = "lower" if metric == "q" else "higher"
        lines += [f"## {metric} ({better} is better)", "", "| type | " + " | ".join(estimates) + " |",
                  "|---" * (len(estimates) + 1) + "|"]
        for kind in types:
            row = [scores[name]["overall" if kind == "overall" else "per_type"] for name in estimates]
            cells = [(r if kind == "overall" else r[kind])[metric] for r in row]
            lines.append(f"| {kind} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
        lines.append("")
    lines += ["## Real-time factor (one thread, 30 s)", "", "| system | RTF |", "|---|---|"]
    lines += [f"| {name} | {value:.4f} |" for name, value in rtf.items()]
    write_results("streaming", {"model": args.model, "seed": args.seed, "items_per_type": args.items_per_type,
                                "block_ms": args.block_ms, "strengths": args.strengths,
                                "latency_samples": runner.latency, "scores": scores,
                                "rtf": rtf}, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
