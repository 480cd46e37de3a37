"""tf.data pipelines: length bucketing, padding, seeded shuffling, prefetch."""

import numpy as np
import tensorflow as tf

from zoo.data.tokenizers import BOS, EOS


def encode(tokenizer, texts, max_length, add_bos=False):
    """Raw strings -> list of int32 arrays, `EOS`-terminated and truncated."""
    ids = tokenizer(list(texts))  # eager keras_hub tokenizers return lists
    ids = ids.to_list() if hasattr(ids, "to_list") else ids
    head = [BOS] if add_bos else []
    return [np.array(head + t[: max_length - len(head) - 1] + [EOS], np.int32) for t in ids]


def translation_dataset(sources, targets, batch_size, shuffle=False, seed=0,
                        boundaries=(8, 12, 16, 20, 25, 32, 48)):
    """Yields `((source, target_in), target_out)`: padded int32 batches.

    `sources` and `targets` are lists of id arrays (see `encode`, targets with a
    start token). Pairs of similar length are batched together so little
    compute is spent on padding; `shuffle` reshuffles every epoch with `seed`.
    """
    if len(sources) != len(targets):
        raise ValueError(
            f"`sources` and `targets` must have the same length, got "
            f"{len(sources)} and {len(targets)}."
        )
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
    ds = ds.bucket_by_sequence_length(
        lambda s, t: tf.maximum(tf.shape(s)[0], tf.shape(t)[0]),
        bucket_boundaries=list(boundaries),
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        pad_to_bucket_boundary=False,
    )
    ds = ds.map(lambda s, t: ((s, t[:, :-1]), t[:, 1:]), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
