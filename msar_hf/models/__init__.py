"""msar models, registered with the transformers Auto* classes on import.

After ``import msar_hf`` (or ``import msar_hf.models``), ``AutoConfig``, ``AutoModel`` and
``AutoFeatureExtractor`` resolve ``model_type == "msar_autoencoder"`` without remote code.
"""

from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

from .autoencoder import (
    MsarAutoencoderConfig,
    MsarAutoencoderFeatureExtractor,
    MsarAutoencoderModel,
    MsarAutoencoderOutput,
)


def _register() -> None:
    AutoConfig.register(MsarAutoencoderConfig.model_type, MsarAutoencoderConfig, exist_ok=True)
    AutoModel.register(MsarAutoencoderConfig, MsarAutoencoderModel, exist_ok=True)
    AutoFeatureExtractor.register(MsarAutoencoderConfig, MsarAutoencoderFeatureExtractor, exist_ok=True)


_register()

__all__ = [
    "MsarAutoencoderConfig",
    "MsarAutoencoderFeatureExtractor",
    "MsarAutoencoderModel",
    "MsarAutoencoderOutput",
]
