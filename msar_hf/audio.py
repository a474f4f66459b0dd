"""Audio input and output: the only place msar reads or writes sound files.

* :func:`load_audio` decodes wav/flac/ogg/mp3/m4a/opus (any rate, bit depth, channel count) with
  torchcodec (FFmpeg), falls back to soundfile (libsndfile) where torchcodec cannot help, and
  resamples with torchaudio. Inside msar everything is 16 kHz mono float32 (DESIGN.md).
* :func:`save_audio` writes atomically (temporary file in the same folder + ``os.replace``) so
  a crash never leaves half a file, and refuses to overwrite the file it was computed from.
* :class:`LevelMeter` measures levels, clipping and silence, block by block (``msar info``).

Every failure a user can cause raises a subclass of :class:`msar_hf.errors.AudioError` whose
message names the file and the problem.
"""

from __future__ import annotations

import errno
import io
import math
import os
import re
import struct
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from .errors import (
    AudioError,
    AudioFileNotFoundError,
    CorruptAudioError,
    EmptyAudioFileError,
    NonFiniteSamplesError,
    NoSamplesError,
    NotAudioError,
    OverwriteInputError,
    UnsupportedFormatError,
)
from .metadata import CarriedMetadata


def _one_torch_thread_in_forked_child() -> None:
    # This torch's OpenMP thread pool does not survive fork(): in a child forked after the
    # parent ran a parallel op, the first large op (load_audio's isfinite) waited for ever, so
    # datasets' num_proc workers (materialize, corpora) hung. A forked worker is one of
    # several processes anyway; torch's DataLoader workers do the same.
    torch.set_num_threads(1)


os.register_at_fork(after_in_child=_one_torch_thread_in_forked_child)

DEFAULT_SAMPLING_RATE = 16000
MAX_CHANNELS = 1024  # libsndfile's limit; more channels than this is a transposed array
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".m4a", ".aac", ".opus", ".webm", ".aiff", ".aif")
# Video containers whose sound msar repair takes from a folder too (an archive of recorded
# interviews); other commands (embed, info, evaluate, the datasets) look for audio files only.
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".avi")
# Formats soundfile (libsndfile) writes itself; the rest go through torchcodec's FFmpeg encoder.
SOUNDFILE_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".oga": "OGG", ".aiff": "AIFF", ".aif": "AIFF"}
_FFMPEG_WRITE = {".mp3", ".m4a", ".opus", ".aac"}
BIT_RATE_EXTENSIONS = frozenset(_FFMPEG_WRITE)  # the outputs save_audio's ``bit_rate`` applies to
# FFmpeg's encoders default to low bit rates (LAME: 24 kbit/s at 16 kHz, 64 at 44.1 kHz), which
# would add a second, audible coding loss to a repair; lossy outputs are written at least this rich,
# or at the input's own bit rate when that is higher. LAME and FFmpeg's AAC clamp a rate they cannot
# take (mp3 at 16 kHz: 160 at most); one that refuses it (libopus above 256 kbit/s) gets its default.
MIN_LOSSY_BIT_RATE = 128_000
# Ogg Vorbis goes through libsndfile, whose default quality (0.4: ~50 kbit/s for 16 kHz mono) costs
# a repaired file -22 dB of coding error; quality 0.8 (this compression level) costs -30 dB, at about
# 70 kbit/s for 16 kHz mono.
VORBIS_COMPRESSION_LEVEL = 0.2


def vorbis_options(fmt: str, subtype: str | None) -> dict:
    """Extra ``soundfile.SoundFile`` arguments for a format: Vorbis at :data:`VORBIS_COMPRESSION_LEVEL`."""
    return {"compression_level": VORBIS_COMPRESSION_LEVEL} if fmt == "OGG" and subtype in (None, "VORBIS") else {}


