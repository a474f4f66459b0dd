"""What a recording carries beside its samples, and how a repaired copy keeps it.

An archive's files hold more than audio: a speaker layout (a WAVE_FORMAT_EXTENSIBLE header's
channel mask: 5.1 must stay 5.1), text tags (title, artist, date, comment: the catalogue data) and,
in broadcast WAVs, the EBU ``bext`` chunk (origination, time reference, coding history) and its
companions (iXML, cart, axml). :class:`CarriedMetadata` reads them from an input and writes them
into an output: tags through libsndfile (or the ``ffmpeg`` command, for mp3/m4a/opus outputs), the
layout and the chunks into the WAV header and body, which libsndfile cannot write (it writes a
default layout per channel count, and no ``bext`` that soundfile can reach), hence the few lines of
RIFF handling here. A podcast's cover art (an attached picture: ID3 APIC, an mp4 ``covr`` atom, a
FLAC PICTURE block) goes into mp3, m4a and FLAC outputs through the ``ffmpeg`` command, which copies
the picture's bytes; WAV, AIFF and Ogg outputs have no place FFmpeg writes one.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# RIFF chunks copied from a WAV input into a WAV output: broadcast metadata (EBU Tech 3285 bext,
# iXML, AES46 cart, axml). Each at most MAX_CHUNK_BYTES; others (a sampler's, a DAW's) are left out.
CARRIED_WAV_CHUNKS = (b"bext", b"iXML", b"cart", b"axml")
MAX_CHUNK_BYTES = 1 << 20
# bext: Description 256 + Originator 32 + OriginatorReference 32 + OriginationDate 10 +
# OriginationTime 8 bytes, then TimeReference (uint64, samples since midnight at the file's rate)
_BEXT_TIME_REFERENCE = 338


def wav_format(fmt: str, channel_mask: int | None) -> str:
    """libsndfile's format for a WAV output that must carry a speaker layout: WAVE_FORMAT_EXTENSIBLE.

    Why: a 5.1 recording written as a plain WAV lost its layout (players and editors then guess)."""
    return "WAVEX" if fmt == "WAV" and channel_mask is not None else fmt


def _channel_mask_offset(path: str | os.PathLike) -> int | None:
    """Where the dwChannelMask of a WAVE_FORMAT_EXTENSIBLE file lies (its fmt chunk found wherever
    it stands: after a large iXML or JUNK, past the first kilobytes), or None for any other file."""
    with open(path, "rb") as handle:
        for chunk_id, offset, size in _riff_chunks(path):
            if chunk_id == b"fmt ":
                handle.seek(offset)
                return offset + 20 if size >= 24 and handle.read(2) == b"\xfe\xff" else None
    return None


def wav_channel_mask(path: str | os.PathLike) -> int | None:
    """The speaker layout (dwChannelMask: 0x3F is 5.1, 0x60F 5.1 with side speakers) that a
    WAVE_FORMAT_EXTENSIBLE file declares; None for other files."""
    at = _channel_mask_offset(path)
    if at is None:
        return None
    with open(path, "rb") as handle:
        handle.seek(at)
        return struct.unpack("<I", handle.read(4))[0]


def set_wav_channel_mask(path: str | os.PathLike, mask: int) -> None:
    """Write ``mask`` into the header of a WAVE_FORMAT_EXTENSIBLE file (libsndfile writes a default
    layout for the channel count, and none for 3, 5 or 7 channels)."""
    at = _channel_mask_offset(path)
    if at is None:
        raise ValueError(f"{path}: not a WAVE_FORMAT_EXTENSIBLE file")
    with open(path, "r+b") as handle:
        handle.seek(at)
        handle.write(struct.pack("<I", mask))


def audio_tags(path: str | os.PathLike, stream_index: int | None = None) -> dict[str, str]:
    """The text tags libsndfile reads from a file (title, artist, album, date, comment, copyright,
    ...: WAV LIST/INFO, FLAC and Ogg comments, AIFF, mp3); {} for a file it reads none from. A format
    libsndfile does not open (m4a, a video's sound) gives the tags FFmpeg reads that libsndfile has a
    field for: an m4a's title was lost in a WAV or FLAC output. ``stream_index``: the sound track
    repaired (FFmpeg's index): past the first, FFmpeg reads its tags (libsndfile reads an Ogg's first)."""
    import soundfile as sf

    try:
        if stream_index:
            raise RuntimeError("not the first track: FFmpeg's tags")
        with sf.SoundFile(path) as handle:
            tags = {key: value for key, value in handle.copy_metadata().items() if value}
    except (RuntimeError, OSError):  # a format libsndfile does not open (m4a, opus in mp4...)
        found = {_FFMPEG_TO_SOUNDFILE.get(key.lower(), key.lower()): value
                 for key, value in container_tags(path, stream_index).items()}
        return {key: value for key, value in found.items() if key in _SOUNDFILE_TAGS}
    return _with_info_text(tags, path, _INFO_SOUNDFILE_KEYS)


# the tags libsndfile writes (soundfile's names), and FFmpeg's names for those it names otherwise
_SOUNDFILE_TAGS = ("title", "copyright", "software", "artist", "comment", "date", "album", "license",
                   "tracknumber", "genre")
_FFMPEG_TO_SOUNDFILE = {"track": "tracknumber"}


# A WAV's LIST/INFO fields and the names libsndfile (soundfile) and FFmpeg give them
_INFO_SOUNDFILE_KEYS = {b"INAM": "title", b"IART": "artist", b"ICMT": "comment", b"ICRD": "date", b"ICOP": "copyright",
                        b"IPRD": "album", b"IGNR": "genre", b"ITRK": "tracknumber", b"ISFT": "software"}
_INFO_FFMPEG_KEYS = {**_INFO_SOUNDFILE_KEYS, b"ITRK": "track", b"ISFT": "encoder"}


def _riff_info_text(path: str | os.PathLike) -> dict[bytes, str]:
    """A WAV's LIST/INFO fields as text: UTF-8 where they are that, else Windows-1252, what the
    Windows tools that wrote most such WAVs used (libsndfile and FFmpeg read every field as UTF-8,
    and "Café" came out "Caf\ufffd": the output then carried the broken title)."""
    fields: dict[bytes, str] = {}
    with open(path, "rb") as handle:
        for chunk_id, offset, size in _riff_chunks(path):
            handle.seek(offset)
            if chunk_id != b"LIST" or size > MAX_CHUNK_BYTES or handle.read(4) != b"INFO":
                continue
            body, pos = handle.read(size - 4), 0
            while pos + 8 <= len(body):
                field_id, length = struct.unpack("<4sI", body[pos : pos + 8])
                raw = body[pos + 8 : pos + 8 + length].split(b"\0", 1)[0]
                try:
                    fields[field_id] = raw.decode("utf-8")
                except UnicodeDecodeError:
                    fields[field_id] = raw.decode("cp1252", errors="replace")
                pos += 8 + length + (length & 1)
    return fields


def _with_info_text(tags: dict[str, str], path: str | os.PathLike, names: dict[bytes, str]) -> dict[str, str]:
    """``tags`` with the values a reader broke (U+FFFD) taken from the WAV's own INFO text."""
    if not any("\ufffd" in value for value in tags.values()):
        return tags
    fixed = {names[field_id]: text for field_id, text in _riff_info_text(path).items() if field_id in names}
    return {key: fixed.get(key, value) if "\ufffd" in value else value for key, value in tags.items()}


def set_tags(handle, tags: dict[str, str] | None) -> None:
    """Write ``tags`` (see :func:`audio_tags`) into a ``soundfile.SoundFile`` opened for writing,
    before its first samples (FLAC and Ogg put them in the header). A tag the format has no field
    for is left out rather than failing the file: AIFF has no date, for one."""
    for key, value in (tags or {}).items():
        try:
            setattr(handle, key, value)
        except RuntimeError:
            pass


def _riff_chunks(path: str | os.PathLike) -> list[tuple[bytes, int, int]]:
    """(id, offset of the payload, size) of each top-level chunk of a RIFF (or RF64/BW64) WAVE
    file; [] for anything else. An RF64 data chunk's size is its ds64 chunk's 64-bit one.

    Why RF64: a recorder or DAW that writes RF64 (past 4 GB, or always) puts its bext before the
    samples as any broadcast WAV does; such an input lost it in its repaired WAV."""
    with open(path, "rb") as handle:
        head = handle.read(12)
        if head[:4] not in (b"RIFF", b"RF64", b"BW64") or head[8:12] != b"WAVE":
            return []
        # walked to the file's end, not to where its RIFF size says: a recorder that was cut off (or
        # writes it last) leaves 0 or a header's size there, which libsndfile and FFmpeg read past;
        # the bext before the samples was then lost
        end = os.fstat(handle.fileno()).st_size
        chunks, pos, data_size = [], 12, None
        while pos + 8 <= end:
            handle.seek(pos)
            chunk_id, size = struct.unpack("<4sI", handle.read(8))
            if chunk_id == b"ds64" and size >= 16:  # riffSize, dataSize (64-bit), ...
                data_size = struct.unpack("<QQ", handle.read(16))[1]
            elif chunk_id == b"data" and size == 0xFFFFFFFF and data_size is not None:
                size = data_size
            chunks.append((chunk_id, pos + 8, size))
            pos += 8 + size + (size & 1)
        return chunks


def broadcast_chunks(path: str | os.PathLike, rate_ratio: float = 1.0) -> list[tuple[bytes, bytes]]:
    """The :data:`CARRIED_WAV_CHUNKS` of a WAV file, as (id, payload). ``rate_ratio`` (output rate /
    input rate) rescales bext's TimeReference, which counts samples at the file's rate."""
    found = []
    with open(path, "rb") as handle:
        for chunk_id, offset, size in _riff_chunks(path):
            if chunk_id in CARRIED_WAV_CHUNKS and size <= MAX_CHUNK_BYTES:
                handle.seek(offset)
                payload = handle.read(size)
                if chunk_id == b"bext" and rate_ratio != 1.0 and len(payload) >= _BEXT_TIME_REFERENCE + 8:
                    at = _BEXT_TIME_REFERENCE
                    reference = round(struct.unpack("<Q", payload[at : at + 8])[0] * rate_ratio)
                    payload = payload[:at] + struct.pack("<Q", reference) + payload[at + 8 :]
                found.append((chunk_id, payload))
    return found


def append_wav_chunks(path: str | os.PathLike, chunks: list[tuple[bytes, bytes]]) -> None:
    """Append ``chunks`` to a RIFF WAVE file and grow its RIFF size; readers find chunks wherever
    they stand. Left out where the file would pass RIFF's 4 GiB."""
    if not chunks:
        return
    added = sum(8 + len(payload) + (len(payload) & 1) for _, payload in chunks)
    with open(path, "r+b") as handle:
        head = handle.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise ValueError(f"{path}: not a RIFF WAVE file")
        end = handle.seek(0, os.SEEK_END)
        pad = end & 1
        if end + pad + added - 8 > 0xFFFFFFFF:
            return
        handle.write(b"\0" * pad)
        # each chunk padded to an even size, as RIFF wants
        handle.writelines(struct.pack("<4sI", chunk_id, len(payload)) + payload + b"\0" * (len(payload) & 1)
                          for chunk_id, payload in chunks)
        handle.seek(4)
        handle.write(struct.pack("<I", end + pad + added - 8))


# What FFmpeg reports beside a file's tags: fields of the container itself (an mp4's brands, its
# track's handler and language, Matroska's track duration) and the muxer's ``encoder`` stamp. Mapped
# into an output they are not the input's tags: an untagged m4a gave an mp3 "major_brand" frames.
_NOT_TAGS = {"encoder", "major_brand", "minor_version", "compatible_brands", "handler_name", "vendor_id",
             "language", "duration"}


def container_tags(path: str | os.PathLike, stream_index: int | None = None) -> dict[str, str]:
    """The text tags FFmpeg reads from the file (ID3, mp4 atoms, Vorbis comments, RIFF INFO...), as
    the ``ffmpeg`` command's ``-metadata`` names them; {} without ``ffprobe``.

    Ogg's comments (opus, vorbis, ogg flac) are its stream's, not the container's, in FFmpeg: read
    from the sound track repaired there (``stream_index``, FFmpeg's index; None = the first), they
    were lost in an mp3/m4a/opus output."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return {}
    track = "a:0" if stream_index is None else str(stream_index)
    probe = subprocess.run([ffprobe, "-v", "error", "-select_streams", track, "-show_entries",
                            "format=format_name:format_tags:stream_tags", "-of", "json", f"file:{path}"],
                           capture_output=True, text=True, encoding="utf-8", errors="replace", check=False)
    try:
        found = json.loads(probe.stdout or "{}")
    except ValueError:
        return {}
    tags = dict(found.get("format", {}).get("tags", {}))
    if found.get("format", {}).get("format_name") == "ogg":
        for stream in found.get("streams", [])[:1]:
            tags.update(stream.get("tags", {}))
    tags = {key: str(value) for key, value in tags.items() if key.lower() not in _NOT_TAGS and str(value)}
    return _with_info_text(tags, path, _INFO_FFMPEG_KEYS)


# outputs whose container FFmpeg writes an attached picture into (its ogg muxer writes none)
COVER_ART_SUFFIXES = (".mp3", ".m4a", ".flac")


def attached_picture(path: str | os.PathLike) -> int | None:
    """The stream index of the file's cover art (a stream FFmpeg marks ``attached_pic``), or None
    (none there, or no ``ffprobe``). A video's picture track is not cover art: it is not marked so."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return None
    probe = subprocess.run([ffprobe, "-v", "error", "-select_streams", "v", "-show_entries",
                            "stream=index:stream_disposition=attached_pic", "-of", "json", f"file:{path}"],
                           capture_output=True, text=True, encoding="utf-8", errors="replace", check=False)
    try:
        streams = json.loads(probe.stdout or "{}").get("streams", [])
    except ValueError:
        return None
    return next((int(s["index"]) for s in streams if s.get("disposition", {}).get("attached_pic")), None)


def cover_art_arguments(cover: tuple[str, int] | None, first_input: int = 1) -> list[str]:
    """``ffmpeg`` arguments that add ``cover`` ((file, stream index)) as the output's attached
    picture, its bytes copied; the audio is input 0's. [] without a cover."""
    if cover is None:
        return []
    source, index = cover
    return ["-i", f"file:{source}", "-map", "0:a", "-map", f"{first_input}:{index}", "-c:v", "copy",
            "-disposition:v:0", "attached_pic"]


def add_cover_art(path: Path, cover: tuple[str, int]) -> None:
    """Put ``cover`` into the FLAC file ``path`` (libsndfile writes no PICTURE block): FFmpeg remuxes
    it beside itself, samples and tags copied as they are, and the copy replaces it. Left as it is
    when FFmpeg cannot (a picture kind FLAC does not take): the samples matter more than the art."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return
    with_cover = path.with_name(f"{path.stem}.cover{path.suffix}")
    try:
        done = subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-i", f"file:{path}", *cover_art_arguments(cover),
                               "-c:a", "copy", "-fflags", "+bitexact", f"file:{with_cover}"],
                              capture_output=True, check=False)
        if done.returncode == 0:
            os.replace(with_cover, path)
    finally:
        with_cover.unlink(missing_ok=True)


@dataclass
class CarriedMetadata:
    """What an output keeps of its input beyond the samples (see the module's docstring)."""

    channel_mask: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    wav_chunks: list[tuple[bytes, bytes]] = field(default_factory=list)
    # an FFmpeg-encoded output's tags (see :func:`container_tags`): the ``ffmpeg`` command writes them
    ffmpeg_tags: dict[str, str] = field(default_factory=dict)
    # the input's cover art, (file, stream index), for an output whose container holds one
    cover: tuple[str, int] | None = None

    @classmethod
    def read(cls, source: str | os.PathLike, output: str | os.PathLike, libsndfile_output: bool,
             rate_ratio: float = 1.0, stream_index: int | None = None) -> CarriedMetadata:
        """What ``output`` can keep of ``source``: the layout and chunks if it is a WAV, the tags
        through libsndfile if that writes it, else through FFmpeg (when the source has any);
        ``stream_index``: the sound track repaired, whose tags an Ogg's are."""
        wav = Path(output).suffix.lower() == ".wav"
        picture = attached_picture(source) if Path(output).suffix.lower() in COVER_ART_SUFFIXES else None
        return cls(channel_mask=wav_channel_mask(source) if wav else None,
                   tags=audio_tags(source, stream_index) if libsndfile_output else {},
                   wav_chunks=broadcast_chunks(source, rate_ratio) if wav else [],
                   ffmpeg_tags={} if libsndfile_output else container_tags(source, stream_index),
                   cover=None if picture is None else (str(source), picture))

    @property
    def needs_ffmpeg(self) -> bool:
        """What an mp3/m4a/opus output carries that only the ``ffmpeg`` command writes (tags, cover)."""
        return bool(self.ffmpeg_tags) or self.cover is not None

    def soundfile_format(self, fmt: str) -> str:
        return wav_format(fmt, self.channel_mask)

    def before_samples(self, handle) -> None:
        """Into a ``soundfile.SoundFile`` just opened for writing."""
        set_tags(handle, self.tags)

    def after_close(self, path: str | os.PathLike, fmt: str) -> None:
        """Into the written file (libsndfile's ``fmt``), before it is renamed into place."""
        if fmt == "WAVEX" and self.channel_mask is not None:
            set_wav_channel_mask(path, self.channel_mask)
        if fmt in ("WAV", "WAVEX"):
            append_wav_chunks(path, self.wav_chunks)
        if fmt == "FLAC" and self.cover is not None:
            add_cover_art(Path(path), self.cover)
