"""Clean-speech augmentation for training breadth: speed, tempo, pitch and voice (formant +
pitch) perturbation.

These change the *target* (a new pseudo-speaker or speaking rate), so they run on the clean
signal before any damage; the length changes with speed and tempo.
"""

from __future__ import annotations

import numpy as np

from ._signal import array_io


@array_io
def speed_perturb(x, factor: float, sampling_rate: int = 16000):
    """Play ``factor`` times faster (tempo and pitch together, Kaldi-style speed perturbation):
    a resampling by soxr; the length becomes ``len(x) / factor``.

    By hand: audiomentations has no speed perturbation (its Resample changes the rate)."""
    import soxr

    if factor == 1.0 or x.size == 0:
        return x.copy()
    return soxr.resample(x, sampling_rate * float(factor), sampling_rate, quality="HQ").astype(np.float32)


def _signalsmith(transform_cls, x: np.ndarray, sampling_rate: int, **parameters) -> np.ndarray:
    transform = transform_cls(p=1.0, method="signalsmith_stretch", **(
        {"leave_length_unchanged": False} if "rate" in parameters else {}))
    # Parameters set explicitly instead of randomize_parameters(), which reads global RNGs.
    transform.parameters = {"should_apply": True, **parameters}
    return np.asarray(transform.apply(x, sampling_rate), np.float32)


@array_io
def tempo_perturb(x, rate: float, sampling_rate: int = 16000):
    """Speak ``rate`` times faster at the same pitch (audiomentations TimeStretch, Signalsmith
    Stretch); the length becomes about ``len(x) / rate``."""
    from audiomentations import TimeStretch

    if rate == 1.0 or x.size == 0:
        return x.copy()
    return _signalsmith(TimeStretch, x, sampling_rate, rate=float(rate))


def _same_length(y: np.ndarray, size: int) -> np.ndarray:
    """Cut or zero-pad to ``size`` samples (pitch and voice changes keep the input's length)."""
    return y[:size] if y.size >= size else np.pad(y, (0, size - y.size))


@array_io
def pitch_shift(x, semitones: float, sampling_rate: int = 16000):
    """Shift the pitch by ``semitones`` at the same tempo (audiomentations PitchShift,
    Signalsmith Stretch); the length is kept."""
    from audiomentations import PitchShift

    if semitones == 0.0 or x.size == 0:
        return x.copy()
    out = _signalsmith(PitchShift, x, sampling_rate, num_semitones=float(semitones))
    return _same_length(out, x.size)


@array_io
def change_voice(x, formant_ratio: float, pitch_median_hz: float, sampling_rate: int = 16000,
                 seed: int = 0):
    """A new pseudo-speaker: formants scaled by ``formant_ratio`` and the median pitch moved to
    ``pitch_median_hz`` independently (Praat "Change gender", PSOLA, through parselmouth, as in
    NANSY's voice perturbation); tempo and length are kept. Input with no voiced frame (silence,
    noise) comes back unchanged. ``seed`` seeds Praat's random generator: same arguments, same
    output.

    By hand only as a thin call: audiomentations' PitchShift moves the formants with the pitch,
    so it cannot make a female recording sound like a male speaker."""
    try:
        import parselmouth
        from parselmouth.praat import call
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("voice augmentation needs praat-parselmouth: pip install praat-parselmouth") from err

    if x.size == 0:
        return x.copy()
    sound = parselmouth.Sound(x.astype(np.float64), float(sampling_rate))
    # Change gender draws from Praat's own global generator, seeded from the clock: unseeded,
    # two calls with the same arguments differed by up to 0.6 of full scale, which broke the
    # Degrader's "(seed, index) reproduces a sample" promise. Seed it, then give it back.
    parselmouth.praat.run(f"random_initializeWithSeedUnsafelyButPredictably ({int(seed)})")
    try:
        out = call(sound, "Change gender", 75.0, 600.0, float(formant_ratio), float(pitch_median_hz), 1.0, 1.0)
    except parselmouth.PraatError:  # no voiced frame to measure a pitch on
        return x.copy()
    finally:
        parselmouth.praat.run("random_initializeSafelyAndUnpredictably ()")
    y = np.asarray(out.values[0], dtype=np.float32)
    return _same_length(y, x.size)
