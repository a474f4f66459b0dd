"""Training data of the recipe: clean speech corpora -> damaged (input, target) batches.

Every batch is a pure function of ``(seed, step, rank)``: the utterances, the crop and the damage
(``Degrader(clean, seed, index)``) are drawn from those numbers only. So ``--resume`` continues the
exact stream without saving any data-loader state, and two runs with one seed see the same data.

A ``speech:`` entry is either an audiofolder tree (``dir:``, a ``metadata.csv`` with ``file_name``
and optionally ``speaker_id``), read directly so no conversion step is needed, or a dataset that
``dataset_scripts/`` built (``dataset:``, a ``save_to_disk`` folder with its ``split:``, train by
default; columns ``audio`` and ``speaker_id``). Either may filter speakers and carry a ``weight``
and a ``bandwidth_hz``; a user's corpus is one more entry.
"""

from __future__ import annotations

import csv
import hashlib
import json
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from msar_hf.audio import load_audio
from msar_hf.data.degradations import DegradationConfig, Degrader
from msar_hf.data.degradations.channel import replay_band_limit
from msar_hf.errors import AudioError, MsarError
from msar_hf.models.autoencoder.modeling_msar_autoencoder import band_limit
from recipes.args import DataArguments, expand_path, repo_path

SAMPLING_RATE = 16000


@dataclass(frozen=True)
class Utterance:
    path: str
    speaker: str


SPEECH_ENTRY_KEYS = ("dir", "dataset", "split", "include_speakers", "exclude_speakers", "weight", "bandwidth_hz")
_DATASET_PREFIX = "dataset:"  # an Utterance path "dataset:<folder>:<split>:<row>" (see load_clean)


def _check_entry(entry: dict, section: str) -> None:
    unknown = sorted(set(entry) - set(SPEECH_ENTRY_KEYS))
    if unknown:
        raise SystemExit(f"{section} entry {entry}: unknown key {unknown[0]!r} (known: {', '.join(SPEECH_ENTRY_KEYS)})")
    if ("dir" in entry) == ("dataset" in entry):
        raise SystemExit(f"{section} entry {entry}: give one of 'dir' (an audiofolder) or 'dataset' (a saved dataset)")


def _speaker_kept(speaker: str, entry: dict) -> bool:
    include = set(entry.get("include_speakers") or [])
    return (not include or speaker in include) and speaker not in set(entry.get("exclude_speakers") or [])


@lru_cache(maxsize=16)
def _saved_split(folder: str, split: str):
    """One split of a ``save_to_disk`` dataset, its audio left encoded (decoded per utterance)."""
    from datasets import Audio, DatasetDict, load_from_disk

    data = load_from_disk(folder)
    if isinstance(data, DatasetDict):
        if split not in data:
            raise SystemExit(f"{folder}: no split {split!r} (it has {', '.join(data)})")
        data = data[split]
    if "audio" not in data.column_names:
        raise SystemExit(f"{folder}: a speech dataset needs an 'audio' column (it has {', '.join(data.column_names)})")
    return data.cast_column("audio", Audio(decode=False))


def _read_dataset(entry: dict, section: str) -> list[Utterance]:
    folder = expand_path(entry["dataset"])
    if not (folder / "dataset_dict.json").is_file() and not (folder / "dataset_info.json").is_file():
        raise SystemExit(f"{folder}: not a saved dataset (no dataset_dict.json; build one with dataset_scripts/, "
                         f"{section})")
    split = str(entry.get("split", "train"))
    data = _saved_split(str(folder), split)
    if "speaker_id" in data.column_names:
        feature = data.features["speaker_id"]
        speakers = [feature.int2str(v) if hasattr(feature, "int2str") else str(v) for v in data["speaker_id"]]
    else:
        speakers = [folder.name] * len(data)
    return [Utterance(f"{_DATASET_PREFIX}{folder}:{split}:{row}", speaker)
            for row, speaker in enumerate(speakers) if _speaker_kept(speaker, entry)]


