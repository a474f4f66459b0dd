"""A video keeps its picture: the repaired sound muxed back beside the streams it came with.

``msar repair talk.mp4 -o talk_repaired.mp4`` (or ``--keep-video`` for a folder):

1. :func:`plan_mux` probes the input (ffprobe's streams; the sound track is the one load_audio
   reads: FFmpeg's "best", or the one ``--audio-track`` names) and :func:`check_mux` muxes a second of silence as the output will be
   muxed: a container that cannot hold the picture is refused before any decoding or repair;
2. :func:`open_on_time_line` decodes the track on the file's time line (FFmpeg's ``aresample``
   fills timestamp gaps, a capture's dropped packets, with silence and pads the start), so the
   repaired samples stay in sync wherever they are;
3. the repair writes the sound to a temporary FLAC beside the output (no 4 GB limit), and
   :func:`mux` has the ``ffmpeg`` command write the output to a temporary name, renamed into place:
   every other stream copied in its place and order (picture packets byte for byte, other sound
   tracks, subtitles, chapters, the container's and the streams' tags and flags), the repaired track
   encoded in its own codec where the container holds it (else AAC in MP4/MOV, FLAC in MKV, Opus in
   WebM, PCM in AVI) at no lower a bit rate. Text subtitles become the container's kind, a cover
   picture an MKV's attachment; streams the container has no place for are left out, with a warning.

Why by hand: FFmpeg does the decoding, coding and muxing; what it lacks is the plan that puts one
repaired track in the place of one decoded track, and the fall-backs when a container refuses a stream.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .audio import MIN_LOSSY_BIT_RATE, system_write_failure, temp_beside, usual_mode
from .errors import AudioError, UnsupportedFormatError

# containers msar repair writes a picture into, and the codec each takes the repaired sound in when
# the input track's own codec cannot go there
VIDEO_OUTPUT_CODECS = {".mp4": "aac", ".m4v": "aac", ".mov": "aac", ".mkv": "flac", ".webm": "libopus",
                       ".avi": "pcm_s16le"}
VIDEO_OUTPUT_EXTENSIONS = tuple(VIDEO_OUTPUT_CODECS)
_MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
# FFmpeg's encoder for a decoded track's codec (codecs it only decodes get the container's)
_ENCODERS = {"aac": "aac", "mp3": "libmp3lame", "opus": "libopus", "vorbis": "libvorbis", "flac": "flac",
             "alac": "alac", "ac3": "ac3", "eac3": "eac3", "pcm_s16le": "pcm_s16le", "pcm_s24le": "pcm_s24le",
             "pcm_s16be": "pcm_s16be", "pcm_s24be": "pcm_s24be", "pcm_f32le": "pcm_f32le"}
_LOSSY = {"aac", "libmp3lame", "libopus", "libvorbis", "ac3", "eac3"}
# text subtitles: each container's own kind (what others become), and the kinds it holds as they are
_TEXT_SUBTITLES = {"subrip", "srt", "ass", "ssa", "webvtt", "mov_text"}
_SUBTITLE_CODECS = {".mp4": ("mov_text", {"mov_text"}), ".m4v": ("mov_text", {"mov_text"}),
                    ".mov": ("mov_text", {"mov_text"}), ".mkv": ("srt", {"subrip", "srt", "ass", "ssa", "webvtt"}),
                    ".webm": ("webvtt", {"webvtt"})}
# the stream kinds each fall-back keeps (None: all), after the whole input fails
_TIERS = (None, {"video", "audio", "subtitle"}, {"video", "audio"}, {"video"})
# flags of a sound track FFmpeg's -disposition takes (a picture's own flags do not apply)
_SOUND_FLAGS = ("default", "dub", "original", "comment", "lyrics", "karaoke", "forced", "hearing_impaired",
                "visual_impaired", "clean_effects", "captions", "descriptions", "dependent")
# seconds of packets read for a track's bit rate where the container states none (MKV, WebM)
_BIT_RATE_SECONDS = 60
# cover pictures (FFmpeg: a one-frame video stream flagged attached_pic) Matroska keeps as attachments:
# copied as a stream, FFmpeg writes them as a second video track instead (MP4 -> MKV, MKV -> MKV)
_COVER_FILES = {"mjpeg": (".jpg", "image/jpeg"), "png": (".png", "image/png"), "webp": (".webp", "image/webp"),
                "bmp": (".bmp", "image/bmp"), "gif": (".gif", "image/gif")}


def is_video_output(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_OUTPUT_EXTENSIONS


@dataclass
class MuxPlan:
    """What :func:`mux` needs of the input, probed before the repair (a refusal comes first)."""

    source: Path
    streams: list[dict] = field(default_factory=list)  # ffprobe's, in the input's order
    track: int | None = None  # absolute index of the repaired sound track; None: no sound FFmpeg decodes
    start_seconds: float = 0.0  # where the repaired samples start on the output's time line
    bit_rate: int | None = None  # the track's, for a lossy re-encode
    format_start: float = 0.0  # the container's start time: FFmpeg's time line starts there
    # how much later than meant the encoded track plays beside the picture (check_mux measures it):
    # a coder's start-up delay AVI cannot record, a picture's start offset AVI drops
    delay_seconds: float = 0.0
    first_try: int = 0  # the first of mux's tries that worked (check_mux's)

    @property
    def kept(self) -> list[dict]:
        return [s for s in self.streams if s["index"] != self.track]

    @property
    def sound(self) -> dict:
        return next((s for s in self.streams if s["index"] == self.track), {})


def _commands(output: Path) -> tuple[str, str]:
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    if ffmpeg is None or ffprobe is None:
        raise UnsupportedFormatError(output, "writing a video needs the ffmpeg and ffprobe commands "
                                             "(Debian/Ubuntu: apt-get install ffmpeg); write an audio file instead")
    return ffmpeg, ffprobe


def _probe(ffprobe: str, source: Path, *args: str) -> dict:
    done = subprocess.run([ffprobe, "-v", "error", *args, "-of", "json", f"file:{source}"],
                          capture_output=True, text=True, check=False)
    return json.loads(done.stdout or "{}") if done.returncode == 0 else {}


def _bit_rate(ffprobe: str, source: Path, stream: dict) -> int | None:
    """The track's bit rate: as the container states it, else measured on its first minute of packets."""
    for value in (stream.get("bit_rate"), *(v for k, v in stream.get("tags", {}).items() if k.upper().startswith("BPS"))):
        if str(value or "").isdigit() and int(value) > 0:
            return int(value)
    packets = _probe(ffprobe, source, "-select_streams", str(stream["index"]), "-read_intervals", f"%+{_BIT_RATE_SECONDS}",
                     "-show_entries", "packet=size,duration_time").get("packets", [])
    seconds = sum(float(p.get("duration_time") or 0) for p in packets)
    return int(8 * sum(int(p.get("size") or 0) for p in packets) / seconds) if seconds > 1 else None


