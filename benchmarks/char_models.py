"""Training-step time of char-gru against char-lstm at their shipped sizes.

    python benchmarks/char_models.py [--repeats 5]

The two models have the same parameter count (3.32M); the question is what a
step costs, so that "equal training time" can be set by step counts, which do
not depend on what else the machine runs. A step is one `train_on_batch` of
the recipe's shape (batch 32, 128 characters, Adam, dropout 0.1). The models
are timed in one process, interleaved (lstm, gru, lstm, ...), as medians.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import zoo  # noqa: E402


def compiled(name):
    model = zoo.build(name, vocabulary_size=66, dropout=0.1)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3, help="steps per timing")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    x = rng.integers(1, 66, (32, 128)).astype("int32")
    y = rng.integers(1, 66, (32, 128)).astype("int32")
    models = {name: compiled(name) for name in ("char-lstm", "char-gru")}
    for model in models.values():
        model.train_on_batch(x, y)  # trace
    times = {name: [] for name in models}
    for _ in range(args.repeats):
        for name, model in models.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                model.train_on_batch(x, y)
            times[name].append((time.perf_counter() - start) / args.steps)
    lstm, gru = (statistics.median(times[n]) for n in models)
    print(f"medians of {args.repeats} interleaved repeats of {args.steps} steps, {os.cpu_count()} CPU cores\n")
    print("| model | parameters | s/step |\n|---|---:|---:|")
    for name, model in models.items():
        print(f"| {name} | {model.count_params():,} | {statistics.median(times[name]):.3f} |")
    print(f"\nchar-gru step / char-lstm step: {gru / lstm:.2f}")


if __name__ == "__main__":
    main()
