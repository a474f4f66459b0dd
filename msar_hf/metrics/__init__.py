"""Speech quality measurement: the founding document's Q and the standard measures.

* :mod:`msar_hf.metrics.quality`: pure functions on waveforms (``compute_all`` and its parts).
* :mod:`msar_hf.metrics.report`: pair folders of files, score them, write tables and plots
  (``msar evaluate``).
* ``msar_hf/metrics/msar_quality/``: the same metric as a Hugging Face ``evaluate`` module;
  :func:`load_metric` loads it offline.
* :mod:`msar_hf.metrics.dnsmos` and :mod:`msar_hf.metrics.plcmos`: Microsoft's reference-free
  ratings (DNSMOS P.835 for noise and distortion, PLCMOS for concealed packet loss), which score
  a real recording that has no clean reference (``msar evaluate --dnsmos --plcmos``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .quality import (
    ALL_METRICS,
    Q_METRICS,
    analyze,
    compute_all,
    log_spectral_distance,
    loudness_contour,
    loudness_cosine,
    mse,
    pesq_wb,
    pitch_contour,
    pitch_cosine,
    q_score,
    si_sdr,
    stoi,
)

METRIC_MODULE_DIR = Path(__file__).parent / "msar_quality"

__all__ = [
    "ALL_METRICS",
    "METRIC_MODULE_DIR",
    "Q_METRICS",
    "analyze",
    "compute_all",
    "load_metric",
    "log_spectral_distance",
    "loudness_contour",
    "loudness_cosine",
    "mse",
    "pesq_wb",
    "pitch_contour",
    "pitch_cosine",
    "q_score",
    "si_sdr",
    "stoi",
]


def load_metric(**kwargs: Any):
    """The ``msar_quality`` metric as an ``evaluate.EvaluationModule``, loaded from the package
    (no network): ``load_metric().compute(predictions=[...], references=[...])``.

    Keyword arguments go to :func:`evaluate.load` (e.g. ``experiment_id``, ``cache_dir``).
    """
    import evaluate

    return evaluate.load(str(METRIC_MODULE_DIR), **kwargs)
