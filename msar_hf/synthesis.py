"""Text to speech, end to end: text checks and normalisation, sentence streaming, voices.

The public functions a Python user and ``msar synthesize`` share:

* :func:`normalize_text` - abbreviations, numbers, ordinals, dates, money, phone numbers, percentages -> words;
* :func:`check_text` - a typed error for empty text, punctuation only, non-Latin script;
* :func:`split_sentences` - sentences (long ones cut at commas / spaces) to stream;
* :func:`load_tts` - the shipped default (``msar_hf/pretrained/multispeaker``) or any folder;
* :func:`resolve_voice` - a 192-d embedding from ``--voice REF.wav`` (SpeakerEncoder) or
  ``--speaker NAME`` (the model's table of training voices);
* :func:`stream_speech` / :func:`synthesize` - sentence by sentence synthesis with progress;
* :func:`write_speech` - the streamed sentences to a file, in bounded memory (``msar synthesize``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import AudioError, MsarError
from .models.multispeaker.normalization_msar_multispeaker import normalize_text

DEFAULT_MODEL_DIR = Path(__file__).parent / "pretrained" / "multispeaker"
MIN_REFERENCE_SECONDS = 1.0
SILENT_REFERENCE_DBFS = -55.0
MAX_SENTENCE_CHARS = 220


class TextError(MsarError):
    """Text that cannot be spoken (empty, only punctuation, an unsupported script)."""


class ReferenceAudioError(AudioError):
    """A voice reference clip that cannot give a voice (too short, silent)."""


class UnknownSpeakerError(MsarError):
    """``--speaker NAME`` is not one of the model's voices."""


# ----------------------------------------------------------------------------------------------
# text (normalize_text lives beside the tokenizer, which applies it too, so the pipeline and
# the CLI say the same words)
# ----------------------------------------------------------------------------------------------
def check_text(text: str, source: str = "text") -> None:
    """Raise :class:`TextError` for text nothing can be said from.

    ``source`` names where the text came from (a file name or "text") in the message.
    """
    if not text or not text.strip():
        raise TextError(f"{source}: the text is empty")
    # styled letters ("𝐁𝐨𝐥𝐝", "ℌ𝔢𝔩𝔩𝔬" pasted from social media) are Latin after NFKC, as normalize_text
    # reads them; their names ("MATHEMATICAL BOLD ...") have no "LATIN" in them
    text = unicodedata.normalize("NFKC", text)
    letters = [c for c in text if unicodedata.category(c).startswith("L")]
    digits = [c for c in text if c.isdigit()]
    if not letters and not digits:
        raise TextError(f"{source}: the text has only punctuation or symbols, no words to speak")
    foreign = sorted({c for c in letters if "LATIN" not in unicodedata.name(c, "")})
    if foreign:
        sample = "".join(foreign[:5])
        raise TextError(f"{source}: only English in Latin script is supported; found non-Latin characters {sample!r}")


