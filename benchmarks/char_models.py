"""Training-step time of a GRU model against its LSTM twin, at shipped sizes.

    python benchmarks/char_models.py [--task text|translation] [--repeats 5]

The question is what a step costs, so that "equal training time" can be set
by step counts, which do not depend on what else the machine runs.
- text: char-gru against char-lstm (both 3.32M parameters), one step is the
  recipe's batch of 32 x 128 characters, dropout 0.1.
- translation: gru-seq2seq-attn against lstm-seq2seq-attn at the recipe's
  defaults (embeddings and units 256, vocabularies 8,000 / 6,000, dropout
  0.3), one step is a batch of 64 pairs of 20 source / 20 target tokens.
A step is one `train_on_batch` (Adam, cross-entropy). The models are timed in
one process, interleaved (lstm, gru, lstm, ...), as medians.
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

TASKS = {
    "text": (("char-lstm", "char-gru"), {"vocabulary_size": 66, "dropout": 0.1}),
    "translation": (("lstm-seq2seq-attn", "gru-seq2seq-attn"),
                    {"source_vocabulary_size": 8000, "target_vocabulary_size": 6000, "embedding_dim": 256,
                     "units": 256, "dropout": 0.3}),
}


def batch(task, rng):
    """(inputs, targets) of one recipe-shaped step."""
    if task == "text":
        return rng.integers(1, 66, (32, 128)).astype("int32"), rng.integers(1, 66, (32, 128)).astype("int32")
    source = rng.integers(3, 8000, (64, 20)).astype("int32")
    target = rng.integers(3, 6000, (64, 21)).astype("int32")
    return (source, target[:, :-1]), target[:, 1:]


def compiled(name, config):
    model = zoo.build(name, **config)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(TASKS), default="text")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3, help="steps per timing")
    args = parser.parse_args(argv)
    names, config = TASKS[args.task]
    x, y = batch(args.task, np.random.default_rng(0))
    models = {name: compiled(name, config) for name in names}
    for model in models.values():
        model.train_on_batch(x, y)  # trace
    times = {name: [] for name in models}
    for _ in range(args.repeats):
        for name, model in models.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                model.train_on_batch(x, y)
            times[name].append((time.perf_counter() - start) / args.steps)
    lstm, gru = (statistics.median(times[n]) for n in names)
    print(f"medians of {args.repeats} interleaved repeats of {args.steps} steps, {os.cpu_count()} CPU cores\n")
    print("| model | parameters | s/step |\n|---|---:|---:|")
    for name, model in models.items():
        print(f"| {name} | {model.count_params():,} | {statistics.median(times[name]):.3f} |")
    print(f"\n{names[1]} step / {names[0]} step: {gru / lstm:.2f}")


if __name__ == "__main__":
    main()
