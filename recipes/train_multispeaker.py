#!/usr/bin/env python
"""Train msar's multi-speaker TTS (acoustic model + vocoder) and export the shipped default.

    python recipes/train_multispeaker.py --config recipes/configs/multispeaker.yaml --stage prepare
    accelerate launch recipes/train_multispeaker.py --config ... --stage vocoder    # resumable
    accelerate launch recipes/train_multispeaker.py --config ... --stage acoustic   # resumable
    accelerate launch recipes/train_multispeaker.py --config ... --stage vocoder_gta  # resumable
    python recipes/train_multispeaker.py --config ... --stage export

Why not ``recipes/train.py``: the shared loop trains waveform-to-waveform repair on crops of
degraded pairs; TTS needs whole utterances with text, per-utterance speaker embeddings, length
bucketing and two models trained in turn (vocoder on real mels, acoustic model on text), then
the vocoder fine-tuned on the acoustic model's ground-truth-aligned mels (``vocoder_gta``).

Data (``prepare``): kathleen (real) + Debian voices reading the same ARCTIC prompts (rendered
into ``cache_dir``) + FSDD digits. The same ``heldout_prompts`` prompts are held out of every
voice for evaluation, and ``zero_shot_voice`` is held out entirely. Features (phone ids,
log-mels, ECAPA embeddings from ``msar_hf.speaker.SpeakerEncoder``) are cached in ``cache_dir``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from a clone without `pip install -e .`
    sys.path.insert(0, str(REPO))

from recipes.args import load_plain_config, read_metadata  # after the sys.path line above

RATE = 16000


# ============================================================================================
# configuration
# ============================================================================================
def load_config(path: str | os.PathLike) -> dict:
    """The YAML config with its null paths resolved from the environment (see the config file)."""
    return load_plain_config(path, "tts")


def build_config(cfg: dict, speaker_names: list[str]):
    from msar_hf.models.multispeaker import MsarMultiSpeakerConfig, MsarMultiSpeakerTokenizer

    return MsarMultiSpeakerConfig(vocab_size=MsarMultiSpeakerTokenizer().vocab_size, speaker_names=speaker_names, **cfg["model"])


# ============================================================================================
# data
# ============================================================================================

def render_voices(cfg: dict) -> None:
    """Render every Debian voice reading kathleen's ARCTIC prompts (skips what exists)."""
    jobs = [(name, ["flite", "-voice", v]) for name, v in cfg["data"]["flite"].items()]
    jobs += [(name, f"({v})") for name, v in cfg["data"]["festival"].items()]
    for name, cmd in jobs:
        folder = cfg["cache_dir"] / "voices" / name
        folder.mkdir(parents=True, exist_ok=True)
        for row in voice_prompts(cfg, name):
            out = folder / (Path(row["file_name"]).stem + ".wav")
            if out.exists():
                continue
            tmp = out.with_suffix(".tmp.wav")
            if isinstance(cmd, list):
                subprocess.run(cmd + ["-t", row["text"], "-o", str(tmp)], check=True)
            else:
                subprocess.run(["text2wave", "-F", str(RATE), "-eval", cmd, "-o", str(tmp)], input=row["text"].encode(), check=True)
            os.replace(tmp, out)
        print(f"voice {name}: {len(list(folder.glob('*.wav')))} clips", flush=True)


def heldout_prompt_ids(cfg: dict) -> list[str]:
    """The ARCTIC prompt ids held out of every voice (seeded, stable)."""
    prompts = sorted(Path(r["file_name"]).stem for r in read_metadata(cfg["data_root"] / "speech" / "kathleen"))
    return sorted(random.Random(cfg["seed"]).sample(prompts, cfg["data"]["heldout_prompts"]))


def voice_prompts(cfg: dict, voice: str) -> list[dict]:
    """The prompts a voice reads: all of them, or for the zero-shot voice only the held-out
    prompts plus a few others to take its reference clips from."""
    prompts = read_metadata(cfg["data_root"] / "speech" / "kathleen")
    if voice != cfg["data"]["zero_shot_voice"]:
        return prompts
    held = set(heldout_prompt_ids(cfg))
    others = [r for r in prompts if Path(r["file_name"]).stem not in held][: cfg["data"]["zero_shot_reference_prompts"]]
    return [r for r in prompts if Path(r["file_name"]).stem in held] + others