def split_sentences(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[str]:
    """Sentences to synthesize one by one; a sentence longer than ``max_chars`` is cut at
    commas/semicolons, then at spaces, so memory and latency stay bounded on any text."""
    text = re.sub(r"\s+", " ", text).strip()
    # Abbreviations are already spelled out by normalize_text, so a stop + space ends a sentence
    # (except after a single initial, as in "J. Smith").
    # (after a closing quote or bracket only where a new sentence starts: 'He said "no." and left.' is one)
    parts = re.split(r"(?<!\s[A-Za-z]\.)(?<!^[A-Za-z]\.)(?<=[.!?])\s+|(?<=[.!?][\"')])\s+(?=[^a-z])", text)
    out: list[str] = []
    for part in (p.strip() for p in parts):
        while len(part) > max_chars:
            cut = max(part.rfind(",", 0, max_chars), part.rfind(";", 0, max_chars), part.rfind(":", 0, max_chars))
            if cut < max_chars // 3:
                cut = part.rfind(" ", 0, max_chars)
            if cut <= 0:
                cut = max_chars
            out.append(part[: cut + 1].strip())
            part = part[cut + 1 :].strip()
        if re.search(r"\w", part):
            out.append(part)
    return out


# ----------------------------------------------------------------------------------------------
# model and voices
# ----------------------------------------------------------------------------------------------
@dataclass
class TTS:
    """A loaded model with its processor."""

    model: object
    processor: object
    path: Path

    @property
    def sampling_rate(self) -> int:
        return int(self.model.config.sampling_rate)

    @property
    def speaker_names(self) -> list[str]:
        return list(self.model.config.speaker_names)


def load_tts(model_dir: str | Path | None = None) -> TTS:
    """Load the TTS model + processor from ``model_dir`` (default: the shipped one)."""
    from transformers import AutoModelForTextToWaveform, AutoProcessor

    from . import models  # noqa: F401  (registers the Auto* classes)

    path = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
    if not (path / "config.json").exists():
        if model_dir is None:
            raise MsarError(
                f"no shipped text-to-speech weights in {path}: train them with "
                "recipes/train_multispeaker.py (see its model card) or pass --model DIR"
            )
        raise MsarError(f"{path}: not a model folder (no config.json)")
    import json

    kind = json.loads((path / "config.json").read_text()).get("model_type")
    if kind != "msar_multispeaker":
        raise MsarError(f"{path}: a {kind or 'unknown'} model, not a text-to-speech one (msar_multispeaker); "
                        "pass a synthesis model folder with --model")
    model = AutoModelForTextToWaveform.from_pretrained(path).eval()
    processor = AutoProcessor.from_pretrained(path)
    return TTS(model=model, processor=processor, path=path)


def check_reference(waveform: torch.Tensor, rate: int, path: object) -> None:
    """Raise :class:`ReferenceAudioError` when a clip is too short or silent to give a voice."""
    from .audio import level_stats

    seconds = waveform.shape[-1] / rate
    if seconds < MIN_REFERENCE_SECONDS:
        raise ReferenceAudioError(path, f"reference clip is {seconds:.2f} s; a voice needs at least {MIN_REFERENCE_SECONDS:.0f} s of speech")
    stats = level_stats(waveform, rate)
    if stats["rms_dbfs"] < SILENT_REFERENCE_DBFS or stats["silence_ratio"] > 0.97:
        raise ReferenceAudioError(path, f"reference clip is silent (RMS {stats['rms_dbfs']:.0f} dBFS); record some speech")


def resolve_voice(tts: TTS, voice: str | Path | None = None, speaker: str | None = None,
                  embed: Callable[[Path], torch.Tensor] | None = None) -> torch.Tensor:
    """The (192,) L2-normalised embedding for ``--voice REF.wav`` or ``--speaker NAME``.

    ``embed`` maps a file to its embedding (default: ``msar_hf.speaker.SpeakerEncoder``).
    """
    if (voice is None) == (speaker is None):
        raise MsarError("give exactly one of --voice REF.wav (any voice, zero-shot) or --speaker NAME (see `msar voices`)")
    if speaker is not None:
        names = tts.speaker_names
        if speaker not in names:
            raise UnknownSpeakerError(f"unknown speaker {speaker!r}; known voices: {', '.join(names) or 'none'}")
        return tts.model.speaker_table[names.index(speaker)].detach().clone()
    from .audio import load_audio

    waveform, rate = load_audio(voice, sampling_rate=16000)
    check_reference(waveform, rate, voice)
    if embed is None:
        from .speaker import SpeakerEncoder

        embed = SpeakerEncoder.from_pretrained().embed_file
    emb = torch.as_tensor(embed(Path(voice)), dtype=torch.float32).reshape(-1)
    return torch.nn.functional.normalize(emb, dim=0)


def stream_speech(tts: TTS, text: str, speaker_embedding: torch.Tensor, *, source: str = "text",
                  sentence_pause: float = 0.2, progress: bool = False, waveform_stage: str | None = None,
                  length_scale: float | None = None) -> Iterator[torch.Tensor]:
    """Yield the waveform of each sentence of ``text`` (+ a short pause), one at a time."""
    check_text(text, source)
    sentences = split_sentences(normalize_text(text))
    if not sentences:
        raise TextError(f"{source}: nothing speakable left after normalisation")
    pause = torch.zeros(int(sentence_pause * tts.sampling_rate))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(sentences), desc="synthesizing", unit="sentence")
    with torch.inference_mode():
        for sentence in sentences:
            inputs = tts.processor(sentence, return_tensors="pt", normalize=False)  # normalised above
            out = tts.model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                            speaker_embeddings=speaker_embedding[None], waveform_stage=waveform_stage,
                            length_scale=length_scale)
            yield torch.cat([out.waveform[0, : int(out.waveform_lengths[0])], pause])
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()