_LOSSY_CODECS = {"mp3", "mp2", "aac", "vorbis", "opus", "wmav2", "ac3", "amr_nb", "amr_wb", "gsm", "speex"}

PathOrBytes = str | os.PathLike | bytes | bytearray


# --------------------------------------------------------------------------------------------
# decoding
# --------------------------------------------------------------------------------------------
def _looks_like_audio(head: bytes) -> bool:
    """Magic-number sniffing, to tell 'damaged audio' from 'not audio at all'."""
    if head[:4] in (b"RIFF", b"RIFX", b"RF64", b"fLaC", b"OggS", b"FORM", b"caff", b".snd"):
        return True
    if head[:3] == b"ID3" or head[4:8] == b"ftyp" or head[:4] == b"\x1a\x45\xdf\xa3":
        return True
    # MPEG audio frame sync (mp3) or ADTS (aac)
    return len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0


def _wav_declared_data_bytes(raw: bytes) -> int | None:
    """Bytes of sample data a RIFF/WAVE header promises, or None when it is not a plain WAV."""
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        return None
    pos = 12
    while pos + 8 <= len(raw):
        chunk_id, size = raw[pos : pos + 4], struct.unpack("<I", raw[pos + 4 : pos + 8])[0]
        if chunk_id == b"data":
            # 0 and 0xFFFFFFFF are used by streaming writers for "unknown length".
            return None if size in (0, 0xFFFFFFFF) else size
        pos += 8 + size + (size & 1)
    return None


def _decode_torchcodec(source: bytes, stream_index: int | None = None) -> tuple[torch.Tensor, int]:
    from torchcodec.decoders import AudioDecoder

    samples = AudioDecoder(source, stream_index=stream_index).get_all_samples()
    return samples.data.to(torch.float32), int(samples.sample_rate)


def _decode_soundfile(source: bytes, stream_index: int | None = None) -> tuple[torch.Tensor, int]:
    import soundfile as sf

    data, rate = sf.read(io.BytesIO(source), dtype="float32", always_2d=True)
    return torch.from_numpy(np.ascontiguousarray(data.T)), int(rate)


def _expected_frames_soundfile(source: bytes) -> int | None:
    import soundfile as sf

    try:
        info = sf.info(io.BytesIO(source))
    except Exception:  # noqa: BLE001  (any failure means "length unknown", never an error)
        return None
    return int(info.frames) if info.frames and info.frames > 0 else None


def pcm_to_float(data: torch.Tensor) -> torch.Tensor:
    """Samples as float32 in [-1, 1): integer PCM (int16 from soundfile, scipy or a sound card;
    unsigned 8-bit) is full scale at its type's range, not at 1.0; floats pass unchanged."""
    if not data.is_floating_point() and data.dtype != torch.bool:
        top = torch.iinfo(data.dtype).max + 1
        data = (data.double() - top / 2) / (top / 2) if torch.iinfo(data.dtype).min == 0 else data.double() / top
    return data.to(torch.float32)


def dataset_mono_16k(item) -> torch.Tensor:
    """An item of a datasets ``Audio`` column (see :func:`dataset_audio`) as 16 kHz mono (T,), the
    form the speaker encoder and the quality metric score."""
    wave, rate = dataset_audio(item)
    return resample(wave.mean(0), rate, 16000)


def dataset_audio(item) -> tuple[torch.Tensor, int] | None:
    """(C, T) float32 samples and rate of an item of a datasets ``Audio`` column; None for anything else.

    datasets >= 4 decodes an Audio column to torchcodec ``AudioDecoder`` objects, not arrays
    (already at the column's rate when ``Audio(sampling_rate=...)`` names one)."""
    if not hasattr(item, "get_all_samples"):
        return None
    samples = item.get_all_samples()
    return samples.data.float(), int(samples.sample_rate)


