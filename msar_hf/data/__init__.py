"""Data side of msar: damage for training pairs (:mod:`msar_hf.data.degradations`) and paired
streams over Hugging Face datasets (:mod:`msar_hf.data.pairs`). Import the submodules directly;
this package imports nothing heavy."""
