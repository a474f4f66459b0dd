"""A video keeps its picture: `msar repair talk.mp4 -o fixed.mp4`, `--keep-video` for folders
(msar_hf/video.py). Real speech (the bundled demo clip, a real recording with real noise) under
a generated test picture; FFmpeg reads the results back."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from msar_hf.metrics.quality import compute_all

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                reason="needs the ffmpeg and ffprobe commands")

DEMO = Path(__file__).resolve().parents[1] / "msar_hf" / "demo"
PICTURE = ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=6"]


def _ffmpeg(*args) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True, timeout=60)


def _streams(path: Path) -> list[dict]:
    import json

    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["streams"]


def _packets_md5(path: Path, index: int) -> str:
    """MD5 of one stream's coded packets, copied out as they are."""
    return subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", f"0:{index}", "-c", "copy", "-f", "md5", "-"],
                          capture_output=True, text=True, check=True).stdout.strip()


def _on_time_line(path: Path, track: int = 0) -> np.ndarray:
    """A sound track decoded at 16 kHz mono on the file's time line (silence before its start time),
    as a player lines it up with the picture."""
    wav = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", f"0:a:{track}", "-af",
                          "aresample=async=1:first_pts=0", "-ac", "1", "-ar", "16000", "-f", "wav", "-"],
                         capture_output=True, check=True).stdout
    return sf.read(io.BytesIO(wav), dtype="float32")[0]


