"""Training-step speed of the zoo cells against Keras's built-in layers.

    nice python benchmarks/cells.py               # the grid in benchmarks/README.md
    python benchmarks/cells.py --quick            # small shapes, 3 repeats (a check, not a result)
    python benchmarks/cells.py --shapes 64,50,128,256 --cells lstm --repeats 21

A step is forward + backward + Adam on `mean(outputs ** 2)` of a
`return_sequences` layer; `forward` is the training-mode forward pass alone.
Every variant of a row is built in the same process and timed interleaved
(keras, zoo, keras, zoo, ...), so load from other jobs on
the machine falls on all of them alike. Reported: the median wall time of the
peer (`keras.layers.LSTM` / `GRU`) and each variant's ratio to it, by median
wall time, by minimum wall time (the least disturbed repeat) and by median
process CPU time (all threads; less sensitive to waiting for the cores, more
to the thread pools spinning). Below 1.0: faster than Keras. `keras x limit`
is Keras's step time over the time its matmul FLOPs take at the large-matmul
rate of the same run (1.0 would be a perfectly matmul-bound kernel).

The variants:
  keras      `keras.layers.LSTM` / `GRU`: on CPU, Keras's cell in Keras's fused
             layout, `x @ kernel[D, 4H] + h @ recurrent_kernel[H, 4H] + bias`
             split into the gates (two matmuls per step); the layout the zoo
             LSTMCell had before it kept one matrix per gate.
  zoo        `keras.layers.RNN(zoo.layers.LSTMCell / GRUCell)`: one `W [D, H]`,
             `U [H, H]` and bias per gate (eight matmuls per step for the
             LSTM, six for the GRU).

The shapes `(B, T, D, H)` include each shipped model's recurrent layers (the
`--shapes` default, `SHAPES`). `--models` adds whole training steps of the
shipped models at their recipes' sizes, compiled as their recipes compile
them (optimizer, clipnorm, loss, metric) and run by `train_on_batch`,
interleaved:
  before     `keras.layers.LSTMCell` / `GRUCell` in place of the zoo cell (the
             fused layout the zoo cells had before), Keras's Adam and the
             cross-entropy as it was written before (`loss_before`): the
             recipes' step before the per-gate cells.
  today      the zoo cells, `zoo.optimizers.Adam`, `zoo.metrics.masked_cross_entropy`.
  fused      today's step with the fused cells: `fused / today` is what the
             cells alone give.
  no cell    today's step with a stand-in cell without weights
             (`NoMatmulCell`): the step less its cells, which bounds what any
             cell can gain in that model and gives the cells' own share of it.
"""

import argparse
import functools
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from zoo.cli import positive_int  # noqa: E402
from zoo.layers import AttentionDecoder, BahdanauAttention, GRUCell, LSTMCell  # noqa: E402

# (label, (B, T, D, H)): batch, time steps, input size, units.
SHAPES = [
    ("small", (64, 50, 128, 256)),
    ("large", (128, 50, 256, 512)),
    ("lstm-seq2seq-attn encoder (each direction)", (64, 20, 256, 256)),
    ("lstm-seq2seq-attn encoder at batch 128", (128, 20, 256, 256)),
    ("sat-lstm-squeezenet decoder cell (embedding + context)", (32, 21, 768, 256)),
    ("char-lstm layer 1", (32, 128, 64, 512)),
    ("char-lstm layer 2", (32, 128, 512, 512)),
    ("char-gru layer 1", (32, 128, 64, 592)),
    ("char-gru layer 2", (32, 128, 592, 592)),
    ("gru-seq2seq-attn decoder cell (embedding + context)", (64, 20, 768, 256)),
]


VARIANTS = {
    "lstm": {
        "keras": lambda h: keras.layers.LSTM(h, return_sequences=True),
        "zoo": lambda h: keras.layers.RNN(LSTMCell(h), return_sequences=True),
    },
    "gru": {
        "keras": lambda h: keras.layers.GRU(h, return_sequences=True),
        "zoo": lambda h: keras.layers.RNN(GRUCell(h), return_sequences=True),
    },
}


