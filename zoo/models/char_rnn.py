"""Character-level language networks: embedding -> stacked LSTM/GRU -> softmax.

Sampling, scoring and the gates along a text are `zoo.tasks.text_generation`.
"""

from pathlib import Path

import keras
import tensorflow as tf
from keras import ops

from zoo.checks import positive_int, rate
from zoo.data.tokenizers import UNKNOWN_ID, CharVocabulary
from zoo.layers import GRUCell, LSTMCell
from zoo.models.base import ZooModel
from zoo.tasks import text_generation

CELLS = {"lstm": LSTMCell, "gru": GRUCell}
VOCABULARY_FILE = "vocabulary.json"
# GRU units giving the parameters of the default 2 x 512 LSTM (3 gates, not 4).
GRU_UNITS = 592


@keras.saving.register_keras_serializable(package="zoo")
class CharRNN(ZooModel):
    """Character language model: embedding, stacked recurrent layers, softmax.

        x_t = embedding(char_t)            (zero vector for the unknown id 0)
        h_t^l, state_t^l = cell_l(h_t^{l-1}, state_{t-1}^l)     l = 1..L
        p(char_{t+1} | char_{<=t}) = softmax(W dropout(h_t^L) + b)

    Training runs each `zoo.layers` cell inside `keras.layers.RNN` over whole
    windows; generation and scoring call the same cell objects one step at a
    time and carry the state, so a prompt is read once and each new character
    costs one step per layer.

    Unseen characters (outside the vocabulary saved with the model) never
    raise. They become the unknown id 0, which the model reads as a zero input
    vector, scores as one class "a character outside the vocabulary" (which
    training never shows, so it costs many nats: the model did not expect it)
    and never generates. Both `generate` and `log_loss` warn when they meet one.

    Args:
        vocabulary_size: number of character ids, the unknown id 0 included.
        cell: "lstm" or "gru".
        embedding_dim: size of the character embedding.
        units: size of each recurrent layer.
        num_layers: number of stacked recurrent layers.
        dropout: dropout after each recurrent layer (Zaremba et al. 2014).

    Call arguments:
        inputs: int `[batch, time]` character ids.
        initial_state: optional per-layer list of state lists (as returned
            with `return_state=True`); zeros by default.
        return_state: also return the final per-layer states.
        training: whether dropout is applied.

    Returns:
        logits `[batch, time, vocabulary_size]` (float32), and the states when
        `return_state`.

    Example:

    >>> import numpy as np
    >>> model = CharRNN(vocabulary_size=5, embedding_dim=4, units=8)
    >>> model.set_vocabulary(CharVocabulary("abcd"))
    >>> ops.shape(model(np.ones((2, 7), "int32")))
    (2, 7, 5)
    >>> len(model.generate("ab", length=10, seed=1))
    10
    """

    task = "text-generation"

    def __init__(
        self,
        vocabulary_size=66,
        cell="lstm",
        embedding_dim=64,
        units=512,
        num_layers=2,
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if cell not in CELLS:
            raise ValueError(f"`cell` must be one of {sorted(CELLS)}, got {cell!r}.")
        self.vocabulary_size = positive_int("vocabulary_size", vocabulary_size)
        self.cell_type = cell
        self.embedding_dim = positive_int("embedding_dim", embedding_dim)
        self.units = positive_int("units", units)
        self.num_layers = positive_int("num_layers", num_layers)
        self.dropout_rate = rate("dropout", dropout)

        self.embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, name="embedding"
        )
        self.cells = [
            CELLS[cell](units, name=f"{cell}_cell_{i}") for i in range(num_layers)
        ]
        self.rnns = [
            keras.layers.RNN(
                c, return_sequences=True, return_state=True, name=f"{cell}_{i}"
            )
            for i, c in enumerate(self.cells)
        ]
        self.dropout = keras.layers.Dropout(dropout)
        self.output_layer = keras.layers.Dense(
            vocabulary_size, dtype="float32", name="logits"
        )
        self.vocabulary = None

    # -- the network -----------------------------------------------------------

    def build(self, input_shape=None):
        self.call(ops.zeros((1, 1), "int32"))
        self.built = True

    def embed(self, ids):
        """Character embeddings `[..., embedding_dim]`; zeros for the unknown id."""
        x = self.embedding(ids)
        known = ops.cast(ops.not_equal(ids, UNKNOWN_ID), x.dtype)
        return x * known[..., None]

    def call(self, inputs, initial_state=None, return_state=False, training=False):
        x = self.embed(inputs)
        states = []
        for i, rnn in enumerate(self.rnns):
            init = None if initial_state is None else list(initial_state[i])
            # x: [batch, time, units]; state: [h, c] (LSTM) or [h] (GRU)
            x, *state = rnn(x, initial_state=init, training=training)
            x = self.dropout(x, training=training)
            states.append(state)
        logits = self.output_layer(x)
        return (logits, states) if return_state else logits

    def step(self, ids, states):
        """One character per row: ids `[batch]` -> `(logits [batch, vocab], states)`."""
        x = self.embed(ids)
        new_states = []
        for cell, state in zip(self.cells, states, strict=True):
            x, state = cell(x, list(state))
            new_states.append(list(state))
        return self.output_layer(x), new_states

    def initial_state(self, batch_size):
        """Zero states: a list per layer of `[batch_size, units]` tensors."""
        return [list(c.get_initial_state(batch_size=batch_size)) for c in self.cells]

    def state_spec(self):
        """The `tf.TensorSpec`s of `initial_state`'s structure, any batch size."""
        n = 2 if self.cell_type == "lstm" else 1
        return [
            [tf.TensorSpec([None, self.units], self.compute_dtype)] * n
        ] * self.num_layers

    # -- text in, text out -----------------------------------------------------

    def set_vocabulary(self, vocabulary):
        """Attaches the `CharVocabulary` (or its list of characters)."""
        if not isinstance(vocabulary, CharVocabulary):
            vocabulary = CharVocabulary(vocabulary)
        if vocabulary.size != self.vocabulary_size:
            raise ValueError(
                f"The vocabulary has {vocabulary.size} ids (unknown included), but the "
                f"model was built for `vocabulary_size`={self.vocabulary_size}."
            )
        self.vocabulary = vocabulary

    def set_members(self, models):
        """Generates and scores with `models` too, as one ensemble: at every
        character the mean of the models' probabilities. Each is a trained
        character model (LSTM or GRU) with this model's vocabulary; `()`
        runs alone again. The gates shown are this model's; LiteRT runs
        this model alone, with a warning.

        Raises:
            TypeError: `models` is not a list of character models.
            ValueError: a member with another vocabulary, or one that is an
                ensemble itself, naming its index.
        """
        models = self._check_members(models, "character models")
        for i, model in enumerate(models):
            if model.vocabulary is None or self.vocabulary is None or model.vocabulary.chars != self.vocabulary.chars:
                raise ValueError(f"`models[{i}]` has another vocabulary: an ensemble's members read and predict the "
                                 f"same characters.")
        self._keep_members(models)
        text_generation.forget_loops(self)

    def generate(self, prompt, length, **options):
        """A prompt in, text out: `zoo.tasks.text_generation.generate(self, prompt, length, **options)`."""
        return text_generation.generate(self, prompt, length, **options)

    def stream(self, prompt, length, **options):
        """`generate`, chunk by chunk: `zoo.tasks.text_generation.stream(self, prompt, length, **options)`."""
        return text_generation.stream(self, prompt, length, **options)

    def log_loss(self, text, **options):
        """Nats per character of `text`: `zoo.tasks.text_generation.log_loss(self, text, **options)`."""
        return text_generation.log_loss(self, text, **options)

    def gates(self, text, layer=0):
        """Each gate along `text`: `zoo.tasks.text_generation.gates(self, text, layer)`."""
        return text_generation.gates(self, text, layer)

    def gate_figure(self, text, **options):
        """A heatmap of the gates along `text`: `zoo.tasks.text_generation.gate_figure(self, text, **options)`."""
        return text_generation.gate_figure(self, text, **options)

    # -- saving ----------------------------------------------------------------

    def build_for_inference(self):
        if not self.built:
            self.build()

    def save_assets(self, directory):
        self._check_assets("vocabulary", "set_vocabulary(vocabulary)", self.vocabulary)
        Path(directory, VOCABULARY_FILE).write_text(
            self.vocabulary.to_json(), encoding="utf-8"
        )

    def load_assets(self, directory):
        # A missing or corrupt file is an error naming it.
        self.set_vocabulary(CharVocabulary.from_file(Path(directory, VOCABULARY_FILE)))

    def get_config(self):
        return {
            "vocabulary_size": self.vocabulary_size,
            "cell": self.cell_type,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "num_layers": self.num_layers,
            "dropout": self.dropout_rate,
        }


def char_lstm(**kwargs):
    """2 x 512 LSTM units on a 64-wide embedding: 3.32M parameters for tiny
    Shakespeare's 65 characters, about what 2 CPU cores train in an hour."""
    return CharRNN(**{"cell": "lstm", **kwargs})


def char_gru(**kwargs):
    """2 x 592 GRU units: the parameter count of `char-lstm` (3.32M), so the
    two compare at equal size; a GRU step costs about 3/4 of an LSTM step."""
    return CharRNN(**{"cell": "gru", "units": GRU_UNITS, **kwargs})
