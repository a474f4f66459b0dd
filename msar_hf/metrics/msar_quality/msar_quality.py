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

from msar_hf.metrics.quality import ALL_METRICS, SAMPLING_RATE, compute_all, pcm_as_float

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
    predictions: list of estimated mono waveforms (sequences of floats), or items of a datasets
        Audio column (datasets >= 4: torchcodec decoders, any rate and channels: scored as 16 kHz mono).
    references: list of reference mono waveforms, one per prediction (or Audio items likewise).
    sampling_rate: their sampling rate (default 16000; other rates are resampled to 16 kHz; Audio
        items are 16 kHz already, so it must stay 16000 when they are given).
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

    # datasets >= 4 hands an Audio column over as torchcodec decoders, which evaluate's feature check
    # refuses ("don't match the expected format"): they are decoded here, to 16 kHz mono
    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Add a batch of (prediction, reference) pairs; Audio items are decoded to 16 kHz mono.
        """
        return super().add_batch(predictions=self._arrays(predictions), references=self._arrays(references), **kwargs)

    def add(self, *, prediction=None, reference=None, **kwargs):
        """Add one (prediction, reference) pair; Audio items are decoded to 16 kHz mono.
        """
        return super().add(prediction=self._arrays([prediction])[0] if prediction is not None else None,
                           reference=self._arrays([reference])[0] if reference is not None else None, **kwargs)

    def compute(self, *, predictions=None, references=None, **kwargs):
        """Score the pairs given here and added before; Audio items are decoded to 16 kHz mono.
        """
        added = getattr(self, "_decoded_audio", False)  # Audio items among the pairs add() keeps
        # decoded before the rate check, so that Audio items given here are checked too
        predictions, references = self._arrays(predictions), self._arrays(references)
        if getattr(self, "_decoded_audio", False) and kwargs.get("sampling_rate", SAMPLING_RATE) != SAMPLING_RATE:
            self._decoded_audio = added  # those given here are not kept
            raise ValueError(f"datasets Audio items are scored at {SAMPLING_RATE} Hz: leave sampling_rate out "
                             f"(got {kwargs['sampling_rate']})")
        try:
            return super().compute(predictions=predictions, references=references, **kwargs)
        finally:
            self._decoded_audio = False  # compute() consumed the pairs

    def _arrays(self, values):
        # integer PCM at its full scale here: the Arrow table would store int16 samples as floats in the thousands
        if values is None or isinstance(values, np.ndarray):
            return pcm_as_float(values)
        values = [pcm_as_float(v) for v in values]  # once: a generator or a datasets column is walked a single time
        if not any(hasattr(v, "get_all_samples") for v in values):
            return values
        self._decoded_audio = True
        from msar_hf.audio import dataset_mono_16k

        return [dataset_mono_16k(v).numpy() if hasattr(v, "get_all_samples") else v for v in values]

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
