"""`msar repair` and msar_hf.repair on real fixtures.

Two small models made here (the shipped default is tested at the end when present):
* ``identity_model``: a fresh MsarAutoencoderModel, which starts as the identity (mask 1,
  mapping 0). Any difference between input and output is then the I/O path's fault, so the
  plumbing (rates, channels, windows, cross-fades, lengths, formats) is checked to 1e-4.
* ``random_model``: the same with perturbed weights, a real non-identity repair function, for
  strength, per-channel processing and the bad-input paths.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from msar_hf.audio import load_audio, resample, save_audio

REPO = Path(__file__).resolve().parents[1]
SMALL = {"hidden_size": 64, "lstm_hidden_size": 64, "lstm_layers": 1, "encoder_layers": 1}
TOL = 1e-4  # 16-bit output quantisation is 3e-5


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _model(path: Path, perturb: float = 0.0, **config) -> Path:
    from msar_hf.models.autoencoder import MsarAutoencoderConfig, MsarAutoencoderModel

    torch.manual_seed(0)
    model = MsarAutoencoderModel(MsarAutoencoderConfig(**{**SMALL, **config}))
    if perturb:
        with torch.no_grad():
            for p in model.parameters():
                p.add_(perturb * torch.randn_like(p))
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def identity_model(tmp_path_factory) -> Path:
    return _model(tmp_path_factory.mktemp("identity_model"), use_speaker_conditioning=False)


@pytest.fixture(scope="module")
def random_model(tmp_path_factory) -> Path:
    return _model(tmp_path_factory.mktemp("random_model"), perturb=0.05, use_speaker_conditioning=False)


def msar(capsys, *args) -> tuple[int, str, str]:
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    from msar_hf.cli import main

    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return int(exc.value.code or 0), captured.out, captured.err


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]




# --------------------------------------------------------------------------------------------
def test_one_file_identity_model_gives_back_the_input(tmp_path, capsys, identity_model, speech_file):
    out = tmp_path / "out.wav"
    code, _, err = msar(capsys, "repair", speech_file, "-o", out, "--model", identity_model, "--device", "cpu", "-q")
    assert code == 0, err
    x, rate = load_audio(speech_file, sampling_rate=None)
    y, out_rate = load_audio(out, sampling_rate=None)
    assert out_rate == rate == 16000 and y.shape == x.shape
    assert float((y - x).abs().max()) < TOL


def test_default_output_is_a_repaired_folder_not_beside_the_input(tmp_path, capsys, monkeypatch, identity_model, speech_file):
    (tmp_path / "in").mkdir()
    shutil.copy(speech_file, tmp_path / "in" / "take.flac")
    monkeypatch.chdir(tmp_path)
    code, stdout, err = msar(capsys, "repair", "in/take.flac", "--model", identity_model, "--device", "cpu")
    assert code == 0, err
    assert (tmp_path / "repaired" / "take.flac").is_file()
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["take.flac"]
    assert "repaired/take.flac" in stdout


def test_folder_tree_formats_rates_and_bit_depth_are_kept(tmp_path, capsys, identity_model, speech_files, fsdd_file):
    src = tmp_path / "recordings"
    x, _ = load_audio(speech_files[0])
    x22 = resample(load_audio(speech_files[1])[0], 16000, 22050)
    save_audio(src / "a.flac", x, 16000)
    save_audio(src / "day2" / "b.wav", x22, 22050, subtype="PCM_24")
    save_audio(src / "day2" / "deep" / "c.ogg", load_audio(speech_files[2])[0], 16000)
    shutil.copy(fsdd_file, src / "day2" / "deep" / "phone.flac")
    (src / "notes.txt").write_text("not audio, not listed")
    out = tmp_path / "out"
    code, _, err = msar(capsys, "repair", src, "-o", out, "--model", identity_model, "--device", "cpu", "-q")
    assert code == 0, err
    made = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert made == ["a.flac", "day2/b.wav", "day2/deep/c.ogg", "day2/deep/phone.flac"]
    assert sf.info(out / "day2" / "b.wav").subtype == "PCM_24"
    for rel in made:
        x, rate = load_audio(src / rel, sampling_rate=None)
        y, out_rate = load_audio(out / rel, sampling_rate=None)
        assert out_rate == rate and y.shape == x.shape, rel
        if rel.endswith((".wav", ".flac")):  # lossless: the input itself, at any rate (msar_hf.fullband
            assert float((y - x).abs().max()) < TOL, rel  # puts back what the 16 kHz round trip loses)



def test_folder_takes_videos_oga_and_deep_flac_and_a_file_given_twice(tmp_path, capsys, identity_model, speech_files):
    """A folder of recorded interviews (.mp4) is repaired to WAV; .oga is written as given; 32-bit
    float input keeps 24 bits in FLAC (not 16); a file given twice is repaired once."""
    src = tmp_path / "archive"
    src.mkdir()
    x, _ = load_audio(speech_files[0])
    if shutil.which("ffmpeg"):
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=5:duration=2",
                        "-i", str(speech_files[1]), "-shortest", "-c:v", "mpeg4", "-c:a", "aac", str(src / "talk.mp4")],
                       check=True, timeout=60)
    save_audio(src / "float.wav", x, 16000, subtype="FLOAT")
    out = tmp_path / "out"
    code, _, err = msar(capsys, "repair", src, "-o", out, "--model", identity_model, "--device", "cpu", "-q")
    assert code == 0, err
    made = sorted(p.name for p in out.iterdir())
    assert made == (["float.wav", "talk.wav"] if shutil.which("ffmpeg") else ["float.wav"])
    code, _, err = msar(capsys, "repair", src / "float.wav", "-o", tmp_path / "deep.flac", "--model", identity_model, "-q")
    assert code == 0, err
    assert sf.info(tmp_path / "deep.flac").subtype == "PCM_24"
    code, _, err = msar(capsys, "repair", src / "float.wav", "-o", tmp_path / "take.oga", "--model", identity_model, "-q")
    assert code == 0 and sf.info(tmp_path / "take.oga").format == "OGG", err
    twice = tmp_path / "twice"
    code, _, err = msar(capsys, "repair", src / "float.wav", src / "float.wav", "-o", twice, "--model", identity_model, "-q")
    assert code == 0, err
    assert [p.name for p in twice.iterdir()] == ["float.wav"]


def test_a_lossy_output_is_not_coded_poorer_than_its_lossy_input(tmp_path, capsys, identity_model, speech_file):
    """FFmpeg's LAME default at 16 kHz is 24 kbit/s: a repaired mp3 would lose far more than the repair."""
    from msar_hf.audio import MIN_LOSSY_BIT_RATE, lossy_bit_rate

    x, _ = load_audio(speech_file)
    save_audio(tmp_path / "take.mp3", x, 16000, bit_rate=64_000)
    assert 60_000 <= lossy_bit_rate(tmp_path / "take.mp3") <= 70_000 and lossy_bit_rate(speech_file) is None
    out = tmp_path / "out.mp3"
    code, _, err = msar(capsys, "repair", tmp_path / "take.mp3", "-o", out, "--model", identity_model, "--strength", 0, "-q")
    assert code == 0, err
    assert lossy_bit_rate(out) >= min(MIN_LOSSY_BIT_RATE, 160_000)  # MPEG-2 layer III tops out at 160 at 16 kHz
    x, _ = load_audio(tmp_path / "take.mp3", sampling_rate=None)
    y, _ = load_audio(out, sampling_rate=None)
    assert y.shape == x.shape
    # one more mp3 generation, not the 24 kbit/s default's -9 dB
    assert 10 * np.log10(float(((y - x) ** 2).sum() / (x ** 2).sum())) < -20
    # Ogg Vorbis (libsndfile) at quality 0.8: -30 dB of coding error, not the default 0.4's -22 dB
    code, _, err = msar(capsys, "repair", speech_file, "-o", tmp_path / "out.ogg", "--model", identity_model,
                        "--strength", 0, "-q")
    assert code == 0, err
    x, _ = load_audio(speech_file, sampling_rate=None)
    y, _ = load_audio(tmp_path / "out.ogg", sampling_rate=None)
    assert 10 * np.log10(float(((y - x) ** 2).sum() / (x ** 2).sum())) < -27


def test_8khz_telephone_audio_is_repaired_at_16k_and_written_back_at_8k(tmp_path, capsys, random_model, fsdd_file):
    x, rate = load_audio(fsdd_file, sampling_rate=None)
    assert rate == 8000
    code, _, err = msar(capsys, "repair", fsdd_file, "-o", tmp_path / "back.wav", "--model", random_model,
                        "--device", "cpu", "-q")
    assert code == 0, err
    y, out_rate = load_audio(tmp_path / "back.wav", sampling_rate=None)
    assert out_rate == 8000 and y.shape == x.shape
    # not wiped: the repaired call keeps its level and follows the input closely
    level = 20 * np.log10(float(y.pow(2).mean().sqrt()) / float(x.pow(2).mean().sqrt()))
    assert abs(level) < 6.0
    assert float(torch.corrcoef(torch.stack([x, y]))[0, 1]) > 0.5
    code, _, err = msar(capsys, "repair", fsdd_file, "-o", tmp_path / "wide.wav", "--output-rate", 16000,
                        "--model", random_model, "--device", "cpu", "-q")
    assert code == 0, err
    wide, wide_rate = load_audio(tmp_path / "wide.wav", sampling_rate=None)
    assert wide_rate == 16000 and wide.shape[-1] == 2 * x.shape[-1]


@pytest.mark.parametrize("out_rate", [16000, 8000, 44100])
def test_output_rate_keeps_every_window_on_the_input_timeline(tmp_path, capsys, identity_model, speech_file, out_rate):
    """30 s at 44.1 kHz mono is two windows of 21.8 s; at another output rate the second one
    must start on an output sample (its start, in input samples, times out_rate / 44100, is an
    integer), or all of it comes out shifted by a fraction of an output sample: at 16 kHz the
    second window was 0.24 output samples (0.67 input samples) early, -16.6 dB of difference
    from the input resampled whole where the first window has -66 dB. At the input's own rate the
    output is the input itself, cross-fade included (it was 1 LSB off on 608 of its samples)."""
    x = load_audio(speech_file)[0]
    x = resample(x.repeat(int(np.ceil(30 * 16000 / x.shape[-1])))[: 30 * 16000], 16000, 44100)
    src = save_audio(tmp_path / "in.wav", x, 44100, subtype="FLOAT")
    out = tmp_path / "out.wav"
    code, _, err = msar(capsys, "repair", src, "-o", out, "--output-rate", out_rate, "--strength", "0",
                        "--model", identity_model, "--device", "cpu", "-q")
    assert code == 0, err
    y, rate = load_audio(out, sampling_rate=None)
    reference = resample(x, 44100, out_rate)
    assert rate == out_rate and y.shape == reference.shape
    if out_rate == 44100:
        assert torch.equal(y, load_audio(src, sampling_rate=None)[0])
    error_db = 10 * np.log10(float((y - reference).pow(2).sum() / reference.pow(2).sum()) + 1e-20)
    assert error_db < -50, error_db


@pytest.mark.parametrize("rate", [8000, 44100])
def test_strength_zero_is_identity_and_strength_mixes(tmp_path, capsys, random_model, speech_file, rate):
    x = resample(load_audio(speech_file)[0], 16000, rate)
    src = save_audio(tmp_path / "in.wav", x, rate)
    x = load_audio(src, sampling_rate=None)[0]
    outs = {}
    for strength in ("0", "0.5", "1"):
        out = tmp_path / f"s{strength}.wav"
        code, _, err = msar(capsys, "repair", src, "-o", out, "--strength", strength, "--model", random_model,
                            "--device", "cpu", "-q")
        assert code == 0, err
        outs[strength] = load_audio(out, sampling_rate=None)[0]
    # untouched, at 8 kHz and 44.1 kHz alike: the very samples (a null test), not their round trip
    # through 16 kHz, which put 1 LSB of 16 bits on 0.06 % of them
    assert torch.equal(outs["0"], x)
    assert float((outs["1"] - outs["0"]).abs().max()) > 0.01  # the random model does change the audio
    assert float((outs["0.5"] - 0.5 * (outs["0"] + outs["1"])).abs().max()) < 2 * TOL
    code, _, err = msar(capsys, "repair", src, "-o", tmp_path / "bad.wav", "--strength", "1.5", "--model", random_model)
    assert code == 2 and len(_lines(err)) == 1 and "strength" in err
    code, _, err = msar(capsys, "repair", src, "-o", tmp_path / "bad.wav", "--strength", "loud", "--model", random_model)
    assert code == 2 and len(_lines(err)) == 1 and "'auto'" in err and not (tmp_path / "bad.wav").exists()
    # auto: a mix between the ends. What a random model does is a large change that follows the speech,
    # a rewrite rather than a repair (postprocessing's AUTO_REWRITE_*), so auto holds it back to 0.5
    code, _, err = msar(capsys, "repair", src, "-o", tmp_path / "auto.wav", "--strength", "auto", "--model",
                        random_model, "--device", "cpu", "-q")
    assert code == 0, err
    auto = load_audio(tmp_path / "auto.wav", sampling_rate=None)[0]
    mix = float(((auto - outs["0"]) * (outs["1"] - outs["0"])).sum() / (outs["1"] - outs["0"]).pow(2).sum())
    assert mix == pytest.approx(0.5, abs=0.02), mix


