"""The few pieces every recipe shares: flags from a config dataclass, the
hardware line of a card, and the `--jit-compile` check.

Kept to what would otherwise be copied word for word: each recipe still reads
top to bottom on its own (config -> strategy -> data -> model -> fit -> save).
"""

import argparse
import dataclasses
import os
import platform

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
