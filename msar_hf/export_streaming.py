"""ONNX export of a causal repair model's frame step, and a live runner on onnxruntime.

The graph is one step of the live repair (``msar_hf.streaming``), frames in, frames out, the LSTM's
state threaded through:

    frames (n, n_fft) float32 raw samples at 16 kHz, one hop apart       [n free: 1 in a live block]
    state_h, state_c (layers, 1, hidden)                                  [zeros at a stream's start]
    [speaker_embeddings (1, D) for a speaker-conditioned model]
      -> pieces (n, n_fft): the repaired frames, synthesis-windowed; state_h_out, state_c_out

The STFT analysis and synthesis are in the graph (two matrix products with the model's own bases);
what is left to a host is the framing and overlap-add, which :class:`OnnxStreamingRepairer` shares
with the torch runner (``FrameStream``), so its output is the torch stream's to float rounding (checked
by :func:`measure_streaming_parity` and ``tests/test_export_streaming.py``). Another host (C++, C#,
JavaScript) does the same: frames of n_fft samples every hop_length samples, the left padding of
n_fft / 2 zeros, overlap-add of ``pieces`` and division by the summed squared window (both stored in
the file's metadata).

Why a second graph beside ``msar export --onnx``: that one takes a whole chunk, so a live host
would re-run it over a growing window; this one costs one frame's work per hop. On one thread of
this 2-core machine a 10 ms block costs a fraction of the torch runner's: torch pays a fixed
dispatch cost for each of the dozens of small operations of a frame (numbers in the README).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch

from .errors import MsarError
from .export import MODEL_RATE, _real_speech, check_onnx_target, write_onnx
from .models.autoencoder.modeling_msar_autoencoder import _dft_bases
from .streaming import (
    DEFAULT_MODEL_DIR,
    FrameStream,
    StreamingRepairer,
    network_frames,
    streaming_refusal,
)

GRAPH_KIND = "msar-streaming-frame-step"


class _FrameStep(torch.nn.Module):
    """The torch runner's ``_pieces`` for frames that arrive in order, as one traceable module."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        analysis, synthesis, _ = _dft_bases(model.config.n_fft, "cpu", torch.float32)
        self.register_buffer("analysis", analysis[:, 0].T.contiguous())  # (n_fft, 2F)
        self.register_buffer("synthesis", synthesis[:, 0].contiguous())  # (2F, n_fft)

    def forward(self, frames, state_h, state_c, speaker_embeddings=None):
        model = self.model
        spec = (frames @ self.analysis).T.unflatten(0, (2, model.freq_bins)).unsqueeze(0)  # (1, 2, F, n)
        out_spec, (state_h, state_c) = network_frames(model, spec, speaker_embeddings, model.bottleneck.lstm,
                                                      (state_h, state_c))
        return out_spec.flatten(1, 2)[0].T @ self.synthesis, state_h, state_c


def export_streaming_onnx(path: str | os.PathLike, model=None, opset: int = 17) -> Path:
    """Write the frame step of causal ``model`` (None = the shipped live model) as ONNX, atomically."""
    import copy

    from .repair import load_repair_model

    path = check_onnx_target(path, opset)
    loaded = load_repair_model(DEFAULT_MODEL_DIR if model is None else model, "cpu")
    if refusal := streaming_refusal(loaded):
        raise MsarError(f"{refusal}: export it without --streaming")
    model = copy.deepcopy(loaded).float().eval()
    config = model.config
    lstm = model.bottleneck.lstm
    step = _FrameStep(model).eval()
    generator = torch.Generator().manual_seed(0)
    state = torch.zeros(lstm.num_layers, 1, lstm.hidden_size)
    example = [0.05 * torch.randn(3, config.n_fft, generator=generator), state, state]
    names = ["frames", "state_h", "state_c"]
    axes = {"frames": {0: "frames"}, "pieces": {0: "frames"}}
    if config.use_speaker_conditioning:
        example.append(torch.nn.functional.normalize(torch.randn(1, config.speaker_embedding_dim, generator=generator), dim=-1))
        names.append("speaker_embeddings")
    strength = config.default_strength
    metadata = {  # what a host needs beside the graph
        "msar_kind": GRAPH_KIND, "sampling_rate": str(config.sampling_rate), "n_fft": str(config.n_fft),
        "hop_length": str(config.hop_length), "normalize_input": str(bool(config.normalize_input)).lower(),
        "default_strength": "auto" if strength == "auto" else repr(float(strength)),
        "window": "sqrt periodic Hann (pieces are windowed: divide their overlap-add by the summed squared windows)",
    }
    return write_onnx(path, step, tuple(example), names, ["pieces", "state_h_out", "state_c_out"], axes, opset,
                      metadata)


