"""`python -m msar_hf.cli ...` (and `accelerate launch -m msar_hf.cli repair ...`): the msar CLI."""

from . import run

run()
