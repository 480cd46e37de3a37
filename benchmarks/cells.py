"""Training-step speed of the zoo cells against Keras's built-in layers.

    python benchmarks/cells.py            # the table in benchmarks/README.md
    python benchmarks/cells.py --quick    # fewer repeats, smaller shapes

A step is forward + backward + Adam on `mean(outputs ** 2)` of a
return_sequences layer. Every row is timed in the same process, interleaved
(peer, zoo, peer, zoo, ...), and reported as medians; `ratio` is zoo / peer
(below 1.0: the zoo cell is faster). `x limit` divides the step time by the
time its matmul FLOPs would take at this machine's measured large-matmul
rate, so 1.0 would be a perfect matmul-bound kernel.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from zoo.layers import AttentionDecoder, BahdanauAttention, GRUCell, LSTMCell  # noqa: E402


def matmul_gflops(n=2048, repeats=10):
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


def train_step_fn(layer, batch, steps, features):
    """A compiled forward + backward + Adam step for `layer`."""
    model = keras.Sequential([keras.Input((steps, features)), layer])
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    x = tf.random.normal((batch, steps, features))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True)))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    return step


def timed(step):
    start = time.perf_counter()
    step().numpy()
    return time.perf_counter() - start


def compare(peer, ours, repeats):
    for f in (peer, ours):  # trace and warm up
        f()
        f()
    peer_t, ours_t = [], []
    for _ in range(repeats):
        peer_t.append(timed(peer))
        ours_t.append(timed(ours))
    return statistics.median(peer_t), statistics.median(ours_t)


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
    train_ms = statistics.median(timed(train) for _ in range(repeats)) * 1e3 / tgt_len
    infer_ms = statistics.median(timed(infer_step) for _ in range(repeats * 4)) * 1e3
    return train_ms, infer_ms


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small shapes and 3 repeats (a check, not a result)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    shapes = [(8, 10, 16, 32)] if args.quick else [(64, 50, 128, 256), (128, 50, 256, 512)]
    gflops = matmul_gflops(512 if args.quick else 2048)
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores, "
          f"large matmul: {gflops:.1f} GFLOP/s; medians of {repeats} interleaved repeats\n")
    print("| cell | B, T, D, H | peer | peer ms | zoo ms | ratio zoo/peer | peer x limit | zoo x limit |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for batch, steps, features, units in shapes:
        for name, gates, ours, peer in (
            ("LSTMCell", 4, lambda units=units: keras.layers.RNN(LSTMCell(units), return_sequences=True),
             lambda units=units: keras.layers.LSTM(units, return_sequences=True)),
            ("GRUCell", 3, lambda units=units: keras.layers.RNN(GRUCell(units), return_sequences=True),
             lambda units=units: keras.layers.GRU(units, return_sequences=True)),
        ):
            peer_t, ours_t = compare(train_step_fn(peer(), batch, steps, features),
                                     train_step_fn(ours(), batch, steps, features), repeats)
            limit = rnn_flops(gates, batch, steps, features, units) / (gflops * 1e9)
            peer_name = "keras.layers." + ("LSTM" if gates == 4 else "GRU")
            print(f"| {name} | {batch}, {steps}, {features}, {units} | {peer_name} | {peer_t * 1e3:.1f} | "
                  f"{ours_t * 1e3:.1f} | {ours_t / peer_t:.2f} | {peer_t / limit:.2f} | {ours_t / limit:.2f} |")
    batch, src_len, tgt_len, units = (8, 6, 5, 16) if args.quick else (64, 20, 20, 256)
    train_ms, infer_ms = decoder_step_ms(batch, src_len, tgt_len, units, repeats)
    print(f"\nAttentionDecoder(LSTMCell({units}), BahdanauAttention({units})), batch {batch}, "
          f"source length {src_len}: training {train_ms:.2f} ms per target token "
          f"(forward + backward + Adam, teacher forcing over {tgt_len} tokens); "
          f"one decoding step {infer_ms:.2f} ms")


if __name__ == "__main__":
    main()