def manifest_rows(cfg: dict) -> list[dict]:
    """Every utterance: voice, utterance id, text, path, split (train / test / zero_shot)."""
    held = set(heldout_prompt_ids(cfg))
    prompts = read_metadata(cfg["data_root"] / "speech" / "kathleen")
    rows = []
    for r in prompts:
        uid = Path(r["file_name"]).stem
        rows.append({"voice": "kathleen", "utt": uid, "text": r["text"], "path": r["path"], "split": "test" if uid in held else "train"})
    for voice in list(cfg["data"]["flite"]) + list(cfg["data"]["festival"]):
        for r in voice_prompts(cfg, voice):
            uid = Path(r["file_name"]).stem
            split = "test" if uid in held else "train"
            if voice == cfg["data"]["zero_shot_voice"]:
                split = "zero_shot_test" if uid in held else "zero_shot_reference"
            path = cfg["cache_dir"] / "voices" / voice / f"{uid}.wav"
            rows.append({"voice": voice, "utt": uid, "text": r["text"], "path": str(path), "split": split})
    fsdd = read_metadata(cfg["data_root"] / "speech" / "fsdd")
    per: dict[str, int] = {}
    for r in sorted(fsdd, key=lambda r: r["file_name"]):
        spk = f"fsdd_{r['speaker_id']}"
        take = int(Path(r["file_name"]).stem.split("_")[-1])
        if take >= cfg["data"]["fsdd_per_speaker"] // 10:  # the first takes of every digit
            continue
        per[spk] = per.get(spk, 0) + 1
        rows.append({"voice": spk, "utt": Path(r["file_name"]).stem, "text": r["text"], "path": r["path"], "split": "train"})
    return rows


def _trim(x: np.ndarray, top_db: float) -> np.ndarray:
    """Cut leading/trailing silence (frames more than ``top_db`` under the loudest), keeping 50 ms."""
    hop = 128
    n = len(x) // hop
    if n < 4:
        return x
    db = 10 * np.log10(np.square(x[: n * hop].reshape(n, hop)).mean(1) + 1e-12)
    loud = np.flatnonzero(db > db.max() - top_db)
    pad = RATE // 20
    start, end = max(0, loud[0] * hop - pad), min(len(x), (loud[-1] + 1) * hop + pad)
    return x[start:end] if end - start > RATE // 10 else x


def prepare(cfg: dict) -> Path:
    """Render voices, then cache phone ids, log-mels and trimmed audio for every utterance."""
    from tqdm import tqdm

    from msar_hf.audio import load_audio
    from msar_hf.models.multispeaker import MsarMultiSpeakerModel, MsarMultiSpeakerTokenizer
    from msar_hf.models.multispeaker.normalization_msar_multispeaker import normalize_text
    from msar_hf.models.multispeaker.tokenization_msar_multispeaker import phonemize

    render_voices(cfg)
    rows = manifest_rows(cfg)
    out = cfg["cache_dir"] / "features.pt"
    tok = MsarMultiSpeakerTokenizer()
    model = MsarMultiSpeakerModel(build_config(cfg, []))
    texts = sorted({r["text"] for r in rows})
    # spelled out first ("etc." -> "et cetera", "1984" -> "nineteen eighty four"), as the tokenizer and
    # `msar synthesize` do at inference, so training reads the words the model is later given
    phones = dict(zip(texts, phonemize([normalize_text(t) for t in texts])))
    # Waveforms are kept only for the vocoder's crops (the whole corpus would be ~1 GB).
    rng = random.Random(cfg["seed"])
    by_voice: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        if r["split"] == "train":
            by_voice.setdefault(r["voice"], []).append(i)
    keep_wav = {i for v in by_voice.values() for i in rng.sample(v, min(len(v), cfg["vocoder"]["clips_per_voice"]))}
    items = []
    for i, r in enumerate(tqdm(rows, desc="features", mininterval=10)):
        wav, _ = load_audio(r["path"])
        wav = torch.from_numpy(_trim(wav.numpy(), cfg["data"]["trim_top_db"]))
        wav = 0.9 * wav / wav.abs().max().clamp(min=1e-4)  # peak-normalise: level is not a voice trait here
        ids = tok(phones[r["text"]], phonemize=False)["input_ids"]
        mel = model.compute_mel(wav)[0]
        items.append(dict(r, ids=torch.tensor(ids, dtype=torch.int16), mel=mel.half(),
                          wav=(wav * 32767).short() if i in keep_wav else None))
    torch.save(items, out)
    print(f"cached {len(items)} utterances -> {out}")
    return out


def _cached(cfg: dict, name: str) -> Any:
    """A file an earlier stage wrote into ``cache_dir`` (features.pt: prepare, embeddings.pt: embed);
    missing, the run stops with one line naming the stage to run first."""
    path = cfg["cache_dir"] / name
    if not path.is_file():
        stage = {"features.pt": "prepare", "embeddings.pt": "embed"}[name]
        raise SystemExit(f"{path} is missing: run --stage {stage} first (or no --stage: every stage in order)")
    return torch.load(path)


