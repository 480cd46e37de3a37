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
(`numpy.random.default_rng((seed, step))`), so the result is reproducible for
a seed, but not the same draw as the float32 path's `keras_hub` samplers.
Top-k and top-p set the logits outside the kept set to -1e9 first. The
unknown id is never drawn.

Used through `CharRNN.generate(..., litert="int8")`; `litert="float32"`
runs the same loop with float32 weights (the same characters as the
TensorFlow loop, to float rounding).
"""

import numpy as np

# Characters per run of the compiled loop, as the float32 path: between runs Ctrl-C is seen.
SAMPLING_CHUNK = 256
WEIGHTS = ("float32", "int8")
_OUT = -1e9  # the logit of a character that may not be drawn


def check_weights(litert):
    """`litert` checked: None (the TensorFlow loop) or the weights' type in LiteRT, one of `WEIGHTS`."""
    if litert is not None and litert not in WEIGHTS:
        raise ValueError(f"`litert` must be None (TensorFlow) or one of {list(WEIGHTS)}, got {litert!r}.")
    return litert


def _program(model, batch_size):
    """The TensorFlow function the interpreter runs: from the last characters
    and the flat states, up to `SAMPLING_CHUNK` sampled steps."""
    import tensorflow as tf

    from zoo.data.tokenizers import UNKNOWN_ID

    vocabulary, chunk = model.vocabulary_size, SAMPLING_CHUNK
    per_layer = 2 if model.cell_type == "lstm" else 1
    never_unknown = np.zeros(vocabulary, np.float32)
    never_unknown[UNKNOWN_ID] = _OUT
    signature = [
        tf.TensorSpec([batch_size], tf.int32, name="last"),
        [tf.TensorSpec([batch_size, model.units], tf.float32, name=f"state{i}")
         for i in range(per_layer * model.num_layers)],
        tf.TensorSpec([chunk, batch_size, vocabulary], tf.float32, name="gumbel"),
        tf.TensorSpec([], tf.float32, name="inverse_temperature"),
        tf.TensorSpec([], tf.int32, name="top_k"),
        tf.TensorSpec([], tf.float32, name="top_p"),
        tf.TensorSpec([], tf.int32, name="steps"),
    ]

    def sample(last, states, gumbel, inverse_temperature, top_k, top_p, steps):
        def body(j, last, states, tokens):
            nested = [states[i : i + per_layer] for i in range(0, len(states), per_layer)]
            logits, nested = model.step(last, nested)
            logits = tf.cast(logits, tf.float32) * inverse_temperature + never_unknown
            kth = tf.math.top_k(logits, top_k).values[:, -1:]  # k >= vocabulary keeps every character
            logits = tf.where(logits < kth, _OUT, logits)
            probabilities = tf.nn.softmax(logits)
            ranked = tf.math.top_k(probabilities, vocabulary).values
            before = tf.cumsum(ranked, axis=-1, exclusive=True)  # the mass of the more likely characters
            # The least likely character kept is the last one whose predecessors hold less than p.
            floor = tf.reduce_min(tf.where(before < top_p, ranked, 2.0), axis=-1, keepdims=True)
            logits = tf.where((top_p < 1.0) & (probabilities < floor), _OUT, logits)
            token = tf.cast(tf.argmax(logits + gumbel[j], axis=-1), tf.int32)
            tokens += tf.one_hot(j, chunk, dtype=tf.int32)[:, None] * token[None, :]
            return j + 1, token, [tf.cast(s, tf.float32) for layer in nested for s in layer], tokens

        _, last, states, tokens = tf.while_loop(
            lambda j, *_: j < steps, body,
            (tf.constant(0), last, list(states), tf.zeros([chunk, batch_size], tf.int32)))
        return {"tokens": tf.transpose(tokens), "last": last, **{f"state{i}": s for i, s in enumerate(states)}}

    return tf.function(sample, input_signature=signature)


def convert(function, weights="int8"):
    """The LiteRT flatbuffer of a `tf.function` with an input signature, its
    variables frozen into constants; `weights="int8"` stores every weight
    matrix as int8 (dynamic-range quantization), "float32" as they are."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    # Frozen first: the weights become constants that the converter can quantize (and nothing is tracked).
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [convert_variables_to_constants_v2(function.get_concrete_function())], tf.Module())
    if check_weights(weights) == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


class Runner:
    """A LiteRT interpreter of a converted function: `runner(name=array, ...)`
    returns its outputs in the order of the function's flattened outputs.
    One thread: at batch 1 a second one slows the loop down (measured in
    `benchmarks/generate.py`)."""

    def __init__(self, flatbuffer, num_threads=1):
        from ai_edge_litert.interpreter import Interpreter

        self.size = len(flatbuffer)
        self.interpreter = Interpreter(model_content=flatbuffer, num_threads=num_threads)
        self.run = self.interpreter.get_signature_runner()  # inputs by name, outputs "output_<position>"

    def __call__(self, **inputs):
        out = self.run(**inputs)
        return [out[f"output_{i}"] for i in range(len(out))]


class Sampler:
    """The int8 sampling loop of a `CharRNN` for one batch size:
    `sampler(last, states, steps, temperature, top_k, top_p, seed, offset)`
    -> `(tokens [batch, steps], last, states)`, states as the model's nested
    lists of float32 arrays. `weights`: "int8" or "float32"."""

    def __init__(self, model, batch_size, weights="int8"):
        self.per_layer = 2 if model.cell_type == "lstm" else 1
        self.vocabulary, self.batch_size = model.vocabulary_size, batch_size
        function = _program(model, batch_size)
        self.runner = Runner(convert(function, weights))
        # The outputs' positions: the function's dict of outputs flattened, keys sorted.
        self.names = sorted(function.get_concrete_function().structured_outputs)

    def __call__(self, last, states, steps, temperature, top_k, top_p, seed, offset):
        if temperature == 0:
            gumbel, inverse_temperature = np.zeros((SAMPLING_CHUNK, self.batch_size, self.vocabulary), np.float32), 1.0
        else:
            uniform = np.random.default_rng((seed, offset)).random((SAMPLING_CHUNK, self.batch_size, self.vocabulary))
            gumbel = -np.log(-np.log(np.maximum(uniform, np.finfo(np.float64).tiny))).astype(np.float32)
            inverse_temperature = 1.0 / max(temperature, 1e-6)
        flat = {f"state{i}": np.asarray(s, np.float32) for i, s in enumerate(x for layer in states for x in layer)}
        out = dict(zip(self.names, self.runner(
            last=np.asarray(last, np.int32), gumbel=gumbel, inverse_temperature=np.float32(inverse_temperature),
            top_k=np.int32(min(top_k or self.vocabulary, self.vocabulary)),
            top_p=np.float32(1.0 if top_p is None else top_p), steps=np.int32(steps), **flat), strict=True))
        flat = [out[f"state{i}"] for i in range(len(flat))]
        nested = [flat[i : i + self.per_layer] for i in range(0, len(flat), self.per_layer)]
        return out["tokens"][:, :steps], out["last"], nested