def plan_mux(source: Path, output: Path, stream_index: int | None = None) -> MuxPlan:
    """Probe ``source`` for :func:`mux`, the repaired track being ``stream_index`` (FFmpeg's index;
    None = its best); raise UnsupportedFormatError naming ``output`` when the commands are missing."""
    _, ffprobe = _commands(output)
    probe = _probe(ffprobe, source, "-show_streams", "-show_format")
    plan = MuxPlan(source, streams=probe.get("streams", []),
                   format_start=float(probe.get("format", {}).get("start_time", 0.0) or 0.0))
    if not plan.streams:  # not a container FFmpeg reads (a WAV only libsndfile reads): nothing else to keep
        return plan
    try:
        from torchcodec.decoders import AudioDecoder

        decoder = AudioDecoder(f"file:{source}", stream_index=stream_index)
        metadata = decoder.metadata
        # the track load_audio decodes; where its first decoded sample plays is the fall-back start
        # (open_on_time_line's decode, when it works, starts at the time line's zero instead)
        begin = metadata.begin_stream_seconds_from_header or 0.0
        first = decoder.get_samples_played_in_range(min(0.0, begin), begin + 0.1).pts_seconds
    except Exception:  # noqa: BLE001  (no sound FFmpeg decodes: the repair itself says why)
        return plan
    plan.track = int(metadata.stream_index)
    # FFmpeg moves an input's time line to start at the container's start time
    plan.start_seconds = max(float(first) - plan.format_start, 0.0)
    if plan.sound.get("codec_name") not in (None, "flac", "alac") and not str(plan.sound.get("codec_name")).startswith("pcm"):
        plan.bit_rate = _bit_rate(ffprobe, source, plan.sound)
    return plan