def embed(cfg: dict, speaker_model: str | None = None) -> Path:
    """ECAPA embedding of every cached utterance (msar_hf.speaker.SpeakerEncoder).

    Clips the encoder rejects (FSDD digits under 0.5 s) get their speaker's mean embedding.
    """
    from msar_hf.speaker import SpeakerEncoder

    items = _cached(cfg, "features.pt")
    encoder = SpeakerEncoder.from_pretrained(speaker_model)
    result = encoder.embed_files([it["path"] for it in items], batch_size=16, progress=True)
    out, by_voice = {}, {}
    for it, e, ok in zip(items, result.embeddings, result.valid):
        if bool(ok):
            out[(it["voice"], it["utt"])] = e.float()
            by_voice.setdefault(it["voice"], []).append(e.float())
    for it in items:
        if (it["voice"], it["utt"]) not in out and it["voice"] in by_voice:
            out[(it["voice"], it["utt"])] = torch.nn.functional.normalize(torch.stack(by_voice[it["voice"]]).mean(0), dim=0)
    path = cfg["cache_dir"] / "embeddings.pt"
    torch.save(out, path)
    print(f"embedded {int(result.valid.sum())} of {len(items)} utterances -> {path}")
    return path


def load_training_items(cfg: dict) -> tuple[list[dict], list[str], torch.Tensor]:
    """Training utterances with embeddings, the speaker names and their mean embeddings."""
    items, emb = _cached(cfg, "features.pt"), _cached(cfg, "embeddings.pt")
    items = [it for it in items if it["split"] == "train" and (it["voice"], it["utt"]) in emb]
    names = sorted({it["voice"] for it in items})
    for it in items:
        it["emb"] = emb[(it["voice"], it["utt"])]
    table = torch.stack([torch.nn.functional.normalize(torch.stack([it["emb"] for it in items if it["voice"] == n]).mean(0), dim=0) for n in names])
    return items, names, table


