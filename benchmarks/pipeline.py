"""Is the tf.data input pipeline faster than training consumes it?

    python benchmarks/pipeline.py

Times one epoch of the Multi30k de-en pipeline (tokenized once, then bucketed,
padded, shuffled, prefetched) on its second pass, and a few training steps of
lstm-seq2seq-attn at the recipe's size on the same batches, and prints both
rates. Needs the data (ZOO_DATA_DIR or a download).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import zoo  # noqa: E402
from zoo.data import tokenizers  # noqa: E402
from zoo.data.pipeline import encode, translation_dataset  # noqa: E402
from zoo.data.translation import load_pairs  # noqa: E402
from zoo.metrics import masked_cross_entropy  # noqa: E402


def main():
    sources, targets = load_pairs("de-en", "train")
    src_tok = tokenizers.tokenizer(tokenizers.train_sentencepiece(sources, 8000))
    tgt_tok = tokenizers.tokenizer(tokenizers.train_sentencepiece(targets, 6000))
    start = time.perf_counter()
    src_ids, tgt_ids = encode(src_tok, sources, 64), encode(tgt_tok, targets, 64, add_bos=True)
    tokenize_s = time.perf_counter() - start
    dataset = translation_dataset(src_ids, tgt_ids, 64, shuffle=True)
    for _ in dataset:  # first pass fills the cache
        pass
    start = time.perf_counter()
    batches = sum(1 for _ in dataset)
    pipeline_rate = batches / (time.perf_counter() - start)

    model = zoo.build("lstm-seq2seq-attn", source_vocabulary_size=src_tok.vocabulary_size(),
                      target_vocabulary_size=tgt_tok.vocabulary_size())
    model.compile(keras.optimizers.Adam(1e-3), masked_cross_entropy(0.1))
    sample = list(dataset.take(12))
    model.train_on_batch(*sample[0])
    times = []
    for inputs, labels in sample[1:]:
        start = time.perf_counter()
        model.train_on_batch(inputs, labels)
        times.append(time.perf_counter() - start)
    train_rate = 1 / statistics.median(times)
    print(f"tokenizing 29,000 + 29,000 sentences once: {tokenize_s:.1f} s")
    print("| | batches/s (64 pairs) |\n|---|---:|")
    print(f"| tf.data pipeline (cached, second epoch) | {pipeline_rate:.0f} |")
    print(f"| training step, lstm-seq2seq-attn (median of 11) | {train_rate:.2f} |")
    print(f"\nThe pipeline delivers batches {pipeline_rate / train_rate:.0f}x faster than training consumes them.")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
