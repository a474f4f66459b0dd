#!/usr/bin/env python
"""A parallel multi-speaker corpus: the CMU ARCTIC prompts read by Debian's flite and festival voices.

Seven synthetic voices (five people) read the same 1132 prompts, which gives the speaker
encoder and the synthesis model a corpus where only the voice changes:

    flite:    kal16, awb, rms, slt          (Debian package ``flite``)
    festival: kal (festvox-kallpc16k), ked (festvox-kdlpc16k), slt-hts (festvox-us-slt-hts)

Step 1 renders every (prompt, voice) pair to ``--clips-dir/<speaker_id>/<prompt_id>.flac``
(16 kHz, resumable: clips already there are kept) plus an audiofolder ``metadata.csv``.
Step 2 builds the ``DatasetDict`` (same columns as every other corpus) with
:mod:`msar_hf.data.corpora`. Speaker splits keep the voices of one person together (flite slt and
festival slt-hts are the same woman; flite kal16 and festival kal the same man), so test
speakers are really unseen.

    python dataset_scripts/synthesize_voices.py --output-dir /work/data_cache/voices/dataset \\
        --clips-dir /work/data_cache/voices/clips

Prompts come from an audiofolder ``metadata.csv`` (``file_name,text``; default
``$MSAR_DATA_ROOT/speech/kathleen/metadata.csv``) or a CMU ARCTIC ``etc/txt.done.data``.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _cli

from msar_hf.errors import MsarError

log = logging.getLogger("synthesize_voices")

_FLITE_LICENSE = "flite voice, CMU licence (BSD-style, free use); prompts CMU ARCTIC (free licence)"
_FESTVOX_LICENSE = "festvox diphone voice, Edinburgh/CMU licence (BSD-style, free use); prompts CMU ARCTIC"
_HTS_LICENSE = "festvox HTS voice, EST-2003 licence (BSD-style, free use); prompts CMU ARCTIC"


@dataclass(frozen=True)
class Voice:
    """One synthetic voice: which engine renders it and which person it imitates."""

    speaker_id: str
    engine: str  # "flite" or "festival"
    engine_voice: str  # flite -voice name, or festival voice function
    person: str  # voices of one person share a split
    license: str

    @property
    def source(self) -> str:
        return f"{self.engine}:{self.engine_voice}"


VOICES: dict[str, Voice] = {
    v.speaker_id: v
    for v in (
        Voice("flite-kal16", "flite", "kal16", "kal", _FLITE_LICENSE),
        Voice("flite-awb", "flite", "awb", "awb", _FLITE_LICENSE),
        Voice("flite-rms", "flite", "rms", "rms", _FLITE_LICENSE),
        Voice("flite-slt", "flite", "slt", "slt", _FLITE_LICENSE),
        Voice("festival-kal", "festival", "voice_kal_diphone", "kal", _FESTVOX_LICENSE),
        Voice("festival-ked", "festival", "voice_ked_diphone", "ked", _FESTVOX_LICENSE),
        Voice("festival-slt-hts", "festival", "voice_cmu_us_slt_arctic_hts", "slt", _HTS_LICENSE),
    )
}
# Short names as the Debian packages call them (kal16, awb, ..., slt-hts).
_ALIASES = {"kal16": "flite-kal16", "awb": "flite-awb", "rms": "flite-rms", "slt": "flite-slt",
            "kal": "festival-kal", "ked": "festival-ked", "slt-hts": "festival-slt-hts"}


def resolve_voices(names: list[str] | None) -> list[Voice]:
    """Voice objects for CLI names (short or full); all voices when ``names`` is empty."""
    if not names:
        return list(VOICES.values())
    out = []
    for name in names:
        key = _ALIASES.get(name, name)
        if key not in VOICES:
            raise MsarError(f"unknown voice '{name}'; choose from {sorted(_ALIASES)} or {sorted(VOICES)}")
        out.append(VOICES[key])
    return out


# ---------------------------------------------------------------------------------------------
# prompts
# ---------------------------------------------------------------------------------------------
_DONE_DATA = re.compile(r'^\(\s*(\S+)\s+"(.*)"\s*\)\s*$')


def read_prompts(path: Path) -> list[tuple[str, str]]:
    """``(prompt_id, text)`` pairs from a metadata.csv (``file_name,text``) or a txt.done.data."""
    if not path.is_file():
        raise MsarError(f"{path}: prompts file not found")
    prompts: list[tuple[str, str]] = []
    content = _cli.read_text(path)  # a one-line error when not UTF-8 (was a traceback)
    if path.suffix == ".csv":
        reader = csv.DictReader(io.StringIO(content, newline=""))
        if not reader.fieldnames or not {"file_name", "text"} <= set(reader.fieldnames):
            raise MsarError(f"{path}: a prompts CSV needs 'file_name' and 'text' columns")
        for row in reader:
            if (row["text"] or "").strip():
                prompts.append((Path(row["file_name"]).stem, row["text"].strip()))
    else:
        for line in content.splitlines():
            m = _DONE_DATA.match(line.strip())
            if m:
                prompts.append((m.group(1), m.group(2).strip()))
    if not prompts:
        raise MsarError(f"{path}: no prompts found (expected metadata.csv rows or txt.done.data lines)")
    return prompts


# ---------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------
def check_engines(voices: list[Voice]) -> None:
    """Fail early, with the Debian package to install, when an engine or voice is missing."""
    for engine in sorted({v.engine for v in voices}):
        if shutil.which(engine) is None:
            raise MsarError(f"'{engine}' is not installed (sudo apt-get install {engine})")
    if any(v.engine == "flite" for v in voices):
        listed = subprocess.run(["flite", "-lv"], capture_output=True, text=True, check=False).stdout
        for v in voices:
            if v.engine == "flite" and v.engine_voice not in listed.split():
                raise MsarError(f"flite has no voice '{v.engine_voice}' (flite -lv lists: {listed.strip()})")


def _to_clip(wav: Path, clip: Path) -> None:
    """Engine output (any rate) -> 16 kHz mono FLAC, written atomically."""
    from msar_hf.audio import load_audio, save_audio

    waveform, rate = load_audio(wav, sampling_rate=16000)
    save_audio(clip, waveform, rate)


def _render_flite(voice: Voice, prompt: str, clip: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="msar_flite_") as tmp:
        text_file, wav = Path(tmp) / "prompt.txt", Path(tmp) / "out.wav"
        text_file.write_text(prompt + "\n", encoding="utf-8")  # -f: a prompt may start with '-'
        subprocess.run(["flite", "-voice", voice.engine_voice, "-f", str(text_file), "-o", str(wav)],
                       check=True, capture_output=True, timeout=120)
        _to_clip(wav, clip)


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _render_festival(voice: Voice, jobs: list[tuple[str, Path]]) -> None:
    """Render many prompts in one festival process (loading a voice costs ~0.3 s)."""
    with tempfile.TemporaryDirectory(prefix="msar_festival_") as tmp:
        lines = [f"({voice.engine_voice})"]
        wavs = []
        for i, (prompt, _) in enumerate(jobs):
            wav = Path(tmp) / f"{i}.wav"
            wavs.append(wav)
            lines.append(f"(set! u (Utterance Text {_scheme_string(prompt)})) (utt.synth u) "
                         f"(utt.save.wave u {_scheme_string(str(wav))} 'riff)")
        script = Path(tmp) / "batch.scm"
        script.write_text("\n".join(lines) + "\n", encoding="utf-8")
        # No check=True: festival stops at a prompt it cannot say; the clips it did write are
        # kept and the missing ones are counted by the caller.
        subprocess.run(["festival", "-b", str(script)], capture_output=True, check=False,
                       timeout=60 + 30 * len(jobs))
        for wav, (_, clip) in zip(wavs, jobs):
            if wav.exists() and wav.stat().st_size > 44:
                _to_clip(wav, clip)


def render_clips(prompts: list[tuple[str, str]], voices: list[Voice], clips_dir: Path,
                 num_proc: int = 1, batch_size: int = 25,
                 progress: bool = True) -> tuple[list[dict], list[tuple[str, str]]]:
    """Render every (prompt, voice) pair that is not already on disk.

    Returns the metadata rows of every clip present and the ``(clip, reason)`` pairs that could
    not be rendered. Work units are one flite call or one festival batch, run on ``num_proc``
    threads (the engines are separate processes, so threads suffice).
    """
    from tqdm.auto import tqdm

    units: list[tuple[Voice, list[tuple[str, Path]]]] = []
    for voice in voices:
        todo = [(text, clips_dir / voice.speaker_id / f"{pid}.flac") for pid, text in prompts]
        todo = [(text, clip) for text, clip in todo if not clip.exists()]
        size = batch_size if voice.engine == "festival" else 1
        units += [(voice, todo[i : i + size]) for i in range(0, len(todo), size)]

    def run(unit: tuple[Voice, list[tuple[str, Path]]]) -> int:
        voice, jobs = unit
        jobs[0][1].parent.mkdir(parents=True, exist_ok=True)
        if voice.engine == "flite":
            try:
                _render_flite(voice, jobs[0][0], jobs[0][1])
            except (subprocess.SubprocessError, MsarError) as exc:
                log.warning("%s: flite failed: %s", jobs[0][1], str(exc).splitlines()[0])
        else:
            _render_festival(voice, jobs)
        return len(jobs)

    total = sum(len(jobs) for _, jobs in units)
    if total:
        log.info("rendering %d clips (%d already present) into %s", total,
                 len(prompts) * len(voices) - total, clips_dir)
        with ThreadPoolExecutor(max_workers=max(1, num_proc)) as pool, \
                tqdm(total=total, desc="synthesizing", unit="clip", disable=not progress) as bar:
            for n in pool.map(run, units):
                bar.update(n)

    rows, failed = [], []
    for voice in voices:
        for pid, text in prompts:
            clip = clips_dir / voice.speaker_id / f"{pid}.flac"
            if clip.exists():
                rows.append({"file_name": f"{voice.speaker_id}/{pid}.flac", "text": text,
                             "speaker_id": voice.speaker_id, "source": voice.source,
                             "license": voice.license, "person": voice.person})
            else:
                failed.append((str(clip), f"{voice.engine} produced no audio"))
    _write_metadata(clips_dir / "metadata.csv", rows)
    return rows, failed


def _write_metadata(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["file_name", "text", "speaker_id", "source", "license", "person"])
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = _cli.make_parser(__doc__, input_arg=False)
    parser.add_argument("--prompts", type=Path, default=None,
                        help="metadata.csv (file_name,text) or CMU ARCTIC txt.done.data "
                             "[default: $MSAR_DATA_ROOT/speech/kathleen/metadata.csv]")
    parser.add_argument("--voices", nargs="+", default=None, metavar="VOICE",
                        help=f"voices to render [default: all: {' '.join(_ALIASES)}]")
    parser.add_argument("--clips-dir", type=Path, default=None,
                        help="where rendered clips are kept (resumable) [default: OUTPUT_DIR-clips]")
    parser.add_argument("--max-prompts", type=int, default=None, help="use only the first N prompts")
    parser.add_argument("--clips-only", action="store_true", help="render the clips, build no dataset")
    args = parser.parse_args(argv)

    def run() -> None:
        prompts_path = args.prompts or _cli.data_root() / "speech" / "kathleen" / "metadata.csv"
        prompts = read_prompts(prompts_path)[: args.max_prompts]
        voices = resolve_voices(args.voices)
        check_engines(voices)
        clips_dir = args.clips_dir or args.output_dir.with_name(args.output_dir.name + "-clips")
        if not args.clips_only:  # before rendering (an hour for every voice), not after
            out = args.output_dir.resolve()
            if clips_dir.resolve() == out or out in clips_dir.resolve().parents:
                raise MsarError(f"--clips-dir {clips_dir} is inside --output-dir {args.output_dir}: saving the "
                                "dataset replaces that folder; keep the clips beside it")
            _cli.check_outputs(args)
        rows, failed = render_clips(prompts, voices, clips_dir, num_proc=args.num_proc,
                                    progress=not args.quiet)
        if args.clips_only:
            log.info("%d clips in %s (%d failed)", len(rows), clips_dir, len(failed))
            return
        from msar_hf.data import corpora

        person = {v.speaker_id: v.person for v in VOICES.values()}
        utterances = [
            corpora.Utterance(id=f"{r['speaker_id']}_{Path(r['file_name']).stem}", path=clips_dir / r["file_name"],
                              speaker_id=r["speaker_id"], text=r["text"], source=r["source"],
                              license=r["license"], group=person[r["speaker_id"]])
            for r in rows
        ]
        skips = corpora.SkipLog()
        for clip, reason in failed:
            skips.skip(clip, reason)
        _cli.build_and_save(
            args, utterances, skips, pretty_name="msar synthetic voices (CMU ARCTIC prompts)",
            description="The CMU ARCTIC prompts read by Debian flite and festival voices: a parallel "
                        "corpus where only the voice changes. Voices of one person (flite-slt and "
                        "festival-slt-hts; flite-kal16 and festival-kal) share a split.",
            license="other", sources=sorted({v.source for v in voices}),
        )

    return _cli.run_main(run, "synthesize_voices", quiet=args.quiet)


if __name__ == "__main__":
    sys.exit(main())
