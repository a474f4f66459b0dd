"""The Gradio app through its Python API (gradio_client) against a server started here.

The server runs a small randomly initialised repair model (the page's mechanics do not depend on
the weights) and checks that what comes back is exactly what the model computes.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

pytest.importorskip("gradio")
pytest.importorskip("gradio_client")

from tiny_models import tiny_multispeaker

from msar_hf.app import (
    AppConfig,
    MsarApp,
    RepairBackend,
    RequestTimeout,
    SynthesisBackend,
    _TimedRunner,
    launch_app,
)
from msar_hf.audio import load_audio, save_audio

MAX_FILE_SIZE = 400 * 1024
MAX_DURATION_S = 12.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tiny_repair_model(folder: Path) -> Path:
    """A small repair model whose weights are perturbed away from the identity it starts as."""
    from msar_hf.models.autoencoder import MsarAutoencoderConfig, MsarAutoencoderModel

    torch.manual_seed(0)
    config = MsarAutoencoderConfig(hidden_size=32, encoder_layers=1, lstm_layers=1, lstm_hidden_size=16,
                                   use_speaker_conditioning=False)
    model = MsarAutoencoderModel(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(folder)
    return folder


def tiny_tts_model(folder: Path) -> Path:
    """A small randomly initialised synthesis model with two known voices."""
    model, processor = tiny_multispeaker(seed=1)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def make_damaged(speech: Path, noise: Path, out: Path, snr_db: float = 5.0) -> Path:
    """Real speech plus real noise at ``snr_db`` (the kind of file a user uploads)."""
    clean, rate = load_audio(speech)
    n, _ = load_audio(noise)
    n = n.repeat(int(np.ceil(clean.numel() / n.numel())))[: clean.numel()]
    gain = clean.pow(2).mean().sqrt() / (n.pow(2).mean().sqrt() * 10 ** (snr_db / 20))
    save_audio(out, clean + gain * n, rate)
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(app, demo) of a running server: concurrency 2, uploads up to 400 kB and 12 s."""
    folder = tiny_repair_model(tmp_path_factory.mktemp("repair-model"))
    tts_folder = tiny_tts_model(tmp_path_factory.mktemp("tts-model"))
    config = AppConfig(max_file_size=f"{MAX_FILE_SIZE}b", max_duration_s=MAX_DURATION_S, concurrency_limit=2,
                       queue_size=16, request_timeout_s=60)
    app = MsarApp(config, repairer=RepairBackend(folder), synthesizer=SynthesisBackend(tts_folder))
    demo = launch_app(app=app, port=free_port(), block=False)
    try:
        yield app, demo
    finally:
        demo.close(verbose=False)


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server[1].local_url, verbose=False)


@pytest.fixture(scope="module")
def damaged(tmp_path_factory, speech_file, noise_files) -> Path:
    return make_damaged(speech_file, noise_files[0], tmp_path_factory.mktemp("upload") / "damaged speech.flac")


def _read(path) -> np.ndarray:
    data, rate = sf.read(path, dtype="float32")
    assert rate == 16000
    return data


def test_repair_returns_model_output_spectrograms_and_metrics(server, client, damaged, speech_file):
    from gradio_client import handle_file
    from PIL import Image

    from msar_hf.metrics.quality import compute_all

    app, _ = server
    audio, before, after, table = client.predict(handle_file(str(damaged)), handle_file(str(speech_file)), 1.0,
                                                 api_name="/repair")
    waveform, _ = load_audio(damaged)
    expected = app.repairer(waveform, 1.0).numpy()
    got = _read(audio)
    assert got.shape == expected.shape
    assert np.abs(got - np.clip(expected, -1, 1)).max() <= 1.5 / 32767  # 16-bit rounding only
    assert np.abs(expected - waveform.numpy()).max() > 0.01  # the model changed the audio

    images = [np.asarray(Image.open(p).convert("RGB")) for p in (before, after)]
    assert all(im.ndim == 3 and im.shape[0] > 100 and im.shape[1] > 300 for im in images)
    assert np.abs(images[0].astype(int) - images[1].astype(int)).mean() > 1  # different audio, different picture

    rows = {r[0]: r for r in table["data"]}
    assert table["headers"] == ["metric", "input", "repaired", "better"]
    clean, _ = load_audio(speech_file)
    direct = compute_all(clean.numpy(), waveform.numpy(), 16000)
    assert rows["PESQ-WB"][1] == f"{direct['pesq_wb']:.3f}"
    assert rows["SI-SDR (dB)"][1] == f"{direct['si_sdr']:.3f}"
    assert 3.0 < float(rows["SI-SDR (dB)"][1]) < 7.0  # 5 dB SNR input
    assert rows["MSE"][1] == f"{direct['mse']:.2e}" and float(rows["MSE"][1]) > 0  # not rounded to 0.000


