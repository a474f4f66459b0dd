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
    if not high_hz > 0 or (low_hz is not None and not 0 <= low_hz < high_hz):
        raise ValueError(f"band_limit: need 0 <= low_hz < high_hz and high_hz > 0 (Hz), got low_hz={low_hz}, "
                         f"high_hz={high_hz}")
    if high_hz >= sampling_rate / 2 and not low_hz:
        return x.copy()  # nothing above the Nyquist frequency to remove
    if transition_hz is None:
        transition_hz = max(50.0, 0.06 * high_hz)
    high_hz = min(float(high_hz), sampling_rate / 2)
    taps = _fir(int(sampling_rate), float(low_hz) if low_hz else None, high_hz, float(transition_hz))
    if x.size == 0:
        return x.copy()
    return oaconvolve(x, taps, mode="same").astype(np.float32)


TELEPHONE_TRANSITION_HZ = 100.0  # a telephone channel's edges: steeper than the low-pass default


def telephone(x, sampling_rate: int = 16000, band=(300.0, 3400.0)):
    """Narrow-band telephone channel (300-3400 Hz)."""
    return band_limit(x, sampling_rate, low_hz=band[0], high_hz=band[1], transition_hz=TELEPHONE_TRANSITION_HZ)


def low_pass(x, cutoff_hz: float, sampling_rate: int = 16000):
    """Low-pass at ``cutoff_hz`` (a cheap microphone or an upsampled low-rate recording)."""
    return band_limit(x, sampling_rate, high_hz=cutoff_hz)


def replay_band_limit(x, step: dict, sampling_rate: int = 16000, keep_low_band: bool = False):
    """Apply a recorded ``band_limit`` step (its ``kind``, ``low_hz``, ``high_hz``) to another
    signal, e.g. the clean target of the pair, with the very filter the degrader used.
    ``keep_low_band``: replay only the top edge of a telephone channel (same transition)."""
    if step.get("kind") == "telephone":
        if keep_low_band:
            return band_limit(x, sampling_rate, high_hz=step["high_hz"], transition_hz=TELEPHONE_TRANSITION_HZ)
        return telephone(x, sampling_rate, (step["low_hz"], step["high_hz"]))
    return low_pass(x, step["high_hz"], sampling_rate)


@array_io
def codec(x, sampling_rate: int = 16000, format: str = "mp3", bitrate_kbps: float = 16.0,
          backend: str = "auto"):
    """Encode and decode through a lossy codec in memory. Output is resampled back to
    ``sampling_rate`` and cropped/padded to the input length, aligned with the input.

    ``backend``: ``"ffmpeg"`` (torchcodec's FFmpeg: libmp3lame, libopus), ``"sndfile"``
    (libsndfile, which the soundfile wheel bundles with LAME, mpg123 and libopus: the same
    encoders, for machines without FFmpeg's shared libraries, such as a rented GPU box) or
    ``"auto"`` (FFmpeg when torchcodec loads, else libsndfile)."""
    # Checked first: FFmpeg's own errors ("Couldn't allocate AVFormatContext", "bit_rate=-5000
    # must be >= 0") or a bare KeyError in the libsndfile path do not say what was wrong.
    if format not in ("mp3", "opus"):
        raise ValueError(f"unknown codec {format!r}; use one of mp3, opus")
    if not bitrate_kbps > 0:
        raise ValueError(f"codec bit rate must be positive (kbit/s), got {bitrate_kbps!r}")
    if x.size == 0:
        return x.copy()
    if backend == "auto":
        backend = "ffmpeg" if _torchcodec_loads() else "sndfile"
    if backend not in ("ffmpeg", "sndfile"):
        raise ValueError(f"codec backend must be 'auto', 'ffmpeg' or 'sndfile', not {backend!r}")
    peak = float(np.abs(x).max())
    pre_gain = 1.0 / peak if peak > 1.0 else 1.0  # the encoders take [-1, 1]
    scaled = np.ascontiguousarray(x * np.float32(pre_gain), dtype=np.float32)
    code = _ffmpeg_round_trip if backend == "ffmpeg" else _sndfile_round_trip
    if format == "opus" and sampling_rate not in OPUS_RATES:
        # Both backends refuse Opus at 22.05 or 44.1 kHz (a Degrader at those rates crashed on
        # its first opus draw): code at 48 kHz, libopus's own internal rate, and come back.
        import soxr

        up = soxr.resample(scaled, sampling_rate, 48000).astype(np.float32)
        coded = soxr.resample(code(up, 48000, format, bitrate_kbps), 48000, sampling_rate)
        return fit_length(coded.astype(np.float32), x.size) / np.float32(pre_gain)
    return code(scaled, sampling_rate, format, bitrate_kbps) / np.float32(pre_gain)


