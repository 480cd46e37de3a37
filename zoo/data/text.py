"""Character corpora for language modelling: tiny Shakespeare and Nietzsche.

Each corpus is one text file fetched like every other dataset (mirror, cache
or public URL, checked by sha256). The split is the char-rnn / nanoGPT one:
the first 90% of the characters train, the last 10% validate; there is no
test split. The character vocabulary is learned on the training split only
(`CharVocabulary` lives beside the other vocabularies in `zoo.data.tokenizers`;
importing it from here keeps working).
"""

import numpy as np

from zoo.data.download import fetch
from zoo.data.tokenizers import UNKNOWN, UNKNOWN_ID, CharVocabulary  # noqa: F401  their home is zoo.data.tokenizers

CORPORA = {
    "tinyshakespeare": "tinyshakespeare/input.txt",  # 1,115,394 characters
    "nietzsche": "nietzsche/nietzsche.txt",  # 600,893 characters
}
SPLITS = ("train", "val", "all")
TRAIN_FRACTION = 0.9


def load_text(corpus, split="all"):
    """Returns the raw text of `corpus` ("tinyshakespeare" or "nietzsche").

    Args:
        corpus: a name in `CORPORA`.
        split: "train" (the first 90% of the characters), "val" (the last
            10%) or "all".

    Example:

    >>> train = load_text("tinyshakespeare", "train")  # doctest: +SKIP
    >>> val = load_text("tinyshakespeare", "val")  # doctest: +SKIP
    >>> len(train), len(val)  # doctest: +SKIP
    (1003854, 111540)
    """
    if corpus not in CORPORA:
        raise ValueError(f"`corpus` must be one of {sorted(CORPORA)}, got {corpus!r}.")
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {list(SPLITS)}, got {split!r}.")
    text = fetch(CORPORA[corpus]).read_text(encoding="utf-8")
    return text if split == "all" else split_text(text)[SPLITS.index(split)]


def split_text(text, train_fraction=TRAIN_FRACTION):
    """`(train, val)`: the first `train_fraction` of the characters, then the rest."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"`train_fraction` must be in (0, 1), got {train_fraction!r}.")
    n = int(len(text) * train_fraction)
    return text[:n], text[n:]


def window_count(characters, sequence_length):
    """How many windows of `sequence_length + 1` characters, starting every
    `sequence_length`, a text of `characters` characters holds."""
    span = sequence_length + 1
    return (characters - span) // sequence_length + 1 if characters >= span else 0


def char_dataset(ids, sequence_length, batch_size, shuffle=False, seed=0, epochs=None, steps_per_epoch=None):
    """Yields `(inputs, targets)`: int32 `[batch, sequence_length]`, targets
    shifted by one character.

    Window `i` starts at `i * sequence_length`. With `shuffle`, each start is
    moved by a random jitter in `[0, sequence_length)` drawn anew every epoch,
    and the windows come in a new order every epoch: one epoch still covers the
    text about once, but the model does not see the same cuts every time
    (nanoGPT draws fully random windows; char-rnn uses fixed ones). Without
    `shuffle` the windows are fixed and in order (validation). Every batch is
    full, so all steps have the same shape.

    By default one pass, reshuffled each time the dataset is iterated. With
    `epochs` (e.g. `range(3, 8)`), one stream of those passes instead, pass `e`
    drawn from `(seed, e)` alone: a run resuming at epoch `e` in a new process
    sees the batches an unbroken run would have seen (`.skip(n)` to resume
    mid-epoch). `steps_per_epoch` keeps only the first batches of each pass.
    """
    import tensorflow as tf  # here: reading `CORPORA` (a recipe's flags) needs no TensorFlow

    ids = np.asarray(ids, np.int32)
    span = sequence_length + 1
    windows = window_count(len(ids), sequence_length)
    if windows < batch_size:
        raise ValueError(
            f"A text of {len(ids)} characters makes {windows} windows of "
            f"{span} characters, fewer than `batch_size`={batch_size}."
        )
    text = tf.constant(ids)

    def window(start):
        chunk = text[start : start + span]
        return chunk[:-1], chunk[1:]

    if epochs is not None:
        base = np.arange(windows, dtype=np.int64) * sequence_length
        room = np.minimum(sequence_length, len(ids) - span - base + 1)  # never past the end
        used = (windows // batch_size) * batch_size
        if steps_per_epoch:
            used = min(used, steps_per_epoch * batch_size)
        starts = []
        for e in epochs:
            rng = np.random.default_rng([seed, e])
            if shuffle:
                starts.append((base + rng.integers(0, room))[rng.permutation(windows)][:used])
            else:
                starts.append(base[:used])
        ds = tf.data.Dataset.from_tensor_slices(np.concatenate(starts) if starts else np.zeros([0], np.int64))
        ds = ds.map(window, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)

    def jittered(i):
        start = i * sequence_length
        if shuffle:  # the jitter never runs a window past the end of the text
            room = tf.minimum(tf.constant(sequence_length, tf.int64), len(ids) - span - start + 1)
            start += tf.random.uniform([], 0, room, tf.int64, seed=seed)
        return window(start)

    ds = tf.data.Dataset.range(windows)
    if shuffle:
        ds = ds.shuffle(windows, seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(jittered, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=True)
    if steps_per_epoch:
        ds = ds.take(steps_per_epoch)
    return ds.prefetch(tf.data.AUTOTUNE)