def test_reference_of_another_length_is_refused_with_message(client, damaged, speech_file, tmp_path):
    """A clean reference that is not the same recording (here its first second) was scored anyway
    over the overlap, and the table showed confident, meaningless numbers (SI-SDR 200 dB for the
    input); ``msar evaluate`` lists such pairs, the page said nothing."""
    from gradio_client import handle_file

    clean, rate = load_audio(speech_file)
    wrong = save_audio(tmp_path / "other take.wav", clean[:rate], rate)
    with pytest.raises(Exception, match=r"other take.wav is 1.0 s long and damaged speech.flac [0-9.]+ s"):
        client.predict(handle_file(str(damaged)), handle_file(str(wrong)), 0.5, False, api_name="/repair")


def test_without_reference_no_metric_rows(client, damaged):
    from gradio_client import handle_file

    _, _, _, table = client.predict(handle_file(str(damaged)), None, 0.5, api_name="/repair")
    assert table["data"] == [] or table["data"] == [["", "", "", ""]]


def test_strength_zero_returns_the_input(client, damaged):
    from gradio_client import handle_file

    audio, *_ = client.predict(handle_file(str(damaged)), None, 0.0, api_name="/repair")
    waveform, _ = load_audio(damaged)
    assert np.abs(_read(audio) - waveform.numpy()).max() <= 1.5 / 32767


def test_auto_strength_overrides_the_slider(server, client, damaged):
    from gradio_client import handle_file

    app, _ = server
    audio, *_ = client.predict(handle_file(str(damaged)), None, 0.0, True, api_name="/repair")
    waveform, _ = load_audio(damaged)
    expected = app.repairer(waveform, "auto").numpy()
    assert np.abs(_read(audio) - np.clip(expected, -1, 1)).max() <= 1.5 / 32767
    assert np.abs(expected - waveform.numpy()).max() > 0.01  # not the slider's 0


def test_eight_concurrent_requests_all_complete(client, tmp_path, speech_files, noise_files):
    from gradio_client import handle_file

    uploads = [make_damaged(speech_files[i % len(speech_files)], noise_files[i % len(noise_files)],
                            tmp_path / f"take{i}.wav", snr_db=3 + i) for i in range(8)]
    start = time.perf_counter()
    jobs = [client.submit(handle_file(str(u)), None, 1.0, api_name="/repair") for u in uploads]
    results = [job.result(timeout=120) for job in jobs]
    elapsed = time.perf_counter() - start
    for upload, (audio, *_rest) in zip(uploads, results):
        assert _read(audio).shape[0] == sf.info(str(upload)).frames
    assert elapsed < 120


def test_oversize_upload_refused_with_message(server, client, tmp_path):
    import httpx
    from gradio_client import handle_file

    big = tmp_path / "long meeting.wav"  # 16-bit PCM: 32 kB per second, 15 s = 480 kB
    speech, rate = load_audio(Path(__file__).parent / "fixtures/speech/kathleen/audio/arctic_a0001.flac")
    save_audio(big, speech.repeat(5)[: 15 * rate], rate)
    assert big.stat().st_size > MAX_FILE_SIZE
    with pytest.raises(Exception, match="maximum"):  # the client refuses before sending
        client.predict(handle_file(str(big)), None, 1.0, api_name="/repair")
    with big.open("rb") as fh:  # and the server refuses a direct upload
        response = httpx.post(server[1].local_url + "gradio_api/upload", files={"files": fh}, timeout=30)
    assert response.status_code == 413
    assert "maximum allowed size" in response.text


