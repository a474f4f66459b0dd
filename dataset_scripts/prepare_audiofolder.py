#!/usr/bin/env python
"""Any folder with an audiofolder ``metadata.csv`` -> DatasetDict (covers ../shared/data/speech/*).

``metadata.csv`` needs ``file_name`` (relative to the folder); ``text``, ``speaker_id``,
``license``, ``source`` and ``origin`` are used when present. Without ``speaker_id`` every file
belongs to one speaker named after the folder (``--speaker`` overrides). Audio files present on
disk but absent from ``metadata.csv`` are reported, not silently dropped; so are rows whose file
is missing.

A folder without ``metadata.csv`` (a folder of recordings, one subfolder per speaker) is taken
whole: every audio file, no text, each speaker the subfolder it lies in (files directly in the
folder: the folder's name; ``--speaker`` overrides), kept with an empty text: repair training needs
none; synthesis does (``--transcribe`` writes it with the offline ASR).

    python dataset_scripts/prepare_audiofolder.py ../shared/data/speech/kathleen \\
        --output-dir /work/data_cache/datasets/kathleen --license CC0-1.0

We read metadata.csv ourselves rather than via ``load_dataset("audiofolder")``, which infers
splits from file names (``*_train.*``) and cannot report per-file problems.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _cli

from msar_hf.errors import MsarError


def list_utterances(root: Path, *, license: str | None = None, source: str | None = None,
                    speaker: str | None = None):
    """The :class:`Utterance` list and the :class:`SkipLog` of an audiofolder."""
    from msar_hf.audio import AUDIO_EXTENSIONS
    from msar_hf.data.corpora import MISSING_TEXT, NO_AUDIO, SkipLog, Utterance

    if not root.is_dir():
        raise MsarError(f"{root}: no such folder")
    meta = root / "metadata.csv"
    if not meta.is_file():
        return _plain_folder(root, license=license, source=source, speaker=speaker)
    try:
        with meta.open(newline="", encoding="utf-8-sig") as f:
            # 'file_name, text' (a space after the comma) named a column ' text', and every
            # transcript and speaker id was dropped as missing: skip the space (so '..., "a, b"'
            # still reads as one quoted field) and strip the names.
            reader = csv.DictReader(f, skipinitialspace=True)
            reader.fieldnames = [(name or "").strip() for name in reader.fieldnames or []]
            if "file_name" not in reader.fieldnames:
                raise MsarError(f"{meta}: no 'file_name' column (found {reader.fieldnames})")
            rows = list(reader)
    except UnicodeDecodeError as exc:  # was a traceback
        line = meta.read_bytes()[: exc.start].count(b"\n") + 1
        raise MsarError(f"{meta}: not UTF-8 text (line {line}, byte {exc.object[exc.start:exc.start + 1]!r}); "
                        "save it as UTF-8") from exc
    if not rows:
        raise MsarError(f"{meta}: no rows")

    skips, utterances, listed = SkipLog(), [], set()
    has_text = "text" in reader.fieldnames
    for row in rows:
        rel = (row.get("file_name") or "").strip()
        path = root / rel
        listed.add(path.resolve())
        if not rel or not path.is_file():
            skips.skip(path, NO_AUDIO, "listed in metadata.csv but not on disk")
            continue
        text = (row.get("text") or "").strip() if has_text else None
        utterances.append(Utterance(
            id=Path(rel).with_suffix("").as_posix().replace("/", "_"), path=path,
            speaker_id=speaker or (row.get("speaker_id") or "").strip() or root.name,
            text=text or None, text_source="human" if text else "none",
            source=source or (row.get("source") or row.get("origin") or "").strip() or root.name,
            license=license or (row.get("license") or "").strip() or "unknown",
        ))
    unlisted = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
                and p.resolve() not in listed]
    for p in sorted(unlisted):
        skips.skip(p, MISSING_TEXT if has_text else NO_AUDIO, "audio file not listed in metadata.csv")
    if not utterances:
        raise MsarError(f"{root}: no audio found (metadata.csv lists {len(rows)} rows, none on disk)")
    return utterances, skips


def _plain_folder(root: Path, *, license: str | None, source: str | None, speaker: str | None):
    """A folder of recordings without metadata.csv: every audio file under it, no text, each
    speaker the folder the file lies in (``--speaker``: one for all); see
    :func:`msar_hf.data.corpora.recordings_by_folder`."""
    from msar_hf.data.corpora import SkipLog, Utterance, recordings_by_folder

    found = recordings_by_folder(root)
    if not found:
        raise MsarError(f"{root}: no metadata.csv and no audio files in it")
    utterances = [Utterance(id=path.relative_to(root).with_suffix("").as_posix().replace("/", "_"), path=path,
                            speaker_id=speaker or folder_speaker, text=None, text_source="none",
                            source=source or root.name, license=license or "unknown")
                  for path, folder_speaker in found]
    return utterances, SkipLog()


def main(argv: list[str] | None = None) -> int:
    parser = _cli.make_parser(__doc__, input_help="folder holding metadata.csv and the audio (or only audio: a subfolder per speaker)")
    parser.add_argument("--license", default=None, help="licence of every row (else metadata.csv's license column)")
    parser.add_argument("--source", default=None, help="source name of every row [default: the folder name]")
    parser.add_argument("--speaker", default=None, help="one speaker id for every row")
    parser.add_argument("--name", default=None, help="dataset name for the card [default: the folder name]")
    args = parser.parse_args(argv)

    def run() -> None:
        root = args.input
        if not (root / "metadata.csv").is_file() and not args.transcribe:
            args.keep_untranscribed = True  # a folder of recordings has no text to require
        utterances, skips = list_utterances(root, license=args.license, source=args.source, speaker=args.speaker)
        licences = sorted({u.license for u in utterances})
        name = args.name or root.name
        _cli.build_and_save(
            args, utterances, skips, pretty_name=name,
            description=f"Speech from the audiofolder `{name}` ({len(utterances)} files listed).",
            license=_cli.card_license(licences), sources=sorted({u.source for u in utterances}),
        )

    return _cli.run_main(run, "prepare_audiofolder", quiet=args.quiet)


if __name__ == "__main__":
    sys.exit(main())