def load_audio(
    source: PathOrBytes,
    sampling_rate: int | None = DEFAULT_SAMPLING_RATE,
    mono: bool = True,
    stream_index: int | None = None,
) -> tuple[torch.Tensor, int]:
    """Read an audio file (or its bytes) into a float32 tensor.

    Args:
        source: a path or the encoded bytes of a file.
        sampling_rate: resample to this rate (torchaudio); ``None`` keeps the file's rate.
        mono: average the channels.
        stream_index: FFmpeg's index of the sound track to read (see
            :func:`msar_hf.recording_io.sound_track_index`); None = FFmpeg's "best" track.

    Returns:
        ``(waveform, rate)`` with ``waveform`` of shape ``(T,)`` when ``mono`` else ``(C, T)``,
        values in [-1, 1] for integer formats.

    Raises:
        AudioError subclasses naming the file and the problem.
    """
    name, raw = _read_source(source)
    if not raw:
        raise EmptyAudioFileError(name, "file is empty (0 bytes)")
    looks_audio = _looks_like_audio(raw[:16])

    waveform, rate, errors = None, None, []
    # libsndfile reads a file's one track: not the one asked for in a container of several
    decoders = (_decode_torchcodec, _decode_soundfile) if not stream_index else (_decode_torchcodec,)
    for decode in decoders:
        try:
            waveform, rate = decode(raw, stream_index)
            break
        except Exception as exc:  # noqa: BLE001  (each backend raises its own types; we classify below)
            errors.append(f"{decode.__name__.removeprefix('_decode_')}: {exc}".splitlines()[0])
    if waveform is None:
        if errors and "best audio stream is unknown" in errors[0]:  # FFmpeg opened it: a video without sound
            raise NoSamplesError(name, "has no audio track (a video without sound?)")
        if looks_audio:
            raise CorruptAudioError(name, "cannot be decoded, the file is damaged or truncated ("
                                    + "; ".join(errors)[:300] + ")")
        raise NotAudioError(name, "not an audio file (no known audio header, no decoder accepts it)")

    if waveform.ndim != 2 or waveform.shape[-1] == 0:
        raise NoSamplesError(name, "contains no audio samples")
    declared = _wav_declared_data_bytes(raw)
    if declared is not None and declared > len(raw):
        raise CorruptAudioError(
            name, f"truncated: the header declares {declared} bytes of audio but the file holds {len(raw)}"
        )
    # libsndfile counts an Ogg's first stream: not the length of another track asked for
    expected = _expected_frames_soundfile(raw) if declared is None and not stream_index else None
    if expected is not None and waveform.shape[-1] < 0.99 * expected:
        raise CorruptAudioError(
            name, f"truncated: decoded {waveform.shape[-1]} of the {expected} samples the header declares"
        )
    if not torch.isfinite(waveform).all():
        bad = int((~torch.isfinite(waveform)).sum())
        raise NonFiniteSamplesError(name, f"contains {bad} NaN/Inf samples")

    if mono:
        waveform = waveform.mean(dim=0)
    if sampling_rate is not None and rate != sampling_rate:
        waveform = resample(waveform, rate, sampling_rate)
        rate = sampling_rate
    return waveform.contiguous(), rate


