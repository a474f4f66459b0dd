"""``msar synthesize`` (text -> speech in a known or a zero-shot voice) and ``msar voices``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("synthesize")(synthesize)
    app.command("voices")(voices)


def _read_text_file(path: Path) -> str:
    from ..errors import MsarError

    if path.is_dir():
        raise MsarError(f"{path}: is a folder; --text-file takes a UTF-8 text file")
    if not path.is_file():
        raise MsarError(f"{path}: text file not found")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise MsarError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def synthesize(
    text: Annotated[str | None, typer.Argument(help="What to say (or use --text-file).")] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Output audio file (.wav, .flac, ...).")] = Path("speech.wav"),
    voice: Annotated[Path | None, typer.Option("--voice", help="Reference clip (>= 1 s of speech): speak in this voice (zero-shot).")] = None,
    speaker: Annotated[str | None, typer.Option("--speaker", help="A known voice by name (see `msar voices`).")] = None,
    text_file: Annotated[Path | None, typer.Option("--text-file", help="Read the text from a UTF-8 file (any length; streamed sentence by sentence).")] = None,
    model: Annotated[Path | None, typer.Option("--model", help="Model folder (default: the shipped one).")] = None,
    waveform: Annotated[str, typer.Option("--waveform", help="Waveform stage: 'vocoder' (neural), 'griffin-lim' (fallback) or 'auto' (the model's default, chosen by benchmarks/bench_tts.py).")] = "auto",
    pace: Annotated[float, typer.Option("--pace", min=0.5, max=2.0, help="Duration scale (>1 slower).")] = 1.0,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Speak TEXT in a voice: --voice REF.wav (any speaker) or --speaker NAME."""
    from ..errors import MsarError

    if (text is None) == (text_file is None):
        raise MsarError("give the text either as an argument or with --text-file, not both / neither")
    if output.is_dir():
        raise MsarError(f"{output}: is a folder; -o takes a file name such as {output / 'speech.wav'}")
    source = str(text_file) if text_file is not None else "text"
    content = _read_text_file(text_file) if text_file is not None else text
    from ..synthesis import check_text

    check_text(content, source)  # before loading anything: bad text fails fast
    from ..errors import OverwriteInputError

    for given in (voice, text_file):
        if given is not None and given.exists() and output.exists() and output.resolve() == given.resolve():
            raise OverwriteInputError(output, "the output would overwrite an input; choose another -o path")
    from ..repair import AUDIO_OUTPUT_EXTENSIONS, check_output

    # an unwritable format or a file where a folder should be: said now, not after synthesizing a
    # whole book (save_audio only found out at the end)
    check_output(output, [p for p in (voice, text_file) if p is not None], AUDIO_OUTPUT_EXTENSIONS)
    import torch

    from ..synthesis import load_tts, resolve_voice, stream_speech, write_speech

    torch.set_num_threads(max(1, torch.get_num_threads()))
    if quiet:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # transformers' "Loading weights" bar too
    tts = load_tts(model)
    embedding = resolve_voice(tts, voice=voice, speaker=speaker)
    stages = {"auto": tts.model.config.waveform_stage, "vocoder": "vocoder", "griffin-lim": "griffin_lim"}
    if waveform not in stages:
        raise MsarError(f"--waveform must be one of {', '.join(stages)}, not {waveform!r}")
    stage = stages[waveform]
    chunks = stream_speech(tts, content, embedding, source=source, progress=not quiet,
                           waveform_stage=stage, length_scale=pace)
    inputs = [p for p in (voice, text_file) if p is not None]
    # streamed to disk: memory stays bounded however long the text (a list of every sentence did not)
    seconds, count = write_speech(output, chunks, tts.sampling_rate, inputs=inputs)
    label = "Griffin-Lim (fallback, not the neural vocoder)" if stage == "griffin_lim" else "neural vocoder (Vocos-style)"
    who = f"speaker {speaker}" if speaker else f"voice of {voice}"
    typer.echo(f"wrote {output} ({seconds:.1f} s, {count} sentence{'s' if count != 1 else ''}, {who}, waveform: {label})")


def voices(
    model: Annotated[Path | None, typer.Option("--model", help="Model folder (default: the shipped one).")] = None,
) -> None:
    """List the known voices (use with `msar synthesize --speaker NAME`)."""
    from transformers.utils import logging as hf_logging

    from ..synthesis import load_tts

    hf_logging.disable_progress_bar()  # the list is the output: no "Loading weights" bar above it
    tts = load_tts(model)
    for name in tts.speaker_names:
        typer.echo(name)
    typer.echo(f"(or any voice: msar synthesize \"...\" --voice REF.wav; model: {tts.path})", err=True)
