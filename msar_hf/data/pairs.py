"""(clean, degraded) training pairs over Hugging Face datasets.

* :func:`make_pairs` damages examples on the fly (``Dataset.with_transform``, or a lazy
  ``IterableDataset.map`` for streamed corpora): nothing is written, and the damage of row ``i``
  is drawn from ``(seed, i)``, so passing ``seed=base_seed + epoch`` gives fresh damage every
  epoch and any example can be reproduced from its record. For a ``Dataset``, ``i`` is the row
  of the underlying table, so the damage follows an example through ``shuffle``/``select``;
  for an ``IterableDataset`` it is the position in the stream.
* :func:`materialize` writes a fixed evaluation set with ``Dataset.map(num_proc=...)`` and
  ``save_to_disk`` (atomically: a temporary folder renamed into place).

Datasets 5 decodes ``Audio`` columns to torchcodec ``AudioDecoder`` objects; dicts with an
``"array"`` (other formats) or undecoded ``{"bytes", "path"}`` dicts are accepted too.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..audio import usual_mode
from ..errors import MsarError
from .degradations import DegradationConfig, Degrader

INDEX_COLUMN = "_msar_pair_index"
PAIR_KEYS = ("clean", "degraded", "degradation", "speaker_id", "text")


def decode_audio(value: Any, sampling_rate: int = 16000) -> np.ndarray:
    """One audio cell of a dataset as a float32 mono (T,) array at ``sampling_rate``."""
    from ..audio import load_audio, resample

    rate = sampling_rate
    if hasattr(value, "get_all_samples"):  # torchcodec AudioDecoder (datasets >= 4 default)
        samples = value.get_all_samples()
        wave, rate = samples.data, int(samples.sample_rate)
    elif isinstance(value, dict) and value.get("array") is not None:
        wave = torch.as_tensor(np.asarray(value["array"], dtype=np.float32))
        rate = int(value.get("sampling_rate") or sampling_rate)
    elif isinstance(value, dict) and (value.get("bytes") or value.get("path")):
        wave, rate = load_audio(value.get("bytes") or value["path"], sampling_rate=None, mono=True)
    elif isinstance(value, (str, os.PathLike)):
        wave, rate = load_audio(value, sampling_rate=None, mono=True)
    elif isinstance(value, (np.ndarray, torch.Tensor)):
        wave = torch.as_tensor(value, dtype=torch.float32)
    else:
        raise MsarError(f"cannot read audio from a dataset cell of type {type(value).__name__}")
    wave = torch.as_tensor(wave, dtype=torch.float32)
    if wave.ndim == 2:
        # (channels, time) from torchcodec; (time, channels) arrays from soundfile-style dicts
        wave = wave.mean(0) if wave.shape[0] <= wave.shape[1] else wave.mean(1)
    wave = resample(wave, rate, sampling_rate)
    return wave.contiguous().numpy().astype(np.float32, copy=False)


def _crop(x: np.ndarray, crop_seconds: float | None, sampling_rate: int, seed: int,
          index: int) -> tuple[np.ndarray, dict]:
    """A random window of ``crop_seconds`` (zero-padded at the end when the clip is shorter)."""
    if not crop_seconds:
        return x, {}
    n = round(crop_seconds * sampling_rate)
    if x.size > n:
        start = int(np.random.default_rng([seed, index, 200]).integers(0, x.size - n + 1))
        return x[start:start + n], {"crop_start": start}
    return np.pad(x, (0, n - x.size)), {"crop_start": 0, "padded": n - x.size}


def pair_example(degrader: Degrader, audio: Any, seed: int | None, index: int,
                 crop_seconds: float | None = None, augment: bool = False) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(clean, degraded, record)`` for one audio cell: decode, augment, crop, damage."""
    sr = degrader.sampling_rate
    seed = Degrader._seed(seed)
    clean = decode_audio(audio, sr)
    extra: dict[str, Any] = {}
    if augment:
        aug, aug_record = degrader.augment(clean, seed, index)
        clean = aug.numpy()
        extra["augment"] = aug_record["steps"]
    clean, crop = _crop(clean, crop_seconds, sr, seed, index)
    extra.update(crop)
    degraded, record = degrader(clean, seed, index)
    record.update(extra)
    return np.ascontiguousarray(clean, dtype=np.float32), degraded.numpy(), record