OPUS_RATES = (8000, 12000, 16000, 24000, 48000)  # the only rates libopus encodes


@functools.lru_cache(maxsize=1)
def _torchcodec_loads() -> bool:
    try:
        import torchcodec.encoders  # noqa: F401  (loads FFmpeg's shared libraries)
    except (ImportError, OSError, RuntimeError):
        return False
    return True


def _ffmpeg_round_trip(x: np.ndarray, sampling_rate: int, format: str, bitrate_kbps: float) -> np.ndarray:
    import torch
    from torchcodec.decoders import AudioDecoder
    from torchcodec.encoders import AudioEncoder

    encoded = AudioEncoder(torch.from_numpy(x)[None], sample_rate=sampling_rate).to_tensor(
        format=format, bit_rate=int(bitrate_kbps * 1000))
    decoded = AudioDecoder(encoded, sample_rate=sampling_rate).get_all_samples().data
    # FFmpeg removes the priming delay; what is left is a few samples (see _align)
    return _align(fit_length(decoded.mean(0).numpy().astype(np.float32), x.size), x)


# libsndfile sets a codec's bit rate through a 0..1 "compression level", linear in the rate:
# measured with soundfile 0.14 / libsndfile 1.2.2 at 16 kHz (the PESQ-WB of the decoded
# speech is within 0.1 of FFmpeg's at 8-32 kbit/s mp3 and 6-24 kbit/s opus).
_SNDFILE_RATE_SPAN = {"mp3": (160.0, 152.0), "opus": (256.0, 250.0)}  # kbit/s at level 0, per level


def _sndfile_round_trip(x: np.ndarray, sampling_rate: int, format: str, bitrate_kbps: float) -> np.ndarray:
    import io

    import soundfile as sf

    top, per_level = _SNDFILE_RATE_SPAN[format]
    highest = 0.99 if format == "mp3" else 1.0  # LAME refuses 1.0 (8 kbit/s is reached at 0.97)
    level = float(np.clip((top - bitrate_kbps) / per_level, 0.0, highest))
    buffer = io.BytesIO()
    if format == "mp3":
        sf.write(buffer, x, sampling_rate, format="MP3", subtype="MPEG_LAYER_III",
                 compression_level=level, bitrate_mode="CONSTANT")
    else:
        sf.write(buffer, x, sampling_rate, format="OGG", subtype="OPUS", compression_level=level)
    buffer.seek(0)
    decoded, rate = sf.read(buffer, dtype="float32", always_2d=True)
    decoded = decoded.mean(1)
    if rate != sampling_rate:
        import soxr

        decoded = soxr.resample(decoded, rate, sampling_rate).astype(np.float32)
    # mpg123 keeps LAME's encoder delay (1105 samples at 16 kHz below 40 kbit/s): find it
    return _align(_drop_delay(decoded, x), x)


def _drop_delay(out: np.ndarray, ref: np.ndarray, max_delay: int = 4096) -> np.ndarray:
    """Cut a leading codec delay (0..max_delay samples) found by cross-correlation, then fit the
    length to ``ref``'s."""
    from scipy.signal import correlate

    spare = min(out.size - ref.size, max_delay)
    if spare <= 0:
        return fit_length(out, ref.size)
    n = ref.size
    scores = correlate(out[: n + spare].astype(np.float64), ref.astype(np.float64), mode="valid", method="fft")
    delay = int(np.argmax(scores))
    return fit_length(out[delay:], n)


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
