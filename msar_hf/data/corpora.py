"""Speech corpora as Hugging Face ``DatasetDict`` objects (what every ``dataset_scripts/`` script uses).

datasets 5 has no loading scripts, so each corpus script only *lists* its utterances
(:class:`Utterance`: path, speaker, transcript, source, licence) and hands them to
:func:`build_dataset_dict`, which

1. decodes each file (any format, any rate) with :func:`msar_hf.audio.load_audio`, skipping
   unreadable files and files recorded below ``min_source_rate``;
2. resamples to ``sampling_rate`` (16 kHz by default), optionally trims leading/trailing
   silence (:func:`trim_silence`);
3. applies the quality filters (duration, clipping ratio, estimated SNR);
4. fills missing transcripts with an offline ASR when asked (:class:`Transcriber`), recording
   where each text came from in ``text_source``;
5. splits train / validation / test by speaker (validation and test speakers unseen in train)
   or by utterance.

Steps 1-4 run in ``Dataset.map(num_proc=...)``. Nothing is dropped silently: every rejected
file, speaker or transcript lands in a :class:`SkipLog` with a reason, is logged, and is
counted in the summary, the dataset card and ``build_report.json``.

Columns: ``id``, ``audio`` (Audio at ``sampling_rate``, stored as 16-bit FLAC), ``text``,
``speaker_id`` (ClassLabel), ``duration`` (seconds), ``source``, ``license``, ``text_source``
("human", "pocketsphinx", an ASR model name, or "none").
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import random
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..audio import file_in_the_way, load_audio, resample, usual_mode
from ..errors import AudioError, MsarError

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")

# Skip categories (the summary counts these; the detail says which file and why).
UNREADABLE = "unreadable audio"
NO_AUDIO = "no audio file"
LOW_RATE = "sampling rate too low"
MISSING_TEXT = "missing transcript"
EMPTY_SPEAKER = "empty speaker"
TOO_SHORT = "too short"
TOO_LONG = "too long"
CLIPPED = "clipped"
LOW_SNR = "low estimated SNR"
EMPTY_TRANSCRIPTION = "ASR returned no words"


class DatasetBuildError(MsarError):
    """A corpus cannot be built as asked (bad folder, nothing usable, output exists...)."""


# ---------------------------------------------------------------------------------------------
# inputs and bookkeeping
# ---------------------------------------------------------------------------------------------
@dataclass
class Utterance:
    """One recording a corpus script found.

    ``text`` is ``None`` when the corpus has no transcript for it (it is then transcribed,
    kept with an empty text, or skipped, as the build config says). Speakers sharing a
    ``group`` (the same person under two names, e.g. two synthetic voices of one speaker)
    always land in the same split.
    """

    id: str
    path: str | os.PathLike
    speaker_id: str
    text: str | None
    source: str
    license: str
    text_source: str = "human"
    group: str | None = None


def recordings_by_folder(root: str | os.PathLike) -> list[tuple[Path, str]]:
    """Every recording under ``root`` (recursively, hidden files skipped) with its speaker: the
    folder it lies in, relative to ``root`` (``p225``, ``alice/day1`` -> ``alice_day1``), or
    ``root``'s own name for the files directly in it. A user's own corpus is often just this, a
    folder per speaker and no metadata.csv: enough for repair training, which needs no text."""
    from ..audio import find_audio_files

    root = Path(root)
    out = []
    for path in find_audio_files([root]):
        folder = path.parent.relative_to(root)
        out.append((path, "_".join(folder.parts) if folder.parts else root.name))
    return out


class SkipLog:
    """Everything left out of a dataset, with a reason: logged as it happens, counted at the end."""

    def __init__(self) -> None:
        self.entries: list[dict] = []

    def skip(self, item: object, reason: str, detail: str = "") -> None:
        self.entries.append({"item": str(item), "reason": reason, "detail": detail})
        log.warning("skipped %s: %s%s", item, reason, f" ({detail})" if detail else "")

    def counts(self) -> dict[str, int]:
        return dict(Counter(e["reason"] for e in self.entries).most_common())

    def __len__(self) -> int:
        return len(self.entries)


@dataclass
class BuildConfig:
    """How to turn a list of :class:`Utterance` into a DatasetDict (see module docstring)."""

    sampling_rate: int = 16000
    min_source_rate: int | None = None
    trim_silence: bool = False
    trim_top_db: float = 40.0
    min_duration: float | None = 0.2
    max_duration: float | None = None
    max_clip_ratio: float | None = 0.01
    min_snr: float | None = None
    transcribe: bool = False
    asr_model: str | None = None
    keep_untranscribed: bool = False
    split_by: str = "speaker"
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0
    num_proc: int = 1

    def __post_init__(self) -> None:
        if self.split_by not in ("speaker", "utterance"):
            raise DatasetBuildError(f"split_by must be 'speaker' or 'utterance', not '{self.split_by}'")
        for name in ("validation_fraction", "test_fraction"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise DatasetBuildError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.validation_fraction + self.test_fraction >= 1.0:
            raise DatasetBuildError("validation_fraction + test_fraction must leave data for train")
        if self.sampling_rate < 4000:
            raise DatasetBuildError(f"sampling_rate {self.sampling_rate} Hz is too low for speech")


@dataclass
class BuildResult:
    """A built corpus plus the record of how it was made."""

    dataset: datasets.DatasetDict  # noqa: F821
    skips: SkipLog
    config: BuildConfig
    split_by: str
    speaker_groups: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    # Arrow files backing ``dataset`` until :func:`save_dataset` (which deletes them).
    tmp_dir: str | None = field(default=None, repr=False)

    def stats(self) -> dict:
        """Utterances, speakers and hours per split."""
        out = {}
        for name, ds in self.dataset.items():
            names = ds.features["speaker_id"].names
            ids = list(ds["speaker_id"])
            out[name] = {
                "utterances": ds.num_rows,
                "speakers": len(set(ids)),
                "hours": round(float(np.sum(list(ds["duration"]))) / 3600, 4),
                "speaker_names": sorted({names[i] for i in ids}),
            }
        return out


# ---------------------------------------------------------------------------------------------
# signal measurements (cleaning)
# ---------------------------------------------------------------------------------------------
def trim_silence(waveform: torch.Tensor, sampling_rate: int, top_db: float = 40.0,
                 pad_s: float = 0.05) -> torch.Tensor:
    """Cut leading and trailing silence: 25 ms frames more than ``top_db`` below the loudest frame.

    An energy gate, the same rule as ``librosa.effects.trim``; written here in torch because
    librosa's version pays ~3 s of numba compilation in every worker process, more than the
    trimming of a whole small corpus. ``pad_s`` of context is kept on each side so word onsets
    and release tails survive.
    """
    frame = max(64, int(0.025 * sampling_rate))
    hop = frame // 4
    if waveform.numel() < frame:
        return waveform
    rms = waveform.unfold(0, frame, hop).pow(2).mean(-1).sqrt()
    db = 20 * torch.log10(rms.clamp_min(1e-10))
    loud = torch.nonzero(db > db.max() - top_db).flatten()
    if loud.numel() == 0:
        return waveform
    pad = int(pad_s * sampling_rate)
    start = max(0, int(loud[0]) * hop - pad)
    end = min(waveform.numel(), int(loud[-1]) * hop + frame + pad)
    return waveform[start:end].contiguous()


def clipping_ratio(waveform: torch.Tensor, tolerance: float = 1e-3) -> float:
    """Fraction of samples stuck at the signal's own peak (±).

    Measured against the file's peak rather than full scale because clipped recordings are
    often normalised afterwards: the flat tops survive at a lower level. Natural speech has
    only a handful of samples within 0.1% of its peak.
    """
    peak = float(waveform.abs().max()) if waveform.numel() else 0.0
    if peak <= 0.0:
        return 0.0
    return float((waveform.abs() >= peak * (1.0 - tolerance)).float().mean())


def estimate_snr(waveform: torch.Tensor, sampling_rate: int, frame_s: float = 0.02) -> float:
    """Blind SNR estimate in dB from the distribution of frame energies.

    The quietest 10% of 20 ms frames estimate the noise floor, the loudest 10% speech plus
    noise. No library in our stack offers a blind SNR estimator (WADA-SNR needs a fitted
    table), and this percentile estimate is enough to reject recordings buried in noise.
    Digital silence between words reads as very high SNR (capped at 100 dB).
    """
    hop = max(1, int(frame_s * sampling_rate))
    n = waveform.numel() // hop
    if n < 10:
        return 100.0
    power = waveform[: n * hop].reshape(n, hop).double().pow(2).mean(-1).sort().values
    k = max(1, n // 10)
    noise = float(power[:k].mean())
    loud = float(power[-k:].mean())
    if noise <= 1e-12 * max(loud, 1e-30):
        return 100.0
    return float(min(100.0, 10 * math.log10(max(loud - noise, 1e-30) / noise)))


def encode_flac(waveform: torch.Tensor, sampling_rate: int) -> bytes:
    """16-bit FLAC bytes (lossless for 16-bit sources, ~half the size of WAV)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, waveform.clamp(-1.0, 1.0).numpy(), sampling_rate, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# transcription
