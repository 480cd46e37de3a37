"""Why gates: long-range memory and gradient flow of a plain RNN, LSTMs and a GRU.

    python benchmarks/long_range.py            # the tables and pictures in benchmarks/README.md
    python benchmarks/long_range.py --quick    # two lengths, 150 steps (a check, not a result)

Two synthetic tasks from the literature, at sequence lengths 20 to 500:

- the adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015): each
  step reads a random value in [0, 1] and a marker; two steps are marked, one
  in each half; the target is the sum of the two marked values, read from the
  last step. Always answering 1.0 scores MSE 1/6 = 0.167 (the variance of the
  sum). Remembering only the later value (and adding 0.5) scores 1/12 = 0.083:
  only an error below that shows the earlier value, from the first half of the
  sequence, was carried to the end.
- delayed recall, the copy task of Arjovsky et al. 2016 with `--symbols`
  symbols (1 by default): the first steps show symbols out of 8, then blanks,
  then a delimiter, after which the network must output the symbols in order,
  so the first step must be remembered to the last. A memoryless network can
  do no better than a uniform guess: ln 8 = 2.079 nats per recalled symbol.

Every network is a recurrent layer and a dense read-out, with the same number
of parameters (within 2%: the LSTM's `--units` set it); the same optimizer,
learning rate, batches (the same data, in the same order) and number of steps
for all. The LSTM runs with and without `unit_forget_bias` (the forget-gate
bias of 1 of Jozefowicz et al. 2015), so its effect is measured.

For each network and length the script reports the final error on 512
held-out sequences against the trivial baseline and, with
`zoo.viz.gradient_flow`, how much of the loss's gradient reaches the first
step (||dLoss/dh_1|| / ||dLoss/dh_T||) at initialization and after training.
It prints the tables and writes `docs/long_range.png` (error against length)
and `docs/gradient_flow.png` (the curves at `--picture-length`).
"""

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from zoo import viz  # noqa: E402
from zoo.layers import GRUCell, LSTMCell  # noqa: E402

ALPHABET = 8  # recall symbols are 1..8; 0 is the blank, 9 the delimiter


class Adding:
    name = "adding"
    features, outputs, recalled = 2, 1, 1
    metric = "MSE"

    def baseline(self, y):
        return float(np.mean((y - 1.0) ** 2))  # always answering 1.0

    def batch(self, rng, size, length):
        values = rng.uniform(size=(size, length))
        first = rng.integers(0, length // 2, size)
        second = rng.integers(length // 2, length, size)
        markers = np.zeros((size, length))
        markers[np.arange(size), first] = 1.0
        markers[np.arange(size), second] = 1.0
        x = np.stack([values, markers], -1).astype("float32")  # [batch, length, 2]
        y = (values[np.arange(size), first] + values[np.arange(size), second]).astype("float32")[:, None, None]
        return x, y  # y: [batch, 1, 1]

    def loss(self, y, outputs):  # outputs: [batch, 1, 1]
        return tf.reduce_mean(tf.square(outputs - y))

    def accuracy(self, y, outputs):
        return tf.constant(float("nan"))


class Recall:
    name = "recall"
    features, outputs = ALPHABET + 2, ALPHABET
    metric = "nats/symbol"

    def __init__(self, symbols):
        self.recalled = symbols

    def baseline(self, y):
        return math.log(ALPHABET)  # a uniform guess over the symbols

    def batch(self, rng, size, length):
        k = self.recalled
        if length < 2 * k + 2:
            raise ValueError(f"`--lengths` must be at least {2 * k + 2} for {k} symbols, got {length}.")
        symbols = rng.integers(1, ALPHABET + 1, (size, k))
        ids = np.zeros((size, length), "int64")  # blanks
        ids[:, :k] = symbols
        ids[:, length - k - 1] = ALPHABET + 1  # the delimiter; the last k steps are the recall
        x = np.eye(ALPHABET + 2, dtype="float32")[ids]  # one-hot [batch, length, 10]
        return x, (symbols - 1).astype("int32")  # targets [batch, k] in 0..7

    def loss(self, y, outputs):  # outputs: logits [batch, k, 8]
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=outputs))

    def accuracy(self, y, outputs):
        return tf.reduce_mean(tf.cast(tf.equal(tf.argmax(outputs, -1, output_type="int32"), y), "float32"))



def _lstm_parameters(u, d, o):
    return 4 * u * (d + u + 1) + u * o + o


NETWORKS = {
    # name: (cell constructor, parameters of the layer and read-out for u units, d inputs, o outputs)
    "SimpleRNN": (lambda u: keras.layers.SimpleRNNCell(u), lambda u, d, o: u * (d + u + 1) + u * o + o),
    "LSTM": (lambda u: LSTMCell(u), _lstm_parameters),  # unit_forget_bias=True, the default
    "LSTM-fb0": (lambda u: LSTMCell(u, unit_forget_bias=False), _lstm_parameters),  # forget-gate bias 0
    "GRU": (lambda u: GRUCell(u), lambda u, d, o: 3 * u * (d + u + 2) + u * o + o),  # reset_after: two biases
}


