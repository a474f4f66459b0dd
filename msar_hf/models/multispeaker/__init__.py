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

# save_pretrained writes `auto_map` and copies the flat modules next to the weights, so a folder
# loads with trust_remote_code=True where msar_hf is not installed (without this, a model loaded
# with msar installed and saved again had an auto_map naming .py files it did not carry).
MsarMultiSpeakerConfig.register_for_auto_class()
MsarMultiSpeakerModel.register_for_auto_class("AutoModelForTextToWaveform")
MsarMultiSpeakerTokenizer.register_for_auto_class()
MsarMultiSpeakerProcessor.register_for_auto_class()