# ---------------------------------------------------------------------------------------------
class Transcriber:
    """Offline speech recognition for utterances that have no transcript.

    ``model=None`` uses pocketsphinx's bundled en-US model (always offline); otherwise ``model``
    is a transformers ASR checkpoint (a local folder or a Hub id already in the cache).
    :attr:`name` is what goes into the ``text_source`` column.
    """

    def __init__(self, model: str | None = None):
        self.model = model
        self.name = "pocketsphinx" if model is None else model
        if model is None:
            try:
                from pocketsphinx import Decoder
            except ImportError as exc:
                raise DatasetBuildError("--transcribe needs pocketsphinx: pip install 'pocketsphinx>=5,<6'") from exc
            self._decoder = Decoder(samprate=16000, loglevel="FATAL")
        else:
            try:
                from transformers import pipeline

                self._pipe = pipeline("automatic-speech-recognition", model=model, device=-1)
            except Exception as exc:  # missing files, offline Hub, wrong model type: all user-side
                raise DatasetBuildError(f"cannot load ASR model '{model}': {str(exc).splitlines()[0]}") from exc

    def __call__(self, waveform: torch.Tensor, sampling_rate: int) -> str:
        """Lower-case words heard in ``waveform`` (any rate; recognisers get 16 kHz)."""
        x = resample(waveform, sampling_rate, 16000)
        if self.model is None:
            pcm = (x.clamp(-1, 1).numpy() * 32767).astype(np.int16).tobytes()
            self._decoder.start_utt()
            self._decoder.process_raw(pcm, full_utt=True)
            self._decoder.end_utt()
            hyp = self._decoder.hyp()
            return hyp.hypstr.strip() if hyp is not None else ""
        out = self._pipe({"raw": x.numpy(), "sampling_rate": 16000})
        return str(out.get("text", "")).strip()


