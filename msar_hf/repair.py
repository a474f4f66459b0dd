"""File-level repair: damaged recordings in, repaired recordings out (what ``msar repair`` runs).

The model (:class:`msar_hf.models.autoencoder.MsarAutoencoderModel`) works on 16 kHz mono
tensors; this module owns everything at the edges:

* any format and rate :func:`msar_hf.audio.load_audio` reads; every channel repaired on its own
  (stereo stays stereo); output at the input's rate unless asked, always the input's length;
* long recordings streamed through the model in overlapping windows that are cross-faded, so
  memory stays flat in duration (files soundfile can read are never loaded whole; other long
  ones, m4a/opus/video, are decoded by the ``ffmpeg`` command to a temporary WAV first, and long
  lossy outputs encoded by it from one);
* a speaker embedding from a reference clip, or from the input itself when the model is
  speaker-conditioned (``msar_hf.speaker``, imported lazily; repair goes on without it when it is
  unavailable);
* a "no speech detected" warning (Silero VAD, which ships its weights inside its wheel), silent
  windows passed through untouched, and typed one-line errors for unreadable files;
* outputs written atomically, never over an input; folders walked recursively with their tree
  kept; one model for all files; ``accelerate launch`` (or ``shard=(index, count)``) splits a big
  folder across processes.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .audio import (
    AUDIO_EXTENSIONS,
    BIT_RATE_EXTENSIONS,
    MIN_LOSSY_BIT_RATE,
    VIDEO_EXTENSIONS,
    audio_tags,
    check_encodable,
    find_audio_files,
    load_audio,
    lossy_bit_rate,
    resample,
    save_audio,
    set_tags,
    set_wav_channel_mask,
    system_write_failure,
    temp_beside,
    usual_mode,
    vorbis_options,
    wav_channel_mask,
    wav_format,
    write_blocks,
    writing_errors,
)
from .errors import (
    AudioError,
    CorruptAudioError,
    MsarError,
    NonFiniteSamplesError,
    OverwriteInputError,
    UnsupportedFormatError,
)
from .fullband import add_upper_band

MODEL_RATE = 16000
DEFAULT_MODEL_DIR = Path(__file__).parent / "pretrained" / "repair"
DEFAULT_OUTPUT_DIR = Path("repaired")
# Extensions save_audio writes; an input in any other readable format is written as WAV.
WRITABLE_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".mp3", ".m4a", ".opus", ".aac")
_SOUNDFILE_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".oga": "OGG", ".aiff": "AIFF", ".aif": "AIFF"}

# Streaming windows: 60 s of audio per model call keeps memory small and the per-window overhead
# negligible; 1 s of context on each side (cross-faded over its middle half) hides the edges of
# both the resampler and the model.
WINDOW_SECONDS = 60.0
CONTEXT_SECONDS = 1.0
# Those 60 s are for 16 kHz mono; at higher rates and channel counts a window holds as many
# samples (44.1 kHz stereo: 15 s, the floor), since each copy of it (resampled, repaired, the
# upper band's spectra) grows with them: peak RSS on 7 minutes of 44.1 kHz stereo 1102 -> 956 MB.
WINDOW_SAMPLES = int(WINDOW_SECONDS * 16000)
MIN_WINDOW_SECONDS = 15.0
# Recordings longer than this are streamed from disk instead of loaded whole.
STREAM_ABOVE_SECONDS = 120.0
# Below -80 dBFS peak a window is digital silence: there is nothing to repair and a model would
# only add its own noise floor, so it is passed through unchanged.
SILENCE_PEAK = 1e-4
# The model needs a few STFT frames of context; shorter windows are zero-padded, then cropped.
MIN_MODEL_SAMPLES = 4000
# Restoring clipped peaks (or any boost) can exceed 1.0, which integer PCM would clip again: in a
# written block that would, samples above the knee (-1 dBFS) are soft-limited to the ceiling.
LIMIT_KNEE = 0.891
LIMIT_CEILING = 0.98
# Speaker embedding of the input itself: from its first 30 s (enough for ECAPA, bounded cost).
SELF_EMBEDDING_SECONDS = 30.0
# VAD: fraction of a window's duration that must be speech to count as "speech detected"; below
# 1 s of audio the VAD misses too many single words to justify a warning.
SPEECH_FRACTION = 0.05
MIN_VAD_SECONDS = 1.0
VAD_SECONDS = 20.0  # of each window, until speech is found (the VAD costs ~RTF 0.02)


@dataclass
class RepairReport:
    """What happened to one file."""

    input: str
    output: str | None
    sampling_rate: int = 0
    output_rate: int = 0
    channels: int = 0
    duration_s: float = 0.0
    seconds: float = 0.0
    speech_detected: bool | None = None
    speaker: str = "none"
    streamed: bool = False
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# model and helpers, loaded once
# --------------------------------------------------------------------------------------------
def parse_strength(value: float | str | None) -> float | str | None:
    """A ``--strength`` value: a number in [0, 1], ``"auto"`` or None (the model's default)."""
    if value is None or value == "auto":
        return value
    try:
        strength = float(value)
    except (TypeError, ValueError):
        raise MsarError(f"--strength must be a number between 0 and 1 or 'auto', got {value!r}") from None
    if not 0.0 <= strength <= 1.0:
        raise MsarError(f"--strength must be between 0 and 1 (or 'auto'), got {value}")
    return strength


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto``: the accelerate process's device when launched with accelerate, else CUDA/CPU."""
    if device is None or str(device) == "auto":
        if _distributed_env():
            return _accelerate_state().device
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise MsarError(f"unknown device {device!r} (use cpu, cuda, cuda:N, mps or auto)") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise MsarError(f"device {device!r} requested but CUDA is not available on this machine")
    return dev


def _looks_like_path(source: str) -> bool:
    """A folder the user meant, not a Hub id (``org/name``: one slash, no leading dot, tilde or slash).
    A bare name ("my_model") is a folder too: offline, trying it as a Hub id cost 30 s of retries
    before a message about the network (msar's models all live under an organisation)."""
    return (source.startswith((".", "~", "/", "\\")) or source.count("/") != 1 or "\\" in source
            or source.endswith("/") or (len(source) > 1 and source[1] == ":" and source[0].isalpha()))  # C:/x


def load_repair_model(model=None, device: str | torch.device | None = "cpu"):
    """The repair model in eval mode on ``device``.

    Args:
        model: None (the shipped default in ``msar_hf/pretrained/repair``), a local
            ``save_pretrained`` folder, a Hub id (``org/name``, from the local cache when
            offline), or an already loaded model.
    """
    dev = resolve_device(device)
    if isinstance(model, torch.nn.Module):
        return model.to(dev).eval()
    from .models.autoencoder import MsarAutoencoderModel

    source = DEFAULT_MODEL_DIR if model is None else model
    local = Path(source)
    if model is None and not (local / "config.json").is_file():
        raise MsarError(f"the shipped repair model is missing ({local}); pass --model ORG/NAME or a folder")
    if local.exists() and not (local / "config.json").is_file():
        raise MsarError(f"{local}: not a model folder (no config.json); pass a save_pretrained folder or a Hub id")
    if not local.exists() and _looks_like_path(str(source)):
        raise MsarError(f"{local}: no such model folder (a Hub id reads ORG/NAME)")
    try:
        loaded = MsarAutoencoderModel.from_pretrained(str(source))
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MsarError(f"cannot load repair model {str(source)!r}: {first}") from exc
    return loaded.to(dev).eval()


_VAD = None


def _vad_model():
    """Silero VAD (weights inside the silero-vad wheel), loaded once per process."""
    global _VAD
    if _VAD is None:
        from silero_vad import load_silero_vad

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.load deprecation notice
            _VAD = load_silero_vad()
    return _VAD


def speech_fraction(waveform: torch.Tensor, sampling_rate: int = MODEL_RATE) -> float:
    """Fraction of a 16 kHz mono signal that Silero VAD marks as speech (0..1)."""
    if waveform.numel() < 512:
        return 0.0
    from silero_vad import get_speech_timestamps

    # 100 ms minimum (default 250 ms) so single short words (FSDD digits) still count as speech.
    stamps = get_speech_timestamps(waveform.float().cpu(), _vad_model(), sampling_rate=sampling_rate,
                                   min_speech_duration_ms=100)
    return sum(s["end"] - s["start"] for s in stamps) / waveform.numel()


class _SpeakerEmbedder:
    """Lazily loads ``msar_hf.speaker.SpeakerEncoder``; remembers (once) that it is unavailable."""

    def __init__(self) -> None:
        self._encoder = None
        self.unavailable: str | None = None

    def encoder(self):
        if self._encoder is None and self.unavailable is None:
            try:
                from .speaker import SpeakerEncoder

                self._encoder = SpeakerEncoder.from_pretrained()
            except Exception as exc:  # noqa: BLE001  (missing module or weights, broken install: repair goes on)
                self.unavailable = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return self._encoder

    def embed_waveform(self, waveform16: torch.Tensor) -> torch.Tensor | None:
        enc = self.encoder()
        if enc is None:
            return None
        emb = enc.embed(waveform16.float().unsqueeze(0))
        return torch.as_tensor(emb).reshape(-1).float()

    def embed_file(self, path: str | os.PathLike) -> torch.Tensor | None:
        enc = self.encoder()
        if enc is None:
            return None
        return torch.as_tensor(enc.embed_file(path)).reshape(-1).float()


# --------------------------------------------------------------------------------------------
# sources and sinks (whole-in-memory for short files, streamed for long ones)
# --------------------------------------------------------------------------------------------
class _ArraySource:
    def __init__(self, waveform: torch.Tensor, rate: int, subtype: str | None):
        self.waveform, self.rate, self.subtype = waveform, rate, subtype
        self.channels, self.frames = waveform.shape

    def read(self, start: int, stop: int) -> torch.Tensor:
        return self.waveform[:, start:stop]

    def close(self) -> None:
        pass


class _SoundFileSource:
    """Reads windows of a file with libsndfile, checking each for NaN/Inf and truncation.

    ``decoded``: a temporary WAV that ``path`` was decoded to (see :func:`_ffmpeg_decoded`), read
    in its place and deleted on close; its float samples say nothing of the input's bit depth.
    ``offset``: samples at its start that load_audio does not return (see :func:`_start_offset`)."""

    def __init__(self, path: Path, handle, decoded: Path | None = None, offset: int = 0):
        self.path, self.handle, self.decoded, self.offset = path, handle, decoded, offset
        self.rate, self.channels = int(handle.samplerate), int(handle.channels)
        self.frames = int(handle.frames) - offset
        self.subtype = None if decoded is not None else handle.subtype

    def read(self, start: int, stop: int) -> torch.Tensor:
        self.handle.seek(start + self.offset)
        data = self.handle.read(stop - start, dtype="float32", always_2d=True)
        if data.shape[0] < stop - start:
            raise CorruptAudioError(self.path, f"truncated: the header declares {self.frames} samples but only "
                                    f"{start + data.shape[0]} could be read")
        if not np.isfinite(data).all():
            raise NonFiniteSamplesError(self.path, f"contains NaN/Inf samples (near {start / self.rate:.1f} s)")
        return torch.from_numpy(np.ascontiguousarray(data.T))

    def close(self) -> None:
        self.handle.close()
        if self.decoded is not None:
            self.decoded.unlink(missing_ok=True)


def _ffmpeg_file(path: Path) -> str:
    # FFmpeg (the command, and torchcodec's decoder) reads "10:30 talk.m4a" (or "out:dir/x.mp3")
    # as a URL of protocol "10" ("out") and fails; "file:" names a file whatever its name holds.
    return f"file:{path}"


def _ffmpeg_decoded(path: Path, scratch_dir: Path | None = None) -> tuple[Path, int] | None:
    """A long recording libsndfile cannot read (m4a, opus, a video's sound...) decoded by the
    ``ffmpeg`` command into a temporary float WAV (RF64 past 4 GB), with the number of samples at
    its start that load_audio leaves out; or None (short, no ffmpeg command, or not decodable:
    load_audio then decides, with its own message).

    Why: load_audio holds a whole recording in memory (20 minutes of 44.1 kHz stereo AAC took the
    repair to 2.8 GB); decoded to disk it streams like any WAV. The command runs the same FFmpeg
    decoders torchcodec does: the samples and their count are identical (tested). The WAV goes in
    ``scratch_dir`` (the output's folder: the system temp folder may be a tmpfs, i.e. memory), as a
    hidden file that folder scans skip."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    try:
        from torchcodec.decoders import AudioDecoder

        metadata = AudioDecoder(_ffmpeg_file(path)).metadata
        # MKV and WebM (OBS's and browsers' recordings) state no stream duration, only the container's
        header_seconds = metadata.duration_seconds_from_header
        seconds = header_seconds or metadata.duration_seconds
    except Exception:  # noqa: BLE001  (not decodable: load_audio says why)
        return None
    if not seconds or seconds <= STREAM_ABOVE_SECONDS:
        return None
    fd, name = tempfile.mkstemp(prefix=".msar_decoded_", suffix=".wav", dir=scratch_dir)
    os.close(fd)
    decoded = Path(name)
    try:
        # torchcodec's stream: with no track marked default the command took the one with most channels
        done = subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-i", _ffmpeg_file(path),
                               "-map", f"0:{metadata.stream_index}", "-c:a", "pcm_f32le", "-rf64", "auto",
                               "-f", "wav", _ffmpeg_file(decoded)],
                              capture_output=True, check=False)
        # a non-zero exit (e.g. no space left for the temporary file), or any error said: a cut or
        # damaged file is decoded as far as it goes and ffmpeg still exits 0, so the streamed repair
        # wrote a shorter output without a word; load_audio refuses it (CorruptAudioError) instead
        failed = done.returncode != 0 or bool(done.stderr.strip())
        offset = None if failed else 0 if header_seconds else _start_offset(path, decoded)
        if offset is None:
            decoded.unlink(missing_ok=True)
            return None
    except BaseException:
        decoded.unlink(missing_ok=True)
        raise
    return decoded, offset


# How far into the command's decode torchcodec's first samples are looked for, and how much of them
# must agree: AAC's encoder delay is 1024 samples (HE-AAC 2048); a second of audio settles it. A
# recording may open on digital silence (a browser's, before the microphone starts): the second
# compared is the first one with sound, within the first minute.
_MAX_START_OFFSET, _MATCH_SECONDS, _MAX_LEAD_SECONDS = 8192, 1.0, 60.0


def _start_offset(path: Path, decoded: Path) -> int | None:
    """Where load_audio's first sample lies in the command's decode of a container without a stream
    duration, or None when the two do not agree on a whole second (or there is no sound to compare).

    Why: for AAC in MKV the command keeps the encoder's 1024 priming samples that torchcodec drops
    (load_audio's copy is the one in time with the source; Opus, Vorbis and FLAC agree exactly).
    Only the head up to a second past the first sound is decoded here, by torchcodec, to find the
    offset; the ends then agree."""
    import soundfile as sf
    from torchcodec.decoders import AudioDecoder

    try:
        with sf.SoundFile(str(decoded)) as handle:
            lead = handle.read(int(_MAX_LEAD_SECONDS * handle.samplerate), dtype="float32", always_2d=True)
            sound = np.flatnonzero(np.any(lead != 0, axis=1))  # torchcodec's sound starts no later
            seconds = (int(sound[0]) if sound.size else 0) / handle.samplerate + _MATCH_SECONDS
            head = AudioDecoder(_ffmpeg_file(path)).get_samples_played_in_range(0.0, seconds).data.numpy()
            handle.seek(0)
            ours = handle.read(_MAX_START_OFFSET + head.shape[-1], dtype="float32", always_2d=True).T
    except Exception:  # noqa: BLE001  (not decodable: load_audio says why)
        return None
    sounding = np.flatnonzero(np.any(head != 0, axis=0))
    if head.shape[-1] < 64 or sounding.size == 0 or ours.shape[-1] < head.shape[-1]:
        return None
    # candidates from 64 samples of the first sound (one vectorised pass), then the whole head
    first = int(sounding[0])
    channel = int(np.argmax(head[:, first] != 0))
    probe = head[channel, first: first + 64]
    if probe.size < 64:
        return None
    windows = np.lib.stride_tricks.sliding_window_view(ours[channel, first:], probe.size)
    for offset in np.flatnonzero((windows[: ours.shape[-1] - head.shape[-1] + 1] == probe).all(axis=1)):
        if np.array_equal(ours[:, offset: offset + head.shape[-1]], head):
            return int(offset)
    return None


def _open_source(path: Path, scratch_dir: Path | None = None) -> _ArraySource | _SoundFileSource:
    """Long files are streamed (soundfile's formats directly, the rest through a temporary WAV);
    everything else goes through load_audio."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
        if info.subtype == "OPUS" and shutil.which("ffmpeg"):
            # libsndfile decodes Opus at the rate its header names for the source (16 kHz, say),
            # FFmpeg (load_audio, short files) at 48 kHz: a long opus came out at another rate.
            # (Without the ffmpeg command libsndfile still streams it: memory first.)
            raise ValueError("Opus: decoded by FFmpeg, as load_audio does")
        if info.frames > STREAM_ABOVE_SECONDS * info.samplerate and path.stat().st_size > 0:
            return _SoundFileSource(path, sf.SoundFile(str(path)))
        subtype = info.subtype
    except Exception:  # noqa: BLE001  (not readable by libsndfile, e.g. m4a/opus, or broken: load_audio decides)
        subtype = None
        found = _ffmpeg_decoded(path, scratch_dir)
        if found is not None:
            decoded, offset = found
            try:
                return _SoundFileSource(path, sf.SoundFile(str(decoded)), decoded=decoded, offset=offset)
            except Exception:
                decoded.unlink(missing_ok=True)
                raise
    waveform, rate = load_audio(path, sampling_rate=None, mono=False)
    return _ArraySource(waveform, rate, subtype)


class _ArraySink:
    """Collects a short output in memory; save_audio writes it atomically on commit."""

    def __init__(self, path: Path, channels: int, frames: int, rate: int, inputs: Sequence[Path], subtype: str | None,
                 bit_rate: int | None = None, channel_mask: int | None = None, tags: dict[str, str] | None = None):
        self.path, self.rate, self.inputs, self.subtype, self.bit_rate = path, rate, inputs, subtype, bit_rate
        self.channel_mask, self.tags = channel_mask, tags
        self.buffer = torch.zeros(channels, frames)
        self.pos = 0
        # Can the folder take the file? Asked now, before the repair: an output folder that cannot be
        # made or written (read-only, a file in its path) failed each file only after its repair.
        path.parent.mkdir(parents=True, exist_ok=True)
        temp_beside(path, path.suffix).unlink()

    def write(self, block: torch.Tensor) -> None:
        self.buffer[:, self.pos : self.pos + block.shape[-1]] = block
        self.pos += block.shape[-1]

    def commit(self) -> None:
        save_audio(self.path, self.buffer, self.rate, inputs=self.inputs, subtype=self.subtype, bit_rate=self.bit_rate,
                   channel_mask=self.channel_mask, tags=self.tags)

    def abort(self) -> None:
        pass


class _SoundFileSink:
    """Writes blocks to a temporary file beside the target, renamed into place on commit."""

    def __init__(self, path: Path, channels: int, rate: int, subtype: str | None, channel_mask: int | None = None,
                 tags: dict[str, str] | None = None):
        import soundfile as sf

        self.path, self.channel_mask = path, channel_mask
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        fmt = wav_format(_SOUNDFILE_FORMATS[path.suffix.lower()], channel_mask)
        if subtype is None and fmt != "OGG":
            subtype = "PCM_16"
        self.pcm = subtype is not None and subtype.startswith("PCM")
        usual_mode(tmp)
        self.handle = sf.SoundFile(tmp, "w", samplerate=rate, channels=channels, format=fmt, subtype=subtype,
                                   **vorbis_options(fmt, subtype))
        set_tags(self.handle, tags)

    def write(self, block: torch.Tensor) -> None:
        if self.pcm:
            block = block.clamp(-1.0, 1.0)
        write_blocks(self.handle, block)

    def commit(self) -> None:
        self.handle.close()
        if self.handle.format == "WAVEX":
            set_wav_channel_mask(self.tmp, self.channel_mask)
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.handle.close()
        self.tmp.unlink(missing_ok=True)


class _FFmpegSink:
    """A long lossy output (mp3, m4a, opus, aac): blocks go to a temporary float WAV beside the
    target, which the ``ffmpeg`` command encodes on commit (to a temporary name, then renamed).

    Why: save_audio encodes from one array, so a long output was held whole in memory; the command
    reads the WAV as it encodes. Same encoders and bit rate as save_audio: the decoded samples of
    the two are identical (tested)."""

    def __init__(self, path: Path, channels: int, rate: int, bit_rate: int | None, ffmpeg: str):
        import soundfile as sf

        self.path, self.bit_rate, self.ffmpeg = path, bit_rate, ffmpeg
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp_wav = temp_beside(path, ".wav")
        self.handle = sf.SoundFile(self.tmp_wav, "w", samplerate=rate, channels=channels, format="RF64",
                                   subtype="FLOAT")
        self.rate = rate

    def write(self, block: torch.Tensor) -> None:
        write_blocks(self.handle, block.clamp(-1.0, 1.0))  # as save_audio gives its encoder

    def commit(self) -> None:
        self.handle.close()
        encoded = temp_beside(self.path, self.path.suffix)
        try:
            for bit_rate in ([f"{int(self.bit_rate or MIN_LOSSY_BIT_RATE)}"], []):  # save_audio's fallback too
                done = subprocess.run([self.ffmpeg, "-nostdin", "-v", "error", "-y", "-i", _ffmpeg_file(self.tmp_wav),
                                       *(["-b:a", *bit_rate] if bit_rate else []), _ffmpeg_file(encoded)],
                                      capture_output=True, text=True, check=False)
                if done.returncode == 0:
                    break
            else:
                why = " ".join(done.stderr.split())[-300:]
                if reason := system_write_failure(why):
                    raise AudioError(self.path, f"cannot be written ({reason})")
                raise UnsupportedFormatError(self.path, f"ffmpeg could not encode it at {self.rate} Hz: {why}")
            usual_mode(encoded)
            os.replace(encoded, self.path)
        except BaseException:
            encoded.unlink(missing_ok=True)
            raise
        finally:
            self.tmp_wav.unlink(missing_ok=True)

    def abort(self) -> None:
        self.handle.close()
        self.tmp_wav.unlink(missing_ok=True)


def _output_subtype(source_subtype: str | None, output: Path) -> str | None:
    """Keep the input's bit depth when the output format can hold it (24-bit stays 24-bit)."""
    fmt = _SOUNDFILE_FORMATS.get(output.suffix.lower())
    if source_subtype is None or fmt is None:
        return None
    allowed = {"WAV": {"PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"}, "AIFF": {"PCM_16", "PCM_24", "PCM_32", "FLOAT"},
               "FLAC": {"PCM_16", "PCM_24"}, "OGG": set()}[fmt]
    if fmt == "FLAC" and source_subtype in ("PCM_32", "FLOAT", "DOUBLE"):
        return "PCM_24"  # FLAC's deepest: 32-bit or float input was written as 16-bit
    return source_subtype if source_subtype in allowed else None


# --------------------------------------------------------------------------------------------
# the repairer: one model, many files
# --------------------------------------------------------------------------------------------
def window_seconds(rate: int, channels: int) -> float:
    """Seconds of audio per streamed window: :data:`WINDOW_SAMPLES` over all channels, within
    [:data:`MIN_WINDOW_SECONDS`, :data:`WINDOW_SECONDS`]."""
    return min(WINDOW_SECONDS, max(MIN_WINDOW_SECONDS, WINDOW_SAMPLES / (rate * max(channels, 1))))


def _window_frames(rate: int, channels: int, out_rate: int) -> int:
    """Input samples per window core: :func:`window_seconds`, rounded down to a whole number of
    the periods on which both rates have a sample (441 samples for 44.1 kHz -> 16 kHz).

    Why: each window is resampled on its own from its first sample, so a window that starts
    between two output samples comes out shifted by that fraction (44.1 kHz -> 16 kHz: 0.24 output
    samples, -17 dB of error against the input resampled whole, at strength 0). The context is whole
    seconds, a whole number of such periods already."""
    period = rate // math.gcd(rate, out_rate)
    return max(period, int(window_seconds(rate, channels) * rate) // period * period)


def _windows(frames: int, window: int, context: int) -> list[tuple[int, int, int | None]]:
    """(start, stop, next_start) of overlapping windows covering [0, frames).

    Window k's core is [k*window, (k+1)*window); it reads ``context`` more on each side, so two
    neighbours share 2*context samples. A final core shorter than 2*context joins the one before.
    """
    count = max(1, math.ceil(frames / window))
    if count > 1 and frames - (count - 1) * window < 2 * context:
        count -= 1
    cores = [k * window for k in range(count)]
    out = []
    for k, core in enumerate(cores):
        start = max(0, core - context)
        stop = frames if k == count - 1 else min(frames, cores[k + 1] + context)
        out.append((start, stop, None if k == count - 1 else cores[k + 1] - context))
    return out


def soft_limit(y: torch.Tensor, knee: float = LIMIT_KNEE, ceiling: float = LIMIT_CEILING) -> torch.Tensor:
    """Samples above ``knee`` in magnitude are bent smoothly into (knee, ceiling); the rest are untouched.

    ``knee + (ceiling - knee) * tanh((|y| - knee) / (ceiling - knee))`` meets the identity at the
    knee with slope 1, so there is no corner, and never reaches the ceiling. By hand: a per-sample
    curve needs no look-ahead, so it works window by window on streamed recordings (a whole-file
    gain would not).
    """
    over = y.abs() > knee
    if not bool(over.any()):
        return y
    headroom = ceiling - knee
    bent = knee + headroom * torch.tanh((y.abs() - knee) / headroom)
    return torch.where(over, torch.sign(y) * bent, y)


def _fit(x: torch.Tensor, length: int) -> torch.Tensor:
    if x.shape[-1] >= length:
        return x[..., :length]
    return torch.nn.functional.pad(x, (0, length - x.shape[-1]))


class Repairer:
    """Repairs files with one loaded model (and speaker encoder, VAD), reused for every file.

    Args:
        model: see :func:`load_repair_model` (None = shipped default).
        device: ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto``.
        strength: 0..1, how much of the repair to apply (0 = identity, 1 = full); ``"auto"`` = from
            how much the full repair changes each block; None = the model's ``config.default_strength``.
        speaker_ref: a clip of the target speaker; its embedding conditions every file.
        output_rate: write at this rate (Hz) instead of each input's own.
        chunk_seconds: the model's chunk length (memory per model call).
        detect_speech: warn when a file seems to contain no speech (Silero VAD).
        upper_band: for input above 16 kHz, put the input's band above 8 kHz back, scaled by the
            gain the repair applied just below it (:mod:`msar_hf.fullband`); False leaves it empty.
        residual_gate: 0..1, how much to attenuate the noise floor the repair leaves (under the
            level of the damage it removed); None = the model's ``config.residual_gate``, 0 = off.
        low_band_comb: 0..1, how much to lower what lies between the harmonics of the voice's low
            band where what the repair removed is noise; None = the model's ``config.low_band_comb``.
    """

    def __init__(
        self,
        model=None,
        device: str | torch.device | None = "cpu",
        strength: float | str | None = None,
        speaker_ref: str | os.PathLike | None = None,
        output_rate: int | None = None,
        chunk_seconds: float = 8.0,
        detect_speech: bool = True,
        upper_band: bool = True,
        residual_gate: float | None = None,
        low_band_comb: float | None = None,
    ):
        strength = parse_strength(strength)
        if residual_gate is not None and not 0.0 <= float(residual_gate) <= 1.0:
            raise MsarError(f"--gate must be between 0 and 1, got {residual_gate}")
        self.residual_gate = None if residual_gate is None else float(residual_gate)
        if low_band_comb is not None and not 0.0 <= float(low_band_comb) <= 1.0:
            raise MsarError(f"--comb must be between 0 and 1, got {low_band_comb}")
        self.low_band_comb = None if low_band_comb is None else float(low_band_comb)
        if output_rate is not None and not 4000 <= int(output_rate) <= 384000:
            raise MsarError(f"--output-rate must be between 4000 and 384000 Hz, got {output_rate}")
        if not chunk_seconds or chunk_seconds < 0.5:
            raise MsarError(f"--chunk-seconds must be at least 0.5, got {chunk_seconds}")
        self.output_rate = None if output_rate is None else int(output_rate)
        self.chunk_seconds = float(chunk_seconds)
        self.detect_speech = detect_speech
        self.upper_band = upper_band
        self.model = load_repair_model(model, device)
        strength = getattr(self.model.config, "default_strength", 1.0) if strength is None else strength
        self.strength = strength if strength == "auto" else float(strength)
        cfg = self.model.config
        if int(cfg.sampling_rate) != MODEL_RATE:
            raise MsarError(f"the repair model works at {cfg.sampling_rate} Hz; msar expects {MODEL_RATE} Hz models")
        self.conditioned = bool(getattr(cfg, "use_speaker_conditioning", False))
        self._speaker = _SpeakerEmbedder()
        self.notes: list[str] = []  # warnings that concern the run, not one file
        self.reference: torch.Tensor | None = None
        self.speaker_ref = speaker_ref
        if speaker_ref is not None:
            ref = Path(speaker_ref)
            # typed error (missing, empty, not audio...) before any work is done; an unusable clip
            # (too short, silent) is refused whatever the model, so a run means the same everywhere
            from .speaker import SpeakerInputError, check_speech

            problem = check_speech(load_audio(ref)[0], MODEL_RATE)
            if problem:
                raise SpeakerInputError(ref, f"unusable as --speaker-ref: {problem}")
            if not self.conditioned:
                self.notes.append(f"--speaker-ref {ref} ignored: this model is not speaker-conditioned")
            else:
                self.reference = self._speaker.embed_file(ref)
                if self.reference is None:
                    self.notes.append(f"speaker encoder unavailable ({self._speaker.unavailable}); "
                                      "repairing without speaker conditioning")

    # -- one channel of one window ---------------------------------------------------------
    def _repair_window(self, x: torch.Tensor, rate: int, out_rate: int, out_len: int,
                       embedding: torch.Tensor | None) -> tuple[torch.Tensor, bool]:
        """(C, n) at ``rate`` -> (C, out_len) at ``out_rate``; second value: window was silent.

        Each silent channel is passed through on its own: the digital silence of a stereo file's
        unused side came back as the model's noise floor (+-1 LSB on 870 of 960000 samples)."""
        silent = x.abs().amax(-1) < SILENCE_PEAK
        if bool(silent.all()):
            return _fit(resample(x, rate, out_rate), out_len), True
        if self.strength == 0.0:
            # untouched: the input's own samples, not their round trip through 16 kHz and the upper
            # band's split (1 LSB of 16 bits on 0.06 % of the samples at 44.1 kHz)
            return _fit(resample(x, rate, out_rate), out_len), False
        if not bool(silent.any()):
            return self._repair_channels(x, rate, out_rate, out_len, embedding), False
        y = _fit(resample(x, rate, out_rate), out_len).clone()  # at the input's rate, a view of the input
        y[~silent] = self._repair_channels(x[~silent], rate, out_rate, out_len, embedding)
        return y, False

    def _repair_channels(self, x: torch.Tensor, rate: int, out_rate: int, out_len: int,
                         embedding: torch.Tensor | None) -> torch.Tensor:
        """(C, n) at ``rate`` -> (C, out_len) at ``out_rate``, every channel through the model."""
        x16 = resample(x, rate, MODEL_RATE)
        n16 = x16.shape[-1]
        if n16 < MIN_MODEL_SAMPLES:
            x16 = torch.nn.functional.pad(x16, (0, MIN_MODEL_SAMPLES - n16))
        device = self.model.device
        emb = None if embedding is None else embedding.to(device)
        with torch.no_grad():  # not inference_mode: the cross-fade later writes into these tensors
            y16 = torch.stack([
                torch.as_tensor(self.model.repair(ch.to(device), speaker_embedding=emb, strength=self.strength,
                                                  chunk_seconds=self.chunk_seconds,
                                                  residual_gate=self.residual_gate,
                                                  low_band_comb=self.low_band_comb)).float().cpu()
                for ch in x16
            ])[:, :n16]
        if self.upper_band and rate != MODEL_RATE:
            # what the model never saw (above 8 kHz; under 16 kHz, the round trip's roll-off):
            # the input's own, at the repair's gain just below 8 kHz
            full = add_upper_band(_fit(resample(y16, MODEL_RATE, rate), x.shape[-1]), x, rate,
                                  x16[:, :n16], y16, MODEL_RATE)
            return _fit(resample(full, rate, out_rate), out_len)
        return _fit(resample(y16, MODEL_RATE, out_rate), out_len)

    def _embedding_for(self, source, report: RepairReport) -> torch.Tensor | None:
        if not self.conditioned:
            return None
        if self.reference is not None:
            report.speaker = f"reference {self.speaker_ref}"
            return self.reference
        if self.speaker_ref is not None or self._speaker.unavailable:
            return None  # the run's note already says why
        head = source.read(0, min(source.frames, int(SELF_EMBEDDING_SECONDS * source.rate)))
        mono16 = resample(head.mean(0), source.rate, MODEL_RATE)
        if float(mono16.abs().max()) < SILENCE_PEAK:
            return None
        try:
            emb = self._speaker.embed_waveform(mono16)
        except MsarError as exc:  # too short / silent for an embedding: repair without one
            report.warnings.append(f"no speaker embedding ({exc}); repaired without speaker conditioning")
            return None
        if emb is None:
            self.notes.append(f"speaker encoder unavailable ({self._speaker.unavailable}); "
                              "repairing without speaker conditioning")
            return None
        report.speaker = "self"
        return emb

    # -- one file ----------------------------------------------------------------------------
    def repair_file(self, input: str | os.PathLike, output: str | os.PathLike,
                    inputs: Iterable[str | os.PathLike] = (), progress: bool = False) -> RepairReport:
        """Repair ``input`` into ``output`` (format from its extension). Raises AudioError/MsarError.

        ``inputs`` lists other files of the same run that must not be overwritten either.
        """
        start_time = time.perf_counter()
        src_path, out_path = Path(input), Path(output)
        protected = [src_path, *map(Path, inputs)]
        _check_output(out_path, protected)
        source = _open_source(src_path, next(p for p in out_path.absolute().parents if p.is_dir()))
        try:  # the source may hold a temporary decoded file: closed whatever happens
            report = self._repair_source(source, src_path, out_path, protected, progress)
        finally:
            source.close()
        report.seconds = time.perf_counter() - start_time
        return report

    def _repair_source(self, source, src_path: Path, out_path: Path, protected: list[Path],
                       progress: bool) -> RepairReport:
        streamed = isinstance(source, _SoundFileSource)
        report = RepairReport(input=str(src_path), output=str(out_path), sampling_rate=source.rate,
                              channels=source.channels, duration_s=source.frames / source.rate, streamed=streamed)
        out_rate = self.output_rate or source.rate
        report.output_rate = out_rate
        check_encodable(out_path, out_rate, source.channels)  # before the work, not after it
        out_frames = source.frames if out_rate == source.rate else round(source.frames * out_rate / source.rate)
        subtype = _output_subtype(source.subtype, out_path)
        # a WAV output keeps a WAVE_FORMAT_EXTENSIBLE input's speaker layout (5.1...)
        mask = wav_channel_mask(src_path) if out_path.suffix.lower() == ".wav" else None
        # and the input's text tags (title, artist, date...: an archive's catalogue data) where
        # libsndfile writes the output; the FFmpeg-encoded formats get none
        tags = audio_tags(src_path) if out_path.suffix.lower() in _SOUNDFILE_FORMATS else None
        # a lossy output at least as rich as a lossy input (and never under MIN_LOSSY_BIT_RATE)
        bit_rate = (max(lossy_bit_rate(src_path) or 0, MIN_LOSSY_BIT_RATE)
                    if out_path.suffix.lower() in BIT_RATE_EXTENSIONS else None)
        ffmpeg = shutil.which("ffmpeg")
        with writing_errors(out_path):  # a streamed output's temporary file is made here
            if streamed and out_path.suffix.lower() in _SOUNDFILE_FORMATS:
                sink = _SoundFileSink(out_path, source.channels, out_rate, subtype, mask, tags)
            elif streamed and bit_rate is not None and ffmpeg:
                sink = _FFmpegSink(out_path, source.channels, out_rate, bit_rate, ffmpeg)
            else:
                sink = _ArraySink(out_path, source.channels, out_frames, out_rate, protected, subtype, bit_rate, mask, tags)
        try:
            self._run(source, sink, out_rate, report, progress)
            with writing_errors(out_path):
                sink.commit()
        except BaseException:
            sink.abort()
            raise
        return report

    def _run(self, source, sink, out_rate: int, report: RepairReport, progress: bool) -> None:
        rate = source.rate
        if source.frames / rate < 0.2:
            report.warnings.append(f"very short ({1000 * source.frames / rate:.0f} ms): little context to repair")
        # strength 0 gives the input back: no speaker to condition on, no altered music to warn of
        untouched = self.strength == 0.0
        embedding = None if untouched else self._embedding_for(source, report)
        to_out = (lambda n: n) if out_rate == rate else (lambda n: round(n * out_rate / rate))
        windows = _windows(source.frames, _window_frames(rate, source.channels, out_rate), int(CONTEXT_SECONDS * rate))
        iterator = windows
        if progress and len(windows) > 1:
            from tqdm.auto import tqdm

            iterator = tqdm(windows, desc=Path(report.input).name, unit="min", leave=False)
        detect = self.detect_speech and not untouched and source.frames >= MIN_VAD_SECONDS * rate
        tail, silent_windows, speech, peak = None, 0, False, 0.0

        def write(block: torch.Tensor) -> None:
            # Only a block that would pass full scale is limited: valid audio that fits (e.g. the
            # input itself at strength 0) is written untouched.
            nonlocal peak
            block_peak = float(block.abs().max()) if block.numel() else 0.0
            peak = max(peak, block_peak)
            with writing_errors(report.output):  # a full disk mid-file: that file's error, not a traceback
                sink.write(soft_limit(block) if block_peak > 1.0 else block)

        for start, stop, next_start in iterator:
            x = source.read(start, stop)
            y, silent = self._repair_window(x, rate, out_rate, to_out(stop) - to_out(start), embedding)
            silent_windows += silent
            if detect and not silent and not speech:
                x16 = resample(x[:, : int(VAD_SECONDS * rate)].mean(0), rate, MODEL_RATE)
                speech = speech_fraction(x16) >= SPEECH_FRACTION
            if tail is not None:  # cross-fade over the middle half of the shared context
                n = tail.shape[-1]
                ramp = ((torch.arange(n, dtype=torch.float32) + 0.5 - n / 4) / (n / 2)).clamp(0, 1)
                # written as y + (tail - y) * (1 - ramp): where the two agree (an untouched input) the
                # result is y itself, exactly; the usual form is a float rounding off (1 LSB)
                y[:, :n] = y[:, :n] + (tail - y[:, :n]) * (1 - ramp)
            if next_start is None:
                write(y)
                tail = None
            else:
                split = to_out(next_start) - to_out(start)
                write(y[:, :split])
                tail = y[:, split:].clone()
        if peak > 1.0:
            report.warnings.append(f"repaired peaks reached {20 * math.log10(peak):+.1f} dBFS (restored clipped peaks?): "
                                   "peaks above -1 dBFS were soft-limited so the output does not clip")
        if silent_windows == len(windows):
            report.warnings.append("silent input (peak below -80 dBFS): nothing to repair, written unchanged")
            report.speech_detected = False
        elif detect:
            report.speech_detected = speech
            if not speech:
                report.warnings.append("no speech detected: msar repairs speech, other sounds (music...) may be "
                                       "altered; use --strength to apply less")


# --------------------------------------------------------------------------------------------
# planning outputs for files and folders
# --------------------------------------------------------------------------------------------
def _writable_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    return suffix if suffix in WRITABLE_EXTENSIONS else ".wav"


def _same_path(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _check_output(output: Path, inputs: Iterable[Path]) -> None:
    blocker = next((parent for parent in output.parents if parent.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise AudioError(output, f"cannot be written: {blocker} is a file, not a folder")
    for src in inputs:
        if _same_path(output, src):
            raise OverwriteInputError(output, "refusing to overwrite an input file; choose another output path")
    suffix = output.suffix.lower()
    if suffix not in WRITABLE_EXTENSIONS:
        raise UnsupportedFormatError(output, f"cannot write '{suffix or 'no extension'}' files; "
                                     f"use one of {', '.join(WRITABLE_EXTENSIONS)}")


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def plan_outputs(inputs: Sequence[str | os.PathLike], output: str | os.PathLike | None = None) -> list[tuple[Path, Path]]:
    """Pair every input file with its output path.

    * one input file and ``output`` with an audio extension (and not an existing folder): that file;
    * otherwise ``output`` (default ``./repaired``) is a folder (not a new one named like an audio
      file: refused, as a mistyped output file): a file input keeps its name, a
      folder input keeps its tree below the folder (below ``<folder name>/`` when several inputs
      are given). When the output folder lies inside an input folder, the files already in it are
      skipped (re-running ``msar repair .`` does not repair its own outputs).
    Raises :class:`MsarError` for missing inputs, empty folders, clashing or input-overwriting outputs.
    """
    if not inputs:
        raise MsarError("no input given")
    paths = [Path(p) for p in inputs]
    for p in paths:
        if not p.exists():
            raise AudioError(p, "no such file or folder")
    out = Path(output) if output is not None else DEFAULT_OUTPUT_DIR
    single_file = len(paths) == 1 and paths[0].is_file()
    if single_file and not out.is_dir() and out.suffix:
        return [(paths[0], out)]
    if out.exists() and not out.is_dir():
        raise MsarError(f"{out}: exists and is not a folder; with several inputs or a folder, -o must be a folder")
    if not out.exists() and out.suffix.lower() in WRITABLE_EXTENSIONS:
        # a file name meant as one output: made a folder of that name, it hid the mistake
        raise MsarError(f"{out}: names an audio file, but several inputs or a folder need a folder for -o")
    pairs: list[tuple[Path, Path]] = []
    for p in paths:
        if p.is_dir():
            files = find_audio_files([p], video=True)
            if out.resolve() != p.resolve() and _is_within(out, p):
                files = [f for f in files if not _is_within(f, out)]  # outputs of an earlier run
            if not files:
                raise MsarError(f"{p}: no audio files found (looked for {', '.join(AUDIO_EXTENSIONS + VIDEO_EXTENSIONS)})")
            base = out / p.resolve().name if len(paths) > 1 else out
            pairs += [(f, (base / f.relative_to(p)).with_suffix(_writable_suffix(f))) for f in files]
        else:
            pairs.append((p, (out / p.name).with_suffix(_writable_suffix(p))))
    seen: dict[Path, Path] = {}
    all_inputs = [src for src, _ in pairs]
    unique = []
    for src, dst in pairs:
        key = dst.resolve()
        if key in seen and _same_path(src, seen[key]):
            continue  # the same file given twice (or inside a folder also given): repaired once
        unique.append((src, dst))
        if key in seen:
            raise MsarError(f"{src} and {seen[key]} would both be written to {dst}; repair them separately")
        seen[key] = src
        _check_output(dst, all_inputs)
    return unique


# --------------------------------------------------------------------------------------------
# sharding across processes
# --------------------------------------------------------------------------------------------
def _distributed_env() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _accelerate_state(cpu: bool | None = None):
    """accelerate's PartialState; ``cpu=True`` (default without CUDA) gives gloo CPU ranks.

    Without ``cpu=True`` a ``--multi_gpu`` launch on a machine with no GPU silently becomes
    ``num_processes == 1`` in every process (each would repair every file).
    """
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available() if cpu is None else cpu)


def wait_for_other_ranks() -> None:
    """Under a multi-process launch, return once every rank has got here.

    torchrun's agent (behind ``accelerate launch``) stops all ranks as soon as one exits with an
    error, so a rank whose share held an unreadable file would kill the ranks still repairing
    theirs. The barrier runs in its own gloo group with a long timeout: ranks may finish hours
    apart (the default group's timeout is 30 minutes) and CUDA runs' default group is NCCL.
    """
    import datetime

    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier(group=dist.new_group(backend="gloo", timeout=datetime.timedelta(days=7)))


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"I/N"`` -> (I, N) with 0 <= I < N."""
    if text is None:
        return None
    try:
        index, count = (int(v) for v in text.split("/"))
    except ValueError as exc:
        raise MsarError(f"--shard must look like INDEX/COUNT (e.g. 0/4), got {text!r}") from exc
    if count < 1 or not 0 <= index < count:
        raise MsarError(f"--shard {text}: need 0 <= INDEX < COUNT")
    return index, count


def current_shard(shard: tuple[int, int] | None = None, cpu: bool | None = None) -> tuple[int, int]:
    """Explicit ``shard``, else accelerate's process index/count when launched with accelerate."""
    if shard is not None:
        return shard
    if _distributed_env():
        state = _accelerate_state(cpu)
        if state.num_processes == int(os.environ["WORLD_SIZE"]):
            return state.process_index, state.num_processes
        # a launcher accelerate did not recognise: torchrun's RANK/WORLD_SIZE still shard the work
        return int(os.environ.get("RANK", "0")), int(os.environ["WORLD_SIZE"])
    return 0, 1


# --------------------------------------------------------------------------------------------
# public entry points
# --------------------------------------------------------------------------------------------
def repair_file(
    input: str | os.PathLike,
    output: str | os.PathLike,
    model=None,
    speaker_ref: str | os.PathLike | None = None,
    strength: float | None = None,
    output_rate: int | None = None,
    device: str = "cpu",
    chunk_seconds: float = 8.0,
) -> RepairReport:
    """Repair one file into ``output`` (see :class:`Repairer` for the arguments)."""
    repairer = model if isinstance(model, Repairer) else Repairer(
        model, device=device, strength=strength, speaker_ref=speaker_ref, output_rate=output_rate,
        chunk_seconds=chunk_seconds)
    return repairer.repair_file(input, output)


def repair_paths(
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike | None = None,
    model=None,
    speaker_ref: str | os.PathLike | None = None,
    strength: float | None = None,
    output_rate: int | None = None,
    device: str = "auto",
    chunk_seconds: float = 8.0,
    shard: tuple[int, int] | None = None,
    progress: bool = True,
    on_report: Callable[[RepairReport], None] | None = None,
) -> list[RepairReport]:
    """Repair files and folders (see :func:`plan_outputs` for where outputs go).

    A file that cannot be read does not stop the others: its report carries ``error``. Under
    ``accelerate launch`` (or with ``shard=(index, count)``) this process repairs every
    ``count``-th file starting at ``index``; outputs never collide because the plan is the same
    on every process.
    """
    pairs = plan_outputs(inputs, output)
    index, count = current_shard(shard)
    mine = pairs[index::count]
    repairer = model if isinstance(model, Repairer) else Repairer(
        model, device=device, strength=strength, speaker_ref=speaker_ref, output_rate=output_rate,
        chunk_seconds=chunk_seconds)
    all_inputs = [src for src, _ in pairs]
    iterator = mine
    if progress:
        from tqdm.auto import tqdm

        desc = "repair" if count == 1 else f"repair [{index + 1}/{count}]"
        iterator = tqdm(mine, desc=desc, unit="file", position=index if count > 1 else None,
                        disable=not mine)
    reports = []
    for src, dst in iterator:
        try:
            report = repairer.repair_file(src, dst, inputs=all_inputs, progress=progress)
        except MsarError as exc:
            report = RepairReport(input=str(src), output=None, error=str(exc))
        reports.append(report)
        if on_report is not None:
            on_report(report)
    return reports
