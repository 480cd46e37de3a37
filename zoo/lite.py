"""Text generation with int8 weights in LiteRT (the TensorFlow Lite runtime).

At batch 1 a character model's step multiplies one row by every weight
matrix: the time goes into moving the weights through the caches (13.3 MB of
float32 for `char-lstm`, every character). Dynamic-range quantization
(`tf.lite.Optimize.DEFAULT`: each weight matrix int8 with a float scale per
output channel, activations float32) moves a quarter of the bytes, and the
LiteRT interpreter (XNNPACK kernels) runs the whole sampling loop, a `WHILE`
over `SAMPLING_CHUNK` steps, without TensorFlow's per-op overhead.

Sampling draws with the Gumbel-max trick: the next character is
`argmax(logits / temperature + g)` with `g` standard Gumbel noise, which is a
draw from `softmax(logits / temperature)` exactly; the noise comes from NumPy
(`numpy.random.default_rng((seed, first step of the chunk))`), so the result
is reproducible for a seed, but not the same draw as the TensorFlow loop's
`keras_hub` samplers.
Top-k and top-p set the logits outside the kept set to -1e9 first. The
unknown id is never drawn.

Used through `generate(..., litert="int8")` and `log_loss(..., litert="int8")`
(`zoo.tasks.text_generation`); `litert="float32"` runs the same loops with float32 weights
(the TensorFlow loop's logits, to float rounding). `export` writes both loops
at batch 1 to one LiteRT file (`zoo export NAME DIR --litert int8`).
"""

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from zoo.data.tokenizers import UNKNOWN, UNKNOWN_ID
from zoo.io import publish, staging_dir

# Characters per run of the compiled loop, as the float32 path: between runs Ctrl-C is seen.
SAMPLING_CHUNK = 256
WEIGHTS = ("float32", "int8")
_OUT = -1e9  # the logit of a character that may not be drawn


def check_weights(litert):
    """`litert` checked: None (the TensorFlow loop) or the weights' type in LiteRT, one of `WEIGHTS`."""
    if litert is not None and litert not in WEIGHTS:
        raise ValueError(f"`litert` must be None (TensorFlow) or one of {list(WEIGHTS)}, got {litert!r}.")
    return litert


def _state_specs(model, batch_size):
    per_layer = 2 if model.cell_type == "lstm" else 1
    return [tf.TensorSpec([batch_size, model.units], tf.float32, name=f"state{i}")
            for i in range(per_layer * model.num_layers)]


def _nested(model, flat):
    """Flat states -> the model's list per layer of `[h, c]` (LSTM) or `[h]` (GRU)."""
    per_layer = 2 if model.cell_type == "lstm" else 1
    return [list(flat[i : i + per_layer]) for i in range(0, len(flat), per_layer)]


def _step(model, ids, flat):
    """One step of `model` from flat states: (float32 logits, flat states)."""
    logits, nested = model.step(ids, _nested(model, flat))
    return tf.cast(logits, tf.float32), [tf.cast(s, tf.float32) for layer in nested for s in layer]


def sampling_program(model, batch_size, filtered):
    """The function the interpreter runs to sample: from the last characters
    and the flat states, up to `SAMPLING_CHUNK` steps; `filtered` adds the
    top-k and top-p inputs and the ops that apply them (a third of a step's
    time at batch 1, so they are left out when not asked for)."""
    vocabulary, chunk = model.vocabulary_size, SAMPLING_CHUNK
    never_unknown = np.zeros(vocabulary, np.float32)
    never_unknown[UNKNOWN_ID] = _OUT
    signature = [
        tf.TensorSpec([batch_size], tf.int32, name="last"),
        _state_specs(model, batch_size),
        tf.TensorSpec([chunk, batch_size, vocabulary], tf.float32, name="gumbel"),
        tf.TensorSpec([], tf.float32, name="inverse_temperature"),
        tf.TensorSpec([], tf.int32, name="steps"),
        *([tf.TensorSpec([], tf.int32, name="top_k"), tf.TensorSpec([], tf.float32, name="top_p")] if filtered else []),
    ]

    def keep(logits, top_k, top_p):
        """`logits` with those outside the top k and the nucleus of mass p set to -1e9."""
        kth = tf.math.top_k(logits, top_k).values[:, -1:]  # k >= vocabulary keeps every character
        logits = tf.where(logits < kth, _OUT, logits)
        probabilities = tf.nn.softmax(logits)
        ranked = tf.math.top_k(probabilities, vocabulary).values
        before = tf.cumsum(ranked, axis=-1, exclusive=True)  # the mass of the more likely characters
        # The least likely character kept is the last one whose predecessors hold less than p.
        floor = tf.reduce_min(tf.where(before < top_p, ranked, 2.0), axis=-1, keepdims=True)
        return tf.where((top_p < 1.0) & (probabilities < floor), _OUT, logits)

    def sample(last, states, gumbel, inverse_temperature, steps, top_k=None, top_p=None):
        def body(j, last, states, tokens):
            logits, states = _step(model, last, states)
            logits = logits * inverse_temperature + never_unknown
            if filtered:
                logits = keep(logits, top_k, top_p)
            token = tf.cast(tf.argmax(logits + gumbel[j], axis=-1), tf.int32)
            tokens += tf.one_hot(j, chunk, dtype=tf.int32)[:, None] * token[None, :]
            return j + 1, token, states, tokens

        _, last, states, tokens = tf.while_loop(
            lambda j, *_: j < steps, body,
            (tf.constant(0), last, list(states), tf.zeros([chunk, batch_size], tf.int32)))
        return {"tokens": tf.transpose(tokens), "last": last, **{f"state{i}": s for i, s in enumerate(states)}}

    return tf.function(sample, input_signature=signature)