def resample(waveform: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """Band-limited resampling (torchaudio's windowed sinc, Kaiser window, default width).

    Not the flattest filter (48 -> 16 kHz: -2.9 dB at 7 kHz, -9 dB aliasing from 8.5 kHz), but the
    one the shipped repair model's 8 kHz training speech went through: libsoxr and a 64-crossing
    Kaiser cost 8 kHz input 0.09 PESQ-WB on the repair path (benchmarks/bench_resampler.py).
    """
    if orig_rate == new_rate:
        return waveform
    import torchaudio.functional as AF

    return AF.resample(waveform, orig_rate, new_rate, resampling_method="sinc_interp_kaiser")


def _read_source(source: PathOrBytes) -> tuple[str, bytes]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>", bytes(source)
    path = Path(source)
    if not path.exists():
        raise AudioFileNotFoundError(path, "no such file")
    if path.is_dir():
        raise AudioError(path, "is a folder, not an audio file")
    try:
        return str(path), path.read_bytes()
    except PermissionError as exc:
        raise AudioError(path, f"cannot be read ({exc.strerror})") from exc


# --------------------------------------------------------------------------------------------
# encoding
# --------------------------------------------------------------------------------------------
def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


# libvorbis (libsndfile's OGG writer) overflows the stack on one large write (libsndfile#1095,
# python-soundfile#426: a segfault above ~2 M frames here, 44 s at 48 kHz), so every soundfile
# write goes in blocks; 2^18 frames is 5.5 s at 48 kHz.
WRITE_BLOCK_FRAMES = 1 << 18


def write_blocks(handle, data: torch.Tensor) -> None:
    """Write (C, T) float samples to an open ``soundfile.SoundFile`` in bounded blocks."""
    for start in range(0, data.shape[-1], WRITE_BLOCK_FRAMES):
        handle.write(data[:, start:start + WRITE_BLOCK_FRAMES].T.contiguous().numpy())


def usual_mode(path: Path) -> None:
    """Give a finished output the permissions a plain ``open()`` / ``mkdir()`` would under the
    umask: ``mkstemp`` makes 0600 files and ``mkdtemp`` 0700 folders, which other users and
    containers could not read once renamed into place."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~umask)


def file_in_the_way(path: str | os.PathLike) -> Path | None:
    """The file standing where one of ``path``'s folders must be (``notes.txt`` for
    ``notes.txt/out.wav``), or None. Checked before the work: mkdir finds it only when the output is
    written, and says no more than "File exists" or "Not a directory"."""
    blocker = next((parent for parent in Path(path).parents if parent.exists()), None)
    return blocker if blocker is not None and not blocker.is_dir() else None


def temp_beside(path: Path, suffix: str) -> Path:
    """An empty hidden temporary file next to ``path`` (same file system: os.replace is atomic).

    mkstemp's descriptor is closed here: the callers reopen the file by name, and a descriptor
    kept per file ran a folder of long files out of them."""
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(name)


@contextmanager
def writing_errors(path: str | os.PathLike) -> Iterator[None]:
    """Raise what the system refuses while ``path`` is written (a full disk, a read-only folder, no
    permission, a file-size limit) as an :class:`AudioError` naming it: a folder run reports that
    file and goes on, where a bare OSError or libsndfile's "System error." stopped it with a traceback."""
    try:
        yield
    except AudioError:
        raise
    except OSError as exc:
        raise AudioError(path, f"cannot be written ({exc.strerror or exc})") from exc
    except RuntimeError as exc:
        import soundfile as sf

        if not isinstance(exc, sf.LibsndfileError):
            raise
        # libsndfile says "System error." (SF_ERR_SYSTEM, 2) whatever the system said; the C errno of
        # its failed call is still in cffi's errno (soundfile's private _ffi: absent, the message stays)
        code = getattr(getattr(sf, "_ffi", None), "errno", 0) if exc.code == 2 else 0
        why = os.strerror(code) if code else exc.error_string
        raise AudioError(path, f"cannot be written ({why})") from exc


# What the system says when it refuses a write, as FFmpeg passes it on in its own message
_SYSTEM_WRITE_ERRORS = tuple(os.strerror(code) for code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES))


def system_write_failure(message: str) -> str | None:
    """The system's reason (e.g. "No space left on device") inside an encoder's error message, if any:
    a full disk during an .m4a write read "cannot encode '.m4a' at 44100 Hz ... choose another rate"."""
    return next((reason for reason in _SYSTEM_WRITE_ERRORS if reason.lower() in message.lower()), None)


