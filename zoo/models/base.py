"""`ZooModel`: the one contract that saving, loading, decoding, evaluation and
the command line rely on, declared in one place (as KerasHub's `Backbone` and
`Task` declare theirs).

A model family subclasses it, sets `task`, and implements the hooks below;
`zoo.saving` and the registry call nothing else. Families that decode token
by token (translation, captioning) also give `encode`-style inputs and a
`decode_step(tokens, state, memory)` to the shared compiled search
(`zoo.decoding.Decoder`) through their `search` property.
"""

import keras

from zoo.tasks import TASKS as _TASKS

TASKS = tuple(_TASKS)  # ("translation", "captioning", "text-generation"): zoo.tasks is their table


class ZooModel(keras.Model):
    """A registered zoo model: a `keras.Model` with the hooks the zoo needs.

    Subclasses set `task` (one of `TASKS`) and implement:

    - `save_assets(directory)` / `load_assets(directory)`: the files besides
      the weights that map raw inputs to ids (tokenizers, vocabularies); a
      missing or corrupt file is an error naming it.
    - `build_for_inference()`: creates every variable, so a weights file can
      be assigned in `model.weights` order.
    - `get_config()`: the builder arguments (`zoo.build(name, **config)`
      rebuilds the same architecture).
    """

    task = None

    def save_assets(self, directory):
        raise NotImplementedError(f"{type(self).__name__} must implement save_assets(directory).")

    def load_assets(self, directory):
        raise NotImplementedError(f"{type(self).__name__} must implement load_assets(directory).")

    def build_for_inference(self):
        raise NotImplementedError(f"{type(self).__name__} must implement build_for_inference().")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.task is not None and cls.task not in TASKS:
            raise TypeError(f"{cls.__name__}.task must be one of {TASKS}, got {cls.task!r}.")
