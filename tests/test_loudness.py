"""Integrated loudness (msar_hf.loudness), ``msar info``'s LUFS column and ``msar repair --loudness``,
on the real speech fixtures."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torchaudio.functional as AF

from msar_hf.audio import load_audio, resample, save_audio
from msar_hf.loudness import LoudnessMeter, integrated_loudness

SMALL = {"hidden_size": 64, "lstm_hidden_size": 64, "lstm_layers": 1, "encoder_layers": 1}


@pytest.fixture(scope="module")
def identity_model(tmp_path_factory):
    """A fresh model is the identity: the output's level is then the loudness stage's alone."""
    from msar_hf.models.autoencoder import MsarAutoencoderConfig, MsarAutoencoderModel

    path = tmp_path_factory.mktemp("identity_model")
    torch.manual_seed(0)
    MsarAutoencoderModel(MsarAutoencoderConfig(**SMALL, use_speaker_conditioning=False)).save_pretrained(path)
    return path


def _speech(speech_files, seconds: float = 12.0) -> torch.Tensor:
    x = torch.cat([load_audio(f)[0] for f in speech_files])
    return x.repeat(math.ceil(seconds * 16000 / x.shape[-1]))[: int(seconds * 16000)]


def msar(capsys, *args) -> tuple[int, str, str]:
    from msar_hf.cli import main

    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return int(exc.value.code or 0), captured.out, captured.err


# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_meter_fed_in_blocks_reads_what_torchaudio_reads_whole(speech_files, rate):
    speech = resample(_speech(speech_files, 6.0)[None], 16000, rate)[0] * 0.5
    # stereo whose right side is quieter and later: each channel is weighted and filtered on its own
    for signal in (speech[None], torch.stack([speech, 0.3 * speech.roll(rate // 7)])):
        meter = LoudnessMeter(rate, signal.shape[0])
        for start in range(0, signal.shape[-1], 12_347):  # blocks that cut steps and gating blocks anywhere
            meter.update(signal[:, start:start + 12_347])
        assert meter.result() == pytest.approx(float(AF.loudness(signal, rate)), abs=0.005)


def test_meter_reads_the_recommendations_sine_and_gates_silence():
    t = torch.arange(10 * 48000) / 48000
    # BS.1770: a 997 Hz sine at 0 dBFS peak in one channel reads -3.01 LUFS; at 0.1 (-20 dBFS), -23.01
    assert integrated_loudness(0.1 * torch.sin(2 * math.pi * 997 * t), 48000) == pytest.approx(-23.01, abs=0.05)
    # the relative gate: 5 s of that tone then 5 s of it 30 dB down read as the loud half (the three
    # blocks that straddle the change pass the gate, -0.17 LU), not as their mean power (-26 LUFS)
    mixed = torch.cat([0.1 * torch.sin(2 * math.pi * 997 * t[:240000]), 0.00316 * torch.sin(2 * math.pi * 997 * t[:240000])])
    assert -23.3 < integrated_loudness(mixed, 48000) < -23.05
    assert integrated_loudness(torch.zeros(48000), 48000) == -math.inf  # under the -70 LUFS gate
    assert integrated_loudness(0.1 * torch.sin(2 * math.pi * 997 * t[:14000]), 48000) == -math.inf  # < 400 ms
    with pytest.raises(ValueError, match="2 channels"):
        LoudnessMeter(48000, 2).update(torch.zeros(3, 100))


def test_info_reports_integrated_loudness(tmp_path, capsys, speech_files):
    speech = _speech(speech_files, 5.0)
    path = save_audio(tmp_path / "take.flac", 0.5 * speech, 16000)
    code, out, err = msar(capsys, "info", path, "--json")
    assert code == 0, err
    row = json.loads(out.strip().splitlines()[-1])
    assert row["loudness_lufs"] == pytest.approx(float(AF.loudness(load_audio(path)[0][None], 16000)), abs=0.01)


# --------------------------------------------------------------------------------------------
def test_repair_brings_the_output_to_the_target_with_one_gain(tmp_path, speech_files, identity_model):
    from msar_hf.repair import Repairer

    speech = 0.2 * _speech(speech_files)
    src = save_audio(tmp_path / "quiet.wav", speech, 16000)
    before = integrated_loudness(load_audio(src)[0], 16000)
    report = Repairer(identity_model, device="cpu", loudness=-20).repair_file(src, tmp_path / "out.wav")
    y, _ = load_audio(tmp_path / "out.wav")
    x, _ = load_audio(src)
    assert y.shape == x.shape
    assert integrated_loudness(y, 16000) == pytest.approx(-20.0, abs=0.05)
    assert report.output_lufs == pytest.approx(-20.0, abs=0.05)
    assert report.loudness_gain_db == pytest.approx(-20.0 - before, abs=0.05) and report.loudness_gain_db > 3
    # one gain for the whole recording, nothing else (16-bit rounding, the identity model's 1e-4)
    gain = 10 ** (report.loudness_gain_db / 20)
    assert float((y - gain * x).abs().max()) < 3e-4
    assert report.input_lufs is None and report.warnings == []  # "input" only measures the input


def test_input_target_measures_each_streamed_window_once(tmp_path, monkeypatch, speech_files, identity_model):
    """A streamed file in 4 windows whose contexts overlap: the input is measured sample by sample once
    (its loudness exact to 0.001 LU), and the output, attenuated here by a strength 0.5 mix with a
    repair at half level, comes back to it."""
    import msar_hf.recording_io
    import msar_hf.repair
    from msar_hf.repair import Repairer

    monkeypatch.setattr(msar_hf.recording_io, "STREAM_ABOVE_SECONDS", 5.0)
    monkeypatch.setattr(msar_hf.repair, "WINDOW_SECONDS", 4.0)
    monkeypatch.setattr(msar_hf.repair, "MIN_WINDOW_SECONDS", 4.0)
    speech = 0.5 * _speech(speech_files, 15.0)
    src = save_audio(tmp_path / "long.wav", torch.stack([speech, 0.5 * speech.roll(3000)]), 16000)
    x, _ = load_audio(src, sampling_rate=None, mono=False)
    from msar_hf.models.autoencoder import MsarAutoencoderModel

    halving = MsarAutoencoderModel.from_pretrained(identity_model)
    real = halving.repair
    monkeypatch.setattr(halving, "repair", lambda w, **kw: 0.5 * torch.as_tensor(real(w, **kw)))
    report = Repairer(halving, device="cpu", loudness="input").repair_file(src, tmp_path / "out.wav")
    assert report.streamed
    assert report.input_lufs == pytest.approx(integrated_loudness(x, 16000), abs=0.001)
    y, _ = load_audio(tmp_path / "out.wav", sampling_rate=None, mono=False)
    assert y.shape == x.shape == (2, 15 * 16000)
    assert integrated_loudness(y, 16000) == pytest.approx(report.input_lufs, abs=0.05)
    assert report.loudness_gain_db == pytest.approx(20 * math.log10(2), abs=0.05)
    assert float((y - x).abs().max()) < 3e-4  # halved, then doubled back: the input


def test_a_gain_past_full_scale_is_soft_limited_and_said(tmp_path, capsys, speech_files, identity_model):
    from msar_hf.repair import LIMIT_CEILING

    src = save_audio(tmp_path / "take.wav", 0.3 * _speech(speech_files, 5.0), 16000)
    out = tmp_path / "loud.wav"
    code, stdout, err = msar(capsys, "repair", src, "-o", out, "--model", identity_model, "--device", "cpu",
                             "--loudness", "-3", "--report", tmp_path / "report.json")
    assert code == 0, err
    assert "soft-limited" in err and "--loudness" in err
    y, _ = load_audio(out, sampling_rate=None)
    assert float(y.abs().max()) <= LIMIT_CEILING + 1e-4  # no sample on the rails
    assert "LUFS" in stdout  # the summary line says what was written
    row = json.loads((tmp_path / "report.json").read_text())[0]
    assert row["output_lufs"] == pytest.approx(integrated_loudness(y, 16000), abs=0.05)
    assert row["output_lufs"] < -3.0 and row["loudness_gain_db"] > 10  # the limiter took its share


def test_bad_loudness_values_are_refused_and_silence_is_kept(tmp_path, capsys, speech_files, identity_model):
    src = save_audio(tmp_path / "take.wav", 0.3 * _speech(speech_files, 3.0), 16000)
    for bad, says in (("loud", "LUFS"), ("5", "between -70 and 0"), ("-90", "between -70 and 0")):
        code, _, err = msar(capsys, "repair", src, "-o", tmp_path / "x.wav", "--model", identity_model,
                            "--loudness", bad, "-q")
        assert code == 2 and "--loudness" in err and says in err, err
        assert not (tmp_path / "x.wav").exists()
    silent = save_audio(tmp_path / "silent.wav", torch.zeros(32000), 16000)
    code, _, err = msar(capsys, "repair", silent, "-o", tmp_path / "s.wav", "--model", identity_model,
                        "--loudness", "-16", "-q")
    assert code == 0 and "too quiet" in err, err
    assert torch.equal(load_audio(tmp_path / "s.wav")[0], torch.zeros(32000))
    assert not list(tmp_path.glob(".*"))  # no temporary file left beside the outputs
    assert np.isfinite(integrated_loudness(load_audio(src)[0], 16000))


def test_speech_repair_pipeline_gives_a_dereverberated_voice_its_loudness_back(speech_files, rir_files):
    """The shipped repair of real speech in a measured room comes out quieter than it went in (the tail's
    energy is gone); loudness="input" gives it the input's loudness, a number its LUFS."""
    from transformers import pipeline

    from msar_hf.data.degradations.room import reverberate
    from msar_hf.errors import MsarError
    from msar_hf.repair import DEFAULT_MODEL_DIR

    speech = _speech(speech_files, 6.0).numpy()
    rir = load_audio(rir_files[0])[0].numpy()
    wet = torch.from_numpy(reverberate(speech, rir))
    repair = pipeline("speech-repair", model=str(DEFAULT_MODEL_DIR))
    plain = torch.from_numpy(repair(wet.numpy(), sampling_rate=16000)["audio"])
    before = integrated_loudness(wet, 16000)
    assert integrated_loudness(plain, 16000) < before - 1.0  # the room's energy went with the room
    kept = torch.from_numpy(repair(wet.numpy(), sampling_rate=16000, loudness="input")["audio"])
    assert integrated_loudness(kept, 16000) == pytest.approx(before, abs=0.05)
    assert torch.allclose(kept / kept.abs().max(), plain / plain.abs().max(), atol=1e-5)  # one gain, nothing else
    stereo = torch.stack([wet, 0.5 * wet])
    podcast = repair(stereo.numpy(), sampling_rate=16000, loudness=-16)["audio"]
    assert podcast.shape == (2, wet.shape[-1])
    assert integrated_loudness(torch.from_numpy(podcast), 16000) == pytest.approx(-16.0, abs=0.05)
    with pytest.raises(MsarError, match="loudness must be between -70 and 0 LUFS"):
        repair(wet.numpy(), sampling_rate=16000, loudness=6)