def matmul_gflops(n=2048, repeats=10):
    """The rate (GFLOP/s) of a large float32 matmul in TensorFlow on this machine."""
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    f = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    f()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f().numpy()
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def step_fns(layer, batch, steps, features):
    """(forward, train step) of `layer` as compiled functions."""
    model = keras.Sequential([keras.Input((steps, features)), layer])
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    x = tf.random.normal((batch, steps, features))

    @tf.function
    def forward():
        return tf.reduce_mean(tf.square(model(x, training=True)))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True)))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    return forward, step


def timed(f):
    """(wall, process CPU) seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = f()
    getattr(out, "numpy", lambda: out)()  # a tensor: wait for it
    return time.perf_counter() - wall, time.process_time() - cpu


def interleaved(fns, repeats):
    """{name: [(wall, cpu), ...]}, the functions called in turn `repeats` times."""
    for f in fns.values():  # trace and warm up
        f()
        f()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, f in fns.items():
            times[name].append(timed(f))
    return times


def rnn_flops(gates, batch, steps, features, units):
    # Forward: x W and h U for every gate; backward costs about twice the forward.
    return 3 * 2 * batch * steps * gates * units * (features + units)


def decoder_step_ms(batch, src_len, tgt_len, units, repeats):
    decoder = AttentionDecoder(LSTMCell(units), BahdanauAttention(units))
    inputs = tf.random.normal((batch, tgt_len, units))
    values = tf.random.normal((batch, src_len, 2 * units))
    decoder(inputs, values)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(decoder.trainable_variables)

    @tf.function
    def train():
        with tf.GradientTape() as tape:
            outputs, _ = decoder(inputs, values, training=True)
            loss = tf.reduce_mean(tf.square(outputs))
        optimizer.apply(tape.gradient(loss, decoder.trainable_variables), decoder.trainable_variables)
        return loss

    keys = decoder.project_keys(values)
    states = decoder.get_initial_state(values)

    @tf.function
    def infer_step():
        output, _, _ = decoder.step(inputs[:, 0], states, values, keys)
        return output

    train()
    infer_step()
    train_ms = statistics.median(timed(train)[0] for _ in range(repeats)) * 1e3 / tgt_len
    infer_ms = statistics.median(timed(infer_step)[0] for _ in range(repeats * 4)) * 1e3
    return train_ms, infer_ms


@keras.saving.register_keras_serializable(package="benchmarks")
class NoMatmulCell(keras.layers.Layer):
    """A stand-in with the LSTM's or GRU's states and no weights: the state moves
    by a few elementwise ops. A model step with it is the step less its cells,
    the least time any cell can reach: `fused / no cell` bounds what a faster
    cell can gain in that model (Amdahl)."""

    def __init__(self, units, states=2, **kwargs):
        super().__init__(**kwargs)
        self.units, self.states = units, states
        self.state_size, self.output_size = [units] * states, units

    def get_initial_state(self, batch_size=None):
        return [keras.ops.zeros((batch_size, self.units), self.compute_dtype)] * self.states

    def call(self, inputs, states, training=False):
        h = keras.ops.tanh(states[0] + keras.ops.mean(inputs, axis=-1, keepdims=True))
        return h, [h] * self.states

    def get_config(self):
        return {**super().get_config(), "units": self.units, "states": self.states}


def loss_before(label_smoothing=0.0, pad=0):
    """`zoo.metrics.masked_cross_entropy` as it was written before: a
    `log_softmax`, then the target's entry (the same numbers, a slower
    gradient). The loss of the `before` steps."""
    from keras import ops

    def loss(y_true, y_pred):
        mask = ops.cast(ops.not_equal(y_true, pad), "float32")
        logp = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        nll = -ops.squeeze(ops.take_along_axis(logp, ops.expand_dims(ops.cast(y_true, "int32"), -1), -1), -1)
        if label_smoothing:
            nll = (1.0 - label_smoothing) * nll - label_smoothing * ops.mean(logp, axis=-1)
        return ops.sum(nll * mask) / ops.maximum(ops.sum(mask), 1.0)

    return loss


@functools.cache
def recipe(script):
    """The module `recipes/<script>.py` (loaded once)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"recipe_{script}", ROOT / "recipes" / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compile_as_recipe(model, script, before=False):
    """Compiles `model` as `recipes/<script>.py` does with its default flags:
    its optimizer (`zoo.optimizers.Adam`, clipnorm), loss and metric;
    `before`: with Keras's Adam and `loss_before`, as the recipes did before."""
    from zoo import optimizers
    from zoo.metrics import MaskedAccuracy, masked_cross_entropy

    module = recipe(script)
    cfg = module.Config()
    if script == "generate_text":  # its loss is Keras's own
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        metrics = [keras.metrics.MeanMetricWrapper(module.bits_per_character, name="bits_per_character")]
    else:
        loss = (loss_before if before else masked_cross_entropy)(cfg.label_smoothing)
        metrics = [MaskedAccuracy()]
    adam = keras.optimizers.Adam if before else optimizers.Adam
    model.compile(optimizer=adam(cfg.learning_rate, clipnorm=cfg.clipnorm), loss=loss, metrics=metrics)


