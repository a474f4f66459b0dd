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

# multi-speaker text-to-speech (issue 6): AutoConfig/AutoModel/AutoModelForTextToWaveform/AutoTokenizer/AutoProcessor
from transformers import AutoModelForTextToWaveform, AutoProcessor, AutoTokenizer

from .multispeaker import (
    MsarMultiSpeakerConfig,
    MsarMultiSpeakerModel,
    MsarMultiSpeakerProcessor,
    MsarMultiSpeakerTokenizer,
)

AutoConfig.register(MsarMultiSpeakerConfig.model_type, MsarMultiSpeakerConfig, exist_ok=True)
AutoModel.register(MsarMultiSpeakerConfig, MsarMultiSpeakerModel, exist_ok=True)
AutoModelForTextToWaveform.register(MsarMultiSpeakerConfig, MsarMultiSpeakerModel, exist_ok=True)
AutoTokenizer.register(MsarMultiSpeakerConfig, slow_tokenizer_class=MsarMultiSpeakerTokenizer, exist_ok=True)
AutoProcessor.register(MsarMultiSpeakerConfig, MsarMultiSpeakerProcessor, exist_ok=True)
__all__ += ["MsarMultiSpeakerConfig", "MsarMultiSpeakerModel", "MsarMultiSpeakerProcessor", "MsarMultiSpeakerTokenizer"]