def test_gate_option_sets_the_residual_gate_and_refuses_bad_values(tmp_path, capsys, random_model, speech_file):
    src = save_audio(tmp_path / "in.wav", load_audio(speech_file)[0], 16000)
    outs = {}
    for gate in ("0", "1"):
        out = tmp_path / f"g{gate}.wav"
        code, _, err = msar(capsys, "repair", src, "-o", out, "--gate", gate, "--model", random_model, "--device", "cpu", "-q")
        assert code == 0, err
        outs[gate] = load_audio(out)[0]
    # the random model's config has no gate: --gate 0 is its plain repair, --gate 1 ducks what it left
    code, _, err = msar(capsys, "repair", src, "-o", tmp_path / "plain.wav", "--model", random_model, "--device", "cpu", "-q")
    assert code == 0, err
    assert float((load_audio(tmp_path / "plain.wav")[0] - outs["0"]).abs().max()) < TOL
    assert outs["1"].pow(2).sum() < outs["0"].pow(2).sum()
    code, _, err = msar(capsys, "repair", src, "-o", tmp_path / "bad.wav", "--gate", "1.5", "--model", random_model)
    assert code == 2 and len(_lines(err)) == 1 and "--gate" in err and not (tmp_path / "bad.wav").exists()


def test_comb_option_sets_the_low_band_comb_and_refuses_bad_values(tmp_path, capsys, random_model, speech_file,
                                                                   noise_files):
    speech = load_audio(speech_file)[0]
    tap = load_audio(next(f for f in noise_files if f.stem == "running_tap"))[0]
    tap = tap.repeat(speech.numel() // tap.numel() + 1)[: speech.numel()]
    src = save_audio(tmp_path / "in.wav", speech + 0.5 * tap * speech.std() / tap.std(), 16000)
    outs = {}
    for comb in ("0", "1"):
        out = tmp_path / f"c{comb}.wav"
        code, _, err = msar(capsys, "repair", src, "-o", out, "--comb", comb, "--model", random_model, "--device", "cpu", "-q")
        assert code == 0, err
        outs[comb] = load_audio(out)[0]
    # the random model's config has no comb: --comb 0 is its plain repair; --comb 1 lowers what lies
    # between the harmonics under 350 Hz of what it made of the noisy speech, and nothing above
    code, _, err = msar(capsys, "repair", src, "-o", tmp_path / "plain.wav", "--model", random_model, "--device", "cpu", "-q")
    assert code == 0, err
    assert float((load_audio(tmp_path / "plain.wav")[0] - outs["0"]).abs().max()) < TOL
    window = torch.hann_window(1024)
    change = torch.stft(outs["1"] - outs["0"], 1024, 160, window=window, return_complex=True).abs().square().sum(1)
    assert change.sum() > 0 and change[28:].sum() < 1e-4 * change.sum()  # bins from 437 Hz up
    code, _, err = msar(capsys, "repair", src, "-o", tmp_path / "bad.wav", "--comb", "1.5", "--model", random_model)
    assert code == 2 and len(_lines(err)) == 1 and "--comb" in err and not (tmp_path / "bad.wav").exists()


def test_stereo_channels_are_repaired_separately(tmp_path, capsys, random_model, speech_files):
    from msar_hf.models.autoencoder import MsarAutoencoderModel

    left, right = load_audio(speech_files[0])[0], load_audio(speech_files[3])[0]
    n = min(left.shape[-1], right.shape[-1])
    stereo = torch.stack([left[:n], right[:n]])
    src = save_audio(tmp_path / "stereo.wav", stereo, 16000)
    stereo = load_audio(src, sampling_rate=None, mono=False)[0]
    code, _, err = msar(capsys, "repair", src, "-o", tmp_path / "out.wav", "--model", random_model, "--device", "cpu", "-q")
    assert code == 0, err
    y, rate = load_audio(tmp_path / "out.wav", sampling_rate=None, mono=False)
    assert rate == 16000 and y.shape == stereo.shape
    model = MsarAutoencoderModel.from_pretrained(random_model).eval()
    for ch in range(2):
        expected = model.repair(stereo[ch]).clamp(-1, 1)
        assert float((y[ch] - expected).abs().max()) < TOL
    assert float((y[0] - y[1]).abs().mean()) > 0.01


def test_one_signal_in_two_channels_is_repaired_once(tmp_path, capsys, random_model, speech_file, monkeypatch):
    """A mono recording saved as stereo (both channels the same samples): the model runs once per
    window, not once per channel, and both channels carry what it gives the mono file, to the LSB."""
    from msar_hf.models.autoencoder import MsarAutoencoderModel

    x = load_audio(speech_file)[0]
    mono = save_audio(tmp_path / "mono.wav", x, 16000)
    dual = save_audio(tmp_path / "dual.wav", torch.stack([x, x]), 16000)
    calls = []
    repair = MsarAutoencoderModel.repair
    monkeypatch.setattr(MsarAutoencoderModel, "repair", lambda self, w, **kw: calls.append(w.shape) or repair(self, w, **kw))
    outs = {}
    for src in (mono, dual):
        calls.clear()
        code, _, err = msar(capsys, "repair", src, "-o", tmp_path / f"{src.stem}_out.wav", "--model", random_model, "-q")
        assert code == 0, err
        assert len(calls) == 1, calls
        outs[src.stem] = sf.read(tmp_path / f"{src.stem}_out.wav", dtype="int16", always_2d=True)[0]
    assert outs["dual"].shape == (x.numel(), 2)
    assert np.array_equal(outs["dual"][:, 0], outs["mono"][:, 0]) and np.array_equal(outs["dual"][:, 1], outs["mono"][:, 0])


def test_a_silent_channel_stays_digital_silence_beside_a_repaired_one(tmp_path, capsys, random_model, speech_file):
    """Speech on the left, digital silence on the right (a mono recorder's stereo file): the right
    channel comes back all zeros. It went through the model with the left one, since only a window
    silent on every channel was passed through: the shipped model wrote 870 samples of +-1 LSB
    there (48 kHz, 20 s of speech), this random one more. The left channel is repaired as it is
    beside a right channel of its own (two windows of 15 s: the second reads what the first wrote
    nothing into)."""
    x = load_audio(speech_file)[0]
    left = resample(x.repeat(int(np.ceil(20 * 16000 / x.shape[-1])))[: 20 * 16000], 16000, 48000)
    outs = {}
    for name, right in (("silent", torch.zeros_like(left)), ("speech", left)):
        src = save_audio(tmp_path / f"{name}.wav", torch.stack([left, right]), 48000)
        code, _, err = msar(capsys, "repair", src, "-o", tmp_path / f"{name}_out.wav", "--model", random_model,
                            "--device", "cpu", "-q")
        assert code == 0, err
        outs[name] = sf.read(tmp_path / f"{name}_out.wav", dtype="int16", always_2d=True)[0]
    assert np.abs(outs["silent"][:, 0]).max() > 1000 and np.count_nonzero(outs["silent"][:, 1]) == 0
    assert np.array_equal(outs["silent"][:, 0], outs["speech"][:, 0])


def test_unreadable_inputs_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, identity_model, speech_file):
    x, _ = load_audio(speech_file)
    cases = {"missing.wav": None, "empty.wav": b"", "notes.wav": b"this is a text file, not audio\n" * 20}
    for name, data in cases.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
    nan = x.numpy().copy()
    nan[1000:1010] = np.nan
    sf.write(tmp_path / "nan.wav", nan, 16000, subtype="FLOAT")
    whole = save_audio(tmp_path / "whole.wav", x, 16000).read_bytes()
    (tmp_path / "truncated.wav").write_bytes(whole[: len(whole) // 2])
    for name in [*cases, "nan.wav", "truncated.wav"]:
        out = tmp_path / "out" / f"repaired_{name}"
        code, _, err = msar(capsys, "repair", tmp_path / name, "-o", out, "--model", identity_model, "--device", "cpu", "-q")
        assert code == 2, (name, err)
        assert len(_lines(err)) == 1 and name in err and "Traceback" not in err, (name, err)
        assert not out.exists(), name
    assert not any((tmp_path / "out").glob(".*")) if (tmp_path / "out").exists() else True  # no temp files left


def test_difficult_valid_inputs_keep_their_length_with_clear_warnings(tmp_path, capsys, random_model, speech_file):
    x, _ = load_audio(speech_file)
    t = torch.arange(4 * 16000) / 16000
    notes = [220.0, 277.2, 329.6, 440.0, 392.0, 329.6, 293.7, 261.6]
    note = torch.tensor(notes)[(t / 0.5).long().clamp(max=len(notes) - 1)]  # a plucked-chord melody
    music = sum(torch.sin(2 * torch.pi * k * note * t) / k for k in (1, 2, 3)) * torch.exp(-3 * (t % 0.5)) * 0.2
    inputs = {
        "silent.wav": torch.zeros(2 * 16000),
        "short.wav": x[4000:5600],  # 0.1 s
        "clipped.wav": (x * 30).clamp(-1, 1),  # full-scale clipping everywhere
        "music.wav": music,
        "speech.wav": x,
    }
    for name, wave in inputs.items():
        src = save_audio(tmp_path / name, wave, 16000)
        out = tmp_path / "out" / name
        code, _, err = msar(capsys, "repair", src, "-o", out, "--model", random_model, "--device", "cpu", "-q")
        assert code == 0, (name, err)
        y, rate = load_audio(out, sampling_rate=None)
        assert rate == 16000 and y.shape[-1] == wave.shape[-1] and torch.isfinite(y).all(), name
        warnings = [line for line in _lines(err) if "warning" in line]
        # a (random) repair may push peaks past full scale: they are limited, and that is said
        if any("soft-limited" in w for w in warnings):
            assert float(y.abs().max()) <= 0.981, name
            warnings = [w for w in warnings if "soft-limited" not in w]
        if name == "silent.wav":
            assert len(warnings) == 1 and "silent" in warnings[0]
            assert float(y.abs().max()) == 0.0
        elif name == "music.wav":
            assert len(warnings) == 1 and "no speech detected" in warnings[0]
            # at strength 0 nothing is altered: nothing to warn about (it said "use --strength")
            code, _, err = msar(capsys, "repair", src, "-o", tmp_path / "untouched.wav", "--model", random_model,
                                "--device", "cpu", "--strength", "0")
            assert code == 0 and "warning" not in err, err
            assert torch.equal(load_audio(tmp_path / "untouched.wav", sampling_rate=None)[0], load_audio(src)[0])
        elif name == "short.wav":
            assert len(warnings) == 1 and "very short" in warnings[0]
        else:
            assert warnings == [], (name, warnings)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="the ffmpeg command writes the speaker layouts")
def test_a_wav_keeps_its_speaker_layout(tmp_path, capsys, identity_model, speech_file):
    """A WAVE_FORMAT_EXTENSIBLE input's speaker layout (dwChannelMask) stays in a WAV output, whole
    (5.1 with side speakers) or streamed (3.0 with a back speaker, which libsndfile has no default
    for); both were written as plain WAVs, so players and editors had to guess the layout."""
    from msar_hf.metadata import wav_channel_mask

    x = sf.read(speech_file, dtype="float32")[0]
    folder = tmp_path / "takes"
    folder.mkdir()
    takes = {"five_one.wav": ("5.1(side)", 0x60F, 48000, np.tile(x, 1)),
             "long_three.wav": ("3.0(back)", 0x103, 16000, np.tile(x, int(np.ceil(130 * 16000 / len(x)))))}
    for name, (layout, _, rate, mono) in takes.items():
        raw = tmp_path / f"raw_{name}"
        gains = np.linspace(1.0, 0.2, int(layout[0]) + (layout[2] == "1"))
        sf.write(raw, np.outer(resample(torch.from_numpy(mono), 16000, rate).numpy(), gains), rate, subtype="PCM_24")
        subprocess.run(["ffmpeg", "-v", "error", "-guess_layout_max", "0", "-i", str(raw), "-af",
                        f"channelmap=channel_layout={layout}", "-c:a", "pcm_s24le", str(folder / name)], check=True)
    code, _, err = msar(capsys, "repair", folder, "-o", tmp_path / "out", "--model", identity_model,
                        "--device", "cpu", "-q")
    assert code == 0, err
    for name, (_, mask, rate, _) in takes.items():
        src, out = folder / name, tmp_path / "out" / name
        assert wav_channel_mask(src) == mask and wav_channel_mask(out) == mask, name
        assert sf.info(out).subtype == "PCM_24" and sf.info(out).samplerate == rate
        a, b = sf.read(src, dtype="float32")[0], sf.read(out, dtype="float32")[0]
        assert a.shape == b.shape and np.abs(a - b).max() < TOL, name


def test_a_speaker_layout_after_a_large_header_chunk_is_kept(tmp_path, capsys, identity_model, speech_file):
    """The layout was looked for in a file's first 4096 bytes: a 5.1 WAV whose fmt chunk follows a
    6 kB JUNK chunk (recorders reserve header room so) came back without it."""
    import struct

    from msar_hf.metadata import wav_channel_mask

    x = sf.read(speech_file, dtype="float32")[0]
    raw, wavex = tmp_path / "raw.wav", tmp_path / "wavex.wav"
    sf.write(raw, np.outer(x, np.linspace(1.0, 0.3, 6)), 16000, subtype="PCM_16")
    subprocess.run(["ffmpeg", "-v", "error", "-guess_layout_max", "0", "-i", str(raw), "-af",
                    "channelmap=channel_layout=5.1(side)", "-c:a", "pcm_s16le", str(wavex)], check=True)
    data = wavex.read_bytes()
    padded = data[:12] + b"JUNK" + struct.pack("<I", 6000) + bytes(6000) + data[12:]
    source = tmp_path / "padded.wav"
    source.write_bytes(padded[:4] + struct.pack("<I", len(padded) - 8) + padded[8:])
    code, _, err = msar(capsys, "repair", source, "-o", tmp_path / "out.wav", "--model", identity_model, "--device", "cpu",
                        "-q")
    assert code == 0, err
    assert wav_channel_mask(source) == 0x60F and wav_channel_mask(tmp_path / "out.wav") == 0x60F
    assert sf.info(tmp_path / "out.wav").frames == len(x)


def test_text_tags_stay_with_the_recording(tmp_path, capsys, identity_model, speech_file):
    """An archive's catalogue data in the file (title, artist, date, comment) was dropped by the
    repair. It stays where libsndfile writes the output: a whole FLAC, a streamed WAV, FLAC -> WAV;
    an AIFF output keeps the tags AIFF has fields for, an m4a none (and still gets written)."""
    x = sf.read(speech_file, dtype="float32")[0]
    tags = {"title": "Interview, reel 3", "artist": "J. Doe", "date": "1962-05-04", "comment": "transfer 2026"}
    folder = tmp_path / "takes"
    folder.mkdir()
    for name, audio in (("reel.flac", x), ("long.wav", np.tile(x, int(np.ceil(130 * 16000 / len(x)))))):
        with sf.SoundFile(folder / name, "w", 16000, 1) as handle:
            for key, value in tags.items():
                setattr(handle, key, value)
            handle.write(audio)
    code, _, err = msar(capsys, "repair", folder, "-o", tmp_path / "out", "--model", identity_model, "--device", "cpu", "-q")
    assert code == 0, err
    for name in ("reel.flac", "long.wav"):
        assert sf.SoundFile(tmp_path / "out" / name).copy_metadata() == tags, name
    for out, expected in (("reel.wav", tags), ("reel.aiff", {k: v for k, v in tags.items() if k != "date"}),
                          ("reel.m4a", None)):
        code, _, err = msar(capsys, "repair", folder / "reel.flac", "-o", tmp_path / out, "--model", identity_model,
                            "--device", "cpu", "-q")
        assert code == 0 and (tmp_path / out).is_file(), err
        if expected is not None:
            assert sf.SoundFile(tmp_path / out).copy_metadata() == expected, out


def test_windows_1252_info_tags_keep_their_letters(tmp_path, capsys, identity_model, speech_file):
    """A WAV whose LIST/INFO text is Windows-1252 (what the Windows tools that wrote most such files
    used): libsndfile and FFmpeg read it as UTF-8, so "Café – Reel 3" reached the outputs as
    "Caf\ufffd \ufffd Reel 3". UTF-8 INFO text is read as before."""
    import json
    import struct

    def info_field(field_id: bytes, text: str, encoding: str) -> bytes:
        data = text.encode(encoding) + b"\0"
        return field_id + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1)

    sources = {}
    for encoding in ("cp1252", "utf-8"):
        plain = tmp_path / f"plain_{encoding}.wav"
        sf.write(plain, sf.read(speech_file, dtype="float32")[0], 16000, subtype="PCM_16")
        info = b"INFO" + info_field(b"INAM", "Café – Reel 3", encoding) + info_field(b"IART", "Jürgen Müller", encoding)
        data = plain.read_bytes() + b"LIST" + struct.pack("<I", len(info)) + info
        sources[encoding] = tmp_path / f"reel_{encoding}.wav"
        sources[encoding].write_bytes(data[:4] + struct.pack("<I", len(data) - 8) + data[8:])
    expected = {"title": "Café – Reel 3", "artist": "Jürgen Müller"}
    for encoding, source in sources.items():
        for suffix in (".flac", ".wav", ".mp3"):
            out = tmp_path / "out" / f"{source.stem}{suffix}"
            code, _, err = msar(capsys, "repair", source, "-o", out, "--model", identity_model, "--device", "cpu", "-q")
            assert code == 0, err
            probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format_tags", "-of", "json", str(out)],
                                   capture_output=True, text=True, check=True)
            tags = {k.lower(): v for k, v in json.loads(probe.stdout)["format"].get("tags", {}).items()}
            assert {key: tags.get(key) for key in expected} == expected, (encoding, suffix, tags)


