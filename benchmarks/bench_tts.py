#!/usr/bin/env python
"""Evaluate msar's multi-speaker TTS on held-out ARCTIC prompts against real recordings.

    python benchmarks/bench_tts.py [--model DIR] [--prompts 50] [--wer-prompts 50]

For every voice (the seen ones by speaker id, the zero-shot one from a 5 s reference clip
through the speaker encoder) and every held-out prompt of ``recipes/configs/multispeaker.yaml``:

* pocketsphinx word error rate of the synthesized speech, beside the WER of the real
  recordings of the same prompts (offline en-US model shipped with the ``pocketsphinx`` package);
* mel-cepstral distortion (WORLD mel-cepstrum, 25 coefficients, c0 excluded, DTW-aligned);
* CosSim pitch / CosSim loudness / Q of ``msar_hf.metrics.quality`` on DTW-aligned frames
  (the synthesized and real utterances differ in timing; the DTW path on MFCCs maps each real
  10 ms frame to a synthesized one, then the founding document's formulas apply);
* ECAPA speaker similarity of the synthesized speech to the target voice's real recordings
  versus to every other voice's;
* real-time factor with one thread (text processing + model + vocoder).

Both waveform stages are scored (neural vocoder and the Griffin-Lim fallback): the comparison
that decides the shipped default. Results: ``benchmarks/results/tts_eval.{json,md}``.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "recipes"))
sys.path.insert(0, str(Path(__file__).parent))

RATE = 16000
HOP = 160  # 10 ms, the hop of msar_hf.metrics.quality's contours


# ----------------------------------------------------------------------------------------------
# metrics
# ----------------------------------------------------------------------------------------------
_decoder = None


def transcribe(wav: np.ndarray) -> str:
    """pocketsphinx (offline, default en-US acoustic model + language model).

    Single-pass search (no flat-lexicon pass, no lattice rescoring, pruned): 2x faster on this
    CPU with the same transcripts on the fixtures; real and synthesized speech use the same.
    """
    global _decoder
    if _decoder is None:
        from pocketsphinx import Decoder

        _decoder = Decoder(samprate=RATE, loglevel="FATAL", fwdflat=False, bestpath=False, maxhmmpf=3000, pl_window=10)
    pcm = (np.clip(wav, -1, 1) * 32767).astype(np.int16).tobytes()
    _decoder.start_utt()
    _decoder.process_raw(pcm, full_utt=True)
    _decoder.end_utt()
    hyp = _decoder.hyp()
    return hyp.hypstr if hyp is not None else ""


def words(text: str) -> list[str]:
    from msar_hf.synthesis import normalize_text

    return re.sub(r"[^a-z' ]", " ", normalize_text(text).lower()).split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Word-level Levenshtein distance (substitutions + deletions + insertions)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def mel_cepstrum(wav: np.ndarray) -> np.ndarray:
    """WORLD spectral envelope coded as 25 mel-cepstral coefficients every 10 ms (pyworld)."""
    import pyworld

    x = wav.astype(np.float64)
    f0, t = pyworld.dio(x, RATE, frame_period=10.0)
    f0 = pyworld.stonemask(x, f0, t, RATE)
    sp = pyworld.cheaptrick(x, f0, t, RATE)
    return pyworld.code_spectral_envelope(sp, RATE, 25)


def dtw_path(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frame pairs (i, j) of the DTW path between feature sequences a (n, d) and b (m, d)."""
    import librosa

    _, wp = librosa.sequence.dtw(X=a.T, Y=b.T, metric="euclidean")
    wp = wp[::-1]
    return wp[:, 0], wp[:, 1]


def mcd(ref: np.ndarray, est: np.ndarray) -> float:
    """Mel-cepstral distortion in dB over the DTW path (c0, the energy, excluded)."""
    a, b = mel_cepstrum(ref)[:, 1:], mel_cepstrum(est)[:, 1:]
    i, j = dtw_path(a, b)
    diff = a[i] - b[j]
    return float(np.mean(10.0 / math.log(10) * np.sqrt(2.0 * np.sum(diff**2, axis=1))))


def mfcc(wav: np.ndarray) -> np.ndarray:
    import torchaudio

    tf = torchaudio.transforms.MFCC(sample_rate=RATE, n_mfcc=20, melkwargs={"n_fft": 512, "hop_length": HOP, "n_mels": 40})
    return tf(torch.from_numpy(wav.astype(np.float32))).T.numpy()


