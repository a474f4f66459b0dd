"""Sharing msar artefacts on the Hugging Face Hub, and using them offline (one module per idea:
``cards``, ``push``, ``spaces``, ``cache``).

* :func:`model_card` / :func:`write_model_card` write the ``README.md`` of a model folder: YAML
  front matter (license, library_name, tags, datasets, pipeline_tag, a ``model-index`` holding
  the metrics that were *measured* and recorded next to the weights) and usage snippets for
  ``AutoModel``, ``pipeline`` and the ``msar`` command line. The card is built with
  ``huggingface_hub.ModelCard`` so the metadata is exactly what the Hub parses.
* :func:`push_model`, :func:`push_dataset` and :func:`push_metric` publish a ``save_pretrained``
  folder (or a live model), a dataset folder and the ``msar_quality`` metric (as a Gradio Space:
  ``evaluate-cli`` does not work with huggingface-hub 2.x). A failed push (no token, no network,
  refused token) raises :class:`HubError` with a one-line reason; local files are never written.
* :func:`build_cache_snapshot` installs a folder into the Hugging Face cache
  (``models--org--name/snapshots/<sha>/`` + ``refs/main``) exactly as a download would, so
  ``from_pretrained("org/name")`` and ``snapshot_download(..., local_files_only=True)`` work with
  ``HF_HUB_OFFLINE=1``. Offline users copy a model folder to the machine and run
  ``msar push cache FOLDER --repo org/name`` (or call the function) instead of downloading.

This module knows no model class: it reads ``config.json`` to tell a repair model from a
synthesis model, so it can describe a folder written by any version of the models.
"""


from ..errors import HubError
from .cache import build_cache_snapshot
from .cards import (
    EVAL_RESULTS_FILE,
    MSAR_TRAINING_SETS,
    TrainingSet,
    completed_card,
    model_card,
    read_eval_results,
    write_model_card,
)
from .push import dataset_card, push_dataset, push_model, save_pretrained_for_hub, write_upload
from .spaces import app_space_files, metric_space_files, push_app, push_metric

__all__ = [
    "EVAL_RESULTS_FILE",
    "MSAR_TRAINING_SETS",
    "HubError",
    "TrainingSet",
    "app_space_files",
    "build_cache_snapshot",
    "completed_card",
    "dataset_card",
    "metric_space_files",
    "model_card",
    "push_app",
    "push_dataset",
    "push_metric",
    "push_model",
    "read_eval_results",
    "save_pretrained_for_hub",
    "write_model_card",
    "write_upload",
]
