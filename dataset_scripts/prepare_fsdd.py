#!/usr/bin/env python
"""Free Spoken Digit Dataset (8 kHz spoken digits, CC-BY-SA-4.0) -> DatasetDict.

Layout (the GitHub repository Jakobovski/free-spoken-digit-dataset):

    ROOT/recordings/<digit>_<speaker>_<index>.wav          e.g. 7_george_12.wav

ROOT is the repository folder or its ``recordings/`` folder; an audiofolder copy whose files
keep the FSDD names (``ROOT/audio/7_george_12.flac``, as in ../shared/data/speech/fsdd) works too. The text is the digit as a word
("seven"). FSDD is natively 8 kHz, so ``--min-source-rate`` defaults to 8000 and the audio is
upsampled to ``--sampling-rate`` (it carries no energy above 4 kHz).

    python dataset_scripts/prepare_fsdd.py /data/free-spoken-digit-dataset --output-dir fsdd
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _cli

from msar_hf.errors import MsarError

LICENSE = "CC-BY-SA-4.0"
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_NAME = re.compile(r"^(?P<digit>\d)_(?P<spk>[A-Za-z]+)_(?P<idx>\d+)$")


def list_utterances(root: Path):
    """:class:`Utterance` list (+ skips) for FSDD."""
    from msar_hf.audio import AUDIO_EXTENSIONS
    from msar_hf.data.corpora import NO_AUDIO, SkipLog, Utterance

    _cli.require_dir(root, "FSDD root")
    candidates = [root] if root.name in ("recordings", "audio") else [root / "recordings", root / "audio"]
    rec = next((c for c in candidates if c.is_dir()), None)
    if rec is None:
        raise MsarError(f"{root}: no recordings/ (or audio/) folder (is this free-spoken-digit-dataset?)")
    skips, utterances = SkipLog(), []
    for f in sorted(rec.iterdir()):
        if f.suffix.lower() not in AUDIO_EXTENSIONS:
            continue
        m = _NAME.match(f.stem)
        if not m:
            skips.skip(f, NO_AUDIO, "file name is not <digit>_<speaker>_<index>")
            continue
        utterances.append(Utterance(id=f.stem, path=f, speaker_id=m["spk"].lower(), text=DIGITS[int(m["digit"])],
                                    source="FSDD (Jakobovski/free-spoken-digit-dataset)", license=LICENSE))
    if not utterances:
        raise MsarError(f"{rec}: no audio found")
    return utterances, skips


def main(argv: list[str] | None = None) -> int:
    parser = _cli.make_parser(__doc__, input_help="free-spoken-digit-dataset folder (or its recordings/)",
                              defaults={"min_source_rate": 8000, "min_duration": 0.1})
    args = parser.parse_args(argv)

    def run() -> None:
        utterances, skips = list_utterances(args.input)
        _cli.build_and_save(args, utterances, skips, pretty_name="Free Spoken Digit Dataset (msar)",
                            description="Spoken digits 0-9 (English), several takes per speaker, "
                                        "recorded at 8 kHz.",
                            license="cc-by-sa-4.0",
                            sources=[("Free Spoken Digit Dataset, github.com/Jakobovski/free-spoken-digit-dataset "
                                      "(CC-BY-SA-4.0)")])

    return _cli.run_main(run, "prepare_fsdd", quiet=args.quiet)


if __name__ == "__main__":
    sys.exit(main())