def aligned_quality(ref: np.ndarray, est: np.ndarray) -> dict:
    """CosSim pitch, CosSim loudness, MSE and Q of msar_hf.metrics.quality over the DTW path."""
    from msar_hf.metrics import quality as qm

    i, j = dtw_path(mfcc(ref), mfcc(est))
    f0_r, f0_e = qm.pitch_contour(ref, RATE), qm.pitch_contour(est, RATE)
    ld_r, ld_e = qm.loudness_contour(ref, RATE), qm.loudness_contour(est, RATE)
    n_r = min(len(f0_r), len(ld_r))
    n_e = min(len(f0_e), len(ld_e))
    keep = (i < n_r) & (j < n_e)
    i, j = i[keep], j[keep]
    # one estimate frame per reference frame (the last one the path pairs it with)
    first = np.zeros(n_r, dtype=int) - 1
    first[i] = j
    ref_frames = np.flatnonzero(first >= 0)
    est_frames = first[ref_frames]
    cos_pitch = qm.pitch_cosine(f0_r[ref_frames], f0_e[est_frames])
    cos_loud = qm.loudness_cosine(ld_r[ref_frames], ld_e[est_frames])
    blocks_r = np.stack([np.pad(ref, (0, HOP))[k * HOP : (k + 1) * HOP] for k in ref_frames])
    blocks_e = np.stack([np.pad(est, (0, HOP))[k * HOP : (k + 1) * HOP] for k in est_frames])
    mse = float(np.mean((blocks_r - blocks_e) ** 2))
    return {"cossim_pitch": cos_pitch, "cossim_loudness": cos_loud, "mse": mse, "q": qm.q_score(mse, cos_pitch, cos_loud)}


# ----------------------------------------------------------------------------------------------
# the benchmark
# ----------------------------------------------------------------------------------------------
# ----------------------------------------------------------------------------------------------
# the test set (shared with bench_tts_identity.py)
# ----------------------------------------------------------------------------------------------
def held_out_items(items: list[dict], voices: list[str], prompts: int) -> dict[str, list[dict]]:
    """Per voice, its first ``prompts`` held-out utterances (the zero-shot voice's test split too)."""
    return {v: sorted((it for it in items if it["voice"] == v and it["split"] in ("test", "zero_shot_test")),
                      key=lambda it: it["utt"])[:prompts] for v in voices}


