"""Text generation: a prompt in, text out, around a `CharRNN` network.

Everything that turns a character network into its product lives here:
sampling in a compiled loop (`generate`, `stream`; LiteRT with int8 weights
through `zoo.lite`), scoring (`log_loss`), the gates along a text (`gates`,
`gate_figure`), the evaluation in nats per character (`evaluate`,
`quick_check`), the SavedModel (`export`), the held-out part of a user's text
(`held_out`) and the `zoo generate` verb (`command`). The network
(`zoo.models.char_rnn`) reads ids and steps its cells.
"""

import math
import sys
import threading
import warnings
import weakref
import zlib

import keras
import keras_hub
import numpy as np
import tensorflow as tf
from keras import ops

from zoo import decoding, lite, viz
from zoo.checks import finite_number, integer, positive_int
from zoo.data import user_files
from zoo.data.text import CORPORA, load_text, split_text
from zoo.data.tokenizers import UNKNOWN, UNKNOWN_ID
from zoo.evaluate import check_limit
from zoo.io import named_paths
from zoo.layers import gate_activations

# The gates a picture shows by default: the sigmoid gates, each in [0, 1].
PICTURED_GATES = {"lstm": ("forget", "input", "output"), "gru": ("update", "reset")}
# Characters sampled per run of the compiled loop: between runs Ctrl-C is seen.
SAMPLING_CHUNK = lite.SAMPLING_CHUNK
# The most characters one `generate` call writes (about half an hour at this machine's rate).
MAX_GENERATED = 10_000_000
MAX_SAMPLES = 16_384  # one batch: its states, and the prompt read once per sample, are held at once

_compiled = weakref.WeakKeyDictionary()  # model -> {key: compiled loop}; not saved with the model
_compiling = threading.Lock()


def _functions(model):
    """The compiled loops of `model`, by kind (traced once, then shared by threads)."""
    with _compiling:
        return _compiled.setdefault(model, {})


def forget_loops(model):
    """Drops `model`'s compiled loops, made again at the next call (after `set_members`)."""
    with _compiling:
        _compiled.pop(model, None)


def _compile(fn, input_signature):
    # The zoo runs on the TensorFlow backend; keras_hub compiles its generate
    # loop the same way (`tf.function`), so one trace serves every call.
    return tf.function(fn, input_signature=input_signature)


# -- the network the loops run: one model, or an ensemble (`CharRNN.set_members`) -----------
# The states are a list with one entry per model (this one, then its members).


def _initial_state(model, batch_size):
    return [m.initial_state(batch_size) for m in (model, *model.members)]


def _state_spec(model):
    return [m.state_spec() for m in (model, *model.members)]


def _mixed(outputs):
    """`[(logits, states)]` of each model -> `(logits, [states])`; an
    ensemble's logits are the log of the mean of the models' probabilities."""
    logits = [logits for logits, _ in outputs]
    if len(logits) > 1:
        log_probs = ops.stack([ops.log_softmax(x, axis=-1) for x in logits])
        logits = [ops.logsumexp(log_probs, axis=0) - math.log(len(logits))]
    return logits[0], [states for _, states in outputs]


def _forward(model, ids, states=None):
    """Reads int `[batch, time]` ids: `(logits [batch, time, vocabulary], states)`."""
    models = (model, *model.members)
    return _mixed([m(ids, initial_state=None if states is None else s, return_state=True)
                   for m, s in zip(models, states or [None] * len(models))])


def _step(model, ids, states):
    """One character per row: `(logits [batch, vocabulary], states)`."""
    return _mixed([m.step(ids, s) for m, s in zip((model, *model.members), states)])


class _StepSeed(keras.random.SeedGenerator):
    """Stands in for a sampler's `SeedGenerator` inside the compiled sampling
    loop: `next()` returns the seed the loop set for the current step instead
    of reading and advancing a variable, so no state is shared between calls
    (or threads). Holds no variable, so `__init__` skips the parent's."""

    def __init__(self):
        self.value = None

    def next(self, ordered=True):
        return self.value


def _encode(model, text, name, stacklevel=4):
    if model.vocabulary is None:
        raise ValueError(
            "This model has no vocabulary: call `set_vocabulary` or load a "
            "trained model."
        )
    if not isinstance(text, str):
        raise TypeError(f"`{name}` must be a string, got {type(text).__name__}.")
    unknown = model.vocabulary.unknown(text)
    if unknown:
        warnings.warn(
            f"`{name}` has characters outside the model's vocabulary: {unknown!r}. "
            f"They are read as the unknown id (a zero input vector) and scored as "
            f"the unknown class.",
            stacklevel=stacklevel,
        )
    return model.vocabulary.encode(text)


