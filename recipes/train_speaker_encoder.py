#!/usr/bin/env python
"""Train msar's shipped speaker encoder: a CPU-sized ECAPA-TDNN with AAM-softmax.

    accelerate launch recipes/train_speaker_encoder.py --config recipes/configs/speaker_encoder.yaml
    accelerate launch recipes/train_speaker_encoder.py --config ... --resume      # continue
    python recipes/train_speaker_encoder.py --config ... --prepare-only         # data only

Speakers (every one msar has, ``recipes/configs/speaker_encoder.yaml`` says which are held out):

* real: kathleen and five FSDD speakers from ``data_root/speech``;
* Debian voices: flite kal16/rms/slt and festival kal/slt-hts (the corpus of
  ``dataset_scripts/synthesize_voices.py`` when it exists, clips rendered here otherwise);
* espeak-ng: each voice variant (pitch, formants, breath) with one accent is one speaker;
* speed-perturbed copies (x0.88, x1.12) of the above as extra pseudo-speakers.

Held out for the verification list (never trained on): CMU ARCTIC aew and axb, LJ, one FSDD
speaker (5-digit strings), flite awb, festival ked and ten espeak-ng variants.

Generated audio is cached under ``cache_dir`` (never in the repository). Training saves
``accelerator.save_state`` checkpoints in ``output_dir``; the result is exported in SpeechBrain's
own folder format (``hyperparams.yaml``, ``embedding_model.ckpt``, ``classifier.ckpt``,
``label_encoder.ckpt``), evaluated on the verification list and copied to ``export_dir`` when its
equal error rate meets ``ship_max_eer``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from a clone without `pip install -e .`
    sys.path.insert(0, str(REPO))

from recipes.args import (  # after the sys.path line above
    cache_root,
    load_plain_config,
    read_metadata,
)

RATE = 16000


# ============================================================================================
# configuration
# ============================================================================================
def load_config(path: str | os.PathLike) -> dict:
    """The YAML config with its null paths resolved from the environment (see the config file)."""
    cfg = load_plain_config(path, "speaker")
    cfg["voices_dir"] = Path(cfg.get("voices_dir") or cache_root() / "voices")
    return cfg


# ============================================================================================
# data: real speakers, rendered voices, held-out verification list
# ============================================================================================

def _trim(x: np.ndarray, top_db: float = 35.0) -> np.ndarray:
    import librosa

    y, _ = librosa.effects.trim(x, top_db=top_db, frame_length=512, hop_length=128)
    return y if len(y) > RATE // 10 else x


def _render(engine: str, voice: str, text: str, out: Path, rng: np.random.Generator) -> None:
    """Synthesize ``text`` with one Debian voice into a trimmed 16 kHz FLAC at ``out``."""
    import soundfile as sf
    import torch

    from msar_hf.audio import resample

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        if engine == "flite":
            cmd = ["flite", "-voice", voice, "-t", text, "-o", str(wav)]
        elif engine == "festival":
            (Path(tmp) / "text.txt").write_text(text + "\n")
            cmd = ["text2wave", "-eval", f"({voice})", str(Path(tmp) / "text.txt"), "-o", str(wav)]
        elif engine == "espeak":
            # Per-clip speaking rate and pitch jitter: a speaker is not one fixed prosody.
            cmd = ["espeak-ng", "-v", voice, "-s", str(int(rng.integers(145, 195))),
                   "-p", str(int(rng.integers(40, 61))), "-w", str(wav), text]
        else:
            raise ValueError(engine)
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        x, rate = sf.read(wav, dtype="float32", always_2d=True)
    x = x.mean(1)
    if rate != RATE:
        x = resample(torch.from_numpy(x), rate, RATE).numpy()
    x = _trim(x)
    peak = float(np.abs(x).max()) or 1.0
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".part.flac")
    sf.write(tmp_out, 0.7 * x / peak, RATE, subtype="PCM_16")
    os.replace(tmp_out, out)


def _espeak_variants(exclude: list[str]) -> list[str]:
    out = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True).stdout
    # Columns: Pty Language Age/Gender VoiceName File [Other languages]; File is "!v/<variant>".
    names = [line.split()[4].split("/")[-1] for line in out.splitlines()[1:] if len(line.split()) > 4]
    return sorted(set(names) - set(exclude))


# Folder names dataset_scripts/synthesize_voices.py gives the same voices.
_VOICES_CORPUS_IDS = {("flite", "kal16"): "flite-kal16", ("flite", "rms"): "flite-rms", ("flite", "slt"): "flite-slt",
                      ("flite", "awb"): "flite-awb", ("festival", "voice_kal_diphone"): "festival-kal",
                      ("festival", "voice_ked_diphone"): "festival-ked",
                      ("festival", "voice_cmu_us_slt_arctic_hts"): "festival-slt-hts"}


def _voice_rng(seed: int, name: str) -> np.random.Generator:
    """A generator of its own per voice, so one voice's choices never depend on another's."""
    return np.random.default_rng([seed, *name.encode()])


def _voice_jobs(cfg: dict, texts: list[str]) -> tuple[list[dict], list[tuple]]:
    """Rows (path, speaker, source, split) for every synthetic clip, and the render jobs still missing."""
    d, cache = cfg["data"], cfg["cache_dir"] / "clips"
    heldout_people = set(d["heldout_people"])
    voices = [("flite", v, p) for v, p in d["flite"].items()] + [("festival", v, p) for v, p in d["festival"].items()]
    heldout = d["espeak_heldout"]  # variant -> accent: fixed, so the verification list never drifts
    variants = [v for v in _espeak_variants(d["espeak_exclude"]) if v not in heldout]
    order = np.random.default_rng(cfg["seed"]).permutation(len(variants))
    accents = d["espeak_accents"]
    # Each variant gets one accent, so a speaker is one voice and two speakers never share a voice.
    for rank, idx in enumerate(order):
        voices.append(("espeak", f"{accents[rank % len(accents)]}+{variants[idx]}", f"espeak-{variants[idx]}"))
    for variant, accent in heldout.items():
        voices.append(("espeak", f"{accent}+{variant}", f"espeak-{variant}"))
        heldout_people.add(f"espeak-{variant}")
    rows, jobs = [], []
    for engine, voice, person in voices:
        split = "verify" if person in heldout_people else "train"
        n = d["heldout_clips_per_voice"] if split == "verify" else d.get("clips_override", {}).get(voice, (
            d["espeak_clips_per_voice"] if engine == "espeak" else d["clips_per_voice"]))
        rng = _voice_rng(cfg["seed"], f"{engine}:{voice}")
        corpus = cfg["voices_dir"] / "clips" / _VOICES_CORPUS_IDS.get((engine, voice), "-")
        existing = sorted(corpus.glob("*.flac")) if corpus.is_dir() else []
        if len(existing) >= n:  # the other engineer's corpus: same voices, already rendered
            pick = rng.choice(len(existing), size=n, replace=False)
            rows += [{"path": str(existing[i]), "speaker": person, "source": f"{engine}:{voice}", "split": split} for i in pick]
            continue
        tag = re.sub(r"[^A-Za-z0-9_.+-]", "_", f"{engine}-{voice}")
        # Clips already rendered (by an earlier, interrupted run) come first: rendering is the slow part.
        order = rng.permutation(len(texts))
        have = [i for i in order if (cache / tag / f"{i:04d}.flac").exists()][:n]
        todo = [i for i in order if i not in set(have)][: n - len(have)]
        for i in have + todo:
            out = cache / tag / f"{i:04d}.flac"
            rows.append({"path": str(out), "speaker": person, "source": f"{engine}:{voice}", "split": split})
            if not out.exists():
                jobs.append((engine, voice, texts[i], out, (cfg["seed"], int(i))))
    return rows, jobs


def _fsdd_strings(cfg: dict, rows: list[dict], rng: np.random.Generator) -> list[dict]:
    """Held-out FSDD 'utterances': five digits of one speaker joined by 0.15 s pauses (a lone digit
    is shorter than the encoder's 0.5 s minimum)."""
    import soundfile as sf

    from msar_hf.audio import load_audio

    spk = cfg["data"]["fsdd_heldout"]
    mine = [r["path"] for r in rows if r["speaker_id"] == spk]
    out_rows = []
    for k in range(cfg["data"]["fsdd_heldout_strings"]):
        out = cfg["cache_dir"] / "clips" / f"fsdd-{spk}-strings" / f"{k:02d}.flac"
        if not out.exists():
            pause = np.zeros(int(0.15 * RATE), np.float32)
            parts = []
            for i in rng.choice(len(mine), size=5, replace=False):
                parts += [load_audio(mine[i])[0].numpy(), pause]
            out.parent.mkdir(parents=True, exist_ok=True)
            sf.write(out, np.concatenate(parts), RATE, subtype="PCM_16")
        out_rows.append({"path": str(out), "speaker": f"fsdd-{spk}", "source": "fsdd", "split": "verify"})
    return out_rows


def prepare_data(cfg: dict, workers: int = 2) -> Path:
    """Render missing voices and write ``cache_dir/manifest.csv`` (path, speaker, source, split)."""
    from tqdm import tqdm

    from msar_hf.errors import MsarError

    speech = cfg["data_root"] / "speech"
    if not (speech / "kathleen" / "metadata.csv").exists():
        raise MsarError(f"{speech}: no shared speech corpora here; set data_root or $MSAR_DATA_ROOT")
    rng = np.random.default_rng(cfg["seed"])
    kathleen = read_metadata(speech / "kathleen")
    texts = [r["text"] for r in kathleen]
    rows = [{"path": r["path"], "speaker": "kathleen", "source": "kathleen", "split": "train"} for r in kathleen]
    fsdd = read_metadata(speech / "fsdd")
    rows += [{"path": r["path"], "speaker": f"fsdd-{r['speaker_id']}", "source": "fsdd", "split": "train"}
             for r in fsdd if r["speaker_id"] != cfg["data"]["fsdd_heldout"]]
    for corpus in ("arctic_samples", "ljspeech_samples"):
        rows += [{"path": r["path"], "speaker": r["speaker_id"], "source": corpus, "split": "verify"}
                 for r in read_metadata(speech / corpus)]

    voice_rows, jobs = _voice_jobs(cfg, texts)
    if jobs:
        def run(job):
            engine, voice, text, out, seed = job
            _render(engine, voice, text, out, np.random.default_rng(seed))

        with ThreadPoolExecutor(workers) as pool:
            list(tqdm(pool.map(run, jobs), total=len(jobs), desc="rendering voices", unit="clip"))
    rows += voice_rows + _fsdd_strings(cfg, fsdd, rng)

    manifest = cfg["cache_dir"] / "manifest.csv"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    tmp = manifest.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["path", "speaker", "source", "split"])
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, manifest)
    verify = [r for r in rows if r["split"] == "verify"]
    print(f"manifest {manifest}: {len(rows) - len(verify)} training clips, "
          f"{len({r['speaker'] for r in rows if r['split'] == 'train'})} training speakers; "
          f"{len(verify)} verification clips, {len({r['speaker'] for r in verify})} held-out speakers")
    return manifest