def zero_shot_reference(items: list[dict], zero_shot: str, seconds: float = 5.0) -> np.ndarray:
    """The zero-shot voice's reference clip: its non-test prompts, concatenated up to >= ``seconds``."""
    from msar_hf.audio import load_audio

    take: list[np.ndarray] = []
    for it in (it for it in items if it["voice"] == zero_shot and it["split"] == "zero_shot_reference"):
        take.append(load_audio(it["path"])[0].numpy())
        if sum(len(t) for t in take) >= seconds * RATE:
            break
    return np.concatenate(take)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="TTS model folder (default: the shipped one)")
    parser.add_argument("--config", default=str(REPO / "recipes" / "configs" / "multispeaker.yaml"))
    parser.add_argument("--prompts", type=int, default=50, help="held-out prompts per voice")
    parser.add_argument("--wer-prompts", type=int, default=50, help="of which transcribed for WER (pocketsphinx is slow)")
    parser.add_argument("--stages", default="vocoder,griffin_lim",
                        help="waveform stages to score; 'STAGE+repair' renders STAGE then the repair autoencoder")
    parser.add_argument("--repair-model", default=None, help="repair model for '+repair' stages (default: the shipped one)")
    parser.add_argument("--output-name", default="tts_eval")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    from common import write_results
    from train_multispeaker import load_config

    from msar_hf.audio import load_audio
    from msar_hf.speaker import SpeakerEncoder
    from msar_hf.synthesis import load_tts

    cfg = load_config(args.config)
    tts = load_tts(args.model)
    if not (cfg["cache_dir"] / "features.pt").exists():  # fresh clone: render the voices, cache the test set
        from train_multispeaker import prepare

        prepare(cfg)
    encoder = SpeakerEncoder.from_pretrained()
    items = torch.load(cfg["cache_dir"] / "features.pt")
    seen = [v for v in tts.speaker_names if not v.startswith("fsdd_")]
    zero_shot = cfg["data"]["zero_shot_voice"]
    voices = seen + [zero_shot]
    tests = held_out_items(items, voices, args.prompts)

    # real recordings: their embeddings (voice centroids) and their WER
    def real_wav(it) -> np.ndarray:
        return load_audio(it["path"])[0].numpy()

    centroids, real_wer = {}, {}
    for v in voices:
        emb = encoder.embed_files([it["path"] for it in tests[v]]).embeddings
        centroids[v] = torch.nn.functional.normalize(emb.mean(0), dim=0)
        errors = total = 0
        for it in tests[v][: args.wer_prompts]:
            ref = words(it["text"])
            errors += edit_distance(ref, words(transcribe(real_wav(it))))
            total += len(ref)
        real_wer[v] = 100.0 * errors / total
        print(f"real {v}: WER {real_wer[v]:.1f}%", flush=True)

    zs_embedding = encoder.embed(torch.from_numpy(zero_shot_reference(items, zero_shot)).float()[None])[0]

    repairer = None
    if any(st.endswith("+repair") for st in args.stages.split(",")):
        from msar_hf.repair import load_repair_model

        repairer = load_repair_model(args.repair_model)

    rows = []
    for stage_name in args.stages.split(","):
        stage, _, post = stage_name.partition("+")
        for v in voices:
            emb = zs_embedding if v == zero_shot else tts.model.speaker_table[tts.speaker_names.index(v)]
            synth_seconds = audio_seconds = 0.0
            errors = total = 0
            per = {"mcd": [], "cossim_pitch": [], "cossim_loudness": [], "mse": [], "q": []}
            sims = []
            for k, it in enumerate(tests[v]):
                t0 = time.perf_counter()
                with torch.inference_mode():
                    inputs = tts.processor(it["text"], return_tensors="pt")
                    out = tts.model(**inputs, speaker_embeddings=emb[None], waveform_stage=stage)
                wav = out.waveform[0, : int(out.waveform_lengths[0])]
                if post == "repair":
                    with torch.inference_mode():
                        wav = repairer.repair(wav, speaker_embedding=emb)
                synth_seconds += time.perf_counter() - t0
                wav = wav.numpy()
                audio_seconds += len(wav) / RATE
                ref = real_wav(it)
                per["mcd"].append(mcd(ref, wav))
                for key, value in aligned_quality(ref, wav).items():
                    per[key].append(value)
                sims.append(encoder.embed(torch.from_numpy(wav).float()[None], strict=False)[0])
                if k < args.wer_prompts:
                    ref_words = words(it["text"])
                    errors += edit_distance(ref_words, words(transcribe(wav)))
                    total += len(ref_words)
            sims_t = torch.nn.functional.normalize(torch.stack(sims), dim=-1)
            sim = {o: float((sims_t @ centroids[o]).mean()) for o in voices}
            others = {o: s for o, s in sim.items() if o != v}
            row = {
                "stage": stage_name, "voice": v, "kind": "zero-shot (5 s reference)" if v == zero_shot else "seen",
                "prompts": len(tests[v]), "wer": 100.0 * errors / total, "wer_real": real_wer[v],
                **{key: float(np.nanmean(vals)) for key, vals in per.items()},
                "spk_sim_target": sim[v], "spk_sim_best_other": max(others.values()),
                "spk_best_other_voice": max(others, key=others.get), "spk_target_wins": sim[v] > max(others.values()),
                "rtf": synth_seconds / audio_seconds,
            }
            rows.append(row)
            print({k: (round(x, 3) if isinstance(x, float) else x) for k, x in row.items()}, flush=True)

    head = ("| stage | voice | kind | WER % (real) | MCD dB | CosSim pitch | CosSim loud | Q | spk sim target | best other (voice) | RTF |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = "".join(
        f"| {r['stage']} | {r['voice']} | {r['kind']} | {r['wer']:.1f} ({r['wer_real']:.1f}) | {r['mcd']:.2f} | "
        f"{r['cossim_pitch']:.3f} | {r['cossim_loudness']:.3f} | {r['q']:.3f} | {r['spk_sim_target']:.3f} | "
        f"{r['spk_sim_best_other']:.3f} ({r['spk_best_other_voice']}) | {r['rtf']:.3f} |\n"
        for r in rows
    )
    md = (
        f"# TTS evaluation ({tts.path.name})\n\n"
        f"{args.prompts} held-out ARCTIC prompts per voice (WER on the first {args.wer_prompts}), against the real "
        "recordings of the same prompts. WER: pocketsphinx (offline en-US). MCD and CosSim/Q: DTW-aligned. "
        "Speaker similarity: ECAPA (msar_hf.speaker) cosine to the centroid of the voice's real recordings. "
        "RTF: one thread, text processing + model + waveform stage.\n\n" + head + lines
    )
    write_results(args.output_name, {"model": str(tts.path), "prompts": args.prompts, "wer_prompts": args.wer_prompts, "rows": rows}, md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