def generate(model, prompt, length, temperature=1.0, top_k=None, top_p=None, seed=None, num_samples=1,
             litert=None):
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
            LiteRT with int8 weight matrices (`zoo.lite`): about 2x
            the characters/s at batch 1, with the
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
    chunks = list(_chunks(model, prompt, length, temperature, top_k, top_p, seed, num_samples, litert))
    out = np.concatenate(chunks, axis=1) if chunks else np.zeros((num_samples, 0), np.int32)
    texts = [model.vocabulary.decode(row) for row in out]
    return texts[0] if num_samples == 1 else texts


def stream(model, prompt, length, temperature=1.0, top_k=None, top_p=None, seed=None, num_samples=1,
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
    chunks = _chunks(model, prompt, length, temperature, top_k, top_p, seed, num_samples, litert)
    def texts(tokens):
        decoded = [model.vocabulary.decode(row) for row in tokens]
        return decoded[0] if num_samples == 1 else decoded

    return (texts(tokens) for tokens in chunks)


def _chunks(model, prompt, length, temperature, top_k, top_p, seed, num_samples, litert):
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
    litert = _check_litert(model, litert, stacklevel=5)
    ids = _encode(model, prompt, "prompt", stacklevel=5)  # the warning points at the caller of model.generate/stream
    if length == 0:
        return iter(())
    seed = int(np.random.randint(1, 2**31 - 1)) if seed is None else seed
    last = np.full(num_samples, ids[-1], np.int32)
    if litert:
        sample = litert_loop(model, "sample", num_samples, litert, filtered=bool(top_k or top_p))
        # The prompt is read by LiteRT's scoring loop, as the exported file reads it: the same states.
        state = [[ops.convert_to_numpy(s) for s in layer] for layer in model.initial_state(1)]
        reader = litert_loop(model, "score", SAMPLING_CHUNK, litert) if len(ids) > 1 else None
        for start in range(0, len(ids) - 1, SAMPLING_CHUNK):
            part = ids[start : min(start + SAMPLING_CHUNK, len(ids) - 1)]
            _, state = reader(part, np.zeros_like(part), state)
        state = [[np.repeat(s, num_samples, axis=0) for s in layer] for layer in state]
        def chunks(last, state):
            for done in range(0, length, SAMPLING_CHUNK):  # Ctrl-C is seen between chunks
                tokens, last, state = sample(last, state, min(SAMPLING_CHUNK, length - done), temperature,
                                             top_k, top_p, seed, done)
                yield tokens

        return chunks(last, state)
    state = (
        _read(model, np.repeat(ids[None, :-1], num_samples, axis=0))
        if len(ids) > 1
        else _initial_state(model, num_samples)
    )
    sample = sampling_loop(model, temperature == 0, top_k, top_p)
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


def _read(model, ids):
    """The states after reading int `[batch, time]` ids from zero states."""
    functions = _functions(model)
    if "read" not in functions:
        functions["read"] = _compile(lambda x: _forward(model, x)[1], [tf.TensorSpec([None, None], tf.int32)])
    return functions["read"](ops.convert_to_tensor(ids, "int32"))


def _check_litert(model, litert, stacklevel=4):
    """`lite.check_weights(litert)`; LiteRT runs one model: of an ensemble, its first, with a warning."""
    if lite.check_weights(litert) and model.members:
        warnings.warn(f"LiteRT runs one model: the first of this ensemble of {1 + len(model.members)}, alone "
                      f"(the TensorFlow loop, litert=None, runs the whole ensemble).", stacklevel=stacklevel)
    return litert


def litert_loop(model, kind, size, weights="int8", **options):
    """The `zoo.lite` loop of this model, `kind` "sample" (`lite.Sampler`
    for `size` rows) or "score" (`lite.Scorer` over `size` characters),
    with `weights` "int8" or "float32" and the loop's `options`: made
    again only when the model's weights changed (a loop holds a
    converted copy of them)."""
    key = ("litert", kind, size, weights, *sorted(options.items()))
    checksum = 0
    for w in model.get_weights():
        checksum = zlib.adler32(np.ascontiguousarray(w).view(np.uint8), checksum)
    if key not in _functions(model) or _functions(model)[key][0] != checksum:
        loop = {"sample": lite.Sampler, "score": lite.Scorer}[kind]
        _functions(model)[key] = (checksum, loop(model, size, weights, **options))
    return _functions(model)[key][1]


def sampling_loop(model, greedy, top_k=None, top_p=None):
    """A compiled `(last, states, steps, inverse_temperature, seed) ->
    (tokens [batch, steps], last, states)`: from the carried `states` and
    the last characters `last` `[batch]`, samples `steps` characters with
    a `keras_hub` sampler; step `j` draws with the seed `seed + [0, j]`
    (int64 `[2]`). One trace per kind of sampler (greedy, random, top-k,
    top-p, top-p within top-k): `top_k` and `top_p` are arguments of the
    trace, not constants in it, so trying many values traces nothing new."""
    k = None if top_k is None else min(top_k, model.vocabulary_size)
    kind = "greedy" if greedy else "top_p" if top_p is not None else "top_k" if k is not None else "random"
    key = ("sample", kind, kind == "top_p" and k is not None)
    if key not in _functions(model):
        _functions(model)[key] = _sampling_trace(model, kind, within_top_k=key[2])
    compiled, k, p = _functions(model)[key], np.int32(k or 0), np.float32(1.0 if top_p is None else top_p)
    return lambda last, states, steps, inverse_temperature, seed: compiled(
        last, states, steps, inverse_temperature, seed, k, p
    )


def _sampling_trace(model, kind, within_top_k):

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
    never_unknown = np.zeros(model.vocabulary_size, np.float32)
    never_unknown[UNKNOWN_ID] = -1e9
    def loop(last, states, steps, inverse_temperature, seed, k, p):
        # The sampler reads `k` and `p` as it draws: this trace's tensors, set while tracing.
        if kind == "top_k" or within_top_k:
            sampler.k = k
        if kind == "top_p":
            sampler.p = p
        def body(j, last, states, tokens):
            logits, states = _step(model, last, states)
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
        _state_spec(model),
        tf.TensorSpec([], tf.int32),
        tf.TensorSpec([], tf.float32),
        tf.TensorSpec([2], tf.int64),
        tf.TensorSpec([], tf.int32),
        tf.TensorSpec([], tf.float32),
    ]
    return _compile(loop, signature)