def _picture_start(path: Path) -> float:
    """When the picture starts on the file's time line (a muxer may move every stream)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,start_time:format=start_time",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout
    import json

    probe = json.loads(out)
    video = next(s for s in probe["streams"] if s["codec_type"] == "video")
    return float(video["start_time"]) - float(probe["format"]["start_time"])


def _av_lag(before: Path, after: Path, seconds: tuple[float, float] | None = None) -> int:
    """Samples (16 kHz) by which ``after``'s sound is later against its picture than ``before``'s
    (over the given stretch of the time line, else the whole)."""
    x, y = _same_length(_on_time_line(before), _on_time_line(after))
    if seconds is not None:
        x, y = (z[int(seconds[0] * 16000): int(seconds[1] * 16000)] for z in (x, y))
    return _lag(y, x) - round((_picture_start(after) - _picture_start(before)) * 16000)


def _lag(y: np.ndarray, x: np.ndarray) -> int:
    n = x.size + y.size
    corr = np.fft.irfft(np.fft.rfft(y, 2 * n) * np.conj(np.fft.rfft(x, 2 * n)))
    k = int(np.argmax(corr))
    return k if k < n else k - 2 * n


def _same_length(*xs: np.ndarray) -> list[np.ndarray]:
    n = min(x.size for x in xs)
    return [x[:n] for x in xs]


def test_a_video_gets_its_sound_repaired_in_sync_with_its_picture_untouched(tmp_path, capsys):
    """The shipped model on the demo clip under a picture, the sound starting 0.3 s in: the picture's
    packets are the input's, byte for byte; the container's title stays; the repaired sound starts
    where the damaged one did (to the sample, on the file's time line) and scores better against the
    clean recording than the damaged sound did."""
    from test_repair_cli import msar

    talk, clean = tmp_path / "talk.mp4", tmp_path / "clean.mp4"
    for path, sound in ((talk, DEMO / "damaged_demo.flac"), (clean, DEMO / "clean_demo.flac")):
        _ffmpeg(*PICTURE, "-itsoffset", "0.3", "-i", sound, "-c:v", "mpeg4", "-c:a", "aac", "-b:a", "96k",
                "-metadata", "title=An interview", "-shortest", path)
    fixed = tmp_path / "fixed.mp4"
    code, _, err = msar(capsys, "repair", talk, "-o", fixed, "--device", "cpu", "-q")
    assert code == 0, err
    streams = _streams(fixed)
    assert [(s["codec_type"], s["codec_name"]) for s in streams] == [("video", "mpeg4"), ("audio", "aac")]
    assert _packets_md5(fixed, 0) == _packets_md5(talk, 0)
    tags = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format_tags=title", "-of", "csv=p=0", str(fixed)],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert tags == "An interview"
    # asked no less than the input's 96 kbit/s (FFmpeg's AAC encoder makes about 75 of it at 16 kHz mono)
    assert int(streams[1]["bit_rate"]) >= 0.9 * int(_streams(talk)[1]["bit_rate"])

    assert abs(_av_lag(talk, fixed)) <= 1 and abs(_av_lag(clean, fixed)) <= 1
    damaged, repaired, reference = _same_length(_on_time_line(talk), _on_time_line(fixed), _on_time_line(clean))
    before = compute_all(reference, damaged, metrics=["pesq_wb"])["pesq_wb"]
    after = compute_all(reference, repaired, metrics=["pesq_wb"])["pesq_wb"]
    assert after > before + 0.15, (before, after)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.mp4", "fixed.mp4", "talk.mp4"]  # no temporary file left


def _interview_mkv(folder: Path) -> Path:
    """A picture, the interview (English, default), a commentary track (French, titled) and SubRip subtitles."""
    subs = folder.parent / "subs.srt"
    subs.write_text("1\n00:00:00,500 --> 00:00:02,000\nHello there\n")
    path = folder / "interview.mkv"
    _ffmpeg(*PICTURE, "-i", DEMO / "damaged_demo.flac", "-i", DEMO / "clean_demo.flac", "-i", subs,
            "-map", 0, "-map", 1, "-map", 2, "-map", 3, "-c:v", "mpeg4", "-c:a", "aac", "-c:s", "srt",
            "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra", "-metadata:s:a:1", "title=Commentary",
            "-disposition:a:0", "default+hearing_impaired", "-disposition:a:1", "0", "-t", "5.5", path)
    return path


def test_keep_video_writes_each_video_of_a_folder_with_every_stream_in_its_place(tmp_path, capsys, speech_file):
    """--keep-video: an MKV keeps its picture, its second sound track and its subtitles (copied, tags
    and flags with them), the first track repaired in its place (an identity model: the same sound
    again, on the same time line); an audio file beside it is written as usual. Without the flag a
    video's sound goes to WAV, as before."""
    from test_repair_cli import _model, msar

    from msar_hf.batch import plan_outputs

    identity = _model(tmp_path / "identity", use_speaker_conditioning=False)
    archive = tmp_path / "archive"
    archive.mkdir()
    video = _interview_mkv(archive)
    shutil.copy(speech_file, archive / "note.flac")
    assert [dst.name for _, dst in plan_outputs([archive], tmp_path / "o")] == ["interview.wav", "note.flac"]
    out = tmp_path / "out"
    code, _, err = msar(capsys, "repair", archive, "-o", out, "--keep-video", "--model", identity, "-q")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["interview.mkv", "note.flac"]
    before, after = _streams(video), _streams(out / "interview.mkv")
    assert [(s["codec_type"], s["codec_name"]) for s in after] == [("video", "mpeg4"), ("audio", "aac"),
                                                                   ("audio", "aac"), ("subtitle", "subrip")]
    for index in (0, 2, 3):
        assert _packets_md5(out / "interview.mkv", index) == _packets_md5(video, index)
    for s, t in zip(before[1:3], after[1:3]):
        assert s["tags"].get("language") == t["tags"].get("language") and s["disposition"] == t["disposition"]
    assert after[2]["tags"]["title"] == "Commentary"
    assert abs(_av_lag(video, out / "interview.mkv")) <= 1
    shift = round((_picture_start(out / "interview.mkv") - _picture_start(video)) * 16000)  # the muxer's move
    x, y = _same_length(_on_time_line(video), _on_time_line(out / "interview.mkv")[max(shift, 0):])
    assert x.size > 5 * 16000
    assert 10 * np.log10(np.sum(x**2) / np.sum((y - x) ** 2)) > 20  # the same sound, through a second AAC coding


def test_a_gap_in_the_sound_and_an_avi_keep_the_picture_in_sync(tmp_path, capsys):
    """A capture that dropped a second of sound packets (a timestamp gap): the repaired track is
    in sync before and after the gap, in MKV, and in AVI (which records neither a start offset
    nor a coder's delay, and here gets MP3's: the track is moved by what a test burst measured)."""
    from test_repair_cli import _model, msar

    identity = _model(tmp_path / "identity", use_speaker_conditioning=False)
    sound = tmp_path / "sound.flac"
    _ffmpeg("-i", DEMO / "clean_demo.flac", "-i", DEMO / "damaged_demo.flac", "-filter_complex", "[0:a][1:a]concat=n=2:v=0:a=1",
            sound)
    gap = tmp_path / "gap.mkv"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=12", "-i", sound, "-af",
            "aselect='not(between(t,4,5))'", "-c:v", "mpeg4", "-c:a", "aac", "-shortest", gap)
    mp3 = tmp_path / "talk.avi"
    _ffmpeg(*PICTURE, "-itsoffset", "0.2", "-i", DEMO / "damaged_demo.flac", "-c:v", "mpeg4", "-c:a", "libmp3lame", "-shortest", mp3)
    for source, name in ((gap, "gap.mkv"), (gap, "gap.avi"), (mp3, "talk_fixed.avi")):
        out = tmp_path / "out" / name
        code, _, err = msar(capsys, "repair", source, "-o", out, "--model", identity, "-q")
        assert code == 0, err
        stretches = [(0.5, 3.5), (6.0, 10.0)] if source == gap else [(0.0, 5.0)]
        assert [abs(_av_lag(source, out, s)) <= 2 for s in stretches] == [True] * len(stretches), name


