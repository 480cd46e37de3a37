"""Characters per second of `generate`: the stateful loop against re-reading the prefix.

    python benchmarks/generate.py      # char-lstm, batch 1 and 32, length 500
    python benchmarks/generate.py --model char-gru --units 128
    python benchmarks/generate.py --sizes 32,128,256,512,592   # what limits batch 1
    python benchmarks/generate.py --litert --length 2000          # TensorFlow against LiteRT float32 and int8

`stateful` is `model.generate`: the prompt is read once, then each character
is one step of each layer from the carried state, in one compiled loop.
`naive` is what a model without carried state must do: for every new
character, run the (compiled) full model over the whole prefix and sample from
the last position's logits; its cost grows with the square of the length.
The model is the shipped one when it exists, else random weights of the same
size (speed does not depend on the weights). Both sample at temperature 1.

`--sizes` times `generate` at batch 1 (2 layers, embedding 64, random
weights) for each unit count, beside the bytes of float32 weights a character
reads: a step of each layer multiplies a one-row vector by every weight
matrix, so at batch 1 the rate is bound by how fast the weights move through
the caches once the per-step overhead (the rate of a tiny model) is paid.

`--litert` times `generate` with the loop in TensorFlow (float32), in LiteRT
with the float32 weights and in LiteRT with int8 weights (`zoo.lite`), at each
batch size: medians of `--repeats` interleaved rounds, each rate also divided
by the 2048x2048 float32 matmul rate measured at the start of its round (per
100 GFLOP/s, so the figures travel between machines). Beside each, what the weights cost: the
model's log loss (nats per character) on the first `--score-chars` characters
of the tinyshakespeare validation split, scored by the same runtime.
"""

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import zoo  # noqa: E402
from zoo.data.tokenizers import UNKNOWN_ID, CharVocabulary  # noqa: E402

SHAKESPEARE_CHARS = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def load_model(args):
    overrides = {
        k: getattr(args, k)
        for k in ("units", "embedding_dim", "num_layers")
        if getattr(args, k)
    }
    if not overrides and zoo.info(args.model)["card"]:
        return zoo.load(args.model), "shipped"
    vocabulary = CharVocabulary(SHAKESPEARE_CHARS)
    model = zoo.build(args.model, vocabulary_size=vocabulary.size, **overrides)
    model.set_vocabulary(vocabulary)
    model.build_for_inference()
    return model, "random weights"


def naive_generate(model, forward, prompt, length, batch_size, seed):
    """Re-runs the whole prefix through the model for every new character."""
    rng = np.random.default_rng(seed)
    tokens = np.tile(model.vocabulary.encode(prompt), (batch_size, 1))
    for _ in range(length):
        logits = (
            forward(tokens).numpy().astype(np.float64)
        )  # [batch, vocab] at the last position
        logits[:, UNKNOWN_ID] = -np.inf
        p = np.exp(logits - logits.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        u = rng.random((batch_size, 1))
        nxt = np.minimum(
            (p.cumsum(-1) < u).sum(-1), p.shape[-1] - 1
        )  # inverse-CDF draw per row
        tokens = np.concatenate([tokens, nxt[:, None].astype(np.int32)], axis=1)
    return [model.vocabulary.decode(row[len(prompt) :]) for row in tokens]


def timed(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default="char-lstm", choices=["char-lstm", "char-gru"]
    )
    parser.add_argument(
        "--length", type=int, default=500, help="characters generated per sample"
    )
    parser.add_argument(
        "--batch-sizes", default="1,32", help="samples generated together"
    )
    parser.add_argument("--prompt", default="ROMEO:")
    parser.add_argument(
        "--repeats", type=int, default=3, help="best of this many stateful runs"
    )
    parser.add_argument(
        "--units", type=int, default=0, help="random model of this size instead"
    )
    parser.add_argument("--embedding-dim", type=int, default=0)
    parser.add_argument("--num-layers", type=int, default=0)
    parser.add_argument("--sizes", default="", help="unit counts: batch-1 rate and weight traffic per size instead")
    parser.add_argument("--litert", action="store_true", help="TensorFlow against LiteRT float32 and int8 instead")
    parser.add_argument("--score-chars", type=int, default=20000, help="with --litert: validation characters scored")
    args = parser.parse_args(argv)
    if args.litert:
        return runtimes(args)
    if args.sizes:
        return size_scaling(args, [int(u) for u in args.sizes.split(",")])

    model, source = load_model(args)
    forward = tf.function(
        lambda ids: model(ids)[:, -1],
        input_signature=[tf.TensorSpec([None, None], tf.int32)],
    )
    size = (
        f"{model.num_layers}x{model.units} units, {model.count_params():,} parameters"
    )
    print(
        f"{args.model} ({source}, {size}), prompt {args.prompt!r}, length {args.length}"
    )
    gpus = len(tf.config.list_logical_devices("GPU"))
    cpu = platform.processor() or platform.machine()
    print(
        f"{cpu}, {os.cpu_count()} CPU cores, {gpus} GPU, TensorFlow {tf.__version__}\n"
    )
    header = ("batch", "stateful chars/s", "naive chars/s", "speed-up")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("-" * (len(h) + 2) for h in header) + "|")
    rows = []
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        model.generate(args.prompt, 5, seed=0, num_samples=batch)  # trace before timing
        stateful = timed(
            lambda b=batch: model.generate(
                args.prompt, args.length, seed=0, num_samples=b
            ),
            args.repeats,
        )
        naive_generate(model, forward, args.prompt, 2, batch, seed=0)
        naive = timed(
            lambda b=batch: naive_generate(
                model, forward, args.prompt, args.length, b, seed=0
            ),
            1,
        )
        chars = batch * args.length
        rows.append((batch, chars / stateful, chars / naive))
        cells = (
            f"{chars / stateful:,.0f}",
            f"{chars / naive:,.0f}",
            f"{naive / stateful:.1f}x",
        )
        widths = [len(h) for h in header]
        print(
            "| "
            + " | ".join(
                c.rjust(w) for c, w in zip((str(batch), *cells), widths, strict=True)
            )
            + " |",
            flush=True,
        )
    return rows