def test_tags_stay_in_mp3_m4a_and_opus_outputs(tmp_path, capsys, identity_model, speech_file):
    """A podcast's ID3 title and artist (or a FLAC's tags) were dropped from mp3/m4a/opus outputs:
    torchcodec's encoder writes none. Such an output is now encoded by the ffmpeg command, which maps
    them; ffprobe reads them back. The samples are those an untagged input gets."""
    import json

    def probe_tags(path: Path) -> dict:
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format_tags:stream_tags", "-of", "json",
                                str(path)], capture_output=True, text=True, check=True)
        data = json.loads(probe.stdout)
        found = {**data.get("format", {}).get("tags", {}), **data["streams"][0].get("tags", {})}
        return {key.lower(): value for key, value in found.items() if key.lower() in ("title", "artist")}

    tagged, plain = tmp_path / "episode.mp3", tmp_path / "plain.mp3"
    for path, tags in ((tagged, ["-metadata", "title=Episode 12", "-metadata", "artist=The Podcast"]), (plain, [])):
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(speech_file), *tags, "-b:a", "64k", str(path)], check=True)
    expected = {"title": "Episode 12", "artist": "The Podcast"}
    for suffix in (".mp3", ".m4a", ".opus"):
        outputs = {}
        for source in (tagged, plain):
            outputs[source] = tmp_path / "out" / f"{source.stem}{suffix}"
            code, _, err = msar(capsys, "repair", source, "-o", outputs[source], "--model", identity_model,
                                "--device", "cpu", "-q")
            assert code == 0, err
        assert probe_tags(outputs[tagged]) == expected and probe_tags(outputs[plain]) == {}, suffix
        a, b = load_audio(outputs[tagged], sampling_rate=None)[0], load_audio(outputs[plain], sampling_rate=None)[0]
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-4), suffix
    flac = tmp_path / "reel.flac"
    with sf.SoundFile(flac, "w", 16000, 1) as handle:
        handle.title, handle.artist = expected["title"], expected["artist"]
        handle.write(sf.read(speech_file, dtype="float32")[0])
    code, _, err = msar(capsys, "repair", flac, "-o", tmp_path / "reel.mp3", "--model", identity_model, "--device", "cpu", "-q")
    assert code == 0 and probe_tags(tmp_path / "reel.mp3") == expected, err


def test_encoded_outputs_carry_the_inputs_tags_not_its_containers_fields(tmp_path, capsys, identity_model, speech_file):
    """FFmpeg reports an m4a's brands (major_brand, minor_version, compatible_brands) among its tags:
    an untagged m4a's mp3/opus output got them as tags. And it reports an Ogg file's Vorbis comments
    as its stream's, not the container's: an opus or ogg input's title was lost in an mp3/m4a/opus output."""
    import json

    def probe_tags(path: Path) -> dict:
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format_tags:stream_tags", "-of", "json",
                                str(path)], capture_output=True, text=True, check=True)
        data = json.loads(probe.stdout)
        found = {**data.get("format", {}).get("tags", {}), **data["streams"][0].get("tags", {})}
        own = ("encoder", "language", "handler_name", "vendor_id")  # every output's, from its muxer
        own += ("major_brand", "minor_version", "compatible_brands") if path.suffix == ".m4a" else ()
        return {key.lower(): value for key, value in found.items() if key.lower() not in own}

    title = "Café – Reel 3"
    plain, opus, vorbis = tmp_path / "plain.m4a", tmp_path / "reel.opus", tmp_path / "reel.ogg"
    for path, tags in ((plain, []), (opus, ["-metadata", f"title={title}"]), (vorbis, ["-metadata", f"title={title}"])):
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(speech_file), *tags, str(path)], check=True)
    for source, suffixes, expected in ((plain, (".mp3", ".opus"), {}), (opus, (".mp3", ".m4a", ".opus"), {"title": title}),
                                       (vorbis, (".mp3", ".m4a"), {"title": title})):
        for suffix in suffixes:
            out = tmp_path / "out" / f"{source.stem}_{source.suffix[1:]}{suffix}"
            code, _, err = msar(capsys, "repair", source, "-o", out, "--model", identity_model, "--device", "cpu", "-q")
            assert code == 0, err
            assert probe_tags(out) == expected, (source.name, suffix)


def test_an_m4a_inputs_tags_stay_in_wav_and_flac_outputs(tmp_path, capsys, identity_model, speech_file):
    """libsndfile does not open an m4a, so its tags (read through libsndfile for a WAV or FLAC
    output) were dropped there: an interview.m4a's title was lost in interview_repaired.wav. They
    come from FFmpeg's reading now, under libsndfile's names; the muxer's stamp stays out."""
    source = tmp_path / "interview.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(speech_file), "-metadata", "title=Interview, reel 3",
                    "-metadata", "artist=J. Doe", "-metadata", "date=1962", "-metadata", "track=3", str(source)],
                   check=True)
    expected = {"title": "Interview, reel 3", "artist": "J. Doe", "date": "1962", "tracknumber": "3"}
    for suffix in (".wav", ".flac"):
        out = tmp_path / f"out{suffix}"
        code, _, err = msar(capsys, "repair", source, "-o", out, "--model", identity_model, "--device", "cpu", "-q")
        assert code == 0, err
        assert sf.SoundFile(out).copy_metadata() == expected, suffix