def test_containers_that_cannot_hold_a_stream(tmp_path, capsys, monkeypatch):
    """An MP4 takes the MKV's subtitles as mov_text; an AVI has no place for them: left out, with a
    warning; a WebM cannot hold an MPEG-4 picture: one line naming the output, exit 2, nothing left
    behind. A plain recording written as .mp4 is a sound-only MP4."""
    from test_repair_cli import _model, msar

    identity = _model(tmp_path / "identity", use_speaker_conditioning=False)
    folder = tmp_path / "in"
    folder.mkdir()
    video = _interview_mkv(folder)
    out = tmp_path / "out"
    out.mkdir()
    code, _, err = msar(capsys, "repair", video, "-o", out / "a.mp4", "--model", identity, "-q")
    assert code == 0 and "cannot go into" not in err, err
    assert [s["codec_name"] for s in _streams(out / "a.mp4")] == ["mpeg4", "aac", "aac", "mov_text"]
    code, _, err = msar(capsys, "repair", video, "-o", out / "a.avi", "--model", identity, "-q")
    assert code == 0 and "subtitle stream(s) cannot go into a .avi file" in err, err
    assert [s["codec_type"] for s in _streams(out / "a.avi")] == ["video", "audio", "audio"]
    from msar_hf.repair import Repairer

    repaired = []
    monkeypatch.setattr(Repairer, "_repair_source", lambda self, *a, **k: repaired.append(a) or 1 / 0)
    code, _, err = msar(capsys, "repair", video, "-o", out / "a.webm", "--model", identity, "-q")
    assert not repaired  # refused before the repair
    monkeypatch.undo()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "a.webm: a .webm file cannot hold this video's picture (mpeg4)" in lines[0], err
    assert sorted(p.name for p in out.iterdir()) == ["a.avi", "a.mp4"]  # no a.webm, no temporary file

    code, _, err = msar(capsys, "repair", DEMO / "damaged_demo.flac", "-o", out / "sound.mp4", "--model", identity, "-q")
    assert code == 0, err
    assert [(s["codec_type"], s["codec_name"]) for s in _streams(out / "sound.mp4")] == [("audio", "aac")]
    code, _, err = msar(capsys, "synthesize", "Hello.", "--speaker", "kathleen", "-o", out / "speech.mp4")
    assert code == 2 and "cannot write '.mp4' files" in err, err  # synthesis writes sound files only


