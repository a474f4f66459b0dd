"""ONNX export of the repair model and an onnxruntime runner with the same chunked ``repair``.

The exported graph is the model's core on a level-normalised batch of audio of any length:

    input_values (B, N) float32 at 16 kHz  [+ speaker_embeddings (B, 192) when the model is
    speaker-conditioned]  ->  waveform (B, N)       N free (the "samples" axis)

The model's STFT pads and its inverse builds its window envelope without reading the length as
a Python integer (``stft``/``istft`` in the modeling file), so the TorchScript exporter keeps the
length symbolic (the dynamo exporter cannot export the LSTM with a symbolic length, measured with
torch 2.14). :class:`OnnxRepairer` applies ``MsarAutoencoderModel.repair``'s level gain, chunking
(``chunk_seconds``, stored in the file), cross-fade, residual gate, low-band comb and mix outside
the graph, so any length runs with flat memory and gives torch's samples (checked by
:func:`measure_parity` and ``tests/test_export.py``). Files written before the length was free
(a fixed N) still run: their last chunk is zero-padded, which changes the output near the end.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from .audio import file_in_the_way, usual_mode
from .errors import MsarError
from .models.autoencoder.comb_msar_autoencoder import comb_low_band
from .models.autoencoder.postprocessing_msar_autoencoder import (
    RemovedNoise,
    auto_strength,
    residual_noise_gate,
)

MODEL_RATE = 16000
MIN_CHUNK_SECONDS = 0.5  # as `msar repair --chunk-seconds`: shorter chunks cost quality at every seam
MAX_CHUNK_SECONDS = 600.0  # memory per call grows with the chunk: ten minutes is already ~1 GB of LSTM state
# The TorchScript exporter's range for this graph (LSTM, Pow, slicing by a symbolic length).
MIN_OPSET, MAX_OPSET = 14, 20


class _Core(torch.nn.Module):
    """forward() without the model's own per-item level normalisation (the runner does it once)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_values: torch.Tensor, speaker_embeddings: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(input_values, speaker_embeddings=speaker_embeddings, return_dict=True).waveform


def _conditioned(model) -> bool:
    return bool(getattr(model.config, "use_speaker_conditioning", False))


def check_onnx_target(path: str | os.PathLike, opset: int) -> Path:
    """``path`` as a Path if an ONNX file can be written there at ``opset``, else an MsarError
    naming the problem (checked before a minute of export, not at its final rename)."""
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise MsarError(f"{path}: the ONNX model file must end in .onnx")
    if path.is_dir():
        raise MsarError(f"{path}: is a folder; give the path of the .onnx file")
    if blocker := file_in_the_way(path):
        raise MsarError(f"{path}: cannot write there: {blocker} is a file, not a folder")
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise MsarError(f"--opset must be between {MIN_OPSET} and {MAX_OPSET} (the LSTM and the "
                        f"exporter need it), got {opset}")
    return path