def log_loss(model, text, chunk_length=4096, litert=None):
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
    ids = _encode(model, text, "text")
    if len(ids) < 2:
        raise ValueError(f"`text` must have at least 2 characters, got {len(ids)}.")
    positive_int("chunk_length", chunk_length)
    if _check_litert(model, litert):
        scorer, total, states = litert_loop(model, "score", chunk_length, litert), 0.0, model.initial_state(1)
        for start in range(0, len(ids) - 1, chunk_length):
            targets = ids[start + 1 : start + chunk_length + 1]
            nll, states = scorer(ids[start : start + len(targets)], targets, states)
            total += nll
        return total / (len(ids) - 1)
    return float(np.mean(_losses(model, ids, chunk_length)))


def character_log_losses(model, text, chunk_length=4096):
    """What `log_loss` averages: `-log p(text[t] | text[:t])` for t = 1..len(text)-1,
    in nats, as a float64 NumPy array, the state carried as in `log_loss`.
    Per character, so two models can be compared on the same text by a paired
    bootstrap (`zoo.metrics.paired_log_loss_difference`)."""
    ids = _encode(model, text, "text", stacklevel=3)
    if len(ids) < 2:
        raise ValueError(f"`text` must have at least 2 characters, got {len(ids)}.")
    return _losses(model, ids, positive_int("chunk_length", chunk_length))


def _losses(model, ids, chunk_length):
    if "score" not in _functions(model):
        def score(inputs, targets, states):
            logits, states = _forward(model, inputs, states)
            log_probs = ops.log_softmax(logits, axis=-1)
            picked = ops.take_along_axis(log_probs, targets[..., None], axis=-1)
            return -picked[0, :, 0], states

        spec = tf.TensorSpec([None, None], tf.int32)
        _functions(model)["score"] = _compile(score, [spec, spec, _state_spec(model)])
    losses, states = [], _initial_state(model, 1)
    for start in range(0, len(ids) - 1, chunk_length):
        inputs = ids[start : start + chunk_length]
        targets = ids[start + 1 : start + chunk_length + 1]
        inputs = inputs[: len(targets)]
        nll, states = _functions(model)["score"](inputs[None], targets[None], states)
        losses.append(np.asarray(nll, np.float64))
    return np.concatenate(losses)

