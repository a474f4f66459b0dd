"""PLCMOS: a reference-free rating of how well lost packets (dropouts) were concealed.

Microsoft's PLCMOS v2 (Diener et al., INTERSPEECH 2023; the measure of the ICASSP Packet Loss
Concealment challenges) predicts the mean opinion score, 1-5, that listeners give a clip whose
gaps were filled in, from the clip alone. DNSMOS (:mod:`.dnsmos`) rates noise and distortion;
PLCMOS is the one trained on concealed packet loss, so it is the measure for msar's dropouts
repair. The network comes from the ``speechmos`` package (MIT; the ONNX file ships in its wheel)
and is run as its ``run`` function runs it, with one difference: the model averages 15 listeners
it draws at random (rater embeddings from NumPy's global generator), so the same clip scored
twice differs (20 scorings of one 4 s clip with gaps: 2.23-2.32, std 0.024). Here the draws come
from a fixed seed, so a clip always gets the same score and every system is rated by the same 15
listeners.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .dnsmos import DNSMOS_RATE, rater_input

PLCMOS_RATE = DNSMOS_RATE  # both of Microsoft's raters listen at 16 kHz
RATER_SEED = 0
# Its network refuses clips under 0.1 s (measured: 1200 samples fail, 1600 pass): those get NaN.
PLCMOS_MIN_SAMPLES = 1600


class Plcmos:
    """``Plcmos()(waveform, rate)`` -> the PLCMOS v2 score (float, 1-5; higher is better)."""

    def __init__(self):
        try:
            from speechmos.plcmos import PLCMOS
        except ImportError as exc:  # pragma: no cover - speechmos is a dependency
            raise ImportError(f"PLCMOS needs the speechmos package (pip install speechmos): {exc}") from exc
        self._model = PLCMOS()

    def __call__(self, waveform, rate: int = PLCMOS_RATE) -> float:
        audio = rater_input(waveform, rate, "PLCMOS")
        if audio.size < PLCMOS_MIN_SAMPLES:
            warnings.warn(f"PLCMOS: NaN: {audio.size / PLCMOS_RATE:.2f} s is too short to rate "
                          f"(< {PLCMOS_MIN_SAMPLES / PLCMOS_RATE:.1f} s)", RuntimeWarning, stacklevel=2)
            return math.nan
        state = np.random.get_state()  # the draws use the global generator: seed it, then put it back
        np.random.seed(RATER_SEED)
        try:
            return float(self._model(audio)["plcmos"])
        finally:
            np.random.set_state(state)


__all__ = ["PLCMOS_MIN_SAMPLES", "PLCMOS_RATE", "RATER_SEED", "Plcmos"]
