"""`msar export --onnx FILE --streaming`: a causal model's frame step on onnxruntime streams as torch does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_models import TINY_CAUSAL, stream_in_random_blocks, tiny_causal

from msar_hf.audio import load_audio
from msar_hf.errors import MsarError
from msar_hf.models.autoencoder import MsarAutoencoderConfig, MsarAutoencoderModel
from msar_hf.streaming import StreamingRepairer

DEMO = Path(__file__).resolve().parent.parent / "msar_hf" / "demo"
SMALL = TINY_CAUSAL


def _causal_model(**overrides):
    return tiny_causal(**{"use_speaker_conditioning": False, **overrides})


def _stream(runner, x: torch.Tensor, seed: int) -> torch.Tensor:
    return stream_in_random_blocks(runner, x, seed)[0]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(model folder, frame-step file) of a small causal model with a 0.8 default mix."""
    from msar_hf.export_streaming import export_streaming_onnx

    folder = tmp_path_factory.mktemp("causal")
    _causal_model(default_strength=0.8).save_pretrained(folder)
    return folder, export_streaming_onnx(folder / "live.onnx", model=str(folder))


def test_onnx_stream_gives_the_torch_streams_samples(exported, speech_file):
    """Real speech in random blocks (1-3000 samples, so one frame to a dozen per call): the ONNX
    runner's output is the torch runner's to float rounding, as long as the input, at the mix
    stored in the file (0.8) or one given; after flush it starts a new recording."""
    from msar_hf.export_streaming import OnnxStreamingRepairer

    folder, path = exported
    model = MsarAutoencoderModel.from_pretrained(folder).eval()
    x = load_audio(speech_file)[0][:30011]
    expected = _stream(StreamingRepairer(model), x, seed=1)
    runner = OnnxStreamingRepairer(path)
    assert runner.strength == pytest.approx(0.8) and runner.latency == 511
    got = _stream(runner, x, seed=2)
    assert got.shape == x.shape
    assert float((got - expected).abs().max()) < 1e-4 * float(expected.abs().max())
    assert float((got - x).abs().max()) > 0.01  # it repaired something: not the input passed through
    again = _stream(runner, x, seed=3)
    assert float((again - expected).abs().max()) < 1e-4 * float(expected.abs().max())
    full = _stream(OnnxStreamingRepairer(path, strength=1.0), x, seed=4)
    assert float((full - _stream(StreamingRepairer(model, strength=1.0), x, seed=5)).abs().max()) < 1e-4


def test_a_speaker_conditioned_model_takes_its_embedding(tmp_path, speech_file):
    from msar_hf.export_streaming import OnnxStreamingRepairer, export_streaming_onnx

    model = _causal_model(use_speaker_conditioning=True)
    model.save_pretrained(tmp_path / "conditioned")
    path = export_streaming_onnx(tmp_path / "live.onnx", model=str(tmp_path / "conditioned"))
    x = load_audio(speech_file)[0][:12000]
    embedding = torch.nn.functional.normalize(torch.randn(192, generator=torch.Generator().manual_seed(1)), dim=0)
    expected = _stream(StreamingRepairer(model, speaker_embedding=embedding), x, seed=6)
    got = _stream(OnnxStreamingRepairer(path, speaker_embedding=embedding.numpy()), x, seed=7)
    assert float((got - expected).abs().max()) < 1e-4
    unconditioned = _stream(OnnxStreamingRepairer(path), x, seed=8)  # zeros: another repair
    assert float((unconditioned - got).abs().max()) > 1e-3
    with pytest.raises(ValueError, match="192 features"):
        OnnxStreamingRepairer(path, speaker_embedding=np.zeros(10, np.float32))


def test_what_cannot_stream_is_refused_clearly(tmp_path, exported):
    from msar_hf.export import export_onnx
    from msar_hf.export_streaming import OnnxStreamingRepairer, export_streaming_onnx

    MsarAutoencoderModel(MsarAutoencoderConfig(**SMALL)).save_pretrained(tmp_path / "bidirectional")
    with pytest.raises(MsarError, match="causal"):
        export_streaming_onnx(tmp_path / "x.onnx", model=str(tmp_path / "bidirectional"))
    assert not (tmp_path / "x.onnx").exists()
    with pytest.raises(MsarError, match=r"\.onnx"):
        export_streaming_onnx(tmp_path / "x.bin", model=str(exported[0]))
    whole = export_onnx(tmp_path / "whole.onnx", model=str(exported[0]), chunk_seconds=1.0)
    with pytest.raises(ValueError, match="not a streaming frame-step graph"):
        OnnxStreamingRepairer(whole)
    (tmp_path / "cut.onnx").write_bytes(exported[1].read_bytes()[:5000])
    with pytest.raises(ValueError, match="onnxruntime cannot load it"):
        OnnxStreamingRepairer(tmp_path / "cut.onnx")
    with pytest.raises(ValueError, match="strength"):
        OnnxStreamingRepairer(exported[1], strength=1.5)