@pytest.mark.parametrize("streamed", [False, True])
def test_cover_art_stays_in_mp3_m4a_and_flac_outputs(tmp_path, capsys, monkeypatch, identity_model, speech_file,
                                                     streamed):
    """A podcast episode's cover art (an ID3 APIC picture) was dropped by the repair: neither
    libsndfile nor torchcodec's encoder writes one. It stays, byte for byte, in mp3, m4a and FLAC
    outputs, whole or streamed; the FLAC's samples are those an episode without art gets."""
    import msar_hf.recording_io

    if streamed:
        monkeypatch.setattr(msar_hf.recording_io, "STREAM_ABOVE_SECONDS", 1.0)  # the utterance stands for a long one
    cover = tmp_path / "cover.png"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=64x48", "-frames:v", "1", str(cover)],
                   check=True)
    episode, plain = tmp_path / "episode.mp3", tmp_path / "plain.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(speech_file), "-i", str(cover), "-map", "0", "-map", "1",
                    "-c:v", "copy", "-disposition:v", "attached_pic", "-b:a", "64k", str(episode)], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(speech_file), "-b:a", "64k", str(plain)], check=True)

    def picture(path: Path) -> bytes | None:
        found = tmp_path / f"{path.name}.png"
        done = subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), "-map", "0:v", "-c", "copy", "-f", "image2",
                               str(found)], capture_output=True, check=False)
        return found.read_bytes() if done.returncode == 0 and found.exists() else None

    assert picture(episode) == cover.read_bytes() and picture(plain) is None
    for suffix in (".mp3", ".m4a", ".flac", ".wav"):
        outputs = {}
        for source in (episode, plain):
            outputs[source] = tmp_path / "out" / f"{source.stem}{suffix}"
            code, _, err = msar(capsys, "repair", source, "-o", outputs[source], "--model", identity_model,
                                "--device", "cpu", "-q")
            assert code == 0, err
        assert picture(outputs[plain]) is None, suffix
        assert picture(outputs[episode]) == (None if suffix == ".wav" else cover.read_bytes()), suffix
        a, b = load_audio(outputs[episode], sampling_rate=None)[0], load_audio(outputs[plain], sampling_rate=None)[0]
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-4), suffix
    flac = {source: sf.read(tmp_path / "out" / f"{source.stem}.flac")[0] for source in (episode, plain)}
    assert np.array_equal(flac[episode], flac[plain])


def test_a_broadcast_wavs_bext_chunk_stays_with_it(tmp_path, capsys, identity_model, speech_file):
    """A broadcast WAV's EBU bext chunk (description, originator, time reference, coding history),
    written here by FFmpeg and read back by ffprobe, was dropped by the repair. It stays, whole or
    streamed; its time reference counts samples, so it follows --output-rate."""
    import json

    def bext(path: Path) -> dict:
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format_tags", "-of", "json", str(path)],
                               capture_output=True, text=True, check=True)
        tags = json.loads(probe.stdout)["format"]["tags"]
        return {key: tags.get(key) for key in ("comment", "encoded_by", "time_reference", "coding_history")}

    folder = tmp_path / "takes"
    folder.mkdir()
    long = tmp_path / "long.flac"
    x, _ = load_audio(speech_file)
    save_audio(long, x.repeat(int(np.ceil(130 * 16000 / x.shape[-1]))), 16000)
    for name, source in (("reel.wav", speech_file), ("long_reel.wav", long)):
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(source), "-write_bext", "1", "-metadata", "description=Reel 3",
                        "-metadata", "originator=Archive", "-metadata", "time_reference=1440000", "-metadata",
                        "coding_history=A=ANALOGUE,M=mono", str(folder / name)], check=True)
    expected = {"comment": "Reel 3", "encoded_by": "Archive", "time_reference": "1440000",
                "coding_history": "A=ANALOGUE,M=mono"}
    code, _, err = msar(capsys, "repair", folder, "-o", tmp_path / "out", "--model", identity_model, "--device", "cpu", "-q")
    assert code == 0, err
    for name in ("reel.wav", "long_reel.wav"):
        assert bext(folder / name) == expected and bext(tmp_path / "out" / name) == expected, name
        assert sf.info(tmp_path / "out" / name).frames == sf.info(folder / name).frames
    code, _, err = msar(capsys, "repair", folder / "reel.wav", "-o", tmp_path / "reel48.wav", "--output-rate", "48000",
                        "--model", identity_model, "--device", "cpu", "-q")
    assert code == 0 and bext(tmp_path / "reel48.wav") == {**expected, "time_reference": "4320000"}, err


def test_an_rf64_inputs_bext_chunk_stays_with_it(tmp_path, capsys, identity_model, speech_file):
    """An RF64 broadcast WAV (as FFmpeg, and recorders past 4 GB, write it) lost its bext in the
    repaired WAV: only RIFF files' chunks were read."""
    src = tmp_path / "reel.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(speech_file), "-rf64", "always", "-write_bext", "1", "-metadata",
                    "description=Reel 3", "-metadata", "time_reference=1440000", str(src)], check=True)
    assert src.read_bytes()[:4] == b"RF64"
    out = tmp_path / "out.wav"
    code, _, err = msar(capsys, "repair", src, "-o", out, "--model", identity_model, "--device", "cpu", "-q")
    assert code == 0, err
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format_tags", "-of", "json", str(out)],
                           capture_output=True, text=True, check=True)
    tags = json.loads(probe.stdout)["format"]["tags"]
    assert (tags.get("comment"), tags.get("time_reference")) == ("Reel 3", "1440000"), tags
    assert sf.info(out).frames == sf.info(src).frames


def test_a_bext_chunk_stays_when_the_riff_size_is_wrong(tmp_path, capsys, identity_model, speech_file):
    """A recorder that was cut off (or writes the RIFF size last) leaves 0 in it: libsndfile and
    ffprobe read the file whole, bext included, but the chunks were looked for only within the
    size it declared, so the repaired file lost its bext without a word."""
    import json

    def bext(path: Path) -> dict:
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format_tags", "-of", "json", str(path)],
                               capture_output=True, text=True, check=True)
        tags = json.loads(probe.stdout)["format"]["tags"]
        return {key: tags.get(key) for key in ("comment", "time_reference")}

    src = tmp_path / "reel.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(speech_file), "-write_bext", "1", "-metadata",
                    "description=Café – Reel 3", "-metadata", "time_reference=1440000", str(src)], check=True)
    expected = {"comment": "Café – Reel 3", "time_reference": "1440000"}
    for riff_size in (0, 0xFFFFFFFF):
        with open(src, "r+b") as handle:
            handle.seek(4)
            handle.write(struct.pack("<I", riff_size))
        out = tmp_path / f"out_{riff_size:x}.wav"
        code, _, err = msar(capsys, "repair", src, "-o", out, "--model", identity_model, "--device", "cpu", "-q")
        assert code == 0, err
        assert bext(src) == expected and bext(out) == expected, hex(riff_size)
        assert sf.info(out).frames == sf.info(src).frames


def test_inputs_are_never_overwritten(tmp_path, capsys, monkeypatch, identity_model, speech_file):
    folder = tmp_path / "takes"
    folder.mkdir()
    src = folder / "a.flac"
    shutil.copy(speech_file, src)
    before = src.read_bytes()
    code, _, err = msar(capsys, "repair", src, "-o", src, "--model", identity_model, "-q")
    assert code == 2 and len(_lines(err)) == 1 and "overwrite" in err
    code, _, err = msar(capsys, "repair", folder, "-o", folder, "--model", identity_model, "-q")
    assert code == 2 and len(_lines(err)) == 1 and "overwrite" in err
    assert src.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["a.flac"]
    # an output whose folder would have to be an existing file: refused before any work, one line
    code, _, err = msar(capsys, "repair", src, "-o", src / "x.wav", "--model", identity_model, "-q")
    assert code == 2 and len(_lines(err)) == 1 and "is a file, not a folder" in err, err
    # a model folder that does not exist is named as such (not as a malformed Hub id)
    code, _, err = msar(capsys, "repair", src, "-o", tmp_path / "x.wav", "--model", tmp_path / "no_such_model", "-q")
    assert code == 2 and "no such model folder" in err, err
    # so is a bare name (offline, trying it as a Hub id took 30 s of retries and spoke of the network)
    for name in ("no_such_model", "C:/models/repair"):  # a Windows drive path too
        code, _, err = msar(capsys, "repair", src, "-o", tmp_path / "x.wav", "--model", name, "-q")
        assert code == 2 and f"{name}: no such model folder" in err, err
    assert src.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["a.flac"]
    # an output folder inside the input folder: repaired files are not picked up as inputs next time
    monkeypatch.chdir(folder)
    for _ in range(2):
        code, _, err = msar(capsys, "repair", ".", "--model", identity_model, "--device", "cpu", "-q")
        assert code == 0, err
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.flac")) == ["a.flac", "repaired/a.flac"]
    assert src.read_bytes() == before


def test_an_output_file_name_for_several_outputs_is_refused_not_made_a_folder(tmp_path, capsys, identity_model,
                                                                               speech_files):
    """``msar repair a.flac b.flac -o both.wav`` (or a folder to ``-o x.flac``) made a folder named
    both.wav and exited 0; an audio file name where a folder must go is refused, nothing made.
    An existing folder of such a name is still a folder."""
    folder = tmp_path / "takes"
    folder.mkdir()
    for f in speech_files[:2]:
        shutil.copy(f, folder / f.name)
    for inputs, out in (([folder / speech_files[0].name, folder / speech_files[1].name], tmp_path / "both.wav"),
                        ([folder], tmp_path / "x.FLAC")):
        code, _, err = msar(capsys, "repair", *inputs, "-o", out, "--model", identity_model, "--device", "cpu", "-q")
        assert code == 2 and len(_lines(err)) == 1 and str(out) in err and "folder" in err, err
        assert not out.exists()
    named = tmp_path / "named.wav"
    named.mkdir()
    code, _, err = msar(capsys, "repair", folder, "-o", named, "--model", identity_model, "--device", "cpu", "-q")
    assert code == 0, err
    for f in speech_files[:2]:
        y, rate = load_audio(named / f.name, sampling_rate=None)
        assert rate == 16000 and torch.allclose(y, load_audio(f)[0], atol=TOL)


def test_plan_outputs_and_windows(tmp_path, speech_file):
    from msar_hf.batch import plan_outputs
    from msar_hf.errors import MsarError
    from msar_hf.repair import _windows

    fixtures = REPO / "tests" / "fixtures" / "speech"
    for day in ("monday", "tuesday"):
        (tmp_path / day).mkdir()
        shutil.copy(speech_file, tmp_path / day / "take.flac")
    with pytest.raises(MsarError, match="both be written"):  # two inputs, one output name
        plan_outputs([tmp_path / "monday" / "take.flac", tmp_path / "tuesday" / "take.flac"], tmp_path / "out")
    pairs = plan_outputs([fixtures / "kathleen", fixtures / "fsdd"], "out")
    assert ("out/kathleen/audio/arctic_a0001.flac" in {d.as_posix() for _, d in pairs})
    assert ("out/fsdd/audio/7_george_0.flac" in {d.as_posix() for _, d in pairs})
    # windows cover every sample, neighbours share 2 * context, a short last core joins the previous one
    for frames in (10, 999, 1000, 1001, 5050, 5150):
        w = _windows(frames, 1000, 100)
        assert w[0][0] == 0 and w[-1][1] == frames and w[-1][2] is None
        for (a, b, nxt), (a2, _, _) in itertools.pairwise(w):
            assert nxt == a2 and b - a2 == 200
    assert len(_windows(5050, 1000, 100)) == 5 and len(_windows(5250, 1000, 100)) == 6