def model_step_fn(name, script, cell_type, cell_class, inputs, targets, before=False, **config):
    """A training step (`train_on_batch`) of registry model `name` built with
    `cell_class` as its `cell_type` ("lstm" or "gru") cell, compiled as
    `recipes/<script>.py` compiles it."""
    import zoo
    from zoo.models import captioner, char_rnn, seq2seq

    # The builders pick their cell from these names; swapped for the build only.
    saved = seq2seq.CELLS[cell_type], char_rnn.CELLS[cell_type], captioner.LSTMCell
    seq2seq.CELLS[cell_type] = char_rnn.CELLS[cell_type] = cell_class
    if cell_type == "lstm":
        captioner.LSTMCell = cell_class
    try:
        model = zoo.build(name, **config)
        model(inputs)
    finally:
        seq2seq.CELLS[cell_type], char_rnn.CELLS[cell_type], captioner.LSTMCell = saved
    compile_as_recipe(model, script, before)
    return lambda: model.train_on_batch(inputs, targets)[0]


MODELS = ("lstm-seq2seq-attn", "gru-seq2seq-attn", "char-lstm", "char-gru", "sat-lstm-squeezenet")


def model_steps(repeats, names=MODELS):
    """Training steps of the shipped models as their recipes compile them:
    before (fused cells, Keras's Adam, `loss_before`), today (per-gate cells,
    `zoo.optimizers.Adam`, today's loss), today with the fused cells, and today
    with no cell."""
    rng = tf.random.Generator.from_seed(0)
    source = rng.uniform((64, 20), 3, 8000, tf.int32)
    target = rng.uniform((64, 21), 3, 6000, tf.int32)
    chars = rng.uniform((32, 129), 1, 66, tf.int32)
    words = rng.uniform((32, 21), 3, 1065, tf.int32)
    grid = rng.normal((32, 13 * 13, 512))
    translation = ("translate", "batch 64, 20 source / 20 target tokens", (source, target[:, :-1]), target[:, 1:],
                   {"source_vocabulary_size": 8000, "target_vocabulary_size": 6000, "embedding_dim": 256,
                    "units": 256, "dropout": 0.3})
    text = ("generate_text", "batch 32, 128 characters", chars[:, :-1], chars[:, 1:],
            {"vocabulary_size": 66, "embedding_dim": 64, "num_layers": 2})
    rows = [
        ("lstm-seq2seq-attn", "lstm", *translation),
        ("gru-seq2seq-attn", "gru", *translation),
        ("char-lstm", "lstm", *text[:4], {**text[4], "units": 512, "dropout": 0.2}),
        ("char-gru", "gru", *text[:4], {**text[4], "units": 592, "dropout": 0.1}),
        ("sat-lstm-squeezenet", "lstm", "caption", "batch 32, 20 words, 13 x 13 SqueezeNet grid (cached features)",
         (grid, words[:, :-1]), words[:, 1:], {"vocabulary_size": 1065, "dropout": 0.5}),
    ]
    print("\n| model | step | before ms | today ms | before / today | today with fused cells ms "
          "| fused / per-gate (the cells alone) | fused / no cell (bound) "
          "| the cells' time in the step: per-gate / fused |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, cell_type, script, what, inputs, targets, config in (row for row in rows if row[0] in names):
        fused, ours = (keras.layers.LSTMCell, LSTMCell) if cell_type == "lstm" else (keras.layers.GRUCell, GRUCell)
        no_cell = functools.partial(NoMatmulCell, states=2 if cell_type == "lstm" else 1)
        step = functools.partial(model_step_fn, name, script, cell_type, inputs=inputs, targets=targets, **config)
        fns = {"before": step(fused, before=True), "zoo": step(ours), "fused": step(fused), "no cell": step(no_cell)}
        times = interleaved(fns, repeats)
        wall = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
        print(f"| {name} | {what} | {wall['before'] * 1e3:.0f} | {wall['zoo'] * 1e3:.0f} "
              f"| {wall['before'] / wall['zoo']:.2f}x | {wall['fused'] * 1e3:.0f} | {wall['fused'] / wall['zoo']:.2f}x "
              f"| {wall['fused'] / wall['no cell']:.2f}x "
              f"| {(wall['zoo'] - wall['no cell']) / (wall['fused'] - wall['no cell']):.2f} |", flush=True)


def parse_shape(text):
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"a shape is four positive integers B,T,D,H, got {text!r}")
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="one small shape and 3 repeats (a check, not a result; not with --shapes, --repeats)")
    parser.add_argument("--repeats", type=positive_int, help="interleaved repeats of each variant (default 9)")
    parser.add_argument("--shapes", type=parse_shape, nargs="+", metavar="B,T,D,H",
                        help="shapes to time instead of the grid of SHAPES")
    parser.add_argument("--cells", nargs="+", choices=sorted(VARIANTS), default=sorted(VARIANTS))
    parser.add_argument("--no-decoder", action="store_true", help="skip the AttentionDecoder line")
    parser.add_argument("--models", nargs="*", choices=MODELS, metavar="NAME",
                        help="also time the training steps of these shipped models, at their recipes' sizes "
                             "(no name: all of " + ", ".join(MODELS) + ")")
    args = parser.parse_args()
    if args.quick and (args.shapes or args.repeats):
        parser.error("--quick sets its own shape and repeats: leave out --shapes and --repeats")
    repeats = 3 if args.quick else args.repeats or 9
    if args.quick:
        shapes = [("quick", (8, 10, 16, 32))]
    elif args.shapes:
        shapes = [("", shape) for shape in args.shapes]
    else:
        shapes = SHAPES
    gflops = matmul_gflops(512 if args.quick else 2048)
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores, "
          f"large matmul: {gflops:.1f} GFLOP/s; {repeats} interleaved repeats\n")
    print("| cell | B, T, D, H | keras ms | zoo / keras: median / min / CPU | forward zoo / keras | keras x limit "
          "| shape |")
    print("|---|---|---:|---:|---:|---:|---|")
    for label, (batch, steps, features, units) in shapes:
        for cell in args.cells:
            fns = {name: step_fns(make(units), batch, steps, features) for name, make in VARIANTS[cell].items()}
            steps_t = interleaved({name: pair[1] for name, pair in fns.items()}, repeats)
            forward_t = interleaved({name: pair[0] for name, pair in fns.items()}, repeats)

            def ratios(times, name):
                med = statistics.median(w for w, _ in times[name]) / statistics.median(w for w, _ in times["keras"])
                low = min(w for w, _ in times[name]) / min(w for w, _ in times["keras"])
                cpu = statistics.median(c for _, c in times[name]) / statistics.median(c for _, c in times["keras"])
                return med, low, cpu

            keras_ms = statistics.median(w for w, _ in steps_t["keras"]) * 1e3
            limit = rnn_flops(4 if cell == "lstm" else 3, batch, steps, features, units) / (gflops * 1e9)
            step_ratios = " / ".join(f"{r:.2f}" for r in ratios(steps_t, "zoo"))
            print(f"| {cell.upper()} | {batch}, {steps}, {features}, {units} | {keras_ms:.1f} | {step_ratios} | "
                  f"{ratios(forward_t, 'zoo')[0]:.2f} | {keras_ms / 1e3 / limit:.2f} | {label} |", flush=True)
    if args.models is not None:
        model_steps(repeats, args.models or MODELS)
    if args.no_decoder:
        return
    batch, src_len, tgt_len, units = (8, 6, 5, 16) if args.quick else (64, 20, 20, 256)
    train_ms, infer_ms = decoder_step_ms(batch, src_len, tgt_len, units, repeats)
    print(f"\nAttentionDecoder(LSTMCell({units}), BahdanauAttention({units})), batch {batch}, "
          f"source length {src_len}: training {train_ms:.2f} ms per target token "
          f"(forward + backward + Adam, teacher forcing over {tgt_len} tokens); "
          f"one decoding step {infer_ms:.2f} ms")


if __name__ == "__main__":
    main()
