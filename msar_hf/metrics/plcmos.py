"""PLCMOS: a reference-free rating of how well lost packets (dropouts) were concealed.

Microsoft's PLCMOS v2 (Diener et al., INTERSPEECH 2023; the measure of the ICASSP Packet Loss
Concealment challenges) predicts the mean opinion score, 1-5, that listeners give a clip whose
gaps were filled in, from the clip alone. DNSMOS (:mod:`.dnsmos`) rates noise and distortion;
PLCMOS is the one trained on concealed packet loss, so it is the measure for msar's dropouts
repair. The network comes from the ``speechmos`` package (MIT; the ONNX file ships in its wheel)
and is run as its ``run`` function runs it.
"""

from __future__ import annotations

import numpy as np

PLCMOS_RATE = 16000


class Plcmos:
    """``Plcmos()(waveform, rate)`` -> the PLCMOS v2 score (float, 1-5; higher is better)."""

    def __init__(self):
        try:
            from speechmos.plcmos import PLCMOS
        except ImportError as exc:  # pragma: no cover - speechmos is a dependency
            raise ImportError(f"PLCMOS needs the speechmos package (pip install speechmos): {exc}") from exc
        self._model = PLCMOS()

    def __call__(self, waveform, rate: int = PLCMOS_RATE) -> float:
        audio = np.asarray(waveform, dtype=np.float64).reshape(-1)
        if audio.size == 0:
            raise ValueError("PLCMOS: empty waveform")
        if not np.isfinite(audio).all():
            raise ValueError("PLCMOS: the waveform has NaN or infinite samples")
        if rate != PLCMOS_RATE:
            import torch

            from ..audio import resample

            audio = resample(torch.from_numpy(audio), rate, PLCMOS_RATE).double().numpy()
        return float(self._model(np.clip(audio, -1.0, 1.0).astype(np.float32))["plcmos"])


__all__ = ["PLCMOS_RATE", "Plcmos"]