def read_manifest(manifest: Path, split: str) -> list[dict]:
    with open(manifest, newline="") as f:
        return [r for r in csv.DictReader(f) if r["split"] == split]


# ============================================================================================
# training data: per-speaker audio in memory, random crops, augmentation
# ============================================================================================
def load_speakers(rows: list[dict], cfg: dict) -> tuple[list[str], list[np.ndarray]]:
    """One int16 array per (pseudo-)speaker: its trimmed clips end to end (crops may cross clips,
    which is harmless for speaker identity and lets 0.4 s FSDD digits fill 2 s crops)."""
    import soundfile as sf
    import torch
    from tqdm import tqdm

    from msar_hf.audio import resample

    d = cfg["data"]
    cap = int(d["max_seconds_per_speaker"] * RATE)
    by_speaker: dict[str, list[np.ndarray]] = {}
    sizes: dict[str, int] = {}
    for r in tqdm(rows, desc="loading training audio", unit="clip"):
        if sizes.get(r["speaker"], 0) >= cap:
            continue
        x, rate = sf.read(r["path"], dtype="float32", always_2d=True)
        x = x.mean(1)
        if rate != RATE:
            x = resample(torch.from_numpy(x), rate, RATE).numpy()
        x = _trim(x)
        by_speaker.setdefault(r["speaker"], []).append(x)
        sizes[r["speaker"]] = sizes.get(r["speaker"], 0) + len(x)
    names = sorted(by_speaker)
    audio = {n: np.concatenate(by_speaker[n])[:cap] for n in names}

    # Speed-perturbed pseudo-speakers: all real and flite/festival speakers, plus some espeak ones.
    espeak = [n for n in names if n.startswith("espeak-")]
    rng = np.random.default_rng(cfg["seed"] + 1)
    chosen = [n for n in names if not n.startswith("espeak-")]
    chosen += [espeak[i] for i in rng.choice(len(espeak), size=min(d["perturb_espeak_voices"], len(espeak)),
                                             replace=False)]
    for base in sorted(chosen):
        src = torch.from_numpy(audio[base][: cap // 2])  # half the audio: perturbed copies are extras
        for f in d["speed_factors"]:
            audio[f"{base}@speed{f}"] = resample(src, round(RATE * f), RATE).numpy()
    labels = sorted(audio)
    return labels, [(np.clip(audio[n], -1, 1) * 32767).astype(np.int16) for n in labels]


def _load_dir(folder: Path) -> list[np.ndarray]:
    import soundfile as sf
    import torch

    from msar_hf.audio import resample

    out = []
    for p in sorted(folder.glob("*.flac")):
        x, rate = sf.read(p, dtype="float32", always_2d=True)
        x = x.mean(1)
        out.append(x if rate == RATE else resample(torch.from_numpy(x), rate, RATE).numpy())
    return out


class CropDataset:
    """Item ``i`` is a reproducible (seed, i) random crop of a uniformly drawn speaker, augmented
    with real noise, real room responses, gain and band-limiting."""

    def __init__(self, speakers: list[np.ndarray], length: int, cfg: dict, noises, rirs):
        from scipy.signal import butter

        self.speakers, self.length, self.cfg = speakers, length, cfg
        self.crop = int(cfg["train"]["crop_seconds"] * RATE)
        self.noises = [n for n in noises if len(n) > self.crop]
        self.rirs = rirs
        self.sos = butter(8, 3800, btype="low", fs=RATE, output="sos")
        self.seed = cfg["seed"]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int):
        import torch
        from scipy.signal import fftconvolve, sosfilt

        a = self.cfg["augment"]
        rng = np.random.default_rng([self.seed, i])
        spk = int(rng.integers(len(self.speakers)))
        audio = self.speakers[spk]
        if len(audio) <= self.crop:
            x = np.pad(audio, (0, self.crop - len(audio) + 1), mode="wrap")[: self.crop]
        else:
            start = int(rng.integers(len(audio) - self.crop))
            x = audio[start : start + self.crop]
        x = x.astype(np.float32) / 32767
        if self.rirs and rng.random() < a["reverb_prob"]:
            rir = self.rirs[int(rng.integers(len(self.rirs)))]
            y = fftconvolve(x, rir / (np.abs(rir).max() + 1e-9))[: self.crop]
            x = (y * (np.std(x) / (np.std(y) + 1e-9))).astype(np.float32)
        if self.noises and rng.random() < a["noise_prob"]:
            noise = self.noises[int(rng.integers(len(self.noises)))]
            start = int(rng.integers(len(noise) - self.crop))
            n = noise[start : start + self.crop]
            snr = rng.uniform(*a["snr_db"])
            scale = np.sqrt((np.mean(x**2) + 1e-9) / (np.mean(n**2) + 1e-9) / 10 ** (snr / 10))
            x = x + scale * n
        if rng.random() < a["bandlimit_prob"]:
            x = sosfilt(self.sos, x)
        x = x * 10 ** (rng.uniform(*a["gain_db"]) / 20) / (np.abs(x).max() + 1e-6) * 0.5
        return torch.from_numpy(np.asarray(x, dtype=np.float32)), spk


# ============================================================================================
# model
# ============================================================================================
def build_model(cfg: dict, n_speakers: int):
    import torch
    from speechbrain.lobes.features import Fbank
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN, Classifier
    from speechbrain.processing.features import InputNormalization

    m = cfg["model"]

    class SpeakerModel(torch.nn.Module):
        """Fbank -> sentence mean norm -> ECAPA-TDNN -> cosine classifier (the inference graph of
        EncoderClassifier.encode_batch, plus the training head)."""

        def __init__(self):
            super().__init__()
            self.compute_features = Fbank(n_mels=m["n_mels"])
            self.mean_var_norm = InputNormalization(norm_type="sentence", std_norm=False)
            self.embedding_model = ECAPA_TDNN(
                input_size=m["n_mels"], channels=m["channels"], kernel_sizes=m["kernel_sizes"],
                dilations=m["dilations"], attention_channels=m["attention_channels"], lin_neurons=m["lin_neurons"])
            self.classifier = Classifier(input_size=m["lin_neurons"], out_neurons=n_speakers)

        def forward(self, wavs):
            lens = torch.ones(wavs.shape[0], device=wavs.device)
            feats = self.mean_var_norm(self.compute_features(wavs), lens)
            emb = self.embedding_model(feats, lens)
            return emb, self.classifier(emb)

    return SpeakerModel()


HPARAMS_TEMPLATE = """\
# msar speaker encoder: ECAPA-TDNN in SpeechBrain's folder format.
#   EncoderClassifier.from_hparams(source=<this folder>)  or  msar_hf.speaker.SpeakerEncoder.from_pretrained()
# Written by recipes/train_speaker_encoder.py; see README.md for data, licences and EER.
# Parameter files follow the Pretrainer's default naming (<name>.ckpt in the source folder).

n_mels: {n_mels}
sample_rate: 16000

compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>

mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False

embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
    input_size: !ref <n_mels>
    channels: {channels}
    kernel_sizes: {kernel_sizes}
    dilations: {dilations}
    attention_channels: {attention_channels}
    lin_neurons: {lin_neurons}

classifier: !new:speechbrain.lobes.models.ECAPA_TDNN.Classifier
    input_size: {lin_neurons}
    out_neurons: {n_speakers}

modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>
    classifier: !ref <classifier>

label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
        classifier: !ref <classifier>
        label_encoder: !ref <label_encoder>
"""


def export_speechbrain(model, labels: list[str], cfg: dict, out_dir: Path) -> Path:
    """Write a SpeechBrain inference folder (EncoderClassifier.from_hparams loads it as is)."""
    import torch
    from speechbrain.dataio.encoder import CategoricalEncoder

    tmp = out_dir.with_name(out_dir.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    m = cfg["model"]
    (tmp / "hyperparams.yaml").write_text(HPARAMS_TEMPLATE.format(n_speakers=len(labels), **m))
    torch.save(model.embedding_model.state_dict(), tmp / "embedding_model.ckpt")
    torch.save(model.classifier.state_dict(), tmp / "classifier.ckpt")
    enc = CategoricalEncoder()
    enc.update_from_iterable(labels)
    enc.save(tmp / "label_encoder.ckpt")
    if out_dir.exists():
        # Keep files that are not ours (the model card) across re-exports.
        for keep in out_dir.iterdir():
            if keep.name not in {p.name for p in tmp.iterdir()} and keep.is_file():
                shutil.copy2(keep, tmp / keep.name)
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return out_dir


# ============================================================================================
# verification
# ============================================================================================
REAL_SOURCES = {"kathleen", "fsdd", "arctic_samples", "ljspeech_samples"}


def verification_report(encoder, rows: list[dict]) -> dict:
    """EER over every pair of held-out clips: all pairs, real-only pairs, synthetic-only pairs."""
    from msar_hf.speaker import all_pair_trials, equal_error_rate

    result = encoder.embed_files([r["path"] for r in rows], batch_size=8)
    bad = [p for p in result.problems if p]
    if bad:
        raise RuntimeError(f"verification clips the encoder rejects: {bad[:3]}")
    scores, same, pairs = all_pair_trials(result.embeddings, [r["speaker"] for r in rows])
    real = np.array([r["source"] in REAL_SOURCES for r in rows])
    report = {}
    for name, keep in (("all", np.ones(len(scores), bool)), ("real", real[pairs].all(1)),
                       ("synthetic", (~real[pairs]).all(1))):
        if same[keep].all() or not same[keep].any():
            continue  # this subset has no same-speaker or no different-speaker pair
        eer, thr = equal_error_rate(scores[keep], same[keep])
        report[name] = {"eer": eer, "threshold": thr, "target_trials": int(same[keep].sum()),
                        "nontarget_trials": int((~same[keep]).sum()),
                        "speakers": sorted({rows[i]["speaker"] for i in np.unique(pairs[keep])})}
    report["eer"] = report["all"]["eer"]
    return report


def verification_eer(model_dir: Path, manifest: Path) -> dict:
    """EER of an exported encoder on the held-out verification list of ``manifest``."""
    from msar_hf.speaker import SpeakerEncoder

    return verification_report(SpeakerEncoder.from_pretrained(model_dir), read_manifest(manifest, "verify"))


# ============================================================================================
# training loop
# ============================================================================================
class TrainState:
    """Step and wall time spent so far: restored by ``--resume`` (accelerate custom object)."""

    def __init__(self):
        self.step, self.seconds = 0, 0.0

    def state_dict(self) -> dict:
        return {"step": self.step, "seconds": self.seconds}

    def load_state_dict(self, state: dict) -> None:
        self.step, self.seconds = int(state["step"]), float(state["seconds"])


def train(cfg: dict, resume: bool) -> None:
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from speechbrain.nnet.losses import AdditiveAngularMargin, LogSoftmaxWrapper
    from tqdm import tqdm

    t = cfg["train"]
    torch.set_num_threads(t["threads"])
    accelerator = Accelerator()
    set_seed(cfg["seed"])
    out = cfg["output_dir"]
    ckpt_root = out / "checkpoints"

    with accelerator.main_process_first():
        manifest = cfg["cache_dir"] / "manifest.csv"
        if accelerator.is_main_process and not manifest.exists():
            prepare_data(cfg)
    labels, speakers = load_speakers(read_manifest(manifest, "train"), cfg)
    noises = _load_dir(cfg["data_root"] / "noise" / "audio")
    rirs = _load_dir(cfg["data_root"] / "rir" / "audio")
    accelerator.print(f"{len(labels)} training (pseudo-)speakers, "
                      f"{sum(len(s) for s in speakers) / RATE / 3600:.2f} h in memory, "
                      f"{len(noises)} noises, {len(rirs)} RIRs")

    dataset = CropDataset(speakers, t["max_steps"] * t["batch_size"] * accelerator.num_processes, cfg, noises, rirs)
    loader = torch.utils.data.DataLoader(dataset, batch_size=t["batch_size"], shuffle=False, num_workers=0)
    model = build_model(cfg, len(labels))
    n_params = sum(p.numel() for p in model.embedding_model.parameters())
    accelerator.print(f"ECAPA-TDNN: {n_params / 1e6:.2f} M parameters")
    optimizer = torch.optim.Adam(model.parameters(), lr=t["lr"], weight_decay=t["weight_decay"])

    budget = t["max_minutes"] * 60

    def lr_at(state) -> float:
        """Linear warm-up, then cosine decay to 2% of the peak. Progress is the larger of steps and
        wall time spent, so the decay finishes inside the time budget on a busy machine too."""
        if state.step < t["warmup_steps"]:
            return t["lr"] * (state.step + 1) / t["warmup_steps"]
        progress = min(1.0, max(state.step / t["max_steps"], state.seconds / budget))
        return t["lr"] * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))

    loss_fn = LogSoftmaxWrapper(AdditiveAngularMargin(margin=t["margin"], scale=t["scale"]))
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    state = TrainState()
    accelerator.register_for_checkpointing(state)

    if resume:
        found = sorted(ckpt_root.glob("step_*"), key=lambda p: int(p.name.split("_")[1])) if ckpt_root.exists() else []
        if not found:
            raise SystemExit(f"--resume: no checkpoint in {ckpt_root}")
        accelerator.load_state(str(found[-1]))
        accelerator.print(f"resumed from {found[-1]} (step {state.step}, {state.seconds / 60:.1f} min trained)")
    elif ckpt_root.exists() and any(ckpt_root.iterdir()):
        raise SystemExit(f"{ckpt_root} holds checkpoints: pass --resume, or remove it to start over")

    def save(step: int) -> None:
        accelerator.save_state(str(ckpt_root / f"step_{step}"), safe_serialization=False)  # LSTM weights share storage on GPU (see train.py)
        if accelerator.is_main_process:  # keep the two newest
            for old in sorted(ckpt_root.glob("step_*"), key=lambda p: int(p.name.split("_")[1]))[:-2]:
                shutil.rmtree(old, ignore_errors=True)

    batches = accelerator.skip_first_batches(loader, state.step) if state.step else loader
    bar = tqdm(total=t["max_steps"], initial=state.step, desc="training", disable=not accelerator.is_main_process)
    model.train()
    start, seconds0, ema, correct = time.time(), state.seconds, None, None
    log = open(out / "train_log.jsonl", "a") if accelerator.is_main_process else None  # noqa: SIM115  (open for the whole loop)
    for wavs, spk in batches:
        if state.step >= t["max_steps"] or state.seconds >= budget:
            break
        for group in optimizer.param_groups:
            group["lr"] = lr_at(state)
        _, logits = model(wavs)
        loss = loss_fn(logits, spk.unsqueeze(1))
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        state.step += 1
        state.seconds = seconds0 + time.time() - start
        acc = float((logits.squeeze(1).argmax(-1) == spk).float().mean())
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        correct = acc if correct is None else 0.98 * correct + 0.02 * acc
        bar.update(1)
        bar.set_postfix(loss=f"{ema:.3f}", acc=f"{correct:.2f}", min=f"{state.seconds / 60:.1f}")
        if log and state.step % 25 == 0:
            log.write(json.dumps({"step": state.step, "loss": ema, "acc": correct,
                                  "lr": optimizer.param_groups[0]["lr"], "minutes": state.seconds / 60}) + "\n")
            log.flush()
        if state.step % t["checkpoint_every"] == 0:
            save(state.step)
    bar.close()
    save(state.step)
    accelerator.wait_for_everyone()

    if accelerator.is_main_process:
        final = export_speechbrain(accelerator.unwrap_model(model), labels, cfg, out / "speechbrain")
        result = verification_eer(final, manifest)
        result.update(step=state.step, train_minutes=state.seconds / 60, n_speakers=len(labels),
                      params_M=n_params / 1e6)
        (out / "verification.json").write_text(json.dumps(result, indent=2))
        print(json.dumps({k: v for k, v in result.items() if not isinstance(v, (list, dict))}, indent=2))
        if result["eer"] <= cfg.get("ship_max_eer", 0.10):
            export_speechbrain(accelerator.unwrap_model(model), labels, cfg, cfg["export_dir"])
            print(f"EER {100 * result['eer']:.2f}% <= target: shipped to {cfg['export_dir']}")
        else:
            print(f"EER {100 * result['eer']:.2f}% misses the target: NOT shipped (folder: {final})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(REPO / "recipes" / "configs" / "speaker_encoder.yaml"))
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in output_dir")
    p.add_argument("--prepare-only", action="store_true", help="render/cache the data and write the manifest")
    p.add_argument("--max-minutes", type=float, default=None, help="override train.max_minutes")
    p.add_argument("--max-steps", type=int, default=None, help="override train.max_steps")
    p.add_argument("--output-dir", type=Path, default=None, help="override output_dir")
    args = p.parse_args(argv)
    cfg = load_config(args.config)
    if args.max_minutes is not None:
        cfg["train"]["max_minutes"] = args.max_minutes
    if args.max_steps is not None:
        cfg["train"]["max_steps"] = args.max_steps
    if args.output_dir is not None:
        cfg["output_dir"] = args.output_dir.resolve()
    cfg["output_dir"].mkdir(parents=True, exist_ok=True)
    if args.prepare_only:
        prepare_data(cfg)
        return 0
    train(cfg, args.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
