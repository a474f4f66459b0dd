"""Paired training streams over Hugging Face datasets built from the real fixture recordings."""

from __future__ import annotations

import csv
import json

import datasets
import numpy as np
import pytest
import torch

from msar_hf.audio import load_audio
from msar_hf.data.degradations import DegradationConfig
from msar_hf.data.pairs import PAIR_KEYS, decode_audio, make_pairs, materialize
from msar_hf.errors import MsarError

SR = 16000


@pytest.fixture(scope="module")
def corpus(fixtures_dir) -> datasets.Dataset:
    """kathleen + arctic_samples (16 kHz) + some FSDD digits (8 kHz): 3 corpora, 5 speakers."""
    rows = []
    for name in ("kathleen", "arctic_samples", "fsdd"):
        folder = fixtures_dir / "speech" / name
        with open(folder / "metadata.csv", newline="") as f:
            for row in list(csv.DictReader(f))[:4]:
                rows.append({"audio": str(folder / row["file_name"]), "text": row["text"],
                             "speaker_id": row["speaker_id"]})
    ds = datasets.Dataset.from_list(rows)
    ds = ds.cast_column("audio", datasets.Audio(sampling_rate=SR))
    return ds.class_encode_column("speaker_id")


@pytest.fixture(scope="module")
def config(fixtures_dir) -> DegradationConfig:
    return DegradationConfig(noise_dir=str(fixtures_dir / "noise"), rir_dir=str(fixtures_dir / "rir"),
                             reverb={"pool_size": 4}, p_clean=0.1)


def check_pair(example: dict, expected_text: str, crop: int | None = None) -> dict:
    assert set(PAIR_KEYS) <= set(example) and "audio" not in example
    clean, degraded = example["clean"], example["degraded"]
    assert isinstance(clean, torch.Tensor) and clean.dtype == torch.float32 and clean.ndim == 1
    assert degraded.shape == clean.shape and torch.isfinite(degraded).all()
    if crop:
        assert clean.numel() == crop
    assert example["text"] == expected_text
    record = json.loads(example["degradation"])
    if record["mode"] == "clean":
        assert torch.equal(clean, degraded)
    else:
        assert not torch.equal(clean, degraded)
    return record


def test_make_pairs_on_a_dataset(corpus, config):
    pairs = make_pairs(corpus, config, seed=0)
    assert len(pairs) == len(corpus)
    modes = set()
    for i in range(len(pairs)):
        example = pairs[i]
        record = check_pair(example, corpus[i]["text"])
        assert record["index"] == i and record["seed"] == 0
        assert example["speaker_id"] == corpus[i]["speaker_id"]
        modes.add(record["mode"])
    assert "full" in modes
    # clean speech is the decoded dataset audio, untouched
    first = pairs[0]["clean"].numpy()
    assert np.allclose(first, decode_audio(corpus[0]["audio"], SR))


def test_pairs_pickle_for_spawned_dataloader_workers(corpus, config):
    import pickle

    pairs = make_pairs(corpus.select(range(2)), config, seed=0, crop_seconds=1.0)
    revived = pickle.loads(pickle.dumps(pairs))  # what a 'spawn' DataLoader worker receives
    batch = next(iter(torch.utils.data.DataLoader(revived, batch_size=2)))
    assert batch["degraded"].shape == (2, SR)
    assert torch.equal(batch["degraded"][1], pairs[1]["degraded"])


def test_pairs_are_reproducible_and_fresh_per_seed(corpus, config):
    a = make_pairs(corpus, config, seed=3)[2]
    b = make_pairs(corpus, config, seed=3)[2]
    c = make_pairs(corpus, config, seed=4)[2]
    assert torch.equal(a["degraded"], b["degraded"]) and a["degradation"] == b["degradation"]
    assert a["degradation"] != c["degradation"]
    batch = make_pairs(corpus, config, seed=3)[1:4]  # batched access gives the same rows
    assert torch.equal(batch["degraded"][1], a["degraded"])


def test_damage_follows_the_example_through_shuffle_and_select(corpus, config):
    base = make_pairs(corpus, config, seed=2)
    view = corpus.shuffle(seed=0).select(range(5))
    pairs = make_pairs(view, config, seed=2)
    assert len(pairs) == 5 and view.cache_files == corpus.cache_files  # nothing rewritten
    for i in range(5):
        row = json.loads(pairs[i]["degradation"])["index"]
        assert pairs[i]["text"] == corpus[row]["text"]
        assert torch.equal(pairs[i]["degraded"], base[row]["degraded"])


def test_crop_and_pad(corpus, config):
    pairs = make_pairs(corpus, config, seed=1, crop_seconds=1.5)
    for i in (0, len(corpus) - 1):  # a long kathleen prompt, a short FSDD digit (padded)
        record = check_pair(pairs[i], corpus[i]["text"], crop=int(1.5 * SR))
        assert "crop_start" in record
    assert "padded" in json.loads(pairs[len(corpus) - 1]["degradation"])


def test_make_pairs_on_an_iterable_dataset_matches_the_dataset(corpus, config):
    stream = make_pairs(corpus.to_iterable_dataset(num_shards=1), config, seed=0, crop_seconds=1.0)
    assert isinstance(stream, datasets.IterableDataset)
    mapped = make_pairs(corpus, config, seed=0, crop_seconds=1.0)
    for i, example in enumerate(stream.take(5)):
        check_pair(example, corpus[i]["text"], crop=SR)
        assert torch.equal(example["degraded"], mapped[i]["degraded"])


