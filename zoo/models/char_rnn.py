"""Character-level language models: embedding -> stacked LSTM/GRU -> softmax."""

import warnings
import zlib
from pathlib import Path

import keras
import numpy as np
from keras import ops

from zoo import lite
from zoo.checks import finite_number, integer, positive_int, rate
from zoo.data.tokenizers import UNKNOWN_ID, CharVocabulary
from zoo.layers import GRUCell, LSTMCell, gate_activations
from zoo.models.base import ZooModel

CELLS = {"lstm": LSTMCell, "gru": GRUCell}
# The gates a picture shows by default: the sigmoid gates, each in [0, 1].
PICTURED_GATES = {"lstm": ("forget", "input", "output"), "gru": ("update", "reset")}
VOCABULARY_FILE = "vocabulary.json"
# GRU units giving the parameters of the default 2 x 512 LSTM (3 gates, not 4).
GRU_UNITS = 592
# Characters sampled per run of the compiled loop: between runs Ctrl-C is seen.
SAMPLING_CHUNK = lite.SAMPLING_CHUNK
# The most characters one `generate` call writes (about half an hour at this machine's rate).
MAX_GENERATED = 10_000_000
MAX_SAMPLES = 16_384  # one batch: its states, and the prompt read once per sample, are held at once


class _StepSeed(keras.random.SeedGenerator):
    """Stands in for a sampler's `SeedGenerator` inside the compiled sampling
    loop: `next()` returns the seed the loop set for the current step instead
    of reading and advancing a variable, so no state is shared between calls
    (or threads). Holds no variable, so `__init__` skips the parent's."""

    def __init__(self):
        self.value = None

    def next(self, ordered=True):
        return self.value


def _compile(fn, input_signature):
    # The zoo runs on the TensorFlow backend; keras_hub compiles its generate
    # loop the same way (`tf.function`), so one trace serves every call.
    import tensorflow as tf

    return tf.function(fn, input_signature=input_signature)