def open_on_time_line(plan: MuxPlan, scratch_dir: Path):
    """The repaired track decoded by the ``ffmpeg`` command on the file's time line, as a streaming
    source (a temporary float WAV, deleted when the source closes); None where that decode fails
    (the repair then reads the input as any other, and its error names the problem)."""
    import soundfile as sf

    from .recording_io import SoundFileSource

    ffmpeg = shutil.which("ffmpeg")
    if plan.track is None or ffmpeg is None:
        return None
    fd, name = tempfile.mkstemp(prefix=".msar_decoded_", suffix=".wav", dir=scratch_dir)  # hidden: scans skip it
    os.close(fd)
    decoded = Path(name)
    try:
        # first_pts=0: the first sample is the time line's zero (the container's start), silence
        # before the track starts; async=1: silence in its timestamp gaps, none of it dropped
        done = subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-i", f"file:{plan.source}",
                               "-map", f"0:{plan.track}", "-af", "aresample=async=1:first_pts=0",
                               "-c:a", "pcm_f32le", "-rf64", "auto", "-f", "wav", f"file:{decoded}"],
                              capture_output=True, check=False)
        if done.returncode != 0 or done.stderr.strip():  # a damaged file: load_audio says what is wrong
            decoded.unlink(missing_ok=True)
            return None
        plan.start_seconds = 0.0
        return SoundFileSource(plan.source, sf.SoundFile(str(decoded)), decoded=decoded)
    except BaseException:
        decoded.unlink(missing_ok=True)
        raise


def check_mux(plan: MuxPlan, output: Path, rate: int | None = None) -> None:
    """Mux a second of sound as :func:`mux` will the repaired track, to a temporary file, before
    the repair: a container that refuses the picture is refused before an hour's work, not after
    it; and where the repaired track will land is measured. ``rate``: the output's (default: the
    track's).

    Why measured: where a track plays beside the picture depends on the container: MP4 records a
    coder's start-up delay in an edit list, MKV and WebM as negative timestamps, AVI not at all (and
    it drops a picture's start offset), where an MKV's AAC track written as PCM came out 64 ms late.
    A 2 ms tone burst at 0.5 s is muxed, decoded back on the time line and found against the
    picture's first frame; :func:`mux` then moves the track by what it is off."""
    import soundfile as sf

    rate = int(rate or plan.sound.get("sample_rate") or 48000)
    channels = int(plan.sound.get("channels") or 1)
    output.parent.mkdir(parents=True, exist_ok=True)
    probe = temp_beside(output, ".flac")
    trial = temp_beside(output, output.suffix)
    try:
        t = np.arange(rate) / rate - 0.5
        burst = (0.5 * np.exp(-0.5 * (t / 0.0005) ** 2) * np.sin(2 * np.pi * 2000 * t)).astype(np.float32)
        sf.write(probe, np.repeat(burst[:, None], channels, axis=1), rate, subtype="PCM_24")
        plan.delay_seconds = 0.0
        mux(plan, probe, trial, rate, seconds=1.0)
        picture_in = _picture_start(plan.streams, plan.format_start)
        picture_out = _picture_start(*_streams_and_start(trial))
        found = _burst_seconds(trial, plan, burst, rate)
        if None not in (picture_in, picture_out, found):
            # the burst against the picture's first frame, in the output and as the input has it
            delay = (found - picture_out) - (plan.start_seconds + 0.5 - picture_in)
            if abs(delay) < 0.2:
                plan.delay_seconds = delay
    except AudioError as exc:  # named after the output, not the trial file
        raise type(exc)(output, exc.problem) from None
    finally:
        probe.unlink(missing_ok=True)
        trial.unlink(missing_ok=True)


