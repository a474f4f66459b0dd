"""msar_hf.streaming: block-by-block repair with a causal model gives the whole-recording repair."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_models import TINY_CAUSAL, stream_in_random_blocks, tiny_causal

from msar_hf.audio import load_audio
from msar_hf.errors import MsarError
from msar_hf.models.autoencoder import MsarAutoencoderConfig, MsarAutoencoderModel
from msar_hf.streaming import StreamingRepairer

SMALL = TINY_CAUSAL
_causal_model = tiny_causal
_stream = stream_in_random_blocks


@pytest.mark.parametrize("stft", [{}, {"hop_length": 128}])
def test_blocks_of_any_size_give_the_whole_recordings_repair(speech_file, stft):
    """Real speech cut into random blocks (1 to 3000 samples): the output is model(recording) to
    float rounding, as long as the input, never n_fft samples (32 ms) behind it; with
    strength 0.5 it is half that repair and half the input; after flush a new stream starts."""
    model = _causal_model(**stft)
    x = load_audio(speech_file)[0][:40007]
    with torch.no_grad():
        whole = model(x[None]).waveform[0]
    runner = StreamingRepairer(model)
    y, lags = _stream(runner, x, seed=1)
    assert y.shape == x.shape and float((y - whole).abs().max()) < 2e-5
    assert max(lags) <= runner.latency == 511
    again, _ = _stream(runner, x, seed=2)  # the same runner, a new recording, other blocks
    assert float((again - whole).abs().max()) < 2e-5
    half, _ = _stream(StreamingRepairer(model, strength=0.5), x, seed=3)
    assert float((half - (0.5 * whole + 0.5 * x)).abs().max()) < 2e-5
    # shorter than one STFT window, and nothing at all
    short = StreamingRepairer(model)
    assert torch.cat([short.process(x[:100]), short.flush()]).shape == (100,)
    assert StreamingRepairer(model).flush().shape == (0,)


def test_integer_pcm_blocks_are_scaled_to_full_scale(speech_file):
    """int16 blocks (a sound card's or a pipe's samples) were taken as floats in the thousands and
    repaired as such (peaks near 9000); now they are scaled by their type's full scale, as the
    speech-repair pipeline scales them, and give the float blocks' output."""
    model = _causal_model()
    pcm = np.round(load_audio(speech_file)[0][:12000].numpy() * 32767).astype(np.int16)
    as_float = StreamingRepairer(model)
    expected = torch.cat([as_float.process(pcm[:5000] / 32768.0), as_float.process(pcm[5000:] / 32768.0), as_float.flush()])
    runner = StreamingRepairer(model)
    got = torch.cat([runner.process(pcm[:5000]), runner.process(torch.from_numpy(pcm[5000:])), runner.flush()])
    assert float((got - expected).abs().max()) < 1e-6


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_a_model_on_the_gpu_streams(speech_file, dtype):
    """A model on CUDA (in half precision too) streams CPU blocks as its own forward repairs the
    whole recording (the runner framed the input on the CPU and multiplied it by bases on the GPU:
    a device error). Within 1e-2, not 2e-5: on an H200 the stream was 4e-3 off that forward on a
    0.94 peak, float32 and float16 alike (cuDNN's default TF32 convolutions in its STFT, likely)."""
    model = _causal_model().to("cuda", dtype)
    x = load_audio(speech_file)[0][:20000]
    with torch.no_grad():
        whole = model(x[None].cuda()).waveform[0].float().cpu()
    y, _ = _stream(StreamingRepairer(model), x, seed=4)
    assert y.device.type == "cpu" and y.shape == x.shape
    assert float((y - whole).abs().max()) < 1e-2