_TRANSCRIBERS: dict[str | None, Transcriber] = {}


def _transcriber(model: str | None) -> Transcriber:
    """One recogniser per process (map workers each build their own; decoders do not pickle)."""
    if model not in _TRANSCRIBERS:
        _TRANSCRIBERS[model] = Transcriber(model)
    return _TRANSCRIBERS[model]


# ---------------------------------------------------------------------------------------------
# per-utterance processing (runs inside Dataset.map)
# ---------------------------------------------------------------------------------------------
def _reject(row: dict, reason: str, detail: str = "") -> dict:
    return {**row, "audio": None, "duration": 0.0, "_skip": reason, "_detail": detail}


def process_utterance(row: dict, config: BuildConfig) -> dict:
    """Decode, resample, trim, filter and (maybe) transcribe one row; rejects carry ``_skip``."""
    try:
        waveform, rate = load_audio(row["path"], sampling_rate=None)
    except AudioError as exc:
        return _reject(row, UNREADABLE, exc.problem)
    if config.min_source_rate and rate < config.min_source_rate:
        return _reject(row, LOW_RATE, f"{rate} Hz < {config.min_source_rate} Hz")
    sr = config.sampling_rate
    waveform = resample(waveform, rate, sr)
    peak = float(waveform.abs().max()) if waveform.numel() else 0.0
    if peak > 1.0:
        # A float file may hold samples beyond full scale (not clipped); encode_flac's clamp would
        # clip them: the whole file is scaled down instead.
        waveform = waveform / peak
    if config.trim_silence:
        waveform = trim_silence(waveform, sr, top_db=config.trim_top_db)
    duration = waveform.numel() / sr
    if config.min_duration is not None and duration < config.min_duration:
        return _reject(row, TOO_SHORT, f"{duration:.2f} s < {config.min_duration} s")
    if config.max_duration is not None and duration > config.max_duration:
        return _reject(row, TOO_LONG, f"{duration:.2f} s > {config.max_duration} s")
    if config.max_clip_ratio is not None:
        ratio = clipping_ratio(waveform)
        if ratio > config.max_clip_ratio:
            return _reject(row, CLIPPED, f"{100 * ratio:.2f}% of samples at peak > {100 * config.max_clip_ratio:g}%")
    if config.min_snr is not None:
        snr = estimate_snr(waveform, sr)
        if snr < config.min_snr:
            return _reject(row, LOW_SNR, f"{snr:.1f} dB < {config.min_snr} dB")

    text, text_source = (row["text"] or "").strip(), row["text_source"]
    if not text:
        if config.transcribe:
            asr = _transcriber(config.asr_model)
            text, text_source = asr(waveform, sr), asr.name
            if not text:
                return _reject(row, EMPTY_TRANSCRIPTION, asr.name)
        elif config.keep_untranscribed:
            text, text_source = "", "none"
        else:
            return _reject(row, MISSING_TEXT, "no text (use --transcribe or --keep-untranscribed)")
    return {**row, "audio": {"bytes": encode_flac(waveform, sr), "path": f"{row['id']}.flac"},
            "text": text, "text_source": text_source, "duration": round(duration, 4),
            "_skip": None, "_detail": None}