# -- gate inspection -------------------------------------------------------


def gates(model, text, layer=0):
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
        or not 0 <= layer < model.num_layers
    ):
        raise ValueError(
            f"`layer` must be an integer in [0, {model.num_layers}), got {layer!r}."
        )
    ids = _encode(model, text, "text")[None]
    if not ids.size:
        raise ValueError("`text` must be a non-empty string: the gates are read at each of its characters, "
                         "got ''.")
    x = model.embed(ops.convert_to_tensor(ids))
    for rnn in model.rnns[:layer]:
        x = rnn(x)[0]
    _, gates = gate_activations(model.cells[layer], x)
    return {
        name: np.asarray(ops.convert_to_numpy(v[0]), np.float32)
        for name, v in gates.items()
    }


def gate_figure(model, text, layer=0, units=None, names=None, title=None):
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
    activations = gates(model, text, layer)
    names = [names] if isinstance(names, str) else list(names or PICTURED_GATES[model.cell_type])
    for name in names:
        if name not in activations:
            raise ValueError(
                f"`names` must be among {sorted(activations)}, got {name!r}."
            )
    if units is None:
        rows = {n: activations[n].mean(-1) for n in names}
    else:
        units = list(units) if isinstance(units, (list, tuple, range, np.ndarray)) else [units]
        if not units:
            raise ValueError("`units` must be None, a unit or a non-empty list of units, got [].")
        units = [integer("units", u, minimum=0, maximum=model.units - 1) for u in units]
        rows = {f"{n} #{u}": activations[n][:, u] for n in names for u in units}
    title = title or f"{model.cell_type} layer {layer}, " + (
        "mean over units" if units is None else "chosen units"
    )
    return viz.gate_figure(text, rows, title=title)


# -- evaluation ---------------------------------------------------------------------


def evaluate(model, corpus, split="val", limit=None, progress=False):
    """Nats and bits per character of `model.log_loss` on `split` of the
    built-in `corpus` ("tinyshakespeare"; "val", the last 10% of it, or
    "train"), or on your own text (`zoo.data.user_files.Text`), its state
    carried over the whole text; `limit`: only the first `limit` characters.

    Returns `{"split", "log_loss", "bits_per_character"}` (4 decimals).
    """
    check_limit(limit)
    if limit == 1:
        raise ValueError("limit must be at least 2 for text generation (each character is scored after the one "
                         "before it), got 1.")
    own = isinstance(corpus, user_files.Text)
    if progress:
        print(f"scoring the {split} split of {corpus.name if own else corpus} ...", file=sys.stderr)
    nats = log_loss(model, (corpus.text if own else load_text(corpus, split))[:limit])
    return {"split": split, "log_loss": round(nats, 4), "bits_per_character": round(nats / math.log(2), 4)}


def quick_check(model, card):
    """Nats per character on the first 20,000 validation characters of the
    corpus the card names (`zoo.evaluate.quick_check`); None for a user's text."""
    corpus = (card.get("data") or {}).get("corpus")
    if corpus not in CORPORA:
        return None
    nats = log_loss(model, load_text(corpus, "val")[:20_000])
    return {"slice": "first 20,000 validation characters", "log_loss": round(nats, 5)}


def held_out(card, split):
    """The `split` of the user's text the model was trained on (the recipe's:
    the first 90% trains, the last 10% validates), as a `Text`
    (`zoo.data.user_files.held_out`)."""
    config, data = card.get("config") or {}, card.get("data") or {}
    keys = ("text_file",)

    def rebuild():
        paths = named_paths(config, keys)
        named = data["corpus"][len(user_files.OWN_FILES):]
        text = user_files.Text(named, split_text(user_files.read_text(paths))[1 if split == "val" else 0])
        return text, [user_files.file_record(p) for p in paths], data.get("files") or []

    return user_files.held_out(card, split, keys, rebuild)


# -- exports -------------------------------------------------------------------------


