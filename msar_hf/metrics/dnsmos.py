"""DNSMOS P.835: a reference-free estimate of how listeners would rate a recording.

Microsoft's DNSMOS (Reddy et al., ICASSP 2022; the Deep Noise Suppression challenges' measure)
predicts the three ITU-T P.835 ratings of a speech clip, 1 (bad) to 5 (excellent), from the clip
alone: SIG (the speech signal's distortion), BAK (how intrusive the background is) and OVRL (the
overall quality), plus the P.808 overall rating of its second network. It needs no clean
reference, so it scores real damaged recordings as they are, and it sees what PESQ misses and
the reverse: on msar's dev set the default (PESQ-tuned) strength scores higher PESQ-WB than
strength 1 while strength 1 scores higher BAK and OVRL (README, "Repair: msar beside the public
baselines").

The networks and their calibration come from the ``speechmos`` package (MIT, Microsoft's ONNX
files in the wheel: nothing is downloaded), and a clip is scored as Microsoft's script scores it:
one rating per 1 s hop of a 9.01 s window, averaged; a shorter clip is repeated until it fills
the window (a 4 s clip: 16 s, seven windows). Scoring one window of a tiled short clip instead
would be seven times faster but is not the same measure: on 40 items of the repair benchmark it
moved OVRL by up to 0.12 and BAK by up to 0.32 (means 0.03 and 0.04).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DNSMOS_RATE = 16000
DNSMOS_METRICS = ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808")


def rater_input(waveform, rate: int, rater: str) -> np.ndarray:
    """A waveform as Microsoft's raters take it: mono float32 at 16 kHz within [-1, 1] (they
    refuse samples outside it; a repair's restored peaks can pass 0 dBFS). ``rater`` names the
    measure in the errors: empty or non-finite input raises :class:`ValueError`."""
    audio = np.asarray(waveform, dtype=np.float64).reshape(-1)
    if audio.size == 0:
        raise ValueError(f"{rater}: empty waveform")
    if not np.isfinite(audio).all():
        raise ValueError(f"{rater}: the waveform has NaN or infinite samples")
    if rate != DNSMOS_RATE:
        import torch

        from ..audio import resample

        audio = resample(torch.from_numpy(audio), rate, DNSMOS_RATE).double().numpy()
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


class Dnsmos:
    """``Dnsmos()(waveform, rate)`` -> ``{"dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808"}``.

    Loads the two ONNX networks once (onnxruntime, ``num_threads`` intra-op threads); any rate
    is resampled to 16 kHz. Raises :class:`ImportError` naming the package when speechmos is
    missing.
    """

    def __init__(self, num_threads: int = 1):
        try:
            import onnxruntime as ort
            from speechmos import dnsmos as speechmos_dnsmos
        except ImportError as exc:  # pragma: no cover - speechmos is a dependency
            raise ImportError(f"DNSMOS needs the speechmos package (pip install speechmos): {exc}") from exc

        models = Path(speechmos_dnsmos.__file__).parent / "dnsmos_models"
        primary, p808 = models / "sig_bak_ovr.onnx", models / "model_v8.onnx"
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = num_threads
        # speechmos's class holds the calibration (its polynomials) and the per-hop loop; its own
        # constructor opens the sessions with every core, so ours replace them.
        self._model = speechmos_dnsmos.DNSMOS.__new__(speechmos_dnsmos.DNSMOS)
        self._model.primary_model_path = str(primary)
        self._model.onnx_sess = ort.InferenceSession(str(primary), options, providers=["CPUExecutionProvider"])
        self._model.p808_onnx_sess = ort.InferenceSession(str(p808), options, providers=["CPUExecutionProvider"])

    def __call__(self, waveform, rate: int = DNSMOS_RATE) -> dict[str, float]:
        scores = self._model(rater_input(waveform, rate, "DNSMOS"), DNSMOS_RATE, False)
        return {"dnsmos_sig": float(scores["sig_mos"]), "dnsmos_bak": float(scores["bak_mos"]),
                "dnsmos_ovrl": float(scores["ovrl_mos"]), "dnsmos_p808": float(scores["p808_mos"])}


__all__ = ["DNSMOS_METRICS", "DNSMOS_RATE", "Dnsmos", "rater_input"]
