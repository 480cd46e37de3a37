"""A Keras 3 model zoo of recurrent sequence models with attention.

`import zoo` is light: listing models and reading their cards never imports
TensorFlow or Keras. `zoo.build` and `zoo.load` (`zoo.saving`) and
submodules such as `zoo.layers` are imported on first use.

>>> import zoo
>>> "lstm-seq2seq-attn" in zoo.list_models("*seq2seq*")
True
"""

import importlib

from zoo.registry import info, list_models, register

__all__ = ["build", "info", "layers", "list_models", "load", "register"]

# Submodules reachable as attributes of `zoo` (imported on first access).
_SUBMODULES = {
    "callbacks", "checks", "data", "decoding", "distribute", "evaluate", "export", "flags", "io", "layers", "metrics",
    "models", "optimizers", "quiet", "registry", "saving", "tasks", "training", "viz",
}


def __getattr__(name):
    if name in ("build", "load"):  # zoo.saving's: Keras is imported when a model is first built
        return getattr(importlib.import_module("zoo.saving"), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"zoo.{name}")
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES)