def _is_iterable(dataset: Any) -> bool:
    import datasets

    return isinstance(dataset, datasets.IterableDataset)


def make_pairs(dataset, config: DegradationConfig | dict | str | None = None, seed: int | None = 0,
               crop_seconds: float | None = None, *, audio_column: str = "audio",
               sampling_rate: int = 16000, augment: bool = False, degrader: Degrader | None = None):
    """A view of ``dataset`` whose examples are training pairs, damaged on the fly.

    Each example is ``{"clean": (T,) float32 tensor, "degraded": (T,), "degradation": JSON
    record, "speaker_id", "text"}`` plus the dataset's other columns (not the audio column).

    Args:
        dataset: a ``Dataset``, ``IterableDataset`` or a ``DatasetDict`` of either.
        config: damage settings (see :class:`DegradationConfig`), ignored when ``degrader`` is given.
        seed: row ``i`` is damaged from ``(seed, i)``; use ``base + epoch`` for fresh damage per
            epoch; ``None`` draws fresh damage at every access (not reproducible). ``i`` is the
            row in the underlying table (stable under ``shuffle``/``select``), or the stream
            position for an ``IterableDataset`` (in a DataLoader with ``W`` workers, the
            position in the worker's part ``* W +`` the worker id, and under torch.distributed
            that ``* world size +`` the rank, so no two examples share it).
        crop_seconds: random crop (zero-padded when shorter) before damage; None keeps it whole.
        augment: speed/tempo/pitch-perturb the clean speech first (pseudo-speakers).
        degrader: reuse an existing :class:`Degrader` (noise files already loaded).
    """
    import datasets

    if isinstance(dataset, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        degrader = degrader or Degrader(config, sampling_rate)
        return type(dataset)({name: make_pairs(split, seed=seed, crop_seconds=crop_seconds,
                                               audio_column=audio_column, augment=augment, degrader=degrader)
                              for name, split in dataset.items()})
    columns = list(dataset.column_names or []) if dataset.column_names is not None else None
    if columns is not None and audio_column not in columns:
        raise MsarError(f"dataset has no audio column '{audio_column}' (columns: {columns})")
    degrader = degrader or Degrader(config, sampling_rate)
    one = PairFunction(degrader, seed, crop_seconds, audio_column, augment)
    if _is_iterable(dataset):
        one.stream = True
        return dataset.map(one, with_indices=True, remove_columns=[audio_column])
    return _with_row_numbers(dataset).with_transform(PairTransform(one))


def _with_row_numbers(dataset):
    """The dataset plus a column numbering the rows of its *underlying* table, so the damage
    follows the example through ``shuffle``/``select`` and no data is copied.

    ``Dataset.add_column`` would first ``flatten_indices()`` a shuffled or selected dataset,
    rewriting every row (audio included) to disk; here the column joins the underlying table and
    the index mapping is kept."""
    import datasets
    import pyarrow as pa

    if getattr(dataset, "_indices", None) is None:
        return dataset.add_column(INDEX_COLUMN, list(range(len(dataset))))
    from datasets.arrow_dataset import update_metadata_with_features
    from datasets.table import InMemoryTable, concat_tables

    column = InMemoryTable.from_pydict({INDEX_COLUMN: pa.array(np.arange(dataset._data.num_rows))})
    info = dataset.info.copy()
    info.features = datasets.Features({**dataset.features, INDEX_COLUMN: datasets.Value("int64")})
    table = update_metadata_with_features(concat_tables([dataset._data, column], axis=1), info.features)
    return datasets.Dataset(table, info=info, split=dataset.split, indices_table=dataset._indices)


class PairFunction:
    """``(example, index) -> pair`` for ``map``; a class rather than a closure so it pickles
    (DataLoader workers started with 'spawn', ``num_proc``) and carries the Degrader's config
    only."""

    def __init__(self, degrader: Degrader, seed: int | None, crop_seconds: float | None,
                 audio_column: str, augment: bool, as_tensors: bool = True) -> None:
        self.degrader, self.seed, self.crop_seconds = degrader, seed, crop_seconds
        self.audio_column, self.augment, self.as_tensors = audio_column, augment, as_tensors
        self.stream = False  # set for an IterableDataset: ``index`` is then a stream position

    def __call__(self, example: dict, index: int) -> dict:
        if self.stream:
            worker = torch.utils.data.get_worker_info()
            if worker is not None and worker.num_workers > 1:
                # datasets numbers each DataLoader worker's part of the stream from 0: without
                # this, the first examples of all workers got the same (seed, index) damage.
                index = int(index) * worker.num_workers + worker.id
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                # the same for ranks: split_dataset_by_node numbers each rank's stream from 0
                world = torch.distributed.get_world_size()
                index = int(index) * world + torch.distributed.get_rank()
        clean, degraded, record = pair_example(self.degrader, example[self.audio_column], self.seed,
                                               int(index), self.crop_seconds, self.augment)
        if self.as_tensors:
            clean_out, degraded_out = torch.from_numpy(clean), torch.from_numpy(degraded)
        else:
            sr = self.degrader.sampling_rate
            clean_out = {"array": clean, "sampling_rate": sr}
            degraded_out = {"array": degraded, "sampling_rate": sr}
        rest = {k: v for k, v in example.items() if k not in (self.audio_column, INDEX_COLUMN, *PAIR_KEYS)}
        return {"clean": clean_out, "degraded": degraded_out, "degradation": json.dumps(record),
                "speaker_id": example.get("speaker_id"), "text": example.get("text") or "", **rest}


class PairTransform:
    """The batch transform ``with_transform`` runs: one :class:`PairFunction` call per row."""

    def __init__(self, one: PairFunction) -> None:
        self.one = one

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        size = len(batch[INDEX_COLUMN])
        rows = [self.one({k: v[i] for k, v in batch.items() if k != INDEX_COLUMN}, batch[INDEX_COLUMN][i])
                for i in range(size)]
        return {k: [row[k] for row in rows] for k in rows[0]} if rows else {k: [] for k in PAIR_KEYS}


def materialize(dataset, config: DegradationConfig | dict | str | None, seed: int,
                output_dir: str | os.PathLike, num_proc: int = 2, *, crop_seconds: float | None = None,
                audio_column: str = "audio", sampling_rate: int = 16000, augment: bool = False,
                overwrite: bool = False):
    """Write a fixed set of pairs (e.g. an evaluation set) with ``map(num_proc=...)`` and
    ``save_to_disk``; ``datasets.load_from_disk(output_dir)`` reads it back.

    Columns: ``clean`` and ``degraded`` (``Audio``), ``degradation`` (JSON), ``speaker_id``,
    ``text`` and the dataset's other columns. The config is saved beside the data as
    ``degradation_config.json``. Returns the written ``Dataset``.
    """
    import datasets

    if _is_iterable(dataset):
        raise MsarError("materialize needs a map-style Dataset: take(n) the IterableDataset and "
                        "build one with datasets.Dataset.from_list or from_generator")
    if audio_column not in dataset.column_names:
        raise MsarError(f"dataset has no audio column '{audio_column}' (columns: {dataset.column_names})")
    output_dir = Path(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()) and not overwrite:
        raise MsarError(f"{output_dir}: output folder exists and is not empty (pass overwrite=True)")
    degrader = Degrader(config, sampling_rate)
    one = PairFunction(degrader, seed, crop_seconds, audio_column, augment, as_tensors=False)

    features = {k: v for k, v in dataset.features.items() if k != audio_column}
    features.update({"clean": datasets.Audio(sampling_rate=sampling_rate),
                     "degraded": datasets.Audio(sampling_rate=sampling_rate),
                     "degradation": datasets.Value("string")})
    features.setdefault("text", datasets.Value("string"))
    if "speaker_id" not in features:
        features["speaker_id"] = datasets.Value("string")
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", dir=output_dir.parent))
    usual_mode(work)  # mkdtemp makes 0700: the finished folder gets what mkdir would give it
    try:
        pairs = dataset.map(one, with_indices=True, num_proc=num_proc if len(dataset) > 1 else None,
                            remove_columns=list(dataset.column_names), features=datasets.Features(features),
                            cache_file_name=str(work / "cache" / "pairs.arrow"), load_from_cache_file=False,
                            desc="degrading")
        pairs.save_to_disk(str(work / "data"))
        (work / "data" / "degradation_config.json").write_text(json.dumps(
            {"seed": seed, "crop_seconds": crop_seconds, "augment": augment,
             "sampling_rate": sampling_rate, "config": degrader.config.to_dict()}, indent=2))
        if output_dir.exists():
            shutil.rmtree(output_dir)
        os.replace(work / "data", output_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return datasets.load_from_disk(str(output_dir))