def test_a_stream_in_two_dataloader_workers_draws_different_damage_per_example(corpus, config):
    """datasets numbers each DataLoader worker's part of a stream from 0, so worker 0's first
    example and worker 1's first example were damaged from the same (seed, index): the same
    damage types, severities and crop offsets, twice over, and records that do not identify the
    example."""
    stream = make_pairs(corpus.select(range(8)).to_iterable_dataset(num_shards=2), config, seed=0, crop_seconds=1.0)
    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=2)
    records = [json.loads(example["degradation"]) for example in loader]
    assert len(records) == 8
    assert len({r["index"] for r in records}) == 8
    draws = [json.dumps([r["crop_start"], r["mode"], r["steps"]]) for r in records]
    assert len(set(draws)) == 8


def test_a_stream_split_across_ranks_draws_different_damage_per_rank(corpus, config, monkeypatch):
    """split_dataset_by_node numbers each rank's stream from 0 too: rank 0's and rank 1's first
    examples were damaged from the same (seed, index)."""
    from datasets.distributed import split_dataset_by_node

    stream = corpus.select(range(8)).to_iterable_dataset(num_shards=4)
    records = {}
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda group=None: 2)
    for rank in (0, 1):
        monkeypatch.setattr(torch.distributed, "get_rank", lambda group=None, rank=rank: rank)
        pairs = make_pairs(split_dataset_by_node(stream, rank=rank, world_size=2), config, seed=0, crop_seconds=1.0)
        records[rank] = [json.loads(example["degradation"])["index"] for example in pairs]
    assert records == {0: [0, 2, 4, 6], 1: [1, 3, 5, 7]}


def test_make_pairs_on_a_dataset_dict_and_undecoded_audio(corpus, config):
    dd = datasets.DatasetDict({"train": corpus.select(range(3)),
                               "test": corpus.select(range(3, 6)).cast_column("audio", datasets.Audio(decode=False))})
    pairs = make_pairs(dd, config, seed=0)
    assert set(pairs) == {"train", "test"}
    check_pair(pairs["test"][0], corpus[3]["text"])  # {"bytes", "path"} cells decoded by msar


def test_make_pairs_with_array_cells_and_augmentation(fsdd_file, config):
    wave, rate = load_audio(fsdd_file, sampling_rate=None)  # native 8 kHz
    ds = datasets.Dataset.from_list([{"audio": {"array": wave.numpy(), "sampling_rate": rate},
                                      "text": "seven", "speaker_id": "george"}])
    data = config.to_dict()
    data["augment"].update(speed_p=1.0)
    example = make_pairs(ds, data, seed=0, augment=True)[0]
    record = check_pair(example, "seven")
    assert record["augment"][0]["type"] == "speed"
    factor = record["augment"][0]["factor"]
    assert abs(example["clean"].numel() - wave.numel() * 2 / factor) < 4  # resampled to 16 kHz, then sped up


def test_missing_audio_column_is_a_clear_error(corpus, config):
    with pytest.raises(MsarError, match="no audio column 'speech'"):
        make_pairs(corpus, config, audio_column="speech")


def _decoded_length(path: str) -> int:
    return int(load_audio(path)[0].numel())


def test_forked_workers_can_decode_after_the_parent_used_torch(fixtures_dir):
    """materialize (and corpora's num_proc) fork workers through datasets; this torch's OpenMP
    pool does not survive a fork, so a worker's first large torch op (load_audio's isfinite)
    blocked for ever once the parent had run one: materialize(num_proc=2) hung."""
    import multiprocessing

    assert bool(torch.isfinite(torch.randn(2_000_000)).all())  # the parent's thread pool is up
    path = str(fixtures_dir / "noise" / "audio" / "running_tap.flac")
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply_async(_decoded_length, (path,)).get(timeout=60) > 16000


def test_materialize_writes_a_dataset_load_from_disk_reads(corpus, config, tmp_path):
    out = tmp_path / "eval_pairs"
    written = materialize(corpus, config, seed=7, output_dir=out, num_proc=2)
    reread = datasets.load_from_disk(str(out))
    assert len(reread) == len(corpus) and set(PAIR_KEYS) <= set(reread.column_names)
    assert reread.features["speaker_id"] == corpus.features["speaker_id"]
    assert json.loads((out / "degradation_config.json").read_text())["seed"] == 7
    on_the_fly = make_pairs(corpus, config, seed=7)
    for i in (0, 5, len(corpus) - 1):
        row = reread[i]
        degraded = decode_audio(row["degraded"], SR)
        expected = on_the_fly[i]["degraded"].numpy()
        assert degraded.shape == expected.shape
        assert np.abs(degraded - expected).max() < 1e-3  # same damage, stored as 16-bit audio
        assert row["degradation"] == on_the_fly[i]["degradation"]
    assert len(written) == len(corpus)
    with pytest.raises(MsarError, match="not empty"):
        materialize(corpus, config, seed=7, output_dir=out)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".eval_pairs")]  # no temp left