def _read_audiofolder(entry: dict, section: str) -> list[Utterance]:
    folder = expand_path(entry["dir"])
    meta = folder / "metadata.csv"
    if not meta.is_file():
        if not folder.is_dir():
            raise SystemExit(f"{folder}: no such speech folder ({section}; set MSAR_DATA_ROOT or the 'dir' key)")
        # a folder of recordings, a subfolder per speaker: repair training needs no text
        from msar_hf.data.corpora import recordings_by_folder

        found = [Utterance(str(path), speaker) for path, speaker in recordings_by_folder(folder)
                 if _speaker_kept(speaker, entry)]
        if not found and not recordings_by_folder(folder):
            raise SystemExit(f"{folder}: no metadata.csv and no audio files in it ({section})")
        return found
    out = []
    with meta.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if "file_name" not in (reader.fieldnames or []):
            raise SystemExit(f"{meta}: needs a 'file_name' column (and optionally 'speaker_id'); "
                             f"it has {', '.join(reader.fieldnames or []) or 'no header'}")
        for row in reader:
            speaker = str(row.get("speaker_id") or folder.name)
            if _speaker_kept(speaker, entry):
                out.append(Utterance(str(folder / row["file_name"]), speaker))
    missing = [u.path for u in out if not Path(u.path).is_file()]
    if missing:  # now, not when a crop first draws it hours into a run
        raise SystemExit(f"{meta}: {len(missing)} listed file(s) missing, e.g. {missing[0]}")
    return out


def read_corpus(entry: dict, section: str = "data.speech") -> list[Utterance]:
    """Utterances of one ``speech:`` entry (audiofolder or saved dataset), speakers filtered.
    ``section`` names where the entry comes from in the messages of a bad entry."""
    _check_entry(entry, section)
    out = _read_dataset(entry, section) if "dataset" in entry else _read_audiofolder(entry, section)
    if not out:
        where = entry.get("dir") or entry.get("dataset")
        raise SystemExit(f"{where}: no utterances left after the speaker filters ({section})")
    return out


@lru_cache(maxsize=8192)
def load_clean(path: str) -> np.ndarray:
    """16 kHz float32 mono audio of one file (or dataset row), kept in memory (the corpora fit:
    ~1.3 h = 300 MB)."""
    if path.startswith(_DATASET_PREFIX):
        folder, split, row = path[len(_DATASET_PREFIX):].rsplit(":", 2)
        audio = _saved_split(folder, split)[int(row)]["audio"]
        path = audio["bytes"] or audio["path"]  # embedded bytes, or a file the dataset points at
    wave, _ = load_audio(path, sampling_rate=SAMPLING_RATE)
    return wave.numpy().astype(np.float32)


class SpeechPool:
    """Clean speech to draw from: corpus (by weight) -> speaker (uniform) -> utterances."""

    def __init__(self, entries: list[dict], section: str = "data.speech"):
        self.utterances: list[Utterance] = []
        self.corpora: list[dict[str, list[int]]] = []  # per corpus: speaker -> utterance indices
        self.corpus_of: list[int] = []  # per utterance: index of its corpus
        self.bandwidths: list[float] = []  # per corpus: highest frequency its recordings hold (Hz)
        self.unreadable: set[int] = set()  # utterances whose file failed to decode (see _load)
        weights = []
        for k, entry in enumerate(entries):
            by_speaker: dict[str, list[int]] = {}
            for utt in read_corpus(entry, section):
                by_speaker.setdefault(utt.speaker, []).append(len(self.utterances))
                self.utterances.append(utt)
                self.corpus_of.append(k)
            self.corpora.append(by_speaker)
            self.bandwidths.append(float(entry.get("bandwidth_hz") or SAMPLING_RATE / 2))
            weights.append(float(entry.get("weight", 1.0)))
        self.weights = np.asarray(weights) / np.sum(weights)
        self.speakers = sorted({u.speaker for u in self.utterances})

    def _load(self, index: int) -> np.ndarray | None:
        """One utterance's audio, or None for a file that cannot be decoded (empty, damaged, not
        audio): a few such files in a user's corpus used to stop the run at whichever step first
        drew one, hours in. Each is reported once per process and never drawn again."""
        if index in self.unreadable:
            return None
        try:
            return load_clean(self.utterances[index].path)
        except AudioError as err:
            self.unreadable.add(index)
            warnings.warn(f"skipping an unreadable training file: {err}", stacklevel=2)
            return None

    def draw(self, rng: np.random.Generator, length: int) -> tuple[np.ndarray, str, list[int]]:
        """``length`` samples of one speaker: a random utterance, continued with more of the same
        speaker (0-0.3 s gaps) when it is shorter; a random window when longer."""
        corpus = self.corpora[int(rng.choice(len(self.corpora), p=self.weights))]
        speaker = sorted(corpus)[int(rng.integers(len(corpus)))]
        choices = corpus[speaker]
        parts, used, total = [], [], 0
        while total < length + SAMPLING_RATE // 2 and len(used) < 64:
            if not parts and self.unreadable.issuperset(choices):
                raise MsarError(f"speaker {speaker!r}: none of its {len(choices)} file(s) can be read "
                                 f"(e.g. {self.utterances[choices[0]].path}): take it out of metadata.csv or "
                                 "list it in the entry's exclude_speakers")
            index = choices[int(rng.integers(len(choices)))]
            wave = self._load(index)
            if wave is None:  # unreadable: skipped; the draw stays a function of the rng alone
                continue
            if parts:
                gap = np.zeros(round(rng.uniform(0, 0.3) * SAMPLING_RATE), np.float32)
                parts.append(gap)
                total += gap.size
            parts.append(wave)
            used.append(index)
            total += wave.size
        audio = np.concatenate(parts)
        if audio.size < length:
            audio = np.pad(audio, (0, length - audio.size))
        start = int(rng.integers(0, audio.size - length + 1))
        return audio[start : start + length], speaker, used


