from pathlib import Path as _Path

__version__ = "0.1.0"

# The shipped default models (save_pretrained folders inside the package): pass them to
# AutoModel.from_pretrained / pipeline(model=...) from any working directory or installation.
PRETRAINED_DIR = _Path(__file__).parent / "pretrained"
REPAIR_MODEL = str(PRETRAINED_DIR / "repair")
LIVE_REPAIR_MODEL = str(PRETRAINED_DIR / "repair_causal")  # causal: msar stream, StreamingRepairer
SYNTHESIS_MODEL = str(PRETRAINED_DIR / "multispeaker")
SPEAKER_ENCODER = str(PRETRAINED_DIR / "speaker_encoder")

# AutoConfig/AutoModel/AutoFeatureExtractor and pipeline("speech-repair") know msar models once
# transformers is imported (lazily, so `import msar_hf` and the CLI stay fast).
from ._autoregister import install as _install_autoregister

_install_autoregister()
