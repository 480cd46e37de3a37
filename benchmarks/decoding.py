"""Translation decoding speed and quality: the eager search against the compiled one.

    python benchmarks/decoding.py              # all 1,000 test_2016 sentences
    python benchmarks/decoding.py --limit 200  # a quick look

The shipped `lstm-seq2seq-attn` decodes Multi30k de-en test_2016 greedily and
with a beam of 5 (alpha 0.6) in several ways, side by side in one process:

- eager: `zoo.decoding.greedy_reference` / `beam_search_reference` over the
  model's hooks, one TensorFlow call per step and the beam bookkeeping in
  NumPy, batches of 64 in input order, the unknown piece allowed (the decoding
  `translate` did before the compiled search);
- compiled: `zoo.decoding.Decoder`, the whole search in one graph, batches of
  64 sorted by length, the unknown piece allowed (so it must give the eager
  search's sentences);
- `translate()`: the compiled search as users call it (unknown piece masked);
- compiled at batch 256, and with the decode step compiled by XLA.

Then the shipped `sat-lstm-squeezenet` captions the Flickr8k test images with
a beam of 3, eager against compiled (its decode step with and without XLA),
over the same cached image features.

Each row gives sentences/s (tokenizing and detokenizing included), the same
divided by the large-matmul rate measured in the same run (sentences per
GFLOP of matmul capacity, so the figure travels between machines), sacreBLEU
and the share of sentences identical to the eager search's.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cells import matmul_gflops  # noqa: E402  the same large-matmul rate as the cell benchmark

import zoo  # noqa: E402
from zoo import decoding  # noqa: E402
from zoo.data.tokenizers import BOS, EOS, UNK  # noqa: E402
from zoo.data.translation import load_pairs  # noqa: E402
from zoo.metrics import translation_scores  # noqa: E402
from zoo.tasks import translation
from zoo.tasks.translation import _to_str  # noqa: E402


def run(model, sentences, decode, batch_size, sort):
    """Translates like `Seq2Seq.translate` with `decode(source, max_length)`
    in place of its search: `(texts, seconds)`."""
    start = time.perf_counter()
    ids = [parts[0] for parts in translation._source_parts(model, sentences)]  # test sentences are one part each
    order = sorted(range(len(ids)), key=lambda i: len(ids[i])) if sort else list(range(len(ids)))
    results = [None] * len(ids)
    for first in range(0, len(ids), batch_size):
        chunk = order[first : first + batch_size]
        source = np.zeros((len(chunk), max(len(ids[i]) for i in chunk)), np.int32)
        for row, i in enumerate(chunk):
            source[row, : len(ids[i])] = ids[i]
        for i, sequence in zip(chunk, decode(source, 2 * source.shape[1] + 10)[0]):
            results[i] = sequence
    texts = [_to_str(model.target_tokenizer.detokenize(s)) if len(s) else "" for s in results]
    return texts, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="first N test sentences (default: all 1,000)")
    parser.add_argument("--beam-sizes", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--no-xla", action="store_true", help="skip the XLA rows")
    parser.add_argument("--no-captioning", action="store_true", help="skip the captioning table")
    parser.add_argument("--no-translation", action="store_true", help="skip the translation table")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved repeats per decoder (median)")
    args = parser.parse_args(argv)
    if args.no_translation:
        return None if args.no_captioning else captioning(matmul_gflops(), limit=args.limit)

    model = zoo.load("lstm-seq2seq-attn")
    sources, references = load_pairs("de-en", "test", limit=args.limit)
    spec = tf.TensorSpec([None, None], tf.int32)
    xla = decoding.Decoder(lambda s: model.encode(s), model.decode_step, spec, BOS, EOS, unk=UNK, jit_compile=True)
    search = model.search
    warm = sources[:8]
    gflops = matmul_gflops()
    print(f"lstm-seq2seq-attn (shipped), Multi30k de-en test_2016, {len(sources)} sentences, alpha 0.6")
    print(f"{platform.machine()}, {os.cpu_count()} CPU cores, TensorFlow {tf.__version__}, "
          f"large matmul (2048x2048 float32): {gflops:.1f} GFLOP/s at the start; medians of {args.repeats} "
          f"interleaved repeats, each rate divided by the matmul rate measured just before it\n")
    print("| decoder | search | batch | sentences/s | per 100 GFLOP/s | BLEU | identical to eager |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for beam in args.beam_sizes:
        label = "greedy" if beam == 1 else f"beam {beam}"

        def compiled(decoder, allow_unk, beam=beam):
            if beam == 1:
                return lambda source, n: decoder.greedy(source, n, allow_unk=allow_unk, return_attention=False)
            return lambda source, n: decoder.beam_search(source, beam, n, 0.6, allow_unk=allow_unk,
                                                         return_attention=False)

        def eager(source, n, beam=beam):
            return search.reference(source, beam, n, 0.6, allow_unk=True)

        def translate(source_sentences, beam=beam):
            start = time.perf_counter()
            texts = model.translate(source_sentences, beam_size=beam, batch_size=64)
            return texts, time.perf_counter() - start

        rows = [
            ("eager (reference)", eager, 64, False),
            ("compiled", compiled(search, True), 64, True),
            ("`translate()` (unknown piece masked)", None, 64, True),
            ("compiled", compiled(search, True), 256, True),
        ]
        if not args.no_xla:
            rows.append(("compiled, XLA step", compiled(xla, True), 64, True))
        timings = [[] for _ in rows]
        for _name, decode, batch, sort in rows:  # traces every compiled search once, outside the timings
            translate(warm) if decode is None else run(model, warm, decode, batch, sort)
        for _ in range(args.repeats):
            for r, (_name, decode, batch, sort) in enumerate(rows):
                rate_now = matmul_gflops(repeats=3)
                texts, seconds = translate(sources) if decode is None else run(model, sources, decode, batch, sort)
                timings[r].append((len(sources) / seconds, len(sources) / seconds / rate_now, texts))
        eager_texts = timings[0][0][2]
        for (name, _, batch, _), runs in zip(rows, timings):
            texts = runs[0][2]
            same = np.mean([a == b for a, b in zip(texts, eager_texts)])
            bleu = translation_scores(texts, references)["bleu"]
            rate = statistics.median(r[0] for r in runs)
            normalized = 100 * statistics.median(r[1] for r in runs)
            print(f"| {name} | {label} | {batch} | {rate:,.1f} | {normalized:,.1f} | {bleu:.2f} | "
                  f"{100 * same:.1f}% |", flush=True)
    if not args.no_captioning:
        captioning(gflops, limit=args.limit)


def captioning(gflops, beam=3, limit=None):
    """The shipped captioner on the Flickr8k test images: eager against compiled
    beam search over the same cached features (the encoder is timed apart)."""
    from zoo.data.flickr8k import load_flickr8k, load_image, normalize_caption
    from zoo.metrics import caption_scores
    from zoo.models import captioner

    model = zoo.load("sat-lstm-squeezenet")
    items = load_flickr8k("test", limit=limit)
    references = [[normalize_caption(c) for c in captions] for _, captions in items]
    start = time.perf_counter()
    features = np.concatenate([
        np.asarray(model.encode_images(np.stack([load_image(p, model.image_size) for p, _ in items[i : i + 32]])))
        for i in range(0, len(items), 32)
    ])
    encoding = time.perf_counter() - start
    print(f"\nsat-lstm-squeezenet (shipped), Flickr8k test, {len(items)} images, beam {beam}, max 20 words; "
          f"loading and encoding the images: {len(items) / encoding:,.1f} images/s\n")
    print("| decoder | images/s (decoding) | per 100 GFLOP/s | BLEU-4 | identical to eager |")
    print("|---|---:|---:|---:|---:|")
    no_xla = decoding.Decoder(lambda f: model.encode(f), model.decode_step, model.search.input_spec,
                              captioner.BOS, captioner.EOS, unk=captioner.UNK)
    rows = [
        ("eager (reference)", lambda f: model.search.reference(f, beam, 20, 0.0, allow_unk=True)),
        ("compiled, decode step without XLA",
         lambda f: no_xla.beam_search(f, beam, 20, 0.0, allow_unk=True, return_attention=False)),
        ("compiled (XLA step, as `caption()`)",
         lambda f: model.decode_features(f, beam, 20, 0.0, allow_unk=True, return_attention=False)),
        ("compiled, unknown word masked (`caption()`)", lambda f: model.decode_features(f, beam, 20, 0.0)),
    ]
    eager = None
    for name, decode in rows:
        for i in range(0, len(features), 32):  # traces (and XLA-compiles) every batch shape outside the timing
            decode(features[i : i + 32])
        start = time.perf_counter()
        sequences = [s for i in range(0, len(features), 32) for s in decode(features[i : i + 32])[0]]
        rate = len(features) / (time.perf_counter() - start)
        texts = [model.vocabulary.decode(s) for s in sequences]
        eager = texts if eager is None else eager
        same = np.mean([a == b for a, b in zip(texts, eager)])
        bleu4 = caption_scores(texts, references)["bleu4"]
        print(f"| {name} | {rate:,.1f} | {100 * rate / gflops:,.1f} | {bleu4:.2f} | {100 * same:.1f}% |", flush=True)


if __name__ == "__main__":
    main()