def encoder_refusal(suffix: str, sampling_rate: int, exc: Exception) -> str:
    """One line for an FFmpeg encoder's refusal, with the rates (or channel counts) it supports when it says them."""
    text = " ".join(str(exc).split())
    # a channel count the encoder cannot take (mp3: 1 or 2) is not the rate's fault: say which
    channels = re.search(r"number of channels \((\d+)\) is not supported.*?are:\s*([\d,\s]+)", text, re.IGNORECASE)
    if channels:
        return (f"cannot encode '{suffix}' with {channels.group(1)} channels "
                f"(supported: {channels.group(2).strip(' ,')}); choose another format")
    rates = re.search(r"supported sample rate values are:\s*([\d,\s]+)", text, re.IGNORECASE)
    why = f"supported: {rates.group(1).strip(' ,')}" if rates else (text or type(exc).__name__)
    return f"cannot encode '{suffix}' at {sampling_rate} Hz ({why}); choose another rate (--output-rate) or format"


# the rates FFmpeg's encoders take where they do not take any: Opus's five, MPEG audio's nine, AAC's
_AAC_RATES = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
_ENCODER_RATES = {".opus": (8000, 12000, 16000, 24000, 48000),
                  ".mp3": (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000),
                  ".m4a": _AAC_RATES, ".aac": _AAC_RATES}


def encodable_rate(path: str | os.PathLike, sampling_rate: int) -> int:
    """``sampling_rate`` where ``path``'s format holds it, else the next rate up it does (its highest
    above them all): a 44.1 kHz recording repaired into .opus is written at 48 kHz, the rate every
    Opus decoder plays at, instead of the run failing."""
    rates = _ENCODER_RATES.get(Path(path).suffix.lower())
    if not rates or sampling_rate in rates:
        return int(sampling_rate)
    return next((r for r in rates if r >= sampling_rate), rates[-1])


def check_encodable(path: str | os.PathLike, sampling_rate: int, channels: int = 1) -> None:
    """Raise :class:`UnsupportedFormatError` now if ``path``'s format cannot be written at
    ``sampling_rate`` with ``channels`` (FFmpeg's encoders take fixed rates: opus 8-48 kHz steps, mp3
    up to 48 kHz; mp3 one or two channels), so a long job fails before its work, not after. Encodes
    a few silent samples to find out."""
    suffix = Path(path).suffix.lower()
    if suffix not in _FFMPEG_WRITE:
        return  # libsndfile formats take any rate
    from torchcodec.encoders import AudioEncoder

    with tempfile.TemporaryDirectory(prefix="msar_probe_") as folder:
        try:
            AudioEncoder(torch.zeros(int(channels), 2048), sample_rate=int(sampling_rate)).to_file(str(Path(folder) / f"p{suffix}"))
        except RuntimeError as exc:
            raise UnsupportedFormatError(Path(path), encoder_refusal(suffix, sampling_rate, exc)) from exc


def lossy_bit_rate(path: str | os.PathLike, stream_index: int | None = None) -> int | None:
    """The bit rate (bit/s) of a lossy-coded file (mp3, AAC, Vorbis...); None for PCM, lossless, or
    when the container does not say (Ogg Opus does not). ``stream_index``: the sound track (FFmpeg's
    index; None = its best)."""
    try:
        from torchcodec.decoders import AudioDecoder

        # "file:": FFmpeg reads "10:30 talk.mp3" as a URL of protocol "10" (the bit rate was lost)
        metadata = AudioDecoder(f"file:{path}", stream_index=stream_index).metadata
    except Exception:  # noqa: BLE001  (not decodable by FFmpeg: soundfile formats, which are not lossy)
        return None
    rate = metadata.bit_rate
    return int(rate) if (metadata.codec or "") in _LOSSY_CODECS and rate and rate > 0 else None