def test_long_recording_is_streamed_with_flat_memory(tmp_path, identity_model, speech_file):
    """10 minutes of real speech: exact output (identity model), peak RSS no higher than for 3 minutes."""
    x, _ = load_audio(speech_file)
    tiled = x.repeat(int(np.ceil(600 * 16000 / x.shape[-1])))
    short = save_audio(tmp_path / "short.wav", tiled[: 180 * 16000], 16000)
    long = save_audio(tmp_path / "long.wav", tiled[: 600 * 16000], 16000)
    script = f"""
import json, re, torch
torch.set_num_threads(1)
from msar_hf.repair import Repairer
# VmHWM: this process's own peak RSS (ru_maxrss would include the forked image of pytest)
peak = lambda: int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) / 1024
r = Repairer({str(identity_model)!r}, device="cpu")
first = r.repair_file({str(short)!r}, {str(tmp_path / 'short_out.wav')!r})  # 3 windows: the allocator's high-water mark
after_short = peak()
report = r.repair_file({str(long)!r}, {str(tmp_path / 'long_out.wav')!r})
print(json.dumps({{"growth_mb": peak() - after_short, "streamed": first.streamed and report.streamed,
                  "warnings": report.warnings}}))
"""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["streamed"] and result["warnings"] == []
    # 7 more minutes held in memory would add >= 27 MB per float32 copy (the whole-file path adds
    # ~120 MB); allocator noise between runs was measured at 2-10 MB
    assert result["growth_mb"] < 20, result
    y, rate = load_audio(tmp_path / "long_out.wav", sampling_rate=None)
    reference = load_audio(long, sampling_rate=None)[0]
    assert rate == 16000 and y.shape == reference.shape
    assert float((y - reference).abs().max()) < TOL  # window seams and cross-fades are exact


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")
def test_long_lossy_input_and_output_are_streamed_through_ffmpeg(tmp_path, identity_model, speech_file):
    """A long m4a (which libsndfile cannot read) is decoded by the ffmpeg command to a temporary WAV
    and streamed, not held whole in memory; a long mp3/m4a output is encoded by it from a temporary
    WAV. Same samples as load_audio / save_audio, and no temporary file left behind."""
    from msar_hf.recording_io import STREAM_ABOVE_SECONDS, FFmpegSink, open_source
    from msar_hf.repair import Repairer

    x, _ = load_audio(speech_file)
    seconds = STREAM_ABOVE_SECONDS + 10
    wav = save_audio(tmp_path / "long.wav", x.repeat(int(np.ceil(seconds * 16000 / x.shape[-1])))[: int(seconds * 16000)], 16000)
    m4a = tmp_path / "long.m4a"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(wav), "-c:a", "aac", "-b:a", "64k", str(m4a)], check=True)
    source = open_source(m4a)
    decoded = source.decoded
    assert decoded is not None and decoded.exists() and source.subtype is None
    whole = load_audio(m4a, sampling_rate=None, mono=False)[0]
    assert source.frames == whole.shape[-1] and torch.equal(source.read(0, source.frames), whole)  # bit-identical
    source.close()
    assert not decoded.exists()

    report = Repairer(str(identity_model), device="cpu").repair_file(m4a, tmp_path / "out" / "long.mp3")
    assert report.streamed and report.warnings == []
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["long.mp3"]  # no temporary WAV left
    assert not list(tmp_path.glob(".msar_decoded_*"))  # decoded beside the output (not in a tmpfs /tmp), removed
    y, rate = load_audio(tmp_path / "out" / "long.mp3", sampling_rate=None)
    assert rate == 16000 and abs(y.shape[-1] - whole.shape[-1]) < 2000  # mp3's own padding only

    # the streamed encoder writes what save_audio writes for the same samples
    sink = FFmpegSink(tmp_path / "streamed.m4a", 1, 16000, 128000, shutil.which("ffmpeg"))
    for block in whole[:, : 16000 * 20].split(16000 * 3, dim=-1):
        sink.write(block)
    sink.commit()
    save_audio(tmp_path / "whole.m4a", whole[:, : 16000 * 20], 16000, bit_rate=128000)
    assert torch.equal(load_audio(tmp_path / "streamed.m4a", sampling_rate=None)[0],
                       load_audio(tmp_path / "whole.m4a", sampling_rate=None)[0])
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def _assert_streamed_as_load_audio_reads(path: Path, scratch: Path) -> None:
    """``path`` is decoded to a temporary WAV and streamed (not held in memory), with exactly the
    samples load_audio returns, start and end."""
    from msar_hf.recording_io import open_source

    whole = load_audio(path, sampling_rate=None, mono=False)[0]
    source = open_source(path, scratch)
    try:
        assert getattr(source, "decoded", None) is not None, "held in memory, not streamed"
        assert source.frames == whole.shape[-1] and torch.equal(source.read(0, source.frames), whole)
        assert torch.equal(source.read(source.frames - 5000, source.frames), whole[:, -5000:])
    finally:
        source.close()


def _long_wav(tmp_path: Path, speech_file: Path) -> Path:
    """A recording past STREAM_ABOVE_SECONDS: the utterance over and over."""
    from msar_hf.recording_io import STREAM_ABOVE_SECONDS

    x, _ = load_audio(speech_file)
    seconds = STREAM_ABOVE_SECONDS + 10
    return save_audio(tmp_path / "long_src.wav", x.repeat(int(np.ceil(seconds * 16000 / x.shape[-1])))[: int(seconds * 16000)], 16000)


def _long_m4a(tmp_path: Path, speech_file: Path, name: str = "long.m4a", *ffmpeg_args: str) -> Path:
    """A recording past STREAM_ABOVE_SECONDS as m4a (moov first: a cut file keeps its header)."""
    wav = _long_wav(tmp_path, speech_file)
    m4a = tmp_path / name
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), "-c:a", "aac", "-b:a", "64k",
                    "-movflags", "+faststart", *ffmpeg_args, str(m4a)], check=True)
    return m4a


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")
@pytest.mark.parametrize("name, codec", [("obs.mkv", "aac"), ("browser.webm", "libopus")])
def test_long_mkv_and_webm_are_streamed_with_load_audios_samples(tmp_path, speech_file, name, codec):
    """MKV and WebM (OBS's and browsers' recordings) state no stream duration: a long one was held
    whole in memory. Now it is streamed like a long m4a, sample for sample what load_audio reads,
    although for AAC in MKV the ffmpeg command keeps 1024 priming samples that torchcodec drops."""

    src = _long_wav(tmp_path, speech_file)
    video = tmp_path / name
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-c:a", codec, "-b:a", "64k", str(video)],
                   check=True)
    _assert_streamed_as_load_audio_reads(video, tmp_path)
    assert not list(tmp_path.glob(".msar_decoded_*"))


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")
def test_long_mkv_that_opens_on_digital_silence_is_streamed(tmp_path, speech_file, monkeypatch):
    """The start offset was looked for in the first second only: a recording that opened on a
    second or more of digital silence (a browser's, before the microphone starts) was held whole
    in memory."""
    import msar_hf.recording_io

    monkeypatch.setattr(msar_hf.recording_io, "STREAM_ABOVE_SECONDS", 1.0)  # a short utterance stands for a long one
    x, rate = load_audio(speech_file)
    src = save_audio(tmp_path / "src.wav", torch.cat([torch.zeros(int(1.5 * rate)), x]), rate)
    video = tmp_path / "late.mkv"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-c:a", "aac", str(video)], check=True)
    _assert_streamed_as_load_audio_reads(video, tmp_path)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")
def test_long_recording_with_two_audio_tracks_streams_the_track_load_audio_reads(tmp_path, speech_files, monkeypatch):
    """With no track marked default, the ffmpeg command decoded the one with most channels and
    torchcodec (load_audio) the first: an MKV's start-offset search then failed and the recording
    was held in memory; a container with a stream duration was not checked at all."""
    import msar_hf.recording_io

    monkeypatch.setattr(msar_hf.recording_io, "STREAM_ABOVE_SECONDS", 1.0)  # two short utterances stand for long ones
    video = tmp_path / "two_tracks.mkv"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(speech_files[0]), "-i", str(speech_files[1]),
                    "-filter_complex", "[1:a]pan=stereo|c0=c0|c1=c0[s]", "-map", "0:a", "-map", "[s]", "-c:a", "aac",
                    "-disposition:a:0", "0", "-disposition:a:1", "0", str(video)], check=True)
    _assert_streamed_as_load_audio_reads(video, tmp_path)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")
def test_long_truncated_m4a_is_refused_as_a_short_one_is(tmp_path, speech_file):
    """The ffmpeg command decodes what it can of a cut file and still exits 0: the streamed path
    repaired 60 % of the recording without a word, where load_audio says it is truncated."""
    from msar_hf.errors import CorruptAudioError
    from msar_hf.recording_io import open_source

    whole = _long_m4a(tmp_path, speech_file)
    cut = tmp_path / "cut.m4a"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    with pytest.raises(CorruptAudioError):
        load_audio(cut, sampling_rate=None, mono=False)
    with pytest.raises(CorruptAudioError):
        open_source(cut, tmp_path).close()
    assert not list(tmp_path.glob(".msar_decoded_*"))


def test_hidden_files_are_not_recordings_to_a_folder_scan(tmp_path, capsys, identity_model, speech_file):
    """An interrupted run's temporary files and macOS's "._x.wav" resource forks are hidden: a folder
    repair took them for recordings (and failed on them, exit 2)."""
    folder = tmp_path / "takes"
    folder.mkdir()
    shutil.copy(speech_file, folder / "take.flac")
    (folder / "._take.flac").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS resource fork
    (folder / ".x.ab12.wav").write_bytes(b"RIFF")  # a temporary file an interrupted run left
    code, _, err = msar(capsys, "repair", folder, "-o", tmp_path / "out", "--model", identity_model, "-q")
    assert code == 0, err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["take.flac"]


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")
def test_long_m4a_with_a_colon_in_its_relative_name_is_streamed(tmp_path, speech_file, monkeypatch):
    """The ffmpeg command reads "10:30 talk.m4a" as a URL of protocol "10": the decode failed and the
    recording was loaded whole in memory, the very case the temporary WAV is there to avoid."""
    from msar_hf.recording_io import open_source

    _long_m4a(tmp_path, speech_file, "10:30 talk.m4a")
    monkeypatch.chdir(tmp_path)
    source = open_source(Path("10:30 talk.m4a"))
    try:
        assert source.decoded is not None and source.frames == load_audio(Path("10:30 talk.m4a"), sampling_rate=None)[0].shape[-1]
    finally:
        source.close()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir() or shutil.which("ffmpeg") is None,
                    reason="needs /proc and the ffmpeg command")
def test_streamed_writers_leave_no_file_descriptor_open(tmp_path, speech_file):
    """mkstemp returns an open descriptor: FFmpegSink and write_speech kept theirs (one and two
    per file), so a folder of long files ran out of descriptors after about a thousand."""
    from msar_hf.recording_io import FFmpegSink
    from msar_hf.synthesis import write_speech

    x, _ = load_audio(speech_file)
    before = len(os.listdir("/proc/self/fd"))
    for i in range(3):
        sink = FFmpegSink(tmp_path / f"s{i}.mp3", 1, 16000, 64000, shutil.which("ffmpeg"))
        sink.write(x[None])
        sink.commit()
        write_speech(tmp_path / f"w{i}.flac", [x, x], 16000)
    assert len(os.listdir("/proc/self/fd")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"s{i}.mp3" for i in range(3)] + [f"w{i}.flac" for i in range(3)])


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command")
def test_long_opus_is_streamed_at_the_rate_load_audio_reads(tmp_path, speech_file):
    """libsndfile reads Ogg Opus at the rate its header says the source had (16 kHz here), FFmpeg
    (load_audio) at 48 kHz: a long opus was repaired and written at 16 kHz, a short one at 48."""
    from msar_hf.recording_io import open_source

    opus = _long_m4a(tmp_path, speech_file, "long.opus", "-c:a", "libopus")
    whole, rate = load_audio(opus, sampling_rate=None, mono=False)
    source = open_source(opus)
    try:
        assert (source.rate, source.frames) == (rate, whole.shape[-1]) == (48000, whole.shape[-1])
        assert torch.equal(source.read(0, source.frames), whole)
    finally:
        source.close()


def test_sigterm_mid_repair_leaves_no_temporary_file(tmp_path, identity_model, speech_file):
    """kill / a scheduler's time limit / torchrun stopping its ranks send SIGTERM: the streamed
    output's temporary file must go with the run, as on Ctrl-C."""
    import signal
    import time

    x, _ = load_audio(speech_file)
    long = save_audio(tmp_path / "long.wav", x.repeat(int(np.ceil(600 * 16000 / x.shape[-1]))), 16000)
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "msar_hf.cli", "repair", str(long), "-o", str(out / "long.wav"),
                             "--model", str(identity_model), "--device", "cpu", "-q"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(out.glob(".long.*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "finished before the temporary file was seen"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "Traceback" not in err
    assert list(out.iterdir()) == []  # neither the output nor its temporary file



def test_an_output_that_cannot_be_written_fails_that_file_only(tmp_path, identity_model, speech_file):
    """A full disk (here: a file-size limit, which binds root too) while writing one output, streamed
    or whole: one line naming that output, exit 2, no partial or temporary file, and the other files
    of the folder are still repaired. It was a libsndfile traceback ("System error.") that stopped
    the run at the first such file."""
    import resource
    import signal

    x, _ = load_audio(speech_file)
    folder = tmp_path / "takes"
    save_audio(folder / "a_long.wav", x.repeat(int(np.ceil(130 * 16000 / x.shape[-1]))), 16000)  # streamed
    save_audio(folder / "b_ten_seconds.wav", x.repeat(int(np.ceil(10 * 16000 / x.shape[-1]))), 16000)
    save_audio(folder / "c_one_second.wav", x[:16000], 16000)
    out = tmp_path / "out"
    limit = 200_000  # bytes: the first two outputs pass it, the third does not

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-m", "msar_hf.cli", "repair", str(folder), "-o", str(out),
                           "--model", str(identity_model), "--device", "cpu", "-q"],
                          cwd=REPO, env=env, capture_output=True, text=True, preexec_fn=limit_file_size, timeout=300,
                          check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in _lines(done.stderr) if line.startswith("msar: error:")]
    assert len(errors) == 3, done.stderr  # one per output, and the summary
    assert str(out / "a_long.wav") in errors[0] and "cannot be written" in errors[0]
    assert str(out / "b_ten_seconds.wav") in errors[1] and "cannot be written" in errors[1]
    assert sorted(p.name for p in out.iterdir()) == ["c_one_second.wav"]  # nothing partial, no temporary file
    y, rate = load_audio(out / "c_one_second.wav", sampling_rate=None)
    assert rate == 16000 and torch.allclose(y, x[:16000], atol=TOL)


