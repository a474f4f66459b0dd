#!/usr/bin/env python
"""Add a ``speaker_embedding`` column to a saved dataset (``datasets.save_to_disk`` folder).

Every row gets the 192-d L2-normalised embedding of its audio (msar's shipped encoder, or any
SpeechBrain speaker model) and ``speaker_embedding_valid``; rows whose audio is unusable
(undecodable, shorter than 0.5 s, silent) get zeros ("no speaker information") and valid=False.

    python dataset_scripts/add_speaker_embeddings.py DATASET_DIR --output-dir OUT --num-proc 2
    accelerate launch --num_processes 4 dataset_scripts/add_speaker_embeddings.py DATASET_DIR --output-dir OUT

Under ``accelerate launch`` each process embeds a contiguous shard of every split, saves it, and
the main process gathers the shards, in order, into ``--output-dir``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _cli

from msar_hf.errors import MsarError

EMBEDDING_COLUMN = "speaker_embedding"
VALID_COLUMN = "speaker_embedding_valid"
_ENCODERS: dict = {}  # one encoder per (worker) process, loaded on first use


def _encoder(source: str | None, device: str):
    import torch

    from msar_hf.speaker import SpeakerEncoder

    key = (source, device)
    if key not in _ENCODERS:
        torch.set_num_threads(1)  # --num-proc workers share the cores: one thread each
        _ENCODERS[key] = SpeakerEncoder.from_pretrained(source, device=device)
    return _ENCODERS[key]


def _embed_rows(batch: dict, audio_column: str, source: str | None, device: str) -> dict:
    """datasets.map function: decode each row's audio (bytes or path) and embed the batch."""
    from msar_hf.audio import load_audio
    from msar_hf.errors import AudioError

    encoder = _encoder(source, device)
    waves, names, problems = [], [], []
    for item in batch[audio_column]:
        name = (item or {}).get("path") or "<row>"
        try:
            if not item or (item.get("bytes") is None and not item.get("path")):
                raise AudioError(name, "no audio in this row")
            wave, _ = load_audio(item["bytes"] if item.get("bytes") is not None else item["path"])
            waves.append(wave)
        except AudioError as exc:
            waves.append(None)
            problems.append(exc.problem)
        else:
            problems.append(None)
        names.append(name)
    ok = [i for i, w in enumerate(waves) if w is not None]
    dim = encoder.embedding_dim
    embeddings = [[0.0] * dim for _ in waves]
    valid = [False] * len(waves)
    if ok:
        import torch

        lens = torch.tensor([len(waves[i]) for i in ok])
        padded = torch.zeros(len(ok), int(lens.max()))
        for row, i in enumerate(ok):
            padded[row, : len(waves[i])] = waves[i]
        result = encoder.embed_batch(padded, lens, names=[names[i] for i in ok])
        for row, i in enumerate(ok):
            embeddings[i] = result.embeddings[row].tolist()
            valid[i] = bool(result.valid[row])
    return {EMBEDDING_COLUMN: embeddings, VALID_COLUMN: valid}


def _audio_column(ds, requested: str | None) -> str:
    from datasets import Audio

    if requested:
        if requested not in ds.column_names:
            raise MsarError(f"no column '{requested}' in the dataset (columns: {', '.join(ds.column_names)})")
        if not isinstance(ds.features[requested], Audio):
            raise MsarError(f"column '{requested}' is not audio ({ds.features[requested]}); "
                            f"Audio columns: {', '.join(k for k, f in ds.features.items() if isinstance(f, Audio)) or 'none'}")
        return requested
    found = [k for k, f in ds.features.items() if isinstance(f, Audio)]
    if not found:
        raise MsarError(f"the dataset has no Audio column (columns: {', '.join(ds.column_names)}); "
                        "name one with --audio-column")
    return found[0]


def add_speaker_embeddings(dataset, model: str | None = None, audio_column: str | None = None,
                           batch_size: int = 16, num_proc: int = 1, device: str = "cpu"):
    """Return ``dataset`` (a ``Dataset`` or ``DatasetDict``) with the two embedding columns added.

    Existing embedding columns are replaced. ``num_proc`` > 1 embeds in that many worker processes.
    """
    from datasets import Audio, DatasetDict, Features, Sequence, Value

    if isinstance(dataset, DatasetDict):
        return DatasetDict({name: add_speaker_embeddings(split, model, audio_column, batch_size, num_proc, device)
                            for name, split in dataset.items()})
    column = _audio_column(dataset, audio_column)
    original = dataset.features[column]
    ds = dataset.remove_columns([c for c in (EMBEDDING_COLUMN, VALID_COLUMN) if c in dataset.column_names])
    # Decode with msar's own loader (any format/rate, typed errors) rather than datasets' decoder.
    ds = ds.cast_column(column, Audio(decode=False))
    features = Features({**ds.features, EMBEDDING_COLUMN: Sequence(Value("float32")),
                         VALID_COLUMN: Value("bool")})
    ds = ds.map(_embed_rows, batched=True, batch_size=batch_size, num_proc=num_proc if num_proc > 1 else None,
                features=features, desc="speaker embeddings",
                fn_kwargs={"audio_column": column, "source": model, "device": device})
    return ds.cast_column(column, original)


