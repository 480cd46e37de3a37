"""The few pieces every recipe shares: flags from a config dataclass, the
hardware line of a card, and the `--jit-compile` check.

Kept to what would otherwise be copied word for word: each recipe still reads
top to bottom on its own (config -> strategy -> data -> model -> fit -> save).
"""

import argparse
import dataclasses
import os
import platform

import keras
import tensorflow as tf

PRECISIONS = ("", "mixed_float16", "mixed_bfloat16")


def parse_config(config_class, description, argv=None, checks=None):
    """`--flag-name` for every field of `config_class` (booleans are switches);
    returns a `config_class`.

    `checks` maps a field name to its allowed values (`--mixed-precision` is
    always checked): a value outside them is an argparse error naming the flag,
    the value and what is allowed.
    """
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    for field in dataclasses.fields(config_class):
        flag = "--" + field.name.replace("_", "-")
        if field.type is bool:
            parser.add_argument(flag, action="store_true")
        else:
            parser.add_argument(flag, type=field.type, default=field.default)
    args = parser.parse_args(argv)
    for name, allowed in {"mixed_precision": PRECISIONS, **(checks or {})}.items():
        value = getattr(args, name, None)
        if hasattr(args, name) and value not in allowed:
            parser.error(f"--{name.replace('_', '-')} must be one of {list(allowed)}, got {value!r}")
    return config_class(**vars(args))


def hardware():
    """What trained the model, for its card."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return f"{len(gpus)} GPU(s)"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU"


def check_jit_compile(model, requested, name):
    """Raises SystemExit when `--jit-compile` was asked for but Keras turned
    XLA off for `model` (call after `compile`): a layer cannot be compiled,
    and it is named."""
    if requested and not model.jit_compile:
        blockers = {type(layer).__name__ for layer in model._flatten_layers() if not layer.supports_jit}
        raise SystemExit(
            f"--jit-compile: {name} cannot be compiled with XLA here: "
            f"{', '.join(sorted(blockers)) or 'a layer'} does not support it (see its docstring)."
        )


def fit_resumed(model, train_stream, start, steps, epochs, callbacks, validation_data, verbose="auto", skip=False):
    """`model.fit` from `start` batches already trained (`StepBackup.restore`).

    `train_stream(range(e, epochs))` must yield epochs e.. in the order an
    unbroken run sees them; the first `start % steps` batches of the resumed
    epoch are skipped, and `fit` starts at epoch `start // steps`. Nothing is
    trained when every epoch is done or `skip` is true (a finished run).
    Prints the resume point and, at the end, the optimizer steps and a digest
    of the weights per replica (equal on every replica of every worker);
    returns the optimizer steps.
    """
    from zoo import distribute  # tf.distribute set-up stays out of import time

    epoch, done = divmod(start, steps)
    if start:
        print(f"resuming after {start} steps: epoch {epoch + 1}, {done} of its {steps} batches done")
    if epoch < epochs and not skip:
        model.fit(
            train_stream(range(epoch, epochs)).skip(done),
            validation_data=validation_data,
            epochs=epochs,
            initial_epoch=epoch,
            steps_per_epoch=steps,
            callbacks=callbacks,
            verbose=verbose,
        )
    optimizer_steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    digests = " ".join(distribute.replica_digests(model))
    print(f"trained {optimizer_steps} optimizer steps; weights sha256 per replica: {digests}")
    return optimizer_steps