def _streams_and_start(path: Path) -> tuple[list[dict], float]:
    probe = _probe(_commands(path)[1], path, "-show_streams", "-show_format")
    return probe.get("streams", []), float(probe.get("format", {}).get("start_time", 0.0) or 0.0)


def _picture_start(streams: list[dict], format_start: float) -> float | None:
    """When the first picture stream starts on FFmpeg's time line (the container's start is its zero)."""
    for s in streams:
        if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic"):
            return float(s.get("start_time") or format_start) - format_start
    return None


def _burst_seconds(trial: Path, plan: MuxPlan, burst: np.ndarray, rate: int) -> float | None:
    """Where ``burst``'s peak plays in ``trial``'s repaired track, on its time line."""
    # the track's place among the streams the working try kept (a fall-back may drop some before it)
    track = plan.track if plan.track is not None else float("inf")
    suffix = trial.suffix.lower()
    kept = _tries(plan, suffix, leave_out=_covers(plan, suffix))[plan.first_try][0]
    position = sum(s["index"] < track for s in kept)
    done = subprocess.run([_commands(trial)[0], "-nostdin", "-v", "error", "-i", f"file:{trial}",
                           "-map", f"0:{position}", "-af", "aresample=async=1:first_pts=0", "-ac", "1",
                           "-ar", str(rate), "-f", "f32le", "-"], capture_output=True, check=False)
    heard = np.frombuffer(done.stdout, dtype="<f4")
    if done.returncode != 0 or heard.size < rate // 10:
        return None
    n = heard.size + burst.size
    corr = np.fft.irfft(np.fft.rfft(heard, 2 * n) * np.conj(np.fft.rfft(burst, 2 * n)))
    lag = int(np.argmax(corr[: heard.size]))
    return (lag + burst.size // 2) / rate


def _covers(plan: MuxPlan, suffix: str) -> list[dict]:
    """The cover pictures that go into a Matroska output as attachments (.mkv), or not at all (.webm,
    .avi: copied as streams they became a second video track)."""
    if suffix not in (".mkv", ".webm", ".avi"):
        return []
    return [s for s in plan.kept if s.get("disposition", {}).get("attached_pic") and s.get("codec_name") in _COVER_FILES]


def _cover_file(ffmpeg: str, plan: MuxPlan, cover: dict, output: Path) -> tuple[Path, str, str] | None:
    """A cover picture copied out to a temporary file beside ``output``: (file, its name, MIME type);
    None where FFmpeg cannot copy it out."""
    extension, mimetype = _COVER_FILES[cover["codec_name"]]
    tags = {k.lower(): v for k, v in cover.get("tags", {}).items()}
    path = temp_beside(output, extension)
    done = subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-i", f"file:{plan.source}", "-map",
                           f"0:{cover['index']}", "-c", "copy", "-frames:v", "1", "-f", "image2", "-update", "1",
                           f"file:{path}"], capture_output=True, check=False)
    if done.returncode != 0 or not path.exists() or not path.stat().st_size:
        path.unlink(missing_ok=True)
        return None
    return path, tags.get("filename") or f"cover{extension}", tags.get("mimetype") or mimetype