def save_audio(
    path: str | os.PathLike,
    waveform: torch.Tensor | np.ndarray,
    sampling_rate: int,
    *,
    inputs: Iterable[str | os.PathLike] = (),
    subtype: str | None = None,
    bit_rate: int | None = None,
    metadata: CarriedMetadata | None = None,
) -> Path:
    """Write ``waveform`` ((T,) or (C, T)) to ``path`` atomically.

    The format follows the extension. ``inputs`` lists the files this audio was computed from:
    writing over any of them raises :class:`OverwriteInputError`, so inputs are never lost.
    Integer formats are clipped to [-1, 1]. ``bit_rate`` (mp3, m4a, aac, opus) defaults to
    :data:`MIN_LOSSY_BIT_RATE`. ``metadata``: what the file keeps of an input beside
    its samples (:class:`msar_hf.metadata.CarriedMetadata`: speaker layout, tags, broadcast chunks;
    the FFmpeg-encoded formats get none).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    for src in inputs:
        if _same_file(path, Path(src)) or path.resolve() == Path(src).resolve():
            raise OverwriteInputError(path, "refusing to overwrite an input file; choose another output path")
    if suffix not in SOUNDFILE_FORMATS and suffix not in _FFMPEG_WRITE:
        raise UnsupportedFormatError(path, f"cannot write '{suffix or 'no extension'}' files; "
                                     f"use one of {sorted(set(SOUNDFILE_FORMATS) | _FFMPEG_WRITE)}")
    # integer PCM taken as floats would be clipped to +-1 below (a square wave)
    data = pcm_to_float(torch.as_tensor(waveform).detach().cpu())
    if data.ndim == 1:
        data = data.unsqueeze(0)
    if data.ndim != 2 or data.shape[-1] == 0:
        raise NoSamplesError(path, f"nothing to write (waveform shape {tuple(data.shape)})")
    if data.shape[0] > MAX_CHANNELS:
        # soundfile and most arrays hold (samples, channels): libsndfile would only say "Format not recognised"
        raise AudioError(path, f"waveform shape {tuple(data.shape)} has {data.shape[0]} channels; "
                         "save_audio takes (channels, samples): transpose it")
    if not torch.isfinite(data).all():
        raise NonFiniteSamplesError(path, "refusing to write NaN/Inf samples")

    with writing_errors(path):
        _write_atomically(path, data, sampling_rate, subtype, bit_rate, metadata or CarriedMetadata())
    return path


def _write_atomically(path: Path, data: torch.Tensor, sampling_rate: int, subtype: str | None,
                      bit_rate: int | None, metadata: CarriedMetadata) -> None:
    """save_audio's writing: (C, T) float samples to a temporary file beside ``path``, renamed into place."""
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if suffix in SOUNDFILE_FORMATS:
            import soundfile as sf

            if subtype is None and suffix in (".wav", ".flac", ".aiff", ".aif"):
                subtype = "PCM_16"
            if subtype is None or subtype.startswith("PCM"):
                data = data.clamp(-1.0, 1.0)
            fmt = metadata.soundfile_format(SOUNDFILE_FORMATS[suffix])
            with sf.SoundFile(tmp, "w", samplerate=sampling_rate, channels=data.shape[0], format=fmt, subtype=subtype,
                              **vorbis_options(fmt, subtype)) as out:
                metadata.before_samples(out)
                write_blocks(out, data)
            metadata.after_close(tmp, fmt)
        else:
            from torchcodec.encoders import AudioEncoder

            encoder = AudioEncoder(data.clamp(-1.0, 1.0), sample_rate=sampling_rate)
            try:
                try:
                    encoder.to_file(str(tmp), bit_rate=int(bit_rate or MIN_LOSSY_BIT_RATE))
                except RuntimeError:  # this bit rate refused at this rate: the encoder's own default
                    encoder.to_file(str(tmp))
            except RuntimeError as exc:  # FFmpeg refused: e.g. opus at 44.1 kHz, mp3 at 96 kHz
                if reason := system_write_failure(str(exc)):
                    raise AudioError(path, f"cannot be written ({reason})") from exc
                raise UnsupportedFormatError(path, encoder_refusal(suffix, sampling_rate, exc)) from exc
        usual_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------