def target_gain(record: dict) -> float:
    """Level changes the degrader applied on purpose (gain damage, peak normalisation): the target
    follows them, because restoring an arbitrary original level is not repair."""
    db = sum(step.get("gain_db", 0.0) for step in record.get("steps", []) if step["type"] in ("gain", "peak_normalise"))
    return float(10 ** (db / 20))


def degradation_config(args: DataArguments) -> DegradationConfig:
    import yaml

    path = repo_path(args.degradations)
    data = yaml.safe_load(path.read_text()) if path.is_file() else None
    if data is None and not path.is_file():
        raise SystemExit(f"{path}: degradation config not found (data.degradations)")
    data = dict(data or {})
    for key, value in (args.degradation_overrides or {}).items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return DegradationConfig.from_dict(data)


class PairBatches(torch.utils.data.Dataset):
    """``dataset[step]`` -> this rank's batch for that step (use with ``batch_size=None``)."""

    def __init__(self, args: DataArguments, seed: int, rank: int = 0, world_size: int = 1,
                 speaker_table: SpeakerTable | None = None):
        self.args = args
        self.seed = int(seed)
        self.rank, self.world_size = rank, world_size
        self.pool = SpeechPool(args.speech)
        self.degrader_config = degradation_config(args)
        self._degrader: Degrader | None = None  # built lazily: once per DataLoader worker
        self.speaker_table = speaker_table
        self.length = round(args.crop_seconds * SAMPLING_RATE)

    @property
    def degrader(self) -> Degrader:
        if self._degrader is None:
            self._degrader = Degrader(self.degrader_config, SAMPLING_RATE)
        return self._degrader

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_degrader"] = None
        return state

    def __len__(self) -> int:
        return 2**31 - 1

    def item(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, index, 7])
        clean, speaker, used = self.pool.draw(rng, self.length)
        bandwidth = native_bandwidth = self.pool.bandwidths[self.pool.corpus_of[used[0]]]
        if self.args.augment:
            clean, aug = self.degrader.augment(clean, self.seed, index)
            clean = np.pad(clean.numpy(), (0, max(0, self.length - clean.numel())))[: self.length]
            for step in aug["steps"]:
                # slower playback, a lower pitch (Signalsmith moves the formants with it) and a
                # formant ratio below 1 all move the top of the band down
                if step["type"] == "speed":
                    bandwidth *= min(1.0, step["factor"])
                elif step["type"] == "pitch":
                    bandwidth *= min(1.0, 2.0 ** (step["semitones"] / 12.0))
                elif step["type"] == "voice":
                    bandwidth *= min(1.0, step["formant_ratio"])
        degraded, record = self.degrader(clean, self.seed, index)
        if self.args.band_limit_narrowband_input and native_bandwidth < SAMPLING_RATE / 2:
            # A recording made at 8 kHz was damaged at 8 kHz: its clipping harmonics, noise and
            # codec artefacts stop at its band too. Damage simulated at 16 kHz would put them
            # above it, where the band-aware loss cannot ask for their removal.
            degraded = band_limit(torch.as_tensor(degraded)[None].float(), torch.tensor([bandwidth]), SAMPLING_RATE)[0]
        target = clean * target_gain(record)
        if self.args.band_limited_targets:
            for step in record.get("steps", []):
                if step["type"] == "band_limit":
                    target = replay_band_limit(target, step, SAMPLING_RATE, keep_low_band=self.args.restore_low_band)
        out = {"input_values": degraded, "labels": torch.from_numpy(np.ascontiguousarray(target, np.float32))}
        if self.args.band_aware_loss:
            out["labels_bandwidth"] = torch.tensor(bandwidth)
        if self.speaker_table is not None:
            out["speaker_embeddings"] = self.speaker_table.reference(rng, speaker, exclude=used,
                                                                    dropout=self.args.speaker_dropout)
        return out

    def __getitem__(self, step: int) -> dict:
        b = self.args.batch_size
        first = (int(step) * self.world_size + self.rank) * b
        items = [self.item(first + j) for j in range(b)]
        return {k: torch.stack([it[k] for it in items]).float() for k in items[0]}