def test_audio_track_repairs_the_track_asked_for_and_copies_the_others(tmp_path, capsys):
    """--audio-track: in an MKV of the damaged interview (track 1, the default) and the clean
    recording as a commentary (track 2), track 2 is the one repaired, in its place, and track 1's
    packets are the input's byte for byte; to a WAV, track 2 or track 1 comes out as asked. Without
    the option a warning names the track repaired; a track the file lacks is an error naming it."""
    from test_repair_cli import msar

    archive = tmp_path / "archive"
    archive.mkdir()
    video = _interview_mkv(archive)
    fixed = tmp_path / "fixed.mkv"
    code, _, err = msar(capsys, "repair", video, "-o", fixed, "--audio-track", "2", "--device", "cpu", "-q")
    assert code == 0, err
    assert "sound tracks" not in err  # asked for: no note
    after = _streams(fixed)
    assert [(s["codec_type"], s.get("tags", {}).get("language")) for s in after][:3] == [
        ("video", None), ("audio", "eng"), ("audio", "fra")]
    assert _packets_md5(fixed, 0) == _packets_md5(video, 0)
    assert _packets_md5(fixed, 1) == _packets_md5(video, 1)  # the interview: not touched
    assert _packets_md5(fixed, 2) != _packets_md5(video, 2)  # the commentary: repaired

    damaged, clean = (sf.read(DEMO / f"{name}_demo.flac", dtype="float32")[0] for name in ("damaged", "clean"))
    for track, expected, other in ((2, clean, damaged), (1, damaged, clean)):
        out = tmp_path / f"track{track}.wav"
        code, _, err = msar(capsys, "repair", video, "-o", out, "--audio-track", str(track), "--strength", "0", "-q")
        assert code == 0, err
        y, rate = sf.read(out, dtype="float32")
        assert rate == 16000
        y, x, z = _same_length(y, expected, other)
        shift = _lag(y, x)  # the AAC coding's own delay, the same for both comparisons
        assert abs(shift) < 2000
        y = np.roll(y, -shift)
        assert np.corrcoef(y, x)[0, 1] > 0.95 > np.corrcoef(y, z)[0, 1], track

    code, _, err = msar(capsys, "repair", video, "-o", tmp_path / "default.wav", "--strength", "0", "-q",
                        "--report", tmp_path / "report.json")
    assert code == 0 and "2 sound tracks: repaired track 1 (eng, aac" in err, err
    import json

    assert json.loads((tmp_path / "report.json").read_text())[0]["audio_track"] == 1  # the report's column too
    code, _, err = msar(capsys, "repair", video, "-o", tmp_path / "none.wav", "--audio-track", "3", "-q")
    assert code == 2 and f"{video}: has 2 sound tracks: there is no track 3" in err, err
    assert not (tmp_path / "none.wav").exists()