def _tries(plan: MuxPlan, suffix: str, leave_out: list[dict] = ()) -> list[tuple[list[dict], str, int | None]]:
    """(streams kept, encoder of the repaired track, its bit rate) to try in turn: the whole input
    first (less ``leave_out``). A lossy coder is asked for no less than MIN_LOSSY_BIT_RATE, then,
    where it refuses that (libvorbis at 16 kHz mono), for the input track's own bit rate."""
    codec = plan.sound.get("codec_name") or ""
    own = _ENCODERS.get(codec)
    if suffix == ".avi" and not codec.startswith("pcm"):
        own = None  # AVI cannot record a coder's delay: an MP3 track came out 69 ms late
    coders = []
    for encoder in dict.fromkeys(e for e in (own, VIDEO_OUTPUT_CODECS[suffix]) if e):
        rates = [max(plan.bit_rate or 0, MIN_LOSSY_BIT_RATE), plan.bit_rate] if encoder in _LOSSY else [None]
        coders += [(encoder, rate) for rate in dict.fromkeys(rates) if rate or encoder not in _LOSSY]
    tries, seen = [], []
    for kinds in _TIERS:
        kept = [s for s in plan.kept if (kinds is None or s.get("codec_type") in kinds) and s not in leave_out]
        if kept not in seen:
            seen.append(kept)
            tries += [(kept, encoder, rate) for encoder, rate in coders]
    return tries


def mux(plan: MuxPlan, sound: Path, output: Path, rate: int, seconds: float | None = None) -> list[str]:
    """Write ``output``: ``plan.source``'s streams with ``sound`` (the repaired track at ``rate``) in
    the repaired track's place (the first ``seconds`` only, when given). Returns warnings (streams
    the container refused)."""
    ffmpeg, _ = _commands(output)
    suffix = output.suffix.lower()
    covers = _covers(plan, suffix)
    tries = _tries(plan, suffix, leave_out=covers)
    encoded = temp_beside(output, output.suffix)
    attachments = []
    try:
        if suffix == ".mkv":
            attachments = [a for a in (_cover_file(ffmpeg, plan, c, output) for c in covers) if a is not None]
            names = [name for _, name, _ in attachments]
            # two covers of one name ("cover.jpg"): a player's or -dump_attachment's one file
            attachments = [(path, name if names.count(name) == 1 else f"{Path(name).stem}-{k + 1}{Path(name).suffix}", mime)
                           for k, (path, name, mime) in enumerate(attachments)]
        for n, (kept, encoder, bit_rate) in enumerate(tries[plan.first_try:], start=plan.first_try):
            limit = ["-t", f"{seconds:g}"] if seconds else []
            done = subprocess.run([ffmpeg, *_mux_arguments(plan, kept, encoder, bit_rate, sound, rate, suffix,
                                                           attachments),
                                   *limit, f"file:{encoded}"], capture_output=True, text=True, check=False)
            if done.returncode == 0:
                plan.first_try = n  # the tries before fail for the whole file too
                usual_mode(encoded)
                os.replace(encoded, output)
                warnings = []
                if len(attachments) < len(covers):
                    warnings.append(f"its cover picture(s) cannot go into a {suffix} file and were left out"
                                    + (" (.mkv holds them)" if suffix != ".mkv" else ""))
                dropped = sorted({s.get("codec_type") or "data" for s in plan.kept if s not in kept and s not in covers})
                if dropped:
                    hint = " (.mkv holds them)" if suffix != ".mkv" and set(dropped) <= {"subtitle", "attachment", "audio"} else ""
                    warnings.append(f"its {', '.join(dropped)} stream(s) cannot go into a {suffix} file and were left out{hint}")
                return warnings
            # a full disk or a size limit is no reason to try a smaller file (a lower bit rate fitted)
            if reason := system_write_failure(done.stderr):
                raise AudioError(output, f"cannot be written ({reason})")
        # FFmpeg's lines open with the component's address ("[webm @ 0x55...] "): noise in a message
        why = re.sub(r"\[[^]]* @ 0x[0-9a-f]+\] ", "", " ".join(done.stderr.split()))[-300:]
        codecs = ", ".join(s.get("codec_name", "?") for s in plan.kept
                           if s.get("codec_type") == "video" and s not in covers) or "none"
        raise UnsupportedFormatError(output, f"a {suffix} file cannot hold this video's picture ({codecs}): {why}; "
                                             "write .mkv (it holds any) or an audio file")
    finally:
        encoded.unlink(missing_ok=True)
        for path, _, _ in attachments:
            path.unlink(missing_ok=True)


