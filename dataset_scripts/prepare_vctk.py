#!/usr/bin/env python
"""VCTK Corpus 0.92 (CSTR, 110 English speakers, CC-BY-4.0) -> DatasetDict.

Layout (as unpacked from VCTK-Corpus-0.92.zip):

    ROOT/speaker-info.txt
    ROOT/wav48_silence_trimmed/p225/p225_001_mic1.flac   (and _mic2)
    ROOT/txt/p225/p225_001.txt

    python dataset_scripts/prepare_vctk.py /data/VCTK-Corpus-0.92 --output-dir vctk16k --trim-silence

Utterances without a transcript (all of p315 in 0.92) are skipped and counted unless
``--transcribe`` (or ``--keep-untranscribed``) is given.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _cli

from msar_hf.errors import MsarError

LICENSE = "CC-BY-4.0"
_FILE = re.compile(r"^(?P<spk>[a-z]+\d+)_(?P<utt>\d+)_(?P<mic>mic[12])$")


def read_speaker_info(path: Path) -> dict[str, dict]:
    """``speaker-info.txt`` rows by speaker id (``p225``): age, gender, accents, region."""
    info = {}
    if not path.is_file():
        return info
    # only read for a log line: a stray byte in it is no reason to stop
    for line in path.read_text(encoding="utf-8-sig", errors="replace").splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 3:
            spk = parts[0] if parts[0][0].isalpha() else f"p{parts[0]}"  # 0.80 wrote bare numbers
            info[spk] = {"age": parts[1], "gender": parts[2], "accents": " ".join(parts[3:4]),
                         "region": " ".join(parts[4:])}
    return info


def list_utterances(root: Path, mics: tuple[str, ...] = ("mic1",)):
    """:class:`Utterance` list (+ skips) for a VCTK 0.92 folder."""
    from msar_hf.audio import AUDIO_EXTENSIONS
    from msar_hf.data.corpora import EMPTY_SPEAKER, NO_AUDIO, SkipLog, Utterance

    _cli.require_dir(root, "VCTK root")
    wav_root = root / "wav48_silence_trimmed"
    if not wav_root.is_dir():
        raise MsarError(f"{root}: no wav48_silence_trimmed/ folder (is this VCTK 0.92?)")
    info = read_speaker_info(root / "speaker-info.txt")
    skips, utterances = SkipLog(), []
    for spk_dir in sorted(p for p in wav_root.iterdir() if p.is_dir()):
        spk = spk_dir.name
        files = sorted(p for p in spk_dir.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS)
        found = 0
        for f in files:
            m = _FILE.match(f.stem)
            if not m:
                skips.skip(f, NO_AUDIO, "file name is not <speaker>_<nnn>_mic<1|2>")
                continue
            if m["mic"] not in mics:
                continue
            txt = root / "txt" / spk / f"{spk}_{m['utt']}.txt"
            text = _cli.read_text(txt).strip() if txt.is_file() else None
            utterances.append(Utterance(id=f.stem, path=f, speaker_id=spk, text=text or None,
                                        text_source="human" if text else "none",
                                        source="VCTK 0.92", license=LICENSE))
            found += 1
        if not found:
            skips.skip(spk_dir, EMPTY_SPEAKER, f"no {'/'.join(mics)} audio")
    unknown = sorted({u.speaker_id for u in utterances} - set(info)) if info else []
    if unknown:
        # Not fatal (0.92 ships 's5' and 'p280' oddities); the card lists them.
        import logging
        logging.getLogger("prepare_vctk").info("speakers absent from speaker-info.txt: %s", ", ".join(unknown))
    if not utterances:
        raise MsarError(f"{wav_root}: no audio found")
    return utterances, skips


def main(argv: list[str] | None = None) -> int:
    parser = _cli.make_parser(__doc__, input_help="VCTK-Corpus-0.92 folder", defaults={"min_source_rate": 16000})
    parser.add_argument("--mic", choices=["mic1", "mic2", "both"], default="mic1",
                        help="which microphone (both: two rows per sentence)")
    args = parser.parse_args(argv)

    def run() -> None:
        mics = ("mic1", "mic2") if args.mic == "both" else (args.mic,)
        utterances, skips = list_utterances(args.input, mics)
        _cli.build_and_save(args, utterances, skips, pretty_name="VCTK 0.92 (msar)",
                            description="CSTR VCTK Corpus 0.92: 110 English speakers with various accents, "
                                        f"each reading about 400 sentences ({args.mic}).",
                            license="cc-by-4.0", sources=["VCTK 0.92 (CSTR, University of Edinburgh), CC-BY-4.0"])

    return _cli.run_main(run, "prepare_vctk", quiet=args.quiet)


if __name__ == "__main__":
    sys.exit(main())