# ---------------------------------------------------------------------------------------------
# splits
# ---------------------------------------------------------------------------------------------
def split_by_speaker(groups: list[str], validation_fraction: float, test_fraction: float,
                     seed: int = 0) -> dict[str, list[int]]:
    """Row indices per split so that no group (speaker or person) is in two splits.

    Groups are shuffled with ``seed`` and dealt to test, then validation, until each holds
    about its fraction of the utterances (at least one group each when its fraction is > 0);
    train keeps the rest and always at least one group.
    """
    sizes = Counter(groups)
    order = sorted(sizes)
    random.Random(seed).shuffle(order)
    n = len(groups)
    target = {"test": test_fraction * n, "validation": validation_fraction * n}
    filled = {"test": 0, "validation": 0, "train": 0}
    assign: dict[str, str] = {}
    for i, g in enumerate(order):
        remaining = len(order) - i
        split = "train"
        if remaining > 1 or filled["train"]:
            for name in ("test", "validation"):
                if target[name] > 0 and (filled[name] == 0 or filled[name] + sizes[g] / 2 < target[name]):
                    split = name
                    break
        assign[g] = split
        filled[split] += sizes[g]
    out: dict[str, list[int]] = defaultdict(list)
    for idx, g in enumerate(groups):
        out[assign[g]].append(idx)
    return {s: out[s] for s in SPLITS if out.get(s)}


