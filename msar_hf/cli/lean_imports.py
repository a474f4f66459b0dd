"""Keep GPU-only libraries out of a CPU run of the ``msar`` command.

Why: transformers 5's ``modeling_utils`` imports ``torch._dynamo`` (through its FP8/DeepGEMM
integration), and dynamo imports Triton when it is installed, as it is with every Linux CUDA
wheel of torch. Triton compiles GPU kernels only, yet its import maps ``libtriton.so`` and its
Python modules: ~80 MB of the peak resident memory of ``msar repair`` on a CPU (the demo clip
under ``/usr/bin/time -f %M``, side by side: 912-920 -> 831-836 MB), on a budget of 1 GB for an
hour-long recording (``benchmarks/bench_memory.py``). torch and transformers have no switch for
it, so the command marks the module absent (``sys.modules[name] = None``, the documented way to
make an import fail) before the model's libraries load; both then take Triton as not installed,
as on a machine without it.

Only the command's own process does this (:func:`msar_hf.cli.run`, behind ``msar``, ``python -m
msar_hf.cli`` and ``accelerate launch -m msar_hf.cli``, sets :data:`OWN_PROCESS`), and only when the run
cannot use a GPU: ``import msar_hf``, or :func:`msar_hf.cli.main` called in a user's own process (a
notebook, a test), never changes what that process may import.
"""

from __future__ import annotations

import sys

GPU_ONLY_MODULES = ("triton",)
OWN_PROCESS = False  # set by msar_hf.cli.run: this process is the msar command's, to the end


def skip_gpu_only_modules(device: str | None) -> bool:
    """Mark :data:`GPU_ONLY_MODULES` absent when ``device`` (a ``--device`` value) runs on the CPU,
    in the command's own process (:data:`OWN_PROCESS`).

    "auto" counts as the CPU when torch sees no CUDA device. Modules imported already are left alone
    (something in this process uses them). Returns whether they were marked.
    """
    if not OWN_PROCESS:
        return False
    device = "auto" if device is None else str(device).strip().lower()
    if device != "cpu":
        if device != "auto":
            return False
        import torch

        if torch.cuda.is_available():
            return False
    if any(name in sys.modules for name in GPU_ONLY_MODULES):
        return False
    for name in GPU_ONLY_MODULES:
        sys.modules[name] = None  # `import triton` now raises ImportError, find_spec returns None
    return True
