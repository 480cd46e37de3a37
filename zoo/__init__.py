"""A Keras 3 model zoo of recurrent sequence models with attention.

`import zoo` is light: listing models and reading their cards never imports
TensorFlow or Keras. Building or loading a model imports the module that
defines it; submodules such as `zoo.layers` are imported on first use.

>>> import zoo
>>> "lstm-seq2seq-attn" in zoo.list_models("*seq2seq*")
True
"""

import importlib

from zoo.registry import build, info, list_models, load, register

__all__ = ["build", "info", "layers", "list_models", "load", "register"]

# Submodules reachable as attributes of `zoo` (imported on first access).
_SUBMODULES = {
    "callbacks", "checks", "data", "decoding", "distribute", "evaluate", "export", "flags", "io", "layers", "metrics",
    "models", "optimizers", "quiet", "registry", "saving", "tasks", "training", "viz",
}


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"zoo.{name}")
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES)
