"""`msar export --onnx`: the ONNX graph and its onnxruntime runner give torch's samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from msar_hf.audio import load_audio

SMALL = {"hidden_size": 64, "lstm_hidden_size": 64, "lstm_layers": 1, "encoder_layers": 1}
CHUNK_SECONDS = 2.0


@pytest.fixture(scope="module")
def conditioned_model(tmp_path_factory):
    """A small speaker-conditioned model with perturbed weights (not the identity it starts as)."""
    from msar_hf.models.autoencoder import MsarAutoencoderConfig, MsarAutoencoderModel

    torch.manual_seed(0)
    # a default mix below 1, a residual gate and the low-band comb: the ONNX file must carry them
    # (parity tests below use the defaults); two inference shifts: the graph must average them as
    # repair() does
    model = MsarAutoencoderModel(MsarAutoencoderConfig(**SMALL, use_speaker_conditioning=True, default_strength=0.6,
                                                       residual_gate=0.5, low_band_comb=1.0, inference_shifts=2))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = tmp_path_factory.mktemp("conditioned")
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory, conditioned_model):
    from msar_hf.export import export_onnx

    path = tmp_path_factory.mktemp("onnx") / "repair.onnx"
    return export_onnx(path, model=conditioned_model, chunk_seconds=CHUNK_SECONDS)


def test_graph_matches_torch_on_real_speech(exported, conditioned_model, speech_files):
    from msar_hf.export import OnnxRepairer
    from msar_hf.models.autoencoder import MsarAutoencoderModel

    model = MsarAutoencoderModel.from_pretrained(conditioned_model).eval()
    runner = OnnxRepairer(exported, threads=1, target_rms=model.config.target_rms)
    assert runner.chunk == int(CHUNK_SECONDS * 16000) and runner.conditioned
    batch = torch.stack([load_audio(f)[0][: runner.chunk] for f in speech_files[:2]])
    gain = model.config.target_rms / batch.pow(2).mean(-1, keepdim=True).sqrt()
    emb = torch.nn.functional.normalize(torch.randn(2, 192, generator=torch.Generator().manual_seed(1)), dim=-1)
    model.config.normalize_input = False  # the graph is the model without its own level step
    with torch.no_grad():
        expected = model(batch * gain, speaker_embeddings=emb).waveform.numpy()
    got = runner.forward((batch * gain).numpy(), emb.numpy())
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4 * np.abs(expected).max()
    # the length is free: a 0.77 s piece, not a multiple of the STFT hop, gives torch's samples too
    short = batch[:, :12345] * gain[:, :1]
    with torch.no_grad():
        expected_short = model(short, speaker_embeddings=emb).waveform.numpy()
    got_short = runner.forward(short.numpy(), emb.numpy())
    assert got_short.shape == (2, 12345)
    assert np.abs(got_short - expected_short).max() < 1e-4 * np.abs(expected_short).max()
    # the embedding is a live input of the graph
    other = runner.forward((batch * gain).numpy(), -emb.numpy())
    assert np.abs(other - got).max() > 1e-3


def test_runner_repair_matches_torch_repair_at_any_length(exported, conditioned_model, speech_file, noise_files):
    from msar_hf.export import OnnxRepairer
    from msar_hf.models.autoencoder import MsarAutoencoderModel

    model = MsarAutoencoderModel.from_pretrained(conditioned_model).eval()
    runner = OnnxRepairer(exported, threads=1, target_rms=model.config.target_rms)
    speech = load_audio(speech_file)[0]
    emb = np.zeros(192, dtype=np.float32)
    emb[3] = 1.0
    # 2 s chunks overlapping by 1 s (rounded down to the STFT hop): 4 full chunks -> torch's samples
    hop = model.config.hop_length
    overlap = 16000 // hop * hop
    x = speech.repeat(3)[: runner.chunk + 3 * (runner.chunk - overlap)]
    expected = model.repair(x, torch.from_numpy(emb), chunk_seconds=CHUNK_SECONDS).numpy()
    got = runner.repair(x.numpy(), emb, hop_length=model.config.hop_length)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4 * np.abs(expected).max()
    # any other length (a partial last chunk; a recording shorter than one chunk): the same samples
    for x in (speech[: 16000 * 3 + 1234], speech[:7777]):
        expected = model.repair(x, torch.from_numpy(emb), chunk_seconds=CHUNK_SECONDS).numpy()
        got = runner.repair(x.numpy(), emb, hop_length=model.config.hop_length)
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() < 1e-4 * np.abs(expected).max()
    # the file carries the model's level and default mix: a bare OnnxRepairer(path) repairs the same
    bare = OnnxRepairer(exported)
    assert (bare.target_rms, bare.default_strength, bare.residual_gate, bare.low_band_comb) == (
        model.config.target_rms, 0.6, 0.5, 1.0)
    assert np.array_equal(bare.repair(x.numpy(), emb, hop_length=hop), got)  # x: the 7777 samples
    full = runner.repair(x.numpy(), emb, strength=1.0, hop_length=hop)
    assert np.allclose(got, 0.6 * full + 0.4 * x.numpy(), atol=1e-6)
    # unusable input is named, as torch's repair() names it
    broken = x.numpy().copy()
    broken[5] = np.inf
    with pytest.raises(ValueError, match="1 NaN/Inf"):
        runner.repair(broken, emb)
    with pytest.raises(TypeError, match="int16"):
        runner.repair((x.numpy() * 32767).astype(np.int16), emb)
    # strength 0 is the input, whatever the graph does
    assert np.array_equal(runner.repair(x.numpy(), emb, strength=0.0), x.numpy())
    # strength="auto" picks the torch model's mix (whole chunks, where the two agree to the sample)
    x = speech.repeat(3)[: runner.chunk + 3 * (runner.chunk - overlap)]
    expected = model.repair(x, torch.from_numpy(emb), strength="auto", chunk_seconds=CHUNK_SECONDS).numpy()
    got = runner.repair(x.numpy(), emb, strength="auto", hop_length=hop)
    assert np.abs(got - expected).max() < 1e-4 * np.abs(expected).max()
    # in noise (a running tap at 5 dB) the low-band comb works on the repair, in both runners alike
    tap, _ = load_audio(next(f for f in noise_files if f.stem == "running_tap"))
    noisy = x + 0.5 * tap.flatten().repeat(x.numel() // tap.numel() + 1)[: x.numel()] * x.std() / tap.std()
    expected = model.repair(noisy, torch.from_numpy(emb), chunk_seconds=CHUNK_SECONDS).numpy()
    uncombed = model.repair(noisy, torch.from_numpy(emb), chunk_seconds=CHUNK_SECONDS, low_band_comb=0.0).numpy()
    got = runner.repair(noisy.numpy(), emb, hop_length=hop)
    assert np.abs(expected - uncombed).max() > 1e-3 * np.abs(expected).max()
    assert np.abs(got - expected).max() < 1e-4 * np.abs(expected).max()


def test_runner_refuses_settings_torch_repair_refuses(exported, conditioned_model, speech_file):
    """OnnxRepairer.repair took strength=7 (a typo for 0.7) and mixed 7 x the repair minus 6 x the
    input, without a word, where torch's repair() raises; residual_gate / low_band_comb over 1 were
    taken too, and strength="AUTO" crashed with a TypeError comparing a str with a float."""
    from msar_hf.export import OnnxRepairer
    from msar_hf.models.autoencoder import MsarAutoencoderModel

    model = MsarAutoencoderModel.from_pretrained(conditioned_model).eval()
    runner = OnnxRepairer(exported, threads=1)
    speech = load_audio(speech_file)[0][:20000]
    emb = np.zeros(192, dtype=np.float32)
    emb[3] = 1.0
    for kwargs, name in (({"strength": 7.0}, "strength"), ({"strength": "AUTO"}, "strength"),
                         ({"strength": float("nan")}, "strength"), ({"residual_gate": 5.0}, "residual_gate"),
                         ({"low_band_comb": -1.0}, "low_band_comb")):
        with pytest.raises(ValueError, match=name):
            model.repair(speech, torch.from_numpy(emb), **kwargs)
        with pytest.raises(ValueError, match=name):
            runner.repair(speech.numpy(), emb, **kwargs)
    for kwargs in ({"default_strength": 1.5}, {"residual_gate": 2.0}, {"low_band_comb": float("nan")}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            OnnxRepairer(exported, **kwargs)
    # what is in range still repairs as torch does
    expected = model.repair(speech, torch.from_numpy(emb), strength=0.7, chunk_seconds=CHUNK_SECONDS).numpy()
    got = runner.repair(speech.numpy(), emb, strength=0.7)
    assert 10 * np.log10(np.sum((got - expected) ** 2) / np.sum(expected**2)) < -60


def test_export_cli_writes_onnx_and_reports_both_rtfs(tmp_path, capsys, conditioned_model):
    from msar_hf.cli import main

    out = tmp_path / "model.onnx"
    with pytest.raises(SystemExit) as exc:
        main(["export", "--onnx", str(out), "--model", str(conditioned_model), "--chunk-seconds", "2"])
    captured = capsys.readouterr()
    assert int(exc.value.code or 0) == 0, captured.err
    assert out.is_file() and out.stat().st_size > 100_000
    line = next(line for line in captured.out.splitlines() if "RTF" in line)
    diff = float(line.split("max |diff| ")[1].split(";")[0])
    rtf_ort = float(line.split("onnxruntime ")[-1].split(",")[0])
    rtf_torch = float(line.split("torch ")[-1])
    assert diff < 1e-4 and 0 < rtf_ort < 1 and 0 < rtf_torch < 1
    with pytest.raises(SystemExit) as exc:
        main(["export", "--onnx", str(tmp_path / "model.bin"), "--model", str(conditioned_model)])
    assert exc.value.code == 2 and "must end in .onnx" in capsys.readouterr().err
    # bad options and an unwritable place: one line naming the problem, exit 2, nothing written
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    for args, message in ((["--chunk-seconds", "0"], "--chunk-seconds must be between 0.5"),
                          (["--chunk-seconds", "inf"], "--chunk-seconds must be between 0.5"),
                          (["--opset", "5"], "--opset must be between"),
                          (["--onnx", str(blocker / "m.onnx")], "cannot write there")):
        argv = ["export", "--onnx", str(tmp_path / "bad.onnx"), "--model", str(conditioned_model), "--no-check", *args]
        with pytest.raises(SystemExit) as exc:
            main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "bad.onnx").exists() and blocker.read_text() == "not a folder"


def test_export_to_a_folder_is_refused_before_the_export(tmp_path, capsys):
    """--onnx naming an existing folder (models.onnx/) ran the whole export and then failed to
    rename onto it: an IsADirectoryError traceback. Now one line naming it, before the model loads."""
    from msar_hf.cli import main

    folder = tmp_path / "models.onnx"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit) as exc:
        main(["export", "--onnx", str(folder), "--model", str(tmp_path / "no_such_model"), "--no-check"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and err == f"msar: error: {folder}: is a folder; give the path of the .onnx file", err
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]
    # a path below a file: that said only "cannot write there (File exists)"
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit) as exc:
        main(["export", "--onnx", str(tmp_path / "notes.txt" / "repair.onnx"), "--model", str(tmp_path / "no_such_model")])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and err.endswith(f"{tmp_path / 'notes.txt'} is a file, not a folder"), err


def test_auto_default_strength_travels_in_the_file(tmp_path, conditioned_model, speech_file):
    """A model whose default mix is "auto" exports it as such: the bare runner then repairs at auto."""
    from msar_hf.export import OnnxRepairer, export_onnx
    from msar_hf.models.autoencoder import MsarAutoencoderModel

    model = MsarAutoencoderModel.from_pretrained(conditioned_model)
    model.config.default_strength = "auto"
    model.save_pretrained(tmp_path / "auto")
    path = export_onnx(tmp_path / "auto.onnx", model=tmp_path / "auto", chunk_seconds=CHUNK_SECONDS)
    bare = OnnxRepairer(path)
    assert bare.default_strength == "auto"
    x = load_audio(speech_file)[0][:40000].numpy()
    assert np.array_equal(bare.repair(x), bare.repair(x, strength="auto"))
    assert not np.allclose(bare.repair(x), bare.repair(x, strength=1.0), atol=1e-4)


def test_a_fixed_length_file_from_before_still_runs(tmp_path, conditioned_model, speech_file):
    """Files exported before the length was free take only their chunk: the runner zero-pads the last."""
    import copy
    import warnings

    from msar_hf.export import OnnxRepairer, _Core
    from msar_hf.models.autoencoder import MsarAutoencoderModel

    model = MsarAutoencoderModel.from_pretrained(conditioned_model).eval()
    core_model = copy.deepcopy(model)
    core_model.config.normalize_input = False
    chunk = int(CHUNK_SECONDS * 16000)
    example = (0.05 * torch.randn(1, chunk), torch.nn.functional.normalize(torch.randn(1, 192), dim=-1))
    path = tmp_path / "fixed.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Core(core_model).eval(), example, str(path), input_names=["input_values", "speaker_embeddings"],
                          output_names=["waveform"], dynamic_axes={"input_values": {0: "batch"}, "waveform": {0: "batch"}},
                          opset_version=17, dynamo=False)
    runner = OnnxRepairer(path, threads=1, target_rms=model.config.target_rms, default_strength=1.0,
                          residual_gate=0.0, low_band_comb=0.0)
    assert runner.fixed_length and runner.chunk == chunk
    x = load_audio(speech_file)[0][: chunk + chunk // 3]  # a partial second chunk
    emb = np.zeros(192, dtype=np.float32)
    emb[0] = 1.0
    got = runner.repair(x.numpy(), emb, hop_length=model.config.hop_length)
    expected = model.repair(x, torch.from_numpy(emb), strength=1.0, residual_gate=0.0, low_band_comb=0.0,
                            chunk_seconds=CHUNK_SECONDS).numpy()
    assert got.shape == expected.shape
    # the whole first chunk (before the cross-fade) is torch's; the padded last one only close to it
    assert np.abs(got[: chunk - 16000] - expected[: chunk - 16000]).max() < 1e-4 * np.abs(expected).max()
