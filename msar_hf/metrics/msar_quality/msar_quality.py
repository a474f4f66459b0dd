"""msar_quality: the founding document's Q (MSE + pitch and loudness contour similarity) and the
standard speech-quality measures, as a Hugging Face ``evaluate`` metric.

Load it offline with ``evaluate.load("<path to this folder>")`` or ``msar_hf.metrics.load_metric()``.
The numbers come from :func:`msar_hf.metrics.quality.compute_all`; this file only adapts it to
``evaluate``'s ``add_batch`` / ``compute`` protocol. See README.md (the metric card).
"""

from __future__ import annotations

import datasets
import evaluate
import numpy as np

from msar_hf.metrics.quality import ALL_METRICS, SAMPLING_RATE, compute_all

_CITATION = """\
@misc{msar_quality,
  title = {msar_quality: MSE, pitch and loudness contour similarity, and their combination Q},
  note  = {msar project (MultiSpeaker Audio Repair)},
}
"""

_DESCRIPTION = """\
Scores estimated speech waveforms against reference waveforms. Q = 0.5*MSE + 0.3*(1 - CosSim_pitch)
+ 0.2*(1 - CosSim_loudness), lower is better; also PESQ-WB, STOI, ESTOI, SI-SDR (dB) and
log-spectral distance (dB). Each pair is scored on its own; compute() returns the mean over pairs
(NaN-aware) and, with return_per_example=True, the per-pair values.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of estimated mono waveforms (sequences of floats).
    references: list of reference mono waveforms, one per prediction.
    sampling_rate: their sampling rate (default 16000; other rates are resampled to 16 kHz).
    align: remove a constant delay of each prediction by cross-correlation first (default False).
    metrics: subset of ("q", "mse", "cossim_pitch", "cossim_loudness", "pesq_wb", "stoi",
        "estoi", "si_sdr", "lsd") to compute (default all).
    return_per_example: also return "per_example", a list of per-pair dicts (default False).
    pitch_tracker: "dio" (fast, default) or "harvest" (robust to noise, much slower).
Returns:
    dict with the mean of each metric over pairs: q, mse, cossim_pitch, cossim_loudness,
    pesq_wb, stoi, estoi, si_sdr, lsd (+ shift_ms with align), and "num_examples".
Examples:
    >>> import evaluate
    >>> metric = evaluate.load("msar_hf/metrics/msar_quality")
    >>> metric.add_batch(predictions=[estimate], references=[reference])
    >>> metric.compute(sampling_rate=16000)["q"]
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MsarQuality(evaluate.Metric):
    """Q and friends for (estimate, reference) speech pairs."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float32")),
                    "references": datasets.Sequence(datasets.Value("float32")),
                }
            ),
            reference_urls=["https://github.com/ludlows/PESQ", "https://github.com/mpariente/pystoi",
                            "https://github.com/JeremyCCHsu/Python-Wrapper-for-World-Vocoder"],
        )

    def _compute(self, predictions, references, sampling_rate: int = SAMPLING_RATE, align: bool = False,
                 metrics=None, return_per_example: bool = False, pitch_tracker: str = "dio"):
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
        per_example = [
            compute_all(np.asarray(ref, dtype=np.float64), np.asarray(est, dtype=np.float64),
                        sampling_rate, align=align, metrics=metrics, pitch_tracker=pitch_tracker)
            for est, ref in zip(predictions, references)
        ]
        names = [k for k in (*ALL_METRICS, "shift_ms") if per_example and k in per_example[0]]
        result: dict = {}
        for name in names:
            values = np.array([row[name] for row in per_example], dtype=np.float64)
            finite = values[np.isfinite(values)]
            result[name] = float(finite.mean()) if finite.size else float("nan")
        result["num_examples"] = len(per_example)
        if return_per_example:
            result["per_example"] = per_example
        return result