def matched_units(task, lstm_units):
    """Units of each network giving the parameter count of the LSTM with `lstm_units`."""
    d, o = task.features, task.outputs
    target = _lstm_parameters(lstm_units, d, o)
    return {
        name: min(range(1, 8 * lstm_units), key=lambda u, count=count: abs(count(u, d, o) - target))
        for name, (_, count) in NETWORKS.items()
    }


class Network(keras.Model):
    """A recurrent layer over the sequence, a dense read-out of its last `recalled` steps."""

    def __init__(self, cell, task):
        super().__init__()
        self.rnn = keras.layers.RNN(cell, return_sequences=True)
        self.head = keras.layers.Dense(task.outputs)
        self.recalled = task.recalled

    def read_out(self, hidden):  # [batch, length, units] -> [batch, recalled, outputs]
        return self.head(hidden[:, -self.recalled:])

    def call(self, x):
        return self.read_out(self.rnn(x))


def run(task, name, units, length, args):
    """Trains one network on one length; returns its numbers and gradient-flow curves."""
    keras.utils.set_random_seed(args.seed)  # the same initial weights for a network at every length
    net = Network(NETWORKS[name][0](units), task)
    test_x, test_y = task.batch(np.random.default_rng([args.seed, length, 1]), 512, length)
    net(test_x[:1])
    optimizer = keras.optimizers.Adam(args.learning_rate, clipnorm=1.0)
    optimizer.build(net.trainable_variables)

    @tf.function(jit_compile=args.jit, autograph=False)
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = task.loss(y, net(x))
        optimizer.apply(tape.gradient(loss, net.trainable_variables), net.trainable_variables)
        return loss

    @tf.function(jit_compile=args.jit, autograph=False)
    def evaluate(x, y):
        outputs = net(x)
        return task.loss(y, outputs), task.accuracy(y, outputs)

    probe_x, probe_y = test_x[: args.probe], test_y[: args.probe]

    def flow():
        return viz.gradient_flow(net.rnn, probe_x, loss_fn=lambda hidden: task.loss(probe_y, net.read_out(hidden)))

    at_init = flow()
    rng = np.random.default_rng([args.seed, length])  # the same batches for every network
    start = time.perf_counter()
    for _ in range(args.steps):
        train_step(*task.batch(rng, args.batch_size, length))
    seconds = time.perf_counter() - start
    error, accuracy = (float(v) for v in evaluate(test_x, test_y))
    return {
        "task": task.name,
        "network": name,
        "units": units,
        "parameters": net.count_params(),
        "length": length,
        "error": error,
        "baseline": task.baseline(test_y),
        "accuracy": accuracy,
        "train_seconds": seconds,
        "flow_init": at_init.tolist(),
        "flow_trained": flow().tolist(),
    }


def first_step_share(curve):
    """||dLoss/dh_1|| / ||dLoss/dh_T||, as text."""
    share = curve[0] / curve[-1] if curve[-1] > 0 else float("nan")
    return "0" if share == 0 else f"{share:.0e}"


def print_tables(results, tasks, lengths, args):
    for task in tasks:
        rows = [r for r in results if r["task"] == task.name]
        names = list(dict.fromkeys(r["network"] for r in rows))
        params = ", ".join(f"{n} {r['units']} units" for n in names for r in rows if r["network"] == n and
                           r["length"] == lengths[0])
        count = rows[0]["parameters"] if rows else 0
        print(f"\n{task.name}: {task.metric} on 512 held-out sequences after {args.steps} steps of batch "
              f"{args.batch_size} (error / baseline in brackets; ~{count:,} parameters: {params})\n")
        if task.name == "adding":
            print("(remembering only the later value: 0.083, 0.50 of the baseline)\n")
        print("| length | baseline | " + " | ".join(names) + " |")
        print("|---:|---:|" + "---:|" * len(names))
        for length in lengths:
            cells = {r["network"]: r for r in rows if r["length"] == length}
            baseline = next(iter(cells.values()))["baseline"]
            line = [f"{cells[n]['error']:.3f} ({cells[n]['error'] / baseline:.2f})" for n in names]
            print(f"| {length} | {baseline:.3f} | " + " | ".join(line) + " |")
        if task.name == "recall":
            print("\nrecall accuracy (chance 0.125): " + "; ".join(
                f"{length}: " + ", ".join(f"{r['network']} {r['accuracy']:.2f}" for r in rows if r["length"] == length)
                for length in lengths))
        print(f"\n{task.name}: gradient reaching the first step, ||dLoss/dh_1|| / ||dLoss/dh_T||, "
              "at initialization -> after training\n")
        print("| length | " + " | ".join(names) + " |")
        print("|---:|" + "---:|" * len(names))
        for length in lengths:
            cells = {r["network"]: r for r in rows if r["length"] == length}
            line = [f"{first_step_share(cells[n]['flow_init'])} -> {first_step_share(cells[n]['flow_trained'])}"
                    for n in names]
            print(f"| {length} | " + " | ".join(line) + " |")


