"""`ZooModel`: the one contract that saving, loading, decoding, evaluation and
the command line rely on, declared in one place (as KerasHub's `Backbone` and
`Task` declare theirs).

A model family subclasses it, sets `task`, and implements the hooks below;
`zoo.saving` and the registry call nothing else. Families that decode token
by token (translation, captioning) also implement `encode` and `decode_step`,
the two hooks the shared compiled search (`zoo.decoding.Decoder`) drives, and
give that search through their `search` property. `DeepOutput` is their
shared output layer.
"""

import collections.abc

import keras
from keras import ops

from zoo.tasks import TASKS as _TASKS

TASKS = tuple(_TASKS)  # zoo.tasks is their table


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

    Families that decode token by token (translation, captioning) also
    implement the hooks `zoo.decoding.Decoder` drives, and a `search`
    property that returns the model's `Decoder`, built once from them:

    - `encode(inputs, training=False) -> (memory, state)`, once per batch.
    - `decode_step(tokens, state, memory) -> (log_probs, attention, state)`,
      once per output token, inside the compiled search loop.
    """

    task = None

    def save_assets(self, directory):
        raise NotImplementedError(f"{type(self).__name__} must implement save_assets(directory).")

    def load_assets(self, directory):
        raise NotImplementedError(f"{type(self).__name__} must implement load_assets(directory).")

    def build_for_inference(self):
        raise NotImplementedError(f"{type(self).__name__} must implement build_for_inference().")

    # -- Keras's own `.keras` files ------------------------------------------------
    # Keras saves `save_assets` / `load_assets` beside the weights already (the same
    # hooks); what it needs besides is every variable built before it assigns the
    # weights, which a family's `build` alone does not do (it builds only what
    # `encode` reads before the first call).

    def get_build_config(self):
        return {"build_for_inference": True}

    def build_from_config(self, config):
        self.build_for_inference()

    def save(self, filepath, *args, **kwargs):
        """Keras's `Model.save` (a `.keras` file, with the tokenizers or
        vocabulary), refused for an ensemble: the file would hold this model
        alone. `zoo.load(filepath)` loads it back."""
        if self.members:
            raise ValueError(
                f"This model decodes as an ensemble with {len(self.members)} other model(s), which a "
                f"`.keras` file cannot hold: save it with zoo.saving.save(model, directory, name) "
                f"(members go to members/<i>/), or call set_members(()) first to save it alone."
            )
        return super().save(filepath, *args, **kwargs)

    def _check_assets(self, what, setter, *assets):
        """A ValueError unless every asset `save_assets` writes (`what`, set by `setter`) is set."""
        if any(asset is None for asset in assets):
            raise ValueError(f"The model has no {what} to save with it yet: call {setter} first.")

    # -- the hooks of the shared search (zoo.decoding.Decoder) -----------------------

    def encode(self, inputs, training=False):
        """Reads the input once: `inputs -> (memory, state)`.

        Args:
            inputs: the batch the search starts from, batch first: source ids
                int32 `[batch, src_len]` padded with 0 (translation), image
                features float32 `[batch, locations, channels]` (captioning).
            training: whether dropout is active (False when decoding).

        Returns:
            `(memory, state)`, two lists of tensors, batch first. `memory` is
            what every step reads unchanged: with attention `[values, keys,
            mask]`, values `[batch, src_len, d]`, keys `[batch, src_len,
            units]` and mask bool `[batch, src_len]` or None; `[]` without
            (the captioning baseline, which averages the values, keeps
            `[values, values, None]`).
            `state` is the decoder's initial state, e.g. `[h, c, context]`:
            the cell's states `[batch, units]`, then with attention the
            context fed to the next step `[batch, d]`. The beam search repeats
            every tensor of both `beam_size` times along the batch.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement encode(inputs, training=False).")

    def decode_step(self, tokens, state, memory):
        """One output token for every row: `(log_probs, attention, new_state)`.

        Args:
            tokens: int32 `[rows]`, each row's previous token (the start
                token at the first step); rows are the batch, times
                `beam_size` in a beam search.
            state: the `state` of `encode` or of the previous step.
            memory: the `memory` of `encode`, one row per row of `tokens`.

        Returns:
            log_probs: float32 `[rows, vocabulary_size]`, the log-softmax of
                the next token.
            attention: `[rows, src_len]`, the attention weights of this
                step; None for a model without attention.
            new_state: the same structure and shapes as `state`.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement decode_step(tokens, state, memory).")

    # -- ensembles ------------------------------------------------------------------

    @property
    def members(self):
        """The other trained models this one decodes with, as one ensemble
        (`set_members`; saved with it in `members/<i>/`): a read-only
        sequence, empty alone."""
        return getattr(self, "_members", Members(()))

    def set_members(self, models):
        """Decodes with `models` too: at every step the mean of all the
        models' log-probabilities (`zoo.decoding.ensemble_hooks`). `()`
        decodes alone again. Families that support it override this."""
        raise NotImplementedError(f"{type(self).__name__} does not decode as an ensemble.")

    def _check_members(self, models, what):
        """`models` as a tuple once each is another model of this class, given
        once and not an ensemble itself (`what`: how the error names them)."""
        if isinstance(models, (str, bytes, keras.Model)) or not hasattr(models, "__iter__"):
            raise TypeError(f"`models` must be a list of {what}, got {type(models).__name__}.")
        models = tuple(models)
        for i, model in enumerate(models):
            if not isinstance(model, type(self)):
                raise TypeError(f"`models[{i}]` must be a {type(self).__name__}, got {type(model).__name__}.")
            if model is self or model.members or any(model is other for other in models[:i]):
                raise ValueError(f"`models[{i}]` must be another model, given once, that is not an ensemble itself.")
        return models

    def _keep_members(self, models):
        # Not a Keras attribute: the members' weights are theirs, not this model's (`model.weights`).
        object.__setattr__(self, "_members", Members(models))
        self._compiled_decoder = self._compiled_scorer = None  # compiled again, with or without them

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.task is not None and cls.task not in TASKS:
            raise TypeError(f"{cls.__name__}.task must be one of {TASKS}, got {cls.task!r}.")


class Members(collections.abc.Sequence):
    """An ensemble's other models (`ZooModel.members`): a read-only sequence
    that is not a list or tuple, so that Keras's weight files, which walk a
    model's list and tuple attributes, leave the members' weights to them."""

    def __init__(self, models):
        self._models = tuple(models)

    def __getitem__(self, index):
        return self._models[index]

    def __len__(self):
        return len(self._models)

    def __repr__(self):
        return f"Members({list(self._models)!r})"


class DeepOutput:
    """The output layer of the token-by-token families (Pascanu et al. 2014's
    deep output): `logits = W_o dropout(tanh(W_p [decoder output ; target
    embedding]))`. A mixin for a `ZooModel` that has the layers `pre_output`
    (Dense with tanh), `output_layer` (Dense to the vocabulary, float32) and
    `dropout`; it adds no weights.
    """

    def _logits(self, outputs, embedded, training=False):
        """`[..., units]` decoder outputs and `[..., embedding_dim]` target
        embeddings -> `[..., vocabulary_size]` logits (a step or a sequence)."""
        hidden = self.pre_output(ops.concatenate([outputs, embedded], axis=-1))
        return self.output_layer(self.dropout(hidden, training=training))