def synthesize(tts: TTS, text: str, speaker_embedding: torch.Tensor, **kwargs) -> torch.Tensor:
    """The whole text as one waveform (sentences streamed, then joined)."""
    wav = torch.cat(list(stream_speech(tts, text, speaker_embedding, **kwargs)))
    peak = wav.abs().max()
    return wav * (0.9 / peak) if peak > 0.9 else wav


def write_speech(path: str | Path, chunks: Iterable[torch.Tensor], sampling_rate: int, *,
                 inputs: Iterable[str | Path] = (), peak: float = 0.9) -> tuple[float, int]:
    """Write streamed sentence waveforms to ``path``; returns (seconds, chunks written).

    Same audio as ``save_audio(path, synthesize(...))`` (scaled to ``peak`` when louder), but the
    sentences go to a float scratch file beside ``path`` as they come and are scaled into the output
    block by block: memory stays bounded by one sentence however long the text. (Holding every
    sentence and then concatenating them took ~0.2 MB per second of speech: a 1 MB text, about 29 h
    of speech, would have needed ~20 GB.) Lossy formats written through FFmpeg (mp3, m4a, opus, aac)
    are still encoded from memory by ``save_audio``.
    """
    import os

    import soundfile as sf

    from .audio import (
        SOUNDFILE_FORMATS,
        WRITE_BLOCK_FRAMES,
        save_audio,
        temp_beside,
        usual_mode,
        vorbis_options,
    )

    path = Path(path)
    if path.suffix.lower() not in SOUNDFILE_FORMATS:
        chunks = list(chunks)
        wav = torch.cat(chunks)
        top = float(wav.abs().max())
        save_audio(path, wav * (peak / top) if top > peak else wav, sampling_rate, inputs=inputs)
        return wav.shape[-1] / sampling_rate, len(chunks)
    for src in inputs:
        if path.exists() and Path(src).exists() and path.resolve() == Path(src).resolve():
            from .errors import OverwriteInputError

            raise OverwriteInputError(path, "refusing to overwrite an input file; choose another output path")
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = [temp_beside(path, ext) for ext in (".w64", path.suffix)]
    raw, tmp = scratch
    try:
        frames, count, top = 0, 0, 0.0
        with sf.SoundFile(raw, "w", samplerate=sampling_rate, channels=1, format="W64", subtype="FLOAT") as handle:
            for chunk in chunks:
                data = chunk.detach().to(torch.float32).cpu().numpy()
                top = max(top, float(abs(data).max()) if data.size else 0.0)
                handle.write(data)
                frames, count = frames + data.size, count + 1
        if frames == 0:
            from .errors import NoSamplesError

            raise NoSamplesError(path, "nothing to write (no speech)")
        scale = peak / top if top > peak else 1.0
        fmt = SOUNDFILE_FORMATS[path.suffix.lower()]
        subtype = "PCM_16" if fmt in ("WAV", "FLAC", "AIFF") else None  # as save_audio writes them
        with sf.SoundFile(raw) as source, sf.SoundFile(tmp, "w", samplerate=sampling_rate, channels=1, format=fmt,
                                                       subtype=subtype, **vorbis_options(fmt, subtype)) as out:
            for block in source.blocks(blocksize=WRITE_BLOCK_FRAMES, dtype="float32"):
                # the same float32 product as ``wav * (peak / top)``, so the same samples
                out.write((torch.from_numpy(block) * scale).clamp(-1.0, 1.0).numpy())
        usual_mode(tmp)
        os.replace(tmp, path)
    finally:
        for leftover in scratch:
            leftover.unlink(missing_ok=True)
    return frames / sampling_rate, count


__all__ = [
    "DEFAULT_MODEL_DIR",
    "TTS",
    "ReferenceAudioError",
    "TextError",
    "UnknownSpeakerError",
    "check_reference",
    "check_text",
    "load_tts",
    "normalize_text",
    "resolve_voice",
    "split_sentences",
    "stream_speech",
    "synthesize",
    "write_speech",
]