def size_scaling(args, sizes):
    """Batch-1 characters/s against the weights each character reads."""
    print(f"{args.model}, 2 layers, embedding 64, random weights, batch 1, length {args.length}, "
          f"best of {args.repeats}\n")
    print("| units | parameters | float32 weights MB | chars/s | weights read GB/s | us per char |")
    print("|---:|---:|---:|---:|---:|---:|")
    rows = []
    for units in sizes:
        args.units, args.embedding_dim, args.num_layers = units, 64, 2
        model, _ = load_model(args)
        model.generate(args.prompt, 5, seed=0)  # trace before timing
        seconds = timed(lambda m=model: m.generate(args.prompt, args.length, seed=0), args.repeats)
        rate, megabytes = args.length / seconds, model.count_params() * 4 / 1e6
        rows.append((units, rate))
        print(f"| {units} | {model.count_params():,} | {megabytes:.1f} | {rate:,.0f} | {rate * megabytes / 1e3:.1f} | "
              f"{1e6 / rate:.0f} |", flush=True)
    return rows


def runtimes(args):
    """Characters/s of the TensorFlow loop against LiteRT float32 and int8, and their log loss."""
    from cells import matmul_gflops  # the same large-matmul rate as the cell benchmark

    from zoo.data.text import load_text

    model, source = load_model(args)
    text = load_text("tinyshakespeare", "val")[: args.score_chars] if source == "shipped" else None
    where = {"TensorFlow, float32": None, "LiteRT, float32": "float32", "LiteRT, int8": "int8"}
    print(f"{args.model} ({source}, {model.num_layers}x{model.units} units, {model.count_params():,} parameters), "
          f"prompt {args.prompt!r}, length {args.length}; medians of {args.repeats} interleaved runs\n")
    print("| loop | batch | chars/s | per 100 GFLOP/s | x TensorFlow | val nats/char |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = []
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        rates = {name: [] for name in where}
        for litert in where.values():  # convert and trace before timing
            model.generate(args.prompt, 5, seed=0, num_samples=batch, litert=litert)
        for _ in range(args.repeats):
            gflops = matmul_gflops(repeats=3)
            for name, litert in where.items():
                start = time.perf_counter()
                model.generate(args.prompt, args.length, seed=0, num_samples=batch, litert=litert)
                rate = batch * args.length / (time.perf_counter() - start)
                rates[name].append((rate, rate / gflops * 100))
        for name, litert in where.items():
            rate, normalized = (float(np.median([r[i] for r in rates[name]])) for i in (0, 1))
            loss = model.log_loss(text, litert=litert) if text and batch == 1 else None
            base = float(np.median([r[0] for r in rates["TensorFlow, float32"]]))
            rows.append((name, batch, rate, loss))
            print(f"| {name} | {batch} | {rate:,.0f} | {normalized:,.0f} | {rate / base:.2f} | "
                  f"{'' if loss is None else f'{loss:.4f}'} |", flush=True)
    return rows


if __name__ == "__main__":
    main()
