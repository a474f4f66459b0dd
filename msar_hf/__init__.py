__version__ = "0.1.0"

# AutoConfig/AutoModel/AutoFeatureExtractor and pipeline("speech-repair") know msar models once
# transformers is imported (lazily, so `import msar_hf` and the CLI stay fast).
from ._autoregister import install as _install_autoregister

_install_autoregister()