def write_onnx(path: Path, module: torch.nn.Module, example: tuple, input_names: list[str],
               output_names: list[str], dynamic_axes: dict, opset: int, metadata: dict[str, str]) -> Path:
    """Export ``module`` on ``example`` to ``path`` atomically, ``metadata`` in the file's
    metadata_props (what a runner needs beside the graph), checked by onnx's checker."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # a name of its own: two exports to one path at once wrote over each other's temporary file
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp.onnx", dir=path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
    except OSError as error:
        raise MsarError(f"{path}: cannot write there ({error.strerror or error})") from None
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            # The TorchScript-based exporter (see the module docstring for why not dynamo).
            torch.onnx.export(module, example, str(tmp), input_names=input_names, output_names=output_names,
                              dynamic_axes=dynamic_axes, opset_version=opset, dynamo=False)
        import onnx

        graph = onnx.load(str(tmp))
        for key, value in metadata.items():
            graph.metadata_props.add(key=key, value=value)
        onnx.save(graph, str(tmp))
        onnx.checker.check_model(str(tmp))
        usual_mode(tmp)  # mkstemp's 0600 would stay after the rename
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def export_onnx(
    path: str | os.PathLike,
    model=None,
    chunk_seconds: float = 8.0,
    opset: int = 17,
) -> Path:
    """Write ``model`` (None = the shipped default) as an ONNX graph over audio of any length.

    ``chunk_seconds`` (rounded down to the model's STFT hop) is the chunk length the runner uses,
    stored in the file with the model's inference settings. The file is written atomically.
    """
    import copy

    from .repair import load_repair_model

    path = check_onnx_target(path, opset)
    if not MIN_CHUNK_SECONDS <= chunk_seconds <= MAX_CHUNK_SECONDS:  # also refuses NaN and inf
        raise MsarError(f"--chunk-seconds must be between {MIN_CHUNK_SECONDS} and {MAX_CHUNK_SECONDS}, got {chunk_seconds}")
    loaded = load_repair_model(model, "cpu")
    # The graph must not renormalise each chunk: the runner applies one gain per recording.
    model = copy.deepcopy(loaded).float().eval()
    model.config.normalize_input = False
    core = _Core(model).eval()
    hop = int(model.config.hop_length)
    length = max(int(chunk_seconds * MODEL_RATE) // hop, 8) * hop
    generator = torch.Generator().manual_seed(0)
    example = (0.05 * torch.randn(1, length, generator=generator),)
    names = ["input_values"]
    axes = {"input_values": {0: "batch", 1: "samples"}, "waveform": {0: "batch", 1: "samples"}}
    if _conditioned(model):
        emb = torch.nn.functional.normalize(torch.randn(1, model.config.speaker_embedding_dim, generator=generator), dim=-1)
        example = (example[0], emb)
        names.append("speaker_embeddings")
        axes["speaker_embeddings"] = {0: "batch"}
    # The level the graph expects and the model's default wet/dry mix travel inside the file,
    # so OnnxRepairer(path) alone repairs like the torch model.
    metadata = {}
    for key, missing in (("target_rms", 0.05), ("default_strength", 1.0), ("residual_gate", 0.0),
                         ("low_band_comb", 0.0)):
        value = getattr(model.config, key, missing)
        metadata[key] = "auto" if value == "auto" else repr(float(value))
    metadata["chunk_samples"] = str(length)
    return write_onnx(path, core, example, names, ["waveform"], axes, opset, metadata)


def _mix_setting(name: str, value, also: str = "") -> float:
    """``value`` as a float in [0, 1] (strength, residual_gate, low_band_comb), else a ValueError
    naming it as ``MsarAutoencoderModel.repair`` does (NaN and strings other than "auto" included)."""
    number = None if isinstance(value, str) else float(value)
    if number is None or not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must be in [0, 1]{' ' + also if also else ''}, got {value!r}")
    return number


class OnnxRepairer:
    """Runs an exported repair graph with onnxruntime, chunked like ``MsarAutoencoderModel.repair``.

    Args:
        path: the ``.onnx`` file.
        threads: onnxruntime intra-op threads (1 = the project's real-time-factor setting).
        target_rms: level the graph expects; None = the value stored in the file at export
            (the model config's ``target_rms``), else 0.05.
        default_strength: the wet/dry mix ``repair`` uses when given none (0..1 or ``"auto"``);
            None = the file's.
        residual_gate: the gate ``repair`` uses when given none (0 = off); None = the file's.
        low_band_comb: the low-band comb ``repair`` uses when given none (0 = off); None = the file's.
    """

    def __init__(self, path: str | os.PathLike, threads: int = 1, target_rms: float | None = None,
                 default_strength: float | str | None = None, residual_gate: float | None = None,
                 low_band_comb: float | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        inputs = {i.name: i for i in self.session.get_inputs()}
        stored = self.session.get_modelmeta().custom_metadata_map
        samples = inputs["input_values"].shape[1]
        # a free length (a symbolic dimension, a str): chunks of the stored length, the last one
        # as long as what is left; a fixed length (files exported before): every chunk zero-padded
        self.fixed_length = isinstance(samples, int)
        self.chunk = samples if self.fixed_length else int(stored.get("chunk_samples", 8 * MODEL_RATE))
        self.conditioned = "speaker_embeddings" in inputs
        self.embedding_dim = int(inputs["speaker_embeddings"].shape[1]) if self.conditioned else 0
        self.target_rms = float(stored.get("target_rms", 0.05)) if target_rms is None else float(target_rms)
        # the file stores numbers as text ("0.5"); what the caller passes is checked as repair() checks it
        def from_file(key: str, missing: float) -> float | str:
            value = stored.get(key, missing)
            return value if value == "auto" else float(value)

        strength = from_file("default_strength", 1.0) if default_strength is None else default_strength
        self.default_strength = "auto" if strength == "auto" else _mix_setting("default_strength", strength)
        self.residual_gate = _mix_setting("residual_gate", from_file("residual_gate", 0.0) if residual_gate is None
                                          else residual_gate)
        self.low_band_comb = _mix_setting("low_band_comb", from_file("low_band_comb", 0.0) if low_band_comb is None
                                          else low_band_comb)

    def forward(self, batch: np.ndarray, speaker_embeddings: np.ndarray | None = None) -> np.ndarray:
        """(B, N) level-normalised audio (any N; a file with a fixed length takes only that) -> (B, N)."""
        feeds = {"input_values": np.ascontiguousarray(batch, dtype=np.float32)}
        if self.conditioned:
            if speaker_embeddings is None:
                speaker_embeddings = np.zeros((batch.shape[0], self.embedding_dim), dtype=np.float32)
            emb = np.asarray(speaker_embeddings, dtype=np.float32).reshape(-1, self.embedding_dim)
            feeds["speaker_embeddings"] = np.ascontiguousarray(np.broadcast_to(emb, (batch.shape[0], self.embedding_dim)))
        return self.session.run(["waveform"], feeds)[0]

    def repair(self, waveform: np.ndarray, speaker_embedding: np.ndarray | None = None, strength: float | str | None = None,
               overlap_seconds: float = 1.0, hop_length: int = 256, residual_gate: float | None = None,
               low_band_comb: float | None = None) -> np.ndarray:
        """(T,) 16 kHz audio -> (T,) repaired: the chunking and cross-fade of the torch ``repair``."""
        if strength is None:
            strength = self.default_strength
        auto = strength == "auto"
        # checked as torch's repair() checks them: strength=7 (for 0.7) mixed 7 x the repair - 6 x the input
        strength = strength if auto else _mix_setting("strength", strength, "or 'auto'")
        gate = self.residual_gate if residual_gate is None else _mix_setting("residual_gate", residual_gate)
        comb = self.low_band_comb if low_band_comb is None else _mix_setting("low_band_comb", low_band_comb)
        if not np.issubdtype(np.asarray(waveform).dtype, np.floating):
            raise TypeError(f"repair() takes float samples in [-1, 1], got {np.asarray(waveform).dtype}")
        x = np.asarray(waveform, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"repair() takes one mono waveform (T,), got shape {x.shape}")
        bad = int((~np.isfinite(x)).sum())
        if bad:
            raise ValueError(f"the waveform contains {bad} NaN/Inf samples of {x.size}: nothing to repair them from")
        length = x.shape[0]
        if length == 0 or (not auto and strength == 0.0):
            return x.copy()
        # One gain per recording, floored at -74 dBFS, as MsarAutoencoderModel._level_gain.
        gain = self.target_rms / max(float(np.sqrt(np.mean(x.astype(np.float64) ** 2))), 2e-4)
        chunk = self.chunk
        overlap = min(int(overlap_seconds * MODEL_RATE) // hop_length, chunk // hop_length // 2) * hop_length
        step = chunk - overlap
        starts = list(range(0, max(length - overlap, 1), step)) if length > chunk else [0]
        out = np.zeros(length, dtype=np.float32)
        polished = gate > 0 or comb > 0  # auto judges the network's repair, before the gate and the comb
        ungated = np.zeros(length, dtype=np.float32) if auto and polished else out
        fade_in = np.linspace(0, 1, overlap + 2, dtype=np.float32)[1:-1]
        for i, start in enumerate(starts):
            end = min(start + chunk, length)
            piece = x[start:end][None] * gain
            if self.fixed_length:  # an older file: the last chunk is zero-padded to the graph's length
                piece = np.pad(piece, ((0, 0), (0, chunk - (end - start))))
            repaired = self.forward(piece, speaker_embedding)[0, : end - start] / gain
            weight = np.ones(end - start, dtype=np.float32)
            n = min(overlap, end - start)
            if i > 0 and n:
                weight[:n] = fade_in[:n]
            if i < len(starts) - 1 and n:
                weight[-n:] *= fade_in[::-1][-n:]
            if auto and polished:
                ungated[start:end] += weight * repaired
            removed = RemovedNoise(x[start:end], repaired)  # judged once, for both post-steps
            if gate > 0:
                repaired = residual_noise_gate(x[start:end], repaired, gate, MODEL_RATE, removed=removed).numpy()
            if comb > 0:
                repaired = comb_low_band(x[start:end], repaired, comb, MODEL_RATE, removed=removed).numpy()
            out[start:end] += weight * repaired
        if auto:
            strength = auto_strength(x.astype(np.float64), ungated.astype(np.float64))
        if strength < 1.0:
            out = strength * out + (1.0 - strength) * x
        return out


def _real_speech(seconds: float) -> np.ndarray:
    """A real recording (shipped demo clip, else a test fixture) tiled to ``seconds``."""
    from .audio import load_audio

    here = Path(__file__).parent
    candidates = [here / "demo" / "damaged_demo.flac",
                  here.parent / "tests" / "fixtures" / "speech" / "kathleen" / "audio" / "arctic_a0001.flac"]
    source = next((c for c in candidates if c.is_file()), None)
    if source is None:
        generator = np.random.default_rng(0)
        base = 0.05 * generator.standard_normal(MODEL_RATE).astype(np.float32)
    else:
        base = load_audio(source)[0].numpy()
    reps = int(np.ceil(seconds * MODEL_RATE / len(base)))
    return np.tile(base, reps)[: int(seconds * MODEL_RATE)]


def measure_parity(onnx_path: str | os.PathLike, model=None, chunks: float = 2.6, repeats: int = 2) -> dict:
    """Run torch ``repair`` and onnxruntime on the same real audio, one thread each.

    The audio is ``chunks`` chunks long, counted in steps of the chunked repair (e.g. 8 + 7 + 0.6 x 7
    = 19.2 s for 8 s chunks with 1 s overlap): the last chunk is partial, as in most recordings.
    Returns max/mean absolute difference and both real-time factors (best of ``repeats``).
    """
    from .repair import load_repair_model

    torch_model = load_repair_model(model, "cpu").float()
    runner = OnnxRepairer(onnx_path, threads=1, target_rms=torch_model.config.target_rms)
    hop = torch_model.config.hop_length
    overlap = min(MODEL_RATE // hop, runner.chunk // hop // 2) * hop
    seconds = int(runner.chunk + (chunks - 1) * (runner.chunk - overlap)) / MODEL_RATE
    chunk_seconds = runner.chunk / MODEL_RATE
    x = _real_speech(seconds)
    emb = None
    if _conditioned(torch_model) and runner.conditioned:
        emb = np.zeros(torch_model.config.speaker_embedding_dim, dtype=np.float32)
        emb[0] = 1.0  # a unit vector: exercises the conditioning path
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t_torch, t_ort = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            y_torch = torch_model.repair(torch.from_numpy(x), None if emb is None else torch.from_numpy(emb),
                                         chunk_seconds=chunk_seconds).numpy()
            t_torch.append(time.perf_counter() - start)
            start = time.perf_counter()
            y_ort = runner.repair(x, emb, hop_length=hop)
            t_ort.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    diff = np.abs(y_torch - y_ort)
    return {
        "seconds": seconds,
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "peak": float(np.abs(y_torch).max()),
        "rtf_torch": min(t_torch) / seconds,
        "rtf_onnxruntime": min(t_ort) / seconds,
    }
