"""MsarMultiSpeaker: multi-speaker text-to-speech (config, model, tokenizer, processor)."""

from .configuration_msar_multispeaker import MsarMultiSpeakerConfig
from .modeling_msar_multispeaker import (
    MsarMultiSpeakerModel,
    MsarMultiSpeakerOutput,
    MsarMultiSpeakerPreTrainedModel,
)
from .processing_msar_multispeaker import MsarMultiSpeakerProcessor
from .tokenization_msar_multispeaker import MsarMultiSpeakerTokenizer

__all__ = [
    "MsarMultiSpeakerConfig",
    "MsarMultiSpeakerModel",
    "MsarMultiSpeakerOutput",
    "MsarMultiSpeakerPreTrainedModel",
    "MsarMultiSpeakerProcessor",
    "MsarMultiSpeakerTokenizer",
]
