#!/usr/bin/env python
"""LibriTTS and LibriTTS-R (24 kHz read audiobooks, CC-BY-4.0) -> DatasetDict.

Layout (as unpacked from openslr 60 / 141):

    ROOT/train-clean-100/<speaker>/<chapter>/<speaker>_<chapter>_<para>_<sent>.wav
    ROOT/train-clean-100/<speaker>/<chapter>/<...>.normalized.txt   (and .original.txt)

ROOT is the folder holding the subsets (``LibriTTS/`` or ``LibriTTS_R/``) or one subset folder.

    python dataset_scripts/prepare_libritts.py /data/LibriTTS_R --subsets train-clean-100 \\
        --output-dir libritts_r_100 --num-proc 8
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


def subset_dirs(root: Path, subsets: list[str] | None) -> list[Path]:
    """The subset folders to read: ``root`` itself when it is one, else its known subsets."""
    _cli.require_dir(root, "LibriTTS root")
    if root.name in SUBSETS:
        return [root]
    wanted = subsets or [s for s in SUBSETS if (root / s).is_dir()]
    missing = [s for s in wanted if not (root / s).is_dir()]
    if missing:
        raise MsarError(f"{root}: no subset folder {', '.join(missing)}")
    if not wanted:
        raise MsarError(f"{root}: no LibriTTS subset folders ({', '.join(SUBSETS)})")
    return [root / s for s in wanted]


def list_utterances(root: Path, subsets: list[str] | None = None, text: str = "normalized",
                    variant: str | None = None):
    """:class:`Utterance` list (+ skips) for LibriTTS / LibriTTS-R."""
    from msar_hf.audio import AUDIO_EXTENSIONS
    from msar_hf.data.corpora import EMPTY_SPEAKER, SkipLog, Utterance

    dirs = subset_dirs(root, subsets)
    if variant is None:  # the archives unpack to LibriTTS/ and LibriTTS_R/
        names = (root.name + root.resolve().parent.name).lower()
        variant = "LibriTTS-R" if "libritts_r" in names or "libritts-r" in names else "LibriTTS"
    skips, utterances = SkipLog(), []
    for sub in dirs:
        for spk_dir in sorted(p for p in sub.iterdir() if p.is_dir()):
            found = 0
            for f in sorted(spk_dir.glob("*/*")):
                if f.suffix.lower() not in AUDIO_EXTENSIONS:
                    continue
                txt = f.with_name(f"{f.stem}.{text}.txt")
                words = _cli.read_text(txt).strip() if txt.is_file() else None
                utterances.append(Utterance(id=f.stem, path=f, speaker_id=spk_dir.name, text=words or None,
                                            text_source="human" if words else "none",
                                            source=f"{variant} {sub.name}", license=LICENSE))
                found += 1
            if not found:
                skips.skip(spk_dir, EMPTY_SPEAKER, "no audio files")
    if not utterances:
        raise MsarError(f"{root}: no audio found in {', '.join(d.name for d in dirs)}")
    return utterances, skips, variant


def main(argv: list[str] | None = None) -> int:
    parser = _cli.make_parser(__doc__, input_help="LibriTTS(_R) folder or one subset folder",
                              defaults={"min_source_rate": 16000})
    parser.add_argument("--subsets", nargs="+", choices=SUBSETS, default=None, help="[default: all present]")
    parser.add_argument("--text", choices=["normalized", "original"], default="normalized",
                        help="which transcript file to use")
    parser.add_argument("--variant", choices=["LibriTTS", "LibriTTS-R"], default=None,
                        help="[default: from the folder name]")
    args = parser.parse_args(argv)

    def run() -> None:
        utterances, skips, variant = list_utterances(args.input, args.subsets, args.text, args.variant)
        _cli.build_and_save(args, utterances, skips, pretty_name=f"{variant} (msar)",
                            description=f"{variant}: multi-speaker English read speech from LibriVox "
                                        f"audiobooks, {args.text} transcripts.",
                            license="cc-by-4.0",
                            sources=sorted({u.source for u in utterances}) + ["openslr.org (CC-BY-4.0)"])

    return _cli.run_main(run, "prepare_libritts", quiet=args.quiet)


if __name__ == "__main__":
    sys.exit(main())
