"""A Keras 3 model zoo of recurrent sequence models with attention.

>>> import zoo
>>> "lstm-seq2seq-attn" in zoo.list_models("*seq2seq*")
True
"""

from zoo import layers
from zoo.registry import build, info, list_models, load, register

# Importing a model module registers its builders.
from zoo.models import seq2seq  # noqa: E402, F401  isort: skip
from zoo.models import char_rnn  # noqa: E402, F401  isort: skip
from zoo.models import captioner  # noqa: E402, F401  isort: skip

__all__ = ["build", "info", "layers", "list_models", "load", "register"]