def draw(results, tasks, lengths, args):
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["network"] for r in results))
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        for name in names:
            rows = sorted((r for r in results if r["task"] == task.name and r["network"] == name),
                          key=lambda r: r["length"])
            ax.plot([r["length"] for r in rows], [r["error"] / r["baseline"] for r in rows], "o-", label=name)
        ax.axhline(1.0, color="grey", linestyle=":", label="trivial baseline")
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(lengths, [str(n) for n in lengths])
        ax.set_ylim(bottom=0)
        ax.set_xlabel("sequence length")
        ax.set_ylabel(f"{task.metric} / baseline")
        ax.set_title(f"{task.name}: error after {args.steps} steps (lower is better)", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    Path(args.long_range_png).write_bytes(viz.to_png(fig))

    length = args.picture_length if args.picture_length in lengths else max(lengths)
    fig, axes = plt.subplots(2, len(tasks), figsize=(5.2 * len(tasks), 6.4), squeeze=False)
    for column, task in enumerate(tasks):
        rows = {r["network"]: r for r in results if r["task"] == task.name and r["length"] == length}
        for row, (key, when) in enumerate((("flow_init", "at initialization"), ("flow_trained", "after training"))):
            ax = axes[row][column]
            viz.gradient_flow_figure({n: rows[n][key] for n in names if n in rows}, ax=ax,
                                     title=f"{task.name}, length {length}: {when}")
            ax.set_ylim(1e-20, 1e3)
    fig.tight_layout()
    Path(args.gradient_flow_png).write_bytes(viz.to_png(fig))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="lengths 20 and 100, 150 steps (a check, not a result)")
    parser.add_argument("--lengths", default="20,50,100,500", help="comma-separated sequence lengths")
    parser.add_argument("--tasks", default="adding,recall", help="comma-separated: adding, recall")
    parser.add_argument("--networks", default=",".join(NETWORKS), help=f"comma-separated, among {list(NETWORKS)}")
    parser.add_argument("--units", type=int, default=32, help="LSTM units; the others match its parameter count")
    parser.add_argument("--symbols", type=int, default=1, help="symbols to recall in the recall task")
    parser.add_argument("--steps", type=int, default=500, help="optimizer steps per network and length")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-2, help="Adam, gradient norm clipped at 1.0")
    parser.add_argument("--probe", type=int, default=32, help="held-out sequences the gradient flow averages over")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-jit", dest="jit", action="store_false", help="do not XLA-compile the training step")
    parser.add_argument("--picture-length", type=int, default=100, help="the length docs/gradient_flow.png shows")
    parser.add_argument("--long-range-png", help="default docs/long_range.png (runs/long-range-quick/ with --quick)")
    parser.add_argument("--gradient-flow-png", help="default docs/gradient_flow.png (idem)")
    parser.add_argument("--json", help="also write every number and curve here")
    args = parser.parse_args()
    if args.quick:
        args.lengths, args.steps = "20,100", 150
    pictures = Path("runs/long-range-quick" if args.quick else "docs")
    pictures.mkdir(parents=True, exist_ok=True)
    args.long_range_png = args.long_range_png or str(pictures / "long_range.png")
    args.gradient_flow_png = args.gradient_flow_png or str(pictures / "gradient_flow.png")
    networks = args.networks.split(",")
    for name in networks:
        if name not in NETWORKS:
            raise ValueError(f"`--networks` must name networks among {list(NETWORKS)}, got {name!r}.")
    lengths = [int(n) for n in args.lengths.split(",")]
    known = {"adding": Adding(), "recall": Recall(args.symbols)}
    for name in args.tasks.split(","):
        if name not in known:
            raise ValueError(f"`--tasks` must name tasks among {sorted(known)}, got {name!r}.")
    tasks = [known[name] for name in args.tasks.split(",")]
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores; "
          f"Adam {args.learning_rate}, {args.steps} steps of batch {args.batch_size}, seed {args.seed}")

    results = []
    start = time.perf_counter()
    for task in tasks:
        for name, units in matched_units(task, args.units).items():
            if name not in networks:
                continue
            for length in lengths:
                result = run(task, name, units, length, args)
                results.append(result)
                print(f"  {task.name} {name:>20} length {length:4d}: {task.metric} {result['error']:.4f} "
                      f"(baseline {result['baseline']:.4f}), {result['train_seconds']:.0f} s", flush=True)
    print(f"\n{(time.perf_counter() - start) / 60:.1f} min in all")
    print_tables(results, tasks, lengths, args)
    draw(results, tasks, lengths, args)
    if args.json:
        Path(args.json).write_text(json.dumps(results))
    print(f"\nwrote {args.long_range_png} and {args.gradient_flow_png}")


if __name__ == "__main__":
    main()