def test_audio_track_of_a_long_recording_is_streamed_from_its_own_track(tmp_path, capsys):
    """Two-stream Ogg Vorbis (libsndfile reads an Ogg's first stream, FFmpeg its best): 130 s (past
    the streaming threshold: decoded to a temporary WAV) with a 300 Hz track 1 and a longer 1 kHz
    track 2, and 6 s titled "English mix" / "French dub". --audio-track 1 / 2 read their own tone,
    to the sample count; without the option the track the warning names is the one read; `msar
    info` lists both tracks and measures the one asked for; a short file's track 2 is not called
    truncated against track 1's length, and an MP3 of it carries its own title."""
    import json

    from test_repair_cli import msar

    from msar_hf.recording_io import STREAM_ABOVE_SECONDS

    seconds = STREAM_ABOVE_SECONDS + 10
    tones = tmp_path / "tones.ogg"
    _ffmpeg("-f", "lavfi", "-i", f"sine=frequency=300:sample_rate=16000:duration={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency=1000:sample_rate=16000:duration={seconds + 1}",
            "-map", 0, "-map", 1, "-c:a", "libvorbis", "-q:a:0", "0", "-q:a:1", "6", "-af", "volume=0.5", tones)

    def tone(args: list) -> tuple[int, int, str]:
        out = tmp_path / "tone.wav"
        code, _, err = msar(capsys, "repair", tones, "-o", out, "--strength", "0", "-q", *args)
        assert code == 0, err
        y, rate = sf.read(out, dtype="float32")
        assert rate == 16000
        return int(np.argmax(np.abs(np.fft.rfft(y[16000:32000])))), y.size, err  # 1 Hz bins

    assert tone(["--audio-track", "1"])[:2] == (300, seconds * 16000)
    assert tone(["--audio-track", "2"])[:2] == (1000, (seconds + 1) * 16000)
    hz, _, err = tone([])
    named = int(err.split("repaired track ")[1][0])
    assert hz == (300, 1000)[named - 1], err

    code, text, err = msar(capsys, "info", tones, "--json", "--audio-track", "2")
    assert code == 0, err
    info = json.loads(text.strip().splitlines()[-1])
    assert info["audio_track"] == 2 and [t["number"] for t in info["sound_tracks"]] == [1, 2]
    assert info["duration_s"] == pytest.approx(seconds + 1, abs=0.01)
    shutil.copy(tones, tmp_path / "tones.mkv")  # a folder's videos are listed too, as msar repair finds them
    code, text, err = msar(capsys, "info", tmp_path)
    assert code == 0 and "tones.mkv: 2 sound tracks" in text and "tones.ogg: 2 sound tracks" in text, err

    dub = tmp_path / "dub.ogg"
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:sample_rate=16000:duration=6", "-i", DEMO / "damaged_demo.flac",
            "-map", 0, "-map", 1, "-c:a", "libvorbis", "-metadata:s:a:0", "title=English mix",
            "-metadata:s:a:1", "title=French dub", dub)
    out = tmp_path / "dub.mp3"
    code, _, err = msar(capsys, "repair", dub, "-o", out, "--audio-track", "2", "--strength", "0", "-q")
    assert code == 0, err
    title = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format_tags=title", "-of", "csv=p=0", str(out)],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert title == "French dub"


