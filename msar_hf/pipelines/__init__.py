"""msar pipelines, registered with transformers on import (``pipeline("speech-repair", ...)``).

``"text-to-audio"`` (alias ``"text-to-speech"``) keeps transformers' task entry (default model,
model classes) but resolves to :class:`MsarTextToAudioPipeline`, a subclass of transformers'
class that only differs for msar synthesis models (see :mod:`msar_hf.pipelines.text_to_audio`).
It goes in as a dotted path, resolved when such a pipeline is built, and not through
``register_pipeline``: that would mark the class as a custom pipeline, and ``save_pretrained`` of
any text-to-audio pipeline would then write msar's code and a ``custom_pipelines`` entry into the
saved folder.
"""

from transformers import AutoModel
from transformers.pipelines import PIPELINE_REGISTRY

from .speech_repair import SpeechRepairPipeline

if "speech-repair" not in PIPELINE_REGISTRY.get_supported_tasks():
    PIPELINE_REGISTRY.register_pipeline("speech-repair", pipeline_class=SpeechRepairPipeline, pt_model=AutoModel, type="audio")

_TRANSFORMERS_TTA = "transformers.pipelines.text_to_audio.TextToAudioPipeline"
_MSAR_TTA = "msar_hf.pipelines.text_to_audio.MsarTextToAudioPipeline"
_tta = PIPELINE_REGISTRY.supported_tasks.get("text-to-audio")
# only in place of transformers' own class: a pipeline someone else registered for the task stays
if _tta is not None:
    _impl = _tta["impl"]
    if (_impl if isinstance(_impl, str) else f"{_impl.__module__}.{_impl.__qualname__}") == _TRANSFORMERS_TTA:
        _tta["impl"] = _MSAR_TTA


def __getattr__(name: str):
    if name == "MsarTextToAudioPipeline":  # lazily: importing it imports transformers' text-to-audio pipeline
        from .text_to_audio import MsarTextToAudioPipeline

        return MsarTextToAudioPipeline
    raise AttributeError(name)


__all__ = ["MsarTextToAudioPipeline", "SpeechRepairPipeline"]
