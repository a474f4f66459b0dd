"""The recordings ``msar repair`` reads and writes: sources and sinks.

A source gives a recording's samples window by window: a short file decoded whole
(:class:`ArraySource`), a long one read from disk as it goes (:class:`SoundFileSource`; formats
libsndfile cannot read, m4a/opus/video, are decoded by the ``ffmpeg`` command to a temporary WAV
first, on the same first sample as :func:`msar_hf.audio.load_audio`). A sink takes the repaired
blocks and writes the output atomically (a temporary file beside it, renamed into place):
whole (:class:`ArraySink`, through :func:`msar_hf.audio.save_audio`), streamed by libsndfile
(:class:`SoundFileSink`) or encoded by the ``ffmpeg`` command (:class:`FFmpegSink`). Outputs keep
what the input carries that the format can hold: bit depth, and :mod:`msar_hf.metadata` (speaker
layout, text tags, broadcast chunks).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .audio import (
    MIN_LOSSY_BIT_RATE,
    SOUNDFILE_FORMATS,
    LevelMeter,
    load_audio,
    lossy_bit_rate,
    save_audio,
    system_write_failure,
    temp_beside,
    usual_mode,
    vorbis_options,
    write_blocks,
)
from .errors import AudioError, CorruptAudioError, NonFiniteSamplesError, UnsupportedFormatError
from .loudness import LoudnessMeter
from .metadata import CarriedMetadata, cover_art_arguments

# Recordings longer than this are streamed from disk instead of loaded whole.
STREAM_ABOVE_SECONDS = 120.0


class ArraySource:
    def __init__(self, waveform: torch.Tensor, rate: int, subtype: str | None):
        self.waveform, self.rate, self.subtype = waveform, rate, subtype
        self.channels, self.frames = waveform.shape

    def read(self, start: int, stop: int) -> torch.Tensor:
        return self.waveform[:, start:stop]

    def close(self) -> None:
        pass


class SoundFileSource:
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


def _ffmpeg_decoded(path: Path, scratch_dir: Path | None = None,
                    stream_index: int | None = None) -> tuple[Path, int] | None:
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

        metadata = AudioDecoder(_ffmpeg_file(path), stream_index=stream_index).metadata
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
        offset = None if failed else 0 if header_seconds else _start_offset(path, decoded, metadata.stream_index)
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


def _start_offset(path: Path, decoded: Path, stream_index: int | None = None) -> int | None:
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
            head = AudioDecoder(_ffmpeg_file(path), stream_index=stream_index).get_samples_played_in_range(
                0.0, seconds).data.numpy()
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


def open_source(path: Path, scratch_dir: Path | None = None,
                stream_index: int | None = None) -> ArraySource | SoundFileSource:
    """Long files are streamed (soundfile's formats directly, the rest through a temporary WAV);
    everything else goes through load_audio. ``stream_index``: the sound track to read (FFmpeg's
    index, :func:`sound_track_index`); None = FFmpeg's best."""
    import soundfile as sf

    try:
        if stream_index:  # a second track: a container of several, which libsndfile reads only the first of
            raise ValueError("not the first track: decoded by FFmpeg")
        info = sf.info(str(path))
        if info.subtype == "OPUS" and shutil.which("ffmpeg"):
            # libsndfile decodes Opus at the rate its header names for the source (16 kHz, say),
            # FFmpeg (load_audio, short files) at 48 kHz: a long opus came out at another rate.
            # (Without the ffmpeg command libsndfile still streams it: memory first.)
            raise ValueError("Opus: decoded by FFmpeg, as load_audio does")
        if info.frames > STREAM_ABOVE_SECONDS * info.samplerate and path.stat().st_size > 0:
            return SoundFileSource(path, sf.SoundFile(str(path)))
        subtype = info.subtype
    except Exception:  # noqa: BLE001  (not readable by libsndfile, e.g. m4a/opus, or broken: load_audio decides)
        subtype = None
        found = _ffmpeg_decoded(path, scratch_dir, stream_index)
        if found is not None:
            decoded, offset = found
            try:
                return SoundFileSource(path, sf.SoundFile(str(decoded)), decoded=decoded, offset=offset)
            except Exception:
                decoded.unlink(missing_ok=True)
                raise
    waveform, rate = load_audio(path, sampling_rate=None, mono=False, stream_index=stream_index)
    return ArraySource(waveform, rate, subtype)


@dataclass
class SoundTrack:
    """One sound track of a file, as ``msar info`` lists it and ``--audio-track`` counts it."""

    number: int  # from 1, in the file's order of sound tracks
    stream_index: int  # FFmpeg's index among all the file's streams
    codec: str
    channels: int
    sampling_rate: int
    language: str | None = None
    title: str | None = None
    default: bool = False

    def describe(self) -> str:
        """``"fra 'Director', aac, 2 ch, 48000 Hz, default"``"""
        words = [" ".join([*([self.language] if self.language else []), *([repr(self.title)] if self.title else [])]),
                 self.codec, f"{self.channels} ch", f"{self.sampling_rate} Hz", *(["default"] if self.default else [])]
        return ", ".join(w for w in words if w)


def sound_tracks(path: str | os.PathLike) -> list[SoundTrack] | None:
    """The sound tracks of ``path`` in the file's order (ffprobe); None where there is no ffprobe
    command or FFmpeg cannot read the file (a format only libsndfile reads: one track)."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return None
    entries = "stream=index,codec_name,channels,sample_rate:stream_tags=language,title:stream_disposition=default"
    done = subprocess.run([ffprobe, "-v", "error", "-select_streams", "a", "-show_entries", entries,
                           "-of", "json", _ffmpeg_file(Path(path))],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return None
    tracks = []
    for number, stream in enumerate(json.loads(done.stdout or "{}").get("streams", []), start=1):
        tags = {k.lower(): v for k, v in stream.get("tags", {}).items()}
        language = tags.get("language")
        tracks.append(SoundTrack(number, int(stream["index"]), stream.get("codec_name", "unknown"),
                                 int(stream.get("channels") or 0), int(stream.get("sample_rate") or 0),
                                 None if language in (None, "und") else language, tags.get("title"),
                                 bool(stream.get("disposition", {}).get("default"))))
    return tracks


def best_stream_index(path: str | os.PathLike) -> int | None:
    """FFmpeg's index of the track msar reads when none is asked for (FFmpeg's "best"); None when
    FFmpeg decodes no sound from ``path``."""
    try:
        from torchcodec.decoders import AudioDecoder

        return int(AudioDecoder(_ffmpeg_file(Path(path))).metadata.stream_index)
    except Exception:  # noqa: BLE001  (no sound FFmpeg decodes: the reader says why)
        return None


def chosen_stream_index(path: str | os.PathLike, number: int | None,
                        tracks: list[SoundTrack] | None = None) -> int | None:
    """The stream index every reader of ``path`` is given: track ``number`` (from 1) when asked for;
    else, in a file of several sound tracks, FFmpeg's best named explicitly (libsndfile would stream
    an Ogg's first while FFmpeg decodes its best); else None. ``tracks``: :func:`sound_tracks` of
    ``path`` when already listed."""
    tracks = sound_tracks(path) if tracks is None else tracks
    if number is not None:
        return sound_track_index(path, number, tracks)
    return best_stream_index(path) if tracks and len(tracks) > 1 else None


def sound_track_index(path: str | os.PathLike, number: int | None,
                      tracks: list[SoundTrack] | None = None) -> int | None:
    """FFmpeg's stream index of sound track ``number`` (from 1) of ``path``, for ``--audio-track``;
    None for ``number`` None (FFmpeg's best track, as everywhere in msar) or for track 1 of a file
    FFmpeg cannot list (libsndfile's formats hold one track). Raises AudioError naming the file when
    it has no such track. ``tracks``: :func:`sound_tracks` of ``path`` when already listed (one
    ffprobe run per file, not two)."""
    if number is None:
        return None
    tracks = sound_tracks(path) if tracks is None else tracks
    if tracks is None:
        if number == 1:
            return None
        raise AudioError(Path(path), f"--audio-track {number}: its sound tracks cannot be listed "
                                     "(no ffprobe command, or FFmpeg cannot read the file)")
    if number > len(tracks):
        have = "no sound track" if not tracks else f"{len(tracks)} sound track{'s' if len(tracks) > 1 else ''}"
        raise AudioError(Path(path), f"has {have}: there is no track {number} (--audio-track)")
    return tracks[number - 1].stream_index


@dataclass
class AudioInfo:
    path: str
    format: str
    sampling_rate: int
    channels: int
    duration_s: float
    encoding: str  # the sample encoding: PCM_16, PCM_24, FLOAT, VORBIS, MPEG_LAYER_III, fltp...
    bit_rate_kbps: float | None  # lossy codecs only (mp3, AAC, Vorbis, Opus) when the file says
    peak_dbfs: float
    rms_dbfs: float
    clipped_ratio: float
    loudness_lufs: float  # integrated loudness, ITU-R BS.1770 (-inf: silent or under 0.4 s)
    silence_ratio: float
    sound_tracks: list[dict] = field(default_factory=list)  # SoundTrack's fields, one per track (ffprobe's)
    audio_track: int | None = 1  # the track measured, from 1 (None: not one ffprobe lists)

    def to_dict(self) -> dict:
        return asdict(self)


INFO_BLOCK_SECONDS = 30.0


def audio_info(path: str | os.PathLike, audio_track: int | None = None) -> AudioInfo:
    """Format, rate, channels, duration, levels, clipping and silence of one file (of its sound track
    ``audio_track``, from 1; None = FFmpeg's best), measured block by block from :func:`open_source`
    (a 3-hour 48 kHz stereo file was loaded whole: 4 GB), and the list of its sound tracks."""
    path = Path(path)
    fmt, depth = path.suffix.lower().lstrip(".") or "unknown", "unknown"
    listed = sound_tracks(path)  # None: not listable (no ffprobe, a format only libsndfile reads)
    tracks = listed or []
    stream_index = chosen_stream_index(path, audio_track, listed)
    source = open_source(path, stream_index=stream_index)
    try:
        meter, loudness = LevelMeter(source.rate), LoudnessMeter(source.rate, source.channels)
        step = max(1, int(INFO_BLOCK_SECONDS * source.rate))
        for start in range(0, source.frames, step):
            block = source.read(start, min(start + step, source.frames))
            meter.update(block)
            loudness.update(block)
        rate, channels, frames = source.rate, source.channels, source.frames
    finally:
        source.close()
    try:
        import soundfile as sf

        if stream_index:
            raise ValueError("not the first track: FFmpeg's")
        info = sf.info(str(path))
        fmt, depth = info.format.lower(), info.subtype
    except Exception:  # noqa: BLE001  (soundfile cannot read it: ask torchcodec)
        try:
            from torchcodec.decoders import AudioDecoder

            meta = AudioDecoder(_ffmpeg_file(path), stream_index=stream_index).metadata
            fmt = (meta.codec or fmt)
            depth = str(getattr(meta, "sample_format", None) or "unknown")
        except Exception:  # noqa: BLE001, S110  (format stays "unknown": info is best effort)
            pass
    lossy = lossy_bit_rate(path, stream_index)
    index = stream_index  # in a file of several tracks, chosen_stream_index named one: never None there
    return AudioInfo(
        path=str(path), format=fmt, sampling_rate=rate, channels=channels, duration_s=frames / rate,
        encoding=depth, bit_rate_kbps=None if lossy is None else lossy / 1000, **meter.result(),
        loudness_lufs=loudness.result(), sound_tracks=[asdict(t) for t in tracks],
        audio_track=next((t.number for t in tracks if t.stream_index == index), 1 if len(tracks) <= 1 else None),
    )


class ArraySink:
    """Collects a short output in memory; save_audio writes it atomically on commit."""

    def __init__(self, path: Path, channels: int, frames: int, rate: int, inputs: Sequence[Path], subtype: str | None,
                 bit_rate: int | None = None, metadata: CarriedMetadata | None = None):
        self.path, self.rate, self.inputs, self.subtype, self.bit_rate = path, rate, inputs, subtype, bit_rate
        self.metadata = metadata
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
                   metadata=self.metadata)

    def abort(self) -> None:
        pass


class SoundFileSink:
    """Writes blocks to a temporary file beside the target, renamed into place on commit."""

    def __init__(self, path: Path, channels: int, rate: int, subtype: str | None, metadata: CarriedMetadata | None = None):
        import soundfile as sf

        self.path, self.metadata = path, metadata or CarriedMetadata()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        fmt = self.metadata.soundfile_format(SOUNDFILE_FORMATS[path.suffix.lower()])
        if subtype is None and fmt != "OGG":
            subtype = "PCM_16"
        self.pcm = subtype is not None and subtype.startswith("PCM")
        usual_mode(tmp)
        self.handle = sf.SoundFile(tmp, "w", samplerate=rate, channels=channels, format=fmt, subtype=subtype,
                                   **vorbis_options(fmt, subtype))
        self.metadata.before_samples(self.handle)

    def write(self, block: torch.Tensor) -> None:
        if self.pcm:
            block = block.clamp(-1.0, 1.0)
        write_blocks(self.handle, block)

    def commit(self) -> None:
        self.handle.close()
        self.metadata.after_close(self.tmp, self.handle.format)
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.handle.close()
        self.tmp.unlink(missing_ok=True)


class FFmpegSink:
    """A long lossy output (mp3, m4a, opus, aac): blocks go to a temporary float WAV beside the
    target, which the ``ffmpeg`` command encodes on commit (to a temporary name, then renamed).

    Why: save_audio encodes from one array, so a long output was held whole in memory; the command
    reads the WAV as it encodes. Same encoders and bit rate as save_audio: the decoded samples of
    the two are identical (tested)."""

    def __init__(self, path: Path, channels: int, rate: int, bit_rate: int | None, ffmpeg: str,
                 metadata: CarriedMetadata | None = None):
        import soundfile as sf

        self.path, self.bit_rate, self.ffmpeg = path, bit_rate, ffmpeg
        self.tags = metadata.ffmpeg_tags if metadata is not None else {}
        self.cover = metadata.cover if metadata is not None else None
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
        # the input's tags (ID3, mp4 atoms, Vorbis comments...), written by FFmpeg in the output's kind;
        # named one by one, not -map_metadata from the input: that took its container's fields too
        tags = [arg for key, value in self.tags.items() for arg in ("-metadata", f"{key}={value}")]
        try:
            # save_audio's bit-rate fallback too; and without the cover art if the container refuses its kind
            covers = [cover_art_arguments(self.cover), []] if self.cover is not None else [[]]
            for cover, bit_rate in itertools.product(covers, ([f"{int(self.bit_rate or MIN_LOSSY_BIT_RATE)}"], [])):
                done = subprocess.run([self.ffmpeg, "-nostdin", "-v", "error", "-y", "-i", _ffmpeg_file(self.tmp_wav),
                                       *cover, *tags, *(["-b:a", *bit_rate] if bit_rate else []), _ffmpeg_file(encoded)],
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


def output_subtype(source_subtype: str | None, output: Path) -> str | None:
    """Keep the input's bit depth when the output format can hold it (24-bit stays 24-bit)."""
    fmt = SOUNDFILE_FORMATS.get(output.suffix.lower())
    if source_subtype is None or fmt is None:
        return None
    allowed = {"WAV": {"PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"}, "AIFF": {"PCM_16", "PCM_24", "PCM_32", "FLOAT"},
               "FLAC": {"PCM_16", "PCM_24"}, "OGG": set()}[fmt]
    if fmt == "FLAC" and source_subtype in ("PCM_32", "FLOAT", "DOUBLE"):
        return "PCM_24"  # FLAC's deepest: 32-bit or float input was written as 16-bit
    return source_subtype if source_subtype in allowed else None