def scoring_program(model, length):
    """The function the interpreter runs to score text: from the flat states,
    the summed `-log p(target_j | ..., input_j)` over the first `steps` of
    `length` positions, and the states after them."""
    signature = [tf.TensorSpec([length], tf.int32, name="inputs"), tf.TensorSpec([length], tf.int32, name="targets"),
                 _state_specs(model, 1), tf.TensorSpec([], tf.int32, name="steps")]

    def score(inputs, targets, states, steps):
        def body(j, total, states):
            logits, states = _step(model, inputs[j][None], states)
            return j + 1, total - tf.nn.log_softmax(logits)[0, targets[j]], states

        _, total, states = tf.while_loop(lambda j, *_: j < steps, body,
                                         (tf.constant(0), tf.constant(0.0), list(states)))
        return {"nll": total, **{f"state{i}": s for i, s in enumerate(states)}}

    return tf.function(score, input_signature=signature)


def convert(function, weights="int8"):
    """The LiteRT flatbuffer of a `tf.function` with an input signature, its
    variables frozen into constants; `weights="int8"` stores every weight
    matrix as int8 (dynamic-range quantization), "float32" as they are."""
    # Frozen first: the weights become constants that the converter can quantize (and nothing is tracked).
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [convert_variables_to_constants_v2(function.get_concrete_function())], tf.Module())
    if check_weights(weights) == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def export(model, directory, weights="int8"):
    """Writes `directory` (new) with `model.tflite`, the sampling and scoring
    loops of a `CharRNN` at batch 1 in one LiteRT file (signatures "sample"
    and "score", sharing one copy of the weights, int8 or float32), and
    `tokens.json`: the character of each id (id 0, the unknown character,
    is "<unk>"), the chunk length of both loops and the names of the states.
    Run it with `ai_edge_litert` and NumPy alone (docs/exports.md): "score"
    over the prompt but its last character gives the states, "sample" draws
    up to `SAMPLING_CHUNK` characters from them with the Gumbel noise it is
    given. The directory appears whole or not at all."""
    if not str(directory):
        raise ValueError("`directory` must be a new directory for the export, got ''.")
    directory = Path(directory)
    if directory.exists():
        raise ValueError(f"`directory` {str(directory)!r} already exists: give a new directory for the export.")
    check_weights(weights)
    programs = {"sample": sampling_program(model, 1, filtered=False), "score": scoring_program(model, SAMPLING_CHUNK)}

    def named(function):
        """The frozen function, its outputs named as the program's (freezing flattens them)."""
        concrete = function.get_concrete_function()
        frozen, names = convert_variables_to_constants_v2(concrete), sorted(concrete.structured_outputs)
        inputs = [tf.TensorSpec(x.shape, x.dtype, name=x.name.split(":")[0]) for x in frozen.inputs]
        return tf.function(lambda *args: dict(zip(names, frozen(*args), strict=True)),
                           input_signature=inputs).get_concrete_function()

    staging = staging_dir(directory)
    try:
        module = tf.Module()
        module.functions = {name: named(f) for name, f in programs.items()}
        saved = str(staging / "saved_model")
        tf.saved_model.save(module, saved, signatures=module.functions)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=list(programs))
        if weights == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        (staging / "model.tflite").write_bytes(converter.convert())
        shutil.rmtree(staging / "saved_model")
        tokens = {"tokens": [UNKNOWN, *model.vocabulary.chars], "chunk": SAMPLING_CHUNK, "weights": weights,
                  "states": [spec.name for spec in _state_specs(model, 1)], "units": model.units}
        (staging / "tokens.json").write_text(json.dumps(tokens, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return publish(staging, directory, "export")


class Runner:
    """A LiteRT interpreter of a converted function: `runner(name=array, ...)`
    returns its outputs in the order of the function's flattened outputs.
    One thread: at batch 1 a second one halved the rate of a step loop
    (1,464 against 3,161 characters/s for `char-lstm`'s int8 step)."""

    def __init__(self, flatbuffer, num_threads=1):
        self.size = len(flatbuffer)
        self.interpreter = Interpreter(model_content=flatbuffer, num_threads=num_threads)
        self.run = self.interpreter.get_signature_runner()  # inputs by name, outputs "output_<position>"
        # An interpreter holds one set of input and output buffers: two threads invoking it at
        # once read each other's inputs or a buffer being written. One call at a time, outputs copied.
        self._lock = threading.Lock()

    def __call__(self, **inputs):
        with self._lock:
            out = self.run(**inputs)
            return [np.array(out[f"output_{i}"]) for i in range(len(out))]


class _Loop:
    """A converted program of `model` and its interpreter; `run(**inputs)`
    returns `(outputs by name, the model's nested states)`."""

    def __init__(self, model, function, weights):
        self.model = model
        self.runner = Runner(convert(function, weights))
        # The outputs' positions: the function's dict of outputs flattened, keys sorted.
        self.names = sorted(function.get_concrete_function().structured_outputs)

    def run(self, states, **inputs):
        flat = [np.asarray(s, np.float32) for layer in states for s in layer]
        out = dict(zip(self.names, self.runner(**inputs, **{f"state{i}": s for i, s in enumerate(flat)}), strict=True))
        return out, _nested(self.model, [out[f"state{i}"] for i in range(len(flat))])


class Sampler(_Loop):
    """The sampling loop of a `CharRNN` for one batch size, with `weights`
    "int8" or "float32": `sampler(last, states, steps, temperature, top_k,
    top_p, seed, offset)` -> `(tokens [batch, steps], last, states)`, states
    as the model's nested lists of float32 arrays; `offset` is the position
    of the first step (its noise is drawn with `(seed, offset)`). Only a
    `filtered` sampler applies `top_k` and `top_p`."""

    def __init__(self, model, batch_size, weights="int8", filtered=False):
        super().__init__(model, sampling_program(model, batch_size, filtered), weights)
        self.shape, self.filtered = (SAMPLING_CHUNK, batch_size, model.vocabulary_size), filtered

    def __call__(self, last, states, steps, temperature, top_k, top_p, seed, offset):
        vocabulary = self.shape[-1]
        if temperature == 0:
            gumbel, inverse_temperature = np.zeros(self.shape, np.float32), 1.0
        else:
            uniform = np.random.default_rng((seed, offset)).random(self.shape)
            gumbel = -np.log(-np.log(np.maximum(uniform, np.finfo(np.float64).tiny))).astype(np.float32)
            inverse_temperature = 1.0 / max(temperature, 1e-6)
        filters = {"top_k": np.int32(min(top_k or vocabulary, vocabulary)),
                   "top_p": np.float32(1.0 if top_p is None else top_p)} if self.filtered else {}
        out, states = self.run(states, last=np.asarray(last, np.int32), gumbel=gumbel,
                               inverse_temperature=np.float32(inverse_temperature), steps=np.int32(steps), **filters)
        return out["tokens"][:, :steps], out["last"], states


class Scorer(_Loop):
    """The scoring loop of a `CharRNN` over chunks of `length` characters:
    `scorer(inputs, targets, states)` -> `(summed negative log-likelihood,
    states)` for up to `length` (input, target) ids."""

    def __init__(self, model, length, weights="int8"):
        super().__init__(model, scoring_program(model, length), weights)
        self.length = length

    def __call__(self, inputs, targets, states):
        steps = len(inputs)
        padded = [np.pad(np.asarray(x, np.int32), (0, self.length - steps)) for x in (inputs, targets)]
        out, states = self.run(states, inputs=padded[0], targets=padded[1], steps=np.int32(steps))
        return float(out["nll"]), states