def test_an_output_folder_that_refuses_files_fails_before_the_repair(tmp_path, capsys, monkeypatch, identity_model,
                                                                    speech_file):
    """An output folder that takes no files (read-only; here immutable, which binds root too) failed
    each file only after its repair, for every file of a folder run: now before the work."""
    from msar_hf.repair import Repairer

    locked = tmp_path / "locked"
    locked.mkdir()
    if subprocess.run(["chattr", "+i", str(locked)], capture_output=True, check=False).returncode != 0:
        pytest.skip("chattr +i is not available here")
    runs = []
    real_run = Repairer._run
    monkeypatch.setattr(Repairer, "_run", lambda self, *args, **kwargs: runs.append(1) or real_run(self, *args, **kwargs))
    try:
        code, _, err = msar(capsys, "repair", speech_file, "-o", locked / "take.wav", "--model", identity_model,
                            "--device", "cpu", "-q")
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)
    assert code == 2 and runs == [] and f"{locked / 'take.wav'}: cannot be written (Operation not permitted)" in err, err
    assert list(locked.iterdir()) == []
    code, _, err = msar(capsys, "repair", speech_file, "-o", locked / "take.wav", "--model", identity_model,
                        "--device", "cpu", "-q")
    assert code == 0 and runs == [1] and [p.name for p in locked.iterdir()] == ["take.wav"], err


def test_a_full_disk_under_an_encoded_output_is_named_as_such(tmp_path, speech_file):
    """The same refusal under an .m4a output (FFmpeg's encoder) read "cannot encode '.m4a' at 16000 Hz
    (...) choose another rate (--output-rate) or format": the system's reason is what the user needs."""
    import resource
    import signal

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))

    out = tmp_path / "out" / "take.m4a"
    done = subprocess.run([sys.executable, "-m", "msar_hf.cli", "repair", str(speech_file), "-o", str(out), "--strength", "0",
                           "-q"], cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          preexec_fn=limit_file_size, timeout=300, check=False)
    assert done.returncode == 2 and _lines(done.stderr) == [f"msar: error: {out}: cannot be written (File too large)"]
    assert not out.exists() and list(out.parent.iterdir()) == []


@pytest.mark.skipif(not Path("/usr/bin/time").exists(), reason="GNU time measures the child's peak RSS")
def test_the_msar_command_skips_torchs_teardown(speech_file):
    """The console script (msar_hf.cli:run) ends in os._exit once main() returns: unloading torch's
    libraries touched ~130 MB more pages, the difference between the one-hour repair's peak RSS
    under and over 1 GB measured from outside. Same output, same exit code."""
    def peak_kb(entry: str, *args: str) -> tuple[int, int, str]:
        res = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-c", f"from msar_hf.cli import {entry}; {entry}()",
                              *args], cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"},
                             capture_output=True, text=True, timeout=300, check=False)
        return res.returncode, int(res.stderr.strip().splitlines()[-1]), res.stdout

    code, fast, out = peak_kb("run", "info", str(speech_file))
    code_main, slow, out_main = peak_kb("main", "info", str(speech_file))
    assert (code, out) == (code_main, out_main) and code == 0 and "16000" in out
    assert fast < slow - 50_000, (fast, slow)
    assert peak_kb("run", "info", "/no/such/file.wav")[0] == 2


def test_the_msar_command_still_runs_atexit_handlers(tmp_path):
    """os._exit skips the interpreter's teardown, and with it every atexit handler: gradio's kill
    of a `msar serve --share` tunnel (SIGTERM reaches run() as SystemExit), tempfile's and
    weakref.finalize cleanups, multiprocessing's. They cost no memory and must still run."""
    marker = tmp_path / "ran"
    code = (f"import atexit, pathlib; atexit.register(pathlib.Path({str(marker)!r}).write_text, 'yes'); "
            "from msar_hf.cli import run; run()")
    res = subprocess.run([sys.executable, "-c", code, "--help"], cwd=REPO, capture_output=True, text=True,
                         timeout=120, check=False)
    assert res.returncode == 0 and "Usage" in res.stdout, res.stderr[-2000:]
    assert marker.exists() and marker.read_text() == "yes"


def test_skip_existing_goes_on_where_a_stopped_run_left_off(tmp_path, capsys, random_model, speech_files):
    """An archive run stopped half-way was started again from the first file: every output made
    again. --skip-existing leaves the outputs that are there (each written atomically, so whole) and
    repairs the rest; without it, a run repairs them all again."""
    src = tmp_path / "archive"
    src.mkdir()
    for f in speech_files[:3]:
        shutil.copy(f, src / f.name)
    out = tmp_path / "out"
    code, _, err = msar(capsys, "repair", src / speech_files[0].name, "-o", out / speech_files[0].name,
                        "--model", random_model, "--device", "cpu", "-q")
    assert code == 0, err
    first = out / speech_files[0].name
    done_before = first.read_bytes()
    save_audio(first, load_audio(first)[0] * 0.5, 16000)  # told apart from a repair made again
    kept = first.read_bytes()
    assert kept != done_before
    code, stdout, err = msar(capsys, "repair", src, "-o", out, "--model", random_model, "--device", "cpu",
                             "--skip-existing")
    assert code == 0, err
    assert first.read_bytes() == kept and f"{first} (there already: skipped)" in stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(f.name for f in speech_files[:3])
    assert "2 repaired, 0 failed, 1 skipped (output there already)" in stdout
    for f in speech_files[1:3]:
        assert sf.info(out / f.name).frames == sf.info(f).frames
    code, stdout, err = msar(capsys, "repair", src, "-o", out, "--model", random_model, "--device", "cpu", "-q")
    assert code == 0 and first.read_bytes() == done_before, err


