"""Choosing a `tf.distribute` strategy by name, and what several workers need.

    strategy = get_strategy("auto")        # or "default", "mirrored", "multi-worker"
    if is_chief(strategy): ...             # only the chief writes the real files

Strategies:
    default       the current device.
    mirrored      MirroredStrategy over every local GPU or, without GPUs, over
                  `cpu_devices` logical CPUs (recipes: `--cpu-devices N`).
    multi-worker  MultiWorkerMirroredStrategy; TF_CONFIG names the cluster and
                  this task (`python -m zoo.launch --workers N ...` sets it for
                  N workers on this machine). One replica per worker on CPU.
    auto          multi-worker when TF_CONFIG names a cluster, mirrored with
                  several GPUs, else default.

`cpu_devices=N` splits the one physical CPU into N logical devices before
TensorFlow starts, so MirroredStrategy runs N replicas on a machine without a
GPU: no faster, but the same program as on N GPUs (tests, trying things out).

Under several workers every worker runs the same program, writing included
(saving reads variables, which can take part in collective ops), but only
the chief's files count: the others write to `worker_dir(...)`, a temporary
directory removed at exit, as the TensorFlow multi-worker guide recommends.
Workers read the chief's run directory (tokenizers, backups), so it must be
on a filesystem they share (one machine, NFS, a bucket).

This module also holds the workarounds the zoo needs for Keras 3.15 with
TensorFlow 2.21 (see `_keras_multi_worker_workarounds`).
"""

import atexit
import functools
import hashlib
import inspect
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from zoo.checks import non_negative_int
from zoo.flags import STRATEGIES, tasks_in_tf_config


def get_strategy(name="auto", cpu_devices=0):
    """Returns the strategy `name` (see the module docstring).

    Args:
        name: one of `STRATEGIES`.
        cpu_devices: if > 1, split the CPU into this many logical devices
            first (before anything starts TensorFlow), for `mirrored`
            without GPUs.
    """
    if name not in STRATEGIES:
        raise ValueError(f"`strategy` must be one of {STRATEGIES}, got {name!r}.")
    cpu_devices = non_negative_int("cpu_devices", cpu_devices)
    if cpu_devices > 1:
        _split_cpu(cpu_devices)
    if name == "auto":
        if tasks_in_tf_config() > 1:
            name = "multi-worker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or [
            d.name for d in tf.config.list_logical_devices("CPU")
        ]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi-worker":
        _keras_multi_worker_workarounds()
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _split_cpu(n):
    cpu = tf.config.list_physical_devices("CPU")[0]
    if len(tf.config.get_logical_device_configuration(cpu) or []) == n:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * n
        )
    except RuntimeError as e:
        raise RuntimeError(
            f"Cannot split the CPU into {n} logical devices: TensorFlow has already "
            f"started. Call `get_strategy(..., cpu_devices={n})` before any other "
            f"TensorFlow work."
        ) from e


def is_chief(strategy):
    """Whether this process writes the run's real files: the chief task, worker
    0 of a cluster without a chief, or the only process."""
    resolver = strategy.cluster_resolver
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    return (
        resolver.task_type == "worker"
        and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )


def worker_dir(path, strategy):
    """`path` on the chief; elsewhere a temporary directory removed at exit."""
    if is_chief(strategy):
        Path(path).mkdir(parents=True, exist_ok=True)
        return Path(path)
    resolver = strategy.cluster_resolver
    tmp = Path(
        tempfile.mkdtemp(
            prefix=f"{Path(path).name}-{resolver.task_type}{resolver.task_id}-"
        )
    )
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    return tmp


def barrier(strategy):
    """Returns once every worker has called it (an all-reduce of one number):
    e.g. the chief writes a file, then every worker reads it."""
    strategy.reduce("MEAN", tf.constant(1.0), axis=None)