def _mux_arguments(plan: MuxPlan, kept: list[dict], encoder: str, bit_rate: int | None, sound: Path, rate: int,
                   suffix: str, attachments: list[tuple[Path, str, str]] = ()) -> list[str]:
    """FFmpeg's arguments (after the command, before the output) for one try of :func:`mux`;
    ``attachments``: (file, name, MIME type) of the cover pictures a Matroska output attaches."""
    repaired = {"index": plan.track if plan.track is not None else float("inf"), "repaired": True}
    order = sorted([*kept, repaired], key=lambda s: s["index"])  # the input's order, the track in its place
    # a source FFmpeg does not read (ffprobe found no stream): a silent stand-in keeps the inputs' numbers
    source = ["-i", f"file:{plan.source}"] if plan.streams else ["-f", "lavfi", "-i", "anullsrc"]
    # where the track starts: later by an offset; earlier than the time line's zero by dropping its
    # head (AVI writes no negative timestamps; there the head is the decode's padding or a coder's delay)
    offset = plan.start_seconds - plan.delay_seconds
    shift = ["-itsoffset", f"{offset:.6f}"] if offset >= 0 else ["-ss", f"{-offset:.6f}"]
    args = ["-nostdin", "-v", "error", "-y", *source, *shift, "-i", f"file:{sound}", "-c", "copy"]
    for position, s in enumerate(order):
        if s.get("repaired"):
            args += ["-map", "1:a:0", f"-c:{position}", encoder]
            if bit_rate:
                args += [f"-b:{position}", str(bit_rate)]
            if encoder == "libopus" and rate != 48000:
                args += [f"-ar:{position}", "48000"]
            if plan.track is not None:  # the track's language, title, flags...
                flags = "+".join(k for k in _SOUND_FLAGS if plan.sound.get("disposition", {}).get(k))
                args += [f"-map_metadata:s:{position}", f"0:s:{plan.track}", f"-disposition:{position}", flags or "0"]
        else:
            # one stream's metadata named means naming every one's (FFmpeg then copies none by itself)
            args += ["-map", f"0:{s['index']}", f"-map_metadata:s:{position}", f"0:s:{s['index']}"]
            if s.get("codec_type") == "subtitle" and s.get("codec_name") in _TEXT_SUBTITLES and suffix in _SUBTITLE_CODECS:
                native, held = _SUBTITLE_CODECS[suffix]
                if s.get("codec_name") not in held:
                    args += [f"-c:{position}", native]  # e.g. an MKV's SubRip into an MP4's mov_text
    for k, (path, name, mimetype) in enumerate(attachments):  # after the streams: FFmpeg adds them last
        args += ["-attach", f"file:{path}", f"-metadata:s:t:{k}", f"filename={name}", f"-metadata:s:t:{k}", f"mimetype={mimetype}"]
    if plan.streams:
        args += ["-map_metadata:g", "0:g", "-map_chapters", "0"]
    if suffix in (".mp4", ".m4v", ".mov"):
        args += ["-movflags", "+faststart"]  # the index first: a web player starts before the whole file is in
    return [*args, "-f", _MUXERS[suffix]]