def test_report_lists_every_file_with_its_status_and_warnings(tmp_path, capsys, identity_model, speech_file):
    """An archive run's outcome was only on the terminal; --report writes it, one row per file, as CSV
    or JSON: what was repaired, what failed and why, the warnings, the speed. A report name that
    cannot be one is refused before the model loads."""
    import csv
    import json

    src = tmp_path / "archive"
    src.mkdir()
    shutil.copy(speech_file, src / "a_take.flac")
    (src / "b_broken.wav").write_text("not audio\n")
    save_audio(src / "c_silence.wav", torch.zeros(16000), 16000)
    for name in ("log.csv", "log.json"):
        code, _, err = msar(capsys, "repair", src, "-o", tmp_path / "out", "--model", identity_model, "--device", "cpu",
                            "-q", "--report", tmp_path / "logs" / name)
        assert code == 2 and "1 of 3 files could not be repaired" in err, err
    with open(tmp_path / "logs" / "log.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    as_json = json.loads((tmp_path / "logs" / "log.json").read_text())
    assert [Path(r["input"]).name for r in rows] == [Path(r["input"]).name for r in as_json] == [
        "a_take.flac", "b_broken.wav", "c_silence.wav"]
    assert [r["status"] for r in rows] == [r["status"] for r in as_json] == ["repaired", "failed", "repaired"]
    assert "b_broken.wav: not an audio file" in rows[1]["error"] and rows[1]["output"] == ""
    assert "silent input" in rows[2]["warnings"] and any("silent input" in w for w in as_json[2]["warnings"])
    assert as_json[0]["duration_s"] == pytest.approx(sf.info(speech_file).duration, abs=1e-3)
    assert as_json[0]["seconds"] > 0 and as_json[0]["error"] is None
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["log.csv", "log.json"]  # no temporary left
    # --shard by hand: each shard (another process, no other to gather from) writes its own file
    code, _, err = msar(capsys, "repair", src, "-o", tmp_path / "out", "--model", identity_model, "--device", "cpu",
                        "-q", "--shard", "0/2", "--report", tmp_path / "shards" / "log.csv")
    assert code == 0 and [p.name for p in (tmp_path / "shards").iterdir()] == ["log.shard1of2.csv"], err
    (tmp_path / "old.csv").mkdir()
    for bad, why in (("log.txt", "written as .csv or .json"), ("old.csv", "is a folder")):
        code, _, err = msar(capsys, "repair", src, "-o", tmp_path / "out2", "--model", tmp_path / "no_model",
                            "--report", tmp_path / bad)
        assert code != 0 and why in err and not (tmp_path / "out2").exists(), err


def _repair_on_two_cpu_ranks(src: Path, out: Path, model: Path, *extra: str) -> subprocess.CompletedProcess:
    """`accelerate launch --multi_gpu --num_processes 2 -m msar_hf.cli repair SRC -o OUT` on CPU."""
    cmd = [str(Path(sys.executable).parent / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "-m", "msar_hf.cli", "repair", str(src), "-o", str(out), "--model", str(model), "--device", "cpu", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=400, check=False)


@pytest.mark.slow
def test_two_cpu_ranks_shard_a_folder_with_accelerate_launch(tmp_path, identity_model, speech_files, fsdd_file):
    src = tmp_path / "many"
    for i, f in enumerate([*speech_files, fsdd_file]):
        (src / f"part{i % 2}").mkdir(parents=True, exist_ok=True)
        shutil.copy(f, src / f"part{i % 2}" / f.name)
    inputs = sorted(p.relative_to(src).as_posix() for p in src.rglob("*.flac"))
    out = tmp_path / "out"
    proc = _repair_on_two_cpu_ranks(src, out, identity_model, "--report", str(tmp_path / "report.json"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    # one report, by the first process, with every process's files
    report = json.loads((tmp_path / "report.json").read_text())
    assert sorted(Path(r["input"]).relative_to(src).as_posix() for r in report) == inputs
    assert {r["status"] for r in report} == {"repaired"} and not list(tmp_path.glob("report.shard*"))
    summaries = sorted(line for line in proc.stdout.splitlines() if line.startswith("process "))
    half = len(inputs) // 2
    assert summaries == [f"process 1/2: {len(inputs) - half} repaired, 0 failed", f"process 2/2: {half} repaired, 0 failed"]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.flac")) == inputs
    done = [line.split(" -> ")[0] for line in proc.stdout.splitlines() if " -> " in line]
    assert len(done) == len(set(done)) == len(inputs)  # every file once, by one rank


@pytest.mark.slow
def test_a_rank_with_a_bad_file_does_not_stop_the_other_ranks(tmp_path, identity_model, speech_file):
    """torchrun stops every rank once one exits with an error: rank 0 fails on its first file at
    once, rank 1 is still repairing long recordings, which must be finished all the same."""
    src = tmp_path / "archive"
    src.mkdir()
    (src / "a_bad.wav").write_text("not audio\n")  # rank 0
    x, _ = load_audio(speech_file)
    long = x.repeat(int(np.ceil(600 * 16000 / x.shape[-1])))
    save_audio(src / "b_long.wav", long, 16000)  # rank 1
    shutil.copy(speech_file, src / "c_take.flac")  # rank 0, after its bad file
    save_audio(src / "d_long.wav", long, 16000)  # rank 1
    out = tmp_path / "out"
    proc = _repair_on_two_cpu_ranks(src, out, identity_model)
    assert proc.returncode != 0 and "a_bad.wav: not an audio file" in proc.stderr
    # (once rank 0 exits, the launcher still sends rank 1 SIGTERM, but only after its work is done)
    assert sorted(p.name for p in out.iterdir()) == ["b_long.wav", "c_take.flac", "d_long.wav"], proc.stderr[-3000:]
    assert sf.info(out / "d_long.wav").frames == sf.info(src / "d_long.wav").frames


def test_speaker_reference_conditions_a_speaker_aware_model(tmp_path, speech_files):
    from msar_hf.errors import MsarError
    from msar_hf.repair import Repairer

    conditioned = _model(tmp_path / "conditioned", perturb=0.05, use_speaker_conditioning=True)
    with pytest.raises(MsarError, match="missing.wav"):
        Repairer(conditioned, speaker_ref=tmp_path / "missing.wav")
    # a clip too short for an embedding is refused by every model, speaker-aware or not (the plain
    # model would only have ignored it, with a warning: a run means the same with either)
    save_audio(tmp_path / "blip.wav", load_audio(speech_files[1])[0][:3000], 16000)
    plain_model = _model(tmp_path / "plain", use_speaker_conditioning=False)
    for model in (conditioned, plain_model):
        with pytest.raises(MsarError, match="blip.wav: unusable as --speaker-ref: too short"):
            Repairer(model, speaker_ref=tmp_path / "blip.wav")
    ignored = Repairer(plain_model, speaker_ref=speech_files[1])
    assert ignored.reference is None and any("not speaker-conditioned" in n for n in ignored.notes)
    repairer = Repairer(conditioned, speaker_ref=speech_files[1])
    report = repairer.repair_file(speech_files[0], tmp_path / "out.wav")
    if repairer.reference is None:  # no usable speaker encoder: said once, repair still done
        assert any("speaker encoder unavailable" in n for n in repairer.notes)
        assert report.speaker == "none"
    else:
        assert repairer.reference.shape == (192,) and report.speaker.startswith("reference")
        # the embedding changes the output of a conditioned model
        plain = Repairer(conditioned).repair_file(speech_files[0], tmp_path / "self.wav")
        assert plain.speaker == "self"
        a, b = load_audio(tmp_path / "out.wav")[0], load_audio(tmp_path / "self.wav")[0]
        assert float((a - b).abs().max()) > 1e-3
    assert load_audio(tmp_path / "out.wav")[0].shape == load_audio(speech_files[0])[0].shape


def test_shipped_model_repairs_the_demo_clip_and_keeps_telephone_speech(tmp_path, capsys, fsdd_file):
    from msar_hf.metrics.quality import compute_all
    from msar_hf.repair import DEFAULT_MODEL_DIR

    if not (DEFAULT_MODEL_DIR / "config.json").is_file():
        pytest.skip("the shipped repair model is not in this checkout")
    demo = REPO / "msar_hf" / "demo"
    code, _, err = msar(capsys, "repair", demo / "damaged_demo.flac", fsdd_file, "-o", tmp_path, "--device", "cpu", "-q")
    assert code == 0, err
    clean = load_audio(demo / "clean_demo.flac")[0].numpy()
    damaged = load_audio(demo / "damaged_demo.flac")[0].numpy()
    repaired = load_audio(tmp_path / "damaged_demo.flac")[0].numpy()
    assert repaired.shape == damaged.shape
    before, after = compute_all(clean, damaged, 16000), compute_all(clean, repaired, 16000)
    assert after["q"] < before["q"] - 0.02 and after["pesq_wb"] > before["pesq_wb"], (before, after)
    # 8 kHz telephone speech comes back at 8 kHz, at its level and close to itself: not wiped
    x, rate = load_audio(fsdd_file, sampling_rate=None)
    y, out_rate = load_audio(tmp_path / fsdd_file.name, sampling_rate=None)
    assert out_rate == rate == 8000 and y.shape == x.shape
    assert abs(20 * np.log10(float(y.pow(2).mean().sqrt()) / float(x.pow(2).mean().sqrt()))) < 3.0
    assert float(torch.corrcoef(torch.stack([x, y]))[0, 1]) > 0.9


_TRITON_PROBE = """
import atexit, sys
from msar_hf.cli import run
atexit.register(lambda: print("triton loaded:", sys.modules.get("triton") is not None))
sys.argv = ["msar", *sys.argv[1:]]
run()  # the command's own entry point (msar, python -m msar_hf.cli): runs atexit, then os._exit
"""


def test_a_cpu_repair_leaves_triton_out_and_still_repairs(tmp_path):
    """`msar repair --device cpu` keeps the GPU-only Triton (imported by transformers' modeling_utils
    through torch._dynamo: ~80 MB of peak RSS) out of its process, and the demo clip is repaired.
    In-process calls of the CLI (this suite's) leave the process's imports alone."""
    import importlib.util

    from msar_hf.metrics.quality import compute_all
    from msar_hf.repair import DEFAULT_MODEL_DIR

    if not (DEFAULT_MODEL_DIR / "config.json").is_file():
        pytest.skip("the shipped repair model is not in this checkout")
    demo = REPO / "msar_hf" / "demo"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", _TRITON_PROBE, "repair", str(demo / "damaged_demo.flac"), "-o",
                          str(tmp_path / "out.wav"), "--device", "cpu", "-q"], env=env, capture_output=True,
                         text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "triton loaded: False" in run.stdout, run.stdout
    clean = load_audio(demo / "clean_demo.flac")[0].numpy()
    before = compute_all(clean, load_audio(demo / "damaged_demo.flac")[0].numpy(), 16000)
    after = compute_all(clean, load_audio(tmp_path / "out.wav")[0].numpy(), 16000)
    assert after["pesq_wb"] > before["pesq_wb"] and after["q"] < before["q"], (before, after)
    from msar_hf.cli import lean_imports

    assert not lean_imports.OWN_PROCESS and lean_imports.skip_gpu_only_modules("cpu") is False  # in-process: untouched
    if importlib.util.find_spec("triton") is None:
        return  # nothing to leave out here (no CUDA wheel of torch); the control below needs Triton
    # the control: without the command, the same imports bring Triton in (else the guard is obsolete)
    probe = "import sys, transformers.modeling_utils; print('triton loaded:', sys.modules.get('triton') is not None)"
    control = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300, check=False)
    if "triton loaded: True" not in control.stdout:
        pytest.skip("transformers no longer imports Triton: msar_hf/cli/lean_imports.py is not needed any more")


def test_restored_peaks_above_full_scale_are_soft_limited_not_clipped(tmp_path, capsys, speech_file):
    from msar_hf.models.autoencoder import MsarAutoencoderConfig, MsarAutoencoderModel
    from msar_hf.repair import LIMIT_CEILING, LIMIT_KNEE, soft_limit

    # a model that boosts by ~1.6x (mask 1.15 on the 0.3-compressed magnitude): like restoring clipped peaks
    model = MsarAutoencoderModel(MsarAutoencoderConfig(**SMALL, use_speaker_conditioning=False))
    with torch.no_grad():
        model.head.bias[: model.head.freq_bins] = 1.15
    model.save_pretrained(tmp_path / "boost")
    x, _ = load_audio(speech_file)
    x = 0.9 * x / x.abs().max()
    src = save_audio(tmp_path / "loud.wav", x, 16000)  # 16-bit PCM: anything >= 1.0 would clip
    code, _, err = msar(capsys, "repair", src, "-o", tmp_path / "out.wav", "--model", tmp_path / "boost", "-q")
    assert code == 0, err
    assert any("soft-limited" in line and "dBFS" in line for line in _lines(err)), err
    y, _ = load_audio(tmp_path / "out.wav", sampling_rate=None)
    raw = torch.as_tensor(MsarAutoencoderModel.from_pretrained(tmp_path / "boost").repair(x))
    assert float(raw.abs().max()) > 1.2  # the model really overshoots
    assert float(y.abs().max()) <= LIMIT_CEILING + 1e-4  # no sample on the rails
    quiet = raw.abs() < 0.8 * LIMIT_KNEE
    assert torch.allclose(y[quiet], raw[quiet], atol=2e-4)  # below the knee: untouched (16-bit rounding)
    # the curve: identity below the knee, monotonic and below 1 above it
    grid = torch.linspace(-3, 3, 601)
    bent = soft_limit(grid)
    assert torch.equal(bent[grid.abs() <= LIMIT_KNEE], grid[grid.abs() <= LIMIT_KNEE])
    assert bool((bent.diff() >= 0).all()) and float(bent.abs().max()) <= LIMIT_CEILING
    # audio that fits is never limited: strength 0 on a near-full-scale input gives the input back
    src2 = save_audio(tmp_path / "hot.wav", 0.99 * x / x.abs().max(), 16000, subtype="FLOAT")
    code, _, err = msar(capsys, "repair", src2, "-o", tmp_path / "hot_out.wav", "--model", tmp_path / "boost",
                        "--strength", "0", "-q")
    assert code == 0 and "soft-limited" not in err
    assert torch.equal(load_audio(tmp_path / "hot_out.wav", sampling_rate=None)[0], load_audio(src2, sampling_rate=None)[0])


ALSA_SOUNDS = Path("/usr/share/sounds/alsa")  # Debian alsa-utils: a real voice recorded at 48 kHz


@pytest.mark.skipif(not (ALSA_SOUNDS / "Front_Center.wav").exists(),
                    reason="Debian alsa-utils' 48 kHz test voice is not installed (make setup installs it)")
def test_48khz_recording_keeps_its_band_above_8khz(tmp_path, capsys):
    """The model works at 16 kHz. A real 48 kHz voice comes back with its band above 8 kHz
    (sibilants) as recorded; --no-upper-band leaves that band empty. With noise at 5 dB SNR the band
    keeps its speech and loses noise with the rest of the repair (its SNR against the clean take rises)."""
    from transformers import pipeline

    from msar_hf.fullband import upper_band

    clean, rate = load_audio(ALSA_SOUNDS / "Front_Center.wav", sampling_rate=None)
    assert rate == 48000
    upper = lambda x: upper_band(x[None], rate)[0]
    level_db = lambda x: 10 * np.log10(float(upper(x).pow(2).sum()))
    snr_db = lambda x: 10 * np.log10(float(upper(clean).pow(2).sum()) / float((upper(x) - upper(clean)).pow(2).sum()))
    noise = load_audio(ALSA_SOUNDS / "Noise.wav", sampling_rate=None)[0]
    noise = noise.repeat(clean.numel() // noise.numel() + 1)[: clean.numel()]
    noisy = clean + noise * (clean.pow(2).mean() / noise.pow(2).mean() / 10 ** 0.5).sqrt()
    src = save_audio(tmp_path / "noisy_in.wav", noisy, rate, subtype="FLOAT")
    outs = {}
    for name, path, flags in (("on", ALSA_SOUNDS / "Front_Center.wav", []),
                              ("off", ALSA_SOUNDS / "Front_Center.wav", ["--no-upper-band"]),
                              ("noisy", src, [])):
        code, _, err = msar(capsys, "repair", path, "-o", tmp_path / f"{name}.wav", "--device", "cpu", "-q", *flags)
        assert code == 0, err
        outs[name], out_rate = load_audio(tmp_path / f"{name}.wav", sampling_rate=None)
        assert out_rate == rate and outs[name].shape == clean.shape
    assert abs(level_db(outs["on"]) - level_db(clean)) < 1.0 and snr_db(outs["on"]) > 30
    assert level_db(outs["off"]) < level_db(clean) - 10
    assert snr_db(outs["noisy"]) > snr_db(noisy) + 4
    # the speech-repair pipeline does the same
    repair = pipeline("speech-repair", model=str(REPO / "msar_hf" / "pretrained" / "repair"))
    piped = torch.as_tensor(repair(clean.numpy(), sampling_rate=rate)["audio"])
    assert abs(level_db(piped) - level_db(clean)) < 1.0
    dropped = torch.as_tensor(repair(clean.numpy(), sampling_rate=rate, upper_band=False)["audio"])
    assert level_db(dropped) < level_db(clean) - 10
    # down to a few milliseconds: the length is kept
    short = save_audio(tmp_path / "short_in.wav", clean[24000:24240], rate)  # 5 ms
    code, _, err = msar(capsys, "repair", short, "-o", tmp_path / "short.wav", "--device", "cpu", "-q")
    assert code == 0, err
    assert load_audio(tmp_path / "short.wav", sampling_rate=None)[0].shape == (240,)


def test_output_rate_an_encoder_cannot_take_fails_that_file_only(tmp_path, capsys, identity_model, speech_files):
    """Opus takes 8/12/16/24/48 kHz only: asked for 22.05 kHz, that file gets one line naming the
    rates it takes, before any work; the rest of the folder is repaired."""
    src = tmp_path / "in"
    save_audio(src / "a.flac", load_audio(speech_files[0])[0], 16000)
    save_audio(src / "b.opus", load_audio(speech_files[1])[0], 16000)
    code, _, err = msar(capsys, "repair", src, "-o", tmp_path / "out", "--output-rate", 22050,
                        "--model", identity_model, "--device", "cpu", "-q")
    assert code != 0
    errors = [line for line in _lines(err) if "error" in line]
    assert any("b.opus" in e and "22050 Hz" in e and "48000" in e for e in errors), err
    assert "Traceback" not in err
    assert sf.info(tmp_path / "out" / "a.flac").samplerate == 22050
    assert not (tmp_path / "out" / "b.opus").exists()
    code, _, err = msar(capsys, "repair", src / "b.opus", "-o", tmp_path / "one.mp3", "--output-rate", 96000,
                        "--model", identity_model, "--device", "cpu", "-q")
    assert code == 2 and len(_lines(err)) == 1 and "96000 Hz" in err


def test_a_rate_the_output_format_cannot_hold_goes_up_to_one_it_does(tmp_path, capsys, identity_model, speech_file):
    """Not asked for a rate: a 44.1 kHz recording into .opus (8/12/16/24/48 kHz) is written at 48 kHz
    and a 96 kHz one into .mp3 at 48 kHz (was: the run failed), with a warning naming both rates;
    the length follows the rate; a rate the format holds stays as it is, without a word."""
    x = load_audio(speech_file)[0]
    for rate, suffix, written in ((44100, ".opus", 48000), (96000, ".mp3", 48000), (22050, ".mp3", 22050),
                                  (37800, ".m4a", 44100)):
        src = save_audio(tmp_path / f"in_{rate}.wav", resample(x, 16000, rate), rate)
        out = tmp_path / f"out_{rate}{suffix}"
        code, _, err = msar(capsys, "repair", src, "-o", out, "--model", identity_model, "-q")
        assert code == 0, err
        y, got = load_audio(out, sampling_rate=None)
        assert got == written
        assert abs(y.numel() - round(x.numel() * written / 16000)) <= 0.01 * y.numel()
        warned = f"a {suffix} file holds no {rate} Hz: written at {written} Hz" in err
        assert warned == (rate != written), err


def test_a_channel_count_the_encoder_cannot_take_is_refused_before_any_work(tmp_path, capsys, monkeypatch,
                                                                           identity_model, speech_files):
    """mp3 holds one or two channels: a 5.1 recording asked for as .mp3 gets one line that says so
    (not a wrong advice to change the rate), before the repair runs."""
    from msar_hf.repair import Repairer

    x = torch.stack([load_audio(f)[0][:24000] for f in speech_files[:6]])  # six real voices, one per channel
    src = save_audio(tmp_path / "six.wav", x, 16000)
    monkeypatch.setattr(Repairer, "_run", lambda *a: pytest.fail("repaired before finding it cannot be written"))
    code, _, err = msar(capsys, "repair", src, "-o", tmp_path / "six.mp3", "--model", identity_model,
                        "--device", "cpu", "-q")
    assert code == 2 and len(_lines(err)) == 1, err
    assert "6 channels" in err and "supported: 1, 2" in err and "--output-rate" not in err, err
    assert not (tmp_path / "six.mp3").exists()


def test_summary_speed_reads_right_on_both_sides_of_real_time():
    from msar_hf.cli.repair import _speed

    assert _speed(100.0, 2.0) == "x50 real time"
    assert _speed(10.0, 5.0) == "x2.0 real time"
    assert _speed(1.4, 4.0) == "2.9x slower than real time"  # was "x0 real time"


def test_a_mistyped_input_fails_at_once_before_torch_loads(tmp_path):
    """`msar repair` loaded torch, transformers and the model (9 s on this machine) before it said
    that the file did not exist: now the name is checked first, in a fresh interpreter."""
    script = ("import sys\nfrom msar_hf.cli import main\ntry:\n    main(['repair', 'takes/nope.wav', '-o', 'out.wav'])\n"
              "except SystemExit as exc:\n    print('EXIT', exc.code, 'torch' in sys.modules)\n")
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         check=False)
    assert run.stdout.split()[-3:] == ["EXIT", "2", "False"], run.stdout + run.stderr
    assert "msar: error: takes/nope.wav: no such file or folder" in run.stderr
    assert not (tmp_path / "out.wav").exists()


def _msar_piped(args: list, stdin: bytes, tmpdir: Path) -> subprocess.CompletedProcess:
    """`msar` as a shell pipeline runs it: real stdin and stdout pipes, $TMPDIR a folder of the test's."""
    tmpdir.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    return subprocess.run([sys.executable, "-m", "msar_hf.cli", "repair", *map(str, args)], input=stdin,
                          capture_output=True, env=env, timeout=300, check=False)


def test_repair_reads_stdin_and_writes_stdout_for_pipelines(tmp_path, capsys, monkeypatch):
    """`... | msar repair - -o - | ...`: the demo's damaged recording (FLAC) in on stdin, a WAV out on
    stdout with the very samples `msar repair FILE -o FILE.wav` writes, every message on stderr and
    naming <stdin>/<stdout>; what is not audio gives stdout nothing and exit 2; the spooled input
    is removed; `-` with other inputs, or without -o, is refused."""
    damaged = REPO / "msar_hf" / "demo" / "damaged_demo.flac"
    spool = tmp_path / "tmp"
    done = _msar_piped(["-", "-o", "-", "--device", "cpu"], damaged.read_bytes(), spool)
    assert done.returncode == 0, done.stderr.decode()
    piped, rate = sf.read(__import__("io").BytesIO(done.stdout), dtype="int16")
    assert rate == 16000 and piped.size == sf.info(damaged).frames
    err = done.stderr.decode()
    assert "<stdin> -> <stdout>" in err and str(spool) not in err
    assert not list(spool.glob(".msar-pipe*"))  # the spooled stdin: gone (torch keeps a folder of its own there)

    as_file = tmp_path / "as_file.wav"
    done = _msar_piped([damaged, "-o", as_file, "--device", "cpu", "-q"], b"", spool)
    assert done.returncode == 0 and done.stdout == b"", done.stderr.decode()
    assert np.array_equal(piped, sf.read(as_file, dtype="int16")[0])

    done = _msar_piped(["-", "-o", "-", "-q"], b"not a recording\n" * 100, spool)
    assert done.returncode == 2 and done.stdout == b""
    assert "<stdin>: not an audio file" in done.stderr.decode()
    assert not list(spool.glob(".msar-pipe*"))

    out = tmp_path / "from_stdin.flac"
    done = _msar_piped(["-", "-o", out, "-q"], b"", spool)
    assert done.returncode == 2 and "<stdin>: empty (nothing was piped in)" in done.stderr.decode()
    assert not out.exists() and not list(tmp_path.glob(".msar-pipe*"))
    done = _msar_piped(["-", "-o", out, "-q"], damaged.read_bytes(), spool)  # kept beside the output, not in $TMPDIR
    assert done.returncode == 0 and sf.info(out).frames == piped.size, done.stderr.decode()
    assert not list(tmp_path.glob(".msar-pipe*")) and not list(spool.glob("*msar-pipe*"))
    for args, problem in ((["-", damaged, "-o", out], "'-' (stdin) must be the only input"),
                          (["-"], "name the output with -o FILE, or -o - for stdout"),
                          ([damaged, damaged.parent, "-o", "-"], "-o - (stdout) takes one recording"),
                          ([damaged, "-o", "-", "--shard", "1/2"], "'-' (stdin, stdout) is for one process")):
        code, text, err = msar(capsys, "repair", *args)  # refused before stdin is read or the model loads
        assert code == 2 and problem in err and text == "", (args, err)
    monkeypatch.setenv("WORLD_SIZE", "2")  # every rank of a launcher would read stdin
    code, text, err = msar(capsys, "repair", "-", "-o", out)
    assert code == 2 and "'-' (stdin, stdout) is for one process" in err


def test_format_writes_every_output_of_a_folder_in_one_format(tmp_path, capsys, identity_model, speech_file):
    """--format flac: a folder's FLAC, MP3 and video sound all come out as FLAC under the same tree
    (an archive's MP3s without a second lossy coding), each as long as its input; --keep-video keeps
    videos videos; an unknown format, or one at odds with -o's name, is refused before any work."""
    archive = tmp_path / "archive"
    (archive / "tapes").mkdir(parents=True)
    shutil.copy(speech_file, archive / "a.flac")
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(speech_file), "-b:a", "64k", str(archive / "tapes" / "b.mp3")],
                   check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=5:duration=2", "-i",
                    str(speech_file), "-c:v", "mpeg4", "-c:a", "aac", "-shortest", str(archive / "tapes" / "c.mp4")],
                   check=True)
    out = tmp_path / "out"
    code, _, err = msar(capsys, "repair", archive, "-o", out, "--format", "FLAC", "--model", identity_model, "-q")
    assert code == 0, err
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "a.flac", "tapes/b.flac", "tapes/c.flac"]
    for name in ("a", "tapes/b", "tapes/c"):
        assert sf.info(out / f"{name}.flac").format == "FLAC"
    assert sf.info(out / "tapes" / "b.flac").frames == load_audio(archive / "tapes" / "b.mp3", sampling_rate=None)[0].numel()

    code, _, err = msar(capsys, "repair", archive, "-o", tmp_path / "kept", "--format", "wav", "--keep-video",
                        "--model", identity_model, "-q")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "kept").rglob("*") if p.is_file()) == ["a.wav", "b.wav", "c.mp4"]

    code, _, err = msar(capsys, "repair", speech_file, "-o", tmp_path / "same.ogg", "--format", "oga",
                        "--model", identity_model, "-q")  # two spellings of one format agree
    assert code == 0 and sf.info(tmp_path / "same.ogg").format == "OGG", err
    for args, problem in (([archive, "-o", tmp_path / "x", "--format", "xyz"], "--format xyz: msar writes wav, flac"),
                          ([speech_file, "-o", tmp_path / "x.wav", "--format", "flac"],
                           "--format flac and an output named .wav: give one of the two")):
        code, _, err = msar(capsys, "repair", *args, "--model", identity_model)
        assert code == 2 and problem in err, err
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.wav").exists()
    shutil.copy(archive / "tapes" / "b.mp3", archive / "a.mp3")  # a.flac and a.mp3 -> one a.flac
    code, _, err = msar(capsys, "repair", archive, "-o", tmp_path / "y", "--format", "flac", "--model", identity_model)
    assert code == 2 and "would both be written to" in err and "repair them into different folders (-o)" in err, err


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, capsys, speech_file):
    """--dry-run: one line per input with the output it would get (the tree, --format, a video's
    sound as WAV), the outputs already there marked under --skip-existing, a share under --shard;
    no folder made, no model loaded (a model that does not exist is never opened)."""
    archive = tmp_path / "archive"
    (archive / "tapes").mkdir(parents=True)
    for name in ("a.flac", "tapes/b.flac", "tapes/c.flac"):
        shutil.copy(speech_file, archive / name)
    out = tmp_path / "out"
    code, text, err = msar(capsys, "repair", archive, "-o", out, "--format", "wav", "--dry-run",
                           "--model", tmp_path / "no_such_model")
    assert code == 0, err
    assert _lines(text) == [f"{archive / n}.flac -> {out / n}.wav" for n in ("a", "tapes/b", "tapes/c")]
    assert "3 would be repaired (dry run: nothing written)" in err and not out.exists()

    (out / "tapes").mkdir(parents=True)
    (out / "tapes" / "b.wav").write_bytes(b"")
    code, text, err = msar(capsys, "repair", archive, "-o", out, "--format", "wav", "--dry-run", "--skip-existing")
    assert code == 0 and _lines(text)[1].endswith("(there already: would be skipped)") and "2 would be repaired, 1 skipped" in err
    code, text, err = msar(capsys, "repair", archive, "-o", out, "--dry-run", "--shard", "1/2")
    assert code == 0 and _lines(text) == [f"{archive / 'tapes' / 'b.flac'} -> {out / 'tapes' / 'b.flac'}"]
    code, text, err = msar(capsys, "repair", archive / "a.flac", "-o", tmp_path / "take.v2", "--dry-run")
    assert code == 0 and "(would fail: " in text and "cannot write '.v2' files" in text, text  # as the run would
    assert sorted(p.name for p in out.rglob("*")) == ["b.wav", "tapes"]


def test_strength_0_on_a_lossy_input_names_the_coding_overshoot_not_a_repair(tmp_path, capsys, identity_model):
    """The demo's clipped recording as AAC decodes past full scale (the coding's overshoot): at
    --strength 0 the soft limit's warning says so, not "restored clipped peaks"."""
    src = tmp_path / "clipped.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(REPO / "msar_hf" / "demo" / "damaged_demo.flac"), "-ar", "44100",
                    "-c:a", "aac", str(src)], check=True)
    assert float(load_audio(src, sampling_rate=None)[0].abs().max()) > 1.0
    code, _, err = msar(capsys, "repair", src, "-o", tmp_path / "out.flac", "--strength", "0", "--model", identity_model, "-q")
    assert code == 0 and "the input's decoded samples reach" in err and "restored clipped peaks" not in err, err