def test_cli_exports_the_shipped_live_model_and_msar_stream_runs_the_file(tmp_path):
    """`msar export --onnx FILE --streaming` with no --model: the shipped causal model, checked
    against torch in 10 ms blocks (both RTFs reported); `msar stream --model FILE.onnx` then repairs
    16-bit PCM of the bundled damaged clip from stdin as the torch stream does (to a step of
    rounding), and better than it came in (PESQ-WB against the clean recording it was made from)."""
    from msar_hf.metrics.quality import compute_all
    path = tmp_path / "live.onnx"
    run = subprocess.run([sys.executable, "-m", "msar_hf", "export", "--onnx", str(path), "--streaming"],
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "onnxruntime vs torch streaming" in run.stdout and "RTF one thread" in run.stdout
    diff = float(run.stdout.split("max |diff| ")[1].split(";")[0])
    assert diff < 1e-3

    x = load_audio(DEMO / "damaged_demo.flac")[0]
    pcm = np.round(x.numpy().clip(-1, 32767 / 32768) * 32768).astype("<i2")
    run = subprocess.run([sys.executable, "-m", "msar_hf", "stream", "--model", str(path)],
                         input=pcm.tobytes(), capture_output=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    out = np.frombuffer(run.stdout, dtype="<i2")
    torch_runner = StreamingRepairer()
    expected = torch.cat([torch_runner.process(torch.from_numpy(pcm.astype(np.float32) / 32768)),
                          torch_runner.flush()]).numpy()
    expected = np.clip(np.round(expected * 32768), -32768, 32767)  # the restored peaks pass full scale
    assert out.shape == pcm.shape and np.abs(out - expected).max() <= 2
    clean = load_audio(DEMO / "clean_demo.flac")[0].numpy()
    before = compute_all(clean, pcm / 32768.0, metrics=["pesq_wb"])["pesq_wb"]
    after = compute_all(clean, out / 32768.0, metrics=["pesq_wb"])["pesq_wb"]
    assert after > before + 0.1, (before, after)

    run = subprocess.run([sys.executable, "-m", "msar_hf", "stream", "--model", str(tmp_path / "missing.onnx")],
                         input=pcm.tobytes(), capture_output=True, timeout=120, check=False)
    err = run.stderr.decode().strip().splitlines()
    assert run.returncode == 2 and len(err) == 1 and "no such file" in err[0], err


def test_cli_refuses_chunk_seconds_with_streaming_and_a_bidirectional_model(tmp_path, capsys, exported):
    """--chunk-seconds has no meaning for a frame step (it was taken and ignored); a bidirectional
    model cannot stream: each is one line, exit 2, and no file."""
    from msar_hf.cli import main

    path = tmp_path / "live.onnx"
    with pytest.raises(SystemExit) as exc:
        main(["export", "--onnx", str(path), "--streaming", "--chunk-seconds", "4", "--model", str(exported[0])])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and err.startswith("msar: error: --chunk-seconds") and "\n" not in err, err
    MsarAutoencoderModel(MsarAutoencoderConfig(**SMALL)).save_pretrained(tmp_path / "bidirectional")
    with pytest.raises(SystemExit) as exc:
        main(["export", "--onnx", str(path), "--streaming", "--model", str(tmp_path / "bidirectional")])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and "causal" in err and "Traceback" not in err, err
    assert not path.exists() and not list(tmp_path.glob("*.tmp.onnx"))


def test_the_host_loop_in_the_model_card_gives_the_runners_samples(exported, speech_file):
    """The loop the live model card gives other ONNX hosts (half a window of zeros first, one frame
    per hop, the state kept, overlap-add with no division, the first hop dropped) gives
    OnnxStreamingRepairer's samples, all but the unfinished last hop."""
    import onnxruntime as ort

    from msar_hf.export_streaming import OnnxStreamingRepairer

    path = exported[1]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    n_fft, hop = int(meta["n_fft"]), int(meta["hop_length"])
    layers, _, hidden = session.get_inputs()[1].shape
    h = c = np.zeros((layers, 1, hidden), np.float32)
    x = load_audio(speech_file)[0][:20000].numpy()
    padded = np.concatenate([np.zeros(n_fft // 2, np.float32), x])
    acc, k = np.zeros(padded.size + n_fft, np.float32), 0
    while k * hop + n_fft <= padded.size:
        pieces, h, c = session.run(None, {"frames": padded[k * hop: k * hop + n_fft][None], "state_h": h, "state_c": c})
        acc[k * hop: k * hop + n_fft] += pieces[0]
        k += 1
    wet = acc[n_fft // 2: k * hop]
    runner = OnnxStreamingRepairer(path, strength=1.0)
    expected = torch.cat([runner.process(x), runner.flush()]).numpy()
    assert wet.size >= x.size - n_fft
    assert np.abs(wet - expected[: wet.size]).max() < 1e-5
