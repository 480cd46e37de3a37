"""The captioning tf.data pipeline: (image, caption) pairs over cached CNN
features, in a seeded order per epoch that a resumed run repeats."""

import numpy as np
import tensorflow as tf

from zoo.data.flickr8k import normalize_caption
from zoo.data.tokenizers import BOS, EOS


def caption_pairs(items, features, vocabulary, max_length):
    """Every (image, caption) pair as arrays: feature rows `[n]` into
    `features` order, and tokens `[n, max_length + 2]` (start ... end, 0-padded)."""
    rows, tokens = [], []
    for i, (_, captions) in enumerate(items):
        for caption in captions:
            ids = vocabulary.encode(normalize_caption(caption))[:max_length]
            row = np.zeros(max_length + 2, np.int32)
            row[: len(ids) + 2] = [BOS, *ids, EOS]
            rows.append(i)
            tokens.append(row)
    return np.array(rows, np.int64), np.stack(tokens)


def caption_dataset(features, rows, tokens, batch_size, shuffle=False, seed=0, epochs=(0,), steps_per_epoch=None):
    """Yields `((features, tokens_in), tokens_out)`; pass `e` of `epochs` in an
    order drawn from `(seed, e)` alone, so a resumed run sees the batches of an
    unbroken one (`.skip(n)` to resume mid-epoch). Every batch is full."""
    used = len(rows) // batch_size * batch_size
    if steps_per_epoch:
        used = min(used, steps_per_epoch * batch_size)
    n = len(rows)
    orders = [np.random.default_rng([seed, e]).permutation(n) if shuffle else np.arange(n) for e in epochs]
    order = np.concatenate([o[:used] for o in orders]) if orders else np.zeros([0], np.int64)
    table = tf.constant(features)  # [images, locations, channels], float16

    def pair(row, caption):
        return (tf.cast(tf.gather(table, row), tf.float32), caption[:, :-1]), caption[:, 1:]

    ds = tf.data.Dataset.from_tensor_slices((rows[order], tokens[order]))
    ds = ds.batch(batch_size, drop_remainder=True).map(pair, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
