#!/usr/bin/env python
"""CMU ARCTIC (1132 phonetically balanced prompts per speaker; free licence) -> DatasetDict.

Layout (as unpacked from festvox.org/cmu_arctic):

    ROOT/cmu_us_<spk>_arctic/wav/arctic_a0001.wav
    ROOT/cmu_us_<spk>_arctic/etc/txt.done.data      ( arctic_a0001 "Author of the danger trail..." )

ROOT holds one or more ``cmu_us_*_arctic`` folders, or is one of them.

    python dataset_scripts/prepare_cmu_arctic.py /data/cmu_arctic --output-dir arctic --trim-silence
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _cli

from msar_hf.errors import MsarError

LICENSE = "CMU ARCTIC licence (free use, BSD-style)"
_SPEAKER_DIR = re.compile(r"^cmu_(?P<lang>[a-z]+)_(?P<spk>[a-z0-9]+)_arctic$")
_DONE_LINE = re.compile(r'^\(\s*(\S+)\s+"(.*)"\s*\)\s*$')


def read_done_data(path: Path) -> dict[str, str]:
    """``{prompt id: text}`` from a festvox ``txt.done.data``."""
    out = {}
    if path.is_file():
        for line in _cli.read_text(path).splitlines():
            m = _DONE_LINE.match(line.strip())
            if m:
                out[m.group(1)] = m.group(2).strip()
    return out


def list_utterances(root: Path):
    """:class:`Utterance` list (+ skips) for one or many CMU ARCTIC speaker folders."""
    from msar_hf.audio import AUDIO_EXTENSIONS
    from msar_hf.data.corpora import EMPTY_SPEAKER, SkipLog, Utterance

    _cli.require_dir(root, "CMU ARCTIC root")
    speakers = [root] if _SPEAKER_DIR.match(root.name) else sorted(
        p for p in root.iterdir() if p.is_dir() and _SPEAKER_DIR.match(p.name))
    if not speakers:
        raise MsarError(f"{root}: no cmu_us_<speaker>_arctic folders")
    skips, utterances = SkipLog(), []
    for spk_dir in speakers:
        spk = _SPEAKER_DIR.match(spk_dir.name)["spk"]
        texts = read_done_data(spk_dir / "etc" / "txt.done.data")
        wav_dir = spk_dir / "wav"
        files = sorted(f for f in wav_dir.iterdir() if f.suffix.lower() in AUDIO_EXTENSIONS) if wav_dir.is_dir() else []
        if not files:
            skips.skip(spk_dir, EMPTY_SPEAKER, "no audio in wav/")
            continue
        for f in files:
            words = texts.get(f.stem)
            utterances.append(Utterance(id=f"{spk}_{f.stem}", path=f, speaker_id=spk, text=words or None,
                                        text_source="human" if words else "none",
                                        source=f"CMU ARCTIC {spk_dir.name}", license=LICENSE))
    if not utterances:
        raise MsarError(f"{root}: no audio found")
    return utterances, skips


def main(argv: list[str] | None = None) -> int:
    parser = _cli.make_parser(__doc__, input_help="folder of cmu_us_*_arctic folders (or one of them)",
                              defaults={"min_source_rate": 16000})
    args = parser.parse_args(argv)

    def run() -> None:
        utterances, skips = list_utterances(args.input)
        _cli.build_and_save(args, utterances, skips, pretty_name="CMU ARCTIC (msar)",
                            description="CMU ARCTIC: the same 1132 phonetically balanced English prompts "
                                        "read by each speaker (a parallel corpus).",
                            license="other",
                            sources=[("CMU ARCTIC, Language Technologies Institute, Carnegie Mellon University "
                                      "(festvox.org/cmu_arctic; free use, BSD-style licence)")])

    return _cli.run_main(run, "prepare_cmu_arctic", quiet=args.quiet)


if __name__ == "__main__":
    sys.exit(main())