def test_a_cover_picture_stays_a_cover_in_matroska(tmp_path, capsys):
    """A cover picture (a one-frame JPEG flagged attached_pic) of an MP4 goes into an MKV as
    Matroska's attachment, the picture's bytes unchanged (copied as a stream it became a second video
    track); an MKV's cover attachment, which WebM cannot hold, is left out of a WebM with a warning,
    the picture and the sound written."""
    from test_repair_cli import _model, msar

    identity = _model(tmp_path / "identity", use_speaker_conditioning=False)
    cover = tmp_path / "cover.jpg"
    _ffmpeg("-f", "lavfi", "-i", "color=c=red:s=64x48", "-frames:v", "1", cover)
    album = tmp_path / "album.mp4"
    _ffmpeg(*PICTURE, "-i", DEMO / "damaged_demo.flac", "-i", cover, "-map", 0, "-map", 1, "-map", 2, "-c:v:0", "mpeg4",
            "-c:v:1", "copy", "-disposition:v:1", "attached_pic", "-c:a", "aac", "-shortest", album)
    out = tmp_path / "album.mkv"
    code, _, err = msar(capsys, "repair", album, "-o", out, "--model", identity, "-q")
    assert code == 0 and "left out" not in err, err
    streams = _streams(out)
    assert [(s["codec_type"], s["codec_name"], s["disposition"]["attached_pic"]) for s in streams] == [
        ("video", "mpeg4", 0), ("audio", "aac", 0), ("video", "mjpeg", 1)]
    assert streams[2]["tags"]["mimetype"] == "image/jpeg"
    copied = tmp_path / "copied.jpg"
    _ffmpeg("-i", out, "-map", "0:2", "-c", "copy", "-f", "image2", "-update", "1", copied)
    assert copied.read_bytes() == cover.read_bytes()

    talk = tmp_path / "talk.mkv"
    _ffmpeg(*PICTURE, "-i", DEMO / "damaged_demo.flac", "-map", 0, "-map", 1, "-c:v", "libvpx-vp9", "-c:a", "libopus",
            "-shortest", "-attach", cover, "-metadata:s:t:0", "mimetype=image/jpeg", talk)
    web = tmp_path / "talk.webm"
    code, _, err = msar(capsys, "repair", talk, "-o", web, "--model", identity, "-q")
    assert code == 0 and "cover picture(s) cannot go into a .webm file and were left out (.mkv holds them)" in err, err
    assert [(s["codec_type"], s["codec_name"]) for s in _streams(web)] == [("video", "vp9"), ("audio", "opus")]
    avi = tmp_path / "album.avi"  # AVI holds no cover either: copied, it was a second video stream
    code, _, err = msar(capsys, "repair", album, "-o", avi, "--model", identity, "-q")
    assert code == 0 and "cover picture(s) cannot go into a .avi file and were left out" in err, err
    assert [s["codec_type"] for s in _streams(avi)] == ["video", "audio"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_a_vorbis_track_stays_vorbis_where_its_coder_refuses_the_usual_bit_rate(tmp_path, capsys):
    """An MKV's 16 kHz mono Vorbis track: libvorbis refuses msar's floor of 128 kbit/s there, and the
    repaired track fell to FLAC without a word; it is coded as Vorbis at the input's own rate now."""
    from test_repair_cli import _model, msar

    identity = _model(tmp_path / "identity", use_speaker_conditioning=False)
    talk = tmp_path / "talk.mkv"
    _ffmpeg(*PICTURE, "-i", DEMO / "damaged_demo.flac", "-c:v", "mpeg4", "-c:a", "libvorbis", "-shortest", talk)
    out = tmp_path / "fixed.mkv"
    code, _, err = msar(capsys, "repair", talk, "-o", out, "--model", identity, "-q")
    assert code == 0, err
    assert [(s["codec_type"], s["codec_name"]) for s in _streams(out)] == [("video", "mpeg4"), ("audio", "vorbis")]
    assert abs(_av_lag(talk, out)) <= 1


def test_a_full_disk_stops_the_mux_instead_of_trying_a_smaller_file(tmp_path, monkeypatch):
    """A try that fails for want of room (a full disk, a file size limit) ends the mux with that
    reason: the next try, the input's own lower bit rate, would fit and pass for a success."""
    from msar_hf import video
    from msar_hf.errors import AudioError

    plan = video.MuxPlan(tmp_path / "in.mkv", streams=[{"index": 0, "codec_type": "video", "codec_name": "h264"},
                                                        {"index": 1, "codec_type": "audio", "codec_name": "opus"}],
                         track=1, bit_rate=32000)
    assert [t[2] for t in video._tries(plan, ".mkv")][:2] == [128000, 32000]  # the fall-back that would fit
    calls = []

    def full_disk(args, **kwargs):
        calls.append(args)
        return subprocess.CompletedProcess(args, 1, "", "av_interleaved_write_frame(): File too large")

    monkeypatch.setattr(video.subprocess, "run", full_disk)
    monkeypatch.setattr(video, "_commands", lambda output: ("ffmpeg", "ffprobe"))
    with pytest.raises(AudioError, match="cannot be written .File too large"):
        video.mux(plan, tmp_path / "sound.flac", tmp_path / "out.mkv", 16000)
    assert len(calls) == 1
