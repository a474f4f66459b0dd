"""Live repair: a causal model through msar_hf.streaming beside the public live denoisers.

    python benchmarks/bench_streaming.py [--model msar_hf/pretrained/repair_causal] [--seed 99]

The causal model (the shipped one, ``recipes/configs/autoencoder_causal*.yaml``) fed in blocks of
10 ms, as a live input would come, beside the untouched input, the public systems that also run
live (RNNoise, NSNet2, GTCRN, DeepFilterNet3: each here through its own offline wrapper, the
same causal network) and the shipped bidirectional model's offline ``repair()`` (whole clip,
residual gate, comb, auto strength: what msar gives when it may wait), on the recipe's dev set
(speakers, noises and rooms held out of training; a dev seed, not the repair benchmark's).
Reports PESQ-WB, STOI, SI-SDR and Q per damage type for the stream at the model's default mix and
at full strength, the stream's latency, and the real-time factor with one thread for blocks of
10, 20 and 100 ms, torch's and the exported ONNX frame step's (onnxruntime), next to the offline
repair's and the baselines' (whole clip). Writes ``benchmarks/results/streaming.{json,md}``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
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
    parser.add_argument("--model", default=None, help="the causal model, a folder or Hub id (default: the "
                        "shipped one, msar_hf/pretrained/repair_causal)")
    parser.add_argument("--seed", type=int, default=99, help="dev-set seed (the repair benchmark uses 2026 and 7)")
    parser.add_argument("--items-per-type", type=int, default=6)
    parser.add_argument("--block-ms", type=float, default=10.0, help="block size for the quality run")
    parser.add_argument("--strengths", type=float, nargs="+", default=None,
                        help="the stream's wet/dry mixes to score, the first timed (default: the model's "
                             "default_strength, then 1)")
    parser.add_argument("--baselines", nargs="*", default=["rnnoise", "nsnet2", "gtcrn", "deepfilternet3"],
                        help="benchmarks/baselines.py names, the ones that run live by default (none given: none)")
    args = parser.parse_args(argv)
    train = "make train-repair-causal"
    if args.model is None:
        from msar_hf import LIVE_REPAIR_MODEL

        args.model = LIVE_REPAIR_MODEL
    elif not Path(args.model).is_dir() and args.model.count("/") != 1:
        print(f"bench_streaming: {args.model}: no such model folder (train one: {train})", file=sys.stderr)
        return 2

    torch.set_num_threads(1)
    from baselines import load_baselines
    from common import write_results
    from tqdm.auto import tqdm

    from msar_hf.export_streaming import OnnxStreamingRepairer, export_streaming_onnx
    from msar_hf.repair import load_repair_model
    from msar_hf.streaming import StreamingRepairer
    from recipes.args import EvalArguments
    from recipes.eval import build_dev_set, score

    causal = load_repair_model(args.model, "cpu")
    shown = Path(args.model).resolve()  # the table names a checkout's folder from its root
    shown = str(shown.relative_to(HERE.parent)) if shown.is_relative_to(HERE.parent) else args.model
    shipped = load_repair_model(None, "cpu")
    if args.strengths is None:
        default = causal.config.default_strength
        args.strengths = list(dict.fromkeys([1.0 if default == "auto" else float(default), 1.0]))
    baselines, missing = load_baselines(args.baselines) if args.baselines else ([], {})
    baselines = [b for b in baselines if b.name != "noisy"]
    runners = {strength: StreamingRepairer(causal, strength=strength) for strength in args.strengths}
    runner = runners[args.strengths[0]]
    items = build_dev_set(EvalArguments(seed=args.seed, items_per_type=args.items_per_type))
    block = round(args.block_ms * RATE / 1000)
    streamed = {strength: f"causal @{strength:g} ({args.block_ms:g} ms blocks)" for strength in args.strengths}
    estimates: dict[str, list[np.ndarray]] = {"input": [], **{b.name: [] for b in baselines},
                                              **{n: [] for n in streamed.values()}, "shipped (offline)": []}
    with torch.no_grad():
        for item in tqdm(items, desc="dev items", unit="item"):
            estimates["input"].append(item.degraded)
            for b in baselines:
                estimates[b.name].append(np.asarray(b.enhance(item.degraded), np.float32))
            for strength, name in streamed.items():
                estimates[name].append(_stream(runners[strength], item.degraded, block))
            estimates["shipped (offline)"].append(shipped.repair(torch.from_numpy(item.degraded)).numpy())
    scores = {name: score(items, ests, list(METRICS)) for name, ests in estimates.items()}

    # speed: 30 s of the dev items end to end, one thread
    long = np.concatenate([it.degraded for it in items])[: 30 * RATE]
    seconds = long.size / RATE
    # the same model's frame step exported to ONNX (msar export --onnx FILE --streaming), on onnxruntime
    with tempfile.TemporaryDirectory() as tmp:
        onnx_runner = OnnxStreamingRepairer(export_streaming_onnx(Path(tmp) / "live.onnx", model=args.model),
                                            strength=runner.strength)
    with torch.no_grad():
        rtf = {"shipped (offline)": _rtf(lambda: shipped.repair(torch.from_numpy(long)), seconds)}
        for ms in (10, 20, 100):
            rtf[f"causal, {ms} ms blocks"] = _rtf(lambda ms=ms: _stream(runner, long, ms * RATE // 1000), seconds)
            rtf[f"causal ONNX (onnxruntime), {ms} ms blocks"] = _rtf(
                lambda ms=ms: _stream(onnx_runner, long, ms * RATE // 1000), seconds)
        onnx_diff = float(np.abs(_stream(onnx_runner, long, 160) - _stream(runner, long, 160)).max())
        for b in baselines:  # their own wrappers over the whole clip (as the quality rows above)
            rtf[f"{b.name} (whole clip)"] = _rtf(lambda b=b: b.enhance(long), seconds)

    types = list(scores["input"]["per_type"]) + ["overall"]
    lines = ["# Live repair (msar_hf.streaming)", "",
             (f"Dev set of seed {args.seed}: {args.items_per_type} items of 4 s per damage type (held-out speakers, "
              f"noises, rooms). Causal model `{shown}` fed in {args.block_ms:g} ms blocks (latency "
              f"{runner.latency} samples = {1000 * runner.latency / RATE:.0f} ms at most); "
              f"{', '.join(b.name for b in baselines) or 'no baselines'}: public denoisers that run live (their "
              "own wrappers, whole clip); shipped (offline) = the bidirectional default as `msar repair` runs "
              "it, for reference. `overall`: the damaged types."
              + (f" Unavailable: {', '.join(missing)}." if missing else "")), ""]
    for metric in METRICS:
        better = "lower" if metric == "q" else "higher"
        lines += [f"## {metric} ({better} is better)", "", "| type | " + " | ".join(estimates) + " |",
                  "|---" * (len(estimates) + 1) + "|"]
        for kind in types:
            row = [scores[name]["overall" if kind == "overall" else "per_type"] for name in estimates]
            cells = [(r if kind == "overall" else r[kind])[metric] for r in row]
            live = [c for name, c in zip(estimates, cells) if name not in ("input", "shipped (offline)")]
            best = (min if metric == "q" else max)(live) if live else None
            lines.append(f"| {kind} | " + " | ".join(
                f"**{c:.3f}**" if c == best and name not in ("input", "shipped (offline)") else f"{c:.3f}"
                for name, c in zip(estimates, cells)) + " |")
        lines.append("")
    lines += ["## Real-time factor (one thread, 30 s)", "", "| system | RTF |", "|---|---|"]
    lines += [f"| {name} | {value:.4f} |" for name, value in rtf.items()]
    lines += ["", (f"The ONNX stream's samples differ from the torch stream's by {onnx_diff:.1e} at most (30 s, "
              "10 ms blocks): its quality is the torch stream's above.")]
    write_results("streaming", {"model": shown, "seed": args.seed, "items_per_type": args.items_per_type,
                                "block_ms": args.block_ms, "strengths": args.strengths,
                                "baselines": [b.name for b in baselines], "unavailable": missing,
                                "latency_samples": runner.latency, "scores": scores,
                                "rtf": rtf, "onnx_max_abs_diff": onnx_diff}, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
