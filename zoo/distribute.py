"""Choosing a `tf.distribute` strategy by name."""

import tensorflow as tf

STRATEGIES = ("auto", "default", "mirrored", "multi-worker")


def get_strategy(name="auto"):
    """`auto`: MirroredStrategy over several local GPUs, else the default."""
    if name not in STRATEGIES:
        raise ValueError(f"`strategy` must be one of {STRATEGIES}, got {name!r}.")
    if name == "auto":
        name = "mirrored" if len(tf.config.list_logical_devices("GPU")) > 1 else "default"
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()