class SpeakerTable:
    """Per-utterance speaker embeddings, computed once with msar's speaker encoder and cached.

    Training conditions each item on the embedding of *another* utterance of the same speaker (a
    reference clip, as at inference), or on zeros with probability ``dropout`` so the model also
    works without one.
    """

    def __init__(self, pool: SpeechPool, encoder: str | None, cache_dir: str | Path, progress: bool = True):
        self.pool = pool
        key = hashlib.sha1(json.dumps([encoder, [u.path for u in pool.utterances]]).encode()).hexdigest()[:16]
        cache = Path(cache_dir) / f"speaker_embeddings_{key}.pt"
        if cache.is_file():
            self.table = torch.load(cache)
        else:
            self.table = self._compute(encoder, progress)
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            torch.save(self.table, tmp)
            tmp.replace(cache)
        self.by_speaker: dict[str, list[int]] = {}
        for i, utt in enumerate(pool.utterances):
            if self.table[i].abs().sum() > 0:
                self.by_speaker.setdefault(utt.speaker, []).append(i)

    def _compute(self, encoder: str | None, progress: bool) -> torch.Tensor:
        from msar_hf.speaker import SpeakerEncoder

        enc = SpeakerEncoder.from_pretrained(encoder)
        utts = self.pool.utterances
        table = torch.zeros(len(utts), enc.embedding_dim)
        batch = 16
        iterator = range(0, len(utts), batch)
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(iterator, desc="speaker embeddings", unit="batch")
        with torch.no_grad():
            for start in iterator:
                # an unreadable file keeps a zero row: never used as a reference (see __init__)
                rows = [i for i in range(start, min(start + batch, len(utts))) if self.pool._load(i) is not None]
                if rows:
                    waves = [torch.from_numpy(load_clean(utts[i].path)) for i in rows]
                    table[rows] = enc.embed_batch(waves).embeddings
        return table

    def reference(self, rng: np.random.Generator, speaker: str, exclude: list[int], dropout: float) -> torch.Tensor:
        candidates = [i for i in self.by_speaker.get(speaker, []) if i not in set(exclude)] or self.by_speaker.get(speaker, [])
        if not candidates or rng.uniform() < dropout:
            return torch.zeros(self.table.shape[1])
        return self.table[candidates[int(rng.integers(len(candidates)))]]


def batch_loader(dataset: PairBatches, start_step: int, max_steps: int, num_workers: int = 0):
    """Batches for steps ``start_step .. max_steps-1`` in order (workers prefetch ahead)."""
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        sampler=range(start_step, max_steps),
        num_workers=num_workers,
        persistent_workers=False,
        prefetch_factor=4 if num_workers else None,
    )