def _serving_function(model):
    """(prompt, length, temperature, seed) -> text, as `CharRNN.generate`:
    the prompt is read, then `length` characters are sampled by its compiled
    loop (greedy at temperature 0), step t drawing with the seed `[seed, t]`,
    which is what `generate`'s chunks of steps draw too."""
    chars = model.vocabulary.chars
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(chars), tf.range(1, len(chars) + 1, dtype=tf.int32)),
        default_value=UNKNOWN_ID,
    )
    strings = tf.constant([UNKNOWN, *chars])
    greedy, sample = sampling_loop(model, True), sampling_loop(model, False)

    def generate(prompt, length, temperature, seed):
        ids = table.lookup(tf.strings.unicode_split(prompt, "UTF-8"))
        last, states = ids[-1:], _initial_state(model, 1)
        inverse, seeds = 1.0 / tf.maximum(temperature, 1e-6), tf.stack([seed, tf.constant(0, tf.int64)])

        def answer():
            read = tf.cond(tf.size(ids) > 1, lambda: _forward(model, ids[None, :-1])[1], lambda: states)
            tokens = tf.cond(  # nothing to sample for length 0: the loop's output would have no shape
                length > 0,
                lambda: tf.cond(temperature > 0, lambda: sample(last, read, length, inverse, seeds)[0],
                                lambda: greedy(last, read, length, tf.constant(1.0), seeds)[0]),
                lambda: tf.zeros([1, 0], tf.int32),
            )
            return tf.strings.reduce_join(tf.gather(strings, tokens[0]))

        # What `generate` refuses, refused by name.
        return {"text": decoding.refusing([
            (tf.strings.length(prompt) > 0, "`prompt` must be a non-empty string"),
            (decoding.valid_utf8(prompt), "`prompt` holds bytes that are not UTF-8 text"),
            ((length >= 0) & (length <= MAX_GENERATED), f"`length` must be in [0, {MAX_GENERATED}]"),
            (tf.math.is_finite(temperature) & (temperature >= 0),
             "`temperature` must be a finite number >= 0 (0 for greedy)"),
            (seed >= 0, "`seed` must be in [0, 2**63)"),
        ], answer, lambda: tf.constant(""))}

    generate.table = table
    return generate


def export(model, directory):
    """Writes a SavedModel whose `serving_default` maps `(prompt, length,
    temperature, seed)` to the generated text (without the prompt), by the
    same compiled sampling loop as `generate` (the same text for the same
    seed), refusing what `generate` refuses."""
    archive = keras.export.ExportArchive()
    for tracked in (model, *model.members):  # the variables, with their trained values (an ensemble's too)
        archive.track(tracked)
    run = _serving_function(model)
    archive.track(run.table)
    signature = [tf.TensorSpec([], tf.string, name="prompt"), tf.TensorSpec([], tf.int32, name="length"),
                 tf.TensorSpec([], tf.float32, name="temperature"), tf.TensorSpec([], tf.int64, name="seed")]
    archive.add_endpoint("serving_default", tf.function(run, autograph=False), input_signature=signature)
    archive.write_out(str(directory), verbose=False)
    return directory


def export_litert(model, directory, weights="int8"):
    """Writes `directory` (new) with the LiteRT file of `model`'s sampling and
    scoring loops (`zoo.lite.export`)."""
    if getattr(model, "task", None) != "text-generation":
        raise ValueError(f"`model` must be a character model (`zoo.models.CharRNN`, e.g. `zoo.load('char-lstm')`), "
                         f"got {type(model).__name__}.")
    _check_litert(model, weights, stacklevel=3)
    return lite.export(model, directory, weights)


# -- the `zoo generate` verb ---------------------------------------------------------


def command(args, load):
    """`zoo generate NAME [--prompt TEXT] [--length N] ...`: the prompt and its
    continuation, written as it is sampled (Ctrl-C keeps what is shown); with
    --num-samples N, the samples one after another."""
    if args.prompt == "":
        raise ValueError("--prompt must be non-empty text; leave it out to start after a line break.")
    model = load()
    options = {"temperature": args.temperature, "top_k": args.top_k, "top_p": args.top_p,
               "seed": args.seed, "num_samples": args.num_samples, "litert": args.litert}
    if args.num_samples == 1:
        chunks = stream(model, args.prompt, args.length, **options)
        print(args.prompt, end="", flush=True)
        for chunk in chunks:
            print(chunk, end="", flush=True)
        print()
        return 0
    for i, text in enumerate(generate(model, args.prompt, args.length, **options)):
        print(("" if i == 0 else "\n" + "-" * 40 + "\n") + args.prompt + text)
    return 0
