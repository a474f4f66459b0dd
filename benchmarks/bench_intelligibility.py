"""Intelligibility: what an offline recogniser hears in each system's output, msar beside the baselines.

    python benchmarks/bench_intelligibility.py [--seed 2026] [--types noise reverb] [--jobs 2]

Why: PESQ, STOI and Q score the sound; a transcriber (an archive's, a researcher's) needs the
words, and enhancers are known to help listeners while costing a recogniser words. The recogniser
is pocketsphinx (its bundled US-English model: offline, already an msar dependency), so the
numbers say what a classic recogniser hears, not what a large modern one would.

Items: every dev-set utterance of the unseen speakers with speech long enough to recognise
(arctic aew and axb, LJ Speech; FSDD's one-word digits under 1.5 s left out), whole, each damaged once per
damage type by the dev set's degrader (held-out noises and rooms). Two word error rates (WER) per
system and type, over all words of the type (jiwer):

* ``WER vs clean``: against what the recogniser makes of the clean recording itself. The
  recogniser's own mistakes cancel: 0 = the words come through as they did undamaged (every
  utterance counts, transcribed or not);
* ``WER vs text``: against the human transcript, where the corpus has one (6 ARCTIC and 8 LJ
  Speech utterances, 2 FSDD digits that pass 1.5 s with their silence).

Results in ``benchmarks/results/<--name>.{json,md,png}``; one thread per process, recognition in
``--jobs`` processes.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import numpy as np
import torch

MIN_SECONDS = 1.5  # shorter dev utterances are FSDD's single digits


@dataclass
class Item:
    kind: str
    utterance: int
    clean: np.ndarray
    degraded: np.ndarray
    text: str | None


def normalise(text: str) -> str:
    """Lower-case words, hyphens split, punctuation dropped: how the recogniser writes them."""
    return " ".join(re.sub(r"[^a-z' ]", " ", text.lower().replace("-", " ")).split())


def dev_utterances(min_seconds: float = MIN_SECONDS) -> list[tuple[np.ndarray, str | None]]:
    """(audio at 16 kHz, human transcript or None) of the dev set's unseen speakers."""
    from recipes.args import EvalArguments
    from recipes.data import expand_path, load_clean, read_corpus

    out = []
    for entry in EvalArguments().speech:
        folder = expand_path(entry["dir"])
        texts = {}
        if (folder / "metadata.csv").is_file():
            with open(folder / "metadata.csv", newline="") as f:
                texts = {str((folder / row["file_name"]).resolve()): (row.get("text") or "").strip() for row in csv.DictReader(f)}
        for utt in read_corpus(entry, "eval.speech"):
            audio = load_clean(utt.path)
            if audio.size >= min_seconds * 16000:
                out.append((audio, normalise(texts.get(str(Path(utt.path).resolve()), "")) or None))
    return out


def damaged_items(utterances, types: list[str], seed: int) -> list[Item]:
    """Each utterance damaged once per type, as the dev set damages its items."""
    from recipes.args import EvalArguments
    from recipes.data import target_gain
    from recipes.eval import _dev_degrader

    degrader = _dev_degrader(EvalArguments(seed=seed))
    items = []
    for t, kind in enumerate(types):
        for u, (clean, text) in enumerate(utterances):
            index = 50_000 + t * 1000 + u  # apart from the dev set's indices
            if kind == "clean":
                degraded, record = clean.copy(), {"steps": []}
            elif kind == "mixed":
                degraded, record = degrader(clean, seed, index)
            else:
                degraded, record = degrader.apply(kind, clean, seed, index)
            degraded = np.asarray(degraded, dtype=np.float32)
            items.append(Item(kind, u, (clean * target_gain(record)).astype(np.float32), degraded, text))
    return items


def _transcribe(wave: np.ndarray) -> str:
    """pocketsphinx's words for one item, with a decoder of its own: one decoder carried over
    utterances adapts (its cepstral mean, at least) to those before, and the same 16 recordings
    decoded in reverse order came out 5.6 % apart in WER (0.7 s more per item buys independence)."""
    from pocketsphinx import Decoder

    decoder = Decoder(samprate=16000, loglevel="FATAL")
    decoder.start_utt()
    decoder.process_raw((np.clip(wave, -1.0, 1.0) * 32767).astype(np.int16).tobytes(), full_utt=True)
    decoder.end_utt()
    hypothesis = decoder.hyp()
    return normalise(hypothesis.hypstr if hypothesis is not None else "")