def test_too_long_recording_refused_with_message(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    quiet = tmp_path / "long take.flac"  # small file, long duration
    t = np.arange(16000 * 13) / 16000
    save_audio(quiet, torch.tensor(0.01 * np.sin(2 * np.pi * 220 * t), dtype=torch.float32), 16000)
    assert quiet.stat().st_size < MAX_FILE_SIZE
    with pytest.raises(AppError, match=r"long take\.flac is 13\.0 s long; this server accepts recordings up to 12 s"):
        client.predict(handle_file(str(quiet)), None, 1.0, api_name="/repair")


@pytest.mark.parametrize("content,problem", [(b"not audio at all, just text\n" * 20, "not an audio file"),
                                             (b"", "empty")])
def test_bad_file_gives_clear_message(client, tmp_path, content, problem):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    bad = tmp_path / "voice memo.wav"
    bad.write_bytes(content)
    with pytest.raises(AppError) as info:
        client.predict(handle_file(str(bad)), None, 1.0, api_name="/repair")
    message = str(info.value)
    assert "voice memo.wav" in message and problem in message
    assert "Traceback" not in message and "/tmp" not in message


def test_synthesize_a_known_voice(server, client):
    from msar_hf.synthesis import synthesize

    app, _ = server
    assert app.synthesizer.voices == ["kathleen", "awb"]
    audio = client.predict("Good morning, Doctor Smith.", "known speaker", "awb", None, api_name="/synthesize")
    tts = app.synthesizer.tts
    expected = synthesize(tts, "Good morning, Doctor Smith.", tts.model.speaker_table[1]).numpy()
    got = _read(audio)
    assert got.shape == expected.shape and got.shape[0] > 1600
    assert np.abs(got - np.clip(expected, -1, 1)).max() <= 1.5 / 32767
    other = _read(client.predict("Good morning, Doctor Smith.", "known speaker", "kathleen", None,
                                 api_name="/synthesize"))
    assert other.shape != got.shape or np.abs(other - got).max() > 1e-3  # another voice, other audio


@pytest.mark.parametrize("args,message", [
    (("   ", "known speaker", "awb", None), "type some text"),
    (("x" * 700, "known speaker", "awb", None), "700 characters"),
    (("Hello.", "known speaker", "nobody", None), "nobody is not in the list of choices"),  # Gradio checks
    (("Hello.", "reference recording", None, None), "no reference recording of the voice was given"),
    (("$$$ ???", "known speaker", "awb", None), "only punctuation or symbols"),
])
def test_synthesis_errors_are_one_line_messages(client, args, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as info:
        client.predict(*args, api_name="/synthesize")
    assert message in str(info.value) and "Traceback" not in str(info.value)


@pytest.mark.skipif(not (Path(__file__).parents[1] / "msar_hf/pretrained/speaker_encoder").is_dir(),
                    reason="the shipped speaker encoder is not in this checkout")
def test_synthesize_in_the_voice_of_a_reference_recording(server, client, speech_file):
    from gradio_client import handle_file

    from msar_hf.speaker import SpeakerEncoder
    from msar_hf.synthesis import synthesize

    app, _ = server
    text = "Good morning, Doctor Smith."
    audio = client.predict(text, "reference recording", None, handle_file(str(speech_file)), api_name="/synthesize")
    reference, _ = load_audio(speech_file)
    embedding = torch.nn.functional.normalize(
        torch.as_tensor(SpeakerEncoder.from_pretrained().embed(reference.unsqueeze(0))).reshape(-1).float(), dim=0)
    expected = synthesize(app.synthesizer.tts, text, embedding).numpy()
    got = _read(audio)
    assert got.shape == expected.shape
    assert np.abs(got - np.clip(expected, -1, 1)).max() <= 2.5 / 32767


def test_synthesis_reference_too_short_names_the_file(client, tmp_path, speech_file):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    clip, rate = load_audio(speech_file)
    short = save_audio(tmp_path / "my voice.wav", clip[: rate // 2], rate)
    with pytest.raises(AppError, match=r"my voice\.wav: reference clip is 0\.50 s"):
        client.predict("Hello there.", "reference recording", None, handle_file(str(short)), api_name="/synthesize")


def _conditioned_model(folder: Path):
    from msar_hf.models.autoencoder import MsarAutoencoderConfig, MsarAutoencoderModel

    torch.manual_seed(2)
    model = MsarAutoencoderModel(MsarAutoencoderConfig(hidden_size=32, encoder_layers=1, lstm_layers=1,
                                                       lstm_hidden_size=16, use_speaker_conditioning=True)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(folder)
    return model


def test_repair_goes_on_without_speaker_encoder(tmp_path, speech_file):
    from msar_hf.app import SharedSpeakerEncoder

    model = _conditioned_model(tmp_path / "model")
    encoder = SharedSpeakerEncoder(source=tmp_path / "no-encoder-here")
    backend = RepairBackend(tmp_path / "model", encoder)
    waveform, _ = load_audio(speech_file)
    out = backend(waveform, 1.0)
    assert encoder.unavailable and "no-encoder-here" in encoder.unavailable
    assert torch.equal(out, model.repair(waveform))  # unconditioned, as msar repair does


@pytest.mark.skipif(not (Path(__file__).parents[1] / "msar_hf/pretrained/speaker_encoder").is_dir(),
                    reason="the shipped speaker encoder is not in this checkout")
def test_repair_is_conditioned_on_the_recordings_own_speaker(tmp_path, speech_file):
    from msar_hf.app import SharedSpeakerEncoder
    from msar_hf.speaker import SpeakerEncoder

    model = _conditioned_model(tmp_path / "model")
    backend = RepairBackend(tmp_path / "model", SharedSpeakerEncoder())
    waveform, _ = load_audio(speech_file)
    embedding = torch.nn.functional.normalize(
        torch.as_tensor(SpeakerEncoder.from_pretrained().embed(waveform.unsqueeze(0))).reshape(-1).float(), dim=0)
    out = backend(waveform, 1.0)
    assert torch.allclose(out, model.repair(waveform, speaker_embedding=embedding), atol=1e-5)
    assert not torch.allclose(out, model.repair(waveform), atol=1e-4)  # the embedding mattered


def test_build_app_loads_named_models_and_refuses_nothing_to_serve(tmp_path):
    from msar_hf.app import build_app
    from msar_hf.errors import MsarError

    folder = tiny_repair_model(tmp_path / "model")
    app = build_app(AppConfig(repair_model=str(folder)), synthesis=False)
    assert isinstance(app.repairer, RepairBackend) and app.synthesizer is None and app.notes == []
    with pytest.raises(MsarError, match="not a model folder"):  # a model the user names must load
        build_app(AppConfig(repair_model=str(tmp_path)), synthesis=False)
    with pytest.raises(MsarError, match="nothing to serve"):
        build_app(AppConfig(), repair=False, synthesis=False)


def test_missing_backends_say_so():
    from msar_hf.errors import MsarError

    bare = MsarApp(AppConfig())
    with pytest.raises(MsarError, match="without a synthesis model"):
        bare.synthesize("Hello there.", "known speaker", "awb")
    with pytest.raises(MsarError, match="without a repair model"):
        bare.repair("x.wav")


def test_uploaded_and_result_files_deleted_when_server_stops(tmp_path, damaged):
    from gradio_client import Client, handle_file

    folder = tiny_repair_model(tmp_path / "model")
    app = MsarApp(AppConfig(), repairer=RepairBackend(folder))
    demo = launch_app(app=app, port=free_port(), block=False)
    try:
        Client(demo.local_url, verbose=False).predict(handle_file(str(damaged)), None, 1.0, api_name="/repair")
        cached = [Path(f) for files in demo.temp_file_sets for f in files]
        assert len(cached) >= 2 and all(p.exists() for p in cached)  # the upload and the results
    finally:
        demo.close(verbose=False)
    deadline = time.monotonic() + 10
    while any(p.exists() for p in cached) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(p.exists() for p in cached)
    assert damaged.exists()  # the user's own file is never touched


def test_timed_runner_times_out_and_bounds_abandoned_work():
    runner = _TimedRunner(slots=1, timeout_s=0.3)
    release = threading.Event()
    start = time.perf_counter()
    with pytest.raises(RequestTimeout, match="longer than 0.3 s"):
        runner.run(release.wait, 5)
    assert time.perf_counter() - start < 1.0
    # the abandoned work still holds the only slot: the next request waits, then reports busy
    with pytest.raises(RequestTimeout, match="busy"):
        runner.run(lambda: 1)
    release.set()
    time.sleep(0.05)
    assert runner.run(lambda: 41 + 1) == 42
    with pytest.raises(ZeroDivisionError):  # errors inside the work reach the caller unchanged
        runner.run(lambda: 1 / 0)


def test_config_from_environment(monkeypatch):
    from msar_hf.errors import MsarError

    monkeypatch.setenv("MSAR_APP_MAX_DURATION_S", "30")
    monkeypatch.setenv("MSAR_APP_CONCURRENCY_LIMIT", "3")
    config = AppConfig.from_env(max_file_size="5mb")
    assert (config.max_duration_s, config.concurrency_limit, config.max_file_size) == (30.0, 3, "5mb")
    monkeypatch.setenv("MSAR_APP_QUEUE_SIZE", "many")
    with pytest.raises(MsarError, match="MSAR_APP_QUEUE_SIZE"):
        AppConfig.from_env()
    with pytest.raises(MsarError):
        AppConfig(concurrency_limit=0)


def test_bad_max_file_size_is_refused_before_the_models_load():
    """Gradio parses --max-file-size only at launch, after the models have loaded, and a value it
    cannot read ("lots", "1.5mb", a bare number) ended ``msar serve`` in a ValueError traceback."""
    from msar_hf.errors import MsarError

    for bad in ("lots", "1.5mb", "20", "mb"):
        with pytest.raises(MsarError, match="max file size"):
            AppConfig(max_file_size=bad)
    assert AppConfig(max_file_size="20 MB").max_file_size == "20 MB"  # what gradio accepts is kept


def test_nan_and_non_positive_limits_are_refused(monkeypatch):
    """MSAR_APP_MAX_DURATION_S=nan passed the "must be positive" check (nan <= 0 is False) and then
    let every upload through (duration > nan is False too); a nan timeout stopped every request at
    once, and max_text_chars 0 refused every text."""
    from msar_hf.errors import MsarError

    monkeypatch.setenv("MSAR_APP_MAX_DURATION_S", "nan")
    with pytest.raises(MsarError, match="positive"):
        AppConfig.from_env()
    with pytest.raises(MsarError, match="positive"):
        AppConfig(request_timeout_s=float("nan"))
    with pytest.raises(MsarError, match="text"):
        AppConfig(max_text_chars=0)


def test_busy_port_is_a_one_line_error():
    """``msar serve`` on a port another server holds ended in gradio's OSError traceback."""
    from msar_hf.errors import MsarError

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(MsarError, match=f"127.0.0.1:{port}.*--port"):
            launch_app(app=MsarApp(AppConfig()), port=port, block=False)


def test_page_says_the_result_is_16_khz_mono(server, client, tmp_path, speech_file):
    """A 44.1 kHz stereo upload comes back as a 16 kHz mono WAV (the page is a preview, README "Hub and
    app"); the page said nothing of it, so a user downloaded a lower-rate mono file unawares."""
    import gradio as gr

    speech, rate = load_audio(speech_file)
    import torchaudio

    hi = torchaudio.functional.resample(speech[: 2 * rate], rate, 44100)  # 2 s: under the 400 kB upload limit
    upload = tmp_path / "stereo_44k.wav"
    sf.write(upload, np.stack([hi.numpy(), 0.5 * hi.numpy()], axis=1), 44100, subtype="PCM_16")
    from gradio_client import handle_file

    result = client.predict(handle_file(str(upload)), None, 0.5, False, api_name="/repair")
    data, out_rate = sf.read(result[0])
    assert out_rate == 16000 and data.ndim == 1 and abs(len(data) / 16000 - len(hi) / 44100) < 0.01
    texts = " ".join(b.value for b in server[1].blocks.values() if isinstance(b, gr.Markdown))
    assert "16 kHz mono" in texts and "msar repair" in texts


def test_space_requirements_match_pyproject():
    import tomllib

    root = Path(__file__).parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    declared = {}
    for spec in project["dependencies"] + project["optional-dependencies"]["serve"]:
        name = re.split(r"[<>=!~ \[]", spec, maxsplit=1)[0].lower().replace("_", "-")
        declared[name] = spec.replace(" ", "")
    lines = [ln.split("#")[0].strip() for ln in (root / "msar_hf/space/requirements.txt").read_text().splitlines()]
    for line in filter(None, lines):
        name = re.split(r"[<>=!~ \[]", line, maxsplit=1)[0].lower().replace("_", "-")
        assert declared.get(name) == line.replace(" ", ""), f"{line} differs from pyproject.toml"
    assert "gradio" in {re.split(r"[<>=]", ln)[0] for ln in lines if ln}


def test_space_requirements_cover_what_the_page_imports(tmp_path, speech_file, noise_files):
    """The Space installs only msar_hf/space/requirements.txt (and what those need): the page's
    metric table, shown when a clean reference is given, must work with every other dependency of
    pyproject.toml missing."""
    import os
    import subprocess
    import sys
    import tomllib
    from importlib.metadata import PackageNotFoundError, distribution, packages_distributions

    root = Path(__file__).parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]

    def name(spec: str) -> str:
        return re.split(r"[<>=!~ ;\[(]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")

    space = {name(ln.split("#")[0]) for ln in (root / "msar_hf/space/requirements.txt").read_text().splitlines()
             if ln.split("#")[0].strip()}
    installed, todo = set(), list(space)  # the Space's requirements and theirs, extras left out
    while todo:
        dist = todo.pop()
        if dist in installed:
            continue
        installed.add(dist)
        try:
            requires = distribution(dist).requires or []
        except PackageNotFoundError:
            continue
        todo += [name(r) for r in requires if "extra ==" not in r]
    absent = {name(spec) for spec in project["dependencies"]} - installed
    blocked = sorted({module for module, dists in packages_distributions().items()
                      if not module.startswith("_") and {name(d) for d in dists} & absent})
    damaged = make_damaged(speech_file, noise_files[0], tmp_path / "damaged.flac")
    script = f"""
import sys
for module in {blocked!r}:
    sys.modules[module] = None  # as if not installed
from msar_hf.app import metric_rows
from msar_hf.audio import load_audio
clean, _ = load_audio({str(speech_file)!r})
damaged, _ = load_audio({str(damaged)!r})
print(len(metric_rows(clean, damaged, 0.5 * (clean + damaged))))
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 0, f"blocked {blocked}: {done.stderr[-1500:]}"
    assert int(done.stdout.split()[-1]) >= 9


def test_serve_cli_help():
    from typer.testing import CliRunner

    from msar_hf.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--share", "--max-file-size", "--max-duration", "--concurrency", "--timeout"):
        assert option in result.output


def test_page_starts_at_the_models_auto_default(tmp_path):
    """A model whose default mix is "auto" (the shipped one) opens the page with auto ticked and the
    slider at 0.8; repairing with the page's defaults then is the model's auto repair."""
    import gradio as gr

    from msar_hf.models.autoencoder import MsarAutoencoderModel

    folder = tiny_repair_model(tmp_path / "model")
    model = MsarAutoencoderModel.from_pretrained(folder)
    model.config.default_strength = "auto"
    model.save_pretrained(folder)
    app = MsarApp(AppConfig(), repairer=RepairBackend(folder))
    assert app.default_strength == "auto"
    page = app.blocks()
    by_id = {c.elem_id: c for c in page.blocks.values() if getattr(c, "elem_id", None)}
    assert isinstance(by_id["repair-auto-strength"], gr.Checkbox) and by_id["repair-auto-strength"].value is True
    assert by_id["repair-strength"].value == 0.8
    clip = Path(__file__).parent / "fixtures/speech/kathleen/audio/arctic_a0001.flac"
    speech, _ = load_audio(clip)
    (rate, pcm), *_ = app.repair(str(clip), None, by_id["repair-strength"].value, by_id["repair-auto-strength"].value)
    auto = model.repair(speech, strength="auto").clamp(-1, 1).numpy()
    assert rate == 16000 and np.abs(pcm / 32767 - auto).max() <= 1.5 / 32767
    assert np.abs(auto - model.repair(speech, strength=0.8).numpy()).max() > 1e-3  # auto is not the slider's 0.8


def test_page_turns_the_gate_and_comb_off_as_the_cli_does(tmp_path):
    """`msar repair --gate 0 --comb 0` on the page: two checkboxes, on by default (the model's own)."""
    import msar_hf

    app = MsarApp(AppConfig(), repairer=RepairBackend(msar_hf.REPAIR_MODEL))
    page = app.blocks()
    by_id = {c.elem_id: c for c in page.blocks.values() if getattr(c, "elem_id", None)}
    assert by_id["repair-gate"].value is True and by_id["repair-comb"].value is True
    fixtures = Path(__file__).parent / "fixtures"
    clean, _ = load_audio(fixtures / "speech/kathleen/audio/arctic_a0001.flac")
    cafe, _ = load_audio(fixtures / "noise/audio/blanket_coffee-shop.flac")
    cafe = cafe.repeat(clean.shape[-1] // cafe.shape[-1] + 1)[: clean.shape[-1]]
    speech = clean + cafe * (clean.pow(2).mean() / cafe.pow(2).mean() / 10).sqrt()  # a cafe at 10 dB SNR
    clip = save_audio(tmp_path / "cafe.wav", speech, 16000, subtype="FLOAT")
    model = app.repairer.model
    (_, on), *_ = app.repair(str(clip), None, 1.0, False)
    (_, off), *_ = app.repair(str(clip), None, 1.0, False, False, False)
    expected = model.repair(speech, strength=1.0, residual_gate=0.0, low_band_comb=0.0).clamp(-1, 1).numpy()
    assert np.abs(off / 32767 - expected).max() <= 1.5 / 32767
    assert np.abs(on / 32767 - off / 32767).max() > 1e-3  # the gate and comb did something on this clip