def replica_digests(model):
    """sha256 of the model's weights as each local replica holds them (one
    per replica; all equal while the replicas are in sync)."""
    strategy = model.distribute_strategy
    local = [strategy.experimental_local_results(v.value) for v in model.weights]
    digests = []
    for values in zip(*local, strict=True):
        h = hashlib.sha256()
        for value in values:
            h.update(np.ascontiguousarray(keras.ops.convert_to_numpy(value)).tobytes())
        digests.append(h.hexdigest())
    return digests


# -- Keras 3.15 + TensorFlow 2.21: `fit` under MultiWorkerMirroredStrategy ----------
#
# `fit` (and `evaluate`) of keras/src/backend/tensorflow/trainer.py fail under
# MultiWorkerMirroredStrategy with more than one worker, in two places where they
# call `strategy.reduce` in ways only MirroredStrategy accepts:
#
# 1. Before the first step, `TensorFlowTrainer._maybe_symbolic_build` builds the
#    compiled loss and metrics from one batch: it calls
#    `strategy.reduce("MEAN", batch, axis=None)` on the whole nested first batch,
#    only to read shapes and dtypes from the result. MirroredStrategy reduces a
#    nested structure element by element; MultiWorkerMirroredStrategy hands it to
#    its collective ops as one value: "ValueError: Attempt to convert a value
#    (PerReplica:{...}) with an unsupported type". (Element by element it would
#    still all-reduce input data across workers, whose batches can differ in
#    shape.) Fix: build from this worker's first local batch, which has the
#    shapes and dtypes needed and involves no other worker.
# 2. Each step's logs go through `reduce_per_replica(..., reduction="auto")`,
#    which for multi-worker calls `strategy.reduce("MEAN", value, axis=0)`; the
#    logs are scalars, so: "ValueError: Invalid reduction dimension 0 for input
#    with 0 dimensions". (`model.distribute_reduction_method` is not consulted.)
#    Fix: `axis=None`, the mean over replicas, which is what the single-worker
#    path computes (`tf.reduce_mean` over the stacked replica values).
#
# Both only touch models under a multi-worker MultiWorkerMirroredStrategy and are
# installed by `get_strategy("multi-worker")`. Weights, gradients and their
# all-reduce are untouched. Upstream: https://github.com/keras-team/keras/issues/20585.
# tests/test_distribute.py::test_keras_still_needs_the_workarounds fails once
# Keras no longer needs one of them; the two-worker recipe test fails if they
# stop working.


def _keras_multi_worker_workarounds():
    _symbolic_build_from_local_batch()
    _mean_of_step_logs_over_workers()


def _patchable(function, parameters):
    if getattr(function, "zoo_workaround", False):
        return False
    if list(inspect.signature(function).parameters) != parameters:
        raise RuntimeError(
            f"Keras {keras.__version__} changed {function.__qualname__}; check "
            "whether the workarounds in zoo/distribute.py are still needed."
        )
    return True


def _multi_worker(strategy):
    return (
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and strategy.extended._in_multi_worker_mode()
    )


def _symbolic_build_from_local_batch():
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    original = TensorFlowTrainer._maybe_symbolic_build
    if not _patchable(original, ["self", "iterator", "data_batch"]):
        return

    @functools.wraps(original)
    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if iterator is not None and strategy is not None and _multi_worker(strategy):
            for _, _, batches in iterator:
                data_batch = keras.tree.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0], next(batches)
                )
                break
            iterator = None
        return original(self, iterator=iterator, data_batch=data_batch)

    maybe_symbolic_build.zoo_workaround = True
    TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build


def _mean_of_step_logs_over_workers():
    from keras.src.backend.tensorflow import trainer

    original = trainer.reduce_per_replica
    if not _patchable(original, ["values", "strategy", "reduction"]):
        return

    @functools.wraps(original)
    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and _multi_worker(strategy):
            return keras.tree.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=None), values
            )
        return original(values, strategy, reduction)

    reduce_per_replica.zoo_workaround = True
    trainer.reduce_per_replica = reduce_per_replica
