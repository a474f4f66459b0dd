#!/usr/bin/env python
"""LibriSpeech (16 kHz read audiobooks, CC-BY-4.0) -> DatasetDict.

Layout (as unpacked from openslr 12):

    ROOT/train-clean-100/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac
    ROOT/train-clean-100/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt   ("<id> WORDS" lines)

ROOT is the folder holding the subsets (``LibriSpeech/``) or one subset folder.

    python dataset_scripts/prepare_librispeech.py /data/LibriSpeech --subsets dev-clean test-clean \\
        --output-dir librispeech_dev_test
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _cli

from msar_hf.errors import MsarError

LICENSE = "CC-BY-4.0"
SUBSETS = ("train-clean-100", "train-clean-360", "train-other-500", "dev-clean", "dev-other",
           "test-clean", "test-other")


def read_transcripts(chapter_dir: Path) -> dict[str, str]:
    """``{utterance id: words}`` from every ``*.trans.txt`` in a chapter folder."""
    out = {}
    for trans in chapter_dir.glob("*.trans.txt"):
        for line in _cli.read_text(trans).splitlines():
            uid, _, words = line.strip().partition(" ")
            if uid:
                out[uid] = words.strip()
    return out


def list_utterances(root: Path, subsets: list[str] | None = None):
    """:class:`Utterance` list (+ skips) for LibriSpeech."""
    from msar_hf.audio import AUDIO_EXTENSIONS
    from msar_hf.data.corpora import EMPTY_SPEAKER, SkipLog, Utterance

    _cli.require_dir(root, "LibriSpeech root")
    if root.name in SUBSETS:
        dirs = [root]
    else:
        wanted = subsets or [s for s in SUBSETS if (root / s).is_dir()]
        missing = [s for s in wanted if not (root / s).is_dir()]
        if missing or not wanted:
            raise MsarError(f"{root}: no LibriSpeech subset folder {', '.join(missing or SUBSETS)}")
        dirs = [root / s for s in wanted]
    skips, utterances = SkipLog(), []
    for sub in dirs:
        for spk_dir in sorted(p for p in sub.iterdir() if p.is_dir()):
            found = 0
            for chapter in sorted(p for p in spk_dir.iterdir() if p.is_dir()):
                texts = read_transcripts(chapter)
                for f in sorted(chapter.iterdir()):
                    if f.suffix.lower() not in AUDIO_EXTENSIONS:
                        continue
                    words = texts.get(f.stem)
                    utterances.append(Utterance(id=f.stem, path=f, speaker_id=spk_dir.name, text=words or None,
                                                text_source="human" if words else "none",
                                                source=f"LibriSpeech {sub.name}", license=LICENSE))
                    found += 1
            if not found:
                skips.skip(spk_dir, EMPTY_SPEAKER, "no audio files")
    if not utterances:
        raise MsarError(f"{root}: no audio found in {', '.join(d.name for d in dirs)}")
    return utterances, skips


def main(argv: list[str] | None = None) -> int:
    parser = _cli.make_parser(__doc__, input_help="LibriSpeech folder or one subset folder",
                              defaults={"min_source_rate": 16000})
    parser.add_argument("--subsets", nargs="+", choices=SUBSETS, default=None, help="[default: all present]")
    args = parser.parse_args(argv)

    def run() -> None:
        utterances, skips = list_utterances(args.input, args.subsets)
        _cli.build_and_save(args, utterances, skips, pretty_name="LibriSpeech (msar)",
                            description="LibriSpeech: multi-speaker English read speech from LibriVox "
                                        "audiobooks (upper-case transcripts as released).",
                            license="cc-by-4.0",
                            sources=sorted({u.source for u in utterances}) + ["openslr.org (CC-BY-4.0)"])

    return _cli.run_main(run, "prepare_librispeech", quiet=args.quiet)


if __name__ == "__main__":
    sys.exit(main())
