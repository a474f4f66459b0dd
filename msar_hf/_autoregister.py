"""Register msar's models and pipelines with transformers as soon as transformers is imported.

``import msar_hf`` must stay fast (the CLI imports it for ``msar --help``), yet after it
``AutoModel.from_pretrained(<msar model>)`` and ``pipeline("speech-repair")`` must work. Importing
the model classes costs seconds (torch + transformers), so instead of importing them eagerly we
wait for the moment transformers itself is imported (the user is about to use it anyway) and
register then; if transformers is already loaded we register at once.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys

_DONE = False


def register_now() -> None:
    """Import ``msar_hf.models`` and ``msar_hf.pipelines`` (their import registers the Auto* classes)."""
    global _DONE
    if _DONE:
        return
    _DONE = True
    importlib.import_module("msar_hf.models")
    importlib.import_module("msar_hf.pipelines")


class _AfterTransformersImport(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != "transformers":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            register_now()

        spec.loader.exec_module = exec_then_register
        return spec


def install() -> None:
    """Register now if transformers is loaded, else right after it is first imported."""
    if "transformers" in sys.modules:
        register_now()
    elif not any(isinstance(f, _AfterTransformersImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterTransformersImport())