def length_batches(items: list[dict], max_frames: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar-length utterances, each under ``max_frames`` padded frames."""
    order = sorted(range(len(items)), key=lambda i: (items[i]["mel"].shape[0] + rng.random() * 8))
    batches, cur, longest = [], [], 0
    for i in order:
        n = items[i]["mel"].shape[0]
        if cur and max(longest, n) * (len(cur) + 1) > max_frames:
            batches.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, n)
    if cur:
        batches.append(cur)
    rng.shuffle(batches)
    return batches


def collate(items: list[dict], idx: list[int], pad_mel: float) -> dict:
    sel = [items[i] for i in idx]
    L = max(len(s["ids"]) for s in sel)
    T = max(s["mel"].shape[0] for s in sel)
    ids = torch.zeros(len(sel), L, dtype=torch.long)
    att = torch.zeros(len(sel), L, dtype=torch.long)
    mel = torch.full((len(sel), T, sel[0]["mel"].shape[1]), pad_mel)
    mel_att = torch.zeros(len(sel), T, dtype=torch.long)
    for k, s in enumerate(sel):
        ids[k, : len(s["ids"])] = s["ids"].long()
        att[k, : len(s["ids"])] = 1
        mel[k, : s["mel"].shape[0]] = s["mel"].float()
        mel_att[k, : s["mel"].shape[0]] = 1
    emb = torch.stack([s["emb"] for s in sel])
    return {"input_ids": ids, "attention_mask": att, "labels": mel, "labels_attention_mask": mel_att, "speaker_embeddings": emb}


def gta_mels(cfg: dict) -> Path:
    """Ground-truth-aligned (GTA) mels: the trained acoustic model's predicted log-mels, run
    teacher-forced on the real durations, so they line up frame by frame with the real audio.

    Why: the vocoder learnt on real mels, but at synthesis it gets the acoustic model's smoother
    predicted mels (Tacotron 2 / HiFi-GAN fine-tuning). Durations come from monotonic alignment
    search against the real mel, exactly as in the acoustic training forward; the model is in
    eval mode (no dropout), as at synthesis. Only ``vocoder_gta.clips_per_voice`` of the clips
    whose waveforms the cache holds are computed; the file holds the mels only (the audio stays
    in features.pt) and is rebuilt when the newest acoustic checkpoint changes.
    """
    from msar_hf.models.multispeaker import MsarMultiSpeakerModel

    t = cfg["vocoder_gta"]
    ckpt = _latest_checkpoint(cfg["output_dir"] / "acoustic")
    if ckpt is None:
        raise SystemExit("vocoder_gta needs a trained acoustic model: run --stage acoustic first")
    path = cfg["cache_dir"] / "gta_mels.pt"
    if path.exists():
        cached = torch.load(path)
        if cached["acoustic_checkpoint"] == str(ckpt.resolve()):
            return path
    items, names, table = load_training_items(cfg)
    rng = random.Random(cfg["seed"])
    by_voice: dict[str, list[dict]] = {}
    for it in items:
        if it["wav"] is not None:
            by_voice.setdefault(it["voice"], []).append(it)
    chosen = [it for v in sorted(by_voice) for it in rng.sample(by_voice[v], min(len(by_voice[v]), t["clips_per_voice"]))]
    model = MsarMultiSpeakerModel(build_config(cfg, names))
    model.load_state_dict({k: v for k, v in _load_weights(ckpt).items() if not k.startswith("vocoder.")}, strict=False)
    model.speaker_table.copy_(table)
    model.eval()
    pad_mel = math.log(model.config.mel_floor)
    mels: dict = {}
    start = time.time()
    with torch.inference_mode():
        for idx in length_batches(chosen, t["max_frames_per_batch"], rng):
            batch = collate(chosen, idx, pad_mel)
            pred = model(**batch).spectrogram
            for k, i in enumerate(idx):
                n = chosen[i]["mel"].shape[0]
                mels[(chosen[i]["voice"], chosen[i]["utt"])] = pred[k, :n].half()
    torch.save({"acoustic_checkpoint": str(ckpt.resolve()), "mels": mels}, path)
    real = torch.cat([it["mel"].float() for it in chosen])
    pred = torch.cat([mels[(it["voice"], it["utt"])].float() for it in chosen])
    print(f"GTA mels of {len(mels)} clips from {ckpt.name} in {time.time() - start:.0f} s -> {path} "
          f"(mean |GTA - real| {float((pred - real).abs().mean()):.3f} nat)", flush=True)
    return path


# ============================================================================================
# training
# ============================================================================================
class Progress:
    """Step and wall time spent so far: restored on resume (accelerate custom object)."""

    def __init__(self):
        self.step, self.seconds = 0, 0.0

    def state_dict(self) -> dict:
        return {"step": self.step, "seconds": self.seconds}

    def load_state_dict(self, state: dict) -> None:
        self.step, self.seconds = int(state["step"]), float(state["seconds"])


def _latest_checkpoint(folder: Path) -> Path | None:
    found = sorted(folder.glob("step_*"), key=lambda p: int(p.name.split("_")[1]))
    return found[-1] if found else None


def _stft_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Multi-resolution STFT loss (spectral convergence + log magnitude).

    No discriminator (multi-period / multi-resolution GAN): on one shared CPU thread it would
    more than double a step's cost, and both stages keep the same losses.
    """
    loss = 0.0
    for n_fft, hop in ((512, 128), (1024, 256), (2048, 512)):
        win = torch.hann_window(n_fft)
        X = torch.stft(x, n_fft, hop, window=win, return_complex=True).abs().clamp(min=1e-5)
        Y = torch.stft(y, n_fft, hop, window=win, return_complex=True).abs().clamp(min=1e-5)
        loss = loss + torch.linalg.norm(Y - X) / torch.linalg.norm(Y) + (X.log() - Y.log()).abs().mean()
    return loss / 3


def aligned_crop(mel: torch.Tensor, wav: torch.Tensor, frames: int, hop: int, rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
    """A random ``frames + 1``-frame crop of a clip's (GTA) mel and the waveform it lines up with.

    Mel frame f is centred on sample f * hop (``compute_mel`` pads by half a window), so frames
    f .. f + frames cover samples f * hop .. (f + frames) * hop, the vocoder's output for them.
    ``wav`` is int16; the crop is float in [-1, 1].
    """
    f = rng.randrange(min(mel.shape[0], len(wav) // hop + 1) - frames)
    return mel[f : f + frames + 1].float(), wav[f * hop : (f + frames) * hop].float() / 32767


def _vocoder_clips(cfg: dict, stage: str, seg: int) -> list[tuple[torch.Tensor | None, torch.Tensor]]:
    """(input mel or None, int16 waveform) pairs the vocoder crops from: for ``vocoder`` the
    cached real waveforms (their mels are computed per crop), for ``vocoder_gta`` the clips with
    GTA mels (see :func:`gta_mels`) and the real waveforms they line up with."""
    items = [it for it in _cached(cfg, "features.pt") if it["split"] == "train" and it["wav"] is not None]
    if stage == "vocoder":
        return [(None, it["wav"]) for it in items if len(it["wav"]) > seg]
    mels = torch.load(gta_mels(cfg))["mels"]
    return [(mels[(it["voice"], it["utt"])], it["wav"]) for it in items if (it["voice"], it["utt"]) in mels and len(it["wav"]) > seg]


def train(cfg: dict, stage: str) -> None:
    """Train the vocoder (on real mels), the acoustic model (on text), or fine-tune the vocoder
    on ground-truth-aligned predicted mels (``vocoder_gta``); resumable."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm import tqdm

    from msar_hf.models.multispeaker import MsarMultiSpeakerModel

    t = cfg[stage]
    torch.set_num_threads(t["threads"])
    set_seed(cfg["seed"])
    # one optimizer step = one schedule step on any number of ranks (see recipes/train.py)
    accelerator = Accelerator(cpu=True, step_scheduler_with_optimizer=False)
    out = cfg["output_dir"] / stage
    out.mkdir(parents=True, exist_ok=True)
    if stage == "acoustic":
        items, names, table = load_training_items(cfg)
        model = MsarMultiSpeakerModel(build_config(cfg, names))
        model.speaker_table.copy_(table)
        params = [p for n, p in model.named_parameters() if not n.startswith("vocoder.")]
        pad_mel = math.log(model.config.mel_floor)
    else:
        hop = cfg["model"].get("hop_length", 256)
        seg = t["segment_frames"] * hop
        clips = _vocoder_clips(cfg, stage, seg)
        items = clips
        full = MsarMultiSpeakerModel(build_config(cfg, []))
        model = full.vocoder  # only the vocoder is trained and checkpointed here
        params = list(model.parameters())
        if stage == "vocoder_gta" and _latest_checkpoint(out) is None:  # first run: start from the trained vocoder
            start_from = _latest_checkpoint(cfg["output_dir"] / "vocoder")
            if start_from is None:
                raise SystemExit("vocoder_gta fine-tunes the vocoder: run --stage vocoder first")
            model.load_state_dict(_load_weights(start_from))
            print(f"vocoder_gta: starting from {start_from}", flush=True)
    n_params = sum(p.numel() for p in params)
    accelerator.print(f"{stage}: {n_params / 1e6:.2f} M trainable parameters, {len(items)} utterances")

    optimizer = torch.optim.AdamW(params, lr=t["lr"], betas=(0.8, 0.99), weight_decay=1e-6)
    progress = Progress()

    def lr_factor(step: int) -> float:
        warm = min(1.0, (step + 1) / t["warmup_steps"])
        if not t.get("lr_cosine_over_minutes"):
            return warm
        # cosine decay (to 10 %) over the stage's wall-time budget, since the stage stops at
        # max_minutes rather than at a step count: the last minutes at a low rate settle the loss
        done = min(1.0, progress.seconds / (60 * t["max_minutes"]))
        return warm * (0.1 + 0.45 * (1 + math.cos(math.pi * done)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    accelerator.register_for_checkpointing(progress)
    ckpt = _latest_checkpoint(out)
    if ckpt is not None:
        accelerator.load_state(str(ckpt))
        accelerator.print(f"resumed from {ckpt} (step {progress.step}, {progress.seconds / 60:.1f} min trained)")
    model.train()

    def save() -> None:
        accelerator.save_state(str(out / f"step_{progress.step}"), safe_serialization=False)  # LSTM weights share storage on GPU (see train.py)
        for old in sorted(out.glob("step_*"), key=lambda p: int(p.name.split("_")[1]))[:-2]:
            import shutil

            shutil.rmtree(old)

    log = open(out / "train_log.jsonl", "a")  # noqa: SIM115  (open for the whole loop, closed below)
    bar = tqdm(initial=progress.step, desc=stage, mininterval=30)
    batches: list = []
    epoch_rng = random.Random(cfg["seed"] + progress.step)
    start, last_save = time.time(), progress.seconds
    base_seconds = progress.seconds
    while progress.step < t["max_steps"] and progress.seconds < 60 * t["max_minutes"]:
        if stage == "acoustic":
            if not batches:
                batches = length_batches(items, t["max_frames_per_batch"], epoch_rng)
            batch = collate(items, batches.pop(), pad_mel)
            loss_out = model(**batch)
            loss, terms = loss_out.loss, {k: float(v) for k, v in loss_out.loss_terms.items()}
        else:
            if stage == "vocoder":
                wav = torch.stack([(c[o : o + seg].float() / 32767) for _, c in epoch_rng.choices(clips, k=t["batch_size"]) for o in [epoch_rng.randrange(len(c) - seg)]])
                wav = wav * (10 ** (epoch_rng.uniform(-12, 0) / 20))  # level variety: the vocoder must not assume one gain
                with torch.no_grad():
                    mel = full.compute_mel(wav)
            else:  # no level variety: the acoustic model always predicts mels at the training level
                crops = [aligned_crop(gta, c, t["segment_frames"], hop, epoch_rng) for gta, c in epoch_rng.choices(clips, k=t["batch_size"])]
                mel = torch.stack([m for m, _ in crops])
                wav = torch.stack([w for _, w in crops])
            pred = model(mel)
            n = min(pred.shape[-1], wav.shape[-1])
            pred, ref = pred[:, :n], wav[:, :n]
            mel_loss = (full.compute_mel(pred) - full.compute_mel(ref)).abs().mean()
            stft_loss = _stft_loss(pred, ref)
            loss = mel_loss + 2.0 * stft_loss
            terms = {"mel": float(mel_loss.detach()), "stft": float(stft_loss.detach())}
        optimizer.zero_grad()
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        progress.step += 1
        progress.seconds = base_seconds + time.time() - start
        bar.update(1)
        if progress.step % 25 == 0:
            log.write(json.dumps({"step": progress.step, "minutes": round(progress.seconds / 60, 2), "loss": float(loss.detach()), "lr": scheduler.get_last_lr()[0], **terms}) + "\n")
            log.flush()
        if progress.step % t["checkpoint_every"] == 0:
            save()
            last_save = progress.seconds
    if progress.seconds > last_save:
        save()
    log.close()
    accelerator.print(f"{stage}: stopped at step {progress.step}, {progress.seconds / 60:.1f} min trained")


# ============================================================================================
# export
# ============================================================================================
def _load_weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    files = sorted(folder.glob("model*.safetensors"))
    if files:
        return load_file(str(files[0]))
    return torch.load(folder / "pytorch_model.bin", map_location="cpu")


def export(cfg: dict, export_dir: Path | None = None, waveform_stage: str | None = None) -> Path:
    """Combine the newest acoustic and vocoder checkpoints into one save_pretrained folder."""
    from msar_hf.models.multispeaker import (
        MsarMultiSpeakerModel,
        MsarMultiSpeakerProcessor,
        MsarMultiSpeakerTokenizer,
    )

    _, names, table = load_training_items(cfg)
    model = MsarMultiSpeakerModel(build_config(cfg, names))
    acoustic = _load_weights(_latest_checkpoint(cfg["output_dir"] / "acoustic"))
    model.load_state_dict({k: v for k, v in acoustic.items() if not k.startswith("vocoder.")}, strict=False)
    # the GTA fine-tune when there is one (it is what synthesis feeds the vocoder), else the vocoder stage
    vocoder_ckpt = _latest_checkpoint(cfg["output_dir"] / "vocoder_gta") or _latest_checkpoint(cfg["output_dir"] / "vocoder")
    if vocoder_ckpt is not None:
        model.vocoder.load_state_dict(_load_weights(vocoder_ckpt))
    else:
        model.config.waveform_stage = "griffin_lim"
    if waveform_stage:  # the stage benchmarks/bench_tts.py found better
        model.config.waveform_stage = waveform_stage
    model.speaker_table.copy_(table)
    target = export_dir or cfg["output_dir"] / "export"
    register_auto_classes()
    model.save_pretrained(target)
    MsarMultiSpeakerProcessor(MsarMultiSpeakerTokenizer()).save_pretrained(target)
    write_model_card(target, cfg, model)
    print(f"exported -> {target}")
    return target


def _trained(stage_dir: Path) -> str:
    ckpt = _latest_checkpoint(stage_dir)
    if ckpt is None:
        return "not trained"
    state = Progress()
    custom = sorted(ckpt.glob("custom_checkpoint_*.pkl"))
    if custom:
        state.load_state_dict(torch.load(custom[0], weights_only=False))
    return f"{state.step} steps, {state.seconds / 60:.0f} min on one CPU thread"


def _mean_seen_wer() -> dict[str, float]:
    """Mean WER over the seen voices per waveform stage, from benchmarks/results/tts_eval.json."""
    results = REPO / "benchmarks" / "results" / "tts_eval.json"
    if not results.exists():
        return {}
    by_stage: dict[str, list[float]] = {}
    for row in json.loads(results.read_text())["rows"]:
        if row["kind"] == "seen":
            by_stage.setdefault(row["stage"], []).append(row["wer"])
    return {stage: sum(w) / len(w) for stage, w in by_stage.items()}


def _stage_note(stage: str) -> str:
    wer = _mean_seen_wer()
    measured = (f" (`benchmarks/results/tts_eval.md`: mean word error rate over the seen voices {wer['vocoder']:.1f} % "
                f"neural vocoder, {wer['griffin_lim']:.1f} % Griffin-Lim)") if {"vocoder", "griffin_lim"} <= set(wer) else ""
    if stage == "griffin_lim":
        return (" - the labelled fallback, chosen by the measured comparison below" + measured + ": at this training "
                "budget the neural vocoder (in the same weights; `waveform_stage=\"vocoder\"`, `msar synthesize "
                "--waveform vocoder`) has better MCD and is 3-5x faster but is less intelligible.")
    return (" - the neural stage; measured against Griffin-Lim below" + measured + "; Griffin-Lim stays a labelled "
            "fallback (`waveform_stage=\"griffin_lim\"`, `msar synthesize --waveform griffin-lim`).")


def _results_table() -> str:
    tables = []
    for name in ("tts_eval", "tts_repair_integration"):  # the second: rendering through the repair model
        results = REPO / "benchmarks" / "results" / f"{name}.md"
        if results.exists():
            tables.append(f"`benchmarks/results/{name}.md` (its Git line names the revision of the weights it measured):\n\n"
                          + results.read_text().split("\n", 1)[1].strip())
    return "\n\n".join(tables) or "(not measured yet)"


def write_model_card(target: Path, cfg: dict, model) -> Path:
    """README.md with the data, their licences, the training budget and how to train longer."""
    c = model.config
    n_params = sum(p.numel() for p in model.parameters()) / 1e6
    voc = sum(p.numel() for p in model.vocoder.parameters()) / 1e6
    card = f"""---
license: cc-by-sa-4.0
library_name: transformers
pipeline_tag: text-to-speech
tags: [text-to-speech, multi-speaker, msar]
---

# msar multi-speaker TTS (small CPU-trained default)

English text (espeak-ng phonemes) + a voice -> 16 kHz speech. {n_params:.1f} M parameters
({n_params - voc:.1f} M acoustic model, {voc:.1f} M vocoder). Architecture: convolution + BiLSTM
text encoder, monotonic alignment search + duration predictor, BiLSTM acoustic decoder
(log-mel, 80 bins, 16 ms hop), Vocos-style vocoder (ConvNeXt -> STFT magnitude/phase ->
inverse STFT) trained on real mels, then fine-tuned on the acoustic model's ground-truth-aligned
mels; Griffin-Lim (`waveform_stage="griffin_lim"`) is a labelled fallback.
Waveform stage shipped: **{c.waveform_stage}**{_stage_note(c.waveform_stage)}

```python
import msar_hf, torch
from msar_hf.speaker import SpeakerEncoder
from transformers import pipeline
tts = pipeline("text-to-speech", model="msar_hf/pretrained/multispeaker")
out = tts("Hello there.", forward_params={{"speaker_ids": torch.tensor([0])}})   # {c.speaker_names[0] if c.speaker_names else ''}
# any voice: forward_params={{"speaker_embeddings": SpeakerEncoder.from_pretrained().embed_file("ref.wav")}}
```

Voices (`config.speaker_names`, `msar voices`): {", ".join(c.speaker_names)}.
Any other voice zero-shot from a reference clip (ECAPA embedding, `msar synthesize --voice`):
intelligible, but it sounds like the nearest training voice, not like the reference: only
{len(c.speaker_names)} voices (5 of them reading sentences) were seen, too few to generalise.

## Training data and licences

| data | use | licence / origin |
|---|---|---|
| kathleen: CMU ARCTIC prompts read by a US-English woman | training (minus {cfg['data']['heldout_prompts']} held-out prompts) | CC0-1.0, rhasspy/dataset-voice-cathy |
| Debian flite voices {", ".join(cfg['data']['flite'])} reading the same prompts | training (minus held-out prompts) | flite and its CMU ARCTIC voices: CMU free licence (BSD-style); audio rendered locally |
| festival `ked` diphone voice | zero-shot evaluation only, never trained on | festival/festvox licence (free); audio rendered locally |
| FSDD spoken digits ({cfg['data']['fsdd_per_speaker']} takes per speaker, 6 speakers, 8 kHz) | training | CC-BY-SA-4.0, Jakobovski/free-spoken-digit-dataset |
| speaker embeddings | conditioning | msar's speaker encoder (`msar_hf/pretrained/speaker_encoder`) |

The FSDD share-alike licence is why these weights are released under CC-BY-SA-4.0.
Phonemes come from espeak-ng (GPL-3.0) through `phonemizer` (GPL-3.0) at run time.

## Training

`recipes/train_multispeaker.py` with `recipes/configs/multispeaker.yaml` (seed {cfg['seed']}):
vocoder {_trained(cfg['output_dir'] / 'vocoder')} on real mels; acoustic model {_trained(cfg['output_dir'] / 'acoustic')};
vocoder fine-tuned {_trained(cfg['output_dir'] / 'vocoder_gta')} on ground-truth-aligned mels
(the acoustic model's predictions teacher-forced on the real durations) (shared 2-core machine). This is a small budget: quality is limited by it. Train longer by raising
`max_minutes` in the config and re-running the same commands (they resume from the newest
checkpoint):

```
python recipes/train_multispeaker.py --stage prepare     # render voices, cache features
python recipes/train_multispeaker.py --stage embed       # speaker embeddings
accelerate launch recipes/train_multispeaker.py --stage vocoder
accelerate launch recipes/train_multispeaker.py --stage acoustic
accelerate launch recipes/train_multispeaker.py --stage vocoder_gta   # after the acoustic model
python recipes/train_multispeaker.py --stage export --export-dir msar_hf/pretrained/multispeaker
python benchmarks/bench_tts.py                           # -> benchmarks/results/tts_eval.md
```

## Evaluation

`benchmarks/results/tts_eval.md` (held-out prompts per voice vs the real recordings:
pocketsphinx WER, MCD, CosSim pitch/loudness, Q, speaker similarity, RTF):

{_results_table()}
"""
    path = target / "README.md"
    path.write_text(card)
    return path


def register_auto_classes() -> None:
    """So save_pretrained writes ``auto_map`` and copies the model code (trust_remote_code)."""
    from msar_hf.models.multispeaker import (
        MsarMultiSpeakerConfig,
        MsarMultiSpeakerModel,
        MsarMultiSpeakerProcessor,
        MsarMultiSpeakerTokenizer,
    )

    MsarMultiSpeakerConfig.register_for_auto_class()
    MsarMultiSpeakerModel.register_for_auto_class("AutoModelForTextToWaveform")
    MsarMultiSpeakerTokenizer.register_for_auto_class()
    MsarMultiSpeakerProcessor.register_for_auto_class()


def run_all_stages(cfg: dict, args: argparse.Namespace) -> None:
    """prepare -> embed -> vocoder -> acoustic -> vocoder_gta -> export, each resumable: cached
    features and embeddings are reused (delete them to rebuild), training stages continue from
    their newest checkpoint and stop at their max_minutes, so re-running finishes the job."""
    if (cfg["cache_dir"] / "features.pt").is_file():
        print(f"prepare: reusing {cfg['cache_dir'] / 'features.pt'}")
    else:
        prepare(cfg)
    if (cfg["cache_dir"] / "embeddings.pt").is_file():
        print(f"embed: reusing {cfg['cache_dir'] / 'embeddings.pt'}")
    else:
        embed(cfg, args.speaker_model)
    for stage in ("vocoder", "acoustic", "vocoder_gta"):
        train(cfg, stage)
    from accelerate import PartialState

    if PartialState().is_main_process:
        export(cfg, Path(args.export_dir) if args.export_dir else None, args.waveform_stage)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "recipes" / "configs" / "multispeaker.yaml"))
    parser.add_argument("--stage", default="all", choices=["all", "prepare", "embed", "vocoder", "acoustic", "vocoder_gta", "export"],
                        help="one stage, or all of them in order (the default; cached data is reused, training stages resume)")
    parser.add_argument("--export-dir", default=None, help="where export writes (default: output_dir/export)")
    parser.add_argument("--waveform-stage", choices=["vocoder", "griffin_lim"], default=None,
                        help="export: the default waveform stage (default: vocoder when trained)")
    parser.add_argument("--speaker-model", default=None, help="SpeechBrain speaker model folder for --stage embed (default: msar's shipped one)")
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    cfg["cache_dir"].mkdir(parents=True, exist_ok=True)
    if args.stage == "all":
        run_all_stages(cfg, args)
    elif args.stage == "prepare":
        prepare(cfg)
    elif args.stage == "embed":
        embed(cfg, args.speaker_model)
    elif args.stage == "export":
        export(cfg, Path(args.export_dir) if args.export_dir else None, args.waveform_stage)
    else:
        train(cfg, args.stage)
    return 0


if __name__ == "__main__":
    sys.exit(main())
