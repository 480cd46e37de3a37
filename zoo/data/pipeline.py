"""tf.data pipelines: length bucketing, padding, seeded shuffling, prefetch."""

import numpy as np
import tensorflow as tf

from zoo.data.tokenizers import BOS, EOS

BOUNDARIES = (8, 12, 16, 20, 25, 32, 48)  # of the length buckets: a pair's longer side, in tokens


def encode(tokenizer, texts, max_length, add_bos=False):
    """Raw strings -> list of int32 arrays, `EOS`-terminated and truncated."""
    ids = tokenizer(list(texts))  # eager keras_hub tokenizers return lists
    ids = ids.to_list() if hasattr(ids, "to_list") else ids
    head = [BOS] if add_bos else []
    return [np.array(head + t[: max_length - len(head) - 1] + [EOS], np.int32) for t in ids]


def translation_dataset(sources, targets, batch_size, shuffle=False, seed=0,
                        boundaries=BOUNDARIES, epochs=None,
                        steps_per_epoch=None):
    """Yields `((source, target_in), target_out)`: padded int32 batches.

    `sources` and `targets` are lists of id arrays (see `encode`, targets with a
    start token). Pairs of similar length are batched together so little
    compute is spent on padding.

    By default one pass over the pairs; `shuffle` reshuffles every time the
    dataset is iterated, seeded by `seed`. With `epochs` (e.g. `range(3, 12)`),
    one stream of those passes instead, pass `e` in an order drawn from
    `(seed, e)` alone: a run that resumes at epoch `e` in a new process sees
    the batches it would have seen without stopping (`.skip(n)` to resume
    mid-epoch). `steps_per_epoch` keeps only the first batches of each pass.
    """
    if len(sources) != len(targets):
        raise ValueError(
            f"`sources` and `targets` must have the same length, got "
            f"{len(sources)} and {len(targets)}."
        )
    if epochs is None:
        ds = tf.data.Dataset.from_generator(
            lambda: zip(sources, targets),
            output_signature=(
                tf.TensorSpec([None], tf.int32),
                tf.TensorSpec([None], tf.int32),
            ),
        )
        ds = ds.cache()
        if shuffle:
            ds = ds.shuffle(len(sources), seed=seed, reshuffle_each_iteration=True)
        ds = length_batches(ds, batch_size, boundaries, steps_per_epoch)
        return ds.prefetch(tf.data.AUTOTUNE)

    src, tgt = (_ragged(x) for x in (sources, targets))
    n = len(sources)
    orders = np.array(
        [np.random.default_rng([seed, e]).permutation(n) if shuffle else np.arange(n)
         for e in epochs], np.int64).reshape(-1, n)  # [epochs, n]

    def one_pass(order):
        pairs = tf.data.Dataset.from_tensor_slices(order)
        pairs = pairs.map(lambda i: (src[i], tgt[i]))
        return length_batches(pairs, batch_size, boundaries, steps_per_epoch)

    ds = tf.data.Dataset.from_tensor_slices(orders).flat_map(one_pass)
    return ds.prefetch(tf.data.AUTOTUNE)


def _ragged(arrays):
    lengths = [len(a) for a in arrays]
    return tf.RaggedTensor.from_row_lengths(np.concatenate(arrays), lengths)


def length_batches(pairs, batch_size, boundaries=BOUNDARIES, steps=None):
    """`((source, target_in), target_out)` batches of `batch_size` pairs of
    similar length (by the longer side, bucketed at `boundaries`), each
    padded to its longest: int32 `[b, s]`, `[b, t - 1]`, `[b, t - 1]`, from a
    dataset of `(source ids [s], target ids [t])` (targets with a start
    token). A bucket's last batch may be smaller. `steps`: the first batches only."""
    ds = pairs.bucket_by_sequence_length(
        lambda s, t: tf.maximum(tf.shape(s)[0], tf.shape(t)[0]),
        bucket_boundaries=list(boundaries),
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        pad_to_bucket_boundary=False,
    )
    ds = ds.map(lambda s, t: ((s, t[:, :-1]), t[:, 1:]), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.take(steps) if steps else ds


def count_batches(ds):
    """The number of batches in one iteration of a finite dataset."""
    return int(ds.reduce(np.int64(0), lambda n, _: n + 1))
