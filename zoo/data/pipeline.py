"""tf.data pipelines: length bucketing, padding, seeded shuffling, prefetch."""

import numpy as np
import tensorflow as tf

from zoo.data.tokenizers import BOS, EOS

BOUNDARIES = (8, 12, 16, 20, 25, 32, 48)  # of the length buckets: a pair's longer side, in tokens


def encode(tokenizer, texts, max_length, add_bos=False, reverse=False):
    """Raw strings -> list of int32 arrays, `EOS`-terminated and truncated."""
    ids = tokenizer(list(texts))  # eager keras_hub tokenizers return lists
    return terminate(ids.to_list() if hasattr(ids, "to_list") else ids, max_length, add_bos, reverse)


def terminate(ids, max_length, add_bos=False, reverse=False):
    """Lists of piece ids -> int32 arrays, truncated to `max_length` with the
    end token (and a start token first with `add_bos`); with `reverse`, the
    kept pieces last first (targets of a right-to-left model)."""
    head, step = [BOS] if add_bos else [], -1 if reverse else 1
    return [np.array(head + t[: max_length - len(head) - 1][::step] + [EOS], np.int32) for t in ids]


def translation_dataset(sources, targets, batch_size, shuffle=False, seed=0,
                        boundaries=BOUNDARIES, epochs=None,
                        steps_per_epoch=None, resample=None):
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
    With `epochs`, `resample(e)` may give pass `e` other ids of the same
    pairs, `(sources, targets)` (subword regularization: a sampled
    segmentation each pass); pairs are still bucketed by the lengths of
    `sources` and `targets`, so every pass has the same batches, padded to
    their longest sampled pair.
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
    n, epochs = len(sources), list(epochs)
    orders = np.array(
        [np.random.default_rng([seed, e]).permutation(n) if shuffle else np.arange(n)
         for e in epochs], np.int64).reshape(-1, n)  # [epochs, n]

    def one_pass(order):
        pairs = tf.data.Dataset.from_tensor_slices(order)
        pairs = pairs.map(lambda i: (src[i], tgt[i]))
        return length_batches(pairs, batch_size, boundaries, steps_per_epoch)

    if resample is None:
        ds = tf.data.Dataset.from_tensor_slices(orders).flat_map(one_pass)
        return ds.prefetch(tf.data.AUTOTUNE)
    keys = np.maximum([len(s) for s in sources], [len(t) for t in targets]).astype(np.int32)

    def sampled_pairs(e, row):  # pass e's own segmentation, in pass e's order
        epoch_sources, epoch_targets = resample(int(e))
        for i in orders[row]:
            yield epoch_sources[i], epoch_targets[i], keys[i]

    def sampled_pass(e, row):
        spec = tf.TensorSpec([None], tf.int32)
        pairs = tf.data.Dataset.from_generator(sampled_pairs, args=(e, row),
                                               output_signature=(spec, spec, tf.TensorSpec([], tf.int32)))
        return length_batches(pairs, batch_size, boundaries, steps_per_epoch)

    ds = tf.data.Dataset.from_tensor_slices((np.asarray(epochs, np.int64), np.arange(len(epochs))))
    ds = ds.flat_map(sampled_pass)
    return ds.prefetch(tf.data.AUTOTUNE)


def _ragged(arrays):
    lengths = [len(a) for a in arrays]
    return tf.RaggedTensor.from_row_lengths(np.concatenate(arrays), lengths)


def length_batches(pairs, batch_size, boundaries=BOUNDARIES, steps=None):
    """`((source, target_in), target_out)` batches of `batch_size` pairs of
    similar length (by the longer side, bucketed at `boundaries`), each
    padded to its longest: int32 `[b, s]`, `[b, t - 1]`, `[b, t - 1]`, from a
    dataset of `(source ids [s], target ids [t])` (targets with a start
    token). A bucket's last batch may be smaller. `steps`: the first batches only.
    Elements `(source, target, length)` are bucketed by `length` instead."""
    ds = pairs.bucket_by_sequence_length(
        lambda s, t, *length: length[0] if length else tf.maximum(tf.shape(s)[0], tf.shape(t)[0]),
        bucket_boundaries=list(boundaries),
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        pad_to_bucket_boundary=False,
    )
    ds = ds.map(lambda s, t, *_: ((s, t[:, :-1]), t[:, 1:]), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.take(steps) if steps else ds


def count_batches(ds):
    """The number of batches in one iteration of a finite dataset."""
    return int(ds.reduce(np.int64(0), lambda n, _: n + 1))