def transcribe_all(waves: list[np.ndarray], jobs: int, desc: str) -> list[str]:
    import multiprocessing

    from tqdm.auto import tqdm

    if jobs <= 1:
        return [_transcribe(w) for w in tqdm(waves, desc=desc, leave=False)]
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        return list(tqdm(pool.imap(_transcribe, waves, chunksize=2), total=len(waves), desc=desc, leave=False))


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Errors over all reference words of the list (jiwer); pairs with an empty reference are left out."""
    import jiwer

    pairs = [(r, h) for r, h in zip(references, hypotheses) if r]
    return float(jiwer.wer([r for r, _ in pairs], [h for _, h in pairs])) if pairs else float("nan")


def plot(table: dict, kinds: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = list(table)
    fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(kinds)), 4))
    width = 0.8 / len(systems)
    for i, name in enumerate(systems):
        ax.bar(np.arange(len(kinds)) + i * width, [100 * table[name][k]["wer_vs_clean"] for k in kinds], width, label=name)
    ax.set_xticks(np.arange(len(kinds)) + 0.4 - width / 2, kinds)
    ax.set_ylabel("WER vs clean transcript (%)")
    ax.set_title("What pocketsphinx hears (lower is better)")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026, help="damage seed (the repair benchmark's)")
    # band_limit and codec left out by default: the recogniser takes 0.3-1 s a second of damaged
    # speech, and this run is long already (about 75 minutes with two processes)
    parser.add_argument("--types", nargs="+", default=["clean", "noise", "reverb", "clipping", "dropouts", "mixed"])
    parser.add_argument("--systems", nargs="*", default=["noisy", "rnnoise", "nsnet2", "deepfilternet3", "gtcrn"],
                        help="baselines (benchmarks/baselines.py names) beside msar")
    parser.add_argument("--model", default=None, help="msar model (default: the shipped one)")
    parser.add_argument("--jobs", type=int, default=2, help="recognition processes")
    parser.add_argument("--name", default="intelligibility")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    from baselines import load_baselines
    from bench_repair import build_msar
    from common import RESULTS, write_results

    utterances = dev_utterances()
    items = damaged_items(utterances, args.types, args.seed)
    loaded, missing = load_baselines(args.systems)
    systems = loaded + [build_msar(args.model)]
    print(f"{len(utterances)} utterances x {len(args.types)} types; systems: {', '.join(s.name for s in systems)}", flush=True)
    clean_heard = transcribe_all([clean for clean, _ in utterances], args.jobs, "clean")
    texts = [text for _, text in utterances]
    table, heard = {}, {}
    for system in systems:
        with torch.no_grad():
            outputs = [system.enhance(it.degraded) for it in items]
        heard[system.name] = transcribe_all(outputs, args.jobs, system.name)
        table[system.name] = {}
        for kind in args.types:
            idx = [i for i, it in enumerate(items) if it.kind == kind]
            hyps = [heard[system.name][i] for i in idx]
            table[system.name][kind] = {
                "wer_vs_clean": word_error_rate([clean_heard[items[i].utterance] for i in idx], hyps),
                "wer_vs_text": word_error_rate([texts[items[i].utterance] or "" for i in idx], hyps),
            }
        damaged = [k for k in args.types if k != "clean"]
        table[system.name]["damaged"] = {m: float(np.mean([table[system.name][k][m] for k in damaged]))
                                         for m in ("wer_vs_clean", "wer_vs_text")}
        print(f"  {system.name:15s} WER vs clean, damaged types: {100 * table[system.name]['damaged']['wer_vs_clean']:.1f} %",
              flush=True)
    clean_vs_text = word_error_rate([t or "" for t in texts], clean_heard)
    rows = [*args.types, "damaged"]
    lines = ["# Intelligibility: what an offline recogniser hears", "",
             (f"{len(utterances)} whole utterances of the dev set's unseen speakers ({sum(t is not None for t in texts)} with a "
              f"human transcript), each damaged once per type (seed {args.seed}, held-out noises and rooms); recogniser: "
              f"pocketsphinx 5, its US-English model; `damaged` = mean over the damaged types. On the clean recordings "
              f"the recogniser's WER against the human transcripts is {100 * clean_vs_text:.1f} %. Unavailable: "
              f"{', '.join(missing) or 'none'}."), ""]
    for metric, label in (("wer_vs_clean", "WER % against the recogniser's transcript of the clean recording"),
                          ("wer_vs_text", f"WER % against the human transcript ({sum(t is not None for t in texts)} utterances)")):
        lines += [f"## {label} (lower is better)", "", "| type | " + " | ".join(table) + " |", "|---|" + "---|" * len(table)]
        for kind in rows:
            values = {name: table[name][kind][metric] for name in table}
            best = min(v for n, v in values.items() if n != "noisy")
            lines.append(f"| {kind} | " + " | ".join(f"**{100 * v:.1f}**" if n != "noisy" and v == best else f"{100 * v:.1f}"
                                                     for n, v in values.items()) + " |")
        lines.append("")
    plot(table, rows, RESULTS / f"{args.name}.png")
    lines.append(f"![WER per type]({args.name}.png)")
    write_results(args.name, {"table": table, "clean_wer_vs_text": clean_vs_text, "types": args.types,
                              "utterances": len(utterances), "missing": missing,
                              "systems": {s.name: s.description for s in systems}}, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