# inspection
# --------------------------------------------------------------------------------------------
def _db(x: float) -> float:
    return 20.0 * math.log10(x) if x > 0 else -math.inf


class LevelMeter:
    """Peak and RMS level (dBFS), clipped-sample ratio and silent-frame ratio (10 ms frames of the
    channels' mean) of a recording fed in consecutive blocks ((C, T) or (T,)), so a 3-hour file is
    measured in the memory of one block (``msar info``)."""

    def __init__(self, sampling_rate: int, clip_level: float = 0.999, silence_dbfs: float = -60.0):
        self.hop = max(1, sampling_rate // 100)
        self.clip_level, self.silence_dbfs = clip_level, silence_dbfs
        self.peak, self.sum_squares, self.samples, self.clipped = 0.0, 0.0, 0, 0
        self.frames, self.silent_frames = 0, 0
        self.rest = torch.zeros(0, dtype=torch.float64)  # a frame's start, left over from the last block

    def _silent(self, frames: torch.Tensor) -> int:
        frame_db = 10 * torch.log10(frames.pow(2).mean(-1) + 1e-12)
        return int((frame_db < self.silence_dbfs).sum())

    def update(self, block: torch.Tensor) -> LevelMeter:
        x = (block if block.ndim == 2 else block.unsqueeze(0)).to(torch.float64)
        if x.numel():
            self.peak = max(self.peak, float(x.abs().max()))
        self.sum_squares += float(x.pow(2).sum())
        self.samples += x.numel()
        self.clipped += int((x.abs() >= self.clip_level).sum())
        mono = torch.cat([self.rest, x.mean(0)])
        n = mono.shape[-1] // self.hop
        if n:
            self.silent_frames += self._silent(mono[: n * self.hop].reshape(n, self.hop))
            self.frames += n
        self.rest = mono[n * self.hop:]
        return self

    def result(self) -> dict:
        if self.frames:
            silence = self.silent_frames / self.frames
        else:  # shorter than one 10 ms frame: judged as one frame (it read 100 % silent)
            silence = float(self._silent(self.rest[None])) if self.rest.numel() else 1.0
        rms = math.sqrt(self.sum_squares / self.samples) if self.samples else 0.0
        return {"peak_dbfs": _db(self.peak), "rms_dbfs": _db(rms),
                "clipped_ratio": self.clipped / self.samples if self.samples else 0.0, "silence_ratio": silence}


def level_stats(waveform: torch.Tensor, sampling_rate: int, clip_level: float = 0.999,
                silence_dbfs: float = -60.0) -> dict:
    """Peak and RMS level (dBFS), clipped-sample ratio and silent-frame ratio (10 ms frames)."""
    return LevelMeter(sampling_rate, clip_level, silence_dbfs).update(waveform).result()


def find_audio_files(paths: Iterable[str | os.PathLike], recursive: bool = True, video: bool = False) -> list[Path]:
    """Expand files and folders into a sorted list of audio files (folders searched recursively,
    hidden files and folders skipped; ``video``: video files too, :data:`VIDEO_EXTENSIONS`)."""
    wanted = AUDIO_EXTENSIONS + (VIDEO_EXTENSIONS if video else ())
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            pattern = "**/*" if recursive else "*"
            # hidden files are not recordings: an interrupted run's temporary files, macOS's "._x.wav"
            out.extend(sorted(f for f in p.glob(pattern) if f.is_file() and f.suffix.lower() in wanted
                              and not any(part.startswith(".") for part in f.relative_to(p).parts)))
        else:
            out.append(p)
    # a file given twice, or inside a folder also given, is listed once (in its first place)
    seen: set[Path] = set()
    return [f for f in out if not (f.resolve() in seen or seen.add(f.resolve()))]
