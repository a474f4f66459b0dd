"""``msar stream``: live repair of raw 16 kHz mono PCM from stdin to stdout with a causal model.

    ffmpeg -f pulse -i default -ac 1 -ar 16000 -f s16le - | msar stream | ffplay -f s16le -ar 16000 -ac 1 -

The shipped causal model (msar_hf/pretrained/repair_causal) unless --model names another: a folder,
a Hub id, or the .onnx frame step `msar export --onnx live.onnx --streaming` writes (onnxruntime:
the same output, in a fraction of the time per block).
"""

from __future__ import annotations

from typing import Annotated

import typer

# raw sample formats on the pipes: numpy dtype, bytes per sample, full scale
_FORMATS = {"s16le": ("<i2", 2, 32768.0), "f32le": ("<f4", 4, 1.0)}
_MAX_BLOCK_MS = 60_000.0  # a minute: a live stream's block, not a buffer as big as the machine


def register(app: typer.Typer) -> None:
    app.command("stream")(stream)


def stream(
    model: Annotated[str | None, typer.Option("--model", help="A causal repair model: folder or Hub id "
                                              "(default: the shipped one; recipes/configs/autoencoder_causal*.yaml "
                                              "train one), or a .onnx file from `msar export --onnx FILE "
                                              "--streaming`, run on onnxruntime.")] = None,
    strength: Annotated[float | None, typer.Option(
        "--strength", help="0..1: how much of the repair to mix into the input (default: the model's "
                           "default_strength; the shipped model's was chosen on dev seeds: "
                           "benchmarks/results/streaming.md).")] = None,
    sample_format: Annotated[str, typer.Option("--format", help="Raw samples on stdin and stdout: s16le or f32le "
                                               "(16 kHz, mono, little-endian).")] = "s16le",
    block_ms: Annotated[float, typer.Option("--block-ms", help="Most milliseconds read before repairing.")] = 10.0,
) -> None:
    """Repair raw 16 kHz mono audio live, stdin to stdout (32 ms behind), with a causal model."""
    import sys

    import numpy as np

    from ..errors import MsarError

    if sample_format not in _FORMATS:
        raise MsarError(f"--format {sample_format}: use one of {', '.join(_FORMATS)}")
    if not 0 < block_ms <= _MAX_BLOCK_MS:  # inf overflowed the byte count; 1e12 asked read1() for 32 TB
        raise MsarError(f"--block-ms {block_ms}: must be above 0 and at most {_MAX_BLOCK_MS:g}")
    if strength is not None and not 0.0 <= strength <= 1.0:  # here, not from the runner: it would be told as the model's fault
        raise MsarError(f"--strength {strength}: must be in [0, 1]")
    dtype, width, scale = _FORMATS[sample_format]
    # a terminal on either end is a forgotten pipe: it waited on the keyboard, or printed binary
    if sys.stdin.isatty():
        raise MsarError("stdin is a terminal: pipe raw 16 kHz mono PCM in "
                        f"(ffmpeg -i take.wav -ac 1 -ar 16000 -f {sample_format} - | msar stream ...)")
    if sys.stdout.isatty():
        raise MsarError("stdout is a terminal: pipe the repaired PCM on "
                        f"(msar stream ... | ffplay -f {sample_format} -ar 16000 -ac 1 -), or redirect it to a file")

    from .lean_imports import skip_gpu_only_modules

    skip_gpu_only_modules("cpu")  # before transformers loads: the live repair runs on the CPU

    import torch
    from transformers.utils import logging as hf_logging

    from ..repair import load_repair_model
    from ..streaming import DEFAULT_MODEL_DIR, StreamingRepairer

    model = DEFAULT_MODEL_DIR if model is None else model
    hf_logging.disable_progress_bar()
    torch.set_num_threads(1)  # one live stream: more threads only add latency jitter
    try:
        if model.lower().endswith(".onnx"):
            from pathlib import Path

            from ..export_streaming import OnnxStreamingRepairer

            if not Path(model).is_file():
                raise MsarError(f"{model}: no such file")
            runner = OnnxStreamingRepairer(model, strength=strength)
        else:
            runner = StreamingRepairer(load_repair_model(model, "cpu"), strength=strength)
    except ValueError as exc:
        raise MsarError(f"{model}: {exc}") from exc
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    chunk, pending = max(width, round(block_ms * 16 * width)), b""

    def emit(samples: torch.Tensor) -> None:
        if samples.numel():
            out = samples.numpy() * scale
            if sample_format == "s16le":
                out = np.clip(np.round(out), -32768, 32767)
            sink.write(out.astype(dtype).tobytes())
            sink.flush()

    with torch.no_grad():
        first = True
        while data := source.read1(chunk):  # whatever has arrived, up to one block: no waiting to fill it
            if first and data[:4] in (b"RIFF", b"RF64"):  # its header would come out as a click
                raise MsarError("stdin: a WAV file, not raw samples; send raw PCM "
                                f"(ffmpeg -i take.wav -ac 1 -ar 16000 -f {sample_format} - | msar stream ...)")
            first = False
            data, pending = pending + data, b""
            whole = len(data) - len(data) % width
            data, pending = data[:whole], data[whole:]  # a sample cut between two reads waits
            try:
                emit(runner.process(torch.from_numpy(np.frombuffer(data, dtype=dtype).astype(np.float32) / scale)))
            except ValueError as exc:  # NaN/Inf samples in f32le
                raise MsarError(f"stdin: {exc}") from exc
        emit(runner.flush())