def test_models_it_cannot_stream_are_refused_clearly():
    with pytest.raises(ValueError, match="causal"):
        StreamingRepairer(MsarAutoencoderModel(MsarAutoencoderConfig(**SMALL)))  # bidirectional
    with pytest.raises(ValueError, match="input_gain"):
        StreamingRepairer(_causal_model(normalize_input=True))
    runner = StreamingRepairer(_causal_model())
    with pytest.raises(ValueError, match="NaN"):
        runner.process(torch.tensor([0.1, float("nan")]))
    with pytest.raises(ValueError, match="1-D"):  # (samples, channels): not read as interleaved mono
        runner.process(np.zeros((480, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="strength"):
        StreamingRepairer(_causal_model(), strength=1.5)


def test_msar_stream_repairs_raw_pcm_from_stdin_to_stdout(tmp_path, speech_file):
    """`msar stream`: 16-bit PCM of a real recording piped in comes out as the runner repairs it
    (to the last bit of rounding), as many samples as went in; a model it cannot stream is one
    line on stderr and exit 2."""
    import subprocess
    import sys

    model = _causal_model()
    model.save_pretrained(tmp_path / "causal")
    x = load_audio(speech_file)[0][:20000]
    pcm = np.round(x.numpy() * 32767).astype("<i2")
    run = subprocess.run([sys.executable, "-m", "msar_hf", "stream", "--model", str(tmp_path / "causal"),
                          "--strength", "0.8"], input=pcm.tobytes(), capture_output=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    out = np.frombuffer(run.stdout, dtype="<i2")
    runner = StreamingRepairer(model, strength=0.8)
    expected = torch.cat([runner.process(torch.from_numpy(pcm.astype(np.float32) / 32768)), runner.flush()]).numpy()
    assert out.shape == pcm.shape and np.abs(out - np.round(expected * 32768)).max() <= 1

    MsarAutoencoderModel(MsarAutoencoderConfig(**SMALL)).save_pretrained(tmp_path / "bidirectional")
    run = subprocess.run([sys.executable, "-m", "msar_hf", "stream", "--model", str(tmp_path / "bidirectional")],
                         input=pcm.tobytes(), capture_output=True, timeout=120, check=False)
    err = run.stderr.decode().strip().splitlines()
    assert run.returncode == 2 and len(err) == 1 and "causal" in err[0], err


def test_msar_stream_refuses_a_strength_out_of_range_before_loading_the_model(tmp_path, capsys):
    """--strength 1.5 was reported as the model's fault ("<model>: strength must be in [0, 1]"),
    after the model had loaded; now it is named as the option, as --format and --block-ms are."""
    from msar_hf.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["stream", "--model", str(tmp_path / "no_such_model"), "--strength", "1.5"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--strength 1.5" in err and "no_such_model" not in err, err


@pytest.mark.parametrize("block_ms", ["inf", "1e12"])
def test_msar_stream_refuses_an_endless_block_before_loading_the_model(tmp_path, capsys, block_ms):
    """--block-ms inf passed the "above 0" check and ended in an OverflowError traceback; 1e12 asked
    read1() for a 32 TB buffer (MemoryError). Now both are one line naming the option."""
    from msar_hf.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["stream", "--model", str(tmp_path / "no_such_model"), "--block-ms", block_ms])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"--block-ms {float(block_ms)}" in err and "no_such_model" not in err, err


def test_msar_stream_says_a_synthesis_model_is_not_a_repair_model(tmp_path, capsys):
    """A speech-synthesis model's folder was loaded as a repair model (its weights dropped, a
    randomly initialised network in their place, the loader's UNEXPECTED/MISSING notes on stderr)
    and then refused as "bidirectional"; `msar repair` even ran that random network. Now it is one
    line saying what the folder holds."""
    from tiny_models import tiny_multispeaker

    from msar_hf.cli import main
    from msar_hf.repair import load_repair_model

    model, _ = tiny_multispeaker()
    model.save_pretrained(tmp_path / "voices")
    capsys.readouterr()  # save_pretrained's progress bar
    with pytest.raises(SystemExit) as exc:
        main(["stream", "--model", str(tmp_path / "voices")])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1, err
    assert "msar_multispeaker" in err and "not a repair model" in err and "bidirectional" not in err
    with pytest.raises(MsarError, match="not a repair model"):
        load_repair_model(tmp_path / "voices")


def test_msar_stream_refuses_a_wav_file_on_stdin(tmp_path, speech_file):
    """`msar stream < take.wav` read the WAV header as samples: 'RIFF' and the format fields came
    out as a loud click (18770, 17990, ...) before the speech, with exit 0. Now one line saying that
    stdin holds a WAV file and how to send raw PCM, exit 2, nothing on stdout."""
    import subprocess
    import sys

    from msar_hf.audio import save_audio

    _causal_model().save_pretrained(tmp_path / "causal")
    save_audio(tmp_path / "take.wav", load_audio(speech_file)[0][:16000], 16000)
    run = subprocess.run([sys.executable, "-m", "msar_hf", "stream", "--model", str(tmp_path / "causal")],
                         input=(tmp_path / "take.wav").read_bytes(), capture_output=True, timeout=120, check=False)
    err = run.stderr.decode().strip().splitlines()
    assert run.returncode == 2 and run.stdout == b"", (run.returncode, err)
    assert len(err) == 1 and "WAV" in err[0] and "raw" in err[0], err


def test_msar_stream_refuses_a_terminal_on_either_end(tmp_path):
    """Without a pipe, `msar stream` waited on the keyboard (stdin a terminal) or was about to print
    raw samples onto the screen (stdout a terminal). Each is one line saying what to pipe, exit 2,
    before any model loads."""
    import os
    import pty
    import subprocess
    import sys

    for end in ("stdin", "stdout"):
        controller, terminal = pty.openpty()
        try:
            streams = {"stdin": terminal, "stdout": subprocess.PIPE} if end == "stdin" else \
                {"stdin": subprocess.DEVNULL, "stdout": terminal}
            run = subprocess.run([sys.executable, "-m", "msar_hf", "stream", "--model", str(tmp_path / "no_model")],
                                 stderr=subprocess.PIPE, timeout=120, check=False, **streams)
        finally:
            os.close(terminal)
            os.close(controller)
        err = run.stderr.decode().strip().splitlines()
        assert run.returncode == 2 and len(err) == 1 and f"{end} is a terminal" in err[0], (end, err)


def test_msar_stream_runs_the_shipped_causal_model_on_the_demo_clip():
    """With no --model, `msar stream` runs the shipped causal model (msar_hf/pretrained/repair_causal)
    at its config's mix: the demo clip (a real recording, real noise, clipping and dropouts) piped
    through it comes back as long as it went in, and closer to the clean recording (PESQ-WB 1.13 ->
    1.33, waveform MSE a third of the input's, when this test was written)."""
    import subprocess
    import sys

    from msar_hf import LIVE_REPAIR_MODEL
    from msar_hf.metrics.quality import compute_all
    from msar_hf.streaming import DEFAULT_MODEL_DIR

    if not (Path(LIVE_REPAIR_MODEL) / "config.json").is_file():
        pytest.skip("the shipped causal model is not in this checkout")
    assert DEFAULT_MODEL_DIR == LIVE_REPAIR_MODEL
    demo = Path(__file__).resolve().parents[1] / "msar_hf" / "demo"
    clean = load_audio(demo / "clean_demo.flac")[0].numpy()
    damaged = load_audio(demo / "damaged_demo.flac")[0].numpy()
    pcm = np.round(np.clip(damaged, -1, 1) * 32767).astype("<i2")
    run = subprocess.run([sys.executable, "-m", "msar_hf", "stream"], input=pcm.tobytes(), capture_output=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    repaired = np.frombuffer(run.stdout, dtype="<i2").astype(np.float32) / 32768
    assert repaired.shape == damaged.shape
    before, after = compute_all(clean, damaged, 16000), compute_all(clean, repaired, 16000)
    assert after["pesq_wb"] > before["pesq_wb"] + 0.1 and after["mse"] < 0.5 * before["mse"], (before, after)


def test_the_stream_takes_its_mix_from_the_model_config():
    """StreamingRepairer's strength, when none is given, is the model's default_strength (the mix
    chosen for the shipped causal model), or the full repair where that is "auto", which judges
    whole chunks a stream never has; an explicit strength wins."""
    model = _causal_model(default_strength=0.6)
    assert StreamingRepairer(model).strength == 0.6
    assert StreamingRepairer(model, strength=0.3).strength == 0.3
    assert StreamingRepairer(_causal_model(default_strength="auto")).strength == 1.0
    from msar_hf import LIVE_REPAIR_MODEL

    if (Path(LIVE_REPAIR_MODEL) / "config.json").is_file():
        shipped = StreamingRepairer()  # no model: the shipped causal one
        assert shipped.model.config.causal and shipped.strength == shipped.model.config.default_strength < 1.0
