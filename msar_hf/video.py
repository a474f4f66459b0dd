"""A video keeps its picture: the repaired sound muxed back beside the streams it came with.

``msar repair talk.mp4 -o talk_repaired.mp4`` (or ``--keep-video`` for a folder): the repair writes
the sound to a temporary WAV beside the output, then the ``ffmpeg`` command writes the output
(to a temporary name, renamed into place): every stream of the input in its place and order
copied as it is (picture, other sound tracks, subtitles, chapters, the container's and the
streams' tags), the repaired track encoded in its own codec where the container holds it (else
the container's usual one: AAC for MP4/MOV, FLAC for MKV, Opus for WebM, 16-bit PCM for AVI), at
no lower a bit rate, starting at the instant the input's track started (the decoded samples'
first presentation time, so the picture stays in sync: an AAC encoder's 1024 priming samples
included).

Why by hand: FFmpeg does the coding and muxing; what it lacks is the mapping that puts one
repaired track in the place of one decoded track (which one, when it starts, in which codec), and
the fall-backs when a container refuses a stream.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .audio import MIN_LOSSY_BIT_RATE, lossy_bit_rate, system_write_failure, temp_beside, usual_mode
from .errors import AudioError, UnsupportedFormatError

# containers msar repair writes a picture into, and the codec each takes the repaired sound in when
# the input track's own codec cannot go there
VIDEO_OUTPUT_CODECS = {".mp4": "aac", ".m4v": "aac", ".mov": "aac", ".mkv": "flac", ".webm": "libopus",
                       ".avi": "pcm_s16le"}
VIDEO_OUTPUT_EXTENSIONS = tuple(VIDEO_OUTPUT_CODECS)
# FFmpeg's encoder for a decoded track's codec (codecs it only decodes are left out: container default)
_ENCODERS = {"aac": "aac", "mp3": "libmp3lame", "opus": "libopus", "vorbis": "libvorbis", "flac": "flac",
             "alac": "alac", "ac3": "ac3", "eac3": "eac3", "pcm_s16le": "pcm_s16le", "pcm_s24le": "pcm_s24le",
             "pcm_s16be": "pcm_s16be", "pcm_s24be": "pcm_s24be", "pcm_f32le": "pcm_f32le"}
_LOSSY = {"aac", "libmp3lame", "libopus", "libvorbis", "ac3", "eac3"}
_MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
# text subtitles: each container's own kind (what others are converted to), and the kinds it holds as they are
_TEXT_SUBTITLES = {"subrip", "srt", "ass", "ssa", "webvtt", "mov_text"}
_SUBTITLE_CODECS = {".mp4": ("mov_text", {"mov_text"}), ".m4v": ("mov_text", {"mov_text"}),
                    ".mov": ("mov_text", {"mov_text"}), ".mkv": ("srt", {"subrip", "srt", "ass", "ssa", "webvtt"}),
                    ".webm": ("webvtt", {"webvtt"})}


def is_video_output(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_OUTPUT_EXTENSIONS


@dataclass
class MuxPlan:
    """What :func:`mux` needs of the input, probed before the repair (a refusal comes first)."""

    source: Path
    streams: list[dict] = field(default_factory=list)  # ffprobe's, in the input's order
    track: int | None = None  # absolute index of the repaired sound track; None: the input has no stream to keep
    start_seconds: float = 0.0  # where the repaired samples start on the output's time line
    codec: str | None = None  # the input track's codec (ffprobe's name)
    bit_rate: int | None = None
    first_tier: int = 0  # mux's first try that worked (check_mux's)

    @property
    def kept(self) -> list[dict]:
        return [s for s in self.streams if s["index"] != self.track]


def _commands(output: Path) -> tuple[str, str]:
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    if ffmpeg is None or ffprobe is None:
        raise UnsupportedFormatError(output, "writing a video needs the ffmpeg and ffprobe commands "
                                             "(Debian/Ubuntu: apt-get install ffmpeg); write an audio file instead")
    return ffmpeg, ffprobe


def plan_mux(source: Path, output: Path) -> MuxPlan:
    """Probe ``source`` for :func:`mux`; raise UnsupportedFormatError naming ``output`` when the
    commands are missing."""
    _, ffprobe = _commands(output)
    done = subprocess.run([ffprobe, "-v", "error", "-show_streams", "-show_format", "-of", "json", f"file:{source}"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:  # not a container FFmpeg reads (a WAV libsndfile read): nothing else to keep
        return MuxPlan(source)
    probe = json.loads(done.stdout or "{}")
    plan = MuxPlan(source, streams=probe.get("streams", []))
    try:
        from torchcodec.decoders import AudioDecoder

        decoder = AudioDecoder(f"file:{source}")
        metadata = decoder.metadata
        # the track load_audio decoded, and the presentation time of its first decoded sample: what
        # the repaired samples line up with (the stream's start_time can lie an encoder delay earlier)
        begin = metadata.begin_stream_seconds_from_header or 0.0
        first = decoder.get_samples_played_in_range(min(0.0, begin), begin + 0.1).pts_seconds
    except Exception:  # noqa: BLE001  (no sound FFmpeg decodes: the repair itself says why)
        return MuxPlan(source)
    plan.track = int(metadata.stream_index)
    # FFmpeg moves an input's time line to start at the container's start time
    plan.start_seconds = max(float(first) - float(probe.get("format", {}).get("start_time", 0.0) or 0.0), 0.0)
    plan.codec = next((s.get("codec_name") for s in plan.streams if s["index"] == plan.track), None)
    plan.bit_rate = lossy_bit_rate(source)
    return plan


def _audio_arguments(encoder: str, position: int, plan: MuxPlan, rate: int) -> list[str]:
    args = [f"-c:{position}", encoder]
    if encoder in _LOSSY:
        args += [f"-b:{position}", str(max(plan.bit_rate or 0, MIN_LOSSY_BIT_RATE))]
    if encoder == "libopus" and rate != 48000:
        args += [f"-ar:{position}", "48000"]
    return args


def check_mux(plan: MuxPlan, output: Path, rate: int, channels: int) -> None:
    """Mux a second of silence as :func:`mux` will the repaired sound, to a temporary file: a
    container that refuses the picture is refused before the repair, not after it (an hour's work,
    for a long video)."""
    import soundfile as sf

    silence = temp_beside(output, ".wav")
    trial = temp_beside(output, output.suffix)
    try:
        sf.write(silence, np.zeros((rate, channels), np.float32), rate, subtype="FLOAT")
        mux(plan, silence, trial, rate, seconds=1.0)
    except AudioError as exc:  # named after the output, not the trial file
        raise type(exc)(output, exc.problem) from None
    finally:
        silence.unlink(missing_ok=True)
        trial.unlink(missing_ok=True)


def mux(plan: MuxPlan, sound: Path, output: Path, rate: int, seconds: float | None = None) -> list[str]:
    """Write ``output``: ``plan.source``'s streams with ``sound`` (a WAV of the repaired track at
    ``rate``) in the repaired track's place (the first ``seconds`` only, when given). Returns
    warnings (streams the container refused)."""
    ffmpeg, _ = _commands(output)
    suffix = output.suffix.lower()
    own = _ENCODERS.get(plan.codec or "")
    encoders = list(dict.fromkeys(e for e in (own, VIDEO_OUTPUT_CODECS[suffix]) if e))
    kinds = {s["index"]: s.get("codec_type") for s in plan.kept}
    sound_and_picture = [s for s in plan.kept if kinds[s["index"]] in ("video", "audio")]
    pictures = [s for s in plan.kept if kinds[s["index"]] == "video"]
    # tiers: every stream, the repaired track in its own codec, then in the container's; then the
    # picture and sound tracks; then the picture alone
    tiers = ([(plan.kept, e) for e in encoders]
             + [(sound_and_picture, VIDEO_OUTPUT_CODECS[suffix]), (pictures, VIDEO_OUTPUT_CODECS[suffix])])
    encoded = temp_beside(output, output.suffix)
    try:
        for kept, encoder in tiers[plan.first_tier:]:
            limit = ["-t", f"{seconds:g}"] if seconds else []
            done = subprocess.run([ffmpeg, *_mux_arguments(plan, kept, encoder, sound, rate, suffix), *limit,
                                   f"file:{encoded}"], capture_output=True, text=True, check=False)
            if done.returncode == 0:
                plan.first_tier = tiers.index((kept, encoder))  # the tiers before fail for the whole file too
                usual_mode(encoded)
                os.replace(encoded, output)
                dropped = sorted({kinds[s["index"]] or "data" for s in plan.kept if s not in kept})
                note = f"its {', '.join(dropped)} stream(s) cannot go into a {suffix} file and were left out (.mkv holds them)"
                return [note] if dropped else []
        # FFmpeg's lines open with the component's address ("[webm @ 0x55...] "): noise in a message
        why = re.sub(r"\[[^]]* @ 0x[0-9a-f]+\] ", "", " ".join(done.stderr.split()))[-300:]
        if reason := system_write_failure(why):
            raise AudioError(output, f"cannot be written ({reason})")
        codecs = ", ".join(s.get("codec_name", "?") for s in pictures) or "none"
        raise UnsupportedFormatError(output, f"a {suffix} file cannot hold this video's picture ({codecs}): {why}; "
                                             "write .mkv (it holds any) or an audio file")
    finally:
        encoded.unlink(missing_ok=True)


def _mux_arguments(plan: MuxPlan, kept: list[dict], encoder: str, sound: Path, rate: int, suffix: str) -> list[str]:
    """FFmpeg's arguments (after the command, before the output) for one try of :func:`mux`."""
    repaired = {"index": plan.track if plan.track is not None else float("inf"), "repaired": True}
    order = sorted([*kept, repaired], key=lambda s: s["index"])  # the input's order, the track in its place
    # a source FFmpeg does not read (ffprobe found no stream): a silent stand-in keeps the inputs' numbers
    source = ["-i", f"file:{plan.source}"] if plan.streams else ["-f", "lavfi", "-i", "anullsrc"]
    args = ["-nostdin", "-v", "error", "-y", *source,
            "-itsoffset", f"{plan.start_seconds:.6f}", "-i", f"file:{sound}", "-c", "copy"]
    for position, s in enumerate(order):
        if s.get("repaired"):
            args += ["-map", "1:a:0", *_audio_arguments(encoder, position, plan, rate)]
            if plan.track is None:
                continue
            # the track's language, title, default flag...
            disposition = next(t for t in plan.streams if t["index"] == plan.track).get("disposition", {})
            flags = "+".join(k for k in ("default", "forced", "comment", "visual_impaired") if disposition.get(k))
            args += [f"-map_metadata:s:{position}", f"0:s:{plan.track}", f"-disposition:{position}", flags or "0"]
        else:
            # one stream's metadata named means naming every one's (FFmpeg then copies none by itself)
            args += ["-map", f"0:{s['index']}", f"-map_metadata:s:{position}", f"0:s:{s['index']}"]
            if s.get("codec_type") == "subtitle" and s.get("codec_name") in _TEXT_SUBTITLES and suffix in _SUBTITLE_CODECS:
                native, held = _SUBTITLE_CODECS[suffix]
                if s.get("codec_name") not in held:
                    args += [f"-c:{position}", native]  # e.g. an MKV's SubRip into an MP4's mov_text
    carried = ["-map_metadata:g", "0:g", "-map_chapters", "0"] if plan.streams else []
    return [*args, *carried, "-f", _MUXERS[suffix]]


