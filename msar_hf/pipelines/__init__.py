"""msar pipelines, registered with transformers on import (``pipeline("speech-repair", ...)``)."""

from transformers import AutoModel
from transformers.pipelines import PIPELINE_REGISTRY

from .speech_repair import SpeechRepairPipeline

if "speech-repair" not in PIPELINE_REGISTRY.get_supported_tasks():
    PIPELINE_REGISTRY.register_pipeline("speech-repair", pipeline_class=SpeechRepairPipeline, pt_model=AutoModel, type="audio")

__all__ = ["SpeechRepairPipeline"]