def _shard(dataset, n: int, index: int):
    from datasets import DatasetDict

    if isinstance(dataset, DatasetDict):
        return DatasetDict({k: v.shard(num_shards=n, index=index, contiguous=True) for k, v in dataset.items()})
    return dataset.shard(num_shards=n, index=index, contiguous=True)


def _gather(parts: list):
    from datasets import DatasetDict, concatenate_datasets

    if isinstance(parts[0], DatasetDict):
        return DatasetDict({k: concatenate_datasets([p[k] for p in parts]) for k in parts[0]})
    return concatenate_datasets(parts)


def run(args: argparse.Namespace) -> None:
    from accelerate import PartialState
    from datasets import load_from_disk

    from msar_hf.audio import file_in_the_way

    state = PartialState()
    src, out = args.input.resolve(), args.output_dir.resolve()
    if not (src / "dataset_dict.json").exists() and not (src / "dataset_info.json").exists():
        raise MsarError(f"{src}: not a dataset saved with save_to_disk (no dataset_dict.json / dataset_info.json)")
    if out == src or src in out.parents:
        raise MsarError(f"{out}: the output must not be (inside) the input dataset; choose another --output-dir")
    if out.exists() and not out.is_dir():  # was a NotADirectoryError traceback
        raise MsarError(f"{out}: exists and is a file, not a folder; choose another --output-dir")
    if blocker := file_in_the_way(out):  # was found by save_to_disk, after embedding every row
        raise MsarError(f"{out}: cannot be created: {blocker} is a file, not a folder")
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise MsarError(f"{out}: already exists; pass --overwrite to replace it")
    if out.is_dir() and any(out.iterdir()) and not ((out / "dataset_dict.json").exists()
                                                    or (out / "dataset_info.json").exists()):
        raise MsarError(f"{out}: not a dataset folder; refusing to overwrite it")  # --overwrite or not

    dataset = load_from_disk(str(src))
    if args.splits and hasattr(dataset, "keys"):
        missing = set(args.splits) - set(dataset.keys())
        if missing:
            raise MsarError(f"{src}: no split(s) {sorted(missing)} (has {sorted(dataset.keys())})")
        from datasets import DatasetDict

        dataset = DatasetDict({k: dataset[k] for k in args.splits})
    opts = {"model": args.model, "audio_column": args.audio_column, "batch_size": args.batch_size,
                "num_proc": args.num_proc, "device": args.device or str(state.device)}

    staging = out.with_name(f".{out.name}.partial")
    if state.num_processes == 1:
        result = add_speaker_embeddings(dataset, **opts)
    else:
        if state.is_main_process:
            shutil.rmtree(staging, ignore_errors=True)
        state.wait_for_everyone()
        mine = add_speaker_embeddings(_shard(dataset, state.num_processes, state.process_index), **opts)
        mine.save_to_disk(str(staging / f"shard_{state.process_index:03d}"))
        state.wait_for_everyone()
        result = None
        if state.is_main_process:
            result = _gather([load_from_disk(str(staging / f"shard_{i:03d}")) for i in range(state.num_processes)])

    if state.is_main_process:
        final_tmp, old = out.with_name(f".{out.name}.saving"), out.with_name(f".{out.name}.old")
        shutil.rmtree(final_tmp, ignore_errors=True)
        try:
            result.save_to_disk(str(final_tmp))  # materialise before the shards go away
            for kept in ("README.md", "build_report.json"):  # the card (licences) and the build report travel on
                if (src / kept).is_file():
                    shutil.copy2(src / kept, final_tmp / kept)
            # the old output steps aside, then the new one takes its place: no moment without either
            # (it was deleted first), and a crash between the two renames leaves it in .NAME.old
            shutil.rmtree(old, ignore_errors=True)
            if out.exists():
                out.rename(old)
            final_tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        finally:  # a failed or interrupted save leaves no hidden half-dataset behind
            shutil.rmtree(final_tmp, ignore_errors=True)
            shutil.rmtree(staging, ignore_errors=True)
        splits = result.items() if hasattr(result, "items") else [("dataset", result)]
        for name, ds in splits:
            bad = len(ds) - sum(ds[VALID_COLUMN])
            print(f"{name}: {len(ds)} rows, {bad} without a usable speaker embedding")
        print(f"saved to {out}")
    state.wait_for_everyone()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("input", type=Path, help="dataset folder written by save_to_disk (Dataset or DatasetDict)")
    p.add_argument("--output-dir", type=Path, required=True, help="where to save the dataset with embeddings")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output-dir")
    p.add_argument("--audio-column", default=None, help="audio column [default: the first Audio feature]")
    p.add_argument("--splits", nargs="+", default=None, help="only these splits [default: all]")
    p.add_argument("--model", default=None,
                   help="SpeechBrain speaker model: folder or Hub id [default: msar's shipped encoder]")
    p.add_argument("--batch-size", type=int, default=16, help="rows per forward pass")
    p.add_argument("--num-proc", type=int, default=1, help="worker processes (per accelerate process)")
    p.add_argument("--device", default=None, help="torch device [default: this accelerate process's device]")
    args = p.parse_args(argv)
    return _cli.run_main(lambda: run(args), "add_speaker_embeddings")


if __name__ == "__main__":
    sys.exit(main())
