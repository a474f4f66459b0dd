#!/usr/bin/env python
"""Where does a voice's identity get lost? ECAPA speaker similarity per TTS stage.

    python benchmarks/bench_tts_identity.py [--model DIR] [--clips 12]

For every voice of ``benchmarks/bench_tts.py`` (the seen ones and the zero-shot one), on its
held-out prompts, the similarity of four renderings to the centroid of the voice's real
recordings, beside the best similarity to any other voice's centroid:

* ``real``: the recordings themselves (the ceiling);
* ``copy vocoder`` / ``copy griffin_lim``: the real log-mel through each waveform stage (what
  the waveform stage alone keeps);
* ``synth vocoder``: text -> acoustic model -> vocoder, as ``msar synthesize`` does (seen voices
  by their speaker-table row, the zero-shot voice from a 5 s reference).

A voice is kept when its target similarity beats every other voice's. The zero-shot failure
of ``tts_eval`` is read off here: which stage gives the voice away.
Results: ``benchmarks/results/tts_identity.{json,md}``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "recipes"))
sys.path.insert(0, str(Path(__file__).parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="TTS model folder (default: the shipped one)")
    parser.add_argument("--config", default=str(REPO / "recipes" / "configs" / "multispeaker.yaml"))
    parser.add_argument("--clips", type=int, default=12, help="held-out prompts per voice")
    parser.add_argument("--output-name", default="tts_identity")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    from bench_tts import held_out_items, zero_shot_reference
    from common import write_results
    from train_multispeaker import load_config, prepare

    from msar_hf.audio import load_audio
    from msar_hf.speaker import SpeakerEncoder
    from msar_hf.synthesis import load_tts

    cfg = load_config(args.config)
    tts = load_tts(args.model)
    model = tts.model
    if not (cfg["cache_dir"] / "features.pt").exists():
        prepare(cfg)
    items = torch.load(cfg["cache_dir"] / "features.pt")
    encoder = SpeakerEncoder.from_pretrained()
    zero_shot = cfg["data"]["zero_shot_voice"]
    voices = [v for v in tts.speaker_names if not v.startswith("fsdd_")] + [zero_shot]
    tests = held_out_items(items, voices, prompts=len(items))
    centroids = {v: torch.nn.functional.normalize(encoder.embed_files([it["path"] for it in tests[v]]).embeddings.mean(0), dim=0)
                 for v in voices}

    zero_shot_embedding = encoder.embed(torch.from_numpy(zero_shot_reference(items, zero_shot)).float()[None])[0]

    def render(kind: str, voice: str, it: dict) -> torch.Tensor:
        wav = load_audio(it["path"], sampling_rate=model.config.sampling_rate)[0]
        with torch.inference_mode():
            if kind.startswith("copy "):
                return model.vocode(model.compute_mel(wav), kind.split()[1])[0]
            if kind == "synth vocoder":
                emb = zero_shot_embedding if voice == zero_shot else model.speaker_table[tts.speaker_names.index(voice)]
                out = model(**tts.processor(it["text"], return_tensors="pt"), speaker_embeddings=emb[None], waveform_stage="vocoder")
                return out.waveform[0, : int(out.waveform_lengths[0])]
        return wav

    rows = []
    for voice in voices:
        for kind in ("real", "copy vocoder", "copy griffin_lim", "synth vocoder"):
            embs = torch.stack([encoder.embed(render(kind, voice, it)[None].float(), strict=False)[0] for it in tests[voice][: args.clips]])
            embs = torch.nn.functional.normalize(embs, dim=-1)
            sims = {o: float((embs @ centroids[o]).mean()) for o in voices}
            best_other = max((o for o in voices if o != voice), key=sims.get)
            rows.append({"voice": voice, "kind": "zero-shot" if voice == zero_shot else "seen", "rendering": kind,
                         "target": sims[voice], "best_other": sims[best_other], "best_other_voice": best_other,
                         "kept": sims[voice] > sims[best_other]})
            print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in rows[-1].items()}, flush=True)

    lines = "".join(f"| {r['voice']} | {r['kind']} | {r['rendering']} | {r['target']:.3f} | {r['best_other']:.3f} ({r['best_other_voice']}) | "
                    f"{'yes' if r['kept'] else '**no**'} |\n" for r in rows)
    md = (f"# TTS: speaker identity per stage ({tts.path.name})\n\n"
          f"{args.clips} held-out prompts per voice. ECAPA (msar_hf.speaker) cosine of each rendering to the centroid of the "
          "voice's real recordings, and the best cosine to another voice's centroid. copy = the real log-mel through the "
          "waveform stage; synth = from text (the zero-shot voice from a 5 s reference).\n\n"
          "| voice | kind | rendering | sim target | best other (voice) | kept |\n|---|---|---|---|---|---|\n" + lines)
    write_results(args.output_name, {"model": str(tts.path), "clips": args.clips, "rows": rows}, md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