def split_by_utterance(n: int, validation_fraction: float, test_fraction: float,
                       seed: int = 0) -> dict[str, list[int]]:
    """A seeded random split of ``n`` rows (speakers shared across splits)."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_test = round(test_fraction * n) if n >= 3 else 0
    n_val = round(validation_fraction * n) if n >= 3 else 0
    n_test = max(n_test, 1) if test_fraction > 0 and n >= 3 else n_test
    n_val = max(n_val, 1) if validation_fraction > 0 and n >= 3 else n_val
    parts = {"test": sorted(order[:n_test]), "validation": sorted(order[n_test : n_test + n_val]),
             "train": sorted(order[n_test + n_val :])}
    return {s: parts[s] for s in SPLITS if parts[s]}


# ---------------------------------------------------------------------------------------------
# the build
# ---------------------------------------------------------------------------------------------
def _features(sampling_rate: int, speakers: list[str] | None):
    from datasets import Audio, ClassLabel, Features, Value

    return Features({
        "id": Value("string"),
        "audio": Audio(sampling_rate=sampling_rate),
        "text": Value("string"),
        "speaker_id": ClassLabel(names=speakers) if speakers is not None else Value("string"),
        "duration": Value("float32"),
        "source": Value("string"),
        "license": Value("string"),
        "text_source": Value("string"),
    })


def build_dataset_dict(utterances: Iterable[Utterance], config: BuildConfig,
                       skips: SkipLog | None = None, work_dir: str | os.PathLike | None = None) -> BuildResult:
    """Process ``utterances`` into a train/validation/test ``DatasetDict`` (see module docstring).

    ``skips`` carries what the corpus script already rejected (missing files, empty speakers);
    this adds the decode/filter rejects. ``work_dir`` holds intermediate arrow files (a
    temporary folder by default) so corpora larger than memory go through.
    """
    from datasets import Dataset, DatasetDict, Features, Value

    start = time.perf_counter()
    skips = skips if skips is not None else SkipLog()
    utterances = list(utterances)
    if not utterances:
        raise DatasetBuildError("no utterances to build from" + (f" ({len(skips)} skipped: "
                                + ", ".join(f"{k}: {v}" for k, v in skips.counts().items()) + ")" if skips else ""))
    seen: set[str] = set()
    for u in utterances:
        if u.id in seen:
            raise DatasetBuildError(f"duplicate utterance id '{u.id}' ({u.path})")
        seen.add(u.id)
    if config.transcribe:
        _transcriber(config.asr_model)  # fail early (missing package or model), before any work
    groups = {u.speaker_id: u.group or u.speaker_id for u in utterances}

    rows = [{"id": u.id, "path": str(u.path), "speaker_id": u.speaker_id, "text": u.text,
             "source": u.source, "license": u.license, "text_source": u.text_source} for u in utterances]
    raw = Dataset.from_list(rows, features=Features({k: Value("string") for k in rows[0]}))
    out_features = _features(config.sampling_rate, None)
    out_features["path"] = Value("string")
    out_features["_skip"] = Value("string")
    out_features["_detail"] = Value("string")

    tmp = tempfile.mkdtemp(prefix="msar_build_", dir=work_dir)
    try:
        processed = raw.map(
            process_utterance, fn_kwargs={"config": config}, features=out_features,
            num_proc=config.num_proc if config.num_proc > 1 else None, writer_batch_size=64,
            cache_file_name=str(Path(tmp) / "processed.arrow"),
            desc="decoding, resampling, filtering",
        )
        status = processed.select_columns(["path", "_skip", "_detail"]).to_dict()
        keep = []
        for i, (path, reason, detail) in enumerate(zip(status["path"], status["_skip"], status["_detail"])):
            if reason is None:
                keep.append(i)
            else:
                skips.skip(path, reason, detail or "")
        kept = processed.select(keep).remove_columns(["path", "_skip", "_detail"])
        kept_speakers = sorted(set(kept["speaker_id"]))
        for spk in sorted(set(groups) - set(kept_speakers)):
            skips.skip(spk, EMPTY_SPEAKER, "every utterance was rejected")
        if kept.num_rows == 0:
            raise DatasetBuildError(f"every utterance was rejected ({len(skips)} skipped: "
                                    + ", ".join(f"{k}: {v}" for k, v in skips.counts().items()) + ")")
        kept = kept.cast(_features(config.sampling_rate, kept_speakers))

        split_by = config.split_by
        row_groups = [groups[s] for s in kept.features["speaker_id"].int2str(kept["speaker_id"])]
        if split_by == "speaker" and len(set(row_groups)) < 3:
            log.warning("only %d speaker(s): cannot hold speakers out, splitting by utterance",
                        len(set(row_groups)))
            split_by = "utterance (fewer than 3 speakers)"
        if split_by == "speaker":
            index = split_by_speaker(row_groups, config.validation_fraction, config.test_fraction, config.seed)
        else:
            index = split_by_utterance(kept.num_rows, config.validation_fraction, config.test_fraction, config.seed)
        # select() only records indices; save_to_disk writes each split's rows once.
        dataset = DatasetDict({name: kept.select(idx) for name, idx in index.items()})
        return BuildResult(dataset=dataset, skips=skips, config=config, split_by=split_by,
                           speaker_groups={s: groups[s] for s in kept_speakers},
                           seconds=time.perf_counter() - start, tmp_dir=tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ---------------------------------------------------------------------------------------------
# output: local folder, dataset card, Hub
# ---------------------------------------------------------------------------------------------
def check_output_dir(output_dir: str | os.PathLike, overwrite: bool = False) -> None:
    """Refuse an output folder that holds something, unless ``overwrite``."""
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise DatasetBuildError(f"{out}: exists and is not a folder")
    if blocker := file_in_the_way(out):  # was found by save_dataset's mkdir, after the build
        raise DatasetBuildError(f"{out}: cannot be created: {blocker} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise DatasetBuildError(f"{out}: output folder is not empty (use --overwrite to replace it)")
    if overwrite and out.is_dir() and any(out.iterdir()) and not (out / "dataset_dict.json").exists():
        raise DatasetBuildError(f"{out}: not a dataset folder; refusing to overwrite it")


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if n < limit:
            return name
    return "10M<n<100M"


def dataset_card(result: BuildResult, *, pretty_name: str, description: str, license: str,
                 sources: list[str], language: str = "en", command: str = "") -> str:
    """README.md text for the dataset: YAML metadata (licence, language, tasks, size, speaker
    counts, sources) and a body with the splits, licences per row, cleaning and rejects."""
    from huggingface_hub import DatasetCardData

    stats = result.stats()
    total = sum(s["utterances"] for s in stats.values())
    licences = Counter()
    for ds in result.dataset.values():
        licences.update(ds["license"])
    text_sources = Counter()
    for ds in result.dataset.values():
        text_sources.update(ds["text_source"])
    data = DatasetCardData(
        license=license, language=[language], pretty_name=pretty_name,
        task_categories=["automatic-speech-recognition", "text-to-speech", "audio-to-audio"],
        size_categories=[_size_category(total)], tags=["speech", "multi-speaker", "msar"],
        num_speakers={k: v["speakers"] for k, v in stats.items()},
        num_speakers_total=len(result.speaker_groups), sources=sources,
    )
    cfg = result.config
    lines = [
        f"# {pretty_name}", "", description, "",
        f"Built by msar (`{command}`)" if command else "Built by msar.", "",
        "## Splits", "", "| split | utterances | speakers | hours |", "|---|---|---|---|",
        *[f"| {k} | {v['utterances']} | {v['speakers']} | {v['hours']:.3f} |" for k, v in stats.items()],
        "", f"Split by {result.split_by} (seed {cfg.seed}); "
        + ("validation and test speakers never occur in train." if result.split_by == "speaker" else
           "speakers are shared across splits."),
        "", "## Columns", "",
        f"`audio` ({cfg.sampling_rate} Hz mono, 16-bit FLAC), `text`, `speaker_id` (ClassLabel), "
        "`duration` (s), `source`, `license`, `text_source` (where the text came from: "
        + ", ".join(f"{k}: {v}" for k, v in text_sources.most_common()) + "), `id`.",
        "", "## Sources and licences", "", *[f"- {s}" for s in sources], "",
        "| licence (per row) | utterances |", "|---|---|",
        *[f"| {k} | {v} |" for k, v in licences.most_common()],
        "", "## Cleaning", "",
        f"- silence trimming: {'on, ' + str(cfg.trim_top_db) + ' dB below the loudest frame' if cfg.trim_silence else 'off'}",
        (f"- duration: {cfg.min_duration or 0} s to {cfg.max_duration or 'any'} s; files recorded below "
         f"{cfg.min_source_rate or 'any'} Hz rejected"),
        f"- clipping: rejected above {cfg.max_clip_ratio} of samples at peak" if cfg.max_clip_ratio is not None
        else "- clipping: not filtered",
        f"- estimated SNR: rejected below {cfg.min_snr} dB" if cfg.min_snr is not None else "- estimated SNR: not filtered",
        "", f"Skipped: {len(result.skips)}", "",
    ]
    if result.skips:
        lines += ["| reason | count |", "|---|---|", *[f"| {k} | {v} |" for k, v in result.skips.counts().items()], ""]
    return f"---\n{data.to_yaml()}\n---\n" + "\n".join(lines)


def save_dataset(result: BuildResult, output_dir: str | os.PathLike, card: str | None = None,
                 overwrite: bool = False, max_shard_size: str | int = "500MB") -> Path:
    """Write the DatasetDict (``load_from_disk`` reads it), its README.md card and
    ``build_report.json`` (config, stats, every skip) into ``output_dir``, atomically: a new
    folder is filled next to it and renamed into place."""
    out = Path(output_dir)
    check_output_dir(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    usual_mode(staging)  # mkdtemp makes 0700: the finished folder gets what mkdir would give it
    try:
        result.dataset.save_to_disk(str(staging), max_shard_size=max_shard_size,
                                    num_proc=result.config.num_proc if result.config.num_proc > 1 else None)
        if card is not None:
            (staging / "README.md").write_text(card, encoding="utf-8")
        report = {"config": asdict(result.config), "split_by": result.split_by, "stats": result.stats(),
                  "speaker_groups": result.speaker_groups, "build_seconds": round(result.seconds, 2),
                  "skipped": result.skips.counts(), "skipped_items": result.skips.entries}
        (staging / "build_report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
        os.replace(staging, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # The saved copy is self-contained: reopen it so the result no longer needs the build's
    # temporary arrow files, then delete those.
    from datasets import load_from_disk

    result.dataset = load_from_disk(str(out))
    if result.tmp_dir:
        shutil.rmtree(result.tmp_dir, ignore_errors=True)
        result.tmp_dir = None
    return out


def summary_text(result: BuildResult, output_dir: str | os.PathLike | None = None) -> str:
    """A short human summary: per-split counts, skips by reason, where it went."""
    lines = []
    for name, s in result.stats().items():
        lines.append(f"{name:>10}: {s['utterances']:6d} utterances, {s['speakers']:4d} speakers, {s['hours']:.3f} h")
    lines.append(f"split by {result.split_by}; built in {result.seconds:.1f} s")
    if result.skips:
        lines.append(f"skipped {len(result.skips)}: " + ", ".join(f"{k}: {v}" for k, v in result.skips.counts().items()))
    else:
        lines.append("skipped 0")
    if output_dir is not None:
        lines.append(f"saved to {output_dir} (datasets.load_from_disk)")
    return "\n".join(lines)


def push_to_hub(dataset, repo_id: str, card: str | None = None, private: bool = False,
                token: str | None = None) -> str:
    """Upload ``dataset`` (a DatasetDict) and its card to ``repo_id``; returns the repo URL.

    The upload itself is :func:`msar_hf.hub.push_dataset` (repo-id, token and offline checks,
    one-line :class:`~msar_hf.hub.HubError` on failure). Our card then replaces the generated
    README, keeping the ``dataset_info``/``configs`` metadata ``push_to_hub`` wrote into it.
    Local files are never touched.
    """
    from ..hub import HubError, push_dataset

    url = push_dataset(dataset, repo_id, private=private, token=token)
    if card is None:
        return url
    try:
        from huggingface_hub import DatasetCard

        ours = DatasetCard(card)
        try:
            theirs = DatasetCard.load(repo_id, repo_type="dataset", token=token).data.to_dict()
        except Exception:  # noqa: BLE001  (no README yet: ours is complete without the generated metadata)
            theirs = {}
        for key in ("dataset_info", "configs"):
            if key in theirs:
                ours.data[key] = theirs[key]
        ours.push_to_hub(repo_id, repo_type="dataset", token=token, commit_message="Add msar dataset card")
    except Exception as exc:  # network/permission after the data went up: say so in one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise HubError(f"the data reached {repo_id} but the dataset card did not ({type(exc).__name__}: {first})") from exc
    return url
