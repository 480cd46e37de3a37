"""Forward + backward time of the recipes' cross-entropy, today's against the
form it had before (`cells.loss_before`: a `log_softmax`, then the target's
entry), interleaved, medians.

    python benchmarks/losses.py              # the recipes' shapes
    python benchmarks/losses.py --repeats 5  # a quick check

Shapes: the translation recipe's logits (batch 64 x 20 tokens over 6,000
words, label smoothing 0.1 as its default, and without) and the captioning
recipe's (32 x 20 over 1,065 words, no smoothing).
"""

import argparse
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cells import interleaved, loss_before  # noqa: E402

from zoo.cli import positive_int  # noqa: E402
from zoo.metrics import masked_cross_entropy  # noqa: E402

SHAPES = [("translation", 64, 20, 6000, 0.1), ("translation, no smoothing", 64, 20, 6000, 0.0),
          ("captioning", 32, 20, 1065, 0.0)]


def gradient_fn(loss, targets, logits):
    @tf.function
    def step():
        with tf.GradientTape() as tape:
            tape.watch(logits)
            value = loss(targets, logits)
        return tape.gradient(value, logits)

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=positive_int, default=31, help="interleaved repeats of each (default 31)")
    args = parser.parse_args()
    print("| logits | label smoothing | before ms | today ms | before / today |")
    print("|---|---:|---:|---:|---:|")
    for what, batch, steps, classes, smoothing in SHAPES:
        targets = tf.random.uniform((batch, steps), 1, classes, tf.int32, seed=0)
        logits = tf.random.normal((batch, steps, classes), seed=1)
        fns = {"before": gradient_fn(loss_before(smoothing), targets, logits),
               "today": gradient_fn(masked_cross_entropy(smoothing), targets, logits)}
        times = interleaved(fns, args.repeats)
        before, today = (statistics.median(wall for wall, _ in times[name]) * 1e3 for name in ("before", "today"))
        print(f"| {what}: {batch} x {steps} over {classes:,} | {smoothing} | {before:.1f} | {today:.1f} "
              f"| {before / today:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