class OnnxStreamingRepairer(FrameStream):
    """Block-by-block repair with an exported frame step (:func:`export_streaming_onnx`) on
    onnxruntime: ``process`` / ``flush`` / ``reset`` as :class:`~msar_hf.streaming.StreamingRepairer`.

    Args:
        path: the ``.onnx`` file.
        strength: 0..1 wet/dry mix; None = the file's ``default_strength`` (1 where that is "auto").
        speaker_embedding: (D,) for a speaker-conditioned graph; None = zeros.
        input_gain: the gain a graph of a ``normalize_input`` model expects (required for those).
        threads: onnxruntime intra-op threads (one live stream wants one).
    """

    def __init__(self, path: str | os.PathLike, strength: float | None = None,
                 speaker_embedding: np.ndarray | None = None, input_gain: float | None = None, threads: int = 1):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own error types: a file that is not ONNX, a cut-off one
            raise ValueError(f"onnxruntime cannot load it ({str(exc).strip().splitlines()[0][:300]})") from exc
        stored = self.session.get_modelmeta().custom_metadata_map
        if stored.get("msar_kind") != GRAPH_KIND:
            raise ValueError("not a streaming frame-step graph (`msar export --onnx FILE --streaming` writes "
                             "one; a whole-chunk graph runs with msar_hf.export.OnnxRepairer)")
        if stored.get("normalize_input") == "true" and input_gain is None:
            raise ValueError("this model normalises each clip's level, which a stream cannot measure: pass "
                             "input_gain")
        inputs = {i.name: i for i in self.session.get_inputs()}
        layers, _, hidden = inputs["state_h"].shape
        self._state_shape = (int(layers), 1, int(hidden))
        self._feeds = {}
        if "speaker_embeddings" in inputs:
            dim = int(inputs["speaker_embeddings"].shape[1])
            emb = np.zeros(dim, np.float32) if speaker_embedding is None else np.asarray(speaker_embedding, np.float32)
            if emb.size != dim:
                raise ValueError(f"speaker embeddings must have {dim} features, got {emb.shape}")
            self._feeds["speaker_embeddings"] = emb.reshape(1, dim)
        if strength is None:
            stored_strength = stored.get("default_strength", "1.0")
            strength = 1.0 if stored_strength == "auto" else float(stored_strength)
        super().__init__(int(stored["n_fft"]), int(stored["hop_length"]), strength,
                         1.0 if input_gain is None else input_gain)

    def _reset_state(self) -> None:
        zeros = np.zeros(self._state_shape, np.float32)
        self._state = (zeros, zeros)

    def _pieces(self, frames: np.ndarray) -> np.ndarray:
        feeds = {"frames": frames, "state_h": self._state[0], "state_c": self._state[1], **self._feeds}
        pieces, state_h, state_c = self.session.run(None, feeds)
        self._state = (state_h, state_c)
        return pieces


def _stream_through(runner: FrameStream, x: torch.Tensor, block: int) -> tuple[torch.Tensor, float]:
    start = time.perf_counter()
    outs = [runner.process(x[i: i + block]) for i in range(0, x.numel(), block)]
    outs.append(runner.flush())
    return torch.cat(outs), time.perf_counter() - start


def measure_streaming_parity(onnx_path: str | os.PathLike, model=None, seconds: float = 20.0,
                             block_ms: float = 10.0, repeats: int = 2) -> dict:
    """Stream the same real speech through the torch runner and the ONNX one in ``block_ms``
    blocks, one thread each: max/mean absolute difference and both real-time factors (best of
    ``repeats``)."""
    from .repair import load_repair_model

    torch_model = load_repair_model(DEFAULT_MODEL_DIR if model is None else model, "cpu").float()
    x = torch.from_numpy(_real_speech(seconds))
    block = max(1, round(block_ms * MODEL_RATE / 1000))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch_runner = StreamingRepairer(torch_model)
        onnx_runner = OnnxStreamingRepairer(onnx_path, strength=torch_runner.strength, threads=1)
        t_torch, t_ort = [], []
        for _ in range(repeats):
            y_torch, elapsed = _stream_through(torch_runner, x, block)
            t_torch.append(elapsed)
            y_ort, elapsed = _stream_through(onnx_runner, x, block)
            t_ort.append(elapsed)
    finally:
        torch.set_num_threads(threads)
    diff = (y_torch - y_ort).abs()
    return {
        "seconds": seconds,
        "block_ms": block_ms,
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "peak": float(y_torch.abs().max()),
        "rtf_torch": min(t_torch) / seconds,
        "rtf_onnxruntime": min(t_ort) / seconds,
    }


__all__ = ["OnnxStreamingRepairer", "export_streaming_onnx", "measure_streaming_parity"]
