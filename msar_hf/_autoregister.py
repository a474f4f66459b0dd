"""Register msar's models and pipelines with transformers as soon as transformers is imported.

``import msar_hf`` must stay fast (the CLI imports it for ``msar --help``), yet after it
``AutoModel.from_pretrained(<msar model>)`` and ``pipeline("speech-repair")`` must work. Importing
the model classes costs seconds (torch + transformers), so instead of importing them eagerly we
wait for the moment transformers itself is imported (the user is about to use it anyway) and
register then; if transformers is already loaded we register at once.

The pipeline waits one step more, for ``transformers.pipelines``: that import alone adds ~215 MB
of resident memory (sympy, triton, tokenizers, scipy... measured with torch 2.14), which
``msar repair`` never needs and which took a 60-minute repair past its 1 GB budget.
``pipeline(...)`` and ``from transformers import Pipeline`` import it, and so register ours.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys

_DONE: set[str] = set()


def _register_models() -> None:
    """Import ``msar_hf.models`` (its import registers the Auto* classes)."""
    if "models" not in _DONE:
        _DONE.add("models")
        importlib.import_module("msar_hf.models")


def _register_pipelines() -> None:
    """Import ``msar_hf.pipelines`` (registers "speech-repair" with PIPELINE_REGISTRY)."""
    if "pipelines" not in _DONE:
        _DONE.add("pipelines")
        importlib.import_module("msar_hf.pipelines")


def register_now() -> None:
    """Register the models and the pipelines at once (imports transformers.pipelines)."""
    _register_models()
    _register_pipelines()


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs ``then()`` right after the module ``name`` is first imported."""

    def __init__(self, name: str, then) -> None:
        self.name, self.then = name, then

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            self.then()

        spec.loader.exec_module = exec_then_register
        return spec


def _when_imported(name: str, then) -> None:
    if name in sys.modules:
        then()
    elif not any(isinstance(f, _AfterImport) and f.name == name for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(name, then))


def install() -> None:
    """Register the models when transformers is loaded and the pipeline when its pipelines are."""
    _when_imported("transformers", _register_models)
    _when_imported("transformers.pipelines", _register_pipelines)
