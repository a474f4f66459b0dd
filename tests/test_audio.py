"""Audio I/O on real recordings: every format, depth, rate and channel layout, and every bad input."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from msar_hf.audio import find_audio_files, load_audio, save_audio
from msar_hf.errors import (
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
from msar_hf.recording_io import audio_info


@pytest.fixture(scope="module")
def speech(speech_file):
    data, rate = sf.read(speech_file, dtype="float32")
    assert rate == 16000
    return data


def _snr_db(ref: np.ndarray, est: np.ndarray) -> float:
    n = min(len(ref), len(est))
    ref, est = ref[:n], est[:n]
    return float(10 * np.log10(np.sum(ref**2) / (np.sum((ref - est) ** 2) + 1e-20)))


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_wav_bit_depths_round_trip(tmp_path, speech, subtype):
    path = tmp_path / f"speech_{subtype}.wav"
    speech = 0.9 * speech / np.abs(speech).max()  # use the full scale so 8 bits are 8 useful bits
    sf.write(path, speech, 16000, subtype=subtype)
    wav, rate = load_audio(path)
    assert rate == 16000 and wav.dtype == torch.float32 and wav.shape == (len(speech),)
    # 8-bit keeps ~25 dB of SNR on speech (crest factor eats the rest), 16 bits ~75 dB, the rest are transparent.
    assert _snr_db(speech, wav.numpy()) > {"PCM_U8": 20, "PCM_16": 65}.get(subtype, 100)


@pytest.mark.parametrize("ext", [".flac", ".ogg", ".mp3", ".m4a", ".opus"])
def test_compressed_formats_decode_to_the_same_speech(tmp_path, speech, ext):
    path = tmp_path / f"speech{ext}"
    save_audio(path, torch.from_numpy(speech), 16000)
    wav, rate = load_audio(path)
    assert rate == 16000
    # Lossy codecs add delay/padding; compare the aligned envelope rather than samples.
    n = len(speech)
    assert abs(wav.shape[-1] - n) < 0.1 * n
    ref_env = np.convolve(speech**2, np.ones(400) / 400, mode="same")
    m = min(n, wav.shape[-1])
    est_env = np.convolve(wav.numpy()[:m] ** 2, np.ones(400) / 400, mode="same")
    corr = np.corrcoef(ref_env[:m], est_env)[0, 1]
    assert corr > 0.9


def test_resampling_and_stereo(tmp_path, speech, fsdd_file):
    stereo = np.stack([speech, 0.5 * speech], axis=1)
    path = tmp_path / "stereo_44k.wav"
    # write at 16 kHz, read natively, then ask for other rates
    sf.write(path, stereo, 16000)
    both, rate = load_audio(path, sampling_rate=None, mono=False)
    assert both.shape == (2, len(speech)) and rate == 16000
    torch.testing.assert_close(both[1], 0.5 * both[0], atol=1e-4, rtol=0)
    mono, _ = load_audio(path)
    torch.testing.assert_close(mono, both.mean(0))
    up, rate = load_audio(path, sampling_rate=44100, mono=False)
    assert rate == 44100 and abs(up.shape[-1] - round(len(speech) * 44100 / 16000)) <= 1
    # 8 kHz FSDD digit upsampled to 16 kHz keeps its energy below 4 kHz
    wav8, r8 = load_audio(fsdd_file, sampling_rate=None)
    wav16, r16 = load_audio(fsdd_file)
    assert (r8, r16) == (8000, 16000)
    assert abs(wav16.shape[-1] - 2 * wav8.shape[-1]) <= 1
    assert abs(float(wav16.pow(2).mean() / wav8.pow(2).mean()) - 1) < 0.05


def test_bytes_input(speech_file):
    wav_path, _ = load_audio(speech_file)
    wav_bytes, _ = load_audio(speech_file.read_bytes())
    torch.testing.assert_close(wav_path, wav_bytes)


def test_bad_inputs_raise_typed_errors_naming_the_file(tmp_path, speech_file, speech):
    cases = {}
    cases["missing"] = (tmp_path / "missing.wav", AudioFileNotFoundError)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    cases["empty"] = (empty, EmptyAudioFileError)
    text = tmp_path / "notes.wav"
    text.write_text("these are my meeting notes, not audio\n" * 20)
    cases["text"] = (text, NotAudioError)
    good_wav = tmp_path / "good.wav"
    sf.write(good_wav, speech, 16000, subtype="PCM_16")
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(good_wav.read_bytes()[: 44 + 4000])
    cases["truncated wav"] = (truncated, CorruptAudioError)
    raw = bytearray(speech_file.read_bytes())
    corrupt = tmp_path / "corrupt.flac"
    corrupt.write_bytes(bytes(raw[:200]) + bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8)))
    cases["corrupt flac"] = (corrupt, AudioError)
    zero = tmp_path / "zero.wav"
    sf.write(zero, np.zeros(0, dtype=np.float32), 16000)
    cases["zero samples"] = (zero, NoSamplesError)
    nan = tmp_path / "nan.wav"
    bad = speech.copy()
    bad[1000:1010] = np.nan
    sf.write(nan, bad, 16000, subtype="FLOAT")
    cases["nan"] = (nan, NonFiniteSamplesError)
    for name, (path, err) in cases.items():
        with pytest.raises(err) as info:
            load_audio(path)
        assert str(path) in str(info.value), name
        assert isinstance(info.value, AudioError), name


def test_save_is_atomic_and_never_overwrites_inputs(tmp_path, speech_file):
    wav, rate = load_audio(speech_file)
    with pytest.raises(OverwriteInputError):
        save_audio(speech_file, wav, rate, inputs=[speech_file])
    out = tmp_path / "sub" / "out.wav"
    save_audio(out, wav, rate, inputs=[speech_file])
    back, _ = load_audio(out)
    assert _snr_db(wav.numpy(), back.numpy()) > 60
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.wav"]  # no temp files left
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600
    with pytest.raises(UnsupportedFormatError):
        save_audio(tmp_path / "out.xyz", wav, rate)
    with pytest.raises(NonFiniteSamplesError):
        save_audio(tmp_path / "nan.wav", torch.full((100,), float("nan")), rate)
    # a failing write leaves an existing file untouched
    before = out.read_bytes()
    with pytest.raises(NoSamplesError):
        save_audio(out, torch.zeros(0), rate)
    assert out.read_bytes() == before


def test_audio_info_levels(tmp_path, speech_file):
    info = audio_info(speech_file)
    assert info.sampling_rate == 16000 and info.channels == 1 and info.format == "flac"
    assert 1.0 < info.duration_s < 10.0 and info.peak_dbfs < 0 and info.rms_dbfs < info.peak_dbfs
    assert info.clipped_ratio == 0.0
    wav, rate = load_audio(speech_file)
    clipped = (wav * 20).clamp(-1, 1)
    path = tmp_path / "clipped.wav"
    save_audio(path, clipped, rate)
    hot = audio_info(path)
    assert hot.clipped_ratio > 0.05 and hot.peak_dbfs > -0.1
    # the encoding and, for a lossy file, its bit rate
    assert (info.encoding, info.bit_rate_kbps, hot.encoding) == ("PCM_16", None, "PCM_16")
    save_audio(tmp_path / "coded.mp3", wav, rate, bit_rate=64_000)
    coded = audio_info(tmp_path / "coded.mp3")
    assert coded.encoding == "MPEG_LAYER_III" and 60 <= coded.bit_rate_kbps <= 70
    assert find_audio_files([speech_file.parent]) == sorted(speech_file.parent.glob("*.flac"))


def _msar(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "msar_hf", *args], capture_output=True, text=True, timeout=120, check=False)


def test_audio_info_measures_a_long_recording_block_by_block(tmp_path, monkeypatch, speech_file):
    """msar info loaded the whole file to measure it: 4 GB for 3 hours of 48 kHz stereo. A long
    recording is now read block by block (never through load_audio), with the same levels, clipping
    and silence a whole-file measure gives; a clip shorter than one 10 ms frame is judged as one
    frame (a spoken 5 ms read as 100 % silence)."""
    import msar_hf.recording_io
    from msar_hf.audio import level_stats
    from msar_hf.recording_io import INFO_BLOCK_SECONDS, STREAM_ABOVE_SECONDS

    x, rate = load_audio(speech_file)
    loud = (x * 8).clamp(-1, 1)  # some clipping to count
    take = torch.cat([x, torch.zeros(rate // 3), loud])
    long = take.repeat(int(np.ceil((STREAM_ABOVE_SECONDS + 2 * INFO_BLOCK_SECONDS) * rate / take.shape[-1])))
    stereo = torch.stack([long, 0.5 * long])
    path = tmp_path / "long.wav"
    save_audio(path, stereo, rate, subtype="FLOAT")

    def whole_file_read(*args, **kwargs):
        raise AssertionError("a long recording was loaded whole")

    monkeypatch.setattr(msar_hf.recording_io, "load_audio", whole_file_read)
    info = audio_info(path)
    expected = level_stats(stereo, rate)
    assert info.channels == 2 and info.duration_s == pytest.approx(stereo.shape[-1] / rate)
    assert info.peak_dbfs == pytest.approx(expected["peak_dbfs"], abs=1e-4)
    assert info.rms_dbfs == pytest.approx(expected["rms_dbfs"], abs=1e-3)
    assert info.clipped_ratio == pytest.approx(expected["clipped_ratio"], rel=1e-6) and info.clipped_ratio > 0
    assert info.silence_ratio == pytest.approx(expected["silence_ratio"], abs=1e-6) and info.silence_ratio > 0.05
    monkeypatch.undo()
    voiced = int(torch.argmax(x.abs()))
    blip = tmp_path / "blip.wav"
    save_audio(blip, x[voiced - 40:voiced + 40], rate)  # 5 ms of speech
    assert audio_info(blip).silence_ratio == 0.0


def test_msar_info_cli(tmp_path, speech_file, fsdd_file):
    res = _msar("info", str(speech_file), str(fsdd_file), "--json")
    assert res.returncode == 0, res.stderr
    lines = [line for line in res.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 2 and '"sampling_rate": 8000' in lines[1]
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    res = _msar("info", str(bad))
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "bad.wav" in res.stderr and "Traceback" not in res.stderr


def test_long_high_rate_ogg_is_written_not_crashed(tmp_path, speech_file):
    """libvorbis overflows the stack on one large write (a segfault above ~2 M frames: 44 s at
    48 kHz); msar writes in blocks. In a subprocess, so a regression fails this test only."""
    code = (
        "import sys, torch; from msar_hf.audio import load_audio, resample, save_audio\n"
        f"x = resample(load_audio({str(speech_file)!r})[0], 16000, 48000)\n"
        "x = x.repeat(50 * 48000 // x.numel() + 1)[: 50 * 48000]\n"
        f"save_audio({str(tmp_path / 'long.ogg')!r}, x, 48000)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, (done.returncode, done.stderr[-500:])
    info = sf.info(tmp_path / "long.ogg")
    assert (info.samplerate, info.frames) == (48000, 50 * 48000)


def test_unencodable_rate_is_a_typed_error_before_any_work(tmp_path, speech):
    from msar_hf.audio import check_encodable

    with pytest.raises(UnsupportedFormatError, match=r"'.opus' at 44100 Hz \(supported: 48000"):
        check_encodable(tmp_path / "out.opus", 44100)
    with pytest.raises(UnsupportedFormatError, match="96000 Hz"):
        save_audio(tmp_path / "out.mp3", speech, 96000)
    assert not list(tmp_path.iterdir())  # no temporary file left behind
    check_encodable(tmp_path / "out.opus", 48000)  # supported: silent
    check_encodable(tmp_path / "out.wav", 96000)


def test_integer_samples_are_saved_at_their_own_scale(tmp_path, speech_file):
    """int16 / int32 / uint8 arrays (scipy.io.wavfile, soundfile's dtype='int16') are full scale at
    their type's range, not at 1.0: saved as they sound, not clipped into a square wave."""
    data, rate = sf.read(speech_file, dtype="int16")
    assert np.array_equal(sf.read(save_audio(tmp_path / "int16.wav", data, rate), dtype="int16")[0], data)
    data, rate = sf.read(speech_file, dtype="int32")
    out = save_audio(tmp_path / "int32.wav", torch.from_numpy(data), rate, subtype="PCM_32")
    assert np.abs(sf.read(out, dtype="float64")[0] - data / 2**31).max() < 1e-7
    data, rate = sf.read(speech_file, dtype="float32")
    u8 = np.clip(np.round(data * 128 + 128), 0, 255).astype(np.uint8)
    out = save_audio(tmp_path / "u8.wav", u8, rate)
    assert np.array_equal(sf.read(out, dtype="float32")[0], (u8.astype(np.float32) - 128) / 128)


def test_samples_by_channels_layout_is_a_typed_error_that_says_so(tmp_path, speech_file):
    """soundfile reads (frames, channels); save_audio takes (channels, frames). Given the former,
    the answer is one typed error naming the layout, not libsndfile's 'Format not recognised'."""
    data, rate = sf.read(speech_file, dtype="float32", always_2d=True)
    stereo = np.concatenate([data, data], axis=1)  # (T, 2)
    for suffix in (".wav", ".mp3"):
        with pytest.raises(AudioError, match=r"\(channels, samples\)"):
            save_audio(tmp_path / f"out{suffix}", stereo, rate)
    assert not list(tmp_path.iterdir())
    save_audio(tmp_path / "ok.wav", stereo.T, rate)
    assert sf.info(tmp_path / "ok.wav").channels == 2


@pytest.mark.skipif(not __import__("shutil").which("ffmpeg"), reason="needs the ffmpeg command")
def test_a_video_without_an_audio_track_says_so(tmp_path, speech_file):
    """A video with sound is read like any recording; one without is not 'damaged or truncated'."""
    with_sound, silent_film = tmp_path / "talk.mp4", tmp_path / "film.mp4"
    for out, sound in ((with_sound, ["-i", str(speech_file), "-shortest", "-c:a", "aac"]), (silent_film, [])):
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=5:duration=2",
                        *sound, "-c:v", "mpeg4", str(out)], check=True, timeout=60)
    x, rate = load_audio(with_sound)
    assert rate == 16000 and x.shape[-1] > 16000
    with pytest.raises(NoSamplesError, match="film.mp4: has no audio track"):
        load_audio(silent_film)
