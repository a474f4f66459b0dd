"""Channel damage: band-limiting (telephone, low-pass) and lossy codecs (mp3, opus)."""

from __future__ import annotations

import functools

import numpy as np
from scipy.signal import firwin, kaiserord, oaconvolve

from ._signal import array_io, fit_length

STOPBAND_DB = 65.0  # attenuation reached at the stop-band edge


@functools.lru_cache(maxsize=256)
def _fir(sampling_rate: int, low_hz: float | None, high_hz: float, transition_hz: float) -> np.ndarray:
    """Linear-phase Kaiser-window FIR whose stop band starts at ``high_hz`` (and ends at
    ``low_hz`` for a band-pass), with ``transition_hz``-wide transition bands below/above."""
    nyquist = sampling_rate / 2
    numtaps, beta = kaiserord(STOPBAND_DB, transition_hz / nyquist)
    numtaps |= 1  # odd: integer group delay, so 'same' convolution is exactly zero-phase
    high = min(high_hz - transition_hz / 2, nyquist * 0.98)
    if low_hz:
        taps = firwin(numtaps, [low_hz + transition_hz / 2, high], window=("kaiser", beta),
                      pass_zero=False, fs=sampling_rate)
    else:
        taps = firwin(numtaps, high, window=("kaiser", beta), fs=sampling_rate)
    return taps.astype(np.float32)


@array_io
def band_limit(x, sampling_rate: int = 16000, low_hz: float | None = None, high_hz: float = 3400.0,
               transition_hz: float | None = None):
    """Remove everything above ``high_hz`` (and below ``low_hz``): at least 65 dB down from the
    cut-off on. Telephone: ``low_hz=300, high_hz=3400``; low-pass: ``high_hz`` in 2-6 kHz.

    By hand (scipy FIR design): audiomentations' Butterworth filters roll off at 6-24 dB/octave,
    too gently to model a band-limited channel, and a zero-phase FIR keeps the pair aligned.
    """
    if high_hz >= sampling_rate / 2 and not low_hz:
        return x.copy()
    if transition_hz is None:
        transition_hz = max(50.0, 0.06 * high_hz)
    high_hz = min(float(high_hz), sampling_rate / 2)
    taps = _fir(int(sampling_rate), float(low_hz) if low_hz else None, high_hz, float(transition_hz))
    if x.size == 0:
        return x.copy()
    return oaconvolve(x, taps, mode="same").astype(np.float32)


def telephone(x, sampling_rate: int = 16000, band=(300.0, 3400.0)):
    """Narrow-band telephone channel (300-3400 Hz)."""
    return band_limit(x, sampling_rate, low_hz=band[0], high_hz=band[1], transition_hz=100.0)


def low_pass(x, cutoff_hz: float, sampling_rate: int = 16000):
    """Low-pass at ``cutoff_hz`` (a cheap microphone or an upsampled low-rate recording)."""
    return band_limit(x, sampling_rate, high_hz=cutoff_hz)


def replay_band_limit(x, step: dict, sampling_rate: int = 16000):
    """Apply a recorded ``band_limit`` step (its ``kind``, ``low_hz``, ``high_hz``) to another
    signal, e.g. the clean target of the pair, with the very filter the degrader used."""
    if step.get("kind") == "telephone":
        return telephone(x, sampling_rate, (step["low_hz"], step["high_hz"]))
    return low_pass(x, step["high_hz"], sampling_rate)


@array_io
def codec(x, sampling_rate: int = 16000, format: str = "mp3", bitrate_kbps: float = 16.0):
    """Encode and decode through a lossy codec in memory (torchcodec's FFmpeg: libmp3lame,
    libopus). Output is resampled back to ``sampling_rate`` and cropped/padded to the input
    length; the codecs' priming delay is removed by the decoder and any residual delay by
    :func:`_align`, so the pair stays aligned."""
    import torch
    from torchcodec.decoders import AudioDecoder
    from torchcodec.encoders import AudioEncoder

    if x.size == 0:
        return x.copy()
    peak = float(np.abs(x).max())
    pre_gain = 1.0 / peak if peak > 1.0 else 1.0  # the encoder takes [-1, 1]
    samples = torch.from_numpy(np.ascontiguousarray(x * np.float32(pre_gain)))[None]
    encoded = AudioEncoder(samples, sample_rate=sampling_rate).to_tensor(
        format=format, bit_rate=int(bitrate_kbps * 1000))
    decoded = AudioDecoder(encoded, sample_rate=sampling_rate).get_all_samples().data
    out = fit_length(decoded.mean(0).numpy().astype(np.float32), x.size)
    return _align(out, x) / np.float32(pre_gain)


def _align(out: np.ndarray, ref: np.ndarray, max_lag: int = 8) -> np.ndarray:
    """Undo a small constant codec delay (libopus below 9 kb/s runs its narrow-band mode 2
    samples late at 16 kHz) by the cross-correlation peak within +-max_lag samples."""
    if out.size <= 4 * max_lag:
        return out
    core = ref[max_lag:-max_lag].astype(np.float64)
    scores = [float(np.dot(out[max_lag + lag: out.size - max_lag + lag], core))
              for lag in range(-max_lag, max_lag + 1)]
    lag = int(np.argmax(scores)) - max_lag
    if lag > 0:
        return np.concatenate([out[lag:], np.zeros(lag, np.float32)])
    if lag < 0:
        return np.concatenate([np.zeros(-lag, np.float32), out[:lag]])
    return out