class _Functions:
    """A plain cache of compiled functions by key: not a dict, so neither
    Keras nor TensorFlow track it (a SavedModel export would try to save it)."""

    def __init__(self):
        self._functions = {}

    def __contains__(self, key):
        return key in self._functions

    def __getitem__(self, key):
        return self._functions[key]

    def __setitem__(self, key, value):
        self._functions[key] = value


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
        self._compiled = _Functions()  # compiled loops, per kind; not saved with the model

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

    def _state_spec(self):
        import tensorflow as tf

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

    def _encode(self, text, name, stacklevel=3):
        if self.vocabulary is None:
            raise ValueError(
                "This model has no vocabulary: call `set_vocabulary` or load a "
                "trained model."
            )
        if not isinstance(text, str):
            raise TypeError(f"`{name}` must be a string, got {type(text).__name__}.")
        unknown = self.vocabulary.unknown(text)
        if unknown:
            warnings.warn(
                f"`{name}` has characters outside the model's vocabulary: {unknown!r}. "
                f"They are read as the unknown id (a zero input vector) and scored as "
                f"the unknown class.",
                stacklevel=stacklevel,
            )
        return self.vocabulary.encode(text)

    def generate(
        self,
        prompt,
        length,
        temperature=1.0,
        top_k=None,
        top_p=None,
        seed=None,
        num_samples=1,
        litert=None,
    ):
        """Continues `prompt` by `length` sampled characters.

        The prompt is read once (all but its last character in one pass over
        the sequence); then each new character is one step of each layer from
        the carried state, inside a compiled loop that samples with a
        `keras_hub.samplers` sampler. The loop runs `SAMPLING_CHUNK` steps at a
        time and carries the state between runs, so Ctrl-C (KeyboardInterrupt)
        stops a long generation within one chunk; chunking changes nothing in
        the output. The unknown id is never sampled.

        Sampling is stateless: step `t` (from 0) draws with the seed
        `[seed, t]`, exactly what the sampler's own `SeedGenerator(seed)` would
        use, but nothing is stored between calls, so with a given seed the
        output depends only on the arguments and the weights, also when
        several threads generate at once.

        Args:
            prompt: a non-empty string; characters outside the vocabulary are
                read as the unknown id (with a warning).
            length: number of characters to generate, in [0, `MAX_GENERATED`]
                (ten million).
            temperature: logits are divided by it before sampling; 0 means
                greedy (the most likely character every step). Any finite
                real number >= 0 (NumPy scalars included).
            top_k: sample only among the `k` most likely characters (an
                integer >= 1).
            top_p: sample only from the smallest set of most likely characters
                whose probabilities add up to `p` (nucleus sampling), a number
                in (0, 1].
            seed: an integer in [0, 2**63) makes the output reproducible;
                None draws the seed from NumPy's global generator
                (`keras.utils.set_random_seed`).
            num_samples: independent continuations of the same prompt,
                generated as one batch: at most 16,384.
            litert: None runs the loop in TensorFlow. "int8" runs it in
                LiteRT with int8 weight matrices (`zoo.lite`): 2.05-2.26x
                the characters/s at batch 1 and 3x at batch 32, with the
                same validation loss to 0.001 nats (`benchmarks/generate.py
                --litert`); "float32" in LiteRT with the weights as they
                are. The prompt is read by LiteRT's scoring loop, as `zoo
                export --litert` reads it, so both write the same greedy
                text. Reproducible for a seed, but not the same draws as the
                TensorFlow loop. Converting takes a few seconds, once per
                model and batch size.

        Returns:
            The `length` new characters (without the prompt): a string, or a
            list of `num_samples` strings when `num_samples > 1`.

        Raises:
            TypeError: an argument of the wrong type (a bool or a string for a
                number, ...), naming it.
            ValueError: a value out of range, NaN or infinite, naming it.
        """
        chunks = list(self._chunks(prompt, length, temperature, top_k, top_p, seed, num_samples, litert))
        out = np.concatenate(chunks, axis=1) if chunks else np.zeros((num_samples, 0), np.int32)
        texts = [self.vocabulary.decode(row) for row in out]
        return texts[0] if num_samples == 1 else texts

    def stream(self, prompt, length, temperature=1.0, top_k=None, top_p=None, seed=None, num_samples=1,
               litert=None):
        """`generate`, chunk by chunk: yields the new characters as each run of
        the compiled loop ends (`SAMPLING_CHUNK` at a time; a list of
        `num_samples` strings when `num_samples > 1`), so a long generation
        can be shown as it is written. Joined, the chunks are what `generate`
        returns for the same arguments. The arguments are checked, and the
        prompt read, at the call, not at the first chunk.

        >>> "".join(model.stream("ROMEO:", 600, seed=1)) == model.generate("ROMEO:", 600, seed=1)  # doctest: +SKIP
        True
        """
        chunks = self._chunks(prompt, length, temperature, top_k, top_p, seed, num_samples, litert)

        def texts(tokens):
            decoded = [self.vocabulary.decode(row) for row in tokens]
            return decoded[0] if num_samples == 1 else decoded

        return (texts(tokens) for tokens in chunks)

    def _chunks(self, prompt, length, temperature, top_k, top_p, seed, num_samples, litert):
        """Checks `generate`'s arguments and reads the prompt, then returns a
        generator of the sampled ids, `[num_samples, steps]` per chunk."""
        if not isinstance(prompt, str):
            raise TypeError(f"`prompt` must be a non-empty string, got {type(prompt).__name__}.")
        if not prompt:
            raise ValueError(f"`prompt` must be a non-empty string, got {prompt!r}.")
        length = integer("length", length, minimum=0, maximum=MAX_GENERATED)
        temperature = finite_number("temperature", temperature, minimum=0)
        top_k = integer("top_k", top_k, minimum=1, allow_none=True)
        top_p = finite_number("top_p", top_p, minimum=0, maximum=1, minimum_open=True, allow_none=True)
        seed = integer("seed", seed, minimum=0, maximum=2**63 - 1, allow_none=True)
        num_samples = integer("num_samples", num_samples, minimum=1, maximum=MAX_SAMPLES)
        litert = lite.check_weights(litert)
        ids = self._encode(prompt, "prompt", stacklevel=4)  # the warning points at the caller of generate/stream
        if length == 0:
            return iter(())
        seed = int(np.random.randint(1, 2**31 - 1)) if seed is None else seed
        last = np.full(num_samples, ids[-1], np.int32)
        if litert:
            sample = self.litert_loop("sample", num_samples, litert, filtered=bool(top_k or top_p))
            # The prompt is read by LiteRT's scoring loop, as the exported file reads it: the same states.
            state = [[ops.convert_to_numpy(s) for s in layer] for layer in self.initial_state(1)]
            reader = self.litert_loop("score", lite.SAMPLING_CHUNK, litert) if len(ids) > 1 else None
            for start in range(0, len(ids) - 1, lite.SAMPLING_CHUNK):
                part = ids[start : min(start + lite.SAMPLING_CHUNK, len(ids) - 1)]
                _, state = reader(part, np.zeros_like(part), state)
            state = [[np.repeat(s, num_samples, axis=0) for s in layer] for layer in state]

            def chunks(last, state):
                for done in range(0, length, lite.SAMPLING_CHUNK):  # Ctrl-C is seen between chunks
                    tokens, last, state = sample(last, state, min(lite.SAMPLING_CHUNK, length - done), temperature,
                                                 top_k, top_p, seed, done)
                    yield tokens

            return chunks(last, state)
        state = (
            self.read(np.repeat(ids[None, :-1], num_samples, axis=0))
            if len(ids) > 1
            else self.initial_state(num_samples)
        )
        sample = self.sampling_loop(temperature == 0, top_k, top_p)
        inverse_temperature = np.float32(1.0 if temperature == 0 else 1.0 / max(temperature, 1e-6))

        def chunks(last, state):
            for done in range(0, length, SAMPLING_CHUNK):
                steps = min(SAMPLING_CHUNK, length - done)
                # Between chunks Python runs, so a pending KeyboardInterrupt is raised here.
                tokens, last, state = sample(
                    last, state, np.int32(steps), inverse_temperature, np.array([seed, done], np.int64)
                )
                yield ops.convert_to_numpy(tokens)

        return chunks(last, state)

    def read(self, ids):
        """The states after reading int `[batch, time]` ids from zero states."""
        if "read" not in self._compiled:
            import tensorflow as tf

            self._compiled["read"] = _compile(
                lambda x: self(x, return_state=True)[1],
                [tf.TensorSpec([None, None], tf.int32)],
            )
        return self._compiled["read"](ops.convert_to_tensor(ids, "int32"))

    def litert_loop(self, kind, size, weights="int8", **options):
        """The `zoo.lite` loop of this model, `kind` "sample" (`lite.Sampler`
        for `size` rows) or "score" (`lite.Scorer` over `size` characters),
        with `weights` "int8" or "float32" and the loop's `options`: made
        again only when the model's weights changed (a loop holds a
        converted copy of them)."""
        key = ("litert", kind, size, weights, *sorted(options.items()))
        checksum = 0
        for w in self.get_weights():
            checksum = zlib.adler32(np.ascontiguousarray(w).view(np.uint8), checksum)
        if key not in self._compiled or self._compiled[key][0] != checksum:
            loop = {"sample": lite.Sampler, "score": lite.Scorer}[kind]
            self._compiled[key] = (checksum, loop(self, size, weights, **options))
        return self._compiled[key][1]

    def sampling_loop(self, greedy, top_k=None, top_p=None):
        """A compiled `(last, states, steps, inverse_temperature, seed) ->
        (tokens [batch, steps], last, states)`: from the carried `states` and
        the last characters `last` `[batch]`, samples `steps` characters with
        a `keras_hub` sampler; step `j` draws with the seed `seed + [0, j]`
        (int64 `[2]`). One trace per kind of sampler (greedy, random, top-k,
        top-p, top-p within top-k): `top_k` and `top_p` are arguments of the
        trace, not constants in it, so trying many values traces nothing new."""
        k = None if top_k is None else min(top_k, self.vocabulary_size)
        kind = "greedy" if greedy else "top_p" if top_p is not None else "top_k" if k is not None else "random"
        key = ("sample", kind, kind == "top_p" and k is not None)
        if key not in self._compiled:
            self._compiled[key] = self._sampling_trace(kind, within_top_k=key[2])
        compiled, k, p = self._compiled[key], np.int32(k or 0), np.float32(1.0 if top_p is None else top_p)
        return lambda last, states, steps, inverse_temperature, seed: compiled(
            last, states, steps, inverse_temperature, seed, k, p
        )

    def _sampling_trace(self, kind, within_top_k):
        import keras_hub
        import tensorflow as tf

        sampler = {
            "greedy": keras_hub.samplers.GreedySampler,
            "random": keras_hub.samplers.RandomSampler,
            "top_k": lambda: keras_hub.samplers.TopKSampler(k=1),
            "top_p": lambda: keras_hub.samplers.TopPSampler(p=1.0),
        }[kind]()
        step_seed = _StepSeed()
        if hasattr(sampler, "seed_generator"):
            sampler.seed_generator = step_seed
        # Adding -1e9 to the unknown id's logit gives it probability 0 exactly.
        never_unknown = np.zeros(self.vocabulary_size, np.float32)
        never_unknown[UNKNOWN_ID] = -1e9

        def loop(last, states, steps, inverse_temperature, seed, k, p):
            # The sampler reads `k` and `p` as it draws: this trace's tensors, set while tracing.
            if kind == "top_k" or within_top_k:
                sampler.k = k
            if kind == "top_p":
                sampler.p = p

            def body(j, last, states, tokens):
                logits, states = self.step(last, states)
                logits = logits * inverse_temperature + never_unknown
                # What a SeedGenerator(seed[0]) returns at its (seed[1] + j)-th draw.
                step_seed.value = seed + tf.stack([tf.constant(0, tf.int64), tf.cast(j, tf.int64)])
                probabilities = sampler.compute_probabilities(logits)
                token = ops.cast(sampler.get_next_token(probabilities), "int32")
                return j + 1, token, states, tokens.write(j, token)

            tokens = tf.TensorArray(tf.int32, size=steps)
            _, last, states, tokens = tf.while_loop(
                lambda j, *_: j < steps, body, (tf.constant(0), last, states, tokens)
            )
            return tf.transpose(tokens.stack()), last, states

        signature = [
            tf.TensorSpec([None], tf.int32),
            self._state_spec(),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.float32),
            tf.TensorSpec([2], tf.int64),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.float32),
        ]
        return _compile(loop, signature)

    def log_loss(self, text, chunk_length=4096, litert=None):
        """Mean negative log-likelihood of `text`, in nats per character.

        The model reads `text` left to right with its state carried (in chunks
        of `chunk_length` characters, which changes nothing but memory use) and
        scores each character from the second on given all the ones before it:
        `-mean_t log p(text[t] | text[:t])` for t = 1..len(text)-1. Divide by
        ln 2 for bits per character. A character outside the vocabulary is
        scored as the unknown class (see the class docstring) and warned about.
        `litert` ("int8" or "float32") scores in LiteRT, one step at a time,
        as `generate(..., litert=...)` runs: what its weights cost in quality.
        """
        ids = self._encode(text, "text")
        if len(ids) < 2:
            raise ValueError(f"`text` must have at least 2 characters, got {len(ids)}.")
        positive_int("chunk_length", chunk_length)
        if lite.check_weights(litert):
            scorer, total, states = self.litert_loop("score", chunk_length, litert), 0.0, self.initial_state(1)
            for start in range(0, len(ids) - 1, chunk_length):
                targets = ids[start + 1 : start + chunk_length + 1]
                nll, states = scorer(ids[start : start + len(targets)], targets, states)
                total += nll
            return total / (len(ids) - 1)
        if "score" not in self._compiled:
            import tensorflow as tf

            def score(inputs, targets, states):
                logits, states = self(inputs, initial_state=states, return_state=True)
                log_probs = ops.log_softmax(logits, axis=-1)
                picked = ops.take_along_axis(log_probs, targets[..., None], axis=-1)
                return -ops.sum(picked), states

            spec = tf.TensorSpec([None, None], tf.int32)
            self._compiled["score"] = _compile(score, [spec, spec, self._state_spec()])
        total, states = 0.0, self.initial_state(1)
        for start in range(0, len(ids) - 1, chunk_length):
            inputs = ids[start : start + chunk_length]
            targets = ids[start + 1 : start + chunk_length + 1]
            inputs = inputs[: len(targets)]
            nll, states = self._compiled["score"](inputs[None], targets[None], states)
            total += float(nll)
        return total / (len(ids) - 1)

    # -- gate inspection -------------------------------------------------------

    def gates(self, text, layer=0):
        """What each gate of recurrent layer `layer` did at each character of `text`.

        Returns:
            A dict from gate name ("forget", "input", "output", "candidate",
            "cell" for an LSTM; "update", "reset", "candidate" for a GRU) to a
            float32 NumPy array `[len(text), units]`: column `j` at row `t` is
            unit `j` of that gate when the layer reads `text[t]`.
        """
        if (
            isinstance(layer, bool)
            or not isinstance(layer, int)
            or not 0 <= layer < self.num_layers
        ):
            raise ValueError(
                f"`layer` must be an integer in [0, {self.num_layers}), got {layer!r}."
            )
        ids = self._encode(text, "text")[None]
        if not ids.size:
            raise ValueError("`text` must be a non-empty string: the gates are read at each of its characters, "
                             "got ''.")
        x = self.embed(ops.convert_to_tensor(ids))
        for rnn in self.rnns[:layer]:
            x = rnn(x)[0]
        _, gates = gate_activations(self.cells[layer], x)
        return {
            name: np.asarray(ops.convert_to_numpy(v[0]), np.float32)
            for name, v in gates.items()
        }

    def gate_figure(self, text, layer=0, units=None, names=None, title=None):
        """A heatmap of gate activations: characters across, a row per gate.

        Args:
            text: the text to read.
            layer: which recurrent layer.
            units: None for the mean over all units (one row per gate), or an
                int / list of ints for those units (one row per gate and unit).
            names: the gates to show; by default the sigmoid gates (forget,
                input, output or update, reset).
            title: optional figure title.

        Returns:
            A matplotlib figure (`zoo.viz.to_png(fig)` gives PNG bytes).
        """
        from zoo import viz

        gates = self.gates(text, layer)
        names = [names] if isinstance(names, str) else list(names or PICTURED_GATES[self.cell_type])
        for name in names:
            if name not in gates:
                raise ValueError(
                    f"`names` must be among {sorted(gates)}, got {name!r}."
                )
        if units is None:
            rows = {n: gates[n].mean(-1) for n in names}
        else:
            units = list(units) if isinstance(units, (list, tuple, range, np.ndarray)) else [units]
            if not units:
                raise ValueError("`units` must be None, a unit or a non-empty list of units, got [].")
            units = [integer("units", u, minimum=0, maximum=self.units - 1) for u in units]
            rows = {f"{n} #{u}": gates[n][:, u] for n in names for u in units}
        title = title or f"{self.cell_type} layer {layer}, " + (
            "mean over units" if units is None else "chosen units"
        )
        return viz.gate_figure(text, rows, title=title)

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
