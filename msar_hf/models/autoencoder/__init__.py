"""The msar repair autoencoder (config, model, feature extractor), transformers style."""

from .configuration_msar_autoencoder import MsarAutoencoderConfig
from .feature_extraction_msar_autoencoder import MsarAutoencoderFeatureExtractor
from .modeling_msar_autoencoder import (
    MsarAutoencoderModel,
    MsarAutoencoderOutput,
    MsarAutoencoderPreTrainedModel,
)

__all__ = [
    "MsarAutoencoderConfig",
    "MsarAutoencoderFeatureExtractor",
    "MsarAutoencoderModel",
    "MsarAutoencoderOutput",
    "MsarAutoencoderPreTrainedModel",
]

# save_pretrained writes `auto_map` and copies the flat modules next to the weights, so a folder
# loads with trust_remote_code=True even where msar_hf is not installed.
MsarAutoencoderConfig.register_for_auto_class()
MsarAutoencoderModel.register_for_auto_class("AutoModel")
MsarAutoencoderFeatureExtractor.register_for_auto_class("AutoFeatureExtractor")
